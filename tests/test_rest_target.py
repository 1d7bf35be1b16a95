"""The plan's target where both searches of the move leave replicas out: the policy solved at
rest (`solve/rest_target.py`, issue 18).

The fleet: zone a of two 4 GiB nodes at 1 USD/h, zone c of two 2 GiB nodes at 1, zone d of 50
1 GiB nodes at 100 (the fleet large enough for the plan to start from what runs). `lone` (2
replicas, 3 GiB: a nodes only; one a node, `anti_affinity other on node`) runs on two nodes
the policy no longer has; `other` (one replica, 512 MiB) runs on a-0. `repair` places one
`lone` on a-1 and leaves the other out (a-0 holds `other`; `repair_apart` clears zones, not
nodes); the whole model is stubbed to place nothing, as it does past `MOVE_MODEL_MAX_NODES`
(inventory 10,000 plan 34). At rest: `lone` on both a nodes, `other` on a c node, 3 USD/h,
worked out by hand.
"""

from __future__ import annotations

import dataclasses

from test_repair_apart import FLEET as APART_FLEET
from test_repair_apart import POOL, verified_plan

from fitlang.solve import moving
from fitlang.solve.linear import Status
from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.moving import move_objectives
from fitlang.solve.placement import Placement
from fitlang.solve.repair_apart import clear_zones
from fitlang.solve.rest_target import rest_target

from solving import problem_running

# `test_repair_apart`'s fleet without zone b, `lone` two replicas kept from `other` by node
FLEET = APART_FLEET.replace(POOL.format(name="b", count=2, memory="4GiB", price=1), "") \
    .replace("replicas = 4", "replicas = 2") \
    .replace("anti_affinity other on zone", "anti_affinity other on node")
RUNNING = [("lone", "gone-0"), ("lone", "gone-1"), ("other", "a-0")]


def nothing_placed(problem, backend, left) -> Placement:
    return Placement(Status.UNKNOWN, problem.objective[0], None, None)


def test_the_search_from_what_runs_leaves_a_replica_out(tmp_path):
    problem = problem_running(tmp_path, FLEET, RUNNING)
    fleet = ScaleMove(dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[]))
    fleet.repair(fleet.start())
    clear_zones(fleet, None)
    assert fleet.unplaced == ["lone"]


def test_the_policy_at_rest_is_the_target_matched_to_what_runs(tmp_path):
    problem = problem_running(tmp_path, FLEET, RUNNING)
    target = rest_target(problem, "cost+moves", None, None)
    assert target is not None and target.unplaced == [] and target.moves_counted
    # 3 USD/h; `lone` starts twice (from nodes the policy lacks), `other` moves, c-0 is bought
    # nowhere: 2 moves of `lone` and 1 of `other` at 0.01, a-0 stays in use
    assert target.value == 3 + 3 * problem.move_price
    assert target.bound is not None and target.bound <= target.value


def test_nothing_pinned_is_moved_by_the_target_at_rest(tmp_path):
    pinned = FLEET.replace("  memory = 512Mi\n", "  memory = 512Mi\n  movable = false\n")
    problem = problem_running(tmp_path, pinned, RUNNING)
    assert rest_target(problem, "cost+moves", None, None) is None


def test_the_plan_is_whole_where_both_searches_leave_replicas_out(tmp_path, monkeypatch):
    # E0812 "no placement places every replica" on the start tree, the plain solve placing all
    monkeypatch.setattr(moving, "_solve", nothing_placed)
    assert verified_plan(tmp_path, FLEET, RUNNING).cost_after == 3
