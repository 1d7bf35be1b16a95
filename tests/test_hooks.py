"""The pre-commit hooks (`.pre-commit-hooks.yaml`) and the GitHub Action (`action.yml`),
exercised as their users run them: `pre-commit try-repo` on a scratch repository installs fitc
from this checkout the way `repo: https://github.com/fitlang/fitlang` would, and runs each hook."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t", *args],
                   check=True, capture_output=True)


@pytest.mark.skipif(not PRE_COMMIT.exists() or not (ROOT / ".git").exists(),
                    reason="needs the pre-commit tool (dev extra) and a git checkout")
def test_pre_commit_hooks_format_check_and_test_a_scratch_repository(tmp_path):
    repo = tmp_path / "policies"
    repo.mkdir()
    (repo / "bad.fit").write_text("pool p {\n  count = -1\n}\n")
    unformatted = ("pool p {\n  count = 1\n  cpu = 2\n  memory = 8Gi\n  price = 1 USD/h\n}\n"
                   "workload w {\n    replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n")
    (repo / "shop.fit").write_text(unformatted)
    # one node of 1.00 USD/h runs `w`: the test's 0.50 fails
    (repo / "shop_test.fit").write_text("test t {\n  expect {\n    max_cost = 0.5 USD/h\n  }\n}\n")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    env = {**os.environ, "PRE_COMMIT_HOME": str(tmp_path / "cache")}
    done = subprocess.run([str(PRE_COMMIT), "try-repo", str(ROOT), "--all-files", "--color", "never"],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=900)
    out = done.stdout
    assert done.returncode == 1, out + done.stderr
    sections = {line.split(".")[0]: line.rsplit(".", 1)[1] for line in out.splitlines()
                if line.startswith("fitc ") and "..." in line}
    assert sections == {"fitc check": "Failed", "fitc fmt": "Failed", "fitc test": "Failed"}
    assert "bad.fit:2:11: error[E0303]" in out and "shop.fit" not in out.split("fitc fmt")[0]
    assert "shop_test.fit:3:5: error[E0710]" in out
    assert (repo / "shop.fit").read_text() == unformatted.replace("    replicas", "  replicas")
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)


def test_hook_definitions_run_fitc_on_fit_files():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"fitc-fmt", "fitc-check", "fitc-test"}
    assert all(h["language"] == "python" and h["files"] == r"\.fit$" for h in hooks.values())
    assert [hooks[i]["entry"] for i in ("fitc-fmt", "fitc-check", "fitc-test")] == [
        "fitc fmt", "fitc check", "fitc test"]
    assert hooks["fitc-test"]["pass_filenames"] is False  # tests run whole, whichever file changed
