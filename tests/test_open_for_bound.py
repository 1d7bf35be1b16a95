"""`ScaleMove._open_for` fills only the classes that could beat the best so far: each class's
price over `_most_held` (a bound on what `_fill` finds a node holds) ranks them, and the
first fit stops where that least ratio passes the best ratio found.

The fleet: three 8-core, 16 GiB classes at 1 USD/h a core ("good"), 2.5 ("fair") and 5
("dear"), and 12 replicas of a 1-core, 1 GiB service to place. Each replica's weight is an
eighth of the largest node (set by its cores), so a node of any class holds 8 of them: 8 /
1e6 USD/h a unit for "good", 20 and 40 for the others; the bound for each class is its 8
cores (1e6 units) plus one per replica, so "fair" and "dear" (20 and 40 over about 1e6) are
never filled.
"""

from __future__ import annotations

import dataclasses

from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.moving import move_objectives

from solving import problem_running

POOL = """
pool NAME {
  count = 2
  cpu = 8
  memory = 16GiB
  price = PRICE USD/h
  zone = "a"
}
"""
FLEET = "".join(POOL.replace("NAME", name).replace("PRICE", price)
                for name, price in (("dear", "40"), ("fair", "20"), ("good", "8"))) + """
workload web {
  replicas = 12
  cpu = 1
  memory = 1GiB
}

policy {
  move_price = 0.01 USD/h
}
"""


def fleet_to_place(tmp_path) -> tuple[ScaleMove, list]:
    problem = problem_running(tmp_path, FLEET, [])
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    return fleet, fleet.start()


def test_only_the_class_that_could_be_best_is_filled(tmp_path, monkeypatch):
    fleet, displaced = fleet_to_place(tmp_path)
    assert len(displaced) == 12
    filled: list[str] = []
    fill = ScaleMove._fill

    def counted(self, node_class, *args, **kwargs):
        filled.append(node_class.id)
        return fill(self, node_class, *args, **kwargs)

    monkeypatch.setattr(ScaleMove, "_fill", counted)
    demand, _ = displaced[0]
    node = fleet._open_for(demand, [None], displaced[1:])
    assert node is not None and node.name == "good-0"
    assert filled == ["good"]  # (every eligible class, weighed in turn, was three fills)


def test_the_bound_is_never_below_what_a_node_holds(tmp_path):
    fleet, displaced = fleet_to_place(tmp_path)
    demand, _ = displaced[0]
    most = fleet._most_held(demand, displaced[1:])
    for node_class in fleet.problem.classes:
        held = fleet._fill(node_class, node_class.capacity, demand, displaced[1:], {})
        assert held == 8 * fleet.weight["web"] == 1_000_000
        assert held <= most(node_class.capacity) <= held + 12
