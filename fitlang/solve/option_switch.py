"""A workload's accelerator option switched, the accelerator nodes it leaves emptied of the CPU
services beside it (`fitc plan` past `LARGE_NODES` nodes; issue 18, h41e).

Inventory 10,000: the plan fills every GPU of its accelerator nodes, and the dear ones (A10G
at 1.42 USD/h a GPU, L4 at 1.15-1.27) also hold dozens of CPU-service replicas each. The
charged LP moves whole workloads to cheaper options (A10G 12 -> L4 12) with about as many CPU
replicas on accelerator classes as the plan, but on other classes: the switch pays only with
the services beside it placed anew. `option_trade`'s trades leave a node that still runs a
service open, so none pays.

A switch: a workload running on one option alone (`option_trade._running_alone`) gives it up
for another it lists; every node its replicas leave that then runs no accelerator replica is
emptied and closed, its classes barred (`ScaleMove.barred`); the new option's replicas are
placed by `repair`, then the services taken off: onto the nodes the new option opened first (a
4-GPU node has 48 cores beside its GPUs: inventory 10,000 plan 2, placed by `repair` alone they
went to the fullest nodes anywhere and their zones' new small nodes), the rest by `repair` (a
zoned service within its zone); what no other node takes goes back as `pool_emptied` puts it
back. The switches are tried the largest guessed saving first (`_guess`: the emptied nodes'
price less the new option's accelerators at its least price a GPU of a class with a free node),
kept where the objective is lower (`pool_emptied.kept_if_cheaper`: exact, the moves charged, the
changed nodes tidied), else put back. (Inventory 10,000, after the 5 s move: plans 2 / 7 / 1
611.66 -> 610.05, 571.12 -> 568.89, 2117.98 -> 2112.51 in 0.56 / 0.16 / 0.47 CPU s.)
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial

import numpy as np

from fitlang.model.problem import RESOURCES, Demand
from fitlang.solve.move_scale import FleetNode, ScaleMove, _size
from fitlang.solve.option_trade import _running_alone, _Runs
from fitlang.solve.pool_emptied import kept_in_turn, placed_barred, taken_off

# the CPU seconds the switches are tried for
SWITCH_CPU_SECONDS = 0.4
_GPU = RESOURCES.index("gpu")


def switch_options(fleet: ScaleMove, objective: str, deadline: float | None,
                   cpu_seconds: float = SWITCH_CPU_SECONDS) -> int:
    """The switches (module's docstring) kept where they lower `objective`, until the
    `deadline` or `cpu_seconds` of process time; returns those kept."""
    if fleet.unplaced or not fleet.problem.option_groups:
        return 0
    return kept_in_turn(fleet, objective, _switches(fleet), deadline, cpu_seconds)


def _switches(fleet: ScaleMove) -> Iterator[partial]:
    """The switches whose guess saves, the largest first; the workloads' options read again
    after a switch kept (it changes them), not after one put back (the fleet is as it was:
    at drain 20, read again each time, the readings were 12% of the stage's CPU)."""
    tried: set[tuple[str, str]] = set()
    guesses: list[tuple[float, str, str, _Runs]] = []
    while True:
        if not guesses:
            # the search for free nodes from each class's start: left where the scatter passes
            # ended it (`ScaleMove.free_node` resumes), it finds none of the nodes they passed and
            # closed, so no guess saves where no second scatter search reset it (`scatter_both`
            # past its deadline; inventory plan 1 at 5 s with that search left out: 0 switches
            # tried, against 4 kept, 6.05 USD/h, with it)
            fleet.next_free.clear()
            guesses = sorted(_guesses(fleet, tried), key=lambda g: (g[0], g[1], g[2]), reverse=True)
            if not guesses:
                return
        _, workload, taken, runs = guesses.pop(0)
        tried.add((workload, taken))
        yield partial(switched, fleet, [(runs.running, runs.alone[taken])])
        if not _running(fleet, runs.running):  # (kept: read again)
            guesses = []


def _guesses(fleet: ScaleMove, tried: set[tuple[str, str]]) -> list[tuple[float, str, str, _Runs]]:
    """Each switch not `tried` whose guess saves: (the guess, workload, option taken, its runs)."""
    hosting: dict[str, list[FleetNode]] = {}
    for node in fleet.nodes.values():
        if any(fleet.need_ints[name][_GPU] for name in node.hosted):
            for name in node.hosted:
                hosting.setdefault(name, []).append(node)
    per_gpu: dict[str, float] = {}
    return [(saved, runs.group.workload, taken, runs) for runs in _running_alone(fleet)
            for taken in sorted(runs.alone) if taken != runs.option
            and (runs.group.workload, taken) not in tried
            and (saved := _guess(fleet, runs, taken, hosting, per_gpu)) > 0]


def _running(fleet: ScaleMove, demand: Demand) -> bool:
    return any(node.hosted[demand.name] for node in fleet.nodes.values())


def _guess(fleet: ScaleMove, runs: _Runs, taken: str, hosting: dict[str, list[FleetNode]],
           per_gpu: dict[str, float]) -> float:
    """What the switch may save: the price of the nodes it empties (`hosting`: the nodes that
    run an accelerator replica, per demand they run), less the new option's accelerators at
    the least price a GPU of its classes with a free node (`per_gpu`, per demand: found once
    a round). A guide; the exact price decides."""
    off = runs.running.name
    freed = sum(float(node.node_class.price) for node in hosting.get(off, ())
                if not any(fleet.need_ints[name][_GPU] for name in node.hosted if name != off))
    demand, replicas = runs.alone[taken]
    if demand.name not in per_gpu:
        per_gpu[demand.name] = min((float(node_class.price) / node_class.capacity["gpu"]
                                    for node_class in map(fleet.problem.node_class, demand.eligible)
                                    if node_class.capacity.get("gpu", 0) and fleet.may_open(node_class)
                                    and fleet.free_node(node_class) is not None), default=float("inf"))
    return freed - per_gpu[demand.name] * demand.requests.get("gpu", 0) * replicas


def _left(fleet: ScaleMove, offs: list[Demand]) -> list[FleetNode]:
    """The nodes that run no accelerator replica once `offs`' replicas leave them."""
    leaving = {off.name for off in offs}
    return [node for node in fleet.nodes.values() if any(node.hosted[name] for name in leaving)
            and not any(fleet.need_ints[name][_GPU] for name in node.hosted if name not in leaving)]


def switched(fleet: ScaleMove, changes: list[tuple[Demand, tuple[Demand, int]]]) -> None:
    """Each change's demand's replicas taken off, the nodes they leave with no accelerator
    replica emptied and closed, the new options' replicas placed, then the services taken
    off: onto the nodes the new options opened first, the rest by `repair` (module's
    docstring)."""
    emptied = _left(fleet, [off for off, _ in changes])
    barred = frozenset(node.node_class.id for node in emptied)
    options: list[tuple] = []
    for off, (on, replicas) in changes:
        for node in [n for n in fleet.nodes.values() if n.hosted[off.name]]:
            fleet.remove(node, off, node.hosted[off.name])
        options += [(on, None)] * replicas
    services: list[tuple] = []
    for node in emptied:
        services += taken_off(fleet, node)
        fleet.close(node.name)
    before = set(fleet.nodes)
    placed_barred(fleet, options, barred)
    if fleet.unplaced:  # (left there, the switch is put back: `placed_barred` below would drop them)
        return
    opened = np.array(sorted(fleet.nodes[name].row for name in fleet.nodes.keys() - before), dtype=np.int64)
    rest = []
    for demand, zone in sorted(services, key=lambda item: (-_size(item[0]), item[0].name)):
        found = fleet.targets(demand, zone, rows=opened, every=False) if len(opened) else []
        if found:
            fleet.add(found[0], demand)
        else:
            rest.append((demand, zone))
    placed_barred(fleet, rest, barred)
