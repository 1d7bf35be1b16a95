"""The pair relaxation's capacity rows over the capacity replicas can fill (bound.py,
`usable_capacity`): a node's allocatable rounded down to a multiple of the greatest common
divisor of the requests of the workloads that may use it. Checked on a policy worked out by
hand, and on random small fleets with odd allocatables against an exact per-node optimum
from a CP-SAT model written here (it shares nothing with fitc's solver)."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np

from fitlang.solve import bound as bound_module
from fitlang.solve.bound import lower_bound, usable_capacity

from solving import problem_from


def pool(name, count, cpu_milli, memory_mi, price):
    return (f"pool {name} {{\n  count = {count}\n  cpu = {cpu_milli}m\n  memory = {memory_mi}Mi\n"
            f"  price = {price} USD/h\n}}\n")


def workload(name, replicas, cpu_milli, memory_mi, extra=""):
    return (f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu_milli}m\n"
            f"  memory = {memory_mi}Mi\n{extra}}}\n")


def _without_rounding(monkeypatch):
    monkeypatch.setattr(bound_module, "usable_capacity", lambda capacity, *rest: capacity)


def test_an_odd_allocatable_is_charged_what_the_requests_can_fill(tmp_path, monkeypatch):
    # nodes of 1,100 Mi (16 CPU, 1 USD/h); a: 4 replicas of 500 Mi, b: 1 of 250 Mi. No node
    # holds more than 1,000 Mi of them (every request a multiple of 250 Mi), so the sums need
    # 2,250 / 1,000 = 2.25 nodes; over the raw 1,100 Mi they said 2.045 (and a's cover row 2).
    # The optimum is 3: two of a fill a node to 1,000 Mi, and b fits beside one of a only.
    text = pool("p", 4, 16000, 1100, 1) + workload("a", 4, 1000, 500) + workload("b", 1, 1000, 250)
    problem = problem_from(tmp_path, text)
    found = lower_bound(problem, "cost")
    assert found.converged and abs(found.value - Fraction(9, 4)) < 1e-8
    with monkeypatch.context() as patch:
        _without_rounding(patch)
        raw = lower_bound(problem, "cost")
    assert raw.converged and abs(raw.value - Fraction(2250, 1100)) < 1e-8


def test_each_class_is_rounded_by_the_requests_of_the_workloads_that_may_use_it():
    # class 0 is used by requests of 6 and 4 (divisor 2), class 1 by 6 alone (6), class 2 by
    # none (kept as it is); a zero request divides nothing
    capacity = np.array([[11, 7], [17, 7], [13, 5]], dtype=np.int64)
    requests = np.array([[6, 0], [4, 3]], dtype=np.int64)
    pair_demand, pair_class = np.array([0, 1, 0]), np.array([0, 0, 1])
    assert usable_capacity(capacity, requests, pair_demand, pair_class).tolist() == \
        [[10, 6], [12, 7], [13, 5]]


def _random_fleet(seed: int) -> tuple[list[tuple[int, int, int, int]], list[tuple[int, int, int]]]:
    """(count, CPU m, memory Mi, price cents) per pool, (replicas, CPU m, memory Mi) per
    workload: odd allocatables (a kubelet's reservation off round sizes), requests in steps."""
    rng = random.Random(seed)
    pools = []
    for _ in range(rng.randint(1, 3)):
        cores, gib = rng.choice([(2, 4), (4, 8), (4, 16), (8, 16)])
        pools.append((rng.randint(1, 4), cores * 1000 - rng.randint(0, 190),
                      gib * 1024 - rng.randint(0, 700), rng.randint(5, 60)))
    step_cpu, step_memory = rng.choice([(250, 256), (500, 512), (100, 128)])
    workloads = [(rng.randint(1, 5), step_cpu * rng.randint(1, 8), step_memory * rng.randint(1, 12))
                 for _ in range(rng.randint(1, 3))]
    return pools, workloads


def _optimum(pools, workloads) -> Fraction | None:
    """The cheapest placement of every replica, node by node (CP-SAT, cents); None if none."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    nodes = [(cpu, memory, price) for count, cpu, memory, price in pools for _ in range(count)]
    used = [model.NewBoolVar(f"u{n}") for n in range(len(nodes))]
    x = {(w, n): model.NewIntVar(0, replicas, f"x{w}_{n}")
         for w, (replicas, _, _) in enumerate(workloads) for n in range(len(nodes))}
    for w, (replicas, _, _) in enumerate(workloads):
        model.Add(sum(x[w, n] for n in range(len(nodes))) == replicas)
    for n, (cpu, memory, _) in enumerate(nodes):
        model.Add(sum(x[w, n] * c for w, (_, c, _) in enumerate(workloads)) <= cpu * used[n])
        model.Add(sum(x[w, n] * m for w, (_, _, m) in enumerate(workloads)) <= memory * used[n])
    model.Minimize(sum(price * used[n] for n, (_, _, price) in enumerate(nodes)))
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.max_time_in_seconds = 10.0
    status = solver.Solve(model)
    if status == cp_model.INFEASIBLE:
        return None
    assert status == cp_model.OPTIMAL
    return Fraction(round(solver.ObjectiveValue()), 100)


def _text(pools, workloads) -> str:
    return "".join(pool(f"p{i}", count, cpu, memory, f"{price / 100:.2f}")
                   for i, (count, cpu, memory, price) in enumerate(pools)) + \
        "".join(workload(f"w{i}", *spec) for i, spec in enumerate(workloads))


def test_on_random_odd_fleets_the_bound_stays_below_the_optimum_and_often_rises(tmp_path, monkeypatch):
    compared = raised = 0
    for seed in range(60):
        pools, workloads = _random_fleet(seed)
        best = _optimum(pools, workloads)
        if best is None:
            continue
        problem = problem_from(tmp_path, _text(pools, workloads), f"s{seed}.fit")
        found = lower_bound(problem, "cost")
        with monkeypatch.context() as patch:
            _without_rounding(patch)
            raw = lower_bound(problem, "cost")
        assert found.converged and raw.converged
        assert found.value <= best, (seed, found.value, best)
        assert found.value >= raw.value - Fraction(1, 10 ** 8), seed
        compared += 1
        raised += found.value > raw.value + Fraction(1, 10 ** 6)
    assert compared >= 30 and raised >= 5, (compared, raised)
