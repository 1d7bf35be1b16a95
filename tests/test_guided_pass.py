"""One LP-guided pass (`guided_pass.py`, issue 15, session 38): a pass with the LP's mixes
short where the floor learned no order goes again with its shorts first; a pass in the learned
order that learned nothing new is not made again; where the time left does not hold another
pass, the last one is completed in place instead."""

from __future__ import annotations

import time

import pytest

from solving import bench_module, problem_from


def _ai_fleet(tmp_path_factory, nodes: int, workloads: int, seed: int):
    ai_fleet = bench_module("ai_fleet")
    tmp_path = tmp_path_factory.mktemp(f"ai{nodes}-{seed}")
    path, _ = ai_fleet.write(ai_fleet.generate(nodes, workloads, seed), tmp_path, "ai")
    return problem_from(tmp_path, path.read_text(), "ai.fit")


def _first_guide(problem):
    from fitlang.solve.bound import lower_bound
    from fitlang.solve.bound_stages import suggested
    from fitlang.solve.gang_quotas import lp_counts
    from fitlang.solve.placement import _guides

    relaxed = lower_bound(problem, "cost")
    guide = _guides(suggested(relaxed), lp_counts(problem, relaxed))[0]
    assert guide.nodes  # the LP's mixes, filled first
    return guide


@pytest.fixture(scope="module")
def ai2(tmp_path_factory):
    # bench/ai_fleet.py at 1,000 nodes, seed 2: the first guide's pass with the mixes, in the
    # priority order, leaves 15 replicas out; with those first, none (18, then 2, then none
    # before later sessions' passes and the gpu block's default family, session 54)
    problem = _ai_fleet(tmp_path_factory, 1000, 100, 2)
    return problem, _first_guide(problem)


@pytest.fixture(scope="module")
def ai8(tmp_path_factory):
    # seed 8: the first guide's pass with its shorts first leaves 1 replica out (seed 2 did 2
    # until bought nodes held their root disk's ephemeral storage, session 50: now none)
    problem = _ai_fleet(tmp_path_factory, 1000, 100, 8)
    return problem, _first_guide(problem)


@pytest.fixture(scope="module")
def ai44(tmp_path_factory):
    # seed 44: the first guide's pass in the order the floor learned leaves 5 out, and so does the
    # pass with those 5 first: it learns nothing new (seed 1, whose first pass left out only
    # workloads learned already, until a gpu block naming no model asked for family == gpu)
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.short_order import ShortFirst

    problem = _ai_fleet(tmp_path_factory, 1000, 100, 44)
    learned = ShortFirst()
    floor, _ = greedy_floor(problem, short_first=True, learned=learned.names)
    assert floor.complete and learned.names
    return problem, _first_guide(problem), frozenset(learned.names)


@pytest.fixture
def passes(monkeypatch) -> list[int]:
    """The replicas each pass in a learned order leaves out, in order."""
    from fitlang.solve import short_order

    made: list[int] = []
    in_order = short_order.greedy_in_order

    def counted(*args, **keywords):
        packing, cut = in_order(*args, **keywords)
        made.append(sum(packing.short.values()))
        return packing, cut

    monkeypatch.setattr(short_order, "greedy_in_order", counted)
    return made


@pytest.fixture
def no_completion(monkeypatch):
    from fitlang.solve import guided_complete

    monkeypatch.setattr(guided_complete, "MOST_SHORT", 0)


def test_a_mixed_pass_short_where_no_order_was_learned_goes_again_with_its_shorts_first(
        ai2, passes, no_completion):
    # (no order learned: as where the floor's first pass placed every replica, ai_fleet 10,000
    # seed 13, whose four first guides' passes were each dropped short by 24-37 replicas)
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.make_room import left_out
    from fitlang.solve.pair_pack import verified
    from fitlang.solve.placement import _cheapest_guided
    from fitlang.solve.short_order import ShortFirst

    problem, guide = ai2
    floor, _ = greedy_floor(problem, short_first=True)
    assert floor.complete
    assert not greedy_floor(problem, None, guide, plain_too=False)[0].complete  # the priority order
    learned = ShortFirst()
    best = _cheapest_guided(problem, floor, [guide], "cost", None, None, retry_short=False, learned=learned)
    assert best is not floor and best.complete
    assert sum(left_out(problem, best)) == 0 and verified(problem, best)
    assert passes and passes[-1] == 0 and learned.names  # (what it learned: for the next guides)


def test_a_pass_in_the_learned_order_that_learned_nothing_new_is_not_made_again(ai44, passes, no_completion):
    from fitlang.solve.guided_pass import guided_pass
    from fitlang.solve.short_order import ShortFirst

    problem, guide, names = ai44
    learned = ShortFirst(set(names))
    guided, cut = guided_pass(problem, guide, "cost", None, learned)
    assert not cut and not guided.complete
    assert len(passes) == 2 and passes[0] == passes[1]  # (a third, the same pass, was made before)


def test_where_the_time_left_holds_no_other_pass_the_last_is_completed_in_place(ai8, passes, monkeypatch):
    from fitlang.solve import guided_pass as module
    from fitlang.solve import short_order
    from fitlang.solve.guided_pass import guided_pass
    from fitlang.solve.make_room import left_out
    from fitlang.solve.pair_pack import verified
    from fitlang.solve.short_order import ShortFirst

    problem, guide = ai8
    monkeypatch.setattr(short_order, "_holds", lambda deadline, seconds: False)
    # (the workloads bound to the zones of its shorts not put behind them, zone_bound.py: with
    # them the pass in the learned order places every replica, and nothing is left to complete)
    monkeypatch.setattr(short_order, "bound_to_short_zones", lambda problem, packing: set())
    completed = module.guided_completed  # (in the pass's time; here a loaded machine's are not told)
    monkeypatch.setattr(module, "guided_completed", lambda problem, packing, objective, deadline, seconds:
                        completed(problem, packing, objective, deadline, 60.0))
    guided, cut = guided_pass(problem, guide, "cost", None, ShortFirst())
    assert passes == [1]  # one pass with its shorts first, 1 short: completed, not made again
    assert not cut and guided.complete and sum(left_out(problem, guided)) == 0 and verified(problem, guided)


def test_after_a_pass_kept_the_next_begins_only_where_the_time_left_holds_one_as_long_as_the_last():
    from fitlang.solve.guided_pass import next_pass_fits
    from fitlang.solve.short_order import ShortFirst

    now = time.monotonic()
    assert next_pass_fits(None, now + 0.01)  # (no pass in a learned order: as before)
    assert next_pass_fits(ShortFirst({"a"}), now + 0.01)
    assert next_pass_fits(ShortFirst({"a"}, pass_seconds=0.5), None)
    assert next_pass_fits(ShortFirst({"a"}, pass_seconds=0.5), now + 60)
    assert not next_pass_fits(ShortFirst({"a"}, pass_seconds=0.5), now + 0.1)


def test_the_guided_passes_stop_where_the_next_would_be_cut(ai2, monkeypatch):
    # a pass in the learned order took 10 s (as told): with 5 s left after the first guide's pass,
    # the second guide's is not begun (it would be cut, and its time is the ruin's after it)
    from fitlang.solve import guided_pass as module
    from fitlang.solve.greedy import Guide, greedy_floor
    from fitlang.solve.placement import _cheapest_guided
    from fitlang.solve.short_order import ShortFirst

    problem, guide = ai2
    floor, _ = greedy_floor(problem, short_first=True)
    made: list[Guide] = []
    passed = module.guided_pass

    def told(problem, guide, objective, deadline, learned):
        made.append(guide)
        result = passed(problem, guide, objective, None, learned)
        learned.pass_seconds = 10.0
        return result

    monkeypatch.setattr(module, "guided_pass", told)
    monkeypatch.setattr("fitlang.solve.placement.guided_pass", told)
    deadline = time.monotonic() + 5.0
    best = _cheapest_guided(problem, floor, [guide, Guide()], "cost", None, deadline, retry_short=False,
                            learned=ShortFirst())
    assert best is not floor and best.complete and made == [guide]

