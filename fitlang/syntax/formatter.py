"""`fitc fmt`: parse, print canonically, and prove the meaning did not change."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from fitlang.diagnostics import Diagnostic
from fitlang.syntax.parser import ParseResult, decode, parse_source
from fitlang.syntax.printer import format_module


Parse = Callable[[bytes | str, str], ParseResult]


class FormatError(Exception):
    """The formatter would have changed the program's meaning: a bug, never written out."""


@dataclass
class Formatted:
    text: str
    diagnostics: list[Diagnostic] = field(default_factory=list)


def format_source(data: bytes | str, path: str, parse: Parse = parse_source,
                  reparse: Parse | None = None) -> Formatted:
    """The canonical text of a file, or its syntax errors (then `text` is the input).
    `parse` reads the input and `reparse` the output (both `parse_source` by default; the
    language server passes its caches, which parse only the declarations that changed)."""
    parsed = parse(data, path)
    text, _ = decode(data, path)
    if parsed.diagnostics:
        return Formatted(text, parsed.diagnostics)
    formatted = format_module(parsed.module, text)
    if formatted == text:
        return Formatted(formatted)
    again = (reparse or parse)(formatted, path)
    if again.diagnostics or again.module.decls != parsed.module.decls:
        raise FormatError(f"formatting {path} would change its meaning")
    return Formatted(formatted)
