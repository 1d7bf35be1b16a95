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
take it whole), so the rounding keeps, per accelerator model, the split groups' replicas on
their cheaper option within what the LP gives them together, and spends that on the groups
where it saves most (`_budgeted`).
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
    the LP pays for them, by throughput): its replicas on the cheaper one in the LP."""

    workload: str
    required: Fraction
    cheap: str
    dear: str
    cheap_throughput: Fraction
    dear_throughput: Fraction
    cheap_price: float
    dear_price: float
    in_lp: float

    def dear_replicas(self, cheap: int) -> int:
        """The dearer option's replicas that deliver the rest beside `cheap` of the cheaper."""
        rest = self.required - cheap * self.cheap_throughput
        return max(0, math.ceil(rest / self.dear_throughput))

    def cost(self, cheap: int) -> float:
        return cheap * self.cheap_price + self.dear_replicas(cheap) * self.dear_price


def option_mixes(problem: Problem, relaxed: Bound) -> dict[str, dict[str, int]]:
    """Per option group (not a gang: it runs on one option) that the LP's last solution splits
    over two options: the replicas of each, whole (`_budgeted`; one of them may be none, the
    group then whole on the other). {} where the LP left no solution; groups split over
    three or more options are left to the pass's choice."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return {}
    index = {d.name: i for i, d in enumerate(used.demands)}
    placed = np.zeros(len(used.demands))
    np.add.at(placed, relaxation.pair_demand, values)
    by_model: dict[str, list[_Split]] = {}
    for group in problem.option_groups:
        options = [name for name in group.demands if name in index and placed[index[name]] > NOISE]
        if group.gang or len(options) != 2:
            continue
        price = {name: _price_per_replica(problem, relaxed, index[name]) for name in options}
        cheap, dear = sorted(options, key=lambda name: price[name] / float(problem.demand(name).throughput))
        split = _Split(group.workload, group.required, cheap, dear, problem.demand(cheap).throughput,
                       problem.demand(dear).throughput, price[cheap], price[dear],
                       float(placed[index[cheap]]))
        by_model.setdefault(problem.demand(cheap).option or cheap, []).append(split)
    mixes = {}
    for splits in by_model.values():
        for split, replicas in zip(splits, _budgeted(splits)):
            mix = {split.cheap: replicas, split.dear: split.dear_replicas(replicas)}
            mixes[split.workload] = {name: count for name, count in mix.items() if count}
    return mixes


def _budgeted(splits: list[_Split]) -> list[int]:
    """Per split group, its replicas on the cheaper option: the LP's rounded down, then one more
    on the groups where that saves most (as the LP prices each option's replicas), while the
    groups' replicas on it stay within the LP's, rounded half up. Each group then takes at
    most a replica more of either option than the LP gives it: rounded to whole options (the
    cheaper one's replicas anywhere from none to all), seed 7's `infer607` took 12 L4 replicas
    where the LP has 4, the L4 room the LP gives `infer191`, which then took L40S room."""
    cheap = [math.floor(split.in_lp + NOISE) for split in splits]
    spare = math.floor(sum(split.in_lp for split in splits) + 0.5) - sum(cheap)
    saving = {at: split.cost(cheap[at]) - split.cost(cheap[at] + 1) for at, split in enumerate(splits)
              if cheap[at] < split.in_lp - NOISE}
    for at in sorted(saving, key=lambda at: -saving[at])[:max(0, spare)]:
        if saving[at] > 0:
            cheap[at] += 1
    return cheap


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
