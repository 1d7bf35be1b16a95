"""Typing and evaluating expressions.

Two jobs: `Evaluator.value` computes an attribute or constant at check time
(units and types checked on the way); `Evaluator.predicate` turns a
`require`/`prefer` condition into a `Predicate` over the candidate node's
attributes, with the constant side already evaluated.

Every failure is reported once and yields `None`, which silences follow-on
errors about the same expression.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol

from fitlang import messages as msg
from fitlang.check import types as t
from fitlang.check.program import AllOf, AnyOf, Compare, Constant, Negation, Origin, Predicate
from fitlang.check.types import Type
from fitlang.diagnostics import Diagnostic, did_you_mean, hint
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span


@dataclass(frozen=True)
class Typed:
    type: Type
    value: Any


@dataclass(frozen=True)
class Symbol:
    kind: str  # const, accelerator, pool, inventory, offer, workload, profile
    name: str
    decl: Any
    module: Any  # the SourceModule it is declared in


class Resolver(Protocol):
    path: str

    def lookup(self, name: str) -> Symbol | None: ...
    def names(self, kind: str | None = None) -> list[str]: ...
    def alias(self, name: str) -> Resolver | None: ...
    def const_value(self, symbol: Symbol) -> Typed | None: ...
    def accelerator_attribute(self, symbol: Symbol, attr: str, span: Span) -> Typed | None: ...
    def offer_attribute(self, symbol: Symbol, attr: str, span: Span) -> Typed | None: ...
    def was_dropped(self, name: str) -> bool: ...
    def report(self, diagnostic: Diagnostic) -> None: ...


_COMPARISONS = ("==", "!=", "<", "<=", ">", ">=")
_MIRROR = {"==": "==", "!=": "!=", "<": ">", "<=": ">=", ">": "<", ">=": "<="}
_ORDERED_KINDS = ("number",)


LITERAL_MAX = 10 ** 18  # docs/language.md, "Ranges"
_LITERAL = re.compile(r"^(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$")


# a policy repeats its numbers (`1`, `64`, `0.5`); Fractions are immutable
@functools.lru_cache(maxsize=1 << 16)
def literal_fraction(text: str) -> Fraction | None:
    """The value of a number literal, or None when its magnitude passes LITERAL_MAX. Checked on
    the text first: `1e999999999` would take minutes to expand, 5,000 digits raise in `int`."""
    match = _LITERAL.match(text)
    if match is None:
        return None
    whole, decimals, exponent = match.group(1).lstrip("0"), match.group(2) or "", match.group(3)
    digits_of_exponent = (exponent or "").lstrip("+-").lstrip("0")
    if len(whole) > 19 or len(decimals) > 40 or len(digits_of_exponent) > 3:
        return None if whole or decimals.strip("0") else Fraction(0)
    value = Fraction(text)
    return value if abs(value) <= LITERAL_MAX else None



# per distinct number and unit (`64Gi`, `500m`): a fleet's pools repeat them
_quantity_value = functools.lru_cache(maxsize=1 << 16)(t.quantity_value)


def accelerator_hint(name: str, suggestion: str | None) -> str:
    """Where an unknown accelerator model is defined, when a stdlib module that is not
    imported defines it; else the closest name in scope."""
    from fitlang.check.loader import stdlib_home

    home = stdlib_home("accelerator", name)
    if home is not None:
        return f'; `import "{home}"` defines it'
    return hint(suggestion)


def _shorten(text: str) -> str:
    return text if len(text) <= 24 else f"{text[:10]}...{text[-6:]} ({len(text)} characters)"


class Evaluator:
    def __init__(self, resolver: Resolver) -> None:
        self.r = resolver

    # ---- constant values --------------------------------------------------

    def value(self, expr: n.Expr, expected: Type = t.ANY) -> Typed | None:
        method: Callable = getattr(self, f"_value_{type(expr).__name__}")
        result = method(expr, expected)
        if result is None:
            return None
        if not expected.accepts(result.type):
            self._mismatch(expr, expected, result.type)
            return None
        return result

    def _mismatch(self, expr: n.Expr, expected: Type, found: Type) -> None:
        if expected.kind == "number" and found.kind == "number":
            example = t.DIMENSION_EXAMPLES[expected.dim]
            hint = ""
            if expected.dim == "time" and isinstance(expr, n.Quantity) and expr.unit == "m":
                # `90m` reads as minutes to a person and as 0.09 to the unit table (milli)
                hint = (f"; `m` means thousandths (as in `500m` CPU): minutes are `min`, "
                        f"as in `{expr.text}min`")
            found_text = f"found {found.describe()}{hint}"
            self.r.report(
                msg.UnitMismatch(
                    detail=f"expected {expected.describe()} (like `{example}`), {found_text}"
                ).diagnostic(self.r.path, expr.span)
            )
        else:
            self.r.report(
                msg.TypeMismatch(expected=expected.describe(), found=found.describe()).diagnostic(
                    self.r.path, expr.span
                )
            )

    def _value_Number(self, expr: n.Number, expected: Type) -> Typed | None:
        value = literal_fraction(expr.text)
        if value is None:
            self._too_large(expr, expr.text)
            return None
        return Typed(t.NUMBER, value)

    def _value_Quantity(self, expr: n.Quantity, expected: Type) -> Typed | None:
        number = literal_fraction(expr.text)
        if number is None:
            self._too_large(expr, f"{expr.text}{expr.unit}")
            return None
        dim, amount = _quantity_value(str(number), expr.unit)
        return Typed(t.number_type(dim), amount)

    def _too_large(self, expr: n.Expr, shown: str) -> None:
        self.r.report(
            msg.NumberTooLarge(value=_shorten(shown), limit="1e18").diagnostic(self.r.path, expr.span)
        )

    def _value_String(self, expr: n.String, expected: Type) -> Typed:
        return Typed(t.STRING, expr.value)

    def _value_Boolean(self, expr: n.Boolean, expected: Type) -> Typed:
        return Typed(t.BOOL, expr.value)

    def _value_Paren(self, expr: n.Paren, expected: Type) -> Typed | None:
        return self.value(expr.expr, expected)

    def _value_Name(self, expr: n.Name, expected: Type) -> Typed | None:
        name = expr.ident.name
        symbol = self.r.lookup(name)
        if symbol is None:
            return self._bare_word(expr.ident, expected)
        return self._symbol_value(symbol, expr.ident, expected)

    def _symbol_value(self, symbol: Symbol, ident: n.Ident, expected: Type) -> Typed | None:
        if symbol.kind == "const":
            return self.r.const_value(symbol)
        kind = symbol.kind
        if expected.kind == "ref" and expected.ref == "pool" and kind == "inventory":
            kind = "pool"  # an inventory is a pool whose nodes come from a file
        if expected.kind == "ref" and expected.ref != kind:
            self.r.report(
                msg.WrongKindOfName(
                    name=ident.name, actual=f"a {symbol.kind}", expected=expected.describe()
                ).diagnostic(self.r.path, ident.span)
            )
            return None
        return Typed(t.ref(kind), symbol.name)

    def _bare_word(self, ident: n.Ident, expected: Type) -> Typed | None:
        name = ident.name
        if self.r.was_dropped(name):
            return None  # its declaration had a syntax error, already reported
        element = expected.of if expected.kind == "list" else None
        if element is not None and element.kind == "choice" and name in element.choices:
            # `arch = arm64` where a list is asked for (a pool's `arch` is one value, a
            # workload's a list): the word is known, only its brackets are missing
            self.r.report(
                msg.TypeMismatch(expected=expected.describe(),
                                 found=f"one {element.label} (write `[{name}]`)").diagnostic(
                    self.r.path, ident.span
                )
            )
            return None
        if expected.kind == "choice":
            if name in expected.choices:
                return Typed(expected, name)
            self.r.report(
                msg.InvalidEnumValue(
                    value=name,
                    what=expected.label,
                    choices=", ".join(expected.choices),
                    hint=hint(did_you_mean(name, expected.choices)),
                ).diagnostic(self.r.path, ident.span)
            )
            return None
        if expected.kind == "ref" and expected.ref == "accelerator":
            candidates = self.r.names("accelerator")
            self.r.report(
                msg.UnknownAccelerator(
                    name=name, hint=accelerator_hint(name, did_you_mean(name, candidates))
                ).diagnostic(self.r.path, ident.span)
            )
            return None
        candidates = self.r.names(expected.ref or None) if expected.kind == "ref" else self.r.names()
        self.r.report(
            msg.UnknownName(name=name, hint=hint(did_you_mean(name, candidates))).diagnostic(
                self.r.path, ident.span
            )
        )
        return None

    def _value_Member(self, expr: n.Member, expected: Type) -> Typed | None:
        if isinstance(expr.target, n.Name):
            base = expr.target.ident.name
            module = self.r.alias(base) if self.r.lookup(base) is None else None
            if module is not None:
                inner = Evaluator(_AliasedResolver(module, self.r))
                return inner._value_Name(n.Name(expr.span, expr.attr), expected)
            symbol = self.r.lookup(base)
            if symbol is not None and symbol.kind == "accelerator":
                return self.r.accelerator_attribute(symbol, expr.attr.name, expr.attr.span)
            if symbol is not None and symbol.kind == "offer":  # its prices: an inventory's
                return self.r.offer_attribute(symbol, expr.attr.name, expr.attr.span)
        elif (isinstance(expr.target, n.Member) and isinstance(expr.target.target, n.Name)
              and self.r.lookup(expr.target.target.ident.name) is None
              and (module := self.r.alias(expr.target.target.ident.name)) is not None):
            # `aws.aws_m7i_2xlarge.price`: the member of a name of an imported module
            inner = Evaluator(_AliasedResolver(module, self.r))
            named = n.Member(expr.span, n.Name(expr.target.span, expr.target.attr), expr.attr)
            return inner._value_Member(named, expected)
        target = self.value(expr.target)
        if target is None:
            return None
        self.r.report(
            msg.InvalidKey(
                target=target.type.describe(), what="attribute", name=expr.attr.name, hint=""
            ).diagnostic(self.r.path, expr.attr.span)
        )
        return None

    def _value_Index(self, expr: n.Index, expected: Type) -> Typed | None:
        target = self.value(expr.target)
        if target is None:
            return None
        if target.type.kind == "map":
            key = self.value(expr.key, t.STRING)
            if key is None:
                return None
            if key.value not in target.value:
                self.r.report(
                    msg.InvalidKey(
                        target="the map",
                        what="key",
                        name=key.value,
                        hint=hint(did_you_mean(key.value, target.value)),
                    ).diagnostic(self.r.path, expr.key.span)
                )
                return None
            return Typed(t.STRING, target.value[key.value])
        if target.type.kind == "list":
            index = self.value(expr.key, t.NUMBER)
            if index is None:
                return None
            if index.value.denominator != 1 or not 0 <= index.value < len(target.value):
                self.r.report(
                    msg.OutOfRange(
                        what="the index", bound=f"from 0 to {len(target.value) - 1}", value=str(index.value)
                    ).diagnostic(self.r.path, expr.key.span)
                )
                return None
            return Typed(target.type.of or t.ANY, target.value[int(index.value)])
        self.r.report(
            msg.TypeMismatch(expected="a list or a map", found=target.type.describe()).diagnostic(
                self.r.path, expr.target.span
            )
        )
        return None

    def _value_Call(self, expr: n.Call, expected: Type) -> None:
        self.r.report(
            msg.UnknownFunction(name=expr.func.name, hint="").diagnostic(self.r.path, expr.func.span)
        )
        return None

    def _value_List(self, expr: n.List, expected: Type) -> Typed | None:
        element = expected.of if expected.kind == "list" and expected.of else t.ANY
        items: list[Typed] = []
        for item in expr.items:
            value = self.value(item, element)
            if value is None:
                return None
            if element.kind == "any":
                element = value.type
            items.append(value)
        if items and any(not items[0].type.accepts(i.type) for i in items):
            odd = next(i for i, v in zip(expr.items, items) if not items[0].type.accepts(v.type))
            self._mismatch(odd, items[0].type, next(
                v.type for v in items if not items[0].type.accepts(v.type)))
            return None
        element_type = element if element.kind != "any" else None
        return Typed(t.Type("list", of=element_type), [v.value for v in items])

    def _value_Map(self, expr: n.Map, expected: Type) -> Typed | None:
        result: dict[str, str] = {}
        for pair in expr.pairs:
            if pair.key_text in result:
                self.r.report(
                    msg.DuplicateAttribute(name=pair.key_text).diagnostic(self.r.path, pair.key.span)
                )
                return None
            value = self.value(pair.value, t.STRING)
            if value is None:
                return None
            result[pair.key_text] = value.value
        return Typed(t.MAP, result)

    def _value_Unary(self, expr: n.Unary, expected: Type) -> Typed | None:
        if expr.op == "not":
            operand = self.value(expr.operand, t.BOOL)
            return None if operand is None else Typed(t.BOOL, not operand.value)
        operand = self.value(expr.operand)
        if operand is None:
            return None
        if operand.type.kind != "number":
            self.r.report(
                msg.InvalidOperator(op=expr.op, left="nothing", right=operand.type.describe()).diagnostic(
                    self.r.path, expr.span
                )
            )
            return None
        return Typed(operand.type, -operand.value if expr.op == "-" else operand.value)

    def _value_Binary(self, expr: n.Binary, expected: Type) -> Typed | None:
        if expr.op in ("and", "or"):
            left = self.value(expr.left, t.BOOL)
            right = self.value(expr.right, t.BOOL)
            if left is None or right is None:
                return None
            result = (left.value and right.value) if expr.op == "and" else (left.value or right.value)
            return Typed(t.BOOL, result)
        if expr.op in ("in", "not in"):
            return self._membership(expr)
        left = self.value(expr.left)
        right = self.value(expr.right, _hint_for(left))
        if left is None or right is None:
            return None
        if expr.op in _COMPARISONS:
            return self._compare(expr, left, right)
        return self._arithmetic(expr, left, right)

    def _membership(self, expr: n.Binary) -> Typed | None:
        left = self.value(expr.left)
        right = self.value(expr.right, t.list_of(left.type) if left else t.ANY)
        if left is None or right is None:
            return None
        if right.type.kind != "list":
            self.r.report(
                msg.TypeMismatch(expected="a list", found=right.type.describe()).diagnostic(
                    self.r.path, expr.right.span
                )
            )
            return None
        found = left.value in right.value
        return Typed(t.BOOL, found if expr.op == "in" else not found)

    def _compare(self, expr: n.Binary, left: Typed, right: Typed) -> Typed | None:
        if not (left.type.accepts(right.type) and right.type.accepts(left.type)):
            self._incompatible(expr, "compare", left.type, right.type)
            return None
        if expr.op not in ("==", "!=") and left.type.kind not in _ORDERED_KINDS:
            self.r.report(
                msg.InvalidOperator(
                    op=expr.op, left=left.type.describe(), right=right.type.describe()
                ).diagnostic(self.r.path, expr.op_span)
            )
            return None
        return Typed(t.BOOL, apply_comparison(expr.op, left.value, right.value))

    def _incompatible(self, expr: n.Binary, action: str, left: Type, right: Type) -> None:
        if left.kind == "number" and right.kind == "number":
            self.r.report(
                msg.UnitMismatch(
                    detail=f"cannot {action} {left.describe()} and {right.describe()}"
                ).diagnostic(self.r.path, expr.op_span)
            )
        else:
            self.r.report(
                msg.InvalidOperator(op=expr.op, left=left.describe(), right=right.describe()).diagnostic(
                    self.r.path, expr.op_span
                )
            )

    def _arithmetic(self, expr: n.Binary, left: Typed, right: Typed) -> Typed | None:
        if left.type.kind != "number" or right.type.kind != "number":
            if expr.op == "+" and left.type.kind == right.type.kind == "string":
                return Typed(t.STRING, left.value + right.value)
            if expr.op == "+" and left.type.kind == right.type.kind == "list":
                return Typed(left.type, left.value + right.value)
            self._incompatible(expr, "add" if expr.op == "+" else "combine", left.type, right.type)
            return None
        ldim, rdim = left.type.dim, right.type.dim
        if expr.op in "+-":
            if ldim != rdim:
                action = "add" if expr.op == "+" else "subtract"
                self.r.report(
                    msg.UnitMismatch(
                        detail=f"cannot {action} {left.type.describe()} and {right.type.describe()}"
                    ).diagnostic(self.r.path, expr.op_span)
                )
                return None
            total = left.value + right.value if expr.op == "+" else left.value - right.value
            return Typed(left.type, total)
        if expr.op == "*":
            if ldim and rdim:
                self._incompatible(expr, "multiply", left.type, right.type)
                return None
            return Typed(t.number_type(ldim or rdim), left.value * right.value)
        if right.value == 0:
            self.r.report(msg.DivisionByZero().diagnostic(self.r.path, expr.right.span))
            return None
        if rdim and rdim != ldim:
            self._incompatible(expr, "divide", left.type, right.type)
            return None
        return Typed(t.number_type("" if rdim else ldim), left.value / right.value)

    # ---- predicates over a candidate node ---------------------------------

    def predicate(self, expr: n.Expr, subjects: dict[str, Type]) -> Predicate | None:
        if isinstance(expr, n.Paren):
            return self.predicate(expr.expr, subjects)
        if isinstance(expr, n.Binary) and expr.op in ("and", "or"):
            left = self.predicate(expr.left, subjects)
            right = self.predicate(expr.right, subjects)
            if left is None or right is None:
                return None
            return (AllOf if expr.op == "and" else AnyOf)((left, right))
        if isinstance(expr, n.Unary) and expr.op == "not":
            inner = self.predicate(expr.operand, subjects)
            return None if inner is None else Negation(inner)
        if isinstance(expr, n.Binary) and expr.op in _COMPARISONS + ("in", "not in"):
            return self._comparison_predicate(expr, subjects)
        subject = self._subject(expr, subjects, report=False)
        if subject == "error":
            return None
        if subject is not None and subject[1] == t.BOOL:  # `features["nvme"]`: a condition
            return Compare(subject[0], "==", True, Origin(self.r.path, expr.span))
        if subject is not None:
            self.r.report(
                msg.TypeMismatch(expected="a condition", found="a node attribute").diagnostic(
                    self.r.path, expr.span
                )
            )
            return None
        constant = self.value(expr, t.BOOL)
        return None if constant is None else Constant(bool(constant.value))

    def _comparison_predicate(self, expr: n.Binary, subjects: dict[str, Type]) -> Predicate | None:
        left = self._subject(expr.left, subjects)
        right = self._subject(expr.right, subjects)
        if left == "error" or right == "error":
            return None
        op = expr.op
        if left is None and right is None:
            constant = self.value(expr, t.BOOL)
            return None if constant is None else Constant(bool(constant.value))
        if left is not None and right is not None:
            self.r.report(
                msg.ContradictoryRule(
                    detail="a rule compares a node attribute with a value, not with another attribute"
                ).diagnostic(self.r.path, expr.span)
            )
            return None
        if left is None:
            if op in ("in", "not in"):
                self.r.report(
                    msg.TypeMismatch(expected="a list", found="a node attribute").diagnostic(
                        self.r.path, expr.right.span
                    )
                )
                return None
            left, expr_right, op = right, expr.left, _MIRROR[op]  # `80GB <= memory`
        else:
            expr_right = expr.right
        path, subject_type = left
        if op in ("in", "not in"):
            value = self.value(expr_right, t.list_of(subject_type))
        else:
            value = self.value(expr_right, subject_type)
            if value is not None and op not in ("==", "!=") and subject_type.kind != "number":
                self.r.report(
                    msg.InvalidOperator(
                        op=op, left=subject_type.describe(), right=value.type.describe()
                    ).diagnostic(self.r.path, expr.op_span)
                )
                return None
        if value is None:
            return None
        return Compare(path, op, value.value, Origin(self.r.path, expr.span))

    def _subject(self, expr: n.Expr, subjects: dict[str, Type], report: bool = True) -> Any:
        """(path, type) when `expr` names an attribute of the candidate node, else None."""
        if isinstance(expr, n.Paren):
            return self._subject(expr.expr, subjects, report)
        if isinstance(expr, n.Name) and expr.ident.name in subjects:
            return (expr.ident.name,), subjects[expr.ident.name]
        if isinstance(expr, n.Member) and isinstance(expr.target, n.Name) \
                and expr.target.ident.name == "gpu" and "gpu" in subjects:
            from fitlang.check.schema import ACCELERATOR_SCOPE
            attr = expr.attr.name
            if attr not in ACCELERATOR_SCOPE:
                if report:
                    self.r.report(
                        msg.InvalidKey(
                            target="`gpu`",
                            what="attribute",
                            name=attr,
                            hint=hint(did_you_mean(attr, ACCELERATOR_SCOPE)),
                        ).diagnostic(self.r.path, expr.attr.span)
                    )
                return "error"
            return ("gpu", attr), ACCELERATOR_SCOPE[attr]
        if isinstance(expr, n.Index) and isinstance(expr.target, n.Name) \
                and expr.target.ident.name == "labels" and "labels" in subjects:
            key = self.value(expr.key, t.STRING)
            return "error" if key is None else (("labels", key.value), t.STRING)
        if isinstance(expr, n.Index) and isinstance(expr.target, n.Name) \
                and expr.target.ident.name == "features" and "features" in subjects:
            key = self.value(expr.key, t.STRING)
            return "error" if key is None else (("features", key.value), t.BOOL)
        return None


def _hint_for(left: Typed | None) -> Type:
    """Let `interconnect == nvlink` resolve `nvlink` against the left side's choices."""
    if left is not None and left.type.kind in ("choice", "ref"):
        return left.type
    return t.ANY


def apply_comparison(op: str, left: Any, right: Any) -> bool:
    if op == "==":
        return left == right
    if op == "!=":
        return left != right
    if op == "<":
        return left < right
    if op == "<=":
        return left <= right
    if op == ">":
        return left > right
    return left >= right


class _AliasedResolver:
    """Looks names up in an imported module while reporting into the importer's file."""

    def __init__(self, module: Resolver, reporter: Resolver) -> None:
        self._module, self._reporter = module, reporter
        self.path = reporter.path

    def lookup(self, name: str) -> Symbol | None:
        return self._module.lookup(name)

    def names(self, kind: str | None = None) -> list[str]:
        return self._module.names(kind)

    def alias(self, name: str) -> Resolver | None:
        return None

    def const_value(self, symbol: Symbol) -> Typed | None:
        return self._module.const_value(symbol)

    def accelerator_attribute(self, symbol: Symbol, attr: str, span: Span) -> Typed | None:
        return self._module.accelerator_attribute(symbol, attr, span)

    def offer_attribute(self, symbol: Symbol, attr: str, span: Span) -> Typed | None:
        return self._module.offer_attribute(symbol, attr, span)

    def was_dropped(self, name: str) -> bool:
        return self._module.was_dropped(name)

    def report(self, diagnostic: Diagnostic) -> None:
        self._reporter.report(diagnostic)

