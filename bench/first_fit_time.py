"""A queue by priority in time, first fit, written apart from fitc (issue 19, `allow_unplaced`
with a horizon): what a Slurm queue by priority gives, the floor fitc's schedule must never
rank below (`bench/differential_time.py --unplaced` compares them).

On a `differential_time.Case`: the workloads by priority, highest first (then by name); each
run's replicas one after another, each at the earliest start step of its window where a node
(pools in order, nodes in order) holds its CPU and memory at every step of its run, the pool
is not in a maintenance window then, its pods fit, and the power cap (the nodes in use draw
their power) holds at each of those steps; a gang's run starts all its replicas at the
earliest step where they all fit then, or none; a workload whose latency rule counts fewer
than its K replicas in region `eu` is left out whole. A service runs the whole horizon. A
preemptible job's replica runs unbroken. Shares no code with fitc.

Returns the replicas placed per priority level.
"""

from __future__ import annotations

from collections import Counter


class Fleet:
    """Each node's CPU, memory and pods taken per step, and whether it is in use."""

    def __init__(self, case) -> None:
        self.case = case
        self.nodes = [(pool, i) for pool in case.pools for i in range(pool.count)]
        steps = case.steps
        self.cpu = [[0] * steps for _ in self.nodes]
        self.memory = [[0] * steps for _ in self.nodes]
        self.pods = [[0] * steps for _ in self.nodes]

    def cap(self, step: int) -> int | None:
        case = self.case
        return case.cap if case.hourly_cap is None else case.hourly_cap[step]

    def drawn(self, step: int, waking: int | None = None) -> int:
        return sum(pool.watts for n, (pool, _) in enumerate(self.nodes)
                   if self.pods[n][step] or n == waking)

    def fits(self, n: int, work, steps: range) -> bool:
        pool = self.nodes[n][0]
        for t in steps:
            if pool.off is not None and pool.off[0] <= t < pool.off[1]:
                return False
            if self.cpu[n][t] + work.cpu > pool.cpu or self.memory[n][t] + work.memory > pool.memory:
                return False
            if pool.pods is not None and self.pods[n][t] + 1 > pool.pods:
                return False
            cap = self.cap(t)
            if cap is not None and not self.pods[n][t] and self.drawn(t, n) > cap:
                return False
        return True

    def take(self, n: int, work, steps: range, sign: int = 1) -> None:
        for t in steps:
            self.cpu[n][t] += sign * work.cpu
            self.memory[n][t] += sign * work.memory
            self.pods[n][t] += sign


def first_fit(case) -> Counter:
    """Replicas placed per priority level, by the queue's first fit."""
    fleet = Fleet(case)
    placed: Counter = Counter()
    for work in sorted(case.works, key=lambda w: (-w.priority, w.name)):
        taken: list[tuple[int, range]] = []
        for first, last in _windows(case, work):
            duration = case.steps if work.duration is None else work.duration
            starts = range(first, last - duration + 1)
            if work.gang:  # the whole run at its earliest start where it all fits, or none
                taken += next((run for s in starts if (run := _gang_at(fleet, work, range(s, s + duration)))),
                              [])
                continue
            for _ in range(work.replicas):
                spot = next(((n, range(s, s + duration)) for s in starts
                             for n in range(len(fleet.nodes)) if fleet.fits(n, work, range(s, s + duration))),
                            None)
                if spot is not None:
                    fleet.take(spot[0], work, spot[1])
                    taken.append(spot)
        if work.near and sum(fleet.nodes[n][0].region == "eu" for n, _ in taken) < work.near:
            for n, steps in taken:
                fleet.take(n, work, steps, -1)
            taken = []
        placed[work.priority] += len(taken)
    return placed


def _gang_at(fleet: Fleet, work, steps: range) -> list[tuple[int, range]]:
    """A gang's run placed whole at `steps`, or nothing (taken back)."""
    run: list[tuple[int, range]] = []
    for _ in range(work.replicas):
        node = next((n for n in range(len(fleet.nodes)) if fleet.fits(n, work, steps)), None)
        if node is None:
            for n, taken in run:
                fleet.take(n, work, taken, -1)
            return []
        fleet.take(node, work, steps)
        run.append((node, steps))
    return run


def _windows(case, work) -> list[tuple[int, int]]:
    """Each run's [first start, end by): one for a job or a service, one per release of a
    recurring job (released every `every` steps from `earliest`, done by the next)."""
    if work.duration is None:
        return [(0, case.steps)]
    if work.every is None:
        return [(work.earliest, case.steps if work.deadline is None else work.deadline)]
    return [(release, release + work.every)
            for release in range(work.earliest, case.steps - work.every + 1, work.every)]
