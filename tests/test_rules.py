"""The rule registry (fitlang/rules): its order and contract, and that a rule registered there
is picked up by build, the W01xx warnings and `fitc verify` with no other edit."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytest

from fitlang import rules
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Exclusion
from fitlang.rules.base import GroupKey, PartKind, Rows, Rule, Stated, Unsatisfiable

from solving import problem_from


def pool(name, count, cpu, memory, price=1, extra=""):
    return (f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = {memory}\n"
            f"  price = {price} USD/h\n{extra}}}\n")


def workload(name, replicas, cpu, memory, extra=""):
    return f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = {memory}\n{extra}}}\n"


def test_the_registry_lists_every_rule_once_in_order():
    # the order of a class's reasons (the first is the one verify and W0103 show), then the
    # rules that only check a placement, in the order of verify's violations
    assert [rule.name for rule in rules.RULES] == [
        "dedicated", "taints", "labels", "arch", "residency", "zones", "regions", "gpu",
        "require", "capacity", "tpu_slices", "exclusive", "gang", "spread", "affinity", "latency",
        "replicas", "options", "budget", "power", "buy_limits", "moves"]


def test_every_rule_is_checked_by_verify():
    """A rule that places replicas has its own `check`; a rule that rules classes out (`why`)
    is checked by verify's pass over the assignments (no replica on a class any rule rules
    out). Each rule that rules classes out for all classes at once says why for one class."""
    for rule in rules.RULES:
        # (the move rule asks nothing of a placement: it prices moves from a current state,
        # and each wave of a plan is checked by verify against the other rules)
        assert rule.check is not None or rule.why is not None or rule.name == "moves", rule.name
        assert (rule.excludes is None) == (rule.why is None), rule.name
        assert rule.reads is None or rule.excludes is not None, rule.name
        assert rule.part_kind is None or rule.reason is not None, rule.name


def test_every_kind_of_part_is_one_rules():
    """Explain asks the rule whose parts are of a kind for their sentence and repair: each
    kind but RULE (an exclusion, whose rule `Exclusion.source` names) is one rule's."""
    kinds = [rule.part_kind for rule in rules.RULES if rule.part_kind is not None]
    assert sorted(kinds) == sorted(k for k in PartKind if k is not PartKind.RULE)


def test_reasons_come_in_the_registry_order(tmp_path):
    """Worked out by hand: pool `p` is dedicated, labelled bronze, in zone b, with 4 cores;
    `w` tolerates nothing, wants gold, zone a and 8 cores: four rules rule `p` out, in the
    registry's order. `q` (1 core) is too small for `w` too, but a replica's size is a last
    resort: the `require` is its reason; for `v`, which asks for nothing else, the size is."""
    problem = problem_from(tmp_path, (
        pool("p", 1, 4, "8Gi", 1, '  zone = "b"\n  dedicated = "ml"\n  labels = { tier: "bronze" }\n')
        + pool("q", 1, 1, "8Gi", 1, '  zone = "a"\n  labels = { tier: "gold" }\n')
        + workload("w", 1, 2, "1Gi", '  labels = { tier: "gold" }\n  zones = ["a"]\n'
                   "  require cpu >= 8\n")
        + workload("v", 1, 2, "1Gi", '  tolerate = ["ml"]\n')))
    demand = problem.demand("w")
    assert [e.rule for e in demand.failing["p"]] == [
        'dedicated = "ml"', 'labels["tier"] == "gold"', "zones", "cpu >= 8"]
    assert [e.rule for e in demand.failing["q"]] == ["cpu >= 8"]
    assert demand.eligible == []
    other = problem.demand("v")
    assert [(c, [e.rule for e in reasons]) for c, reasons in other.failing.items()] == \
        [("q", ["resources"])]
    assert other.eligible == ["p"]


def test_an_exclusion_says_what_it_is_in_typed_fields(tmp_path):
    """Worked out by hand: on pool `p` (dedicated, bronze, zone b, no GPUs, 4 cores) `w` is
    kept off by `dedicated`, `labels`, `zones` (rules the user may drop) and by its GPUs (a
    fact about the node); its second spread, over `rack`, has no domain on `p` (its index:
    1). `v` (16 cores) is too big for `p`: a fact. The text is for display only."""
    problem = problem_from(tmp_path, (
        pool("p", 1, 4, "8Gi", 1, '  zone = "b"\n  dedicated = "ml"\n  labels = { tier: "bronze" }\n')
        + workload("w", 1, 2, "1Gi", '  labels = { tier: "gold" }\n  zones = ["a"]\n'
                   "  spread zone max_skew 1\n  spread \"rack\" max_skew 1\n"
                   "  gpu {\n    count = 1\n  }\n")
        + workload("v", 1, 16, "1Gi", '  tolerate = ["ml"]\n')))
    assert [(e.source, e.fact, e.index) for e in problem.demand("w").failing["p"]] == [
        ("dedicated", False, None), ("labels", False, None), ("zones", False, None),
        ("gpu", True, None), ("spread", False, 1)]
    assert [(e.source, e.fact, e.index) for e in problem.demand("v").failing["p"]] == [
        ("capacity", True, None)]
    names = {rule.name for rule in rules.RULES}
    assert all(e.source in names for d in problem.demands for reasons in d.failing.values()
               for e in reasons)


# ---- a toy rule, registered by a test only -------------------------------------------------


def _toy_reads(workload) -> tuple:
    return ()


def _toy_excludes(workload, facets) -> np.ndarray:
    return ~facets.passing("toy", lambda c: c.pool, lambda c: c.pool != "forbidden")


def _toy_why(workload, node_class) -> Iterator[Exclusion]:
    if node_class.pool == "forbidden":
        yield Exclusion("toy", workload.origin, "the pool is forbidden", source="toy")


def _toy_warnings(workload, fleet) -> Iterator[Unsatisfiable]:
    if all(c.pool == "forbidden" for c in fleet.classes):
        yield Unsatisfiable(workload.origin, "toy", "; every pool is forbidden")


def _toy_check(placed) -> Iterator[Diagnostic]:
    for node, counts in sorted(placed.hosted.items()):
        if placed.owner[node].pool == "forbidden" and any(counts.values()):
            yield placed.violation(f"toy: `{node}` hosts a replica", None)


TOY = Rule("toy", reads=_toy_reads, excludes=_toy_excludes, why=_toy_why,
           warnings=_toy_warnings, check=_toy_check)


@pytest.fixture
def toy(monkeypatch):
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, TOY))


TEXT = pool("ok", 2, 4, "8Gi") + pool("forbidden", 2, 4, "8Gi") + workload("w", 1, 1, "1Gi")


def test_without_the_toy_rule_both_pools_may_be_used(tmp_path):
    demand = problem_from(tmp_path, TEXT).demand("w")
    assert demand.eligible == ["ok", "forbidden"] and dict(demand.failing) == {}


def test_build_asks_a_registered_rule(tmp_path, toy):
    demand = problem_from(tmp_path, TEXT).demand("w")
    assert demand.eligible == ["ok"]
    assert {c: [(e.rule, e.detail) for e in reasons] for c, reasons in demand.failing.items()} == \
        {"forbidden": [("toy", "the pool is forbidden")]}


def test_the_warnings_ask_a_registered_rule(tmp_path, toy):
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.model.rule_warnings import rule_warnings

    path = tmp_path / "p.fit"
    path.write_text(pool("forbidden", 2, 4, "8Gi") + workload("w", 1, 1, "1Gi"))
    program = check_file(path, Workspace()).program
    found = rule_warnings(program, build_problem(program).problem)
    w = program.workloads["w"].origin
    assert sorted((d.code, d.span.line) for d in found) == sorted(
        [("W0101", w.span.line), ("W0103", 1)])  # W0103: the pool, which `toy` rules out


@pytest.mark.parametrize("spread, owned, detail", [
    # found as a user (session 55): `spread zone` over a fleet all bought checked clean, and
    # `solve` said only that the spread and the replicas conflict
    ("zone", "", "; no node has a zone; a node bought has a region and no zone"),
    ('"example.com/rack"', "", "; no node has the label `example.com/rack`"),
    ("zone", 'pool p {\n  count = 2\n  cpu = 4\n  memory = 8Gi\n  zone = "us-east-1a"\n}\n', None),
    ("region", "", None),  # a node bought has a region
    ("node", "", None),
])
def test_a_spread_over_a_topology_no_node_has_is_w0101(tmp_path, spread, owned, detail):
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.model.rule_warnings import rule_warnings

    path = tmp_path / "p.fit"
    path.write_text(owned + 'offer m {\n  provider = aws\n  instance_type = "m7i.xlarge"\n'
                    '  regions = ["us-east-1"]\n  cpu = 4\n  memory = 16GiB\n  price = 0.2 USD/h\n}\n'
                    "buy {\n}\n" + workload("w", 2, 1, "1Gi", f"  spread {spread} max_skew 1\n"))
    program = check_file(path, Workspace()).program
    found = [d for d in rule_warnings(program, build_problem(program).problem) if d.code == "W0101"]
    if detail is None:
        assert found == []
        return
    [warning] = found
    assert warning.message == f"no node satisfies `spread {spread}`{detail}"
    assert path.read_text().splitlines()[warning.span.line - 1].strip().startswith("spread ")


_EU_POOL = 'pool p {\n  count = 2\n  cpu = 4\n  memory = 8Gi\n  region = "eu-west-1"\n}\n'


@pytest.mark.parametrize("owned, spread, replicas, said", [
    # h55g: every replica bought in one region met `spread region`, and nothing said so
    ("", "spread region max_skew 1", 4, "it has no declared nodes"),
    (_EU_POOL, "spread region max_skew 1", 4, "its declared nodes are all in region eu-west-1"),
    ("", "spread region max_skew 1 min_domains 2", 4, None),  # more domains asked for
    ("", "spread region max_skew 4", 4, None),  # one region holding all is within the skew
    (_EU_POOL + _EU_POOL.replace("pool p", "pool q").replace("eu-west-1", "eu-central-1"),
     "spread region max_skew 1", 4, None),  # declared nodes in two regions: spread over them
    ("", "spread node max_skew 1", 4, None),
])
def test_a_spread_buying_in_one_region_meets_is_w0107(tmp_path, owned, spread, replicas, said):
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.model.rule_warnings import rule_warnings

    path = tmp_path / "p.fit"
    path.write_text(owned + 'offer m {\n  provider = aws\n  instance_type = "m7i.xlarge"\n'
                    '  regions = ["us-east-1", "eu-central-1"]\n  cpu = 4\n  memory = 16GiB\n'
                    '  price = 0.2 USD/h\n}\nbuy {\n}\n' + workload("w", replicas, 1, "1Gi", f"  {spread}\n"))
    program = check_file(path, Workspace()).program
    found = [d for d in rule_warnings(program, build_problem(program).problem) if d.code == "W0107"]
    if said is None:
        assert found == []
        return
    [warning] = found
    assert warning.message == (f"`spread region` of `w` is met in one region: {said}, and a region of "
                               "the offers it may buy (us-east-1, eu-central-1) counts only where a node is "
                               "bought, "
                               "so every replica in one region meets it")
    assert path.read_text().splitlines()[warning.span.line - 1].strip() == spread


def test_verify_asks_a_registered_rule(tmp_path, toy):
    from fitlang.solve.verify import verify

    problem = problem_from(tmp_path, TEXT)
    document = {"assignments": [{"workload": "w", "replica": 0, "node": "forbidden-1"}]}
    violations, problems = verify(problem, document)
    assert problems == []
    assert [v.message for v in violations] == [
        "`w` may not run on `forbidden-1`: toy (the pool is forbidden)",
        "toy: `forbidden-1` hosts a replica"]
    document["assignments"][0]["node"] = "ok-1"
    assert verify(problem, document) == ([], [])


def test_verify_and_the_rules_do_not_load_the_encoding():
    """verify is there to catch a wrong encoding: neither it nor a rule module may load it
    (a fresh interpreter, so that other tests' imports do not count). Of `fitlang.solve`, only
    verify and its reader by column (`verify_columns`, numpy over the assignments) load."""
    import subprocess
    import sys

    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, fitlang.solve.verify, fitlang.model.build, "
         "fitlang.model.rule_warnings; print(' '.join(sorted(sys.modules)))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert "fitlang.solve.verify" in loaded and "fitlang.rules.spread" in loaded
    assert [m for m in loaded if m.startswith(("fitlang.solve.", "fitlang.targets"))] == \
        ["fitlang.solve.verify", "fitlang.solve.verify_columns"]


# ---- rows of the linear model (`Rule.rows`) ------------------------------------------------

# the key of each rule's rows, as the rule's module defines it (an option group's gang rows
# carry a GangGroup named after the option group's workload, and are the options rule's)
ROW_KEYS = {"capacity": "CapacityGroup", "exclusive": "ExclusiveGroup", "gang": "GangGroup",
            "spread": "SpreadGroup", "affinity": "AffinityGroup", "latency": "LatencyGroup",
            "replicas": "ReplicasGroup", "options": "ThroughputGroup", "budget": "BudgetGroup",
            "power": "PowerGroup", "buy_limits": "BuyGroup", "moves": "StayGroup"}
# the examples run nothing now: the move rule's rows are made only with a current state
# (tests/test_plan.py)
IN_EXAMPLES = [name for name in ROW_KEYS if name != "moves"]


def test_the_rules_with_rows_of_the_linear_model():
    from fitlang.rules.base import Rows

    with_rows = [rule for rule in rules.RULES if rule.rows is not None]
    assert [rule.name for rule in with_rows] == list(ROW_KEYS)
    for rule in with_rows:
        assert isinstance(rule.rows, Rows)
        hooks = (rule.rows.columns, rule.rows.placed, rule.rows.fleet, rule.rows.per_class,
                 rule.rows.limits, rule.rows.relations)
        assert any(hook is not None for hook in hooks), rule.name
    assert [rule.name for rule in rules.RULES if rule.packing is not None] == \
        ["exclusive", "gang", "spread", "affinity", "latency"]


def _rule_of_row(group, problem) -> str | None:
    """Which rule a row comes from, read from its key alone (None: the frame's, or no key)."""
    if group is None or type(group).__name__ == "EligibleGroup":
        return None
    if type(group).__name__ == "GangGroup" and group.name in {g.workload for g in problem.option_groups}:
        return "options"
    return {key: name for name, key in ROW_KEYS.items()}[type(group).__name__]


def _rows_per_rule(problem, must_place: bool):
    from collections import Counter

    from fitlang.solve.encode import encode

    model = encode(problem, must_place=must_place).model
    return Counter(_rule_of_row(row.group, problem) for row in model.constraints)


@pytest.mark.parametrize("name", IN_EXAMPLES)
def test_encode_names_no_rule_a_registry_without_one_makes_none_of_its_rows(name, monkeypatch):
    """Over the examples: with every rule, some example has rows of `name`; with `name` taken
    out of the registry, no example has any, and every other rule has the rows it had."""
    from pathlib import Path

    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem

    examples = sorted((Path(__file__).parent.parent / "examples").glob("*.fit"))
    problems = [build_problem(check_file(path).program).problem for path in examples]
    cases = [(problem, must_place) for problem in problems for must_place in (True, False)]
    before = [_rows_per_rule(problem, must_place) for problem, must_place in cases]
    assert any(counts[name] for counts in before)
    monkeypatch.setattr(rules, "RULES", tuple(r for r in rules.RULES if r.name != name))
    after = [_rows_per_rule(problem, must_place) for problem, must_place in cases]
    for was, now in zip(before, after):
        assert now[name] == 0
        assert {k: v for k, v in now.items() if k is not None} == \
            {k: v for k, v in was.items() if k not in (name, None) and v}


@dataclass(frozen=True)
class ToyGroup(GroupKey):  # open: no edit of solve/groups.py
    class_id: str


def _toy_at_most_one_here(encoding, node_class) -> None:
    """The toy rule's rows: at most one replica of `w` on each class."""
    if ("w", node_class.id) in encoding.y:
        encoding.model.add({encoding.y["w", node_class.id]: 1}, upper=1, group=ToyGroup(node_class.id))


def test_a_registered_rule_adds_its_rows_and_the_solve_keeps_them(tmp_path, monkeypatch):
    """Worked out by hand: `w`, 2 replicas of 1 CPU, fits on one 4-CPU node of `p` (1 USD/h
    each): 1 USD/h. A toy rule registered with rows only (at most one replica of `w` per
    class; small fleets are solved with a class per node) needs two nodes: 2 USD/h."""
    from fitlang.rules.base import Rows
    from fitlang.solve.encode import encode
    from fitlang.solve.placement import solve

    problem = problem_from(tmp_path, pool("p", 2, 4, "8Gi", 1) + workload("w", 2, 1, "1Gi"))
    alone = solve(problem)
    assert alone.value == 1 and len({a.node for a in alone.assignments}) == 1
    toy_rows = Rule("toy_rows", rows=Rows(per_class=_toy_at_most_one_here))
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, toy_rows))
    rows = [row for row in encode(problem).model.constraints if row.group == ToyGroup("p")]
    assert len(rows) == 1 and rows[0].upper == 1 and list(rows[0].terms.values()) == [1]
    apart = solve(problem)
    assert apart.value == 2
    assert sorted(a.node for a in apart.assignments) == ["p-0", "p-1"]


def test_a_registered_rules_group_key_is_a_group_z3_reads_back(tmp_path, monkeypatch):
    """By hand: `w`, 2 replicas of 1 CPU, one 4-CPU node: fits. The toy rule (at most one
    replica of `w` on the pool) makes it infeasible; the Z3 core names the toy rule's key,
    a `GroupKey` that solve/groups.py does not list."""
    from fitlang.solve.backends import Z3Backend
    from fitlang.solve.encode import encode
    from fitlang.solve.groups import Group

    problem = problem_from(tmp_path, pool("p", 1, 4, "8Gi") + workload("w", 2, 1, "1Gi"))
    assert Z3Backend().unsat_core(encode(problem).model, 30) is None
    toy_rows = Rule("toy_rows", rows=Rows(per_class=_toy_at_most_one_here))
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, toy_rows))
    core = Z3Backend().unsat_core(encode(problem).model, 30)
    assert core is not None and ToyGroup("p") in core
    assert all(isinstance(group, Group) for group in core)


def _three_pools(tmp_path):
    """`w`, 3 replicas of 1 CPU, may use pools x, y, z (2 nodes of 4 CPU each)."""
    return problem_from(tmp_path, pool("x", 2, 4, "8Gi", 1) + pool("y", 2, 4, "8Gi", 2)
                        + pool("z", 2, 4, "8Gi", 3) + workload("w", 3, 1, "1Gi"))


def _integer(encoding, demand):
    integer = encoding.model.bounds()[2]
    return [integer[column] for column in encoding.y.of[demand].values()]


def test_a_registered_rule_keeps_counts_whole_and_groups_their_rounding(tmp_path, monkeypatch):
    """`Rows.keeps_whole` and `Rows.rounding`, by hand. Relaxed, `w`'s counts are fractional;
    a toy rule that needs them whole keeps them so. Rounding y = (0.7, 0.7, 1.6) on x, y, z
    (total 3) by largest remainders gives (1, 1, 1); a toy rule grouping {x, y} and {z} rounds
    the group totals first (1.4 -> 1, 1.6 -> 2), then within {x, y} (x first): (1, 0, 2)."""
    from fitlang.rules.base import Rounding, Rows
    from fitlang.solve.encode import encode

    problem = _three_pools(tmp_path)
    relaxed = encode(problem)
    relaxed.relax_replicas()
    assert _integer(relaxed, "w") == [False, False, False]
    solution = [0.0] * relaxed.model.variable_count
    for class_id, value in (("x", 0.7), ("y", 0.7), ("z", 1.6)):
        solution[relaxed.y["w", class_id]] = value
    assert relaxed.whole_counts(solution) == {("w", "x"): 1, ("w", "y"): 1, ("w", "z"): 1}

    whole = Rule("toy_whole", rows=Rows(keeps_whole=lambda encoding, demand: demand.name == "w"))
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, whole))
    kept = encode(problem)
    kept.relax_replicas()
    assert _integer(kept, "w") == [True, True, True]

    grouped = Rule("toy_groups", rows=Rows(
        rounding=lambda encoding, demand: Rounding({"xy": ["x", "y"], "z": ["z"]})))
    monkeypatch.setattr(rules, "RULES", (*rules.RULES[:-1], grouped))
    rounded = encode(problem)
    rounded.relax_replicas()
    assert _integer(rounded, "w") == [False, False, False]
    assert rounded.whole_counts(solution) == {("w", "x"): 1, ("w", "z"): 2}
    # two rules grouping the same demand's classes: rounding cannot keep both, counts stay whole
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, grouped))
    twice = encode(problem)
    twice.relax_replicas()
    assert _integer(twice, "w") == [True, True, True]


@dataclass(frozen=True)
class ToyColumn:
    demand: str


def _toy_column(encoding, made) -> None:
    encoding.column(ToyColumn(made.demand.name), f"toy[{made.demand.name}]", 0, 1)


def _toy_start(encoding, demand, mine, opened, values) -> None:
    """The toy column starts at 1 where the placement uses pool y."""
    values[encoding.index[ToyColumn(demand.name)]] = int(mine.get("y", 0) > 0)


def test_a_registered_rule_gives_its_columns_start_values(tmp_path, monkeypatch):
    """`Rows.start`: a toy rule's column (found by its typed key in `Encoding.index`) gets the
    value its hook works out from the packing: 2 replicas on y, 1 on z -> 1."""
    from fitlang.rules.base import Rows
    from fitlang.solve.encode import encode
    from fitlang.solve.pack import pack

    problem = _three_pools(tmp_path)
    toy = Rule("toy_start", rows=Rows(columns=_toy_column, start=_toy_start))
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, toy))
    encoding = encode(problem)
    packing = pack(problem, {("w", "y"): 2, ("w", "z"): 1}, {"y": 1, "z": 1})
    assert packing.complete
    values = encoding.start_values(packing)
    column = encoding.index[ToyColumn("w")]
    assert encoding.model.name_of(column) == "toy[w]" and values[column] == 1
    assert values[encoding.y["w", "y"]] == 2 and values[encoding.placed["w"]] == 3


# ---- per-node packing (`Rule.packing`) -----------------------------------------------------


def test_a_registered_rule_keeps_workloads_apart_in_packing(tmp_path, monkeypatch):
    """Worked out by hand: `a` and `b`, one 1-CPU replica each, sent to pool `p` with one
    node planned, share that node. A toy rule that keeps them apart on nodes leaves one of
    them short; one that wants `a` alone on its node does too."""
    from fitlang.rules.base import OnNodes
    from fitlang.solve.pack import pack

    problem = problem_from(tmp_path, pool("p", 2, 4, "8Gi") + workload("a", 1, 1, "1Gi")
                           + workload("b", 1, 1, "1Gi"))
    counts, planned = {("a", "p"): 1, ("b", "p"): 1}, {"p": 1}
    shared = pack(problem, counts, planned)
    assert shared.complete and [n.hosted for n in shared.nodes["p"]] == [{"a": 1, "b": 1}]
    for hook in (OnNodes(apart=lambda problem: [("b", "a")]), OnNodes(alone=lambda problem: ["a"])):
        monkeypatch.setattr(rules, "RULES", (*rules.RULES, Rule("toy_nodes", packing=hook)))
        fresh = problem_from(tmp_path, pool("p", 2, 4, "8Gi") + workload("a", 1, 1, "1Gi")
                             + workload("b", 1, 1, "1Gi"))  # the packers' cache is per problem
        apart = pack(fresh, counts, planned)
        assert sum(apart.short.values()) == 1 and len(apart.nodes["p"]) == 1
        assert sum(sum(n.hosted.values()) for n in apart.nodes["p"]) == 1


def test_a_registered_rule_says_which_classes_a_replica_may_move_to(tmp_path, monkeypatch):
    """`equivalents` by hand: `w` may use pools `x` (1 USD/h) and `y` (2 USD/h), both
    labelled; with no rule counting anything, both, cheapest first; a toy rule that counts
    per pool leaves only the pool the replica was sent to."""
    from fitlang.rules.base import OnNodes
    from fitlang.solve.pack import equivalents

    problem = problem_from(tmp_path, pool("y", 1, 4, "8Gi", 2) + pool("x", 1, 4, "8Gi", 1)
                           + workload("w", 1, 1, "1Gi"))
    demand, origin = problem.demand("w"), problem.node_class("y")
    assert [c.id for c in equivalents(problem, demand, origin)] == ["x", "y"]
    same = OnNodes(same=lambda problem, demand: lambda node_class: node_class.pool)
    monkeypatch.setattr(rules, "RULES", (*rules.RULES, Rule("toy_pools", packing=same)))
    assert [c.id for c in equivalents(problem, demand, origin)] == ["y"]


# ---- the toy rule in an explanation: its own sentence and its own repair --------------------


def _toy_reason(problem, part) -> Stated:
    return Stated(f"`{part.subject}` may not run on pool `forbidden` (toy)", None)


def _toy_repairs(problem, part, deadline):
    from fitlang.solve.explain import search

    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    return search.Repair(part, f"let `{part.subject}` run on pool `forbidden` (toy)", None,
                         "toy", None, check.cost)


EXPLAINED_TOY = dataclasses.replace(TOY, reason=_toy_reason, repairs=_toy_repairs)


def test_explain_asks_a_registered_rule_for_its_reason_and_repair(tmp_path, capsys, monkeypatch):
    """One pool of 1 node takes 1 of 2 replicas (4 CPU each); the toy rule keeps `w` off the
    other pool: the conflict is the pool's count, the toy rule, the replicas, and the toy rule
    says itself and its repair (worked out by hand: without it, the 2 replicas fit, 1 on
    `ok` and 1 on `forbidden` at 1 USD/h each)."""
    from fitlang.cli import main

    monkeypatch.setattr(rules, "RULES", (*rules.RULES, EXPLAINED_TOY))
    (tmp_path / "p.fit").write_text(pool("ok", 1, 4, "8Gi") + pool("forbidden", 1, 4, "8Gi")
                                    + workload("w", 2, 4, "1Gi"))
    assert main(["explain", str(tmp_path / "p.fit"), "--format", "json"]) == 1
    document = json.loads(capsys.readouterr().out)
    assert [(c["rule"], c["subject"], c["text"]) for c in document["conflict"]] == [
        ("capacity", "ok", "pool `ok` has 1 node of 4 CPU, 8 GiB"),
        ("rule", "w", "`w` may not run on pool `forbidden` (toy)"),
        ("replicas", "w", "workload `w` needs 2 replicas, each 4 CPU + 1 GiB")]
    toy = [r for r in document["repairs"] if r["rule"] == "rule"]
    assert [(r["subject"], r["text"], r["from"], r["checked_cost"]) for r in toy] == [
        ("w", "let `w` run on pool `forbidden` (toy)", "toy", 2.0)]


def test_explain_says_an_exclusion_of_a_rule_without_hooks_by_the_pools_it_rules_out(
        tmp_path, toy):
    """The toy rule without `reason` and `repairs`: explain's default sentence (the pools
    it keeps the workload off) and repair (the rule dropped)."""
    from fitlang.solve.explain import Part, PartKind, explain

    problem = problem_from(tmp_path, pool("ok", 1, 4, "8Gi") + pool("forbidden", 1, 4, "8Gi")
                           + workload("w", 2, 4, "1Gi"))
    explanation = explain(problem)
    part = Part(PartKind.RULE, "w", "toy", rule="toy")
    assert [r.part for r in explanation.reasons] == [
        Part(PartKind.CAPACITY, "ok"), part, Part(PartKind.REPLICAS, "w")]
    assert [r.text for r in explanation.reasons if r.part == part] == [
        "`w` has `toy`, which rules out pool `forbidden`"]
    assert [(r.text, r.cost) for r in explanation.repairs if r.part == part] == [
        ("drop `toy` (line 13) so that `w` may also run on pool `forbidden`", 2)]  # pools: 6 lines each


_TPU_AND_GPU = ('import "std/accelerators"\n'
                + pool("tpus", 1, 8, "32Gi", 1, "  gpu {\n    model = TPU_V5E\n    count = 4\n  }\n")
                + pool("gpus", 1, 8, "32Gi", 3, "  gpu {\n    model = L4\n    count = 1\n  }\n"))


@pytest.mark.parametrize(("gpu", "pool_name"), [
    ("count = 1", "gpus"),
    ("count = 1\n    require memory >= 16GB", "gpus"),
    ("count = 1\n    require family == tpu", "tpus"),
    ("count = 1\n    require vendor == google", "tpus"),
    ("count = 1\n    require not (family != tpu)", "tpus"),
    ("count = 1\n    model = TPU_V5E", "tpus"),
])
def test_a_gpu_block_naming_no_kind_of_device_asks_for_gpus(tmp_path, gpu, pool_name):
    # session 54 (h54h): `gpu { count = 1 }` over std/gcp ran on a TPU host, the cheaper one
    # here; a block naming the model, vendor or family chooses the kind itself
    from fitlang.solve.placement import solve
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    text = _TPU_AND_GPU + workload("w", 1, 1, "1Gi", f"  gpu {{\n    {gpu}\n  }}\n")
    problem = problem_from(tmp_path, text)
    answer = solve(problem)
    assert [a.node.rsplit("-", 1)[0] for a in answer.assignments] == [pool_name]
    assert verify(problem, json.loads(as_json(problem, answer, []))) == ([], [])
    on_the_tpu = {"assignments": [{"workload": "w", "replica": 0, "node": "tpus-0"}]}
    assert (verify(problem, on_the_tpu)[0] == []) == (pool_name == "tpus")


@pytest.mark.parametrize("cpu, extra, codes, named", [
    # found as a user (session 57): `require arch == arm64` beside the default `arch = [amd64]`
    # ruled out every node, each rule some of them; `fitc check` said nothing, `solve` failed
    (2, "  require arch == arm64\n", ["W0106"],
     "`x86`: arch == arm64; `graviton`: arch = [amd64] (the default); `gpu`: dedicated = \"ml\""),
    # too large for the only nodes its rules leave it
    (64, "  arch = [arm64]\n", ["W0106"],
     "`x86`: arch = [arm64]; `graviton`: a node has less cpu than one replica needs; "
     "`gpu`: dedicated = \"ml\""),
    # one rule rules out every node: W0101 names it, and W0106 says nothing more
    (2, '  require zone == "nowhere"\n', ["W0101"], None),
    (2, "  arch = [arm64]\n", [], None),
])
def test_a_workload_no_node_may_take_is_w0106_at_its_replicas(tmp_path, cpu, extra, codes, named):
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.model.rule_warnings import rule_warnings

    text = (pool("x86", 2, 16, "64Gi") + pool("graviton", 2, 16, "64Gi", extra="  arch = arm64\n")
            + pool("gpu", 1, 16, "64Gi", extra='  dedicated = "ml"\n')
            + workload("embed", 2, cpu, "4Gi", extra))
    path = tmp_path / "p.fit"
    path.write_text(text)
    checked = check_file(path, Workspace())
    assert not checked.has_errors, checked.diagnostics
    found = rule_warnings(checked.program, build_problem(checked.program).problem)
    assert sorted(d.code for d in found if d.code != "W0103") == codes  # (the pools it leaves unused)
    if named is not None:
        [warning] = [d for d in found if d.code == "W0106"]
        assert warning.message == f"workload `embed` runs on no node: {named}"
        assert text.splitlines()[warning.span.line - 1].strip() == "replicas = 2"


def test_w0106_says_each_reason_of_an_inventory_whose_nodes_are_ruled_out_apart(tmp_path):
    """Found as a user (session 58): an HPC centre's Slurm nodes, x86 in partition gpu and
    arm64 (Grace) in partition cpu, with `slurm { partition = "gpu" }` and an arm64 job: W0106
    said "`hpc`: arch = [arm64]", the first class's reason, of an inventory that has arm64 nodes
    (it is the partition that rules those out)."""
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.model.rule_warnings import rule_warnings
    from fitlang.targets.base import target_rules

    (tmp_path / "nodes.txt").write_text(
        "NodeName=h100-01 Arch=x86_64 CPUTot=112 RealMemory=1031000 Gres=gpu:h100:8 Partitions=gpu\n"
        "NodeName=h100-02 Arch=x86_64 CPUTot=112 RealMemory=1031000 Gres=gpu:h100:8 Partitions=gpu\n"
        "NodeName=grace-01 Arch=aarch64 CPUTot=72 RealMemory=480000 Partitions=cpu\n")
    text = ('import "std/accelerators"\n'
            'inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
            + workload("embed", 2, 8, "4Gi", "  arch = [arm64]\n  command = [\"embed\"]\n")
            + 'policy {\n  slurm {\n    partition = "gpu"\n  }\n}\n')
    path = tmp_path / "p.fit"
    path.write_text(text)
    checked = check_file(path, Workspace())
    assert not checked.has_errors, checked.diagnostics
    built = build_problem(checked.program, target_rules(checked.program))  # the partition's rule
    [warning] = [d for d in rule_warnings(checked.program, built.problem) if d.code == "W0106"]
    assert warning.message == ('workload `embed` runs on no node: `hpc`: arch = [arm64] (2 nodes), '
                               'slurm partition "gpu" (1 node)')


def test_an_unstated_arch_is_said_as_the_default_and_relaxed_to_both(tmp_path):
    # found as a user (session 57): explain's repair read "drop `arch = [amd64]` (line 7)" at
    # a workload that writes no `arch`; there is nothing to drop, there is one to state
    from fitlang.rules import arch

    problem = problem_from(tmp_path, pool("graviton", 2, 16, "64Gi", extra="  arch = arm64\n")
                           + workload("unstated", 1, 1, "1Gi")
                           + workload("stated", 1, 1, "1Gi", "  arch = [amd64]\n"))
    [graviton] = problem.classes
    found = {d.name: d.excluded[graviton.id] for d in problem.demands}
    assert [(found[n].rule, found[n].relaxed, found[n].source) for n in ("unstated", "stated")] == [
        ("arch = [amd64] (the default)", "arch = [amd64, arm64]", "arch"),
        ("arch = [amd64]", "arch = [amd64, arm64]", "arch")]
    assert arch.ARCHES == ("amd64", "arm64")


def test_a_rule_ruling_out_some_nodes_of_an_inventory_names_their_class(tmp_path):
    """Found as a user (session 58): verify said "`preprocess` may not run on `cpu-02`: arch =
    [arm64] (nodes of `hpc` are amd64)" of an inventory whose Grace nodes are arm64: the detail
    named the inventory, whose classes differ. It names the class the node is of."""
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem

    (tmp_path / "nodes.txt").write_text(
        "NodeName=h100-01 Arch=x86_64 CPUTot=112 RealMemory=1031000 Gres=gpu:h100:8\n"
        "NodeName=grace-01 Arch=aarch64 CPUTot=72 RealMemory=480000\n")
    path = tmp_path / "p.fit"
    path.write_text('import "std/accelerators"\ninventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
                    + workload("embed", 1, 8, "4Gi", "  arch = [arm64]\n  command = [\"embed\"]\n"))
    checked = check_file(path, Workspace())
    assert not checked.has_errors, checked.diagnostics
    [demand] = build_problem(checked.program).problem.demands
    assert [(c, e.detail) for c, e in demand.excluded.items()] == [
        ("hpc/h100", "nodes of `hpc/h100` are amd64")]
