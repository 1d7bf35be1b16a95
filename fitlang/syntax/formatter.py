"""`fitc fmt`: parse, print canonically, and prove the meaning did not change."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fitlang.diagnostics import Diagnostic
from fitlang.syntax.parser import ParseResult, decode, parse_source
from fitlang.syntax.printer import PrintedDeclarations, format_module

# reads `data` as given: the command line passes bytes, the language server its text
Parse = Callable[[Any, str], ParseResult]


class FormatError(Exception):
    """The formatter would have changed the program's meaning: a bug, never written out."""


@dataclass
class Formatted:
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)


class FormatCache:
    """What formatting one file again and again can reuse (the language server's): the
    lines each declaration was printed as, and which declarations were shown to mean the
    same after formatting. With parse caches that hand back the same declaration objects
    for unchanged text, only the declarations that changed are printed and compared."""

    def __init__(self) -> None:
        self.printed = PrintedDeclarations()
        self._same: dict[tuple[int, int], tuple[object, object]] = {}

    def same(self, before: list, after: list) -> bool:
        """`before == after`, comparing only the pairs not compared last time."""
        if len(before) != len(after):
            return False
        known, self._same = self._same, {}
        for old, new in zip(before, after):
            key = (id(old), id(new))
            if key not in known and old != new:
                return False
            self._same[key] = (old, new)  # kept alive, so that the ids stay theirs
        return True


def format_source(data: bytes | str, path: str, parse: Parse = parse_source,
                  reparse: Parse | None = None, cache: FormatCache | None = None) -> Formatted:
    """The canonical text of a file, or its syntax errors (then `text` is the input).
    `parse` reads the input and `reparse` the output (both `parse_source` by default; the
    language server passes its caches, which parse only the declarations that changed,
    and a `FormatCache`)."""
    parsed = parse(data, path)
    text, _ = decode(data, path)
    if parsed.diagnostics:
        return Formatted(text, parsed.diagnostics)
    formatted = format_module(parsed.module, text, cache.printed if cache is not None else None)
    if formatted == text:
        return Formatted(formatted)
    again = (reparse or parse)(formatted, path)
    same = cache.same if cache is not None else _equal
    if again.diagnostics or not same(parsed.module.decls, again.module.decls):
        raise FormatError(f"formatting {path} would change its meaning")
    return Formatted(formatted)


def _equal(before: list, after: list) -> bool:
    return before == after
