"""Accelerator options traded between workloads (`solve/option_trade.py`).

The fleet: one cheap node of 4 L40S GPUs (`cheap`, 0.10 USD/h) and 1-GPU L4 nodes at 1 USD/h.
`big` needs 4 L40S replicas or 6 L4 (1.5 L4 a L40S) and holds the L40S node; `small1` and
`small2` need 2 L40S or 4 L4 each (2 L4 a L40S) and run 4 L4 nodes each. No step that keeps
each workload's option changes anything; the trade (big to L4, the two small ones to L40S)
needs 6 L4 nodes, not 8. The values are worked out by hand.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

from fitlang.solve import move_neighbourhood, option_trade
from fitlang.solve.move_scale import ScaleMove, move_at_scale
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.option_trade import trade_options

FLEET = 'import "std/accelerators"\n\n' + "".join(
    f"pool {name} {{\n  count = {count}\n  cpu = 16\n  memory = 64GiB\n  gpu {{\n    model = {model}\n"
    f"    count = {gpus}\n  }}\n  price = {price} USD/h\n}}\n\n"
    for name, count, model, gpus, price in (("cheap", 1, "L40S", 4, "0.10"),
                                            ("l4", 12, "L4", 1, "L4PRICE"))) + \
    "".join(f"workload {name} {{\n  cpu = 2\n  memory = 8GiB\n  gpu {{\n    count = 1\n"
            f"    option L40S {{\n      replicas = {l40s}\n    }}\n    option L4 {{\n      replicas = {l4}\n"
            f"    }}\n  }}\n}}\n\n"
            for name, l40s, l4 in (("big", 4, 6), ("small1", 2, 4), ("small2", 2, 4))) + \
    "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"
RUNNING = [("big", "cheap-0", "L40S")] * 4 + \
    [("small1", f"l4-{i}", "L4") for i in range(4)] + [("small2", f"l4-{i}", "L4") for i in range(4, 8)]
TRADED = {"cheap-0": Counter({"small1[L40S]": 2, "small2[L40S]": 2}),
          **{f"l4-{i}": Counter({"big[L4]": 1}) for i in range(6)}}


def running_fleet(tmp_path, text: str, running: list[tuple[str, str, str]]) -> ScaleMove:
    """The fleet of `text` with `running` (workload, node, option) kept where it runs."""
    from fitlang.driver import Compilation
    from fitlang.model.build import with_current
    from fitlang.model.current import CurrentState, Running

    path = tmp_path / "p.fit"
    path.write_text(text)
    compilation = Compilation(path)
    assert compilation.problem is not None
    state = CurrentState(running=tuple(Running(w, n, option=o) for w, n, o in running))
    problem = with_current(compilation.problem, compilation.check().program, state)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    return fleet


def settled_fleet(tmp_path, l4_price: str = "1.00") -> ScaleMove:
    """What runs now kept, then `improve` until no node's change pays (none does)."""
    fleet = running_fleet(tmp_path, FLEET.replace("L4PRICE", l4_price), RUNNING)
    fleet.improve(None, scatter=True)
    settled = objective_value(fleet.problem, "cost+moves", fleet.state(), set())
    assert settled == Fraction("0.10") + 8 * Fraction(l4_price)
    return fleet


def test_two_workloads_that_need_more_l4_per_l40s_take_the_l40s_node_from_one_that_needs_fewer(tmp_path):
    # 0.10 + 8 L4 nodes = 8.10 USD/h -> 0.10 + 6 L4 nodes + 2 L4 nodes drained (0.02): 6.12.
    # A replica of one option replaced by another's is a stop and a start, no move
    fleet = settled_fleet(tmp_path)
    assert trade_options(fleet, "cost+moves", None) == 1
    assert fleet.state() == TRADED
    problem = fleet.problem
    assert objective_value(problem, "cost+moves", fleet.state(), set()) == Fraction("6.12")
    assert not _Checker(problem, set(), "").broken(fleet.state())


def test_a_trade_that_does_not_pay_is_put_back_as_it_was(tmp_path):
    # at 0.004 USD/h an L4 node saves less than the 0.01 its draining costs: 0.10 + 8 x 0.004
    # = 0.132 against 0.10 + 6 x 0.004 + 0.02 = 0.144
    fleet = settled_fleet(tmp_path, "0.004")
    before = fleet.state()
    assert trade_options(fleet, "cost+moves", None) == 0
    assert fleet.state() == before
    # for cost alone (no changes charged) it pays
    assert trade_options(fleet, "cost", None) == 1
    assert fleet.state() == TRADED


def test_no_trade_is_tried_past_the_deadline(tmp_path):
    fleet = settled_fleet(tmp_path)
    before = fleet.state()
    assert trade_options(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert fleet.state() == before


def test_the_plan_past_large_nodes_trades_the_options(tmp_path, monkeypatch):
    # the joint steps (which may switch a workload's option) are not run past `LARGE_NODES`; here 0
    monkeypatch.setattr(move_neighbourhood, "LARGE_NODES", 0)
    problem = settled_fleet(tmp_path).problem
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction("6.12")
    assert fleet.state() == TRADED


# `giver` runs 4 L4 nodes (or would need 2 L40S), `taker` 6 A10G nodes (or would need 4 L4): the
# trade saves 4 accelerators, but the L40S nodes free are dear
DEAR = 'import "std/accelerators"\n\n' + "".join(
    f"pool {name} {{\n  count = {count}\n  cpu = 16\n  memory = 64GiB\n  gpu {{\n    model = {model}\n"
    f"    count = 1\n  }}\n  price = {price} USD/h\n}}\n\n"
    for name, count, model, price in (("l4", 4, "L4", "1.00"), ("a10g", 6, "A10G", "1.00"),
                                      ("l40s", 4, "L40S", "L40SPRICE"))) + \
    "".join(f"workload {name} {{\n  cpu = 2\n  memory = 8GiB\n  gpu {{\n    count = 1\n"
            f"    option L4 {{\n      replicas = {l4}\n    }}\n    option L40S {{\n      replicas = {l40s}\n"
            f"    }}\n    option A10G {{\n      replicas = {a10g}\n    }}\n  }}\n}}\n\n"
            for name, l4, l40s, a10g in (("giver", 4, 2, 6), ("taker", 4, 3, 6))) + \
    "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"
DEAR_RUNNING = [("giver", f"l4-{i}", "L4") for i in range(4)] + \
    [("taker", f"a10g-{i}", "A10G") for i in range(6)]


def dear_fleet(tmp_path, l40s_price: str) -> ScaleMove:
    return running_fleet(tmp_path, DEAR.replace("L40SPRICE", l40s_price), DEAR_RUNNING)


def test_a_trade_that_saves_accelerators_on_dear_new_nodes_is_not_tried(tmp_path, monkeypatch):
    # giver to 2 L40S nodes at 5.00, taker onto the 4 L4 nodes: 10 + 4 against 4 + 6 USD/h
    fleet = dear_fleet(tmp_path, "5.00")
    tried = []
    original = option_trade.kept_in_turn

    def counted(fleet, objective, steps, deadline, cpu_seconds):
        listed = list(steps)
        tried.extend(listed)
        return original(fleet, objective, listed, deadline, cpu_seconds)

    monkeypatch.setattr(option_trade, "kept_in_turn", counted)
    assert trade_options(fleet, "cost+moves", None) == 0
    assert tried == []


def test_a_trade_onto_cheap_new_nodes_is_kept(tmp_path):
    # at 1.00 the 2 L40S nodes and the 4 L4 ones cost 6 against 10 USD/h (6 A10G nodes drained)
    fleet = dear_fleet(tmp_path, "1.00")
    assert trade_options(fleet, "cost+moves", None) == 1
    end = fleet.state()
    assert sum(c["giver[L40S]"] for c in end.values()) == 2
    assert sum(c["taker[L4]"] for c in end.values()) == 4
    assert objective_value(fleet.problem, "cost+moves", end, set()) == Fraction("6.06")


def test_a_trade_finds_the_free_nodes_an_earlier_search_passed(tmp_path):
    # a former step's search for free nodes left past the L40S nodes (`ScaleMove.free_node`
    # resumes; a trade put back, or the scatter passes, leave it there): inventory 10,000 plan
    # 1's L4 trades then placed none of their replicas
    fleet = dear_fleet(tmp_path, "1.00")
    for node_class in fleet.problem.classes:
        fleet.next_free[node_class.id] = node_class.count
    assert trade_options(fleet, "cost+moves", None) == 1
    assert objective_value(fleet.problem, "cost+moves", fleet.state(), set()) == Fraction("6.06")
