"""`fitc verify FILE PLAN.json --current STATE`: a plan replayed without the solver or the
planner (solve/verify_plan.py, rules/moves.check_wave).

A good plan (the consolidation example's, as `fitc plan --format json` writes it) verifies;
each mutation of it (a budget broken, a wave skipped, a pinned replica moved, an end state
that is not the target, a replica started where it does not fit) is reported with its code.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
from pathlib import Path

from test_plan import FOUR_NODES, STABLE, _spread_out

from fitlang.driver import Compilation
from fitlang.model.current import CurrentState, Running
from fitlang.plan import as_json, make_plan
from fitlang.solve.verify_plan import verify_plan

from conftest import EXAMPLES, ROOT

POLICY = EXAMPLES / "consolidate.fit"
STATE = EXAMPLES / "consolidate-state.json"


def _state(path: Path) -> CurrentState:
    document = json.loads(path.read_text())
    return CurrentState(running=tuple(Running(a["workload"], a["node"])
                                      for a in document["assignments"]))


def _plan(policy: Path, state: CurrentState) -> tuple[dict, object, object]:
    """The plan's JSON, the problem it starts from and the program."""
    compilation = Compilation(policy)
    result = make_plan(compilation, state)
    assert result.plan is not None
    return json.loads(as_json(result)), result.problem, compilation.check().program


def _codes(policy: Path, state: CurrentState, document: dict) -> list[str]:
    compilation = Compilation(policy)
    from fitlang.model.build import running_handles, with_current

    program = compilation.check().program
    problem = with_current(compilation.problem, program, state)
    violations, problems = verify_plan(problem, program, document, str(policy),
                                       handles=running_handles(problem, state))
    assert problems == []
    return sorted({d.code for d in violations})


@functools.cache
def _good() -> dict:
    return _plan(POLICY, _state(STATE))[0]


def good() -> dict:
    """The example's plan, a copy each test may mutate."""
    return copy.deepcopy(_good())


def test_the_plan_fitc_plan_makes_verifies():
    document = good()
    # the example's waves (its comment): web off std-1, then off std-2, one node drained each
    assert [[m["source"] for m in w["moves"]] for w in document["waves"]] == [["std-1"], ["std-2"]]
    assert _codes(POLICY, _state(STATE), document) == []


def test_two_waves_in_one_break_the_disruption_budget_and_max_drained():
    document = good()
    first, second = document["waves"]
    first["moves"] += second["moves"]
    first["drained"] += second["drained"]
    first["cost_after"] = second["cost_after"]
    document["waves"] = [first]
    # web: 2 moved at once, its max_disrupted is 1; 2 nodes emptied, max_drained = 1
    assert _codes(POLICY, _state(STATE), document) == ["E0833", "E0834"]


def test_a_skipped_wave_does_not_chain_and_ends_elsewhere():
    document = good()
    del document["waves"][0]
    # the wave left is numbered 2; web still runs on std-1 at the end (1.2 USD/h, not 0.8)
    assert _codes(POLICY, _state(STATE), document) == ["E0831", "E0836", "E0837"]


def test_a_replica_of_a_workload_that_may_not_move_is_moved(tmp_path):
    pinned = tmp_path / "pinned.fit"
    pinned.write_text(POLICY.read_text().replace("max_disrupted = 1", "movable = false"))
    # the good plan (made where web may move), checked against the policy where it may not
    assert _codes(pinned, _state(STATE), good()) == ["E0835"]


def test_an_end_state_that_is_not_the_target():
    document = good()
    document["waves"][1]["moves"][0]["target"] = "std-1"  # back onto the node wave 1 drained
    document["waves"][1]["cost_after"] = 1.2  # (its figure made true: only the end is wrong)
    assert _codes(POLICY, _state(STATE), document) == ["E0836"]


def test_a_move_from_where_nothing_runs_does_not_chain():
    document = good()
    document["waves"][1]["moves"][0]["source"] = "std-1"  # emptied by wave 1
    assert "E0831" in _codes(POLICY, _state(STATE), document)


def test_a_wave_that_starts_a_replica_where_it_does_not_fit_breaks_a_rule(tmp_path):
    # 4 nodes of 8 cores, web (2 cores) one on each: one wave moves 3 onto the fourth node
    policy = tmp_path / "p.fit"
    policy.write_text(_spread_out())
    document, _, _ = _plan(policy, FOUR_NODES)
    assert [len(w["moves"]) for w in document["waves"]] == [3]
    assert _codes(policy, FOUR_NODES, document) == []
    extra = dict(document["waves"][0]["moves"][0], kind="start", source=None, replica=None)
    document["waves"][0]["moves"].append(extra)  # a fifth replica there: 10 cores of 8
    assert _codes(policy, FOUR_NODES, document) == ["E0832", "E0836"]


def test_a_move_must_name_a_replica_that_runs_where_it_leaves(tmp_path):
    # FOUR_NODES names web-i on std-i: one replica per wave (max_disrupted = 1), each named
    policy = tmp_path / "p.fit"
    policy.write_text(_spread_out("max_disrupted = 1"))
    document, _, _ = _plan(policy, FOUR_NODES)
    first = document["waves"][0]["moves"][0]
    assert first["replica"] == "web-" + first["source"].removeprefix("std-")
    assert _codes(policy, FOUR_NODES, document) == []
    first["replica"] = "web-9"  # no such pod
    assert _codes(policy, FOUR_NODES, document) == ["E0831"]
    first["replica"] = document["waves"][1]["moves"][0]["replica"]  # a pod on another node
    assert "E0831" in _codes(policy, FOUR_NODES, document)


def test_a_kept_plan_is_checked_as_the_placement_that_runs(tmp_path):
    # STABLE: web's 2 replicas on a-0 (1.00 USD/h) are kept (b-0 saves 4%, under 5%)
    policy = tmp_path / "p.fit"
    policy.write_text(STABLE)
    state = CurrentState(running=(Running("web", "a-0"), Running("web", "a-0")))
    document, _, _ = _plan(policy, state)
    assert document["kept"] and document["waves"] == []
    assert _codes(policy, state, document) == []
    crowded = CurrentState(running=state.running + (Running("web", "a-0"),))  # 6 cores of 4
    assert _codes(policy, crowded, document) == ["E0836"]


def test_a_plan_from_another_state_does_not_chain():
    other = CurrentState(running=tuple(Running("web" if i < 4 else "api", "std-0")
                                       for i in range(6)))
    assert "E0831" in _codes(POLICY, other, good())


def test_the_command_exit_codes_and_a_malformed_plan(tmp_path):
    plan = tmp_path / "plan.json"
    plan.write_text(json.dumps(good()))
    run = _fitc("verify", str(POLICY), str(plan), "--current", str(STATE))
    assert run.returncode == 0, run.stderr
    broken = good()
    del broken["waves"][0]
    plan.write_text(json.dumps(broken))
    run = _fitc("verify", str(POLICY), str(plan), "--current", str(STATE), "--format", "json")
    assert run.returncode == 1
    assert "E0831" in {d["code"] for d in json.loads(run.stdout)}
    broken = good()
    broken["waves"][0]["moves"][0]["kind"] = "jump"
    plan.write_text(json.dumps(broken))
    run = _fitc("verify", str(POLICY), str(plan), "--current", str(STATE))
    assert run.returncode == 1 and "error[E0830]" in run.stderr and "Traceback" not in run.stderr
    run = _fitc("verify", str(POLICY), str(plan))  # a plan without the state it starts from
    assert run.returncode == 2 and "--current" in run.stderr


def _fitc(*arguments: str) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "fitlang.cli", *arguments], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})


def test_a_plan_against_a_policy_with_a_horizon_is_refused(tmp_path):
    # no plan is made in time (E0906, fitc plan): none is checked in time either
    text = POLICY.read_text().replace("objective = [cost, moves]", "").replace(
        "  max_drained = 1\n}", '  max_drained = 1\n  horizon = 24h\n  step = 1h\n'
        '  start = "2026-12-01T00:00Z"\n}')
    (tmp_path / "p.fit").write_text(text)
    (tmp_path / "plan.json").write_text(json.dumps(good()))
    run = _fitc("verify", str(tmp_path / "p.fit"), str(tmp_path / "plan.json"), "--current",
                str(STATE))
    assert run.returncode == 1 and "error[E0906]" in run.stderr
