"""Node by node in time (issue 19): the packing of the time model's answer onto nodes, the
repair of what it leaves, and a schedule made at the level of nodes from nothing.

The time model (`solve/timeline.py`) counts replicas per class and step, a relaxation of
nodes: packing its answer may need a node more at a step than it counted, and that node draws
power a cap does not have, or costs what the budget does not allow. The `Ledger` keeps, node
by node and step by step, what every node holds, which nodes are in use, the power each cap's
scope draws, the cost per hour and each `buy` block's nodes in use; a replica goes only where
all of them still hold, and its pods count beside CPU and memory (one per replica, `PODS`):
a node runs no more at a step than its kubelet admits (`NodeClass.pods_of`), so the schedule
needs no repair for them after (`whole_cores_time`, which dropped the bound). So a packed
schedule keeps what `verify` checks step by step, and a replica that finds no such node is
not placed where the model put it but repaired: placed at the start and class of its window,
on the node, that add least to the objective.

`node_schedule` does the same from nothing, every replica in order of urgency: a schedule
that packs by construction, HiGHS's start when the time model's own greedy start finds none,
and the answer when HiGHS finds nothing in the time limit (contended instances: issue 19's
second shape, `bench/timing_sites.py`).
"""

from __future__ import annotations

import functools
import itertools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace

import numpy as np

from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, Window
from fitlang.solve.greedy import UNLIMITED_PODS
from fitlang.solve.held_room import is_held
from fitlang.solve.timeline_resume import Progress, Resumed

# the column of a replica's need and a node's capacity that counts pods: one per replica, as
# many as the node's kubelet admits (no limit stated: UNLIMITED_PODS)
PODS = len(RESOURCES)

# a run whose repair looks no further than this many fitting (class, start) candidates, taken
# in order of what the replica's share of the node costs there: the first fitting ones are
# nearly always the cheapest, and looking at all of them costs a numpy pass each
CANDIDATES = 4
EPSILON = 1e-6
# a round that leaves at most this many replicas without room has them repaired by ejection
# chains before any further round, within REPAIR_AT_ONCE_TRIES sets (a quarter of a repair's,
# so that chains that find nothing cost less than the round they would save): a round costs
# 2-3 CPU s at 1,000 x 168 x 1,000, a set ~1.6 ms there (the sites shape's seed 3: its first
# round leaves 94, whose chains spent 4,000 sets, 6.5 CPU s, and placed 27; its second leaves
# 8, placed in 0.5 CPU s instead of a third round)
REPAIRED_AT_ONCE = 16
REPAIR_AT_ONCE_TRIES = 1000


# the most `Ledger.cheapest` keeps of its prices (`_Priced`) before it forgets them all: the
# sites shape at the goal size keeps ~3,400 (class, size, window)'s, ~74 MB, after a round
KEPT_PRICES_BYTES = 256 * 2**20

# the most moves that did not pay `Ledger.unpaid` keeps (each holds its spots) before it
# forgets them all
UNPAID_KEPT = 2**18

# how often a search's `Ending.enough` is asked at most (once the bound is in, it sums the
# ledger: ~1 ms at the goal size, where a move takes ~2 ms)
ENOUGH_EVERY = 0.25


@dataclass
class Ending:
    """Where a search stops: at `at` (`time.monotonic()`), or before it once `enough` holds of
    the ledger's total (asked at most every ENOUGH_EVERY seconds): the time solve's search
    stops there once the LP bound is in and the ledger's total within the tolerance of it
    (`bench/timing.py`'s floor is its optimum, and a pass over it took 15 s before the bound
    was collected)."""

    at: float | None
    enough: Callable[[Ledger], bool]
    _asked: float = -np.inf
    _met: bool = False  # once enough, enough for good: the search only lowers the total

    def past(self, ledger: Ledger) -> bool:
        now = time.monotonic()
        if self._met or (self.at is not None and now > self.at):
            return True
        if now - self._asked >= ENOUGH_EVERY:
            self._asked = now
            self._met = self.enough(ledger)
        return self._met


# where a search stops: a time, an `Ending`, or never
Deadline = float | Ending | None


def past(deadline: Deadline, ledger: Ledger) -> bool:
    """Whether a search with `deadline` stops now."""
    if isinstance(deadline, Ending):
        return deadline.past(ledger)
    return deadline is not None and time.monotonic() > deadline


@dataclass(frozen=True)
class Spot:
    """A replica (or a preemptible replica's segment) on a node of a class for [start, end)."""

    demand: str
    replica: int
    class_id: str
    node: int  # index into the class's node_names
    start: int
    end: int
    added: float = field(default=0.0, compare=False)  # what it added to the objective, placed


class Ledger:
    """What the nodes hold step by step, and the per-step limits of the policy on them."""

    def __init__(self, problem: Problem, objective: str = "cost") -> None:
        timeline = problem.timeline
        assert timeline is not None
        self.problem, steps = problem, timeline.steps
        self.capacity = {c.id: np.array([*(c.capacity[r] for r in RESOURCES), _most_pods(c)], dtype=np.int64)
                         for c in problem.classes}
        self.used = {c.id: _room_taken(c, self.capacity[c.id], steps) for c in problem.classes}
        # the columns `asked` may check: pods only where some node admits fewer than
        # UNLIMITED_PODS (a column more in the search's hot path)
        self.limited = np.array([True] * len(RESOURCES) + [any(
            capacity[PODS] < UNLIMITED_PODS for capacity in self.capacity.values())])
        # replicas running on each node at each step (a node is in use where this is > 0)
        self.running = {c.id: np.zeros((c.count, steps), dtype=np.int32) for c in problem.classes}
        self.off = {c.id: np.array([c.count_at(t) == 0 for t in range(steps)]) for c in problem.classes}
        self.hourly = {c.id: np.array([float(c.price_at(t)) for t in range(steps)])
                       for c in problem.classes}
        rate = (lambda c, t: c.carbon_at(t)) if objective == "carbon" else (lambda c, t: c.price_at(t))
        self.rate = {c.id: np.array([float(rate(c, t)) for t in range(steps)]) for c in problem.classes}
        self._arrays: dict[tuple[str, ...], tuple[list[np.ndarray], np.ndarray, np.ndarray]] = {}
        # per cap: its watts per step, the classes in its scope, what they draw per step
        self.caps = [(np.array([float(cap.cap_at(t)) for t in range(steps)]), frozenset(cap.classes),
                      np.zeros(steps)) for cap in problem.power_caps]
        self.watts = {c.id: float(c.power_watts) for c in problem.classes}
        self.budget = None if problem.budget is None else float(problem.budget)
        self.spent = np.zeros(steps)
        self.buys = {group: (float(limit), np.zeros(steps))
                     for group, limit in problem.buy_limits.items()}
        self.groups = {c.id: c.buy_group for c in problem.classes}
        # per node, the sum (mod 2**64) of a hash of every replica it holds (`_stamp`): equal
        # where it holds the same replicas again, so `cheapest`'s kept rows (`_priced`) are
        # priced again only for the nodes a move changed and did not undo
        self.stamp = {c.id: np.zeros(c.count, dtype=np.uint64) for c in problem.classes}
        self._priced: dict[tuple[str, bytes, int, int, int], _Priced] = {}
        self._priced_bytes = 0
        self._trial: _Trial | None = None  # moves to be put back by copies (`tried`)
        # per class and step, the version of the last change kept there that can change what a
        # move finds on the class (its nodes, or its limits: `_short`), so that a move which did
        # not pay is not tried again where nothing it reads changed since (`unchanged`)
        self.version, self.floor = 0, 0
        self.touched = {c.id: np.zeros(steps, dtype=np.int64) for c in problem.classes}
        self.coupled = _coupled(problem)
        self._unpaid: dict[object, int] = {}  # a move tried that did not pay -> the version then
        self._needs: dict[str, np.ndarray] = {}  # `need` per demand

    def tried(self) -> None:
        """Begin moves that `untried` may put back: until then `take` and `release` keep a copy
        of each node row before they change it, so that moves which do not pay are put back by
        copying, not by `take` / `release` in reverse (at the goal size most of `emptied`'s
        blocks do not pay); `kept` ends it, the moves made. The kept prices (`_Priced`) need
        nothing: a node put back has its stamp back."""
        assert self._trial is None, "one trial at a time"
        self._trial = _Trial([drawn.copy() for _, _, drawn in self.caps], self.spent.copy(),
                             {group: in_use.copy() for group, (_, in_use) in self.buys.items()})

    def kept(self) -> None:
        """End a trial (`tried`), its moves made: the steps they changed marked (`touched`),
        on other classes only where a limit's headroom now bars or allows one more node."""
        trial, self._trial = self._trial, None
        assert trial is not None
        self.version += 1
        for class_id, _, start, end, *_ in trial.rows:
            self.touched[class_id][start:end] = self.version
        for (cap, scope, drawn), was in zip(self.caps, trial.drawn):
            for class_id in scope:
                self._flipped(class_id, was, drawn, self.watts[class_id], cap)
        if self.budget is not None:
            for class_id, hourly in self.hourly.items():
                self._flipped(class_id, trial.spent, self.spent, hourly, self.budget)
        for group, was in trial.buys.items():
            limit, in_use = self.buys[group]
            for class_id in (c for c, of in self.groups.items() if of == group):
                self._flipped(class_id, was, in_use, 1.0, limit)

    def _flipped(self, class_id: str, was: np.ndarray, now: np.ndarray, one: np.ndarray | float,
                 limit: np.ndarray | float) -> None:
        """The steps where one more node of the class (adding `one`) breaks the limit now and
        not before, or before and not now (`_short`'s test, on what was drawn and is), marked."""
        flips = (was + one > limit + EPSILON) != (now + one > limit + EPSILON)
        self.touched[class_id][flips] = self.version

    def _touch(self, class_id: str, start: int, end: int, woke: np.ndarray) -> None:
        """A change outside a trial, marked at once (`touched`): on the classes whose limits
        its node's power, cost or count may move (`coupled`) at every step it woke or fell idle."""
        if self._trial is not None:
            return  # (marked where the trial is kept)
        self.version += 1
        self.touched[class_id][start:end] = self.version
        if woke.any():
            for other in self.coupled[class_id]:
                self.touched[other][start:end][woke] = self.version

    def repriced(self) -> None:
        """The rates changed (`cap_kicked`): every move tried before may pay now."""
        self.version += 1
        self.floor = self.version

    def unchanged(self, key: object, classes: Iterable[str], first: int, last: int) -> bool:
        """Whether the move `key` was tried and did not pay (`unpaid`), and nothing it reads
        (the classes it may use over [first, last), and their limits) changed since."""
        mark = self._unpaid.get(key)
        if mark is None or mark < self.floor:
            return False
        return all(int(self.touched[class_id][first:last].max()) <= mark for class_id in classes)

    def unpaid(self, key: object) -> None:
        """The move `key` was tried on the ledger as it is and did not pay."""
        if len(self._unpaid) >= UNPAID_KEPT:
            self._unpaid.clear()  # (tried again as asked: the same answers, more CPU)
        self._unpaid[key] = self.version

    def untried(self) -> None:
        """End a trial (`tried`) with the ledger as it was at its beginning, float for float
        (moves in reverse could leave the limits' float sums an ulp off)."""
        trial, self._trial = self._trial, None
        assert trial is not None
        for class_id, node, start, end, running, used, stamp in reversed(trial.rows):
            self.running[class_id][node, start:end] = running
            self.used[class_id][node, start:end] = used
            self.stamp[class_id][node] = stamp
        for (_, _, drawn), was in zip(self.caps, trial.drawn):
            drawn[:] = was
        self.spent[:] = trial.spent
        for group, was in trial.buys.items():
            self.buys[group][1][:] = was

    def _changing(self, class_id: str, node: int, start: int, end: int) -> None:
        """In a trial, a copy of the node's row over [start, end) before it changes."""
        if self._trial is not None:
            running, used = self.running[class_id][node, start:end], self.used[class_id][node, start:end]
            self._trial.rows.append((class_id, node, start, end, running.copy(), used.copy(),
                                     self.stamp[class_id][node]))

    def need(self, demand: str) -> np.ndarray:
        """`need_of` the demand, made once (read-only: every move of the search asks it)."""
        need = self._needs.get(demand)
        if need is None:
            need = self._needs[demand] = need_of(self.problem.demand(demand))
            need.flags.writeable = False
        return need

    def asked(self, need: np.ndarray) -> np.ndarray:
        """The columns a replica of `need` is checked on: those it asks for (a CPU job's GPUs
        never bind), pods only where some node admits fewer than UNLIMITED_PODS."""
        return (need > 0) & self.limited

    def nodes(self, class_id: str, need: np.ndarray, start: int, end: int) -> tuple[np.ndarray, np.ndarray]:
        """(which nodes of the class may take a replica needing `need` for [start, end),
        what each adds to the objective there by being woken)."""
        if self.off[class_id][start:end].any():
            empty = np.zeros(0)
            return empty.astype(bool), empty
        # only the resources it asks for (a CPU job's GPUs never bind), compared with what is
        # left: the hot path of the schedule's search
        asked = self.asked(need)
        left = self.capacity[class_id][asked] - need[asked]
        fits = (self.used[class_id][:, start:end, asked] <= left).all(axis=(1, 2))
        waking = self.running[class_id][:, start:end] == 0
        if fits.any():
            fits &= self._limits_hold(class_id, waking, start, end)
        return fits, waking @ self.rate[class_id][start:end]

    def _limits_hold(self, class_id: str, waking: np.ndarray, start: int, end: int) -> np.ndarray:
        """Per node: the caps, the budget and the buy limits still hold when it wakes (a node
        breaks one where it wakes at a step with less headroom than it takes)."""
        short = self._short(class_id, start, end)
        if not short.any():
            return np.ones(waking.shape[0], dtype=bool)
        return np.logical_not(waking[:, short].any(axis=1))

    def _short(self, class_id: str, start: int, end: int) -> np.ndarray:
        """The steps of [start, end) where waking one more node of the class breaks a cap,
        the budget or a buy limit."""
        short = np.zeros(end - start, dtype=bool)
        for cap, scope, drawn in self.caps:
            if class_id in scope:
                short |= drawn[start:end] + self.watts[class_id] > cap[start:end] + EPSILON
        if self.budget is not None:
            short |= self.spent[start:end] + self.hourly[class_id][start:end] > self.budget + EPSILON
        group = self.groups[class_id]
        if group is not None and group in self.buys:
            limit, in_use = self.buys[group]
            short |= in_use[start:end] + 1 > limit + EPSILON
        return short

    def best(self, class_id: str, need: np.ndarray, start: int, end: int) -> tuple[int, float] | None:
        """The node that adds least (the first of them), and what it adds; None: none fits."""
        fits, added = self.nodes(class_id, need, start, end)
        if not fits.any():
            return None
        node = int(np.flatnonzero(fits)[np.argmin(added[fits])])
        return node, float(added[node])

    def cheapest(self, demand: Demand, window: Window) -> tuple[float, str, int, int] | None:
        """(what it adds, class, node, start): where in its whole window, on every class it
        may use and every node, a replica of `demand` adds least to the objective (the
        earliest start, then the first node, among equals); None where nothing fits. Unlike
        `place_anywhere`, which looks at a few starts in order of the replica's own share's
        price, this sees a node already awake at dearer hours: room there costs nothing, and
        a replica moved into it lets its old node sleep (issue 19's fragments)."""
        need = self.need(demand.name)
        first, last = window.earliest, window.latest_start + window.duration
        best: tuple[float, str, int, int] | None = None
        for class_id in demand.eligible:
            found = self._cheapest_on(class_id, need, first, last, window.duration)
            if found is not None and (best is None or found[0] < best[0]):
                best = (found[0], class_id, found[1], found[2])
        return best

    def _cheapest_on(self, class_id: str, need: np.ndarray, first: int, last: int, duration: int
                     ) -> tuple[float, int, int] | None:
        """(what it adds, node, start) of the cheapest start in [first, last - duration] and
        node of the class, every step of the run within the node's capacity and, where the
        node wakes, within the limits (`nodes`' checks, for every start at once). Each node's
        price per start (capacity alone) is kept between calls (`_Priced`) and priced again
        only where its stamp changed; the limits, which any node of a cap's scope moves, are
        read afresh, and only where the cheapest start wakes its node at a step one breaks."""
        if self.running[class_id].shape[0] == 0 or last - first < duration:
            return None  # a class without nodes, or a window past the horizon
        priced = self._rows(class_id, need, first, last, duration)
        flat = int(np.argmin(priced.cost))  # start-major: the earliest start first among equals
        start, node = divmod(flat, priced.cost.shape[1])
        if priced.cost[start, node] == np.inf:
            return None
        run = slice(start, start + duration)
        if priced.waking[node, run].any():
            short = self._short(class_id, first, last)
            if (priced.waking[node, run] & short[run]).any():
                # a limit bars the cheapest: every start again with the limits (rare)
                barred = _any_in_windows(priced.waking & short, duration)
                cost = np.where(barred.T, np.inf, priced.cost)
                flat = int(np.argmin(cost))
                start, node = divmod(flat, cost.shape[1])
                if cost[start, node] == np.inf:
                    return None
        return float(priced.cost[start, node]), node, first + start

    def _rows(self, class_id: str, need: np.ndarray, first: int, last: int, duration: int) -> _Priced:
        """The kept prices of a replica of `need` on the class's nodes over [first, last),
        brought up to date: the nodes whose stamp changed since priced again."""
        key = (class_id, need.tobytes(), first, last, duration)
        kept = self._priced.get(key)
        stamp = self.stamp[class_id]
        if kept is None or kept.rate is not self.rate[class_id]:
            if kept is None and self._priced_bytes > KEPT_PRICES_BYTES:
                self._priced.clear()  # (priced again as asked: the same answers, more CPU)
                self._priced_bytes = 0
            kept = self._priced[key] = self._priced_anew(class_id, need, first, last, duration)
            self._priced_bytes += kept.cost.nbytes + kept.waking.nbytes
            return kept
        changed = np.flatnonzero(kept.stamp != stamp)
        if changed.size:
            waking, cost = self._prices(class_id, need, changed, first, last, duration)
            kept.waking[changed], kept.cost[:, changed], kept.stamp[changed] = waking, cost.T, stamp[changed]
        return kept

    def _priced_anew(self, class_id: str, need: np.ndarray, first: int, last: int, duration: int
                     ) -> _Priced:
        """`_Priced` for every node: the nodes awake at some step of the window and the first
        of those asleep throughout priced (`_distinct_rows`), the others alike it copied."""
        waking = self.running[class_id][:, first:last] == 0
        rows, _ = _distinct_rows(waking)
        _, cost = self._prices(class_id, need, rows, first, last, duration)
        like = np.zeros(waking.shape[0], dtype=np.intp)  # per node, the priced row alike it
        like[rows] = np.arange(rows.size)
        if rows.size < like.size:  # those asleep throughout: alike the first of them, priced
            asleep = waking.all(axis=1)
            like[asleep] = like[np.argmax(asleep)]
        return _Priced(self.stamp[class_id].copy(), waking, np.ascontiguousarray(cost.T[:, like]),
                       self.rate[class_id])

    def _prices(self, class_id: str, need: np.ndarray, nodes: np.ndarray, first: int, last: int,
                duration: int) -> tuple[np.ndarray, np.ndarray]:
        """(asleep per node and step of [first, last), what each start adds per node: the
        sum of the rates where it wakes; infinite where its capacity or the class's off steps
        bar the run). Each node's sums are its own row's cumulative sum: the same floats
        however many nodes are priced at once."""
        asked = self.asked(need)
        left = self.capacity[class_id][asked] - need[asked]
        waking = self.running[class_id][nodes, first:last] == 0
        blocked = ~(self.used[class_id][nodes, first:last][:, :, asked] <= left).all(axis=2)
        blocked[:, self.off[class_id][first:last]] = True  # the class has no node then
        cost = _window_sums(waking * self.rate[class_id][first:last], duration)
        cost[_any_in_windows(blocked, duration)] = np.inf
        return waking, cost

    def total(self) -> float:
        """The objective of what the ledger holds: every node in use at a step, at its rate."""
        return self.total_at(self.rate)

    def total_at(self, rate: dict[str, np.ndarray]) -> float:
        """`total` at other rates per class and step."""
        return sum(float(((running > 0) @ rate[class_id]).sum())
                   for class_id, running in self.running.items())

    def class_arrays(self, ids: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The classes' capacities (a row each) and their rates' cumulative sums over the
        steps (a row each, from 0), kept while each class's rate is the same array (a cap's
        discount replaces it)."""
        key = tuple(ids)
        rates = [self.rate[class_id] for class_id in ids]
        kept = self._arrays.get(key)
        if kept is None or any(a is not b for a, b in zip(kept[0], rates)):
            sums = np.zeros((len(ids), len(rates[0]) + 1))
            np.cumsum(np.stack(rates), axis=1, out=sums[:, 1:])
            kept = self._arrays[key] = (rates, np.stack([self.capacity[c] for c in ids]), sums)
        return kept[1], kept[2]

    def take(self, class_id: str, node: int, need: np.ndarray, start: int, end: int) -> None:
        self._changing(class_id, node, start, end)
        waking = self.running[class_id][node, start:end] == 0
        self._charge(class_id, waking, start, end, 1)
        self._touch(class_id, start, end, waking)
        self.running[class_id][node, start:end] += 1
        self.used[class_id][node, start:end, :] += need
        self.stamp[class_id][node:node + 1] += _stamp(need, start, end)

    def release(self, class_id: str, node: int, need: np.ndarray, start: int, end: int) -> float:
        """Take a replica off its node; what the steps its node falls idle saved."""
        self._changing(class_id, node, start, end)
        self.running[class_id][node, start:end] -= 1
        self.used[class_id][node, start:end, :] -= need
        self.stamp[class_id][node:node + 1] -= _stamp(need, start, end)
        idle = self.running[class_id][node, start:end] == 0
        self._charge(class_id, idle, start, end, -1)
        self._touch(class_id, start, end, idle)
        return float(idle @ self.rate[class_id][start:end])

    def put(self, spot: Spot) -> None:
        """`take` for a placed spot."""
        self.take(spot.class_id, spot.node, self.need(spot.demand), spot.start, spot.end)

    def drop(self, spot: Spot) -> float:
        """`release` for a placed spot."""
        return self.release(spot.class_id, spot.node, self.need(spot.demand), spot.start, spot.end)

    def _charge(self, class_id: str, steps: np.ndarray, start: int, end: int, sign: int) -> None:
        """The power, cost and buy counts of the class's node waking (+1) or falling idle (-1)
        at `steps` of [start, end)."""
        if not steps.any():
            return  # (adding zeros changes no float: a replica joining or leaving an awake node)
        for _, scope, drawn in self.caps:
            if class_id in scope:
                drawn[start:end] += sign * steps * self.watts[class_id]
        self.spent[start:end] += sign * steps * self.hourly[class_id][start:end]
        group = self.groups[class_id]
        if group is not None and group in self.buys:
            self.buys[group][1][start:end] += sign * steps


@dataclass
class _Trial:
    """What `Ledger.untried` puts back: the limits as they were, and a copy of each node row
    (class, node, start, end, running, used, stamp) before a move changed it, in order."""

    drawn: list[np.ndarray]
    spent: np.ndarray
    buys: dict[int, np.ndarray]
    rows: list[tuple[str, int, int, int, np.ndarray, np.ndarray, np.uint64]] = field(default_factory=list)


@dataclass
class _Priced:
    """`Ledger.cheapest`'s prices of one replica size and window on one class, kept between
    calls: the nodes' stamps when priced, asleep per node and step of the window, and per
    start and node (start-major) what the run adds, infinite where capacity bars it."""

    stamp: np.ndarray
    waking: np.ndarray
    cost: np.ndarray
    rate: np.ndarray  # the rates priced at (`cap_kicked` swaps them for a while)


def _stamp(need: np.ndarray, start: int, end: int) -> np.uint64:
    """A replica's share of its node's stamp: a 64-bit mix (splitmix64's) of its size and
    steps, so that two different sets of replicas on a node sum to the same stamp only by a
    2**-64 chance. Kept per size and steps (`_stamp_of`): every take and release asks it."""
    return _stamp_of(need.tobytes(), start, end)


@functools.lru_cache(maxsize=1 << 16)
def _stamp_of(need: bytes, start: int, end: int) -> np.uint64:
    """`_stamp` of a need as its bytes (int64s)."""
    value = hash((start, end, *np.frombuffer(need, dtype=np.int64).tolist())) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return np.uint64(value ^ (value >> 31))


def _distinct_rows(waking: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The nodes `Ledger._cheapest_on` need look at, in order, and their rows of `waking`
    (per node and step of a window: asleep): every node awake at some step of the window,
    and the first of those asleep throughout (they are alike at every start: nothing used,
    every step waking, the same limits; the first wins their ties). In `emptied` on the sites
    shape's converged schedules 62% of the nodes of a class are asleep over a replica's window."""
    kept = np.asarray(~waking.all(axis=1))
    asleep = np.flatnonzero(~kept)
    if asleep.size <= 1:
        return np.arange(waking.shape[0]), waking
    kept[asleep[0]] = True
    rows = np.flatnonzero(kept)
    return rows, waking[rows]


def _window_sums(values: np.ndarray, width: int) -> np.ndarray:
    """Per row, the sum of every `width` consecutive columns: [:, k] sums columns k..k+width-1."""
    sums = np.cumsum(values, axis=1)
    sums = np.concatenate((np.zeros((values.shape[0], 1), dtype=sums.dtype), sums), axis=1)
    return sums[:, width:] - sums[:, :-width]


def _any_in_windows(flags: np.ndarray, width: int) -> np.ndarray:
    """Per row, whether any of every `width` consecutive columns is set: [:, k] for columns
    k..k+width-1 (`_window_sums` of the flags > 0, counted in int32)."""
    counts = np.zeros((flags.shape[0], flags.shape[1] + 1), dtype=np.int32)
    np.cumsum(flags, axis=1, dtype=np.int32, out=counts[:, 1:])
    return counts[:, width:] > counts[:, :-width]


def _coupled(problem: Problem) -> dict[str, list[str]]:
    """Per class, the other classes whose limits (`Ledger._short`) read what its nodes draw:
    those under a power cap with it, in its buy group (where that has a limit), every class
    under a budget."""
    coupled: dict[str, set[str]] = {c.id: set() for c in problem.classes}
    limited = set(problem.buy_limits)
    for node_class in problem.classes:
        others = coupled[node_class.id]
        for cap in problem.power_caps:
            if node_class.id in cap.classes:
                others.update(cap.classes)
        if node_class.buy_group is not None and node_class.buy_group in limited:
            others.update(c.id for c in problem.classes if c.buy_group == node_class.buy_group)
        if problem.budget is not None:
            others.update(coupled)
        others.discard(node_class.id)
    return {class_id: sorted(others) for class_id, others in coupled.items()}


def need_of(demand: Demand) -> np.ndarray:
    """What a replica takes of a node in the ledger's columns: its requests and one pod."""
    return np.array([*(demand.requests[r] for r in RESOURCES), 1], dtype=np.int64)


def _most_pods(node_class: NodeClass) -> int:
    """The most pods a node of the class admits (its `max_pods`, or a node's own more)."""
    if node_class.max_pods is None:
        return UNLIMITED_PODS
    return max([node_class.max_pods, *node_class.node_pods.values()])


def _room_taken(node_class: NodeClass, capacity: np.ndarray, steps: int) -> np.ndarray:
    """A class's `Ledger.used`, empty but for what a node has less of than the class's
    `capacity` (the ledger's columns: its largest member's room, `_most_pods`), taken by the
    difference at every step: an inventory class merges nodes whose allocatable differs a
    little, and a node whose room other teams' work takes keeps its class (`NodeClass.capacity_of`,
    `pods_of`), so every check of `used` + a replica's need against `capacity` holds each
    node to its own room (reading the class's room for every node overfilled the smaller
    ones, E0503 from `verify`)."""
    used = np.zeros((node_class.count, steps, len(RESOURCES) + 1), dtype=np.int64)
    for node, name in enumerate(node_class.node_names[:node_class.count]):
        room = node_class.capacity_of(name)
        pods = node_class.pods_of(name)
        short = np.array([*(room.get(r, 0) for r in RESOURCES), UNLIMITED_PODS if pods is None else pods],
                         dtype=np.int64)
        short = np.maximum(capacity - np.minimum(short, capacity), 0)
        if short.any():
            used[node, :, :] = short
    return used


def run_of(demand: Demand, start: int) -> int:
    """The run (window) of a recurring job a start step belongs to: runs never overlap."""
    for index, window in enumerate(demand.windows):
        if window.earliest <= start <= window.latest_start:
            return index
    return 0


def candidates(ledger: Ledger, demand: Demand, window: Window) -> list[tuple[float, int, str]]:
    """(what one replica's share of a node costs there, start, class) of every start of the
    window on every class the demand may use, cheapest first (then by start, then class).
    Worked out as arrays over all the classes at once: with running jobs' held nodes each a
    class (`held_room.py`), 300 jobs over 561 classes took 19 of a 31 CPU s schedule as lists."""
    need = need_of(demand)
    ids = demand.eligible
    if not ids:
        return []
    capacity, sums = ledger.class_arrays(ids)
    share = (need / np.maximum(capacity, 1)).max(axis=1)
    starts = np.arange(window.earliest, window.latest_start + 1)
    ends = starts + window.duration
    costs = (share[:, None] * (sums[:, ends] - sums[:, ends - window.duration])).ravel()
    every_start = np.tile(starts, len(ids))
    which = np.repeat(np.arange(len(ids)), len(starts))
    by_name = np.empty(len(ids), dtype=np.int64)
    by_name[sorted(range(len(ids)), key=ids.__getitem__)] = np.arange(len(ids))
    order = np.lexsort((by_name[which], every_start, costs))
    return list(zip(costs[order].tolist(), every_start[order].tolist(),
                    [ids[index] for index in which[order].tolist()]))


def place_anywhere(ledger: Ledger, demand: Demand, replica: int, window: Window,
                   options: list[tuple[float, int, str]] | None = None,
                   enough: int = CANDIDATES, fitting: RunFits | None = None) -> Spot | None:
    """A replica at the (class, start) of its window, and node, that add least to the
    objective, among the first CANDIDATES that fit in order of the replica's own share.
    `options`: the demand's `candidates`, shared by its replicas: one that does not fit is
    dropped from it (the ledger only fills, so it never fits a later replica either).
    `fitting`: the run's `RunFits`, where nothing but this places in the ledger meanwhile."""
    need = need_of(demand)
    if options is None:
        options = candidates(ledger, demand, window)
    best = ledger.best if fitting is None else fitting.best
    found: list[tuple[float, float, int, str, int]] = []
    kept = []
    for position, (own, start, class_id) in enumerate(options):
        spot = best(class_id, need, start, start + window.duration)
        if spot is None:
            continue
        kept.append((own, start, class_id))
        found.append((spot[1], own, start, class_id, spot[0]))
        if len(found) >= enough:
            kept += options[position + 1:]
            break
    options[:] = kept
    if not found:
        return None
    added, _, start, class_id, node = min(found)
    ledger.take(class_id, node, need, start, start + window.duration)
    if fitting is not None:
        fitting.taken(class_id, node)
    return Spot(demand.name, replica, class_id, node, start, start + window.duration, added)


class RunFits:
    """`Ledger.best` for the replicas of one run (one size), with what it computes per (class,
    start) kept between them: placing a replica changes only its node's row of which nodes
    have room and which would wake (and the limits, read afresh each time). At the goal size
    `Ledger.nodes` was 11 of the floor's 19 profiled CPU s, each run's replicas asking it
    again over every node of a class for the same steps."""

    def __init__(self, ledger: Ledger, need: np.ndarray) -> None:
        self.ledger, self.need = ledger, need
        self.asked = ledger.asked(need)
        # class -> the room a node of it has for one more, per column asked: worked out per
        # class on first use (a run asks few classes of the hundreds held nodes make)
        self.left: dict[str, np.ndarray] = {}
        # (class, start, end) -> (room per node, waking per node and step, what waking adds)
        self.rows: dict[tuple[str, int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def best(self, class_id: str, need: np.ndarray, start: int, end: int) -> tuple[int, float] | None:
        """What `Ledger.best` answers, from the kept rows."""
        ledger = self.ledger
        if ledger.off[class_id][start:end].any():
            return None
        key = (class_id, start, end)
        if key not in self.rows:
            self.rows[key] = self._computed(class_id, slice(None), start, end)
        room, waking, added = self.rows[key]
        fits = room.copy()
        if fits.any():
            fits &= ledger._limits_hold(class_id, waking, start, end)
        if not fits.any():
            return None
        node = int(np.flatnonzero(fits)[np.argmin(added[fits])])
        return node, float(added[node])

    def taken(self, class_id: str, node: int) -> None:
        """A replica was placed on this node: its rows computed again (what waking adds for
        every node, as `Ledger.nodes` does: a product over one row rounds otherwise, and the
        node chosen among equals would differ from the ledger's)."""
        for key in [key for key in self.rows if key[0] == class_id]:
            room, waking, _ = self.rows[key]
            start, end = key[1], key[2]
            room[node], waking[node], _ = (
                part[0] for part in self._computed(class_id, slice(node, node + 1), start, end))
            self.rows[key] = room, waking, waking @ self.ledger.rate[class_id][start:end]

    def _computed(self, class_id: str, nodes: slice, start: int, end: int
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`Ledger.nodes`'s room and waking for these nodes, before the limits."""
        ledger = self.ledger
        left = self.left.get(class_id)
        if left is None:
            left = self.left[class_id] = ledger.capacity[class_id][self.asked] - self.need[self.asked]
        room = np.asarray((ledger.used[class_id][nodes, start:end, self.asked] <= left).all(axis=(1, 2)))
        waking = ledger.running[class_id][nodes, start:end] == 0
        return room, waking, waking @ ledger.rate[class_id][start:end]


def place_cheapest(ledger: Ledger, demand: Demand, replica: int, window: Window) -> Spot | None:
    """A replica where it adds least in its whole window (`Ledger.cheapest`), taken."""
    found = ledger.cheapest(demand, window)
    if found is None:
        return None
    added, class_id, node, start = found
    ledger.take(class_id, node, ledger.need(demand.name), start, start + window.duration)
    return Spot(demand.name, replica, class_id, node, start, start + window.duration, added)


def urgency(demand: Demand, steps: int) -> tuple[bool, bool, int, int, str]:
    """Running jobs' held room first (`held_room.py`: it has one spot, where the job runs),
    then services, then the jobs whose windows leave the fewest start steps."""
    window = demand.window
    assert window is not None
    return (not is_held(demand.name), window.duration < steps, window.latest_start - window.earliest,
            window.earliest, demand.name)


def floor_order(problem: Problem) -> list[Demand]:
    """The demands in the order the first round places them: services first, then those that
    may use the fewest nodes (most constrained first: a job held to a small site finds its
    nodes' room, and their power cap's, taken by jobs that could have gone anywhere, if
    those come first), then the least slack (`urgency`). The sites shape at the goal size:
    by slack alone the first round left 70-94 replicas (all of them held to `osl`, the small
    site), which cost a second round (2.9-5.5 CPU s); this way it leaves none on seeds 1-3."""
    timeline = problem.timeline
    assert timeline is not None
    nodes = {node_class.id: node_class.count for node_class in problem.classes}

    def key(demand: Demand) -> tuple[bool, bool, int, tuple[bool, bool, int, int, str]]:
        urgent = urgency(demand, timeline.steps)
        return urgent[0], urgent[1], sum(nodes[class_id] for class_id in demand.eligible), urgent

    return sorted(problem.demands, key=key)


def node_schedule(problem: Problem, objective: str = "cost", rounds: int = 4,
                  deadline: float | None = None, stop: float | None = None
                  ) -> tuple[list[Spot], list[tuple[str, int]]]:
    """Every replica from nothing, in `floor_order` (services, the fewest nodes, the least
    slack first), each where it adds least (`place_anywhere`); a preemptible replica
    unbroken. A round that leaves at most
    REPAIRED_AT_ONCE replicas without room has them given room by ejection chains at once
    (`repaired`, within REPAIR_AT_ONCE_TRIES). Where some replicas still find no
    room, again with their demands first (the squeaky wheel: what was placed last and failed
    goes first), up to `rounds` times, then once by earliest deadline at the first start that
    fits. Where no round places all, each round's left-overs are given room by ejection
    chains (`repaired`), the round that left fewest first. (spots, replicas not placed) of the
    round that places most; a round that places all is then `searched` until the deadline.
    `stop`: the solve's own deadline, where it gives up making one (a round cut short leaves
    the replicas it did not reach missing): the time limit holds on the largest instances
    under load, where a round takes seconds (2-2.6 CPU s at 1,000 x 168 x 1,000)."""
    timeline = problem.timeline
    assert timeline is not None
    order = floor_order(problem)
    made: list[tuple[Ledger, list[Spot], list[tuple[str, int]]]] = []
    for _ in range(rounds):
        ledger, spots, missing = _scheduled(problem, objective, order, stop=stop)
        failed = {name for name, _ in missing}  # (the next round's order: before any repair)
        if 0 < len(missing) <= REPAIRED_AT_ONCE and not _past(stop):
            # a round's few left-overs given room by ejection chains at once: cheaper than
            # another round, and the search has the time that round would take
            spots, missing = repaired(problem, ledger, spots, missing, stop=stop,
                                      tries=REPAIR_AT_ONCE_TRIES)
        if not missing:
            return searched(problem, ledger, spots, deadline), []
        if _past(stop):
            return spots, missing
        made.append((ledger, spots, missing))
        order = [d for d in order if d.name in failed] + [d for d in order if d.name not in failed]
    # the cheapest-first rounds can fragment a node's free steps (alike jobs all wanting the
    # same cheap middle): last, earliest deadline first, each at the first start that fits,
    # which leaves the free steps at the end in one piece; then moves toward the cheap steps
    if _past(stop):
        return spots, missing
    ledger, spots, missing = _scheduled(problem, objective, sorted(problem.demands, key=_due),
                                        earliest=True, stop=stop)
    if not missing:
        return searched(problem, ledger, spots, deadline), []
    made.append((ledger, spots, missing))
    # only now the chains: where a round places all unrepaired, its schedule is the better
    # start for the search (the goal size: the second round's 109,335 searched to 106,975 in
    # 14 CPU s, the first round repaired 110,249 -> 107,234); rounds differ in what they leave
    # where (the tight instance: the first round's last job18 replica finds no chain, the
    # earliest-deadline round's three all do)
    best: tuple[list[Spot], list[tuple[str, int]]] | None = None
    for ledger, spots, missing in sorted(made, key=lambda round_: len(round_[2])):
        spots, missing = repaired(problem, ledger, spots, missing, stop=stop)
        if not missing:
            return searched(problem, ledger, spots, deadline), []
        if best is None or len(missing) < len(best[1]):
            best = spots, missing
    assert best is not None
    return best


def _due(demand: Demand) -> tuple[bool, int, int, str]:
    window = demand.window
    assert window is not None
    return (not is_held(demand.name), window.latest_start + window.duration, window.earliest, demand.name)


def _past(stop: float | None) -> bool:
    return stop is not None and time.monotonic() > stop


def _scheduled(problem: Problem, objective: str, order: list[Demand], earliest: bool = False,
               stop: float | None = None) -> tuple[Ledger, list[Spot], list[tuple[str, int]]]:
    """Every replica in `order`, each where `place_anywhere` puts it; past `stop`, the
    replicas not reached are missing."""
    ledger = Ledger(problem, objective)
    spots: list[Spot] = []
    missing: list[tuple[str, int]] = []
    for demand in order:
        if _past(stop):
            missing += [(demand.name, replica) for replica in range(demand.replicas)]
            continue
        for run, window in enumerate(demand.windows):
            options = candidates(ledger, demand, window)
            if earliest:  # first fit in time: by start, the cheapest class at a start first
                options.sort(key=lambda option: (option[1], option[0]))
            fitting = RunFits(ledger, need_of(demand))
            for index in range(demand.replicas_per_run):
                replica = run * demand.replicas_per_run + index
                spot = place_anywhere(ledger, demand, replica, window, options,
                                      1 if earliest else CANDIDATES, fitting)
                if spot is None:
                    missing.append((demand.name, replica))
                else:
                    spots.append(spot)
    return ledger, spots, missing


def search_from(problem: Problem, spots: list[Spot], objective: str, deadline: Deadline,
                regroup: bool = False, repack: bool = True, resumed: Resumed | None = None) -> list[Spot]:
    """`searched` from a schedule made before (its ledger made anew from its spots)."""
    return searched(problem, holding(problem, spots, objective), spots, deadline, regroup, repack, resumed)


def holding(problem: Problem, spots: list[Spot], objective: str = "cost") -> Ledger:
    """A ledger holding `spots`."""
    ledger = Ledger(problem, objective)
    for spot in spots:
        ledger.put(spot)
    return ledger


# a round of moves that gains less than this share of the total counts as converged for the
# run pass and the kick (`searched`): the round after it gained nothing at the goal size (seed 1:
# rounds of 28 and 10 USD of 106,400, each followed by one of 0 at ~2 CPU s), and those two
# rounds are what kept the kick out of a 30 s solve
CONVERGING = 3e-4


def searched(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
             regroup: bool = False, repack: bool = True, resumed: Resumed | None = None) -> list[Spot]:
    """The classes packed again whole (`repacked`), then single-replica moves (`improved`)
    and ruin and recreate of a node's block (`emptied`) in turn, while a round of both
    improves, until the deadline: each finds what the other leaves (a move frees a replica's
    old node at some steps; an emptied block moves several). With `regroup`, where a round
    gains nothing, the fragments' neighbourhoods solved exactly (`timeline_regroup`), and
    the rounds again while that gains: worth it only where nothing else will use the time
    (at 100 nodes it took the MIP's time, whose packed answer was cheaper: 8,082 not 8,068).
    Where the moves converge, each run's replicas placed again together (`runs_recreated`), the
    replicas over a stretch of a node's block (`timeline_stretches`), and a few of a site's
    emptiest nodes over a window filled again together across its classes (`timeline_fill`),
    each block placed again the longest first (`blocks_emptied_longest_first`), and a class's
    emptiest nodes at a step, their replicas near it, placed again together (`timeline_windows`).
    Once they converge: the kick (`cap_kicked`), then the blocks emptied through overflow chains
    (`timeline_overflow`).
    Last, the preemptible replicas cut again into their cheapest segments (`timeline_segments`).
    Without `repack`, the classes are not packed again: a search that goes on from one that did
    (`timeline.solve_timed`'s tail: at the goal size its repack took 1.5-2.3 CPU s and found
    nothing on seeds 1, 3 and 11, h33g and session 34). `resumed`: where a search before this
    one on the same schedule stopped (`timeline_resume.Resumed`: the moves not again where they
    had converged, a pass it was cut in from its first untried item, the overflow chains it was
    cut in first), kept up to date for the one after."""
    from fitlang.solve.timeline_fill import filled  # they build on this module
    from fitlang.solve.timeline_overflow import overflowed
    from fitlang.solve.timeline_regroup import regrouped
    from fitlang.solve.timeline_reschedule import rescheduled
    from fitlang.solve.timeline_segments import resegmented
    from fitlang.solve.timeline_stretches import blocks_emptied_longest_first, stretches_emptied
    from fitlang.solve.timeline_windows import windows_emptied
    # the class packed again whole, once: after the moves below it found nothing more at the
    # goal size (1,000 mixed nodes: 109,335 -> 108,485 first, then 0 in each of 8 rounds, at
    # 1.2 CPU s a round), where the moves reach a packing it does not
    if repack:
        spots = repacked(problem, ledger, spots, deadline)
    state = resumed if resumed is not None else Resumed()
    value, kicked, resuming = ledger.total(), False, state.converged
    moved = value  # the total where the moves last converged
    # the search before was cut in the overflow chains after its kick: on with them first
    spots = _unless_done(state, "overflow", overflowed, problem, ledger, spots, deadline, begun_only=True)
    while not past(deadline, ledger):
        if not resuming:  # (the search before stopped where the moves had converged: not again)
            # `emptied`'s passes only while each gains more than CONVERGING: from the sites
            # shape's first schedule at the goal size (seed 3) its passes gained -786, -39, then
            # -3.3, -1.9, -2.3, -1.9 and 0 USD in 0.9-1.0 CPU s each; the rounds after a pass
            # that converged took 2 of 3 passes for -1 to -2 USD each. The next round takes
            # them up once the passes after the converged moves change the schedule
            spots = emptied(problem, ledger, improved(problem, ledger, spots, deadline), deadline,
                            converging=CONVERGING)
            state.moved(_near(ledger.total(), value, CONVERGING))
        resuming, moved = False, ledger.total()
        if state.converged:
            # the moves have (nearly) converged: each run's replicas taken off together, and
            # the replicas over a stretch of a node's block, then the moves again where that
            # gained (they use what it frees)
            # the pairs of runs (`timeline_run_pairs`) in the solve's first run pass only: at the
            # goal size (seed 1, 30 s) it found -77.5 USD in 2.0 CPU s (-43.5 in 0.8 without);
            # the passes after it -6 in 0.7 CPU s without them, -9 in 3.8 with (session 42)
            spots = _unless_done(state, "runs", runs_recreated if state.paired else runs_paired,
                                 problem, ledger, spots, deadline)
            state.paired = state.paired or "runs" in state.done
            spots = _unless_done(state, "stretches", stretches_emptied, problem, ledger, spots, deadline)
            # a few of a site's emptiest nodes over a window filled again together, across the
            # site's classes (`timeline_fill`): at the goal size, from the search's schedule at
            # 10 / 22 CPU s, -13.7 / -19.4 USD in 0.3 / 0.7 CPU s, where the search gained 25 / 4.6
            # USD a CPU s; at 100-400 nodes, converged, -24 to -94 in 0.2-0.4
            spots = _unless_done(state, "fill", filled, problem, ledger, spots, deadline)
            # each block's replicas placed again the longest first where the largest first does
            # not pay (`blocks_emptied_longest_first`): at the goal size (seeds 1 / 3, 30 s) its
            # first pass found -73 / -47 USD in 1.3 / 1.2 CPU s after the fill; from seed 1's
            # schedule converged with the kick -48 in 3.2, where `emptied` found 0 and the
            # overflow chains ~4 USD a CPU s
            spots = _unless_done(state, "longest", blocks_emptied_longest_first, problem, ledger, spots,
                                 deadline)
            # a class's emptiest nodes at a step, their replicas near it placed again in several
            # orders (`timeline_windows`), the most wasteful steps first: from the search's
            # schedules after the kick at the goal size, a first pass -50 / -81 USD in 3.3 / 4.0
            # CPU s (seeds 1 / 3), where the tail's passes found 2-4 USD a CPU s
            spots = _unless_done(state, "windows", windows_emptied, problem, ledger, spots, deadline)
        now = ledger.total()
        # the kick once the moves have converged and the passes after them gain no more than
        # that either (the round as a whole may gain up to twice CONVERGING: at the goal size
        # of the sites shape, seed 1, a round of -34 USD against a threshold of 32 cost a
        # round more, 5 CPU s for -0.6, before the kick and the overflow chains)
        if state.converged and _near(now, moved, CONVERGING) and not kicked and not past(deadline, ledger):
            # once: the work outside a cap's classes sent into the room it leaves unused, then
            # the blocks emptied through overflow chains (other money than the kick's: at the
            # goal size, from converged schedules, 33 USD after the kick's 17-31, in 3 CPU s)
            spots, kicked = cap_kicked(problem, ledger, spots, deadline), True
            if not past(deadline, ledger):  # (a kick cut short is made again first)
                state.restarted("overflow")  # (over the kicked schedule, from its first block)
                spots = _unless_done(state, "overflow", overflowed, problem, ledger, spots, deadline)
            now = ledger.total()
        if _near(now, value, EPSILON):
            if not regroup:
                break
            # small neighbourhoods solved exactly: their replicas' nodes, then a site's most
            # wasteful nodes with their replicas' starts and classes too (`timeline_reschedule`)
            spots = regrouped(problem, ledger, spots, deadline)
            if _near(ledger.total(), value, EPSILON):
                spots = rescheduled(problem, ledger, spots, deadline)
            now = ledger.total()
            if _near(now, value, EPSILON):
                break
        value = now
    # last, where time is left: the preemptible replicas (which no move above touches) cut again
    # (0.1-0.2 CPU s at the goal size). Each round instead was a path of its own: at 30 CPU s
    # 29-47 USD lower on seeds 1 and 3, 26 higher on seed 2
    spots = resegmented(problem, ledger, spots, deadline)
    # converged for the search after this one where the passes since the moves converged gained
    # no more than CONVERGING, as the kick reads it above: at the goal size of the sites shape
    # (seed 1, 30 s) the first search ended at its share with the run pass's -3.7 USD after
    # moves that gained 0, and the tail spent 5.5 CPU s on the moves, the run and the stretch
    # passes again (-1.4 USD) and ended before the kick and the overflow chains
    state.converged = state.converged and _near(ledger.total(), moved, CONVERGING)
    return spots


def _near(now: float, value: float, share: float) -> bool:
    """Whether the total `now` is less than `share` of `value` below it (a search's round
    that gained no more than that)."""
    return now > value - share * max(1.0, abs(value))


# a pass of the search: (problem, ledger, spots, deadline, how far it got) -> the spots after it
SearchPass = Callable[[Problem, Ledger, list[Spot], Deadline, Progress], list[Spot]]


def _unless_done(state: Resumed, name: str, search: SearchPass, problem: Problem, ledger: Ledger,
                 spots: list[Spot], deadline: Deadline, begun_only: bool = False) -> list[Spot]:
    """The pass `search` over the schedule, unless it ran to its end over it before
    (`state.done`), from the first item it had not tried where it was cut (`state.begun`);
    marked done where it tried every item. `begun_only`: only where it was cut."""
    if name in state.done or (begun_only and name not in state.begun):
        return spots
    spots = search(problem, ledger, spots, deadline, state.progress(name))
    state.ended(name)
    return spots


def runs_recreated(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
                   progress: Progress | None = None, paired: bool = False) -> list[Spot]:
    """Ruin and recreate a run at a time: every replica of one run of a demand taken off
    together and placed again (`_recreated`: each where it adds least in its window, the
    largest first), kept where the total falls; runs in the order of the room their nodes
    leave unused (`_unused`), the most first, until the deadline. Where the moves have
    converged, a run whose replicas hold several part-empty nodes (the sites shape's 24-CPU
    replicas on 32-CPU nodes) moves to other nodes, starts or classes only together: at the
    goal size (seed 1, from the search converged at 106,425) one pass took 2.5 CPU s for -54
    and the moves then found -48 more, where the search itself had converged. Preemptible
    replicas stay. `progress`: how far a pass over the same schedule got before. `paired`: a
    run that finds no cheaper place alone tried with the runs in its way (`timeline_run_pairs`)."""
    from fitlang.solve.timeline_run_pairs import RunPairs  # it builds on this module
    spots = list(spots)
    runs: dict[tuple[str, int], list[int]] = {}
    for index, spot in enumerate(spots):
        demand = problem.demand(spot.demand)
        if demand.min_segment is None:
            runs.setdefault((spot.demand, run_of(demand, spot.start)), []).append(index)
    pairs = RunPairs(problem, ledger, spots, runs)
    # the most wasteful runs first: where the pass is cut by the deadline it has tried those,
    # and a run that moves leaves room the next ones use (seed 1 at the goal size, from one
    # converged schedule: -43 for 16 runs moved in one pass, against -25 for 10 in the order
    # of the runs' first spot, in the same 2.4-2.6 CPU s)
    def wasteful_first() -> list[tuple[str, int]]:
        unused = {key: sum(_unused(ledger, spots[index]) for index in held) for key, held in runs.items()}
        return sorted(runs, key=lambda key: -unused[key])
    for key in (progress or Progress()).through(wasteful_first, lambda: past(deadline, ledger)):
        held = runs[key]
        moved = _recreated(problem, ledger, [spots[index] for index in held])
        if moved is not None:
            pairs.moved(held, moved)
        elif paired:
            pairs.tried(key)
    return spots


def runs_paired(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
                progress: Progress | None = None) -> list[Spot]:
    """`runs_recreated` with the pairs of runs (`paired`)."""
    return runs_recreated(problem, ledger, spots, deadline, progress, True)


# what a kick takes off the rates of a capped class's nodes at the steps its cap has room for
# one more of them (`cap_kicked`): at the goal size, from converged schedules, 0.3 gained 13
# USD on seed 1, 0.6 48 (seed 3: 25), 0.9 and 1.0 lost 31-39 (too many nodes woken to refill)
CAP_DISCOUNT = 0.6


def cap_kicked(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline
               ) -> list[Spot]:
    """A kick into the room the power caps leave unused: where a cap binds at some step, its
    classes' rates lowered by CAP_DISCOUNT at the steps one more of their nodes fits under it,
    one pass of moves (`improved`) of only the replicas outside its classes that may use them,
    the rates restored, and the moves until they converge; kept where the total fell, else the
    schedule as it was. The LP fills the sites shape's `osl` cap at 145 of 168 steps, a
    converged schedule at 43 (~12.9 kW unused on average, its work on dearer classes), and
    single moves do not go there: one replica pays for a whole node it wakes."""
    true = dict(ledger.rate)
    capped: set[str] = set()
    for cap, scope, drawn in ledger.caps:
        if not (drawn + max(ledger.watts[c] for c in scope) > cap + EPSILON).any():
            continue  # a cap that never binds leaves its classes' prices right
        for class_id in scope:
            room = drawn + ledger.watts[class_id] <= cap + EPSILON
            ledger.rate[class_id] = ledger.rate[class_id] * np.where(room, 1 - CAP_DISCOUNT, 1.0)
            capped.add(class_id)
    ledger.repriced()
    outside = [index for index, spot in enumerate(spots) if spot.class_id not in capped
               and capped.intersection(problem.demand(spot.demand).eligible)]
    if not outside:
        ledger.rate.update(true)
        ledger.repriced()
        return spots
    value, was, spots = ledger.total_at(true), spots, list(spots)
    # the time alone, not `Ending.enough`: it would judge the discounted total, and for good
    moved = improved(problem, ledger, [spots[i] for i in outside],
                     deadline.at if isinstance(deadline, Ending) else deadline)
    ledger.rate.update(true)
    ledger.repriced()
    for index, spot in zip(outside, moved):
        spots[index] = spot
    spots = settled(problem, ledger, spots, _moved_between(was, spots), deadline)
    now = ledger.total()
    if now < value - EPSILON * max(1.0, abs(value)):
        return spots
    _restore(ledger, was, spots)
    return was


def settled(problem: Problem, ledger: Ledger, spots: list[Spot], touched: set[tuple[str, int]],
            deadline: Deadline) -> list[Spot]:
    """The moves (`improved`, `emptied`) only where a kick changed something, the (class, node)
    pairs in `touched` (the nodes it woke and the nodes it left) and those they move to, round
    after round while a round gains (a full round is 2.6 CPU s at the goal size, these a
    fraction of it)."""
    spots, now = list(spots), ledger.total()
    while touched and not past(deadline, ledger):
        round_began = list(spots)
        near = [index for index, spot in enumerate(spots) if (spot.class_id, spot.node) in touched]
        for index, spot in zip(near, improved(problem, ledger, [spots[i] for i in near], deadline)):
            spots[index] = spot
        spots = emptied(problem, ledger, spots, deadline, touched)
        touched |= _moved_between(round_began, spots)
        now, last = ledger.total(), now
        if now > last - EPSILON * max(1.0, abs(last)):
            break
    return spots


def _moved_between(was: list[Spot], now: list[Spot]) -> set[tuple[str, int]]:
    """The (class, node) pairs a replica left or went to between `was` and `now` (alike)."""
    return {(spot.class_id, spot.node) for before, after in zip(was, now) if before != after
            for spot in (before, after)}


def _unused(ledger: Ledger, spot: Spot) -> float:
    """The room the spot's node leaves unused over the spot's steps: the sum over them of
    1 - its busiest resource's share."""
    capacity = np.maximum(ledger.capacity[spot.class_id], 1)
    share = (ledger.used[spot.class_id][spot.node, spot.start:spot.end] / capacity).max(axis=1)
    return float((1 - share).sum())


def improved(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline
             ) -> list[Spot]:
    """One pass of moves, replica by replica: each taken off its node and placed again where
    it adds least in its whole window (`Ledger.cheapest`: every start, class and node), kept
    there when that adds less than leaving its node saved, else put back. A move that empties
    a node at some steps pays; the ledger keeps every limit. Preemptible replicas stay. Stops
    at the deadline. (It looked at `place_anywhere`'s few cheapest-priced starts until
    session 19: those nearly always fit by waking a node, so room on nodes awake at dearer
    hours was never seen; seed 1 at the goal size, from fitc's 30 s schedule, one pass:
    108,656 -> 108,301 that way, -> 107,509 this way, in about the same CPU s.)"""
    kept: list[Spot] = []
    for position, spot in enumerate(spots):
        if past(deadline, ledger):
            return kept + spots[position:]
        demand = problem.demand(spot.demand)
        if demand.min_segment is not None:
            kept.append(spot)
            continue
        window = demand.windows[run_of(demand, spot.start)]
        if ledger.unchanged(spot, demand.eligible, window.earliest, window.latest_start + window.duration):
            kept.append(replace(spot, added=0.0))  # it did not pay, and nothing it reads changed
            continue
        need = ledger.need(demand.name)
        ledger.tried()
        saved = ledger.release(spot.class_id, spot.node, need, spot.start, spot.end)
        # nothing adds less than nothing: where leaving frees no node-step, no move pays
        found = None if saved <= EPSILON else ledger.cheapest(demand, window)
        if found is not None and found[0] < saved - EPSILON:
            added, class_id, node, start = found
            end = start + spot.end - spot.start
            ledger.take(class_id, node, need, start, end)
            ledger.kept()
            kept.append(Spot(spot.demand, spot.replica, class_id, node, start, end, added))
            continue
        ledger.untried()
        ledger.unpaid(spot)
        kept.append(replace(spot, added=0.0))
    return kept


def emptied(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline,
            only: set[tuple[str, int]] | None = None, converging: float = 0.0) -> list[Spot]:
    """Ruin and recreate, a node's block at a time: the replicas running on a node over one
    block of steps it is awake (a maximal run) are all taken off and placed again, each where
    it adds least in its whole window (`place_cheapest`), the largest first; kept when what
    they add is less than what emptying the block saved, else put back as they were (at
    once, where what they add already reaches it). A single-replica move cannot
    empty a node that holds several replicas at once: this does, and so pays for the edges of
    runs where a node holds little (issue 19's second shape). Blocks are tried the least used
    first, pass after pass while a pass gains more than the share `converging` of the total
    (anything, by default), until the deadline. Preemptible replicas stay (a block holding one
    is skipped)."""
    spots = list(spots)
    where: dict[tuple[str, int], set[int]] = {}  # (class, node) -> the spots on it
    for index, spot in enumerate(spots):
        where.setdefault((spot.class_id, spot.node), set()).add(index)
    while not past(deadline, ledger):
        gained, was = False, ledger.total()
        for class_id, node, first, last in _blocks(ledger, only):
            if past(deadline, ledger):
                return spots
            held = sorted(index for index in where.get((class_id, node), ())
                          if spots[index].start < last and spots[index].end > first)
            if not held or any(problem.demand(spots[i].demand).min_segment is not None for i in held):
                continue
            moved = _recreated(problem, ledger, [spots[i] for i in held])
            if moved is not None:
                moved_in(spots, where, held, moved)
                gained = True
        if not gained or _near(ledger.total(), was, converging):
            break
    return spots


def moved_in(spots: list[Spot], where: dict[tuple[str, int], set[int]], held: list[int],
             moved: list[Spot]) -> None:
    """The spots `held` (indices) now `moved`, in `spots` and in `where` ((class, node) -> the
    indices of the spots on it)."""
    for index, spot in zip(held, moved):
        where[spots[index].class_id, spots[index].node].discard(index)
        where.setdefault((spot.class_id, spot.node), set()).add(index)
        spots[index] = spot


def _blocks(ledger: Ledger, only: set[tuple[str, int]] | None = None
            ) -> list[tuple[str, int, int, int]]:
    """(class, node, first step, end step) of every maximal run of steps a node is awake, the
    least used first (the mean over the block of its busiest resource's share)."""
    found: list[tuple[float, str, int, int, int]] = []
    for class_id, running in ledger.running.items():
        capacity = np.maximum(ledger.capacity[class_id], 1)
        share = (ledger.used[class_id] / capacity).max(axis=2)
        awake = running > 0
        edges = np.diff(awake.astype(np.int8), axis=1, prepend=0, append=0)
        for node, step in zip(*np.nonzero(edges == 1)):
            if only is not None and (class_id, int(node)) not in only:
                continue
            end = step + int(np.argmax(edges[node, step + 1:] == -1)) + 1
            found.append((float(share[node, step:end].mean()), class_id, int(node), int(step), int(end)))
    found.sort()
    return [(class_id, node, first, last) for _, class_id, node, first, last in found]


def _recreated(problem: Problem, ledger: Ledger, held: list[Spot], in_order: bool = False,
               longest_too: bool = False) -> list[Spot] | None:
    """`held` taken off their nodes and placed again, the largest first (`in_order`: in
    `held`'s order), and with `longest_too`, where that does not pay, the longest first; the
    new spots when that costs less, else None with the ledger as it was."""
    if in_order:
        return _recreated_in(problem, ledger, held, "held")
    found = _recreated_in(problem, ledger, held, "largest")
    if found is None and longest_too and len({spot.end - spot.start for spot in held}) > 1:
        found = _recreated_in(problem, ledger, held, "longest")
    return found


def _recreated_in(problem: Problem, ledger: Ledger, held: list[Spot], order_by: str) -> list[Spot] | None:
    """`held` taken off their nodes and placed again in the order `order_by`; the new spots when that
    costs less, else None with the ledger as it was (put back by copies: `Ledger.tried`). Not
    tried again where it did not pay and nothing it reads changed since (`Ledger.unchanged`):
    the same ledger there gives the same answer."""
    key = (order_by, *held)
    classes, first, last = _reach(problem, held)
    if ledger.unchanged(key, classes, first, last):
        return None
    ledger.tried()
    saved = sum(ledger.drop(s) for s in held)
    capacity = np.maximum(ledger.capacity[held[0].class_id], 1)  # a block is one class, a run alike

    def share(i: int) -> float:
        return float((ledger.need(held[i].demand) / capacity).max())
    if order_by == "held":
        order = list(range(len(held)))
    elif order_by == "longest":
        order = sorted(range(len(held)), key=lambda i: (-(held[i].end - held[i].start), -share(i), i))
    else:
        order = sorted(range(len(held)), key=lambda i: (-share(i) * (held[i].end - held[i].start), i))
    placed: dict[int, Spot] = {}
    added = 0.0
    for index in order:
        spot = held[index]
        demand = problem.demand(spot.demand)
        again = place_cheapest(ledger, demand, spot.replica, demand.windows[run_of(demand, spot.start)])
        if again is None:
            break
        placed[index] = again
        added += again.added
        if added >= saved - EPSILON:  # it cannot pay now: every replica adds >= 0
            break
    if len(placed) == len(held) and added < saved - EPSILON:
        ledger.kept()
        return [placed[index] for index in range(len(held))]
    ledger.untried()
    ledger.unpaid(key)
    return None


def _reach(problem: Problem, held: list[Spot]) -> tuple[set[str], int, int]:
    """(the classes, first step, end step) the spots' replicas may be placed again in: their
    demands' classes over their runs' windows."""
    classes: set[str] = set()
    firsts, lasts = [], []
    for spot in held:
        demand = problem.demand(spot.demand)
        window = demand.windows[run_of(demand, spot.start)]
        classes.update(demand.eligible)
        firsts.append(window.earliest)
        lasts.append(window.latest_start + window.duration)
    return classes, min(firsts), max(lasts)


# ---- a class packed again at the steps its replicas keep ---------------------------------------

# the orders a class's replicas are packed again in: by start (first fit in time), the longest
# first, the largest share x hours first; each fills nodes others leave part-empty
REPACK_ORDERS = ("start", "longest", "largest")


def repacked(problem: Problem, ledger: Ledger, spots: list[Spot], deadline: Deadline = None
             ) -> list[Spot]:
    """Each class's replicas taken off their nodes and packed again at their own steps, in
    each of REPACK_ORDERS, on the node that adds least (`_packed_again`); kept where the
    class then costs less, else put back. The search moves a replica or a node's block at a
    time and keeps the rest where it is; this packs the class whole, so it finds packings
    none of those moves reach (a node part-empty at the edges of runs because of where other
    replicas went earlier). Every move goes through the ledger: the limits hold. Preemptible
    replicas stay where they are. Stops at the deadline (between classes and orders)."""
    spots = list(spots)
    for class_id in ledger.running:
        if past(deadline, ledger):
            break
        held = [index for index, spot in enumerate(spots) if spot.class_id == class_id
                and problem.demand(spot.demand).min_segment is None]
        if not held:
            continue
        for order in REPACK_ORDERS:
            if past(deadline, ledger):
                break  # (a class's order is 0.1-0.5 s at the goal size under load)
            before = _class_total(ledger, class_id)
            was = [spots[index] for index in held]
            again = _packed_again(problem, ledger, was, order)
            if again is not None and _class_total(ledger, class_id) < before - EPSILON * max(1.0, before):
                for index, spot in zip(held, again):
                    spots[index] = spot
            elif again is not None:
                _restore(ledger, was, again)
    return spots


def _class_total(ledger: Ledger, class_id: str) -> float:
    return float(((ledger.running[class_id] > 0) @ ledger.rate[class_id]).sum())


def _packed_again(problem: Problem, ledger: Ledger, held: list[Spot], order: str
                  ) -> list[Spot] | None:
    """`held` (one class's) taken off and placed again at their own steps in `order`, each on
    the node that adds least, of those the node awake most of its run (so a replica joins a
    node already paid for rather than one that happens to be first); the new spots in
    `held`'s order, or None with the ledger as it was (one found no node)."""
    for spot in held:
        ledger.drop(spot)
    capacity = np.maximum(ledger.capacity[held[0].class_id], 1)
    keys = {
        "start": lambda i: (held[i].start, -(held[i].end - held[i].start), i),
        "longest": lambda i: (-(held[i].end - held[i].start), held[i].start, i),
        "largest": lambda i: (-float((need_of(problem.demand(held[i].demand)) / capacity).max())
                              * (held[i].end - held[i].start), held[i].start, i)}
    placed: dict[int, Spot] = {}
    for index in sorted(range(len(held)), key=keys[order]):
        spot = held[index]
        need = need_of(problem.demand(spot.demand))
        fits, added = ledger.nodes(spot.class_id, need, spot.start, spot.end)
        if not fits.any():
            _restore(ledger, held, list(placed.values()))
            return None
        awake = (ledger.running[spot.class_id][:, spot.start:spot.end] > 0).sum(axis=1)
        candidates_ = np.flatnonzero(fits)
        node = int(candidates_[np.lexsort((-awake[candidates_], added[candidates_]))[0]])
        ledger.take(spot.class_id, node, need, spot.start, spot.end)
        placed[index] = replace(spot, node=node, added=0.0)
    return [placed[index] for index in range(len(held))]


# ---- ejection chains: room made for a replica by moving the replicas in its way -------------

# an ejection chain takes singles and pairs (among the first PAIRED in the way) off a node
# first, then the largest first up to MOST_EJECTED, then as many as make room; REPAIR_TRIES
# such sets in all for one repair of a schedule's left-overs: a bound on the effort where no
# room can be made (a set costs a numpy pass, one that frees enough a few `place_anywhere`).
# A count, not a time, so the same input gives the same schedule. The tight sites instance
# (92 replicas): the MIP's packing repairs in 1,877 sets (0.45 CPU s), the node-level rounds
# in 600-1,100; a deeper chain (depth 3) spent the tries there and found nothing
MOST_EJECTED = 4
PAIRED = 16
REPAIR_TRIES = 4000


def repaired(problem: Problem, ledger: Ledger, spots: list[Spot], missing: list[tuple[str, int]],
             depth: int = 2, stop: float | None = None, tries: int = REPAIR_TRIES
             ) -> tuple[list[Spot], list[tuple[str, int]]]:
    """Each replica in `missing` placed by an ejection chain (`make_room`) where it can be,
    all within `tries` sets and until `stop`: (spots, replicas still missing)."""
    left: list[tuple[str, int]] = []
    budget = [tries]
    for name, replica in missing:
        if _past(stop):
            left.append((name, replica))
            continue
        demand = problem.demand(name)
        window = demand.windows[replica // demand.replicas_per_run]
        made = make_room(problem, ledger, spots, demand, replica, window, depth, budget)
        if made is None:
            left.append((name, replica))
        else:
            spots = made
    return spots, left


def make_room(problem: Problem, ledger: Ledger, spots: list[Spot], demand: Demand, replica: int,
              window: Window, depth: int = 2, tries: list[int] | None = None,
              frozen: frozenset[tuple[str, int]] = frozenset()) -> list[Spot] | None:
    """A replica no node has room for placed at a (class, start) of its window on a node
    that is awake then, after the replicas in its way there (a few: `_ejections`) are taken
    off and placed again elsewhere in their own windows (`place_anywhere`; one that finds no
    room makes its own, `depth` - 1 deeper). Every move goes through the ledger, so the
    caps, the budget and the buy limits hold throughout. The spots with the replica placed,
    or None with the ledger as it was. `frozen`: replicas of the chain above, never moved."""
    tries = [REPAIR_TRIES] if tries is None else tries
    frozen = frozen | {(demand.name, replica)}
    # (class, node) -> the spots that may move: not the chain's, not preemptible, and not the
    # replica's twins (moving one of its own demand's makes room only where it found none)
    movable: dict[tuple[str, int], list[Spot]] = {}
    for spot in spots:
        if (spot.demand, spot.replica) not in frozen and spot.demand != demand.name \
                and problem.demand(spot.demand).min_segment is None:
            movable.setdefault((spot.class_id, spot.node), []).append(spot)
    for _, start, class_id in candidates(ledger, demand, window):
        end = start + window.duration
        if ledger.off[class_id][start:end].any():
            continue
        for node in np.flatnonzero(ledger.running[class_id][:, start:end].any(axis=1)).tolist():
            in_way = [s for s in movable.get((class_id, node), []) if s.start < end and s.end > start]
            spot = Spot(demand.name, replica, class_id, node, start, end)
            for ejected in _ejections(problem, ledger, spot, in_way):
                tries[0] -= 1  # a numpy pass or (where capacity alone allows it) a try
                if tries[0] < 0:
                    return None
                if not _frees(ledger, problem, spot, ejected):
                    continue
                made = _ejected(problem, ledger, spots, spot, ejected, depth, tries, frozen)
                if made is not None:
                    return made
    return None


def _ejections(problem: Problem, ledger: Ledger, spot: Spot, in_way: list[Spot]) -> list[list[Spot]]:
    """The sets of replicas to take off a node for `spot`, the fewest and smallest first: each
    alone, each pair (among the first PAIRED: pairs grow as the square), then the largest
    first up to MOST_EJECTED, then (a node holding more) the largest first until its capacity
    is enough. Size: the share of the node a replica takes (its busiest resource) x hours."""
    capacity = np.maximum(ledger.capacity[spot.class_id], 1)
    sizes = {s: float((need_of(problem.demand(s.demand)) / capacity).max()) * (s.end - s.start)
             for s in in_way}
    sets = [[s] for s in in_way] + [list(pair) for pair in itertools.combinations(in_way[:PAIRED], 2)]
    sets.sort(key=lambda ejected: (len(ejected), sum(sizes[s] for s in ejected)))
    largest = sorted(in_way, key=lambda s: -sizes[s])
    sets += [largest[:count] for count in range(3, min(MOST_EJECTED, len(largest)) + 1)]
    if len(largest) > MOST_EJECTED:  # a node full of small replicas: as few as make room
        sets.append(largest[:_enough(ledger, problem, spot, largest)])
    return sets


def _enough(ledger: Ledger, problem: Problem, spot: Spot, largest: list[Spot]) -> int:
    """How many of `largest` (in order) must leave the node for `spot` to fit in its
    capacity (all of them where even that is not enough)."""
    for count in range(1, len(largest) + 1):
        if _frees(ledger, problem, spot, largest[:count]):
            return count
    return len(largest)


def _frees(ledger: Ledger, problem: Problem, spot: Spot, ejected: list[Spot]) -> bool:
    """`spot` fits its node's capacity at every step of its run once `ejected` leave it."""
    used = ledger.used[spot.class_id][spot.node, spot.start:spot.end].copy()
    used += need_of(problem.demand(spot.demand))
    for gone in ejected:
        first, last = max(gone.start, spot.start) - spot.start, min(gone.end, spot.end) - spot.start
        used[first:last] -= need_of(problem.demand(gone.demand))
    return bool((used <= ledger.capacity[spot.class_id]).all())


def _ejected(problem: Problem, ledger: Ledger, spots: list[Spot], spot: Spot, ejected: list[Spot],
             depth: int, tries: list[int], frozen: frozenset[tuple[str, int]]) -> list[Spot] | None:
    """`ejected` taken off, `spot` placed where they were, each of them placed again (the
    largest first); the new spots, or None with the ledger as it was."""
    for gone in ejected:
        ledger.drop(gone)
    now = [s for s in spots if s not in ejected]
    fits, _ = ledger.nodes(spot.class_id, need_of(problem.demand(spot.demand)), spot.start, spot.end)
    if fits.size and fits[spot.node]:
        ledger.put(spot)
        now.append(spot)
        for gone in sorted(ejected, key=lambda s: -int(need_of(problem.demand(s.demand)).sum())):
            placed = _placed_again(problem, ledger, now, gone, depth, tries, frozen)
            if placed is None:
                break
            now = placed
        else:
            return now
    _restore(ledger, spots, now)
    return None


def _placed_again(problem: Problem, ledger: Ledger, spots: list[Spot], gone: Spot, depth: int,
                  tries: list[int], frozen: frozenset[tuple[str, int]]) -> list[Spot] | None:
    demand = problem.demand(gone.demand)
    window = demand.windows[run_of(demand, gone.start)]
    moved = place_anywhere(ledger, demand, gone.replica, window)
    if moved is not None:
        return spots + [moved]
    if depth <= 1:
        return None
    return make_room(problem, ledger, spots, demand, gone.replica, window, depth - 1, tries, frozen)


def _restore(ledger: Ledger, was: list[Spot], now: list[Spot]) -> None:
    """The ledger back to holding `was` where it holds `now`."""
    before, after = set(was), set(now)
    for spot in now:  # in list order, not a set's: the same float sums every run
        if spot not in before:
            ledger.drop(spot)
    for spot in was:
        if spot not in after:
            ledger.put(spot)
