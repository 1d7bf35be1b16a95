"""option_follow.py: a follower by zone of a workload whose spreads over its options are
narrowed, kept to the zones the narrowed demands surely run in (not to one option's)."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace
from fractions import Fraction

from fitlang.rules import option_spread
from fitlang.rules.option_follow import followed_in, sure_domains
from fitlang.solve.placement_result import Placement, Unplaced

import reference
from solving import problem_from, solved


def _near_chat(pools: list[reference.Pool], chat: reference.Workload, replicas: int) -> str:
    """The fleet with `chat` and `web` (`replicas`, near chat by zone, `spread zone max_skew 2`)."""
    web = reference.Workload("web", replicas, 1000, 2, spreads=[("zone", 2)], rules=[("chat", "zone", False)])
    return reference.to_fit(reference.Spec(pools, [chat, web]))


def _near_both_options() -> str:
    """`bench/option_spreads.py --rules` seed 829 (73 nodes): `chat` (6 of G80, only in z3 of
    r2, or 12 of G24, only in z2 of r1; one a node) under `spread region max_skew 2`, narrowed
    to G80 in z3 and G24 in z2; `web` (13 replicas) near chat by zone with `spread zone
    max_skew 2` of its own. Following G80 alone, web ran in z3 only, 2 over z2's none: 11 left
    out (`unknown`); the reference's optimum is 11.00."""
    pools = [reference.Pool("g0", 23, 8, 32, 200, "G24", 2, "z2", "r1"),
             reference.Pool("g1", 24, 8, 32, 100, "G80", 1, "z3", "r2"),
             reference.Pool("c0", 16, 4, 16, 60, zone="z3", region="r2"),
             reference.Pool("c1", 10, 4, 16, 40, zone="z3", region="r2")]
    chat = reference.Workload("chat", 6, 4000, 4, gpus=1, options=[("G80", 6), ("G24", 12)],
                              spreads=[("region", 2)], rules=[("self", "node", True)])
    return _near_chat(pools, chat, 13)


def test_the_follower_runs_in_every_zone_a_narrowed_option_surely_runs_in(tmp_path):
    problem = problem_from(tmp_path, _near_both_options())
    narrowed, same, _ = option_spread.narrowed(problem)
    web = narrowed.demand("web")
    assert not web.affinities and sorted(web.eligible) == ["c0", "c1", "g0", "g1"]
    assert not same
    placement = solved(problem, time_limit=10.0)  # (verified: web only in zones where chat runs)
    assert not placement.unplaced and placement.value == Fraction(11)


def test_sure_domains_are_those_of_demands_in_one_domain(tmp_path):
    problem = problem_from(tmp_path, _near_both_options())
    g80, g24 = problem.demand("chat[G80]"), problem.demand("chat[G24]")
    one_zone = [replace(g80, eligible=["g1"]), replace(g24, eligible=["g0"])]
    assert sure_domains(problem, one_zone, "zone") == {"z3", "z2"}
    assert sure_domains(problem, [replace(one_zone[0], replicas=0)], "zone") == set()
    web = problem.demand("web")
    only_z3 = {"chat": [replace(g80, eligible=["g1"])]}
    assert followed_in(problem, web, only_z3) is web  # (its own spread would lose z2, counted 0)
    alone = replace(web, spreads=[])
    assert followed_in(problem, alone, only_z3).eligible == ["g1", "c0", "c1"]
    assert followed_in(problem, alone, {}) is alone


def test_a_follower_is_left_out_with_the_workload_it_follows(tmp_path):
    problem = problem_from(tmp_path, _near_both_options())
    placement = solved(problem, time_limit=10.0)
    chat = [a for a in placement.assignments if problem.demand(a.workload).workload == "chat"]
    short = Placement(placement.status, "cost", placement.value, None,
                      [a for a in placement.assignments if a not in chat[:1]],
                      [Unplaced(chat[0].workload, 99, "")])
    left = option_spread._short_left_out(problem, short)
    assert not left.assignments
    assert Counter(u.workload for u in left.unplaced)["web"] == 13


def _near_options_spread_over_more_zones() -> str:
    """`bench/option_spreads.py --rules` seed 972 (140 nodes), cut down: `chat` (8 of G80,
    only in z2, or 8 of G24, only in z1; `spread zone max_skew 2` over both) narrowed to G80
    in z2 and G24 in z1; `web` (4 replicas) near chat by zone with `spread zone max_skew 2` of
    its own, over z1, z2 and z3 (it may use the CPU nodes of z3, where chat never runs). Kept
    to z1 and z2 its spread lost z3 (counted 0 as written), so it followed G80 alone: in z2
    only, at most 2, `unknown` where the reference places all at 13.00."""
    pools = [reference.Pool("g0", 25, 8, 32, 400, "G24", 2, "z1", "r1"),
             reference.Pool("g1", 16, 8, 32, 200, "G80", 2, "z2", "r1"),
             reference.Pool("g3", 30, 8, 32, 300, "G24", 1, "z1", "r1"),
             reference.Pool("c1", 22, 4, 16, 40, zone="z3", region="r2")]
    chat = reference.Workload("chat", 8, 4000, 4, gpus=1, options=[("G80", 8), ("G24", 8)],
                              spreads=[("zone", 2)])
    return _near_chat(pools, chat, 4)


def test_a_follower_kept_to_fewer_zones_than_its_spread_counts_holds_max_skew_in_each(tmp_path):
    problem = problem_from(tmp_path, _near_options_spread_over_more_zones())
    narrowed, _, _ = option_spread.narrowed(problem)
    web = narrowed.demand("web")
    assert not web.affinities and sorted(web.eligible) == ["g0", "g1", "g3"]
    assert [(s.topology, s.max_skew) for s in web.spreads] == [("zone", 1)]  # (2 + 2: z3 holds 0)
    placement = solved(problem, time_limit=10.0)  # (verified: zone z3 counted, at 0)
    assert not placement.unplaced
    zones = {c.id: c.zone for c in problem.classes}
    per_zone = Counter(zones[problem.owners().find(a.node)[0].id] for a in placement.assignments
                       if a.workload == "web")
    assert per_zone == {"z1": 2, "z2": 2}


def test_the_skew_left_is_the_largest_that_keeps_each_domain_at_max_skew():
    # brute force over every count per domain: the skew bars every count past `most`, and
    # one more would let one through
    import itertools

    from fitlang.rules.option_follow import _skew_left

    for domains, most, replicas in itertools.product(range(1, 5), range(1, 4), range(0, 14)):
        skew = _skew_left(replicas, domains, most)
        if replicas > most * domains:
            assert skew is None
            continue
        assert skew is not None and skew >= 1
        counts = [c for c in itertools.product(range(replicas + 1), repeat=domains) if sum(c) == replicas]

        def let_past(limit: int, counts=counts, most=most) -> bool:
            return any(max(c) > most and max(c) - min(c) <= limit for c in counts)

        assert not let_past(skew)
        assert skew == most or let_past(skew + 1)


def _near_a_zone_only_the_dearer_option_reaches() -> str:
    """`bench/option_spreads.py --rules` seed 1681 (54 nodes): `chat` (7 of G80, only in z2,
    or 14 of G24, in z1 and z3; `spread region max_skew 3`) ran G24 alone, the cheapest per
    unit of throughput, so `web` (13 replicas near chat by zone, `spread zone max_skew 2`)
    had z1 and z3, at most 2 each over z2's none: 9 left out (`unknown`). The reference runs
    1 of G80 in z2 beside 12 of G24 and places all at 18.00."""
    chat = reference.Workload("chat", 7, 1000, 4, gpus=1, options=[("G80", 7), ("G24", 14)],
                              spreads=[("region", 3)])
    gpu_pools = [("g0", 9, 200, "G24", 1, "z3", "r2"), ("g1", 13, 400, "G80", 1, "z2", "r1"),
                 ("g2", 10, 100, "G24", 2, "z1", "r1")]
    pools = [reference.Pool(name, count, 8, 32, price, model, gpus, zone, region)
             for name, count, price, model, gpus, zone, region in gpu_pools]
    return _near_chat([*pools, reference.Pool("c0", 22, 4, 16, 60, zone="z1", region="r1")], chat, 13)


def test_the_workload_is_split_to_run_in_every_zone_its_follower_spreads_over(tmp_path):
    problem = problem_from(tmp_path, _near_a_zone_only_the_dearer_option_reaches())
    narrowed, _, _ = option_spread.narrowed(problem)
    zones = {c.id: c.zone for c in problem.classes}
    chat = [d for d in narrowed.demands if d.name.startswith("chat") and d.replicas]
    assert {zones[c] for d in chat for c in d.eligible} == {"z1", "z2", "z3"}
    web = narrowed.demand("web")
    assert not web.affinities and [(s.topology, s.max_skew) for s in web.spreads] == [("zone", 2)]
    placement = solved(problem, time_limit=10.0)  # (verified: web only in zones where chat runs)
    assert not placement.unplaced and placement.value == Fraction(18)
