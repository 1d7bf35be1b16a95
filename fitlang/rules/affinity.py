"""`affinity T on <topology>` and `anti_affinity T on <topology>` (T a workload or `self`):
the workload's replicas run in the domains where T runs (affinity), or where it does not
(anti-affinity; `self`: one replica per domain). One module: they share their data
(`Workload.affinities`, with `anti`) and their check. With a horizon only `anti_affinity ... on
node` is taken (the checker refuses the others), read step by step: two workloads kept apart
never run on one node at the same step, `self` at most one replica per node at a step
(`time_rows`, `check_runs`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import AffinityRule, Workload
from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import RESOURCES, Demand, Exclusion, NodeClass, Problem
from fitlang.rules import option_affinity
from fitlang.rules.base import (
    CheckReads,
    GroupKey,
    OnNodes,
    PartKind,
    Placed,
    Rows,
    Rule,
    Stated,
    TopologyValues,
    domain_of,
)
from fitlang.rules.explaining import demands_of, where
from fitlang.rules.spread import topologies_excluded

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.eligibility import ClassFacets
    from fitlang.rules.timing import Run
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.groups import Group
    from fitlang.solve.timeline import TimeEncoding


def reads(workload: Workload) -> Hashable:
    return tuple(sorted({r.topology for r in workload.affinities}))


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray | None:
    return topologies_excluded({r.topology for r in workload.affinities}, facets)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    # as Kubernetes reads a topology key: a node without it is in no domain, so a rule over
    # that topology cannot be met there, and the replicas it binds may not run there
    # (`index`: the exclusion is a part of the rule, which its rows are too: explain drops
    # both together, as a user dropping the line does)
    for index, rule in enumerate(workload.affinities):
        if rule.topology != "node" and node_class.topology_value(rule.topology) is None:
            verb = "anti_affinity" if rule.anti else "affinity"
            yield Exclusion(f"{verb} {rule.target} on {rule.topology}", rule.origin,
                            f"nodes of `{node_class.id}` have no {rule.topology}",
                            source="affinity", index=index)


def check(placed: Placed) -> Iterator[Diagnostic]:
    for demand in placed.problem.demands:
        yield from _affinities(placed, demand)


def _affinities(placed: Placed, demand: Demand) -> Iterator[Diagnostic]:
    """Each rule reads the nodes of the two workloads it names only: linear in replicas."""
    owner, placed_on = placed.owner, placed.placed_on
    here = placed_on.get(demand.name)
    if not here:
        return
    for rule in demand.affinities:
        if _between_options(placed, demand, rule.target):
            continue  # `anti_affinity self` over every option: the options' check counts it
        mine: Counter = Counter()
        target = demand.name if rule.target == "self" else rule.target
        for node, amount in here.items():
            mine[domain_of(node, owner[node], rule.topology)] += amount
        theirs = {domain_of(node, owner[node], rule.topology)  # of every option, if it has some
                  for name in _named(placed, target) for node in placed_on.get(name, ())}
        verb = "anti_affinity" if rule.anti else "affinity"
        if rule.target == "self":
            crowded = sorted(str(d) for d, n in mine.items() if n > 1 or d is None)
            if crowded:
                yield placed.violation(f"`{demand.name}` has several replicas in {rule.topology} "
                                       f"{', '.join(crowded)} ({verb} self on {rule.topology})",
                                       rule.origin)
            continue
        for domain in sorted(mine, key=str):
            broken = (domain in theirs) if rule.anti else (domain is None or domain not in theirs)
            if broken:
                yield placed.violation(
                    f"`{demand.name}` runs in {rule.topology} {domain} "
                    f"{'with' if rule.anti else 'without'} `{rule.target}` "
                    f"({verb} {rule.target} on {rule.topology})", rule.origin)


def _named(placed: Placed, target: str) -> list[str]:
    """The demands a rule towards `target` reads: its own, or those of its options."""
    if target in placed.demands:
        return [target]
    return [d.name for d in option_affinity.options_of(placed.problem, target)]


def _between_options(placed: Placed, demand: Demand, target: str) -> bool:
    """Is `target` another option of the workload `demand` is an option of? (Only the model
    of `anti_affinity self` names one: `build._apart_from_options`.)"""
    other = placed.demands.get(target)
    return demand.group is not None and other is not None and other.group == demand.group


class AffinityGroup(GroupKey, Frozen):
    """A demand's affinity or anti-affinity rule, by its index in `Demand.affinities`."""

    demand: str
    index: int


def affinity_rows(encoding: Encoding, demand: Demand) -> None:
    model, problem = encoding.model, encoding.problem
    for index, rule in enumerate(demand.affinities):
        group = AffinityGroup(demand.name, index)
        if rule.target == "self":
            if rule.topology == "node":
                continue  # in replicas_per_node: at most one replica per node
            for class_ids in encoding.domains(demand, rule.topology).values():
                model.add({encoding.y[demand.name, c]: 1 for c in class_ids}, upper=1, group=group)
            continue
        others = option_affinity.followed(problem, rule.target)
        if not others:
            continue
        if rule.topology != "node":
            _domain_rule(encoding, demand, others, rule.topology, rule.anti, group)
        elif others[0].name != rule.target:  # the options of the target
            option_affinity.node_rows(encoding, demand, others, group)
        else:
            _node_rule(encoding, demand, others[0], rule.anti, group)


def _node_rule(encoding: Encoding, demand: Demand, other: Demand, anti: bool,
               group: AffinityGroup) -> None:
    """Between two workloads on the same nodes, per class both may use: anti-affinity
    n[w,c] + n[v,c] <= u[c]; affinity n[w,c] <= n[v,c]; on classes the target may not use,
    no replica. Built as arrays: pairwise rules made hundreds of thousands of these rows and
    of the node counts n they need at 10,000 nodes (see `_node_rule_rows`)."""
    if demand.name == other.name:  # one variable for both sides: row by row, merged
        rows = encoding.row_buffer()
        for class_id in demand.eligible:
            mine = encoding.hosting_count(demand, class_id)
            rows.add((mine, mine) + ((encoding.u[class_id],) if anti else ()),
                     (1, 1, -1) if anti else (1, -1), None, 0, group)
        rows.flush(encoding.model)
        return
    _node_rule_rows(encoding, demand, other, anti, group)


def _node_rule_rows(encoding: Encoding, demand: Demand, other: Demand, anti: bool,
                    group: AffinityGroup) -> None:
    """Rows in the order `Encoding.hosting_count` and one row per class would add them: per
    eligible class, the three rows of each node count made there (first the workload's, then
    the target's), then the rule's row. Each class has seven slots of up to three terms; the
    slots in use are kept, in order."""
    model, eligible = encoding.model, demand.eligible
    mine_y, theirs_y = encoding.y.of.get(demand.name, {}), encoding.y.of.get(other.name, {})
    shared = np.array([c in theirs_y for c in eligible], dtype=bool)
    if anti and not shared.any():
        return
    size = len(eligible)
    hosting = encoding.hosting
    known_mine = np.array([hosting.get((demand.name, c), -1) for c in eligible], dtype=np.int64)
    known_theirs = np.array([hosting.get((other.name, c), -1) if s else -1
                             for c, s in zip(eligible, shared.tolist())], dtype=np.int64)
    new_mine, new_theirs = shared & (known_mine < 0), shared & (known_theirs < 0)
    created = np.stack([new_mine, new_theirs], axis=1).ravel()  # in the order they are made
    numbers = model.variable_count + np.cumsum(created) - 1
    mine = np.where(new_mine, numbers[0::2], known_mine)
    theirs = np.where(new_theirs, numbers[1::2], known_theirs)
    y_mine = np.array([mine_y[c] for c in eligible], dtype=np.int64)
    y_theirs = np.array([theirs_y.get(c, -1) for c in eligible], dtype=np.int64)
    fit_mine = np.array([encoding.fit.of[demand.name][c] for c in eligible], dtype=np.int64)
    fit_theirs = np.array([encoding.fit.of[other.name].get(c, 0) for c in eligible], dtype=np.int64)
    u = np.array([encoding.u[c] for c in eligible], dtype=np.int64)
    zero, one = np.zeros(size, dtype=np.int64), np.ones(size, dtype=np.int64)
    columns = np.zeros((size, 7, 3), dtype=np.int64)
    data = np.zeros((size, 7, 3), dtype=np.int64)
    for slot, (n, y, fit) in enumerate(((mine, y_mine, fit_mine), (theirs, y_theirs, fit_theirs))):
        base = 3 * slot
        columns[:, base] = np.stack([y, n, zero], axis=1)
        data[:, base] = np.stack([one, -fit, zero], axis=1)
        columns[:, base + 1] = np.stack([n, y, zero], axis=1)
        data[:, base + 1] = np.stack([one, -one, zero], axis=1)
        columns[:, base + 2] = np.stack([n, u, zero], axis=1)
        data[:, base + 2] = np.stack([one, -one, zero], axis=1)
    if anti:
        columns[:, 6] = np.stack([mine, theirs, u], axis=1)
        data[:, 6] = np.stack([one, one, -one], axis=1)
    else:  # affinity; where the target may not run, no replica: y <= 0
        columns[:, 6] = np.where(shared[:, None], np.stack([mine, theirs, zero], axis=1),
                                 np.stack([y_mine, zero, zero], axis=1))
        data[:, 6] = np.where(shared[:, None], np.stack([one, -one, zero], axis=1),
                              np.stack([one, zero, zero], axis=1))
    used = np.zeros((size, 7), dtype=bool)
    used[:, 0:3] = new_mine[:, None]
    used[:, 3:6] = new_theirs[:, None]
    used[:, 6] = shared | (not anti)
    terms = used[:, :, None] & (data != 0)
    counts = terms.sum(axis=2)[used]
    groups = np.where(np.arange(7) == 6, 1, 0)[None, :].repeat(size, axis=0)[used]
    made = [(demand.name, c) if side == 0 else (other.name, c)
            for c, pair in zip(eligible, created.reshape(size, 2).tolist())
            for side, new in enumerate(pair) if new]
    for key, number in zip(made, range(model.variable_count, model.variable_count + len(made))):
        hosting[key] = number
    if made:
        counts_of = {c.id: c.count for c in map(encoding.problem.node_class, {c for _, c in made})}
        model.vars(lambda k: f"n[{made[k][0]},{made[k][1]}]",
                   np.zeros(len(made), dtype=np.int64),
                   np.array([counts_of[c] for _, c in made], dtype=np.int64))
    if len(counts):
        rule_rows: list[Group | None] = [group if g else None for g in groups.tolist()]
        model.add_rows(np.concatenate([[0], np.cumsum(counts)]), columns[terms], data[terms],
                       np.full(len(counts), np.nan), np.zeros(len(counts)), rule_rows)
    if not anti:
        _beside_target_rows(encoding, demand, other, shared, mine, y_mine, fit_mine, group)


def _beside_target_rows(encoding: Encoding, demand: Demand, other: Demand, shared: np.ndarray,
                        hosting: np.ndarray, y_mine: np.ndarray, fit_mine: np.ndarray,
                        group: AffinityGroup) -> None:
    """y[w,c] <= f * n[w,c], f the replicas of w that fit on a node of c beside one of its
    target (every node running w runs the target too), where f is below what fits alone.
    The model by class counts the nodes hosting each workload, not what they host together:
    without these it puts followers where no node holds them beside their target (f = 0) or
    more of them on a node than its target leaves room for. A class's capacity is its largest
    node's, so f never cuts off a placement."""
    beside = beside_counts(encoding, demand, other, demand.eligible, fit_mine)
    rows = encoding.row_buffer()
    for k in np.flatnonzero(shared & (beside < fit_mine)).tolist():
        rows.add((int(y_mine[k]), int(hosting[k])), (1, -int(beside[k])), None, 0, group)
    rows.flush(encoding.model)


def beside_counts(encoding: Encoding, demand: Demand, other: Demand, class_ids: list[str],
                  fit: np.ndarray | int) -> np.ndarray:
    """Per class, the replicas of `demand` that fit on its node beside one of `other` (at
    most `fit`, what fits alone; 0 where none does)."""
    need = np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64)
    left = np.array([[encoding.problem.node_class(c).capacity[r] - other.requests[r] for r in RESOURCES]
                     for c in class_ids], dtype=np.int64).reshape(len(class_ids), len(RESOURCES))
    beside = np.broadcast_to(np.asarray(fit, dtype=np.int64), (len(class_ids),)).copy()
    for column in np.flatnonzero(need > 0):
        beside = np.minimum(beside, left[:, column] // need[column])
    return np.maximum(beside, 0)


def _domain_rule(encoding: Encoding, demand: Demand, others: list[Demand], topology: str, anti: bool,
                 group: AffinityGroup) -> None:
    """Presence z per domain: anti-affinity z[w,d] + z[v,d] <= 1; affinity z[w,d] <= the sum
    of the targets' (one demand, or the options of a workload with options: any of them)."""
    model = encoding.model
    mine = encoding.presence(demand, topology)
    theirs: dict[str, list[int]] = {}
    for other in others:
        for value, switch in encoding.presence(other, topology).items():
            theirs.setdefault(value, []).append(switch)
    for class_id in demand.eligible:
        if encoding.topology_value(class_id, topology) is None and not anti:
            model.add({encoding.y[demand.name, class_id]: 1}, upper=0, group=group)
    for value, switch in mine.items():
        if anti:
            for present in theirs.get(value, ()):
                model.add({switch: 1, present: 1}, upper=1, group=group)
        else:
            model.add({switch: 1, **{present: -1 for present in theirs.get(value, ())}},
                      upper=0, group=group)


def apart_on_nodes(problem: Problem) -> Iterator[tuple[str, str]]:
    """The workloads with an anti-affinity on nodes towards another, and that other."""
    for demand in problem.demands:
        for rule in demand.affinities:
            if rule.anti and rule.topology == "node" and rule.target != "self":
                yield demand.name, rule.target


def together_on_nodes(demand: Demand) -> set[str]:
    """The workloads a replica of `demand` follows onto a node (affinity on nodes)."""
    return {r.target for r in demand.affinities if not r.anti and r.topology == "node"}


def same_domains(problem: Problem, demand: Demand) -> Callable[[NodeClass], Hashable] | None:
    """A class's domains in every topology an affinity of `demand`, or towards it, counts in."""
    topologies = {r.topology for r in demand.affinities}
    towards = problem.affinity_topologies_towards  # (an option's rules name its workload)
    topologies |= towards.get(demand.name, set()) | towards.get(demand.workload, set())
    topologies.discard("node")
    return TopologyValues(tuple(sorted(topologies))) if topologies else None


def reason(problem: Problem, part: Part) -> Stated | None:
    if part.kind is not PartKind.AFFINITY:  # a pool without the rule's topology: the default
        return None
    rule = demands_of(problem, part.subject)[0].affinities[part.position]
    verb = "anti_affinity" if rule.anti else "affinity"
    text = f"`{part.subject}` has `{verb} {_as_written(problem, rule.target)} on {rule.topology}`"
    if rule.target == "self" and rule.anti:
        text += f": at most 1 replica per {rule.topology}"
    return Stated(text, rule.origin)


def _as_written(problem: Problem, target: str) -> str:
    """The workload the policy's rule names: a rule towards a workload with accelerator options
    is one rule per option (`chat[G80]`, `model/build`), said as the one written (`chat`)."""
    return next((group.workload for group in problem.option_groups if target in group.demands), target)


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    if part.kind is not PartKind.AFFINITY:
        return None
    from fitlang.solve.explain import search

    check = search.decided_without(problem, part, deadline)
    if check is None:
        return None
    rule = demands_of(problem, part.subject)[0].affinities[part.position]
    verb = "anti_affinity" if rule.anti else "affinity"
    text = (f"drop `{verb} {_as_written(problem, rule.target)} on {rule.topology}` from `{part.subject}`"
            f"{where(rule.origin)}")
    return search.Repair(part, text, rule.origin, None, None, check.cost, checked=check)


class _Followed(Frozen):
    """`Encoding.cache`'s key of the workloads some affinity follows."""


def keeps_whole(encoding: Encoding, demand: Demand) -> bool:
    """Affinity needs its target present, and rules per domain on a workload itself count per
    domain: rounding could break either, so these counts stay whole, and those of a workload
    an affinity follows."""
    followed = encoding.cache.get(_Followed())
    if followed is None:
        followed = encoding.cache[_Followed()] = {
            r.target for d in encoding.problem.demands for r in d.affinities if not r.anti}
    return demand.name in followed or any(
        (r.target != "self" and not r.anti) or (r.target == "self" and r.topology != "node")
        for r in demand.affinities)


def _apart_in_time(problem: Problem) -> list[tuple[str, str, AffinityGroup]]:
    """The pairs kept off one node at a step, (demand, target or itself, the rule's group)."""
    pairs = []
    for demand in problem.demands:
        for index, rule in enumerate(demand.affinities):
            if rule.anti and rule.topology == "node":
                target = demand.name if rule.target == "self" else rule.target
                pairs.append((demand.name, target, AffinityGroup(demand.name, index)))
    return pairs


def time_rows(encoding: TimeEncoding) -> None:
    """With a horizon, per class and step: `anti_affinity self on node`, a workload's replicas
    running there <= the nodes in use (one a node); `anti_affinity W on node`, n[w] + n[W] <= u
    with each side's replicas on its n nodes (<= its replicas x n): exact on a class of one
    node, as a small fleet is solved."""
    problem = encoding.problem
    pairs = _apart_in_time(problem)
    if not pairs:
        return
    model = encoding.model
    for node_class in problem.classes:
        for step in range(encoding.timeline.steps):
            running = encoding.running_by_demand(node_class.id, step)
            u = encoding.u[node_class.id, step]
            for name, target, group in pairs:
                if name not in running or (target != name and target not in running):
                    continue
                if target == name:
                    model.add({**{column: 1 for column, _ in running[name]}, u: -1}, upper=0, group=group)
                    continue
                sides = {}
                for side in (name, target):
                    sides[side] = model.var(f"n[{side},{node_class.id},{step}]", 0, node_class.count)
                    model.add({**{column: 1 for column, _ in running[side]},
                               sides[side]: -problem.demand(side).replicas}, upper=0, group=group)
                model.add({sides[name]: 1, sides[target]: 1, u: -1}, upper=0, group=group)


def _in_domains_in_time(problem: Problem) -> list[tuple[Demand, AffinityRule, AffinityGroup]]:
    """The rules read per domain and step (every affinity; an anti-affinity but on nodes)."""
    return [(demand, rule, AffinityGroup(demand.name, index)) for demand in problem.demands
            for index, rule in enumerate(demand.affinities) if not (rule.anti and rule.topology == "node")]


def domain_time_rows(encoding: TimeEncoding) -> None:
    """With a horizon, per step and domain (a class for `on node`): `anti_affinity self`, the
    workload's replicas running there <= 1; `anti_affinity W`, a binary per side that is 1
    where it runs there, the two <= 1; `affinity A`, the workload's replicas running there <=
    its replicas x A's running there (none where A runs nowhere in it). Exact over zones and
    labels (a class is in one domain) and on a class of one node; over a pool `on node` a
    relaxation (its nodes not told apart)."""
    rules = _in_domains_in_time(encoding.problem)
    if not rules:
        return
    problem = encoding.problem
    for demand, rule, group in rules:
        target = demand.name if rule.target == "self" else rule.target
        for step in range(encoding.timeline.steps):
            mine = _running_per_domain(encoding, demand.name, rule.topology, step)
            theirs = _running_per_domain(encoding, target, rule.topology, step)
            for domain, terms in sorted(mine.items()):
                if rule.target == "self":
                    encoding.model.add(terms, upper=1, group=group)
                elif not rule.anti:
                    encoding.model.add({**terms, **{c: -demand.replicas for c in theirs.get(domain, {})}},
                                       upper=0, group=group)
                elif domain in theirs:
                    sides = [(terms, demand.replicas), (theirs[domain], problem.demand(target).replicas)]
                    runs = [encoding.model.var(f"in[{name},{domain},{step}]", 0, 1)
                            for name in (demand.name, target)]
                    for (side, most), flag in zip(sides, runs):
                        encoding.model.add({**side, flag: -most}, upper=0, group=group)
                    encoding.model.add(dict.fromkeys(runs, 1), upper=1, group=group)


def _running_per_domain(encoding: TimeEncoding, name: str, topology: str, step: int
                        ) -> dict[str, dict[int, int]]:
    """A demand's columns running at `step`, per domain of `topology` (a class for `node`), as
    rows' terms."""
    per: dict[str, dict[int, int]] = {}
    if name not in {d.name for d in encoding.problem.demands}:
        return per
    for class_id in encoding.problem.demand(name).eligible:
        node_class = encoding.problem.node_class(class_id)
        domain = class_id if topology == "node" else node_class.topology_value(topology)
        columns = encoding.running_by_demand(class_id, step).get(name, ())
        if domain is not None and columns:
            per.setdefault(domain, {}).update({column: 1 for column, _ in columns})
    return per


def check_runs(placed: Placed, runs: list[Run]) -> Iterator[Diagnostic]:
    """`fitc verify` with a horizon: the anti-affinities on nodes, step by step, and the
    other rules per domain over the replicas running at each step (`_domains_at`)."""
    yield from _domains_at(placed, runs)
    pairs = _apart_in_time(placed.problem)
    if not pairs:
        return
    by_node: dict[str, list[Run]] = {}
    for run in runs:
        by_node.setdefault(run.node, []).append(run)
    for name, target, group in pairs:
        rule = placed.demands[name].affinities[group.index]
        verb = f"anti_affinity {rule.target} on node"
        for node, here in sorted(by_node.items()):
            mine = [r for r in here if r.demand == name]
            theirs = [r for r in here if r.demand == target]
            clash = next(((a, b) for a in mine for b in theirs if a is not b
                          and a.start < b.end and b.start < a.end), None)
            if clash is not None:
                step = max(clash[0].start, clash[1].start)
                whom = "another of its replicas" if target == name else f"`{target}`"
                yield placed.violation(f"`{name}` runs on node `{node}` at step {step} with {whom} "
                                       f"({verb})", rule.origin)


def _domains_at(placed: Placed, runs: list[Run]) -> Iterator[Diagnostic]:
    """Each affinity and each anti-affinity over zones or labels, at each step where the
    runs of its two workloads start or end, over the replicas running then (the first step
    each rule breaks)."""
    rules = _in_domains_in_time(placed.problem)
    if not rules:
        return
    by_demand: dict[str, list[Run]] = {}
    for run in runs:
        by_demand.setdefault(run.demand, []).append(run)
    owner = placed.owner
    for demand, rule, _ in rules:
        mine = by_demand.get(demand.name, [])
        target = demand.name if rule.target == "self" else rule.target
        theirs = by_demand.get(target, [])
        verb = f"{'anti_affinity' if rule.anti else 'affinity'} {rule.target} on {rule.topology}"
        for step in sorted({r.start for r in mine + theirs} | {r.end for r in mine + theirs}):
            here = Counter(domain_of(r.node, owner[r.node], rule.topology) for r in mine
                           if r.start <= step < r.end)
            there = {domain_of(r.node, owner[r.node], rule.topology) for r in theirs
                     if r.start <= step < r.end}
            if rule.target == "self":
                broken = sorted(str(d) for d, n in here.items() if n > 1 or d is None)
                said = f"several replicas in {rule.topology} {', '.join(broken)}"
            else:
                broken = sorted(str(d) for d in here
                                if ((d in there) if rule.anti else (d is None or d not in there)))
                said = (f"runs in {rule.topology} {', '.join(broken)} "
                        f"{'with' if rule.anti else 'without'} `{rule.target}`")
            if broken:
                yield placed.violation(f"`{demand.name}` {said} at step {step} ({verb})", rule.origin)
                break


RULE = Rule("affinity", reads=reads, excludes=excludes, why=why, check=check,
            check_reads=CheckReads.DEMANDS,
            rows=Rows(relations=affinity_rows, rank=-1, keeps_whole=keeps_whole),
            packing=OnNodes(apart=apart_on_nodes, together=together_on_nodes, same=same_domains),
            part_kind=PartKind.AFFINITY, reason=reason, repairs=repairs)
