"""fitc's placement against the exact optimum, on small fleets where the optimum is cheap: per
fleet, the exact per-node model's answer (`bound_gap._exact`: every node its own class, whole
replica counts, HiGHS), and `placement.solve` in process at each `--time-limit`, with what
each stage of the aggregate path gave (every round's model value and its packing's cost or
shortfall, the cost after the polish, the answer). The stage that lost it: `model` (the first
round's model is over the optimum by more than 1%: cut short), `pack` (the first round's
packing is dearer than its model or short), `rounds` (a later round was kept, dearer),
`polish`, or `-` (within 1%). Not a test: the numbers go to docs/performance.md.

    .venv/bin/python bench/placement_gap.py --inventory 300:1-20 --breaker 300:11-14 \\
        [--time-limit 30 --time-limit 5] [--exact-seconds 60] [--cpu-clock]

Fleets are written to `--directory` (default /tmp/placement_gap) when missing; FILE
arguments are measured as they are.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

WITHIN = 0.01


def _fleets(arguments) -> list[Path]:
    from inventories import breaker, generate

    directory = Path(arguments.directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = [Path(p) for p in arguments.files]
    for shape, specs, make in (("inv", arguments.inventory, generate), ("brk", arguments.breaker, breaker)):
        for spec in specs:
            nodes_text, seeds_text = spec.split(":")
            first, _, last = seeds_text.partition("-")
            for seed in range(int(first), int(last or first) + 1):
                nodes = int(nodes_text)
                path = directory / f"{shape}{nodes}-s{seed}.fit"
                if not path.exists():
                    make(nodes, nodes // 10, seed=seed).write(directory, path.stem)
                paths.append(path)
    return paths


def _problem(path: Path):
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem

    return build_problem(check_file(path, Workspace()).program).problem


def _stages(problem, time_limit: float) -> dict:
    """placement.solve, with each round's model value and packing recorded."""
    from fitlang.solve import placement as pl

    rounds: list[dict] = []
    originals = {name: getattr(pl, name) for name in ("solve_aggregate", "pack", "_polished")}

    def packed_cost(packing):
        if not packing.complete:
            return f"short {sum(packing.short_by_workload.values())}"
        return round(float(pl._packed_value(problem, packing, "cost")), 4)

    def settle_last_round() -> None:  # its packing as repair and `place_short` left it
        packing = rounds[-1].pop("packing", None) if rounds else None
        if packing is not None:
            rounds[-1]["repaired"] = packed_cost(packing)

    def solve_aggregate(*args, **kwargs):
        settle_last_round()
        result = originals["solve_aggregate"](*args, **kwargs)
        value = None if result is None or result[1].objective is None else float(result[1].objective)
        rounds.append({"model": value})
        return result

    def pack(*args, **kwargs):
        packing = originals["pack"](*args, **kwargs)
        if rounds:
            rounds[-1]["pack"] = packed_cost(packing)
            rounds[-1]["packing"] = packing  # repaired in place: read at the round's end
        return packing

    polished: dict = {}

    def polish(problem_, packing, *args, **kwargs):
        settle_last_round()
        polished["before"] = packed_cost(packing)
        originals["_polished"](problem_, packing, *args, **kwargs)
        polished["after"] = packed_cost(packing)

    pl.solve_aggregate, pl.pack, pl._polished = solve_aggregate, pack, polish
    try:
        cpu, children = time.process_time(), _children_cpu()
        placement = pl.solve(problem, "auto", time_limit)
        cpu, children = time.process_time() - cpu, _children_cpu() - children
    finally:
        for name, function in originals.items():
            setattr(pl, name, function)
    settle_last_round()
    return {"value": None if placement.value is None else float(placement.value),
            "verify": _violations(problem, placement),
            "bound": None if placement.bound is None else float(placement.bound),
            "status": str(placement.status), "unplaced": len(placement.unplaced),
            "cpu": round(cpu, 2), "children_cpu": round(children, 2), "rounds": rounds, "polish": polished}


def _children_cpu() -> float:
    """CPU seconds of the child processes ended so far (the group programs' and the fitted
    counts' HiGHS runs: `process_time` counts this process only)."""
    import os

    times = os.times()
    return times.children_user + times.children_system


def _violations(problem, placement) -> int:
    """How many rules `fitc verify` finds broken (replicas left out allowed: they are counted apart)."""
    import dataclasses

    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    document = json.loads(as_json(problem, placement, []))
    violations, problems = verify(dataclasses.replace(problem, allow_unplaced=True), document)
    return len(violations) + len(problems)


def _contradicts(optimum: float | None, found: dict) -> bool:
    """A placement `fitc verify` accepts, every replica placed, cheaper than the exact model's
    "optimum": the exact model's answer is wrong (HiGHS's presolve: `bound_gap._exact`)."""
    complete = found["value"] is not None and not found["unplaced"] and found["verify"] == 0
    return optimum is not None and complete and found["value"] < optimum * (1 - 1e-4) - 1e-6


def _lost_at(optimum: float | None, found: dict) -> str:
    value = found["value"]
    if found["unplaced"]:
        return "unplaced"
    if _contradicts(optimum, found):
        return "optimum contradicted"
    if optimum is None or value is None or value <= optimum * (1 + WITHIN):
        return "-"
    rounds = found["rounds"]
    if not rounds:
        return "floor path"
    first = rounds[0]
    if first["model"] is None or first["model"] > optimum * (1 + WITHIN):
        return "model"
    if not isinstance(first.get("repaired"), float) or first["repaired"] > optimum * (1 + WITHIN):
        return "pack" if len(rounds) == 1 else "pack, then rounds"
    if len(rounds) > 1:
        return "rounds"
    return "polish"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("files", nargs="*")
    parser.add_argument("--inventory", action="append", default=[], help="NODES:FIRST-LAST seeds")
    parser.add_argument("--breaker", action="append", default=[], help="NODES:FIRST-LAST seeds")
    parser.add_argument("--directory", default="/tmp/placement_gap")
    parser.add_argument("--time-limit", type=float, action="append")
    parser.add_argument("--exact-seconds", type=float, default=60.0)
    parser.add_argument("--exact-presolve", choices=("on", "off"), default="on",
                        help="HiGHS's presolve for the exact model (off: slower, see bound_gap._exact)")
    parser.add_argument("--optima", type=Path, help="an earlier run's output: its optima reused")
    parser.add_argument("--cpu-clock", action="store_true",
                        help="the solve's deadlines in this process's CPU seconds (HiGHS's too: clock.py)")
    arguments = parser.parse_args()
    if arguments.cpu_clock:
        time.monotonic = time.process_time  # (before fitlang is imported: every deadline reads it)
    from bound_gap import _exact

    known = {}
    if arguments.optima is not None:
        rows = [json.loads(line) for line in arguments.optima.read_text().splitlines() if line]
        known = {row["file"]: {k: v for k, v in row.items() if k.startswith("optimum")} for row in rows}
    for path in _fleets(arguments):
        problem = _problem(path)
        row: dict = {"file": path.name}
        if path.name in known:
            row.update(known[path.name])
        elif arguments.exact_seconds > 0:
            exact = _exact(problem, arguments.exact_seconds, arguments.exact_presolve == "on")
            row.update(optimum=exact["exact_cost"], optimum_status=exact["exact_status"],
                       optimum_bound=exact["exact_bound"], optimum_cpu=round(exact["exact_cpu"], 2))
        for limit in arguments.time_limit or [30.0]:
            found = _stages(problem, limit)
            optimum = row.get("optimum") if row.get("optimum_status") == "optimal" else None
            found["lost_at"] = _lost_at(optimum, found)
            row[f"fitc_{limit:g}s"] = found
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
