"""`verify_state` of the states of a move, each checked where it differs from the last state
found to break no rule (`fitc plan`'s waves: a dozen states of ~20,000 replicas, each of
which differs from the one before on a few hundred nodes at most; checked whole, they were
~1.9 s of CPU of a plan at inventory 10,000 nodes).

Each rule's `check` states what it reads (`rules.base.CheckReads`). Where the last clean
state (the *base*) broke nothing, a violation of the new state is one of:

- a NODE rule's on a node whose replicas changed (the others host what they hosted in the
  base, where no node broke a rule): those nodes are read whole, and the node rules run
  over them, with the reading's own violations (a class ruled out, a node the policy lacks);
- a DEMANDS rule's of a demand whose replicas changed, or of a demand related to one (the
  same workload's, named by or naming its affinities: `_related`, closed under the
  relation); the others, and every demand they read, are placed as in the base. Those
  demands are read wherever they run (a node that did not change hosts what it hosted:
  read in part, it breaks no node rule the whole did not);
- a FLEET rule's, over the nodes in use per class of the whole state (counted from the
  base's and the nodes that changed) and the nodes bought (the same in every state).

Where a rule states no `CheckReads`, the policy has a horizon, or no state checked yet broke
nothing, the state is checked whole (`verify_state`). tests/test_verify_changes.py compares
this with `verify_state` on random sequences of states.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from fitlang import rules
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Demand, Problem
from fitlang.rules.base import CheckReads, Placed
from fitlang.solve.verify import _counted, _Owners, _state_counts, read_state, verify_state

State = Mapping[str, Mapping[str, int]]  # node -> demand name -> replicas there


@dataclass
class _Base:
    """The last state checked that broke no rule, with what is read of it again."""

    state: State
    counts: Counter  # demand -> replicas in the state
    placed_on: dict[str, Counter]  # demand -> node -> replicas there
    in_use: Counter  # class id -> nodes in use (hosting a replica, or bought)


class StateChecker:
    """`verify_state(problem, state, bought, root)` of each state asked (counted: each demand
    asked for as many replicas as the state holds), the same violations, checked where the
    state differs from the last one that broke nothing (see the module's docstring)."""

    def __init__(self, problem: Problem, bought: set[str], root: str = "") -> None:
        self.problem, self.bought, self.root = problem, bought, root
        self.by_change = problem.timeline is None and all(
            rule.check is None or rule.check_reads is not None for rule in rules.RULES)
        self.owner = _Owners(problem, bought)  # (the same classes and nodes bought each time)
        self.base: _Base | None = None
        self.clean: State | None = None  # a state checked whole that broke nothing
        self.whole = 0  # states checked whole (read by the tests)

    def violations(self, state: State) -> list[Diagnostic]:
        if self.clean is not None:  # its indexes made once a second state is asked
            self.base, self.clean = self._base_of(self.clean), None
        if self.base is None or not self.by_change:
            self.whole += 1
            found = verify_state(self.problem, state, self.bought, self.root)
            if not found and self.by_change:
                self.clean = state
            return found
        changed = _changed_nodes(self.base.state, state)
        if not changed:
            return []
        base, moved = self._moved_on(state, changed)
        found = self._checked(state, changed, base, moved)
        if not found:
            self.base = base
        return found

    @cached_property
    def _groups(self) -> tuple[dict[str, int], dict[int, list[str]]]:
        """Demand -> its group of related demands, and each group's demands (`_related`)."""
        group = _related(self.problem)
        members: dict[int, list[str]] = {}
        for demand in self.problem.demands:
            members.setdefault(group[demand.name], []).append(demand.name)
        return group, members

    @cached_property
    def _nodes_of(self) -> dict[str, int]:
        return self.owner.counts()

    def _base_of(self, state: State) -> _Base:
        placed_on: dict[str, Counter] = {}
        for node, counts in state.items():
            for name, amount in counts.items():
                if amount > 0:
                    placed_on.setdefault(name, Counter())[node] += amount
        in_use = Counter(self.owner[node].id for node in _in_use(state) | self.bought
                         if node in self.owner)
        return _Base(state, _state_counts(state), placed_on, in_use)

    def _moved_on(self, state: State, changed: list[str]) -> tuple[_Base, set[str]]:
        """The base with the changed nodes as `state` has them (its indexes copied where
        they change: the base stays as it was), and the demands whose replicas moved."""
        assert self.base is not None
        counts, in_use = Counter(self.base.counts), Counter(self.base.in_use)
        placed_on = dict(self.base.placed_on)
        moved: set[str] = set()
        empty: Mapping[str, int] = {}
        for node in changed:
            before, after = self.base.state.get(node, empty), state.get(node, empty)
            for name in before.keys() | after.keys():
                change = max(0, after.get(name, 0)) - max(0, before.get(name, 0))
                if not change:
                    continue
                counts[name] += change
                if name not in moved:
                    placed_on[name] = Counter(placed_on.get(name, ()))
                    moved.add(name)
                placed_on[name][node] += change
                if placed_on[name][node] <= 0:
                    del placed_on[name][node]
            if node in self.owner and node not in self.bought:
                in_use[self.owner[node].id] += _hosts(after) - _hosts(before)
        return _Base(state, +counts, placed_on, +in_use), moved

    def _checked(self, state: State, changed: list[str], base: _Base, moved: set[str]) -> list[Diagnostic]:
        """The violations of the changed nodes, of the demands that moved (and those related),
        and of the fleet (see the module's docstring); `base`: `self.base` moved on to `state`."""
        assert self.base is not None, "a state is checked by its changes from a clean base"
        problem = _counted(self.problem, base.counts)
        demands = {d.name: d for d in problem.demands}
        found = self._run(CheckReads.NODE, problem, demands, {n: state[n] for n in changed if n in state})
        group, members = self._groups
        reread = {name for g in {group[n] for n in moved if n in group} for name in members[g]}
        subset = problem.with_demands([d for d in problem.demands if d.name in reread], option_groups=[
            g for g in problem.option_groups if all(name in reread for name in g.demands)])
        where: dict[str, Counter] = {}
        for name in reread:
            for node, amount in base.placed_on.get(name, {}).items():
                where.setdefault(node, Counter())[name] = amount
        found += self._run(CheckReads.DEMANDS, subset, {d.name: d for d in subset.demands}, where)
        if base.in_use == self.base.in_use:  # what the fleet rules read is the clean base's
            return found
        fleet = Placed(problem, self.owner, demands, {}, {}, set(), Counter(), {}, self.bought,
                       self._nodes_of, self.root)
        fleet.__dict__["used_per_class"] = base.in_use  # (the cached property: of the whole state)
        return found + _rules_over(fleet, CheckReads.FLEET)

    def _run(self, reads: CheckReads, problem: Problem, demands: dict[str, Demand],
             state: State) -> list[Diagnostic]:
        """The state read as `verify` reads it, and the rules that read `reads` run over it."""
        hosted, seen, found = read_state(demands, self.owner, state, self.root)
        placed_on: dict[str, Counter] = {}
        for node, counts in hosted.items():
            for name, amount in counts.items():
                placed_on.setdefault(name, Counter())[node] += amount
        placed = Placed(problem, self.owner, demands, hosted, placed_on, seen, Counter(w for w, _ in seen),
                        {}, self.bought, self._nodes_of, self.root)
        return found + _rules_over(placed, reads)


def _rules_over(placed: Placed, reads: CheckReads) -> list[Diagnostic]:
    return [found for rule in rules.RULES if rule.check is not None and rule.check_reads is reads
            for found in rule.check(placed)]


def _related(problem: Problem) -> dict[str, int]:
    """Demand -> its group: the demands of one workload (its options, which latency and
    options rules read together), and those an affinity names or is named by, closed under
    the relation (union-find)."""
    parent = {d.name: d.name for d in problem.demands}

    def root(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    def join(a: str, b: str) -> None:
        parent[root(a)] = root(b)

    by_workload: dict[str, list[str]] = {}
    for demand in problem.demands:
        by_workload.setdefault(demand.workload, []).append(demand.name)
    for names in by_workload.values():
        for name in names[1:]:
            join(name, names[0])
    for demand in problem.demands:
        for rule in demand.affinities:
            for target in [rule.target, *by_workload.get(rule.target, [])]:
                if target in parent:
                    join(demand.name, target)
    number: dict[str, int] = {}
    return {d.name: number.setdefault(root(d.name), len(number)) for d in problem.demands}


def _changed_nodes(before: State, after: State) -> list[str]:
    """The nodes whose replicas differ (a node a state shares with the one it was made from,
    `moving._apply`, is the same object: not compared)."""
    empty: Mapping[str, int] = {}
    changed = []
    for node in before.keys() | after.keys():
        old, new = before.get(node, empty), after.get(node, empty)
        if old is not new and _positive(old) != _positive(new):
            changed.append(node)
    return sorted(changed)


def _positive(counts: Mapping[str, int]) -> dict[str, int]:
    return {name: amount for name, amount in counts.items() if amount > 0}


def _hosts(counts: Mapping[str, int]) -> int:
    return int(any(amount > 0 for amount in counts.values()))


def _in_use(state: State) -> set[str]:
    return {node for node, counts in state.items() if _hosts(counts)}
