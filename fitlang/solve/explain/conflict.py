"""The conflict: the parts of the policy that admit no placement together, narrowed by
deletion (a Z3 unsat core, or the elastic LP at fleet scale, only picks the order of the
trials), and the entry point `explain`."""

from __future__ import annotations

from fitlang.model.problem import NodeOwners, Problem, one_class_per_node
from fitlang.rules.base import PartKind
from fitlang.solve.backends import Z3Backend
from fitlang.solve.encode import encode
from fitlang.solve.explain.checks import PER_NODE_MAX_NODES, _left, _now, decide
from fitlang.solve.explain.parts import (
    Part,
    Trial,
    _affinity_part,
    _alive,
    _class_id,
    _copy,
    _exclusion_part,
    _reading_order,
    parts,
    with_parts,
)
from fitlang.solve.explain.reasons import _reason
from fitlang.solve.explain.repairs import _repairs
from fitlang.solve.explain.results import REPAIR_SECONDS, ExplainOutcome, Explanation
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
from fitlang.solve.room import short_of_room

# the share of its time limit before which a search that ends undecided gave up, not ran out
EARLY_END_SHARE = 0.5


def explain(problem: Problem, time_limit: float | None = 30.0,
            repair_budget: float | None = REPAIR_SECONDS, ends: float | None = None) -> Explanation:
    """The conflict within `time_limit`, then its repairs within `repair_budget`; where `ends`
    (a `time.monotonic()` instant) is given, both end by then too: a command's own time limit
    bounds the explanation it gives (`fitc solve`, `fitc plan`)."""
    started = _now()
    deadline = started + (time_limit or 30.0)
    if ends is not None:
        deadline = min(deadline, ends)
    fleet = sum(c.count for c in problem.classes) > PER_NODE_MAX_NODES
    short = _room_start(problem) if fleet else None
    if short is not None:  # (before every part is listed: ~2-5 CPU s at 10,000 nodes)
        conflict, minimal = _narrow(problem, short, short, deadline, proven=True)
        return _explained(problem, conflict, minimal, started, repair_budget, ends)
    everything = parts(problem)
    start = _transport_start(problem, deadline) if fleet else None
    if start is not None:  # a part of the policy admits no placement: neither does the whole
        conflict, minimal = _narrow(problem, everything, start, deadline, proven=True)
        return _explained(problem, conflict, minimal, started, repair_budget, ends)
    proof = _fleet_proof(problem, deadline) if fleet else None
    if proof is None or not proof.infeasible:  # not proven by the LP: decide it
        full = decide(Trial(_copy(problem)), deadline)
        if full.placed is True:
            return Explanation(ExplainOutcome.FEASIBLE, conflict_seconds=_now() - started)
        if full.placed is None:
            tried = _tried(problem, time_limit, "no placement was found and none was proven "
                           "impossible", _now() - started)
            return Explanation(ExplainOutcome.UNDECIDED, tried=tried,
                               conflict_seconds=_now() - started)
    if proof is not None and proof.infeasible:
        hint = _fleet_hint(problem, proof)
    else:
        hint = _core_hint(problem, min(deadline, _now() + max(1.0, (deadline - _now()) / 3)))
    conflict, minimal = _narrow(problem, everything, hint, deadline)
    return _explained(problem, conflict, minimal, started, repair_budget, ends)


def _explained(problem: Problem, conflict: list[Part], minimal: bool, started: float,
               repair_budget: float | None, ends: float | None = None) -> Explanation:
    """The conflict in words, and the repairs within their budget (and by `ends`)."""
    explanation = Explanation(ExplainOutcome.CONFLICT, [_reason(problem, part) for part in conflict],
                              minimal=minimal, conflict_seconds=_now() - started)
    budget = REPAIR_SECONDS if repair_budget is None else repair_budget
    explanation.repair_budget = budget
    repairs_started = _now()
    repairs_end = repairs_started + budget if ends is None else min(ends, repairs_started + budget)
    if budget > 0 and (repairs_end <= repairs_started or _no_check_by(problem, ends)):
        explanation.repairs_cut_short = True  # the caller's time is spent: none tried
    elif budget > 0:  # 0: the conflict alone was asked for (`--repair-budget 0`)
        _repairs(problem, conflict, explanation, repairs_end)
    explanation.repair_seconds = _now() - repairs_started
    return explanation


def _no_check_by(problem: Problem, ends: float | None) -> bool:
    """At fleet scale, would a repair's check of the whole model (built, solved and packed:
    about twice its building) not end by the command's limit (`ends`)? (Inventory 10,000,
    drain 22: its conflict named at 1.5 of `fitc plan`'s 5 CPU s, a repair's model took the
    plan to 28.6.)"""
    from fitlang.solve.budget import encoding_cpu

    return ends is not None and sum(c.count for c in problem.classes) > PER_NODE_MAX_NODES and \
        _now() + 2 * encoding_cpu(sum(len(d.eligible) for d in problem.demands)) > ends


def _tried(problem: Problem, time_limit: float | None, what: str, elapsed: float) -> str:
    """What was tried, and for how long: where the search gave up well before the limit, more
    time is not what it lacked, and the message does not claim it used the whole limit."""
    nodes = sum(c.count for c in problem.classes)
    how = ("the exact model node by node" if nodes <= PER_NODE_MAX_NODES else
           "the model by pool (HiGHS), then packing node by node")
    limit = time_limit or 30.0
    if elapsed < limit * EARLY_END_SHARE:
        return (f"{what} ({how}, {nodes} nodes): the search ended after {elapsed:.1f} s of the "
                f"{limit:g} s allowed, so more time may not help; `fitc solve` places what it can")
    return f"{what} within {limit:g} s ({how}, {nodes} nodes); raise --time-limit"


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
    known = set(everything)
    hint = [p for p in dict.fromkeys(hint) if p in known]
    named = set(hint)
    if proven:  # (the order over every part is not made: ~1 CPU s at 10,000 nodes)
        kept, order = set(named), hint
    else:
        order = [p for p in everything if p not in named] + hint
        kept = known
        if hint and _now() < deadline \
                and decide(with_parts(problem, named.__contains__), deadline).placed is False:
            kept, order = set(named), [p for p in hint if p in named]
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


def _inert(problem: Problem, kept: set[Part]) -> set[Part]:
    """Parts of `kept` whose dropping changes no restricted problem: rules of workloads that
    are not alive, and pools no alive workload may use or be readmitted to."""
    alive = _alive(problem, kept.__contains__)
    # a pool kept off by a fact (too small, no GPUs) is never readmitted
    used = {c for d in problem.demands if d.workload in alive
            for c in (*d.eligible, *(c for c, reasons in d.failing.items()
                                     if not any(r.fact for r in reasons)))}
    inert = set()
    for part in kept:
        if part.kind in (PartKind.REPLICAS, PartKind.THROUGHPUT, PartKind.BUDGET, PartKind.BUY,
                         PartKind.POWER):
            continue
        if part.kind is PartKind.CAPACITY:
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


def _room_start(problem: Problem) -> list[Part] | None:
    """At fleet scale, before any model: the workloads `room.short_of_room` proves short
    (more replicas than their nodes hold, options their nodes cannot hold together, a spread
    its smallest domain caps), their parts, the pools and the limits; the pools they may use
    last, before their own parts, so that deletion drops the others in large runs, each
    decided by the same proof at once (inventory 10,000, drain 22: the whole model's elastic
    LP built for the proof took the limit, and the conflict went unnamed). None: none short,
    or not these alone."""
    short = {d.workload for d in short_of_room(problem)}
    if not short:
        return None
    usable = {c for d in problem.demands if d.workload in short for c in d.eligible}
    hint = _hint_of(problem, set(), short, parts(problem, short))
    last = [p for p in hint if p.subject in short or (p.kind is PartKind.CAPACITY and p.subject in usable)]
    moved = set(last)
    hint = [p for p in hint if p not in moved] + last
    # (the proof may have counted other workloads' room too: `option_room`'s confined ones)
    return hint if short_of_room(with_parts(problem, set(hint).__contains__).problem) else None


def _workload_sizes(problem: Problem) -> dict[str, tuple]:
    """What a workload takes, GPUs first."""
    size: dict[str, tuple] = {}
    for demand in problem.demands:
        taken = tuple(demand.replicas * demand.requests[r] for r in ("gpu", "cpu", "memory"))
        size[demand.workload] = max(size.get(demand.workload, taken), taken)
    return size


_POOLS_AND_LIMITS = (PartKind.CAPACITY, PartKind.BUDGET, PartKind.BUY, PartKind.POWER)


def _hint_of(problem: Problem, competing: set[str], short: set[str],
             everything: list[Part] | None = None) -> list[Part]:
    """Every part of the competing workloads, the pools and the limits, every part of the
    workloads that fall short: the competitors first, the ones that fall short last
    (`everything`: those parts, where the caller has them)."""
    everything = parts(problem) if everything is None else everything
    size = _workload_sizes(problem)

    def of(workloads: set[str]) -> list[Part]:
        # the smallest first: deletion drops what comes first where it can, so the conflict
        # keeps the few large workloads rather than many small ones (fewer checks, too)
        return sorted((p for p in everything
                       if p.subject in workloads and p.kind is not PartKind.CAPACITY),
                      key=lambda p: (size[p.subject], p.subject))

    pools_and_limits = [p for p in everything if p.kind in _POOLS_AND_LIMITS]
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


def _group_parts(problem: Problem, group: Group) -> list[Part]:
    """The parts of the policy a constraint group stands for, read off the key's fields."""
    match group:
        case ReplicasGroup(name) | EligibleGroup(name):
            demand = problem.demand(name)
            found = [Part(PartKind.REPLICAS, demand.name)] if demand.group is None else []
            if isinstance(group, EligibleGroup):
                found += [p for reasons in demand.failing.values() for r in reasons
                          if (p := _exclusion_part(demand, r)) is not None]
            return found
        case ThroughputGroup(workload):
            return [Part(PartKind.THROUGHPUT, workload)]
        case GangGroup(name):
            return [Part(PartKind.GANG, name)]
        case ExclusiveGroup(name):
            return [Part(PartKind.EXCLUSIVE, problem.demand(name).workload)]
        case CapacityGroup(class_id):
            node_class = problem.node_class(class_id)
            if node_class.provisioned:  # a `buy` without max_count has no limit to name
                limited = node_class.buy_group in problem.buy_limits
                return [Part(PartKind.BUY, index=node_class.buy_group)] if limited else []
            return [Part(PartKind.CAPACITY, class_id)]
        case BudgetGroup():
            return [Part(PartKind.BUDGET)]
        case BuyGroup(buy):
            return [Part(PartKind.BUY, index=buy)]
        case PowerGroup(index):
            return [Part(PartKind.POWER, index=index)]
        case LatencyGroup(workload, location):
            return [Part(PartKind.LATENCY, workload, location)]
        case AffinityGroup(name, index):
            return [_affinity_part(problem.demand(name), index)]
        case SpreadGroup(name, index):
            return [Part(PartKind.SPREAD, problem.demand(name).workload, index=index)]
    return []
