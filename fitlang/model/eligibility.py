"""Which node classes each workload may use, for all classes at once.

The rules of a workload (fitlang/rules, each its `excludes` hook) read a few facets of a
node class (its taints, a label, its zone, its accelerator, the attributes a `require`
names). Classes are grouped by the value of each facet once (`ClassFacets`); a rule is
evaluated once per distinct value and the answer spread over the classes with numpy. At
10,000 inventory nodes this replaced 1.3 million per-pair checks (8 s) by a few thousand
evaluations. Why a class is ruled out (`Exclusion`s from the rules' `why`, for `verify`,
`explain` and the editor) is worked out only for the pairs someone asks about: see
`LazyReasons`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterator, MutableMapping, Sequence
from typing import Any

import numpy as np

from fitlang import rules
from fitlang.check.program import Workload, compares
from fitlang.model.problem import RESOURCES, Exclusion, NodeClass, holds
from fitlang.rules.base import Rule


class ClassFacets:
    """The classes a problem's workloads are checked against (owned, then spare offers),
    grouped by facet: per facet key, each class's group number and one class per group."""

    def __init__(self, classes: list[NodeClass], extra: Sequence[Rule] = ()) -> None:
        """`extra`: the rules the targets add (`Target.rules`), asked after the language's."""
        self.classes = classes
        self.position = {c.id: i for i, c in enumerate(classes)}
        # class ids as an array: a workload's eligible ids are one fancy index (at 50,000
        # nodes, 23 million (workload, class) pairs: 25 s by attribute in a loop)
        self.ids = np.array([c.id for c in classes], dtype=object)
        self.capacity = np.array([[c.capacity[r] for r in RESOURCES] for c in classes],
                                 dtype=np.int64).reshape(len(classes), len(RESOURCES))
        # one contiguous array per resource: a replica's size is compared with the resources
        # it requests only (5,000 workloads x 7,000 classes at 50,000 breaker nodes)
        self.columns = [np.ascontiguousarray(self.capacity[:, k]) for k in range(len(RESOURCES))]
        self._groups: dict[Any, tuple[np.ndarray, list[NodeClass]]] = {}
        self._values: dict[Any, list[dict]] = {}
        # rules_allow's answer per distinct set of rules: most workloads share their rules
        # (a taint tolerated, a zone, an arch) and differ in size only
        self.allowed: dict[Any, np.ndarray] = {}
        # the rules' hooks, read from the registry once (a test may replace it between builds)
        self.rules: tuple[Rule, ...] = (*rules.RULES, *extra)
        shared = [r for r in self.rules if r.excludes is not None and r.reads is not None]
        self.reads = tuple(r.reads for r in shared if r.reads is not None)
        self.shared_excludes = tuple(r.excludes for r in shared if r.excludes is not None)
        own = [r for r in self.rules if r.excludes is not None and r.reads is None]
        self.own_excludes = tuple(r.excludes for r in own if r.excludes is not None)
        # what those read of a workload (None: one of them does not say)
        self.own_reads = None if any(r.sized_by is None for r in own) else \
            tuple(r.sized_by for r in own if r.sized_by is not None)

    def groups(self, key: Any, value_of: Callable[[NodeClass], Any]) -> tuple[np.ndarray, list[NodeClass]]:
        found = self._groups.get(key)
        if found is None:
            numbers: dict[Any, int] = {}
            codes = np.empty(len(self.classes), dtype=np.int64)
            members: list[NodeClass] = []
            for index, node_class in enumerate(self.classes):
                value = value_of(node_class)
                try:
                    code = numbers.setdefault(value, len(members))
                except TypeError:  # an unhashable value: a group of its own
                    code = len(members)
                if code == len(members):
                    members.append(node_class)
                codes[index] = code
            found = self._groups[key] = (codes, members)
        return found

    def passing(self, key: Any, value_of: Callable[[NodeClass], Any],
                test: Callable[[NodeClass], bool]) -> np.ndarray:
        """Per class: does `test` hold? `test` must read only what `value_of` returns."""
        codes, members = self.groups(key, value_of)
        answers = np.fromiter((bool(test(member)) for member in members), dtype=bool,
                              count=len(members))
        return answers[codes]

    def holding(self, predicate, reader: str = "attribute") -> np.ndarray:
        """Per class: does a `require`/`prefer` predicate (or a GPU rule, `reader` =
        "accelerator_attribute") hold?"""
        paths = tuple(sorted({c.subject for c in compares(predicate)}))

        def value_of(node_class: NodeClass) -> tuple:
            read = getattr(node_class, reader)
            return tuple(read(path) for path in paths)

        codes, members = self.groups((reader, paths), value_of)
        values = self._values.get((reader, paths))
        if values is None:  # each group's values, read once: a predicate reads them, not the class
            values = self._values[reader, paths] = [dict(zip(paths, value_of(m))) for m in members]
        answers = np.fromiter((bool(holds(predicate, found.__getitem__)) for found in values),
                              dtype=bool, count=len(values))
        return answers[codes]


def rules_allow(workload: Workload, facets: ClassFacets) -> np.ndarray:
    """Per class: does no rule of `workload` whose answer is shared (a rule with `reads`, see
    fitlang/rules/base.py) rule it out? Exactly `not exclusions(...)` of those rules (the same
    checks, grouped). Workloads with the same rules get the same (read-only) array."""
    try:
        key = tuple(read(workload) for read in facets.reads)
        found = facets.allowed.get(key)
    except TypeError:  # a value that cannot be hashed: worked out, not kept
        return _rules_allow(workload, facets)
    if found is None:
        found = facets.allowed[key] = _rules_allow(workload, facets)
        found.flags.writeable = False
    return found


def ruled_out_key(workload: Workload, facets: ClassFacets) -> Hashable | None:
    """What `ruled_out(workload, facets)` depends on: what each rule reads of the workload
    (`Rule.reads`, `Rule.sized_by`); workloads with one key get one answer. None where a rule
    asked per workload does not say what it reads, or a value cannot be hashed."""
    if facets.own_reads is None:
        return None
    key = (tuple(read(workload) for read in facets.reads),
           tuple(read(workload) for read in facets.own_reads))
    try:
        hash(key)
    except TypeError:
        return None
    return key


def ruled_out(workload: Workload, facets: ClassFacets) -> np.ndarray:
    """Per class: does any rule of `workload` rule it out (a new array)?"""
    out = ~rules_allow(workload, facets)
    for excludes in facets.own_excludes:
        found = excludes(workload, facets)
        if found is not None:
            out |= found
    return out


def _rules_allow(workload: Workload, facets: ClassFacets) -> np.ndarray:
    allowed = np.ones(len(facets.classes), dtype=bool)
    for excludes in facets.shared_excludes:
        found = excludes(workload, facets)
        if found is not None:
            allowed &= ~found
    return allowed


def exclusions(workload: Workload, node_class: NodeClass,
               registry: Sequence[Rule] | None = None) -> list[Exclusion]:
    """Every rule of `workload` that rules out `node_class` (empty: it may run there), in the
    registry's order (`registry`: the language's rules and the targets', `ClassFacets.rules`;
    None: the language's); not the rules that are a last resort (`Rule.last_resort`)."""
    return [reason for rule in (rules.RULES if registry is None else registry)
            if rule.why is not None and not rule.last_resort
            for reason in rule.why(workload, node_class)]


def last_resort(workload: Workload, node_class: NodeClass,
                registry: Sequence[Rule] | None = None) -> list[Exclusion]:
    """The reasons of the rules that are given only where no other rule's are."""
    return [reason for rule in (rules.RULES if registry is None else registry)
            if rule.why is not None and rule.last_resort
            for reason in rule.why(workload, node_class)]


class LazyReasons(MutableMapping):
    """class id -> value, for the classes `ruled_out` marks (in class order), each value made by
    `make(class)` the first time it is asked for. It behaves as the dict it replaces (the
    reasons of every pair were 1.3 million `exclusions` calls at 10,000 nodes, of which
    `verify`, `explain` and the editor read a handful); written to, it becomes that dict."""

    def __init__(self, facets: ClassFacets, ruled_out: np.ndarray, make: Callable[[NodeClass], Any]) -> None:
        self._facets, self._ruled_out, self._make = facets, ruled_out, make
        # the positions of `ruled_out`, found when first listed (most are never listed: kept
        # for every workload they were 110 MB at 50,000 breaker nodes)
        self._positions: np.ndarray | None = None
        self._made: dict[str, Any] = {}
        self._data: dict[str, Any] | None = None  # once written to: a plain dict

    def _has(self, key: object) -> bool:
        position = self._facets.position.get(key) if isinstance(key, str) else None
        return position is not None and bool(self._ruled_out[position]) and \
            self._facets.classes[position].id == key

    def __getitem__(self, key: str) -> Any:
        if self._data is not None:
            return self._data[key]
        if key not in self._made:
            if not self._has(key):
                raise KeyError(key)
            self._made[key] = self._make(self._facets.classes[self._facets.position[key]])
        return self._made[key]

    def __contains__(self, key: object) -> bool:
        return key in self._data if self._data is not None else self._has(key)

    def get(self, key: Any, default: Any = None) -> Any:
        """As a dict's: asked by `verify` for every node and demand of a state (Mapping's
        own `get` goes through a raised KeyError for each class not ruled out)."""
        if self._data is not None:
            return self._data.get(key, default)
        if key in self._made:
            return self._made[key]
        return self[key] if self._has(key) else default

    def __iter__(self) -> Iterator[str]:
        if self._data is not None:
            return iter(self._data)
        classes = self._facets.classes
        return (classes[p].id for p in self._listed().tolist())

    def __len__(self) -> int:
        return len(self._data) if self._data is not None else len(self._listed())

    def _listed(self) -> np.ndarray:
        if self._positions is None:
            self._positions = np.flatnonzero(self._ruled_out)
        return self._positions

    def _writable(self) -> dict[str, Any]:
        if self._data is None:
            self._data = {key: self[key] for key in self}
        return self._data

    def __setitem__(self, key: str, value: Any) -> None:
        self._writable()[key] = value

    def __delitem__(self, key: str) -> None:
        del self._writable()[key]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, (dict, MutableMapping)):
            return dict(self.items()) == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"LazyReasons({len(self)} classes)"
