"""Name resolution, block schemas, profiles and rules: from parsed modules to a `Program`.

`check_file` is the stage's entry point. It never stops at the first error:
every declaration of every loaded file is checked and every problem reported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import field
from fractions import Fraction
from pathlib import Path
from typing import Any

from fitlang import messages as msg
from fitlang.check import schema as s
from fitlang.check.buys import unsold_buy_regions
from fitlang.check.entities import LatencyEntry
from fitlang.check.evaluate import Evaluator, Symbol, Typed
from fitlang.check.loader import SourceModule, Workspace
from fitlang.check.program import Accelerator, Buy, CurrentFile, Electricity, Offer, Policy, PowerCap, Program
from fitlang.check.residency import residency_conflicts
from fitlang.check.step_prices import check_step_prices
from fitlang.check.timing import check_timing
from fitlang.check.values import BlockValues
from fitlang.check.workloads import WorkloadBuilder
from fitlang.diagnostics import Diagnostic, Related, did_you_mean, hint, unique_sorted
from fitlang.frozen import Mutable
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span


class CheckResult(Mutable):
    root: SourceModule
    program: Program
    diagnostics: list[Diagnostic]
    workspace: Workspace

    @property
    def has_errors(self) -> bool:
        return any(d.is_error for d in self.diagnostics)


class _ProgramParts(Mutable):
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
            self.report(
                msg.InvalidKey(
                    target=f"accelerator `{symbol.name}`",
                    what="attribute",
                    name=attr,
                    hint=hint(did_you_mean(attr, s.ACCELERATOR.attrs)),
                ).diagnostic(self.path, span)
            )
            return None
        value = accelerator.attribute(attr)
        if value is None:
            self.report(
                msg.InvalidKey(
                    target=f"accelerator `{symbol.name}`", what="value for", name=attr, hint=""
                ).diagnostic(self.path, span)
            )
            return None
        return Typed(s.ACCELERATOR_SCOPE[attr], value)

    def offer_attribute(self, symbol: Symbol, attr: str, span: Span) -> Typed | None:
        """`OFFER.price`, `.spot_price`, `.instance_type`: the offer's own values (an offer
        with errors is reported where it is declared, and gives none)."""
        if attr not in s.OFFER_SCOPE:
            *first, last = (f"`{name}`" for name in s.OFFER_SCOPE)
            readable = f"{', '.join(first)} or {last}"
            suggestion = did_you_mean(attr, s.OFFER_SCOPE)
            self.report(msg.InvalidKey(
                target=f"offer `{symbol.name}`", what="readable attribute", name=attr,
                hint=hint(suggestion) if suggestion else f" (an expression reads its {readable})",
            ).diagnostic(self.path, span))
            return None
        offer = self.checker.entity(symbol)
        if not isinstance(offer, Offer):
            return None
        value = getattr(offer, attr)
        if value is None:
            self.report(msg.InvalidKey(target=f"offer `{symbol.name}`", what="value for", name=attr,
                                       hint="").diagnostic(self.path, span))
            return None
        return Typed(s.OFFER_SCOPE[attr], value)

    def was_dropped(self, name: str) -> bool:
        """Whether `name` was declared by a declaration a syntax error dropped."""
        dropped = name in self.module.parsed.dropped_names
        if self.checker.slot is not None:
            self.checker.slot.note(self, "dropped", name, dropped)
        return dropped

    def report(self, diagnostic: Diagnostic) -> None:
        self.checker.report(diagnostic)


class Slot(Mutable, eq=False):
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
_VOLATILE_KINDS = ("inventory", "buy", "current")


class Checker(WorkloadBuilder):
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
        self.typed_values = None if recording else {}
        self.slots: dict[int, Slot] = {}
        self.slot: Slot | None = None

    def report(self, diagnostic: Diagnostic) -> None:
        self.diagnostics.append(diagnostic)
        if self.slot is not None:
            self.slot.diagnostics.append(diagnostic)

    def reported(self) -> int:
        return len(self.diagnostics)

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
            self.report(
                msg.DuplicateBlock(kind="policy", where=" per file").diagnostic(module.path, extra.kind.span)
            )
        for decl in module.decls:
            if isinstance(decl, n.Block) and _declared(decl)[0] is None:
                self._unnamed_block(scope, decl)

    def _unknown_kind(self, scope: ModuleScope, decl: n.Block) -> None:
        self.report(msg.UnknownBlockKind(where="declaration", kind=decl.kind.name,
                                         hint=hint(did_you_mean(decl.kind.name, s.TOP_LEVEL)))
                    .diagnostic(scope.path, decl.kind.span))

    def _unnamed_block(self, scope: ModuleScope, decl: n.Block) -> None:
        schema = s.TOP_LEVEL.get(decl.kind.name)
        if schema is None:
            self._unknown_kind(scope, decl)
            return
        if schema.naming == "required":
            self.report(msg.MissingName(kind=schema.kind).diagnostic(scope.path, decl.kind.span))
            return
        key = id(decl)
        if key not in self._entities:
            values = self.block_values(scope, decl, schema)
            builders: dict[str, Callable[[ModuleScope, None, BlockValues], Any]] = {
                "policy": self._build_policy, "buy": self._build_buy, "latency": self._build_latency,
                "current": self._build_current}
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
                       tuple(parts.electricity), regions, tuple(parts.locations), round_trips,
                       self._current_files(root))

    def _current_files(self, root: SourceModule) -> tuple[CurrentFile, ...]:
        """The root file's `current` blocks, in order: what runs is the deployment's, which
        the root file describes, so an imported file's state is not read."""
        return tuple(entity for decl in root.decls
                     if isinstance(decl, n.Block) and decl.kind.name == "current"
                     and isinstance(entity := self._entities.get(id(decl)), CurrentFile))

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
            self._unknown_kind(scope, decl)
            return None
        if schema.naming == "none" and decl.name is not None:  # a symbol's block has a name
            self.report(msg.UnexpectedName(kind=schema.kind).diagnostic(scope.path, decl.name.span))
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
            self.report(
                msg.DefinitionCycle(name=symbol.name, cycle=f"{cycle} -> {symbol.name}").diagnostic(
                    symbol.module.path, symbol.decl.name.span
                )
            )
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


def _declared(decl: Any) -> tuple[n.Ident | None, str]:
    if isinstance(decl, n.ConstDecl):
        return decl.name, "const"
    if isinstance(decl, n.Block) and decl.name is not None:
        return decl.name, decl.kind.name
    return None, ""


def _symbol_name(decl: Any) -> n.Ident:
    """The name of a declaration that made a symbol: only named declarations make one."""
    ident = _declared(decl)[0]
    assert ident is not None, "a symbol comes from a named declaration"
    return ident


def _duplicate(path: str, ident: n.Ident, first_path: str, first_decl: Any) -> Diagnostic:
    """E0202 at the second definition, saying where the first one is."""
    first = _symbol_name(first_decl)
    where = f"{first_path}:{first.span.line}:{first.span.column}"
    return msg.DuplicateDefinition(name=ident.name, where=where).diagnostic(
        path, ident.span, related=(Related(first_path, first.span, f"`{ident.name}` is first defined here"),)
    )


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
    checker.check_exclusive_affinities(program)
    checker.diagnostics.extend(check_timing(program))
    checker.diagnostics.extend(check_step_prices(program))
    diagnostics = [*workspace.diagnostics, *reused, *checker.diagnostics,
                   *residency_conflicts(program), *unsold_buy_regions(program)]
    return CheckResult(root, program, unique_sorted(diagnostics), workspace)
