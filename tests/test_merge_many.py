"""Several part-used nodes emptied onto one free node of a larger class (`solve/merge_many.py`).

THREE, worked out by hand: `s-0`, `s-1`, `s-2` (4 cores, 3 USD/h each, the pool's every node)
run `a`, `b` and `c` (3 cores each), one each; `big-0` (12 cores, 7 USD/h) is free. No node
in use has room for a replica of another (1 core free each), no node empties onto a free
node of a cheaper class (there is none), two of them onto `big-0` cost 7 for 6, and one
node's replica alone on it costs 7 for 3: no change of one or two nodes pays (`improve`,
scattering too, and `scatter_aside` change nothing). All three onto `big-0`: 7 USD/h, three
replicas moved and three nodes drained at 0.01 each: 7.06, from 9.

LEFTOVER: as THREE, and `w` (1 core, one a node: `anti_affinity self on node`) has a replica
on `s-0` and one on `s-1`; `u-0` (2 cores, 1 USD/h) runs `v` (1 core) beside a free core.
`big-0` takes one `w` only: the other goes onto `u-0`. 10 -> 8 USD/h, five replicas moved
and three nodes drained: 8.08.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

import pytest
from test_pool_emptied import consistent
from test_scatter_aside import MOVE_PRICE, at_rest, fleet_at_rest, pool, value, workload

from fitlang.solve import budget, move_neighbourhood
from fitlang.solve import merge_many as merge_many_module
from fitlang.solve.merge_many import merge_many
from fitlang.solve.move_scale import _many_until, move_at_scale
from fitlang.solve.moving import _Checker, move_objectives
from fitlang.solve.scatter_aside import scatter_aside

from solving import problem_running

THREE = (pool("s", 3, 4, "3") + pool("big", 1, 12, "7") + workload("a", 3) + workload("b", 3) +
         workload("c", 3) + MOVE_PRICE)
THREE_RUNNING = [("a", "s-0"), ("b", "s-1"), ("c", "s-2")]
THREE_END = {"big-0": Counter(a=1, b=1, c=1)}
ONE_A_NODE = "\n  anti_affinity self on node\n}\n"
LEFTOVER = (THREE + pool("u", 1, 2, "1", label="u") + workload("v", 1, only="u") +
            workload("w", 1, 2).replace("\n}\n", ONE_A_NODE))
LEFTOVER_RUNNING = THREE_RUNNING + [("w", "s-0"), ("w", "s-1"), ("v", "u-0")]


def test_three_nodes_onto_one_larger_node(tmp_path):
    fleet = fleet_at_rest(tmp_path, THREE, THREE_RUNNING)
    assert value(fleet) == 9
    assert scatter_aside(fleet, "cost+moves", None) == 0  # (no node alone pays)
    assert merge_many(fleet, "cost+moves", None) == 1
    assert fleet.state() == THREE_END
    assert value(fleet) == Fraction("7.06")
    assert not _Checker(fleet.problem, set(), "").broken(fleet.state())
    assert consistent(fleet)


def test_a_replica_the_new_node_does_not_take_goes_to_a_node_in_use(tmp_path):
    fleet = fleet_at_rest(tmp_path, LEFTOVER, LEFTOVER_RUNNING)
    assert value(fleet) == 10
    assert merge_many(fleet, "cost+moves", None) == 1
    state = fleet.state()
    assert set(state) == {"big-0", "u-0"} and state["u-0"] == Counter(v=1, w=1)
    assert state["big-0"] == Counter(a=1, b=1, c=1, w=1)
    assert value(fleet) == Fraction("8.08")
    assert not _Checker(fleet.problem, set(), "").broken(state)
    assert consistent(fleet)


def test_where_the_larger_node_costs_too_much_nothing_changes(tmp_path):
    # `big` at 8.95: 8.95 + 0.06 = 9.01, more than the 9 it replaces
    text = THREE.replace("price = 7 USD/h", "price = 8.95 USD/h")
    fleet = fleet_at_rest(tmp_path, text, THREE_RUNNING)
    assert merge_many(fleet, "cost+moves", None) == 0
    assert fleet.state() == at_rest(THREE_RUNNING)
    assert consistent(fleet)


def test_a_step_that_does_not_pay_is_put_back(tmp_path):
    # LEFTOVER with no room on `u-0`: the second `w` finds no place, `s-1` keeps `b` and `w`,
    # and `big-0` (7) for `s-0` and `s-2` (6) does not pay: every replica goes back
    text = LEFTOVER.replace(pool("u", 1, 2, "1", label="u"), pool("u", 1, 1, "1", label="u"))
    fleet = fleet_at_rest(tmp_path, text, LEFTOVER_RUNNING)
    assert merge_many(fleet, "cost+moves", None) == 0
    assert fleet.state() == at_rest(LEFTOVER_RUNNING)
    assert value(fleet) == 10
    assert consistent(fleet)


def test_nothing_is_tried_past_the_deadline(tmp_path):
    fleet = fleet_at_rest(tmp_path, THREE, THREE_RUNNING)
    assert merge_many(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert value(fleet) == 9


@pytest.mark.parametrize("text, running, least", [(THREE, THREE_RUNNING, "7.06"),
                                                  (LEFTOVER, LEFTOVER_RUNNING, "8.08")])
def test_the_plan_at_scale_merges_the_nodes(tmp_path, monkeypatch, text, running, least):
    # the joint steps (a MIP over a pair of zones) could find this given their CPU; here none
    monkeypatch.setattr(move_neighbourhood, "improve_jointly", lambda fleet, **_: 0)
    problem = problem_running(tmp_path, text, running)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction(least)
    assert "big-0" in fleet.state()


def test_the_stage_has_the_move_models_window_where_that_model_could_not_be_built(tmp_path, monkeypatch):
    problem = problem_running(tmp_path, THREE, THREE_RUNNING)
    monkeypatch.setattr(budget, "encoding_cpu", lambda columns: 0.5)
    assert _many_until(problem, "cost+moves", 10.0, 10.4) == 10.4  # (0.4 s: the model would not fit)
    assert _many_until(problem, "cost+moves", 10.0, 11.0) == 10.0  # (1 s: the model's)
    assert _many_until(problem, "cost", 10.0, 11.0) == 11.0  # (no move model for `cost`)
    assert _many_until(problem, "cost+moves", None, None) is None


@pytest.mark.parametrize("encoding, window", [(2000.0, True), (0.0, False)])
def test_the_plan_at_scale_gives_the_stage_the_window(tmp_path, monkeypatch, encoding, window):
    # a 1,000 s limit: the move model's window (the last 100 s) is the stage's only where the
    # model would take longer than that to build
    monkeypatch.setattr(move_neighbourhood, "improve_jointly", lambda fleet, **_: 0)
    monkeypatch.setattr(budget, "encoding_cpu", lambda columns: encoding)
    left: list[float] = []
    monkeypatch.setattr(merge_many_module, "merge_many",
                        lambda fleet, objective, deadline: left.append(deadline - time.monotonic()) or 0)
    problem = problem_running(tmp_path, THREE, THREE_RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    move_at_scale(problem, "cost+moves", 1000.0)
    assert len(left) == 1 and (left[0] > 950) == window and left[0] > 850


def test_classes_are_alike_exactly_where_the_same_demands_may_run_there(tmp_path):
    """`_alike` reads a class's eligible demands per group of demands sharing one mask: two
    classes get the same key exactly where the same demand names are eligible on them."""
    fleet = fleet_at_rest(tmp_path, LEFTOVER, LEFTOVER_RUNNING)
    classes = fleet.problem.classes

    def names_on(node_class):
        index = fleet.rows.class_index[node_class.id]
        return frozenset(name for name, mask in fleet.eligible_mask.items() if mask[index])

    for first in classes:
        for second in classes:
            same_names = names_on(first) == names_on(second)
            assert (merge_many_module._alike(fleet, first)[3] == merge_many_module._alike(fleet, second)[3]) \
                == same_names


def test_no_class_is_ranked_once_the_deadline_has_passed(tmp_path):
    fleet = fleet_at_rest(tmp_path, THREE, THREE_RUNNING)
    assert merge_many_module._ranked_classes(fleet)  # (`big` pays: ranked with no deadline)
    assert merge_many_module._ranked_classes(fleet, deadline=time.monotonic() - 1) == []
