"""The accelerator work re-placed jointly over the owned accelerator nodes (issue 15, the
accelerator-heavy shape at 10,000 nodes).

On `bench/ai_fleet.py` the greedy places the gangs first, each on the cheapest eligible nodes
at its turn, and a region's power cap is then full of training nodes (seed 17: sin1's 4,170 kW
used to 0.4 kW, 123 H100 nodes there) while its cheap inference nodes stay empty (L4 at 4.1
USD/h against 4.9 in sjc1, L40S at 13.8 against 15.4 in tyo1): the inference services go to
dearer regions. No move of the search sees it: a gang moves only whole onto bought nodes
(gang_bought.py), and closing one inference node gains only where the capped region has
power left. Measured (session 46, h46c), the pair LP with every workload but the option
groups kept to the answer's classes still opened 18 more L40S nodes in sin1, and a MIP over
the accelerator work alone, the rest kept, gained 0.1-0.9% of the answer.

So here the replicas of workloads asking for accelerators that sit on owned accelerator nodes
hosting nothing else (no affinity either way, no node spread: `unmovable`) are taken off those
nodes and placed again by one MIP at class level: per class its nodes (at most those free of
other work), per workload its replicas per class, each class's capacity per resource summed
over its nodes (each row in shares of a node: in bytes the memory's coefficients reached 2e12
and HiGHS ended the LP "unbounded" with no point, seed 2), each workload's per-node limit, its
counts per domain kept where a spread or a latency rule counts them (`_counted`), and the power
caps with the rest's draw (in shares of the cap: HiGHS solves it unscaled, `UNSCALED`). A gang
(or an exclusive workload) moves only whole; any other moves the replicas it has there and keeps
the rest where they are (the moved ones' counts per domain kept, so its spreads hold): seed 2's
stage then re-places 3,180 replicas of 205 workloads, not 2,266 of 109, and kept 428 USD/h, not
130 (session 51).
The MIP is solved first with each class's node count kept to the floor or ceiling of its LP
relaxation's (`_Near`: 0.1-0.8 CPU s where the whole MIP took 0.25-2.0, session 49), and there
first with the replicas per class relaxed, rounded after within each workload's counted domains
(`_whole_replicas`: only the node counts are integers, 0.06-0.08 CPU s after the LP where the
near MIP with whole replicas ran its uninterrupted root 0.6-2.9 s, session 55); where those
counts do not pack cheaper, and only where the time left holds EXACT_LP_TIMES the LP's time,
the near MIP with whole replicas, then the whole MIP, the answer's own counts its start, so its
incumbent is never dearer. Each class's replicas then go onto its nodes one node at a time, as
`pack` fills them (`pack.ClassPacker`: the replica whose requests best match the room left,
FFD-DotProduct): the MIP counts a class's capacity as a sum, and the largest share first with
best fit strands it where the shapes differ (L4 nodes of 4 GPUs and 48 CPUs: replicas of 2 GPUs
and 4 CPUs first fill the GPUs and leave 40 CPUs, those of 1 GPU and 16 CPUs then strand a GPU a
node). `bench/ai_fleet.py` 10,000 at 5 s, the stage's gain: seed 14 6.6 -> 62.9 USD/h, seed 3
~220 -> 300 (session 50). What no node of its class holds goes into the room of another node
just packed (in its domains where they are counted), else onto a node of the cheapest class it
may use that keeps the power caps. The result is kept only where it costs less and
keeps the buy limits, the budget and the power caps.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterator

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, node_limit
from fitlang.solve.aggregate import within_limits
from fitlang.solve.backends import _native_stdout_silenced
from fitlang.solve.clock import highs_limited
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.improve import _past, unmovable
from fitlang.solve.make_room import adopt, copied
from fitlang.solve.pack import ClassPacker, NodeState, Packing
from fitlang.solve.placement_result import _packed_value

ACCELERATOR = "gpu"
# HiGHS's primal solution status for a feasible one
FEASIBLE = 2
# an LP count this close to a whole number is that number
ROUNDING = 1e-6
# a domain's replicas summed over the MIP's continuous columns this close to a whole number are
# whole (its row holds them to the answer's count, up to HiGHS's feasibility tolerance)
WHOLE = 1e-4
# what `_near_relaxation` says where the LP relaxation itself costs no less than the answer's
# counts: neither it nor the whole MIP after it can find a cheaper one (the inventory shape at
# 10,000 nodes, 7 of 8 seeds at the search's entry: the RENS solve, the whole MIP and the
# packing of its counts, ~0.09 CPU s of the search's 1.0-1.4 at 5 s, for nothing; ~0.03 now)
NOTHING_CHEAPER = np.zeros(0)
# the MIP's relative gap. The MIP near the relaxation (`_near_relaxation`) of the 5 s search on
# `bench/ai_fleet.py` 10,000, solved alone at 1e-4 against 1e-3 (CPU s, its answer USD/h):
# seed 3 1.03 -> 0.14 (74,001.86 -> 74,002.40), 14 0.98 -> 0.09 (83,858.54 -> 83,868.59), 17
# 0.07 both, 12 5.5 -> 2.1, 20 2.4 -> 1.8; the stage on seed 3 with no deadline 1.57 -> 0.58
# CPU s, kept 422.78 -> 413.51 USD/h (session 52): where the search begins, it has 0.1-1.1
MIP_REL_GAP = 1e-3
# HiGHS's simplex scaling off: every row is in shares (of a node, of a power cap), and scaling
# such a model again took 0.05-0.23 CPU s of the stage's 0.35-0.64, the same answers
# (`bench/ai_fleet.py` 10,000, the stage with no deadline: seeds 3 / 14 / 17 0.64 / 0.40 / 0.39
# -> 0.41 / 0.35 / 0.35 CPU s, 413.51 / 387.17 / 418.00 USD/h kept either way; session 52)
UNSCALED = 0
# the whole MIPs (`_Near.exact`, then the whole one) only where the time left is this many times the
# LP relaxation's: their roots are not interrupted by HiGHS (seed 20, a 0.5 s search from its 5 s
# entry: the near one ran 0.63 CPU s, 0.47 past the stage's window). At the search's entry on
# `bench/ai_fleet.py` 10,000 seeds 20 / 17 / 12 the LP took 0.09-0.14 CPU s, the whole MIP 2.9-5.4
# (27-39 times; session 55)
EXACT_LP_TIMES = 25
# the share of a packing's cost on the nodes the MIP re-places from which the search's first
# stage, this one, is worth more than the ruin of the guided passes before their choice
# (`placement._ruined_first`): `bench/ai_fleet.py` 10,000 at 5 s, seed 1, the ruin of two
# passes took 0.93 of the 1.2 CPU s left for 131 USD/h, the MIP none of it; without it the MIP
# kept 202 in 0.44 s, and the merge after it 36 (session 54). Those nodes are 83-88% of the
# cost on that shape (seeds 1 / 3 / 5 / 20), 15% on the inventory shape (seed 94), where the MIP
# keeps nothing (session 52)
FIRST_SHARE = 0.5


def repacks_much(problem: Problem, packing: Packing, objective: str) -> bool:
    """Whether the nodes whose accelerator work the MIP would re-place cost at least FIRST_SHARE
    of `packing` (the stage runs and has that much to move)."""
    value = _packed_value(problem, packing, objective)
    if objective != "cost" or not packing.complete or not problem.power_caps or not value:
        return False
    movable = _Movable(problem, packing)
    moved = sum(problem.node_class(c).price * len(names) for c, names in movable.nodes.items())
    return moved >= FIRST_SHARE * value


def accelerators_repacked(problem: Problem, packing: Packing, objective: str,
                          deadline: float | None) -> bool:
    """The accelerator work re-placed by the module's MIP where that costs less; whether it
    was."""
    if objective != "cost" or not packing.complete or _past(deadline) or not problem.power_caps:
        return False
    movable = _Movable(problem, packing)
    if not movable.work:
        return False
    value = _packed_value(problem, packing, objective)
    for counts in _solved(problem, movable, deadline):
        if _past(deadline):
            return False
        trial = _packed(problem, packing, movable, counts)
        trial_value = None if trial is None else _packed_value(problem, trial, objective)
        if value is not None and trial is not None and trial_value is not None and trial_value < value and \
                within_limits(problem, {c.id: trial.opened(c.id) for c in problem.classes}):
            adopt(packing, trial)
            return True
    return False


class _Movable:
    """The accelerator workloads the MIP places again, their replicas per class now (`work`),
    the nodes they leave (`nodes`: class id -> names), and per class the nodes it may use
    (`free`)."""

    def __init__(self, problem: Problem, packing: Packing) -> None:
        fixed = unmovable(problem) | {rule.target for d in problem.demands for rule in d.affinities}

        def may_move(name: str) -> bool:
            demand = problem.demand(name)
            return bool(demand.requests.get(ACCELERATOR)) and not demand.affinities and name not in fixed

        gangs = {name for group in problem.option_groups if group.gang for name in group.demands}

        def whole(name: str) -> bool:  # moved with every replica or not at all
            demand = problem.demand(name)
            return demand.gang or demand.exclusive or name in gangs

        total: Counter[str] = Counter()
        candidates: list[tuple[NodeClass, NodeState]] = []
        for class_id, nodes in packing.nodes.items():
            node_class = problem.node_class(class_id)
            owned = node_class.accelerator is not None and not node_class.offer and not node_class.provisioned
            for node in nodes:
                hosted = {name: amount for name, amount in node.hosted.items() if amount}
                total.update(hosted)
                if owned and hosted and all(may_move(name) for name in hosted):
                    candidates.append((node_class, node))
        while True:  # a gang with a replica elsewhere stays, and so do its nodes' others
            work: dict[str, Counter[str]] = defaultdict(Counter)
            for node_class, node in candidates:
                for name, amount in node.hosted.items():
                    work[name][node_class.id] += amount
            partial = {name for name, by_class in work.items()
                       if whole(name) and sum(by_class.values()) != total[name]}
            if not partial:
                break
            candidates = [(c, node) for c, node in candidates if not partial & node.hosted.keys()]
        self.work = dict(work)
        self.nodes: dict[str, set[str]] = defaultdict(set)
        for node_class, node in candidates:
            self.nodes[node_class.id].add(node.name)
        self.busy: Counter[str] = Counter()  # per class, its nodes in use that stay
        for class_id, nodes in packing.nodes.items():
            self.busy[class_id] = sum(1 for node in nodes if node.name not in self.nodes[class_id]
                                      and any(node.hosted.values()))
        self.free = {c.id: c.count - self.busy[c.id] for c in problem.classes
                     if c.accelerator is not None and not c.offer and not c.provisioned
                     and c.count - self.busy[c.id] > 0}


def _counted(demand: Demand) -> list[str]:
    """The topologies over whose domains the workload's counts are the answer's: each it
    spreads over but nodes (a region spread too: `bench/mixed_rules.py` seed 677, `x0`'s 12
    under `spread region max_skew 1` re-placed 12 / 0 over r1 / r2, E0507), and zones where a
    latency rule counts them."""
    kept = [s.topology for s in demand.spreads if s.topology != "node"]
    return list(dict.fromkeys([*kept, *(["zone"] if demand.latency else [])]))


def _solved(problem: Problem, movable: _Movable, deadline: float | None) -> Iterator[dict[str, Counter[str]]]:
    """The MIP's replicas per workload and class, cheapest to find first: with the replicas per
    class relaxed and rounded (`_near_relaxation`, `_whole_replicas`), then, where the time left
    holds it (`_exact_fits`), solved whole (see the module's doc)."""
    import highspy

    demands = {w: problem.demand(w) for w in movable.work}
    classes = sorted(c for c in movable.free if any(c in demand.eligible for demand in demands.values()))
    node_var = {c: i for i, c in enumerate(classes)}
    most_per_node = {(w, c): node_limit(demands[w], problem.node_class(c)) for w in sorted(movable.work)
                     for c in classes if c in demands[w].eligible}
    pairs = [pair for pair, most in most_per_node.items() if most > 0]
    pair_var = {pair: len(classes) + i for i, pair in enumerate(pairs)}
    rows: list[tuple[float, float, dict[int, float]]] = []
    for w, by_class in movable.work.items():
        demand = problem.demand(w)
        placed = float(sum(by_class.values()))
        rows.append((placed, placed, {pair_var[w, c]: 1.0 for c in classes if (w, c) in pair_var}))
        for topology in _counted(demand):
            domains: Counter = Counter()
            for c, amount in by_class.items():
                domains[problem.node_class(c).topology_value(topology)] += amount
            for domain, amount in domains.items():
                rows.append((amount, amount, {pair_var[w, c]: 1.0 for c in classes if (w, c) in pair_var
                                              and problem.node_class(c).topology_value(topology) == domain}))
    for c in classes:
        node_class = problem.node_class(c)
        users = [w for w in movable.work if (w, c) in pair_var]
        for resource in RESOURCES:
            capacity = float(node_class.capacity[resource])
            entries = {pair_var[w, c]: demands[w].requests.get(resource, 0) / capacity for w in users
                       if demands[w].requests.get(resource, 0)} if capacity else {}
            if entries:
                entries[node_var[c]] = -1.0
                rows.append((-math.inf, 0.0, entries))
        for w in users:
            most = most_per_node[w, c]
            if most < movable.work[w].total():
                rows.append((-math.inf, 0.0, {pair_var[w, c]: 1.0, node_var[c]: -float(most)}))
    for cap in problem.power_caps:
        capped = [c for c in classes if c in cap.classes]
        if not capped:
            continue
        drawn = sum(float(problem.node_class(c).power_watts) * movable.busy[c] for c in cap.classes)
        scale = float(cap.cap_watts) or 1.0  # (in shares of the cap, as the capacity rows are of a node)
        rows.append((-math.inf, (float(cap.cap_watts) - drawn) / scale,
                     {node_var[c]: float(problem.node_class(c).power_watts) / scale for c in capped}))
    columns = len(classes) + len(pairs)
    with _native_stdout_silenced():
        highs = quiet_highs()
    highs.setOptionValue("mip_rel_gap", MIP_REL_GAP)
    highs.setOptionValue("simplex_scale_strategy", UNSCALED)
    if deadline is not None:
        highs_limited(highs, deadline)
    upper = [float(movable.free[c]) for c in classes] + [highspy.kHighsInf] * len(pairs)
    highs.addVars(columns, np.zeros(columns), np.array(upper))
    cost = [float(problem.node_class(c).price) for c in classes] + [0.0] * len(pairs)
    highs.changeColsCost(columns, np.arange(columns, dtype=np.int32), np.array(cost))
    highs.changeColsIntegrality(columns, np.arange(columns, dtype=np.int32),
                                np.full(columns, highspy.HighsVarType.kInteger))
    starts: list[int] = []
    indices: list[int] = []
    values: list[float] = []
    for _, _, entries in rows:
        starts.append(len(indices))
        indices.extend(entries)
        values.extend(entries.values())
    highs.addRows(len(rows), np.array([r[0] for r in rows]), np.array([r[1] for r in rows]), len(values),
                  np.array(starts, dtype=np.int32), np.array(indices, dtype=np.int32), np.array(values))
    start = np.zeros(columns)
    for c in classes:
        start[node_var[c]] = len(movable.nodes.get(c, ()))
    for w, by_class in movable.work.items():
        for c, amount in by_class.items():
            if (w, c) in pair_var:
                start[pair_var[w, c]] = amount
    near = _Near(highs, len(classes), np.array(upper), float(np.dot(cost, start)), deadline)
    relaxed = near.relaxed()
    if relaxed is NOTHING_CHEAPER:
        return
    if relaxed is not None and (rounded := _whole_replicas(problem, movable, node_var, pair_var, relaxed)):
        yield rounded
    if not near.exact_fits():
        return
    found = near.exact()
    if found is None and not _past(deadline):  # the whole MIP, from the answer's counts
        if deadline is not None:
            highs_limited(highs, deadline)
        highs.setSolution(_solution(start))
        highs.run()
        if highs.getInfo().primal_solution_status == FEASIBLE:
            found = np.array(highs.getSolution().col_value)
    if found is not None:
        yield _counts(pair_var, found)


def _counts(pair_var: dict[tuple[str, str], int], found: np.ndarray) -> dict[str, Counter[str]]:
    """The replicas per workload and class of the MIP's whole solution `found`."""
    whole = np.rint(found).astype(np.int64)
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for (w, c), column in pair_var.items():
        if whole[column] > 0:
            counts[w][c] = int(whole[column])
    return dict(counts)


def _whole_replicas(problem: Problem, movable: _Movable, node_var: dict[str, int],
                    pair_var: dict[tuple[str, str], int],
                    found: np.ndarray) -> dict[str, Counter[str]] | None:
    """The MIP's replicas per workload and class in whole numbers: within each workload's
    counted domains (`_counted`: their counts are whole in the MIP), each class its count's
    floor, the replicas left to the classes with the largest fractions, first those whose
    nodes in the MIP (then those whose nodes at most) still hold one more by the capacity and
    per-node rows (the MIP's classes are often full: rounded by the fractions alone, seed 20's
    `infer_49` had 4 replicas on a class whose 26 nodes held 3; the class packer places what
    a class's nodes do not hold elsewhere, `_left_placed`); None where a domain's count is not
    whole (its rows broken)."""
    floors = {pair: math.floor(max(0.0, float(found[column])) + ROUNDING)
              for pair, column in pair_var.items()}
    room = _Room(problem, movable, node_var, found, floors)
    counts: dict[str, Counter[str]] = {}
    for w in sorted(movable.work):
        demand = problem.demand(w)
        domains: dict[tuple, list[str]] = defaultdict(list)
        for name, c in pair_var:
            if name == w:
                domains[tuple(problem.node_class(c).topology_value(t) for t in _counted(demand))].append(c)
        whole: Counter[str] = Counter()
        for by_class in domains.values():
            values = {c: max(0.0, float(found[pair_var[w, c]])) for c in by_class}
            total = sum(values.values())
            if abs(total - round(total)) > WHOLE:
                return None
            rest = round(total) - sum(floors[w, c] for c in by_class)
            order = sorted(by_class, key=lambda c: (room.tier(w, c), -(values[c] - floors[w, c]), c))
            for c in order[:max(0, rest)]:
                room.take(w, c)
            whole.update({c: floors[w, c] + room.added[w, c] for c in by_class
                          if floors[w, c] + room.added[w, c]})
        counts[w] = whole
    return counts


class _Room:
    """Per class of the MIP, what its replicas' floors leave of its nodes' capacity, in shares of
    a node, as `_whole_replicas` rounds them up one at a time."""

    def __init__(self, problem: Problem, movable: _Movable, node_var: dict[str, int], found: np.ndarray,
                 floors: dict[tuple[str, str], int]) -> None:
        self.problem = problem
        self.nodes = {c: float(np.rint(found[column])) for c, column in node_var.items()}
        self.most = {c: float(movable.free[c]) for c in node_var}
        self.used: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
        self.added: Counter[tuple[str, str]] = Counter()
        self.floors = floors
        for (w, c), amount in floors.items():
            for resource, share in self._shares(w, c).items():
                self.used[c][resource] += amount * share

    def _shares(self, w: str, c: str) -> dict[str, float]:
        node_class, demand = self.problem.node_class(c), self.problem.demand(w)
        return {r: demand.requests.get(r, 0) / float(node_class.capacity[r]) for r in RESOURCES
                if node_class.capacity[r] and demand.requests.get(r, 0)}

    def _holds(self, w: str, c: str, nodes: float) -> bool:
        placed = self.floors[w, c] + self.added[w, c] + 1
        return placed <= node_limit(self.problem.demand(w), self.problem.node_class(c)) * nodes and \
            all(self.used[c][r] + share <= nodes + ROUNDING for r, share in self._shares(w, c).items())

    def tier(self, w: str, c: str) -> int:
        """0: one more replica of `w` fits the class's nodes in the MIP; 1: its nodes at most; 2: not."""
        return 0 if self._holds(w, c, self.nodes[c]) else 1 if self._holds(w, c, self.most[c]) else 2

    def take(self, w: str, c: str) -> None:
        self.added[w, c] += 1
        for resource, share in self._shares(w, c).items():
            self.used[c][resource] += share


class _Near:
    """The MIP solved with each class's node count kept to the floor or the ceiling of its count
    in the LP relaxation (its first `nodes` columns; HiGHS's RENS, without the root's cuts that
    come before it there), first with the replicas per class relaxed (`relaxed`), then whole
    (`exact`). Measured (accelerator-heavy 10,000, the MIPs of the 5 s search, CPU s to the first
    answer better than the start, HiGHS alone against the whole near one): seed 3 2.0 -> 0.76
    (73,560.5 against 73,564.8 USD/h), 4 1.56 -> 0.24, 8 0.84 -> 0.11, 2 0.42 -> 0.09, 17 0.24 ->
    0.14 (session 49). Whole, it is a MIP whose root HiGHS does not interrupt: at the search's
    entry on seed 20 (session 55) it ran 0.47 CPU s past the stage's window, and with the conversion
    of options before it 2.85 s to say it is infeasible; then the whole MIP 2.9 s, where the LP
    took 0.12. With the replicas relaxed, only the 95 node counts are integers, 3-6 of them not
    fixed by the bounds: seeds 20 / 17 / 12 0.06-0.08 CPU s after the LP, within 30 USD/h of it."""

    def __init__(self, highs, nodes: int, upper: np.ndarray, start_cost: float,
                 deadline: float | None) -> None:
        self.highs, self.nodes, self.upper = highs, nodes, upper
        self.start_cost, self.deadline = start_cost, deadline
        self.lp_seconds = 0.0

    def relaxed(self) -> np.ndarray | None:
        """The LP relaxation, then the node counts near it whole, the replicas relaxed: its columns
        where that is cheaper than `start_cost`; None where it is not; NOTHING_CHEAPER where the
        LP relaxation's optimum is not below it."""
        import highspy

        highs, nodes = self.highs, self.nodes
        columns = len(self.upper)
        every = np.arange(columns, dtype=np.int32)
        highs.changeColsIntegrality(columns, every, np.full(columns, highspy.HighsVarType.kContinuous))
        began = time.monotonic()
        highs.run()
        self.lp_seconds = time.monotonic() - began
        # (a point HiGHS calls primal feasible is enough: before the capacity rows were scaled seed
        # 4's LP ended "unbounded", dual infeasible at the optimum's objective)
        info = highs.getInfo()
        feasible = info.primal_solution_status == FEASIBLE
        least = info.objective_function_value if highs.getModelStatus() == highspy.HighsModelStatus.kOptimal \
            else -math.inf
        self.relaxation = np.array(highs.getSolution().col_value[:nodes])
        if least >= self.start_cost - ROUNDING:
            return NOTHING_CHEAPER  # the relaxation's optimum bounds the MIP's: no search finds less
        if not feasible or _past(self.deadline):
            return None
        kinds = np.full(columns, highspy.HighsVarType.kContinuous)
        kinds[:nodes] = highspy.HighsVarType.kInteger
        highs.changeColsIntegrality(columns, every, kinds)
        return self._near()

    def exact_fits(self) -> bool:
        """Whether the time left holds the whole MIPs: EXACT_LP_TIMES the LP's time."""
        return self.deadline is None or (
            not _past(self.deadline) and self.deadline - time.monotonic() >= EXACT_LP_TIMES * self.lp_seconds)

    def exact(self) -> np.ndarray | None:
        """The near MIP with its replicas whole: its columns where cheaper than `start_cost`."""
        import highspy

        columns = len(self.upper)
        self.highs.changeColsIntegrality(columns, np.arange(columns, dtype=np.int32),
                                         np.full(columns, highspy.HighsVarType.kInteger))
        return self._near()

    def _near(self) -> np.ndarray | None:
        highs, nodes = self.highs, self.nodes
        counted = np.arange(nodes, dtype=np.int32)
        highs.changeColsBounds(nodes, counted, np.floor(self.relaxation + ROUNDING),
                               np.minimum(self.upper[:nodes], np.ceil(self.relaxation - ROUNDING)))
        if self.deadline is not None:
            highs_limited(highs, self.deadline)
        highs.run()
        info = highs.getInfo()
        found = np.array(highs.getSolution().col_value) if info.primal_solution_status == FEASIBLE and \
            info.objective_function_value < self.start_cost - ROUNDING else None
        highs.changeColsBounds(nodes, counted, np.zeros(nodes), self.upper[:nodes])
        return found


def _solution(values: np.ndarray):
    import highspy

    solution = highspy.HighsSolution()
    solution.col_value = list(values)
    solution.value_valid = True
    return solution


def _packed(problem: Problem, packing: Packing, movable: _Movable,
            counts: dict[str, Counter[str]]) -> Packing | None:
    """A copy of the packing with the movable work on nodes as `counts` says (see the module's
    doc); None where some replica found no node."""
    trial = copied(packing)
    for class_id, names in movable.nodes.items():
        trial.nodes[class_id] = [node for node in trial.nodes[class_id] if node.name not in names]
    taken = {node.name for nodes in trial.nodes.values() for node in nodes}
    packed: dict[str, list[NodeState]] = defaultdict(list)  # class id -> the nodes packed here
    left: list[tuple[str, str]] = []  # (workload, the class the MIP sent it to)
    for class_id in sorted({c for by_class in counts.values() for c in by_class}):
        node_class = problem.node_class(class_id)
        items = [(problem.demand(w), by_class[class_id]) for w, by_class in counts.items()
                 if by_class.get(class_id)]
        before = len(trial.nodes.setdefault(class_id, []))
        packer = ClassPacker(problem, node_class, items)
        packer.run(trial, _within_count)
        packed[class_id].extend(trial.nodes[class_id][before:])
        taken.update(node.name for node in packed[class_id])
        left.extend((demand.name, class_id) for demand, amount in packer.leftovers() for _ in range(amount))
    return trial if _left_placed(problem, trial, movable, packed, left, taken) else None


def _within_count(node_class: NodeClass, packing: Packing) -> bool:
    return packing.opened(node_class.id) < node_class.count


def _fits(demand: Demand, node: NodeState, most: int) -> bool:
    return node.hosted.get(demand.name, 0) < most and \
        all(node.free[r] >= demand.requests.get(r, 0) for r in RESOURCES)


def _take(node: NodeState, demand: Demand) -> None:
    for r in RESOURCES:
        node.free[r] -= demand.requests.get(r, 0)
    node.hosted[demand.name] = node.hosted.get(demand.name, 0) + 1


def _left_placed(problem: Problem, trial: Packing, movable: _Movable, packed: dict[str, list[NodeState]],
                 left: list[tuple[str, str]], taken: set[str]) -> bool:
    """What no node of its class held, into the room of a node packed here (in its domains
    where they are counted, `_counted`), else onto a new node of the cheapest class it may use
    that keeps the power caps; whether every replica found one."""
    for w, class_id in left:
        demand = problem.demand(w)
        domains = [(t, problem.node_class(class_id).topology_value(t)) for t in _counted(demand)]
        allowed = sorted((c for c in movable.free if c in demand.eligible
                          and all(problem.node_class(c).topology_value(t) == v for t, v in domains)),
                         key=lambda c: (problem.node_class(c).price, c))
        node = next((node for c in allowed for node in packed.get(c, ())
                     if _fits(demand, node, node_limit(demand, problem.node_class(c)))), None)
        for c in allowed if node is None else ():
            node_class = problem.node_class(c)
            name = next((n for n in node_class.node_names[:node_class.count] if n not in taken), None)
            counts = {k.id: trial.opened(k.id) for k in problem.classes}
            counts[c] += 1
            if name is None or not within_limits(problem, counts):
                continue
            candidate = NodeState(name, dict(node_class.capacity_of(name)), {})
            if _fits(demand, candidate, node_limit(demand, node_class)):
                taken.add(name)
                trial.nodes.setdefault(c, []).append(candidate)
                packed[c].append(candidate)
                node = candidate
                break
        if node is None:
            return False
        _take(node, demand)
    trial._room.clear()
    return True

