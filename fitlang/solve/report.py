"""A placement as the JSON contract of docs/formats.md, and as a table for people."""

from __future__ import annotations

import json
from dataclasses import dataclass
from fractions import Fraction
from json.encoder import c_make_encoder, encode_basestring_ascii  # type: ignore[attr-defined]
from typing import TYPE_CHECKING, Any, cast

from fitlang.check.program import Kept
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem
from fitlang.rules.explaining import plural
from fitlang.solve.linear import Status
from fitlang.solve.placement import Placement
from fitlang.solve.utilization import utilization

if TYPE_CHECKING:  # the typed dicts only: writing a placement loads no pydantic (see as_json)
    from fitlang.documents import (
        CarbonUseFields,
        PlacedNodeFields,
        PlacedReplicaFields,
        PlacementDocumentFields,
        UnplacedReplicaFields,
        WorkloadEntryFields,
    )


def _number(value: Fraction | None) -> float | None:
    return None if value is None else _rounded(value)


def _rounded(value: Fraction | float) -> float:
    """A JSON number: rounded to 6 decimals."""
    return round(float(value), 6)


def listed_nodes(problem: Problem, placement: Placement) -> list[tuple[str, NodeClass]]:
    """Every node the problem had: all owned nodes, and the bought ones."""
    nodes: list[tuple[str, NodeClass]] = []
    for node_class in problem.classes:
        names = placement.bought.get(node_class.id, []) if node_class.provisioned else node_class.node_names
        nodes.extend((name, node_class) for name in names)
    return nodes


def _nodes_listed(problem: Problem, placement: Placement,
                  in_use: set[str]) -> list[tuple[str, NodeClass]]:
    """The nodes in use and those bought, in the order `listed_nodes` gives them, found by
    name: a pool of millions of nodes is not walked to list the few in use."""
    owners = problem.owners()
    used_of: dict[int, list[str]] = {}
    for name in in_use:
        node_class = owners.get(name)
        if node_class is not None and not node_class.provisioned:
            used_of.setdefault(id(node_class), []).append(name)
    nodes: list[tuple[str, NodeClass]] = []
    for node_class in problem.classes:
        names = placement.bought.get(node_class.id, []) if node_class.provisioned else \
            owners.in_class_order(used_of.get(id(node_class), []))
        nodes.extend((name, node_class) for name in names)
    return nodes


def _requests(demand: Demand) -> dict[str, int]:
    """What one replica asks, as its workload states it (not as Slurm would round it)."""
    asked = {**demand.requests, "cpu": demand.asked_cpu}
    return {k: v for k, v in asked.items() if k != "disk" or v}


def _placed_replica(demand: Demand, replica: int, node: str,
                    times: tuple[str, str] | None = None) -> PlacedReplicaFields:
    """An assignment as the contract writes it: its workload, and for an option, the option
    (left out, not null, for a workload without options); with a horizon, when it starts and
    ends (`times`)."""
    entry: PlacedReplicaFields
    if demand.option is None:
        entry = {"workload": demand.name, "replica": replica, "node": node}
    else:
        entry = {"workload": demand.workload, "option": demand.option, "replica": replica,
                 "node": node}
    if times is not None:
        entry["start"], entry["end"] = times
    return entry


def _workloads(problem: Problem) -> list[WorkloadEntryFields]:
    """One entry per workload. A workload with options keeps `replicas` and `requests` of its
    first option, and lists every option with what one replica delivers."""
    entries: list[WorkloadEntryFields] = []
    groups = {g.workload: g for g in problem.option_groups}
    for demand in problem.demands:
        group = groups.get(demand.group) if demand.group is not None else None
        if group is None:
            entries.append({"name": demand.name, "replicas": demand.replicas,
                            "requests": _requests(demand)})
        elif group.demands[0] == demand.name:
            options = [problem.demand(name) for name in group.demands]
            entries.append({
                "name": group.workload, "replicas": demand.replicas, "requests": _requests(demand),
                "throughput": _rounded(group.required), "gang": group.gang,
                "options": [{"name": d.option or "", "replicas": d.replicas,
                             "requests": _requests(d), "throughput": _rounded(d.throughput)}
                            for d in options]})
    return entries


def _node_entry(name: str, node_class: NodeClass) -> PlacedNodeFields:
    """A node as `documents.PlacedNode` has it, its fields in the model's order (the optional
    ones sit between required ones: built in order, then typed; the order is tested)."""
    entry: dict[str, Any] = {
        "name": name, "pool": node_class.pool,
        # capacity: the whole machine; allocatable: what pods may request there, which the
        # solver packed against (less for bought nodes: their kubelet's reservation)
        "capacity": {r: amount + node_class.reserved.get(r, 0)
                     + (node_class.daemons_keep(r) if name not in node_class.node_capacity else 0)
                     for r, amount in node_class.capacity_of(name).items()},
        "allocatable": dict(node_class.capacity_of(name)),
        "labels": dict(sorted(node_class.labels.items())),
        "zone": node_class.zone, "region": node_class.region, "arch": node_class.arch}
    # left out, not null, where the node has none: power, electricity, an offer
    if node_class.power_watts:
        entry["power_w"] = _rounded(node_class.power_watts)
    if node_class.energy_cost:
        entry["energy_usd_h"] = _rounded(node_class.energy_cost)
    entry["provisioned"] = node_class.provisioned
    # USD/h per node in use, electricity included: the objective's cost is their sum
    entry["price"] = _rounded(node_class.price)
    if node_class.provisioned:
        entry["offer"] = node_class.offer
        entry["instance_type"] = node_class.instance_type
    return cast("PlacedNodeFields", entry)


def as_json(problem: Problem, placement: Placement, diagnostics: list[Diagnostic],
            all_nodes: bool = False) -> str:
    """The JSON contract (docs/formats.md), as the typed dicts of `documents.PlacementDocument`
    (`PlacementDocumentFields`, field for field its model, whose JSON Schema docs/schemas/
    publishes; tests/test_documents.py holds them together). `nodes` lists the nodes in use
    and those bought; `all_nodes` lists every node of the fleet (a million-node pool is 190 MB
    of them)."""
    return placement_json(problem, placement, all_nodes).text(diagnostics)


@dataclass(frozen=True)
class PlacementJson:
    """A placement's JSON document, each field dumped, its diagnostics apart: the self-check
    reads it with none (`self_check.broken_rules`) and `fitc solve` prints it with the
    verdict's, so that a placement is dumped once for both (1.2 CPU s at 50,000 nodes)."""
    fields: dict[str, str]  # field -> its lines as `_dumped_field` writes them, in the contract's order

    def text(self, diagnostics: list[Diagnostic]) -> str:
        records = [diagnostic.as_record() for diagnostic in diagnostics]
        fields = self.fields | {"diagnostics": _dumped_field("diagnostics", records)}
        return "{\n" + ",\n".join(fields.values()) + "\n}\n"


def placement_json(problem: Problem, placement: Placement, all_nodes: bool = False) -> PlacementJson:
    """`as_json`'s document, but for its diagnostics (see `PlacementJson`)."""
    demands = {demand.name: demand for demand in problem.demands}
    in_use = None if all_nodes else {a.node for a in placement.assignments}
    listed = listed_nodes(problem, placement) if in_use is None else \
        _nodes_listed(problem, placement, in_use)
    timed = problem.timeline is not None  # per step: the text report's timeline says it
    document: PlacementDocumentFields = {
        "status": placement.status.value,
        "objective": {
            "name": placement.objective, "value": _number(placement.value),
            "lower_bound": _number(placement.bound), "unit": placement.unit,
            "gap": None if placement.gap is None else round(placement.gap, 6),
            "optimality_tolerance": placement.tolerance},
        "nodes": [],  # (dumped below: `_node_lines`)
        "workloads": _workloads(problem),
        "assignments": [_placed_replica(demands[a.workload], a.replica, a.node,
                                        _times(problem, a) if timed else None)
                        for a in placement.assignments],
        "unplaced": [_unplaced(demands[u.workload], u.replica, u.reason)
                     for u in placement.unplaced],
        "diagnostics": [],
        "utilization": [{"pool": u.pool, "resource": u.resource, "capacity": u.capacity,
                         "used": u.used, "stranded": u.stranded}
                        for u in ([] if timed else utilization(problem, placement))],
        "power": [{"scope": p.scope, "cap_kw": _rounded(p.cap_watts / 1000),
                   "used_kw": _rounded(used / 1000)}
                  for p, used in ([] if timed else power_use(problem, placement))]}
    _add_optional(document, problem, placement, timed)
    fields = {key: _dumped_field(key, value) for key, value in document.items()}
    fields["nodes"] = _dumped_lines("nodes", _node_lines(listed))
    return PlacementJson(fields)


def _node_lines(listed: list[tuple[str, NodeClass]]) -> list[str]:
    """Each node's entry (`_node_entry`) as JSON. The nodes of a class differ by their name
    only, where none has a capacity of its own: past its name, an entry is encoded once per
    class (at 50,000 nodes, 27,384 entries in use were 0.25 CPU s to build and dump)."""
    lines = []
    after_name: dict[int, str] = {}  # class -> its entry's JSON past the name
    for name, node_class in listed:
        if name in node_class.node_capacity:
            lines.append(_encoded(_node_entry(name, node_class)))
            continue
        rest = after_name.get(id(node_class))
        if rest is None:
            rest = after_name[id(node_class)] = _encoded(_node_entry("", node_class))[len('{"name": ""'):]
        lines.append('{"name": ' + _encoded(name) + rest)
    return lines


def _add_optional(document: PlacementDocumentFields, problem: Problem, placement: Placement,
                  timed: bool) -> None:
    """The fields left out where the policy has no such rules or prices: latency, energy,
    carbon."""
    latency = latency_reach(problem, placement)
    if latency:
        document["latency"] = [{
            "workload": r.workload, "location": r.location, "limit_ms": _rounded(r.limit_ms),
            "worst_ms": _number(r.worst_ms), "replicas_within": r.replicas_within,
            "replicas_needed": r.needed} for r in latency]
    energy = [] if timed else energy_use(problem, placement)
    if energy:
        document["energy"] = [{
            "scope": e.scope, "price_usd_kwh": _rounded(e.price_kwh),
            "used_kw": _rounded(e.watts / 1000), "cost_usd_h": _rounded(e.cost)}
            for e in energy]
    if timed and any(c.step_carbon for c in problem.classes):
        document["carbon"] = _carbon_use(problem, placement)


def _unplaced(demand: Demand, replica: int, reason: str) -> UnplacedReplicaFields:
    if demand.option is None:
        return {"workload": demand.name, "replica": replica, "reason": reason}
    return {"workload": demand.workload, "option": demand.option, "replica": replica,
            "reason": reason}


def _carbon_use(problem: Problem, placement: Placement) -> CarbonUseFields:
    """kgCO2e over the horizon, and the budget where the policy states one."""
    from fitlang.solve.timeline import horizon_value

    emitted = horizon_value(problem, placement.assignments, "carbon")  # type: ignore[arg-type]
    used: CarbonUseFields = {"emitted_kg_co2e": _rounded(emitted)}
    if problem.carbon_budget is not None:
        used["budget_kg_co2e"] = _rounded(problem.carbon_budget)
    return used


def _dumped_field(key: str, value: object) -> str:
    """A field of the document, indented, with each list item on one line: as readable as
    `indent=2`, and written by the C encoder, which `indent` turns off (1 s of 5 for 20,000
    assignments)."""
    if isinstance(value, list):
        return _dumped_lines(key, [_encoded(item) for item in value])
    return f"  {_encoded(key)}: {_encoded(value)}"


def _dumped_lines(key: str, items: list[str]) -> str:
    """A list field of the document, its items given encoded, one a line."""
    if not items:
        return f"  {_encoded(key)}: []"
    lines = ",\n".join(f"    {item}" for item in items)
    return f"  {_encoded(key)}: [\n{lines}\n  ]"


def _encoded(value: object) -> str:
    """`json.dumps(value)`. json.dumps makes a C encoder per call; made once here, a list of
    40,000 items is dumped in 60% of the time."""
    if _C_ENCODER is None:
        return json.dumps(value)
    return "".join(_C_ENCODER(value, 0))


# json.dumps's own encoder with its settings (`json.JSONEncoder.iterencode`), but no check for
# circular references (a document is a tree; a check's shared state would race in threads)
_C_ENCODER = None if c_make_encoder is None else c_make_encoder(
    None, json.JSONEncoder().default, encode_basestring_ascii, None, ": ", ", ", False, False, True)


def _allocatable_lines(problem: Problem, per_node: dict[str, dict[str, int]]) -> list[str]:
    """For bought nodes in use: what their kubelet keeps, so what pods get of the machine, and
    what of that the DaemonSets keep."""
    lines = []
    owners = problem.owners()
    in_use = {id(owners[n]) for n in per_node if n in owners}
    for node_class in problem.classes:
        if not node_class.reserved or id(node_class) not in in_use:
            continue
        machine, daemons = node_class.machine, node_class.daemons
        pods = {r: node_class.capacity[r] + node_class.daemons_keep(r) for r in ("cpu", "memory")}
        lines.append(f"allocatable {node_class.id}: {pods['cpu'] / 1000:g} CPU, "
                     f"{pods['memory'] / 2 ** 30:.4g} GiB of {machine['cpu'] / 1000:g} CPU, "
                     f"{machine['memory'] / 2 ** 30:.4g} GiB (kubelet reservation)"
                     + (f"; DaemonSets keep {daemons.cpu_milli / 1000:g} CPU, "
                        f"{daemons.memory / 2 ** 30:.4g} GiB and {plural(daemons.pods, 'pod')} of it"
                        if daemons != Kept() else ""))
    return lines + [""] if lines else []


SHOWN_PER_POOL = 12  # workloads named per pool in the text report; the JSON has them all


def _listed(items: list[str]) -> str:
    if len(items) <= SHOWN_PER_POOL:
        return ", ".join(items)
    return ", ".join(items[:SHOWN_PER_POOL]) + f" and {len(items) - SHOWN_PER_POOL} more workloads"


def as_text(problem: Problem, placement: Placement) -> str:
    if problem.timeline is not None:
        from fitlang.solve.timeline_report import timed_text

        return timed_text(problem, placement)
    lines = [f"status: {placement.status} (solver: {placement.backend}, "
             f"{placement.seconds:.2f} s)", ""]
    per_node: dict[str, dict[str, int]] = {}
    for assignment in placement.assignments:
        hosted = per_node.setdefault(assignment.node, {})
        hosted[assignment.workload] = hosted.get(assignment.workload, 0) + 1
    rows, total_cost = _pool_rows(problem, per_node)
    lines += ["no node in use"] if len(rows) == 1 else _aligned(rows, header=True)
    lines.append("")
    lines += _allocatable_lines(problem, per_node)
    lines += _placed_lines(problem, placement)
    lines += _cost_lines(placement, total_cost)
    lines += [f"unplaced: {unplaced}" for unplaced in _grouped_unplaced(placement)]
    lines += _dimension_lines(problem, placement)
    lines += _utilization_lines(problem, placement)
    return "\n".join(lines) + "\n"


def _pool_rows(problem: Problem, per_node: dict[str, dict[str, int]]
               ) -> tuple[list[tuple[str, ...]], Fraction]:
    """A row per class in use (its nodes used, price, what runs there) and the cost of them all."""
    rows: list[tuple[str, ...]] = [("pool", "nodes used", "price/node", "runs")]
    total_cost = Fraction(0)
    owners = problem.owners()
    used_of: dict[int, list[str]] = {}  # by class: its nodes in use, looked up by name
    for node in per_node:
        if node in owners:
            used_of.setdefault(id(owners[node]), []).append(node)
    for node_class in problem.classes:
        used = owners.in_class_order(used_of.get(id(node_class), []))
        if not used:
            continue
        runs: dict[str, int] = {}
        for node in used:
            for workload, count in per_node[node].items():
                runs[workload] = runs.get(workload, 0) + count
        bought = _bought(node_class)
        # a bought class's count is a modelling cap, not a size: no total to show beside it
        shown = f"{len(used)}" if node_class.provisioned else f"{len(used)}/{node_class.count}"
        rows.append((node_class.id + bought, shown,
                     f"{float(node_class.price):.2f} USD/h",
                     _listed([f"{w} x{n}" for w, n in sorted(runs.items())])))
        total_cost += node_class.price * len(used)
    return rows, total_cost


def _bought(node_class: NodeClass) -> str:
    """What a class's label says of buying: a spot buy pays on-demand where its offer states no
    spot price (a region of `region_prices`), so the label says which it got."""
    if not node_class.provisioned:
        return ""
    return " (buy, spot)" if node_class.spot else " (buy)"


def _placed_lines(problem: Problem, placement: Placement) -> list[str]:
    """Replicas placed against those wanted, and what each option group delivers."""
    delivered = throughput_delivered(problem, placement)
    wanted = sum(d.replicas for d in problem.demands if d.group is None)
    wanted += sum(_group_replicas(problem, group, placement) for group in problem.option_groups)
    lines = [f"replicas placed: {len(placement.assignments)}/{wanted}"]
    for group in problem.option_groups:
        chosen = ", ".join(f"{d.option} x{n}" for d, n in delivered[group.workload] if n)
        options = [d for d, _ in delivered[group.workload]]
        if all(d.throughput * d.replicas == 1 for d in options):  # sized in replicas
            need = " or ".join(f"{d.replicas} x {d.option}" for d in options)
            lines.append(f"options {group.workload}: {chosen or 'nothing placed'} (needs {need})")
            continue
        total = sum((d.throughput * n for d, n in delivered[group.workload]), Fraction(0))
        lines.append(f"throughput {group.workload}: {float(total):g} of {float(group.required):g} "
                     f"needed ({chosen or 'nothing placed'})")
    return lines


def _cost_lines(placement: Placement, total_cost: Fraction) -> list[str]:
    """The cost, and the objective with its bound and gap where the placement is whole."""
    complete = placement.status in (Status.OPTIMAL, Status.FEASIBLE)
    lines = []
    if complete:
        lines.append(f"cost: {float(total_cost):.2f} USD/h")
    elif placement.assignments:  # the best partial placement: its cost, but no bound or gap
        lines.append(f"cost of what is placed: {float(total_cost):.2f} USD/h")
    if placement.value is not None and complete:
        bound = "unknown" if placement.bound is None else f"{float(placement.bound):.4f}"
        gap = "unknown" if placement.gap is None else f"{placement.gap:.2%}"
        lines.append(f"objective: {placement.objective} = {float(placement.value):.4f} "
                     f"{placement.unit}; lower bound {bound}; gap {gap} (optimal means a gap "
                     f"within {placement.tolerance:.2%})")
    return lines


def _dimension_lines(problem: Problem, placement: Placement) -> list[str]:
    """Power used against each cap, latency reached, and electricity's share of the cost."""
    lines = []
    for cap, used in power_use(problem, placement):
        lines.append(f"power {cap.name} ({cap.scope}): {float(used) / 1000:.1f} kW used of "
                     f"{float(cap.cap_watts) / 1000:.1f} kW, "
                     f"{float(cap.cap_watts - used) / 1000:.1f} kW left")
    for row in latency_reach(problem, placement):
        worst = "unknown" if row.worst_ms is None else f"{float(row.worst_ms):g} ms"
        lines.append(f"latency {row.workload} from {row.location}: {row.replicas_within} "
                     f"replica{'s' if row.replicas_within != 1 else ''} within "
                     f"{float(row.limit_ms):g} ms (needs {row.needed}); worst case {worst}")
    for energy in energy_use(problem, placement):
        lines.append(f"electricity ({energy.scope}): {float(energy.watts) / 1000:.1f} kW at "
                     f"{float(energy.price_kwh):g} USD/kWh = {float(energy.cost):.2f} USD/h of the cost")
    return lines


def _aligned(rows: list[tuple[str, ...]], header: bool = False, indent: str = "") -> list[str]:
    """Columns as wide as their widest cell, however long a pool's name."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for index, row in enumerate(rows):
        lines.append(indent + "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if header and index == 0:
            lines.append(indent + "  ".join("-" * w for w in widths))
    return lines


def _utilization_lines(problem: Problem, placement: Placement) -> list[str]:
    """Utilization by the rows of the pool table (each class of nodes, bought ones by offer and
    region), in its order."""
    found = utilization(problem, placement, by_class=True)
    if not found:
        return []
    devices = {c.id: _device_word(c) for c in problem.classes}
    order = {c.id: index for index, c in enumerate(problem.classes)}
    labels = {c.id: c.id + _bought(c) for c in problem.classes}
    rows: list[tuple[str, ...]] = []
    for row in sorted(found, key=lambda r: (order.get(r.pool, len(order)), RESOURCES.index(r.resource))):
        share = row.used / row.capacity if row.capacity else 0.0
        word = devices.get(row.pool, "GPU")
        stranded = f", stranded {_amount(row.resource, row.stranded, word)}" if row.stranded else ""
        rows.append((labels.get(row.pool, row.pool), row.resource,
                     f"{_amount(row.resource, row.used, word)} of "
                     f"{_amount(row.resource, row.capacity, word)} ({share:.0%}){stranded}"))
    return ["", "utilization of the nodes in use (stranded: free, but no replica fits beside "
                "what is full):", *_aligned(rows, indent="  ")]


def throughput_delivered(problem: Problem, placement: Placement) -> dict[str, list[tuple[Demand, int]]]:
    """Option group -> (option demand, replicas placed), in the policy's option order."""
    placed: dict[str, int] = {}
    for assignment in placement.assignments:
        placed[assignment.workload] = placed.get(assignment.workload, 0) + 1
    return {g.workload: [(problem.demand(n), placed.get(n, 0)) for n in g.demands]
            for g in problem.option_groups}


def _group_replicas(problem: Problem, group, placement: Placement) -> int:
    """Replicas an option group wants: those placed, or, when it is unplaced, those of the
    first option (as `unplaced` lists them)."""
    placed = sum(1 for a in placement.assignments if a.workload in group.demands)
    return placed or problem.demand(group.demands[0]).replicas


def _device_word(node_class) -> str:
    """What a pool's accelerators are called: GPUs, TPU chips, Trainium chips, ..."""
    family = node_class.accelerator.family if node_class.accelerator is not None else "gpu"
    return {"gpu": "GPU", "tpu": "TPU chip", "trainium": "Trainium chip",
            "inferentia": "Inferentia chip"}.get(family, "accelerator")


def _amount(resource: str, value: int, device: str = "GPU") -> str:
    if resource == "cpu":
        return f"{value / 1000:,.10g} CPU"
    if resource in ("memory", "disk"):
        gib = value / 2 ** 30
        return f"{gib:,.0f} GiB" if gib >= 1000 else f"{gib:.4g} GiB"
    return f"{value} {device}{'s' if value != 1 else ''}"


def power_use(problem: Problem, placement: Placement):
    """(cap, watts drawn by the nodes in use in its scope) for every power cap."""
    in_use = classes_in_use(problem, placement) if problem.power_caps else []
    result = []
    for cap in problem.power_caps:
        scope = set(cap.classes)
        drawn = sum((c.power_watts * count for c, count in in_use if c.id in scope), Fraction(0))
        result.append((cap, drawn))
    return result


def classes_in_use(problem: Problem, placement: Placement) -> list[tuple[NodeClass, int]]:
    """(class, its nodes that host a replica or are bought), for each class with any: a sum
    over nodes is a product per class (exact in Fractions; a sum per node was 0.15 CPU s of
    the report at 50,000 nodes)."""
    owner = problem.owners()
    used = {a.node for a in placement.assignments}
    used |= {n for names in placement.bought.values() for n in names}
    counts: dict[int, tuple[NodeClass, int]] = {}
    for name in used:
        node_class = owner[name]
        _, count = counts.get(id(node_class), (node_class, 0))
        counts[id(node_class)] = node_class, count + 1
    return list(counts.values())


@dataclass
class LatencyReach:
    workload: str
    location: str
    limit_ms: Fraction
    needed: int
    replicas_within: int
    # the round trip to the `needed`-th nearest placed replica: within it, users in the location
    # reach as many replicas as the rule asks for (None: fewer run where the round trip is known)
    worst_ms: Fraction | None


def latency_reach(problem: Problem, placement: Placement) -> list[LatencyReach]:
    owner = problem.owners()
    rows: list[LatencyReach] = []
    groups = problem.latency_demands()
    if not groups:
        return rows
    # the assignments grouped once: a pass over all of them per workload was 2 s at 50,000 nodes
    nodes_of: dict[str, list[str]] = {}
    for assignment in placement.assignments:
        nodes_of.setdefault(assignment.workload, []).append(assignment.node)
    for members in groups:
        nodes = [owner[node] for demand in members for node in nodes_of.get(demand.name, ())]
        for rule in members[0].latency:
            known = sorted(ms for ms in (problem.latency_ms(rule.location, c) for c in nodes)
                           if ms is not None)
            worst = known[rule.replicas - 1] if len(known) >= rule.replicas else None
            within = sum(1 for ms in known if ms <= rule.limit_ms)
            rows.append(LatencyReach(members[0].workload, rule.location, rule.limit_ms,
                                     rule.replicas, within, worst))
    return rows


@dataclass
class EnergyUse:
    scope: str
    price_kwh: Fraction
    watts: Fraction = Fraction(0)  # drawn by the nodes in use in the scope
    cost: Fraction = Fraction(0)  # USD/h


def energy_use(problem: Problem, placement: Placement) -> list[EnergyUse]:
    """Per `electricity` scope: the power its nodes in use draw, and what it costs per hour."""
    scopes: dict[str, EnergyUse] = {}
    for node_class in problem.classes:
        if node_class.energy_scope is not None and node_class.energy_price_kwh is not None:
            scopes.setdefault(node_class.energy_scope,
                              EnergyUse(node_class.energy_scope, node_class.energy_price_kwh))
    for node_class, count in classes_in_use(problem, placement) if scopes else []:
        if node_class.energy_scope is not None:
            row = scopes[node_class.energy_scope]
            row.watts += node_class.power_watts * count
            row.cost += node_class.energy_cost * count
    return [scopes[key] for key in sorted(scopes)]


def _grouped_unplaced(placement: Placement) -> list[str]:
    groups: dict[tuple[str, str], int] = {}
    for item in placement.unplaced:
        groups[item.workload, item.reason] = groups.get((item.workload, item.reason), 0) + 1
    return [f"{workload} x{count}: {reason}" for (workload, reason), count in groups.items()]


def _times(problem: Problem, assignment: object) -> tuple[str, str] | None:
    """With a horizon: when the replica starts and ends (`timeline.TimedAssignment`)."""
    if problem.timeline is None or not hasattr(assignment, "start"):
        return None
    from fitlang.solve.timeline import instant, iso

    start, end = assignment.start, assignment.end  # type: ignore[attr-defined]
    return iso(instant(problem.timeline, start)), iso(instant(problem.timeline, end))
