"""Dear accelerator nodes closed by giving their option replicas another option's free room
(option_convert.py). Held to hand counts and to `verify`."""

from __future__ import annotations

import time

from test_accelerator_options import gpu_pool

from fitlang.solve import search_stages
from fitlang.solve.greedy import greedy_floor
from fitlang.solve.improve import consolidate
from fitlang.solve.option_convert import options_converted
from fitlang.solve.pack import Packing

from solving import node_state, problem_from, verified_cost


def _group(name: str, priority: int, replicas: dict[str, int], rule: str = "") -> str:
    options = "".join(f"    option {model} {{\n      replicas = {count}\n    }}\n"
                      for model, count in replicas.items())
    return (f"workload {name} {{\n  cpu = 4\n  memory = 16GiB\n  priority = {priority}\n{rule}  gpu {{\n"
            f"    count = 1\n{options}  }}\n}}\n")


def _fleet(b_rule: str = "") -> str:
    """A cheap 4-L40S node (1 USD/h), dear ones (20), 8-A10G nodes (25). `a` (placed first)
    takes the cheap node whole (4 L40S); `b` (2 L40S or 4 A10G) then finds a dear L40S node
    cheaper than an A10G one (20 against 25); `c` (A10G only) opens an A10G node for 4 of its
    8 GPUs. Every node in one zone."""
    pools = (gpu_pool("l40s", 1, "L40S", 4, 1) + gpu_pool("l40s_dear", 5, "L40S", 4, 20)
             + gpu_pool("a10g", 3, "A10G", 8, 25)).replace("  price", '  zone = "z1"\n  price')
    return ('import "std/accelerators"\n\n' + pools
            + _group("a", 30, {"L40S": 4, "A10G": 8}) + _group("b", 20, {"L40S": 2, "A10G": 4}, b_rule)
            + _group("c", 10, {"A10G": 4}))


def test_a_dear_node_s_option_replicas_go_to_another_option_s_free_room_and_it_closes(tmp_path):
    # the floor: 1 + 20 + 25 = 46 (consolidation moves no replica to another option). `b`'s 2
    # L40S replicas deliver what 4 A10G ones do, and `c`'s A10G node has 4 GPUs free: the dear
    # L40S node closes, 26, the least (every replica of `a` / `b` on L40S needs the dear node)
    problem = problem_from(tmp_path, _fleet())
    floor, _ = greedy_floor(problem)
    consolidate(problem, floor, "cost")
    assert verified_cost(problem, floor) == 46
    assert options_converted(problem, floor, "cost", None) == 1
    assert verified_cost(problem, floor) == 26
    hosted = {name for nodes in floor.nodes.values() for node in nodes for name in node.hosted}
    assert "b[L40S]" not in hosted and "b[A10G]" in hosted


def test_the_search_converts_before_an_accelerator_mip_that_takes_its_time(tmp_path, monkeypatch):
    # the search's accelerator MIP runs past its deadline and keeps nothing (`bench/ai_fleet.py`
    # 10,000 seed 20 at 5 s: HiGHS's root took 0.91 of the 0.93 CPU s left): the conversion,
    # before it, has closed the dear node already (46 -> 26, the first test)
    problem = problem_from(tmp_path, _fleet())
    floor, _ = greedy_floor(problem)
    consolidate(problem, floor, "cost")
    assert verified_cost(problem, floor) == 46
    now = [1000.0]

    def ticking() -> float:  # a clock that moves on a little each time it is read
        now[0] += 1e-4
        return now[0]

    def whole_time(problem_, packing, objective, deadline) -> bool:
        now[0] = deadline + 0.2  # (past the search's own deadline too)
        return False

    monkeypatch.setattr(time, "monotonic", ticking)
    monkeypatch.setattr(search_stages, "accelerators_repacked", whole_time)
    searched = search_stages.searched(problem, floor, "cost", now[0] + 1.0, lambda *said: None, None)
    assert verified_cost(problem, searched) == 26


def test_a_group_a_rule_counts_keeps_its_option(tmp_path):
    # `b` spread over zones: a replica more or fewer changes the rule's counts (with one zone,
    # not whether it holds: the module does not weigh a rule it would change), so its dear node
    # stays (26 with `b` converted). `a`'s cheap node, full, closes (its A10G option has 4 GPUs
    # idle on `c`'s node): 2 of its L40S replicas beside `b` on the dear node's idle GPUs, the
    # other 2 as 4 A10G ones on `c`'s node: 45
    problem = problem_from(tmp_path, _fleet("  spread zone max_skew 1\n"))
    floor, _ = greedy_floor(problem)
    consolidate(problem, floor, "cost")
    assert verified_cost(problem, floor) == 46
    assert options_converted(problem, floor, "cost", None) == 1
    assert verified_cost(problem, floor) == 45
    hosted = [node.hosted for nodes in floor.nodes.values() for node in nodes]
    assert sum(h.get("b[L40S]", 0) for h in hosted) == 2 and not any("b[A10G]" in h for h in hosted)
    assert sum(h.get("a[L40S]", 0) for h in hosted) == 2 and sum(h.get("a[A10G]", 0) for h in hosted) == 4


def _full_dear_fleet() -> str:
    """A 2-L40S node at 20 USD/h, a 4-A10G node at 5, a CPU node at 1; `b` (2 L40S or 4 A10G)
    and a service `svc` (8 CPUs, 2 replicas). Every node in one zone."""
    pools = (gpu_pool("l40s_dear", 1, "L40S", 2, 20) + gpu_pool("a10g", 1, "A10G", 4, 5)
             + "pool cpu {\n  count = 1\n  cpu = 64\n  memory = 512GiB\n  price = 1 USD/h\n}\n"
             ).replace("  price", '  zone = "z1"\n  price')
    return ('import "std/accelerators"\n\n' + pools + _group("b", 20, {"L40S": 2, "A10G": 4})
            + "workload svc {\n  replicas = 2\n  cpu = 8\n  memory = 16GiB\n}\n")


def test_a_full_dear_node_s_option_replicas_go_to_a_cheaper_node_of_another_option(tmp_path):
    # `b` on the dear node, its 2 GPUs in use, a `svc` replica beside it and one on the CPU
    # node: 21. The dear node has no accelerator idle, yet its L40S replicas as 4 A10G ones on
    # a new A10G node and its `svc` replica in the CPU node's room cost 6 (inventory 10,000
    # seed 109: full 6.24 USD/h A10G nodes closed so)
    problem = problem_from(tmp_path, _full_dear_fleet())
    packing = Packing(nodes={"l40s_dear": [node_state(problem, "l40s_dear", 0, {"b[L40S]": 2, "svc": 1})],
                             "cpu": [node_state(problem, "cpu", 0, {"svc": 1})]})
    assert verified_cost(problem, packing) == 21
    assert options_converted(problem, packing, "cost", None) == 1
    assert verified_cost(problem, packing) == 6
    hosted = [node.hosted for nodes in packing.nodes.values() for node in nodes]
    assert sum(h.get("b[A10G]", 0) for h in hosted) == 4 and not any("b[L40S]" in h for h in hosted)
