"""A dear pool of the plan emptied across its zones at once (`solve/pool_emptied.py`).

The fleets here are ones `improve` cannot change a node at a time: three nodes of 3 cores
at 10 USD/h, each running one replica of 2 cores (room for none beside it), and a pool of
6-core nodes that takes all three on one node. The values are worked out by hand and
checked against `moving.objective_value`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES
from fitlang.solve import move_neighbourhood
from fitlang.solve.move_scale import ScaleMove, move_at_scale, zone_of
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.pool_emptied import empty_pools

from solving import problem_running

FLEET = """
pool dear {
  count = 3
  cpu = 3
  memory = 8GiB
  price = 10 USD/h
  zone = "a"
}

pool big {
  count = 2
  cpu = 6
  memory = 16GiB
  price = BIG USD/h
  zone = "a"
}

workload web {
  replicas = 3
  cpu = 2
  memory = 1GiB
}

policy {
  move_price = 0.01 USD/h
}
"""
RUNNING = [("web", "dear-0"), ("web", "dear-1"), ("web", "dear-2")]


def settled_fleet(tmp_path, big_price: str) -> ScaleMove:
    """The fleet as the plan leaves it before the pools are tried: what runs now kept, then
    `improve` until no node's change pays (it leaves the three dear nodes as they are)."""
    problem = problem_running(tmp_path, FLEET.replace("BIG", big_price), RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None, scatter=True)
    assert fleet.state() == {name: Counter(web=1) for name in ("dear-0", "dear-1", "dear-2")}
    return fleet


def consistent(fleet: ScaleMove) -> bool:
    """The fleet's counts agree with what its nodes host (room per node, replicas per zone)."""
    in_zone: Counter = Counter()
    for node in fleet.nodes.values():
        room = np.array([node.capacity[r] for r in RESOURCES], dtype=np.int64)
        for name, count in node.hosted.items():
            room -= fleet.need[name] * count
            in_zone[fleet.problem.demand(name).workload, zone_of(node.node_class)] += count
        if not (fleet.rows.free[node.row] == room).all() or not fleet.rows.alive[node.row]:
            return False
    return +fleet.in_zone == in_zone


def test_a_pool_no_node_of_which_empties_alone_is_emptied_at_once(tmp_path):
    # 30 USD/h on three dear nodes -> one 12 USD/h node with the three replicas: 3 moves and
    # 3 nodes drained at 0.01 each
    fleet = settled_fleet(tmp_path, "12")
    assert empty_pools(fleet, "cost+moves", None) == 1
    assert fleet.state() == {"big-0": Counter(web=3)}
    problem = fleet.problem
    assert objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought)) == Fraction("12.06")
    assert not _Checker(problem, set(), "").broken(fleet.state())
    assert consistent(fleet)


def test_an_emptied_pool_that_does_not_pay_is_put_back_as_it_was(tmp_path):
    # one 29.95 USD/h node + 0.06 of changes is more than the 30 USD/h it replaces
    fleet = settled_fleet(tmp_path, "29.95")
    before = fleet.state()
    assert empty_pools(fleet, "cost+moves", None) == 0
    assert fleet.state() == before and consistent(fleet)
    # for cost alone (no changes charged) it pays
    assert empty_pools(fleet, "cost", None) == 1
    assert fleet.state() == {"big-0": Counter(web=3)}


def test_no_pool_is_tried_past_the_deadline(tmp_path):
    fleet = settled_fleet(tmp_path, "12")
    before = fleet.state()
    assert empty_pools(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert fleet.state() == before


def test_the_plan_past_large_nodes_empties_the_pool(tmp_path, monkeypatch):
    # the joint steps (which would find it) are not run past `LARGE_NODES`; here 0
    monkeypatch.setattr(move_neighbourhood, "LARGE_NODES", 0)
    problem = problem_running(tmp_path, FLEET.replace("BIG", "12"), RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction("12.06")
    assert fleet.state() == {"big-0": Counter(web=3)}


def test_a_stage_given_a_deadline_already_passed_builds_nothing(tmp_path, monkeypatch):
    # the stages after the scatter passes, each past its deadline: no journal of moves, no
    # candidates ranked, no step tried, the fleet as it was (their time is the waves')
    from fitlang.solve import pool_emptied, zone_regroup
    from fitlang.solve.dear_opened import close_dear_opened
    from fitlang.solve.option_switch import switch_options

    def built(*args, **kwargs):
        raise AssertionError("built past the deadline")

    for module, name in [(pool_emptied, "JournalMoves"), (pool_emptied, "_ranked_pools"),
                         (zone_regroup, "_groups")]:
        monkeypatch.setattr(module, name, built)
    fleet = settled_fleet(tmp_path, "12")
    before = fleet.state()
    passed = time.monotonic() - 1.0
    assert empty_pools(fleet, "cost+moves", passed) == 0
    assert close_dear_opened(fleet, "cost+moves", passed) == 0
    assert zone_regroup.regroup_zones(fleet, "cost+moves", passed) == 0
    assert switch_options(fleet, "cost+moves", passed) == 0
    assert fleet.state() == before and consistent(fleet)
