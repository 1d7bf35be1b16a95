"""A search in time that goes on where the one before it stopped (session 38, h38h): a pass cut
by the deadline goes on from its first untried item (`timeline_resume.Progress`), the overflow
chains the first search was cut in come first in the next, the kick comes once the moves have
converged and the passes after them gain no more than that, and a round's passes of `emptied`
stop once one gains under that share. The instance is `test_timeline_stretches`' (four
one-replica jobs on two 4-CPU nodes, 1 USD/h)."""

from __future__ import annotations

import pytest
from test_search_resumed import _calls_recorded
from test_timeline_stretches import STUCK, _problem

from fitlang.solve import (
    timeline_fill,
    timeline_overflow,
    timeline_pack,
    timeline_segments,
    timeline_stretches,
    timeline_windows,
)
from fitlang.solve.timeline_pack import CONVERGING, holding, runs_recreated, searched
from fitlang.solve.timeline_resume import Progress, Resumed


def test_progress_goes_on_from_the_first_item_not_tried_and_again_from_one_cut_in():
    progress: Progress[str] = Progress()
    stopped, seen = [False], []
    for item in progress.through(lambda: ["a", "b", "c", "d"], lambda: stopped[0]):
        seen.append(item)
        stopped[0] = item == "b"  # the deadline passes while on "b"
    assert seen == ["a", "b"] and not progress.finished
    stopped[0] = False
    # listed again or not, the items are the first pass's (the same schedule's order)
    assert list(progress.through(lambda: ["z"], lambda: stopped[0])) == ["b", "c", "d"]
    assert progress.finished
    assert list(Progress().through(lambda: ["a"], lambda: True)) == []  # stopped before the first


def test_a_run_pass_cut_by_the_deadline_goes_on_from_the_first_run_it_had_not_tried(tmp_path, monkeypatch):
    problem = _problem(tmp_path)
    tried: list[str] = []
    stop_at = [2]

    def recorded(problem, ledger, held):  # each run's replicas tried, none moved
        tried.append(held[0].demand)
        return None
    monkeypatch.setattr(timeline_pack, "_recreated", recorded)
    monkeypatch.setattr(timeline_pack, "past", lambda deadline, ledger: len(tried) >= stop_at[0])
    ledger = holding(problem, STUCK)
    progress: Progress = Progress()
    runs_recreated(problem, ledger, list(STUCK), None, progress)
    first = list(tried)
    assert len(first) == 2 and not progress.finished
    stop_at[0] = 100
    tried.clear()
    runs_recreated(problem, ledger, list(STUCK), None, progress)
    # the run it was cut in (the deadline passed on it) again, then only those not tried
    assert tried[0] == first[1] and len(tried) == 3 and progress.finished
    assert sorted(first[:1] + tried) == ["j0", "j1", "j2", "j3"]
    tried.clear()
    runs_recreated(problem, ledger, list(STUCK), None)  # without it, from the first run
    assert tried[:2] == first and len(tried) == 4


def test_a_search_cut_in_the_overflow_chains_hands_them_to_the_next_first(tmp_path, monkeypatch):
    problem = _problem(tmp_path)
    cut: list[bool] = []
    chains = timeline_overflow.overflowed

    def overflowed_then_cut(*args, **kwargs):  # the deadline passes as the chains begin
        cut.append(True)
        return chains(*args, **kwargs)
    monkeypatch.setattr(timeline_overflow, "overflowed", overflowed_then_cut)
    for reading in (timeline_pack, timeline_stretches, timeline_overflow):
        monkeypatch.setattr(reading, "past", lambda deadline, ledger: bool(cut))
    state = Resumed()
    ledger = holding(problem, STUCK)
    spots = searched(problem, ledger, list(STUCK), None, resumed=state)
    assert ledger.total() == pytest.approx(7.0)  # (the stretch pass found the optimum first)
    assert "overflow" in state.begun and "overflow" not in state.done
    monkeypatch.undo()
    calls = _calls_recorded(monkeypatch)
    monkeypatch.setattr(timeline_overflow, "overflowed", _noting(calls, timeline_overflow.overflowed))
    searched(problem, holding(problem, spots), spots, None, repack=False, resumed=state)
    assert calls[0] == "overflowed"  # before the moves and the kick
    assert "overflow" not in state.begun
    # without where the first stopped, the chains come only after the moves and the kick
    calls.clear()
    searched(problem, holding(problem, spots), spots, None, repack=False)
    assert calls[:2] == ["improved", "emptied"] and calls.index("overflowed") > calls.index("cap_kicked")


def _noting(calls: list[str], run):
    def noted(*args, **kwargs):
        calls.append("overflowed")
        return run(*args, **kwargs)
    return noted


class _Scripted:
    """A ledger whose total only the scripted passes below lower."""

    def __init__(self, total: float) -> None:
        self.value = total

    def total(self) -> float:
        return self.value


def test_the_kick_comes_once_the_moves_converge_and_the_passes_after_them_gain_no_more(monkeypatch):
    """Round 1: the moves gain 100 (not converged). Round 2: the moves gain 0.8 of CONVERGING's
    share (converged) and the run pass 0.8 more: the round gained more than the share, but
    neither the moves nor the passes after them did, so the kick and the chains come now, not
    after a round of the moves more."""
    share = CONVERGING * 10_000
    script = {"improved": [100.0, 0.8 * share], "runs_recreated": [0.8 * share]}
    calls: list[str] = []

    def scripted(name: str):
        def run(problem, ledger, spots, *args, **kwargs):
            calls.append(name)
            gains = script.get(name, [])
            ledger.value -= gains.pop(0) if gains else 0.0
            return spots
        return run
    for name in ("improved", "emptied", "runs_recreated", "cap_kicked"):
        monkeypatch.setattr(timeline_pack, name, scripted(name))
    monkeypatch.setattr(timeline_stretches, "stretches_emptied", scripted("stretches_emptied"))
    monkeypatch.setattr(timeline_stretches, "blocks_emptied_longest_first", scripted("longest_first"))
    monkeypatch.setattr(timeline_windows, "windows_emptied", scripted("windows"))
    monkeypatch.setattr(timeline_fill, "filled", scripted("filled"))
    monkeypatch.setattr(timeline_overflow, "overflowed", scripted("overflowed"))
    monkeypatch.setattr(timeline_segments, "resegmented", scripted("resegmented"))
    searched(None, _Scripted(10_000.0), [], None, repack=False)  # type: ignore[arg-type]
    assert calls[:11] == ["improved", "emptied", "improved", "emptied", "runs_recreated", "stretches_emptied",
                          "filled", "longest_first", "windows", "cap_kicked", "overflowed"]


def test_emptieds_passes_in_a_round_stop_once_one_gains_under_the_converging_share(tmp_path, monkeypatch):
    """The passes over the blocks gain 50, 2, 1, then nothing: with `converging` (the search's
    rounds) the second pass, under CONVERGING's share of 10,000 (3 USD), is the last; without it
    (`settled`), the passes go on until one moves nothing."""
    problem = _problem(tmp_path)
    gains, passes = [50.0, 2.0, 1.0, 0.0], []

    def recreated(problem, ledger, held):  # the one block below, placed again as it was
        gain = gains[len(passes)]
        passes.append(gain)
        ledger.value -= gain
        return held if gain > 0 else None
    monkeypatch.setattr(timeline_pack, "_blocks", lambda ledger, only=None: [("n", 0, 0, 6)])
    monkeypatch.setattr(timeline_pack, "_recreated", recreated)
    timeline_pack.emptied(problem, _Scripted(10_000.0), list(STUCK), None,  # type: ignore[arg-type]
                          converging=CONVERGING)
    assert passes == [50.0, 2.0]
    passes.clear()
    timeline_pack.emptied(problem, _Scripted(10_000.0), list(STUCK), None)  # type: ignore[arg-type]
    assert passes == [50.0, 2.0, 1.0, 0.0]
