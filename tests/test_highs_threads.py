"""HiGHS on one thread whatever the machine (`solve/highs_made.py`): its answers depend on the
threads of its global scheduler, which it sizes from the cores it may use."""

from __future__ import annotations

import highspy
import numpy as np

from fitlang import cli
from fitlang.solve.highs_made import quiet_highs

from solving import bench_module


def _scheduler_of(threads: int) -> None:
    """HiGHS's global scheduler started with `threads`, as its default starts it on a machine
    of twice as many cores, by a HiGHS not made by fitc."""
    highspy.Highs.resetGlobalScheduler(True)
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", threads)
    highs.addVars(1, np.zeros(1), np.ones(1))
    highs.run()


def test_fitc_answers_the_same_bytes_where_highs_has_a_bigger_machine_s_threads(tmp_path, capsys):
    # fleet.py 200 seed 1 (`bench/determinism.py`'s): 86.09 with HiGHS's threads of 2 cores,
    # 86.1 (other assignments) with those of 16 on the start tree
    bench_module("fleet").generate(200, 30, seed=1).write(tmp_path, "fleet")
    command = ["solve", str(tmp_path / "fleet.fit"), "--format", "json"]
    _scheduler_of(2)
    assert cli.main(command) == 0
    here = capsys.readouterr().out
    _scheduler_of(8)
    try:
        assert cli.main(command) == 0
        bigger = capsys.readouterr().out
    finally:
        highspy.Highs.resetGlobalScheduler(True)
    assert bigger == here


def test_a_highs_made_by_fitc_runs_beside_a_scheduler_another_started():
    # another HiGHS in the process started the scheduler with 8 threads: one made here with 1
    # would be refused (`kError`, no status) without the reset
    _scheduler_of(8)
    highs = quiet_highs()
    highs.addVars(1, np.zeros(1), np.ones(1))
    assert highs.run() == highspy.HighsStatus.kOk
    assert highs.getModelStatus() == highspy.HighsModelStatus.kOptimal
    assert highs.getOptionValue("threads")[1] == 1
