"""Replicas left out in time (`allow_unplaced` with a horizon, issue 19): a week's queue that is
more work than the fleet holds, where what does not fit in its window waits, by priority.

The unit and the order are those without a horizon: replicas (a gang's run all or none, a
workload with a latency rule none or at least its K), the highest priority first placing as
many as it can, then the next, then the objective. Here, for the schedule made node by node
(`timeline_pack`) where it leaves replicas out:

- `by_priority`: demands by priority, highest first (each level in `floor_order`), each
  replica where it adds least (`place_anywhere`), then the left-outs given room by ejection
  chains (`repaired`), the highest priority first;
- `first_fit`: demands by priority, each replica at its earliest start where a node has room
  (the first-fit a Slurm queue by priority gives, `bench/first_fit_time.py` restates it
  apart): the schedule is never lexicographically worse than it;
- the best of those and the schedule that places most (`best_short`) by `rank`, then
  searched for cost with what it places (`timeline_pack.search_from`), and each replica still
  out tried again where the search freed room.

The time model states the same order exactly (`rules/timing.LeftOut` columns, one objective
per priority level before the policy's own: `left_out_objectives`); `solve/timeline.py` keeps
whichever ranks first.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from fractions import Fraction

from fitlang.model.problem import Demand, Problem, Window
from fitlang.solve import timeline_rules
from fitlang.solve.timeline_pack import (
    Ledger,
    Spot,
    candidates,
    floor_order,
    holding,
    need_of,
    place_anywhere,
    repaired,
    search_from,
)

# a schedule's replicas left out: (demand, replica)
Missing = list[tuple[str, int]]
# the objective of the replicas of one priority level left out, `left_out:PRIORITY`
LEFT_OUT = "left_out:"


def left_out_objectives(problem: Problem) -> list[str]:
    """One objective per priority level, highest first, where replicas may be left out."""
    if not problem.allow_unplaced:
        return []
    return [f"{LEFT_OUT}{level}" for level in levels(problem)]


def levels(problem: Problem) -> list[int]:
    """The priority levels of the demands, highest first."""
    return sorted({demand.priority for demand in problem.demands}, reverse=True)


def rank(problem: Problem, missing: Missing, value: Fraction | float) -> tuple[object, ...]:
    """What a schedule is worth, least first: the replicas it leaves out per priority level
    (highest first), then its objective's value."""
    out = Counter(problem.demand(name).priority for name, _ in missing)
    return (*(out[level] for level in levels(problem)), value)


def whole(problem: Problem, spots: list[Spot], missing: Missing) -> tuple[list[Spot], Missing]:
    """A gang's run with a replica out is out whole (all or none), and a workload with a
    latency rule that places fewer than its K is out whole (met by running nowhere; the
    schedule made node by node puts such a workload only in reach: `timeline_rules.kept`)."""
    out = set(missing)
    short_runs = {(name, replica // max(1, problem.demand(name).replicas_per_run))
                  for name, replica in out if problem.demand(name).gang}
    placed = Counter(spot.demand for spot in spots)
    scant = {d.name for d in problem.demands
             if d.latency and placed[d.name] and placed[d.name] < max(r.replicas for r in d.latency)}
    kept: list[Spot] = []
    for spot in spots:
        demand = problem.demand(spot.demand)
        run = (spot.demand, spot.replica // max(1, demand.replicas_per_run))
        if spot.demand in scant or (demand.gang and run in short_runs):
            out.add((spot.demand, spot.replica))
        else:
            kept.append(spot)
    return kept, sorted(out)


def _priority_order(problem: Problem) -> list[Demand]:
    """`floor_order` within each priority level, the highest level first."""
    return sorted(floor_order(problem), key=lambda demand: -demand.priority)


def by_priority(problem: Problem, objective: str, stop: float | None) -> tuple[Ledger, list[Spot], Missing]:
    """Each replica in priority order where it adds least, the left-outs given room by
    ejection chains, the highest priority first."""
    ledger = Ledger(problem, objective)

    def place(demand: Demand, replica: int, window: Window, options: list) -> Spot | None:
        return place_anywhere(ledger, demand, replica, window, options)

    spots, missing = _placed_in_order(problem, ledger, _priority_order(problem), place)
    spots, missing = repaired(problem, ledger, spots, missing, stop=stop)
    return ledger, *whole(problem, spots, missing)


def first_fit(problem: Problem, objective: str = "cost") -> tuple[Ledger, list[Spot], Missing]:
    """Demands by priority, highest first (then by name), each replica at the earliest start
    of its window where a node has room (the cheapest class and node at that start); a gang's
    run at the earliest start where all its replicas have room in one cluster."""
    ledger = Ledger(problem, objective)

    def place(demand: Demand, replica: int, window: Window, options: list) -> Spot | None:
        return _earliest(ledger, demand, replica, window)

    order = sorted(problem.demands, key=lambda d: (-d.priority, d.name))
    return ledger, *_placed_in_order(problem, ledger, order, place, gang_run=_gang_earliest)


Place = Callable[[Demand, int, Window, list], "Spot | None"]
GangRun = Callable[[Ledger, Demand, range, Window], list[Spot]]


def _placed_in_order(problem: Problem, ledger: Ledger, order: list[Demand], place: Place,
                     gang_run: GangRun | None = None) -> tuple[list[Spot], Missing]:
    """Each demand's runs in `order`, each replica by `place` (a gang's run by `gang_run`
    where given); a gang's run that does not place whole, and a latency workload placing
    fewer than its K, taken off again at once (its room is then there for the demands after
    it)."""
    spots: list[Spot] = []
    missing: Missing = []
    for demand in order:
        mine: list[Spot] = []
        for run, window in enumerate(demand.windows):
            options = candidates(ledger, demand, window)
            replicas = range(run * demand.replicas_per_run, (run + 1) * demand.replicas_per_run)
            if demand.gang and gang_run is not None:
                got = gang_run(ledger, demand, replicas, window)
                mine += got
                missing += [] if got else [(demand.name, replica) for replica in replicas]
                continue
            made = [(replica, place(demand, replica, window, options)) for replica in replicas]
            placed = [spot for _, spot in made if spot is not None]
            if demand.gang and len(placed) < len(made):
                _taken_off(ledger, placed)
                missing += [(demand.name, replica) for replica in replicas]
                continue
            mine += placed
            missing += [(demand.name, replica) for replica, spot in made if spot is None]
        if demand.latency and mine and len(mine) < max(rule.replicas for rule in demand.latency):
            _taken_off(ledger, mine)
            missing += [(spot.demand, spot.replica) for spot in mine]
            mine = []
        spots += mine
    return spots, sorted(missing)


def _taken_off(ledger: Ledger, spots: list[Spot]) -> None:
    for spot in spots:
        ledger.drop(spot)


def _gang_earliest(ledger: Ledger, demand: Demand, replicas: range, window: Window) -> list[Spot]:
    """A gang's run at the earliest start of its window where every replica has room on the
    classes of one cluster (the first cluster by name that holds it then), or none."""
    clusters = sorted({ledger.problem.node_class(c).gang_domain for c in demand.eligible})
    need = need_of(demand)
    for start in window.starts():
        for cluster in clusters:
            classes = [c for c in demand.eligible if ledger.problem.node_class(c).gang_domain == cluster]
            got: list[Spot] = []
            for replica in replicas:
                found = [(spot[1], class_id, spot[0]) for class_id in classes
                         if (spot := ledger.best(class_id, need, start, start + window.duration)) is not None]
                if not found:
                    break
                added, class_id, node = min(found)
                ledger.take(class_id, node, need, start, start + window.duration)
                got.append(Spot(demand.name, replica, class_id, node, start, start + window.duration, added))
            if len(got) == len(replicas):
                return got
            _taken_off(ledger, got)
    return []


def _earliest(ledger: Ledger, demand: Demand, replica: int, window: Window) -> Spot | None:
    need = need_of(demand)
    for start in window.starts():
        found = [(spot[1], class_id, spot[0]) for class_id in demand.eligible
                 if (spot := ledger.best(class_id, need, start, start + window.duration)) is not None]
        if found:
            added, class_id, node = min(found)
            ledger.take(class_id, node, need, start, start + window.duration)
            return Spot(demand.name, replica, class_id, node, start, start + window.duration, added)
    return None


def best_short(problem: Problem, objective: str, made: tuple[list[Spot], Missing],
               deadline: float | None, stop: float | None, free: Problem | None = None
               ) -> tuple[list[Spot], Missing]:
    """The schedule that ranks first of `made` (the one that places most) and `by_priority`
    on `problem` (the problem the node-level search takes: gangs pinned, `timeline_rules`),
    and `first_fit` on `free` (its gangs not pinned: each run at its own earliest start; the
    problem itself where not given), each made whole (`whole`), searched for cost with what
    it places (its gangs pinned where it starts them), then each replica it leaves out tried
    again, the highest priority first."""
    free = timeline_rules.kept(free or problem)
    _, early, out = first_fit(free, objective)
    tried = [(problem, *whole(problem, *made)), (problem, *by_priority(problem, objective, stop)[1:]),
             (timeline_rules.pinned_to(free, early), early, out)]
    searched, spots, missing = min(tried, key=lambda one: rank(
        problem, one[2], holding(one[0], one[1], objective).total()))
    spots = search_from(searched, spots, objective, deadline)
    return _tried_again(searched, objective, spots, missing)


def _tried_again(problem: Problem, objective: str, spots: list[Spot], missing: Missing
                 ) -> tuple[list[Spot], Missing]:
    """The runs with replicas left out placed again where the schedule now has room, the
    highest priority first (a gang's run whole at its earliest start, `_gang_earliest`);
    kept only where the schedule then ranks first."""
    ledger = holding(problem, spots, objective)
    out = set(missing)
    placed = list(spots)
    for demand in _priority_order(problem):
        for run, window in enumerate(demand.windows):
            replicas = [r for r in range(run * demand.replicas_per_run, (run + 1) * demand.replicas_per_run)
                        if (demand.name, r) in out]
            if not replicas or (demand.latency and len(replicas) < demand.replicas):
                continue  # (a latency workload partly placed keeps what it has)
            if demand.gang:  # (a gang's run is out whole: all its replicas at one start)
                got = _gang_earliest(ledger, demand, range(replicas[0], replicas[-1] + 1), window)
            else:
                got = [spot for replica in replicas
                       if (spot := place_anywhere(ledger, demand, replica, window)) is not None]
            if demand.latency and len(got) < max(rule.replicas for rule in demand.latency):
                _taken_off(ledger, got)
                continue
            placed += got
            out -= {(spot.demand, spot.replica) for spot in got}
    before = rank(problem, missing, holding(problem, spots, objective).total())
    if rank(problem, sorted(out), holding(problem, placed, objective).total()) < before:
        return placed, sorted(out)
    return spots, missing


__all__ = ["LEFT_OUT", "best_short", "by_priority", "first_fit", "left_out_objectives", "levels",
           "rank", "whole"]
