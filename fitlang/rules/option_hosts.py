"""`affinity W on node` towards a workload W whose spreads over its options are narrowed
(`option_spread.narrowed`): the follower split into a part beside each of W's parts, and W's
counts chosen with room for it.

Narrowed, W is plain demands, and the follower followed one of them (the option with the
most replicas), so it ran beside that option's nodes only. `bench/option_spreads.py --rules`
seed 682: `chat` narrowed to 3 replicas of G80 and 4 of G24; `web` (30 replicas of one CPU)
beside chat on its nodes followed G24's 4 nodes, 6 replicas a node: 6 replicas left out
(`unknown`) where the reference runs 18 beside G80 and 12 beside G24. Seed 738: the shares
had room beside 5 nodes for `web`'s 25 replicas, 4 a node; the reference runs 7 replicas of
chat (more than its throughput asks: 5 of G80 and 2 of G24) to host them.

Where the one follower on node (`hosted`) would not fit beside the option it follows, W is
split into exact counts per cell (`option_split`), and the count search asks, besides the
spreads, that the follower fits beside them (`fitted`): each replica of W on a node of its own
(a node has one accelerator model, so W's replicas there are of one part) hosts what fits of
the follower beside it, on the part's class that holds least (`room`). Its replicas are then
dealt to the cells, as evenly as their room lets over the domains of its own spread (at most
one, not over nodes); where that holds its max_skew, the follower runs as a part per cell
(`part_demands`), each beside W's part there, on its classes, with no spread (the counts hold
it). Each placement of the parts holds the rule as written: every replica of the follower is
beside a replica of W. A follower whose replicas another rule counts together (a gang, a
latency rule, an affinity with itself but apart on nodes, a rule naming it, work running) is
not split: as before, it follows one option.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from fitlang.check.program import AffinityRule
from fitlang.model.problem import Demand, OptionGroup, Problem

SEPARATOR = "~"  # (option_split's: a part's name is NAME~i, merged back to NAME)


def _towards(rule: AffinityRule, group: OptionGroup) -> bool:
    return rule.target == group.workload or rule.target in group.demands


def hosted(problem: Problem, group: OptionGroup) -> Demand | None:
    """The one demand with `affinity W on node` towards the workload of `group` that may be
    split beside its parts (the module's doc), or None."""
    following = [d for d in problem.demands if any(_towards(r, group) for r in d.affinities)]
    if len(following) != 1:
        return None
    follower = following[0]
    rules = [r for r in follower.affinities if _towards(r, group)]
    if len(rules) != 1 or rules[0].anti or rules[0].topology != "node" or not _splittable(problem, follower):
        return None
    return follower


def _splittable(problem: Problem, follower: Demand) -> bool:
    """Does each replica of `follower` hold its rules on its own (but one spread over domains,
    which the counts hold)?"""
    own = [r for r in follower.affinities if r.target in ("self", follower.name)]
    named = any(r.target == follower.name for d in problem.demands for r in d.affinities if d is not follower)
    return (follower.group is None and not follower.gang and not follower.exclusive and not follower.latency
            and follower.window is None and follower.replicas > 0 and not named
            and all(r.anti and r.topology == "node" for r in own)
            and len(follower.spreads) <= 1 and all(s.topology != "node" for s in follower.spreads)
            and follower.name not in problem.running and follower.name not in problem.pinned)


def room(problem: Problem, follower: Demand, owner: Demand, classes: Sequence[str], count: int) -> int:
    """Replicas of `follower` that surely fit beside `count` replicas of `owner` on these
    classes, each on a node of its own: per node, what fits beside one on the class that holds
    least (none on a class the follower may not use)."""
    if not count:
        return 0
    nodes = sum(problem.node_class(c).count for c in classes)
    return min(count, nodes) * each_beside(problem, follower, owner, classes)


def each_beside(problem: Problem, follower: Demand, owner: Demand, classes: Sequence[str]) -> int:
    """Replicas of `follower` that surely fit beside one of `owner` on a node of these
    classes (`room`'s, per node)."""
    if not classes or owner.exclusive:
        return 0
    eligible = set(follower.eligible)
    return min(beside(problem, follower, owner, c) if c in eligible else 0 for c in classes)


def beside(problem: Problem, follower: Demand, owner: Demand, class_id: str) -> int:
    """Replicas of the follower that fit on an empty node of the class beside one of `owner`."""
    capacity = problem.node_class(class_id).capacity
    left = {r: capacity.get(r, 0) - owner.requests.get(r, 0) for r in follower.requests}
    fit = max(0, min((left[r] // q for r, q in follower.requests.items() if q > 0), default=0))
    return min(fit, 1) if follower.one_per_node else fit


def dealt(problem: Problem, follower: Demand, cells: Sequence[tuple[str | None, int]],
          first: Sequence[bool] = ()) -> list[int] | None:
    """The follower's replicas per cell (each cell: its domain of the follower's spread, or
    None, and its room), as evenly over the domains of its spread as the room lets (water
    filling: each domain up to a level, the lowest that takes them all), within a domain the
    cells `first` flags first; None where the room is short or the spread's max_skew does not
    hold (a domain it may use with no cell counts 0)."""
    rooms: dict[str | None, int] = {}
    for domain, space in cells:
        rooms[domain] = rooms.get(domain, 0) + space
    if follower.spreads:
        from fitlang.rules.option_spread import domains

        for value in domains(problem, follower, follower.spreads[0].topology):
            rooms.setdefault(value, 0)
    wanted = follower.replicas
    if sum(rooms.values()) < wanted:
        return None
    low, level = 0, max(rooms.values())  # (the lowest level that takes them all, by halves)
    while low < level:
        middle = (low + level) // 2
        low, level = (middle + 1, level) if sum(min(space, middle) for space in rooms.values()) < wanted \
            else (low, middle)
    per_domain = {value: min(space, level) for value, space in rooms.items()}
    over = sum(per_domain.values()) - wanted
    for domain in sorted(per_domain, key=str):  # (fewer than the domains at the level)
        if over and per_domain[domain] == level:
            per_domain[domain] -= 1
            over -= 1
    skew = max(per_domain.values()) - min(per_domain.values())
    if follower.spreads and skew > follower.spreads[0].max_skew:
        return None
    counts = [0] * len(cells)
    for index in sorted(range(len(cells)), key=lambda i: not (first and first[i])):
        domain, space = cells[index]
        counts[index] = min(space, per_domain[domain])
        per_domain[domain] -= counts[index]
    return counts


def fitted(problem: Problem, follower: Demand, owners: Sequence[Demand], classes: Sequence[Sequence[str]],
           counts: Sequence[int]) -> list[int] | None:
    """`dealt` over W's cells (each its owner, its classes, all in one domain of the
    follower's spread: `option_split` adds its topology to the cells') with these counts."""
    topology = follower.spreads[0].topology if follower.spreads else None

    def domain(mine: Sequence[str]) -> str | None:
        return None if topology is None or not mine else problem.node_class(mine[0]).topology_value(topology)

    # (hosted first beside parts a node of which holds one replica: they take a node each
    # anyway, where the others would share one; `--rules` seed 682 paid a node more)
    from fitlang.rules.option_spread import node_fit

    cells = list(zip(owners, classes, counts, strict=True))
    alone = [all(node_fit(problem.node_class(c), owner) <= 1 for c in mine) for owner, mine, _ in cells]
    return dealt(problem, follower, [(domain(mine), room(problem, follower, owner, mine, count))
                                     for owner, mine, count in cells], alone)


def topologies(follower: Demand | None) -> list[str]:
    """The topology of the follower's spread, which W's cells must lie in one domain of."""
    return [s.topology for s in follower.spreads] if follower is not None else []


def part_demands(follower: Demand, group: OptionGroup,
                 beside: Sequence[tuple[str, int, list[str]]]) -> list[Demand]:
    """The follower as a plain demand per part of W it runs beside (`beside`: W's part's
    demand, the follower's replicas there, the part's classes), named as option_split names
    parts; its affinity towards W made one towards that part, its spread dropped (the counts
    hold it)."""
    parts = [(target, count, classes) for target, count, classes in beside if count]
    demands = []
    for index, (target, count, classes) in enumerate(parts):
        affinities = [dataclasses.replace(r, target=target) if _towards(r, group) else r
                      for r in follower.affinities]
        demands.append(dataclasses.replace(
            follower, name=follower.name if index == 0 else f"{follower.name}{SEPARATOR}{index}",
            replicas=count, eligible=[c for c in follower.eligible if c in classes],
            affinities=affinities, spreads=[]))
    return demands


