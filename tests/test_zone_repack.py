"""A domain group's CPU nodes packed again from empty (zone_repack.py). Held to a hand-counted
optimum and to `verify` (which shares no code with the stage)."""

from __future__ import annotations

import time
from fractions import Fraction

from test_dear_nodes import _behind_pinned, _brute_force

from fitlang.solve import search_stages, zone_repack
from fitlang.solve.dear_nodes import GIVE_UP_AFTER, dear_nodes_ruined
from fitlang.solve.greedy import greedy_floor
from fitlang.solve.improve import consolidate
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.small_merged import small_nodes_merged
from fitlang.solve.zone_repack import zones_repacked

from solving import node_state, pool, problem_from, verified_cost, workload

# in zone a: 12-CPU nodes at 0.45 USD/h (0.0375 a core) and 8-CPU ones at 0.40 (0.05 a core).
# `one` (two replicas of 4 CPUs, one a node) and `many` (four of 4 CPUs): 24 CPUs, two 12-CPU
# nodes exactly, each holding one `one` and two `many` (0.90 USD/h, the least by hand: 24 CPUs
# on nodes at 0.0375 a core at best)
ZONE = '  zone = "a"\n'
FLEET = (pool("mid", 2, 12, "48GiB", 0.45, ZONE) + pool("small", 6, 8, "32GiB", 0.40, ZONE)
         + workload("one", 2, 4, "2GiB", "  anti_affinity self on node\n") + workload("many", 4, 4, "1GiB"))
GIB = 2**30


def _on_small_nodes(problem) -> Packing:
    """Every replica on three full 8-CPU nodes (1.20 USD/h): two with a `one` and a `many`,
    one with two `many`."""
    hosted = [{"one": 1, "many": 1}, {"one": 1, "many": 1}, {"many": 2}]
    names = problem.node_class("small").node_names
    nodes = [NodeState(name, {"cpu": 0, "memory": 32 * GIB - 2 * GIB * on.get("one", 0) - GIB * on["many"],
                              "gpu": 0, "disk": 0}, dict(on)) for name, on in zip(names, hosted)]
    return Packing(nodes={"small": nodes}, short={}, short_by_workload={}, exact=set())


def test_a_zone_on_dear_nodes_is_packed_again_onto_its_cheaper_class(tmp_path):
    # every node full: consolidation closes none, no two small nodes fit a 12-CPU one, and a
    # small node's replicas alone on a 12-CPU node cost more (0.45 > 0.40). Packed from empty,
    # `one` first (two nodes at least, and larger), each replica on the first node with room,
    # the cheaper a core first: two 12-CPU nodes, 0.90, `one` on two nodes
    problem = problem_from(tmp_path, FLEET)
    packing = _on_small_nodes(problem)
    assert verified_cost(problem, packing) == Fraction(6, 5)
    assert consolidate(problem, packing, "cost") == 0
    assert small_nodes_merged(problem, packing, "cost", None) == 0
    assert dear_nodes_ruined(problem, packing, "cost", None, give_up=None) == 0
    assert zones_repacked(problem, packing, "cost", float("inf")) == 1
    assert verified_cost(problem, packing) == Fraction(9, 10)
    assert sorted((c, n.hosted) for c, nodes in packing.nodes.items() for n in nodes) == \
        [("mid", {"one": 1, "many": 2}), ("mid", {"one": 1, "many": 2})]
    assert zones_repacked(problem, packing, "cost", float("inf")) == 0  # nothing cheaper left


def test_replicas_stay_in_their_zone_where_a_rule_counts_zones(tmp_path):
    # the 12-CPU nodes in zone b: with `many` spread over zones, zone a's replicas may not go
    # there, and zone a has nothing cheaper than its own nodes: the packing stays as it is
    fleet = FLEET.replace(ZONE, '  zone = "b"\n', 1).replace(
        'memory = 1GiB\n}\n', 'memory = 1GiB\n  spread zone max_skew 4\n}\n')
    problem = problem_from(tmp_path, fleet)
    packing = _on_small_nodes(problem)
    assert zones_repacked(problem, packing, "cost", float("inf")) == 0
    assert verified_cost(problem, packing) == Fraction(6, 5)


def test_without_a_rule_on_zones_the_cheaper_zone_takes_them(tmp_path):
    # the same fleet with no rule counting zones: one domain group, so the 12-CPU nodes of
    # zone b take every replica (0.90)
    problem = problem_from(tmp_path, FLEET.replace(ZONE, '  zone = "b"\n', 1))
    packing = _on_small_nodes(problem)
    assert zones_repacked(problem, packing, "cost", float("inf")) == 1
    assert verified_cost(problem, packing) == Fraction(9, 10)


def test_a_node_of_an_exclusive_workload_stays_as_it_is(tmp_path):
    # `solo` (exclusive, 1 CPU) alone on a fourth small node: that node and its replica stay
    # where they are, the other three are packed again onto the 12-CPU nodes (0.90 + 0.40)
    problem = problem_from(tmp_path, FLEET + workload("solo", 1, 1, "1GiB", "  exclusive = true\n"))
    packing = _on_small_nodes(problem)
    name = problem.node_class("small").node_names[3]
    packing.nodes["small"].append(NodeState(name, {"cpu": 7000, "memory": 31 * GIB, "gpu": 0, "disk": 0},
                                            {"solo": 1}))
    assert zones_repacked(problem, packing, "cost", float("inf")) == 1
    assert verified_cost(problem, packing) == Fraction(13, 10)
    assert [(n.name, n.hosted) for n in packing.nodes["small"]] == [(name, {"solo": 1})]


def _packed(problem, nodes: dict[str, list[dict[str, int]]]) -> Packing:
    """Each class's first nodes hosting what `nodes` lists for it."""
    states = {c: [node_state(problem, c, i, hosted) for i, hosted in enumerate(listed)]
              for c, listed in nodes.items()}
    return Packing(nodes=states, short={}, short_by_workload={}, exact=set())


def test_a_node_of_the_zone_emptied_into_the_others_room(tmp_path):
    # 34 CPUs: one 12-CPU node and three 8-CPU ones (1.65 USD/h) is the least that holds them
    # (two of each, 1.70; five 8-CPU nodes, 2.00). Packed from empty the 12-CPU nodes take `w1`
    # two a node and the rest fills a small node and a second one (1.70). The zone as it is, its
    # least full node that can be emptied (a small node's `w1` and `w0` onto the 12-CPU node
    # beside `w1`) closed: 1.65
    problem = problem_from(tmp_path, pool("mid", 2, 12, "48GiB", 0.45, ZONE)
                           + pool("small", 4, 8, "48GiB", 0.40, ZONE)
                           + workload("w0", 4, 2, "1GiB") + workload("w1", 4, 5, "1GiB")
                           + workload("w2", 1, 6, "1GiB", "  anti_affinity self on node\n"))
    packing = _packed(problem, {"small": [{"w2": 1, "w0": 1}] + [{"w1": 1, "w0": 1}] * 3, "mid": [{"w1": 1}]})
    assert verified_cost(problem, packing) == Fraction(41, 20)
    assert zones_repacked(problem, packing, "cost", float("inf")) == 1
    assert verified_cost(problem, packing) == Fraction(33, 20)


def test_a_packing_from_empty_with_a_node_emptied_into_the_others_room(tmp_path):
    # 43 CPUs, every workload one a node: two 16-CPU nodes and a 12-CPU one (1.85 USD/h) are the
    # least that hold them (a 16, two 12 and an 8: 2.00; a 16, a 12 and two 8: 1.95). First-fit,
    # the cheapest a core first: `w2` and `w0` on both 12-CPU nodes and a 16-CPU one, `w1` beside
    # them there and alone on a fourth node, moved whole onto an 8-CPU one (2.00). Its least full
    # node that can be emptied, a 12-CPU one, emptied into that fourth node's room: 1.85
    problem = problem_from(tmp_path, pool("big", 4, 16, "64GiB", 0.70, ZONE)
                           + pool("small", 2, 8, "32GiB", 0.40, ZONE)
                           + pool("mid", 2, 12, "24GiB", 0.45, ZONE)
                           + workload("w0", 3, 6, "2GiB", "  anti_affinity self on node\n")
                           + workload("w1", 2, 5, "10GiB", "  anti_affinity self on node\n")
                           + workload("w2", 3, 5, "9GiB", "  anti_affinity self on node\n"))
    packing = _packed(problem, {"small": [{"w0": 1}, {"w0": 1}],
                                "big": [{"w0": 1, "w1": 1, "w2": 1}, {"w1": 1, "w2": 1}, {"w2": 1}]})
    assert verified_cost(problem, packing) == Fraction(29, 10)
    assert zones_repacked(problem, packing, "cost", float("inf")) == 1
    assert verified_cost(problem, packing) == Fraction(37, 20)
    assert sorted(c for c, nodes in packing.nodes.items() for _ in nodes) == ["big", "big", "mid"]


def test_a_class_of_many_nodes_offers_the_pool_what_the_zone_needs_of_it(tmp_path, monkeypatch):
    # the 12-CPU class has 200 nodes: the zone's 24 CPUs need 2 of them (and `one`, one a node,
    # 2), so the pool offers 2 x 2 + 2 = 6 of its unused ones, not 200 (inventory 10,000 seed
    # 94: a zone's pool of 2,561 nodes for 429 replicas, every fit test reading them all); the
    # packing found is the same: two 12-CPU nodes, 0.90
    fleet = FLEET.replace('pool mid {\n  count = 2\n', 'pool mid {\n  count = 200\n')
    problem = problem_from(tmp_path, fleet)
    assert problem.node_class("mid").count == 200
    offered = []
    made = zone_repack._Pool.__init__

    def recorded(pool, *args) -> None:
        made(pool, *args)
        offered.append(sum(1 for position, _ in pool.nodes if pool.classes[position].id == "mid"))

    monkeypatch.setattr(zone_repack._Pool, "__init__", recorded)
    packing = _on_small_nodes(problem)
    assert zones_repacked(problem, packing, "cost", float("inf")) == 1
    assert offered == [6]
    assert verified_cost(problem, packing) == Fraction(9, 10)


def test_the_stage_stops_at_its_deadline_inside_a_group(tmp_path, monkeypatch):
    # ten full 8-CPU nodes of `many` (two 4-CPU replicas each, 4.00 USD/h); seven 12-CPU nodes
    # would hold them for 3.15. Each fit test takes a second of a patched clock and the stage
    # has 5: it stops within a node's moves of its deadline (a group's own packing emptied
    # node by node and its first-fits replica by replica check it), and what it leaves is a
    # packing. Before, only each try's start read the clock: the group's own packing, emptied
    # and moved whole, took 20 fit tests, 15 s past the deadline
    problem = problem_from(tmp_path, pool("mid", 10, 12, "48GiB", 0.45, ZONE)
                           + pool("small", 10, 8, "32GiB", 0.40, ZONE) + workload("many", 20, 4, "1GiB"))
    packing = _packed(problem, {"small": [{"many": 2}] * 10})
    assert verified_cost(problem, packing) == 4
    now = [1000.0]
    fitting = zone_repack._fitting

    def slow_fit(*args):
        now[0] += 1.0
        return fitting(*args)

    monkeypatch.setattr(zone_repack.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(zone_repack, "_fitting", slow_fit)
    deadline = now[0] + 5.0
    zones_repacked(problem, packing, "cost", deadline)
    assert now[0] <= deadline + 2.0  # (the last node's two replicas)
    assert verified_cost(problem, packing) <= 4


def test_the_search_repacks_the_zones_again_after_the_ruin_and_the_dear_room(tmp_path, monkeypatch):
    # the ruin and the dear room move replicas across a zone's nodes (test_dear_nodes: the 12-CPU
    # node behind GIVE_UP_AFTER lone ones, one move kept): the zones' repacking runs again after
    # them, before the small nodes' merge (the start tree repacked them once, before the ruin)
    problem = problem_from(tmp_path, _behind_pinned(GIVE_UP_AFTER))
    floor, _ = greedy_floor(problem)
    consolidate(problem, floor, "cost")
    called: list[tuple[str, int]] = []

    def recorded(stage: str, function):
        def run(*args, **kwargs) -> int:
            called.append((stage, function(*args, **kwargs)))
            return called[-1][1]
        return run

    for stage, name, function in (("zones", "zones_repacked", zones_repacked),
                                  ("ruin", "dear_nodes_ruined", dear_nodes_ruined),
                                  ("dear room", "dear_room_filled", search_stages.dear_room_filled),
                                  ("small nodes", "small_nodes_merged", small_nodes_merged)):
        monkeypatch.setattr(search_stages, name, recorded(stage, function))
    found = search_stages.searched(problem, floor, "cost", time.monotonic() + 5, lambda *args: None, None)
    stages = [stage for stage, _ in called]
    assert stages[stages.index("ruin"):] == ["ruin", "dear room", "zones", "small nodes"]
    assert dict(called)["ruin"] == 1 and verified_cost(problem, found) == 5 * GIVE_UP_AFTER + _brute_force()
