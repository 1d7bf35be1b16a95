"""`fitc verify`'s findings are diagnostics: each rule's check and verify's own checks give
E0503 at the rule, or at the policy's root file where a violation has no place in it."""

from __future__ import annotations

from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlang.solve.verify import verify, verify_state

from solving import problem_from

# line 11: the `spread` of workload w
POLICY = ('pool p {\n  count = 2\n  cpu = 4\n  memory = 16Gi\n  price = 1 USD/h\n}\n'
          'workload w {\n  replicas = 3\n  cpu = 1\n  memory = 1Gi\n  spread node max_skew 1\n}\n')


def _where(found) -> list[tuple[str, str, int, int]]:
    return [(d.code, d.path, d.span.line, d.span.column) for d in found]


def test_a_broken_rule_is_an_e0503_at_the_rule(tmp_path):
    problem = problem_from(tmp_path, POLICY)
    document = {"assignments": [{"workload": "w", "replica": r, "node": "p-0"} for r in range(3)]}
    violations, problems = verify(problem, document, str(tmp_path / "p.fit"))
    # 3 replicas on p-0, none on p-1: spread 0..3 per node, over max_skew 1
    assert problems == [] and _where(violations) == [("E0503", str(tmp_path / "p.fit"), 11, 3)]
    assert violations[0].message == "`w` is spread 0..3 per node; max_skew is 1"


def test_a_violation_with_no_place_in_the_policy_points_at_the_root_file(tmp_path):
    problem = problem_from(tmp_path, POLICY)
    document = {"assignments": [{"workload": "w", "replica": r, "node": f"p-{r % 2}"}
                                for r in range(3)],
                "objective": {"name": "cost", "value": 5.0}}  # 2 nodes at 1 USD/h: 2.0
    violations, _ = verify(problem, document, "root.fit")
    assert _where(violations) == [("E0503", "root.fit", 1, 1)]
    assert violations[0].message == "the placement states cost = 5.0; its nodes give 2.0"


# ---- a state of a move, verified per node and demand (`verify_state`) -------------------------

STATE_POLICY = '''import "std/accelerators"

pool h100 {
  count = 2
  cpu = 64
  memory = 512GiB
  gpu {
    model = H100
    count = 2
  }
  price = 10 USD/h
  zone = "a"
}

pool trn {
  count = 2
  cpu = 16
  memory = 64GiB
  gpu {
    model = TRAINIUM2
    count = 4
  }
  price = 8 USD/h
  zone = "b"
}

pool std {
  count = 2
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
  zone = "b"
}

workload chat {
  cpu = 8
  memory = 64GiB
  throughput = 500
  gpu {
    option H100 {
      count = 1
      throughput = 250
    }
    option TRAINIUM2 {
      count = 2
      throughput = 150
    }
  }
}

workload web {
  replicas = 3
  cpu = 2
  memory = 4GiB
  anti_affinity self on node
  spread zone max_skew 1
}

workload db {
  replicas = 2
  cpu = 2
  memory = 8GiB
  anti_affinity web on zone
}
'''


def _file_of(problem, state, bought):
    """The placement file of a state as `fitc solve` would list it, written here (not by
    verify.py): nodes and demands in name order, replicas numbered from 0 per demand."""
    numbered: Counter = Counter()
    assignments = []
    for node in sorted(state):
        for name, amount in sorted(state[node].items()):
            demand = problem.demand(name)
            for _ in range(max(amount, 0)):
                item = {"workload": demand.workload, "replica": numbered[name], "node": node}
                if demand.group is not None:
                    item["option"] = demand.option
                assignments.append(item)
                numbered[name] += 1
    return numbered, {"assignments": assignments,
                      "nodes": [{"name": n, "provisioned": True} for n in sorted(bought)]}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_state_verified_per_node_finds_what_verify_finds_in_its_file(tmp_path, data):
    """`verify_state` reads a state per node and demand, not through a file: on random states
    (rules broken or kept, nodes the policy lacks, ruled-out classes, more replicas than asked)
    it finds the same violations, in the same order, as `verify` of the file written here."""
    import dataclasses

    problem = problem_from(tmp_path, STATE_POLICY)
    names = [d.name for d in problem.demands]
    nodes = ["h100-0", "h100-1", "trn-0", "trn-1", "std-0", "std-1", "gone-0"]
    state = {node: Counter({name: data.draw(st.integers(0, 2)) for name in names}) for node in nodes}
    counted = data.draw(st.booleans())
    numbered, document = _file_of(problem, state, set())
    read_as = problem if not counted else dataclasses.replace(problem, demands=[
        dataclasses.replace(d, replicas=numbered[d.name]) for d in problem.demands])
    expected, problems = verify(read_as, document, "root.fit")
    found = verify_state(problem, state, set(), "root.fit", counted=counted)
    assert problems == []
    assert [(d.code, d.path, d.span.line, d.span.column, d.message) for d in found] == \
        [(d.code, d.path, d.span.line, d.span.column, d.message) for d in expected]


def test_anti_affinity_self_on_zone_counts_the_replicas_of_every_option_together(tmp_path):
    from option_domains import apart_policy

    text = apart_policy()
    problem = problem_from(tmp_path, text)
    line = text.splitlines().index("  anti_affinity self on zone") + 1

    def placed(h100_node: str) -> list:
        nodes = [("H100", h100_node), ("L40S", "l40a-0"), ("L40S", "l40c-0")]
        document = {"assignments": [{"workload": "chat", "option": option, "replica": r, "node": node}
                                    for r, (option, node) in enumerate(nodes)]}
        violations, problems = verify(problem, document, str(tmp_path / "p.fit"))
        assert problems == []
        return violations

    # one replica of each option in zone a: no option has two there, the workload has
    assert [(d.code, d.span.line, d.message) for d in placed("h100a-0")] == [
        ("E0503", line, "`chat` runs 2 replicas in zone a (H100 x1, L40S x1; anti_affinity self on zone)")]
    assert placed("h100b-0") == []


def test_spread_zone_counts_the_replicas_of_every_option_together(tmp_path):
    from option_domains import spread_policy

    text = spread_policy()
    problem = problem_from(tmp_path, text)
    line = text.splitlines().index("  spread zone max_skew 1") + 1

    def placed(nodes: list[tuple[str, str]]) -> list:
        document = {"assignments": [{"workload": "chat", "option": option, "replica": r, "node": node}
                                    for r, (option, node) in enumerate(nodes)]}
        violations, problems = verify(problem, document, str(tmp_path / "p.fit"))
        assert problems == []
        return violations

    # each option alone is within skew 1 of its own zones (L40S 1 in a, 0 in c; H100 1 in a,
    # 1 in b); together a has 2, b 1 and c none
    per_option = [("L40S", "l40a-0"), ("H100", "h100a-0"), ("H100", "h100b-0")]
    assert [(d.code, d.span.line, d.message) for d in placed(per_option)] == [
        ("E0503", line, "`chat` is spread 0..2 per zone over its options; max_skew is 1")]
    assert placed([("L40S", "l40a-0"), ("H100", "h100b-0"), ("L40S", "l40c-0")]) == []


# ---- the assignments read by column, and capacity summed as arrays --------------------------

_NODES = ["h100-0", "h100-1", "trn-0", "trn-1", "std-0", "std-1", "gone-0"]


def _assignment(data, problem) -> dict:
    """An assignment, well formed or not: a known workload or not, an option or none or one
    of another workload, a replica in range or not, a node of the policy or not."""
    demand = data.draw(st.sampled_from(problem.demands))
    item = {"workload": data.draw(st.sampled_from([demand.workload, demand.workload, "nope"])),
            "replica": data.draw(st.integers(-1, demand.replicas)),
            "node": data.draw(st.sampled_from(_NODES))}
    option = data.draw(st.sampled_from([demand.option, demand.option, None, "H100", "x"]))
    if option is not None or data.draw(st.booleans()):
        item["option"] = option
    return item


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_assignments_read_by_column_are_what_the_loop_reads(tmp_path, data):
    """`read_columns` reads the assignments as `verify._read` does where it finds nothing
    wrong (the replicas per node with nodes and demands in the file's order, the pairs placed,
    the replicas placed per demand), and gives up wherever `_read` finds a violation."""
    from fitlang.solve.verify import _Owners, _read
    from fitlang.solve.verify_columns import read_columns

    problem = problem_from(tmp_path, STATE_POLICY)
    demands = {d.name: d for d in problem.demands}
    assignments = data.draw(st.lists(st.builds(lambda: _assignment(data, problem)), max_size=12))
    hosted, seen, violations = _read(demands, _Owners(problem, set()), assignments, "root.fit")
    read = read_columns(demands, _Owners(problem, set()), assignments)
    if violations:
        assert read is None
        return
    assert read is not None
    assert read[0] == hosted and list(read[0]) == list(hosted)
    assert all(list(read[0][node]) == list(hosted[node]) for node in hosted)
    assert read[1] == seen and read[2] == Counter(name for name, _ in seen)


def test_a_placement_that_reads_cleanly_is_not_read_one_assignment_at_a_time(tmp_path, monkeypatch):
    """The loop reads a placement only to word what reading it finds wrong."""
    from fitlang.solve import verify as verifying

    problem = problem_from(tmp_path, POLICY)
    document = {"assignments": [{"workload": "w", "replica": r, "node": f"p-{r % 2}"}
                                for r in range(3)]}
    monkeypatch.setattr(verifying, "_read", None)  # (called, it would raise)
    assert verify(problem, document, "root.fit") == ([], [])
    document["assignments"].append({"workload": "w", "replica": 9, "node": "p-1"})
    monkeypatch.undo()
    violations, _ = verify(problem, document, "root.fit")
    assert [d.message for d in violations] == ["`w` replica 9 is placed twice or does not exist "
                                               "(replicas = 3)"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_capacity_words_exactly_the_nodes_whose_replicas_do_not_fit(tmp_path, data):
    """`capacity.check` sums every node's requests at once and words only the nodes over: on
    random states those are the nodes whose sums, per node, exceed what they have."""
    from fitlang.rules import capacity
    from fitlang.rules.base import Placed
    from fitlang.solve.verify import _Owners

    problem = problem_from(tmp_path, STATE_POLICY)
    names = [d.name for d in problem.demands]
    demands = {d.name: d for d in problem.demands}
    state = {node: Counter({name: data.draw(st.integers(0, 3)) for name in names})
             for node in _NODES[:-1]}
    owner = _Owners(problem, set())
    placed = Placed(problem, owner, demands, state, {}, set(), Counter(), {}, set(), {})
    over = {node for node, counts in state.items()
            if any(sum(demands[name].requests[r] * n for name, n in counts.items())
                   > owner[node].capacity_of(node)[r] for r in capacity.RESOURCES)}
    assert set(capacity._perhaps_over(placed)) == over
    assert {d.message.split("`")[1] for d in capacity.check(placed)} == over


def test_capacity_sums_every_node_at_once_where_only_the_fleet_total_is_large(tmp_path):
    """int64 holds each node's sums where a node's large disk times every replica placed
    would not (the accelerator-heavy fleets: 30 TB of disk, 147,787 replicas): the nodes
    are still summed at once, and only the node over is handed to the loop."""
    from fitlang.rules import capacity
    from fitlang.rules.base import Placed
    from fitlang.solve.verify import _Owners

    text = ('pool big {\n  count = 40\n  cpu = 64\n  memory = 512GiB\n  disk = 30TB\n'
            '  price = 1 USD/h\n}\n'
            'workload w {\n  replicas = 200000\n  cpu = 0.001\n  memory = 1Mi\n}\n')
    problem = problem_from(tmp_path, text)
    demands = {d.name: d for d in problem.demands}
    state = {f"big-{i}": Counter({"w": 4000}) for i in range(40)}
    state["big-7"]["w"] = 70000  # 70 CPU on a node of 64
    placed = Placed(problem, _Owners(problem, set()), demands, state, {}, set(), Counter(), {},
                    set(), {})
    assert list(capacity._perhaps_over(placed)) == ["big-7"]
    assert [d.message.split("`")[1] for d in capacity.check(placed)] == ["big-7"]


def test_a_placement_read_by_column_counts_each_workload_s_replicas_not_its_pairs(tmp_path,
                                                                                   monkeypatch):
    """Read by column, each replica is in range and placed once, so `replicas.check` counts
    them; the pairs placed are made only to word a workload that lacks some."""
    import pytest

    from fitlang.rules import base

    problem = problem_from(tmp_path, POLICY)
    document = {"assignments": [{"workload": "w", "replica": r, "node": f"p-{r % 2}"}
                                for r in range(3)]}
    monkeypatch.setattr(base.PairsPlaced, "pairs", property(lambda _: pytest.fail("pairs made")))
    assert verify(problem, document, "root.fit") == ([], [])
    monkeypatch.undo()
    del document["assignments"][1]
    violations, _ = verify(problem, document, "root.fit")
    assert [d.message for d in violations if "neither" in d.message] == [
        "`w` has 1 of 3 replicas neither placed nor listed as unplaced (replica 1)"]


def test_verify_reads_a_placement_without_numpys_masked_arrays(tmp_path):
    """`fitc verify` of a placement never imports `numpy.ma` (which `np.unique` imports to ask
    whether an array is masked: 8-10 ms CPU of a run), and accepts it."""
    import subprocess
    import sys

    from conftest import EXAMPLES, ROOT

    policy, placement = str(EXAMPLES / "onprem-burst.fit"), tmp_path / "placement.json"
    fitc = [sys.executable, "-X", "importtime", "-m", "fitlang.cli"]
    placement.write_text(subprocess.run([*fitc, "solve", policy, "--format", "json"], capture_output=True,
                                        text=True, cwd=ROOT, check=True).stdout)
    verified = subprocess.run([*fitc, "verify", policy, str(placement)], capture_output=True, text=True,
                              cwd=ROOT)
    imported = [line.split("|")[-1].strip() for line in verified.stderr.splitlines()]
    assert verified.returncode == 0 and "numpy" in imported and "numpy.ma" not in imported


# ---- multi-host TPU slices (`rules/tpu_slices.py`) ---------------------------------------------

@pytest.mark.parametrize("nodes, said", [
    # a gang of two 4-chip replicas on one host of each of two `2x4` slices: each slice's other
    # host never comes, and the pods wait (the solver's own answer at session 58, accepted)
    ({"train": ["a-0", "b-0"]}, ["`train` runs 1 replica on 1 of the 2 hosts of multi-host TPU slice `a`",
                                 "`train` runs 1 replica on 1 of the 2 hosts of multi-host TPU slice `b`"]),
    ({"train": ["a-0", "a-1"]}, []),  # the whole slice, one replica a host
    ({"train": ["a-0", "a-1"], "one": ["b-1"]},
     ["`one` may not run on `b-1`: replicas = 1 (nodes of `gke/b` are the 2 hosts of multi-host TPU slice",
      "`one` runs 1 replica on 1 of the 2 hosts of multi-host TPU slice `b` (b-1)"]),
])
def test_a_workload_on_part_of_a_multi_host_tpu_slice_is_refused(tmp_path, nodes, said):
    from gke_slices import inventory, slice_hosts, tpu_workload, write_nodes

    write_nodes(tmp_path / "nodes.json", slice_hosts("a", "2x4") + slice_hosts("b", "2x4"))
    problem = problem_from(tmp_path, inventory() + tpu_workload("train", 2, gang=True)
                           + tpu_workload("one", 1))
    document = {"assignments": [{"workload": name, "replica": replica, "node": node}
                                for name, placed in nodes.items() for replica, node in enumerate(placed)],
                "unplaced": [] if "one" in nodes else [{"workload": "one", "replica": 0}]}
    violations, problems = verify(problem, document, str(tmp_path / "p.fit"))
    assert problems == []
    found = [v.message for v in violations if "slice" in v.message]
    assert len(found) == len(said) and all(m.startswith(s) for m, s in zip(found, said)), found
