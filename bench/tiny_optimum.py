"""The fleet-scale path (`placement._solve` with `relax`: the aggregate model, packed node by
node) against the exact optimum of small two-zone fleets, found by brute force that shares no
code with the solver: every split of each workload's replicas over the zones its spread allows,
then, per zone, every way to fill its nodes one at a time (a memoised search over what is left
to place). Fleets with replicas of 3, 5 and 9 CPUs on 8- and 16-CPU nodes, where the aggregate
model's sums of requests fit more large replicas in a class than it has nodes. Prints the
seeds where fitc's answer is not the optimum. Not a test: the numbers go to docs/performance.md.

    .venv/bin/python bench/tiny_optimum.py [--seeds 0-499] [--time-limit SECONDS]
"""

from __future__ import annotations

import argparse
import functools
import itertools
import random
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from solving import pool, problem_from, workload

ZONES = ("z1", "z2")


def _fleet(seed: int):
    """Pools: per zone, a cheap class and a dear one (8 or 16 CPUs); workloads: replicas of
    3 to 9 CPUs, some spread over the zones."""
    rng = random.Random(seed)
    pools = []  # (name, zone, count, cpu, price)
    for zone in ZONES:
        for kind, price in (("cheap", rng.choice([1, 2])), ("dear", rng.choice([4, 6]))):
            pools.append((f"{kind}_{zone}", zone, rng.randint(1, 4), rng.choice([8, 16]), price))
    workloads = []  # (name, replicas, cpu, max_skew or None)
    for index in range(rng.randint(2, 3)):
        workloads.append((f"w{index}", rng.randint(1, 4), rng.choice([3, 5, 9]),
                          rng.choice([None, 1])))
    return pools, workloads


def _policy(pools, workloads) -> str:
    text = "".join(pool(name, count, cpu, "64Gi", price, f'  zone = "{zone}"\n')
                   for name, zone, count, cpu, price in pools)
    for name, replicas, cpu, skew in workloads:
        text += workload(name, replicas, cpu, "1Gi",
                         f"  spread zone max_skew {skew}\n" if skew is not None else "")
    return text


def _optimum(pools, workloads) -> float | None:
    """The least cost of a placement of every replica (None: none exists), by brute force."""
    best = None
    splits = []
    for _, replicas, _, skew in workloads:
        splits.append([(first, replicas - first) for first in range(replicas + 1)
                       if skew is None or abs(2 * first - replicas) <= skew])
    for split in itertools.product(*splits):
        total = 0.0
        for zone_index, zone in enumerate(ZONES):
            nodes = tuple((cpu, price) for _, z, count, cpu, price in pools if z == zone
                          for _ in range(count))
            cost = _zone_cost(nodes, tuple(cpu for _, _, cpu, _ in workloads),
                              tuple(s[zone_index] for s in split))
            if cost is None:
                break
            total += cost
        else:
            best = total if best is None else min(best, total)
    return best


def _zone_cost(nodes, sizes, left) -> float | None:
    @functools.cache
    def fill(index: int, left: tuple[int, ...]) -> float | None:
        if not any(left):
            return 0.0
        if index == len(nodes):
            return None
        cpu, price = nodes[index]
        best = fill(index + 1, left)  # this node stays empty
        for taken in itertools.product(*(range(n + 1) for n in left)):
            if any(taken) and sum(t * s for t, s in zip(taken, sizes)) <= cpu:
                rest = fill(index + 1, tuple(n - t for n, t in zip(left, taken)))
                if rest is not None and (best is None or price + rest < best):
                    best = price + rest
        return best

    return fill(0, left)


def main() -> None:
    from fitlang.solve.placement import _solve

    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", default="0-499")
    parser.add_argument("--time-limit", type=float, help="none: neither place_short nor repack runs")
    arguments = parser.parse_args()
    first, _, last = arguments.seeds.partition("-")
    feasible = differ = 0
    for seed in range(int(first), int(last or first) + 1):
        pools, workloads = _fleet(seed)
        optimum = _optimum(pools, workloads)
        if optimum is None:
            continue
        feasible += 1
        problem = problem_from(Path(tempfile.mkdtemp()), _policy(pools, workloads))
        placement = _solve(problem, "auto", arguments.time_limit, relax=True)
        value = None if placement.value is None else float(placement.value)
        if placement.unplaced or value is None or abs(value - optimum) > 1e-6:
            differ += 1
            print(f"seed {seed}: optimum {optimum}, fitc {value} (bound {placement.bound}), "
                  f"unplaced {len(placement.unplaced)}", flush=True)
    print(f"{differ} of {feasible} feasible fleets not at the optimum")


if __name__ == "__main__":
    main()
