"""A search that goes on from where the one before it stopped (session 37, h37h): the time
solve's tail (`timeline._searched_beside_bound`) starts where the first search's moves had
converged, at the kick, not with a round of the moves and the passes after them again (at the
goal size of the sites shape: 4.4-4.8 CPU s that found 0-6 USD, before the kick and the overflow
chains it had been cut short of). The instance is `test_timeline_stretches`' (node-hours x 1
USD/h: 8 USD as packed, 7 the optimum)."""

from __future__ import annotations

import pytest
from test_timeline_stretches import STUCK, _problem
from test_timing import _spot_violations

from fitlang.solve import timeline_fill, timeline_pack, timeline_stretches, timeline_windows
from fitlang.solve.timeline_pack import holding, searched
from fitlang.solve.timeline_resume import Resumed

PASSES = ("improved", "emptied", "runs_recreated", "cap_kicked")


def _calls_recorded(monkeypatch) -> list[str]:
    """The names of the search's passes, in the order they are called (each still runs)."""
    calls: list[str] = []
    for name in PASSES:
        monkeypatch.setattr(timeline_pack, name, _recording(calls, name, getattr(timeline_pack, name)))
    monkeypatch.setattr(timeline_stretches, "stretches_emptied",
                        _recording(calls, "stretches_emptied", timeline_stretches.stretches_emptied))
    return calls


def _recording(calls: list[str], name: str, run):
    def recorded(*args, **kwargs):
        calls.append(name)
        return run(*args, **kwargs)
    return recorded


def test_a_search_resumed_where_the_moves_converged_goes_to_the_kick_first(tmp_path, monkeypatch):
    problem = _problem(tmp_path)
    state = Resumed()
    ledger = holding(problem, STUCK)
    spots = searched(problem, ledger, list(STUCK), None, resumed=state)
    assert ledger.total() == pytest.approx(7.0)
    # it stopped converged: its last round of moves gained nothing, nor anything after them
    assert state.converged and state.done == {"runs", "stretches", "fill", "longest", "windows", "overflow"}
    calls = _calls_recorded(monkeypatch)
    again = holding(problem, spots)
    after = searched(problem, again, spots, None, repack=False, resumed=state)
    assert calls[0] == "cap_kicked"  # no moves, no run or stretch pass before it
    assert again.total() == pytest.approx(7.0) and _spot_violations(problem, after) == []
    # without where the first stopped, the search begins with the moves again
    calls.clear()
    searched(problem, holding(problem, spots), spots, None, repack=False)
    assert calls[:2] == ["improved", "emptied"]


def _stopped_after(monkeypatch, module, name: str) -> Resumed:
    """The search's deadline passed as soon as the pass `name` of `module` ends; the state a
    search from STUCK then hands over."""
    stopped: list[bool] = []
    run = getattr(module, name)

    def then_stopped(*args, **kwargs):
        spots = run(*args, **kwargs)
        stopped.append(True)
        return spots
    monkeypatch.setattr(module, name, then_stopped)
    # (each reads `past` by its own name)
    for reading in (timeline_pack, timeline_stretches, timeline_fill, timeline_windows):
        monkeypatch.setattr(reading, "past", lambda deadline, ledger: bool(stopped))
    return Resumed()


def test_a_search_stopped_after_a_pass_gained_hands_over_moves_not_converged(tmp_path, monkeypatch):
    """The stretch pass gains (8 -> 7) after the moves converged, and the search stops right
    after it: the schedule changed since the moves converged, so the next search runs them."""
    problem = _problem(tmp_path)
    state = _stopped_after(monkeypatch, timeline_stretches, "stretches_emptied")
    ledger = holding(problem, STUCK)
    searched(problem, ledger, list(STUCK), None, resumed=state)
    assert ledger.total() == pytest.approx(7.0)
    assert not state.converged


def test_a_pass_cut_by_the_deadline_is_not_marked_done(tmp_path, monkeypatch):
    """The run pass tries its last run and the deadline passes: it is done; the stretch pass
    after it, past the deadline before its first block, is not (the search after runs it)."""
    problem = _problem(tmp_path)
    state = _stopped_after(monkeypatch, timeline_pack, "runs_recreated")
    ledger = holding(problem, STUCK)
    searched(problem, ledger, list(STUCK), None, resumed=state)
    assert ledger.total() == pytest.approx(8.0)  # (the stretch pass, past the deadline, did nothing)
    assert state.converged and state.done == {"runs"}
    assert not state.begun["stretches"].finished


def test_a_search_stopped_after_a_pass_gained_little_hands_over_moves_converged(tmp_path, monkeypatch):
    """As above, but the stretch pass's gain (1 USD of 8) is under CONVERGING (here a quarter
    of the total): the kick reads such a round as converged, and so does the search after this
    one, which goes to the kick first, not to the moves, the run and the stretch passes again
    (at the goal size of the sites shape the tail spent 5.5 CPU s on them after a run pass's
    -3.7 USD and ended before the kick)."""
    problem = _problem(tmp_path)
    monkeypatch.setattr(timeline_pack, "CONVERGING", 0.25)
    state = _stopped_after(monkeypatch, timeline_stretches, "stretches_emptied")
    ledger = holding(problem, STUCK)
    spots = searched(problem, ledger, list(STUCK), None, resumed=state)
    assert ledger.total() == pytest.approx(7.0)
    assert state.converged and {"runs", "stretches"} <= state.done
    monkeypatch.undo()
    monkeypatch.setattr(timeline_pack, "CONVERGING", 0.25)
    calls = _calls_recorded(monkeypatch)
    after = searched(problem, holding(problem, spots), spots, None, repack=False, resumed=state)
    assert calls[0] == "cap_kicked" and _spot_violations(problem, after) == []
