"""A dear node the plan opened closed again, room made for its replicas (`solve/dear_opened.py`).

The fleet: two GPU nodes of 4 cores at 20 USD/h (pools `gpua` and `gpub`) and cheap 4-core
nodes at 1 USD/h. `big` (3 cores) may run only on `gpua`, `narrow` (1 core) on either GPU
pool, `web` (two replicas of half a core) anywhere. What runs now: `big` and both `web`
replicas fill `gpua-0`; `narrow` runs on a node the policy no longer has. `repair` finds no
room for `narrow` on a node in use and opens `gpub-0` (40 USD/h in all). Closing it and moving
the two `web` replicas aside to a cheap node makes `narrow`'s room on `gpua-0`: 21 USD/h plus
3 moves. (Here `empty_pools` finds it too, emptying `gpua`; at inventory 10,000, drain 13, it
did not: the node's pool and the pool room is made on hold gangs' members that go nowhere else.)
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from fractions import Fraction

from test_pool_emptied import consistent

from fitlang.solve.dear_opened import _placed, close_dear_opened
from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.moving import move_objectives, objective_value

from solving import problem_running

FLEET = """
pool gpua {
  count = 1
  cpu = 4
  memory = 16GiB
  price = 20 USD/h
  zone = "a"
  labels = { "kind": "gpu", "line": "a" }
}

pool gpub {
  count = 1
  cpu = 4
  memory = 16GiB
  price = 20 USD/h
  zone = "a"
  labels = { "kind": "gpu", "line": "b" }
}

pool cheap {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
  zone = "a"
  labels = { "kind": "cpu" }
}

workload big {
  replicas = 1
  cpu = 3
  memory = 1GiB
  require labels["line"] == "a"
}

workload narrow {
  replicas = 1
  cpu = 1
  memory = 1GiB
  require labels["kind"] == "gpu"
}

workload web {
  replicas = 2
  cpu = 500m
  memory = 1GiB
}

policy {
  move_price = 0.01 USD/h
}
"""
RUNNING = [("big", "gpua-0"), ("web", "gpua-0"), ("web", "gpua-0"), ("narrow", "gone-0")]


def repaired(tmp_path) -> ScaleMove:
    """The fleet as `repair` leaves it: `narrow` alone on a new `gpub` node."""
    problem = problem_running(tmp_path, FLEET, RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    assert fleet.state() == {"gpua-0": Counter(big=1, web=2), "gpub-0": Counter(narrow=1)}
    return fleet


def value(fleet: ScaleMove) -> Fraction:
    return objective_value(fleet.problem, "cost+moves", fleet.state(), set(fleet.bought))


def test_the_dear_node_opened_is_closed_where_easier_replicas_move_aside(tmp_path):
    fleet = repaired(tmp_path)
    assert value(fleet) == Fraction(40) + Fraction(1, 100)  # two nodes, `narrow` moved
    assert close_dear_opened(fleet, "cost+moves", None) == 1
    state = fleet.state()
    assert state["gpua-0"] == Counter(big=1, narrow=1) and "gpub-0" not in state
    assert sum(state.values(), Counter()) == Counter(big=1, narrow=1, web=2)
    assert value(fleet) == Fraction(21) + Fraction(3, 100)  # `narrow` and both `web` moved
    assert not fleet.unplaced and consistent(fleet)


def test_a_node_no_room_can_be_made_for_stays_as_it_was(tmp_path):
    """With `web` a workload only `gpua` takes (no easier replica to move aside), nothing is
    kept and every node is put back."""
    web = '  memory = 1GiB\n}\n\npolicy'
    text = FLEET.replace(web, web.replace("\n}", '\n  require labels["line"] == "a"\n}'))
    problem = problem_running(tmp_path, text, RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    before = fleet.state()
    assert close_dear_opened(fleet, "cost+moves", None) == 0
    assert fleet.state() == before and not fleet.unplaced and consistent(fleet)


def test_a_replica_left_out_a_level_up_stays_left_out(tmp_path):
    """`_placed` one level down keeps only what its own `repair` left out to place by making
    room: a replica an outer level could not place stays in `fleet.unplaced` (it was dropped,
    and a step that lost a replica could be kept)."""
    fleet = repaired(tmp_path)
    web = fleet.problem.demand("web")
    fleet.remove(fleet.nodes["gpua-0"], web)
    fleet.unplaced = ["narrow"]  # (left out by the level above)
    _placed(fleet, [(web, None)], 1)
    assert fleet.unplaced == ["narrow"]
    assert sum(fleet.state().values(), Counter())["web"] == 2
