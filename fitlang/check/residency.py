"""E0406: a workload's `residency` that its own explicit regions, zones or `require`s contradict.

A contradiction is a place restriction (the `regions` or `zones` attribute, or a top-level
`require region == ...`, `region in [...]`, `zone == ...`, `zone in [...]`) every one of whose
places lies, by its `region` block, in a jurisdiction the residency rules out. Places of unknown
jurisdiction are not reported here: the solver rules them out, and `explain` says so.
"""

from __future__ import annotations

from fitlang import messages as msg
from fitlang.check.program import AllOf, Compare, Program, Workload
from fitlang.diagnostics import Diagnostic, Related


def residency_conflicts(program: Program) -> list[Diagnostic]:
    diagnostics = []
    for workload in program.workloads.values():
        if not workload.residency or "residency" not in workload.spans:
            continue
        for what, places, origin in _place_restrictions(workload):
            outside = [_outside(program, workload.residency, kind, place) for kind, place in places]
            if places and all(outside):
                where = workload.spans["residency"]
                related = (Related(origin.path, origin.span, f"{what} stated here"),) if origin else ()
                diagnostics.append(
                    msg.ResidencyConflict(
                        workload=workload.name,
                        allowed=", ".join(workload.residency),
                        what=what,
                        places=", ".join(outside),
                    ).diagnostic(where.path, where.span, related=related)
                )
    return diagnostics


def _outside(program: Program, allowed: list[str], kind: str, place: str) -> str:
    """`us-east-1 (US)` when the place's jurisdiction is known and not allowed; else ""."""
    region = program.region_at(place) if kind == "region" else program.region_at(None, place)
    if region is None or region.jurisdiction in allowed:
        return ""
    return f"{place} ({region.jurisdiction})"


def _place_restrictions(workload: Workload):
    """(what, [(region|zone, name)], origin) for every explicit restriction of its places."""
    for attribute in ("regions", "zones"):
        places = getattr(workload, attribute)
        if places:
            kind = attribute[:-1]
            yield f"`{attribute}`", [(kind, p) for p in places], workload.spans.get(attribute)
    for requirement in workload.requirements:
        predicate = requirement.predicate
        for item in predicate.items if isinstance(predicate, AllOf) else (predicate,):
            places = _compared_places(item)
            if places:
                yield f"`require {requirement.text}`", places, requirement.origin


def _compared_places(item) -> list[tuple[str, str]]:
    if not isinstance(item, Compare) or item.subject not in (("region",), ("zone",)):
        return []
    kind = item.subject[0]
    if item.op == "==" and isinstance(item.value, str):
        return [(kind, item.value)]
    if item.op == "in" and isinstance(item.value, list):
        return [(kind, value) for value in item.value if isinstance(value, str)]
    return []
