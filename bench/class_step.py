"""How much a class-level step of `fitc plan` could save at fleet scale (issue 18, h31f).

    .venv/bin/python bench/class_step.py --seed 0 --sizes 30,100,200 [--by nodes] [--seconds 150]
        [--realise] [--improve] [--cache /tmp/h30d/cache] [--plan-seconds 60]

The instance is `move_bench`'s (`--shape inventory`, 10,000 nodes, 1,000 workloads, the
policy changed by `changed_policy`, `move_price` 0.01); the plan is `make_plan`'s, in process.
Then, per size K, a *restricted class-level model*: K free demands (`--by lp`: those where
the charged LP's y + s per merged class and the plan's counts differ most, price x share of a
node; `--by nodes`: the demands on the nodes of the classes where the plan spends most over
the LP), every other replica fixed on its node. Per class:

- its nodes hosting a fixed replica stay in use; their room (capacity less the fixed
  replicas) is one bin per class and resource (a relaxation of their packing), and a
  demand's replicas there are at most what fits node by node;
- its other nodes: `u` of them in use (whole), priced, with `move_price` per node drained
  (in use now and not at the end) and bought (an offer's node not bought before);
- per free demand y, its replicas on the class (whole), at most what the kept nodes take
  plus what fits on one node x u; s, those that stay on the node they run on (at most what
  runs there, at most y, and on the class's other nodes only as many as its u nodes that run
  the most run now: `move_bound.kept_node_rows`' argument);
- rows per free demand: its replicas, its spreads (every domain within `max_skew` of the
  least), its zone anti-affinities (a fixed replica of a workload kept apart closes the zone;
  two free ones a flag per zone; `self` one a zone), its latency rules; power caps and buy
  limits over the nodes opened.

Its objective, nodes' prices + `move_price` x (drained + bought - stays), is the plan's cost
+ moves over those nodes and demands less a constant. The plan's own point (`plan_point`)
is feasible in it, so plan point - the MIP's dual bound is the most any re-placement of those
demands saves ("money <="), plan point - the MIP's best the most it found. `--realise`: the
MIP's counts node by node from the plan (`realise`: per class the replicas beyond the count
taken off, those lacking put on where they run now, on the fullest node with room or a node
opened; what no node of the class takes, `ScaleMove.repair` places within its zone), the
plan's exact cost + moves before and after and `verify`'s verdict; `--improve`: then
`improve` (a pass, and one scattering). Printed per K; not a test.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

import numpy as np
from scipy import sparse

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fitlang.model.problem import RESOURCES, NodeClass
from fitlang.solve.move_neighbourhood import _Neighbourhood
from fitlang.solve.move_scale import FleetNode, ScaleMove, SpreadCounts, zone_of


class _ClassModel(_Neighbourhood):
    """The restricted model: the neighbourhood step's lists of columns (keys ("y", d, c),
    ("s", d, c), ("u", c), ...) and rows, and what they stand for."""

    def __init__(self, demands: list[str]) -> None:
        super().__init__(zones=(), nodes=[], classes=[], free=Counter(), fixed={}, before={})
        self.demands = demands
        self.fixed_nodes: dict[int, list[FleetNode]] = {}  # class -> its nodes kept
        self.other_in_use: dict[int, list[str]] = {}  # class -> its other nodes in use now
        self.left_over = 0  # `realise`: the replicas no node of their class took


def build(fleet: ScaleMove, demands: list[str]) -> _ClassModel:
    """The restricted class-level model of `demands` (the module's docstring) over the fleet
    as the plan has it."""
    model = _ClassModel(sorted(demands))
    free = set(model.demands)
    problem = fleet.problem
    for node in fleet.nodes.values():
        if any(d not in free for d in node.hosted):
            model.fixed_nodes.setdefault(fleet.rows.class_index[node.node_class.id], []).append(node)
    classes = [i for i, c in enumerate(problem.classes)
               if c.count and any(fleet.eligible_mask[d][i] for d in model.demands)]
    for at in classes:
        _class_columns(fleet, model, at)
    for demand in model.demands:
        terms = {model.index[key]: 1.0 for key in model.index if key[0] == "y" and key[1] == demand}
        count = float(problem.demand(demand).replicas)
        model.row(terms, count, count)
    _spread_rows(fleet, model)
    _zone_apart_rows(fleet, model)
    _latency_rows(fleet, model)
    _scope_rows(fleet, model, classes)
    return model


def _room(fleet: ScaleMove, node: FleetNode, free: set[str]) -> np.ndarray:
    """A node's capacity less its fixed replicas."""
    room = np.array([node.capacity[r] for r in RESOURCES], dtype=np.int64)
    for demand, count in node.hosted.items():
        if demand not in free:
            room -= fleet.need[demand] * count
    return room


def _fits(need: np.ndarray, room: np.ndarray) -> int:
    """How many of a replica of `need` fit in `room`."""
    used = need > 0
    return int((room[used] // need[used]).min()) if used.any() else 1 << 20


def _class_columns(fleet: ScaleMove, model: _ClassModel, at: int) -> None:
    problem = fleet.problem
    node_class: NodeClass = problem.classes[at]
    free = set(model.demands)
    fixed = model.fixed_nodes.get(at, [])
    fixed_names = {node.name for node in fixed}
    price = float(fleet.price)
    in_use_now = set(fleet.running_now) | set(problem.bought_now)
    others = [n for n in node_class.node_names[:node_class.count] if n not in fixed_names]
    model.other_in_use[at] = [n for n in others if n in in_use_now]
    opened = model.column(("u", at), 0.0, float(len(others)), True, float(node_class.price))
    now = len(model.other_in_use[at])
    if now:
        drained = model.column(("drained", at), 0.0, float(now), False, price)
        model.row({drained: 1.0, opened: 1.0}, float(now), np.inf)
    if node_class.provisioned:
        bought = model.column(("bought", at), 0.0, float(len(others)), False, price)
        model.row({bought: 1.0, opened: -1.0}, -float(now), np.inf)
    rooms = [_room(fleet, node, free) for node in fixed]
    capacity = np.array([node_class.capacity[r] for r in RESOURCES], dtype=np.int64)
    used: dict[int, dict[int, float]] = {r: {} for r in range(len(RESOURCES))}
    stays: list[int] = []
    loads: Counter = Counter()  # a node not kept -> the free replicas running there now
    on_fixed_now = 0
    for demand in model.demands:
        if not fleet.eligible_mask[demand][at]:
            continue
        need = fleet.need[demand]
        one = problem.demand(demand).one_per_node
        per_node = min(_fits(need, capacity), 1 if one else problem.demand(demand).replicas)
        on_fixed = sum(min(_fits(need, room), 1 if one else 1 << 20) for node, room in zip(fixed, rooms)
                       if _takes_beside(fleet, node, demand, free))
        most = min(problem.demand(demand).replicas, on_fixed + per_node * len(others))
        if most <= 0:
            continue
        y = model.column(("y", demand, at), 0.0, float(most), True)
        model.row({y: 1.0, opened: -float(per_node)}, -np.inf, float(on_fixed))
        for r in range(len(RESOURCES)):
            if need[r]:
                used[r][y] = float(need[r])
        run = Counter()
        for name in node_class.node_names[:node_class.count]:
            here = fleet.running_now.get(name, Counter())[demand]
            if here:
                run[name in fixed_names] += here
                if name not in fixed_names:
                    loads[name] += here
        if run[True] or run[False]:
            s = model.column(("s", demand, at), 0.0, float(min(most, run[True] + run[False])), False, -price)
            model.row({s: 1.0, y: -1.0}, -np.inf, 0.0)
            stays.append(s)
            on_fixed_now += run[True]
    room_left = np.sum(rooms, axis=0) if rooms else np.zeros(len(RESOURCES), dtype=np.int64)
    for r, terms in used.items():
        if terms:
            scale = float(max(capacity[r], 1))
            row = {column: value / scale for column, value in terms.items()}
            row[opened] = -float(capacity[r]) / scale
            model.row(row, -np.inf, float(room_left[r]) / scale)
    _kept_node_rows(model, stays, opened, loads, on_fixed_now)


def _takes_beside(fleet: ScaleMove, node: FleetNode, demand: str, free: set[str]) -> bool:
    """May the demand share the node with its fixed replicas (apart, alone)?"""
    others = [d for d in node.hosted if d not in free and d != demand]
    if not others:
        return True
    if demand in fleet.alone or any(d in fleet.alone for d in others):
        return False
    return not any(d in fleet.apart.get(demand, ()) for d in others)


def _kept_node_rows(model: _ClassModel, stays: list[int], opened: int, loads: Counter,
                    on_fixed: int) -> None:
    """A class's stays: those on its kept nodes, and on its other nodes at most what runs now
    on the `opened` of them that run the most (concave: a row per distinct load)."""
    if not stays:
        return
    ordered = sorted(loads.values(), reverse=True)
    kept = 0
    for j, load in enumerate(ordered):
        if j == 0 or load != ordered[j - 1]:
            terms = dict.fromkeys(stays, 1.0)
            terms[opened] = -float(load)
            model.row(terms, -np.inf, float(on_fixed + kept - load * j))
        kept += load
    if not ordered:
        model.row(dict.fromkeys(stays, 1.0), -np.inf, float(on_fixed))


def _y_by(model: _ClassModel, demand: str, key) -> dict[object, dict[int, float]]:
    """The demand's y columns grouped by `key(class position)` (None: left out)."""
    found: dict[object, dict[int, float]] = {}
    for column_key, column in model.index.items():
        if column_key[0] == "y" and column_key[1] == demand:
            group = key(column_key[2])
            if group is not None:
                found.setdefault(group, {})[column] = 1.0
    return found


def _spread_rows(fleet: ScaleMove, model: _ClassModel) -> None:
    """Each zone spread: every domain (`SpreadCounts`') within `max_skew` of the least."""
    problem = fleet.problem
    for demand in model.demands:
        for spread in problem.demand(demand).spreads:
            counts = SpreadCounts(problem, problem.demand(demand), spread.topology, spread.max_skew)
            by_domain = _y_by(model, demand,
                              lambda at, c=counts: int(c.of_class[at]) if c.of_class[at] >= 0 else None)
            least = model.column(("least", demand, spread.topology), 0.0, np.inf, True)
            for domain in range(len(counts.counts)):
                terms = dict(by_domain.get(domain, {}))
                terms[least] = -1.0
                model.row(terms, 0.0, float(spread.max_skew))


def _zone_apart_rows(fleet: ScaleMove, model: _ClassModel) -> None:
    """Zone anti-affinity: a zone where a fixed replica of a workload kept apart runs is
    closed to the free demand; two free ones are not both in a zone; `self`: one a zone."""
    from fitlang.solve.move_neighbourhood import _zone_apart

    problem = fleet.problem
    apart = _zone_apart(problem)
    free = set(model.demands)
    fixed_in: Counter = Counter()  # (workload, zone) -> its fixed replicas there
    for node in fleet.nodes.values():
        for demand, count in node.hosted.items():
            if demand not in free:
                fixed_in[problem.demand(demand).workload, zone_of(node.node_class)] += count
    workload_of = {d: problem.demand(d).workload for d in model.demands}
    flags: dict[tuple, int] = {}
    for demand in model.demands:
        workload = workload_of[demand]
        if workload not in apart:
            continue
        for zone, terms in _y_by(model, demand, lambda at: zone_of(problem.classes[at])).items():
            if any(fixed_in[other, zone] for other in apart[workload]):
                for column in terms:
                    model.upper[column] = 0.0
                continue
            if workload in apart[workload]:
                model.row(terms, -np.inf, 1.0)
            flag = flags.get((workload, zone))
            if flag is None:
                flag = flags[workload, zone] = model.column(("in_zone", workload, zone), 0.0, 1.0, True)
            for column in terms:
                model.row({column: 1.0, flag: -model.upper[column]}, -np.inf, 0.0)
    for (workload, zone), flag in sorted(flags.items(), key=str):
        for other in sorted(apart[workload]):
            partner = flags.get((other, zone))
            if other > workload and partner is not None:
                model.row({flag: 1.0, partner: 1.0}, -np.inf, 1.0)


def _latency_rows(fleet: ScaleMove, model: _ClassModel) -> None:
    problem = fleet.problem
    for demand in model.demands:
        for rule in problem.demand(demand).latency:
            near = _y_by(model, demand,
                         lambda at, r=rule: True if problem.within_reach(r, problem.classes[at]) else None)
            model.row(near.get(True, {}), float(rule.replicas), np.inf)


def _scope_rows(fleet: ScaleMove, model: _ClassModel, classes: list[int]) -> None:
    """Power caps and buy limits over the nodes opened (the kept nodes' part fixed)."""
    problem = fleet.problem
    opened_in_plan: Counter = Counter()
    fixed = {node.name for nodes in model.fixed_nodes.values() for node in nodes}
    for node in fleet.nodes.values():
        if node.name not in fixed:
            opened_in_plan[fleet.rows.class_index[node.node_class.id]] += 1
    for scope in problem.power_caps:
        terms, outside = {}, fleet.watts[scope.name]
        for at in classes:
            node_class = problem.classes[at]
            if node_class.id in scope.classes:
                terms[model.index["u", at]] = float(node_class.power_watts)
                outside -= node_class.power_watts * opened_in_plan[at]
        model.row(terms, -np.inf, float(scope.cap_watts - outside))
    for group, limit in problem.buy_limits.items():
        terms, outside = {}, fleet.in_group[group]
        for at in classes:
            if problem.classes[at].buy_group == group:
                terms[model.index["u", at]] = 1.0
                outside -= opened_in_plan[at]
        model.row(terms, -np.inf, float(limit - outside))


def plan_point(fleet: ScaleMove, model: _ClassModel) -> np.ndarray:
    """The plan's own point of the model: its counts, nodes opened, stays and changes."""
    point = np.zeros(len(model.columns))
    fixed = {node.name for nodes in model.fixed_nodes.values() for node in nodes}
    opened: Counter = Counter()
    counts: Counter = Counter()
    stays: Counter = Counter()
    for node in fleet.nodes.values():
        at = fleet.rows.class_index[node.node_class.id]
        if node.name not in fixed:
            opened[at] += 1
        now = fleet.running_now.get(node.name, Counter())
        for demand in model.demands:
            if node.hosted[demand]:
                counts[demand, at] += node.hosted[demand]
                stays[demand, at] += min(now[demand], node.hosted[demand])
    for key, column in model.index.items():
        if key[0] == "u":
            point[column] = opened[key[1]]
        elif key[0] == "drained":
            point[column] = sum(1 for n in model.other_in_use[key[1]] if n not in fleet.nodes)
        elif key[0] == "bought":
            problem = fleet.problem
            point[column] = sum(1 for n in fleet.nodes.values() if n.name not in fixed and
                                fleet.rows.class_index[n.node_class.id] == key[1] and
                                n.name not in problem.bought_now)
        elif key[0] == "y":
            point[column] = counts[key[1], key[2]]
        elif key[0] == "s":
            point[column] = stays[key[1], key[2]]
    _flags_and_least(model, point)
    return point


def _flags_and_least(model: _ClassModel, point: np.ndarray) -> None:
    zones: Counter = Counter()
    for key, column in model.index.items():
        if key[0] == "in_zone":
            zones[column] = 0
    for key, column in model.index.items():
        if key[0] == "least":
            point[column] = 0.0
    # flags and the least domain: from the rows (each binds them from one side)
    for terms, _, high in model.rows:
        for column in terms:
            if column in zones and point[column] == 0.0:
                others = sum(point[c] * v for c, v in terms.items() if c != column)
                if others > high + 1e-9:
                    point[column] = 1.0
    least: dict[int, float] = {}
    for terms, _, _ in model.rows:
        for column, value in terms.items():
            if value == -1.0 and model.columns[column][0] == "least":
                domain = sum(point[c] * v for c, v in terms.items() if c != column)
                least[column] = min(least.get(column, np.inf), domain)
    for column, value in least.items():
        point[column] = value


def solve(model: _ClassModel, start: np.ndarray | None = None, seconds: float = 60.0,
          log: bool = False, relax: bool = False):
    """HiGHS on the model (from `start`): (status, value, dual bound, solution, highs)."""
    import highspy

    columns = len(model.columns)
    row_of = [i for i, (terms, _, _) in enumerate(model.rows) for _ in terms]
    column_of = [c for terms, _, _ in model.rows for c in terms]
    value_of = [v for terms, _, _ in model.rows for v in terms.values()]
    matrix = sparse.csr_matrix((value_of, (row_of, column_of)), shape=(len(model.rows), columns))
    inf = highspy.kHighsInf
    lower = np.array([low for _, low, _ in model.rows], dtype=float)
    upper = np.array([high for _, _, high in model.rows], dtype=float)
    lower = np.where(np.isinf(lower), -inf, lower)
    upper = np.where(np.isinf(upper), inf, upper)
    col_upper = np.where(np.isinf(model.upper), inf, np.array(model.upper))
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", log)
    highs.setOptionValue("time_limit", seconds)
    highs.setOptionValue("mip_rel_gap", 1e-6)
    integer = np.zeros(columns, dtype=np.int32) if relax else np.array(model.integer, dtype=np.int32)
    highs.passModel(columns, len(model.rows), matrix.nnz, 2, 1, 0.0, np.array(model.cost),
                    np.array(model.lower), col_upper, lower, upper,
                    matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32), matrix.data, integer)
    if start is not None and not relax:
        highs.setSolution(columns, np.arange(columns, dtype=np.int32), start)
    highs.run()
    info = highs.getInfo()
    values = np.asarray(highs.getSolution().col_value) if info.primal_solution_status == 2 else None
    bound = info.mip_dual_bound if not relax else info.objective_function_value
    status = highs.modelStatusToString(highs.getModelStatus())
    return status, info.objective_function_value, bound, values, highs


# ---- the counts realised node by node -----------------------------------------------------------

def realise(fleet: ScaleMove, model: _ClassModel, values: np.ndarray) -> dict[str, Counter] | None:
    """The model's counts placed node by node from the plan as it is: per class, the replicas a
    demand has there beyond its count taken off (those that do not stay first, from the
    emptiest nodes), then those it lacks put on (where it runs now, else the fullest node in
    use with room, else a node opened: those in use now first). Returns the free replicas as
    they were (node -> counts, to undo), or None where a count did not fit (the fleet then
    as it was)."""
    free = set(model.demands)
    before = {node.name: Counter({d: c for d, c in node.hosted.items() if d in free})
              for node in fleet.nodes.values() if free.intersection(node.hosted)}
    wanted: Counter = Counter()
    for key, column in model.index.items():
        if key[0] == "y":
            wanted[key[1], key[2]] = round(float(values[column]))
    placed: Counter = Counter()
    for node in fleet.nodes.values():
        for demand in free.intersection(node.hosted):
            placed[demand, fleet.rows.class_index[node.node_class.id]] += node.hosted[demand]
    for (demand, at), count in sorted(placed.items()):
        if count > wanted[demand, at]:
            _take_off(fleet, demand, at, count - wanted[demand, at])
    adding: dict[int, Counter] = {}
    for (demand, at), count in wanted.items():
        if count > placed[demand, at]:
            adding.setdefault(at, Counter())[demand] = count - placed[demand, at]
    left: list = []
    for at, more in sorted(adding.items()):
        left += _put_on(fleet, model, at, more)
    model.left_over = len(left)
    if left:  # what the class's nodes did not take: `repair` places it within its zone
        unplaced = len(fleet.unplaced)
        fleet.repair(left)
        if len(fleet.unplaced) > unplaced:
            del fleet.unplaced[unplaced:]
            undo(fleet, model, before)
            return None
    return before


def _take_off(fleet: ScaleMove, demand: str, at: int, count: int) -> None:
    problem = fleet.problem
    hosts = [n for n in fleet.nodes.values()
             if n.hosted[demand] and fleet.rows.class_index[n.node_class.id] == at]
    # replicas that do not stay first, then from the nodes with the least on them
    hosts.sort(key=lambda n: (n.hosted[demand] <= fleet.running_now.get(n.name, Counter())[demand],
                              sum(n.hosted.values()), n.name))
    for node in hosts:
        taken = min(count, node.hosted[demand])
        fleet.remove(node, problem.demand(demand), taken)
        count -= taken
        if not node.hosted:
            fleet.close(node.name)
        if not count:
            return


def undo(fleet: ScaleMove, model: _ClassModel, before: dict[str, Counter]) -> None:
    problem = fleet.problem
    free = set(model.demands)
    for node in list(fleet.nodes.values()):
        for demand in [d for d in node.hosted if d in free]:
            fleet.remove(node, problem.demand(demand), node.hosted[demand])
        if not node.hosted:
            fleet.close(node.name)
    for name, hosted in sorted(before.items()):
        for demand, count in sorted(hosted.items()):
            fleet.add(fleet.node(name), problem.demand(demand), count)


def _put_on(fleet: ScaleMove, model: _ClassModel, at: int, more: Counter) -> list:
    """The replicas onto the class's nodes; those they did not take, with their zone."""
    problem = fleet.problem
    node_class = problem.classes[at]
    names = node_class.node_names[:node_class.count]
    in_use_now = set(model.other_in_use.get(at, ()))
    spare = [n for n in names if n not in fleet.nodes]
    spare.sort(key=lambda n: (n not in in_use_now,
                              -sum(fleet.running_now.get(n, Counter())[d] for d in more)))
    capacity = np.maximum(fleet.class_capacity[at], 1)
    order = sorted(more, key=lambda d: (-float((fleet.need[d] / capacity).max()), d))
    left = []
    for demand in order:
        for _ in range(more[demand]):
            hosts = [n for n in fleet.nodes.values() if fleet.rows.class_index[n.node_class.id] == at]
            hosts.sort(key=lambda n: (fleet.running_now.get(n.name, Counter())[demand] <= n.hosted[demand],
                                      int(fleet.rows.free[n.row].sum()), n.name))
            if any(_put(fleet, node.name, demand) for node in hosts):
                continue
            spare = [n for n in spare if n not in fleet.nodes]
            if not spare or not fleet.may_open(node_class) or not _put(fleet, spare.pop(0), demand):
                left.append((problem.demand(demand), zone_of(node_class)))
    return left


def _put(fleet: ScaleMove, name: str, demand: str) -> bool:
    """One replica of the demand onto the node (opened if not in use), where it fits and the
    node's rules take it."""
    node = fleet.nodes.get(name)
    need = fleet.need[demand]
    if node is None:
        capacity = fleet.owners[name].node_capacity.get(name, fleet.owners[name].capacity)
        if any(capacity[r] < need[i] for i, r in enumerate(RESOURCES)):
            return False
        node = fleet.node(name)
    elif not (fleet.rows.free[node.row] >= need).all() or not fleet.takes(node, fleet.problem.demand(demand)):
        return False
    fleet.add(node, fleet.problem.demand(demand))
    return True


# ---- the measurement ---------------------------------------------------------------------------

CAPTURED: dict = {}  # the plan's fleet, the charged LP's solution and its stay columns


def _capture() -> None:
    """Keep the plan's fleet and the charged LP's last master solution (y + s per pair)."""
    from fitlang.solve import bound, move_bound, move_scale

    at_scale, pair_values, into, lower_bound = (move_scale.move_at_scale, bound._Master.pair_values,
                                                move_bound._NewColumns.into, bound.lower_bound)

    def kept_fleet(problem, objective, time_limit):
        placement, fleet = at_scale(problem, objective, time_limit)
        CAPTURED["fleet"] = fleet
        return placement, fleet

    def solution(self):
        CAPTURED.update(all=np.array(self.highs.getSolution().col_value, dtype=float),
                        kinds=self.kinds.copy(), relaxed=self.relaxed)
        return pair_values(self)

    def stays(self, relaxed):
        CAPTURED["stay_of"] = dict(self.stay_of)
        return into(self, relaxed)

    def bound_kept(*arguments, **keywords):
        CAPTURED["bound"] = lower_bound(*arguments, **keywords)
        return CAPTURED["bound"]

    move_scale.move_at_scale = kept_fleet
    bound._Master.pair_values = solution
    move_bound._NewColumns.into = stays
    bound.lower_bound = bound_kept


def _lp_amounts() -> tuple[np.ndarray, np.ndarray]:
    """The charged LP's columns and y + s per pair."""
    relaxed, kinds, solved = CAPTURED["relaxed"], CAPTURED["kinds"], CAPTURED["all"]
    values = np.zeros(relaxed.columns)
    values[kinds[kinds >= 0]] = solved[kinds >= 0]
    amount = values[relaxed.first_pair:relaxed.first_pair + relaxed.pairs].copy()
    for pair, stay in CAPTURED["stay_of"].items():
        amount[pair] += values[stay]
    return values, amount


def ranked_demands(fleet: ScaleMove, by: str) -> list[str]:
    """The free demands (`move_neighbourhood._free_demands`), those where the LP and the plan
    differ most first (`by` lp), or those on the nodes of the classes where the plan spends
    most over the LP (`by` nodes)."""
    from fitlang.solve.move_neighbourhood import _free_demands

    relaxed, members = CAPTURED["relaxed"], CAPTURED["bound"].members
    values, amount = _lp_amounts()
    member_of = {name: at for at, names in enumerate(members) for name in names}
    price = {relaxed.class_index[c.id]: float(c.price) for c in fleet.problem.classes
             if c.id in relaxed.class_index}
    capacity = {relaxed.class_index[c.id]: np.array([c.capacity[r] for r in RESOURCES], dtype=float)
                for c in fleet.problem.classes if c.id in relaxed.class_index}
    plan, lp, plan_nodes = Counter(), Counter(), Counter()
    for node in fleet.nodes.values():
        at = relaxed.class_index.get(node.node_class.id)
        plan_nodes[at] += 1
        for name, count in node.hosted.items():
            if name in member_of and at is not None:
                plan[member_of[name], at] += count
    for pair in np.flatnonzero(amount > 1e-9):
        lp[int(relaxed.pair_demand[pair]), int(relaxed.pair_class[pair])] += amount[pair]
    free = _free_demands(fleet)
    if by == "nodes":
        over = sorted(((plan_nodes[at] - values[at]) * price.get(at, 0.0), at) for at in plan_nodes
                      if at is not None)
        chosen: list[str] = []
        for _, at in reversed(over):
            here = [n for n in fleet.nodes.values() if relaxed.class_index.get(n.node_class.id) == at]
            for node in sorted(here, key=lambda n: sum(n.hosted.values())):
                chosen += [name for name in sorted(node.hosted) if name in free and name not in chosen]
        return chosen
    score: Counter = Counter()
    for key in set(plan) | set(lp):
        at, class_at = key
        share = float((fleet.need[members[at][0]] / np.maximum(capacity[class_at], 1)).max())
        score[at] += abs(plan[key] - lp[key]) * price[class_at] * share
    return [name for at, _ in score.most_common() for name in members[at] if name in free]


def measure(fleet: ScaleMove, chosen: list[str], arguments: argparse.Namespace) -> ScaleMove:
    from fitlang.solve.moving import _Checker, objective_value

    problem = fleet.problem
    started = time.process_time()
    model = build(fleet, chosen)
    built = time.process_time() - started
    point = plan_point(fleet, model)
    plan = float(np.dot(model.cost, point))
    freed = sum(point[c] for k, c in model.index.items() if k[0] == "u")
    print(f"K={len(chosen)}: {sum(problem.demand(n).replicas for n in chosen)} replicas; the plan's nodes "
          f"hosting only these {int(freed)} of {len(fleet.nodes)}", flush=True)
    started = time.process_time()
    status, relaxed, _, _, _ = solve(model, seconds=arguments.seconds, relax=True)
    lp_seconds = time.process_time() - started
    started = time.process_time()
    status_mip, value, bound, values, _ = solve(model, start=point, seconds=arguments.seconds)
    print(f"  columns {len(model.columns)} rows {len(model.rows)} built in {built:.2f} CPU s | plan point "
          f"{plan:.4f} | LP {relaxed:.4f} ({status}, {lp_seconds:.2f} CPU s) | MIP {status_mip} {value:.4f} "
          f"bound {bound:.4f} ({time.process_time() - started:.2f} CPU s) | money <= {plan - bound:.3f}, "
          f"found {plan - value:.3f} | load {os.getloadavg()[0]:.1f}", flush=True)
    if values is None or not arguments.realise:
        return fleet
    before_value = objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought))
    saved = copy.deepcopy(fleet, {id(problem): problem})
    started = time.process_time()
    realised = realise(fleet, model, values)
    if realised is None:
        print(f"  realised: not placed ({model.left_over} replicas left to repair)", flush=True)
        return saved
    after = objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought))
    broken = _Checker(problem, set(fleet.bought) | set(problem.bought_now), "").broken(fleet.state())
    print(f"  realised: {float(before_value):.4f} -> {float(after):.4f} "
          f"({float(after - before_value):+.4f}), "
          f"{model.left_over} replicas left to repair, verify: {len(broken)} broken, "
          f"{time.process_time() - started:.2f} CPU s", flush=True)
    if arguments.improve:
        _improved(fleet, before_value, "  then improve:")
    return saved


def _improved(fleet: ScaleMove, before: Fraction, label: str) -> None:
    """`--improve`'s passes (one, one scattering) on the fleet; its value against `before`."""
    from fitlang.solve.moving import _Checker, objective_value

    problem = fleet.problem
    started = time.process_time()
    fleet.improve(time.monotonic() + 30)
    fleet.improve(time.monotonic() + 30, scatter=True, passes=1)
    after = objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought))
    broken = _Checker(problem, set(fleet.bought) | set(problem.bought_now), "").broken(fleet.state())
    print(f"{label} {float(before):.4f} -> {float(after):.4f} ({float(after - before):+.4f}), verify: "
          f"{len(broken)} broken, {time.process_time() - started:.2f} CPU s", flush=True)


def _improved_alone(fleet: ScaleMove) -> None:
    """The control: `--improve`'s passes on the plan as it is (a copy of it)."""
    from fitlang.solve.moving import objective_value

    problem = fleet.problem
    before = objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought))
    _improved(copy.deepcopy(fleet, {id(problem): problem}), before, "control, the plan improved alone:")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sizes", default="30,100")
    parser.add_argument("--by", choices=("lp", "nodes"), default="lp")
    parser.add_argument("--seconds", type=float, default=150.0, help="HiGHS's wall limit, each solve")
    parser.add_argument("--plan-seconds", type=float, default=60.0)
    parser.add_argument("--cache", default="/tmp/h30d/cache")
    parser.add_argument("--realise", action="store_true")
    parser.add_argument("--improve", action="store_true")
    parser.add_argument("--control", action="store_true",
                        help="first, what `--improve`'s passes alone make of the plan")
    arguments = parser.parse_args()
    import move_bench

    from fitlang.cli import tune_collector
    from fitlang.driver import Compilation
    from fitlang.plan import make_plan

    _capture()
    tune_collector()
    nodes, seed = arguments.nodes, arguments.seed
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        files, state, base = move_bench.at_rest("inventory", nodes, nodes // 10, seed, Path(arguments.cache))
        text, _ = move_bench.changed_policy(base, state, seed, "0.01")
        for file, content in files.items():
            (folder / file).write_text(content)
        (folder / "p.fit").write_text(text)
        (folder / "now.json").write_text(json.dumps(state))
        compilation = Compilation(folder / "p.fit", current=str(folder / "now.json"))
        started = time.process_time()
        placement = make_plan(compilation, compilation.current_state(), arguments.plan_seconds).placement
        assert placement is not None and placement.value is not None and placement.bound is not None
        print(f"seed {seed}: plan {float(placement.value):.4f} bound {float(placement.bound):.4f} gap "
              f"{100 * float(placement.gap or 0):.2f}% {time.process_time() - started:.2f} CPU s load "
              f"{os.getloadavg()[0]:.1f}", flush=True)
    fleet = CAPTURED["fleet"]
    if arguments.control:
        _improved_alone(fleet)
    ranked = ranked_demands(fleet, arguments.by)
    for size in (int(k) for k in arguments.sizes.split(",")):
        fleet = measure(fleet, ranked[:size], arguments)


if __name__ == "__main__":
    main()
