"""Slurm's whole cores per job with a horizon: `whole_cores.py`'s repair, step by step (and
likewise the pods a node's kubelet admits: a node over them at a step frees one by any replica
leaving).

With a horizon a job is a workload's replicas on a node that start and end together, and a
node holds at each step the jobs running then (`rules/capacity.used_on_node`, what `verify`
counts). A node read from Slurm with ThreadsPerCore > 1 is overfull at a step where those
jobs, in whole cores each, take more than it has (the solver counts each replica at the least
Slurm gives it: a relaxation). A replica running then, whose job frees CPUs there when it
leaves, moves with its start and end kept: to a node where its job (the same workload, start
and end) leaves a thread free (no CPU more at any step), else to a node in use at every step
of its run with room at each, else to a node in use at some step, else to a node no run uses
(cheapest class first). Where no node has room at the replica's own times, it swaps with one
replica, or a job's replicas, of a node in use (both at their times), else the replica, or
its job's replicas on the node together, start at another step of their window (a job run
once and unbroken; its duration kept) on the node itself or another: each where that frees
CPUs at the overfull step, makes no step of a node overfull (fuller, for the source) and adds
the least to the objective over the horizon. Target classes are those `whole_cores`
allows (every rule counts them as the source's); the node-level rules are checked as
`whole_cores` checks them, over the whole horizon (stricter than per step). The moved answer
is checked by `verify` once; where it breaks a rule, or a node stays overfull, the answer is
as it was, its overfull nodes named (E0509). The value is the moved answer's over the
horizon (a node in use at more steps costs more), `optimal` only while within the tolerance.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections import Counter
from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.rules.capacity import used_on_node
from fitlang.solve.placement_result import Placement
from fitlang.solve.whole_cores import _breaks_a_rule, _Nodes, _restate_value, _same_as, _unused

if TYPE_CHECKING:  # (the time model imports what this module repairs)
    from fitlang.solve.timeline import TimedAssignment

Job = tuple[str, int, int]  # (demand, start, end): a workload's replicas that run together
FREE_THREAD, THROUGH, SOME_STEP, OPEN = 0, 1, 2, 3  # the ranks of a target node, cheapest first
# the nodes in use looked at per replica moved (a fleet of thousands is not scanned for each)
SCAN_NODES = 256
# the nodes in use a swap looks at per replica leaving (each tried with each job there)
SWAP_NODES = 32


def repaired_in_time(problem: Problem, placement: Placement) -> Placement:
    """The timed `placement` with no Slurm node of ThreadsPerCore > 1 overfull at any step,
    where moving replicas (at their times, else at another start in their window) does it
    with every rule kept; else as it was, with `overfull` set."""
    runs = _Runs(problem, placement)
    overfull = [node for node in sorted(runs.on)
                if _held(runs.nodes.owner[node]) and runs.overfull_at(node) is not None]
    if not overfull:
        return placement
    moved_any = False
    for node in overfull:
        while (step := runs.overfull_at(node)) is not None:
            if not (runs.move_one_off(node, step) or runs.swap_one_off(node, step, placement.objective)
                    or runs.retime_one_off(node, step, placement.objective)):
                placement.overfull = overfull
                return placement
            moved_any = True
    if not moved_any:
        return placement
    from fitlang.solve.timeline import bought_in_time, horizon_value

    timed = runs.assignments
    moved = dataclasses.replace(placement, assignments=list(timed))
    moved.bought = bought_in_time(problem, timed)
    _restate_value(moved, [], lambda answer: horizon_value(problem, timed, answer.objective), [])
    if _breaks_a_rule(problem, moved):
        placement.overfull = overfull
        return placement
    return moved


def _held(node_class: NodeClass) -> bool:
    """Is the class's node held to more than the sums of requests: Slurm's whole cores, or
    the pods its kubelet admits?"""
    return (node_class.slurm_allocated and node_class.threads_per_core > 1) or node_class.max_pods is not None


class _Runs:
    """The timed answer node by node: each node's runs, what its jobs take at a step, and
    the static view `whole_cores` keeps (classes, the node-level rules, the nodes in use)."""

    def __init__(self, problem: Problem, placement: Placement) -> None:
        self.problem = problem
        self.nodes = _Nodes(problem, placement)
        self.assignments: list[TimedAssignment] = list(placement.assignments)  # type: ignore[arg-type]
        self.on: dict[str, list[int]] = {}  # node -> the indices of its runs
        for index, assignment in enumerate(self.assignments):
            self.on.setdefault(assignment.node, []).append(index)

    def job(self, index: int) -> Job:
        assignment = self.assignments[index]
        return assignment.workload, getattr(assignment, "start", 0), getattr(assignment, "end", 0)

    def jobs_at(self, node: str, step: int) -> Counter[Job]:
        return Counter(job for index in self.on.get(node, []) if (job := self.job(index))[1] <= step < job[2])

    def used_at(self, node: str, step: int, extra: Job | None = None) -> dict[str, int]:
        """What the node's jobs at `step` (with one replica of `extra` more) take of it, as
        Slurm gives it."""
        jobs = self.jobs_at(node, step)
        if extra is not None:
            jobs[extra] += 1
        return used_on_node(self.owner(node), [(self.problem.demand(name), count)
                                               for (name, _, _), count in jobs.items()])

    def fits_at(self, node: str, step: int, extra: Job | None = None) -> bool:
        """Do the node's jobs at `step` (with one replica of `extra` more) fit it?"""
        if self._over_pods(node, step, more=extra is not None):
            return False
        used, capacity = self.used_at(node, step, extra), self.owner(node).capacity_of(node)
        return all(used[resource] <= capacity[resource] for resource in RESOURCES)

    def overfull_at(self, node: str) -> int | None:
        """The first step the node's jobs overfill it (the most run at once at a start)."""
        starts = sorted({self.job(index)[1] for index in self.on.get(node, [])})
        return next((step for step in starts if not self.fits_at(node, step)), None)

    def takes(self, node: str, job: Job) -> bool:
        """Does the node hold one more replica of `job` at every step of its run (the steps
        where what runs there changes: its start and the starts within it)?"""
        _, start, end = job
        steps = {start} | {s for index in self.on.get(node, []) if start < (s := self.job(index)[1]) < end}
        return all(self.fits_at(node, step, job) for step in steps)

    def active_through(self, node: str, job: Job) -> bool:
        """Is the node in use at every step of the job's run (no step more to pay for)?"""
        _, start, end = job
        covered = [self.job(index)[1:] for index in self.on.get(node, [])]
        return all(any(s <= step < e for s, e in covered) for step in range(start, end))

    def move_one_off(self, source: str, step: int) -> bool:
        """Move the replica running at `step` on `source` that costs least to move (among
        those whose job frees CPUs there by leaving) to the first node that takes it."""
        best: tuple[tuple[int, Fraction], int, str] | None = None
        for index in self._leaving(source, step):
            found = self._target(index, source)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], index, found[1])
        if best is None:
            return False
        _, index, target = best
        self._move(index, source, target)
        return True

    def _leaving(self, source: str, step: int) -> Iterator[int]:
        """One run per job running at `step` on `source` whose leaving frees CPUs there (any,
        where the node is over its pods: each frees one)."""
        seen: set[Job] = set()
        pods = self._over_pods(source, step)
        for index in self.on[source]:
            job = self.job(index)
            if job[1] <= step < job[2] and job not in seen and self.nodes.may_leave(job[0], source) \
                    and (pods or self._added_cpu(source, job, -1) < 0):
                seen.add(job)
                yield index

    def _over_pods(self, node: str, step: int, more: int = 0) -> bool:
        """Does the node run more pods at `step` (with `more` more) than its kubelet admits?"""
        most = self.owner(node).pods_of(node)
        return most is not None and sum(self.jobs_at(node, step).values()) + more > most

    def _added_cpu(self, node: str, job: Job, more: int) -> int:
        """The CPU the node's job takes more (or less) with `more` replicas of it more."""
        node_class, demand = self.nodes.owner[node], self.problem.demand(job[0])
        count = self.jobs_at(node, job[1])[job]
        return used_on_node(node_class, [(demand, count + more)])["cpu"] \
            - used_on_node(node_class, [(demand, count)])["cpu"]

    def _target(self, index: int, source: str) -> tuple[tuple[int, Fraction], str] | None:
        """((rank, price), node) of a node that takes the run: rank 0 a node where its job has
        a free thread, 1 a node in use through its run, 2 one in use at some step (the first
        of those among `SCAN_NODES` looked at), 3 a node no run uses."""
        job, nodes = self.job(index), self.nodes
        demand = self.problem.demand(job[0])
        same = _same_as(nodes, demand, source)

        def takes(node: str) -> bool:
            return node != source and same(nodes.owner[node]) and bool(self.on.get(node)) \
                and nodes.may_join(demand, node, source) and self.takes(node, job)

        for node in nodes.hosts.get(demand.name, {}):  # its job's nodes first: a free thread
            if self.jobs_at(node, job[1])[job] and takes(node) and self._added_cpu(node, job, 1) == 0:
                return (FREE_THREAD, Fraction(0)), node
        in_use = (node for c in demand.eligible if same(self.problem.node_class(c))
                  for node in nodes.in_use.get(c, []))
        some_step = None
        for node in itertools.islice(in_use, SCAN_NODES):
            if takes(node):
                if self.active_through(node, job):
                    return (THROUGH, Fraction(0)), node
                some_step = some_step or node
        if some_step is not None:
            return (SOME_STEP, Fraction(0)), some_step
        eligible = [self.problem.node_class(c) for c in demand.eligible]
        openable = (c for c in eligible if same(c) and not c.provisioned)
        for node_class in sorted(openable, key=lambda c: c.price):
            unused = _unused(nodes, node_class)
            if unused is not None:
                return (OPEN, node_class.price), unused
        return None

    def owner(self, node: str) -> NodeClass:
        """The node's class (also of a node no run uses yet)."""
        return self.nodes.owner.get(node) or self.problem.owners()[node]

    def _move(self, index: int, source: str, target: str, start: int | None = None) -> None:
        """The run to `target` (at `start`, its length kept, where given)."""
        nodes = self.nodes
        if target not in nodes.owner:  # a node no run used, opened
            nodes.open(target)
        if target != source:
            nodes.move(self.job(index)[0], source, target, index)
        self._place(index, target, start)

    def _place(self, index: int, target: str, start: int | None = None) -> None:
        """The run on `target` from `start` (its own where None) in `on` and the assignments,
        the rest of the answer's view (`nodes`) as it was."""
        assignment = self.assignments[index]
        self.on[assignment.node].remove(index)
        self.on.setdefault(target, []).append(index)
        start = assignment.start if start is None else start
        end = start + assignment.end - assignment.start
        self.assignments[index] = dataclasses.replace(assignment, node=target, start=start, end=end)

    # ---- where no node takes a replica at its own times: a swap, or another start in its window

    def swap_one_off(self, source: str, step: int, objective: str) -> bool:
        """Where no node takes a replica running at `step` on `source` at its times: it moves
        to a node in use (of a class as good), and a replica of another job there moves to
        `source`, both at their times, where `source` then takes fewer CPUs at `step` (and
        none more at a step it was overfull), the other node holds both at every step, and
        the pair adds the least to `objective` over the horizon."""
        best: tuple[Fraction, tuple[int, list[int], str]] | None = None
        for index in list(self._leaving(source, step)):
            demand = self.problem.demand(self.job(index)[0])
            same = _same_as(self.nodes, demand, source)
            in_use = (node for c in demand.eligible if same(self.problem.node_class(c))
                      for node in self.nodes.in_use.get(c, []) if node != source)
            for node in itertools.islice(in_use, SWAP_NODES):
                if not self.nodes.may_join(demand, node, source):
                    continue
                for back in self._coming_back(node, source, self.job(index)):
                    moves: list[tuple[int, str, int | None]] = [(index, node, None)]
                    moves += [(other, source, None) for other in back]
                    added = self._tried(moves, source, step, objective)
                    if added is not None and (best is None or added < best[0]):
                        best = (added, (index, back, node))
        if best is None:
            return False
        index, back, node = best[1]
        self._move(index, source, node)
        for other in back:
            self._move(other, node, source)
        return True

    def _coming_back(self, node: str, source: str, leaving: Job) -> Iterator[list[int]]:
        """Per other job on `node` that may move to `source` (a class as good for it, its
        node-level rules kept): one replica of it, and all of its replicas there."""
        seen = {leaving}
        for index in list(self.on[node]):
            job = self.job(index)
            if job in seen:
                continue
            seen.add(job)
            demand = self.problem.demand(job[0])
            if self.owner(source).id in demand.eligible and self.nodes.may_leave(job[0], node) \
                    and _same_as(self.nodes, demand, node)(self.owner(source)) \
                    and self.nodes.may_join(demand, source, node):
                group = [other for other in self.on[node] if self.job(other) == job]
                yield from [group[:1], group] if len(group) > 1 else [group]

    def retime_one_off(self, source: str, step: int, objective: str) -> bool:
        """Where no node takes a replica running at `step` on `source` at its times: the
        replica, or its job's replicas there together, moved to another start in its window,
        on `source` or a node of a class as good (in use, or one opened), where that frees
        CPUs at `step`, fits each node at every step and adds the least to the answer's
        `objective` over the horizon (ties: the start nearest its own)."""
        best: tuple[tuple[Fraction, int, int], list[int], str, int] | None = None
        for group in self._retimable(source, step):
            _, start, _ = self.job(group[0])
            for new_start in self._other_starts(group[0]):
                for target in self._retime_targets(group[0], source, new_start):
                    added = self._tried([(index, target, new_start) for index in group], source, step,
                                        objective)
                    key = (added, abs(new_start - start), len(group)) if added is not None else None
                    if key is not None and (best is None or key < best[0]):
                        best = (key, group, target, new_start)
        if best is None:
            return False
        _, group, target, new_start = best
        for index in group:
            self._move(index, source, target, new_start)
        return True

    def _retimable(self, source: str, step: int) -> Iterator[list[int]]:
        """Per job running at `step` on `source` that may start elsewhen (a job run once,
        unbroken, not one a plan keeps): one replica of it, where one leaving frees CPUs
        there, and all of its replicas there."""
        seen: set[Job] = set()
        for index in list(self.on[source]):  # (a move priced puts its runs back at the end)
            job = self.job(index)
            demand = self.problem.demand(job[0])
            if job in seen or not job[1] <= step < job[2] or not demand.job or demand.runs \
                    or demand.min_segment is not None or not self.nodes.may_leave(job[0], source):
                continue
            seen.add(job)
            group = [other for other in self.on[source] if self.job(other) == job]
            if len(group) > 1 and (self._over_pods(source, step) or self._added_cpu(source, job, -1) < 0):
                yield group[:1]
            yield group

    def _other_starts(self, index: int) -> list[int]:
        """The starts of the run's window but its own."""
        name, start, _ = self.job(index)
        window = self.problem.demand(name).windows[0]
        return [s for s in window.starts() if s != start]

    def _retime_targets(self, index: int, source: str, start: int) -> Iterator[str]:
        """`source`, then the nodes in use of a class the run may move to (the first
        `SCAN_NODES`), then an unused node of each class it may open; none of a class whose
        pool is off at a step of the run from `start`."""
        job, nodes = self.job(index), self.nodes
        demand = self.problem.demand(job[0])
        same = _same_as(nodes, demand, source)
        steps = range(start, start + job[2] - job[1])

        def open_then(node_class: NodeClass) -> bool:
            return same(node_class) and not any(step in node_class.off_steps for step in steps)

        if open_then(nodes.owner[source]):
            yield source
        classes = [c for c in (self.problem.node_class(c) for c in demand.eligible) if open_then(c)]
        in_use = (node for c in classes for node in nodes.in_use.get(c.id, []) if node != source)
        for node in itertools.islice(in_use, SCAN_NODES):
            if nodes.may_join(demand, node, source):
                yield node
        for node_class in classes:
            unused = None if node_class.provisioned else _unused(nodes, node_class)
            if unused is not None:
                yield unused

    def _tried(self, moves: list[tuple[int, str, int | None]], source: str, step: int,
               objective: str) -> Fraction | None:
        """What the moves (run, node, start: its own where None) add to `objective` over the
        horizon, tried and undone; None where they free no CPU on `source` at `step`, or
        overfill a node a run lands on at a step of that run (`source`: fuller than it was)."""
        from fitlang.solve.timeline import horizon_value

        def value() -> Fraction:
            touched = [self.assignments[i] for node in nodes for i in self.on.get(node, [])]
            separable = objective in ("cost", "carbon")  # a sum over nodes: those suffice
            return horizon_value(self.problem, touched if separable else self.assignments, objective)

        nodes = {source} | {node for _, node, _ in moves}
        was = [self.assignments[index] for index, _, _ in moves]
        before = value()
        landing = [(was[i].start if start is None else start, was[i].end - was[i].start)
                   for i, (_, node, start) in enumerate(moves) if node == source]
        # the steps `holds` may read on `source`: `step`, and each landing run's changes there
        steps = {step} | {start for start, _ in landing} \
            | {s for start, length in landing for s in self._changes(source, start, start + length)}
        cpu_before = {s: self.used_at(source, s)["cpu"] for s in steps}
        for index, node, start in moves:
            self._place(index, node, start)

        def holds(node: str, at: int) -> bool:
            no_fuller = node == source and self.used_at(node, at)["cpu"] <= cpu_before[at]
            return no_fuller or self.fits_at(node, at)

        landed = [self.assignments[index] for index, _, _ in moves]
        fits = self.used_at(source, step)["cpu"] < cpu_before[step] and all(
            holds(run.node, at) for run in landed for at in self._changes(run.node, run.start, run.end))
        added = value() - before if fits else None
        for (index, _, _), assignment in zip(moves, was, strict=True):
            self._place(index, assignment.node, assignment.start)
        return added

    def _changes(self, node: str, start: int, end: int) -> set[int]:
        """The steps of [start, end) where what runs on the node changes: `start` and the
        starts of its runs within."""
        return {start} | {s for index in self.on.get(node, []) if start < (s := self.job(index)[1]) < end}
