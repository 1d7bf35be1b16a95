"""YAML output through PyYAML, with strings quoted wherever any YAML reader could take them
for something else.

PyYAML quotes what YAML 1.1 would read as a bool, null or number (`yes`, `on`,
`0x10`, `~`), but not what YAML 1.2 reads as a number (`1e3`, `.inf`, `0o17`),
and Kubernetes' go-yaml does read those as numbers. Those are double-quoted too.
"""

from __future__ import annotations

import re
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import yaml

_YAML12_SPECIAL = re.compile(
    r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|[-+]?\.(?:inf|Inf|INF)|"
    r"\.(?:nan|NaN|NAN)|0o[0-7]+|0x[0-9a-fA-F]+|[0-9][0-9_:]*|null|Null|NULL|~|true|True|TRUE|"
    r"false|False|FALSE|y|Y|n|N|yes|Yes|YES|no|No|NO|on|On|ON|off|Off|OFF|=|<<)$")


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    if _YAML12_SPECIAL.match(value) or value == "":
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


@cache
def _dumper() -> type[yaml.SafeDumper]:
    """PyYAML's safe dumper with `_string` for strings (made on first use: PyYAML is imported
    only where YAML is written, not by every command that loads the targets)."""
    import yaml

    class Dumper(yaml.SafeDumper):
        pass

    Dumper.add_representer(str, _string)
    return Dumper


def dump_all(documents: list[dict]) -> str:
    import yaml

    return yaml.dump_all(documents, Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                         allow_unicode=True, width=1_000_000, explicit_start=True)


def dump(document: dict) -> str:
    import yaml

    return yaml.dump(document, Dumper=_dumper(), sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1_000_000)
