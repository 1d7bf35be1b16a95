"""`verify_state` of the states of a move, each checked where it differs from the last state
checked (`fitc plan`'s waves: hundreds of states of ~20,000 replicas, each of which differs
from the one before on a few hundred nodes at most; checked whole, they were ~0.1 s of CPU
each, 20-40 CPU s of a plan at 10,000 nodes with a pool drained, issue 18).

Each rule's `check` states what it reads (`rules.base.CheckReads`), so that what a state
breaks is the union of what its parts break, each part read on its own:

- a NODE rule's on each node (with the reading's own violations there: a class ruled out,
  a node the policy lacks);
- a DEMANDS rule's per group of related demands (the same workload's, named by or naming
  its affinities: `_related`, closed under the relation), read wherever they run;
- a FLEET rule's, over the nodes in use per class of the whole state and the nodes bought
  (the same in every state).

The last state checked (the *base*) keeps what each of its parts breaks (the parts that
break nothing are not listed). A new state is read again only in the parts that changed:
the nodes whose replicas changed, the groups of the demands whose replicas moved, and the
fleet where the nodes in use per class changed; the rest break what they broke in the base.
Where a part read together with others breaks a rule, the groups whose demands state the
rules broken are read apart (`_pointed`: a violation stands at its rule), and the parts are
split until each violation is found with its own (`_attributed`: few parts break anything,
so this costs a few more reads of the parts that do). The base may break rules (the waves of a plan that
drains a pool begin from a state that breaks spreads: no state of them broke nothing, and
each was checked whole, before session 34).

Where a rule states no `CheckReads` or the policy has a horizon, the state is checked whole
(`verify_state`); the first state is checked whole too (a move's end state is checked
once), and read part by part only when a second state is asked (the waves' states, always
more than one, are read part by part from the first: `in_parts`).
tests/test_verify_changes.py compares this with `verify_state` on random sequences of states.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Collection, Hashable, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TypeVar

from fitlang import rules
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import Demand, Problem
from fitlang.rules.base import CheckReads, Placed
from fitlang.solve.verify import _Owners, _state_counts, read_state, verify_state

State = Mapping[str, Mapping[str, int]]  # node -> demand name -> replicas there
Part = TypeVar("Part", bound=Hashable)


@dataclass
class _Base:
    """The last state checked, with what is read of it again and what each part breaks."""

    state: State
    counts: Counter  # demand -> replicas in the state
    placed_on: dict[str, Counter]  # demand -> node -> replicas there
    in_use: Counter  # class id -> nodes in use (hosting a replica, or bought)
    at_node: dict[str, list[Diagnostic]]  # node -> what breaks there (listed where any does)
    of_group: dict[int, list[Diagnostic]]  # group of related demands -> what its demands break
    fleet: list[Diagnostic]  # what the fleet rules find

    def violations(self) -> list[Diagnostic]:
        return [found for part in (self.at_node, self.of_group) for listed in part.values()
                for found in listed] + self.fleet


class StateChecker:
    """`verify_state(problem, state, bought, root)` of each state asked (counted: each demand
    asked for as many replicas as the state holds), the same violations, checked where the
    state differs from the last one checked (see the module's docstring)."""

    def __init__(self, problem: Problem, bought: set[str], root: str = "", in_parts: bool = False) -> None:
        self.problem, self.bought, self.root = problem, bought, root
        # the first state read part by part too, not checked whole (a plan's waves: another
        # state always follows, and the first, checked whole, was read again in parts)
        self.in_parts = in_parts
        self.by_change = problem.timeline is None and all(
            rule.check is None or rule.check_reads is not None for rule in rules.RULES)
        self.owner = _Owners(problem, bought)  # (the same classes and nodes bought each time)
        self.base: _Base | None = None
        self.first: tuple[State, list[Diagnostic]] | None = None  # checked whole, not yet in parts
        self.whole = 0  # states checked whole (read by the tests)
        self.shared: dict = {}  # (`Placed.shared`: the classes and `_nodes_of` are the same each read)
        # (group, where its demands' replicas run) -> what the group breaks (`_read_parts`)
        self._known: dict[tuple, list[Diagnostic]] = {}
        self._asked: dict[tuple[str, int], Demand] = {}  # (`_counted`)

    def violations(self, state: State) -> list[Diagnostic]:
        if self.first is not None:  # its parts read once a second state is asked
            self.base, self.first = self._base_of(*self.first), None
        if self.base is None and self.by_change and self.in_parts:
            self.base = self._base_of(state, None)
            return self.base.violations()
        if self.base is None or not self.by_change:
            self.whole += 1
            found = verify_state(self.problem, state, self.bought, self.root)
            if self.by_change:
                self.first = (state, found)
            return found
        changed = _changed_nodes(self.base.state, state)
        if changed:
            self.base = self._moved_on(state, changed)
        return self.base.violations()

    def breaking(self) -> Callable[[Callable[[Diagnostic], bool]], tuple[set[str], set[str]] | None]:
        """Of the last state checked (asked later, after other states are checked): given
        which violations are to be avoided, the nodes, and the demands of the groups, that
        break such a rule; None where that is not known part by part (a rule states not what
        it reads, or the policy has a horizon) or the fleet rules break one."""
        if self.first is not None:  # (read part by part now)
            self.base, self.first = self._base_of(*self.first), None
        base, members = self.base if self.by_change else None, self._groups[1]

        def parts(beyond: Callable[[Diagnostic], bool]) -> tuple[set[str], set[str]] | None:
            if base is None or any(beyond(found) for found in base.fleet):
                return None
            nodes = {node for node, listed in base.at_node.items() if any(map(beyond, listed))}
            names = {name for number, listed in base.of_group.items() if any(map(beyond, listed))
                     for name in members[number]}
            return nodes, names
        return parts

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

    def _base_of(self, state: State, found: list[Diagnostic] | None) -> _Base:
        """The state checked whole (`found`: what it breaks; None: not checked), read part by
        part (each part's violations found only where the whole state broke any)."""
        placed_on: dict[str, Counter] = {}
        for node, counts in state.items():
            for name, amount in counts.items():
                if amount > 0:
                    placed_on.setdefault(name, Counter())[node] += amount
        in_use = Counter(self.owner[node].id for node in _in_use(state) | self.bought
                         if node in self.owner)
        base = _Base(state, _state_counts(state), placed_on, in_use, {}, {}, [])
        if found is None or found:
            self._read_parts(base, sorted(state), set(self._groups[1]), None)
        return base

    def _moved_on(self, state: State, changed: list[str]) -> _Base:
        """The base moved on to `state`: its indexes copied where they change (the base
        stays as it was), and the parts that changed read again."""
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
        base = _Base(state, +counts, placed_on, +in_use, dict(self.base.at_node),
                     dict(self.base.of_group), self.base.fleet)
        group = self._groups[0]
        self._read_parts(base, changed, {group[name] for name in moved if name in group},
                         self.base.in_use)
        return base

    def _read_parts(self, base: _Base, nodes: list[str], groups: set[int], in_use: Counter | None) -> None:
        """What the nodes, the groups and (where the nodes in use per class are not
        `in_use`) the fleet of `base` break, into `base`. The nodes that broke a rule in the
        last state are read one by one (they most likely still do); the groups that did are
        read with the others, the violations pointing at theirs (`_named`): a wave's state
        read from its start heals most of the spreads the start broke (inventory 10,000 plan
        7: 78 such groups read alone, 5 still breaking one)."""
        problem = self._counted(base.counts)
        demands = {d.name: d for d in problem.demands}
        state = base.state
        broke = {node for node in nodes if base.at_node.pop(node, None)}
        base.at_node.update(_attributed(lambda part: self._run(
            CheckReads.NODE, problem, demands, {n: state[n] for n in part if n in state}), nodes, broke))
        for number in groups:
            base.of_group.pop(number, None)
        # a group placed as in a state read before breaks what it broke there (`_known`)
        placed = {number: self._placed_as(base, number) for number in groups}
        known = {number: self._known[placed[number]] for number in groups if placed[number] in self._known}
        unknown = sorted(groups - known.keys())
        found = _attributed(lambda part: self._over_groups(problem, demands, base, part), unknown,
                            named=self._named)
        if len(self._known) + len(unknown) > KNOWN_MOST:
            self._known.clear()
        self._known.update((placed[number], found.get(number, [])) for number in unknown)
        base.of_group.update(found)
        base.of_group.update((number, listed) for number, listed in known.items() if listed)
        if base.in_use != in_use:
            fleet = Placed(problem, self.owner, demands, {}, {}, set(), Counter(), {}, self.bought,
                           self._nodes_of, self.root)
            fleet.__dict__["used_per_class"] = base.in_use  # (the cached property: of the whole state)
            base.fleet = _rules_over(fleet, CheckReads.FLEET)

    def _placed_as(self, base: _Base, number: int) -> tuple:
        """The group and where its demands' replicas run in `base` (what its read depends on)."""
        members = self._groups[1][number]
        return number, tuple(frozenset(base.placed_on.get(name, {}).items()) for name in members)

    def _counted(self, counts: Counter) -> Problem:
        """`verify._counted`: the problem asking for each demand's replicas as the state holds
        them, each demand so asked for made once (per state, ~2 ms of each at 10,000 nodes)."""
        asked = self._asked
        demands = []
        for demand in self.problem.demands:
            count = counts[demand.name]
            if count != demand.replicas:
                key = (demand.name, count)
                if key not in asked:
                    asked[key] = dataclasses.replace(demand, replicas=count)
                demand = asked[key]
            demands.append(demand)
        return self.problem.with_demands(demands)

    def _over_groups(self, problem: Problem, demands: dict[str, Demand], base: _Base,
                     groups: list[int]) -> list[Diagnostic]:
        """What the DEMANDS rules find over the groups' demands (`demands`: of `problem`, the
        state's counts), read wherever they run."""
        members, options = self._groups[1], self._options
        names = sorted((name for number in groups for name in members[number]), key=self._order.__getitem__)
        subset = problem.with_demands([demands[name] for name in names],
                                      option_groups=[g for number in groups for g in options.get(number, ())])
        where: dict[str, Counter] = {}
        for name in names:
            for node, amount in base.placed_on.get(name, {}).items():
                hosted = where.get(node)
                if hosted is None:  # (`setdefault` made a Counter per replica's node to throw away)
                    hosted = where[node] = Counter()
                hosted[name] = amount
        # (what reading them finds is a node's: `at_node` has it)
        return self._run(CheckReads.DEMANDS, subset, {d.name: d for d in subset.demands}, where, False)

    def _named(self, found: list[Diagnostic]) -> set[int]:
        """The groups whose demands state the rules the violations stand at."""
        stated = self._stated_at
        return {number for violation in found
                for number in stated.get((violation.path, violation.span.line, violation.span.column), ())}

    @cached_property
    def _stated_at(self) -> dict[tuple[str, int, int], set[int]]:
        """Where each demand's rules stand (path, line, column) -> the groups of the demands
        that state them (a violation stands at its rule: its group is read on its own first)."""
        group = self._groups[0]
        found: dict[tuple[str, int, int], set[int]] = {}
        for demand in self.problem.demands:
            origins = [demand.origin, *demand.spans.values(), *(rule.origin for rule in demand.affinities),
                       *(rule.origin for rule in demand.spreads), *(rule.origin for rule in demand.latency)]
            for origin in origins:
                if origin is not None:
                    found.setdefault((origin.path, origin.span.line, origin.span.column), set()).add(
                        group[demand.name])
        return found

    @cached_property
    def _order(self) -> dict[str, int]:
        return {d.name: i for i, d in enumerate(self.problem.demands)}

    @cached_property
    def _options(self) -> dict[int, list]:
        """Group -> its workloads' option groups (a workload's options are one group)."""
        group = self._groups[0]
        options: dict[int, list] = {}
        for option_group in self.problem.option_groups:
            numbers = {group[name] for name in option_group.demands if name in group}
            if len(numbers) == 1:
                options.setdefault(numbers.pop(), []).append(option_group)
        return options

    def _run(self, reads: CheckReads, problem: Problem, demands: dict[str, Demand],
             state: State, reading: bool = True) -> list[Diagnostic]:
        """The state read as `verify` reads it, and the rules that read `reads` run over it
        (`reading`: with what reading it finds)."""
        hosted, seen, found = read_state(demands, self.owner, state, self.root)
        placed_on: dict[str, Counter] = {}
        for node, counts in hosted.items():
            for name, amount in counts.items():
                on = placed_on.get(name)
                if on is None:
                    on = placed_on[name] = Counter()
                on[node] += amount
        placed = Placed(problem, self.owner, demands, hosted, placed_on, seen, Counter(w for w, _ in seen),
                        {}, self.bought, self._nodes_of, self.root, self.shared)
        return (found if reading else []) + _rules_over(placed, reads)


# the groups' reads kept (`StateChecker._known`): a wave's start at inventory 10,000 with a
# pool drained breaks ~100 groups' spreads; each was read alone where the wave's state was read
# from it, and again where the next try of the wave (its moves of the groups that broke a rule
# left out) was read from the start (~0.6 ms a read, 286 of plan 7's 307 reads)
KNOWN_MOST = 50_000


# the pieces a set of parts found breaking a rule is split into, each read again (binary
# halving read a fleet's 1,000 groups, 73 of them breaking a spread, ~10 times over)
SPLIT = 8


Named = Callable[[list[Diagnostic]], Collection[Part]]  # the parts violations point at


def _attributed(read: Callable[[list[Part]], list[Diagnostic]], parts: list[Part],
                suspects: Collection[Part] = (), named: Named | None = None) -> dict[Part, list[Diagnostic]]:
    """Part -> what it breaks, for the parts that break anything: the `suspects` read one by
    one, the rest together (what `read` finds of several parts is the union of what each
    breaks), split where that finds anything (`_split`)."""
    found = {part: broken for part in parts if part in suspects for broken in [read([part])] if broken}
    found.update(_split(read, [part for part in parts if part not in suspects], named))
    return found


def _split(read: Callable[[list[Part]], list[Diagnostic]], parts: list[Part],
           named: Named | None = None) -> dict[Part, list[Diagnostic]]:
    """The parts read together; where they break anything, the parts the violations point at
    (`named`) read apart first (`_pointed`), else in SPLIT pieces, each read so."""
    broken = read(parts) if parts else []
    if not broken or len(parts) == 1:
        return {parts[0]: broken} if broken else {}
    pointed = set(named(broken)) & set(parts) if named is not None else set()
    if pointed and len(pointed) < len(parts):
        return _pointed(read, parts, pointed, broken, named)
    size = -(-len(parts) // SPLIT)
    found: dict[Part, list[Diagnostic]] = {}
    for first in range(0, len(parts), size):
        found.update(_split(read, parts[first:first + size], named))
    return found


def _pointed(read: Callable[[list[Part]], list[Diagnostic]], parts: list[Part], pointed: set[Part],
             broken: list[Diagnostic], named: Named | None) -> dict[Part, list[Diagnostic]]:
    """The `pointed` parts read one by one, and the rest together again (`_split`) where those
    do not break all the parts together do (`broken`; together they break the sum of what
    each does). A wave's start at inventory 10,000 with pools drained breaks the spreads of
    ~140 of the ~270 groups its moves touch: 321 reads split in SPLIT pieces, 141 so."""
    found = {part: alone for part in parts if part in pointed for alone in [read([part])] if alone}
    if _tally(found.values()) != _tally([broken]):
        found.update(_split(read, [part for part in parts if part not in pointed], named))
    return found


def _tally(lists: Iterable[list[Diagnostic]]) -> Counter:
    return Counter(violation.sort_key() for listed in lists for violation in listed)


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
    changed = [node for node, new in after.items() if before.get(node, empty) is not new
               and _positive(before.get(node, empty)) != _positive(new)]
    changed += [node for node in before.keys() - after.keys() if _positive(before[node])]
    return sorted(changed)


def _positive(counts: Mapping[str, int]) -> dict[str, int]:
    return {name: amount for name, amount in counts.items() if amount > 0}


def _hosts(counts: Mapping[str, int]) -> int:
    return int(any(amount > 0 for amount in counts.values()))


def _in_use(state: State) -> set[str]:
    return {node for node, counts in state.items() if _hosts(counts)}
