"""A workload's option switched with the services beside it moved (`solve/option_switch.py`).

The fleet: one 4-A10G node (5.00 USD/h) runs `infer` on A10G (4 replicas of 1 GPU, 2 cores
each) and 4 replicas of the CPU service `svc` (2 cores each): its 16 cores are full. Two 4-L4
nodes of 16 cores are free at L4PRICE. `infer` lists L4 too (4 replicas). Switched alone, its
A10G node keeps `svc` and stays open (5.00 + L4PRICE): no step of `improve` or
`option_trade` changes anything. Switched with `svc` moved onto the new L4 node beside it:
L4PRICE + 4 moves + the A10G node drained (0.05). The values are worked out by hand.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

from fitlang.solve import move_neighbourhood
from fitlang.solve.move_scale import ScaleMove, move_at_scale
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.option_switch import switch_options
from fitlang.solve.option_trade import trade_options

FLEET = 'import "std/accelerators"\n\n' + "".join(
    f"pool {name} {{\n  count = {count}\n  cpu = 16\n  memory = 64GiB\n  gpu {{\n    model = {model}\n"
    f"    count = 4\n  }}\n  price = {price} USD/h\n}}\n\n"
    for name, count, model, price in (("a10g", 1, "A10G", "5.00"), ("l4", 2, "L4", "L4PRICE"))) + \
    "workload infer {\n  cpu = 2\n  memory = 8GiB\n  gpu {\n    count = 1\n" \
    "    option A10G {\n      replicas = 4\n    }\n" \
    "    option L4 {\n      replicas = L4REPLICAS\n    }\n  }\n}\n\n" \
    "workload svc {\n  replicas = 4\n  cpu = 2\n  memory = 4GiB\n}\n\n" \
    "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"
RUNNING = [("infer", "a10g-0", "A10G")] * 4 + [("svc", "a10g-0", None)] * 4
SWITCHED = {"l4-0": Counter({"infer[L4]": 4, "svc": 4})}


def settled_fleet(tmp_path, l4_price: str = "4.00", l4_replicas: int = 4,
                  fleet_text: str = FLEET) -> ScaleMove:
    """What runs now kept, then `improve` until no node's change pays (none does)."""
    from fitlang.driver import Compilation
    from fitlang.model.build import with_current
    from fitlang.model.current import CurrentState, Running

    path = tmp_path / "p.fit"
    path.write_text(fleet_text.replace("L4PRICE", l4_price).replace("L4REPLICAS", str(l4_replicas)))
    compilation = Compilation(path)
    assert compilation.problem is not None
    state = CurrentState(running=tuple(Running(w, n, option=o) for w, n, o in RUNNING))
    problem = with_current(compilation.problem, compilation.check().program, state)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None, scatter=True)
    assert objective_value(problem, "cost+moves", fleet.state(), set()) == Fraction("5.00")
    return fleet


def test_an_option_switch_pays_with_the_services_beside_it_moved_onto_the_new_node(tmp_path):
    # 5.00 USD/h -> one L4 node (4.00) + 4 svc replicas moved + the A10G node drained (0.05)
    fleet = settled_fleet(tmp_path)
    assert trade_options(fleet, "cost+moves", None) == 0  # (no taker: the node keeps svc)
    assert switch_options(fleet, "cost+moves", None) == 1
    assert fleet.state() == SWITCHED
    problem = fleet.problem
    assert objective_value(problem, "cost+moves", fleet.state(), set()) == Fraction("4.05")
    assert not _Checker(problem, set(), "").broken(fleet.state())


def test_a_switch_that_does_not_pay_is_put_back_as_it_was(tmp_path):
    # at 4.98 USD/h the L4 node and the changes (0.05) cost more than the A10G node
    fleet = settled_fleet(tmp_path, "4.98")
    before = fleet.state()
    assert switch_options(fleet, "cost+moves", None) == 0
    assert fleet.state() == before
    # for cost alone (no changes charged) it pays
    assert switch_options(fleet, "cost", None) == 1
    assert fleet.state() == SWITCHED


def test_a_switch_whose_new_option_is_not_all_placed_is_put_back_with_every_replica(tmp_path):
    # L4 at 1.00 USD/h a node but 12 replicas: the 2 L4 nodes hold 8 (the services would fit
    # beside them, and 2.05 USD/h would look cheaper with 4 replicas lost)
    fleet = settled_fleet(tmp_path, "1.00", l4_replicas=12)
    before = fleet.state()
    assert switch_options(fleet, "cost+moves", None) == 0
    assert fleet.state() == before and not fleet.unplaced


def test_no_switch_is_tried_past_the_deadline(tmp_path):
    fleet = settled_fleet(tmp_path)
    before = fleet.state()
    assert switch_options(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert fleet.state() == before


def test_the_plan_past_large_nodes_switches_the_option(tmp_path, monkeypatch):
    # the joint steps (which may switch a workload's option) are not run past `LARGE_NODES`; here 0
    monkeypatch.setattr(move_neighbourhood, "LARGE_NODES", 0)
    problem = settled_fleet(tmp_path).problem
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction("4.05")
    assert fleet.state() == SWITCHED


def test_a_switch_put_back_does_not_make_the_stage_read_the_fleet_again(tmp_path, monkeypatch):
    # `infer` also lists T4 on two nodes priced as the L4 ones: two switches, each guessed to
    # save 0.02 USD/h, both put back at 4.98 (as above); the workloads' options are read once
    # for both, and once more to find nothing left (a reading after each was 40% of the CPU)
    from fitlang.solve import option_switch

    fleet_text = FLEET.replace(
        "workload infer", "pool t4 {\n  count = 2\n  cpu = 16\n  memory = 64GiB\n  gpu {\n    model = T4\n"
        "    count = 4\n  }\n  price = L4PRICE USD/h\n}\n\nworkload infer").replace(
        "    option L4 {", "    option T4 {\n      replicas = 4\n    }\n    option L4 {")
    fleet = settled_fleet(tmp_path, "4.98", fleet_text=fleet_text)
    readings = []
    real = option_switch._guesses
    monkeypatch.setattr(option_switch, "_guesses", lambda *a: readings.append(real(*a)) or readings[-1])
    before = fleet.state()
    assert switch_options(fleet, "cost+moves", None) == 0
    assert fleet.state() == before
    assert [len(found) for found in readings] == [2, 0]


def test_a_switch_finds_the_free_nodes_an_earlier_search_passed(tmp_path):
    # a search that opened both L4 nodes and closed them again resumes past them
    # (`ScaleMove.free_node`): the switch's guess and its new node find them all the same
    fleet = settled_fleet(tmp_path)
    for name in ("l4-0", "l4-1"):
        fleet.node(name)
    l4 = fleet.nodes["l4-0"].node_class
    assert fleet.free_node(l4) is None
    for name in ("l4-0", "l4-1"):
        fleet.close(name)
    assert switch_options(fleet, "cost+moves", None) == 1
    assert fleet.state() == SWITCHED
    assert objective_value(fleet.problem, "cost+moves", fleet.state(), set()) == Fraction("4.05")
