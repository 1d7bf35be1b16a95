"""The ruin's new nodes weighed beyond the cheapest by price (improve.py, `_candidates`), and a
dear node ruined with cheap full nodes of its zone (dear_with_cheap.py). Packings built by
hand; every answer held to `verify` (which shares no code with the ruin) and to hand counts."""

from __future__ import annotations

import time
from fractions import Fraction

from fitlang.model.problem import RESOURCES
from fitlang.solve import placement
from fitlang.solve.dear_nodes import dear_nodes_ruined
from fitlang.solve.dear_with_cheap import _PartnerSearch, dear_with_cheap_ruined
from fitlang.solve.improve import OPEN_CANDIDATES
from fitlang.solve.pack import NodeState, Packing

from solving import problem_from, verified_cost


def _packing(problem, hosted: dict[str, dict[str, int]]) -> Packing:
    """One node of each class named (its first), hosting what is given."""
    nodes = {}
    for class_id, on in hosted.items():
        node_class = problem.node_class(class_id)
        name = node_class.node_names[0]
        capacity = node_class.capacity_of(name)
        free = {r: capacity[r] - sum(problem.demand(w).requests[r] * n for w, n in on.items())
                for r in RESOURCES}
        nodes[class_id] = [NodeState(name, free, dict(on))]
    return Packing(nodes=nodes)


def _pool(name: str, cpus: int, price: str, labels: str = "") -> str:
    return (f"pool {name} {{\n  count = 1\n  cpu = {cpus}\n  memory = 64GiB\n  price = {price} USD/h\n"
            f"{labels}}}\n")


# a full 12-CPU node at 3 USD/h (0.25 a CPU); OPEN_CANDIDATES 1-CPU pools at 0.30 (0.30 a CPU:
# ten of them cost 3), each cheaper than a 12-CPU pool at 2.40 (0.20 a CPU)
TINY = "".join(_pool(f"tiny{k:02}", 1, "0.30") for k in range(OPEN_CANDIDATES))
SMALL_FIRST = (_pool("big", 12, "3") + TINY + _pool("mid", 12, "2.40")
               + "workload web {\n  replicas = 12\n  cpu = 1\n  memory = 1GiB\n}\n")


def test_the_partner_ruin_weighs_a_class_cheap_for_its_capacity_past_the_cheapest_by_price(tmp_path):
    # by price alone (the dear nodes' ruin) `big`'s ruin weighs only the 1-CPU pools, which
    # cannot hold web's 12 replicas for less than 3 USD/h: no move. The partner ruin's search
    # also weighs `mid`, cheapest for what it holds, which takes them all: 2.40, the least
    problem = problem_from(tmp_path, SMALL_FIRST)
    packing = _packing(problem, {"big": {"web": 12}})
    assert verified_cost(problem, packing) == 3
    assert dear_nodes_ruined(problem, packing, "cost", None, give_up=None) == 0
    search = _PartnerSearch(problem, packing, "cost")
    assert search.try_replace([(packing.nodes["big"][0], problem.node_class("big"))])
    search.finish()
    assert verified_cost(problem, packing) == Fraction(12, 5)
    assert [node.name for node in packing.nodes["mid"]] == ["mid-0"] and not packing.nodes["big"]


# `gold` may use only the two gold pools; `any` every pool. As packed: gold on the dear gold
# node (0.50 a CPU), any on the cheap gold node (0.25): 6 USD/h. The least: gold on the cheap
# gold node, any on the silver one (0.30 a CPU): 4.40
GOLD = '  labels = { "tier": "gold" }\n'
SWAP = (_pool("dear", 8, "4", GOLD) + _pool("cheapgold", 8, "2", GOLD)
        + _pool("silver", 8, "2.40", '  labels = { "tier": "silver" }\n')
        + 'workload gold {\n  replicas = 8\n  cpu = 1\n  memory = 2GiB\n'
        + '  require labels["tier"] == "gold"\n}\n'
        + "workload any {\n  replicas = 8\n  cpu = 1\n  memory = 1GiB\n}\n")


def _swap(tmp_path):
    problem = problem_from(tmp_path, SWAP)
    packing = _packing(problem, {"dear": {"gold": 8}, "cheapgold": {"any": 8}})
    assert verified_cost(problem, packing) == 6
    return problem, packing


def test_one_node_ruined_alone_finds_no_cheaper_place(tmp_path):
    # the dear node's gold replicas have no other gold node to open; the cheap node's `any`
    # would cost 2.40 on the silver node for its 2
    problem, packing = _swap(tmp_path)
    assert dear_nodes_ruined(problem, packing, "cost", None, give_up=None) == 0
    assert verified_cost(problem, packing) == 6


def test_a_dear_node_ruined_with_a_cheap_one_trades_their_classes(tmp_path):
    # both ruined: gold onto the cheap gold node opened again, any onto the silver node: 4.40
    problem, packing = _swap(tmp_path)
    assert dear_with_cheap_ruined(problem, packing, "cost", None) == 1
    assert verified_cost(problem, packing) == Fraction(22, 5)
    assert {class_id: [n.hosted for n in nodes] for class_id, nodes in packing.nodes.items() if nodes} == \
        {"cheapgold": [{"gold": 8}], "silver": [{"any": 8}]}
    assert dear_with_cheap_ruined(problem, packing, "cost", None) == 0  # nothing dearer per core is left


def test_a_move_not_kept_leaves_the_packing_as_it_was(tmp_path):
    # the silver node dearer than the dear one saves: both ruined, the recreate costs 6 or
    # more and is undone; the room of the cheap node (opened again for the weighing) is back
    problem = problem_from(tmp_path, SWAP.replace("price = 2.40 USD/h", "price = 4.10 USD/h"))
    packing = _packing(problem, {"dear": {"gold": 8}, "cheapgold": {"any": 8}})
    before = {class_id: [(n.name, dict(n.free), dict(n.hosted)) for n in nodes]
              for class_id, nodes in packing.nodes.items()}
    assert dear_with_cheap_ruined(problem, packing, "cost", None) == 0
    assert {class_id: [(n.name, n.free, n.hosted) for n in nodes]
            for class_id, nodes in packing.nodes.items()} == before
    assert verified_cost(problem, packing) == 6


def test_the_search_ruins_dear_nodes_with_cheap_ones(tmp_path, monkeypatch):
    # `_searched` runs it (recorded), and its answer is the least
    problem, packing = _swap(tmp_path)
    made: list[int] = []

    def recorded(*args, **kwargs) -> int:
        made.append(dear_with_cheap_ruined(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(placement, "dear_with_cheap_ruined", recorded)
    packing = placement._searched(problem, packing, "cost", time.monotonic() + 5, lambda *args: None, None)
    assert made and made[0] == 1
    assert verified_cost(problem, packing) == Fraction(22, 5)
