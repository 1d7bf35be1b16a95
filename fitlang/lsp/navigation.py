"""Go to definition, find references, document symbols."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from lsprotocol import types

from fitlang.check.evaluate import Symbol
from fitlang.check.loader import SourceModule
from fitlang.lsp.analysis import Analysis, name_span, symbol_key
from fitlang.lsp.locate import chain_at, declared_name, name_uses, use_at
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span
from fitlang.syntax.printer import expression_text

FILE_START = Span(1, 1, 1, 1)
Place = tuple[Path, Span]


def symbol_at(analysis: Analysis, module: SourceModule, line: int, column: int) -> Symbol | None:
    """The declaration named at the position: by a reference to it, or by its own name."""
    use = use_at(module.decls, line, column)
    if use is not None:
        return analysis.resolve(module, use)
    chain = chain_at(module.decls, line, column)
    if len(chain) >= 2 and isinstance(chain[-1], n.Ident) and chain[-2] in module.decls \
            and declared_name(chain[-2]) is chain[-1]:
        symbol = analysis.scope(module).own.get(chain[-1].name)
        if symbol is not None and symbol.decl is chain[-2]:
            return symbol
    return None


def definition(analysis: Analysis, module: SourceModule, line: int, column: int) -> list[Place]:
    symbol = symbol_at(analysis, module, line, column)
    if symbol is not None:
        return [(symbol.module.resolved, name_span(symbol.decl))]
    for decl, imported in module.imports:
        if imported is not None and decl.path.span.contains(line, column):
            return [(imported.resolved, FILE_START)]
    return []


def references(analyses: Iterable[Analysis], symbol: Symbol, include_declaration: bool
               ) -> list[Place]:
    key = symbol_key(symbol)
    found: dict[tuple, Place] = {}
    if include_declaration:
        place = (symbol.module.resolved, name_span(symbol.decl))
        found[(place[0], place[1].start)] = place
    done: set[Path] = set()
    for analysis in analyses:
        for module in analysis.reachable():
            if module.resolved in done:
                continue
            done.add(module.resolved)
            for use in name_uses(module.decls):
                if use.ident.name != symbol.name:
                    continue
                target = analysis.resolve(module, use)
                if target is not None and symbol_key(target) == key:
                    found.setdefault((module.resolved, use.ident.span.start),
                                     (module.resolved, use.ident.span))
    return sorted(found.values(), key=lambda p: (str(p[0]), p[1].start))


_SYMBOL_KINDS = {
    "accelerator": types.SymbolKind.Class, "pool": types.SymbolKind.Struct,
    "inventory": types.SymbolKind.Struct, "offer": types.SymbolKind.Object,
    "buy": types.SymbolKind.Event, "workload": types.SymbolKind.Function,
    "profile": types.SymbolKind.Interface, "policy": types.SymbolKind.Namespace,
}


def document_symbols(module: SourceModule, convert) -> list[types.DocumentSymbol]:
    """Every declaration, with its kind; blocks list their attributes and nested blocks.
    `convert` turns a `Span` into an LSP range."""
    symbols = []
    for decl in module.decls:
        if isinstance(decl, n.ImportDecl):
            symbols.append(types.DocumentSymbol(
                name=decl.path.value, detail="import", kind=types.SymbolKind.Module,
                range=convert(decl.span), selection_range=convert(decl.path.span)))
        elif isinstance(decl, n.ConstDecl):
            symbols.append(types.DocumentSymbol(
                name=decl.name.name, detail=f"const = {expression_text(decl.value)}",
                kind=types.SymbolKind.Constant, range=convert(decl.span),
                selection_range=convert(decl.name.span)))
        elif isinstance(decl, n.Block):
            symbols.append(_block_symbol(decl, convert, top=True))
    return symbols


def _block_symbol(block: n.Block, convert, top: bool = False) -> types.DocumentSymbol:
    kind = block.kind.name
    children = []
    for entry in block.entries:
        if isinstance(entry, n.Attribute):
            children.append(types.DocumentSymbol(
                name=entry.name.name, detail=_short(expression_text(entry.value)),
                kind=types.SymbolKind.Property, range=convert(entry.span),
                selection_range=convert(entry.name.span)))
        elif isinstance(entry, n.Block):
            children.append(_block_symbol(entry, convert))
    return types.DocumentSymbol(
        name=block.name.name if block.name is not None else kind, detail=kind,
        kind=_SYMBOL_KINDS.get(kind, types.SymbolKind.Object) if top else types.SymbolKind.Struct,
        range=convert(block.span),
        selection_range=convert(block.name.span if block.name is not None else block.kind.span),
        children=children or None)


def _short(text: str, limit: int = 60) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."
