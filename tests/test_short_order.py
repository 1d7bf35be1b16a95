"""The guided passes with the workloads the passes before them left short placed first
(`short_order.py`, issue 15, session 35): the LP's guide in the priority order meets the wall
the floor met (a region filled by workloads that may go anywhere before the ones bound to it)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from solving import bench_module, problem_from


@pytest.fixture(scope="module")
def ai1000(tmp_path_factory):
    # bench/ai_fleet.py at 1,000 nodes, seed 11: the floor's first pass leaves replicas out
    # (its short-first pass then places all), and so does every LP-guided pass in the
    # priority order, `scarce_first` after it too
    ai_fleet = bench_module("ai_fleet")
    tmp_path = tmp_path_factory.mktemp("ai1000")
    path, _ = ai_fleet.write(ai_fleet.generate(1000, 100, 11), tmp_path, "ai1000")
    return problem_from(tmp_path, path.read_text(), "ai1000.fit")


@pytest.fixture(scope="module")
def first_guide(ai1000):
    from fitlang.solve.bound import lower_bound
    from fitlang.solve.bound_stages import suggested
    from fitlang.solve.gang_quotas import lp_counts
    from fitlang.solve.placement import _guides

    relaxed = lower_bound(ai1000, "cost")
    # without the LP's mixes filled first (lp_mixes.py): dealt node by node (session 37), they
    # leave this fleet's retry as it was nothing short
    return replace(_guides(suggested(relaxed), lp_counts(ai1000, relaxed))[0], nodes=())


def _floor_learned(problem):
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.short_order import ShortFirst

    learned = ShortFirst()
    floor, _ = greedy_floor(problem, short_first=True, learned=learned.names)
    return floor, learned


def test_the_floor_records_the_workloads_its_short_first_pass_put_first(ai1000):
    from fitlang.solve.greedy import greedy_floor

    floor, learned = _floor_learned(ai1000)
    assert floor.complete and learned.names
    plain, _ = greedy_floor(ai1000)  # the priority order alone leaves exactly those short
    assert not plain.complete
    assert learned.names == {name for name, _ in plain.short_by_workload}


def test_a_retried_guided_pass_in_the_learned_order_places_every_replica(ai1000, first_guide):
    from fitlang.solve.greedy import greedy_floor, plain_order_too
    from fitlang.solve.make_room import left_out
    from fitlang.solve.scarce_first import scarce_first
    from fitlang.solve.short_order import retried_pass

    first, _ = greedy_floor(ai1000, None, first_guide, plain_too=False)  # the guide's first pass
    assert not first.complete
    before = scarce_first(ai1000, plain_order_too(ai1000, first, None, first_guide), None, first_guide)
    assert sum(left_out(ai1000, before)) > 0  # the retry as it was
    _, learned = _floor_learned(ai1000)
    passed = retried_pass(ai1000, first_guide, first, None, learned, lambda short, by: scarce_first(
        ai1000, plain_order_too(ai1000, short, None, by), None, by))
    assert passed.complete and sum(left_out(ai1000, passed)) == 0
    assert learned.failed is not None  # what the retry as it was took, for the next guide


def test_a_pass_still_short_adds_its_shorts_for_the_next(ai1000, first_guide):
    from fitlang.solve.short_order import ShortFirst, short_first_pass

    _, learned = _floor_learned(ai1000)
    one = ShortFirst(set(list(learned.names)[:1]))  # too few first: the pass learns the rest
    passed, cut = short_first_pass(ai1000, one, None, first_guide)
    assert not cut and passed.complete
    assert len(one.names) > 1


def test_a_retry_the_plain_order_completes_learns_nothing(tmp_path):
    from fitlang.solve.greedy import Guide, greedy_floor, plain_order_too
    from fitlang.solve.scarce_first import scarce_first
    from fitlang.solve.short_order import ShortFirst, retried_pass

    ai_fleet = bench_module("ai_fleet")
    path, _ = ai_fleet.write(ai_fleet.generate(300, 40, 2), tmp_path, "ai300")
    problem = problem_from(tmp_path, path.read_text(), "ai300.fit")
    learned = ShortFirst()
    first, _ = greedy_floor(problem, None, Guide(), plain_too=False)
    passed = retried_pass(problem, Guide(), first, None, learned, lambda short, by: scarce_first(
        problem, plain_order_too(problem, short, None, by), None, by))
    assert passed.complete and not learned.names and learned.failed is None


def test_a_pass_a_few_replicas_short_is_completed_in_place_before_another_is_made(ai1000, first_guide,
                                                                                 monkeypatch):
    # with one of the floor's learned workloads first, the guided pass leaves 4 replicas out:
    # completed in place (guided_complete.py: a few replicas, 0.03-0.1 CPU s at 10,000 nodes)
    # rather than after a second whole pass (~0.5 CPU s there)
    from fitlang.solve import short_order
    from fitlang.solve.guided_complete import guided_completed
    from fitlang.solve.make_room import left_out
    from fitlang.solve.short_order import ShortFirst, short_first_pass

    _, learned = _floor_learned(ai1000)
    passes: list[int] = []
    greedy_in_order = short_order.greedy_in_order

    def counted(problem, first, deadline=None, guide=None):
        passed = greedy_in_order(problem, first, deadline, guide)
        passes.append(sum(passed[0].short.values()))
        return passed

    monkeypatch.setattr(short_order, "greedy_in_order", counted)
    one = ShortFirst(set(sorted(learned.names)[:1]))
    def completed(packing, seconds: float) -> bool:
        return guided_completed(ai1000, packing, "cost", None, 10.0)

    passed, cut = short_first_pass(ai1000, one, None, first_guide, completed)
    assert not cut and passed.complete and sum(left_out(ai1000, passed)) == 0
    assert len(passes) == 1 and passes[0] > 0
