"""ruff finds nothing in fitlang/, tests/, bench/ and tools/; mypy nothing in fitlang/ (issue 17,
"Habits").

Both run from this interpreter's environment (the `dev` extra) with the configuration in
pyproject.toml, exactly as the pre-commit hooks run them. mypy checks all of `fitlang/` (its
`files` setting: a module's errors can come from how another one calls it); the findings
asserted on are those in CLEAN.
"""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import ROOT

# every module of the package, the tests, the benchmarks and the tools: none may have a ruff
# finding (mypy checks the package: its `files` setting)
CLEAN = ["fitlang", "tests", "bench", "tools"]

# `path:line: severity: message`, mypy's format (and ruff's `concise` one: `path:line:col: code ...`)
MYPY_LINE = re.compile(r"^(?P<path>[^:\s]+\.py):\d+: (?P<severity>error|note|warning): ")


def _run(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *arguments], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def _in_clean(path: str) -> bool:
    return any(path == entry or path.startswith(entry.rstrip("/") + "/") for entry in CLEAN)


def test_every_clean_entry_exists():
    # a module renamed or moved away would otherwise leave its entry checking nothing
    assert [entry for entry in CLEAN if not (ROOT / entry).exists()] == []


def test_ruff_finds_nothing_in_clean_modules():
    result = _run("ruff", "check", "--output-format", "concise", *CLEAN)
    assert result.returncode == 0, f"ruff findings:\n{result.stdout}{result.stderr}"
    assert "All checks passed!" in result.stdout


def test_mypy_finds_nothing_in_clean_modules():
    result = _run("mypy")
    assert result.returncode in (0, 1), f"mypy did not run:\n{result.stdout}{result.stderr}"
    lines = result.stdout.splitlines()
    summary = (r"Success: no issues found in \d+ source files?"
               r"|Found \d+ errors? in \d+ files? \(checked \d+ source files?\)")
    assert lines and re.fullmatch(summary, lines[-1]), result.stdout[-2000:] + result.stderr
    found = [line for line in lines
             if (match := MYPY_LINE.match(line)) and _in_clean(match["path"])]
    assert not any(": error: " in line for line in found), "mypy findings:\n" + "\n".join(found)


def test_the_checks_report_a_planted_finding(tmp_path):
    # the two commands above, on a module with an unused import and a wrong return type,
    # report both: a clean run means clean code, not a command that checks nothing
    planted = tmp_path / "planted.py"
    planted.write_text("import os\n\n\ndef count() -> int:\n    return None\n")
    ruff = _run("ruff", "check", "--output-format", "concise", "--no-cache", str(planted))
    assert ruff.returncode == 1 and ":1:8: F401 " in ruff.stdout, ruff.stdout + ruff.stderr
    mypy = _run("mypy", "--cache-dir", str(tmp_path / "cache"), str(planted))
    assert mypy.returncode == 1, mypy.stdout + mypy.stderr
    assert [m["path"].rsplit("/", 1)[-1] for line in mypy.stdout.splitlines()
            if (m := MYPY_LINE.match(line)) and m["severity"] == "error"] == ["planted.py"], mypy.stdout
    assert "[return-value]" in mypy.stdout
