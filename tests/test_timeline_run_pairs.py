"""A run that cannot move alone moved with a run in its way (sessions 41-43): the pairs of runs
tried in the first run pass of a solve that runs to its end, the later passes without them.
Values by hand (node-hours awake x 100 USD/h: a run's leaving must save over PAIRED_SAVING)."""

from __future__ import annotations

import pytest
from test_timing import _spot_violations

from fitlang.solve import timeline_pack
from fitlang.solve.timeline_pack import Spot, holding, runs_paired, runs_recreated, searched
from fitlang.solve.timeline_resume import Resumed
from fitlang.solve.timeline_run_pairs import PAIRED_SAVING

from solving import pool, problem_from, workload


def _pool(name: str) -> str:
    return pool(name, 1, 4, "16GiB", 100, f'  labels = {{ tier: "{name}" }}\n')


def _job(name: str, duration: int, deadline: int, only_p: bool) -> str:
    held = '  require labels["tier"] == "p"\n' if only_p else ""
    return workload(name, 1, 2, "1GiB", f"  kind = job\n  duration = {duration}h\n  earliest = 0h\n"
                                         f"  deadline = {deadline}h\n{held}")


POLICY = """
policy {
  horizon = 6h
  step = 1h
  start = "2026-12-01T00:00Z"
}
"""


def _problem(tmp_path):
    """One 4-CPU node in each of two pools over 6 h; three 2-CPU jobs: `long` (6 h, pool p
    only), `early` (3 h at hour 0, either pool), `loose` (3 h anywhere in the 6 h, pool p
    only)."""
    return problem_from(tmp_path, _pool("p") + _pool("q") + POLICY + _job("long", 6, 6, True)
                        + _job("early", 3, 3, False) + _job("loose", 3, 6, True))


# p's node holds `long` (0-6) and `loose` (0-3), full at hours 0-3; `early` wakes q's node for
# 0-3: 900 USD. `early` alone finds p full at its only start; `loose` alone frees nothing. The
# pair: `early` into p at 0-3, where `loose` was, and `loose` to p at 3-6: q sleeps, 600 USD
STUCK = [Spot("long", 0, "p", 0, 0, 6), Spot("loose", 0, "p", 0, 0, 3), Spot("early", 0, "q", 0, 0, 3)]
PAIRED = {("long", "p", 0), ("early", "p", 0), ("loose", "p", 3)}


def test_a_run_pass_with_pairs_moves_a_run_into_the_room_of_the_run_in_its_way(tmp_path):
    problem = _problem(tmp_path)
    assert PAIRED_SAVING < 300  # `early`'s leaving saves q's three hours
    ledger = holding(problem, STUCK)
    runs_recreated(problem, ledger, list(STUCK), None)  # without the pairs: nothing moves
    assert ledger.total() == pytest.approx(900.0)
    ledger = holding(problem, STUCK)
    spots = runs_paired(problem, ledger, list(STUCK), None)
    assert ledger.total() == pytest.approx(600.0)
    assert {(s.demand, s.class_id, s.start) for s in spots} == PAIRED
    assert _spot_violations(problem, spots) == []
    assert (ledger.running["p"] == holding(problem, spots).running["p"]).all()


def test_the_search_pairs_runs_in_its_first_run_pass_and_not_after(tmp_path, monkeypatch):
    problem = _problem(tmp_path)
    state = Resumed()
    ledger = holding(problem, STUCK)
    found = searched(problem, ledger, list(STUCK), None, resumed=state)
    assert ledger.total() == pytest.approx(600.0) and _spot_violations(problem, found) == []
    assert state.paired  # its run pass ran to its end with the pairs
    # a search after one whose run pass paired runs before runs without them
    passes: list[bool] = []
    plain = timeline_pack.runs_recreated

    def recorded(problem, ledger, spots, deadline, progress=None, paired=False):
        passes.append(paired)
        return plain(problem, ledger, spots, deadline, progress, paired)
    monkeypatch.setattr(timeline_pack, "runs_recreated", recorded)
    ledger = holding(problem, STUCK)
    searched(problem, ledger, list(STUCK), None, resumed=Resumed(paired=True))
    assert ledger.total() == pytest.approx(900.0) and passes and not any(passes)
    passes.clear()
    searched(problem, holding(problem, STUCK), list(STUCK), None, resumed=Resumed())
    assert passes[0] and not any(passes[1:])
