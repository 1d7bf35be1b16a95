"""The cover rows over a cover's dearer classes in the charged bound (`dear_cover.py`, issue
18): never above the brute-force optimum of cost + moves on small random fleets where the
cheap pool cannot hold a workload's replicas, and above the bound without them on some."""

from __future__ import annotations

import random
from fractions import Fraction

import pytest
from test_move_charged_bound import _brute_optimum, _pool, _rises, _workload, drawn_case

from fitlang.solve.move_bound import moves_lower_bound

from solving import problem_running

POLICY_END = "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"


def test_a_replica_past_the_cheap_pool_pays_a_whole_dear_node(tmp_path, monkeypatch):
    # three 4-CPU replicas; pool a's two 4-CPU nodes (0.10 USD/h) hold two, so the third opens
    # a 64-CPU node of b (5 USD/h), or all three go there: 5.00 is the least. The
    # cover row (3 nodes of a or b) is met by a's two and a sixteenth of a b node: 0.2 + 5 / 16.
    # With the row over b alone (a holds at most 2 of the 3, so b has a node in use): 5.00.
    text = (_pool("a", 2, 4, 16, "0.10") + _pool("b", 1, 64, 16, "5")
            + _workload("w", 3, 4, False) + POLICY_END)
    problem = problem_running(tmp_path, text, [])
    nodes = [("a-0", 4, 16, Fraction(1, 10)), ("a-1", 4, 16, Fraction(1, 10)), ("b-0", 64, 16, Fraction(5))]
    assert _brute_optimum(nodes, [("w", 3, 4, False)], []) == 5
    assert abs(moves_lower_bound(problem, None) - 5) < Fraction(1, 10**6)
    from fitlang.solve import move_bound

    monkeypatch.setattr(move_bound, "dear_cover_rows", lambda *_: None)
    assert abs(moves_lower_bound(problem, None) - Fraction(5125, 10000)) < Fraction(1, 10**6)


def _dear_case(tmp_path, seed: int):
    """A cheap pool of few small nodes and a dear pool of large ones; workloads that fill the
    small nodes (one a node now and then), some of them running: where the dear cover rows
    say more than the cover rows."""
    rng = random.Random(3000 + seed)
    pools = [("a", rng.randint(1, 2), rng.choice([2, 4]), 16, rng.choice(["0.10", "0.25"])),
             ("b", rng.randint(1, 2), 8, 16, rng.choice(["1", "2.50"]))]
    workloads = [(f"w{i}", rng.randint(1, 3), rng.choice([1, 2]), False) for i in range(rng.randint(1, 2))]
    one_a_node = frozenset(name for name, *_ in workloads if rng.random() < 0.5)
    return drawn_case(tmp_path / f"dear-{seed}", rng, pools, workloads, one_a_node)


@pytest.mark.parametrize("seed", range(30))
def test_the_dear_cover_rows_keep_the_bound_below_the_brute_force_optimum(tmp_path, seed):
    problem, optimum = _dear_case(tmp_path, seed)
    if optimum is None:
        pytest.skip("no placement of the drawn fleet")
    bound = moves_lower_bound(problem, None)
    assert bound is not None and bound <= optimum, (bound, optimum)


def test_the_dear_cover_rows_raise_the_bound_on_random_fleets(tmp_path, monkeypatch):
    tried, risen = _rises(tmp_path, monkeypatch, _dear_case, "dear_cover_rows", lambda *_: None)
    assert tried >= 15 and risen >= 3, (tried, risen)
