"""bench/answer_sides.py: the pair LP kept to an answer's zones or classes rises by what the
answer's choice costs, and not at all where the answer chose as the LP does (hand-counted)."""

from __future__ import annotations

import pytest

from solving import bench_module, problem_from

# `web` (4 replicas of 2 CPUs, one a node) may run in either zone; a node costs 1 USD/h in z1
# (4 nodes) and 3 in z2; the z1 big node (8 CPUs, 2 USD/h) is the cheapest per CPU, but `web`
# takes one replica a node and nothing else runs beside it, so the LP charges it whole and
# puts web on the 1 USD/h nodes: 4 USD/h
ZONES = '''
pool cheap {
  count = 4
  cpu = 2
  memory = 8GiB
  price = 1 USD/h
  zone = "z1"
}

pool big {
  count = 1
  cpu = 8
  memory = 32GiB
  price = 2 USD/h
  zone = "z1"
}

pool dear {
  count = 4
  cpu = 2
  memory = 8GiB
  price = 3 USD/h
  zone = "z2"
}

workload web {
  replicas = 4
  cpu = 2
  memory = 1GiB
  anti_affinity self on node
}
'''


def _answer(nodes: list[str]) -> dict:
    return {"assignments": [{"workload": "web", "replica": i, "node": node} for i, node in enumerate(nodes)]}


def _kept_to(problem, answer: dict, side: str) -> float:
    sides = bench_module("answer_sides")

    def key(node_class):
        return node_class.topology_value("zone") if side == "zones" else node_class.id

    placed = sides._placed(problem, answer, key)
    return sides._bound(sides._split(problem, placed, key, lambda demand: True, ("node",)))


def test_the_answer_zones_cost_what_they_add(tmp_path):
    problem = problem_from(tmp_path, ZONES)
    bound = bench_module("answer_sides")._bound(problem)
    assert bound == pytest.approx(4.0)
    # two replicas in z2 (3 USD/h a node): the zone split pays 2 x (3 - 1) more
    dear = _answer(["cheap-0", "cheap-1", "dear-0", "dear-1"])
    assert _kept_to(problem, dear, "zones") == pytest.approx(8.0)
    # in z1 as the LP has them: no rise, whichever z1 classes the answer took
    as_the_lp = _answer(["cheap-0", "cheap-1", "cheap-2", "cheap-3"])
    assert _kept_to(problem, as_the_lp, "zones") == pytest.approx(4.0)
    on_big = _answer(["cheap-0", "cheap-1", "cheap-2", "big-0"])
    assert _kept_to(problem, on_big, "zones") == pytest.approx(4.0)
    # the class split sees the big node: one replica on it, nothing beside it, so the LP charges
    # it whole: 3 cheap nodes and the big one, the answer's 5 USD/h
    assert _kept_to(problem, on_big, "classes") == pytest.approx(5.0)
    # both at once: the zones cost 2 (one replica in z2), the classes 1 more (the big node)
    mixed = _answer(["cheap-0", "cheap-1", "dear-2", "big-0"])
    assert _kept_to(problem, mixed, "zones") == pytest.approx(6.0)
    assert _kept_to(problem, mixed, "classes") == pytest.approx(7.0)
