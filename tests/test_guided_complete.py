"""A guided pass a few replicas short, completed where room can be made (`guided_complete.py`,
issue 15, session 37): with the pair LP's batch mixes filled first, the zone-spread services
of a region found its CPU nodes full; the retries placed the pass again whole and left it short."""

from __future__ import annotations

import pytest

from solving import bench_module, problem_from


@pytest.fixture(scope="module")
def ai2000(tmp_path_factory):
    # bench/ai_fleet.py at 2,000 nodes, seed 3: every LP-guided pass with the mixes, in the order
    # the floor learned, leaves 4 replicas out
    ai_fleet = bench_module("ai_fleet")
    tmp_path = tmp_path_factory.mktemp("ai2000")
    path, _ = ai_fleet.write(ai_fleet.generate(2000, 200, 3), tmp_path, "ai2000")
    return problem_from(tmp_path, path.read_text(), "ai2000.fit")


@pytest.fixture(scope="module")
def learned_floor(ai2000):
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.short_order import ShortFirst

    learned = ShortFirst()
    floor, _ = greedy_floor(ai2000, short_first=True, learned=learned.names)
    assert floor.complete and learned.names
    return floor, learned


@pytest.fixture(scope="module")
def first_guide(ai2000):
    from fitlang.solve.bound import lower_bound
    from fitlang.solve.bound_stages import suggested
    from fitlang.solve.gang_quotas import lp_counts
    from fitlang.solve.placement import _guides

    relaxed = lower_bound(ai2000, "cost")
    guide = _guides(suggested(relaxed), lp_counts(ai2000, relaxed))[0]
    assert guide.nodes  # the LP's mixes, filled first
    return guide


def _short_pass(problem, guide, learned):
    from fitlang.solve.short_order import ShortFirst, short_first_pass

    passed, cut = short_first_pass(problem, ShortFirst(set(learned.names)), None, guide)
    assert not cut and 0 < sum(passed.short.values()) <= 32
    return passed


def test_a_pass_a_few_replicas_short_is_completed_and_keeps_every_rule(ai2000, learned_floor, first_guide):
    from fitlang.solve.guided_complete import guided_completed
    from fitlang.solve.make_room import left_out
    from fitlang.solve.pair_pack import verified

    passed = _short_pass(ai2000, first_guide, learned_floor[1])
    assert guided_completed(ai2000, passed, "cost", None, 60.0)
    assert sum(left_out(ai2000, passed)) == 0 and verified(ai2000, passed)


def test_the_guided_passes_keep_the_completed_pass_where_a_short_one_was_dropped(
        ai2000, learned_floor, first_guide):
    from fitlang.solve.placement import _cheapest_guided
    from fitlang.solve.placement_result import _packed_value
    from fitlang.solve.short_order import ShortFirst

    floor, learned = learned_floor
    # the child's passes (`_bounds_aside`) and the pass beside it drop a short pass: no retries
    kept = _cheapest_guided(ai2000, floor, [first_guide], "cost", None, None, retry_short=False,
                            learned=ShortFirst(set(learned.names), at_once=True))
    assert kept is not floor and kept.complete
    assert _packed_value(ai2000, kept, "cost") < _packed_value(ai2000, floor, "cost")


def test_a_pass_short_by_more_than_a_few_is_left_to_the_retries(ai2000, learned_floor, first_guide,
                                                                  monkeypatch):
    from fitlang.solve import guided_complete

    passed = _short_pass(ai2000, first_guide, learned_floor[1])
    short = dict(passed.short)
    monkeypatch.setattr(guided_complete, "MOST_SHORT", sum(short.values()) - 1)
    assert not guided_complete.guided_completed(ai2000, passed, "cost", None, 60.0)
    assert passed.short == short  # untouched
