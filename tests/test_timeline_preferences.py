"""`prefer` rules with a horizon: the weights met break the ties the objectives leave, as
without one (`fitlang/solve/timeline_preferences.py`). Each outcome is worked out by hand in
its comment; every answer is checked by `fitc verify`."""

from __future__ import annotations

import json
from pathlib import Path

from fitlang.cli import main

POOLS = """\
pool a {{
  count = 2
  cpu = 16
  memory = 64GiB
  price = 1 USD/h
  labels = {{ tier: "gold" }}
}}

pool b {{
  count = 2
  cpu = 16
  memory = 64GiB
  price = {bronze} USD/h
  labels = {{ tier: "bronze" }}
}}

workload train {{
  kind = job
  replicas = 2
  cpu = 8
  memory = 16GiB
  duration = 2h
  command = ["t.sh"]
  prefer labels["tier"] == "bronze" weight 5
}}
{more}
policy {{
  horizon = 12h
  step = 1h
  start = "2026-12-06T00:00Z"
}}
"""

# a service on each tier, all horizon: web must run on bronze, batch on gold
SERVICES = """
workload web {
  replicas = 1
  cpu = 8
  memory = 16GiB
  image = "web:1"
  require labels["tier"] == "bronze"
}

workload batch {
  replicas = 1
  cpu = 8
  memory = 16GiB
  image = "batch:1"
  require labels["tier"] == "gold"
}
"""


def _solved(tmp_path: Path, capsys, bronze: str = "1", more: str = "") -> tuple[dict, str]:
    path = tmp_path / "p.fit"
    path.write_text(POOLS.format(bronze=bronze, more=more))
    assert main(["solve", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0
    return document, capsys.readouterr().out


def _nodes(document: dict, workload: str) -> list[str]:
    return sorted(a["node"] for a in document["assignments"] if a["workload"] == workload)


def test_a_tie_goes_to_the_nodes_a_preference_earns_on(tmp_path, capsys):
    # both replicas fit one node; a node of either pool costs 1 USD/h: 2 USD for the 2 h
    # either way, and the preference breaks the tie (the start tree: on a-0, "met for 0 of 2;
    # meeting it would cost +0.00 USD")
    document, _ = _solved(tmp_path, capsys)
    assert _nodes(document, "train") == ["b-0", "b-0"]
    assert document["objective"]["value"] == 2


def test_a_preference_that_costs_more_is_not_met(tmp_path, capsys):
    # bronze at 1.5 USD/h: the cost comes first, so train stays on gold at 2 USD
    document, _ = _solved(tmp_path, capsys, bronze="1.5")
    assert [n[0] for n in _nodes(document, "train")] == ["a", "a"]
    assert document["objective"]["value"] == 2


def test_a_replica_moves_beside_work_on_a_preferred_node_in_use(tmp_path, capsys):
    # web keeps b-0 in use all horizon and batch a-0, each with 8 CPU free: one replica of
    # train (8 CPU) fits beside either at no cost, and goes beside web, on bronze (the start
    # tree: beside batch, on a-0)
    path = tmp_path / "p.fit"
    path.write_text(POOLS.format(bronze="1", more=SERVICES).replace("replicas = 2\n  cpu = 8",
                                                                    "replicas = 1\n  cpu = 8"))
    assert main(["solve", str(path), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert _nodes(document, "train") == ["b-0"] and document["objective"]["value"] == 24
    (tmp_path / "solved.json").write_text(json.dumps(document))
    assert main(["verify", str(path), str(tmp_path / "solved.json")]) == 0
