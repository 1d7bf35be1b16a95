"""Which side of issue 19's gap on the second shape is open: an exact node-level reference.

    .venv/bin/python bench/timing_sites_exact.py --jobs 30 --steps 48 --nodes 20 --seed 2
    .venv/bin/python bench/timing_sites_exact.py --jobs 40 --steps 48 --nodes 20 --reference cp-sat

fitc's time model counts replicas per pool and step (a relaxation of nodes) and its proven
bound is that count's LP (or MIP) bound; its schedule is made node by node. On a small
instance of `bench/timing_sites.py` this script solves the problem exactly at the level of
nodes, written apart from fitc, with HiGHS (`--reference highs`, scipy's `milp`, the
default) or CP-SAT (`--reference cp-sat`; ortools, which fitc does not depend on): a Boolean
per replica, node and start step; per node and step, what runs there within each resource of
the node, and the node in use (paid) where anything runs; per site and step, the nodes in
use within the power cap; cost = each node in use at a step at its pool's price plus its
power at the site's price.
The reference's best and its own bound give the true optimum or an interval around it, so
fitc's value above it is the schedule's loss, and fitc's bound below it the relaxation's.

Preemptible jobs are left out of the instance here (the reference runs every replica
unbroken); fitc and the reference solve the same instance without them. Not a test.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing_sites import KINDS, Instance, generate, instance_arguments, solve_fitc

# costs are USD/h + W x USD/kWh: integer in units of 1e-5 USD (prices have 2 decimals)
SCALE = 100_000


def node_cost(instance: Instance, pool: str, step: int) -> int:
    site, kind_name, _ = instance.pools[pool]
    kind = KINDS[kind_name]
    cents = round(instance.prices[site][step] * 100)
    return round(kind.usd_per_hour * SCALE) + kind.watts * cents


def exact(instance: Instance, limit: float, workers: int) -> dict:
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    steps = instance.steps
    nodes = [(pool, index) for pool, (_, _, count) in instance.pools.items() for index in range(count)]
    # per node and step: (resource use terms) for cpu, memory, gpus
    use: dict[tuple[str, int, int], list[list]] = {}
    for job in instance.jobs:
        pools = [p for p in instance.pools if instance.may_use(job, p)]
        for earliest, deadline in job.windows(steps):
            starts = range(earliest, deadline - job.duration + 1)
            for replica in range(job.replicas):
                choices = []
                for pool in pools:
                    for index in range(instance.pools[pool][2]):
                        for start in starts:
                            chosen = model.NewBoolVar(f"{job.name}/{replica}/{pool}{index}@{start}")
                            choices.append(chosen)
                            for step in range(start, start + job.duration):
                                terms = use.setdefault((pool, index, step), [[], [], []])
                                for resource, amount in enumerate((job.cpu, job.memory_gib, job.gpus)):
                                    if amount:
                                        terms[resource].append((amount, chosen))
                model.AddExactlyOne(choices)
    busy = {}
    objective = []
    for pool, index in nodes:
        kind = KINDS[instance.pools[pool][1]]
        for step in range(steps):
            terms = use.get((pool, index, step))
            if terms is None:
                continue
            on = busy[pool, index, step] = model.NewBoolVar(f"on {pool}{index}@{step}")
            for resource, capacity in enumerate((kind.cpu, kind.memory_gib, kind.gpus)):
                if terms[resource]:
                    model.Add(sum(a * v for a, v in terms[resource]) <= capacity * on)
            objective.append(node_cost(instance, pool, step) * on)
    for site, caps in instance.caps.items():
        for step in range(steps):
            drawn = [KINDS[instance.pools[p][1]].watts * on for (p, _, t), on in busy.items()
                     if t == step and instance.pools[p][0] == site]
            if drawn:
                model.Add(sum(drawn) <= caps[step])
    # nodes of a pool are alike: any schedule can renumber them by hours awake, most first
    for pool, (_, _, count) in instance.pools.items():
        for index in range(count - 1):
            model.Add(sum(on for (p, n, _), on in busy.items() if p == pool and n == index)
                      >= sum(on for (p, n, _), on in busy.items() if p == pool and n == index + 1))
    model.Minimize(sum(objective))
    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = limit
    solver.parameters.num_workers = workers
    solver.parameters.linearization_level = 2
    began = time.process_time()
    status = solver.Solve(model)
    found = status in (cp_model.OPTIMAL, cp_model.FEASIBLE)
    return {"status": solver.StatusName(status), "cpu": time.process_time() - began,
            "wall": solver.WallTime(),
            "value": solver.ObjectiveValue() / SCALE if found else None,
            "bound": solver.BestObjectiveBound() / SCALE,
            "pools": pools_awake(instance, busy, solver.Value) if found else {}}


def pools_awake(instance: Instance, busy: dict, value) -> dict[str, tuple[float, int, int]]:
    """Per pool of a schedule: (USD, node-steps awake, nodes ever awake), where its loss is."""
    pools: dict[str, tuple[float, int, set[int]]] = {}
    for (pool, index, step), on in busy.items():
        if value(on):
            cost, awake, nodes = pools.get(pool, (0.0, 0, set()))
            pools[pool] = (cost + node_cost(instance, pool, step) / SCALE, awake + 1, nodes | {index})
    return {pool: (cost, awake, len(nodes)) for pool, (cost, awake, nodes) in pools.items()}


def exact_mip(instance: Instance, limit: float) -> dict:
    """The same problem as a node-level MIP for HiGHS (scipy's `milp`), in the strong form:
    a replica on a node at a step wakes it (a row per replica, node and step, beside the
    capacity rows), nodes of a pool ordered by hours awake. Its LP is far tighter than
    CP-SAT's linearisation, so its bound is the one to read."""
    from scipy.optimize import Bounds, LinearConstraint, milp

    steps = instance.steps
    columns: list[tuple] = []  # ("x", replica key, pool, node, start, job) or ("on", pool, node, step)
    on: dict[tuple[str, int, int], int] = {}
    for pool, (_, _, count) in instance.pools.items():
        for index in range(count):
            for step in range(steps):
                on[pool, index, step] = len(columns)
                columns.append(("on", pool, index, step))
    rows: list[tuple[dict[int, float], float, float]] = []
    use: dict[tuple[str, int, int], list[dict[int, float]]] = {}
    for job in instance.jobs:
        pools = [p for p in instance.pools if instance.may_use(job, p)]
        for run, (earliest, deadline) in enumerate(job.windows(steps)):
            for replica in range(job.replicas):
                one: dict[int, float] = {}
                wakes: dict[tuple[str, int, int], dict[int, float]] = {}
                for pool in pools:
                    for index in range(instance.pools[pool][2]):
                        for start in range(earliest, deadline - job.duration + 1):
                            column = len(columns)
                            columns.append(("x", job.name, run, replica, pool, index, start))
                            one[column] = 1.0
                            for step in range(start, start + job.duration):
                                wakes.setdefault((pool, index, step), {})[column] = 1.0
                                terms = use.setdefault((pool, index, step), [{}, {}, {}])
                                for resource, amount in enumerate((job.cpu, job.memory_gib, job.gpus)):
                                    if amount:
                                        terms[resource][column] = float(amount)
                rows.append((one, 1.0, 1.0))
                for key, terms in wakes.items():
                    rows.append(({**terms, on[key]: -1.0}, -math.inf, 0.0))
    for (pool, index, step), terms in use.items():
        kind = KINDS[instance.pools[pool][1]]
        for resource, capacity in enumerate((kind.cpu, kind.memory_gib, kind.gpus)):
            if terms[resource]:
                rows.append(({**terms[resource], on[pool, index, step]: -float(capacity)},
                             -math.inf, 0.0))
    for site, caps in instance.caps.items():
        for step in range(steps):
            rows.append(({on[p, i, step]: float(KINDS[k].watts)
                          for p, (s, k, c) in instance.pools.items() if s == site for i in range(c)},
                         -math.inf, float(caps[step])))
    for pool, (_, _, count) in instance.pools.items():
        for index in range(count - 1):
            terms = {on[pool, index, t]: 1.0 for t in range(steps)}
            terms.update({on[pool, index + 1, t]: -1.0 for t in range(steps)})
            rows.append((terms, 0.0, math.inf))
    matrix = row_matrix(rows, len(columns))
    cost = [node_cost(instance, c[1], c[3]) / SCALE if c[0] == "on" else 0.0 for c in columns]
    began = time.process_time()
    result = milp(cost, integrality=[1] * len(columns), bounds=Bounds(0, 1),
                  constraints=LinearConstraint(matrix, [r[1] for r in rows], [r[2] for r in rows]),
                  options={"time_limit": limit, "disp": False})
    return {"status": result.message, "cpu": time.process_time() - began, "wall": math.nan,
            "value": None if result.x is None else float(result.fun),
            "bound": float(getattr(result, "mip_dual_bound", math.nan))}


def row_matrix(rows: list[tuple[dict[int, float], float, float]], count: int):
    """The rows (terms by column, lower, upper) as a sparse matrix of `count` columns."""
    from scipy.sparse import coo_array

    data, row_index, column_index = [], [], []
    for number, (terms, _, _) in enumerate(rows):
        for column, value in terms.items():
            data.append(value)
            row_index.append(number)
            column_index.append(column)
    return coo_array((data, (row_index, column_index)), shape=(len(rows), count)).tocsr()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    instance_arguments(parser, jobs=30, steps=48, nodes=20, seed=2)
    parser.add_argument("--limit", type=float, default=300.0, help="CP-SAT's seconds")
    parser.add_argument("--fitc-limit", type=float, default=30.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reference", choices=("cp-sat", "highs"), default="highs")
    arguments = parser.parse_args()
    instance = generate(arguments.jobs, arguments.steps, arguments.nodes, arguments.seed)
    instance.jobs = [j for j in instance.jobs if not j.preemptible]
    replicas = sum(j.replicas * len(j.windows(instance.steps)) for j in instance.jobs)
    count = sum(c for _, _, c in instance.pools.values())
    print(f"{len(instance.jobs)} jobs ({replicas} replicas) x {instance.steps} h x {count} nodes, "
          f"seed {arguments.seed}")
    fitc = solve_fitc(instance, arguments.fitc_limit, "cost")
    if arguments.reference == "highs":
        reference = exact_mip(instance, arguments.limit)
    else:
        reference = exact(instance, arguments.limit, arguments.workers)
    stated = "none" if fitc["bound"] is None else f"{float(fitc['bound']):.2f}"
    print(f"fitc: {float(fitc['value']):.2f} bound {stated} "
          f"({fitc['status']}, {fitc['solve_cpu']:.1f} CPU s, verify {fitc['verify']} violations)")
    value = "-" if reference["value"] is None else f"{reference['value']:.2f}"
    print(f"{arguments.reference}: {value} bound {reference['bound']:.2f} ({reference['status']}, "
          f"{reference['cpu']:.1f} CPU s, {reference['wall']:.1f} wall)")
    for pool, (cost, awake, nodes) in sorted(reference.get("pools", {}).items()):
        print(f"  {arguments.reference}'s {pool}: {cost:.2f} USD, {awake} node-steps awake on {nodes} nodes")
    best, proven = reference["value"], reference["bound"]
    if best is not None:  # a reference that proved nothing (its bound 0) or fitc that stated none: no ratio
        print(f"fitc's schedule above the optimum: at least {float(fitc['value']) / best - 1:.2%}"
              + (f", at most {float(fitc['value']) / proven - 1:.2%}" if proven > 0 else ""))
    if best is not None and fitc["bound"] is not None:
        print(f"fitc's bound below the optimum: at least {1 - float(fitc['bound']) / best:.2%}"
              + (f", at most {1 - float(fitc['bound']) / proven:.2%}" if proven > 0 else ""))

if __name__ == "__main__":
    main()
