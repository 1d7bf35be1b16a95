"""Finding things in the AST: the nodes under a position, and every place a name is used."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fitlang.check import schema as s
from fitlang.check.types import Type
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span


def children(node: Any) -> Iterator[Any]:
    for value in node.__dict__.values():
        if isinstance(value, n._Node):
            yield value
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, n._Node):
                    yield item


def _holds(span: Span, line: int, column: int) -> bool:
    return (span.line, span.column) <= (line, column) <= (span.end_line, span.end_column)


def chain_at(decls: list, line: int, column: int) -> list:
    """The nodes that contain the position, outermost first (a position just after a word
    still counts as on it, so that hovering the end of a name works)."""
    chain: list = []
    candidates = decls
    while True:
        found = None
        for node in candidates:
            if node.span != _EMPTY and _holds(node.span, line, column):
                found = node
                # prefer a node that starts here over one that ends here: `a.b` at `.b`
                if (node.span.line, node.span.column) != (line, column):
                    later = [c for c in candidates if c is not node and c.span != _EMPTY
                             and (c.span.line, c.span.column) == (line, column)]
                    if later:
                        found = later[0]
                break
        if found is None:
            return chain
        chain.append(found)
        candidates = list(children(found))


_EMPTY = Span(1, 1, 1, 1)


@dataclass(frozen=True)
class NameUse:
    """A name used as a reference: `ident`, reached through `qualifiers` (import aliases),
    in a place where `subjects` (node or accelerator attributes) take precedence."""

    ident: n.Ident
    qualifiers: tuple[str, ...] = ()
    subjects: dict[str, Type] | None = None


def name_uses(decls: list) -> Iterator[NameUse]:
    for decl in decls:
        if isinstance(decl, n.ConstDecl):
            yield from _expr_uses(decl.value, None)
        elif isinstance(decl, n.Block):
            yield from _block_uses(decl, s.NODE_SCOPE)


def _block_uses(block: n.Block, subjects: dict[str, Type]) -> Iterator[NameUse]:
    for entry in block.entries:
        if isinstance(entry, n.Attribute):
            yield from _expr_uses(entry.value, None)
        elif isinstance(entry, n.Block):
            inner = s.ACCELERATOR_SCOPE if entry.kind.name == "gpu" else subjects
            yield from _block_uses(entry, inner)
        elif isinstance(entry, n.Require):
            yield from _expr_uses(entry.condition, subjects)
        elif isinstance(entry, n.Prefer):
            yield from _expr_uses(entry.condition, subjects)
            yield from _expr_uses(entry.weight, None)
        elif isinstance(entry, (n.Use, n.Affinity)):
            if not (isinstance(entry, n.Affinity) and entry.target.dotted == "self"):
                yield _ref_use(entry.target)
        elif isinstance(entry, n.Spread):
            yield from _expr_uses(entry.max_skew, None)


def _ref_use(ref: n.Ref) -> NameUse:
    return NameUse(ref.parts[-1], tuple(p.name for p in ref.parts[:-1]))


def _expr_uses(expr: Any, subjects: dict[str, Type] | None) -> Iterator[NameUse]:
    stack = [expr]
    while stack:
        node = stack.pop()
        if node is None:
            continue
        if isinstance(node, n.Name):
            yield NameUse(node.ident, (), subjects)
        elif isinstance(node, n.Member):
            if isinstance(node.target, n.Name):
                yield NameUse(node.attr, (node.target.ident.name,), subjects)
            stack.append(node.target)
        elif isinstance(node, n.Map):
            stack.extend(pair.value for pair in node.pairs)
        elif isinstance(node, n.Call):
            stack.extend(node.args)
        else:
            stack.extend(children(node))


def use_at(decls: list, line: int, column: int) -> NameUse | None:
    for use in name_uses(decls):
        if _holds(use.ident.span, line, column):
            return use
    return None


def declared_name(decl: Any) -> n.Ident | None:
    if isinstance(decl, n.ConstDecl):
        return decl.name
    if isinstance(decl, n.Block):
        return decl.name
    return None


def block_schemas(chain: list) -> list[tuple[n.Block, s.BlockSchema | None]]:
    """Each block in `chain` with its schema (None for unknown kinds)."""
    result: list[tuple[n.Block, s.BlockSchema | None]] = []
    schema: s.BlockSchema | None = None
    for node in chain:
        if not isinstance(node, n.Block):
            continue
        if not result:
            schema = s.TOP_LEVEL.get(node.kind.name)
        else:
            schema = schema.blocks.get(node.kind.name) if schema is not None else None
        result.append((node, schema))
    return result
