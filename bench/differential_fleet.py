"""fitc's fleet path against the independent reference (tests/reference.py): the reference's
random small policies grown past the size where fitc leaves the exact model (more than 160
nodes), each pool's count and each workload's replicas multiplied, then solved by fitc as
`fitc solve` does (the verdict decided by the driver) and by the reference's per-node CP-SAT
model, which shares no code with fitc.

    .venv/bin/python bench/differential_fleet.py --from 1 --seeds 100 --scale 60
    .venv/bin/python bench/differential_fleet.py --from 1 --seeds 100 --scale 60 --jitter

With `--jitter` each pool is split into a few pools whose nodes differ a little (cores,
memory, price), the shape of an imported inventory, which fitc's aggregate model cannot
treat as one class.

What it prints, per seed where they differ:
- `wrong verdict`: fitc proves no placement exists (E0501) where the reference places one, or
  places everything where the reference proves that impossible;
- `wrong optimum`: fitc says `optimal` at a cost more than its tolerance (0.1%) above the
  reference's optimum, or below it (then `verify` or the reference is wrong), or a bound
  above it;
- `undecided`: fitc ends without a placement or a proof where the reference places all;
- `verify rejects fitc` on a placement fitc gave.
Seeds the reference cannot decide in its time are counted apart. Not a test.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from differential_time import decided_by_fitc, recorded

import reference
from solving import _placed_by_level as placed_by_level

TOLERANCE = Fraction(1, 1000)  # fitc's OPTIMALITY_TOLERANCE, restated: `optimal` within 0.1%


def grown(spec: reference.Spec, scale: int, rng: random.Random) -> reference.Spec:
    """The policy with each pool `scale` to 2 x `scale` times larger and the demand grown
    alike: replicas, an option's replicas alone, the buys' counts, the budget, the power caps."""
    for pool in spec.pools:
        pool.count *= rng.randint(scale, 2 * scale)
    factor = rng.randint(scale // 2, scale)
    for workload in spec.workloads:
        if workload.options is not None:
            workload.options = [(model, alone * factor) for model, alone in workload.options]
            workload.replicas = workload.options[0][1]
        else:
            workload.replicas *= rng.randint(max(1, scale // 2), scale)
        if workload.latency is not None:
            workload.latency = (workload.latency[0], min(workload.replicas, workload.latency[1] * factor))
    for buy in spec.buys:
        buy.max_count *= scale
    if spec.budget is not None:
        spec.budget *= scale
    spec.power_caps = [(zone, watts * scale) for zone, watts in spec.power_caps]
    return spec


def jittered(spec: reference.Spec, rng: random.Random) -> reference.Spec:
    """Each pool split in 2-6 pools of the same kind whose nodes differ a little, as an
    imported inventory's do: 0-2 more cores, 0-8 GiB more memory, a price up to 6% dearer."""
    pools = []
    for pool in spec.pools:
        parts = min(pool.count, rng.randint(2, 6))
        sizes = [pool.count // parts + (i < pool.count % parts) for i in range(parts)]
        for index, count in enumerate(sizes):
            pools.append(reference.Pool(
                f"{pool.name}x{index}", count, pool.cpu + rng.choice([0, 0, 1, 2]),
                pool.memory + rng.choice([0, 4, 8]), pool.price + rng.randint(0, pool.price // 16),
                pool.gpu_model, pool.gpus, pool.zone, pool.region, dict(pool.labels), pool.power))
    spec.pools = pools
    return spec


def compared(spec: reference.Spec, path: Path, time_limit: float, reference_limit: float,
             kept: list | None = None) -> tuple[str, list[str]]:
    """fitc's outcome, and what fitc and the reference disagree on (empty: nothing), or
    ['reference undecided']; (fitc's placement, the reference's answer) appended to `kept`."""
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    path.write_text(reference.to_fit(spec))
    problem, placement, outcome = decided_by_fitc(path, time_limit)
    if problem is None:
        return "error", [outcome]
    expected = reference.reference(spec, reference_limit)
    if kept is not None:
        kept.append((placement, expected))
    if not expected.decided:
        return outcome, ["reference undecided"]
    found = []
    if placement.assignments and outcome in ("PLACED", "PARTIAL"):
        violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
        unplaced_only = spec.allow_unplaced and all("allow_unplaced" in v.message for v in violations)
        if problems or (violations and not unplaced_only):
            rejected = [v.message for v in violations][:2] + [p.text for p in problems[:2]]
            found.append("verify rejects fitc: " + "; ".join(rejected))
    if outcome == "INFEASIBLE" and expected.feasible:
        found.append(f"wrong verdict: fitc proves none, the reference places all at {expected.cost}")
    if outcome == "PLACED" and not expected.feasible:
        found.append("wrong verdict: fitc places all, the reference proves none")
    if outcome == "UNDECIDED" and expected.feasible:
        found.append(f"undecided: the reference places all at {expected.cost}")
    if not expected.feasible or outcome not in ("PLACED", "PARTIAL"):
        return outcome, found
    if spec.allow_unplaced and placed_by_level(problem, placement) != expected.placed_by_level:
        if placement.status == "optimal":
            found.append(f"wrong optimum: placed per priority {placed_by_level(problem, placement)}, "
                         f"reference {expected.placed_by_level}")
        return outcome, found
    cost = Fraction(expected.cost)
    value = Fraction(placement.value) if placement.value is not None else None
    if value is not None and value < cost:
        found.append(f"wrong optimum: fitc {value} below the reference's optimum {cost}")
    if placement.status == "optimal" and value is not None and value > cost * (1 + TOLERANCE):
        found.append(f"wrong optimum: fitc `optimal` at {float(value)}, reference {float(cost)}")
    if placement.bound is not None and Fraction(placement.bound) > cost:
        found.append(f"wrong optimum: fitc's bound {float(placement.bound)} above {float(cost)}")
    return outcome, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--scale", type=int, default=60, help="pools grow 1-2 x this (default 60)")
    parser.add_argument("--time-limit", type=float, default=20.0, help="fitc's, seconds")
    parser.add_argument("--reference-limit", type=float, default=60.0)
    parser.add_argument("--jitter", action="store_true", help="pools split into nodes that differ")
    arguments = parser.parse_args()
    tally: Counter = Counter()  # "agree (placed)", "agree (infeasible)", "agree (partial)", ...
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            rng = random.Random(seed)
            spec = grown(reference.generate(seed), arguments.scale, rng)
            if arguments.jitter:
                spec = jittered(spec, rng)
            nodes = sum(pool.count for pool in spec.pools)
            if nodes <= 160:
                tally["too small"] += 1
                continue
            path = Path(directory) / f"grown{seed}.fit"
            recorded(tally, f"seed {seed} ({nodes} nodes, {sorted(spec.kinds)})",
                     functools.partial(compared, spec, path, arguments.time_limit, arguments.reference_limit))
    print(json.dumps(dict(sorted(tally.items()))), f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
