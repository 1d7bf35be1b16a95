"""A joint step (`move_neighbourhood`) may open up to `MAX_FREE_NODES` (400) nodes not in use,
6 a class (issue 18): a swap of zones that needs more than 120 of them is made."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from test_moving import problem_of

from fitlang.solve.move_neighbourhood import improve_jointly
from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.moving import _Checker, objective_value

# zone a: 130 dear nodes (8 cores, 1.00 USD/h) run one `web` each, and a spare small node (2
# cores, 0.10); zone b: 22 classes of 6 cheap nodes (8 cores, 0.300 to 0.321), `db` (2 cores)
# on c0-0. web and db may not share a zone, so web reaches zone b only if db leaves it in the
# same step, and then it needs 130 nodes there: c0-0 and 129 of the 131 spare
POOL = "pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = 32GiB\n  price = {price} USD/h\n" \
    "  zone = \"{zone}\"\n}}\n"
SWAP = POOL.format(name="dear", count=130, cpu=8, price="1.00", zone="a") + \
    POOL.format(name="small", count=1, cpu=2, price="0.10", zone="a") + \
    "".join(POOL.format(name=f"c{i}", count=6, cpu=8, price=f"{0.300 + i / 1000:.3f}", zone="b")
            for i in range(22)) + """
workload web {\n  replicas = 130\n  cpu = 8\n  memory = 1GiB\n  anti_affinity db on zone\n}
workload db {\n  replicas = 1\n  cpu = 2\n  memory = 1GiB\n}
policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}
"""
RUNNING = [("web", f"dear-{i}") for i in range(130)] + [("db", "c0-0")]


def test_a_joint_step_opens_more_than_120_nodes_not_in_use(tmp_path):
    # worked by hand: as it runs 130 x 1.00 + 0.30 = 130.30 USD/h, and no one move pays (web
    # may not enter zone b while db is there, nor db zone a while web is). The pair's step
    # swaps them: web on the 130 cheapest nodes of b (classes c0-c20 whole, 4 of c21: 6 x
    # (21 x 0.30 + 0.21) + 4 x 0.321 = 40.344), db on small-0 (0.10), 131 replicas moved and
    # the 130 dear nodes drained (c0-0 stays in use): 40.344 + 0.10 + 2.61 = 43.054. With 120
    # nodes not in use at most (the start tree) the step has 121 nodes for 130 and keeps nothing
    problem = problem_of(tmp_path, SWAP, RUNNING)
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None)
    assert objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought)) == Fraction("130.30")
    assert improve_jointly(fleet, cpu_seconds=30.0) == 1
    end = fleet.state()
    assert not _Checker(problem, set(fleet.bought), "").broken(end)
    assert end["small-0"] == Counter(db=1) and not any(name.startswith("dear") for name in end)
    assert objective_value(problem, "cost+moves", end, set(fleet.bought)) == Fraction("43.054")
