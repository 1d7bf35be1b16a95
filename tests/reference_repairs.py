"""`fitc explain` against the independent reference: its verdict and its repairs.

A repair in explain's JSON (its `rule`, `subject`, `from`, `to`, and the line it names) is
applied to the reference's `Spec`, not to fitc's text or model, and the reference (CP-SAT,
tests/reference.py) decides the repaired spec. Nothing here imports `fitlang.solve` or
`fitlang.model`: fitc is run through its command line, as a user runs it.

What is checked, per policy the reference proves infeasible (docs/cli.md, `fitc explain`):
- the outcome is `conflict`;
- every repair (and a pair's two changes together) makes the spec feasible;
- a repair whose `checked_cost_least` is true costs the reference's optimum of the repaired spec,
  and one that is not costs at least that (it is a placement's cost);
- a repair that changes a number by the least that works (nodes added, replicas lowered, the
  budget in cents, a buy block's max_count, a spread's max_skew, a latency limit in ms, a power
  cap in whole kW) does not work one step less.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import re
from collections import Counter
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import reference

# one step less of each numeric repair: the unit its value is searched in
LESS = {"capacity": -1, "replicas": 1, "budget": -1, "buy": -1, "spread": -1, "power": -1000,
        "latency": -1}
CENT = Fraction(1, 100)


@dataclass
class ExplainCheck:
    seed: int | str
    tally: Counter = field(default_factory=Counter)
    disagreements: list[str] = field(default_factory=list)


def fitc_json(argv: list[str]) -> dict:
    from fitlang.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        main(argv)
    return json.loads(out.getvalue())


def check_explain(seed: int | reference.Spec, directory: Path, time_limit: float = 10.0) -> ExplainCheck:
    """Explain's verdict and repairs on one random policy (nothing to check where the reference
    finds a placement, or cannot decide)."""
    spec = seed if isinstance(seed, reference.Spec) else reference.generate(seed)
    result = ExplainCheck(seed if isinstance(seed, int) else "spec")
    answer = reference.reference(spec, time_limit)
    if spec.allow_unplaced or not answer.decided or answer.feasible:
        return result
    text = reference.to_fit(spec)
    path = directory / f"seed{result.seed}.fit"
    path.write_text(text)
    document = fitc_json(["explain", str(path), "--format", "json", "--time-limit", "20"])
    result.tally["infeasible"] += 1
    if document["outcome"] != "conflict":
        result.disagreements.append(f"outcome {document['outcome']} where the reference proves none")
        return result
    lines = text.split("\n")
    for repair in document["repairs"]:
        _check_repair(spec, [repair], lines, result, time_limit)
    if document["pair"]:
        _check_repair(spec, document["pair"], lines, result, time_limit)
    return result


def _check_repair(spec: reference.Spec, changes: list[dict], lines: list[str], result: ExplainCheck,
                  time_limit: float) -> None:
    said = " + ".join(change["text"] for change in changes)
    repaired = spec
    for change in changes:
        repaired = applied(repaired, change, lines)
        if repaired is None:
            result.tally[f"not applied: {change['rule']}"] += 1
            return
    answer = reference.reference(repaired, time_limit)
    if not answer.decided:
        result.tally["undecided"] += 1
        return
    result.tally["repairs checked"] += 1
    if not answer.feasible:
        result.disagreements.append(f"`{said}` does not repair the policy")
        return
    last = changes[-1]
    cost = None if last.get("checked_cost") is None else Fraction(str(last["checked_cost"]))
    if cost is not None and last.get("checked_cost_least") and abs(cost - answer.cost) >= CENT / 2:
        result.disagreements.append(f"`{said}`: cheapest {cost}, the reference's {answer.cost}")
    elif cost is not None and cost + CENT / 2 < answer.cost:
        result.disagreements.append(f"`{said}`: cost {cost} below the reference's optimum {answer.cost}")
    if len(changes) == 1 and last["rule"] in LESS and last.get("from") is not None:
        less = applied(spec, last, lines, LESS[last["rule"]])
        lesser = reference.reference(less, time_limit) if less is not None else None
        if lesser is not None and lesser.decided and lesser.feasible:
            result.disagreements.append(f"`{said}`: one step less repairs it too")
        elif lesser is not None and lesser.decided:
            result.tally[f"least: {last['rule']}"] += 1


def applied(spec: reference.Spec, repair: dict, lines: list[str], less: int = 0) -> reference.Spec | None:
    """The spec with the repair made (`less`: that many units the other way: one step short).
    None where the repair is not one this module can restate on a Spec."""
    repaired = copy.deepcopy(spec)
    rule, to = repair["rule"], repair.get("to")
    change = _NUMERIC.get(rule)
    if change is not None and to is not None:
        return repaired if change(repaired, repair, lines, less) is not False else None
    if less:
        return None  # a rule dropped has no "one step short"
    if rule in ("rule", "affinity", "spread", "exclusive"):
        return repaired if _dropped_or_relaxed(repaired, repair) else None
    return None


def _workload(spec: reference.Spec, name: str) -> reference.Workload:
    return next(w for w in spec.workloads if w.name == name)


def _number(text: str) -> Fraction:
    return Fraction(re.match(r"[\d.]+", text).group())


def _pool_count(spec, repair, lines, less):
    if not repair["text"].startswith("add"):
        return False
    next(p for p in spec.pools if p.name == repair["subject"]).count = int(repair["to"]) + less


def _replicas(spec, repair, lines, less):
    workload = _workload(spec, repair["subject"])
    if workload.options or not repair["text"].startswith("lower"):
        return False
    workload.replicas = int(repair["to"]) + less


def _budget(spec, repair, lines, less):
    spec.budget = int(_number(repair["to"]) * 100) + less


def _buy(spec, repair, lines, less):
    line = int(re.search(r"at line (\d+)", repair["text"]).group(1))
    index = int(re.match(r"buy b(\d+) \{", lines[line - 1]).group(1))
    spec.buys[index].max_count = int(repair["to"]) + less


def _skew(spec, repair, lines, less):
    topology = re.search(r"spread over (\S+)", repair["text"]).group(1)
    workload = _workload(spec, repair["subject"])
    workload.spreads = [(t, int(repair["to"]) + less if t == topology else k) for t, k in workload.spreads]


def _power(spec, repair, lines, less):
    index = int(re.search(r"`cap(\d+)`", repair["text"]).group(1))
    zone, _ = spec.power_caps[index]
    spec.power_caps[index] = (zone, int(_number(repair["to"]) * 1000) + less)


def _latency(spec, repair, lines, less):
    workload = _workload(spec, repair["subject"])
    workload.latency = (int(_number(repair["to"])) + less, workload.latency[1])


_NUMERIC = {"capacity": _pool_count, "replicas": _replicas, "budget": _budget, "buy": _buy,
            "spread": _skew, "power": _power, "latency": _latency}


def _dropped_or_relaxed(spec: reference.Spec, repair: dict) -> bool:
    """A rule of a workload dropped, or its GPU memory floor lowered."""
    workload = _workload(spec, repair["subject"])
    said = repair["from"] or re.search(r"`([^`]+)`", repair["text"]).group(1)
    if repair["text"].startswith("relax") and said.startswith("memory"):
        workload.gpu_min_memory = int(re.search(r"(\d+)GB", repair["to"]).group(1))
        return True
    if not repair["text"].startswith("drop"):
        return False
    rule = re.match(r"(anti_affinity|affinity) (\S+) on (\S+)$", said)
    spread = re.match(r"drop the spread over (\S+) from", repair["text"])
    if rule:
        workload.rules.remove((rule.group(2), rule.group(3), rule.group(1) == "anti_affinity"))
    elif spread:
        workload.spreads = [(t, k) for t, k in workload.spreads if t != spread.group(1)]
    elif said.startswith("labels["):
        workload.labels.pop(re.match(r'labels\["([^"]+)"\]', said).group(1))
    elif said.startswith("zone"):
        workload.zones = None
    elif said.startswith("residency"):
        workload.residency = None
    elif said.startswith("memory"):
        workload.gpu_min_memory = None
    elif said.startswith("exclusive"):
        workload.exclusive = False
    else:
        return False
    return True
