"""The canonical layout of fit source: `fitc fmt`, and the text of expressions in messages.

Style: two-space indent, one entry per line, `name = value`, one blank line
between top-level declarations (imports and constants stay grouped), blank
lines inside blocks kept (at most one), comments kept where they were: on a
line of their own before the entry they precede, or at the end of the line
they ended. Lists and maps that do not fit in 100 columns get one item per
line with a trailing comma. The printer only changes layout, never meaning:
the AST before and after compares equal.
"""

from __future__ import annotations

import re
from typing import Any

from lark import Token

from fitlang.syntax import nodes as n

MAX_WIDTH = 100
INDENT = "  "

def expression_text(expr: Any) -> str:
    """An expression on one line, as the formatter writes it."""
    return _Printer("", []).expr(expr, 0, flat=True)


def format_module(module: n.Module, text: str, printed: PrintedDeclarations | None = None
                  ) -> str:
    return _Printer(text, module.comments, printed).module(module)


class PrintedDeclarations:
    """The lines each top-level declaration was printed as, by its source text, to print
    the same text again without walking it (the language server formats a file again and
    again, with one declaration changed). A declaration's lines depend only on its text
    (from its start to the end of its last line, which holds its trailing comment): its
    entries, the comments and the blank lines in it. Kept: what the last file used."""

    def __init__(self) -> None:
        self._last: dict[str, tuple[list[str], int]] = {}
        self._now: dict[str, tuple[list[str], int]] = {}

    def start(self) -> None:
        self._last, self._now = {**self._last, **self._now}, {}

    def finish(self) -> None:
        self._last, self._now = self._now, {}

    def get(self, source: str) -> tuple[list[str], int] | None:
        found = self._now.get(source) or self._last.get(source)
        if found is not None:
            self._now[source] = found
        return found

    def put(self, source: str, lines: list[str], comments: int) -> None:
        self._now[source] = (lines, comments)


class _Printer:
    def __init__(self, text: str, comments: list[Token],
                 printed: PrintedDeclarations | None = None) -> None:
        self.text = text
        self.comments = sorted(comments, key=lambda c: c.start_pos or 0)
        self.next_comment = 0
        self.lines: list[str] = []
        self.last_end: int | None = None  # source offset where the last thing written ended
        self.printed = printed

    # ---- comments -----------------------------------------------------

    def _pending(self) -> Token | None:
        if self.next_comment < len(self.comments):
            return self.comments[self.next_comment]
        return None

    def _flush_before(self, position: int, indent: str) -> None:
        comment = self._pending()
        flushed = False
        while comment is not None and (comment.start_pos or 0) < position:
            self._keep_blank_line(comment.start_pos or 0)
            self._comment_lines(comment, indent)
            self.last_end = comment.end_pos
            self.next_comment += 1
            flushed = True
            comment = self._pending()
        if flushed and position <= len(self.text):
            self._keep_blank_line(position)

    def _keep_blank_line(self, position: int) -> None:
        """A blank line in the source between what was written last and `position` stays."""
        if self.lines and self.lines[-1] and not self.lines[-1].endswith("{") \
                and self.last_end is not None and self._blank_between(self.last_end, position):
            self.lines.append("")

    def _comment_lines(self, comment: Token, indent: str) -> None:
        first, *rest = str(comment).rstrip().split("\n")
        self.lines.append(indent + first.strip())
        self.lines.extend(rest)  # a block comment's inner lines stay as written

    def _trailing(self, line: int, before: int | None = None) -> str:
        """A comment that starts on `line` (and before `before`), to end the line just written."""
        comment = self._pending()
        if comment is None or comment.line != line or "\n" in str(comment):
            return ""
        if before is not None and (comment.start_pos or 0) >= before:
            return ""
        self.next_comment += 1
        return "  " + str(comment).rstrip()

    def _blank_between(self, end: int, start: int) -> bool:
        return bool(re.search(r"\n[ \t\r]*\n", self.text[end:start]))

    # ---- declarations and entries ---------------------------------------

    def module(self, module: n.Module) -> str:
        previous: Any = None
        decls = module.decls
        if self.printed is not None:
            self.printed.start()
        for index, decl in enumerate(decls):
            if previous is not None and self._separate(previous, decl):
                self.lines.append("")
            self._flush_before(decl.span.start, "")
            following = decls[index + 1].span.start if index + 1 < len(decls) else None
            self._declaration(decl, following)
            previous = decl
        if self.printed is not None:
            self.printed.finish()
        self._flush_before(len(self.text) + 1, "")
        while self.lines and not self.lines[-1]:
            self.lines.pop()
        return "\n".join(self.lines) + "\n" if self.lines else ""

    def _declaration(self, decl: Any, following: int | None) -> None:
        """A top-level declaration, printed again from `printed` when its text was printed
        before (and nothing else starts on its last line, whose comment it may take)."""
        line_end = self.text.find("\n", decl.span.end)
        line_end = len(self.text) if line_end < 0 else line_end
        if self.printed is None or (following is not None and following <= line_end):
            self._entry(decl, "", following)
            return
        source = self.text[decl.span.start:line_end]
        known = self.printed.get(source)
        if known is not None:
            self.lines.extend(known[0])
            self.next_comment += known[1]
            self.last_end = decl.span.end
            return
        lines, comments = len(self.lines), self.next_comment
        self._entry(decl, "", following)
        self.printed.put(source, self.lines[lines:], self.next_comment - comments)

    def _separate(self, previous: Any, decl: Any) -> bool:
        grouped = (n.ImportDecl, n.ConstDecl)
        if type(previous) is type(decl) and isinstance(decl, grouped):
            return self._blank_between(previous.span.end, decl.span.start)
        return True

    def _entry(self, entry: Any, indent: str, next_start: int | None = None) -> None:
        if isinstance(entry, n.Block):
            self._block(entry, indent, next_start)
            return
        text = indent + self._entry_text(entry, indent)
        first, *rest = text.split("\n")
        if rest:
            self.lines.append(first)
            self.lines.extend(rest)
        else:
            self.lines.append(first)
        self.lines[-1] += self._trailing(entry.span.end_line, next_start)
        self.last_end = entry.span.end

    def _entry_text(self, entry: Any, indent: str) -> str:
        if isinstance(entry, n.ImportDecl):
            alias = f" as {entry.alias.name}" if entry.alias else ""
            return f"import {entry.path.raw}{alias}"
        if isinstance(entry, n.ConstDecl):
            return f"const {entry.name.name} = {self.expr(entry.value, len(indent) + 9, indent)}"
        if isinstance(entry, n.Attribute):
            head = f"{entry.name.name} = "
            return head + self.expr(entry.value, len(indent) + len(head), indent)
        if isinstance(entry, n.Require):
            return "require " + self.expr(entry.condition, len(indent) + 8, indent)
        if isinstance(entry, n.Prefer):
            return (f"prefer {self.expr(entry.condition, len(indent) + 7, indent)} "
                    f"weight {self.expr(entry.weight, 0, indent)}")
        if isinstance(entry, n.Use):
            return f"use {entry.target.dotted}"
        if isinstance(entry, n.Affinity):
            return f"{entry.kind} {entry.target.dotted} on {_topology(entry.topology)}"
        if isinstance(entry, n.Spread):
            least = "" if entry.min_domains is None else \
                f" min_domains {self.expr(entry.min_domains, 0, indent)}"
            return (f"spread {_topology(entry.topology)} max_skew "
                    f"{self.expr(entry.max_skew, 0, indent)}{least}")
        raise TypeError(f"cannot print {type(entry).__name__}")

    def _block(self, block: n.Block, indent: str, next_start: int | None = None) -> None:
        name = f" {block.name.name}" if block.name else ""
        header = f"{indent}{block.kind.name}{name} {{"
        entries = block.entries
        if not entries and not self._comment_inside(block):
            self.lines.append(header + "}" + self._trailing(block.span.end_line, next_start))
            self.last_end = block.span.end
            return
        first_start = entries[0].span.start if entries else block.span.end
        self.lines.append(header + self._trailing(block.span.line, first_start))
        self.last_end = None  # nothing blank right after an opening brace
        inner = indent + INDENT
        previous: Any = None
        for index, entry in enumerate(entries):
            if previous is not None and self._blank_between(previous.span.end, entry.span.start):
                self.lines.append("")
            self._flush_before(entry.span.start, inner)
            following = entries[index + 1].span.start if index + 1 < len(entries) else block.span.end
            self._entry(entry, inner, following)
            previous = entry
        self._flush_before(block.span.end - 1, inner)
        if self.lines and not self.lines[-1]:
            self.lines.pop()  # no blank line before a closing brace
        self.lines.append(indent + "}" + self._trailing(block.span.end_line, next_start))
        self.last_end = block.span.end

    def _comment_inside(self, block: n.Block) -> bool:
        comment = self._pending()
        return comment is not None and (comment.start_pos or 0) < block.span.end

    # ---- expressions ----------------------------------------------------

    def expr(self, expr: Any, column: int, indent: str = "", flat: bool = False,
             parent: int = 0) -> str:
        if isinstance(expr, n.Number):
            return expr.text
        if isinstance(expr, n.Quantity):
            # a unit that is a word (`3.5 USD/h`, `40 gCO2e/kWh`) stands apart; a symbol does not
            space = " " if expr.unit.startswith(("USD", "gCO2e", "kgCO2e", "tCO2e")) else ""
            return f"{expr.text}{space}{expr.unit}"
        if isinstance(expr, n.String):
            return expr.raw
        if isinstance(expr, n.Boolean):
            return "true" if expr.value else "false"
        if isinstance(expr, n.Name):
            return expr.ident.name
        if isinstance(expr, n.Paren):
            return "(" + self.expr(expr.expr, column + 1, indent, flat) + ")"
        if isinstance(expr, n.Binary):
            left = self.expr(expr.left, column, indent, flat)
            right = self.expr(expr.right, column, indent, flat)
            return f"{left} {expr.op} {right}"
        if isinstance(expr, n.Unary):
            operand = self.expr(expr.operand, column, indent, flat)
            return f"not {operand}" if expr.op == "not" else f"{expr.op}{operand}"
        if isinstance(expr, n.Member):
            return f"{self.expr(expr.target, column, indent, flat)}.{expr.attr.name}"
        if isinstance(expr, n.Index):
            target = self.expr(expr.target, column, indent, flat)
            return f"{target}[{self.expr(expr.key, column, indent, flat)}]"
        if isinstance(expr, n.Call):
            args = ", ".join(self.expr(a, column, indent, True) for a in expr.args)
            return f"{expr.func.name}({args})"
        if isinstance(expr, n.List):
            items = [self.expr(i, column, indent + INDENT, flat) for i in expr.items]
            return self._collection("[", "]", items, column, indent, flat)
        if isinstance(expr, n.Map):
            items = [f"{_key(p)}: {self.expr(p.value, column, indent + INDENT, flat)}"
                     for p in expr.pairs]
            return self._collection("{", "}", items, column, indent, flat, padded=True)
        raise TypeError(f"cannot print {type(expr).__name__}")

    def _collection(self, opening: str, closing: str, items: list[str], column: int,
                    indent: str, flat: bool, padded: bool = False) -> str:
        if not items:
            return opening + closing
        pad = " " if padded else ""
        one_line = f"{opening}{pad}{', '.join(items)}{pad}{closing}"
        if flat or ("\n" not in one_line and column + len(one_line) <= MAX_WIDTH):
            return one_line
        inner = indent + INDENT
        body = "".join(f"\n{inner}{item}," for item in items)
        return f"{opening}{body}\n{indent}{closing}"


def _key(pair: n.Pair) -> str:
    return pair.key.name if isinstance(pair.key, n.Ident) else pair.key.raw


def _topology(topology: n.Topology) -> str:
    return topology.key.name if isinstance(topology.key, n.Ident) else topology.key.raw
