"""The conflict in words: one sentence per part of the policy, with where it stands."""

from __future__ import annotations

import dataclasses
from fractions import Fraction

from fitlang.check.program import Origin
from fitlang.model.problem import Demand, NodeClass, OptionGroup, Problem, replicas_per_node
from fitlang.solve.explain.parts import FACTS, Part, _exclusion_part
from fitlang.solve.explain.results import Reason


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _reason(problem: Problem, part: Part) -> Reason:
    kind = part.kind
    if kind == "replicas":
        demand = problem.demand(part.subject)
        gang = " as one gang" if demand.gang else ""
        return Reason(f"workload `{demand.name}` needs {_plural(demand.replicas, 'replica')}"
                      f"{gang}, each {_need(demand)}",
                      demand.spans.get("replicas", demand.origin), part)
    if kind == "throughput":
        return dataclasses.replace(_options_reason(problem, part.subject), part=part)
    if kind == "gang":
        group = _group(problem, part.subject)
        first = problem.demand(group.demands[0])
        return Reason(f"workload `{part.subject}` must run all its replicas on one option "
                      "(`gang = true`)", first.spans.get("gang", group.origin), part)
    if kind == "rule":
        return _rule_reason(problem, part)
    if kind in ("affinity", "exclusive", "spread", "latency"):
        return _demand_rule_reason(problem, part)
    if kind == "capacity":
        node_class = problem.node_class(part.subject)
        return Reason(f"pool `{node_class.id}` has {_plural(node_class.count, 'node')} of "
                      f"{_shape(node_class)}", _count_origin(node_class), part)
    if kind == "budget":
        return Reason(f"the budget is {_money(problem.budget)} USD/h", problem.budget_origin, part)
    if kind == "buy":
        buy = part.position
        return Reason(f"the `buy` block{_buy_name(problem, buy)} allows at most "
                      f"{_plural(problem.buy_limits[buy], 'node')}",
                      problem.buy_origins.get(buy), part)
    cap = problem.power_caps[part.position]
    return Reason(f"power cap `{cap.name}` allows {float(cap.cap_watts) / 1000:g} kW in {cap.scope}",
                  cap.origin, part)


def _demands_of(problem: Problem, workload: str) -> list[Demand]:
    return [d for d in problem.demands if d.workload == workload]


def _group(problem: Problem, workload: str) -> OptionGroup:
    return next(g for g in problem.option_groups if g.workload == workload)


def _demand_rule_reason(problem: Problem, part: Part) -> Reason:
    demand = _demands_of(problem, part.subject)[0]
    name = part.subject
    if part.kind == "exclusive":
        return Reason(f"`{name}` has `exclusive = true`: no other workload may share its nodes",
                      demand.spans.get("exclusive", demand.origin), part)
    if part.kind == "affinity":
        rule = demand.affinities[part.position]
        verb = "anti_affinity" if rule.anti else "affinity"
        text = f"`{name}` has `{verb} {rule.target} on {rule.topology}`"
        if rule.target == "self" and rule.anti:
            text += f": at most 1 replica per {rule.topology}"
        return Reason(text, rule.origin, part)
    if part.kind == "spread":
        spread = demand.spreads[part.position]
        text = f"`{name}` must spread over {spread.topology} with max_skew {spread.max_skew}"
        if spread.topology == "node":
            text += f" (replicas per node, empty nodes included, differ by at most {spread.max_skew})"
        return Reason(text, spread.origin, part)
    return _latency_reason(problem, name, part.key, part)


def _rule_reason(problem: Problem, part: Part) -> Reason:
    """A rule that keeps a workload off pools it would fit on: which pools, and where."""
    pools, origin = _ruled_out(problem, part)
    listed = _pools_listed(pools)
    if not pools:  # (only in a conflict not narrowed down: the rule may not be needed)
        return Reason(f"`{part.subject}` has `{part.key}`", origin, part)
    if part.key.startswith("dedicated"):
        one = len(pools) == 1
        return Reason(f"{'pool' if one else 'pools'} {listed} {'has' if one else 'have'} "
                      f"`{part.key}`, which `{part.subject}` does not tolerate", origin, part)
    return Reason(f"`{part.subject}` has `{part.key}`, which rules out {listed}", origin, part)


def _pools_listed(pools: list[str]) -> str:
    """'pool `a`', 'pools `a`, `b`'."""
    return f"{'pool' if len(pools) == 1 else 'pools'} " + ", ".join(f"`{c}`" for c in pools)


def _ruled_out(problem: Problem, part: Part) -> tuple[list[str], Origin | None]:
    """The pools a rule keeps a workload off that it would fit on, and where the rule is."""
    pools: list[str] = []
    origin: Origin | None = None
    for demand in _demands_of(problem, part.subject):
        for class_id, reasons in demand.failing.items():
            if class_id not in {c.id for c in problem.classes}:
                continue
            mine = [r for r in reasons if _exclusion_part(demand, r.rule) == part]
            if mine and _could_fit(problem, demand, class_id, reasons):
                if class_id not in pools:
                    pools.append(class_id)
                origin = origin or mine[0].origin
    return pools, origin


def _could_fit(problem: Problem, demand: Demand, class_id: str, reasons: list) -> bool:
    """Would a replica fit on the pool's nodes, rules aside? (A rule is never blamed for a
    pool that is too small, or has no GPUs, anyway.)"""
    if any(r.rule.startswith(FACTS) for r in reasons):
        return False
    classes = {c.id: c for c in problem.classes}
    return class_id in classes and replicas_per_node(demand, classes[class_id]) > 0


def _options_reason(problem: Problem, workload: str) -> Reason:
    group = _group(problem, workload)
    options = [problem.demand(name) for name in group.demands]
    if all(d.replicas * d.throughput == 1 for d in options):  # sized in replicas per option
        need = " or ".join(f"{_plural(d.replicas, 'replica')} of {d.option} ({_need(d)} each)"
                           for d in options)
        return Reason(f"workload `{workload}` needs {need}"
                      + (", all on one option" if group.gang else ""), group.origin)
    each = ", ".join(f"{d.option} {float(d.throughput):g} per replica of {_need(d)}"
                     for d in options)
    how = "from one option" if group.gang else "from its options"
    return Reason(f"workload `{workload}` needs throughput {float(group.required):g} {how} "
                  f"({each})", group.origin)


def _latency_members(problem: Problem, name: str) -> list[Demand]:
    return next(m for m in problem.latency_demands() if m[0].workload == name)


def _latency_reason(problem: Problem, name: str, location: str, part: Part | None = None) -> Reason:
    members = _latency_members(problem, name)
    rule = next(r for r in members[0].latency if r.location == location)
    regions = sorted({c.site.code for d in members for c in map(problem.node_class, d.eligible)
                      if c.site is not None and problem.within_reach(rule, c)})
    reach = (f"regions within reach: {', '.join(regions)}" if regions else
             f"no region `{name}` may run in is within {float(rule.limit_ms):g} ms of {location}")
    return Reason(f"`{name}` needs {_plural(rule.replicas, 'replica')} "
                  f"within {float(rule.limit_ms):g} ms of users in {location} ({reach})",
                  rule.origin, part)


def _need(demand: Demand) -> str:
    parts_ = [f"{demand.requests['cpu'] / 1000:g} CPU", f"{demand.requests['memory'] / 2 ** 30:g} GiB"]
    if demand.requests["gpu"]:
        parts_.append(_plural(demand.requests["gpu"], "GPU"))
    return " + ".join(parts_)


def _shape(node_class: NodeClass) -> str:
    capacity = node_class.capacity
    text = f"{capacity['cpu'] / 1000:g} CPU, {capacity['memory'] / 2 ** 30:g} GiB"
    if capacity["gpu"]:
        model = node_class.accelerator.name if node_class.accelerator else "GPU"
        text += f", {capacity['gpu']} x {model}"
    return text


def _money(value: Fraction | None) -> str:
    return f"{float(value or 0):.2f}"


def _count_origin(node_class: NodeClass) -> Origin | None:
    return node_class.spans.get("count", node_class.origin)


def _buy_name(problem: Problem, group: int) -> str:
    origin = problem.buy_origins.get(group)
    return f" at line {origin.span.line}" if origin else ""




def _where(origin: Origin | None) -> str:
    return f" (line {origin.span.line})" if origin else ""
