"""The whole move model's bound (`move_scale.move_model_bound`, fleets up to 2,000 nodes) with
the rows that charge emptying a class's nodes (`rules.moves.kept_node_rows`, issue 18): never
above the exact optimum of cost + moves (the node-by-node model, every node its own class,
`moving.solve_move` up to 48 nodes) on small random fleets, and equal to it where the class
counts alone would count replicas that leave emptied nodes as staying."""

from __future__ import annotations

import dataclasses
import random
import time
from fractions import Fraction

import pytest

from fitlang.solve.linear import Status
from fitlang.solve.move_scale import move_model_bound
from fitlang.solve.moving import move_objectives, objective_value, placed_state, solve_move

from solving import problem_running


def _optimum(problem) -> Fraction | None:
    """The exact optimum's cost + moves, counted from its end state (the model's objective
    leaves out a constant); None where the drawn fleet has no placement of every replica."""
    exact = solve_move(problem)
    if exact.status is not Status.OPTIMAL or exact.unplaced:
        return None
    bought = {n for names in exact.bought.values() for n in names}
    return objective_value(problem, "cost+moves", placed_state(exact), bought)


def _bound(problem) -> Fraction | None:
    moving = dataclasses.replace(problem, objective=move_objectives(problem), symmetric=[])
    return move_model_bound(moving, time.monotonic() + 60)


def _pool(name: str, count: int, cpu: int, price: str) -> str:
    return (f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = 16GiB\n"
            f"  price = {price} USD/h\n}}\n\n")


def _workload(name: str, replicas: int, cpu: int) -> str:
    return f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = 1GiB\n}}\n\n"


POLICY_END = "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"


def test_emptying_nodes_of_a_class_moves_their_replicas(tmp_path):
    # four 1-CPU replicas, one on each 4-CPU node: one node holds them all (1 USD/h), and
    # emptying the other three moves 3 replicas and drains 3 nodes: 1 + 6 x 0.01. The class
    # counts alone keep the 4 replicas in their class (no move): 1.03.
    text = _pool("a", 4, 4, "1") + _workload("w", 4, 1) + POLICY_END
    problem = problem_running(tmp_path, text, [("w", f"a-{i}") for i in range(4)])
    assert _optimum(problem) == Fraction(106, 100)
    assert _bound(problem) == Fraction(106, 100)


@pytest.mark.parametrize("seed", range(16))
def test_the_bound_is_never_above_the_exact_optimum(tmp_path, seed):
    rng = random.Random(seed)
    pools = [(f"p{i}", rng.randint(2, 5), rng.choice([2, 4, 8]), rng.choice(["0.10", "0.25", "0.40", "1"]))
             for i in range(rng.randint(1, 3))]
    workloads = [(f"w{i}", rng.randint(1, 6), rng.choice([1, 2])) for i in range(rng.randint(1, 3))]
    text = "".join(_pool(*p) for p in pools) + "".join(_workload(*w) for w in workloads) + POLICY_END
    nodes = [f"{name}-{i}" for name, count, _, _ in pools for i in range(count)]
    running = [(name, rng.choice(nodes)) for name, replicas, _ in workloads
               for _ in range(rng.randint(0, replicas))]
    problem = problem_running(tmp_path, text, running)
    optimum = _optimum(problem)
    if optimum is None:
        pytest.skip("no placement of the drawn fleet")
    bound = _bound(problem)
    assert bound is not None and bound <= optimum + Fraction(1, 10**6), (bound, optimum)
