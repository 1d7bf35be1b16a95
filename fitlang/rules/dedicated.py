"""`dedicated = "team"` on a pool: only workloads that `tolerate` it run there."""

from __future__ import annotations

from collections.abc import Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Origin, Workload
from fitlang.diagnostics import Fix
from fitlang.model.problem import Demand, Exclusion, NodeClass
from fitlang.rules.base import Rule, Stated
from fitlang.span import Span
from fitlang.syntax.printer import INDENT

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair

if TYPE_CHECKING:
    from fitlang.model.eligibility import ClassFacets


def reads(workload: Workload) -> Hashable:
    return tuple(workload.tolerate)


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
    tolerate = set(workload.tolerate)
    return ~facets.passing("dedicated", lambda c: c.dedicated,
                           lambda c: c.dedicated is None or c.dedicated in tolerate)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    if node_class.dedicated is not None and node_class.dedicated not in workload.tolerate:
        yield Exclusion(f'dedicated = "{node_class.dedicated}"',
                        node_class.spans.get("dedicated", node_class.origin),
                        f"pool `{node_class.pool}` is dedicated to \"{node_class.dedicated}\" "
                        "and the workload does not tolerate it", source="dedicated")


def reason(problem: Problem, part: Part) -> Stated | None:
    """The pools whose `dedicated` the workload does not tolerate (None: the rule kept it
    off no pool it would fit on, in a conflict not narrowed down; explain's default)."""
    from fitlang.solve.explain import search

    pools, origin = search.ruled_out(problem, part)
    if not pools:
        return None
    one = len(pools) == 1
    return Stated(f"{search.pools_listed(pools)} {'has' if one else 'have'} `{part.key}`, which "
                  f"`{part.subject}` does not tolerate", origin)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """Tolerate the pool's `dedicated` (the pools the part keeps the workload off share it)."""
    from fitlang.solve.explain import search

    pools, _ = search.ruled_out(problem, part)
    dedicated = {d for c in pools if (d := problem.node_class(c).dedicated) is not None}
    if len(dedicated) != 1:
        return None
    return tolerating(problem, part, deadline, dedicated.pop())


def tolerating(problem: Problem, part: Part, deadline: float, name: str) -> Repair | None:
    """Let the part's workload tolerate `name` (a `dedicated` value, a taint as `key=value`)
    beside what it tolerates already, checked by solving the policy without the part (which
    keeps those) and without every other taint the list then tolerates (`taints.tolerated`)."""
    from fitlang.rules.explaining import demands_of
    from fitlang.rules.taints import tolerated
    from fitlang.solve.explain import search

    demand = next(iter(demands_of(problem, part.subject)), None)
    kept = () if demand is None else demand.tolerate
    tolerate = kept if name in kept else (*kept, name)
    # (every taint the list tolerates is dropped with the part: one of another effect too)
    check = search.decided_without(problem, part, deadline, tolerated(problem, part.subject, tolerate))
    if check is None:
        return None
    _, origin = search.ruled_out(problem, part)
    listed = "[" + ", ".join(f'"{value}"' for value in tolerate) + "]"
    text = f"let `{part.subject}` tolerate `{name}` (`tolerate = {listed}`)"
    fix = None if demand is None else _tolerate_fix(demand, origin, text, listed)
    return search.Repair(part, text, origin, None, f"tolerate = {listed}", check.cost,
                         fix=fix, checked=check, drops_part=True, tolerate=tolerate)


def _tolerate_fix(demand: Demand, origin: Origin | None, title: str, listed: str) -> Fix | None:
    """The quick fix writing `listed` as the workload's `tolerate`, in the file the repair
    points at: the value replaced where the workload's own block states it, a line inserted
    where nothing states it (none where it is inherited: a profile's, shared)."""
    block = demand.origin
    if block is None or origin is None or block.path != origin.path:
        return None
    where = demand.spans.get("tolerate")
    if where is None:
        return _inserted_line(block, list(demand.spans.values()), title, f"tolerate = {listed}",
                              demand.indent)
    inside = block.span.start <= where.span.start and where.span.end <= block.span.end
    return Fix(title, where.span, listed) if where.path == block.path and inside else None


def _inserted_line(block: Origin, stated: list[Origin], title: str, line: str,
                   indent: str | None) -> Fix | None:
    """`line` inserted before the line of the block's closing brace, indented as the block's
    entries are (`indent`), else one indent in from the block (as `fitc fmt` writes it). The
    spans say where the brace is, not what precedes it on its line, so there is no fix where
    the block is one line or a stated value ends on the brace's line (`cpu = 1 }`)."""
    span = block.span
    inside = [s for s in stated if s.path == block.path and span.start <= s.span.start < span.end]
    if span.line == span.end_line or any(s.span.end_line >= span.end_line for s in inside):
        return None
    line_start = span.end - span.end_column + 1  # `}` is the block's last character
    at = Span(span.end_line, 1, span.end_line, 1, line_start, line_start)
    return Fix(title, at, (" " * (span.column - 1) + INDENT if indent is None else indent) + line + "\n")


RULE = Rule("dedicated", reads=reads, excludes=excludes, why=why,
            reason=reason, repairs=repairs)
