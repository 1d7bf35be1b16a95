"""A spread over domains of offers (regions where nodes are bought): where dealing it over every
region its offers are sold in leaves replicas out, dealt over fewer (issue 15, session 50, the
fleet mostly bought of `bench/cloud_buy.py`). Before, a service of 6 replicas `spread region
max_skew 1` that may buy one offer sold in 4 regions, `max_count = 3`, went one a region and
left replicas out where one node bought in one region holds all six: `fitc solve` ended
`unknown`."""

from __future__ import annotations

from solving import problem_from, verified_cost, verified_packing, workload


def _offer(name: str, regions: list[str], price: str, arch: str = "amd64") -> str:
    listed = ", ".join(f'"{r}"' for r in regions)
    return (f'offer {name} {{\n  provider = aws\n  instance_type = "m7i.2xlarge"\n  max_pods = 58\n'
            f'  regions = [{listed}]\n  cpu = 8\n  memory = 32GiB\n  arch = {arch}\n'
            f"  price = {price} USD/h\n}}\n")


REGIONS = ["us-east-1", "us-east-2", "us-west-1", "us-west-2"]
BUY = "buy {{\n  offers = [{}]\n  max_count = 3\n}}\n"
WEB = "  spread region max_skew 1\n  arch = [amd64, arm64]\n  priority = 10\n"


def _per_region(problem, packing, name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for class_id, nodes in packing.nodes.items():
        region = problem.node_class(class_id).region
        counts[region] = counts.get(region, 0) + sum(node.hosted.get(name, 0) for node in nodes)
    return {region: count for region, count in counts.items() if count}


def test_a_spread_over_bought_regions_goes_over_fewer_where_every_region_leaves_replicas_out(tmp_path):
    from fitlang.solve.greedy import greedy_floor

    problem = problem_from(tmp_path, _offer("vm", REGIONS, "0.4") + BUY.format("vm")
                           + workload("web", 6, 1, "1GiB", WEB))
    floor = greedy_floor(problem, short_first=True)[0]
    assert floor.complete  # before: 4 regions, one node each: 3 bought, 3 replicas out
    verified_packing(problem, floor)  # the spread over the regions where nodes are bought
    assert sum(len(nodes) for nodes in floor.nodes.values()) <= 3


def test_a_spread_held_in_fewer_regions_keeps_the_others_from_buying_in_new_ones(tmp_path):
    """web (first: priority 10) is held in one region of `cheap` (6 on one node); `other` may
    use only `arm` (us-west), which web may use too: a node of it bought in a region web holds
    none of would make a domain holding 0 beside 6. Left out (the completions after the greedy
    pass may place it elsewhere), never breaking web's spread."""
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.spread_domains import spreads_kept

    text = (_offer("cheap", REGIONS[:2], "0.1") + _offer("arm", REGIONS[2:], "0.2", "arm64")
            + BUY.format("cheap, arm")
            + workload("web", 6, 1, "1GiB", WEB) + workload("other", 1, 7, "1GiB", "  arch = [arm64]\n"))
    problem = problem_from(tmp_path, text)
    floor = greedy_floor(problem, short_first=True)[0]
    assert sum(_per_region(problem, floor, "web").values()) == 6
    assert spreads_kept(problem, floor)


def test_a_second_floor_places_the_spreads_over_bought_regions_last_over_the_regions_bought(tmp_path):
    """`inf` needs the GPU offer, sold in us-west-1 only (8 CPUs, 1 USD/h); `web` (4 x 1 CPU,
    `spread region max_skew 1`) may use it and the CPU offer of four regions. Dealt over every
    region: one a region, three CPU nodes bought beside the GPU node (2.2 USD/h). Placed last,
    over the regions that exist then: all four in the GPU node's free room (1 USD/h), the
    only region where anything is bought, the optimum."""
    from fitlang.solve.greedy import greedy_floor
    from fitlang.solve.spread_domains import spreads_kept

    l4 = "  gpu {\n    model = L4\n    count = 1\n  }\n"
    gpu = _offer("gpu_vm", ["us-west-1"], "1.0").replace("  arch", l4 + "  arch")
    text = ('import "std/accelerators"\n' + _offer("vm", REGIONS, "0.4") + gpu
            + "buy {\n  offers = [vm, gpu_vm]\n  max_count = 8\n}\n"
            + workload("web", 4, 1, "1GiB", "  spread region max_skew 1\n")
            + workload("inf", 1, 2, "4GiB", "  gpu {\n    count = 1\n  }\n"))
    problem = problem_from(tmp_path, text)
    floor = greedy_floor(problem, short_first=True)[0]
    assert floor.complete and spreads_kept(problem, floor)
    assert verified_cost(problem, floor) == 1  # before: 2.2


def _regions_of(problem, placement, name: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    owner = problem.owners()
    for assignment in placement.assignments:
        if assignment.workload == name:
            region = owner[assignment.node].region
            counts[region] = counts.get(region, 0) + 1
    return counts


def test_min_domains_buys_a_spread_over_regions_in_as_many_regions(tmp_path):
    """h55g: `spread region` of a workload that may only buy was met by buying in one region (a
    region of offers is a domain only where a node is bought). With `min_domains 3`
    (Kubernetes' `minDomains`: while fewer domains exist, each holds at most `max_skew`) the
    solver buys in three regions, and `verify` holds it; without it, one region."""
    from solving import solved

    for least, regions in (("", 1), (" min_domains 3", 3), (" min_domains 4", 4)):
        problem = problem_from(tmp_path, _offer("vm", REGIONS, "0.4") + "buy {\n  offers = [vm]\n}\n"
                               + workload("web", 6, 1, "1GiB", f"  spread region max_skew 1{least}\n"))
        placement = solved(problem)
        counts = _regions_of(problem, placement, "web")
        assert len(counts) == regions and sum(counts.values()) == 6, (least, counts)
        assert max(counts.values()) - min(counts.values()) <= 1


def test_min_domains_keeps_the_greedy_floor_from_dealing_over_fewer_regions(tmp_path):
    """The floor deals a spread over bought regions over fewer of them where every region
    leaves replicas out (`max_count = 3`); never over fewer than `min_domains`: 6 replicas,
    `max_skew 2`, `min_domains 3` hold in 3 regions (2 a node), or are left out."""
    from fitlang.solve.greedy import greedy_floor

    web = "  spread region max_skew 2 min_domains 3\n  arch = [amd64, arm64]\n  priority = 10\n"
    problem = problem_from(tmp_path, _offer("vm", REGIONS, "0.4") + BUY.format("vm")
                           + workload("web", 6, 1, "1GiB", web))
    floor = greedy_floor(problem, short_first=True)[0]
    assert floor.complete
    verified_packing(problem, floor)
    assert len(_per_region(problem, floor, "web")) >= 3


def test_verify_refuses_a_spread_in_fewer_regions_than_min_domains(tmp_path):
    """The placement of one region (what `spread region max_skew 1` alone is met by) breaks
    `min_domains 2`: the emptiest counts 0 while fewer domains exist (E0503 at the spread)."""
    import json

    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    from solving import solved

    text = _offer("vm", REGIONS, "0.4") + "buy {\n  offers = [vm]\n}\n"
    spread = "  spread region max_skew 1\n"
    one_region = solved(problem_from(tmp_path, text + workload("web", 4, 1, "1GiB", spread)))
    problem = problem_from(tmp_path, text + workload("web", 4, 1, "1GiB",
                                                     "  spread region max_skew 1 min_domains 2\n"))
    violations, _ = verify(problem, json.loads(as_json(problem, one_region, [])))
    assert [v.message for v in violations] == [
        "`web` is spread 0..4 per region over 1 region domain(s), fewer than min_domains 2; max_skew is 1"]
