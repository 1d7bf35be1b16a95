"""Running a test case: the policy (changed as the test says) through the driver, as `fitc
solve` runs it, and each expectation compared with what came out."""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.driver import Compilation
from fitlang.outcome import Observed, observe
from fitlang.syntax.parser import parse_source
from fitlang.testing.cases import Case, Expected
from fitlang.testing.overrides import apply_overrides


@dataclass(frozen=True)
class Failure:
    """An expectation that did not hold: what it said, what came out instead."""

    expected: Expected
    message: str


@dataclass
class Result:
    case: Case
    failures: list[Failure] = field(default_factory=list)
    errors: list[Diagnostic] = field(default_factory=list)  # the case could not run
    observed: Observed | None = None
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return not self.failures and not self.errors


def run_case(case: Case, project_root: Path | None = None) -> Result:
    started = time.monotonic()
    result = Result(case)
    try:
        data = case.policy.read_bytes()
    except OSError as error:
        result.errors.append(msg.FileUnreadable(file=str(case.policy), reason=error.strerror or "unreadable")
                             .diagnostic(case.path, case.policy_span))
        return result
    text = data.decode("utf-8", errors="replace")
    parsed = parse_source(text, str(case.policy))
    if case.overrides and not parsed.diagnostics:  # a policy that does not parse is `invalid` as it is
        text, problems = apply_overrides(parsed.module, text, [o.block for o in case.overrides],
                                         case.path, case.text)
        if problems:
            result.errors.extend(problems)
            return result
    compilation = Compilation(case.policy, {case.policy: text}, project_root)
    result.observed = observe(compilation, float(case.time_limit))
    result.failures = [failure for expected in case.expected
                       for failure in _compare(expected, result.observed)]
    result.seconds = time.monotonic() - started
    return result


def _compare(expected: Expected, observed: Observed) -> list[Failure]:
    name, value = expected.name, expected.value
    if expected.workload is not None:
        return _compare_workload(expected, observed)
    if name == "outcome" and value != observed.outcome:
        return [Failure(expected, f"outcome: expected {value}, got {observed.outcome}")]
    if name == "diagnostics" and isinstance(value, tuple) and tuple(sorted(set(value))) != observed.codes:
        return [Failure(expected, f"diagnostics: expected {_listed(value)}, got {_listed(observed.codes)}")]
    if name in ("min_cost", "max_cost"):
        return _compare_cost(expected, observed)
    if name in TOTALS:
        return _compare_total(expected, observed)
    if name == "max_bought" and isinstance(value, int) and observed.bought > value:
        return [Failure(expected, f"nodes bought: expected at most {value}, got {observed.bought}")]
    return []


def _compare_cost(expected: Expected, observed: Observed) -> list[Failure]:
    bound = expected.value
    assert isinstance(bound, Fraction)
    cost = observed.cost
    if cost is None:
        return [Failure(expected, f"cost: expected {_money(bound)}, but no placement ({observed.outcome})")]
    if expected.name == "max_cost" and cost > bound:
        return [Failure(expected, f"cost: expected at most {_money(bound)}, got {_money(cost)}")]
    if expected.name == "min_cost" and cost < bound:
        return [Failure(expected, f"cost: expected at least {_money(bound)}, got {_money(cost)}")]
    return []


def _compare_workload(expected: Expected, observed: Observed) -> list[Failure]:
    workload, name, value = expected.workload, expected.name, expected.value
    assert workload is not None
    where = f"workload `{workload}`"
    if name == "starts":
        return _compare_starts(expected, observed)
    if name in ("placed", "unplaced"):
        got = (observed.placed if name == "placed" else observed.unplaced).get(workload, 0)
        if got != value:
            return [Failure(expected, f"{where}: expected {value} replicas {name}, got {got}")]
        return []
    assert isinstance(value, tuple)
    found = {"pools": observed.pools, "zones": observed.zones, "regions": observed.regions}[name]
    used = found.get(workload, set())
    outside = sorted(str(v) for v in used if v not in value)
    if outside:
        return [Failure(expected, f"{where}: expected its replicas in {_listed(value)} only, "
                                  f"got some in {_listed(outside)}")]
    if not used:
        return [Failure(expected, f"{where}: expected replicas in {_listed(value)}, but none is placed")]
    return []


def _listed(values: Iterable[object]) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _money(value: Fraction) -> str:
    return f"{float(value):.2f} USD/h"


# with a horizon: expectations of a total over the whole horizon -> (what, unit, its field)
TOTALS = {"min_total_cost": ("cost", "USD", "total_cost"),
          "max_total_cost": ("cost", "USD", "total_cost"),
          "min_total_carbon": ("carbon", "kgCO2e", "total_carbon"),
          "max_total_carbon": ("carbon", "kgCO2e", "total_carbon")}


def _compare_total(expected: Expected, observed: Observed) -> list[Failure]:
    """With a horizon: the cost (USD) or the carbon (kgCO2e) over the whole horizon."""
    bound = expected.value
    assert isinstance(bound, Fraction)
    what, unit, field = TOTALS[expected.name]
    total = getattr(observed, field)
    if total is None:
        return [Failure(expected, f"{what} over the horizon: expected {float(bound):.2f} {unit}, "
                                  f"but no placement in time ({observed.outcome})")]
    if expected.name.startswith("max_") and total > bound:
        return [Failure(expected, f"{what} over the horizon: expected at most {float(bound):.2f} "
                                  f"{unit}, got {float(total):.2f} {unit}")]
    if expected.name.startswith("min_") and total < bound:
        return [Failure(expected, f"{what} over the horizon: expected at least {float(bound):.2f} "
                                  f"{unit}, got {float(total):.2f} {unit}")]
    return []


def _compare_starts(expected: Expected, observed: Observed) -> list[Failure]:
    """The instants a workload's replicas start at, compared as instants (any UTC offset)."""
    from fitlang.check.timing import parse_instant
    from fitlang.solve.timeline import iso

    workload = expected.workload
    assert workload is not None and isinstance(expected.value, tuple)
    wanted = set()
    for text in expected.value:
        moment = parse_instant(text)[0]
        wanted.add(iso(moment) if moment is not None else text)
    got = observed.starts.get(workload, set())
    if got != wanted:
        return [Failure(expected, f"workload `{workload}`: expected starts {_listed(sorted(wanted))}, "
                                  f"got {_listed(sorted(got))}")]
    return []
