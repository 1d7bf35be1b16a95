"""Name resolution, block schemas, profiles and rules: from parsed modules to a `Program`.

`check_file` is the stage's entry point. It never stops at the first error:
every declaration of every loaded file is checked and every problem reported.
"""

from __future__ import annotations

import dataclasses
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

from fitlang import messages as msg
from fitlang.check import schema as s
from fitlang.check import types as t
from fitlang.check.blocks import (
    AcceleratorBlock,
    BuyBlock,
    ElectricityBlock,
    InventoryBlock,
    LatencyBlock,
    OfferBlock,
    PolicyBlock,
    PoolBlock,
    PoolGpuBlock,
    PowerCapBlock,
    RegionBlock,
    WorkloadBlock,
    WorkloadGpuBlock,
    WorkloadGpuOptionBlock,
    WorkloadLatencyBlock,
)
from fitlang.check.evaluate import Evaluator, Symbol, Typed, accelerator_hint
from fitlang.check.loader import SourceModule, Workspace
from fitlang.check.program import (
    Accelerator,
    AcceleratorOption,
    AffinityRule,
    Buy,
    Compare,
    Electricity,
    GpuSpec,
    Inventory,
    LatencyRule,
    NodeShape,
    Offer,
    Origin,
    Policy,
    Pool,
    PowerCap,
    Preference,
    Program,
    Region,
    Requirement,
    SpreadRule,
    Workload,
)
from fitlang.check.residency import residency_conflicts
from fitlang.check.settings import SETTINGS, load_settings
from fitlang.diagnostics import Diagnostic, Related, did_you_mean, hint, unique_sorted
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span
from fitlang.syntax.printer import expression_text

_T = TypeVar("_T")

DEFAULT_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "google": "google.com/tpu",
                    "aws": "aws.amazon.com/neuron", "intel": "gpu.intel.com/i915"}


@dataclass
class CheckResult:
    root: SourceModule
    program: Program
    diagnostics: list[Diagnostic]
    workspace: Workspace

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


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


@dataclass
class _ProgramParts:
    """What `Checker.program` gathers before it builds the Program at once: the tables by
    kind (the first declaration of a name wins), the lists in declaration order."""

    tables: dict[str, dict[str, Any]] = field(default_factory=lambda: {
        kind: {} for kind in ("accelerator", "pool", "inventory", "offer", "workload", "region")})
    buys: list[Buy] = field(default_factory=list)
    power_caps: list[PowerCap] = field(default_factory=list)
    electricity: list[Electricity] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    policy: Policy = field(default_factory=Policy)

    def add(self, symbol: Symbol, entity: Any) -> None:
        if entity is None:
            return
        if symbol.kind == "buy":
            self.buys.append(entity)
        elif symbol.kind == "power_cap":
            self.power_caps.append(entity)
        elif symbol.kind == "electricity":
            self.electricity.append(entity)
        elif symbol.kind == "location":
            self.locations.append(symbol.name)
        elif symbol.kind in self.tables:
            self.tables[symbol.kind].setdefault(symbol.name, entity)


@dataclass
class _Rules:
    """A workload's `require`, `prefer`, `affinity` and `spread` statements, checked, in
    source order (profiles' first), gathered before the Workload is built."""

    requirements: list[Requirement] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    affinities: list[AffinityRule] = field(default_factory=list)
    spreads: list[SpreadRule] = field(default_factory=list)


@dataclass
class LatencyEntry:
    """One `latency` block: round-trip milliseconds from a location to regions, by block name."""

    location: str
    to_ms: dict[str, Fraction]


class ModuleScope:
    """The names one module sees; the `Resolver` its expressions are evaluated against."""

    def __init__(self, checker: Checker, module: SourceModule) -> None:
        self.checker = checker
        self.module = module
        self.path = module.path
        self.symbols: dict[str, Symbol] = {}
        self.own: dict[str, Symbol] = {}
        self.aliases: dict[str, ModuleScope] = {}

    def lookup(self, name: str) -> Symbol | None:
        symbol = self.symbols.get(name)
        if self.checker.slot is not None:
            self.checker.slot.note(self, "lookup", name, symbol.decl if symbol else None)
        return symbol

    def names(self, kind: str | None = None) -> list[str]:
        found = [name for name, sym in self.symbols.items() if kind is None or sym.kind == kind]
        if self.checker.slot is not None:
            self.checker.slot.note(self, "names", kind, tuple(found))
        return found

    def alias(self, name: str) -> ModuleScope | None:
        inner = self.aliases.get(name)
        if self.checker.slot is not None:
            self.checker.slot.note(self, "alias", name, inner.module.resolved if inner else None)
        return inner

    def const_value(self, symbol: Symbol) -> Typed | None:
        return self.checker.const_value(symbol)

    def accelerator_attribute(self, symbol: Symbol, attr: str, span: Span) -> Typed | None:
        accelerator = self.checker.accelerator(symbol)
        if accelerator is None:
            return None
        if attr not in s.ACCELERATOR_SCOPE or attr == "count":
            self.report(msg.InvalidKey.at(self.path, span, target=f"accelerator `{symbol.name}`",
                                          what="attribute", name=attr,
                                          hint=hint(did_you_mean(attr, s.ACCELERATOR.attrs))))
            return None
        value = accelerator.attribute(attr)
        if value is None:
            self.report(msg.InvalidKey.at(self.path, span, target=f"accelerator `{symbol.name}`",
                                          what="value for", name=attr, hint=""))
            return None
        return Typed(s.ACCELERATOR_SCOPE[attr], value)

    def was_dropped(self, name: str) -> bool:
        """Whether `name` was declared by a declaration a syntax error dropped."""
        dropped = name in self.module.parsed.dropped_names
        if self.checker.slot is not None:
            self.checker.slot.note(self, "dropped", name, dropped)
        return dropped

    def report(self, diagnostic: Diagnostic) -> None:
        self.checker.report(diagnostic)


@dataclass(eq=False)
class Slot:
    """What checking one top-level declaration found, kept by an incremental check
    (fitlang/check/incremental.py) to reuse while the declaration and what it reads are
    the same: its diagnostics, what it asked its scopes (scope path, question, argument ->
    answer), and its checked value."""

    decl: Any
    diagnostics: list[Diagnostic] = field(default_factory=list)
    uses: dict[tuple[Path, str, Any], Any] = field(default_factory=dict)
    volatile: bool = False  # never reused: it reads files, or was part of a cycle
    entity: Any = None
    const: Any = None
    has_entity: bool = False
    has_const: bool = False

    def note(self, scope: ModuleScope, question: str, argument: Any, answer: Any) -> None:
        self.uses.setdefault((scope.module.resolved, question, argument), answer)


# kinds whose checked value depends on more than the text and the names it reads
_VOLATILE_KINDS = ("inventory", "buy")


class Checker:
    def __init__(self, workspace: Workspace, recycled: dict[Path, ModuleScope] | None = None,
                 recording: bool = False) -> None:
        self.workspace = workspace
        self.diagnostics: list[Diagnostic] = []
        self.scopes: dict[Path, ModuleScope] = {}
        self._consts: dict[int, Typed | None] = {}
        self._entities: dict[int, Any] = {}
        self._in_progress: list[Symbol] = []
        # an incremental check: the scope objects of the last check (values it keeps refer
        # to them), and a Slot per declaration checked, `slot` the one being checked now
        self._recycled = dict(recycled or {})
        self.recording = recording
        self.slots: dict[int, Slot] = {}
        self.slot: Slot | None = None

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)
        if self.slot is not None:
            self.slot.diagnostics.append(diagnostic)

    @contextmanager
    def _checking(self, symbol: Symbol) -> Iterator[None]:
        """Attribute what happens meanwhile to `symbol`'s declaration (when recording)."""
        if not self.recording:
            yield
            return
        outer = self.slot
        self.slot = self.slots[id(symbol.decl)] = Slot(
            symbol.decl, volatile=symbol.kind in _VOLATILE_KINDS)
        try:
            yield
        finally:
            self.slot = outer

    def _cycle_through(self, symbol: Symbol) -> None:
        """The declarations from `symbol` on are in a cycle: which of them reports it depends
        on where the check entered it, so none of them is reused."""
        for member in self._in_progress[self._in_progress.index(symbol):]:
            slot = self.slots.get(id(member.decl))
            if slot is not None:
                slot.volatile = True

    # ---- scopes -----------------------------------------------------------

    def scope(self, module: SourceModule) -> ModuleScope:
        scope = self.scopes.get(module.resolved)
        if scope is not None:
            return scope
        scope = self._recycled.pop(module.resolved, None)
        if scope is not None:
            scope.__init__(self, module)  # type: ignore[misc]
        else:
            scope = ModuleScope(self, module)
        self.scopes[module.resolved] = scope
        self._declare_own(scope)
        self._declare_imports(scope)
        return scope

    def _declare_own(self, scope: ModuleScope) -> None:
        for decl in scope.module.decls:
            ident, kind = _declared(decl)
            if ident is None:
                continue
            if ident.name in scope.own:
                first = scope.own[ident.name]
                self.report(_duplicate(scope.path, ident, first.module.path, first.decl))
                continue
            scope.own[ident.name] = Symbol(kind, ident.name, decl, scope.module)
        scope.symbols.update(scope.own)

    def _declare_imports(self, scope: ModuleScope) -> None:
        for decl, imported in scope.module.imports:
            if imported is None:
                continue
            inner = self.scope(imported)
            if decl.alias is not None:
                scope.aliases[decl.alias.name] = inner
                continue
            for name, symbol in inner.own.items():
                existing = scope.symbols.get(name)
                if existing is None:
                    scope.symbols[name] = symbol
                elif existing.decl is not symbol.decl and name in scope.own:
                    self.report(_duplicate(scope.path, _symbol_name(existing.decl),
                                           symbol.module.path, symbol.decl))

    # ---- entry point ------------------------------------------------------

    def check_module(self, module: SourceModule) -> None:
        scope = self.scope(module)
        for symbol in scope.own.values():
            self.entity(symbol)
        policies = [d for d in module.decls if isinstance(d, n.Block) and d.kind.name == "policy"]
        for extra in policies[1:]:
            self.report(msg.DuplicateBlock.at(module.path, extra.kind.span, kind="policy",
                                              where=" per file"))
        for decl in module.decls:
            if isinstance(decl, n.Block) and _declared(decl)[0] is None:
                self._unnamed_block(scope, decl)

    def _unnamed_block(self, scope: ModuleScope, decl: n.Block) -> None:
        schema = s.TOP_LEVEL.get(decl.kind.name)
        if schema is None:
            self.report(msg.UnknownBlockKind.at(
                scope.path, decl.kind.span, where="declaration", kind=decl.kind.name,
                hint=hint(did_you_mean(decl.kind.name, s.TOP_LEVEL))))
            return
        if schema.naming == "required":
            self.report(msg.MissingName.at(scope.path, decl.kind.span, kind=schema.kind))
            return
        key = id(decl)
        if key not in self._entities:
            values = self.block_values(scope, decl, schema)
            builders: dict[str, Callable[[ModuleScope, None, BlockValues], Any]] = {
                "policy": self._build_policy, "buy": self._build_buy, "latency": self._build_latency}
            self._entities[key] = builders[schema.kind](scope, None, values)

    def program(self, root: SourceModule) -> Program:
        """The Program, built once from every reachable module's checked declarations."""
        parts = _ProgramParts()
        latency: list[tuple[bool, LatencyEntry]] = []
        for module in self.workspace.reachable(root):
            scope = self.scope(module)
            for symbol in scope.own.values():
                parts.add(symbol, self.entity(symbol))
            for decl in module.decls:
                if isinstance(decl, n.Block) and _declared(decl)[0] is None:
                    entity = self._entities.get(id(decl))
                    if isinstance(entity, Policy) and module is root:
                        parts.policy = entity
                    elif isinstance(entity, Buy):
                        parts.buys.append(entity)
                    elif isinstance(entity, LatencyEntry):
                        latency.append((module is root, entity))
        regions = parts.tables["region"]
        round_trips: dict[tuple[str, str], Fraction] = {}
        # imported tables first, so that the root file's entries override them
        for _, entry in sorted(latency, key=lambda item: item[0]):
            for region_name, ms in entry.to_ms.items():
                region = regions.get(region_name)
                if region is not None:
                    round_trips[entry.location, region.code] = ms
        root_scope = self.scope(root)
        every_offer = tuple(self.entity(sym) for sym in root_scope.symbols.values()
                            if sym.kind == "offer" and self.entity(sym) is not None)
        # a copy, not an edit: the memoised Buy stays as its block says (an incremental
        # check may reuse it under another root)
        buys = tuple(buy if buy.offers else dataclasses.replace(buy, offers=every_offer)
                     for buy in parts.buys)
        return Program(root.path, parts.tables["accelerator"], parts.tables["pool"],
                       parts.tables["inventory"], parts.tables["offer"], buys,
                       parts.tables["workload"], parts.policy, tuple(parts.power_caps),
                       tuple(parts.electricity), regions, tuple(parts.locations), round_trips)

    # ---- entities, built once and memoised --------------------------------

    def entity(self, symbol: Symbol) -> Any:
        key = id(symbol.decl)
        if key in self._entities:
            return self._entities[key]
        if symbol.kind == "const":
            self._entities[key] = self.const_value(symbol)
            return self._entities[key]
        if symbol in self._in_progress:
            self._cycle_through(symbol)
            return None
        with self._checking(symbol):
            self._entities[key] = self._build_entity(symbol)
        return self._entities[key]

    def _build_entity(self, symbol: Symbol) -> Any:
        scope = self.scope(symbol.module)
        decl: n.Block = symbol.decl
        schema = s.TOP_LEVEL.get(symbol.kind)
        if schema is None:
            self.report(msg.UnknownBlockKind.at(
                scope.path, decl.kind.span, where="declaration", kind=decl.kind.name,
                hint=hint(did_you_mean(decl.kind.name, s.TOP_LEVEL))))
            return None
        if schema.naming == "none" and decl.name is not None:  # a symbol's block has a name
            self.report(msg.UnexpectedName.at(scope.path, decl.name.span, kind=schema.kind))
        self._in_progress.append(symbol)
        try:
            values = self.block_values(scope, decl, schema)
            builder = getattr(self, f"_build_{symbol.kind}")
            return builder(scope, symbol.name, values)
        finally:
            self._in_progress.pop()

    def accelerator(self, symbol: Symbol) -> Accelerator | None:
        entity = self.entity(symbol)
        return entity if isinstance(entity, Accelerator) else None

    def const_value(self, symbol: Symbol) -> Typed | None:
        key = id(symbol.decl)
        if key in self._consts:
            return self._consts[key]
        if symbol in self._in_progress:
            self._cycle_through(symbol)
            cycle = " -> ".join(s.name for s in self._in_progress[self._in_progress.index(symbol):])
            self.report(msg.DefinitionCycle.at(symbol.module.path, symbol.decl.name.span,
                                               name=symbol.name, cycle=f"{cycle} -> {symbol.name}"))
            self._consts[key] = None
            return None
        with self._checking(symbol):
            self._in_progress.append(symbol)
            try:
                value = Evaluator(self.scope(symbol.module)).value(symbol.decl.value)
            finally:
                self._in_progress.pop()
        self._consts[key] = value
        return value

    # ---- generic block checking ------------------------------------------

    def block_values(self, scope: ModuleScope, block: n.Block, schema: s.BlockSchema,
                     check_required: bool = True) -> BlockValues:
        values = BlockValues(Origin(scope.path, block.span), block)
        evaluator = Evaluator(scope)
        for entry in block.entries:
            if isinstance(entry, n.Attribute):
                self._attribute(scope, evaluator, schema, entry, values)
            elif isinstance(entry, n.Block):
                self._nested(scope, schema, entry, values)
            else:
                statement = _STATEMENT_NAMES[type(entry)]
                if statement not in schema.statements:
                    self.report(msg.StatementNotAllowed.at(scope.path, entry.span,
                                                           statement=statement, block=schema.kind))
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
            self.report(msg.MissingAttribute.at(scope.path, block.kind.span, block=schema.kind,
                                                name=label, attribute=listed))

    def _attribute(self, scope: ModuleScope, evaluator: Evaluator, schema: s.BlockSchema,
                   entry: n.Attribute, values: BlockValues) -> None:
        name = entry.name.name
        attr = schema.attrs.get(name)
        if attr is None:
            if name in schema.blocks:
                self.report(msg.TypeMismatch.at(scope.path, entry.name.span,
                                                expected=f"a block `{name} {{ ... }}`",
                                                found="an attribute"))
                return
            self.report(msg.UnknownAttribute.at(
                scope.path, entry.name.span, block=schema.kind, name=name,
                hint=hint(did_you_mean(name, list(schema.attrs) + list(schema.blocks)))))
            return
        if name in values.spans:
            self.report(msg.DuplicateAttribute.at(scope.path, entry.name.span, name=name))
            return
        values.spans[name] = Origin(scope.path, entry.value.span)
        if name == "objective":
            result = self._objective(scope, evaluator, entry.value)
        elif attr.type.kind == "map" and attr.type.of is not None:
            result = self._region_map(scope, evaluator, entry.value, attr.type.of)
        else:
            typed = evaluator.value(entry.value, attr.type)
            result = None if typed is None else self._in_range(scope, entry, attr, typed.value)
        if result is not None:
            values.values[name] = result

    def _objective(self, scope: ModuleScope, evaluator: Evaluator, expr: n.Expr) -> Any:
        expected = t.list_of(t.OBJECTIVE) if isinstance(expr, n.List) else t.OBJECTIVE
        typed = evaluator.value(expr, expected)
        if typed is None:
            return None
        objective = typed.value if isinstance(typed.value, list) else [typed.value]
        if not objective:
            self.report(msg.EmptyList.at(scope.path, expr.span, name="objective"))
            return None
        return objective

    def _region_map(self, scope: ModuleScope, evaluator: Evaluator, expr: n.Expr,
                    value_type: t.Type) -> dict[str, Any] | None:
        """`{aws_eu_central_1: 2ms, ...}`: values of `value_type`, keyed by `region` names."""
        if not isinstance(expr, n.Map):
            self.report(msg.TypeMismatch.at(scope.path, expr.span, expected="a map of region names",
                                            found="another value"))
            return None
        result: dict[str, Any] = {}
        for pair in expr.pairs:
            symbol = scope.lookup(pair.key_text)
            if symbol is None or symbol.kind != "region":
                self.report(msg.UnknownName.at(
                    scope.path, pair.key.span, name=pair.key_text,
                    hint=hint(did_you_mean(pair.key_text, scope.names("region")))))
                continue
            if pair.key_text in result:
                self.report(msg.DuplicateAttribute.at(scope.path, pair.key.span,
                                                      name=pair.key_text))
                continue
            value = evaluator.value(pair.value, value_type)
            if value is not None and abs(value.value) > s.MAXIMUM[value_type.dim]:
                self.report(msg.ValueTooLarge.at(
                    scope.path, pair.value.span, what=pair.key_text,
                    limit=show_limit(s.MAXIMUM[value_type.dim], value_type.dim),
                    value=show_limit(abs(value.value), value_type.dim)))
            elif value is not None:
                result[pair.key_text] = value.value
        return result

    def _in_range(self, scope: ModuleScope, entry: n.Attribute, attr: s.Attr, value: Any) -> Any:
        name, span = entry.name.name, entry.value.span
        if isinstance(value, list) and attr.non_empty and not value:
            self.report(msg.EmptyList.at(scope.path, span, name=name))
            return None
        if not isinstance(value, Fraction):
            return value
        if (attr.minimum is None or value >= attr.minimum) and (not attr.positive or value > 0) \
                and (not attr.integral or value.denominator == 1) \
                and (name != "cpu" or (value * 1000).denominator == 1) and abs(value) <= attr.most:
            return value  # the common case, without formatting a message nobody reads
        if abs(value) > attr.most:
            most = show_limit(attr.most, attr.type.dim)
            self.report(msg.ValueTooLarge.at(
                scope.path, span, what=name, value=show_limit(abs(value), attr.type.dim),
                limit=most if attr.minimum is not None else f"{most} in magnitude"))
            return None
        shown = _show_number(value, attr.type.dim)
        if attr.minimum is not None and value < attr.minimum:
            self.report(msg.OutOfRange.at(scope.path, span, what=name,
                                          bound=f">= {_show_number(attr.minimum, attr.type.dim)}",
                                          value=shown))
            return None
        if attr.positive and value <= 0:
            self.report(msg.OutOfRange.at(scope.path, span, what=name, bound="> 0", value=shown))
            return None
        if attr.integral and value.denominator != 1:
            self.report(msg.NotIntegral.at(scope.path, span, what=name, value=shown))
            return None
        if name == "cpu" and (value * 1000).denominator != 1:
            self.report(msg.NotIntegral.at(scope.path, span, what="cpu (in millicores)",
                                           value=shown))
            return None
        return value

    def _nested(self, scope: ModuleScope, schema: s.BlockSchema, entry: n.Block,
                values: BlockValues) -> None:
        name = entry.kind.name
        inner = schema.blocks.get(name)
        if inner is None and schema.blocks is s.SETTINGS_BLOCKS and load_settings():
            inner = schema.blocks.get(name)  # the targets, now imported, declare it
        if inner is None:
            self.report(msg.UnknownBlockKind.at(
                scope.path, entry.kind.span, where=f"block in `{schema.kind}`", kind=name,
                hint=hint(did_you_mean(name, list(schema.blocks) + list(schema.attrs)))))
            return
        if inner.naming == "required":
            if entry.name is None:
                self.report(msg.MissingName.at(scope.path, entry.kind.span, kind=name))
            else:
                values.named.append((scope, entry.name, self.block_values(scope, entry, inner)))
            return
        if entry.name is not None:
            self.report(msg.UnexpectedName.at(scope.path, entry.name.span, kind=name))
        if name in values.blocks:
            self.report(msg.DuplicateBlock.at(scope.path, entry.kind.span, kind=name,
                                              where=f" in `{schema.kind}`"))
            return
        values.blocks[name] = self.block_values(scope, entry, inner)

    # ---- builders, one per block kind --------------------------------------

    def _build_accelerator(self, scope: ModuleScope, name: str, v: BlockValues) -> Accelerator | None:
        b = AcceleratorBlock.of(v.values)
        if b.vendor is None or b.memory is None:
            return None
        return Accelerator(
            name=name, vendor=b.vendor, memory=int(b.memory), family=_given(b.family, "gpu"),
            bf16_tflops=b.bf16_tflops, interconnect=b.interconnect, form_factor=b.form_factor,
            tdp_watts=b.tdp,
            resource=_given(b.resource, DEFAULT_RESOURCE.get(b.vendor, "nvidia.com/gpu")),
            origin=v.origin)

    def _shape(self, scope: ModuleScope, b: PoolBlock | OfferBlock,
               gpu_values: BlockValues | None) -> NodeShape | None:
        if b.cpu is None or b.memory is None:
            return None
        gpu = None
        if gpu_values is not None:
            gpu_block = PoolGpuBlock.of(gpu_values.values)
            model = self._accelerator_named(scope, gpu_block.model)
            if model is None or gpu_block.count is None:
                return None
            gpu = GpuSpec(model, int(gpu_block.count))
        return NodeShape(int(b.cpu * 1000), int(b.memory), int(_given(b.disk, Fraction(0))), gpu,
                         _given(b.arch, "amd64"))

    def _accelerator_named(self, scope: ModuleScope, name: str | None) -> Accelerator | None:
        symbol = scope.lookup(name) if name else None
        return self.accelerator(symbol) if symbol else None

    def _build_pool(self, scope: ModuleScope, name: str, v: BlockValues) -> Pool | None:
        b = PoolBlock.of(v.values)
        shape = self._shape(scope, b, v.blocks.get("gpu"))
        if shape is None or b.count is None:
            return None
        return Pool(name=name, count=int(b.count), shape=shape, price=_given(b.price, Fraction(0)),
                    labels=_given(b.labels, {}), zone=b.zone, region=b.region,
                    provider=b.provider, dedicated=b.dedicated, features=_given(b.features, []),
                    power_watts=b.power, idle_watts=_given(b.idle_power, Fraction(0)),
                    jurisdiction=b.jurisdiction, cluster=b.cluster, origin=v.origin, spans=v.spans)

    def _build_inventory(self, scope: ModuleScope, name: str, v: BlockValues) -> Inventory | None:
        b = InventoryBlock.of(v.values)
        if b.file is None or b.format is None:
            return None
        file = (scope.module.resolved.parent / b.file).resolve()
        try:
            if not stat.S_ISREG(os.stat(file).st_mode):  # a FIFO would block, a device lie
                raise OSError(0, "not a regular file" if not file.is_dir() else "is a directory")
            with open(file, "rb") as handle:
                handle.read(1)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            self.report(msg.FileUnreadable.at(scope.path, v.spans["file"].span,
                                              file=b.file, reason=reason.lower()))
            return None
        return Inventory(name=name, format=b.format, file=str(file),
                         price=_given(b.price, Fraction(0)), labels=_given(b.labels, {}),
                         zone=b.zone, region=b.region, provider=b.provider, dedicated=b.dedicated,
                         arch=b.arch, jurisdiction=b.jurisdiction,
                         gpu_model=self._accelerator_named(scope, b.gpu_model),
                         cluster=b.cluster, origin=v.origin, spans=v.spans)

    def _build_offer(self, scope: ModuleScope, name: str, v: BlockValues) -> Offer | None:
        b = OfferBlock.of(v.values)
        shape = self._shape(scope, b, v.blocks.get("gpu"))
        if (shape is None or b.provider is None or b.instance_type is None or b.regions is None
                or b.price is None):
            return None
        return Offer(name=name, provider=b.provider, instance_type=b.instance_type,
                     regions=b.regions, shape=shape, price=b.price, spot_price=b.spot_price,
                     labels=_given(b.labels, {}),
                     max_pods=None if b.max_pods is None else int(b.max_pods), origin=v.origin)

    def _build_buy(self, scope: ModuleScope, name: str | None, v: BlockValues) -> Buy:
        b = BuyBlock.of(v.values)
        offers = []
        for offer_name in _given(b.offers, []):
            symbol = scope.lookup(offer_name)
            offer = self.entity(symbol) if symbol else None
            if offer is not None:
                offers.append(offer)
        return Buy(name=name, offers=tuple(offers), providers=b.providers, regions=b.regions,
                   max_count=None if b.max_count is None else int(b.max_count),
                   spot=bool(_given(b.spot, False)), origin=v.origin)

    def _build_policy(self, scope: ModuleScope, name: None, v: BlockValues) -> Policy:
        b = PolicyBlock.of(v.values)
        stated = {}
        for kind, block in v.blocks.items():  # each a registered target's settings block
            settings = SETTINGS[kind]
            stated[settings] = settings.from_block(block.values, block.origin, block.spans)
        return Policy(objective=_given(b.objective, ["cost"]), budget=b.budget,
                      allow_unplaced=bool(_given(b.allow_unplaced, False)), origin=v.origin,
                      spans=v.spans, settings=stated)

    def _build_power_cap(self, scope: ModuleScope, name: str, v: BlockValues) -> PowerCap | None:
        b = PowerCapBlock.of(v.values)
        if b.cap is None:
            return None
        return PowerCap(name, b.cap, zone=b.zone, region=b.region, labels=_given(b.labels, {}),
                        origin=v.origin)

    def _build_electricity(self, scope: ModuleScope, name: str,
                           v: BlockValues) -> Electricity | None:
        b = ElectricityBlock.of(v.values)
        if b.price is None:
            return None
        return Electricity(name, b.price, zone=b.zone, region=b.region,
                           labels=_given(b.labels, {}), origin=v.origin)

    def _build_region(self, scope: ModuleScope, name: str, v: BlockValues) -> Region | None:
        b = RegionBlock.of(v.values)
        if b.code is None or b.jurisdiction is None:
            return None
        return Region(name, b.code, b.jurisdiction, b.provider, b.country, b.city, v.origin)

    def _build_location(self, scope: ModuleScope, name: str, v: BlockValues) -> str:
        return name

    def _build_latency(self, scope: ModuleScope, name: None, v: BlockValues) -> LatencyEntry | None:
        b = LatencyBlock.of(v.values)
        if b.from_ is None or b.to is None:
            return None
        return LatencyEntry(b.from_, {region: seconds * 1000 for region, seconds in b.to.items()})

    def _build_profile(self, scope: ModuleScope, name: str, v: BlockValues) -> BlockValues:
        return v

    def _build_workload(self, scope: ModuleScope, name: str, v: BlockValues) -> Workload | None:
        merged = self._with_profiles(scope, v, [name])
        block = v.node
        missing = [a for a, spec in s.WORKLOAD.attrs.items()
                   if spec.required and a not in merged.spans and not _waived(s.WORKLOAD, a, merged)]
        if any(isinstance(e, n.Use) for e in block.entries):
            self.require_attributes(scope, block, s.WORKLOAD, merged)
        # rules are checked even when an attribute is missing or wrong, so that every error shows
        workload = self._workload_from(scope, name, merged)
        b = WorkloadBlock.of(merged.values)
        sized = workload.options if _option_blocks(merged) else b.replicas is not None
        if missing or not sized or b.cpu is None or b.memory is None:
            return None
        return workload

    def _with_profiles(self, scope: ModuleScope, v: BlockValues, chain: list[str]) -> BlockValues:
        """The block's values with every `use`d profile folded in; the block's own win."""
        merged = BlockValues(v.origin, v.node)
        for home, statement in v.statements:
            if isinstance(statement, n.Use):
                profile = self._profile(home, statement, chain)
                if profile is not None:
                    _merge_into(merged, profile)
        own = [(home, st) for home, st in v.statements if not isinstance(st, n.Use)]
        _merge_into(merged, BlockValues(v.origin, v.node, dict(v.values), dict(v.spans),
                                        dict(v.blocks), own))
        return merged

    def _profile(self, scope: ModuleScope, use: n.Use, chain: list[str]) -> BlockValues | None:
        _, symbol = self._resolve_ref(scope, use.target, "profile")
        if symbol is None:
            return None
        if symbol.name in chain:
            self.report(msg.DefinitionCycle.at(scope.path, use.target.span, name=symbol.name,
                                               cycle=" -> ".join(chain + [symbol.name])))
            return None
        values = self.entity(symbol)
        if values is None:
            return None
        return self._with_profiles(self.scope(symbol.module), values, chain + [symbol.name])

    def _resolve_ref(self, scope: ModuleScope, ref: n.Ref, kind: str) -> tuple[Any, Symbol | None]:
        parts = [p.name for p in ref.parts]
        target = scope
        for part in parts[:-1]:
            inner = target.alias(part)
            if inner is None:
                self.report(msg.UnknownName.at(scope.path, ref.span, name=part,
                                               hint=hint(did_you_mean(part, list(target.aliases)))))
                return None, None
            target = inner
        symbol = target.lookup(parts[-1])
        if symbol is None:
            if not target.was_dropped(parts[-1]):
                self.report(msg.UnknownName.at(scope.path, ref.parts[-1].span, name=parts[-1],
                                               hint=hint(did_you_mean(parts[-1], target.names(kind)))))
            return None, None
        if symbol.kind != kind:
            self.report(msg.WrongKindOfName.at(scope.path, ref.span, name=ref.dotted,
                                               actual=f"a {symbol.kind}", expected=f"a {kind}"))
            return None, None
        return target, symbol

    def _workload_from(self, scope: ModuleScope, name: str, v: BlockValues) -> Workload:
        """The workload, built at once from its attributes, then its blocks' and statements'
        rules, each checked (and reported) even where another part is wrong."""
        b = WorkloadBlock.of(v.values)
        gpu = v.blocks.get("gpu")
        gpu_requirements: tuple[Requirement, ...] = ()
        if gpu is not None:
            gpu_requirements = tuple(self._gpu_requirements(scope, gpu))
            if not gpu.named and "count" not in gpu.spans:
                self.report(msg.MissingAttribute.at(gpu.origin.path, gpu.node.kind.span,
                                                    block="gpu", name="gpu", attribute="`count`"))
        replicas = int(_given(b.replicas, Fraction(0)))
        latency = (tuple(self._latency_rules(replicas, v.blocks["latency"]))
                   if "latency" in v.blocks else ())
        throughput, options = self._options(name, v)
        rules = _Rules()
        self._rules(rules, v.statements)
        workload = Workload(
            name=name, kind=_given(b.kind, "service"), replicas=replicas,
            cpu_milli=int(_given(b.cpu, Fraction(0)) * 1000),
            memory=int(_given(b.memory, Fraction(0))), disk=int(_given(b.disk, Fraction(0))),
            gpu_count=int(_given(WorkloadGpuBlock.of(gpu.values).count, Fraction(0))) if gpu else 0,
            labels=_given(b.labels, {}), zones=b.zones, regions=b.regions,
            priority=int(_given(b.priority, Fraction(0))), gang=bool(_given(b.gang, False)),
            tolerate=_given(b.tolerate, []), image=b.image, command=b.command,
            env=_given(b.env, {}), time_limit_seconds=_seconds(b.time_limit),
            exclusive=bool(_given(b.exclusive, False)), arch=list(_given(b.arch, ["amd64"])),
            residency=b.residency,
            gpu_requirements=gpu_requirements, latency=latency, throughput=throughput,
            options=options, requirements=tuple(rules.requirements),
            preferences=tuple(rules.preferences), affinities=tuple(rules.affinities),
            spreads=tuple(rules.spreads), origin=v.origin, spans=v.spans)
        if workload.options:
            self._rules_beside_options(workload)
        return workload

    def _rules_beside_options(self, workload: Workload) -> None:
        """Each option is placed as work of its own: rules that count a workload's replicas
        across zones or regions would hold per option only, so they are refused."""
        for rule in workload.spreads:
            if rule.topology != "node":
                self.report(msg.OptionsWithRule.at(rule.origin.path, rule.origin.span, detail=(
                    f"`spread {rule.topology}` is not supported for `{workload.name}`, "
                    "which has accelerator options")))
        for affinity in workload.affinities:
            if affinity.target == "self" and affinity.topology != "node":
                self.report(msg.OptionsWithRule.at(affinity.origin.path, affinity.origin.span, detail=(
                    f"`anti_affinity self on {affinity.topology}` is not supported for "
                    f"`{workload.name}`, which has accelerator options")))

    def check_option_targets(self, program: Program) -> None:
        """`affinity W`: W may run on any of its options, so "near W" is not one rule."""
        for workload in program.workloads.values():
            for rule in workload.affinities:
                target = program.workloads.get(rule.target)
                if not rule.anti and target is not None and target.options:
                    self.report(msg.OptionsWithRule.at(rule.origin.path, rule.origin.span, detail=(
                        f"`affinity {rule.target}` is not supported: `{rule.target}` has "
                        "accelerator options (`anti_affinity` is)")))

    # ---- accelerator options -------------------------------------------------

    def _options(self, name: str,
                 v: BlockValues) -> tuple[Fraction | None, tuple[AcceleratorOption, ...]]:
        """`gpu { option MODEL { ... } }`: the acceptable models, sized in replicas or
        throughput, and the throughput they deliver together (none without valid options)."""
        gpu = v.blocks.get("gpu")
        if gpu is None or not gpu.named:
            if "throughput" in v.spans:
                self.report(msg.ThroughputWithoutOptions.at(v.spans["throughput"].path,
                                                            v.spans["throughput"].span))
            return None, ()
        if "model" in gpu.spans:
            self.report(msg.OptionsWithModel.at(gpu.spans["model"].path, gpu.spans["model"].span,
                                                model=_given(WorkloadGpuBlock.of(gpu.values).model, "?")))
        blocks = self._distinct_options(gpu)
        models = [self._option_model(home, ident) for home, ident, _ in blocks]
        if not self._measures_agree(name, v, blocks):
            return None, ()
        by_throughput = "throughput" in v.spans
        throughput = WorkloadBlock.of(v.values).throughput if by_throughput else Fraction(1)
        options = [self._option(model, home, ident, values, gpu, v, by_throughput)
                   for model, (home, ident, values) in zip(models, blocks)]
        valid = tuple(option for option in options if option is not None)
        if throughput is not None and len(valid) == len(options):
            return throughput, valid
        return throughput, ()

    def _distinct_options(self, gpu: BlockValues) -> list[tuple[Any, n.Ident, BlockValues]]:
        seen: set[str] = set()
        distinct = []
        for home, ident, values in gpu.named:
            if ident.name in seen:
                self.report(msg.DuplicateOption.at(home.path, ident.span, name=ident.name))
                continue
            seen.add(ident.name)
            distinct.append((home, ident, values))
        return distinct

    def _measures_agree(self, name: str, v: BlockValues, blocks: list) -> bool:
        """Throughput on every option and the workload, or on none of them; never beside replicas."""
        agree = True
        for home, ident, values in blocks:
            if "replicas" in values.spans and "throughput" in values.spans:
                self.report(msg.ConflictingOptionMeasures.at(
                    home.path, values.spans["throughput"].span,
                    detail=f"option `{ident.name}` states both `replicas` and `throughput`"))
                agree = False
        stated = [(home, ident) for home, ident, values in blocks if "throughput" in values.spans]
        unstated = [(home, ident) for home, ident, values in blocks if "throughput" not in values.spans]
        if stated and unstated:
            home, ident = unstated[0]
            self.report(msg.ThroughputOnSomeOptions.at(home.path, ident.span, detail=(
                f"option `{ident.name}` of `{name}` has no `throughput`, but option "
                f"`{stated[0][1].name}` states one")))
            return False
        if stated and "throughput" not in v.spans:
            self.report(msg.MissingAttribute.at(v.origin.path, v.node.kind.span, block="workload",
                                                name=name, attribute="`throughput`"))
            return False
        if "throughput" in v.spans and not stated:
            origin = v.spans["throughput"]
            self.report(msg.ThroughputOnSomeOptions.at(origin.path, origin.span, detail=(
                f"`{name}` states a `throughput`, but none of its options says what one "
                "replica delivers")))
            return False
        if stated and "replicas" in v.spans:
            origin = v.spans["replicas"]
            self.report(msg.ConflictingOptionMeasures.at(origin.path, origin.span, detail=(
                f"`{name}` states `replicas` beside a `throughput` its options deliver")))
            return False
        return agree

    def _option_model(self, home: ModuleScope, ident: n.Ident) -> Accelerator | None:
        symbol = home.lookup(ident.name)
        if symbol is None or symbol.kind != "accelerator":
            self.report(msg.UnknownAccelerator.at(
                home.path, ident.span, name=ident.name,
                hint=accelerator_hint(ident.name, did_you_mean(ident.name,
                                                               home.names("accelerator")))))
            return None
        return self.accelerator(symbol)

    def _option(self, model: Accelerator | None, home: ModuleScope, ident: n.Ident,
                values: BlockValues, gpu: BlockValues, v: BlockValues,
                by_throughput: bool) -> AcceleratorOption | None:
        option = WorkloadGpuOptionBlock.of(values.values)
        count = _given(option.count, WorkloadGpuBlock.of(gpu.values).count)
        if count is None and "count" not in values.spans and "count" not in gpu.spans:
            self.report(msg.MissingAttribute.at(home.path, ident.span, block="option",
                                                name=ident.name, attribute="`count`"))
        if by_throughput:
            throughput = option.throughput
        else:
            replicas = _given(option.replicas, WorkloadBlock.of(v.values).replicas)
            if replicas is None and "replicas" not in values.spans and "replicas" not in v.spans:
                self.report(msg.MissingAttribute.at(home.path, ident.span, block="option",
                                                    name=ident.name, attribute="`replicas`"))
            throughput = None if not replicas else 1 / Fraction(replicas)
        if model is None or count is None or throughput is None:
            return None
        return AcceleratorOption(model, int(count), throughput,
                                 None if option.cpu is None else int(option.cpu * 1000),
                                 None if option.memory is None else int(option.memory),
                                 values.origin)

    def _latency_rules(self, workload_replicas: int, block: BlockValues) -> list[LatencyRule]:
        b = WorkloadLatencyBlock.of(block.values)
        if b.users is None or b.within is None:
            return []
        replicas = int(_given(b.replicas, Fraction(1)))
        if "replicas" in block.spans and workload_replicas and replicas > workload_replicas:
            where = block.spans["replicas"]
            self.report(msg.OutOfRange.at(where.path, where.span, what="replicas within reach",
                                          bound=f"<= the workload's {workload_replicas} replicas",
                                          value=str(replicas)))
        return [LatencyRule(location, b.within * 1000, replicas, block.origin)
                for location in b.users]

    def _gpu_requirements(self, scope: ModuleScope, gpu: BlockValues) -> list[Requirement]:
        requirements = []
        model = WorkloadGpuBlock.of(gpu.values).model
        if model is not None:
            origin = gpu.spans["model"]
            requirements.append(Requirement(Compare(("model",), "==", model, origin),
                                            f"model == {model}", origin))
        for home, statement in gpu.statements:
            predicate = Evaluator(home).predicate(statement.condition, s.ACCELERATOR_SCOPE)
            if predicate is not None:
                requirements.append(Requirement(predicate, expression_text(statement.condition),
                                                Origin(home.path, statement.span)))
        return requirements

    def _rules(self, rules: _Rules, statements: list[Any]) -> None:
        for home, statement in statements:
            origin = Origin(home.path, statement.span)
            if isinstance(statement, n.Require):
                predicate = Evaluator(home).predicate(statement.condition, s.NODE_SCOPE)
                if predicate is not None:
                    rules.requirements.append(Requirement(
                        predicate, expression_text(statement.condition), origin))
            elif isinstance(statement, n.Prefer):
                self._preference(home, rules, statement, origin)
            elif isinstance(statement, n.Affinity):
                self._affinity(home, rules, statement, origin)
            elif isinstance(statement, n.Spread):
                self._spread(home, rules, statement, origin)

    def _preference(self, scope: ModuleScope, rules: _Rules, statement: n.Prefer,
                    origin: Origin) -> None:
        evaluator = Evaluator(scope)
        predicate = evaluator.predicate(statement.condition, s.NODE_SCOPE)
        weight = evaluator.value(statement.weight, t.NUMBER)
        if weight is not None and weight.value <= 0:
            self.report(msg.OutOfRange.at(scope.path, statement.weight.span, what="a weight",
                                          bound="> 0", value=_show_number(weight.value, "")))
            return
        if predicate is not None and weight is not None:
            rules.preferences.append(Preference(predicate, weight.value,
                                                   expression_text(statement.condition), origin))

    def _topology(self, scope: ModuleScope, topology: n.Topology) -> str | None:
        if isinstance(topology.key, n.String):
            if not topology.key.value.strip():
                self.report(msg.InvalidTopology.at(scope.path, topology.span, key=""))
                return None
            return topology.key.value
        if topology.key.name not in s.TOPOLOGIES:
            self.report(msg.InvalidTopology.at(scope.path, topology.span, key=topology.key.name))
            return None
        return topology.key.name

    def _affinity(self, scope: ModuleScope, rules: _Rules, statement: n.Affinity,
                  origin: Origin) -> None:
        topology = self._topology(scope, statement.topology)
        target = statement.target.dotted
        if target == "self":
            if not statement.anti:
                self.report(msg.SelfAffinity.at(scope.path, statement.target.span))
                return
        else:
            _, symbol = self._resolve_ref(scope, statement.target, "workload")
            if symbol is None:
                return
            target = symbol.name
        if topology is not None:
            rules.affinities.append(AffinityRule(target, topology, statement.anti, origin))

    def _spread(self, scope: ModuleScope, rules: _Rules, statement: n.Spread,
                origin: Origin) -> None:
        topology = self._topology(scope, statement.topology)
        skew = Evaluator(scope).value(statement.max_skew, t.NUMBER)
        if skew is not None and (skew.value.denominator != 1 or skew.value < 1):
            self.report(msg.OutOfRange.at(scope.path, statement.max_skew.span, what="max_skew",
                                          bound="a whole number >= 1",
                                          value=_show_number(skew.value, "")))
            return
        if skew is None or topology is None:
            return
        rules.spreads.append(SpreadRule(topology, int(skew.value), origin))


_STATEMENT_NAMES = {n.Require: "require", n.Prefer: "prefer", n.Use: "use",
                    n.Affinity: "affinity", n.Spread: "spread"}


def _declared(decl: Any) -> tuple[n.Ident | None, str]:
    if isinstance(decl, n.ConstDecl):
        return decl.name, "const"
    if isinstance(decl, n.Block) and decl.name is not None:
        return decl.name, decl.kind.name
    return None, ""


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


def _given(value: _T | None, default: _T) -> _T:
    """A block's attribute, or its default where the block does not state it."""
    return default if value is None else value


def _seconds(value: Fraction | None) -> int | None:
    return None if value is None else int(value)


def _symbol_name(decl: Any) -> n.Ident:
    """The name of a declaration that made a symbol: only named declarations make one."""
    ident = _declared(decl)[0]
    assert ident is not None, "a symbol comes from a named declaration"
    return ident


def _duplicate(path: str, ident: n.Ident, first_path: str, first_decl: Any) -> Diagnostic:
    """E0202 at the second definition, saying where the first one is."""
    first = _symbol_name(first_decl)
    where = f"{first_path}:{first.span.line}:{first.span.column}"
    return msg.DuplicateDefinition.at(path, ident.span, name=ident.name, where=where,
                                      related=(Related(first_path, first.span,
                                                       f"`{ident.name}` is first defined here"),))


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
              "energy_price": " USD/kWh"}.get(dim, "")
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
              "money": " USD", "energy_price": " USD/kWh"}.get(dim, "")
    return f"{number}{suffix}"


def check_file(path: Path, workspace: Workspace | None = None) -> CheckResult:
    """Parse and check a file and everything it imports."""
    workspace = workspace or Workspace()
    root = workspace.load(path)
    return check_loaded(Checker(workspace), root)


def check_loaded(checker: Checker, root: SourceModule,
                 reused: Iterable[Diagnostic] = ()) -> CheckResult:
    """Check a loaded root and its imports; `reused` are the diagnostics of declarations an
    incremental check did not check again (their values are in the checker's memo)."""
    workspace = checker.workspace
    for module in workspace.reachable(root):
        checker.check_module(module)
    program = checker.program(root)
    checker.check_option_targets(program)
    diagnostics = [*workspace.diagnostics, *reused, *checker.diagnostics,
                   *residency_conflicts(program)]
    return CheckResult(root, program, unique_sorted(diagnostics), workspace)
