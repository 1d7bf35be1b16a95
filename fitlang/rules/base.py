"""What a rule module implements: the `Rule` record of its hooks, and what the hooks read.

A rule (`labels`, `spread`, `budget`, ...) is one module of `fitlang/rules/` that ends in
`RULE = Rule(name, hook=function, ...)`; `fitlang/rules/__init__.py` lists the modules in
order in `RULES`. Every hook is optional; each stage asks the registry, not the rules:

- `excludes(workload, facets)`: the node classes the rule rules out for a workload, for all
  classes at once (a bool array over `facets.classes`, True = ruled out), evaluated once per
  distinct value of a facet (see `model/eligibility.py`). With `reads(workload)` (what the
  rule reads of the workload, hashable) the answer is shared by the workloads that read the
  same; without it the rule is asked per workload (capacity: sizes differ, rules repeat), and
  with `sized_by(workload)` (what that rule reads) once per distinct (reads, sized_by) answer.
- `why(workload, node_class)`: the `Exclusion`s (rule, origin, detail) behind that answer
  for one class, worked out only for the classes someone asks about (verify, explain, the
  editor, W0103). `excludes` and `why` state the same test twice, as an array over facet
  values and per class: `tests/test_model.py` compares them on every pair of two fleets.
  `last_resort`: the rule's reasons are given only where no other rule's are (a replica too
  big for a node is the reason only where nothing else rules the node out).
- `warnings(workload, fleet)`: the clauses of the rule no node of the fleet satisfies (W0101).
- `check(placed)`: `fitc verify`'s independent check of a placement: the rule restated over
  nodes and replicas, as E0503 `Diagnostic`s (`placed.violation(detail, origin)`), sharing
  nothing with the linear model (it must not import `solve/encode` or `solve/linear`).
- `rows`: the rule's rows of the linear model, a `Rows` record of hooks that
  `solve/encode.py` calls at fixed points of building the model (its phases, in this order):
  `columns(encoding, made)` per demand right after its y columns (`made`: the demand's
  `DemandColumns`); `placed(encoding, demand, must_place)` per demand after its p column;
  `fleet(encoding, must_place)` once, after every demand's columns; `per_class(encoding,
  node_class)` per class; `limits(encoding)` once; then the frame's symmetry rows; then
  `relations(encoding, demand)` per demand. Within a phase, rules add rows in `RULES` order,
  after those of a lower `Rows.rank` (row order is HiGHS's tie-break, hence placements: the
  ranks keep the model as it was before the rows moved here; `tools/model_digest.py` shows
  it). A hook gets the `Encoding` (columns y/u/p, `domains`, `presence`, `hosting_count`,
  `capacity_terms`, `cache`...) and adds rows to `encoding.model` with its own group key
  (a frozen dataclass defined next to the hook, subclassing `GroupKey`). A column the rule
  finds again is made with `encoding.column(key, ...)` and found in `encoding.index[key]`.
  Once the model is made: `keeps_whole` and `rounding` (which counts stay whole when the
  others are relaxed, and how a demand's classes are grouped to round them) and `start`
  (the rule's columns' start values for a known placement). Rules sit before solve: a rule
  module imports `fitlang.solve` only under TYPE_CHECKING.
- `packing`: what the rule asks of the replicas that share a node, and of the classes a
  replica may move to, as the per-node packers read it (`solve/pack.py`, and through it the
  greedy floor and local search): an `OnNodes` record (see its fields).
- `part_kind`, `reason(problem, part)`, `repairs(problem, part, deadline)`: `fitc explain`'s
  view of the rule. The parts of a policy explain drops and keeps (`solve/explain/parts.py`)
  have a `PartKind`; the rule whose `part_kind` it is says a part in words (`Stated`) and
  finds the least checked change that lifts it (a `Repair`, or None). An exclusion of the
  rule's `why` is a RULE part (`Exclusion.source` names the rule: its `reason` and `repairs`
  are asked; where they give None, explain's default: the pools it rules out, the rule
  relaxed or dropped), or one of the rule's own kind when it carries an `index`; a `fact` is
  never a part. The hooks import explain's search (`solve/explain/search.py`) in their body:
  a rule module imports nothing of `fitlang.solve` when imported.
"""

from __future__ import annotations

import enum
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from collections.abc import Set as AbstractSet
from datetime import UTC, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from fitlang import messages as msg
from fitlang.check.program import Compare, Origin, Workload
from fitlang.diagnostics import Diagnostic, Related
from fitlang.frozen import Frozen, Mutable
from fitlang.model.problem import Demand, Exclusion, NodeClass, Problem
from fitlang.span import FIRST_CHARACTER

if TYPE_CHECKING:  # at run time eligibility imports the registry, not the other way round
    from fitlang.model.eligibility import ClassFacets
    from fitlang.solve.encode import DemandColumns, Encoding  # solve comes after the rules
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair


class PartKind(enum.StrEnum):
    """The kinds of droppable parts of a policy (`solve/explain/parts.py`); the values are
    what explain's JSON says (`"rule"`)."""

    REPLICAS = "replicas"
    THROUGHPUT = "throughput"
    GANG = "gang"
    RULE = "rule"  # an exclusion a rule makes (`Exclusion.source` names the rule)
    AFFINITY = "affinity"
    EXCLUSIVE = "exclusive"
    SPREAD = "spread"
    LATENCY = "latency"
    CAPACITY = "capacity"
    BUDGET = "budget"
    BUY = "buy"
    POWER = "power"


class CheckReads(enum.Enum):
    """What a rule's `check` reads of a placement, so that a state of a move that differs
    from one found to break no rule on a few nodes is checked there only
    (`solve/verify_changes.py`; the waves of `fitc plan` check a dozen states of ~20,000
    replicas). A rule that states none is checked over the whole state, always."""

    NODE = "node"  # each node's replicas and class, one node at a time (`placed.hosted`)
    # each demand's replicas wherever they run, with those of its related demands: the same
    # workload's (options, latency members), and those its affinities name or that name it
    DEMANDS = "demands"
    FLEET = "fleet"  # the nodes in use per class (`placed.used_per_class`) and the nodes bought


class Stated(Frozen):
    """A part of a conflict in words (`Rule.reason`), and where it stands; explain sets the
    part it states. Not a `diagnostics.Related`: a part may stand nowhere in the policy
    (`origin` None: still one of the conflict's sentences), and explain's JSON writes its
    part's kind and subject; `related()` is the diagnostic's view of it."""

    text: str
    origin: Origin | None
    part: Part | None = None

    def related(self) -> Related | None:
        """The part as a diagnostic's related location (None where it stands nowhere)."""
        if self.origin is None:
            return None
        return Related(self.origin.path, self.origin.span, self.text)


class Unsatisfiable(Frozen):
    """A clause of a rule that no node satisfies (W0101): where it stands, as the warning
    names it, and what the nodes have instead (`detail`, starting "; ", or empty)."""

    origin: Origin | None
    rule: str
    detail: str = ""


class Fleet:
    """The owned and offered node classes a program's W0101 warnings read, with what several
    rules ask of them worked out once (not once per workload)."""

    def __init__(self, classes: list[NodeClass]) -> None:
        self.classes = classes

    @cached_property
    def with_gpus(self) -> list[NodeClass]:
        return [c for c in self.classes if c.accelerator is not None and c.capacity["gpu"] > 0]


class Owners(Protocol):
    """Node name -> its class, for the nodes of a placement (`verify._Owners`)."""

    def get(self, name: Any, default: Any = None) -> Any: ...

    def __getitem__(self, name: str) -> NodeClass: ...

    def __contains__(self, name: Any) -> bool: ...


class PairsPlaced(AbstractSet[tuple[str, int]]):
    """The (demand, replica) pairs of a placement read by column (`verify_columns`), where
    each replica is in its demand's range and placed once: whether a demand has all its
    replicas is then a count, and the set is made only when something asks for its pairs
    (at 50,000 nodes 159,000 pairs, 0.044 CPU s, and `replicas.check` asking each demand's
    pairs 0.03 more, where every demand has its replicas)."""

    def __init__(self, names: list[str], replicas: list[int], placed: Counter) -> None:
        self.names, self.replicas, self.placed = names, replicas, placed

    def has_all(self, name: str, replicas: int) -> bool:
        return self.placed.get(name, 0) == replicas

    @cached_property
    def pairs(self) -> set[tuple[str, int]]:
        return set(zip(self.names, self.replicas))

    def __contains__(self, pair: object) -> bool:
        return pair in self.pairs

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(self.pairs)

    def __len__(self) -> int:
        return len(self.pairs)


class Placed(Mutable):
    """A placement as `verify` has read it, what every `check` reads."""

    problem: Problem
    owner: Owners
    demands: dict[str, Demand]  # name -> demand
    hosted: dict[str, Counter]  # node -> demand name -> replicas there
    placed_on: dict[str, Counter]  # demand name -> node -> replicas there
    seen: set[tuple[str, int]] | PairsPlaced  # (demand name, replica) placed
    placed: Counter  # demand name -> replicas placed
    unplaced: dict[str, list[int]]  # demand name -> replica numbers listed as unplaced
    bought: set[str]  # offer nodes the placement buys
    nodes_of: dict[str, int]  # class id -> its nodes in this placement
    root: str = ""  # the policy's root file: where a violation with no place in it points
    # what checks of many placements over the same classes and `nodes_of` share (the parts of
    # a plan's states, `verify_changes`: thousands of reads of a few demands each); None: none
    shared: dict[str, Any] | None = None

    @cached_property
    def used_per_class(self) -> Counter:
        return used_per_class(self.owner, self.hosted, self.bought)

    def violation(self, detail: str, origin: Origin | None) -> Diagnostic:
        """A rule the placement breaks (E0503), where the rule stands."""
        return violation(self.root, detail, origin)

    def step(self, step: int) -> str:
        """A step of the horizon as a violation names it: `step 30 (2026-12-08T06:00Z)`. An
        operations team reads the instant; the step is what the placement's runs count."""
        timeline = self.problem.timeline
        if timeline is None:
            return f"step {step}"
        moment = timeline.start + timedelta(seconds=step * timeline.step_seconds)
        return f"step {step} ({moment.astimezone(UTC):%Y-%m-%dT%H:%MZ})"


def violation(root: str, detail: str, origin: Origin | None) -> Diagnostic:
    """E0503 at `origin`, or at the first character of `root` for a violation with no place in
    the policy (a total over the whole placement, its stated objective)."""
    return msg.PlacementViolation(detail=detail).diagnostic(
        origin.path if origin else root, origin.span if origin else FIRST_CHARACTER
    )


def used_per_class(owner: Owners, hosted: dict[str, Counter], bought: set[str]) -> Counter:
    """Class id -> its nodes in use: hosting a replica, or bought."""
    used = {node for node, counts in hosted.items() if any(counts.values())}
    used |= {node for node in bought if node in owner}
    return Counter(owner[node].id for node in used)


class TopologyValues:
    """A class's domains in these topologies: a rule's `OnNodes.same` key. Equal where the
    topologies are, and refers to nothing else (no problem), so that what is worked out from
    the keys can be shared by workloads alike (`pack._equivalent_groups`: 70 groupings for
    1,158 workloads on the inventory shape at 10,000 nodes)."""

    __slots__ = ("topologies",)

    def __init__(self, topologies: tuple[str, ...]) -> None:
        self.topologies = topologies

    def __call__(self, node_class: NodeClass) -> tuple[str | None, ...]:
        return tuple(node_class.topology_value(t) for t in self.topologies)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TopologyValues) and other.topologies == self.topologies

    def __hash__(self) -> int:
        return hash(self.topologies)


def domain_of(node: str, node_class: NodeClass, topology: str) -> str | None:
    """The domain of `topology` a node is in (`node`: the node itself; None: it has none)."""
    return node if topology == "node" else node_class.topology_value(topology)


def spread_least(counts: Iterable[int], domains: int, min_domains: int) -> int:
    """What a spread's skew is measured from: the replicas in its emptiest domain (`counts` over
    the `domains` that exist; one not counted holds none), or none while fewer domains than
    `min_domains` exist, as Kubernetes' `minDomains` has the global minimum 0 then, so that
    each domain holds at most the skew (a spread over regions met by buying in one region
    is not, with `min_domains 2`)."""
    counted = list(counts)
    if domains < min_domains or len(counted) < domains:
        return 0
    return min(counted, default=0)


class GroupKey:
    """What every constraint group key derives from: a rule's rows carry a frozen dataclass
    of the rule's own, subclassing this (`solve/groups.Group` is this type), so that a rule
    added in one module needs no edit of `solve/groups.py`. The solver and explain read a key
    by its type and fields, never by a name."""

    __slots__ = ()


class Rows(Frozen):
    """A rule's rows of the linear model, by phase (see the module's docstring); `rank`
    orders rules within a phase before `RULES` does (lower first)."""

    columns: Callable[[Encoding, DemandColumns], None] | None = None
    placed: Callable[[Encoding, Demand, bool], None] | None = None
    fleet: Callable[[Encoding, bool], None] | None = None
    per_class: Callable[[Encoding, NodeClass], None] | None = None
    limits: Callable[[Encoding], None] | None = None
    relations: Callable[[Encoding, Demand], None] | None = None
    rank: int = 0
    # after the model is made, for the relaxation that lets replica counts be fractional
    # (`Encoding.relax_replicas`) and the rounding back (`whole_counts`): whether the rule
    # needs a demand's counts whole; how it groups the demand's classes for rounding (None:
    # it does not; a demand two rules group keeps its counts whole)
    keeps_whole: Callable[[Encoding, Demand], bool] | None = None
    rounding: Callable[[Encoding, Demand], Rounding | None] | None = None
    # the start values of the rule's columns for a known placement (`Encoding.start_values`):
    # (encoding, demand, the demand's replicas per class, nodes opened per class, values by
    # column, to fill)
    start: Callable[[Encoding, Demand, dict[str, int], dict[str, int], dict[int, float]], None] \
        | None = None


class Rounding(Frozen):
    """How a rule groups a demand's eligible classes when its fractional counts are rounded
    (`Rows.rounding`): whole totals per group first, then per class. `balanced`: the group
    totals are rounded keeping the gap between the largest and the smallest (a spread's
    domains; classes in no group form one group of their own), else each keeps its total
    (latency's reach groups). `columns`: the rule's own columns that may be fractional too."""

    groups: Mapping[Any, list[str]]  # group key (a domain, a reach) -> class ids
    balanced: bool = False
    columns: tuple[int, ...] = ()


class OnNodes(Frozen):
    """A rule's say in per-node packing (each optional)."""

    # pairs of workloads that never share a node (either way round), in a fixed order
    apart: Callable[[Problem], Iterable[tuple[str, str]]] | None = None
    # workloads whose nodes host nothing else
    alone: Callable[[Problem], Iterable[str]] | None = None
    # the workloads that must already be on a node before a replica of `demand` joins it
    together: Callable[[Demand], Iterable[str]] | None = None
    # what a class must have in common with the class a replica of `demand` was sent to for
    # the rule's counts to hold when the replica moves there (None: anything goes); asked
    # once per demand, the answer asked per class
    same: Callable[[Problem, Demand], Callable[[NodeClass], Hashable] | None] | None = None


class Rule(Frozen):
    """One rule's hooks (see the module's docstring); `name` as the language calls it."""

    name: str
    reads: Callable[[Workload], Hashable] | None = None
    excludes: Callable[[Workload, ClassFacets], np.ndarray | None] | None = None  # None: none
    # a rule asked per workload (no `reads`): what its `excludes` reads of the workload (hashable;
    # capacity: the requests), so that workloads that read the same in every rule share an answer
    sized_by: Callable[[Workload], Hashable] | None = None
    why: Callable[[Workload, NodeClass], Iterable[Exclusion]] | None = None
    last_resort: bool = False
    warnings: Callable[[Workload, Fleet], Iterable[Unsatisfiable]] | None = None
    check: Callable[[Placed], Iterable[Diagnostic]] | None = None
    check_reads: CheckReads | None = None  # what `check` reads (None: the whole placement)
    rows: Rows | None = None
    packing: OnNodes | None = None
    # explain (`solve/explain/`): the kind of the parts of a policy that are this rule's (a
    # part an exclusion of its `why` makes is a RULE part, unless the exclusion has an
    # `index`: then it is one of this kind), the sentence a part of the rule gets in a
    # conflict (None: explain's default, the pools ruled out), and the checked change that
    # lifts it (None: none). Both get the full problem; a hook imports explain's search
    # (`solve/explain/search.py`) in its body, never at import time.
    part_kind: PartKind | None = None
    reason: Callable[[Problem, Part], Stated | None] | None = None
    repairs: Callable[[Problem, Part, float], Repair | None] | None = None


def typed(value: Any) -> Any:
    """A value with its type, as a key: 1 and 1.0 and True are equal, but not the same value."""
    if isinstance(value, (tuple, list)):
        return (type(value), tuple(typed(v) for v in value))
    if isinstance(value, (set, frozenset)):
        return (type(value), frozenset(typed(v) for v in value))
    return (type(value), value)


def values_key(values: Iterable[Any] | None) -> tuple | None:
    """A list of values a rule reads (None: the workload does not state it), as a key."""
    return None if values is None else tuple(typed(v) for v in values)


def predicate_key(predicate: Any) -> Any:
    """A predicate as a key, without where it stands in the source."""
    if isinstance(predicate, Compare):
        return ("compare", predicate.subject, predicate.op, typed(predicate.value))
    items = getattr(predicate, "items", None)
    if items is not None:
        return (type(predicate).__name__, tuple(predicate_key(i) for i in items))
    item = getattr(predicate, "item", None)
    if item is not None:
        return (type(predicate).__name__, predicate_key(item))
    return (type(predicate).__name__, typed(getattr(predicate, "value", predicate)))


def few(values: list[str]) -> str:
    """The first six of a list for a message, then "..."."""
    shown = values[:6] + (["..."] if len(values) > 6 else [])
    return ", ".join(shown)


def quoted(values: list[str]) -> str:
    return "[" + ", ".join(f'"{v}"' for v in values) + "]"
