"""How long `fitc verify` takes on bench fleets, and against an older verify.

    .venv/bin/python bench/verify_bench.py                      # 10,000 and 50,000 nodes
    .venv/bin/python bench/verify_bench.py --against HEAD~5     # also time verify.py of a revision

For each size: the fleet of `fleet.py` (nodes / 10 workloads, seed 1) is checked, built and
solved once; then `verify()` is timed (median of `--repeat` runs, in process, the build
excluded) on fitc's own placement, against the policy as generated and against the same policy
with `exclusive = true` on its first workload (one anti-affinity rule per other workload: the
shape that made verify quadratic), and `fitc verify` end to end once (parse, check, build,
read the JSON, verify). Times are CPU seconds (the machine is shared; wall time measures the
neighbours too). Prints a markdown table for docs/performance.md. Not a test.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(Path(__file__).resolve().parent))
from fleet import generate  # noqa: E402

from fitlang.check.checker import check_file  # noqa: E402
from fitlang.check.loader import Workspace  # noqa: E402
from fitlang.model.build import build_problem  # noqa: E402
from fitlang.solve.placement import solve  # noqa: E402
from fitlang.solve.report import as_json  # noqa: E402
from fitlang.solve.verify import verify  # noqa: E402


def _problem(path: Path):
    result = check_file(path, Workspace())
    assert not result.has_errors, [d.message for d in result.diagnostics[:3]]
    return build_problem(result.program).problem


def _old_verify(revision: str):
    """`verify` as it was at `revision` (read with git show), to compare."""
    text = subprocess.run(["git", "show", f"{revision}:fitlang/solve/verify.py"], cwd=ROOT,
                          capture_output=True, text=True, check=True).stdout
    path = Path(tempfile.mkdtemp()) / "old_verify.py"
    path.write_text(text)
    spec = importlib.util.spec_from_file_location("old_verify", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["old_verify"] = module
    spec.loader.exec_module(module)
    return module.verify


def _timed(function, problem, document, repeat: int) -> tuple[float, int]:
    """Median CPU seconds of the process (on a shared machine, wall time mostly measures the
    neighbours), and the violations found."""
    times, found = [], 0
    for _ in range(repeat):
        started = time.process_time()
        violations, problems = function(problem, document)
        times.append(time.process_time() - started)
        found = len(violations) + len(problems)
    return statistics.median(times), found


def _exclusive(policy: str) -> str:
    """The policy with `exclusive = true` on its first workload."""
    head, marker, rest = policy.partition("\nworkload ")
    name, brace, body = rest.partition("{\n")
    return f"{head}{marker}{name}{brace}  exclusive = true\n{body}"


def run(nodes: int, repeat: int, old, directory: Path) -> list[str]:
    fleet = generate(nodes, nodes // 10, seed=1)
    plain = fleet.write(directory, f"fleet{nodes}")
    problem = _problem(plain)
    started = time.perf_counter()
    placement = solve(problem)
    solved = time.perf_counter() - started
    text = as_json(problem, placement, [])
    placement_path = directory / f"fleet{nodes}.json"
    placement_path.write_text(text)
    document = json.loads(text)
    replicas = len(document["assignments"])
    exclusive_path = directory / f"fleet{nodes}-exclusive.fit"
    exclusive_path.write_text(_exclusive(plain.read_text()))
    rows = []
    for label, path in (("as generated", plain), ("+ exclusive", exclusive_path)):
        this = problem if path == plain else _problem(path)
        seconds, found = _timed(verify, this, document, repeat)
        before = "n/a"
        if old is not None:
            old_seconds, _ = _timed(old, this, document, 1 if nodes > 10_000 else repeat)
            before = f"{old_seconds:.2f} s"
        end_to_end = "n/a"
        if label == "as generated":
            child = resource.getrusage(resource.RUSAGE_CHILDREN)
            subprocess.run([sys.executable, "-m", "fitlang.cli", "verify", str(path),
                            str(placement_path)], capture_output=True, check=False)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = after.ru_utime + after.ru_stime - child.ru_utime - child.ru_stime
            end_to_end = f"{cpu:.2f} s"
        rows.append(f"| {nodes:,} | {replicas:,} | {label} | {before} | {seconds:.3f} s | "
                    f"{found} | {end_to_end} | {solved:.1f} s ({placement.status}) |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 50_000])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--against", metavar="REVISION", help="also time verify.py of this revision")
    arguments = parser.parse_args()
    gc.freeze()  # as `fitc` itself runs (fitlang/cli.py): the collector tuned for long-lived data
    gc.set_threshold(200_000, 50, 1000)
    old = _old_verify(arguments.against) if arguments.against else None
    print("| nodes | replicas placed | policy | verify before | verify now (median) | violations "
          "| `fitc verify` end to end | fitc solve (wall) |")
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for nodes in arguments.sizes:
            for row in run(nodes, arguments.repeat, old, Path(directory)):
                print(row, flush=True)


if __name__ == "__main__":
    main()
