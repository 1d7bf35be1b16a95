"""The pattern bound (fitlang/solve/patterns.py): on policies whose optimum is worked out by
hand, where the pair relaxation (bound.py) lets a replica take a share of a node and the
patterns do not; never above the optimum of the independent per-node CP-SAT reference
(tests/reference.py), whatever the row prices; never below the pair bound; and on the three
fleet shapes never above a verified placement."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import numpy as np
import pytest
from test_bound import SEEDS, comparable_case, pool, workload

from fitlang.solve.bound import lower_bound
from fitlang.solve.patterns import PatternBound, _Blocks, on_price_lattice, pattern_bound

from solving import bench_module, problem_from, shape_with_floor


def bounds(tmp_path, text, objective="cost") -> tuple[Fraction, PatternBound]:
    """(the pair bound, the pattern bound) of a policy, both to convergence."""
    problem = problem_from(tmp_path, text)
    pair = lower_bound(problem, objective)
    assert pair.converged and pair.value is not None
    found = pattern_bound(pair, objective)
    assert found.converged and found.exact and found.value is not None
    return pair.value, found


NODES = pool("p", 6, 16, "64Gi", 1)  # 16-CPU nodes at 1 USD/h, memory to spare


def test_twelve_cpus_on_sixteen_take_a_node_each(tmp_path):
    # 3 x 12 CPU: two never share a node (24 > 16), so 3 nodes. bound.py states 3 as well:
    # nothing eligible fits in the 4 CPUs a replica leaves, so it is charged the whole node
    # (without that charge the shares would say 3 x 0.75 = 2.25)
    pair, found = bounds(tmp_path, NODES + workload("w", 3, 12, "1Gi"))
    assert abs(pair - 3) < 1e-8 and found.value == 3


def test_a_replica_that_leaves_room_for_another_kind_still_strands_it(tmp_path):
    # 3 x 9 CPU and 1 x 7 CPU: a 9 leaves 7 (so it is not charged a whole node), but no two
    # 9s share a node: {9, 7}, {9}, {9} = 3 nodes. The shares: (27 + 7) / 16 = 2.125; the
    # pair bound's cover row (one 9 a node: 3 nodes) says 3 too
    pair, found = bounds(tmp_path, NODES + workload("a", 3, 9, "1Gi") + workload("b", 1, 7, "1Gi"))
    assert abs(pair - 3) < 1e-8 and found.value == 3


def test_five_of_six_cpus_is_two_a_node(tmp_path):
    # 5 x 6 CPU: two a node (18 > 16), so 3 nodes; the shares say 30/16 = 1.875, the
    # pattern LP 5/2 = 2.5 patterns, and a cost of whole 1 USD/h nodes is whole: 3; the
    # pair bound's cover row (ceil(5 / 2) nodes) says 3, and so does the patterns' LP with it
    pair, found = bounds(tmp_path, NODES + workload("w", 5, 6, "1Gi"))
    assert abs(pair - 3) < 1e-8
    assert abs(found.lp_value - 3) < 1e-6 and found.value == 3


def test_one_per_node_takes_a_node_a_replica(tmp_path):
    # 4 x 2 CPU, anti_affinity self on node: 4 nodes; the shares: 8/16 = 0.5, the cover row
    # (one a node) 4
    pair, found = bounds(tmp_path, NODES + workload("a", 4, 2, "1Gi", "  anti_affinity self on node\n"))
    assert abs(pair - 4) < 1e-8 and found.value == 4


def test_an_exclusive_workload_is_alone_on_its_nodes(tmp_path):
    # a: 3 x 4 CPU, exclusive: its 3 share one node (12 <= 16) and nothing else does; b: 2 x
    # 4 CPU on a second node: 2. The pair bound: a takes 1/3 of a node per replica (1) and
    # b its share 8/16: 1.5
    text = NODES + workload("a", 3, 4, "1Gi", "  exclusive = true\n") + workload("b", 2, 4, "1Gi")
    pair, found = bounds(tmp_path, text)
    assert abs(pair - Fraction(3, 2)) < 1e-8 and found.value == 2


def test_workloads_kept_apart_on_a_node_do_not_share_one(tmp_path):
    # a: 2 x 4 CPU with anti_affinity b on node, b: 2 x 4 CPU: 16 CPUs in all would fill one
    # node, but a and b may not share: 2 nodes. The shares: 1
    text = NODES + workload("a", 2, 4, "1Gi", "  anti_affinity b on node\n") + workload("b", 2, 4, "1Gi")
    pair, found = bounds(tmp_path, text)
    assert abs(pair - 1) < 1e-8 and found.value == 2


def test_counting_nodes_the_bound_is_whole(tmp_path):
    # the 5 x 6 CPU case counted in nodes: 3 nodes (the cover row, and the patterns)
    pair, found = bounds(tmp_path, NODES + workload("w", 5, 6, "1Gi"), "nodes")
    assert pair == 3 and found.value == 3


def test_a_cost_is_raised_to_the_lattice_of_the_prices_only(tmp_path):
    problem = problem_from(tmp_path, pool("p", 2, 8, "8Gi", "0.5") + pool("q", 2, 8, "8Gi", "0.75")
                           + workload("w", 1, 1, "1Gi"))
    # every cost is a multiple of gcd(1/2, 3/4) = 1/4
    assert on_price_lattice(Fraction(101, 100), problem, "cost") == Fraction(5, 4)
    assert on_price_lattice(Fraction(5, 4), problem, "cost") == Fraction(5, 4)
    assert on_price_lattice(Fraction(101, 100), problem, "preferences") == Fraction(101, 100)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_pattern_bound_is_never_above_the_reference_optimum_whatever_the_prices(tmp_path, seed):
    problem, expected = comparable_case(seed, tmp_path)
    pair = lower_bound(problem, "cost")
    found = pattern_bound(pair, "cost")
    # stated: the larger of the pair bound and the patterns' best round, which (like the
    # bound at the pair prices) must hold on its own
    assert found.value is not None and pair.value <= found.value <= expected.cost
    assert found.at_pair_prices <= expected.cost and found.best_round <= expected.cost
    # the Lagrangian bound holds for any row prices: random ones, positive and negative
    blocks = _Blocks(pair)
    rng = np.random.default_rng(seed)
    for scale in (0.1, 1.0, 100.0):
        duals = rng.normal(0.0, scale, size=len(blocks.row_lower))
        value, _ = blocks.lagrangian(duals, None, None, PatternBound(None))
        assert value <= float(expected.cost)


@pytest.mark.parametrize("shape", ["bench", "inventory", "breaker"])
def test_on_the_fleet_shapes_the_pattern_bound_is_below_a_verified_placement(tmp_path, shape):
    # 1,000 nodes, a few rounds of column generation: at least the pair bound, at most the
    # greedy placement that verify accepts
    problem, packing, placement = shape_with_floor(tmp_path, shape)
    pair = lower_bound(problem, "cost", start=packing)
    found = pattern_bound(pair, "cost", start=packing, rounds=3)
    assert found.rounds == 3 and pair.value <= found.value <= placement.value


def test_the_pattern_floor_beats_the_greedy_floor_on_the_breaker_shape(tmp_path):
    # breaker, 1,000 nodes: the greedy pass fills a node one workload at a time; the
    # pattern relaxation's nodes mix replicas that complement each other (CPU-heavy beside
    # memory-heavy). Filled first, they give a cheaper placement than the greedy floor (both
    # consolidated), that verify accepts, and that is no cheaper than the proven bound
    from fitlang.solve.improve import consolidate
    from fitlang.solve.placement import FEASIBLE, _from_packing, _packed_value, _pattern_floor
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    problem, packing, _ = shape_with_floor(tmp_path, "breaker")
    consolidate(problem, packing, "cost", None)
    floor_value = _packed_value(problem, packing, "cost")
    pair = lower_bound(problem, "cost", start=packing)
    found = pattern_bound(pair, "cost", start=packing)
    assert found.converged and found.nodes
    filled = _pattern_floor(problem, packing, found, "cost", None, None)
    assert filled is not packing and filled.complete
    value = _packed_value(problem, filled, "cost")
    assert found.value <= value < floor_value
    placement = _from_packing(problem, filled, "cost", FEASIBLE, None)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == []



def test_the_pattern_bound_with_no_user_limit_stops_after_the_same_work_on_any_machine(monkeypatch, tmp_path):
    # with no --time-limit its column generation stops on its own clock, which runs by its
    # knapsacks and rounds (`work.Tally`), not at its share of the CPU seconds: breaker 1,000
    # at a limit of 12 (2.4 s of patterns, what they are expected to need) on machines ten times
    # as fast and as slow, the start tree's 222.40 in 57 rounds against 216.65 in 20 (ai 1,000
    # seed 35 with no limit: 8061.83 and 8040.55 by the clock)
    from test_work import _counted

    from fitlang.solve.bound_stages import with_patterns

    problem, packing, placement = shape_with_floor(tmp_path, "breaker")
    pair = lower_bound(problem, "cost", start=packing)

    def patterns():
        value, found = with_patterns(problem, "cost", pair, packing, 12.0, time.monotonic() + 12.0,
                                     placement.value)
        assert found is not None
        return value, found.rounds, found.knapsacks

    assert _counted(monkeypatch, 10.0, 60.0, patterns) == _counted(monkeypatch, 0.1, 60.0, patterns)


def test_the_pattern_bound_with_no_user_limit_counts_the_knapsacks_highs_solves(monkeypatch, tmp_path):
    # inventory 500 / 50 seed 3: 34 of its 217 knapsacks go to HiGHS (the table cannot solve
    # them; 0.014-0.26 CPU s each on inventory 1,000 seed 41, where a table's takes ~0.01). With
    # no --time-limit the stage's own clock counts each as it costs: at a limit of 32 (3.2 s of
    # patterns; ~4.3 CPU s to converge here) the same bound on machines twice and half as fast.
    # The start tree's, on the solve's clock (6.4 s), converged on the one and not the other
    from test_work import _counted

    from fitlang.solve.bound_stages import with_patterns
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.placement import FEASIBLE, _from_packing

    fleet = bench_module("inventories").generate(500, 50, seed=3)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    packing, _ = greedy_floor(problem)
    placement = _from_packing(problem, packing, "cost", FEASIBLE, None)
    pair = lower_bound(problem, "cost", start=packing)

    def patterns():
        value, found = with_patterns(problem, "cost", pair, packing, 32.0, time.monotonic() + 32.0,
                                     placement.value)
        assert found is not None
        return value, found.rounds, found.knapsacks, found.converged

    assert _counted(monkeypatch, 2.0, 60.0, patterns) == _counted(monkeypatch, 0.5, 60.0, patterns)
