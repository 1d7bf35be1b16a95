"""Replicas left out in time (`allow_unplaced` with a horizon, issue 19: `solve/timeline_unplaced.py`,
the time model's `LeftOut` columns in `rules/timing.py`, `solve/timeline._short_solved`): a
queue with more work than room leaves out the least priority, each outcome worked out by hand
in its policy's comment; never ranked below the queue's first fit by priority
(`bench/first_fit_time.py`, written apart); `verify` holds a gang's run all or none."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter
from fractions import Fraction

import pytest

from fitlang.driver import Compilation, Outcome
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from conftest import EXAMPLES
from solving import bench_module, problem_from, solved

POLICY = """
policy {
  horizon = 4h
  step = 1h
  start = "2026-12-01T00:00Z"
  allow_unplaced = true
}
"""

# Two nodes of 8 CPUs for 4 hours. `big` (priority 10) takes both nodes for 3 hours; `small`
# (priority 1) needs 2 hours before hour 4: only hour 3 is free. By hand: big placed, small
# left out (all 3), 2 nodes x 3 h x 1 USD/h = 6 USD, proven (no W0502).
QUEUE = """
pool node {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 1 USD/h
}
workload big {
  kind = job
  replicas = 2
  priority = 10
  cpu = 8
  memory = 8GiB
  duration = 3h
}
workload small {
  kind = job
  replicas = 3
  priority = 1
  cpu = 4
  memory = 4GiB
  duration = 2h
  deadline = 4h
}
""" + POLICY


def placed_of(placement) -> Counter:
    return Counter(a.workload for a in placement.assignments)


def test_what_does_not_fit_in_its_window_is_left_out_by_priority(tmp_path):
    problem = problem_from(tmp_path, QUEUE)
    placement = solved(problem)
    assert placed_of(placement) == {"big": 2}
    assert sorted((u.workload, u.replica) for u in placement.unplaced) == [("small", r) for r in range(3)]
    assert placement.value == Fraction(6)
    assert placement.status == "feasible"  # the most by priority proven: the driver's W0501 alone


def test_the_verdict_is_partial_and_proven(tmp_path):
    path = tmp_path / "q.fit"
    path.write_text(QUEUE)
    compilation = Compilation(path)
    placement = compilation.solve("auto", None)
    verdict = compilation.verdict(placement, None)
    assert verdict.outcome is Outcome.PARTIAL
    assert [d.code for d in verdict.diagnostics] == ["W0501"]


def test_the_lower_priority_places_where_the_higher_leaves_room(tmp_path):
    """A deadline of 6h for small: hours 3-5 are free on both nodes after big: 2 nodes hold
    2 + 2 small replicas at hours 3-4 (4 CPUs each), so all 3 place; nothing is left out."""
    problem = problem_from(tmp_path, QUEUE.replace("deadline = 4h", "deadline = 6h").replace(
        "horizon = 4h", "horizon = 6h"))
    placement = solved(problem)
    assert placed_of(placement) == {"big": 2, "small": 3} and not placement.unplaced


# the weekly queue of examples/weekly-queue.fit on two pools' nodes (its outcome by hand there):
# the queue's first fit by priority places climate at the start of the week and leaves render
# 2 of 4; the time model gives way in time (climate at the end) and places all 4
WEEK = """
pool hpc {
  count = 2
  cpu = 32
  memory = 256GiB
  price = 1 USD/h
}
workload climate {
  kind = job
  replicas = 2
  priority = 30
  cpu = 32
  memory = 64GiB
  duration = 3d
}
workload genome {
  kind = job
  replicas = 1
  priority = 20
  cpu = 32
  memory = 64GiB
  duration = 4d
}
workload render {
  kind = job
  replicas = 4
  priority = 10
  cpu = 16
  memory = 64GiB
  duration = 2d
  deadline = 5d
}
workload sweep {
  kind = job
  replicas = 2
  priority = 5
  cpu = 32
  memory = 64GiB
  duration = 3d
}
policy {
  horizon = 7d
  step = 1d
  start = "2026-12-07T00:00Z"
  allow_unplaced = true
}
"""


def test_the_model_places_more_than_the_queue_s_first_fit(tmp_path):
    problem = problem_from(tmp_path, WEEK)
    from fitlang.solve.timeline_unplaced import first_fit  # (the stage: after the policy is checked)

    _, spots, _ = first_fit(dataclasses.replace(problem, allow_unplaced=False))
    assert Counter(spot.demand for spot in spots) == {"climate": 2, "genome": 1, "render": 2}
    placement = solved(problem)
    assert placed_of(placement) == {"climate": 2, "genome": 1, "render": 4}
    assert placement.value == Fraction(336) and placement.status == "feasible"


# A gang of 2 (8 CPUs each) released every 2 hours, each run done within its 2 hours, on one
# node of 16 CPUs; `hog` (priority 5) holds 8 CPUs of it in hours 2-4. By hand: run 0 (hours
# 0-2) places both replicas; run 1 (hours 2-4) has room for one only: left out whole; run 2
# (hours 4-6) places both.
GANG = """
pool node {
  count = 1
  cpu = 16
  memory = 64GiB
  price = 1 USD/h
}
workload hog {
  kind = job
  replicas = 1
  priority = 5
  cpu = 8
  memory = 8GiB
  duration = 2h
  earliest = 2h
  deadline = 4h
}
workload pair {
  kind = job
  replicas = 2
  gang = true
  cpu = 8
  memory = 8GiB
  duration = 1h
  every = 2h
  within = 2h
}
policy {
  horizon = 6h
  step = 1h
  start = "2026-12-01T00:00Z"
  allow_unplaced = true
}
"""


def test_a_gang_s_run_is_left_out_whole(tmp_path):
    problem = problem_from(tmp_path, GANG)
    placement = solved(problem)
    runs = Counter(a.replica // 2 for a in placement.assignments if a.workload == "pair")
    assert runs == {0: 2, 2: 2}
    assert sorted((u.workload, u.replica) for u in placement.unplaced) == [("pair", 2), ("pair", 3)]


def test_verify_refuses_a_gang_s_run_half_placed(tmp_path):
    problem = problem_from(tmp_path, GANG)
    placement = solved(problem)
    document = json.loads(as_json(problem, placement, []))
    dropped = next(a for a in document["assignments"] if a["workload"] == "pair" and a["replica"] == 0)
    document["assignments"].remove(dropped)
    document["unplaced"].append({"workload": "pair", "replica": 0, "reason": "left out"})
    violations, _ = verify(problem, document)
    assert any("all or none" in v.message for v in violations)


def test_verify_refuses_left_out_replicas_the_policy_does_not_allow(tmp_path):
    problem = problem_from(tmp_path, QUEUE)
    document = json.loads(as_json(problem, solved(problem), []))
    violations, _ = verify(dataclasses.replace(problem, allow_unplaced=False), document)
    assert any("allow_unplaced" in v.message for v in violations)


@pytest.mark.parametrize("seed", range(3101, 3109))
def test_never_ranked_below_the_queue_s_first_fit_written_apart(tmp_path, seed):
    """`bench/differential_time.py --unplaced`'s tiny queues: per priority level, highest
    first, fitc's replicas placed never rank below `bench/first_fit_time.py`'s."""
    differential = bench_module("differential_time")
    apart = bench_module("first_fit_time")
    case = differential.with_unplaced(seed, differential.generate(seed))
    problem = problem_from(tmp_path, differential.to_fit(case))
    placement = solved(problem)
    levels = sorted({work.priority for work in case.works}, reverse=True)
    mine = differential.placed_by_priority(case, placement)
    floor = apart.first_fit(case)
    assert [mine.get(level, 0) for level in levels] >= [floor[level] for level in levels]


def test_the_hand_worked_weekly_queue_example_is_its_tests():
    path = EXAMPLES / "weekly-queue.fit"
    compilation = Compilation(path)
    placement = compilation.solve("auto", None)
    assert placed_of(placement) == {"climate": 2, "genome": 1, "render": 4}
    assert {u.workload for u in placement.unplaced} == {"sweep"}


def test_explain_names_the_jobs_and_the_window_that_leave_replicas_out(tmp_path, fitc):
    """As without a horizon, `fitc explain` of a policy that leaves replicas out explains why
    not every one is placed: the jobs and the window whose CPU-hours the pool lacks (E0950)."""
    path = tmp_path / "q.fit"
    path.write_text(QUEUE)
    explained = json.loads(fitc("explain", str(path), "--format", "json").stdout)
    assert explained["outcome"] == "conflict"
    [diagnostic] = explained["diagnostics"]
    assert diagnostic["code"] == "E0950"
    assert "`big`, `small` need 72 CPU-hours between 2026-12-01T00:00Z and 2026-12-01T04:00Z" \
        in diagnostic["message"]
