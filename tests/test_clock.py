"""solve/clock.py: HiGHS and the group programs' children are stopped on the solve's clock
(`time.monotonic`), which the benches' `--cpu-clock` sets to the process's CPU time; on the
wall, as `fitc` runs, nothing changes."""

from __future__ import annotations

import itertools
import json
import random
import time

import pytest

from fitlang import cli
from fitlang.solve import backends, clock, group_pack
from fitlang.solve.backends import HighsBackend
from fitlang.solve.linear import LinearModel, Status

from solving import bench_module


@pytest.fixture
def half_a_core(monkeypatch):
    """A bench's clock in a process given half a core: the solve's clock runs at half the
    wall's pace, and has done so for the last second (the share it measured)."""
    monkeypatch.setattr(time, "monotonic", lambda: time.perf_counter() / 2)
    share = clock._Share()
    share.wall, share.clock = share.wall - 1.0, share.clock - 0.5
    monkeypatch.setattr(clock, "_SHARE", share)


def _market_split(rows: int = 4, columns: int = 30):
    """Cornuejols and Dawande's market split: 30 items to halve four weights at once, least
    total miss. HiGHS finds a miss of a few at once and does not prove the least (its LP
    bound stays 0) in seconds: it runs to its limit."""
    rng = random.Random(5)
    model = LinearModel()
    x = [model.var(f"x{j}", 0, 1) for j in range(columns)]
    objective = {}
    for i in range(rows):
        weights = [rng.randint(0, 99) for _ in range(columns)]
        over, under = model.var(f"over{i}", 0, sum(weights)), model.var(f"under{i}", 0, sum(weights))
        half = sum(weights) // 2
        model.add({**dict(zip(x, weights, strict=True)), over: -1, under: 1}, lower=half, upper=half)
        objective.update({over: 1, under: 1})
    return model, objective


def test_on_the_wall_a_limit_is_the_same_wall_limit():
    assert clock.on_the_wall()
    assert clock.wall_seconds(1.5) == 1.5


def test_a_highs_solve_at_half_a_core_gets_its_limit_on_the_solve_s_clock(half_a_core):
    # 0.4 s on a clock at half the wall's pace is 0.8 s of wall; HiGHS's wall limit of 0.4 s
    # (as before) would stop it half way
    assert not clock.on_the_wall()
    model, objective = _market_split()
    began = time.perf_counter()
    outcome = HighsBackend(relative_gap=0).minimise(model, objective, time_limit=0.4)
    wall = time.perf_counter() - began
    assert outcome.status is Status.FEASIBLE  # stopped at its limit, unproven
    assert 0.7 <= wall <= 1.3, wall


class _SlowProgram:
    """A group's program whose solve takes 0.6 s of wall: 0.3 s on a clock at half its pace."""

    def solve(self, deadline: float) -> dict[int, dict[str, int]]:
        time.sleep(0.6)
        return {0: {"web": 1}}


def test_a_group_program_at_half_a_core_is_not_ended_by_the_kernel_before_its_limit(half_a_core, monkeypatch):
    # given 0.4 s on the solve's clock (0.8 s of wall), the child's alarm (on the wall) must
    # not end it at 0.4 s of wall: its answer is in
    monkeypatch.setattr(group_pack, "KILL_GRACE", 0.0)
    if not backends.forks():
        pytest.skip("no child process where processes cannot fork")
    assert group_pack._solved_apart(_SlowProgram(), time.monotonic() + 0.4) == {0: {"web": 1}}


def test_a_highs_solve_capped_by_its_nodes_ends_at_the_same_place_with_no_limit_in_seconds():
    # the market split runs to any limit in seconds, so where that limit ends it depends on the
    # machine; stopped after 50 nodes of its branch and bound, it ends unproven with the same
    # solution every time
    model, objective = _market_split()
    first, second = (HighsBackend(relative_gap=0, most_nodes=50).minimise(model, objective) for _ in range(2))
    assert first.status is Status.FEASIBLE and first.solution is not None
    assert first.solution == second.solution and first.objective == second.objective


def _wall_jumping(monkeypatch, seconds: float, after_reads: int = 20) -> None:
    """The wall as `time.monotonic` and `time.perf_counter` read it leaps `seconds` ahead
    once it has been read `after_reads` times: a command on a machine so loaded that minutes
    pass between two of its steps."""
    reads = itertools.count()
    for name in ("monotonic", "perf_counter"):
        read = getattr(time, name)
        monkeypatch.setattr(time, name,
                            lambda read=read: read() + (seconds if next(reads) >= after_reads else 0.0))


def test_fitc_solve_with_its_default_limit_answers_the_same_when_minutes_of_wall_pass(tmp_path, monkeypatch,
                                                                                      capsys):
    # with no --time-limit, `fitc solve` counts its 60 s on the CPU, not the wall: fleet.py 600
    # seed 4 (1.5 CPU s to 444.13 `optimal`) ended at 444.40 to 450.66 where the load made a
    # minute of wall pass first (session 47). The wall backstop (ten times the limit) is not reached
    bench_module("fleet").generate(600, 80, seed=4).write(tmp_path, "fleet")
    command = ["solve", str(tmp_path / "fleet.fit"), "--format", "json"]
    assert cli.main(command) == 0
    as_is = capsys.readouterr().out
    _wall_jumping(monkeypatch, 300.0)
    assert cli.main(command) == 0
    assert capsys.readouterr().out == as_is


def test_the_cpu_clock_a_default_limit_counts_ends_by_its_wall_backstop():
    # a process given almost no CPU still ends: the clock never runs more than nine times the
    # limit behind the wall, so a 60 s default ends by 600 s of wall
    # (read against the CPU this process has had so far: a test worker that ran other tests first
    # has had more than 60 s of it, CI session 59)
    cpu = time.process_time()
    began = time.perf_counter()
    assert clock.CpuClock(60.0, began)() < cpu + 1.0  # the process's CPU, the wall far from its backstop
    assert clock.CpuClock(60.0, began - 600.0 - cpu)() >= 60.0 + cpu  # past it: the wall's


def test_fitc_plan_with_its_default_limit_plans_the_same_when_minutes_of_wall_pass(tmp_path, monkeypatch,
                                                                                    capsys):
    # the plan's default counts the CPU too, and so does what reads the clock inside it: the
    # whole model is solved after the search from what runs only where that search ended within
    # half the limit (`moving._whole_model_may_pay`). move_bench's 201 pools nodes: 184 moves to
    # 18.3 where it did, 221 where the load made it seem not to (session 47)
    text, state = bench_module("move_bench").pools_fleet(201, seed=1)
    (tmp_path / "p.fit").write_text(text)
    (tmp_path / "now.json").write_text(json.dumps(state))
    command = ["plan", str(tmp_path / "p.fit"), "--current", str(tmp_path / "now.json"), "--format", "json"]
    assert cli.main(command) == 2
    as_is = capsys.readouterr().out
    _wall_jumping(monkeypatch, 300.0)
    assert cli.main(command) == 2
    assert capsys.readouterr().out == as_is


def _highs_wall_limit(seconds: float) -> float:
    """HiGHS's own time limit (on the wall) where it is given `seconds` on the solve's clock."""
    import highspy

    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    clock.highs_limited(highs, time.monotonic() + seconds, branching=False)
    return float(highs.getOptionValue("time_limit")[1])


def test_highs_in_a_child_on_the_cpu_clock_is_not_stopped_on_the_wall_by_its_parent_s_share(monkeypatch):
    # the benches' clock is the process's CPU time; a parent that had not measured its share
    # (a whole core, as at import) gave its child's HiGHS a wall limit of its CPU seconds: the
    # sites shape at 50 nodes, its time model's MIP in a child, ran a fifth of its 22.8 CPU s at
    # load 12 and found nothing (`unknown`, job4 out), where at load 3 it found a schedule. The
    # child's wall limit is at the least share until it measures its own; its parent stops it
    # on its CPU (`clock.answered`)
    if not backends.forks():
        pytest.skip("no child process where processes cannot fork")
    monkeypatch.setattr(time, "monotonic", time.process_time)
    monkeypatch.setattr(clock, "_SHARE", clock._Share())
    assert not clock.on_the_wall()
    limit = backends.Minimising.running(_highs_wall_limit, 2.0).result()
    assert limit == pytest.approx(2.0 / clock.LEAST_CPU_SHARE, rel=0.05)
