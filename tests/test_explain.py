"""`fitc explain`: three honest outcomes, conflicts that are conflicts (sufficient and minimal,
checked by solving restricted and relaxed policies), repairs checked by solving, exact values."""

from __future__ import annotations

import json
import time
from fractions import Fraction

import pytest

import fitlang.solve.explain as explaining
from fitlang.cli import main
from fitlang.solve.backends import HighsBackend
from fitlang.solve.explain import (
    Check,
    ExplainOutcome,
    Explanation,
    Part,
    PartKind,
    Repair,
    Trial,
    explain,
    repairs_text,
)
from fitlang.solve.linear import Outcome, Status

from solving import problem_from, solve, solved

GPUS = ('accelerator H100 {\n  vendor = nvidia\n  memory = 80GB\n  interconnect = nvlink\n}\n')


def pool(name, count, cpu, memory, price=1, extra=""):
    return (f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = {memory}\n"
            f"  price = {price} USD/h\n{extra}}}\n")


def workload(name, replicas, cpu, memory, extra=""):
    return f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = {memory}\n{extra}}}\n"


def changes(explanation):
    return [(r.part.kind, r.part.subject, r.before, r.after) for r in explanation.repairs]


# the issue's case: the pool totals fit (23 of 24 CPU, 28 of 48 GiB), the nodes do not. `big`
# takes at most 2 per node, so 5 of them need all 3 nodes (2, 2, 1); the two full nodes have no
# CPU left, the third has 4 CPU and 14 GiB: room for 2 of the 3 `small` (6 GiB each).
PACKING = (pool("p", 3, 8, "16Gi") + workload("big", 5, 4, "2Gi") + workload("small", 3, 1, "6Gi"))


def test_a_conflict_in_per_node_packing_is_found_not_called_feasible(tmp_path):
    problem = problem_from(tmp_path, PACKING)
    assert solve(problem).unplaced  # solve says: not everything fits
    explanation = explain(problem)
    assert explanation.outcome is ExplainOutcome.CONFLICT and explanation.minimal
    assert [r.part for r in explanation.reasons] == [
        Part("capacity", "p"), Part("replicas", "big"), Part("replicas", "small")]
    # by hand: a 4th node holds the third `small`; 4 `big` go 2, 1, 1 leaving room for 4 `small`
    # (4 big as 2, 2, 0 would not: 3 `small` need 18 GiB of one node); 2 `small` fit as shown
    assert changes(explanation) == [("capacity", "p", "3", "4"), ("replicas", "big", "5", "4"),
                                    ("replicas", "small", "3", "2")]


def test_fitc_explain_exits_one_with_its_own_code_for_a_conflict(tmp_path, capsys):
    (tmp_path / "p.fit").write_text(PACKING)
    assert main(["explain", str(tmp_path / "p.fit")]) == 1
    out, err = capsys.readouterr()
    assert "error[E0510]" in err and "every replica can be placed" not in out
    assert "add 1 node to pool `p` (count = 4)" in out  # repairs are the output: stdout


def test_a_repair_budget_of_zero_names_the_conflict_and_searches_no_repair(tmp_path, capsys,
                                                                            monkeypatch):
    # issue 13: 0 used to fall back to the default budget; now it means no repairs (the
    # conflict alone, fast), and a negative budget is a usage error of `explain`
    (tmp_path / "p.fit").write_text(PACKING)
    assert main(["explain", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["repairs"] != []  # there are repairs to find
    monkeypatch.setattr(explaining.conflict, "_repairs", lambda *arguments: pytest.fail("searched"))
    assert main(["explain", str(tmp_path / "p.fit"), "--repair-budget", "0", "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["outcome"] == "conflict" and document["conflict"] != []
    assert (document["repairs"], document["pair"], document["repairs_cut_short"],
            document["no_single_repair"], document["repair_budget"]) == ([], [], False, False, 0.0)
    assert main(["explain", str(tmp_path / "p.fit"), "--repair-budget", "0"]) == 1
    out, err = capsys.readouterr()
    assert "error[E0510]" in err and "repair" not in out
    for bad in ("-1", "nan", "inf", "soon"):
        assert main(["explain", str(tmp_path / "p.fit"), "--repair-budget", bad]) == 2
        err = capsys.readouterr().err
        assert err.startswith("usage: fitc explain ") and "--repair-budget" in err


def test_fitc_explain_writes_the_same_bytes_on_a_machine_three_times_as_slow(tmp_path, capsys,
                                                                           monkeypatch):
    # determinism: the same input, the same bytes. The document stated the seconds its conflict
    # and its repairs took (`conflict_seconds`, `repair_seconds`), so no two runs agreed
    (tmp_path / "p.fit").write_text(PACKING)
    assert main(["explain", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    quick = capsys.readouterr().out
    wall, began = time.monotonic, time.monotonic()
    monkeypatch.setattr(time, "monotonic", lambda: began + (wall() - began) * 3)
    assert main(["explain", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    assert capsys.readouterr().out == quick
    assert json.loads(quick)["repairs"] and json.loads(quick)["minimal"]


def test_a_placement_found_is_the_only_way_to_exit_zero(tmp_path, capsys):
    (tmp_path / "p.fit").write_text(PACKING.replace("count = 3", "count = 4"))
    assert main(["explain", str(tmp_path / "p.fit"), "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["outcome"] == "feasible"
    assert [d["code"] for d in document["diagnostics"]] == ["W0505"]


def _out_of_time(self, model, objective, time_limit=None):
    time.sleep(time_limit or 0)
    return Outcome(Status.UNKNOWN)


def test_a_solver_timeout_is_undecided_with_what_was_tried(tmp_path, capsys, monkeypatch):
    (tmp_path / "p.fit").write_text(PACKING)
    monkeypatch.setattr(HighsBackend, "minimise", _out_of_time)
    assert main(["explain", str(tmp_path / "p.fit"), "--time-limit", "1"]) == 1
    out, err = capsys.readouterr()
    assert "error[E0511]" in err and "every replica can be placed" not in out
    assert "within 1 s (the exact model node by node, 3 nodes); raise --time-limit" in out


def test_a_search_that_gives_up_early_does_not_claim_the_whole_limit(tmp_path, capsys, monkeypatch):
    # an undecided answer in a fraction of the limit: "within 30 s ...; raise --time-limit"
    # claimed time that was not spent (bench/differential_fleet.py seed 618: after 0.6 s)
    (tmp_path / "p.fit").write_text(PACKING)
    monkeypatch.setattr(HighsBackend, "minimise",
                        lambda self, model, objective, time_limit=None: Outcome(Status.UNKNOWN))
    assert main(["explain", str(tmp_path / "p.fit"), "--time-limit", "30"]) == 1
    out, err = capsys.readouterr()
    assert "error[E0511]" in err and "raise --time-limit" not in out
    assert " s of the 30 s allowed" in out


def test_an_interrupted_explain_never_says_feasible(tmp_path, capsys, monkeypatch):
    (tmp_path / "p.fit").write_text(PACKING)

    def interrupted(*arguments, **options):
        raise KeyboardInterrupt

    monkeypatch.setattr(explaining.conflict, "decide", interrupted)
    assert main(["explain", str(tmp_path / "p.fit")]) == 130
    assert "every replica can be placed" not in capsys.readouterr().out


def test_anti_affinity_self_is_named_and_offered_as_a_repair(tmp_path):
    # 3 replicas, one per node, 2 nodes (each with room for 8)
    text = pool("p", 2, 8, "16Gi") + workload("w", 3, 1, "1Gi", "  anti_affinity self on node\n")
    explanation = explain(problem_from(tmp_path, text))
    assert [r.part for r in explanation.reasons] == [
        Part("capacity", "p"), Part("affinity", "w", index=0), Part("replicas", "w")]
    assert "at most 1 replica per node" in explanation.reasons[1].text
    assert changes(explanation) == [("capacity", "p", "2", "3"), ("affinity", "w", None, None),
                                    ("replicas", "w", "3", "2")]
    assert explanation.repairs[1].text.startswith("drop `anti_affinity self on node` from `w`")


def test_anti_affinity_self_over_every_option_is_one_part_and_one_repair(tmp_path):
    # two zones, three replicas of either option needed, one per zone whatever the option:
    # the rule (one entry per option in the model) is named once and dropped as one; then all
    # three run on the 1 USD/h L40S node of zone a
    from option_domains import apart_policy

    explanation = explain(problem_from(tmp_path, apart_policy(zones="ab")))
    assert [r.part for r in explanation.reasons] == [Part("affinity", "chat", index=0),
                                                     Part("throughput", "chat")]
    assert "at most 1 replica per zone" in explanation.reasons[0].text
    assert [(r.part, r.cost) for r in explanation.repairs] == [(Part("affinity", "chat", index=0), 1)]
    assert explanation.repairs[0].text.startswith("drop `anti_affinity self on zone` from `chat`")


def test_a_pure_capacity_conflict_names_no_anti_affinity(tmp_path):
    # 4 CPU replicas on 4 CPU nodes: one per node whatever the rule says
    text = pool("p", 2, 4, "16Gi") + workload("w", 3, 4, "1Gi", "  anti_affinity self on node\n")
    explanation = explain(problem_from(tmp_path, text))
    assert [r.part for r in explanation.reasons] == [Part("capacity", "p"), Part("replicas", "w")]


def test_an_affinity_targets_own_zones_are_part_of_the_conflict(tmp_path):
    text = (pool("a", 2, 8, "16Gi", 1, '  zone = "za"\n') + pool("b", 2, 8, "16Gi", 1, '  zone = "zb"\n')
            + workload("db", 1, 1, "1Gi", '  zones = ["za"]\n')
            + workload("app", 1, 1, "1Gi", '  zones = ["zb"]\n  affinity db on zone\n'))
    explanation = explain(problem_from(tmp_path, text))
    assert [r.part for r in explanation.reasons] == [
        Part(PartKind.RULE, "app", "zones", rule="zones"), Part(PartKind.RULE, "db", "zones", rule="zones"),
        Part(PartKind.AFFINITY, "app", index=0), Part(PartKind.REPLICAS, "app")]


def test_dedicated_is_not_blamed_for_a_pool_without_gpus(tmp_path):
    text = (GPUS + pool("gpu", 1, 96, "1Ti", 98, "  gpu {\n    model = H100\n    count = 8\n  }\n")
            + pool("cpu", 4, 96, "1Ti", 1, '  dedicated = "batch"\n')
            + workload("llm", 2, 8, "64Gi", "  gpu {\n    count = 8\n  }\n"))
    explanation = explain(problem_from(tmp_path, text))
    assert [r.part for r in explanation.reasons] == [Part("capacity", "gpu"), Part("replicas", "llm")]


def test_a_dedicated_reason_points_at_the_dedicated_line(tmp_path):
    text = pool("own", 1, 4, "8Gi") + pool("kept", 2, 4, "8Gi", 1, '  dedicated = "batch"\n') \
        + workload("w", 2, 4, "1Gi")
    explanation = explain(problem_from(tmp_path, text))
    dedicated = Part(PartKind.RULE, "w", 'dedicated = "batch"', rule="dedicated")
    assert dedicated in [r.part for r in explanation.reasons]
    reason = next(r for r in explanation.reasons if r.part == dedicated)
    assert text.splitlines()[reason.origin.span.line - 1] == '  dedicated = "batch"'
    assert ("rule", "w", None, 'tolerate = ["batch"]') in changes(explanation)


def _explained_beside_a_tainted_node(tmp_path, inventory: str, taint: dict):
    """A kubectl inventory `inventory` of one 4-CPU node with `taint`, a pool `own` of one
    such node, and `w`: 2 replicas of 4 CPU, so one must go to the tainted node."""
    node = {"kind": "Node", "metadata": {"name": "n0", "labels": {}}, "spec": {"taints": [taint]},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}}
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": [node]}))
    text = (f'inventory {inventory} {{\n  format = kubectl\n  file = "nodes.json"\n}}\n'
            + pool("own", 1, 4, "8Gi") + workload("w", 2, 4, "1Gi"))
    return explain(problem_from(tmp_path, text))

def test_a_taint_is_the_nodes_and_is_repaired_by_tolerating_it(tmp_path):
    """A kubectl node's taint is the cluster's, not the policy's: the conflict says the pool
    has it and the repair tolerates it (bench/differential_taints.py seed 18: it said the
    workload has the taint and repaired by dropping it from the inventory's line)."""
    explanation = _explained_beside_a_tainted_node(
        tmp_path, "tainted", {"key": "team", "value": "a", "effect": "NoSchedule"})
    taint = Part(PartKind.RULE, "w", "taint team=a:NoSchedule", rule="taints")
    reason = next(r for r in explanation.reasons if r.part == taint)
    assert reason.text == "pool `tainted` has `taint team=a:NoSchedule`, which `w` does not tolerate"
    made = changes(explanation)
    assert ("rule", "w", None, 'tolerate = ["team=a"]') in made
    assert not any(r.text.startswith("drop") for r in explanation.repairs), made


def test_a_taint_of_no_value_reads_as_kubectl_writes_it_and_is_tolerated_by_its_key(tmp_path):
    # found as a user (session 57): AMD's GPU nodes are tainted `amd.com/gpu:NoSchedule`; the
    # conflict said `taint amd.com/gpu=:NoSchedule` and the repair `tolerate = ["amd.com/gpu="]`
    explanation = _explained_beside_a_tainted_node(
        tmp_path, "amd", {"key": "amd.com/gpu", "effect": "NoSchedule"})
    taint = Part(PartKind.RULE, "w", "taint amd.com/gpu:NoSchedule", rule="taints")
    reason = next(r for r in explanation.reasons if r.part == taint)
    assert reason.text == "pool `amd` has `taint amd.com/gpu:NoSchedule`, which `w` does not tolerate"
    assert ("rule", "w", None, 'tolerate = ["amd.com/gpu"]') in changes(explanation)


def test_a_pair_of_tolerations_is_written_as_tolerations_not_as_rules_dropped(tmp_path):
    """Two replicas, one node tainted and one dedicated: only both tolerations together repair
    it. A pair made its first change as "drop this rule (line N)", which for a taint points at
    the inventory block (the cluster's taint, not the policy's) and for `dedicated` undedicates
    the pool for everyone (bench/differential_taints.py seeds 415, 434, 445, 466)."""
    node = {"kind": "Node", "metadata": {"name": "n0", "labels": {}},
            "spec": {"taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}}
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": [node]}))
    text = ('inventory tainted {\n  format = kubectl\n  file = "nodes.json"\n}\n'
            + pool("kept", 1, 4, "8Gi", 1, '  dedicated = "batch"\n') + workload("w", 2, 4, "1Gi"))
    explanation = explain(problem_from(tmp_path, text))
    assert explanation.repairs == []
    assert [r.after for r in explanation.pair] == ['tolerate = ["batch"]', 'tolerate = ["batch", "team=a"]']


def test_a_toleration_is_priced_on_every_pool_it_admits_whatever_the_taints_effect(tmp_path):
    """`team=a` NoExecute on two cheap nodes in z2, NoSchedule on a dear one in z1: tolerating
    `team=a` admits both, so `spread zone max_skew 2` counts z1 and 3 replicas need 2 + 1
    (1.50 + 3.00). The repair was priced with the NoExecute taint's part alone dropped (each
    effect is a part), on z2's nodes only: 3.00 (bench/differential_taints.py seed 2186)."""
    def node(name: str, zone: str, effect: str, cpu: str) -> dict:
        return {"kind": "Node", "metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": zone}},
                "spec": {"taints": [{"key": "team", "value": "a", "effect": effect}]},
                "status": {"allocatable": {"cpu": cpu, "memory": "8Gi"}}}

    for name, nodes in (("near", [node("n0", "z2", "NoExecute", "4"), node("n1", "z2", "NoExecute", "4")]),
                        ("far", [node("f0", "z1", "NoSchedule", "2")])):
        (tmp_path / f"{name}.json").write_text(json.dumps({"kind": "List", "items": nodes}))
    text = ('inventory near {\n  format = kubectl\n  file = "near.json"\n  price = 1.50 USD/h\n}\n'
            'inventory far {\n  format = kubectl\n  file = "far.json"\n  price = 3.00 USD/h\n}\n'
            + workload("w", 3, 2, "1Gi", "  spread zone max_skew 2\n"))
    explanation = explain(problem_from(tmp_path, text))
    tolerating = [r for r in explanation.repairs if r.after == 'tolerate = ["team=a"]']
    assert tolerating and all(r.cost == Fraction(9, 2) for r in tolerating), \
        [(r.after, r.cost) for r in explanation.repairs]


def test_a_toleration_repair_keeps_what_the_workload_tolerates(tmp_path):
    """A repair tolerating a key writes the workload's whole `tolerate`: the one it lacked
    beside those it has (it wrote `tolerate = ["batch"]` alone, so the repaired policy dropped
    `gpu` and the workload lost the node it used: h40n's p2.fit). The pair's second change
    keeps the first's (`test_a_pair_of_tolerations_is_written_as_tolerations_not_as_rules_dropped`)."""
    nodes = [{"kind": "Node", "metadata": {"name": name, "labels": {}},
              "spec": {"taints": [{"key": key, "value": value, "effect": "NoSchedule"}]},
              "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}}
             for name, key, value in (("n0", "team", "a"), ("n1", "gpu", "yes"))]
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": nodes}))
    pools = ('inventory tainted {\n  format = kubectl\n  file = "nodes.json"\n}\n'
             + pool("kept", 1, 4, "8Gi", 1, '  dedicated = "batch"\n'))
    tolerating_gpu = workload("w", 2, 4, "1Gi", '  tolerate = ["gpu"]\n')
    explanation = explain(problem_from(tmp_path, pools + tolerating_gpu))
    tolerating = [r for r in explanation.repairs if r.tolerate is not None]
    assert [r.after for r in tolerating] == ['tolerate = ["gpu", "batch"]', 'tolerate = ["gpu", "team=a"]']
    text = pools + tolerating_gpu
    for repair in tolerating:  # each as an editor applies its quick fix: the list replaced
        assert repair.fix is not None and text[repair.fix.span.start:repair.fix.span.end] == '["gpu"]'
        fixed = text[:repair.fix.span.start] + repair.fix.text + text[repair.fix.span.end:]
        assert f"  {repair.after}\n" in fixed
        assert not solve(problem_from(tmp_path, fixed)).unplaced


def test_a_toleration_repair_inserts_the_line_where_the_workload_states_no_tolerate(tmp_path):
    """A workload that states no `tolerate` gets its quick fix as a line inserted in its
    block, before the closing brace and indented as `fitc fmt` writes it (there was no fix:
    only a stated `tolerate` value was replaced). Each fix applied checks and places `w`."""
    node = {"kind": "Node", "metadata": {"name": "n0", "labels": {}},
            "spec": {"taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]},
            "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}}
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": [node]}))
    text = ('inventory tainted {\n  format = kubectl\n  file = "nodes.json"\n}\n'
            + pool("kept", 1, 4, "8Gi", 1, '  dedicated = "batch"\n') + workload("w", 1, 4, "1Gi"))
    explanation = explain(problem_from(tmp_path, text))
    tolerating = [r for r in explanation.repairs if r.tolerate is not None]
    assert [r.after for r in tolerating] == ['tolerate = ["batch"]', 'tolerate = ["team=a"]']
    for repair in tolerating:
        assert repair.fix is not None and repair.fix.span.start == repair.fix.span.end
        fixed = text[:repair.fix.span.start] + repair.fix.text + text[repair.fix.span.end:]
        assert fixed == text.removesuffix("}\n") + f"  {repair.after}\n}}\n"
        assert not solve(problem_from(tmp_path, fixed)).unplaced


@pytest.mark.parametrize("indent", ["    ", "\t"])
def test_an_inserted_toleration_takes_the_blocks_own_indentation(tmp_path, indent):
    """The inserted `tolerate` line is indented as the block's entries are (a 4-space file
    got a 2-space line, `fitc fmt`'s), with spaces or a tab."""
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": [
        {"kind": "Node", "metadata": {"name": "n0", "labels": {}},
         "spec": {"taints": [{"key": "team", "value": "a", "effect": "NoSchedule"}]},
         "status": {"allocatable": {"cpu": "4", "memory": "8Gi"}}}]}))
    two_spaces = ('inventory tainted {\n  format = kubectl\n  file = "nodes.json"\n}\n'
                  + workload("w", 1, 4, "1Gi"))
    text = two_spaces.replace("\n  ", "\n" + indent)
    explanation = explain(problem_from(tmp_path, text))
    repair = next(r for r in explanation.repairs if r.tolerate is not None)
    assert repair.fix is not None
    fixed = text[:repair.fix.span.start] + repair.fix.text + text[repair.fix.span.end:]
    assert fixed == text.removesuffix("}\n") + f'{indent}tolerate = ["team=a"]\n}}\n'
    assert not solve(problem_from(tmp_path, fixed)).unplaced


def test_nodes_to_add_are_exact(tmp_path):
    # one 5 CPU replica per 8 CPU node: 6 replicas need 6 nodes, 5 more than the pool has
    text = pool("p", 1, 8, "16Gi") + workload("w", 6, 5, "1Gi")
    explanation = explain(problem_from(tmp_path, text))
    assert ("capacity", "p", "1", "6") in changes(explanation)


def test_nodes_to_add_under_a_node_spread_are_the_fewest_that_work(tmp_path):
    # 60 nodes of 8 CPU hold 480 replicas of 1 CPU; 500 need 63 nodes (7 or 8 each, skew 1).
    # The least nodes used in a much larger pool is no bound here: its idle nodes are domains
    # with 0 replicas, so there no node may hold more than 1
    text = pool("p", 60, 8, "32Gi") + workload("w", 500, 1, "1Gi", "  spread node max_skew 1\n")
    explanation = explain(problem_from(tmp_path, text))
    assert ("capacity", "p", "60", "63") in changes(explanation)


def test_a_budget_is_rounded_up_to_a_cent_that_works(tmp_path):
    # 2 nodes at 60.217 USD/h: 120.434 needed; 120.43 would not do
    text = (pool("p", 2, 4, "16Gi", "60.217") + workload("w", 2, 4, "1Gi")
            + "policy {\n  budget = 100 USD/h\n}\n")
    explanation = explain(problem_from(tmp_path, text))
    budget = next(r for r in explanation.repairs if r.part == Part("budget"))
    assert (budget.before, budget.after) == ("100.00 USD/h", "120.44 USD/h")
    assert budget.fix.text == "120.44 USD/h" and budget.cost == Fraction("120.434")


def test_a_buy_without_max_count_is_never_given_a_limit(tmp_path):
    text = ('offer small {\n  provider = aws\n  instance_type = "m7i.large"\n  regions = ["us-east-1"]\n'
            '  cpu = 2\n  memory = 8GiB\n  price = 1 USD/h\n}\n'
            # 1.5 CPU: a bought m7i.large keeps 1.93 of its 2 vCPU for pods (EKS's reservation)
            'buy {\n}\n' + workload("w", 5, "1.5", "2Gi") + "policy {\n  budget = 3 USD/h\n}\n")
    explanation = explain(problem_from(tmp_path, text))
    assert [r.part for r in explanation.reasons] == [Part("budget"), Part("replicas", "w")]
    assert not any("at most" in r.text for r in explanation.reasons)
    assert changes(explanation) == [("budget", "", "3.00 USD/h", "5.00 USD/h"),
                                    ("replicas", "w", "5", "3")]


def test_a_buy_limit_names_its_block(tmp_path):
    text = ('offer small {\n  provider = aws\n  instance_type = "m7i.large"\n  regions = ["us-east-1"]\n'
            '  cpu = 2\n  memory = 8GiB\n  price = 0.1 USD/h\n}\n'
            'buy {\n  max_count = 2\n}\n' + workload("w", 5, "1.5", "2Gi"))  # 1.93 CPU allocatable
    explanation = explain(problem_from(tmp_path, text))
    buy = next(r for r in explanation.repairs if r.part.kind == "buy")
    assert (buy.before, buy.after, buy.origin.span.line) == ("2", "5", 9)
    assert "`buy` block at line 9" in buy.text


# found as a user (session 54): a `buy` over std/azure (US regions only) and a service kept to
# the EU: explain listed 20 class names and never said that nothing in scope is sold in the EU
_REGIONS = ('region us_east {\n  code = "us-east-1"\n  jurisdiction = US\n}\n'
            'region eu_central {\n  code = "eu-central-1"\n  jurisdiction = EU\n}\n')


def _offer(name, regions):
    return (f'offer {name} {{\n  provider = aws\n  instance_type = "{name}"\n  regions = {regions}\n'
            "  cpu = 4\n  memory = 16GiB\n  price = 0.2 USD/h\n}\n")


def test_a_rule_that_keeps_a_workload_off_everything_bought_names_the_buy_and_where_it_buys(tmp_path):
    text = (_REGIONS + _offer("m1", '["us-east-1"]') + _offer("m2", '["us-east-1"]')
            + "buy cloud {\n  max_count = 4\n}\n"
            + workload("api", 2, 2, "4Gi", "  residency = [EU]\n"))
    explanation = explain(problem_from(tmp_path, text))
    [stated] = [r for r in explanation.reasons if r.part.kind == "rule"]
    assert text.splitlines()[24] == "buy cloud {"
    assert stated.text == ("`api` has `residency = [EU]`, which rules out the 2 offers buy `cloud` (line 25) "
                           "may buy in us-east-1 (US); no offer in scope is sold where `residency = [EU]` "
                           "allows it")
    assert explanation.repairs == [] or all(r.part.kind != "buy" for r in explanation.repairs)


def test_a_region_a_buy_keeps_out_is_offered_as_a_checked_repair_of_its_regions(tmp_path):
    text = (_REGIONS + _offer("m1", '["us-east-1", "eu-central-1"]')
            + 'buy cloud {\n  regions = ["us-east-1"]\n  max_count = 4\n}\n'
            + workload("api", 2, 2, "4Gi", "  residency = [EU]\n"))
    explanation = explain(problem_from(tmp_path, text))
    [stated] = [r for r in explanation.reasons if r.part.kind == "rule"]
    assert text.splitlines()[16] == "buy cloud {"
    assert stated.text == ("`api` has `residency = [EU]`, which rules out `m1`, which buy `cloud` (line 17) "
                           "may buy in us-east-1 (US); offers in scope are sold where it allows, in "
                           "eu-central-1, but no `buy` allows them there")
    bought = [r for r in explanation.repairs if r.part.kind == "buy"]
    assert [r.text for r in bought] == [
        "let buy `cloud` (line 17) buy in eu-central-1 (add it to its `regions`): 2 x m1 (`m1`) in "
        "eu-central-1 at 0.20 USD/h each"]
    assert bought[0].cost == Fraction("0.4")  # 3.86 CPU allocatable: a replica a node


@pytest.mark.parametrize("max_count, offered", [(2, True), (1, False)])
def test_a_region_repair_keeps_the_buy_s_own_limit(tmp_path, max_count, offered):
    # bought as the block would buy there: two replicas need two nodes
    text = (_REGIONS + _offer("m1", '["us-east-1", "eu-central-1"]')
            + f'buy cloud {{\n  regions = ["us-east-1"]\n  max_count = {max_count}\n}}\n'
            + workload("api", 2, 3, "4Gi", "  residency = [EU]\n"))
    explanation = explain(problem_from(tmp_path, text))
    assert any(r.part.kind == "buy" and "eu-central-1" in r.text for r in explanation.repairs) == offered



@pytest.mark.parametrize("model, pools, dropped", [
    # found as a user (session 58): "drop `model == TPU_V6E` so that `tpu_big` may also run on
    # pool `v5e` (cost ...)", checked by solving; the edited file's `gpu` block names no kind,
    # asks for GPUs (the default `family == gpu`), and has no placement
    ("TPU_V6E", {"v6e": "TPU_V6E", "v5e": "TPU_V5E"}, None),
    # a GPU model's rule dropped still admits the other GPUs: the repair stands
    ("H200", {"h200": "H200", "h100": "H100"}, "drop `model == H200` (line 29) so that `train` may "
     "also run on pool `h100`"),
])
def test_dropping_the_one_kind_a_gpu_block_names_leaves_it_asking_for_gpus(tmp_path, model, pools, dropped):
    text = 'import "std/accelerators"\n' + "".join(
        pool(name, 1, 8, "32Gi", extra=f"  gpu {{\n    model = {accelerator}\n    count = 4\n  }}\n")
        for name, accelerator in pools.items())
    text += workload("train", 2, 4, "8Gi", f"  gang = true\n  gpu {{\n    count = 4\n"
                                           f"    require model == {model}\n  }}\n")
    explanation = explain(problem_from(tmp_path, text))
    assert not explanation.feasible
    said = [r.text.split(" (cost")[0] for r in explanation.repairs if r.part.key == f"model == {model}"]
    assert said == ([dropped] if dropped else [])
    # the edit itself: the rule deleted from the file
    edited = problem_from(tmp_path, text.replace(f"    require model == {model}\n", ""), "edited.fit")
    assert (solve(edited).status == "optimal") == (dropped is not None)


@pytest.mark.parametrize("buy, repair", [
    # found as a user (session 55): "add a `buy` block" where one word in its `providers` does
    ("providers = [gcp]\n  max_count = 2", "let buy `cloud` (line 17) buy aws's offers (add aws to its "
     "`providers`): 2 x m1 (`m1`) in us-east-1 at 0.20 USD/h each"),
    ("providers = [gcp]\n  max_count = 1", None),  # bought as the block would: its limit kept
    # the provider and the region left out: two changes to the block, no smaller than a new one
    ('providers = [gcp]\n  regions = ["eu-central-1"]', "allow buying 2 x m1 (`m1`) in us-east-1 at "
     "0.20 USD/h each (add a `buy` block)"),
])
def test_a_provider_a_buy_leaves_out_is_offered_as_a_checked_repair_of_its_providers(tmp_path, buy, repair):
    text = (_REGIONS + _offer("m1", '["us-east-1"]') + f"buy cloud {{\n  {buy}\n}}\n"
            + workload("api", 2, 2, "4Gi"))
    explanation = explain(problem_from(tmp_path, text))
    assert [r.text for r in explanation.repairs if r.part.kind == "buy"] == ([repair] if repair else [])
    assert explanation.reasons[0].text.endswith("may buy nothing: it allows no offer (W0105)")


@pytest.mark.parametrize("buy, why", [
    # found as a user (session 55): the conflict named only the replicas
    ('regions = ["eu-central-1"]', "none of the offers it allows is sold in its `regions` (W0104)"),
    ("providers = [gcp]", "it allows no offer (W0105)"),
])
def test_a_workload_with_nowhere_to_run_names_the_buy_that_may_buy_nothing(tmp_path, buy, why):
    text = (_REGIONS + _offer("m1", '["us-east-1"]') + f"buy cloud {{\n  {buy}\n}}\n"
            + workload("api", 2, 2, "4Gi"))
    explanation = explain(problem_from(tmp_path, text))
    assert [r.text for r in explanation.reasons] == [
        f"workload `api` needs 2 replicas, each 2 CPU + 4 GiB; buy `cloud` (line 17) may buy nothing: {why}"]


def test_a_zone_spread_says_it_keeps_its_workload_off_what_is_bought(tmp_path):
    # found as a user (session 55): the spread was named, never that a bought node has no zone
    text = (_REGIONS + _offer("m1", '["us-east-1"]') + _offer("m2", '["us-east-1"]')
            + "buy cloud {\n  max_count = 4\n}\n"
            + workload("api", 2, 2, "4Gi", "  spread zone max_skew 1\n"))
    explanation = explain(problem_from(tmp_path, text))
    [stated] = [r for r in explanation.reasons if r.part.kind == "spread"]
    assert stated.text == ("`api` must spread over zone with max_skew 1; a node with no zone is in no "
                           "domain of it, so it may not run on the 2 offers buy `cloud` (line 25) may buy "
                           "in us-east-1 (US) (a node bought has a region and no zone)")


def test_a_spread_short_of_its_min_domains_says_how_many_domains_it_asks_for(tmp_path):
    """3 replicas `max_skew 1 min_domains 3` where offers are sold in 2 regions: fewer domains
    than asked, each holds at most 1; the conflict names `min_domains`, and lowering it to the
    2 domains there are repairs it (as cheap as a wider skew, 2 nodes, and the spread stays even).
    The edit, made in the text, solves."""
    text = (_REGIONS + _offer("m1", '["us-east-1", "eu-central-1"]') + "buy cloud {\n}\n"
            + workload("api", 3, 1, "1Gi", "  spread region max_skew 1 min_domains 3\n"))
    explanation = explain(problem_from(tmp_path, text))
    [stated] = [r for r in explanation.reasons if r.part.kind == "spread"]
    assert stated.text == ("`api` must spread over region with max_skew 1 over at least 3 region domains "
                           "(min_domains)")
    [repair] = [r for r in explanation.repairs if r.part.kind == "spread"]
    assert (repair.before, repair.after, repair.cost) == ("min_domains 3", "min_domains 2", Fraction("0.4"))
    assert repair.text.startswith("lower min_domains of `api`'s spread over region")
    fixed = solved(problem_from(tmp_path, text.replace(repair.before, repair.after)))
    assert fixed.status is Status.OPTIMAL and fixed.value == repair.cost


def test_a_wider_skew_repairs_a_min_domains_spread_where_it_is_cheaper_than_fewer_domains(tmp_path):
    """4 replicas of 1 CPU `max_skew 1 min_domains 4`, offers in three regions, the third dear
    (0.9): `min_domains 3` needs 2 + 1 + 1 over all three, 1.3; `max_skew 2` lets 2 + 2 share
    the two cheap nodes (2 domains, fewer than 4: the emptiest counted 0, skew 2), 0.4. The
    cheaper is offered, and it holds when applied."""
    third = 'region eu_west {\n  code = "eu-west-1"\n  jurisdiction = EU\n}\n'
    dear = _offer("m3", '["eu-west-1"]').replace("price = 0.2", "price = 0.9")
    text = (_REGIONS + third + _offer("m1", '["us-east-1", "eu-central-1"]') + dear
            + "buy cloud {\n}\n"
            + workload("api", 4, 1, "1Gi", "  spread region max_skew 1 min_domains 4\n"))
    explanation = explain(problem_from(tmp_path, text))
    [repair] = [r for r in explanation.repairs if r.part.kind == "spread"]
    assert (repair.before, repair.after, repair.cost) == ("1", "2", Fraction("0.4"))
    assert repair.text.startswith("raise max_skew of `api`'s spread over region")
    fixed = solved(problem_from(tmp_path, text.replace("max_skew 1", "max_skew 2")))
    assert fixed.status is Status.OPTIMAL and fixed.value == repair.cost
    fewer = solved(problem_from(tmp_path, text.replace("min_domains 4", "min_domains 3")))
    assert fewer.status is Status.OPTIMAL and fewer.value == Fraction("1.3")


def test_when_no_single_repair_works_the_smallest_pair_is_offered(tmp_path):
    # two separate shortfalls: no one change fixes both
    text = (pool("a", 1, 4, "8Gi", 1, '  labels = { tier: "a" }\n')
            + pool("b", 1, 4, "8Gi", 1, '  labels = { tier: "b" }\n')
            + workload("wa", 2, 4, "1Gi", '  require labels["tier"] == "a"\n')
            + workload("wb", 2, 4, "1Gi", '  require labels["tier"] == "b"\n'))
    explanation = explain(problem_from(tmp_path, text))
    assert explanation.repairs == [] and explanation.no_single_repair
    assert [(r.part, r.before, r.after) for r in explanation.pair] == [
        (Part("capacity", "a"), "1", "2"), (Part("capacity", "b"), "1", "2")]


def test_wording_exclusive_and_plural(tmp_path):
    text = (pool("p", 1, 8, "16Gi") + workload("job", 1, 1, "1Gi", "  exclusive = true\n")
            + workload("other", 1, 1, "1Gi"))
    explanation = explain(problem_from(tmp_path, text))
    parts = [r.part for r in explanation.reasons]
    assert parts == [Part("capacity", "p"), Part("exclusive", "job"), Part("replicas", "job"),
                     Part("replicas", "other")]
    texts = [r.text for r in explanation.reasons]
    assert "`job` has `exclusive = true`: no other workload may share its nodes" in texts
    assert "workload `job` needs 1 replica, each 1 CPU + 1 GiB" in texts
    assert not any("anti_affinity" in r.text for r in explanation.repairs)


def test_json_repairs_are_structured_with_literal_fixes(tmp_path, capsys):
    (tmp_path / "p.fit").write_text(PACKING)
    assert main(["explain", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert document["outcome"] == "conflict" and document["minimal"]
    assert [c["rule"] for c in document["conflict"]] == ["capacity", "replicas", "replicas"]
    first = document["repairs"][0]
    assert (first["rule"], first["subject"], first["from"], first["to"]) == ("capacity", "p", "3", "4")
    assert first["checked_cost"] == 4.0 and first["line"] == 2
    assert (first["fix"]["line"], first["fix"]["column"], first["fix"]["text"]) == (2, 11, "4")


# ---- every named conflict is a conflict, and a minimal one ---------------------------------
# A generator of small policies over every rule kind, as data; a conflict `explain` names is
# mapped onto that data, and the policy is written again as text with only the named parts
# kept (sufficient: still no placement) or with one of them dropped as well (minimal: a
# placement). `fitc solve` decides, on the text: no code of explain's own restriction is used.

import random  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402


@dataclass
class Spec:
    pools: list[dict]
    workloads: list[dict]
    budget: int | None = None
    dropped: set = field(default_factory=set)  # (kind, subject, key) elements left out
    plenty: int = 12  # a pool's count once its count is left out: more than any need

    def on(self, kind, subject="", key=""):
        return (kind, subject, key) not in self.dropped

    def text(self) -> str:
        out = []
        for p in self.pools:
            count = p["count"] if self.on("capacity", p["name"]) else self.plenty
            extra = f'  zone = "{p["zone"]}"\n  labels = {{ tier: "{p["tier"]}" }}\n'
            if p["dedicated"]:
                extra += f'  dedicated = "{p["dedicated"]}"\n'
            out.append(pool(p["name"], count, p["cpu"], f'{p["memory"]}Gi', p["price"], extra))
        names = {w["name"] for w in self.workloads if self.on("replicas", w["name"]) or
                 any(self.on(*rule) for v in self.workloads for rule in v["rules"]
                     if rule[0] == "affinity" and v["target"] == w["name"])}
        for w in self.workloads:
            if w["name"] not in names:
                continue
            lines = ""
            if w["name"] in names and not self.on("replicas", w["name"]):
                lines += "  priority = 0\n"
            else:
                lines += "  priority = 10\n"
            for rule in w["rules"]:
                kind, _, key = rule
                line = w["lines"][rule]
                if rule[0] == "rule" and key.startswith("dedicated"):
                    if not self.on(*rule):
                        lines += f'  tolerate = ["{key.split(chr(34))[1]}"]\n'
                elif self.on(*rule) and (kind != "affinity" or w["target"] in names or key == 0):
                    lines += line
            out.append(workload(w["name"], w["replicas"], w["cpu"], f'{w["memory"]}Gi', lines))
        policy = "  allow_unplaced = true\n"
        if self.budget is not None and self.on("budget"):
            policy += f"  budget = {self.budget} USD/h\n"
        return "".join(out) + "policy {\n" + policy + "}\n"


def _generate(rng: random.Random) -> Spec:
    pools = []
    for index in range(rng.randint(1, 3)):
        pools.append({"name": f"p{index}", "count": rng.randint(1, 3), "cpu": rng.choice([4, 8]),
                      "memory": rng.choice([8, 16]), "price": rng.choice([1, 2, 3]),
                      "zone": rng.choice(["za", "zb"]), "tier": rng.choice(["a", "b"]),
                      "dedicated": "x" if rng.random() < 0.2 else None})
    workloads = []
    for index in range(rng.randint(1, 3)):
        name = f"w{index}"
        w = {"name": name, "replicas": rng.randint(1, 5), "cpu": rng.choice([1, 2, 4, 6]),
             "memory": rng.choice([1, 2, 6]), "rules": [], "lines": {}, "target": None}
        affinities = 0

        def add(rule, line, w=w):
            w["rules"].append(rule)
            w["lines"][rule] = line

        if rng.random() < 0.35:
            add(("affinity", name, affinities), "  anti_affinity self on node\n")
            affinities += 1
        if index and rng.random() < 0.3:
            w["target"] = f"w{rng.randrange(index)}"
            add(("affinity", name, affinities), f"  affinity {w['target']} on zone\n")
            affinities += 1
        if rng.random() < 0.3:
            tier = rng.choice(["a", "b"])
            add(("rule", name, f'labels["tier"] == "{tier}"'), f'  require labels["tier"] == "{tier}"\n')
        if rng.random() < 0.25:
            zone = rng.choice(["za", "zb"])
            add(("rule", name, "zones"), f'  zones = ["{zone}"]\n')
        if rng.random() < 0.2:
            add(("spread", name, 0), "  spread zone max_skew 1\n")
        if any(p["dedicated"] for p in pools):
            add(("rule", name, 'dedicated = "x"'), "")
        workloads.append(w)
    budget = rng.choice([None, None, 3, 5])
    return Spec(pools, workloads, budget)


def _element(part: Part) -> tuple:
    """A part as the generator names it: (kind, subject, its index or else its key)."""
    return (part.kind, part.subject, part.key if part.index is None else part.index)


def _elements(spec: Spec) -> set:
    found = {("capacity", p["name"], "") for p in spec.pools}
    found |= {("replicas", w["name"], "") for w in spec.workloads}
    found |= {rule for w in spec.workloads for rule in w["rules"]}
    if spec.budget is not None:
        found.add(("budget", "", ""))
    return found


def _placed(tmp_path, spec: Spec) -> bool:
    problem = problem_from(tmp_path, spec.text())
    placement = solve(problem)
    required = {w["name"] for w in spec.workloads if spec.on("replicas", w["name"])}
    return placement.status in (Status.OPTIMAL, Status.FEASIBLE) and \
        not any(u.workload in required for u in placement.unplaced)


def test_every_named_conflict_is_sufficient_and_minimal(tmp_path):
    conflicts = sufficient = minimal = 0
    for seed in range(60):
        spec = _generate(random.Random(seed))
        everything = _elements(spec)
        strict = Spec(spec.pools, spec.workloads, spec.budget)
        text = strict.text().replace("  allow_unplaced = true\n", "")
        problem = problem_from(tmp_path, text)
        explanation = explain(problem, time_limit=20)
        if explanation.outcome is not ExplainOutcome.CONFLICT:
            assert explanation.outcome is ExplainOutcome.FEASIBLE, seed
            continue
        conflicts += 1
        named = {_element(r.part) for r in explanation.reasons}
        assert named <= everything, (seed, named - everything)
        kept = Spec(spec.pools, spec.workloads, spec.budget, everything - named)
        assert not _placed(tmp_path, kept), (seed, named, kept.text())
        sufficient += 1
        for element in named:
            relaxed = Spec(spec.pools, spec.workloads, spec.budget, (everything - named) | {element})
            assert _placed(tmp_path, relaxed), (seed, element, relaxed.text())
        minimal += 1
    print(f"conflicts {conflicts}: sufficient {sufficient}, minimal {minimal}")
    assert conflicts >= 15  # the generator makes enough infeasible policies to mean something


def _scaled(spec: Spec, factor: int) -> Spec:
    """The same policy with `factor` times the nodes, replicas and budget."""
    pools = [{**p, "count": p["count"] * factor} for p in spec.pools]
    workloads = [{**w, "replicas": w["replicas"] * factor} for w in spec.workloads]
    return Spec(pools, workloads, spec.budget and spec.budget * factor, plenty=12 * factor)


def test_at_fleet_scale_every_named_conflict_is_sufficient_and_minimal(tmp_path):
    # the generator's policies with 100 times the nodes and replicas: above the exact model's
    # size, so explain takes its fleet-scale route (the transport LP, witnesses by pool)
    conflicts = 0
    for seed in range(16):
        spec = _scaled(_generate(random.Random(seed)), 100)
        if sum(p["count"] for p in spec.pools) <= explaining.PER_NODE_MAX_NODES:
            continue
        everything = _elements(spec)
        text = spec.text().replace("  allow_unplaced = true\n", "")
        explanation = explain(problem_from(tmp_path, text), time_limit=20)
        if explanation.outcome is not ExplainOutcome.CONFLICT:
            continue  # (undecided where packing alone shows it: the model by pool cannot)
        conflicts += 1
        assert explanation.minimal, seed
        named = {_element(r.part) for r in explanation.reasons}
        assert named <= everything, (seed, named - everything)
        kept = Spec(spec.pools, spec.workloads, spec.budget, everything - named, spec.plenty)
        assert not _placed(tmp_path, kept), (seed, named, kept.text())
        for element in named:
            relaxed = Spec(spec.pools, spec.workloads, spec.budget,
                           (everything - named) | {element}, spec.plenty)
            assert _placed(tmp_path, relaxed), (seed, element, relaxed.text())
    assert conflicts >= 10


# ---- at fleet scale (more nodes than the exact model takes) ---------------------------------
# 100 nodes of 8 GPUs, 80 of 1 GPU, 200 CPU nodes: 880 GPUs. `train` is a gang of 4 replicas of
# 8 GPUs (whole 8-GPU nodes), `infer` 850 replicas of 1 GPU: 882 GPUs asked, 2 too many. `web`
# may run anywhere and fits on the CPU nodes alone. By hand: the conflict is both GPU pools,
# `infer` and `train` (drop either workload: 850 or 32 GPUs fit; drop a pool's count: room);
# the repairs: 1 more 8-GPU node, 2 more 1-GPU nodes, 848 `infer`, or 3 `train` (24 GPUs).
FLEET = (GPUS
         + pool("big", 100, 96, "1Ti", 98, "  gpu {\n    model = H100\n    count = 8\n  }\n")
         + pool("small", 80, 8, "32Gi", 2, "  gpu {\n    model = H100\n    count = 1\n  }\n")
         + pool("cpu", 200, 16, "64Gi", 1)
         + workload("train", 4, 8, "64Gi", "  kind = job\n  gang = true\n  gpu {\n    count = 8\n  }\n")
         + workload("infer", 850, 1, "4Gi", "  gpu {\n    count = 1\n  }\n")
         + workload("web", 300, 4, "8Gi"))


def _fleet_solved(tmp_path, text) -> bool:
    """`fitc solve`'s verdict on the text (its own route: the placement model, packing, verify)."""
    placement = solve(problem_from(tmp_path, text))
    return placement.status in (Status.OPTIMAL, Status.FEASIBLE) and not placement.unplaced


def test_at_fleet_scale_the_conflict_is_sufficient_minimal_and_the_repairs_exact(tmp_path,
                                                                                 monkeypatch):
    def no_full_proof(*arguments):
        raise AssertionError("the transport LP and one restricted check prove it: no full encoding")

    monkeypatch.setattr(explaining.conflict, "_fleet_proof", no_full_proof)
    explanation = explain(problem_from(tmp_path, FLEET))
    assert explanation.outcome is ExplainOutcome.CONFLICT and explanation.minimal
    assert [r.part for r in explanation.reasons] == [
        Part("capacity", "big"), Part("capacity", "small"), Part("replicas", "infer"),
        Part("replicas", "train")]
    assert changes(explanation) == [("capacity", "big", "100", "101"),
                                    ("capacity", "small", "80", "82"),
                                    ("replicas", "infer", "850", "848"),
                                    ("replicas", "train", "4", "3")]
    assert not explanation.repairs_cut_short
    # checked on the text by `solve`: the conflict alone (web dropped) has no placement; with
    # one more node or one replica fewer than each repair, none; with the repair, one
    assert not _fleet_solved(tmp_path, FLEET.replace("replicas = 300", "replicas = 0"))
    for before, after, short in [("count = 100", "count = 101", None),
                                 ("count = 80", "count = 82", "count = 81"),
                                 ("replicas = 850", "replicas = 848", "replicas = 849")]:
        assert _fleet_solved(tmp_path, FLEET.replace(before, after)), after
        if short:
            assert not _fleet_solved(tmp_path, FLEET.replace(before, short)), short


def test_at_fleet_scale_repairs_check_the_whole_policy_when_the_rest_needs_the_same_pools(tmp_path):
    # `web` now needs the GPU nodes' CPUs too (1,000 replicas of 4 CPU: 800 fit on the CPU
    # nodes): the rest cannot be placed apart, so each repair is checked on the whole policy
    text = FLEET.replace("replicas = 300", "replicas = 1000")
    explanation = explain(problem_from(tmp_path, text))
    assert explanation.outcome is ExplainOutcome.CONFLICT and explanation.minimal
    assert ("capacity", "big", "100", "101") in changes(explanation)
    assert _fleet_solved(tmp_path, text.replace("count = 100", "count = 101"))


def test_at_fleet_scale_a_conflict_in_per_node_packing_is_never_called_feasible(tmp_path):
    # PACKING on 170 nodes: 339 `big` (2 a node) leave one node with 4 CPU and 14 GiB, room
    # for 2 of the 3 `small` (6 GiB each); the pool's totals fit (1,359 of 1,360 CPU)
    text = pool("p", 170, 8, "16Gi") + workload("big", 339, 4, "2Gi") + workload("small", 3, 1, "6Gi")
    explanation = explain(problem_from(tmp_path, text), time_limit=10)
    assert explanation.outcome is not ExplainOutcome.FEASIBLE


def test_the_repair_scope_takes_in_a_spread_whose_domains_it_would_change(tmp_path):
    # placed apart from the GPU pools (zones za and zb), `web` would leave their nodes empty:
    # a spread over nodes counts those; a spread over zones does not when the CPU pools have
    # the same zones, and does when they have fewer
    def text(rule, cpu_zones):
        zone = '  zone = "{}"\n'.format
        eight = "  gpu {\n    model = H100\n    count = 8\n  }\n"
        one = "  gpu {\n    model = H100\n    count = 1\n  }\n"
        return (GPUS + pool("big", 100, 96, "1Ti", 98, zone("za") + eight)
                + pool("small", 80, 8, "32Gi", 2, zone("zb") + one)
                + "".join(pool(f"cpu{i}", 100, 16, "64Gi", 1, zone(z)) for i, z in enumerate(cpu_zones))
                + workload("infer", 850, 1, "4Gi", "  gpu {\n    count = 1\n  }\n")
                + workload("web", 300, 4, "8Gi", rule))

    for rule, cpu_zones, joins in [("", ["za"], False), ("  spread node max_skew 1\n", ["za", "zb"], True),
                                   ("  spread zone max_skew 1\n", ["za", "zb"], False),
                                   ("  spread zone max_skew 1\n", ["za", "za"], True)]:
        problem = problem_from(tmp_path, text(rule, cpu_zones))
        workloads, pools = explaining.repairs._closed_scope(problem, {"infer"}, {"big", "small"})
        assert ("web" in workloads) is joins, (rule, cpu_zones)
        assert ("cpu0" in pools) is joins, (rule, cpu_zones)


def test_explaining_a_pool_of_ten_million_nodes_costs_what_a_pool_of_a_hundred_does(tmp_path):
    # issue 13: 10 replicas of 1 CPU need 3 of the 4-CPU nodes at 0.1 USD/h (4 + 4 + 2): 0.30
    # USD/h, over a budget of 0.20 whatever the pool's size. The same conflict and repairs
    # (raise the budget to 0.30; or 8 replicas on 2 nodes), and the memory used to build and
    # explain stays that of the small pool (tracemalloc, not the clock)
    import tracemalloc

    measured = {}
    for count in (100, 10_000_000):
        text = (pool("big", count, 4, "16Gi", "0.1") + workload("web", 10, 1, "2Gi")
                + "policy {\n  budget = 0.2 USD/h\n}\n")
        tracemalloc.start()
        explanation = explain(problem_from(tmp_path, text, f"p{count}.fit"))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        measured[count] = (explanation.outcome, [r.part.kind for r in explanation.reasons],
                           changes(explanation), [r.cost for r in explanation.repairs], peak)
    small, huge = measured[100], measured[10_000_000]
    assert small[:4] == huge[:4] == (
        ExplainOutcome.CONFLICT, ["budget", "replicas"],
        [("budget", "", "0.20 USD/h", "0.30 USD/h"), ("replicas", "web", "10", "8")],
        [Fraction(3, 10), Fraction(2, 10)])
    assert huge[4] < 2 * small[4] + 2 ** 20, (small[4], huge[4])


def test_the_budget_repair_at_fleet_scale_is_the_cheapest_placement_not_any(tmp_path):
    # 900 nodes (above the per-node checks' size): 40 web of 1 CPU and 12 db of 3 CPU, 76 CPU.
    # By hand: the cheap pool's CPU costs 0.025 USD/h, mid's 0.0375, dear's 0.125, so no
    # placement costs less than 76 / 4 x 0.1 = 1.90 USD/h, and 1.90 is reached on the cheap
    # pool (12 nodes of db + web, 7 of 4 web). Any placement found (every node open: 270 USD/h,
    # what the repair said before) is a budget that works, not the least one.
    text = (pool("dear", 300, 4, "16Gi", "0.5") + pool("cheap", 300, 4, "16Gi", "0.1")
            + pool("mid", 300, 8, "16Gi", "0.3") + workload("web", 40, 1, "2Gi")
            + workload("db", 12, 3, "2Gi") + "policy {\n  budget = 0.2 USD/h\n}\n")
    explanation = explain(problem_from(tmp_path, text))
    assert explanation.outcome is ExplainOutcome.CONFLICT
    assert changes(explanation) == [("budget", "", "0.20 USD/h", "1.90 USD/h")]
    assert [r.cost for r in explanation.repairs] == [Fraction(19, 10)]


def test_repairs_at_fleet_scale_state_the_least_cost_found_not_any_placements(tmp_path):
    # 901 nodes (above the per-node checks' size). `wide` needs 2 nodes of 20 CPU where `big`
    # has 1. By hand: `big`'s nodes are full with one `wide` each (1.00 USD/h a node), and
    # web + db (76 CPU) cost at least 76 / 4 x 0.1 = 1.90 on the cheap pool (as above): with
    # one more `big` node the least is 2 + 1.90 = 3.90, with one `wide` fewer 1 + 1.90 = 2.90.
    # The search's checks only ask that a trial works (before: 4.20 and 3.20, what those
    # placements cost); the repairs found are solved again for their cheapest.
    text = (pool("dear", 300, 4, "16Gi", "0.5") + pool("cheap", 300, 4, "16Gi", "0.1")
            + pool("mid", 300, 8, "16Gi", "0.3") + pool("big", 1, 20, "64Gi", "1.0")
            + workload("web", 40, 1, "2Gi") + workload("db", 12, 3, "2Gi")
            + workload("wide", 2, 20, "8Gi"))
    explanation = explain(problem_from(tmp_path, text))
    assert changes(explanation) == [("capacity", "big", "1", "2"), ("replicas", "wide", "2", "1")]
    assert [(r.cost, r.least) for r in explanation.repairs] == [(Fraction(39, 10), True),
                                                                (Fraction(29, 10), True)]
    assert "(cost 3.90 USD/h)" in repairs_text(explanation)


def test_a_repair_not_priced_in_time_says_its_cost_is_at_most_what_was_found(tmp_path):
    problem = problem_from(tmp_path, pool("p", 3, 8, "16Gi") + workload("web", 4, 1, "2Gi"))
    # found by a check that did not minimise, and out of time to solve it again
    found = Repair(Part("capacity", "p"), "add 1 node to pool `p` (count = 4)", cost=Fraction(7),
                   checked=Check(True, Fraction(7), trial=Trial(problem)))
    [unpriced] = explaining.repairs._priced([(found, Fraction(1))], time.monotonic() - 1)
    assert (unpriced.cost, unpriced.least) == (Fraction(8), False)
    assert unpriced.as_json()["checked_cost_least"] is False
    assert repairs_text(Explanation(ExplainOutcome.CONFLICT, repairs=[unpriced])).endswith(
        "(cost at most 8.00 USD/h)")


def test_a_pair_whose_second_is_a_workloads_replicas_is_not_sized_against(tmp_path):
    # a spread over zones on nodes with no zone places nothing (a node without the key is no
    # domain), and 3 nodes of 8 CPU hold 24 of the 30: the pair is 30 -> 24 replicas and the
    # spread dropped. Trying the spread's repair with the replicas dropped (the workload then
    # left out altogether) crashed with an IndexError (`fitc solve`: internal error)
    text = pool("p", 3, 8, "8Gi") + workload("w", 30, 1, "1Gi", "  spread zone max_skew 1\n")
    explanation = explain(problem_from(tmp_path, text))
    assert explanation.outcome is ExplainOutcome.CONFLICT and explanation.no_single_repair
    assert [(r.part.kind, r.before, r.after) for r in explanation.pair] == [
        ("replicas", "30", "24"), ("spread", None, None)]


def test_a_conflict_carries_its_rules_as_related_locations_and_its_edits_as_fixes(tmp_path,
                                                                                   capsys):
    """PACKING's conflict, by hand: pool `p`'s count (line 2, the value at column 11) and the
    replicas of `big` (line 8) and `small` (line 13, column 14). The E0501 of `fitc solve`
    carries each as a related location, and the three repairs, each one literal edit (3 -> 4,
    5 -> 4, 3 -> 2), as fixes; the wire form reads back as it was, and the human renderer
    prints no note lines for them (the message lists the rules already)."""
    from fitlang.diagnostics import Diagnostic

    (tmp_path / "p.fit").write_text(PACKING)
    assert main(["solve", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    record = next(d for d in json.loads(capsys.readouterr().out)["diagnostics"]
                  if d["code"] == "E0501")
    assert [(r["line"], r["column"], r["end_column"]) for r in record["related"]] == [
        (2, 11, 12), (8, 14, 15), (13, 14, 15)]
    assert all(r["path"] == record["path"] and r["message"] for r in record["related"])
    assert [(f["line"], f["column"], f["end_column"], f["text"]) for f in record["fixes"]] == [
        (2, 11, 12, "4"), (8, 14, 15, "4"), (13, 14, 15, "2")]
    assert Diagnostic.from_record(record).as_record() == record
    assert main(["solve", str(tmp_path / "p.fit"), "--color", "never"]) == 1
    err = capsys.readouterr().err
    assert "error[E0501]" in err and "note:" not in err


def test_a_rule_dropped_takes_its_exclusions_along_and_later_rules_move_up(tmp_path):
    # pool `bare` has neither zone nor region: both of `w`'s rules keep it off (as Kubernetes
    # reads a topology key). Dropped as a user drops the first line, the second rule still
    # keeps `w` off `bare`, now as the workload's first affinity; dropped too, `bare` is back.
    from fitlang.solve.explain.parts import dropped, with_parts

    problem = problem_from(tmp_path, pool("zoned", 2, 4, "8Gi", 1, '  zone = "z1"\n  region = "r1"\n')
                           + pool("bare", 2, 4, "8Gi", 1)
                           + workload("w", 2, 1, "1Gi", "  anti_affinity self on zone\n"
                                      "  anti_affinity self on region\n"))
    by_zone, by_region = (Part(PartKind.AFFINITY, "w", index=i) for i in (0, 1))
    assert problem.demand("w").eligible == ["zoned"]
    result, numbered = dropped(problem, by_zone)
    assert numbered(by_region) == Part(PartKind.AFFINITY, "w", index=0)
    assert [r.index for r in result.demand("w").failing["bare"]] == [0]
    assert result.demand("w").eligible == ["zoned"]
    again = with_parts(result, lambda part: part != numbered(by_region)).problem
    assert again.demand("w").eligible == ["zoned", "bare"]


def test_a_spread_over_every_option_is_named_and_its_skew_raised(tmp_path):
    # zone c has one L40S node with room for one replica, so with max_skew 1 zones a and b
    # hold at most 2 each: 5 replicas of either option, short of the 6 needed. Raising the
    # skew to 2 places 3 + 2 + 1: 3 L40S on a 1 USD/h node of a, 2 H100 on a 10 USD/h node of
    # b, 1 L40S on the 30 USD/h node of c: 41
    from option_domains import spread_policy

    text = spread_policy().replace("throughput = 3", "throughput = 6")
    text = text.replace('count = 2\n  cpu = 32\n  memory = 256GiB\n  gpu {\n    model = L40S\n'
                        '    count = 8\n  }\n  zone = "c"',
                        'count = 1\n  cpu = 8\n  memory = 256GiB\n  gpu {\n    model = L40S\n'
                        '    count = 8\n  }\n  zone = "c"')
    explanation = explain(problem_from(tmp_path, text))
    assert Part("spread", "chat", index=0) in [r.part for r in explanation.reasons]
    raised = [r for r in explanation.repairs if r.part == Part("spread", "chat", index=0)]
    assert [(r.before, r.after, r.cost) for r in raised] == [("1", "2", 41)]


def test_a_gang_left_optional_is_still_all_or_none_so_the_conflict_names_no_count_it_does_not_need(
        tmp_path):
    # bench/differential_combos.py seed 1492: w1 needs w0 in its zone and two nodes of its own;
    # w0 is a gang of three, each filling a p0 node's memory. Within 2.49 USD/h no placement
    # exists however many p0 nodes there are (the least is 2.50), but the conflict also named
    # p0's count: its trials placed one replica of the (optional) gang w0, which a gang cannot
    text = (pool("p0", 2, 8, "8Gi", "0.50", '  zone = "z2"\n')
            + pool("p1", 2, 8, "32Gi", "1.50", '  zone = "z1"\n')
            + workload("w0", 3, 2, "8Gi", "  gang = true\n")
            + workload("w1", 2, "500m", "2Gi", "  affinity w0 on zone\n  anti_affinity self on node\n")
            + "policy {\n  budget = 2.49 USD/h\n}\n")
    explanation = explain(problem_from(tmp_path, text), time_limit=20)
    assert explanation.outcome is ExplainOutcome.CONFLICT and explanation.minimal
    assert sorted(r.part.kind for r in explanation.reasons) == sorted(
        [PartKind.BUDGET, PartKind.AFFINITY, PartKind.AFFINITY, PartKind.REPLICAS])


def test_more_nodes_for_an_inventory_are_asked_of_the_inventory_not_as_a_count(tmp_path, capsys):
    """An inventory's nodes have no `count` to raise: the repair adds nodes like the class's to
    the inventory (the text said "(count = N)", a line no one can write), and offers no edit."""
    nodes = {"apiVersion": "v1", "kind": "List", "items": [
        {"metadata": {"name": f"n{i}", "labels": {"kubernetes.io/arch": "amd64"}},
         "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}]}} for i in range(2)]}
    (tmp_path / "nodes.json").write_text(json.dumps(nodes))
    (tmp_path / "p.fit").write_text(
        'inventory rack {\n  format = kubectl\n  file = "nodes.json"\n  price = 1 USD/h\n}\n'
        "workload w {\n  replicas = 3\n  cpu = 3\n  memory = 1GiB\n}\n")
    assert main(["explain", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    repairs = json.loads(capsys.readouterr().out)["repairs"]
    grown = [r for r in repairs if r["rule"] == "capacity"]
    assert [(r["from"], r["to"]) for r in grown] == [("2", "3")]
    assert "count =" not in grown[0]["text"] and "to the inventory (3 in all)" in grown[0]["text"]
    assert grown[0].get("fix") is None


def test_a_replica_no_node_holds_is_said_with_the_most_a_node_has(tmp_path, capsys):
    """`w` asks 12 CPU of each replica; pool `a` has 8-CPU nodes, pool `big` 16-CPU nodes that
    `w`'s label rule rules out. Without `big`, no node of the fleet holds one replica: the
    conflict (the replicas alone) says so, with the most CPU a node has. With `big`, some node
    would: the rule that rules it out is in the conflict, and the replicas say no more."""
    rule = '  require labels["tier"] == "gold"\n'
    (tmp_path / "alone.fit").write_text(pool("a", 2, 8, "32Gi") + workload("w", 2, 12, "1Gi"))
    (tmp_path / "ruled.fit").write_text(pool("a", 2, 8, "32Gi") + pool("big", 2, 16, "32Gi")
                                        + workload("w", 2, 12, "1Gi", rule))
    said = {}
    for name in ("alone", "ruled"):
        assert main(["explain", str(tmp_path / f"{name}.fit"), "--format", "json"]) == 1
        document = json.loads(capsys.readouterr().out)
        said[name] = {c["rule"]: c["text"] for c in document["conflict"]}
    assert list(said["alone"]) == ["replicas"]
    assert said["alone"]["replicas"].endswith(
        "; no node of any pool or offer has room for one (the most a node has: 8 CPU)")
    assert "rule" in said["ruled"] and "room for one" not in said["ruled"]["replicas"]


def _fixed(text, repair):
    """The text as an editor leaves it once the repair's quick fix is applied."""
    assert repair.fix is not None
    return text[:repair.fix.span.start] + repair.fix.text + text[repair.fix.span.end:]


def test_a_replica_no_node_holds_gets_its_request_lowered_to_the_largest_node_it_may_use(tmp_path):
    """`w` asks 12 CPU of each replica: pool `a` has 8-CPU nodes, pool `big` 10-CPU ones that
    `w`'s label rule rules out. Fewer replicas cannot help (none places); the repair lowers
    `cpu` to what a node of `a` has (`big`, ruled out by another rule, does not count: 10
    would not place), as an edit of the `cpu` line, and the policy so edited places `w`."""
    text = (pool("a", 2, 8, "32Gi") + pool("big", 2, 10, "32Gi", 1, '  labels = { tier: "gold" }\n')
            + workload("w", 2, 12, "1Gi", '  require labels["tier"] != "gold"\n'))
    explanation = explain(problem_from(tmp_path, text))
    assert explanation.outcome is ExplainOutcome.CONFLICT
    lowered = [r for r in explanation.repairs if r.requests is not None]
    assert [(r.part.kind, r.part.subject, r.before, r.after) for r in lowered] == [
        (PartKind.REPLICAS, "w", "12", "8")]
    assert lowered[0].requests["cpu"] == 8000 and lowered[0].cost == 2
    fixed = _fixed(text, lowered[0])
    assert "  cpu = 8\n" in fixed and not solve(problem_from(tmp_path, fixed, "fixed.fit")).unplaced


def test_a_memory_request_is_lowered_to_whole_mib_that_the_node_holds(tmp_path, capsys):
    """The largest node has 30 GB (not whole MiB: 28610.2 MiB): the request is lowered to
    28610MiB, rounded down so that a replica fits, as the language writes a size; the JSON's
    edit, made on the text, places `w`."""
    text = pool("a", 1, 8, "30GB") + workload("w", 1, 2, "40GiB")
    (tmp_path / "p.fit").write_text(text)
    assert main(["explain", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    repairs = json.loads(capsys.readouterr().out)["repairs"]
    assert [(r["rule"], r["from"], r["to"]) for r in repairs] == [("replicas", "40GiB", "28610MiB")]
    fix = repairs[0]["fix"]
    lines = text.split("\n")
    line = lines[fix["line"] - 1]
    lines[fix["line"] - 1] = line[:fix["column"] - 1] + fix["text"] + line[fix["end_column"] - 1:]
    assert not solve(problem_from(tmp_path, "\n".join(lines), "fixed.fit")).unplaced


def test_a_lowered_request_within_budget_is_one_of_a_pair(tmp_path):
    """Lowered to 8 CPU, `w`'s two replicas fit a node each of `a`, on two nodes (`anti_affinity
    self on node`) at 2 USD/h, over the 1 USD/h budget: that alone is no repair. The pair is
    the request lowered (sized with the budget dropped), then the budget raised, searched on
    the policy with the request lowered (`_applied`); both edits made, the policy places `w`."""
    text = (pool("a", 2, 8, "32Gi") + workload("w", 2, 12, "1Gi", "  anti_affinity self on node\n")
            + "policy {\n  budget = 1 USD/h\n}\n")
    explanation = explain(problem_from(tmp_path, text))
    assert explanation.no_single_repair and not explanation.repairs
    assert [(r.part.kind, r.before, r.after, r.requests is not None) for r in explanation.pair] == [
        (PartKind.REPLICAS, "12", "8", True), (PartKind.BUDGET, "1.00 USD/h", "2.00 USD/h", False)]
    fixed = _fixed(_fixed(text, explanation.pair[1]), explanation.pair[0])  # the later edit first
    assert not solve(problem_from(tmp_path, fixed, "fixed.fit")).unplaced


def test_two_requests_lowered_together_are_said_with_no_single_edit(tmp_path):
    """`w` asks 12 CPU and 2 GPUs of a replica; pool `a`'s nodes have 8 CPU and 1 GPU, and pool
    `plain`'s 64 CPU but no GPU (a fact, not a size: it does not count). Both requests are
    lowered to `a`'s, one repair with no edit (two lines change); the policy written so places."""
    gpu_pool = pool("a", 2, 8, "32Gi", 1, "  gpu {\n    model = H100\n    count = 1\n  }\n")
    text = (GPUS + gpu_pool + pool("plain", 2, 64, "256Gi")
            + workload("w", 2, 12, "1Gi", "  gpu {\n    count = 2\n  }\n"))
    explanation = explain(problem_from(tmp_path, text))
    lowered = [r for r in explanation.repairs if r.requests is not None]
    assert [(r.before, r.after, r.fix) for r in lowered] == [("12, 2", "8, 1", None)]
    assert (lowered[0].requests["cpu"], lowered[0].requests["gpu"]) == (8000, 1)
    fixed = text.replace("  cpu = 12\n", "  cpu = 8\n").replace("    count = 2\n", "    count = 1\n")
    assert not solve(problem_from(tmp_path, fixed, "fixed.fit")).unplaced


def test_a_request_lowered_onto_a_pool_a_rule_keeps_it_off_is_a_pair_with_the_rule(tmp_path):
    """`w` asks 12 CPU and the `gold` label; pool `a` has 8-CPU nodes labelled `silver`. No
    single change places it (the label kept, no node; the label dropped, `a` too small). The
    pair: the request lowered, sized with the label rule dropped (which leaves `a` out for its
    size alone, with no reason), then the rule dropped on the policy with the request lowered."""
    text = (pool("a", 2, 8, "32Gi", 1, '  labels = { tier: "silver" }\n')
            + workload("w", 2, 12, "1Gi", '  labels = { tier: "gold" }\n'))
    explanation = explain(problem_from(tmp_path, text))
    assert explanation.no_single_repair and not explanation.repairs
    assert [(r.part.kind, r.before, r.after, r.requests is not None) for r in explanation.pair] == [
        (PartKind.REPLICAS, "12", "8", True), (PartKind.RULE, 'labels["tier"] == "gold"', None, False)]
    fixed = _fixed(text, explanation.pair[0]).replace('  labels = { tier: "gold" }\n', "")
    assert not solve(problem_from(tmp_path, fixed, "fixed.fit")).unplaced


@pytest.mark.parametrize("tune, change", [
    # one 4-chip replica: a gang of two (each slice has two 4-chip hosts)
    (("tune", 1), "(`replicas = 2`, `gang = true`)"),
    # a gang of two asking 2 chips a replica: each of its host's 4
    (("tune", 2, 2, True), "(`count = 4` in its `gpu` block)"),
])
def test_a_workload_that_cannot_fill_a_multi_host_tpu_slice_is_told_what_would(tmp_path, capsys, tune,
                                                                                 change):
    """Session 58's research centre: `tune` (1 replica of 4 v5e chips) beside a gang on two
    `2x4` slices of two 4-chip hosts each. A slice's hosts run one job together, so `tune` may
    not take one host of the other slice (the solver placed it there, and GKE would leave it
    waiting): explain names the slices and what filling one takes, and its repair, applied to
    the source as it says, solves and verifies."""
    from gke_slices import inventory, slice_hosts, tpu_workload, write_nodes

    write_nodes(tmp_path / "nodes.json", slice_hosts("a", "2x4") + slice_hosts("b", "2x4"))
    path = tmp_path / "p.fit"
    path.write_text(inventory() + tpu_workload("whole", 2, gang=True) + tpu_workload(*tune))
    assert main(["explain", str(path)]) == 1
    out, err = capsys.readouterr()
    assert "keeps it off multi-host TPU slices `a` (pool `gke/a`), `b` (pool `gke/b`): the hosts of a " \
           "multi-host TPU slice run one job together, one gang (`gang = true`) of 2 replicas, each " \
           "asking the 4 chips of its host" in err + out
    assert ("make `tune` one gang (`gang = true`) of 2 replicas, each asking the 4 chips of its host "
            f"{change}") \
        in out
    path.write_text(inventory() + tpu_workload("whole", 2, gang=True) + tpu_workload("tune", 2, 4, True))
    assert main(["solve", str(path), "--format", "json"]) == 0
    (tmp_path / "placed.json").write_text(capsys.readouterr().out)
    assert main(["verify", str(path), str(tmp_path / "placed.json")]) == 0


@pytest.mark.parametrize("home", ["us-east-1", "us-east-2", "us-west-2"])
def test_the_buy_repair_buys_in_the_region_of_the_policys_own_nodes_at_a_price_tie(tmp_path, home):
    # found as a user (session 59): an EKS cluster in us-east-1 was told "allow buying 2 x
    # g6.xlarge ... in us-east-2", nodes that join a cluster the team does not have
    text = (_offer("m1", '["us-east-1", "us-east-2", "us-west-2"]')
            + pool("own", 1, 4, "16Gi", 0.1, extra=f'  region = "{home}"\n') + workload("api", 5, 3, "4Gi"))
    explanation = explain(problem_from(tmp_path, text))
    [repair] = [r for r in explanation.repairs if r.part.kind == "buy"]
    assert repair.text == f"allow buying 4 x m1 (`m1`) in {home} at 0.20 USD/h each (add a `buy` block)"


def _typed_nodes(count: int) -> str:
    """`count` kubectl nodes of one instance type, each in a zone of its own: classes apart."""
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [
        {"metadata": {"name": f"n{i}", "labels": {
            "kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "m5.xlarge",
            "topology.kubernetes.io/zone": f"z{i}"}},
         "status": {"allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110"},
                    "conditions": [{"type": "Ready", "status": "True"}]}} for i in range(count)]})


def test_more_nodes_of_an_instance_type_split_in_classes_are_asked_once_and_counted_whole(tmp_path):
    # found as a user (session 59): "add 4 nodes like those of `eks/m7i.2xlarge`" once per
    # class of the one instance type (classes apart by zone, by what running pods leave)
    text = ('inventory rack {\n  format = kubectl\n  file = "nodes.json"\n  price = 1 USD/h\n}\n'
            + workload("w", 5, 3, "1Gi"))
    (tmp_path / "nodes.json").write_text(_typed_nodes(3))
    explanation = explain(problem_from(tmp_path, text))
    assert [r.text.split(" (cost")[0] for r in explanation.repairs if r.part.kind == "capacity"] == [
        "add 2 `m5.xlarge` nodes like those of `rack/m5.xlarge` to the inventory "
        "(5 `m5.xlarge` nodes in all)"]
    # true: the cluster with two more such nodes places every replica
    (tmp_path / "nodes.json").write_text(_typed_nodes(5))
    assert solved(problem_from(tmp_path, text, "grown.fit")).status == "optimal"
