"""A jurisdiction's priced zones re-solved together: which replicas run in which of its zones
and on which classes, chosen by a counts LP and packed (`fitc plan` past `LARGE_NODES` nodes;
issue 18).

The move's steps change one node, a pool or a workload's option at a time; at inventory
10,000 the plan ends 5-20 USD/h over the fleet solved at rest, and per zone the fleet at rest
runs other replicas in each zone (h45e: 41-187 of a zone's ~300-800 differ), so no step that
keeps each zone's replicas reaches it. A regroup, per group of zones (first each priced
zone alone, those whose LP saves most first, `_zones_by_saving`; then `_groups`: each
jurisdiction's zones with priced classes; the nodes at no price, on-prem, have nothing to
save and are left as they are):

1. the replicas that may move within the group are taken off its priced nodes (`_movable`):
   a workload with no rule over a topology, to any zone of the group; one whose rules over a
   topology count zones, regions or clusters only, within its zone (each zone's count kept, so
   every such rule holds as before); not pinned, no gang. An option keeps its count, but where
   every replica of a workload with options was taken off (none held to a zone, no gang) the
   LP chooses its options (`_Regroup.choices`: its options' replicas deliver the workload's
   throughput, rounded up to deliver it after). The move keeps each workload's options
   otherwise, and where cheap accelerator nodes are held by workloads that save fewer
   accelerators on them, only a chain of switches gains: with the options the search's end
   runs fixed, the charged LP rises 15.0 / 8.0 / 10.8 / 8.0 USD/h on inventory 10,000 plans 34 /
   7 and drains 14 / 25 (h57c), 25-55% of their gaps;
2. an LP over (workload, class) counts (`_counts_lp`): each workload's replicas placed (per
   zone where it is held to one), each class's replicas within the room its nodes still in use
   leave plus the nodes it opens, one replica a node where a workload says so, at the least
   price of the nodes opened less `move_price` per replica that stays on a class it runs on
   now; a workload's columns are the classes it ran on and its `CHEAPEST_CLASSES` cheapest for
   its share of a node (the LP's size: ~4,000-6,000 columns at inventory 10,000);
3. where the LP saves less than `LEAST_SAVING` of the group's priced nodes (a zone alone:
   `ZONE_LEAST_SAVING`), the replicas are put back; else it is solved again with whole nodes
   per class (`_whole_nodes`), its counts rounded (largest remainders) and packed (`_packed`):
   the nodes the LP opens (`_reopened`, a class's fraction of a node opened from `OPEN_FROM`;
   the nodes the replicas left first), replicas that ran there now back onto their nodes, the rest
   (accelerator replicas first, then those one a node, then largest first: `_packing_order`)
   onto the fullest node in use of their class that takes them, else of any class of the
   group, else by `repair` (a held replica within its zone; what the replicas of an option
   group the LP chose for would deliver, by whichever of its options `repair` places for
   least, `_options_delivering`);

kept where the objective is lower (`pool_emptied.kept_if_cheaper`: exact, the moves charged,
the changed nodes tidied by `improve`'s tries), else put back.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from fractions import Fraction
from functools import partial

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, OptionGroup
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.move_scale import FleetNode, ScaleMove, zone_of
from fitlang.solve.pool_emptied import Journal, journal_change, kept_in_turn, past, restore

REGROUP_CPU_SECONDS = 1.5  # the CPU seconds the groups are tried for (plans 10 / 7: both in 0.74-0.85)
CHEAPEST_CLASSES = 6  # columns of a workload besides the classes it ran on
# the LP's saving, as a share of what the group's priced nodes cost, below which the group is
# not packed (inventory 10,000 plan 10: the EU's LP saves 2.3%; packed from the LP's fractions
# it cost 2.8-3.2 USD/h more, from whole nodes (`_whole_nodes`) it saved 0.85; plan 28's
# groups save 1.3% and 2.99%)
LEAST_SAVING = 0.02
# the same for a zone alone (`_zones_by_saving`): its packing is quick and a loss is put back
# (inventory 10,000 from the search's end with no deadline: plan 34's zones -2.66 USD/h, plan
# 10's -4.06; at `--time-limit 5` they rarely get the time, h55e)
ZONE_LEAST_SAVING = 0.005
# the share of the time left the zones' LPs are ranked in (plan 33 at 5 s: ranking all 9 took
# the 0.33 CPU s left, no zone was packed)
RANK_SHARE = 0.5
# the CPU seconds the zones alone are ranked and regrouped for, before the groups' own
# `REGROUP_CPU_SECONDS` (at `--time-limit 10` plan 10's US group saved 3.8 USD/h in 1.44 s:
# sharing one budget, the zones left it none and the plan ended 1.17 USD/h dearer)
ZONE_CPU_SECONDS = 1.0
# a class's fraction of a node the LP opens from which the node is opened before packing
# (plan 10: from 0.2 / 0.5 / 0.8, -1.87 / -3.22 / -3.71 USD/h; what is left over goes to room
# elsewhere or `repair`)
OPEN_FROM = 0.8
# the LP solved again with each class's nodes whole (`_whole_nodes`): a fraction from
# `WHOLE_FROM` rounded up, else down, in up to `WHOLE_ROUNDS` rounds (plans 10 / 7 / 28 at 5 s,
# one run each: from 0.5 484.92 / 558.60 / 435.87 USD/h against 485.14 / 559.42 / 436.16 without,
# from 0.8 / 0.3 plan 10 485.83 / 485.43: rounded down the replicas went to dearer classes)
WHOLE_FROM = 0.5
WHOLE_ROUNDS = 4
ZONE_TOPOLOGIES = ("zone", "region", "cluster")

Group = tuple[tuple, ...]  # zones (`zone_of`)
Column = tuple[str, "tuple | None", int]  # (demand, the zone it is held to, class index)


def regroup_zones(fleet: ScaleMove, objective: str, deadline: float | None,
                  cpu_seconds: float = REGROUP_CPU_SECONDS) -> int:
    """Each priced zone alone, those whose LP saves most first (`_zones_by_saving`), for at
    most `ZONE_CPU_SECONDS` of process time, then each group of zones (module's docstring) for
    at most `cpu_seconds`, regrouped, kept where that lowers `objective`, until the `deadline`;
    returns the regroups kept."""
    if fleet.unplaced or past(deadline):
        return 0
    cpu_end = time.process_time() + ZONE_CPU_SECONDS
    zones = [partial(_regrouped, fleet, zone, deadline, ZONE_LEAST_SAVING)
             for zone in _zones_by_saving(fleet, deadline)]
    kept = kept_in_turn(fleet, objective, zones, deadline, max(0.0, cpu_end - time.process_time()))
    groups = (partial(_regrouped, fleet, group, deadline) for group in _groups(fleet))
    return kept + kept_in_turn(fleet, objective, groups, deadline, cpu_seconds)


def _zones_by_saving(fleet: ScaleMove, deadline: float | None) -> list[Group]:
    """Each priced zone with nodes in use as a group of its own, where its LP saves at least
    `ZONE_LEAST_SAVING` of what its priced nodes cost, those that save most first (each LP
    solved with the zone's replicas taken off, then put back: ~0.03 CPU s a zone at inventory
    10,000). A zone's replicas stay in it, so its LP is small and its packing quick: where a
    jurisdiction's LP takes the time left at `--time-limit 5` (plan 10's US group: 0.39 CPU s,
    its packing then cut and put back), a zone's takes ~0.1 s with its packing, and the zones
    that save most are not those whose nodes cost most (plan 10: eu-west-1b, the fifth by
    cost, saves 2.65 USD/h of the 4.06 all zones save). The zones are tried dearest first for
    at most `RANK_SHARE` of the time left (the rest is the packings')."""
    cost: dict[tuple, float] = {}
    for node in fleet.nodes.values():
        if node.node_class.price > 0:
            zone = zone_of(node.node_class)
            cost[zone] = cost.get(zone, 0.0) + float(node.node_class.price)
    until = None if deadline is None else time.monotonic() + RANK_SHARE * (deadline - time.monotonic())
    savings: list[tuple[float, Group]] = []
    for zone in sorted(cost, key=lambda z: (-cost[z], str(z))):
        if past(until):
            break
        regroup = _Regroup(fleet, (zone,))
        before = regroup.cost()
        regroup.take_off()
        solved = _counts_lp(regroup, deadline) if regroup.taken else None
        regroup.put_back()
        if solved is not None and before - solved[2] >= ZONE_LEAST_SAVING * before:
            savings.append((before - solved[2], (zone,)))
    savings.sort(key=lambda found: (-found[0], str(found[1])))
    return [group for _, group in savings]


def _groups(fleet: ScaleMove) -> list[Group]:
    """Per jurisdiction (those of none: one group), its zones with a priced class, where more
    than one; those whose nodes in use cost most first (plan 10's EU group, 172 USD/h, packed
    before the US's, 289, left the US's the time for part of its packing: 487.50 USD/h at 5 s
    against 485.18 with the US's alone)."""
    zones: dict[str | None, set[tuple]] = {}
    for node_class in fleet.problem.classes:
        if node_class.price > 0:
            zones.setdefault(node_class.jurisdiction, set()).add(zone_of(node_class))
    cost: dict[str | None, float] = {}
    for node in fleet.nodes.values():
        if node.node_class.price > 0:
            jurisdiction = node.node_class.jurisdiction
            cost[jurisdiction] = cost.get(jurisdiction, 0.0) + float(node.node_class.price)
    found = sorted(zones.items(), key=lambda i: (-cost.get(i[0], 0.0), str(i[0])))
    return [tuple(sorted(group, key=str)) for _, group in found if len(group) > 1]


def _tied(fleet: ScaleMove) -> frozenset[str]:
    """The workloads another's rule ties to nodes or to domains finer than a zone: named by an
    affinity on a node (its replicas beside theirs) or by any rule over another topology."""
    return frozenset(rule.target for d in fleet.problem.demands for rule in d.affinities
                     if (rule.topology == "node" and not rule.anti) or
                     rule.topology not in ZONE_TOPOLOGIES + ("node",))


def _movable(fleet: ScaleMove, demand: Demand, tied: frozenset[str]) -> tuple[bool, bool]:
    """May the demand's replicas be regrouped, and are they held to their zone?"""
    if demand.name in fleet.problem.pinned or demand.gang or demand.workload in tied:
        return False, False
    if demand.name not in fleet.zoned:
        return True, False
    by_zone = all(s.topology in ZONE_TOPOLOGIES for s in demand.spreads) and \
        all(r.topology in ZONE_TOPOLOGIES or (r.anti and r.topology == "node") for r in demand.affinities)
    return by_zone, True


class _Regroup:
    """One group's movable replicas taken off its priced nodes."""

    def __init__(self, fleet: ScaleMove, group: Group) -> None:
        self.fleet = fleet
        zones = set(group)
        self.classes = [c for c in fleet.problem.classes if c.price > 0 and zone_of(c) in zones]
        ids = {c.id for c in self.classes}
        self.nodes = [n for n in fleet.nodes.values() if n.node_class.id in ids]
        self.taken: dict[str, Counter] = {}  # demand -> the zone it is held to (or None) -> replicas
        self.removed: list[tuple[str, str, int]] = []  # (node, demand, replicas)
        self.ran_on: set[tuple[str, str]] = set()  # (demand, class id)
        self.stays: Counter = Counter()  # (demand, class id) -> replicas that run there now
        self.was: dict[str, list[tuple[str, str, int]]] = {}  # demand -> (node, class id, running now)
        self.choices: list[OptionGroup] = []  # option groups whose options the LP chooses

    def take_off(self) -> None:
        fleet = self.fleet
        verdicts: dict[str, tuple[bool, bool]] = {}
        tied = _tied(fleet)
        for node in self.nodes:
            now = fleet.running_now.get(node.name, Counter())
            for name, count in sorted(node.hosted.items()):
                if name not in verdicts:
                    verdicts[name] = _movable(fleet, fleet.problem.demand(name), tied)
                movable, held = verdicts[name]
                if not movable:
                    continue
                class_id = node.node_class.id
                self.taken.setdefault(name, Counter())[zone_of(node.node_class) if held else None] += count
                self.ran_on.add((name, class_id))
                self.removed.append((node.name, name, count))
                staying = min(count, now[name])
                if staying:
                    self.stays[name, class_id] += staying
                    self.was.setdefault(name, []).append((node.name, class_id, staying))
                fleet.remove(node, fleet.problem.demand(name), count)
            if not node.hosted:
                fleet.close(node.name)
        fleet.next_free.clear()  # (the nodes just closed found again by `free_node`)
        self._choose_options(tied)

    def _choose_options(self, tied: frozenset[str]) -> None:
        """The option groups this regroup took every replica of (none held to a zone, no
        gang), each option of them a demand taken off (none of an option not running): the
        LP chooses how many replicas each option runs (`_counts_lp`'s throughput rows)."""
        fleet = self.fleet
        zones: set[tuple] | None = None
        for group in fleet.problem.option_groups:
            if group.gang or not any(n in self.taken for n in group.demands):
                continue
            if zones is None:  # (every zone: a workload's replicas left anywhere keep its options)
                zones = {zone_of(c) for c in fleet.problem.classes}
            if any(fleet.in_zone[group.workload, zone] > 0 for zone in zones):
                continue
            if all(_movable(fleet, fleet.problem.demand(n), tied) == (True, False) for n in group.demands):
                self.choices.append(group)
                for name in group.demands:
                    self.taken.setdefault(name, Counter({None: 0}))

    def chosen(self) -> dict[str, OptionGroup]:
        return {name: group for group in self.choices for name in group.demands}

    def put_back(self) -> None:
        for node, name, count in self.removed:
            self.fleet.add(self.fleet.node(node), self.fleet.problem.demand(name), count)

    def cost(self) -> float:
        return sum(float(node.node_class.price) for node in self.nodes)


def _regrouped(fleet: ScaleMove, group: Group, deadline: float | None,
               least_saving: float = LEAST_SAVING) -> None:
    """The group's movable replicas taken off and placed again by the LP's counts (put back
    where the LP saves less than `least_saving` of what the group's priced nodes cost)."""
    regroup = _Regroup(fleet, group)
    before = regroup.cost()
    regroup.take_off()
    if not regroup.taken:
        return
    solved = _counts_lp(regroup, deadline)
    # (an LP that ends past the deadline leaves the packing to the time the waves need: a
    # 10,000-node plan packed a group after it once, at load 29, and ended E0813, its waves cut)
    past = deadline is not None and time.monotonic() > deadline
    if solved is None or past or before - solved[2] < least_saving * before:
        regroup.put_back()
        return
    counts, opened, _ = solved
    _packed(regroup, counts, opened)
    for name in {node.name for node in regroup.nodes}:
        node = fleet.nodes.get(name)
        if node is not None and not node.hosted:
            fleet.close(name)


def _columns(regroup: _Regroup) -> list[Column]:
    fleet = regroup.fleet
    classes = regroup.classes
    capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in classes], dtype=float)
    prices = np.array([float(c.price) for c in classes])
    zones = [zone_of(c) for c in classes]
    in_group = _only(fleet, classes)[[fleet.rows.class_index[c.id] for c in fleet.problem.classes]]
    of_problem = np.flatnonzero(in_group)  # (problem class index of each group class)
    columns: list[Column] = []
    for name, held in sorted(regroup.taken.items()):
        need = fleet.need[name].astype(float)
        # a replica's largest share of one node of each class (inf where a resource lacks)
        lacking = np.where(need > 0, np.inf, 0.0)
        shares = np.where(capacity > 0, need / np.maximum(capacity, 1), lacking).max(axis=1)
        fits = fleet.eligible_mask[name][of_problem] & (shares <= 1)
        for zone in sorted(held, key=str):
            here = [i for i in np.flatnonzero(fits) if zone is None or zones[i] == zone]
            ranked = sorted(here, key=lambda i: (prices[i] * shares[i], i))
            ran_on = {i for i in here if (name, classes[i].id) in regroup.ran_on}
            chosen = set(ranked[:CHEAPEST_CLASSES]) | ran_on
            columns += [(name, zone, int(i)) for i in sorted(chosen)]
    return columns


def _counts_lp(regroup: _Regroup, deadline: float | None
               ) -> tuple[dict[tuple[str, str], int], dict[str, float], float] | None:
    """The LP (module's docstring): its counts rounded, (demand, class id) -> replicas; the
    nodes it opens, class id -> nodes; and what the group's priced nodes then cost (those
    still in use and those it opens). None where HiGHS finds no optimum by the `deadline`."""
    import highspy
    from scipy.sparse import csc_array

    from fitlang.solve.clock import highs_limited

    fleet = regroup.fleet
    classes = regroup.classes
    index = {c.id: i for i, c in enumerate(classes)}
    room = np.zeros((len(classes), len(RESOURCES)))
    in_use: Counter = Counter()
    kept_cost = 0.0
    for node in regroup.nodes:
        if fleet.nodes.get(node.name) is node:
            room[index[node.node_class.id]] += fleet.rows.free[node.row]
            in_use[node.node_class.id] += 1
            kept_cost += float(node.node_class.price)
    columns = _columns(regroup)
    xs, ys = len(columns), len(classes)
    stay_columns = [k for k, (name, _, i) in enumerate(columns) if regroup.stays[name, classes[i].id]]
    width = xs + ys + len(stay_columns)
    opening = np.array([float(c.price + (fleet.price if c.provisioned else 0)) for c in classes])
    cost = np.concatenate([np.zeros(xs), opening, np.full(len(stay_columns), -float(fleet.price))])
    upper = np.concatenate([np.full(xs, np.inf), [max(0, c.count - in_use[c.id]) for c in classes],
                            [regroup.stays[columns[k][0], classes[columns[k][2]].id] for k in stay_columns]])
    # each resource in units of its largest node's (bytes beside millicores: HiGHS called a
    # feasible LP unbounded)
    scale = [max((float(c.capacity[r]) for c in classes), default=1.0) or 1.0 for r in RESOURCES]
    rows: list[int] = []
    cols: list[int] = []
    values: list[float] = []
    row_lower: list[float] = []
    row_upper: list[float] = []
    for r, resource in enumerate(RESOURCES):  # requests <= room + capacity x nodes opened
        for i, node_class in enumerate(classes):
            rows.append(r * ys + i)
            cols.append(xs + i)
            values.append(-node_class.capacity[resource] / scale[r])
            row_lower.append(-np.inf)
            row_upper.append(room[i, r] / scale[r])
    for k, (name, _, i) in enumerate(columns):
        requests = fleet.problem.demand(name).requests
        for r, resource in enumerate(RESOURCES):
            if requests[resource]:
                rows.append(r * ys + i)
                cols.append(k)
                values.append(requests[resource] / scale[r])
    row = len(RESOURCES) * ys
    for k, (name, _, i) in enumerate(columns):  # one a node: within the nodes in use and opened
        if fleet.problem.demand(name).one_per_node:
            rows += [row, row]
            cols += [k, xs + i]
            values += [1.0, -1.0]
            row_lower.append(-np.inf)
            row_upper.append(float(in_use[classes[i].id]))
            row += 1
    for s, k in enumerate(stay_columns):  # stays within the replicas placed there
        rows += [row, row]
        cols += [xs + ys + s, k]
        values += [1.0, -1.0]
        row_lower.append(-np.inf)
        row_upper.append(0.0)
        row += 1
    placed = sorted({(name, zone) for name, zone, _ in columns}, key=str)
    placed_row = {key: row + j for j, key in enumerate(placed)}
    for k, (name, zone, _) in enumerate(columns):  # every replica placed
        rows.append(placed_row[name, zone])
        cols.append(k)
        values.append(1.0)
    chosen = regroup.chosen()  # (an option the LP chooses: up to the replicas it runs alone)
    row_lower += [0.0 if name in chosen else float(regroup.taken[name][zone]) for name, zone in placed]
    row_upper += [float(fleet.problem.demand(name).replicas) if name in chosen else
                  float(regroup.taken[name][zone]) for name, zone in placed]
    row += len(placed)
    for g, group in enumerate(regroup.choices):  # each group's options deliver its throughput
        for k, (name, _, _) in enumerate(columns):
            if chosen.get(name) is group:
                rows.append(row + g)
                cols.append(k)
                values.append(float(fleet.problem.demand(name).throughput))
        row_lower.append(float(group.required))
        row_upper.append(np.inf)
    matrix = csc_array((values, (rows, cols)), shape=(row + len(regroup.choices), width))
    highs = quiet_highs()
    if deadline is not None:
        highs_limited(highs, deadline, branching=False)
    highs.passModel(width, matrix.shape[0], matrix.nnz, 1, 1, 0.0, cost, np.zeros(width), upper.astype(float),
                    np.array(row_lower), np.array(row_upper), matrix.indptr.astype(np.int32),
                    matrix.indices.astype(np.int32), matrix.data.astype(float),
                    np.zeros(width, dtype=np.int32))
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    found = np.array(highs.getSolution().col_value)
    relaxed = kept_cost + float(opening @ found[xs:xs + ys])
    found = _whole_nodes(highs, found, xs, ys)
    opened = {c.id: float(found[xs + i]) for i, c in enumerate(classes)}
    taken = _options_counted(regroup, columns, found[:xs])
    return _rounded(columns, found[:xs], taken, classes), opened, relaxed


def _whole_nodes(highs, found: np.ndarray, xs: int, ys: int) -> np.ndarray:
    """The LP solved again with each class's fraction of a node fixed whole (from `WHOLE_FROM`
    up, else down), in up to `WHOLE_ROUNDS` rounds while fractions are left (the LP opens
    fractions of other classes instead): its counts then fit the nodes `_reopened` opens,
    counted per class. (With the fractions, plan 10's US group sent ~250 services held to
    their zones to `repair`, which opened 12 classes the LP had not: the leftovers' own
    least price of whole new nodes, a MIP of 30 CPU s, was 12.0-12.7 USD/h against
    `repair`'s ~13, so the loss was the LP's fractions, not `repair`.) The last answer HiGHS
    solved."""
    import highspy

    for _ in range(WHOLE_ROUNDS):
        nodes = found[xs:xs + ys]
        fractional = np.flatnonzero(np.abs(nodes - np.rint(nodes)) > 1e-6)
        if not len(fractional):
            break
        whole = np.floor(nodes[fractional] + 1 - WHOLE_FROM)
        highs.changeColsBounds(len(fractional), (xs + fractional).astype(np.int32), whole, whole)
        highs.run()
        if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            break
        found = np.array(highs.getSolution().col_value)
    return found


def _options_counted(regroup: _Regroup, columns: list[Column], values: np.ndarray) -> dict[str, Counter]:
    """The replicas to place per (demand, zone held to): those taken off, and for an option
    group the LP chooses, each option's replicas in the LP rounded down, then one more to
    the largest remainders in turn until the options deliver the group's throughput."""
    if not regroup.choices:
        return regroup.taken
    problem = regroup.fleet.problem
    amounts: dict[str, float] = {}
    for k, (name, _, _) in enumerate(columns):
        amounts[name] = amounts.get(name, 0.0) + float(values[k])
    taken = dict(regroup.taken)
    for group in regroup.choices:
        counts = {n: int(np.floor(amounts.get(n, 0.0) + 1e-6)) for n in group.demands}
        order = sorted((n for n in group.demands if n in amounts), key=lambda n: (counts[n] - amounts[n], n))
        while order and sum(problem.demand(n).throughput * c for n, c in counts.items()) < group.required:
            name = order.pop(0)  # (the largest remainder first, then in turn)
            counts[name] += 1
            order.append(name)
        for name in group.demands:
            taken[name] = Counter({None: counts[name]})
    return taken


def _rounded(columns: list[Column], values: np.ndarray, taken: dict[str, Counter],
             classes: list[NodeClass]) -> dict[tuple[str, str], int]:
    """The counts rounded down, the replicas left over given to the largest remainders."""
    out: Counter = Counter()
    by_zone: dict[tuple[str, tuple | None], list[int]] = {}
    for k, (name, zone, _) in enumerate(columns):
        by_zone.setdefault((name, zone), []).append(k)
    for (name, zone), ks in by_zone.items():
        floors = {k: int(np.floor(values[k] + 1e-6)) for k in ks}
        left = taken[name][zone] - sum(floors.values())
        for k in sorted(ks, key=lambda k: (floors[k] - values[k], k))[:max(0, left)]:
            floors[k] += 1
        for k, amount in floors.items():
            if amount:
                out[name, classes[columns[k][2]].id] += amount
    return dict(out)


def _packed(regroup: _Regroup, counts: dict[tuple[str, str], int], opened: dict[str, float]) -> None:
    """The counts placed (module's docstring)."""
    fleet = regroup.fleet
    left = Counter(counts)
    _reopened(regroup, counts, opened)
    for name, places in regroup.was.items():
        demand = fleet.problem.demand(name)
        for node_name, class_id, staying in places:
            amount = min(staying, left[name, class_id])
            if amount and node_name in fleet.nodes:  # (in use still, or opened again)
                fleet.add(fleet.nodes[node_name], demand, amount)
                left[name, class_id] -= amount
    later: list[tuple[Demand, NodeClass]] = []
    for name, class_id in _packing_order(fleet, left):
        demand = fleet.problem.demand(name)
        node_class = fleet.problem.node_class(class_id)
        for _ in range(left[name, class_id]):
            if not _onto_fullest(fleet, demand, _only(fleet, [node_class]), None):
                later.append((demand, node_class))
    in_group = _only(fleet, regroup.classes)
    missing: list[tuple[Demand, tuple | None]] = []
    for demand, node_class in later:
        held = zone_of(node_class) if None not in regroup.taken[demand.name] else None
        zones = None if held is None else [fleet.rows.zone(held)]
        if not _onto_fullest(fleet, demand, in_group & fleet.eligible_mask[demand.name], zones):
            missing.append((demand, held))
    if missing:
        fleet.fills.clear()  # (`repair`'s fills of a former call hold positions of its order)
        fleet.repair(_options_delivering(regroup, missing))


def _options_delivering(regroup: _Regroup, missing: list[tuple[Demand, tuple | None]]
                        ) -> list[tuple[Demand, tuple | None]]:
    """The replicas left for `repair` but those of an option group the LP chose for: what
    they would deliver is placed here, group by group, as the replicas of whichever of its
    options `repair` places for the least price of the nodes it opens (each tried and put
    back, `_opening_price`). The LP's counts, rounded up to deliver, can ask a class for more
    than its nodes' room holds: on inventory 10,000 plan 34 (h57c's) at 5 s the EU group's
    one L40S replica past the on-prem nodes' room made `repair` open an 8-GPU node at 15.90
    USD/h, and the regroup, which saved 4.7 USD/h without it, was put back."""
    chosen = regroup.chosen()
    short: dict[str, Fraction] = {}  # group workload -> what its replicas left out deliver
    groups: dict[str, OptionGroup] = {}
    rest: list[tuple[Demand, tuple | None]] = []
    for demand, held in missing:
        group = chosen.get(demand.name)
        if group is None or held is not None:
            rest.append((demand, held))
            continue
        groups[group.workload] = group
        short[group.workload] = short.get(group.workload, Fraction(0)) + demand.throughput
    fleet = regroup.fleet
    for workload in sorted(short):
        placed: Counter = Counter()
        for node in fleet.nodes.values():
            placed.update({n: c for n, c in node.hosted.items() if n in groups[workload].demands})
        best: tuple[Fraction, int, list[tuple[Demand, tuple | None]]] | None = None
        for position, name in enumerate(groups[workload].demands):
            option = fleet.problem.demand(name)
            replicas = math.ceil(short[workload] / option.throughput)
            if placed[name] + replicas > option.replicas:
                continue
            tried: list[tuple[Demand, tuple | None]] = [(option, None)] * replicas
            price = _opening_price(fleet, tried)
            if price is not None and (best is None or (price, position) < best[:2]):
                best = (price, position, tried)
        fleet.repair(best[2] if best is not None else
                     [(d, held) for d, held in missing if chosen.get(d.name) is groups[workload]])
        fleet.fills.clear()
    return rest


def _opening_price(fleet: ScaleMove, replicas: list[tuple[Demand, tuple | None]]) -> Fraction | None:
    """What the nodes `repair` opens to place the replicas cost (None: it leaves some out),
    the fleet then put back as it was."""
    outer, bought = fleet.journal, set(fleet.bought)
    journal: Journal = {}
    unplaced = len(fleet.unplaced)
    fleet.journal = journal  # (every node it changes is put back: none for the journal around it)
    try:
        fleet.repair(replicas)
        price = journal_change(fleet, journal, bought, None) if len(fleet.unplaced) == unplaced else None
        restore(fleet, journal)
    finally:
        fleet.journal = outer
        del fleet.unplaced[unplaced:]
        fleet.fills.clear()
        fleet.next_free.clear()  # (the nodes it opened and closed found again by `free_node`)
    return price


def _packing_order(fleet: ScaleMove, left: Counter) -> list[tuple[str, str]]:
    """The (demand, class id) counts left to place: replicas that need an accelerator first,
    then those one a node, then the rest largest first. (Largest first alone: plan 10's
    larger replicas filled the nodes their class opened and left the services that run one a
    node ~250 replicas for `repair`, which opened nodes the LP did not, 279.1 -> 287.1 USD/h
    for the US group; services one a node first but accelerator replicas after them: plan
    7's L4 nodes' room went to services and 12 replicas of L4 options to `repair`.)"""
    def key(item: tuple[str, str]) -> tuple:
        demand = fleet.problem.demand(item[0])
        return not demand.requests["gpu"], not demand.one_per_node, -fleet.weight[item[0]], item
    return sorted((item for item in left if left[item] > 0), key=key)


def _reopened(regroup: _Regroup, counts: dict[tuple[str, str], int], opened: dict[str, float]) -> None:
    """Of each class, the nodes the LP opens (a fraction from `OPEN_FROM` as one): the nodes
    its replicas left first, those where most of its counts run now first, then nodes not in
    use."""
    fleet = regroup.fleet
    staying: Counter = Counter()
    for name, places in regroup.was.items():
        for node_name, class_id, amount in places:
            staying[node_name] += min(amount, counts.get((name, class_id), 0))
    left_by_class: dict[str, list[FleetNode]] = {}
    for node in regroup.nodes:
        if node.name not in fleet.nodes:
            left_by_class.setdefault(node.node_class.id, []).append(node)
    for node_class in regroup.classes:
        wanted = int(np.floor(opened.get(node_class.id, 0.0) + 1 - OPEN_FROM))
        former = sorted(left_by_class.get(node_class.id, []), key=lambda n: (-staying[n.name], n.row))
        for node in former[:wanted]:
            if fleet.may_open(node_class):
                fleet.node(node.name)
        for _ in range(wanted - len(former)):
            free = fleet.free_node(node_class) if fleet.may_open(node_class) else None
            if free is None:
                break
            regroup.nodes.append(fleet.node(free))


def _only(fleet: ScaleMove, classes: list[NodeClass]) -> np.ndarray:
    mask = np.zeros(len(fleet.problem.classes), dtype=bool)
    mask[[fleet.rows.class_index[c.id] for c in classes]] = True
    return mask


def _onto_fullest(fleet: ScaleMove, demand: Demand, classes: np.ndarray, zones: list[int] | None) -> bool:
    """The replica onto the fullest node in use (its largest share used) of the classes (and
    zones) that takes it; whether one did."""
    rows = fleet.rows.with_room(fleet.need[demand.name], classes, zones)
    capacity = np.maximum(fleet.rows.capacity[rows], 1)
    used = ((fleet.rows.capacity[rows] - fleet.rows.free[rows]) / capacity).max(axis=1)
    for position in np.argsort(-used, kind="stable"):
        node = fleet.nodes[fleet.rows.names[rows[position]]]
        if fleet.takes(node, demand):
            fleet.add(node, demand)
            return True
    return False
