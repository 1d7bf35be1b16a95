"""Why no placement exists, in source terms, and the smallest repairs that work.

Z3 gives an unsat core over the named constraint groups of the must-place
model; the core is minimised, each group is turned back into the rule that
produced it (with its source position), and then repairs are tried one at a
time, each checked by solving again: relax one rule (and to what value), add
nodes to one pool, or buy from an offer.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass, field
from fractions import Fraction

from fitlang import messages as msg
from fitlang.check.program import Origin
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Demand, NodeClass, Problem, replicas_per_node
from fitlang.solve.backends import HighsBackend, Z3Backend
from fitlang.solve.encode import encode
from fitlang.syntax.nodes import Span

MAX_EXTRA_NODES = 1024
REPAIR_SECONDS = 30.0  # each repair is checked by solving again: at fleet scale they add up


@dataclass
class Reason:
    text: str
    origin: Origin | None


@dataclass
class Explanation:
    feasible: bool
    reasons: list[Reason] = field(default_factory=list)
    repairs: list[str] = field(default_factory=list)
    repairs_cut_short: bool = False  # the time allowed ran out before every repair was tried


def feasible(problem: Problem, time_limit: float | None = None) -> bool:
    encoding = encode(problem, must_place=True)
    outcome = HighsBackend().minimise(encoding.model, {}, time_limit)
    return outcome.solution is not None


def explain(problem: Problem, time_limit: float | None = 30.0) -> Explanation:
    encoding = encode(problem, must_place=True)
    core = Z3Backend().unsat_core(encoding.model, time_limit)
    if core is None:
        return Explanation(True)
    explanation = Explanation(False, [_reason(problem, group) for group in core])
    deadline = _now() + (time_limit or REPAIR_SECONDS)
    explanation.repairs, explanation.repairs_cut_short = _repairs(problem, core, deadline)
    return explanation


def _reason(problem: Problem, group: str) -> Reason:
    kind, _, rest = group.partition(":")
    if kind == "replicas":
        demand = problem.demand(rest)
        need = _need(demand)
        gang = " as one gang" if demand.gang else ""
        return Reason(f"workload `{demand.name}` needs {demand.replicas} replicas{gang}, each {need}",
                      demand.spans.get("replicas", demand.origin))
    if kind in ("throughput", "gang") and rest in {g.workload for g in problem.option_groups}:
        return _options_reason(problem, rest)
    if kind == "eligible":
        return _eligibility_reason(problem, rest)
    if kind == "capacity":
        node_class = problem.node_class(rest)
        what = "may buy at most" if node_class.provisioned else "has"
        return Reason(f"pool `{node_class.id}` {what} {node_class.count} node"
                      f"{'s' if node_class.count != 1 else ''} of {_shape(node_class)}",
                      node_class.origin)
    if kind == "budget":
        return Reason(f"the budget is {float(problem.budget):.2f} USD/h", problem.budget_origin)
    if kind == "buy":
        return Reason(f"at most {problem.buy_limits[int(rest)]} nodes may be bought", None)
    if kind == "power":
        cap = problem.power_caps[int(rest)]
        return Reason(f"power cap `{cap.name}` allows {float(cap.cap_watts) / 1000:g} kW in {cap.scope}",
                      cap.origin)
    if kind == "latency":
        return _latency_reason(problem, *rest.rsplit(":", 1))
    if kind in ("affinity", "spread"):
        name, _, index = rest.rpartition(":")
        demand = problem.demand(name)
        rule = (demand.affinities if kind == "affinity" else demand.spreads)[int(index)]
        if kind == "affinity":
            verb = "anti_affinity" if rule.anti else "affinity"
            text = f"`{name}` has `{verb} {rule.target} on {rule.topology}`"
        else:
            text = f"`{name}` must spread over {rule.topology} with max_skew {rule.max_skew}"
        return Reason(text, rule.origin)
    return Reason(group, None)


def _options_reason(problem: Problem, workload: str) -> Reason:
    group = next(g for g in problem.option_groups if g.workload == workload)
    options = [problem.demand(name) for name in group.demands]
    if all(d.replicas * d.throughput == 1 for d in options):  # sized in replicas per option
        need = " or ".join(f"{d.replicas} x {d.option} ({_need(d)} each)" for d in options)
        return Reason(f"workload `{workload}` needs {need}"
                      + (", all on one option" if group.gang else ""), group.origin)
    each = ", ".join(f"{d.option} {float(d.throughput):g} per replica of {_need(d)}"
                     for d in options)
    how = "from one option" if group.gang else "from its options"
    return Reason(f"workload `{workload}` needs throughput {float(group.required):g} {how} "
                  f"({each})", group.origin)


def _latency_members(problem: Problem, name: str) -> list[Demand]:
    """The demands workload `name` became (its options, or itself), which its latency rules
    count together."""
    return next(m for m in problem.latency_demands() if m[0].workload == name)


def _latency_reason(problem: Problem, name: str, location: str) -> Reason:
    members = _latency_members(problem, name)
    rule = next(r for r in members[0].latency if r.location == location)
    regions = sorted({c.site.code for d in members for c in map(problem.node_class, d.eligible)
                      if problem.within_reach(rule, c)})
    reach = (f"regions within reach: {', '.join(regions)}" if regions else
             f"no region `{name}` may run in is within {float(rule.limit_ms):g} ms of {location}")
    return Reason(f"`{name}` needs {rule.replicas} replica{'s' if rule.replicas != 1 else ''} "
                  f"within {float(rule.limit_ms):g} ms of users in {location} ({reach})",
                  rule.origin)


def _eligibility_reason(problem: Problem, name: str) -> Reason:
    demand = problem.demand(name)
    if not demand.eligible:
        rules = sorted({e.rule for e in demand.excluded.values()})
        return Reason(f"no pool meets the rules of `{name}` ({'; '.join(rules)})", demand.origin)
    pools = ", ".join(f"`{c}` ({_count_fits(problem, demand, c)})" for c in demand.eligible)
    excluded = {}
    for class_id, exclusion in demand.excluded.items():
        excluded.setdefault(exclusion.rule, []).append(class_id)
    why = "; ".join(f"{rule} rules out {', '.join(f'`{c}`' for c in ids)}"
                    for rule, ids in sorted(excluded.items()))
    origin = next((e.origin for e in demand.excluded.values() if e.origin is not None), demand.origin)
    return Reason(f"`{name}` may run only on {pools}" + (f": {why}" if why else ""), origin)


def _count_fits(problem: Problem, demand, class_id: str) -> str:
    node_class = problem.node_class(class_id)
    fit = replicas_per_node(demand, node_class)
    return f"{node_class.count} node{'s' if node_class.count != 1 else ''}, {fit} replica{'s' if fit != 1 else ''} each"


def _need(demand) -> str:
    parts = [f"{demand.requests['cpu'] / 1000:g} CPU", f"{demand.requests['memory'] / 2 ** 30:g} GiB"]
    if demand.requests["gpu"]:
        parts.append(f"{demand.requests['gpu']} GPU{'s' if demand.requests['gpu'] != 1 else ''}")
    return " + ".join(parts)


def _shape(node_class: NodeClass) -> str:
    capacity = node_class.capacity
    text = f"{capacity['cpu'] / 1000:g} CPU, {capacity['memory'] / 2 ** 30:g} GiB"
    if capacity["gpu"]:
        model = node_class.accelerator.name if node_class.accelerator else "GPU"
        text += f", {capacity['gpu']} x {model}"
    return text


# ---- repairs ------------------------------------------------------------------


def _now() -> float:
    return time.monotonic()


def _trial(problem: Problem) -> Problem:
    """A copy a repair may change: new classes, demands and the lists and maps repairs edit;
    what those point at (origins, rules' sources) is shared. (A deep copy of a 10,000-node
    problem took 0.6 s, and a repair search makes dozens.)"""
    def demand(d: Demand) -> Demand:
        return dataclasses.replace(d, eligible=list(d.eligible), excluded=dict(d.excluded),
                                   affinities=list(d.affinities), spreads=list(d.spreads),
                                   latency=[dataclasses.replace(r) for r in d.latency])

    return dataclasses.replace(problem, classes=[dataclasses.replace(c) for c in problem.classes],
                               demands=[demand(d) for d in problem.demands],
                               spare_offers=[dataclasses.replace(c) for c in problem.spare_offers],
                               buy_limits=dict(problem.buy_limits))


def _repairs(problem: Problem, core: list[str], deadline: float) -> tuple[list[str], bool]:
    """(repairs that work, whether time ran out before all were tried)."""
    repairs: list[str] = []
    names = {g.partition(":")[2] for g in core if g.partition(":")[0] in ("eligible", "replicas")}
    for name in sorted(names):
        if _now() > deadline:
            return repairs, True
        repairs.extend(_rule_relaxations(problem, name))
    for group in core:
        if _now() > deadline:
            return repairs, True
        kind, _, rest = group.partition(":")
        if kind == "replicas":
            most = _most_replicas(problem, rest)
            if most is not None:
                repairs.append(f"lower `{rest}` replicas to {most}")
        elif kind == "capacity" and not problem.node_class(rest).provisioned:
            extra = _extra_nodes(problem, rest)
            if extra is not None:
                repairs.append(f"add {extra} more node{'s' if extra != 1 else ''} to pool `{rest}`")
        elif kind == "capacity" and problem.node_class(rest).buy_group is not None:
            group = problem.node_class(rest).buy_group
            most = _buy_limit_needed(problem, group)
            repair = f"raise the `buy` block's max_count to {most}"
            if most is not None and repair not in repairs:
                repairs.append(repair)
        elif kind == "budget":
            cheapest = _cheapest_without_budget(problem)
            if cheapest is not None:
                repairs.append(f"raise the budget to {float(cheapest):.2f} USD/h")
        elif kind in ("affinity", "spread"):
            name, _, index = rest.rpartition(":")
            if _feasible_without(problem, name, kind, int(index)):
                repairs.append(f"drop the {kind} rule of `{name}`")
        elif kind == "latency":
            name, location = rest.rsplit(":", 1)
            limit = _latency_limit_needed(problem, name, location)
            if limit is not None:
                repairs.append(f"raise the latency limit of `{name}` for {location} to {limit:g} ms")
        elif kind == "buy":
            most = _buy_limit_needed(problem, int(rest))
            repair = f"raise the `buy` block's max_count to {most}"
            if most is not None and repair not in repairs:
                repairs.append(repair)
    if _now() > deadline:
        return repairs, True
    bought = _buy_repair(problem)
    if bought:
        repairs.append(bought)
    return repairs, False


def _rule_relaxations(problem: Problem, name: str) -> list[str]:
    """For each rule that alone keeps `name` off some pools: would relaxing it be enough?"""
    demand = problem.demand(name)
    only: dict[str, list[str]] = {}
    origins: dict[str, Origin | None] = {}
    relaxed: dict[str, str | None] = {}
    for class_id, reasons in demand.failing.items():
        if len(reasons) == 1 and reasons[0].rule not in ("resources", f"option {demand.option}") \
                and class_id in demand.excluded:
            only.setdefault(reasons[0].rule, []).append(class_id)
            origins[reasons[0].rule] = reasons[0].origin
            relaxed[class_id] = reasons[0].relaxed
    repairs = []
    for rule, class_ids in sorted(only.items()):
        class_ids = [c for c in class_ids if replicas_per_node(demand, problem.node_class(c)) > 0]
        if not class_ids:
            continue
        trial = _trial(problem)
        trial_demand = trial.demand(name)
        for class_id in class_ids:
            trial_demand.eligible.append(class_id)
            trial_demand.excluded.pop(class_id, None)
        if feasible(trial, 10):
            where = f" (line {origins[rule].span.line})" if origins[rule] else ""
            pools = ", ".join(f"`{c}`" for c in class_ids)
            bounds = {relaxed.get(c) for c in class_ids}
            target = f" to `{bounds.pop()}`" if len(bounds) == 1 and None not in bounds else ""
            repairs.append(f"relax `{rule}`{where}{target} so that `{name}` may also run on {pools}")
    return repairs


def _buy_repair(problem: Problem) -> str | None:
    """Offers in scope that no `buy` allows: what would buying from them take?"""
    if not problem.spare_offers:
        return None
    trial = _trial(problem)
    trial.classes = trial.classes + trial.spare_offers
    for demand in trial.demands:
        demand.eligible += [c.id for c in trial.spare_offers if c.id not in demand.failing]
    encoding = encode(trial, must_place=True)
    outcome = HighsBackend().minimise(encoding.model, encoding.objective("cost"), 20)
    if outcome.solution is None:
        return None
    parts = []
    for node_class in trial.spare_offers:
        count = outcome.solution[encoding.u[node_class.id]]
        if count:
            parts.append(f"{count} x {node_class.instance_type} (`{node_class.offer}`) in "
                         f"{node_class.region} at {float(node_class.price):.2f} USD/h each")
    return ("allow buying " + ", ".join(parts) + " (add a `buy` block)") if parts else None


def _most_replicas(problem: Problem, name: str) -> int | None:
    low, high = 0, problem.demand(name).replicas - 1
    best = None
    while low <= high:
        middle = (low + high) // 2
        trial = _trial(problem)
        trial.demand(name).replicas = middle
        if feasible(trial, 10):
            best, low = middle, middle + 1
        else:
            high = middle - 1
    return best if best else None


def _extra_nodes(problem: Problem, class_id: str) -> int | None:
    # the class's node count is only the bounds of its node-count variables: one encoding
    # serves every trial (re-encoding a 10,000-node problem per trial took 0.5 s of 0.8)
    encoding = encode(problem, must_place=True)
    counted = [encoding.u[class_id]] + [
        v.index for v in encoding.model.variables if v.name.startswith("n[")
        and v.name.endswith(f",{class_id}]")]
    count = problem.node_class(class_id).count

    def with_extra(extra: int) -> bool:
        for index in counted:
            encoding.model.variables[index].upper = count + extra
        return HighsBackend().minimise(encoding.model, {}, 10).solution is not None

    extra = 1
    while extra <= MAX_EXTRA_NODES and not with_extra(extra):
        extra *= 2
    if extra > MAX_EXTRA_NODES:
        return None
    low, high = extra // 2 + 1, extra
    while low < high:
        middle = (low + high) // 2
        if with_extra(middle):
            high = middle
        else:
            low = middle + 1
    return high


def _latency_limit_needed(problem: Problem, name: str, location: str) -> float | None:
    """The smallest limit, among the round trips to the regions `name` may run in, that works."""
    members = _latency_members(problem, name)
    index = next(i for i, r in enumerate(members[0].latency) if r.location == location)
    rule = members[0].latency[index]
    candidates = sorted({ms for d in members for c in d.eligible
                         if (ms := problem.latency_ms(location, problem.node_class(c))) is not None
                         and ms > rule.limit_ms})
    for limit in candidates:
        trial = _trial(problem)
        for demand in members:
            trial.demand(demand.name).latency[index].limit_ms = limit
        if feasible(trial, 10):
            return float(limit)
    return None


def _buy_limit_needed(problem: Problem, group: int) -> int | None:
    """The smallest max_count for buy block `group` with which everything fits."""
    trial = _trial(problem)
    trial.buy_limits.pop(group, None)
    enough = sum(d.replicas for d in trial.demands)
    for node_class in trial.classes:
        if node_class.buy_group == group and node_class.count < enough:
            _grow(node_class, enough)
    encoding = encode(trial, must_place=True)
    terms = {encoding.u[c.id]: 1 for c in trial.classes if c.buy_group == group}
    outcome = HighsBackend().minimise(encoding.model, terms, 10)
    if outcome.solution is None:
        return None
    return int(sum(outcome.solution[i] for i in terms))


def _grow(node_class: NodeClass, count: int) -> None:
    """Give a class (in a trial copy of the problem) `count` nodes, naming the new ones."""
    existing = len(node_class.node_names)
    node_class.node_names = node_class.node_names + tuple(
        f"{node_class.pool}-extra-{i}" for i in range(existing, max(existing, count)))
    node_class.count = count


def _cheapest_without_budget(problem: Problem) -> Fraction | None:
    trial = _trial(problem)
    trial.budget = None
    encoding = encode(trial, must_place=True)
    outcome = HighsBackend().minimise(encoding.model, encoding.objective("cost"), 10)
    return outcome.objective


def _feasible_without(problem: Problem, name: str, kind: str, index: int) -> bool:
    trial = _trial(problem)
    demand = trial.demand(name)
    rules = demand.affinities if kind == "affinity" else demand.spreads
    del rules[index]
    return feasible(trial, 10)


def explanation_diagnostics(problem: Problem, root_path: str,
                            time_limit: float | None = 30.0) -> list[Diagnostic]:
    """The explanation as diagnostics: the conflict (E0501) at its first rule, each other
    rule of it (E0504) where it stands. `fitc solve`, `explain` and the language server
    print exactly these."""
    explanation = explain(problem, time_limit)
    if explanation.feasible:
        return [msg.NoPlacement.at(root_path, Span(1, 1, 1, 2),
                                   detail="not every replica could be placed in the time allowed")]
    first = explanation.reasons[0] if explanation.reasons else None
    where = first.origin if first and first.origin else None
    summary = "no placement meets every hard rule; these rules conflict:"
    for reason in explanation.reasons:
        line = f" line {reason.origin.span.line}" if reason.origin else ""
        summary += f"\n  - {reason.text}{' (' + line.strip() + ')' if line else ''}"
    if explanation.repairs:
        summary += "\nrepairs, each checked by solving again:"
        summary += "".join(f"\n  - {repair}" for repair in explanation.repairs)
    if explanation.repairs_cut_short:
        summary += "\n(other repairs were not tried in the time allowed)"
    diagnostics = [msg.NoPlacement.at(where.path if where else root_path,
                                      where.span if where else Span(1, 1, 1, 2), detail=summary)]
    for reason in explanation.reasons[1:]:
        if reason.origin is not None:
            diagnostics.append(msg.ConflictPart.at(reason.origin.path, reason.origin.span,
                                                   detail=reason.text))
    return diagnostics
