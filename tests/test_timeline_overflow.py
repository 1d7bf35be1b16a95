"""A node's block emptied through an overflow chain (session 31, h31h; h29d's move): a replica
goes onto another node of its class awake over its run, made room on by sending that node's
replica that may use another class there, so that the block's node sleeps. Values by hand
(node-hours awake x the node's price)."""

from __future__ import annotations

import pytest
from test_timing import _spot_violations, job, policy, problem_from

from fitlang.solve.timeline_overflow import _chain_made, _chained, _Moves, _Schedule, overflowed
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


def test_a_schedule_counts_what_each_node_could_send_away(tmp_path):
    """Per node, whether it holds a replica that may use another class over a window, and that
    replica's share x hours in millionths, whole (not only its overlap), as moves change it.
    Only b may leave its class (a is 6 CPUs on large only; c and e need 16 GiB, the small node
    has 8): on a large node b is 2 of 8 CPUs for 4 h (1.0), on the small node 2 of 4 (2.0)."""
    problem = _problem(tmp_path, small_price=1)
    schedule = _Schedule(problem, holding(problem, START), START)
    holds, weight = schedule.sendable("large", 1, 2)
    assert holds.tolist() == [True, False] and weight.tolist() == [1_000_000, 0]
    assert schedule.sent_use["large"][0, :, 0].tolist() == [2000] * 4  # millicores
    schedule.assign(1, Spot("b", 0, "small", 0, 0, 4))
    holds, weight = schedule.sendable("large", 0, 4)
    assert holds.tolist() == [False, False] and weight.tolist() == [0, 0]
    assert not schedule.sent_use["large"].any()
    holds, weight = schedule.sendable("small", 3, 4)
    assert holds.tolist() == [True] and weight.tolist() == [2_000_000]


def test_a_chain_is_priced_only_up_to_its_limit(tmp_path, monkeypatch):
    """c onto large node 0 with b sent to the small node adds 4 USD (b's 4 h x 1 USD; node 0
    stays awake for a): made under a limit of 4.5, not under 4, and under 0 b is not priced."""
    problem = _problem(tmp_path, small_price=1)
    ledger = holding(problem, START)
    schedule, moves = _Schedule(problem, ledger, START), _Moves(problem, ledger)
    moves.drop(START[2])
    made = _chain_made(moves, schedule, 2, ("large", 0), [1], limit=4.5)
    assert made is not None and made[-1][1].added == pytest.approx(4.0)
    assert [(index, spot.class_id, spot.node) for index, spot in made] == [(1, "small", 0), (2, "large", 0)]
    moves.undo(1)
    assert _chain_made(moves, schedule, 2, ("large", 0), [1], limit=4.0) is None
    moves.undo(1)
    monkeypatch.setattr(ledger, "cheapest", lambda *_: pytest.fail("a sent replica priced past the limit"))
    assert _chain_made(moves, schedule, 2, ("large", 0), [1], limit=0.0) is None
    moves.undo(1)
    assert ledger.total() == pytest.approx(holding(problem, START[:2] + START[3:]).total())


# the two-node chain: b may go onto a small node only where t leaves it (v, labelled onto the
# small node, stays), and t onto the tiny node beside u for nothing; b fits on the tiny node
# only alone (4 GiB), u nowhere else (5 CPUs: not beside e nor beside a and c)
ONE_NODE_POOL = """
pool {name} {{
  count = 1
  cpu = {cpu}
  memory = {memory}
  price = 1 USD/h
  {labels}
}}
"""


def _two_node_problem(tmp_path, tiny_cpus: int = 8, extra: str = ""):
    """`_problem`'s large nodes and jobs, without its small pool, with a 4-CPU, 8 GiB node
    (small2) and a `tiny_cpus`-CPU, 4 GiB one (tiny), both at 1 USD/h: services a, b (2 CPUs,
    4 GiB), t (3 CPUs, 2 GiB), u (5 CPUs, 1 GiB), v (1 CPU, 4 GiB, small2 only); and `extra`."""
    large = LARGE_AND_SMALL.split("pool small")[0].format()
    small = ONE_NODE_POOL.format(name="small2", cpu=4, memory="8GiB", labels='labels = { tier: "s" }')
    pools = (large + small
             + ONE_NODE_POOL.format(name="tiny", cpu=tiny_cpus, memory="4GiB", labels=""))
    text = (pools + _service("a", 6, "16GiB") + _service("b", 2, "4GiB") + _service("t", 3, "2GiB")
            + _service("u", 5, "1GiB")
            + _service("v", 1, "4GiB").replace("memory = 4GiB", 'memory = 4GiB\n  labels = { tier: "s" }')
            + job("c", "1h", "earliest = 0h\n  deadline = 1h", cpu=2)
            + job("e", "2h", "earliest = 2h\n  deadline = 4h", cpu=6) + extra + policy(horizon="4h"))
    return problem_from(tmp_path, text)


# 40 (large node 0) + 30 (large node 1) + 4 + 4 = 78; the floor is 68 (a and e on large nodes,
# 20 h x 10 USD in all on them since c fits beside a only where b is not there; u keeps the
# tiny node awake, v the small one). c's block pays only through two nodes: c onto large node 0,
# b onto the small node, t onto the tiny node (b alone would wake large node 1: 20 USD)
TWO_NODE_START = [Spot("a", 0, "large", 0, 0, 4), Spot("b", 0, "large", 0, 0, 4),
                  Spot("c", 0, "large", 1, 0, 1), Spot("e", 0, "large", 1, 2, 4),
                  Spot("t", 0, "small2", 0, 0, 4), Spot("v", 0, "small2", 0, 0, 4),
                  Spot("u", 0, "tiny", 0, 0, 4)]


def test_a_block_empties_where_the_replica_sent_needs_a_replica_sent_in_turn(tmp_path):
    problem = _two_node_problem(tmp_path)
    ledger = holding(problem, TWO_NODE_START)
    assert ledger.total() == pytest.approx(78.0)
    spots = overflowed(problem, ledger, TWO_NODE_START, None)
    assert ledger.total() == pytest.approx(68.0)  # (the one-node chain: 78)
    assert {(s.demand, s.class_id, s.node) for s in spots} == {
        ("a", "large", 0), ("c", "large", 0), ("b", "small2", 0), ("t", "tiny", 0), ("v", "small2", 0),
        ("u", "tiny", 0), ("e", "large", 1)}
    assert _spot_violations(problem, spots) == []
    # the search reaches the floor too (the code before: 78, no move, block or chain of one node)
    searched_ledger = holding(problem, TWO_NODE_START)
    found = searched(problem, searched_ledger, list(TWO_NODE_START), None)
    assert searched_ledger.total() == pytest.approx(68.0) and _spot_violations(problem, found) == []


def test_a_block_whose_deadline_passes_before_its_last_replica_stays(tmp_path):
    """With the tiny node at 9 CPUs and a job g (1 CPU, 1 GiB, hour 0) beside c on large node 1,
    the block pays through c's two-node chain and g onto the tiny node (both free); where the
    deadline has passed once c is placed, it is put back as it was."""
    g = job("g", "1h", "earliest = 0h\n  deadline = 1h", cpu=1).replace("memory = 16GiB", "memory = 1GiB")
    problem = _two_node_problem(tmp_path, tiny_cpus=9, extra=g)
    start = TWO_NODE_START + [Spot("g", 0, "large", 1, 0, 1)]
    for deadline, kept, total in ((None, True, 68.0), (0.0, False, 78.0)):
        ledger = holding(problem, start)
        schedule = _Schedule(problem, ledger, start)
        assert _chained(problem, ledger, schedule, schedule.on("large", 1, 0, 1), 1, deadline) is kept
        assert ledger.total() == pytest.approx(total)
        assert (schedule.spots == start) is not kept
