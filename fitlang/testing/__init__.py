"""`fitc test`: tests of policies, written in fit beside them (`*_test.fit`).

`cases` reads a test file into cases, `overrides` makes a case's changes to its policy,
`runner` runs a case through the driver and compares what came out with what it expects,
`report` shows the results (human, json, junit, github), `suite` reads test files and runs
their cases. This module stays light (no driver, no solver): `fitc` imports it on every run.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

TEST_SUFFIX = "_test.fit"


def is_test_file(path: Path) -> bool:
    return path.name.endswith(TEST_SUFFIX)


def test_files(paths: Iterable[Path]) -> list[Path]:
    """Test files as given, and every `*_test.fit` below the directories given, sorted."""
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob(f"*{TEST_SUFFIX}") if p.is_file()))
        elif path.is_file():
            files.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or directory")
    return files


test_files.__test__ = False  # type: ignore[attr-defined]  # not a pytest test, whatever its name


__all__ = ["TEST_SUFFIX", "is_test_file", "test_files"]
