"""With a horizon, the policy's own jobs that the current state shows running (issue 19 meets
issue 18): they run on where they run, to their end, and are not placed again; other teams'
jobs that ended by the horizon's start take no room (`fitlang/model/running_jobs.py`).

The states are `squeue --json` (Slurm 22.05's layout) and `kubectl get pods -o json`, written
here; what each test expects is worked out by hand in its comments."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from fitlang.cli import main
from fitlang.driver import Compilation

from slurm_cluster import real_slurm

START = int(datetime(2026, 12, 6, tzinfo=UTC).timestamp())  # the policy's start
HOUR = 3600
MIB = 2 ** 20

POLICY = """\
pool gpu {{
  count = {count}
  cpu = 64
  memory = 512GiB
  price = 2 USD/h
}}

workload finetune {{
  kind = job
  replicas = {replicas}
  cpu = 32
  memory = 128GiB
  duration = 6h
  deadline = {deadline}
  command = ["ft.sh"]
  {extra}
}}

workload etl {{
  kind = job
  replicas = {etl}
  cpu = 16
  memory = 32GiB
  duration = 3h
  deadline = 24h
  command = ["etl.sh"]
}}

policy {{
  horizon = 2d
  step = 1h
  start = "2026-12-06T00:00Z"
}}

current {{
  file = "squeue.json"
}}
"""


def _job(job_id: int, name: str, node: str, cpus: int, started: int, limit_minutes: int | None,
         tasks: int = 1) -> dict:
    """A RUNNING job as `squeue --json` (22.05) prints it: no time limit is `null`, and then
    squeue's `end_time` is a year after the start."""
    ends = started + (60 * limit_minutes if limit_minutes is not None else 365 * 24 * HOUR)
    return {"job_id": job_id, "name": name, "job_state": "RUNNING", "nodes": node, "tasks": tasks,
            "cpus": cpus, "memory_per_node": 128 * 1024, "start_time": started, "end_time": ends,
            "time_limit": limit_minutes}


def _policy(tmp_path: Path, jobs: list[dict], count: int = 3, replicas: int = 1, etl: int = 2,
            deadline: str = "30h", extra: str = "") -> Path:
    (tmp_path / "squeue.json").write_text(json.dumps({"meta": {}, "errors": [], "jobs": jobs}))
    path = tmp_path / "batch.fit"
    path.write_text(POLICY.format(count=count, replicas=replicas, etl=etl, deadline=deadline,
                                  extra=extra))
    return path


def _solved(path: Path, capsys) -> dict:
    assert main(["solve", str(path), "--format", "json"]) == 0
    return json.loads(capsys.readouterr().out)


def _placed(document: dict, workload: str) -> list[tuple[str, str]]:
    return [(a["node"], a["start"]) for a in document["assignments"] if a["workload"] == workload]


def test_a_running_job_of_the_policy_runs_on_and_is_not_placed_again(tmp_path, capsys):
    # finetune started 2 h before the start on gpu-1, 6 h long: it runs until 04:00 there; the
    # start tree placed it again at 00:00 (the job twice on a real cluster)
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START - 2 * HOUR, 360)])
    document = _solved(path, capsys)
    assert _placed(document, "finetune") == []
    assert len(_placed(document, "etl")) == 2
    kept = [d for d in Compilation(path).diagnostics() if d.code == "W0931"]
    assert len(kept) == 1 and "`101 (finetune)` on gpu-1 until 2026-12-06T04:00Z" in kept[0].message


def test_the_running_jobs_node_keeps_its_room_in_verify(tmp_path, capsys):
    # one node of 64 CPU: finetune holds 32 of it until 04:00, so only 2 of the 3 etl replicas
    # (16 CPU each) run beside it at once; the third waits (there is no other node)
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-0", 32, START - 2 * HOUR, 360)], count=1,
                   etl=3)
    document = _solved(path, capsys)
    starts = sorted(start for _, start in _placed(document, "etl"))
    assert _placed(document, "finetune") == [] and len(starts) == 3 and starts[0] == starts[1] < starts[2]
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0
    # all three at once beside the running job: 80 CPU of 64, which `verify` refuses
    for item in document["assignments"]:
        item["start"], item["end"] = "2026-12-06T00:00:00Z", "2026-12-06T03:00:00Z"
    (tmp_path / "at-once.json").write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["verify", str(path), str(tmp_path / "at-once.json")]) == 1
    assert "E0503" in capsys.readouterr().err


def test_verify_names_the_running_job_a_placement_schedules_again(tmp_path, capsys):
    # finetune runs on gpu-1 until 04:00: a placement (another tool's, or one made without the
    # state) that schedules it again from 00:00 is refused, naming the job that runs; the
    # start tree said only "replica 0 is placed twice or does not exist (replicas = 0)"
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START - 2 * HOUR, 360)])
    document = _solved(path, capsys)
    document["assignments"].append({"workload": "finetune", "replica": 0, "node": "gpu-0",
                                    "start": "2026-12-06T00:00:00Z", "end": "2026-12-06T06:00:00Z"})
    (tmp_path / "again.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "again.json")]) == 1
    err = capsys.readouterr().err
    assert ("`finetune` replica 0 is placed twice or does not exist (replicas = 0; its running jobs "
            "are not placed again: `101 (finetune)` on gpu-1 until 2026-12-06T04:00Z)") in err


def test_a_job_that_ended_by_the_start_is_done_and_holds_no_room(tmp_path, capsys):
    # started 10 h before the start, 6 h long: done at 20:00 the day before; the rest of the
    # replicas (2 of 3) are placed, and its node is free
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-0", 32, START - 10 * HOUR, None)], count=1,
                   replicas=3, etl=0)
    document = _solved(path, capsys)
    assert len(_placed(document, "finetune")) == 2
    kept = [d.message for d in Compilation(path).diagnostics() if d.code == "W0931"]
    assert kept and "done by the horizon's start" in kept[0]


def test_another_teams_job_that_ended_by_the_start_takes_no_room(tmp_path, capsys):
    # one node of 64 CPU; another team's job held 48 CPU until 23:00 the day before (its 2 h
    # limit): gone at the start, so finetune (32) and both etl (16 each) fit there at once
    path = _policy(tmp_path, [_job(7, "other", "gpu-0", 48, START - 3 * HOUR, 120)], count=1,
                   deadline="6h")
    document = _solved(path, capsys)
    assert _placed(document, "finetune") == [("gpu-0", "2026-12-06T00:00:00Z")]
    # one with no time limit holds its room: finetune cannot start by its deadline
    path = _policy(tmp_path, [_job(7, "other", "gpu-0", 48, START - 3 * HOUR, None)], count=1,
                   deadline="6h")
    assert main(["solve", str(path), "--format", "json"]) != 0


def test_a_running_job_that_ends_after_its_deadline_is_W0930(tmp_path):
    # the state is read after the policy's start: finetune started at 03:00, 6 h long, ends at
    # 09:00, after its deadline of 08:00
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START + 3 * HOUR, 360)],
                   deadline="8h")
    late = [d.message for d in Compilation(path).diagnostics() if d.code == "W0930"]
    assert late == ["squeue.json: `finetune`'s job 101 runs until 2026-12-06T09:00Z, after its "
                    "deadline (2026-12-06T08:00Z): it runs on, late"]
    on_time = _policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START - 2 * HOUR, 360)],
                      deadline="8h")
    assert [d for d in Compilation(on_time).diagnostics() if d.code == "W0930"] == []


def _nightly(path: Path, replicas: int = 1) -> Path:
    """finetune every 24 h (two runs in the 2-day horizon: day 1 and day 2), `replicas` a run."""
    text = path.read_text().replace("deadline = 30h\n", "").replace("  \n}", "  every = 24h\n}", 1)
    path.write_text(text.replace("replicas = 1\n  cpu = 32", f"replicas = {replicas}\n  cpu = 32"))
    return path


def test_a_running_run_of_a_recurring_job_is_done_where_it_runs(tmp_path, capsys):
    # finetune every 24 h: day 1's run started at 01:00 on gpu-1 (6 h: until 07:00); the start
    # tree refused the state (E0906). Day 1's run is done: only day 2's is placed, inside its
    # window (from 24:00), and the running one holds gpu-1 until 07:00
    path = _nightly(_policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START + HOUR, 360)]))
    assert [d.code for d in Compilation(path).diagnostics() if d.is_error] == []
    document = _solved(path, capsys)
    placed = _placed(document, "finetune")
    assert len(placed) == 1 and placed[0][1] >= "2026-12-07T00:00:00Z"
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0
    kept = [d.message for d in Compilation(path).diagnostics() if d.code == "W0931"]
    assert kept and "`101 (finetune)` on gpu-1 until 2026-12-06T07:00Z" in kept[0]


def test_a_recurring_jobs_run_started_before_the_horizon_takes_no_run_of_it(tmp_path, capsys):
    # started at 22:00 the day before: the day before's run, still running until 04:00; both
    # runs of the horizon are still to run, and are placed
    path = _nightly(_policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START - 2 * HOUR, 360)]))
    assert len(_placed(_solved(path, capsys), "finetune")) == 2


def test_a_recurring_jobs_run_running_in_part_is_refused_saying_why(tmp_path):
    # a run is 2 replicas; one runs: the other is not placed apart from it (E0906, with why)
    path = _nightly(_policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START + HOUR, 360)]), replicas=2)
    refused = [d.message for d in Compilation(path).diagnostics() if d.code == "E0906"]
    assert refused and "`finetune`'s job 101" in refused[0] and "1 of a run's 2 replicas" in refused[0]


def test_a_recurring_run_of_kubernetes_pods_read_one_by_one_is_whole(tmp_path, capsys):
    # day 1's run of finetune (2 replicas a run) is one Job of two pods, started at 01:00; the
    # pods are read one by one, so each alone is half a run: together they are the run, done
    # where it runs, and day 2's run (2 replicas) is placed
    def pod(name: str, node: str) -> dict:
        return {"kind": "Pod", "metadata": {"name": name, "namespace": "batch",
                                            "labels": {"fitlang.dev/workload": "finetune"}},
                "spec": {"nodeName": node, "containers": [
                    {"name": "main", "resources": {"requests": {"cpu": "32", "memory": "128Gi"}}}]},
                "status": {"phase": "Running", "startTime": "2026-12-06T01:00:00Z"}}

    path = _nightly(_policy(tmp_path, []), replicas=2)
    pods = [pod("finetune-run0-a", "gpu-1"), pod("finetune-run0-b", "gpu-2")]
    (tmp_path / "pods.json").write_text(json.dumps({"kind": "List", "items": pods}))
    path.write_text(path.read_text().replace("squeue.json", "pods.json"))
    document = _solved(path, capsys)
    placed = _placed(document, "finetune")
    assert len(placed) == 2 and all(start >= "2026-12-07T00:00:00Z" for _, start in placed)


def test_a_running_preemptible_job_runs_on_to_its_end(tmp_path, capsys):
    # a checkpointed finetune running since 02:00 on gpu-1: kept running (6 h: until 08:00) and
    # not placed again; the start tree refused the state (E0906)
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START + 2 * HOUR, 360)],
                   extra="preemptible = true\n  min_segment = 2h")
    assert [d.code for d in Compilation(path).diagnostics() if d.is_error] == []
    document = _solved(path, capsys)
    assert _placed(document, "finetune") == [] and len(_placed(document, "etl")) == 2
    kept = [d.message for d in Compilation(path).diagnostics() if d.code == "W0931"]
    assert kept and "until 2026-12-06T08:00Z" in kept[0]


def test_a_running_job_past_the_horizons_end_with_no_deadline_is_late_not_a_crash(tmp_path):
    # started at 45:00, 6 h: it ends 3 h past the horizon's end, its deadline when none is
    # stated; the start tree failed an assertion (an internal error) here
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START + 45 * HOUR, 360)])
    path.write_text(path.read_text().replace("  deadline = 30h\n", ""))
    late = [d.message for d in Compilation(path).diagnostics() if d.code == "W0930"]
    assert late == ["squeue.json: `finetune`'s job 101 runs until 2026-12-08T03:00Z, after its "
                    "deadline (2026-12-08T00:00Z): it runs on, late"]


def test_a_running_kubernetes_job_pod_runs_on_from_its_start_time(tmp_path, capsys):
    # the Kubernetes target's Job pod of finetune, started 2 h before the start on gpu-1
    pod = {"kind": "Pod", "metadata": {"name": "finetune-0-abcde", "namespace": "batch",
                                       "labels": {"fitlang.dev/workload": "finetune"}},
           "spec": {"nodeName": "gpu-1", "containers": [
               {"name": "main", "resources": {"requests": {"cpu": "32", "memory": "128Gi"}}}]},
           "status": {"phase": "Running", "startTime": "2026-12-05T22:00:00Z"}}
    path = _policy(tmp_path, [])
    (tmp_path / "pods.json").write_text(json.dumps({"kind": "List", "items": [pod]}))
    path.write_text(path.read_text().replace("squeue.json", "pods.json"))
    document = _solved(path, capsys)
    assert _placed(document, "finetune") == []
    kept = [d.message for d in Compilation(path).diagnostics() if d.code == "W0931"]
    assert kept and "`batch/finetune-0-abcde (finetune)` on gpu-1 until 2026-12-06T04:00Z" in kept[0]


def test_the_slurm_target_writes_no_script_for_a_job_that_runs(tmp_path):
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START - 2 * HOUR, 360)])
    out = tmp_path / "out"
    assert main(["compile", str(path), "--target", "slurm", "--out", str(out)]) == 0
    assert (out / "etl.sbatch").exists() and not (out / "finetune.sbatch").exists()
    assert "finetune" not in (out / "submit.sh").read_text()


WIDE = """\
pool gpu {
  count = 1
  cpu = 64
  memory = 512GiB
  price = 2 USD/h
}

workload finetune {
  kind = job
  replicas = 1
  cpu = 32
  memory = 128GiB
  duration = 6h
  command = ["ft.sh"]
}

workload wide {
  kind = job
  replicas = 1
  cpu = 48
  memory = 64GiB
  duration = 2h
  deadline = 24h
  command = ["wide.sh"]
}

policy {
  horizon = 1d
  step = 1h
  start = "2026-12-06T00:00Z"
}

current {
  file = "squeue.json"
}
"""


def _wide(tmp_path: Path, jobs: list[dict]) -> Path:
    (tmp_path / "squeue.json").write_text(json.dumps({"meta": {}, "errors": [], "jobs": jobs}))
    path = tmp_path / "wide.fit"
    path.write_text(WIDE)
    return path


def test_a_running_job_holds_its_room_until_it_ends_not_the_whole_horizon(tmp_path, capsys):
    # finetune runs on the one node until 04:00 (32 of 64 CPU): wide (48) starts at 04:00 or
    # later, once it has ended; holding its room for the whole day left wide no room at all
    path = _wide(tmp_path, [_job(101, "finetune", "gpu-0", 32, START - 2 * HOUR, 360)])
    document = _solved(path, capsys)
    assert _placed(document, "finetune") == []
    [(node, start)] = _placed(document, "wide")
    assert node == "gpu-0" and start >= "2026-12-06T04:00:00Z"
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0
    # wide at 03:00, beside finetune's last hour: 80 CPU of 64
    [item] = document["assignments"]
    item["start"], item["end"] = "2026-12-06T03:00:00Z", "2026-12-06T05:00:00Z"
    (tmp_path / "early.json").write_text(json.dumps(document))
    capsys.readouterr()
    assert main(["verify", str(path), str(tmp_path / "early.json")]) == 1
    assert "E0503" in capsys.readouterr().err


def test_another_teams_job_holds_its_room_until_its_time_limit_ends(tmp_path, capsys):
    # another team's job holds 32 CPU until 05:00 (started at 23:00, 6 h limit): wide starts
    # at 05:00 or later; without a time limit it holds the node all day and wide has no room
    path = _wide(tmp_path, [_job(7, "other", "gpu-0", 32, START - HOUR, 360)])
    document = _solved(path, capsys)
    [(_, start)] = _placed(document, "wide")
    assert start >= "2026-12-06T05:00:00Z"
    path = _wide(tmp_path, [_job(7, "other", "gpu-0", 32, START - HOUR, None)])
    assert main(["solve", str(path), "--format", "json"]) != 0


def test_work_beside_a_running_job_while_it_runs_costs_nothing_more(tmp_path, capsys):
    # the node runs finetune until 04:00 whatever is placed: wide (16 CPU here) beside it then
    # adds no node-hours; the same 2 h after 04:00 would cost 2 x 2 USD
    path = _wide(tmp_path, [_job(101, "finetune", "gpu-0", 32, START - 2 * HOUR, 360)])
    path.write_text(WIDE.replace("cpu = 48", "cpu = 16"))
    document = _solved(path, capsys)
    [(_, start)] = _placed(document, "wide")
    assert start <= "2026-12-06T02:00:00Z" and document["objective"]["value"] == 0


@real_slurm
def test_a_job_running_on_a_real_slurm_is_kept_and_not_submitted_again(tmp_path, capsys):
    """fitc's own finetune script, submitted to a real Slurm (22.05) with its command a sleep,
    runs; `squeue --json` of it is the policy's state: solved again, finetune stays where it
    runs (W0931 names its job), the scripts written submit etl only, and Slurm takes etl's
    script beside the running job."""
    import subprocess
    import time

    from compiling import render
    from slurm_cluster import start_cluster

    hour = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)  # the horizon's start
    path = _policy(tmp_path, [])
    path.write_text(path.read_text().replace("2026-12-06T00:00Z", hour.strftime("%Y-%m-%dT%H:%MZ")))
    context, files = render(path, "slurm")
    (tmp_path / "cluster").mkdir()
    cluster = start_cluster(context.problem, tmp_path / "cluster", [], files)
    try:
        lines = files["finetune.sbatch"].rstrip("\n").splitlines()
        script = tmp_path / "finetune.sbatch"
        script.write_text("\n".join([*lines[:-1], "srun sleep 600"]) + "\n")
        submitted = subprocess.run(["sbatch", "--parsable", f"--output={tmp_path}/ft.out", str(script)],
                                   capture_output=True, text=True, env=cluster.env, timeout=30)
        assert submitted.returncode == 0, submitted.stderr
        job = submitted.stdout.strip().split(";")[0]
        for _ in range(120):
            state = subprocess.run(["squeue", "-h", "-o", "%T", "-j", job], capture_output=True,
                                   text=True, env=cluster.env, timeout=30).stdout.strip()
            if state == "RUNNING":
                break
            time.sleep(0.5)
        assert state == "RUNNING"
        squeue = subprocess.run(["squeue", "--json"], capture_output=True, text=True, env=cluster.env,
                                timeout=30, check=True).stdout
        (tmp_path / "squeue.json").write_text(squeue)
        document = _solved(path, capsys)
        assert _placed(document, "finetune") == [] and len(_placed(document, "etl")) == 2
        kept = [d.message for d in Compilation(path).diagnostics() if d.code == "W0931"]
        assert kept and f"`{job} (finetune)`" in kept[0]
        out = tmp_path / "out"
        assert main(["compile", str(path), "--target", "slurm", "--out", str(out)]) == 0
        assert not (out / "finetune.sbatch").exists() and "finetune" not in (out / "submit.sh").read_text()
        test_only = cluster.sbatch_test_only(out / "etl.sbatch")
        assert test_only.returncode == 0, test_only.stderr
    finally:
        cluster.shutdown()


def test_compile_current_with_a_horizon_keeps_the_running_jobs_and_plan_says_so(tmp_path, capsys):
    # `--current` in place of the policy's block: the start tree refused it (E0906, as a plan)
    path = _policy(tmp_path, [_job(101, "finetune", "gpu-1", 32, START - 2 * HOUR, 360)])
    path.write_text(path.read_text().split("current {")[0])
    state, out = str(tmp_path / "squeue.json"), tmp_path / "out"
    assert main(["compile", str(path), "--current", state, "--target", "slurm", "--out", str(out)]) == 0
    assert "W0931" in capsys.readouterr().err
    assert (out / "etl.sbatch").exists() and not (out / "finetune.sbatch").exists()
    # a plan in time is not built: refused, naming what does it
    assert main(["plan", str(path), "--current", state]) == 1
    assert "`fitc compile --current STATE` keeps its running jobs" in capsys.readouterr().err


def test_a_power_cap_holds_what_the_schedule_adds_beside_the_running_jobs(tmp_path, capsys):
    # two nodes of 1 kW under a 1 kW cap: finetune runs on gpu-0 until 04:00; wide (48 CPU, by
    # 02:00) fits only on gpu-1 then. The running job draws its power whatever is placed, as a
    # node running other teams' work does (neither counts against a cap): wide runs at 00:00
    text = WIDE.replace("count = 1\n  cpu = 64", "count = 2\n  cpu = 64\n  power = 1kW").replace(
        "deadline = 24h", "deadline = 2h") + 'power_cap feed {\n  cap = 1kW\n}\n'
    path = _wide(tmp_path, [_job(101, "finetune", "gpu-0", 32, START - 2 * HOUR, 360)])
    path.write_text(text)
    document = _solved(path, capsys)
    assert _placed(document, "wide") == [("gpu-1", "2026-12-06T00:00:00Z")]
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0

