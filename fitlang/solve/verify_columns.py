"""`fitc verify`'s reading of a placement's assignments by column, for a placement whose
assignments break nothing that reading them can find.

`verify._read` reads one assignment at a time (147,787 at 50,000 nodes, a dozen steps each)
and words each violation where it meets it. Most placements break nothing there, so here the
assignments are first read as columns (demand, replica, node), a pass of C each, and checked
as arrays: every workload and node known, every replica in range and placed once, no node of
a class its demand may not use. Where that holds, the replicas per node and the (demand,
replica) pairs placed are made from the columns, as the loop makes them and in its order
(nodes, and demands on a node, as the file first names them). Where it does not, or a value
is not one read here (a replica that is no plain integer), `read_columns` gives None and the
loop reads the file again: a broken placement's diagnostics are the loop's, word for word.
"""

from __future__ import annotations

from collections import Counter
from operator import itemgetter
from typing import Any

import numpy as np

from fitlang.model.problem import Demand, option_demand_name
from fitlang.rules.base import PairsPlaced

_WORKLOAD, _REPLICA, _NODE = itemgetter("workload"), itemgetter("replica"), itemgetter("node")
_FIELDS = 3  # an assignment's keys besides an option (and, with a horizon, start and end)


def read_columns(demands: dict[str, Demand], owner: Any, assignments: list[dict]
                 ) -> tuple[dict[str, Counter], PairsPlaced, Counter] | None:
    """(node -> demand name -> replicas there, the (demand, replica) pairs placed, demand name
    -> replicas placed) as `verify` makes them from `_read`'s, or None where reading the
    assignments finds a violation."""
    try:
        names = _demand_names(demands, assignments)
        nodes = list(map(_NODE, assignments))
        distinct = list(dict.fromkeys(nodes))  # as the file first names them
    except (KeyError, TypeError):  # a workload no demand has, or a value that is no name
        return None
    replicas = list(map(_REPLICA, assignments))
    node_classes = [owner.get(node) for node in distinct]
    if names is None or None in node_classes or not set(map(type, replicas)) <= {int}:
        return None
    order = {name: index for index, name in enumerate(demands)}
    demand_ids = np.fromiter(map(order.__getitem__, names), np.int64, len(names))
    listed = list(demands.values())
    if not _each_replica_once(listed, demand_ids, replicas):
        return None
    position = {node: index for index, node in enumerate(distinct)}
    node_ids = np.fromiter(map(position.__getitem__, nodes), np.int64, len(nodes))
    if _excluded_anywhere(listed, node_classes, demand_ids, node_ids):
        return None
    placed = Counter(names)
    return _hosted(nodes, names), PairsPlaced(names, replicas, placed), placed  # (each once)


def _demand_names(demands: dict[str, Demand], assignments: list[dict]) -> list[str] | None:
    """Each assignment's demand (`verify._demand_of`): its workload's, or where it names an
    option, its option's; None where that names no option of its workload. (Raises KeyError
    for a workload that is no demand: an option workload's assignment without its option.)"""
    names = list(map(_WORKLOAD, assignments))
    sizes = np.fromiter(map(len, assignments), np.int64, len(assignments))
    for index in np.flatnonzero(sizes > _FIELDS).tolist():  # the few with more: options
        option, workload = assignments[index].get("option"), names[index]
        if isinstance(option, str):
            name = option_demand_name(workload, option)
            demand = demands.get(name)
            if demand is None or demand.group != workload:
                return None
            names[index] = name
    for name in set(names):
        if name not in demands:
            raise KeyError(name)
    return names


def _each_replica_once(listed: list[Demand], demand_ids: np.ndarray, replicas: list[int]) -> bool:
    """Whether every replica is in its demand's range, and none placed twice (nor a
    preemptible replica's segments: the loop reads those)."""
    counts = [demand.replicas for demand in listed]
    total = sum(counts)
    if total >= 2 ** 62 or min(replicas, default=0) < 0 or max(replicas, default=0) >= 2 ** 62:
        return False  # (numbered in int64)
    numbers = np.array(replicas, dtype=np.int64)
    if (numbers >= np.array(counts, dtype=np.int64)[demand_ids]).any():
        return False
    firsts = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)[:-1]))
    numbered = firsts[demand_ids] + numbers  # each demand's replicas numbered after the last's
    if total <= 4 * len(numbered) + 1024:
        return bool(numbered.size == 0 or np.bincount(numbered).max() <= 1)
    return bool(_distinct(numbered).size == numbered.size)


def _distinct(values: np.ndarray) -> np.ndarray:
    """`np.unique(values)` of a 1-d array, without its import of `numpy.ma` (to ask whether
    the array is masked: 8-10 ms CPU of every `fitc verify`, the one use of it there)."""
    ordered = np.sort(values)
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))] if ordered.size else ordered


def _excluded_anywhere(listed: list[Demand], node_classes: list, demand_ids: np.ndarray,
                       node_ids: np.ndarray) -> bool:
    """Whether a replica is on a node of a class its demand may not use (each (demand, class)
    pair asked once)."""
    kinds = list({id(c): c for c in node_classes}.values())
    index = {id(c): position for position, c in enumerate(kinds)}
    class_of = np.fromiter((index[id(c)] for c in node_classes), np.int64, len(node_classes))
    width = len(kinds)
    for pair in _distinct(demand_ids * width + class_of[node_ids]).tolist():
        # asked of the class alone: a demand's `LazyReasons` lists its classes to say whether
        # it has any (an array's positions: 5,644 demands x 11,600 classes on an inventory)
        if kinds[pair % width].id in listed[pair // width].excluded:
            return True
    return False


def _hosted(nodes: list[str], names: list[str]) -> dict[str, Counter]:
    """Node -> demand name -> replicas there: nodes, and demands on a node, in the order the
    file first names them (as the loop inserts them)."""
    hosted: dict[str, Counter] = {}
    empty = Counter.__new__  # an empty Counter, without `Counter.__init__`'s calls (27,000)
    for (node, name), count in Counter(zip(nodes, names)).items():
        here = hosted.get(node)
        if here is None:
            here = hosted[node] = empty(Counter)
        here[name] = count
    return hosted
