"""A lower bound from a coarser problem: the fleet with what tells its nodes apart, beyond
size and price, forgotten (issue 15, the *breaker* shape).

The pattern bound (patterns.py) over the whole problem does not converge at 10,000 nodes
when rules split the fleet finely: on *breaker* 10,000 (40 racks, workloads pinned to three
of them, rack spreads, anti-affinity between workloads) its master has 1,401 classes and
~700 demands, falls by 0.1-0.3 USD/h a round and is still falling after 600 s, and its
Lagrangian bound never rises above the pair relaxation's (1749.32). Here the same pattern
bound runs on a relaxation of the problem instead:

- classes that differ only in labels, zone, region, site, accelerator or arch merge into
  one (the same price, bought or owned alike, the same buy block and power caps, capacity
  within one `bound.SIZE_STEPS` step: the merged class has every node and, per resource,
  its largest member's capacity);
- a demand may use a merged class where it may use any of its members;
- rules that count over a domain are dropped (spreads and anti-affinities over zones,
  regions or labels, latency rules), and so are rules between two workloads (affinity or
  anti-affinity towards another); what holds on one node stays (one replica a node,
  `exclusive`, a node spread's), with budget, buy limits and power caps.

Why it is a bound: every placement of the problem is a placement of the coarse one (each
node is a node of its merged class, with at least its own capacity; each replica is on a
class its demand may use; every rule kept holds, since it held before; the node counts per
buy block and power cap are the same) at the same cost (each node keeps its price). So the
coarse optimum is at most the problem's, and a proven lower bound on the coarse optimum
(bound.py's and patterns.py's, each proven) is one on the problem's. It is stated only
where it is larger than the other bounds.

What it buys: with the splits gone the merged demands and classes are few (*breaker*
10,000: 7 demands on 6 classes, 30 pairs; 50,000: 13 on 7), the column generation converges
in a few rounds (under 0.1 s), and the whole-node patterns it proves are most of what the
pair bound misses: *breaker* 10,000 1749.32 -> 1830.10, 50,000 8717.75 -> 9122.05. Where
the splits are what costs (zone spreads and latency on the *inventory* shape) it is weaker
than the pair bound and is not stated.

The *zoned* coarse problem (`coarsened(problem, zoned=True)`, `zoned_bound`) keeps what the
inventory shape's costs depend on: classes merge only where they differ in labels alone
(and so in which workloads may use them), keeping zone, region and site, and only rules over
label domains are dropped; zone and region spreads, anti-affinities and latency stay. The
same argument makes its pair bound one of the problem's. On the *inventory* shape it is a
little weaker than the pair bound (10,000 nodes: 565.24 against 571.51) but far smaller
(50,000: 445 merged classes and 577,532 pairs against 1,638 and 2,025,859), so its column
generation converges where the pair bound's does not within the time limit (50,000 nodes:
2417.37 in 7-10 s at load 6-8, where the pair bound had 685-1966 at 12-20 s). Its last
solution, classes widened back to every member (`widened`), seeds the pair bound's master
and guides one greedy pass; what that guide is worth depends on which of the LP's many optimal
solutions HiGHS returns (inventory 10,000: consolidated floors 581.45, 610.49 and 612.39 from
three starts of the same LP), so `solve` runs it only where the pair bound is cut.

What the labels told apart is kept where it is cheap (`_kept_apart`): a zoned group is split
by the workloads' eligibility lists (the members a list holds apart from those it does not),
the lists that split fewest groups first, while the pairs stay within a bound (`max_pairs`,
`max_growth`). Every member of a merged class is then held alike by each kept list, so those
workloads may use it whole or not at all, as in the problem; the argument above is
unchanged (each merged class still has its members' nodes and at least each one's capacity,
and a workload may use it where it may use a member). With every list kept the classes are
the pair relaxation's (inventory 50,000: 1,638). At 50,000 inventory nodes the labels
forgotten cost the GPU side: the GPU workloads' four lists (GPU memory, vendor) split 0-4 of
the 435 groups and add ~1,000 pairs, and keeping them raises the converged bound from
2417.37 to 2637.14 (the pair LP's 2639.38); a team's or an arch's lists split 26-214 groups
each, and keeping the arch's too (679,727 pairs) adds 0.22. Not monotone in general: the
relaxation's whole-node and cover rows read each class's set of workloads, and on small
random cases the merged problem's LP is at times above the finer one's (both below the
optimum: tests/test_coarse_bound.py).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve.bound import Bound, _size, lower_bound
from fitlang.solve.pack import Packing
from fitlang.solve.patterns import PatternBound, pattern_bound


def coarsened(problem: Problem, zoned: bool = False, max_pairs: int | None = None,
              max_growth: float | None = None) -> tuple[Problem, dict[str, str]]:
    """The coarse problem of the module docstring (`zoned`: the zoned one, its classes kept
    apart by eligibility as far as its pairs stay about `max_pairs` or fewer, and within
    `max_growth` times those of the zoned problem with labels forgotten: `_kept_apart`;
    neither: as far as the eligibility lists tell them apart), and per class id (with
    nodes) the id of its merged class (the first member's)."""
    classes, merged_id = _merged_classes(problem, zoned, max_pairs, max_growth)
    lists = _eligible_lists(problem, classes, merged_id)
    return _coarse_problem(problem, classes, lists, zoned), merged_id


def _merged_classes(problem: Problem, zoned: bool = False, max_pairs: int | None = None,
                    max_growth: float | None = None) -> tuple[list[NodeClass], dict[str, str]]:
    """The merged classes (every member's nodes, the largest member's capacity per resource,
    no labels; no zone, region or site unless `zoned`, and then split by eligibility as
    `_kept_apart` chooses), and per member class id the merged one's id."""
    classes: list[NodeClass] = []
    merged_id: dict[str, str] = {}
    groups = class_groups(problem, zoned)
    if zoned:
        groups = _kept_apart(problem, groups, max_pairs, max_growth)
    for members in groups:
        capacity = {r: max(c.capacity[r] for c in members) for r in RESOURCES}
        merged = dataclasses.replace(members[0], capacity=capacity, count=sum(c.count for c in members),
                                     node_capacity={}, labels={})
        classes.append(merged if zoned else dataclasses.replace(merged, zone=None, region=None, site=None))
        merged_id.update((c.id, members[0].id) for c in members)
    return classes, merged_id


def _eligible_lists(problem: Problem, classes: list[NodeClass],
                    merged_id: dict[str, str]) -> dict[int, list[str]]:
    """Per eligibility list of the problem (by identity: demands share them, so each is read
    once), the merged classes it reaches, in their order (equal sets are equal lists, which
    `merged_demands` merges)."""
    position = {c.id: k for k, c in enumerate(classes)}
    lists: dict[int, list[str]] = {}
    for demand in problem.demands:
        if id(demand.eligible) not in lists:
            chosen = sorted({position[merged_id[c]] for c in demand.eligible if c in merged_id})
            lists[id(demand.eligible)] = [classes[k].id for k in chosen]
    return lists


def _coarse_problem(problem: Problem, classes: list[NodeClass], lists: dict[int, list[str]],
                    zoned: bool = False) -> Problem:
    """`zoned`: rules over zones and regions and latency stay (the merged classes keep their
    zone, region and site); only those over labels go, which the merged classes no longer
    have. Rules between two workloads over zones and regions stay too: `bound.py` leaves
    them out itself."""
    if zoned:
        demands = [dataclasses.replace(
            demand, eligible=lists[id(demand.eligible)],
            spreads=[s for s in demand.spreads if s.topology in ZONED_TOPOLOGIES],
            affinities=[r for r in demand.affinities if r.topology in ZONED_TOPOLOGIES])
            for demand in problem.demands]
        return dataclasses.replace(problem, classes=classes, demands=demands)
    demands = [dataclasses.replace(
        demand, eligible=lists[id(demand.eligible)], latency=[],
        spreads=[s for s in demand.spreads if s.topology == "node"],
        affinities=[r for r in demand.affinities if r.topology == "node" and r.target == "self"])
        for demand in problem.demands]
    return dataclasses.replace(problem, classes=classes, demands=demands, latency={})


def _about_pairs(problem: Problem, lists: dict[int, list[str]]) -> int:
    """About as many pairs as the coarse relaxation has, before the coarse problem is made:
    the demands merge as `merged_demands` merges the coarse ones (by classes and requests,
    but for options, `exclusive` and one replica a node: the rows of their own the coarse
    problem keeps), each with a pair per class. The count `lower_bound` checks, exactly, on
    the three bench shapes (inventory 50,000: 151,166) in 0.03 s, where making the coarse
    problem and counting them from it took 0.3-0.5 s of a 30 s limit."""
    keys: set[tuple] = set()
    total = 0
    for demand in problem.demands:
        classes = lists[id(demand.eligible)]
        if demand.replicas > 0 and demand.group is None and not demand.exclusive \
                and not demand.one_per_node:
            key = (tuple(classes), tuple(demand.requests[r] for r in RESOURCES))
            if key in keys:
                continue
            keys.add(key)
        total += len(classes)
    return total


def class_groups(problem: Problem, zoned: bool = False) -> list[list[NodeClass]]:
    """The classes with nodes, grouped by what the coarse problem's rows still read: price,
    bought or owned, buy block, power caps (and the watts they count), size; `zoned`: also
    zone, region and site."""
    capped: dict[str, list[int]] = {}
    for j, cap in enumerate(problem.power_caps):
        for class_id in cap.classes:
            capped.setdefault(class_id, []).append(j)
    groups: dict[tuple, list[NodeClass]] = {}
    for node_class in problem.classes:
        if node_class.count <= 0:
            continue
        caps = tuple(capped.get(node_class.id, ()))
        key: tuple = (node_class.price, node_class.provisioned, node_class.buy_group, caps,
                      node_class.power_watts if caps else 0, _size(node_class.capacity))
        if zoned:
            key += (node_class.zone, node_class.region,
                    node_class.site.code if node_class.site else None)
        groups.setdefault(key, []).append(node_class)
    return list(groups.values())


def _kept_apart(problem: Problem, groups: list[list[NodeClass]], max_pairs: int | None,
                max_growth: float | None = None) -> list[list[NodeClass]]:
    """The groups split by eligibility: the members a workload's eligibility list holds
    apart from those it does not, list by list, the lists that split fewest groups first
    (the GPU workloads' at 50,000 inventory nodes: 0-4 of 435 groups, where a team's or an
    arch's split 26-214), each kept only where the pairs stay within `max_pairs` and
    `max_growth` times the groups' own (about: `_Eligibility.pairs`), up to the first that
    does not. A merged class whose members every kept list holds alike is one
    the workloads of those lists may use whole or not at all, so those lists' rules keep
    their meaning; the others' still reach it where they reach a member (a relaxation)."""
    eligibility = _Eligibility(problem, groups)
    part = eligibility.group.copy()
    if max_growth is not None:
        grown = int(max_growth * eligibility.pairs(part))
        max_pairs = grown if max_pairs is None else min(max_pairs, grown)
    for members in eligibility.splitting():
        split = part * 2 + np.isin(np.arange(len(part)), members)
        split = np.unique(split, return_inverse=True)[1]
        if split.max() == part.max():
            continue  # what it splits the lists before it have split already
        if max_pairs is not None and eligibility.pairs(split) > max_pairs:
            # the lists after it split as many groups or more: they are not tried (breaker
            # 50,000 has 1,486 lists, and trying each took 44 s for no split kept)
            break
        part = split
    parts: dict[int, list[NodeClass]] = {}  # in the classes' order: the first member names it
    for position, node_class in enumerate(eligibility.classes):
        parts.setdefault(int(part[position]), []).append(node_class)
    return list(parts.values())


class _Eligibility:
    """The classes of the groups (positions), each group's number, and the eligibility
    lists over them (by contents), each with how many pairs a class it reaches adds: its
    demands that `bound.merged_demands` merges (`_merges`) count once per request vector,
    the others once each."""

    def __init__(self, problem: Problem, groups: list[list[NodeClass]]) -> None:
        self.classes = [c for members in groups for c in members]
        self.group = np.repeat(np.arange(len(groups)), [len(m) for m in groups]).astype(np.int64)
        position = {c.id: k for k, c in enumerate(self.classes)}
        targeted = {r.target for d in problem.demands for r in d.affinities
                    if r.target != "self" and r.topology in ZONED_TOPOLOGIES}
        by_contents: dict[tuple[int, ...], int] = {}
        read: dict[int, int] = {}  # id of a list -> its contents' number
        self.members: list[np.ndarray] = []
        merged: list[set[tuple]] = []
        self.weight: list[int] = []
        for demand in problem.demands:
            at = read.get(id(demand.eligible))
            if at is None:
                contents = tuple(sorted({position[c] for c in demand.eligible if c in position}))
                at = read[id(demand.eligible)] = by_contents.setdefault(contents, len(by_contents))
                if at == len(self.members):
                    self.members.append(np.array(contents, dtype=np.int64))
                    merged.append(set())
                    self.weight.append(0)
            if _merges(demand, targeted):
                merged[at].add(tuple(demand.requests[r] for r in RESOURCES))
            else:
                self.weight[at] += 1
        self.weight = [w + len(m) for w, m in zip(self.weight, merged)]
        self._list_of = np.repeat(np.arange(len(self.members)), [len(m) for m in self.members])
        self._entries = np.concatenate(self.members) if self.members else np.zeros(0, dtype=np.int64)

    def splitting(self) -> list[np.ndarray]:
        """The lists that split a group (hold some members but not all), those that split
        fewest first, then in the order the demands name them (so the order is the problem's
        alone). A list that splits no group splits no part of one either."""
        size = np.bincount(self.group, minlength=int(self.group.max(initial=-1)) + 1)
        splits = []
        for members in self.members:
            held = np.bincount(self.group[members], minlength=len(size))
            splits.append(int(((held > 0) & (held < size)).sum()))
        order = sorted((k for k in range(len(self.members)) if splits[k]), key=lambda k: (splits[k], k))
        return [self.members[k] for k in order]

    def pairs(self, part: np.ndarray) -> int:
        """About the pairs of the coarse relaxation with the classes merged by `part`: per
        list, the merged classes it reaches, times its weight."""
        if not len(self._entries):
            return 0
        reached = np.unique(self._list_of * (int(part.max()) + 1) + part[self._entries])
        counts = np.bincount(reached // (int(part.max()) + 1), minlength=len(self.members))
        return int(np.dot(counts, np.array(self.weight, dtype=np.int64)))


def _merges(demand, targeted: set[str]) -> bool:
    """Does `bound.merged_demands` merge the demand's zoned coarse form with others of its
    eligibility and requests (no row of its own: `bound._without_rows_of_its_own`, over the
    rules the zoned coarse problem keeps)?"""
    return (demand.replicas > 0 and demand.group is None and not demand.exclusive
            and not demand.latency and demand.name not in targeted and demand.workload not in targeted
            and all(s.topology not in ZONED_TOPOLOGIES[1:] for s in demand.spreads)
            and not any(r.topology in ZONED_TOPOLOGIES and (r.target != "self" or r.anti)
                        for r in demand.affinities))


# the topologies whose rules the zoned coarse problem keeps (its classes keep zone and region)
ZONED_TOPOLOGIES = ("node", "zone", "region")


def zoned_bound(problem: Problem, objective: str, deadline: float | None = None,
                start: Packing | None = None, max_pairs: int | None = None,
                max_growth: float | None = None) -> tuple[Bound, dict[str, str]]:
    """The pair bound (bound.py) of the zoned coarse problem (its classes kept apart by
    eligibility within about `max_pairs` pairs and `max_growth` times the labels-forgotten
    problem's: `coarsened`), until converged or `deadline`, and per class id of `problem`
    the id of its merged class. `start`: a packing of `problem` whose nodes are the master's
    first columns."""
    coarse, merged_id = coarsened(problem, zoned=True, max_pairs=max_pairs, max_growth=max_growth)
    first = None if start is None else coarse_packing(start, merged_id)
    return lower_bound(coarse, objective, deadline, start=first), merged_id


def widened(classes: dict[str, frozenset[str]], merged_id: dict[str, str]) -> dict[str, frozenset[str]]:
    """Per workload, the classes of the problem in the merged classes `classes` names (by
    the merged ids `coarsened` gives)."""
    members: dict[str, list[str]] = {}
    for class_id, merged in merged_id.items():
        members.setdefault(merged, []).append(class_id)
    return {name: frozenset(c for merged in ids for c in members.get(merged, (merged,)))
            for name, ids in classes.items()}


def in_problem_classes(found: Bound, merged_id: dict[str, str]) -> Bound:
    """The coarse problem's bound with its relaxation's classes read as the problem's: each
    class id of the problem at the column of the merged class `merged_id` gives it, so that
    what reads the LP's last solution by the problem's classes (`gang_quotas.lp_counts`)
    reads this one. Unchanged where there is no relaxation."""
    relaxation = found.relaxation
    if relaxation is None:
        return found
    index = {class_id: relaxation.class_index[merged] for class_id, merged in merged_id.items()
             if merged in relaxation.class_index}
    return dataclasses.replace(found, relaxation=dataclasses.replace(relaxation, class_index=index))


def coarse_packing(packing: Packing, merged_id: dict[str, str]) -> Packing:
    """A packing's nodes under their merged classes (as the coarse problem's first patterns)."""
    nodes: dict[str, list] = {}
    for class_id, opened in packing.nodes.items():
        if class_id in merged_id:
            nodes.setdefault(merged_id[class_id], []).extend(opened)
    return Packing(nodes=nodes)


def coarse_bound(problem: Problem, objective: str, deadline: float | None = None,
                 start: Packing | None = None, max_pairs: int | None = None,
                 counted_seconds: float | None = None) -> PatternBound | None:
    """The pattern bound of the coarse problem (the larger of it and the coarse pair bound),
    until converged or `deadline`; None where the coarse pair relaxation has no bound or more
    than `max_pairs` pairs (its column generation would not converge in time). `start`: a
    packing of `problem` whose nodes are the first patterns. `counted_seconds`: with no user
    limit, the patterns' seconds on their own clock (`patterns.pattern_bound`)."""
    classes, merged_id = _merged_classes(problem)
    lists = _eligible_lists(problem, classes, merged_id)
    if max_pairs is not None and _about_pairs(problem, lists) > max_pairs:
        return None
    coarse = _coarse_problem(problem, classes, lists)
    first = None if start is None else coarse_packing(start, merged_id)
    pair = lower_bound(coarse, objective, deadline, start=first)
    if pair.value is None or pair.relaxation is None:
        return None
    return pattern_bound(pair, objective, deadline, start=first, counted_seconds=counted_seconds)


def suggested_classes(found: PatternBound, problem: Problem) -> dict[str, frozenset[str]]:
    """Per workload, the classes of `problem` in the merged classes the coarse pattern LP's
    last solution (`found.nodes`) puts its merged demand on: a guide for the greedy pass
    (`greedy.Guide.classes`), not a bound."""
    members = {group[0].id: [c.id for c in group] for group in class_groups(problem)}
    on: dict[str, set[str]] = {}  # per workload, the merged classes
    for ids, hosted, nodes in found.nodes or ():
        if nodes <= 1e-6:
            continue
        for names in hosted:
            for name in names:
                on.setdefault(name, set()).update(ids)
    # the classes of each distinct set of merged ones, made once: workloads share them (10,000
    # workloads each on merged classes of ~100 one-node pools: 0.9 CPU s as a set per workload,
    # many_workloads 10,000 / 1,500, session 56)
    made: dict[frozenset[str], frozenset[str]] = {}
    suggested: dict[str, frozenset[str]] = {}
    for name, merged in on.items():
        key = frozenset(merged)
        if key not in made:
            made[key] = frozenset(c for m in key for c in members.get(m, ()))
        suggested[name] = made[key]
    return suggested
