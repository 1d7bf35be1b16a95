"""Issue 15, the inventory shape at 10,000 nodes: could a zone's CPU nodes be re-placed toward the
LP's class counts for less? An offline study, in process; not a test (the numbers go to
docs/performance.md, session 44, h44b).

    .venv/bin/python bench/zone_packing.py FILE ANSWER.json [--seconds S]

Per zone, the answer's replicas on its paid nodes without accelerators (per workload, kept in
the zone: its zone spreads and zone rules hold) are re-placed over the zone's paid classes
without accelerators, three ways:

- *LP*: replicas per (workload, class) and nodes per class fractional, capacity summed per
  class (the pair LP's terms, cut to one zone);
- *MIP*: the same in integers, with each workload's per-node limit as a cut (a class's nodes
  hold at most `node_limit` x its nodes of the workload), HiGHS for S seconds: its dual bound
  is a lower bound on any re-placement of those replicas within the zone;
- *packed*: the MIP's counts packed node by node, first-fit decreasing by CPU, each class
  alone, per-node limits kept (rules between workloads on a node ignored: it can only be
  cheaper than a real packing of those counts).

Where *packed* is above the answer, rounding the relaxation's counts and packing them loses to
what the search already has; where the MIP's bound is close to the answer, nothing much is left
in that zone whatever the move.

Written apart from fitc's placement code: it reads the problem, the answer's assignments and
scipy's HiGHS, nothing else.
"""

from __future__ import annotations

import argparse
import collections
import json

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

RESOURCES = ("cpu", "memory")
# capacity rows in cores and GiB: in millicores and bytes (1e10 beside 1) HiGHS called one zone's LP
# unbounded (seed 11, eu-central-1a)
SCALE = {"cpu": 1e3, "memory": 2.0 ** 30}


def _problem(path: str):
    from fitlang.cli import compilation_of
    from fitlang.model.build import build_problem

    result = compilation_of(path).check()
    assert not result.has_errors, result.diagnostics[:3]
    return build_problem(result.program).problem


def _paid_cpu(node_class) -> bool:
    return node_class.price > 0 and not node_class.capacity.get("gpu")


def _kept(problem, answer: dict) -> tuple[dict, dict]:
    """Per zone: the replicas of each workload on paid CPU-only nodes, and what those nodes cost."""
    node_class = {name: c for c in problem.classes for name in c.node_names[:c.count]}
    names = {d.name for d in problem.demands}
    replicas: dict = collections.defaultdict(collections.Counter)
    opened: dict = collections.defaultdict(set)
    for assignment in answer["assignments"]:
        found = node_class[assignment["node"]]
        if _paid_cpu(found) and assignment["workload"] in names:
            replicas[found.zone][assignment["workload"]] += 1
            opened[found.zone].add(assignment["node"])
    cost = {zone: sum(float(node_class[name].price) for name in nodes) for zone, nodes in opened.items()}
    return replicas, cost


def _program(problem, counts: collections.Counter, classes: list):
    """The zone's program: columns are the (workload, class) pairs, then the nodes per class."""
    from fitlang.model.problem import node_limit

    demand = {d.name: d for d in problem.demands}
    workloads = sorted(counts)
    position = {c.id: j for j, c in enumerate(classes)}
    pairs = [(i, position[e]) for i, w in enumerate(workloads) for e in demand[w].eligible if e in position]
    columns, width = len(pairs), len(pairs) + len(classes)
    rows, cols, values, lower, upper = [], [], [], [], []

    def put(row: int, col: int, value: float) -> None:
        rows.append(row)
        cols.append(col)
        values.append(value)

    for k, (i, _) in enumerate(pairs):  # each workload's replicas, all placed in the zone
        put(i, k, 1)
    lower += [counts[w] for w in workloads]
    upper += [counts[w] for w in workloads]
    row = len(workloads)
    for r, resource in enumerate(RESOURCES):  # capacity summed per class
        unit = SCALE[resource]
        for k, (i, j) in enumerate(pairs):
            put(row + j * len(RESOURCES) + r, k, demand[workloads[i]].requests.get(resource, 0) / unit)
        for j, node_class in enumerate(classes):
            put(row + j * len(RESOURCES) + r, columns + j, -node_class.capacity.get(resource, 0) / unit)
    lower += [-np.inf] * (len(classes) * len(RESOURCES))
    upper += [0] * (len(classes) * len(RESOURCES))
    row += len(classes) * len(RESOURCES)
    for k, (i, j) in enumerate(pairs):  # the per-node limit, as a cut
        put(row + k, k, 1)
        put(row + k, columns + j, -min(node_limit(demand[workloads[i]], classes[j]), counts[workloads[i]]))
    lower += [-np.inf] * columns
    upper += [0] * columns
    matrix = coo_matrix((values, (rows, cols)), shape=(len(lower), width)).tocsr()
    cost = np.concatenate([np.zeros(columns), [float(c.price) for c in classes]])
    most = np.concatenate([np.full(columns, np.inf), [min(c.count, len(c.node_names)) for c in classes]])
    return workloads, pairs, cost, LinearConstraint(matrix, lower, upper), Bounds(np.zeros(width), most)


def _packed(problem, workloads, pairs, classes, x) -> float:
    """The MIP's counts packed first-fit decreasing by CPU, class by class, per-node limits kept."""
    from fitlang.model.problem import node_limit

    demand = {d.name: d for d in problem.demands}
    cost = 0.0
    for j, node_class in enumerate(classes):
        items = [workloads[i] for k, (i, jj) in enumerate(pairs) if jj == j for _ in range(round(x[k]))]
        items.sort(key=lambda w: -demand[w].requests["cpu"])
        nodes: list[list] = []  # free cpu, free memory, replicas per workload
        for w in items:
            asked, most = demand[w].requests, node_limit(demand[w], node_class)
            node = next((n for n in nodes
                         if n[0] >= asked["cpu"] and n[1] >= asked["memory"] and n[2][w] < most), None)
            if node is None:
                node = [node_class.capacity["cpu"], node_class.capacity["memory"], collections.Counter()]
                nodes.append(node)
            node[0] -= asked["cpu"]
            node[1] -= asked["memory"]
            node[2][w] += 1
        cost += len(nodes) * float(node_class.price)
    return cost


def study(path: str, answer_path: str, seconds: float) -> None:
    problem = _problem(path)
    with open(answer_path) as handle:
        answer = json.load(handle)
    replicas, paid = _kept(problem, answer)
    totals = collections.Counter()
    print(f"{path} {answer_path}: paid CPU-only nodes per zone, answer / LP / MIP (bound) / MIP packed")
    for zone in sorted(replicas, key=str):
        classes = [c for c in problem.classes if c.zone == zone and _paid_cpu(c)]
        workloads, pairs, cost, rows, bounds = _program(problem, replicas[zone], classes)
        relaxed = milp(cost, constraints=rows, integrality=np.zeros(len(cost)), bounds=bounds)
        whole = milp(cost, constraints=rows, integrality=np.ones(len(cost)), bounds=bounds,
                     options={"time_limit": seconds, "mip_rel_gap": 1e-4})
        if relaxed.x is None or whole.x is None:
            print(f"  {zone}: no solution ({relaxed.message} / {whole.message})")
            continue
        bound = float(getattr(whole, "mip_dual_bound", whole.fun))
        packed = _packed(problem, workloads, pairs, classes, whole.x)
        for key, value in (("answer", paid[zone]), ("LP", relaxed.fun), ("MIP", whole.fun), ("bound", bound),
                           ("packed", packed)):
            totals[key] += value
        print(f"  {zone}: {len(workloads)} workloads, {len(classes)} classes: answer {paid[zone]:.2f}, "
              f"LP {relaxed.fun:.2f}, MIP {whole.fun:.2f} (bound {bound:.2f}), packed {packed:.2f}")
    print("  every zone: " + ", ".join(f"{key} {value:.2f}" for key, value in totals.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("answer")
    parser.add_argument("--seconds", type=float, default=5.0, help="HiGHS's time limit per zone's MIP")
    args = parser.parse_args()
    study(args.file, args.answer, args.seconds)


if __name__ == "__main__":
    main()
