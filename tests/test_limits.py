"""The buy limits, the budget and the power caps as integer rows (fitlang/solve/limits.py),
against a reference that sums the policy's rational numbers directly (written here, sharing no
code with limits.py), on random problems and counts at and around every limit; and the
equivalent classes of a workload, grouped once per demand (pack.equivalents), against a
direct filter and sort."""

from __future__ import annotations

import random
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, PowerScope, Problem, node_limit
from fitlang.solve.aggregate import within_limits
from fitlang.solve.limits import FleetLimits, Totals, fleet_limits
from fitlang.solve.pack import domains_key  # (bound here: the test below counts the solver's asks)


def _reference(problem: Problem, counts: dict[str, int]) -> bool:
    """Every limit summed in Fractions, as the policy states it."""
    for group, limit in problem.buy_limits.items():
        if sum((counts[c.id] for c in problem.classes if c.buy_group == group), 0) > limit:
            return False
    if problem.budget is not None:
        spent = sum((c.price * counts[c.id] for c in problem.classes), Fraction(0))
        if spent > problem.budget:
            return False
    drawn = {c.id: c.power_watts for c in problem.classes}
    for cap in problem.power_caps:
        if sum((drawn[i] * counts[i] for i in cap.classes), Fraction(0)) > cap.cap_watts:
            return False
    return True


def _random_problem(rng: random.Random, huge: bool = False) -> Problem:
    classes = []
    for i in range(rng.randint(1, 12)):
        price = Fraction(rng.randint(0, 5000), rng.choice([1, 3, 7, 100, 10_000]))
        if huge:  # weights whose int64 products would overflow: the exact Python-int path
            price = Fraction(rng.randint(1, 9) * 10 ** 17, rng.choice([1, 3, 7]))
        classes.append(NodeClass(
            id=f"c{i}", pool="p", count=rng.randint(1, 40),
            capacity={r: 1000 for r in RESOURCES}, price=price,
            buy_group=rng.choice([None, 0, 1]),
            power_watts=Fraction(rng.randint(0, 900), rng.choice([1, 2, 5]))))
    ids = [c.id for c in classes]
    caps = [PowerScope(name=f"cap{j}", scope="site",
                       cap_watts=Fraction(rng.randint(0, 20_000), rng.choice([1, 3])),
                       classes=rng.sample(ids, rng.randint(1, len(ids))) + rng.sample(ids, 1))
            for j in range(rng.randint(0, 2))]
    return Problem(classes=classes, demands=[], objective=["cost"],
                   budget=rng.choice([None, Fraction(rng.randint(0, 4000), rng.choice([1, 7, 100]))])
                   if not huge else Fraction(rng.randint(1, 300) * 10 ** 17, 7),
                   buy_limits={g: rng.randint(0, 30) for g in rng.sample([0, 1], rng.randint(0, 2))},
                   power_caps=caps)


def _counts_near_limits(rng: random.Random, problem: Problem) -> list[dict[str, int]]:
    """Random counts, and counts grown one node at a time until some limit breaks (so the
    last ones sit at and just over a limit)."""
    found = [{c.id: rng.randint(0, c.count + 1) for c in problem.classes} for _ in range(20)]
    grown = {c.id: 0 for c in problem.classes}
    for _ in range(200):
        grown[rng.choice(problem.classes).id] += 1
        found.append(dict(grown))
        if not _reference(problem, grown):
            break
    return found


def test_the_integer_rows_keep_exactly_the_limits_the_fractions_state():
    rng = random.Random(15)
    checked = broken = 0
    for round_ in range(300):
        problem = _random_problem(rng, huge=round_ % 10 == 0)
        limits = FleetLimits(problem)
        for counts in _counts_near_limits(rng, problem):
            expected = _reference(problem, counts)
            assert limits.hold(counts) == expected, (round_, counts)
            assert within_limits(problem, counts) == expected
            checked += 1
            broken += not expected
    assert checked > 5000 and broken > 200  # (both answers asked many times)


def test_the_sums_kept_as_nodes_open_answer_as_the_fractions_with_one_node_more():
    # `Totals` (improve.py's ruin: one more node of a class weighed against the rows that class
    # is in only) against the reference on the counts with that node added, from counts at and
    # over the limits, then as nodes of random classes open one at a time
    rng = random.Random(38)
    checked = refused = 0
    for round_ in range(200):
        problem = _random_problem(rng, huge=round_ % 10 == 0)
        limits = FleetLimits(problem)
        for counts in _counts_near_limits(rng, problem)[::7]:
            totals = Totals(limits, np.array([counts[i] for i in limits.ids], dtype=np.int64))
            for _ in range(6):
                for node_class in problem.classes:
                    more = dict(counts, **{node_class.id: counts[node_class.id] + 1})
                    expected = _reference(problem, more)
                    assert totals.one_more_holds(limits.position[node_class.id]) == expected
                    checked += 1
                    refused += not expected
                opened = rng.choice(problem.classes).id
                counts = dict(counts, **{opened: counts[opened] + 1})
                totals.opened(limits.position[opened])
    assert checked > 5000 and refused > 500


def test_a_budget_met_to_the_cent_holds_and_one_cent_over_does_not():
    unit = {r: 1 for r in RESOURCES}
    classes = [NodeClass(id="a", pool="p", count=10, capacity=unit, price=Fraction(1, 3)),
               NodeClass(id="b", pool="p", count=10, capacity=unit, price=Fraction(2, 7))]
    at = Fraction(1, 3) * 3 + Fraction(2, 7) * 7

    def with_budget(budget: Fraction) -> Problem:
        return Problem(classes=classes, demands=[], objective=["cost"], budget=budget)
    assert within_limits(with_budget(at), {"a": 3, "b": 7})
    assert not within_limits(with_budget(at - Fraction(1, 100)), {"a": 3, "b": 7})


def test_the_rows_are_built_once_per_problem():
    problem = _random_problem(random.Random(3))
    assert fleet_limits(problem) is fleet_limits(problem)
    assert fleet_limits(_random_problem(random.Random(3))) is not fleet_limits(problem)


def _direct_equivalents(problem: Problem, demand, origin) -> list:
    """The eligible classes with `origin`'s domains in every topology `demand`'s rules count,
    by what a replica's share of a node costs, then id: filtered and sorted on every ask."""
    key = domains_key(problem, demand)
    same = [c for c in map(problem.node_class, demand.eligible) if key(c) == key(origin)]
    return sorted(same, key=lambda node_class: _exact_share_cost(demand, node_class))


def test_equivalent_classes_grouped_once_per_demand_are_those_filtered_on_every_ask(tmp_path, monkeypatch):
    from fitlang.solve import pack

    from solving import inventory_shaped

    problem = inventory_shaped(tmp_path)
    keyed = [0]  # classes keyed by the solver's key functions
    counting = [0]  # (inside `equivalents` only: the direct filter below asks them too)

    same_keys = pack._same_keys

    def counted(p, d):  # a class keyed: its first key asked (new functions on every ask, so
        # no grouping is shared between workloads here)
        keys = same_keys(p, d)
        if not keys:
            return keys
        first = keys[0]

        def first_counted(node_class):
            keyed[0] += counting[0]
            return first(node_class)
        return (first_counted,) + keys[1:]
    monkeypatch.setattr(pack, "_same_keys", counted)
    asked, keyed_asks, eligible = 0, 0, 0
    rng = random.Random(7)
    for demand in problem.demands:
        origins = [problem.node_class(i) for i in rng.sample(demand.eligible, min(6, len(demand.eligible)))]
        keys = bool(same_keys(problem, demand))  # (a workload no rule keys: all its classes alike)
        eligible += len(demand.eligible) * keys
        for origin in origins + origins[:1]:  # (one asked twice)
            counting[0] = 1
            found = pack.equivalents(problem, demand, origin)
            counting[0] = 0
            assert [c.id for c in found] == [c.id for c in _direct_equivalents(problem, demand, origin)]
            asked, keyed_asks = asked + 1, keyed_asks + keys
    assert asked > 300 and keyed_asks > 200
    # each keyed demand's classes keyed once, and each origin once per ask (on every ask
    # before: every eligible class and the origin)
    assert keyed[0] == eligible + keyed_asks


def test_a_problem_and_its_equivalent_groups_go_together(tmp_path):
    import gc
    import weakref

    from fitlang.solve import pack

    from solving import inventory_shaped

    problem = inventory_shaped(tmp_path)
    for demand in problem.demands:
        pack.equivalents(problem, demand, problem.node_class(demand.eligible[0]))
    gone = weakref.ref(problem)
    del problem, demand
    gc.collect()
    assert gone() is None


def test_classes_cheapest_per_replica_first_in_the_exact_order_where_floats_cannot_tell(monkeypatch):
    """pack._cheapest_first compares floats and, where two costs are within rounding, the
    exact fractions: prices a part in 1e20 apart (one float), equal costs whose floats differ
    (0.1 x 1/3 and 1/30 x 1), classes a replica cannot fit, free classes, a node spread's
    limit on classes of several nodes; against the exact sort (then by id)."""
    from fitlang.check.program import SpreadRule
    from fitlang.solve import pack

    rng = random.Random(25)
    third, tiny = Fraction(1, 3), Fraction(1, 10 ** 20)
    prices = [Fraction(0), third, third + tiny, third - tiny, 2 * third, Fraction(1, 10), Fraction(1, 30),
              Fraction(3, 10)]
    for _ in range(40):
        classes = []
        for i in range(rng.randint(2, 30)):
            cpu = rng.choice([1000, 2000, 3000, 4000, 6000])
            capacity = {"cpu": cpu, "memory": rng.choice([0, 8, 16]), "gpu": 0, "disk": 0}
            classes.append(NodeClass(id=f"c{rng.randint(0, 99):02d}-{i}", pool="p", count=rng.choice([1, 3]),
                                     capacity=capacity, price=rng.choice(prices + [Fraction(cpu, 3000)])))
        spreads = [SpreadRule("node", 1, origin=None)] if rng.random() < 0.3 else []  # type: ignore[arg-type]
        requests = {"cpu": rng.choice([500, 1000, 1500, 5000]), "memory": rng.choice([0, 4]),
                    "gpu": 0, "disk": 0}
        demand = Demand(name="w", replicas=rng.randint(1, 6), eligible=[c.id for c in classes],
                        requests=requests, spreads=spreads)
        problem = Problem(classes=classes, demands=[demand], objective=["cost"])
        expected = [c.id for c in sorted(classes, key=lambda c, d=demand: _exact_share_cost(d, c))]
        assert [c.id for c in pack._cheapest_first(problem, demand, classes)] == expected


def _exact_share_cost(demand, node_class):
    """What a replica's share of a node costs, in fractions, then the class's id."""
    shares = [Fraction(demand.requests[r], node_class.capacity[r]) for r in RESOURCES
              if node_class.capacity[r]]
    share = max(max(shares, default=Fraction(1)), Fraction(1, max(1, node_limit(demand, node_class))))
    return node_class.price * share, node_class.id


def test_workloads_alike_share_one_grouping_of_their_equivalent_classes(tmp_path):
    """Workloads of the same eligible classes and rule keys (rules.base.TopologyValues) are
    grouped once between them, and each still gets what the direct filter and sort give."""
    from fitlang.solve import pack

    from solving import inventory_shaped

    problem = inventory_shaped(tmp_path)
    for demand in problem.demands:
        for class_id in demand.eligible[:3]:
            origin = problem.node_class(class_id)
            found = pack.equivalents(problem, demand, origin)
            assert [c.id for c in found] == [c.id for c in _direct_equivalents(problem, demand, origin)]
    shared = pack._GROUPINGS[problem]
    assert 0 < len(shared) < sum(1 for d in problem.demands if pack._same_keys(problem, d))
