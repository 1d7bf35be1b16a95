"""The pattern master's LP rounded to whole nodes by re-solving it (pattern_rounding.py), and
`placement._pattern_floor` guided by it. Held to the limits the rounding must keep (each
pool's node count, each workload's replicas), a bound worked out by hand and the proven
pattern bound."""

from __future__ import annotations

import time

import pytest

from fitlang.solve.bound import lower_bound
from fitlang.solve.greedy import greedy_floor
from fitlang.solve.pattern_rounding import rounded_nodes
from fitlang.solve.patterns import pattern_bound
from fitlang.solve.placement import _pattern_floor
from fitlang.solve.placement_result import _packed_value

from solving import bench_module, pool, problem_from, workload


def _tight_fleet() -> str:
    # 5 nodes of 16 CPUs / 64 GiB; a: 6 x 6 CPU / 24 GiB, b: 5 x 5 CPU / 4 GiB. Weigh an a 1/2
    # and a b 1/4: no node holds more than 1, the replicas weigh 3 + 1.25, so every node is
    # needed (two {2a}, two {a, 2b}, one {3b} hold them). The pattern LP is 4.25 (fractional)
    return pool("p", 5, 16, "64Gi", 1) + workload("a", 6, 6, "24Gi") + workload("b", 5, 5, "4Gi")


def _found(problem):
    floor, _ = greedy_floor(problem, None)
    found = pattern_bound(lower_bound(problem, "cost"), "cost", start=floor)
    assert found.converged
    return floor, found


def _hosted(nodes) -> dict[str, int]:
    replicas: dict[str, int] = {}
    for _, hosted, count in nodes:
        for names, amount in hosted.items():
            (name,) = names
            replicas[name] = replicas.get(name, 0) + amount * int(count)
    return replicas


@pytest.mark.parametrize("careful", [False, True])
def test_the_rounded_nodes_are_whole_within_the_pool_and_place_every_replica(tmp_path, careful):
    problem = problem_from(tmp_path, _tight_fleet())
    _, found = _found(problem)
    assert found.master is not None and found.nodes is not None
    assert any(x != int(x) for _, _, x in found.nodes)  # (the LP's nodes are fractional)
    lp_value = found.lp_value
    nodes = rounded_nodes(found, None, careful)
    assert nodes is not None and all(count == int(count) and count >= 1 for _, _, count in nodes)
    assert sum(count for _, _, count in nodes) == 5  # the pool's count, the least by hand
    assert _hosted(nodes) == {"a": 6, "b": 5}
    # the master's bounds are restored: its LP solves again to the value it had
    assert found.master.solve(None) is not None and abs(found.master.value - lp_value) < 1e-9


def test_past_its_deadline_the_rounding_keeps_the_lps_whole_nodes_only(tmp_path):
    problem = problem_from(tmp_path, _tight_fleet())
    _, found = _found(problem)
    nodes = rounded_nodes(found, time.monotonic() - 1)
    assert found.nodes is not None and nodes is not None
    floors = sorted((tuple(sorted(h.items())), int(x)) for _, h, x in found.nodes if int(x))
    assert sorted((tuple(sorted(h.items())), int(x)) for _, h, x in nodes) == floors


def test_the_pattern_floor_completes_where_every_threshold_pass_was_short(tmp_path):
    # `pools` at 60 nodes, seed 32: the floor costs 60.619; the passes guided by the LP's
    # nodes rounded at 0.3 / 0.5 / 0 leave replicas out (a pool's nodes taken by rounded-up
    # patterns), so the floor was kept, 9.6% over the pattern bound. The residual rounding's
    # pass places every replica within 1% of that bound
    problem = problem_from(tmp_path, bench_module("planted_fleets").pools(32, 60))
    floor, found = _found(problem)
    floor_value = _packed_value(problem, floor, "cost")
    placed = _pattern_floor(problem, floor, found, "cost", None, None)
    value = _packed_value(problem, placed, "cost")
    assert found.value is not None and floor_value is not None and value is not None
    assert placed.complete and value < floor_value
    assert found.value <= value <= found.value * 101 / 100
