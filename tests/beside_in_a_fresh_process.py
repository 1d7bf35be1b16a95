"""The two scenarios of tests/test_model_bound_beside.py whose child process must answer, run
in a process of their own (`python beside_in_a_fresh_process.py SCENARIO DIR`, printing JSON):
as `fitc plan` runs, not in a test worker that earlier tests have left threads, locks and
children in. In 3 of 7 clean-clone CIs of session 42 both failed together in one xdist worker
(the child's answer never came), never in a fresh process. A child still silent after
`DUMP_AFTER` seconds writes every thread's stack to stderr, which the test shows if it fails."""

from __future__ import annotations

import faulthandler
import json
import os
import sys
import time
from fractions import Fraction
from pathlib import Path

DUMP_AFTER = 8.0


def _dump_if_silent() -> None:
    faulthandler.dump_traceback_later(DUMP_AFTER, exit=False, file=sys.stderr)


# four 1-CPU replicas, one on each of four 4-CPU nodes of 60: one node holds them all, and
# emptying the other three moves 3 replicas and drains 3 nodes: 1 + 6 x 0.01 = 1.06 (worked
# in tests/test_move_bound.py); the charged LP keeps the replicas in their class: 1.03
EMPTYING = ("pool a {\n  count = 60\n  cpu = 4\n  memory = 16GiB\n  price = 1 USD/h\n}\n"
            "workload w {\n  replicas = 4\n  cpu = 1\n  memory = 1GiB\n}\n"
            "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n")


def _emptying(directory: Path) -> tuple:
    """The policy compiled, and its four replicas running one a node (as test_plan's
    `state_of`, not imported: the test modules take seconds to import under load)."""
    from fitlang.driver import Compilation
    from fitlang.model.current import CurrentState, ReplicaName, Running

    path = directory / "p.fit"
    path.write_text(EMPTYING)
    running = tuple(Running("w", f"a-{i}", handle=ReplicaName(f"w-{i}")) for i in range(4))
    return Compilation(path), CurrentState(running=running)


def collected_after_the_waves(directory: Path) -> dict:
    from fitlang.plan import make_plan
    from fitlang.solve import move_bound, move_scale, moving

    begun = directory / "waves-begun"
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

    moving.waves = waves_told
    move_bound.moves_lower_bound = lambda *arguments, **keywords: Fraction(103, 100)
    move_scale.move_model_bound = proven_once_the_waves_begin
    compilation, state = _emptying(directory)
    result = make_plan(compilation, state, time_limit=20.0)
    placement = result.placement
    bound = None if placement.bound is None else float(placement.bound)
    return {"value": str(placement.value), "begun": begun.exists(), "bound": bound,
            "status": str(result.status), "later_bound_left": placement.later_bound is not None}


def off_the_wall(directory: Path) -> dict:
    from fitlang.solve import charged_mip, move_scale

    given = directory / "given"

    def recorded(problem, deadline, cpu_seconds=None):
        given.write_text(f"{deadline - time.monotonic()} {cpu_seconds}")  # (the child's clock)
        return Fraction(1)

    move_scale.move_model_bound = recorded
    charged_mip.charged_mip_bound = lambda *arguments, **keywords: None  # (the model's seconds alone)
    time.monotonic = time.process_time  # (as the benches' CPU clock)
    from fitlang.model.build import with_current
    from fitlang.solve.model_bound_beside import model_bound_beside

    compilation, state = _emptying(directory)
    problem = with_current(compilation.problem, compilation.check().program, state)
    beside = model_bound_beside(problem, "cost+moves", 2.0)
    collected = None if beside is None else beside.collected()
    span, cpu_seconds = map(float, given.read_text().split()) if given.exists() else (None, None)
    return {"started": beside is not None, "span": span, "cpu_seconds": cpu_seconds,
            "collected": None if collected is None else str(collected)}


SCENARIOS = {"collected_after_the_waves": collected_after_the_waves, "off_the_wall": off_the_wall}

if __name__ == "__main__":
    os.register_at_fork(after_in_child=_dump_if_silent)
    print(json.dumps(SCENARIOS[sys.argv[1]](Path(sys.argv[2]))))
