"""Small open nodes merged onto one new node of a larger class (small_merged.py). Held to a
hand-counted optimum and to `verify` (which shares no code with the step)."""

from __future__ import annotations

import random
import time
from fractions import Fraction

from fitlang.solve import search_stages, small_merged
from fitlang.solve.dear_nodes import dear_nodes_ruined
from fitlang.solve.greedy import greedy_floor
from fitlang.solve.improve import _Search, consolidate
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.small_merged import small_nodes_merged

from solving import pool, problem_from, verified_cost, workload

# four one-a-node services, two replicas each, 2 CPUs a replica. 4-CPU nodes at 0.30 USD/h in
# zones a and c hold two replicas; a 16-CPU node at 0.55 in zone b holds one of each service
# (four replicas: anti-affinity, not its CPUs, is what fills it)
SPLIT = (pool("small_a", 2, 4, "16GiB", 0.30, '  zone = "a"\n')
         + pool("small_c", 2, 4, "16GiB", 0.30, '  zone = "c"\n')
         + pool("big", 2, 16, "64GiB", 0.55, '  zone = "b"\n')
         + "".join(workload(f"s{k}", 2, 2, "1GiB", "  anti_affinity self on node\n") for k in range(1, 5)))


def _by_hand() -> Fraction:
    """The least cost: every service has a replica on two distinct nodes, a big node holds at
    most one replica of each (four), a small one two (its CPUs): `big` big nodes and `small`
    small ones hold the eight replicas where 4 * big + 2 * small >= 8 and each service finds two
    nodes (big + small >= 2)."""
    return min(Fraction(55, 100) * big + Fraction(30, 100) * small
               for big in range(3) for small in range(5) if 4 * big + 2 * small >= 8 and big + small >= 2)


def _split_floor(problem) -> Packing:
    """The four small nodes full, as a pass that opens the class that costs least for one
    replica leaves them: s1 + s2 and s3 + s4 in zone a, s1 + s3 and s2 + s4 in zone c."""
    pairs = {"small_a": [("s1", "s2"), ("s3", "s4")], "small_c": [("s1", "s3"), ("s2", "s4")]}
    free = {"cpu": 0, "memory": 14 * 2**30, "gpu": 0, "disk": 0}
    nodes = {pool: [NodeState(name, dict(free), dict.fromkeys(pair, 1))
                    for name, pair in zip(problem.node_class(pool).node_names, hosted)]
             for pool, hosted in pairs.items()}
    return Packing(nodes=nodes, short={}, short_by_workload={}, exact=set())


def test_four_small_nodes_of_two_zones_merge_onto_two_larger_nodes_of_a_third(tmp_path):
    # each small node is full: consolidation closes none, and the ruin of one node at a time
    # finds no node under 0.30 for its two replicas (nothing kept): 1.20. Two small nodes whose
    # services differ fit one big node (0.55 < 0.60), twice: 1.10, the least by hand
    problem = problem_from(tmp_path, SPLIT)
    floor = _split_floor(problem)
    assert verified_cost(problem, floor) == Fraction(6, 5)
    assert consolidate(problem, floor, "cost") == 0
    assert dear_nodes_ruined(problem, floor, "cost", None, give_up=None) == 0
    assert small_nodes_merged(problem, floor, "cost", None) == 2
    assert verified_cost(problem, floor) == _by_hand() == Fraction(11, 10)
    assert [len(floor.nodes.get(pool, [])) for pool in ("small_a", "small_c", "big")] == [0, 0, 2]
    assert small_nodes_merged(problem, floor, "cost", None) == 0  # nothing left to merge


def test_a_merge_that_does_not_cost_less_is_not_made(tmp_path):
    # at 0.60 a big node costs what the two small nodes it would close cost: kept as it is
    problem = problem_from(tmp_path, SPLIT.replace("0.55 USD/h", "0.6 USD/h"))
    floor = _split_floor(problem)
    assert small_nodes_merged(problem, floor, "cost", None) == 0
    assert verified_cost(problem, floor) == Fraction(6, 5)


def test_a_spread_replica_stays_in_its_zone(tmp_path):
    # the only small nodes whose services differ are a's two and c's two, and each pair holds
    # s1; spread over zones, s1 may not leave a and c for b (`equivalents` keeps its zone
    # counts), so no merge is made
    one_a_node = "  anti_affinity self on node\n"
    spread = SPLIT.replace(one_a_node + "}\n", one_a_node + "  spread zone max_skew 1\n}\n", 1)
    problem = problem_from(tmp_path, spread)
    floor = _split_floor(problem)
    assert small_nodes_merged(problem, floor, "cost", None) == 0
    assert verified_cost(problem, floor) == Fraction(6, 5)


def test_no_time_left_no_merge(tmp_path):
    problem = problem_from(tmp_path, SPLIT)
    floor = _split_floor(problem)
    assert small_nodes_merged(problem, floor, "cost", time.monotonic()) == 0
    assert verified_cost(problem, floor) == Fraction(6, 5)


def test_the_search_merges_before_its_ruin(tmp_path, monkeypatch):
    # the search's later stages see the merged packing
    problem = problem_from(tmp_path, SPLIT)
    floor = _split_floor(problem)
    seen: list[Fraction] = []

    def recorded(problem, packing, objective, deadline, give_up=None) -> int:
        seen.append(verified_cost(problem, packing))
        return 0

    monkeypatch.setattr(search_stages, "dear_nodes_ruined", recorded)
    search_stages.searched(problem, floor, "cost", time.monotonic() + 5, lambda *args: None, None)
    assert seen == [Fraction(11, 10)]


def test_the_search_merges_again_what_the_dear_room_leaves(tmp_path, monkeypatch):
    # the dear room moves replicas off cheap nodes (here: stands in for it by handing back the
    # split floor, as if it had made it): what it leaves is merged again before the rest
    problem = problem_from(tmp_path, SPLIT)
    floor = _split_floor(problem)
    merged_first: list[Fraction] = []

    def dear_room(problem, packing, objective, deadline) -> bool:
        merged_first.append(verified_cost(problem, packing))
        packing.nodes.clear()
        packing.nodes.update(_split_floor(problem).nodes)
        return True

    seen: list[Fraction] = []

    def crossing(problem, packing, objective, deadline) -> int:
        seen.append(verified_cost(problem, packing))
        return 0

    monkeypatch.setattr(search_stages, "dear_room_filled", dear_room)
    monkeypatch.setattr(search_stages, "crossing_room", crossing)
    search_stages.searched(problem, floor, "cost", time.monotonic() + 5, lambda *args: None, None)
    assert merged_first == [Fraction(11, 10)] and seen == [Fraction(11, 10)]


RULES = ["", "  anti_affinity self on node\n", "  spread zone max_skew 1\n", "  anti_affinity web0 on node\n",
         "  anti_affinity web0 on zone\n", '  require zone == "z1"\n', "  exclusive = true\n"]


def _random_fleet(rng: random.Random) -> str:
    text = ""
    for zone in ("z1", "z2", "z3"):
        for name, cpus, count in (("big", 16, 2), ("mid", 8, 3), ("small", 4, 6)):
            price = float(Fraction(rng.randint(cpus * 4, cpus * 8), 100))
            text += pool(f"{name}{zone}", count, cpus, "64GiB", price, f'  zone = "{zone}"\n')
    for k in range(rng.randint(2, 5)):
        rule = rng.choice(RULES) if k else ""
        text += workload(f"web{k}", rng.randint(2, 8), rng.choice([1, 2, 3]), "1GiB", rule)
    return text


def _merged(problem) -> tuple[Fraction, Fraction, int] | None:
    """The greedy floor consolidated, then merged: its cost before and after (`verify`
    accepts both) and the merges made; None where the floor is short."""
    floor, cut = greedy_floor(problem)
    if cut or not floor.complete:
        return None
    consolidate(problem, floor, "cost")
    before = verified_cost(problem, floor)
    made = small_nodes_merged(problem, floor, "cost", None)
    return before, verified_cost(problem, floor), made


def test_on_random_three_zone_fleets_every_merge_keeps_every_rule_and_costs_less(tmp_path):
    # 30 fleets (`random.Random(35)`) of three CPU classes a zone and workloads with zone
    # spreads, node and zone anti-affinity, a zone rule and exclusive nodes: every merged
    # packing is accepted by `verify` and costs less exactly where a merge was made; that
    # merges are made on some is counted, not assumed
    rng = random.Random(35)
    found = [_merged(problem_from(tmp_path, _random_fleet(rng), f"p{index}.fit")) for index in range(30)]
    outcomes = [outcome for outcome in found if outcome is not None]
    for before, after, made in outcomes:
        assert after <= before and (after < before) == (made > 0), (before, after, made)
    assert len(outcomes) >= 20 and sum(after < before for before, after, _ in outcomes) >= 1


def test_the_nodes_movable_classes_are_listed_only_until_the_deadline(tmp_path, monkeypatch):
    # 20 small nodes of one replica each; listing where one node's replicas may go takes a
    # second of a patched clock and the stage has 5. It stops within a node of its deadline,
    # having changed nothing it cannot keep. Before, the clock was read every 64 nodes: on
    # `bench/many_workloads.py` 10,000 / 1,500 (each node's ~11 workloads asking their classes
    # sorted among 1,500) the stage ran 5 CPU s past its deadline; here 15 s past
    problem = problem_from(tmp_path, pool("small", 20, 4, "16GiB", 0.30) + pool("big", 2, 16, "64GiB", 0.55)
                           + workload("one", 20, 3, "1GiB"))
    free = {"cpu": 1000, "memory": 15 * 2**30, "gpu": 0, "disk": 0}
    packing = Packing(nodes={"small": [NodeState(name, dict(free), {"one": 1})
                                       for name in problem.node_class("small").node_names]})
    assert verified_cost(problem, packing) == 6
    now = [1000.0]
    allowed = small_merged._Merges._allowed

    def slow_allowed(self, node, origin):
        now[0] += 1.0
        return allowed(self, node, origin)

    monkeypatch.setattr(time, "monotonic", lambda: now[0])
    monkeypatch.setattr(small_merged._Merges, "_allowed", slow_allowed)
    deadline = now[0] + 5.0
    small_nodes_merged(problem, packing, "cost", deadline)
    assert now[0] <= deadline + 1.0
    assert verified_cost(problem, packing) <= 6


def test_the_movable_classes_as_a_set_are_those_listed_in_order(tmp_path):
    # the stage asks where a node's replicas may go as unordered sets (`movable_ids`, no sort):
    # on 10 of the random fleets, for every workload and class it may use, the same classes
    # as `movable`'s cheapest-first list (a gang's in its cluster)
    rng = random.Random(36)
    for index in range(10):
        problem = problem_from(tmp_path, _random_fleet(rng), f"q{index}.fit")
        search = _Search(problem, Packing(), "cost")
        for demand in problem.demands:
            for origin in map(problem.node_class, demand.eligible):
                listed = {c.id for c in search.movable(demand, origin)}
                assert search.movable_ids(demand, origin) == listed
                assert search.movable_ids(demand, origin) is search.movable_ids(demand, origin)
