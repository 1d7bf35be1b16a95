"""A lower bound for a policy solved narrowed past 48 nodes for its spreads over accelerator
options (`rules/option_spread.py`, `rules/option_deal.py`), whose answer otherwise states none
(the narrowed policy may cost more than the policy).

The policy with those spreads dropped is a relaxation of it: every placement of the policy is
one of the relaxed policy, so what the relaxed policy proves no complete placement costs less
than holds for the policy too. `bound.lower_bound` proves that on the relaxed policy (its pair
LP, which holds each demand's own spreads: over options it would count each option apart,
stricter than the rule, so they are dropped, not kept), in a child process beside the narrowed
solve where it can (`begun`). It is stated only where the answer
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
from fitlang.solve.backends import Minimising, forks
from fitlang.solve.bound import lower_bound
from fitlang.solve.linear import Status, stated_bound
from fitlang.solve.placement_result import Placement

# where the bound runs after the narrowed solve (no time limit, or no fork), or is not in when
# that solve ends, it still gets this share of the time limit (`lower_bound` does not start
# where it expects not to finish by its deadline)
GRACE_SHARE = 0.1


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


def begun(problem: Problem, time_limit: float | None) -> Minimising | None:
    """The relaxed policy's bound begun in a child process, beside the narrowed solve (the
    pair LP of an accelerator-heavy fleet of 10,000 nodes takes seconds); None where it is not
    (no time limit, no fork, or no bound to state: `bounded` then works it out itself)."""
    objective = _objective(problem)
    if objective is None or time_limit is None or not forks():
        return None
    loose = relaxed(problem)
    return Minimising.running(lambda limit: lower_bound(loose, objective, time.monotonic() + limit).value,
                              time_limit)


def bounded(problem: Problem, placement: Placement, aside: Minimising | None, started: float,
            time_limit: float | None) -> Placement:
    """`placement` (the narrowed solve's, begun at `started` on the monotonic clock) with the
    relaxed policy's bound (`aside`'s, else worked out here) stated where it may be (the
    module's doc)."""
    objective = _objective(problem)
    if placement.bound is not None or placement.unplaced or not placement.assignments or \
            placement.value is None or objective is None or placement.objective != objective:
        if aside is not None:
            aside.result(0.0)  # stopped
        return placement
    grace = None if time_limit is None else GRACE_SHARE * time_limit
    if aside is not None:
        found = aside.result(max(started + (time_limit or 0.0) - time.monotonic(), grace or 0.0))
    else:
        deadline = None if time_limit is None or grace is None else \
            max(started + time_limit, time.monotonic() + grace)
        found = lower_bound(relaxed(problem), objective, deadline).value
    placement.bound = stated_bound(found, placement.value)
    if placement.gap is not None and placement.gap <= placement.tolerance:
        placement.status = Status.OPTIMAL
    return placement
