"""`ScaleMove.free_node` finds a node `improve` emptied after its search went past it
(`ScaleMove.close` moves the class's search back; before, the search resumed past every
node it had seen in use, and such a node stayed empty for the rest of the plan).

The fleet: two cheap nodes (4 cores, 5 USD/h) and a dear one (4 cores, 10 USD/h), running
x (1 core) on cheap-0, y (3 cores) on cheap-1, z (4 cores) on dear-0. `improve` tries the
dear node first: z fits no node in use and no free cheap node is left (the search passes
cheap-0 and cheap-1, both in use). Then x moves onto cheap-1's free core and cheap-0 is
emptied. The next pass, z pays to move onto cheap-0, the only room it fits: 10 USD/h, where
the search that resumed past cheap-0 left 15.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from fractions import Fraction

from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.moving import _Checker, move_objectives, objective_value

from solving import problem_running

FLEET = """
pool cheap {
  count = 2
  cpu = 4
  memory = 8GiB
  price = 5 USD/h
  zone = "a"
}

pool dear {
  count = 1
  cpu = 4
  memory = 8GiB
  price = 10 USD/h
  zone = "a"
}

workload x {
  replicas = 1
  cpu = 1
  memory = 1GiB
}

workload y {
  replicas = 1
  cpu = 3
  memory = 1GiB
}

workload z {
  replicas = 1
  cpu = 4
  memory = 1GiB
}

policy {
  move_price = 0.01 USD/h
}
"""
RUNNING = [("x", "cheap-0"), ("y", "cheap-1"), ("z", "dear-0")]


def fleet_running(tmp_path) -> ScaleMove:
    problem = problem_running(tmp_path, FLEET, RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    assert fleet.state() == {"cheap-0": Counter(x=1), "cheap-1": Counter(y=1), "dear-0": Counter(z=1)}
    return fleet


def test_a_node_closed_behind_the_search_is_found_again(tmp_path):
    fleet = fleet_running(tmp_path)
    cheap = fleet.problem.node_class("cheap")
    assert fleet.free_node(cheap) is None  # (both in use: the search ends past them)
    node = fleet.nodes["cheap-0"]
    fleet.remove(node, fleet.problem.demand("x"))
    fleet.close("cheap-0")
    assert fleet.free_node(cheap) == "cheap-0"


def test_improve_moves_onto_the_node_it_emptied_after_the_search_passed_it(tmp_path):
    fleet = fleet_running(tmp_path)
    fleet.improve(None)
    assert fleet.state() == {"cheap-0": Counter(z=1), "cheap-1": Counter(x=1, y=1)}
    # 10 USD/h for the two cheap nodes; x and z moved (0.01 each), dear-0 drained (0.01)
    problem = fleet.problem
    assert objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought)) == Fraction("10.03")
    assert not _Checker(problem, set(), "").broken(fleet.state())
