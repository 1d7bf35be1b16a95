"""The checker's first stage for every block: its entries checked against the block's schema
(attribute types, units and ranges, nested blocks, allowed statements) into `BlockValues`.

`CheckerBase` states what every stage uses of the `Checker` (checker.py), so that each
stage (this one, entities.py, workloads.py) is a class of its own that the next extends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from fitlang import messages as msg
from fitlang.check import schema as s
from fitlang.check import types as t
from fitlang.check.evaluate import Evaluator, Symbol
from fitlang.check.loader import SourceModule
from fitlang.check.program import Accelerator, Origin
from fitlang.check.settings import load_settings
from fitlang.diagnostics import Diagnostic, did_you_mean, hint
from fitlang.syntax import nodes as n

if TYPE_CHECKING:
    from fitlang.check.checker import ModuleScope


@dataclass
class BlockValues:
    """A block's entries after checking: attribute values, nested blocks, rule statements."""

    origin: Origin
    node: Any = None  # the block it came from
    values: dict[str, Any] = field(default_factory=dict)
    spans: dict[str, Origin] = field(default_factory=dict)
    blocks: dict[str, BlockValues] = field(default_factory=dict)
    statements: list[Any] = field(default_factory=list)
    # named nested blocks (`option H100 { ... }`): (home scope, name, values), in source order
    named: list[tuple[Any, n.Ident, BlockValues]] = field(default_factory=list)
    # the whitespace before the entries as written (None: none stands on a line of its own):
    # what a line a quick fix inserts in the block takes
    indent: str | None = None


class CheckerBase:
    """What the stages use of the Checker, which defines each (checker.py)."""

    # (scope, attribute, name, text) -> the value `_typed_value` worked out (None: none kept)
    typed_values: dict[tuple, Any] | None = None

    def report(self, diagnostic: Diagnostic) -> None:
        raise NotImplementedError

    def reported(self) -> int:
        """How many diagnostics were reported so far."""
        raise NotImplementedError

    def scope(self, module: SourceModule) -> ModuleScope:
        raise NotImplementedError

    def entity(self, symbol: Symbol) -> Any:
        raise NotImplementedError

    def accelerator(self, symbol: Symbol) -> Accelerator | None:
        raise NotImplementedError


class BlockValuesStage(CheckerBase):
    """Block entries checked against the block's schema."""

    def block_values(self, scope: ModuleScope, block: n.Block, schema: s.BlockSchema,
                     check_required: bool = True) -> BlockValues:
        values = BlockValues(Origin(scope.path, block.span), block, indent=_indent(scope.module.text, block))
        evaluator = Evaluator(scope)
        for entry in block.entries:
            if isinstance(entry, n.Attribute):
                self._attribute(scope, evaluator, schema, entry, values)
            elif isinstance(entry, n.Block):
                self._nested(scope, schema, entry, values)
            else:
                statement = _STATEMENT_NAMES[type(entry)]
                if statement not in schema.statements:
                    self.report(
                        msg.StatementNotAllowed(statement=statement, block=schema.kind).diagnostic(
                            scope.path, entry.span
                        )
                    )
                else:
                    values.statements.append((scope, entry))
        if check_required and not any(isinstance(e, n.Use) for e in block.entries):
            self.require_attributes(scope, block, schema, values)
        return values

    def require_attributes(self, scope: ModuleScope, block: n.Block, schema: s.BlockSchema,
                           values: BlockValues) -> None:
        missing = [f"`{name}`" for name, attr in schema.attrs.items()
                   if attr.required and name not in values.spans
                   and not _waived(schema, name, values)]
        if missing:
            label = block.name.name if block.name else schema.kind
            listed = ", ".join(missing[:-1]) + " and " + missing[-1] if len(missing) > 1 else missing[0]
            self.report(
                msg.MissingAttribute(block=schema.kind, name=label, attribute=listed).diagnostic(
                    scope.path, block.kind.span
                )
            )

    def _attribute(self, scope: ModuleScope, evaluator: Evaluator, schema: s.BlockSchema,
                   entry: n.Attribute, values: BlockValues) -> None:
        name = entry.name.name
        attr = schema.attrs.get(name)
        if attr is None:
            if name in schema.blocks:
                self.report(
                    msg.TypeMismatch(expected=f"a block `{name} {{ ... }}`", found="an attribute").diagnostic(
                        scope.path, entry.name.span
                    )
                )
                return
            self.report(
                msg.UnknownAttribute(
                    block=schema.kind,
                    name=name,
                    hint=_said_in_fitlang(schema.kind, name)
                    or hint(did_you_mean(name, list(schema.attrs) + list(schema.blocks))),
                ).diagnostic(scope.path, entry.name.span)
            )
            return
        if name in values.spans:
            self.report(msg.DuplicateAttribute(name=name).diagnostic(scope.path, entry.name.span))
            return
        values.spans[name] = Origin(scope.path, entry.value.span)
        if name == "objective":
            result = self._objective(scope, evaluator, entry.value)
        elif name in ("earliest", "deadline", "due"):  # a duration after the start, or an instant
            result = self._time_point(scope, evaluator, entry, name)
        elif name == "every":  # a period, or a cron expression
            result = self._recurrence(scope, evaluator, entry)
        elif attr.type.kind == "map" and attr.type.of is not None:
            result = self._keyed_map(scope, evaluator, entry.value, attr.type, attr.minimum)
        else:
            result = self._typed_value(scope, evaluator, entry, attr)
        if result is not None:
            values.values[name] = result

    def _typed_value(self, scope: ModuleScope, evaluator: Evaluator, entry: n.Attribute,
                     attr: s.Attr) -> Any:
        """The attribute's value of its type, within its range; None where that is reported.
        Remembered per scope, attribute and text where it was worked out without a diagnostic:
        a fleet repeats its lines (`kind = job`, `cpu = 2`, `arch = [amd64, arm64]`: 30,941
        attributes of the 5,000 workloads of an inventory policy, 307 distinct), and the same
        text in the same scope evaluates to the same value as the same type, silently again.
        Not while an incremental check records what each declaration asks its scopes (the
        editor's: a value remembered would ask nothing)."""
        memo = self.typed_values
        if memo is None:
            return self._evaluated(scope, evaluator, entry, attr)
        span = entry.value.span
        key = (scope, id(attr), entry.name.name, scope.module.text[span.start:span.end])
        known = memo.get(key)
        if known is not None:
            return _fresh(known)
        reported = self.reported()
        result = self._evaluated(scope, evaluator, entry, attr)
        if result is not None and self.reported() == reported and _shareable(result):
            memo[key] = result
            return _fresh(result)
        return result

    def _evaluated(self, scope: ModuleScope, evaluator: Evaluator, entry: n.Attribute,
                   attr: s.Attr) -> Any:
        typed = evaluator.value(entry.value, attr.type)
        return None if typed is None else self._in_range(scope, entry, attr, typed.value)

    def _objective(self, scope: ModuleScope, evaluator: Evaluator, expr: n.Expr) -> Any:
        expected = t.list_of(t.OBJECTIVE) if isinstance(expr, n.List) else t.OBJECTIVE
        typed = evaluator.value(expr, expected)
        if typed is None:
            return None
        objective = typed.value if isinstance(typed.value, list) else [typed.value]
        if not objective:
            self.report(msg.EmptyList(name="objective").diagnostic(scope.path, expr.span))
            return None
        return objective

    def _time_point(self, scope: ModuleScope, evaluator: Evaluator, entry: n.Attribute,
                    name: str) -> Any:
        from fitlang.check.timing import time_point

        typed = evaluator.value(entry.value, t.ANY)
        if typed is None:
            return None
        found = typed.type.dim if typed.type.kind == "number" else typed.type.describe()
        point, problem = time_point(typed.value, found, Origin(scope.path, entry.value.span), name)
        if problem is not None:
            self.report(problem)
        return point

    def _recurrence(self, scope: ModuleScope, evaluator: Evaluator, entry: n.Attribute) -> Any:
        """`every`: a positive duration, or a cron expression (`check/recurrence.py`)."""
        from fitlang.check.recurrence import parse_cron

        typed = evaluator.value(entry.value, t.ANY)
        if typed is None:
            return None
        value, detail = typed.value, ""
        if isinstance(value, str):
            cron = parse_cron(value)
            if not isinstance(cron, str):
                return cron
            detail = cron
        elif typed.type.kind == "number" and typed.type.dim == "time" and value > 0:
            return value
        else:
            detail = f"expected a period (`24h`) or a cron expression, found {typed.type.describe()}"
        self.report(msg.RecurrenceInvalid(detail=detail).diagnostic(scope.path, entry.value.span))
        return None

    def _keyed_map(self, scope: ModuleScope, evaluator: Evaluator, expr: n.Expr,
                   map_type: t.Type, minimum: Fraction | None = None) -> dict[str, Any] | None:
        """`{aws_eu_central_1: 2ms, ...}`: values of the map's type (each at least `minimum`),
        keyed by names of the entities its `ref` says (`region`), or by any string where it
        names none (`instance_prices`' instance types)."""
        value_type = map_type.of
        assert value_type is not None  # (the caller's condition)
        keys = map_type.ref
        if not isinstance(expr, n.Map):
            expected = (f"a map of {keys} names" if keys
                        else f'a map {{ "name": {value_type.describe()}, ... }}')
            self.report(
                msg.TypeMismatch(expected=expected, found="another value").diagnostic(
                    scope.path, expr.span
                )
            )
            return None
        result: dict[str, Any] = {}
        for pair in expr.pairs:
            symbol = scope.lookup(pair.key_text) if keys else None
            if keys and (symbol is None or symbol.kind != keys):
                self.report(
                    msg.UnknownName(
                        name=pair.key_text, hint=hint(did_you_mean(pair.key_text, scope.names(keys)))
                    ).diagnostic(scope.path, pair.key.span)
                )
                continue
            if pair.key_text in result:
                self.report(msg.DuplicateAttribute(name=pair.key_text).diagnostic(scope.path, pair.key.span))
                continue
            value = evaluator.value(pair.value, value_type)
            if value is not None and abs(value.value) > s.MAXIMUM[value_type.dim]:
                self.report(
                    msg.ValueTooLarge(
                        what=pair.key_text,
                        limit=show_limit(s.MAXIMUM[value_type.dim], value_type.dim),
                        value=show_limit(abs(value.value), value_type.dim),
                    ).diagnostic(scope.path, pair.value.span)
                )
            elif value is not None and minimum is not None and value.value < minimum:
                self.report(msg.OutOfRange(
                    what=pair.key_text, bound=f">= {_show_number(minimum, value_type.dim)}",
                    value=_show_number(value.value, value_type.dim)).diagnostic(scope.path, pair.value.span))
            elif value is not None:
                result[pair.key_text] = value.value
        return result

    def _each_in_range(self, scope: ModuleScope, entry: n.Attribute, attr: s.Attr,
                       values: list) -> bool:
        """A list of quantities (a value per step): each within its dimension's range (E0310),
        as one value is."""
        dim = attr.type.of.dim if attr.type.of is not None else ""
        limit = attr.maximum if attr.maximum is not None else s.MAXIMUM.get(dim)
        high = next((v for v in values if isinstance(v, Fraction) and limit is not None
                     and abs(v) > limit), None)
        if high is None or limit is None:
            return True
        self.report(msg.ValueTooLarge(what=f"each of `{entry.name.name}`", value=show_limit(abs(high), dim),
                                      limit=show_limit(limit, dim)).diagnostic(scope.path, entry.value.span))
        return False

    def _in_range(self, scope: ModuleScope, entry: n.Attribute, attr: s.Attr, value: Any) -> Any:
        name, span = entry.name.name, entry.value.span
        if isinstance(value, list) and attr.non_empty and not value:
            self.report(msg.EmptyList(name=name).diagnostic(scope.path, span))
            return None
        if isinstance(value, list) and attr.minimum is not None:  # a value per step: each
            low = next((v for v in value if isinstance(v, Fraction) and v < attr.minimum), None)
            dim = attr.type.of.dim if attr.type.of is not None else ""
            if low is not None:
                self.report(msg.OutOfRange(
                    what=f"each of `{name}`", bound=f">= {_show_number(attr.minimum, dim)}",
                    value=_show_number(low, dim)).diagnostic(scope.path, span))
                return None
        if isinstance(value, list) and not self._each_in_range(scope, entry, attr, value):
            return None
        if not isinstance(value, Fraction):
            return value
        if value.denominator == 1 and _whole_in_range(value.numerator, attr):
            return value  # a whole number (most values): its bounds compared as integers
        if (attr.minimum is None or value >= attr.minimum) and (not attr.positive or value > 0) \
                and (not attr.integral or value.denominator == 1) \
                and (name != "cpu" or (value * 1000).denominator == 1) and abs(value) <= attr.most:
            return value  # the common case, without formatting a message nobody reads
        if abs(value) > attr.most:
            most = show_limit(attr.most, attr.type.dim)
            self.report(
                msg.ValueTooLarge(
                    what=name,
                    value=show_limit(abs(value), attr.type.dim),
                    limit=most if attr.minimum is not None else f"{most} in magnitude",
                ).diagnostic(scope.path, span)
            )
            return None
        shown = _show_number(value, attr.type.dim)
        if attr.minimum is not None and value < attr.minimum:
            self.report(
                msg.OutOfRange(
                    what=name, bound=f">= {_show_number(attr.minimum, attr.type.dim)}", value=shown
                ).diagnostic(scope.path, span)
            )
            return None
        if attr.positive and value <= 0:
            self.report(msg.OutOfRange(what=name, bound="> 0", value=shown).diagnostic(scope.path, span))
            return None
        if attr.integral and value.denominator != 1:
            self.report(msg.NotIntegral(what=name, value=shown).diagnostic(scope.path, span))
            return None
        if name == "cpu" and (value * 1000).denominator != 1:
            self.report(msg.NotIntegral(what="cpu (in millicores)", value=shown).diagnostic(scope.path, span))
            return None
        return value

    def _nested(self, scope: ModuleScope, schema: s.BlockSchema, entry: n.Block,
                values: BlockValues) -> None:
        name = entry.kind.name
        inner = schema.blocks.get(name)
        if inner is None and schema.blocks is s.SETTINGS_BLOCKS and load_settings():
            inner = schema.blocks.get(name)  # the targets, now imported, declare it
        if inner is None:
            self.report(
                msg.UnknownBlockKind(
                    where=f"block in `{schema.kind}`",
                    kind=name,
                    hint=hint(did_you_mean(name, list(schema.blocks) + list(schema.attrs))),
                ).diagnostic(scope.path, entry.kind.span)
            )
            return
        if inner.naming == "required":
            if entry.name is None:
                self.report(msg.MissingName(kind=name).diagnostic(scope.path, entry.kind.span))
            else:
                values.named.append((scope, entry.name, self.block_values(scope, entry, inner)))
            return
        if entry.name is not None:
            self.report(msg.UnexpectedName(kind=name).diagnostic(scope.path, entry.name.span))
        if name in values.blocks:
            self.report(
                msg.DuplicateBlock(kind=name, where=f" in `{schema.kind}`").diagnostic(
                    scope.path, entry.kind.span
                )
            )
            return
        values.blocks[name] = self.block_values(scope, entry, inner)


# what an attribute's value may be made of to be shared between the blocks that state it
_IMMUTABLE = (str, bool, int, Fraction)


def _shareable(value: Any) -> bool:
    """An immutable value, or a list or map of them (given out as a copy, `_fresh`)."""
    if isinstance(value, _IMMUTABLE):
        return True
    if type(value) is list:
        return all(isinstance(item, _IMMUTABLE) for item in value)
    if type(value) is dict:
        return all(isinstance(key, str) and isinstance(item, _IMMUTABLE) for key, item in value.items())
    return False


def _fresh(value: Any) -> Any:
    """A remembered value for one more block: a list or map of its own (a block's values may
    be changed where it is built), the immutable value itself."""
    kind = type(value)
    return kind(value) if kind is list or kind is dict else value


_STATEMENT_NAMES = {n.Require: "require", n.Prefer: "prefer", n.Use: "use",
                    n.Affinity: "affinity", n.Spread: "spread"}


def _waived(schema: s.BlockSchema, name: str, values: BlockValues) -> bool:
    """A workload with accelerator options is sized by them: `replicas` is then optional."""
    return schema.kind == "workload" and name == "replicas" and bool(_option_blocks(values))


def _option_blocks(values: BlockValues) -> list:
    gpu = values.blocks.get("gpu")
    return gpu.named if gpu is not None else []


def _merge_into(target: BlockValues, source: BlockValues) -> None:
    if source.named:  # a block's own options replace a profile's, whole
        target.named = list(source.named)
    target.values.update(source.values)
    target.spans.update(source.spans)
    for name, block in source.blocks.items():
        if name in target.blocks:
            inner = target.blocks[name]
            merged = BlockValues(inner.origin, inner.node, dict(inner.values), dict(inner.spans),
                                 dict(inner.blocks), list(inner.statements), list(inner.named))
            _merge_into(merged, block)
            target.blocks[name] = merged
        else:
            target.blocks[name] = block
    target.statements.extend(source.statements)


_BINARY_UNITS = (("EiB", 2 ** 60), ("PiB", 2 ** 50), ("TiB", 2 ** 40), ("GiB", 2 ** 30),
                 ("MiB", 2 ** 20), ("KiB", 2 ** 10))


def show_limit(value: Fraction, dim: str) -> str:
    """A large value for people: sizes in binary units, others with three significant
    digits once they pass a billion (never converted to float: 1e400 does not fit one)."""
    if dim == "bytes":
        for unit, size in _BINARY_UNITS:
            if value >= size:
                return f"{_significant(value / size)} {unit}"
        return f"{_significant(value)} bytes"
    suffix = {"rate": " USD/h", "power": " W", "time": " s", "money": " USD",
              "energy_price": " USD/kWh",
              "carbon_intensity": " gCO2e/kWh", "carbon": " kgCO2e"}.get(dim, "")
    return f"{_significant(value)}{suffix}"


def _significant(value: Fraction) -> str:
    if value.denominator == 1 and value <= 10 ** 15:
        return str(value.numerator)
    from decimal import Decimal

    shown = Decimal(value.numerator) / Decimal(value.denominator)
    return f"{shown:.4g}".replace("E+", "e")


def _show_number(value: Fraction, dim: str) -> str:
    number = int(value) if value.denominator == 1 else float(value)
    suffix = {"bytes": " bytes", "rate": " USD/h", "power": " W", "time": " s",
              "money": " USD", "energy_price": " USD/kWh",
              "carbon_intensity": " gCO2e/kWh", "carbon": " kgCO2e"}.get(dim, "")
    return f"{number}{suffix}"


def _whole_in_range(number: int, attr: s.Attr) -> bool:
    """`_in_range`'s common case for a whole number, in integers: at least `attr.minimum`,
    positive where it must be, at most `attr.most` in magnitude (whole, so integral and a whole
    number of millicores). Exact as the comparisons of fractions it spares (1.5 us each: 36,000
    values at 50,000 nodes)."""
    low, most = attr.minimum, attr.most
    return (low is None or number * low.denominator >= low.numerator) and \
        (not attr.positive or number > 0) and abs(number) * most.denominator <= most.numerator


def _indent(text: str, block: n.Block) -> str | None:
    """The whitespace before the block's first entry that begins a line (None: none does)."""
    for entry in block.entries:
        if entry.span.line != block.span.line:
            prefix = text[text.rfind("\n", 0, entry.span.start) + 1:entry.span.start]
            return None if prefix.strip() else prefix
    return None


# a workload's settings as Kubernetes names them, which people write first (session 52, a new
# user: `node_selector`, `tolerations` and `namespace` got no pointer): fitlang's way to say each
FOREIGN_WORKLOAD_ATTRIBUTES = {
    "node_selector": 'require labels["KEY"] == "VALUE"',
    "nodeSelector": 'require labels["KEY"] == "VALUE"',
    "tolerations": "tolerate",
    "namespace": 'policy { kubernetes { namespace = "..." } }',
    # Slurm's names for node features (`--constraint`, `Features=`): a workload asks by `require`
    "features": 'require features["NAME"]',
    "constraint": 'require features["NAME"]',
}


def _said_in_fitlang(block: str, name: str) -> str:
    """The hint for an attribute another tool's name for something fitlang says otherwise."""
    said = FOREIGN_WORKLOAD_ATTRIBUTES.get(name) if block == "workload" else None
    return f"; fitlang says it as `{said}`" if said else ""
