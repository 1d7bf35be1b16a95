"""solve/work.py: with no user limit (`fitc`'s default, counted on the CPU), the stages that
stopped at a share of that time stop at a count of their work: the same answer on a machine
half or twice as fast."""

from __future__ import annotations

import time

import pytest
from test_clock import _market_split

from fitlang.solve import aggregate, clock

from solving import bench_module, problem_from


def _on_a_machine(monkeypatch, speed: float) -> None:
    """`fitc`'s default limit (a CPU clock) on a machine `speed` times as fast as this one: its
    CPU seconds pass 1 / `speed` times as fast as this process's."""
    process_time = time.process_time
    monkeypatch.setattr(time, "process_time", lambda: process_time() / speed)


def _counted(monkeypatch, speed: float, limit: float, run):
    """`run()` under a default limit of `limit` CPU seconds on a machine `speed` times as fast;
    its wall backstop out of the way (at load 35 a few CPU seconds took the 160 s of wall that
    a 16 s limit's backstop allows: the load is not what is measured here)."""
    with monkeypatch.context() as patched:
        _on_a_machine(patched, speed)
        patched.setattr(clock, "WALL_BACKSTOP_TIMES", 10_000)
        with clock.counted_on_the_cpu(limit, 0.0):
            return run()


def test_no_user_limit_is_the_default_limit_s_cpu_clock():
    from fitlang.solve import work

    assert not work.counted()
    with clock.counted_on_the_cpu(60.0, 0.0):
        assert work.counted() and work.default_limit() == 60.0


def test_a_highs_program_with_no_user_limit_stops_at_the_same_node_on_any_machine(monkeypatch):
    # repack's and the group programs' HiGHS, stopped at `highs_limited`'s deadline: on the start
    # tree at 0.1 s of the clock, so a machine twice as fast searched four times the nodes of
    # one half as fast; with no user limit, at the node count those seconds stand for (HiGHS
    # asks its callback between nodes: a few past it)
    model, objective = _market_split()

    def nodes() -> tuple[int, float]:
        from fitlang.solve.backends import _highs_with, matrix_form

        highs = _highs_with(matrix_form(model, objective))
        clock.highs_limited(highs, time.monotonic() + 0.1)
        highs.run()
        info = highs.getInfo()
        return info.mip_node_count, info.objective_function_value

    slow, fast = (_counted(monkeypatch, speed, 60.0, nodes) for speed in (0.5, 2.0))
    assert slow == fast


def test_the_aggregate_model_with_no_user_limit_settles_at_the_same_node_on_any_machine(monkeypatch,
                                                                                         tmp_path):
    # inventory 1,000 seed 3 with no --time-limit answered 41.332 or 41.902 by the run: the
    # relaxed aggregate model settled past a quarter of its seconds (`MODEL_SETTLE_SHARE`), at
    # whichever node the CPU had reached. Here on 300 nodes (not every replica fits: its
    # priority levels first), a default limit of 16 CPU s, on machines 0.7 and 1.5 times as fast
    fleet = bench_module("inventories").generate(300, 40, seed=3)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)

    def solved():
        found = aggregate.solve_aggregate(problem, "auto", ["cost"], {}, time.monotonic() + 12.8, relax=True)
        assert found is not None
        _, outcome, counts, _, _ = found
        return outcome.objective, outcome.bound, sorted(counts.items())

    assert _counted(monkeypatch, 0.7, 16.0, solved) == _counted(monkeypatch, 1.5, 16.0, solved)


@pytest.mark.parametrize("seconds", [1.0, 1.0 - 1e-9, 1.2, 1.9])
def test_seconds_read_off_the_clock_stand_for_the_same_nodes(seconds):
    from fitlang.solve import work

    assert work.nodes_for(seconds, 100) == work.nodes_for(1.0, 100)


def test_a_highs_root_with_no_user_limit_stops_after_the_same_checks_on_any_machine(monkeypatch):
    # the whole-count solve's child (fitted_counts) with no user limit had only its node count,
    # which does not stop HiGHS's root: inventory 1,000 seed 42's roots ran 6-13 CPU s each,
    # and a machine 1.5 times as slow was stopped at the default limit where a faster one
    # answered. Its CPU cap counted as the checks of its limits it stands for on the model
    # (`work.checks_for`): inventory 300 seed 9's whole model (1,754 columns; to its optimum
    # 678 checks, 141 nodes) stopped after LEAST_CHECKS, in its root, the same on machines
    # half and twice as fast
    from pathlib import Path

    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.solve import work
    from fitlang.solve.backends import HighsBackend
    from fitlang.solve.encode import encode
    from fitlang.solve.linear import Status

    fixture = Path(__file__).parent / "fixtures" / "presolve_fault" / "inv300-s9.fit"
    problem = build_problem(check_file(fixture, Workspace()).program).problem
    encoding = encode(problem, must_place=True)
    objective = encoding.objective("cost")
    assert work.checks_for(0.01, encoding.model.variable_count) == work.LEAST_CHECKS
    checks: list[int] = []

    def solved():
        backend = HighsBackend(checked_seconds=0.01)
        counted = work.checks_counted

        def counting(highs, most: int) -> None:
            highs.cbMipInterrupt.subscribe(lambda event: checks.append(event.data_out.mip_node_count))
            counted(highs, most)

        with monkeypatch.context() as patched:
            patched.setattr(work, "checks_counted", counting)
            outcome = backend.minimise(encoding.model, objective)
        return outcome.status, outcome.objective, outcome.bound

    slow, fast = (_counted(monkeypatch, speed, 60.0, solved) for speed in (0.5, 2.0))

    assert slow == fast
    assert slow[0] is not Status.OPTIMAL
    assert len(checks) == 2 * work.LEAST_CHECKS and not any(checks)  # (each run: in its root)
