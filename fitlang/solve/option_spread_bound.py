"""A lower bound for a policy solved narrowed past 48 nodes for its spreads over accelerator
options (`rules/option_spread.py`, `rules/option_deal.py`), whose answer otherwise states none
(the narrowed policy may cost more than the policy).

The policy with those spreads dropped is a relaxation of it: every placement of the policy is
one of the relaxed policy, so what the relaxed policy proves no complete placement costs less
than holds for the policy too. `bound.lower_bound` proves that on the relaxed policy (its pair
LP, which holds each demand's own spreads: over options it would count each option apart,
stricter than the rule, so they are dropped, not kept), after the narrowed solve (BOUND_SHARE).
It is stated only where the answer places every replica: then the policy's optimum places
every replica too (it places the most first), and costs at least the bound; an answer that
leaves replicas out is compared with placements that may place more. Not where an affinity
towards an option workload is in the policy too (solved narrowed as well,
`rules/option_affinity.py`; the pair LP does not take that rule over options). `optimal` where
the answer is within the tolerance of the bound."""

from __future__ import annotations

import dataclasses
import time

from fitlang.model.problem import Problem
from fitlang.rules import option_affinity
from fitlang.rules.option_spread import over_options
from fitlang.solve.bound import lower_bound
from fitlang.solve.linear import Status, stated_bound
from fitlang.solve.placement_result import Placement

# the bound runs after the narrowed solve, which has the whole time limit, until the limit's end
# or, past it, for this share of it (`lower_bound` does not start where it expects not to end by
# then). Accelerator-heavy 10,000 seed 1 with every option workload spread, 5 s on the CPU clock,
# load 20: the pair LP of the relaxed policy in 0.5 s after the solve, 124,677.08 (2.16% under
# the answer, 127,431.85, 5.55 CPU s in all). Kept inside the limit (the solve given 4.5 s) the
# solve's floor completion did not finish and the answer was the first-fit's, 168,937.97; begun
# in a child process beside the solve, it took the second core from the solve's own children,
# with the same answer
BOUND_SHARE = 0.1


def relaxed(problem: Problem) -> Problem:
    """The problem with every spread counted over a workload's options dropped."""
    demands = [dataclasses.replace(d, spreads=[s for s in d.spreads if not over_options(d, s)])
               if any(over_options(d, s) for s in d.spreads) else d for d in problem.demands]
    return problem.with_demands(demands)


def _objective(problem: Problem) -> str | None:
    """The objective bounded (the first), where `lower_bound` bounds it and the policy has no
    affinity towards an option workload."""
    objective = (list(problem.objective) or ["cost"])[0]
    if objective not in ("cost", "nodes") or option_affinity.in_problem(problem):
        return None
    return objective


def bounded(problem: Problem, placement: Placement, started: float, time_limit: float | None) -> Placement:
    """`placement` (the narrowed solve's, begun at `started` on the monotonic clock) with the
    relaxed policy's bound stated where it may be (the module's doc), proven by the end of the
    time limit or BOUND_SHARE of it after the solve, whichever is later."""
    objective = _objective(problem)
    if placement.bound is not None or placement.unplaced or not placement.assignments or \
            placement.value is None or objective is None or placement.objective != objective:
        return placement
    deadline = None if time_limit is None else \
        max(started + time_limit, time.monotonic() + BOUND_SHARE * time_limit)
    found = lower_bound(relaxed(problem), objective, deadline).value
    placement.bound = stated_bound(found, placement.value)
    if placement.gap is not None and placement.gap <= placement.tolerance:
        placement.status = Status.OPTIMAL
    return placement
