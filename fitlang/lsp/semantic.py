"""Semantic tokens: the colours of a `.fit` file for editors without the TextMate grammar
(Helix, Neovim without a Tree-sitter parser for fit).

A scan of the text with one regular expression (it needs no parse, so a half-typed file is
coloured too): comments, strings, numbers with their unit, operators, the language's
keywords, block kinds, the names declarations give (`pool h100 {`), attribute names
(`cpu = ...`) and every other name as a variable. Positions are in the code units agreed
at `initialize`; a block comment over several lines is one token per line.
"""

from __future__ import annotations

import re
from typing import cast

from lsprotocol import types

from fitlang.check import schema as s
from fitlang.lsp.positions import _units
from fitlang.syntax.parser import KNOWN_UNITS

TOKEN_TYPES = ["keyword", "type", "property", "variable", "number", "string", "comment",
               "operator"]
TOKEN_MODIFIERS = ["declaration"]
LEGEND = types.SemanticTokensLegend(token_types=TOKEN_TYPES, token_modifiers=TOKEN_MODIFIERS)
_TYPE = {name: index for index, name in enumerate(TOKEN_TYPES)}
_DECLARATION = 1  # the bit of the `declaration` modifier

# as the grammar's QUANTITY: blanks (no line break) may stand before any unit
_UNITS = "|".join("[ \t]*" + re.escape(unit) for unit in sorted(KNOWN_UNITS, key=len, reverse=True))
_SCAN = re.compile(r'''
    (?P<string>"[^"\\\n]*(?:\\.[^"\\\n]*)*"?)
  | (?P<comment>(?:\#|//)[^\n]*|/\*[\s\S]*?(?:\*/|\Z))
  | (?P<number>(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?(?:(?:UNITS)(?![A-Za-z0-9_]))?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<operator>==|!=|<=|>=|[<>+\-*/=])
  | (?P<open>\{)
  | (?P<newline>\n)
  | (?P<space>[ \t\r\f]+|.)
'''.replace("UNITS", _UNITS), re.VERBOSE)

_WORDS = {"import", "const", "as", "require", "prefer", "use", "affinity", "anti_affinity",
          "spread", "weight", "on", "max_skew", "and", "or", "not", "in", "true", "false", "self"}


def _block_kinds() -> set[str]:
    kinds = set(s.TOP_LEVEL)
    stack = list(s.TOP_LEVEL.values())
    while stack:
        schema = stack.pop()
        kinds |= set(schema.blocks)
        stack.extend(schema.blocks.values())
    return kinds


_KINDS = _block_kinds()


class _Encoder:
    """Tokens to the LSP's relative integers, in the agreed code units."""

    def __init__(self, text: str, encoding: str) -> None:
        self.text, self.encoding = text, encoding
        self.plain = text.isascii() or encoding == "utf-32"
        self.data: list[int] = []
        self.line = self.character = 0  # of the token before

    def add(self, line: int, line_start: int, start: int, end: int, kind: str,
            modifiers: int = 0) -> None:
        column, length = start - line_start, end - start
        if not self.plain:
            column = _units(self.text[line_start:start], self.encoding)
            length = _units(self.text[start:end], self.encoding)
        delta = line - self.line
        self.data.extend((delta, column - self.character if delta == 0 else column, length,
                          _TYPE[kind], modifiers))
        self.line, self.character = line, column


def semantic_tokens(text: str, encoding: str) -> list[int]:
    """The LSP encoding of the tokens of `text`: five integers per token, relative to the
    token before."""
    out = _Encoder(text, encoding)
    line = line_start = 0
    after_kind: str | None = None  # the block kind (or `const`) this word is the name of
    for match in _SCAN.finditer(text):
        # every alternative of `_SCAN` is a named group: `lastgroup` is never None
        group, start, end = cast(str, match.lastgroup), match.start(), match.end()
        if group == "newline":
            line, line_start, after_kind = line + 1, end, None
        elif group == "space":
            continue
        elif group == "open":
            after_kind = None
        elif group == "comment" and "\n" in match.group():
            for index, piece in enumerate(match.group().split("\n")):
                if index:
                    line, line_start = line + 1, start
                if piece:
                    out.add(line, line_start, start, start + len(piece), "comment")
                start += len(piece) + 1
        elif group != "word":
            out.add(line, line_start, start, end, group)
            after_kind = None
        else:
            word = match.group()
            kind, modifiers = _word_kind(text, word, end, after_kind)
            out.add(line, line_start, start, end, kind, modifiers)
            after_kind = word if kind == "keyword" and (word == "const" or (
                word in _KINDS and _followed_by_block(text, end))) else None
    return out.data


def _word_kind(text: str, word: str, end: int, after_kind: str | None) -> tuple[str, int]:
    if after_kind is not None:
        return "variable" if after_kind == "const" else "type", _DECLARATION
    if word in _KINDS and _followed_by_block(text, end):
        return "keyword", 0
    if word in _WORDS:
        return "keyword", 0
    if _followed_by(text, end, "="):
        return "property", 0
    return "variable", 0


def _followed_by(text: str, end: int, char: str) -> bool:
    rest = text[end:end + 64].lstrip(" \t")
    return rest.startswith(char) and not rest.startswith("==")


def _followed_by_block(text: str, end: int) -> bool:
    """`pool h100 {`, `policy {`, `gpu {`: a block kind, not an attribute named the same."""
    found = re.match(r"[ \t]*(?:[A-Za-z_][A-Za-z0-9_]*[ \t]*)?\{", text[end:end + 256])
    return found is not None
