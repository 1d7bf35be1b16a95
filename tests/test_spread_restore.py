"""The zone spreads a drained pool broke, restored at fleet scale (`solve/spread_restore.py`).

DRAINED, worked out by hand: zones a, b and c. `s` (3 replicas of 1 core, `silver` nodes only,
spread by zone with `max_skew 1`) ran on `sa-0`, a node of zone a's drained `silver` pool, and
on `sb-0` and `sc-0`. `g` (6 replicas of 1 core, any node, spread by zone) runs two to a zone:
on `ia-0` (zone a's other `silver` node, 2 cores, full), `sb-0` and `sc-0` (4 cores, 1 free
each). `repair` finds no room for `s` in zone a and puts it on `sb-0`: 0, 2 and 1 per zone.
The one end that keeps both spreads: `s` on `ia-0`, so one `g` leaves it for a node of zone a
(its spread keeps two there): a new `ga` node. 4 nodes at 1 USD/h, `s` placed and `g` moved
at 0.01 each: 4.02.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections import Counter
from fractions import Fraction

from test_pool_emptied import consistent

from fitlang.driver import Compilation
from fitlang.model.current import CurrentState, Running
from fitlang.plan import as_json, make_plan
from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.spread_restore import restore_spreads
from fitlang.solve.verify_plan import verify_plan

from solving import problem_running


def pool(name: str, count: int, cpu: int, zone: str, silver: bool, topology: str = "zone") -> str:
    labels = '\n  labels = { tier: "silver" }' if silver else ""
    return f"""
pool {name} {{
  count = {count}
  cpu = {cpu}
  memory = 16GiB
  price = 1 USD/h
  {topology} = "{zone}"{labels}
}}
"""


def spread(name: str, replicas: int, silver: bool) -> str:
    rule = '\n  require labels["tier"] == "silver"' if silver else ""
    return f"""
workload {name} {{
  replicas = {replicas}
  cpu = 1
  memory = 1GiB
  spread zone max_skew 1{rule}
}}
"""


# (20 nodes in each of three pools: past the 48 nodes solved node by node)
DRAINED = (pool("ia", 1, 2, "a", True) + pool("ga", 20, 2, "a", False) + pool("sb", 20, 4, "b", True) +
           pool("sc", 20, 4, "c", True) + spread("s", 3, True) + spread("g", 6, False) +
           "\npolicy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n")
RUNNING = [("s", "sa-0"), ("s", "sb-0"), ("s", "sc-0"), ("g", "ia-0"), ("g", "ia-0"),
           ("g", "sb-0"), ("g", "sb-0"), ("g", "sc-0"), ("g", "sc-0")]
END = {"ia-0": Counter(g=1, s=1), "ga-0": Counter(g=1), "sb-0": Counter(s=1, g=2), "sc-0": Counter(s=1, g=2)}


def repaired(tmp_path, text: str = DRAINED) -> ScaleMove:
    """The fleet as `repair` leaves it: `s`'s replica from the drained node on `sb-0`."""
    problem = problem_running(tmp_path, text, RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    assert fleet.state()["sb-0"] == Counter(s=2, g=2)
    return fleet


def broken(fleet: ScaleMove) -> set:
    return _Checker(fleet.problem, set(fleet.bought), "").broken(fleet.state())


def test_the_spread_is_restored_by_making_room_in_the_zone_that_lacks_it(tmp_path):
    fleet = repaired(tmp_path)
    assert len(broken(fleet)) == 1  # `s`: 0, 2 and 1 per zone
    assert restore_spreads(fleet, None) == 1
    assert fleet.state() == END
    assert not broken(fleet)
    assert consistent(fleet)
    assert objective_value(fleet.problem, "cost+moves", fleet.state(), set(fleet.bought)) == Fraction("4.02")


def test_the_second_replica_s_room_sends_the_other_replica_to_the_node_the_first_opened(tmp_path):
    # `s` with 6 replicas, two of them on the drained node: both `g` leave `ia-0`, the
    # second onto the `ga` node the first opened (in use, with room): 4 nodes, 2 replicas
    # of `s` placed and 2 of `g` moved
    text = DRAINED.replace("replicas = 3", "replicas = 6")
    running = RUNNING + [("s", "sa-1"), ("s", "sb-0"), ("s", "sc-0")]
    problem = problem_running(tmp_path, text, running)
    fleet = ScaleMove(dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[]))
    fleet.repair(fleet.start())
    assert broken(fleet)
    assert restore_spreads(fleet, None) == 2
    assert fleet.state() == {"ia-0": Counter(s=2), "ga-0": Counter(g=2), "sb-0": Counter(s=2, g=2),
                             "sc-0": Counter(s=2, g=2)}
    assert not broken(fleet)
    assert consistent(fleet)
    assert objective_value(fleet.problem, "cost+moves", fleet.state(), set(fleet.bought)) == Fraction("4.04")


def test_where_no_room_can_be_made_the_fleet_is_left_as_it_was(tmp_path):
    # no other node in zone a: `g` may not leave `ia-0` (its spread), so `s` stays on `sb-0`
    fleet = repaired(tmp_path, DRAINED.replace('zone = "a"\n}\n\npool sb', 'zone = "b"\n}\n\npool sb'))
    before = fleet.state()
    assert restore_spreads(fleet, None) == 0
    assert fleet.state() == before
    assert consistent(fleet)


def test_no_replica_moves_past_the_deadline(tmp_path):
    fleet = repaired(tmp_path)
    assert restore_spreads(fleet, time.monotonic() - 1) == 0
    assert len(broken(fleet)) == 1


def _planned_at_scale(tmp_path, text: str) -> None:
    """`fitc plan` of `text` from RUNNING: by the scale move (not the whole model), at 4.02 USD/h,
    every wave verified."""
    path = tmp_path / "p.fit"
    path.write_text(text)
    compilation = Compilation(path)
    result = make_plan(compilation, CurrentState(tuple(Running(w, n) for w, n in RUNNING)), 30.0)
    assert result.placement is not None and result.placement.backend == "move_scale"
    assert result.placement.value == Fraction("4.02")
    assert result.plan is not None and result.problem is not None
    found, problems = verify_plan(result.problem, compilation.check().program, json.loads(as_json(result)))
    assert problems == [] and found == []


def test_the_plan_past_48_nodes_restores_the_spread_without_the_whole_model(tmp_path):
    # (before: the scale move's end broke `s`'s spread, and the whole model was solved)
    _planned_at_scale(tmp_path, DRAINED)


OFFER_ELSEWHERE = pool("pa", 30, 4, "us-east-1", False, "region") + \
    pool("pb", 30, 4, "us-west-2", False, "region") + """
offer far {
  provider = aws
  instance_type = "m5.xlarge"
  regions = ["eu-west-1"]
  cpu = 4
  memory = 16GiB
  price = 0.5 USD/h
}

buy {}
""" + spread("s", 4, False).replace("spread zone", "spread region") + \
    "\npolicy {\n  move_price = 0.01 USD/h\n}\n"


def test_a_region_only_an_offer_spans_with_none_bought_is_not_filled(tmp_path):
    # 2 and 2 over the regions with nodes keep the spread (`verify` counts an offer's region
    # once a node of it is bought); the offer's region, 0, is not one to restore
    problem = problem_running(tmp_path, OFFER_ELSEWHERE, [("s", "pa-0"), ("s", "pa-0"), ("s", "pb-0"),
                                                          ("s", "pb-0")])
    fleet = ScaleMove(dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[]))
    fleet.repair(fleet.start())
    assert not broken(fleet) and list(fleet.spreads["s"][0].counts) == [2, 2, 0]
    assert restore_spreads(fleet, None) == 0
    assert fleet.state() == {"pa-0": Counter(s=2), "pb-0": Counter(s=2)} and not fleet.bought


# DRAINED with `s` served within 15 ms of berlin too (`latency`, `replicas` of its replicas):
# its spread is then not one `ScaleMove.spreads` counts (a replica of it moves only within
# its zone); zone b's pool (region near-1) is within reach, the others' as given
REACH = ('region near_dc {\n  code = "near-1"\n  jurisdiction = EU\n}\n'
         'region far_dc {\n  code = "far-1"\n  jurisdiction = EU\n}\n'
         'location berlin {\n  country = "DE"\n}\n'
         'latency {\n  from = berlin\n  to = {near_dc: 10ms, far_dc: 80ms}\n}\n')


def served(replicas: int, elsewhere: str) -> str:
    text = DRAINED.replace("  spread zone max_skew 1\n  require", f"  latency {{\n    users = [berlin]\n"
                           f"    within = 15ms\n    replicas = {replicas}\n  }}\n"
                           "  spread zone max_skew 1\n  require")
    for zone in "abc":
        text = text.replace(f'  zone = "{zone}"', f'  zone = "{zone}"\n  region = '
                            f'"{"near-1" if zone == "b" else elsewhere}"')
    return REACH + text


def test_a_spread_with_a_latency_rule_is_restored_where_the_rule_holds(tmp_path):
    # every region within reach: as DRAINED (on main, `s` stayed 0 / 2 / 1: not restored)
    fleet = repaired(tmp_path, served(1, "near-1"))
    assert "s" not in fleet.spreads and len(broken(fleet)) == 1
    assert restore_spreads(fleet, None) == 1
    assert fleet.state() == END and not broken(fleet)
    assert "s" not in fleet.spreads  # (counted only while restored)
    assert consistent(fleet)


def test_no_move_breaks_the_latency_rule(tmp_path):
    # only zone b within reach, and 2 replicas must be: the one move that lowers the skew
    # (`s` from `sb-0` to zone a) leaves 1 there, so nothing moves (the rules contradict)
    fleet = repaired(tmp_path, served(2, "far-1"))
    before = fleet.state()
    assert restore_spreads(fleet, None) == 0
    assert fleet.state() == before
    assert consistent(fleet)


def test_the_plan_restores_a_spread_with_a_latency_rule_without_the_whole_model(tmp_path):
    _planned_at_scale(tmp_path, served(1, "near-1"))


# DRAINED with `ia-0` of 4 cores, running a replica of `x` (2 cores, a `kind: x` node only) too:
# zone b's one other `kind: x` node runs the other replica, full, so `x` has nowhere to go
STUCK = DRAINED.replace("pool ia {\n  count = 1\n  cpu = 2", "pool ia {\n  count = 1\n  cpu = 4").replace(
    'labels = { tier: "silver" }\n}\n\npool ga', 'labels = { tier: "silver", kind: "x" }\n}\n\npool ga') + """
pool xb {
  count = 1
  cpu = 2
  memory = 16GiB
  price = 1 USD/h
  zone = "b"
  labels = { kind: "x" }
}

workload x {
  replicas = 2
  cpu = 2
  memory = 1GiB
  require labels["kind"] == "x"
}
"""


def test_a_replica_with_nowhere_to_go_stays_and_the_next_one_leaves_instead(tmp_path):
    # `x`, the largest on `ia-0`, is tried first and finds no node: it stays, and a `g`
    # leaves for a new `ga` node, which makes the room for `s` (before: no room was made,
    # the spread stayed broken; inventory 10,000 drain 16's accelerator replicas)
    problem = problem_running(tmp_path, STUCK, RUNNING + [("x", "ia-0"), ("x", "xb-0")])
    fleet = ScaleMove(dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[]))
    fleet.repair(fleet.start())
    assert fleet.state()["ia-0"] == Counter(x=1, g=2) and len(broken(fleet)) == 1
    assert restore_spreads(fleet, None) == 1
    assert fleet.state() == {**END, "ia-0": Counter(x=1, g=1, s=1), "xb-0": Counter(x=1)}
    assert not broken(fleet)
    assert consistent(fleet)
