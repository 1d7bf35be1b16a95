"""`affinity W on T` towards a workload with accelerator options (`rules/option_affinity.py`):
near a replica of ANY option of W. Hand-worked policies (tests/option_domains.py
`beside_policy`): the only placement puts the follower beside one particular option."""

from __future__ import annotations

import copy
from collections import Counter
from fractions import Fraction

import pytest
from option_domains import BESIDE_COST, beside_policy, placed_json
from test_target_kubernetes import check_objects, documents, fidelity

from fitlang.rules import option_affinity
from fitlang.solve.explain import Part, explain
from fitlang.solve.linear import Status
from fitlang.solve.moving import solve_move
from fitlang.solve.placement import solve
from fitlang.solve.placement_result import Placement
from fitlang.solve.verify import verify

from compiling import render
from solving import problem_from, problem_running, solved


def _hosts(problem, placement) -> Counter:
    """(workload's option or name, pool) -> replicas."""
    pool_of = {name: c.pool for c in problem.classes for name in c.node_names}
    return Counter((problem.demand(a.workload).option or a.workload, pool_of[a.node])
                   for a in placement.assignments)


SWAPPED = ("    option H100 { count = 1  throughput = 1 }\n    option L40S { count = 1  throughput = 1 }",
           "    option L40S { count = 1  throughput = 1 }\n    option H100 { count = 1  throughput = 1 }")


@pytest.mark.parametrize("backend", ["highs", "z3"])
@pytest.mark.parametrize("topology", ["zone", "node"])
@pytest.mark.parametrize("h100_first", [True, False])
def test_the_follower_makes_the_workload_run_the_option_it_can_be_near(tmp_path, topology, backend,
                                                                       h100_first):
    # alone chat takes the 1 USD/h L40S; the follower can be near an H100 replica only,
    # whichever option the policy lists first
    text = beside_policy(topology)
    assert SWAPPED[0] in text
    problem = problem_from(tmp_path, text if h100_first else text.replace(*SWAPPED))
    placement = solved(problem, backend)
    assert placement.status is Status.OPTIMAL and placement.value == BESIDE_COST[topology]
    assert _hosts(problem, placement) == Counter(
        {("H100", "h100b"): 1, ("cache", "cpub" if topology == "zone" else "h100b"): 2})
    if topology == "node":  # both cache replicas on the node of the H100 replica
        assert len({a.node for a in placement.assignments}) == 1


@pytest.mark.parametrize("topology", ["zone", "node"])
def test_verify_rejects_the_follower_away_from_every_option(tmp_path, topology):
    # the solved placement with chat moved to the L40S node of zone a: no option near cache
    problem = problem_from(tmp_path, beside_policy(topology))
    document = placed_json(problem, solve(problem))
    assert verify(problem, document) == ([], [])
    wrong = copy.deepcopy(document)
    (chat,) = [a for a in wrong["assignments"] if a["workload"] == "chat"]
    chat.update(option="L40S", node="l40a-0")
    (h100,) = [n for n in wrong["nodes"] if n["name"] == "h100b-0"]
    l40 = problem.node_class("l40a")
    wrong["nodes"].append({**h100, "name": "l40a-0", "pool": "l40a", "zone": "a", "price": 1.0,
                           "capacity": dict(l40.capacity), "allocatable": dict(l40.capacity)})
    violations, problems = verify(problem, wrong)
    assert problems == [] and {v.code for v in violations} == {"E0503"}
    assert [v.message for v in violations if "affinity" in v.message] == [
        f"`cache` runs in {topology} {'b' if topology == 'zone' else 'h100b-0'} without `chat` "
        f"(affinity chat on {topology})"], [v.message for v in violations]


def test_no_option_where_the_follower_runs_is_explained_by_the_affinity(tmp_path):
    # without the H100 pool, chat can only run in zone a, cache only in b
    problem = problem_from(tmp_path, beside_policy(h100=False))
    assert solve(problem).proven_infeasible
    explanation = explain(problem)
    assert Part("affinity", "cache", index=0) in [r.part for r in explanation.reasons]
    assert (Part("affinity", "cache", index=0), 2) in [(r.part, r.cost) for r in explanation.repairs]


def test_at_fleet_scale_the_rule_is_held_through_the_option_with_the_most_room(tmp_path):
    # 150 nodes: above the per-node model's size. Zone b, where cache may run, has 30 H100 and
    # 60 L40S nodes: narrowed to L40S, verified, and no bound claimed (H100 could be near too)
    problem = problem_from(tmp_path, beside_policy("zone", count=30, l40b=True))
    narrowed, same = option_affinity.narrowed(problem)
    assert [r.target for r in narrowed.demand("cache").affinities] == ["chat[L40S]"] and not same
    placement = solved(problem)
    assert placement.status is Status.FEASIBLE and placement.bound is None
    assert not placement.unplaced and placement.value == 6


def test_at_fleet_scale_the_rule_narrowed_to_the_only_option_near_is_the_rule(tmp_path):
    # zone b has H100 nodes only: narrowed to H100, the policy itself, so its answer stands
    # (optimal at 11 with its bound; without the H100 pool, proven infeasible)
    problem = problem_from(tmp_path, beside_policy("zone", count=30))
    narrowed, same = option_affinity.narrowed(problem)
    assert [r.target for r in narrowed.demand("cache").affinities] == ["chat[H100]"] and same
    placement = solved(problem)
    assert placement.status is Status.OPTIMAL
    assert placement.value == placement.bound == BESIDE_COST["zone"]
    assert solve(problem_from(tmp_path, beside_policy("zone", count=30, h100=False))).proven_infeasible


def test_what_the_narrowed_solve_proves_is_not_claimed_of_the_policy(tmp_path):
    problem = problem_from(tmp_path, beside_policy("zone", count=30, l40b=True))
    proven = Placement(Status.INFEASIBLE, "cost", Fraction(3), Fraction(3), proven_infeasible=True)
    placement = option_affinity.solve_narrowed(problem, lambda narrowed: proven)
    assert (placement.status, placement.bound, placement.proven_infeasible) == (Status.UNKNOWN, None, False)
    # explain past its per-node size (240 nodes: the aggregate model's rows sum the options'
    # presence, its packing joins any option): zone b's L40S nodes too small for chat, no H100
    text = beside_policy("zone", count=60, h100=False, l40b=True)
    text = text.replace("pool l40b {\n  count = 120\n  cpu = 32", "pool l40b {\n  count = 120\n  cpu = 4")
    assert "cpu = 4" in text
    explanation = explain(problem_from(tmp_path, text))
    assert Part("affinity", "cache", index=0) in [r.part for r in explanation.reasons]


def test_a_plan_at_fleet_scale_reaches_a_placement_that_holds_the_rule(tmp_path):
    # chat runs on H100 in zone b beside cache: the cheaper L40S nodes of zone b are near too
    problem = problem_running(tmp_path, beside_policy("zone", count=30, l40b=True),
                              [("chat[H100]", "h100b-0"), ("cache", "cpub-0"), ("cache", "cpub-0")])
    placement = solve_move(problem, time_limit=10)
    assert verify(problem, placed_json(problem, placement)) == ([], [])
    assert not placement.unplaced and placement.bound is None


def test_the_kubernetes_term_selects_every_options_pods(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text(beside_policy("zone"))
    context, files = render(path, "kubernetes")
    check_objects(files)
    assert fidelity(context, files) == []  # the manifests realise the placement
    (cache,) = [d for d in documents(files) if d["kind"] == "Deployment"
                and d["metadata"]["labels"]["app.kubernetes.io/name"] == "cache"]
    assert cache["spec"]["template"]["spec"]["affinity"]["podAffinity"] == {
        "requiredDuringSchedulingIgnoredDuringExecution": [
            {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "chat"}},
             "topologyKey": "topology.kubernetes.io/zone"}]}


def test_terraform_buys_so_that_an_option_runs_in_the_followers_region(tmp_path):
    # two trn2.48xlarge (93.96, us-east-2) are cheapest alone; `cache` may run only in
    # us-west-2 (`regions`), where the H100 node of our own (50) is: one trn2 beside it, 96.98
    from option_domains import train_policy
    from test_target_terraform import resources

    onprem = ('\npool onprem {\n  count = 1\n  cpu = 192\n  memory = 2048GiB\n  gpu {\n'
              '    model = H100\n    count = 8\n  }\n  region = "us-west-2"\n  price = 50 USD/h\n}\n')
    cache = ('\nworkload cache {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  image = "cache"\n'
             '  regions = ["us-west-2"]\n  affinity train on region\n}\n')
    path = tmp_path / "p.fit"
    path.write_text(train_policy("", onprem) + cache)
    context, files = render(path, "terraform")
    assert context.placement.value == Fraction("96.98")
    [group] = [body for body in resources(files).values() if "instance_types" in body]
    assert (group["instance_types"], group["provider"], group["scaling_config"][0]["desired_size"]) == (
        ["trn2.48xlarge"], "${aws.us-east-2}", 1)


def test_slurm_runs_the_follower_in_the_zone_of_the_option_near_it(tmp_path):
    from test_target_slurm import _tasks_per_zone_and_option

    tasks = _tasks_per_zone_and_option(tmp_path, beside_policy("zone"))
    assert {zone for zone, _ in tasks} == {"b"} and sum(tasks.values()) == 3, tasks
