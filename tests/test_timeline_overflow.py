"""A node's block emptied through an overflow chain (session 31, h31h; h29d's move): a replica
goes onto another node of its class awake over its run, made room on by sending that node's
replica that may use another class there, so that the block's node sleeps. Values by hand
(node-hours awake x the node's price)."""

from __future__ import annotations

import pytest
from test_timing import _spot_violations, job, policy, problem_from

from fitlang.solve.timeline_overflow import overflowed
from fitlang.solve.timeline_pack import Spot, holding, searched

LARGE_AND_SMALL = """
pool large {{
  count = 2
  cpu = 8
  memory = 64GiB
  price = 10 USD/h
}}

pool small {{
  count = 1
  cpu = 4
  memory = 8GiB
  price = {small} USD/h
}}
"""


def _service(name: str, cpu: int, memory: str) -> str:
    return f"""
workload {name} {{
  replicas = 1
  cpu = {cpu}
  memory = {memory}
}}
"""


def _problem(tmp_path, small_price: int):
    """Two 8-CPU large nodes at 10 USD/h and one 4-CPU small node (8 GiB) over 4 h: services a
    (6 CPUs, 16 GiB: large nodes only) and b (2 CPUs, 4 GiB: either class); jobs c (2 CPUs,
    the first hour) and e (6 CPUs, the last two), both 16 GiB."""
    text = (LARGE_AND_SMALL.format(small=small_price) + _service("a", 6, "16GiB")
            + _service("b", 2, "4GiB") + job("c", "1h", "earliest = 0h\n  deadline = 1h", cpu=2)
            + job("e", "2h", "earliest = 2h\n  deadline = 4h", cpu=6) + policy(horizon="4h"))
    return problem_from(tmp_path, text)


# a and b fill large node 0 for 4 h (40 USD); node 1 holds c at hour 0 and e at hours 2-3
# (30 USD). No single move pays (b leaving node 0 frees nothing; c finds node 0 full), nor does
# any block's replicas placed where each adds least (a finds e in its way on node 1), nor the
# class packed again; c onto node 0 with b sent to the small node (4 h x 1 USD) saves 10 - 4
START = [Spot("a", 0, "large", 0, 0, 4), Spot("b", 0, "large", 0, 0, 4), Spot("c", 0, "large", 1, 0, 1),
         Spot("e", 0, "large", 1, 2, 4)]


def test_a_block_empties_where_a_replica_in_the_way_overflows_into_another_class(tmp_path):
    problem = _problem(tmp_path, small_price=1)
    ledger = holding(problem, START)
    assert ledger.total() == pytest.approx(70.0)
    spots = overflowed(problem, ledger, START, None)
    assert ledger.total() == pytest.approx(40 + 20 + 4)
    assert {(s.demand, s.class_id, s.node) for s in spots} == {
        ("a", "large", 0), ("c", "large", 0), ("b", "small", 0), ("e", "large", 1)}
    assert _spot_violations(problem, spots) == []
    # the search reaches it too, where its moves alone stay at 70 (the code before: 70)
    searched_ledger = holding(problem, START)
    found = searched(problem, searched_ledger, list(START), None)
    assert searched_ledger.total() == pytest.approx(64.0) and _spot_violations(problem, found) == []


def test_a_chain_that_does_not_pay_leaves_the_schedule_as_it_was(tmp_path):
    problem = _problem(tmp_path, small_price=3)  # b on the small node: 12 USD for node 1's 10
    ledger = holding(problem, START)
    spots = overflowed(problem, ledger, START, None)
    assert spots == START and ledger.total() == pytest.approx(70.0)
    assert (ledger.running["large"] == holding(problem, START).running["large"]).all()
