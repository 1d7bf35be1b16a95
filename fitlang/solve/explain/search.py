"""Explain's search, as the rules' `reason` and `repairs` hooks use it (imported in a hook's
body, never when a rule module is imported): deciding a changed copy of the problem, the
least change that works, a proven bound to start the search at, and the pools a rule keeps a
workload off."""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Collection
from fractions import Fraction

from fitlang.check.program import Origin
from fitlang.diagnostics import Fix
from fitlang.model.problem import (
    Demand,
    Exclusion,
    NodeClass,
    Problem,
    one_class_per_node,
    replicas_per_node,
)
from fitlang.rules.explaining import demands_of, where
from fitlang.solve.backends import HighsBackend
from fitlang.solve.encode import encode
from fitlang.solve.explain.checks import (
    PER_NODE_MAX_NODES,
    Check,
    _drop_required,
    _left,
    cheapest_solved,
    decide,
    per_node,
)
from fitlang.solve.explain.checks import _now as now
from fitlang.solve.explain.parts import Part, Trial, _exclusion_part, with_parts
from fitlang.solve.explain.parts import _class_id as class_id
from fitlang.solve.explain.parts import _copy as copy_problem
from fitlang.solve.explain.parts import _grown as grown
from fitlang.solve.explain.parts import _with_buy_limit as with_buy_limit
from fitlang.solve.explain.parts import _with_pool as with_pool
from fitlang.solve.explain.results import Repair
from fitlang.solve.linear import Status

MAX_EXTRA_NODES = 4096  # the most nodes a repair adds to a pool

__all__ = ["MAX_EXTRA_NODES", "NOTHING_WORKS", "PER_NODE_MAX_NODES", "Check", "Part", "Repair",
           "bound", "cheapest", "class_id", "copy_problem", "could_fit", "decided_without", "fix", "grown",
           "least_cost", "now", "per_node", "pools_listed", "pools_named", "ruled_out", "smallest",
           "unbought_note", "with_buy_limit", "with_pool", "works"]


def works(problem: Problem, deadline: float, cheapest: bool = False,
          optional: frozenset[str] = frozenset()) -> Check:
    # the cheapest placement is what a repair costs; at fleet scale that is a full optimisation
    # per trial, so there the cost is that of the placement found
    small = per_node(problem)
    return decide(Trial(problem, set(optional)), deadline, cheapest and small)


def cheapest(problem: Problem, deadline: float) -> Check:
    """The cheapest placement at any size (its cost is what a budget must allow): one
    optimisation, where `works` would be one per trial of a search."""
    return decide(Trial(problem, set()), deadline, cheapest=True)


def least_cost(trial: Trial, deadline: float) -> Check | None:
    """The cheapest placement of `trial` that `solve` finds by the deadline, or None where it
    places only part (not the aggregate model's packing then, which `decide` falls back to:
    that one is not minimised node by node)."""
    if now() >= deadline:
        return None
    check = cheapest_solved(trial, deadline, most=None)
    return check if check is not None and check.placed else None


def smallest(works: Callable[[int], Check], low: int, high: int,
             deadline: float) -> tuple[int, Check] | None:
    """The smallest value in [low, high] that works (working is monotone in the value): by
    doubling the step from `low`, then halving back between the last failure and the first
    success. None when nothing up to `high` works, or time ran out before it was pinned down
    (no guess is offered)."""
    failed, step, tried = low - 1, 1, low
    found: tuple[int, Check] | None = None
    while now() < deadline:
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
    while bottom < top and now() < deadline:
        middle = (bottom + top) // 2
        check = works(middle)
        if check.placed:
            top, best = middle, check
        else:
            bottom = middle + 1
    return (top, best) if bottom >= top else None


class Nothing(enum.Enum):
    WORKS = "nothing works"


NOTHING_WORKS = Nothing.WORKS  # what `bound` says when no placement exists at all


def bound(problem: Problem, objective: Callable, deadline: float,
          optional: frozenset[str] = frozenset()) -> int | Nothing | None:
    """A proven lower bound, rounded up, on the least value of `objective(encoding, model
    problem)` over placements of `problem` (node by node when small): where a search for the
    least change that works may start, instead of at 1 (at fleet scale each try costs seconds).
    NOTHING_WORKS when the model (a relaxation) has no solution: then no amount of the change
    the caller searches works either."""
    exact = per_node(problem)
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


def fix(title: str, origin: Origin | None, text: str) -> Fix | None:
    return Fix(title, origin.span, text) if origin is not None else None


def decided_without(problem: Problem, part: Part, deadline: float,
                    also: Collection[Part] = ()) -> Check | None:
    """The policy solved with `part` (and the parts `also`) dropped and every workload
    required, or None when that still leaves replicas out (no repair then)."""
    trial = with_parts(problem, lambda p: p != part and p not in also)
    trial.optional = set()
    check = decide(trial, deadline, cheapest=True)
    return check if check.placed else None


def pools_listed(pools: list[str]) -> str:
    """'pool `a`', 'pools `a`, `b`'."""
    return f"{'pool' if len(pools) == 1 else 'pools'} " + ", ".join(f"`{c}`" for c in pools)


def pools_named(problem: Problem, pools: list[str]) -> str:
    """`pools_listed`, with the offers a `buy` may buy said as that block's, where they are:
    'pool `a` and the 7 offers buy `eu` (line 29) may buy in eastus, westus2 (US)' (a
    `std/azure` buy's offers in its regions are 20 class names a user never wrote)."""
    classes = {c.id: c for c in problem.classes}
    owned = [p for p in pools if p not in classes or classes[p].buy_group is None]
    groups: dict[int, list[NodeClass]] = {}
    for pool in pools:
        group = classes[pool].buy_group if pool in classes else None
        if group is not None:
            groups.setdefault(group, []).append(classes[pool])
    said = [pools_listed(owned)] if owned else []
    for group, bought in groups.items():
        offers = list(dict.fromkeys(c.offer for c in bought))
        regions = sorted({c.region for c in bought if c.region})
        laws = sorted({c.jurisdiction for c in bought if c.jurisdiction})
        buy = problem.buy_names.get(group, "a `buy` block") + where(problem.buy_origins.get(group))
        said.append((f"`{offers[0]}`, which " if len(offers) == 1 else f"the {len(offers)} offers ")
                    + f"{buy} may buy in {', '.join(regions)}" + (f" ({', '.join(laws)})" if laws else ""))
    return " and ".join(said)


def unbought_note(problem: Problem, part: Part, pools: list[str]) -> str:
    """Where a rule keeps a workload off capacity bought: whether any offer in scope is sold
    where the rule allows it to run (every such offer is outside the `buy` blocks: the
    repairs say which change buys it), or none is ('; no offer in scope is sold where
    `residency = [EU]` allows it', std/azure's US-only sizes)."""
    classes = {c.id: c for c in problem.classes}
    if not any(p in classes and classes[p].buy_group is not None for p in pools):
        return ""
    demands = demands_of(problem, part.subject)
    sold = sorted({c.region for c in problem.spare_offers for d in demands
                   if c.id not in d.failing and replicas_per_node(d, c) > 0 and c.region})
    if not sold:
        return f"; no offer in scope is sold where `{part.key}` allows it"
    return f"; offers in scope are sold where it allows, in {', '.join(sold)}, but no `buy` allows them there"


def ruled_out(problem: Problem, part: Part) -> tuple[list[str], Origin | None]:
    """The pools a RULE part keeps its workload off that it would fit on, and where the
    rule is."""
    pools: list[str] = []
    origin: Origin | None = None
    class_ids = {c.id for c in problem.classes}
    for demand in demands_of(problem, part.subject):
        for class_id_, reasons in demand.failing.items():
            if class_id_ not in class_ids:
                continue
            mine = [r for r in reasons if _exclusion_part(demand, r) == part]
            if mine and could_fit(problem, demand, class_id_, reasons) \
                    and not any(r.kind_default for r in mine):
                if class_id_ not in pools:
                    pools.append(class_id_)
                origin = origin or mine[0].origin
    return pools, origin


def could_fit(problem: Problem, demand: Demand, class_id_: str, reasons: list[Exclusion]) -> bool:
    """Would a replica fit on the pool's nodes, rules aside? (A rule is never blamed for a
    pool that is too small, or has no GPUs, anyway.)"""
    if any(r.fact for r in reasons):
        return False
    classes = {c.id: c for c in problem.classes}
    return class_id_ in classes and replicas_per_node(demand, classes[class_id_]) > 0
