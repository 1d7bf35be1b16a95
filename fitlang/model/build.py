"""From a checked `Program` to a `Problem`: classes of identical nodes, and eligibility.

Inventory files are read here; their problems become E0502 diagnostics at the
`file` attribute of the `inventory` block. What running work of no workload of the policy
requests on a node (a `current` state's pods and jobs of other teams, DaemonSets) is taken off
that node's room (`Taken`), so the nodes it runs on fall into classes of their own.
"""

from __future__ import annotations

import dataclasses
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, NamedTuple

import numpy as np

from fitlang import messages as msg
from fitlang.check.program import (
    Accelerator,
    AcceleratorOption,
    AffinityRule,
    Compare,
    Electricity,
    Horizon,
    Inventory,
    Kept,
    Policy,
    PowerCap,
    Program,
    Workload,
)
from fitlang.check.program import compares as compares_in
from fitlang.check.step_prices import buy_named
from fitlang.check.timing import prices_per_step, recurring_windows, steps_of, window_steps
from fitlang.diagnostics import Diagnostic
from fitlang.model import slurm_cpus
from fitlang.model.current import (
    CurrentState,
    DisruptionBudget,
    ReplicaName,
    Running,
    RunningNames,
    foreign_pods,
    foreign_room,
)
from fitlang.model.daemon_sets import DaemonSet, bought_node_labels, kept_for
from fitlang.model.eligibility import (
    ClassFacets,
    LazyReasons,
    exclusions,
    last_resort,
    ruled_out,
    ruled_out_key,
)
from fitlang.model.inventory import (
    GKE_TPU_SELECTORS,
    InventoryNode,
    InventoryRead,
    capacity_spot,
    read_file,
    tpu_slice,
)
from fitlang.model.node_accelerators import matched_alike, node_accelerator, stated_kept_out
from fitlang.model.node_disks import ephemeral_storage
from fitlang.model.problem import (
    Demand,
    Exclusion,
    HealthBudget,
    NodeClass,
    NodeNames,
    NodeOwners,
    OptionGroup,
    PowerScope,
    PreferenceRule,
    Problem,
    Window,
    holds,
    option_demand_name,
)
from fitlang.model.reservations import DEFAULT_MAX_PODS, kubelet_reservation
from fitlang.rules import option_spread
from fitlang.rules.base import Rule

_HOST_LABELS = ("kubernetes.io/hostname",)


@dataclass
class Built:
    problem: Problem
    diagnostics: list[Diagnostic] = field(default_factory=list)
    # nodes whose running work of no workload requests more than they have (the driver warns)
    overfilled: list[str] = field(default_factory=list)


@dataclass
class Taken:
    """Node -> what running work of no workload requests there (`current.foreign_room`), and
    the nodes it overfills, found as the room is taken off."""

    room: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    pods: Mapping[str, int] = field(default_factory=dict)  # node -> its pods of no workload
    overfilled: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)  # the nodes whose room it was taken off
    pods_done: set[str] = field(default_factory=set)  # ... and whose pods

    def less(self, name: str, has: Mapping[str, int]) -> dict[str, int] | None:
        """`has` less what is taken on node `name`, never below nothing; None where nothing is."""
        taken = self.room.get(name)
        if taken is None or name in self.done:
            return None
        self.done.add(name)
        # (a node that states no disk, a hand-written inventory's, is not overfilled by pods
        # that ask for some: it has none to give fitc's work either)
        if any(amount > has.get(resource, 0) for resource, amount in taken.items()
               if resource != "disk" or has.get(resource)):
            self.overfilled.append(name)
        return {resource: max(0, amount - taken.get(resource, 0)) for resource, amount in has.items()}

    def pods_left(self, name: str, most: int | None) -> int | None:
        """The pods node `name` admits less those of no workload there, taken off once (None:
        no limit, or taken off already)."""
        if most is None or name in self.pods_done:
            return None
        self.pods_done.add(name)
        return max(0, most - self.pods.get(name, 0))


def _listed_before(name: str, nodes, listed: dict[str, str]) -> list[str]:
    """E0521 for the nodes of inventory `name` an earlier inventory lists too (`listed`, which
    learns this one's): one machine read twice was two nodes of twice its room, and `solve`
    placed on both (found as a user, session 57: two inventories of one `kubectl get nodes`
    file, each with its own price)."""
    again = sorted({node.name for node in nodes if node.name in listed})
    for node in nodes:
        listed.setdefault(node.name, name)
    if not again:
        return []
    shown = ", ".join(f"`{n}`" for n in again[:3]) + (f" and {len(again) - 3} more" if len(again) > 3 else "")
    return [f"{len(again)} node(s) of inventory `{name}` are in inventory `{listed[again[0]]}` too: "
            f"{shown}; a node is in one inventory (read each from a file of its own nodes: "
            "`kubectl get nodes -l ...`)"]


def build_problem(program: Program, extra_rules: Sequence[Rule] = (),
                  taken: Mapping[str, Mapping[str, int]] | None = None,
                  pods: Mapping[str, int] | None = None,
                  running_daemons: Sequence[DaemonSet] = ()) -> Built:
    """The problem of a checked program. `extra_rules`: the targets' rules (`Target.rules`,
    the Slurm partition), which the driver passes; the language's rules are `rules.RULES`.
    `taken`: node -> what running work of no workload requests there (the current state's;
    None: no state, and a Slurm inventory's nodes have what `scontrol` says jobs hold taken off);
    `pods`: node -> its pods of no workload (DaemonSets' and others': each takes a pod);
    `running_daemons`: the state's DaemonSets, which start a pod on each node bought too."""
    diagnostics: list[Diagnostic] = []
    room = Taken(dict(taken or {}), pods or {})
    classes = [_pool_class(pool) for pool in program.pools.values()]
    reads: _Reads | None = None  # what rules read of a node: made once (it reads every workload)
    listed: dict[str, str] = {}  # node name -> the inventory that lists it first
    for inventory in program.inventories.values():
        read = _read_inventory(inventory)
        origin = inventory.origin
        assert origin is not None  # the checker gives every block it makes its origin
        span = inventory.spans["file"].span if "file" in inventory.spans else origin.span
        for kind, found in ((msg.InventoryError, read.problems),
                            (msg.InventoryValueInvalid, read.bad_values),
                            (msg.DuplicateInventoryNode, read.duplicates + _listed_before(
                                inventory.name, read.nodes, listed))):
            diagnostics.extend(kind.at(origin.path, span, detail=problem)
                               for problem in found)
        if taken is None and read.allocated:  # no state says whose: what Slurm says is held
            room.room = {**room.room, **read.allocated}
        left_out = read.left_out(held_known=taken is not None)
        if left_out is not None:
            diagnostics.append(msg.InventoryNodesLeftOut.at(origin.path, span, left_out=left_out))
        reads = reads or _Reads.of(program)
        classes.extend(_inventory_classes(inventory, read.nodes, program, reads, room))
        diagnostics.extend(msg.InventoryGpuAmbiguous.at(origin.path, span, detail=detail)
                           for detail in _gpus_read_alike(read.nodes, program, inventory.gpu_model))
        if inventory.gpu_model is not None and (kept := _gpus_named_otherwise(
                read.nodes, program, inventory.gpu_model)):
            where = inventory.spans.get("gpu_model", inventory.spans.get("file", origin))
            diagnostics.append(msg.InventoryGpuModelNotTheirs.at(where.path, where.span, detail=kept))
        if (unpriced := _types_unpriced(inventory, read.nodes)) is not None:
            detail, attribute = unpriced
            where = inventory.spans.get(attribute, inventory.spans.get("instance_prices", origin))
            diagnostics.append(msg.InventoryTypesUnpriced.at(where.path, where.span, detail=detail))
    buy_limits: dict[int, int] = {}
    total_replicas = sum(_most_replicas(w) for w in program.workloads.values())
    allowed: set[str] = set()
    # (offer, region) a buy's `regions` keep out, or its `providers` (in its regions): made as
    # the first block that would buy it there if it named the region or the provider
    kept_out: dict[tuple[str, str], NodeClass] = {}
    for index, buy in enumerate(program.buys):
        if buy.max_count is not None:
            buy_limits[index] = buy.max_count
        cap = buy.max_count if buy.max_count is not None else total_replicas
        for offer in buy.offers:
            provided = buy.providers is None or offer.provider in buy.providers
            if provided:
                allowed.add(offer.name)
            for region in offer.sold_in:
                in_regions = buy.regions is None or region in buy.regions
                if not provided and not in_regions:
                    continue  # two changes to the block: no smaller than a block of its own
                made = _with_daemons(_offer_class(offer, region, cap, buy.spot, index),
                                     buy.reserved, running_daemons)
                if provided and in_regions:
                    classes.append(made)
                else:
                    kept_out.setdefault((offer.name, region), made)
    classes = _unique_ids(classes)
    if room.room or room.pods:
        classes = _less_taken(classes, room)
    bought = {(c.offer, c.region) for c in classes if c.provisioned}
    spare = [_with_daemons(_offer_class(offer, region, total_replicas, False, None), None, running_daemons)
             for offer in program.offers.values() if offer.name not in allowed
             for region in offer.sold_in if (offer.name, region) not in kept_out]
    spare += [c for key, c in kept_out.items() if key not in bought]
    classes = [_placed(node_class, program) for node_class in classes]
    spare = [_placed(node_class, program) for node_class in spare]
    names = _demand_names(program)
    demands = []
    facets = ClassFacets(classes + spare, extra_rules)
    shared: dict[Any, _Eligibility] = {}
    for workload in program.workloads.values():
        for view, option in _views(workload, names):
            demands.append(_demand(view, facets, len(classes), shared,
                                   None if option is None else (workload.name, option)))
    demands = slurm_cpus.sized(demands, classes)
    policy = program.policy
    problem = Problem(
        classes, demands, list(policy.objective), policy.budget, buy_limits,
        policy.spans.get("budget"), spare,
        buy_origins={i: b.origin for i, b in enumerate(program.buys) if b.origin},
        buy_names={i: buy_named(b.name) for i, b in enumerate(program.buys)},
        buy_providers={i: tuple(b.providers) for i, b in enumerate(program.buys) if b.providers is not None},
        home_regions=_home_regions(classes, policy),
        option_groups=[_option_group(w, names[w.name])
                       for w in program.workloads.values() if w.options],
        latency=dict(program.latency), allow_unplaced=bool(policy.allow_unplaced),
        power_caps=[PowerScope(cap.name, cap.scope, cap.cap_watts,
                               [c.id for c in classes if _in_scope(c, cap)], cap.origin,
                               _caps_per_step(cap, policy.horizon))
                    for cap in program.power_caps],
        timeline=policy.horizon, carbon_budget=policy.carbon_budget,
        carbon_budget_origin=policy.spans.get("carbon_budget"))
    if policy.horizon is not None:
        problem = _in_time(problem, program, policy.horizon)
    return Built(problem, diagnostics + _spreads_refused(problem), sorted(set(room.overfilled)))


def _home_regions(classes: Sequence[NodeClass], policy: Policy) -> dict[str, int]:
    """Where bought nodes go at a price tie (`Problem.home_regions`): the `terraform` block's
    region, then the regions of the policy's own nodes (an inventory's, a pool's)."""
    ranks = {} if (target := policy.bought_region()) is None else {target: 0}
    for node_class in classes:
        if not node_class.provisioned and node_class.region is not None:
            ranks.setdefault(node_class.region, 1)
    return ranks


def _spreads_refused(problem: Problem) -> list[Diagnostic]:
    """E0508 at each spread counted over an option workload's options that fitc cannot hold
    (`option_spread.refused`)."""
    if not option_spread.in_problem(problem):
        return []
    found = {}
    for demand in problem.demands:
        for spread in demand.spreads:
            if option_spread.over_options(demand, spread) and spread.origin not in found and \
                    (why := option_spread.refused(problem, demand)) is not None:
                found[spread.origin] = msg.SpreadOverOptionsTooLarge(
                    topology=spread.topology, workload=demand.workload, why=why,
                ).diagnostic(spread.origin.path, spread.origin.span)
    return list(found.values())


def _in_time(problem: Problem, program: Program, horizon: Horizon) -> Problem:
    """Each demand with its window in steps: a job's from its earliest start to its deadline
    less its duration (rounded up to whole steps), a service's the whole horizon."""
    demands = []
    for demand in problem.demands:
        workload = program.workloads[demand.workload]
        if workload.every is not None and workload.duration_seconds is not None:
            runs = _runs(workload, horizon)
            demands.append(dataclasses.replace(demand, window=runs[0], runs=runs,
                                               replicas=demand.replicas * len(runs), job=True))
        else:
            demands.append(dataclasses.replace(
                demand, window=_window(workload, horizon), min_segment=_min_segment(workload, horizon),
                job=workload.duration_seconds is not None,
                due_seconds=None if workload.due is None else horizon.seconds_after_start(workload.due)))
    return dataclasses.replace(problem, demands=demands)


def _min_segment(workload: Workload, horizon: Horizon) -> int | None:
    """A preemptible job's shortest segment in whole steps (rounded up; at least one)."""
    if workload.min_segment_seconds is None or workload.duration_seconds is None:
        return None
    return max(1, steps_of(workload.min_segment_seconds, horizon))


def _runs(workload: Workload, horizon: Horizon) -> tuple[Window, ...]:
    """A recurring job's runs, each a window of its own (the checker saw at least one)."""
    assert workload.duration_seconds is not None
    duration = steps_of(workload.duration_seconds, horizon)
    return tuple(Window(first, due - duration, duration)
                 for first, due in recurring_windows(workload, horizon))


def _window(workload: Workload, horizon: Horizon) -> Window:
    if workload.duration_seconds is None:
        return Window(0, 0, horizon.steps)
    duration = steps_of(workload.duration_seconds, horizon)
    earliest = 0 if workload.earliest is None else \
        math.ceil(horizon.seconds_after_start(workload.earliest) / horizon.step_seconds)
    deadline = horizon.steps if workload.deadline is None else \
        math.floor(horizon.seconds_after_start(workload.deadline) / horizon.step_seconds)
    return Window(earliest, deadline - duration, duration)


def _caps_per_step(cap: PowerCap, horizon: Horizon | None) -> tuple[Fraction, ...]:
    """A power cap's `hourly` list over the horizon's steps, repeated when shorter."""
    if horizon is None or not cap.per_step:
        return ()
    return tuple(cap.per_step[t % len(cap.per_step)] for t in range(horizon.steps))


def _off_steps(node_class: NodeClass, program: Program) -> dict[str, Any]:
    """With a horizon: the steps in which a pool's nodes run nothing, outside all its
    `available` windows (where it states them) or touching one of its `unavailable` ones."""
    pool = program.pools.get(node_class.pool) or program.inventories.get(node_class.pool)
    horizon = program.policy.horizon
    if pool is None or horizon is None or not (pool.available or pool.unavailable):
        return {}
    off: set[int] = set()
    if pool.available:
        on = {t for text in pool.available for t in window_steps(horizon, text, True)[0] or ()}
        off = set(range(horizon.steps)) - on
    for text in pool.unavailable:
        off |= set(window_steps(horizon, text, False)[0] or ())
    return {"off_steps": frozenset(off)}


def _price_per_step(node_class: NodeClass, program: Program) -> dict[str, Any]:
    """With a horizon: the price per step its pool, inventory or `buy` block states (issue
    19), in place of one price; `price` becomes their average over the horizon (what the
    reports and `require price` read). Capacity a `spot` buy prices per step is spot capacity,
    whether or not the offer states a `spot_price`."""
    horizon = program.policy.horizon
    buy = program.buys[node_class.buy_group] if node_class.buy_group is not None else None
    if buy is not None:
        stated = buy.step_prices
    else:
        declared = program.pools.get(node_class.pool) or program.inventories.get(node_class.pool)
        stated = None if declared is None or node_class.provisioned else declared.step_prices
    if horizon is None or stated is None:
        return {}
    prices = prices_per_step(horizon, None, stated.listed, stated.timed)
    changes: dict[str, Any] = {"step_price": prices, "price": sum(prices, Fraction(0)) / len(prices)}
    if buy is not None and buy.spot:
        changes["spot"] = True
    return changes


def _electricity_per_step(node_class: NodeClass, electricity: Electricity,
                          horizon: Horizon) -> dict[str, Any]:
    """With a horizon: the electricity a node in use costs at each step (USD/h), kept apart
    from its own price, which the time model adds per step (`NodeClass.price_at`)."""
    prices = prices_per_step(horizon, electricity.price_per_kwh, electricity.per_step,
                             electricity.timed)
    kilowatts = node_class.power_watts / 1000
    changes: dict[str, Any] = {"energy_scope": electricity.scope,
                               "step_energy_cost": tuple(kilowatts * price for price in prices)}
    if electricity.states_carbon:  # gCO2e/kWh x kW = g/h; the model counts kg
        intensity = prices_per_step(horizon, electricity.carbon, electricity.carbon_per_step,
                                    electricity.carbon_timed)
        changes["step_carbon"] = tuple(kilowatts * grams / 1000 for grams in intensity)
    return changes


def _option_group(workload: Workload, demands: list[str]) -> OptionGroup:
    throughput = workload.throughput
    assert throughput is not None  # the checker requires a throughput of a workload with options
    return OptionGroup(workload.name, throughput, demands, workload.gang, workload.origin)


def _most_replicas(workload: Workload) -> int:
    """Replicas a workload may run: with options, each option's at most."""
    return sum(workload.option_replicas(o) for o in workload.options) or workload.replicas


def _demand_names(program: Program) -> dict[str, list[str]]:
    """Workload -> the demands it becomes: itself, or one per accelerator option."""
    return {w.name: [option_demand_name(w.name, o.model.name) for o in w.options] or [w.name]
            for w in program.workloads.values()}


def _views(workload: Workload,
           names: dict[str, list[str]]) -> list[tuple[Workload, AcceleratorOption | None]]:
    """The workload once per option (named as its demand), or itself; rules that name an
    option workload as `anti_affinity` target name each of its option demands."""
    affinities = tuple(rule if target == rule.target else dataclasses.replace(rule, target=target)
                       for rule in workload.affinities
                       for target in (names.get(rule.target, [rule.target]) if rule.anti
                                      else [rule.target]))
    if affinities != workload.affinities:  # frozen: the workload itself where nothing changes
        workload = dataclasses.replace(workload, affinities=affinities)
    if not workload.options:
        return [(workload, None)]
    own = names[workload.name]
    return [(workload.for_option(o, name=name,
                                 affinities=_apart_from_options(workload.affinities, own, name)), o)
            for o, name in zip(workload.options, own)]


def _apart_from_options(rules: tuple[AffinityRule, ...], options: list[str],
                        mine: str) -> tuple[AffinityRule, ...]:
    """`anti_affinity self on T` (T not `node`) of a workload with options counts the replicas
    of every option together: one per domain per option (`self`), and no domain with
    replicas of two options (an anti-affinity towards each other option). Each rule's
    block has one entry per option, in the same places for every option (explain drops a
    rule by its first entry, `parts._affinity_part`). On nodes the options need no such
    rule: a node has one accelerator model, so two options never share one."""
    if len(options) < 2 or not any(_apart_by_domain(rule) for rule in rules):
        return rules
    return tuple(entry for rule in rules for entry in (
        [rule] + [dataclasses.replace(rule, target=other) for other in options if other != mine]
        if _apart_by_domain(rule) else [rule]))


def _apart_by_domain(rule: AffinityRule) -> bool:
    return rule.anti and rule.target == "self" and rule.topology != "node"


def _placed(node_class: NodeClass, program: Program) -> NodeClass:
    """The class with what the policy's other blocks say of it: its cluster, its `region`
    block (and jurisdiction), and its electricity price: one copy, made complete."""
    changes: dict[str, Any] = {}
    cluster = _cluster(node_class, program)
    if cluster is not None:
        changes["cluster"] = cluster
    site = changes["site"] = program.region_at(node_class.region, node_class.zone)
    if node_class.jurisdiction is None and site is not None:
        changes["jurisdiction"] = site.jurisdiction
    changes.update(_electricity(node_class, program))
    changes.update(_off_steps(node_class, program))
    changes.update(_price_per_step(node_class, program))
    # most classes of a large inventory gain nothing here: no copy of those
    changes = {k: v for k, v in changes.items() if getattr(node_class, k) is not v}
    return dataclasses.replace(node_class, **changes) if changes else node_class


def _cluster(node_class: NodeClass, program: Program) -> str | None:
    """Bought nodes join the `terraform` block's cluster where its provider and region are
    theirs, else their provider's cluster in their region; declared and inventory nodes the
    cluster their block states (None: the class keeps its default)."""
    if node_class.provisioned:
        cluster = program.policy.bought_cluster(node_class.provider, node_class.region)
        return cluster if cluster is not None else f"{node_class.provider}-{node_class.region}"
    declared = program.pools.get(node_class.pool) or program.inventories.get(node_class.pool)
    return declared.cluster if declared is not None else None


def _electricity(node_class: NodeClass, program: Program) -> dict[str, Any]:
    """The first `electricity` block whose scope holds the class prices the power it draws:
    a node in use costs power_watts / 1000 x USD/kWh per hour on top of its own price."""
    electricity = next((e for e in program.electricity if _in_scope(node_class, e)), None)
    if electricity is not None and program.policy.horizon is not None:
        return _electricity_per_step(node_class, electricity, program.policy.horizon)
    if electricity is None or electricity.price_per_kwh is None:
        return {}
    energy_cost = node_class.power_watts / 1000 * electricity.price_per_kwh
    return {"energy_price_kwh": electricity.price_per_kwh, "energy_scope": electricity.scope,
            "energy_cost": energy_cost, "price": node_class.price + energy_cost}


def _in_scope(node_class: NodeClass, cap) -> bool:
    return ((cap.zone is None or node_class.zone == cap.zone)
            and (cap.region is None or node_class.region == cap.region)
            and all(node_class.labels.get(k) == v for k, v in cap.labels.items()))


def _accelerator_watts(accelerator, count: int) -> Fraction:
    if accelerator is None or accelerator.tdp_watts is None:
        return Fraction(0)
    return accelerator.tdp_watts * count


def _offer_class(offer, region: str, cap: int, spot: bool, group: int | None) -> NodeClass:
    price, spot = offer.price_in(region, spot)  # no spot price: priced, and bought, on demand
    shape = offer.shape
    # pods get the instance less what its provider's kubelet keeps (model/reservations.py)
    kept = kubelet_reservation(offer.provider, shape.cpu_milli, shape.memory, offer.max_pods)
    return NodeClass(
        id=f"{offer.name}@{region}", pool=offer.name, count=cap,
        capacity={"cpu": max(0, shape.cpu_milli - kept.cpu_milli),
                  "memory": max(0, shape.memory - kept.memory),
                  "gpu": shape.gpu.count if shape.gpu else 0,
                  # what its kubelet admits: the root disk, or the local NVMe set up for it
                  "disk": ephemeral_storage(offer.provider, shape.disk, offer.instance_type)},
        reserved={"cpu": kept.cpu_milli, "memory": kept.memory},
        price=price, accelerator=shape.gpu.model if shape.gpu else None,
        region=region, provider=offer.provider, arch=shape.arch, labels=dict(offer.labels),
        node_names=NodeNames(f"{offer.name}-{region}-", cap),
        offer=offer.name, instance_type=offer.instance_type, local_disk=shape.disk, buy_group=group,
        origin=offer.origin,
        spot=spot, max_pods=_max_pods(offer),
        power_watts=_accelerator_watts(shape.gpu.model if shape.gpu else None,
                                       shape.gpu.count if shape.gpu else 0))


def _with_daemons(node_class: NodeClass, stated: Kept | None,
                  running_daemons: Sequence[DaemonSet]) -> NodeClass:
    """A bought class less what each of its nodes keeps for pods of no workload that start
    there with it: the `buy` block's `reserved_*` where stated, else the state's DaemonSets
    that run on such a node (`daemon_sets.py`)."""
    kept = stated if stated is not None else kept_for(running_daemons, bought_node_labels(
        node_class.arch, node_class.instance_type, node_class.region, node_class.labels))
    if kept == Kept():
        return node_class
    capacity = dict(node_class.capacity)
    capacity["cpu"] = max(0, capacity["cpu"] - kept.cpu_milli)
    capacity["memory"] = max(0, capacity["memory"] - kept.memory)
    most = None if node_class.max_pods is None else max(0, node_class.max_pods - kept.pods)
    return dataclasses.replace(node_class, capacity=capacity, max_pods=most, daemons=kept)


def _max_pods(offer) -> int:
    """The pods a bought node's kubelet admits: as the offer states, else its provider's default
    (the one its memory reservation assumes)."""
    return offer.max_pods if offer.max_pods is not None else DEFAULT_MAX_PODS.get(offer.provider, 110)


def _unique_ids(classes: list[NodeClass]) -> list[NodeClass]:
    seen: dict[str, int] = {}
    unique = []
    for node_class in classes:
        if node_class.id in seen:
            seen[node_class.id] += 1
            suffix = seen[node_class.id]
            names = node_class.node_names
            if node_class.provisioned and isinstance(names, NodeNames):  # their made-up node
                # names are unique too (two `buy` blocks of one offer and region); real nodes
                # keep theirs
                names = names.suffixed(f"-{suffix}")
            node_class = dataclasses.replace(node_class, id=f"{node_class.id}#{suffix}",
                                             node_names=names)
        else:
            seen[node_class.id] = 0
        unique.append(node_class)
    return unique


def _pool_class(pool) -> NodeClass:
    shape = pool.shape
    return NodeClass(
        id=pool.name, pool=pool.name, count=pool.count,
        capacity={"cpu": shape.cpu_milli, "memory": shape.memory,
                  "gpu": shape.gpu.count if shape.gpu else 0, "disk": shape.disk},
        price=pool.price, accelerator=shape.gpu.model if shape.gpu else None,
        labels=dict(pool.labels), zone=pool.zone, region=pool.region, provider=pool.provider,
        arch=shape.arch, dedicated=pool.dedicated, features=tuple(pool.features),
        node_names=NodeNames(f"{pool.name}-", pool.count), origin=pool.origin,
        spans=dict(pool.spans), max_pods=pool.max_pods,
        jurisdiction=pool.jurisdiction,
        power_watts=pool.power_watts if pool.power_watts is not None else
        pool.idle_watts + _accelerator_watts(shape.gpu.model if shape.gpu else None,
                                             shape.gpu.count if shape.gpu else 0))


def _gpu_names(nodes: list[InventoryNode]) -> dict[str, list[InventoryNode]]:
    """The file's GPU names (a Slurm GRES type, a product label), each with its nodes."""
    named: dict[str, list[InventoryNode]] = {}
    for node in nodes:
        if node.gpu_count and node.gpu_product:
            named.setdefault(node.gpu_product, []).append(node)
    return dict(sorted(named.items()))


def _some(nodes: list[InventoryNode]) -> str:
    more = f" and {len(nodes) - 3} more" if len(nodes) > 3 else ""
    return ", ".join(n.name for n in nodes[:3]) + more


def _gpus_read_alike(nodes: list[InventoryNode], program: Program,
                     stated: Accelerator | None) -> list[str]:
    """Per GPU name of the file that fits accelerators of different memory as well (a Slurm
    GRES type `a100`: A100_40GB or A100_80GB), which one fitc takes and what decides it; not
    of a name the inventory's `gpu_model` (`stated`) settles."""
    said = []
    for name, holding in _gpu_names(nodes).items():
        if stated is not None and stated_kept_out(holding[0], stated, program) is None:
            continue
        taken = node_accelerator(holding[0], None, program)
        alike = matched_alike(holding[0], program, taken)
        if taken is None or not alike:
            continue
        others = " or ".join(a.name for a in alike)
        said.append(f"the GPUs named `{name}` ({_some(holding)}) may be {taken.name} or {others}, and "
                    f"the file says no more: fitc takes {taken.name} ({_gigabytes(taken.memory)} GB); if "
                    f"they are not, state `gpu_model = {alike[0].name}` in the inventory")
    return said


def _gpus_named_otherwise(nodes: list[InventoryNode], program: Program, stated: Accelerator) -> str | None:
    """What the inventory's `gpu_model` is not: the file's GPU names that fit other
    accelerators only, whose nodes keep what their name says (None where it is every node's)."""
    named = _gpu_names(nodes)
    kept = {name: own for name, holding in named.items()
            if (own := stated_kept_out(holding[0], stated, program)) is not None}
    if not kept:
        return None
    theirs = [f"`{name}` ({_some(holding)})" for name, holding in named.items() if name not in kept]
    said = "; ".join(f"the GPUs named `{name}` ({_some(named[name])}) are {own}, as named"
                     for name, own in kept.items())
    if not theirs:
        return (f"`gpu_model = {stated.name}` names none of the file's GPUs: {said}; a `gpu_model` "
                "settles a name that fits several accelerators, or one that fits none")
    return f"`gpu_model = {stated.name}` is the GPUs named {', '.join(theirs)}; {said}"


def _gigabytes(memory: int | float) -> str:
    return f"{memory / 10**9:g}"


def _read_inventory(inventory: Inventory) -> InventoryRead:
    return read_file(inventory.file, inventory.format)


def _inventory_classes(inventory: Inventory, nodes: list[InventoryNode], program: Program,
                       reads: _Reads, taken: Taken) -> list[NodeClass]:
    if inventory.reserved_cpu_milli or inventory.reserved_memory or inventory.reserved_pods:
        nodes = [_less_reserved(node, inventory) for node in nodes]
    if taken.room:  # before grouping: a node with less room joins the nodes of its room
        nodes = [_with_room(node, left) if (left := taken.less(node.name, _room(node))) else node
                 for node in nodes]
    if taken.pods:  # (and with fewer pods, the nodes of its pods)
        nodes = [dataclasses.replace(node, max_pods=admitted) if node.name in taken.pods
                 and (admitted := taken.pods_left(node.name, node.max_pods)) is not None
                 else node for node in nodes]
    # by price too: a spot node that `spot_prices` prices apart is no node of its on-demand
    # fellows' class (nothing splits where it does not)
    groups: dict[tuple, list[InventoryNode]] = {}
    for node in nodes:
        groups.setdefault((reads.signature(node), _node_price(inventory, node)), []).append(node)
    classes = []
    for (_, price), members in groups.items():
        first = dataclasses.replace(members[0], cpu_milli=max(n.cpu_milli for n in members),
                                    memory=max(n.memory for n in members),
                                    disk=max(n.disk for n in members),
                                    labels=_common_labels(members))
        labels = {k: v for k, v in first.labels.items() if k not in _HOST_LABELS}
        labels = {**inventory.labels, **labels}
        accelerator = None
        if first.gpu_count:
            accelerator = node_accelerator(first, inventory.gpu_model, program)
        # the hosts of a multi-host TPU slice are a class of their own, named by its node pool:
        # a gang runs on one slice's hosts (`NodeClass.gang_domain`)
        slice_ = tpu_slice(first)
        suffix = (slice_[0] if slice_ else None) or first.instance_type \
            or (first.gpu_product if first.gpu_count else None) or "cpu"
        if members[0].spot and members[0].instance_type in inventory.spot_prices:
            suffix += "-spot"
        class_id = inventory.name if len(groups) == 1 else f"{inventory.name}/{suffix}"
        classes.append(NodeClass(
            id=class_id, pool=inventory.name, count=len(members),
            capacity={"cpu": first.cpu_milli, "memory": first.memory, "gpu": first.gpu_count,
                      "disk": first.disk},
            price=price, accelerator=accelerator, labels=labels,
            zone=first.zone or inventory.zone, region=first.region or inventory.region,
            provider=inventory.provider, arch=inventory.arch or first.arch,
            dedicated=inventory.dedicated, taints=tuple(first.taints),
            features=tuple(first.features),
            # the largest first: packing fills them first
            node_names=tuple(n.name for n in sorted(
                members, key=lambda n: (-n.cpu_milli, -n.memory, -n.disk, n.name))),
            instance_type=first.instance_type, origin=inventory.origin,
            gres_type=first.gpu_product if inventory.format == "slurm" else None,
            threads_per_core=first.threads_per_core, slurm_allocated=inventory.format == "slurm",
            max_pods=first.max_pods,
            jurisdiction=inventory.jurisdiction,
            power_watts=inventory.idle_watts + _accelerator_watts(accelerator, first.gpu_count),
            node_capacity=_own_capacities(members, first),
            node_taken={n.name: dict(taken.room[n.name]) for n in members if n.name in taken.room},
            node_hostnames={n.name: host for n in members
                            if (host := n.labels.get("kubernetes.io/hostname")) not in (None, n.name)},
            node_capacity_types=_capacity_types(members, first.labels),
            tpu_slice=slice_[0] if slice_ else None, slice_hosts=slice_[1] if slice_ else 0))
    return classes


def _node_price(inventory: Inventory, node: InventoryNode) -> Fraction:
    return inventory.node_price(node.instance_type, spot=node.spot)


def _types_unpriced(inventory: Inventory, nodes: list[InventoryNode]) -> tuple[str, str] | None:
    """Where an inventory prices nodes by instance type, the types read that it does not list
    (a node of none: a Slurm node, or a label missing), each priced at `price` instead: a
    silent 0 USD/h would make those nodes the first filled and the last released; and the spot
    nodes (Karpenter's, say) of types `spot_prices` does not list, each at its on-demand
    price: spot nodes priced as on-demand ones are the last a plan empties, and the cost
    stated is what the cluster does not pay. Said at the map that lacks them (the first)."""
    if not inventory.instance_prices and not inventory.spot_prices:
        return None
    said, attributes = [], []
    counts = _counted(n.instance_type for n in nodes if n.instance_type not in inventory.instance_prices)
    if counts and inventory.instance_prices:
        attributes.append("instance_prices")
        said.append(f"{sum(counts.values())} node(s) of instance types `instance_prices` does not list "
                    f"cost `price` ({float(inventory.price):g} USD/h): {_listed_counts(counts)}")
    counts = _counted(n.instance_type for n in nodes
                      if n.spot and n.instance_type not in inventory.spot_prices)
    if counts:
        attributes.append("spot_prices")
        said.append(f"{sum(counts.values())} spot node(s) (as their labels say) of instance types "
                    f"`spot_prices` does not list cost their on-demand price: {_listed_counts(counts)}")
    return ("; ".join(said), attributes[0]) if said else None


def _counted(instance_types: Iterable[str | None]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for instance_type in instance_types:
        key = f"`{instance_type}`" if instance_type else "no instance type"
        counts[key] = counts.get(key, 0) + 1
    return counts


def _listed_counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{key} ({count})" for key, count in sorted(counts.items()))


def _less_reserved(node: InventoryNode, inventory: Inventory) -> InventoryNode:
    """The node as fitc may fill it: what the file says less what the inventory's `reserved_cpu`,
    `reserved_memory` and `reserved_pods` keep for pods fitc does not place (DaemonSets: a
    kubectl node's allocatable still holds their requests and pods, and a node filled to it
    leaves a pod Pending)."""
    pods = None if node.max_pods is None else max(0, node.max_pods - inventory.reserved_pods)
    return dataclasses.replace(node, cpu_milli=max(0, node.cpu_milli - inventory.reserved_cpu_milli),
                               memory=max(0, node.memory - inventory.reserved_memory), max_pods=pods)


def _room(node: InventoryNode) -> dict[str, int]:
    return {"cpu": node.cpu_milli, "memory": node.memory, "gpu": node.gpu_count, "disk": node.disk}


def _with_room(node: InventoryNode, room: Mapping[str, int]) -> InventoryNode:
    return dataclasses.replace(node, cpu_milli=room["cpu"], memory=room["memory"],
                               gpu_count=room["gpu"], disk=room["disk"])


def _less_taken(classes: list[NodeClass], taken: Taken) -> list[NodeClass]:
    """Declared pools' and bought nodes where running work of no workload takes room: each
    such node keeps its own room (`node_capacity`), as packing and `verify` read it (inventory
    nodes had it taken off before they were grouped into classes: `_inventory_classes`)."""
    owners = NodeOwners(classes)
    own: dict[int, dict[str, dict[str, int]]] = {}
    held: dict[int, dict[str, dict[str, int]]] = {}
    pods: dict[int, dict[str, int]] = {}
    for name in sorted(set(taken.room) | set(taken.pods)):
        found = owners.find(name)
        if found is None:
            continue
        node_class = found[0]
        # (a bought node the state shows running: its own pods' requests are taken off what
        # its kubelet gives pods, in place of what the DaemonSets were assumed to keep)
        has = {r: amount + node_class.daemons_keep(r) for r, amount in node_class.capacity_of(name).items()}
        left = taken.less(name, has) if name in taken.room else None
        if left is None and has != node_class.capacity_of(name):
            left = has
        if left is not None:
            own.setdefault(id(node_class), dict(node_class.node_capacity))[name] = left
            if name in taken.room:
                held.setdefault(id(node_class), {})[name] = dict(taken.room[name])
        admitted = (taken.pods_left(name, node_class.kubelet_max_pods if name not in node_class.node_pods
                                    else node_class.pods_of(name))
                    if name in taken.pods else None)
        if admitted is not None:
            pods.setdefault(id(node_class), dict(node_class.node_pods))[name] = admitted
    return [dataclasses.replace(c, node_capacity=own.get(id(c), c.node_capacity),
                                node_taken=held.get(id(c), c.node_taken),
                                node_pods=pods.get(id(c), c.node_pods))
            if id(c) in own or id(c) in pods else c for c in classes]


def _own_capacities(members: list[InventoryNode], largest: InventoryNode) -> dict[str, dict[str, int]]:
    own = {}
    for node in members:
        if (node.cpu_milli, node.memory, node.disk) != (largest.cpu_milli, largest.memory, largest.disk):
            own[node.name] = {"cpu": node.cpu_milli, "memory": node.memory,
                              "gpu": node.gpu_count, "disk": node.disk}
    return own


def _capacity_types(members: list[InventoryNode], common: dict[str, str]) -> dict[str, str]:
    """Each node's capacity type, where its labels say it and the class's common labels do not."""
    if capacity_spot(common) is not None:
        return {}
    return {n.name: "spot" if spot else "on-demand" for n in members
            if (spot := capacity_spot(n.labels)) is not None}


def _common_labels(members: list[InventoryNode]) -> dict[str, str]:
    """The labels every member carries with the same value (every label a rule reads is one)."""
    common = dict(members[0].labels)
    for node in members[1:]:
        common = {k: v for k, v in common.items() if node.labels.get(k) == v}
    return common


@dataclass
class _Reads:
    """What the policy's rules can tell apart on a node, so that inventory nodes that differ
    only in what no rule reads form one class (imported inventories have per-node jitter in
    allocatable, and labels no rule names: one class per node made 10,000-node fleets into
    10,000 classes).

    Capacity is rounded down to the grid every request lies on (the gcd of all requests):
    replicas use sums of requests, so a node's room past the last grid point is of no use to
    any of them; grid points then fall in buckets 3% wide. The class states its largest
    member's capacity (so the class-level model stays a relaxation and its bound a proven
    one) and each smaller node its own (`NodeClass.node_capacity`), which packing and
    `verify` hold each node to. Rules that compare a capacity (`require memory >= 256GiB`)
    are evaluated per node and kept in the signature."""

    grid: dict[str, int]  # resource -> gcd of the requests (0: no workload asks for it)
    label_keys: tuple[str, ...]
    compares: list  # Compare nodes on cpu, memory or disk

    @classmethod
    def of(cls, program: Program) -> _Reads:
        grid = {"cpu": 0, "memory": 0, "disk": 0}
        keys: set[str] = set()
        compares: dict[int, Compare] = {}
        for workload in program.workloads.values():
            for view in [workload] + [workload.for_option(o) for o in workload.options]:
                for resource, need in (("cpu", view.cpu_milli), ("memory", view.memory),
                                       ("disk", view.disk)):
                    grid[resource] = math.gcd(grid[resource], int(need))
            keys |= set(workload.labels)
            keys |= {spread.topology for spread in workload.spreads}
            keys |= {rule.topology for rule in workload.affinities}
            predicates = [r.predicate for r in workload.requirements]
            predicates += [p.predicate for p in workload.preferences]
            for predicate in predicates:
                for compare in compares_in(predicate):
                    if compare.subject[0] == "labels":
                        keys.add(compare.subject[1])
                    elif compare.subject[0] in grid:
                        compares[id(compare)] = compare
        for scope in [*program.power_caps, *program.electricity]:
            keys |= set(scope.labels)
        keys |= set(GKE_TPU_SELECTORS)  # the Kubernetes target selects a TPU node by them too
        keys -= {"zone", "region", "node"}
        return cls(grid, tuple(sorted(keys)), list(compares.values()))

    def signature(self, node: InventoryNode) -> tuple:
        values = {"cpu": node.cpu_milli, "memory": node.memory, "disk": node.disk}
        rounded = tuple(_bucket(values[r] // self.grid[r]) if self.grid[r] else 0 for r in self.grid)
        outcomes: tuple = ()
        if self.compares:  # most policies compare no capacity: no Fractions per node then
            lookup = {"cpu": Fraction(node.cpu_milli, 1000), "memory": Fraction(node.memory),
                      "disk": Fraction(node.disk)}
            outcomes = tuple(holds(c, lambda path: lookup[path[0]]) for c in self.compares)
        labels = tuple(node.labels.get(k) for k in self.label_keys)
        partitions = tuple(sorted(k for k in node.labels if k.startswith("slurm.partition.")))
        return (rounded, outcomes, labels, partitions, node.gpu_count, node.gpu_product,
                node.gpu_memory, node.gpu_resource, node.zone, node.region, node.arch,
                tuple(node.taints), tuple(node.features), node.instance_type, node.threads_per_core,
                node.max_pods, node.gpu_partition, tpu_slice(node))


MERGE_TOLERANCE = 0.03  # inventory nodes within 3% of each other's allocatable share a class


def _bucket(units: int) -> int:
    """Grid points, in buckets 3% wide (exact below 34 points): members of one class differ by
    less than that, which keeps the class-level model close to what each node holds."""
    if units < 1 / MERGE_TOLERANCE:
        return units
    return int(math.log(units) / math.log1p(MERGE_TOLERANCE))


# ---- eligibility ------------------------------------------------------------


class _Eligibility(NamedTuple):
    """The classes a set of rules rules out, and those it leaves (as ids): one per distinct
    answer, shared by the workloads that get it (at 50,000 breaker nodes 5,000 workloads get
    1,486 distinct answers, and 23 million (workload, class) entries became 7 million)."""

    ruled_out: np.ndarray  # per class of `facets`, read only
    owned_out: np.ndarray  # the same among the owned classes (not spare offers)
    eligible: list[str]  # shared: replaced, never changed in place


def _answer(workload: Workload, facets: ClassFacets, owned: int,
            shared: dict[Any, _Eligibility]) -> _Eligibility:
    """The workload's `_Eligibility`, looked up by what its rules read of it (`ruled_out_key`)
    before it is worked out: the 5,644 demands of an inventory policy at 50,000 nodes read 441
    distinct keys, and each answer was a few arrays over its 11,600 classes."""
    key = ruled_out_key(workload, facets)
    found = None if key is None else shared.get(key)
    if found is None:
        found = _eligibility(ruled_out(workload, facets), facets, owned, shared)
        if key is not None:
            shared[key] = found
    return found


def _eligibility(ruled_out: np.ndarray, facets: ClassFacets, owned: int,
                 shared: dict[Any, _Eligibility]) -> _Eligibility:
    key = ruled_out.tobytes()
    found = shared.get(key)
    if found is None:
        owned_out = ruled_out.copy()
        owned_out[owned:] = False
        for array in (ruled_out, owned_out):
            array.flags.writeable = False
        found = shared[key] = _Eligibility(ruled_out, owned_out,
                                           facets.ids[np.flatnonzero(~ruled_out[:owned])].tolist())
    return found


def _demand(workload: Workload, facets: ClassFacets, owned: int,
            shared: dict[Any, _Eligibility] | None = None,
            option: tuple[str, AcceleratorOption] | None = None) -> Demand:
    """The workload's demand: the classes (the first `owned` of `facets`; the rest are spare
    offers) it may use, found for all classes at once (eligibility.py); the reasons for the
    others are worked out when asked for. Workloads whose rules give the same answer share
    its arrays and eligible list (`shared`: keyed by what the rules read, and by the answer).
    `option`: (the workload, the accelerator option) this demand is one option of, whose
    replicas deliver its throughput."""
    answer = _answer(workload, facets, owned, {} if shared is None else shared)

    def reasons(node_class: NodeClass) -> list[Exclusion]:
        return _reasons(workload, node_class, facets.rules)

    failing = LazyReasons(facets, answer.ruled_out, reasons)
    excluded = LazyReasons(facets, answer.owned_out, lambda node_class: failing[node_class.id][0])
    preferences: list[PreferenceRule] = []
    preference: dict[str, Fraction] = {}
    if workload.preferences:
        preferences, preference = _score_preferences(
            workload, facets, np.flatnonzero(~answer.ruled_out[:owned]))
    grouped: dict[str, Any] = {} if option is None else {
        "group": option[0], "option": option[1].model.name, "throughput": option[1].throughput}
    return Demand(
        name=workload.name, replicas=workload.replicas,
        requests={"cpu": workload.cpu_milli, "memory": workload.memory,
                  "gpu": workload.gpu_count, "disk": workload.disk},
        priority=workload.priority, gang=workload.gang, exclusive=workload.exclusive,
        eligible=answer.eligible, excluded=excluded, preference=preference,
        preferences=preferences, failing=failing,
        affinities=list(workload.affinities),
        spreads=list(workload.spreads), latency=list(workload.latency), origin=workload.origin,
        spans=dict(workload.spans), tolerate=tuple(workload.tolerate), indent=workload.indent,
        **grouped)


def _score_preferences(workload: Workload, facets: ClassFacets, eligible: np.ndarray
                       ) -> tuple[list[PreferenceRule], dict[str, Fraction]]:
    """Each `prefer` with the eligible classes that meet it, and the weight each class earns."""
    met = np.array([facets.holding(p.predicate)[eligible] for p in workload.preferences],
                   dtype=bool).reshape(len(workload.preferences), len(eligible))
    rules = [PreferenceRule(p.text, p.weight, {facets.classes[i].id for i in eligible[row].tolist()},
                            p.origin)
             for p, row in zip(workload.preferences, met)]
    preference: dict[str, Fraction] = {}
    scores: dict[bytes, Fraction] = {}
    for column, index in enumerate(eligible.tolist()):
        pattern = met[:, column]
        if not pattern.any():
            continue
        key = pattern.tobytes()
        score = scores.get(key)
        if score is None:
            score = Fraction(0)
            for rule, meets in zip(workload.preferences, pattern):
                if meets:
                    score += rule.weight
            scores[key] = score
        if score:
            preference[facets.classes[index].id] = score
    return rules, preference


def _reasons(workload: Workload, node_class: NodeClass, registry: Sequence[Rule]) -> list[Exclusion]:
    """Every rule that rules the class out for the workload (fitlang/rules and the targets'
    rules, in the registry's order); for a class that only a replica's size rules out, that."""
    return exclusions(workload, node_class, registry) or last_resort(workload, node_class,
                                                                     registry)


# ---- moving work: the current state in the problem's terms (`fitc plan`) -------------------

def _cluster_nodes_less_taken(problem: Problem, state: CurrentState) -> Problem:
    """The nodes the cloud named that join bought classes (`cluster_nodes.py`) lose the room
    their running work of no workload takes, as every other node did at build (which knew
    them only by fitc's own names)."""
    named = {node for node, _ in state.cluster_bought}
    room = {node: taken for node, taken in foreign_room(state.foreign).items() if node in named}
    pods = {node: count for node, count in foreign_pods(state.foreign).items() if node in named}
    if not room and not pods:
        return problem
    return dataclasses.replace(problem, classes=_less_taken(list(problem.classes), Taken(room, pods)))


def _closed(problem: Problem, state: CurrentState) -> Problem:
    """The nodes the cluster lists as cordoned or not Ready take no new work (`ClusterNode.
    schedulable`): their room is nothing, so what runs there is over it and the plan moves it
    off first (`solve/repair_first.py`); a bought one that ends empty is released."""
    closed = sorted({node.name for node in state.nodes if not node.schedulable})
    if not closed:
        return problem
    owners = problem.owners()
    own: dict[int, dict[str, dict[str, int]]] = {}
    for name in closed:
        found = owners.find(name)
        if found is not None:
            node_class = found[0]
            room = own.setdefault(id(node_class), dict(node_class.node_capacity))
            room[name] = {resource: 0 for resource in node_class.capacity_of(name)}
    if not own:
        return problem
    return dataclasses.replace(problem, classes=[
        dataclasses.replace(c, node_capacity=own[id(c)]) if id(c) in own else c for c in problem.classes])


def with_current(problem: Problem, program: Program, state: CurrentState) -> Problem:
    """The problem with what runs now (`Problem.running` and the move settings): each running
    replica under its demand (its workload, or the option it runs with) and node. A replica on
    a node the problem lacks must move; one of a workload the policy does not declare is left
    alone (the state's reader warns of both: W0802, W0803). Disruption budgets: the workload's
    `max_disrupted` and the state's (a cluster's PodDisruptionBudgets) both hold, so the least
    of them is kept; a budget of 0 keeps the workload where it runs, as `movable = false`.
    Nodes the cloud named that the state counts as bought (`cluster_nodes.py`) join their
    classes under those names."""
    from fitlang.model.cluster_nodes import with_cluster_nodes

    named = with_cluster_nodes(problem, state.cluster_bought)
    problem = _closed(_cluster_nodes_less_taken(named, state), state)
    owners = problem.owners()
    options: dict[str, list[Demand]] = {}  # workload -> its demands (one, or its options)
    for each in problem.demands:
        options.setdefault(each.workload, []).append(each)
    running: dict[str, dict[str, int]] = {}
    away: dict[str, int] = {}
    for replica in state.running:
        demand = running_demand(problem, owners, replica, options)
        if demand is None:
            continue
        if replica.node in owners:
            per_node = running.setdefault(demand, {})
            per_node[replica.node] = per_node.get(replica.node, 0) + 1
        else:
            away[demand] = away.get(demand, 0) + 1
    policy = program.policy
    now = {d.name for d in problem.demands if d.name in running or d.name in away}
    budgets, health = _disruption_budgets(problem, program, state)
    unhealthy = _unhealthy(problem, owners, state, options)
    replaced: Counter[str] = Counter()  # per workload, its replicas not healthy every plan moves
    for each in problem.demands:
        if each.group is None:  # (an option's may stop, and another option's start: no move)
            # those on nodes the policy lacks, less those beyond its `replicas`: a plan stops
            # them first (`moving.moves_between`), and a stopped replica has no successor
            extra = max(0, sum(running.get(each.name, {}).values()) + away.get(each.name, 0)
                        - each.replicas)
            replaced[each.workload] += max(0, unhealthy.get(each.name, {}).get("", 0) - extra)
    # (a budget of 0 now keeps the workload where it runs, unless it rises: `_budget_rises`)
    rises = {w for w, budget in health.items() if _budget_rises(budget, replaced[w])}
    raised = raised_first(problem, (running, away, unhealthy), health,
                          {w for w, b in budgets.items() if b == 0 and w not in rises})
    pinned = frozenset(d.name for d in problem.demands if d.name in now and (
        not program.workloads[d.workload].movable
        or (budgets.get(d.workload) == 0 and d.workload not in rises and d.name not in raised)))
    return dataclasses.replace(
        problem, running=running, running_elsewhere=away,
        bought_now=tuple(n for n in state.bought if n in owners), pinned=pinned,
        move_price=policy.move_price, max_disrupted=budgets, max_drained=policy.max_drained,
        min_saving=policy.min_saving, max_moves=policy.max_moves, unhealthy=unhealthy,
        health_budgets=health, raise_first=raised)


def raised_first(problem: Problem, now: tuple[dict, dict, dict], health: dict[str, HealthBudget],
                 held: set[str], node_by_node: bool = True) -> dict[str, int]:
    """Demand -> its replicas not healthy that must move before a healthy one may, for each
    workload of `held` (a budget of 0 that its pods elsewhere do not raise) whose replicas not
    healthy run on the policy's nodes (a crash-looping pod the policy keeps): evicted free of
    the budget (`HealthBudget`), each one's successor healthy raises it by one, so once
    `1 - above` of them are moved its healthy replicas may move too. Only a workload of one
    demand, none of its replicas elsewhere nor beyond its `replicas` (where a plan would stop
    one: no successor), and only where the move is solved node by node (up to 48 nodes: the
    stays per node say which replica leaves); elsewhere it stays where it runs, as before
    (`plan` says so: W0815). Not `node_by_node`: on a fleet of any size."""
    from fitlang.solve.placement import EXACT_MAX_NODES

    running, away, unhealthy = now
    if node_by_node and sum(c.count for c in problem.classes) > EXACT_MAX_NODES:
        return {}
    found: dict[str, int] = {}
    for demand in problem.demands:
        budget = health.get(demand.workload)
        if demand.workload not in held or budget is None or demand.group is not None or \
                budget.own == 0 or away.get(demand.name) or \
                sum(running.get(demand.name, {}).values()) > demand.replicas:
            continue
        free = budget.always or (budget.must_stay > 0 and budget.above >= 0)
        on_nodes = sum(c for node, c in unhealthy.get(demand.name, {}).items() if node)
        if free and 1 - budget.above <= on_nodes:
            found[demand.name] = 1 - budget.above
    return found


def _unhealthy(problem: Problem, owners, state: CurrentState,
               options: dict[str, list[Demand]]) -> dict[str, dict[str, int]]:
    """Demand -> node ("" for a node the problem lacks) -> its replicas there not healthy."""
    found: dict[str, dict[str, int]] = {}
    for replica in state.running:
        if replica.ready:
            continue
        demand = running_demand(problem, owners, replica, options)
        if demand is not None:
            node = replica.node if replica.node in owners else ""
            per_node = found.setdefault(demand, {})
            per_node[node] = per_node.get(node, 0) + 1
    return found


def running_demand(problem: Problem, owners, replica: Running,
                    by_workload: dict[str, list[Demand]]) -> str | None:
    """The demand a running replica counts for: its workload's, or its option's (named, or
    else the first option that may run on its node)."""
    demands = by_workload.get(replica.workload, [])
    if replica.option is not None:
        name = option_demand_name(replica.workload, replica.option)
        return name if any(d.name == name for d in demands) else None
    if len(demands) == 1 and demands[0].group is None:
        return demands[0].name
    node_class = owners.get(replica.node)
    for demand in demands:
        if node_class is not None and node_class.id in demand.eligible:
            return demand.name
    return demands[0].name if demands else None


def running_handles(problem: Problem, state: CurrentState) -> RunningNames:
    """(demand, node) -> the names of the replicas running there (pods, job ids), in order,
    those not healthy last: a plan moves a node's last listed first (`moving._Handles`), and
    its replicas not healthy first (a ReplicaSet scaled down deletes its pods not Ready first)."""
    owners = problem.owners()
    by_workload: dict[str, list[Demand]] = {}
    for each in problem.demands:
        by_workload.setdefault(each.workload, []).append(each)
    handles: RunningNames = {}
    for replica in sorted(state.running, key=lambda r: not r.ready):
        demand = running_demand(problem, owners, replica, by_workload)
        if demand is not None and replica.handle is not None:
            node = replica.node if replica.node in owners else ""
            handles.setdefault((demand, node), []).append(replica.handle)
    return handles


def unhealthy_names(state: CurrentState) -> set[str]:
    """The replicas not healthy, by name as a plan names them ("namespace/pod")."""
    return {str(replica.handle) for replica in state.running
            if not replica.ready and replica.handle is not None}


def running_outside(problem: Problem, state: CurrentState) -> dict[str, list[tuple[ReplicaName | None, str]]]:
    """Demand -> its replicas on nodes the policy lacks: each one's name (pod, job id; None
    read from a placement) and node, in the state's order: what a plan stops or moves there
    names the node by."""
    owners = problem.owners()
    by_workload: dict[str, list[Demand]] = {}
    for each in problem.demands:
        by_workload.setdefault(each.workload, []).append(each)
    outside: dict[str, list[tuple[ReplicaName | None, str]]] = {}
    for replica in state.running:
        demand = running_demand(problem, owners, replica, by_workload)
        if demand is not None and replica.node not in owners:
            outside.setdefault(demand, []).append((replica.handle, replica.node))
    return outside


def _disruption_budgets(problem: Problem, program: Program, state: CurrentState
                        ) -> tuple[dict[str, int], dict[str, HealthBudget]]:
    """Workload -> the most replicas moved in the first wave: the least of its `max_disrupted`
    and the state's budgets for it. A share is of its replicas, rounded up as Kubernetes rounds
    a PodDisruptionBudget's `maxUnavailable` percentage. And workload -> its budget over
    healthy replicas, for each workload some of whose replicas are not healthy under a budget
    the state counts over healthy pods (`HealthBudget`: the next waves' budgets)."""
    replicas = {w.name: max(w.replicas, _most_replicas(w)) for w in program.workloads.values()}
    budgets: dict[str, int] = {}
    # the budgets that count every replica moved: the workload's own, and the cluster's not
    # counted over healthy pods
    every: dict[str, int] = {}

    def keep(workload: str, count: int, counts_every: bool = True) -> None:
        budgets[workload] = min(count, budgets.get(workload, count))
        if counts_every:
            every[workload] = min(count, every.get(workload, count))

    for workload in program.workloads.values():
        if workload.max_disrupted is not None:
            keep(workload.name, workload.max_disrupted)
        elif workload.max_disrupted_share is not None and replicas[workload.name] > 0:
            # (a share of no replicas limits nothing: the workload stops what runs, which moves
            # none, as a Deployment scaled to 0 evicts nothing its PodDisruptionBudget guards)
            keep(workload.name, math.ceil(workload.max_disrupted_share * replicas[workload.name]))
    running = {name: len(items) for name, items in state.by_workload().items()}
    counted: dict[str, list[DisruptionBudget]] = {}
    for budget in state.budgets:
        if budget.workload not in program.workloads:
            continue
        if budget.count is not None:
            keep(budget.workload, budget.count, budget.above is None)
        elif budget.share is not None:
            keep(budget.workload, math.ceil(budget.share * running.get(budget.workload, 0)))
        if budget.above is not None:
            counted.setdefault(budget.workload, []).append(budget)
    unhealthy = {replica.workload for replica in state.running if not replica.ready}
    health = {workload: HealthBudget(
        above=min(b.above for b in found if b.above is not None),
        must_stay=max(b.must_stay for b in found),
        always=all(b.always_evict_unhealthy for b in found), own=every.get(workload))
        for workload, found in sorted(counted.items()) if workload in unhealthy}
    return budgets, health


def _budget_rises(budget: HealthBudget, away: int) -> bool:
    """Whether a budget of 0 now lets the workload's healthy replicas move once `away` of its
    replicas not healthy, on nodes the policy lacks and within its `replicas` (which every
    plan moves, not stops), are replaced: those move free of the budget now, and their
    successors, healthy, raise it to 1 at least. Where it does not, the workload stays where
    it runs (the safe side: its replicas not healthy on the policy's nodes might be moved to
    raise it, but no plan needs to)."""
    if budget.own == 0:
        return False
    free = budget.always or (budget.must_stay > 0 and budget.above >= 0)
    return free and away > 0 and budget.above + away >= 1
