"""`fitc plan --explain`: which limit binds the plan, and what lifting it saves
(fitlang/plan_explain.py), on cases worked out by hand.

The fleet: pool std, 4 nodes of 8 cores at 0.50 USD/h; web, 4 replicas of 2 cores, runs one on
each node (2.00 USD/h). One node holds all four (8 cores): the cheapest placement costs
0.50 USD/h, 3 replicas moved, 3 nodes drained.
"""

from __future__ import annotations

import json
from fractions import Fraction

import pytest
from test_plan import FOUR_NODES, STABLE, _spread_out, fitc, state_of

from fitlang.documents import PlanDocument
from fitlang.driver import Compilation
from fitlang.model.current import CurrentState, DisruptionBudget, Running
from fitlang.plan import make_plan
from fitlang.plan_explain import explain_plan


def bindings(tmp_path, text: str, state: CurrentState):
    path = tmp_path / "p.fit"
    path.write_text(text)
    compilation = Compilation(path)
    result = make_plan(compilation, state)
    assert result.plan is not None, result.diagnostics
    found = explain_plan(result, compilation.check().program, str(path), 60.0)
    return result.plan, [(b.limit, b.workload, b.saving, b.cost_after, b.waves, b.moves)
                         for b in found]


def test_movable_false_binds_and_lifting_it_saves_what_one_node_saves(tmp_path):
    plan, found = bindings(tmp_path, _spread_out("movable = false"), FOUR_NODES)
    assert plan.moves == 0 and plan.cost_after == Fraction(2)
    # lifted: 2.00 -> 0.50 USD/h, 3 moves in one wave (no budget)
    assert found == [("movable", "web", Fraction("1.5"), Fraction("0.5"), 1, 3)]


def test_a_pdb_of_zero_binds_as_movable_false_and_names_the_cluster(tmp_path):
    state = CurrentState(FOUR_NODES.running, budgets=(DisruptionBudget("web", count=0),))
    path = tmp_path / "p.fit"
    path.write_text(_spread_out())
    compilation = Compilation(path)
    result = make_plan(compilation, state)
    found = explain_plan(result, compilation.check().program, str(path), 60.0)
    assert [(b.limit, b.saving) for b in found] == [("movable", Fraction("1.5"))]
    assert "cluster" in found[0].stated


def test_a_budget_above_zero_binds_the_waves_not_the_end(tmp_path):
    plan, found = bindings(tmp_path, _spread_out("max_disrupted = 1"), FOUR_NODES)
    assert len(plan.waves) == 3 and plan.cost_after == Fraction("0.5")
    # lifted: the same end (0.50 USD/h, 3 moves) in one wave; nothing more saved per hour
    assert found == [("max_disrupted", "web", 0, Fraction("0.5"), 1, 3)]


def test_max_drained_binds_the_waves(tmp_path):
    plan, found = bindings(tmp_path, _spread_out(drained="max_drained = 2"), FOUR_NODES)
    assert [len(w.moves) for w in plan.waves] == [2, 1]
    assert found == [("max_drained", None, 0, Fraction("0.5"), 1, 3)]


def test_a_move_price_that_outweighs_each_saving_binds(tmp_path):
    # move_price 0.60 USD/h: draining a node saves 0.50 USD/h and costs at least one move and
    # one drained node, 2 x 0.60 = 1.20: no move pays. Without it: 0.50 USD/h, 1.50 saved
    text = _spread_out(drained="move_price = 0.60 USD/h\n  min_saving = 0%")
    plan, found = bindings(tmp_path, text, FOUR_NODES)
    assert plan.moves == 0 and plan.cost_after == Fraction(2)
    assert found == [("move_price", None, Fraction("1.5"), Fraction("0.5"), 1, 3)]


def test_min_saving_binds_where_it_keeps_the_current_placement(tmp_path):
    # web runs on a-0 (1.00 USD/h); b-0 costs 0.96, 4% less: min_saving 5% keeps a-0
    _, found = bindings(tmp_path, STABLE, state_of(("web", "a-0"), ("web", "a-0")))
    assert found == [("min_saving", None, Fraction("0.04"), Fraction("0.96"), 1, 2)]


def test_no_limit_binds_alone_in_the_consolidation_example():
    # web's max_disrupted = 1 and max_drained = 1 each allow one web move per wave: lifting
    # one alone leaves the other, and the same 2 waves
    from conftest import EXAMPLES

    run = fitc("plan", "consolidate.fit", "--current", "consolidate-state.json", "--explain",
               cwd=EXAMPLES)
    assert run.returncode == 2 and "No limit binds alone" in run.stdout


def test_the_gpu_migration_budget_binds_the_waves():
    # 20% of 10 replicas: 5 waves of 2; lifted, the same 10 moves (to 18.00 USD/h) in one wave
    from conftest import EXAMPLES

    compilation = Compilation(EXAMPLES / "gpu-migration.fit")
    state = json.loads((EXAMPLES / "gpu-migration-state.json").read_text())
    result = make_plan(compilation, CurrentState(running=tuple(
        Running(a["workload"], a["node"]) for a in state["assignments"])))
    found = explain_plan(result, compilation.check().program, compilation.root_path, 60.0)
    assert [(b.limit, b.workload, b.saving, b.cost_after, b.waves, b.moves) for b in found] == \
        [("max_disrupted", "infer", 0, Fraction(18), 1, 10)]
    assert found[0].stated == "at most 2 moved at once (its `max_disrupted`)"


@pytest.mark.parametrize("fmt", ["json", "text"])
def test_the_command_prints_what_binds(tmp_path, fmt):
    (tmp_path / "p.fit").write_text(_spread_out("movable = false"))
    (tmp_path / "state.json").write_text(json.dumps({"assignments": [
        {"workload": "web", "replica": i, "node": f"std-{i}"} for i in range(4)]}))
    run = fitc("plan", "p.fit", "--current", "state.json", "--explain", "--format", fmt,
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr  # nothing to do: web may not move
    if fmt == "json":
        document = PlanDocument.model_validate_json(run.stdout)
        assert [(b.limit, b.workload, b.saving) for b in document.binding or []] == \
            [("movable", "web", 1.5)]
    else:
        assert "`web`: movable = false: lifting it saves 1.50 USD/h more" in run.stdout
    plain = fitc("plan", "p.fit", "--current", "state.json", "--format", "json", cwd=tmp_path)
    assert json.loads(plain.stdout)["binding"] is None




# ---- `fitc explain FILE --current STATE`: the same answer through the explain command ----------

def explained(cwd, policy: str, state: str, fmt: str = "json"):
    return fitc("explain", policy, "--current", state, "--format", fmt, cwd=cwd)


def _codes(document: dict) -> list[str]:
    return [d["code"] for d in document["diagnostics"]]


def test_explain_current_says_no_limit_binds_in_the_consolidation():
    # hand-worked (examples/consolidate.fit): web's max_disrupted = 1 and max_drained = 1 each
    # allow one web move per wave; lifting either alone leaves the other, and the same 2 waves;
    # no workload is pinned and no move price is stated: nothing binds alone
    from conftest import EXAMPLES

    run = explained(EXAMPLES, "consolidate.fit", "consolidate-state.json")
    assert run.returncode == 0, run.stderr
    document = PlanDocument.model_validate_json(run.stdout)
    assert document.binding == [] and _codes(json.loads(run.stdout)) == ["W0826"]
    assert (document.cost_before, document.cost_after, len(document.waves)) == (1.6, 0.8, 2)
    text = explained(EXAMPLES, "consolidate.fit", "consolidate-state.json", "human")
    assert text.returncode == 0 and "No limit binds alone" in text.stdout
    assert "note[W0826]" in text.stderr and "max_drained" in text.stderr


def test_explain_current_names_the_budget_of_the_gpu_migration_where_it_stands():
    # hand-worked (examples/gpu-migration.fit): 20% of 10 replicas is 2 per wave, 5 waves;
    # lifted, the same 10 moves to 18.00 USD/h in one wave: it binds the order, not the end
    from conftest import EXAMPLES

    run = explained(EXAMPLES, "gpu-migration.fit", "gpu-migration-state.json")
    assert run.returncode == 0, run.stderr
    document = json.loads(run.stdout)
    assert [(b["limit"], b["workload"], b["saving"], b["cost_after"], b["waves"], b["moves"])
            for b in document["binding"]] == [("max_disrupted", "infer", 0.0, 18.0, 1, 10)]
    [note] = document["diagnostics"]
    text = (EXAMPLES / "gpu-migration.fit").read_text().splitlines()
    assert note["code"] == "W0825" and note["severity"] == "note"
    assert text[note["line"] - 1][note["column"] - 1:].startswith("20%")  # at the budget
    # the same answer as `fitc plan --explain`
    plan = fitc("plan", "gpu-migration.fit", "--current", "gpu-migration-state.json",
                "--explain", "--format", "json", cwd=EXAMPLES)
    assert json.loads(plan.stdout)["binding"] == document["binding"]


def test_explain_current_says_what_lifting_movable_saves_at_movable(tmp_path):
    text = _spread_out("movable = false")
    (tmp_path / "p.fit").write_text(text)
    (tmp_path / "state.json").write_text(json.dumps({"assignments": [
        {"workload": "web", "replica": i, "node": f"std-{i}"} for i in range(4)]}))
    run = explained(tmp_path, "p.fit", "state.json")
    document = json.loads(run.stdout)
    assert run.returncode == 0 and _codes(document) == ["W0825"]
    [note] = document["diagnostics"]
    assert text.splitlines()[note["line"] - 1].strip() == "movable = false"
    assert [(b["limit"], b["saving"]) for b in document["binding"]] == [("movable", 1.5)]
    human = explained(tmp_path, "p.fit", "state.json", "human")
    assert "`web`: movable = false: lifting it saves 1.50 USD/h more" in human.stdout
    # notes are the answer: --fail-level warning does not fail on them
    strict = fitc("explain", "p.fit", "--current", "state.json", "--fail-level", "warning",
                  cwd=tmp_path)
    assert strict.returncode == 0


def test_explain_current_of_an_unreadable_state_is_an_error(tmp_path):
    (tmp_path / "p.fit").write_text(_spread_out())
    run = explained(tmp_path, "p.fit", "missing.json")
    assert run.returncode == 1 and _codes(json.loads(run.stdout)) == ["E0103"]
    (tmp_path / "bad.json").write_text('{"assignments": [{"workload": 3}]}')
    bad = explained(tmp_path, "p.fit", "bad.json", "human")
    assert bad.returncode == 1 and "error[E0801]" in bad.stderr and "Traceback" not in bad.stderr
