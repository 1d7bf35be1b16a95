"""The schedule a time solve answers with first (issue 19 and issue 15's anytime rule, session
24): on a loaded machine the solve got a third of a core, and the goal size's floor (the time
model built, then two rounds of every replica and a repair) did not come by the 30 s limit:
no schedule at all. Now the time model's LP child builds the model itself (this process
spends nothing on it unless the MIP runs), and the first round places the demands that may
use the fewest nodes first, so that one round places all where the slack-first order left
dozens. The checks count what runs from outside and give each schedule to `verify`."""

from __future__ import annotations

import json

import pytest

from fitlang.solve import timeline, timeline_pack
from fitlang.solve.linear import Status
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import bench_module, problem_from


def _sites_problem(tmp_path, jobs: int, nodes: int, seed: int):
    sites = bench_module("timing_sites")
    return problem_from(tmp_path, sites.policy_text(sites.generate(jobs, 168, nodes, seed), "cost"))


def _violations(problem, placement) -> list:
    violations, malformed = verify(problem, json.loads(as_json(problem, placement, [])))
    return [v.message for v in violations] + malformed


@pytest.mark.parametrize("seed", [2, 5, 6])
def test_one_round_places_every_replica_where_the_slack_first_order_left_some(tmp_path, monkeypatch,
                                                                             seed):
    # 100 x 168 x 100 of the sites shape: by slack alone the first round left 1 / 5 / 14
    # replicas of jobs held to the small site (its nodes and power cap taken by jobs that
    # could go anywhere), each costing a repair or a round more; the fewest nodes first, none
    from fitlang.solve.timeline import TimedPlacement, horizon_value, timed_assignments

    problem = _sites_problem(tmp_path, 100, 100, seed)
    left: list[int] = []
    scheduled = timeline_pack._scheduled

    def counted(*args, **kwargs):
        made = scheduled(*args, **kwargs)
        left.append(len(made[2]))
        return made
    monkeypatch.setattr(timeline_pack, "_scheduled", counted)
    spots, missing = timeline_pack.node_schedule(problem)
    assert left == [0] and missing == []
    # every replica placed (a preemptible one's segments are spots of their own)
    assert len({(s.demand, s.replica) for s in spots}) == sum(d.replicas for d in problem.demands)
    assignments = timed_assignments(problem, spots)
    placement = TimedPlacement(Status.FEASIBLE, "cost", horizon_value(problem, assignments), None,
                               assignments, timeline=problem.timeline)
    assert _violations(problem, placement) == []


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_solve_builds_no_time_model_where_no_mip_runs(tmp_path, monkeypatch, seed):
    # `bench/timing.py`'s shape, 20 x 48 x 40: the schedule made node by node is proven optimal
    # by the LP bound of the child, which built the time model (the fork's own calls are not
    # counted here); this process builds none, and runs no MIP
    built: list[str] = []
    for name in ("encode", "_minimised"):
        function = getattr(timeline, name)

        def counted(*args, _name=name, _function=function, **kwargs):
            built.append(_name)
            return _function(*args, **kwargs)
        monkeypatch.setattr(timeline, name, counted)
    text, *_ = bench_module("timing").generate(20, 48, 40, seed)
    problem = problem_from(tmp_path, text)
    placed = timeline.solve_timed(problem, time_limit=60.0)
    assert built == []
    assert placed.status is Status.OPTIMAL and not placed.unplaced
    assert placed.bound is not None and placed.bound <= placed.value
    assert _violations(problem, placed) == []


class _BoundIn:
    """The LP bound's child as it is once its answer is in (`backends.Minimising`'s face)."""

    def __init__(self, outcome) -> None:
        self.began, self.seconds, self._outcome = 0.0, 0.0, outcome

    def done(self) -> bool:
        return True

    def outcome(self, wait=None):
        return self._outcome


@pytest.mark.parametrize("seed", [1, 2])
def test_the_search_stops_once_the_bound_is_in_and_the_schedule_within_the_tolerance(
        tmp_path, monkeypatch, seed):
    # `bench/timing.py`'s shape, 20 x 48 x 40: the schedule made node by node is the optimum;
    # with the LP bound in, no pass of the search runs over it (at 1,000 x 168 x 1,000 one
    # pass took 15 s of a 30 s limit before the bound was collected)
    from fitlang.solve.linear import Outcome

    text, *_ = bench_module("timing").generate(20, 48, 40, seed)
    problem = problem_from(tmp_path, text)
    bound = timeline._relaxed_bound(timeline.encode(problem, problem.timeline), "cost")
    monkeypatch.setattr(timeline, "_relaxation_started",
                        lambda *args: _BoundIn(Outcome(Status.OPTIMAL, objective=bound, bound=bound)))
    passes: list[int] = []
    improved = timeline_pack.improved

    def counted(*args, **kwargs):
        passes.append(1)
        return improved(*args, **kwargs)
    monkeypatch.setattr(timeline_pack, "improved", counted)
    placed = timeline.solve_timed(problem, time_limit=60.0)
    assert passes == []
    assert placed.status is Status.OPTIMAL and placed.bound == bound
    assert _violations(problem, placed) == []


def test_a_schedule_that_leaves_replicas_out_is_answered_not_dropped(tmp_path):
    """`big` needs three 14-hour runs of the only GPU node within 20 hours: one fits, and no
    schedule holds all (the MIP proves it). The schedule made node by node, which runs `big`
    once and every `small`, was dropped for missing two replicas: the answer placed nothing
    (bench/timing_sites.py at 50 nodes gave `unknown` with 243 of 243 replicas out, h50f)."""
    problem = problem_from(tmp_path, """\
pool gpu {
  count = 1
  cpu = 16
  memory = 64GiB
  gpu {
    model = h100
    count = 8
  }
  price = 20 USD/h
}
accelerator h100 {
  vendor = nvidia
  memory = 80GB
}
pool cpu {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 1 USD/h
}
workload big {
  kind = job
  replicas = 3
  cpu = 8
  memory = 32GiB
  gpu {
    count = 8
  }
  duration = 14h
  deadline = 20h
}
workload small {
  kind = job
  replicas = 4
  cpu = 4
  memory = 8GiB
  duration = 6h
  deadline = 24h
}
policy {
  horizon = 24h
  step = 1h
  start = "2026-12-07T00:00Z"
}
""")
    placed = timeline.solve_timed(problem)
    assert placed.status is Status.INFEASIBLE
    assert sorted((a.workload, a.replica) for a in placed.assignments) == \
        [("big", 0)] + [("small", r) for r in range(4)]
    assert sorted((u.workload, u.replica) for u in placed.unplaced) == [("big", 1), ("big", 2)]
    # what runs keeps every rule: the one broken is the replicas left out (E0503)
    violations, malformed = verify(problem, json.loads(as_json(problem, placed, [])))
    assert not malformed and {v.code for v in violations} == {"E0503"}


def test_the_candidates_of_a_run_are_every_class_and_start_cheapest_first(tmp_path):
    # the (cost, start, class) of each start on each class, a list of tuples sorted, as the
    # schedule made them before they were worked out as arrays (the same order, to the bit:
    # the schedule, hence the answer, is the same), on the sites shape's classes
    import numpy as np

    problem = _sites_problem(tmp_path, 30, 40, 3)
    ledger = timeline_pack.Ledger(problem)
    for demand in problem.demands[:12]:
        window = demand.windows[0]
        need = timeline_pack.need_of(demand)
        expected = []
        for class_id in demand.eligible:
            share = float((need / np.maximum(ledger.capacity[class_id], 1)).max())
            sums = np.concatenate(([0.0], np.cumsum(ledger.rate[class_id])))
            ends = np.arange(window.earliest, window.latest_start + 1) + window.duration
            costs = share * (sums[ends] - sums[ends - window.duration])
            expected += [(cost, start, class_id) for cost, start in zip(costs.tolist(), window.starts())]
        assert timeline_pack.candidates(ledger, demand, window) == sorted(expected)


def test_a_schedule_of_free_nodes_is_proven_at_zero_where_nothing_is_priced_below_it(tmp_path):
    # cost (and carbon) count nodes in use at prices of 0 or more: 0 is a true bound, and an
    # answer of 0 (work on nodes held by running jobs, free while held) is optimal without the
    # LP; a negative electricity price somewhere takes the bound away
    import dataclasses
    from fractions import Fraction

    problem = _sites_problem(tmp_path, 10, 20, 1)
    assert timeline._no_less_than_zero(problem, "cost") == 0
    assert timeline._no_less_than_zero(problem, "makespan") is None
    first = problem.classes[0]
    energy = (Fraction(-1, 100),) + tuple(Fraction(1, 100) for _ in range(problem.timeline.steps - 1))
    cheaper = dataclasses.replace(problem, classes=[dataclasses.replace(first, step_energy_cost=energy),
                                                    *problem.classes[1:]])
    assert timeline._no_less_than_zero(cheaper, "cost") is None
