"""`pair_pack.pair_packed`: the pair LP's answer rounded to whole replicas and packed node by
node. Held to `verify` (through the tests' own helper, apart from the module's check), to the
pair bound it must stay above, and to the classes it refuses."""

from __future__ import annotations

import random

import pytest

from fitlang.solve.bound import lower_bound
from fitlang.solve.greedy import greedy_floor
from fitlang.solve.pair_pack import MAX_MERGED_CLASSES, pair_packed
from fitlang.solve.placement import _packed_value

from solving import bench_module, pool, problem_from, verified_packing, workload


def test_the_benchs_pair_lp_packs_within_one_percent_of_the_bound(tmp_path):
    # the bench shape (20 classes): the LP is nearly whole, and its shares packed place every
    # replica within 1% of the pair bound (2,000 nodes: 0.26%; 10,000: 0.07%), under the
    # greedy floor
    fleet = bench_module("fleet").generate(2000, 200)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    bound = lower_bound(problem, "cost")
    assert bound.converged and bound.value is not None
    packing = pair_packed(problem, bound, "cost")
    assert packing is not None
    placement = verified_packing(problem, packing)
    assert bound.value <= placement.value <= bound.value * (1 + 1e-2)
    floor, _ = greedy_floor(problem)
    assert placement.value < _packed_value(problem, floor, "cost")


def test_a_pair_lp_over_many_classes_is_not_packed(tmp_path):
    # the inventory shape's LP has hundreds of merged classes: its rounding breaks the rules
    # between workloads, so it is not tried
    fleet = bench_module("inventories").generate(1000, 100)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    bound = lower_bound(problem, "cost")
    assert bound.relaxation is not None
    assert len(set(bound.relaxation.class_index.values())) > MAX_MERGED_CLASSES
    assert pair_packed(problem, bound, "cost") is None


@pytest.mark.parametrize("seed", range(16))
def test_what_it_returns_places_every_replica_and_keeps_every_rule(tmp_path, seed):
    # random fleets over two zones with zone spreads, anti-affinity and one replica a node:
    # whatever the rounding gives is either refused or a placement `verify` accepts, above
    # the pair bound
    rng = random.Random(seed)
    text = "".join(pool(f"p{i}", rng.randint(2, 6), rng.choice([4, 8, 16]), f"{rng.choice([16, 32])}Gi",
                        rng.choice([1, 2, 3]), f'  zone = "z{i % 2}"\n') for i in range(4))
    for i in range(5):
        extra = rng.choice(["", "  anti_affinity self on node\n", "  spread zone max_skew 1\n",
                            f"  anti_affinity w{(i + 1) % 5} on node\n"])
        memory = f"{rng.choice([1, 2, 4])}Gi"
        text += workload(f"w{i}", rng.randint(1, 6), rng.choice([1, 2, 3]), memory, extra)
    problem = problem_from(tmp_path, text)
    bound = lower_bound(problem, "cost")
    if bound.value is None or not bound.converged:
        pytest.skip("no converged pair bound (no placement of every replica)")
    packing = pair_packed(problem, bound, "cost")
    if packing is None:
        return  # refused: nothing claimed
    placement = verified_packing(problem, packing)
    assert placement.value >= bound.value


def test_a_fleet_with_no_workload_is_solved_to_nothing_placed(tmp_path):
    # at fleet scale with nothing to place the pair LP has no pairs: its packing was a crash
    # (`fitc solve`: internal error), reached by explain's repairs solving a policy's rest
    from fitlang.solve.placement import solve

    placement = solve(problem_from(tmp_path, pool("p", 2000, 8, "8Gi", 1)), time_limit=5)
    assert (placement.value, placement.assignments, placement.unplaced) == (0, [], [])
