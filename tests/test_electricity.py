"""Electricity prices: `electricity` blocks price the power a node in use draws into the cost
objective; the report shows the energy part."""

from __future__ import annotations

import json
from fractions import Fraction

from fitlang.solve.report import as_json, as_text
from fitlang.solve.verify import verify

from solving import on_pools, problem_from, solved


def site(name, price, extra=""):
    return (f"pool {name} {{\n  count = 2\n  cpu = 8\n  memory = 32Gi\n  price = {price} USD/h\n"
            f'  power = 2kW\n  labels = {{site: "{name}"}}\n{extra}}}\n')


FLEET = site("dc1", "1.00") + site("dc2", "1.10")
WORK = "workload w {\n  replicas = 2\n  cpu = 8\n  memory = 32Gi\n}\n"
PRICES = ('electricity dc1_power {\n  labels = {site: "dc1"}\n  price = 0.30 USD/kWh\n}\n'
          'electricity dc2_power {\n  labels = {site: "dc2"}\n  price = 0.10 USD/kWh\n}\n')


def test_electricity_price_moves_work_to_the_cheaper_site(tmp_path):
    # two 2 kW nodes. Without prices: dc1, 2 x 1.00 = 2.00 USD/h. With them: dc1 costs
    # 1.00 + 2 kW x 0.30 = 1.60 a node, dc2 1.10 + 2 kW x 0.10 = 1.30: dc2, 2 x 1.30 = 2.60 USD/h.
    problem = problem_from(tmp_path, FLEET + WORK)
    assert on_pools(solved(problem), problem) == {"w": {"dc1": 2}}
    problem = problem_from(tmp_path, FLEET + WORK + PRICES)
    placement = solved(problem)
    assert placement.value == Fraction("2.6")
    assert on_pools(placement, problem) == {"w": {"dc2": 2}}
    document = json.loads(as_json(problem, placement, [], all_nodes=True))
    assert document["energy"] == [
        {"scope": "site=dc1", "price_usd_kwh": 0.3, "used_kw": 0.0, "cost_usd_h": 0.0},
        {"scope": "site=dc2", "price_usd_kwh": 0.1, "used_kw": 4.0, "cost_usd_h": 0.4}]
    assert {n["name"]: n["energy_usd_h"] for n in document["nodes"]} == {
        "dc1-0": 0.6, "dc1-1": 0.6, "dc2-0": 0.2, "dc2-1": 0.2}
    text = as_text(problem, placement)
    assert "electricity (site=dc2): 4.0 kW at 0.1 USD/kWh = 0.40 USD/h of the cost" in text
    assert "cost: 2.60 USD/h" in text


def test_power_from_accelerators_is_priced_and_budgets_see_it(tmp_path):
    # a node of idle 500 W + 2 x 700 W L4s = 1.9 kW at 0.20 USD/kWh = 0.38 USD/h on top of 1 USD/h;
    # a budget of 1.30 USD/h is then too small, 1.38 is enough
    gpu = ('accelerator L4 {\n  vendor = nvidia\n  memory = 24GB\n  tdp = 700W\n}\n'
           "pool g {\n  count = 1\n  cpu = 8\n  memory = 32Gi\n  price = 1 USD/h\n  idle_power = 500W\n"
           "  gpu {\n    model = L4\n    count = 2\n  }\n}\n"
           "electricity all_sites {\n  price = 0.20 USD/kWh\n}\n"
           "workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n")
    problem = problem_from(tmp_path, gpu + "policy {\n  budget = 1.38 USD/h\n}\n")
    placement = solved(problem)
    assert placement.value == Fraction("1.38")
    problem = problem_from(tmp_path, gpu + "policy {\n  budget = 1.30 USD/h\n  allow_unplaced = true\n}\n")
    placement = solved(problem)
    assert len(placement.unplaced) == 1
    document = json.loads(as_json(problem, placement, []))
    assert verify(problem, document) == ([], [])
