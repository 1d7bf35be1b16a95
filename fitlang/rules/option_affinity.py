"""`affinity W on T` where W has accelerator options: every replica of the follower runs in a
domain of T (a node, a zone, a region, a label's value) where a replica of W of ANY option runs,
as kube-scheduler reads the `podAffinity` term fitc writes (it selects on W's
`app.kubernetes.io/name`, which the objects of every option carry).

The rule keeps W's name as its target (`model/build._views` names each option only for
`anti_affinity`, which keeps away from every option: one rule per option is exact there; here
it would ask for every option at once). The affinity rule (`rules/affinity.py`) calls this
module for the demands such a target names (`followed`), the rows on nodes (`node_rows`; over
zones and the like its domain rows take the options' presence summed) and its check reads the
domains of every option together.

Only the exact per-node model holds it: the fleet-scale stages (the greedy floor, realise,
the search) follow one demand. At fleet scale (`solve`, and `fitc plan`'s move) the policy is
solved with each such rule narrowed to one option of W (`narrowed`, `solve_narrowed`): every
placement of the narrowed policy holds the rule as written, so what is answered is verified
as usual, but its bound is not one of the policy (the narrowed one may cost more): the answer
states none, and never `optimal` nor `infeasible`, unless no other option may run near the
follower (then the narrowed policy is the policy). A horizon refuses options (E0906)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING

from fitlang.check.program import AffinityRule
from fitlang.model.problem import Demand, Problem

if TYPE_CHECKING:  # the solver's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.solve.encode import Encoding
    from fitlang.solve.groups import Group
    from fitlang.solve.placement_result import Placement


def options_of(problem: Problem, name: str) -> list[Demand]:
    """The option demands of workload `name` ([] where it has no options in the problem)."""
    for group in problem.option_groups:
        if group.workload == name:
            return [problem.demand(d) for d in group.demands]
    return []


def followed(problem: Problem, target: str) -> list[Demand]:
    """The demands an affinity towards `target` follows: the workload's own demand, or its
    options' ([] where the target is not in the problem: an explain trial dropped it)."""
    try:
        return [problem.demand(target)]
    except KeyError:
        return options_of(problem, target)


def towards_options(problem: Problem, rule: AffinityRule) -> bool:
    """Is `rule` an affinity towards a workload with options (not one of its demands)?"""
    return not rule.anti and rule.target != "self" and bool(options_of(problem, rule.target))


def in_problem(problem: Problem) -> bool:
    """Has any demand an affinity towards a workload with options?"""
    workloads = {group.workload for group in problem.option_groups}
    return any(not r.anti and r.target in workloads for d in problem.demands for r in d.affinities)


def node_rows(encoding: Encoding, demand: Demand, options: list[Demand], group: Group) -> None:
    """Per class c `demand` may use: n[w,c] <= sum over options o of n[o,c] (options never
    share a node: a node has one accelerator model, so the sum counts the nodes hosting W),
    and y[w,c] <= f * n[w,c], f the replicas of w that fit on a node beside one of the option
    most room is left beside; on a class no option may use, no replica."""
    from fitlang.rules.affinity import beside_counts

    model = encoding.model
    for class_id in demand.eligible:
        y = encoding.y[demand.name, class_id]
        hosts = [o for o in options if class_id in encoding.y.of.get(o.name, {})]
        if not hosts:
            model.add({y: 1}, upper=0, group=group)
            continue
        mine = encoding.hosting_count(demand, class_id)
        model.add({mine: 1, **{encoding.hosting_count(o, class_id): -1 for o in hosts}},
                  upper=0, group=group)
        fit = encoding.fit.of[demand.name][class_id]
        beside = max(int(beside_counts(encoding, demand, o, [class_id], fit)[0]) for o in hosts)
        if beside < fit:
            model.add({y: 1, mine: -beside}, upper=0, group=group)


# ---- fleet scale: each rule narrowed to one option ---------------------------------------

def narrowed(problem: Problem) -> tuple[Problem, bool]:
    """The problem with each affinity towards an option workload made an affinity towards one
    of its options: the one with the most nodes the follower could run beside (on nodes) or
    in its domains (over a zone or the like). Stricter than the rule: a placement of it holds
    the rule. And whether it is the same problem: no other option may run there (a fleet with
    one of the accelerator models only, or each in zones of its own)."""
    demands, same = [], True
    for demand in problem.demands:
        rules = []
        for rule in demand.affinities:
            if towards_options(problem, rule):
                room = _room(problem, demand, rule)
                options = options_of(problem, rule.target)
                chosen = max(options, key=lambda o: (room(o), -options.index(o)))
                same &= not any(room(o) for o in options if o is not chosen)
                rule = dataclasses.replace(rule, target=chosen.name)
            rules.append(rule)
        demands.append(demand if rules == demand.affinities
                       else dataclasses.replace(demand, affinities=rules))
    return problem.with_demands(demands), same


def _room(problem: Problem, demand: Demand, rule: AffinityRule) -> Callable[[Demand], int]:
    """The nodes of an option the follower could run beside (on nodes), or in whose domains
    it could run."""
    mine = set(demand.eligible)
    if rule.topology == "node":
        def beside(option: Demand) -> int:
            return sum(problem.node_class(c).count for c in option.eligible if c in mine)
        return beside
    domains = {problem.node_class(c).topology_value(rule.topology) for c in mine} - {None}

    def near(option: Demand) -> int:
        return sum(problem.node_class(c).count for c in option.eligible
                   if problem.node_class(c).topology_value(rule.topology) in domains)
    return near


def solve_narrowed(problem: Problem, solve: Callable[[Problem], Placement]) -> Placement:
    """`solve` of the narrowed problem. Where narrowing changed the problem, what the solve
    proves of the narrowed one is dropped: no bound, `optimal` read as `feasible` and
    `infeasible` as `unknown`."""
    problem, same = narrowed(problem)
    placement = solve(problem)
    return placement if same else unproven(placement)


def unproven(placement: Placement) -> Placement:
    """A narrowed problem's placement with what its solve proves dropped: no bound, `optimal`
    read as `feasible` and `infeasible` as `unknown` (the policy may cost less)."""
    from fitlang.solve.linear import Status

    placement.bound = None
    placement.proven_infeasible = False
    if placement.status is Status.OPTIMAL:
        placement.status = Status.FEASIBLE
    elif placement.status is Status.INFEASIBLE:
        placement.status = Status.UNKNOWN
    return placement
