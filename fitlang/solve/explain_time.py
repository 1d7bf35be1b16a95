"""`fitc explain` in time (issue 19): why no schedule exists, said as a window that lacks
capacity, with repairs checked by solving.

The conflict is energetic reasoning over windows of the horizon: in steps [first, last), a job
whose window is [earliest, latest_start + duration) must run at least
min(overlap if it starts as early as it may, overlap if it starts as late as it may) steps
(the overlap of a run with the window is least at one end of its possible starts), each step
taking its requests; a service runs every step; a recurring job's replicas, each run's in that
run's window. If the jobs and services that may use only the
classes C need more of a resource in the window than C's nodes have in it, no schedule exists:
a proof, stated in the policy's terms ("`train` needs 96 GPU-hours before ...; pool `h100` has
64 then"). With a budget, the same need is held against what the nodes the budget pays for at
each step's prices hold (a fractional knapsack per step, `_budget_buys`: with prices per step,
issue 19, the dear hours buy less). It is sound, not complete: a schedule can also fail on
power caps, the budget or the packing of replicas onto nodes in ways no window shows alone;
then explain says that no window alone lacks capacity.

Repairs are checked by solving the time model again (`solve_timed`): the conflict's deadlines
moved later, to the earliest instant that works; or nodes added to a pool of the conflict, the
fewest that work, with the steps the schedule then needs them; or the budget raised to the
least that works (in cents per hour).
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING

import numpy as np

from fitlang import messages as msg
from fitlang.check.program import Origin
from fitlang.diagnostics import Diagnostic, Related
from fitlang.model.problem import RESOURCES, Demand, Problem, Window
from fitlang.solve.linear import Status
from fitlang.span import FIRST_CHARACTER

if TYPE_CHECKING:
    from fitlang.solve.timeline import TimedPlacement

MAX_POINTS = 48  # window bounds tried (the earliest starts and deadlines, the horizon's ends)
MAX_TRIALS = 12  # solves per repair
# the resource a conflict is said in, where several lack: accelerators are what people count
SAID_FIRST = sorted(RESOURCES, key=lambda r: (r != "gpu", RESOURCES.index(r)))
UNITS = {"power": (Fraction(1, 1000), "kWh"), "nodes": (Fraction(1), "node-hours"),
         "cpu": (Fraction(1, 1000), "CPU-hours"), "memory": (Fraction(1, 2**30), "GiB-hours"),
         "gpu": (Fraction(1), "GPU-hours"), "disk": (Fraction(1, 2**30), "GiB-hours of disk")}


@dataclass(frozen=True)
class TimeConflict:
    """Jobs and services that may use only `classes` need more of `resource` in steps
    [first, last) than those classes have then (in the resource's units times steps)."""

    first: int
    last: int
    resource: str
    jobs: tuple[str, ...]
    services: tuple[str, ...]
    classes: tuple[str, ...]
    jobs_need: Fraction
    services_take: Fraction
    available: Fraction
    cap: int | None = None  # resource "power": the index of the power cap in `power_caps`
    # the budget per step, at each step's prices (issue 19: prices per step), lacks it
    budget: bool = False


def find_conflict(problem: Problem) -> TimeConflict | None:
    """The window and classes with the fewest jobs (then the shortest window) whose need
    exceeds what the classes have; None when no window alone lacks capacity. A screen in
    floating point over every window (`_Screen`) names the candidates; each is then decided
    exactly, in fractions, by `_lacking` and `_over_cap`."""
    timeline = problem.timeline
    assert timeline is not None
    screen = _Screen(problem)
    best: TimeConflict | None = None
    bought: dict[tuple[int, str], Fraction] = {}  # `_budget_buys` per step and resource, once
    for first, last in _windows(problem):
        forced = screen.forced(first, last)
        candidates = screen.candidates(forced, last - first)
        over_budget = screen.over_budget(forced, first, last)
        if not candidates and not over_budget:
            continue
        load = {d.name: int(f) for d, f in zip(screen.demands, forced.tolist()) if f}
        found = [_lacking(problem, classes, load, first, last) if cap is None else
                 _over_cap(problem, cap, load, first, last) for classes, cap in candidates]
        if over_budget:
            found.append(_over_budget(problem, load, first, last, bought))
        for conflict in found:
            if conflict is not None and (best is None or _rank(conflict) < _rank(best)):
                best = conflict
    return best


class _Screen:
    """Per demand with a window, as arrays: what `_lacking` and `_over_cap` sum, so that every
    window of the horizon is screened at numpy speed (1,000 jobs x 1,128 windows)."""

    def __init__(self, problem: Problem) -> None:
        self.demands = [d for d in problem.demands if d.window is not None]
        # one row per run (a recurring job has several), the demand it is of, its replicas
        rows = [(index, window, replicas) for index, demand in enumerate(self.demands)
                for window, replicas in _runs(demand)]
        self.owner = np.array([index for index, _, _ in rows], dtype=np.int64)
        self.earliest = np.array([w.earliest for _, w, _ in rows], dtype=np.int64)
        self.latest = np.array([w.latest_start for _, w, _ in rows], dtype=np.int64)
        self.duration = np.array([w.duration for _, w, _ in rows], dtype=np.int64)
        self.replicas = np.array([replicas for _, _, replicas in rows], dtype=float)
        requests = np.array([[d.requests[r] for r in SAID_FIRST] for d in self.demands],
                            dtype=float).reshape(len(self.demands), len(SAID_FIRST))
        self.sets: list[tuple[frozenset[str], np.ndarray, np.ndarray, np.ndarray]] = []
        # in a stated order: where two sets tie, the first found is named (a set of frozensets
        # iterates by string hashes, which differ from run to run)
        for classes in sorted({frozenset(d.eligible) for d in self.demands if d.eligible}, key=sorted):
            inside = np.array([bool(d.eligible) and set(d.eligible) <= classes for d in self.demands])
            nodes = _nodes(problem, classes)
            have = np.array([sum(nodes[c] * problem.node_class(c).capacity[r] for c in classes)
                             for r in SAID_FIRST], dtype=float)
            self.sets.append((classes, inside, requests, have))
        self.caps: list[tuple[int, np.ndarray, np.ndarray, float, float]] = []
        for index, cap in enumerate(problem.power_caps):
            draws = [problem.node_class(c).power_watts for c in cap.classes
                     if problem.node_class(c).power_watts]
            if not draws:
                continue
            scope = set(cap.classes)
            inside = np.array([bool(d.eligible) and set(d.eligible) <= scope for d in self.demands])
            weights = np.array([[float(_weight(problem, d, r, unit)) for unit in ("nodes", "power")
                                 for r in SAID_FIRST] for d in self.demands],
                               dtype=float).reshape(len(self.demands), 2 * len(SAID_FIRST))
            self.caps.append((index, inside, weights, float(math.floor(cap.cap_watts / min(draws))),
                              float(cap.cap_watts)))

        # with a budget: per step (cumulated) and resource, the most the nodes it pays for hold
        self.bought: np.ndarray | None = None
        self.requests = requests
        if problem.budget is not None and problem.timeline is not None and problem.classes:
            per_step = [_budget_buys_screened(problem, step) for step in range(problem.timeline.steps)]
            self.bought = np.vstack([np.zeros(len(SAID_FIRST)), np.cumsum(per_step, axis=0)])

    def over_budget(self, forced: np.ndarray, first: int, last: int) -> bool:
        """Whether every demand's need in [first, last) may exceed what the budget pays for
        then (within a rounding margin: `_over_budget` decides)."""
        if self.bought is None:
            return False
        need = forced @ self.requests
        have = self.bought[last] - self.bought[first]
        return bool(((need > 0) & (need > have * (1 - 1e-9) - 1e-9)).any())

    def forced(self, first: int, last: int) -> np.ndarray:
        """Per demand, the replica-steps of [first, last) its runs spend there wherever they
        start (the least of a run's overlaps starting as early and as late as it may)."""
        def overlap(start: np.ndarray) -> np.ndarray:
            return np.maximum(0, np.minimum(last, start + self.duration) - np.maximum(first, start))

        per_run = np.minimum(overlap(self.earliest), overlap(self.latest)) * self.replicas
        return np.bincount(self.owner, weights=per_run, minlength=len(self.demands))

    def candidates(self, forced: np.ndarray, steps: int
                   ) -> list[tuple[frozenset[str], int | None]]:
        """The class sets and caps whose need may exceed what they have in the window (within
        a rounding margin: the exact test decides)."""
        load = forced
        if not load.any():
            return []
        found: list[tuple[frozenset[str], int | None]] = []
        for classes, inside, requests, have in self.sets:
            need = (load * inside) @ requests
            if (need > have * steps * (1 - 1e-9) + 1e-9).any():
                found.append((classes, None))
        for index, inside, weights, most_nodes, watts in self.caps:
            need = (load * inside) @ weights
            half = len(SAID_FIRST)
            if (need[:half] > most_nodes * steps * (1 - 1e-9) - 1e-9).any() or \
                    (need[half:] > watts * steps * (1 - 1e-9) - 1e-9).any():
                found.append((frozenset(), index))
        return found


def _rank(conflict: TimeConflict) -> tuple[int, int, Fraction, int]:
    return (len(conflict.jobs), conflict.last - conflict.first,
            conflict.available - conflict.jobs_need - conflict.services_take, len(conflict.classes))


def _windows(problem: Problem) -> list[tuple[int, int]]:
    timeline = problem.timeline
    assert timeline is not None
    points = {0, timeline.steps}
    for demand in problem.demands:
        for window, _ in _runs(demand):
            points |= {window.earliest, window.latest_start + window.duration}
    ordered = sorted(points)
    if len(ordered) > MAX_POINTS:  # the ends of the horizon and evenly spread bounds between
        stride = len(ordered) / MAX_POINTS
        ordered = sorted({ordered[0], ordered[-1], *(ordered[int(i * stride)] for i in range(MAX_POINTS))})
    return [(a, b) for a in ordered for b in ordered if a < b]


def _runs(demand: Demand) -> list[tuple[Window, int]]:
    """Each run's window and replicas: a recurring job's replicas are its runs' together (its
    `window` is only the first run's), any other demand's are all in its window."""
    if demand.runs:
        return [(run, demand.replicas // len(demand.runs)) for run in demand.runs]
    return [] if demand.window is None else [(demand.window, demand.replicas)]


def _lacking(problem: Problem, classes: frozenset[str], load: dict[str, int], first: int,
             last: int) -> TimeConflict | None:
    """`load`: per demand, the replica-steps it spends in [first, last) wherever it runs."""
    inside = [d for d in problem.demands if load.get(d.name) and set(d.eligible) <= classes]
    nodes = _nodes(problem, classes)
    for resource in SAID_FIRST:
        need = {d.name: load[d.name] * d.requests[resource] for d in inside}
        have = sum(nodes[c] * problem.node_class(c).capacity[resource] for c in classes) * (last - first)
        if sum(need.values()) > have:
            jobs = [d for d in inside if need[d.name] and not _service(problem, d)]
            services = [d for d in inside if need[d.name] and _service(problem, d)]
            if not jobs:
                continue  # the services alone do not fit: the static explain's matter
            return TimeConflict(first, last, resource, tuple(d.name for d in jobs),
                                tuple(d.name for d in services), _holding(problem, classes, resource),
                                Fraction(sum(need[d.name] for d in jobs)),
                                Fraction(sum(need[d.name] for d in services)), Fraction(have))
    return None


def _holding(problem: Problem, classes: frozenset[str], resource: str) -> tuple[str, ...]:
    """The classes the sentence names: those whose nodes hold some of the resource (a CPU pool
    has no GPU-hours to state), all where none does."""
    holding = [c for c in sorted(classes) if problem.node_class(c).capacity[resource] > 0]
    return tuple(holding or sorted(classes))


def _over_cap(problem: Problem, index: int, load: dict[str, int], first: int,
              last: int) -> TimeConflict | None:
    """A power cap over [first, last). Per resource r, the replicas running at a step on class
    c keep at least sum(requests_r / capacity_r) of its nodes in use, each drawing the class's
    power; and at most floor(cap / the least draw in scope) nodes are in use at once. So, per
    resource, in node-steps (the nodes the cap allows) and in energy (the cap's watts), each
    replica counted on the class of those it may use where it weighs least."""
    cap = problem.power_caps[index]
    scope = set(cap.classes)
    inside = [d for d in problem.demands if load.get(d.name) and d.eligible
              and set(d.eligible) <= scope]
    draws = [problem.node_class(c).power_watts for c in cap.classes if problem.node_class(c).power_watts]
    if not inside or not draws:
        return None
    most_nodes = math.floor(cap.cap_watts / min(draws))
    for resource in SAID_FIRST:
        for unit, have in (("nodes", Fraction(most_nodes * (last - first))),
                           ("power", cap.cap_watts * (last - first))):
            need = {d.name: load[d.name] * _weight(problem, d, resource, unit)
                    for d in inside}
            if sum(need.values()) > have:
                jobs = [d.name for d in inside if need[d.name] and not _service(problem, d)]
                services = [d.name for d in inside if need[d.name] and _service(problem, d)]
                if jobs:
                    return TimeConflict(first, last, unit, tuple(jobs), tuple(services), (),
                                        sum((need[n] for n in jobs), Fraction(0)),
                                        sum((need[n] for n in services), Fraction(0)), have, index)
    return None


def _budget_buys(problem: Problem, step: int, resource: str) -> Fraction:
    """The most of `resource` the nodes the budget pays for at `step` hold, at the prices then
    (prices per step, electricity included): a fractional knapsack over the classes, the most
    capacity per USD first, each at most its nodes usable then. Replicas running at the step
    take no more than the nodes in use hold, and those cost at most the budget: a bound."""
    assert problem.budget is not None
    usable = _nodes(problem, frozenset(c.id for c in problem.classes))
    held, priced = Fraction(0), []
    for node_class in problem.classes:
        nodes, capacity = node_class.count_at(step) and usable[node_class.id], node_class.capacity[resource]
        price = node_class.price_at(step)
        if nodes and capacity and not price:
            held += nodes * capacity  # free nodes: the budget takes them all
        elif nodes and capacity:
            priced.append((Fraction(capacity) / price, price, nodes, capacity))
    left = problem.budget
    for _, price, nodes, capacity in sorted(priced, reverse=True):
        bought = min(Fraction(nodes), left / price)
        held, left = held + bought * capacity, left - bought * price
        if left <= 0:
            break
    return held


def _budget_buys_screened(problem: Problem, step: int) -> np.ndarray:
    """`_budget_buys` of every resource at once, in floating point (the screen's: 1,000
    classes x 168 steps in numpy; `_over_budget` decides exactly)."""
    assert problem.budget is not None
    budget = float(problem.budget)
    usable = _nodes(problem, frozenset(c.id for c in problem.classes))
    price = np.array([float(c.price_at(step)) for c in problem.classes])
    nodes = np.array([float(c.count_at(step) and usable[c.id]) for c in problem.classes])
    held = np.zeros(len(SAID_FIRST))
    for index, resource in enumerate(SAID_FIRST):
        capacity = np.array([float(c.capacity[resource]) for c in problem.classes])
        held[index] = (nodes * capacity)[price == 0].sum()  # free nodes: all of them
        paid = (price > 0) & (capacity > 0) & (nodes > 0)
        order = np.argsort(-(capacity[paid] / price[paid]), kind="stable")
        cost, amount = (nodes * price)[paid][order], (nodes * capacity)[paid][order]
        whole = int((np.cumsum(cost) <= budget).sum())  # classes bought whole, best first
        held[index] += amount[:whole].sum()
        if whole < len(order):  # and a share of the next
            held[index] += (budget - cost[:whole].sum()) / cost[whole] * amount[whole]
    return held


def _over_budget(problem: Problem, load: dict[str, int], first: int, last: int,
                 bought: dict[tuple[int, str], Fraction]) -> TimeConflict | None:
    """The budget per step over [first, last): every demand's need of a resource there
    against what the nodes the budget pays for at each step's prices hold (`_budget_buys`,
    kept in `bought` across windows)."""
    inside = [d for d in problem.demands if load.get(d.name)]
    for resource in SAID_FIRST:
        need = {d.name: load[d.name] * d.requests[resource] for d in inside}
        for step in range(first, last):
            if (step, resource) not in bought:
                bought[step, resource] = _budget_buys(problem, step, resource)
        have = sum((bought[step, resource] for step in range(first, last)), Fraction(0))
        if sum(need.values()) > have:
            jobs = [d.name for d in inside if need[d.name] and not _service(problem, d)]
            services = [d.name for d in inside if need[d.name] and _service(problem, d)]
            if jobs:
                return TimeConflict(first, last, resource, tuple(jobs), tuple(services), (),
                                    Fraction(sum(need[n] for n in jobs)),
                                    Fraction(sum(need[n] for n in services)), have, budget=True)
    return None


def higher_budget(problem: Problem, time_limit: Callable[[], float | None] = lambda: None
                  ) -> Fraction | None:
    """The least budget, in whole cents per hour, that gives a schedule (by bisection: a
    higher budget never hurts), up to every node at its highest price; None if that does not."""
    assert problem.budget is not None and problem.timeline is not None
    steps = range(problem.timeline.steps)
    most = sum((c.count * max(c.price_at(t) for t in steps) for c in problem.classes), Fraction(0))
    low = math.floor(problem.budget * 100) + 1  # cents per hour, above the budget
    high = max(math.ceil(most * 100), low)
    if _solves(dataclasses.replace(problem, budget=Fraction(high, 100)), time_limit) is None:
        return None
    for _ in range(MAX_TRIALS):
        if low >= high:
            break
        middle = (low + high) // 2
        if _solves(dataclasses.replace(problem, budget=Fraction(middle, 100)), time_limit):
            high = middle
        else:
            low = middle + 1
    return Fraction(high, 100)


def _weight(problem: Problem, demand: Demand, resource: str, unit: str) -> Fraction:
    """The least share of a node (`nodes`) or of its power (`power`, watts) one replica keeps
    in use by its `resource`, over the classes it may use."""
    found = []
    for class_id in demand.eligible:
        node_class = problem.node_class(class_id)
        if not node_class.capacity[resource]:
            continue
        share = Fraction(demand.requests[resource], node_class.capacity[resource])
        found.append(share if unit == "nodes" else share * node_class.power_watts)
    return min(found, default=Fraction(0))


def _nodes(problem: Problem, classes: frozenset[str]) -> dict[str, int]:
    """Nodes of each class usable at once: its count, a bought class's at most its `buy`
    block's max_count (an upper bound: the block's other offers share it)."""
    found = {}
    for class_id in classes:
        node_class = problem.node_class(class_id)
        limit = problem.buy_limits.get(node_class.buy_group) if node_class.buy_group is not None else None
        found[class_id] = node_class.count if limit is None else min(node_class.count, limit)
    return found


def _service(problem: Problem, demand: Demand) -> bool:
    timeline = problem.timeline
    return demand.window is not None and timeline is not None and demand.window.duration == timeline.steps


# ---- repairs, checked by solving -------------------------------------------------------------


def _solves(problem: Problem, time_limit: Callable[[], float | None],
            any_schedule: bool = False) -> TimedPlacement | None:
    """The schedule of every replica the time model finds, or None (running jobs' room held
    until they end counted: `held_room.py`). `any_schedule`: a repair's check, which asks
    whether one exists: a schedule made node by node where one places every replica (fast),
    else the solve."""
    from fitlang.solve.held_room import with_holds
    from fitlang.solve.timeline import scheduled_node_by_node, solve_timed

    held = with_holds(problem)
    if any_schedule and (first := scheduled_node_by_node(held)) is not None:
        return first
    placement = solve_timed(held, time_limit())
    done = not placement.unplaced and placement.status in (Status.OPTIMAL, Status.FEASIBLE)
    return placement if done else None


def later_deadline(problem: Problem, conflict: TimeConflict,
                   time_limit: Callable[[], float | None] = lambda: None) -> int | None:
    """The earliest step the conflict's jobs that end by its window must be allowed to end by
    for a schedule to exist (each moved as much, never past the horizon); None if none does."""
    timeline = problem.timeline
    assert timeline is not None
    bound = [d for d in (problem.demand(n) for n in conflict.jobs)  # a recurring job has no deadline
             if d.window is not None and not d.runs
             and d.window.latest_start + d.window.duration <= conflict.last
             and d.window.latest_start + d.window.duration < timeline.steps]
    if not bound:
        return None
    return _least_end(problem, bound, conflict.last + 1, time_limit)


def _least_end(problem: Problem, bound: list[Demand], low: int,
               time_limit: Callable[[], float | None]) -> int | None:
    """The least end, from `low` on, that the jobs `bound` must be allowed to end by (each
    moved as much, never past the horizon) for a schedule to exist; None if none does."""
    timeline = problem.timeline
    assert timeline is not None

    def moved(end: int) -> Problem:
        changed = problem
        for demand in bound:
            window = demand.window
            assert window is not None
            latest = max(window.latest_start, min(end, timeline.steps) - window.duration)
            changed = changed.with_demand(demand.name, window=dataclasses.replace(
                window, latest_start=latest))
        return changed

    high = timeline.steps
    if not _solves(moved(high), time_limit, any_schedule=True):
        return None
    for _ in range(MAX_TRIALS):  # the least end that works, by bisection (later never hurts)
        if low >= high:
            break
        middle = (low + high) // 2
        if _solves(moved(middle), time_limit, any_schedule=True):
            high = middle
        else:
            low = middle + 1
    return high


def more_nodes(problem: Problem, conflict: TimeConflict, class_id: str,
               time_limit: Callable[[], float | None] = lambda: None) -> tuple[int, list[int]] | None:
    """The fewest nodes to add to a class of the conflict for a schedule to exist, and the
    steps that schedule uses more than the class had; None if none within reach works."""
    from fitlang.solve.explain.search import with_pool
    from fitlang.solve.timeline import solve_timed

    node_class = problem.node_class(class_id)
    if node_class.provisioned:
        return None  # bought capacity grows by its `buy` block, not by nodes
    per_node = node_class.capacity[conflict.resource] * (conflict.last - conflict.first)
    lacking = conflict.jobs_need + conflict.services_take - conflict.available
    least = max(1, math.ceil(lacking / per_node)) if per_node else 1
    for added in range(least, least + MAX_TRIALS):
        grown = with_pool(problem, class_id, node_class.count + added)
        placement = solve_timed(grown, time_limit())
        if not placement.unplaced and placement.status in (Status.OPTIMAL, Status.FEASIBLE):
            return added, _steps_over(grown, placement, class_id, node_class.count)
    return None


def higher_cap(problem: Problem, index: int, time_limit: Callable[[], float | None] = lambda: None
               ) -> tuple[Fraction, list[int]] | None:
    """The least multiple of the smallest node draw under the cap, above it, that gives a
    schedule (the least cap that does where the nodes draw alike), and the steps that schedule
    draws more than the cap had; None if all its nodes at once do not."""
    cap = problem.power_caps[index]
    draws = sorted({problem.node_class(c).power_watts for c in cap.classes
                    if problem.node_class(c).power_watts})
    if not draws:
        return None
    unit = draws[0]
    most = sum((problem.node_class(c).power_watts * problem.node_class(c).count for c in cap.classes),
               Fraction(0))

    def raised(watts: Fraction) -> Problem:
        # an `hourly` cap's steps are what the solvers read (`cap_at`): each raised to at least
        # `watts` (raising `cap_watts` alone, the largest of them, changed no step)
        caps = list(problem.power_caps)
        caps[index] = dataclasses.replace(cap, cap_watts=max(watts, cap.cap_watts),
                                          step_caps=tuple(max(c, watts) for c in cap.step_caps))
        return dataclasses.replace(problem, power_caps=caps)

    # candidates: the multiples of the least draw above the cap (its lowest step's), up to
    # every node at once
    first = math.floor(min(cap.step_caps or (cap.cap_watts,)) / unit) + 1
    low, high = first, max(first, math.ceil(most / unit))
    placement = _solves(raised(high * unit), time_limit, any_schedule=True)
    if placement is None:
        return None
    for _ in range(MAX_TRIALS):
        if low >= high:
            break
        middle = (low + high) // 2
        found = _solves(raised(middle * unit), time_limit, any_schedule=True)
        if found is not None:
            high, placement = middle, found
        else:
            low = middle + 1
    return high * unit, _steps_drawing_over(problem, placement, index)


def _steps_drawing_over(problem: Problem, placement: TimedPlacement, index: int) -> list[int]:
    """The steps the placement draws more than the cap under `power_caps[index]`."""
    timeline = problem.timeline
    assert timeline is not None
    cap = problem.power_caps[index]
    owners = problem.owners()
    in_use: list[set[str]] = [set() for _ in range(timeline.steps)]
    for assignment in placement.assignments:
        if owners[assignment.node].id in cap.classes:
            for step in range(assignment.start, assignment.end):
                in_use[step].add(assignment.node)
    return [step for step, nodes in enumerate(in_use)
            if sum(owners[n].power_watts for n in nodes) > cap.cap_at(step)]


def _steps_over(problem: Problem, placement: TimedPlacement, class_id: str, count: int) -> list[int]:
    """The steps the placement uses more than `count` nodes of the class."""
    timeline = problem.timeline
    assert timeline is not None
    owners = problem.owners()
    in_use: list[set[str]] = [set() for _ in range(timeline.steps)]
    for assignment in placement.assignments:
        if owners[assignment.node].id == class_id:
            for step in range(assignment.start, assignment.end):
                in_use[step].add(assignment.node)
    return [step for step, nodes in enumerate(in_use) if len(nodes) > count]


# ---- the diagnostic ----------------------------------------------------------------------------


def explain_in_time(problem: Problem, root: str, time_limit: float | None = None,
                    repair_budget: float | None = None) -> Diagnostic:
    """E0950 (the conflict and its repairs) or E0951 (no window alone lacks capacity)."""
    return explained_in_time(problem, root, time_limit, repair_budget).diagnostic


def explained_in_time(problem: Problem, root: str, time_limit: float | None = None,
                      repair_budget: float | None = None, proven: bool = True) -> TimeExplanation:
    """The conflict in time and its repairs. `proven`: whether the solver proved that no
    schedule exists; where it did not (out of time) and no window alone lacks capacity, the
    verdict is E0506 (undecided), never E0951's "the solver proved it"."""
    began = time.monotonic()
    homeless = _on_no_node(problem, root)
    if homeless is not None:
        return TimeExplanation(homeless, None, [], time.monotonic() - began, 0.0, "eligibility")
    conflict = find_conflict(problem)
    found = time.monotonic()
    if conflict is None and not proven:
        return TimeExplanation(msg.PlacementUndecided(detail=(
            "no schedule was found within the time limit, nor proven impossible, and no window "
            "alone lacks the capacity its jobs need: raise --time-limit")).diagnostic(
            root, FIRST_CHARACTER), None, [], found - began, 0.0, None, proven=False)
    if conflict is None:
        over = _over_carbon_budget(problem, root, time_limit, repair_budget, began)
        if over is None:
            over = _rule_of_time(problem, root, time_limit, repair_budget, began)
        if over is not None:
            return over
        return TimeExplanation(msg.NoScheduleWithoutWindow(detail=(
            "no schedule meets every hard rule within the horizon (the solver proved it), yet "
            "no window alone lacks the capacity its jobs need: the power caps, the budget or "
            "the packing of replicas onto nodes rule out every schedule")).diagnostic(
            root, FIRST_CHARACTER), None, [], found - began, 0.0, None)
    text, related = _said(problem, conflict), _related(problem, conflict)
    repairs = _repairs(problem, conflict, time_limit, repair_budget)
    detail = text + ("; repairs, each checked by solving: " + "; or ".join(r.text for r in repairs)
                     if repairs else "; no deadline moved or nodes added within reach repairs it")
    first = problem.demand(conflict.jobs[0])
    origin = first.spans.get("deadline", first.origin)
    path, span = (root, FIRST_CHARACTER) if origin is None else (origin.path, origin.span)
    return TimeExplanation(msg.NoScheduleInWindow(detail=detail).diagnostic(
        path, span, related=related), conflict, repairs, found - began, time.monotonic() - found)


def _over_carbon_budget(problem: Problem, root: str, time_limit: float | None,
                        repair_budget: float | None, began: float) -> TimeExplanation | None:
    """E0951 naming the `carbon_budget` where it is less than any schedule emits: the policy
    solved without it, carbon first, has a schedule whose proven least emission is over the
    budget; with the repair, the least budget in whole 10 gCO2e that schedules, checked by
    solving. None where the budget is not what rules out every schedule, or it cannot be
    told in time. Before, explain said "the power caps, the budget or the packing" of a week
    whose only conflict was its carbon budget."""
    from fitlang.solve.explain import REPAIR_SECONDS

    budget = problem.carbon_budget
    if budget is None:
        return None
    ends = time.monotonic() + (REPAIR_SECONDS if repair_budget is None else repair_budget)

    def left() -> float | None:
        remaining = max(0.5, ends - time.monotonic())
        return remaining if time_limit is None else min(time_limit, remaining)

    freed = dataclasses.replace(problem, carbon_budget=None,
                                objective=["carbon", *[o for o in problem.objective if o != "carbon"]])
    least = _solves(freed, left)
    if least is None or least.value is None or least.bound is None or least.bound <= budget:
        return None  # not the budget alone, or not proven so
    found = time.monotonic()
    raised = Fraction(math.ceil(least.value * 100), 100)  # kgCO2e in whole 10 g, the least found
    repairs = []
    if _solves(dataclasses.replace(problem, carbon_budget=raised), left) is not None:
        repairs.append(TimeRepair("carbon", "carbon_budget", f"raise `carbon_budget` to "
                                  f"{float(raised):.2f} kgCO2e", problem.carbon_budget_origin,
                                  f"{float(budget):g} kgCO2e", f"{float(raised):g} kgCO2e"))
    where = problem.carbon_budget_origin
    line = f" (line {where.span.line})" if where is not None else ""
    detail = (f"no schedule meets every hard rule within the horizon (the solver proved it): the "
              f"`carbon_budget` of {float(budget):.2f} kgCO2e{line} is less than any schedule "
              f"emits, at least {float(least.bound):.2f} kgCO2e with every other rule kept"
              + ("; repairs, each checked by solving: " + "; or ".join(r.text for r in repairs)
                 if repairs else ""))
    path, span = (root, FIRST_CHARACTER) if where is None else (where.path, where.span)
    return TimeExplanation(msg.NoScheduleWithoutWindow(detail=detail).diagnostic(path, span), None,
                           repairs, found - began, time.monotonic() - found, "carbon")


def _rule_of_time(problem: Problem, root: str, time_limit: float | None,
                  repair_budget: float | None, began: float) -> TimeExplanation | None:
    """E0951 naming a gang (its replicas start together), a latency rule (K replicas in
    reach), a spread or an affinity read per step (`_rules_of_time`) where the policy without
    that one rule schedules, checked by solving: the first such rule, with its drop as the
    repair. None where no one rule is to blame
    (or it cannot be told in time). Without it, explain said "the power caps, the budget or
    the packing" of a policy whose gang could not start its replicas together."""
    from fitlang.solve.explain import REPAIR_SECONDS

    ends = time.monotonic() + (REPAIR_SECONDS if repair_budget is None else repair_budget)

    def left() -> float | None:
        remaining = max(0.5, ends - time.monotonic())
        return remaining if time_limit is None else min(time_limit, remaining)

    for rule, demand, freed, said, where, text in _rules_of_time(problem):
        if time.monotonic() >= ends:
            return None
        if _solves(freed, left, any_schedule=True) is None:
            continue
        line = f" (line {where.span.line})" if where is not None else ""
        found = time.monotonic()
        kept = _gang_kept(problem, demand, left) if rule == "gang" else []
        repairs = [*kept, TimeRepair(rule, demand.workload, text, where, None, None)]
        detail = (f"no schedule meets every hard rule within the horizon (the solver proved it): "
                  f"{said}{line} rules out every schedule, and without it one exists; repairs, "
                  f"each checked by solving: " + "; or ".join(r.text for r in repairs))
        path, span = (root, FIRST_CHARACTER) if where is None else (where.path, where.span)
        return TimeExplanation(msg.NoScheduleWithoutWindow(detail=detail).diagnostic(path, span),
                               None, repairs, found - began, time.monotonic() - found, rule)
    return None


def _gang_kept(problem: Problem, gang: Demand, time_limit: Callable[[], float | None]) -> list[TimeRepair]:
    """The repairs that keep a gang whole, each checked by solving: a power cap over its nodes
    raised (its replicas draw together, so a cap that holds them apart may hold none of them
    at once), its deadline moved (a maintenance window may leave too few nodes in time). An
    HPC centre's 8-node training under a 40 kW site cap was told only "drop `gang = true`",
    which a job of `torchrun --nnodes=8` cannot do."""
    found = []
    for index, cap in enumerate(problem.power_caps):
        if not set(cap.classes) & set(gang.eligible):
            continue
        raised = higher_cap(problem, index, time_limit)
        if raised is not None:
            watts, steps = raised
            found.append(TimeRepair("power", cap.name, f"raise the power cap `{cap.name}` to "
                                    f"{float(watts) / 1000:g} kW for {_spans(problem, steps)}",
                                    cap.origin, f"{float(cap.cap_watts) / 1000:g}kW",
                                    f"{float(watts) / 1000:g}kW"))
    timeline = problem.timeline
    window = gang.window
    assert timeline is not None
    if window is not None and not gang.runs and window.latest_start + window.duration < timeline.steps:
        end = _least_end(problem, [gang], window.latest_start + window.duration + 1, time_limit)
        if end is not None:
            found.append(TimeRepair("deadline", gang.name, f"move the deadline of `{gang.name}` to "
                                    f"{_at(problem, end)}", gang.spans.get("deadline", gang.origin),
                                    _at(problem, window.latest_start + window.duration),
                                    _at(problem, end)))
    return found


# a rule `_rule_of_time` may name: (its kind, its demand, the policy without it, what it asks,
# where it stands, its drop as a repair)
Candidate = tuple[str, Demand, Problem, str, Origin | None, str]


def _rules_of_time(problem: Problem) -> Iterator[Candidate]:
    """The rules of time one by one, gangs first, then latency rules, then the rules of
    topology read at each step (spreads, affinities, anti-affinities over zones and labels)."""
    for demand in problem.demands:
        if demand.gang and demand.replicas_per_run > 1 and demand.job:
            yield ("gang", demand, problem.with_demand(demand.name, gang=False),
                   f"the gang `{demand.name}` (its {demand.replicas_per_run} replicas start "
                   "together, at one step)", demand.spans.get("gang", demand.origin),
                   f"drop `gang = true` from `{demand.name}`: its replicas may start apart")
    for members in problem.latency_demands():
        first = members[0]
        rules = "; ".join(f"{r.replicas} within {float(r.limit_ms):g} ms of {r.location}"
                          for r in first.latency)
        freed = problem.with_demands([dataclasses.replace(d, latency=[]) if d in members else d
                                      for d in problem.demands])
        yield ("latency", first, freed, f"the latency rule of `{first.workload}` ({rules})",
               first.latency[0].origin or first.origin, f"drop the latency rule of `{first.workload}`")
    for demand in problem.demands:
        for index, spread in enumerate(demand.spreads):
            least = f", min_domains {spread.min_domains}" if spread.min_domains > 1 else ""
            yield ("spread", demand, problem.with_demand(
                demand.name, spreads=[s for i, s in enumerate(demand.spreads) if i != index]),
                f"the spread of `{demand.name}` over {spread.topology} (max_skew {spread.max_skew}"
                f"{least}, over the replicas running at each step)", spread.origin,
                f"drop the spread over {spread.topology} from `{demand.name}`")
        for index, affinity in enumerate(demand.affinities):
            if affinity.anti and affinity.topology == "node":
                continue  # (a node's room: the packing's)
            verb = "anti_affinity" if affinity.anti else "affinity"
            written = f"{verb} {affinity.target} on {affinity.topology}"
            yield ("affinity", demand, problem.with_demand(
                demand.name, affinities=[a for i, a in enumerate(demand.affinities) if i != index]),
                f"`{written}` of `{demand.name}` (at each step it runs)", affinity.origin,
                f"drop `{written}` from `{demand.name}`")


def _on_no_node(problem: Problem, root: str) -> Diagnostic | None:
    """E0950 for the first workload no node of any pool may hold (too large for every node, or
    its rules exclude them all): no window is to blame, nor a repair of time. Before, such a
    job fell through the windows (they count only the pools a job may use) to E0951's "no
    window alone lacks capacity"."""
    from fitlang.rules.explaining import need, shape

    demand = next((d for d in problem.demands if d.replicas and not d.eligible), None)
    if demand is None:
        return None
    origin = demand.spans.get("replicas", demand.origin)
    path, span = (root, FIRST_CHARACTER) if origin is None else (origin.path, origin.span)
    related = [Related(c.origin.path, c.origin.span, f"pool `{c.id}`: {shape(c)}")
               for c in problem.classes if c.origin is not None][:8]
    detail = (f"workload `{demand.name}` runs on no node: each replica needs {need(demand)}, and "
              f"no pool has a node that meets its rules and holds one")
    return msg.NoScheduleInWindow(detail=detail).diagnostic(path, span, related=related)


def explanation_document(explained: TimeExplanation, repair_budget: float | None) -> dict:
    """`fitc explain --format json` in time: the document of docs/schemas/ (the diagnostics
    added by the caller). The conflict lists the window's sentence at each job's deadline."""
    from fitlang.solve.explain import REPAIR_SECONDS

    diagnostic = explained.diagnostic
    rules = [{"rule": explained.rule, "subject": None, "text": diagnostic.message, "path": diagnostic.path,
              "line": diagnostic.span.line, "column": diagnostic.span.column}]
    repairs = [{"rule": r.rule, "subject": r.subject, "text": r.text,
                "path": r.origin.path if r.origin else None,
                "line": r.origin.span.line if r.origin else None,
                "column": r.origin.span.column if r.origin else None,
                "from": r.before, "to": r.after, "checked_cost": None,
                "checked_cost_least": False, "fix": None}
               for r in explained.repairs]
    named = explained.rule is not None
    return {"outcome": "conflict" if explained.proven else "undecided", "conflict": rules if named else [],
            "minimal": False, "repairs": repairs, "no_single_repair": not repairs, "pair": [],
            "repairs_cut_short": False,
            "repair_budget": REPAIR_SECONDS if repair_budget is None else repair_budget,
            "tried": None if named else "a window of the horizon that lacks capacity or power"}


def _said(problem: Problem, conflict: TimeConflict) -> str:
    scale, unit = UNITS.get(conflict.resource, (Fraction(1), f"{conflict.resource}-hours"))
    timeline = problem.timeline
    assert timeline is not None
    hours = Fraction(timeline.step_seconds, 3600)

    def amount(value: Fraction) -> str:
        return f"{float(value * scale * hours):g} {unit}"

    jobs = ", ".join(f"`{name}`" for name in conflict.jobs)
    pools = ", ".join(f"`{c}`" for c in conflict.classes)
    free = conflict.available - conflict.services_take
    services = ", ".join(f"`{s}`" for s in conflict.services)
    runs = "runs" if len(conflict.services) == 1 else "run"
    taken = "" if not conflict.services else (
        f" ({amount(conflict.available)}, less {amount(conflict.services_take)} for "
        f"{services}, which {runs} all along)")
    if free < 0:  # the services alone need more than there is: nothing is free, say so
        takes = "takes" if len(conflict.services) == 1 else "take"
        free, taken = Fraction(0), (f" ({amount(conflict.available)}, less than the "
                                    f"{amount(conflict.services_take)} that {services} {takes} all along)")
    verb = "needs" if len(conflict.jobs) == 1 else "need"
    needed = (f"{jobs} {verb} {'at least ' if conflict.cap is not None else ''}"
              f"{amount(conflict.jobs_need)} between {_at(problem, conflict.first)} and "
              f"{_at(problem, conflict.last)}")
    if conflict.budget:
        assert problem.budget is not None
        return (f"{needed}; at each step's prices, the budget of {float(problem.budget):g} USD/h "
                f"pays for nodes with at most {amount(free)} then{taken}")
    if conflict.cap is not None:
        cap = problem.power_caps[conflict.cap]
        if conflict.resource == "nodes":
            nodes = conflict.available / (conflict.last - conflict.first)
            return (f"{needed}; the power cap `{cap.name}` ({float(cap.cap_watts) / 1000:g} kW) "
                    f"keeps at most {nodes} node{'s' if nodes != 1 else ''} in use at once: "
                    f"{amount(free)} free then{taken}")
        return (f"{needed}; the power cap `{cap.name}` ({float(cap.cap_watts) / 1000:g} kW) allows "
                f"{amount(free)} then{taken}")
    return (f"{needed}; {'pool' if len(conflict.classes) == 1 else 'pools'} {pools} "
            f"{'has' if len(conflict.classes) == 1 else 'have'} {amount(free)} free then{taken}")


def _related(problem: Problem, conflict: TimeConflict) -> list[Related]:
    found = []
    for name in conflict.jobs:
        demand = problem.demand(name)
        for key in ("deadline", "earliest", "duration"):
            where = demand.spans.get(key)
            if where is not None:
                found.append(Related(where.path, where.span, f"`{name}`: its {key}"))
    for class_id in conflict.classes:
        where = problem.node_class(class_id).origin
        if where is not None:
            found.append(Related(where.path, where.span, f"pool `{class_id}`"))
    if conflict.cap is not None:
        cap = problem.power_caps[conflict.cap]
        if cap.origin is not None:
            found.append(Related(cap.origin.path, cap.origin.span, f"power cap `{cap.name}`"))
    if conflict.budget and problem.budget_origin is not None:
        where = problem.budget_origin
        found.append(Related(where.path, where.span, "the budget"))
    return found


@dataclass(frozen=True)
class TimeRepair:
    """A repair that works (checked by solving), as `fitc explain --format json` lists it."""

    rule: str  # deadline, capacity, power, budget
    subject: str  # the job, pool or power cap it changes
    text: str
    origin: Origin | None  # where the changed value stands
    before: str | None
    after: str | None


@dataclass(frozen=True)
class TimeExplanation:
    diagnostic: Diagnostic
    conflict: TimeConflict | None
    repairs: list[TimeRepair]
    conflict_seconds: float
    repair_seconds: float
    # what is named as the cause: "window" (a window lacks capacity), "eligibility" (a
    # workload no node may hold), "carbon" (the carbon budget, E0951), "gang", "latency",
    # "spread" or "affinity" (a gang that cannot start together, a latency rule, a spread, an
    # affinity or anti-affinity over zones or labels, each read per step: E0951), or None (E0951:
    # nothing alone is to blame; E0506)
    rule: str | None = "window"
    proven: bool = True  # no schedule exists (E0950, E0951); False: undecided (E0506)


def _repairs(problem: Problem, conflict: TimeConflict, time_limit: float | None,
             repair_budget: float | None) -> list[TimeRepair]:
    """The repairs that work, tried within explain's repair budget (each solve within what is
    left of it, never more than `time_limit`)."""
    from fitlang.solve.explain import REPAIR_SECONDS

    ends = time.monotonic() + (REPAIR_SECONDS if repair_budget is None else repair_budget)

    def left() -> float | None:
        remaining = max(0.5, ends - time.monotonic())
        return remaining if time_limit is None else min(time_limit, remaining)

    found = []
    end = later_deadline(problem, conflict, left)
    if end is not None:
        first = problem.demand(conflict.jobs[0])
        text = (f"move the deadline of `{first.name}` to {_at(problem, end)}"
                if len(conflict.jobs) == 1 else
                f"move the deadlines that end by {_at(problem, conflict.last)} to {_at(problem, end)}")
        found.append(TimeRepair("deadline", first.name, text, first.spans.get("deadline", first.origin),
                                _at(problem, conflict.last), _at(problem, end)))
    if conflict.cap is not None and time.monotonic() < ends:
        raised = higher_cap(problem, conflict.cap, left)
        if raised is not None:
            watts, steps = raised
            cap = problem.power_caps[conflict.cap]
            found.append(TimeRepair("power", cap.name, f"raise the power cap `{cap.name}` to "
                                    f"{float(watts) / 1000:g} kW for {_spans(problem, steps)}",
                                    cap.origin, f"{float(cap.cap_watts) / 1000:g}kW",
                                    f"{float(watts) / 1000:g}kW"))
    if conflict.budget and problem.budget is not None and time.monotonic() < ends:
        raised_to = higher_budget(problem, left)
        if raised_to is not None:
            found.append(TimeRepair("budget", "budget", f"raise the budget to {float(raised_to):g} USD/h",
                                    problem.budget_origin, f"{float(problem.budget):g} USD/h",
                                    f"{float(raised_to):g} USD/h"))
    for class_id in conflict.classes:
        if time.monotonic() > ends:
            break
        grown = more_nodes(problem, conflict, class_id, left)
        if grown is not None:
            added, steps = grown
            node_class = problem.node_class(class_id)
            found.append(TimeRepair(
                "capacity", class_id, f"add {added} node{'s' if added != 1 else ''} to pool "
                f"`{class_id}` for {_spans(problem, steps)}", node_class.spans.get(
                    "count", node_class.origin), str(node_class.count), str(node_class.count + added)))
    return found


def _at(problem: Problem, step: int) -> str:
    from fitlang.solve.timeline import instant

    timeline = problem.timeline
    assert timeline is not None
    return f"{instant(timeline, step):%Y-%m-%dT%H:%MZ}"


def _spans(problem: Problem, steps: list[int]) -> str:
    """Steps as time ranges: `2026-12-02T02:00Z-2026-12-02T04:00Z`."""
    if not steps:
        return "no step (the schedule moves work instead)"
    ranges, start = [], steps[0]
    for previous, step in zip(steps, steps[1:] + [None]):
        if step != previous + 1:
            ranges.append(f"{_at(problem, start)}-{_at(problem, previous + 1)}")
            if step is not None:
                start = step
    return ", ".join(ranges)
