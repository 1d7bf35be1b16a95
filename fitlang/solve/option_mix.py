"""The option groups the pair LP places with more than one option, as whole replicas per option.

A workload with accelerator options may mix them (docs/language.md: the replicas of every option
serve the same work). The greedy pass places each option group whole on one option; where a
cheap option is scarce (the on-prem L40S nodes of the inventory shape, which the LP fills), a
group the LP splits between it and a dearer option takes the cheap one whole, more of it than
the LP gives that group, and a group the LP puts on it whole finds none left at its turn.
Inventory 10,000 seed 20: `infer250` and `infer524` (the LP: 4 L40S + 6 L4 replicas each) took
8 L40S replicas each, then `infer915` and `infer962` (the LP: 5 L40S replicas each) opened 16 L4
replicas' nodes (19 USD/h); the first guided pass, consolidated, 611.81 USD/h. Placed as the LP's
split, rounded (`option_mixes`), the groups use the scarce option as the LP does: 604.71.

Where the LP splits a group, its cheaper option is held back by some row (else the LP would
take it whole), and the dearer one's replicas take room the LP gives others too: the rounding
keeps, per pair of accelerator models, the split groups' replicas of each within what the LP
gives them together, as near the LP's split as it can (`_nearest`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve.bound import Bound

# an LP share below this is rounding noise, not a replica
NOISE = 1e-6


@dataclass(frozen=True)
class _Split:
    """An option group the LP splits between a cheaper and a dearer option (per replica as
    the LP pays for them, by throughput): its replicas on each in the LP."""

    workload: str
    required: Fraction
    cheap: str
    dear: str
    cheap_throughput: Fraction
    dear_throughput: Fraction
    cheap_price: float
    dear_price: float
    in_lp: float
    dear_in_lp: float

    def dear_replicas(self, cheap: int) -> int:
        """The dearer option's replicas that deliver the rest beside `cheap` of the cheaper."""
        rest = self.required - cheap * self.cheap_throughput
        return max(0, math.ceil(rest / self.dear_throughput))

    def whole(self) -> int:
        """The cheaper option's replicas that deliver the group alone."""
        return math.ceil(self.required / self.cheap_throughput)

    def distance(self, cheap: int) -> float:
        """How far `cheap` replicas of the cheaper option (the dearer's making up the rest) are
        from the LP's split, in throughput."""
        return abs(cheap - self.in_lp) * float(self.cheap_throughput) + \
            abs(self.dear_replicas(cheap) - self.dear_in_lp) * float(self.dear_throughput)

    def cost(self, cheap: int) -> float:
        return cheap * self.cheap_price + self.dear_replicas(cheap) * self.dear_price


def option_mixes(problem: Problem, relaxed: Bound) -> dict[str, dict[str, int]]:
    """Per option group (not a gang: it runs on one option) that the LP's last solution splits
    over two options: the replicas of each, whole (`_nearest`; one of them may be none, the
    group then whole on the other). {} where the LP left no solution; groups split over
    three or more options: `three_option_mixes`."""
    placed, index = _lp_replicas(relaxed)
    by_models: dict[tuple[str, str], list[_Split]] = {}
    for group in problem.option_groups:
        options = [name for name in group.demands if name in index and placed[index[name]] > NOISE]
        if group.gang or len(options) != 2:
            continue
        price = {name: _price_per_replica(problem, relaxed, index[name]) for name in options}
        cheap, dear = (problem.demand(name) for name in
                       sorted(options, key=lambda name: price[name] / float(problem.demand(name).throughput)))
        split = _Split(group.workload, group.required, cheap.name, dear.name, cheap.throughput,
                       dear.throughput, price[cheap.name], price[dear.name],
                       float(placed[index[cheap.name]]), float(placed[index[dear.name]]))
        by_models.setdefault((cheap.option or cheap.name, dear.option or dear.name), []).append(split)
    mixes = {}
    for splits in by_models.values():
        for split, replicas in zip(splits, _nearest(splits) or ()):
            mix = {split.cheap: replicas, split.dear: split.dear_replicas(replicas)}
            mixes[split.workload] = {name: count for name, count in mix.items() if count}
    return mixes


def three_option_mixes(problem: Problem, relaxed: Bound) -> dict[str, tuple[dict[str, int], str]]:
    """Per option group (not a gang) the LP's last solution splits over three or more options:
    its replicas per option, whole (`_whole_replicas`), and the option the LP pays least for
    by throughput, the one some row holds back (else the LP would take it whole). The pass
    places such a mix only where it would take that option whole (`greedy._greedy`):
    placed always, seed 97 gained 11.41 USD/h (the pass took the L40S option whole past the
    on-prem L40S room) but seeds 87 / 82 lost 4.77 / 1.42 (docs/performance.md, session 48),
    where the pass took A10G whole (seed 87: `infer246`'s cheapest option L40S, 0.028 of its
    replicas in the LP)."""
    placed, index = _lp_replicas(relaxed)
    mixes = {}
    for group in problem.option_groups:
        in_lp = {name: float(placed[index[name]]) for name in group.demands
                 if name in index and placed[index[name]] > NOISE}
        if group.gang or len(in_lp) < 3:
            continue
        cheapest = min(in_lp, key=lambda name: _price_per_replica(problem, relaxed, index[name]) /
                       float(problem.demand(name).throughput))
        mixes[group.workload] = (_whole_replicas(problem, group.required, in_lp), cheapest)
    return mixes


def _lp_replicas(relaxed: Bound) -> tuple[np.ndarray, dict[str, int]]:
    """The replicas the LP's last solution places per (merged) demand, and each demand's index
    there (none where the LP left no solution)."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return np.zeros(0), {}
    placed = np.zeros(len(used.demands))
    np.add.at(placed, relaxation.pair_demand, values)
    return placed, {d.name: i for i, d in enumerate(used.demands)}


def _whole_replicas(problem: Problem, required: Fraction, in_lp: dict[str, float]) -> dict[str, int]:
    """A group the LP splits over three or more options, in whole replicas: each option's LP
    replicas rounded down, then one more at a time of the option the most short of its LP
    replicas until the group's throughput is served. Inventory 10,000 seed 97: `infer736` (LP:
    4.00 L4, 5.12 L40S, 0.32 A10G) was left to the pass, which took L40S whole, three replicas
    past the on-prem L40S room, and opened a 15.90 USD/h cloud L40S node for them; placed as
    5 L40S, 4 L4 and 1 A10G: 497.83 -> 486.42 USD/h at 5 s (3.29 -> 1.02%; session 48)."""
    replicas = {name: math.floor(amount + NOISE) for name, amount in in_lp.items()}

    def served() -> Fraction:
        return sum((count * problem.demand(name).throughput for name, count in replicas.items()), Fraction(0))

    while served() < required:
        short = max(in_lp, key=lambda name: in_lp[name] - replicas[name])
        replicas[short] += 1
    return {name: count for name, count in replicas.items() if count}


# the most (choice, replicas of either option so far) steps `_nearest` may take: inventory
# 10,000 has 3-8 split groups of 9-13 choices, ~16 and ~24 replicas of either option, ~30,000
# (~0.01 CPU s); 10 groups of 9 choices, 225,000: 0.05 s; 40 groups, 13.8 million: 2.9 s. Not
# measured beyond 10,000 nodes: there the groups are left to the pass's choice, as before
MOST_STATES = 100_000


def _nearest(splits: list[_Split]) -> list[int] | None:
    """Per split group, its replicas on the cheaper option (none to all; the dearer option's
    make up the rest), such that the groups' replicas of either option stay within the LP's
    (the cheaper's rounded half up, the dearer's up) and are as near the LP's as can be, in
    throughput (then at the least cost, as the LP prices each option's replicas): a knapsack
    over the groups, by dynamic programming. None where no choice keeps both, or the groups
    are too many for it (MOST_STATES): the groups are left to the pass's choice, as before.
    Seed 7, the first guided passes consolidated (the best of three): without mixes 580.80;
    each group rounded down, the dearer option up: 583.50 (27 L4 replicas where the LP has 24);
    the cheaper option's replicas within the LP's only, each group at the LP's price: 584.86
    (`infer607` took 12 L4 replicas where the LP has 4, the L4 room the LP gives `infer191`,
    which then took L40S room); within both: 579.89."""
    budget = math.floor(sum(split.in_lp for split in splits) + 0.5)
    dear_budget = math.ceil(sum(split.dear_in_lp for split in splits) - NOISE)
    if sum(split.whole() + 1 for split in splits) * (budget + 1) * (dear_budget + 1) > MOST_STATES:
        return None
    # per (cheaper, dearer replicas so far): (distance from the LP, cost, choices)
    best: dict[tuple[int, int], tuple[float, float, tuple[int, ...]]] = {(0, 0): (0.0, 0.0, ())}
    for split in splits:
        step: dict[tuple[int, int], tuple[float, float, tuple[int, ...]]] = {}
        for (cheap, dear), (distance, cost, chosen) in best.items():
            for replicas in range(split.whole() + 1):
                key = (cheap + replicas, dear + split.dear_replicas(replicas))
                if key[0] > budget or key[1] > dear_budget:
                    continue
                # (rounded: choices as near differ by float noise, and the order decides between them)
                value = (round(distance + split.distance(replicas), 9), round(cost + split.cost(replicas), 9),
                         chosen + (replicas,))
                if key not in step or value < step[key]:
                    step[key] = value
        best = step
    return list(min(best.values())[2]) if best else None


def _price_per_replica(problem: Problem, relaxed: Bound, demand: int) -> float:
    """What the LP pays for a replica of a (merged) option demand: over its pairs, each class's
    price times the largest share of a node a replica takes there, by its replicas there."""
    assert relaxed.problem is not None and relaxed.relaxation is not None and relaxed.pair_values is not None
    relaxation, values, option = relaxed.relaxation, relaxed.pair_values, relaxed.problem.demands[demand]
    classes = {c.id: c for c in problem.classes}
    member = {index: classes[class_id] for class_id, index in relaxation.class_index.items()
              if class_id in classes}
    pairs = [p for p in np.flatnonzero(relaxation.pair_demand == demand).tolist()
             if values[p] > NOISE and int(relaxation.pair_class[p]) in member]
    replicas = sum(float(values[p]) for p in pairs)
    paid = sum(float(values[p]) * _share_price(option.requests, member[int(relaxation.pair_class[p])])
               for p in pairs)
    return paid / replicas if replicas > 0 else 0.0


def _share_price(requests: Mapping[str, int], node_class: NodeClass) -> float:
    share = max((requests[r] / node_class.capacity[r] for r in RESOURCES
                 if node_class.capacity.get(r, 0) > 0 and requests.get(r, 0)), default=0.0)
    return float(node_class.price) * share

