"""An independent reference for `fitc solve`: random small policies and a per-node CP-SAT model.

Nothing here imports `fitlang.solve` or `fitlang.model`: a `Spec` is plain data that the
generator writes out as `.fit` text for fitc and reads itself into OR-tools CP-SAT, one
variable per (workload, node), with every rule restated from docs/language.md:

- capacity: CPU, memory and GPUs per node; a node is used when it hosts a replica; cost is the
  price of the used (and bought) nodes. A bought node (an `aws` offer, no `max_pods`) offers
  pods its allocatable: the EKS kubelet reservation taken off, as docs/language.md states it.
- eligibility: `labels`, `zones`, `residency` (the node's jurisdiction, from its region block),
  the `gpu` block (an accelerator, `require memory >= X`, an option's model).
- `spread T max_skew K`: over the domains of T among the nodes the workload may use (a node
  where one replica fits and every rule of the workload allows), counts lie in
  [least, least + K]; a domain of offers exists only where a node is bought; a node without a
  value for T is not one the workload may use. With `min_domains M`, while fewer than M of
  those domains exist the least is 0 (Kubernetes' `minDomains`).
- `affinity W on T`, `anti_affinity W on T`, `anti_affinity self on T`, `exclusive`, `gang`
  (all or none, in one cluster: pools in "default", bought nodes in "aws-REGION"),
  `latency`, `budget`, `buy` with `max_count`, `power_cap` per zone, accelerator `option`s.
- priorities: when not everything fits and `allow_unplaced` is set, each priority level,
  highest first, places as many replicas as it can (a gang whole or not at all), then the cost
  is minimised. Without `allow_unplaced` a policy either places everything or is infeasible.

`bench/differential.py` runs it on many seeds; tests/test_differential.py on a fixed few.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field, replace
from fractions import Fraction

ACCELERATORS = {"G80": 80, "G24": 24}  # device memory in GB
REGIONS = {"r1": "EU", "r2": "US"}  # region code -> jurisdiction
ROUND_TRIP = {"r1": 5, "r2": 40}  # ms from the one user location, `users`
ZONES = {"z1": "r1", "z2": "r1", "z3": "r2"}  # zone -> region


@dataclass
class Pool:
    name: str
    count: int
    cpu: int  # cores
    memory: int  # GiB
    price: int  # cents per hour
    gpu_model: str | None = None
    gpus: int = 0
    zone: str | None = None
    region: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    power: int = 0  # W
    dedicated: str | None = None  # only workloads that tolerate it may run here
    taints: list[tuple[str, str]] = field(default_factory=list)  # (key, value), NoSchedule
    # read from `kubectl get nodes -o json` (`inventory_files`): with `off` more nodes cordoned
    # or not Ready, which fitc leaves out (the reference never sees them)
    kubectl: bool = False
    off: int = 0
    taint_effect: str = "NoSchedule"  # or NoExecute: either keeps pods off
    soft_taints: list[tuple[str, str]] = field(default_factory=list)  # PreferNoSchedule: no rule
    in_block: bool = False  # zone, region and labels stated by the inventory block, not per node


@dataclass
class Offer:
    name: str
    regions: list[str]
    cpu: int
    memory: int
    price: int


@dataclass
class Buy:
    offers: list[str]
    regions: list[str] | None
    max_count: int


@dataclass
class Workload:
    name: str
    replicas: int
    cpu_milli: int
    # GiB (a Fraction of whole MiB once explain lowers it to what a node has:
    # tests/reference_explain.py)
    memory: int | Fraction
    gpus: int = 0
    gpu_min_memory: int | None = None  # GB
    options: list[tuple[str, int]] | None = None  # (model, replicas alone)
    labels: dict[str, str] = field(default_factory=dict)
    zones: list[str] | None = None
    residency: list[str] | None = None
    priority: int = 0
    gang: bool = False
    exclusive: bool = False
    spreads: list[tuple[str, int]] = field(default_factory=list)  # (topology, max_skew)
    min_domains: dict[str, int] = field(default_factory=dict)  # topology -> its spread's, above 1
    rules: list[tuple[str, str, bool]] = field(default_factory=list)  # (target, topology, anti)
    latency: tuple[int, int] | None = None  # (within ms, replicas)
    tolerate: list[str] = field(default_factory=list)  # a dedicated value, a taint's key or key=value
    requires: list[tuple[str, list[str]]] = field(default_factory=list)  # label key in values
    # soft: (label key, value, weight); the default objective is cost, so they only break its
    # ties and the optimum stays the reference's
    prefers: list[tuple[str, str, int]] = field(default_factory=list)


@dataclass
class Spec:
    pools: list[Pool]
    workloads: list[Workload]
    offers: list[Offer] = field(default_factory=list)
    buys: list[Buy] = field(default_factory=list)
    budget: int | None = None  # cents per hour
    allow_unplaced: bool = False
    power_caps: list[tuple[str, int]] = field(default_factory=list)  # (zone, W)
    kinds: set[str] = field(default_factory=set)  # rule kinds the policy uses, for counting


# ---- the generator -----------------------------------------------------------------


def generate(seed: int | random.Random) -> Spec:
    """A random small policy; `seed` may be a `random.Random` (hypothesis draws one)."""
    rng = seed if isinstance(seed, random.Random) else random.Random(seed)
    kinds = {"capacity"}
    pools = []
    for index in range(rng.randint(1, 3)):
        zone = rng.choice([None, "z1", "z2", "z3"])
        region = ZONES[zone] if zone else rng.choice([None, "r1", "r2"])
        gpu = rng.random() < 0.3
        pool = Pool(f"p{index}", rng.randint(1, 3), rng.choice([2, 4, 8]), rng.choice([8, 16, 32]),
                    rng.choice([50, 100, 150, 300]), zone=zone, region=region,
                    power=rng.choice([200, 400]))
        if gpu:
            pool.gpu_model, pool.gpus = rng.choice(list(ACCELERATORS)), rng.choice([1, 2])
        if rng.random() < 0.4:
            pool.labels = {"tier": rng.choice(["gold", "silver"])}
        pools.append(pool)
    offers, buys = [], []
    if rng.random() < 0.35:
        kinds.add("buy")
        offers.append(Offer("o0", rng.sample(sorted(REGIONS), rng.randint(1, 2)),
                            rng.choice([2, 4]), 16, rng.choice([80, 120, 400])))
        buys.append(Buy(["o0"], rng.choice([None, [offers[0].regions[0]]]), rng.randint(1, 3)))
    workloads: list[Workload] = []
    count = rng.randint(1, 3)
    for index in range(count):
        workload = Workload(f"w{index}", rng.randint(1, 4), rng.choice([500, 1000, 2000, 3000]),
                            rng.choice([1, 2, 4, 8]))
        roll = rng.random()
        gpu_pools = [p for p in pools if p.gpus]
        if gpu_pools and roll < 0.35:
            kinds.add("gpu")
            workload.gpus = 1
            if rng.random() < 0.5:
                workload.gpu_min_memory = 40
        elif gpu_pools and roll < 0.5:
            kinds.add("options")
            workload.gpus = 1
            workload.options = [("G80", rng.randint(1, 2)), ("G24", rng.randint(2, 3))]
            workload.replicas = workload.options[0][1]
        _rules(rng, workload, workloads, kinds)
        workloads.append(workload)
    _no_exclusive_beside_node_affinity(workloads, kinds)
    spec = Spec(pools, workloads, offers, buys, kinds=kinds)
    # an option workload counts its own way when priorities decide (fitc: as its fewest
    # replicas): the generator leaves the two apart
    if rng.random() < 0.4 and not any(w.options for w in workloads):
        kinds.add("allow_unplaced")
        spec.allow_unplaced = True
        for workload in workloads:
            workload.priority = rng.choice([0, 5, 10])
            if workload.priority:
                kinds.add("priority")
    if rng.random() < 0.2:
        kinds.add("budget")
        spec.budget = rng.choice([100, 200, 400])
    zones = sorted({p.zone for p in pools if p.zone})
    if zones and rng.random() < 0.2:
        kinds.add("power cap")
        spec.power_caps = [(rng.choice(zones), rng.choice([400, 800]))]
    return spec


def _no_exclusive_beside_node_affinity(workloads: list[Workload], kinds: set[str]) -> None:
    """`exclusive` on either side of an `affinity ... on node` is refused by the checker
    (E0413: no node can hold both), so the generator drops the `exclusive` (no draw, so the
    other seeds keep their policies)."""
    by_name = {w.name: w for w in workloads}
    for workload in workloads:
        for target, topology, anti in workload.rules:
            if topology == "node" and not anti and target in by_name:
                workload.exclusive = by_name[target].exclusive = False
    if not any(w.exclusive for w in workloads):
        kinds.discard("exclusive")


def _side(rng: random.Random) -> random.Random:
    """A generator seeded by `rng`'s state, which draws nothing from it."""
    state = rng.getstate()  # (a generator of hypothesis's has a state of its own kind)
    return random.Random(str(state[1][:8] if isinstance(state, tuple) else state))


def _near_options(side: random.Random, workload: Workload, earlier: list[Workload],
                  kinds: set[str]) -> None:
    """Now and then an affinity towards an earlier option workload: near a replica of any of
    its options (session 36), drawn from `side` so every other seed's policy stays as it was."""
    options = [w for w in earlier if w.options is not None]
    if options and side.random() < 0.3:
        kinds.add("affinity to options")
        workload.rules.append((side.choice(options).name, side.choice(["node", "zone"]), False))


def _rules(rng: random.Random, workload: Workload, earlier: list[Workload], kinds: set[str]) -> None:
    """Rules on one workload. Option workloads take only `anti_affinity self` over zones or
    regions, counted over every option, drawn apart from `rng` (`_side`), so that every other
    seed's policy stays as it was; other workloads may follow one (`_near_options`)."""
    if workload.options is not None:
        side = _side(rng)
        if side.random() < 0.3:
            kinds.add("options apart")
            workload.rules.append(("self", side.choice(["zone", "region"]), True))
        return
    _near_options(_side(rng), workload, earlier, kinds)
    if rng.random() < 0.2:
        kinds.add("labels")
        workload.labels = {"tier": rng.choice(["gold", "silver"])}
    if rng.random() < 0.2:
        kinds.add("zones")
        workload.zones = rng.sample(sorted(ZONES), rng.randint(1, 2))
    elif rng.random() < 0.15:
        kinds.add("residency")
        workload.residency = [rng.choice(["EU", "US"])]
    if rng.random() < 0.25:
        kinds.add("spread")
        workload.spreads.append((rng.choice(["node", "node", "zone", "region"]), rng.randint(1, 2)))
        _draw_min_domains(workload, rng, kinds)
    targets = [w for w in earlier if w.options is None]
    if rng.random() < 0.3:
        anti = rng.random() < 0.6
        target = "self" if anti and (not targets or rng.random() < 0.5) else \
            (rng.choice(targets).name if targets else None)
        if target is not None:
            kinds.add("anti-affinity" if anti else "affinity")
            workload.rules.append((target, rng.choice(["node", "zone"]), anti))
    if rng.random() < 0.15:
        kinds.add("gang")
        workload.gang = True
    if rng.random() < 0.1:
        kinds.add("exclusive")
        workload.exclusive = True
    if rng.random() < 0.15:
        kinds.add("latency")
        workload.latency = (rng.choice([10, 50]), rng.randint(1, min(2, workload.replicas)))


def to_fit(spec: Spec) -> str:
    out = []
    for model, memory in ACCELERATORS.items():
        out.append(f"accelerator {model} {{\n  vendor = nvidia\n  memory = {memory}GB\n}}")
    for code, jurisdiction in REGIONS.items():
        out.append(f'region reg_{code} {{\n  code = "{code}"\n  jurisdiction = {jurisdiction}\n}}')
    out.append('location users {\n  city = "Somewhere"\n}')
    out.append("latency {\n  from = users\n  to = { "
               + ", ".join(f"reg_{c}: {ms}ms" for c, ms in ROUND_TRIP.items()) + " }\n}")
    for pool in spec.pools:
        if pool.kubectl:
            out.append(_inventory_text(pool))
            continue
        lines = [f"pool {pool.name} {{", f"  count = {pool.count}", f"  cpu = {pool.cpu}",
                 f"  memory = {pool.memory}GiB", f"  price = {_money(pool.price)} USD/h",
                 f"  power = {pool.power}W"]
        if pool.gpus:
            lines += ["  gpu {", f"    model = {pool.gpu_model}", f"    count = {pool.gpus}", "  }"]
        if pool.zone:
            lines.append(f'  zone = "{pool.zone}"')
        if pool.region:
            lines.append(f'  region = "{pool.region}"')
        if pool.labels:
            lines.append("  labels = { " + ", ".join(f'{k}: "{v}"' for k, v in pool.labels.items()) + " }")
        if pool.dedicated is not None:
            lines.append(f'  dedicated = "{pool.dedicated}"')
        out.append("\n".join(lines + ["}"]))
    for offer in spec.offers:
        out.append(f'offer {offer.name} {{\n  provider = aws\n  instance_type = "t.{offer.name}"\n'
                   f"  regions = [{', '.join(_quoted(offer.regions))}]\n  cpu = {offer.cpu}\n"
                   f"  memory = {offer.memory}GiB\n  price = {_money(offer.price)} USD/h\n}}")
    for index, buy in enumerate(spec.buys):
        lines = [f"buy b{index} {{", f"  offers = [{', '.join(buy.offers)}]",
                 f"  max_count = {buy.max_count}"]
        if buy.regions is not None:
            lines.append(f"  regions = [{', '.join(_quoted(buy.regions))}]")
        out.append("\n".join(lines + ["}"]))
    for workload in spec.workloads:
        out.append(_workload_text(workload))
    for index, (zone, watts) in enumerate(spec.power_caps):
        out.append(f'power_cap cap{index} {{\n  zone = "{zone}"\n  cap = {watts}W\n}}')
    policy = []
    if spec.budget is not None:
        policy.append(f"  budget = {_money(spec.budget)} USD/h")
    if spec.allow_unplaced:
        policy.append("  allow_unplaced = true")
    if policy:
        out.append("policy {\n" + "\n".join(policy) + "\n}")
    return "\n".join(out) + "\n"


def _gib(memory: int | Fraction) -> str:
    """A workload's memory as a size literal: whole GiB, else whole MiB."""
    return f"{memory}GiB" if memory == int(memory) else f"{memory * 1024}MiB"


def _workload_text(workload: Workload) -> str:
    lines = [f"workload {workload.name} {{", f"  cpu = {workload.cpu_milli}m",
             f"  memory = {_gib(workload.memory)}"]
    if workload.options is None:
        lines.insert(1, f"  replicas = {workload.replicas}")
    if workload.gpus:
        lines += ["  gpu {", f"    count = {workload.gpus}"]
        if workload.gpu_min_memory is not None:
            lines.append(f"    require memory >= {workload.gpu_min_memory}GB")
        for model, replicas in workload.options or []:
            lines += [f"    option {model} {{", f"      replicas = {replicas}", "    }"]
        lines.append("  }")
    if workload.labels:
        lines.append("  labels = { " + ", ".join(f'{k}: "{v}"' for k, v in workload.labels.items()) + " }")
    if workload.zones is not None:
        lines.append(f"  zones = [{', '.join(_quoted(workload.zones))}]")
    if workload.residency is not None:
        lines.append(f"  residency = [{', '.join(workload.residency)}]")
    if workload.tolerate:
        lines.append(f"  tolerate = [{', '.join(_quoted(workload.tolerate))}]")
    for key, values in workload.requires:
        lines.append(f'  require labels["{key}"] in [{", ".join(_quoted(values))}]')
    for key, value, weight in workload.prefers:
        lines.append(f'  prefer labels["{key}"] == "{value}" weight {weight}')
    if workload.priority:
        lines.append(f"  priority = {workload.priority}")
    if workload.gang:
        lines.append("  gang = true")
    if workload.exclusive:
        lines.append("  exclusive = true")
    for topology, skew in workload.spreads:
        least = workload.min_domains.get(topology, 1)
        lines.append(f"  spread {topology} max_skew {skew}" + (f" min_domains {least}" if least > 1 else ""))
    for target, topology, anti in workload.rules:
        lines.append(f"  {'anti_affinity' if anti else 'affinity'} {target} on {topology}")
    if workload.latency is not None:
        within, replicas = workload.latency
        lines += ["  latency {", "    users = [users]", f"    within = {within}ms",
                  f"    replicas = {replicas}", "  }"]
    return "\n".join(lines + ["}"])


def _inventory_text(pool: Pool) -> str:
    """A pool read from a kubectl file (`inventory_files` writes it beside the policy): its
    price and `dedicated` stated by the inventory block, the rest by each node."""
    lines = [f"inventory {pool.name} {{", "  format = kubectl", f'  file = "{inventory_file(pool)}"',
             f"  price = {_money(pool.price)} USD/h"]
    if pool.dedicated is not None:
        lines.append(f'  dedicated = "{pool.dedicated}"')
    if pool.in_block:
        lines += [f'  {key} = "{value}"' for key, value in (("zone", pool.zone), ("region", pool.region))
                  if value]
        if pool.labels:
            lines.append("  labels = { " + ", ".join(f'{k}: "{v}"' for k, v in pool.labels.items()) + " }")
    return "\n".join(lines + ["}"])


def inventory_file(pool: Pool) -> str:
    """The kubectl file's name: one per content, so that policies sharing a directory never
    read each other's."""
    import hashlib

    return f"kubectl-{pool.name}-{hashlib.sha1(repr(pool).encode()).hexdigest()[:12]}.json"


def inventory_files(spec: Spec) -> dict[str, str]:
    """`kubectl get nodes -o json` for each kubectl pool, by file name: its nodes Ready and
    schedulable, then its `off` nodes, cordoned and not Ready by turns."""
    import json

    files = {}
    for pool in (p for p in spec.pools if p.kubectl):
        items = [_kubectl_node(pool, f"{pool.name}-{i}", None) for i in range(pool.count)]
        items += [_kubectl_node(pool, f"{pool.name}-off-{i}", ("cordoned", "not ready")[i % 2])
                  for i in range(pool.off)]
        files[inventory_file(pool)] = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
    return files


def _kubectl_node(pool: Pool, name: str, off: str | None) -> dict:
    labels = {} if pool.in_block else dict(pool.labels)
    if pool.zone and not pool.in_block:
        labels["topology.kubernetes.io/zone"] = pool.zone
    if pool.region and not pool.in_block:
        labels["topology.kubernetes.io/region"] = pool.region
    spec: dict = {"taints": [{"key": k, "value": v, "effect": pool.taint_effect} for k, v in pool.taints]
                  + [{"key": k, "value": v, "effect": "PreferNoSchedule"} for k, v in pool.soft_taints]}
    if off == "cordoned":
        spec["unschedulable"] = True
    ready = "False" if off == "not ready" else "True"
    allocatable = {"cpu": str(pool.cpu), "memory": f"{pool.memory}Gi", "pods": "110"}
    if pool.gpus:  # GPU feature discovery's product label names the model
        allocatable["nvidia.com/gpu"] = str(pool.gpus)
        labels["nvidia.com/gpu.product"] = str(pool.gpu_model)
    return {"kind": "Node", "metadata": {"name": name, "labels": labels}, "spec": spec,
            "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": ready}]}}


def _money(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"


def _quoted(items: list[str]) -> list[str]:
    return [f'"{item}"' for item in items]


# ---- the reference model ----------------------------------------------------------------


@dataclass
class Node:
    name: str
    cpu_milli: int
    memory: int  # MiB
    gpus: int
    gpu_model: str | None
    zone: str | None
    region: str | None
    labels: dict[str, str]
    price: int
    power: int
    buy: int | None = None  # the index of the `buy` block it would be bought through
    # docs/language.md, Clusters: a pool's nodes are in "default"; bought capacity (no
    # `terraform` block here) in the provider's cluster of its region, "aws-REGION"
    cluster: str = "default"
    dedicated: str | None = None
    taints: tuple[tuple[str, str, str], ...] = ()  # (key, value, effect)

    def topology(self, key: str) -> str | None:
        return {"node": self.name, "zone": self.zone, "region": self.region}[key]


@dataclass
class Answer:
    feasible: bool  # every replica placed (or, with allow_unplaced, an answer at all)
    cost: Fraction | None = None  # USD/h
    placed_by_level: dict[int, int] = field(default_factory=dict)
    # (workload, option or None, node) -> replicas
    placement: dict[tuple[str, str | None, str], int] = field(default_factory=dict)
    bought: list[str] = field(default_factory=list)
    decided: bool = True  # False when CP-SAT ran out of time


def eks_allocatable(cores: int, memory_gib: int) -> tuple[int, int]:
    """(millicores, MiB) pods get on an EKS node, from docs/language.md's table: CPU 6% of the
    first core, 1% of the second, 0.5% of the third and fourth, 0.25% of each above (rounded
    down); memory 11 MiB x 110 pods (nodeadm's default) + 255 MiB, and 100 MiB to eviction."""
    reserved = (60 * min(cores, 1) + 10 * min(max(cores - 1, 0), 1)
                + 5 * min(max(cores - 2, 0), 2) + (25 * max(cores - 4, 0)) // 10)
    return cores * 1000 - reserved, memory_gib * 1024 - (11 * 110 + 255 + 100)


def nodes_of(spec: Spec) -> list[Node]:
    nodes = [Node(f"{p.name}-{i}", p.cpu * 1000, p.memory * 1024, p.gpus, p.gpu_model, p.zone, p.region,
                  dict(p.labels), p.price, p.power, dedicated=p.dedicated,
                  taints=tuple((k, v, p.taint_effect) for k, v in p.taints))
             for p in spec.pools for i in range(p.count)]
    for index, buy in enumerate(spec.buys):
        for offer in (o for o in spec.offers if o.name in buy.offers):
            for region in offer.regions:
                if buy.regions is None or region in buy.regions:
                    nodes += [Node(f"{offer.name}-{region}-{i}",
                                   *eks_allocatable(offer.cpu, offer.memory), 0,
                                   None, None, region, {}, offer.price, 0, index, f"aws-{region}")
                              for i in range(buy.max_count)]
    return nodes


def _may_use(workload: Workload, node: Node, model: str | None) -> bool:
    """Every hard rule of the workload on the node, and room for one replica."""
    if any(node.labels.get(k) != v for k, v in workload.labels.items()):
        return False
    if any(node.labels.get(k) not in values for k, values in workload.requires):
        return False
    if not _tolerated(workload.tolerate, node, workload.gpus > 0):
        return False
    if workload.zones is not None and node.zone not in workload.zones:
        return False
    if workload.residency is not None and REGIONS.get(node.region) not in workload.residency:
        return False
    if workload.gpus:
        if node.gpu_model is None or node.gpus < workload.gpus:
            return False
        if workload.gpu_min_memory is not None and ACCELERATORS[node.gpu_model] < workload.gpu_min_memory:
            return False
        if model is not None and node.gpu_model != model:
            return False
    topologies = [t for t, _ in workload.spreads] + [t for _, t, _ in workload.rules]
    if any(t != "node" and node.topology(t) is None for t in topologies):
        return False
    return workload.cpu_milli <= node.cpu_milli and workload.memory * 1024 <= node.memory


def _tolerated(tolerate: list[str], node: Node, requests_gpus: bool = False) -> bool:
    """docs/language.md: a node's `dedicated` value must be in `tolerate`, and each taint
    named there by its key or as `key=value` (or, which fitc cannot write but explain's parts
    are, `key=value:EFFECT`: tests/reference_explain.py keeps one effect's taint alone), but a
    taint keyed `nvidia.com/gpu` on a GPU node, which a pod requesting GPUs tolerates
    (Kubernetes' ExtendedResourceToleration)."""
    if node.dedicated is not None and node.dedicated not in tolerate:
        return False
    return all({key, f"{key}={value}", f"{key}={value}:{effect}"} & set(tolerate)
               or (requests_gpus and node.gpus > 0 and key == "nvidia.com/gpu")
               for key, value, effect in node.taints)


def reference(spec: Spec, time_limit: float = 20.0,
              fixed: dict[tuple[str, str | None, str], int] | None = None) -> Answer:
    """The optimum (or, with `fixed`, the replicas per (workload, option, node) given: whether
    that placement meets every rule, `feasible`, and its cost)."""
    from ortools.sat.python import cp_model

    nodes = nodes_of(spec)
    model = cp_model.CpModel()
    used = {n.name: model.NewBoolVar(f"used[{n.name}]") for n in nodes}
    # demands: (workload, option model or None, replicas bound)
    demands = [(w, m, r) for w in spec.workloads for m, r in (w.options or [(None, w.replicas)])]
    x: dict[tuple[str, str | None, str], object] = {}
    hosts: dict[tuple[str, str], object] = {}  # (workload, node) -> bool: runs there
    placed: dict[tuple[str, str | None], object] = {}
    for workload, option, bound in demands:
        terms = []
        for node in nodes:
            if _may_use(workload, node, option):
                var = model.NewIntVar(0, bound, f"x[{workload.name},{option},{node.name}]")
                model.Add(var <= bound * used[node.name])
                x[workload.name, option, node.name] = var
                terms.append(var)
        placed[workload.name, option] = model.NewIntVar(0, bound, f"p[{workload.name},{option}]")
        model.Add(placed[workload.name, option] == sum(terms))
    for workload in spec.workloads:
        for node in nodes:
            mine = [x[k] for k in x if k[0] == workload.name and k[2] == node.name]
            if mine:
                flag = model.NewBoolVar(f"h[{workload.name},{node.name}]")
                model.Add(sum(mine) >= 1).OnlyEnforceIf(flag)
                model.Add(sum(mine) == 0).OnlyEnforceIf(flag.Not())
                hosts[workload.name, node.name] = flag
    for node in nodes:
        here = [(w, var) for (w, _, n), var in x.items() if n == node.name]
        by_name = {w.name: w for w in spec.workloads}
        model.Add(sum(by_name[w].cpu_milli * v for w, v in here) <= node.cpu_milli)
        model.Add(sum(int(by_name[w].memory * 1024) * v for w, v in here) <= node.memory)
        model.Add(sum(by_name[w].gpus * v for w, v in here) <= node.gpus)
        model.Add(used[node.name] <= sum(v for _, v in here))  # used means it hosts something
    if fixed is None:
        _identical_nodes_used_first(model, nodes, used)
    elif any(amount and key not in x for key, amount in fixed.items()):
        return Answer(False)  # a replica where its workload may not run
    else:
        for key, var in x.items():
            model.Add(var == fixed.get(key, 0))
    whole = _counts(spec, model, placed)
    _rules_between(spec, model, nodes, x, hosts, used)
    _limits(spec, model, nodes, used)
    _gangs_in_one_cluster(spec, model, nodes, hosts)
    cost = sum(n.price * used[n.name] for n in nodes)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = time_limit
    levels = sorted({w.priority for w in spec.workloads}, reverse=True)
    answer = Answer(True)
    if spec.allow_unplaced:
        for level in levels:
            amount = sum(whole[w.name] for w in spec.workloads if w.priority == level)
            model.Maximize(amount)
            status = solver.Solve(model)
            if status != cp_model.OPTIMAL:
                return Answer(False, decided=status == cp_model.INFEASIBLE)
            best = round(solver.ObjectiveValue())
            model.Add(amount >= best)
            answer.placed_by_level[level] = best
    else:
        for workload in spec.workloads:
            model.Add(whole[workload.name] == _full(workload))
    model.Minimize(cost)
    status = solver.Solve(model)
    if status != cp_model.OPTIMAL:
        return Answer(False, decided=status == cp_model.INFEASIBLE)
    answer.cost = Fraction(round(solver.ObjectiveValue()), 100)
    answer.placement = {k: solver.Value(v) for k, v in x.items() if solver.Value(v)}
    answer.bought = [n.name for n in nodes if n.buy is not None and solver.Value(used[n.name])]
    if not spec.allow_unplaced:
        answer.placed_by_level = {level: sum(_full(w) for w in spec.workloads if w.priority == level)
                                  for level in levels}
    return answer


def _identical_nodes_used_first(model, nodes: list[Node], used) -> None:
    """Nodes alike in every attribute but the name (a pool's, an offer's in one region) are
    interchangeable, so any placement can be renumbered to use them in order: saying so spares CP-SAT
    the renumberings (policies past 160 nodes are decided in seconds, not minutes)."""
    for before, after in itertools.pairwise(nodes):
        if replace(before, name="") == replace(after, name=""):
            model.AddImplication(used[after.name], used[before.name])


def _gangs_in_one_cluster(spec: Spec, model, nodes: list[Node], hosts) -> None:
    """A gang runs in one cluster: at most one cluster chosen, and replicas only there."""
    clusters = sorted({n.cluster for n in nodes})
    for workload in (w for w in spec.workloads if w.gang):
        chosen = {c: model.NewBoolVar(f"cluster[{workload.name},{c}]") for c in clusters}
        model.Add(sum(chosen.values()) <= 1)
        for node in nodes:
            flag = hosts.get((workload.name, node.name))
            if flag is not None:
                model.AddImplication(flag, chosen[node.cluster])


def _full(workload: Workload) -> int:
    return workload.replicas if workload.options is None else 1


def _counts(spec: Spec, model, placed) -> dict[str, object]:
    """Per workload, what counts as placed: its replicas (a gang all or none); an option
    workload counts 1 once its options deliver the work, and places nothing otherwise."""
    whole = {}
    for workload in spec.workloads:
        if workload.options is None:
            count = placed[workload.name, None]
            if workload.gang:
                switch = model.NewBoolVar(f"g[{workload.name}]")
                model.Add(count == workload.replicas * switch)
            whole[workload.name] = count
            continue
        # option m alone needs r_m replicas: sum over options of placed_m / r_m >= 1
        common = 1
        for _, replicas in workload.options:
            common = common * replicas // _gcd(common, replicas)
        met = model.NewBoolVar(f"m[{workload.name}]")
        model.Add(sum(placed[workload.name, m] * (common // r) for m, r in workload.options)
                  >= common * met)
        for m, r in workload.options:
            model.Add(placed[workload.name, m] <= r * met)
        if workload.gang:  # a gang runs all its replicas on one option
            chosen = {m: model.NewBoolVar(f"g[{workload.name},{m}]") for m, _ in workload.options}
            model.Add(sum(chosen.values()) <= 1)
            for m, r in workload.options:
                model.Add(placed[workload.name, m] == r * chosen[m])
        whole[workload.name] = met
    return whole


def _gcd(a: int, b: int) -> int:
    while b:
        a, b = b, a % b
    return a


def _rules_between(spec: Spec, model, nodes: list[Node], x, hosts, used) -> None:
    by_name = {w.name: w for w in spec.workloads}
    for workload in spec.workloads:
        mine = {n: v for (w, _, n), v in x.items() if w == workload.name}
        for topology, skew, counted in _spread_scopes(workload, x):
            domains: dict[str, list[str]] = {}
            for node in nodes:
                if node.name in counted:
                    domains.setdefault(node.topology(topology), []).append(node.name)
            most = max([workload.replicas] + [r for _, r in workload.options or []])
            least = model.NewIntVar(0, most, f"least[{workload.name},{topology}]")
            existing = []
            for members in domains.values():
                count = sum(counted[n] for n in members)
                model.Add(count <= least + skew)
                bought = [n for n in members if _node(nodes, n).buy is not None]
                if len(bought) < len(members):  # nodes of its own: the domain exists
                    model.Add(count >= least)
                    existing.append(1)
                else:  # only offers: a domain once a node is bought there
                    exists = model.NewBoolVar(f"exists[{workload.name},{members[0]}]")
                    model.AddMaxEquality(exists, [used[n] for n in members])
                    model.Add(count >= least).OnlyEnforceIf(exists)
                    existing.append(exists)
            fewest = workload.min_domains.get(topology, 1)
            if fewest > 1:  # fewer domains than that exist: the least counts 0
                enough = model.NewBoolVar(f"enough[{workload.name},{topology}]")
                model.Add(sum(existing) >= fewest).OnlyEnforceIf(enough)
                model.Add(least == 0).OnlyEnforceIf(enough.Not())
        for target, topology, anti in workload.rules:
            other = workload.name if target == "self" else target
            if target == "self":
                domains = {}
                for node in nodes:
                    if node.name in mine:
                        domains.setdefault(node.topology(topology), []).append(mine[node.name])
                for members in domains.values():
                    model.Add(sum(members) <= 1)
                continue
            for domain, mine_in, theirs_in in _by_domain(nodes, hosts, workload.name, other, topology):
                if not mine_in:
                    continue
                me = _any(model, mine_in, f"in[{workload.name},{domain}]")
                them = _any(model, theirs_in, f"in[{other},{domain}]")
                if anti:
                    model.Add(me + them <= 1)
                else:
                    model.Add(me <= them)
        if workload.exclusive:
            for node in nodes:
                if (workload.name, node.name) not in hosts:
                    continue
                for name in by_name:
                    if name != workload.name and (name, node.name) in hosts:
                        model.Add(hosts[workload.name, node.name] + hosts[name, node.name] <= 1)
        if workload.latency is not None:
            within, needed = workload.latency
            reach = [v for (w, _, n), v in x.items() if w == workload.name
                     and ROUND_TRIP.get(_node(nodes, n).region, 10 ** 9) <= within]
            anything = model.NewBoolVar(f"any[{workload.name}]")
            everything = [v for (w, _, _), v in x.items() if w == workload.name]
            model.Add(sum(everything) >= 1).OnlyEnforceIf(anything)
            model.Add(sum(everything) == 0).OnlyEnforceIf(anything.Not())
            model.Add(sum(reach) >= needed).OnlyEnforceIf(anything)


def _draw_min_domains(workload: Workload, rng: random.Random, kinds: set[str]) -> None:
    """Now and then a `min_domains` of 2-4 on the spread just drawn (session 58), drawn from a
    generator seeded by `rng`'s whole state (`_side` reads a part that changes only every 624
    draws), which draws nothing from it: every other draw of the seed is as before."""
    side = random.Random(repr(rng.getstate()))
    topology = workload.spreads[-1][0]
    if side.random() < 0.4 and topology not in workload.min_domains:
        workload.min_domains[topology] = side.randint(2, 4)
        kinds.add("min_domains")


def _spread_scopes(workload: Workload, x):
    """Each spread of `workload` with the replicas it counts per node: every option's together,
    but `spread node` each option's over its own nodes (docs/language.md)."""
    for topology, skew in workload.spreads:
        if topology == "node" and workload.options:
            for option, _ in workload.options:
                yield topology, skew, {n: v for (w, o, n), v in x.items()
                                       if w == workload.name and o == option}
        else:
            yield topology, skew, {n: v for (w, _, n), v in x.items() if w == workload.name}


def _node(nodes: list[Node], name: str) -> Node:
    return next(n for n in nodes if n.name == name)


def _by_domain(nodes, hosts, mine: str, theirs: str, topology: str):
    domains: dict[str, tuple[list, list]] = {}
    for node in nodes:
        value = node.topology(topology)
        if value is None:
            continue
        entry = domains.setdefault(value, ([], []))
        if (mine, node.name) in hosts:
            entry[0].append(hosts[mine, node.name])
        if (theirs, node.name) in hosts:
            entry[1].append(hosts[theirs, node.name])
    return [(d, a, b) for d, (a, b) in sorted(domains.items())]


def _any(model, flags: list, name: str):
    if not flags:
        return 0
    switch = model.NewBoolVar(name)
    model.AddMaxEquality(switch, flags)
    return switch


def _limits(spec: Spec, model, nodes: list[Node], used) -> None:
    if spec.budget is not None:
        model.Add(sum(n.price * used[n.name] for n in nodes) <= spec.budget)
    for index, buy in enumerate(spec.buys):
        model.Add(sum(used[n.name] for n in nodes if n.buy == index) <= buy.max_count)
    for zone, watts in spec.power_caps:
        model.Add(sum(n.power * used[n.name] for n in nodes if n.zone == zone) <= watts)


def placement_json(spec: Spec, answer: Answer) -> dict:
    """The reference's placement in the JSON contract of `fitc solve`, for `fitc verify`."""
    assignments, numbered = [], {}
    for (workload, option, node), amount in sorted(answer.placement.items(), key=str):
        for _ in range(amount):
            replica = numbered.get((workload, option), 0)
            numbered[workload, option] = replica + 1
            item = {"workload": workload, "replica": replica, "node": node}
            if option is not None:
                item["option"] = option
            assignments.append(item)
    unplaced = []
    for workload in spec.workloads:
        if workload.options is None:
            placed = numbered.get((workload.name, None), 0)
            unplaced += [{"workload": workload.name, "replica": r, "reason": "reference"}
                         for r in range(placed, workload.replicas)]
        elif not any(numbered.get((workload.name, m)) for m, _ in workload.options):
            model, replicas = workload.options[0]
            unplaced += [{"workload": workload.name, "option": model, "replica": r,
                          "reason": "reference"} for r in range(replicas)]
    value = float(answer.cost) if answer.cost is not None else None
    return {"status": "optimal", "objective": {"name": "cost", "value": value, "lower_bound": value},
            "nodes": [{"name": name, "provisioned": True} for name in answer.bought],
            "assignments": assignments, "unplaced": unplaced}
