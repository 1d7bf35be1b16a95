"""Joint moves at fleet scale: a zone pair re-solved exactly, spliced back where it pays (issue 18).

`move_scale.improve` changes one node at a time, and a replica of a workload that another's
zone anti-affinity names stays in its zone. Some savings need several moves at once (session
15's reference, inventory 1,000 nodes, seed 0: `svc73` and `svc26`, kept apart by zone, swap
zones and two 3.02 USD/h nodes empty; seed 2: work leaves a repriced pool for several pools at
once). This step frees a *neighbourhood* (the nodes of a pair of zones) and re-solves it as a
small node-level MIP (HiGHS), everything outside it kept as it is:

- the nodes: the pair's nodes in use, the dearest first, while the model stays within about
  `MAX_COLUMNS` columns (the rest keep their replicas), and, of each class of the pair (the
  cheapest for their cores first), up to `FREE_NODES_PER_CLASS` nodes not in use, at most
  `MAX_FREE_NODES` in all (the first in the class's order: a class's nodes are alike);
- the replicas: those on the freed nodes of every *free* demand (`_free_demands`: its rules
  over a topology are anti-affinities on a node or a zone, spreads over a topology other
  than `node` and latency; not pinned, not an option), each demand's count over the pair kept, so the rest
  of the fleet sees the same replicas; every other replica stays on its node;
- the rules the MIP keeps: eligibility, capacity per resource, one a node, workloads apart or
  alone on a node, zone anti-affinity (a workload present in a zone is one integer per zone),
  zone spreads (each zone of the pair within `max_skew` of every other domain, the others'
  counts constants), spreads over other topologies (each domain's count within the pair kept),
  latency (per rule, the free replicas within reach at least as many as now), power caps and
  buy limits;
- the objective: the nodes' prices, `move_price` per node bought and per node drained, less
  `move_price` per replica that stays on the node it runs on now. With each demand's count
  fixed, a demand's moves are min(running, asked) less its stays (`moves_between`), so this
  is the plan's objective less a constant: a lower value is a cheaper plan.

HiGHS starts from the neighbourhood as it is (`setSolution`), so it never answers worse. A
step is spliced back when its value is lower, computed again exactly (fractions) from the
nodes it changes, and kept only if `verify` finds every rule of the whole fleet kept (else it
is undone): no rule is taken on trust from the model.

Which neighbourhoods, in order (deterministic): first, around each option group, its hosts
with the nodes its options could use in any zone (`group_hood.py`); then pairs of zones, taken
in turn from two rankings (`_neighbourhoods`): by churn (the replicas that came to or left the zones' nodes,
and nodes opened or drained: where the greedy repair worked) and by what the zones' nodes in
use could save as a share of a cheaper class's node (`_potentials`). Each pair once. Then
the zones of each jurisdiction (EU, US: more than two zones) as one step (`_regions`), for
trades no pair holds, with `REGION_CPU_SECONDS` of CPU each. Last (`_option_steps`), the pairs again
where an option group runs, its options free as well: each option's count free, the group's
throughput a row, an option's moves min(running, placed) less its stays (a binary picks the
side of the minimum), within `OPTIONS_CPU_SECONDS`. Work is capped by
`MIP_MAX_NODES` branch-and-bound nodes per step (deterministic), by HiGHS's own
`STEP_SECONDS` per step (wall; a safety net), by `STEP_CPU_SECONDS` of process CPU per step
and `CPU_SECONDS` over all steps (no step starts past it; HiGHS is interrupted at either,
its best so far kept): a slower machine may try fewer pairs or stop one sooner, the one way
the answer can depend on the machine, as the bound's CPU cap already does. Past `LARGE_NODES`
nodes no step is run.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np
from scipy import sparse

from fitlang.model.problem import RESOURCES, Demand, NodeClass, OptionGroup
from fitlang.solve.backends import watch
from fitlang.solve.clock import wall_seconds
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.move_scale import FleetNode, ScaleMove, SpreadCounts, zone_of

CPU_SECONDS = 1.6  # of process CPU over all steps,
STEP_CPU_SECONDS = 0.4  # and in one step's branch and bound (so that the fourth pair is tried:
# inventory 1,000 nodes, seed 2, the repriced pool's; its step takes ~0.3 s)
# past this many nodes no step is tried: inventory 10,000 nodes, seed 0, the first 12 pairs
# (the nodes in use they free capped by MAX_COLUMNS, 120 or 24 nodes not in use) found
# nothing cheaper in 5.4 or 2.7 s of CPU, where the rest of the plan already takes ~4.5 s
LARGE_NODES = 2_000
STEP_SECONDS = 5.0  # HiGHS's own wall limit per step: a safety net (the node limit decides: a wall
# limit of 0.5 s cut seed 2's repriced-pool step on a loaded machine, 1232.34 -> 1236.84)
MIP_MAX_NODES = 200  # branch-and-bound nodes per step
REGION_CPU_SECONDS = 0.8  # of process CPU in a jurisdiction's step (`_regions`)
OPTIONS_CPU_SECONDS = 0.8  # and over the option groups' steps (`_option_steps`)
MAX_NODES_IN_USE = 200  # of the pair's nodes in use, the dearest, are freed
FREE_NODES_PER_CLASS = 6  # nodes not in use per class of the pair a step may open,
# and at most this many in all: inventory 1,000 plan 3 at 5 s, a mean of 49.08 USD/h over 5 runs
# with 120, 48.93 with 400 (its jurisdictions' steps open ~200 of their 174-198 spare nodes, its
# pairs with the on-prem zones' 25-46 classes free fewer nodes in use); plan 0 141.46-141.72
# against 142.10-142.14, plans 1 / 2 within the search's spread (session 48)
MAX_FREE_NODES = 400
MAX_COLUMNS = 6_000  # a step's model (an estimate bounds the nodes in use it frees)
MAX_STEPS = 40  # neighbourhoods tried at most
IMPROVEMENT = 1e-6  # the MIP's value must fall by more than this (USD/h) to be spliced

Zone = tuple  # (cluster, zone) as `move_scale.zone_of` gives it


@dataclass
class _Neighbourhood:
    """One step's sub-problem: its nodes, the replicas free to move, and the MIP's columns."""

    zones: tuple[Zone, ...]
    nodes: list[str]  # in use (freed) first, then not in use
    classes: list[NodeClass]
    free: Counter  # demand -> its replicas on the freed nodes
    fixed: dict[str, Counter]  # node -> the replicas that stay on it (not free)
    before: dict[str, Counter]  # node -> its free replicas now (the start)
    columns: list[tuple] = field(default_factory=list)  # ("x", d, n) / ("open", n) / ...
    index: dict[tuple, int] = field(default_factory=dict)
    lower: list[float] = field(default_factory=list)
    upper: list[float] = field(default_factory=list)
    integer: list[int] = field(default_factory=list)
    cost: list[float] = field(default_factory=list)
    rows: list[tuple[dict[int, float], float, float]] = field(default_factory=list)
    start_flags: dict[int, float] = field(default_factory=dict)  # zone flags' values now
    class_of: dict[str, NodeClass] = field(default_factory=dict)
    fixed_names: dict[str, list[str]] = field(default_factory=dict)  # node -> its fixed demands
    hosts: dict[str, list[tuple[int, int]]] = field(default_factory=dict)
    # option demand -> its group, for the groups with an option freed; `free` is then the
    # most of it the step may place, `outside` its replicas on the nodes not freed
    groups: dict[str, OptionGroup] = field(default_factory=dict)
    outside: Counter = field(default_factory=Counter)
    running: Counter = field(default_factory=Counter)  # option demand -> its replicas running now

    def column(self, key: tuple, lower: float, upper: float, integer: bool, cost: float = 0.0) -> int:
        self.index[key] = len(self.columns)
        self.columns.append(key)
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(int(integer))
        self.cost.append(cost)
        return self.index[key]

    def row(self, terms: dict[int, float], lower: float, upper: float) -> None:
        if terms:
            self.rows.append((terms, lower, upper))


def improve_jointly(fleet: ScaleMove, cpu_seconds: float | None = None, deadline: float | None = None) -> int:
    """Neighbourhood steps over the fleet (module's docstring); returns the steps kept. No step
    starts at or past `deadline` (monotonic; the plan's time limit less what follows the move),
    and HiGHS stops there: the CPU caps alone let a 2 s plan of inventory 1,000 run its steps
    for 15 s of wall time at load 6-8 (4.4 CPU s)."""
    from fitlang.solve.group_hood import ALL_CPU_SECONDS, improve_all_groups, improve_groups

    problem = fleet.problem
    if problem.allow_unplaced or _past(deadline):  # (ranking the pairs alone: 0.07 CPU s at 1,000)
        return 0
    if cpu_seconds is None:
        if sum(c.count for c in problem.classes) > LARGE_NODES:
            return 0
        cpu_seconds = CPU_SECONDS
    free_demands = _free_demands(fleet)
    # first the steps around each option group, over every zone its options may use
    # (`group_hood`: inventory 1,000 plans 9 / 10, 4-10 USD/h no pair of zones holds)
    kept = improve_groups(fleet, free_demands, deadline)
    started = time.process_time()
    for zones in _neighbourhoods(fleet, free_demands)[:MAX_STEPS] if free_demands else []:
        # (a step starts while the CPU used is within the cap; its branch and bound stops at
        # the cap, so the steps pass it by at most one build and splice)
        if time.process_time() - started > cpu_seconds or _past(deadline):
            break
        step_deadline = min(started + cpu_seconds, time.process_time() + STEP_CPU_SECONDS)
        kept += _step(fleet, zones, free_demands, step_deadline, deadline)
    # every option group at once, after the pairs (`group_hood`: a chain of option switches
    # no one group's step holds), only in time the steps after it leave at their caps (run
    # before them in what they need, held-out plan 30 lost its region step's 0.57 USD/h)
    after = len(_regions(fleet, {})) * REGION_CPU_SECONDS + OPTIONS_CPU_SECONDS
    if deadline is None or deadline - time.monotonic() > ALL_CPU_SECONDS + after:
        kept += improve_all_groups(fleet, free_demands, deadline)
    # after the pairs, each jurisdiction's zones at once (their own CPU: ahead of the pairs,
    # cut at a pair's 0.4 s, they blocked better pairs, inventory 300 seed 3: 34.06 -> 34.44)
    for zones in _regions(fleet, _potentials(fleet, free_demands)) if free_demands else []:
        if _past(deadline):
            break
        kept += _step(fleet, zones, free_demands, time.process_time() + REGION_CPU_SECONDS, deadline)
    return kept + _option_steps(fleet, free_demands, deadline)


def _option_steps(fleet: ScaleMove, free_demands: set[str], deadline: float | None = None) -> int:
    """Last, the pairs of zones with replicas of an option group there, the group's options
    free too (switched where that pays: inventory 300 nodes, seed 5, `infer10` from A10G in
    eu-central-1a to L4 in eu-west-1b), within `OPTIONS_CPU_SECONDS`. Not in the steps
    above: with the counts free, their MIPs answered other moves of the same value, and what
    `improve` made of them after was dearer (seed 6: 97.75 -> 99.09 USD/h)."""
    options = set(_free_groups(fleet.problem))
    hosting = {zone_of(node.node_class) for node in fleet.nodes.values() if options.intersection(node.hosted)}
    if not hosting:
        return 0
    free, kept, started = free_demands | options, 0, time.process_time()
    for zones in _neighbourhoods(fleet, free):
        if time.process_time() - started > OPTIONS_CPU_SECONDS or _past(deadline):
            break
        if hosting.intersection(zones):
            step_deadline = min(started + OPTIONS_CPU_SECONDS, time.process_time() + STEP_CPU_SECONDS)
            kept += _step(fleet, zones, free, step_deadline, deadline)
    return kept


def _past(deadline: float | None) -> bool:
    return deadline is not None and time.monotonic() >= deadline


def _step(fleet: ScaleMove, zones: tuple[Zone, ...], free_demands: set[str], cpu_deadline: float,
          deadline: float | None = None) -> bool:
    """One neighbourhood: solved, spliced where its exact value falls, undone where `verify`
    finds a rule of the whole fleet broken. Was it kept?"""
    hood = _build(fleet, zones, free_demands)
    return hood is not None and solved_and_spliced(fleet, hood, cpu_deadline, deadline)


def solved_and_spliced(fleet: ScaleMove, hood: _Neighbourhood, cpu_deadline: float,
                       deadline: float | None = None, whole: bool = False) -> bool:
    """A neighbourhood built: solved, spliced where its exact value falls, undone where
    `verify` finds a rule of the whole fleet broken (and, with `whole`, where the whole plan's
    objective, worked out again over the fleet, does not fall). Was it kept?"""
    from fitlang.solve.moving import objective_value

    after = _solve(hood, cpu_deadline, deadline)
    if after is None or _value(fleet, hood, after) >= _value(fleet, hood, hood.before):
        return False
    problem = fleet.problem
    was = objective_value(problem, problem.objective[0], fleet.state(), set(fleet.bought)) if whole else None
    before = fleet.moved()
    _splice(fleet, hood, hood.before, after)
    if _broken(fleet) or fleet.past_cap(before) or (was is not None and objective_value(
            problem, problem.objective[0], fleet.state(), set(fleet.bought)) >= was):
        _splice(fleet, hood, after, hood.before)
        return False
    return True


# ---- which demands and which neighbourhoods --------------------------------------------------

def _free_demands(fleet: ScaleMove) -> set[str]:
    """The demands whose replicas a step may move between the pair's nodes: the rules over a
    topology the MIP writes (anti-affinity on a node or zone, spreads not over `node`,
    latency), not pinned, not an option of a group (`_free_groups`), not named by another's
    affinity of another kind."""
    problem = fleet.problem
    grouped = {name for group in problem.option_groups for name in group.demands}
    named = {rule.target for d in problem.demands for rule in d.affinities
             if not (rule.anti and rule.topology in ("node", "zone"))}
    free = set()
    for demand in problem.demands:
        if demand.name in grouped or demand.name in problem.pinned or demand.workload in named or \
                demand.gang or demand.exclusive or demand.window is not None:
            continue
        if any(not (r.anti and r.topology in ("node", "zone")) for r in demand.affinities):
            continue
        if any(s.topology == "node" for s in demand.spreads):
            continue
        free.add(demand.name)
    return free


def _free_groups(problem) -> dict[str, OptionGroup]:
    """Option demand -> its group, for the groups a step may switch between options (300
    nodes, seed 5: `infer10` from A10G in eu-central-1a to L4 in eu-west-1b): not a gang, no
    option pinned, exclusive or windowed, with no rule over a topology and named by none (the
    MIP writes only the group's throughput for them)."""
    named = {rule.target for d in problem.demands for rule in d.affinities}
    free: dict[str, OptionGroup] = {}
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        if group.gang or group.workload in named or any(
                d.name in problem.pinned or d.gang or d.exclusive or d.window is not None
                or d.affinities or d.spreads or d.latency for d in members):
            continue
        free.update((d.name, group) for d in members)
    return free


def _neighbourhoods(fleet: ScaleMove, free_demands: set[str]) -> list[tuple[Zone, ...]]:
    """Pairs of zones, two rankings taken in turn (each pair once): by what changed there
    (`_churn`: the plan's greedy repair worked there; inventory 1,000 nodes, seed 0: the
    drained pool's zone and the zone a zone anti-affinity ties it to) and by what the nodes
    there could save (`_potentials`: seed 2, the repriced pool's zone); ties by name."""
    worth = _potentials(fleet, free_demands)
    churn = _churn(fleet)
    zones = sorted({zone_of(c) for c in fleet.problem.classes if c.count}, key=str)
    pairs: list[tuple[Zone, ...]] = [(a, b) for i, a in enumerate(zones) for b in zones[i + 1:]]
    if len(zones) == 1:
        pairs = [(zones[0],)]
    by_worth, by_churn = [], []
    for pair in pairs:
        by_worth.append((-_saving(worth, pair), str(pair), pair))
        by_churn.append((-sum(churn[zone] for zone in pair), str(pair), pair))
    ordered: list[tuple[Zone, ...]] = []
    for first, second in zip(sorted(by_churn), sorted(by_worth)):
        for _, _, pair in (first, second):
            if pair not in ordered:
                ordered.append(pair)
    return ordered


def _saving(worth: dict[tuple, dict[Zone, float]], zones: tuple[Zone, ...]) -> float:
    """What the nodes in use of the zones could save within them (`_potentials`)."""
    return sum(max(found.get(zone, 0.0) for zone in zones)
               for (home, _), found in worth.items() if home in zones)


def _regions(fleet: ScaleMove, worth: dict[tuple, dict[Zone, float]]) -> list[tuple[Zone, ...]]:
    """The zones of each jurisdiction stated (more than two of them: two are a pair), those
    that could save the most first. Some savings are trades over several zones at once, which
    no pair holds (inventory 300 nodes, seed 1: `batch17` eu-west-1a -> 1b, `svc4` and `svc6`
    1b -> 1a, `svc14` and `svc28` to the Frankfurt zones; a 5.07 and a 2.53 USD/h node for one
    6.24): the five EU zones as one step find it (41.15 -> 40.14, the optimum 39.92)."""
    zones_of: dict[str, set[Zone]] = {}
    for node_class in fleet.problem.classes:
        if node_class.count and node_class.jurisdiction is not None:
            zones_of.setdefault(node_class.jurisdiction, set()).add(zone_of(node_class))
    groups = [tuple(sorted(zones, key=str)) for zones in zones_of.values() if len(zones) > 2]
    return [group for _, _, group in sorted((-_saving(worth, g), str(g), g) for g in groups)]


def _churn(fleet: ScaleMove) -> Counter:
    """Per zone: the replicas that came to or left its nodes, and its nodes opened or
    drained, from what runs now to the fleet as it is."""
    churn: Counter = Counter()
    owners = fleet.owners
    for name, node in fleet.nodes.items():
        now = fleet.running_now.get(name, Counter())
        zone = zone_of(node.node_class)
        churn[zone] += sum(max(0, count - now[d]) for d, count in node.hosted.items())
        churn[zone] += 1 if node.hosted and not now else 0
    for name, now in fleet.running_now.items():
        if name not in owners:
            continue
        zone = zone_of(owners[name])
        in_use = fleet.nodes.get(name)
        hosted = in_use.hosted if in_use is not None else Counter()
        churn[zone] += sum(max(0, count - hosted[d]) for d, count in now.items())
        churn[zone] += 1 if not hosted else 0
    return churn


def _potentials(fleet: ScaleMove, free_demands: set[str]) -> dict[tuple, dict[Zone, float]]:
    """Per node in use whose replicas may all move ((zone, name) -> zone -> USD/h): what it
    costs less what its replicas would cost as a share of a node of the cheapest class of
    that zone eligible for all of them (with a node not in use, or its own): a fractional
    saving, the most a step freeing its zone and that one could make of it. A step is worth
    about the sum over its nodes (inventory 1,000 nodes: the zones of the repriced pool, and
    of the nodes a zone anti-affinity keeps dear, rank first)."""
    problem = fleet.problem
    classes = problem.classes
    has_free = np.array([c.count > sum(1 for n in c.node_names[:c.count] if n in fleet.nodes)
                         if c.count < 64 else True for c in classes])
    class_zones = [zone_of(c) for c in classes]
    zones = sorted(set(class_zones), key=str)
    in_zone = {z: np.array([class_zones[i] == z for i in range(len(classes))]) for z in zones}
    capacity = np.maximum(fleet.class_capacity, 1)
    prices = np.array([float(c.price) for c in classes])
    worth: dict[tuple, dict[Zone, float]] = {}
    for node in fleet.nodes.values():
        if not node.hosted or any(d not in free_demands for d in node.hosted):
            continue
        used = fleet._used(node)
        eligible = np.logical_and.reduce([fleet.eligible_mask[d] for d in node.hosted])
        share = (used[None, :] / capacity).max(axis=1)
        fractional = np.where(eligible & (share <= 1.0), prices * share, np.inf)
        own = fleet.rows.class_index[node.node_class.id]
        price = float(node.node_class.price)
        found = {}
        for zone in zones:
            allowed = in_zone[zone] & has_free
            if zone == zone_of(node.node_class):
                allowed = allowed.copy()
                allowed[own] = True
            least = fractional[allowed].min(initial=np.inf)
            if least < price:
                found[zone] = price - least
        if found:
            worth[zone_of(node.node_class), node.name] = found
    return worth


def _zone_apart(problem) -> dict[str, set[str]]:
    """Workload -> the workloads it may not share a zone with (either's rule; `self` too)."""
    apart: dict[str, set[str]] = {}
    for demand in problem.demands:
        for rule in demand.affinities:
            if rule.anti and rule.topology == "zone":
                other = demand.workload if rule.target == "self" else rule.target
                apart.setdefault(demand.workload, set()).add(other)
                apart.setdefault(other, set()).add(demand.workload)
    return apart


# ---- the sub-problem --------------------------------------------------------------------------

def _build(fleet: ScaleMove, zones: tuple[Zone, ...], free_demands: set[str]) -> _Neighbourhood | None:
    problem = fleet.problem
    candidates_in_use = sorted((n for n in fleet.nodes.values() if n.hosted and zone_of(n.node_class) in zones
                                and not any(d in problem.pinned for d in n.hosted)),
                               key=lambda n: (-n.node_class.price, n.row))[:MAX_NODES_IN_USE]
    free: set[str] = set()
    in_use: list[FleetNode] = []
    for node in candidates_in_use:  # the dearest, while the model stays small (an upper bound
        # on its columns: every free demand on every node, with the nodes not in use to come)
        freed = {d for d in node.hosted if d in free_demands}
        if in_use and len(free | freed) * (len(in_use) + 1 + MAX_FREE_NODES // 2) > MAX_COLUMNS:
            break
        in_use.append(node)
        free |= freed
    if not free:
        return None
    classes = [c for c in problem.classes if zone_of(c) in zones]
    return assembled(fleet, zones, in_use, classes, free_demands, FREE_NODES_PER_CLASS)


def assembled(fleet: ScaleMove, zones: tuple[Zone, ...], in_use: list[FleetNode], classes: list[NodeClass],
              free_demands: set[str], per_class: int) -> _Neighbourhood | None:
    """The step's MIP over the nodes in use given (their free replicas freed) and up to
    `per_class` nodes not in use of each of the classes given (every node in a zone of
    `zones`: the zone rules count the step's zones)."""
    problem = fleet.problem
    free: Counter = Counter()
    fixed: dict[str, Counter] = {}
    before: dict[str, Counter] = {}
    for node in in_use:
        before[node.name] = Counter({d: c for d, c in node.hosted.items() if d in free_demands})
        fixed[node.name] = Counter({d: c for d, c in node.hosted.items() if d not in free_demands})
        free.update(before[node.name])
    if not free:
        return None
    groups, outside = _options_in(fleet, free)
    names = [n.name for n in in_use]
    # nodes not in use: of the classes cheapest for their cores first (at 10,000 nodes a
    # zone has more classes than a step can weigh)
    candidates = sorted((c for c in classes if _eligible_among(fleet, c, free)),
                        key=lambda c: (c.price / max(c.capacity["cpu"], 1), c.id))
    for node_class in candidates:
        spare = [name for name in node_class.node_names[:node_class.count] if name not in fleet.nodes]
        for name in spare[:min(per_class, MAX_FREE_NODES + len(in_use) - len(names))]:
            names.append(name)
            before[name], fixed[name] = Counter(), Counter()
    hood = _Neighbourhood(zones, names, [fleet.owners[n] for n in names], free, fixed, before, groups=groups,
                          outside=outside, running=Counter({d: problem.running_total(d) for d in groups}))
    hood.class_of = dict(zip(names, hood.classes))
    hood.fixed_names = {name: sorted(d for d, c in fixed[name].items() if c) for name in names}
    _columns(fleet, hood)
    _rules(fleet, hood)
    return hood


def _options_in(fleet: ScaleMove, free: Counter) -> tuple[dict[str, OptionGroup], Counter]:
    """The free groups with an option on the freed nodes: every option of each enters `free`
    (updated) as the most of it the step may place (its replicas less those outside the
    step), and their replicas outside the step."""
    groups = {name: group for name, group in _free_groups(fleet.problem).items()
              if any(free[other] for other in group.demands)}
    outside: Counter = Counter()
    for name in groups:
        total = sum(node.hosted[name] for node in fleet.nodes.values())
        outside[name] = total - free[name]
        free[name] = fleet.problem.demand(name).replicas - outside[name]
        if free[name] <= 0:
            del free[name]
    return groups, outside


def _eligible_among(fleet: ScaleMove, node_class: NodeClass, demands) -> list[str]:
    """Those of the demands that may run on the class, in name order."""
    row = fleet.rows.class_index[node_class.id]
    return [d for d in sorted(demands) if fleet.eligible_mask[d][row]]


def _room(fleet: ScaleMove, hood: _Neighbourhood, name: str) -> np.ndarray:
    """A node's capacity less what its fixed replicas use."""
    node_class = hood.class_of[name]
    room = np.array([node_class.capacity_of(name)[r] for r in RESOURCES], dtype=np.int64)
    for demand, count in hood.fixed[name].items():
        room -= fleet.need[demand] * count
    return room


def _columns(fleet: ScaleMove, hood: _Neighbourhood) -> None:
    """x (replicas of a free demand on a node), open (a node in use at the end), stay (of the
    replicas running there now, those still there)."""
    problem, price = fleet.problem, float(fleet.price)
    running_now = fleet.running_now
    bought_now = set(problem.bought_now)
    for name, node_class in zip(hood.nodes, hood.classes):
        has_fixed = bool(hood.fixed_names[name])
        opening = float(node_class.price)
        if node_class.provisioned and name not in bought_now:
            opening += price  # a node bought
        if name in running_now or name in bought_now:
            opening -= price  # closed, it is drained: open, that change is saved
        hood.column(("open", name), 1.0 if has_fixed else 0.0, 1.0, True, opening)
        room = _room(fleet, hood, name)
        for demand in _eligible_among(fleet, node_class, hood.free):
            if not _takes(fleet, hood, name, demand):
                continue
            need = fleet.need[demand]
            most = hood.free[demand]
            for i in range(len(RESOURCES)):
                if need[i] > 0:
                    most = min(most, int(room[i] // need[i]))
            if problem.demand(demand).one_per_node:
                most = min(most, 1)
            if most <= 0:
                continue
            hood.column(("x", demand, name), 0.0, float(most), True)
            now = running_now.get(name, Counter())[demand]
            if now:
                hood.column(("stay", demand, name), 0.0, float(min(now, most)), False, -price)


def _takes(fleet: ScaleMove, hood: _Neighbourhood, name: str, demand: str) -> bool:
    """May the demand share the node with its fixed replicas (apart, alone)?"""
    others = [d for d in hood.fixed_names[name] if d != demand]
    if not others:
        return True
    if demand in fleet.alone or any(d in fleet.alone for d in others):
        return False
    return not any(d in fleet.apart.get(demand, ()) for d in others)


def _rules(fleet: ScaleMove, hood: _Neighbourhood) -> None:
    x_of: dict[str, list[tuple[str, int]]] = {}  # demand -> (node, column)
    on_node: dict[str, list[tuple[str, int]]] = {}  # node -> (demand, column)
    for key, column in hood.index.items():
        if key[0] == "x":
            x_of.setdefault(key[1], []).append((key[2], column))
            on_node.setdefault(key[2], []).append((key[1], column))
    for demand, count in hood.free.items():  # each demand's replicas over the pair kept
        hood.row({column: 1.0 for _, column in x_of.get(demand, [])},
                 0.0 if demand in hood.groups else count, count)  # (an option: at most)
    _option_rows(fleet, hood, x_of)
    for key, column in list(hood.index.items()):
        if key[0] == "stay":
            hood.row({column: 1.0, hood.index["x", key[1], key[2]]: -1.0}, -np.inf, 0.0)
    for name in hood.nodes:
        _node_rows(fleet, hood, name, on_node.get(name, []))
    _zone_rows(fleet, hood, x_of)
    _spread_rows(fleet, hood, x_of)
    _latency_rows(fleet, hood, x_of)
    _scope_rows(fleet, hood)


def _option_rows(fleet: ScaleMove, hood: _Neighbourhood, x_of: dict[str, list[tuple[str, int]]]) -> None:
    """Per option group freed: its throughput (the options outside the step constants), in
    integers (the row scaled by its denominators: `verify` compares fractions). Per option:
    its moves, min(running, placed) less its stays (`moves_between`), priced; the minimum
    is concave, so a binary picks the side (`move_reference._objective`): paired >= placed
    - big x which, paired >= running - big x (1 - which)."""
    problem, price = fleet.problem, float(fleet.price)
    for group in {id(g): g for g in hood.groups.values()}.values():
        members = [problem.demand(name) for name in group.demands]
        scale = math.lcm(group.required.denominator, *(d.throughput.denominator for d in members))
        delivered = sum((d.throughput * hood.outside[d.name] for d in members), Fraction(0))
        terms = {column: float(d.throughput * scale) for d in members for _, column in x_of.get(d.name, [])}
        hood.row(terms, float((group.required - delivered) * scale), np.inf)
    for name in sorted(hood.groups):
        running = hood.running[name]
        if not running or not price:
            continue
        big = float(max(running, problem.demand(name).replicas))
        paired = hood.column(("paired", name), 0.0, float(running), False, price)
        which = hood.column(("which", name), 0.0, 1.0, True)
        placed = {column: -1.0 for _, column in x_of.get(name, [])}
        hood.row({paired: 1.0, which: big, **placed}, float(hood.outside[name]), np.inf)
        hood.row({paired: 1.0, which: -big}, running - big, np.inf)


def _node_rows(fleet: ScaleMove, hood: _Neighbourhood, name: str, placed: list[tuple[str, int]]) -> None:
    """Capacity per resource (scaled to the node's room), nothing on a node not open, and
    workloads apart or alone on it."""
    opened = hood.index["open", name]
    room = _room(fleet, hood, name)
    for i in range(len(RESOURCES)):
        scale = float(max(room[i], 1))
        terms = {column: float(fleet.need[d][i]) / scale for d, column in placed if fleet.need[d][i]}
        if terms:
            terms[opened] = -float(room[i]) / scale
            hood.row(terms, -np.inf, 0.0)
    for _, column in placed:
        hood.row({column: 1.0, opened: -hood.upper[column]}, -np.inf, 0.0)
    names = {d for d, _ in placed}
    pairs = {(a, b) for a in names for b in fleet.apart.get(a, ()) if b in names and a < b}
    alone = [d for d in names if d in fleet.alone]
    if not pairs and not alone:
        return
    used = {}
    for demand, column in placed:  # whether the node hosts the demand at all
        flag = hood.column(("on", demand, name), 0.0, 1.0, True)
        hood.row({column: 1.0, flag: -hood.upper[column]}, -np.inf, 0.0)
        used[demand] = flag
    for a, b in sorted(pairs):
        hood.row({used[a]: 1.0, used[b]: 1.0}, -np.inf, 1.0)
    for a in sorted(alone):
        for b in sorted(names - {a}):
            hood.row({used[a]: 1.0, used[b]: 1.0}, -np.inf, 1.0)


def _zone_rows(fleet: ScaleMove, hood: _Neighbourhood, x_of: dict[str, list[tuple[str, int]]]) -> None:
    """Zone anti-affinity: per workload and zone of the pair, whether it runs there (its fixed
    replicas there, or a free one placed); two kept apart are not both; `self`: one a zone."""
    problem = fleet.problem
    apart = _zone_apart(problem)
    if not apart:
        return
    workload_of = {d.name: d.workload for d in problem.demands}
    in_pair: Counter = Counter()  # (workload, zone) -> its replicas on the pair's freed nodes now
    for name, counts in hood.before.items():
        for demand, count in counts.items():
            in_pair[workload_of[demand], zone_of(hood.class_of[name])] += count
    present: dict[tuple[str, Zone], int | bool] = {}
    for workload in sorted(apart):
        for zone in hood.zones:
            fixed_here = fleet.in_zone[workload, zone] - in_pair[workload, zone] > 0
            columns = [c for d, cols in x_of.items() if workload_of[d] == workload
                       for n, c in cols if zone_of(hood.class_of[n]) == zone]
            if fixed_here:
                present[workload, zone] = True
            elif columns:
                flag = hood.column(("in_zone", workload, zone), 0.0, 1.0, True)
                present[workload, zone] = flag
                hood.start_flags[flag] = 1.0 if in_pair[workload, zone] > 0 else 0.0
                for column in columns:
                    hood.row({column: 1.0, flag: -hood.upper[column]}, -np.inf, 0.0)
            else:
                present[workload, zone] = False
            if workload in apart[workload] and columns:  # `self`: one replica a zone
                fixed_count = fleet.in_zone[workload, zone] - in_pair[workload, zone]
                hood.row({c: 1.0 for c in columns}, -np.inf, 1.0 - fixed_count)
    for workload in sorted(apart):
        for other in sorted(apart[workload]):
            if other <= workload:
                continue
            for zone in hood.zones:
                a, b = present.get((workload, zone), False), present.get((other, zone), False)
                if a is False or b is False:
                    continue
                if a is True and b is True:
                    continue  # both stay there already (outside the step): not this step's doing
                terms = {}
                if a is not True:
                    terms[a] = 1.0
                if b is not True:
                    terms[b] = 1.0
                hood.row(terms, -np.inf, 1.0 if a is not True and b is not True else 0.0)


def _spread_rows(fleet: ScaleMove, hood: _Neighbourhood, x_of: dict[str, list[tuple[str, int]]]) -> None:
    """Per spread of a free demand: over zones, every domain within `max_skew` of every other
    (the domains `SpreadCounts` counts, a superset of `verify`'s); over another topology, each
    domain's count within the pair kept as it is."""
    problem = fleet.problem
    spreading = {d for d in hood.free if any(s.topology == "zone" for s in problem.demand(d).spreads)}
    hood.hosts = {}  # demand -> (class row, its replicas there) outside the step's free ones
    for node in fleet.nodes.values():
        before = hood.before.get(node.name)
        for name in spreading.intersection(node.hosted):
            amount = node.hosted[name] - (before[name] if before is not None else 0)
            if amount:
                hood.hosts.setdefault(name, []).append((fleet.rows.class_index[node.node_class.id], amount))
    for demand_name in sorted(hood.free):
        demand = problem.demand(demand_name)
        for spread in demand.spreads:
            if spread.topology == "zone":
                _zone_spread(fleet, hood, demand, spread, x_of.get(demand_name, []))
                continue
            by_value: dict[object, dict[int, float]] = {}
            now: Counter = Counter()
            for name, counts in hood.before.items():
                if counts[demand_name]:
                    now[hood.class_of[name].topology_value(spread.topology)] += counts[demand_name]
            for name, column in x_of.get(demand_name, []):
                by_value.setdefault(hood.class_of[name].topology_value(spread.topology), {})[column] = 1.0
            for value in by_value:  # (the replicas there now are on columns of theirs)
                hood.row(by_value[value], now[value], now[value])


def _zone_spread(fleet: ScaleMove, hood: _Neighbourhood, demand: Demand, spread,
                 columns: list[tuple[str, int]]) -> None:
    counts = SpreadCounts(fleet.problem, demand, "zone", spread.max_skew)
    for class_row, amount in hood.hosts.get(demand.name, ()):  # its replicas outside the step
        domain = counts.of_class[class_row]
        if domain >= 0:
            counts.counts[domain] += amount
    variable: dict[int, dict[int, float]] = {}
    for name, column in columns:
        domain = counts.of_class[fleet.rows.class_index[hood.class_of[name].id]]
        if domain < 0:
            hood.upper[column] = 0.0  # (a class with no domain: not counted, not used)
            continue
        variable.setdefault(int(domain), {})[column] = 1.0
    skew, constant = spread.max_skew, counts.counts
    others = [d for d in range(len(constant)) if d not in variable]
    for domain, terms in variable.items():
        if others:
            least, most = min(constant[d] for d in others), max(constant[d] for d in others)
            hood.row(terms, float(most - skew - constant[domain]), float(least + skew - constant[domain]))
        for other, other_terms in variable.items():
            if other != domain:
                merged = dict(terms)
                for column, _ in other_terms.items():
                    merged[column] = merged.get(column, 0.0) - 1.0
                hood.row(merged, -np.inf, float(skew - constant[domain] + constant[other]))


def _latency_rows(fleet: ScaleMove, hood: _Neighbourhood, x_of: dict[str, list[tuple[str, int]]]) -> None:
    """Per latency rule of a free demand: its free replicas within reach at least as many as
    now. Its replicas elsewhere stay, so its count within reach does not fall and the rule
    (at least `replicas` within reach) holds as it did. (Before, a demand with a latency rule
    was never free: node by node it moves only within its zone, so a step was the one way
    for it to leave a dear node for a zone within reach, tests/test_moving.py.)"""
    problem = fleet.problem
    for demand in sorted(hood.free):
        for rule in problem.demand(demand).latency:
            near = {name for name, node_class in hood.class_of.items()
                    if problem.within_reach(rule, node_class)}
            now = sum(counts[demand] for name, counts in hood.before.items() if name in near)
            if now:
                terms = {column: 1.0 for name, column in x_of.get(demand, []) if name in near}
                hood.row(terms, float(now), np.inf)


def _scope_rows(fleet: ScaleMove, hood: _Neighbourhood) -> None:
    """Power caps and buy limits over the nodes the step may open or close."""
    problem = fleet.problem
    for scope in problem.power_caps:
        terms, outside = {}, fleet.watts[scope.name]
        for name, node_class in zip(hood.nodes, hood.classes):
            if node_class.id in scope.classes:
                terms[hood.index["open", name]] = float(node_class.power_watts)
                if name in fleet.nodes:
                    outside -= node_class.power_watts
        hood.row(terms, -np.inf, float(scope.cap_watts - outside))
    for group, limit in problem.buy_limits.items():
        terms, bought_outside = {}, fleet.in_group[group]
        for name, node_class in zip(hood.nodes, hood.classes):
            if node_class.buy_group == group:
                terms[hood.index["open", name]] = 1.0
                if name in fleet.nodes:
                    bought_outside -= 1
        hood.row(terms, -np.inf, float(limit - bought_outside))


# ---- solve, value, splice -----------------------------------------------------------------------

def _solve(hood: _Neighbourhood, cpu_deadline: float | None = None,
           deadline: float | None = None) -> dict[str, Counter] | None:
    """The MIP from the neighbourhood as it is; its end state (node -> free replicas), or
    None when it found nothing cheaper."""
    import highspy

    columns = len(hood.columns)
    row_of = [i for i, (terms, _, _) in enumerate(hood.rows) for _ in terms]
    column_of = [c for terms, _, _ in hood.rows for c in terms]
    value_of = [v for terms, _, _ in hood.rows for v in terms.values()]
    matrix = sparse.csr_matrix((value_of, (row_of, column_of)), shape=(len(hood.rows), columns))
    lower = np.array([low for _, low, _ in hood.rows], dtype=float)
    upper = np.array([high for _, _, high in hood.rows], dtype=float)
    highs = quiet_highs()
    highs.setOptionValue("mip_max_nodes", MIP_MAX_NODES)
    # (on the solve's clock: off the wall, over the share of a core the process has had; a
    # bare 5 s of wall gave a step ~0.3 CPU s at load 45, where a core to itself gives it 5)
    highs.setOptionValue("time_limit", wall_seconds(STEP_SECONDS))
    highs.setOptionValue("mip_rel_gap", 1e-6)
    inf = highspy.kHighsInf
    lower = np.where(np.isinf(lower), -inf, lower)
    upper = np.where(np.isinf(upper), inf, upper)
    highs.passModel(columns, len(hood.rows), matrix.nnz, 2, 1, 0.0, np.array(hood.cost),
                    np.array(hood.lower), np.array(hood.upper), lower, upper,
                    matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32), matrix.data,
                    np.array(hood.integer, dtype=np.int32))
    start = _start(hood)
    highs.setSolution(columns, np.arange(columns, dtype=np.int32), start)
    # the branch and bound stops at the cap on the steps' CPU or at the plan's deadline (its
    # best solution so far kept)
    watch(highs, deadline, None,
          None if cpu_deadline is None else max(cpu_deadline, time.process_time() + 0.1))
    highs.run()
    info = highs.getInfo()
    if info.primal_solution_status != 2:
        return None
    values = np.asarray(highs.getSolution().col_value)
    if float(np.dot(hood.cost, values)) >= float(np.dot(hood.cost, start)) - IMPROVEMENT:
        return None
    after: dict[str, Counter] = {name: Counter() for name in hood.nodes}
    for key, column in hood.index.items():
        if key[0] == "x" and round(float(values[column])) > 0:
            after[key[2]][key[1]] = round(float(values[column]))
    return after


def _start(hood: _Neighbourhood) -> np.ndarray:
    start = np.zeros(len(hood.columns))
    for key, column in hood.index.items():
        kind = key[0]
        if kind == "x":
            start[column] = hood.before[key[2]][key[1]]
        elif kind == "open":
            start[column] = 1.0 if +hood.before[key[1]] or hood.fixed_names[key[1]] else 0.0
        elif kind == "stay":
            start[column] = min(hood.before[key[2]][key[1]], hood.upper[column])
        elif kind == "on":
            start[column] = 1.0 if hood.before[key[2]][key[1]] else 0.0
    for column, value in hood.start_flags.items():
        start[column] = value
    for name in hood.groups:  # an option's moves as they are
        if ("paired", name) in hood.index:
            running, placed = hood.running[name], _option_placed(hood, hood.before, name)
            start[hood.index["paired", name]] = min(running, placed)
            start[hood.index["which", name]] = 1.0 if running <= placed else 0.0
    return start


def _option_placed(hood: _Neighbourhood, end: dict[str, Counter], name: str) -> int:
    """An option's replicas over the whole fleet with the step's nodes as `end` has them."""
    return hood.outside[name] + sum(counts[name] for counts in end.values())


def _value(fleet: ScaleMove, hood: _Neighbourhood, end: dict[str, Counter]) -> Fraction:
    """The plan's objective over the neighbourhood's nodes for this end state of their free
    replicas (less a constant the same for every end state): exact, in fractions."""
    problem, price = fleet.problem, fleet.price
    running_now, bought_now = fleet.running_now, set(problem.bought_now)
    value = Fraction(0)
    for name, node_class in zip(hood.nodes, hood.classes):
        hosted = end[name] + hood.fixed[name]
        if +hosted:
            value += node_class.price
            if node_class.provisioned and name not in bought_now:
                value += price
        elif name in running_now or name in bought_now:
            value += price  # drained
        now = running_now.get(name, Counter())
        value -= price * sum(min(now[d], hosted[d]) for d in hosted)
    for option in hood.groups:  # its count may change: min(running, placed) less its stays
        value += price * min(hood.running[option], _option_placed(hood, end, option))
    return value


def _splice(fleet: ScaleMove, hood: _Neighbourhood, old: dict[str, Counter], new: dict[str, Counter]) -> None:
    """The neighbourhood's free replicas from `old` to `new`: nodes opened and closed."""
    problem = fleet.problem
    for name in hood.nodes:
        for demand, count in old[name].items():
            if count:
                fleet.remove(fleet.nodes[name], problem.demand(demand), count)
    for name in hood.nodes:
        for demand, count in sorted(new[name].items()):
            if count:
                fleet.add(fleet.node(name), problem.demand(demand), count)
    for name in hood.nodes:
        if name in fleet.nodes and not fleet.nodes[name].hosted:
            fleet.close(name)


def _broken(fleet: ScaleMove) -> bool:
    from fitlang.solve.moving import _Checker

    bought = set(fleet.bought)
    return bool(_Checker(fleet.problem, bought | set(fleet.problem.bought_now), "").broken(fleet.state()))
