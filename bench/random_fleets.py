"""Random fleet-scale policies solved and held to `verify`, replicas left out allowed: a
generator apart from tests/reference.py's and bench/random_policies.py's (which checks complete
placements only), aimed at what those leave alone: fleets of 170-700 nodes (the aggregate
model, the greedy floor and its completion), zone spreads, gangs, accelerator options (spread
over zones and regions, gangs), priorities, rules between workloads, and capacity from half to
1.4 x the demand.

    PYTHONPATH=. .venv/bin/python bench/random_fleets.py --first 0 --count 500 --time-limit 2

Any violation but a replica left out is a bug: printed with its seed (the policy kept in
the directory), then the counts. Not a test: what it finds becomes one
(tests/test_floor_complete.py)."""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import random
from pathlib import Path

from random_policies import searched


def _pools(rng: random.Random) -> list[str]:
    zones = ["a", "b", "c"][: rng.randint(2, 3)]
    big = rng.random() < 0.8
    pools = []
    for index in range(rng.randint(2, 6)):
        count = rng.randint(30, 120) if big else rng.randint(1, 6)
        zone, accelerators = rng.choice(zones), rng.random() < 0.25
        lines = [f"pool p{index} {{", f"  count = {count}", f"  cpu = {rng.choice([4, 8, 16])}",
                 f"  memory = {rng.choice([16, 32, 64])}Gi",
                 f"  price = {rng.choice(['0.5', '1', '1.25', '2', '3'])} USD/h", f'  zone = "{zone}"',
                 f'  region = "{"r2" if zone == "c" else "r1"}"']  # (no draw: session 38)
        if accelerators:
            lines += ["  gpu {", f"    model = {rng.choice(['H100', 'L4'])}", "    count = 4", "  }"]
        pools.append("\n".join(lines + ["}"]))
    return pools


def _workload(rng: random.Random, index: int, cores: float, earlier: list[str]) -> str:
    cpu = rng.choice([1, 2, 3, 4, 6])
    replicas = max(1, int(cores / 5 / cpu * rng.random()))
    lines = [f"workload w{index} {{", f"  cpu = {cpu}", f"  memory = {rng.choice([1, 2, 4, 8])}Gi"]
    if rng.random() < 0.15:
        # a third of them one replica per zone, of either option (session 35), else 40% spread
        # over the zones: drawn apart from `rng`, so that every other seed's policy is what it was
        side = random.Random(f"{index}-{cpu}-{replicas}")
        apart = side.random() < 0.35
        h100, l4 = ((side.randint(1, 3), side.randint(1, 3)) if apart
                    else (max(1, replicas // 8), max(1, replicas // 4)))
        lines += ["  gpu {", "    count = 1",
                  "    option H100 {", f"      replicas = {h100}", "    }",
                  "    option L4 {", f"      replicas = {l4}", "    }", "  }"]
        if apart:
            lines.append("  anti_affinity self on zone")
        elif side.random() < 0.4:  # a spread over both options (session 37), from `side` too
            lines.append(f"  spread zone max_skew {side.choice([1, 2])}")
            # and now and then a spread over regions, or a gang (session 38)
            if side.random() < 0.4:
                lines.append(f"  spread region max_skew {side.choice([1, 2, 3])}")
            if side.random() < 0.35:
                lines.append("  gang = true")
    else:
        lines.insert(1, f"  replicas = {replicas}")
        if rng.random() < 0.5:
            lines.append(f"  spread zone max_skew {rng.choice([1, 1, 2, 5])}")
        if rng.random() < 0.15:
            lines.append(f"  spread node max_skew {rng.choice([1, 3])}")
        if rng.random() < 0.15 and replicas <= 200:
            lines.append("  gang = true")
        if earlier and rng.random() < 0.15:
            lines.append(f"  {rng.choice(['affinity', 'anti_affinity'])} {rng.choice(earlier)} on "
                         f"{rng.choice(['node', 'zone'])}")
    if rng.random() < 0.4:
        lines.append(f"  priority = {rng.choice([1, 5, 10])}")
    return "\n".join(lines + ["}"])


def policy(seed: int) -> str:
    rng = random.Random(seed)
    pools = _pools(rng)
    nodes = sum(int(p.split("count = ")[1].split("\n")[0]) for p in pools)
    cores = nodes * 8 * rng.choice([0.5, 0.9, 1.1, 1.4])  # demand against ~8 cores a node
    workloads: list[str] = []
    for index in range(rng.randint(2, 7)):
        workloads.append(_workload(rng, index, cores, [f"w{i}" for i in range(index)]))
    parts = ['import "std/accelerators"', *pools, *workloads]
    if rng.random() < 0.7:
        parts.append("policy {\n  allow_unplaced = true\n}")
    return "\n".join(parts) + "\n"


def _tried(path: Path, time_limit: float) -> str:
    """'error CODE', 'none', 'placed', 'partial', or 'broken' with what `verify` found."""
    from fitlang.driver import Compilation
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    compilation = Compilation(path)
    errors = [d for d in compilation.diagnostics() if d.is_error]
    if errors:
        return f"error {errors[0].code}: {errors[0].message}"
    placement = compilation.solve("auto", time_limit)
    problem = compilation.problem
    assert problem is not None
    if not placement.assignments:
        return "none"
    allowing = dataclasses.replace(problem, allow_unplaced=True)
    violations, problems = verify(allowing, json.loads(as_json(problem, placement, [])))
    if violations or problems:
        return "broken: " + "; ".join([v.message for v in violations][:3] + [p.text for p in problems[:2]])
    return "partial" if placement.unplaced else "placed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=2.0)
    parser.add_argument("--directory", type=Path, default=Path("/tmp/random_fleets"))
    arguments = parser.parse_args()
    searched(policy, functools.partial(_tried, time_limit=arguments.time_limit), arguments.directory / "f",
             arguments.first, arguments.count)

if __name__ == "__main__":
    main()
