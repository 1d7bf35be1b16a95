"""The per-node model over the nodes the relaxed model counted, and the same-price classes
beside them, where `pack` falls short (counted_exact.py). Costs counted by hand, every
packing held to `verify`."""

from __future__ import annotations

import dataclasses
import time
from fractions import Fraction

from fitlang.model.problem import one_class_per_node
from fitlang.solve import backends, placement
from fitlang.solve import counted_exact as counted_exact_module
from fitlang.solve.counted_exact import _solved, counted_exact
from fitlang.solve.encode import encode
from fitlang.solve.pack import Packing, pack

from solving import pool, problem_from, solved, verified_packing, workload

# a and b: three 4-CPU nodes each at 1 USD/h, in zones a and b; c: two 8-CPU nodes at 3, in
# zone b. w: 4 replicas of 3 CPU, spread over the zones with a skew of at most 1. A 4-CPU node
# holds one replica, an 8-CPU node two: the least is 4 (two a nodes and two b nodes; three a
# and one b break the skew, c costs 1.50 a replica). The relaxed model's counts a 3, b 1 (4,
# the optimum's value) hold no placement; one b node more, the same price, completes it.
ZONES = (pool("a", 3, 4, "16Gi", 1, '  zone = "a"\n') + pool("b", 3, 4, "16Gi", 1, '  zone = "b"\n')
         + pool("c", 2, 8, "32Gi", 3, '  zone = "b"\n')
         + workload("w", 4, 3, "1Gi", "  spread zone max_skew 1\n"))
COUNTED = {"a": 3, "b": 1}


def _opened(packing: Packing) -> dict[str, int]:
    return {class_id: len(nodes) for class_id, nodes in packing.nodes.items() if nodes}


def test_a_same_price_class_beside_the_counted_nodes_completes_the_placement(tmp_path):
    problem = problem_from(tmp_path, ZONES)
    exact = counted_exact(problem, ["cost"], COUNTED, [("w", "a")], Fraction(4), time.monotonic() + 30)
    assert exact is not None
    found = exact.found()
    assert found is not None and found.complete
    assert verified_packing(problem, found).value == 4
    assert _opened(found) == {"a": 2, "b": 2}


def test_on_the_counted_nodes_alone_or_over_the_cutoff_nothing_is_found(tmp_path):
    problem = problem_from(tmp_path, ZONES)
    deadline = time.monotonic() + 30
    # no short replica: no class beside, and a 3 / b 1 break the skew
    alone = counted_exact(problem, ["cost"], COUNTED, [], Fraction(4), deadline)
    assert alone is not None and alone.found() is None
    # the relaxed value 3: the cutoff 3.15 is under the least placement (4)
    cut = counted_exact(problem, ["cost"], COUNTED, [("w", "a")], Fraction(3), deadline)
    assert cut is not None and cut.found() is None


def test_the_exact_placement_is_kept_only_where_it_is_cheaper_or_places_more(tmp_path):
    problem = problem_from(tmp_path, ZONES)
    deadline = time.monotonic() + 30
    on_c = pack(problem, {("w", "a"): 2, ("w", "c"): 2}, {"a": 2, "c": 1})  # 2 + 3
    assert verified_packing(problem, on_c).value == 5
    short = pack(problem, {("w", "a"): 3, ("w", "b"): 1}, {"a": 2, "b": 1})
    assert not short.complete
    least = pack(problem, {("w", "a"): 2, ("w", "b"): 2}, {"a": 2, "b": 2})  # 4, as the exact
    for given, kept_exact in ((on_c, True), (short, True), (least, False)):
        exact = counted_exact(problem, ["cost"], COUNTED, [("w", "a")], Fraction(4), deadline)
        assert exact is not None
        kept = exact.cheaper(given, "cost")
        assert (kept is not given) == kept_exact
        assert verified_packing(problem, kept).value == 4
    nothing = counted_exact(problem, ["cost"], COUNTED, [], Fraction(4), deadline)
    assert nothing is not None and nothing.cheaper(on_c, "cost") is on_c


def test_it_is_not_started_without_a_deadline_or_for_other_objectives(tmp_path):
    problem = problem_from(tmp_path, ZONES)
    assert counted_exact(problem, ["cost"], COUNTED, [("w", "a")], Fraction(4), None) is None
    later = time.monotonic() + 30
    assert counted_exact(problem, ["nodes"], COUNTED, [("w", "a")], Fraction(4), later) is None
    assert counted_exact(problem, ["cost"], COUNTED, [("w", "a")], Fraction(4), time.monotonic()) is None


def test_the_model_s_round_keeps_the_exact_placement_where_pack_falls_short(tmp_path, monkeypatch):
    """`_optimised`'s first round: `pack` made to leave every replica out (as on inventory 300
    seed 25, where it left 32 out and `repair` paid 24.29 for 15.34), the stage is started
    with the round's counted nodes, short replicas and relaxed value, and its placement kept."""
    problem = problem_from(tmp_path, ZONES)
    started: list[tuple] = []

    def recorded(*arguments):
        started.append(arguments)
        return counted_exact(*arguments)

    def left_out(problem_, counts, planned):
        packing = Packing()
        for (name, class_id), amount in counts.items():
            if amount:
                packing.add_short(name, class_id, amount)
        return packing

    monkeypatch.setattr(placement, "counted_exact", recorded)
    monkeypatch.setattr(placement, "pack", left_out)
    monkeypatch.setattr(placement, "completed", lambda problem_, counts, planned, packing, *rest: packing)
    answer = placement._optimised(problem, "highs", ["cost"], time.monotonic() + 20, True,
                                  lambda *progress: None, time.monotonic() + 20)
    assert len(started) == 1 and started[0][3]  # the short replicas
    assert answer is not None and not answer.unplaced and answer.value == 4


def test_the_per_node_model_holds_a_smaller_member_of_a_class_to_its_own_capacity(tmp_path):
    """An inventory's class states its largest member's capacity, a smaller node its own
    (`node_capacity`): node by node, each is its own. Inventory 300 seed 30's per-node optimum
    put 254.5 GiB on a node of 254.37, which `verify` rejects. Here a: two nodes, the second
    of 3 CPUs; b: one 4-CPU node at 2. Two 4-CPU replicas: one on a's first node, one on b: 3."""
    problem = problem_from(tmp_path, pool("a", 2, 4, "16Gi", 1) + pool("b", 1, 4, "16Gi", 2)
                           + workload("w", 2, 4, "1Gi"))
    a, b = problem.classes
    smaller = {a.node_names[1]: {**a.capacity, "cpu": 3000}}
    problem = dataclasses.replace(problem, classes=[dataclasses.replace(a, node_capacity=smaller), b])
    singles = {c.id: c.capacity["cpu"] for c in one_class_per_node(problem).classes}
    assert singles == {a.node_names[0]: 4000, a.node_names[1]: 3000, b.node_names[0]: 4000}
    assert solved(problem).value == 3


def test_highs_is_handed_only_the_open_nodes_columns(tmp_path, monkeypatch):
    """The closed nodes' columns (each node's `u` and its replica column) are taken out before
    HiGHS sees the model (`FixedOut`: without it, HiGHS carries them through every LP:
    inventory 300 seed 25's counted nodes, 2.1 CPU s against 0.7). The counted nodes a 3, b 1
    close b's other two nodes and c's two: four nodes, eight columns; then one b more opens."""
    problem = problem_from(tmp_path, ZONES)
    handed: list[int] = []
    highs_with = backends._highs_with

    def recorded(form):
        handed.append(form.c.size)
        return highs_with(form)

    monkeypatch.setattr(backends, "_highs_with", recorded)
    whole = len(encode(one_class_per_node(problem), must_place=True).model.variables)
    beside = {"a": 3, "b": 2}
    found = _solved(problem, (COUNTED, beside), 4.2, 30)
    assert found is not None and sum(len(hosted) for hosted in found.values()) == 4
    assert len(handed) == 2 and handed[0] <= whole - 8 and handed[1] <= whole - 6


def test_the_child_is_stopped_by_its_work_not_the_wall(tmp_path, monkeypatch):
    # the placement the first test finds, on a deadline far off: what ends the child short of
    # it is its own CPU time or HiGHS's node count (the same at any load), never seconds of wall
    problem = problem_from(tmp_path, ZONES)
    far = time.monotonic() + 3600
    for cap, none in (("EXACT_CPU_SECONDS", 0.0), ("EXACT_NODES", 0)):
        with monkeypatch.context() as patched:
            patched.setattr(counted_exact_module, cap, none)
            stopped = counted_exact(problem, ["cost"], COUNTED, [("w", "a")], Fraction(4), far)
            assert stopped is not None and stopped.found() is None, cap
    exact = counted_exact(problem, ["cost"], COUNTED, [("w", "a")], Fraction(4), far)
    assert exact is not None and (found := exact.found()) is not None and found.complete
