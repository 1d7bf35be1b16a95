"""Issue 19 on the sites shape: is the gap above the LP forced by continuity? Copies of a small
instance, where the forced part is known, solved by fitc at the goal's size.

    .venv/bin/python bench/timing_sites_copies.py --jobs 20 --steps 24 --nodes 10 --seed 2 --copies 1,10,100
    .venv/bin/python bench/timing_sites_copies.py --jobs 20 --steps 168 --nodes 20 --seed 1 --copies 50 \
        --bound-copies 1 --bound-limit 90 --pricing-limit 10 --exact-limit 0

At the goal size (1,000 x 168 x 1,000) no bound that sees continuity (a node, once awake for
a replica, stays awake to the end of its last replica) can be computed: a node-schedule
(Dantzig-Wolfe) round there takes longer than the session (h17c, h18d). On a small instance
it can: this script takes one (`timing_sites.generate`, preemptible jobs left out, as the
references need), and computes, with no fitc code:

- the aggregate LP (`timing_bound.aggregate_lp`: what fitc's proven bound is, replicas per pool
  and step, nodes a fraction);
- the node-schedule bound converged (`timing_bound.converged_bound`: the LP over whole node
  schedules, with the exact pricing's Lagrangian; what continuity forces as an LP);
- the exact optimum at the level of nodes (`timing_sites_exact.exact_mip`, HiGHS).

Then k copies of it (every pool's count, every site's cap and every job k times; the jobs
renamed). The aggregate LP is exactly k times the one copy's (copies of a solution, and the
average over the copies of one, are solutions; checked for k up to `--lp-check`). The
node-schedule LP is not: a node schedule of one copy holds at most a run's replicas, and the
copies lift that (replicas of a run's copies, alike in size, start and length, share a node
and end together), so it can fall towards the LP as k grows (never rise: k copies of one
copy's solution are a solution): `--bound-copies` computes it at a few k. k copies of the
optimum are a schedule of the k-fold instance (k x OPT, known without search). fitc solves
the copies up to the goal's node count within its time limit (the answer through `verify`);
its value per copy against the LP, the node-schedule bounds and the optimum says how much of
its gap at that size continuity can force. Not a test: numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from timing_bound import aggregate_lp, converged_bound
from timing_sites import Instance, generate, instance_arguments, solve_fitc
from timing_sites_bound import runs_of
from timing_sites_exact import exact_mip


def copies(instance: Instance, count: int) -> Instance:
    """`count` copies of the instance side by side: the same sites and prices, each pool
    `count` times its nodes, each site's cap `count` times, each job `count` times (renamed)."""
    pools = {name: (site, kind, nodes * count) for name, (site, kind, nodes) in instance.pools.items()}
    caps = {site: [watts * count for watts in per_step] for site, per_step in instance.caps.items()}
    scaled = Instance(instance.steps, pools, instance.prices, instance.grams, caps)
    for index in range(count):
        for job in instance.jobs:
            twin = copy.deepcopy(job)
            twin.name = job.name if count == 1 else f"{job.name}c{index}"
            scaled.jobs.append(twin)
    return scaled


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    instance_arguments(parser, jobs=20, steps=24, nodes=10, seed=2)
    parser.add_argument("--copies", default="1,10,50", help="copy counts fitc solves")
    parser.add_argument("--time-limit", type=float, default=30.0, help="fitc's")
    parser.add_argument("--bound-limit", type=float, default=300.0,
                        help="CPU s for each node-schedule bound")
    parser.add_argument("--bound-copies", default="1,2",
                        help="copy counts the node-schedule bound is computed for ('': none)")
    parser.add_argument("--pricing-limit", type=float, default=30.0)
    parser.add_argument("--exact-limit", type=float, default=300.0,
                        help="HiGHS's seconds for the exact optimum (0: not computed)")
    parser.add_argument("--lp-check", type=int, default=10,
                        help="the copies' LP recomputed for counts up to this (k x LP, checked)")
    arguments = parser.parse_args()
    base = generate(arguments.jobs, arguments.steps, arguments.nodes, arguments.seed)
    # preemptible jobs out (the references run every replica unbroken), and a recurring job
    # with no run inside a short horizon (fitc rejects it; it asks for nothing)
    base.jobs = [j for j in base.jobs if not j.preemptible and j.windows(base.steps)]
    replicas = sum(j.replicas * len(j.windows(base.steps)) for j in base.jobs)
    nodes = sum(c for _, _, c in base.pools.values())
    print(f"one copy: {len(base.jobs)} jobs ({replicas} replicas) x {base.steps} h x {nodes} nodes, "
          f"seed {arguments.seed}", flush=True)
    began = time.process_time()
    lp, _ = aggregate_lp(base, runs_of(base))
    print(f"aggregate LP {lp:.2f} ({time.process_time() - began:.1f} CPU s)", flush=True)
    bound = None
    for count in (int(c) for c in arguments.bound_copies.split(",") if c):
        scaled = copies(base, count)
        result = converged_bound(scaled, arguments.bound_limit, arguments.pricing_limit,
                                 log=lambda line: print("  ", line, flush=True))
        per_copy, master = result["bound"] / count, result["master"] / count
        bound = per_copy if count == 1 else bound
        print(f"{count} copies: node-schedule bound / k {per_copy:.2f} (+{per_copy / lp - 1:.2%} over "
              f"the LP), master / k {master:.2f}, {result['rounds']} rounds, {result['cpu']:.1f} CPU s",
              flush=True)
    optimum = proven = None
    if arguments.exact_limit > 0:
        exact = exact_mip(base, arguments.exact_limit)
        optimum, proven = exact["value"], exact["bound"]
        shown = "-" if optimum is None else f"{optimum:.2f} (+{optimum / lp - 1:.2%})"
        print(f"exact: {shown}, its bound {proven:.2f} ({exact['status']}, {exact['cpu']:.1f} CPU s)",
              flush=True)
    print("| copies | nodes | the copies' LP / k | fitc value / k | over the LP | over the node-schedule "
          "bound | over the optimum | fitc's bound / k | solve CPU s (wall) | verify |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for count in (int(c) for c in arguments.copies.split(",") if c):
        scaled = copies(base, count)
        checked = "-"
        if count <= arguments.lp_check:
            scaled_lp, _ = aggregate_lp(scaled, runs_of(scaled))
            checked = f"{scaled_lp / count:.2f}"
        row = solve_fitc(scaled, arguments.time_limit, "cost")
        value = None if row["value"] is None else float(row["value"]) / count
        fitc_bound = "-" if row["bound"] is None else f"{float(row['bound']) / count:.2f}"
        shown = "-" if value is None else f"{value:.2f}"
        print(f"| {count} | {nodes * count} | {checked} | {shown} | {_over(value, lp)} | "
              f"{_over(value, bound)} | {_over(value, optimum)} | {fitc_bound} | "
              f"{row['solve_cpu']:.1f} ({row['solve_wall']:.1f}) | "
              f"{row['verify']} |", flush=True)


def _over(value: float | None, reference: float | None) -> str:
    return "-" if value is None or reference is None else f"{value / reference - 1:+.2%}"


if __name__ == "__main__":
    main()
