"""`fitc explain` against the independent reference: its verdict, its conflict, its repairs.

A repair in explain's JSON (its `rule`, `subject`, `from`, `to`, and the line it names) is
applied to the reference's `Spec`, not to fitc's text or model, and the reference (CP-SAT,
tests/reference.py) decides the repaired spec. Nothing here imports `fitlang.solve` or
`fitlang.model`: fitc is run through its command line, as a user runs it.

What is checked, per policy the reference proves infeasible (docs/cli.md, `fitc explain`):
- the outcome is `conflict`;
- the conflict is sufficient: the spec with only its parts enforced (the workloads whose
  replicas it names, required; every other workload optional; every rule it does not name
  dropped; a pool or buy block whose count it does not name with a node per replica) has no
  placement of every required replica;
- where it says `minimal`, dropping any one of its parts as well admits a placement;
- every repair (and a pair's two changes together) makes the spec feasible;
- a repair whose `checked_cost_least` is true costs the reference's optimum of the repaired spec,
  and one that is not costs at least that (it is a placement's cost);
- a repair's `fix` (the literal edit an editor offers), made on the policy's text, gives the
  text the reference writes for the repaired spec;
- a repair that changes a number by the least that works (nodes added, replicas lowered, the
  budget in cents, a buy block's max_count, a spread's max_skew, a latency limit in ms, a power
  cap in whole kW, a replica's request lowered to what a node has: a millicore, a MiB or a
  GPU more) does not work one step less.
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
    _check_conflict(spec, document, lines, result, time_limit)
    for repair in document["repairs"]:
        _check_repair(spec, [repair], lines, result, time_limit)
        _check_fix(spec, repair, text, result)
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


def _check_fix(spec: reference.Spec, repair: dict, text: str, result: ExplainCheck) -> None:
    fix = repair.get("fix")
    repaired = applied(spec, repair, text.split("\n")) if fix else None
    if repaired is None:
        return
    starts = [0]
    for line in text.split("\n"):
        starts.append(starts[-1] + len(line) + 1)
    begin = starts[fix["line"] - 1] + fix["column"] - 1
    end = starts[fix["end_line"] - 1] + fix["end_column"] - 1
    if _blocks(text[:begin] + fix["text"] + text[end:]) != _blocks(reference.to_fit(repaired)):
        result.disagreements.append(f"the fix of `{repair['text']}` is not that edit")
    else:
        result.tally["fixes checked"] += 1


def _blocks(text: str) -> list[tuple[str, list[str]]]:
    """The text's top-level lines, each with its block's lines in sorted order: an attribute
    line a fix inserts at the block's end is the same policy as the one `to_fit` writes
    in the middle (the order of a block's attributes means nothing), but not in another block.
    A `cpu` or `memory` is read as its amount (`cpu = 2` is `to_fit`'s `cpu = 2000m`)."""
    found: list[tuple[str, list[str]]] = []
    for line in map(_amount_read, text.split("\n")):
        if line[:1].isspace() and found:
            found[-1][1].append(line)
        else:
            found.append((line, []))
    return [(head, sorted(body)) for head, body in found]


def _amount_read(line: str) -> str:
    """`  cpu = 1.5` as `  cpu = 1500` (millicores), `  memory = 1GiB` as bytes: the same
    amount however the language writes it (docs/language.md, Values)."""
    cpu = re.fullmatch(r"(\s*)cpu = ([\d.]+)(m?)", line)
    if cpu:
        indent, amount, milli = cpu.groups()
        return f"{indent}cpu = {Fraction(amount) * (1 if milli else 1000)}"
    size = re.fullmatch(r"(\s*)memory = ([\d.]+)(GiB|MiB|KiB|KB)", line)
    if size:
        indent, amount, unit = size.groups()
        return f"{indent}memory = {Fraction(amount) * _SIZES[unit]}"
    return line


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
    if _LOWERED.match(repair["text"]):
        return _lowered_request(workload, repair["text"], less)
    workload.replicas = int(repair["to"]) + less


# `lower `w` cpu from 3 to 2 and memory from 8GiB to 4GiB so that one fits on a node of pool `p``
_LOWERED = re.compile(r"lower `[^`]+` (.+) so that one fits on a node of pool `[^`]+`$")
_LOWERED_ONE = re.compile(r"(cpu|memory|gpu count) from \S+ to (\S+)$")
_SIZES = {"GiB": 2 ** 30, "MiB": 2 ** 20, "KiB": 2 ** 10, "KB": 1000}


def _lowered_request(workload: reference.Workload, text: str, less: int) -> bool:
    """A replica's requests lowered (`less`: one unit more of each, cpu by a millicore, memory
    by a MiB, GPUs by one: a request that no node of the pool holds). The sizes read as
    docs/language.md writes them; False for one the Spec cannot state (memory in part of a MiB)."""
    for change in _LOWERED.match(text).group(1).split(" and "):
        resource, to = _LOWERED_ONE.match(change).groups()
        if resource == "cpu":
            workload.cpu_milli = int(Fraction(to) * 1000) + less
        elif resource == "gpu count":
            workload.gpus = int(to) + less
        else:
            amount, unit = re.fullmatch(r"([\d.]+)(GiB|MiB|KiB|KB)", to).groups()
            mib = Fraction(amount) * _SIZES[unit] / 2 ** 20 + less
            if mib.denominator != 1:
                return False
            workload.memory = mib / 1024
    return True


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
    tolerated = re.match(r"let `[^`]+` tolerate `([^`]+)`", repair["text"])
    if tolerated:  # a `dedicated` pool's value or a taint: the whole `tolerate` as written
        workload.tolerate = json.loads(repair["to"].removeprefix("tolerate = "))
        return True
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
    elif said.startswith("labels[") and " in [" in said:  # a `require labels[...] in [...]`
        workload.requires = [r for r in workload.requires if _required(r) != said]
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


def _check_conflict(spec: reference.Spec, document: dict, lines: list[str], result: ExplainCheck,
                    time_limit: float) -> None:
    conflict = document["conflict"]
    alone = enforced_only(spec, conflict, lines)
    if alone is None:
        result.tally["conflict not restated"] += 1
        return
    placed = _places_the_required(alone, time_limit)
    if placed:
        result.disagreements.append("the conflict is not sufficient: with only its parts, the "
                                    "reference places every replica")
        return
    result.tally["conflict sufficient" if placed is False else "undecided"] += 1
    if not document["minimal"]:
        return
    for part in conflict:
        fewer = enforced_only(spec, [p for p in conflict if p is not part], lines)
        if fewer is not None and _places_the_required(fewer, time_limit) is False:
            result.disagreements.append(f"the conflict is not minimal: without `{part['text']}` "
                                        "there is still no placement")
            return
    result.tally["conflict minimal"] += 1


REQUIRED, OPTIONAL = 1, 0  # the priorities `enforced_only` gives


def _places_the_required(restricted: reference.Spec, time_limit: float) -> bool | None:
    """Whether every required workload places in full (None: the reference ran out of time)."""
    answer = reference.reference(restricted, time_limit)
    if not answer.decided:
        return None
    need = sum(reference._full(w) for w in restricted.workloads if w.priority == REQUIRED)
    return answer.feasible and answer.placed_by_level.get(REQUIRED, 0) == need


def enforced_only(spec: reference.Spec, conflict: list[dict], lines: list[str]) -> reference.Spec | None:
    """The spec with only the conflict's parts enforced (None where one is not restated here):
    the workloads whose replicas it names required, every other one optional (the lower
    priority, with `allow_unplaced`: the reference places the required first), the rules it
    does not name dropped, the counts it does not name a node per replica."""
    restricted = copy.deepcopy(spec)
    required = {p["subject"] for p in conflict if p["rule"] in ("replicas", "throughput")}
    named = _clauses_by_workload(conflict)
    if named is None:
        return None
    restricted.allow_unplaced = True
    for workload in restricted.workloads:
        _keep_named(workload, named.get(workload.name, set()))
        _tolerate_unnamed(workload, named.get(workload.name, set()), restricted.pools)
        workload.priority = REQUIRED if workload.name in required else OPTIONAL
    enough = sum(max([w.replicas] + [r for _, r in w.options or []]) for w in restricted.workloads)
    pools = {p["subject"] for p in conflict if p["rule"] == "capacity"}
    for pool in restricted.pools:
        pool.count = pool.count if pool.name in pools else max(pool.count, enough)
    buys = {_buy_index(p["text"], lines) for p in conflict if p["rule"] == "buy"}
    for index, buy in enumerate(restricted.buys):
        buy.max_count = buy.max_count if index in buys else enough
    caps = {int(re.search(r"`cap(\d+)`", p["text"]).group(1)) for p in conflict if p["rule"] == "power"}
    restricted.power_caps = [cap for index, cap in enumerate(restricted.power_caps) if index in caps]
    if not any(p["rule"] == "budget" for p in conflict):
        restricted.budget = None
    return restricted


def _required(requirement: tuple[str, list[str]]) -> str:
    """A `require labels[...] in [...]` as fitc names it (reference.py writes it so)."""
    key, values = requirement
    return f'labels["{key}"] in [{", ".join(reference._quoted(values))}]'


def _tolerate_unnamed(workload: reference.Workload, named: set[str], pools: list[reference.Pool]) -> None:
    """A node's taint or `dedicated` keeps the workload off only where the conflict names it
    (`taint k=v:EFFECT`, `dedicated = "v"`, one part per workload whatever the pool):
    the workload tolerates every other."""
    for pool in pools:
        if pool.dedicated is not None and f'dedicated = "{pool.dedicated}"' not in named:
            workload.tolerate.append(pool.dedicated)
        # explain's part is a taint of one effect: tolerated of that effect alone
        workload.tolerate += [f"{k}={v}:{pool.taint_effect}" for k, v in pool.taints
                              if f"taint {k}={v}:{pool.taint_effect}" not in named]


def _buy_index(text: str, lines: list[str]) -> int:
    line = int(re.search(r"at line (\d+)", text).group(1))
    return int(re.match(r"buy b(\d+) \{", lines[line - 1]).group(1))


def _clauses_by_workload(conflict: list[dict]) -> dict[str, set[str]] | None:
    """Per workload, the clauses of its rules the conflict names ("spread zone", "latency",
    "exclusive", `labels["k"] == "v"`, `anti_affinity w on zone`, ...)."""
    named: dict[str, set[str]] = {}
    for part in conflict:
        rule, text = part["rule"], part["text"]
        if rule in ("rule", "affinity"):
            # `w` has `CLAUSE`, or (a `dedicated` pool) pool(s) `p`, ... has (have) `CLAUSE`
            clause = re.match(r"(?:`[^`]+`|pools? `.+`) ha(?:s|ve) `([^`]+)`", text)
            if clause is None:
                return None
            named.setdefault(part["subject"], set()).add(clause.group(1))
        elif rule == "spread":
            named.setdefault(part["subject"], set()).add(
                "spread " + re.search(r"spread over (\S+)", text).group(1))
        elif rule in ("latency", "exclusive", "gang"):
            named.setdefault(part["subject"], set()).add(rule)
        elif rule not in ("replicas", "throughput", "capacity", "buy", "power", "budget"):
            return None
    return named


def _keep_named(workload: reference.Workload, named: set[str]) -> None:
    """Drop each rule of the workload the conflict does not name."""
    # bench/mixed_rules.py states fitc's `arch` to the reference as the `cpuarch` label
    workload.labels = {k: v for k, v in workload.labels.items() if f'labels["{k}"] == "{v}"' in named
                       or (k == "cpuarch" and any(c.startswith("arch") for c in named))}
    workload.requires = [r for r in workload.requires if _required(r) in named]
    if not any(c.startswith("zone") for c in named):
        workload.zones = None
    if not any(c.startswith("residency") for c in named):
        workload.residency = None
    if not any(c.startswith("memory") for c in named):
        workload.gpu_min_memory = None
    workload.spreads = [(t, k) for t, k in workload.spreads if f"spread {t}" in named]
    workload.rules = [(target, topology, anti) for target, topology, anti in workload.rules
                      if f"{'anti_affinity' if anti else 'affinity'} {target} on {topology}" in named]
    workload.exclusive = workload.exclusive and "exclusive" in named
    if "latency" not in named:
        workload.latency = None
    if workload.options and workload.gang and "gang" not in named:
        workload.gang = False
