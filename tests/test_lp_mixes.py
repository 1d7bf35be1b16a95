"""The pair LP's mixes of plain workloads on classes without accelerators, as nodes the guided
passes fill first (`lp_mixes.py`, issue 15, session 36): the greedy pass places one workload at
a time, each on the class cheapest for it alone, and strands the resource the other kind
would fill. Costs held to a hand count and to `verify`."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from fitlang.solve import bound_stages, placement
from fitlang.solve.bound import lower_bound
from fitlang.solve.gang_quotas import lp_counts
from fitlang.solve.greedy import Guide, greedy_floor
from fitlang.solve.lp_mixes import lp_mixed_nodes, mixed_first

from solving import pool, problem_from, verified_cost, workload

# `mem` (priority 20, 1 CPU / 7 GiB) goes first and fills `c` nodes (4 CPUs / 16 GiB, 1 USD/h)
# two a node (by memory), which leaves 2 CPUs a node; `cpu` (3 CPUs / 1 GiB) fits none of that
# room and opens a node per replica (two do not fit one): 6 USD/h, by the LP's classes and by
# its counts too (each workload in turn). By hand the least is 4: the 16 CPUs need four nodes,
# and four nodes hold one of each (4 CPUs, 8 GiB). The LP's answer is that one.
MIXED = (pool("c", 8, 4, "16GiB", "1")
         + workload("mem", 4, 1, "7GiB", "  priority = 20\n")
         + workload("cpu", 4, 3, "1GiB", "  priority = 10\n"))


def test_the_lps_mixes_are_dealt_one_of_each_kind_a_node(tmp_path):
    problem = problem_from(tmp_path, MIXED)
    relaxed = lower_bound(problem, "cost")
    assert relaxed.converged and round(float(relaxed.value), 6) == 4
    nodes = lp_mixed_nodes(problem, relaxed)
    assert [ids for ids, _ in nodes] == [("c",)] * 4
    for _, hosted in nodes:
        assert sorted((names, count) for names, count in hosted.items()) == [(("cpu",), 1), (("mem",), 1)]


def test_a_guided_pass_with_the_mixes_filled_first_pays_the_least(tmp_path):
    problem = problem_from(tmp_path, MIXED)
    relaxed = lower_bound(problem, "cost")
    counts = lp_counts(problem, relaxed)
    assert counts.mixed_nodes
    floor, _ = greedy_floor(problem)
    assert verified_cost(problem, floor) == 6
    guides = placement._guides(bound_stages.suggested(relaxed), counts)
    assert guides[0].nodes == counts.mixed_nodes
    for guide in guides:  # each pass, before its polish (which may close nodes on a fleet this small)
        if guide.nodes:
            assert verified_cost(problem, greedy_floor(problem, None, replace(guide, nodes=()))[0]) == 6
            assert verified_cost(problem, greedy_floor(problem, None, guide)[0]) == 4
    deadline = time.monotonic() + 30
    cheapest = placement._cheapest_guided(problem, floor, guides, "cost", 30.0, deadline)
    assert verified_cost(problem, cheapest) == 4


def test_a_mixed_pass_goes_first_only_where_it_has_nodes_and_the_time(tmp_path):
    from fitlang.solve.short_order import ShortFirst

    mixed, plain = Guide(nodes=((("c",), {("mem",): 1}),)), Guide()
    soon, later = time.monotonic() + 0.5, time.monotonic() + 30
    assert mixed_first(mixed, later, 1.0, None) and not mixed_first(plain, later, 1.0, None)
    assert not mixed_first(mixed, soon, 1.0, None)  # the floor's pass does not fit
    learned = ShortFirst({"mem"}, expected=0.2)  # a learned pass does (half the floor's three)
    assert mixed_first(mixed, soon, 1.0, learned)


def test_the_mixes_are_dealt_node_by_node_so_that_the_last_shapes_find_room():
    # two nodes of 4 CPUs / 4 units of memory hold exactly `a` + `b` and `c` + `c`. Dealt shape
    # by shape, largest first, each on the node with the most room for it, `a` and `b` took one
    # node each and neither kept room for a `c` (2 of 4 dealt); node by node, each with the
    # shape furthest behind its share that fits, all 4 are
    from fitlang.solve.lp_mixes import _dealt

    def shape(cpu: int, memory: int):
        return np.array([cpu, memory, 0, 0], dtype=np.int64)

    items = [(("a",), 1, shape(3, 1)), (("b",), 1, shape(1, 3)), (("c",), 2, shape(2, 2))]
    nodes = _dealt(items, shape(4, 4), available=5)
    assert sorted(sorted(node.items()) for node in nodes) == [[(("a",), 1), (("b",), 1)], [(("c",), 2)]]
