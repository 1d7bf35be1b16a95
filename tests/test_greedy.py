"""The greedy floor: the placement made first, in bulk, before any optimiser runs (and the
answer when none has time): every rule kept, verified, on hand-worked and random fleets."""

from __future__ import annotations

import json
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlang.solve.linear import Status
from fitlang.solve.placement import solve
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import (
    RANDOM_POOLS,
    RANDOM_WORKLOADS,
    inventory_shaped,
    on_pools,
    pool,
    problem_from,
    random_fleet,
    verified_packing,
    workload,
    zones_taken,
)


@pytest.fixture
def no_model(monkeypatch):
    """The optimiser has nothing by its deadline (as when its time ran out): the answer is
    the greedy floor. Patched, not timed: a short limit now cuts the floor short too."""
    import fitlang.solve.placement as placement_module

    monkeypatch.setattr(placement_module, "_optimised", lambda *args, **kwargs: None)


def solved_in_time(problem, seconds=30):
    """Solved with a time limit (the fleet-scale path), and verified."""
    placement = solve(problem, time_limit=seconds)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == [], [v.message for v in violations]
    return placement


def test_greedy_floor_places_spreads_and_exclusive_work_when_the_optimiser_has_no_time(tmp_path, no_model):
    # 60 nodes: the fleet-scale path. With no time for the model, the answer is the greedy
    # placement: s dealt 2 + 2 over the zones (8 CPUs a replica: a node each, 2 x 1 + 2 x 2),
    # x's 2 replicas alone on one node of a (1), y's 3 x 2 CPUs on one more node of a (1).
    text = (pool("a", 30, 8, "32Gi", 1, '  zone = "a"\n') + pool("b", 30, 8, "32Gi", 2, '  zone = "b"\n')
            + workload("s", 4, 8, "2Gi", "  spread zone max_skew 1\n")
            + workload("x", 2, 1, "1Gi", "  exclusive = true\n") + workload("y", 3, 2, "2Gi"))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    assert placement.status is Status.OPTIMAL and not placement.unplaced
    assert on_pools(placement, problem) == {"s": {"a": 2, "b": 2}, "x": {"a": 2}, "y": {"a": 3}}
    # no model, but the relaxation's bound (bound.py): s takes 2 nodes a zone (2 x 1 + 2 x 2),
    # x a node of a to itself (1), y 6 of a's 8 CPUs (0.75): 7.75; and the patterns'
    # (patterns.py): y's replicas fill no more than a whole node of 1 USD/h, so 8, the optimum
    assert placement.value == 8 and placement.bound == 8
    nodes = {w: {a.node for a in placement.assignments if a.workload == w} for w in "sxy"}
    assert len(nodes["x"]) == 1 and not nodes["x"] & (nodes["s"] | nodes["y"])


def test_greedy_floor_places_zone_anti_affinity_whose_target_spreads_over_every_zone(tmp_path, no_model):
    # 60 nodes (the fleet-scale path), no time for the model. t spreads 2 replicas over zones
    # a, b, c (c dearest); u may run in a or b, never in a zone with t. Had t gone first, it
    # would deal itself to a and b and leave u no zone; u, kept apart, goes first and takes a
    # (cheapest, then by name) and t goes to b and c (0, 1, 1 within max_skew 1):
    # 1 + 1 + 3 = 5 USD/h, nothing left out.
    text = (pool("a", 20, 8, "32Gi", 1, '  zone = "a"\n') + pool("b", 20, 8, "32Gi", 1, '  zone = "b"\n')
            + pool("c", 20, 8, "32Gi", 3, '  zone = "c"\n')
            + workload("t", 2, 8, "2Gi", "  spread zone max_skew 1\n")
            + workload("u", 1, 8, "2Gi", "  require pool in [a, b]\n  anti_affinity t on zone\n"))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    assert not placement.unplaced and placement.value == 5
    assert on_pools(placement, problem) == {"t": {"b": 1, "c": 1}, "u": {"a": 1}}


def test_a_workload_left_short_by_a_higher_prioritys_zones_goes_first_where_then_all_fit(tmp_path):
    # a and b: a node of 8 CPUs each (1 USD/h), c: 5 (3 USD/h). h (priority 30, a or b, one a
    # node) opens a and b; t (20, one a node) takes their free room first; u (10, a or b, never
    # in a zone with t) then finds no zone. Every replica fits with u first (u and h on one of
    # a / b, t on the other and on c: 1 + 1 + 3 = 5 USD/h, the least: h opens both, t needs
    # two nodes and one is not u's), so priority overrules nothing, and the pass with the
    # short workload first is the floor (inventory 10,000 seed 20: `unknown` with 16 replicas
    # out, 0.6 s into a 5 s limit, since every stage after the floor wants it complete).
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.placement import _packed_value

    problem = problem_from(tmp_path, zones_taken())
    packing = greedy_floor(problem, short_first=True)[0]
    assert packing.complete and _packed_value(problem, packing, "cost") == 5
    verified_packing(problem, packing)


def _plain_order_passes(monkeypatch) -> list[bool]:
    from fitlang.solve import greedy

    passes: list[bool] = []
    inner = greedy._greedy
    monkeypatch.setattr(greedy, "_greedy", lambda problem, apart_first, *args: passes.append(apart_first)
                        or inner(problem, apart_first, *args))
    return passes


def test_the_plain_order_is_passed_again_only_where_a_workload_is_kept_apart(tmp_path, monkeypatch):
    # the first pass leaves a replica out. With no workload kept apart by zone or region its
    # order is the plain one: no second pass in it (accelerator-heavy 50,000: the same 437 /
    # 3,717 replicas left out, 2.2 CPU s for nothing), the same floor as where one is made;
    # with one (zones_taken: u apart from t by zone), the plain order is tried as before
    from fitlang.solve import greedy
    from fitlang.solve.greedy import greedy_floor

    text = (pool("a", 1, 8, "32Gi", 1, '  zone = "a"\n') + workload("t", 1, 8, "2Gi", "  priority = 20\n")
            + workload("u", 1, 8, "2Gi", "") + "policy {\n  allow_unplaced = true\n}\n")
    (tmp_path / "plain").mkdir()
    (tmp_path / "apart").mkdir()
    problem = problem_from(tmp_path / "plain", text)
    passes = _plain_order_passes(monkeypatch)
    floor = greedy_floor(problem)[0]
    assert not floor.complete and passes == [True]
    with monkeypatch.context() as forced:  # (a name no workload has: the same orders, both passed)
        forced.setattr(greedy, "kept_apart", lambda problem: {"none"})
        assert greedy_floor(problem)[0].nodes == floor.nodes and passes[1:] == [True, False]
    apart = problem_from(tmp_path / "apart", zones_taken())
    passes.clear()
    greedy_floor(apart)
    assert passes == [True, False]


def test_no_pass_after_the_first_once_the_commands_limit_has_passed(tmp_path, monkeypatch):
    # zones_taken: the first pass leaves u out, and the plain order and the short-first pass
    # follow (the latter places all). Where the limit is spent by the time the first pass
    # ends (50,000 nodes at 30 s under load 20-31: 4-7 minutes), neither runs: the floor is
    # the first pass, short, which the first-fit or the completion then answers for
    import time

    from fitlang.solve.greedy import greedy_floor

    problem = problem_from(tmp_path, zones_taken())
    passes = _plain_order_passes(monkeypatch)
    assert greedy_floor(problem, short_first=True, passes_until=time.monotonic() + 60)[0].complete
    assert len(passes) == 3
    passes.clear()
    floor = greedy_floor(problem, short_first=True, passes_until=time.monotonic())[0]
    assert not floor.complete and passes == [True]


def test_a_short_workload_first_is_kept_where_it_leaves_out_less_at_no_level_more(tmp_path):
    # the fleet above and y (priority 10, d only: one 8-CPU node, three 4-CPU replicas), one
    # of which never fits. The priority order leaves u and a y out (2 at level 10); u first
    # places u, y's third is still out (1 at 10, none higher): kept though not complete (the
    # old pass kept only a complete one)
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.make_room import left_out

    text = (zones_taken("  require pool in [a, b, c]\n") + pool("d", 1, 8, "32Gi", 1, '  zone = "d"\n')
            + workload("y", 3, 4, "2Gi", "  require pool in [d]\n  priority = 10\n")
            + "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    assert left_out(problem, greedy_floor(problem)[0]) == (0, 0, 2)
    packing = greedy_floor(problem, short_first=True)[0]
    assert left_out(problem, packing) == (0, 0, 1)
    assert dict(packing.short_by_workload) == {("y", "d"): 1}


def test_a_short_workload_first_is_not_kept_where_it_would_leave_a_higher_priority_out(tmp_path, no_model):
    # one zone, one node: t (priority 20) or u (10), not both (u apart from t by zone). The
    # pass with u first places u and leaves t out: not kept, t stays and u is left out.
    from fitlang.solve.greedy import greedy_floor

    text = (pool("a", 1, 8, "32Gi", 1, '  zone = "a"\n')
            + workload("t", 1, 8, "2Gi", "  priority = 20\n")
            + workload("u", 1, 8, "2Gi", "  anti_affinity t on zone\n  priority = 10\n")
            + "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    packing = greedy_floor(problem, short_first=True)[0]
    assert {name for node in packing.nodes["a"] for name in node.hosted} == {"t"}


def test_greedy_prices_per_replica_over_arrays_are_those_per_class(tmp_path):
    # the vectorised prices decide the greedy floor's order of classes: every workload of an
    # inventory-shaped fleet (GPU, one per node, no-CPU-asks...) gets the per-class numbers
    from fitlang.solve.greedy import _ClassShapes, _price_per_replica

    problem = inventory_shaped(tmp_path)
    for fractional in (False, True):
        shapes = _ClassShapes(problem, fractional)
        for demand in problem.demands:
            classes = [problem.node_class(c) for c in demand.eligible]
            assert shapes.prices(demand, classes) == [_price_per_replica(demand, c, fractional)
                                                      for c in classes]


def test_greedy_replicas_per_node_over_arrays_are_those_per_class(tmp_path):
    # worked out resource by resource over all classes at once; `replicas_per_node` of the
    # model (one class at a time, in Python) is the reference, on every (workload, class)
    from fitlang.model.problem import replicas_per_node
    from fitlang.solve.greedy import _ClassShapes

    problem = inventory_shaped(tmp_path)
    shapes = _ClassShapes(problem)
    for demand in problem.demands:
        assert shapes.replicas_per_node(demand).tolist() == [
            replicas_per_node(demand, c) for c in problem.classes]


def _floor_placement(problem, guide=None):
    """The greedy floor alone (as `guide` says, if given), made into a placement, and
    verify's findings on it (replicas left out are allowed: they are not what these tests
    look at)."""
    import dataclasses

    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.placement import FEASIBLE_PARTIAL, _from_packing

    packing, cut = greedy_floor(problem, None, guide)
    placement = _from_packing(problem, packing, "cost", FEASIBLE_PARTIAL, None)
    document = json.loads(as_json(problem, placement, []))
    return placement, cut, verify(dataclasses.replace(problem, allow_unplaced=True), document)


def test_greedy_floor_fills_nodes_in_bulk_within_node_rules(tmp_path, no_model):
    # 60 nodes of 8 CPUs (the fleet-scale path). b goes first (c follows it): its 4 x 1 CPU on
    # one node (n0). a (3 CPUs, `spread node max_skew 2`: at most 2 a node) never beside b:
    # 2 on each of 5 new nodes (n1-n5, 2 CPUs left on each). c joins b on n0 (3 more CPUs).
    # d is exclusive: a node of its own (n6). e's 5 x 1 CPU fill the free room in the order
    # the nodes opened: 1 on n0, 2 on n1, 2 on n2, and never d's node. 7 nodes, 7 USD/h.
    text = (pool("p", 60, 8, "32Gi", 1)
            + workload("a", 10, 3, "1Gi", "  spread node max_skew 2\n")
            + workload("b", 4, 1, "1Gi", "  anti_affinity a on node\n")
            + workload("c", 3, 1, "1Gi", "  affinity b on node\n")
            + workload("d", 2, 2, "1Gi", "  exclusive = true\n")
            + workload("e", 5, 1, "1Gi"))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    # proven optimal by the pattern bound (patterns.py): a needs 5 nodes (2 a node), b one
    # apart from a, d one to itself; c and e fit in a's nodes: 7
    assert placement.status is Status.OPTIMAL and not placement.unplaced and placement.value == 7
    assert placement.bound == 7
    hosted: dict[str, Counter] = {}
    for item in placement.assignments:
        hosted.setdefault(item.node, Counter())[item.workload] += 1
    names = problem.classes[0].node_names
    assert hosted == {names[0]: Counter(b=4, c=3, e=1), names[1]: Counter(a=2, e=2),
                      names[2]: Counter(a=2, e=2), names[3]: Counter(a=2), names[4]: Counter(a=2),
                      names[5]: Counter(a=2), names[6]: Counter(d=2)}


def test_greedy_floor_fills_a_guides_nodes_first_with_what_no_rule_counts_across_nodes(tmp_path):
    # the guide's first node asks for 3 a and 1 b, its second for 3 a. a has no rule: 3 on
    # n0, then the 2 left on n1. b spreads over zones, which the guide may not fill (a spread
    # counts replicas across nodes): the pass places it, first into the free room (2 CPUs
    # on n0: no; 4 on n1: one), then onto a new node (n2)
    from fitlang.solve.greedy import Guide, greedy_floor

    text = (pool("p", 10, 8, "32Gi", 1, '  zone = "z1"\n')
            + workload("a", 5, 2, "1Gi")
            + workload("b", 2, 3, "1Gi", "  spread zone max_skew 1\n"))
    problem = problem_from(tmp_path, text)
    packing, cut = greedy_floor(problem, None, Guide(nodes=[(("p",), {("a",): 3, ("b",): 1}),
                                                            (("p",), {("a",): 3})]))
    names = problem.classes[0].node_names
    assert not cut and packing.complete
    assert [(n.name, n.hosted) for n in packing.nodes["p"]] == [
        (names[0], {"a": 3}), (names[1], {"a": 2, "b": 1}), (names[2], {"b": 1})]


def test_a_guides_nodes_are_filled_only_until_the_deadline(tmp_path, monkeypatch):
    # ten nodes in the guide, each filling one takes a second of a patched clock and the pass
    # has 3.5: it fills four (the fourth begun before the deadline), then the deadline cuts
    # every workload. Before, the guide's nodes were filled whole before the first check (a
    # pattern-guided pass on 1,500 one-node pools: 1.8 CPU s past its deadline, session 56)
    from fitlang.solve import greedy
    from fitlang.solve.greedy import Guide, greedy_floor

    problem = problem_from(tmp_path, pool("p", 10, 8, "32Gi", 1) + workload("a", 40, 2, "1Gi"))
    now = [1000.0]
    fill_plan = greedy._Fleet._fill_plan

    def slow_plan(fleet, *args):
        now[0] += 1.0
        return fill_plan(fleet, *args)

    monkeypatch.setattr(greedy.time, "monotonic", lambda: now[0])
    monkeypatch.setattr(greedy._Fleet, "_fill_plan", slow_plan)
    packing, cut = greedy_floor(problem, now[0] + 3.5, Guide(nodes=[(("p",), {("a",): 4})] * 10))
    assert cut == {"a"}
    assert [n.hosted for n in packing.nodes["p"]] == [{"a": 4}] * 4


def test_greedy_floor_runs_a_gang_in_one_cluster_and_gives_back_what_it_tried(tmp_path, no_model):
    # east (1 USD/h) is cheapest but has 2 nodes for a gang of 40 (8 CPUs each, a node each):
    # the gang tries east, does not fit whole, gives the nodes back and runs in west: b's 30
    # (60) and 10 of c (50). w, loose, then takes east's 2 nodes (2): 112 USD/h.
    text = (pool("a", 2, 8, "32Gi", 1, '  cluster = "east"\n')
            + pool("b", 30, 8, "32Gi", 2, '  cluster = "west"\n')
            + pool("c", 30, 8, "32Gi", 5, '  cluster = "west"\n')
            + workload("train", 40, 8, "16Gi", "  kind = job\n  gang = true\n")
            + workload("w", 2, 8, "16Gi"))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    assert placement.value == 112 and not placement.unplaced
    assert on_pools(placement, problem) == {"train": {"b": 30, "c": 10}, "w": {"a": 2}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(RANDOM_WORKLOADS, RANDOM_POOLS)
def test_greedy_floor_keeps_every_rule_that_verify_checks(tmp_path, workloads, pools):
    # whatever the bulk placement places, `verify` (which shares no code with it) accepts
    problem = random_fleet(tmp_path, workloads, pools)
    if problem is None:
        return
    _, cut, (violations, problems) = _floor_placement(problem)
    assert not cut
    assert violations == [] and problems == [], [v.message for v in violations]


RANDOM_GUIDES = st.lists(st.tuples(st.integers(0, 2), st.dictionaries(st.integers(0, 4), st.integers(1, 9),
                                                                       max_size=3)), max_size=8)


# (workload, pool, replicas) a guide's quotas place first (`Guide.quotas`)
RANDOM_QUOTAS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2), st.integers(1, 9)), max_size=6)
# (workload, zone index, replicas): what a guide says the LP puts in each zone (`Guide.domains`)
RANDOM_DOMAINS = st.lists(st.tuples(st.integers(0, 4), st.integers(0, 2), st.floats(0, 9)), max_size=8)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(RANDOM_WORKLOADS, RANDOM_POOLS, RANDOM_GUIDES, RANDOM_QUOTAS, RANDOM_DOMAINS)
def test_greedy_floor_keeps_every_rule_whatever_nodes_a_guide_fills_first(tmp_path, workloads, pools, nodes,
                                                                           quotas, domains):
    # nodes of any pool (or none), holding any replicas of any workloads, as a pattern
    # relaxation's rounding might ask, quotas of any workload (gangs over two clusters among
    # them) on any pool, and any zones first for the spreads' free replicas: the guide fills
    # what may be filled, the pass the rest, and `verify` (which shares no code with either)
    # accepts what they placed
    from fitlang.solve.greedy import Guide

    problem = random_fleet(tmp_path, workloads, pools)
    if problem is None:
        return
    guide = Guide(nodes=[((f"p{pool_index}",), {(f"w{w}",): count for w, count in hosted.items()})
                         for pool_index, hosted in nodes],
                  quotas=tuple((frozenset({f"w{w}"}), frozenset({f"p{p}"}), count) for w, p, count in quotas),
                  domains=_domain_counts(domains))
    _, cut, (violations, problems) = _floor_placement(problem, guide)
    assert not cut
    assert violations == [] and problems == [], [v.message for v in violations]


def _domain_counts(drawn: list[tuple[int, int, float]]) -> dict[tuple[str, str], dict[str, float]]:
    counts: dict[tuple[str, str], dict[str, float]] = {}
    for w, zone, count in drawn:
        counts.setdefault((f"w{w}", "zone"), {})[f"z{zone}"] = count
    return counts


def test_greedy_floor_stops_at_a_deadline_already_past(tmp_path):
    # nothing is placed; every workload is left out whole, and named as cut by the deadline
    import time as clock

    from fitlang.solve.greedy import greedy_floor

    problem = problem_from(tmp_path, pool("p", 60, 8, "32Gi", 1) + workload("a", 3, 2, "1Gi")
                           + workload("b", 2, 2, "1Gi"))
    packing, cut = greedy_floor(problem, clock.monotonic() - 1)
    assert cut == {"a", "b"} and not any(packing.nodes.values())
    assert packing.short_by_workload == {("a", "p"): 3, ("b", "p"): 2}


def test_the_floor_is_whole_however_little_of_the_limit_is_left(tmp_path, no_model):
    # issue 15: never `unknown` with nothing while a placement exists. Reading a 10,000-node
    # inventory on a loaded machine once took all of a 5 s limit, and the floor, cut at the
    # deadline, placed nothing. With a limit already over, the fleet-scale path (60 nodes)
    # still answers with the whole greedy placement: 6 replicas of 2 CPUs on 8-CPU nodes at
    # 1 USD/h, 2 nodes
    problem = problem_from(tmp_path, pool("p", 60, 8, "32Gi", 1)
                           + workload("a", 3, 2, "1Gi", "  priority = 9\n")
                           + workload("b", 2, 2, "1Gi") + workload("c", 1, 2, "1Gi"))
    placement = solve(problem, time_limit=1e-9)
    assert placement.status is Status.FEASIBLE and placement.unplaced == []
    assert Counter(a.workload for a in placement.assignments) == {"a": 3, "b": 2, "c": 1}
    assert placement.value == 2
    assert verify(problem, json.loads(as_json(problem, placement, []))) == ([], [])


def _gpu_pool(name, count, model, gpus, price):
    return pool(name, count, 64, "512Gi", price, f"  gpu {{\n    model = {model}\n    count = {gpus}\n  }}\n")


def test_greedy_floor_chooses_an_option_with_the_fleet_as_it_is_when_its_turn_comes(tmp_path, no_model):
    # 62 nodes: the fleet-scale path, and no model: the answer is the floor. train (first: its
    # priority) takes both cheap H100 nodes (2 replicas each, 20 USD/h). chat needs 4 H100
    # replicas or 8 Trainium2 ones. By list price on an empty fleet H100 is cheaper (4 x 10/2
    # = 20 against 8 x 14/4 = 28), but the cheap H100 nodes are gone when chat's turn comes:
    # H100 would open 2 dear nodes (80), Trainium2 opens 2 trn nodes (28). 20 + 28 = 48.
    text = ('import "std/accelerators"\n' + _gpu_pool("cheap", 2, "H100", 2, 10)
            + _gpu_pool("dear", 30, "H100", 2, 40)
            + _gpu_pool("trn", 30, "TRAINIUM2", 4, 14)
            + workload("train", 4, 8, "16Gi", "  priority = 5\n  gpu {\n    count = 1\n"
                       "    require model == H100\n  }\n")
            + workload("chat", None, 8, "16Gi", "  gpu {\n    count = 1\n    option H100 {\n"
                       "      replicas = 4\n    }\n    option TRAINIUM2 {\n      replicas = 8\n"
                       "    }\n  }\n").replace("  replicas = None\n", ""))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    assert placement.value == 48 and not placement.unplaced
    assert on_pools(placement, problem) == {"train": {"cheap": 4}, "chat[TRAINIUM2]": {"trn": 8}}


def _zoned_pools(prices: dict[str, int]) -> str:
    return "".join(pool(zone, 30, 8, "32Gi", price, f'  zone = "{zone}"\n') for zone, price in prices.items())


def test_greedy_floor_deals_a_spread_onto_the_cheapest_zones_within_its_skew(tmp_path, no_model):
    # 120 nodes of 8 CPUs over zones a (5 USD/h) and b, c, d (1): a replica a node. x (4,
    # max_skew 2): every zone may hold 0..2, so 2 on b and 2 on c: 4. y (10, max_skew 1):
    # each zone at least 10 / 4 rounded up less the skew = 2, the 2 more on the cheapest
    # zones b and c: a 2, b 3, c 3, d 2: 10 + 8 = 18. Dealt round-robin by zone name it was
    # x 1 on each (8) and y 3, 3, 2, 2 from a (22): 30.
    text = (_zoned_pools({"a": 5, "b": 1, "c": 1, "d": 1})
            + workload("x", 4, 8, "1Gi", "  spread zone max_skew 2\n")
            + workload("y", 10, 8, "1Gi", "  spread zone max_skew 1\n"))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    assert placement.value == 22 and not placement.unplaced
    assert on_pools(placement, problem) == {"x": {"b": 2, "c": 2}, "y": {"a": 2, "b": 3, "c": 3, "d": 2}}


def test_greedy_floor_keeps_a_zone_free_for_a_workload_kept_apart_from_the_one_placed_first(
        tmp_path, no_model):
    # t goes first (its priority) and a is its cheapest zone; u keeps apart from t by zone
    # and may only use a. t takes b instead (2 USD/h), u then a (1): both placed, 3.
    text = (_zoned_pools({"a": 1, "b": 2})
            + workload("t", 1, 8, "1Gi", "  priority = 5\n")
            + workload("u", 1, 8, "1Gi", '  zones = ["a"]\n  anti_affinity t on zone\n'))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    assert placement.value == 3 and not placement.unplaced
    assert on_pools(placement, problem) == {"t": {"b": 1}, "u": {"a": 1}}


def test_greedy_floor_takes_nodes_that_cost_nothing_before_room_on_nodes_that_cost(tmp_path):
    # `first` (only zone b) opens a paid node and leaves 2 CPUs free on it. `flexible` may go
    # anywhere: a new free node costs nothing, so it goes there and leaves that room to `last`
    # (only zone b, lower priority), which fits beside `first`: one paid node, 1 USD/h. Taking
    # the paid node's room first (as any open node's room was) made `last` open a second one.
    text = (pool("free", 4, 4, "8Gi", 0, '  zone = "a"\n')
            + pool("paid", 4, 4, "8Gi", 1, '  zone = "b"\n')
            + workload("first", 1, 2, "1Gi", '  zones = ["b"]\n  priority = 20\n')
            + workload("flexible", 1, 2, "1Gi", "  priority = 10\n")
            + workload("last", 1, 2, "1Gi", '  zones = ["b"]\n  priority = 5\n'))
    placement, _, (violations, problems) = _floor_placement(problem_from(tmp_path, text))
    assert violations == [] and problems == [] and not placement.unplaced
    assert placement.value == 1
    on_pool = {item.workload: item.node.split("-")[0] for item in placement.assignments}
    assert on_pool == {"first": "paid", "flexible": "free", "last": "paid"}


def test_greedy_floor_places_the_dearest_replicas_of_a_priority_first(tmp_path):
    # nodes of 10 CPUs at 1 USD/h. By name, `a_small` (6 x 2 CPUs) would go first: 5 on one
    # node and 1 on a second, where only one `b_big` (3 x 6 CPUs) fits; the other two open two
    # more nodes: 4. A node costs b_big 1 USD/h a replica and a_small 0.2: b_big goes first, a
    # node each, and a_small's replicas fill the 4 CPUs left on each, 2 a node: 3, the optimum.
    text = (pool("p", 6, 10, "64Gi", 1)
            + workload("a_small", 6, 2, "1Gi") + workload("b_big", 3, 6, "1Gi"))
    placement, _, (violations, problems) = _floor_placement(problem_from(tmp_path, text))
    assert violations == [] and problems == [] and not placement.unplaced
    assert placement.value == 3


def test_greedy_floor_places_a_follower_on_nodes_beside_its_target_before_others_take_their_room(tmp_path):
    # nodes of 4 CPUs at 1 USD/h. `t` (one a node, 0.5 CPU) opens 4 nodes; `big` and `z_follows`
    # (3 CPUs each, as dear per replica; by name `big` first) each fit once beside a `t`.
    # Were `big` placed before the follower, it would take the room beside every `t` and leave
    # `z_follows` (which must share a node with a `t`) out: differential_fleet.py seed 3773,
    # `unknown` with 25 out where the reference places all. Beside its target first, the
    # follower takes 2 of t's nodes, `big` the other 2 and 2 new ones: 6, the optimum.
    text = (pool("p", 8, 4, "64Gi", 1)
            + workload("t", 4, "500m", "1Gi", "  anti_affinity self on node\n")
            + workload("big", 4, 3, "1Gi") + workload("z_follows", 2, 3, "1Gi", "  affinity t on node\n"))
    placement, _, (violations, problems) = _floor_placement(problem_from(tmp_path, text))
    assert violations == [] and problems == [] and not placement.unplaced
    assert placement.value == 6


def test_fleet_scale_floor_gives_the_scarce_accelerator_to_the_option_that_saves_most(tmp_path, no_model):
    # 2 L4 nodes at 1 USD/h, 48 A10G nodes at 10; a replica a node. `first` (higher priority)
    # needs 2 on L4 or 3 on A10G; `second` 2 on L4 or 6 on A10G. Greedy alone, `first` takes
    # the L4s (2 against 30 at its turn) and `second` pays 60 on A10G: 62. The relaxation
    # gives the L4s to `second` (an L4 replica saves it 30 USD/h, `first` 15): the floor placed
    # again with each workload's options in that order is 30 + 2 = 32, the optimum.
    def accelerator_pool(name, count, model, price):
        return (f"pool {name} {{\n  count = {count}\n  cpu = 8\n  memory = 32Gi\n"
                f"  gpu {{ model = {model}; count = 1 }}\n  price = {price} USD/h\n}}\n")

    def choosy(name, priority, on_l4, on_a10g):
        return (f"workload {name} {{\n  cpu = 1\n  memory = 1Gi\n  priority = {priority}\n"
                f"  gpu {{\n    count = 1\n    option L4 {{ replicas = {on_l4} }}\n"
                f"    option A10G {{ replicas = {on_a10g} }}\n  }}\n}}\n")

    text = ('import "std/accelerators"\n'
            + accelerator_pool("l4", 2, "L4", 1) + accelerator_pool("a10g", 48, "A10G", 10)
            + choosy("first", 20, 2, 3) + choosy("second", 10, 2, 6))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    assert not placement.unplaced and placement.value == 32
    assert on_pools(placement, problem) == {"first[A10G]": {"a10g": 3}, "second[L4]": {"l4": 2}}


def test_fleet_scale_floor_leaves_the_cheap_node_to_the_workload_that_has_no_other(tmp_path, no_model):
    # `first` (higher priority) may go anywhere; `second` only on gold nodes: the one big node
    # (8 CPUs, 4 USD/h) or dear ones (4 CPUs, 10). By price per replica `first` takes the big
    # node (2 a replica against 2.5 on a small node), and `second` pays 20 on two dear nodes:
    # 24. The relaxation puts `first` on small nodes and `second` on the big one: the floor
    # placed again with those classes first is 2 x 2.5 + 4 = 9, the optimum.
    text = (pool("big", 1, 8, "32Gi", 4, '  labels = { "tier": "gold" }\n')
            + pool("small", 50, 4, "16Gi", "2.5")
            + pool("dear", 4, 4, "16Gi", 10, '  labels = { "tier": "gold" }\n')
            + workload("first", 2, 4, "1Gi", "  priority = 20\n")
            + workload("second", 2, 4, "1Gi", '  require labels["tier"] == "gold"\n  priority = 10\n'))
    problem = problem_from(tmp_path, text)
    placement = solved_in_time(problem)
    assert not placement.unplaced and placement.value == 9
    assert on_pools(placement, problem) == {"first": {"small": 2}, "second": {"big": 2}}
