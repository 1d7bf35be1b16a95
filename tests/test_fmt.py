"""The formatter: one canonical style, comments kept, idempotent, meaning unchanged."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitlang.syntax.formatter import format_source
from fitlang.syntax.parser import parse_source

from conftest import EXAMPLES, FIXTURES, STDLIB, policies

SOURCES = sorted(EXAMPLES.rglob("*.fit")) + sorted(STDLIB.rglob("*.fit")) + sorted(
    (FIXTURES / "valid").rglob("*.fit"))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_formatting_is_idempotent_and_keeps_meaning(path):
    original = path.read_text()
    once = format_source(original, str(path))
    assert once.diagnostics == []
    twice = format_source(once.text, str(path))
    assert twice.text == once.text
    before = parse_source(original, str(path)).module
    after = parse_source(once.text, str(path)).module
    assert before.decls == after.decls
    assert len(before.comments) == len(after.comments)


def test_canonical_layout(snapshot):
    messy = ('# top\nimport "std/accelerators"\nimport "./x.fit" as x\nconst A=1\nconst B = 2 // two\n'
             'pool p{count=1;cpu=2 memory=8Gi  # eight\n\n\n  gpu{model=H100 count=8}'
             ' labels={a:"b","c.d/e":"f"}}\n'
             'workload w { replicas = 1 prefer zone=="a" weight 5 anti_affinity self on node\n'
             '  spread "rack" max_skew 1 /* block\n comment */ require (a or b) and not c }\n')
    result = format_source(messy, "m.fit")
    assert result.diagnostics == []
    assert result.text == snapshot


def test_a_unit_apart_from_its_number_is_written_against_it():
    result = format_source("workload w {\n  memory = 4 GiB\n  price = 3.5USD/h\n}\n", "u.fit")
    assert result.text == "workload w {\n  memory = 4GiB\n  price = 3.5 USD/h\n}\n"


def test_long_lists_break_one_item_per_line():
    items = ", ".join(f'"us-east-1{c}"' for c in "abcdefghijkl")
    result = format_source(f"workload w {{\n  zones = [{items}]\n}}\n", "w.fit")
    lines = result.text.splitlines()
    assert lines[1] == "  zones = ["
    assert lines[2] == '    "us-east-1a",'
    assert lines[-2] == "  ]"
    assert max(len(line) for line in lines) <= 100


def test_syntax_errors_are_reported_not_formatted():
    result = format_source("pool p { cpu 4 }", "p.fit")
    assert [d.code for d in result.diagnostics] == ["E0005"]


_NAMES = st.sampled_from(["a", "b", "zone", "cpu", "H100", "x_1"])
_ATOMS = st.one_of(
    _NAMES, st.integers(0, 10 ** 6).map(str),
    st.sampled_from(["80GiB", "500m", "3.5 USD/h", "2kW", "24h", "true", "false"]),
    st.text(alphabet="abc xyz-./", max_size=8).map(lambda s: f'"{s}"'))


def _expressions():
    return st.recursive(_ATOMS, lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "==", "<=", "and", "or", "in"]),
                  inner).map(lambda t: f"{t[0]} {t[1]} {t[2]}"),
        inner.map(lambda e: f"({e})"), inner.map(lambda e: f"not {e}"),
        st.lists(inner, max_size=4).map(lambda items: "[" + ", ".join(items) + "]"),
    ), max_leaves=12)


_ENTRY = st.one_of(
    st.tuples(_NAMES, _expressions()).map(lambda t: f"{t[0]} = {t[1]}"),
    _expressions().map(lambda e: f"require {e}"),
    st.tuples(_expressions(), st.integers(1, 9)).map(lambda t: f"prefer {t[0]} weight {t[1]}"),
    st.sampled_from(["anti_affinity self on node", 'spread "rack" max_skew 2', "use p",
                     "# a comment", "gpu { count = 1 }"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["pool", "workload", "profile"]), _NAMES,
                          st.lists(_ENTRY, max_size=6),
                          st.sampled_from([" ", "\n", "\n\n", " ; "])), max_size=4))
def test_generated_programs_format_stably(blocks):
    source = "\n".join(f"{kind} {name} {{{sep}{sep.join(entries)}{sep}}}"
                       for kind, name, entries, sep in blocks)
    first = format_source(source, "g.fit")
    if first.diagnostics:
        return  # random `;` placement can be a syntax error; the parser tests cover those
    second = format_source(first.text, "g.fit")
    assert second.text == first.text
    assert parse_source(first.text, "g.fit").module.decls == parse_source(source, "g.fit").module.decls


def test_blank_lines_around_comments_are_kept():
    source = ("# header\n\n# second paragraph\n\nimport \"std/accelerators\"\n\n# about p\n\n"
              "pool p {\n  # first\n\n  count = 1\n}\n")
    result = format_source(source, "c.fit")
    assert result.text == source


def test_block_comments_keep_their_inner_text_as_written():
    source = ("pool p {\n  /* a table:\n       a   1\n       bb  2\n  */\n  count = 1\n  cpu = 4\n"
              "  memory = 8Gi\n}\n")
    result = format_source(source, "p.fit")
    assert result.diagnostics == []
    assert result.text == source
    assert format_source(result.text, "p.fit").text == source


@pytest.mark.parametrize("path", policies(EXAMPLES)[:6] + [STDLIB / "accelerators.fit"],
                         ids=lambda p: p.name)
def test_formatting_with_the_editors_caches_equals_formatting_afresh(path):
    """The language server formats through caches (parses that reuse unchanged
    declarations, the lines each declaration was printed as, the declarations already
    compared): after random edits to layout, comments and values, the text is the one
    `format_source` gives without them."""
    import random

    from fitlang.lsp.incremental import ParseCache
    from fitlang.syntax.formatter import FormatCache

    rng = random.Random(path.name)
    edited, formatted, cache = ParseCache(), ParseCache(), FormatCache()
    text = path.read_text()
    for _ in range(30):
        position = rng.randrange(len(text) + 1)
        line_end = text.find("\n", position)
        line_end = len(text) if line_end < 0 else line_end
        insert = rng.choice(["  ", "\n", "\n\n", " # note", "# top\n", " /* a\n b */ ", "1",
                             "pool x {} ", " // end", "\n  count = 2\n"])
        if rng.random() < 0.3:
            text = text[:line_end] + insert + text[line_end:]  # at the end of a line
        elif rng.random() < 0.7:
            text = text[:position] + insert + text[position:]
        else:
            text = text[:position] + text[position + rng.randint(1, 3):]
        want = format_source(text, "x.fit")
        got = format_source(text, "x.fit", edited.parse, formatted.parse, cache)
        assert (got.text, got.diagnostics) == (want.text, want.diagnostics)
        if not want.diagnostics and rng.random() < 0.3:
            text = want.text  # as after formatting in the editor
