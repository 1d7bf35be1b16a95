"""YAML output through PyYAML, with strings quoted wherever any YAML reader could take them
for something else.

PyYAML quotes what YAML 1.1 would read as a bool, null or number (`yes`, `on`,
`0x10`, `~`), but not what YAML 1.2 reads as a number (`1e3`, `.inf`, `0o17`),
and Kubernetes' go-yaml does read those as numbers. Those are double-quoted too.

Documents are written by libyaml's C emitter (`yaml.CSafeDumper`, ~20 times faster) where PyYAML
has it and where its bytes are the pure-Python emitter's (`_libyaml_writes_alike`), else by the
Python `SafeDumper`: the output never depends on whether libyaml is installed. The two differ
(found by tests/test_yaml_out.py's generated documents) on characters beyond U+FFFF, which
libyaml escapes and Python writes plain; on the empty key (`? ""` against `"":`); and on keys
of 123-128 characters or bytes, where the two disagree on when a key is written `? key`.
Controls, tabs and the BOM were not seen to differ, but go to the Python emitter too: only
what the tests give libyaml on its own is trusted to it.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import yaml

_YAML12_SPECIAL = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|"
    r"\.(?:nan|NaN|NAN)|0o[0-7]+|0x[0-9a-fA-F]+|[0-9][0-9_:]*|null|Null|NULL|~|true|True|TRUE|"
    r"false|False|FALSE|y|Y|n|N|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|=|<<)$")
_LINE_BREAK = re.compile("[\n\x85\u2028\u2029]")
# characters both emitters treat alike: printable ASCII, the line feed, and the Basic
# Multilingual Plane's printable characters but for the line and paragraph separators and BOM
_ALIKE = re.compile(r"[\n\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd]*")
# a key is written `key:` up to 128 bytes by libyaml; by Python below 128 characters counting
# its tag, `!!str`, though it writes no tag: 122 characters
_SIMPLE_KEY_BYTES = 128
_SIMPLE_KEY_CHARACTERS = 128 - len("!!str") - 1
_OPTIONS: dict[str, Any] = {"sort_keys": False, "default_flow_style": False,
                            "allow_unicode": True, "width": 1_000_000}


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _YAML12_SPECIAL.match(value) or value == "":
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if _LINE_BREAK.search(value):  # in double quotes, escaped: PyYAML writes NEL, U+2028 and
        # U+2029 raw within single quotes, where a reader folds them into a space
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


@cache
def _dumper(libyaml: bool) -> type[yaml.SafeDumper]:
    """PyYAML's safe dumper (libyaml's, or the pure-Python one) with `_string` for strings (made
    on first use: PyYAML is imported only where YAML is written, not by every command that
    loads the targets)."""
    import yaml

    base = yaml.CSafeDumper if libyaml else yaml.SafeDumper

    class Dumper(base):  # type: ignore[valid-type, misc]
        pass

    Dumper.add_representer(str, _string)
    return Dumper


def _libyaml_writes_alike(value: object) -> bool:
    """Whether libyaml writes `value` byte for byte as the Python emitter does."""
    if isinstance(value, str):
        return _ALIKE.fullmatch(value) is not None
    if isinstance(value, dict):
        return all(_key_alike(key) and _libyaml_writes_alike(item) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return all(_libyaml_writes_alike(item) for item in value)
    return value is None or isinstance(value, (bool, int, float))


def _key_alike(key: object) -> bool:
    if isinstance(key, str):
        simple_in_python = len(key) <= _SIMPLE_KEY_CHARACTERS
        simple_in_libyaml = len(key.encode()) <= _SIMPLE_KEY_BYTES
        return key != "" and simple_in_python == simple_in_libyaml and _libyaml_writes_alike(key)
    return key is None or isinstance(key, bool) or (isinstance(key, int) and abs(key) < 10 ** 100)


def _emit(document: object, explicit_start: bool) -> str:
    import yaml

    libyaml = yaml.__with_libyaml__ and _libyaml_writes_alike(document)
    return yaml.dump(document, Dumper=_dumper(libyaml), explicit_start=explicit_start, **_OPTIONS)


def dump_all(documents: list[dict]) -> str:
    """Each document after `---`; document by document, so one hostile string sends only its
    own document to the Python emitter."""
    return "".join(_emit(document, True) for document in documents)


def dump(document: dict) -> str:
    return _emit(document, False)
