"""Replicas of a spread workload moved across the spread's domains, where the skew allows it
(issue 15, the inventory shape at 10,000 nodes).

`consolidate` and the ruin of the dear full nodes (improve.py, dear_nodes.py) move a replica
only to a class `equivalents` allows: the same domain for every topology a rule counts in, so
no count changes. On the inventory shape that keeps a zone-spread service's replicas in their
zone, while the free room the gangs leave on the 8-GPU nodes is in one zone (seed 8 at 10,000
nodes: 875 paid cores on A100 nodes in us-west-2b, the dear full CPU nodes elsewhere). A
spread with `max_skew K` keeps its counts per domain within K of each other: a replica may
leave a domain for another wherever the counts after the move still do (with K = 1: from a
domain holding the most to one holding the fewest). `CrossDomains` keeps those counts for the
spread workloads and says where one replica may go: to a class of another domain that is
alike in what every other rule counts per domain (an affinity's topology, a latency reach).

The counts are over the domains `verify` counts (rules/spread.py): those of the classes the
workload may use that have nodes (an owned class always; an offer where a node is open). A
move here only goes to a node already open, so it adds no domain; the counts are kept for the
whole search (same-domain moves and the nodes opened for the rest do not change them).
A workload's domains are read when it first crosses, which is in the middle of a ruin: the
ruined nodes are shut then, and where one was its class's only node its domain went missing
(`cloud_buy.py` 5,000 replicas seed 103: a TPU node in us-west4, the only node there, shut by
a ruin that failed; a later ruin moved a region-spread service's replica from eu-central-1
into us-west4, which held one already, 0..2 per region, E0507). So the domains are those of
the classes with nodes when the search began (a domain whose last node closed since holds no
replica: counting it is only stricter) and of those open when it is read.
"""

from __future__ import annotations

import weakref
from collections import Counter
from collections.abc import Callable, Hashable, Iterator

from fitlang import rules
from fitlang.model.problem import Demand, NodeClass, Problem
from fitlang.rules import spread as spread_rule
from fitlang.rules.base import TopologyValues
from fitlang.solve.pack import Packing, _cheapest_first

# a domain tuple: the class's value in each topology the workload spreads over (but `node`)
Domain = tuple
# a domain's classes: a tuple once sorted cheapest per replica first (`destinations`)
Classes = list[NodeClass] | tuple[NodeClass, ...]


class CrossDomains:
    """Per spread workload: its replicas per domain of each spread's topology, and where a
    replica on a class may move to with every spread's skew kept (`destinations`). Moves are
    recorded (`moved`) and may be taken back to a `mark` (`undo_to`)."""

    def __init__(self, problem: Problem, packing: Packing, is_open: Callable[[str], bool]) -> None:
        self.problem = problem
        self.packing = packing
        self.is_open = is_open  # class id -> has it an open node (a destination, a domain)
        self.topologies: dict[str, list[str]] = {}  # workload -> its spreads' topologies
        self.counts: dict[str, list[Counter]] = {}  # workload -> per spread: domain -> replicas
        self.spanned: dict[str, list[set]] = {}  # workload -> per spread: the domains verify counts
        # what depends on the problem only, kept for every search of the solve (`_Grouped`)
        self.grouped = _grouped(problem)
        # workload -> the keys of its other rules (`_other_keys`; not in `_Grouped`: a key
        # function may refer to the problem, which that table must not keep alive)
        self.other_keys: dict[str, list[Callable[[NodeClass], Hashable]]] = {}
        self.done: list[tuple[str, Domain, Domain]] = []  # (workload, from, to), in order
        # workload -> class id -> its replicas, as the packing is now: read here, before any
        # move (mid-move a ruined node still hosts the replicas that have found room)
        self.hosted: dict[str, Counter] = {}
        # the classes with nodes when the search began (a domain of each, whatever a ruin shut)
        self.present = {class_id for class_id, nodes in packing.nodes.items() if nodes}
        for class_id, nodes in packing.nodes.items():
            for node in nodes:
                for name, amount in node.hosted.items():
                    self.hosted.setdefault(name, Counter())[class_id] += amount

    def may_cross(self, demand: Demand) -> bool:
        """A workload with a spread over a topology other than `node`, not a gang (its
        replicas stay in their cluster)."""
        return not demand.gang and any(s.topology != "node" for s in demand.spreads)

    def destinations(self, demand: Demand, origin: NodeClass,
                     opened: bool = True) -> Iterator[tuple[Domain, list[NodeClass]]]:
        """The other domains a replica on `origin` may move to with every spread's skew kept,
        the fewest replicas first (then by name): each with its classes that have open nodes
        (with `opened` False: every one) and, in every other rule's key, what `origin` has
        (cheapest per replica first; a domain's classes are sorted when it is first reached)."""
        self._count(demand)
        source = self._domain(demand, origin)
        groups = self._groups(demand, origin)
        found = []
        for domain in groups:
            if domain != source and self._skew_kept(demand, source, domain):
                held = tuple(counts[d] for counts, d in zip(self.counts[demand.name], domain))
                found.append((held, tuple(map(str, domain)), domain))
        found.sort(key=lambda item: item[:2])
        for *_, domain in found:
            classes = groups[domain]
            if not isinstance(classes, tuple):
                classes = groups[domain] = tuple(_cheapest_first(self.problem, demand, list(classes)))
            open_classes = [c for c in classes if not opened or self.is_open(c.id)]
            if open_classes:
                yield domain, open_classes

    def moved(self, demand: Demand, origin: NodeClass, domain: Domain) -> None:
        """One replica moved from `origin`'s domain to `domain`."""
        source = self._domain(demand, origin)
        self._shift(demand.name, source, domain)
        self.done.append((demand.name, source, domain))

    def mark(self) -> int:
        return len(self.done)

    def undo_to(self, mark: int) -> None:
        """Take back every move recorded since `mark`, last first."""
        while len(self.done) > mark:
            name, source, domain = self.done.pop()
            self._shift(name, domain, source)

    def _shift(self, name: str, source: Domain, domain: Domain) -> None:
        for counts, a, b in zip(self.counts[name], source, domain):
            counts[a] -= 1
            counts[b] += 1

    def _domain(self, demand: Demand, node_class: NodeClass) -> Domain:
        return tuple(node_class.topology_value(t) for t in self.topologies[demand.name])

    def _skew_kept(self, demand: Demand, source: Domain, domain: Domain) -> bool:
        """Whether one replica moved from `source` to `domain` keeps every spread's counts
        within its max_skew over the domains verify counts."""
        spreads = [s for s in demand.spreads if s.topology != "node"]
        for spread, counts, spanned, a, b in zip(spreads, self.counts[demand.name], self.spanned[demand.name],
                                                source, domain):
            if a == b:
                continue
            after = [counts[d] - (d == a) + (d == b) for d in spanned]
            if max(after) - min(after) > spread.max_skew:
                return False
        return True

    def _count(self, demand: Demand) -> None:
        """The workload's replicas per domain now, once (then kept by `moved`)."""
        name = demand.name
        if name in self.counts:
            return
        topologies = [s.topology for s in demand.spreads if s.topology != "node"]
        self.topologies[name] = topologies
        eligible = [self.problem.node_class(c) for c in demand.eligible]
        # (as verify's `Owners.counts`: an owned class has its nodes, an offer those bought)
        with_nodes = [c for c in eligible if (c.node_names and not c.provisioned) or c.id in self.present
                      or self.is_open(c.id)]
        self.spanned[name] = [{v for v in (c.topology_value(t) for c in with_nodes) if v is not None}
                              for t in topologies]
        counts = [Counter(dict.fromkeys(spanned, 0)) for spanned in self.spanned[name]]
        # (moves since `__init__` kept the workload's domains: only a counted one crosses)
        for class_id, hosted in self.hosted.get(name, Counter()).items():
            node_class = self.problem.node_class(class_id)
            for counter, topology in zip(counts, topologies):
                counter[node_class.topology_value(topology)] += hosted
        self.counts[name] = counts

    def _groups(self, demand: Demand, origin: NodeClass) -> dict[Domain, Classes]:
        """`demand`'s eligible classes that have `origin`'s key in every rule but the spread,
        by domain; once per (workload, that key) and problem."""
        grouped = self.grouped
        other = self.other_keys.get(demand.name)
        if other is None:
            other = self.other_keys[demand.name] = _other_keys(self.problem, demand)
        key = (demand.name, tuple(k(origin) for k in other))
        if key not in grouped.by_domain:
            # (the same grouping for workloads of the same eligible classes, spread topologies
            # and other keys, where those are `TopologyValues`; each sorts its own copy)
            alike = (tuple(demand.eligible), tuple(self.topologies[demand.name]), tuple(other), key[1])
            shared = all(isinstance(k, TopologyValues) for k in other)
            groups = grouped.alike.get(alike) if shared else None
            if groups is None:
                groups = {}
                for node_class in map(self.problem.node_class, demand.eligible):
                    if tuple(k(node_class) for k in other) == key[1]:
                        groups.setdefault(self._domain(demand, node_class), []).append(node_class)
                if shared:
                    grouped.alike[alike] = groups
            grouped.by_domain[key] = dict(groups)
        return grouped.by_domain[key]


class _Grouped:
    """What `CrossDomains` finds from the problem alone, kept across its searches (the solve
    ruins 3-6 times at inventory 10,000, each with its own `CrossDomains`; grouping and sorting
    the classes by domain again was ~15% of each ruin): per (workload, its other rules' keys on
    a class) its classes by domain (a tuple once sorted cheapest first, `destinations`); the
    groupings workloads alike share (keyed by `TopologyValues` only, which do not refer to the
    problem: nothing here keeps the problem alive)."""

    def __init__(self) -> None:
        self.by_domain: dict[tuple[str, Hashable], dict[Domain, Classes]] = {}
        self.alike: dict[tuple, dict[Domain, list[NodeClass]]] = {}


_GROUPED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _grouped(problem: Problem) -> _Grouped:
    """The problem's `_Grouped`, made on the first ask (a `Problem` is immutable)."""
    grouped = _GROUPED.get(problem)
    if grouped is None:
        grouped = _GROUPED[problem] = _Grouped()
    return grouped


def _other_keys(problem: Problem, demand: Demand) -> list[Callable[[NodeClass], Hashable]]:
    """What every rule but the spread counts per domain (`OnNodes.same`: an affinity's
    topology, a latency rule's reach): a replica crosses only between classes alike in these."""
    keys = []
    for rule in rules.RULES:
        same = rule.packing.same if rule.packing is not None else None
        if same is None or same is spread_rule.same_domains:
            continue
        key = same(problem, demand)
        if key is not None:
            keys.append(key)
    return keys
