"""The charged LP with whole nodes and replicas (`charged_mip.charged_mip_bound`, issue 18):
never above the exact optimum of cost + moves (the node-by-node model, `moving.solve_move` up
to 48 nodes) on small random fleets, and above the charged LP (`moves_lower_bound`) where that
LP splits nodes."""

from __future__ import annotations

import json
import random
import time
from fractions import Fraction

import pytest
from test_moving import UNDERCUT
from test_plan import plan_of, state_of

from fitlang.driver import Compilation
from fitlang.plan import as_json
from fitlang.solve import move_scale
from fitlang.solve.charged_mip import charged_mip_bound
from fitlang.solve.linear import Status
from fitlang.solve.move_bound import moves_lower_bound
from fitlang.solve.moving import objective_value, placed_state, solve_move
from fitlang.solve.verify_plan import verify_plan

from solving import problem_running

POLICY_END = "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"


def _drawn(tmp_path, seed: int):
    """A small fleet of 2-3 pools and 1-3 workloads (some one a node), part of it running."""
    rng = random.Random(seed)
    pools = [(f"p{i}", rng.randint(2, 6), rng.choice([2, 4, 8]), rng.choice(["0.10", "0.25", "0.40", "1"]))
             for i in range(rng.randint(2, 3))]
    workloads = [(f"w{i}", rng.randint(1, 6), rng.choice([1, 2, 3, 5]), rng.random() < 0.4)
                 for i in range(rng.randint(1, 3))]
    text = "".join(f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = 16GiB\n"
                   f"  price = {price} USD/h\n}}\n\n" for name, count, cpu, price in pools)
    text += "".join(f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = 1GiB\n"
                    + ("  anti_affinity self on node\n" if apart else "") + "}\n\n"
                    for name, replicas, cpu, apart in workloads)
    nodes = [f"{name}-{i}" for name, count, _, _ in pools for i in range(count)]
    running = [(name, rng.choice(nodes)) for name, replicas, _, _ in workloads
               for _ in range(rng.randint(0, replicas))]
    return problem_running(tmp_path, text + POLICY_END, running)


def _optimum(problem) -> Fraction | None:
    """The exact optimum's cost + moves, counted from its end state; None where the drawn
    fleet has no placement of every replica."""
    exact = solve_move(problem)
    if exact.status is not Status.OPTIMAL or exact.unplaced:
        return None
    bought = {n for names in exact.bought.values() for n in names}
    return objective_value(problem, "cost+moves", placed_state(exact), bought)


@pytest.mark.parametrize("seed", [25, 29])
def test_whole_nodes_lift_the_charged_lp_to_the_exact_optimum(tmp_path, seed):
    # seed 29: the LP proves 0.49 USD/h, the plan's optimum is 0.82 (replicas of 5 CPUs
    # split over fractions of nodes in the LP); seed 25: 1.04 against 1.23
    problem = _drawn(tmp_path, seed)
    optimum = _optimum(problem)
    relaxed = moves_lower_bound(problem, None)
    whole = charged_mip_bound(problem, time.monotonic() + 60, cpu_seconds=30)
    assert optimum is not None and relaxed is not None and whole is not None
    assert relaxed + Fraction(1, 10) < optimum
    assert optimum - Fraction(1, 10**6) <= whole <= optimum + Fraction(1, 10**6)


@pytest.mark.parametrize("seed", range(12))
def test_the_whole_node_bound_is_never_above_the_exact_optimum(tmp_path, seed):
    problem = _drawn(tmp_path, seed)
    optimum = _optimum(problem)
    if optimum is None:
        pytest.skip("no placement of the drawn fleet")
    whole = charged_mip_bound(problem, time.monotonic() + 60, cpu_seconds=30)
    assert whole is not None and whole <= optimum + Fraction(1, 10**6), (whole, optimum)


# 120 nodes (tests/test_moving.py's pools: old 60 x 8 cores at 1.00 USD/h, new 60 at 0.80), so
# the plan is made from what runs (`move_scale`), its bound beside it (`model_bound_beside`)
SPLIT_BY_THE_LP = UNDERCUT.split("workload web")[0] + """workload big {
  replicas = 1
  cpu = 5
  memory = 1GiB
}

workload small {
  replicas = 2
  cpu = 3
  memory = 1GiB
}
""" + POLICY_END


def test_a_plan_proven_optimal_by_the_charged_mip_alone(tmp_path, monkeypatch):
    # worked by hand: 5 + 3 + 3 cores need two nodes of 8 (no node holds all three), so the
    # plan costs at least 2 x 0.80. Now `big` runs on old-0 and both `small` on old-1 (2.00
    # USD/h). Both nodes replaced: 1.60 + 0.01 x (3 moves + 2 drained) = 1.65; one kept: 1.80
    # at least, 2.00 with none moved. The charged LP packs {big, small} on one node and
    # {small, small} on half of another: 1.20 + 0.05 = 1.25; with whole nodes (the MIP) 1.65.
    # The whole move model is stubbed (a forked child inherits the patch): the bound is the
    # MIP's. The child proves it beside the move: on a loaded machine it may not have finished
    # when the plan collects it (a lower bound is then stated: CI at 2 workers once said 1.62),
    # so the MIP itself is asked too, with all the time it needs
    monkeypatch.setattr(move_scale, "move_model_bound", lambda *arguments, **keywords: None)
    running = [("big", "old-0"), ("small", "old-1"), ("small", "old-1")]
    problem = problem_running(tmp_path, SPLIT_BY_THE_LP, running)
    assert moves_lower_bound(problem, None) == pytest.approx(1.25)
    assert charged_mip_bound(problem, time.monotonic() + 60.0, cpu_seconds=60.0) == pytest.approx(1.65)
    result = plan_of(tmp_path, SPLIT_BY_THE_LP, state_of(*running))
    document = json.loads(as_json(result))
    assert document["value"] == pytest.approx(1.65) and result.plan.cost_after == Fraction("1.60")
    assert 1.25 - 1e-6 <= document["bound"] <= 1.65 + 1e-6
    assert (result.status == "optimal") == (document["bound"] == pytest.approx(1.65, abs=1e-6))
    found, problems = verify_plan(result.problem, Compilation(tmp_path / "p.fit").check().program, document)
    assert problems == [] and found == []


APART = """
pool a {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
  zone = "a"
}

pool b {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 1.5 USD/h
  zone = "b"
}

pool c {
  count = 1
  cpu = 4
  memory = 16GiB
  price = 10 USD/h
  zone = "c"
}

workload x {
  replicas = 2
  cpu = 2
  memory = 1GiB
}

workload y {
  replicas = 2
  cpu = 2
  memory = 1GiB
  anti_affinity x on zone
}

workload z {
  replicas = 2
  cpu = 2
  memory = 1GiB
  anti_affinity x on zone
  anti_affinity y on zone
}
""" + POLICY_END


def test_three_workloads_apart_by_zone_need_the_dear_zone(tmp_path):
    # x, y and z pairwise apart by zone, three zones: one of them runs in zone c (10 USD/h), so
    # every plan costs at least 1 + 1.5 + 10 (x, y, z on a-0, b-0, c-0 now: 12.5, no move). The
    # rows weighted by the most replicas a zone holds let each run one replica in a and one in
    # b (1/2 + 1/2 per pair and zone): 2 nodes a zone, 5 USD/h and the moves; the 0-1 rows
    # ("runs in the zone") do not. (Pools a and b at one price would be one merged class,
    # in no zone's row: `zone_apart`.)
    running = [("x", "a-0"), ("x", "a-0"), ("y", "b-0"), ("y", "b-0"), ("z", "c-0"), ("z", "c-0")]
    problem = problem_running(tmp_path, APART, running)
    assert charged_mip_bound(problem, time.monotonic() + 60.0, cpu_seconds=60.0) == pytest.approx(12.5)
