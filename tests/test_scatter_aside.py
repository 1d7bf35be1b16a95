"""A node emptied by replicas moved together (`solve/scatter_aside.py`).

Two fleets where no change of one replica, or of one node onto free nodes, pays (`improve`
with scattering changes nothing), and the values worked out by hand:

- ASIDE: `x` (2 cores) runs alone on `n-0` (10 USD/h); `t-0` (3 USD/h) has 1 core free
  beside `y` (1 core) and `z` (2 cores, `t` only); `u-0` (3 USD/h) has 1 core free beside
  `w` (3 cores, `u` only). No node has room for `x` and there is no free node but `n`'s;
  `y` moved aside onto `u-0` makes it: 6 USD/h, with `x` and `y` moved and `n-0` drained at
  0.01 each, 6.03 (from 16).
- THIRD: zones a, b and c. `n-0` (zone a, 10 USD/h) runs `k` (3 cores) and one replica each of
  `s1` and `s2`, spread by zone with `max_skew 1`, whose other replicas run on `b-0` (zone b,
  5 USD/h, 3 cores free). Zone c has no node in use; its 2-core nodes cost 1. `k` fits `b-0`;
  the spread replicas may go only to zone c (in b they would be 2 against 0 in a), and no
  one class takes all three of `n-0`'s replicas: `k` onto `b-0`, both spread replicas
  together onto one new node of zone c: 6 USD/h, 3 moves and `n-0` drained, 6.04 (from 15).
  `_scatter` opens a spread replica's new node only in its own zone, where it costs 10.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

import pytest
from test_pool_emptied import consistent

from fitlang.solve import move_neighbourhood
from fitlang.solve.move_scale import ScaleMove, move_at_scale
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.scatter_aside import scatter_aside

from solving import problem_running


def pool(name: str, count: int, cpu: int, price: str, zone: str = "a", label: str = "") -> str:
    labels = f'\n  labels = {{ "only": "{label}" }}' if label else ""
    return f"""
pool {name} {{
  count = {count}
  cpu = {cpu}
  memory = 8GiB
  price = {price} USD/h
  zone = "{zone}"{labels}
}}
"""


def workload(name: str, cpu: int, replicas: int = 1, only: str = "", spread: bool = False) -> str:
    rules = (f'\n  require labels["only"] == "{only}"' if only else "") + \
        ("\n  spread zone max_skew 1" if spread else "")
    return f"""
workload {name} {{
  replicas = {replicas}
  cpu = {cpu}
  memory = 1GiB{rules}
}}
"""


MOVE_PRICE = "\npolicy {\n  move_price = 0.01 USD/h\n}\n"
ASIDE = (pool("n", 2, 4, "10") + pool("t", 1, 4, "3", label="t") + pool("u", 1, 4, "3", label="u") +
         workload("x", 2) + workload("y", 1) + workload("z", 2, only="t") + workload("w", 3, only="u") +
         MOVE_PRICE)
ASIDE_RUNNING = [("x", "n-0"), ("y", "t-0"), ("z", "t-0"), ("w", "u-0")]
ASIDE_END = {"t-0": Counter(x=1, z=1), "u-0": Counter(w=1, y=1)}
THIRD = (pool("n", 2, 8, "10") + pool("b", 1, 8, "5", zone="b", label="b") + pool("c", 2, 2, "1", zone="c") +
         workload("k", 3) + workload("f", 3, only="b") + workload("s1", 1, 2, spread=True) +
         workload("s2", 1, 2, spread=True) + MOVE_PRICE)
THIRD_RUNNING = [("k", "n-0"), ("s1", "n-0"), ("s2", "n-0"), ("f", "b-0"), ("s1", "b-0"), ("s2", "b-0")]
THIRD_END = {"b-0": Counter(f=1, k=1, s1=1, s2=1), "c-0": Counter(s1=1, s2=1)}


def fleet_at_rest(tmp_path, text: str, running: list[tuple[str, str]]) -> ScaleMove:
    """The fleet as the plan leaves it before the stage: what runs now kept, then `improve`
    (with scattering) until no node's change pays; it changes nothing."""
    problem = problem_running(tmp_path, text, running)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None, scatter=True)
    assert fleet.state() == at_rest(running)
    return fleet


def at_rest(running: list[tuple[str, str]]) -> dict[str, Counter]:
    state: dict[str, Counter] = {}
    for name, node in running:
        state.setdefault(node, Counter())[name] += 1
    return state


def value(fleet: ScaleMove) -> Fraction:
    return objective_value(fleet.problem, "cost+moves", fleet.state(), set(fleet.bought))


@pytest.mark.parametrize("text, running, end, before, after", [
    (ASIDE, ASIDE_RUNNING, ASIDE_END, "16", "6.03"),  # a replica moved aside makes room
    (THIRD, THIRD_RUNNING, THIRD_END, "15", "6.04"),  # spread replicas together to a third zone
])
def test_the_node_closes(tmp_path, text, running, end, before, after):
    fleet = fleet_at_rest(tmp_path, text, running)
    assert value(fleet) == Fraction(before)
    assert scatter_aside(fleet, "cost+moves", None) == 1
    assert fleet.state() == end
    assert value(fleet) == Fraction(after)
    assert not _Checker(fleet.problem, set(), "").broken(fleet.state())
    assert consistent(fleet)


def test_where_the_new_node_costs_too_much_all_is_put_back(tmp_path):
    # zone c's nodes at 9.97: 5 + 9.97 + 0.04 = 15.01, more than the 15 it replaces
    fleet = fleet_at_rest(tmp_path, THIRD.replace("price = 1 USD/h", "price = 9.97 USD/h"), THIRD_RUNNING)
    assert scatter_aside(fleet, "cost+moves", None) == 0
    assert fleet.state() == at_rest(THIRD_RUNNING)
    assert consistent(fleet)
    # for cost alone (no changes charged) it pays: 14.97
    assert scatter_aside(fleet, "cost", None) == 1
    assert fleet.state() == THIRD_END


def test_no_node_is_tried_past_the_deadline(tmp_path):
    fleet = fleet_at_rest(tmp_path, ASIDE, ASIDE_RUNNING)
    assert scatter_aside(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert value(fleet) == 16


@pytest.mark.parametrize("text, running, end, least", [(ASIDE, ASIDE_RUNNING, ASIDE_END, "6.03"),
                                                       (THIRD, THIRD_RUNNING, THIRD_END, "6.04")])
def test_the_plan_at_scale_empties_the_node(tmp_path, monkeypatch, text, running, end, least):
    # the joint steps (a MIP over a pair of zones) could find these given their CPU; here none
    monkeypatch.setattr(move_neighbourhood, "improve_jointly", lambda fleet, **_: 0)
    problem = problem_running(tmp_path, text, running)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction(least)
    assert fleet.state() == end
