"""The fitlang AST: one dataclass per grammar rule, each carrying its source span.

`lark.ast_utils.create_transformer` maps rule names to these classes by name
(`ImportDecl` <- `import_decl`), so the grammar and this file are read side by
side. Spans never take part in equality: two programs that differ only in
layout compare equal, which is what the formatter's meaning-preservation test
relies on.
"""

from __future__ import annotations

import threading
from dataclasses import field
from typing import Any

from lark import Token, ast_utils

from fitlang.frozen import Mutable
from fitlang.span import Span

MAX_DEPTH = 200
_guard = threading.local()


def reset_depth_guard() -> None:
    _guard.tripped = None


def depth_guard_tripped() -> Span | None:
    return getattr(_guard, "tripped", None)


def track_depth(node: Any, children: list) -> None:
    """Record how deeply `node` nests; trip the guard past MAX_DEPTH. The checker and
    formatter walk the AST recursively, so depth must be bounded before they run."""
    depth = 1
    for child in children:
        if type(child) is Token:  # a leaf: no depth (and `getattr`'s default costs a raise)
            continue
        child_depth = getattr(child, "depth", 0)
        if child_depth >= depth:
            depth = child_depth + 1
    object.__setattr__(node, "depth", depth)
    if depth > MAX_DEPTH and getattr(_guard, "tripped", None) is None:
        _guard.tripped = node.span


class _Node(ast_utils.Ast, ast_utils.WithMeta):
    """Base of every node: the first field is the span, filled from lark's Meta."""

    span: Span

    def __post_init__(self) -> None:
        if not isinstance(self.span, Span):
            object.__setattr__(self, "span", Span.of(self.span))


class _Leaf(_Node):
    """A node of one token (`ident: NAME`, `number: NUMBER`, ...): nothing nests below it, so
    its depth is its class's, 1 (the parser makes leaves without `track_depth`)."""

    depth = 1


class _Nested(_Node):
    """An expression node with operands. Its depth is tracked while it is built,
    because the checker and formatter walk expressions recursively and an
    expression such as `1+1+...+1` with 100,000 terms must become a diagnostic,
    not a RecursionError."""

    def _track_depth(self, *children: Any) -> None:
        track_depth(self, list(children))


def _text(token: Any) -> str:
    return str(token)


# ---- leaves -------------------------------------------------------------


class Ident(_Leaf, Mutable):
    span: Span = field(compare=False, repr=False)
    name: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.name = _text(self.name)


class Number(_Leaf, Mutable):
    span: Span = field(compare=False, repr=False)
    text: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        self.text = _text(self.text)


class Quantity(_Leaf, Mutable):
    """A number with a unit; `text` is the number, `unit` the canonical unit spelling."""

    span: Span = field(compare=False, repr=False)
    text: str = ""
    unit: str = ""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.unit:
            self.text, self.unit = split_quantity(_text(self.text))


class String(_Leaf, Mutable):
    """A string literal; `raw` keeps the source spelling (quotes and escapes)."""

    span: Span = field(compare=False, repr=False)
    raw: str = '""'

    def __post_init__(self) -> None:
        super().__post_init__()
        self.raw = _text(self.raw)

    @property
    def value(self) -> str:
        return unescape(self.raw[1:-1])


class Boolean(_Leaf, Mutable):
    span: Span = field(compare=False, repr=False)
    value: Any = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.value, bool):
            self.value = _text(self.value) == "true"


# ---- expressions --------------------------------------------------------


class Name(_Leaf, Mutable):
    """A name used as a value; built straight from its token (one reduction fewer per name)."""

    span: Span = field(compare=False, repr=False)
    ident: Ident = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.ident, Ident):
            self.ident = Ident(self.span, _text(self.ident))


class Binary(_Nested, Mutable):
    span: Span = field(compare=False, repr=False)
    left: Expr = None  # type: ignore[assignment]
    op: str = ""
    right: Expr = None  # type: ignore[assignment]
    op_span: Span = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        if isinstance(self.op, Token):
            self.op_span = Span.of(self.op)
        self.op = " ".join(_text(self.op).split())
        if self.op_span is None:
            self.op_span = self.span
        self._track_depth(self.left, self.right)


class Unary(_Nested, Mutable):
    span: Span = field(compare=False, repr=False)
    op: str = ""
    operand: Expr = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.op = _text(self.op)
        self._track_depth(self.operand)


class Member(_Nested, Mutable):
    span: Span = field(compare=False, repr=False)
    target: Expr = None  # type: ignore[assignment]
    attr: Ident = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        self._track_depth(self.target)


class Index(_Nested, Mutable):
    span: Span = field(compare=False, repr=False)
    target: Expr = None  # type: ignore[assignment]
    key: Expr = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        self._track_depth(self.target, self.key)


class Call(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    func: Ident = None  # type: ignore[assignment]
    args: list = field(default_factory=list)

    def __init__(self, span: Any, func: Ident, *args: Any) -> None:
        self.span, self.func, self.args = span, func, list(args)
        self.__post_init__()


class Paren(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    expr: Expr = None  # type: ignore[assignment]


class List(_Node, ast_utils.AsList, Mutable):
    span: Span = field(compare=False, repr=False)
    items: list = field(default_factory=list)


class Pair(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    key: Ident | String = None  # type: ignore[assignment]
    value: Expr = None  # type: ignore[assignment]

    @property
    def key_text(self) -> str:
        return self.key.name if isinstance(self.key, Ident) else self.key.value


class Map(_Node, ast_utils.AsList, Mutable):
    span: Span = field(compare=False, repr=False)
    pairs: list = field(default_factory=list)


Expr = (Number | Quantity | String | Boolean | Name | Binary | Unary | Member | Index | Call
        | Paren | List | Map)


# ---- entries and declarations ------------------------------------------


class Ref(_Node, ast_utils.AsList, Mutable):
    """A possibly qualified name: `gpu_big` or `common.gpu_big`."""

    span: Span = field(compare=False, repr=False)
    parts: list = field(default_factory=list)

    @property
    def dotted(self) -> str:
        return ".".join(part.name for part in self.parts)


class Topology(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    key: Ident | String = None  # type: ignore[assignment]

    @property
    def text(self) -> str:
        return self.key.name if isinstance(self.key, Ident) else self.key.value


class Attribute(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    name: Ident = None  # type: ignore[assignment]
    value: Expr = None  # type: ignore[assignment]


class Require(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    condition: Expr = None  # type: ignore[assignment]


class Prefer(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    condition: Expr = None  # type: ignore[assignment]
    weight: Expr = None  # type: ignore[assignment]


class Use(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    target: Ref = None  # type: ignore[assignment]


class Affinity(_Node, Mutable):
    """`affinity web on node` or `anti_affinity self on zone`."""

    span: Span = field(compare=False, repr=False)
    kind: str = ""
    target: Ref = None  # type: ignore[assignment]
    topology: Topology = None  # type: ignore[assignment]

    def __post_init__(self) -> None:
        super().__post_init__()
        self.kind = _text(self.kind)

    @property
    def anti(self) -> bool:
        return self.kind == "anti_affinity"


class Spread(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    topology: Topology = None  # type: ignore[assignment]
    max_skew: Expr = None  # type: ignore[assignment]
    min_domains: Expr | None = None  # Kubernetes' `minDomains`


class Body(_Node, ast_utils.AsList, Mutable):
    span: Span = field(compare=False, repr=False)
    entries: list = field(default_factory=list)


class Block(_Node, Mutable):
    """`KIND [NAME] { body }`: pools, workloads, offers, and nested blocks such as `gpu`."""

    span: Span = field(compare=False, repr=False)
    kind: Ident = None  # type: ignore[assignment]
    name: Ident | None = None
    body: Body = None  # type: ignore[assignment]

    @property
    def entries(self) -> list:
        return self.body.entries


class ImportDecl(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    path: String = None  # type: ignore[assignment]
    alias: Ident | None = None


class ConstDecl(_Node, Mutable):
    span: Span = field(compare=False, repr=False)
    name: Ident = None  # type: ignore[assignment]
    value: Expr = None  # type: ignore[assignment]


Entry = Attribute | Block | Require | Prefer | Use | Affinity | Spread
Decl = ImportDecl | ConstDecl | Block


class Module(Mutable):
    """One parsed file. `comments` keep their spans so the formatter can put them back."""

    path: str
    decls: list = field(default_factory=list)
    comments: list = field(default_factory=list, compare=False, repr=False)


# ---- lexical helpers shared by the parser and the formatter -------------

_UNIT_SPELLINGS = ("USD/kWh", "USD/h", "USD", "gCO2e/kWh", "kgCO2e", "tCO2e", "gCO2e", "%")


def split_quantity(text: str) -> tuple[str, str]:
    """Split `80GiB` into ("80", "GiB"), `4 GiB` into ("4", "GiB") and `3.5 USD/h` into
    ("3.5", "USD/h")."""
    for unit in _UNIT_SPELLINGS:
        if text.endswith(unit):
            return text[: -len(unit)].rstrip(" \t"), unit
    index = len(text)
    while index > 0 and text[index - 1].isalpha():
        index -= 1
    return text[:index].rstrip(" \t"), text[index:]


_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\", "0": "\0"}


def unescape(body: str) -> str:
    if "\\" not in body:  # most strings (labels, zones, names): nothing to read char by char
        return body
    out: list[str] = []
    chars = iter(body)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        nxt = next(chars, "")
        out.append(_ESCAPES.get(nxt, "\\" + nxt))
    return "".join(out)


def quote(value: str) -> str:
    """The fit-language spelling of a string value (inverse of `unescape`)."""
    body = (value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            .replace("\t", "\\t").replace("\r", "\\r").replace("\0", "\\0"))
    return f'"{body}"'
