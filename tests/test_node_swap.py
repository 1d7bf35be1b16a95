"""A bought node kept open by a rule over nodes, bought again whole as the cheapest class that
holds its replicas (node_swap.py). Held to `verify` and to hand-counted prices."""

from __future__ import annotations

from fractions import Fraction

from fitlang.solve import node_swap
from fitlang.solve.improve import consolidate
from fitlang.solve.node_swap import swapped_cheaper
from fitlang.solve.pack import Packing

from solving import node_state, problem_from, solved, verified_cost

# the two workloads both policies place: `web` a spread over nodes
WORKLOADS = '''
workload infer {
  replicas = 3
  cpu = 3
  memory = 12GiB
  gpu {
    count = 1
    require memory >= 24GB
  }
}

workload web {
  replicas = 4
  cpu = 1
  memory = 2GiB
  arch = [arm64, amd64]
  spread node max_skew 1
}
'''

# four offers in the order a first-fit meets them, the dearest first: `web` (a spread over
# nodes) keeps every node it runs on open, so no node closes and no replica moves alone
OFFERS = '''import "std/accelerators"

offer big {
  provider = aws
  instance_type = "p5.48xlarge"
  regions = ["us-east-1"]
  cpu = 192
  memory = 2048GiB
  gpu {
    model = H100
    count = 8
  }
  price = 55.04 USD/h
}

offer eight {
  provider = aws
  instance_type = "g5.48xlarge"
  regions = ["us-east-1"]
  cpu = 192
  memory = 768GiB
  gpu {
    model = A10G
    count = 8
  }
  price = 3.88 USD/h
}

offer one {
  provider = aws
  instance_type = "g6.xlarge"
  regions = ["us-east-1"]
  cpu = 4
  memory = 16GiB
  gpu {
    model = L4
    count = 1
  }
  price = 0.40 USD/h
}

offer small {
  provider = aws
  instance_type = "m7g.2xlarge"
  regions = ["us-east-1"]
  cpu = 8
  memory = 32GiB
  arch = arm64
  price = 0.3264 USD/h
}

buy {
  offers = [big, eight, one, small]
  max_count = 6
}
'''

# the case found as a user: `std/aws`, a buy limit of 6 nodes; the model's packing needed a
# seventh, and the floor's first-fit (the catalogue's first offer, p5.48xlarge) was the answer
FOUND = '''import "std/aws"

buy burst {
  regions = ["us-east-1"]
  max_count = 6
  spot = true
}

policy {
  terraform {
    provider = aws
    region = "us-east-1"
    cluster = "prod"
  }
}'''


def test_nodes_a_node_spread_keeps_open_are_bought_again_as_the_cheapest_class_holding_them(tmp_path):
    problem = problem_from(tmp_path, OFFERS + WORKLOADS)
    big = problem.node_class("big@us-east-1")
    packing = Packing(nodes={big.id: [node_state(problem, big.id, 0, {"infer": 3, "web": 1})] + [
        node_state(problem, big.id, i, {"web": 1}) for i in (1, 2, 3)]})
    assert verified_cost(problem, packing) == 4 * Fraction("55.04")
    consolidate(problem, packing, "cost")
    # the GPU node as the 8-GPU g5 (3 GPUs and a CPU used), each web node as an m7g
    assert verified_cost(problem, packing) == Fraction("3.88") + 3 * Fraction("0.3264")
    assert {class_id: len(nodes) for class_id, nodes in packing.nodes.items() if nodes} == {
        "eight@us-east-1": 1, "small@us-east-1": 3}


def test_a_buy_limit_the_model_s_packing_overran_does_not_leave_the_catalogue_s_first_offer(tmp_path):
    problem = problem_from(tmp_path, FOUND + WORKLOADS)
    placement = solved(problem)  # (no limit: no deadline cuts the stages short)
    assert not placement.unplaced
    assert placement.value < 10  # (4 x p5.48xlarge, 220.16 USD/h, before)


def test_a_node_no_cheaper_class_may_take_stays_listed_once(tmp_path, monkeypatch):
    # each web node may go to three cheaper classes (eight, one, small); with every move
    # breaking a spread (as seed 209's region spreads did), each is undone: a node was moved
    # back as a copy, the next target moved the original again, and each class tried left one
    # more copy (a node listed three times, its replicas placed three times over)
    problem = problem_from(tmp_path, OFFERS + WORKLOADS)
    big = problem.node_class("big@us-east-1")
    packing = Packing(nodes={big.id: [node_state(problem, big.id, i, {"web": 1}) for i in range(4)]})
    before = {class_id: [node.name for node in nodes] for class_id, nodes in packing.nodes.items()}
    monkeypatch.setattr(node_swap, "spreads_kept", lambda problem_, packing_: False)
    assert swapped_cheaper(problem, packing) == 0
    after = {class_id: [node.name for node in nodes] for class_id, nodes in packing.nodes.items() if nodes}
    assert {class_id: sorted(names) for class_id, names in after.items()} == before
