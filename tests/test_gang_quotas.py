"""The gangs placed first where the pair LP puts them, by class and count (`gang_quotas`,
`Guide.quotas`): the room they leave in each zone is where the zone-spread services go; a
spread's free replicas dealt to the zones the LP puts them in (`domain_counts`,
`Guide.domains`); a second first pass with every GPU workload's counts (`lp_counts`); where
the pair LP is not run (`bound_stages.rebuild_first`), the zoned LP's guide with its counts.
Costs held to a hand count and to `verify`."""

from __future__ import annotations

import time
from fractions import Fraction

from fitlang.solve import bound_stages, placement
from fitlang.solve.gang_quotas import _largest_remainders, domain_counts, gang_quotas, lp_counts
from fitlang.solve.greedy import Guide, greedy_floor

from solving import pool, problem_from, verified_cost, workload

# `train` (a gang of 2, one GPU each) needs a GPU node a replica (10 USD/h, 8 CPUs, in zone a or
# b) and leaves 4 CPUs free on each; `web` (4 CPUs) spreads over both zones. Both replicas of
# `train` in zone a (its first class, by id, of two of one price) leave zone b's `web` a CPU node
# (1 USD/h): 21. One in each zone, as the LP puts them, leaves `web` room beside each: 20, the
# least (two GPU nodes are needed, and they hold everything)
ONE_GPU = "  gpu {\n    model = L4\n    count = 1\n  }\n"
ZONES = ('import "std/accelerators"\n'
         + pool("gpua", 2, 8, "32GiB", 10, ONE_GPU + '  zone = "a"\n')
         + pool("gpub", 2, 8, "32GiB", 10, ONE_GPU + '  zone = "b"\n')
         + pool("cpua", 2, 4, "16GiB", 1, '  zone = "a"\n')
         + pool("cpub", 2, 4, "16GiB", 1, '  zone = "b"\n')
         + workload("train", 2, 4, "8GiB", "  kind = job\n  gang = true\n  gpu {\n    count = 1\n  }\n")
         + workload("web", 2, 4, "1GiB", "  spread zone max_skew 1\n"))
BOTH_ZONES = {(frozenset({"train"}), frozenset({"gpua"}), 1), (frozenset({"train"}), frozenset({"gpub"}), 1)}


def _hosts(packing, workload_name: str) -> dict[str, int]:
    return {class_id: sum(n.hosted.get(workload_name, 0) for n in nodes)
            for class_id, nodes in packing.nodes.items() if any(workload_name in n.hosted for n in nodes)}


def test_the_gangs_quotas_place_it_over_the_zones_and_leave_the_spread_room_in_each(tmp_path):
    problem = problem_from(tmp_path, ZONES)
    classes = {"train": frozenset({"gpua", "gpub"})}
    by_class, _ = greedy_floor(problem, None, Guide(classes=classes))
    assert _hosts(by_class, "train") == {"gpua": 2} and verified_cost(problem, by_class) == 21
    by_quota, _ = greedy_floor(problem, None, Guide(classes=classes, quotas=tuple(BOTH_ZONES)))
    assert _hosts(by_quota, "train") == {"gpua": 1, "gpub": 1}
    assert _hosts(by_quota, "web") == {"gpua": 1, "gpub": 1} and verified_cost(problem, by_quota) == 20


def test_the_pair_lps_quotas_reach_the_least_through_the_guided_floor(tmp_path):
    # the LP's only optimum (20) puts one `train` in each zone: t in zone a leaves 4t CPUs
    # beside it, and `web` needs 4 in each zone, so t >= 1 and 2 - t >= 1. The guided floor
    # with `train`'s classes alone (the LP's classes for `web` too would open a zone b GPU
    # node for it, where the consolidation moves a `train` beside it) reaches 20 only with them
    problem = problem_from(tmp_path, ZONES)
    floor, _ = greedy_floor(problem)
    assert verified_cost(problem, floor) == 21
    deadline = time.monotonic() + 30
    bounds = bound_stages.bounds_stage(problem, "cost", None, floor, 30.0, deadline, None, False)
    assert bounds.pair.lp_value == 20 and set(bounds.counts.quotas) == BOTH_ZONES
    assert set(gang_quotas(problem, bounds.pair)) == BOTH_ZONES
    trains = ({}, {"train": bounds.suggested[1]["train"]})
    guided = placement._guided_floor(problem, floor, trains, "cost", 30.0, deadline, counts=bounds.counts)
    assert verified_cost(problem, guided) == 20
    unguided = placement._guided_floor(problem, floor, trains, "cost", 30.0, deadline)
    assert verified_cost(problem, unguided) == 21


def test_a_gang_that_does_not_fit_a_cluster_gives_back_the_quota_it_used_there(tmp_path):
    # `big` (4) tries east first (its cheapest class): the quota's 2 nodes of `dear` and the one
    # of `cheap` hold 3; it gives them back and runs in west. `small` (2), sharing the quota,
    # then takes both `dear` nodes: the quota was given back whole
    text = (pool("cheap", 1, 8, "32GiB", 1, '  cluster = "east"\n')
            + pool("dear", 2, 8, "32GiB", 5, '  cluster = "east"\n')
            + pool("west", 4, 8, "32GiB", 2, '  cluster = "west"\n')
            + workload("big", 4, 8, "1GiB", "  kind = job\n  gang = true\n  priority = 10\n")
            + workload("small", 2, 8, "1GiB", "  kind = job\n  gang = true\n"))
    problem = problem_from(tmp_path, text)
    quota = (frozenset({"big", "small"}), frozenset({"dear"}), 2)
    packing, _ = greedy_floor(problem, None, Guide(quotas=(quota,)))
    assert _hosts(packing, "big") == {"west": 4} and _hosts(packing, "small") == {"dear": 2}
    assert verified_cost(problem, packing) == 18


# `train` (1 GPU, 4 CPUs) needs the GPU node (10 USD/h, 8 CPUs) and leaves 4 CPUs beside it;
# `web` (3 x 4 CPUs) is guided to the GPU class, as the LP puts services beside its GPU nodes.
# One `web` in that room, two on CPU nodes (1 USD/h each): 12, the least by hand. Opening a
# second GPU node for `web` (the guided class first for new nodes too): 20
BESIDE_GPU = ('import "std/accelerators"\n'
              + pool("gpu", 2, 8, "32GiB", 10, ONE_GPU)
              + pool("cpu", 2, 4, "16GiB", 1, "")
              + workload("train", 1, 4, "8GiB", "  kind = job\n  gpu {\n    count = 1\n  }\n")
              + workload("web", 3, 4, "1GiB", ""))


def test_a_workload_that_asks_no_gpu_takes_the_gpu_room_but_opens_gpu_nodes_last(tmp_path):
    problem = problem_from(tmp_path, BESIDE_GPU)
    classes = {"web": frozenset({"gpu"})}
    first, _ = greedy_floor(problem, None, Guide(classes=classes))
    assert _hosts(first, "web") == {"gpu": 3} and verified_cost(problem, first) == 20
    last, _ = greedy_floor(problem, None, Guide(classes=classes, gpu_nodes_last=True))
    assert _hosts(last, "web") == {"gpu": 1, "cpu": 2} and verified_cost(problem, last) == 12
    assert placement._guides(({}, classes))[0].gpu_nodes_last


# `train` (1 GPU, 4 CPUs) must run on the one 12-CPU GPU node of zone b (10 USD/h) and leaves 8
# CPUs beside it; `web` (3 x 4 CPUs, skew 1 over zones a and b) takes one replica in each zone,
# and its third goes to the zone first in the pass's order: zone a, whose 1 USD/h CPU node is the
# cheapest to open (12). The LP puts two in zone b, in the room beside `train`: 11, the least
# (zone a needs one by the skew, and a node for it)
ONE_GPU_ASKED = "  gpu {\n    count = 1\n  }\n"
BESIDE_SPREAD = ('import "std/accelerators"\n'
                 + pool("cpua", 2, 4, "16GiB", 1, '  zone = "a"\n')
                 + pool("cpub", 2, 4, "16GiB", 2, '  zone = "b"\n')
                 + pool("gpub", 1, 12, "48GiB", 10, ONE_GPU + '  zone = "b"\n')
                 + workload("train", 1, 4, "8GiB", "  kind = job\n  priority = 10\n" + ONE_GPU_ASKED)
                 + workload("web", 3, 4, "1GiB", "  spread zone max_skew 1\n"))


def test_a_spreads_free_replicas_go_to_the_zones_the_lp_puts_them_in(tmp_path):
    problem = problem_from(tmp_path, BESIDE_SPREAD)
    floor, _ = greedy_floor(problem)
    assert _hosts(floor, "web") == {"cpua": 2, "gpub": 1} and verified_cost(problem, floor) == 12
    deadline = time.monotonic() + 30
    bounds = bound_stages.bounds_stage(problem, "cost", None, floor, 30.0, deadline, None, False)
    assert bounds.pair.lp_value == 11
    counts = domain_counts(problem, bounds.pair)
    assert {zone: round(count, 6) for zone, count in counts[("web", "zone")].items()} == {"a": 1, "b": 2}
    assert placement._guides(bounds.suggested, bounds.counts)[0].domains == counts
    dealt, _ = greedy_floor(problem, None, Guide(domains=counts))
    assert _hosts(dealt, "web") == {"cpua": 1, "gpub": 2} and verified_cost(problem, dealt) == 11


# `infer` (5 x 1 GPU, 4 CPUs) costs 1.0 a replica on a 1-GPU node (4 of them) and 1.1 on the
# 4-GPU node (4.4 USD/h, 24 CPUs); `web` (2 x 4 CPUs) fits in the room four `infer` leave there.
# The LP's only optimum (by hand: t `infer` on the 4-GPU node leave room for t / 2 `web`, each
# t saves 0.15) puts four there and one on a 1-GPU node: 5.4, the least. Its classes alone,
# cheapest first, put four on the 1-GPU nodes and one on the 4-GPU node (8.4); its counts, 5.4
QUAD = ('import "std/accelerators"\n'
        + pool("one", 4, 4, "16GiB", 1, ONE_GPU)
        + pool("quad", 1, 24, "96GiB", "4.4", "  gpu {\n    model = L4\n    count = 4\n  }\n")
        + pool("cpu", 2, 8, "32GiB", 1, "")
        + workload("infer", 5, 4, "8GiB", ONE_GPU_ASKED)
        + workload("web", 2, 4, "1GiB", ""))


def test_a_second_first_pass_places_every_gpu_workload_by_the_lps_counts(tmp_path):
    problem = problem_from(tmp_path, QUAD)
    floor, _ = greedy_floor(problem)
    deadline = time.monotonic() + 30
    bounds = bound_stages.bounds_stage(problem, "cost", None, floor, 30.0, deadline, None, False)
    assert abs(bounds.pair.lp_value - 5.4) < 1e-9
    assert bounds.counts == lp_counts(problem, bounds.pair) and bounds.counts.quotas == ()
    assert set(bounds.counts.gpu_quotas) == {(frozenset({"infer"}), frozenset({"quad"}), 4),
                                             (frozenset({"infer"}), frozenset({"one"}), 1)}
    by_class, by_count = placement._guides(bounds.suggested, bounds.counts)[:2]
    assert by_count.quotas == bounds.counts.gpu_quotas and by_count.gpu_nodes_last
    first, _ = greedy_floor(problem, None, by_class)
    assert _hosts(first, "infer") == {"one": 4, "quad": 1}
    assert verified_cost(problem, first) == Fraction(84, 10)
    second, _ = greedy_floor(problem, None, by_count)
    assert _hosts(second, "infer") == {"one": 1, "quad": 4} and _hosts(second, "web") == {"quad": 2}
    assert verified_cost(problem, second) == Fraction(54, 10)


def test_where_only_gangs_ask_gpus_there_is_one_first_pass_and_its_fractional_copy(tmp_path):
    problem = problem_from(tmp_path, ZONES)
    floor, _ = greedy_floor(problem)
    bounds = bound_stages.bounds_stage(problem, "cost", None, floor, 30.0, time.monotonic() + 30, None, False)
    assert bounds.counts.gpu_quotas == bounds.counts.quotas
    # (no option groups: no options-only pass either)
    guides = placement._guides(bounds.suggested, bounds.counts)
    assert [(guide.quotas, guide.fractional) for guide in guides] == [(bounds.counts.quotas, False),
                                                                      (bounds.counts.quotas, True)]


def test_a_groups_counts_add_up_to_its_total_the_largest_fractions_rounded_up():
    # inventory 10,000 seed 9's gang over four zones: 4.19 + 2.47 + 2.40 + 1.94 = 11 replicas;
    # each rounded half up gives 4 + 2 + 2 + 2 = 10, one short; the largest fraction (0.47)
    # takes it. Another group's counts are its own (0.5 rounds half up to 1)
    def gang(index: int) -> tuple[frozenset[str], int]:
        return frozenset({"gang"}), index

    other = (frozenset({"other"}), 0)
    lp = {gang(0): 4.19, gang(1): 2.47, gang(2): 2.40, gang(3): 1.94, other: 0.5}
    assert _largest_remainders(lp) == {gang(0): 4, gang(1): 3, gang(2): 2, gang(3): 2, other: 1}


def test_where_the_pair_lp_is_not_run_the_zoned_lps_guide_deals_a_spread_as_that_lp_does(
        tmp_path, monkeypatch):
    # BESIDE_SPREAD where the pair LP is expected to take more than the whole limit (a pair
    # 1e9 s: `bound_stages.rebuild_first`, as at inventory 50,000 at 30 s), so the zoned LP alone guides
    # the greedy pass: it puts `web`'s free replica in zone b, beside `train`, as the pair LP
    # does, so its guide deals it there (11, the least, where the plain floor pays 12), with new
    # GPU nodes last for workloads that ask none
    problem = problem_from(tmp_path, BESIDE_SPREAD)
    floor, _ = greedy_floor(problem)
    monkeypatch.setattr(bound_stages, "PAIR_SECONDS_PER_PAIR", 1e9)
    zoned, _ = bound_stages.zoned_stage(problem, "cost", None, floor, 30.0, time.monotonic() + 30,
                                        Fraction(12))
    assert zoned is not None and zoned.value is not None and abs(zoned.value - 11) < 1e-6
    guide = zoned.guide
    assert guide is not None and guide.gpu_nodes_last
    dealt_by_lp = guide.domains[("web", "zone")]
    assert {zone: round(count, 6) for zone, count in dealt_by_lp.items()} == {"a": 1, "b": 2}
    dealt, _ = greedy_floor(problem, None, guide)
    assert _hosts(dealt, "web") == {"cpua": 1, "gpub": 2} and verified_cost(problem, dealt) == 11
