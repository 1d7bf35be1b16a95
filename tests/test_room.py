"""room.py: a workload with more replicas than the nodes it may use hold proves, before any
model, that no placement exists (E0501, the conflict named)."""

from __future__ import annotations

import pytest

from fitlang.driver import Compilation, Outcome
from fitlang.solve import placement as placement_module
from fitlang.solve.linear import Status
from fitlang.solve.placement import solve
from fitlang.solve.room import short_of_room

from solving import pool, problem_from, workload

FLEET = (pool("a", 40, 8, "16GiB", 1, '  labels = { tier: "silver" }\n')
         + pool("b", 30, 4, "8GiB", 1, '  labels = { tier: "gold" }\n')
         + workload("web", 60, 1, "1GiB"))
OFFER = ('offer o {\n  provider = aws\n  instance_type = "t.o"\n  regions = ["r2"]\n  cpu = 8\n'
         '  memory = 16GiB\n  price = 1.20 USD/h\n}\nbuy b0 {\n  offers = [o]\n  max_count = 40\n}\n'
         'region reg_r2 {\n  code = "r2"\n  jurisdiction = US\n}\n')


@pytest.mark.parametrize("text, short", [
    # differential_fleet --jitter seed 3875's: a gang whose label no pool carries
    (FLEET + workload("train", 33, 1, "1GiB", '  labels = { tier: "platinum" }\n  gang = true\n'), ["train"]),
    (FLEET + workload("one", 71, 1, "1GiB", "  anti_affinity self on node\n"), ["one"]),
    (FLEET + workload("one", 70, 1, "1GiB", "  anti_affinity self on node\n"), []),
    # a node spread over 70 nodes: at most 1 + 150 // 70 = 3 a node, 210 in all
    (FLEET + workload("fan", 150, 1, "1GiB", "  spread node max_skew 1\n"), []),
    (FLEET + workload("wide", 30, 6, "1GiB", '  labels = { tier: "gold" }\n'), ["wide"]),
    # a gang runs in one cluster: 70 pool nodes, or 40 bought ones, never 110
    (FLEET + OFFER + workload("gang", 71, 1, "1GiB", "  anti_affinity self on node\n  gang = true\n"),
     ["gang"]),
    (FLEET + OFFER + workload("many", 110, 1, "1GiB", "  anti_affinity self on node\n"), []),
])
def test_a_workload_its_nodes_cannot_hold(tmp_path, text, short):
    problem = problem_from(tmp_path, text)
    assert [d.name for d in short_of_room(problem)] == short


def test_no_model_runs_where_the_room_is_short(tmp_path, monkeypatch):
    text = FLEET + workload("train", 33, 1, "1GiB", '  labels = { tier: "platinum" }\n  gang = true\n')
    problem = problem_from(tmp_path, text)

    def no_model(*arguments, **keywords):
        raise AssertionError("the fleet-scale solve ran")

    monkeypatch.setattr(placement_module, "_solve", no_model)
    placement = solve(problem, "auto", 20.0)
    assert placement.status is Status.INFEASIBLE and placement.proven_infeasible
    assert {u.workload for u in placement.unplaced} >= {"train"}
    (tmp_path / "q.fit").write_text(text)
    compilation = Compilation(tmp_path / "q.fit")
    verdict = compilation.verdict(compilation.solve("auto", 20.0), 20.0)
    assert verdict.outcome is Outcome.INFEASIBLE
    assert next(d.code for d in verdict.diagnostics if d.is_error) == "E0501"


def test_allowed_left_out_is_no_conflict(tmp_path):
    text = FLEET + workload("train", 33, 1, "1GiB", '  labels = { tier: "platinum" }\n  gang = true\n') \
        + "policy {\n  allow_unplaced = true\n}\n"
    problem = problem_from(tmp_path, text)
    assert short_of_room(problem) == []


def test_a_demand_of_no_replicas_is_held_without_nodes(tmp_path):
    """A narrowed policy gives an option no node can run a share of 0 replicas
    (`option_spread.narrowed`): nothing to hold, no conflict; one replica there is one."""
    import dataclasses

    problem = problem_from(tmp_path, FLEET)
    (web,) = problem.demands
    nowhere = [dataclasses.replace(web, replicas=count, eligible=[]) for count in (0, 1)]
    assert [[d.name for d in short_of_room(dataclasses.replace(problem, demands=(demand,)))]
            for demand in nowhere] == [[], ["web"]]
