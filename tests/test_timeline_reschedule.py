"""A site's most wasteful nodes solved again exactly, starts and classes free (issue 19,
`solve/timeline_reschedule.py`)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from test_timing import _spot_violations

from solving import problem_from

SITE = """
pool small {{
  count = 3
  cpu = 10
  memory = 64GiB
  power = 1kW
  price = 1 USD/h
  labels = {{ site: "a" }}
}}

pool large {{
  count = 1
  cpu = 30
  memory = 192GiB
  power = {large_kw}kW
  price = 2 USD/h
  labels = {{ site: "a" }}
}}

power_cap feed {{
  cap = {cap_kw}kW
  labels = {{ site: "a" }}
}}

electricity grid {{
  hourly = [0.1 USD/kWh, 0.1 USD/kWh, 0.1 USD/kWh, 0.1 USD/kWh]
  labels = {{ site: "a" }}
}}
"""

JOB = """
workload {name} {{
  kind = job
  replicas = 1
  cpu = 8
  memory = 16GiB
  duration = 2h
  earliest = 0h
  deadline = 4h
}}
"""

POLICY = """
policy {
  objective = cost
  horizon = 4h
  step = 1h
  start = "2026-12-01T00:00Z"
}
"""


def _site(tmp_path, large_kw: int = 1, cap_kw: int = 10):
    """Three 8-CPU jobs of 2 h in a 4 h window, at staggered starts, each alone on a 10-CPU
    node (1 USD/h + 1 kW at 0.1 USD/kWh: 1.1 USD a node-hour): 6 node-hours, 6.6 USD. No
    small node holds two at once, so 6.6 is the least on the small nodes; all three on the
    30-CPU node at one start: 2 node-hours at 2 USD/h + its power, 4.2 USD with 1 kW."""
    from fitlang.solve.timeline_pack import Spot

    problem = problem_from(tmp_path, SITE.format(large_kw=large_kw, cap_kw=cap_kw)
                           + "".join(JOB.format(name=name) for name in "abc") + POLICY)
    spots = [Spot("a", 0, "small", 0, 0, 2), Spot("b", 0, "small", 1, 1, 3), Spot("c", 0, "small", 2, 2, 4)]
    return problem, spots


def _value(problem, spots) -> Fraction:
    from fitlang.solve.timeline import horizon_value, timed_assignments

    return horizon_value(problem, timed_assignments(problem, spots))


def test_the_search_moves_a_sites_runs_together_onto_a_larger_node_at_one_start(tmp_path):
    # no single move pays (one job on the large node wakes it for 4.2 USD to save 2.2), nor
    # does packing the small class again or regrouping its nodes with the steps fixed: the
    # converged search's exact neighbourhood with starts and classes free finds the 4.2,
    # and `verify` accepts the schedule
    from fitlang.solve.timeline_pack import holding, searched

    problem, spots = _site(tmp_path)
    assert _value(problem, spots) == Fraction("6.6")
    ledger = holding(problem, spots)
    after = searched(problem, ledger, spots, None, regroup=True)
    assert _value(problem, after) == Fraction("4.2")
    assert {(spot.class_id, spot.start) for spot in after} == {("large", after[0].start)}
    assert _spot_violations(problem, after) == []
    assert abs(ledger.total() - holding(problem, after).total()) < 1e-9


@pytest.mark.parametrize("large_kw, cap_kw, least", [(1, 10, "4.2"), (5, 4, "6.6")])
def test_a_neighbourhood_solved_again_keeps_the_power_cap(tmp_path, large_kw, cap_kw, least):
    # with a 5 kW large node under a 4 kW feed the large node may never wake: the schedule
    # stays as it was (the MIP's rows say so before the ledger's check would); with 1 kW under
    # 10 kW the three jobs go onto it together
    from fitlang.solve.timeline_pack import holding
    from fitlang.solve.timeline_reschedule import rescheduled

    problem, spots = _site(tmp_path, large_kw, cap_kw)
    ledger = holding(problem, spots)
    after = rescheduled(problem, ledger, spots, None)
    assert _value(problem, after) == Fraction(least)
    assert _spot_violations(problem, after) == []
    assert abs(ledger.total() - holding(problem, after).total()) < 1e-9
