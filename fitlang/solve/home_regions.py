"""Nodes bought in the region of the policy's own nodes where the price ties: a tie-break, not a rule.

Most offers are sold in several regions at one list price (std/aws: `m7i.2xlarge` in
us-east-1, us-east-2 and us-west-2), and where the cost ties the search buys in whichever
region it reaches: session 59's outside user, an EKS cluster in us-east-1 with a bare `buy`,
was sold 2 x g6.xlarge in us-east-2 and 4 x c7g.4xlarge in us-west-2, nodes that join clusters
(`aws-us-east-2`) the team does not have, and `explain`'s buy repair said the same.

So after the solve, nodes bought in a region ranked after another (`Problem.home_regions`: the
`terraform` block's region, then the regions of the policy's own nodes, then the rest) move to
a class of the same offer there that every objective counts alike (`alike`: its prices, per
step too, electricity, carbon, shape, pricing, `buy` block, the preferences it earns): the
value cannot change. What may hold them where they are is a rule over regions (a spread, a
latency bound, residency, a carbon budget): the moved placement is checked by `verify` once,
and where it breaks a rule each class's move is tried alone (at most `MOST_TRIED_ALONE`).
Nodes a current state runs (a plan's bought nodes) stay where they are. `explain`'s buy repair
moves its counts the same way (`counts_at_home`), checked as every repair is."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple

from fitlang.model.problem import NodeClass, Problem
from fitlang.solve.placement_result import Placement

# the rank of a region `Problem.home_regions` does not list
ELSEWHERE = 2
# where moving every class together breaks a rule: the moves tried one by one, each a `verify`
# of the whole placement (0.2 CPU s at 10,000 nodes), the first few only
MOST_TRIED_ALONE = 4


class _Move(NamedTuple):
    """Nodes of one bought class renamed as nodes of another: (its name, the new name)."""
    target: str
    names: tuple[tuple[str, str], ...]


def rank(problem: Problem, node_class: NodeClass) -> int:
    """Where the class's region comes at a price tie: lower first."""
    return problem.home_regions.get(node_class.region or "", ELSEWHERE)


def alike(problem: Problem, first: NodeClass, second: NodeClass) -> bool:
    """Do a node of each class count the same in every objective and hold the same work?
    (They may differ where they are: region, cluster, site.)"""
    return (first.offer == second.offer and first.buy_group == second.buy_group
            and first.spot == second.spot and _priced(first) == _priced(second)
            and _shaped(first) == _shaped(second)
            and all(d.preference.get(first.id) == d.preference.get(second.id)
                    for d in problem.demands if d.preference))


def _priced(node_class: NodeClass) -> tuple:
    c = node_class
    return (c.price, c.step_price, c.energy_cost, c.step_energy_cost, c.step_carbon, c.power_watts,
            c.off_steps)


def _shaped(node_class: NodeClass) -> tuple:
    c = node_class
    return (c.capacity, c.reserved, c.daemons, c.max_pods, c.labels, c.taints, c.arch, c.accelerator,
            c.local_disk, c.instance_type, c.node_capacity, c.dedicated, c.features)


def at_home(problem: Problem, placement: Placement) -> Placement:
    """`placement` with its bought nodes moved to the best-ranked region where a class alike
    has room and every rule still holds; else as it is."""
    if not problem.home_regions or not placement.bought or placement.overfull:
        return placement
    moves = _moves(problem, placement)
    if not moves:
        return placement
    together = _moved(problem, placement, moves)
    if _holds(problem, together):
        return together
    kept: list[_Move] = []
    best = placement
    for move in moves[:MOST_TRIED_ALONE]:
        trial = _moved(problem, placement, kept + [move])
        if _holds(problem, trial):
            kept, best = kept + [move], trial
    return best


def _moves(problem: Problem, placement: Placement) -> list[_Move]:
    """Each bought class's movable nodes onto the free names of the best-ranked classes alike,
    in problem order. A name used by the placement is never a target (not even one a move
    frees), so that each move stands alone where another is not made."""
    bought = [c for c in problem.classes if c.provisioned]
    used = {name for names in placement.bought.values() for name in names}
    busy = _running_nodes(problem)
    free: dict[str, Iterator[str]] = {}
    moves = []
    for source in bought:
        names = [n for n in placement.bought.get(source.id, ())
                 if n not in busy and n not in source.node_names[:source.cluster_nodes]]
        targets = sorted((c for c in bought if rank(problem, c) < rank(problem, source)
                          and alike(problem, source, c)), key=lambda c: rank(problem, c))
        for target in targets:
            if not names:
                break
            names_free = free.setdefault(target.id, _free_names(target, used | busy))
            pairs = tuple(zip(names, names_free))
            if pairs:
                moves.append(_Move(target.id, pairs))
                names = names[len(pairs):]
    return moves


def _running_nodes(problem: Problem) -> set[str]:
    """Nodes a current state runs (a plan's): renaming one would move what runs there."""
    return set(problem.bought_now) | {node for nodes in problem.running.values() for node in nodes} \
        | {node for nodes in problem.unhealthy.values() for node in nodes}


def _free_names(node_class: NodeClass, taken: set[str]) -> Iterator[str]:
    """The class's names a new node may take, in order (its cluster's own nodes' names first
    are not new)."""
    return (name for name in node_class.node_names[node_class.cluster_nodes:] if name not in taken)


def _moved(problem: Problem, placement: Placement, moves: Sequence[_Move]) -> Placement:
    """`placement` with the moves' nodes renamed, its bought nodes listed by class again."""
    renamed = {old: new for move in moves for old, new in move.names}
    arrived: dict[str, list[str]] = {}
    for move in moves:
        arrived.setdefault(move.target, []).extend(new for _, new in move.names)
    moved = copy.copy(placement)
    moved.assignments = [dataclasses.replace(a, node=renamed[a.node]) if a.node in renamed else a
                         for a in placement.assignments]
    moved.bought = _by_class(problem, placement.bought, renamed, arrived)
    return moved


def _by_class(problem: Problem, bought: Mapping[str, list[str]], renamed: Mapping[str, str],
              arrived: Mapping[str, list[str]]) -> dict[str, list[str]]:
    by_class = {}
    for node_class in problem.classes:
        names = [n for n in bought.get(node_class.id, ()) if n not in renamed]
        names += arrived.get(node_class.id, [])
        if names:
            by_class[node_class.id] = names
    return by_class


def _holds(problem: Problem, placement: Placement) -> bool:
    """Does every rule hold (replicas left out aside: moving nodes places none fewer)?"""
    from fitlang.solve.self_check import broken_rules  # (it reads the report, which reads the solver)

    checked = problem if problem.allow_unplaced or not placement.unplaced else \
        dataclasses.replace(problem, allow_unplaced=True)
    return not broken_rules(checked, placement)


def counts_at_home(problem: Problem, classes: Sequence[NodeClass],
                   counts: Mapping[str, int]) -> dict[str, int]:
    """Nodes to buy per class (`explain`'s buy repair) moved, class by class, to the best-ranked
    class alike with room for them (checked by the caller, as every repair is)."""
    moved = dict(counts)
    for source in classes:
        count = moved.get(source.id, 0)
        best = min((c for c in classes if rank(problem, c) < rank(problem, source)
                    and alike(problem, source, c) and moved.get(c.id, 0) + count <= c.count),
                   key=lambda c: rank(problem, c), default=None)
        if count and best is not None:
            moved[source.id], moved[best.id] = 0, moved.get(best.id, 0) + count
    return moved
