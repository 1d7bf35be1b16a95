"""What the targets cost for recurring and preemptible jobs (issue 19, session 13): Slurm job
arrays and chained segment scripts, Kubernetes CronJobs or suspended Jobs, each with its
fidelity check, on a generated site.

    .venv/bin/python bench/recurring_targets.py                 # the sizes of docs/performance.md
    .venv/bin/python bench/recurring_targets.py --recurring 50 --preemptible 10 --nodes 40

A site of `--nodes` 32-CPU nodes over 7 days of hourly steps with a daily price curve; each
recurring job is released daily at its own hour (cron) and done within 8 h; each preemptible job
runs 6 h in segments of at least 2 h before its deadline. CPU seconds of the solve, then per
target of `problems` + `render` and of `fidelity`, and how many files and CronJobs. CPU time,
not wall time: the machine is shared. Not a test: numbers go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fitlang.driver import Compilation  # noqa: E402
from fitlang.targets import TARGETS, CompileContext  # noqa: E402

PRICES = [0.30] * 6 + [0.20] * 6 + [0.10] * 6 + [0.25] * 6  # USD/kWh by hour of day


def generate(recurring: int, preemptible: int, nodes: int) -> str:
    hourly = ", ".join(f"{p:.2f} USD/kWh" for p in PRICES)
    out = [f"pool site {{\n  count = {nodes}\n  cpu = 32\n  memory = 128GiB\n  price = 1 USD/h\n"
           "  power = 1kW\n}\n", f"electricity grid {{\n  hourly = [{hourly}]\n}}\n"]
    for index in range(recurring):
        out.append(f"workload daily{index} {{\n  kind = job\n  replicas = 1\n  cpu = 8\n"
                   f"  memory = 16GiB\n  duration = 2h\n  every = \"0 {index % 24} * * *\"\n"
                   f"  within = 8h\n  image = \"img\"\n  command = [\"run\", \"{index}\"]\n}}\n")
    for index in range(preemptible):
        out.append(f"workload ckpt{index} {{\n  kind = job\n  replicas = 1\n  cpu = 8\n"
                   f"  memory = 16GiB\n  duration = 6h\n  deadline = {24 + 6 * (index % 8)}h\n"
                   "  preemptible = true\n  min_segment = 2h\n  image = \"img\"\n"
                   f"  command = [\"train\", \"{index}\"]\n}}\n")
    out.append('policy {\n  objective = cost\n  horizon = 7d\n  step = 1h\n'
               '  start = "2027-03-01T00:00Z"\n}\n')
    return "\n".join(out)


def cpu(work):
    began = time.process_time()
    result = work()
    return result, time.process_time() - began


def row(recurring: int, preemptible: int, nodes: int, folder: Path, time_limit: float) -> list[str]:
    path = folder / f"site-{recurring}-{preemptible}-{nodes}.fit"
    path.write_text(generate(recurring, preemptible, nodes))
    compilation = Compilation(path)
    placement, solve_s = cpu(lambda: compilation.solve("auto", time_limit))
    program = compilation.check().program
    context = CompileContext(program, compilation.problem, placement)
    rows = []
    for name in ("slurm", "kubernetes"):
        target = TARGETS[name]()
        files, render_s = cpu(lambda t=target: (t.problems(context), t.render(context))[1])
        found, fidelity_s = cpu(lambda t=target, f=files: t.fidelity(context, f))
        crons = sum(text.count("kind: CronJob") for text in files.values())
        rows.append(f"| {recurring} + {preemptible} on {nodes} | {placement.status} | {solve_s:.1f} "
                    f"| {name} | {render_s:.2f} | {fidelity_s:.2f} | {len(files)} | {crons} "
                    f"| {len(found)} |")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recurring", type=int, action="append")
    parser.add_argument("--preemptible", type=int, default=None)
    parser.add_argument("--nodes", type=int, default=None)
    parser.add_argument("--time-limit", type=float, default=60)
    arguments = parser.parse_args()
    sizes = [(r, arguments.preemptible or 2, arguments.nodes or 10) for r in arguments.recurring] \
        if arguments.recurring else [(10, 2, 10), (50, 5, 20), (200, 10, 60)]
    print("| recurring + preemptible jobs | status | solve CPU s | target | problems + render CPU s "
          "| fidelity CPU s | files | CronJobs | fidelity findings |")
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as directory:
        for recurring, preemptible, nodes in sizes:
            for line in row(recurring, preemptible, nodes, Path(directory), arguments.time_limit):
                print(line, flush=True)


if __name__ == "__main__":
    main()
