"""Scale benchmark: generate fleets (seeded), run `fitc solve`, compare with baselines.

    .venv/bin/python bench/run.py --quick          # 1,000- and 10,000-node rows, every shape
    .venv/bin/python bench/run.py                  # adds 50,000 nodes
    .venv/bin/python bench/run.py --shape inventory --size 10000:1000
    .venv/bin/python bench/run.py --shape inventory --size 10000:1000 --seed 10 --seed 11

`--seed`: instances other than each shape's default one (the seeds the solver was measured and
tuned on: fleet.py 1, inventory 7, breaker 11), so that a row's gap can be checked on fleets no
one has looked at before (session 29: inventory 10,000 at 5 s was 1.02-1.31% on seeds 7-9 and
1.38-3.91% on the fresh seeds 10-13).

Shapes: `bench` (fleet.py: 20 node classes over 3 zones), `inventory` (inventories.py: many
small pools of heterogeneous sizes, kubectl inventories with jitter, every rule kind) and
`breaker` (inventories.py: meant to break the solver). The baselines other than greedy run on
the `bench` shape only (they build fitc's model, which on the other shapes is what is slow).

Needs the `bench` extra for CP-SAT (`pip install -e ".[bench]"`). Prints two markdown tables:
fitc itself (size, parse+check, `fitc solve` end to end, peak memory, cost, proven lower
bound, gap, `fitc verify`, and how it compares with greedy first-fit), and the baselines
from `baselines.py` on the same instances, each with its time, cost, bound and gap, and the
ratio of fitc's placement time (in process, as the baselines run) to CP-SAT's. Not a test: numbers go to
docs/performance.md.
"""

from __future__ import annotations

import argparse
import compileall
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baselines
import inventories
from fleet import generate

SHAPES = {"bench": generate, "inventory": inventories.generate, "breaker": inventories.breaker}

SIZES = [(1_000, 100), (10_000, 1_000), (50_000, 5_000)]


def compile_package() -> None:
    """fitlang's byte-code, compiled before anything is timed, as an installed fitc has it (pip
    compiles a wheel's modules when it installs them). This machine sets
    PYTHONDONTWRITEBYTECODE, so without this every child compiled every fitlang module at its
    start: ~0.4 CPU s of each run (`fitc solve` on a small example: 0.9 -> 0.5 CPU s)."""
    import fitlang

    compileall.compile_dir(str(Path(fitlang.__file__).parent), quiet=1)


def timed_child(arguments: list[str]) -> tuple[subprocess.CompletedProcess, float, float | None]:
    """Run a child; (result, wall seconds, its own peak memory in MB).

    The peak comes from GNU time: Linux carries a forked process's high-water mark across
    exec, so `wait4` from this (large) process would report our own memory, not the child's.
    """
    timer = shutil.which("time") or ("/usr/bin/time" if Path("/usr/bin/time").exists() else None)
    with tempfile.NamedTemporaryFile("r") as peak_file:
        prefix = [timer, "-f", "%M", "-o", peak_file.name] if timer else []
        started = time.perf_counter()
        result = subprocess.run(prefix + arguments, capture_output=True, text=True)
        wall = time.perf_counter() - started
        peak = peak_file.read().strip().splitlines()
    return result, wall, int(peak[-1]) / 1024 if timer and peak else None


def run_row(shape: str, nodes: int, workloads: int, directory: Path, time_limit: float,
            baseline_limit: float, seed: int | None = None) -> dict:
    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem
    from fitlang.solve.placement import solve

    seeded = {} if seed is None else {"seed": seed}
    path = SHAPES[shape](nodes, workloads, **seeded).write(directory, f"{shape}-{nodes}-{seed}")
    started = time.perf_counter()
    program = check_file(path).program
    problem = build_problem(program).problem
    parse = time.perf_counter() - started
    done, wall, peak = timed_child([sys.executable, "-m", "fitlang.cli", "solve", str(path),
                                    "--format", "json", "--time-limit", str(time_limit)])
    document = json.loads(done.stdout)
    placement = directory / f"placement-{shape}-{nodes}-{seed}.json"
    placement.write_text(done.stdout)
    started = time.perf_counter()
    verified = subprocess.run([sys.executable, "-m", "fitlang.cli", "verify", str(path), str(placement)],
                              capture_output=True, text=True).returncode == 0
    verify_seconds = time.perf_counter() - started
    objective = document["objective"]
    value, bound = objective["value"], objective["lower_bound"]
    fitc = baselines.Result(wall, document["status"], value, bound)
    greedy, greedy_unplaced = baselines.greedy(problem)
    row = {"shape": shape if seed is None else f"{shape} (seed {seed})", "nodes": nodes,
           "workloads": workloads, "classes": len(problem.classes),
           "replicas": sum(d.replicas for d in problem.demands), "parse": parse,
           "peak_mb": peak, "verified": verified, "verify_seconds": verify_seconds,
           "unplaced": len(document["unplaced"]), "fitc": fitc, "greedy": float(greedy),
           "greedy_unplaced": greedy_unplaced}
    if shape != "bench":
        return row
    import highspy  # noqa: F401  (imported before the clock starts, as for the baselines)
    started = time.perf_counter()
    solve(problem, time_limit=time_limit)  # in process, as the baselines run: no start-up, no I/O
    in_process = time.perf_counter() - started
    gap = max(fitc.gap or 0.0, 1e-4)  # CP-SAT and Z3 are asked for the gap fitc reached
    return {**row, "in_process": in_process,
            "cp_sat": baselines.cp_sat(problem, gap, baseline_limit),
            "z3_optimize": baselines.z3_optimize(problem, baseline_limit),
            "z3_bisection": baselines.z3_bisection(problem, gap, baseline_limit),
            "highs_whole": baselines.highs_whole(problem, gap, baseline_limit)}


def _shown(number: float | None, fmt: str) -> str:
    return "n/a" if number is None else format(number, fmt)


def _cell(result: baselines.Result) -> str:
    if result.value is None:
        return f"{result.status} in {result.seconds:.1f} s"
    return (f"{result.seconds:.1f} s, {result.value:.2f} (bound {_shown(result.bound, '.2f')}, "
            f"gap {_shown(result.gap, '.2%')})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="only the 1,000- and 10,000-node rows")
    parser.add_argument("--size", action="append", metavar="NODES:WORKLOADS", default=[],
                        help="a row of this size instead of the standard ones (repeatable)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="for fitc solve")
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES), default=[],
                        help="fleet shapes to run (repeatable; default: all three)")
    parser.add_argument("--seed", action="append", type=int, default=[],
                        help="generate with this seed instead of the shape's own (repeatable)")
    parser.add_argument("--baseline-limit", type=float, default=None,
                        help="seconds per baseline solver (default 4 with --quick, else 60)")
    arguments = parser.parse_args()
    sizes = SIZES[:2] if arguments.quick else SIZES
    if arguments.size:
        sizes = [tuple(int(n) for n in size.split(":")) for size in arguments.size]
    shapes = arguments.shape or list(SHAPES)
    limit = arguments.baseline_limit or (4.0 if arguments.quick else 60.0)
    rows = []
    compile_package()
    with tempfile.TemporaryDirectory() as directory:
        for shape in shapes:
            for nodes, workloads in sizes:
                for seed in arguments.seed or [None]:
                    rows.append(run_row(shape, nodes, workloads, Path(directory), arguments.time_limit,
                                        limit, seed))
                    print(f"row {shape} {nodes:,} seed {seed} done", file=sys.stderr, flush=True)
    print("| shape | nodes | workloads | classes | replicas | parse+check | fitc solve (end to end) "
          "| peak MB | status | cost USD/h | lower bound | gap | unplaced | verify | greedy FFD "
          "| fitc vs greedy |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        fitc = row["fitc"]
        saving = "n/a" if fitc.value is None or not row["greedy"] else \
            f"{(row['greedy'] - fitc.value) / row['greedy']:.1%} cheaper"
        print(f"| {row['shape']} | {row['nodes']:,} | {row['workloads']:,} | {row['classes']:,} "
              f"| {row['replicas']:,} | {row['parse']:.2f} s "
              f"| {fitc.seconds:.1f} s | {_shown(row['peak_mb'], '.0f')} | {fitc.status} "
              f"| {_shown(fitc.value, '.2f')} "
              f"| {_shown(fitc.bound, '.2f')} | {_shown(fitc.gap, '.2%')} | {row['unplaced']} "
              f"| {'yes' if row['verified'] else 'NO'} ({row['verify_seconds']:.1f} s) "
              f"| {row['greedy']:.2f} ({row['greedy_unplaced']} unplaced) | {saving} |")
    rows = [row for row in rows if "cp_sat" in row]
    if not rows:
        return
    print()
    print(f"Baselines on the same instances ({limit:.0f} s each; CP-SAT, Z3 and HiGHS-whole asked "
          "for the gap fitc reached):")
    print()
    print("| nodes | fitc placement, in process | CP-SAT, 2 workers | fitc / CP-SAT time | z3.Optimize "
          "| Z3 bisection | HiGHS, whole replica counts |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        cp = row["cp_sat"]
        ratio = f"{row['in_process'] / cp.seconds:.2f}" if cp.value is not None and cp.gap is not None \
            and cp.gap <= max(row["fitc"].gap or 0, 1e-4) else "CP-SAT did not reach the gap"
        print(f"| {row['nodes']:,} | {row['in_process']:.1f} s | {_cell(cp)} | {ratio} "
              f"| {_cell(row['z3_optimize'])} | {_cell(row['z3_bisection'])} | {_cell(row['highs_whole'])} |")


if __name__ == "__main__":
    main()
