"""Why no placement exists, in source terms, and the smallest repairs that work.

Three outcomes, never more than what was proven:
- `feasible`: a placement of every replica was found (not merely "no conflict was found");
- `conflict`: no placement exists, and these rules conflict;
- `undecided`: neither was shown in the time allowed (what was tried is said).

A conflict is a set of `Part`s of the policy: a rule (an affinity, a spread, a `require`, a
`dedicated` pool left untolerated, a budget, a buy limit, ...) or a need (a workload's
replicas, a pool's node count). It is checked at the level of the policy, by solving
restricted copies of the problem: with only the named parts enforced (every other rule
dropped, every other workload optional, every other pool unbounded) no placement exists, and
with any one of them dropped as well, one does. The conflict is narrowed by deletion, which
keeps both properties by construction; a Z3 unsat core (small fleets, node by node) or the
dual support of the elastic LP relaxation (fleet scale) only picks the order of the trials.

Repairs change one part of the full policy by the least amount that works, and each is
checked by finding a placement of the repaired policy.
"""

from __future__ import annotations

import dataclasses
import enum
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from fitlang import messages as msg
from fitlang.check.program import Origin
from fitlang.diagnostics import Diagnostic, Fix
from fitlang.model.problem import (
    Demand,
    NodeClass,
    NodeOwners,
    OptionGroup,
    Problem,
    node_limit,
    one_class_per_node,
    replicas_per_node,
)
from fitlang.solve.backends import HighsBackend, Z3Backend
from fitlang.solve.encode import encode
from fitlang.solve.groups import (
    AffinityGroup,
    BudgetGroup,
    BuyGroup,
    CapacityGroup,
    EligibleGroup,
    ExclusiveGroup,
    GangGroup,
    Group,
    LatencyGroup,
    PowerGroup,
    ReplicasGroup,
    SpreadGroup,
    ThroughputGroup,
)
from fitlang.solve.linear import LinearModel, Status
from fitlang.solve.pack import pack
from fitlang.solve.pack import repair as place_leftovers
from fitlang.solve.placement import opener
from fitlang.syntax.nodes import Span

MAX_EXTRA_NODES = 4096
REPAIR_SECONDS = 10.0  # the default budget for the repairs, after the conflict is found
PER_NODE_MAX_NODES = 160  # up to this many nodes a check is the exact per-node model
# the exclusions that are facts about the node, not rules the user may drop
FACTS = ("resources", "gpu { count", "option ")


@dataclass(frozen=True, order=True)
class Part:
    """One droppable part of a policy. `kind` is one of: replicas, throughput, gang (option
    groups), rule (a rule that keeps a workload off pools; `key` is its text), affinity and
    spread (`index`: the rule's index), exclusive, latency (`key`: the location), capacity
    (`subject`: a pool's class id), budget, buy (`index`: the buy block's; `key` "new" for
    offers no `buy` block allows), power (`index`: the cap's)."""

    kind: str
    subject: str = ""  # the workload (as the policy names it) or the class id
    key: str = ""
    index: int | None = None  # of an affinity, spread, `buy` block or power cap

    @property
    def position(self) -> int:
        """The index of a part that has one (an affinity, spread, `buy` block, power cap)."""
        if self.index is None:
            raise ValueError(f"{self.kind} part of {self.subject!r} has no index")
        return self.index


@dataclass
class Reason:
    text: str
    origin: Origin | None
    part: Part | None = None


@dataclass(frozen=True)
class Repair:
    """One checked change to the policy. `fix` is the literal edit where the change is one
    (a language server can offer it as a code action); `cost` is the hourly cost of the
    placement that was found with the change."""

    part: Part
    text: str
    origin: Origin | None = None
    before: str | None = None
    after: str | None = None
    cost: Fraction | None = None
    fix: Fix | None = None
    step: int | None = field(default=None, compare=False)  # the amount a search settled on

    def as_json(self) -> dict:
        where = self.origin
        return {"rule": self.part.kind, "subject": self.part.subject or None,
                "text": self.text, "path": where.path if where else None,
                "line": where.span.line if where else None,
                "column": where.span.column if where else None,
                "from": self.before, "to": self.after,
                "checked_cost": None if self.cost is None else float(self.cost),
                "fix": None if self.fix is None else {
                    "title": self.fix.title, "line": self.fix.span.line,
                    "column": self.fix.span.column, "end_line": self.fix.span.end_line,
                    "end_column": self.fix.span.end_column, "text": self.fix.text}}


class ExplainOutcome(enum.StrEnum):
    """What `explain` showed; the values are what the JSON output says."""

    CONFLICT = "conflict"  # no placement exists, and these rules conflict
    FEASIBLE = "feasible"  # a placement of every replica was found
    UNDECIDED = "undecided"  # neither, in the time allowed


@dataclass
class Explanation:
    outcome: ExplainOutcome
    reasons: list[Reason] = field(default_factory=list)
    repairs: list[Repair] = field(default_factory=list)
    pair: list[Repair] = field(default_factory=list)  # when no single repair is enough
    no_single_repair: bool = False
    repairs_cut_short: bool = False  # the repair budget ran out before every repair was tried
    minimal: bool = True  # every part was shown to be needed (False: time ran out)
    tried: str = ""  # for `undecided`: what was tried
    conflict_seconds: float = 0.0
    repair_seconds: float = 0.0
    repair_budget: float = REPAIR_SECONDS

    @property
    def feasible(self) -> bool:
        return self.outcome is ExplainOutcome.FEASIBLE


# ---- the policy's parts, and the problem with some of them dropped -----------------------


def _exclusive(demand: Demand, index: int) -> bool:
    origin = demand.spans.get("exclusive")
    return origin is not None and demand.affinities[index].origin is origin


def _affinity_part(demand: Demand, index: int) -> Part:
    if _exclusive(demand, index):
        return Part("exclusive", demand.workload)
    return Part("affinity", demand.workload, index=index)


def _exclusion_part(demand: Demand, rule: str) -> Part | None:
    if rule.startswith(FACTS):
        return None
    if rule.startswith("spread "):
        topology = rule.removeprefix("spread ")
        index = next(i for i, s in enumerate(demand.spreads) if s.topology == topology)
        return Part("spread", demand.workload, index=index)
    return Part("rule", demand.workload, rule)


def parts(problem: Problem) -> list[Part]:
    """Every droppable part of the problem, in a fixed order."""
    found: dict[Part, None] = {}
    class_ids = {c.id for c in problem.classes}
    for demand in problem.demands:
        if demand.group is None:
            found[Part("replicas", demand.name)] = None
        if demand.exclusive:
            found[Part("exclusive", demand.workload)] = None
        for index in range(len(demand.affinities)):
            found[_affinity_part(demand, index)] = None
        for index in range(len(demand.spreads)):
            found[Part("spread", demand.workload, index=index)] = None
        for rule in demand.latency:
            found[Part("latency", demand.workload, rule.location)] = None
        for class_id, reasons in demand.failing.items():
            if class_id in class_ids:
                for reason in reasons:
                    part = _exclusion_part(demand, reason.rule)
                    if part is not None:
                        found[part] = None
    for group in problem.option_groups:
        found[Part("throughput", group.workload)] = None
        if group.gang:
            found[Part("gang", group.workload)] = None
    for node_class in problem.classes:
        if not node_class.provisioned:
            found[Part("capacity", node_class.id)] = None
    if problem.budget is not None:
        found[Part("budget")] = None
    for group in sorted(problem.buy_limits):
        found[Part("buy", index=group)] = None
    for index in range(len(problem.power_caps)):
        found[Part("power", index=index)] = None
    return list(found)


@dataclass
class Trial:
    """A copy of the problem with some parts dropped; `optional`: demands (and option groups)
    whose replicas need not all be placed."""

    problem: Problem
    optional: set[str] = field(default_factory=set)


def _copy(problem: Problem) -> Problem:
    """A copy a trial may change: new classes, demands and the lists and maps trials edit;
    what those point at (origins, rules' sources) is shared."""
    def demand(d: Demand) -> Demand:
        return dataclasses.replace(d, eligible=list(d.eligible), excluded=dict(d.excluded),
                                   affinities=list(d.affinities), spreads=list(d.spreads),
                                   latency=[dataclasses.replace(r) for r in d.latency])

    return dataclasses.replace(problem, classes=[dataclasses.replace(c) for c in problem.classes],
                               demands=[demand(d) for d in problem.demands],
                               spare_offers=list(problem.spare_offers),
                               buy_limits=dict(problem.buy_limits),
                               power_caps=list(problem.power_caps),
                               option_groups=[dataclasses.replace(g) for g in problem.option_groups],
                               symmetric=[list(run) for run in problem.symmetric])


def with_parts(problem: Problem, active: Callable[[Part], bool]) -> Trial:
    """The problem with every part for which `active` is false dropped: rules deleted (pools
    they alone kept a workload off become eligible), replicas optional, pools and buy blocks
    unbounded, budget and power caps gone. Workloads neither required nor needed by an
    enforced affinity are left out (placing none of them is always allowed)."""
    alive = _alive(problem, active)
    trial = _copy(dataclasses.replace(
        problem, demands=[d for d in problem.demands if d.workload in alive],
        option_groups=[g for g in problem.option_groups if g.workload in alive]))
    optional: set[str] = set()
    position = {c.id: i for i, c in enumerate(trial.classes)}
    for demand in trial.demands:
        if demand.group is None and not active(Part("replicas", demand.name)):
            optional.add(demand.name)
        demand.exclusive = demand.exclusive and active(Part("exclusive", demand.workload))
        kept = [i for i in range(len(demand.affinities)) if active(_affinity_part(demand, i))]
        demand.affinities = [demand.affinities[i] for i in kept]
        demand.spreads = [s for i, s in enumerate(demand.spreads)
                          if active(Part("spread", demand.workload, index=i))]
        demand.latency = [r for r in demand.latency
                          if active(Part("latency", demand.workload, r.location))]
        _readmit(demand, problem.demand(demand.name), trial, position, active)
    for group in trial.option_groups:
        if not active(Part("throughput", group.workload)):
            optional.add(group.workload)
        if group.gang and not active(Part("gang", group.workload)):
            group.gang = False
    if trial.budget is not None and not active(Part("budget")):
        trial.budget = None
    trial.power_caps = [cap for i, cap in enumerate(trial.power_caps)
                        if active(Part("power", index=i))]
    return _unbounded(_without_idle(Trial(trial, optional)), active)


def _unbounded(trial: Trial, active: Callable[[Part], bool]) -> Trial:
    """Pools whose count is dropped, and the offers of `buy` blocks whose limit is, get as
    many nodes as the trial has replicas (enough for any placement). Only pools a workload
    of the trial may use are grown: nothing is placed on the others, so their count cannot
    matter (and naming tens of thousands of nodes costs)."""
    problem = trial.problem
    enough = sum(d.replicas for d in problem.demands)
    used = {c for d in problem.demands for c in d.eligible}
    grown: set[str] = set()
    for node_class in problem.classes:
        if not node_class.provisioned and not active(Part("capacity", node_class.id)) \
                and node_class.id in used:
            _grow(node_class, max(node_class.count, enough))
            grown.add(node_class.id)
    for group in list(problem.buy_limits):
        if not active(Part("buy", index=group)):
            del problem.buy_limits[group]
            for node_class in problem.classes:
                if node_class.buy_group == group and node_class.count < enough \
                        and node_class.id in used:
                    _grow(node_class, enough)
                    grown.add(node_class.id)
    # interchangeable runs are of one node each: a grown class is no longer one of them
    problem.symmetric = [run for run in problem.symmetric if not grown.intersection(run)]
    return trial


def _readmit(demand: Demand, original: Demand, trial: Problem, position: dict[str, int],
             active: Callable[[Part], bool]) -> None:
    """Pools kept off only by dropped rules (never by a fact: too small, no GPUs) become
    eligible again."""
    added = False
    for class_id, reasons in original.failing.items():
        if class_id not in position or class_id in demand.eligible:
            continue
        needed = [_exclusion_part(original, r.rule) for r in reasons]
        if any(p is None or active(p) for p in needed):
            continue
        demand.eligible.append(class_id)
        demand.excluded.pop(class_id, None)
        added = True
    if added:
        demand.eligible.sort(key=position.__getitem__)
    # a pool that fits no replica (once the rules are dropped) is not worth a variable
    demand.eligible = [c for c in demand.eligible
                       if replicas_per_node(demand, trial.node_class(c)) > 0]


def _without_idle(trial: Trial) -> Trial:
    """Optional demands that no enforced positive affinity needs: placing none of them is
    always allowed, so they change nothing and are left out (fleet-scale trials stay small)."""
    problem = trial.problem
    needed = {r.target for d in problem.demands for r in d.affinities if not r.anti}

    def idle(demand: Demand) -> bool:
        name = demand.group if demand.group is not None else demand.name
        return name in trial.optional and not ({demand.name, demand.workload} & needed)

    kept = [d for d in problem.demands if not idle(d)]
    problem.demands = kept
    names = {d.name for d in kept}
    problem.option_groups = [g for g in problem.option_groups
                             if any(n in names for n in g.demands)]
    return trial


def _grow(node_class: NodeClass, count: int) -> None:
    """Give a class (in a trial copy of the problem) `count` nodes, naming the new ones."""
    existing = len(node_class.node_names)
    if count > existing:  # (joining names makes every one of them: only when some are new)
        node_class.node_names = node_class.node_names + tuple(
            f"{node_class.pool}-extra-{i}" for i in range(existing, count))
    node_class.count = count


# ---- deciding: is there a placement? ------------------------------------------------------


@dataclass
class Check:
    placed: bool | None  # True: a placement was found; False: proven none; None: unknown
    cost: Fraction | None = None


def _now() -> float:
    return time.monotonic()


def _left(deadline: float) -> float:
    return max(0.05, deadline - _now())


def decide(trial: Trial, deadline: float, cheapest: bool = False, packed: bool = True) -> Check:
    """Find a placement of every required replica, or prove there is none. Up to
    PER_NODE_MAX_NODES nodes, the exact model node by node; above, the aggregate model (its
    infeasibility is a proof, being a relaxation) and a placement packed node by node (without
    `packed`, a solution of the aggregate model is only `None`: not shown impossible)."""
    if _now() >= deadline:
        return Check(None)
    problem = trial.problem
    nodes = sum(c.count for c in problem.classes)
    exact = nodes <= PER_NODE_MAX_NODES
    model_problem = one_class_per_node(problem) if exact else problem
    encoding = encode(model_problem, must_place=True)
    if trial.optional:
        _drop_required(encoding.model, trial.optional)
    objective = encoding.objective("cost") if cheapest else {}
    outcome = HighsBackend().minimise(encoding.model, objective, _left(deadline))
    if outcome.status is Status.INFEASIBLE:
        return Check(False)
    if outcome.solution is None:
        return Check(None)
    cost = sum((c.price * outcome.solution[encoding.u[c.id]] for c in model_problem.classes),
               Fraction(0))
    if exact:
        return Check(True, cost)
    if not packed:
        return Check(None, cost)

    counts = encoding.whole_counts(outcome.solution)
    planned = {c.id: outcome.solution[encoding.u[c.id]] for c in problem.classes}
    if _fits_apart(problem, counts, planned):
        return Check(True, cost)
    packing = pack(problem, counts, planned)
    if not packing.complete:  # as `solve` does next: place the leftovers elsewhere
        place_leftovers(problem, packing, opener(problem, planned))
    return Check(True, cost) if packing.complete else Check(None)


def _fits_apart(problem: Problem, counts: dict[tuple[str, str], int],
                planned: dict[str, object]) -> bool:
    """Do the counts fit with each workload on nodes of its own: per class, the nodes each
    workload's replicas fill (as many to a node as fit) within the nodes the solution uses?
    Then that is a placement node by node, when no workload has a rule between nodes (an
    affinity or a spread: the rest, eligibility, gangs, reach, `exclusive`, hold per class
    or on nodes of its own) and the nodes of each class are alike. Fewer nodes than the
    solution's keep the budget, power caps and `buy` limits. It saves packing node by node
    (a tenth of a second per thousand nodes) for the many trials of a narrowing that are
    plain capacity."""
    if any(d.affinities or d.spreads for d in problem.demands):
        return False
    needed: dict[str, int] = {}
    for (name, class_id), count in counts.items():
        if not count:
            continue
        node_class = problem.node_class(class_id)
        fit = node_limit(problem.demand(name), node_class)
        if node_class.node_capacity or fit <= 0:
            return False
        needed[class_id] = needed.get(class_id, 0) + -(-count // fit)
    return all(nodes <= min(problem.node_class(c).count, math.floor(planned[c] + 1e-9))
               for c, nodes in needed.items())


def feasible(problem: Problem, time_limit: float | None = None) -> bool:
    """Was a placement of every replica found (within `time_limit`)?"""
    return decide(Trial(_copy(problem)), _now() + (time_limit or 30.0)).placed is True


# ---- the conflict ------------------------------------------------------------------------


def explain(problem: Problem, time_limit: float | None = 30.0,
            repair_budget: float | None = REPAIR_SECONDS) -> Explanation:
    started = _now()
    deadline = started + (time_limit or 30.0)
    fleet = sum(c.count for c in problem.classes) > PER_NODE_MAX_NODES
    everything = parts(problem)
    start = _transport_start(problem, deadline) if fleet else None
    if start is not None:  # a part of the policy admits no placement: neither does the whole
        conflict, minimal = _narrow(problem, everything, start, deadline, proven=True)
        return _explained(problem, conflict, minimal, started, repair_budget)
    proof = _fleet_proof(problem, deadline) if fleet else None
    if proof is None or not proof.infeasible:  # not proven by the LP: decide it
        full = decide(Trial(_copy(problem)), deadline)
        if full.placed is True:
            return Explanation(ExplainOutcome.FEASIBLE, conflict_seconds=_now() - started)
        if full.placed is None:
            tried = _tried(problem, time_limit, "no placement was found and none was proven "
                           "impossible")
            return Explanation(ExplainOutcome.UNDECIDED, tried=tried,
                               conflict_seconds=_now() - started)
    if proof is not None and proof.infeasible:
        hint = _fleet_hint(problem, proof)
    else:
        hint = _core_hint(problem, min(deadline, _now() + max(1.0, (deadline - _now()) / 3)))
    conflict, minimal = _narrow(problem, everything, hint, deadline)
    return _explained(problem, conflict, minimal, started, repair_budget)


def _explained(problem: Problem, conflict: list[Part], minimal: bool, started: float,
               repair_budget: float | None) -> Explanation:
    """The conflict in words, and the repairs within their budget."""
    explanation = Explanation(ExplainOutcome.CONFLICT, [_reason(problem, part) for part in conflict],
                              minimal=minimal, conflict_seconds=_now() - started)
    budget = REPAIR_SECONDS if repair_budget is None else repair_budget
    explanation.repair_budget = budget
    repairs_started = _now()
    if budget > 0:  # 0: the conflict alone was asked for (`--repair-budget 0`)
        _repairs(problem, conflict, explanation, repairs_started + budget)
    explanation.repair_seconds = _now() - repairs_started
    return explanation


def _tried(problem: Problem, time_limit: float | None, what: str) -> str:
    nodes = sum(c.count for c in problem.classes)
    how = ("the exact model node by node" if nodes <= PER_NODE_MAX_NODES else
           "the model by pool (HiGHS), then packing node by node")
    limit = f"{time_limit:g} s" if time_limit else "the time allowed"
    return f"{what} within {limit} ({how}, {nodes} nodes); raise --time-limit"


def _narrow(problem: Problem, everything: list[Part], hint: list[Part],
            deadline: float, proven: bool = False) -> tuple[list[Part], bool]:
    """Deletion, by chunks: drop a run of parts while the rest still admit no placement,
    halving the run when that fails, down to single parts. What is left admits no placement
    (each step kept that), and dropping any one of it admits one: it was tried alone against
    a superset of what is left, and fewer rules only make placing easier.

    It starts from the hint when the hint alone admits no placement (one check), trying the
    hint's first parts first (`proven`: the caller has shown that already); parts that cannot
    matter any more (the rules of a workload no longer required, a pool no required workload
    may use) are dropped without a check."""
    hint = [p for p in dict.fromkeys(hint) if p in set(everything)]
    named = set(hint)
    order = [p for p in everything if p not in named] + hint
    kept = set(everything)
    if proven:
        kept, order = set(named), hint
    elif hint and _now() < deadline:
        if decide(with_parts(problem, named.__contains__), deadline).placed is False:
            kept, order = set(named), [p for p in hint if p in kept]
    pending = list(order)
    chunk = max(1, len(pending) // 2)
    unproven: list[Part] = []  # kept because dropping it was not shown impossible, not proven possible
    while pending:
        inert = _inert(problem, kept)
        if inert:
            kept -= inert
            pending = [p for p in pending if p not in inert]
            continue
        if _now() >= deadline:
            return sorted(kept, key=_reading_order), False
        run = pending[:chunk]
        rest = kept.difference(run)
        # packing node by node is what costs at fleet scale: it waits for the parts kept,
        # unless those were few from the start (then a part found needed is done with)
        packed = proven and len(run) == 1
        check = decide(with_parts(problem, rest.__contains__), deadline, packed=packed)
        if check.placed is False:
            kept = rest
            pending = pending[len(run):]
            chunk = min(len(pending), chunk * 2) or 1
        elif len(run) > 1:
            chunk = max(1, len(run) // 2)
        else:
            if check.placed is None:  # (without packing: feasible by the model by pool)
                unproven.append(run[0])
            pending = pending[1:]
    minimal = True
    for part in unproven:  # a placement without it, packed node by node, or it goes
        rest = kept - {part}
        check = decide(with_parts(problem, rest.__contains__), deadline)
        if check.placed is False:
            kept = rest
        minimal = minimal and check.placed is not None
    return sorted(kept, key=_reading_order), minimal


def _alive(problem: Problem, active: Callable[[Part], bool]) -> set[str]:
    """Workloads a restricted problem keeps: those whose replicas (or throughput) are
    required, and the targets of their positive affinity rules that are enforced."""
    needs, follows = _needs_and_follows(problem)
    alive = {workload for workload, part in needs if active(part)}
    grew = True
    while grew:
        grew = False
        for workload, part, target in follows:
            if workload in alive and target not in alive and active(part):
                alive.add(target)
                grew = True
    return alive


def _needs_and_follows(problem: Problem) -> tuple[list[tuple[str, Part]],
                                                   list[tuple[str, Part, str]]]:
    """Per demand, its workload and the part that requires it; per positive affinity rule, its
    workload, its part and its target's workload. Worked out once per problem: a narrowing
    asks for the workloads alive tens of times, over a thousand workloads at fleet scale."""
    cached = getattr(problem, "_needs_and_follows", None)
    # the list itself is kept (not its id, which a later list could reuse)
    if cached is not None and cached[0] is problem.demands and cached[1] == len(problem.demands):
        return cached[2]
    needs = [(d.workload, Part("replicas", d.name) if d.group is None else Part("throughput", d.group))
             for d in problem.demands]
    workload_of = {d.name: d.workload for d in problem.demands}
    follows = [(d.workload, _affinity_part(d, index), workload_of[rule.target])
               for d in problem.demands for index, rule in enumerate(d.affinities)
               if not rule.anti and rule.target in workload_of]
    problem._needs_and_follows = (problem.demands, len(problem.demands), (needs, follows))
    return needs, follows


def _inert(problem: Problem, kept: set[Part]) -> set[Part]:
    """Parts of `kept` whose dropping changes no restricted problem: rules of workloads that
    are not alive, and pools no alive workload may use or be readmitted to."""
    alive = _alive(problem, kept.__contains__)
    # a pool kept off by a fact (too small, no GPUs) is never readmitted
    used = {c for d in problem.demands if d.workload in alive
            for c in (*d.eligible, *(c for c, reasons in d.failing.items()
                                     if not any(r.rule.startswith(FACTS) for r in reasons)))}
    inert = set()
    for part in kept:
        if part.kind in ("replicas", "throughput", "budget", "buy", "power"):
            continue
        if part.kind == "capacity":
            if part.subject not in used:
                inert.add(part)
        elif part.subject not in alive:
            inert.add(part)
    return inert


def _fleet_proof(problem: Problem, deadline: float):
    from fitlang.solve.elastic import elastic

    encoding = encode(problem, must_place=True)
    proof = elastic(encoding.model, _left(deadline))
    proof.encoding = encoding
    return proof


def _transport_start(problem: Problem, deadline: float) -> list[Part] | None:
    """At fleet scale, before any encoding: the elastic transport LP (replicas and pools
    alone) names the workloads that fall short and those competing for the full pools; of
    the competitors, the fewest of the largest that still leave a shortfall (a bisection
    over LPs of tens of workloads) are kept. Their parts, the pools and the limits are the
    start of the narrowing when they alone admit no placement (one check of the aggregate
    model): that proves the whole policy admits none. None: not shown this way."""
    from fitlang.solve.elastic import transport

    shortfall = transport(problem, time_limit=_left(deadline))
    if not shortfall.infeasible:
        return None
    size = _workload_sizes(problem)
    competing = sorted(shortfall.competing, key=lambda w: (size[w], w), reverse=True)

    def short_with(count: int) -> bool:
        chosen = shortfall.short | set(competing[:count])
        return transport(problem, chosen, _left(deadline)).infeasible is True

    if not short_with(len(competing)):
        return None
    low, high = 0, len(competing)  # short_with(high) holds; find the least such count
    while low < high and _now() < deadline:
        middle = (low + high) // 2
        if short_with(middle):
            high = middle
        else:
            low = middle + 1
    hint = _hint_of(problem, set(competing[:high]), shortfall.short)
    if _now() >= deadline or \
            decide(with_parts(problem, set(hint).__contains__), deadline).placed is not False:
        return None
    return hint


def _workload_sizes(problem: Problem) -> dict[str, tuple]:
    """What a workload takes, GPUs first."""
    size: dict[str, tuple] = {}
    for demand in problem.demands:
        taken = tuple(demand.replicas * demand.requests[r] for r in ("gpu", "cpu", "memory"))
        size[demand.workload] = max(size.get(demand.workload, taken), taken)
    return size


def _hint_of(problem: Problem, competing: set[str], short: set[str]) -> list[Part]:
    """Every part of the competing workloads, the pools and the limits, every part of the
    workloads that fall short: the competitors first, the ones that fall short last."""
    everything = parts(problem)
    size = _workload_sizes(problem)

    def of(workloads: set[str]) -> list[Part]:
        # the smallest first: deletion drops what comes first where it can, so the conflict
        # keeps the few large workloads rather than many small ones (fewer checks, too)
        return sorted((p for p in everything if p.subject in workloads and p.kind != "capacity"),
                      key=lambda p: (size[p.subject], p.subject))

    pools_and_limits = [p for p in everything if p.kind in ("capacity", "budget", "buy", "power")]
    return of(competing - short) + pools_and_limits + of(short)


def _fleet_hint(problem: Problem, proof) -> list[Part]:
    """The workloads that fall short in the elastic LP, those competing with them for the
    pools that are full (the LP's prices), every part of theirs, the pools and the limits:
    the competitors first, the ones that fall short last."""
    encoding = proof.encoding
    demand_of = {index: name for (name, _), index in encoding.y.items()}
    short = {g.demand if isinstance(g, ReplicasGroup) else g.workload for g in proof.short}
    short_workloads = {problem.demand(n).workload if n in {d.name for d in problem.demands} else n
                       for n in short}
    competing = {problem.demand(demand_of[i]).workload for i in proof.competing if i in demand_of}
    return _hint_of(problem, competing, short_workloads)


def _reading_order(part: Part) -> tuple:
    kinds = ("capacity", "buy", "budget", "power", "rule", "exclusive", "affinity", "spread",
             "latency", "gang", "throughput", "replicas")
    return (kinds.index(part.kind), part.subject, part.key, -1 if part.index is None else part.index)


def _core_hint(problem: Problem, deadline: float) -> list[Part]:
    """The parts behind a Z3 unsat core of the node-by-node model (small fleets; at fleet
    scale when the LP relaxation is feasible, no hint: Z3 does not finish there)."""
    if sum(c.count for c in problem.classes) > PER_NODE_MAX_NODES:
        return []
    exact = one_class_per_node(problem)
    owners = problem.owners()
    core = Z3Backend().unsat_core(encode(exact, must_place=True).model, _left(deadline))
    hint = [p for g in core or [] for p in _group_parts(problem, _owner_group(g, owners))]
    return list(dict.fromkeys(hint))


def _owner_group(group: Group, owners: NodeOwners) -> Group:
    """Node by node each node is a class: its capacity group is its pool's."""
    if isinstance(group, CapacityGroup):
        return CapacityGroup(_class_id(owners, group.class_id))
    return group


def _class_id(owners: NodeOwners | None, name: str) -> str:
    """The id of the class a node `name` is in (node by node, each node is a class of its
    own); other names as they are. Found by name, never by listing every pool's nodes."""
    found = owners.get(name) if owners is not None else None
    return name if found is None else found.id


def _group_parts(problem: Problem, group: Group) -> list[Part]:
    """The parts of the policy a constraint group stands for, read off the key's fields."""
    match group:
        case ReplicasGroup(name) | EligibleGroup(name):
            demand = problem.demand(name)
            found = [Part("replicas", demand.name)] if demand.group is None else []
            if isinstance(group, EligibleGroup):
                found += [p for reasons in demand.failing.values() for r in reasons
                          if (p := _exclusion_part(demand, r.rule)) is not None]
            return found
        case ThroughputGroup(workload):
            return [Part("throughput", workload)]
        case GangGroup(name):
            return [Part("gang", name)]
        case ExclusiveGroup(name):
            return [Part("exclusive", problem.demand(name).workload)]
        case CapacityGroup(class_id):
            node_class = problem.node_class(class_id)
            if node_class.provisioned:  # a `buy` without max_count has no limit to name
                limited = node_class.buy_group in problem.buy_limits
                return [Part("buy", index=node_class.buy_group)] if limited else []
            return [Part("capacity", class_id)]
        case BudgetGroup():
            return [Part("budget")]
        case BuyGroup(buy):
            return [Part("buy", index=buy)]
        case PowerGroup(index):
            return [Part("power", index=index)]
        case LatencyGroup(workload, location):
            return [Part("latency", workload, location)]
        case AffinityGroup(name, index):
            return [_affinity_part(problem.demand(name), index)]
        case SpreadGroup(name, index):
            return [Part("spread", problem.demand(name).workload, index=index)]
    return []


def _drop_required(model: LinearModel, optional: set[str] | frozenset[str],
                   throughput: bool = True) -> None:
    """Drop the rows that require every replica of the `optional` demands (and, with
    `throughput`, the throughput of the optional option groups)."""
    dropped: set[Group] = {ReplicasGroup(name) for name in optional}
    if throughput:
        dropped |= {ThroughputGroup(name) for name in optional}
    kinds = (ReplicasGroup, ThroughputGroup)
    # the type test first: hashing a key per row of a fleet-scale model would cost
    model.constraints = [c for c in model.constraints
                         if not (isinstance(c.group, kinds) and c.group in dropped)]


# ---- the conflict, in words ----------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _reason(problem: Problem, part: Part) -> Reason:
    kind = part.kind
    if kind == "replicas":
        demand = problem.demand(part.subject)
        gang = " as one gang" if demand.gang else ""
        return Reason(f"workload `{demand.name}` needs {_plural(demand.replicas, 'replica')}"
                      f"{gang}, each {_need(demand)}",
                      demand.spans.get("replicas", demand.origin), part)
    if kind == "throughput":
        return dataclasses.replace(_options_reason(problem, part.subject), part=part)
    if kind == "gang":
        group = _group(problem, part.subject)
        first = problem.demand(group.demands[0])
        return Reason(f"workload `{part.subject}` must run all its replicas on one option "
                      "(`gang = true`)", first.spans.get("gang", group.origin), part)
    if kind == "rule":
        return _rule_reason(problem, part)
    if kind in ("affinity", "exclusive", "spread", "latency"):
        return _demand_rule_reason(problem, part)
    if kind == "capacity":
        node_class = problem.node_class(part.subject)
        return Reason(f"pool `{node_class.id}` has {_plural(node_class.count, 'node')} of "
                      f"{_shape(node_class)}", _count_origin(node_class), part)
    if kind == "budget":
        return Reason(f"the budget is {_money(problem.budget)} USD/h", problem.budget_origin, part)
    if kind == "buy":
        group = part.position
        return Reason(f"the `buy` block{_buy_name(problem, group)} allows at most "
                      f"{_plural(problem.buy_limits[group], 'node')}",
                      problem.buy_origins.get(group), part)
    cap = problem.power_caps[part.position]
    return Reason(f"power cap `{cap.name}` allows {float(cap.cap_watts) / 1000:g} kW in {cap.scope}",
                  cap.origin, part)


def _demands_of(problem: Problem, workload: str) -> list[Demand]:
    return [d for d in problem.demands if d.workload == workload]


def _group(problem: Problem, workload: str) -> OptionGroup:
    return next(g for g in problem.option_groups if g.workload == workload)


def _demand_rule_reason(problem: Problem, part: Part) -> Reason:
    demand = _demands_of(problem, part.subject)[0]
    name = part.subject
    if part.kind == "exclusive":
        return Reason(f"`{name}` has `exclusive = true`: no other workload may share its nodes",
                      demand.spans.get("exclusive", demand.origin), part)
    if part.kind == "affinity":
        rule = demand.affinities[part.position]
        verb = "anti_affinity" if rule.anti else "affinity"
        text = f"`{name}` has `{verb} {rule.target} on {rule.topology}`"
        if rule.target == "self" and rule.anti:
            text += f": at most 1 replica per {rule.topology}"
        return Reason(text, rule.origin, part)
    if part.kind == "spread":
        rule = demand.spreads[part.position]
        text = f"`{name}` must spread over {rule.topology} with max_skew {rule.max_skew}"
        if rule.topology == "node":
            text += f" (replicas per node, empty nodes included, differ by at most {rule.max_skew})"
        return Reason(text, rule.origin, part)
    return _latency_reason(problem, name, part.key, part)


def _rule_reason(problem: Problem, part: Part) -> Reason:
    """A rule that keeps a workload off pools it would fit on: which pools, and where."""
    pools, origin = [], None
    for demand in _demands_of(problem, part.subject):
        for class_id, reasons in demand.failing.items():
            if class_id not in {c.id for c in problem.classes}:
                continue
            mine = [r for r in reasons if _exclusion_part(demand, r.rule) == part]
            if mine and _could_fit(problem, demand, class_id, reasons):
                if class_id not in pools:
                    pools.append(class_id)
                origin = origin or mine[0].origin
    listed = ", ".join(f"`{c}`" for c in pools)
    if not pools:  # (only in a conflict not narrowed down: the rule may not be needed)
        return Reason(f"`{part.subject}` has `{part.key}`", origin, part)
    if part.key.startswith("dedicated"):
        return Reason(f"{'pool' if len(pools) == 1 else 'pools'} {listed} {'has' if len(pools) == 1 else 'have'} "
                      f"`{part.key}`, which `{part.subject}` does not tolerate", origin, part)
    return Reason(f"`{part.subject}` has `{part.key}`, which rules out "
                  f"{'pool' if len(pools) == 1 else 'pools'} {listed}", origin, part)


def _could_fit(problem: Problem, demand: Demand, class_id: str, reasons: list) -> bool:
    """Would a replica fit on the pool's nodes, rules aside? (A rule is never blamed for a
    pool that is too small, or has no GPUs, anyway.)"""
    if any(r.rule.startswith(FACTS) for r in reasons):
        return False
    classes = {c.id: c for c in problem.classes}
    return class_id in classes and replicas_per_node(demand, classes[class_id]) > 0


def _options_reason(problem: Problem, workload: str) -> Reason:
    group = _group(problem, workload)
    options = [problem.demand(name) for name in group.demands]
    if all(d.replicas * d.throughput == 1 for d in options):  # sized in replicas per option
        need = " or ".join(f"{_plural(d.replicas, 'replica')} of {d.option} ({_need(d)} each)"
                           for d in options)
        return Reason(f"workload `{workload}` needs {need}"
                      + (", all on one option" if group.gang else ""), group.origin)
    each = ", ".join(f"{d.option} {float(d.throughput):g} per replica of {_need(d)}"
                     for d in options)
    how = "from one option" if group.gang else "from its options"
    return Reason(f"workload `{workload}` needs throughput {float(group.required):g} {how} "
                  f"({each})", group.origin)


def _latency_members(problem: Problem, name: str) -> list[Demand]:
    return next(m for m in problem.latency_demands() if m[0].workload == name)


def _latency_reason(problem: Problem, name: str, location: str, part: Part | None = None) -> Reason:
    members = _latency_members(problem, name)
    rule = next(r for r in members[0].latency if r.location == location)
    regions = sorted({c.site.code for d in members for c in map(problem.node_class, d.eligible)
                      if problem.within_reach(rule, c)})
    reach = (f"regions within reach: {', '.join(regions)}" if regions else
             f"no region `{name}` may run in is within {float(rule.limit_ms):g} ms of {location}")
    return Reason(f"`{name}` needs {_plural(rule.replicas, 'replica')} "
                  f"within {float(rule.limit_ms):g} ms of users in {location} ({reach})",
                  rule.origin, part)


def _need(demand: Demand) -> str:
    parts_ = [f"{demand.requests['cpu'] / 1000:g} CPU", f"{demand.requests['memory'] / 2 ** 30:g} GiB"]
    if demand.requests["gpu"]:
        parts_.append(_plural(demand.requests["gpu"], "GPU"))
    return " + ".join(parts_)


def _shape(node_class: NodeClass) -> str:
    capacity = node_class.capacity
    text = f"{capacity['cpu'] / 1000:g} CPU, {capacity['memory'] / 2 ** 30:g} GiB"
    if capacity["gpu"]:
        model = node_class.accelerator.name if node_class.accelerator else "GPU"
        text += f", {capacity['gpu']} x {model}"
    return text


def _money(value: Fraction | None) -> str:
    return f"{float(value or 0):.2f}"


def _count_origin(node_class: NodeClass) -> Origin | None:
    return node_class.spans.get("count", node_class.origin)


def _buy_name(problem: Problem, group: int) -> str:
    origin = problem.buy_origins.get(group)
    return f" at line {origin.span.line}" if origin else ""


# ---- repairs -------------------------------------------------------------------------------


def _works(problem: Problem, deadline: float, cheapest: bool = False,
           optional: frozenset[str] = frozenset()) -> Check:
    # the cheapest placement is what a repair costs; at fleet scale that is a full optimisation
    # per trial, so there the cost is that of the placement found
    small = sum(c.count for c in problem.classes) <= PER_NODE_MAX_NODES
    return decide(Trial(problem, set(optional)), deadline, cheapest and small)


def _repairs(problem: Problem, conflict: list[Part], explanation: Explanation,
             deadline: float) -> None:
    found: list[Repair] = []
    scope, rest_cost = _repair_scope(problem, conflict, deadline)
    for part in conflict:
        if _now() >= deadline:
            explanation.repairs_cut_short = True
            break
        repair = _repair(scope, part, deadline)
        if repair is not None and repair.cost is not None and rest_cost:
            repair = dataclasses.replace(repair, cost=repair.cost + rest_cost)
        if repair is not None and repair.text not in {r.text for r in found}:
            found.append(repair)
    if not explanation.repairs_cut_short and _now() < deadline:
        bought = _buy_repair(problem, deadline)
        if bought is not None:
            found.append(bought)
    elif _now() >= deadline:
        explanation.repairs_cut_short = True
    explanation.repairs = found
    if not found and not explanation.repairs_cut_short:
        explanation.no_single_repair = True
        explanation.pair = _pair(problem, conflict, deadline)
        explanation.repairs_cut_short = _now() >= deadline and not explanation.pair


def _repair_scope(problem: Problem, conflict: list[Part],
                  deadline: float) -> tuple[Problem, Fraction]:
    """At fleet scale, where each check of a repaired policy packs every node: the part of
    the policy the repairs change, and the cost of a placement of the rest, found once.

    The scope: the conflict's workloads and every pool they may use (or be readmitted to by
    a relaxed rule), grown by the workloads linked to them by a rule, those that may use
    only those pools and those whose spreads would count other domains without them. The
    rest is placed once on the other pools. A repair of the scope then repairs the policy:
    the two placements side by side are one (no pool, rule or shared limit between them),
    and any placement of the policy places the scope. So the least change found on the
    scope is the least for the policy, each check a fraction of the size. (Not when a
    budget, power cap, `buy` limit or run of interchangeable nodes ties pools together, or
    the rest does not fit apart: then the repairs check the policy.)"""
    whole = (problem, Fraction(0))
    if sum(c.count for c in problem.classes) <= PER_NODE_MAX_NODES or problem.budget is not None \
            or problem.power_caps or problem.buy_limits or problem.symmetric:
        return whole
    workloads = {p.subject for p in conflict
                 if p.subject and p.kind not in ("capacity", "budget", "buy", "power")}
    pools = {p.subject for p in conflict if p.kind == "capacity"}
    workloads, pools = _closed_scope(problem, workloads, pools)
    rest = [d for d in problem.demands if d.workload not in workloads]
    if not rest or _now() >= deadline:
        return whole
    apart = _copy(dataclasses.replace(
        problem, demands=rest, option_groups=[g for g in problem.option_groups
                                              if g.workload not in workloads]))
    for demand in apart.demands:
        demand.eligible = [c for c in demand.eligible if c not in pools]
    check = decide(Trial(apart), deadline)
    if not check.placed or check.cost is None:
        return whole
    scope = _copy(dataclasses.replace(
        problem, demands=[d for d in problem.demands if d.workload in workloads],
        option_groups=[g for g in problem.option_groups if g.workload in workloads]))
    return scope, check.cost


def _closed_scope(problem: Problem, workloads: set[str],
                  pools: set[str]) -> tuple[set[str], set[str]]:
    """Grow (workloads, pools) until closed: the pools the workloads may use or be
    readmitted to, the workloads a rule links to them (either way), those left no pool."""
    workload_of = {d.name: d.workload for d in problem.demands}
    linked: dict[str, set[str]] = {}
    for demand in problem.demands:
        for rule in demand.affinities:
            target = workload_of.get(rule.target)
            if target and target != demand.workload:
                linked.setdefault(demand.workload, set()).add(target)
                linked.setdefault(target, set()).add(demand.workload)
    reach: dict[str, set[str]] = {}
    eligible: dict[str, set[str]] = {}
    for demand in problem.demands:
        reach.setdefault(demand.workload, set()).update(
            demand.eligible, (c for c, reasons in demand.failing.items()
                              if not any(r.rule.startswith(FACTS) for r in reasons)))
        eligible.setdefault(demand.workload, set()).update(demand.eligible)
    spreads: dict[str, set[str]] = {}
    for demand in problem.demands:
        spreads.setdefault(demand.workload, set()).update(s.topology for s in demand.spreads)
    grew = True
    while grew:
        before = (len(workloads), len(pools))
        for workload in list(workloads):
            pools |= reach.get(workload, set())
            workloads |= linked.get(workload, set())
        workloads |= {w for w, classes in eligible.items()
                      if classes <= pools or _domains_change(problem, classes, pools, spreads[w])}
        grew = (len(workloads), len(pools)) != before
    return workloads, pools


def _domains_change(problem: Problem, classes: set[str], pools: set[str],
                    topologies: set[str]) -> bool:
    """Would keeping a workload off `pools` change the domains its spreads count (a spread
    counts every domain of its pools, empty ones too)? Each node is a domain of a spread
    over nodes."""
    if not topologies or not classes & pools:
        return False
    if "node" in topologies:
        return True
    def values(ids: set[str], topology: str) -> set:
        return {problem.node_class(c).topology_value(topology) for c in ids} - {None}
    return any(values(classes, t) != values(classes - pools, t) for t in topologies)


def _repair(problem: Problem, part: Part, deadline: float) -> Repair | None:
    repairers = {"replicas": _fewer_replicas, "capacity": _more_nodes, "buy": _higher_buy_limit,
                 "budget": _higher_budget, "rule": _relaxed_rule, "affinity": _dropped_rule,
                 "exclusive": _dropped_rule, "gang": _dropped_rule, "spread": _wider_spread,
                 "latency": _longer_latency, "power": _higher_power_cap}
    repairer = repairers.get(part.kind)
    return repairer(problem, part, deadline) if repairer else None


def _smallest(works: Callable[[int], Check], low: int, high: int,
              deadline: float) -> tuple[int, Check] | None:
    """The smallest value in [low, high] that works (working is monotone in the value): by
    doubling the step from `low`, then halving back between the last failure and the first
    success. None when nothing up to `high` works, or time ran out before it was pinned down
    (no guess is offered)."""
    failed, step, tried = low - 1, 1, low
    found: tuple[int, Check] | None = None
    while _now() < deadline:
        tried = min(tried, high)
        check = works(tried)
        if check.placed:
            found = (tried, check)
            break
        failed = tried
        if tried >= high:
            return None
        tried, step = low + step, step * 2
    if found is None:
        return None
    top, best = found
    bottom = failed + 1
    while bottom < top and _now() < deadline:
        middle = (bottom + top) // 2
        check = works(middle)
        if check.placed:
            top, best = middle, check
        else:
            bottom = middle + 1
    return (top, best) if bottom >= top else None


NOTHING_WORKS = "nothing works"  # what `_bound` says when no placement exists at all


def _bound(problem: Problem, objective: Callable, deadline: float,
           optional: frozenset[str] = frozenset()) -> int | str | None:
    """A proven lower bound, rounded up, on the least value of `objective(encoding, model
    problem)` over placements of `problem` (node by node when small): where a search for the
    least change that works may start, instead of at 1 (at fleet scale each try costs seconds).
    NOTHING_WORKS when the model (a relaxation) has no solution: then no amount of the change
    the caller searches works either."""
    exact = sum(c.count for c in problem.classes) <= PER_NODE_MAX_NODES
    model_problem = one_class_per_node(problem) if exact else problem
    encoding = encode(model_problem, must_place=True)
    _drop_required(encoding.model, optional, throughput=False)
    outcome = HighsBackend().minimise(encoding.model, objective(encoding, model_problem),
                                      _left(deadline))
    if outcome.status is Status.INFEASIBLE:
        return NOTHING_WORKS
    if outcome.bound is None:
        return None
    return math.ceil(Fraction(outcome.bound) - Fraction(1, 10 ** 6))


def _fix(title: str, origin: Origin | None, text: str) -> Fix | None:
    return Fix(title, origin.span, text) if origin is not None else None


def _fewer_replicas(problem: Problem, part: Part, deadline: float,
                    optional: frozenset[str] = frozenset(), low: int = 1) -> Repair | None:
    replicas = problem.demand(part.subject).replicas

    def works(fewer: int) -> Check:
        trial = _copy(problem)
        trial.demand(part.subject).replicas = replicas - fewer
        return _works(trial, deadline, True, optional)

    # the most replicas placeable (an upper bound) gives the fewest to take away
    least = _bound(problem, lambda e, _: {e.placed[part.subject]: -1}, deadline,
                   optional | {part.subject})
    if least == NOTHING_WORKS:  # the rest does not fit even with none of these replicas
        return None
    if least is not None:
        low = max(low, replicas + least)
    found = _smallest(works, low, replicas - 1, deadline)
    if found is None:
        return None
    most = replicas - found[0]
    origin = problem.demand(part.subject).spans.get("replicas")
    text = f"lower `{part.subject}` replicas from {replicas} to {most}"
    return Repair(part, text, origin, str(replicas), str(most), found[1].cost,
                  _fix(text, origin, str(most)), found[0])


def _more_nodes(problem: Problem, part: Part, deadline: float,
                optional: frozenset[str] = frozenset(), low: int = 1) -> Repair | None:
    count = problem.node_class(part.subject).count

    def works(extra: int) -> Check:
        trial = _copy(problem)
        node_class = trial.node_class(part.subject)
        _grow(node_class, count + extra)
        trial.symmetric = [run for run in trial.symmetric if part.subject not in run]
        return _works(trial, deadline, True, optional)

    grown = _copy(problem)
    _grow(grown.node_class(part.subject),
          count + min(MAX_EXTRA_NODES, sum(d.replicas for d in problem.demands)))
    grown.symmetric = [run for run in grown.symmetric if part.subject not in run]
    # node by node (small fleets) each node is a class: which pool it is in
    exact = sum(c.count for c in grown.classes) <= PER_NODE_MAX_NODES
    owners = grown.owners() if exact else None
    # under `spread node` an idle node is a domain with 0 replicas: the fewest nodes used in
    # a larger pool says nothing of a pool of that size, so the search starts at `low`
    spread = any(s.topology == "node" and part.subject in {_class_id(owners, c) for c in d.eligible}
                 for d in grown.demands for s in d.spreads)
    least = None if spread else _bound(grown, lambda e, p: {e.u[c.id]: 1 for c in p.classes
                                        if _class_id(owners, c.id) == part.subject}, deadline, optional)
    if least == NOTHING_WORKS:  # not even with as many nodes as there are replicas
        return None
    if least is not None:
        low = max(low, least - count)
    found = _smallest(works, low, MAX_EXTRA_NODES, deadline)
    if found is None:
        return None
    extra = found[0]
    origin = problem.node_class(part.subject).spans.get("count")
    text = (f"add {_plural(extra, 'node')} to pool `{part.subject}` "
            f"(count = {count + extra})")
    return Repair(part, text, origin or problem.node_class(part.subject).origin, str(count),
                  str(count + extra), found[1].cost, _fix(text, origin, str(count + extra)), extra)


def _higher_buy_limit(problem: Problem, part: Part, deadline: float,
                      optional: frozenset[str] = frozenset(), low: int = 1) -> Repair | None:
    group = part.position
    limit = problem.buy_limits[group]
    enough = sum(d.replicas for d in problem.demands)

    def works(extra: int) -> Check:
        trial = _copy(problem)
        trial.buy_limits[group] = limit + extra
        for node_class in trial.classes:
            if node_class.buy_group == group and node_class.count < limit + extra:
                _grow(node_class, min(limit + extra, enough))
        return _works(trial, deadline, True, optional)

    found = _smallest(works, low, max(low, enough), deadline)
    if found is None:
        return None
    most = limit + found[0]
    text = f"raise max_count of the `buy` block{_buy_name(problem, group)} from {limit} to {most}"
    return Repair(part, text, problem.buy_origins.get(group), str(limit), str(most), found[1].cost,
                  step=found[0])


def _higher_budget(problem: Problem, part: Part, deadline: float) -> Repair | None:
    trial = _copy(problem)
    trial.budget = None
    cheapest = _works(trial, deadline, cheapest=True)
    if not cheapest.placed or cheapest.cost is None:
        return None
    # in whole cents, rounded up: a budget rounded down would not allow the placement
    cents = math.ceil(cheapest.cost * 100)
    budget = Fraction(cents, 100)
    trial.budget = budget
    check = _works(trial, deadline, cheapest=True)
    if not check.placed:
        return None
    shown = f"{cents // 100}.{cents % 100:02d}"
    text = f"raise the budget from {_money(problem.budget)} to {shown} USD/h"
    return Repair(part, text, problem.budget_origin, f"{_money(problem.budget)} USD/h",
                  f"{shown} USD/h", check.cost, _fix(text, problem.budget_origin, f"{shown} USD/h"))


def _decided_without(problem: Problem, part: Part, deadline: float):
    """The policy solved with `part` dropped and every workload required, or None when that
    still leaves replicas out (no repair then)."""
    trial = with_parts(problem, lambda p: p != part)
    trial.optional = set()
    check = decide(trial, deadline, cheapest=True)
    return check if check.placed else None


def _relaxed_rule(problem: Problem, part: Part, deadline: float) -> Repair | None:
    check = _decided_without(problem, part, deadline)
    if check is None:
        return None
    reason = _rule_reason(problem, part)
    bounds = {r.relaxed for d in _demands_of(problem, part.subject)
              for class_id, reasons in d.failing.items() for r in reasons
              if _exclusion_part(d, r.rule) == part and _could_fit(problem, d, class_id, reasons)}
    if part.key.startswith("dedicated"):
        dedicated = part.key.split('"')[1]
        text = f"let `{part.subject}` tolerate `{dedicated}` (`tolerate = [\"{dedicated}\"]`)"
        return Repair(part, text, reason.origin, None, f'tolerate = ["{dedicated}"]', check.cost)
    target = bounds.pop() if len(bounds) == 1 else None
    where = f" (line {reason.origin.span.line})" if reason.origin else ""
    text = (f"relax `{part.key}`{where} to `{target}`" if target else
            f"drop `{part.key}`{where}") + f" so that `{part.subject}` may also run on " + \
        reason.text.split("rules out ", 1)[-1]
    return Repair(part, text, reason.origin, part.key, target, check.cost)


def _dropped_rule(problem: Problem, part: Part, deadline: float) -> Repair | None:
    check = _decided_without(problem, part, deadline)
    if check is None:
        return None
    reason = _reason(problem, part)
    where = f" (line {reason.origin.span.line})" if reason.origin else ""
    if part.kind == "exclusive":
        text = f"drop `exclusive = true` from `{part.subject}`{where}"
    elif part.kind == "gang":
        text = f"drop `gang = true` from `{part.subject}`{where}: let it mix options"
    else:
        rule = _demands_of(problem, part.subject)[0].affinities[part.position]
        verb = "anti_affinity" if rule.anti else "affinity"
        text = f"drop `{verb} {rule.target} on {rule.topology}` from `{part.subject}`{where}"
    return Repair(part, text, reason.origin, None, None, check.cost)


def _wider_spread(problem: Problem, part: Part, deadline: float) -> Repair | None:
    members = _demands_of(problem, part.subject)
    index = part.position
    skew = members[0].spreads[index].max_skew
    most = max(d.replicas for d in members)

    def works(wider: int) -> Check:
        trial = _copy(problem)
        for demand in _demands_of(trial, part.subject):
            demand.spreads[index] = dataclasses.replace(demand.spreads[index], max_skew=skew + wider)
        return _works(trial, deadline, cheapest=True)

    found = _smallest(works, 1, max(1, most - skew), deadline)
    rule = members[0].spreads[index]
    where = f" (line {rule.origin.span.line})" if rule.origin else ""
    if found is not None:
        value = skew + found[0]
        text = f"raise max_skew of `{part.subject}`'s spread over {rule.topology}{where} from {skew} to {value}"
        return Repair(part, text, rule.origin, str(skew), str(value), found[1].cost)
    check = _decided_without(problem, part, deadline)
    if check is None:
        return None
    text = f"drop the spread over {rule.topology} from `{part.subject}`{where}"
    return Repair(part, text, rule.origin, None, None, check.cost)


def _longer_latency(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """The smallest limit, among the round trips to the regions the workload may run in,
    that works."""
    members = _latency_members(problem, part.subject)
    index = next(i for i, r in enumerate(members[0].latency) if r.location == part.key)
    rule = members[0].latency[index]
    candidates = sorted({ms for d in members for c in d.eligible
                         if (ms := problem.latency_ms(part.key, problem.node_class(c))) is not None
                         and ms > rule.limit_ms})
    for limit in candidates:
        if _now() >= deadline:
            return None
        trial = _copy(problem)
        for demand in members:
            trial.demand(demand.name).latency[index].limit_ms = limit
        check = _works(trial, deadline, cheapest=True)
        if check.placed:
            text = (f"raise the latency limit of `{part.subject}` for {part.key} from "
                    f"{float(rule.limit_ms):g} ms to {float(limit):g} ms")
            return Repair(part, text, rule.origin, f"{float(rule.limit_ms):g}ms",
                          f"{float(limit):g}ms", check.cost)
    return None


def _higher_power_cap(problem: Problem, part: Part, deadline: float) -> Repair | None:
    index = part.position
    cap = problem.power_caps[index]

    def works(extra_kw: int) -> Check:
        trial = _copy(problem)
        trial.power_caps[index] = dataclasses.replace(cap, cap_watts=cap.cap_watts + 1000 * extra_kw)
        return _works(trial, deadline, cheapest=True)

    found = _smallest(works, 1, 10 ** 6, deadline)
    if found is None:
        return None
    before = float(cap.cap_watts) / 1000
    text = f"raise power cap `{cap.name}` from {before:g} kW to {before + found[0]:g} kW"
    return Repair(part, text, cap.origin, f"{before:g}kW", f"{before + found[0]:g}kW", found[1].cost)


def _buy_repair(problem: Problem, deadline: float) -> Repair | None:
    """Offers in scope that no `buy` allows: what would buying from them take?"""
    if not problem.spare_offers:
        return None
    trial = _copy(problem)
    trial.classes = trial.classes + [dataclasses.replace(c) for c in problem.spare_offers]
    for demand in trial.demands:
        demand.eligible += [c.id for c in trial.spare_offers if c.id not in demand.failing]
    encoding = encode(trial, must_place=True)
    outcome = HighsBackend().minimise(encoding.model, encoding.objective("cost"), _left(deadline))
    if outcome.solution is None:
        return None
    counts = {c.id: outcome.solution[encoding.u[c.id]] for c in trial.spare_offers}
    # checked like every other repair: the offers bounded to what this placement buys
    for node_class in trial.classes:
        if node_class.id in counts:
            _grow(node_class, counts[node_class.id])
    check = _works(trial, deadline, cheapest=True)
    if not check.placed:
        return None
    parts_ = [f"{count} x {c.instance_type} (`{c.offer}`) in {c.region} at {_money(c.price)} USD/h each"
              for c in trial.spare_offers if (count := counts[c.id])]
    if not parts_:
        return None
    return Repair(Part("buy", key="new"), "allow buying " + ", ".join(parts_) + " (add a `buy` block)",
                  None, None, None, check.cost)


def _pair(problem: Problem, conflict: list[Part], deadline: float) -> list[Repair]:
    """No single change is enough: the first two that are, in reading order, each by its
    least amount. The first is sized with the second dropped, the second is searched (and so
    checked) on the policy with the first applied."""
    for first in conflict:
        if _now() >= deadline:
            return []
        for second in sorted(parts(problem), key=_reading_order):
            if second == first or _now() >= deadline:
                continue
            if not decide(with_parts(problem, lambda p: p not in (first, second)), deadline).placed:
                continue
            without_second = with_parts(problem, lambda p: p != second)
            if without_second.optional:
                continue  # the second is a workload's replicas: not a change to size against
            one = _repair(without_second.problem, first, deadline)
            if one is None:
                continue
            one = _as_applied(problem, one)
            two = _repair(_applied(problem, one), second, deadline)
            if two is not None:
                return [one, two]
    return []


def _as_applied(problem: Problem, repair: Repair) -> Repair:
    """A repair as `_applied` makes it: a rule is dropped, not relaxed (which is more than the
    repair said, so the text says so too)."""
    if repair.part.kind in ("capacity", "replicas", "buy", "budget") or repair.after is None:
        return repair
    return dataclasses.replace(repair, text=_drop_text(problem, repair.part), after=None, fix=None)


def _applied(problem: Problem, repair: Repair) -> Problem:
    part = repair.part
    if part.kind in ("capacity", "replicas", "buy", "budget") and repair.after is not None:
        trial = _copy(problem)
        if part.kind == "capacity":
            _grow(trial.node_class(part.subject), int(repair.after))
            trial.symmetric = [run for run in trial.symmetric if part.subject not in run]
        elif part.kind == "replicas":
            trial.demand(part.subject).replicas = int(repair.after)
        elif part.kind == "buy":
            group = part.position
            trial.buy_limits[group] = int(repair.after)
            for node_class in trial.classes:
                if node_class.buy_group == group and node_class.count < int(repair.after):
                    _grow(node_class, int(repair.after))
        else:
            trial.budget = Fraction(repair.after.split()[0])
        return trial
    return with_parts(problem, lambda p: p != part).problem


def _drop_text(problem: Problem, part: Part) -> str:
    reason = _reason(problem, part)
    return f"drop this rule{_where(reason.origin)}: {reason.text}"


# ---- what the commands print ----------------------------------------------------------------


def _where(origin: Origin | None) -> str:
    return f" (line {origin.span.line})" if origin else ""


def conflict_text(explanation: Explanation) -> str:
    lines = ["no placement meets every hard rule; these rules conflict:"]
    lines += [f"  - {r.text}{_where(r.origin)}" for r in explanation.reasons]
    if not explanation.minimal:
        lines.append("  (not narrowed down to a minimal set before --time-limit ran out: some of these "
                     "may not be needed)")
    return "\n".join(lines)


def repairs_text(explanation: Explanation) -> str:
    lines = []
    if explanation.repairs:
        lines.append("repairs, each checked by solving the repaired policy:")
        lines += [f"  - {r.text}" + (f" (cost {_money(r.cost)} USD/h)" if r.cost is not None else "")
                  for r in explanation.repairs]
    elif explanation.no_single_repair:
        lines.append("no single change repairs the policy" +
                     (("; this pair does, checked by solving:\n" +
                       "\n".join(f"  - {r.text}" for r in explanation.pair))
                      if explanation.pair else ", and no pair was found within the repair budget"))
    if explanation.repairs_cut_short:
        lines.append(f"(the repair budget of {explanation.repair_budget:g} s ran out: other repairs "
                     "were not tried; raise --repair-budget)")
    return "\n".join(lines)


def explanation_text(explanation: Explanation) -> str:
    """What `fitc explain` prints on stdout."""
    if explanation.outcome is ExplainOutcome.FEASIBLE:
        return "every replica can be placed (a placement was found): no conflict to explain\n"
    if explanation.outcome is ExplainOutcome.UNDECIDED:
        return f"undecided: {explanation.tried}\n"
    text = conflict_text(explanation)
    repairs = repairs_text(explanation)
    return text + ("\n" + repairs if repairs else "") + "\n"


def explanation_json(explanation: Explanation) -> dict:
    return {
        "outcome": explanation.outcome.value,
        "conflict": [{"rule": r.part.kind if r.part else None,
                      "subject": (r.part.subject or None) if r.part else None,
                      "text": r.text, "path": r.origin.path if r.origin else None,
                      "line": r.origin.span.line if r.origin else None,
                      "column": r.origin.span.column if r.origin else None}
                     for r in explanation.reasons],
        "minimal": explanation.minimal,
        "repairs": [r.as_json() for r in explanation.repairs],
        "no_single_repair": explanation.no_single_repair,
        "pair": [r.as_json() for r in explanation.pair],
        "repairs_cut_short": explanation.repairs_cut_short,
        "repair_budget": explanation.repair_budget,
        "tried": explanation.tried or None,
        "conflict_seconds": round(explanation.conflict_seconds, 3),
        "repair_seconds": round(explanation.repair_seconds, 3),
    }


def explanation_diagnostics(problem: Problem, root_path: str, time_limit: float | None = 30.0,
                            explanation: Explanation | None = None,
                            for_solve: bool = True) -> list[Diagnostic]:
    """The explanation as diagnostics. For `fitc solve` (and the language server) the conflict
    is E0501 with the repairs in its message; for `fitc explain` it is E0510 (the repairs go
    to stdout). The other rules of the conflict are E0504 where they stand; an undecided
    explanation is E0511, a placement found W0505 (a note)."""
    if explanation is None:
        explanation = explain(problem, time_limit)
    root = Span(1, 1, 1, 2)
    if explanation.outcome is ExplainOutcome.UNDECIDED:
        return [msg.ExplainUndecided.at(root_path, root, detail=f"undecided: {explanation.tried}")]
    if explanation.outcome is ExplainOutcome.FEASIBLE:
        if for_solve:
            return [msg.NoPlacement.at(root_path, root, detail=(
                "not every replica was placed, though `fitc explain` finds a placement of every "
                "replica: raise --time-limit"))]
        return [msg.PlacementExists.at(root_path, root, detail=(
            "every replica can be placed (a placement was found): no conflict to explain"))]
    first = explanation.reasons[0] if explanation.reasons else None
    where = first.origin if first and first.origin else None
    detail = conflict_text(explanation)
    if for_solve:
        repairs = repairs_text(explanation)
        detail += "\n" + repairs if repairs else ""
    kind = msg.NoPlacement if for_solve else msg.ExplainedConflict
    diagnostics = [kind.at(where.path if where else root_path, where.span if where else root,
                           detail=detail)]
    for reason in explanation.reasons[1:]:
        if reason.origin is not None:
            diagnostics.append(msg.ConflictPart.at(reason.origin.path, reason.origin.span,
                                                   detail=reason.text))
    return diagnostics
