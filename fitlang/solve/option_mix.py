"""The option groups the pair LP places with more than one option, as whole replicas per option.

A workload with accelerator options may mix them (docs/language.md: the replicas of every option
serve the same work). The greedy pass places each option group whole on one option; where a
cheap option is scarce (the on-prem L40S nodes of the inventory shape, which the LP fills), a
group the LP splits between it and a dearer option takes the cheap one whole, more of it than
the LP gives that group, and a group the LP puts on it whole finds none left at its turn.
Inventory 10,000 seed 20: `infer250` and `infer524` (the LP: 4 L40S + 6 L4 replicas each) took
8 L40S replicas each, then `infer915` and `infer962` (the LP: 5 L40S replicas each) opened 16 L4
replicas' nodes (19 USD/h); the first guided pass, consolidated, 611.81 USD/h. Placed as the LP
mixes them (`Guide.mixes`), the groups use the scarce option as the LP does."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.bound import Bound

# an LP share below this is rounding noise, not a replica
NOISE = 1e-6


def option_mixes(problem: Problem, relaxed: Bound) -> dict[str, dict[str, int]]:
    """Per option group (not a gang: it runs on one option) that the LP's last solution places
    with two or more options: each option's replicas as whole counts (`_whole_mix`) that deliver
    the group's throughput; {} where the LP left no solution."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return {}
    placed = np.zeros(len(used.demands))
    np.add.at(placed, relaxation.pair_demand, values)
    by_name = {d.name: float(placed[i]) for i, d in enumerate(used.demands)}
    mixes = {}
    for group in problem.option_groups:
        shares = {name: by_name.get(name, 0.0) for name in group.demands}
        if group.gang or sum(1 for share in shares.values() if share > NOISE) < 2:
            continue
        mix = _whole_mix(problem, group.required, shares)
        if sum(1 for count in mix.values() if count) >= 2:
            mixes[group.workload] = {name: count for name, count in mix.items() if count}
    return mixes


def _whole_mix(problem: Problem, required: Fraction, shares: dict[str, float]) -> dict[str, int]:
    """Each option's LP replicas rounded down, then one more at a time on the option with the
    largest fraction left (ties: the policy's order) until the throughput is delivered: the LP's
    use of each option kept, less than a replica over it per option."""
    counts = {name: math.floor(share + NOISE) for name, share in shares.items()}
    throughput = {name: problem.demand(name).throughput for name in shares}
    order = sorted(shares, key=lambda name: -(shares[name] - counts[name]))
    while sum((throughput[name] * counts[name] for name in counts), Fraction(0)) < required:
        name = order.pop(0) if order else max(shares, key=shares.__getitem__)
        counts[name] += 1
    return counts
