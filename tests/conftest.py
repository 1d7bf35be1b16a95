from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import fitlang.targets  # noqa: F401  (the targets declare their `policy` settings blocks)

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"
STDLIB = ROOT / "stdlib"


def run_fitc(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the real command line, as users and CI do."""
    return subprocess.run([sys.executable, "-m", "fitlang.cli", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, input=stdin, timeout=120)


@pytest.fixture
def fitc():
    return run_fitc
