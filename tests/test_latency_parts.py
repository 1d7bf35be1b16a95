"""Latency rules kept at fleet scale (issue 15, session 34, the accelerator-heavy shape
`bench/ai_fleet.py`): a service whose users are on two continents, no region within reach of
both. The greedy pass places it a part per rule (`latency_parts.py`); the floor's completion
takes replicas it put out of reach off again; a short workload out of reach is left out whole;
a pattern relaxation's nodes (which count no latency) never hold it. Before, the fleet path
answered with every replica in a third region, and `fitc verify` rejected it."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import bench_module, pool, problem_from, workload

# users_a is 2 ms from aaa, users_b 2 ms from bbb; ccc is 150 ms from both, and cheapest
SITES = "".join(f'region site_{r} {{\n  code = "{r}"\n  jurisdiction = {j}\n}}\n'
                for r, j in (("aaa", "US"), ("bbb", "EU"), ("ccc", "JP"))) + (
    'location users_a {\n  city = "A"\n}\nlocation users_b {\n  city = "B"\n}\n'
    "latency {\n  from = users_a\n  to = { site_aaa: 2ms, site_bbb: 90ms, site_ccc: 150ms }\n}\n"
    "latency {\n  from = users_b\n  to = { site_aaa: 90ms, site_bbb: 2ms, site_ccc: 150ms }\n}\n")
WEB_LATENCY = "  latency {\n    users = [users_a, users_b]\n    within = 10ms\n    replicas = 1\n  }\n"


def _two_continents() -> str:
    """30 nodes at ccc (1 USD/h), 20 at aaa (2), 20 at bbb (3), 16 CPUs each; batch: 20 x 8
    CPUs, two a node; web: 4 x 2 CPUs, one within 10 ms of each of users_a and users_b. By
    hand: web must open a node at aaa and one at bbb (5 USD/h); beside 2 web replicas (4 CPUs)
    such a node holds one batch replica, not two (20 CPUs); the other 18 need 9 ccc nodes:
    14 USD/h, the least."""
    def site(name, region, price, count):
        return pool(name, count, 16, "64GiB", price, f'  zone = "{region}-a"\n  region = "{region}"\n')
    return (SITES + site("cheap_c", "ccc", 1, 30) + site("near_a", "aaa", 2, 20)
            + site("near_b", "bbb", 3, 20)
            + workload("web", 4, 2, "4GiB", WEB_LATENCY) + workload("batch", 20, 8, "16GiB"))


@pytest.fixture
def fleet_path(monkeypatch):
    import fitlang.solve.placement as placement_module

    monkeypatch.setattr(placement_module, "_whole_model_pays", lambda *args: False)


def _within(problem, packing, name: str) -> list[int]:
    """Per latency rule of `name`: its replicas in the packing within reach."""
    rules = problem.demand(name).latency
    return [sum(node.hosted.get(name, 0) for class_id, nodes in packing.nodes.items()
                if problem.within_reach(rule, problem.node_class(class_id)) for node in nodes)
            for rule in rules]


def test_the_greedy_pass_places_a_part_within_reach_of_each_location(tmp_path):
    from fitlang.solve.greedy import greedy_floor

    problem = problem_from(tmp_path, _two_continents())
    floor = greedy_floor(problem, short_first=True)[0]
    assert floor.complete  # before: web left out whole (no class within 10 ms of both)
    assert all(within >= 1 for within in _within(problem, floor, "web"))


def test_a_workload_is_split_only_where_the_parts_keep_every_rule(tmp_path):
    from fitlang.solve.latency_parts import reach_parts

    problem = problem_from(tmp_path, _two_continents())
    web = problem.demand("web")
    parts = reach_parts(web)
    assert [(p.replicas, [r.location for r in p.latency]) for p in parts] == \
        [(1, ["users_a"]), (1, ["users_b"]), (2, [])]
    assert reach_parts(dataclasses.replace(web, latency=web.latency[:1])) == []  # one rule
    assert reach_parts(dataclasses.replace(web, replicas=1)) == []  # two rules, one replica
    assert reach_parts(dataclasses.replace(web, gang=True)) == []


def _completed_from_main_floor(problem):
    """The floor as the greedy pass left it before: web short whole against the cheapest
    class (out of reach), then the floor's completion."""
    from fitlang.solve.aggregate import opener
    from fitlang.solve.floor_complete import floor_completed
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.make_room import move_replicas

    floor = greedy_floor(problem, short_first=True)[0]
    for nodes in floor.nodes.values():
        for node in nodes:
            if node.hosted.get("web"):
                move_replicas(problem, node, "web", -node.hosted["web"])
    floor._room.clear()
    floor.add_short("web", "cheap_c", 4)
    floor_completed(problem, floor, opener(problem, {}), "cost", None)
    return floor


def test_the_floor_completion_never_leaves_a_workload_out_of_reach(tmp_path):
    problem = problem_from(tmp_path, _two_continents())
    floor = _completed_from_main_floor(problem)
    # before: web's 4 replicas put on a ccc node (the class it was short against), 0 within
    # reach of either location; now placed within reach or left out
    within = _within(problem, floor, "web")
    assert within == [0, 0] or all(w >= 1 for w in within)
    placed = sum(node.hosted.get("web", 0) for nodes in floor.nodes.values() for node in nodes)
    assert placed == 0 or all(w >= 1 for w in within)


def test_a_short_workload_out_of_reach_is_left_out_whole(tmp_path):
    from fitlang.solve.make_room import dropped_whole
    from fitlang.solve.pack import NodeState, Packing

    problem = problem_from(tmp_path, _two_continents())
    # 3 of web's replicas near users_a, the one near users_b short: the rule of users_b broken
    packing = Packing(nodes={"near_a": [NodeState("near_a-0", {}, {"web": 3})]})
    packing.add_short("web", "near_b", 1)
    assert _within(problem, packing, "web") == [3, 0]
    assert "web" in dropped_whole(problem, packing)  # before: kept, and verify rejected it
    packing = Packing(nodes={"near_a": [NodeState("near_a-0", {}, {"web": 2})],
                             "near_b": [NodeState("near_b-0", {}, {"web": 1})]})
    packing.add_short("web", "near_b", 1)  # short, but every rule holds: kept
    assert "web" not in dropped_whole(problem, packing)


def test_a_pattern_relaxations_nodes_never_hold_a_latency_workload(tmp_path):
    from fitlang.solve.greedy import _fillable

    problem = problem_from(tmp_path, _two_continents())
    assert set(_fillable(problem)) == {"batch"}


def test_the_fleet_solve_keeps_every_latency_rule_at_the_least_cost(tmp_path, fleet_path):
    from fitlang.solve.placement import _solve

    problem = problem_from(tmp_path, _two_continents())
    placement = _solve(problem, "auto", 5.0, relax=True)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    # before: 11 USD/h, `optimal`, web on a ccc node, two E0503 (0 replicas within 10 ms)
    assert violations == [] and problems == [], [v.message for v in violations] + problems
    assert placement.unplaced == [] and placement.value == 14


def test_the_generators_first_fit_is_a_placement_fitc_verify_accepts(tmp_path):
    # bench/ai_fleet.py at 300 nodes: its greedy (written from docs/language.md alone) places
    # every replica, and verify, an independent reading of the rules, accepts it
    ai_fleet = bench_module("ai_fleet")
    path, greedy = ai_fleet.write(ai_fleet.generate(300, 40, 2), tmp_path, "ai300")
    assert greedy.unplaced == []
    problem = problem_from(tmp_path, path.read_text(), "ai300.fit")
    violations, problems = verify(problem, {"assignments": greedy.assignments})
    assert violations == [] and problems == [], [v.message for v in violations[:3]] + problems
