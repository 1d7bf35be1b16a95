"""A workload with a spread and latency rules, placed by the greedy pass (issue 15, session 49,
`bench/cloud_buy.py --small` seed 4): its users in two places no region reaches both, a
`spread region`. Before, the pass kept it to the classes within reach of every location (none)
and left it out whole; `fitc solve` answered `unknown` with nothing placed where the exact
search ran out of time. Now it goes over every domain of its spread, those in reach first."""

from __future__ import annotations

import numpy as np

from solving import pool, problem_from, workload

# users_w is 2 ms from region w, users_c 2 ms from c; e is out of reach of both
SITES = "".join(f'region site_{r} {{\n  code = "{r}"\n  jurisdiction = US\n}}\n' for r in ("w", "c", "e")) + (
    'location users_w {\n  city = "W"\n}\nlocation users_c {\n  city = "C"\n}\n'
    "latency {\n  from = users_w\n  to = { site_w: 2ms, site_c: 40ms, site_e: 60ms }\n}\n"
    "latency {\n  from = users_c\n  to = { site_w: 40ms, site_c: 2ms, site_e: 20ms }\n}\n")
WEB_RULES = ("  spread region max_skew 1\n"
             "  latency {\n    users = [users_w, users_c]\n    within = 10ms\n  }\n")


def _spread_with_users_apart() -> str:
    """One node in each of w, c and e (8 CPUs); web: 7 x 1 CPU, spread over the three regions
    (3 + 2 + 2), one replica within 10 ms of users_w (only w) and one of users_c (only c)."""
    def site(region, price):
        return pool(f"p_{region}", 1, 8, "32GiB", price, f'  region = "{region}"\n')
    return site("w", 2) + site("c", 1) + site("e", 1) + SITES + workload("web", 7, 1, "1GiB", WEB_RULES)


def test_the_greedy_pass_spreads_a_workload_whose_users_no_region_reaches_together(tmp_path):
    from fitlang.solve.greedy import greedy_floor

    problem = problem_from(tmp_path, _spread_with_users_apart())
    floor = greedy_floor(problem, short_first=True)[0]
    assert floor.complete  # before: web left out whole
    per_region: dict[str, int] = {}
    for class_id, nodes in floor.nodes.items():
        region = problem.node_class(class_id).region
        per_region[region] = per_region.get(region, 0) + sum(n.hosted.get("web", 0) for n in nodes)
    assert sorted(per_region.values()) == [2, 2, 3]
    assert per_region["w"] >= 1 and per_region["c"] >= 1


def test_the_domains_in_each_rules_reach_come_first():
    from fitlang.solve.spread_reach import reach_first, within_reach

    domains = [np.array([0]), np.array([1, 2]), np.array([3])]
    reach = [np.array([False, False, False, True]), np.array([False, False, True, False])]
    assert [d.tolist() for d in reach_first(domains, reach)] == [[3], [1, 2], [0]]
    assert within_reach([(3, 1), (2, 1)], reach, [1, 1])
    assert not within_reach([(3, 2), (0, 1)], reach, [1, 1])


OFFER = ('offer small_vm {\n  provider = aws\n  instance_type = "m7i.large"\n  max_pods = 29\n'
         '  regions = ["us-east-1", "us-east-2"]\n  cpu = 2\n  memory = 8GiB\n  price = 0.1 USD/h\n}\n'
         "buy {\n  offers = [small_vm]\n  max_count = 4\n}\n")


def test_a_node_bought_in_a_new_domain_breaks_the_spreads_of_those_that_may_use_it(tmp_path):
    """The large-neighbourhood search kept a step that bought a node in a region where a
    spread workload it did not move holds none (cloud_buy --small seed 12: E0507, `unknown`)."""
    from fitlang.solve.pack import NodeState, Packing
    from fitlang.solve.spread_domains import spreads_kept

    problem = problem_from(tmp_path, pool("dc", 1, 8, "32GiB", 0, '  region = "dc"\n') + OFFER
                           + workload("web", 4, 1, "1GiB", "  spread region max_skew 1\n")
                           + workload("other", 1, 1, "1GiB"))
    east1, east2 = (problem.node_class(f"small_vm@{r}").id for r in ("us-east-1", "us-east-2"))
    two = Packing(nodes={"dc": [NodeState("dc-0", {}, {"web": 2})],
                         east1: [NodeState("small_vm-us-east-1-0", {}, {"web": 2, "other": 1})]})
    assert spreads_kept(problem, two)  # us-east-2: nothing bought, no domain
    two.nodes[east2] = [NodeState("small_vm-us-east-2-0", {}, {})]
    assert not spreads_kept(problem, two)  # bought there: web holds 2, 2 and 0


def test_a_search_that_ends_breaking_a_spread_it_kept_gives_back_its_start(tmp_path):
    """The net under every stage of the search (`searched_keeping_spreads`): a search whose
    end opens a node in a new region of a spread workload is given back as it began."""
    from fitlang.solve.pack import NodeState, Packing
    from fitlang.solve.spread_domains import searched_keeping_spreads, spreads_kept

    problem = problem_from(tmp_path, pool("dc", 1, 8, "32GiB", 0, '  region = "dc"\n') + OFFER
                           + workload("web", 4, 1, "1GiB", "  spread region max_skew 1\n"))
    east1, east2 = (problem.node_class(f"small_vm@{r}").id for r in ("us-east-1", "us-east-2"))
    start = Packing(nodes={"dc": [NodeState("dc-0", {}, {"web": 2})],
                           east1: [NodeState("small_vm-us-east-1-0", {}, {"web": 2})]})

    def breaking() -> Packing:
        start.nodes[east2] = [NodeState("small_vm-us-east-2-0", {}, {})]
        return start

    kept = searched_keeping_spreads(problem, start, breaking)
    assert spreads_kept(problem, kept) and east2 not in kept.nodes
    assert {c: [(n.name, n.hosted) for n in nodes] for c, nodes in kept.nodes.items()} == {
        "dc": [("dc-0", {"web": 2})], east1: [("small_vm-us-east-1-0", {"web": 2})]}
