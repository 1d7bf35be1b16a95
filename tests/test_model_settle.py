"""backends.Settle: past its time, HiGHS's branch and bound stops once its incumbent is within
the gap of its bound, so that the time after the model (its packing) is not eaten by closing
the last percents (aggregate.MODEL_SETTLE_SHARE)."""

from __future__ import annotations

import random
import time

import pytest

from fitlang.solve import backends
from fitlang.solve.backends import HighsBackend, Settle
from fitlang.solve.linear import LinearModel, Status


@pytest.fixture(autouse=True)
def _branching(monkeypatch):
    """With presolve, HiGHS proves this instance's optimum by branching, where `settle` is
    asked; without it (fitc's MIPs, backends.MIP_PRESOLVE) its root closes the gap first."""
    monkeypatch.setattr(backends, "MIP_PRESOLVE", "on")


def _bin_packing():
    """40 items into at most 12 bins of an eighth of their total, fewest bins; a first-fit
    start (every variable set). HiGHS needs its branch and bound to prove the optimum."""
    rng = random.Random(1)
    sizes = [rng.randint(10**5, 10**6) for _ in range(40)]
    capacity, bins = sum(sizes) // 8, 12
    model = LinearModel()
    x = {(i, b): model.var(f"x{i}_{b}", 0, 1) for i in range(len(sizes)) for b in range(bins)}
    used = [model.var(f"u{b}", 0, 1) for b in range(bins)]
    for i in range(len(sizes)):
        model.add({x[i, b]: 1 for b in range(bins)}, lower=1, upper=1)
    for b in range(bins):
        model.add({**{x[i, b]: sizes[i] for i in range(len(sizes))}, used[b]: -capacity}, upper=0)
    start = {column: 0 for column in x.values()}
    load = [0] * bins
    for i, size in enumerate(sizes):
        b = next(b for b in range(bins) if load[b] + size <= capacity)
        load[b] += size
        start[x[i, b]] = 1
    start.update({used[b]: int(load[b] > 0) for b in range(bins)})
    return model, {column: 1 for column in used}, start


class _Recording(Settle):
    """A Settle that remembers what it answered each time HiGHS asked."""

    answers: list[bool]

    def reached(self, data_out) -> bool:
        answer = super().reached(data_out)
        self.answers.append(answer)
        return answer


def _recording(after: float, gap: float) -> _Recording:
    settle = _Recording(after, gap)
    settle.answers = []
    return settle


def test_past_its_time_the_model_stops_at_an_incumbent_within_the_gap():
    model, objective, start = _bin_packing()
    settle = _recording(time.monotonic(), 1.0)
    settled = HighsBackend().minimise(model, objective, time_limit=60, start=start, settle=settle)
    assert settled.solution is not None and settle.answers[-1:] == [True]  # stopped, with a solution
    waiting = _recording(time.monotonic() + 3600, 1.0)
    whole = HighsBackend().minimise(model, objective, time_limit=60, start=start, settle=waiting)
    assert whole.status is Status.OPTIMAL and True not in waiting.answers  # before its time, nothing settles
    assert settled.objective >= whole.objective


def test_an_incumbent_outside_the_gap_does_not_settle():
    model, objective, start = _bin_packing()
    whole = HighsBackend().minimise(model, objective, time_limit=60, start=start,
                                    settle=Settle(time.monotonic(), 0.0))
    assert whole.status is Status.OPTIMAL
