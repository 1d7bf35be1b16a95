"""Issue 15, the inventory shape at 10,000 nodes: each zone's CPU replicas packed exactly by a
per-node MIP in a child process beside the search, as session 53 (h53a) proposed; measured in
session 54 (h54a), **not kept** (numbers: docs/performance.md, session 54, h54a). Not a test.

    PYTHONPATH=.:bench .venv/bin/python bench/zones_beside.py FILE [--limit 5] [--entry S | --drift] [--out X]

Without `--entry`: `fitc solve FILE --time-limit LIMIT` on the CPU clock (as e2e.py) with the
child wired in (`fitlang.solve.search_stages` patched here, nothing in fitlang changed): forked
at the search's entry with the packing as it is there (`ZonesBeside`), it takes zone_repack's
groups (a zone's movable paid CPU-only nodes and what they host), the most idle room paid for
per column of their MIP first (`_ranked`), and per group solves HiGHS's per-node MIP (each
candidate node open or not, replicas per (workload, node) whole up to the per-node limit, every
resource and the pods per node, workloads kept apart on a node never together, only packings
cheaper than the group's: `objective_bound`), candidates the group's own nodes and per class the
unused nodes its count LP's node count rounded up and one more ask (`_candidates`), in ROUNDS
(0.15 CPU s a group, then 2). The parent takes what the child told by the zone stage's end and
what it answered by the search's end (`kept`), each group's packing matched to the replicas the
group hosts then (`_matched`: the search moves replicas between zones after the fork), kept
where cheaper and every node holds (`_holds`) and the buy limits, budget and power caps hold.
Prints what the child found and what the parent kept, then the answer's line as e2e.py does
(its verify is not run: run `fitc verify` on `--out`).

With `--entry S`: at the search's entry, every group's MIP in this process for S CPU s each
(the solve is stopped there), printing each improving solution's value and CPU second. With
`--drift`: the solve undisturbed, and at the search's end how many workloads' replica counts
each group gained or lost since the search's entry.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix

from fitlang.model.problem import RESOURCES, NodeClass, Problem
from fitlang.solve import work
from fitlang.solve.backends import KILL_GRACE, Minimising, forks, tell_parent
from fitlang.solve.clock import highs_limited, on_the_wall, wall_seconds
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.move_bound_beside import LAST_ROUND_WAIT, OFF_WALL_WAITS
from fitlang.solve.pack import NodeState, Packing, _unused_names
from fitlang.solve.zone_repack import MOST_WORK, _apply, _Group, _within_limits
from fitlang.solve.zone_repack import _groups as _repack_groups

# print each improving solution of each MIP (`--entry`)
IMPROVING = False
# the share of the search's time left at the fork the child's MIPs take: the rest is its
# answer's way back
CHILD_SHARE = 0.9
# the MIP's relative gap (a zone of ~25 USD/h: 0.0025)
MIP_GAP = 1e-4
# a group's MIP is begun only with this many seconds left
LEAST_ZONE_SECONDS = 0.05
# each round's most seconds a group's MIP (every group in a round, then the next): a short
# first round finds what HiGHS's root heuristics find at once (inventory 10,000 seed 94's
# us-east-1b: 27.78 -> 27.00 at 0.11 CPU s), the second goes on with the time left
ROUNDS = (0.15, 2.0)
# the unused nodes a class offers beyond its count LP's node count rounded up
SPARE_NODES = 1
# a group's MIP only where its (workload, node) columns are at most this many
MOST_COLUMNS = 60_000


@dataclass(frozen=True)
class ZonePacked:
    """One group's packing the child found: the group (`zone_repack._Group.key`), the replicas
    it hosted at the fork (workload, count), what its nodes cost then, and the nodes the packing
    opens (class id, node name, (workload, replicas)) and what they cost."""
    key: int
    counts: tuple[tuple[str, int], ...]
    before: float
    nodes: tuple[tuple[str, str, tuple[tuple[str, int], ...]], ...]
    value: float


def _price(objective: str) -> Callable[[NodeClass], float]:
    return (lambda c: 1.0) if objective == "nodes" else (lambda c: float(c.price))


class ZonesBeside:
    """The child of `zones_exact_beside`, and what it found (`found`)."""

    def __init__(self, task: Callable[[float], object], seconds: float) -> None:
        self.seconds, self.until = seconds, time.monotonic() + seconds
        self._pending = Minimising.running(task, seconds)

    def so_far(self) -> tuple[ZonePacked, ...]:
        """What the child has found by now, the child going on; with no user limit
        (`work.counted`) its answer, waited for (the same on any machine), the child then done."""
        if work.counted():
            return self.found()
        newest = self._pending.newest()
        return newest if isinstance(newest, tuple) else ()

    def packings(self, problem: Problem, packing: Packing,
                 groups: list[_Group]) -> dict[int, tuple[float, list[tuple[NodeClass, NodeState]]]]:
        """What the child has found by now (`so_far`) for `groups` (those it was started with,
        `packing` as it was then): per group its cost and nodes, where every node is free or the
        group's own and its replicas hold there (`_holds`); the child is stopped."""
        found = self.so_far()
        self._pending.result(0.0)
        by_key, by_class = {group.key: group for group in groups}, {c.id: c for c in problem.classes}
        packings = {}
        for packed in found:
            group = by_key.get(packed.key)
            opened = None if group is None else _states(problem, packing, group, packed, by_class)
            if group is not None and opened is not None and \
                    all(_holds(problem, group, node_class, node) for node_class, node in opened):
                packings[packed.key] = (packed.value, opened)
        return packings

    def found(self) -> tuple[ZonePacked, ...]:
        """Every group's packing the child found, the child stopped: on the wall what it told
        by its end; off it (a bench's CPU clock, or no user limit) its answer, waited for as a
        core of its own would have it in (its own clock stops it: `OFF_WALL_WAITS`)."""
        if on_the_wall():
            wait = max(0.0, self.until - time.monotonic()) + LAST_ROUND_WAIT
        else:
            wait = OFF_WALL_WAITS * wall_seconds(self.seconds) + KILL_GRACE
        answered = self._pending.result(wait)
        if answered is None:
            answered = self._pending.told(0)
        return answered if isinstance(answered, tuple) else ()


def zones_exact_beside(problem: Problem, packing: Packing, objective: str,
                       deadline: float | None) -> ZonesBeside | None:
    """The exact packings of `groups` (`packing`'s) begun in a child until CHILD_SHARE of the
    time to `deadline`, where processes fork, the packing is complete and its objective is cost
    or nodes; None elsewhere."""
    if deadline is None or objective not in ("cost", "nodes") or not packing.complete or not forks():
        return None
    seconds = deadline - time.monotonic()
    if seconds < 2 * LEAST_ZONE_SECONDS:
        return None

    def task(limit: float) -> tuple[ZonePacked, ...]:
        # (on the child's clock: a CPU clock starts anew at the fork)
        deadline = time.monotonic() + CHILD_SHARE * limit
        groups = [group for group in _groups(problem, packing)
                  if sum(group.counts.values()) * sum(c.count for c in group.classes) <= MOST_WORK]
        return exact_zones(problem, packing, groups, objective, deadline)

    return ZonesBeside(task, seconds)


def exact_zones(problem: Problem, packing: Packing, groups: list[_Group], objective: str,
                deadline: float) -> tuple[ZonePacked, ...]:
    """Each group's exact packing where cheaper than its own (and than what an earlier round
    found), the groups in `_ranked` order, in ROUNDS: each MIP at most its round's seconds,
    all until `deadline`; each told the parent as found (`tell_parent`: the best of every group
    so far)."""
    price = _price(objective)
    best: dict[int, ZonePacked] = {}
    ranked = _ranked(groups, price)
    counted = work.counted()
    lps: dict[int, np.ndarray | None] = {}
    for seconds in ROUNDS:
        for group in ranked:
            left = deadline - time.monotonic()
            if not counted and left < LEAST_ZONE_SECONDS:
                return tuple(best[key] for key in sorted(best))
            began = time.monotonic()
            if group.key not in lps:
                lps[group.key] = _count_lp(problem, group, price)
            lp = lps[group.key]
            if lp is None:
                continue
            cap = seconds if counted else min(seconds, deadline - time.monotonic())
            before = best[group.key].value if group.key in best else sum(price(c) for c, _ in group.members)
            packed = _packed(problem, packing, group, lp, price, before, time.monotonic() + cap)
            floor = float(np.dot(lp, [price(c) for c in group.classes]))
            print(f"  child: group {group.key} from {before:.2f} (its LP {floor:.2f}) -> "
                  f"{None if packed is None else round(packed.value, 2)} "
                  f"in {time.monotonic() - began:.2f} CPU s", file=sys.stderr, flush=True)
            if packed is not None:
                best[group.key] = packed
                tell_parent(tuple(best[key] for key in sorted(best)))
    return tuple(best[key] for key in sorted(best))


def _ranked(groups: list[_Group], price: Callable[[NodeClass], float]) -> list[_Group]:
    """The groups, the most room paid for and left idle per column of their MIP first (what a
    node costs times the share of it its fullest resource leaves free; columns as the group's
    workloads times its nodes): a MIP's time grows with its columns (seed 94's us-east-1a, 1.52
    USD/h over its count LP in 11,603 columns, found nothing in 3 CPU s where us-east-1b, 1.46
    in 4,440, found 0.78 of it in 0.11), and its count LP takes 0.1 CPU s a group (so it is
    solved only where the group's turn comes)."""
    ranked = []
    for group in groups:
        idle = 0.0
        for node_class, node in group.members:
            room = node_class.capacity_of(node.name)
            used = max(1 - node.free[r] / room[r] for r in ("cpu", "memory") if room[r])
            idle += price(node_class) * (1 - used)
        if idle > 1e-6:
            ranked.append((idle / (len(group.counts) * len(group.members)), group.key, group))
    ranked.sort(key=lambda item: (-item[0], item[1]))
    return [group for _, _, group in ranked]


def _count_lp(problem: Problem, group: _Group, price: Callable[[NodeClass], float]) -> np.ndarray | None:
    """The group's count LP (each class's capacity summed, replicas per class at most the
    per-node limit times its nodes where that is below their count): its node count per class;
    None where HiGHS ends without."""
    import highspy

    workloads, classes = sorted(group.counts), group.classes
    counts = np.array([group.counts[w] for w in workloads], dtype=float)
    limits = np.array([[group.limits[w][c.id] for c in classes] for w in workloads], dtype=float)
    requests = np.array([[problem.demand(w).requests[r] for r in RESOURCES] for w in workloads], dtype=float)
    rooms = np.array([[max(c.capacity[r], 1) for r in RESOURCES] for c in classes], dtype=float)
    pair_w, pair_c = np.nonzero(limits > 0)
    width = len(pair_w) + len(classes)
    blocks = [(pair_w, np.arange(len(pair_w)), np.ones(len(pair_w)))]  # every replica placed
    lower, upper = [counts], [counts]
    row = len(workloads)
    for r in range(len(RESOURCES)):  # each class's capacity, as shares of a node
        asked = requests[pair_w, r] > 0
        if not asked.any():
            continue
        shares = requests[pair_w[asked], r] / rooms[pair_c[asked], r]
        blocks.append((row + pair_c[asked], np.flatnonzero(asked), shares))
        each = np.arange(len(classes))
        blocks.append((row + each, len(pair_w) + each, -np.ones(len(classes))))
        lower.append(np.full(len(classes), -np.inf))
        upper.append(np.zeros(len(classes)))
        row += len(classes)
    held = np.flatnonzero(limits[pair_w, pair_c] < counts[pair_w])  # at most the per-node limit a node
    blocks.append((row + np.arange(len(held)), held, np.ones(len(held))))
    blocks.append((row + np.arange(len(held)), len(pair_w) + pair_c[held],
                   -limits[pair_w[held], pair_c[held]]))
    lower.append(np.full(len(held), -np.inf))
    upper.append(np.zeros(len(held)))
    rows, cols, values = (np.concatenate(part) for part in zip(*blocks, strict=True))
    cost = np.concatenate([np.zeros(len(pair_w)), [price(c) for c in classes]])
    most = np.concatenate([counts[pair_w], [float(c.count) for c in classes]])
    highs = quiet_highs()
    _passed(highs, cost, rows, cols, values, np.concatenate(lower), np.concatenate(upper), most,
            integer=False)
    highs.run()
    if highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return None
    assert width == len(cost)
    return np.array(highs.getSolution().col_value[len(pair_w):])


def _candidates(packing: Packing, group: _Group, lp: np.ndarray) -> list[tuple[NodeClass, str]]:
    """The group's own nodes, and per class the unused nodes its LP's count rounded up and
    SPARE_NODES more asks beyond them (in the class's order)."""
    nodes = []
    for j, node_class in enumerate(group.classes):
        own = [node.name for c, node in group.members if c.id == node_class.id]
        wanted = math.ceil(lp[j] - 1e-6) + SPARE_NODES if lp[j] > 1e-6 else 0
        unused = _unused_names(node_class, packing.nodes.get(node_class.id, []))
        extra = [name for _, name in zip(range(max(0, wanted - len(own))), unused, strict=False)]
        nodes += [(node_class, name) for name in own + extra]
    return nodes


def _packed(problem: Problem, packing: Packing, group: _Group, lp: np.ndarray,
            price: Callable[[NodeClass], float], under: float, deadline: float) -> ZonePacked | None:
    """The group's per-node MIP over its candidates until `deadline`: its packing where it
    costs less than `under`."""
    import highspy

    before = sum(price(c) for c, _ in group.members)
    nodes = _candidates(packing, group, lp)
    program = _program(problem, group, nodes, price)
    if program is None:
        return None
    cost, rows, cols, values, lower, upper, most, columns = program
    highs = quiet_highs()
    highs.setOptionValue("mip_rel_gap", MIP_GAP)
    highs.setOptionValue("objective_bound", under - 1e-6)
    _passed(highs, cost, rows, cols, values, lower, upper, most, integer=True)
    if IMPROVING:
        began = time.monotonic()
        highs.cbMipImprovingSolution.subscribe(lambda e: print(
            f"    improving {e.data_out.objective_function_value:.2f} at {time.monotonic() - began:.2f} CPU s"
            f" (bound {e.data_out.mip_dual_bound:.2f})", file=sys.stderr, flush=True))
        print(f"  group {group.key} ({group.classes[0].zone}): {len(nodes)} candidate nodes, "
              f"{len(columns)} columns, "
              f"{len(group.counts)} workloads,"
              f" {sum(group.counts.values())} replicas", file=sys.stderr)
    _limited(highs, deadline)
    highs.run()
    if highs.getInfo().primal_solution_status != 2:
        return None
    x = np.rint(np.array(highs.getSolution().col_value))
    del highspy
    hosted: dict[int, dict[str, int]] = {}
    workloads = sorted(group.counts)
    for k, (i, j) in enumerate(columns):
        if x[k] > 0:
            hosted.setdefault(j, {})[workloads[i]] = int(x[k])
    value = sum(price(nodes[j][0]) for j in hosted)
    if value >= under - 1e-9:
        return None
    opened = tuple((nodes[j][0].id, nodes[j][1], tuple(sorted(hosted[j].items()))) for j in sorted(hosted))
    return ZonePacked(group.key, tuple(sorted(group.counts.items())), before, opened, value)


def _limited(highs, deadline: float) -> None:
    """HiGHS stopped at `deadline` on the solve's clock (in the child: its own), its wall
    limit a backstop OFF_WALL_WAITS times as far off the wall; with no user limit by the
    node count the seconds stand for (`clock.highs_limited`)."""
    if work.counted():
        highs_limited(highs, deadline)
        return
    seconds = deadline - time.monotonic()
    slack = 1 if on_the_wall() else OFF_WALL_WAITS
    highs.setOptionValue("time_limit", max(0.0, wall_seconds(slack * seconds)))

    def interrupt(event) -> None:
        if time.monotonic() >= deadline:
            event.data_in.user_interrupt = True

    highs.cbSimplexInterrupt.subscribe(interrupt)
    highs.cbMipInterrupt.subscribe(interrupt)


def _program(problem: Problem, group: _Group, nodes: list[tuple[NodeClass, str]],
             price: Callable[[NodeClass], float]):
    """The per-node MIP's columns (workload, node) then each node's open column, and its rows
    (scipy's coordinates); None where it has more than MOST_COLUMNS columns."""
    workloads = sorted(group.counts)
    columns = [(i, j) for i, w in enumerate(workloads) for j, (c, _) in enumerate(nodes)
               if group.limits[w][c.id] > 0]
    if len(columns) > MOST_COLUMNS:
        return None
    width = len(columns) + len(nodes)
    rows, cols, values, lower, upper = [], [], [], [], []

    def row(entries: list[tuple[int, float]], low: float, high: float) -> None:
        at = len(lower)
        for col, value in entries:
            rows.append(at)
            cols.append(col)
            values.append(value)
        lower.append(low)
        upper.append(high)

    of_workload: dict[int, list[int]] = {}
    for k, (i, _) in enumerate(columns):
        of_workload.setdefault(i, []).append(k)
    for i, name in enumerate(workloads):  # every replica placed
        row([(k, 1.0) for k in of_workload.get(i, [])], group.counts[name], group.counts[name])
    on_node: dict[int, list[int]] = {}
    for k, (_, j) in enumerate(columns):
        on_node.setdefault(j, []).append(k)
    requests = {w: problem.demand(w).requests for w in workloads}
    apart = problem.apart_on_nodes[0]
    pairs = sorted({(a, b) for a in workloads for b in apart.get(a, ()) if a < b and b in group.counts})
    switches: list[int] = []  # (a binary column per pair kept apart and node hosting both)
    for j, (node_class, name) in enumerate(nodes):
        room, here = node_class.capacity_of(name), on_node.get(j, [])
        opened = len(columns) + j
        for resource in RESOURCES:  # each resource, as shares of the node's
            asked = [(k, requests[workloads[columns[k][0]]][resource]) for k in here]
            if any(amount for _, amount in asked):
                row([(k, amount / max(room[resource], 1)) for k, amount in asked if amount]
                    + [(opened, -1.0 if room[resource] else 0.0)], -math.inf, 0.0)
        pods = node_class.pods_of(name)
        if pods is not None:
            row([(k, 1.0) for k in here] + [(opened, -float(pods))], -math.inf, 0.0)
        for a, b in pairs:  # never both on the node: a switch says which of the two may be
            ka = [k for k in here if workloads[columns[k][0]] == a]
            kb = [k for k in here if workloads[columns[k][0]] == b]
            if ka and kb:
                most_a = float(group.limits[a][node_class.id])
                most_b = float(group.limits[b][node_class.id])
                switch = width + len(switches)
                switches.append(switch)
                row([(k, 1.0) for k in ka] + [(switch, -most_a)], -math.inf, 0.0)
                row([(k, 1.0) for k in kb] + [(switch, most_b), (opened, -most_b)], -math.inf, 0.0)
    for j in range(len(nodes) - 1):  # alike nodes of a class opened in order (no symmetric copies)
        (first, a), (second, b) = nodes[j], nodes[j + 1]
        if first.id == second.id and first.capacity_of(a) == second.capacity_of(b):
            row([(len(columns) + j, -1.0), (len(columns) + j + 1, 1.0)], -math.inf, 0.0)
    cost = np.concatenate([np.zeros(len(columns)), [price(c) for c, _ in nodes], np.zeros(len(switches))])
    most = np.concatenate([[float(min(group.limits[workloads[i]][nodes[j][0].id], group.counts[workloads[i]]))
                            for i, j in columns], np.ones(len(nodes) + len(switches))])
    return cost, rows, cols, values, lower, upper, most, columns


def _passed(highs, cost, rows, cols, values, lower, upper, most, integer: bool) -> None:
    """The program handed to HiGHS, row-wise."""
    width = len(cost)
    matrix = coo_matrix((values, (rows, cols)), shape=(len(lower), width)).tocsr()
    highs.passModel(width, matrix.shape[0], matrix.nnz, 2, 1, 0.0, np.asarray(cost, dtype=float),
                    np.zeros(width), np.asarray(most, dtype=float), np.asarray(lower, dtype=float),
                    np.asarray(upper, dtype=float), matrix.indptr.astype(np.int32),
                    matrix.indices.astype(np.int32), matrix.data.astype(float),
                    np.full(width, 1 if integer else 0, dtype=np.int32))


def kept(problem: Problem, packing: Packing, objective: str, found: tuple[ZonePacked, ...]) -> int:
    """Each group's packing the child found put in place where it still holds (module
    docstring); how many were."""
    if not found:
        return 0
    price = _price(objective)
    by_class = {c.id: c for c in problem.classes}
    now = {group.key: group for group in _groups(problem, packing)}
    count = 0
    for packed in found:
        group = now.get(packed.key)
        now_cost = None if group is None else round(sum(price(c) for c, _ in group.members), 2)
        print(f"  parent: group {packed.key} {packed.before:.2f} -> {packed.value:.2f} at the fork; "
              f"the group now {now_cost}", file=sys.stderr)
    for packed in sorted(found, key=lambda p: p.key):
        group = now.get(packed.key)
        if group is None:
            continue
        opened = _states(problem, packing, group, packed, by_class)
        opened = None if opened is None else _matched(problem, packing, group, opened)
        drift = {w: group.counts.get(w, 0) - dict(packed.counts).get(w, 0)
                 for w in sorted(group.counts.keys() | dict(packed.counts).keys())}
        print(f"    matched to the {sum(1 for d in drift.values() if d)} workloads' counts moved since: "
              f"{None if opened is None else round(sum(price(c) for c, _ in opened), 2)}",
              file=sys.stderr)
        if opened is None or \
                sum(price(c) for c, _ in opened) >= sum(price(c) for c, _ in group.members) - 1e-9:
            continue
        if all(_holds(problem, group, c, node) for c, node in opened) and \
                _within_limits(problem, packing, group, opened):
            _apply(packing, group, opened)
            count += 1
    return count


def _state(problem: Problem, node_class: NodeClass, name: str, hosted: dict[str, int]) -> NodeState:
    """A node of the class hosting `hosted`, its free room what they leave."""
    state = NodeState(name, dict(node_class.capacity_of(name)), dict(hosted))
    for workload, amount in hosted.items():
        requests = problem.demand(workload).requests
        for resource in RESOURCES:
            state.free[resource] -= requests[resource] * amount
    return state


def _states(problem: Problem, packing: Packing, group: _Group, packed: ZonePacked,
            by_class: dict[str, NodeClass]) -> list[tuple[NodeClass, NodeState]] | None:
    """The packing's nodes as the child made them, or None where one is of a class not the
    group's or in use outside the group now."""
    members = {(c.id, node.name) for c, node in group.members}
    busy = {(class_id, node.name) for class_id, nodes in packing.nodes.items() for node in nodes}
    opened = []
    for class_id, name, hosted in packed.nodes:
        node_class = by_class.get(class_id)
        if node_class is None or node_class not in group.classes or \
                ((class_id, name) in busy and (class_id, name) not in members):
            return None
        opened.append((node_class, _state(problem, node_class, name, dict(hosted))))
    return opened


def _matched(problem: Problem, packing: Packing, group: _Group,
             opened: list[tuple[NodeClass, NodeState]]) -> list[tuple[NodeClass, NodeState]] | None:
    """The child's nodes hosting what the group hosts now (the search after the fork moved
    some replicas in or out: seed 94's us-east-1b): replicas it no longer hosts taken off the
    nodes hosting the fewest first, those it hosts now and the child did not placed each on
    the fullest node where it holds (`_holds`); None where one holds nowhere. The nodes left
    empty are dropped."""
    had: dict[str, int] = {}
    for _, node in opened:
        for workload, amount in node.hosted.items():
            had[workload] = had.get(workload, 0) + amount
    for workload in sorted(had.keys() | group.counts.keys()):
        more = group.counts.get(workload, 0) - had.get(workload, 0)
        hosting = sorted((n for n in opened if workload in n[1].hosted),
                         key=lambda n: (sum(n[1].hosted.values()), n[1].name))
        for _, node in hosting:  # fewer now: off the emptiest first
            taken = min(-more, node.hosted[workload]) if more < 0 else 0
            if taken:
                _moved(problem, node, workload, -taken)
                more += taken
        for _ in range(max(0, more)):  # more now: on the fullest where it holds
            target = _fullest_holding(problem, group, opened, workload)
            if target is None:  # (else on an unused node, the cheapest where it holds)
                target = _opened_for(problem, packing, group, opened, workload)
            if target is None:
                return None
            _moved(problem, target, workload, 1)
    return [(c, n) for c, n in opened if n.hosted]


def _opened_for(problem: Problem, packing: Packing, group: _Group,
                opened: list[tuple[NodeClass, NodeState]], workload: str) -> NodeState | None:
    """A node not in use (nor among `opened`) of the group's cheapest class where a replica of
    the workload holds, added to `opened` (empty); None where none."""
    taken = {(c.id, n.name) for c, n in opened}
    for node_class in sorted(group.classes, key=lambda c: (float(c.price), c.id)):
        if group.limits[workload][node_class.id] <= 0:
            continue
        for name in _unused_names(node_class, packing.nodes.get(node_class.id, [])):
            if (node_class.id, name) in taken:
                continue
            node = _state(problem, node_class, name, {})
            _moved(problem, node, workload, 1)
            holds = _holds(problem, group, node_class, node)
            _moved(problem, node, workload, -1)
            if holds:
                opened.append((node_class, node))
                return node
            break  # (a class's unused nodes alike: the next one holds it no more)
    return None


def _fullest_holding(problem: Problem, group: _Group, opened: list[tuple[NodeClass, NodeState]],
                     workload: str) -> NodeState | None:
    """The node with the least CPU free where a replica more of the workload holds."""
    best = None
    for node_class, node in opened:
        _moved(problem, node, workload, 1)
        holds = _holds(problem, group, node_class, node)
        _moved(problem, node, workload, -1)
        if holds and (best is None or (node.free["cpu"], node.name) < (best.free["cpu"], best.name)):
            best = node
    return best


def _moved(problem: Problem, node: NodeState, workload: str, amount: int) -> bool:
    """`amount` replicas of the workload put on the node (taken off where negative); True."""
    requests = problem.demand(workload).requests
    for resource in RESOURCES:
        node.free[resource] -= requests[resource] * amount
    node.hosted[workload] = node.hosted.get(workload, 0) + amount
    if not node.hosted[workload]:
        del node.hosted[workload]
    return True


def _holds(problem: Problem, group: _Group, node_class: NodeClass, node: NodeState) -> bool:
    """Whether the node's replicas hold there: room for every resource, the pods it admits,
    each workload allowed on the class and within its per-node limit, no two workloads kept
    apart on a node together."""
    if any(node.free[resource] < 0 for resource in RESOURCES):
        return False
    pods = node_class.pods_of(node.name)
    if pods is not None and sum(node.hosted.values()) > pods:
        return False
    apart = problem.apart_on_nodes[0]
    for workload, amount in node.hosted.items():
        if not 0 < amount <= group.limits[workload][node_class.id]:
            return False
        if apart.get(workload, set()) & node.hosted.keys():
            return False
    return True


def _groups(problem: Problem, packing: Packing) -> list[_Group]:
    """zone_repack's groups, each with its domain group's number (`key`)."""
    from fitlang.solve.repack import _domain_groups

    group_of = _domain_groups(problem)
    groups = _repack_groups(problem, packing)
    for group in groups:
        group.key = group_of[group.classes[0].id]
    return groups


def _wired() -> None:
    """The child wired into the search: forked at `searched`'s entry, its packings taken at the
    zone stage's end and at the search's end."""
    from fitlang.solve import placement, search_stages

    searched = search_stages.searched
    running: list[ZonesBeside | None] = [None]

    def wired(problem, packing, objective, deadline, progress, bound, ruined=False):
        running[0] = zones_exact_beside(problem, packing, objective, deadline)
        found = searched(problem, packing, objective, deadline, progress, bound, ruined)
        if running[0] is not None:
            made = kept(problem, found, objective, running[0].found())
            print(f"search's end: kept {made}", file=sys.stderr)
        return found

    def zones(p, k, o, d):
        done = search_stages.zones_repacked(p, k, o, search_stages._until(search_stages.ZONE_SHARE, d))
        if running[0] is not None:
            print(f"zone stage's end: kept {kept(p, k, o, running[0].so_far())}", file=sys.stderr)
        return done

    placement.searched = wired
    search_stages.STAGES = tuple(search_stages.Stage("zones", zones) if stage.name == "zones" else stage
                                 for stage in search_stages.STAGES)


def _entry_study(seconds: float) -> None:
    """At the search's entry, every group's MIP here for `seconds` CPU s each; the solve stops."""
    from fitlang.solve import placement

    global IMPROVING
    IMPROVING = True

    def study(problem, packing, objective, deadline, progress, bound, ruined=False):
        groups = [g for g in _groups(problem, packing)
                  if sum(g.counts.values()) * sum(c.count for c in g.classes) <= MOST_WORK]
        price = _price(objective)
        for group in _ranked(groups, price):
            lp = _count_lp(problem, group, price)
            if lp is not None:
                before = sum(price(c) for c, _ in group.members)
                _packed(problem, packing, group, lp, price, before, time.monotonic() + seconds)
        raise SystemExit(0)

    placement.searched = study


def _drift_study() -> None:
    """Each group's replica counts at the search's entry and its end: how many workloads moved."""
    from fitlang.solve import placement, search_stages

    searched = search_stages.searched

    def study(problem, packing, objective, deadline, progress, bound, ruined=False):
        entry = {g.key: dict(g.counts) for g in _groups(problem, packing)}
        found = searched(problem, packing, objective, deadline, progress, bound, ruined)
        for group in _groups(problem, found):
            had = entry.get(group.key, {})
            moved = {w: group.counts.get(w, 0) - had.get(w, 0) for w in group.counts.keys() | had.keys()}
            print(f"  group {group.key} ({group.classes[0].zone}): "
                  f"{sum(1 for d in moved.values() if d)} workloads' counts changed "
                  f"(+{sum(d for d in moved.values() if d > 0)} / "
                  f"{sum(d for d in moved.values() if d < 0)} replicas)",
                  file=sys.stderr)
        return found

    placement.searched = study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("--limit", default="5")
    parser.add_argument("--entry", type=float, help="each group's MIP at the search's entry, CPU s")
    parser.add_argument("--drift", action="store_true", help="each group's counts, entry against end")
    parser.add_argument("--out", default="/tmp/zones_beside.json")
    args = parser.parse_args()
    time.monotonic = time.process_time  # (the CPU clock, as e2e.py)
    if args.entry is not None:
        _entry_study(args.entry)
    elif args.drift:
        _drift_study()
    else:
        _wired()
    from fitlang.cli import main as fitc

    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer), contextlib.suppress(SystemExit):
        fitc(["solve", args.file, "--time-limit", args.limit, "--format", "json"])
    if buffer.getvalue():
        with open(args.out, "w") as handle:
            handle.write(buffer.getvalue())
        objective = json.loads(buffer.getvalue()).get("objective") or {}
        print(args.file, objective.get("value"), objective.get("lower_bound"), objective.get("gap"),
              f"{time.process_time():.2f} CPU s")


if __name__ == "__main__":
    main()
