"""The second floor beside the child's bounds (`placement._room_floor`): the greedy pass with
the free room of the dearest open nodes filled first (`Guide.dear_room_first`), and the
child's guided floor weighed against the floor before its ruin (`placement._beats_unruined`).
Costs held to a hand count and to `verify`."""

from __future__ import annotations

from fractions import Fraction

from fitlang.solve import placement
from fitlang.solve.budget import Budget
from fitlang.solve.greedy import Guide, greedy_floor

from solving import pool, problem_from, verified_cost, workload

# `train` opens the GPU node (10 USD/h) and leaves 4 of its 8 CPUs free; `pinned` (small nodes
# only) opens a small node (1 USD/h) and leaves 3 free. `web` (3 CPUs, anywhere) comes next:
# into the cheapest class's room, the small node's, it leaves `late` (3 CPUs, small nodes
# only) a second small node: 12. Into the dearest class's room, the GPU node's, it leaves the
# small node's 3 CPUs to `late`: 11, the least (train needs the GPU node, pinned and late
# fill one small node's 4 CPUs exactly, web fits beside train)
SMALL_ONLY = '  require labels["kind"] == "small"\n'
ONE_GPU = "  gpu {\n    model = L4\n    count = 1\n  }\n"
ROOM = ('import "std/accelerators"\n'
        + pool("gpu", 1, 8, "32GiB", 10, ONE_GPU + '  labels = { "kind": "gpu" }\n')
        + pool("small", 4, 4, "16GiB", 1, '  labels = { "kind": "small" }\n')
        + workload("train", 1, 4, "8GiB", "  gpu {\n    count = 1\n  }\n  priority = 100\n")
        + workload("pinned", 1, 1, "1GiB", SMALL_ONLY + "  priority = 50\n")
        + workload("web", 1, 3, "1GiB", "  priority = 10\n")
        + workload("late", 1, 3, "1GiB", SMALL_ONLY + "  priority = 5\n"))


def _hosts(packing, workload: str) -> set[str]:
    return {class_id for class_id, nodes in packing.nodes.items()
            for node in nodes if workload in node.hosted}


def test_the_dearest_open_nodes_room_first_leaves_the_cheap_room_to_what_may_use_nothing_else(tmp_path):
    problem = problem_from(tmp_path, ROOM)
    cheapest_first, _ = greedy_floor(problem)
    assert _hosts(cheapest_first, "web") == {"small"} and verified_cost(problem, cheapest_first) == 12
    dearest_first, _ = greedy_floor(problem, None, Guide(dear_room_first=True))
    assert _hosts(dearest_first, "web") == {"gpu"} and verified_cost(problem, dearest_first) == 11


def _run(problem, floor, rebuilt: bool = False) -> placement._Run:
    run = placement._Run(problem, "auto", ["cost"], Budget.starting_now(30.0), lambda *said: None, True)
    run.floor, run.search_deadline, run.floor_seconds, run.rebuilt = floor, run.budget.deadline, 0.01, rebuilt
    return run


def test_the_second_floor_replaces_the_floor_where_cheaper_and_says_its_value_before_the_ruin(tmp_path):
    problem = problem_from(tmp_path, ROOM)
    floor, _ = greedy_floor(problem)
    run = _run(problem, floor)
    placement._room_floor(run)
    assert run.floor is not floor and verified_cost(problem, run.floor) == 11 and run.unruined == 11


def test_no_second_floor_where_the_floor_is_rebuilt_or_the_time_left_is_short(tmp_path):
    problem = problem_from(tmp_path, ROOM)
    floor, _ = greedy_floor(problem)
    rebuilt = _run(problem, floor, rebuilt=True)
    placement._room_floor(rebuilt)
    short = _run(problem, floor)
    short.floor_seconds = 10.0  # four of them do not fit in the 30 s left
    placement._room_floor(short)
    for run in (rebuilt, short):
        assert run.floor is floor and run.unruined is None


def test_the_childs_floor_is_weighed_against_the_floor_before_its_ruin_where_the_second_floor_ran(tmp_path):
    # the floor here (11) was 13 before its ruin: the child's guided floor (12) beats that, and
    # the search's own ruin starts from it; without the second floor, against the floor as it is
    problem = problem_from(tmp_path, ROOM)
    ruined, _ = greedy_floor(problem, None, Guide(dear_room_first=True))
    passed, _ = greedy_floor(problem)
    run = _run(problem, ruined)
    assert not placement._beats_unruined(run, passed)
    run.unruined = Fraction(13)
    assert placement._beats_unruined(run, passed)
    run.unruined = Fraction(12)
    assert not placement._beats_unruined(run, passed)
