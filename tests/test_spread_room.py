"""spread_room.py: a spread over zones whose smallest zone caps the others so that every
replica cannot be placed is proven impossible before any model: `fitc plan` says so at once,
its conflict named (inventory 10,000 drain 22: E0506 after 5 s, `unknown`, 30 replicas out)."""

from __future__ import annotations

import numpy as np
import pytest

from fitlang.driver import Compilation, Outcome
from fitlang.model.current import CurrentState, Running
from fitlang.plan import make_plan
from fitlang.solve import moving
from fitlang.solve import placement as placement_module
from fitlang.solve.linear import Status
from fitlang.solve.placement import solve
from fitlang.solve.room import short_of_room
from fitlang.solve.spread_room import least_count, spreads_short_of_room

from solving import pool, problem_from, workload


def zones(small: int, cpu: int = 6, extra: str = "") -> str:
    """Zone a: `small` nodes of `cpu` CPUs; b and c: 90 nodes of 16 each (200 nodes past
    explain's node-by-node 160 when `small` is 20: the fleet-scale path)."""
    return (pool("a", small, cpu, "32GiB", 1, '  zone = "a"\n')
            + pool("b", 90, 16, "64GiB", 2, '  zone = "b"\n')
            + pool("c", 90, 16, "64GiB", 2, '  zone = "c"\n')
            + workload("web", 30, 4, "2GiB", "  spread zone max_skew 1\n" + extra)
            + workload("batch", 100, 2, "4GiB"))


@pytest.mark.parametrize("text, short", [
    # 30 replicas, skew 1 over 3 zones: 10 in each; a's 7 nodes hold one each: at most 7 + 8 + 8
    (zones(7), True),
    (zones(10), False),
    # two replicas a node (8 CPUs): 14 in a
    (zones(7, cpu=8), False),
    # skew 3: a's 7 let b and c hold 10 each, 27 of 30
    (zones(7, extra="  spread zone max_skew 3\n").replace("  spread zone max_skew 1\n", ""), True),
    # skew 5: 7 + 12 + 12
    (zones(7, extra="  spread zone max_skew 5\n").replace("  spread zone max_skew 1\n", ""), False),
    # a zone it may not use is no domain of its spread
    (zones(7, extra='  zones = ["b", "c"]\n'), False),
    # a node apart from each other replica in every zone: a's nodes hold 7 whatever their size
    (zones(7, cpu=8, extra="  anti_affinity self on node\n"), True),
])
def test_a_zone_that_caps_the_spread(tmp_path, text, short):
    problem = problem_from(tmp_path, text)
    found = spreads_short_of_room(problem)
    assert [d.workload for d in found] == (["web"] if short else [])
    assert short_of_room(problem) == found


def test_allowed_left_out_is_no_conflict(tmp_path):
    problem = problem_from(tmp_path, zones(7) + "policy {\n  allow_unplaced = true\n}\n")
    assert short_of_room(problem) == []


def _no_model(*arguments, **keywords):
    raise AssertionError("a fleet-scale model ran")


def test_the_solve_proves_it_before_any_model(tmp_path, monkeypatch):
    monkeypatch.setattr(placement_module, "_solve", _no_model)
    placement = solve(problem_from(tmp_path, zones(7)), "auto", 20.0)
    assert placement.status is Status.INFEASIBLE and placement.proven_infeasible


def test_the_plan_names_the_conflict_with_no_plain_solve(tmp_path, monkeypatch):
    """The move proves it, and the plan explains it at once: no plain solve (its greedy
    placement took 4 CPU s at 10,000 nodes), no whole model, a minimal conflict."""
    path = tmp_path / "p.fit"
    path.write_text(zones(20) + "workload svc {\n  replicas = 50\n  cpu = 4\n  memory = 2GiB\n"
                    '  spread zone max_skew 1\n  zones = ["a", "b", "c"]\n  require pool in [a, b]\n}\n')
    state = CurrentState(running=tuple(Running("web", f"b-{i}") for i in range(10)))

    def no_solve(*arguments, **keywords):
        raise AssertionError("a plain solve ran")

    monkeypatch.setattr(moving, "_solve", _no_model)
    monkeypatch.setattr(moving, "_at_scale", _no_model)
    monkeypatch.setattr(Compilation, "solve", no_solve)  # (the repairs solve their trials)
    result = make_plan(Compilation(path), state, time_limit=20.0)
    assert result.plan is None and result.placement.proven_infeasible
    assert result.status == "infeasible"
    conflict = next(d for d in result.diagnostics if d.is_error)
    assert conflict.code == "E0501" and "`svc`" in conflict.message, conflict.message
    # c is no domain of svc's spread: 20 nodes of a hold 20 (one each), b at most 21, of 50
    assert "pool `a`" in conflict.message and "`web`" not in conflict.message
    assert "not narrowed" not in conflict.message


def test_the_verdict_of_fitc_solve_names_it(tmp_path):
    path = tmp_path / "q.fit"
    path.write_text(zones(7))
    compilation = Compilation(path)
    verdict = compilation.verdict(compilation.solve("auto", 20.0), 20.0)
    assert verdict.outcome is Outcome.INFEASIBLE
    conflict = next(d for d in verdict.diagnostics if d.is_error)
    assert conflict.code == "E0501" and "`web`" in conflict.message and "`batch`" not in conflict.message


# ---- spreads that must share a domain's nodes (spread_share.py) ----------------------------

def shared_zone(second_cpu: int = 4, second_pool: str = "") -> str:
    """Zone a: 10 nodes of 7.77 CPUs (one 4-CPU replica each); b and c: 90 nodes of 16. `one`
    (27 replicas) and `two` (24), each spread with skew 1 over the three zones, need 9 and 8
    in a (inventory 1,000 seed 37's shape): each alone fits, together 17 on 10 nodes."""
    return (pool("a", 10, "7770m", "64GiB", 1, '  zone = "a"\n')
            + pool("b", 90, 16, "64GiB", 2, '  zone = "b"\n')
            + pool("c", 90, 16, "64GiB", 2, '  zone = "c"\n') + second_pool
            + workload("one", 27, 4, "2GiB", "  spread zone max_skew 1\n  require pool in [a, b, c]\n")
            + workload("two", 24, second_cpu, "2GiB", "  spread zone max_skew 1\n"))


@pytest.mark.parametrize("text, short", [
    (shared_zone(), ["one", "two"]),
    # 2 CPUs: beside `one` on a's nodes (9 of 4 + 8 of 2 CPUs within 77.7)
    (shared_zone(second_cpu=2), []),
    # `two` may use another pool of zone a too
    (shared_zone(second_pool=pool("a2", 8, 8, "64GiB", 1, '  zone = "a"\n')), []),
])
def test_floors_that_one_zone_cannot_hold_together(tmp_path, text, short):
    problem = problem_from(tmp_path, text)
    assert [d.workload for d in spreads_short_of_room(problem)] == short


@pytest.mark.parametrize("room, replicas, skew, most, least", [
    ([10, 88, 714], 27, 1, 10, 9),  # 8 + 9 + 9 < 27
    ([10, 88, 714], 24, 1, 10, 8),
    ([100, 100, 100], 30, 1, 100, 10),
    ([100, 100, 100], 30, 3, 100, 8),  # 8 + 11 + 11
    ([100, 100, 100, 100], 3, 1, 100, 0),  # a zone may hold none
    ([7, 300, 300], 30, 1, 7, 0),  # short alone: no floor stated
])
def test_the_least_count_of_a_domain(room, replicas, skew, most, least):
    assert least_count(np.array(room), replicas, skew, most) == least


def test_no_repair_is_begun_that_no_check_could_end_by_the_command_s_limit(tmp_path):
    """At fleet scale a repair checks the whole model; where the command's limit leaves no time
    for one (drain 22: `fitc plan --time-limit 5` at 28.6 CPU s), none is begun."""
    import time

    from fitlang.solve.explain.conflict import _no_check_by

    fleet, small = problem_from(tmp_path, zones(20)), problem_from(tmp_path, zones(7)[:0] + pool(
        "a", 10, 8, "32GiB", 1) + workload("w", 3, 1, "1GiB"), name="q.fit")
    assert _no_check_by(fleet, time.monotonic())
    assert not _no_check_by(fleet, None) and not _no_check_by(fleet, time.monotonic() + 600)
    assert not _no_check_by(small, time.monotonic())  # (node by node: each check is small)
