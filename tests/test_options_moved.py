"""The pair LP's options as moves on a floor (greedy.options_moved, placement._options_moved):
the option groups the floor places otherwise placed again, every other replica left where it
is. Held to the brute force of test_accelerator_options (every choice of option per
workload, its nodes counted by hand) and to `verify` (neither shares code with the moves)."""

from __future__ import annotations

import random

from test_accelerator_options import brute_force, inference, option_pools

from fitlang.solve.accelerator_options import accelerator_options
from fitlang.solve.greedy import Guide, greedy_floor, options_moved
from fitlang.solve.improve import consolidate

from solving import problem_from, verified_packing

# rules of the workloads beside the option groups, towards them too (`{other}`: an option
# workload): what the moves must keep for the replicas they leave where they are
RULES = ["", "  spread zone max_skew 1\n", "  anti_affinity self on node\n",
         "  anti_affinity {other} on node\n", "  anti_affinity {other} on zone\n"]


def _cost(problem, packing) -> int:
    return int(verified_packing(problem, packing).value)


def _moved_and_consolidated(problem, floor, guide):
    moved = options_moved(problem, floor, guide)
    if moved is not None and moved.complete:
        consolidate(problem, moved, "cost")
    return moved


def test_moves_on_the_floor_give_the_scarce_accelerator_to_the_workload_that_saves_most(tmp_path):
    # one L40S node (4 GPUs, 4 USD/h); L4 nodes at 2 USD/h a GPU. `a` needs 4 L4s or 2 L40Ss,
    # `b` 8 L4s or 4 L40Ss. The greedy pass reaches `a` first and takes the L40S node: 20
    # USD/h. The moves take both groups off the floor (neither is on the LP's first option)
    # and place them in the LP's order: `b` on the L40S node, `a` on L4s, 12, the optimum
    problem = problem_from(tmp_path, option_pools(l40s_nodes=1, l40s_price=4, l4_price=2)
                           + inference("a", 4) + inference("b", 8))
    floor, _ = greedy_floor(problem)
    assert _cost(problem, floor) == 20
    guide = Guide(accelerator_options(problem, "cost"))
    moved = _moved_and_consolidated(problem, floor, guide)
    assert moved is not None and _cost(problem, moved) == 12 == brute_force([4, 8], 1, 4, 2)
    assert options_moved(problem, moved, guide) is None  # every group on its first option now


def test_the_guided_floor_is_the_moves_then_the_whole_passes_where_they_fit(tmp_path, monkeypatch):
    # the moves first, kept as cheaper and verified; then the whole guided passes only where
    # they are expected to fit in what is left (`whole_pass`: the floor's seconds). The
    # options are the accelerator LP's (the pair LP's last solution here splits `b` over
    # both options at the same 12, and its order puts `b[L4]` first)
    import time

    from fitlang.solve import guided_pass, placement

    problem = problem_from(tmp_path, option_pools(l40s_nodes=1, l40s_price=4, l4_price=2)
                           + inference("a", 4) + inference("b", 8))
    floor, _ = greedy_floor(problem)
    suggested = (accelerator_options(problem, "cost"), {})
    moves, passes = [], []
    monkeypatch.setattr(placement, "options_moved", lambda *args: moves.append(1) or options_moved(*args))
    monkeypatch.setattr(guided_pass, "greedy_floor",
                        lambda *args, **kwargs: passes.append(1) or greedy_floor(*args, **kwargs))
    deadline = time.monotonic() + 60
    guided = placement._guided_floor(problem, floor, suggested, "cost", 60, deadline, whole_pass=120.0)
    assert (len(moves), len(passes)) == (1, 0) and _cost(problem, guided) == 12
    guided = placement._guided_floor(problem, floor, suggested, "cost", 60, deadline, whole_pass=1.0)
    assert (len(moves), len(passes)) == (2, 1) and _cost(problem, guided) == 12


def _random_instance(tmp_path, rng: random.Random, index: int):
    needs = [rng.choice([2, 4, 6, 8]) for _ in range(rng.randint(2, 4))]
    l40s_nodes, l40s_price, l4_price = rng.randint(1, 2), rng.randint(3, 6), rng.randint(1, 2)
    text = option_pools(l40s_nodes, l40s_price, l4_price, zones=("z1", "z2"))
    text += "".join(inference(f"w{k}", need) for k, need in enumerate(needs))
    for k in range(rng.randint(1, 3)):
        rule = rng.choice(RULES).format(other=f"w{rng.randrange(len(needs))}")
        replicas = rng.randint(1, 4)
        text += f"workload web{k} {{\n  replicas = {replicas}\n  cpu = 2\n  memory = 4GiB\n{rule}}}\n"
    problem = problem_from(tmp_path, text, f"p{index}.fit")
    return problem, brute_force(needs, l40s_nodes, l40s_price, l4_price)


def test_on_random_fleets_with_rules_the_moves_are_whole_verified_and_never_below_the_optimum(tmp_path):
    # 30 fleets of 2-4 option gangs beside 1-3 workloads with zone and node rules (towards
    # the gangs too). Wherever the moves place every replica, `verify` accepts them (the
    # rules of what they moved and of what they left), and no placement is below the brute
    # force's optimum of the accelerators alone. That the moves often pay (and are not kept
    # where they do not: `_options_moved`) is counted, not assumed: fewer than all
    rng = random.Random(22)
    moved_whole = cheaper = 0
    for index in range(30):
        problem, optimum = _random_instance(tmp_path, rng, index)
        floor, cut = greedy_floor(problem)
        if cut or not floor.complete:
            continue
        floor_cost = _cost(problem, floor)
        moved = _moved_and_consolidated(problem, floor, Guide(accelerator_options(problem, "cost")))
        if moved is None or not moved.complete:
            continue
        moved_whole += 1
        moved_cost = _cost(problem, moved)  # (verified)
        assert moved_cost >= optimum and floor_cost >= optimum
        cheaper += moved_cost < floor_cost
    assert moved_whole >= 10 and cheaper >= 1, (moved_whole, cheaper)
