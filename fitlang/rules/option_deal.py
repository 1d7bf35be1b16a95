"""Spreads over an option workload's options past `option_spread.MAX_NODES` nodes that
`option_spread`'s own narrowings leave alone: where no option has nodes in every domain and the
workload is a gang (all its replicas on one option, `rules/options.py`) or has several such
spreads (`spread zone` and `spread region`, say). Narrowed, as there, to a plain demand per
option whose own spreads hold every spread as written (`option_spread._shares` calls `dealt`):

- **blocks**: the domains of every spread's topology, joined where one class of nodes lies
  in both (zone a and region r1 where zone a's nodes are in r1). Each block goes to one option
  (the cheapest there per unit of throughput among those with nodes in all its domains), which
  runs there only on its classes with a value in every topology; a gang's one option takes
  every block it has nodes in. So each domain counts one option's replicas, or none.
- **windows**: per topology T (K its least max_skew) every domain's count lies in [a, a + K]
  for one a; a = 0 where a domain of T gets no replica of any option (no option dealt it has
  nodes there: a gang's option does not reach it, say). An option o runs R replicas over its
  n domains of T with a spread of its own of max_skew s, which keeps each count within
  [floor(R/n) - s + 1, ceil(R/n) + s - 1] (the least and the most of n whole counts of sum R
  at most s apart): inside the window where a n <= R <= (a + K) n, with s the largest that
  stays inside (at least 1 there).
- **replicas**: over the windows, the cheapest R per option that delivers the throughput
  within them (`_sized`: a small search, each window's a upwards, stopped once what it must
  pay passes the best found); a gang's option runs exactly its replicas.
- **nested** (a second layout, `_Layout`): where one topology's domain decides the others'
  (zones in regions), blocks and windows of that one only, each option with max_skew 1 over
  its domains there, and the others checked on the sums of its domains' least and most
  (`_derived_hold`; where the fewest replicas break them, the cheapest that hold them:
  `_searched`): two options may then share a region, each in zones of its own. The cheaper
  layout is taken, and a deal only where priced below an option that reaches every domain
  running alone as written.

Every placement of the narrowed policy holds the spreads as written. It may cost more than
the policy, as `option_spread`'s narrowings may. None (`dealt`) where no deal delivers the
throughput within the windows: `refusal` says why (E0508). For a gang whose options each leave
a domain of every topology at 0 the refusal is exact but for offers (and classes without a
value for a topology): each domain may then hold at most K, and the window a = 0 takes every
R <= K n its room holds."""

from __future__ import annotations

import dataclasses
import itertools
import math
from collections.abc import Callable, Iterable
from fractions import Fraction

from fitlang.check.program import SpreadRule
from fitlang.model.problem import Demand, OptionGroup, Problem
from fitlang.rules.option_latency import may_run_a_gang
from fitlang.rules.option_spread import Share, domains, rate, room


@dataclasses.dataclass
class _Hand:
    """What one option is dealt: its classes, how many domains of each topology they span,
    the least one of its replicas costs on them, and how many they hold."""
    demand: Demand
    classes: list[str]
    spans: dict[str, int]
    each: Fraction
    room: int


@dataclasses.dataclass
class _Sized:
    """Replicas per hand, each topology's window floor `a`, and what they cost."""
    replicas: list[int]
    floors: dict[str, int]
    cost: Fraction


def dealt(problem: Problem, group: OptionGroup, members: list[Demand], spreads: list[SpreadRule],
          alone: Demand | None = None) -> dict[str, Share] | None:
    """Each option's share (the module's doc), or None where no deal delivers the throughput
    within every spread, or where `alone` (an option with nodes in every domain, which may run
    the workload alone under the spreads as written) is priced no dearer than the deal, both
    at the least a replica costs on the classes each option is dealt (`_sized`)."""
    limits = _limits(spreads)
    every = {t: {v for d in members for v in domains(problem, d, t)} for t in limits}
    cells = {d.name: _cells(problem, d, limits) for d in members}
    layouts = [_Layout(limits, {})]
    if len(limits) > 1 and (finest := _finest(cells, list(limits))) is not None:
        layouts.append(_Layout({finest: limits[finest]}, {t: k for t, k in limits.items() if t != finest}))
    found = [deal for layout in layouts
             if (deal := _deal(problem, group, members, layout, every, cells)) is not None
             and _own_spreads_hold(problem, deal)]
    if not found:
        return None
    best = min(found, key=lambda deal: deal.sized.cost)
    if alone is not None:
        by_itself = _sized_hands(problem, [_hand(problem, alone, list(cells[alone.name]), limits)],
                                 layouts[0], every, group.required, exact=group.gang)
        if by_itself is not None and by_itself.cost <= best.sized.cost:
            return None
    return _shared(members, best)


@dataclasses.dataclass
class _Layout:
    """Which topologies get windows (`_sized`), and which are only checked where every
    replica count is chosen (`derived`: each domain a union of the domains of the one windowed
    topology, zones in regions, so its counts are sums of theirs: `_derived_hold`)."""
    windowed: dict[str, int]
    derived: dict[str, int]


@dataclasses.dataclass
class _Deal:
    layout: _Layout
    hands: list[_Hand]
    sized: _Sized


def _deal(problem: Problem, group: OptionGroup, members: list[Demand], layout: _Layout,
          every: dict[str, set[str]], cells: dict[str, dict[str, tuple[str, ...]]]) -> _Deal | None:
    """The hands dealt and their replicas: a gang's one option (the cheapest that holds its
    replicas within the windows), or each block (of the windowed topologies) to an option."""
    topologies = list(every)  # the order of each class's domains in `cells`
    if group.gang:  # one option, every block it has nodes in (one that may meet its latency)
        found = []
        for demand in (d for d in members if cells[d.name] and may_run_a_gang(problem, d)):
            hand = _hand(problem, demand, list(cells[demand.name]), topologies)
            sized = _sized_hands(problem, [hand], layout, every, group.required, exact=True)
            if sized is not None:
                found.append(_Deal(layout, [hand], sized))
        return min(found, key=lambda deal: (deal.sized.cost, members.index(deal.hands[0].demand)),
                   default=None)
    hands = _hands(problem, members, cells, topologies, every, list(layout.windowed))
    sized = _sized_hands(problem, hands, layout, every, group.required, exact=False)
    return None if sized is None else _Deal(layout, hands, sized)


def _shared(members: list[Demand], deal: _Deal) -> dict[str, Share]:
    """Each option's share of a deal: its replicas on the classes dealt it, each windowed
    topology's own max_skew the largest within the window (`_own_skew`), or 1 where others are
    derived from it (their check counts on it); a derived one's own spread binds nothing."""
    shares = {d.name: Share(0, []) for d in members}
    windowed, derived = deal.layout.windowed, deal.layout.derived
    for hand, replicas in zip(deal.hands, deal.sized.replicas, strict=True):
        if replicas:
            skews = {t: 1 if derived else _own_skew(replicas, hand.spans[t], deal.sized.floors[t], limit)
                     for t, limit in windowed.items()} | dict.fromkeys(derived, replicas)
            classes = [c for c in hand.demand.eligible if c in set(hand.classes)]
            shares[hand.demand.name] = Share(replicas, classes, skews)
    return shares


def _own_spreads_hold(problem: Problem, deal: _Deal) -> bool:
    """Can each option hold its own spreads at once? The windows are per topology: where one
    option's domains of two topologies nest (zones in regions), even counts over the zones may
    break its spread over the regions (`option_split.own_spreads_hold`)."""
    from fitlang.rules.option_split import own_spreads_hold

    if len(deal.layout.windowed) < 2:
        return True
    return all(own_spreads_hold(problem, hand.demand, hand.classes, replicas,
                                {t: _own_skew(replicas, hand.spans[t], deal.sized.floors[t], limit)
                                 for t, limit in deal.layout.windowed.items()})
               for hand, replicas in zip(deal.hands, deal.sized.replicas, strict=True) if replicas)


def _finest(cells: dict[str, dict[str, tuple[str, ...]]], topologies: list[str]) -> str | None:
    """The topology whose domain decides every other's, over the classes any option may
    use (zone, where each zone is in one region), if one does."""
    for index, topology in enumerate(topologies):
        seen: dict[str, tuple[str, ...]] = {}
        if all(seen.setdefault(values[index], values) == values
               for by_class in cells.values() for values in by_class.values()):
            return topology
    return None


def refusal(problem: Problem, group: OptionGroup, members: list[Demand], spreads: list[SpreadRule]) -> str:
    """Why `dealt` found no deal (E0508's `why`): for a gang, what each option would have to
    hold per domain."""
    if not group.gang:
        # (what no deal can say, in the policy's terms: `bench/option_spreads.py` seed 248 holds
        # zones and regions within 1 only as 2 + 2 + 3 with the 3 in z3, one of G80's two zones)
        return (f"no option has nodes in every domain of its {len(spreads)} spreads over its options, and "
                "no deal of the domains among the options delivers its throughput within every max_skew "
                "(each option dealt several domains spreads its replicas evenly over them: fitc cannot "
                "ask one option for more in one of its domains than in another; on 48 nodes or fewer "
                "the spreads are held node by node)")
    limits = _limits(spreads)
    every = {t: {v for d in members for v in domains(problem, d, t)} for t in limits}
    each, far = [], False
    for demand in members:
        if not may_run_a_gang(problem, demand):  # (`--rules` seed 761: the rule that fails is latency)
            far = True
            each.append(f"{demand.option} cannot meet its `latency` rule alone ({_latency_said(demand)})")
            continue
        cells = _cells(problem, demand, limits)
        spans = {t: len({values[i] for values in cells.values()}) for i, t in enumerate(limits)}
        worst = max(limits, key=lambda t: (spans[t] < len(every[t]), -spans[t]))
        each.append(f"{demand.option} runs {demand.replicas} replicas with nodes in {spans[worst]} of the "
                    f"{len(every[worst])} {worst} domains")
    rules = "within every max_skew and its `latency` rule" if far else "within every max_skew"
    return (f"it is a gang (all its replicas on one option) and no option holds them {rules} "
            "where it leaves a domain empty (each domain then holds at most max_skew): " + "; ".join(each))


def _latency_said(demand: Demand) -> str:
    """What the option's latency rules ask, in the policy's terms."""
    return ", ".join(f"{rule.replicas} of its {demand.replicas} replicas within {rule.limit_ms} ms of "
                     f"`{rule.location}`" for rule in demand.latency)


def _limits(spreads: list[SpreadRule]) -> dict[str, int]:
    """Topology -> the least max_skew of the spreads over it."""
    limits: dict[str, int] = {}
    for spread in spreads:
        limits[spread.topology] = min(spread.max_skew, limits.get(spread.topology, spread.max_skew))
    return limits


def _cells(problem: Problem, demand: Demand, limits: dict[str, int]) -> dict[str, tuple[str, ...]]:
    """Class -> its domain in each topology, for the classes of nodes the fleet has (not
    offers) `demand` may use with a value in every topology."""
    found = {}
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        values = tuple(node_class.topology_value(t) for t in limits)
        if not node_class.provisioned and node_class.count > 0 and None not in values:
            found[class_id] = tuple(v for v in values if v is not None)
    return found


def _hand(problem: Problem, demand: Demand, classes: list[str], topologies: Iterable[str]) -> _Hand:
    spans = {t: len({problem.node_class(c).topology_value(t) for c in classes}) for t in topologies}
    return _Hand(demand, classes, spans, rate(problem, demand, classes) * demand.throughput,
                 room(problem, demand, classes))


def _hands(problem: Problem, members: list[Demand], cells: dict[str, dict[str, tuple[str, ...]]],
           topologies: list[str], every: dict[str, set[str]], joined: list[str]) -> list[_Hand]:
    """Each block (the domains of the `joined` topologies, joined where a class lies in both)
    to one option (the module's doc); a hand per option dealt a block."""
    at = [topologies.index(t) for t in joined]

    def keys(values: tuple[str, ...]) -> list[tuple[str, str]]:
        return [(topologies[i], values[i]) for i in at]

    blocks = _blocks(every, (keys(values) for by_class in cells.values() for values in by_class.values()),
                     joined)
    kept: dict[str, list[str]] = {}
    for block in blocks:
        def reach(demand: Demand, block: set[tuple[str, str]] = block) -> tuple[list[str], int]:
            mine = [c for c, values in cells[demand.name].items() if keys(values)[0] in block]
            return mine, len({key for c in mine for key in keys(cells[demand.name][c])})
        here = [(d, *reach(d)) for d in members]
        here = [(d, mine, reached) for d, mine, reached in here if mine]
        if here:
            demand, mine, _ = min(here, key=lambda item: (-item[2], rate(problem, item[0], item[1]),
                                                           members.index(item[0])))
            kept.setdefault(demand.name, []).extend(mine)
    return [_hand(problem, d, kept[d.name], topologies) for d in members if d.name in kept]


def _blocks(every: dict[str, set[str]], cells: Iterable[list[tuple[str, str]]],
            topologies: list[str]) -> list[set[tuple[str, str]]]:
    """The domains (topology, value) joined where a class (its domains: `cells`) lies in both."""
    parent = {(t, v): (t, v) for t in topologies for v in every[t]}

    def root(key: tuple[str, str]) -> tuple[str, str]:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for keys in cells:
        for key in keys[1:]:
            parent[root(key)] = root(keys[0])
    grouped: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for key in parent:
        grouped.setdefault(root(key), set()).add(key)
    return list(grouped.values())


def _sized_hands(problem: Problem, hands: list[_Hand], layout: _Layout, every: dict[str, set[str]],
                 required: Fraction, exact: bool) -> _Sized | None:
    """The cheapest replicas per hand within the windows (`_sized`) where the derived
    topologies hold too (`_derived_hold`); `exact`: the one hand (a gang's) runs exactly its
    demand's replicas."""
    reached = {t: {problem.node_class(c).topology_value(t) for h in hands for c in h.classes} for t in every}
    empty = {t for t in every if every[t] - reached[t]}
    if exact:
        low = [h.demand.replicas for h in hands]
        if any(r > h.room for r, h in zip(low, hands, strict=True)):
            return None
        high = list(low)
    else:
        low, high = [0] * len(hands), [min(h.room, h.demand.replicas) for h in hands]
    check = _derived_hold(problem, hands, layout, every)
    return _sized(hands, list(layout.windowed.items()), empty, required, low, high, {}, check)


def _derived_hold(problem: Problem, hands: list[_Hand], layout: _Layout,
                  every: dict[str, set[str]]) -> Callable[[list[int]], bool]:
    """Whether replicas per hand hold the derived topologies' spreads, whichever domains of
    the windowed one (F) get the one more: a hand of R replicas over n domains of F with its
    own max_skew 1 puts R // n or that + 1 in each, so a derived domain holds from the sum of
    the least to the sum of the most over its domains of F (0 where no hand has one)."""
    if not layout.derived:
        return lambda _: True
    finest = next(iter(layout.windowed))
    under = [[(problem.node_class(c).topology_value(finest), problem.node_class(c)) for c in h.classes]
             for h in hands]
    parents = [{f: {t: node_class.topology_value(t) for t in layout.derived} for f, node_class in mine}
               for mine in under]

    def hold(replicas: list[int]) -> bool:
        for topology, limit in layout.derived.items():
            least, most = dict.fromkeys(every[topology], 0), dict.fromkeys(every[topology], 0)
            for count, mine in zip(replicas, parents, strict=True):
                for of in mine.values():
                    least[str(of[topology])] += count // len(mine)
                    most[str(of[topology])] += -(-count // len(mine))
            if max(most.values()) - min(least.values()) > limit:
                return False
        return True
    return hold


def _sized(hands: list[_Hand], windows: list[tuple[str, int]], empty: set[str], required: Fraction,
           low: list[int], high: list[int], floors: dict[str, int],
           check: Callable[[list[int]], bool]) -> _Sized | None:
    """Over the first window's floors a (0 only where a domain is `empty`), each hand's
    replicas kept within [a n, (a + K) n] (n its domains there), the rest of the windows
    alike; at the end the fewest replicas that deliver `required`, cheapest first. The
    cheapest found; a floor's search stops where what the hands must place already costs
    more (it grows with a)."""
    if not windows:
        replicas = _filled(hands, low, high, required)
        if replicas is not None and not check(replicas):
            replicas = _searched(hands, low, high, required, check)
        if replicas is None:
            return None
        return _Sized(replicas, dict(floors), sum((r * h.each for r, h in zip(replicas, hands, strict=True)),
                                                  Fraction(0)))
    (topology, limit), rest = windows[0], windows[1:]
    spans = [h.spans[topology] for h in hands]
    first = max([0] + [-(-lo // n) - limit for lo, n in zip(low, spans, strict=True)])
    # past the floor at which every hand alone delivers `required`, more is only dearer
    enough = max((math.ceil(required / (h.demand.throughput * n)) for h, n in zip(hands, spans, strict=True)),
                 default=0) + limit
    last = 0 if topology in empty else min([enough, *(hi // n for hi, n in zip(high, spans, strict=True))])
    best: _Sized | None = None
    for floor in range(first, last + 1):
        lows = [max(lo, floor * n) for lo, n in zip(low, spans, strict=True)]
        highs = [min(hi, (floor + limit) * n) for hi, n in zip(high, spans, strict=True)]
        if best is not None and sum((lo * h.each for lo, h in zip(lows, hands, strict=True)),
                                    Fraction(0)) >= best.cost:
            break
        if any(lo > hi for lo, hi in zip(lows, highs, strict=True)):
            continue
        found = _sized(hands, rest, empty, required, lows, highs, {**floors, topology: floor}, check)
        if found is not None and (best is None or found.cost < best.cost):
            best = found
    return best


def _filled(hands: list[_Hand], low: list[int], high: list[int], required: Fraction) -> list[int] | None:
    """Each hand's least replicas, then more where a unit of throughput costs least, until
    they deliver `required` (None where the most do not)."""
    replicas = list(low)
    delivered = sum((r * h.demand.throughput for r, h in zip(replicas, hands, strict=True)), Fraction(0))
    for index in sorted(range(len(hands)), key=lambda i: hands[i].each / hands[i].demand.throughput):
        if delivered >= required:
            break
        more = min(high[index] - replicas[index],
                   math.ceil((required - delivered) / hands[index].demand.throughput))
        replicas[index] += more
        delivered += more * hands[index].demand.throughput
    return replicas if delivered >= required else None


# the most combinations of replicas per option `_searched` tries at one set of window floors
SEARCHED = 20_000


def _searched(hands: list[_Hand], low: list[int], high: list[int], required: Fraction,
              check: Callable[[list[int]], bool]) -> list[int] | None:
    """Where the fewest replicas break a derived spread: the cheapest replicas per option
    within [low, high] that deliver `required` and hold it, every count of the other options
    tried with the last one's fewest that deliver (and up to its domains' count more: a sum of
    counts R // n or that + 1 may need R a multiple of n); None where none does, or where
    there are more than SEARCHED to try."""
    *others, last = range(len(hands))
    ranges = [range(low[i], high[i] + 1) for i in others]
    extra = max(hands[last].spans.values(), default=1)
    if math.prod(len(r) for r in ranges) * (extra + 1) > SEARCHED:
        return None
    best: tuple[Fraction, list[int]] | None = None
    for counts in itertools.product(*ranges):
        delivered = sum((c * hands[i].demand.throughput for c, i in zip(counts, others, strict=True)),
                        Fraction(0))
        short = max(Fraction(0), required - delivered)
        fewest = max(low[last], math.ceil(short / hands[last].demand.throughput))
        for more in range(extra + 1):
            if fewest + more > high[last]:
                break
            replicas = [*counts, fewest + more]
            if check(replicas):
                cost = sum((r * h.each for r, h in zip(replicas, hands, strict=True)), Fraction(0))
                if best is None or cost < best[0]:
                    best = (cost, replicas)
                break
    return None if best is None else best[1]


def _own_skew(replicas: int, spans: int, floor: int, limit: int) -> int:
    """The largest max_skew s of an option's own spread of `replicas` over `spans` domains
    that keeps each count within [floor, floor + limit]: the counts lie within
    [floor(R/n) - s + 1, ceil(R/n) + s - 1] (an empty domain's floor is 0, which any count
    is above)."""
    above = floor + limit - math.ceil(replicas / spans) + 1
    below = replicas // spans - floor + 1 if floor > 0 else above
    return min(above, below)
