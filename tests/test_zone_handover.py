"""A zone handed over between two workloads kept apart by zone (`solve/zone_handover.py`).

The fleet: zones a, b and c. `near` (one a node, 3 GiB: it fits no node of zone c) runs on
a4-0, a4-1 and b4-0, beside a `base` replica on each, so no node of a or b empties alone;
`far` (two replicas, `anti_affinity near on zone`) runs on a c4 node at 10 USD/h: 13 USD/h.
Handed over: `near` leaves zone a for two new b4 nodes, `far` goes onto a4-0 beside `base`,
c4-0 is drained, and the tidying moves a4-1's `base` to a new b4 node beside `near`: 4
USD/h, with 5 replicas moved and 2 nodes drained at 0.01 each, 4.07. No change of one
replica gets there (`far` may not enter a or b while `near` runs there; one `near` leaving
a frees no node), no swap (`near` fits no node of c), nor a replica moved aside
(`scatter_aside`: two `near` would have to go). The values are worked out by hand and
checked against `moving.objective_value`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

from test_pool_emptied import consistent

from fitlang.solve import move_neighbourhood
from fitlang.solve.move_scale import ScaleMove, move_at_scale, zone_of
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.zone_handover import hand_over_zones
from fitlang.solve.zone_swap import swap_zones

from solving import problem_running

FLEET = """
pool a4 {
  count = 2
  cpu = 4
  memory = 4GiB
  price = 1 USD/h
  zone = "a"
}

pool b4 {
  count = 3
  cpu = 4
  memory = 4GiB
  price = 1 USD/h
  zone = "b"
}

pool c4 {
  count = 2
  cpu = 4
  memory = 2GiB
  price = C4 USD/h
  zone = "c"
}

workload base {
  replicas = 3
  cpu = 2
  memory = 1GiB
}

workload near {
  replicas = 3
  cpu = 1
  memory = 3GiB
  anti_affinity self on node
}

workload far {
  replicas = 2
  cpu = 1
  memory = 512Mi
  anti_affinity near on zone
}

policy {
  move_price = 0.01 USD/h
}
"""
RUNNING = [("base", "a4-0"), ("near", "a4-0"), ("base", "a4-1"), ("near", "a4-1"),
           ("base", "b4-0"), ("near", "b4-0"), ("far", "c4-0"), ("far", "c4-0")]


def fleet_at_rest(tmp_path, c4: str = "10") -> ScaleMove:
    """The fleet as the plan leaves it before the handovers: what runs now kept, then
    `improve` (with scattering) until no node's change pays; it changes nothing."""
    problem = problem_running(tmp_path, FLEET.replace("C4", c4), RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None, scatter=True)
    assert fleet.state() == now()
    return fleet


def now() -> dict[str, Counter]:
    state: dict[str, Counter] = {}
    for name, node in RUNNING:
        state.setdefault(node, Counter())[name] += 1
    return state


def value(fleet: ScaleMove) -> Fraction:
    return objective_value(fleet.problem, "cost+moves", fleet.state(), set(fleet.bought))


def zones(fleet: ScaleMove, workload: str) -> Counter:
    found: Counter = Counter()
    for node in fleet.nodes.values():
        found[zone_of(node.node_class)[-1]] += node.hosted[workload]
    return +found


def test_a_zone_is_handed_over_where_no_swap_and_no_single_move_pays(tmp_path):
    fleet = fleet_at_rest(tmp_path)
    assert value(fleet) == 13
    assert swap_zones(fleet, "cost+moves", None) == 0  # `near` fits no node of zone c
    assert hand_over_zones(fleet, "cost+moves", None) == 1
    assert value(fleet) == Fraction("4.07")
    near, far = zones(fleet, "near"), zones(fleet, "far")
    assert near == Counter(b=3) and far == Counter(a=2)
    assert not fleet.nodes.get("c4-0")
    assert not _Checker(fleet.problem, set(), "").broken(fleet.state())
    assert consistent(fleet)


def test_a_handover_that_does_not_pay_is_put_back_as_it_was(tmp_path):
    # handed over: 4 USD/h + 0.07 of changes, more than the 4 it replaces
    fleet = fleet_at_rest(tmp_path, c4="1")
    assert hand_over_zones(fleet, "cost+moves", None) == 0
    assert fleet.state() == now()
    assert consistent(fleet)
    # for cost alone (no changes charged) it does not pay either (4 against 4), and is put back
    assert hand_over_zones(fleet, "cost", None) == 0
    assert fleet.state() == now()


def test_no_handover_is_tried_past_the_deadline(tmp_path):
    fleet = fleet_at_rest(tmp_path)
    assert hand_over_zones(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert value(fleet) == 13


def test_the_plan_at_scale_hands_the_zone_over(tmp_path, monkeypatch):
    # the joint steps' zone pair might find it given their CPU; here none
    monkeypatch.setattr(move_neighbourhood, "CPU_SECONDS", 0.0)
    problem = problem_running(tmp_path, FLEET.replace("C4", "10"), RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction("4.07")
    assert not fleet.nodes.get("c4-0")
