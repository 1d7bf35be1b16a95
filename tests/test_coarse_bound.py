"""The coarse bound (fitlang/solve/coarse.py): the pattern bound of the problem with what
tells nodes apart beyond size and price forgotten. What the coarse problem keeps and drops,
checked by hand; its bound on policies worked out by hand (equal to the optimum where the
splits do not bind, below it where they do); never above the optimum of the independent
per-node CP-SAT reference (tests/reference.py); on the breaker shape above the pair bound
and below a verified placement; stated by `solve` only where it runs; and its LP solution as
a guide for the greedy pass (a cheaper floor on breaker 10,000, verified). The zoned problem
keeps classes apart by eligibility within a pair budget: checked by hand, and on a second
random generator (tiers in zones) against the CP-SAT reference's optimum."""

from __future__ import annotations

import json
import random
from fractions import Fraction

import pytest
from test_bound import SEEDS, comparable_case, pool, workload

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.model.build import build_problem
from fitlang.solve import bound_stages
from fitlang.solve import placement as placement_module
from fitlang.solve.bound import lower_bound
from fitlang.solve.coarse import coarse_bound, coarsened, suggested_classes, zoned_bound
from fitlang.solve.patterns import PatternBound

import reference
from solving import problem_from, shape_with_floor, solved


def rack(name: str, count: int, cpu: int, memory: str, price="1", zone="a") -> str:
    return pool(name, count, cpu, memory, price,
                f'  labels = {{ "rack": "{name}" }}\n  zone = "{zone}"\n')


def pinned(name: str) -> str:
    return f'  require labels["rack"] == "{name}"\n'


def test_the_coarse_problem_merges_what_differs_only_in_labels_and_zones(tmp_path):
    text = (rack("r1", 3, 16, "64Gi") + rack("r2", 2, 16, "64Gi", zone="b")
            + rack("big", 1, 64, "64Gi") + rack("dear", 1, 16, "64Gi", price="2")
            + workload("a", 2, 4, "1Gi", pinned("r2") + '  spread "zone" max_skew 1\n'
                       + "  anti_affinity b on node\n  anti_affinity self on node\n")
            + workload("b", 2, 4, "1Gi", pinned("r1")))
    problem = problem_from(tmp_path, text)
    coarse, merged_id = coarsened(problem)
    # r1 and r2 differ in labels and zone only: one class of 5 nodes; 64 CPUs and a price
    # of 2 USD/h stay apart
    assert merged_id["r1"] == merged_id["r2"] == "r1" and merged_id["big"] == "big"
    by_id = {c.id: c for c in coarse.classes}
    assert sorted(by_id) == ["big", "dear", "r1"] and by_id["r1"].count == 5
    assert by_id["r1"].labels == {} and by_id["r1"].zone is None
    a, b = coarse.demands
    # pinned to r2 (and r1): may use the merged class, nothing else the pin allowed
    assert a.eligible == b.eligible == ["r1"]
    # the zone spread and the rule towards b are dropped; one replica a node stays
    assert a.spreads == [] and a.one_per_node
    assert [r.target for r in a.affinities] == ["self"]


def bounds(tmp_path, text) -> tuple[Fraction, Fraction]:
    """(the pair bound, the coarse bound), both to convergence."""
    problem = problem_from(tmp_path, text)
    pair = lower_bound(problem, "cost")
    assert pair.converged and pair.value is not None
    found = coarse_bound(problem, "cost")
    assert found is not None and found.converged and found.exact and found.value is not None
    return pair.value, found.value


def test_where_the_racks_do_not_bind_the_coarse_bound_is_the_optimum(tmp_path):
    # nodes of 16 CPU and 64 GiB at 1 USD/h in two racks; a: 4 x (6 CPU, 8 GiB) pinned to
    # r1, b: 4 x (2 CPU, 30 GiB) anywhere. One node holds at most 2 a (18 CPU > 16) and 2 b
    # (90 GiB > 64), and 2 b leave no room for an a (68 GiB): the best nodes are {2a, b}
    # twice (in r1) and {2b}: 3 nodes, which the pattern LP proves (prices a 1/4, b 1/2:
    # each node earns at most 1, the replicas 4/4 + 4/2 = 3). The pair relaxation lets the
    # replicas share nodes by the resource: memory (32 + 120) / 64 = 2.375
    text = rack("r1", 4, 16, "64Gi") + rack("r2", 4, 16, "64Gi") \
        + workload("a", 4, 6, "8Gi", pinned("r1")) + workload("b", 4, 2, "30Gi")
    pair, coarse = bounds(tmp_path, text)
    assert abs(pair - Fraction(19, 8)) < 1e-6 and coarse == 3
    assert solved(problem_from(tmp_path, text)).value == 3


def test_where_the_racks_bind_the_coarse_bound_is_below_the_optimum(tmp_path):
    # a: 2 x 12 CPU pinned to r1, b: 2 x 2 CPU pinned to r2, 16-CPU nodes: a takes 2 nodes
    # of r1 and b one of r2, 3 USD/h (the pair bound's cover rows say so too). Forgetting the
    # racks, b fits beside a: 2 nodes. A bound, weaker here, and `solve` states the larger
    text = rack("r1", 3, 16, "64Gi") + rack("r2", 3, 16, "64Gi") \
        + workload("a", 2, 12, "1Gi", pinned("r1")) + workload("b", 2, 2, "1Gi", pinned("r2"))
    pair, coarse = bounds(tmp_path, text)
    assert abs(pair - 3) < 1e-6 and coarse == 2
    found = solved(problem_from(tmp_path, text))
    assert found.value == 3 and found.bound == 3


@pytest.mark.parametrize("seed", SEEDS)
def test_the_coarse_bound_is_never_above_the_reference_optimum(tmp_path, seed):
    problem, expected = comparable_case(seed, tmp_path)
    found = coarse_bound(problem, "cost")
    if found is not None and found.value is not None:
        assert found.value <= expected.cost
        assert found.best_round is None or found.best_round <= expected.cost


def test_on_the_breaker_shape_the_coarse_bound_is_above_the_pair_bound_below_a_placement(tmp_path):
    # breaker, 1,000 nodes: the whole-node patterns the pair relaxation misses (converged:
    # the pattern LP of the whole problem reaches the same 222.40 there), at most the
    # greedy placement verify accepts (the pair bound, its capacity rows over what the
    # requests can fill since session 20, is 216.62 there; 211.49 over the raw capacity)
    problem, packing, placement = shape_with_floor(tmp_path, "breaker")
    pair = lower_bound(problem, "cost", start=packing)
    found = coarse_bound(problem, "cost", start=packing)
    assert found is not None and found.converged
    assert pair.value + 5 < found.value <= placement.value


def test_solve_states_the_coarse_bound_only_where_it_runs(tmp_path, monkeypatch):
    # the first hand-worked case at fleet scale (the aggregate path, `_solve(relax=True)`)
    # with the whole model skipped and the fine patterns too: the pair bound (2.375), or
    # with the coarse bound 3
    text = rack("r1", 4, 16, "64Gi") + rack("r2", 4, 16, "64Gi") \
        + workload("a", 4, 6, "8Gi", pinned("r1")) + workload("b", 4, 2, "30Gi")
    problem = problem_from(tmp_path, text)
    monkeypatch.setattr(placement_module, "_whole_model_pays", lambda *a: False)
    # no fine patterns (they would prove 3 too)
    monkeypatch.setattr(bound_stages, "pattern_bound", lambda *a, **k: PatternBound(None))
    found = placement_module._solve(problem, "auto", 10, relax=True)
    assert found.value == 3 and found.bound == 3
    # not expected to converge in its share of the limit (a pair would take 1e9 s): the
    # coarse problem is made (to count its pairs), its bound is not, and not stated
    monkeypatch.setattr(bound_stages, "PATTERN_SECONDS_PER_PAIR", 1e9)
    found = placement_module._solve(problem, "auto", 10, relax=True)
    assert found.value == 3 and found.bound < 3


def test_on_breaker_10000_the_floor_guided_by_the_coarse_patterns_is_cheaper_and_holds(tmp_path):
    # the greedy pass opens per workload the class cheapest per replica; the coarse pattern
    # LP says which node shapes pack its mix best (it leaves out the 48-CPU / 96-GiB nodes
    # the floor opens 90 of). Both passes uncut and unconsolidated (deterministic), the
    # guided one is cheaper, verify accepts it, and it is no cheaper than the coarse bound
    from fitlang.solve.greedy import Guide, greedy_floor
    from fitlang.solve.placement import FEASIBLE, _from_packing, _packed_value
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    from solving import bench_module

    fleet = bench_module("inventories").breaker(10_000, 1_000)
    fleet.write(tmp_path, "unused")
    problem = problem_from(tmp_path, fleet.policy)
    floor, cut = greedy_floor(problem)
    assert not cut and floor.complete
    found = coarse_bound(problem, "cost", start=floor)
    assert found is not None and found.converged
    guided, cut = greedy_floor(problem, None, Guide(classes=suggested_classes(found, problem)))
    assert not cut and guided.complete
    assert found.value <= _packed_value(problem, guided, "cost") < _packed_value(problem, floor, "cost")
    placement = _from_packing(problem, guided, "cost", FEASIBLE, None)
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    assert violations == [] and problems == []


# The zoned coarse problem (coarse.coarsened(zoned=True), coarse.zoned_bound): classes merge
# only where they differ in labels, so zone and region rules and latency keep their meaning.

def zoned_pool(name: str, count: int, cpu: int, price: str, zone: str, team: str) -> str:
    return pool(name, count, cpu, "64Gi", price,
                f'  labels = {{ "team": "{team}" }}\n  zone = "{zone}"\n  region = "r"\n')


def test_the_zoned_coarse_problem_keeps_zones_and_their_rules_and_merges_labels(tmp_path):
    text = (zoned_pool("a1", 2, 16, "1", "za", "x") + zoned_pool("a2", 3, 16, "1", "za", "y")
            + zoned_pool("b1", 2, 16, "1", "zb", "x")
            + workload("w", 4, 2, "1Gi", '  require labels["team"] == "x"\n  spread zone max_skew 1\n'
                       '  spread "team" max_skew 1\n  anti_affinity v on zone\n')
            + workload("v", 1, 2, "1Gi"))
    problem = problem_from(tmp_path, text)
    zoned, merged_id = coarsened(problem, zoned=True, max_pairs=0)
    # a1 and a2 differ in their label only: with no pairs to spare for keeping them apart
    # by eligibility (below), one class of 5 nodes in zone za; b1 (zone zb) apart
    assert merged_id["a1"] == merged_id["a2"] == "a1" and merged_id["b1"] == "b1"
    by_id = {c.id: c for c in zoned.classes}
    assert sorted(by_id) == ["a1", "b1"] and by_id["a1"].count == 5
    assert by_id["a1"].zone == "za" and by_id["a1"].labels == {}
    w = next(d for d in zoned.demands if d.name == "w")
    # pinned to team x (a1 and b1): may use both merged classes
    assert sorted(w.eligible) == ["a1", "b1"]
    # the zone spread and the zone anti-affinity stay, the spread over a label goes
    assert [s.topology for s in w.spreads] == ["zone"]
    assert [(r.target, r.topology) for r in w.affinities] == [("v", "zone")]


def test_where_a_zone_spread_binds_the_zoned_bound_keeps_it_and_the_coarse_one_does_not(tmp_path):
    # w: 2 x 2 CPU spread over zones za (1 USD/h nodes) and zb (2 USD/h): one replica in
    # each zone, so one node of each, 3 USD/h (the pair bound's cover rows charge zb's whole
    # node). The zoned problem keeps the spread: 3; the coarse one drops it: one node, 1
    text = (zoned_pool("a1", 2, 16, "1", "za", "x") + zoned_pool("a2", 2, 16, "1", "za", "y")
            + zoned_pool("b1", 2, 16, "2", "zb", "x")
            + workload("w", 2, 2, "1Gi", "  spread zone max_skew 1\n"))
    problem = problem_from(tmp_path, text)
    found, _ = zoned_bound(problem, "cost")
    assert found.converged and abs(found.value - 3) < 1e-6
    coarse = coarse_bound(problem, "cost")
    assert coarse is not None and coarse.value < 3
    assert solved(problem).value == 3


def test_where_labels_bind_the_zoned_bound_keeps_the_teams_apart_while_its_pairs_allow(tmp_path):
    # a: 2 x 12 CPU on team x, b: 2 x 2 CPU on team y, 16-CPU nodes in one zone: a takes two
    # nodes and b one, 3 USD/h. The zoned problem keeps the teams' pools apart (each team's
    # rule holds one and not the other): 3. With no pairs to spare they merge, and b fits
    # beside a: 2
    text = (zoned_pool("a1", 3, 16, "1", "za", "x") + zoned_pool("a2", 3, 16, "1", "za", "y")
            + workload("a", 2, 12, "1Gi", '  require labels["team"] == "x"\n')
            + workload("b", 2, 2, "1Gi", '  require labels["team"] == "y"\n'))
    problem = problem_from(tmp_path, text)
    found, merged_id = zoned_bound(problem, "cost")
    assert merged_id == {"a1": "a1", "a2": "a2"}
    assert found.converged and abs(found.value - 3) < 1e-6
    merged, merged_id = zoned_bound(problem, "cost", max_pairs=0)
    assert merged_id == {"a1": "a1", "a2": "a1"}
    assert merged.converged and abs(merged.value - 2) < 1e-6
    assert abs(lower_bound(problem, "cost").value - 3) < 1e-6 and solved(problem).value == 3


def test_the_zoned_problem_keeps_apart_first_what_the_fewest_lists_split(tmp_path):
    # za holds 16-CPU pools of teams x, y and z; zb one of team x. Pinned to team x, w splits
    # za's group in two (x, and y with z) and leaves zb's whole; v, on team y, splits it
    # further: y apart from z. With pairs enough for both, three classes in za; with pairs
    # for w's split only (the first: it is as cheap as v's and named first), two
    text = (zoned_pool("ax", 2, 16, "1", "za", "x") + zoned_pool("ay", 2, 16, "1", "za", "y")
            + zoned_pool("az", 2, 16, "1", "za", "z") + zoned_pool("bx", 2, 16, "1", "zb", "x")
            + workload("w", 2, 2, "1Gi", '  require labels["team"] == "x"\n')
            + workload("v", 2, 2, "1Gi", '  require labels["team"] == "y"\n')
            + workload("u", 2, 2, "1Gi"))
    problem = problem_from(tmp_path, text)
    _, whole = coarsened(problem, zoned=True)
    assert whole == {"ax": "ax", "ay": "ay", "az": "az", "bx": "bx"}
    # pairs: w reaches 2 classes, v 1 (and u every class): 2 + 1 + 4 = 7 with three in za
    _, merged_id = coarsened(problem, zoned=True, max_pairs=6)
    assert merged_id == {"ax": "ax", "ay": "ay", "az": "ay", "bx": "bx"}
    _, merged_id = coarsened(problem, zoned=True, max_pairs=4)
    assert merged_id == {"ax": "ax", "ay": "ax", "az": "ax", "bx": "bx"}


@pytest.mark.parametrize("seed", SEEDS)
def test_the_zoned_bound_is_never_above_the_reference_optimum_and_a_seed_changes_no_bound(tmp_path, seed):
    problem, expected = comparable_case(seed, tmp_path)
    found, _ = zoned_bound(problem, "cost")
    if found.value is not None:
        assert found.value <= expected.cost
    # the classes merged further (fewer pairs allowed, down to labels forgotten): a bound too
    for max_pairs in (0, 8):
        merged, _ = zoned_bound(problem, "cost", max_pairs=max_pairs)
        assert merged.converged and merged.value <= expected.cost
    # the pair bound's master started from the zoned solution's pairs: the same LP optimum
    pair = lower_bound(problem, "cost")
    seed_pairs = {(d.name, c) for d in problem.demands for c in d.eligible}
    seeded = lower_bound(problem, "cost", seed=seed_pairs)
    assert pair.converged and seeded.converged
    assert abs(seeded.value - pair.value) <= 1e-6 * max(1, abs(pair.value))


def test_solve_states_the_zoned_bound_where_the_pair_bound_has_none(tmp_path, monkeypatch):
    # the spread case at fleet scale, the whole model skipped, the pair bound given no time
    # (as at 50,000 nodes, where its share ends before it converges): the zoned bound, 3
    from fitlang.solve.bound import Bound

    text = (zoned_pool("a1", 2, 16, "1", "za", "x") + zoned_pool("b1", 2, 16, "2", "zb", "x")
            + workload("w", 2, 2, "1Gi", "  spread zone max_skew 1\n"))
    problem = problem_from(tmp_path, text)
    monkeypatch.setattr(placement_module, "_whole_model_pays", lambda *a: False)
    monkeypatch.setattr(placement_module, "lower_bound", lambda *a, **k: Bound(None))
    monkeypatch.setattr(bound_stages, "lower_bound", lambda *a, **k: Bound(None))
    monkeypatch.setattr(bound_stages, "pattern_bound", lambda *a, **k: PatternBound(None))
    # where the pair bound is expected to converge in its share (a few pairs), not run
    found = placement_module._solve(problem, "auto", 10, relax=True)
    assert found.value == 3 and (found.bound is None or found.bound < 3)
    # expected not to (a pair would take 1e9 s): run first, and stated
    monkeypatch.setattr(bound_stages, "PAIR_SECONDS_PER_PAIR", 1e9)
    found = placement_module._solve(problem, "auto", 10, relax=True)
    assert found.value == 3 and found.bound is not None and abs(found.bound - 3) < 1e-6
    # but not where its own build would not end within its share (not started at all)
    monkeypatch.setattr(bound_stages, "ZONED_PAIRS", 1e9)
    monkeypatch.setattr(bound_stages, "zoned_bound", lambda *a, **k: pytest.fail("started"))
    found = placement_module._solve(problem, "auto", 10, relax=True)
    assert found.value == 3 and (found.bound is None or found.bound < 3)


def _labelled_case(seed: int) -> reference.Spec:
    """A second generator, written for the zoned problem's splits: pools of one size and
    price in one or two zones, told apart by a tier label only (so the zoned problem's
    groups hold several), workloads pinned to a tier or not, some spread over zones."""
    rng = random.Random(seed)
    pools = [reference.Pool(f"p{k}", rng.randint(1, 3), 4, 16, 100, zone=zone, region="r1",
                            labels={"tier": rng.choice(["gold", "silver"])})
             for k, zone in enumerate(rng.choice([["z1", "z1", "z1"], ["z1", "z1", "z2", "z2"]]))]
    workloads = []
    for k in range(rng.randint(2, 4)):
        workload = reference.Workload(f"w{k}", rng.randint(1, 3), rng.choice([500, 1500, 2500, 3500]), 1)
        if rng.random() < 0.8:
            workload.labels = {"tier": rng.choice(["gold", "silver"])}
        if rng.random() < 0.3:
            workload.spreads.append(("zone", 1))
        workloads.append(workload)
    return reference.Spec(pools, workloads)


def test_on_labelled_random_cases_the_zoned_bounds_stay_below_the_optimum_and_the_finer_one_rises(tmp_path):
    # the per-node CP-SAT reference's optimum (tests/reference.py, no code shared with the
    # bounds) is never below the zoned bound, the tiers kept apart or forgotten (no pairs to
    # spare); keeping them apart raises the bound on a sixth of the cases or more. (Not on
    # every one, nor never lowers it: the relaxation's whole-node and cover rows read the
    # classes' sets of workloads: on seed 18 the merged problem's LP is 3.0 where the
    # finer one's, the pair LP's too, is 2.875, the optimum 4; on seed 51 5.0, 4.71 and 5)
    finer_than_merged = 0
    compared = 0
    for seed in range(60):
        spec = _labelled_case(seed)
        path = tmp_path / f"labelled{seed}.fit"
        path.write_text(reference.to_fit(spec))
        checked = check_file(path, Workspace())
        expected = reference.reference(spec)
        if checked.has_errors or not expected.decided or not expected.feasible:
            continue
        compared += 1
        problem = build_problem(checked.program).problem
        finer, _ = zoned_bound(problem, "cost")
        merged, _ = zoned_bound(problem, "cost", max_pairs=0)
        assert finer.converged and merged.converged
        assert finer.value <= expected.cost and merged.value <= expected.cost
        finer_than_merged += finer.value > merged.value + 1e-6
    assert compared >= 20 and finer_than_merged >= compared // 6
