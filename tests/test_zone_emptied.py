"""A zone's dear CPU classes emptied together (`solve/zone_emptied.py`).

The fleet: two pools of two 4-core nodes at 0.30 USD/h (0.075 a core), `web`'s eight 2-core
replicas filling all four, and a pool of 16-core nodes at 0.80 (0.05 a core) in the same zone.
No change of one node or two pays (two small nodes cost 0.60, less than a large one), nor one
pool emptied (`pool_emptied`: its two nodes' replicas need a large node); the four together
(1.20) onto one large node do. The values are worked out by hand.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

from fitlang.solve import move_neighbourhood
from fitlang.solve.move_scale import ScaleMove, move_at_scale
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.pool_emptied import empty_pools
from fitlang.solve.zone_emptied import empty_dear_zones

FLEET = "".join(f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = {memory}GiB\n"
                f"  price = {price} USD/h\n}}\n\n"
                for name, count, cpu, memory, price in (("small_a", 2, 4, 16, "0.30"),
                                                        ("small_b", 2, 4, 16, "0.30"),
                                                        ("large", 2, 16, 64, "0.80"))) + \
    "workload web {\n  replicas = 8\n  cpu = 2\n  memory = 4GiB\n}\n\n" + \
    "policy {\n  move_price = MOVE USD/h\n  min_saving = 0%\n}\n"
RUNNING = [("web", f"{pool}-{i}") for pool in ("small_a", "small_b") for i in range(2) for _ in range(2)]


def settled_fleet(tmp_path, move_price: str = "0.01") -> ScaleMove:
    """What runs now kept, then `improve` until no node's change pays (none does)."""
    from fitlang.driver import Compilation
    from fitlang.model.build import with_current
    from fitlang.model.current import CurrentState, Running

    path = tmp_path / "p.fit"
    path.write_text(FLEET.replace("MOVE", move_price))
    compilation = Compilation(path)
    assert compilation.problem is not None
    state = CurrentState(running=tuple(Running(w, n) for w, n in RUNNING))
    problem = with_current(compilation.problem, compilation.check().program, state)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None, scatter=True)
    assert objective_value(problem, "cost+moves", fleet.state(), set()) == Fraction("1.20")
    return fleet


def test_two_pools_of_small_nodes_go_onto_one_large_node_together_where_neither_alone_pays(tmp_path):
    fleet = settled_fleet(tmp_path)
    assert empty_pools(fleet, "cost+moves", None) == 0  # (one pool at a time: 0.80 for 0.60)
    # 0.80 + 8 replicas moved and 4 nodes drained at 0.01
    assert empty_dear_zones(fleet, "cost+moves", None) == 1
    assert fleet.state() == {"large-0": Counter({"web": 8})}
    assert objective_value(fleet.problem, "cost+moves", fleet.state(), set()) == Fraction("0.92")
    assert not _Checker(fleet.problem, set(), "").broken(fleet.state())


def test_a_zone_that_does_not_pay_is_put_back_as_it_was(tmp_path):
    # at 0.05 a change: 0.80 + 12 x 0.05 = 1.40 against 1.20
    fleet = settled_fleet(tmp_path, "0.05")
    before = fleet.state()
    assert empty_dear_zones(fleet, "cost+moves", None) == 0
    assert fleet.state() == before
    # for cost alone (no changes charged) it pays
    assert empty_dear_zones(fleet, "cost", None) == 1
    assert fleet.state() == {"large-0": Counter({"web": 8})}


def test_no_zone_is_tried_past_the_deadline(tmp_path):
    fleet = settled_fleet(tmp_path)
    before = fleet.state()
    assert empty_dear_zones(fleet, "cost+moves", time.monotonic() - 1) == 0
    assert fleet.state() == before


def test_the_plan_past_large_nodes_empties_the_dear_zone(tmp_path, monkeypatch):
    # the joint steps are not run past `LARGE_NODES`; here 0
    monkeypatch.setattr(move_neighbourhood, "LARGE_NODES", 0)
    problem = settled_fleet(tmp_path).problem
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction("0.92")
    assert fleet.state() == {"large-0": Counter({"web": 8})}
