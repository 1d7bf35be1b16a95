"""The parser: AST shape and spans, syntax diagnostics, recovery, and hostile input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlang.syntax import nodes as n
from fitlang.syntax.parser import parse_source

from conftest import EXAMPLES, FIXTURES


def parse_ok(text: str) -> n.Module:
    result = parse_source(text, "t.fit")
    assert result.diagnostics == [], [d.message for d in result.diagnostics]
    return result.module


def codes(text: str | bytes) -> list[str]:
    return [d.code for d in parse_source(text, "t.fit").diagnostics]


def test_block_with_attributes_nested_block_and_rules():
    module = parse_ok(
        'workload trainer {\n'
        '  replicas = 4\n'
        '  gpu { count = 8 require memory >= 80GB }\n'
        '  affinity cache on node\n'
        '  anti_affinity self on "rack"\n'
        '  spread zone max_skew 1\n'
        '  prefer zone == "a" weight 10\n'
        '  use common.big\n'
        '}\n')
    (block,) = module.decls
    assert (block.kind.name, block.name.name) == ("workload", "trainer")
    kinds = [type(e).__name__ for e in block.entries]
    assert kinds == ["Attribute", "Block", "Affinity", "Affinity", "Spread", "Prefer", "Use"]
    gpu = block.entries[1]
    assert isinstance(gpu.entries[1], n.Require)
    assert gpu.entries[1].condition.right == n.Quantity(None, "80", "GB")
    assert [a.anti for a in block.entries[2:4]] == [False, True]
    assert block.entries[4].topology.text == "zone"
    assert block.entries[6].target.dotted == "common.big"


def test_a_spread_s_min_domains_is_parsed_and_printed_back():
    from fitlang.syntax.formatter import format_source

    text = "workload w {\n  spread region max_skew 1 min_domains 3\n  spread zone max_skew 2\n}\n"
    (block,) = parse_ok(text).decls
    least, plain = block.entries
    assert (least.max_skew.text, least.min_domains.text) == ("1", "3")
    assert plain.min_domains is None
    assert format_source(text.encode(), "t.fit").text == text


def test_spans_are_one_based_and_exact():
    module = parse_ok("const X = 1\n\npool p {\n  cpu = 500m\n}\n")
    const, pool = module.decls
    assert (const.span.line, const.span.column) == (1, 1)
    assert (pool.span.line, pool.span.column, pool.span.end_line, pool.span.end_column) == (3, 1, 5, 2)
    value = pool.entries[0].value
    assert (value.span.line, value.span.column, value.span.end_column) == (4, 9, 13)
    assert (value.text, value.unit) == ("500", "m")


@pytest.mark.parametrize("source, op", [
    ("a or b and c", "or"), ("a and b or c", "or"), ("not a == b", "not"),
    ("1 + 2 * 3", "+"), ("x not in [1]", "not in"), ("a == 1 and b", "and"),
])
def test_operator_precedence(source, op):
    (const,) = parse_ok(f"const X = {source}\n").decls
    top = const.value
    assert top.op == op


def test_quantities_and_money_with_a_space():
    (const,) = parse_ok("const P = [98.32 USD/h, 80GiB, 2kW, 90min, 0.12 USD/kWh, 1.5e3m]\n").decls
    units = [(q.text, q.unit) for q in const.value.items]
    assert units == [("98.32", "USD/h"), ("80", "GiB"), ("2", "kW"), ("90", "min"),
                     ("0.12", "USD/kWh"), ("1.5e3", "m")]


def test_a_unit_may_stand_apart_from_its_number_as_the_currency_rates_do():
    # the docs write `3.5 USD/h` with a space; a user wrote `memory = 4 GiB` and got "expected `=`
    # between attribute `GiB` and its value" at the block's `}` (and E0004 after a `const`)
    module = parse_ok('workload w {\n  memory = 4 GiB\n  disk = 10\tGB\n  cpu = 500 m\n}\n'
                      "const D = [6 h, 90 min, 2 kW, 1 + 1 GiB, 5 %]\n")
    workload, const = module.decls
    assert [(a.value.text, a.value.unit) for a in workload.entries] == [
        ("4", "GiB"), ("10", "GB"), ("500", "m")]
    sum_ = const.value.items[3]
    assert [(q.text, q.unit) for q in (*const.value.items[:3], sum_.right, const.value.items[4])] == [
        ("6", "h"), ("90", "min"), ("2", "kW"), ("1", "GiB"), ("5", "%")]
    # a line break still ends a value: the unit's word on the next line is no unit
    assert codes("const A = 4\nGiB\n") == ["E0004"]


def test_comments_are_kept_for_the_formatter():
    module = parse_ok("# one\nconst X = 1 // two\n/* three\n four */\n")
    assert [str(c).split()[0] for c in module.comments] == ["#", "//", "/*"]


@pytest.mark.parametrize("source, code", [
    ("pool p { cpu 4 }", "E0005"),
    ("pool p { cpu: 4 }", "E0005"),
    ("pool p { cpu = 4\n", "E0004"),
    ("pool p { cpu = 4 }\n}", "E0006"),
    ('pool p { zone = "abc }', "E0003"),
    ("pool p { memory = 5XB }", "E0009"),
    ("pool p { cpu = 4 @ }", "E0001"),
    ("pool p { cpu = }", "E0002"),
])
def test_syntax_errors_have_codes(source, code):
    assert codes(source) == [code]


@pytest.mark.parametrize("source", [
    "workload w { gpu { count = 4; memory >= 40GB } }",  # inside a nested block
    "workload w { cpu >= 2 }",
])
def test_a_comparison_where_an_attribute_is_set_says_how_a_condition_is_written(source):
    [diagnostic] = parse_source(source, "t.fit").diagnostics
    assert diagnostic.code == "E0005"
    [fix] = diagnostic.fixes  # `require ` put before the name: the text parses
    mended = source[:fix.span.start] + fix.text + source[fix.span.end:]
    assert parse_source(mended, "t.fit").diagnostics == []
    assert "require cpu >= 2" in mended or "require memory >= 40GB" in mended


@pytest.mark.parametrize("source, name", [
    ('import "std/gcp"\nbuy "eu-cloud" {\n  providers = [gcp]\n}\n', "eu_cloud"),
    ('workload w { gpu "x" { } }', "x"),  # a nested block
    ('pool "$(rm -rf /)${HOME}" {\n  count = 1\n}\n', "rm_rf_HOME"),
    ('pool "a\\"b;`c`" { }', "a_b_c"),
    ('pool "9-gpus" { }', "_9_gpus"),
    ('pool "true" { }', "true_"),  # a keyword is no name
])
def test_a_quoted_block_name_says_names_are_identifiers_and_fixes_it(source, name):
    [diagnostic] = parse_source(source, "t.fit").diagnostics
    assert diagnostic.code == "E0011"
    assert source[diagnostic.span.start:diagnostic.span.end].startswith('"')  # at the string
    [fix] = diagnostic.fixes
    mended = source[:fix.span.start] + fix.text + source[fix.span.end:]
    assert fix.text == name and parse_source(mended, "t.fit").diagnostics == []


@pytest.mark.parametrize("source, code", [
    ('buy "--" { }', "E0011"),  # nothing of it makes a name: said, with no fix
    ('pool p { zone "a" }', "E0005"),  # a string after an attribute's name: `=` missing
    ('workload w { gpu "x" }', "E0005"),
])
def test_a_string_after_a_name_is_a_block_name_only_before_a_brace(source, code):
    [diagnostic] = parse_source(source, "t.fit").diagnostics
    assert diagnostic.code == code and diagnostic.fixes == ()


def test_every_broken_declaration_is_reported_and_the_rest_survives():
    source = ("pool a {\n  cpu = 1\n}\n"
              "workload w {\n  replicas = = 3\n}\n"
              "pool b {\n  cpu = 2\n}\n"
              "pool c {\n  cpu 3\n}\n"
              "pool d {\n  cpu = 4\n}\n")
    result = parse_source(source, "t.fit")
    assert [(d.code, d.span.line) for d in result.diagnostics] == [("E0002", 5), ("E0005", 11)]
    assert [d.name.name for d in result.module.decls] == ["a", "b", "d"]
    assert result.dropped_names == {"w", "c"}


def test_missing_brace_points_at_the_unclosed_block():
    result = parse_source("pool a {\n  cpu = 1\n\npool b {\n  cpu = 2\n}\n", "t.fit")
    (diagnostic,) = result.diagnostics
    assert diagnostic.code == "E0004"
    assert (diagnostic.span.line, diagnostic.span.column) == (1, 8)


def test_invalid_utf8_points_at_the_byte():
    (diagnostic,) = parse_source(b'pool p {\n  zone = "caf\xe9"\n}\n', "t.fit").diagnostics
    assert (diagnostic.code, diagnostic.span.line, diagnostic.span.column) == ("E0007", 2, 14)


def test_bom_and_crlf_are_accepted():
    module = parse_ok_bytes(b'\xef\xbb\xbfpool p {\r\n  cpu = 4\r\n  zone = "a"\r\n}\r\n')
    assert module.decls[0].entries[1].value.value == "a"


def parse_ok_bytes(data: bytes) -> n.Module:
    result = parse_source(data, "t.fit")
    assert result.diagnostics == []
    return result.module


def test_a_hundred_thousand_open_brackets_is_one_diagnostic():
    assert codes("[" * 100_000) == ["E0002"]
    assert codes("const X = " + "[" * 100_000) == ["E0004"]


def test_empty_blocks_parse():
    module = parse_ok("pool q {}\nworkload w {\n}\npolicy { kubernetes {} }\n")
    assert [len(d.entries) for d in module.decls] == [0, 0, 1]


@pytest.mark.parametrize("source", [
    "const X = " + "[" * 100_000 + "]" * 100_000,
    "pool p {" + " a {" * 50_000 + "}" * 50_001,
    "const X = " + "(" * 100_000 + "1" + ")" * 100_000,
    "const X = " + "1 + " * 100_000 + "1",
    "const X = " + "not " * 100_000 + "true",
    "const X = " + "-" * 100_000 + "1",
    "pool p { cpu = " + "[" * 100_000 + "]" * 100_000 + " }",
])
def test_deep_nesting_is_a_diagnostic_not_a_crash(source):
    assert codes(source) == ["E0008"]


def test_a_two_megabyte_line_is_parsed():
    items = ", ".join(f'"{i}"' for i in range(200_000))
    module = parse_ok(f"const X = [{items}]\n")
    assert len(module.decls[0].value.items) == 200_000


def test_nul_bytes_are_an_invalid_character():
    assert codes(b"pool p {\x00}") == ["E0001"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data):
    result = parse_source(data, "t.fit")
    assert all(d.code.startswith("E0") for d in result.diagnostics)


_TOKENS = ["pool", "workload", "p", "{", "}", "[", "]", "(", ")", "=", "==", "cpu", "4", "80GiB",
           '"s"', "require", "prefer", "weight", "and", "not", "in", ",", ":", "\n", "#c\n",
           "spread", "on", "affinity", "self", "3.5 USD/h", "import", "const", "use", ".", ";"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_TOKENS), max_size=60))
def test_random_token_soup_never_raises(tokens):
    result = parse_source(" ".join(tokens), "t.fit")
    for diagnostic in result.diagnostics:
        assert diagnostic.span.line >= 1 and diagnostic.span.column >= 1


def test_every_example_and_fixture_parses_cleanly():
    files = sorted(EXAMPLES.rglob("*.fit")) + sorted((FIXTURES / "valid").rglob("*.fit"))
    assert files, "examples and fixtures must exist"
    for path in files:
        assert parse_source(path.read_bytes(), str(path)).diagnostics == [], path


@pytest.mark.parametrize("name", ["everything.fit", "shared.fit"])
def test_parser_golden_ast(name, snapshot):
    """The AST of the reference fixture, as data: a grammar change that alters it shows here."""
    module = parse_ok((FIXTURES / "valid" / name).read_text())
    assert [repr(decl) for decl in module.decls] == snapshot


def _every_fit_text() -> list[str]:
    from fitlang.resources import stdlib_dir

    paths = sorted(EXAMPLES.rglob("*.fit")) + sorted(stdlib_dir().rglob("*.fit"))
    return [path.read_text(encoding="utf-8") for path in paths]


def test_the_parse_loop_builds_what_larks_own_loop_builds():
    """`parse_whole` runs its own LALR loop over lark's table (`_Tables`): on every example
    and stdlib file the declarations (compared field by field, spans included) and the
    comments are lark's own loop's; and a text with a syntax error gets lark's exception."""
    from fitlang.syntax import parser

    texts = _every_fit_text()
    assert len(texts) > 20
    for text in texts:
        ours = parser.parse_whole(text)
        parser._comments.items = []
        theirs = parser._parser().parse(text), list(parser._comments.items)
        assert parser._tables().run(text) is not None
        assert ours[0] == theirs[0] and [d.span for d in ours[0]] == [d.span for d in theirs[0]]
        assert [(c.type, c.value, c.line, c.column) for c in ours[1]] == \
            [(c.type, c.value, c.line, c.column) for c in theirs[1]]
    for broken in ["pool p { count = }", "workload w { replicas = 3", "pool p { count = 1 } }",
                   "workload w { cpu = 1 @ }", "import"]:
        assert parser._tables().run(broken) is None
        with pytest.raises(Exception) as ours_error:
            parser.parse_whole(broken)
        with pytest.raises(Exception) as theirs_error:
            parser._parser().parse(broken)
        assert type(ours_error.value) is type(theirs_error.value)
        assert str(ours_error.value) == str(theirs_error.value)


_TOKEN_FIELDS = ("type", "value", "start_pos", "line", "column", "end_line", "end_column", "end_pos")


def _tokens_of(lark_parser, text: str) -> list[tuple]:
    """Every token of `text` as lark's parser read it, positions and all (comments aside)."""
    from fitlang.syntax import parser

    parser._comments.items = []
    return [_token_fields(t) for t in lark_parser.parse(text).scan_values(lambda value: value is not None)]


def _token_fields(token) -> tuple:
    return tuple(getattr(token, field) for field in _TOKEN_FIELDS)


def test_the_lexer_reads_the_tokens_larks_own_lexer_reads():
    """`FastLexer` (one regular expression; the blanks before a token matched with it) gives
    the tokens lark's contextual lexer gives, with the same positions, on every example and
    stdlib file and on texts of odd blanks (tabs, form feeds, CR LF, a BOM, none at the end,
    keywords and `not in` across lines), and fails on the same character."""
    from lark import Lark, Token, UnexpectedCharacters

    from fitlang.resources import grammar_path
    from fitlang.syntax import lexer, parser

    grammar = grammar_path().read_text(encoding="utf-8")
    comments: list[Token] = []
    ours = Lark(grammar, parser="lalr", lexer=lexer.FastLexer, keep_all_tokens=True)
    theirs = Lark(grammar, parser="lalr", lexer="contextual", keep_all_tokens=True,
                  lexer_callbacks={"COMMENT": comments.append, "BLOCK_COMMENT": comments.append})
    odd = ["pool p {\r\n  count = 2\f\t}", "\ufeffpool p { count = 1 }   \n\n\t ",
           "workload w {\n  require zone not  in [\"a\"]\n  replicas = 2 // two\n}\n/* end\n */",
           "const x = 1 # one", "const in_x = not\ntrue", "pool p{count=1}"]
    for text in _every_fit_text() + odd:
        comments.clear()
        found = _tokens_of(theirs, text)
        assert _tokens_of(ours, text) == found
        assert [_token_fields(c) for c in parser._comments.items] == [_token_fields(c) for c in comments]
    for broken in ["pool p { count = 1 } @", "pool p {\n\n  count = ~ }", "   \t$"]:
        with pytest.raises(UnexpectedCharacters) as ours_error:
            ours.parse(broken)
        with pytest.raises(UnexpectedCharacters) as theirs_error:
            theirs.parse(broken)
        assert (ours_error.value.line, ours_error.value.column, ours_error.value.pos_in_stream) == \
            (theirs_error.value.line, theirs_error.value.column, theirs_error.value.pos_in_stream)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_the_parse_loop_agrees_with_lark_on_cut_texts(data):
    """Any prefix of an example (most are syntax errors, some parse): the same verdict, and
    where it parses the same declarations, as lark's own loop."""
    from lark import UnexpectedInput

    from fitlang.syntax import parser

    text = data.draw(st.sampled_from(_every_fit_text()))
    cut = text[: data.draw(st.integers(0, len(text)))]
    try:
        theirs = parser._parser().parse(cut)
    except UnexpectedInput as error:
        with pytest.raises(type(error)):
            parser.parse_whole(cut)
        return
    assert parser.parse_whole(cut)[0] == theirs


def test_the_parse_loop_makes_no_lark_tree_and_hashes_no_rule(monkeypatch):
    """The loop reads its own form of the table (session 30): a reduction's builder is found
    without hashing lark's `Rule` (Python code, 7% of a 10,000-line parse) and an inlined
    `_rule`'s children reach its parent as a list, not as a lark `Tree` its parent's filter
    takes apart. What it builds is lark's (the tests above)."""
    from lark.grammar import Rule
    from lark.tree import Tree

    from fitlang.syntax import parser

    text = "\n".join(_every_fit_text())
    parser._tables()  # made once a process: its making reads lark's callbacks by rule
    made: list[str] = []
    monkeypatch.setattr(Tree, "__init__", lambda self, data, *rest, **keywords: made.append(data))
    monkeypatch.setattr(Rule, "__hash__", lambda self: made.append(self.origin.name) or id(self))
    decls, _ = parser.parse_whole(text)
    assert len(decls) > 200 and made == []


def test_leaves_are_made_as_their_classes_make_them():
    """The parser sets the fields of the nodes of one token itself (`parser._leaf_builders`,
    not the made `__init__` and `__post_init__`s): on every such token of every example and
    stdlib file each node is what its class makes of the token (`parser._builder`), every
    attribute alike (the span, the text and its type, a `Name`'s `Ident`), depth included."""
    from lark import Lark, Token

    from fitlang.resources import grammar_path
    from fitlang.syntax import lexer, parser

    rules = {"ident": (("NAME",), n.Ident), "name": (("NAME",), n.Name),
             "number": (("NUMBER",), n.Number), "quantity": (("QUANTITY",), n.Quantity),
             "string": (("STRING",), n.String), "boolean": (("TRUE", "FALSE"), n.Boolean)}
    leaves = parser._leaf_builders()
    assert set(leaves) == set(rules)
    reader = Lark(grammar_path().read_text(encoding="utf-8"), parser="lalr", lexer=lexer.FastLexer,
                  keep_all_tokens=True)
    texts = _every_fit_text() + ["const a = true\nconst b = false\nconst c = 3.5 USD/h"]
    made = 0
    for text in texts:
        parser._comments.items = []
        for token in reader.parse(text).scan_values(lambda value: isinstance(value, Token)):
            for rule, (kinds, cls) in rules.items():
                if token.type in kinds:
                    ours, theirs = leaves[rule]([token]), parser._builder(cls, False)([token])
                    assert _attributes(ours) == _attributes(theirs), (rule, token)
                    made += 1
    assert made > 5_000


def test_attributes_are_made_as_their_class_makes_them():
    """The parser makes `attribute: ident "=" expr` itself (`parser._attribute_builder`, not
    the child filter, the made `__init__` and `track_depth`): every attribute of every example
    and stdlib file is what `parser._builder` makes of the same children, depth included."""
    from lark import Token

    from fitlang.syntax import parser

    ours, theirs = parser._attribute_builder(), parser._builder(n.Attribute, False)
    made = 0
    for text in _every_fit_text() + ["pool p { cpu = ((((1)))) }\n"]:
        module = parse_ok(text)
        for attribute in _nodes_of(module.decls, n.Attribute):
            children = [attribute.name, Token("EQUAL", "="), attribute.value]
            assert _attributes(ours(children)) == _attributes(theirs(children)) == _attributes(attribute)
            made += 1
    assert made > 1_000


def test_lists_are_grown_as_the_child_filter_grows_them():
    """A list's left recursion is made by a shortcut (`parser._LISTS`) where the child filter's
    loop would make it: the same list (grown in place, or the other one where the first is
    empty), on lists empty and not, and on a tree's children."""
    from lark import Tree

    from fitlang.syntax import parser

    assert len(parser._LISTS) == 3
    for include, shortcut in parser._LISTS.items():
        assert parser._filter(list(include), 0, None) is shortcut
        loop = parser._filter(list(include), 0, lambda kept: kept)
        for first, second in (([], ["a"]), (["a", "b"], ["c"]), ([], []), (["a"], [])):
            made = []
            for build in (shortcut, loop):
                children = [list(first), list(second) if include[-1][1] else "x"][:len(include)]
                kept = build(children)
                made.append((kept, kept is children[0], kept is children[-1], children))
            assert made[0] == made[1], (include, first, second)
        assert shortcut([Tree("_items", ["a"]), ["b"] if include[-1][1] else "b"][:len(include)]) == \
            ["a", "b"][:len(include)]


def _nodes_of(node, cls) -> list:
    """Every node of class `cls` within `node` (lists and nodes walked)."""
    found = [node] if isinstance(node, cls) else []
    values = node if isinstance(node, list) else vars(node).values() if isinstance(node, n._Node) else []
    for value in values:
        if isinstance(value, (list, n._Node)):
            found += _nodes_of(value, cls)
    return found


def _attributes(node) -> dict:
    """Every attribute of a node (nodes within it the same way), each value with its type."""
    found = {"depth": getattr(node, "depth", None), "class": type(node)}
    for name, value in vars(node).items():
        if name != "depth":
            found[name] = _attributes(value) if isinstance(value, n._Node) else (type(value), value)
    return found


def test_an_attribute_of_one_literal_is_built_as_its_three_tokens_build_it(monkeypatch):
    """`key = value` on a line (a literal that ends there) is one `ATTRIBUTE` token the parser
    builds an `Attribute` of directly (`lexer._attribute_line`, `parser._line_attribute`):
    on every example and stdlib file and on texts where the value goes on, is cut short or
    stands where no block's body is, the declarations are those of the three tokens read one
    by one, every field alike (spans, texts and depth)."""
    from lark.lexer import LexerState
    from lark.utils import TextSlice

    from fitlang.syntax import parser
    from fitlang.syntax.lexer import FastLexer

    odd = ["const B = 12 USD/h\nconst C = 4\npool p { price = B }",
           "pool p {\n  kind = job\n  require x == 1\n}",
           "pool p { x = a\n + 1; y = b\n.c\n z = f (1)\n w = a[0] }",
           "pool p { x = a # one\n y = 2 // two\n}", "pool p { x = true; y = \"s\";z=2}",
           "pool p { q = 3.5 USD/h\n r = 2Gi s = .5 t = 1e3 u = not_in }",
           "pool p { a = 1 }\nworkload w { b = 2\n  anti_affinity self on node\n  c = x\n  d = \"y\" }"]
    tables, lex = parser._tables(), FastLexer.lex
    for text in _every_fit_text() + odd:
        ours = parser.parse_whole(text)[0]
        with monkeypatch.context() as patched:
            patched.setattr(FastLexer, "lex", lambda self, state, position, attributes=False:
                            lex(self, state, position))
            theirs = parser.parse_whole(text)[0]
        assert _whole(ours) == _whole(theirs), text
    kinds = [token.type for token in tables.lexer.lex(LexerState(TextSlice.cast_from(odd[-1])),
                                                      parser._Position(tables.table, [tables.start]),
                                                      attributes=True)]
    assert kinds.count("ATTRIBUTE") == 3 and kinds.count("EQUAL") == 1  # `b = 2` before a keyword


def _whole(value):
    """A value with every node and list within it spelled out (`_attributes`, lists too)."""
    if isinstance(value, list):
        return [_whole(item) for item in value]
    if not isinstance(value, n._Node):
        return type(value), value
    return {"depth": getattr(value, "depth", None), "class": type(value),
            **{name: _whole(field) for name, field in vars(value).items() if name != "depth"}}


def test_a_span_is_made_in_slots_as_its_class_makes_it():
    """`made_span` sets a span's slots itself (the parser makes one per node): the span
    `Span(...)` makes, equal with the same hash, fields and text, copied and pickled alike,
    and, as every span, without a `__dict__` (a span with one was 344 bytes, in slots 80)."""
    import copy
    import dataclasses
    import pickle

    from fitlang.span import Span, made_span

    ours, theirs = made_span(3, 5, 4, 1, 20, 31), Span(3, 5, 4, 1, 20, 31)
    assert ours == theirs and hash(ours) == hash(theirs) and repr(ours) == repr(theirs)
    assert dataclasses.astuple(ours) == (3, 5, 4, 1, 20, 31)
    assert pickle.loads(pickle.dumps(ours)) == copy.copy(ours) == dataclasses.replace(theirs) == theirs
    assert dataclasses.replace(ours, end=40) == Span(3, 5, 4, 1, 20, 40)
    spans = [node.span for node in _nodes_of(parse_ok("pool p { cpu = 2 }").decls, n._Node)]
    assert len(spans) > 3 and not any(hasattr(span, "__dict__") for span in [ours, theirs, *spans])
    with pytest.raises(dataclasses.FrozenInstanceError):
        ours.line = 4  # type: ignore[misc]
