"""The YAML every target writes is the same bytes whether libyaml's C emitter or PyYAML's
pure-Python one writes it (`fitlang/targets/yaml_out.py`): the reference is PyYAML's Python
`SafeDumper` with the project's string style, run on the same documents. Generated hostile
documents (quotes, line breaks, `$(...)`, `${...}`, YAML 1.1 booleans, numbers as strings, empty
and long keys, characters beyond U+FFFF, controls) and every example's Kubernetes output (compile,
`compile --current`, `plan`) are compared byte for byte."""

from __future__ import annotations

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlang.driver import Compilation
from fitlang.targets import yaml_out

from conftest import EXAMPLES, policies

pytestmark = pytest.mark.skipif(not yaml.__with_libyaml__, reason="PyYAML without libyaml")

OPTIONS = {"sort_keys": False, "default_flow_style": False, "allow_unicode": True,
           "width": 1_000_000}


def python_reference(documents: list, explicit_start: bool = True) -> str:
    """What the pure-Python emitter writes: the bytes the output must have either way."""
    return yaml.dump_all(documents, Dumper=yaml_out._dumper(False), explicit_start=explicit_start,
                         **OPTIONS)


def libyaml_alone(documents: list) -> str:
    return yaml.dump_all(documents, Dumper=yaml_out._dumper(True), explicit_start=True, **OPTIONS)


HOSTILE_WORDS = ["on", "yes", "no", "off", "y", "N", "true", "null", "~", "1e3", "0o17", "0x1F",
                 ".inf", "-.5", "010", "1_000", "12:30", "=", "<<", "", " lead", "trail ", "a: b",
                 "a #b", "#c", "- x", "? q", "'", '"', "\\", "$(id)", "${HOME}", "`uname`",
                 "a\nb", "\n", "x\r\ny", "tab\there", "é", "日本", "😀", "\u2028", "\x85", "\ufeff",
                 "\x00", "\x7f", "%x", "@x", "!x", "&a", "*a", "|", ">", "{a}", "[b]", ",", "-",
                 "x" * 122, "x" * 123, "x" * 128, "x" * 129, "é" * 64, "word " * 400]
words = st.sampled_from(HOSTILE_WORDS)
hostile_text = st.one_of(words, st.text(max_size=40),
                         st.lists(st.one_of(words, st.text(max_size=8)), max_size=6).map("".join))
scalars = st.one_of(hostile_text, st.integers(), st.booleans(), st.none(),
                    st.floats(allow_nan=False))
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                      | st.dictionaries(hostile_text, inner, max_size=4), max_leaves=12)
documents = st.lists(st.dictionaries(hostile_text, values, max_size=5), min_size=1, max_size=3)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(documents)
def test_generated_hostile_documents_are_written_as_the_python_emitter_writes_them(docs):
    assert yaml_out.dump_all(docs) == python_reference(docs)
    assert yaml_out.dump(docs[0]) == python_reference(docs[:1], explicit_start=False)
    assert list(yaml.safe_load_all(yaml_out.dump_all(docs))) == docs  # read back as written


# the characters libyaml writes as Python does (no controls, nothing beyond U+FFFF): here the
# C emitter writes the documents itself, and must match without the fallback
alike_text = st.one_of(
    st.sampled_from([w for w in HOSTILE_WORDS if yaml_out._libyaml_writes_alike(w)]),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFFFD,
                          blacklist_categories=("Cs", "Cc")).filter(yaml_out._libyaml_writes_alike)
            | st.just("\n"), max_size=40))
alike_values = st.recursive(st.one_of(alike_text, st.integers(), st.booleans(), st.none()),
                            lambda inner: st.lists(inner, max_size=4)
                            | st.dictionaries(alike_text.filter(yaml_out._key_alike), inner,
                                              max_size=4), max_leaves=12)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.dictionaries(alike_text.filter(yaml_out._key_alike), alike_values, max_size=5),
                min_size=1, max_size=3))
def test_libyaml_itself_writes_what_it_is_given_as_the_python_emitter_does(docs):
    assert all(yaml_out._libyaml_writes_alike(d) for d in docs)
    assert libyaml_alone(docs) == python_reference(docs)
    assert list(yaml.safe_load_all(yaml_out.dump_all(docs))) == docs


@pytest.mark.parametrize("text", ["\x85", "a\x85b", "x\u2028y", "\u2029"])
def test_line_separators_are_escaped_and_read_back_as_written(text):
    # PyYAML on its own writes them raw within single quotes, and reads them back as a space
    written = yaml_out.dump({"k": text})
    assert written.isascii() and yaml.safe_load(written) == {"k": text}


@pytest.mark.parametrize("document", [
    {"": "empty key"},  # Python `? ""`, libyaml `"":`
    {"x" * 123: 1},  # Python writes `? key` from 123 characters, libyaml above 128 bytes
    {"é" * 64 + "x": 1},  # 65 characters, 129 bytes
    {"smile": "😀"},  # beyond U+FFFF: libyaml escapes it, Python writes it plain
    {"😀 key": 1},  # likewise in a key
])
def test_the_documents_libyaml_writes_otherwise_go_to_the_python_emitter(document):
    assert libyaml_alone([document]) != python_reference([document])  # why the fallback exists
    assert not yaml_out._libyaml_writes_alike(document)
    assert yaml_out.dump_all([document]) == python_reference([document])


class Recorder:
    """Wraps `yaml_out._emit`: every document the targets write, with the text written."""

    def __init__(self, emit) -> None:
        self.emit = emit
        self.written: list[tuple[object, bool, str]] = []

    def __call__(self, document, explicit_start: bool) -> str:
        text = self.emit(document, explicit_start)
        self.written.append((document, explicit_start, text))
        return text


def _kubernetes_outputs(path):
    from fitlang.plan import make_plan
    from fitlang.targets.waves import render_plan

    state = path.with_name(path.stem + "-state.json")
    current = str(state) if state.exists() else None
    compilation = Compilation(path, current=current)
    if compilation.problem is None:
        return
    compilation.compile(["kubernetes"])
    if current is not None:
        Compilation(path).compile(["kubernetes"])  # and without the state
        result = make_plan(compilation, compilation.current_state())
        render_plan(result, compilation.check().program, ["kubernetes"])


def test_every_examples_kubernetes_files_are_the_python_emitters_bytes(monkeypatch):
    recorder = Recorder(yaml_out._emit)
    monkeypatch.setattr(yaml_out, "_emit", recorder)
    for path in policies(EXAMPLES):
        _kubernetes_outputs(path)
    assert len(recorder.written) > 100  # every example but the refused ones wrote YAML
    through_libyaml = 0
    for document, explicit_start, text in recorder.written:
        assert text == python_reference([document], explicit_start)
        through_libyaml += yaml_out._libyaml_writes_alike(document)
    assert through_libyaml == len(recorder.written)  # the examples need no fallback


def test_objects_shared_within_a_document_get_the_same_anchors_either_way():
    labels, words = {"app": "web"}, ["a", "b"]
    docs = [{"m": {"labels": labels}, "s": {"sel": labels, "x": words, "y": [words, labels]}},
            {"again": labels}]
    written = yaml_out.dump_all(docs)
    assert "&id001" in written and written == python_reference(docs) == libyaml_alone(docs)
    assert list(yaml.safe_load_all(written)) == docs
