"""Running jobs' room held until a step inside the horizon, as the time solver reads it
(`fitlang/solve/held_room.py`, `timeline._fits_beside`): each hold pinned work on its node's
own class, no start beside a hold where a replica does not fit, and a hold the search left
out taking the work beside it out too. The policy and states are test_running_jobs.py's."""

from __future__ import annotations

from test_running_jobs import HOUR, START, _job, _wide

from fitlang.driver import Compilation


def test_a_hold_the_search_left_out_leaves_out_the_work_beside_it(tmp_path):
    # (a safety net: each hold is placed first, at its one spot) an answer without finetune's
    # hold on gpu-0 must not keep wide there while finetune runs: wide is left out, said why
    from fitlang.solve.held_room import is_held, with_holds, without_holds
    from fitlang.solve.linear import Status
    from fitlang.solve.placement_result import Unplaced
    from fitlang.solve.timeline import TimedAssignment, TimedPlacement

    path = _wide(tmp_path, [_job(101, "finetune", "gpu-0", 32, START - 2 * HOUR, 360)])
    held = with_holds(Compilation(path).problem)
    [hold] = [d.name for d in held.demands if is_held(d.name)]
    placement = TimedPlacement(Status.FEASIBLE, "cost", None, None, [
        TimedAssignment("wide", 0, "gpu-0", start=1, end=3)], [Unplaced(hold, 0, "no room")])
    answer = without_holds(placement, held)
    assert answer.status is Status.UNKNOWN and answer.assignments == []
    assert [(u.workload, u.reason) for u in answer.unplaced] == [
        ("wide", "its node `gpu-0` is held by a running job (101 (finetune)) then, and no schedule "
                 "beside it was found")]


def test_the_time_model_has_no_start_beside_a_hold_where_a_replica_does_not_fit(tmp_path):
    # finetune holds 32 of gpu-0's 64 CPU until 04:00: wide (48) may start there at 04:00 at
    # the earliest; the model had columns from 00:00, which its relaxation used in part (half
    # a replica beside the hold, at no charge), a bound far under the optimum
    from fitlang.solve.held_room import with_holds
    from fitlang.solve.timeline import encode

    path = _wide(tmp_path, [_job(101, "finetune", "gpu-0", 32, START - 2 * HOUR, 360)])
    problem = with_holds(Compilation(path).problem)
    encoding = encode(problem, problem.timeline)
    starts = sorted(start for demand, class_id, start in encoding.x if demand == "wide"
                    and class_id == "gpu@gpu-0")
    assert starts == list(range(4, 23))  # 04:00 to 22:00 (2 h by the 24 h deadline)


def test_a_pool_node_another_teams_job_holds_all_horizon_keeps_its_own_room_in_time(tmp_path, capsys):
    # another team's job without a time limit holds 32 of gpu-0's 64 CPU all day; 17 wide
    # replicas (48 CPU, 2 h) fit on the 16 other nodes, never on gpu-0 (one waits 2 h). A fleet
    # of more than 16 nodes is solved over classes, and the time solver's ledger read the
    # pool's room for every node: it started one on gpu-0 (80 CPU), E0507
    import json

    from fitlang.cli import main

    path = _wide(tmp_path, [_job(7, "other", "gpu-0", 32, START - HOUR, None)])
    path.write_text(path.read_text().replace("count = 1", "count = 17").replace(
        "workload wide {\n  kind = job\n  replicas = 1", "workload wide {\n  kind = job\n  replicas = 17"))
    assert main(["solve", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert sorted(a["node"] for a in document["assignments"] if a["workload"] == "wide") != [] and \
        all(a["node"] != "gpu-0" for a in document["assignments"] if a["workload"] == "wide")
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0


def test_a_node_other_teams_work_holds_all_horizon_stays_in_its_class(tmp_path, capsys):
    # the same 17-node pool: gpu-0 keeps its class, with its own room (32 CPU), which the
    # time solver's ledger holds it to; the start tree made it a class of its own (a cluster
    # with thousands of running jobs: thousands of classes)
    import json

    from fitlang.cli import main

    path = _wide(tmp_path, [_job(7, "other", "gpu-0", 32, START - HOUR, None)])
    path.write_text(path.read_text().replace("count = 1", "count = 17").replace(
        "workload wide {\n  kind = job\n  replicas = 1", "workload wide {\n  kind = job\n  replicas = 17"))
    problem = Compilation(path).problem
    assert [(c.count, c.capacity_of("gpu-0")["cpu"]) for c in problem.classes] == [(17, 32000)]
    assert main(["solve", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    wide = [a["node"] for a in document["assignments"] if a["workload"] == "wide"]
    assert len(wide) == 17 and "gpu-0" not in wide
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0


def test_holds_past_a_nodes_room_fill_it_while_they_last_and_the_rest_is_placed(tmp_path, capsys):
    # gpu-0 (64 CPU) runs finetune (32, until 04:00) and another team's job (48, its 6 h limit
    # ends at 06:00): 80 CPU, as an oversubscribed partition runs. The start tree could not
    # place both holds (each was cut to the node's room, not their sum) and answered
    # `unknown`, E0506, with a schedule; now the node is full until 04:00, has 16 CPU until
    # 06:00, and wide (48) starts at 06:00 or later
    import json

    from fitlang.cli import main

    path = _wide(tmp_path, [_job(101, "finetune", "gpu-0", 32, START - 2 * HOUR, 360),
                            _job(7, "other", "gpu-0", 48, START, 360)])
    assert main(["solve", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["status"] == "optimal"
    [item] = document["assignments"]
    assert item["workload"] == "wide" and item["start"] >= "2026-12-06T06:00:00Z"
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0
    item["start"], item["end"] = "2026-12-06T05:00:00Z", "2026-12-06T07:00:00Z"  # beside the 48
    (tmp_path / "early.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "early.json")]) == 1


def test_a_slurm_node_held_past_its_cpus_takes_no_work_until_its_longest_hold_ends(tmp_path, capsys):
    # n1 (16 CPU, read from Slurm) runs other (8 CPU, until 02:00) and finetune (16 CPU, started
    # at 01:00, as a state read late shows it, until 07:00): the node is full until 07:00. The
    # hold left no CPU (8 + 16 > 16) must not count a CPU as a Slurm task would (the branch
    # before this answered E0507: 17 CPU of 16), and batch (4 CPU) starts at 07:00 or later
    import json

    from fitlang.cli import main

    (tmp_path / "nodes.txt").write_text(
        "NodeName=n1 Arch=x86_64 CPUAlloc=0 CPUEfctv=16 CPUTot=16 RealMemory=65536 AllocMem=0 "
        "State=IDLE ThreadsPerCore=1 TmpDisk=0 Partitions=batch\n")
    jobs = [_job(7, "other", "n1", 8, START - 2 * HOUR, 240),
            _job(101, "finetune", "n1", 16, START + HOUR, 360)]
    (tmp_path / "squeue.json").write_text(json.dumps({"meta": {}, "errors": [], "jobs": jobs}))
    path = tmp_path / "rack.fit"
    path.write_text('inventory rack {\n  format = slurm\n  file = "nodes.txt"\n  price = 1 USD/h\n}\n\n'
                    'workload finetune {\n  kind = job\n  replicas = 1\n  cpu = 16\n  memory = 4GiB\n'
                    '  duration = 6h\n  command = ["ft.sh"]\n}\n\n'
                    'workload batch {\n  kind = job\n  replicas = 1\n  cpu = 4\n  memory = 4GiB\n'
                    '  duration = 2h\n  command = ["b.sh"]\n}\n\n'
                    'policy {\n  horizon = 12h\n  step = 1h\n  start = "2026-12-06T00:00Z"\n}\n\n'
                    'current {\n  file = "squeue.json"\n}\n')
    assert main(["solve", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    [item] = document["assignments"]
    assert item["workload"] == "batch" and item["start"] >= "2026-12-06T07:00:00Z"
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0
