"""The joint steps' caps scaled with the plan's time limit (`move_neighbourhood.caps_for`, issue
18): a longer plan may open more nodes of a class in one step."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from test_moving import problem_of

from fitlang.solve.move_neighbourhood import caps_for, improve_jointly
from fitlang.solve.move_scale import ScaleMove
from fitlang.solve.moving import _Checker, objective_value

# zone a: 8 dear nodes (8 cores, 1.00 USD/h) run one `web` each, and a spare small node (2
# cores, 0.10); zone b: 9 cheap nodes (8 cores, 0.30), `db` (2 cores) on cheap-0. web and db
# may not share a zone, so web reaches zone b only if db leaves it in the same step
SWAP = """
pool dear {\n  count = 8\n  cpu = 8\n  memory = 32GiB\n  price = 1.00 USD/h\n  zone = "a"\n}
pool small {\n  count = 1\n  cpu = 2\n  memory = 32GiB\n  price = 0.10 USD/h\n  zone = "a"\n}
pool cheap {\n  count = 9\n  cpu = 8\n  memory = 32GiB\n  price = 0.30 USD/h\n  zone = "b"\n}
workload web {\n  replicas = 8\n  cpu = 8\n  memory = 1GiB\n  anti_affinity db on zone\n}
workload db {\n  replicas = 1\n  cpu = 2\n  memory = 1GiB\n}
policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}
"""
RUNNING = [("web", f"dear-{i}") for i in range(8)] + [("db", "cheap-0")]


def _stepped(tmp_path, time_limit: float):
    problem = problem_of(tmp_path, SWAP, RUNNING)
    fleet = ScaleMove(problem)
    fleet.repair(fleet.start())
    fleet.improve(None)
    kept = improve_jointly(fleet, cpu_seconds=30.0, time_limit=time_limit)
    end = fleet.state()
    assert not _Checker(problem, set(fleet.bought), "").broken(end)
    return kept, end, objective_value(problem, "cost+moves", end, set(fleet.bought))


def test_a_longer_limit_opens_more_nodes_of_a_class_in_one_step(tmp_path):
    # worked by hand: the swap needs 8 cheap nodes for web; the step frees cheap-0 (db's) and
    # opens up to `free_nodes_per_class` spare ones. At 5 s 6: 7 nodes, no swap, 8.30 USD/h
    # as it runs. At 20 s 12: web on the 9 cheap nodes' 8 (cheap-0 among them, so it is not
    # drained), db on small-0: 8 x 0.30 + 0.10 + 0.01 x (9 moves + 8 drained) = 2.67
    assert (caps_for(5.0).free_nodes_per_class, caps_for(20.0).free_nodes_per_class) == (6, 12)
    assert caps_for(None) == caps_for(5.0)
    kept, end, value = _stepped(tmp_path, 5.0)
    assert kept == 0 and value == Fraction("8.30")
    kept, end, value = _stepped(tmp_path, 20.0)
    assert kept == 1 and value == Fraction("2.67")
    assert end["small-0"] == Counter(db=1) and end["cheap-0"] == Counter(web=1)
    assert sum(hosted["web"] for hosted in end.values()) == 8 and not any(n.startswith("dear") for n in end)
