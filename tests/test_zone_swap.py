"""Two workloads kept apart by zone trade zones at once (`solve/zone_swap.py`).

The fleet: zones a and b. `wide` (4 cores, one a node) runs on zone a's 4-core nodes at 10
USD/h, `tall` (8 GiB) on zone b's 8 GiB nodes at 5 USD/h: 30 USD/h. Zone b's 4-core nodes
cost 2, zone a's 8 GiB nodes 1: swapped, 2 x 2 + 2 x 1 = 6 USD/h, with 4 replicas moved and
4 nodes drained at 0.01 each, 6.08. No change of one replica (or one node) gets there: `wide`
may not enter zone b while `tall` runs there, nor `tall` zone a, and neither fits the other
zone's other pool. The values are worked out by hand and checked against
`moving.objective_value`.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

from test_pool_emptied import consistent

from fitlang.solve import move_neighbourhood
from fitlang.solve.move_scale import ScaleMove, move_at_scale
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.zone_swap import swap_zones

from solving import problem_running

FLEET = """
pool a4 {
  count = 2
  cpu = 4
  memory = 2GiB
  price = 10 USD/h
  zone = "a"
}

pool a8 {
  count = 2
  cpu = 1
  memory = 8GiB
  price = A8 USD/h
  zone = "a"
}

pool b4 {
  count = 2
  cpu = 4
  memory = 2GiB
  price = B4 USD/h
  zone = "b"
}

pool b8 {
  count = 2
  cpu = 1
  memory = 8GiB
  price = 5 USD/h
  zone = "b"
}

workload wide {
  replicas = 2
  cpu = 4
  memory = 1GiB
  anti_affinity tall on zone
}

workload tall {
  replicas = 2
  cpu = 1
  memory = 8GiB
}

policy {
  move_price = 0.01 USD/h
}
"""
RUNNING = [("wide", "a4-0"), ("wide", "a4-1"), ("tall", "b8-0"), ("tall", "b8-1")]
SWAPPED = {"b4-0": Counter(wide=1), "b4-1": Counter(wide=1), "a8-0": Counter(tall=1),
           "a8-1": Counter(tall=1)}


def fleet_at_rest(tmp_path, a8: str = "1", b4: str = "2") -> ScaleMove:
    """The fleet as the plan leaves it before the swaps: what runs now kept, then `improve`
    (with scattering) until no node's change pays; it changes nothing."""
    text = FLEET.replace("A8", a8).replace("B4", b4)
    problem = problem_running(tmp_path, text, RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None, scatter=True)
    assert fleet.state() == {node: Counter({name: 1}) for name, node in RUNNING}
    return fleet


def value(fleet: ScaleMove) -> Fraction:
    return objective_value(fleet.problem, "cost+moves", fleet.state(), set(fleet.bought))


def test_two_workloads_apart_by_zone_trade_zones(tmp_path):
    fleet = fleet_at_rest(tmp_path)
    assert value(fleet) == 30
    assert swap_zones(fleet, "cost+moves", None) == 1
    assert fleet.state() == SWAPPED
    assert value(fleet) == Fraction("6.08")
    assert not _Checker(fleet.problem, set(), "").broken(fleet.state())
    assert consistent(fleet)


def test_a_swap_that_does_not_pay_is_put_back_as_it_was(tmp_path):
    # swapped: 2 x 10 + 2 x 4.99 = 29.98 USD/h, + 0.08 of changes: more than the 30 it replaces
    fleet = fleet_at_rest(tmp_path, a8="4.99", b4="10")
    assert swap_zones(fleet, "cost+moves", None) == 0
    assert fleet.state() == {node: Counter({name: 1}) for name, node in RUNNING}
    assert consistent(fleet)
    # for cost alone (no changes charged) it pays
    assert swap_zones(fleet, "cost", None) == 1
    assert fleet.state() == SWAPPED


def test_no_swap_is_tried_past_the_deadline(tmp_path):
    fleet = fleet_at_rest(tmp_path)
    assert swap_zones(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert value(fleet) == 30


def test_the_plan_at_scale_swaps_the_zones(tmp_path, monkeypatch):
    # the joint steps' zone pair would find it given their CPU; here none
    monkeypatch.setattr(move_neighbourhood, "CPU_SECONDS", 0.0)
    problem = problem_running(tmp_path, FLEET.replace("A8", "1").replace("B4", "2"), RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction("6.08")
    assert fleet.state() == SWAPPED


def test_the_pairs_are_every_pair_kept_apart_by_zone_and_only_those(tmp_path):
    """`_pairs` reads each demand's own list of what it keeps apart from: the same pairs, in the
    same order, as testing every pair of demands (the rule as its docstring states it)."""
    from fitlang.solve.zone_swap import _pairs

    names = [f"w{i}" for i in range(7)]
    apart = {"w1": "w0", "w3": "w2", "w4": "w1", "w6": "w0"}
    blocks = [f"workload {name} {{\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n" +
              (f"  anti_affinity {apart[name]} on zone\n" if name in apart else "") + "}\n"
              for name in names]
    text = FLEET.replace("A8", "1").replace("B4", "2").split("workload wide")[0] + "\n".join(blocks)
    problem = problem_running(tmp_path, text, [])
    fleet = ScaleMove(problem)
    running = {name: {} for name in fleet.avoid}
    demands = [problem.demand(name) for name in sorted(running)]
    every_pair = [(a, b) for a in demands for b in demands
                  if a.name < b.name and b.workload in fleet.avoid[a.name]]
    assert [(a.name, b.name) for a, b in _pairs(fleet, running)] == \
        [(a.name, b.name) for a, b in every_pair] == [("w0", "w1"), ("w0", "w6"), ("w1", "w4"), ("w2", "w3")]
