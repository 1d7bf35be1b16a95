"""The aggregate model where not everything fits: the most replicas placed level by level from
the highest priority (`_place_by_priority`), then the cost. The last level's solution is the
cost step's start, so that the cost step has a placement of every level's most at once, however
little time the levels left it (inventory 300 seed 2, session 27: the cost step cut short
returned 214.15 USD/h where, started, it reached 51.33)."""

from __future__ import annotations

from fitlang.solve import aggregate
from fitlang.solve.backends import HighsBackend, started_from
from fitlang.solve.encode import encode
from fitlang.solve.linear import Status

from solving import pool, problem_from, workload


def _levels_placed(tmp_path):
    # three 4-CPU nodes (two at 1 USD/h, one at 5) and four 4-CPU replicas: `high` places both,
    # `low` one of two (by hand: one replica a node)
    problem = problem_from(tmp_path, pool("p", 2, 4, "16Gi", 1) + pool("q", 1, 4, "16Gi", 5)
                           + workload("high", 2, 4, "4Gi", "  priority = 10\n")
                           + workload("low", 2, 4, "4Gi", "  priority = 1\n"))
    encoding = encode(problem, must_place=False)
    encoding.relax_replicas()
    solver = HighsBackend(aggregate.RELAXED_GAP)
    return problem, encoding, solver, aggregate._place_by_priority(problem, encoding, solver, None)


def test_the_priority_steps_give_the_last_levels_solution(tmp_path):
    problem, encoding, _, placed = _levels_placed(tmp_path)
    assert placed is not None
    assert {d.name: placed[encoding.placed[d.name]] for d in problem.demands} == {"high": 2, "low": 1}


def test_the_cost_step_started_from_it_has_a_placement_with_no_time_left(tmp_path):
    problem, encoding, solver, placed = _levels_placed(tmp_path)
    cost = encoding.objective("cost")

    unstarted = solver.minimise(encoding.model, cost, 1e-9)
    started = solver.minimise(encoding.model, cost, 1e-9, **started_from(solver, placed))

    assert unstarted.solution is None
    assert started.status in (Status.FEASIBLE, Status.OPTIMAL) and started.solution is not None
    # the levels' counts hold: both of `high`, one of `low`, on three nodes (7 USD/h by hand)
    placed_now = {d.name: started.solution[encoding.placed[d.name]] for d in problem.demands}
    assert placed_now == {"high": 2, "low": 1}
    assert started.objective == 7
