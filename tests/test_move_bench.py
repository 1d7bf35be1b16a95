"""bench/move_bench.py's handling of a changed fleet with no placement (session 24)."""

from __future__ import annotations

import json

from solving import bench_module

# Inventory 1,000 seed 2 in miniature: `w` spreads over zones a and b (max_skew 1), so zone b
# must run 2 of its 4 replicas; the change drained the pool `b_gone` that held them, and
# zone b's one node left takes one 4-CPU replica (7.82 CPU): no placement exists (worked
# by hand: 2 replicas of 4 CPU need 8 CPU in zone b, which has 7.82).
NO_PLACEMENT = """
pool a {
  count = 4
  cpu = 8
  memory = 32GiB
  price = 0.40 USD/h
  zone = "a"
}

pool b_left {
  count = 1
  cpu = 7820m
  memory = 32GiB
  price = 0.55 USD/h
  zone = "b"
}

workload w {
  replicas = 4
  cpu = 4
  memory = 4GiB
  spread zone max_skew 1
}

policy {
  objective = [cost, moves]
  min_saving = 0%
}
"""


def test_the_bench_reports_a_changed_fleet_with_no_placement_instead_of_failing(tmp_path):
    policy, current = tmp_path / "p.fit", tmp_path / "now.json"
    policy.write_text(NO_PLACEMENT)
    running = ["a-0", "a-1", "b_gone-0", "b_gone-1"]
    current.write_text(json.dumps({"assignments": [
        {"workload": "w", "replica": i, "node": node} for i, node in enumerate(running)]}))
    row = bench_module("move_bench").planned(policy, current, 10.0)
    assert row["plan"].plan is None
    assert row["no_plan"].startswith("E0501 no placement meets every hard rule"), row["no_plan"]
