"""What the output side of placing work in time costs (issue 19): the text timeline, the plot,
and `explain` of a schedule that cannot exist, on `bench/timing.py`'s generated sites.

    .venv/bin/python bench/time_output.py                     # the sizes of docs/performance.md
    .venv/bin/python bench/time_output.py --jobs 200 --steps 168 --nodes 100

For a feasible site: CPU seconds of the solve, of `fitc solve`'s text report and of the plot
(SVG and PNG, with their sizes). For an infeasible one (the same jobs on a tenth of the nodes):
CPU seconds to find the window that lacks capacity (`explain_time.find_conflict`) and of the
whole explanation with its repairs (each a solve in time), and what it says. CPU time, not
wall time: the machine is shared. Not a test: numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing import generate  # noqa: E402

from fitlang.driver import Compilation  # noqa: E402


def cpu(work):
    began = time.process_time()
    result = work()
    return result, time.process_time() - began


def compiled(jobs: int, steps: int, nodes: int, seed: int, folder: Path) -> Compilation:
    text = generate(jobs, steps, nodes, seed)[0]
    path = folder / f"site-{jobs}-{steps}-{nodes}.fit"
    path.write_text(text)
    compilation = Compilation(path)
    assert compilation.problem is not None, [d.message for d in compilation.diagnostics()]
    return compilation


def output_row(jobs: int, steps: int, nodes: int, seed: int, time_limit: float, folder: Path) -> str:
    from fitlang.solve.report import as_text
    from fitlang.solve.timeline_plot import render

    compilation = compiled(jobs, steps, nodes, seed, folder)
    problem = compilation.problem
    assert problem is not None
    placement, solve_s = cpu(lambda: compilation.solve("auto", time_limit))
    _, text_s = cpu(lambda: as_text(problem, placement))
    svg, svg_s = cpu(lambda: render(problem, placement, ".svg"))
    png, png_s = cpu(lambda: render(problem, placement, ".png"))
    return (f"| {jobs} x {steps} x {nodes} | {placement.status} | {solve_s:.1f} | {text_s:.2f} | "
            f"{svg_s:.2f} ({len(svg) // 1024} KiB) | {png_s:.2f} ({len(png) // 1024} KiB) |")


def explain_row(jobs: int, steps: int, nodes: int, seed: int, folder: Path) -> str:
    from fitlang.solve.explain_time import explain_in_time, find_conflict

    compilation = compiled(jobs, steps, nodes, seed, folder)
    problem = compilation.problem
    assert problem is not None
    conflict, find_s = cpu(lambda: find_conflict(problem))
    diagnostic, whole_s = cpu(lambda: explain_in_time(problem, str(compilation.root_path)))
    said = diagnostic.message if conflict is not None else "no window lacks capacity"
    return f"| {jobs} x {steps} x {nodes} | {find_s:.2f} | {whole_s:.1f} | {diagnostic.code}: {said} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--steps", type=int, default=168)
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=60)
    arguments = parser.parse_args()
    sizes = [(arguments.jobs, arguments.steps, arguments.nodes)] if arguments.jobs else \
        [(20, 48, 20), (200, 168, 100), (1000, 168, 1000)]
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        print("| jobs x steps x nodes | status | solve CPU s | text CPU s | SVG CPU s (size) "
              "| PNG CPU s (size) |")
        print("|---|---|---|---|---|---|")
        for jobs, steps, nodes in sizes:
            print(output_row(jobs, steps, nodes, arguments.seed, arguments.time_limit, folder), flush=True)
        print()
        print("| jobs x steps x nodes (a tenth of the nodes) | find the window CPU s "
              "| explain with repairs CPU s | says |")
        print("|---|---|---|---|")
        for jobs, steps, nodes in sizes:
            print(explain_row(jobs, steps, max(3, nodes // 10), arguments.seed, folder), flush=True)


if __name__ == "__main__":
    main()
