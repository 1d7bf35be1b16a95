"""A few of a site's emptiest nodes over a window filled again together across its classes
(issue 19, `solve/timeline_fill.py`)."""

from __future__ import annotations

from fractions import Fraction

import pytest
from test_timeline_reschedule import JOB, POLICY, SITE, _site, _value
from test_timing import _spot_violations

from solving import problem_from


def test_the_search_gathers_a_sites_runs_onto_a_larger_node_without_the_exact_neighbourhoods(tmp_path):
    # three 8-CPU jobs each alone on a 10-CPU node at staggered starts (6.6 USD): no single
    # move, block, run or class repack pays for waking the 30-CPU node; the search without
    # the regroup (the exact neighbourhoods, which run only once it has converged) now fills
    # the large node with all three at one start (4.2), and `verify` accepts the schedule
    from fitlang.solve.timeline_pack import holding, searched

    problem, spots = _site(tmp_path)
    assert _value(problem, spots) == Fraction("6.6")
    ledger = holding(problem, spots)
    after = searched(problem, ledger, spots, None)
    assert _value(problem, after) == Fraction("4.2")
    assert {(spot.class_id, spot.start) for spot in after} == {("large", after[0].start)}
    assert _spot_violations(problem, after) == []
    assert abs(ledger.total() - holding(problem, after).total()) < 1e-9


@pytest.mark.parametrize("large_kw, cap_kw, least", [(1, 10, "4.2"), (5, 4, "6.6")])
def test_a_neighbourhood_filled_again_keeps_the_power_cap(tmp_path, large_kw, cap_kw, least):
    # a 5 kW large node under a 4 kW feed may never wake: the schedule stays as it was, the
    # ledger as it was float for float; with 1 kW under 10 kW the three go onto it together
    from fitlang.solve.timeline_fill import filled
    from fitlang.solve.timeline_pack import holding

    problem, spots = _site(tmp_path, large_kw, cap_kw)
    ledger = holding(problem, spots)
    after = filled(problem, ledger, spots, None)
    assert _value(problem, after) == Fraction(least)
    assert _spot_violations(problem, after) == []
    assert ledger.total() == holding(problem, after).total()
    assert all((ledger.used[c.id] == holding(problem, after).used[c.id]).all() for c in problem.classes)


def test_a_neighbourhood_that_did_not_pay_is_not_filled_again_while_nothing_it_reads_changed(tmp_path):
    # the capped site: the fill finds nothing and marks it; a second pass over the same
    # ledger tries nothing (the same answer, no CPU), and after a replica moves by hand on
    # the site it is tried again
    from fitlang.solve import timeline_fill
    from fitlang.solve.timeline_pack import holding

    problem, spots = _site(tmp_path, 5, 4)
    ledger = holding(problem, spots)
    tried = []
    original = timeline_fill._filled_again

    def counted(*args, **kwargs):
        tried.append(1)
        return original(*args, **kwargs)

    timeline_fill._filled_again = counted
    try:
        timeline_fill.filled(problem, ledger, spots, None)
        assert len(tried) == 1
        timeline_fill.filled(problem, ledger, spots, None)
        assert len(tried) == 1
        ledger.drop(spots[2])
        moved = spots[:2] + [type(spots[2])("c", 0, "small", 2, 1, 3)]
        ledger.put(moved[2])
        timeline_fill.filled(problem, ledger, moved, None)
        assert len(tried) == 2
    finally:
        timeline_fill._filled_again = original


DECOYS = """
pool tiny {
  count = 4
  cpu = 10
  memory = 64GiB
  power = 1kW
  price = 1 USD/h
  labels = { site: "a", kind: "tiny" }
}
""" + "".join(f"""
workload decoy{step} {{
  kind = job
  replicas = 1
  cpu = 3
  memory = 4GiB
  duration = 1h
  earliest = {step}h
  deadline = {step + 1}h
  require labels["kind"] == "tiny"
}}
""" for step in range(4))


def test_the_sites_next_emptiest_nodes_are_filled_again_where_its_emptiest_do_not_pay(tmp_path):
    # four tiny nodes each hold a 3-CPU job held to its hour (70% unused: the emptiest of the
    # site, and nothing gathers them for less); the three small nodes' staggered 8-CPU jobs
    # come after them in the ranking. The emptiest group alone (the start tree) leaves the
    # site at 11.0 USD; the next group filled again gathers the three onto the large node
    from fitlang.solve.timeline_fill import filled
    from fitlang.solve.timeline_pack import Spot, holding

    text = SITE.format(large_kw=1, cap_kw=10) + DECOYS + "".join(JOB.format(name=name) for name in "abc")
    problem = problem_from(tmp_path, text + POLICY)
    spots = [Spot(f"decoy{step}", 0, "tiny", step, step, step + 1) for step in range(4)] + [
        Spot("a", 0, "small", 0, 0, 2), Spot("b", 0, "small", 1, 1, 3), Spot("c", 0, "small", 2, 2, 4)]
    assert _value(problem, spots) == Fraction("11.0")
    ledger = holding(problem, spots)
    after = filled(problem, ledger, spots, None)
    assert _value(problem, after) == Fraction("8.6")
    assert {(spot.class_id, spot.start) for spot in after[4:]} == {("large", after[4].start)}
    assert _spot_violations(problem, after) == []
    assert ledger.total() == holding(problem, after).total()
