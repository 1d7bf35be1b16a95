"""Issue 15, the inventory shape at 10,000 nodes: is the bound the loose side of the 1.1-1.4%?
An offline study, in process; not a test (the numbers go to docs/performance.md, session 45,
h45b).

    .venv/bin/python bench/zone_patterns.py FILE ANSWER.json [--zones Z ...] [--seconds S]

Per zone, the answer's replicas on its paid nodes without accelerators (per workload, kept in
the zone, as `zone_packing.py`), re-placed over the zone's paid classes without accelerators:

- *count LP*: `zone_packing.py`'s LP (capacity summed per class), and *usable*: the same over
  capacity rounded down to the gcd of the requests eligible there (`bound.usable_capacity`,
  what the pair LP reads);
- *pattern LP*: each node filled with one *pattern*, whole replicas that fit in ONE node of
  its class in every resource, each workload at most its per-node limit (`node_limit`), an
  `exclusive` one alone, two kept apart on a node not both; column generation (master: each
  workload's replicas covered, at most N_c patterns a class; pricing: an exact knapsack a
  class). Its Lagrangian bound sum_w pi_w r_w + sum_c N_c min(0, price_c - max_p pi.a_p) holds
  for ANY prices pi >= 0, so every round's is a lower bound on any per-node re-placement of
  those replicas in the zone (the best round is printed);
- *patterns whole*: the master's patterns and the answer's own nodes (as patterns, HiGHS's
  start) in integers (HiGHS, S seconds of wall): a per-node packing of those replicas that
  exists (the cost of the solution HiGHS hands back; `--write` puts it in the answer, for
  `fitc verify`), so the zone's optimum lies between it and the pattern bound.

Where the pattern bound is well above the count LP, the pair relaxation is loose in that zone
(whole replicas on whole nodes); where the answer is well above the pattern bound, the answer.
"""

from __future__ import annotations

import argparse
import collections
import json
import time

import numpy as np
from scipy.optimize import linprog, milp
from zone_packing import RESOURCES, _kept, _paid_cpu, _problem, _program

# the master's slack column per workload (a replica left uncovered) costs this a replica:
# dearer than any node of the inventory shape (96 cores, 5.07 USD/h), so never in an optimum
UNCOVERED = 1e3


def _items(problem, counts, node_class):
    """The zone's workloads eligible on the class: positions, requests, per-node limits."""
    from fitlang.model.problem import node_limit

    demand = {d.name: d for d in problem.demands}
    workloads = sorted(counts)
    here = [i for i, w in enumerate(workloads) if node_class.id in demand[workloads[i]].eligible]
    request = np.array([[demand[workloads[i]].requests.get(r, 0) for r in RESOURCES] for i in here],
                       dtype=np.int64).reshape(len(here), len(RESOURCES))
    limit = np.array([min(node_limit(demand[workloads[i]], node_class), counts[workloads[i]])
                      for i in here], dtype=np.int64)
    exclusive = np.array([demand[workloads[i]].exclusive for i in here], dtype=bool)
    return np.array(here, dtype=np.int64), request, limit, exclusive


def _usable(problem, counts, classes):
    """The classes with their capacity as the pair LP reads it (`bound.usable_capacity`: rounded
    down to a multiple of the gcd of the requests eligible there, here the zone's workloads')."""
    import dataclasses

    demand = {d.name: d for d in problem.demands}
    usable = []
    for node_class in classes:
        capacity = dict(node_class.capacity)
        for r in RESOURCES:
            asked = [demand[w].requests.get(r, 0) for w in counts if node_class.id in demand[w].eligible]
            divisor = int(np.gcd.reduce([a for a in asked if a > 0])) if any(asked) else 0
            if divisor > 1:
                capacity[r] = capacity.get(r, 0) // divisor * divisor
        usable.append(dataclasses.replace(node_class, capacity=capacity))
    return usable


def _best_pattern(values, request, limit, exclusive, capacity, conflicts):
    """max values.a over the class's patterns: (an upper bound on it, a pattern reaching it)."""
    from fitlang.solve.patterns import BRANCHES, _apart_knapsack, _solve_knapsack

    shared = ~exclusive
    best_value, best = -1.0, None
    if shared.any():
        capped = np.where(shared, limit, 0)
        found = _apart_knapsack(values, capped, request, capacity, conflicts, BRANCHES)
        if found is None:
            found = _solve_knapsack(values, capped, request, capacity, conflicts, 30.0)
        best_value, best = found[0], found[1]
    for i in np.flatnonzero(exclusive):  # alone on its node
        if values[i] * limit[i] > best_value:
            best_value, best = float(values[i] * limit[i]), np.zeros(len(values), dtype=np.int64)
            best[i] = limit[i]
    return best_value, best


def _solution(highspy, start: np.ndarray):
    solution = highspy.HighsSolution()
    solution.col_value = start.astype(float).tolist()
    solution.value_valid = True
    return solution


class _ZoneMaster:
    """The zone's restricted master: columns (class, pattern), rows covering each workload's
    replicas and at most N_c patterns a class."""

    def __init__(self, workloads, counts, classes):
        self.workloads, self.classes = workloads, classes
        self.need = np.array([counts[w] for w in workloads], dtype=float)
        self.columns: list[tuple[int, np.ndarray]] = []  # (class position, replicas per workload)

    def add(self, j: int, here: np.ndarray, pattern: np.ndarray) -> None:
        full = np.zeros(len(self.workloads))
        full[here] = pattern
        self.columns.append((j, full))

    def _rows(self):
        cover = np.array([full for _, full in self.columns]).T  # workloads x columns
        convex = np.zeros((len(self.classes), len(self.columns)))
        for k, (j, _) in enumerate(self.columns):
            convex[j, k] = 1
        price = np.array([float(self.classes[j].price) for j, _ in self.columns])
        most = np.array([min(c.count, len(c.node_names)) for c in self.classes], dtype=float)
        return cover, convex, price, most

    def solve(self):
        """The LP: (its value, workload prices pi >= 0, class prices mu <= 0)."""
        cover, convex, price, most = self._rows()
        slack = np.eye(len(self.workloads))
        matrix = np.vstack([np.hstack([-cover, -slack]),
                            np.hstack([convex, np.zeros((len(most), len(slack)))])])
        cost = np.concatenate([price, np.full(len(slack), UNCOVERED)])
        found = linprog(cost, A_ub=matrix, b_ub=np.concatenate([-self.need, most]), bounds=(0, None),
                        method="highs")
        duals = found.ineqlin.marginals
        self.lp_nodes = self._per_class(found.x[:len(price)])
        return found.fun, np.maximum(-duals[:len(self.need)], 0), np.minimum(duals[len(self.need):], 0)

    def whole(self, seconds: float, start: np.ndarray | None = None):
        """The patterns in integers: (cost, HiGHS's dual bound) of a packing that exists; `start`
        (a count per column, e.g. the answer's own nodes) is handed to HiGHS as its first one."""
        import highspy
        from scipy.sparse import csc_array

        cover, convex, price, most = self._rows()
        matrix = csc_array(np.vstack([cover, convex]))
        highs = highspy.Highs()
        highs.setOptionValue("output_flag", False)
        highs.setOptionValue("time_limit", seconds)
        highs.setOptionValue("mip_rel_gap", 1e-4)
        width = len(price)
        highs.passModel(width, matrix.shape[0], len(matrix.data), 1, 1, 0.0, price, np.zeros(width),
                        np.full(width, np.inf), np.concatenate([self.need, np.zeros(len(most))]),
                        np.concatenate([np.full(len(self.need), np.inf), most]),
                        matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32),
                        matrix.data.astype(float), np.ones(width, dtype=np.int32))
        if start is not None:
            highs.setSolution(_solution(highspy, start))
        highs.run()
        info = highs.getInfo()
        if info.primal_solution_status != 2:
            return None, info.mip_dual_bound
        # the cost of the solution HiGHS hands back, not its stated objective: with the answer as
        # its start HiGHS 1.16 stated 11.14 (optimal) on seed 11's us-west-2b and 29.24 on its
        # us-west-2a, and handed back the start (11.52 / 29.92) both times
        self.whole_x = np.rint(np.array(highs.getSolution().col_value)).astype(int)
        self.whole_nodes = self._per_class(self.whole_x)
        print(f"    HiGHS {highs.getModelStatus()}: stated {info.objective_function_value:.3f}, the "
              f"solution handed back costs {float(price @ self.whole_x):.3f}", flush=True)
        return float(price @ self.whole_x), info.mip_dual_bound

    def _per_class(self, x: np.ndarray) -> dict:
        """Nodes per class id in a solution of the master (over 0.005)."""
        nodes: collections.Counter = collections.Counter()
        for (j, _), count in zip(self.columns, x):
            nodes[self.classes[j].id] += count
        return {name: round(count, 2) for name, count in sorted(nodes.items()) if count > 0.005}


def zone_bound(problem, counts, classes, rounds: int = 400):
    """Column generation over the zone's patterns: (best Lagrangian bound, master LP, rounds,
    the master)."""
    from fitlang.solve.patterns import _apart, _conflicts

    workloads = sorted(counts)
    position = {d.name: i for i, d in enumerate(problem.demands)}
    apart = _apart(problem.demands)
    master = _ZoneMaster(workloads, counts, classes)
    items = []
    for j, node_class in enumerate(classes):
        here, request, limit, exclusive = _items(problem, counts, node_class)
        capacity = np.array([node_class.capacity.get(r, 0) for r in RESOURCES], dtype=np.int64)
        demands = np.array([position[workloads[i]] for i in here], dtype=np.int64)
        items.append((here, request, limit, exclusive, capacity, _conflicts(demands, apart)))
        for k in range(len(here)):  # one workload alone, as many as fit
            fit = min([limit[k]] + [capacity[r] // request[k, r] for r in range(len(RESOURCES))
                                    if request[k, r] > 0])
            if fit > 0:
                single = np.zeros(len(here), dtype=np.int64)
                single[k] = fit
                master.add(j, here, single)
    best, value = -np.inf, None
    for round_ in range(rounds):
        value, pi, mu = master.solve()
        bound, added = float(pi @ master.need), 0
        solved: dict = {}  # classes that pose the same knapsack (capacity, items, limits) solve it once
        for j, (here, request, limit, exclusive, capacity, conflicts) in enumerate(items):
            if not len(here):
                continue
            same = (capacity.tobytes(), here.tobytes(), limit.tobytes(), exclusive.tobytes())
            if same not in solved:
                solved[same] = _best_pattern(pi[here], request, limit, exclusive, capacity, conflicts)
            top, pattern = solved[same]
            price = float(classes[j].price)
            most = min(classes[j].count, len(classes[j].node_names))
            bound += most * min(0.0, price - top)
            if pattern is not None and price - float(pi[here] @ pattern) - mu[j] < -1e-9:
                master.add(j, here, pattern)
                added += 1
        best = max(best, bound)
        if not added or value - best < 1e-6 * abs(value):
            return best, value, round_ + 1, master
    return best, value, rounds, master


def _answer_nodes(problem, answer, zone, classes, workloads):
    """The answer's paid CPU-only nodes in the zone as patterns: (class position, replicas per workload)."""
    position = {c.id: j for j, c in enumerate(classes)}
    node_class = {name: c for c in classes for name in c.node_names[:c.count]}
    at = {w: i for i, w in enumerate(workloads)}
    nodes: dict = {}
    for assignment in answer["assignments"]:
        found = node_class.get(assignment["node"])
        if found is not None and assignment["workload"] in at:
            pattern = nodes.setdefault(assignment["node"], (position[found.id], np.zeros(len(workloads))))[1]
            pattern[at[assignment["workload"]]] += 1
    return list(nodes.values())


def _replaced(answer: dict, zone_cost: float, master: _ZoneMaster, whole: float) -> dict:
    """The answer with the zone's replicas on the nodes of the patterns whole (each class's
    nodes in turn; a replica a pattern holds beyond its workload's count left out)."""
    left = dict(zip(master.workloads, master.need.astype(int)))
    zone_nodes = {name for c in master.classes for name in c.node_names[:c.count]}
    moved = [a for a in answer["assignments"] if a["node"] in zone_nodes and a["workload"] in left]
    kept = [a for a in answer["assignments"] if not (a["node"] in zone_nodes and a["workload"] in left)]
    numbers = collections.defaultdict(list)  # the moved replicas' numbers, given again
    for a in moved:
        numbers[a["workload"]].append(a["replica"])
    free = {j: list(c.node_names[:c.count]) for j, c in enumerate(master.classes)}
    for (j, pattern), count in zip(master.columns, master.whole_x):
        for _ in range(count):
            node = free[j].pop(0)
            for i in np.flatnonzero(pattern):
                workload = master.workloads[i]
                for _ in range(min(int(pattern[i]), left[workload])):
                    kept.append({"workload": workload, "replica": numbers[workload].pop(), "node": node})
                    left[workload] -= 1
    document = dict(answer, assignments=kept)
    document["objective"] = dict(answer["objective"])
    document["objective"]["value"] = round(answer["objective"]["value"] - zone_cost + whole, 6)
    return document


def study(path: str, answer_path: str, zones: list[str], seconds: float, lp_only: bool = False,
          write: str | None = None) -> None:
    problem = _problem(path)
    with open(answer_path) as handle:
        answer = json.load(handle)
    replicas, paid = _kept(problem, answer)
    totals: collections.Counter = collections.Counter()
    print(f"{path} {answer_path}: paid CPU-only nodes per zone: answer / count LP / pattern bound "
          f"(master LP, rounds) / patterns whole")
    for zone in sorted(replicas, key=str):
        if zones and zone not in zones:
            continue
        classes = [c for c in problem.classes if c.zone == zone and _paid_cpu(c)]
        _, _, cost, rows, bounds = _program(problem, replicas[zone], classes)
        counted = milp(cost, constraints=rows, integrality=np.zeros(len(cost)), bounds=bounds)
        usable_classes = _usable(problem, replicas[zone], classes)
        _, _, cost, rows, bounds = _program(problem, replicas[zone], usable_classes)
        usable = milp(cost, constraints=rows, integrality=np.zeros(len(cost)), bounds=bounds)
        if lp_only:
            print(f"  {zone}: answer {paid[zone]:.2f}, count LP {counted.fun:.2f} (usable {usable.fun:.2f})")
            continue
        started = time.process_time()
        bound, lp, rounds, master = zone_bound(problem, replicas[zone], classes)
        spent = time.process_time() - started
        first = len(master.columns)
        answer_nodes = _answer_nodes(problem, answer, zone, classes, sorted(replicas[zone]))
        for j, counted_here in answer_nodes:
            master.add(j, np.arange(len(counted_here)), counted_here)
        start = np.zeros(len(master.columns))
        start[first:] = 1
        whole, whole_bound = master.whole(seconds, start)
        for key, value in (("answer", paid[zone]), ("count LP", counted.fun), ("usable", usable.fun),
                           ("pattern bound", bound),
                           ("patterns whole", whole or 0.0)):
            totals[key] += value
        print(f"  {zone}: {len(replicas[zone])} workloads, {sum(replicas[zone].values())} replicas, "
              f"{len(classes)} classes: answer {paid[zone]:.2f}, count LP {counted.fun:.2f} "
              f"(usable {usable.fun:.2f}), pattern bound {bound:.2f} (LP {lp:.2f}, {rounds} rounds, "
              f"{first} patterns, {spent:.1f} CPU s), "
              f"patterns whole {whole if whole is None else round(whole, 2)} (its bound "
              f"{whole_bound if whole_bound is None else round(whole_bound, 2)})", flush=True)
        if write and whole is not None and whole < paid[zone] - 1e-6:
            answer = _replaced(answer, paid[zone], master, whole)
            with open(write, "w") as handle:
                json.dump(answer, handle)
            print(f"    written to {write}: {answer['objective']['value']:.3f}", flush=True)
        answered = collections.Counter(classes[j].id for j, _ in answer_nodes)
        print(f"    nodes per class: answer {dict(sorted(answered.items()))}"
              f"\n    pattern LP {master.lp_nodes}"
              f"\n    patterns whole {getattr(master, 'whole_nodes', None)}", flush=True)
    print("  every zone: " + ", ".join(f"{key} {value:.2f}" for key, value in totals.items()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("answer")
    parser.add_argument("--zones", nargs="*", default=[], help="these zones only (default: every zone)")
    parser.add_argument("--seconds", type=float, default=60.0, help="HiGHS's limit for the patterns whole")
    parser.add_argument("--lp-only", action="store_true", help="the count LPs alone, no patterns")
    parser.add_argument("--write", help="the answer with each zone's patterns whole in it (where cheaper), "
                        "for `fitc verify`")
    args = parser.parse_args()
    study(args.file, args.answer, args.zones, args.seconds, args.lp_only, args.write)


if __name__ == "__main__":
    main()
