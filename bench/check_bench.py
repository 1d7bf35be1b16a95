"""Benchmark: `fitc check` on a generated policy (default 10,000 lines). Not a timed test.

    .venv/bin/python bench/check_bench.py [--lines 10000] [--runs 5]

Prints the median wall time of the whole command (process start included) and of the
in-process stages, so that parse and check can be told apart.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from gen_policy import generate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    arguments = parser.parse_args()

    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.syntax.parser import parse_source

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "big.fit"
        text = generate(arguments.lines)
        path.write_text(text)
        lines = text.count("\n")
        parse_times, check_times, cli_times = [], [], []
        for _ in range(arguments.runs):
            start = time.perf_counter()
            parsed = parse_source(text, str(path))
            parse_times.append(time.perf_counter() - start)
            assert not parsed.diagnostics
            start = time.perf_counter()
            gc.disable()  # as `fitc` runs it (fitlang/cli.py raises the collector's thresholds)
            result = check_file(path, Workspace())
            gc.enable()
            check_times.append(time.perf_counter() - start)
            assert not result.diagnostics, result.diagnostics[:3]
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "fitlang.cli", "check", str(path)])
            cli_times.append(time.perf_counter() - start)
            assert done.returncode == 0
    print("| policy lines | parse (median) | parse + check (median) | `fitc check` end to end (median) |")
    print("|---|---|---|---|")
    print(f"| {lines:,} | {statistics.median(parse_times):.3f} s | "
          f"{statistics.median(check_times):.3f} s | {statistics.median(cli_times):.3f} s |")


if __name__ == "__main__":
    main()
