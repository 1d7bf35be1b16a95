"""Issue 18: the plan's target from the charged LP's own answer (the bound's primal), against the
search's end. An offline study, in process on the CPU clock; not a test (the numbers go to
docs/performance.md, session 54, h54e).

    .venv/bin/python bench/lp_target.py DIR [--limit 4] [--passes 2] [--lp-options] [--no-search]

DIR holds the policy `p.fit` (with `move_price`) and what runs now, `now.json` (as
`move_bench.py` / `mkplan.py` write them). Printed, each end as `rest_targets.stated` does (cost
+ moves, cost, moves, class-level arrivals, rules broken, CPU s):

- `search`: the move from what runs (`move_scale.move_at_scale` at `--limit` CPU s);
- the charged LP (`move_bound.moves_lower_bound`'s relaxation from the repaired start, run to
  its end): its value, its node counts' cost, and how many merged classes it opens a fraction of;
- `lp target`: its answer un-merged (`_unmerged`: each merged pair's replicas y + s given to the
  merged demand's workloads, first up to what each runs on the pair's classes, then to those
  still short, on the class of the merged ones they run on most) and packed over every priced
  zone as `zone_regroup` packs one jurisdiction's (`_Regroup.take_off`, then `_packed`: the
  nodes the LP opens beyond those still in use, the nodes that ran the replicas first, each
  replica that ran there back on its node, the rest onto the fullest node of its class, else
  of any class, else `repair`); a workload held to its zone keeps its zone's count; with
  `--lp-options`, an option group whose replicas were all taken off (no gang, none held to a
  zone) takes the LP's options (its counts rounded down, topped up until they deliver);
- the node cost of that end over the LP's by merged class (where the packing loses);
- `lp target + passes`: the search's passes after `repair` run from it for `--passes` CPU s
  (`improve`, `trade_options`, `scatter_both`, `regroup_zones`, `switch_options`,
  `close_dear_opened`, `empty_pools`).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import sys
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import numpy as np
import rest_targets  # (sets time.monotonic to the CPU clock: before fitlang is read)

from fitlang.model.problem import RESOURCES, Problem
from fitlang.solve import bound, move_bound, moving
from fitlang.solve import zone_regroup as regrouping
from fitlang.solve.move_scale import ScaleMove, zone_of

_caught: dict = {}  # the charged LP's master and its added columns, as `lower_bound` makes them


def _catching(cls, name: str) -> None:
    made = cls.__init__

    def init(self, relaxed) -> None:
        made(self, relaxed)
        _caught[name] = self
    cls.__init__ = init


_catching(bound._Master, "master")
_catching(move_bound._NewColumns, "columns")


def charged_answer(moved: Problem, fleet: ScaleMove) -> tuple[bound.Bound, np.ndarray]:
    """The charged LP to its end from the repaired fleet; its last solution, by the
    relaxation's columns."""
    began = time.process_time()
    charged = move_bound._ChargedMoves(moved, moved.move_price or 0)
    found = bound.lower_bound(moved, "cost", None, start=fleet.packing(), extend=charged.extend)
    solution = _caught["master"]._solution()
    relaxed = found.relaxation
    assert relaxed is not None and found.lp_value is not None and charged.constant is not None
    width = relaxed.first_pair
    nodes = solution[:width]
    print(f"charged LP: {found.lp_value + float(charged.constant):.2f} (converged {found.converged}), "
          f"node cost {float(relaxed.cost[:width] @ nodes):.2f}, "
          f"{int((np.abs(nodes - np.rint(nodes)) > 1e-6).sum())} classes opened in part, "
          f"{time.process_time() - began:.2f} CPU s", flush=True)
    return found, solution


def _unmerged(moved: Problem, found: bound.Bound, solution: np.ndarray) -> dict[str, Counter]:
    """Per workload (demand), its replicas per class (floats) from the LP's merged pairs."""
    relaxed, columns = found.relaxation, _caught["columns"]
    assert relaxed is not None and found.members is not None
    members_of: dict[int, list[str]] = {}
    for class_id, at in sorted(relaxed.class_index.items()):
        members_of.setdefault(at, []).append(class_id)
    owners = moved.owners()
    running: dict[str, Counter] = {}
    for name, nodes in moved.running.items():
        for node, count in nodes.items():
            if count > 0 and node in owners:
                running.setdefault(name, Counter())[owners[node].id] += count
    nodes_of = {c.id: c.count for c in moved.classes}
    left = {d.name: float(d.replicas) for d in moved.demands}
    want: dict[str, Counter] = {}

    def give(name: str, class_id: str, amount: float) -> None:
        want.setdefault(name, Counter())[class_id] += amount
        left[name] -= amount

    amounts: dict[int, list[tuple[int, float]]] = {}
    for pair in range(relaxed.pairs):
        stay = columns.stay_of.get(pair)
        amount = solution[relaxed.first_pair + pair] + (solution[stay] if stay is not None else 0.0)
        if amount > 1e-9:
            amounts.setdefault(int(relaxed.pair_demand[pair]), []).append((pair, amount))
    for at, pairs in sorted(amounts.items()):
        names = found.members[at]
        rest = []
        for pair, amount in pairs:  # first to the workloads that run on the pair's classes
            classes = members_of[int(relaxed.pair_class[pair])]
            for name in sorted(names, key=lambda n: -sum(running.get(n, Counter())[c] for c in classes)):
                for class_id in classes:
                    given = min(amount, left[name], running.get(name, Counter())[class_id])
                    if given > 0:
                        give(name, class_id, given)
                        amount -= given
            rest.append((pair, amount))
        for pair, amount in rest:  # then to those still short
            classes = members_of[int(relaxed.pair_class[pair])]
            for name in names:
                given = min(amount, left[name])
                if given > 1e-9:
                    mine = running.get(name, Counter())
                    give(name, max(classes, key=lambda c: (mine[c], nodes_of[c], c)), given)
                    amount -= given
    return want


def _lp_options(moved: Problem, fleet: ScaleMove, regroup, want: dict[str, Counter]) -> int:
    """Option groups all taken off (no gang, none held to a zone, none on classes outside the
    regroup) given the LP's options; how many changed."""
    ids = {c.id for c in regroup.classes}
    changed = 0
    for group in moved.option_groups:
        running = {n: sum(moved.running.get(n, {}).values()) for n in group.demands}
        taken = {n: sum(regroup.taken.get(n, {}).values()) for n in group.demands}
        if group.gang or taken != running or any(n in fleet.zoned for n in group.demands) or \
                any(c not in ids for n in group.demands for c in want.get(n, ())):
            continue
        amounts = {n: sum(want.get(n, Counter()).values()) for n in group.demands}
        counts = {n: math.floor(v + 1e-6) for n, v in amounts.items()}
        order = sorted(group.demands, key=lambda n: counts[n] - amounts[n])
        while sum(moved.demand(n).throughput * c for n, c in counts.items()) < group.required:
            counts[order[0]] += 1
            order = order[1:] + order[:1]
        if counts != running:
            changed += 1
            for name in group.demands:
                regroup.taken.pop(name, None)
                if counts[name]:
                    regroup.taken[name] = Counter({None: counts[name]})
    return changed


def _counts(regroup, want: dict[str, Counter]) -> dict[tuple[str, str], int]:
    """Per replica taken off ((workload, zone held to or None) -> replicas), its counts per class
    of the regroup: the LP's, at most the replicas, rounded by largest remainders; those short
    onto the class it ran on most there."""
    classes = {c.id: c for c in regroup.classes}
    counts: Counter = Counter()
    for name, held in sorted(regroup.taken.items()):
        for zone, total in sorted(held.items(), key=str):
            here = {c: v for c, v in want.get(name, Counter()).items()
                    if c in classes and (zone is None or zone_of(classes[c]) == zone)}
            scale = min(1.0, total / sum(here.values())) if here else 0.0
            scaled = {c: v * scale for c, v in here.items()}
            whole = {c: math.floor(v + 1e-6) for c, v in scaled.items()}
            short = total - sum(whole.values())
            for c in sorted(scaled, key=lambda c: (whole[c] - scaled[c], c))[:short]:
                if scaled[c] - whole[c] > 1e-6:
                    whole[c] += 1
            short = total - sum(whole.values())
            if short > 0:
                ran = sorted(c for n, c in regroup.ran_on
                             if n == name and (zone is None or zone_of(classes[c]) == zone))
                if not ran:  # (an option the LP chose: its cheapest class by the LP)
                    ran = sorted(here) or sorted(classes)
                most = max(ran, key=lambda c: regroup.stays[name, c])
                whole[most] = whole.get(most, 0) + short
            for c, amount in whole.items():
                if amount:
                    counts[name, c] += amount
    return dict(counts)


def _opened(fleet: ScaleMove, regroup, found: bound.Bound, solution: np.ndarray,
            counts: dict[tuple[str, str], int]) -> dict[str, float]:
    """Per class, the nodes the LP opens past those still in use: its merged class's nodes
    shared among the members by the fluid nodes their counts fill."""
    relaxed = found.relaxation
    assert relaxed is not None
    classes = {c.id: c for c in regroup.classes}
    fluid: Counter = Counter()
    for (name, class_id), amount in counts.items():
        capacity = np.array([classes[class_id].capacity[r] for r in RESOURCES], dtype=float)
        share = np.where(capacity > 0, fleet.need[name] / np.maximum(capacity, 1), 0.0)
        fluid[class_id] += amount * float(share.max())
    merged: Counter = Counter()
    for class_id in classes:
        merged[relaxed.class_index.get(class_id, -1)] += fluid[class_id]
    in_use = Counter(node.node_class.id for node in fleet.nodes.values())
    opened = {}
    for class_id in sorted(classes):
        at = relaxed.class_index.get(class_id)
        if at is not None and merged[at] > 0:
            opened[class_id] = max(0.0, solution[at] * fluid[class_id] / merged[at] - in_use[class_id])
    return opened


def _losses(fleet: ScaleMove, found: bound.Bound, solution: np.ndarray) -> None:
    """The end's node cost over the LP's, by merged class: the sum over and under, the largest."""
    relaxed = found.relaxation
    assert relaxed is not None
    used = Counter(relaxed.class_index.get(node.node_class.id, -1) for node in fleet.nodes.values())
    rows = sorted(((float((used[at] - solution[at]) * relaxed.cost[at]), at)
                   for at in range(relaxed.first_pair)), reverse=True)
    print(f"node cost over the LP's: +{sum(d for d, _ in rows if d > 0):.2f} "
          f"{sum(d for d, _ in rows if d < 0):.2f}; largest: " +
          ", ".join(f"{used[at]} nodes for {solution[at]:.2f} at {relaxed.cost[at]:.3f} (+{d:.2f})"
                    for d, at in rows[:4]))


def _passes(fleet: ScaleMove, until: float) -> None:
    from fitlang.solve.dear_opened import close_dear_opened
    from fitlang.solve.option_switch import switch_options
    from fitlang.solve.option_trade import trade_options
    from fitlang.solve.pool_emptied import empty_pools
    from fitlang.solve.scatter_both import scatter_both

    fleet.improve(until)
    trade_options(fleet, "cost+moves", until)
    scatter_both(fleet, "cost+moves", until, 2, None)
    regrouping.regroup_zones(fleet, "cost+moves", until)
    switch_options(fleet, "cost+moves", until)
    close_dear_opened(fleet, "cost+moves", until)
    empty_pools(fleet, "cost+moves", until)


def lp_target(problem: Problem, passes: float, lp_options: bool) -> None:
    began = time.process_time()
    moved = dataclasses.replace(problem, objective=moving.move_objectives(problem), symmetric=[])
    fleet = ScaleMove(moved)
    fleet.repair(fleet.start())
    found, solution = charged_answer(moved, fleet)
    want = _unmerged(moved, found, solution)
    packing = time.process_time()
    every_zone = tuple(sorted({zone_of(c) for c in moved.classes if c.price > 0}, key=str))
    regroup = regrouping._Regroup(fleet, every_zone)
    regroup.take_off()
    if lp_options:
        print(f"option groups given the LP's options: {_lp_options(moved, fleet, regroup, want)}")
    counts = _counts(regroup, want)
    regrouping._packed(regroup, counts, _opened(fleet, regroup, found, solution, counts))
    for name in sorted({node.name for node in regroup.nodes}):
        node = fleet.nodes.get(name)
        if node is not None and not node.hosted:
            fleet.close(name)
    print(f"packed in {time.process_time() - packing:.2f} CPU s, {len(fleet.unplaced)} replicas left out")
    if fleet.unplaced:
        return
    _losses(fleet, found, solution)
    rest_targets.stated(problem, "lp target", fleet.state(), set(fleet.bought), time.process_time() - began)
    if passes:
        _passes(fleet, time.monotonic() + passes)
        rest_targets.stated(problem, "lp target + passes", fleet.state(), set(fleet.bought),
                            time.process_time() - began)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--limit", type=float, default=4.0)
    parser.add_argument("--passes", type=float, default=2.0)
    parser.add_argument("--lp-options", action="store_true")
    parser.add_argument("--no-search", action="store_true")
    arguments = parser.parse_args()
    problem = rest_targets.read(arguments.directory)
    if not arguments.no_search:
        rest_targets.search(problem, arguments.limit)
    lp_target(problem, arguments.passes, arguments.lp_options)


if __name__ == "__main__":
    main()
