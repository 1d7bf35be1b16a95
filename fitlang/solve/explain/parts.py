"""The droppable parts of a policy, and the problem with some of them dropped (a `Trial`).

A part is a rule (an affinity, a spread, a `require`, a `dedicated` pool left untolerated, a
budget, a buy limit, ...) or a need (a workload's replicas, a pool's node count). `with_parts`
makes the restricted copy of a problem that enforces only the parts a predicate keeps.
"""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field

from fitlang import rules
from fitlang.model.problem import (
    Demand,
    Exclusion,
    NodeClass,
    NodeOwners,
    Problem,
    replicas_per_node,
)
from fitlang.rules.base import PartKind, Rule


@dataclass(frozen=True, order=True)
class Part:
    """One droppable part of a policy, of a `kind`: replicas, throughput, gang (option
    groups), rule (an exclusion that keeps a workload off pools: `rule` names the `Rule`
    that made it, `key` is its clause as written, its identity, shown but never parsed),
    affinity and spread (`index`: the rule's index), exclusive, latency (`key`: the
    location), capacity (`subject`: a pool's class id), budget, buy (`index`: the buy
    block's; `key` "new" for offers no `buy` block allows), power (`index`: the cap's)."""

    kind: PartKind  # (a StrEnum: a part compares and hashes as one made with its value)
    subject: str = ""  # the workload (as the policy names it) or the class id
    key: str = ""
    index: int | None = None  # of an affinity, spread, `buy` block or power cap
    rule: str = ""  # of a RULE part: the name of the rule whose exclusion it is

    @property
    def position(self) -> int:
        """The index of a part that has one (an affinity, spread, `buy` block, power cap)."""
        if self.index is None:
            raise ValueError(f"{self.kind} part of {self.subject!r} has no index")
        return self.index


def rule_of(part: Part) -> Rule | None:
    """The rule a part is of: for a RULE part the rule that made its exclusion, else the
    rule whose parts are of its kind. Read from `rules.RULES` as it is now (a test registers
    a rule by replacing it): a scan of ~20 rules, 3 us, asked per part explain says or
    repairs, is cheaper to repeat than a cache to keep in step."""
    for rule in rules.RULES:
        if (rule.name == part.rule) if part.kind is PartKind.RULE else (rule.part_kind is part.kind):
            return rule
    return None


def _rule_named(name: str) -> Rule | None:
    return next((rule for rule in rules.RULES if rule.name == name), None)


def _exclusive(demand: Demand, index: int) -> bool:
    origin = demand.spans.get("exclusive")
    return origin is not None and demand.affinities[index].origin is origin


def _affinity_part(demand: Demand, index: int) -> Part:
    if _exclusive(demand, index):
        return Part(PartKind.EXCLUSIVE, demand.workload)
    return Part(PartKind.AFFINITY, demand.workload, index=_first_of_rule(demand, index))


def _first_of_rule(demand: Demand, index: int) -> int:
    """The first of the entries the rule of `demand.affinities[index]` became: one line may be
    several (an option workload's `anti_affinity self`, `build._apart_from_options`; an
    anti-affinity towards each option of a workload), and dropping the line drops them all."""
    origin = demand.affinities[index].origin
    return next(i for i, rule in enumerate(demand.affinities) if rule.origin == origin)


def _exclusion_part(demand: Demand, exclusion: Exclusion) -> Part | None:
    """The part an exclusion is: none for a fact about the node; one of its rule's parts
    when the exclusion names which (`index`: a spread over a topology the pool lacks);
    else a RULE part."""
    if exclusion.fact:
        return None
    if exclusion.index is not None:
        owner = _rule_named(exclusion.source)
        if owner is not None and owner.part_kind is PartKind.AFFINITY:
            return _affinity_part(demand, exclusion.index)
        if owner is not None and owner.part_kind is not None:
            return Part(owner.part_kind, demand.workload, index=exclusion.index)
    return Part(PartKind.RULE, demand.workload, exclusion.rule, rule=exclusion.source)


def parts(problem: Problem, workloads: set[str] | None = None) -> list[Part]:
    """Every droppable part of the problem, in a fixed order; only those of `workloads`
    among the workloads' parts, where given (a workload's exclusions of 10,000 nodes' classes
    are most of the time: explain's start from `room.short_of_room`)."""
    found: dict[Part, None] = {}
    class_ids = {c.id for c in problem.classes}
    for demand in problem.demands:
        if workloads is not None and demand.workload not in workloads:
            continue
        if demand.group is None:
            found[Part(PartKind.REPLICAS, demand.name)] = None
        if demand.exclusive:
            found[Part(PartKind.EXCLUSIVE, demand.workload)] = None
        for index in range(len(demand.affinities)):
            found[_affinity_part(demand, index)] = None
        for index in range(len(demand.spreads)):
            found[Part(PartKind.SPREAD, demand.workload, index=index)] = None
        for rule in demand.latency:
            found[Part(PartKind.LATENCY, demand.workload, rule.location)] = None
        for class_id, reasons in demand.failing.items():
            if class_id in class_ids:
                for reason in reasons:
                    part = _exclusion_part(demand, reason)
                    if part is not None:
                        found[part] = None
    for group in problem.option_groups:
        if workloads is not None and group.workload not in workloads:
            continue
        found[Part(PartKind.THROUGHPUT, group.workload)] = None
        if group.gang:
            found[Part(PartKind.GANG, group.workload)] = None
    for node_class in problem.classes:
        if not node_class.provisioned:
            found[Part(PartKind.CAPACITY, node_class.id)] = None
    if problem.budget is not None:
        found[Part(PartKind.BUDGET)] = None
    for buy in sorted(problem.buy_limits):
        found[Part(PartKind.BUY, index=buy)] = None
    for index in range(len(problem.power_caps)):
        found[Part(PartKind.POWER, index=index)] = None
    return list(found)


@dataclass
class Trial:
    """A copy of the problem with some parts dropped; `optional`: demands (and option groups)
    whose replicas need not all be placed."""

    problem: Problem
    optional: set[str] = field(default_factory=set)


def _copy(problem: Problem) -> Problem:
    """A copy whose lists and maps are its own (a trial that edits a container in place edits
    only its own); the classes, demands and what they point at are shared: they are frozen,
    and a trial changes one by replacing it (`Problem.with_demand`, `_with_pool`)."""
    return dataclasses.replace(problem, classes=list(problem.classes),
                               demands=list(problem.demands),
                               spare_offers=list(problem.spare_offers),
                               buy_limits=dict(problem.buy_limits),
                               power_caps=list(problem.power_caps),
                               option_groups=list(problem.option_groups),
                               symmetric=[list(run) for run in problem.symmetric])


def with_parts(problem: Problem, active: Callable[[Part], bool]) -> Trial:
    """The problem with every part for which `active` is false dropped: rules deleted (pools
    they alone kept a workload off become eligible), replicas optional, pools and buy blocks
    unbounded, budget and power caps gone. Workloads neither required nor needed by an
    enforced affinity are left out (placing none of them is always allowed)."""
    alive = _alive(problem, active)
    optional: set[str] = set()
    position = {c.id: i for i, c in enumerate(problem.classes)}
    demands = []
    for demand in problem.demands:
        if demand.workload not in alive:
            continue
        if demand.group is None and not active(Part(PartKind.REPLICAS, demand.name)):
            optional.add(demand.name)
        kept = [i for i in range(len(demand.affinities)) if active(_affinity_part(demand, i))]
        enforced = dataclasses.replace(
            demand,
            exclusive=demand.exclusive and active(Part(PartKind.EXCLUSIVE, demand.workload)),
            affinities=[demand.affinities[i] for i in kept],
            spreads=[s for i, s in enumerate(demand.spreads)
                     if active(Part(PartKind.SPREAD, demand.workload, index=i))],
            latency=[r for r in demand.latency
                     if active(Part(PartKind.LATENCY, demand.workload, r.location))])
        demands.append(_readmit(enforced, demand, problem, position, active))
    groups = []
    for group in problem.option_groups:
        if group.workload not in alive:
            continue
        if not active(Part(PartKind.THROUGHPUT, group.workload)):
            optional.add(group.workload)
        if group.gang and not active(Part(PartKind.GANG, group.workload)):
            group = dataclasses.replace(group, gang=False)
        groups.append(group)
    budget = problem.budget if active(Part(PartKind.BUDGET)) else None
    trial = _copy(dataclasses.replace(
        problem, demands=demands, option_groups=groups, budget=budget,
        power_caps=[cap for i, cap in enumerate(problem.power_caps)
                    if active(Part(PartKind.POWER, index=i))]))
    return _unbounded(_without_idle(Trial(trial, optional)), active)


def _unbounded(trial: Trial, active: Callable[[Part], bool]) -> Trial:
    """Pools whose count is dropped, and the offers of `buy` blocks whose limit is, get as
    many nodes as the trial has replicas (enough for any placement). Only pools a workload
    of the trial may use are grown: nothing is placed on the others, so their count cannot
    matter (and naming tens of thousands of nodes costs)."""
    problem = trial.problem
    enough = sum(d.replicas for d in problem.demands)
    used = {c for d in problem.demands for c in d.eligible}
    unlimited = {group for group in problem.buy_limits if not active(Part(PartKind.BUY, index=group))}
    grown: set[str] = set()
    classes = []
    for node_class in problem.classes:
        count = None
        if node_class.id not in used:
            pass
        elif not node_class.provisioned and not active(Part(PartKind.CAPACITY, node_class.id)):
            count = max(node_class.count, enough)
        elif node_class.buy_group in unlimited and node_class.count < enough:
            count = enough
        if count is not None:
            node_class = _grown(node_class, count)
            grown.add(node_class.id)
        classes.append(node_class)
    trial.problem = dataclasses.replace(
        problem, classes=classes,
        buy_limits={g: n for g, n in problem.buy_limits.items() if g not in unlimited},
        # interchangeable runs are of one node each: a grown class is no longer one of them
        symmetric=[run for run in problem.symmetric if not grown.intersection(run)])
    return trial


def dropped(problem: Problem, part: Part) -> tuple[Problem, Callable[[Part], Part]]:
    """The problem with `part` dropped as a user drops its line: the rule gone and so are the
    exclusions it made (a later trial of the result readmits a pool that only other parts keep
    a workload off); and the parts of `problem` as the result numbers them (an affinity or a
    spread after a dropped one is one place earlier). Repairs searched on the result (a
    pair's second change) are of the policy the user gets."""
    result = with_parts(problem, lambda p: p != part).problem
    original = {d.name: d for d in problem.demands}
    renumbered = {d.name: _renumbering(original[d.name], part) for d in result.demands}
    demands = [dataclasses.replace(d, failing=_failing_without(d, original[d.name], part,
                                                               renumbered[d.name]))
               for d in result.demands]
    by_workload = {d.workload: renumbered[d.name] for d in result.demands}

    def as_numbered(other: Part) -> Part:
        moved = by_workload.get(other.subject, {}).get((other.kind, other.index))
        return other if moved is None else dataclasses.replace(other, index=moved)

    return dataclasses.replace(result, demands=demands), as_numbered


def _renumbering(demand: Demand, part: Part) -> dict[tuple[PartKind, int | None], int]:
    """(kind, old index) -> new index of a demand's affinities and spreads once `part` is
    dropped (as `with_parts` keeps them)."""
    moved: dict[tuple[PartKind, int | None], int] = {}
    kept = [i for i in range(len(demand.affinities)) if _affinity_part(demand, i) != part]
    moved.update(((PartKind.AFFINITY, old), new) for new, old in enumerate(kept))
    kept = [i for i in range(len(demand.spreads))
            if Part(PartKind.SPREAD, demand.workload, index=i) != part]
    moved.update(((PartKind.SPREAD, old), new) for new, old in enumerate(kept))
    return moved


def _failing_without(demand: Demand, original: Demand, part: Part,
                     renumbered: dict[tuple[PartKind, int | None], int]) -> dict[str, list[Exclusion]]:
    """The demand's reasons per pool without the dropped part's, indices as renumbered."""
    failing: dict[str, list[Exclusion]] = {}
    for class_id, reasons in original.failing.items():
        if class_id in demand.eligible:
            continue
        kept = []
        for reason in reasons:
            own = _exclusion_part(original, reason)
            if own == part:
                continue
            if own is not None and own.index is not None and (own.kind, own.index) in renumbered:
                reason = dataclasses.replace(reason, index=renumbered[(own.kind, own.index)])
            kept.append(reason)
        if kept:
            failing[class_id] = kept
    return failing


def _readmit(demand: Demand, original: Demand, problem: Problem, position: dict[str, int],
             active: Callable[[Part], bool]) -> Demand:
    """The demand with the pools kept off only by dropped rules (never by a fact: too small,
    no GPUs) eligible again, and without the pools that fit none of its replicas."""
    eligible = demand.eligible
    excluded = demand.excluded
    already = set(eligible)
    added = []
    for class_id, reasons in original.failing.items():
        if class_id not in position or class_id in already:
            continue
        needed = [_exclusion_part(original, r) for r in reasons]
        if any(p is None or active(p) for p in needed) or any(r.kind_default for r in reasons):
            continue  # (a kind dropped leaves `family == gpu`, which keeps a TPU node out)
        added.append(class_id)
    if added:
        eligible = sorted([*eligible, *added], key=position.__getitem__)
        readmitted = set(added)
        excluded = {c: e for c, e in excluded.items() if c not in readmitted}
    # a pool that fits no replica (once the rules are dropped) is not worth a variable
    return dataclasses.replace(demand, excluded=excluded, eligible=[
        c for c in eligible if replicas_per_node(demand, problem.node_class(c)) > 0])


def _without_idle(trial: Trial) -> Trial:
    """Optional demands that no enforced positive affinity needs: placing none of them is
    always allowed, so they change nothing and are left out (fleet-scale trials stay small)."""
    problem = trial.problem
    needed = {r.target for d in problem.demands for r in d.affinities if not r.anti}

    def idle(demand: Demand) -> bool:
        name = demand.group if demand.group is not None else demand.name
        return name in trial.optional and not ({demand.name, demand.workload} & needed)

    kept = [d for d in problem.demands if not idle(d)]
    names = {d.name for d in kept}
    trial.problem = dataclasses.replace(
        problem, demands=kept,
        option_groups=[g for g in problem.option_groups if any(n in names for n in g.demands)])
    return trial


def _grown(node_class: NodeClass, count: int) -> NodeClass:
    """The class with `count` nodes (for a trial copy of the problem), naming the new ones."""
    names = node_class.node_names
    existing = len(names)
    if count <= existing:  # (joining names makes every one of them: only when some are new)
        return dataclasses.replace(node_class, count=count)
    # named by the class, not the pool: an offer's classes (one per region) share its pool,
    # and nodes of one name in two classes are one node to the model node by node
    return dataclasses.replace(node_class, count=count, node_names=(
        *names, *(f"{node_class.id}-extra-{i}" for i in range(existing, count))))


def _with_pool(problem: Problem, class_id: str, count: int) -> Problem:
    """The problem with pool `class_id` grown (or shrunk) to `count` nodes; a grown pool is no
    longer one of a run of interchangeable one-node classes."""
    return dataclasses.replace(
        problem,
        classes=[_grown(c, count) if c.id == class_id else c for c in problem.classes],
        symmetric=[run for run in problem.symmetric if class_id not in run])


def _with_buy_limit(problem: Problem, group: int, limit: int, nodes: int) -> Problem:
    """The problem with `buy` block `group` allowing `limit` nodes, its offers with fewer
    than `limit` grown to `nodes`."""
    return dataclasses.replace(
        problem, buy_limits={**problem.buy_limits, group: limit},
        classes=[_grown(c, nodes) if c.buy_group == group and c.count < limit else c
                 for c in problem.classes])


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


# per problem (a frozen Problem is hashed as itself), for as long as the problem lives
_NEEDS_AND_FOLLOWS: weakref.WeakKeyDictionary[
    Problem, tuple[list[tuple[str, Part]], list[tuple[str, Part, str]]]] = weakref.WeakKeyDictionary()


def _needs_and_follows(problem: Problem) -> tuple[list[tuple[str, Part]],
                                                   list[tuple[str, Part, str]]]:
    """Per demand, its workload and the part that requires it; per positive affinity rule, its
    workload, its part and its target's workload. Worked out once per problem: a narrowing
    asks for the workloads alive tens of times, over a thousand workloads at fleet scale."""
    cached = _NEEDS_AND_FOLLOWS.get(problem)
    if cached is not None:
        return cached
    needs = [(d.workload, Part(PartKind.REPLICAS, d.name) if d.group is None
              else Part(PartKind.THROUGHPUT, d.group)) for d in problem.demands]
    # (a rule towards a workload with options names the workload: `rules/option_affinity.py`)
    workload_of = {name: d.workload for d in problem.demands for name in (d.name, d.workload)}
    follows = [(d.workload, _affinity_part(d, index), workload_of[rule.target])
               for d in problem.demands for index, rule in enumerate(d.affinities)
               if not rule.anti and rule.target in workload_of]
    _NEEDS_AND_FOLLOWS[problem] = needs, follows
    return needs, follows


def _reading_order(part: Part) -> tuple:
    kinds = (PartKind.CAPACITY, PartKind.BUY, PartKind.BUDGET, PartKind.POWER, PartKind.RULE,
             PartKind.EXCLUSIVE, PartKind.AFFINITY, PartKind.SPREAD, PartKind.LATENCY,
             PartKind.GANG, PartKind.THROUGHPUT, PartKind.REPLICAS)
    return (kinds.index(part.kind), part.subject, part.key, -1 if part.index is None else part.index)


def _class_id(owners: NodeOwners | None, name: str) -> str:
    """The id of the class a node `name` is in (node by node, each node is a class of its
    own); other names as they are. Found by name, never by listing every pool's nodes."""
    found = owners.get(name) if owners is not None else None
    return name if found is None else found.id
