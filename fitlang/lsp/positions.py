"""Between fitlang spans and LSP positions.

A `Span` is 1-based, counts lines by `\\n` only (as the parser does) and columns in code
points. An LSP `Position` is 0-based and counts columns in the code units the client and
server agreed on at `initialize` (UTF-16 unless the client offers another).
"""

from __future__ import annotations

from lsprotocol import types

from fitlang.syntax.nodes import Span

UTF8, UTF16, UTF32 = "utf-8", "utf-16", "utf-32"


def _units(text: str, encoding: str) -> int:
    if text.isascii() or encoding == UTF32:
        return len(text)
    if encoding == UTF8:
        return len(text.encode("utf-8"))
    return len(text.encode("utf-16-le")) // 2


class LineIndex:
    """The lines of one text, to convert positions in both directions."""

    def __init__(self, text: str, encoding: str = UTF16) -> None:
        self.text = text
        self.lines = text.split("\n")
        self.encoding = str(encoding or UTF16)

    # ---- fitlang -> LSP -------------------------------------------------

    def position(self, line: int, column: int) -> types.Position:
        """The LSP position of 1-based `line`, `column` (clamped into the text)."""
        if line < 1:
            return types.Position(0, 0)
        if line > len(self.lines):
            last = len(self.lines) - 1
            return types.Position(last, _units(self.lines[last], self.encoding))
        text = self.lines[line - 1]
        prefix = text[: max(column - 1, 0)]
        return types.Position(line - 1, _units(prefix, self.encoding))

    def range(self, span: Span) -> types.Range:
        return types.Range(self.position(span.line, span.column),
                           self.position(span.end_line, span.end_column))

    # ---- LSP -> fitlang -------------------------------------------------

    def line_column(self, position: types.Position) -> tuple[int, int]:
        """1-based line and column (in code points) of an LSP position."""
        if position.line >= len(self.lines):
            return len(self.lines), len(self.lines[-1]) + 1
        text = self.lines[position.line]
        if text.isascii() or self.encoding == UTF32:
            return position.line + 1, min(position.character, len(text)) + 1
        units = 0
        for index, char in enumerate(text):
            if units >= position.character:
                return position.line + 1, index + 1
            units += _units(char, self.encoding)
        return position.line + 1, len(text) + 1

    def offset(self, position: types.Position) -> int:
        """The index into the text (in code points) of an LSP position."""
        line, column = self.line_column(position)
        return sum(len(text) + 1 for text in self.lines[: line - 1]) + column - 1

    def position_at(self, offset: int) -> types.Position:
        """The LSP position of an index into the text."""
        line = self.text.count("\n", 0, offset) + 1
        column = offset - (self.text.rfind("\n", 0, offset) + 1) + 1
        return self.position(line, column)

    def end(self) -> types.Position:
        last = len(self.lines) - 1
        return types.Position(last, _units(self.lines[last], self.encoding))
