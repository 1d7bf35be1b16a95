"""most_placed.py: a placement that leaves replicas out (`allow_unplaced`) proven to place the
most by priority, by the aggregate model with each class's node patterns."""

from __future__ import annotations

from dataclasses import replace

from fitlang.driver import Compilation, Outcome
from fitlang.solve.linear import Status
from fitlang.solve.most_placed import most_placed
from fitlang.solve.placement import solve
from fitlang.solve.placement_result import Unplaced

from solving import _placed_by_level, pool, problem_from, solved, workload

GUARD = '  zone = "z1"\n'


def budgeted(scale: int) -> str:
    """`bench/differential_fleet.py` seed 3768's shape: `big` (a gang, priority 10) fills a
    node's memory, `spread1` (priority 5) is one a node (192 replicas over 324 nodes at scale
    1) and cannot share a node with `big`; the budget pays for 240 nodes: the most by
    priority is every priority-10 replica and 240 - 98 = 142 of `spread1`, at 120 USD/h."""
    return (pool("p0", 300 // scale, 4, "32GiB", "0.50", '  region = "r1"\n')
            + pool("p1", 63 // scale, 4, "32GiB", "1.50", GUARD)
            + pool("p2", 261 // scale, 8, "8GiB", "0.50", '  zone = "z3"\n')
            + workload("big", 98 // scale, "3000m", "8GiB", "  priority = 10\n  gang = true\n")
            + workload("spread1", 192 // scale, "3000m", "4GiB",
                       '  zones = ["z3", "z1"]\n  priority = 5\n  spread node max_skew 1\n')
            + workload("small", 59 // scale, "500m", "2GiB", "  priority = 10\n")
            + f"policy {{\n  budget = {120 // scale}.00 USD/h\n  allow_unplaced = true\n}}\n")


def test_the_most_by_priority_at_the_least_cost_is_optimal(tmp_path):
    # the aggregate model fits every replica (one a node is not in it by class), packing
    # falls short, and before this stage the answer was `unknown`, exit 1
    problem = problem_from(tmp_path, budgeted(1))
    placement = solved(problem)
    assert _placed_by_level(problem, placement) == {10: 157, 5: 142}
    assert placement.status is Status.OPTIMAL
    assert placement.value == placement.bound == 120
    assert all(u.reason.startswith("capacity is taken by higher-priority work") for u in placement.unplaced)


def test_a_placement_short_of_the_most_is_not_proven(tmp_path):
    problem = problem_from(tmp_path, budgeted(3))  # 208 nodes, a budget of 80 nodes
    best = solved(problem)
    assert _placed_by_level(problem, best) == {10: 51, 5: 80 - 32}
    proven = most_placed(problem, replace(best, status=Status.UNKNOWN, bound=None), "cost", None)
    assert proven.status is Status.OPTIMAL and proven.bound == 40
    dropped = next(a for a in best.assignments if a.workload == "spread1")
    short = replace(best, status=Status.UNKNOWN, bound=None,
                    assignments=[a for a in best.assignments if a is not dropped],
                    unplaced=[*best.unplaced, Unplaced("spread1", dropped.replica, "")])
    assert most_placed(problem, short, "cost", None).status is Status.UNKNOWN


def test_without_allow_unplaced_the_patterns_prove_no_placement(tmp_path):
    # 32 + 64 nodes needed (a gang's replica fills a node, `spread1` one a node), 80 paid
    # for: the model by class fits every replica (69 nodes' memory), with the patterns none
    text = budgeted(3).replace("  allow_unplaced = true\n", "")
    placement = solve(problem_from(tmp_path, text), "auto", None)
    assert placement.status is Status.INFEASIBLE and placement.proven_infeasible
    (tmp_path / "q.fit").write_text(text)
    compilation = Compilation(tmp_path / "q.fit")
    verdict = compilation.verdict(compilation.solve("auto", 20.0), 20.0, 20.0)
    assert verdict.outcome is Outcome.INFEASIBLE


def test_a_replica_a_rule_keeps_out_is_not_said_to_want_room(tmp_path):
    """`api`'s one replica must be within 10 ms of Boston and of Seattle, and no region is:
    left out while 20 nodes stand empty, it was said to be out because "capacity is taken by
    higher-priority work (web)" (session 50, h50c's held-out cloud_buy 100 seeds)."""
    regions = "".join(f'region {r} {{\n  code = "{r}"\n  provider = "onprem"\n  jurisdiction = US\n}}\n'
                      for r in ("east", "west"))
    users = "".join(f'location {u} {{\n  country = "US"\n}}\nlatency {{\n  from = {u}\n'
                    f'  to = {{ east: {e}ms, west: {w}ms }}\n}}\n'
                    for u, e, w in (("boston", 5, 70), ("seattle", 70, 5)))
    problem = problem_from(tmp_path, regions + users
                           + pool("e", 40, 8, "32GiB", "1", '  region = "east"\n')
                           + pool("w", 40, 8, "32GiB", "1", '  region = "west"\n')
                           + workload("web", 60, "6", "1GiB", "  priority = 10\n")
                           + workload("api", 1, "1", "1GiB", "  latency {\n    users = [boston, seattle]\n"
                                                             "    within = 10ms\n  }\n")
                           + "policy {\n  allow_unplaced = true\n}\n")
    placement = solved(problem)
    assert [u.workload for u in placement.unplaced] == ["api"]
    assert placement.unplaced[0].reason.startswith("not for want of room")
