"""The move at fleet scale: from what runs now, the changes that pay (`fitc plan`, issue 18).

Above `EXACT_MAX_NODES` nodes the move is not solved as a whole. What runs now is a
placement that met every rule before something changed (a price, a pool drained, a new
offer), so it is the start, and the move is decomposed by what changed:

1. `repair`: the replicas that cannot stay (on nodes the policy lacks or on a class their
   rules now rule out; those the policy asks for on top of what runs) are placed, largest
   first, on a node in use with room (the fullest that takes them), else on a new node of
   the class whose price over what one of its nodes would hold, of this replica and the
   replicas to place next (first fit, `_fill`), is least.
   Replicas beyond what the policy asks for stop (`moving.moves_between` says which).
   Where a zone lacks room for the replicas a spread needs there (a pool drained), they are
   moved there after, room made on its nodes (`spread_restore.restore_spreads`). Where a
   workload kept apart by zone holds the zones with room, the replicas left out get a zone
   cleared of it (`repair_apart.clear_zones`).
2. `improve`: node by node, the change that lowers the objective most, cost plus
   `move_price` per replica moved and node drained or bought, while one does: a node in use
   is *deleted* (its replicas first fit onto the other nodes in use), *replaced* (by one
   free node of a cheaper class that takes all its replicas) or, at most half used,
   *merged* with another part-used node onto one free node cheaper than the two.
3. up to 2,000 nodes, where the plan is not yet proven within 1% of its bound, two workloads
   kept apart by zone trade zones at once, kept where cheaper (`zone_swap.swap_zones`: no
   change of one replica can, each keeping the other out of its zone); then joint moves
   (`move_neighbourhood.improve_jointly`), there too: a pair of zones re-solved as a small MIP, the
   rest of the fleet fixed (two workloads kept apart by zone trading zones; work leaving a
   repriced pool for several pools at once), spliced back where it pays and `verify` passes;
   then `improve` again, now also *scattering* nodes (`_scatter`, wherever the plan is not
   yet proven within 1%: one pass past 2,000 nodes, run from both free-node searches and the
   lower plan kept, `scatter_both`, after accelerator options traded between workloads,
   `option_trade.trade_options`): each replica of a node where its own
   rules let it go, separately, onto a node in use with room or a new node of its zones,
   kept where the whole pays (inventory 10,000, seed 1: a repriced pool's nodes run a gang's
   replica, free within its cluster, beside services that may not leave the zone); then, up to
   2,000 nodes, nodes emptied by replicas moved together (`scatter_aside.scatter_aside`: a
   replica of another workload moved aside to make room, spread replicas onto one new node of
   a zone their skews allow all at once), kept where cheaper; then several part-used nodes
   emptied onto one free node of a larger class (`merge_many.merge_many`: a node that takes a
   replica of each of a few services that run one a node, where two small nodes each held one).
   Past 2,000 nodes, after the scatter passes, each priced zone alone (those whose LP saves
   most first), then each jurisdiction's priced zones together, is re-solved
   (`zone_regroup.regroup_zones`: a counts LP says which replicas run in which of its
   zones and classes, packed and kept where cheaper), then options switched, dear opened nodes
   closed and pools emptied.

Every change keeps the rules a node can tell (eligibility, capacity, one replica per node,
workloads apart or alone, power caps, buy limits); a replica of a workload with rules over a
topology (spread, affinity, latency, gangs, or named by another's affinity over one) moves
only within its zone and cluster, where those rules count it as before, except: a gang whose
only such rule is the gang's, to any zone of its cluster (`_gangs_free_in_cluster`); where those
rules only keep it apart from workloads by zone, to any zone where none of them runs
(anti-affinities on a node are kept node by node and lock no zone); where they are only its
own spreads (not over `node`), to any domain where every spread keeps its skew
(`SpreadCounts`, counted as the fleet moves). `verify` checks the end state
(`moving.solve_move` falls back to the whole model where it breaks a rule).

The bound: the static solve's pair bound (`bound.lower_bound`, with its rows that count
nodes whole, `bound._cover_rows`), each pair where replicas run now split into the replicas
that stay on their node and those placed anew, the stays, the nodes drained and bought
priced at `move_price` (`move_bound.moves_lower_bound`): it charges every move the class
counts imply, not only the forced ones (`forced_moves`: replicas running where they may no
longer run), which the least cost plus the forced moves did (inventory 10,000, seed 0:
1048.31 -> 1077.63 USD/h, the plan at 1102.02). For the `cost` objective, the least cost.
Past `LARGE_NODES` the bound is proven in a child process while this one improves the plan
(`move_bound_beside`: at inventory 10,000 and `--time-limit 5` the two did not both fit).
The pattern bound (patterns.py) proves more at 1,000 nodes (135.84 against 129.77 for the
least cost) but in ~8 s CPU, past the plan's time; at 10,000 nodes it adds 0.1% in 10 s: it
is not run. Up to `MOVE_MODEL_MAX_NODES` nodes the whole move model's bound
(`move_model_bound`: class counts and stays, and the moves that emptying some of a class's
nodes makes: `rules.moves.kept_node_rows`, with the model's whole node counts) is tried for
a few seconds.
"""

from __future__ import annotations

import itertools
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from functools import cached_property
from types import SimpleNamespace

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.solve.linear import Status
from fitlang.solve.move_cap import MovesCounted, past_cap, saving_per_move
from fitlang.solve.moving import State, current_state
from fitlang.solve.placement_result import Assignment, Placement

Displaced = tuple[Demand, "tuple | None"]  # a replica to place, and the zone it ran in
# the whole move model's bound (`move_model_bound`) is tried up to this many nodes, for at
# most this long: at inventory 1,000 nodes it proves 136.92 USD/h in ~1.7 s CPU, 137.70 in
# ~3.8 s, where the least cost + forced moves proves 130.93; at 10,000 nodes it has no root
# LP in the plan's time
MOVE_MODEL_MAX_NODES = 2_000
MOVE_MODEL_SECONDS = 3.0  # of CPU time in its branch and bound
MOVE_MODEL_WALL_SECONDS = 15.0  # and at most this long (a loaded machine gives it a share)
FILL_LOOKAHEAD = 200  # the replicas to place next that a new node's class is weighed by
MERGE_SHARE = 0.5  # nodes at most this full (in their largest resource) are merged in pairs,
PARTNER_SHARE = 0.75  # each with a node at most this full
MERGE_PARTNERS = 6  # the partners a node is tried with
SPLIT_NODES = 4  # a node's replicas may go to up to this many free nodes of a cheaper class
JOINT_MOVES_GAP = 0.01  # the plan's gap past which joint moves are sought (`move_neighbourhood`)
# the joint steps end by this share of the limit: the rest is for the passes after them and
# the plan's waves and checks (0.2 CPU s at inventory 1,000; 0.6 s of wall time at load 8)
JOINT_MOVES_SHARE = 0.8
# the first `improve` ends by this share of the move's limit; past `LARGE_NODES` by the larger
# one: there `repair` takes ~0.6 of its first ~1.5 CPU s at `--time-limit 5` (inventory 10,000),
# and at 0.4 `improve` was cut at 0.26-0.36 CPU s where it needs ~0.6-0.9 (plan 7 then ended
# 554 USD/h, not 546.7, in half the runs, h56c)
IMPROVE_SHARE = 0.4
LARGE_IMPROVE_SHARE = 0.5
# past `LARGE_NODES`, the passes after the free-node searches (`regroup_zones` and those after
# it) end by this share: what follows them (the end state's value, `verify`'s check of it:
# ~0.13 CPU s at inventory 10,000; a regroup begun before the deadline packs up to ~0.1 s past
# it) and the plan's waves and output after the move (0.65-0.85 CPU s at 2,800-3,600 moves,
# more than `plan.FINISH_SHARE` of a 5 s plan) need the rest. (At 0.8, once the limits began
# when called, the moves of 5 s plans ended ~0.5 CPU s before their own end; at 0.93 plan 33's
# ended past it; at 0.9 the plans ended at 5.0-5.09 CPU s at load 25-30, h56c.)
PASSES_SHARE = 0.85
# `scatter_aside` and `merge_many`, after them, end by this share (their 0.3 CPU s each come
# out of the move model's bound, which at `--time-limit 5` at 1,000 nodes raised no bound on
# seeds 0 / 1 / 3)
ASIDE_SHARE = 0.9
# passes of `improve` with `_scatter` past `LARGE_NODES` nodes (inventory 10,000, seeds 0 and
# 1: one pass ends at 1102.02 and 2134.54 USD/h, passes until none pays at 1101.98 and 2133.97
# for 1.2-1.5 s more CPU)
SCATTER_PASSES = 1
FREE_NODE_TRIES = 8  # the cheapest (class, nodes) a node's replicas are tried on (time)
# past `LARGE_NODES`, the charged bound ends this share of the limit before the move's end:
# what follows it (its placement, the end state's value and `verify`'s check of it) took
# 0.3 CPU s at inventory 10,000, and a bound that ran to the move's end left the plan's waves
# no time (E0813 at `--time-limit 5` on 2 of 3 seeds, session 36)
BOUND_TAIL_SHARE = 0.15


@dataclass
class FleetNode:
    """A node in use: what it hosts, and its row in `_Rows`."""

    name: str
    node_class: NodeClass
    capacity: dict[str, int]
    row: int
    hosted: Counter = field(default_factory=Counter)


Moved = tuple[FleetNode, Demand, FleetNode]  # a replica moved: from, what, onto


@dataclass
class Settled:
    """The nodes whose `improve` tries failed since the fleet last changed (by id): the plain
    ones (delete, onto a free node, merge), and `_scatter`."""

    plain: dict[int, FleetNode] = field(default_factory=dict)
    scatter: dict[int, FleetNode] = field(default_factory=dict)


@dataclass
class _Fill:
    """A new node of a class as `_fill` fills it: the replica, then first fit of the replicas
    ahead, at positions `start` to `end` of `repair`'s order. The next replica of the same
    demand goes on from it (weighing only the replicas that came into its lookahead) while
    the node's capacity is the same, the replicas that left the lookahead were not held and
    the zones of the zone-ruled replicas it weighed are the same (inventory 10,000: each
    replica of a service one a node weighed every eligible class over 200 replicas again)."""

    capacity: tuple[int, ...]
    free: list[int]
    hosted: Counter
    held: int
    end: int  # the position after the last replica weighed
    first_held: float = math.inf  # the position of the first replica ahead it holds
    # the zone-ruled demands with no zone to come from that it weighed -> the zones they may use
    zones: dict[str, frozenset] = field(default_factory=dict)


class _Rows:
    """The nodes in use as arrays, so that the nodes with room for a replica are found at
    once: free resources, class and zone per row, and whether the row is a node in use."""

    def __init__(self, classes: list[NodeClass]) -> None:
        self.class_index = {c.id: i for i, c in enumerate(classes)}
        self.zones: dict[tuple, int] = {}
        self.free = np.zeros((64, len(RESOURCES)), dtype=np.int64)
        self.capacity = np.zeros((64, len(RESOURCES)), dtype=np.int64)
        self.of_class = np.zeros(64, dtype=np.int64)
        self.of_zone = np.zeros(64, dtype=np.int64)
        self.alive = np.zeros(64, dtype=bool)
        self.names: list[str] = []

    def open(self, name: str, node_class: NodeClass, capacity: dict[str, int]) -> int:
        row = len(self.names)
        if row == len(self.alive):
            self.free = np.concatenate([self.free, np.zeros_like(self.free)])
            self.capacity = np.concatenate([self.capacity, np.zeros_like(self.capacity)])
            for array in ("of_class", "of_zone", "alive"):
                grown = getattr(self, array)
                setattr(self, array, np.concatenate([grown, np.zeros_like(grown)]))
        self.names.append(name)
        self.free[row] = [capacity[r] for r in RESOURCES]
        self.capacity[row] = [capacity[r] for r in RESOURCES]
        self.of_class[row] = self.class_index[node_class.id]
        self.of_zone[row] = self.zone(zone_of(node_class))
        self.alive[row] = True
        return row

    def shares(self, row: int | None = None) -> np.ndarray:
        """Per row (or of the one row), the largest share of a resource its replicas use."""
        rows = slice(0, len(self.names)) if row is None else slice(row, row + 1)
        capacity = self.capacity[rows]
        return ((capacity - self.free[rows]) / np.maximum(capacity, 1)).max(axis=1)  # (none: 0 used)

    def zone(self, zone: tuple) -> int:
        return self.zones.setdefault(zone, len(self.zones))

    def with_room(self, need: np.ndarray, eligible: np.ndarray, zones: list[int] | None) -> np.ndarray:
        """The rows (in row order) of nodes in use of an eligible class (and of the zones) with room."""
        count = len(self.names)
        mask = self.alive[:count] & eligible[self.of_class[:count]] & (self.free[:count] >= need).all(axis=1)
        if zones is not None:  # (a table of the zones, not `np.isin`: its sort per call was
            # ~0.1 s of a plan at inventory 10,000)
            wanted = np.zeros(len(self.zones), dtype=bool)
            wanted[[z for z in zones if z < len(wanted)]] = True
            mask &= wanted[self.of_zone[:count]]
        return np.flatnonzero(mask)


class SpreadCounts:
    """One spread over a topology other than `node` of a demand: its replicas per domain, and
    which domain each class is in, so that the domains a replica may go to keeping the skew
    are found at once. The domains are those of the eligible classes with nodes or offers:
    at least those `verify` counts (an offer's domain counts there once a node of it is
    bought), so the skew read here is never less than `verify`'s and a move it allows keeps
    the rule."""

    def __init__(self, problem: Problem, demand: Demand, topology: str, max_skew: int,
                 made: dict[tuple, np.ndarray] | None = None) -> None:
        """`made`: the domains of each class per (eligible classes, topology) made so far, to
        share between demands alike (read only)."""
        self.max_skew = max_skew
        key = (tuple(demand.eligible), topology)
        of_class = None if made is None else made.get(key)
        if of_class is None:
            of_class = _domains_of_classes(problem, demand, topology)
            if made is not None:
                made[key] = of_class
        self.of_class = of_class
        self.counts = np.zeros(int(of_class.max(initial=-1)) + 1, dtype=np.int64)

    def allowed(self, source_class: int) -> np.ndarray:
        """Per class: may a replica removed from a node of `source_class` (not counted now)
        go to a node of it? Its own domain (the counts as they were), or a domain where one
        more keeps every domain within `max_skew`."""
        grown = self.counts[None, :] + np.eye(len(self.counts), dtype=np.int64)
        fine = grown.max(axis=1) - grown.min(axis=1) <= self.max_skew if len(self.counts) else \
            np.zeros(0, dtype=bool)
        source = self.of_class[source_class]
        if source >= 0:
            fine[source] = True
        return np.append(fine, False)[self.of_class]  # (-1: the appended False)


def _domains_of_classes(problem: Problem, demand: Demand, topology: str) -> np.ndarray:
    """Per class, the index of its domain of `topology` among the demand's eligible classes
    with nodes or offers, in class order (-1: not one of them)."""
    eligible = set(demand.eligible)
    values = [c.topology_value(topology) if c.id in eligible and (c.count or c.provisioned) else None
              for c in problem.classes]
    index = {value: i for i, value in enumerate(dict.fromkeys(v for v in values if v is not None))}
    return np.array([-1 if v is None else index[v] for v in values], dtype=np.int64)


class ScaleMove:
    """The fleet as it moves (see the module's docstring)."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self.owners = problem.owners()
        self.price = problem.move_price or Fraction(0)
        self.apart, self.alone = problem.apart_on_nodes
        self.rows = _Rows(problem.classes)
        self.eligible, self.eligible_mask = _eligibility(problem, self.rows.class_index)
        self.need = {d.name: np.array([d.requests[r] for r in RESOURCES], dtype=np.int64)
                     for d in problem.demands}
        self.need_ints = {d.name: tuple(int(d.requests[r]) for r in RESOURCES) for d in problem.demands}
        # (a workload another's affinity over a topology names counts where it runs too)
        named = {rule.target for d in problem.demands for rule in d.affinities if rule.topology != "node"}
        self.zoned = {d.name for d in problem.demands if _zoned(d) or d.workload in named}
        self.cluster_free = _gangs_free_in_cluster(problem, named)
        self.least_in_zones: dict[tuple, float] = {}  # (demand, zones) -> `_least_new_node`
        self.avoid = _apart_by_zone(problem)
        self.spreads = _spread_counts(problem, named)
        self.nodes: dict[str, FleetNode] = {}
        self.bought: set[str] = set(problem.bought_now)
        self.watts = {scope.name: Fraction(0) for scope in problem.power_caps}
        self.in_group: Counter = Counter()
        self.next_free: dict[str, int] = {}  # class id -> where its search for a free node resumes
        # whether `close` moves that search back to the node it closes (`scatter_both`: the
        # scatter passes run both ways, the lower plan kept)
        self.refind_closed = False
        self.unplaced: list[str] = []
        self.barred: frozenset[str] = frozenset()  # classes no node may open of (`pool_emptied`)
        # where kept (`pool_emptied`): each node changed since, with the replicas it hosted then
        self.journal: dict[str, Counter] | None = None
        self.zone_rules: dict[str, tuple[frozenset, list[tuple[str, bool]], list[str]]] = {}
        self.zones_of_classes: dict[tuple[str, ...], frozenset] = {}
        self.in_zone: Counter = Counter()  # (workload, zone) -> its replicas there
        self.fills: dict[tuple[str, str], _Fill] = {}  # (demand, class id) -> `repair`'s last
        self.running_now = current_state(problem)
        # the policy's `max_moves`, and the replicas moved counted as the fleet changes (`move_cap`)
        self.cap = problem.max_moves
        self.counted = None if self.cap is None else \
            MovesCounted(self.running_now, problem.running_elsewhere)
        # under the cap, a price per replica moved on top of `price` that the changes are
        # weighed by, not charged in the objective (`move_cap.improve_within_cap`)
        self.shadow = Fraction(0)
        self.weight = _weights(problem)
        self.largest = {r: max((c.capacity[r] for c in problem.classes), default=0) for r in RESOURCES}
        self.weight_set_by = {d.name: _weight_set_by(d, self.largest) for d in problem.demands}
        self.owners_price = {c.id: c.price for c in problem.classes}
        # per class, for the search of a free node to move onto: its price with the move
        # price of a node bought (in floats: a filter, the exact test follows) and capacity
        self.class_price = np.array([float(c.price + (self.price if c.provisioned else 0))
                                     for c in problem.classes])
        # per demand, the least of those prices over its eligible classes
        self.cheapest = {d.name: float(self.class_price[self.eligible_mask[d.name]].min(initial=np.inf))
                         for d in problem.demands}
        self.class_capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in problem.classes],
                                       dtype=np.int64)

    # ---- the state --------------------------------------------------------------------------

    def node(self, name: str) -> FleetNode:
        """The node in use of that name (opened if it was not)."""
        found = self.nodes.get(name)
        if found is None:
            if self.journal is not None:
                self.journal.setdefault(name, Counter())
            node_class = self.owners[name]
            capacity = node_class.node_capacity.get(name, node_class.capacity)
            found = FleetNode(name, node_class, capacity, self.rows.open(name, node_class, capacity))
            self.nodes[name] = found
            self._opened(node_class, 1)
            if node_class.provisioned:
                self.bought.add(name)
        return found

    def add(self, node: FleetNode, demand: Demand, amount: int = 1) -> None:
        if self.journal is not None and node.name not in self.journal:
            self.journal[node.name] = Counter(node.hosted)
        if self.counted is not None:
            self.counted.changed(node.name, demand.name, node.hosted[demand.name],
                                 node.hosted[demand.name] + amount)
        node.hosted[demand.name] += amount
        self.rows.free[node.row] -= self.need[demand.name] * amount
        self.in_zone[demand.workload, zone_of(node.node_class)] += amount
        self._count_spreads(node, demand, amount)

    def _count_spreads(self, node: FleetNode, demand: Demand, amount: int) -> None:
        row = self.rows.of_class[node.row]
        for spread in self.spreads.get(demand.name, ()):
            domain = spread.of_class[row]
            if domain >= 0:
                spread.counts[domain] += amount

    def remove(self, node: FleetNode, demand: Demand, amount: int = 1) -> None:
        if self.journal is not None and node.name not in self.journal:
            self.journal[node.name] = Counter(node.hosted)
        if self.counted is not None:
            self.counted.changed(node.name, demand.name, node.hosted[demand.name],
                                 node.hosted[demand.name] - amount)
        node.hosted[demand.name] -= amount
        if not node.hosted[demand.name]:
            del node.hosted[demand.name]
        self.rows.free[node.row] += self.need[demand.name] * amount
        self.in_zone[demand.workload, zone_of(node.node_class)] -= amount
        self._count_spreads(node, demand, -amount)

    def _opened(self, node_class: NodeClass, sign: int) -> None:
        for scope in self.problem.power_caps:
            if node_class.id in scope.classes:
                self.watts[scope.name] += sign * node_class.power_watts
        if node_class.buy_group is not None:
            self.in_group[node_class.buy_group] += sign

    def close(self, name: str) -> None:
        node = self.nodes.pop(name)
        assert not node.hosted
        self.rows.alive[node.row] = False
        self._opened(node.node_class, -1)
        self.bought.discard(name)
        if self.refind_closed:
            class_id, position = node.node_class.id, self.owners.position(name)
            if position < self.next_free.get(class_id, 0):
                self.next_free[class_id] = position

    def may_open(self, node_class: NodeClass) -> bool:
        if node_class.id in self.barred:
            return False
        for scope in self.problem.power_caps:
            if node_class.id in scope.classes and \
                    self.watts[scope.name] + node_class.power_watts > scope.cap_watts:
                return False
        group = node_class.buy_group
        return group is None or group not in self.problem.buy_limits or \
            self.in_group[group] < self.problem.buy_limits[group]

    def free_node(self, node_class: NodeClass) -> str | None:
        """A node of the class not in use (the first, in the class's order)."""
        names = node_class.node_names
        index = self.next_free.get(node_class.id, 0)
        while index < node_class.count and names[index] in self.nodes:
            index += 1
        self.next_free[node_class.id] = index
        return names[index] if index < node_class.count else None

    def takes(self, node: FleetNode, demand: Demand) -> bool:
        """The node rules the rows do not hold: one replica per node, apart, alone."""
        if demand.one_per_node and node.hosted[demand.name]:
            return False
        others = [d for d in node.hosted if d != demand.name]
        if others and (demand.name in self.alone or any(d in self.alone for d in others)):
            return False
        return not any(d in self.apart.get(demand.name, ()) for d in others)

    def targets(self, demand: Demand, zone: tuple | None, rows: np.ndarray | None = None,
                source: NodeClass | None = None, every: bool = True) -> list[FleetNode]:
        """The nodes in use that take one more replica (from a node of `zone`), in row order
        (not `every`: the first only, the rest not tested: at inventory 10,000, `takes` over
        every node with room was most of `targets`); of `rows` only where given. A replica of
        a demand whose only rules over a topology are its spreads, taken off a node of
        `source` (and not counted now), may go to any domain of each spread that keeps its
        skew (`SpreadCounts.allowed`)."""
        found = self.rows.with_room(self.need[demand.name], *self.allowed(demand, zone, source))
        if rows is not None:
            found = np.intersect1d(found, rows)
        taking = (node for row in found if self.takes(node := self.nodes[self.rows.names[row]], demand))
        return list(taking if every else itertools.islice(taking, 1))

    def allowed(self, demand: Demand, zone: tuple | None,
                source: NodeClass | None = None) -> tuple[np.ndarray, list[int] | None]:
        """Where `targets` may put the replica, room aside: per class, may it go there, and
        the zones' rows it may go to (None: any)."""
        eligible = self.eligible_mask[demand.name]
        if source is not None and demand.name in self.spreads:
            for spread in self.spreads[demand.name]:
                eligible = eligible & spread.allowed(self.rows.class_index[source.id])
        elif zone is not None and demand.name in self.zoned:
            return eligible, self._zones_from(demand, zone)
        return eligible, None

    def _zones_from(self, demand: Demand, zone: tuple) -> list[int]:
        """Where a replica of a zoned demand running in `zone` may go: that zone; and where
        its only rules over zones keep it apart from workloads (`_apart_by_zone`), every zone
        where none of them runs (a zone it leaves for one of those keeps those rules)."""
        if demand.name in self.cluster_free:
            return [row for known, row in self.rows.zones.items() if known[0] == zone[0]]
        avoid = self.avoid.get(demand.name)
        if avoid is None:
            return [self.rows.zone(zone)]
        return [row for known, row in self.rows.zones.items()
                if known == zone or not any(self.in_zone[other, known] for other in avoid)]

    def _zones_to_open(self, demand: Demand, zone: tuple) -> list[tuple | None]:
        """The zones where a new node may take a replica of the demand running in `zone` (as
        `_zones_from` says for nodes in use; None: any). A spread's replica stays in its zone
        (a new node of another class elsewhere would count in a domain `SpreadCounts` did not
        weigh); a spread over a label, which classes of one zone need not share, has none."""
        if demand.name not in self.zoned:
            return [None]
        if demand.spreads:
            return [zone] if all(s.topology in ("zone", "region") for s in demand.spreads) else []
        eligible = {zone_of(self.problem.node_class(c)) for c in demand.eligible}
        if demand.name in self.cluster_free:
            return sorted((z for z in eligible if z[0] == zone[0]), key=str)
        avoid = self.avoid.get(demand.name)
        if avoid is None:
            return [zone]
        return sorted((z for z in eligible
                       if z == zone or not any(self.in_zone[other, z] for other in avoid)), key=str)

    def _may_go(self, demands: list[Demand], source: NodeClass, target: NodeClass) -> bool:
        """May all these replicas go from a node of `source` to one of `target` (its zone)?"""
        if zone_of(source) == zone_of(target):
            return True
        row = self.rows.zone(zone_of(target))
        return all(d.name not in self.zoned or d.name in self.spreads or  # (`_fit_all` checks these)
                   row in self._zones_from(d, zone_of(source)) for d in demands)

    def packing(self) -> SimpleNamespace:
        """The nodes in use by class, as `bound.lower_bound` reads a packing (`nodes`: class
        id -> nodes with `hosted`): their pairs start its master."""
        by_class: dict[str, list[FleetNode]] = {}
        for node in self.nodes.values():
            by_class.setdefault(node.node_class.id, []).append(node)
        return SimpleNamespace(nodes=by_class)

    def state(self) -> State:
        return {name: Counter(node.hosted) for name, node in self.nodes.items() if node.hosted}

    def moved(self) -> int:
        """The replicas moved so far where the policy caps them (else 0: not counted)."""
        return 0 if self.counted is None else self.counted.total

    def past_cap(self, before: int) -> bool:
        """Is the fleet now past the policy's `max_moves`, by a change that moved more than the
        `before` it started from (`move_cap.past_cap`)? Then the change is not kept."""
        return past_cap(self.cap, self.counted, before)

    # ---- 1. repair ----------------------------------------------------------------------------

    def start(self) -> list[tuple[Demand, tuple | None]]:
        """What runs now where it may stay (up to the replicas asked for); returns the replicas
        to place: (demand, the zone it ran in, or None)."""
        problem = self.problem
        displaced: list[tuple[Demand, tuple | None]] = []
        grouped = {name for group in problem.option_groups for name in group.demands}
        for demand in problem.demands:
            running = problem.running.get(demand.name, {})
            # an option keeps what runs of it; what the group then lacks is added below
            runs = sum(running.values()) + problem.running_elsewhere.get(demand.name, 0)
            left = min(demand.replicas, runs) if demand.name in grouped else demand.replicas
            allowed = self.eligible[demand.name]
            for name in sorted(running, key=lambda n: (self.owners[n].id not in allowed,
                                                        self.owners.position(n), n)):
                count, node_class = running[name], self.owners[name]
                if node_class.id in allowed or demand.name in problem.pinned:
                    kept = min(count, left)
                    if kept:
                        self.add(self.node(name), demand, kept)
                    left, count = left - kept, count - kept
                moved = min(count, left)  # ruled out here: placed again, near where it ran
                displaced += [(demand, zone_of(node_class))] * moved
                left -= moved
            displaced += [(demand, None)] * left  # on nodes the policy lacks, or new
        return displaced + self._short_options(displaced)

    def _short_options(self, displaced: list[Displaced]) -> list[Displaced]:
        """Replicas of each option group's first option until the group delivers its
        throughput (with what stays and what is placed again)."""
        counts = Counter({name: sum(n.hosted[name] for n in self.nodes.values())
                          for group in self.problem.option_groups for name in group.demands})
        counts.update(d.name for d, _ in displaced)
        more: list[tuple[Demand, tuple | None]] = []
        for group in self.problem.option_groups:
            members = [self.problem.demand(name) for name in group.demands]
            delivered = sum((d.throughput * counts[d.name] for d in members), Fraction(0))
            first = members[0]
            while delivered < group.required and counts[first.name] < first.replicas:
                more.append((first, None))
                counts[first.name] += 1
                delivered += first.throughput
        return more

    def repair(self, displaced: list[tuple[Demand, tuple | None]]) -> None:
        order = sorted(displaced, key=lambda item: (-item[0].priority, -_size(item[0]), item[0].name))
        for index, (demand, zone) in enumerate(order):
            if index and order[index - 1][0] is not demand:
                self.fills.clear()  # (kept for the replicas of one demand)
            zones: list[tuple | None] = [zone] if zone is not None else self._zones_for(demand)
            # a spread's replica goes to its first zone that takes it (on a node in use, else
            # a new one); any other replica to a node in use anywhere first
            tries: list[list[tuple | None]] = [[where] for where in zones] if demand.spreads else [zones]
            upcoming = order[index + 1:index + 1 + FILL_LOOKAHEAD]
            target = None
            for allowed in tries:
                target = next((t for where in allowed if (t := self._fullest(demand, where)) is not None),
                              None) or self._open_for(demand, allowed, upcoming, at=index + 1)
                if target is not None:
                    break
            if target is None:
                self.unplaced.append(demand.name)
                continue
            self.add(target, demand)

    def _fullest(self, demand: Demand, zone: tuple | None) -> FleetNode | None:
        """The fullest node in use (of the zone) that takes the replica: the nodes with room
        ranked by (`_slack`, row) at once, then `takes` asked in that order until one does
        (asked of every node with room, it was most of a plan's repair of 10,000 workloads:
        `bench/many_workloads.py`)."""
        rows = self.rows.with_room(self.need[demand.name], *self.allowed(demand, zone))
        need = self.need[demand.name]
        for row in rows[np.lexsort((rows, _slacks(self.rows.free[rows], self.rows.capacity[rows], need)))]:
            if self.takes(node := self.nodes[self.rows.names[row]], demand):
                return node
        return None

    def _zones_for(self, demand: Demand) -> list[tuple | None]:
        """Where a replica with no node to come from may go: anywhere for a workload without
        topology rules; else the zones of its classes that its zone (anti-)affinities allow,
        those running the fewest of it first (a spread stays even)."""
        if demand.name not in self.zoned:
            return [None]
        eligible_zones, rules, kept_away_by = self._zone_rules(demand)
        zones = set(eligible_zones)
        for target, anti in rules:
            hosting = {z for z in zones if self.in_zone[target, z]}
            zones = zones - hosting if anti else (zones & hosting or zones)
        for other in kept_away_by:  # their anti-affinity keeps this one away too
            zones = {z for z in zones if not self.in_zone[other, z]}
        return sorted(zones, key=lambda z: (self.in_zone[demand.workload, z], str(z)))

    def _zone_rules(self, demand: Demand) -> tuple[frozenset, list[tuple[str, bool]], list[str]]:
        """What `_zones_for` reads of the policy, found once per demand (at inventory 10,000
        nodes, read again for each of ~900 replicas it was a second of CPU): the zones of its
        classes, its rules over zones (target workload, anti?) in order, and the workloads
        whose anti-affinity on a zone names it, in the policy's order."""
        found = self.zone_rules.get(demand.name)
        if found is None:
            zones = self._zones_of_classes(tuple(demand.eligible))
            rules = [(demand.workload if rule.target == "self" else rule.target, rule.anti)
                     for rule in demand.affinities if rule.topology == "zone"]
            kept_away_by = self._kept_away_by_zone.get(demand.workload, [])
            found = self.zone_rules[demand.name] = (zones, rules, kept_away_by)
        return found

    @cached_property
    def _kept_away_by_zone(self) -> dict[str, list[str]]:
        """Per workload, the workloads whose anti-affinity on a zone names it, in the policy's
        order (read once: per demand it was a loop over every demand's rules)."""
        found: dict[str, list[str]] = {}
        for other in self.problem.demands:
            for rule in other.affinities:
                if rule.anti and rule.topology == "zone":
                    found.setdefault(rule.target, []).append(other.workload)
        return found

    def _zones_of_classes(self, classes: tuple[str, ...]) -> frozenset:
        """The zones of the classes, made once per list (demands alike share it)."""
        found = self.zones_of_classes.get(classes)
        if found is None:
            found = self.zones_of_classes[classes] = frozenset(zone_of(self.problem.node_class(c))
                                                               for c in classes)
        return found

    def _open_for(self, demand: Demand, zones: list[tuple | None], upcoming: list[Displaced],
                  below: float | None = None, at: int | None = None) -> FleetNode | None:
        """A new node for a replica, in one of the zones (None: any): of the eligible class
        whose price over what one of its nodes would hold (this replica and, filled first fit,
        the replicas to place next: `_fill`) is least; of the classes whose node (bought, with
        the price of buying it) costs less than `below` where given. (Ranked by this
        replica's workload alone, a drained pool of one-a-node services at inventory 1,000
        nodes reopened as 31 nodes of small classes where 16 of a larger one take it: 17.8
        USD/h for 8.7.) `at`: the position of `upcoming` in `repair`'s order (`_Fill`)."""
        classes = [self.problem.node_class(c) for c in demand.eligible]
        if below is not None:
            classes = [c for c in classes if self.class_price[self.rows.class_index[c.id]] < below]
        if None not in zones and demand.name in self.zoned:
            classes = [c for c in classes if zone_of(c) in zones]
        zones_of: dict[str, frozenset] = {}  # the zones each upcoming demand may use (`_zones_ahead`)
        most = self._most_held(demand, upcoming)
        free: list[tuple[float, NodeClass, str, dict[str, int]]] = []
        for node_class in classes:
            name = self.free_node(node_class) if self.may_open(node_class) else None
            if name is not None:
                capacity = node_class.node_capacity.get(name, node_class.capacity)
                free.append((float(node_class.price) / most(capacity), node_class, name, capacity))
        # classes by the least their price over what a node holds could be, filled only while
        # that could beat the best so far (inventory 10,000: hundreds of classes, each a first
        # fit of 200 replicas, were most of `repair`'s CPU)
        weighed: list[tuple[Fraction, str, str]] = []
        best = math.inf
        for least, node_class, name, capacity in sorted(free, key=lambda item: item[0]):
            if least > best * (1 + 1e-9):
                break
            held = self._fill(node_class, capacity, demand, upcoming, zones_of, at)
            if held > 0:
                weighed.append((node_class.price / Fraction(held), node_class.id, name))
                best = min(best, float(weighed[-1][0]))
        for _, _, name in sorted(weighed):
            node = self.node(name)
            if (self.rows.free[node.row] >= self.need[demand.name]).all():
                return node
            self.close(name)
        return None

    def _most_held(self, demand: Demand, upcoming: list[Displaced]) -> Callable[[dict[str, int]], float]:
        """A bound on what `_fill` finds a node of a capacity holds: each replica's weight is
        at most its share of the largest node in the resource that sets it (`_weights`; 1 where
        none does), so what fits is at most the node's shares in those resources, summed over
        the resources that set a weight of one of the replicas, plus one per replica."""
        setting = set(self.weight_set_by[demand.name])
        for other, _ in upcoming:
            setting.update(self.weight_set_by[other.name])
        scale = [(r, 10**6 / largest) for r, largest in self.largest.items() if r in setting and largest]
        slack = 1 + len(upcoming)
        return lambda capacity: slack + sum(capacity[r] * unit for r, unit in scale)

    def _fill(self, node_class: NodeClass, capacity: dict[str, int], demand: Demand,
              upcoming: list[Displaced], zones_of: dict[str, frozenset], at: int | None = None) -> int:
        """What a new node of the class would hold, in `_weight` units: the replica, then first
        fit of the upcoming replicas that may run there (its node rules and zone rules as
        `targets` keeps them); 0 if the replica does not fit. With `at`, gone on from the
        previous replica's (`_Fill`)."""
        # in Python ints, not arrays: a few resources, compared ~80,000 times a plan at
        # inventory 10,000, where numpy's call per comparison was most of the time
        need = self.need_ints
        key = (demand.name, node_class.id)
        base = 0 if at is None else at
        fill = self.fills.get(key) if at is not None else None
        if fill is None or not self._still_holds(fill, capacity, base, zones_of):
            free = [capacity[r] - n for r, n in zip(RESOURCES, need[demand.name])]
            if min(free) < 0:
                return 0
            fill = _Fill(tuple(capacity[r] for r in RESOURCES), free, Counter({demand.name: 1}),
                         self.weight[demand.name], base)
        hosted, zone = fill.hosted, zone_of(node_class)
        for offset in range(max(0, fill.end - base), len(upcoming)):
            other, ran_in = upcoming[offset]
            name = other.name
            if node_class.id not in self.eligible[name] or \
                    any(n > f for n, f in zip(need[name], fill.free)):
                continue
            if other.one_per_node and hosted[name]:
                continue
            if name in self.alone or any(d in self.alone for d in hosted) or \
                    any(d in self.apart.get(name, ()) for d in hosted):
                continue
            if name in self.zoned:
                zones = self._zones_ahead(other, ran_in, zones_of)
                if ran_in is None:
                    fill.zones[name] = zones
                if zone not in zones:
                    continue
            hosted[name] += 1
            fill.free = [f - n for f, n in zip(fill.free, need[name])]
            fill.held += self.weight[name]
            fill.first_held = min(fill.first_held, base + offset)
        fill.end = base + len(upcoming)
        if at is not None:
            self.fills[key] = fill
        return fill.held

    def _still_holds(self, fill: _Fill, capacity: dict[str, int], start: int,
                     zones_of: dict[str, frozenset]) -> bool:
        """May the fill go on for a lookahead from `start` (`_Fill`)?"""
        return fill.first_held >= start and fill.capacity == tuple(capacity[r] for r in RESOURCES) and \
            all(self._zones_ahead(self.problem.demand(name), None, zones_of) == zones
                for name, zones in fill.zones.items())

    def _zones_ahead(self, demand: Demand, ran_in: tuple | None, zones_of: dict[str, frozenset]) -> frozenset:
        """Where a replica ahead may go: the zone it ran in, else its `_zones_for` (found once
        per demand in one `_open_for`: they change as replicas are placed)."""
        if ran_in is not None:
            return frozenset([ran_in])
        found = zones_of.get(demand.name)
        if found is None:
            found = zones_of[demand.name] = frozenset(self._zones_for(demand))
        return found

    # ---- 2. improve ---------------------------------------------------------------------------

    def improve(self, deadline: float | None, scatter: bool = False, passes: int | None = None,
                settled: Settled | None = None) -> Settled:
        """Passes over the nodes in use, dearest first, deleting, replacing or merging each
        (and, with `scatter`, scattering it: `_scatter`) where that lowers the objective, until
        a pass changes nothing (or the deadline, or `passes` passes). A node whose tries all
        failed since the fleet last changed is not tried again: they would fail again (the
        last pass's sweep, ~0.3-0.4 s at inventory 10,000, session 25). Returns those nodes,
        for the next call where the fleet has not changed in between (`settled`)."""
        settled = Settled() if settled is None else settled
        changed = True
        while changed and (passes is None or passes > 0):
            changed = False
            passes = None if passes is None else passes - 1
            for node in sorted(self._movable_nodes(), key=self._tried_first):
                if deadline is not None and time.monotonic() > deadline:
                    return settled
                if self.nodes.get(node.name) is not node:
                    continue  # closed earlier in the pass (and maybe open again as a new record)
                if self._improved(node, scatter, settled):
                    changed = True
                    settled = Settled()
        return settled

    def _improved(self, node: FleetNode, scatter: bool, settled: Settled) -> bool:
        """One node's tries, but those that failed since the fleet last changed."""
        key = id(node)  # (the node is held in `settled`: its id is not another's meanwhile)
        if key in (settled.scatter if scatter else settled.plain):
            return False
        if key not in settled.plain:
            if self._delete(node) or self._onto_free_node([node]) or self._merge(node):
                return True
            settled.plain[key] = node
        if scatter:
            if self._scatter(node):
                return True
            settled.scatter[key] = node
        return False

    def _tried_first(self, node: FleetNode) -> tuple:
        """`improve`'s order of the nodes: the dearest first; under a cap on the moves, the most
        that emptying it saves per replica it moves first (`move_cap`: the moves the cap allows
        go where they save most)."""
        if self.cap is None:
            return (-node.node_class.price, node.row)
        now = self.running_now.get(node.name, _NO_REPLICAS)
        moves = sum(min(count, now[d]) for d, count in node.hosted.items())
        return (-saving_per_move(float(node.node_class.price - self._change_price(node)), moves), node.row)

    def _movable_nodes(self) -> list[FleetNode]:
        return [n for n in self.nodes.values()
                if n.hosted and not any(d in self.problem.pinned for d in n.hosted)]

    def _change_price(self, node: FleetNode) -> Fraction:
        """The priced changes of moving all its replicas away: a move for each replica that
        runs here now (those repair placed here move anyway), and the node drained if it
        runs work now; under a cap on the moves, `shadow` more per replica moved."""
        now = self.running_now.get(node.name, Counter())
        moved = sum(min(count, now[d]) for d, count in node.hosted.items())
        return self.price * (moved + (1 if now else 0)) + self.shadow * moved

    def _delete(self, node: FleetNode) -> bool:
        if node.node_class.price - self._change_price(node) <= 0:
            return False
        plan = self._fit_all([node], None)
        if plan is None:
            return False
        self._carry_out([node], plan)
        return True

    def _scatter(self, node: FleetNode) -> bool:
        """Each replica of the node where its own rules let it go, separately: onto a node in
        use with room (first fit, as `_delete`), else onto a new node of one of its zones
        (`_open_for`, the node's replicas still to go weighing the class); kept where the
        whole pays: the node's price, less the changes priced, less what the new nodes cost
        (and the price of buying them). (Inventory 10,000, seed 1: a repriced pool's nodes run
        a gang's replica, free to change zone within its cluster, beside dozens of services
        that may not leave the zone: no one class takes them all, no node in use the gang's.)"""
        left = node.node_class.price - self._change_price(node)
        if left <= 0:
            return False
        zone = zone_of(node.node_class)
        order = [self.problem.demand(name) for name in
                 sorted(node.hosted.elements(), key=lambda d: (-_size(self.problem.demand(d)), d))]
        moved: list[Moved] = []
        opened: list[FleetNode] = []
        before = self.moved()
        self.rows.alive[node.row] = False  # not onto itself
        try:
            for index, demand in enumerate(order):
                self.remove(node, demand)
                found = self.targets(demand, zone, source=node.node_class, every=False)
                target = found[0] if found else None
                if target is None:
                    zones = self._zones_to_open(demand, zone)
                    if self._least_new_node(demand, zones) >= float(left):
                        break  # (no new node for it could pay: found at once, the common case)
                    upcoming: list[Displaced] = [(other, zone) for other in order[index + 1:]]
                    target = self._open_for(demand, zones, upcoming, below=float(left))
                    if target is None:
                        break
                    opened.append(target)
                    left -= target.node_class.price + (self.price if target.node_class.provisioned else 0)
                    if left <= 0:
                        break
                self.add(target, demand)
                moved.append((node, demand, target))
            else:
                if not self.past_cap(before):
                    self.close(node.name)
                    return True
                self.remove(moved.pop()[2], demand)  # (past the cap: every replica back, this one below)
            self.add(node, demand)  # the replica that found no place (or cost too much) back
        finally:
            self.rows.alive[node.row] = node.name in self.nodes
        for source, demand, target in reversed(moved):
            self.remove(target, demand)
            self.add(source, demand)
        for target in opened:
            self.close(target.name)
        return False

    def _least_new_node(self, demand: Demand, zones: list[tuple | None]) -> float:
        """The least a new node of the demand's classes in the zones costs (bought, with the
        price of buying it; in floats: a filter, `_open_for` and the exact test follow)."""
        if None in zones:
            return self.cheapest[demand.name]
        key = (demand.name, tuple(zones))
        found = self.least_in_zones.get(key)
        if found is None:
            allowed = set(zones)
            found = self.least_in_zones[key] = min(
                (float(self.class_price[self.rows.class_index[c]]) for c in demand.eligible
                 if zone_of(self.problem.node_class(c)) in allowed), default=np.inf)
        return found

    def _used(self, node: FleetNode) -> np.ndarray:
        return np.array([node.capacity[r] for r in RESOURCES]) - self.rows.free[node.row]

    def _onto_free_node(self, sources: list[FleetNode]) -> bool:
        """The replicas of the nodes onto free nodes of one class, where that lowers the
        objective: one node for two sources (`merge`); for one (`replace`), up to
        `SPLIT_NODES` (inventory 1,000: a 3.02 USD/h node running five services one a node
        whose zone has 0.38 USD/h nodes of a quarter of its size). The classes in order of
        what their nodes cost (k nodes, k the least whose capacity sums to the replicas'), the
        first whose nodes take every replica first fit."""
        most = sum(node.node_class.price - self._change_price(node) for node in sources)
        if max(self.cheapest[name] for node in sources for name in node.hosted) >= float(most):
            return False  # (no class eligible for all costs less: the common case, found at once)
        demands = {name: self.problem.demand(name) for node in sources for name in node.hosted}
        used = sum(self._used(node) for node in sources)
        with np.errstate(divide="ignore", invalid="ignore"):  # (0 / 0: none needed; x / 0: never)
            ratio = np.nan_to_num(used / self.class_capacity, nan=0.0, posinf=np.inf)
        least = np.maximum(np.ceil(ratio.max(axis=1)), 1)  # nodes of each class the replicas need
        limit = SPLIT_NODES if len(sources) == 1 else 1
        mask = np.logical_and.reduce([self.eligible_mask[name] for name in demands]) & (least <= limit)
        mask &= np.where(mask, self.class_price * np.minimum(least, limit), np.inf) < float(most) + 1e-9
        if len(sources) == 1:
            mask[self.rows.class_index[sources[0].node_class.id]] = False
        classes = self.problem.classes
        # k nodes, and k + 1 (first fit may need one more than the capacity sums to)
        tries = sorted((self.class_price[i] * k, classes[i].id, i, k) for i in np.flatnonzero(mask)
                       for k in range(int(least[i]), min(int(least[i]) + 1, limit) + 1))
        for _, _, index, count in tries[:FREE_NODE_TRIES]:
            node_class = classes[index]
            if count * (node_class.price + (self.price if node_class.provisioned else 0)) >= most:
                return False
            if any(not self._may_go([demands[d] for d in node.hosted], node.node_class, node_class)
                   for node in sources):
                continue
            opened = self._open_free(node_class, count)
            if opened is None:
                continue
            plan = self._fit_all(sources, np.array([target.row for target in opened]))
            if plan is not None:
                self._carry_out(sources, plan)
            for target in opened:
                if not target.hosted:
                    self.close(target.name)
            if plan is not None:
                return True
        return False

    def _open_free(self, node_class: NodeClass, count: int) -> list[FleetNode] | None:
        """`count` free nodes of the class opened (None, and none opened, if it lacks them
        or a power cap or buy limit would be passed)."""
        opened: list[FleetNode] = []
        for _ in range(count):
            name = self.free_node(node_class) if self.may_open(node_class) else None
            if name is None:
                for node in opened:
                    self.close(node.name)
                return None
            opened.append(self.node(name))
        return opened

    def _merge(self, node: FleetNode) -> bool:
        """A node at most half used and one of a few partners onto one free node cheaper than
        both (inventory 1,000: a service one a node that needs a labelled class opened small
        nodes of its own while other services' nodes of an unlabelled class were half empty).
        The partners: the least used nodes with a class eligible for both that costs less
        than the two, and no workload of its that runs one a node."""
        if self.rows.shares(node.row)[0] > MERGE_SHARE:
            return False
        shares = self.rows.shares()
        eligible = frozenset.intersection(*(self.eligible[name] for name in node.hosted))
        alone = {name for name in node.hosted if self.problem.demand(name).one_per_node}
        saved = node.node_class.price - self._change_price(node)
        count = len(self.rows.names)
        light = np.flatnonzero(self.rows.alive[:count] & (shares <= PARTNER_SHARE))
        tried = 0
        for row in light[np.argsort(shares[light], kind="stable")]:
            other = self.nodes[self.rows.names[row]]
            if other is node or not other.hosted or alone & set(other.hosted) or \
                    any(d in self.problem.pinned for d in other.hosted):
                continue
            shared = eligible.intersection(*(self.eligible[name] for name in other.hosted))
            most = saved + other.node_class.price - self._change_price(other)
            if not any(self.owners_price[c] < most for c in shared):
                continue
            if self._onto_free_node([node, other]):
                return True
            tried += 1
            if tried == MERGE_PARTNERS:
                break
        return False

    def _fit_all(self, sources: list[FleetNode], rows: np.ndarray | None) -> list[Moved] | None:
        """First fit of the nodes' replicas (largest first) onto the other nodes in use (of
        `rows` where given); None if one does not fit. The targets are left as they were."""
        plan: list[Moved] = []
        before = self.moved()
        alive = [self.rows.alive[node.row] for node in sources]
        self.rows.alive[[node.row for node in sources]] = False  # not onto themselves
        taken_off: list[tuple[FleetNode, Demand]] = []  # each replica leaves before its target is chosen
        try:
            for node in sources:
                zone = zone_of(node.node_class)
                for name in sorted(node.hosted.elements(), key=lambda d: (-_size(self.problem.demand(d)), d)):
                    demand = self.problem.demand(name)
                    self.remove(node, demand)
                    taken_off.append((node, demand))
                    found = self.targets(demand, zone, rows, source=node.node_class, every=False)
                    if not found:
                        return None
                    self.add(found[0], demand)
                    plan.append((node, demand, found[0]))
            return None if self.past_cap(before) else plan
        finally:
            for node, was in zip(sources, alive):
                self.rows.alive[node.row] = was
            for _, demand, target in plan:
                self.remove(target, demand)
            for node, demand in taken_off:
                self.add(node, demand)

    def _carry_out(self, sources: list[FleetNode], plan: list[Moved]) -> None:
        for source, demand, target in plan:
            self.remove(source, demand)
            self.add(target, demand)
        for node in sources:
            self.close(node.name)

    # ---- the outcome ----------------------------------------------------------------------------

    def placement(self, objective: str, bound: Fraction | None) -> Placement:
        order = {d.name: i for i, d in enumerate(self.problem.demands)}
        number: Counter = Counter()
        assignments = []
        for name in sorted(self.nodes, key=lambda n: (self.owners.position(n), n)):
            for demand in sorted(self.nodes[name].hosted, key=order.__getitem__):
                for _ in range(self.nodes[name].hosted[demand]):
                    assignments.append(Assignment(demand, number[demand], name))
                    number[demand] += 1
        bought: dict[str, list[str]] = {}
        for name in sorted(self.bought & set(self.nodes), key=lambda n: (self.owners.position(n), n)):
            bought.setdefault(self.owners[name].id, []).append(name)
        return Placement(Status.FEASIBLE, objective, None, bound, assignments=assignments, bought=bought,
                         backend="move_scale", moves_counted=True)


_NO_REPLICAS: Counter = Counter()  # (a node where nothing runs now)


def zone_of(node_class: NodeClass) -> tuple:
    """Where a topology rule counts a node: its cluster and zone (its region if it has none:
    a pool may state its zone without its region, an inventory's node both)."""
    return (node_class.cluster, node_class.zone or node_class.region)


def _zoned(demand: Demand) -> bool:
    """Does a rule over a topology count where its replicas run (so that they move only
    within their zone)? Spreads, latency, gangs and affinities do, but for an anti-affinity
    on a node: `takes` keeps that one on every node (inventory 1,000: a service one a node
    lost its zone's nodes with its pool and opened a node per replica there)."""
    return bool(demand.spreads or demand.latency or demand.gang or
                any(not (rule.anti and rule.topology == "node") for rule in demand.affinities))


def _gangs_free_in_cluster(problem: Problem, named: set[str]) -> frozenset[str]:
    """The gangs whose only rule over a topology is the gang's (one cluster, rules/gang.py):
    no spread, latency or affinity but anti-affinities on a node, and named by no other
    workload's rule over a topology. Such a replica may move to any zone of its cluster."""
    return frozenset(d.name for d in problem.demands
                     if d.gang and not d.spreads and not d.latency and d.workload not in named and
                     all(rule.anti and rule.topology == "node" for rule in d.affinities))


def _apart_by_zone(problem: Problem) -> dict[str, frozenset[str]]:
    """Per demand whose only rules over a topology are anti-affinities on a zone (its own
    and others' naming it; anti-affinities on a node aside): the workloads it may not share
    a zone with. Such a replica may move to another zone where none of them runs."""
    named_otherwise = {rule.target for d in problem.demands for rule in d.affinities
                       if rule.topology != "node" and not (rule.anti and rule.topology == "zone")}
    avoid: dict[str, set[str]] = {}
    for demand in problem.demands:
        for rule in demand.affinities:
            if rule.anti and rule.topology == "zone" and rule.target != "self":
                avoid.setdefault(rule.target, set()).add(demand.workload)  # (each side keeps off)
    found: dict[str, frozenset[str]] = {}
    for demand in problem.demands:
        rules = [r for r in demand.affinities if r.topology != "node" or not r.anti]
        if demand.spreads or demand.latency or demand.gang or demand.workload in named_otherwise or \
                any(not (r.anti and r.topology == "zone") for r in rules):
            continue
        apart = {demand.workload if r.target == "self" else r.target for r in rules}
        found[demand.name] = frozenset(apart | avoid.get(demand.workload, set()))
    return found


def _eligibility(problem: Problem, class_index: dict[str, int]
                 ) -> tuple[dict[str, frozenset[str]], dict[str, np.ndarray]]:
    """Per demand, its eligible classes as a set and as a mask over the classes' rows, made
    once per list of eligible classes (read only: demands alike share them). 10,000 small
    workloads on 1,500 one-node pools (`bench/many_workloads.py`) took ~3 CPU s made apart."""
    sets: dict[tuple[str, ...], frozenset[str]] = {}
    masks: dict[tuple[str, ...], np.ndarray] = {}
    for demand in problem.demands:
        key = tuple(demand.eligible)
        if key not in masks:
            mask = np.zeros(len(problem.classes), dtype=bool)
            mask[[class_index[c] for c in key]] = True
            sets[key], masks[key] = frozenset(key), mask
    return ({d.name: sets[tuple(d.eligible)] for d in problem.demands},
            {d.name: masks[tuple(d.eligible)] for d in problem.demands})


def _spread_counts(problem: Problem, named: set[str]) -> dict[str, list[SpreadCounts]]:
    """Per demand whose only rules over a topology are spreads (not over `node`; anti-
    affinities on a node aside) and that no other workload's rule over a topology names: its
    spreads' counts. Its replicas may change zone where every spread keeps its skew."""
    found: dict[str, list[SpreadCounts]] = {}
    made: dict[tuple, np.ndarray] = {}
    for demand in problem.demands:
        if not demand.spreads or demand.latency or demand.gang or demand.workload in named or \
                any(s.topology == "node" for s in demand.spreads) or \
                any(not (r.anti and r.topology == "node") for r in demand.affinities):
            continue
        found[demand.name] = [SpreadCounts(problem, demand, s.topology, s.max_skew, made)
                              for s in demand.spreads]
    return found


def _size(demand: Demand) -> int:
    return demand.requests["gpu"] * 10**9 + demand.requests["cpu"]


def _slacks(free: np.ndarray, capacity: np.ndarray, need: np.ndarray) -> np.ndarray:
    """`_slack` of each row at once (rows of free resources and capacities, in RESOURCES'
    order): the same floats, each a quotient of two whole numbers rounded once."""
    shares = np.full(free.shape, -np.inf)
    np.divide(free - need, capacity, out=shares, where=capacity > 0)
    most = shares.max(axis=1, initial=-np.inf)
    return np.where(np.isneginf(most), 0.0, most)


def _slack(free: np.ndarray, capacity: dict[str, int], demand: Demand) -> float:
    """How much room is left after the replica, as the largest share of a resource free."""
    return max(((free[i] - demand.requests[r]) / capacity[r] for i, r in enumerate(RESOURCES)
                if capacity[r]), default=0.0)


def _weights(problem: Problem) -> dict[str, int]:
    """Per demand, how much of a node a replica takes, in a unit common to every class: its
    largest share of a resource, that resource counted by the largest node of any class (in
    millionths, so that sums stay exact)."""
    largest = {r: max((c.capacity[r] for c in problem.classes), default=0) for r in RESOURCES}
    return {d.name: max(1, max((10**6 * d.requests[r] // largest[r] for r in RESOURCES if largest[r]),
                               default=1))
            for d in problem.demands}


def _weight_set_by(demand: Demand, largest: dict[str, int]) -> frozenset[str]:
    """The resources whose share of the largest node is the demand's weight (`_weights`)."""
    shares = {r: 10**6 * demand.requests[r] // largest[r] for r in RESOURCES if largest[r]}
    return frozenset(r for r, share in shares.items() if share == max(shares.values()) and share)


def forced_moves(problem: Problem) -> int:
    """The replicas every plan moves: those running where their rules no longer let them
    run (or on nodes the policy lacks) that the policy still asks for, beyond what their
    allowed nodes keep. None are counted for an option (its replica may be replaced by
    another option's: a stop and a start, no move) nor where replicas may be left out."""
    if problem.allow_unplaced:
        return 0
    owners = problem.owners()
    grouped = {name for group in problem.option_groups for name in group.demands}
    forced = 0
    for demand in problem.demands:
        if demand.name in grouped:
            continue
        running = problem.running.get(demand.name, {})
        allowed = sum(c for n, c in running.items() if owners[n].id in demand.eligible)
        total = sum(running.values()) + problem.running_elsewhere.get(demand.name, 0)
        forced += max(0, min(total, demand.replicas) - min(allowed, demand.replicas))
    return forced


def move_model_bound(problem: Problem, deadline: float | None,
                     cpu_seconds: float = MOVE_MODEL_SECONDS) -> Fraction | None:
    """A proven lower bound on cost + moves from the whole move model (`rules/moves.py`: class
    counts, stay columns), solved until `deadline`: the solver's dual bound (HiGHS's
    `mip_dual_bound` rounded down, as `fitc solve` states its bound; an exact optimum where
    the model is small enough for z3), plus the constant the model drops. None: none proven.

    Why it holds: every end state is a point of the model. Its node counts per class are a
    `u`, its replicas per class a `y` (class-level capacity, one a node and spread rows are
    met by any placement, the model's first solve has no packing cuts), and its replicas that
    stay on their node, counted per class, an `s` (s <= what runs there, s <= y). So its
    moves of a demand outside option groups are at least min(running, replicas) - sum s, its
    nodes drained per class at least k - u and bought at least u - k: the model's objective,
    cost - price x sum s + price x (drained + bought), plus price x sum min(running,
    replicas), is at most the end state's. The rows `kept_node_rows` adds (a class's stays at
    most what runs now on its u nodes that run the most) hold there too: a replica stays on
    its node only where that node ends in use. An option's stays enter with -price x s <= 0 and
    no constant (a replica replaced by another option's is no move). Where replicas may be
    left out the constant would not hold: None."""
    from fitlang.rules.moves import kept_node_rows
    from fitlang.solve.aggregate import choose_backend
    from fitlang.solve.backends import HighsBackend
    from fitlang.solve.encode import encode

    if problem.allow_unplaced or deadline is None or not _model_fits(problem, deadline):
        return None
    encoding = encode(problem, must_place=True, min_nodes={})
    kept_node_rows(encoding)
    solver = choose_backend("auto", encoding)
    objective, seconds = encoding.objective("cost+moves"), deadline - time.monotonic()
    if isinstance(solver, HighsBackend):  # its CPU time, not the machine's load, decides how far
        outcome = solver.minimise(encoding.model, objective, seconds, cpu_seconds=cpu_seconds)
    else:
        outcome = solver.minimise(encoding.model, objective, seconds)
    if outcome.bound is None or outcome.status is Status.INFEASIBLE:
        return None
    grouped = {name for group in problem.option_groups for name in group.demands}
    kept = sum(min(problem.running_total(d.name), d.replicas)
               for d in problem.demands if d.name not in grouped)
    return Fraction(outcome.bound) + (problem.move_price or Fraction(0)) * kept


def _model_fits(problem: Problem, deadline: float, start: float | None = None) -> bool:
    """Is there time before `deadline` (from `start`, else now) to build the move model
    (which its solver's limit does not stop)? A 2 s plan of inventory 1,000 started it 0.1 s
    before its deadline, at load 7, and ended 0.6 s past it."""
    from fitlang.solve.budget import encoding_cpu

    columns = sum(len(d.eligible) for d in problem.demands)
    return deadline - (time.monotonic() if start is None else start) > encoding_cpu(columns)


def _many_until(problem: Problem, objective: str, aside_until: float | None,
                deadline: float | None) -> float | None:
    """When `merge_many` ends: with `scatter_aside` (`ASIDE_SHARE`), or at the deadline where
    the move model's bound, which the rest of the limit is for, could not be built in it
    anyway (inventory 1,000 at `--time-limit 5`: 0.43 CPU s left, the model estimated at
    0.4-0.5 to build, and no bound raised in it; `merge_many` had 0-0.08 s after the joint
    steps' overrun; with its 0.3 s the plans of seeds 1 / 23 / 24 were 0.28 / 0.37-0.60 /
    0.21-1.37 USD/h cheaper in every run, session 36)."""
    if deadline is None or aside_until is None:
        return aside_until
    if objective == "cost+moves" and _model_fits(problem, deadline, start=aside_until):
        return aside_until
    return deadline


def _improve_share(nodes: int) -> float:
    """The share of the move's limit by which the first `improve` ends."""
    from fitlang.solve.move_neighbourhood import LARGE_NODES

    return LARGE_IMPROVE_SHARE if nodes > LARGE_NODES else IMPROVE_SHARE


def _bound_end(bound_until: float, started: float, time_limit: float, bound_after: bool) -> float:
    """When the bound beside the move ends: `bound_until`, or for a plan (`bound_after`),
    through its waves, as the move model's (`model_bound_beside`), less `BOUND_TAIL_SHARE` of
    the move's limit: the plan collects it after them (`Placement.later_bound`)."""
    if not bound_after:
        return bound_until
    from fitlang.plan import FINISH_SHARE

    return started + time_limit / (1 - FINISH_SHARE) - BOUND_TAIL_SHARE * time_limit


def _joint_moves_pay(value: Fraction, bound: Fraction | None) -> bool:
    """Is the plan not yet proven within `JOINT_MOVES_GAP` of its bound? (Where it is, the
    neighbourhood steps' CPU is not spent: fleet shape, 1,000 nodes, seeds 0-2, within 0.07-
    0.53%, they found nothing cheaper in their 1.2 s each.)"""
    return bound is None or value - bound > JOINT_MOVES_GAP * abs(value)


def move_at_scale(problem: Problem, objective: str, time_limit: float | None,
                  bound_after: bool = False) -> tuple[Placement, ScaleMove]:
    """The target placement of a large fleet (module's docstring); its bound proven: the
    least cost with the moves charged (`moves_lower_bound`; the least cost for `cost`), or,
    up to `MOVE_MODEL_MAX_NODES` nodes and while the gap is wider than the tolerance, the
    whole move model's bound where that is larger, in at most `MOVE_MODEL_SECONDS` of CPU
    time (and `MOVE_MODEL_WALL_SECONDS`, within the limit). `bound_after`: the model's child
    is left running through the plan's waves, handed over as `Placement.later_bound`
    (`model_bound_beside`)."""
    # (begun before the stages' modules are imported: their first import is ~0.1 CPU s at
    # 10,000 nodes, which every deadline below was set past, h56c)
    started = time.monotonic()
    from fitlang.solve.bound import lower_bound
    from fitlang.solve.dear_opened import close_dear_opened
    from fitlang.solve.merge_many import merge_many
    from fitlang.solve.model_bound_beside import model_bound_beside
    from fitlang.solve.move_bound import moves_lower_bound
    from fitlang.solve.move_bound_beside import SCATTER_SHARE, BoundBeside, runs_beside
    from fitlang.solve.move_cap import fill_cap, improve_within_cap
    from fitlang.solve.move_neighbourhood import LARGE_NODES, improve_jointly
    from fitlang.solve.moving import objective_value
    from fitlang.solve.option_switch import switch_options
    from fitlang.solve.option_trade import trade_options
    from fitlang.solve.pool_emptied import empty_pools
    from fitlang.solve.repair_apart import clear_zones
    from fitlang.solve.scatter_aside import scatter_aside
    from fitlang.solve.scatter_both import scatter_both
    from fitlang.solve.spread_restore import RESTORE_SHARE, restore_spreads
    from fitlang.solve.zone_handover import hand_over_zones
    from fitlang.solve.zone_regroup import regroup_zones
    from fitlang.solve.zone_swap import swap_zones

    deadline = None if time_limit is None else started + time_limit
    modelled = model_bound_beside(problem, objective, time_limit, through_waves=bound_after)  # (its module)
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    if fleet.unplaced:  # a zone another workload holds, cleared for them (`repair_apart`)
        clear_zones(fleet, deadline)
    nodes = sum(c.count for c in problem.classes)
    bound_until = deadline if deadline is None or time_limit is None or nodes <= LARGE_NODES else \
        deadline - BOUND_TAIL_SHARE * time_limit
    improve_until = None if time_limit is None else started + _improve_share(nodes) * time_limit
    scatter_until = improve_until  # (the scatter passes' end past `LARGE_NODES`)
    aside: BoundBeside | None = None
    if bound_until is not None and time_limit is not None and runs_beside(nodes, time_limit):
        # the bound in a child process: this process's time is the passes' (`move_bound_beside`)
        aside = BoundBeside(fleet, objective, _bound_end(bound_until, started, time_limit, bound_after))
        scatter_until = started + SCATTER_SHARE * time_limit
    # the skews a drained pool broke (`spread_restore`): before `improve`, and given more of the
    # limit (an end that breaks one sends the move to the whole model, ~49 s at 10,000 nodes)
    restore_spreads(fleet, None if time_limit is None else started + RESTORE_SHARE * time_limit)
    settled: Settled | None = improve_within_cap(fleet, improve_until)  # (`improve` but under `max_moves`)
    if aside is not None:
        bound = aside.so_far()
    elif objective == "cost+moves" and fleet.price:
        bound = moves_lower_bound(problem, bound_until, start=fleet.packing())
    else:
        bound = lower_bound(problem, "cost", bound_until, start=fleet.packing()).value
    value = None  # the plan's objective
    if not fleet.unplaced:
        value = objective_value(problem, objective, fleet.state(), set(fleet.bought))
        if _joint_moves_pay(value, bound):
            if nodes <= LARGE_NODES:
                # (past it a swap's waves took 7-12 CPU s: inventory 10,000 seed 4, session 33)
                joint_until = None if time_limit is None else started + JOINT_MOVES_SHARE * time_limit
                swap_zones(fleet, objective, joint_until)
                hand_over_zones(fleet, objective, joint_until)
                improve_jointly(fleet, deadline=joint_until)
                settled = None  # (a step undone leaves its nodes as they were on new rows)
            # joint moves leave nodes the passes may now empty or merge; a node's replicas
            # scattered each where its rules let it go pay where the plan is not yet proven
            # close (not run before: at fleet 10,000, proven within 0.76% without, they cost
            # 5 s of CPU and 0.44 USD/h, a greedy step that blocked a better one)
            passes = None if nodes <= LARGE_NODES else SCATTER_PASSES
            # (the nodes the first passes left as they were are only scattered)
            if nodes <= LARGE_NODES:
                fleet.improve(improve_until, scatter=True, passes=passes, settled=settled)
                # nodes emptied by replicas moved together (after the joint steps: before them,
                # inventory 1,000 seed 3 ended 0.09 USD/h dearer than without, after 0.28 cheaper)
                aside_until = None if time_limit is None else started + ASIDE_SHARE * time_limit
                scatter_aside(fleet, objective, aside_until)
                merge_many(fleet, objective, _many_until(problem, objective, aside_until, deadline))
            else:  # (from both free-node searches, the lower kept: `scatter_both`)
                # options traded first (inventory 10,000 plans 2 / 7: 4-10 USD/h in the first
                # 0.3 CPU s, where the scatter passes' last 0.3 s and `empty_pools` gain < 1)
                if trade_options(fleet, objective, scatter_until):
                    settled = None
                scatter_both(fleet, objective, scatter_until, passes, settled)
            # (under `max_moves`: what it still allows, by `improve`'s tries at a price per move
            # halved in turn; before the regroups, whose time it would lack after them)
            fill_cap(fleet, None if time_limit is None else
                     started + (PASSES_SHARE if nodes > LARGE_NODES else ASIDE_SHARE) * time_limit)
            if nodes > LARGE_NODES:  # (below, the joint steps free whole zones' nodes)
                passes_until = None if time_limit is None else started + PASSES_SHARE * time_limit
                # each jurisdiction's priced zones re-solved together (plans 10 / 7: 2.1 / 1.4
                # USD/h; after `empty_pools`, to 0.9 of the limit, the plan's waves lacked time)
                regroup_zones(fleet, objective, passes_until)
                # options switched with the services beside them moved (plans 2 / 7 / 1: the
                # switches `trade_options` cannot make pay, their nodes left running services)
                switch_options(fleet, objective, passes_until)
                close_dear_opened(fleet, objective, passes_until)
                empty_pools(fleet, objective, passes_until)
            value = objective_value(problem, objective, fleet.state(), set(fleet.bought))
    later: BoundBeside | None = None
    if aside is not None and bound_after and not fleet.unplaced:  # (collected after the waves)
        bound, later = aside.so_far(), aside
    elif aside is not None:
        bound = aside.collected()
    placement = fleet.placement(objective, bound)
    placement.later_bound = later
    placement.value = value  # (the end state's, as `moving._at_scale` states it: not worked out twice)
    if objective == "cost+moves" and not fleet.unplaced and nodes <= MOVE_MODEL_MAX_NODES:
        if value is None:
            value = objective_value(problem, objective, fleet.state(), set(fleet.bought))
        if bound is None or value - bound > placement.tolerance * abs(value):
            if modelled is not None and bound_after:
                placement.later_bound, modelled = modelled, None  # (collected after the waves)
            else:
                until = time.monotonic() + MOVE_MODEL_WALL_SECONDS
                proven = modelled.collected() if modelled is not None else \
                    move_model_bound(problem, until if deadline is None else min(deadline, until))
                if proven is not None and (bound is None or proven > bound):
                    placement.bound = proven
    if modelled is not None:
        modelled.stop()
    placement.seconds = time.monotonic() - started
    return placement, fleet
