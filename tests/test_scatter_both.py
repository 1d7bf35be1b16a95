"""The scatter passes from both free-node searches, the lower plan kept (`solve/scatter_both.py`).

The fleet: two cheap nodes (4 cores, 5 USD/h) and a dear one (4 cores, 10 USD/h), running
x (1 core) on cheap-0, y (3 cores) on cheap-1, z (4 cores) on dear-0. `improve` tries the
dear node first: z fits no node in use and no free cheap node is left (the search passes
cheap-0 and cheap-1, both in use). Then x moves onto cheap-1's free core and cheap-0 is
emptied. The search as it stands resumes past cheap-0, so z stays on dear-0: 15.02 USD/h
(two nodes, x moved, cheap-0 drained: 0.01 each). The search that finds closed nodes moves
z onto cheap-0: 10 USD/h for the cheap nodes, x and z moved, dear-0 drained: 10.03.
"""

from __future__ import annotations

import dataclasses
import time
from collections import Counter
from fractions import Fraction

from test_pool_emptied import consistent

from fitlang.solve import move_neighbourhood, pool_emptied
from fitlang.solve.move_scale import ScaleMove, move_at_scale
from fitlang.solve.moving import _Checker, move_objectives, objective_value
from fitlang.solve.scatter_both import scatter_both

from solving import problem_running

POOL = """
pool NAME {
  count = COUNT
  cpu = 4
  memory = 8GiB
  price = PRICE USD/h
  zone = "a"
}
"""
WORKLOAD = """
workload NAME {
  replicas = 1
  cpu = CPU
  memory = 1GiB
}
"""
FLEET = "".join(POOL.replace("NAME", name).replace("COUNT", count).replace("PRICE", price)
                for name, count, price in (("cheap", "2", "5"), ("dear", "1", "10"))) + \
    "".join(WORKLOAD.replace("NAME", name).replace("CPU", cpu)
            for name, cpu in (("x", "1"), ("y", "3"), ("z", "4"))) + \
    "\npolicy {\n  move_price = 0.01 USD/h\n}\n"
RUNNING = [("x", "cheap-0"), ("y", "cheap-1"), ("z", "dear-0")]
ENDED = {"cheap-0": Counter(z=1), "cheap-1": Counter(x=1, y=1)}


def fleet_running(tmp_path, fleet: str = FLEET) -> ScaleMove:
    problem = problem_running(tmp_path, fleet, RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    fleet_now = ScaleMove(problem)
    fleet_now.repair(fleet_now.start())
    assert fleet_now.state() == {"cheap-0": Counter(x=1), "cheap-1": Counter(y=1), "dear-0": Counter(z=1)}
    return fleet_now


def value(fleet: ScaleMove) -> Fraction:
    return objective_value(fleet.problem, "cost+moves", fleet.state(), set(fleet.bought))


def test_the_search_that_finds_closed_nodes_is_kept_where_lower(tmp_path):
    fleet = fleet_running(tmp_path)
    settled = fleet.improve(None)
    assert fleet.state() == {"cheap-1": Counter(x=1, y=1), "dear-0": Counter(z=1)}
    assert value(fleet) == Fraction("15.02")
    assert scatter_both(fleet, "cost+moves", None, None, settled)
    assert fleet.state() == ENDED and value(fleet) == Fraction("10.03")
    assert not _Checker(fleet.problem, set(), "").broken(fleet.state())
    assert consistent(fleet) and not fleet.refind_closed


def test_on_a_tie_the_first_search_is_kept_as_it_ended(tmp_path):
    # cheap-0 free from the start (x placed on cheap-1 anew): both searches move z onto it;
    # the first's end is put back after the second's is undone
    fleet = fleet_running(tmp_path)
    fleet.remove(fleet.nodes["cheap-0"], fleet.problem.demand("x"))
    fleet.close("cheap-0")
    fleet.add(fleet.nodes["cheap-1"], fleet.problem.demand("x"))
    fleet.next_free.clear()
    assert not scatter_both(fleet, "cost+moves", None, None, None)
    assert fleet.state() == ENDED and value(fleet) == Fraction("10.03")
    assert consistent(fleet)


def test_nothing_runs_past_the_deadline(tmp_path):
    fleet = fleet_running(tmp_path)
    settled = fleet.improve(None)
    before = fleet.state()
    assert not scatter_both(fleet, "cost+moves", time.monotonic() - 1, None, settled)
    assert fleet.state() == before and not fleet.refind_closed


def test_the_plan_past_large_nodes_ends_on_the_lower_search(tmp_path, monkeypatch):
    # the scatter passes from one search (main before session 33) left z on dear-0: 15.02
    # (the pool step after them, which starts each pool's search over, is left out here)
    monkeypatch.setattr(move_neighbourhood, "LARGE_NODES", 0)
    monkeypatch.setattr(pool_emptied, "empty_pools", lambda *_args: 0)
    problem = problem_running(tmp_path, FLEET, RUNNING)
    problem = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    placement, fleet = move_at_scale(problem, "cost+moves", 30.0)
    assert placement.value == Fraction("10.03")
    assert fleet.state() == ENDED
