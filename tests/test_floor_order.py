"""Where the floor's path follows (the whole model too large ever to be built) and the pair
bound and its guided pass fit, the floor's first consolidation waits until the guided passes
are known (`placement._guided_next`); where the pair bound converges alone in its share, the
zoned bound does not run before it (`budget.pair_converges_alone`). At inventory 10,000 with
`fitc solve --time-limit 5` both took the time the guided pass's consolidation needed (see
docs/performance.md, session 21, h21b). Held here on the inventory shape at 1,000 nodes with
the whole model made too large: the stages' order, `verify` on every answer, and the answer
never dearer than the floor consolidated apart (by `improve.consolidate`, outside the solve)."""

from __future__ import annotations

import json
import time

import pytest

from fitlang.solve import budget, placement
from fitlang.solve.greedy import greedy_floor
from fitlang.solve.improve import consolidate
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import bench_module, problem_from


def _inventory(tmp_path, seed: int):
    fleet = bench_module("inventories").generate(1000, 100, seed)
    fleet.write(tmp_path, "unused")
    return problem_from(tmp_path, fleet.policy)


def _consolidated_floor(problem) -> float:
    """The greedy floor consolidated whole, apart from the solve."""
    packing, _ = greedy_floor(problem)
    consolidate(problem, packing, "cost")
    return float(placement._packed_value(problem, packing, "cost"))


def _recorded(monkeypatch) -> tuple[list[tuple[str, int]], list]:
    """The solve's calls to the greedy floor, the consolidation and the pair bound, in order
    (with the packing's identity), and the floors made."""
    events: list[tuple[str, int]] = []
    floors: list = []
    real_floor, real_consolidate = placement.greedy_floor, placement.consolidate
    real_bound = placement.lower_bound

    def floor(*args):
        floors.append(real_floor(*args))
        events.append(("greedy", id(floors[-1][0])))
        return floors[-1]

    def consolidated(problem, packing, *args):
        events.append(("consolidate", id(packing)))
        return real_consolidate(problem, packing, *args)

    def bound(*args, **kwargs):
        events.append(("bound", 0))
        return real_bound(*args, **kwargs)

    monkeypatch.setattr(placement, "greedy_floor", floor)
    monkeypatch.setattr(placement, "consolidate", consolidated)
    monkeypatch.setattr(placement, "lower_bound", bound)
    return events, floors


def _verified(problem, found) -> None:
    violations, problems = verify(problem, json.loads(as_json(problem, found, [])))
    assert violations == [] and problems == [], [v.message for v in violations] + problems
    assert not found.unplaced


@pytest.mark.parametrize("seed", [7, 8])
def test_the_floor_is_consolidated_only_after_the_pair_bound_where_guided_passes_follow(
        tmp_path, monkeypatch, seed):
    problem = _inventory(tmp_path, seed)
    reference = _consolidated_floor(problem)
    monkeypatch.setattr(placement, "MODEL_MAX_COLUMNS", 0)  # the model too large: the floor's path
    events, floors = _recorded(monkeypatch)
    found = placement._solve(problem, "auto", 3.0, relax=True)
    _verified(problem, found)
    first_floor = id(floors[0][0])
    assert ("consolidate", first_floor) not in events[:events.index(("bound", 0))]
    assert float(found.value) <= reference


def test_where_no_guided_floor_is_made_the_floor_is_still_consolidated_before_the_search(
        tmp_path, monkeypatch):
    problem = _inventory(tmp_path, 9)
    reference = _consolidated_floor(problem)
    monkeypatch.setattr(placement, "MODEL_MAX_COLUMNS", 0)
    # no guided floor at all (as where the limit cut them), and a search that takes all the
    # time left and finds nothing: only the floor's own consolidation may improve it
    monkeypatch.setattr(placement, "_cheapest_guided", lambda problem, packing, *args: packing)
    monkeypatch.setattr(placement, "repack", lambda *args: 0)
    monkeypatch.setattr(placement, "neighbourhood", _TimeSpentSearch())
    found = placement._solve(problem, "auto", 3.0, relax=True)
    _verified(problem, found)
    assert float(found.value) <= reference


class _TimeSpentSearch:
    @staticmethod
    def search(problem, packing, objective, deadline, *args, **kwargs):
        time.sleep(max(0.0, deadline - time.monotonic()))
        return packing


def test_the_guided_pass_waits_for_no_consolidation_only_where_it_fits():
    # inventory 10,000 at 5 s: 147,992 pairs, the floor 0.6 s, 2.45 s left to the search's end
    assert budget.guided_pass_fits(147_992, 0.6, 2.45, 1.0)
    # at half a core: the floor took 1.2 s, 1.9 s are left, the pair bound ~2.2 s
    assert not budget.guided_pass_fits(147_992, 1.2, 1.9, 0.5)
    assert not budget.guided_pass_fits(2_025_859, 0.6, 25.0, 1.0)  # inventory 50,000: the rebuild's
    assert not budget.guided_pass_fits(147_992, 0.6, None, 1.0)  # no limit: as before


def test_the_zoned_bound_runs_first_only_where_the_pair_bound_alone_would_be_cut(tmp_path):
    # a 0.25 s limit at inventory 1,000 (8,996 pairs): the fleet-wide estimate (1.6e-5 s a
    # pair) says the pair bound takes over its half of it; at this size it takes 0.07 s
    problem = _inventory(tmp_path, 7)
    pairs = placement._pairs(problem)
    assert placement.PAIR_SECONDS_PER_PAIR * pairs > placement.BOUND_SHARE * 0.25
    packing, _ = greedy_floor(problem)
    value = placement._packed_value(problem, packing, "cost")
    deadline = time.monotonic() + 30
    zoned, seed = placement._zoned(problem, "cost", None, packing, 0.25, deadline, value, 1.0)
    assert zoned is None and seed == set()
    # a quarter of a core: the pair bound alone would be cut, so the zoned bound runs first
    zoned, seed = placement._zoned(problem, "cost", None, packing, 0.25, deadline, value, 0.25)
    assert zoned is not None and zoned.value is not None and 0 < zoned.value <= value
