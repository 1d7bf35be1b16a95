"""A chain of two runs (session 41, h41g): a run moved into the room another run holds, that
run re-timed, where neither run's own move pays and no other move of the search finds it.
Values by hand (node-hours awake x 1 USD/h)."""

from __future__ import annotations

import pytest
from test_timing import _spot_violations, problem_from

from fitlang.solve.timeline_chains import runs_chained
from fitlang.solve.timeline_overflow import overflowed
from fitlang.solve.timeline_pack import (
    Spot,
    cap_kicked,
    emptied,
    holding,
    improved,
    repacked,
    runs_recreated,
    searched,
)
from fitlang.solve.timeline_regroup import regrouped
from fitlang.solve.timeline_stretches import stretches_emptied

TWO_POOLS = """
pool p {
  count = 1
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
  labels = { tier: "p" }
}
pool q {
  count = 1
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
  labels = { tier: "q" }
}
policy {
  horizon = 6h
  step = 1h
  start = "2026-12-01T00:00Z"
}
"""


def _job(name: str, duration: int, deadline: int, only_p: bool) -> str:
    held = '\n  require labels["tier"] == "p"' if only_p else ""
    return f"""
workload {name} {{
  kind = job
  replicas = 1
  cpu = 2
  memory = 1GiB
  duration = {duration}h
  earliest = 0h
  deadline = {deadline}h{held}
}}
"""


def _problem(tmp_path):
    """One 4-CPU node in each of two pools over 6 h; three 2-CPU jobs: `long` (6 h, pool p
    only), `early` (3 h at hour 0, either pool), `loose` (3 h anywhere in the 6 h, pool p
    only)."""
    return problem_from(tmp_path, TWO_POOLS + _job("long", 6, 6, True) + _job("early", 3, 3, False)
                        + _job("loose", 3, 6, True))


# p's node holds `long` (0-6) and `loose` (0-3), full at hours 0-3; `early` wakes q's node for
# 0-3: 9 USD. `early` alone finds p full at its only start; `loose` alone frees nothing (p stays
# awake for `long`), nor does either block or stretch of p's node emptied; `loose` may not use q,
# so no overflow chain sends it there. The chain: `early` into p at 0-3, where `loose` was, and
# `loose` to p at 3-6: q sleeps, 6 USD, the optimum (`long` alone keeps p awake 6 h)
STUCK = [Spot("long", 0, "p", 0, 0, 6), Spot("loose", 0, "p", 0, 0, 3), Spot("early", 0, "q", 0, 0, 3)]


def test_a_run_moved_into_anothers_room_where_no_other_move_pays(tmp_path):
    problem = _problem(tmp_path)
    for move in (improved, emptied, runs_recreated, repacked, stretches_emptied, overflowed, cap_kicked,
                 regrouped):
        ledger = holding(problem, STUCK)
        move(problem, ledger, list(STUCK), None)
        assert ledger.total() == pytest.approx(9.0), move.__name__
    ledger = holding(problem, STUCK)
    spots = runs_chained(problem, ledger, list(STUCK), None)
    assert ledger.total() == pytest.approx(6.0)
    assert {(s.demand, s.class_id, s.start) for s in spots} == {("long", "p", 0), ("early", "p", 0),
                                                               ("loose", "p", 3)}
    assert _spot_violations(problem, spots) == []
    assert (ledger.running["p"] == holding(problem, spots).running["p"]).all()
    # the search reaches it once its moves converge (the code before this pass stayed at 9)
    searched_ledger = holding(problem, STUCK)
    found = searched(problem, searched_ledger, list(STUCK), None)
    assert searched_ledger.total() == pytest.approx(6.0) and _spot_violations(problem, found) == []


def test_a_chain_that_does_not_pay_leaves_the_schedule_as_it_was(tmp_path):
    problem = _problem(tmp_path)
    best = [Spot("long", 0, "p", 0, 0, 6), Spot("loose", 0, "p", 0, 3, 6), Spot("early", 0, "p", 0, 0, 3)]
    ledger = holding(problem, best)
    assert runs_chained(problem, ledger, list(best), None) == best
    assert ledger.total() == pytest.approx(6.0)
    assert (ledger.running["p"] == holding(problem, best).running["p"]).all()
