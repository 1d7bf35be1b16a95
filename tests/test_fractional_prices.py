"""The greedy pass with classes ordered by the share of a node a replica takes, as the LP
counts it (`Guide.fractional`), in the second floor (`placement._room_floor`) and as a copy of
the first guided pass (`placement._guides`). Costs held to a hand count and to `verify`."""

from __future__ import annotations

import time
from fractions import Fraction

from fitlang.solve import placement
from fitlang.solve.budget import Budget
from fitlang.solve.gang_quotas import NO_COUNTS
from fitlang.solve.greedy import Guide, greedy_floor

from solving import pool, problem_from, verified_cost, workload

# `wide` (24 x 4 CPUs) goes first (the dearer replicas). A 15-CPU node takes 3 of them for
# 0.68 (0.2267 a replica, 3 CPUs left), the 96-CPU node all 24 for 4.61 (0.1921): by the whole
# node over what it takes, the big node, and `narrow` (24 x 1 CPU) opens two small ones: 5.97.
# By the share of a node, 0.68 x 4/15 = 0.1813 against 0.1921: eight small nodes, and `narrow`
# fills the 3 CPUs each leaves: 5.44, the least (120 CPUs: eight small nodes at least without
# the big one, two with it)
FRAGMENTS = (pool("small", 10, 15, "64GiB", "0.68") + pool("big", 1, 96, "384GiB", "4.61")
             + workload("wide", 24, 4, "1GiB") + workload("narrow", 24, 1, "1GiB"))


def test_classes_by_the_share_of_a_node_leave_room_that_smaller_replicas_fill(tmp_path):
    problem = problem_from(tmp_path, FRAGMENTS)
    whole, _ = greedy_floor(problem)
    assert verified_cost(problem, whole) == Fraction("5.97")
    shares, _ = greedy_floor(problem, None, Guide(fractional=True))
    assert set(shares.nodes) == {"small"} and len(shares.nodes["small"]) == 8
    assert verified_cost(problem, shares) == Fraction("5.44")


def test_the_second_floor_orders_classes_by_the_share_of_a_node(tmp_path):
    problem = problem_from(tmp_path, FRAGMENTS)
    floor, _ = greedy_floor(problem)
    run = placement._Run(problem, "auto", ["cost"], Budget.starting_now(30.0), lambda *said: None, True)
    run.floor, run.search_deadline, run.floor_seconds, run.rebuilt = floor, run.budget.deadline, 0.01, False
    placement._room_floor(run)
    assert run.floor is not floor and verified_cost(problem, run.floor) == Fraction("5.44")


def test_the_first_guided_pass_is_tried_again_with_classes_by_the_share_of_a_node(tmp_path):
    # the LP suggests both classes for both workloads: the first guide tries them by the whole
    # node (the big one and two small, 5.97, which nothing closes); its fractional copy 5.44
    problem = problem_from(tmp_path, FRAGMENTS)
    floor, _ = greedy_floor(problem)
    both = frozenset({"small", "big"})
    guides = placement._guides(({}, {"wide": both, "narrow": both}), NO_COUNTS)
    assert [guide.fractional for guide in guides] == [False, True]
    assert guides[1] == Guide(classes=guides[0].classes, gpu_nodes_last=True, fractional=True)
    first = placement._cheapest_guided(problem, floor, guides[:1], "cost", 30.0, time.monotonic() + 30)
    assert verified_cost(problem, first) == Fraction("5.97")
    best = placement._cheapest_guided(problem, floor, guides, "cost", 30.0, time.monotonic() + 30)
    assert verified_cost(problem, best) == Fraction("5.44")
