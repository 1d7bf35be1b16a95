"""Data residency: jurisdictions of stdlib regions and of pools, the `residency` rule in the
checker (E0406), the solver (an exclusion), `explain` and `verify`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.model.build import build_problem
from fitlang.solve.explain import Part, PartKind, explain
from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from conftest import STDLIB
from solving import on_pools, problem_from, solved

REGIONS = ('region fra {\n  code = "eu-central-1"\n  jurisdiction = EU\n}\n'
           'region iad {\n  code = "us-east-1"\n  jurisdiction = US\n}\n')


def pool(name, price, extra):
    return f"pool {name} {{\n  count = 1\n  cpu = 4\n  memory = 8Gi\n  price = {price} USD/h\n{extra}}}\n"


def workload(replicas, extra):
    return f"workload api {{\n  replicas = {replicas}\n  cpu = 4\n  memory = 8Gi\n{extra}}}\n"


# one node per pool, one replica per node: us (1 USD/h, US by its region), mars (0.5 USD/h,
# a region no `region` block names), onprem (2 USD/h, states EU), eu (3 USD/h, EU by its region)
FLEET = (REGIONS + pool("us", 1, '  region = "us-east-1"\n') + pool("mars", "0.5", '  region = "mars-1"\n')
         + pool("onprem", 2, "  jurisdiction = EU\n") + pool("eu", 3, '  zone = "eu-central-1b"\n'))


def check(tmp_path: Path, text: str):
    path = tmp_path / "p.fit"
    path.write_text(text)
    return check_file(path, Workspace())


def test_residency_keeps_work_in_its_jurisdictions(tmp_path):
    # without the rule: mars + us = 1.5 USD/h. With EU only: onprem (stated EU) + eu (EU by its
    # zone's region) = 2 + 3 = 5 USD/h; mars is out because its jurisdiction is unknown.
    assert solved(problem_from(tmp_path, FLEET + workload(2, ""))).value == 1.5
    problem = problem_from(tmp_path, FLEET + workload(2, "  residency = [EU]\n"))
    placement = solved(problem)
    assert placement.value == 5
    assert on_pools(placement, problem) == {"api": {"onprem": 1, "eu": 1}}
    excluded = problem.demand("api").excluded
    assert excluded["us"].rule == "residency = [EU]"
    assert excluded["us"].detail == "nodes of `us` are in US (region us-east-1)"
    assert "jurisdiction of `mars` is unknown" in excluded["mars"].detail
    assert excluded["us"].origin.span.line == FLEET.count("\n") + 5


def test_two_jurisdictions_and_require_on_jurisdiction(tmp_path):
    problem = problem_from(tmp_path, FLEET + workload(2, "  residency = [EU, US]\n"))
    assert on_pools(solved(problem), problem) == {"api": {"us": 1, "onprem": 1}}
    problem = problem_from(tmp_path, FLEET + workload(1, "  require jurisdiction == US\n"))
    assert on_pools(solved(problem), problem) == {"api": {"us": 1}}


def test_explain_names_residency(tmp_path):
    # three replicas, two EU nodes: the conflict is the residency rule and the replica count
    explanation = explain(problem_from(tmp_path, FLEET + workload(3, "  residency = [EU]\n")))
    assert not explanation.feasible
    residency = Part(PartKind.RULE, "api", "residency = [EU]", rule="residency")
    assert residency in [r.part for r in explanation.reasons]
    assert residency in [r.part for r in explanation.repairs]


def test_verify_rejects_a_node_outside_the_residency(tmp_path):
    problem = problem_from(tmp_path, FLEET + workload(1, "  residency = [EU]\n"))
    placement = solved(problem)
    document = json.loads(as_json(problem, placement, []))
    document["assignments"][0]["node"] = "us-0"
    del document["objective"]  # hand-moved: the stated cost no longer holds (verify says so too)
    (violation,) = verify(problem, document)[0]
    assert "residency = [EU]" in violation.message and "in US" in violation.message


@pytest.mark.parametrize("restriction", [
    '  regions = ["us-east-1"]\n',
    '  zones = ["us-east-1a", "us-east-1b"]\n',
    '  require region == "us-east-1"\n',
    '  require region in ["us-east-1"] and cpu >= 4\n',
])
def test_residency_contradicting_the_workloads_places_is_an_error(tmp_path, restriction):
    result = check(tmp_path, REGIONS + workload(1, "  residency = [EU]\n" + restriction))
    assert [d.code for d in result.diagnostics] == ["E0406"]
    assert result.diagnostics[0].span.line == REGIONS.count("\n") + 5


@pytest.mark.parametrize("restriction", [
    '  regions = ["us-east-1", "eu-central-1"]\n',  # one place inside the residency
    '  regions = ["somewhere-1"]\n',  # of unknown jurisdiction: the solver rules it out
    '  require region != "us-east-1"\n',
])
def test_residency_with_compatible_places_is_not_an_error(tmp_path, restriction):
    result = check(tmp_path, REGIONS + workload(1, "  residency = [EU]\n" + restriction))
    assert result.diagnostics == []


def test_unknown_jurisdiction_gets_did_you_mean(tmp_path):
    result = check(tmp_path, workload(1, "  residency = [EUR]\n"))
    assert [d.code for d in result.diagnostics] == ["E0305"]
    assert "did you mean `EU`" in result.diagnostics[0].message


def test_every_stdlib_offer_region_has_a_jurisdiction():
    result = check_file(STDLIB / "aws.fit", Workspace())
    for name in ("gcp.fit", "azure.fit"):
        other = check_file(STDLIB / name, Workspace())
        result.program.offers.update(other.program.offers)
    program = result.program
    regions = {r for offer in program.offers.values() for r in offer.sold_in}  # priced elsewhere too
    assert len(regions) >= 15
    unknown = sorted(r for r in regions if program.region_at(r) is None)
    assert unknown == []
    assert program.region_at("europe-west4").jurisdiction == "EU"
    assert program.region_at(None, "us-east-1a").code == "us-east-1"


def test_offer_classes_carry_their_regions_jurisdiction(tmp_path):
    text = ('import "std/aws"\nbuy {\n  offers = [aws_g6_xlarge]\n}\n'
            + workload(1, "  residency = [EU]\n").replace("cpu = 4", "cpu = 2"))
    path = tmp_path / "p.fit"
    path.write_text(text)
    problem = build_problem(check_file(path, Workspace()).program).problem
    jurisdictions = {c.region: c.jurisdiction for c in problem.classes}
    assert {region: jurisdictions[region] for region in ("us-east-1", "eu-central-1", "eu-west-2")} == {
        "us-east-1": "US", "eu-central-1": "EU", "eu-west-2": "UK"}  # (London: not the EU)
    assert {problem.node_class(i).jurisdiction for i in problem.demand("api").eligible} == {"EU"}


def test_fitc_explain_names_residency(tmp_path, fitc):
    path = tmp_path / "p.fit"
    path.write_text(FLEET + workload(3, "  residency = [EU]\n"))
    run = fitc("explain", str(path))
    assert run.returncode == 1
    assert "`api` has `residency = [EU]`, which rules out pools `us`, `mars`" in run.stdout
    assert "drop `residency = [EU]`" in run.stdout
