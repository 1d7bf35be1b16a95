"""Repairs: each changes one part of the full policy by the least amount that works, and
each is checked by finding a placement of the repaired policy."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from fractions import Fraction

from fitlang.model.problem import NodeClass, Problem
from fitlang.rules import replicas
from fitlang.rules.base import PartKind
from fitlang.rules.explaining import demands_of, money, where
from fitlang.rules.taints import tolerated
from fitlang.solve.backends import HighsBackend
from fitlang.solve.encode import encode
from fitlang.solve.explain.checks import _left, decide
from fitlang.solve.explain.checks import _now as now
from fitlang.solve.explain.parts import (
    Part,
    Trial,
    _copy,
    _exclusion_part,
    _grown,
    _reading_order,
    _with_buy_limit,
    _with_pool,
    dropped,
    parts,
    rule_of,
    with_parts,
)
from fitlang.solve.explain.reasons import _reason, _rule_reason
from fitlang.solve.explain.results import Explanation, Repair
from fitlang.solve.explain.search import (
    could_fit,
    decided_without,
    least_cost,
    per_node,
    pools_named,
    ruled_out,
    works,
)
from fitlang.solve.home_regions import counts_at_home

_POOLS_AND_LIMITS = (PartKind.CAPACITY, PartKind.BUDGET, PartKind.BUY, PartKind.POWER)
_COUNTS = (PartKind.CAPACITY, PartKind.REPLICAS, PartKind.BUY, PartKind.BUDGET)  # `_applied` sets


def _repairs(problem: Problem, conflict: list[Part], explanation: Explanation,
             deadline: float) -> None:
    found: list[tuple[Repair, Fraction]] = []  # each with the cost of what it leaves out
    fleet = not per_node(problem)
    # at fleet scale the repairs' costs are found last (`_priced`), in the time the search
    # left: a repair found comes before its least cost
    scope, rest_cost = _repair_scope(problem, conflict, deadline)
    for part in conflict:
        if now() >= deadline:
            explanation.repairs_cut_short = True
            break
        repair = _repair(scope, part, deadline)
        if repair is not None and repair.text not in {r.text for r, _ in found}:
            found.append((repair, rest_cost))
    found = one_per_instance_type(scope, found)
    if not explanation.repairs_cut_short and now() < deadline:
        bought = _buy_repair(problem, deadline)
        if bought is not None:
            found.append((bought, Fraction(0)))  # checked on the whole policy
    elif now() >= deadline:
        explanation.repairs_cut_short = True
    explanation.repairs = _priced(found, deadline) if fleet else [r for r, _ in found]
    if not found and not explanation.repairs_cut_short:
        explanation.no_single_repair = True
        pair = _pair(problem, conflict, deadline)
        # (each checked on the whole policy: nothing placed apart to add)
        explanation.pair = _priced([(r, Fraction(0)) for r in pair], deadline) if fleet else pair
        explanation.repairs_cut_short = now() >= deadline and not explanation.pair


def one_per_instance_type(problem: Problem, found: list[tuple[Repair, Fraction]]
                          ) -> list[tuple[Repair, Fraction]]:
    """An inventory's nodes of one instance type, classes apart (by what running pods leave on
    them, zones), each had its capacity repair: session 59's outside user read "add 4 nodes
    like those of `eks/m7i.2xlarge`" four times, once per class. One per type and price is
    kept: the fewest nodes, then the cheapest, then the first (each checked as it is)."""
    kept: dict[tuple, int] = {}
    for index, (repair, _) in enumerate(found):
        key = _instance_type_key(problem, repair)
        if key is not None and (key not in kept or _fewer_nodes(repair, found[kept[key]][0])):
            kept[key] = index
    return [(repair, rest) for index, (repair, rest) in enumerate(found)
            if (key := _instance_type_key(problem, repair)) is None or kept[key] == index]


def _instance_type_key(problem: Problem, repair: Repair) -> tuple | None:
    """(inventory, instance type, price) of a repair that adds nodes to an inventory, else None."""
    if repair.part.kind is not PartKind.CAPACITY or repair.step is None:
        return None
    node_class = problem.node_class(repair.part.subject)
    if node_class.provisioned or "count" in node_class.spans or node_class.instance_type is None:
        return None
    return node_class.pool, node_class.instance_type, node_class.price


def _fewer_nodes(repair: Repair, than: Repair) -> bool:
    def rank(r: Repair) -> tuple:
        return r.step, r.cost is None, r.cost or 0
    return rank(repair) < rank(than)


def _priced(found: list[tuple[Repair, Fraction]], deadline: float) -> list[Repair]:
    """At fleet scale a repair's search asks of each trial only that it works, so the cost it
    found is that of some placement (up to 25 times the least, measured on inventory 300).
    Each repair whose check did not minimise is solved again for its cheapest placement, in
    turn, each with its share of the time left; one not reached (or not placed whole by
    `solve` in its time) keeps the cost found, not called the least. (Small fleets' checks
    minimise already.) `found` pairs each repair with the cost of the rest of the policy,
    placed apart (`_repair_scope`)."""
    priced = []
    for index, (repair, rest_cost) in enumerate(found):
        checked = repair.checked
        if checked is not None and not checked.least:
            solved = None
            if checked.trial is not None:
                solved = least_cost(checked.trial, now() + (deadline - now()) / (len(found) - index))
            cost = repair.cost
            if solved is not None and solved.cost is not None:  # (the search's may be as cheap)
                cost = solved.cost if cost is None else min(cost, solved.cost)
            repair = dataclasses.replace(repair, cost=cost, least=solved is not None and solved.least)
        if repair.cost is not None:
            repair = dataclasses.replace(repair, cost=repair.cost + rest_cost)
        priced.append(repair)
    return priced


def _repair_scope(problem: Problem, conflict: list[Part],
                  deadline: float) -> tuple[Problem, Fraction]:
    """At fleet scale, where each check of a repaired policy packs every node: the part of
    the policy the repairs change, and the cost of a placement of the rest, found once.

    The scope: the conflict's workloads and every pool they may use (or be readmitted to by
    a relaxed rule), grown by the workloads linked to them by a rule, those that may use
    only those pools and those whose spreads would count other domains without them. The
    rest is placed once on the other pools. A repair of the scope then repairs the policy:
    the two placements side by side are one (no pool, rule or shared limit between them),
    and any placement of the policy places the scope. So the least change found on the
    scope is the least for the policy, each check a fraction of the size. (Not when a
    budget, power cap, `buy` limit or run of interchangeable nodes ties pools together, or
    the rest does not fit apart: then the repairs check the policy.)"""
    whole = (problem, Fraction(0))
    if per_node(problem) or problem.budget is not None \
            or problem.power_caps or problem.buy_limits or problem.symmetric:
        return whole
    workloads = {p.subject for p in conflict
                 if p.subject and p.kind not in _POOLS_AND_LIMITS}
    pools = {p.subject for p in conflict if p.kind is PartKind.CAPACITY}
    workloads, pools = _closed_scope(problem, workloads, pools)
    rest = [d for d in problem.demands if d.workload not in workloads]
    if not rest or now() >= deadline:
        return whole
    apart = _copy(dataclasses.replace(
        problem, demands=[dataclasses.replace(d, eligible=[c for c in d.eligible if c not in pools])
                          for d in rest],
        option_groups=[g for g in problem.option_groups if g.workload not in workloads]))
    check = decide(Trial(apart), deadline, cheapest=True)  # once: the rest's least cost
    if not check.placed or check.cost is None:
        return whole
    scope = _copy(dataclasses.replace(
        problem, demands=[d for d in problem.demands if d.workload in workloads],
        option_groups=[g for g in problem.option_groups if g.workload in workloads]))
    return scope, check.cost


def _closed_scope(problem: Problem, workloads: set[str],
                  pools: set[str]) -> tuple[set[str], set[str]]:
    """Grow (workloads, pools) until closed: the pools the workloads may use or be
    readmitted to, the workloads a rule links to them (either way), those left no pool."""
    # (a rule towards a workload with options names the workload: `rules/option_affinity.py`)
    workload_of = {name: d.workload for d in problem.demands for name in (d.name, d.workload)}
    linked: dict[str, set[str]] = {}
    for demand in problem.demands:
        for rule in demand.affinities:
            target = workload_of.get(rule.target)
            if target and target != demand.workload:
                linked.setdefault(demand.workload, set()).add(target)
                linked.setdefault(target, set()).add(demand.workload)
    reach: dict[str, set[str]] = {}
    eligible: dict[str, set[str]] = {}
    for demand in problem.demands:
        reach.setdefault(demand.workload, set()).update(
            demand.eligible, (c for c, reasons in demand.failing.items()
                              if not any(r.fact for r in reasons)))
        eligible.setdefault(demand.workload, set()).update(demand.eligible)
    spreads: dict[str, set[str]] = {}
    for demand in problem.demands:
        spreads.setdefault(demand.workload, set()).update(s.topology for s in demand.spreads)
    grew = True
    while grew:
        before = (len(workloads), len(pools))
        for workload in list(workloads):
            pools |= reach.get(workload, set())
            workloads |= linked.get(workload, set())
        workloads |= {w for w, classes in eligible.items()
                      if classes <= pools or _domains_change(problem, classes, pools, spreads[w])}
        grew = (len(workloads), len(pools)) != before
    return workloads, pools


def _domains_change(problem: Problem, classes: set[str], pools: set[str],
                    topologies: set[str]) -> bool:
    """Would keeping a workload off `pools` change the domains its spreads count (a spread
    counts every domain of its pools, empty ones too)? Each node is a domain of a spread
    over nodes."""
    if not topologies or not classes & pools:
        return False
    if "node" in topologies:
        return True
    def values(ids: set[str], topology: str) -> set:
        return {problem.node_class(c).topology_value(topology) for c in ids} - {None}
    return any(values(classes, t) != values(classes - pools, t) for t in topologies)


def _repair(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """The part's rule's repair (`Rule.repairs`); for an exclusion whose rule has none (or
    whose hook leaves it to explain: None), the rule relaxed or dropped. None for a rule of a
    workload the policy no longer places (a pair's first change lowered it to no replicas)."""
    if part.kind not in _POOLS_AND_LIMITS and part.subject \
            and not any(d.workload == part.subject for d in problem.demands):
        return None
    rule = rule_of(part)
    repair = rule.repairs(problem, part, deadline) \
        if rule is not None and rule.repairs is not None else None
    if repair is None and part.kind is PartKind.RULE:
        return _relaxed_rule(problem, part, deadline)
    return repair


def _relaxed_rule(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """An exclusion's rule relaxed to the bound that admits the pools it keeps the workload
    off (`Exclusion.relaxed`, when they agree on one), else dropped."""
    check = decided_without(problem, part, deadline)
    if check is None:
        return None
    reason = _rule_reason(problem, part)
    bounds = {r.relaxed for d in demands_of(problem, part.subject)
              for class_id, reasons in d.failing.items() for r in reasons
              if _exclusion_part(d, r) == part and could_fit(problem, d, class_id, reasons)}
    target = bounds.pop() if len(bounds) == 1 else None
    pools, _ = ruled_out(problem, part)
    pools = _freed(problem, part, pools)
    # (no pool: a conflict not narrowed down, where the rule may not be needed)
    also = pools_named(problem, pools) if pools else reason.text
    text = (f"relax `{part.key}`{where(reason.origin)} to `{target}`" if target else
            f"drop `{part.key}`{where(reason.origin)}") + f" so that `{part.subject}` may also run on {also}"
    return Repair(part, text, reason.origin, part.key, target, check.cost, checked=check)


def _freed(problem: Problem, part: Part, pools: list[str]) -> list[str]:
    """The pools the part alone keeps its workload off: what dropping it lets the workload
    run on ("may also run on" named Trainium offers a TPU job's `residency` and its `model`
    both rule out)."""
    demands = demands_of(problem, part.subject)
    return [c for c in pools if any(
        c in d.failing and all(_exclusion_part(d, r) == part for r in d.failing[c]) for d in demands)]


def _buy_repair(problem: Problem, deadline: float) -> Repair | None:
    """Offers in scope where no `buy` allows buying them: what would buying them take? One
    that a block's `regions` keep out is bought as that block would buy it there (its limit,
    spot, reservations): the change is the region added to its `regions`."""
    if not problem.spare_offers:
        return None
    trial = dataclasses.replace(
        problem, classes=problem.classes + problem.spare_offers,
        demands=[dataclasses.replace(d, eligible=d.eligible + [
            c.id for c in problem.spare_offers if c.id not in d.failing]) for d in problem.demands])
    encoding = encode(trial, must_place=True)
    outcome = HighsBackend().minimise(encoding.model, encoding.objective("cost"), _left(deadline))
    if outcome.solution is None:
        return None
    # (node counts u are whole columns: HiGHS gives them as int)
    found = {c.id: int(outcome.solution[encoding.u[c.id]]) for c in trial.spare_offers}
    # at a price tie in the policy's own region (`home_regions.py`), where that works too
    at_home = counts_at_home(trial, trial.spare_offers, found)
    for counts in [at_home, found] if at_home != found else [found]:
        # checked like every other repair: the offers bounded to what this placement buys
        bounded = dataclasses.replace(trial, classes=[
            _grown(c, counts[c.id]) if c.id in counts else c for c in trial.classes])
        check = works(bounded, deadline, cheapest=True)
        if check.placed:
            break
    else:
        return None
    changes = []
    for group in sorted({c.buy_group for c in trial.spare_offers if counts[c.id]},
                        key=lambda g: -1 if g is None else g):
        bought = [c for c in trial.spare_offers if counts[c.id] and c.buy_group == group]
        if group is None:
            changes.append(f"allow buying {_nodes(bought, counts)} (add a `buy` block)")
            continue
        named = problem.buy_names.get(group, "the `buy` block") + where(problem.buy_origins.get(group))
        providers = problem.buy_providers.get(group)
        other = [c for c in bought if providers is not None and c.provider not in providers]
        if other:  # of a provider its `providers` leave out (sold in its regions)
            names = list(dict.fromkeys(str(c.provider) for c in other))
            changes.append(f"let {named} buy {' and '.join(names)}'s offers (add "
                           f"{', '.join(names)} to its `providers`): {_nodes(other, counts)}")
        kept = [c for c in bought if c not in other]  # in a region its `regions` leave out
        if kept:
            regions = list(dict.fromkeys(c.region for c in kept if c.region))
            changes.append(f"let {named} buy in {', '.join(regions)} (add "
                           f"{'it' if len(regions) == 1 else 'them'} to its `regions`): "
                           f"{_nodes(kept, counts)}")
    if not changes:
        return None
    return Repair(Part(PartKind.BUY, key="new"), "; ".join(changes), None, None, None, check.cost,
                  checked=check)


def _nodes(bought: list[NodeClass], counts: dict[str, int]) -> str:
    """'3 x g6.xlarge (`aws_g6_xlarge`) in eu-central-1 at 1.01 USD/h each, ...'."""
    return ", ".join(f"{counts[c.id]} x {c.instance_type} (`{c.offer}`) in {c.region} at "
                     f"{money(c.price)} USD/h each" for c in bought)


def _pair(problem: Problem, conflict: list[Part], deadline: float) -> list[Repair]:
    """No single change is enough: the first two that are, in reading order, each by its
    least amount. The first is sized with the second dropped, the second is searched (and so
    checked) on the policy with the first applied."""
    for first in conflict:
        if now() >= deadline:
            return []
        for second in sorted(parts(problem), key=_reading_order):
            if second == first or now() >= deadline:
                continue
            if not decide(with_parts(problem, _all_but(first, second)), deadline).placed:
                continue
            if second.kind in (PartKind.REPLICAS, PartKind.THROUGHPUT):
                continue  # a workload's replicas: not a change to size against
            without_second, numbered = dropped(problem, second)
            one = _repair(without_second, numbered(first), deadline)
            if one is None:
                continue
            one = _as_applied(problem, dataclasses.replace(one, part=first))
            with_first, numbered = _applied(problem, one)
            two = _repair(with_first, numbered(second), deadline)
            if two is not None:
                return [one, dataclasses.replace(two, part=second)]
    return []


def _all_but(*dropped: Part) -> Callable[[Part], bool]:
    """Every part enforced but `dropped`."""
    return lambda part: part not in dropped


def _as_applied(problem: Problem, repair: Repair) -> Repair:
    """A repair as `_applied` makes it: a rule is dropped, not relaxed (which is more than the
    repair said, so the text says so too)."""
    if repair.part.kind in _COUNTS or repair.after is None or repair.drops_part:
        return repair
    return dataclasses.replace(repair, text=_drop_text(problem, repair.part), after=None, fix=None)


def _applied(problem: Problem, repair: Repair) -> tuple[Problem, Callable[[Part], Part]]:
    """The policy with the repair made, and its parts as the result numbers them."""
    part = repair.part
    value = repair.value  # what `after` shows, as a number (set by the repairs of these kinds)
    if repair.requests is not None:
        return replicas.with_requests(problem, part.subject, repair.requests), _same
    if part.kind in _COUNTS and value is not None:
        if part.kind is PartKind.CAPACITY:
            return _with_pool(problem, part.subject, int(value)), _same
        if part.kind is PartKind.REPLICAS:
            return problem.with_demand(part.subject, replicas=int(value)), _same
        if part.kind is PartKind.BUY:
            return _with_buy_limit(problem, part.position, int(value), int(value)), _same
        return dataclasses.replace(problem, budget=value), _same
    without, numbered = dropped(problem, part)
    if repair.tolerate is not None:  # the toleration the part lacked, beside the others
        for also in sorted(tolerated(problem, part.subject, repair.tolerate) - {part}, key=str):
            without, _ = dropped(without, also)  # (a taint's part: no rule renumbered)
        without = dataclasses.replace(without, demands=[
            dataclasses.replace(d, tolerate=repair.tolerate) if d.workload == part.subject else d
            for d in without.demands])
    return without, numbered


def _same(part: Part) -> Part:
    return part


def _drop_text(problem: Problem, part: Part) -> str:
    reason = _reason(problem, part)
    return f"drop this rule{where(reason.origin)}: {reason.text}"
