"""Spreads over an option workload's options that no deal of `option_deal` holds, held by
exact counts per cell: each option's demand split into parts, one per cell it runs in.

`option_deal` gives each option its domains and lets the option's own spread put its replicas
evenly over them: it cannot ask one option for more in one of its domains than in another.
`bench/option_spreads.py` seed 248 needs that: `chat` (6 replicas on G80 or on G24) under
`spread zone max_skew 1` and `spread region max_skew 1`, G24 only in z1, G80 in z2 and z3, z1
and z2 in r1, z3 alone in r2; zones within 1 and regions within 1 hold only with the odd
replica in z3 (2 + 2 + 3: regions 4 and 3), so G80 runs 2 in z2 and 3 in z3 (E0508 before).

A *cell* is a combination of the spreads' domains (zone z3 in region r2); every domain's
count is the sum of its cells'. Each cell goes to one option (the cheapest there per unit of
throughput), and a small search (`_counted`) picks a count per cell, the cheapest whose
domain sums hold every max_skew (a domain of no cell counts 0) and deliver the throughput.
Each option then runs one plain demand per cell with its count, on its classes there, no
spread over options left (its counts hold them): every placement holds the spreads as
written. The first part keeps the option's name, the others are named `NAME~i`; `merged`
gives their replicas back to the option.

A latency rule of the workload is held by the counts too (the cells all in reach run at least
its replicas, `option_latency`), and each option's count is at most its replicas. With work
running (`fitc plan`), an option's replicas running in a cell count as its part's there
(`running`); elsewhere as its first part's, which must move them. Not tried for a gang (its
replicas on one cluster: the parts would be gangs of their own), nor where a rule names the
workload (but one follower on node, `option_hosts`) or its options carry one that counts
their replicas together (`anti_affinity self` over zones): those keep E0508. An affinity
towards another workload, and one a node, each part holds as the option would; a spread over
nodes too, each cell leaving one of its nodes empty. Another workload's anti-affinity towards
an option is repeated towards each of its parts (`anti_affinity_per_part`).

The cheapest counts are priced without the other workloads, which may pay more beside them:
`split`'s `rank` gives the counts next to the cheapest (`RANKED`), then the cheapest with every
option in every cell (a cell's classes may lie in zones another workload's spread needs each
of), which `option_spread.cheapest_narrowing` solves too.
"""

from __future__ import annotations

import dataclasses
import functools
from collections import Counter
from collections.abc import Callable
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.check.program import SpreadRule
from fitlang.model.problem import Demand, OptionGroup, Problem
from fitlang.rules import option_follow, option_hosts, option_latency
from fitlang.rules.option_spread import domains, node_fit, rate, room

if TYPE_CHECKING:  # the solver's types: a rule module imports nothing of fitlang.solve
    from fitlang.solve.placement_result import Placement

# the search's steps over all counts (cells x counts): past it, no split
MAX_STEPS = 20_000
# the counts kept per search for `split`'s `rank`: the cheapest and the next seven (3 left
# `--rules` 2227 at 6.00, its optimum 5.80 is rank 7; 8 cost 0.15-0.6 CPU s more a policy
# and changed no other seed of 2101-2300, 1901-2100)
RANKED = 8
SEPARATOR = option_hosts.SEPARATOR
UNLIMITED = 1 << 30  # the skew of a topology only the follower's spread names (its cells, `option_hosts`)


@dataclasses.dataclass(frozen=True)
class Part:
    """One cell of one option: its replicas there and the option's classes in it."""
    option: str
    replicas: int
    classes: list[str]


def split(problem: Problem, group: OptionGroup, members: list[Demand],
          spreads: list[SpreadRule], rank: int = 0) -> list[Part] | None:
    """The parts of the module docstring, or None where not tried or no counts hold; with
    `rank` r, the counts r-th after the cheapest (`RANKED` of one option per cell, then as
    many of every option in every cell), None past the last found."""
    follower = option_hosts.hosted(problem, group)
    near = option_follow.by_domain(problem, group)
    if group.gang or _ruled(problem, group, members, [follower, *near]):
        return None
    near_topologies = [option_follow.topologies(problem, d, group) for d in near]
    topologies = list(dict.fromkeys([*(s.topology for s in spreads), *option_hosts.topologies(follower),
                                     *(t for mine in near_topologies for t in mine)]))
    covers = [(d, [topologies.index(t) for t in mine]) for d, mine in zip(near, near_topologies, strict=True)]
    limits = {t: min((s.max_skew for s in spreads if s.topology == t), default=UNLIMITED) for t in topologies}
    cells: dict[tuple[str, ...], dict[str, list[str]]] = {}  # cell -> option -> its classes there
    for demand in members:
        for cell, class_ids in _cells_of(problem, demand, topologies).items():
            cells.setdefault(cell, {})[demand.name] = class_ids
    by_name = {d.name: d for d in members}
    order = sorted(cells)
    every = [{v for d in members for v in domains(problem, d, t)} for t in topologies]
    # each cell's option: the cheapest per unit of throughput, else the one that delivers most
    # a replica (where the cheapest cells cannot deliver the throughput within the skews)
    def cheapest(cell: tuple[str, ...], name: str) -> Fraction:
        return rate(problem, by_name[name], cells[cell][name])

    def most(cell: tuple[str, ...], name: str) -> Fraction:
        return -by_name[name].throughput

    # (or the cheapest node per unit of throughput: one replica takes a node of its own where
    # few run there, `--rules` seed 1086's one G80 replica at 3.00 beside G24's nodes at 4.00)
    def a_node_each(cell: tuple[str, ...], name: str) -> Fraction:
        return min(problem.node_class(c).price for c in cells[cell][name]) / by_name[name].throughput

    found: list[tuple[Fraction, int, list[Part]]] = []
    for index, key in enumerate((cheapest, most, a_node_each)):
        owners = {cell: min(sorted(cells[cell]), key=functools.partial(key, cell)) for cell in order}
        owned, classes = [by_name[owners[c]] for c in order], [cells[c][owners[c]] for c in order]
        ranked: list[tuple[Fraction, list[int]]] = []
        _counted_beside(problem, follower, owned, classes, order, list(limits.values()), every,
                        group.required, (covers, topologies), ranked)
        found += [(cost, index, _parts(owned, classes, counts)) for cost, counts in ranked]
    # then every option in every cell: where no one option per cell holds (`--rules` seed 1339,
    # G24's 2 and G80's 1 in r1), and after the RANKED cheapest of those above where one does
    # (`--rules` 2210: region r1 to G80, its cheapest nodes in z2, left `web`'s 2 in z1 a node
    # of G80 at 4.00 beside one replica, 12.00; G24's 1 there at 3.00, the optimum 11.00; so
    # 1915, 2001, 2075)
    owned, classes, order = _every_option(problem, members, topologies)
    ranked = []
    _counted_beside(problem, follower, owned, classes, order, list(limits.values()), every,
                    group.required, (covers, topologies), ranked)
    mixed = [_parts(owned, classes, counts) for _, counts in ranked]
    kept = _distinct([parts for _, _, parts in sorted(found, key=lambda item: item[:2])])[:RANKED]
    kept = _distinct([*kept, *mixed])
    return kept[rank] if rank < len(kept) else None


def _distinct(candidates: list[list[Part]]) -> list[list[Part]]:
    """The candidates in order, the same counts found twice kept once."""
    distinct: dict[tuple, list[Part]] = {}
    for parts in candidates:
        distinct.setdefault(tuple(sorted((p.option, p.replicas, tuple(p.classes)) for p in parts)), parts)
    return list(distinct.values())


def _parts(owned: list[Demand], classes: list[list[str]], counts: list[int]) -> list[Part]:
    """A part per cell given a count."""
    return [Part(owner.name, count, mine) for owner, mine, count in zip(owned, classes, counts, strict=True)
            if count]


def _counted_beside(problem: Problem, follower: Demand | None, owned: list[Demand], classes: list[list[str]],
                    cells: list[tuple[str, ...]], limits: list[int], every: list[set[str]],
                    required: Fraction, near: tuple[list[tuple[Demand, list[int]]], list[str]],
                    ranked: list[tuple[Fraction, list[int]]] | None = None
                    ) -> tuple[Fraction, list[int]] | None:
    """`_counted` for a split: the latency rules' cells in reach, a follower on node hosted
    beside the counts (`option_hosts`), the followers by domain held in the domains of the
    cells given a count (`near`: each with its rules' topologies' positions in the cells, and
    the topologies; `option_follow.covered`), a node left empty in a cell spread over nodes."""
    hosts = None if follower is None else functools.partial(option_hosts.fitted, problem, follower,
                                                              owned, classes)
    each = None if follower is None else [option_hosts.each_beside(problem, follower, owner, mine)
                                          for owner, mine in zip(owned, classes, strict=True)]
    covers = None if not near[0] else functools.partial(option_follow.covered, problem, near[0], cells,
                                                         near[1])
    return _counted(problem, owned, classes, cells, limits, every, required,
                    reach=option_latency.reached(problem, owned, classes), hosts=hosts,
                    one_empty=True, hosted_each=each, covers=covers, ranked=ranked)


def _every_option(problem: Problem, members: list[Demand],
                  topologies: list[str]) -> tuple[list[Demand], list[list[str]], list[tuple[str, ...]]]:
    """Every option in every cell it may use (its classes there split where they differ in
    reach of a latency rule): the owners, their classes, their cells."""
    owners, classes, cells = [], [], []
    for demand in members:
        for cell, class_ids in _cells_of(problem, demand, topologies).items():
            by_reach: dict[tuple[bool, ...], list[str]] = {}
            for class_id in class_ids:
                reached = tuple(option_latency.in_reach(problem, demand, [class_id]))
                by_reach.setdefault(reached, []).append(class_id)
            for kept in by_reach.values():
                owners.append(demand)
                classes.append(kept)
                cells.append(cell)
    return owners, classes, cells


def priced(problem: Problem, parts: list[Part]) -> Fraction:
    """What the parts pay at the least a replica costs on each one's classes (packed, as
    `option_latency.priced` prices the shares it is weighed against)."""
    return sum((part.replicas * rate(problem, problem.demand(part.option), part.classes)
                * problem.demand(part.option).throughput for part in parts), Fraction(0))


def alone_holds(problem: Problem, members: list[Demand], alone: Demand, spreads: list[SpreadRule]) -> bool:
    """Can `alone` run every replica under the spreads as written (each domain of any option
    counted)? Not always where it reaches every domain: `bench/option_spreads.py` seed 609,
    G24's 12 replicas under `spread zone max_skew 1` and `spread region max_skew 3` (z1, z2 in
    r1, z3 in r2) hold zones within 1 only as 4 + 4 + 4, regions 8 and 4; run so, it left the
    workload out (`unknown`) where G80 in z3 beside G24 in z1 and z2 places it."""
    topologies = list(dict.fromkeys(s.topology for s in spreads))
    limits = [min(s.max_skew for s in spreads if s.topology == t) for t in topologies]
    cells = _cells_of(problem, alone, topologies)
    order = sorted(cells)
    every = [{v for d in members for v in domains(problem, d, t)} for t in topologies]
    return _counted(problem, [alone] * len(order), [cells[c] for c in order], order, limits, every,
                    alone.replicas * alone.throughput, exact=alone.replicas) is not None


def own_spreads_hold(problem: Problem, demand: Demand, classes: list[str], replicas: int,
                     skews: dict[str, int]) -> bool:
    """Can `replicas` of `demand` on `classes` hold a spread of their own per topology of
    `skews` (over those classes' domains) all at once? Not always where each alone can: in
    `bench/option_spreads.py` seed 670 `option_deal`'s windows gave G24 alone 12 replicas over
    z1, z2 (r1) and z3 (r2) with `spread zone max_skew 1` and `spread region max_skew 1` of its
    own: zones 4 + 4 + 4 make regions 8 and 4, and the workload was left out (`unknown`) where
    the reference places it. True where the search runs out of steps (not known)."""
    found, steps = _own_counts(problem, demand, classes, replicas, skews)
    return found is not None or steps < 0


def share_priced(problem: Problem, demand: Demand, classes: list[str], replicas: int,
                 skews: dict[str, int]) -> Fraction | None:
    """What `replicas` of `demand` on `classes` pay on whole nodes at the cheapest counts per
    cell that hold its own spreads (`skews`), as `_counted` prices a split's; None where none
    is found."""
    found, _ = _own_counts(problem, demand, classes, replicas, skews)
    return None if found is None else found[0]


def _own_counts(problem: Problem, demand: Demand, classes: list[str], replicas: int,
                skews: dict[str, int]) -> tuple[tuple[Fraction, list[int]] | None, int]:
    """`_counted` for one option alone on `classes` under spreads of its own (`skews`), and
    the steps it left (below 0: it ran out)."""
    topologies = list(skews)
    cells = {cell: mine for cell, class_ids in _cells_of(problem, demand, topologies).items()
             if (mine := [c for c in class_ids if c in classes])}
    order = sorted(cells)
    every = [{cell[i] for cell in order} for i in range(len(topologies))]
    steps = [MAX_STEPS]
    found = _counted(problem, [demand] * len(order), [cells[c] for c in order], order,
                     [skews[t] for t in topologies], every, replicas * demand.throughput, exact=replicas,
                     steps=steps)
    return found, steps[0]


def on_nodes_priced(problem: Problem, parts: list[Part]) -> Fraction:
    """What the parts pay on whole nodes (`_on_nodes`), as `_counted` prices them."""
    return sum((_on_nodes(problem, problem.demand(part.option), part.classes, part.replicas)[part.replicas][0]
                for part in parts), Fraction(0))


# the steps the proof that no counts exist may take (`none_hold`: it runs before every solve)
PROOF_STEPS = 5_000


def none_hold(problem: Problem, group: OptionGroup, members: list[Demand], spreads: list[SpreadRule]) -> bool:
    """Do no counts per cell and option hold the spreads over options, the latency rules and
    each option's replicas while they deliver the throughput? Then no placement exists: the
    search (`_counted`) runs over every option in every cell (a cell split where its classes
    differ in reach), a relaxation of the policy (nodes shared with other workloads, a gang's
    one option, spreads over nodes: not asked). `--rules` seed 956: zones and regions within
    1 (z1, z2 in r1; z3 in r2) with 3 replicas in r1 ask 2 in z3 and 1 + 2 in z1 and z2, 3 or
    4 of G80 (z2, z3), which runs 2 at most. False where not known: an option may use offers
    (domains it could buy nodes in) or a class without a domain, or the search ran out of
    steps."""
    topologies = list(dict.fromkeys(s.topology for s in spreads))
    mine = [problem.node_class(c) for d in members for c in d.eligible]
    if not topologies or any(c.provisioned or (c.count and None in (c.topology_value(t) for t in topologies))
                             for c in mine):
        return False
    owners, classes, cells = _every_option(problem, members, topologies)
    limits = [min(s.max_skew for s in spreads if s.topology == t) for t in topologies]
    every = [{v for d in members for v in domains(problem, d, t)} for t in topologies]
    steps = [PROOF_STEPS]
    found = _counted(problem, owners, classes, cells, limits, every, group.required, steps=steps,
                     reach=option_latency.reached(problem, owners, classes))
    return found is None and steps[0] >= 0


def _cells_of(problem: Problem, demand: Demand, topologies: list[str]) -> dict[tuple[str, ...], list[str]]:
    """Cell (its domain in each topology) -> the classes of nodes the fleet has (not offers)
    `demand` may use there, those with a value in every topology."""
    cells: dict[tuple[str, ...], list[str]] = {}
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        values = tuple(node_class.topology_value(t) for t in topologies)
        if not node_class.provisioned and node_class.count > 0 and None not in values:
            cells.setdefault(values, []).append(class_id)  # type: ignore[arg-type]
    return cells


def _ruled(problem: Problem, group: OptionGroup, members: list[Demand], taken: list[Demand | None]) -> bool:
    """Does a rule count the workload's replicas other than its spreads over options (which
    the parts' counts hold), its latency (`option_latency`, in the counts), the affinity on
    node of the follower the counts host (`option_hosts`) and the affinities over domains of
    the followers they cover (`option_follow.by_domain`; `taken`)? Not a rule each replica holds on its
    own (an affinity towards another workload; one a node, as a node has one accelerator
    model and each class one part), nor a spread over nodes, which each part keeps: its cell
    leaves one of its nodes empty (`_counted`'s `one_empty`), so each part and the option
    count from 0 and each holds at most max_skew a node (`--rules` seed 771), nor another
    workload's anti-affinity towards an option, repeated towards each of its parts
    (`anti_affinity_per_part`)."""
    names = {group.workload, *group.demands}
    towards = any(r.target in names and not (r.anti and r.target in group.demands)
                  for d in problem.demands if all(d is not t for t in taken) for r in d.affinities)
    own = any(any(r.target == "self" and r.topology != "node" for r in d.affinities) for d in members)
    return towards or own


def _counted(problem: Problem, owners: list[Demand], classes: list[list[str]], cells: list[tuple[str, ...]],
             limits: list[int], every: list[set[str]], required: Fraction,
             exact: int | None = None, steps: list[int] | None = None,
             reach: list[tuple[list[bool], int]] | None = None,
             hosts: Callable[[list[int]], list[int] | None] | None = None,
             one_empty: bool = False,
             hosted_each: list[int] | None = None,
             covers: Callable[[list[int]], bool] | None = None,
             ranked: list[tuple[Fraction, list[int]]] | None = None) -> tuple[Fraction, list[int]] | None:
    """The cheapest count per cell (each at most what its owner's classes there hold, each
    option's at most its replicas) whose domains (`every`, per topology: a domain of no cell
    counts 0) hold every max_skew (`limits`, per topology), which run in the cells in reach
    at least each latency rule's replicas (`reach`: the cells in reach, the replicas), beside
    which a follower on node fits (`hosts`: its counts, None where it does not), with
    `one_empty` leaving a node empty in each cell whose owner spreads over nodes, whose cells
    given a count hold the followers by domain (`covers`), and which delivers `required`
    (with `exact`: in exactly that many replicas), by depth-first search; with what it pays,
    each cell's count on whole nodes (`_on_nodes`), more nodes where the follower's replicas
    there need them (`hosted_each`: what fits beside one of the owner's, `_hosting`); None
    where none does within MAX_STEPS (`steps`: the steps left, below 0 where they ran out).
    With `ranked`, the RANKED cheapest counts found are added to it, the cheapest first."""
    highs = [room(problem, owner, mine) for owner, mine in zip(owners, classes, strict=True)]
    enough = [int(required / owner.throughput) + 1 for owner in owners]  # more alone is only dearer
    highs = [min(high, most) for high, most in zip(highs, enough, strict=True)]
    paid = [_on_nodes(problem, owner, mine, high)
            for owner, mine, high in zip(owners, classes, highs, strict=True)]
    if one_empty:  # (a cell of an owner with a spread over nodes leaves one of its nodes empty)
        highs = [min(high, sum(problem.node_class(c).count for c in mine) - 1)
                 if any(s.topology == "node" for s in owner.spreads) else high
                 for high, owner, mine in zip(highs, owners, classes, strict=True)]
    kept: list[tuple[Fraction, list[int]]] = []  # the cheapest counts found, the cheapest first
    keep = 1 if ranked is None else RANKED
    steps = [MAX_STEPS] if steps is None else steps
    counts: list[int] = []

    def holds() -> bool:
        per_option: Counter[str] = Counter()
        for owner, count in zip(owners, counts, strict=True):
            per_option[owner.name] += count
        if any(per_option[owner.name] > owner.replicas for owner in owners):
            return False
        if any(sum(c for c, inside in zip(counts, cells_in, strict=True) if inside) < needed
               for cells_in, needed in reach or []):
            return False
        for position, limit in enumerate(limits):
            sums = dict.fromkeys(every[position], 0)
            for cell, count in zip(cells, counts, strict=True):
                sums[cell[position]] = sums.get(cell[position], 0) + count
            if max(sums.values()) - min(sums.values()) > limit:
                return False
        return covers is None or covers(counts)

    def search(at: int, cost: Fraction, delivered: Fraction) -> bool:
        steps[0] -= 1
        if steps[0] < 0:
            return False
        if len(kept) == keep and cost >= kept[-1][0]:
            return True
        if at == len(cells):
            if delivered >= required and (exact is None or sum(counts) == exact) and holds():
                hosted = None if hosts is None else hosts(counts)
                if hosts is None or hosted is not None:
                    cost += _hosting(problem, classes, paid, counts, hosted, hosted_each)
                    if len(kept) < keep or cost < kept[-1][0]:  # (after those it ties: found first)
                        at_or_below = sum(1 for paid_before, _ in kept if paid_before <= cost)
                        kept.insert(at_or_below, (cost, list(counts)))
                        del kept[keep:]
            return True
        for count in range(highs[at] + 1):
            counts.append(count)
            going = search(at + 1, cost + paid[at][count][0], delivered + count * owners[at].throughput)
            counts.pop()
            if not going:
                return False
        return True

    if not cells or not search(0, Fraction(0), Fraction(0)) or not kept:
        return None
    if ranked is not None:
        ranked += kept
    return kept[0]


def _on_nodes(problem: Problem, owner: Demand, classes: list[str], most: int) -> list[tuple[Fraction, int]]:
    """Per count up to `most`: what that many replicas of `owner` pay on whole nodes of these
    classes (the cheapest a replica first) and the nodes they take. A part's replicas packed
    at a replica's rate cost alike one a node or two (`--rules` seed 1066: G24's 3 replicas
    on 3 nodes where 2 of G80 share one at the same rate, 26 against the optimum 24). A spread
    over nodes holds at most its max_skew a node (a node of its classes left empty: `_counted`'s
    `one_empty`): `--rules` seed 1942 priced G24's 3 at 1.00 on 2 nodes of 2 GPUs, where one a
    node they take 3, and ran chat 2 / 3 / 2 over z1 / z2 / z3 (9.00) for 3 / 3 / 1 (8.00)."""
    most_a_node = min((s.max_skew for s in owner.spreads if s.topology == "node"), default=None)
    kinds = sorted(((problem.node_class(c).price, min(fit, most_a_node or fit), problem.node_class(c).count)
                    for c in classes if (fit := node_fit(problem.node_class(c), owner))),
                   key=lambda k: (k[0] / k[1], k[0]))
    paid = []
    for count in range(most + 1):
        left, cost, nodes = count, Fraction(0), 0
        for price, fit, available in kinds:
            taken = min(available, -(-left // fit))
            cost, nodes, left = cost + taken * price, nodes + taken, left - taken * fit
            if left <= 0:
                break
        paid.append((cost, nodes))
    return paid


def _hosting(problem: Problem, classes: list[list[str]], paid: list[list[tuple[Fraction, int]]],
             counts: list[int], hosted: list[int] | None, each: list[int] | None) -> Fraction:
    """What the nodes the follower's replicas need beside a cell's (`hosted`, what fits beside
    one `each`) add past those its count takes, at the cell's cheapest node: a replica of the
    owner hosting them takes a node of its own (`option_hosts.room`)."""
    if hosted is None or each is None:
        return Fraction(0)
    extra = Fraction(0)
    for mine, table, count, beside, fits in zip(classes, paid, counts, hosted, each, strict=True):
        if beside and fits:
            more = min(count, -(-beside // fits)) - table[count][1]
            extra += max(0, more) * min(problem.node_class(c).price for c in mine)
    return extra


def part_demands(demand: Demand, parts: list[Part]) -> list[Demand]:
    """`demand` (an option) as a plain demand per part of it (none: no replicas, no classes),
    its spreads over options and its latency rules dropped: the parts' counts hold them."""
    mine = [p for p in parts if p.option == demand.name] or [Part(demand.name, 0, [])]
    spreads = [s for s in demand.spreads if s.topology == "node"]
    return [dataclasses.replace(demand, name=name, replicas=part.replicas, eligible=part.classes, group=None,
                                option=None, throughput=Fraction(1), spreads=spreads, latency=[])
            for name, part in zip(part_names(mine), mine, strict=True)]


def anti_affinity_per_part(demands: list[Demand], parts: dict[str, str]) -> list[Demand]:
    """`demands` with each anti-affinity towards a demand split into parts (`parts`: part ->
    the demand's name; its first part keeps the name) repeated towards each other part: away
    from every part is away from the demand as written. `--rules` seed 2065: `anti_affinity
    chat on node` from web kept the split out (chat's G24 alone, 11.20), where G80's 3 in z1
    beside G24's 3 in z3 pay the optimum 8.20."""
    towards: dict[str, list[str]] = {}
    for part, whole in parts.items():
        towards.setdefault(whole, []).append(part)
    kept = []
    for demand in demands:
        more = [dataclasses.replace(rule, target=part) for rule in demand.affinities
                if rule.anti and rule.target in towards for part in towards[rule.target]]
        kept.append(dataclasses.replace(demand, affinities=[*demand.affinities, *more]) if more else demand)
    return kept


def part_names(parts: list[Part]) -> list[str]:
    """Each part's demand: its option's name for the option's first part, then `NAME~i`."""
    seen: Counter[str] = Counter()
    names = []
    for part in parts:
        names.append(part.option if not seen[part.option] else f"{part.option}{SEPARATOR}{seen[part.option]}")
        seen[part.option] += 1
    return names


def merged(narrowed: Problem, placement: Placement, parts: dict[str, str]) -> Placement:
    """`placement` of the narrowed problem with each part's replicas given back to its option
    (`parts`: part -> option), numbered on from the parts before it."""
    if not parts:
        return placement
    offset: dict[str, int] = {}
    taken: dict[str, int] = {}
    for demand in narrowed.demands:  # (an option's parts in order, the first named as it)
        option = parts.get(demand.name, demand.name)
        offset[demand.name] = taken.get(option, 0)
        taken[option] = offset[demand.name] + demand.replicas
    placement.assignments = [dataclasses.replace(a, workload=parts.get(a.workload, a.workload),
                                                 replica=offset[a.workload] + a.replica)
                             for a in placement.assignments]
    placement.unplaced = [dataclasses.replace(u, workload=parts.get(u.workload, u.workload),
                                              replica=offset[u.workload] + u.replica)
                          for u in placement.unplaced]
    return placement


def running(problem: Problem, parts: dict[str, str], demands: list[Demand]) -> dict:
    """`problem`'s state of running work (`running`, `running_elsewhere`, `pinned`) with each
    option's replicas on a node counted as its part's whose classes hold the node (else the
    first part's: the option's name); as it was where no option is split."""
    if not parts or not (problem.running or problem.running_elsewhere):
        return {}
    part_of: dict[tuple[str, str], str] = {}  # (option, class id) -> its part there
    for demand in demands:
        for class_id in demand.eligible:
            part_of.setdefault((parts.get(demand.name, demand.name), class_id), demand.name)
    owners = problem.owners()
    moved: dict[str, dict[str, int]] = {}
    for name, on in problem.running.items():
        for node, amount in on.items():
            found = owners.find(node)
            part = part_of.get((name, found[0].id), name) if found is not None else name
            moved.setdefault(part, {})[node] = moved.get(part, {}).get(node, 0) + amount
    pinned = problem.pinned | {part for part, option in parts.items() if option in problem.pinned}
    return {"running": moved, "pinned": frozenset(pinned)}
