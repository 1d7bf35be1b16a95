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
    assert (repo / "shop.fit").read_text() == unformatted.replace("    replicas", "  replicas").replace(
        "}\nworkload", "}\n\nworkload")  # as `fitc fmt` lays it out
    shutil.rmtree(tmp_path / "cache", ignore_errors=True)


def test_hook_definitions_run_fitc_on_fit_files():
    hooks = {h["id"]: h for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert set(hooks) == {"fitc-fmt", "fitc-check", "fitc-test"}
    assert all(h["language"] == "python" and h["files"] == r"\.fit$" for h in hooks.values())
    assert [hooks[i]["entry"] for i in ("fitc-fmt", "fitc-check", "fitc-test")] == [
        "fitc fmt", "fitc check", "fitc test"]
    assert hooks["fitc-test"]["pass_filenames"] is False  # tests run whole, whichever file changed


def _expressions(text: str, inputs: dict[str, str], action_path: str) -> str:
    """What the runner makes of `${{ inputs.X }}` and `${{ github.action_path }}` in a value."""
    import re

    def value(match: re.Match) -> str:
        name = match.group(1).strip()
        return action_path if name == "github.action_path" else inputs[name.removeprefix("inputs.")]

    return re.sub(r"\$\{\{\s*([^}]+?)\s*\}\}", value, text)


def run_action(workspace: Path, given: dict[str, str]) -> list[tuple[str, int, str]]:
    """The action's steps as the runner runs them: each `run` script in bash with its `env`
    (expressions evaluated into environment variables, never into the script); `uses` steps
    and the install (this venv's fitc is on PATH instead) skipped; `if: inputs.X != ''` obeyed."""
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = {name: str(spec.get("default", "")) for name, spec in action["inputs"].items()} | given
    ran = []
    for step in action["runs"]["steps"]:
        if "run" not in step or step.get("name") == "Install fitc":
            continue
        assert "${{" not in step["run"], "an expression pasted into a script is an injection"
        condition = step.get("if")
        if condition is not None:
            name = condition.split("inputs.")[1].split()[0]
            assert condition == f"inputs.{name} != ''" and step["shell"] == "bash"
            if inputs[name] == "":
                continue
        env = {key: _expressions(str(value), inputs, str(ROOT))
               for key, value in step.get("env", {}).items()}
        path = f"{Path(sys.executable).parent}:{os.environ['PATH']}"
        done = subprocess.run(["bash", "-e", "-c", step["run"]], cwd=workspace, capture_output=True,
                              text=True, env={**os.environ, "PATH": path, **env}, timeout=300)
        ran.append((step["name"], done.returncode, done.stdout + done.stderr))
    return ran


def test_the_action_checks_tests_and_drift_checks_a_workspace(tmp_path, fitc):
    workspace = tmp_path / "repo"
    (workspace / "policies").mkdir(parents=True)
    policy = ("pool p {\n  count = 2\n  cpu = 2\n  memory = 8Gi\n  price = 1 USD/h\n}\n"
              "workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  image = \"nginx\"\n}\n")
    (workspace / "policies" / "shop.fit").write_text(policy)
    (workspace / "policies" / "shop_test.fit").write_text(
        "test t {\n  expect {\n    max_cost = 1 USD/h\n  }\n}\n")
    assert fitc("compile", "policies/shop.fit", "--target", "kubernetes", "--out", "deploy",
                cwd=workspace).returncode == 0
    given = {"paths": "policies", "compile": "policies/shop.fit", "out": "deploy"}
    assert [(name, code) for name, code, _ in run_action(workspace, given)] == [
        ("fitc check", 0), ("fitc test", 0), ("fitc compile --check", 0)]
    (workspace / "policies" / "shop.fit").write_text(policy.replace("replicas = 1", "replicas = 3"))
    (workspace / "policies" / "bad.fit").write_text("pool q {\n  count = -1\n}\n")
    ran = {name: (code, out) for name, code, out in run_action(workspace, given)}
    assert ran["fitc check"][0] == 1
    assert "::error file=policies/bad.fit,line=2,col=11," in ran["fitc check"][1]
    # three replicas of 1 CPU need both 2-CPU nodes (2.00 USD/h): the test's 1 USD/h fails
    assert ran["fitc test"][0] == 1 and "::error file=policies/shop_test.fit,line=3" in ran["fitc test"][1]
    assert ran["fitc compile --check"][0] == 1 and "+++ deploy/" in ran["fitc compile --check"][1]


def test_action_inputs_are_data_not_code(tmp_path):
    workspace = tmp_path / "repo"
    workspace.mkdir()
    hostile = '$(touch pwned) "; touch pwned2; echo "`touch pwned3`'
    ran = run_action(workspace, {"paths": hostile})
    assert ran[0][0] == "fitc check" and ran[0][1] == 2  # no such paths: a usage error
    assert not [p for p in workspace.iterdir() if p.name.startswith("pwned")]
