"""model_bound_beside.py: at fleet scale up to 2,000 nodes, the whole move model's bound is
solved in a child process from the move's start, and the plan states the larger bound
(inventory 1,000 seed 36: the charged LP's 48.62 against a plan of 70.47; the model's 60.04)."""

from __future__ import annotations

import os
import time
from fractions import Fraction

import pytest
from test_plan import state_of

from fitlang.driver import Compilation
from fitlang.plan import make_plan
from fitlang.solve import move_scale
from fitlang.solve.backends import forks

from solving import pool, workload

# four 1-CPU replicas, one on each of four 4-CPU nodes of 60: one node holds them all, and
# emptying the other three moves 3 replicas and drains 3 nodes: 1 + 6 x 0.01 = 1.06 (worked
# in tests/test_move_bound.py); the charged LP keeps the replicas in their class: 1.03
EMPTYING = (pool("a", 60, 4, "16GiB", 1) + workload("w", 4, 1, "1GiB")
            + "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n")


@pytest.mark.skipif(not forks(), reason="the bound runs beside only where processes fork")
def test_the_move_model_s_bound_is_proven_beside_and_stated(tmp_path, monkeypatch):
    solved_in = tmp_path / "pids"
    real = move_scale.move_model_bound

    def recorded(*arguments, **keywords):
        with solved_in.open("a") as handle:  # (a file: the child's memory is its own)
            handle.write(f"{os.getpid()}\n")
        return real(*arguments, **keywords)

    monkeypatch.setattr(move_scale, "move_model_bound", recorded)
    path = tmp_path / "p.fit"
    path.write_text(EMPTYING)
    result = make_plan(Compilation(path), state_of(*[("w", f"a-{i}") for i in range(4)]), time_limit=20.0)
    assert result.placement.value == Fraction(106, 100)
    assert result.placement.bound == pytest.approx(1.06, abs=1e-6) and result.status == "optimal"
    # never solved in this process; the child may not have reached the model where the plan
    # ended first on a loaded machine (clean-clone CI at load ~20: no file), so not asserted
    pids = solved_in.read_text().split() if solved_in.exists() else []
    assert str(os.getpid()) not in pids


def test_without_a_limit_or_a_move_price_nothing_runs_beside(tmp_path):
    from fitlang.model.build import with_current
    from fitlang.solve.model_bound_beside import model_bound_beside

    path = tmp_path / "p.fit"
    path.write_text(EMPTYING)
    compilation = Compilation(path)
    problem = with_current(compilation.problem, compilation.check().program,
                           state_of(*[("w", f"a-{i}") for i in range(4)]))
    assert model_bound_beside(problem, "cost+moves", None) is None
    assert model_bound_beside(problem, "cost", 5.0) is None


@pytest.mark.skipif(not forks(), reason="the bound runs beside only where processes fork")
def test_the_move_model_s_bound_is_collected_after_the_waves(tmp_path, monkeypatch):
    """The child runs on through the plan's waves (`through_waves`): here its model proves
    nothing until the waves have begun (a file the waves write), so only a bound collected
    after them closes the gap (collected at the move's end, as before, the plan keeps the
    charged LP's, here made 1.03, and is `feasible`)."""
    from fitlang.solve import move_bound, moving

    begun = tmp_path / "waves-begun"
    real_waves = moving.waves

    def waves_told(*arguments, **keywords):
        begun.write_text("begun")
        return real_waves(*arguments, **keywords)

    def proven_once_the_waves_begin(problem, deadline, cpu_seconds=None):
        while time.monotonic() < deadline:
            if begun.exists():
                return Fraction(106, 100)
            time.sleep(0.01)
        return None

    monkeypatch.setattr(moving, "waves", waves_told)
    monkeypatch.setattr(move_bound, "moves_lower_bound", lambda *arguments, **keywords: Fraction(103, 100))
    monkeypatch.setattr(move_scale, "move_model_bound", proven_once_the_waves_begin)
    path = tmp_path / "p.fit"
    path.write_text(EMPTYING)
    result = make_plan(Compilation(path), state_of(*[("w", f"a-{i}") for i in range(4)]), time_limit=20.0)
    assert result.placement.value == Fraction(106, 100) and begun.exists()
    assert result.placement.bound == pytest.approx(1.06, abs=1e-6) and result.status == "optimal"
    assert result.placement.later_bound is None  # (collected: the child is not left running)


@pytest.mark.skipif(not forks(), reason="the bound runs beside only where processes fork")
def test_off_the_wall_the_child_s_model_has_slack_on_the_wall_and_its_cpu_seconds(tmp_path, monkeypatch):
    """On a bench's CPU clock the child's model stops at its CPU seconds; its deadline (hence
    HiGHS's wall limit) has `OFF_WALL_WAITS` times their slack, as its parent's wait for it has:
    a child's share of a core is not its parent's (without it, HiGHS's wall limit cut the
    child at ~60% of its seconds: plan 39's bound 90.34 where its seconds prove 104.94)."""
    from fitlang.model.build import with_current
    from fitlang.solve.model_bound_beside import model_bound_beside
    from fitlang.solve.move_bound_beside import OFF_WALL_WAITS

    given = tmp_path / "given"

    def recorded(problem, deadline, cpu_seconds=None):
        given.write_text(f"{deadline - time.monotonic()} {cpu_seconds}")  # (the child's clock)
        return Fraction(1)

    monkeypatch.setattr(move_scale, "move_model_bound", recorded)
    monkeypatch.setattr(time, "monotonic", time.process_time)  # (as the benches' CPU clock)
    path = tmp_path / "p.fit"
    path.write_text(EMPTYING)
    compilation = Compilation(path)
    problem = with_current(compilation.problem, compilation.check().program,
                           state_of(*[("w", f"a-{i}") for i in range(4)]))
    # (failed twice in 6 CIs of session 42 with None here, never locally: say which gate shut)
    from fitlang.solve import move_neighbourhood
    from fitlang.solve.backends import forks as forking

    assert (forking(), move_scale.MOVE_MODEL_MAX_NODES, move_neighbourhood.LARGE_NODES, problem.move_price) \
        == (True, 2_000, 2_000, Fraction(1, 100))
    beside = model_bound_beside(problem, "cost+moves", 2.0)
    assert beside is not None and beside.collected() == 1
    span, cpu_seconds = map(float, given.read_text().split())
    assert cpu_seconds == pytest.approx(2.0, abs=0.1)
    assert span >= (OFF_WALL_WAITS - 0.2) * cpu_seconds
