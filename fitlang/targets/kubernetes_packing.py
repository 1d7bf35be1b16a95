"""Whether the scheduler, choosing the nodes itself, can always place what the solver packed.

The manifests select nodes, not places for each pod: a declared pool by its label, bought
capacity by its node group. Pinned nodes (an inventory's, `pin_nodes`) are written one object
per workload and node (`kubernetes.written_per_node`): those hold their pods where the solver
found them room, and only take room from the objects that may also reach their node; a gang's
Job there still selects the set of hostnames chosen for it. Within what an object selects,
kube-scheduler picks a node for each pod as the pods come, among the nodes where it fits
(NodeResourcesFit) and its pod (anti-)affinity and spreads allow it, scoring the rest
(LeastAllocated by default: it spreads pods out). The solver's packing is one way to place
them; another order can leave a pod with no node for good where the nodes are packed tight:
two 2-CPU pods put on both 4-CPU nodes of a pool leave no room for a 3-CPU pod that the solver
put beside them (nothing the scheduler does moves a pod once bound).

The test is sufficient, not exact: it may warn where every order happens to work, never
stays silent where one can fail. A pod `p` finds a node whatever came before it when fewer of
the nodes it may use can be closed to it than there are: a node closes to `p` in a resource
only when what the other pods take of it exceeds its allocatable less `p`'s request, or it
holds a pod `p` must keep away from (anti-affinity on nodes, either way; `exclusive`). A pod
that large, or one to keep away from, closes a node alone; smaller ones only together: the
other pods that may reach those nodes close at most as many as there are pods of the first
kind, plus what the smaller ones can close: no more than their shares of the thresholds allow
(each pod's largest share, summed: a node they close takes shares adding up to 1 or more), nor
than groups they can make (a group needs at least a threshold over its largest pod's request of
them), nor than each resource's sum over its threshold, added up. Add the nodes a node spread
of skew k may close (the workload's other pods / k), and every node a pod its workload must
stand beside (affinity on nodes) may be missing from (not the spread of an object on one node: its only
domain). Where the nodes that may close reach the nodes `p` may use, W0620 names the workload
and its pool: pin the nodes (`pin_nodes` for declared pools) to run the packing exactly, or
leave slack. Work placed in
time (a horizon) is not tested here.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

from fitlang.model.problem import NodeClass, Problem
from fitlang.targets.base import CompileContext, Split, demand_key

# (class id, node name or None): a node selected by name, or a class selected whole
Unit = tuple[str, str | None]


@dataclass
class _Object:
    """One object's pods: a Deployment of one split, or a gang Job over its splits."""

    workload: str  # the workload's name (the label its pods carry)
    requests: dict[str, int]
    replicas: int
    units: list[Unit]
    splits: list[Split] = field(default_factory=list)
    # pinned to one node by its affinity: a spread's only domain there (nodeAffinityPolicy
    # Honor, the default, counts only the nodes a pod's affinity selects), never skewed
    one_node: bool = False


def at_risk(context: CompileContext, pinned: Callable[[NodeClass], bool],
            per_node: Callable[[Split], bool]) -> list[tuple[Split, str]]:
    """The splits whose pods some order of the scheduler's choices can leave Pending, each with
    the pool it names. `pinned`: whether a class is selected by its chosen nodes' names;
    `per_node`: whether a split is written one object per node (never at risk: each holds
    its pods on one node, where the solver found them room; they still take room from the
    objects that may reach that node)."""
    problem = context.problem
    if problem.timeline is not None or context.per_node:
        return []
    objects = _objects(context, pinned, per_node)
    sizes = _unit_sizes(objects, problem)
    reaching: dict[Unit, list[_Object]] = defaultdict(list)
    for obj in objects:
        for unit in obj.units:
            reaching[unit].append(obj)
    rules = _node_rules(context)
    found = []
    for obj in objects:
        nodes = sum(sizes[unit] for unit in obj.units)
        others = list({id(o): o for unit in obj.units for o in reaching[unit]}.values())
        capacities = [problem.node_class(unit[0]).capacity for unit in obj.units]
        if _closable(obj, nodes, capacities, others, rules) >= nodes:
            found.append((obj.splits[0], obj.splits[0].node_class.pool))
    return found


def _objects(context: CompileContext, pinned: Callable[[NodeClass], bool],
             per_node: Callable[[Split], bool]) -> list[_Object]:
    found = []
    for workload in context.placed_workloads():
        splits = context.splits(workload)
        demand = context.problem.demand(demand_key(workload))
        groups = [splits] if workload.gang and workload.kind == "job" else [[s] for s in splits]
        for group in groups:
            if len(group) == 1 and per_node(group[0]):
                split = group[0]
                found += [_Object(workload.name, dict(demand.requests), count,
                                  [(split.node_class.id, node)], [split], one_node=True)
                          for node, count in split.per_node.items()]
                continue
            units: list[Unit] = []
            for split in group:
                if pinned(split.node_class):
                    units += [(split.node_class.id, name) for name in split.nodes]
                else:
                    units.append((split.node_class.id, None))
            found.append(_Object(workload.name, dict(demand.requests),
                                 sum(s.replicas for s in group), list(dict.fromkeys(units)), group))
    return found


def _unit_sizes(objects: list[_Object], problem: Problem) -> dict[Unit, int]:
    """The nodes a unit stands for: one named node; a declared pool's every node; a bought
    class's nodes bought (what its node group holds: the nodes the placement uses)."""
    used: dict[str, set[str]] = defaultdict(set)
    for obj in objects:
        for split in obj.splits:
            used[split.node_class.id].update(split.nodes)
    sizes = {}
    for obj in objects:
        for unit in obj.units:
            class_id, name = unit
            node_class = problem.node_class(class_id)
            if name is not None:
                sizes[unit] = 1
            elif node_class.provisioned:
                sizes[unit] = len(used[class_id])
            else:
                sizes[unit] = node_class.count
    return sizes


@dataclass
class _NodeRules:
    apart: set[tuple[str, str]] = field(default_factory=set)  # anti-affinity on nodes, both ways
    beside: dict[str, set[str]] = field(default_factory=dict)  # affinity on nodes: workload -> targets
    skew: dict[str, int] = field(default_factory=dict)  # the tightest node spread
    exclusive: set[str] = field(default_factory=set)


def _node_rules(context: CompileContext) -> _NodeRules:
    rules = _NodeRules()
    for workload in context.placed_workloads():
        name = workload.name
        if workload.exclusive:
            rules.exclusive.add(name)
        for rule in workload.affinities:
            if rule.topology != "node":
                continue  # a class's nodes share every other topology: the placement decided it
            target = name if rule.target == "self" else rule.target
            if rule.anti:
                rules.apart.update({(name, target), (target, name)})
            elif target != name:
                rules.beside.setdefault(name, set()).add(target)
        for spread in workload.spreads:
            if spread.topology == "node":
                rules.skew[name] = min(rules.skew.get(name, spread.max_skew), spread.max_skew)
    return rules


def _closable(obj: _Object, nodes: int, capacities: list[dict[str, int]], reaching: list[_Object],
              rules: _NodeRules) -> int:
    """How many of the `nodes` one of `obj`'s pods may use the other pods that may reach them
    can close to it, at most (each pod counted once, wherever it lands)."""
    others = [(o, o.replicas - (o is obj)) for o in reaching]
    thresholds = {}  # the least of a resource that closes one of the nodes to the pod
    for resource, asked in obj.requests.items():
        if asked > 0:
            thresholds[resource] = min(c.get(resource, 0) for c in capacities) - asked + 1
            if thresholds[resource] <= 0:
                return nodes
    me = obj.workload

    def closes_alone(other: _Object) -> bool:
        apart = (me, other.workload) in rules.apart or (me != other.workload and (
            me in rules.exclusive or other.workload in rules.exclusive))
        return apart or any(other.requests.get(r, 0) >= t for r, t in thresholds.items())

    # a closed node holds a pod that closes it alone, or smaller pods adding up to a threshold
    # in some resource: their shares of the thresholds, each pod's largest, add up to 1 or more
    # (or, counting each resource on its own, their sums over its threshold: the less of the two)
    closed = sum(count for o, count in others if closes_alone(o))
    small = [(o, count) for o, count in others if not closes_alone(o)]
    shares = sum(count * max((Fraction(o.requests.get(r, 0), t) for r, t in thresholds.items()),
                             default=Fraction(0)) for o, count in small)
    by_resource = sum(sum(o.requests.get(r, 0) * count for o, count in small) // t
                      for r, t in thresholds.items())
    closed += min(math.floor(shares), _groups(small, thresholds), by_resource)
    pods: dict[str, int] = defaultdict(int)
    for o, count in others:
        pods[o.workload] += count
    if me in rules.skew and not obj.one_node:
        closed += pods[me] // rules.skew[me]
    for target in rules.beside.get(me, ()):
        closed += max(0, nodes - pods.get(target, 0))
    return min(nodes, closed)



def _groups(small: list[tuple[_Object, int]], thresholds: dict[str, int]) -> int:
    """At most how many disjoint groups of these pods each close a node (add up to the
    threshold in some resource; every pod below each): a group needs at least the threshold
    over its largest pod's request of them, so the pods that need the fewest lead the most."""
    needs: dict[int, int] = defaultdict(int)  # pods a group led by such a pod needs -> such pods
    for other, count in small:
        asked = [-(-t // other.requests[r]) for r, t in thresholds.items() if other.requests.get(r, 0) > 0]
        if asked and count > 0:
            needs[min(asked)] += count
    pods = sum(needs.values())
    groups = used = 0
    for each, count in sorted(needs.items()):
        taken = min(count, (pods - used) // each)
        groups, used = groups + taken, used + taken * each
        if taken < count:
            break
    return groups
