"""The Slurm target: sbatch scripts that a real Slurm accepts (`sbatch --test-only` against
slurmctld + one slurmd per node on localhost), shell quoting of hostile strings, and a
control showing that the check can fail."""

from __future__ import annotations

import subprocess

import pytest

from compiling import context_for, render
from conftest import FIXTURES
from slurm_cluster import start_cluster

FIXTURE = FIXTURES / "targets" / "gpu-cluster.fit"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    context = context_for(FIXTURE)
    directory = tmp_path_factory.mktemp("slurm")
    running = start_cluster(context.problem, directory, ["gpu"])
    yield running
    running.shutdown()


def test_every_script_passes_sbatch_test_only(cluster, tmp_path):
    _, files = render(FIXTURE, "slurm")
    assert sorted(files) == ["trainer.sbatch", "web.sbatch"]
    for name, text in files.items():
        script = tmp_path / name
        script.write_text(text)
        result = cluster.sbatch_test_only(script)
        assert result.returncode == 0, (name, result.stderr)
        assert "to start at" in result.stderr


def test_a_script_asking_for_a_missing_feature_is_rejected(cluster, tmp_path):
    _, files = render(FIXTURE, "slurm")
    assert "#SBATCH --constraint=avx512&cpu" in files["web.sbatch"]
    text = files["web.sbatch"].replace("--constraint=avx512&cpu", "--constraint=no_such_feature")
    script = tmp_path / "bad.sbatch"
    script.write_text(text)
    result = cluster.sbatch_test_only(script)
    assert result.returncode != 0
    assert "Invalid feature specification" in result.stderr


def test_script_headers_follow_the_placement():
    context, files = render(FIXTURE, "slurm")
    trainer = files["trainer.sbatch"]
    nodes = sorted({a.node for a in context.placement.assignments if a.workload == "trainer"})
    assert f"#SBATCH --nodelist={','.join(nodes)}" in trainer
    assert "#SBATCH --nodes=2" in trainer and "#SBATCH --ntasks-per-node=1" in trainer
    assert "#SBATCH --gres=gpu:h100:8" in trainer and "#SBATCH --time=1-00:00:00" in trainer
    assert "#SBATCH --cpus-per-task=32" in trainer and "#SBATCH --mem=262144M" in trainer


def test_hostile_command_words_are_shell_quoted(tmp_path):
    hostile = ["a'b", 'a"b', "$(touch /tmp/pwned)", "${HOME}", "`id`", "x; rm -rf /", "new\nline", "*"]
    words = ", ".join('"' + w.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
                      for w in hostile)
    path = tmp_path / "h.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    f'workload w {{\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  command = [{words}]\n'
                    '  env = { GREETING: "$(whoami) `id` \'q\'" }\n}\n')
    _, files = render(path, "slurm")
    script = files["w.sbatch"]
    # run the script's own env and srun lines in bash, with srun replaced by a printer
    body = script[script.index("export GREETING"):]
    fake = "srun() { printf '%s\\0' \"$@\"; }\n"
    ran = subprocess.run(["bash", "-c", fake + body + '\nprintf %s "$GREETING"'],
                         capture_output=True, text=True)
    *words, greeting = ran.stdout.split("\0")
    assert words == hostile
    assert greeting == "$(whoami) `id` 'q'"
    assert not __import__("os").path.exists("/tmp/pwned")


def test_invalid_partition_is_refused(tmp_path):
    from fitlang.targets import TARGETS

    path = tmp_path / "p.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  command = ["true"]\n}\n'
                    'policy {\n  slurm {\n    partition = "gpu --uid=0"\n  }\n}\n')
    needs = TARGETS["slurm"]().problems(context_for(path))
    assert [n.message for n in needs] == ["slurm partition 'gpu --uid=0' is not a Slurm name (letters, "
                                          "digits, `_.-`)"]
