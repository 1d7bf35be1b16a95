"""`fitc verify` of a plan at fleet scale (issue 18): how its time grows with nodes and waves.

    .venv/bin/python bench/plan_verify_bench.py                       # 1,000 and 10,000 nodes
    .venv/bin/python bench/plan_verify_bench.py --nodes 2000 --waves 5 10

One pool `old` of N nodes (8 cores, 0.40 USD/h) runs 2 replicas of 2 cores on each node, of
N / 10 workloads; pool `new` (N nodes, 0.30 USD/h) is empty. The plan (written here, not by
`fitc plan`: the planner is not what is timed) moves every replica of `old` node k to `new`
node k, the nodes in order, in W waves of equal size, each under the workloads'
`max_disrupted` (set to the most any wave moves). The plan is valid: `verify_plan` must find
nothing, and its CPU time is printed (process time: the machine is shared).
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.build import with_current  # noqa: E402
from fitlang.model.current import CurrentState, Running  # noqa: E402
from fitlang.solve.verify_plan import verify_plan  # noqa: E402

OLD, NEW = Fraction("0.40"), Fraction("0.30")


def policy(nodes: int, budget: int) -> str:
    text = "".join(f"pool {name} {{\n  count = {nodes}\n  cpu = 8\n  memory = 32GiB\n"
                   f"  price = {float(price):.2f} USD/h\n}}\n\n"
                   for name, price in (("old", OLD), ("new", NEW)))
    for index in range(nodes // 10):
        text += (f"workload w{index} {{\n  replicas = 20\n  cpu = 2\n  memory = 2GiB\n"
                 f"  max_disrupted = {budget}\n}}\n\n")
    return text + "policy {\n  min_saving = 0%\n}\n"


def running(nodes: int) -> list[tuple[str, int]]:
    """(workload, node number): workload w runs 2 replicas on each of nodes 10w .. 10w+9."""
    return [(f"w{node // 10}", node) for node in range(nodes) for _ in range(2)]


def plan(nodes: int, waves: int) -> dict:
    per_wave = math.ceil(nodes / waves)
    cost = OLD * nodes
    document_waves = []
    for number in range(waves):
        moved = range(number * per_wave, min(nodes, (number + 1) * per_wave))
        moves = [{"workload": f"w{k // 10}", "option": None, "replica": None, "kind": "move",
                  "source": f"old-{k}", "target": f"new-{k}"} for k in moved for _ in range(2)]
        cost += (NEW - OLD) * len(moved)
        document_waves.append({"number": number + 1, "stop_first": False, "moves": moves,
                               "drained": [f"old-{k}" for k in moved],
                               "cost_after": round(float(cost), 6), "saving": 0.0})
    return {"changes": True, "kept": False, "cost_before": float(OLD * nodes),
            "cost_after": float(NEW * nodes), "min_saving": 0.0, "buy": [], "stop": [],
            "waves": document_waves, "release": [], "moves": 2 * nodes, "least_moves": 2 * nodes,
            "status": "optimal", "diagnostics": []}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--waves", type=int, nargs="+", default=[1, 10])
    arguments = parser.parse_args()
    print("| nodes | replicas | waves | verify of the plan, CPU s | per wave, CPU s |")
    print("|---|---|---|---|---|")
    for nodes in arguments.nodes:
        for waves in arguments.waves:
            budget = math.ceil(math.ceil(nodes / waves) * 2)  # at most a wave's replicas
            with tempfile.TemporaryDirectory() as directory:
                path = Path(directory) / "p.fit"
                path.write_text(policy(nodes, budget))
                compilation = Compilation(path)
                program = compilation.check().program
                assert compilation.problem is not None
                state = CurrentState(running=tuple(Running(w, f"old-{k}") for w, k in running(nodes)))
                problem = with_current(compilation.problem, program, state)
                document = plan(nodes, waves)
                started = time.process_time()
                found, problems = verify_plan(problem, program, document, str(path))
                seconds = time.process_time() - started
            assert not problems and not found, (problems, [d.message for d in found[:3]])
            print(f"| {nodes:,} | {2 * nodes:,} | {waves} | {seconds:.2f} | {seconds / waves:.2f} |",
                  flush=True)


if __name__ == "__main__":
    main()
