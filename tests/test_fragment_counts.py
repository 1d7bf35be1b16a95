"""The fragment bound's child's counts packed in the solve (fitlang/solve/fragment_counts.py): the
model with the u(1) and u(3) rows counts a 4-CPU replica beside two of 2 on a 7.9-CPU node as
they pack, where the solve's own model sums them as a fluid."""

from __future__ import annotations

import time
from fractions import Fraction

from test_fragment_bound import _exact_optimum, _thirds

from fitlang.model.problem import RESOURCES
from fitlang.solve import clock
from fitlang.solve.fragment_bound import Found, fragment_bound_beside, fragment_found
from fitlang.solve.fragment_counts import cheaper_floor, fragment_packed, taken_first
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.placement_result import _packed_value
from fitlang.solve.search_stages import searched


def test_the_childs_solution_packs_at_the_optimum_where_halves_and_quarters_overfill_a_node(tmp_path):
    # 6 x 4 CPUs and 12 x 2 on 7.9-CPU nodes: the model with the rows counts 8 nodes, and its
    # counts, made whole and packed, place every replica on 8
    problem = _thirds(tmp_path)
    found = fragment_found(problem, "cost", float("inf"), 60.0)
    assert found is not None and found.solution is not None and found.value == 8
    packing = fragment_packed(problem, found, "cost", None)
    assert packing is not None and packing.complete
    assert _packed_value(problem, packing, "cost") == _exact_optimum(problem) == 8


def test_a_dearer_floor_gives_way_to_the_childs_counts_and_a_cheaper_one_stays(tmp_path):
    problem = _thirds(tmp_path)
    dear = _spread_out(problem)
    assert _packed_value(problem, dear, "cost") == 12
    beside = fragment_bound_beside(problem, "cost", 20.0)
    assert beside is not None
    try:
        assert beside._pending.waited(20.0)  # (its answer in: the optimum's counts)
        cheaper = cheaper_floor(problem, dear, beside, "cost", None)
        assert cheaper is not None and _packed_value(problem, cheaper, "cost") == 8
        assert cheaper_floor(problem, cheaper, beside, "cost", None) is None  # nothing cheaper than 8
    finally:
        beside.stop()


def _spread_out(problem) -> Packing:
    """Each x beside one y, the other six y alone: 12 nodes."""
    node_class = problem.classes[0]
    nodes = []
    for name, hosted in zip(node_class.node_names, [{"x": 1, "y": 1}] * 6 + [{"y": 1}] * 6, strict=False):
        free = {r: node_class.capacity[r] - sum(problem.demand(w).requests[r] * n for w, n in hosted.items())
                for r in RESOURCES}
        nodes.append(NodeState(name, free, dict(hosted)))
    return Packing(nodes={node_class.id: nodes})


def test_with_no_user_limit_the_solve_waits_for_the_childs_answer(tmp_path):
    # `fitc`'s default limit (its CPU clock): the counts taken are the child's at the end of its
    # count of work, not what it told by the time this process asked (that depends on the load);
    # its answer is then in, the bound with it
    problem = _thirds(tmp_path)
    with clock.counted_on_the_cpu(60.0, 0.0):
        beside = fragment_bound_beside(problem, "cost", 60.0)
        assert beside is not None
        found = beside.found()
    assert found is not None and found.value == 8 and found.bound == 8
    assert beside._pending.done() and beside.collected() == Fraction(8)


class _Telling:
    """A stand-in for the child beside (`FragmentBeside`): `found()` the solution it has told
    by now, set by the test."""

    def __init__(self) -> None:
        self.told: Found | None = None

    def found(self) -> Found | None:
        return self.told


def test_the_childs_newer_solutions_are_taken_during_the_search_each_once(tmp_path):
    # the take before the search had only a first incumbent, dearer than the floor (seed 22 at
    # 20 s: 283.06, session 53); the child's optimum told later is packed then, and each
    # solution once: asked again with nothing newer, nothing is packed
    problem = _thirds(tmp_path)
    dear, child = _spread_out(problem), _Telling()
    child.told = Found(None, Fraction(15), None)
    before, takes = taken_first(problem, dear, child, "cost", None)  # type: ignore[arg-type]
    assert before is None and takes is not None
    assert takes(dear) is None  # (nothing newer)
    child.told = fragment_found(problem, "cost", float("inf"), 60.0)
    taken = takes(dear)
    assert taken is not None and _packed_value(problem, taken, "cost") == 8
    assert takes(dear) is None  # (that solution tried already)


def test_the_search_begins_again_from_a_packing_taken_meanwhile(tmp_path):
    # a search out of time does not move the floor; the packing `taken` gives before its first
    # stage is the one it goes on from, and the answer
    problem = _thirds(tmp_path)
    dear = _spread_out(problem)
    found = fragment_found(problem, "cost", float("inf"), 60.0)
    assert found is not None
    child_packing = fragment_packed(problem, found, "cost", None)
    given: list[Packing] = []

    def taken(packing: Packing) -> Packing | None:
        if given:
            return None
        given.append(packing)
        return child_packing

    answer = searched(problem, dear, "cost", time.monotonic(), lambda *told: None, None, taken=taken)
    assert given == [dear]
    assert answer is child_packing and _packed_value(problem, answer, "cost") == 8
