"""A fleet-scale solve ends by its time limit, on a machine shared with other work too.

The stages after the greedy floor are given what is left, less what the stages after them are
expected to take at the CPU share this process had while the floor ran (solve/budget.py);
and `fitc solve --time-limit` counts from the process's start. These tests make the machine
slow on purpose (a stage that waits as long again as it works: half a CPU), or the start-up
long, and check only when the run ends: the answer's quality is the benchmark's business.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_moving import UNDERCUT

from fitlang.solve import aggregate, bound_stages
from fitlang.solve import placement as placement_module
from fitlang.solve.backends import HighsBackend
from fitlang.solve.budget import FINISH_CPU_PER_WORKLOAD, Budget
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import CpuWatch, bench_module, problem_from, problem_running

ROOT = Path(__file__).resolve().parent.parent


def _at_half_a_cpu(function):
    """The function as a machine at load ~2 on one core runs it: as long again in wall time,
    with no more CPU time (the other half goes to someone else)."""
    @functools.wraps(function)
    def slowed(*args, **kwargs):
        begun = time.monotonic()
        try:
            return function(*args, **kwargs)
        finally:
            time.sleep(time.monotonic() - begun)
    return slowed


@pytest.mark.parametrize(("nodes", "time_limit"), [(2000, 1.0), (4000, 2.0)])
def test_a_slow_machine_ends_the_solve_by_its_limit(tmp_path, monkeypatch, nodes, time_limit):
    # the bench shape, where the aggregate model runs at these sizes and its answer is
    # packed after it (a stage that does not watch the deadline: it is kept time for). At
    # half a CPU the packing takes twice as long: the model must leave it that time, or be
    # skipped, and the floor's stages must stop in time. Slack: 10% and 0.2 s for the
    # scheduler (the floor alone, which runs whole whatever is left, takes < 0.3 s here).
    # On a machine slower still (the load of others), what ran past the limit must be that
    # little CPU: at load 40 the floor alone took more wall than the slack
    fleet = bench_module("fleet").generate(nodes, nodes // 10)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    for module, name in ((placement_module, "greedy_floor"), (placement_module, "pack"),
                         (aggregate, "pack"), (aggregate, "repair")):
        monkeypatch.setattr(module, name, _at_half_a_cpu(getattr(module, name)))
    watch, started = CpuWatch(), time.monotonic()
    placement = placement_module.solve(problem, time_limit=time_limit)
    elapsed = time.monotonic() - started
    slack = 0.1 * time_limit + 0.2
    cpu_share = min(1.0, sum(watch.seconds()) / elapsed)
    assert elapsed <= time_limit + slack or (elapsed - time_limit) * cpu_share <= slack, (elapsed, cpu_share)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [] and not placement.unplaced


def test_the_time_limit_counts_the_start_up_of_the_command(tmp_path):
    # a process that starts slowly (here: 2 s before fitc's `entry`, as imports take on a
    # loaded machine) has that much less for the solve: `--time-limit 4` ends the whole
    # command by ~4 s from its start, not 4 s after `main` began (>= 6 s). The inventory
    # shape at 1,000 nodes: its model does not close in 30 s, so the solve uses all it is
    # given. Slack: 1.25 s for the answer's finish (the greedy floor runs whole). On the
    # benches' CPU clock, the process's age its CPU seconds, its start-up 2 CPU s: on the
    # wall at load 25 the imports alone took the command past its limit (21 s of wall,
    # 0.76 CPU s in all), which said nothing of where the limit counts from
    fleet = bench_module("inventories").generate(1000, 100)
    path = fleet.write(tmp_path, "inventory-1000")
    late_start = ("import atexit, sys, time\ntime.monotonic = time.process_time\n"
                  "busy = time.process_time() + 2\nwhile time.process_time() < busy: pass\n"
                  "from fitlang import cli\ncli._process_age = time.process_time\n"
                  "atexit.register(lambda: print(f'cpu {time.process_time()}', file=sys.stderr))\n"
                  f"sys.argv = ['fitc', 'solve', {str(path)!r}, '--time-limit', '4', "
                  "'--format', 'json']\ncli.entry()")
    done = subprocess.run([sys.executable, "-c", late_start], capture_output=True, text=True,
                          cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr
    cpu = float(done.stderr.split("cpu ")[-1])
    assert 2 <= cpu <= 4 + 1.25, cpu
    assert json.loads(done.stdout)["status"] in ("feasible", "optimal")


def test_the_process_s_age_is_read_from_its_start_not_from_fitc_s_import():
    # what `entry` takes off the limit above, on the wall as `fitc` runs: a second asleep
    # before fitc is imported is in it (at any load: a loaded machine only adds to it)
    late_import = "import time; time.sleep(1); from fitlang import cli; print(cli._process_age())"
    done = subprocess.run([sys.executable, "-c", late_import], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr
    assert float(done.stdout) >= 1.0


def test_a_model_cut_before_its_root_still_answers_with_a_bound(tmp_path, monkeypatch):
    # under contention HiGHS can get too little of its window to finish its root LP: the
    # model's answer then has no bound, and nothing is left for the floor's bounds after it.
    # Here the model's solve is made to take its whole window and prove nothing (as it did
    # on bench 10,000 at 5 s, load ~2); the answer must still come with a proven bound, at
    # most its value and at most an independent one (the same problem solved without a limit)
    fleet = bench_module("fleet").generate(2000, 200)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    unlimited = placement_module.solve(problem)
    assert unlimited.bound is not None and unlimited.value is not None

    minimise = HighsBackend.minimise

    def cut_before_the_root(self, *args, **kwargs):
        # (and the packing after it slow: nothing is left of the limit when the model returns)
        outcome = minimise(self, *args, **kwargs)
        time.sleep(max(0.0, started + time_limit - 0.05 - time.monotonic()))
        return dataclasses.replace(outcome, bound=None)

    monkeypatch.setattr(HighsBackend, "minimise", cut_before_the_root)
    # (the model's path: the LP-guided floor, which skips the model where it pays, is off)
    monkeypatch.setattr(placement_module, "_lp_guided_floor", lambda run: False)
    started, time_limit = time.monotonic(), 3.0
    placement = placement_module.solve(problem, time_limit=time_limit)
    assert placement.value is not None and not placement.unplaced
    assert placement.bound is not None and 0 < placement.bound <= placement.value
    assert placement.bound <= unlimited.value
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == []


def test_a_pair_bound_cut_by_its_share_sends_the_solve_down_the_floors_path(tmp_path, monkeypatch):
    # the pair bound before the model cut by its share of the model's window says the process
    # has too little of a core for the model's root (bench 10,000 at 5 s, load ~4: the model
    # then cut before its root, 21.6% against the cut bound). The model is not run; the
    # floor's bounds and passes are, and the answer carries their proven bound
    fleet = bench_module("fleet").generate(2000, 200)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    unlimited = placement_module.solve(problem)
    assert unlimited.value is not None
    lower_bound = placement_module.lower_bound
    calls = []

    def cut_the_first(*args, **kwargs):
        found = lower_bound(*args, **kwargs)
        calls.append(found)
        return dataclasses.replace(found, converged=False) if len(calls) == 1 else found

    models = []
    optimised = placement_module._optimised

    def counted(*args, **kwargs):  # the aggregate model (the searches' own small models aside)
        models.append(1)
        return optimised(*args, **kwargs)

    monkeypatch.setattr(placement_module, "lower_bound", cut_the_first)
    monkeypatch.setattr(bound_stages, "lower_bound", cut_the_first)  # (the bounds stage's own)
    monkeypatch.setattr(placement_module, "_optimised", counted)
    placement = placement_module.solve(problem, time_limit=20.0)
    assert models == []
    assert len(calls) >= 2  # the floor's path proved its own pair bound
    assert placement.value is not None and not placement.unplaced
    assert placement.bound is not None and 0 < placement.bound <= unlimited.value
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == []


UNDERCUT_MOVES_FIRST = UNDERCUT + "\npolicy {\n  objective = [moves, cost]\n}\n"
RUNNING_OLD = [("web", f"old-{i // 2}") for i in range(12)]


def test_the_plan_s_whole_model_leaves_the_move_s_share_for_keeping_replicas_in_place(tmp_path, monkeypatch):
    # a move the search from what runs does not serve (`moves` first, past 48 nodes) goes to
    # the whole model; one that takes all it is given must leave `KEPT_SHARE` of the move's
    # limit for matching its nodes to the running ones after it (it was given all of it, and
    # those ran past the move's share: 2.2-2.7 s at 10,000 nodes)
    import scipy.optimize  # noqa: F401  (`keep_in_place`'s import, 0.3-1.8 s under load, done before)

    from fitlang.solve import moving

    problem = problem_running(tmp_path, UNDERCUT_MOVES_FIRST, RUNNING_OLD)
    given: list[float] = []
    solve = moving._solve

    def whole_model(problem, backend, time_limit):
        begun = time.monotonic()
        given.append(time_limit)
        placement = solve(problem, backend, time_limit)
        time.sleep(max(0.0, time_limit - (time.monotonic() - begun)))
        return placement

    monkeypatch.setattr(moving, "_solve", whole_model)
    started, time_limit = time.monotonic(), 2.0
    placement = moving.solve_move(problem, time_limit=time_limit)
    assert len(given) == 1 and given[0] <= (1 - moving.KEPT_SHARE) * time_limit
    assert time.monotonic() - started <= time_limit + 0.2
    assert {a.node for a in placement.assignments} == {f"old-{i}" for i in range(6)}  # (none moves)


def test_kept_in_place_past_its_deadline_leaves_the_placement_as_it_is(tmp_path):
    # the twelve replicas packed onto the class's last six nodes: packed again around what
    # runs they stay (the placement kept in place); past the deadline it is left as it was
    from fitlang.solve.linear import Status
    from fitlang.solve.moving import kept_in_place
    from fitlang.solve.placement_result import Assignment, Placement

    problem = problem_running(tmp_path, UNDERCUT_MOVES_FIRST, RUNNING_OLD)
    elsewhere = Placement(Status.FEASIBLE, "moves", None, None,
                          assignments=[Assignment("web", i, f"old-{29 - i // 2}") for i in range(12)])
    assert {a.node for a in kept_in_place(problem, elsewhere).assignments} == {f"old-{i}" for i in range(6)}
    assert kept_in_place(problem, elsewhere, deadline=time.monotonic() - 1) is elsewhere


def test_the_checks_before_the_stages_count_against_the_time_limit(tmp_path, monkeypatch):
    # a fleet solved by the stages (more nodes than EXACT_MAX_NODES); the room check before them
    # (room.py) made to take 3 s of a patched clock: the stages are given the 5 s limit less
    # those 3. Before, their clock began after it (0.8 CPU s past a 10 s limit at 10,000
    # workloads: many_workloads 10,000 / 1,500, session 56)
    problem = problem_from(tmp_path, 'pool p {\n  count = 60\n  cpu = 8\n  memory = 32GiB\n'
                                     '  price = 0.40 USD/h\n}\nworkload w {\n  replicas = 4\n  cpu = 1\n'
                                     '  memory = 1GiB\n  image = "r/w:1"\n}\n')
    assert sum(c.count for c in problem.classes) > placement_module.EXACT_MAX_NODES
    now = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: now[0])

    def slow_check(checked) -> bool:
        now[0] += 3.0
        return False

    given: list[float | None] = []

    class Stop(Exception):
        pass

    def stages(checked, backend, time_limit, *rest, **named):
        given.append(time_limit)
        raise Stop

    monkeypatch.setattr(placement_module, "short_of_room", slow_check)
    monkeypatch.setattr(placement_module, "_solve", stages)
    with pytest.raises(Stop):
        placement_module.solve(problem, "auto", 5.0)
    assert given == [pytest.approx(2.0)]


def test_the_search_ends_sooner_by_what_the_report_of_more_workloads_takes():
    # the same replicas of more workloads: the self-check and the report read each workload
    # (10,000 workloads of 16,000 replicas: 0.53 CPU s after the solve, where the replicas alone
    # kept 0.24)
    budget = Budget(deadline=100.0, time_limit=10.0, cpu_share=0.5)
    few, many = budget.search_deadline(16_000, 100), budget.search_deadline(16_000, 10_000)
    assert few is not None and many is not None
    assert few - many == pytest.approx(budget.wall(FINISH_CPU_PER_WORKLOAD * 9_900))
