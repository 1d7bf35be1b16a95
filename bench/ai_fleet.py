"""A fourth fleet shape, written apart from fitlang and the other generators: an AI-era fleet.

`generate(nodes, workloads, seed)` writes a policy of `nodes` nodes (pools, racks of one node
type each), 40-60% of them accelerator nodes: NVIDIA (H100, H200, B200, A100, L40S, L4), AMD
MI300X, Google TPU v5p and AWS Trainium2 / Inferentia2, each with its GPU memory and fabric;
amd64 and arm64 CPU pools; 6-10 zones in 3-5 regions (own sites, each with its jurisdiction, a
power cap in kW and an electricity price), user locations with round trips to every region; AWS
offers to buy. Its `workloads` workloads: gangs of 8-GPU (or 4-TPU, 16-Trainium) nodes of 8-64
replicas, inference services (accelerator options, GPU-memory rules, zone spread, node
anti-affinity, residency and latency), CPU services (spread, anti-affinity, arm64 images), CPU
batch with priorities; a budget.

`greedy(fleet)` is first-fit, written here from the language reference (docs/language.md) and
nothing of fitlang: workloads in order (gangs, then spread services, then the rest by priority),
each replica on the first node in declaration order where it fits and every rule holds; it never
buys. Its placement is a `fitc verify` input, so the comparison is checked, not trusted.

    python bench/ai_fleet.py OUTDIR --nodes 10000 --workloads 1000 --seed 1
writes OUTDIR/ai10000-s1.fit and OUTDIR/ai10000-s1-greedy.json and prints the greedy's cost.
"""

from __future__ import annotations

import argparse
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

GIB = 1 << 30
# accelerator: (vendor, family, memory GB, interconnect), from the vendors' datasheets
ACCELERATORS = {
    "H100": ("nvidia", "gpu", 80, "nvlink"), "H200": ("nvidia", "gpu", 141, "nvlink"),
    "B200": ("nvidia", "gpu", 180, "nvlink"), "A100_80GB": ("nvidia", "gpu", 80, "nvlink"),
    "L40S": ("nvidia", "gpu", 48, "pcie"), "L4": ("nvidia", "gpu", 24, "pcie"),
    "MI300X": ("amd", "gpu", 192, "xgmi"), "TPU_V5P": ("google", "tpu", 95, "ici"),
    "TRAINIUM2": ("aws", "trainium", 96, "neuronlink"),
    "INFERENTIA2": ("aws", "inferentia", 32, "neuronlink"),
}
# accelerator node types: (name, model, per node, cores, GiB, USD/h, kW in use, weight, role)
ACCEL_TYPES = [
    ("h100", "H100", 8, 192, 2048, 52.0, 10.2, 22, "train"),
    ("h200", "H200", 8, 192, 2048, 66.0, 10.8, 10, "train"),
    ("b200", "B200", 8, 224, 2048, 92.0, 14.3, 6, "train"),
    ("a100", "A100_80GB", 8, 96, 1152, 26.0, 6.5, 12, "train"),
    ("mi300x", "MI300X", 8, 192, 2048, 46.0, 10.0, 6, "train"),
    ("tpu", "TPU_V5P", 4, 208, 448, 17.0, 2.6, 7, "tpu"),
    ("trn2", "TRAINIUM2", 16, 192, 2048, 44.0, 8.5, 6, "trn"),
    ("l40s", "L40S", 4, 48, 384, 15.0, 2.4, 13, "infer"),
    ("l4", "L4", 4, 48, 192, 4.4, 0.9, 12, "infer"),
    ("inf2", "INFERENTIA2", 12, 192, 768, 12.5, 3.6, 5, "infer"),
]
# CPU node types: (name, arch, cores, GiB, USD/h, kW in use)
CPU_TYPES = [("c32", "amd64", 32, 128, 1.5, 0.45), ("c64", "amd64", 64, 256, 3.0, 0.6),
             ("c96", "amd64", 96, 384, 4.4, 0.75), ("m128", "amd64", 128, 1024, 7.9, 1.0),
             ("g64", "arm64", 64, 256, 2.3, 0.35), ("g96", "arm64", 96, 384, 3.3, 0.45),
             ("g192", "arm64", 192, 768, 6.6, 0.7)]
# own sites: (code, jurisdiction, continent, user location)
SITES = [("nyc1", "US", "am", "new_york_users"), ("dfw1", "US", "am", "dallas_users"),
         ("sjc1", "US", "am", "bay_area_users"), ("ams1", "EU", "eu", "amsterdam_users"),
         ("fra1", "EU", "eu", "frankfurt_users"), ("lon1", "UK", "eu", "london_users"),
         ("sin1", "SG", "ap", "singapore_users"), ("tyo1", "JP", "ap", "tokyo_users")]


@dataclass
class Pool:
    name: str
    count: int
    arch: str
    cores: int
    gib: int
    price: float
    kw: float
    zone: str
    region: str
    model: str | None = None
    per_node: int = 0
    dedicated: str | None = None
    rack: str = ""


@dataclass
class GpuRule:
    """What a replica needs of its accelerators; `fit` renders it, `allows` tests a model."""
    count: int
    min_memory_gb: int = 0
    families: tuple[str, ...] = ()
    vendors: tuple[str, ...] = ()
    fabrics: tuple[str, ...] = ()

    def allows(self, model: str, options: bool = False) -> bool:
        vendor, family, memory, fabric = ACCELERATORS[model]
        # (a rule naming no family or vendor asks for GPUs, fitlang's default for a `gpu` block
        # with no options: with options, each names its model)
        families = self.families or (() if self.vendors or options else ("gpu",))
        return (memory >= self.min_memory_gb and (not families or family in families)
                and (not self.vendors or vendor in self.vendors)
                and (not self.fabrics or fabric in self.fabrics))

    def fit(self) -> str:
        terms = [f"memory >= {self.min_memory_gb}GB"] if self.min_memory_gb else []
        for name, values in (("family", self.families), ("vendor", self.vendors),
                             ("interconnect", self.fabrics)):
            if len(values) == 1:
                terms.append(f"{name} == {values[0]}")
            elif values:
                terms.append(f"{name} in [{', '.join(values)}]")
        return " and ".join(terms)


@dataclass
class Option:
    model: str
    count: int
    replicas: int
    throughput: float | None = None


@dataclass
class Workload:
    name: str
    replicas: int
    millicores: int
    gib: int
    kind: str = "service"
    gpu: GpuRule | None = None
    options: list[Option] = field(default_factory=list)
    throughput: float | None = None
    gang: bool = False
    tolerate: tuple[str, ...] = ()
    arch: tuple[str, ...] = ("amd64",)
    priority: int = 0
    spread: bool = False
    anti_self: bool = False
    residency: tuple[str, ...] = ()
    latency: tuple[tuple[str, ...], int, int] | None = None  # (locations, ms, replicas)


@dataclass
class AiFleet:
    pools: list[Pool]
    workloads: list[Workload]
    sites: list[tuple[str, str, str, str]]
    zones: dict[str, list[str]]
    electricity: dict[str, float]
    caps_kw: dict[str, float]
    round_trip_ms: dict[tuple[str, str], int]  # (location, region) -> ms
    budget: float = 0.0

    def policy(self) -> str:
        return "\n".join(_sites_fit(self) + [line for pool in self.pools for line in _pool_fit(pool)]
                         + [line for w in self.workloads for line in _workload_fit(w)]
                         + _buy_and_policy_fit(self.budget)) + "\n"


def _sites_fit(fleet: AiFleet) -> list[str]:
    out = ['import "std/accelerators"', 'import "std/aws"', ""]
    for code, jurisdiction, _, location in fleet.sites:
        out += [f"region site_{code} {{", f'  code = "{code}"', f"  jurisdiction = {jurisdiction}",
                "}", f"location {location} {{", f'  city = "{location}"', "}"]
        out += [f"power_cap cap_{code} {{", f'  region = "{code}"', f"  cap = {fleet.caps_kw[code]}kW",
                "}", f"electricity grid_{code} {{", f'  region = "{code}"',
                f"  price = {fleet.electricity[code]} USD/kWh", "}"]
    for _, _, _, location in fleet.sites:
        to = ", ".join(f"site_{code}: {fleet.round_trip_ms[location, code]}ms"
                       for code, *_ in fleet.sites)
        out += ["latency {", f"  from = {location}", f"  to = {{ {to} }}", "}"]
    return out


def _pool_fit(pool: Pool) -> list[str]:
    out = [f"pool {pool.name} {{", f"  count = {pool.count}", f"  cpu = {pool.cores}",
           f"  memory = {pool.gib}GiB"]
    if pool.model:
        out += ["  gpu {", f"    model = {pool.model}", f"    count = {pool.per_node}", "  }"]
    out += [f'  zone = "{pool.zone}"', f'  region = "{pool.region}"', f"  arch = {pool.arch}",
            f'  labels = {{ rack: "{pool.rack}" }}', f"  price = {pool.price} USD/h",
            f"  power = {pool.kw}kW"]
    if pool.dedicated:
        out.append(f'  dedicated = "{pool.dedicated}"')
    return out + ["}"]


def _cpu_fit(millicores: int) -> str:
    return str(millicores // 1000) if millicores % 1000 == 0 else f"{millicores}m"


def _workload_fit(w: Workload) -> list[str]:
    out = [f"workload {w.name} {{", f"  kind = {w.kind}", f"  cpu = {_cpu_fit(w.millicores)}",
           f"  memory = {w.gib}GiB"]
    if w.throughput is not None:
        out.append(f"  throughput = {w.throughput}")
    elif not w.options:
        out.append(f"  replicas = {w.replicas}")
    if w.gpu:
        out += ["  gpu {", f"    count = {w.gpu.count}"]
        if w.gpu.fit():
            out.append(f"    require {w.gpu.fit()}")
        for option in w.options:
            size = (f"throughput = {option.throughput}" if option.throughput is not None
                    else f"replicas = {option.replicas}")
            out += [f"    option {option.model} {{", f"      count = {option.count}", f"      {size}",
                    "    }"]
        out.append("  }")
    tolerated = ", ".join(f'"{t}"' for t in w.tolerate)
    rules = [(w.gang, "gang = true"), (w.tolerate, f"tolerate = [{tolerated}]"),
             (w.arch != ("amd64",), f"arch = [{', '.join(w.arch)}]"),
             (w.priority, f"priority = {w.priority}"),
             (w.spread, "spread zone max_skew 1"), (w.anti_self, "anti_affinity self on node"),
             (w.residency, f"residency = [{', '.join(w.residency)}]")]
    out += [f"  {line}" for stated, line in rules if stated]
    if w.latency:
        locations, ms, replicas = w.latency
        out += ["  latency {", f"    users = [{', '.join(locations)}]", f"    within = {ms}ms",
                f"    replicas = {replicas}", "  }"]
    return out + ["}"]


def _buy_and_policy_fit(budget: float) -> list[str]:
    return ["buy burst {", "  offers = [aws_p5_48xlarge, aws_g6e_xlarge, aws_c7g_4xlarge, aws_m7i_2xlarge]",
            '  regions = ["us-east-1"]', "  max_count = 40", "}",
            "policy {", f"  budget = {budget} USD/h", "}"]


def _layout(rng: random.Random) -> tuple[list[tuple[str, str, str, str]], dict[str, list[str]]]:
    """3-5 regions (at least one in the EU), 6-10 zones, every region with one or more."""
    while True:
        sites = rng.sample(SITES, rng.randint(3, 5))
        if any(site[1] == "EU" for site in sites):
            break
    zone_total = rng.randint(max(6, len(sites)), 10)
    per_site = [1] * len(sites)
    for _ in range(zone_total - len(sites)):
        per_site[rng.randrange(len(sites))] += 1
    zones = {site[0]: [f"{site[0]}-{'abcdefgh'[i]}" for i in range(n)] for site, n in zip(sites, per_site)}
    return sites, zones


def _round_trips(rng: random.Random, sites: list[tuple[str, str, str, str]]) -> dict[tuple[str, str], int]:
    out = {}
    for code_a, _, continent_a, location in sites:
        for code_b, _, continent_b, _ in sites:
            if code_a == code_b:
                out[location, code_b] = rng.randint(1, 4)
            elif continent_a == continent_b:
                out[location, code_b] = rng.randint(8, 45)
            else:
                out[location, code_b] = rng.randint(70, 240)
    return out


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    weights = [rng.uniform(0.3, 1.0) for _ in range(parts)]
    counts = [int(total * w / sum(weights)) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def _pools(rng: random.Random, nodes: int, zones: dict[str, list[str]]) -> list[Pool]:
    accel_nodes = int(nodes * rng.uniform(0.40, 0.60))
    all_zones = [(region, zone) for region, zs in zones.items() for zone in zs]
    region_factor = {region: rng.uniform(0.9, 1.15) for region in zones}
    pools: list[Pool] = []

    def add(kind: str, total: int, make) -> None:  # type: ignore[no-untyped-def]
        where = rng.sample(all_zones, rng.randint(min(2, len(all_zones)), len(all_zones)))
        for (region, zone), in_zone in zip(where, _split(rng, total, len(where))):
            racks = max(1, min(4, in_zone // 40))
            for rack, count in enumerate(_split(rng, in_zone, racks)):
                if count > 0:
                    pools.append(make(f"{kind}_{zone.replace('-', '_')}_r{rack}", count, zone, region,
                                      f"{zone}-r{rack}", region_factor[region] * rng.uniform(0.97, 1.03)))

    weights = sum(t[7] for t in ACCEL_TYPES)
    accel_counts = _split_by(accel_nodes, [t[7] / weights for t in ACCEL_TYPES])
    for (kind, model, per, cores, gib, price, kw, _, role), total in zip(ACCEL_TYPES, accel_counts):
        dedicated = "training" if role != "infer" and rng.random() < 0.7 else "gpu"
        add(kind, total, lambda name, count, zone, region, rack, f, model=model, per=per, cores=cores,
            gib=gib, price=price, kw=kw, dedicated=dedicated:
            Pool(name, count, "amd64", cores, gib, round(price * f, 3), kw, zone, region, model, per,
                 dedicated, rack))
    cpu_counts = _split_by(nodes - accel_nodes, [rng.uniform(0.5, 1.5) for _ in CPU_TYPES])
    for (kind, arch, cores, gib, price, kw), total in zip(CPU_TYPES, cpu_counts):
        add(kind, total, lambda name, count, zone, region, rack, f, arch=arch, cores=cores, gib=gib,
            price=price, kw=kw: Pool(name, count, arch, cores, gib, round(price * f, 3), kw, zone, region,
                                     rack=rack))
    return pools


def _split_by(total: int, weights: list[float]) -> list[int]:
    counts = [int(total * w / sum(weights)) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def _gangs(rng: random.Random, pools: list[Pool]) -> list[Workload]:
    """Training gangs, drawn until they hold ~60% of the nodes they may use, per family."""
    out: list[Workload] = []
    families = [("gpu", 8, lambda m: ACCELERATORS[m][1] == "gpu" and ACCELERATORS[m][2] >= 80, 64, 700),
                ("tpu", 4, lambda m: m == "TPU_V5P", 96, 200),
                ("trn", 16, lambda m: m == "TRAINIUM2", 96, 900)]
    for family, per, fits, cores, gib in families:
        room = sum(p.count for p in pools if p.model and p.per_node == per and fits(p.model)) * 0.6
        while room >= 8:
            replicas = min(rng.choice([8, 8, 16, 16, 24, 32, 48, 64]), int(room))
            room -= replicas
            if family == "gpu":
                rule = rng.choice([GpuRule(8, 80), GpuRule(8, 80, fabrics=("nvlink",)),
                                   GpuRule(8, 140, vendors=("nvidia",)),
                                   GpuRule(8, 80, fabrics=("nvlink", "xgmi"))])
            else:
                rule = GpuRule(per, families=("tpu",) if family == "tpu" else ("trainium",))
            out.append(Workload(f"train_{len(out)}", replicas, rng.randint(cores // 2, cores) * 1000,
                                rng.randint(gib // 2, gib), kind="job", gpu=rule, gang=True,
                                tolerate=("training", "gpu"), priority=rng.choice([50, 80, 100])))
    return out


def _inference(rng: random.Random, index: int, sites: list[tuple[str, str, str, str]],
               served: set[str]) -> Workload:
    """An inference service; its options are models of `served` (those of pools it tolerates)."""
    name = f"infer_{index}"
    style = rng.random()
    if style < 0.45:  # accelerator options, sized in replicas or throughput
        need = rng.choice([16, 24, 40])
        candidates = [m for m in ("L4", "L40S", "A100_80GB", "H100", "INFERENTIA2", "MI300X")
                      if ACCELERATORS[m][2] >= need and m in served]
        chosen = rng.sample(candidates, min(len(candidates), rng.randint(2, 4)))
        base = rng.randint(2, 24)
        speed = {"L4": 1.0, "L40S": 1.8, "A100_80GB": 2.6, "H100": 4.0, "INFERENTIA2": 1.4, "MI300X": 4.2}
        by_throughput = rng.random() < 0.5
        options = [Option(m, 2 if m == "INFERENTIA2" else 1, max(1, math.ceil(base / speed[m])),
                          round(100 * speed[m], 1) if by_throughput else None) for m in chosen]
        return Workload(name, base, rng.choice([4, 8, 12]) * 1000, rng.choice([16, 32, 64]),
                        gpu=GpuRule(1, need), options=options,
                        throughput=100.0 * base if by_throughput else None, tolerate=("gpu",))
    rule = GpuRule(rng.choice([1, 1, 2]), rng.choice([24, 40, 80]), families=("gpu",))
    w = Workload(name, rng.randint(2, 16), rng.choice([4, 8, 16]) * 1000, rng.choice([16, 32, 96]),
                 gpu=rule, tolerate=("gpu",), spread=rng.random() < 0.6, anti_self=rng.random() < 0.3)
    _residency_and_latency(rng, w, sites)
    return w


def _residency_and_latency(rng: random.Random, w: Workload, sites: list[tuple[str, str, str, str]]) -> None:
    if rng.random() < 0.2:
        w.residency = ("EU",)
    if not w.spread and rng.random() < 0.3:
        allowed = [s for s in sites if not w.residency or s[1] in w.residency]
        users = tuple(s[3] for s in rng.sample(allowed, min(len(allowed), rng.randint(1, 2))))
        w.latency = (users, 50, 1)


def _cpu_work(rng: random.Random, index: int, sites: list[tuple[str, str, str, str]]) -> Workload:
    arch = rng.choice([("amd64",), ("amd64",), ("amd64", "arm64"), ("arm64",)])
    if rng.random() < 0.4:  # a service
        w = Workload(f"svc_{index}", rng.randint(2, 24), rng.choice([500, 1000, 2000, 4000, 8000]),
                     rng.choice([1, 2, 4, 8, 16, 32]), arch=arch, spread=rng.random() < 0.5,
                     anti_self=rng.random() < 0.3, priority=rng.choice([0, 60, 90]))
        _residency_and_latency(rng, w, sites)
        return w
    cores = rng.choice([1, 2, 4, 8, 16, 32])
    return Workload(f"batch_{index}", rng.randint(1, 120), cores * 1000, cores * rng.choice([2, 4, 8]),
                    kind="job", arch=arch, priority=rng.randint(1, 40))


def _scale(items: list[Workload], used: float, room: float) -> None:
    """Shrink replicas so that what they need is at most `room` (never below one)."""
    if used <= room:
        return
    for w in items:
        if w.options:
            for option in w.options:
                if option.throughput is None:
                    option.replicas = max(1, int(option.replicas * room / used))
            if w.throughput is not None:
                w.throughput = max(100.0, round(w.throughput * room / used, 1))
        w.replicas = max(1, int(w.replicas * room / used))


def generate(nodes: int, workloads: int, seed: int) -> AiFleet:
    rng = random.Random(seed)
    sites, zones = _layout(rng)
    pools = _pools(rng, nodes, zones)
    gangs = _gangs(rng, pools)
    rest = workloads - len(gangs)
    served = {p.model for p in pools if p.model and p.dedicated == "gpu"}
    inference = [_inference(rng, i, sites, served) for i in range(rest // 4)]
    cpu = [_cpu_work(rng, i, sites) for i in range(rest - len(inference))]
    infer_gpus = sum(p.count * p.per_node for p in pools if p.dedicated == "gpu")
    _scale(inference, sum(w.replicas * (w.gpu.count if w.gpu else 0) for w in inference), 0.5 * infer_gpus)
    cpu_cores = sum(p.count * p.cores for p in pools if not p.model)
    _scale(cpu, sum(w.replicas * w.millicores / 1000 for w in cpu), 0.6 * cpu_cores)
    for w in inference + cpu:
        _users_within_replicas(w)
    fleet_pools = AiFleet(pools, [], sites, zones, {}, {}, {})
    for w in inference + cpu:  # a residency (then a GPU memory) no pool of this fleet meets is dropped
        if w.residency and not Greedy(fleet_pools).eligible(w, None, w.gpu.count if w.gpu else 0):
            w.residency = ()
        if w.gpu and not w.options and not Greedy(fleet_pools).eligible(w, None, w.gpu.count):
            w.gpu.min_memory_gb = 0
    round_trips = _round_trips(rng, sites)
    electricity = {s[0]: round(rng.uniform(0.05, 0.22), 3) for s in sites}
    caps = {code: round(sum(p.kw * p.count for p in pools if p.region == code) * rng.uniform(0.8, 0.9), 1)
            for code in zones}
    fleet = AiFleet(pools, gangs + inference + cpu, sites, zones, electricity, caps, round_trips)
    for _ in range(8):  # a feasible policy: what the greedy pass leaves out shrinks until it fits
        greedy = Greedy(fleet)
        greedy.run()
        if not greedy.unplaced:
            break
        for w in fleet.workloads:
            if w.name in greedy.unplaced:
                _shrink(w)
    return fleet


def _shrink(w: Workload) -> None:
    """Half the replicas (a gang: at least 8); at one replica, its rules of place and its GPU
    memory rule dropped."""
    if w.replicas <= 1 or (w.gang and w.replicas <= 8):
        w.residency, w.latency, w.spread = (), None, False
        if w.gpu and not w.gang:
            w.gpu.min_memory_gb = 0
    least = 8 if w.gang else 1
    w.replicas = max(least, w.replicas // 2)
    for option in w.options:
        option.replicas = max(1, option.replicas // 2)
    if w.throughput is not None:
        w.throughput = max(100.0, round(w.throughput / 2, 1))
    _users_within_replicas(w)


def _users_within_replicas(w: Workload) -> None:
    """No more user locations than replicas (each may need its own region)."""
    if w.latency and len(w.latency[0]) > w.replicas:
        w.latency = (w.latency[0][:w.replicas], w.latency[1], w.latency[2])


# ---- greedy first-fit ----

@dataclass
class _Nodes:
    pool: list[int]
    cpu: list[int]
    mem: list[int]
    gpu: list[int]
    used: list[bool]
    names: list[str]
    has: list[set[str]]


class Greedy:
    """First-fit over the nodes in declaration order; every rule of the generated policy checked."""

    def __init__(self, fleet: AiFleet) -> None:
        self.fleet = fleet
        self.nodes = _Nodes([], [], [], [], [], [], [])
        for index, pool in enumerate(fleet.pools):
            for i in range(pool.count):
                self.nodes.pool.append(index)
                self.nodes.cpu.append(pool.cores * 1000)
                self.nodes.mem.append(pool.gib * GIB)
                self.nodes.gpu.append(pool.per_node)
                self.nodes.used.append(False)
                self.nodes.names.append(f"{pool.name}-{i}")
                self.nodes.has.append(set())
        self.power = {code: 0.0 for code in fleet.zones}
        self.jurisdiction = {s[0]: s[1] for s in fleet.sites}
        self.assignments: list[dict] = []
        self.unplaced: list[str] = []

    def eligible(self, w: Workload, model: str | None, count: int) -> list[int]:
        pools = []
        for index, pool in enumerate(self.fleet.pools):
            if pool.arch not in w.arch or (pool.dedicated and pool.dedicated not in w.tolerate):
                continue
            if w.residency and self.jurisdiction[pool.region] not in w.residency:
                continue
            if w.gpu is None:
                if pool.model:
                    continue
            elif (not pool.model or pool.per_node < count or not w.gpu.allows(pool.model, bool(w.options))
                  or (model and pool.model != model)):
                continue
            pools.append(index)
        return pools

    def _fit(self, node: int, w: Workload, gpus: int, want: int) -> int:
        n = self.nodes
        if w.anti_self and w.name in n.has[node]:
            return 0
        room = min(n.cpu[node] // w.millicores, n.mem[node] // (w.gib * GIB),
                   n.gpu[node] // gpus if gpus else want, want)
        if room and not n.used[node]:
            pool = self.fleet.pools[n.pool[node]]
            if self.power[pool.region] + pool.kw > self.fleet.caps_kw[pool.region] + 1e-9:
                return 0
        return min(room, 1) if w.anti_self else room

    def _fill(self, w: Workload, pools: list[int], want: int, gpus: int, log: list,
              option: str | None, first: int) -> int:
        """First-fit `want` replicas (numbered from `first`) on the nodes of `pools`; returns placed."""
        n, placed = self.nodes, 0
        starts = self._starts()
        for index in pools:
            for node in range(starts[index], starts[index] + self.fleet.pools[index].count):
                if placed == want:
                    return placed
                k = self._fit(node, w, gpus, want - placed)
                if not k:
                    continue
                pool = self.fleet.pools[index]
                log.append((node, k * w.millicores, k * w.gib * GIB, k * gpus, not n.used[node]))
                if not n.used[node]:
                    self.power[pool.region] += pool.kw
                n.used[node] = True
                n.cpu[node] -= k * w.millicores
                n.mem[node] -= k * w.gib * GIB
                n.gpu[node] -= k * gpus
                n.has[node].add(w.name)
                for r in range(first + placed, first + placed + k):
                    record = {"workload": w.name, "replica": r, "node": n.names[node]}
                    if option:
                        record["option"] = option
                    self.assignments.append(record)
                placed += k
        return placed

    def _starts(self) -> list[int]:
        if not hasattr(self, "_start_cache"):
            starts, total = [], 0
            for pool in self.fleet.pools:
                starts.append(total)
                total += pool.count
            self._start_cache = starts
        return self._start_cache

    def _undo(self, w: Workload, log: list, assignments_before: int) -> None:
        n = self.nodes
        for node, cpu, mem, gpu, opened in reversed(log):
            n.cpu[node] += cpu
            n.mem[node] += mem
            n.gpu[node] += gpu
            if opened:
                n.used[node] = False
                pool = self.fleet.pools[n.pool[node]]
                self.power[pool.region] -= pool.kw
        for node, *_ in log:
            n.has[node].discard(w.name)
        del self.assignments[assignments_before:]

    def place(self, w: Workload, replicas: int, model: str | None, count: int, option: str | None) -> bool:
        pools = self.eligible(w, model, count)
        log: list = []
        before = len(self.assignments)
        placed = 0
        if w.spread:  # equal shares over every zone the workload may use, in zone order
            zones = sorted({self.fleet.pools[p].zone for p in pools})
            for z, zone in enumerate(zones):
                share = replicas // len(zones) + (1 if z < replicas % len(zones) else 0)
                in_zone = [p for p in pools if self.fleet.pools[p].zone == zone]
                got = self._fill(w, in_zone, share, count, log, option, placed)
                placed += got
                if got < share:
                    break
        else:
            if w.latency:  # first the replicas each location needs within reach
                locations, ms, need = w.latency
                for location in locations:
                    near = [p for p in pools
                            if self.fleet.round_trip_ms[location, self.fleet.pools[p].region] <= ms]
                    near_regions = {self.fleet.pools[p].region for p in near}
                    have = sum(1 for a in self.assignments[before:]
                               if self.fleet.pools[self.nodes.pool[self._index(a["node"])]].region
                               in near_regions)
                    want = min(max(0, need - have), replicas - placed)
                    got = self._fill(w, near, want, count, log, option, placed)
                    placed += got
                    if got < want:
                        self._undo(w, log, before)
                        return False
            placed += self._fill(w, pools, replicas - placed, count, log, option, placed)
        if placed < replicas:
            self._undo(w, log, before)
            return False
        return True

    def _index(self, name: str) -> int:
        if not hasattr(self, "_by_name"):
            self._by_name = {node: i for i, node in enumerate(self.nodes.names)}
        return self._by_name[name]

    def run(self) -> None:
        order = sorted(self.fleet.workloads, key=lambda w: (not w.gang, not w.spread, -w.priority))
        for w in order:
            if w.options:
                done = any(self.place(w, self._option_replicas(w, o), o.model, o.count, o.model)
                           for o in w.options)
            else:
                done = self.place(w, w.replicas, None, w.gpu.count if w.gpu else 0, None)
            if not done:
                self.unplaced.append(w.name)

    @staticmethod
    def _option_replicas(w: Workload, option: Option) -> int:
        if w.throughput is not None and option.throughput:
            return math.ceil(w.throughput / option.throughput - 1e-9)
        return option.replicas

    def cost(self) -> float:
        total = 0.0
        for node, used in enumerate(self.nodes.used):
            if used:
                pool = self.fleet.pools[self.nodes.pool[node]]
                total += pool.price + pool.kw * self.fleet.electricity[pool.region]
        return total


def write(fleet: AiFleet, directory: Path, name: str) -> tuple[Path, Greedy]:
    """The policy (its budget 10% above the greedy's cost) and the greedy's placement."""
    greedy = Greedy(fleet)
    greedy.run()
    full = sum(p.count * (p.price + p.kw * fleet.electricity[p.region]) for p in fleet.pools)
    fleet.budget = round(greedy.cost() * 1.1 if not greedy.unplaced else full * 0.8, 2)
    path = directory / f"{name}.fit"
    path.write_text(fleet.policy())
    (directory / f"{name}-greedy.json").write_text(json.dumps({"assignments": greedy.assignments}))
    return path, greedy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    fleet = generate(args.nodes, args.workloads, args.seed)
    path, greedy = write(fleet, args.out, f"ai{args.nodes}-s{args.seed}")
    accel = sum(p.count for p in fleet.pools if p.model)
    print(f"{path}: {len(fleet.pools)} pools, {accel} of {args.nodes} accelerator nodes, "
          f"{len(fleet.workloads)} workloads, {sum(len(z) for z in fleet.zones.values())} zones in "
          f"{len(fleet.zones)} regions; greedy cost {greedy.cost():.2f} USD/h, "
          f"unplaced {len(greedy.unplaced)} {greedy.unplaced[:5]}")


if __name__ == "__main__":
    main()
