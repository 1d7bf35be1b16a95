"""Where something is in a source file: shared by the syntax tree, diagnostics and every stage.

Kept apart from `fitlang.syntax` so that `fitlang.diagnostics` (which every stage imports)
does not depend on the parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lark import Token
from lark.tree import Meta


@dataclass(frozen=True)
class Span:
    """1-based line and column of the first character, and of one past the last."""

    line: int
    column: int
    end_line: int
    end_column: int
    start: int = 0
    end: int = 0

    @classmethod
    def of(cls, item: Any) -> Span:
        if isinstance(item, Span):
            return item
        if isinstance(item, Token):
            return cls(item.line or 1, item.column or 1, item.end_line or 1,
                       item.end_column or 1, item.start_pos or 0, item.end_pos or 0)
        if isinstance(item, Meta) and not item.empty:
            return cls(item.line, item.column, item.end_line, item.end_column,
                       item.start_pos, item.end_pos)
        return cls(1, 1, 1, 1)

    def contains(self, line: int, column: int) -> bool:
        after_start = (line, column) >= (self.line, self.column)
        before_end = (line, column) <= (self.end_line, self.end_column)
        return after_start and before_end


def made_span(line: int, column: int, end_line: int, end_column: int, start: int, end: int) -> Span:
    """`Span(line, column, end_line, end_column, start, end)`, its fields written to the new
    object's `__dict__` rather than set one by one through the frozen dataclass's `__init__`
    (0.28 us where that takes 0.78: the parser makes one per node, 163,551 at 50,000 nodes)."""
    span = _new_object(Span)
    fields = span.__dict__
    fields["line"] = line
    fields["column"] = column
    fields["end_line"] = end_line
    fields["end_column"] = end_column
    fields["start"] = start
    fields["end"] = end
    return span


_new_object = object.__new__
FIRST_CHARACTER = Span(1, 1, 1, 2)  # where a diagnostic about a whole file points
