"""A test file read into its cases: which policy each tests, what it changes, what it expects.

A test file (`*_test.fit`, beside the policies, as `opa test` finds `*_test.rego`) holds `test`
blocks. Each names the policy it tests (`policy = "llm.fit"`; by default the file the test
file is named after: `llm_test.fit` tests `llm.fit`), may change it (a block such as
`workload chat { replicas = 8 }` sets those attributes of the policy's `workload chat`), and
states in `expect { ... }` what the outcome must be. The syntax is the language's own (the
parser reads test files; a test's name is a name, as a pool's is: `test fits_twice_the_traffic { ... }`);
what a `test` block may hold is this module's business, checked here
with the same diagnostics as a policy's blocks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from fitlang import messages as msg
from fitlang.check import types as t
from fitlang.diagnostics import Diagnostic, did_you_mean, hint
from fitlang.span import Span
from fitlang.syntax import nodes as n
from fitlang.syntax.printer import expression_text

OUTCOMES = ("placed", "partial", "infeasible", "undecided", "invalid")
# what `expect` may say of the whole placement: attribute -> (what it is, its dimension)
EXPECTATIONS = {"outcome": ("an outcome", None), "min_cost": ("a rate", "rate"),
                "max_cost": ("a rate", "rate"), "max_bought": ("a number", ""),
                "diagnostics": ("a list of diagnostic codes", None),
                # with a horizon (issue 19): the cost over the whole horizon, in USD
                "min_total_cost": ("an amount", "money"), "max_total_cost": ("an amount", "money"),
                # and what the nodes in use emit over it, in kgCO2e
                "min_total_carbon": ("an amount of CO2e", "carbon"),
                "max_total_carbon": ("an amount of CO2e", "carbon")}
# what `expect { workload NAME { ... } }` may say of one workload's replicas
WORKLOAD_EXPECTATIONS = {"pools": "a list of pool names", "zones": "a list of zone names",
                         "regions": "a list of region names", "placed": "a number",
                         "unplaced": "a number",
                         "starts": "a list of date-times"}  # with a horizon: when replicas start
CASE_ATTRIBUTES = {"policy": "a file name", "time_limit": "a duration"}
DEFAULT_TIME_LIMIT = Fraction(60)


@dataclass(frozen=True)
class Expected:
    """One expectation: what it says, and where it stands in the test file (for failures)."""

    name: str  # outcome, min_cost, ... or `pools` of a workload
    value: str | int | Fraction | tuple[str, ...]
    span: Span
    workload: str | None = None  # for the expectations of one workload's replicas


@dataclass(frozen=True)
class Override:
    """A block of the test that changes the policy's block of the same kind and name."""

    block: n.Block


@dataclass(frozen=True)
class Case:
    name: str
    path: str  # the test file, as diagnostics name it
    span: Span  # the `test` block's name
    policy: Path
    policy_span: Span  # where the policy is named (or the test's name, for the default)
    overrides: tuple[Override, ...]
    expected: tuple[Expected, ...]
    time_limit: Fraction = DEFAULT_TIME_LIMIT
    text: str = ""  # the test file's text, for the overrides' expressions


@dataclass
class CaseFile:
    cases: list[Case] = field(default_factory=list)
    diagnostics: list[Diagnostic] = field(default_factory=list)


def read_cases(module: n.Module, text: str, file: Path) -> CaseFile:
    """The cases of a parsed test file, and what is wrong with them (every error, not only
    the first)."""
    found = CaseFile()
    for decl in module.decls:
        if isinstance(decl, n.Block) and decl.kind.name == "test":
            case = _case(decl, module.path, text, file, found.diagnostics)
            if case is not None:
                found.cases.append(case)
        else:
            found.diagnostics.append(msg.TestFileStatement(found=_shown(decl)).diagnostic(
                module.path, _span_of(decl)))
    return found


def default_policy(file: Path) -> Path:
    """`llm_test.fit` tests `llm.fit`."""
    stem = file.name.removesuffix(".fit").removesuffix("_test")
    return file.with_name(f"{stem}.fit")


def _case(block: n.Block, path: str, text: str, file: Path,
          diagnostics: list[Diagnostic]) -> Case | None:
    if block.name is None:
        diagnostics.append(msg.MissingName(kind="test").diagnostic(path, block.kind.span))
        return None
    name = block.name.name
    policy, policy_span = default_policy(file), block.name.span
    time_limit = DEFAULT_TIME_LIMIT
    overrides: list[Override] = []
    expected: list[Expected] = []
    stated = False  # an expectation was written, if not read: its error says enough
    for entry in block.entries:
        if isinstance(entry, n.Attribute) and entry.name.name == "policy":
            named = _string(entry.value, path, diagnostics, "a file name")
            if named is not None:
                policy, policy_span = file.parent / named, entry.value.span
        elif isinstance(entry, n.Attribute) and entry.name.name == "time_limit":
            limit = _quantity(entry.value, "time", path, diagnostics)
            if limit is not None:
                time_limit = limit
        elif isinstance(entry, n.Attribute):
            diagnostics.append(_unknown("test", entry.name, CASE_ATTRIBUTES, path))
        elif isinstance(entry, n.Block) and entry.kind.name == "expect":
            expected.extend(_expectations(entry, path, diagnostics))
            stated = stated or bool(entry.entries)
        elif isinstance(entry, n.Block):
            overrides.append(Override(entry))
        else:
            diagnostics.append(msg.StatementNotAllowed(statement=_shown(entry), block="test")
                               .diagnostic(path, _span_of(entry)))
    if not stated:
        diagnostics.append(msg.TestExpectsNothing(test=name).diagnostic(path, block.name.span))
    return Case(name, path, block.name.span, policy, policy_span, tuple(overrides),
                tuple(expected), time_limit, text)


def _expectations(block: n.Block, path: str, diagnostics: list[Diagnostic]) -> list[Expected]:
    found: list[Expected] = []
    for entry in block.entries:
        if isinstance(entry, n.Attribute):
            value = _expectation(entry, path, diagnostics)
            if value is not None:
                found.append(Expected(entry.name.name, value, entry.span))
        elif isinstance(entry, n.Block) and entry.kind.name == "workload" and entry.name is not None:
            workload = entry.name.name
            for item in entry.entries:
                if not isinstance(item, n.Attribute):
                    diagnostics.append(msg.StatementNotAllowed(statement=_shown(item), block="expect")
                                       .diagnostic(path, _span_of(item)))
                    continue
                value = _workload_expectation(item, path, diagnostics)
                if value is not None:
                    found.append(Expected(item.name.name, value, item.span, workload))
        else:
            diagnostics.append(msg.StatementNotAllowed(statement=_shown(entry), block="expect")
                               .diagnostic(path, _span_of(entry)))
    return found


def _expectation(entry: n.Attribute, path: str,
                 diagnostics: list[Diagnostic]) -> str | int | Fraction | tuple[str, ...] | None:
    name = entry.name.name
    if name not in EXPECTATIONS:
        diagnostics.append(_unknown("expect", entry.name, EXPECTATIONS, path))
        return None
    if name == "outcome":
        return _choice(entry.value, OUTCOMES, "outcome", path, diagnostics)
    if name == "diagnostics":
        return _strings(entry.value, path, diagnostics, EXPECTATIONS[name][0])
    if name == "max_bought":
        return _count(entry.value, path, diagnostics)
    return _quantity(entry.value, EXPECTATIONS[name][1] or "rate", path, diagnostics)


def _workload_expectation(entry: n.Attribute, path: str,
                          diagnostics: list[Diagnostic]) -> int | tuple[str, ...] | None:
    name = entry.name.name
    if name not in WORKLOAD_EXPECTATIONS:
        diagnostics.append(_unknown("expect workload", entry.name, WORKLOAD_EXPECTATIONS, path))
        return None
    if name in ("placed", "unplaced"):
        return _count(entry.value, path, diagnostics)
    return _strings(entry.value, path, diagnostics, WORKLOAD_EXPECTATIONS[name])


# ---- values: literals only (a test states outcomes, it computes nothing) -------------------


def _string(expr: n.Expr, path: str, diagnostics: list[Diagnostic], what: str) -> str | None:
    if isinstance(expr, n.String):
        return expr.value
    diagnostics.append(_mismatch(expr, what, path))
    return None


def _strings(expr: n.Expr, path: str, diagnostics: list[Diagnostic],
             what: str) -> tuple[str, ...] | None:
    if isinstance(expr, n.List) and all(isinstance(i, n.String | n.Name) for i in expr.items):
        return tuple(i.value if isinstance(i, n.String) else i.ident.name for i in expr.items)
    diagnostics.append(_mismatch(expr, what, path))
    return None


def _choice(expr: n.Expr, choices: tuple[str, ...], what: str, path: str,
            diagnostics: list[Diagnostic]) -> str | None:
    word = expr.ident.name if isinstance(expr, n.Name) else expr.value if isinstance(expr, n.String) \
        else None
    if word in choices:
        return word
    shown = word if word is not None else _shown(expr)
    diagnostics.append(msg.InvalidEnumValue(value=shown, what=what, choices=" | ".join(choices),
                                            hint=hint(did_you_mean(shown, choices)))
                       .diagnostic(path, expr.span))
    return None


def _count(expr: n.Expr, path: str, diagnostics: list[Diagnostic]) -> int | None:
    if isinstance(expr, n.Number):
        value = Fraction(expr.text)
        if value.denominator == 1 and value >= 0:
            return int(value)
        diagnostics.append(msg.NotIntegral(what="a count", value=expr.text).diagnostic(path, expr.span))
        return None
    diagnostics.append(_mismatch(expr, "a number", path))
    return None


def _quantity(expr: n.Expr, dimension: str, path: str,
              diagnostics: list[Diagnostic]) -> Fraction | None:
    if isinstance(expr, n.Quantity) and expr.unit in t.UNITS:
        found, value = t.quantity_value(expr.text, expr.unit)
        if found == dimension:
            return value
    diagnostics.append(_mismatch(expr, t.DIMENSION_NAMES[dimension], path))
    return None


def _mismatch(expr: n.Expr, expected: str, path: str) -> Diagnostic:
    return msg.TypeMismatch(expected=expected, found=f"`{_shown(expr)}`").diagnostic(path, expr.span)


def _unknown(block: str, name: n.Ident, known: dict, path: str) -> Diagnostic:
    return msg.UnknownAttribute(block=block, name=name.name, hint=hint(did_you_mean(name.name, known))
                                ).diagnostic(path, name.span)


_STATEMENTS = {n.Require: "require", n.Prefer: "prefer", n.Use: "use", n.Spread: "spread",
               n.ImportDecl: "import", n.ConstDecl: "const"}


def _shown(node: object) -> str:
    """A declaration, statement or expression as a message names it."""
    if isinstance(node, n.Block):
        return f"{node.kind.name} {node.name.name}" if node.name is not None else node.kind.name
    if isinstance(node, n.Affinity):
        return node.kind
    if isinstance(node, n.Attribute):
        return node.name.name
    if type(node) in _STATEMENTS:
        return _STATEMENTS[type(node)]
    return expression_text(node)


def _span_of(node: object) -> Span:
    span = getattr(node, "span", None)
    return span if isinstance(span, Span) else Span(1, 1, 1, 2)
