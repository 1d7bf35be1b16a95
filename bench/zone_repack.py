"""Issue 15, the inventory shape at 10,000 nodes: each zone's CPU replicas packed exactly on whole
nodes, offline; the answer rewritten zone by zone where cheaper (numbers: docs/performance.md,
session 45, h45b). Not a test.

    PYTHONPATH=.:bench .venv/bin/python bench/zone_repack.py FILE ANSWER.json OUT.json SECONDS

Per zone, the answer's replicas on paid CPU-only nodes (kept in the zone, as `zone_packing.py`)
go into a per-node MIP over candidate nodes: per class the usable count LP's node count rounded
up plus one (`zone_patterns._usable`), and the answer's own opened nodes (so the answer is one of
its points); each node open or not, replicas per (workload, node) whole up to the per-node limit,
CPU and memory per node, a class's nodes opened in order. HiGHS for SECONDS of wall a zone; where
its packing is cheaper than the answer's, it replaces the zone's, and OUT.json is written after
each zone (check it with `fitc verify FILE OUT.json`). The MIP's bound is over its candidates
only, not a bound on the zone.
"""

from __future__ import annotations

import collections
import json
import math
import sys

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix
from zone_packing import _kept, _paid_cpu, _problem, _program
from zone_patterns import _usable

# rows in MiB of memory (bytes beside millicores: 1e10 against 1e4)
MEMORY_UNIT = 2.0 ** 20


def _candidates(problem, counts, classes, opened: set[str]) -> tuple[list, float]:
    """The nodes the zone's MIP may open, and the usable count LP's value."""
    _, pairs, cost, rows, bounds = _program(problem, counts, _usable(problem, counts, classes))
    relaxed = milp(cost, constraints=rows, integrality=np.zeros(len(cost)), bounds=bounds)
    nodes_per_class = relaxed.x[len(pairs):]
    nodes = []
    for j, node_class in enumerate(classes):
        names = node_class.node_names[:node_class.count]
        take = min(len(names), math.ceil(nodes_per_class[j] - 1e-6) + 1) if nodes_per_class[j] > 0.01 else 0
        nodes += [(node_class, name) for name in names[:take]]
        nodes += [(node_class, name) for name in names[take:] if name in opened]
    return nodes, float(relaxed.fun)


def _pack(problem, counts, nodes, seconds: float):
    """The zone's per-node MIP: (HiGHS's result, its columns (workload, node position))."""
    cost, rows, bounds, columns = per_node_program(problem, counts, nodes)
    found = milp(cost, constraints=rows, integrality=np.ones(len(cost)), bounds=bounds,
                 options={"time_limit": seconds, "mip_rel_gap": 1e-4})
    return found, columns


def per_node_program(problem, counts, nodes):
    """The zone's per-node MIP as scipy states it: (cost, rows, bounds, its columns (workload,
    node position)); the nodes' open variables after the columns."""
    from fitlang.model.problem import node_limit

    demand = {d.name: d for d in problem.demands}
    workloads = sorted(counts)
    columns = [(i, j) for i, w in enumerate(workloads) for j, (c, _) in enumerate(nodes)
               if c.id in demand[w].eligible]
    width = len(columns) + len(nodes)
    rows, cols, values, lower, upper = [], [], [], [], []
    for k, (i, _) in enumerate(columns):  # every replica placed
        rows.append(i)
        cols.append(k)
        values.append(1.0)
    lower += [counts[w] for w in workloads]
    upper += [counts[w] for w in workloads]
    on_node = collections.defaultdict(list)
    for k, (_, j) in enumerate(columns):
        on_node[j].append(k)
    for j, (node_class, name) in enumerate(nodes):  # each node's capacity, where it is open
        for resource, unit in (("cpu", 1.0), ("memory", MEMORY_UNIT)):
            row = len(lower)
            for k in on_node[j]:
                rows.append(row)
                cols.append(k)
                values.append(demand[workloads[columns[k][0]]].requests[resource] / unit)
            rows.append(row)
            cols.append(len(columns) + j)
            values.append(-node_class.capacity_of(name)[resource] / unit)
            lower.append(-np.inf)
            upper.append(0.0)
    for j in range(len(nodes) - 1):  # a class's nodes opened in order (no symmetric copies)
        if nodes[j][0].id == nodes[j + 1][0].id:
            row = len(lower)
            rows += [row, row]
            cols += [len(columns) + j, len(columns) + j + 1]
            values += [-1.0, 1.0]
            lower.append(-np.inf)
            upper.append(0.0)
    matrix = coo_matrix((values, (rows, cols)), shape=(len(lower), width)).tocsr()
    most = [min(node_limit(demand[workloads[i]], nodes[j][0]), counts[workloads[i]]) for i, j in columns]
    cost = np.concatenate([np.zeros(len(columns)), [float(c.price) for c, _ in nodes]])
    return (cost, LinearConstraint(matrix, lower, upper),
            Bounds(np.zeros(width), np.concatenate([most, np.ones(len(nodes))])), columns)


def _replaced(answer: dict, counts, classes, nodes, columns, x) -> tuple[dict, float]:
    """The answer with the zone's replicas where the MIP puts them (their replica numbers kept),
    and what the zone's nodes cost now."""
    workloads = sorted(counts)
    zone_nodes = {name for c in classes for name in c.node_names[:c.count]}
    here = [a for a in answer["assignments"] if a["node"] in zone_nodes and a["workload"] in counts]
    kept = [a for a in answer["assignments"] if not (a["node"] in zone_nodes and a["workload"] in counts)]
    numbers = collections.defaultdict(list)
    for assignment in here:
        numbers[assignment["workload"]].append(assignment["replica"])
    opened = set()
    for k, (i, j) in enumerate(columns):
        for _ in range(round(x[k])):
            workload = workloads[i]
            kept.append({"workload": workload, "replica": numbers[workload].pop(), "node": nodes[j][1]})
            opened.add(j)
    return dict(answer, assignments=kept), sum(float(nodes[j][0].price) for j in opened)


def repack(path: str, answer_path: str, out: str, seconds: float) -> None:
    problem = _problem(path)
    with open(answer_path) as handle:
        answer = json.load(handle)
    replicas, paid = _kept(problem, answer)
    total = answer["objective"]["value"]
    opened = {a["node"] for a in answer["assignments"]}
    for zone in sorted(replicas, key=str):
        classes = [c for c in problem.classes if c.zone == zone and _paid_cpu(c)]
        nodes, relaxed = _candidates(problem, replicas[zone], classes, opened)
        found, columns = _pack(problem, replicas[zone], nodes, seconds)
        head = f"{zone}: answer {paid[zone]:.2f}, usable LP {relaxed:.2f}"
        if found.x is None or found.fun > paid[zone] - 1e-6:
            print(f"{head}, MIP {None if found.x is None else round(found.fun, 2)} "
                  f"(bound {found.mip_dual_bound:.2f}): kept", flush=True)
            continue
        answer, zone_cost = _replaced(answer, replicas[zone], classes, nodes, columns, found.x)
        total += zone_cost - paid[zone]
        answer["objective"] = dict(answer["objective"], value=round(total, 6))
        print(f"{head}, MIP {found.fun:.2f} (bound {found.mip_dual_bound:.2f}), re-placed "
              f"{zone_cost:.2f}; total {total:.3f}", flush=True)
        with open(out, "w") as handle:
            json.dump(answer, handle)


if __name__ == "__main__":
    repack(sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]))
