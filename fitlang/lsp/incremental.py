"""Re-parsing only what changed, for the editor: a file is parsed declaration by declaration.

A file is cut before every line that starts a declaration in column 1 (the boundary the
parser's own recovery uses). Each piece is parsed alone with `parse_source` and cached by
its text; after an edit only the edited piece is parsed again, and the pieces after it are
moved (their spans shifted) to where they now stand.

Why the result equals a parse of the whole file: the grammar is a list of declarations, so
when every piece parses cleanly on its own, the file is those declarations in order and
the parser (LALR, deterministic) reads it the same way. No token can cross a cut (a cut
is at a line start that is a letter; strings and line comments end at a newline; a block
comment left open makes its piece fail). The only words that can continue a finished
declaration on the next line are `and`, `or`, `not`, `in` (a `const`'s expression) and
`as` (an `import`), so no cut is made before them. A piece that does not parse alone is
joined with the pieces after it (a block with lines in column 1 inside it), and if that
does not help either, the whole file is parsed as `fitc check` parses it, with recovery,
so that syntax errors are reported exactly as the command line reports them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from lark import UnexpectedEOF, UnexpectedInput, UnexpectedToken

from fitlang.check.loader import SourceModule, Workspace
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span
from fitlang.syntax.parser import ParseResult, parse_source, parse_whole

# A cut is a layout rule (a line that starts with a letter), not a token: finding it needs
# no lexing, and lexing the whole file on each keystroke would cost what the incremental
# parse saves (the lexer is half of a parse). The words are the grammar's continuations.
_CUT = re.compile(r"^(?!(?:and|or|not|in|as)(?![A-Za-z0-9_]))[A-Za-z_]", re.MULTILINE)
_JOIN_LIMIT = 4  # pieces a failing piece may be joined with before the whole file is parsed
_NOWHERE = Span(1, 1, 1, 1)  # the parser's span for an empty body: never moved


def pieces(text: str) -> list[tuple[int, int]]:
    """(start offset, start line) of each piece; the first starts at 0."""
    starts = [0]
    for match in _CUT.finditer(text):
        if match.start() > 0:
            starts.append(match.start())
    result = []
    line = 1
    previous = 0
    for start in starts:
        line += text.count("\n", previous, start)
        previous = start
        result.append((start, line))
    return result


@dataclass
class _Piece:
    decls: list
    comments: list
    line: int = 1  # where its nodes' spans currently say it is
    offset: int = 0
    spans: list | None = None  # each of its spans, once it moved

    def move_to(self, line: int, offset: int) -> None:
        lines, chars = line - self.line, offset - self.offset
        if lines == 0 and chars == 0:
            return
        if self.spans is None:
            self.spans = _span_fields(self.decls)
        _shift(self.spans, lines, chars)
        for token in self.comments:
            token.line += lines
            token.end_line += lines
            token.start_pos += chars
            token.end_pos += chars
        self.line, self.offset = line, offset


def _span_fields(decls: list) -> list[Span]:
    """Every span in `decls`, each once (two nodes may share one), without the parser's span
    for an empty body (which says nothing about where it is, so it never moves)."""
    found: dict[int, Span] = {}
    stack = list(decls)
    span_type, node_type = Span, n._Node
    while stack:
        node = stack.pop()
        for value in node.__dict__.values():
            kind = type(value)
            if kind is span_type:
                if value != _NOWHERE:
                    found[id(value)] = value
            elif kind is list:
                stack.extend(item for item in value if isinstance(item, node_type))
            elif isinstance(value, node_type):
                stack.append(value)
    return list(found.values())


def _shift(spans: list[Span], lines: int, chars: int) -> None:
    """Move spans in place: the span objects themselves change, so that whatever kept one
    (a diagnostic, a checked value's `Origin`, which the incremental check reuses) moves
    with its declaration. (Spans are frozen for everyone else: their slots are set here
    through the slots' own descriptors.)"""
    if lines:
        for span in spans:
            _set_line(span, span.line + lines)
            _set_end_line(span, span.end_line + lines)
    if chars:
        for span in spans:
            _set_start(span, span.start + chars)
            _set_end(span, span.end + chars)


_set_line, _set_end_line, _set_start, _set_end = (
    Span.__dict__[name].__set__ for name in ("line", "end_line", "start", "end"))


def _may_continue(error: UnexpectedInput | None, source: str) -> bool:
    """Whether a piece failed only because it goes on in the next one: a bracket left open
    (a block with lines in column 1 inside it) or a block comment."""
    return isinstance(error, UnexpectedEOF) or "/*" in source or (
        isinstance(error, UnexpectedToken) and error.token.type == "$END")


def _blank_before(text: str, start: int) -> str:
    """`text` with everything before `start` turned into spaces (newlines kept), so that
    the parse of the rest reports the positions of the whole text."""
    blank = "\n".join(" " * len(line) for line in text[:start].split("\n"))
    return blank + text[start:]


class ParseCache:
    """Parses of the files the editor shows, reusing every declaration that did not change."""

    def __init__(self) -> None:
        self._pieces: dict[str, dict[str, _Piece]] = {}  # path -> piece text -> piece
        self._files: dict[str, tuple[str, ParseResult]] = {}  # path -> (text, parse)
        self.full_parses = 0  # how often the whole file had to be parsed (for tests, benchmarks)
        # files on disk: path -> (modification time and size, text), read again when changed
        self.disk: dict[Path, tuple[tuple[int, int], str | bytes]] = {}

    def parse(self, text: str, path: str) -> ParseResult:
        last = self._files.get(path)
        if last is not None and last[0] == text:
            return last[1]
        result = self._parse(text, path)
        self._files[path] = (text, result)
        return result

    def _parse(self, text: str, path: str) -> ParseResult:
        if text.startswith("\ufeff"):
            self.full_parses += 1
            return parse_source(text, path)
        old = self._pieces.get(path, {})
        new: dict[str, _Piece] = {}
        # the parser's own recovery, each of its parses done piece by piece
        result = parse_source(text, path, lambda current: self._parse_pieces(current, old, new))
        self._pieces[path] = new
        return result

    def _parse_pieces(self, text: str, old: dict[str, _Piece], new: dict[str, _Piece]
                      ) -> tuple[list, list]:
        """What `parse_whole(text)` returns (or raises), from the pieces of `text`."""
        decls: list = []
        comments: list = []
        used: set[str] = set()
        bounds = pieces(text) + [(len(text), 0)]
        index = 0
        last = (0, 0, 0)  # where the last piece with declarations starts; what came before it
        while index < len(bounds) - 1:
            start, line = bounds[index]
            piece = None
            for joined in range(index + 1, min(index + 1 + _JOIN_LIMIT, len(bounds))):
                source = text[start:bounds[joined][0]]
                piece, error = self._piece(source, used, old, new)
                if n.depth_guard_tripped() is not None:
                    # nested too deeply: the whole parse says where, in the file's positions
                    n.reset_depth_guard()
                    self.full_parses += 1
                    return parse_whole(text)
                if piece is not None:
                    index = joined
                    break
                if not _may_continue(error, source):
                    break
            if piece is None:
                # The pieces before parse as declarations, so the whole parse reads the
                # rest as it would read it after one declaration (the parser's stack, which
                # the error messages depend on, is the same after one as after many): its
                # first error, or its declarations.
                self.full_parses += 1
                kept, decls_before, comments_before = last
                rest, rest_comments = parse_whole(_blank_before(text, kept))
                return decls[:decls_before] + rest, comments[:comments_before] + rest_comments
            if piece.decls:
                last = (start, len(decls), len(comments))
            piece.move_to(line, start)
            decls.extend(piece.decls)
            comments.extend(piece.comments)
        return decls, comments

    def _piece(self, source: str, used: set[str], old: dict[str, _Piece], new: dict[str, _Piece]
               ) -> tuple[_Piece | None, UnexpectedInput | None]:
        if source not in used:  # the same text twice in a file: two pieces
            piece = new.get(source) or old.pop(source, None)
            if piece is not None:
                used.add(source)
                new[source] = piece
                return piece, None
        try:
            decls, comments = parse_whole(source)
        except UnexpectedInput as error:
            return None, error
        piece = _Piece(decls, comments)
        if n.depth_guard_tripped() is not None:
            return None, None  # never kept: the whole parse fails on it as well
        used.add(source)
        new.setdefault(source, piece)
        return piece, None

    def forget(self, path: str) -> None:
        self._pieces.pop(path, None)
        self._files.pop(path, None)


@dataclass
class EditorWorkspace(Workspace):
    """A `Workspace` that reads open buffers from `overlay` and parses through a `ParseCache`.

    Only `_read` differs from `Workspace`: the same steps, with the cache's parse.
    """

    cache: ParseCache | None = None

    def _read(self, resolved: Path, shown: str) -> SourceModule:
        text: str | bytes
        if resolved in self.overlay:
            text = self.overlay[resolved]
        else:
            text = _disk_text(resolved, self.cache.disk if self.cache is not None else {})
        if self.cache is None or isinstance(text, bytes):
            parsed = parse_source(text, shown)  # bytes: not UTF-8, the parser says so (E0007)
            if isinstance(text, bytes):
                text = text.decode("utf-8", errors="replace")
        else:
            parsed = self.cache.parse(text, shown)
        module = SourceModule(shown, resolved, text, parsed)
        self.modules[resolved] = module
        self.diagnostics.extend(parsed.diagnostics)
        return module


def _disk_text(resolved: Path, known: dict[Path, tuple[tuple[int, int], str | bytes]]
               ) -> str | bytes:
    """A file's text as the CLI reads it (bytes when they are not UTF-8, so that the parser
    reports E0007), re-read only when its size or modification time changed since `known`."""
    stat = resolved.stat()
    key = (stat.st_mtime_ns, stat.st_size)
    cached = known.get(resolved)
    if cached is not None and cached[0] == key:
        return cached[1]
    data = resolved.read_bytes()
    value: str | bytes
    try:
        decoded = data.decode("utf-8")
        value = decoded[1:] if decoded.startswith("\ufeff") else decoded
    except UnicodeDecodeError:
        value = data
    known[resolved] = (key, value)
    return value
