"""solve/clock.py: HiGHS and the group programs' children are stopped on the solve's clock
(`time.monotonic`), which the benches' `--cpu-clock` sets to the process's CPU time; on the
wall, as `fitc` runs, nothing changes."""

from __future__ import annotations

import random
import time

import pytest

from fitlang.solve import backends, clock, group_pack
from fitlang.solve.backends import HighsBackend
from fitlang.solve.linear import LinearModel, Status


@pytest.fixture
def half_a_core(monkeypatch):
    """A bench's clock in a process given half a core: the solve's clock runs at half the
    wall's pace, and has done so for the last second (the share it measured)."""
    monkeypatch.setattr(time, "monotonic", lambda: time.perf_counter() / 2)
    share = clock._Share()
    share.wall, share.clock = share.wall - 1.0, share.clock - 0.5
    monkeypatch.setattr(clock, "_SHARE", share)


def _bin_packing():
    """60 items into bins of a twelfth of their total, fewest bins: HiGHS finds 13 at once
    and does not prove 12 the least in 2 CPU s (it is 13): it runs to its limit."""
    rng = random.Random(3)
    sizes = [rng.randint(10**5, 10**6) for _ in range(60)]
    capacity, bins = sum(sizes) // 12, 14
    model = LinearModel()
    x = {(i, b): model.var(f"x{i}_{b}", 0, 1) for i in range(len(sizes)) for b in range(bins)}
    used = [model.var(f"u{b}", 0, 1) for b in range(bins)]
    for i in range(len(sizes)):
        model.add({x[i, b]: 1 for b in range(bins)}, lower=1, upper=1)
    for b in range(bins):
        model.add({**{x[i, b]: sizes[i] for i in range(len(sizes))}, used[b]: -capacity}, upper=0)
    return model, {column: 1 for column in used}


def test_on_the_wall_a_limit_is_the_same_wall_limit():
    assert clock.on_the_wall()
    assert clock.wall_seconds(1.5) == 1.5


def test_a_highs_solve_at_half_a_core_gets_its_limit_on_the_solve_s_clock(half_a_core):
    # 0.4 s on a clock at half the wall's pace is 0.8 s of wall; HiGHS's wall limit of 0.4 s
    # (as before) would stop it half way
    assert not clock.on_the_wall()
    model, objective = _bin_packing()
    began = time.perf_counter()
    outcome = HighsBackend(relative_gap=0).minimise(model, objective, time_limit=0.4)
    wall = time.perf_counter() - began
    assert outcome.status is Status.FEASIBLE and outcome.objective == 13  # stopped at its limit
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
