"""Source text to `Module`: decoding, the LALR parse, syntax diagnostics and recovery.

Recovery: a syntax error drops the top-level declaration it occurs in (the
text from its first line to the next line that starts a declaration in
column 1) and the file is parsed again with that region blanked out, so that
positions stay exact and every broken declaration gets its own diagnostic,
while the rest of the file still parses (the language server relies on it).
"""

from __future__ import annotations

import gc
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache, lru_cache, partial
from typing import Any, cast

from lark import Lark, Token, UnexpectedCharacters, UnexpectedEOF, UnexpectedInput, UnexpectedToken, ast_utils
from lark.lexer import LexerState
from lark.parse_tree_builder import ChildFilterLALR, ChildFilterLALR_NoPlaceholders, ExpandSingleChild
from lark.parsers.lalr_analysis import Shift
from lark.tree import Tree
from lark.utils import TextSlice

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic, Fix, did_you_mean, hint
from fitlang.frozen import made_dataclass
from fitlang.resources import grammar_path
from fitlang.span import made_span
from fitlang.syntax import nodes
from fitlang.syntax.lexer import FastLexer, scan
from fitlang.syntax.nodes import Module, Span

MAX_SYNTAX_ERRORS = 50

KNOWN_UNITS = ("m", "Ki", "Mi", "Gi", "Ti", "Pi", "KiB", "MiB", "GiB", "TiB", "PiB", "K", "M", "G",
               "T", "P", "KB", "MB", "GB", "TB", "PB", "W", "kW", "MW", "ms", "s", "min", "h", "d",
               "USD/h", "USD/kWh", "USD", "gCO2e/kWh", "gCO2e", "kgCO2e", "tCO2e", "%")

_TERMINAL_WORDS = {
    "NAME": "a name", "NUMBER": "a number", "QUANTITY": "a quantity", "STRING": "a string",
    "COMPARE": "a comparison", "ADD_OP": "`+` or `-`", "MUL_OP": "`*` or `/`",
"NOT_IN": "`not in`", "$END": "end of file",
}


@dataclass
class ParseResult:
    module: Module
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # names of declarations dropped by recovery; the checker stays quiet about them
    dropped_names: set[str] = field(default_factory=set)


# Terminals that carry meaning and reach the AST; every other token (braces, `=`, keywords)
# only marks where a node starts or ends.
_MEANINGFUL = frozenset({"NAME", "NUMBER", "QUANTITY", "STRING", "COMPARE", "ADD_OP", "MUL_OP",
                         "OR", "AND", "NOT", "IN", "NOT_IN", "TRUE", "FALSE", "AFFINITY",
                         "ANTI_AFFINITY"})


_NOWHERE = Span(1, 1, 1, 1)


def _span_of(children: list) -> Span:
    if not children:
        return _NOWHERE  # an empty body; its block's span says where it is
    first = children[0]
    if first is None:
        first = next(c for c in children if c is not None)
    last = children[-1]
    if last is None:
        last = next(c for c in reversed(children) if c is not None)
    # lark types a token's positions optional; FastLexer always sets them (a hot path: no checks)
    line: int
    column: int
    start_pos: int
    if type(first) is Token:
        line, column, start_pos = first.line, first.column, first.start_pos  # type: ignore[assignment]
    else:
        start = first.span
        line, column, start_pos = start.line, start.column, start.start
    if type(last) is Token:
        return made_span(line, column, last.end_line, last.end_column,  # type: ignore[arg-type]
                         start_pos, last.end_pos)  # type: ignore[arg-type]
    end = last.span
    return made_span(line, column, end.end_line, end.end_column, start_pos, end.end)


def _builder(cls: type, as_list: bool):
    meaningful = _MEANINGFUL

    def build(children: list) -> object:
        span = _span_of(children)
        kept = [c for c in children if type(c) is not Token or c.type in meaningful]
        node = cls(span, kept) if as_list else cls(span, *kept)
        nodes.track_depth(node, kept)
        return node
    return build


def _token_span(token: Token) -> Span:
    return made_span(token.line, token.column, token.end_line, token.end_column,  # type: ignore[arg-type]
                     token.start_pos, token.end_pos)  # type: ignore[arg-type]


def _leaf_builders() -> dict[str, Callable[[list], object]]:
    """The nodes of one token (`ident: NAME`, `number: NUMBER`, ...; 110,000 of the 163,551
    nodes of a 50,000-node policy), made as their classes' `__init__` and `__post_init__` make
    them from the token, but with the fields set here: a node was five calls (the made
    `__init__`, two `__post_init__`s, the text, the depth) and the child filter. A leaf's
    depth is its class's (`nodes._Leaf`). tests/test_syntax.py compares them field by field
    with what the classes make."""
    new = object.__new__
    for cls in (nodes.Ident, nodes.Number, nodes.String, nodes.Quantity, nodes.Boolean, nodes.Name):
        made_dataclass(cls)  # its fields, `__eq__` and `__hash__`, which its first `__init__` makes

    def text_leaf(cls: type, field: str) -> Callable[[list], Any]:
        def build(children: list) -> object:
            token = children[0]
            node: Any = new(cls)
            node.span = _token_span(token)
            setattr(node, field, str(token))
            return node
        return build

    def quantity(children: list) -> object:
        token = children[0]
        node = new(nodes.Quantity)
        node.span = _token_span(token)
        node.text, node.unit = nodes.split_quantity(str(token))
        return node

    def boolean(children: list) -> object:
        token = children[0]
        node = new(nodes.Boolean)
        node.span = _token_span(token)
        node.value = str(token) == "true"
        return node

    ident = text_leaf(nodes.Ident, "name")

    def name(children: list) -> object:  # a name used as a value: its `Ident` has its span
        node, named = new(nodes.Name), ident(children)
        node.span = named.span
        node.ident = named
        return node

    return {"ident": ident, "number": text_leaf(nodes.Number, "text"),
            "string": text_leaf(nodes.String, "raw"), "quantity": quantity, "boolean": boolean,
            "name": name}


def _attribute_builder() -> Callable[[list], object]:
    """`attribute: ident "=" expr` (45,054 of the 273,571 nodes built for an inventory policy
    at 50,000 nodes), made as `_builder(nodes.Attribute, False)` makes it: the span from the
    name's start to the value's end, the two fields, the depth one more than the deeper of
    the two (`track_depth`, which trips the guard past `MAX_DEPTH`), without the child filter,
    the made `__init__` and `__post_init__`. tests/test_syntax.py compares the two."""
    new, cls, deepest = object.__new__, nodes.Attribute, nodes.MAX_DEPTH
    made_dataclass(cls)

    def attribute(children: list) -> object:
        name, _, value = children
        node: Any = new(cls)
        start, end = name.span, value.span
        node.span = made_span(start.line, start.column, end.end_line, end.end_column, start.start, end.end)
        node.name, node.value = name, value
        depth = value.depth + 1 if value.depth >= name.depth else name.depth + 1
        if depth > deepest:
            nodes.track_depth(node, [name, value])
        else:
            node.depth = depth
        return node
    return attribute


def _line_attribute(attribute: Callable[[list], object]) -> Callable[[Any, int, int, int], object]:
    """The `Attribute` of a lexer's `ATTRIBUTE` token (`key = value` on one line, a literal
    its value: `lexer._attribute_line`), made as the parser makes it from its three tokens
    (`_leaf_builders`' leaves, then `attribute`), from the match's groups and where it
    starts: its tokens are not made. tests/test_syntax.py compares the two."""
    new, split = object.__new__, nodes.split_quantity
    ident_class, name_class, string_class = nodes.Ident, nodes.Name, nodes.String
    quantity_class, number_class = nodes.Quantity, nodes.Number

    def made(match: Any, line: int, column: int, start: int) -> object:
        key_end = match.end("key")
        key: Any = new(ident_class)
        key.span = made_span(line, column, line, column + key_end - start, start, key_end)
        key.name = match.group("key")
        value_start, value_end = match.span("value")
        value_column = column + value_start - start
        span = made_span(line, value_column, line, value_column + value_end - value_start,
                         value_start, value_end)
        text = match.group("value")
        value: Any
        if text[0] == '"':
            value = new(string_class)
            value.raw = text
        elif match.start("value_NAME") >= 0:
            named: Any = new(ident_class)
            named.span, named.name = span, text
            value = new(name_class)
            value.ident = named
        elif match.start("value_QUANTITY") >= 0:
            value = new(quantity_class)
            value.text, value.unit = split(text)
        else:
            value = new(number_class)
            value.text = text
        value.span = span
        return attribute([key, None, value])
    return made


_BINARY_PRECEDENCE = {"OR": 1, "AND": 2, "COMPARE": 4, "IN": 4, "NOT_IN": 4, "ADD_OP": 5,
                      "MUL_OP": 6}
_PREFIX_PRECEDENCE = {"NOT": 3, "ADD_OP": 7}


def _nest_expression(children: list) -> object:
    """Shunting-yard over `operand (op operand)*` with prefix operators; iterative, so
    100,000 operators nest without recursion (the depth guard then reports them)."""
    operands: list = []
    operators: list[tuple[int, bool, Token]] = []  # (precedence, is_prefix, token)

    def reduce() -> None:
        _, prefix, token = operators.pop()
        if prefix:
            operand = operands.pop()
            operands.append(nodes.Unary(_join(token, operand), token, operand))
        else:
            right, left = operands.pop(), operands.pop()
            operands.append(nodes.Binary(_join(left, right), left, token, right))

    expect_operand = True
    for child in children:
        if not isinstance(child, Token):
            operands.append(child)
            expect_operand = False
        elif expect_operand:
            operators.append((_PREFIX_PRECEDENCE[child.type], True, child))
        else:
            precedence = _BINARY_PRECEDENCE[child.type]
            while operators and operators[-1][0] >= precedence:
                reduce()
            operators.append((precedence, False, child))
            expect_operand = True
    while operators:
        reduce()
    return operands[0]


def _join(first: object, last: object) -> Span:
    return _span_of([first, last])


class _Builders:
    """Callbacks the parser runs at each reduction, building AST nodes directly.

    This is `lark.ast_utils.create_transformer`'s mapping (rule `import_decl` ->
    class `ImportDecl`), run inside the LALR parser instead of over a finished
    tree: no intermediate Tree, no second pass, no recursion, and spans computed
    from the first and last token of each rule (all tokens are kept for that).
    Measured on a 10,000-line policy: 1.58 s with Tree + propagate_positions +
    transform, against the figure in docs/performance.md with this.
    """

    def __init__(self) -> None:
        for name, cls in vars(nodes).items():
            if isinstance(cls, type) and issubclass(cls, ast_utils.Ast) and not name.startswith("_"):
                setattr(self, ast_utils.camel_to_snake(name),
                        _builder(cls, issubclass(cls, ast_utils.AsList)))
        for rule, build in _leaf_builders().items():
            setattr(self, rule, build)
        self.attribute = _attribute_builder()

    @staticmethod
    def expr(children: list) -> object:
        return _nest_expression(children)

    @staticmethod
    def start(children: list) -> list:
        return [c for c in children if not isinstance(c, Token)]


_comments = threading.local()


def _collect_comment(token: Token) -> None:
    _comments.items.append(token)


FastLexer.comment_sink = _collect_comment


@lru_cache(maxsize=1)
def _parser() -> Lark:
    return Lark(
        grammar_path().read_text(encoding="utf-8"),
        parser="lalr",
        lexer=FastLexer,
        cache=True,  # the analysed grammar, in the temp dir: a third of start-up time
        keep_all_tokens=True,
        maybe_placeholders=True,
        transformer=_Builders(),
    )


# One LALR parse of a text: its declarations and comments, or `UnexpectedInput` at the first
# syntax error. The language server passes one that reuses the declarations it parsed before.
WholeParse = Callable[[str], "tuple[list, list]"]


def parse_whole(text: str) -> tuple[list, list]:
    """One LALR parse of `text`, without recovery (raises `UnexpectedInput`)."""
    _comments.items = []
    decls = _tables().run(text)
    if decls is None:  # a syntax error: lark's own loop, for its exception and position
        _comments.items = []
        nodes.reset_depth_guard()
        decls = cast(list, _parser().parse(text))  # a list: the transformer's `start` makes it one
    return decls, list(_comments.items)


class _Tables:
    """lark's LALR loop (`ParserState.feed_token` over `LexerThread`) for a text that parses,
    run over the same parse table, lexer and callbacks with what lark does per token and not
    needed here taken out: a call per token, its interactive-parser bookkeeping and the
    checks of terminal callbacks (this grammar has none). 8% of a 10,000-line parse.
    At the first token the table refuses, `run` gives up (None) and `parse_whole` parses
    the text again with lark, whose exception says where and what was expected: the
    language server and the recovery see exactly what lark reports. tests/test_syntax.py
    compares the two on every example and on broken texts.

    The table is read in its own form (`steps`): a shift is the next state (an int), a
    reduction its rule's length, what builds its value (`_reduction`) and its left-hand
    side. lark keys each reduction's callback by its `Rule`, whose `__hash__` is Python
    code, and wraps the callbacks in its tree shaping, a call or two a reduction more
    (session 30: the two were 15% of a 10,000-line parse)."""

    def __init__(self, lark: Lark) -> None:
        frontend = lark.parser
        parser = frontend.parser.parser  # lark's `_Parser`: its table and callbacks
        self.table = parser.parse_table
        callbacks = parser.callbacks
        self.steps: dict[Any, dict[str, Any]] = {
            state: {kind: target if action is Shift else
                    (len(target.expansion), _reduction(target, callbacks[target]), target.origin.name)
                    for kind, (action, target) in row.items()}
            for state, row in self.table.states.items()}
        self.start = self.table.start_states["start"]
        self.end = self.table.end_states["start"]
        # lark wraps a lexer of `__future_interface__` 1 (a call a text): ours, unwrapped
        self.lexer: FastLexer = frontend.lexer.lexer
        assert not any(isinstance(key, str) for key in callbacks), "terminal callbacks"
        self.line_attribute = _line_attribute(cast(_Builders, lark.options.transformer).attribute)
        # per state: the state an `attribute` takes it to, where the table reads a lexer's
        # `ATTRIBUTE` token as its three (None: not there, its tokens are read one by one)
        self.attribute_states: dict[int, int | None] = {}

    def run(self, text: str) -> list | None:
        stack = [self.start]
        values: list = []
        steps = self.steps
        try:
            for token in self.lexer.lex(LexerState(TextSlice.cast_from(text)),
                                         _Position(self.table, stack), attributes=True):
                kind = token.type
                attribute = kind == "ATTRIBUTE"  # `key = value`: the reductions its NAME calls for
                if attribute:
                    kind = "NAME"
                while True:
                    step = steps[stack[-1]][kind]
                    if type(step) is int:  # a shift
                        if attribute:
                            self._attribute(token, stack, values)
                        else:
                            stack.append(step)
                            values.append(token)
                        break
                    size, build, origin = step  # a reduction (as `_reduce`, inline: the hot path)
                    if build is _SAME:
                        del stack[-1]
                    else:
                        if size:
                            children = values[-size:]
                            del stack[-size:]
                            del values[-size:]
                        else:
                            children = []
                        values.append(children if build is None else build(children))
                    stack.append(steps[stack[-1]][origin])
            while stack[-1] != self.end:
                step = steps[stack[-1]]["$END"]
                if type(step) is int:
                    return None
                self._reduce(step, stack, values)
        except (KeyError, UnexpectedInput):
            return None
        return cast(list, values[-1])

    def _attribute(self, token: Token, stack: list, values: list) -> None:
        """`key = value` (a lexer's `ATTRIBUTE`) where the table shifts its first token, a
        NAME: its `Attribute` on the stack as the reduction of its three tokens puts it there
        (which ends them: the lexer matched what cannot go on with the value), or, where the
        table does not read them so, its three tokens one by one."""
        state = stack[-1]
        if state not in self.attribute_states:
            self.attribute_states[state] = self._attribute_state(state)
        target = self.attribute_states[state]
        if target is None:
            for part in _attribute_tokens(token):
                self._feed(part, stack, values)
            return
        stack.append(target)
        # FastLexer sets an ATTRIBUTE token's line, column and start (lark types them optional)
        values.append(self.line_attribute(token.value, token.line, token.column,  # type: ignore[arg-type]
                                          token.start_pos))  # type: ignore[arg-type]

    def _attribute_state(self, state: int) -> int | None:
        """Where an attribute takes `state` if every `key = value` then an end (`}`, `;`, a
        name) is read there as one attribute by the table's own steps, else None."""
        target = self.steps[state].get("attribute")
        for kind in ("QUANTITY", "NUMBER", "STRING", "NAME"):
            for end in ("RBRACE", "SEMICOLON", "NAME"):
                if target is None or self._reduced_to(state, ["NAME", "EQUAL", kind, end]) != target:
                    return None
        return target

    def _reduced_to(self, state: int, kinds: list[str]) -> int | None:
        """The state above `state` once the table has read `kinds` to the last (which it only
        looks at) and reduced them to one symbol; None if it does not."""
        stack: list[int] = [state]
        for index, kind in enumerate(kinds):
            while True:
                step: Any = self.steps[stack[-1]].get(kind)
                if step is None:
                    return None
                if type(step) is int:
                    if index == len(kinds) - 1:
                        return None
                    stack.append(step)
                    break
                size = 1 if step[1] is _SAME else step[0]
                if size >= len(stack):
                    return None
                del stack[len(stack) - size:]
                stack.append(self.steps[stack[-1]][step[2]])
                if index == len(kinds) - 1 and len(stack) == 2:
                    return stack[-1]
        return None

    def _feed(self, token: Token, stack: list, values: list) -> None:
        """One token read, as `run`'s loop reads it."""
        while True:
            step = self.steps[stack[-1]][token.type]
            if type(step) is int:
                stack.append(step)
                values.append(token)
                return
            self._reduce(step, stack, values)

    def _reduce(self, step: tuple, stack: list, values: list) -> None:
        size, build, origin = step
        if build is _SAME:  # the value stays as it is: only the state changes
            del stack[-1]
        else:
            children = values[-size:] if size else []
            if size:
                del stack[-size:]
                del values[-size:]
            values.append(children if build is None else build(children))
        stack.append(self.steps[stack[-1]][origin])


def _attribute_tokens(token: Token) -> list[Token]:
    """The three tokens of a lexer's `ATTRIBUTE` token, as the lexer makes them."""
    match, line, column, start = token.value, token.line, token.column, token.start_pos
    text = match.string
    value_kind = next(kind for kind in ("QUANTITY", "NUMBER", "STRING", "NAME")
                      if match.start(f"value_{kind}") >= 0)
    key_end = match.end("key")
    equal = text.index("=", key_end)
    parts = [("NAME", start, key_end), ("EQUAL", equal, equal + 1), (value_kind, *match.span("value"))]
    return [Token(kind, text[begin:end], begin, line, column + begin - start, line,
                  column + end - start, end) for kind, begin, end in parts]


_SAME = object()  # a reduction of one symbol that lark's `?rule` passes through unchanged


def _reduction(rule: Any, callback: Any) -> Any:
    """What builds the value of a reduction by `rule`, as lark's `callback` does: `_SAME` (the
    only child is the value), None (the children's list is: an inlined `_rule`, whose
    children its parent takes in), or a function of the children. lark builds an inlined
    rule's value as a `Tree` its parent's child filter takes the children of; here it is the
    list itself, and a filter takes a list's items (a `Tree`'s children where one is left)."""
    if isinstance(callback, ExpandSingleChild) and len(rule.expansion) == 1:
        return _SAME
    return _shaped(callback, rule.origin.name.startswith("_"))


def _shaped(callback: Any, inlined: bool) -> Any:
    if isinstance(callback, partial) and callback.func is Tree and inlined:
        return None
    if type(callback) is ChildFilterLALR_NoPlaceholders:
        return _filter([(i, expand, 0) for i, expand in callback.to_include], 0,
                       _shaped(callback.node_builder, inlined))
    if type(callback) is ChildFilterLALR:
        return _filter(callback.to_include, callback.append_none, _shaped(callback.node_builder, inlined))
    if type(callback) is ExpandSingleChild:
        inner = _shaped(callback.node_builder, inlined)
        return lambda children: children[0] if len(children) == 1 else \
            (children if inner is None else inner(children))
    return callback


def _filter(include: list, append_none: int, build: Any) -> Any:
    """lark's child filter: the children kept (an inlined child's own children in its place,
    `None` where `maybe_placeholders` wants one), then `build` of them (None: the list)."""
    if not append_none and build is None:  # a list's left recursion: made without the loop
        shortcut = _LISTS.get(tuple(tuple(item) for item in include))
        if shortcut is not None:
            return shortcut
    def filtered(children: list) -> Any:
        kept: list = []
        for index, expand, nones in include:
            if nones:
                kept += [None] * nones
            child = children[index]
            if expand:
                items = child if type(child) is list else child.children
                if kept:
                    kept += items
                else:  # as lark's: a left recursion's list grows in place, never copied
                    kept = items
            else:
                kept.append(child)
        if append_none:
            kept += [None] * append_none
        return kept if build is None else build(kept)
    return filtered


def _items(child: Any) -> list:
    return child if type(child) is list else child.children


def _first(children: list) -> list:
    return _items(children[0])


def _grown(children: list) -> list:
    kept = _items(children[0])
    kept.append(children[1])
    return kept


def _joined(children: list) -> list:
    kept = _items(children[0])
    if kept:
        kept += _items(children[1])
        return kept
    return _items(children[1])


# `_filter` of the lists' left recursions (`_items: _items _item | _item`: 58,495 of the
# 273,571 reductions of an inventory policy at 50,000 nodes), each as the filter's loop makes
# it (the list so far grown in place), by what the filter includes: (child, expanded, Nones)
_LISTS: dict[tuple, Callable[[list], list]] = {
    ((0, True, 0),): _first, ((0, True, 0), (1, False, 0)): _grown,
    ((0, True, 0), (1, True, 0)): _joined}


class _Position:
    """What `FastLexer` reads of the parser's state: the table, and the state on top of the
    stack (whether a keyword is one here or a name)."""

    __slots__ = ("parse_conf", "stack")

    def __init__(self, table: Any, stack: list) -> None:
        self.parse_conf = _Conf(table)
        self.stack = stack

    @property
    def position(self) -> Any:
        return self.stack[-1]


class _Conf:
    __slots__ = ("parse_table",)

    def __init__(self, table: Any) -> None:
        self.parse_table = table


@lru_cache(maxsize=1)
def _tables() -> _Tables:
    return _Tables(_parser())


def parse_source(data: bytes | str, path: str, parse: WholeParse = parse_whole) -> ParseResult:
    """Parse a file's bytes (or text); never raises on bad input. `parse` must read a text
    exactly as `parse_whole` does (recovery calls it once per syntax error)."""
    text, problem = decode(data, path)
    if problem is not None:
        return ParseResult(Module(path), [problem])
    # A parse allocates tens of thousands of small objects and no garbage cycles; Python's
    # cyclic collector would walk every live object again and again meanwhile (measured: it
    # doubles the time of a 10,000-line parse), so it waits until the parse is done.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _parse_with_recovery(text, path, parse)
    finally:
        if was_enabled:
            gc.enable()


def decode(data: bytes | str, path: str) -> tuple[str, Diagnostic | None]:
    if isinstance(data, str):
        return data.lstrip("\ufeff"), None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8"), None
    except UnicodeDecodeError as error:
        before = data[: error.start]
        line = before.count(b"\n") + 1
        column = error.start - (before.rfind(b"\n") + 1) + 1
        span = Span(line, column, line, column + 1, error.start, error.start + 1)
        detail = f"invalid UTF-8 byte 0x{data[error.start]:02x}; fit files are UTF-8 text"
        return "", msg.InvalidEncoding(detail=detail).diagnostic(path, span)


def _parse_with_recovery(text: str, path: str, parse: WholeParse) -> ParseResult:
    result = ParseResult(Module(path))
    current = text
    while True:
        nodes.reset_depth_guard()
        try:
            decls, comments = parse(current)
        except UnexpectedInput as error:
            if len(result.diagnostics) >= MAX_SYNTAX_ERRORS:
                span = _span_at(text, len(text))
                result.diagnostics.append(msg.TooManyErrors(count=MAX_SYNTAX_ERRORS).diagnostic(path, span))
                return result
            diagnostic, position = _describe(error, current, path)
            result.diagnostics.append(diagnostic)
            start, end = _declaration_region(current, position)
            result.dropped_names.update(_declared_name(current[start:end]))
            current = _blank(current, start, end)
            continue
        too_deep = nodes.depth_guard_tripped()
        if too_deep is not None:
            return ParseResult(
                Module(path), [msg.NestingTooDeep(limit=nodes.MAX_DEPTH).diagnostic(path, too_deep)]
            )
        result.module = Module(path, decls, comments)
        return result


# ---- describing errors --------------------------------------------------

_MISSING_EQUALS_EXAMPLES = {
    "missing-equals": [
        "pool p { cpu 4 }",
        "pool p { cpu: 4 }",
        'workload w { image "x" }',
        "workload w { gpu { count 8 } }",
        "workload w { replicas 2 }",
        "pool p { x = 1 cpu 4 }",
        "pool p { x = 1 cpu: 4 }",
        'pool p { x = 1 zone "a" }',
        "pool p { x = [1] cpu 4 }",
        'pool p { x = "a" cpu 4 }',
        "pool p { x = a cpu 4 }",
        "pool p { x = a.b cpu 4 }",
        "pool p { x = (1) cpu 4 }",
        "pool p { x = 1GiB cpu 4 }",
        "pool p { x = true cpu 4 }",
        "pool p { x = {} cpu 4 }",
        "pool p { g { } cpu 4 }",
        "pool p { require a cpu 4 }",
        "pool p { use a cpu 4 }",
        "pool p { spread zone max_skew 1 cpu 4 }",
        "pool p { affinity a on node cpu 4 }",
        "pool p { prefer a weight 1 cpu 4 }",
    ],
}


def _describe(error: UnexpectedInput, text: str, path: str) -> tuple[Diagnostic, int]:
    if isinstance(error, UnexpectedCharacters):
        return _describe_characters(error, text, path), error.pos_in_stream or 0
    if isinstance(error, UnexpectedEOF) or (
            isinstance(error, UnexpectedToken) and error.token.type == "$END"):
        opener = _unclosed_bracket(text)
        position = opener if opener is not None else len(text)
        span = _span_at(text, position)
        detail = (f"`{text[opener]}` opened here is never closed" if opener is not None
                  else "the file ends in the middle of a declaration")
        return msg.UnexpectedEnd(detail=detail).diagnostic(path, span), position
    assert isinstance(error, UnexpectedToken)
    token = error.token
    position = token.start_pos or 0
    span = Span.of(token)
    if token.type in ("RBRACE", "RSQB", "RPAR") and _depth_before(text, position) == 0:
        return msg.UnbalancedBrace(char=str(token)).diagnostic(path, span), position
    compared = token.type == "COMPARE" and "EQUAL" in (error.accepts or set())
    if compared:  # `memory >= 40GB` in a block: a condition meant, which a `require` line states
        return _condition_without_require(text, position, token, path, span), position
    if _is_quoted_block_name(error, text):  # `buy "eu-cloud" {`: a name meant
        return _quoted_block_name(text, token, path, span), position
    if _matches_missing_equals(error):
        previous = _previous_word(text, position)
        return msg.MissingEquals(name=previous).diagnostic(path, span), position
    expected = _expected_words(error.accepts or error.expected or set())
    found = _found_word(token)
    return msg.UnexpectedToken(found=found, expected=expected).diagnostic(path, span), position


def _condition_without_require(text: str, position: int, token: Token, path: str,
                               span: Span) -> Diagnostic:
    """E0005 for `NAME >= VALUE` where an attribute is set, with the fix that makes it the
    condition it reads as: `require` put before the name."""
    previous = _previous_word(text, position)
    start = text.rfind(previous, 0, position)
    condition = f"; a condition is written `require {previous} {token} ...`"
    fix = Fix(f"Write a condition: `require {previous} {token} ...`",
              _span_between(text, start, start), "require ")
    return msg.MissingEquals(name=previous, condition=condition).diagnostic(path, span, fixes=[fix])


def _is_quoted_block_name(error: UnexpectedToken, text: str) -> bool:
    """A string where a block's name may stand (after its kind, where `{` may come too),
    followed by the block's `{`."""
    accepts = error.accepts or set()
    token = error.token
    if token.type != "STRING" or "NAME" not in accepts or "LBRACE" not in accepts:
        return False
    return text[token.end_pos:].lstrip(" \t\r\n").startswith("{")


def _quoted_block_name(text: str, token: Token, path: str, span: Span) -> Diagnostic:
    """E0011 with the fix that writes the string as an identifier: its letters, digits and
    `_`, each run of other characters one `_` (`"eu-cloud"` -> `eu_cloud`)."""
    kind = _previous_word(text, token.start_pos or 0)
    name = identifier_for(str(token)[1:-1])
    if name is None:
        return msg.QuotedBlockName(kind=kind, written=str(token)).diagnostic(path, span)
    fix = Fix(f"Write the name as an identifier: `{kind} {name}`", span, name)
    suggestion = f"; write `{kind} {name}`"
    return msg.QuotedBlockName(kind=kind, written=str(token), suggestion=suggestion).diagnostic(
        path, span, fixes=[fix])


def identifier_for(text: str) -> str | None:
    """An identifier that reads as `text` (a string's content): its ASCII letters, digits and
    `_` kept, each run of anything else one `_`; `_` before a leading digit and after a
    keyword. None when nothing of it is kept."""
    name = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")
    if not name:
        return None
    if name[0].isdigit():
        name = "_" + name
    return name + "_" if name in _keywords() else name


@cache
def _keywords() -> frozenset[str]:
    """The grammar's words that a name may not be (`true`, `require`, `on`, ...)."""
    words = set()
    for terminal in _parser().terminals:
        pattern = terminal.pattern
        if pattern.type == "str" and re.fullmatch(r"[A-Za-z_]\w*", pattern.value):
            words.add(pattern.value)
    return frozenset(words)


def _matches_missing_equals(error: UnexpectedToken) -> bool:
    """What lark's `error.match_examples(parse, _MISSING_EQUALS_EXAMPLES, use_accepts=True)`
    answered (this did call it, which parsed the 22 examples again for every syntax error:
    20 ms), from the examples' errors parsed once. Its steps, in its order: an example whose
    error is in the same parser state matches; with other acceptable tokens it does not, and
    lark's debug line for that case raises (a `%d` given a parser state), which made it no
    match at all; an example failing on the very same token ends the search."""
    matched = False
    for state, accepts, token in _missing_equals_errors():
        if state != error.state:
            continue
        if accepts is not None and accepts != error.accepts:
            return False
        if token is not None and token == error.token:
            return True
        matched = True
    return matched


@cache
def _missing_equals_errors() -> list[tuple[Any, Any, Any]]:
    """Each example's error: its parser state, acceptable tokens and token."""
    found = []
    for example in _MISSING_EQUALS_EXAMPLES["missing-equals"]:
        _comments.items = []
        try:
            _parser().parse(example)
        except UnexpectedInput as error:
            accepts = error.accepts if isinstance(error, UnexpectedToken) else None
            token = error.token if isinstance(error, (UnexpectedToken, UnexpectedEOF)) else None
            found.append((error.state, accepts, token))
    return found


def _describe_characters(error: UnexpectedCharacters, text: str, path: str) -> Diagnostic:
    position = error.pos_in_stream or 0  # lark types it optional; its lexer always sets it
    char = text[position] if position < len(text) else ""
    span = _span_at(text, position)
    if char == '"':
        line_end = text.find("\n", position)
        end = len(text) if line_end < 0 else line_end
        return msg.UnterminatedString().diagnostic(path, _span_between(text, position, end))
    unit = re.compile(r"(\d+(\.\d+)?|\.\d+)([eE][+-]?\d+)?\s?([A-Za-z][A-Za-z/]*)").match(
        text, _number_start(text, position))
    if unit and unit.end() > position:
        name = unit.group(4)
        start = unit.start(4)
        return msg.UnknownUnit(unit=name, hint=hint(did_you_mean(name, KNOWN_UNITS))).diagnostic(
            path, _span_between(text, start, unit.end())
        )
    shown = f"`{char}`" if char.isprintable() and char.strip() else f"U+{ord(char or chr(0)):04X}"
    return msg.InvalidCharacter(char=shown).diagnostic(path, span)


def _number_start(text: str, position: int) -> int:
    start = position
    while start > 0 and (text[start - 1].isdigit() or text[start - 1] == "."):
        start -= 1
    return start


def _expected_words(expected: set[str]) -> str:
    parser = _parser()
    words = set()
    for name in expected:
        if name in _TERMINAL_WORDS:
            words.add(_TERMINAL_WORDS[name])
            continue
        try:
            pattern = parser.get_terminal(name).pattern
        except KeyError:
            continue
        words.add(f"`{pattern.value}`" if pattern.type == "str" else name.lower())
    ordered = sorted(words)
    if len(ordered) > 6:
        ordered = ordered[:6] + ["..."]
    return ", ".join(ordered) if ordered else "something else"


def _found_word(token: Token) -> str:
    if token.type == "$END":
        return "end of file"
    value = str(token)
    if len(value) > 30:
        value = value[:27] + "..."
    kind = {"NAME": "name ", "STRING": "string ", "NUMBER": "number ", "QUANTITY": "quantity "}
    return f"{kind.get(token.type, '')}`{value}`"


# ---- positions and regions ----------------------------------------------


def _span_at(text: str, position: int) -> Span:
    return _span_between(text, position, min(position + 1, max(len(text), position)))


def _span_between(text: str, start: int, end: int) -> Span:
    line = text.count("\n", 0, start) + 1
    column = start - (text.rfind("\n", 0, start) + 1) + 1
    end_line = text.count("\n", 0, end) + 1
    end_column = end - (text.rfind("\n", 0, end) + 1) + 1
    return Span(line, column, end_line, end_column, start, end)


_DECL_START = re.compile(r"^[A-Za-z_]", re.MULTILINE)


def _declaration_region(text: str, position: int) -> tuple[int, int]:
    """The top-level declaration around `position`: its first line up to the next one."""
    line_start = text.rfind("\n", 0, position) + 1
    start = _last_declaration_start(text, line_start)
    following = _DECL_START.search(text, line_start + 1)
    end = following.start() if following else len(text)
    if end <= position:
        end = len(text)
    return start, end


_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")


def _last_declaration_start(text: str, line_start: int) -> int:
    """The start of the last line at or before `line_start` that starts with a letter (the
    last `_DECL_START` match there), or 0: found line by line backwards, not by matching
    from the top of the file (which took milliseconds per syntax error in a long file)."""
    position = line_start
    while True:
        if text[position:position + 1] in _LETTERS:
            return position
        if position == 0:
            return 0
        position = text.rfind("\n", 0, position - 1) + 1


def _declared_name(region: str) -> set[str]:
    header = re.match(r"\s*([A-Za-z_]\w*)\s+([A-Za-z_]\w*)", region)
    return {header.group(2)} if header else set()


def _blank(text: str, start: int, end: int) -> str:
    region = re.sub(r"[^\n]", " ", text[start:end])
    return text[:start] + region + text[end:]


_OPENERS = {"{": "}", "[": "]", "(": ")"}
_BRACKETS = frozenset({"LBRACE", "RBRACE", "LSQB", "RSQB", "LPAR", "RPAR"})
# the grammar's terminals a bracket can hide in: a bracket inside one is none
_BRACKET_SCAN = _BRACKETS | {"STRING", "COMMENT", "BLOCK_COMMENT"}


def _brackets(text: str) -> Iterator[tuple[int, str]]:
    """Yield (position, char) for every bracket outside strings and comments: the grammar's
    own tokens, read without the parser (`scan`)."""
    for match in scan(_parser().lexer_conf, text, _BRACKET_SCAN):
        if match.lastgroup in _BRACKETS:
            yield match.start(), match.group()


def _unclosed_bracket(text: str) -> int | None:
    stack: list[int] = []
    for position, char in _brackets(text):
        if char in _OPENERS:
            stack.append(position)
        elif stack:
            stack.pop()
    return stack[-1] if stack else None


def _depth_before(text: str, limit: int) -> int:
    depth = 0
    for _position, char in _brackets(text[:limit]):
        depth = depth + 1 if char in _OPENERS else max(depth - 1, 0)
    return depth


def _previous_word(text: str, position: int) -> str:
    words = re.findall(r"[A-Za-z_]\w*", text[max(0, position - 200):position])
    return words[-1] if words else "?"

