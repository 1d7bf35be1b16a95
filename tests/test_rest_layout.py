"""The fleet at rest's layout taken over group by group (`solve/rest_layout.py`).

test_zone_regroup's fleet: three nodes of 3 cores at 10 USD/h in zone a, each running one web
replica of 2 cores, and a pool of two 6-core nodes in zone b. The values are worked out by
hand and checked against `moving.objective_value`.
"""

from __future__ import annotations

import time
from collections import Counter
from fractions import Fraction

from test_pool_emptied import RUNNING, consistent
from test_zone_regroup import API, fleet_running

from fitlang.solve.move_scale import zone_of
from fitlang.solve.moving import _Checker, objective_value
from fitlang.solve.rest_layout import RestBeside, _matched, adopt_rest_layout, at_rest, moves_in_time


def test_the_groups_replicas_are_laid_out_as_the_fleet_at_rest(tmp_path):
    # at rest the three replicas run on one 12 USD/h node of zone b (named big-1 there): the
    # first free node of its class takes them; 30 USD/h -> 12 + 3 moves and 3 nodes drained
    fleet = fleet_running(tmp_path, "12")
    assert adopt_rest_layout(fleet, "cost+moves", {"big-1": {"web": 3}}, None) == 1
    assert fleet.state() == {"big-0": Counter(web=3)}
    problem = fleet.problem
    assert objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought)) == Fraction("12.06")
    assert not _Checker(problem, set(), "").broken(fleet.state())
    assert consistent(fleet)


def test_a_layout_that_saves_less_than_its_moves_is_put_back(tmp_path):
    # one 29.95 USD/h node + 0.06 of changes is more than the 30 USD/h it replaces
    fleet = fleet_running(tmp_path, "29.95")
    before = fleet.state()
    assert adopt_rest_layout(fleet, "cost+moves", {"big-0": {"web": 3}}, None) == 0
    assert fleet.state() == before and consistent(fleet)


def test_a_node_at_rest_becomes_the_node_whose_replicas_it_keeps(tmp_path):
    # at rest one dear node runs api, one web, one big node nothing: api's node becomes
    # dear-1, where api runs now (its replica stays), web's the first of those running web;
    # the class's third node at rest, were there one, a node not in use
    running = RUNNING + [("api", "dear-1"), ("api", "big-0")]
    fleet = fleet_running(tmp_path, "12", API, running)
    dear = fleet.owners["dear-0"]
    now = ["dear-0", "dear-1", "dear-2"]
    assert _matched(fleet, dear, [{"api": 1}, {"web": 1}], now) == ["dear-1", "dear-0"]
    fleet.remove(fleet.nodes["dear-2"], fleet.problem.demand("web"))
    fleet.close("dear-2")
    assert _matched(fleet, dear, [{"web": 1}, {"web": 1}, {"web": 1}], ["dear-0", "dear-1"]) == \
        ["dear-0", "dear-1", "dear-2"]


def test_a_workload_held_to_its_zones_takes_the_zones_counts_at_rest(tmp_path):
    # api's spread (one replica in each zone) holds it to its zones; at rest it runs one in
    # each zone too, on other nodes (big-0 beside two web replicas, dear-1): it follows the
    # rest placement, and each zone keeps its one replica
    running = RUNNING + [("api", "dear-0"), ("api", "big-0")]
    fleet = fleet_running(tmp_path, "12", API, running)
    layout = {"big-0": {"web": 2, "api": 1}, "big-1": {"web": 1}, "dear-1": {"api": 1}}
    assert adopt_rest_layout(fleet, "cost+moves", layout, None) == 1
    zones = Counter()
    for node in fleet.nodes.values():
        zones[zone_of(node.node_class)[1]] += node.hosted["api"]
    assert zones == Counter(a=1, b=1)
    assert not _Checker(fleet.problem, set(), "").broken(fleet.state())
    assert consistent(fleet)


def test_the_fleet_at_rest_is_solved_beside_the_move(tmp_path):
    # nothing running, the nodes' cost the objective: the three replicas on one big node
    fleet = fleet_running(tmp_path, "12")
    rest = at_rest(fleet.problem)
    assert rest.objective == ["cost"] and not rest.running and not rest.pinned
    layout = RestBeside(fleet.problem, 5.0).layout(60.0)
    assert layout is not None
    assert sorted(Counter(layout[node]) for node in layout) == [Counter(web=3)]
    assert all(node.startswith("big-") for node in layout)


def test_a_group_whose_nodes_at_rest_cost_as_much_is_not_tried(tmp_path, monkeypatch):
    # at rest the same three dear nodes (30 USD/h, as now): neither the group nor its zones
    # are laid out (each try is the regroup's time)
    from fitlang.solve import rest_layout

    tried = []
    monkeypatch.setattr(rest_layout, "_adopted", lambda fleet, group, rest: tried.append(group))
    fleet = fleet_running(tmp_path, "12")
    layout = {name: {"web": 1} for name in ("dear-0", "dear-1", "dear-2")}
    assert adopt_rest_layout(fleet, "cost+moves", layout, None) == 0
    assert tried == []


def test_a_layout_whose_moves_the_waves_cannot_order_in_time_is_put_back(tmp_path):
    # the layout of the first test pays (30 -> 12.06 USD/h) but moves 3 replicas: with time
    # for the waves to move 2 it is put back, with time for 3 it is kept
    fleet = fleet_running(tmp_path, "12")
    before = fleet.state()
    assert adopt_rest_layout(fleet, "cost+moves", {"big-1": {"web": 3}}, None, most_moves=lambda: 2) == 0
    assert fleet.state() == before and consistent(fleet)
    assert adopt_rest_layout(fleet, "cost+moves", {"big-1": {"web": 3}}, None, most_moves=lambda: 3) == 1
    assert fleet.state() == {"big-0": Counter(web=3)}


def test_the_waves_moves_in_time_count_the_time_left_and_their_share(monkeypatch):
    # at 10 s of the move's 10 with 0.4 ms a move: its end and 0.13 of it, less 0.25 s
    from fitlang.solve import rest_layout

    monkeypatch.setattr(rest_layout.time, "monotonic", lambda: 10.0)
    assert moves_in_time(10.0, 10.0)() == int((0.0 + 0.13 * 10.0 - 0.25) / 0.0004)
    assert moves_in_time(9.5, 10.0)() == int((-0.5 + 0.13 * 10.0 - 0.25) / 0.0004)
    assert moves_in_time(5.0, 10.0)() == 0
    assert moves_in_time(None, 10.0)() is None



def test_no_layout_is_tried_past_the_deadline(tmp_path, monkeypatch):
    from fitlang.solve import rest_layout

    monkeypatch.setattr(rest_layout, "JournalMoves", lambda fleet: (_ for _ in ()).throw(AssertionError))
    fleet = fleet_running(tmp_path, "12")
    before = fleet.state()
    assert adopt_rest_layout(fleet, "cost+moves", {"big-1": {"web": 3}}, time.monotonic() - 1.0) == 0
    assert fleet.state() == before
