"""`spread T max_skew K` (T a zone, region or label) of a workload with accelerator options:
counted over the replicas of every option together, per domain of T among the nodes any
option may use (as Kubernetes counts the pods its `labelSelector` on the workload's name
selects). Each option's demand carries the spread (in the same place of `Demand.spreads`: explain
drops it from every option at once); the spread rule (`rules/spread.py`) calls this module for
such spreads: its rows (`group_rows`) and its check (`check_groups`).

Only the exact per-node model holds it as written: the fleet-scale stages balance each demand's
own domains. A policy with one is solved node by node up to `MAX_NODES` nodes
(`solve/placement.solve`, explain's checks). Above, it is solved narrowed (`narrowed`) to
spreads the fleet stages hold, each option on its own, whose sum holds the spread as written:

- where one option may run in every domain with nodes of any option, the workload may run on
  that option alone, spread as written (its domains are the sum's);
- or (where none may, or where this is priced cheaper) each domain is given to one option
  (the cheapest there per unit of throughput) and a quota of replicas, m or m + 1 for one m;
  each option runs its quotas' sum on its own domains with `max_skew 1`, so it puts m or
  m + 1 in each: the sum does too (max_skew is >= 1). Offers are left out: a domain with
  nodes only where bought counts only then.

Every placement of the narrowed policy holds the rule (the answer is checked again here,
`_short_left_out`, and verified as ever), but the narrowed policy may cost more: no bound is
stated and no proof claimed unless it is the policy (only one option may run at all). A gang
(which runs on one option) where none reaches every domain, and several such spreads of one
workload where none does, are dealt in blocks with windows (`option_deal`); what no deal
holds, and a horizon, is refused when it is built (E0508, `refused`)."""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Callable, Container, Iterable, Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.check.program import SpreadRule
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Demand, NodeClass, OptionGroup, Problem
from fitlang.rules.base import Placed, spread_least

if TYPE_CHECKING:  # the solver's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.solve.encode import Encoding
    from fitlang.solve.pack import Packing
    from fitlang.solve.placement_result import Placement

# the fleets the per-node model is asked to solve with such a spread (`solve/placement.py`'s
# EXACT_MAX_NODES: tests/test_solve.py checks the two agree)
MAX_NODES = 48


def over_options(demand: Demand, spread: SpreadRule) -> bool:
    """Is this spread of `demand` counted over every option of its workload?"""
    return demand.group is not None and spread.topology != "node"


def in_problem(problem: Problem) -> bool:
    """Has any workload of the problem a spread counted over its options?"""
    return any(over_options(d, s) for d in problem.demands for s in d.spreads)


def refused(problem: Problem, demand: Demand) -> str | None:
    """Why the spreads over the options of `demand`'s workload cannot be held (E0508), or
    None: a horizon (the time-indexed model counts each option apart), or a fleet the per-node
    model is not asked to solve where they cannot be narrowed (`_shares`)."""
    if problem.timeline is not None:
        return "the policy has a horizon, whose time model takes neither spreads nor options (E0906)"
    nodes = sum(c.count for c in problem.classes)
    if nodes <= MAX_NODES:
        return None
    from fitlang.solve.gang_room import gangs_short_of_options

    if demand in gangs_short_of_options(problem):  # (a gang none of its options runs: the solve proves it)
        return None
    group = next(g for g in problem.option_groups if g.workload == demand.group)
    members = [problem.demand(name) for name in group.demands]
    spreads = [s for s in members[0].spreads if over_options(members[0], s)]
    if _shares(problem, group, members, spreads) is not None:
        return None
    from fitlang.rules import option_split
    from fitlang.rules.option_deal import refusal

    if option_split.split(problem, group, members, spreads) is not None:
        return None

    return f"the fleet has {nodes} nodes, over {MAX_NODES}; " + refusal(problem, group, members, spreads)


def _members(problem: Problem) -> Iterator[list[Demand]]:
    """The demands of each option workload with such a spread."""
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        if any(over_options(members[0], s) for s in members[0].spreads):
            yield members


def check_groups(placed: Placed) -> Iterator[Diagnostic]:
    """Per domain of the nodes any option may use (those with nodes in the placement), the
    replicas of every option there, summed; the sums differ by at most max_skew."""
    owner = placed.owner
    for members in _members(placed.problem):
        for spread in members[0].spreads:
            if not over_options(members[0], spread):
                continue
            counts = _sums(placed.problem, members, spread.topology, placed.nodes_of,
                           ((owner[node], amount) for demand in members
                            for node, amount in placed.placed_on.get(demand.name, {}).items()))
            least = spread_least(counts.values(), len(counts), spread.min_domains)
            if counts and max(counts.values()) - least > spread.max_skew:
                yield placed.violation(
                    f"`{members[0].workload}` is spread {least}..{max(counts.values())} "
                    f"per {spread.topology} over its options; max_skew is {spread.max_skew}"
                    + ("" if len(counts) >= spread.min_domains else
                       f" ({len(counts)} domain(s), fewer than min_domains {spread.min_domains})"),
                    spread.origin)


def _sums(problem: Problem, members: list[Demand], topology: str, with_nodes: Container[str],
          placed: Iterable[tuple[NodeClass, int]]) -> Counter:
    """Domain -> the replicas `placed` (each with its node's class) there, over the domains of
    the classes any option may use that have nodes (`with_nodes`): a domain without replicas
    counts 0."""
    counts: Counter = Counter({value: 0 for d in members for c in d.eligible if c in with_nodes
                               if (value := problem.node_class(c).topology_value(topology)) is not None})
    for node_class, amount in placed:
        value = node_class.topology_value(topology)
        if value is not None:
            counts[value] += amount
    return counts


def group_rows(encoding: Encoding, first: Demand) -> None:
    """Where `first` is the first option of its workload: per domain d, least <= sum over
    options o and their classes c in d of y[o,c] <= least + max_skew, over the domains of every
    option's eligible classes; a domain of offers only counts where nodes are bought
    (`spread._domain_exists`). The rows' group is the first option's `SpreadGroup`, which
    explain reads as the workload's spread."""
    from fitlang.rules.spread import SpreadGroup, SpreadLeast, domain_rows

    if not any(over_options(first, s) for s in first.spreads):
        return
    for members in _members(encoding.problem):
        if members[0].name != first.name:
            continue
        replicas = sum(d.replicas for d in members)
        for index, spread in enumerate(first.spreads):
            if not over_options(first, spread):
                continue
            domains: dict[str, list[tuple[str, str]]] = {}
            for demand in members:
                for value, class_ids in encoding.domains(demand, spread.topology).items():
                    domains.setdefault(value, []).extend((demand.name, c) for c in class_ids)
            if len(domains) < 2 and spread.min_domains <= 1:
                continue
            least = encoding.column(SpreadLeast(first.name, index), f"min[{first.workload},{index}]",
                                    0, replicas)
            domain_rows(encoding, domains, least, replicas, spread, SpreadGroup(first.name, index),
                        f"{first.workload},{spread.topology}", first.name)


# ---- fleet scale: narrowed to spreads each option holds on its own -----------------------

@dataclasses.dataclass(frozen=True)
class Share:
    """What one option of a narrowed workload runs: its replicas, the classes it may use, and
    per topology the max_skew of its own spread in place of the spread over options (a
    topology not named: as written)."""
    replicas: int
    classes: list[str]
    skews: dict[str, int] = dataclasses.field(default_factory=dict)


# the narrowed problem; whether it is the policy itself; the demands of an option split into
# parts (`option_split`) beyond its first, which keeps its name -> the option's name
Narrowed = tuple[Problem, bool, dict[str, str]]


# what `narrowed` is asked to choose where both the shares and `option_split`'s parts hold:
# None as it prices them; "split" the parts, "shares" the shares (`cheapest_narrowing`)
Choice = str | None


def narrowed(problem: Problem, alone_first: bool = False, choice: Choice = None,
             rank: int = 0, only: str | None = None) -> Narrowed | None:
    """The problem with each option workload under spreads over its options made plain demands,
    one per option (named as before: the placement is the policy's), whose own spreads hold
    the spreads as written (the module's doc); affinities towards the workload follow its
    option with the most replicas (stricter). Where no share holds them, each option split
    into a demand per cell with its count (`option_split`); so too where the shares cannot
    meet a latency rule of the workload (`option_latency`: the counts hold it, or each share
    keeps it). And whether it is the same problem: one option only may run. None where a
    workload cannot be narrowed so. With `alone_first`, a workload under one spread runs on
    the one option that reaches every domain where one does (`retried_alone`); with `choice`,
    the parts or the shares wherever both hold (`cheapest_narrowing`), the parts of the counts
    `rank`-th after the cheapest with "split" (`option_split.split`'s); with `only` (an
    option's demand), its workload on that option alone where it reaches every domain."""
    from fitlang.rules import option_hosts, option_latency, option_split

    shares: dict[str, Share] = {}
    parts: dict[str, list[option_split.Part]] = {}  # option group -> its parts
    hosted: dict[str, list[Demand]] = {}  # a follower on node split beside the parts -> its parts
    followed: dict[str, str] = {}
    reached: set[str] = set()  # workloads whose shares' counts hold their latency rules
    kept, same = [], True
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        spreads = [s for s in members[0].spreads if over_options(members[0], s)]
        if not spreads:
            kept.append(group)
            continue
        alone = only if only in group.demands else None
        found = _shares(problem, group, members, spreads, alone_first, alone)
        counts = {} if found is None else {name: (s.replicas, s.classes) for name, s in found.items()}
        latency_held = found is not None and option_latency.held(problem, members, counts)
        follower = option_hosts.hosted(problem, group)
        skews = {} if found is None else {name: own_skews(share, spreads) for name, share in found.items()}
        split = _split_instead(problem, group, members, spreads, counts if found is not None else None,
                               latency_held, follower, skews, priced=not alone_first,
                               choice="shares" if alone else choice, rank=rank)
        if split is None and found is None:
            return None
        if split is not None:
            parts[group.workload], same = split, False
            if follower is not None:
                hosted[follower.name] = _beside_parts(problem, follower, group, split)
            continue
        assert found is not None
        if latency_held:
            reached.add(group.workload)
        shares.update(found)
        followed[group.workload] = max(members, key=lambda d: found[d.name].replicas).name
        same &= sum(1 for d in members if d.eligible) == 1 and \
            all(not share.skews and share.classes == list(d.eligible)  # as written
                for d in members if (share := found[d.name]).replicas)
    if not shares and not parts:
        return None
    demands = [part for d in problem.demands for part in (
        option_split.part_demands(d, parts[d.group]) if d.group in parts
        else hosted[d.name] if d.name in hosted
        else [option_latency.without(narrowed) if d.group in reached else narrowed
              for narrowed in [_narrowed_demand(d, shares.get(d.name), followed)]])]
    demands, same = _followers_kept(problem, demands, same)
    before = {d.name for d in problem.demands}
    named = {d.name: d.name.split(option_split.SEPARATOR)[0] for d in demands if d.name not in before}
    demands = option_split.anti_affinity_per_part(demands, named)
    state = option_split.running(problem, named, demands)  # (`fitc plan`: what runs, by part)
    return problem.with_demands(demands, option_groups=kept, **state), same, named


def _split_instead(problem: Problem, group: OptionGroup, members: list[Demand], spreads: list[SpreadRule],
                   counts: dict[str, tuple[int, list[str]]] | None, latency_held: bool,
                   follower: Demand | None, skews: dict[str, dict[str, int]],
                   priced: bool = True, choice: Choice = None, rank: int = 0) -> list | None:
    """`option_split`'s parts in place of the shares (`counts`: option -> its replicas and
    classes; None where there are none), or None to keep them: where the shares cannot meet a
    latency rule (its counts hold it, or each share keeps it), or a follower on node would
    not fit beside them, or one by domain would be kept to too few domains (`option_follow`);
    and where each share keeps a latency rule, when the parts are priced
    lower (`option_latency.priced`: `--rules` seed 677 ran G80 alone, the cheapest per unit of
    throughput, and its 10 ms rule took a node at 3.00 in r1, where G24 in r1 beside one G80
    replica in r2 pays 2.00). `skews`: each share's own spreads (`own_skews`), which may keep
    it from putting enough in reach. Without `priced`, where the shares hold, they are kept.
    `choice` "split": the parts wherever they hold (those `rank`-th after the cheapest);
    "shares": the shares wherever there are."""
    from fitlang.rules import option_latency, option_split
    from fitlang.rules.option_follow import short_beside

    if choice == "shares" and counts is not None:
        return None
    parts = option_split.split(problem, group, members, spreads, rank) if choice == "split" else None
    if parts is not None:
        return parts
    short = counts is not None and (short_beside(problem, group, members, counts) or (
        follower is not None and _short_of_room(problem, follower, members, counts)))
    split = option_split.split(problem, group, members, spreads)
    if counts is not None and latency_held and not short:
        cheaper = priced and split is not None and _split_cheaper(problem, members, counts, skews, split)
        return split if cheaper else None
    if split is None or counts is None or short or \
            not option_latency.each_meets(problem, members, counts, skews):
        return split
    cheaper = option_split.priced(problem, split) < option_latency.priced(problem, members, counts)
    return split if cheaper else None


def _split_cheaper(problem: Problem, members: list[Demand], counts: dict[str, tuple[int, list[str]]],
                   skews: dict[str, dict[str, int]], split: list) -> bool:
    """Do the split's parts pay less on whole nodes than the shares at their cheapest counts
    per cell under their own spreads (`option_split.share_priced`)? `--rules` seed 1572: G24
    alone, 12 replicas within 1 over z1 (4.00 a node of 2) and z3 (2.00), pays 6 + 12 = 18;
    G80's 4 in z3 (1.00 a node of 1) beside G24's 4 in z1 pay 4 + 8, the optimum 12."""
    from fitlang.rules import option_split

    shares = Fraction(0)
    for demand in (d for d in members if counts[d.name][0]):
        count, classes = counts[demand.name]
        priced = option_split.share_priced(problem, demand, classes, count, skews[demand.name])
        if priced is None:  # (no counts found: the shares are kept, as before)
            return False
        shares += priced
    return option_split.on_nodes_priced(problem, split) < shares


def own_skews(share: Share, spreads: list[SpreadRule]) -> dict[str, int]:
    """Topology -> the max_skew of the share's own spread in place of each spread over
    options (`_narrowed_demand`'s)."""
    return {s.topology: share.skews.get(s.topology, s.max_skew) for s in spreads}


def _short_of_room(problem: Problem, follower: Demand, members: list[Demand],
                   counts: dict[str, tuple[int, list[str]]]) -> bool:
    """Would a follower on node not fit beside the share it would follow (the most replicas),
    its replicas even over that share's domains of the follower's spread (as it may put them)?"""
    from fitlang.rules.option_hosts import dealt, room

    followed = max(members, key=lambda d: counts[d.name][0])
    count, classes = counts[followed.name]
    topology = follower.spreads[0].topology if follower.spreads else None
    by_domain: dict[str | None, list[str]] = {}
    for class_id in classes:
        value = None if topology is None else problem.node_class(class_id).topology_value(topology)
        by_domain.setdefault(value, []).append(class_id)
    each = count // max(1, len(by_domain))
    return dealt(problem, follower, [(value, room(problem, follower, followed, mine, each))
                                     for value, mine in by_domain.items()]) is None


def _beside_parts(problem: Problem, follower: Demand, group: OptionGroup, parts: list) -> list[Demand]:
    """The follower's parts beside W's (`option_hosts`: the split's search found room for it)."""
    from fitlang.rules import option_hosts
    from fitlang.rules.option_split import part_names

    owners = [problem.demand(part.option) for part in parts]
    classes = [part.classes for part in parts]
    counts = option_hosts.fitted(problem, follower, owners, classes, [part.replicas for part in parts])
    assert counts is not None  # (the split's count search asked for it)
    beside = list(zip(part_names(parts), counts, classes, strict=True))
    return option_hosts.part_demands(follower, group, beside)


def _followers_kept(problem: Problem, demands: list[Demand], same: bool) -> tuple[list[Demand], bool]:
    """The narrowed demands with each follower by domain of a narrowed workload kept to the
    domains it surely runs in (`option_follow`); not the policy where one is."""
    from fitlang.rules import option_split
    from fitlang.rules.option_follow import followed_in

    narrowed: dict[str, list[Demand]] = {}
    for group in problem.option_groups:
        mine = [d for d in demands
                if d.name.split(option_split.SEPARATOR)[0] in group.demands and d.group is None]
        if mine:
            narrowed[group.workload] = mine
    kept = [followed_in(problem, d, narrowed) if d.group is None and d.affinities else d for d in demands]
    return kept, same and all(a is b for a, b in zip(kept, demands, strict=True))


def _narrowed_demand(demand: Demand, share: Share | None, followed: dict[str, str]) -> Demand:
    """An option's demand as its share has it (a plain demand), or another demand with its
    affinities towards a narrowed workload following the option `followed` names."""
    affinities = [dataclasses.replace(r, target=followed[r.target])
                  if not r.anti and r.target in followed else r for r in demand.affinities]
    if share is None:
        same = affinities == demand.affinities
        return demand if same else dataclasses.replace(demand, affinities=affinities)
    spreads = [dataclasses.replace(s, max_skew=share.skews[s.topology])
               if s.topology in share.skews and over_options(demand, s) else s for s in demand.spreads]
    return dataclasses.replace(demand, replicas=share.replicas, eligible=share.classes, group=None,
                               option=None, throughput=Fraction(1), spreads=spreads, affinities=affinities)


def _shares(problem: Problem, group: OptionGroup, members: list[Demand],
            spreads: list[SpreadRule], alone_first: bool = False, only: str | None = None
            ) -> dict[str, Share] | None:
    """One option alone where one reaches every domain with nodes of any option (the cheapest
    per unit of throughput), or the domains dealt out (`_dealt` for a single spread and no
    gang, else `option_deal`; for a single spread of max_skew >= 2 `option_deal`'s windows
    too, which may leave a domain empty), whichever is priced cheaper (with `alone_first`, the
    one option where it reaches every domain; with `only`, that option alone, else None);
    None where none can be."""
    from fitlang.rules.option_latency import may_run_a_gang

    reaches = {s.topology: {d.name: domains(problem, d, s.topology) for d in members} for s in spreads}
    every = {topology: set().union(*by_option.values()) for topology, by_option in reaches.items()}
    covering = [d for d in members if all(every[t] <= reaches[t][d.name].keys() for t in every)
                and (not group.gang or may_run_a_gang(problem, d))]
    if only is not None:
        covering = [d for d in covering if d.name == only]
    alone, chosen = None, None
    if covering:
        chosen = min(covering, key=lambda d: (rate(problem, d, d.eligible), members.index(d)))
        alone = {d.name: Share(d.replicas, list(d.eligible)) if d is chosen else Share(0, [])
                 for d in members}
    if only is not None or not every[spreads[0].topology] or \
            (alone is not None and sum(1 for d in members if d.eligible) == 1):
        return alone  # (the policy itself, where only one option may run)
    if group.gang or len(spreads) > 1:  # the domains dealt in blocks, where cheaper than alone
        from fitlang.rules import option_deal

        kept = [s for s in spreads if len(every[s.topology]) > 1]
        if kept and len(kept) < len(spreads):  # a spread over one domain holds whatever runs
            return _shares(problem, group, members, kept)
        from fitlang.rules.option_split import alone_holds

        if chosen is not None and not group.gang and not alone_holds(problem, members, chosen, spreads):
            alone, chosen = None, None  # (its module: none, where no deal holds either)
        return option_deal.dealt(problem, group, members, spreads, chosen) or alone
    if alone_first and alone is not None:
        return alone
    dealt = _dealt(problem, group, members, spreads[0], reaches[spreads[0].topology])
    by_name = {d.name: d for d in members}
    if alone is not None and sum(1 for share in dealt.values() if share.replicas) <= 1:
        taken = alone  # every domain to one option: alone, with the rule's own max_skew, is less strict
    elif alone is None:
        taken = dealt
    else:  # dealt where it is priced lower, each share's replicas evenly over its domains
        priced = {key: _priced(problem, by_name, shares, reaches[spreads[0].topology])
                  for key, shares in (("alone", alone), ("dealt", dealt))}
        taken = dealt if priced["dealt"] < priced["alone"] else alone
    if spreads[0].max_skew < 2:
        return taken
    from fitlang.rules import option_deal  # windows, which may leave a domain empty

    windows = option_deal.dealt(problem, group, members, spreads)
    if windows is None:
        return taken
    cheapest = {key: _cheapest(problem, by_name, shares, spreads[0], reaches[spreads[0].topology])
                for key, shares in (("taken", taken), ("windows", windows))}
    return windows if cheapest["windows"] < cheapest["taken"] else taken


def retried_alone(problem: Problem, placement: Placement, solve: Callable[[Problem], Placement]) -> Placement:
    """Where the narrowed placement leaves replicas out, the policy narrowed again with each
    workload under one spread on the one option that reaches every domain (`narrowed`'s
    `alone_first`) and solved (`solve_narrowed`), kept where it leaves fewer out. The domains
    dealt to the options cheapest per unit of throughput may not fit beside the others:
    `bench/mixed_rules.py` seed 485, `x1` (6 of G80 or G24, zones within 2) dealt 3 of G24 on
    their own nodes in z3 and 3 of G80 in z1 went over the budget and was left out (`unknown`),
    where G80 alone, 4 in z3 beside the other workloads and 2 in z1, places all at 272.00.
    Not where no placement is proven (the same policy: nothing to try)."""
    if not placement.unplaced or placement.proven_infeasible:
        return placement
    again = narrowed(problem, alone_first=True)
    if again is None:
        return placement
    other = solve_narrowed(problem, again, solve)
    return other if len(other.unplaced) < len(placement.unplaced) else placement


def cheapest_narrowing(problem: Problem, placement: Placement, solve: Callable[[Problem], Placement],
                       seconds_left: Callable[[], float | None]) -> Placement:
    """The policy narrowed the other ways too (one option alone, the parts, the shares, each
    wherever it holds: `narrowed`'s `alone_first` and `choice`), each solved while the time
    left (None: no limit) is at least twice what the first solve took, and the placement that
    leaves fewest out, then the cheapest, kept. Which way pays least depends on what runs
    beside the workload, which the narrowing prices without: `bench/option_spreads.py
    --rules` 1812, 3 of G80 on 2 nodes in z2 and 2 of G24 on one in z3 (6.00, as the shares'
    2 + 2 of G80) leave half a node to `web`, 9.00 against the shares' 9.60; so 1813, 1817,
    1834, 1885, 1993, 2013, 2047 (8 of 17 seeds above the optimum at it). Each solve took
    0.02-0.35 CPU s at 57-180 nodes. Then the parts of the next cheapest counts (`rank`): the
    cheapest fill the nodes where a follower by zone must run beside them (`--rules` 1848:
    G80's 2 on one node in z1 leave `web`'s 10 there a node of their own, 12.20; G80's 1
    beside G24's 2 in z3 pay 2.00 more and leave `web` half its node, the optimum 10.60; so
    1682 and 2073), and those with every option in every cell (`--rules` 2210, 1915, 2001,
    2075: a cell of both options' nodes in two zones, `web`'s zone spread beside it). Then
    each option alone where it reaches every domain (`only`): `--rules` 2248, a gang of 2 of
    G80 on one node or 4 of G24 on two, 4.00 each: G80's (the first of the two) leaves `web`
    3 CPU beside it, 6.40, G24's 8, the optimum 5.80. Not where the narrowing is the policy."""
    from fitlang.rules import option_split

    first = narrowed(problem)
    if first is None or first[1]:
        return placement
    taken = placement.seconds or 0.0
    seen = [_shape(first[0])]
    best = placement
    # (`split`'s ranks: one option per cell's RANKED, then every option in every cell's)
    ranked = option_split.RANKED
    variants: list[dict] = [{"alone_first": True}, {"choice": "split"}, {"choice": "shares"},
                            *({"choice": "split", "rank": rank} for rank in range(1, ranked)),
                            *({"only": name} for group in problem.option_groups for name in group.demands),
                            *({"choice": "split", "rank": rank} for rank in range(ranked, 2 * ranked))]
    for variant in variants:
        left = seconds_left()
        if left is not None and left < 2 * taken:
            break
        other = narrowed(problem, **variant)
        if other is None or _shape(other[0]) in seen:
            continue
        seen.append(_shape(other[0]))
        found = solve_narrowed(problem, other, solve)
        if (len(found.unplaced), found.value is None, found.value or 0) < \
                (len(best.unplaced), best.value is None, best.value or 0):
            best = found
    return best


def _shape(problem: Problem) -> tuple:
    """What tells two narrowings apart: each demand's name, replicas, classes and spreads."""
    return tuple((d.name, d.replicas, tuple(d.eligible), tuple(d.spreads)) for d in problem.demands)


def _priced(problem: Problem, members: dict[str, Demand], shares: dict[str, Share],
            reaches: dict[str, dict[str, list[str]]]) -> Fraction:
    """What the shares would pay: each option's replicas spread evenly over the domains of its
    classes, at the least a replica costs in each."""
    total = Fraction(0)
    for name, share in shares.items():
        demand, classes = members[name], set(share.classes)
        mine = {v: [c for c in class_ids if c in classes] for v, class_ids in reaches[name].items()}
        mine = {v: class_ids for v, class_ids in mine.items() if class_ids}
        if share.replicas and mine:
            each = [rate(problem, demand, class_ids) * demand.throughput for class_ids in mine.values()]
            total += sum(each, Fraction(0)) * share.replicas / len(mine)
    return total


def _cheapest(problem: Problem, members: dict[str, Demand], shares: dict[str, Share], spread: SpreadRule,
              reaches: dict[str, dict[str, list[str]]]) -> Fraction:
    """What the shares would pay with each option's replicas as many as its own spread lets
    in its cheapest domains (each at the least a replica costs there) and as few elsewhere."""
    total = Fraction(0)
    for name, share in shares.items():
        demand, classes = members[name], set(share.classes)
        mine = [rate(problem, demand, kept) * demand.throughput for class_ids in reaches[name].values()
                if (kept := [c for c in class_ids if c in classes])]
        if not share.replicas or not mine:
            continue
        skew, count = share.skews.get(spread.topology, spread.max_skew), len(mine)
        least = max(0, share.replicas // count - skew + 1)
        most = -(-share.replicas // count) + skew - 1
        left = share.replicas - least * count
        for price in sorted(mine):
            more = min(most - least, left)
            total += (least + more) * price
            left -= more
    return total


def domains(problem: Problem, demand: Demand, topology: str) -> dict[str, list[str]]:
    """Domain -> the classes of nodes the fleet has (not offers) `demand` may use there."""
    found: dict[str, list[str]] = {}
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        value = node_class.topology_value(topology)
        if value is not None and not node_class.provisioned and node_class.count > 0:
            found.setdefault(value, []).append(class_id)
    return found


def _dealt(problem: Problem, group: OptionGroup, members: list[Demand], spread: SpreadRule,
           reaches: dict[str, dict[str, list[str]]]) -> dict[str, Share]:
    """Each domain to one option, the cheapest there per unit of throughput among those with
    room for its quota (chosen again once the quotas are known); each option runs its
    domains' quotas on their classes with max_skew 1: as the quotas are m or m + 1
    (`_quotas`), so is what it puts in each domain, whichever ones get m + 1."""
    domains = sorted(set().union(*reaches.values()))

    def owner(domain: str, need: int) -> Demand:
        here = [d for d in members if domain in reaches[d.name]]
        roomy = [d for d in here if room(problem, d, reaches[d.name][domain]) >= need] or here
        return min(roomy, key=lambda d: (rate(problem, d, reaches[d.name][domain]), members.index(d)))

    owners = {v: owner(v, 0) for v in domains}
    quotas = _quotas(group.required, owners)
    owners = {v: owner(v, quotas[v]) for v in domains}
    quotas = _quotas(group.required, owners)
    shares = {}
    for demand in members:
        mine = [v for v in domains if owners[v] is demand]
        replicas = sum(quotas[v] for v in mine)
        classes = {c for v in mine for c in reaches[demand.name][v]}
        eligible = [c for c in demand.eligible if c in classes] if replicas else []
        shares[demand.name] = Share(replicas, eligible, {spread.topology: 1})
    return shares


def _quotas(required: Fraction, owners: dict[str, Demand]) -> dict[str, int]:
    """Replicas per domain, m or m + 1, the fewest that deliver `required`: m + 1 first where
    a replica delivers most."""
    delivered = sum(d.throughput for d in owners.values())
    least = math.floor(required / delivered)
    quotas = dict.fromkeys(owners, least)
    short = required - least * delivered
    for domain in sorted(owners, key=lambda v: -owners[v].throughput):
        if short <= 0:
            break
        quotas[domain] += 1
        short -= owners[domain].throughput
    return quotas


def node_fit(node_class: NodeClass, demand: Demand) -> int:
    """Replicas of `demand` one empty node of the class holds (one where it is kept one a
    node: `--rules` seed 735 priced G80's nodes by their 2 GPUs and ran it on twice the nodes
    a single-GPU option needed, 91% over the optimum)."""
    fit = min((node_class.capacity.get(r, 0) // q for r, q in demand.requests.items() if q > 0), default=1)
    return min(fit, 1) if demand.one_per_node else fit


def rate(problem: Problem, demand: Demand, class_ids: list[str]) -> Fraction:
    """The least a unit of `demand`'s throughput costs on these classes (a node's price over
    what the replicas that fit on it deliver); unbounded where none fits."""
    rates = [node_class.price / (fit * demand.throughput) for c in class_ids
             if (fit := node_fit(node_class := problem.node_class(c), demand))]
    return min(rates, default=Fraction(10 ** 12))


def room(problem: Problem, demand: Demand, class_ids: list[str]) -> int:
    """Replicas of `demand` these classes hold, empty."""
    return sum(problem.node_class(c).count * node_fit(problem.node_class(c), demand) for c in class_ids)


def solve_narrowed(problem: Problem, found: Narrowed, solve: Callable[[Problem], Placement]) -> Placement:
    """`solve` of the narrowed problem, each narrowed workload left short placing nothing
    (`_short_left_out`); where it is not the policy, what it proves is dropped
    (`option_affinity.unproven`)."""
    from fitlang.rules.option_affinity import unproven
    from fitlang.rules.option_split import merged

    narrowed_problem, same, parts = found
    placement = _short_left_out(problem, merged(narrowed_problem, solve(narrowed_problem), parts))
    return placement if same else unproven(placement)


def _unbalanced(problem: Problem, placement: Placement) -> set[str]:
    """The workloads whose spread over options the placement breaks though each option holds
    its own: where a domain counts that no option was narrowed to (nodes of an option's
    offer bought there by another workload, or of a class an option does not use)."""
    with_nodes = {c.id for c in problem.classes if not c.provisioned and c.count} | \
        {class_id for class_id, nodes in placement.bought.items() if nodes}
    owners = problem.owners()
    placed: dict[str, list[tuple[NodeClass, int]]] = {}
    for item in placement.assignments:
        if (found := owners.find(item.node)) is not None:
            placed.setdefault(item.workload, []).append((found[0], 1))
    broken = set()
    for members in _members(problem):
        for spread in (s for s in members[0].spreads if over_options(members[0], s)):
            counts = _sums(problem, members, spread.topology, with_nodes,
                           (pair for d in members for pair in placed.get(d.name, [])))
            if counts and max(counts.values()) - min(counts.values()) > spread.max_skew:
                broken.add(members[0].workload)
    return broken


def packing_unbalanced(problem: Problem, packing: Packing) -> bool:
    """Does a packing of the aggregate model's counts break a spread over options (its
    leftovers placed elsewhere may)? (explain's checks at fleet scale)"""
    from fitlang.solve.placement_result import FEASIBLE, _from_packing

    if not in_problem(problem):
        return False
    return bool(_unbalanced(problem, _from_packing(problem, packing, "cost", FEASIBLE, None)))


def balanced_or_left_out(problem: Problem, placement: Placement) -> Placement:
    """`placement` with each option workload it leaves short or whose spread over options it
    breaks placing none (`_short_left_out`): the greedy floor shown beside a proof that no
    placement exists (`solve/gang_room.py`: the floor runs a gang over a spread it caps)."""
    return _short_left_out(problem, placement) if in_problem(problem) else placement


def _short_left_out(problem: Problem, placement: Placement) -> Placement:
    """A narrowed workload with a replica of any option left out places none: as an option
    group short of its throughput (`placement_result.unmet_options`, which reports it), and
    what it placed may break the spread over its options (each option keeps its own spread
    as it leaves replicas out, not the sum's quotas). So does one whose sum is off all the
    same (`_unbalanced`); its followers kept to its domains with it (`option_follow`). Nodes it
    alone used are closed."""
    from fitlang.rules.option_follow import followers
    from fitlang.solve.placement_result import Unplaced, unmet_options

    short = {problem.demand(u.workload).workload for u in placement.unplaced
             if problem.demand(u.workload).group is not None} | _unbalanced(problem, placement)
    dropped = {d.name for d in problem.demands if d.group in short and
               any(over_options(d, s) for s in d.spreads)}
    if not dropped:
        return placement
    # (a follower kept to the domains a dropped workload would run in is left out with it)
    following = followers(problem, {problem.demand(name).workload for name in dropped}) - dropped
    freed = {a.node for a in placement.assignments if a.workload in dropped | following}
    placement.unplaced += [Unplaced(a.workload, a.replica, "the workload its affinity follows is left out")
                           for a in placement.assignments if a.workload in following]
    placement.assignments = [a for a in placement.assignments if a.workload not in dropped | following]
    placement.unplaced = [u for u in placement.unplaced if u.workload not in dropped]
    placement.unplaced += unmet_options(problem, {name: 0 for name in dropped})
    bought = {node for nodes in placement.bought.values() for node in nodes}
    closed = freed - bought - {a.node for a in placement.assignments}
    if placement.value is not None and placement.objective in ("cost", "nodes"):
        classes = [problem.owners().find(node) for node in closed]
        placement.value -= sum((found[0].price if placement.objective == "cost" else 1
                                for found in classes if found is not None), Fraction(0))
    return placement
