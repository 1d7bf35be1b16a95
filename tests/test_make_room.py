"""make_room.py: a packing short of a spread's replica after `_completed`'s repair, on fleets
where not everything fits. The answer must leave out the least, priority level by priority
level from the highest, as worked out by hand for each fleet (given the packing's other
replicas where a test says so), and every placement must verify (replicas left out allowed)."""

from __future__ import annotations

import dataclasses
import json

from test_first_fit import short_floor as short_floor  # (a fixture)

from fitlang.model.problem import RESOURCES
from fitlang.solve.aggregate import completed
from fitlang.solve.make_room import left_out, trim_spreads
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.placement import FEASIBLE, _from_packing
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import pool, problem_from, workload


def _zone_pool(name, zone, count, cpu):
    return (f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = 64Gi\n"
            f"  zone = \"{zone}\"\n  price = 1 USD/h\n}}\n")


def _spread(priority):
    return f"  spread zone max_skew 1\n  priority = {priority}\n"


def _packed(problem, hosted_per_node: dict[str, dict[str, int]],
            short: dict[tuple[str, str], int]) -> Packing:
    """A packing of the named nodes (what each hosts), short of `short` (workload, pool)."""
    packing = Packing()
    for node_class in problem.classes:
        for name in node_class.node_names:
            if name in hosted_per_node:
                free = dict(node_class.capacity_of(name))
                for workload_name, amount in hosted_per_node[name].items():
                    for resource in RESOURCES:
                        free[resource] -= problem.demand(workload_name).requests[resource] * amount
                packing.nodes.setdefault(node_class.id, []).append(
                    NodeState(name, free, dict(hosted_per_node[name])))
    for (workload_name, class_id), amount in short.items():
        packing.add_short(workload_name, class_id, amount)
    return packing


def _completed_by_hand(problem, packing: Packing) -> Packing:
    """`_completed` without a time limit (repair, then making room), every node countable,
    and the spreads it leaves short trimmed, as the rounds' kept packing is."""
    planned = {c.id: c.count for c in problem.classes}
    packing = completed(problem, {}, planned, packing, "cost", False, None)
    trim_spreads(problem, packing)
    return packing


def _left_out_verified(problem, packing: Packing) -> dict[str, int]:
    """Workload -> replicas the packing's placement leaves out; the placement verifies."""
    placement = _from_packing(problem, packing, "cost", FEASIBLE, None)
    document = json.loads(as_json(problem, placement, []))
    violations, problems = verify(dataclasses.replace(problem, allow_unplaced=True), document)
    assert violations == [] and problems == [], [v.message for v in violations] + problems
    out: dict[str, int] = {}
    for item in placement.unplaced:
        out[item.workload] = out.get(item.workload, 0) + 1
    return out


def _two_zones(tmp_path, batch_priority: int):
    # zones a and b, two 4-CPU nodes each (16 CPUs); a spread service of 4 x 2 CPUs (two
    # per zone) and 9 batch replicas of 1 CPU: 17 CPUs asked, so one CPU's worth is left out
    text = (_zone_pool("a", "za", 2, 4) + _zone_pool("b", "zb", 2, 4)
            + workload("svc", 4, 2, "1Gi", _spread(10))
            + workload("batch", 9, 1, "1Gi", f"  priority = {batch_priority}\n"))
    problem = problem_from(tmp_path, text)
    # the packing put a batch replica too many on a-1: the service's second replica in zone
    # a fits nowhere there, so the service would be left out whole (4 replicas)
    packing = _packed(problem, {"a-0": {"svc": 1, "batch": 2}, "a-1": {"batch": 3},
                                "b-0": {"svc": 2}, "b-1": {"batch": 4}}, {("svc", "a"): 1})
    return problem, packing


def test_a_spreads_last_replica_takes_a_lower_priority_batch_replicas_room(tmp_path):
    # by hand: 16 CPUs hold the service (8) and 8 of the 9 batch replicas, so the least to
    # leave out is one batch replica (priority 0), not the service (4 at priority 10)
    problem, packing = _two_zones(tmp_path, batch_priority=0)
    packing = _completed_by_hand(problem, packing)
    assert _left_out_verified(problem, packing) == {"batch": 1}
    assert left_out(problem, packing) == (0, 1)


def test_a_higher_priority_replica_is_never_taken_off_and_the_spread_keeps_what_holds_its_skew(tmp_path):
    # the batch replicas outrank the service: all 9 stay (9 CPUs), the service gets 7 CPUs,
    # 3 replicas (1 in zone a, 2 in b: skew 1). By hand the least to leave out is that one
    # replica of the service; before, the service went whole (4)
    problem, packing = _two_zones(tmp_path, batch_priority=20)
    packing = _completed_by_hand(problem, packing)
    assert _left_out_verified(problem, packing) == {"svc": 1}
    assert left_out(problem, packing) == (0, 1)


def test_a_spread_short_in_a_small_zone_leaves_out_only_what_its_skew_needs(tmp_path):
    # zone a is one 4-CPU node; a spread of 6 x 1 CPU would need 3 there and a spread of
    # 2 x 2 CPUs 1 (5 CPUs): not both. By hand the least to leave out is one replica of the
    # wide one (2 in zone a, 3 in b: skew 1), not either spread whole (6 or 2). The packing
    # was short of the wide one's third replica in zone a
    text = (_zone_pool("a", "za", 1, 4) + _zone_pool("b", "zb", 2, 4)
            + workload("wide", 6, 1, "1Gi", _spread(10)) + workload("small", 2, 2, "1Gi", _spread(10)))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"a-0": {"small": 1, "wide": 2}, "b-0": {"wide": 3}, "b-1": {"small": 1}},
                      {("wide", "a"): 1})
    packing = _completed_by_hand(problem, packing)
    assert _left_out_verified(problem, packing) == {"wide": 1}


def test_a_spreads_excess_is_taken_off_where_a_zone_has_none_of_it(tmp_path):
    # the spread (3 x 1 CPU over two zones) has none in zone a, whose node is full of work
    # that outranks it and may run only there, and two in zone b: a skew of 2. Its excess,
    # one replica of zone b, is taken off (1 placed, skew 1), rather than the spread left
    # out whole. By hand: with zone a full, zone b may hold 1 (skew 1), so 2 are left out
    hog = '  priority = 20\n  require zone == "za"\n'
    text = (_zone_pool("a", "za", 1, 4) + _zone_pool("b", "zb", 1, 4)
            + workload("hog", 4, 1, "1Gi", hog) + workload("s", 3, 1, "1Gi", _spread(10)))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"a-0": {"hog": 4}, "b-0": {"s": 2}}, {("s", "a"): 1})
    packing = _completed_by_hand(problem, packing)
    assert _left_out_verified(problem, packing) == {"s": 2}


def test_another_spreads_replica_moves_to_a_zone_where_it_keeps_its_skew(tmp_path):
    # zone a is one 4-CPU node holding two of `three`'s 2-CPU replicas; `two` (2 x 2 CPUs,
    # one per zone) is short in zone a. One of `three`'s moves to zone b (2 there, 1 in a:
    # skew 1) and `two` takes its place: nothing is left out
    text = (_zone_pool("a", "za", 1, 4) + _zone_pool("b", "zb", 2, 4)
            + workload("three", 3, 2, "1Gi", _spread(10)) + workload("two", 2, 2, "1Gi", _spread(10)))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"a-0": {"three": 2}, "b-0": {"three": 1, "two": 1}}, {("two", "a"): 1})
    packing = _completed_by_hand(problem, packing)
    assert packing.complete
    assert _left_out_verified(problem, packing) == {}


def test_a_gangs_last_replica_takes_a_lower_priority_batch_replicas_room(tmp_path):
    # two 4-CPU nodes; a gang of 3 x 2 CPUs (all or none) and 3 batch replicas of 1 CPU: 9
    # CPUs asked of 8. By hand the least to leave out is one batch replica; the packing put
    # all three batch replicas on one node, so the gang's third fits nowhere as it stands
    gang = "  kind = job\n  gang = true\n  priority = 10\n"
    text = pool("a", 2, 4, "16Gi", 1) + workload("g", 3, 2, "1Gi", gang) + workload("batch", 3, 1, "1Gi")
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"a-0": {"g": 2}, "a-1": {"batch": 3}}, {("g", "a"): 1})
    packing = _completed_by_hand(problem, packing)
    assert _left_out_verified(problem, packing) == {"batch": 1}


def test_a_follower_in_a_zone_its_short_target_has_no_replica_in_is_left_out_whole(tmp_path):
    # random fleet x10 seed 3: the model's packing put `follower` (affinity `target` on zone) in
    # zone b and left `target` short of every replica; the answer broke the affinity. Zone a's
    # follower replica beside the target's one stays; zone b's has no target there, so the
    # follower is left out whole (as a follower of a dropped target is) and the rest verifies
    text = (_zone_pool("a", "za", 1, 4) + _zone_pool("b", "zb", 1, 4)
            + workload("target", 2, 2, "1Gi", "")
            + workload("follower", 2, 1, "1Gi", "  affinity target on zone\n"))
    problem = problem_from(tmp_path, text)
    packing = _packed(problem, {"a-0": {"target": 1, "follower": 1}, "b-0": {"follower": 1}},
                      {("target", "b"): 1})
    assert _left_out_verified(problem, packing) == {"target": 1, "follower": 2}
    assert left_out(problem, packing) == (3,)
    beside = _packed(problem, {"a-0": {"target": 1, "follower": 2}}, {("target", "b"): 1})
    assert _left_out_verified(problem, beside) == {"target": 1}


def test_the_nodes_hosting_each_workload_found_at_once_give_each_spreads_excess_as_before(short_floor):
    # ai_fleet 1,000 seed 16: the floor leaves zone-spread inference services short. `left_out`
    # finds every workload's nodes in one pass (`hosted_on`), not over every node for each
    # short spread: the same excess per spread, and `excess` leaves what it is given as it was
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.make_room import dropped_whole, excess, hosted_on

    floor, _ = greedy_floor(short_floor)
    short = {name for name, _ in floor.short_by_workload}
    spreads = [d for d in short_floor.demands if d.name in short and d.spreads]
    hosted = hosted_on(floor)
    before = {name: dict(on) for name, on in hosted.items()}
    assert spreads and any(excess(short_floor, floor, d) for d in spreads)
    assert all(excess(short_floor, floor, d, hosted) == excess(short_floor, floor, d) for d in spreads)
    assert hosted == before
    assert dropped_whole(short_floor, floor, hosted) == dropped_whole(short_floor, floor)
    placed = {d.name: sum(n.hosted.get(d.name, 0) for nodes in floor.nodes.values() for n in nodes)
              for d in short_floor.demands}
    assert all(sum(hosted.get(name, {}).values()) == amount for name, amount in placed.items())
    assert sum(left_out(short_floor, floor)) > 0
