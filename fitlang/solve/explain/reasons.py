"""The conflict in words: one sentence per part of the policy, with where it stands. Each
rule says its own parts (`Rule.reason`, in its module); a part whose rule says nothing is
an exclusion, said here by the pools it keeps its workload off."""

from __future__ import annotations

import dataclasses

from fitlang.model.problem import Problem
from fitlang.rules.base import Stated
from fitlang.solve.explain.parts import Part, rule_of
from fitlang.solve.explain.search import pools_named, ruled_out, unbought_note


def _reason(problem: Problem, part: Part) -> Stated:
    rule = rule_of(part)
    stated = rule.reason(problem, part) if rule is not None and rule.reason is not None else None
    if stated is None:
        stated = _rule_reason(problem, part)
    return dataclasses.replace(stated, part=part)


def _rule_reason(problem: Problem, part: Part) -> Stated:
    """A rule that keeps a workload off pools it would fit on: which pools, and where."""
    pools, origin = ruled_out(problem, part)
    if not pools:  # (only in a conflict not narrowed down: the rule may not be needed)
        return Stated(f"`{part.subject}` has `{part.key}`", origin)
    return Stated(f"`{part.subject}` has `{part.key}`, which rules out {pools_named(problem, pools)}"
                  f"{unbought_note(problem, part, pools)}", origin)
