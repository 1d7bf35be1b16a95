"""A lower bound for a policy solved narrowed past 48 nodes for its spreads over accelerator
options (`rules/option_spread.py`, `rules/option_deal.py`), whose answer otherwise states none
(the narrowed policy may cost more than the policy).

The policy with those spreads dropped is a relaxation of it: every placement of the policy is
one of the relaxed policy, so what the relaxed policy proves no complete placement costs less
than holds for the policy too. `bound.lower_bound` proves that on the relaxed policy (its pair
LP, which holds each demand's own spreads: over options it would count each option apart,
stricter than the rule, so they are dropped, not kept). It is stated only where the answer
places every replica: then the policy's optimum places every replica too (it places the most
first), and costs at least the bound; an answer that leaves replicas out is compared with
placements that may place more. Not where an affinity towards an option workload is in the
policy too (solved narrowed as well, `rules/option_affinity.py`; the pair LP does not take
that rule over options). `optimal` where the answer is within the tolerance of the bound."""

from __future__ import annotations

import dataclasses
import time

from fitlang.model.problem import Problem
from fitlang.rules import option_affinity
from fitlang.rules.option_spread import over_options
from fitlang.solve.bound import lower_bound
from fitlang.solve.linear import Status, stated_bound
from fitlang.solve.placement_result import Placement

# where the narrowed solve took the time limit, the bound still gets this share of it (the pair
# LP of a fleet of a few hundred nodes converges in well under a second; `lower_bound` does
# not start where it expects not to finish in time)
GRACE_SHARE = 0.1


def relaxed(problem: Problem) -> Problem:
    """The problem with every spread counted over a workload's options dropped."""
    demands = [dataclasses.replace(d, spreads=[s for s in d.spreads if not over_options(d, s)])
               if any(over_options(d, s) for s in d.spreads) else d for d in problem.demands]
    return problem.with_demands(demands)


def bounded(problem: Problem, placement: Placement, started: float, time_limit: float | None) -> Placement:
    """`placement` (the narrowed solve's, begun at `started` on the monotonic clock) with the
    relaxed policy's bound stated where it may be (the module's doc)."""
    if placement.bound is not None or placement.unplaced or not placement.assignments or \
            placement.value is None or placement.objective not in ("cost", "nodes") or \
            option_affinity.in_problem(problem):
        return placement
    deadline = None
    if time_limit is not None:
        deadline = max(started + time_limit, time.monotonic() + GRACE_SHARE * time_limit)
    found = lower_bound(relaxed(problem), placement.objective, deadline).value
    placement.bound = stated_bound(found, placement.value)
    if placement.gap is not None and placement.gap <= placement.tolerance:
        placement.status = Status.OPTIMAL
    return placement
