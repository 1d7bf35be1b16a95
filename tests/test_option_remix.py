"""A workload's replicas on the nodes it alone uses placed anew over its options
(`solve/option_remix.py`).

The fleet: one 4-A10G node (5.00 USD/h) runs 2 replicas of `infer` on A10G and 4 of the CPU
service `svc`; the first of two 4-L4 nodes (4.00) runs 2 replicas of `infer` on L4 and one of
`other` (L4 only). `infer` delivers its work with 4 replicas of either option. It runs on two
options, so `option_switch` and `option_trade` do not move it, and the A10G replicas may go
nowhere but an A10G node. Remixed: 1 L4 replica onto the free GPU of the L4 node in use, 1
onto the second L4 node, `svc` beside it: 8.00 USD/h + 6 moves + the A10G node drained (0.07).
The values are worked out by hand.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

from fitlang.solve import move_neighbourhood
from fitlang.solve.move_scale import ScaleMove, move_at_scale
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.option_remix import remix_options
from fitlang.solve.option_switch import switch_options
from fitlang.solve.option_trade import trade_options

FLEET = 'import "std/accelerators"\n\n' + "".join(
    f"pool {name} {{\n  count = {count}\n  cpu = 16\n  memory = 64GiB\n  gpu {{\n    model = {model}\n"
    f"    count = 4\n  }}\n  price = {price} USD/h\n}}\n\n"
    for name, count, model, price in (("a10g", 1, "A10G", "5.00"), ("l4", 2, "L4", "L4PRICE"))) + \
    "workload infer {\n  cpu = 2\n  memory = 8GiB\n  gpu {\n    count = 1\n" \
    "    option A10G {\n      replicas = 4\n    }\n" \
    "    option L4 {\n      replicas = 4\n    }\n  }\n}\n\n" \
    "workload other {\n  cpu = 2\n  memory = 8GiB\n  gpu {\n    count = 1\n" \
    "    option L4 {\n      replicas = 1\n    }\n  }\n}\n\n" \
    "workload svc {\n  replicas = 4\n  cpu = 2\n  memory = 4GiB\n}\n\n" \
    "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"
RUNNING = [("infer", "a10g-0", "A10G")] * 2 + [("svc", "a10g-0", None)] * 4 + \
    [("infer", "l4-0", "L4")] * 2 + [("other", "l4-0", "L4")]
REMIXED = {"l4-0": Counter({"infer[L4]": 3, "other[L4]": 1}), "l4-1": Counter({"infer[L4]": 1, "svc": 4})}


def settled_fleet(tmp_path, l4_price: str = "4.00") -> ScaleMove:
    """What runs now kept, then `improve` until no node's change pays (none does)."""
    from fitlang.driver import Compilation
    from fitlang.model.build import with_current
    from fitlang.model.current import CurrentState, Running

    path = tmp_path / "p.fit"
    path.write_text(FLEET.replace("L4PRICE", l4_price))
    compilation = Compilation(path)
    assert compilation.problem is not None
    state = CurrentState(running=tuple(Running(w, n, option=o) for w, n, o in RUNNING))
    problem = with_current(compilation.problem, compilation.check().program, state)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None, scatter=True)
    value = objective_value(problem, "cost+moves", fleet.state(), set())
    assert value == Fraction("5.00") + Fraction(l4_price)
    return fleet


def test_a_workload_on_two_options_is_remixed_onto_the_free_gpu_and_a_new_node(tmp_path):
    fleet = settled_fleet(tmp_path)
    # (it runs on two options: neither a trade nor a switch moves it)
    assert trade_options(fleet, "cost+moves", None) == 0
    assert switch_options(fleet, "cost+moves", None) == 0
    assert remix_options(fleet, "cost+moves", None) == 1
    assert fleet.state() == REMIXED
    problem = fleet.problem
    # 2 A10G replicas stop, 2 L4 replicas start (no moves), 4 svc replicas moved, a10g-0 drained
    assert objective_value(problem, "cost+moves", fleet.state(), set()) == Fraction("8.05")
    assert not _Checker(problem, set(), "").broken(fleet.state())


def test_a_remix_that_does_not_pay_is_put_back_as_it_was(tmp_path):
    # at 4.98 USD/h the second L4 node and the changes (0.05) cost more than the A10G node
    fleet = settled_fleet(tmp_path, "4.98")
    before = fleet.state()
    assert remix_options(fleet, "cost+moves", None) == 0
    assert fleet.state() == before and not fleet.unplaced
    assert remix_options(fleet, "cost", None) == 1  # (for cost alone it pays)
    assert fleet.state() == REMIXED


def test_no_remix_is_tried_past_the_deadline(tmp_path):
    fleet = settled_fleet(tmp_path)
    before = fleet.state()
    assert remix_options(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert fleet.state() == before


def test_the_plan_past_large_nodes_remixes_the_workload(tmp_path, monkeypatch):
    monkeypatch.setattr(move_neighbourhood, "LARGE_NODES", 0)
    problem = settled_fleet(tmp_path).problem
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction("8.05")
    assert fleet.state() == REMIXED
