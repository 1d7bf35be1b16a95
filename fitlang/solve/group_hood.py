"""Joint moves around an option group: the nodes that host its replicas re-solved with the
nodes its options could use, in any zone (`fitc plan` up to `LARGE_NODES` nodes, issue 18).

`move_neighbourhood`'s steps free a pair of zones (or a jurisdiction's) and weigh an option
group's options only last, pair by pair, where time is left. An option group's replicas run
on accelerator nodes that cost 5-16 USD/h where a CPU node costs 0.2-1.5, often spread over
zones and jurisdictions (a few replicas on each of several such nodes, beside services):
gathering them on fewer accelerator nodes, or switching them to an option whose nodes are
cheaper, is the largest saving left, and no pair holds it (inventory 1,000 plans, seeds 9 /
10: after the joint steps 181.5 / 58.3 USD/h against the charged MIP's optimum 168.0 / 51.7;
the four L4 nodes of `eu-west-1a` at 5.06 and an A10G node of `us-east-1c` at 5.67 hold a
few replicas each). A step here frees, per group (`_around`):

- every node in use that hosts a replica of the group (all their free replicas: a node
  emptied of the group still closes only when its services leave it too);
- of the zones of those nodes, the `ROOM_NODES` nodes in use with the most room (least
  used in their fullest resource first): where the services that shared a closed node go;
- up to `SPARE_PER_CLASS` nodes not in use of each class an option may use (any zone), and
  of each class of the hosts' zones: where the group goes.

After the pairs of zones (`improve_all_groups`; before them, as the first step, it found
nothing on plan 13), one step over every group at once (`_around_all`): the hosts of every
group, every node in use whose accelerators are not all used, and of each of their zones the
`ROOM_NODES` nodes in use with the most room, with the spare nodes as above. A group's cheaper
option is often a node another group's replicas hold, or accelerators idle on a node in use
for its services: a chain of switches no one group's step holds (inventory 1,000 plan 13 in
session 52: `infer14` onto the idle L40S of a 22.86 USD/h node in use, `infer32` onto the
Frankfurt L40S node it leaves, two L4 nodes at 4.60 closed: 105.64 -> 98.01 in 1.25 CPU s).
No time is kept for it from the steps before or after it (kept from them, session 52's
held-out plan 24 ended 1.27 USD/h dearer): it runs within `ALL_CPU_SECONDS` and the plan's
deadline only where the time left also holds the region and option steps after it at their
caps (run in what they needed, session 53's plan 30 lost a region step's 0.57 USD/h; at
`--time-limit 5` on 1,000 nodes it then does not run), and its end is kept only where the
whole plan's objective falls.

The MIP, its start (the fleet as it is) and the splice are `move_neighbourhood`'s: a step is
kept only where its exact value falls and `verify` finds every rule of the fleet kept. The
steps run first among the joint moves, the groups whose hosts cost most first, within
`CPU_SECONDS` (each within `STEP_CPU_SECONDS` and the plan's deadline).
"""

from __future__ import annotations

import time

import numpy as np

from fitlang.model.problem import RESOURCES, OptionGroup
from fitlang.solve.move_neighbourhood import _free_groups, _past, assembled, solved_and_spliced
from fitlang.solve.move_scale import FleetNode, ScaleMove, zone_of

# of process CPU over the groups' steps, and in one step: seed 10's A10G group found its
# 4.05 USD/h (58.31 -> 54.35) in 1.07 CPU s with 8 nodes of room and 2 spare a class; seed 9's
# eight groups 181.48 -> 171.81 in 1.53 s in all (0.02-0.61 each); on seeds 0-7 and 11 no step
# took more than 0.1 s
CPU_SECONDS = 1.6
STEP_CPU_SECONDS = 1.2
ROOM_NODES = 8  # nodes in use of the hosts' zones with the most room, freed beside them
SPARE_PER_CLASS = 2  # nodes not in use per class (20 room / 4 a class: 58.31 -> 54.24, in 2.65 s)
ALL_CPU_SECONDS = 1.2  # of process CPU in the step over every group at once (`_around_all`)
GPU = RESOURCES.index("gpu")


def improve_groups(fleet: ScaleMove, free_demands: set[str], deadline: float | None = None) -> int:
    """The steps around each option group that runs (module's docstring); returns the steps
    kept. No step starts at or past `deadline` (monotonic)."""
    started, kept = time.process_time(), 0
    for group in _ranked(fleet):
        if time.process_time() - started > CPU_SECONDS or _past(deadline):
            break
        step_deadline = min(started + CPU_SECONDS, time.process_time() + STEP_CPU_SECONDS)
        hood = _around(fleet, group, free_demands | set(group.demands))
        if hood is not None:
            kept += solved_and_spliced(fleet, hood, step_deadline, deadline)
    return kept


def improve_all_groups(fleet: ScaleMove, free_demands: set[str], deadline: float | None = None) -> bool:
    """The step over every group at once (module's docstring), within `ALL_CPU_SECONDS`; was
    it kept? Not started at or past `deadline` (monotonic)."""
    groups = _ranked(fleet)
    if not groups or _past(deadline):
        return False
    options = {name for group in groups for name in group.demands}
    hood = _around_all(fleet, groups, free_demands | options)
    return hood is not None and solved_and_spliced(fleet, hood, time.process_time() + ALL_CPU_SECONDS,
                                                   deadline, whole=True)


def _ranked(fleet: ScaleMove) -> list[OptionGroup]:
    """The free groups (`move_neighbourhood._free_groups`) with a replica on a node in use,
    those whose hosts cost most first, ties by name."""
    groups = {group.workload: group for group in _free_groups(fleet.problem).values()}
    cost = {name: sum(float(node.node_class.price) for node in _hosts(fleet, group))
            for name, group in groups.items()}
    return [groups[name] for name in sorted(groups, key=lambda name: (-cost[name], name)) if cost[name] > 0]


def _hosts(fleet: ScaleMove, group: OptionGroup) -> list[FleetNode]:
    pinned = fleet.problem.pinned
    return [node for node in fleet.nodes.values() if any(node.hosted[d] for d in group.demands)
            and not any(d in pinned for d in node.hosted)]


def _around(fleet: ScaleMove, group: OptionGroup, free_demands: set[str]):
    """The group's neighbourhood (module's docstring), or None where nothing is free."""
    problem = fleet.problem
    hosts = _hosts(fleet, group)
    host_zones = {zone_of(node.node_class) for node in hosts}
    named = {node.name for node in hosts}
    rooms = sorted((node for node in fleet.nodes.values() if node.name not in named and node.hosted
                    and zone_of(node.node_class) in host_zones
                    and not any(d in problem.pinned for d in node.hosted)),
                   key=lambda node: (_fullest(fleet, node), node.row))
    row, masks = fleet.rows.class_index, [fleet.eligible_mask[d] for d in group.demands]
    classes = [c for c in problem.classes if c.count and (zone_of(c) in host_zones or any(
        mask[row[c.id]] for mask in masks))]
    zones = tuple(sorted(host_zones | {zone_of(c) for c in classes}, key=str))
    return assembled(fleet, zones, hosts + rooms[:ROOM_NODES], classes, free_demands, SPARE_PER_CLASS)


def _around_all(fleet: ScaleMove, groups: list[OptionGroup], free_demands: set[str]):
    """Every group's neighbourhood at once (module's docstring), or None where nothing is free."""
    problem = fleet.problem
    options = {name for group in groups for name in group.demands}
    hosts = [node for node in fleet.nodes.values() if node.hosted
             and not any(d in problem.pinned for d in node.hosted)
             and (options.intersection(+node.hosted) or _idle_accelerators(fleet, node))]
    host_zones = {zone_of(node.node_class) for node in hosts}
    named = {node.name for node in hosts}
    rooms: dict[tuple, list[FleetNode]] = {}
    for node in sorted((node for node in fleet.nodes.values() if node.name not in named and node.hosted
                        and zone_of(node.node_class) in host_zones
                        and not any(d in problem.pinned for d in node.hosted)),
                       key=lambda node: (_fullest(fleet, node), node.row)):
        rooms.setdefault(zone_of(node.node_class), []).append(node)
    row, masks = fleet.rows.class_index, [fleet.eligible_mask[d] for d in sorted(options)]
    classes = [c for c in problem.classes if c.count and (zone_of(c) in host_zones or any(
        mask[row[c.id]] for mask in masks))]
    zones = tuple(sorted(host_zones | {zone_of(c) for c in classes}, key=str))
    roomy = [node for zone in sorted(rooms, key=str) for node in rooms[zone][:ROOM_NODES]]
    return assembled(fleet, zones, hosts + roomy, classes, free_demands, SPARE_PER_CLASS)


def _idle_accelerators(fleet: ScaleMove, node: FleetNode) -> bool:
    """Whether the node has accelerators and some of them are not in use."""
    return bool(node.capacity["gpu"]) and fleet._used(node)[GPU] < node.capacity["gpu"]


def _fullest(fleet: ScaleMove, node: FleetNode) -> float:
    """The share of the node's fullest resource in use."""
    capacity = np.maximum(fleet.class_capacity[fleet.rows.class_index[node.node_class.id]], 1)
    return float((fleet._used(node) / capacity).max())
