"""Ruin and recreate on the dear full nodes (dear_nodes.py). Held to a hand-counted brute force
and to `verify` (neither shares code with the ruin)."""

from __future__ import annotations

import random
import time
from fractions import Fraction

from fitlang.solve import search_stages
from fitlang.solve.dear_nodes import GIVE_UP_AFTER, dear_nodes_ruined
from fitlang.solve.greedy import greedy_floor
from fitlang.solve.improve import consolidate

from solving import problem_from, verified_cost

# one GPU node (10 USD/h, 16 CPUs) that `train` must open and fills half; a 12-CPU node at
# 3 USD/h (0.25 a CPU) and 4-CPU nodes at 1.10 (0.275): `web` (12 replicas of 1 CPU, placed
# first by its priority) fills the 12-CPU node, full, before `train` opens the GPU node
DEAR = '''import "std/accelerators"

pool gpu {
  count = 1
  cpu = 16
  memory = 64GiB
  gpu {
    model = L4
    count = 1
  }
  price = 10 USD/h
}

pool big {
  count = 1
  cpu = 12
  memory = 64GiB
  price = 3 USD/h
}

pool small {
  count = 4
  cpu = 4
  memory = 64GiB
  price = 1.10 USD/h
}

workload web {
  replicas = 12
  cpu = 1
  memory = 1GiB
  priority = 10
}

workload train {
  replicas = 1
  cpu = 8
  memory = 8GiB
  gpu {
    count = 1
  }
}
'''


def _brute_force() -> Fraction:
    """`train` on the GPU node (the only one with a GPU), its 8 free CPUs for `web`; the rest
    of `web`'s 12 CPUs on any count of big and small nodes: the least cost."""
    return min(10 + 3 * big + Fraction(11, 10) * small
               for big in range(2) for small in range(5) if 8 + 12 * big + 4 * small >= 12)


def test_a_full_dear_node_is_emptied_into_paid_free_room_and_a_cheaper_node(tmp_path):
    # consolidation leaves the full 12-CPU node (its replicas do not all fit in the GPU node's
    # room, and a full node is not ruined there): 13. The ruin moves 8 replicas into the GPU
    # node's free CPUs and 4 onto a small node: 11.10, the brute force's optimum
    problem = problem_from(tmp_path, DEAR)
    floor, _ = greedy_floor(problem)
    consolidate(problem, floor, "cost")
    assert verified_cost(problem, floor) == 13
    assert dear_nodes_ruined(problem, floor, "cost", None) == 1
    assert verified_cost(problem, floor) == _brute_force() == Fraction(111, 10)
    assert dear_nodes_ruined(problem, floor, "cost", None) == 0  # nothing dear and full is left


RULES = ["", "  anti_affinity self on node\n", "  spread zone max_skew 1\n", "  anti_affinity web0 on node\n",
         "  anti_affinity web0 on zone\n"]


def _random_fleet(rng: random.Random) -> str:
    text = 'import "std/accelerators"\n'
    for zone in ("z1", "z2"):
        text += (f"pool gpu{zone} {{\n  count = 2\n  cpu = 16\n  memory = 64GiB\n  gpu {{\n    model = L4\n"
                 f"    count = 1\n  }}\n  price = {rng.randint(6, 12)} USD/h\n  zone = \"{zone}\"\n}}\n")
        for name, cpus in (("big", 12), ("small", 4)):
            price = Fraction(rng.randint(cpus * 20, cpus * 30), 100)
            text += (f"pool {name}{zone} {{\n  count = 3\n  cpu = {cpus}\n  memory = 64GiB\n"
                     f"  price = {float(price)} USD/h\n  zone = \"{zone}\"\n}}\n")
    for k in range(rng.randint(2, 4)):
        rule = rng.choice(RULES) if k else ""
        text += (f"workload web{k} {{\n  replicas = {rng.randint(2, 12)}\n  cpu = {rng.choice([1, 2])}\n"
                 f"  memory = 1GiB\n  priority = 10\n{rule}}}\n")
    for k in range(rng.randint(1, 3)):
        text += (f"workload train{k} {{\n  replicas = 1\n  cpu = {rng.choice([4, 8])}\n  memory = 8GiB\n"
                 "  gpu {\n    count = 1\n  }\n}\n")
    return text


def test_on_random_two_zone_fleets_the_ruin_keeps_every_rule_and_never_costs_more(tmp_path):
    # 25 fleets (`random.Random(23)`): GPU nodes the trainers open, CPU workloads with zone
    # spreads and node and zone anti-affinity placed before them. Every ruined packing is
    # accepted by `verify` and costs no more than the consolidated floor; that it pays on
    # some is counted, not assumed
    rng = random.Random(23)
    whole = cheaper = 0
    for index in range(25):
        problem = problem_from(tmp_path, _random_fleet(rng), f"p{index}.fit")
        floor, cut = greedy_floor(problem)
        if cut or not floor.complete:
            continue
        consolidate(problem, floor, "cost")
        before = verified_cost(problem, floor)
        whole += 1
        made = dear_nodes_ruined(problem, floor, "cost", None)
        after = verified_cost(problem, floor)  # (verified)
        assert after <= before and (after < before) == (made > 0), (index, before, after, made)
        cheaper += after < before
    assert whole >= 15 and cheaper >= 1, (whole, cheaper)


def _behind_pinned(lone_nodes: int) -> str:
    """DEAR with `lone_nodes` dearer full nodes (5 USD/h, 2 CPUs, 256 GiB) ahead of the 12-CPU
    node in the ruin's order, each held by a replica of `hog` that no other node has the
    memory for: each of their ruins fails."""
    return DEAR + f'''
pool lone {{
  count = {lone_nodes}
  cpu = 2
  memory = 256GiB
  price = 5 USD/h
}}

workload hog {{
  replicas = {lone_nodes}
  cpu = 2
  memory = 200GiB
}}
'''


def test_the_ruin_gives_up_after_failures_in_a_row_unless_told_to_try_every_node(tmp_path):
    # one lone node (a failed ruin) before the 12-CPU node: given up after one failure, no
    # move; with `give_up=None` the 12-CPU node is still ruined: 5 + 11.10
    problem = problem_from(tmp_path, _behind_pinned(1))
    floor, _ = greedy_floor(problem)
    consolidate(problem, floor, "cost")
    assert verified_cost(problem, floor) == 5 + 13
    assert dear_nodes_ruined(problem, floor, "cost", None, give_up=1) == 0
    assert verified_cost(problem, floor) == 5 + 13
    assert dear_nodes_ruined(problem, floor, "cost", None, give_up=None) == 1
    assert verified_cost(problem, floor) == 5 + _brute_force() == Fraction(161, 10)


def test_the_search_ruins_past_give_up_after_failed_nodes(tmp_path, monkeypatch):
    # GIVE_UP_AFTER lone nodes fail first: the default ruin stops before the 12-CPU node, the
    # search's ruin (`_searched`) reaches it and makes the move itself (the repacking and the
    # neighbourhood search after it do not run: the bound given is then met)
    problem = problem_from(tmp_path, _behind_pinned(GIVE_UP_AFTER))
    floor, _ = greedy_floor(problem)
    consolidate(problem, floor, "cost")
    assert verified_cost(problem, floor) == 5 * GIVE_UP_AFTER + 13
    made: list[int] = []

    def recorded(*args, **kwargs) -> int:
        made.append(dear_nodes_ruined(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(search_stages, "dear_nodes_ruined", recorded)
    optimum = 5 * GIVE_UP_AFTER + _brute_force()
    floor = search_stages.searched(problem, floor, "cost", time.monotonic() + 5, lambda *args: None, optimum)
    assert made == [1]
    assert verified_cost(problem, floor) == optimum
