"""The targets for recurring and preemptible jobs (issue 19, "Output"): Slurm job arrays (a task
per run, each given its run's start, deadline and nodes) and chained segment jobs, checked on a
real Slurm (`scontrol show job` against the solved starts); Kubernetes CronJobs where one
schedule fires at exactly the solved starts, else suspended Jobs per run (W0953), a Job per
segment (W0952); the timeline's carbon per day; the plot's per-step caps. Outcomes are worked
out by hand in each policy's comment."""

from __future__ import annotations

import datetime
import shlex
import subprocess
import xml.etree.ElementTree as ElementTree
from fractions import Fraction
from pathlib import Path

import pytest
import yaml

from fitlang.driver import Compilation
from fitlang.targets import TARGETS, CompileContext

from conftest import EXAMPLES
from slurm_cluster import real_slurm, start_cluster

# A nightly job released at 01:00 UTC, done within 6 h (its window 01:00-07:00 each day), 2 h
# long. Electricity repeats every 6 hours: 0.30, 0.30, 0.10, 0.10, 0.30, 0.30 USD/kWh, so the
# only two cheap hours in each window are 02:00-04:00. By hand: three runs, each 02:00-04:00 on
# 2027-03-01, -02, -03, due 07:00 the same day.
RECUR = """
pool cpu {
  count = 2
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  power = 1kW
}

electricity grid {
  hourly = [0.30 USD/kWh, 0.30 USD/kWh, 0.10 USD/kWh, 0.10 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh]
}

workload nightly_etl {
  kind = job
  replicas = 1
  cpu = 16
  memory = 64GiB
  duration = 2h
  every = "0 1 * * *"
  within = 6h
  image = "registry.example.com/etl:1"
  command = COMMAND
}

policy {
  objective = cost
  horizon = 3d
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""
SAFE_COMMAND = '["python", "etl.py"]'
# $(...), ${...}, backquotes, quotes and a newline: none may reach a shell unquoted
HOSTILE = ['sh', '-c', 'echo "$(id)" \'${HOME}\' `uname`; x\ny']
RUN_STARTS = ["2027-03-01T02:00:00", "2027-03-02T02:00:00", "2027-03-03T02:00:00"]
RUN_DEADLINES = ["2027-03-01T07:00:00", "2027-03-02T07:00:00", "2027-03-03T07:00:00"]

# A preemptible job of 4 h in segments of at least 2 h, due at 08:00, on one node. Electricity:
# 0.10 USD/kWh at 00-02 and 04-06, 0.50 at 02-04 and 06-08. By hand: two segments, 00:00-02:00
# and 04:00-06:00 (the four cheap hours; unbroken it would pay two dear ones).
PREEMPT = """
pool cpu {
  count = 1
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  power = 1kW
}

electricity grid {
  hourly = [0.10 USD/kWh, 0.10 USD/kWh, 0.50 USD/kWh, 0.50 USD/kWh, 0.10 USD/kWh, 0.10 USD/kWh,
            0.50 USD/kWh, 0.50 USD/kWh]
}

workload finetune {
  kind = job
  replicas = 1
  cpu = 32
  memory = 128GiB
  duration = 4h
  deadline = 8h
  preemptible = true
  min_segment = 2h
  image = "registry.example.com/ft:1"
  command = ["python", "ft.py"]
}

policy {
  objective = cost
  horizon = 8h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""

# Every 24 h from 01:00, within 6 h; electricity 0.30 USD/kWh but for 02:00-04:00 on the first
# day and 03:00-05:00 on the second (0.10). By hand: runs at 02:00 on 03-01 and 03:00 on 03-02,
# a different offset from each release: no cron schedule fires at exactly these two.
SHIFTING = """
pool cpu {
  count = 1
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  power = 1kW
}

electricity grid {
  hourly = [HOURLY]
}

workload nightly_etl {
  kind = job
  replicas = 1
  cpu = 16
  memory = 64GiB
  duration = 2h
  earliest = 1h
  every = 24h
  within = 6h
  image = "registry.example.com/etl:1"
  command = ["python", "etl.py"]
}

policy {
  objective = cost
  horizon = 2d
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""
CHEAP_STEPS = {2, 3, 27, 28}


def _policy(tmp_path: Path, text: str, name: str = "p.fit") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _recur(tmp_path: Path, command: str = SAFE_COMMAND) -> Path:
    return _policy(tmp_path, RECUR.replace("COMMAND", command))


def _shifting(tmp_path: Path) -> Path:
    hourly = ", ".join("0.10 USD/kWh" if s in CHEAP_STEPS else "0.30 USD/kWh" for s in range(48))
    return _policy(tmp_path, SHIFTING.replace("HOURLY", hourly))


def _compile(path: Path, target: str):
    compilation = Compilation(path)
    compiled = compilation.compile([target])
    context = CompileContext(compilation.check().program, compilation.problem, compilation.solve())
    return compiled, context


def _codes(compiled) -> set[str]:
    return {d.code for d in compiled.diagnostics}


def _solved(context: CompileContext) -> list[tuple[str, str, str]]:
    """(node, start, end) of each run in the placement, in UTC, in start order."""
    timeline = context.problem.timeline
    origin = timeline.start.timestamp()

    def at(step: int) -> str:
        from datetime import UTC, datetime

        moment = datetime.fromtimestamp(origin + step * timeline.step_seconds, UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S")
    return sorted(((a.node, at(a.start), at(a.end)) for a in context.placement.assignments),
                  key=lambda r: r[1])


def _fidelity(target: str, context: CompileContext, files: dict[str, str]) -> list[str]:
    return [d.message for d in TARGETS[target]().fidelity(context, files)]


# ---- Slurm: a job array for recurring runs ----------------------------------------------------


def test_recurring_runs_are_one_held_array_and_a_submit_script(tmp_path):
    compiled, context = _compile(_recur(tmp_path), "slurm")
    assert not [d for d in compiled.diagnostics if d.code.startswith("E")], compiled.diagnostics
    assert [start for _, start, _ in _solved(context)] == RUN_STARTS  # by hand
    script = compiled.files["nightly-etl-3a8301.sbatch"]
    assert "#SBATCH --array=0-2\n" in script and "#SBATCH --hold\n" in script
    assert f"#SBATCH --begin={RUN_STARTS[0]}\n" in script
    assert f"#SBATCH --deadline={RUN_DEADLINES[0]}\n" in script
    assert "#SBATCH --time=02:00:00\n" in script
    submit = compiled.files["nightly-etl-3a8301.submit.sh"]
    for task in (1, 2):
        assert (f'scontrol update JobId="${{id}}_{task}" StartTime={RUN_STARTS[task]} '
                f"Deadline={RUN_DEADLINES[task]}") in submit
    assert submit.rstrip().endswith('scontrol release "$id"')
    assert _fidelity("slurm", context, compiled.files) == []


# bench/differential_time.py --targets seed 37732: a recurring job of 2 replicas, each a whole
# node, whose second run moves to other nodes (`NodeList=p0-0,p0-1` in the submit script)
TWO_NODE_RUNS = """
pool p0 {
  count = 3
  cpu = 8
  memory = 32GiB
  power = 2000W
  price = 0.00 USD/h
  labels = { site: "s" }
}
workload j0 {
  image = "img/j0"
  command = ["j0"]
  replicas = 1
  cpu = 2
  memory = 4GiB
  kind = job
  duration = 2h
  deadline = 4h
}
workload j1 {
  image = "img/j1"
  command = ["j1"]
  replicas = 2
  cpu = 8
  memory = 16GiB
  kind = job
  duration = 2h
  earliest = 1h
  every = 3h
}
workload j2 {
  image = "img/j2"
  command = ["j2"]
  replicas = 2
  cpu = 2
  memory = 16GiB
  kind = job
  duration = 3h
  earliest = 1h
  deadline = 4h
}
electricity grid {
  labels = { site: "s" }
  hourly = [0.10 USD/kWh, 0.40 USD/kWh, 0.20 USD/kWh, 0.10 USD/kWh, 0.40 USD/kWh, 0.10 USD/kWh, 0.40 USD/kWh]
}
policy {
  horizon = 7h
  step = 1h
  start = "2026-12-01T00:00Z"
  objective = makespan
}
"""


def test_an_array_task_moved_to_several_nodes_is_read_back(tmp_path):
    # the read-back took each node's task count from a set it emptied at the first node: a
    # KeyError where a task's NodeList names two nodes
    path = tmp_path / "p.fit"
    path.write_text(TWO_NODE_RUNS)
    compiled, context = _compile(path, "slurm")
    submit = compiled.files["j1.submit.sh"]
    assert any("NodeList=" in line and "," in line.split("NodeList=")[1] for line in submit.splitlines())
    assert _fidelity("slurm", context, compiled.files) == []

# Every 6 h, each run in the 6 h up to the next release; one price all day, so each run starts at
# its release (by hand: 00:00, 06:00, 12:00, 18:00). A start at a release is the end of the run
# before's window: the deadline is its own run's end (release + 6 h), never the run before's.
AT_RELEASE = """
pool cpu {
  count = 1
  cpu = 16
  memory = 64GiB
  price = 1 USD/h
}

workload sweep {
  kind = job
  replicas = 1
  cpu = 8
  memory = 16GiB
  duration = 2h
  every = 6h
  image = "registry.example.com/sweep:1"
  command = ["sweep"]
}

policy {
  objective = cost
  horizon = 1d
  step = 1h
  start = "2027-01-04T00:00Z"
}
"""


def test_a_run_starting_at_its_release_has_its_own_runs_deadline(tmp_path):
    compiled, context = _compile(_policy(tmp_path, AT_RELEASE), "slurm")
    releases = [f"2027-01-04T{h:02d}:00:00" for h in (0, 6, 12, 18)]
    due = [f"2027-01-04T{h:02d}:00:00" for h in (6, 12, 18)] + ["2027-01-05T00:00:00"]
    assert [start for _, start, _ in _solved(context)] == releases
    script = next(text for name, text in compiled.files.items() if name.endswith(".sbatch"))
    assert f"#SBATCH --deadline={due[0]}\n" in script
    name, submit = next((n, text) for n, text in compiled.files.items() if n.endswith(".submit.sh"))
    for task in (1, 2, 3):
        assert (f'scontrol update JobId="${{id}}_{task}" StartTime={releases[task]} '
                f"Deadline={due[task]}") in submit
    assert _fidelity("slurm", context, compiled.files) == []
    # the bug this guards against: run 2 given run 1's deadline (its own start)
    wrong = submit.replace(f"Deadline={due[2]}", f"Deadline={releases[2]}")
    assert _fidelity("slurm", context, {**compiled.files, name: wrong})


@pytest.mark.parametrize("edit", [
    ("StartTime=2027-03-02T02:00:00", "StartTime=2027-03-02T03:00:00"),  # a run an hour late
    ("Deadline=2027-03-03T07:00:00", "Deadline=2027-03-03T08:00:00"),  # a later deadline
    ('scontrol release "$id"', "true"),  # held for ever
    ("StartTime=2027-03-02T02:00:00", "StartTime=2027-03-02T02:00:00 NodeList=cpu-0,cpu-1"),
])
def test_slurm_fidelity_reads_the_submit_script_as_slurm_would(tmp_path, edit):
    compiled, context = _compile(_recur(tmp_path), "slurm")
    files = dict(compiled.files)
    old, new = edit
    assert old in files["nightly-etl-3a8301.submit.sh"]
    files["nightly-etl-3a8301.submit.sh"] = files["nightly-etl-3a8301.submit.sh"].replace(old, new)
    assert _fidelity("slurm", context, files), edit


def test_a_run_whose_replicas_start_apart_is_a_job_per_start_of_the_run(tmp_path):
    # one node that holds one replica at a time, two replicas per run: each run's replicas go
    # one after the other (by hand), which one array task's tasks cannot: a script per start
    # of each run, each its own begin (it was E0952, the policy refused)
    text = RECUR.replace("COMMAND", SAFE_COMMAND).replace("count = 2", "count = 1").replace(
        "replicas = 1", "replicas = 2").replace("cpu = 16", "cpu = 32")
    compiled, context = _compile(_policy(tmp_path, text), "slurm")
    assert _codes(compiled) == {"W0956"}
    starts = {}
    for a in context.placement.assignments:
        starts.setdefault(a.replica // 2, set()).add(a.start)
    assert all(len(s) == 2 for s in starts.values())
    scripts = sorted(n for n in compiled.files if n.endswith(".sbatch"))
    assert scripts == [f"nightly-etl-3a8301-run{r}-start{k}.sbatch" for r in range(3) for k in range(2)]
    begins = sorted(_options(compiled.files[n])["begin"] for n in scripts)
    assert begins == sorted(start for _, start, _ in _solved(context))
    assert _fidelity("slurm", context, compiled.files) == []
    compiled_kube, _ = _compile(_policy(tmp_path, text), "kubernetes")
    assert "W0953" in _codes(compiled_kube) and "W0956" not in _codes(compiled_kube)


# A nightly job of two 16-CPU replicas on a cheap 32-CPU node, which is down all of the second
# day: by hand, runs 1 and 3 both replicas on big-0, run 2 one replica on each small node.
# The runs are in two shapes (one node x2, two nodes x1): one job array cannot run them
# (h52h, a new user: `fitc solve` answered it and `compile --target slurm` refused it, E0952).
SHAPES = """
pool big {
  count = 1
  cpu = 32
  memory = 128GiB
  price = 0.10 USD/h
  unavailable = ["2027-03-02T00:00Z/2027-03-03T00:00Z"]
}

pool small {
  count = 2
  cpu = 16
  memory = 64GiB
  price = 1 USD/h
}

workload nightly_etl {
  kind = job
  replicas = 2
  cpu = 16
  memory = 32GiB
  duration = 2h
  every = "0 1 * * *"
  within = 6h
  image = "registry.example.com/etl:1"
  command = ["python", "etl.py"]
}

policy {
  objective = cost
  horizon = 3d
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""
SHAPES_RUNS = [("big-0", 2), ("small-0,small-1", 1), ("big-0", 2)]  # nodes, tasks per node


def test_runs_placed_in_different_shapes_are_a_job_per_run_each_its_own_shape(tmp_path):
    compiled, context = _compile(_policy(tmp_path, SHAPES), "slurm")
    assert _codes(compiled) == {"W0956"}
    scripts = [f"nightly-etl-3a8301-run{k}.sbatch" for k in range(3)]
    assert sorted(n for n in compiled.files if n.endswith(".sbatch")) == scripts
    for script, (nodes, per_node), day in zip(scripts, SHAPES_RUNS, ("01", "02", "03")):
        options = _options(compiled.files[script])
        assert (options["nodelist"], options["ntasks-per-node"], options["begin"],
                options["deadline"]) == (nodes, str(per_node), f"2027-03-{day}T01:00:00",
                                         f"2027-03-{day}T07:00:00")
        assert "--array" not in compiled.files[script]
    assert compiled.files["submit.sh"].count("\nsbatch nightly-etl-3a8301-run") == 3
    assert _fidelity("slurm", context, compiled.files) == []
    # a run left out, or a run given another's nodes, is read back as not the placement
    assert _fidelity("slurm", context, {n: t for n, t in compiled.files.items() if n != scripts[1]})
    moved = compiled.files[scripts[2]].replace("--nodelist=big-0", "--nodelist=small-0")
    assert _fidelity("slurm", context, {**compiled.files, scripts[2]: moved})


@real_slurm
def test_a_real_slurm_runs_each_run_of_its_own_shape_at_its_solved_start(tmp_path):
    compiled, context = _compile(_policy(tmp_path, _later(SHAPES)), "slurm")
    scripts = [f"nightly-etl-3a8301-run{k}.sbatch" for k in range(3)]
    submit = "".join(f"sbatch --test-only {n}\n" for n in scripts) + "sh submit.sh\n"
    files = {**compiled.files, "all.sh": "set -eu\n" + submit}
    jobs = sorted(_real_cluster_jobs(tmp_path, context, files, "all.sh"),
                  key=lambda j: int(j["JobId"]))
    as_slurm_lists = {"small-0,small-1": "small-[0-1]"}  # NumNodes of a pending job: min-max
    assert [(j["StartTime"], j["Deadline"], j["ReqNodeList"], j["NumNodes"], j["NumTasks"])
            for j in jobs] == [
        (_later(f"2027-03-{day}T01:00:00"), _later(f"2027-03-{day}T07:00:00"),
         as_slurm_lists.get(nodes, nodes), f"{2 // per_node}-{2 // per_node}", "2")
        for (nodes, per_node), day in zip(SHAPES_RUNS, ("01", "02", "03"))]
    assert all(j["JobState"] == "PENDING" and j["TimeLimit"] == "02:00:00" for j in jobs)


# A real Slurm refuses a job whose deadline has passed, so the tests that submit move the
# policies' 2027 dates to a year still to come whenever they run.
LATER_YEAR = str(datetime.date.today().year + 2)


def _later(text: str) -> str:
    return text.replace("2027-", f"{LATER_YEAR}-")


def _real_cluster_jobs(tmp_path: Path, context: CompileContext, files: dict[str, str],
                       submit: str, zone: str = "UTC") -> list[dict[str, str]]:
    """Submit with the written submit script on a real Slurm, from a host in time zone `zone`;
    every job as scontrol shows it in UTC."""
    out = tmp_path / "out"
    out.mkdir()
    for name, text in files.items():
        (out / name).write_text(text)
    (tmp_path / "cluster").mkdir()
    running = start_cluster(context.problem, tmp_path / "cluster", [], files)
    try:
        result = subprocess.run(["sh", str(out / submit)], capture_output=True, text=True,
                                env={**running.env, "TZ": zone}, cwd=out, timeout=60)
        assert result.returncode == 0, result.stderr
        shown = subprocess.run(["scontrol", "-o", "show", "job"], capture_output=True, text=True,
                               env={**running.env, "TZ": "UTC"}, timeout=30)
        assert shown.returncode == 0, shown.stderr
    finally:
        running.shutdown()
    return [dict(w.split("=", 1) for w in line.split() if "=" in w)
            for line in shown.stdout.splitlines() if line.strip()]


@real_slurm
def test_a_real_slurm_holds_each_run_at_its_solved_start_and_deadline(tmp_path):
    text = _later(RECUR.replace("COMMAND", SAFE_COMMAND))
    compiled, context = _compile(_policy(tmp_path, text), "slurm")
    [submit] = [name for name in compiled.files if name.endswith(".submit.sh")]
    jobs = _real_cluster_jobs(tmp_path, context, compiled.files, submit)
    tasks = {int(j["ArrayTaskId"]): j for j in jobs}
    assert sorted(tasks) == [0, 1, 2]
    solved = _solved(context)
    for index, (node, start, _) in enumerate(solved):
        job = tasks[index]
        assert (job["StartTime"], job["Deadline"], job["ReqNodeList"]) == (
            start, _later(RUN_DEADLINES[index]), node)
        assert job["JobState"] == "PENDING"
        assert job["TimeLimit"] == "02:00:00"


@real_slurm
def test_a_real_slurm_runs_the_segments_chained_each_at_its_start(tmp_path):
    compiled, context = _compile(_policy(tmp_path, _later(PREEMPT)), "slurm")
    assert "W0952" in _codes(compiled)
    assert _fidelity("slurm", context, compiled.files) == []
    # by hand: 00:00-02:00 and 04:00-06:00
    assert [(s, e) for _, s, e in _solved(context)] == [
        (_later("2027-03-01T00:00:00"), _later("2027-03-01T02:00:00")),
        (_later("2027-03-01T04:00:00"), _later("2027-03-01T06:00:00"))]
    assert sorted(n for n in compiled.files if n.endswith(".sbatch")) == [
        "finetune-seg0.sbatch", "finetune-seg1.sbatch"]
    jobs = sorted(_real_cluster_jobs(tmp_path, context, compiled.files, "finetune.submit.sh"),
                  key=lambda j: int(j["JobId"]))
    assert len(jobs) == 2
    first, second = jobs
    assert first["StartTime"] == _later("2027-03-01T00:00:00") and first["Dependency"] == "(null)"
    assert second["Dependency"].startswith(f"afterany:{first['JobId']}")
    for job in jobs:
        assert job["TimeLimit"] == "02:00:00" and job["Deadline"] == _later("2027-03-01T08:00:00")
        assert job["ReqNodeList"] == "cpu-0"
    # the second waits for the first; its own begin is in its script, as sbatch read it
    assert _later("#SBATCH --begin=2027-03-01T04:00:00\n") in compiled.files["finetune-seg1.sbatch"]


def test_a_segment_longer_than_planned_fails_fidelity(tmp_path):
    compiled, context = _compile(_policy(tmp_path, PREEMPT), "slurm")
    files = dict(compiled.files)
    files["finetune-seg0.sbatch"] = files["finetune-seg0.sbatch"].replace(
        "--time=02:00:00", "--time=03:00:00")
    assert any("would run into the next one" in m for m in _fidelity("slurm", context, files))


def test_hostile_command_words_reach_slurm_and_kubernetes_as_written(tmp_path):
    command = "[" + ", ".join('"' + w.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'
                              for w in HOSTILE) + "]"
    path = _recur(tmp_path, command)
    compiled, _ = _compile(path, "slurm")
    script = compiled.files["nightly-etl-3a8301.sbatch"]
    body = script[script.index("srun "):]
    assert shlex.split(body) == ["srun", *HOSTILE]
    compiled, _ = _compile(path, "kubernetes")
    cron = next(d for d in yaml.safe_load_all(compiled.files["nightly-etl-3a8301.yaml"]) if d)
    container = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]
    from fitlang.targets.kubernetes_fidelity import expand

    # Kubernetes expands $(VAR) in a command: `$$` is how a `$` reaches the process
    assert [expand(word, {}) for word in container["command"]] == HOSTILE


@pytest.mark.parametrize("target", ["slurm", "kubernetes"])
def test_the_same_policy_gives_the_same_bytes(tmp_path, target):
    for text in (RECUR.replace("COMMAND", SAFE_COMMAND), PREEMPT):
        first, _ = _compile(_policy(tmp_path, text, "a.fit"), target)
        second, _ = _compile(_policy(tmp_path, text, "a.fit"), target)
        assert first.files == second.files


# ---- Kubernetes: a CronJob where it runs the solved schedule, else suspended Jobs ------------


def _documents(files: dict[str, str]) -> list[dict]:
    return [d for name, text in sorted(files.items()) if name.endswith(".yaml")
            for d in yaml.safe_load_all(text) if d]


def test_runs_one_schedule_fires_at_exactly_are_a_cronjob(tmp_path):
    from test_target_kubernetes import check_objects

    compiled, context = _compile(_recur(tmp_path), "kubernetes")
    check_objects(compiled.files)  # kubernetes-validate, strict
    codes = _codes(compiled)
    assert "W0954" in codes and "W0950" not in codes and "W0953" not in codes
    crons = [d for d in _documents(compiled.files) if d["kind"] == "CronJob"]
    assert len(crons) == 1 and not [d for d in _documents(compiled.files) if d["kind"] == "Job"]
    spec = crons[0]["spec"]
    # by hand: 02:00 UTC every day fires at the three solved starts and at no other time in
    # the three days
    assert (spec["schedule"], spec["timeZone"], spec["concurrencyPolicy"]) == (
        "0 2 * * *", "Etc/UTC", "Forbid")
    assert [s for _, s, _ in _solved(context)] == RUN_STARTS
    job = spec["jobTemplate"]["spec"]
    assert job["activeDeadlineSeconds"] == 7200 and job["parallelism"] == 1
    assert len(crons[0]["metadata"]["name"]) <= 52  # the controller adds 11 characters
    assert "start-jobs.sh" not in compiled.files
    assert _fidelity("kubernetes", context, compiled.files) == []


@pytest.mark.parametrize("old, new", [("0 2 * * *", "0 3 * * *"), ("0 2 * * *", "0 2,14 * * *"),
                                      ("Etc/UTC", "Europe/Paris")])
def test_kubernetes_fidelity_reads_the_cronjob_schedule(tmp_path, old, new):
    compiled, context = _compile(_recur(tmp_path), "kubernetes")
    files = dict(compiled.files)
    name = "nightly-etl-3a8301.yaml"
    files[name] = files[name].replace(old, new)
    assert files[name] != compiled.files[name]
    assert _fidelity("kubernetes", context, files)


def test_runs_at_different_offsets_are_suspended_jobs_each_with_its_own_deadline(tmp_path):
    compiled, context = _compile(_shifting(tmp_path), "kubernetes")
    assert [s for _, s, _ in _solved(context)] == ["2027-03-01T02:00:00", "2027-03-02T03:00:00"]
    assert "W0953" in _codes(compiled) and "W0954" not in _codes(compiled)
    jobs = [d for d in _documents(compiled.files) if d["kind"] == "Job"]
    found = sorted((j["metadata"]["annotations"]["fitlang.dev/start"],
                    j["metadata"]["annotations"]["fitlang.dev/deadline"]) for j in jobs)
    # each run is due 6 h after its own release (01:00 each day)
    assert found == [("2027-03-01T02:00:00Z", "2027-03-01T07:00:00Z"),
                     ("2027-03-02T03:00:00Z", "2027-03-02T07:00:00Z")]
    assert all(j["spec"]["suspend"] is True for j in jobs)
    assert _fidelity("kubernetes", context, compiled.files) == []


def test_a_slurm_array_gives_each_run_its_start_when_offsets_differ(tmp_path):
    compiled, context = _compile(_shifting(tmp_path), "slurm")
    submit = compiled.files["nightly-etl-3a8301.submit.sh"]
    assert 'JobId="${id}_1" StartTime=2027-03-02T03:00:00 Deadline=2027-03-02T07:00:00' in submit
    assert _fidelity("slurm", context, compiled.files) == []


def test_segments_are_a_suspended_job_each_bounded_by_its_length(tmp_path):
    from test_target_kubernetes import check_objects

    compiled, context = _compile(_policy(tmp_path, PREEMPT), "kubernetes")
    check_objects(compiled.files)
    assert {"W0952", "W0950"} <= _codes(compiled)
    jobs = sorted((d for d in _documents(compiled.files) if d["kind"] == "Job"),
                  key=lambda j: j["metadata"]["annotations"]["fitlang.dev/start"])
    assert [(j["metadata"]["annotations"]["fitlang.dev/start"],
             j["metadata"]["annotations"]["fitlang.dev/end"], j["spec"]["activeDeadlineSeconds"])
            for j in jobs] == [("2027-03-01T00:00:00Z", "2027-03-01T02:00:00Z", 7200),
                               ("2027-03-01T04:00:00Z", "2027-03-01T06:00:00Z", 7200)]
    assert _fidelity("kubernetes", context, compiled.files) == []


# ---- the timeline and the plot -----------------------------------------------------------------


def test_the_day_table_shows_carbon_per_day_where_a_grid_states_it():
    from fitlang.solve.report import as_text

    compilation = Compilation(EXAMPLES / "weekly-batch-carbon.fit")
    text = as_text(compilation.problem, compilation.solve())
    header = next(line for line in text.splitlines() if line.startswith("day "))
    assert "carbon" in header.split()
    rows = [line.split() for line in text.splitlines() if line[:4] == "2026"]
    carbon = {(r[0], r[1]): Fraction(r[-3] if r[1] != "(all" else r[-2]) for r in rows}
    # by hand (the example's header): a north node-hour emits 0.32 kg; south's shard emits
    # 6.88 kg on Wednesday; 42.72 kgCO2e in all
    for row in rows:
        if row[1] == "north":
            assert Fraction(row[-3]) == Fraction(row[2]) * Fraction("0.32")
    assert carbon[("2026-12-02", "south")] == Fraction("6.88")
    assert sum(v for (_, pool), v in carbon.items() if pool != "(all") == Fraction("42.72")


def test_a_timeline_without_carbon_has_no_carbon_column(tmp_path):
    from fitlang.solve.report import as_text

    compilation = Compilation(_policy(tmp_path, PREEMPT))
    text = as_text(compilation.problem, compilation.solve())
    assert "carbon" not in next(line for line in text.splitlines() if line.startswith("day "))


def test_the_plot_draws_a_cap_that_changes_by_the_hour_and_a_pool_in_maintenance(tmp_path):
    pytest.importorskip("matplotlib")
    from fitlang.solve.timeline_plot import render

    text = PREEMPT.replace("pool cpu {", 'power_cap site {\n  hourly = [2kW, 2kW, 1kW, 1kW]\n}\n\n'
                           'pool cpu {\n  unavailable = ["2027-03-01T06:00Z/2027-03-01T08:00Z"]')
    compilation = Compilation(_policy(tmp_path, text))
    svg = render(compilation.problem, compilation.solve(), ".svg")
    root = ElementTree.fromstring(svg)
    labels = {"".join(e.itertext()).strip() for e in root.iter("{http://www.w3.org/2000/svg}text")}
    # the cap runs 1-2 kW over the day; the pool has its 1 node but 0 in the window
    assert {"site kW: 1-2", "cpu: 0-1"} <= labels, labels


# ---- Terraform: bought capacity scheduled around a pool's maintenance, for recurring runs ------

# Runs every 4 h, each 4 h long within its 4 h (so each starts at its release: 00:00, 04:00,
# 08:00), 3 CPUs. The own pool (one 4-CPU node, 0.10 USD/h) is down for maintenance from 04:00
# to 08:00; a bought 4-CPU box costs 1 USD/h. By hand: runs 0 and 2 on the own node, run 1 on
# one bought box from 04:00 to 08:00, so the group is scaled to 1 at 04:00 and to 0 at 08:00.
MAINTENANCE_BUY = """
offer box {
  provider = aws
  instance_type = "g6.xlarge"
  regions = ["us-east-1"]
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
}

buy {
  offers = [box]
  max_count = 2
}

pool own {
  count = 1
  cpu = 4
  memory = 16GiB
  price = 0.10 USD/h
  unavailable = ["2026-12-01T04:00Z/2026-12-01T08:00Z"]
}

workload batch {
  kind = job
  replicas = 1
  cpu = 3
  memory = 8GiB
  duration = 4h
  every = 4h
  within = 4h
  image = "img"
}

policy {
  horizon = 12h
  step = 1h
  start = "2026-12-01T00:00Z"
}
"""


def test_terraform_schedules_bought_capacity_for_the_run_a_maintenance_window_moves(tmp_path):
    from test_target_terraform import loads_cleanly
    from test_timeline_output import _schedules

    compiled, context = _compile(_policy(tmp_path, MAINTENANCE_BUY), "terraform")
    assert not [d for d in compiled.diagnostics if d.code.startswith("E")], compiled.diagnostics
    owners = context.problem.owners()
    runs = sorted((a.start, owners[a.node].pool) for a in context.placement.assignments)
    assert runs == [(0, "own"), (4, "box"), (8, "own")]
    # one box bought (the group's max_size), in use from 04:00 to 08:00
    assert _schedules(compiled.files) == [("2026-12-01T04:00:00Z", 1, 1, 1),
                                          ("2026-12-01T08:00:00Z", 0, 0, 1)]
    assert _fidelity("terraform", context, compiled.files) == []
    loads_cleanly(tmp_path, compiled.files)


def test_runs_that_would_be_a_heterogeneous_array_are_a_heterogeneous_job_each(tmp_path):
    # two 1-node pools of different features, each run needs both nodes (2 replicas of a whole
    # node, one per pool): each run is a heterogeneous job (two components), and Slurm 22.05
    # refuses `--array` with `hetjob` ("Invalid job array specification", tried on a real one):
    # a heterogeneous job per run (it was E0952, refused)
    text = RECUR.replace("COMMAND", SAFE_COMMAND).replace(
        "pool cpu {\n  count = 2", 'pool cpu {\n  count = 1\n  labels = { disk: "ssd" }').replace(
        "replicas = 1", "replicas = 2").replace("cpu = 16", "cpu = 32")
    text = text.replace("electricity grid", "pool other {\n  count = 1\n  cpu = 32\n  memory = 128GiB\n"
                        "  price = 1 USD/h\n  power = 1kW\n  features = [\"fast\"]\n}\n\nelectricity grid")
    compiled, context = _compile(_policy(tmp_path, text), "slurm")
    owners = context.problem.owners()
    assert {owners[a.node].pool for a in context.placement.assignments} == {"cpu", "other"}
    found = [d for d in compiled.diagnostics if d.code == "W0956"]
    assert found and "heterogeneous" in found[0].message
    assert not [d for d in compiled.diagnostics if d.severity.value == "error"]
    scripts = sorted(n for n in compiled.files if n.endswith(".sbatch"))
    assert scripts == [f"nightly-etl-3a8301-run{k}.sbatch" for k in range(3)]
    assert all(compiled.files[n].count("#SBATCH hetjob") == 1 for n in scripts)
    assert _fidelity("slurm", context, compiled.files) == []


def test_segments_submitted_unchained_fail_fidelity(tmp_path):
    compiled, context = _compile(_policy(tmp_path, PREEMPT), "slurm")
    files = dict(compiled.files)
    files["finetune.submit.sh"] = files["finetune.submit.sh"].replace(
        " --dependency=afterany:$j0", "")
    assert files["finetune.submit.sh"] != compiled.files["finetune.submit.sh"]
    assert any("finetune-seg1.sbatch" in m and "afterany" in m
               for m in _fidelity("slurm", context, files))


def test_first_segments_of_two_replicas_need_no_chain_and_fidelity_agrees(tmp_path):
    # two replicas of a whole node, each one 2 h segment, on the one node at the two cheap
    # hours (bench/differential_time.py seed 145): neither continues the other, so neither
    # waits for the other; fidelity wanted every segment after the first chained
    text = PREEMPT.replace("replicas = 1", "replicas = 2").replace("duration = 4h", "duration = 2h")
    compiled, context = _compile(_policy(tmp_path, text), "slurm")
    segments = sorted((a.start, a.replica) for a in context.placement.assignments)
    assert [start for start, _ in segments] == [0, 4] and {r for _, r in segments} == {0, 1}
    assert "finetune-seg1.sbatch" in compiled.files
    assert "--dependency" not in compiled.files["finetune.submit.sh"]
    assert _fidelity("slurm", context, compiled.files) == []


def _segments_starting_together(tmp_path: Path, runs: tuple[tuple[int, int, int], ...] = (
        (0, 0, 1), (1, 0, 2), (0, 4, 6), (1, 5, 6)), size: str = "16") -> CompileContext:
    """Two replicas of a preemptible job (3 h, segments of 1 h or more) on one node, both
    starting at 00:00, one for 1 h and one for 2 h, then each again later (as the solver placed
    bench/differential_time.py seed 468); the schedule keeps every rule (`verify`). `runs`:
    other (replica, start, end) segments, of replicas of `size` CPU (and 4 GiB per CPU)."""
    from fitlang.solve.report import as_json
    from fitlang.solve.timeline import TimedAssignment
    from fitlang.solve.verify import verify

    replicas = len({replica for replica, _, _ in runs})
    text = PREEMPT.replace("replicas = 1", f"replicas = {replicas}").replace(
        "cpu = 32\n  memory = 128GiB\n  d", f"cpu = {size}\n  memory = {int(size) * 4}GiB\n  d")
    text = text.replace("duration = 4h", "duration = 3h").replace("min_segment = 2h", "min_segment = 1h")
    compilation = Compilation(_policy(tmp_path, text))
    placement = compilation.solve()
    placement.assignments = [TimedAssignment("finetune", replica, "cpu-0", start, end)
                             for replica, start, end in runs]
    problem = compilation.problem
    document = yaml.safe_load(as_json(problem, placement, []))
    del document["objective"]  # the solved cost, not this schedule's: the rules are what count
    assert verify(problem, document) == ([], [])
    return CompileContext(compilation.check().program, problem, placement)


def test_segments_of_two_lengths_from_one_start_are_two_kubernetes_jobs(tmp_path):
    # both Jobs were named `finetune-cpu-20270301-0000` (kubectl apply keeps one), and fidelity
    # read one planned length per start
    context = _segments_starting_together(tmp_path)
    files = TARGETS["kubernetes"]().render(context)
    jobs = sorted((d["metadata"]["name"], d["spec"]["activeDeadlineSeconds"])
                  for d in _documents(files) if d["kind"] == "Job")
    assert jobs == [("finetune-cpu-20270301-0000-to-20270301-0100", 3600),
                    ("finetune-cpu-20270301-0000-to-20270301-0200", 7200),
                    ("finetune-cpu-20270301-0400", 7200), ("finetune-cpu-20270301-0500", 3600)]
    assert _fidelity("kubernetes", context, files) == []


def test_kubernetes_fidelity_finds_two_jobs_of_one_name(tmp_path):
    context = _segments_starting_together(tmp_path)
    files = TARGETS["kubernetes"]().render(context)
    name = "finetune.yaml"
    files[name] = files[name].replace("finetune-cpu-20270301-0000-to-20270301-0200",
                                      "finetune-cpu-20270301-0000-to-20270301-0100")
    assert any("2 Job objects named `finetune-cpu-20270301-0000-to-20270301-0100`" in m
               for m in _fidelity("kubernetes", context, files))


def test_segments_of_two_lengths_from_one_start_pass_slurm_fidelity(tmp_path):
    # a script each, `--time` 1 h and 2 h; fidelity read one planned length per (node, start)
    context = _segments_starting_together(tmp_path)
    files = TARGETS["slurm"]().render(context)
    times = sorted(line for name, text in files.items() if name.startswith("finetune-seg")
                   for line in text.splitlines() if line.startswith("#SBATCH --time"))
    assert times == ["#SBATCH --time=01:00:00"] * 2 + ["#SBATCH --time=02:00:00"] * 2
    assert _fidelity("slurm", context, files) == []


def test_slurm_fidelity_reads_each_segments_end_not_only_its_start(tmp_path):
    # three replicas' segments from 00:00 on one node: two for 1 h (a script of 2 tasks), one
    # for 2 h (a script of 1). Their `--time`s swapped, two replicas run 2 h: fidelity compared
    # replicas per (node, start) and each `--time` with the lengths planned from it, and passed
    context = _segments_starting_together(tmp_path, (
        (0, 0, 1), (1, 0, 1), (2, 0, 2), (0, 4, 6), (1, 4, 6), (2, 5, 6)), size="10")
    files = TARGETS["slurm"]().render(context)
    assert _fidelity("slurm", context, files) == []
    first = {name: text for name, text in files.items()
             if "--begin=2027-03-01T00:00:00" in text and name.endswith(".sbatch")}
    tasks = {name: next(line for line in text.splitlines() if line.startswith("#SBATCH --ntasks="))
             for name, text in first.items()}
    assert sorted(tasks.values()) == ["#SBATCH --ntasks=1", "#SBATCH --ntasks=2"]
    for name, text in first.items():
        files[name] = text.replace("--time=01:00:00", "--time=X").replace(
            "--time=02:00:00", "--time=01:00:00").replace("--time=X", "--time=02:00:00")
    found = _fidelity("slurm", context, files)
    assert any("`finetune` starts" in problem for problem in found), found


def test_kubernetes_fidelity_reads_each_runs_deadline(tmp_path):
    # what the target wrote before: every run's deadline the first run's
    compiled, context = _compile(_shifting(tmp_path), "kubernetes")
    files = dict(compiled.files)
    name = "nightly-etl-3a8301.yaml"
    files[name] = files[name].replace("fitlang.dev/deadline: '2027-03-02T07:00:00Z'",
                                      "fitlang.dev/deadline: '2027-03-01T07:00:00Z'")
    assert files[name] != compiled.files[name]
    found = _fidelity("kubernetes", context, files)
    assert len(found) == 1 and "2027-03-02T07:00:00Z" in found[0], found


# ---- Slurm: a job whose replicas start at different steps: a script per start ----------------

# One node that holds one replica at a time (32 CPUs each), two 2 h replicas due by 04:00 in a
# 4 h horizon. By hand, the only schedule: one replica 00:00-02:00, the other 02:00-04:00, both
# on cpu-0, each due at 04:00 (the window's end). THREE: the same with two nodes and three
# replicas: two start at 00:00 (one per node), the third at 02:00.
APART = """
pool cpu {
  count = 1
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
}

workload render {
  kind = job
  replicas = 2
  cpu = 32
  memory = 64GiB
  duration = 2h
  deadline = 4h
  image = "registry.example.com/render:1"
  command = ["render", "--all"]
}

policy {
  objective = cost
  horizon = 4h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""
THREE = APART.replace("count = 1", "count = 2").replace("replicas = 2", "replicas = 3")
APART_SCRIPTS = ["render-start0.sbatch", "render-start1.sbatch"]


def _options(script: str) -> dict[str, str]:
    return dict(line.removeprefix("#SBATCH --").split("=", 1) for line in script.splitlines()
                if line.startswith("#SBATCH --") and "=" in line)


def test_a_job_whose_replicas_start_apart_is_a_script_per_start(tmp_path):
    compiled, context = _compile(_policy(tmp_path, APART), "slurm")
    assert _codes(compiled) == {"W0955"}
    assert _solved(context) == [("cpu-0", "2027-03-01T00:00:00", "2027-03-01T02:00:00"),
                                ("cpu-0", "2027-03-01T02:00:00", "2027-03-01T04:00:00")]
    assert sorted(n for n in compiled.files if n.endswith(".sbatch")) == APART_SCRIPTS
    for name, begin in zip(APART_SCRIPTS, ("2027-03-01T00:00:00", "2027-03-01T02:00:00")):
        options = _options(compiled.files[name])
        assert (options["begin"], options["deadline"], options["time"]) == (
            begin, "2027-03-01T04:00:00", "02:00:00")
        assert (options["job-name"], options["nodelist"], options["ntasks"]) == ("render", "cpu-0", "1")
    assert not any(n.endswith(".submit.sh") for n in compiled.files)  # nothing to chain
    assert _fidelity("slurm", context, compiled.files) == []


def test_each_start_runs_its_own_replicas_nodes_and_tasks(tmp_path):
    compiled, context = _compile(_policy(tmp_path, THREE), "slurm")
    assert "W0955" in _codes(compiled)
    solved = _solved(context)
    assert [start[11:16] for _, start, _ in solved] == ["00:00", "00:00", "02:00"]  # by hand
    first, second = (_options(compiled.files[n]) for n in APART_SCRIPTS)
    assert (first["nodes"], first["ntasks"], sorted(first["nodelist"].split(","))) == (
        "2", "2", ["cpu-0", "cpu-1"])
    assert (second["nodes"], second["ntasks"], second["nodelist"]) == ("1", "1", solved[2][0])
    assert _fidelity("slurm", context, compiled.files) == []


@pytest.mark.parametrize("edit", [
    ("render-start1.sbatch", "--begin=2027-03-01T02:00:00", "--begin=2027-03-01T03:00:00"),
    ("render-start1.sbatch", "--begin=2027-03-01T02:00:00", "--begin=2027-03-01T00:00:00"),
    ("render-start0.sbatch", "--deadline=2027-03-01T04:00:00", "--deadline=2027-03-01T05:00:00"),
    ("render-start0.sbatch", "--time=02:00:00", "--time=01:00:00"),
    ("render-start1.sbatch", None, None),  # the second start not written at all
])
def test_a_start_script_with_a_wrong_begin_deadline_or_time_fails_fidelity(tmp_path, edit):
    compiled, context = _compile(_policy(tmp_path, APART), "slurm")
    files = dict(compiled.files)
    name, old, new = edit
    if old is None:
        del files[name]
    else:
        assert old in files[name]
        files[name] = files[name].replace(old, new)
    assert _fidelity("slurm", context, files), edit


@real_slurm
def test_a_real_slurm_holds_each_start_at_its_begin_and_deadline(tmp_path):
    compiled, context = _compile(_policy(tmp_path, _later(APART)), "slurm")
    submit = "".join(f"sbatch --test-only {n}\nsbatch {n}\n" for n in APART_SCRIPTS)
    files = {**compiled.files, "all.sh": "set -eu\n" + submit}
    jobs = sorted(_real_cluster_jobs(tmp_path, context, files, "all.sh"),
                  key=lambda j: int(j["JobId"]))
    assert [(j["JobName"], j["StartTime"], j["Deadline"], j["ReqNodeList"], j["TimeLimit"])
            for j in jobs] == [
        ("render", start, _later("2027-03-01T04:00:00"), node, "02:00:00") for node, start, _ in
        _solved(context)]
    assert all(j["JobState"] == "PENDING" and j["NumTasks"] == "1" for j in jobs)


def test_a_gang_is_never_split_across_starts(tmp_path):
    # the same two replicas as a gang: they must run together, which one node cannot do at
    # once: no schedule (the solver never splits a gang across starts), nothing written
    text = APART.replace("  duration = 2h", "  duration = 2h\n  gang = true")
    compilation = Compilation(_policy(tmp_path, text))
    assert not compilation.check().has_errors
    assert compilation.solve().status == "infeasible"
    compiled = compilation.compile(["slurm"])
    assert not any(n.endswith(".sbatch") for n in compiled.files)


# ---- a gang in time: one job, all its tasks started together ---------------------------------

# Two nodes of 32 CPUs; electricity 0.30 USD/kWh but 0.10 at 02:00-04:00. The gang `train` (two
# whole-node replicas, 2 h, due by 06:00) runs on both nodes at once; by hand: both at
# 02:00-04:00, the two cheap hours.
GANG = """
pool cpu {
  count = 2
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  power = 1kW
}

electricity grid {
  hourly = [0.30 USD/kWh, 0.30 USD/kWh, 0.10 USD/kWh, 0.10 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh]
}

workload train {
  kind = job
  replicas = 2
  cpu = 32
  memory = 64GiB
  duration = 2h
  deadline = 6h
  gang = true
  image = "registry.example.com/train:1"
  command = ["torchrun", "train.py"]
}

policy {
  objective = cost
  horizon = 6h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""


def test_a_gang_in_time_is_one_slurm_job_of_all_its_tasks_at_its_begin(tmp_path):
    compiled, context = _compile(_policy(tmp_path, GANG), "slurm")
    assert not [d for d in compiled.diagnostics if d.code.startswith(("E", "W"))], compiled.diagnostics
    assert _solved(context) == [(node, "2027-03-01T02:00:00", "2027-03-01T04:00:00")
                                for node in ("cpu-0", "cpu-1")]
    assert sorted(n for n in compiled.files if n.endswith(".sbatch")) == ["train.sbatch"]
    options = _options(compiled.files["train.sbatch"])
    assert (options["begin"], options["deadline"], options["time"]) == (
        "2027-03-01T02:00:00", "2027-03-01T06:00:00", "02:00:00")
    assert (options["nodes"], options["ntasks"], options["nodelist"]) == ("2", "2", "cpu-0,cpu-1")
    assert _fidelity("slurm", context, compiled.files) == []


def test_a_gang_in_time_is_one_suspended_kubernetes_job_resumed_at_its_start(tmp_path):
    compiled, context = _compile(_policy(tmp_path, GANG), "kubernetes")
    documents = [d for d in yaml.safe_load_all(compiled.files["train.yaml"]) if d]
    [job] = [d for d in documents if d["kind"] == "Job"]
    assert [d["kind"] for d in documents].count("PodGroup") == 1
    assert job["spec"]["suspend"] is True and job["spec"]["completions"] == 2
    assert job["spec"]["completionMode"] == "Indexed"
    assert job["metadata"]["annotations"]["fitlang.dev/start"] == "2027-03-01T02:00:00Z"
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    assert f"resume 1803866400 {job['metadata']['name']}" in compiled.files["start-jobs.sh"]
    assert _fidelity("kubernetes", context, compiled.files) == []
    # the same Job written to start at once is caught: it would start before its step
    files = dict(compiled.files)
    files["train.yaml"] = files["train.yaml"].replace("suspend: true", "suspend: false")
    assert any("starts as soon as it is applied" in p for p in _fidelity("kubernetes", context, files))


def test_each_run_of_a_recurring_gang_is_its_own_suspended_job(tmp_path):
    # every 3 h, within 3 h (runs in 00:00-03:00 and 03:00-06:00), 1 h each: by hand at 02:00
    # and 03:00 (0.10 USD/kWh; the rest 0.30)
    text = GANG.replace("  duration = 2h\n  deadline = 6h", "  duration = 1h\n  every = 3h")
    compiled, context = _compile(_policy(tmp_path, text), "kubernetes")
    jobs = [d for d in yaml.safe_load_all(compiled.files["train.yaml"]) if d and d["kind"] == "Job"]
    assert sorted(j["metadata"]["annotations"]["fitlang.dev/start"] for j in jobs) == [
        "2027-03-01T02:00:00Z", "2027-03-01T03:00:00Z"]
    assert all(j["spec"]["completions"] == 2 and j["spec"]["suspend"] for j in jobs)
    [group] = [d for d in yaml.safe_load_all(compiled.files["train.yaml"]) if d and d["kind"] == "PodGroup"]
    assert group["spec"]["minMember"] == 2  # each run's replicas
    assert _fidelity("kubernetes", context, compiled.files) == []


@real_slurm
def test_a_real_slurm_takes_a_gang_as_one_job_of_two_tasks_at_its_begin(tmp_path):
    compiled, context = _compile(_policy(tmp_path, _later(GANG)), "slurm")
    files = {**compiled.files, "all.sh": "set -eu\nsbatch --test-only train.sbatch\nsbatch train.sbatch\n"}
    [job] = _real_cluster_jobs(tmp_path, context, files, "all.sh")
    assert (job["JobName"], job["StartTime"], job["Deadline"], job["NumNodes"], job["NumTasks"]) == (
        "train", _later("2027-03-01T02:00:00"), _later("2027-03-01T06:00:00"), "2-2", "2")
    assert job["ReqNodeList"] == "cpu-[0-1]" and job["JobState"] == "PENDING"


def test_start_scripts_are_the_same_bytes_twice(tmp_path):
    first, _ = _compile(_policy(tmp_path, THREE, "a.fit"), "slurm")
    second, _ = _compile(_policy(tmp_path, THREE, "a.fit"), "slurm")
    assert first.files == second.files


# Every 6 h from 00:00, 2 h within 4 h; electricity 0.10 USD/kWh at 00-03, 06, 08, 13, 16-17,
# else 0.30. By hand: run 1 (00:00) costs 2.20 at offset 0 or 1 (2.40 at 2), run 2 (06:00)
# 2.40 at any offset, run 3 (12:00) 2.40 at offset 0 or 1 (2.60 at 2): several schedules cost
# 7.00, some with the runs at one offset; the tie-break picks one of those (`timeline_align`),
# so one cron schedule runs them: a CronJob, no suspended Jobs (no W0953).
def _tied(hourly: str) -> str:
    """test_timing's ALIGN policy on one node, with an image and a command to compile."""
    from test_timing import ALIGN

    return ALIGN.format(count=1, hourly=hourly).replace(
        "  within = 4h\n", '  within = 4h\n  image = "registry.example.com/sweep:1"\n'
        '  command = ["sweep"]\n')


def test_runs_tied_in_cost_are_aligned_so_one_cronjob_runs_them(tmp_path):
    cheap = {0, 1, 2, 6, 8, 13, 16, 17}
    hourly = ", ".join("0.10 USD/kWh" if h in cheap else "0.30 USD/kWh" for h in range(18))
    compiled, context = _compile(_policy(tmp_path, _tied(hourly)), "kubernetes")
    assert context.placement.value == 7
    starts = sorted(a.start for a in context.placement.assignments)
    assert len({start % 6 for start in starts}) == 1 and starts[0] in (0, 1)
    assert "W0953" not in _codes(compiled)
    assert [d["kind"] for d in _documents(compiled.files)].count("CronJob") == 1
    assert _fidelity("kubernetes", context, compiled.files) == []


# PREEMPT with a job run once beside it (`report`: only 06:00-07:00 holds it): `submit.sh`
# runs the segments' submit script and sbatches the report's script, all in UTC
ONCE = PREEMPT.replace("policy {", """workload report {
  kind = job
  replicas = 1
  cpu = 32
  memory = 64GiB
  duration = 1h
  earliest = 6h
  deadline = 7h
  image = "registry.example.com/report:1"
  command = ["report"]
}

policy {""")


@real_slurm
def test_submit_sh_starts_each_job_at_its_utc_instant_from_a_host_in_another_zone(tmp_path):
    compiled, context = _compile(_policy(tmp_path, _later(ONCE)), "slurm")
    assert _fidelity("slurm", context, compiled.files) == []
    # sbatch reads --begin in its own zone: New York's would start each job 4-5 hours late
    jobs = _real_cluster_jobs(tmp_path, context, compiled.files, "submit.sh", "America/New_York")
    independent = sorted((j["JobName"], j["StartTime"], j["Deadline"]) for j in jobs
                         if j["Dependency"] == "(null)")
    assert independent == [("finetune", _later("2027-03-01T00:00:00"), _later("2027-03-01T08:00:00")),
                           ("report", _later("2027-03-01T06:00:00"), _later("2027-03-01T07:00:00"))]
    assert len(jobs) == 3  # and the second segment, after the first


def test_submit_sh_runs_every_job_and_submit_script_in_utc(tmp_path):
    compiled, _ = _compile(_policy(tmp_path, ONCE), "slurm")
    lines = compiled.files["submit.sh"].splitlines()
    assert lines.index("export TZ=UTC") < lines.index("sh finetune.submit.sh")
    assert lines.index("export TZ=UTC") < lines.index("sbatch report.sbatch")
    assert "export TZ=UTC" in compiled.files["finetune.submit.sh"].splitlines()


@pytest.mark.parametrize(("unset", "named"), [
    (["submit.sh"], ["report.sbatch"]),  # the segments' own submit script still sets it
    (["submit.sh", "finetune.submit.sh"], ["finetune-seg0.sbatch", "finetune-seg1.sbatch",
                                           "report.sbatch"]),
    (["finetune.submit.sh"], []),  # run by submit.sh, in its UTC
])
def test_a_script_not_submitted_in_utc_fails_fidelity(tmp_path, unset, named):
    compiled, context = _compile(_policy(tmp_path, ONCE), "slurm")
    files = dict(compiled.files)
    for name in unset:
        files[name] = files[name].replace("export TZ=UTC\n", "")
    problems = _fidelity("slurm", context, files)
    assert sorted(p.split(": ")[1] for p in problems if "in UTC" in p) == named, problems


# ---- replicas left out in time (`allow_unplaced` with a horizon) ---------------------------------


def test_slurm_submits_no_job_the_week_leaves_out_and_warns_of_it():
    """examples/weekly-queue.fit (its outcome by hand there): `sweep` waits, so no script of
    it is written nor submitted; the others are submitted at their solved days."""
    compiled, context = _compile(EXAMPLES / "weekly-queue.fit", "slurm")
    assert "W0501" in {d.code for d in compiled.verdict.diagnostics}
    names = sorted(compiled.files)
    assert not [name for name in names if "sweep" in name]
    submit = compiled.files["submit.sh"]
    assert "sweep" not in submit and all(job in submit for job in ("climate", "genome", "render"))
    assert _fidelity("slurm", context, compiled.files) == []


def test_kubernetes_creates_no_job_for_replicas_left_out(tmp_path):
    """A queue on two 8-CPU nodes over 4 hours: `big` (priority 10) takes both nodes for 3
    hours, `small` (2 hours before hour 4) has no room: its Job is not created (W0501)."""
    path = tmp_path / "q.fit"
    path.write_text("""
pool node {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 1 USD/h
}
workload big {
  kind = job
  replicas = 2
  priority = 10
  cpu = 8
  memory = 8GiB
  duration = 3h
  image = "registry.example.com/big:1"
}
workload small {
  kind = job
  replicas = 3
  priority = 1
  cpu = 4
  memory = 4GiB
  duration = 2h
  deadline = 4h
  image = "registry.example.com/small:1"
}
policy {
  horizon = 4h
  step = 1h
  start = "2026-12-01T00:00Z"
  allow_unplaced = true
}
""")
    compiled, context = _compile(path, "kubernetes")
    assert "W0501" in {d.code for d in compiled.verdict.diagnostics}
    documents = [d for name, text in compiled.files.items() if name.endswith((".yaml", ".yml"))
                 for d in yaml.safe_load_all(text) if isinstance(d, dict)]
    jobs = [d["metadata"]["name"] for d in documents if d.get("kind") == "Job"]
    assert jobs and not [name for name in jobs if name.startswith("small")]
    assert _fidelity("kubernetes", context, compiled.files) == []


@real_slurm
def test_a_real_slurm_queues_the_week_s_placed_jobs_at_their_days_and_not_the_one_left_out(tmp_path):
    """examples/weekly-queue.fit submitted with its `submit.sh` on a real Slurm: climate,
    genome and render's two starts are held for their solved days (render by its Friday
    deadline); sweep, left out, is not in the queue."""
    compiled, context = _compile(EXAMPLES / "weekly-queue.fit", "slurm")
    jobs = _real_cluster_jobs(tmp_path, context, compiled.files, "submit.sh")
    assert sorted(j["JobName"] for j in jobs) == ["climate", "genome", "render", "render"]
    solved = {(a.workload, a.start) for a in context.placement.assignments}
    timeline = context.problem.timeline

    def step(text: str) -> int:
        moment = datetime.datetime.fromisoformat(text).replace(tzinfo=datetime.UTC)
        return int((moment - timeline.start).total_seconds()) // timeline.step_seconds

    assert {(j["JobName"], step(j["StartTime"])) for j in jobs} == solved
    assert all(j["JobState"] == "PENDING" for j in jobs)


# ---- spread and affinity in time (session 60) ----------------------------------------------

# 4 half-node replicas of 2 h by 6 h, `spread zone max_skew 1` over z1 (1 USD/h) and z2
# (3 USD/h), and `etl` following `train` on its zone (the solved schedules by hand:
# tests/test_timeline_rules.py): each Job carries the rule as at rest, its pods pinned.
SPREAD_IN_TIME = """
pool a {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 1 USD/h
  zone = "z1"
}
pool b {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 3 USD/h
  zone = "z2"
}
workload train {
  kind = job
  replicas = 4
  cpu = 4
  memory = 4GiB
  duration = 2h
  deadline = 6h
  image = "registry.example.com/train:1"
  command = ["python", "train.py"]
  spread zone max_skew 1
}
workload etl {
  kind = job
  replicas = 1
  cpu = 4
  memory = 4GiB
  duration = 1h
  deadline = 6h
  image = "registry.example.com/etl:1"
  command = ["python", "etl.py"]
  affinity train on zone
}
policy {
  objective = cost
  horizon = 6h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""


def test_a_spread_and_an_affinity_in_time_are_written_on_each_job_and_read_back(tmp_path):
    compiled, context = _compile(_policy(tmp_path, SPREAD_IN_TIME), "kubernetes")
    assert context.placement.status == "optimal"
    trains = [d for d in yaml.safe_load_all(compiled.files["train.yaml"]) if d and d["kind"] == "Job"]
    assert trains and all(j["spec"]["suspend"] for j in trains)
    for job in trains:
        [spread] = job["spec"]["template"]["spec"]["topologySpreadConstraints"]
        assert spread["maxSkew"] == 1 and spread["topologyKey"] == "topology.kubernetes.io/zone"
        assert spread["whenUnsatisfiable"] == "DoNotSchedule"
    [etl] = [d for d in yaml.safe_load_all(compiled.files["etl.yaml"]) if d and d["kind"] == "Job"]
    [term] = etl["spec"]["template"]["spec"]["affinity"]["podAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]
    assert term["labelSelector"]["matchLabels"] == {"app.kubernetes.io/name": "train"}
    assert _fidelity("kubernetes", context, compiled.files) == []
    slurm, context = _compile(_policy(tmp_path, SPREAD_IN_TIME, "q.fit"), "slurm")
    assert _fidelity("slurm", context, slurm.files) == []
    scripts = [text for name, text in slurm.files.items() if name.startswith("train")]
    assert scripts and all("#SBATCH --nodelist=" in text for text in scripts)
