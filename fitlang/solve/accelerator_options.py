"""Which accelerator option each workload takes, from a small LP over the accelerator side alone
(issue 15, the inventory shape at 50,000 nodes).

The greedy pass chooses each option group's option by what it costs at the group's turn, so
the first groups take the scarce cheap accelerators whatever they save there. The relaxations'
solutions say better (`placement._guided_floor` orders the options as the pair LP uses them),
but at 50,000 inventory nodes the pair LP does not converge within the limit, and the zoned
one (coarse.py) converges only after the floor and its rebuild have been made; a second greedy
pass and rebuild after it did not fit in a 30 s run. Here the pair LP (bound.py) runs on the
sub-problem of the workloads that ask for an accelerator and the classes they may use: at
50,000 inventory nodes 985 demands on 221 classes, 9,378 pairs, converged in 0.2-0.3 CPU s,
so the floor itself can be placed with the options in the order it uses them.

What the sub-problem leaves out (the other workloads, which may share the accelerator nodes'
CPU and memory; rules towards them; the budget) makes it a guide, not a bound: nothing here is
stated as a bound.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from fitlang.model.problem import Problem
from fitlang.solve.bound import Bound, lower_bound

# the accelerator resource (`RESOURCES`): a workload asking for some is on the accelerator side
ACCELERATOR = "gpu"


def has_choices(problem: Problem) -> bool:
    """Has some option group more than one option (an order to choose)?"""
    return any(len(group.demands) > 1 for group in problem.option_groups)


def accelerator_problem(problem: Problem) -> Problem:
    """The workloads that ask for an accelerator, on the classes they may use; the rules
    between them kept, those towards other workloads, the budget and the other classes' power
    dropped; option groups kept where all their options are in."""
    demands = [d for d in problem.demands if d.requests.get(ACCELERATOR, 0)]
    names = {d.name for d in demands}
    ids = {class_id for d in demands for class_id in d.eligible}
    demands = [dataclasses.replace(d, affinities=[r for r in d.affinities
                                                  if r.target == "self" or r.target in names])
               for d in demands]
    return dataclasses.replace(
        problem, demands=demands, classes=[c for c in problem.classes if c.id in ids],
        option_groups=[g for g in problem.option_groups if all(n in names for n in g.demands)],
        power_caps=[dataclasses.replace(cap, classes=[c for c in cap.classes if c in ids])
                    for cap in problem.power_caps],
        budget=None, symmetric=[])


def accelerator_options(problem: Problem, objective: str,
                        deadline: float | None = None) -> dict[str, list[str]]:
    """Per option group with a choice, its options in the order the accelerator side's pair LP
    uses them (`options_of`); {} where there is no choice or the LP has no solution in time."""
    if not has_choices(problem):
        return {}
    return options_of(lower_bound(accelerator_problem(problem), objective, deadline))


def options_of(relaxed: Bound) -> dict[str, list[str]]:
    """From a relaxation's last solution: per option group, its options by the share of its
    replicas placed with each, most first (ties: the policy's order)."""
    used, values, relaxation = relaxed.problem, relaxed.pair_values, relaxed.relaxation
    if used is None or values is None or relaxation is None:
        return {}
    placed = np.zeros(len(used.demands))
    np.add.at(placed, relaxation.pair_demand, values)
    share = {d.name: placed[i] / max(d.replicas, 1) for i, d in enumerate(used.demands)}
    return {group.workload: sorted(group.demands, key=lambda name: -share.get(name, 0.0))
            for group in used.option_groups}
