"""`Ledger.cheapest` keeps each (class, size, window)'s prices per node between calls and prices
again only the nodes whose replicas changed (session 30, h30f: the CPU of `emptied` and
`improved`): a node's stamp, the kept rows brought up to date, and the answers against the
same ledger's answers priced from nothing at every call of a search."""

from __future__ import annotations

import numpy as np
import pytest

from fitlang.solve import timeline_pack
from fitlang.solve.timeline_pack import Ledger, _scheduled, emptied, floor_order, improved, run_of

from solving import bench_module, problem_from


@pytest.fixture(scope="module")
def small_sites(tmp_path_factory):
    sites = bench_module("timing_sites")
    return problem_from(tmp_path_factory.mktemp("sites"),
                        sites.policy_text(sites.generate(40, 48, 40, 2), "cost"))


def test_a_nodes_stamp_comes_back_when_what_it_holds_does(small_sites):
    ledger = Ledger(small_sites)
    class_id = next(iter(ledger.stamp))
    # (cpu, memory, gpu, disk, pods: `need_of`'s columns)
    small, large = np.array([2, 8, 0, 0, 1], dtype=np.int64), np.array([4, 8, 0, 0, 1], dtype=np.int64)
    empty = ledger.stamp[class_id].copy()
    ledger.take(class_id, 0, small, 3, 7)
    one = ledger.stamp[class_id].copy()
    assert one[0] != empty[0] and (one[1:] == empty[1:]).all()
    ledger.take(class_id, 0, large, 5, 9)
    ledger.release(class_id, 0, large, 5, 9)
    assert (ledger.stamp[class_id] == one).all()  # taken and given back: the same replicas
    for other in ((large, 3, 7), (small, 3, 8), (small, 4, 8)):  # another size or other steps
        ledger.release(class_id, 0, small, 3, 7)
        ledger.take(class_id, 0, *other)
        assert ledger.stamp[class_id][0] != one[0]
        ledger.release(class_id, 0, *other)
        ledger.take(class_id, 0, small, 3, 7)
    assert (ledger.stamp[class_id] == one).all()


def test_only_the_nodes_a_kept_move_changed_are_priced_again(small_sites, monkeypatch):
    ledger, spots, _ = _scheduled(small_sites, "cost", floor_order(small_sites))
    priced: list[int] = []
    prices = Ledger._prices

    def counted(self, class_id, need, nodes, first, last, duration):
        priced.append(len(nodes))
        return prices(self, class_id, need, nodes, first, last, duration)

    monkeypatch.setattr(Ledger, "_prices", counted)
    spot = next(s for s in spots if small_sites.demand(s.demand).min_segment is None)
    demand = small_sites.demand(spot.demand)
    window = demand.windows[run_of(demand, spot.start)]
    ledger.drop(spot)
    first = ledger.cheapest(demand, window)
    assert priced  # priced from nothing: every class it may use
    priced.clear()
    assert ledger.cheapest(demand, window) == first and priced == []  # nothing changed
    other = next(s for s in spots if s.class_id == spot.class_id and s.node != spot.node)
    ledger.drop(other)
    ledger.put(other)  # a move undone: the node holds what it held
    assert ledger.cheapest(demand, window) == first and priced == []
    ledger.put(spot)  # the replica back on its node: that node's row alone, once
    ledger.cheapest(demand, window)
    assert priced == [1]


def test_kept_prices_answer_what_prices_from_nothing_answer_through_a_search(small_sites, monkeypatch):
    # every `cheapest` of two rounds of the moves (hundreds of moves and undone moves) asked
    # twice: from the kept rows, and with them set aside (every node priced afresh); the same
    # answer, float for float, each time
    ledger, spots, _ = _scheduled(small_sites, "cost", floor_order(small_sites))
    cheapest = Ledger.cheapest
    asked = [0]

    def both(self, demand, window):
        kept = cheapest(self, demand, window)
        saved, self._priced = self._priced, {}
        fresh = cheapest(self, demand, window)
        self._priced = saved
        assert kept == fresh
        asked[0] += 1
        return kept

    monkeypatch.setattr(Ledger, "cheapest", both)
    before = ledger.total()
    for _ in range(2):
        spots = emptied(small_sites, ledger, improved(small_sites, ledger, spots, None), None)
    # (a move that did not pay is not asked again where nothing it reads changed: `unchanged`)
    assert asked[0] >= 150 and ledger.total() < before
    assert timeline_pack.holding(small_sites, spots).total() == pytest.approx(ledger.total())
