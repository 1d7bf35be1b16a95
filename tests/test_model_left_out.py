"""Where the whole model ran and its packing left out replicas the floor places, the floor is
the answer, and it gets the guided passes it gets where the model is skipped
(`placement._model_left_out`); where its packing is complete but dear, those passes run too
and the cheaper of the two is kept (`placement._model_packed_dear`). Accelerator-heavy 10,000
seed 17: at 5 s (no model) 1.16% over the bound, at 60 s (the model's counts packed short under
the power caps, the greedy floor the answer) 2.65%: a longer limit ended worse. A capped round's
counts short of a replica are no whole packing, and a floor placing more than the model's packing
stays the floor where it breaks no rule (`bench/cloud_buy.py --small` seed 154: `unknown`)."""

from __future__ import annotations

import json
import time
from fractions import Fraction

from test_dear_nodes import DEAR, _brute_force
from test_latency_parts import _two_continents

from fitlang.solve import placement, search_stages
from fitlang.solve.budget import Budget
from fitlang.solve.pack import Packing, pack
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import problem_from


def _train_left_out(problem, counts, planned) -> Packing:
    """`pack` as it is, but the GPU workload's replicas left short (as the power caps left seed
    17's counts short)."""
    packing = pack(problem, {key: amount for key, amount in counts.items() if key[0] != "train"}, planned)
    for (name, class_id), amount in counts.items():
        if name == "train" and amount:
            packing.add_short(name, class_id, amount)
    return packing


def _without_patterned_model(monkeypatch) -> None:
    """The model's packing left as these tests make it: the patterned model (pattern_model.py)
    would solve the model again exact by node patterns, and its packing replace the one under test."""
    monkeypatch.setattr(placement, "cheaper_by_patterns", lambda problem_, packing, *rest: (packing, None))


def _stages(problem, monkeypatch, model: bool) -> placement.Placement:
    """The placement's stages with 30 s, the search after the floor's stages left out (so only
    the floor the stages hand it counts), the whole model run (its packing short of `train`)
    or skipped."""
    monkeypatch.setattr(placement, "_whole_model_pays", lambda *arguments: model)
    monkeypatch.setattr(placement, "pack", _train_left_out)
    monkeypatch.setattr(placement, "completed", lambda problem_, counts, planned, packing, *rest: packing)
    monkeypatch.setattr(placement, "counted_exact", lambda *arguments: None)
    _without_patterned_model(monkeypatch)
    monkeypatch.setattr(placement, "MAX_REPACKS", 1)  # (a later round's caps may drop `train` in the model)
    monkeypatch.setattr(placement, "searched", lambda problem_, packing, *rest, **keywords: packing)
    run = placement._Run(problem, "auto", ["cost"], Budget.starting_now(30.0), lambda *said: None, True)
    run.search_deadline = run.budget.deadline
    answer = placement._stages(run, time.monotonic())
    assert run.whole == model and (not model or (run.best is not None and len(run.best.unplaced) == 1))
    assert verify(problem, json.loads(as_json(problem, answer, []))) == ([], [])
    return answer


def test_a_model_that_packs_short_leaves_the_floor_its_guided_passes(tmp_path, monkeypatch):
    # the greedy floor consolidated is 13 (test_dear_nodes); the guided floor reaches the
    # optimum, 11.10, where the model is skipped, and now also where it left `train` out
    problem = problem_from(tmp_path, DEAR)
    skipped = _stages(problem, monkeypatch, model=False)
    short = _stages(problem, monkeypatch, model=True)
    for answer in (skipped, short):
        assert not answer.unplaced
    assert Fraction(skipped.value) == _brute_force() == Fraction(111, 10)
    assert Fraction(short.value) == Fraction(skipped.value)


def _web_on_big(problem, counts, planned) -> Packing:
    """`pack` with `web` sent to the 12-CPU node whatever the model counted: complete, and at
    13 over the model's 11.10 (as the power caps and several resources made seed 53's packing
    dearer than its counts)."""
    web = sum(amount for (name, _), amount in counts.items() if name == "web")
    sent = {key: amount for key, amount in counts.items() if key[0] != "web"}
    sent["web", "big"] = web
    return pack(problem, sent, {**planned, "big": 1})


def test_a_model_that_packs_dear_leaves_the_floor_its_guided_passes_and_the_cheaper_is_kept(
        tmp_path, monkeypatch):
    problem = problem_from(tmp_path, DEAR)
    monkeypatch.setattr(placement, "_whole_model_pays", lambda *arguments: True)
    monkeypatch.setattr(placement, "pack", _web_on_big)
    monkeypatch.setattr(placement, "counted_exact", lambda *arguments: None)
    _without_patterned_model(monkeypatch)
    monkeypatch.setattr(placement, "repack", lambda *arguments: 0)  # (the model's packing stays dear)
    monkeypatch.setattr(search_stages, "repack", lambda *arguments: 0)
    # (nor do the patterns after the model reach the optimum: on the accelerator shape they do not)
    monkeypatch.setattr(placement, "_patterns_after_model", lambda run: None)
    monkeypatch.setattr(placement, "searched", lambda problem_, packing, *rest, **keywords: packing)
    run = placement._Run(problem, "auto", ["cost"], Budget.starting_now(30.0), lambda *said: None, True)
    run.search_deadline = run.budget.deadline
    answer = placement._stages(run, time.monotonic())
    assert run.whole and run.best is not None and not run.best.unplaced and Fraction(run.best.value) == 13
    assert not answer.unplaced and Fraction(answer.value) == _brute_force()
    assert verify(problem, json.loads(as_json(problem, answer, []))) == ([], [])


def test_a_capped_model_that_leaves_a_replica_out_does_not_replace_the_whole_floor(tmp_path, monkeypatch):
    # `bench/cloud_buy.py --small` seed 154: the counts packed short of a GPU replica, the
    # class could not grow (its `buy` limit), the cap then put on it left the next round's
    # model short of that replica (no verdict: the caps are a heuristic), and that round's
    # packing, short of no replica it was given, replaced the whole floor at step 4: `unknown`,
    # one replica out. Here `train` is packed short twice (its one GPU node, grown to 1, then
    # capped), and the capped model places `web` alone
    packings = []

    def train_short_twice(problem_, counts, planned):
        packings.append(counts)
        return (_train_left_out if len(packings) <= 2 else pack)(problem_, counts, planned)

    problem = problem_from(tmp_path, DEAR)
    monkeypatch.setattr(placement, "_whole_model_pays", lambda *arguments: True)
    monkeypatch.setattr(placement, "pack", train_short_twice)
    monkeypatch.setattr(placement, "completed", lambda problem_, counts, planned, packing, *rest: packing)
    monkeypatch.setattr(placement, "counted_exact", lambda *arguments: None)
    _without_patterned_model(monkeypatch)
    run = placement._Run(problem, "auto", ["cost"], Budget.starting_now(30.0), lambda *said: None, True)
    run.search_deadline = run.budget.deadline
    answer = placement._stages(run, time.monotonic())
    assert len(packings) == 3 and not any(amount for key, amount in packings[2].items() if key[0] == "train")
    assert run.best is not None and len(run.best.unplaced) == 1  # (the model's placement: train out)
    assert not answer.unplaced and Fraction(answer.value) == _brute_force()
    assert verify(problem, json.loads(as_json(problem, answer, []))) == ([], [])


def test_a_floor_that_places_more_stays_unless_it_breaks_a_rule(tmp_path):
    # the guard of step 4 (`_floor_places_more`): a floor leaving out fewer replicas than the
    # model's packing is kept before its price is read; not where it breaks a rule (on a
    # narrowed option workload the greedy placed 2 replicas under a latency rule for 3,
    # `test_option_latency.py`, and the model's packing, leaving it out, was the one to go on
    # from). `web` needs a replica within 10 ms of users_a and one of users_b
    problem = problem_from(tmp_path, _two_continents())
    batch = {("batch", "cheap_c"): 20}
    in_reach = pack(problem, {**batch, ("web", "near_a"): 1, ("web", "near_b"): 1, ("web", "cheap_c"): 2},
                    {"cheap_c": 11, "near_a": 1, "near_b": 1})
    out_of_reach = pack(problem, {**batch, ("web", "cheap_c"): 4}, {"cheap_c": 11})
    short = pack(problem, batch, {"cheap_c": 10})
    short.add_short("web", "near_a", 4)
    assert in_reach.complete and out_of_reach.complete and not short.complete
    assert placement._floor_places_more(problem, in_reach, short, "cost")
    assert not placement._floor_places_more(problem, out_of_reach, short, "cost")  # (breaks the rule)
    assert not placement._floor_places_more(problem, short, in_reach, "cost")
