"""Warnings found without the solver, from the placement problem alone (W01xx).

- W0101: a `require` (or a `gpu { require ... }`, `zones`, `regions`, `labels`, `residency`)
  that no node satisfies: every replica of its workload is left without a node.
- W0102: a `prefer` that every node the workload may run on meets: it changes nothing.
- W0103: a pool (or inventory) that no workload can use.

`fitc check` and the language server report them, from this code.
"""

from __future__ import annotations

from fitlang.check.program import Origin, Program
from fitlang.diagnostics import Diagnostic
from fitlang.messages import PoolUnusable, RuleAlwaysHolds, UnsatisfiableRule
from fitlang.model.problem import NodeClass, Problem, holds

MAX_LISTED = 3  # reasons shown in one warning; more become "..."


def rule_warnings(program: Program, problem: Problem) -> list[Diagnostic]:
    """W0101, W0102 and W0103 for a checked program without errors."""
    if not problem.classes:
        return []
    return (_unsatisfiable(program, problem) + _always_met(program, problem)
            + _unusable(program, problem))


def _unsatisfiable(program: Program, problem: Problem) -> list[Diagnostic]:
    classes = problem.classes
    with_gpus = [c for c in classes if c.accelerator is not None and c.capacity["gpu"] > 0]
    found: dict[tuple, Diagnostic] = {}

    def warn(origin: Origin | None, rule: str, detail: str = "") -> None:
        if origin is not None:
            key = (origin.path, origin.span)
            found.setdefault(key, UnsatisfiableRule.at(origin.path, origin.span, rule=rule,
                                                       detail=detail))

    for workload in program.workloads.values():
        for requirement in workload.requirements:
            if not any(holds(requirement.predicate, c.attribute) for c in classes):
                warn(requirement.origin, requirement.text)
        if workload.gpu_count > 0 and with_gpus:
            for requirement in workload.gpu_requirements:
                if not any(holds(requirement.predicate, c.accelerator_attribute) for c in with_gpus):
                    models = sorted({c.accelerator.name for c in with_gpus})
                    warn(requirement.origin, requirement.text,
                         f"; the accelerators are {_listed(models)}")
        spans = workload.spans
        if workload.zones is not None and not any(c.zone in workload.zones for c in classes):
            zones = sorted({c.zone for c in classes if c.zone})
            warn(spans.get("zones"), f"zones = {_strings(workload.zones)}",
                 f"; the zones are {_listed(zones)}" if zones else "; no node has a zone")
        if workload.regions is not None and not any(c.region in workload.regions for c in classes):
            regions = sorted({c.region for c in classes if c.region})
            warn(spans.get("regions"), f"regions = {_strings(workload.regions)}",
                 f"; the regions are {_listed(regions)}" if regions else "; no node has a region")
        for key, value in workload.labels.items():
            if not any(c.labels.get(key) == value for c in classes):
                warn(spans.get("labels"), f'labels["{key}"] == "{value}"')
        if workload.residency is not None and not any(c.jurisdiction in workload.residency
                                                      for c in classes):
            places = sorted({c.jurisdiction for c in classes if c.jurisdiction})
            warn(spans.get("residency"), f"residency = [{', '.join(workload.residency)}]",
                 f"; the nodes are in {_listed(places)}" if places
                 else "; no node has a known jurisdiction")
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
    return [RuleAlwaysHolds.at(origin.path, origin.span, workload=name, rule=text)
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
        warnings.append(PoolUnusable.at(origin.path, origin.span, pool=pool, detail=detail))
    return warnings


def _listed(values: list[str]) -> str:
    shown = values[:6] + (["..."] if len(values) > 6 else [])
    return ", ".join(shown)


def _strings(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"
