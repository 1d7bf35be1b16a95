"""Slurm's whole cores per job, restored on the solver's answer.

The solver counts a replica's CPUs on a node read from Slurm at the least Slurm ever gives it
(`model/slurm_cpus.least_milli`): whole CPUs per task, but whole cores only where that is
exact per replica. So its model is a relaxation (its bounds, `optimal` and E0501 stay true),
and its answer may overfill a node of ThreadsPerCore > 1, where Slurm gives each job (a
workload's replicas on the node) whole cores: three 1-CPU replicas of one workload count 3 of a
2-thread node's CPUs, Slurm gives them 4.

This stage moves replicas off such nodes, cheapest first: a replica whose job leaves a core
half used moves to a node where its workload's job has a free thread (no CPU more there), else
to a node already in use with room in whole cores, else it swaps with a replica of a node in
use, else it goes onto an unused node (cheapest class first). A target node is of a class every
rule on the workload counts as the source's (`pack.domains_key`), with its node-level rules
kept (workloads kept apart, exclusive ones alone, those it must join present, a node spread not
made worse). The moved answer is checked by `verify` once (linear in the fleet, only where
something moved); where it breaks a rule, or a node stays overfull, the answer is the solver's
as it was, its overfull nodes named (`Placement.overfull`) for the driver to say so in Slurm's
terms (E0509) instead of a result Slurm would not run. The moves are linear in the replicas on
the nodes they touch and the nodes looked at for room; nothing runs where no node is read from
a Slurm inventory of ThreadsPerCore > 1, nor where no node holds more replicas than its kubelet
admits. With a horizon jobs are per step: the same moves, step by step (`whole_cores_time.py`).

A replica is offered only nodes in use with room for it in every resource (`_Nodes.with_room`:
per class, what each node has free, kept as replicas move), and a swap is tried only where its
room adds up (`_swap_fits`): an oversubscribed cluster of 10,000 nodes (bench/hpc_queue.py) took
6.5 CPU s here, now ~2, the same moves. With a time limit the repair has a deadline (its end
less what follows it, `solved_and_repaired`): past it no more moves are looked for, and what is
still overfull is left out, least important first, where the policy allows it, else named
(`Placement.repair_cut`: E0509 / E0512 say the time limit ended the moves).

The same moves hold a node to the pods its kubelet admits (`NodeClass.max_pods`: a kubectl
node's `allocatable.pods`, an offer's or pool's `max_pods`), which the class model does not count
either: a replica that leaves a node over its pods frees one, whatever CPUs it frees (E0512
where no move finds room; before session 47 nothing counted pods, and a node could be given
more replicas than the 110 a kubelet admits by default).
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterator
from fractions import Fraction

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.model.slurm_cpus import MILLI, job_cpus, task_cpus
from fitlang.solve.budget import FINISH_CPU_PER_REPLICA
from fitlang.solve.linear import Status
from fitlang.solve.pack import _together, domains_key
from fitlang.solve.placement_result import Placement, Unplaced

# what the repair is expected to take, CPU seconds per replica of a policy with nodes read from
# Slurm in whole cores, kept from the solve's time limit for it (`solved_and_repaired`):
# bench/slurm_cores.py at 2,000 nodes 0.2-0.3 CPU s (load 17-25). An oversubscribed cluster of
# 10,000 nodes (bench/hpc_queue.py seed 5, 41,142 replicas placed, 368 nodes overfull) takes
# ~1.9 CPU s at load 25-30: the rest is kept from the search once the greedy floor shows the nodes
# it overfills (repair_time.py)
REPAIR_CPU_PER_REPLICA = 1e-5
# the least share of the time limit the repair is given, where the search ended late: the limit
# allows 10% + 0.3 s more (docs/performance.md, issue 15), and a repair cut at once leaves out
# (or E0509) what moves a few milliseconds long would have placed
REPAIR_LEAST_SHARE = 0.05
# the moved answer's check after the moves (`_breaks_a_rule`: a dump, a read and `verify`, as the
# verdict's), per replica, kept from the moves' deadline: hpc_queue 10,000 seed 5 ~0.45 CPU s
# (41,142 replicas, load ~20), which ran past the limit after moves cut at their deadline
CHECK_CPU_PER_REPLICA = FINISH_CPU_PER_REPLICA


def solved_and_repaired(problem: Problem, time_limit: float | None,
                        solved: Callable[[float | None], Placement]) -> Placement:
    """`solved(limit)` repaired (`repaired`) by the end of `time_limit` less what follows the
    moves (their check, the report: `budget.FINISH_CPU_PER_REPLICA`); where nodes are in whole
    cores, the solve is given the limit less what the repair is expected to take (and the
    search ends sooner where the greedy floor overfills many nodes: repair_time.py)."""
    if time_limit is None:
        return repaired(problem, solved(None))
    ends = time.monotonic() + time_limit
    expected = REPAIR_CPU_PER_REPLICA * sum(d.replicas for d in problem.demands)
    cores = problem.timeline is None and any(map(_in_whole_cores, problem.classes))
    placement = solved(max(time_limit / 2, time_limit - expected) if cores else time_limit)
    deadline = max(ends - (FINISH_CPU_PER_REPLICA + CHECK_CPU_PER_REPLICA) * len(placement.assignments),
                   time.monotonic() + REPAIR_LEAST_SHARE * time_limit)
    return repaired(problem, placement, deadline=deadline)


def repaired(problem: Problem, placement: Placement, value_of: Callable[[Placement], Fraction] | None = None,
             may_leave_out: bool = True, deadline: float | None = None) -> Placement:
    """`placement` with no node read from Slurm overfull in whole cores per job, where moving
    replicas can do it with every rule kept (or, where the policy allows replicas left out and
    `may_leave_out`, leaving out the least important: `_left_out`); else as it was, with
    `overfull` set. `value_of`: the moved answer's value where its objective is not the nodes'
    price alone (a plan's cost + moves); by default the nodes opened are added to the value.
    Past `deadline` (`time.monotonic()`) no more moves are looked for: what is still overfull
    is left out where that is allowed, else named (`repair_cut`)."""
    cores = any(map(_in_whole_cores, problem.classes))
    if not placement.assignments or not (cores or _over_pods(problem, placement)):
        return placement
    if problem.timeline is not None:  # jobs are per step there (its module)
        from fitlang.solve.whole_cores_time import repaired_in_time

        return repaired_in_time(problem, placement)
    nodes = _Nodes(problem, placement)
    overfull = [name for name, node_class in nodes.owner.items()
                if (node_class.max_pods is not None or _in_whole_cores(node_class)) and not nodes.fits(name)]
    if not overfull:
        return placement
    nodes.deadline = deadline
    overfull.sort(key=lambda name: _kept_first(nodes, name))
    moves = list(_moves(nodes, overfull))
    left: dict[int, str] = {}  # assignment index -> why it is left out
    if any(not nodes.fits(name) for name in overfull) and may_leave_out and problem.allow_unplaced:
        moves += _left_out(nodes, overfull, left)
    if any(not nodes.fits(name) for name in overfull) or not (moves or left):
        return _unrepaired(placement, overfull, nodes)
    moved = dataclasses.replace(placement, assignments=list(placement.assignments),
                                unplaced=list(placement.unplaced))
    for index, node in moves:
        moved.assignments[index] = dataclasses.replace(moved.assignments[index], node=node)
    if left:
        moved.unplaced += [Unplaced(moved.assignments[index].workload, moved.assignments[index].replica, why)
                           for index, why in sorted(left.items())]
        moved.assignments = [a for index, a in enumerate(moved.assignments) if index not in left]
        if moved.status is Status.OPTIMAL:  # more left out than the solver's count proved needed
            moved.status = Status.FEASIBLE
    _restate_value(moved, nodes.opened, value_of, nodes.emptied())
    if _breaks_a_rule(problem, moved):
        return _unrepaired(placement, overfull, _Nodes(problem, placement))
    return moved


def _unrepaired(placement: Placement, overfull: list[str], nodes: _Nodes) -> Placement:
    """The answer as the solver gave it, its overfull nodes named for the driver's message."""
    placement.overfull = overfull
    placement.over_pods = any(nodes.over_pods(name) for name in overfull)
    placement.repair_cut = nodes.cut
    return placement


def _in_whole_cores(node_class: NodeClass) -> bool:
    return node_class.slurm_allocated and node_class.threads_per_core > 1


def _over_pods(problem: Problem, placement: Placement) -> bool:
    """Does a node hold more replicas than its kubelet admits (`NodeClass.max_pods`)? With a
    horizon, more than it admits over the whole horizon: some step may be over them (a node
    that holds no more at all is over them at no step)."""
    limits = [c.max_pods for c in problem.classes if c.max_pods is not None]
    limits += [pods for c in problem.classes for pods in c.node_pods.values()]
    if not limits:
        return False
    least, owners = min(limits), problem.owners()
    for node, count in Counter(a.node for a in placement.assignments).items():
        if count > least and (found := owners.find(node)) is not None \
                and (most := found[0].pods_of(node)) is not None and count > most:
            return True
    return False


class _Nodes:
    """The answer node by node: what each hosts, its room as Slurm counts it, and where."""

    def __init__(self, problem: Problem, placement: Placement) -> None:
        self.problem = problem
        owners = problem.owners()
        self.hosted: dict[str, Counter[str]] = {}
        self.owner: dict[str, NodeClass] = {}
        self.at: dict[tuple[str, str], list[int]] = {}  # (workload, node) -> assignment indices
        self.hosts: dict[str, dict[str, None]] = {}  # workload -> its nodes, in order
        for index, assignment in enumerate(placement.assignments):
            name, node = assignment.workload, assignment.node
            if node not in self.owner:
                found = owners.find(node)
                assert found is not None, f"the solver placed on a node no class has: {node}"
                self.owner[node] = found[0]
            self.hosted.setdefault(node, Counter())[name] += 1
            self.at.setdefault((name, node), []).append(index)
            self.hosts.setdefault(name, {})[node] = None
        self.in_use: dict[str, list[str]] = {}  # class id -> its nodes in use
        self.position: dict[str, int] = {}  # node -> its place in its class's `in_use`
        for node, node_class in self.owner.items():
            self.position[node] = len(self.in_use.setdefault(node_class.id, []))
            self.in_use[node_class.id].append(node)
        self.bought = {name for names in placement.bought.values() for name in names}
        self.opened: list[NodeClass] = []
        self.apart, self.alone = problem.apart_on_nodes
        self._used: dict[str, dict[str, int]] = {}  # node -> what its jobs take (`used`)
        # a node only gains room when a replica leaves it: demand -> the nodes found without
        # room for one more of it, with their departures then (an oversubscribed Slurm cluster of
        # 10,000 nodes asked 9.4 million times, 17 CPU s, past a 5 s limit: bench/hpc_queue.py)
        self.departures: Counter[str] = Counter()
        self.refused: dict[str, dict[str, int]] = {}
        # class id -> what each of its nodes in use has free per resource (rows in `in_use`'s
        # order), so that a replica is offered only nodes with room for it (`with_room`): the
        # same cluster scanned its ~2,900 full nodes per replica moved, 3,005 times, and asked
        # `fits` of ~140,000 with CPUs but no memory for it. A node a replica moves on or off
        # is `stale` until the next question.
        self.free_rows: dict[str, np.ndarray] = {}
        self.stale: set[str] = set()
        self.deadline: float | None = None  # past it, no move is looked for
        self.cut = False  # ... and one was not

    def out_of_time(self) -> bool:
        """Is the repair past its deadline (then `cut`)?"""
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.cut = True
        return self.cut

    def open(self, node: str) -> None:
        """An unused node put in use (a replica is moving onto it)."""
        node_class = self.owner[node] = self.problem.owners().find(node)[0]  # type: ignore[index]
        self.position[node] = len(self.in_use.setdefault(node_class.id, []))
        self.in_use[node_class.id].append(node)
        self.opened.append(node_class)
        self.stale.add(node)

    def with_room(self, node_class: NodeClass, demand: Demand) -> list[str]:
        """The class's nodes in use, in their order (`in_use`), with room for one more replica
        of `demand` in every resource (on a node read from Slurm, the least CPUs one more
        replica of a job adds but none, on a free thread of its job: asked first): the only
        ones that may take one."""
        in_use, rows = self.in_use.get(node_class.id, []), self._free_rows(node_class)
        need = {r: demand.requests[r] for r in RESOURCES}
        if node_class.slurm_allocated and need["cpu"] > 0:
            cpus, threads = task_cpus(demand.asked_cpu), node_class.threads_per_core
            need["cpu"] = max(1, cpus - threads + 1) * MILLI  # (Slurm: one more of 2 x 3 CPUs adds 2)
        return [in_use[index] for index in np.flatnonzero((rows >= list(need.values())).all(axis=1))]

    def _free_rows(self, node_class: NodeClass) -> np.ndarray:
        """`free_rows` of the class, up to date."""
        in_use = self.in_use.get(node_class.id, [])
        rows = self.free_rows.get(node_class.id)
        if rows is None or len(rows) < len(in_use):
            rows = self.free_rows[node_class.id] = np.array(
                [self.free(node) for node in in_use], dtype=np.int64).reshape(len(in_use), len(RESOURCES))
        for node in self.stale:
            found = self.free_rows.get(self.owner[node].id)
            if found is not None and self.position[node] < len(found):
                found[self.position[node]] = self.free(node)
        self.stale.clear()
        return rows

    def free(self, node: str) -> list[int]:
        """What the node has free, per resource (`RESOURCES`' order; less than none where overfull)."""
        used, capacity = self.used(node), self.owner[node].capacity_of(node)
        return [capacity[resource] - used[resource] for resource in RESOURCES]

    def used(self, node: str) -> dict[str, int]:
        """What the node's jobs take, per resource."""
        found = self._used.get(node)
        if found is None:
            found = self._used[node] = dict.fromkeys(RESOURCES, 0)
            for name, count in self.hosted.get(node, Counter()).items():
                for resource, amount in self.taken(node, name, count).items():
                    found[resource] += amount
        return found

    def taken(self, node: str, name: str, count: int) -> dict[str, int]:
        """What `count` replicas of `name` take of the node, as one job."""
        demand, node_class = self.problem.demand(name), self.owner[node]
        taken = {resource: demand.requests[resource] * count for resource in RESOURCES}
        if node_class.slurm_allocated:
            taken["cpu"] = job_cpus(count, demand.asked_cpu, node_class.threads_per_core) * MILLI
        return taken

    def added_cpu(self, node: str, name: str) -> int:
        """The CPU one more replica of `name` adds to the node (none on a free thread of its job)."""
        demand, node_class = self.problem.demand(name), self.owner[node]
        if not node_class.slurm_allocated:
            return demand.requests["cpu"]
        count, threads = self.hosted.get(node, Counter())[name], node_class.threads_per_core
        asked = demand.asked_cpu
        return (job_cpus(count + 1, asked, threads) - job_cpus(count, asked, threads)) * MILLI

    def fits(self, node: str, extra: str | None = None) -> bool:
        """Does the node hold its jobs (with one replica of `extra` more)?"""
        node_class, used = self.owner[node], self.used(node)
        capacity = node_class.capacity_of(node)
        most = node_class.pods_of(node)
        if most is not None and self.pods(node) + (extra is not None) > most:
            return False
        if extra is None:
            return all(amount <= capacity[r] for r, amount in used.items())
        requests = self.problem.demand(extra).requests
        return used["cpu"] + self.added_cpu(node, extra) <= capacity["cpu"] and all(
            used[r] + requests[r] <= capacity[r] for r in RESOURCES if r != "cpu")

    def pods(self, node: str) -> int:
        return sum(self.hosted.get(node, Counter()).values())

    def over_pods(self, node: str) -> bool:
        most = self.owner[node].pods_of(node)
        return most is not None and self.pods(node) > most

    def cpu_freed(self, node: str, name: str) -> int:
        """The CPUs a node's job of `name` frees when one replica leaves it."""
        node_class, count = self.owner[node], self.hosted[node][name]
        asked, threads = self.problem.demand(name).asked_cpu, node_class.threads_per_core
        return job_cpus(count, asked, threads) - job_cpus(count - 1, asked, threads)

    def may_join(self, demand: Demand, node: str, source: str) -> bool:
        """Do the node-level rules let one replica of `demand` move from `source` to `node`?"""
        jobs = self.hosted.get(node, Counter())
        if demand.one_per_node and jobs[demand.name]:
            return False
        others = [name for name in jobs if name != demand.name]
        if (demand.name in self.alone and others) or any(name in self.alone for name in others):
            return False
        if self.apart.get(demand.name, set()) & set(jobs):
            return False
        present = set(others) | {self.problem.demand(name).workload for name in others}
        if not _together(demand) <= present:
            return False
        node_spread = any(spread.topology == "node" for spread in demand.spreads)
        return not node_spread or jobs[demand.name] + 1 <= self.hosted[source][demand.name]

    def may_leave(self, name: str, node: str) -> bool:
        """May a replica of `name` leave the node: not one a plan keeps where it runs
        (`Problem.pinned`), nor the last one a workload on the node needs there?"""
        if name in self.problem.pinned:
            return False
        jobs = self.hosted[node]
        if jobs[name] > 1:
            return True
        workload = self.problem.demand(name).workload
        return not any({name, workload} & _together(self.problem.demand(other))
                       for other in jobs if other != name)

    def remove(self, name: str, node: str) -> int:
        """One replica of `name` off `node`, out of the answer: its assignment's index."""
        self.departures[node] += 1
        self._counted(node, name, -1)
        return self.at[(name, node)].pop()

    def restore(self, name: str, node: str, index: int) -> None:
        """A replica `remove` took off, back where it was."""
        self._counted(node, name, 1)
        self.at.setdefault((name, node), []).append(index)

    def _counted(self, node: str, name: str, by: int) -> None:
        """`by` replicas of `name` more on the node (fewer, below none), what its jobs take
        (`used`) kept up to date: a swap tried moves replicas on and off full nodes of dozens of
        jobs, each counted again whole (~50,000 times on the cluster of `free_rows`)."""
        self.stale.add(node)
        hosted = self.hosted.setdefault(node, Counter())
        count = hosted[name]
        if (used := self._used.get(node)) is not None:
            before = self.taken(node, name, count)
            for resource, amount in self.taken(node, name, count + by).items():
                used[resource] += amount - before[resource]
        hosted[name] = count + by
        if hosted[name]:
            self.hosts.setdefault(name, {})[node] = None
        else:
            del hosted[name]
            del self.hosts[name][node]

    def emptied(self) -> list[NodeClass]:
        """The classes of the nodes of the answer (not bought ones) that host nothing now."""
        return [node_class for node, node_class in self.owner.items()
                if not node_class.provisioned and not self.hosted.get(node)]

    def move(self, name: str, source: str, target: str, index: int | None = None) -> int:
        """One replica of `name` from `source` to `target` (assignment `index`, else any of
        them there): the assignment moved."""
        self.departures[source] += 1
        if index is None:
            index = self.at[(name, source)].pop()
        else:
            self.at[(name, source)].remove(index)
        self.at.setdefault((name, target), []).append(index)
        self._counted(source, name, -1)
        self._counted(target, name, 1)
        return index


def _kept_first(nodes: _Nodes, name: str) -> tuple[int, str]:
    """The order the overfull nodes are repaired in: where the least priority on the node is
    highest first, since a node the deadline leaves overfull gives up its least important
    replica (`_left_out`): an oversubscribed cluster (bench/hpc_queue.py 3,000 nodes seed 61,
    10 s at load 27) left out 25 replicas of the top priority in node-name order, which a
    first-fit by priority places."""
    return -min(nodes.problem.demand(workload).priority for workload in nodes.hosted[name]), name


def _moves(nodes: _Nodes, overfull: list[str]) -> Iterator[tuple[int, str]]:
    """(assignment index, its new node) for the replicas moved off the overfull nodes, until
    each fits or no move helps it: a move at no cost, else a swap with a replica of a node in
    use (no cost either), else a move onto a node opened."""
    for source in overfull:
        while not nodes.fits(source) and not nodes.out_of_time():
            move = _cheapest_move(nodes, source)
            if move is None or move[0] == OPEN:
                swapped = _swap(nodes, source)
                if swapped is not None:
                    yield from swapped
                    continue
            if move is None:
                break
            _, name, target = move
            if target not in nodes.owner:  # an unused node opened
                nodes.open(target)
            yield nodes.move(name, source, target), target


def _left_out(nodes: _Nodes, overfull: list[str], left: dict[int, str]) -> list[tuple[int, str]]:
    """Where moving found no room and the policy allows replicas left out: off each node still
    overfull, the replica of the least priority there (a gang's whole, else one) goes onto a
    node where replicas of a lower priority make room by being left out, else it is left out
    itself, so none is left out to make room for a lower one (docs/language.md). The moves made
    (`left`: the indices left out, with why)."""
    moves: list[tuple[int, str]] = []
    for source in overfull:
        while not nodes.fits(source):
            name = _least_important(nodes, source)
            if name is None:
                return moves
            displaced = None if nodes.out_of_time() else _displacing(nodes, name, source, left)
            if displaced is not None:
                moves.append(displaced)
                continue
            demand = nodes.problem.demand(name)
            why = (f"Slurm gives each job whole cores, and `{source}` has no room for it in whole cores "
                   + ("before the time limit ended" if nodes.cut else
                      f"beside work of its priority ({demand.priority}) or higher"))
            for node in list(nodes.hosts[name]) if demand.gang else [source]:
                while name in nodes.hosted.get(node, ()):
                    left[nodes.remove(name, node)] = why
                    if not demand.gang:
                        break
    return moves


def _least_important(nodes: _Nodes, source: str) -> str | None:
    """The workload on `source` to take a replica off first: the least priority, one that is
    not a gang before a gang, freeing the most CPUs (an accelerator option's replicas deliver
    throughput, so they are never left out here; a pinned one stays)."""
    names = [name for name in sorted(nodes.hosted[source])
             if nodes.problem.demand(name).group is None and nodes.may_leave(name, source)]
    if not names:
        return None

    def rank(name: str) -> tuple[int, bool, int, str]:  # (one of two 1-CPU replicas frees no core)
        demand = nodes.problem.demand(name)
        return demand.priority, demand.gang, -nodes.cpu_freed(source, name), name
    return min(names, key=rank)


def _displacing(nodes: _Nodes, name: str, source: str, left: dict[int, str]) -> tuple[int, str] | None:
    """One replica of `name` from `source` onto a node in use where leaving out replicas of a
    lower priority (not gangs, fewest first) makes room for it: the move made, those left out
    (in `left`); None where no node looked at has such room."""
    demand = nodes.problem.demand(name)
    same = _same_as(nodes, demand, source)
    candidates = (node for c in demand.eligible if same(nodes.problem.node_class(c))
                  for node in nodes.in_use.get(c, []) if node != source)
    best: tuple[int, str] | None = None
    for node in itertools.islice(candidates, SWAP_NODES):
        removed = _make_room(nodes, demand, node, source)
        if removed is not None:
            for other, index in reversed(removed):
                nodes.restore(other, node, index)
            if best is None or len(removed) < best[0]:
                best = (len(removed), node)
    if best is None:
        return None
    why = (f"Slurm gives each job whole cores, and `{best[1]}` has no room for it in whole cores beside "
           f"`{name}` of a higher priority ({demand.priority})")
    for _, index in _make_room(nodes, demand, best[1], source) or []:
        left[index] = why
    return nodes.move(name, source, best[1]), best[1]


def _make_room(nodes: _Nodes, demand: Demand, node: str, source: str) -> list[tuple[str, int]] | None:
    """Replicas of a lower priority than `demand` left out of `node`, least priority first,
    until one replica of `demand` from `source` fits there: those left out (workload, index);
    None, with nothing left out, where that does not make room."""
    removed: list[tuple[str, int]] = []
    while not _takes(nodes, demand, node, source):
        lower = [other for other in sorted(nodes.hosted.get(node, ())) if _below(nodes, other, demand)
                 and nodes.may_leave(other, node)]
        if not lower:
            for other, index in reversed(removed):
                nodes.restore(other, node, index)
            return None
        other = min(lower, key=lambda w: (nodes.problem.demand(w).priority, w))
        removed.append((other, nodes.remove(other, node)))
    return removed


def _below(nodes: _Nodes, name: str, demand: Demand) -> bool:
    """May a replica of `name` be left out to make room for one of `demand` (a lower priority,
    and neither a gang's, whose all replicas would go, nor an option's)?"""
    other = nodes.problem.demand(name)
    return other.priority < demand.priority and not other.gang and other.group is None


FREE_THREAD, IN_USE, OPEN = 0, 1, 2  # the ranks of a target node, cheapest first
# the nodes in use a swap looks at per replica leaving an overfull node: a fleet of thousands
# of full nodes is not scanned pair by pair for each (a node opened instead)
SWAP_NODES = 256


def _cheapest_move(nodes: _Nodes, source: str) -> tuple[int, str, str] | None:
    """(rank, replica, target): a replica on `source` whose move frees CPUs there, to the node
    it costs least to take it (a free thread of its job, then room on a node in use, then a
    node opened), freeing the most CPUs among those."""
    best: tuple[tuple[int, Fraction, int], str, str] | None = None
    for name in _leaving(nodes, source):
        found = _target(nodes, nodes.problem.demand(name), source)
        if found is not None:
            key = (found[0], found[1], -nodes.cpu_freed(source, name))
            if best is None or key < best[0]:
                best = (key, name, found[2])
    return None if best is None else (best[0][0], best[1], best[2])


def _leaving(nodes: _Nodes, source: str) -> list[str]:
    """The workloads on `source` one replica of which frees CPUs there by leaving."""
    over_pods = nodes.over_pods(source)  # then any replica that leaves frees a pod
    return [name for name in sorted(nodes.hosted[source])
            if (over_pods or nodes.cpu_freed(source, name) > 0) and nodes.may_leave(name, source)]


def _swap(nodes: _Nodes, source: str) -> list[tuple[int, str]] | None:
    """A replica off `source` onto a node in use that has no room for it, and one of that
    node's replicas back onto `source`, where both nodes then fit (`source` at fewer CPUs):
    the two moves, made; None where no such pair is among the nodes looked at."""
    for name in _leaving(nodes, source):
        demand = nodes.problem.demand(name)
        same = _same_as(nodes, demand, source)
        candidates = (node for c in demand.eligible if same(nodes.problem.node_class(c))
                      for node in nodes.in_use.get(c, []) if node != source)
        for node in itertools.islice(candidates, SWAP_NODES):
            if nodes.may_join(demand, node, source):
                swapped = _swapped_with(nodes, name, source, node)
                if swapped is not None:
                    return swapped
    return None


def _swapped_with(nodes: _Nodes, name: str, source: str, node: str) -> list[tuple[int, str]] | None:
    """A replica of `name` from `source` to `node` and one of another workload back, where
    both nodes then fit and `source` takes fewer CPUs: the two moves, made (else none made)."""
    before, origin = nodes.used(source)["cpu"], nodes.owner[source]
    for other in sorted(nodes.hosted[node]):
        back = nodes.problem.demand(other)
        if other == name or origin.id not in back.eligible \
                or not _swap_fits(nodes, name, other, source, node) or not nodes.may_leave(other, node) \
                or not _same_as(nodes, back, node)(origin):
            continue
        first = nodes.move(name, source, node)
        if nodes.may_join(back, source, node):
            second = nodes.move(other, node, source)
            if nodes.fits(node) and nodes.used(source)["cpu"] < before:
                return [(first, node), (second, source)]
            nodes.move(other, source, node)
        nodes.move(name, node, source)
    return None


def _swap_fits(nodes: _Nodes, name: str, other: str, source: str, node: str) -> bool:
    """Would `node` hold its jobs with a replica of `name` from `source` on and one of `other`
    off, and `source` take fewer CPUs with them swapped? (Asked before the swap is tried:
    trying it moved replicas on and off full nodes ~70,000 times for 433 moves on an
    oversubscribed cluster of 10,000 nodes, bench/hpc_queue.py.)"""
    def change(at: str, workload: str, by: int) -> dict[str, int]:
        count = nodes.hosted[at][workload] if at in nodes.hosted else 0
        before, after = nodes.taken(at, workload, count), nodes.taken(at, workload, count + by)
        return {resource: after[resource] - before[resource] for resource in RESOURCES}
    coming, leaving = change(node, name, 1), change(node, other, -1)
    used, capacity = nodes.used(node), nodes.owner[node].capacity_of(node)
    if nodes.over_pods(node) or any(used[r] + coming[r] + leaving[r] > capacity[r] for r in RESOURCES):
        return False
    return change(source, name, -1)["cpu"] + change(source, other, 1)["cpu"] < 0


def _target(nodes: _Nodes, demand: Demand, source: str) -> tuple[int, Fraction, str] | None:
    """(rank, price, node) of the first node that takes one more replica of `demand` from
    `source`: rank 0 its job's free thread, 1 a node in use, 2 a node to open."""
    same = _same_as(nodes, demand, source)
    for node in nodes.hosts.get(demand.name, {}):
        if node != source and same(nodes.owner[node]) and nodes.added_cpu(node, demand.name) == 0 \
                and _takes(nodes, demand, node, source):
            return FREE_THREAD, Fraction(0), node
    eligible = [nodes.problem.node_class(c) for c in demand.eligible]
    refused, departures = nodes.refused.setdefault(demand.name, {}), nodes.departures
    for node_class in eligible:
        if same(node_class):
            # (a node with no CPU free takes one only on a free thread of its job: asked above)
            for node in nodes.with_room(node_class, demand):
                if node == source or refused.get(node) == departures[node]:
                    continue
                if not nodes.fits(node, demand.name):
                    refused[node] = departures[node]
                elif nodes.may_join(demand, node, source):
                    return IN_USE, Fraction(0), node
    for node_class in sorted((c for c in eligible if same(c) and not c.provisioned), key=lambda c: c.price):
        unused = _unused(nodes, node_class)
        if unused is not None:
            return OPEN, node_class.price, unused
    return None


def _takes(nodes: _Nodes, demand: Demand, node: str, source: str) -> bool:
    return nodes.fits(node, demand.name) and nodes.may_join(demand, node, source)


def _same_as(nodes: _Nodes, demand: Demand, source: str) -> Callable[[NodeClass], bool]:
    """Is a class one a replica of `demand` may move to from `source` with every rule's counts
    kept (and the same preference points)?"""
    key, origin = domains_key(nodes.problem, demand), nodes.owner[source]
    wanted, points = key(origin), demand.preference.get(origin.id, Fraction(0))
    answers: dict[str, bool] = {}  # class id -> the answer (asked per node hosting the workload)

    def same(c: NodeClass) -> bool:
        found = answers.get(c.id)
        if found is None:
            found = answers[c.id] = key(c) == wanted and demand.preference.get(c.id, Fraction(0)) == points
        return found
    return same


def _unused(nodes: _Nodes, node_class: NodeClass) -> str | None:
    """A node of the class the answer does not use (None: every one is)."""
    used = nodes.in_use.get(node_class.id, [])
    if len(used) >= node_class.count:
        return None
    taken = set(used)
    return next((name for name in node_class.node_names[:node_class.count] if name not in taken), None)


def _restate_value(placement: Placement, opened: list[NodeClass],
                   value_of: Callable[[Placement], Fraction] | None, emptied: list[NodeClass]) -> None:
    """The value with the nodes opened and those emptied by replicas left out (or `value_of`
    it), and `optimal` only while within the tolerance."""
    if value_of is not None and placement.value is not None:
        placement.value = value_of(placement)
    elif placement.value is not None and placement.objective in ("cost", "nodes"):
        def worth(node_class: NodeClass) -> Fraction:
            return node_class.price if placement.objective == "cost" else Fraction(1)
        placement.value += sum(map(worth, opened), Fraction(0)) - sum(map(worth, emptied), Fraction(0))
    gap = placement.gap
    if placement.status is Status.OPTIMAL and (gap is None or gap > placement.tolerance + 1e-12):
        placement.status = Status.FEASIBLE


def _breaks_a_rule(problem: Problem, placement: Placement) -> bool:
    """Does the moved answer break a rule (replicas left out aside)?"""
    from fitlang.solve.self_check import broken_rules

    return bool(broken_rules(dataclasses.replace(problem, allow_unplaced=True), placement))
