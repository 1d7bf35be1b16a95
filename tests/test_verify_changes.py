"""The waves' states checked where they changed (`solve/verify_changes.StateChecker`, issue 18)
against `verify_state` of each whole state: on random walks of states over a policy with a
rule of each kind a check reads (node rules: capacity, a class ruled out, exclusive, apart on
a node; demand rules: a spread, affinities either way, a gang; fleet rules: the budget and a
power cap), each state must break the same rules, with the same messages."""

from __future__ import annotations

import random
from collections import Counter

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlang import rules
from fitlang.driver import Compilation
from fitlang.rules.base import Rule
from fitlang.solve.verify import verify_state
from fitlang.solve.verify_changes import StateChecker

POLICY = """
pool a {
  count = 3
  cpu = 4
  memory = 16GiB
  price = 0.40 USD/h
  zone = "z1"
  power = 0.5kW
  labels = { "site": "dc1" }
}

pool b {
  count = 3
  cpu = 8
  memory = 32GiB
  price = 0.70 USD/h
  zone = "z2"
}

pool c {
  count = 2
  cpu = 2
  memory = 8GiB
  price = 0.15 USD/h
  zone = "z1"
  power = 0.4kW
  labels = { "site": "dc1" }
}

power_cap dc1 {
  labels = { "site": "dc1" }
  cap = 1.2kW
}

workload web {
  replicas = 4
  cpu = 1
  memory = 1GiB
  spread zone max_skew 1
}

workload api {
  replicas = 3
  cpu = 1
  memory = 1GiB
  affinity web on zone
}

workload cache {
  replicas = 3
  cpu = 1
  memory = 1GiB
  anti_affinity self on node
}

workload db {
  replicas = 2
  cpu = 2
  memory = 2GiB
  zones = ["z2"]
  anti_affinity api on node
}

workload batch {
  replicas = 2
  cpu = 2
  memory = 2GiB
  exclusive = true
}

workload train {
  replicas = 2
  cpu = 1
  memory = 1GiB
  gang = true
}

policy {
  budget = 2 USD/h
}
"""

NODES = [f"{pool}-{i}" for pool, count in (("a", 3), ("b", 3), ("c", 2)) for i in range(count)]
WORKLOADS = ("web", "api", "cache", "db", "batch", "train")


@pytest.fixture(scope="module")
def problem(tmp_path_factory):
    path = tmp_path_factory.mktemp("changes") / "p.fit"
    path.write_text(POLICY)
    compilation = Compilation(path)
    assert compilation.problem is not None, [d.message for d in compilation.diagnostics()]
    return compilation.problem


def _step(rng: random.Random, state: dict[str, Counter]) -> dict[str, Counter]:
    """A few replicas started, stopped or moved; the nodes no change touches shared with
    `state` (as `moving._apply` shares them), which stays as it was."""
    after = dict(state)
    copied: set[str] = set()

    def counts(node: str) -> Counter:
        if node not in copied:
            after[node] = Counter(after.get(node, ()))
            copied.add(node)
        return after[node]

    for _ in range(rng.randint(1, 3)):
        placed = [(node, name) for node, hosted in after.items() for name, c in hosted.items() if c > 0]
        kind = rng.choice(["start", "start", "stop", "move"] if placed else ["start"])
        if kind != "start":
            node, name = rng.choice(placed)
            counts(node)[name] -= 1
            if kind == "stop":
                continue
        else:
            name = rng.choice(WORKLOADS)
        counts(rng.choice(NODES))[name] += 1
    return after


def _read(found) -> list[tuple]:
    return sorted({(d.message, d.path, d.span.line, d.span.column) for d in found})


@pytest.mark.parametrize("in_parts", [False, True])
@pytest.mark.parametrize("seed", range(12))
def test_a_state_checked_where_it_changed_breaks_what_the_whole_state_breaks(problem, seed, in_parts):
    rng = random.Random(seed)
    checker = StateChecker(problem, set(), "p.fit", in_parts=in_parts)
    state: dict[str, Counter] = {}
    clean = broken = after_broken = 0
    last_clean: dict[str, Counter] = {}
    whole: list = []
    for _ in range(60):
        state = _step(rng, state)
        after_broken += bool(whole)
        whole = verify_state(problem, state, set(), "p.fit")
        assert _read(checker.violations(state)) == _read(whole)
        clean, broken = clean + (not whole), broken + bool(whole)
        if not whole:
            last_clean = state
        elif rng.random() < 0.5:  # back to a state that breaks nothing, now and then
            state = dict(last_clean)
    assert clean > 5 and broken > 5
    # the first checked whole (`in_parts`: read part by part too), each after it where it
    # changed, whether the last broke a rule or not (before session 34, each state until one
    # broke nothing was checked whole)
    assert checker.whole == (0 if in_parts else 1) and after_broken > 5


# a change: (start, stop or move; a node; a workload), each a number read modulo the choices
CHANGES = st.tuples(st.integers(0, 2), st.integers(0, 63), st.integers(0, 63), st.integers(0, 63))


def _changed(state: dict[str, Counter], changes) -> dict[str, Counter]:
    """`state` with the changes made (a stop or move of a replica the state lacks: none),
    the nodes they do not touch shared with it (as `moving._apply` shares them)."""
    after = dict(state)
    for kind, node, workload, target in changes:
        name, node_name = WORKLOADS[workload % len(WORKLOADS)], NODES[node % len(NODES)]
        if kind and after.get(node_name, Counter())[name] > 0:
            after[node_name] = Counter(after[node_name])
            after[node_name][name] -= 1
            if kind == 1:  # a stop
                continue
        elif kind:
            continue
        node_name = NODES[target % len(NODES)] if kind else node_name
        after[node_name] = Counter(after.get(node_name, ()))
        after[node_name][name] += 1
    return after


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(CHANGES, min_size=1, max_size=12), st.booleans()), min_size=2, max_size=8))
def test_waves_checked_where_they_changed_break_what_verify_finds_of_each_whole_state(problem, waves):
    # random waves from random states: each state (a wave's start, or the wave made; now and
    # then the state before it again, as a halved wave goes back) read where it changed must
    # break exactly what `verify_state` of the whole state breaks, read apart
    checker = StateChecker(problem, set(), "p.fit")
    state: dict[str, Counter] = {}
    for changes, back in waves:
        after = _changed(state, changes)
        for seen in (state, after, state) if back else (state, after):
            assert _read(checker.violations(seen)) == _read(verify_state(problem, seen, set(), "p.fit"))
        state = after
    assert checker.whole == 1


def test_every_rule_a_check_reads_where_it_changed_says_what_it_reads():
    assert all(rule.check is None or rule.check_reads is not None for rule in rules.RULES)


def test_a_rule_that_says_not_what_it_reads_is_checked_over_the_whole_state(problem, monkeypatch):
    def nothing_on_a_1(placed):  # reads the whole state: a rule that says nothing of what it reads
        from fitlang.rules.base import violation

        if any(placed.hosted.get("a-1", {}).values()):
            yield violation("p.fit", "something on a-1", None)

    monkeypatch.setattr(rules, "RULES", (*rules.RULES, Rule("nothing_on_a_1", check=nothing_on_a_1)))
    checker = StateChecker(problem, set(), "p.fit")
    first = {"a-1": Counter(web=1)}
    assert [d.message for d in checker.violations(first)] != []
    second = {"a-1": first["a-1"], "b-0": Counter(web=1)}
    assert "something on a-1" in {d.message for d in checker.violations(second)}
    assert checker.whole == 2


# 24 workloads spread over two zones, two replicas in zone a and one in b; `w3` and `w17`
# with all three in zone a
SPREADS = "".join(f'pool {zone} {{\n  count = 30\n  cpu = 64\n  memory = 256GiB\n  price = 1 USD/h\n'
                  f'  zone = "{zone}"\n}}\n' for zone in "ab") + "".join(
    f"workload w{i} {{\n  replicas = 3\n  cpu = 1\n  memory = 1GiB\n  spread zone max_skew 1\n}}\n"
    for i in range(24))


def test_the_groups_a_state_breaks_are_read_alone_where_the_violations_point(tmp_path, monkeypatch):
    # every group read together once, then the two its violations stand at alone, and no
    # other read (what they break alone is all the whole read found); split in 8 pieces, the
    # groups were read 15 times
    path = tmp_path / "p.fit"
    path.write_text(SPREADS)
    problem = Compilation(path).problem
    assert problem is not None
    state = {f"{zone}-{i}": Counter({f"w{i}": 2 if zone == "a" else 1}) for zone in "ab" for i in range(24)}
    for broken in (3, 17):
        state[f"a-{broken}"], state[f"b-{broken}"] = Counter({f"w{broken}": 3}), Counter()
    checker = StateChecker(problem, set(), "p.fit", in_parts=True)
    reads: list[int] = []
    over_groups = StateChecker._over_groups

    def counted(self, problem, demands, base, groups):
        reads.append(len(groups))
        return over_groups(self, problem, demands, base, groups)

    monkeypatch.setattr(StateChecker, "_over_groups", counted)
    found = checker.violations(state)
    assert _read(found) == _read(verify_state(problem, state, set(), "p.fit"))
    assert sorted(d.message.split("`")[1] for d in found) == ["w17", "w3"]
    assert reads == [24, 1, 1] and checker.whole == 0


def test_a_group_placed_as_in_a_state_read_before_is_not_read_again(tmp_path, monkeypatch):
    # a wave's try, the start read after it, the next try read after the start: the groups
    # moved back to where they were read before break what they broke there, unread (plan 7
    # at 10,000 nodes read ~100 spreads alone in each try of a wave)
    path = tmp_path / "p.fit"
    path.write_text(SPREADS)
    problem = Compilation(path).problem
    assert problem is not None
    first = {f"{zone}-{i}": Counter({f"w{i}": 2 if zone == "a" else 1}) for zone in "ab" for i in range(24)}
    first["a-3"], first["b-3"] = Counter({"w3": 3}), Counter()
    second = dict(first)
    second["a-3"], second["b-3"] = Counter({"w3": 2}), Counter({"w3": 1})
    second["a-5"], second["b-5"] = Counter({"w5": 3}), Counter()
    checker = StateChecker(problem, set(), "p.fit", in_parts=True)
    reads: list[int] = []
    over_groups = StateChecker._over_groups

    def counted(self, problem, demands, base, groups):
        reads.append(len(groups))
        return over_groups(self, problem, demands, base, groups)

    monkeypatch.setattr(StateChecker, "_over_groups", counted)
    for state in (first, second):
        assert _read(checker.violations(state)) == _read(verify_state(problem, state, set(), "p.fit"))
    reads.clear()
    found = checker.violations(dict(first))
    assert _read(found) == _read(verify_state(problem, first, set(), "p.fit"))
    assert [d.message.split("`")[1] for d in found] == ["w3"] and reads == []


def test_groups_that_broke_a_rule_in_the_last_state_are_read_together_where_changed(tmp_path, monkeypatch):
    # six spreads broken, then all six healed (a wave's state read from its start): one read
    # of the six together finds nothing; read one by one as suspects, they took six reads
    path = tmp_path / "p.fit"
    path.write_text(SPREADS)
    problem = Compilation(path).problem
    assert problem is not None
    healed = {f"{zone}-{i}": Counter({f"w{i}": 2 if zone == "a" else 1}) for zone in "ab" for i in range(24)}
    broken = dict(healed)
    for number in range(6):
        broken[f"a-{number}"], broken[f"b-{number}"] = Counter({f"w{number}": 3}), Counter()
    checker = StateChecker(problem, set(), "p.fit", in_parts=True)
    reads: list[int] = []
    over_groups = StateChecker._over_groups

    def counted(self, problem, demands, base, groups):
        reads.append(len(groups))
        return over_groups(self, problem, demands, base, groups)

    monkeypatch.setattr(StateChecker, "_over_groups", counted)
    assert len(checker.violations(broken)) == 6
    reads.clear()
    assert checker.violations(dict(healed)) == [] and reads == [6]
