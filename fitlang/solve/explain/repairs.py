"""Repairs: each changes one part of the full policy by the least amount that works, and
each is checked by finding a placement of the repaired policy."""

from __future__ import annotations

import dataclasses
import enum
import math
from collections.abc import Callable
from fractions import Fraction

from fitlang.check.program import Origin
from fitlang.diagnostics import Fix
from fitlang.model.problem import Problem, one_class_per_node
from fitlang.solve.backends import HighsBackend
from fitlang.solve.encode import encode
from fitlang.solve.explain.checks import (
    PER_NODE_MAX_NODES,
    Check,
    _drop_required,
    _left,
    _now,
    decide,
)
from fitlang.solve.explain.parts import (
    FACTS,
    Part,
    Trial,
    _class_id,
    _copy,
    _exclusion_part,
    _grow,
    _reading_order,
    parts,
    with_parts,
)
from fitlang.solve.explain.reasons import (
    _buy_name,
    _could_fit,
    _demands_of,
    _latency_members,
    _money,
    _plural,
    _pools_listed,
    _reason,
    _rule_reason,
    _ruled_out,
    _where,
)
from fitlang.solve.explain.results import Explanation, Repair
from fitlang.solve.linear import Status

MAX_EXTRA_NODES = 4096




def _works(problem: Problem, deadline: float, cheapest: bool = False,
           optional: frozenset[str] = frozenset()) -> Check:
    # the cheapest placement is what a repair costs; at fleet scale that is a full optimisation
    # per trial, so there the cost is that of the placement found
    small = sum(c.count for c in problem.classes) <= PER_NODE_MAX_NODES
    return decide(Trial(problem, set(optional)), deadline, cheapest and small)


def _repairs(problem: Problem, conflict: list[Part], explanation: Explanation,
             deadline: float) -> None:
    found: list[Repair] = []
    scope, rest_cost = _repair_scope(problem, conflict, deadline)
    for part in conflict:
        if _now() >= deadline:
            explanation.repairs_cut_short = True
            break
        repair = _repair(scope, part, deadline)
        if repair is not None and repair.cost is not None and rest_cost:
            repair = dataclasses.replace(repair, cost=repair.cost + rest_cost)
        if repair is not None and repair.text not in {r.text for r in found}:
            found.append(repair)
    if not explanation.repairs_cut_short and _now() < deadline:
        bought = _buy_repair(problem, deadline)
        if bought is not None:
            found.append(bought)
    elif _now() >= deadline:
        explanation.repairs_cut_short = True
    explanation.repairs = found
    if not found and not explanation.repairs_cut_short:
        explanation.no_single_repair = True
        explanation.pair = _pair(problem, conflict, deadline)
        explanation.repairs_cut_short = _now() >= deadline and not explanation.pair


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
    if sum(c.count for c in problem.classes) <= PER_NODE_MAX_NODES or problem.budget is not None \
            or problem.power_caps or problem.buy_limits or problem.symmetric:
        return whole
    workloads = {p.subject for p in conflict
                 if p.subject and p.kind not in ("capacity", "budget", "buy", "power")}
    pools = {p.subject for p in conflict if p.kind == "capacity"}
    workloads, pools = _closed_scope(problem, workloads, pools)
    rest = [d for d in problem.demands if d.workload not in workloads]
    if not rest or _now() >= deadline:
        return whole
    apart = _copy(dataclasses.replace(
        problem, demands=rest, option_groups=[g for g in problem.option_groups
                                              if g.workload not in workloads]))
    for demand in apart.demands:
        demand.eligible = [c for c in demand.eligible if c not in pools]
    check = decide(Trial(apart), deadline)
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
    workload_of = {d.name: d.workload for d in problem.demands}
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
                              if not any(r.rule.startswith(FACTS) for r in reasons)))
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
    repairers = {"replicas": _fewer_replicas, "capacity": _more_nodes, "buy": _higher_buy_limit,
                 "budget": _higher_budget, "rule": _relaxed_rule, "affinity": _dropped_rule,
                 "exclusive": _dropped_rule, "gang": _dropped_rule, "spread": _wider_spread,
                 "latency": _longer_latency, "power": _higher_power_cap}
    repairer = repairers.get(part.kind)
    return repairer(problem, part, deadline) if repairer else None


def _smallest(works: Callable[[int], Check], low: int, high: int,
              deadline: float) -> tuple[int, Check] | None:
    """The smallest value in [low, high] that works (working is monotone in the value): by
    doubling the step from `low`, then halving back between the last failure and the first
    success. None when nothing up to `high` works, or time ran out before it was pinned down
    (no guess is offered)."""
    failed, step, tried = low - 1, 1, low
    found: tuple[int, Check] | None = None
    while _now() < deadline:
        tried = min(tried, high)
        check = works(tried)
        if check.placed:
            found = (tried, check)
            break
        failed = tried
        if tried >= high:
            return None
        tried, step = low + step, step * 2
    if found is None:
        return None
    top, best = found
    bottom = failed + 1
    while bottom < top and _now() < deadline:
        middle = (bottom + top) // 2
        check = works(middle)
        if check.placed:
            top, best = middle, check
        else:
            bottom = middle + 1
    return (top, best) if bottom >= top else None


class _Nothing(enum.Enum):
    WORKS = "nothing works"


NOTHING_WORKS = _Nothing.WORKS  # what `_bound` says when no placement exists at all


def _bound(problem: Problem, objective: Callable, deadline: float,
           optional: frozenset[str] = frozenset()) -> int | _Nothing | None:
    """A proven lower bound, rounded up, on the least value of `objective(encoding, model
    problem)` over placements of `problem` (node by node when small): where a search for the
    least change that works may start, instead of at 1 (at fleet scale each try costs seconds).
    NOTHING_WORKS when the model (a relaxation) has no solution: then no amount of the change
    the caller searches works either."""
    exact = sum(c.count for c in problem.classes) <= PER_NODE_MAX_NODES
    model_problem = one_class_per_node(problem) if exact else problem
    encoding = encode(model_problem, must_place=True)
    _drop_required(encoding.model, optional, throughput=False)
    outcome = HighsBackend().minimise(encoding.model, objective(encoding, model_problem),
                                      _left(deadline))
    if outcome.status is Status.INFEASIBLE:
        return NOTHING_WORKS
    if outcome.bound is None:
        return None
    return math.ceil(Fraction(outcome.bound) - Fraction(1, 10 ** 6))


def _fix(title: str, origin: Origin | None, text: str) -> Fix | None:
    return Fix(title, origin.span, text) if origin is not None else None


def _fewer_replicas(problem: Problem, part: Part, deadline: float,
                    optional: frozenset[str] = frozenset(), low: int = 1) -> Repair | None:
    replicas = problem.demand(part.subject).replicas

    def works(fewer: int) -> Check:
        trial = _copy(problem)
        trial.demand(part.subject).replicas = replicas - fewer
        return _works(trial, deadline, True, optional)

    # the most replicas placeable (an upper bound) gives the fewest to take away
    least = _bound(problem, lambda e, _: {e.placed[part.subject]: -1}, deadline,
                   optional | {part.subject})
    if least is NOTHING_WORKS:  # the rest does not fit even with none of these replicas
        return None
    if least is not None:
        low = max(low, replicas + least)
    found = _smallest(works, low, replicas - 1, deadline)
    if found is None:
        return None
    most = replicas - found[0]
    origin = problem.demand(part.subject).spans.get("replicas")
    text = f"lower `{part.subject}` replicas from {replicas} to {most}"
    return Repair(part, text, origin, str(replicas), str(most), found[1].cost,
                  _fix(text, origin, str(most)), found[0], Fraction(most))


def _more_nodes(problem: Problem, part: Part, deadline: float,
                optional: frozenset[str] = frozenset(), low: int = 1) -> Repair | None:
    count = problem.node_class(part.subject).count

    def works(extra: int) -> Check:
        trial = _copy(problem)
        node_class = trial.node_class(part.subject)
        _grow(node_class, count + extra)
        trial.symmetric = [run for run in trial.symmetric if part.subject not in run]
        return _works(trial, deadline, True, optional)

    grown = _copy(problem)
    _grow(grown.node_class(part.subject),
          count + min(MAX_EXTRA_NODES, sum(d.replicas for d in problem.demands)))
    grown.symmetric = [run for run in grown.symmetric if part.subject not in run]
    # node by node (small fleets) each node is a class: which pool it is in
    exact = sum(c.count for c in grown.classes) <= PER_NODE_MAX_NODES
    owners = grown.owners() if exact else None
    # under `spread node` an idle node is a domain with 0 replicas: the fewest nodes used in
    # a larger pool says nothing of a pool of that size, so the search starts at `low`
    spread = any(s.topology == "node" and part.subject in {_class_id(owners, c) for c in d.eligible}
                 for d in grown.demands for s in d.spreads)
    least = None if spread else _bound(grown, lambda e, p: {e.u[c.id]: 1 for c in p.classes
                                        if _class_id(owners, c.id) == part.subject}, deadline, optional)
    if least is NOTHING_WORKS:  # not even with as many nodes as there are replicas
        return None
    if least is not None:
        low = max(low, least - count)
    found = _smallest(works, low, MAX_EXTRA_NODES, deadline)
    if found is None:
        return None
    extra = found[0]
    origin = problem.node_class(part.subject).spans.get("count")
    text = (f"add {_plural(extra, 'node')} to pool `{part.subject}` "
            f"(count = {count + extra})")
    return Repair(part, text, origin or problem.node_class(part.subject).origin, str(count),
                  str(count + extra), found[1].cost, _fix(text, origin, str(count + extra)), extra,
                  Fraction(count + extra))


def _higher_buy_limit(problem: Problem, part: Part, deadline: float,
                      optional: frozenset[str] = frozenset(), low: int = 1) -> Repair | None:
    group = part.position
    limit = problem.buy_limits[group]
    enough = sum(d.replicas for d in problem.demands)

    def works(extra: int) -> Check:
        trial = _copy(problem)
        trial.buy_limits[group] = limit + extra
        for node_class in trial.classes:
            if node_class.buy_group == group and node_class.count < limit + extra:
                _grow(node_class, min(limit + extra, enough))
        return _works(trial, deadline, True, optional)

    found = _smallest(works, low, max(low, enough), deadline)
    if found is None:
        return None
    most = limit + found[0]
    text = f"raise max_count of the `buy` block{_buy_name(problem, group)} from {limit} to {most}"
    return Repair(part, text, problem.buy_origins.get(group), str(limit), str(most), found[1].cost,
                  step=found[0], value=Fraction(most))


def _higher_budget(problem: Problem, part: Part, deadline: float) -> Repair | None:
    trial = _copy(problem)
    trial.budget = None
    cheapest = _works(trial, deadline, cheapest=True)
    if not cheapest.placed or cheapest.cost is None:
        return None
    # in whole cents, rounded up: a budget rounded down would not allow the placement
    cents = math.ceil(cheapest.cost * 100)
    budget = Fraction(cents, 100)
    trial.budget = budget
    check = _works(trial, deadline, cheapest=True)
    if not check.placed:
        return None
    shown = f"{cents // 100}.{cents % 100:02d}"
    text = f"raise the budget from {_money(problem.budget)} to {shown} USD/h"
    return Repair(part, text, problem.budget_origin, f"{_money(problem.budget)} USD/h",
                  f"{shown} USD/h", check.cost, _fix(text, problem.budget_origin, f"{shown} USD/h"),
                  value=budget)


def _decided_without(problem: Problem, part: Part, deadline: float):
    """The policy solved with `part` dropped and every workload required, or None when that
    still leaves replicas out (no repair then)."""
    trial = with_parts(problem, lambda p: p != part)
    trial.optional = set()
    check = decide(trial, deadline, cheapest=True)
    return check if check.placed else None


def _relaxed_rule(problem: Problem, part: Part, deadline: float) -> Repair | None:
    check = _decided_without(problem, part, deadline)
    if check is None:
        return None
    reason = _rule_reason(problem, part)
    bounds = {r.relaxed for d in _demands_of(problem, part.subject)
              for class_id, reasons in d.failing.items() for r in reasons
              if _exclusion_part(d, r.rule) == part and _could_fit(problem, d, class_id, reasons)}
    if part.key.startswith("dedicated"):
        dedicated = part.key.split('"')[1]
        text = f"let `{part.subject}` tolerate `{dedicated}` (`tolerate = [\"{dedicated}\"]`)"
        return Repair(part, text, reason.origin, None, f'tolerate = ["{dedicated}"]', check.cost)
    target = bounds.pop() if len(bounds) == 1 else None
    where = f" (line {reason.origin.span.line})" if reason.origin else ""
    pools, _ = _ruled_out(problem, part)
    # (no pool: a conflict not narrowed down, where the rule may not be needed)
    also = _pools_listed(pools) if pools else reason.text
    text = (f"relax `{part.key}`{where} to `{target}`" if target else
            f"drop `{part.key}`{where}") + f" so that `{part.subject}` may also run on {also}"
    return Repair(part, text, reason.origin, part.key, target, check.cost)


def _dropped_rule(problem: Problem, part: Part, deadline: float) -> Repair | None:
    check = _decided_without(problem, part, deadline)
    if check is None:
        return None
    reason = _reason(problem, part)
    where = f" (line {reason.origin.span.line})" if reason.origin else ""
    if part.kind == "exclusive":
        text = f"drop `exclusive = true` from `{part.subject}`{where}"
    elif part.kind == "gang":
        text = f"drop `gang = true` from `{part.subject}`{where}: let it mix options"
    else:
        rule = _demands_of(problem, part.subject)[0].affinities[part.position]
        verb = "anti_affinity" if rule.anti else "affinity"
        text = f"drop `{verb} {rule.target} on {rule.topology}` from `{part.subject}`{where}"
    return Repair(part, text, reason.origin, None, None, check.cost)


def _wider_spread(problem: Problem, part: Part, deadline: float) -> Repair | None:
    members = _demands_of(problem, part.subject)
    index = part.position
    skew = members[0].spreads[index].max_skew
    most = max(d.replicas for d in members)

    def works(wider: int) -> Check:
        trial = _copy(problem)
        for demand in _demands_of(trial, part.subject):
            demand.spreads[index] = dataclasses.replace(demand.spreads[index], max_skew=skew + wider)
        return _works(trial, deadline, cheapest=True)

    found = _smallest(works, 1, max(1, most - skew), deadline)
    rule = members[0].spreads[index]
    where = f" (line {rule.origin.span.line})" if rule.origin else ""
    if found is not None:
        value = skew + found[0]
        text = (f"raise max_skew of `{part.subject}`'s spread over {rule.topology}{where} "
                f"from {skew} to {value}")
        return Repair(part, text, rule.origin, str(skew), str(value), found[1].cost)
    check = _decided_without(problem, part, deadline)
    if check is None:
        return None
    text = f"drop the spread over {rule.topology} from `{part.subject}`{where}"
    return Repair(part, text, rule.origin, None, None, check.cost)


def _longer_latency(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """The smallest limit, among the round trips to the regions the workload may run in,
    that works."""
    members = _latency_members(problem, part.subject)
    index = next(i for i, r in enumerate(members[0].latency) if r.location == part.key)
    rule = members[0].latency[index]
    candidates = sorted({ms for d in members for c in d.eligible
                         if (ms := problem.latency_ms(part.key, problem.node_class(c))) is not None
                         and ms > rule.limit_ms})
    for limit in candidates:
        if _now() >= deadline:
            return None
        trial = _copy(problem)
        for demand in members:
            latency = trial.demand(demand.name).latency
            latency[index] = dataclasses.replace(latency[index], limit_ms=limit)
        check = _works(trial, deadline, cheapest=True)
        if check.placed:
            text = (f"raise the latency limit of `{part.subject}` for {part.key} from "
                    f"{float(rule.limit_ms):g} ms to {float(limit):g} ms")
            return Repair(part, text, rule.origin, f"{float(rule.limit_ms):g}ms",
                          f"{float(limit):g}ms", check.cost)
    return None


def _higher_power_cap(problem: Problem, part: Part, deadline: float) -> Repair | None:
    index = part.position
    cap = problem.power_caps[index]

    def works(extra_kw: int) -> Check:
        trial = _copy(problem)
        trial.power_caps[index] = dataclasses.replace(cap, cap_watts=cap.cap_watts + 1000 * extra_kw)
        return _works(trial, deadline, cheapest=True)

    found = _smallest(works, 1, 10 ** 6, deadline)
    if found is None:
        return None
    before = float(cap.cap_watts) / 1000
    text = f"raise power cap `{cap.name}` from {before:g} kW to {before + found[0]:g} kW"
    return Repair(part, text, cap.origin, f"{before:g}kW", f"{before + found[0]:g}kW", found[1].cost)


def _buy_repair(problem: Problem, deadline: float) -> Repair | None:
    """Offers in scope that no `buy` allows: what would buying from them take?"""
    if not problem.spare_offers:
        return None
    trial = _copy(problem)
    trial.classes = trial.classes + [dataclasses.replace(c) for c in problem.spare_offers]
    for demand in trial.demands:
        demand.eligible += [c.id for c in trial.spare_offers if c.id not in demand.failing]
    encoding = encode(trial, must_place=True)
    outcome = HighsBackend().minimise(encoding.model, encoding.objective("cost"), _left(deadline))
    if outcome.solution is None:
        return None
    # (node counts u are whole columns: HiGHS gives them as int)
    counts = {c.id: int(outcome.solution[encoding.u[c.id]]) for c in trial.spare_offers}
    # checked like every other repair: the offers bounded to what this placement buys
    for node_class in trial.classes:
        if node_class.id in counts:
            _grow(node_class, counts[node_class.id])
    check = _works(trial, deadline, cheapest=True)
    if not check.placed:
        return None
    parts_ = [f"{count} x {c.instance_type} (`{c.offer}`) in {c.region} at {_money(c.price)} USD/h each"
              for c in trial.spare_offers if (count := counts[c.id])]
    if not parts_:
        return None
    return Repair(Part("buy", key="new"), "allow buying " + ", ".join(parts_) + " (add a `buy` block)",
                  None, None, None, check.cost)


def _pair(problem: Problem, conflict: list[Part], deadline: float) -> list[Repair]:
    """No single change is enough: the first two that are, in reading order, each by its
    least amount. The first is sized with the second dropped, the second is searched (and so
    checked) on the policy with the first applied."""
    for first in conflict:
        if _now() >= deadline:
            return []
        for second in sorted(parts(problem), key=_reading_order):
            if second == first or _now() >= deadline:
                continue
            if not decide(with_parts(problem, _all_but(first, second)), deadline).placed:
                continue
            without_second = with_parts(problem, _all_but(second))
            if without_second.optional:
                continue  # the second is a workload's replicas: not a change to size against
            one = _repair(without_second.problem, first, deadline)
            if one is None:
                continue
            one = _as_applied(problem, one)
            two = _repair(_applied(problem, one), second, deadline)
            if two is not None:
                return [one, two]
    return []


def _all_but(*dropped: Part) -> Callable[[Part], bool]:
    """Every part enforced but `dropped`."""
    return lambda part: part not in dropped


def _as_applied(problem: Problem, repair: Repair) -> Repair:
    """A repair as `_applied` makes it: a rule is dropped, not relaxed (which is more than the
    repair said, so the text says so too)."""
    if repair.part.kind in ("capacity", "replicas", "buy", "budget") or repair.after is None:
        return repair
    return dataclasses.replace(repair, text=_drop_text(problem, repair.part), after=None, fix=None)


def _applied(problem: Problem, repair: Repair) -> Problem:
    part = repair.part
    value = repair.value  # what `after` shows, as a number (set by the repairs of these kinds)
    if part.kind in ("capacity", "replicas", "buy", "budget") and value is not None:
        trial = _copy(problem)
        if part.kind == "capacity":
            _grow(trial.node_class(part.subject), int(value))
            trial.symmetric = [run for run in trial.symmetric if part.subject not in run]
        elif part.kind == "replicas":
            trial.demand(part.subject).replicas = int(value)
        elif part.kind == "buy":
            group = part.position
            trial.buy_limits[group] = int(value)
            for node_class in trial.classes:
                if node_class.buy_group == group and node_class.count < int(value):
                    _grow(node_class, int(value))
        else:
            trial.budget = value
        return trial
    return with_parts(problem, lambda p: p != part).problem


def _drop_text(problem: Problem, part: Part) -> str:
    reason = _reason(problem, part)
    return f"drop this rule{_where(reason.origin)}: {reason.text}"
