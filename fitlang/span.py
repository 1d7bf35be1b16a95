"""Where something is in a source file: shared by the syntax tree, diagnostics and every stage.

Kept apart from `fitlang.syntax` so that `fitlang.diagnostics` (which every stage imports)
does not depend on the parser.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lark import Token
from lark.tree import Meta


@dataclass(frozen=True, slots=True)
class Span:
    """1-based line and column of the first character, and of one past the last. In slots, not
    a `__dict__`: the parser makes one per node (212,017 for an inventory policy at 50,000
    nodes), and a span with its dict was 344 bytes, in slots 80 (the parse's memory 87 -> 31 MB)."""

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
    """`Span(line, column, end_line, end_column, start, end)`, its slots set through their
    descriptors rather than by the frozen dataclass's `__init__` (0.28 us where that takes
    0.78: the parser makes one per node, 212,017 at 50,000 nodes)."""
    span = _new_object(Span)
    _set_line(span, line)
    _set_column(span, column)
    _set_end_line(span, end_line)
    _set_end_column(span, end_column)
    _set_start(span, start)
    _set_end(span, end)
    return span


_new_object = object.__new__
_set_line, _set_column, _set_end_line, _set_end_column, _set_start, _set_end = (
    Span.__dict__[name].__set__ for name in ("line", "column", "end_line", "end_column", "start", "end"))
FIRST_CHARACTER = Span(1, 1, 1, 2)  # where a diagnostic about a whole file points
