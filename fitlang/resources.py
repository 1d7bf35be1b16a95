"""Where the grammar and the standard library live, installed or in a checkout.

A wheel carries them under `fitlang/_data/` (see pyproject's force-include);
a source checkout or an editable install reads the top-level folders.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def _data(name: str) -> Path:
    installed = _PACKAGE / "_data" / name
    return installed if installed.exists() else _PACKAGE.parent / name


def grammar_path() -> Path:
    return _data("grammar") / "fit.lark"


def stdlib_dir() -> Path:
    return _data("stdlib")
