"""option_room.py: workloads with accelerator options whose nodes cannot hold them together
prove, before any model, that no placement exists: `fitc solve` and `fitc plan` say so at
once (E0501, the conflict named) instead of searching until the limit (inventory 1,000 seed
31: E0506 after 5 s)."""

from __future__ import annotations

import pytest

from fitlang.driver import Compilation, Outcome
from fitlang.model.current import CurrentState, Running
from fitlang.plan import make_plan
from fitlang.solve import moving
from fitlang.solve import placement as placement_module
from fitlang.solve.linear import Status
from fitlang.solve.option_room import options_short_of_room
from fitlang.solve.placement import solve
from fitlang.solve.room import short_of_room

from solving import pool, problem_from, workload


def fleet(l4_nodes: int) -> str:
    """3 nodes of 4 L40S (12 GPUs), `l4_nodes` of one L4, 50 plain ones (past the exact
    model's 48 nodes: the aggregate model's path)."""
    return ('import "std/accelerators"\n\n'
            + pool("l40s", 3, 64, "512GiB", 8, "  gpu {\n    model = L40S\n    count = 4\n  }\n")
            + pool("l4", l4_nodes, 16, "64GiB", 2, "  gpu {\n    model = L4\n    count = 1\n  }\n")
            + pool("plain", 50, 16, "64GiB", 1)
            + workload("web", 40, 1, "1GiB"))


def inference(name: str) -> str:
    """8 L4s or 8 L40Ss deliver its throughput (mixed as it likes: not a gang)."""
    return (f"workload {name} {{\n  cpu = 4\n  memory = 16GiB\n  gpu {{\n    count = 1\n"
            "    option L4 {\n      replicas = 8\n    }\n    option L40S {\n      replicas = 8\n"
            "    }\n  }\n}\n")


# two such workloads need 16 GPUs: 12 L40S and 4 L4 hold them exactly (8 L40S for one, 4 L40S
# and 4 L4 for the other); with 3 L4 one L40S replica is missing. Each alone fits either way.
TWO = inference("a") + inference("b")
TRAIN = workload("train", 1, 4, "16GiB", "  gpu {\n    count = 1\n    model = L40S\n  }\n")


@pytest.mark.parametrize("text, short", [
    (fleet(4) + TWO, False),
    (fleet(3) + TWO, True),
    (fleet(3) + inference("a"), False),
    # a plain workload that may use only their nodes takes the room too
    (fleet(4) + TWO + TRAIN, True),
    (fleet(5) + TWO + TRAIN, False),
])
def test_option_workloads_their_nodes_cannot_hold_together(tmp_path, text, short):
    problem = problem_from(tmp_path, text)
    found = options_short_of_room(problem)
    assert bool(found) is short
    if short:
        assert {d.workload for d in found} == {"a", "b"}
        assert short_of_room(problem) == found


def test_allowed_left_out_is_no_conflict(tmp_path):
    problem = problem_from(tmp_path, fleet(3) + TWO + "policy {\n  allow_unplaced = true\n}\n")
    assert options_short_of_room(problem) == []


def _no_model(*arguments, **keywords):
    raise AssertionError("a fleet-scale model ran")


def test_the_solve_proves_it_before_any_model(tmp_path, monkeypatch):
    text = fleet(3) + TWO
    monkeypatch.setattr(placement_module, "_solve", _no_model)
    placement = solve(problem_from(tmp_path, text), "auto", 20.0)
    assert placement.status is Status.INFEASIBLE and placement.proven_infeasible
    (tmp_path / "q.fit").write_text(text)
    compilation = Compilation(tmp_path / "q.fit")
    verdict = compilation.verdict(compilation.solve("auto", 20.0), 20.0)
    assert verdict.outcome is Outcome.INFEASIBLE
    conflict = next(d for d in verdict.diagnostics if d.is_error)
    assert conflict.code == "E0501"
    assert "`a`" in conflict.message and "`b`" in conflict.message and "`l40s`" in conflict.message


def test_the_plan_proves_it_before_any_move(tmp_path, monkeypatch):
    path = tmp_path / "p.fit"
    path.write_text(fleet(3) + TWO)
    state = CurrentState(running=tuple(Running("a[L40S]", f"l40s-{i // 4}") for i in range(8)))
    calls = []
    plain_solve = Compilation.solve

    def counted(compilation, *arguments, **keywords):
        calls.append("solve")
        return plain_solve(compilation, *arguments, **keywords)

    monkeypatch.setattr(moving, "_solve", _no_model)
    monkeypatch.setattr(moving, "_at_scale", _no_model)
    monkeypatch.setattr(placement_module, "_solve", _no_model)
    monkeypatch.setattr(Compilation, "solve", counted)
    result = make_plan(Compilation(path), state, time_limit=20.0)
    assert result.plan is None and result.placement.proven_infeasible
    # (proven before any model: no plain solve to prove it again, `plan._no_target`)
    assert result.status == "infeasible" and calls == []
    assert next(d.code for d in result.diagnostics if d.is_error) == "E0501"


def test_the_conflict_is_narrowed_without_a_model_for_each_trial_short_of_room(tmp_path, monkeypatch):
    from fitlang.solve.explain import checks
    from fitlang.solve.explain.conflict import explain

    decided = []
    by_model = checks._decided_by_model

    def recorded(*arguments, **keywords):
        check = by_model(*arguments, **keywords)
        decided.append(check.placed)
        return check

    monkeypatch.setattr(checks, "_decided_by_model", recorded)
    explanation = explain(problem_from(tmp_path, fleet(3) + TWO), time_limit=30.0, repair_budget=0)
    named = " ".join(reason.text for reason in explanation.reasons)
    assert all(f"`{name}`" in named for name in ("a", "b", "l40s", "l4")), named
    assert "`web`" not in named and "`plain`" not in named
    assert False not in decided  # each trial with no placement was proven short of room, at once
