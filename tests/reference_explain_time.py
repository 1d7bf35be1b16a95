"""`fitc explain` on policies in time against the independent time reference.

The random tiny policies in time and the per-node, per-step CP-SAT reference are those of
bench/differential_time.py (it shares no code with fitc). A repair in explain's JSON (its
`rule`, `subject`, `to`, and the jobs and window of the conflict's sentence) is applied to that
bench's `Case`, not to fitc's text or model, and the reference decides the repaired case.

What is checked, per policy the reference proves infeasible (docs/cli.md, "In time"):
- the outcome is `conflict`;
- every repair makes the case feasible: the conflict's deadlines moved (each job of the window
  whose deadline ends by it, as fitc moves them: to the later of its deadline and the new one),
  nodes added to a pool, a power cap raised;
- each is the least that works: one step less does not (a deadline one hour earlier, one node
  fewer, the cap one least node draw lower: the unit fitc searches it in).
There is no cost to check: in time, explain states none (`checked_cost` is null).
"""

from __future__ import annotations

import copy
import re
from fractions import Fraction
from pathlib import Path

from reference_explain import ExplainCheck, fitc_json

from solving import bench_module

TIME = bench_module("differential_time")


def check_explain_in_time(seed: int, directory: Path, time_limit: float = 10.0) -> ExplainCheck:
    """Explain's verdict and repairs on one random policy in time (nothing to check where the
    reference finds a schedule, or cannot decide)."""
    case = TIME.generate(seed)
    result = ExplainCheck(seed)
    verdict, _ = TIME.reference(case, time_limit)
    if verdict != "infeasible":
        return result
    path = directory / f"time{seed}.fit"
    path.write_text(TIME.to_fit(case))
    document = fitc_json(["explain", str(path), "--format", "json", "--time-limit", "20"])
    result.tally["infeasible"] += 1
    if document["outcome"] != "conflict":
        result.disagreements.append(f"outcome {document['outcome']} where the reference proves none")
        return result
    named = document["conflict"][0]["rule"] if document["conflict"] else "none (E0951)"
    result.tally[f"conflict: {named}"] += 1
    for repair in document["repairs"]:
        _check_repair(case, document["conflict"], repair, result, time_limit)
    return result


def _check_repair(case, conflict: list[dict], repair: dict, result: ExplainCheck, time_limit: float) -> None:
    repaired = applied_in_time(case, conflict, repair)
    if repaired is None:
        result.tally[f"not applied: {repair['rule']}"] += 1
        return
    verdict, _ = TIME.reference(repaired, time_limit)
    if verdict == "undecided":
        result.tally["undecided"] += 1
        return
    result.tally["repairs checked"] += 1
    if verdict == "infeasible":
        result.disagreements.append(f"`{repair['text']}` does not repair the policy")
        return
    less = applied_in_time(case, conflict, repair, less=True)
    lesser, _ = TIME.reference(less, time_limit) if less is not None else ("undecided", None)
    if lesser == "feasible":
        result.disagreements.append(f"`{repair['text']}`: one step less repairs it too")
    elif lesser == "infeasible":
        result.tally[f"least: {repair['rule']}"] += 1


def applied_in_time(case, conflict: list[dict], repair: dict, less: bool = False):
    """The case with the repair made (`less`: one step short of it); None where the repair is
    not one this module can restate on a Case."""
    repaired = copy.deepcopy(case)
    change = _CHANGES.get(repair["rule"])
    if change is None or repair.get("to") is None:
        return None
    return repaired if change(repaired, conflict, repair, less) is not False else None


def _step(instant: str) -> int:
    """The step of an instant fitc states (the bench's policies start at 00:00, one-hour steps)."""
    return int(re.search(r"T(\d\d):00Z", instant).group(1))


def _deadlines(case, conflict, repair, less):
    """The window's jobs that end by its last instant, each allowed to end by the new deadline."""
    said = re.match(r"no schedule: (.+?) needs? .* between \S+ and (\S+?);", conflict[0]["text"])
    if said is None:
        return False
    names, last = re.findall(r"`([^`]+)`", said.group(1)), _step(said.group(2))
    end = _step(repair["to"]) - less
    works = {work.name: work for work in case.works}
    if any(name not in works or works[name].every is not None for name in names):
        return False  # a recurring job's runs are not restated here
    for work in (works[name] for name in names):
        if work.deadline is not None and work.deadline <= last and work.deadline < case.steps:
            work.deadline = max(work.deadline, end)


def _nodes(case, conflict, repair, less):
    next(pool for pool in case.pools if pool.name == repair["subject"]).count = int(repair["to"]) - less


def _cap(case, conflict, repair, less):
    if case.cap is None:
        return False  # a cap per step: "raise to N kW" does not say which steps
    least_draw = min(pool.watts for pool in case.pools)
    case.cap = int(Fraction(re.match(r"[\d.]+", repair["to"]).group()) * 1000) - less * least_draw


_CHANGES = {"deadline": _deadlines, "capacity": _nodes, "power": _cap}
