"""`fitc plan` against Karpenter-style consolidation, one node at a time (issue 18).

    .venv/bin/python bench/move_bench.py                      # 200 nodes, 3 seeds
    .venv/bin/python bench/move_bench.py --nodes 1000 --seeds 1

A fleet of three pools of alike nodes (8 cores, 32 GiB; 0.40, 0.34 and 0.30 USD/h), 40
workloads of 1-4 cores, and what runs now: after demand dropped, each replica on a random node
with room (so nodes run a third full on average). Both start from that state:

- `fitc plan` (`make_plan`: the move objective `[cost, moves]`, the waves checked by verify);
- the baseline, as Karpenter's single-node consolidation deletes nodes: repeatedly, the node
  in use with the fewest replicas (then the dearest) whose replicas all fit on the other nodes
  in use (first fit, cores and memory) is emptied, its replicas moved there; until no node can
  be. It never moves a replica to an empty node, so never replaces a dear node with a cheaper
  one (Karpenter's replacement needs a new node launched: with alike offers, as here, it
  would not launch one).

Printed per seed: cost before, cost after and moves for each, the plan's least moves, and the
plan's wall time (the machine is shared: medians over seeds). Not a test.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fitlang.driver import Compilation  # noqa: E402
from fitlang.plan import make_plan  # noqa: E402

POOLS = (("a", "0.40"), ("b", "0.34"), ("c", "0.30"))
CORES, MEMORY_GIB = 8, 32


def fleet(nodes: int, seed: int) -> tuple[str, dict, dict[str, tuple[int, int]]]:
    """The policy text, the state (placement JSON) and each workload's (cores, GiB)."""
    rng = random.Random(seed)
    per_pool = nodes // len(POOLS)
    text = ""
    for name, price in POOLS:
        text += (f"pool {name} {{\n  count = {per_pool}\n  cpu = {CORES}\n  memory = {MEMORY_GIB}GiB\n"
                 f"  price = {price} USD/h\n}}\n\n")
    names = [f"{name}-{i}" for name, _ in POOLS for i in range(per_pool)]
    free = {n: [CORES, MEMORY_GIB] for n in names}
    shapes: dict[str, tuple[int, int]] = {}
    assignments = []
    budget = CORES * len(names) // 3  # the cores that run now: a third of the fleet
    workloads = 40
    for index in range(workloads):
        cores, gib = rng.randint(1, 4), rng.randint(1, 8)
        replicas = max(1, budget // workloads // cores)
        name = f"w{index}"
        shapes[name] = (cores, gib)
        text += (f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cores}\n"
                 f"  memory = {gib}GiB\n}}\n\n")
        for replica in range(replicas):
            node = rng.choice([n for n in names if free[n][0] >= cores and free[n][1] >= gib])
            free[node][0] -= cores
            free[node][1] -= gib
            assignments.append({"workload": name, "replica": replica, "node": node})
    text += "policy {\n  objective = [cost, moves]\n  min_saving = 0%\n}\n"
    return text, {"assignments": assignments}, shapes


def price_of(node: str) -> Fraction:
    return Fraction(dict(POOLS)[node.split("-")[0]])


def one_node_at_a_time(state: dict, shapes: dict[str, tuple[int, int]]) -> tuple[Fraction, int]:
    """Karpenter-style deletion (see the module's docstring): (cost after, replicas moved)."""
    hosted: dict[str, list[str]] = {}
    for item in state["assignments"]:
        hosted.setdefault(item["node"], []).append(item["workload"])
    moves = 0
    while True:
        order = sorted(hosted, key=lambda n: (len(hosted[n]), -price_of(n), n))
        for node in order:
            room = {n: [CORES - sum(shapes[w][0] for w in ws), MEMORY_GIB - sum(shapes[w][1] for w in ws)]
                    for n, ws in hosted.items() if n != node}
            moved = {}
            for workload in sorted(hosted[node], key=lambda w: -shapes[w][0]):
                cores, gib = shapes[workload]
                target = next((n for n in sorted(room) if room[n][0] >= cores and room[n][1] >= gib), None)
                if target is None:
                    break
                room[target][0] -= cores
                room[target][1] -= gib
                moved.setdefault(target, []).append(workload)
            else:
                for target, workloads in moved.items():
                    hosted[target] += workloads
                moves += len(hosted.pop(node))
                break
        else:
            return sum((price_of(n) for n in hosted), Fraction(0)), moves


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=201)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-limit", type=float, default=60.0)
    arguments = parser.parse_args()
    seconds = []
    for seed in range(arguments.seeds):
        text, state, shapes = fleet(arguments.nodes, seed)
        with tempfile.TemporaryDirectory() as directory:
            policy, current = Path(directory) / "p.fit", Path(directory) / "now.json"
            policy.write_text(text)
            current.write_text(json.dumps(state))
            started = time.monotonic()
            compilation = Compilation(policy, current=str(current))
            result = make_plan(compilation, compilation.current_state(), arguments.time_limit)
            seconds.append(time.monotonic() - started)
        plan = result.plan
        assert plan is not None, [d.message for d in result.diagnostics]
        greedy_cost, greedy_moves = one_node_at_a_time(state, shapes)
        print(f"seed {seed}: {len(state['assignments'])} replicas on {arguments.nodes} nodes, "
              f"{float(plan.cost_before):.2f} USD/h now | plan {float(plan.cost_after):.2f} USD/h, "
              f"{plan.moves} moves (least {plan.least_moves}), {len(plan.waves)} waves, "
              f"{seconds[-1]:.1f} s, {result.status} | one node at a time "
              f"{float(greedy_cost):.2f} USD/h, {greedy_moves} moves")
    print(f"plan wall time, median of {len(seconds)}: {statistics.median(seconds):.1f} s")


if __name__ == "__main__":
    main()
