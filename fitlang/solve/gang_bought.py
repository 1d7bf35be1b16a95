"""A whole gang sent onto bought accelerator nodes, the room it leaves and theirs then filled
(issue 15, the accelerator-heavy shape at 10,000 nodes).

The pair LP buys ~40 `aws_p5_48xlarge` nodes on `bench/ai_fleet.py` seeds 3 / 8 / 12 / 14 (the
buy group's `max_count`): each takes one training replica's 8 GPUs and ~160 cores / 1.5 TiB of
CPU work. The answer's floor buys 16-21 of them or spends the buy group on small CPU offers, and
no move of the search gets there: a gang's replicas stay in their cluster (`improve._Search`:
the offers are another cluster), and a bought node pays only once both a gang and the CPU work
it can hold have moved onto it (session 39, h39a; session 40, h40a).

So here each gang that fits whole on new nodes of a bought accelerator class (within the class's
count and the buy limits, the budget and the power caps) is moved there as a whole, on a copy of
the packing: its old nodes closed where nothing else is on them, else emptied into the room of
other open nodes where they can be (`_Search.try_close`); then the dearest open nodes closed
into the room left (the new nodes' CPUs and memory; the GPUs the gang left), those hosting no
accelerator workload first. The copy is kept where it costs less; the first move that gains is
kept (the gangs whose nodes cost most for what the new nodes cost first), then the next gang
tried on it. Where the buy group is spent on nodes of CPU offers (seed 8's floor: `c7g` / `m7i`
nodes), their nodes count as freeable: the new nodes are opened past the limit, those nodes
closed into the room first, and the move dropped where the limits then still fail (`_slots`,
`_freed`). Every step keeps every rule `_Search` keeps (the gang leaves its cluster whole:
only gangs with no spread and no affinity, which no other workload's affinity names, move:
their counts per domain nothing asks for).
"""

from __future__ import annotations

import math
import weakref

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, node_limit
from fitlang.solve.aggregate import within_limits
from fitlang.solve.dear_nodes import ACCELERATOR
from fitlang.solve.improve import _past, _Search
from fitlang.solve.make_room import adopt, copied
from fitlang.solve.pack import Packing
from fitlang.solve.placement_result import _packed_value

# the dearest open nodes tried for closing into the room a move leaves, of each kind (hosting no
# accelerator workload: into the new nodes' CPUs and memory; hosting one: into the GPUs the gang
# left). Seeds 3 / 12 at 5 s: 13-18 CPU nodes closed into 8-16 new p5 nodes
FILL_TRIES = 200
# the moves tried and not kept, per problem: not tried again (the move runs on the first complete
# guided pass's polish, gang_polish.py, and again first in the search, on that pass or one as
# cheap; each trial is ~0.1 CPU s at 10,000 nodes: seed 12, one gang kept, then 18 trials in vain)
_TRIED: weakref.WeakKeyDictionary[Problem, set[tuple[str, str]]] = weakref.WeakKeyDictionary()


def gangs_onto_bought(problem: Problem, packing: Packing, objective: str, deadline: float | None,
                      give_up: int | None = None) -> int:
    """Each gang moved whole onto new nodes of a bought accelerator class where that costs less
    (see the module's doc), until the `deadline` or `give_up` trials in a row kept nothing; how
    many moves were kept."""
    if objective != "cost" or not packing.complete or _past(deadline):
        return 0
    value = _packed_value(problem, packing, objective)
    kept = failed = 0
    tried = _TRIED.setdefault(problem, set())
    for gang, target in _candidates(problem, packing):
        if _past(deadline) or value is None or failed == give_up:
            break
        freed = _slots(problem, packing, gang, target)
        if freed is None or (gang.name, target.id) in tried:
            continue
        trial = copied(packing)
        trial_value = _packed_value(problem, trial, objective) \
            if _moved(problem, trial, gang, target, objective, freed) else None
        if trial_value is not None and trial_value < value:
            adopt(packing, trial)
            value, kept, failed = trial_value, kept + 1, 0
        else:
            tried.add((gang.name, target.id))
            failed += 1
    return kept


def _candidates(problem: Problem, packing: Packing) -> list[tuple[Demand, NodeClass]]:
    """The gangs with no spread and no affinity, each with a bought accelerator class it may
    use; the gangs whose nodes cost most beside what their new nodes would cost first."""
    targets = [c for c in problem.classes if c.offer and c.accelerator]
    if not targets:
        return []
    held: dict[str, float] = {}
    for class_id, nodes in packing.nodes.items():
        price = float(problem.node_class(class_id).price)
        for node in nodes:
            for name in node.hosted:
                held[name] = held.get(name, 0.0) + price
    # (a gang another workload's affinity names moves that workload's domain counts too)
    named = {rule.target for demand in problem.demands for rule in demand.affinities}
    found = []
    for gang in problem.demands:
        if not gang.gang or gang.spreads or gang.affinities or gang.name in named or gang.name not in held:
            continue
        for target in targets:
            per = _per_node(gang, target)
            if target.id in gang.eligible and per > 0:
                cost = float(target.price) * math.ceil(gang.replicas / per)
                found.append((cost - held[gang.name], gang.name, target.id, gang, target))
    found.sort(key=lambda item: item[:3])
    return [(gang, target) for *_, gang, target in found]


def _per_node(gang: Demand, target: NodeClass) -> int:
    """How many of the gang's replicas a new node of the class takes."""
    capacity = target.capacity_of(target.node_names[0]) if target.count else target.capacity
    fits = [capacity[r] // gang.requests[r] for r in RESOURCES if gang.requests.get(r)]
    return min([node_limit(gang, target), *fits])


def _slots(problem: Problem, packing: Packing, gang: Demand, target: NodeClass) -> list[str] | None:
    """Whether the nodes the gang needs of the class may be bought: on top of those open (`[]`),
    or only once bought nodes that host no accelerator work are closed (their classes: the CPU
    offers of the buy group, whose work the new nodes' CPUs may take, `_freed`), or not (None)."""
    needed = math.ceil(gang.replicas / _per_node(gang, target))
    if packing.opened(target.id) + needed > target.count:
        return None
    counts = {c.id: packing.opened(c.id) for c in problem.classes}
    counts[target.id] += needed
    if within_limits(problem, counts):
        return []
    freeable = [c.id for c in problem.classes if c.offer and not c.accelerator and counts[c.id]]
    return freeable if freeable and within_limits(problem, counts | dict.fromkeys(freeable, 0)) else None


def _moved(problem: Problem, trial: Packing, gang: Demand, target: NodeClass, objective: str,
           freed: list[str]) -> bool:
    """The gang moved onto new nodes of `target` in `trial`, its old nodes closed or emptied
    where they can be, the dearest nodes closed into the room left; whether it moved. Where
    the new nodes pass the buy limits until bought nodes close (`freed`: their classes), those
    are closed into the room first, and the move is dropped where the limits still fail."""
    search = _Search(problem, trial, objective)
    if gang.name in search.fixed:
        return False
    need = search.requests[gang.name]
    left: list = []  # the gang's old nodes, with their classes
    for class_id, nodes in trial.nodes.items():
        for i, node in enumerate(nodes):
            amount = node.hosted.pop(gang.name, 0)
            if amount:
                search.free[class_id][i] += need * amount
                left.append((node, problem.node_class(class_id)))
    if not _opened(search, gang, target, over_limits=bool(freed)):
        return False
    if freed:
        _freed(problem, search, freed)
    for node, node_class in left:
        if node.hosted:
            search.try_close(node, node_class)
        else:
            class_id, index = search.position[node.name]
            search.open[class_id][index] = False
    _filled(problem, search, target)
    search.finish()
    return within_limits(problem, {c.id: trial.opened(c.id) for c in problem.classes})


def _freed(problem: Problem, search: _Search, freed: list[str]) -> None:
    """The open nodes of the `freed` classes closed into the room of the others, those hosting
    least first, until the buy limits, the budget and the power caps hold again."""
    nodes = sorted(((sum(node.hosted.values()), node.name, node, problem.node_class(class_id))
                    for class_id in freed for node in search.packing.nodes.get(class_id, [])),
                   key=lambda item: item[:2])
    for *_, node, node_class in nodes:
        if within_limits(problem, {c.id: int(np.count_nonzero(search.open.get(c.id, [])))
                                   for c in problem.classes}):
            break
        search.try_close(node, node_class)


def _opened(search: _Search, gang: Demand, target: NodeClass, over_limits: bool = False) -> bool:
    """New nodes of `target` opened for all of the gang's replicas; whether they could be
    (`over_limits`: past the buy limits, for now; `_moved` checks them at its end)."""
    per, need, left = _per_node(gang, target), search.requests[gang.name], gang.replicas
    while left > 0:
        name = search._unused_name(target, [])
        if name is None or not (over_limits or search._may_open(target)):
            return False
        take = min(left, per)
        capacity = np.array([target.capacity_of(name)[r] for r in RESOURCES], dtype=np.int64)
        search._open(target, name, capacity - need * take, {gang.name: take})
        left -= take
    search.totals = None  # (counted again where asked: past the limits, or nodes closed since)
    return True


def _filled(problem: Problem, search: _Search, target: NodeClass) -> None:
    """The dearest open nodes (not of `target`) closed into the room of the others, those that
    host no accelerator workload first, FILL_TRIES of each kind."""
    accelerated = {d.name for d in problem.demands if d.requests.get(ACCELERATOR, 0)}
    dear = sorted(((-search.price[node_class.id], node.name, node, node_class)
                   for _, node, node_class in search.ranked()
                   if search.price[node_class.id] > 0 and node_class.id != target.id),
                  key=lambda item: item[:2])
    for hosting in (False, True):
        tries = [(node, node_class) for *_, node, node_class in dear
                 if bool(accelerated & node.hosted.keys()) == hosting][:FILL_TRIES]
        for node, node_class in tries:
            search.try_close(node, node_class)
