"""The first guided pass kept by its value after the search's ruin, not before it
(ruined_choice.py, `placement._ruined_first`); where the LP mixes options, the fractional pass
with every option group whole among the first passes. Values held to `verify`, counted by hand."""

from __future__ import annotations

import time
from fractions import Fraction

import pytest
from test_accelerator_repack import FLEET, _greedy
from test_bounds_aside import _run

from fitlang.solve import placement, search_stages
from fitlang.solve.gang_quotas import LPCounts
from fitlang.solve.greedy import Guide
from fitlang.solve.pack import Packing, pack
from fitlang.solve.ruined_choice import ranked, ruined_choice

from solving import node_state, problem_from, verified_cost

# two 4-CPU nodes at 1 USD/h, one 8-CPU node at 1.50; 8 one-CPU replicas. `both_small` (the
# two small nodes, full: 2) cannot be ruined cheaper: a full small node's 4 replicas fit only
# on the large node, 1 + 1.50. `mixed` (a full small node and the large one half full: 2.50)
# is dearer, and its ruin moves the small node's replicas into the large one's room: 1.50,
# the least by hand (8 CPUs on one 8-CPU node, or two 4-CPU nodes at 2)
TWO_SHAPES = '''pool a {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
}

pool b {
  count = 1
  cpu = 8
  memory = 32GiB
  price = 1.50 USD/h
}

workload web {
  replicas = 8
  cpu = 1
  memory = 1GiB
}
'''


def _passes(problem):
    both_small = pack(problem, {("web", "a"): 8}, {"a": 2})
    mixed = pack(problem, {("web", "a"): 4, ("web", "b"): 4}, {"a": 1, "b": 1})
    return both_small, mixed


def test_the_pass_cheaper_after_its_ruin_is_kept_not_the_cheaper_before(tmp_path):
    problem = problem_from(tmp_path, TWO_SHAPES)
    both_small, mixed = _passes(problem)
    assert (verified_cost(problem, both_small), verified_cost(problem, mixed)) == (2, Fraction(5, 2))
    # before: the cheapest pass (2) is kept, and its ruin finds nothing
    assert ranked(problem, [mixed, both_small], "cost")[0] is both_small
    chosen = ruined_choice(problem, [mixed, both_small], "cost", time.monotonic() + 30)
    assert chosen is not None and chosen.packing is mixed and chosen.ruined
    assert verified_cost(problem, chosen.packing) == Fraction(3, 2)


def test_passes_alike_in_value_are_ruined_once_and_short_ones_not_at_all(tmp_path):
    problem = problem_from(tmp_path, TWO_SHAPES)
    both_small, mixed = _passes(problem)
    again, _ = _passes(problem)
    short = pack(problem, {("web", "a"): 9}, {"a": 2})
    assert not short.complete
    assert ranked(problem, [short, both_small, again, mixed], "cost") == [both_small, mixed]
    assert ruined_choice(problem, [short], "cost", None) is None


def test_without_the_time_for_a_ruin_the_cheapest_pass_is_kept_as_not_ruined(tmp_path):
    problem = problem_from(tmp_path, TWO_SHAPES)
    both_small, mixed = _passes(problem)
    chosen = ruined_choice(problem, [mixed, both_small], "cost", time.monotonic() - 1)
    assert chosen is not None and chosen.packing is both_small and not chosen.ruined
    assert verified_cost(problem, mixed) == Fraction(5, 2)  # not ruined either


def test_the_solve_keeps_the_pass_cheaper_after_the_ruin_and_does_not_ruin_it_again(tmp_path, monkeypatch):
    problem = problem_from(tmp_path, TWO_SHAPES)
    both_small, mixed = _passes(problem)
    run = _run(problem, both_small, 30.0)
    placement._ruined_first(run, [None, mixed])
    assert run.floor is mixed and run.ruined is mixed and verified_cost(problem, run.floor) == Fraction(3, 2)
    ruined: list[object] = []
    monkeypatch.setattr(search_stages, "dear_nodes_ruined", lambda *args, **kwargs: ruined.append(args) or 0)
    search_stages.searched(problem, run.floor, "cost", time.monotonic() + 0.5, lambda *said: None, None,
                           ruined=True)
    assert ruined == []


@pytest.mark.parametrize("floor_seconds, chosen", [(5.0, True), (10.0, False)])
def test_the_choice_is_made_only_where_the_time_left_holds_it(tmp_path, floor_seconds, chosen):
    # 30 s left: with the floor's pass and polish 5 s (CHOICE_FLOORS of them fit) the pass cheaper
    # after its ruin is kept, ruined; with 10 s the passes are left to the search in its own order,
    # its zones' repacking before its ruin (inventory 10,000 at 5 s: 1.9-2.2 CPU s left, 2-3 floors'
    # time; the search alone cheaper on six seeds). The start tree made the choice in both
    problem = problem_from(tmp_path, TWO_SHAPES)
    both_small, mixed = _passes(problem)
    run = _run(problem, both_small, 30.0)
    run.floor_seconds = floor_seconds
    placement._ruined_first(run, [None, mixed])
    assert (run.floor is mixed, run.ruined is mixed) == (chosen, chosen)
    assert verified_cost(problem, run.floor) == (Fraction(3, 2) if chosen else 2)


def test_where_the_accelerator_mip_has_much_to_move_the_passes_are_left_to_the_search(tmp_path):
    # every node holds accelerator work the search's first stage re-places (a region with a power
    # cap): the time of the ruin before the choice goes to that stage (seed 1 of the accelerator
    # shape: the ruin took 0.93 of 1.2 CPU s left). Neither the greedy (92) nor a pass with the
    # gang in `cold` (94) is ruined; the floor is left to the search: 89
    problem = problem_from(tmp_path, FLEET.replace("{cap}", "21"))
    floor = _greedy(problem)
    cold = Packing({"h100_cold": [node_state(problem, "h100_cold", i, {"train": 1}) for i in range(2)],
                    "l4_cold": [node_state(problem, "l4_cold", i, {"infer": 4}) for i in range(2)]})
    assert (verified_cost(problem, floor), verified_cost(problem, cold)) == (92, 94)
    run = _run(problem, floor, 30.0)
    placement._ruined_first(run, [cold])
    assert run.floor is floor and run.ruined is None
    searched = search_stages.searched(problem, run.floor, "cost", time.monotonic() + 30, lambda *said: None,
                                      None)
    assert verified_cost(problem, searched) == 89


def test_where_the_lp_mixes_options_the_fractional_pass_also_runs_with_every_group_whole():
    suggested = ({"infer": ["L4", "L40S"]}, {"infer": frozenset({"l4", "l40s"})})
    mixes = {"infer": {"L4": 2, "L40S": 3}}
    guides = placement._guides(suggested, LPCounts(mixes=mixes))
    fractional = [guide for guide in guides if guide.fractional]
    assert [guide.mixes for guide in fractional] == [mixes, {}]
    assert guides[-1] == Guide({"infer": ["L4", "L40S"]})
    assert len(placement._guides(suggested, LPCounts())) == 3  # no mixes: no unmixed copy
