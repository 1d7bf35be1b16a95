"""A paid node closed where one spread replica beside it, sent across its spread's domains,
makes room for its replicas (crossing_room.py). Held to a hand count of the optimum and to
`verify` (neither shares code with the move)."""

from __future__ import annotations

from fractions import Fraction

from fitlang.model.problem import RESOURCES
from fitlang.solve.crossing_room import crossing_room
from fitlang.solve.dear_nodes import dear_nodes_ruined
from fitlang.solve.improve import consolidate
from fitlang.solve.pack import NodeState, Packing

from solving import problem_from, verified_cost

# zone z1: 8-CPU nodes at 1 USD/h; zone z2: 2-CPU nodes at SMALL_PRICE. `svc` (4 CPUs) fits
# z1's nodes only; `job` (2 CPUs) must run in z1; `web` (3 replicas of 2 CPUs) spreads over
# the zones with a skew of 1
FLEET = '''pool big {
  count = 2
  cpu = 8
  memory = 64GiB
  zone = "z1"
  price = 1 USD/h
}

pool small {
  count = 2
  cpu = 2
  memory = 64GiB
  price = SMALL_PRICE USD/h
  zone = "z2"
}

workload svc {
  replicas = 1
  cpu = 4
  memory = 1GiB
}

workload web {
  replicas = 3
  cpu = 2
  memory = 1GiB
  spread zone max_skew 1
}

workload job {
  replicas = 1
  cpu = 2
  memory = 1GiB
  zones = ["z1"]
}
'''


def _packing(problem) -> Packing:
    """big-0 full (svc and two web), big-1 with job alone, small-0 full with the third web:
    2 + SMALL_PRICE USD/h. job fits nowhere else in z1, and neither web on big-0 has room in
    z2 (small-0 is full), so no replica of big-1 or big-0 moves into free room as it is."""
    def node(class_id: str, name: str, hosted: dict[str, int]) -> NodeState:
        capacity = problem.node_class(class_id).capacity_of(name)
        free = {r: capacity[r] - sum(problem.demand(w).requests[r] * n for w, n in hosted.items())
                for r in RESOURCES}
        return NodeState(name, free, hosted)

    big = [node("big", "big-0", {"svc": 1, "web": 2}), node("big", "big-1", {"job": 1})]
    return Packing(nodes={"big": big, "small": [node("small", "small-0", {"web": 1})]})


def test_a_spread_replica_sent_across_zones_onto_a_cheaper_node_closes_a_paid_node(tmp_path):
    # by hand: svc needs a z1 node (1 USD/h), which holds svc, job and one web (8 CPUs); the
    # other two web in z2 (1 / 2, within the skew) on two 2-CPU nodes: 1.80, the least. One web
    # off big-0 onto a new small node (z1 1 / z2 2), job onto big-0, big-1 closed: that
    problem = problem_from(tmp_path, FLEET.replace("SMALL_PRICE", "0.40"))
    packing = _packing(problem)
    assert verified_cost(problem, packing) == Fraction(24, 10)
    # the stages before it leave it (no replica of the node they close has room in its zone)
    consolidate(problem, packing, "cost")
    assert dear_nodes_ruined(problem, packing, "cost", None, give_up=None) == 0
    assert verified_cost(problem, packing) == Fraction(24, 10)
    assert crossing_room(problem, packing, "cost", None) == 1
    assert verified_cost(problem, packing) == Fraction(18, 10)
    hosted = {n.name: n.hosted for nodes in packing.nodes.values() for n in nodes}
    assert hosted == {"big-0": {"svc": 1, "web": 1, "job": 1}, "small-0": {"web": 1}, "small-1": {"web": 1}}


def test_no_node_is_opened_for_the_replica_sent_across_where_it_costs_as_much_as_the_node_closed(tmp_path):
    problem = problem_from(tmp_path, FLEET.replace("SMALL_PRICE", "1.00"))
    packing = _packing(problem)
    assert crossing_room(problem, packing, "cost", None) == 0
    assert verified_cost(problem, packing) == 3


def test_a_replica_is_not_sent_where_the_spread_would_break_its_skew(tmp_path):
    # four web: z1 2 / z2 2 as placed (big-0's two, small-0 and small-1's one each); one more
    # in z2 is 1 / 3, beyond the skew of 1: big-1 stays open. With a skew of 2 it closes
    four = FLEET.replace("SMALL_PRICE", "0.40").replace("count = 2\n  cpu = 2", "count = 3\n  cpu = 2") \
        .replace("replicas = 3", "replicas = 4")
    for skew, closed, cost in ((1, 0, Fraction(28, 10)), (2, 1, Fraction(22, 10))):
        problem = problem_from(tmp_path, four.replace("max_skew 1", f"max_skew {skew}"), f"skew{skew}.fit")
        packing = _packing(problem)
        packing.nodes["small"].append(NodeState("small-1", {**packing.nodes["small"][0].free}, {"web": 1}))
        assert crossing_room(problem, packing, "cost", None) == closed
        assert verified_cost(problem, packing) == cost
