"""Issue 15, the inventory shape at 10,000 nodes: what would a whole-node rounding of the pair
LP's answer (bound.py) cost? An offline study, in process; not a test (the numbers go to
docs/performance.md, session 20, h20b).

    .venv/bin/python bench/pair_rounding.py FILE [--mip support|master|all|THRESHOLD]
        [--capacity largest|smallest] [--whole-replicas] [--only-accelerators] [--mip-seconds S]
        [--split SECONDS]

1. The pair LP to convergence (`bound.lower_bound`, no deadline); per merged class its nodes
   in use (the largest capacity row: the LP's u at its optimum) and the spend split into
   accelerator and CPU classes.
2. *Fixed shares*: every class keeps the LP's replicas, and its node count is rounded up
   (the least any rounding that keeps the shares costs, before packing).
3. *Whole nodes* (`--mip`): the LP's own matrix, its node counts integer (and with
   `--whole-replicas` its pairs too), solved by HiGHS over the pairs the LP used (`support`),
   every pair (`all`), those in the column generation's last master (`master`), or those
   whose reduced cost at the LP's final prices is under THRESHOLD; with `--only-accelerators`
   only the accelerator classes' counts (and the GPU demands' replicas) are whole. Over `all`
   pairs HiGHS's bound is a bound on every placement (each meets the rows, with whole
   counts); over fewer its value is at most what whole counts could add to the LP (it
   solves a restriction of the MIP over all pairs). `--capacity smallest` charges each
   class's nodes the capacity of its smallest
   member node (the LP charges the largest, which keeps it a relaxation but lets it fill a
   class of jittered nodes past what its real nodes hold).
4. *Packed*: the replicas per class (largest remainder per merged demand) put first-fit
   decreasing onto the class's real nodes (each node its own allocatable; one replica a node
   where the workload says so): what the nodes opened cost, and the replicas that found no
   node of their class.
5. `--split SECONDS`: `placement.solve` with that limit; its spend per class kind beside the
   LP's, and the classes where it pays most more than the LP (what a move should follow).

Written apart from fitc's placement code: it reads the relaxation bound.py builds and the
problem, nothing else.
"""

from __future__ import annotations

import argparse
import collections
import time

import numpy as np


def _problem(path: str):
    from fitlang.cli import compilation_of
    from fitlang.model.build import build_problem

    result = compilation_of(path).check()
    assert not result.has_errors, result.diagnostics[:3]
    return build_problem(result.program).problem


class Study:
    """The converged pair LP of one problem and the classes behind its merged classes."""

    def __init__(self, problem) -> None:
        from fitlang.solve import bound as pair_bound
        from fitlang.solve.bound import merged_classes

        self.problem = problem
        started = time.process_time()
        masters: list = []
        built = pair_bound._Master.__init__

        def kept(master, relaxed) -> None:  # the master, for the columns it ends with
            built(master, relaxed)
            masters.append(master)

        pair_bound._Master.__init__ = kept  # type: ignore[method-assign]
        try:
            self.bound = pair_bound.lower_bound(problem, "cost")
        finally:
            pair_bound._Master.__init__ = built  # type: ignore[method-assign]
        self.seconds = time.process_time() - started
        self.master_columns = masters[-1].columns if masters else np.zeros(0, dtype=np.int64)
        self.relaxed = self.bound.relaxation
        self.merged_problem = self.bound.problem
        self.classes, self.index, _ = merged_classes(self.merged_problem)
        self.members: dict[int, list] = collections.defaultdict(list)
        for node_class in problem.classes:
            if node_class.id in self.index:
                self.members[self.index[node_class.id]].append(node_class)
        self.price = np.array([float(c.price) for c in self.classes])
        self.accelerated = np.array([c.accelerator is not None for c in self.classes])

    def pairs(self, x: np.ndarray | None = None) -> np.ndarray:
        relaxed = self.relaxed
        if x is None:
            return self.bound.pair_values
        return x[relaxed.first_pair:relaxed.first_pair + relaxed.pairs]

    def loads(self, pairs: np.ndarray) -> np.ndarray:
        """Per merged class, the nodes its replicas take in the LP's rows (largest resource)."""
        relaxed = self.relaxed
        x = np.zeros(relaxed.columns)
        x[relaxed.first_pair:relaxed.first_pair + relaxed.pairs] = pairs
        taken = relaxed.matrix.tocsr() @ x
        rows = relaxed.capacity_row
        per_resource = np.where(rows >= 0, taken[np.maximum(rows, 0)], 0.0)
        return per_resource.max(axis=1)

    def node_capacities(self, k: int) -> list[tuple[int, ...]]:
        from fitlang.model.problem import RESOURCES

        found = []
        for node_class in self.members[k]:
            for name in list(node_class.node_names)[:node_class.count]:
                capacity = node_class.capacity_of(name)
                found.append(tuple(capacity[r] for r in RESOURCES))
        return found


def whole_node_mip(study: Study, columns: str, capacity: str, whole_replicas: bool, seconds: float,
                   only_accelerators: bool = False) -> tuple[str, float, float, float, np.ndarray, int]:
    """(status, value, HiGHS's bound, CPU s, the solution over every column, columns kept).
    `only_accelerators`: only the accelerator classes' node counts (and with `whole_replicas`
    the replicas of the demands that ask for GPUs) whole, the rest as the LP has them."""
    import highspy

    from fitlang.model.problem import RESOURCES
    from fitlang.solve.bound import _Pricing

    relaxed, values = study.relaxed, study.bound.pair_values
    pairs = np.arange(relaxed.first_pair, relaxed.first_pair + relaxed.pairs)
    keep = np.ones(relaxed.columns, dtype=bool)
    if columns == "support":
        keep[pairs] = values > 1e-9
    elif columns == "master":  # the pairs the column generation ended with
        keep[pairs] = np.isin(pairs, study.master_columns)
    elif columns != "all":
        reduced, _ = _Pricing(relaxed).bound(study.bound.prices)
        keep[pairs] = (values > 1e-9) | (reduced[pairs] < float(columns))
    matrix = relaxed.matrix.tocsc().copy()
    if capacity == "smallest":  # each class's node column charged its smallest member node
        for k, merged in enumerate(study.classes):
            least = np.min(np.array(study.node_capacities(k)), axis=0)
            for r, resource in enumerate(RESOURCES):
                row = relaxed.capacity_row[k, r]
                if row < 0:
                    continue
                for entry in range(matrix.indptr[k], matrix.indptr[k + 1]):
                    if matrix.indices[entry] == row:
                        matrix.data[entry] = -least[r] / merged.capacity[resource]
    kept = np.flatnonzero(keep)
    part = matrix[:, kept].tocsc()
    whole = np.zeros(len(kept), dtype=np.int32)
    counted = study.accelerated if only_accelerators else np.ones(relaxed.first_pair, dtype=bool)
    nodes = kept < relaxed.first_pair
    whole[nodes] = counted[kept[nodes]]
    if whole_replicas:
        pairs_kept = (kept >= relaxed.first_pair) & (kept < relaxed.first_pair + relaxed.pairs)
        demand = relaxed.pair_demand[kept[pairs_kept] - relaxed.first_pair]
        asks = np.array([d.requests.get("gpu", 0) > 0 or not only_accelerators
                         for d in study.merged_problem.demands], dtype=bool)
        whole[pairs_kept] = asks[demand]
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", seconds)
    highs.setOptionValue("mip_rel_gap", 1e-4)
    highs.passModel(len(kept), part.shape[0], part.nnz, 1, 1, 0.0, relaxed.cost[kept], relaxed.lower[kept],
                    relaxed.upper[kept], relaxed.row_lower, relaxed.row_upper,
                    part.indptr.astype(np.int32), part.indices.astype(np.int32), part.data, whole)
    started = time.process_time()
    highs.run()
    spent = time.process_time() - started
    info = highs.getInfo()
    x = np.zeros(relaxed.columns)
    solution = highs.getSolution().col_value
    if len(solution) == len(kept):
        x[kept] = np.array(solution)
    return (highs.modelStatusToString(highs.getModelStatus()), info.objective_function_value,
            info.mip_dual_bound, spent, x, len(kept))


def whole_replicas(study: Study, pairs: np.ndarray) -> np.ndarray:
    """Per pair, whole replicas: each merged demand's total rounded, shared by largest remainder."""
    relaxed = study.relaxed
    rounded = np.floor(pairs + 1e-9).astype(np.int64)
    order = np.argsort(relaxed.pair_demand, kind="stable")
    cuts = np.searchsorted(relaxed.pair_demand[order], np.arange(len(study.merged_problem.demands) + 1))
    for d in range(len(study.merged_problem.demands)):
        mine = order[cuts[d]:cuts[d + 1]]
        short = round(float(pairs[mine].sum())) - int(rounded[mine].sum())
        if short > 0:
            rest = pairs[mine] - rounded[mine]
            rounded[mine[np.argsort(-rest, kind="stable")[:short]]] += 1
    return rounded


def packed(study: Study, replicas: np.ndarray, counts: np.ndarray | None = None) -> tuple[float, int, int]:
    """First-fit decreasing per merged class onto its real nodes (each node its own
    allocatable; one replica a node where the workload says so), at most `counts[k]` nodes
    of class k (default: all it has); then each replica left over, largest first, first-fit
    into the free room of any open node its workload may use, else onto a new node of the
    eligible class cheapest per replica with nodes left. Spreads and the rules between
    workloads are not kept, so this is an optimistic estimate of what placing these replicas
    per class costs: (cost of the nodes in use, replicas the class pass left over, replicas
    with no node at all)."""
    from fitlang.model.problem import RESOURCES

    relaxed, demands = study.relaxed, study.merged_problem.demands
    capacities = {k: sorted(study.node_capacities(k), reverse=True) for k in range(len(study.classes))}
    opened: dict[int, list[tuple[list[int], set[str]]]] = collections.defaultdict(list)
    left = []
    for k, merged in enumerate(study.classes):
        mine = np.flatnonzero((relaxed.pair_class == k) & (replicas > 0))
        items = []
        for pair in mine:
            d = int(relaxed.pair_demand[pair])
            shape = tuple(demands[d].requests[r] for r in RESOURCES)
            items += [(shape, demands[d].name, demands[d].one_per_node, d)] * int(replicas[pair])
        scale = [max(merged.capacity[r], 1) for r in RESOURCES]
        items.sort(key=lambda item: -max(v / s for v, s in zip(item[0], scale)))
        most = len(capacities[k]) if counts is None else min(len(capacities[k]), round(float(counts[k])))
        for item in items:
            if _first_fit(opened[k], item):
                continue
            if len(opened[k]) < most and _fits(capacities[k][len(opened[k])], item[0]) > 0:
                opened[k].append((list(capacities[k][len(opened[k])]), set()))
                if _first_fit(opened[k][-1:], item):
                    continue
            left.append(item)
    eligible = _eligible_merged(study)
    stranded = 0
    for item in sorted(left, key=lambda item: tuple(-v for v in item[0])):
        if any(_first_fit(opened[k], item) for k in eligible[item[3]]):
            continue
        choices = [(study.price[k] / _fits(capacities[k][len(opened[k])], item[0]), k)
                   for k in eligible[item[3]] if len(opened[k]) < len(capacities[k])
                   and _fits(capacities[k][len(opened[k])], item[0]) > 0]
        if not choices:
            stranded += 1
            continue
        k = min(choices)[1]
        opened[k].append((list(capacities[k][len(opened[k])]), set()))
        _first_fit(opened[k][-1:], item)
    cost = sum(study.price[k] * sum(1 for _, hosted in nodes if hosted) for k, nodes in opened.items())
    return float(cost), len(left), stranded


def _eligible_merged(study: Study) -> list[list[int]]:
    """Per merged demand, the merged classes it may use."""
    return [sorted({study.index[c] for c in d.eligible if c in study.index})
            for d in study.merged_problem.demands]


def _first_fit(nodes, item) -> bool:
    shape, name, one, _ = item
    for free, hosted in nodes:
        if all(f >= v for f, v in zip(free, shape)) and not (one and name in hosted):
            free[:] = [f - v for f, v in zip(free, shape)]
            hosted.add(name)
            return True
    return False


def _fits(capacity, shape) -> int:
    return min((c // v for c, v in zip(capacity, shape) if v > 0), default=0)


def split(study: Study, seconds: float) -> None:
    """The placement `placement.solve` answers in `seconds`: its spend per kind of class and
    per merged class, against the LP's."""
    from fitlang.solve import placement as pl

    started = time.process_time()
    answer = pl.solve(study.problem, "auto", seconds)
    owner = {name: c.id for c in study.problem.classes for name in c.node_names}
    used = {a.node for a in answer.assignments}
    spend = np.zeros(len(study.classes))
    by_id = {c.id: c for c in study.problem.classes}
    for node in used:
        class_id = owner[node]
        spend[study.index[class_id]] += float(by_id[class_id].price)
    lp = study.price * study.loads(study.bound.pair_values)
    spent = time.process_time() - started
    print(f"\nsplit: solve({seconds:g} s) {float(answer.value):.2f} (CPU {spent:.1f} s), LP {lp.sum():.2f}")
    for label, mask in (("accelerator classes", study.accelerated), ("CPU classes", ~study.accelerated)):
        print(f"  {label:20s} placement {spend[mask].sum():8.2f}  LP {lp[mask].sum():8.2f}  "
              f"more {spend[mask].sum() - lp[mask].sum():7.2f}")
    more = spend - lp
    print("  merged classes the placement pays most more for (id, price, nodes placed / LP):")
    price = np.maximum(study.price, 1e-9)
    for k in np.argsort(-more, kind="stable")[:12]:
        print(f"    {study.classes[k].id:32s} {study.price[k]:7.4f} {spend[k] / price[k]:6.1f} / "
              f"{lp[k] / price[k]:6.2f}  +{more[k]:.2f}  accelerator {study.accelerated[k]}")
    print("  ... and pays least more for:")
    for k in np.argsort(more, kind="stable")[:6]:
        print(f"    {study.classes[k].id:32s} {study.price[k]:7.4f} {spend[k] / price[k]:6.1f} / "
              f"{lp[k] / price[k]:6.2f}  {more[k]:.2f}  accelerator {study.accelerated[k]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--mip", default=None)
    parser.add_argument("--capacity", choices=("largest", "smallest"), default="largest")
    parser.add_argument("--whole-replicas", action="store_true")
    parser.add_argument("--only-accelerators", action="store_true",
                        help="only the accelerator classes' counts whole (and the GPU demands' replicas)")
    parser.add_argument("--mip-seconds", type=float, default=60.0)
    parser.add_argument("--split", type=float, default=None)
    arguments = parser.parse_args()

    study = Study(_problem(arguments.file))
    lp_pairs = study.bound.pair_values
    loads = study.loads(lp_pairs)
    lp = study.price * loads
    fractional = (loads - np.floor(loads + 1e-9)) > 1e-6
    print(f"pair LP: bound {float(study.bound.value):.2f}, LP {lp.sum():.2f} in {study.seconds:.1f} CPU s; "
          f"{len(study.classes)} merged classes, {int((loads > 1e-9).sum())} used, {int(fractional.sum())} "
          f"fractionally; accelerator classes {lp[study.accelerated].sum():.2f}, "
          f"CPU {lp[~study.accelerated].sum():.2f}")
    ceiled = study.price * np.ceil(loads - 1e-7)
    print(f"fixed shares, node counts rounded up: {ceiled.sum():.2f} (accelerator "
          f"{ceiled[study.accelerated].sum():.2f}, CPU {ceiled[~study.accelerated].sum():.2f})")
    cost, over, stranded = packed(study, whole_replicas(study, lp_pairs), np.ceil(loads - 1e-7))
    print(f"fixed shares packed first-fit onto real nodes (the rounded-up counts), the rest repaired: "
          f"{cost:.2f}; {over} replicas left over by their classes, {stranded} with no node")
    if arguments.mip is not None:
        status, value, bound, spent, x, kept = whole_node_mip(
            study, arguments.mip, arguments.capacity, arguments.whole_replicas, arguments.mip_seconds,
            arguments.only_accelerators)
        which = "accelerator classes only, " if arguments.only_accelerators else ""
        print(f"whole-node MIP ({which}{arguments.mip} pairs, {kept} columns, {arguments.capacity} capacity, "
              f"replicas {'whole' if arguments.whole_replicas else 'fractional'}): {status}, "
              f"{value:.2f} (HiGHS bound {bound:.2f}) in {spent:.1f} CPU s")
        if status in ("Optimal", "Time limit reached") and np.isfinite(value):
            counts = x[:study.relaxed.first_pair]
            cost, over, stranded = packed(study, whole_replicas(study, study.pairs(x)), counts)
            print(f"  its replicas packed first-fit onto its nodes, the rest repaired: {cost:.2f}; {over} "
                  f"replicas left over by their classes, {stranded} with no node")
    if arguments.split is not None:
        split(study, arguments.split)


if __name__ == "__main__":
    main()
