"""Completion: what may be typed at the cursor.

The text before the cursor is read with a small scanner (the declaration being typed is
usually not parseable yet): which blocks are open around the cursor, and what the current
statement says so far. Names come from the last check of the file (`Analysis`), which still
has every intact declaration, and from the standard library.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from lsprotocol import types

from fitlang.check import schema as s
from fitlang.check import types as t
from fitlang.check.loader import SourceModule
from fitlang.lsp.analysis import Analysis
from fitlang.resources import stdlib_dir
from fitlang.syntax.parser import parse_source

K = types.CompletionItemKind
# What completion and hover swallow (a half-typed file fails to evaluate on most keystrokes)
# is logged at debug level: visible when asked for, not in every editor's log each keystroke.
log = logging.getLogger(__name__)

# Not the grammar's tokens (`fitlang.syntax.lexer.scan`): the text before the cursor is
# unfinished by nature, and what completion must recognise there is an unfinished token (a
# string or a block comment still open at the cursor, which no terminal of the grammar
# matches), besides the lines and indents the grammar ignores.
_TOKEN = re.compile(r'''
    (?P<string>"[^"\\\n]*(?:\\.[^"\\\n]*)*"?)
  | (?P<comment>(?:\#|//)[^\n]*)
  | (?P<block>/\*[\s\S]*?(?:\*/|$))
  | (?P<number>(?:\d+(?:\.\d+)?|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op>==|!=|<=|>=|[<>+\-*/=:,.;\[\](){}])
  | (?P<newline>\n)
  | (?P<space>[ \t\r\f\ufeff]+)
  | (?P<other>.)
''', re.VERBOSE)

_OPERATORS = {"==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "=", ",", "and", "or",
              "not", "in", ":", "(", "["}
_COMPARISONS = {"==", "!=", "<", "<=", ">", ">=", "in"}
TOP_KEYWORDS = ("import", "const")
STATEMENTS = {"require": "require CONDITION", "prefer": "prefer CONDITION weight N",
              "use": "use PROFILE", "affinity": "affinity WORKLOAD on TOPOLOGY",
              "anti_affinity": "anti_affinity WORKLOAD on TOPOLOGY",
              "spread": "spread TOPOLOGY max_skew N"}
_UNIT_DIMENSIONS = {unit: dim for unit, (dim, _) in t.UNITS.items()}


@dataclass
class _Frame:
    kind: str | None  # the block kind; None at top level
    statement: list[str] = field(default_factory=list)  # tokens of the statement being typed
    indent: int = 0  # the column the statement starts at
    brackets: list[str] = field(default_factory=list)  # `[`, `(` and map `{` open in it
    seen: set[str] = field(default_factory=set)  # attributes and blocks already in the block


@dataclass
class Context:
    frames: list[_Frame]
    partial: str  # the part of a word before the cursor
    partial_start: int  # its offset
    in_string: bool = False
    in_comment: bool = False
    after_number: bool = False  # the word is a unit being typed after a number
    qualifier: str | None = None  # `x.` before the word
    truncated: bool = False  # the declaration is too long to read back to its start

    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    @property
    def kinds(self) -> list[str]:
        return [f.kind for f in self.frames[1:] if f.kind is not None]


# How far back completion reads: the declaration around the cursor, but never more than
# these many lines or characters (a declaration is rarely longer), so that a completion
# costs the same in a 100-line file and behind a 2 MB string.
WINDOW_LINES = 300
WINDOW_CHARS = 64_000
WORD_LIMIT = 256  # the longest partial word looked at: a longer run is no name being typed
_CONTINUATIONS = ("and", "or", "not", "in", "as")  # may start a line inside a declaration


def window_start(text: str, offset: int) -> int | None:
    """Where the top-level declaration around `offset` starts (a line that starts with a
    letter, as the parser's recovery and the incremental parse cut a file), or None when it
    is further back than the bounds above."""
    floor = max(0, offset - WINDOW_CHARS)
    line_start = text.rfind("\n", 0, offset) + 1
    for _ in range(WINDOW_LINES):
        if _starts_declaration(text, line_start) or line_start == 0:
            return line_start if line_start >= floor else None
        if line_start <= floor:
            return None
        line_start = text.rfind("\n", 0, line_start - 1) + 1
    return None


def _starts_declaration(text: str, line_start: int) -> bool:
    first = text[line_start:line_start + 1]
    if not (first.isascii() and (first.isalpha() or first == "_")):
        return False
    word = re.match(r"[A-Za-z_][A-Za-z0-9_]*", text[line_start:line_start + WORD_LIMIT])
    return word is None or word.group() not in _CONTINUATIONS


def context(text: str, offset: int) -> Context:
    found = window_start(text, offset)
    truncated = found is None
    # truncated: no context to go on, only the partial word, for the replaced range
    start = max(0, offset - WORD_LIMIT) if found is None else found
    before = text[start:offset]
    frames, in_string, in_comment = _scanned("" if truncated else before)
    context = Context(frames, "", offset, truncated=truncated)
    context.in_string, context.in_comment = in_string, in_comment
    _read_partial(context, before, start)
    return context


def _scanned(before: str) -> tuple[list[_Frame], bool, bool]:
    """The blocks open at the end of `before` (each with its statement so far), and whether
    the end is inside a string or a comment."""
    frames = [_Frame(None)]
    in_string = in_comment = False
    line_begin, first_on_line = 0, True
    for match in _TOKEN.finditer(before):
        kind = match.lastgroup
        value = match.group()
        frame = frames[-1]
        if kind == "space":
            continue
        if kind == "newline":
            line_begin, first_on_line = match.end(), True
        elif first_on_line:
            first_on_line = False
            column = match.start() - line_begin
            # a statement left unfinished (`replicas =`) ends where a line starts no further
            # right than it did
            if frame.statement and not frame.brackets and column <= frame.indent:
                frame.statement = []
            if not frame.statement:
                frame.indent = column
        if kind in ("comment", "block"):
            in_comment = match.end() == len(before) and (kind == "comment" or not value.endswith("*/"))
            continue
        in_comment = False
        if kind == "newline":
            if not frame.brackets and (not frame.statement or frame.statement[-1] not in _OPERATORS):
                frame.statement = []
            continue
        if kind == "string":
            in_string = match.end() == len(before) and (len(value) == 1 or not value.endswith('"')
                                                        or value.endswith('\\"'))
        if value == "{":
            if frame.statement and frame.statement[-1] not in ("=", ":", ",", "[", "(") \
                    and frame.statement[0] not in ("const",) and not frame.brackets:
                block = _Frame(frame.statement[0])
                frame.seen.add(frame.statement[0])
                frame.statement = []
                frames.append(block)
            else:
                frame.brackets.append("{")
                frame.statement.append("{")
            continue
        if value in ("[", "("):
            frame.brackets.append(value)
            frame.statement.append(value)
            continue
        if value in ("]", ")") or (value == "}" and frame.brackets):
            if frame.brackets:
                frame.brackets.pop()
            frame.statement.append(value)
            continue
        if value == "}":
            if len(frames) > 1:
                frames.pop()
                frames[-1].statement = []
            continue
        if value == ";" and not frame.brackets:
            frame.statement = []
            continue
        if not frame.statement and kind == "word":
            frame.seen.add(value)
            frame.indent = match.start() - line_begin
        frame.statement.append(value)
    return frames, in_string, in_comment


def _read_partial(context: Context, before: str, start: int) -> None:
    """The word being typed at the end of `before` (which starts at `start`), a number just
    before it, and the name it is qualified by (`name.`)."""
    # the searches below are anchored at the end: on a bounded tail, so that a long run of
    # name characters before the cursor costs nothing
    tail_start = max(0, len(before) - WORD_LIMIT)
    word = re.search(r"[A-Za-z_][A-Za-z0-9_]*\Z", before[tail_start:])
    frame = context.frames[-1]
    partial_at = len(before)
    if word is not None and not context.in_string and not context.in_comment:
        partial_at = tail_start + word.start()
        context.partial, context.partial_start = word.group(), start + partial_at
        if frame.statement and frame.statement[-1] == word.group():
            frame.statement.pop()
            if not frame.statement and word.group() in frame.seen:
                frame.seen.discard(word.group())
    head = before[max(0, partial_at - WORD_LIMIT): partial_at]
    if re.search(r"\d[ \t]?\Z", head) and not re.search(r"[A-Za-z_]\w*\Z", head.rstrip()):
        context.after_number = True
    qualified = re.search(r"([A-Za-z_][A-Za-z0-9_]*)\s*\.\Z", head)
    if qualified is not None:
        context.qualifier = qualified.group(1)
        if frame.statement[-2:] == [qualified.group(1), "."]:
            del frame.statement[-2:]


# ---- items --------------------------------------------------------------------


@dataclass
class Completer:
    analysis: Analysis | None
    module: SourceModule | None
    text: str
    offset: int
    # the last check of the file that parsed whole: names of declarations that are being
    # edited (and so dropped by the parser's recovery) come from it
    parsed_whole: Analysis | None = None

    @cached_property
    def ctx(self) -> Context:
        return context(self.text, self.offset)

    def replace_from(self) -> int:
        """Where the text the items replace starts: the partial word, or in a string its
        contents so far."""
        if self.ctx.in_string:
            return self.text.rfind('"', 0, self.offset) + 1
        return self.ctx.partial_start

    def items(self) -> list[types.CompletionItem]:
        ctx = self.ctx
        if ctx.in_comment or ctx.truncated:
            return []
        if ctx.in_string:
            statement = ctx.frame.statement
            return self._modules() if statement[:1] == ["import"] and len(statement) <= 2 else []
        if ctx.after_number:
            return self._units(ctx)
        frame = ctx.frame
        statement = frame.statement
        schema = _schema(ctx.kinds)
        if ctx.qualifier is not None:
            return self._qualified(ctx, schema)
        if not statement:
            if len(ctx.frames) == 1:
                return self._top_level()
            if frame.brackets:
                return []
            return self._block_entries(schema, frame.seen)
        head = statement[0]
        if len(ctx.frames) == 1:
            if head == "const" and len(statement) >= 3:
                return self._values(t.ANY)
            return []
        if schema is None:
            return []
        if head in ("require", "prefer") and head in schema.statements:
            return self._condition(ctx, statement[1:], head == "prefer")
        if head == "use" and len(statement) == 1:
            return self._names("profile", K.Interface)
        if head in ("affinity", "anti_affinity"):
            if len(statement) == 1:
                extra = [_item("self", K.Keyword, "the workload's own replicas")] \
                    if head == "anti_affinity" else []
                return extra + self._names("workload", K.Function)
            if len(statement) == 2:
                return [_item("on", K.Keyword)]
            if len(statement) == 3 and statement[2] == "on":
                return _topologies()
            return []
        if head == "spread":
            if len(statement) == 1:
                return _topologies()
            if len(statement) == 2:
                return [_item("max_skew", K.Keyword)]
            return []
        if len(statement) >= 2 and statement[1] == "=" and head in schema.attrs:
            expected = schema.attrs[head].type
            if head == "objective":
                expected = t.list_of(t.OBJECTIVE)
            if statement[-1] in _OPERATORS or statement[-1] == "{":
                return self._values(expected)
        return []

    # ---- the parts --------------------------------------------------------

    def _top_level(self) -> list[types.CompletionItem]:
        items = [_item(word, K.Keyword, f"{word} declaration") for word in TOP_KEYWORDS]
        for kind, schema in s.TOP_LEVEL.items():
            snippet = f"{kind} ${{1:name}} {{\n\t$0\n}}" if schema.naming != "none" \
                else f"{kind} {{\n\t$0\n}}"
            items.append(_item(kind, K.Module, schema.doc, snippet=snippet))
        return items

    def _block_entries(self, schema: s.BlockSchema | None, seen: set[str]
                       ) -> list[types.CompletionItem]:
        if schema is None:
            return []
        items = []
        for name, attr in schema.attrs.items():
            if name in seen:
                continue
            detail = attr.type.describe() + (" (required)" if attr.required else "")
            items.append(_item(name, K.Property, detail, attr.doc, insert=f"{name} = ",
                               sort="0" if attr.required else "1"))
        for name, inner in schema.blocks.items():
            if name not in seen:
                items.append(_item(name, K.Struct, inner.doc or f"`{name}` block",
                                   snippet=f"{name} {{\n\t$0\n}}", sort="2"))
        for statement in sorted(schema.statements | ({"anti_affinity"} if "affinity" in
                                                      schema.statements else set())):
            items.append(_item(statement, K.Keyword, STATEMENTS.get(statement, ""),
                               insert=f"{statement} ", sort="3"))
        return items

    def _condition(self, ctx: Context, expression: list[str], prefer: bool
                   ) -> list[types.CompletionItem]:
        subjects = s.ACCELERATOR_SCOPE if "gpu" in ctx.kinds else s.NODE_SCOPE
        if prefer and "weight" in expression:
            return self._values(t.NUMBER) if expression[-1] == "weight" else []
        if not expression or expression[-1] in _OPERATORS:
            if len(expression) >= 2 and expression[-1] in _COMPARISONS:
                subject = expression[-2]
                subject_type = subjects.get(subject)
                if len(expression) >= 4 and expression[-3] == "." and expression[-4] == "gpu":
                    subject_type = s.ACCELERATOR_SCOPE.get(subject)
                if subject_type is not None:
                    if expression[-1] == "in":
                        subject_type = t.list_of(subject_type)
                    return self._values(subject_type)
            items = [_item(name, K.Field, f"{'accelerator' if subjects is s.ACCELERATOR_SCOPE else 'node'}"
                           f" attribute: {kind.describe()}") for name, kind in subjects.items()]
            items.append(_item("not", K.Keyword))
            return items + self._consts(t.ANY)
        words = ["and", "or", "in", "not in"] + (["weight"] if prefer else [])
        return [_item(word, K.Keyword) for word in words]

    def _qualified(self, ctx: Context, schema: s.BlockSchema | None) -> list[types.CompletionItem]:
        qualifier = ctx.qualifier or ""
        statement = ctx.frame.statement
        if qualifier == "gpu" and statement[:1] in (["require"], ["prefer"]):
            return [_item(name, K.Field, f"accelerator attribute: {kind.describe()}")
                    for name, kind in s.ACCELERATOR_SCOPE.items()]
        scope = self._scope()
        if scope is None:
            return []
        inner = scope.alias(qualifier)
        if inner is not None:
            kind = "profile" if statement[:1] == ["use"] else \
                "workload" if statement[:1] in (["affinity"], ["anti_affinity"]) else None
            return [_symbol_item(name, sym.kind) for name, sym in inner.symbols.items()
                    if kind is None or sym.kind == kind]
        symbol = scope.lookup(qualifier)
        if symbol is not None and symbol.kind == "accelerator":
            return [_item(name, K.Field, kind.describe()) for name, kind in s.ACCELERATOR_SCOPE.items()
                    if name != "count"]
        return []

    def _values(self, expected: t.Type) -> list[types.CompletionItem]:
        element = expected.of if expected.kind == "list" and expected.of is not None else expected
        items: list[types.CompletionItem] = []
        if element.kind == "choice":
            items += [_item(choice, K.EnumMember, element.label or "choice")
                      for choice in element.choices]
        elif element.kind == "bool":
            items += [_item(word, K.Keyword) for word in ("true", "false")]
        elif element.kind == "ref":
            kind = element.ref
            items += self._names(kind, _KIND_ITEMS.get(kind, K.Reference))
            if kind == "pool":
                items += self._names("inventory", K.Struct)
            if kind in ("accelerator", "offer"):
                items += self._stdlib(kind)
            return items
        return items + self._consts(expected)

    def _consts(self, expected: t.Type) -> list[types.CompletionItem]:
        """Constants whose value fits where the cursor is (all of them where anything does)."""
        items = self._names("const", K.Constant)
        if expected.kind == "any" or self.analysis is None:
            return items
        scope = self._scope()
        fitting = []
        for item in items:
            symbol = scope.lookup(item.label) if scope is not None else None
            try:
                typed = self.analysis.checker.const_value(symbol) if symbol is not None else None
            except Exception:  # a constant typed half-way: offered without its type
                log.debug("the value of const %s could not be read", item.label, exc_info=True)
                typed = None
            if typed is not None and (expected.accepts(typed.type) or (
                    expected.kind == "list" and expected.of is not None
                    and expected.of.accepts(typed.type))):
                item.detail = f"const: {typed.type.describe()}"
                fitting.append(item)
        return fitting

    def _scope(self):
        if self.analysis is None or self.module is None:
            return None
        try:
            return self.analysis.scope(self.module)
        except Exception:  # a half-typed file: the names of the standard library only
            log.debug("the scope of %s could not be read", self.module.path, exc_info=True)
            return None

    def _names(self, kind: str, item_kind: types.CompletionItemKind) -> list[types.CompletionItem]:
        scope = self._scope()
        if scope is None:
            return []
        symbols = dict(scope.symbols)
        dropped = self.module.parsed.dropped_names if self.module is not None else set()
        if dropped and self.parsed_whole is not None:
            old = self.parsed_whole.module(self.parsed_whole.path)
            if old is not None:
                for name, symbol in self.parsed_whole.scope(old).own.items():
                    if name in dropped and name not in symbols:
                        symbols[name] = symbol
        items = []
        for name, symbol in symbols.items():
            if symbol.kind != kind:
                continue
            where = "" if symbol.module.resolved == getattr(self.module, "resolved", None) \
                else f" ({Path(symbol.module.path).name})"
            items.append(_item(name, item_kind, f"{kind}{where}"))
        return items

    def _stdlib(self, kind: str) -> list[types.CompletionItem]:
        """Standard-library names not in scope yet, with the import that brings them."""
        scope = self._scope()
        known = set(scope.symbols) if scope is not None else set()
        imported = {decl.path.value for decl in (self.module.decls if self.module else [])
                    if type(decl).__name__ == "ImportDecl"}
        items = []
        for module_name, names in stdlib_names().items():
            spec = f"std/{module_name}"
            for name, name_kind in names:
                if name_kind != kind or name in known:
                    continue
                item = _item(name, _KIND_ITEMS.get(kind, K.Reference), f"{kind} ({spec})",
                             sort="9")
                if spec not in imported:
                    item.additional_text_edits = [types.TextEdit(
                        range=types.Range(types.Position(0, 0), types.Position(0, 0)),
                        new_text=f'import "{spec}"\n')]
                    item.detail = f"{kind} (adds import \"{spec}\")"
                items.append(item)
        return items

    def _modules(self) -> list[types.CompletionItem]:
        items = [_item(f"std/{name}", K.Module, "standard library") for name in stdlib_names()]
        if self.module is not None:
            here = self.module.resolved.parent
            for path in sorted(here.glob("*.fit")):
                if path != self.module.resolved:
                    items.append(_item(f"./{path.name}", K.File, "file beside this one"))
        return items

    def _units(self, ctx: Context) -> list[types.CompletionItem]:
        dims = None
        statement = ctx.frame.statement
        schema = _schema(ctx.kinds)
        if schema is not None and len(statement) >= 2 and statement[1] == "=" \
                and statement[0] in schema.attrs:
            expected = schema.attrs[statement[0]].type
            if expected.kind == "number":
                dims = {expected.dim}
        items = []
        for unit, (dim, _factor) in t.UNITS.items():
            if dims is not None and dim not in dims:
                continue
            items.append(_item(unit, K.Unit, t.DIMENSION_NAMES[dim]))
        return items


def _schema(kinds: list[str]) -> s.BlockSchema | None:
    if not kinds:
        return None
    schema = s.TOP_LEVEL.get(kinds[0])
    for kind in kinds[1:]:
        if schema is None:
            return None
        schema = schema.blocks.get(kind)
    return schema


def _topologies() -> list[types.CompletionItem]:
    return [_item(name, K.EnumMember, "topology") for name in s.TOPOLOGIES]


_KIND_ITEMS = {"const": K.Constant, "accelerator": K.Class, "pool": K.Struct,
               "inventory": K.Struct, "offer": K.Value, "workload": K.Function,
               "profile": K.Interface, "buy": K.Event}


def _symbol_item(name: str, kind: str) -> types.CompletionItem:
    return _item(name, _KIND_ITEMS.get(kind, K.Reference), kind)


def _item(label: str, kind: types.CompletionItemKind, detail: str = "", doc: str = "",
          insert: str | None = None, snippet: str | None = None, sort: str = "5"
          ) -> types.CompletionItem:
    item = types.CompletionItem(label=label, kind=kind, detail=detail or None,
                                documentation=doc or None, sort_text=f"{sort}{label}")
    if snippet is not None:
        item.insert_text = snippet
        item.insert_text_format = types.InsertTextFormat.Snippet
    elif insert is not None:
        item.insert_text = insert
    return item


def stdlib_names() -> dict[str, list[tuple[str, str]]]:
    """Module name -> [(name, kind)] of what each stdlib file declares."""
    files = sorted(stdlib_dir().glob("*.fit"))
    return _stdlib_names(tuple((p, p.stat().st_mtime_ns) for p in files))


@functools.lru_cache(maxsize=1)  # a memo: the files and their modification times are the key
def _stdlib_names(files: tuple[tuple[Path, int], ...]) -> dict[str, list[tuple[str, str]]]:
    table: dict[str, list[tuple[str, str]]] = {}
    for path, _ in files:
        parsed = parse_source(path.read_bytes(), str(path))
        table[path.stem] = [(d.name.name, d.kind.name) for d in parsed.module.decls
                            if type(d).__name__ == "Block" and d.name is not None]
    return table


def apply_range(items: list[types.CompletionItem], replace: types.Range) -> list[types.CompletionItem]:
    """Make every item replace the partial word (so `80G` + `GiB` gives `80GiB`)."""
    for item in items:
        text = item.insert_text if item.insert_text is not None else item.label
        item.text_edit = types.TextEdit(range=replace, new_text=text)
        item.insert_text = None
        if item.filter_text is None:
            item.filter_text = item.label
    return items
