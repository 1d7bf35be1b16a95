"""The fleet-scale path (the aggregate model, packed node by node) against the exact optimum of
small two-zone fleets, found here by brute force that shares no code with the solver: every
split of each workload's replicas over the zones its spread allows, then, per zone, every way
to fill its nodes one at a time (a memoised search over what is left to place).

The fleets have replicas over half a node, where the aggregate model's sums of requests fit
more of them in a class than it has nodes (`Encoding.fragmented`)."""

from __future__ import annotations

import functools
import itertools
import json
import random

import pytest

from fitlang.solve.placement import _solve
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import pool, problem_from, workload

ZONES = ("z1", "z2")


def _fleet(seed: int):
    """Pools: per zone, a cheap class and a dear one (8 or 16 CPUs); workloads: replicas of
    3 to 9 CPUs, some spread over the zones."""
    rng = random.Random(seed)
    pools = []  # (name, zone, count, cpu, price)
    for zone in ZONES:
        for kind, price in (("cheap", rng.choice([1, 2])), ("dear", rng.choice([4, 6]))):
            pools.append((f"{kind}_{zone}", zone, rng.randint(1, 4), rng.choice([8, 16]), price))
    workloads = []  # (name, replicas, cpu, max_skew or None)
    for index in range(rng.randint(2, 3)):
        workloads.append((f"w{index}", rng.randint(1, 4), rng.choice([3, 5, 9]),
                          rng.choice([None, 1])))
    return pools, workloads


def _policy(pools, workloads) -> str:
    text = "".join(pool(name, count, cpu, "64Gi", price, f'  zone = "{zone}"\n')
                   for name, zone, count, cpu, price in pools)
    for name, replicas, cpu, skew in workloads:
        text += workload(name, replicas, cpu, "1Gi",
                         f"  spread zone max_skew {skew}\n" if skew is not None else "")
    return text


def _optimum(pools, workloads) -> float | None:
    """The least cost of a placement of every replica (None: none exists), by brute force."""
    best = None
    splits = []
    for _, replicas, _, skew in workloads:
        splits.append([(first, replicas - first) for first in range(replicas + 1)
                       if skew is None or abs(2 * first - replicas) <= skew])
    for split in itertools.product(*splits):
        total = 0.0
        for zone_index, zone in enumerate(ZONES):
            nodes = tuple((cpu, price) for _, z, count, cpu, price in pools if z == zone
                          for _ in range(count))
            cost = _zone_cost(nodes, tuple(cpu for _, _, cpu, _ in workloads),
                              tuple(s[zone_index] for s in split))
            if cost is None:
                break
            total += cost
        else:
            best = total if best is None else min(best, total)
    return best


def _zone_cost(nodes, sizes, left) -> float | None:
    @functools.cache
    def fill(index: int, left: tuple[int, ...]) -> float | None:
        if not any(left):
            return 0.0
        if index == len(nodes):
            return None
        cpu, price = nodes[index]
        best = fill(index + 1, left)  # this node stays empty
        for taken in itertools.product(*(range(n + 1) for n in left)):
            if any(taken) and sum(t * s for t, s in zip(taken, sizes)) <= cpu:
                rest = fill(index + 1, tuple(n - t for n, t in zip(left, taken)))
                if rest is not None and (best is None or price + rest < best):
                    best = price + rest
        return best

    return fill(0, left)


# seeds of `_fleet` (of 0-499) whose first round's counts send a class more replicas over half
# a node than it has nodes, and whose packing repair cannot complete. Before the fragment rows,
# the round after capped the short replicas: 478 left a replica of w2 unplaced ("not enough
# capacity on the nodes it may use") at 14 USD/h with its bound at 14, where 18 places every
# one. Without a time limit, so that neither `place_short` nor the repacking after the model
# runs. (Seed 143's first packing is completed by repair, dearer, 15 against 13: there the
# model is not solved again, as before; see docs/performance.md, session 22)
SEEDS = (478,)


@pytest.mark.parametrize("seed", SEEDS)
def test_the_fleet_path_reaches_the_brute_force_optimum(tmp_path, seed):
    pools, workloads = _fleet(seed)
    optimum = _optimum(pools, workloads)
    assert optimum is not None
    problem = problem_from(tmp_path, _policy(pools, workloads))
    placement = _solve(problem, "auto", None, relax=True)
    assert not placement.unplaced
    assert float(placement.value) == pytest.approx(optimum)
    assert placement.bound is not None and float(placement.bound) <= optimum + 1e-9
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [], [v.message for v in violations] + problems


def test_the_brute_force_finds_a_hand_optimum():
    # three 5-CPU replicas and two 8-CPU nodes at 1 USD/h per zone, a 16-CPU one at 3: one
    # replica a node on the small ones, so the third goes to the large node (or the other
    # zone's small ones, where the spread lets it): 2 + 1 = 3 USD/h over both zones
    pools = [("a1", "z1", 2, 8, 1), ("b1", "z1", 1, 16, 3), ("a2", "z2", 1, 8, 1)]
    assert _optimum(pools, [("w", 3, 5, None)]) == 3
    assert _optimum(pools, [("w", 3, 5, 1)]) == 3  # two in z1, one in z2
    assert _optimum(pools, [("w", 4, 5, 0)]) is None  # 2 and 2: z2 has room for one
