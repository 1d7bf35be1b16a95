"""Two workloads kept apart by zone in the charged bound (`solve/zone_apart.py`, issue 18).

Zone a has two 4-CPU nodes at 1 USD/h, zone b two at 10. `left` and `right` (2 replicas of 2
CPUs each, `anti_affinity left on zone`) run now on a-0 and b-0: 11 USD/h, no change. Every
placement has them in different zones, so one of them pays a b node: 11 is the least (the
other ways move replicas and pay the same nodes, or more). Without the rows the LP puts all
four replicas on zone a's two nodes: 2 USD/h, + 0.02 for `right`'s two replicas moved, +
0.01 for b-0 drained.
"""

from __future__ import annotations

from fractions import Fraction

from fitlang.solve import move_bound
from fitlang.solve.move_bound import moves_lower_bound

from solving import problem_running

FLEET = """
pool a {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
  zone = "a"
}

pool b {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 10 USD/h
  zone = "b"
}

workload left {
  replicas = 2
  cpu = 2
  memory = 1GiB
}

workload right {
  replicas = 2
  cpu = 2
  memory = 1GiB
  anti_affinity left on zone
}

policy {
  move_price = 0.01 USD/h
  min_saving = 0%
}
"""
RUNNING = [("left", "a-0"), ("left", "a-0"), ("right", "b-0"), ("right", "b-0")]
CLOSE = Fraction(1, 10 ** 6)


def test_two_workloads_apart_by_zone_pay_for_two_zones(tmp_path, monkeypatch):
    problem = problem_running(tmp_path, FLEET, RUNNING)
    assert abs(moves_lower_bound(problem, None) - 11) < CLOSE
    monkeypatch.setattr(move_bound, "apart_rows", lambda *_, **__: None)
    assert abs(moves_lower_bound(problem, None) - Fraction("2.03")) < CLOSE


def test_without_the_rule_the_bound_is_the_shared_zone(tmp_path):
    # the rows read the rule alone: without it, both on zone a's nodes is a placement
    problem = problem_running(tmp_path, FLEET.replace("  anti_affinity left on zone\n", ""), RUNNING)
    assert abs(moves_lower_bound(problem, None) - Fraction("2.03")) < CLOSE
