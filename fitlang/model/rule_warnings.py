"""Warnings found without the solver, from the placement problem alone (W01xx).

- W0101: a `require` (or a `gpu { require ... }`, `zones`, `regions`, `labels`, `residency`)
  that no node satisfies: every replica of its workload is left without a node.
- W0102: a `prefer` that every node the workload may run on meets: it changes nothing.
- W0103: a pool (or inventory) that no workload can use.
- W0106: a workload that no node may take, where no W0101 already names the one rule that
  rules them all out: its rules each rule out some pools (a default `arch = [amd64]` the x86
  nodes, `require arch == arm64` the rest), or it is too large for the nodes they leave.
- W0107: a `spread` over a topology (`region`) that buying every node in one domain meets: the
  workload's declared nodes are in at most one domain, and a domain of offers exists only where
  a node is bought (h55g: `spread region` on bought capacity put every replica in one region).

`fitc check` and the language server report them, from this code; W0101 asks each rule
(its `warnings` hook in fitlang/rules) which of its clauses no node satisfies.
"""

from __future__ import annotations

from fitlang import rules
from fitlang.check.program import Origin, Program
from fitlang.diagnostics import Diagnostic
from fitlang.messages import (
    PoolUnusable,
    RuleAlwaysHolds,
    SpreadMetInOneDomain,
    UnsatisfiableRule,
    WorkloadRunsNowhere,
)
from fitlang.model.problem import NodeClass, Problem
from fitlang.rules.base import Fleet

MAX_LISTED = 3  # reasons shown in one warning; more become "..."
MAX_POOLS = 4  # pools W0106 names with their reason; more are counted


def rule_warnings(program: Program, problem: Problem) -> list[Diagnostic]:
    """W0101, W0102, W0103, W0106 and W0107 for a checked program without errors."""
    if not problem.classes:
        return []
    unsatisfiable = _unsatisfiable(program, problem)
    return (unsatisfiable + _always_met(program, problem) + _unusable(program, problem)
            + _nowhere(problem, {(d.path, d.span) for d in unsatisfiable}) + _met_in_one_domain(problem))


def _unsatisfiable(program: Program, problem: Problem) -> list[Diagnostic]:
    """Each rule's clauses that no node satisfies (the rule's `warnings` hook, fitlang/rules),
    one warning per place in the source."""
    fleet = Fleet(problem.classes)
    hooks = [rule.warnings for rule in rules.RULES if rule.warnings is not None]
    found: dict[tuple, Diagnostic] = {}
    for workload in program.workloads.values():
        for warnings in hooks:
            for unmet in warnings(workload, fleet):
                origin = unmet.origin
                if origin is not None and (origin.path, origin.span) not in found:
                    found[origin.path, origin.span] = UnsatisfiableRule(
                        rule=unmet.rule, detail=unmet.detail
                    ).diagnostic(origin.path, origin.span)
    return list(found.values())


def _always_met(program: Program, problem: Problem) -> list[Diagnostic]:
    """A preference is reported when, for every workload that carries it (a profile may give
    it to several), every node that workload may run on meets it."""
    verdict: dict[tuple, tuple[bool, str, str, Origin]] = {}
    for demand in problem.demands:
        for rule in demand.preferences:
            if rule.origin is None:
                continue
            useless = bool(demand.eligible) and set(demand.eligible) <= rule.met_by
            key = (rule.origin.path, rule.origin.span)
            before = verdict.get(key)
            if before is None:
                verdict[key] = (useless, demand.name, rule.text, rule.origin)
            elif before[0] and not useless:
                verdict[key] = (False, *before[1:])
    return [RuleAlwaysHolds(workload=name, rule=text).diagnostic(origin.path, origin.span)
            for useless, name, text, origin in verdict.values() if useless]


def _unusable(program: Program, problem: Problem) -> list[Diagnostic]:
    if not problem.demands:
        return []
    used: set[str] = set()
    for demand in problem.demands:
        used.update(demand.eligible)  # at C speed: 23 million pairs at 50,000 nodes
    by_pool: dict[str, list[NodeClass]] = {}
    for node_class in problem.classes:
        if not node_class.provisioned:
            by_pool.setdefault(node_class.pool, []).append(node_class)
    warnings = []
    for pool, classes in by_pool.items():
        if any(c.id in used for c in classes) or classes[0].origin is None:
            continue
        reasons = []
        for demand in problem.demands:
            exclusion = next((demand.excluded[c.id] for c in classes if c.id in demand.excluded),
                             None)
            if exclusion is not None:
                reasons.append(f"`{demand.name}`: {exclusion.rule}")
        detail = ""
        if reasons:
            shown = reasons[:MAX_LISTED] + (["..."] if len(reasons) > MAX_LISTED else [])
            detail = " (" + "; ".join(shown) + ")"
        origin = classes[0].origin
        warnings.append(PoolUnusable(pool=pool, detail=detail).diagnostic(origin.path, origin.span))
    return warnings


def _nowhere(problem: Problem, said: set[tuple]) -> list[Diagnostic]:
    """W0106: each workload whose every demand (each accelerator option's) has no class it may
    use, with each pool's first reason. `fitc check` passed such a policy in silence where no
    single rule was to blame (W0101), and only `solve` failed: a CI job's check said nothing."""
    demands: dict[str, list] = {}
    for demand in problem.demands:
        demands.setdefault(demand.workload, []).append(demand)
    warnings = []
    for name, alike in demands.items():
        if any(d.eligible for d in alike) or not any(d.replicas for d in alike):
            continue
        first = alike[0]
        # pool -> each reason its classes are ruled out by -> their nodes (an inventory's
        # classes differ: its arm64 nodes ruled out by a partition, the rest by `arch`)
        reasons: dict[str, dict[str, list[int | str]]] = {}
        for node_class in problem.classes:
            exclusion = first.excluded.get(node_class.id)
            if exclusion is None:
                continue
            if exclusion.origin is not None and (exclusion.origin.path, exclusion.origin.span) in said:
                break  # W0101 names the rule at fault already
            why = exclusion.detail if exclusion.fact else exclusion.rule
            where_ = reasons.setdefault(node_class.pool, {}).setdefault(why, [])
            where_.append(f"in {node_class.region}" if node_class.provisioned else node_class.count)
        else:
            where = first.spans.get("replicas", first.origin)
            if where is None or not reasons:
                continue
            shown = [f"`{pool}`: {_reasons_said(why)}" for pool, why in list(reasons.items())[:MAX_POOLS]]
            more = len(reasons) - len(shown)
            detail = "; ".join(shown) + (f"; and {more} more pool(s)" if more > 0 else "")
            warnings.append(WorkloadRunsNowhere(workload=name, detail=detail).diagnostic(
                where.path, where.span))
    return warnings


def _reasons_said(reasons: dict[str, list[int | str]]) -> str:
    """A pool's one reason, or each of its reasons with what it rules out, the nodes of a pool
    or inventory, the regions of an offer: "arch = [arm64] (6 nodes), slurm partition "gpu"
    (4 nodes)" (an inventory whose arm64 nodes are in another partition was said "arch =
    [arm64]" alone: its first class's reason)."""
    if len(reasons) == 1:
        return next(iter(reasons))
    return ", ".join(f"{why} ({_ruled_out(where)})" for why, where in reasons.items())


def _ruled_out(where: list[int | str]) -> str:
    """'6 nodes', 'in us-east5, europe-west4'."""
    regions = [w for w in where if isinstance(w, str)]
    if regions:
        return ", ".join(regions).replace(", in ", ", ")
    count = sum(w for w in where if isinstance(w, int))
    return f"{count} node{'s' if count != 1 else ''}"


def _met_in_one_domain(problem: Problem) -> list[Diagnostic]:
    """W0107: a spread that every replica in one domain meets, because the nodes the workload
    may use that exist whatever is bought (pools, inventories) are in at most one domain of its
    topology, and the offers it may be bought from are sold in others: a domain of offers
    exists only where a node is bought (docs/language.md), so buying in one region holds all
    of it. Not said where `min_domains` asks for more domains, nor where the replicas are no
    more than `max_skew` (one domain holding all of them is within the skew anyway)."""
    demands: dict[str, list] = {}
    for demand in problem.demands:
        demands.setdefault(demand.workload, []).append(demand)
    warnings: dict[tuple, Diagnostic] = {}
    for name, alike in demands.items():
        eligible = [problem.node_class(c) for c in dict.fromkeys(c for d in alike for c in d.eligible)]
        for spread in alike[0].spreads:
            key = (spread.origin.path, spread.origin.span)
            if spread.topology == "node" or spread.min_domains > 1 or key in warnings \
                    or max(d.replicas for d in alike) <= spread.max_skew:
                continue
            topology = spread.topology
            declared = _domains([c for c in eligible if not c.provisioned and c.count > 0], topology)
            offered = [v for v in _domains([c for c in eligible if c.provisioned], topology)
                       if v not in declared]
            if len(declared) > 1 or not offered or len(declared) + len(offered) < 2:
                continue
            has = f"its declared nodes are all in {topology} {declared[0]}" if declared else \
                "it has no declared nodes"
            listed = ", ".join(offered[:MAX_POOLS]) + (", ..." if len(offered) > MAX_POOLS else "")
            detail = (f"{has}, and a {topology} of the offers it may buy ({listed}) counts only "
                      f"where a node is bought, so every replica in one {topology} meets it")
            warnings[key] = SpreadMetInOneDomain(topology=topology, workload=name, detail=detail
                                                 ).diagnostic(*key)
    return list(warnings.values())


def _domains(classes: list[NodeClass], topology: str) -> list[str]:
    """The domains of `topology` the classes are in, in the classes' order."""
    return list(dict.fromkeys(v for c in classes if (v := c.topology_value(topology)) is not None))
