"""Nodes bought in the region of the policy's own nodes (or the `terraform` block's) where the
price ties: a tie-break, never a cost and never a broken rule (`solve/home_regions.py`)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from solving import pool, problem_from, solved, workload

REGIONS = ["us-east-1", "us-east-2", "us-west-2"]


def _offer(name: str, extra: str = "") -> str:
    regions = ", ".join(f'"{r}"' for r in REGIONS)
    return (f'offer {name} {{\n  provider = aws\n  instance_type = "{name}"\n  regions = [{regions}]\n'
            f"  cpu = 8\n  memory = 32GiB\n  price = 0.4 USD/h\n{extra}}}\n")


def _bought_regions(problem, placement) -> dict[str, int]:
    found: dict[str, int] = {}
    for class_id, names in placement.bought.items():
        region = problem.node_class(class_id).region
        found[region] = found.get(region, 0) + len(names)
    return found


def _policy(home: str, replicas: int = 7, cpu: int = 3, extra: str = "") -> str:
    # the own pool holds one replica of 3 CPU: the rest is bought (6, two a node: 3 nodes)
    return (pool("own", 1, 4, "16Gi", 0.1, f'  region = "{home}"\n') + _offer("m8")
            + "buy cloud {\n  offers = [m8]\n}\n" + workload("api", replicas, cpu, "4Gi", extra))


@pytest.mark.parametrize("home", REGIONS)
def test_at_a_price_tie_nodes_are_bought_in_the_region_of_the_policys_own_nodes(tmp_path, home):
    # found as a user (session 59): a cluster in us-east-1, its bare `buy` bought in us-east-2
    problem = problem_from(tmp_path, _policy(home))
    placement = solved(problem)
    assert _bought_regions(problem, placement) == {home: 3}
    # a tie-break, not a cost: what buying in that region alone costs
    only_there = _policy(home).replace("offers = [m8]", f'offers = [m8]\n  regions = ["{home}"]')
    alone = problem_from(tmp_path, only_there, "alone.fit")
    assert placement.value == solved(alone).value


def test_where_the_own_region_costs_more_nodes_are_bought_where_they_cost_least(tmp_path):
    text = 'import "std/regions"\n' + _policy("us-east-2").replace(
        "  price = 0.4 USD/h\n", "  price = 0.4 USD/h\n  region_prices = { aws_us_east_2: 0.5 USD/h }\n")
    problem = problem_from(tmp_path, text)
    placement = solved(problem)
    assert "us-east-2" not in _bought_regions(problem, placement)
    assert placement.value == Fraction(1, 10) + 3 * Fraction(4, 10)


@pytest.mark.parametrize("region", REGIONS)
def test_the_terraform_blocks_region_comes_first(tmp_path, region):
    # no node of its own: the region the policy's Terraform buys in
    text = (_offer("m8") + "buy cloud {\n  offers = [m8]\n}\n" + workload("api", 4, 3, "4Gi")
            + f'policy {{\n  terraform {{\n    region = "{region}"\n  }}\n}}\n')
    problem = problem_from(tmp_path, text)
    assert _bought_regions(problem, solved(problem)) == {region: 2}


@pytest.mark.parametrize("home", REGIONS)
def test_a_spread_over_regions_keeps_the_nodes_it_needs_elsewhere(tmp_path, home):
    # 2 replicas of 6 CPU (none fits the own pool) in 2 regions: one node moves to the own
    # region, the other stays where the rule needs it (`solved` verifies every placement)
    problem = problem_from(tmp_path, _policy(home, 2, 6, "  spread region max_skew 1 min_domains 2\n"))
    bought = _bought_regions(problem, solved(problem))
    assert len(bought) == 2 and bought[home] == 1

