"""A fleet that is mostly BOUGHT: a generator written apart from the other bench fleets.

Every other shape (`fleet.py`, `inventories.py`, `ai_fleet.py`, `hpc_queue.py`, the breaker)
owns most of its nodes. Here a company owns two small sites (a CPU hall and an A100 pod in
`dc1`, power-capped and paying for electricity; a small EU rack) and buys the rest from the
standard library's AWS, GCP and Azure offers (`import "std/aws"`, `"std/gcp"`, `"std/azure"`),
in `buy` blocks with limits: CPU (amd64 and arm64, some at spot prices), inference GPUs, and
training nodes (H100 / A100 80GB with NVLink, TPU, Trainium). Workloads:
  - services with `spread region max_skew 1`, `residency`, `latency` to its own user locations,
    `anti_affinity self on node`;
  - batch jobs on amd64 or arm64 (multi-arch images);
  - GPU inference with GPU memory / vendor / model rules;
  - training gangs on H100-class (NVLink, >= 80 GB), TPU v5e or Trainium;
and a `budget` and a `power_cap` on `dc1`.

Nothing here reads fitlang: the offers, accelerators and regions are read as data from
stdlib/*.fit with regular expressions, and each instance is also written as JSON
(`SEED.json`: the nodes that may exist with their allocatable as the docs state it, the
workloads and what each may use), which `bench/cloud_buy_reference.py` solves apart from fitc
(an exact MIP on small instances, a plain greedy on large ones).

Run:
    .venv/bin/python bench/cloud_buy.py OUTDIR --replicas 1000 --seed 1 [--seed 2 ...]
    .venv/bin/python bench/cloud_buy.py OUTDIR --small --seed 1      # <= 30 replicas, <= 6 offers
writes OUTDIR/cloud-R-S.fit and OUTDIR/cloud-R-S.json (R replicas, S the seed); then
    .venv/bin/python bench/cloud_buy_reference.py OUTDIR/cloud-R-S.json OUTDIR/cloud-R-S.answer.json
    fitc verify OUTDIR/cloud-R-S.fit OUTDIR/cloud-R-S.answer.json      # the reference's placement
    fitc compile OUTDIR/cloud-R-S.fit --target terraform --out DIR     # then Terraform's loader
--replicas sets the replicas in all (100, 1,000, 5,000); --workloads their number (default 50
at 100 replicas, else replicas / 5).
"""

from __future__ import annotations

import argparse
import json
import random
import re
from fractions import Fraction
from pathlib import Path

STDLIB = Path(__file__).resolve().parent.parent / "stdlib"
UNITS = {"GiB": 2**30, "GB": 10**9, "TiB": 2**40, "TB": 10**12, "MiB": 2**20}
MIB = 2**20
GIB = 2**30

CPU_AMD = ["aws_m7i_2xlarge", "aws_c7i_4xlarge", "aws_r7i_2xlarge", "gcp_n2_standard_8",
           "gcp_n2_highmem_8", "gcp_c3_standard_8", "gcp_e2_standard_4", "azure_d8s_v5",
           "azure_e8s_v5", "azure_f8s_v2"]
CPU_ARM = ["aws_m7g_2xlarge", "aws_c7g_4xlarge", "gcp_t2a_standard_8", "gcp_c4a_standard_8",
           "azure_d8ps_v5", "azure_d8ps_v6"]
INFERENCE = ["aws_g6e_xlarge", "aws_g6_xlarge", "aws_g5_xlarge", "aws_g4dn_xlarge",
             "gcp_g2_standard_4", "gcp_a2_highgpu_1g", "azure_nc24ads_a100_v4", "azure_nc4as_t4_v3",
             "azure_nv36ads_a10_v5", "aws_g5_12xlarge", "gcp_g2_standard_48"]
TRAINING = ["aws_p5_48xlarge", "aws_p4de_24xlarge", "gcp_a3_highgpu_8g", "azure_nd96isr_h100_v5",
            "azure_nd96amsr_a100_v4", "aws_trn1_32xlarge", "gcp_ct5lp_hightpu_4t"]

# The company's own user locations and round trips (ms) to the regions it may use: written here,
# so the reference knows the whole table (a region not listed is out of reach).
LOCATIONS = {
    "cb_boston": ("Boston", {"aws_us_east_1": 9, "aws_us_east_2": 20, "gcp_us_east1": 24,
                             "gcp_us_east4": 9, "gcp_us_east5": 21, "azure_eastus": 9,
                             "azure_eastus2": 10, "gcp_us_central1": 32, "cb_dc1": 26,
                             "aws_us_west_2": 72, "gcp_us_west1": 70, "azure_westus2": 71}),
    "cb_seattle": ("Seattle", {"aws_us_west_2": 9, "gcp_us_west1": 10, "azure_westus2": 6,
                               "azure_westus3": 30, "gcp_us_west4": 28, "gcp_us_central1": 38,
                               "cb_dc1": 48, "aws_us_east_2": 55, "aws_us_east_1": 68}),
    "cb_chicago": ("Chicago", {"cb_dc1": 2, "gcp_us_central1": 9, "aws_us_east_2": 8,
                               "gcp_us_east5": 9, "aws_us_east_1": 19, "azure_eastus": 20}),
}


def _block_fields(text: str, kind: str) -> dict[str, str]:
    blocks = {}
    for match in re.finditer(rf"^{kind} (\w+) \{{\n(.*?)^\}}", text, re.S | re.M):
        blocks[match.group(1)] = match.group(2)
    return blocks


def _field(body: str, name: str) -> str | None:
    found = re.search(rf"^\s+{name} = (.+)$", body, re.M)
    return found.group(1).strip() if found else None


def _bytes(text: str) -> int:
    number, unit = re.fullmatch(r"([\d.]+)\s*(\w+)", text).groups()
    return int(Fraction(number) * UNITS[unit])


def read_catalog() -> tuple[dict, dict, dict]:
    """Offers, accelerators and regions as stdlib/*.fit states them (data only)."""
    accelerators = {}
    for name, body in _block_fields((STDLIB / "accelerators.fit").read_text(), "accelerator").items():
        accelerators[name] = {"vendor": _field(body, "vendor"), "family": _field(body, "family") or "gpu",
                              "memory": _bytes(_field(body, "memory")),
                              "interconnect": _field(body, "interconnect"),
                              "tdp_w": int(_field(body, "tdp")[:-1]) if _field(body, "tdp") else 0}
    regions = {}
    for name, body in _block_fields((STDLIB / "regions.fit").read_text(), "region").items():
        regions[name] = {"code": json.loads(_field(body, "code")),
                         "jurisdiction": _field(body, "jurisdiction")}
    offers = {}
    for cloud in ("aws", "gcp", "azure"):
        for name, body in _block_fields((STDLIB / f"{cloud}.fit").read_text(), "offer").items():
            gpu = re.search(r"gpu \{\s*model = (\w+)\s*count = (\d+)", body)
            spot = _field(body, "spot_price")
            pods = _field(body, "max_pods")
            priced = re.search(r"region_prices = \{(.*?)\}", body, re.S)
            by_region = {regions[region]["code"]: str(Fraction(price)) for region, price
                         in re.findall(r"(\w+): ([\d.]+) USD/h", priced.group(1) if priced else "")}
            offers[name] = {"provider": _field(body, "provider"), "cpu": int(_field(body, "cpu")),
                            "memory": _bytes(_field(body, "memory")), "arch": _field(body, "arch") or "amd64",
                            "regions": json.loads(_field(body, "regions")),
                            # other regions, each sold at its own on-demand price (no spot there)
                            "region_prices": by_region,
                            "price": str(Fraction(_field(body, "price").split()[0])),
                            "spot_price": str(Fraction(spot.split()[0])) if spot else None,
                            "max_pods": int(pods) if pods else {"azure": 250}.get(cloud, 110),
                            "gpu_model": gpu.group(1) if gpu else None,
                            "gpu_count": int(gpu.group(2)) if gpu else 0}
    return offers, accelerators, regions


def allocatable(offer: dict) -> tuple[Fraction, int]:
    """(millicores, bytes) pods get on a bought node: the machine less what its provider's kubelet
    keeps, from docs/language.md's table (EKS nodeadm, GKE, AKS 1.29+), plus 100 MiB eviction."""
    cores, memory, pods = offer["cpu"], offer["memory"], offer["max_pods"]
    if offer["provider"] == "azure":
        cpu_kept = Fraction({1: 60, 2: 100}.get(cores, 100 + 10 * cores))
        memory_kept = min(20 * MIB * pods + 50 * MIB, memory // 4)
    else:
        steps = [60, 10, 5, 5]
        cpu_kept = Fraction(sum(steps[:cores])) + Fraction(5, 2) * max(0, cores - 4)
        if offer["provider"] == "aws":
            memory_kept = 11 * MIB * pods + 255 * MIB
        else:
            memory_kept = _gke_memory(memory)
    return Fraction(cores * 1000) - cpu_kept, int(memory - memory_kept - 100 * MIB)


def _gke_memory(memory: int) -> int:
    kept, left = Fraction(0), Fraction(memory)
    for size, share in ((4 * GIB, Fraction(25, 100)), (4 * GIB, Fraction(20, 100)),
                        (8 * GIB, Fraction(10, 100)), (112 * GIB, Fraction(6, 100))):
        part = min(left, size)
        kept += part * share
        left -= part
    kept += left * Fraction(2, 100)
    return int(kept)


class Instance:
    def __init__(self, rng: random.Random, replicas: int, workloads: int, small: bool):
        self.rng, self.small = rng, small
        self.offers, self.accelerators, self.regions = read_catalog()
        self.pools: list[dict] = []
        self.buys: list[dict] = []
        self.workloads: list[dict] = []
        self.power_cap_w = 0
        self.electricity = Fraction(12, 100)  # USD/kWh in dc1
        self._fleet(replicas)
        self._workloads(replicas, workloads)
        for buy in self.buys:  # the training nodes: one per gang replica, two spare
            if buy["name"] == "training":
                buy["max_count"] = 2 + sum(w["replicas"] for w in self.workloads if w.get("gang"))

    def _fleet(self, replicas: int) -> None:
        rng = self.rng
        scale = max(1, replicas // 100)
        if self.small:
            self.pools.append(_pool("dc1_cpu", rng.randint(1, 3), 16, 64, "dc1", power_w=300))
            amd, arm = rng.sample(CPU_AMD, 2), rng.sample(CPU_ARM, 1)
            gpus = rng.sample(["aws_g6_xlarge", "gcp_g2_standard_4", "azure_nc4as_t4_v3",
                               "aws_g5_xlarge", "aws_g4dn_xlarge"], 2)
            self.buys.append({"name": "cpu", "offers": amd + arm, "max_count": rng.randint(5, 10)})
            self.buys.append({"name": "gpu", "offers": gpus, "max_count": rng.randint(3, 6)})
            self.power_cap_w = 300 * rng.randint(1, 3)
            return
        self.pools.append(_pool("dc1_cpu", rng.randint(2, 6) * scale, 32, 128, "dc1", power_w=450))
        self.pools.append(_pool("dc1_a100", rng.randint(1, 2) + scale // 10, 96, 1024, "dc1",
                                gpu=("A100_80GB", 8), power_w=1200 + 8 * 400, dedicated="gpu"))
        self.pools.append(_pool("fra_rack", rng.randint(2, 4) * max(1, scale // 5), 16, 64,
                                "eu-central-1", zone="eu-central-1a"))
        total_w = sum(p["count"] * p["power_w"] for p in self.pools if p["region"] == "dc1")
        self.power_cap_w = int(total_w * rng.uniform(0.5, 0.9))
        limit = 3 * replicas
        self.buys.append({"name": "cpu", "offers": rng.sample(CPU_AMD, rng.randint(4, 8)),
                          "max_count": limit})
        arm = rng.sample(CPU_ARM, rng.randint(2, 5))  # t2a: the EU-resident services' offer
        arm += ["gcp_t2a_standard_8"] * ("gcp_t2a_standard_8" not in arm)
        self.buys.append({"name": "arm", "offers": arm,
                          "max_count": limit // 2})
        self.buys.append({"name": "cpu_spot", "offers": rng.sample(CPU_AMD, 2), "spot": True,
                          "max_count": max(4, replicas // 20), "regions": ["us-east-1", "eastus",
                                                                           "us-central1"]})
        self.buys.append({"name": "inference", "offers": rng.sample(INFERENCE, rng.randint(4, 8)),
                          "max_count": limit // 4})
        self.buys.append({"name": "training", "offers": TRAINING, "max_count": 4 + 2 * scale})

    def _workloads(self, replicas: int, count: int) -> None:
        rng = self.rng
        left = replicas
        kinds = (["service", "batch", "inference"] if self.small else
                 ["service"] * 5 + ["batch"] * 3 + ["inference"] * 2 + ["training"])
        for index in range(count):
            if left <= 0:
                break
            mean = max(1, left // (count - index))
            kind = rng.choice(kinds)
            size = max(1, min(left, rng.randint(max(1, mean // 2), mean + mean // 2)))
            if index == count - 1:
                size = left
            workload = getattr(self, f"_{kind}")(f"{kind[:3]}{index:04d}", size)
            left -= workload["replicas"]
            self.workloads.append(workload)

    def _service(self, name: str, replicas: int) -> dict:
        rng = self.rng
        cpu = rng.choice(["250m", "500m", "1", "2", "3"])
        work = _workload(name, "service", replicas, cpu, rng.choice([1, 2, 4, 6]) * GIB)
        work["arch"] = rng.choice([["amd64"], ["amd64"], ["amd64", "arm64"]])
        if rng.random() < 0.4:
            work["spread_region"] = True
        if rng.random() < 0.3 and replicas <= 40:
            work["anti_node"] = True
        if rng.random() < 0.3:
            work["latency"] = {"users": rng.sample(sorted(LOCATIONS), rng.randint(1, 2)),
                               "within": rng.choice([10, 25, 40])}
        roll = rng.random()
        if roll < 0.25:
            work["residency"] = ["US"]
        elif roll < 0.3 and not self.small:
            work["residency"], work["arch"] = ["EU"], ["amd64", "arm64"]
            work.pop("latency", None)
            work["replicas"] = min(replicas, 6)
        return work

    def _batch(self, name: str, replicas: int) -> dict:
        rng = self.rng
        work = _workload(name, "job", replicas, rng.choice(["1", "2", "4", "6"]),
                         rng.choice([2, 4, 8, 12]) * GIB)
        work["arch"] = rng.choice([["arm64"], ["amd64", "arm64"], ["amd64"]])
        work["priority"] = rng.choice([0, 10])
        return work

    def _inference(self, name: str, replicas: int) -> dict:
        rng = self.rng
        replicas = min(replicas, 4 if self.small else 12)
        work = _workload(name, "service", replicas, rng.choice(["2", "3"]), rng.choice([8, 12]) * GIB)
        rule = rng.choice(["memory20", "nvidia", "model", "any"])
        # a model rule names one the fleet may buy
        offered = sorted({self.offers[o]["gpu_model"] for buy in self.buys
                          if buy["name"] in ("gpu", "inference") for o in buy["offers"]})
        work["gpu"] = {"count": 1, "rule": rule, "model": rng.choice(offered) if rule == "model" else None}
        work["tolerate"] = ["gpu"]
        if rng.random() < 0.3:
            work["anti_node"] = True
        return work

    def _training(self, name: str, replicas: int) -> dict:
        rng = self.rng
        flavour = rng.choice(["nvlink80", "tpu", "trainium"])
        size = {"nvlink80": ("64", 512 * GIB, 8), "tpu": ("32", 64 * GIB, 4),
                "trainium": ("64", 256 * GIB, 16)}[flavour]
        work = _workload(name, "job", min(replicas, rng.randint(1, 2)), size[0], size[1])
        work["gang"] = True
        work["gpu"] = {"count": size[2], "rule": flavour,
                       "model": {"tpu": "TPU_V5E", "trainium": "TRAINIUM"}.get(flavour)}
        work["tolerate"] = ["gpu"]
        work["priority"] = 50
        return work

    def source(self) -> str:
        lines = ['import "std/accelerators"', 'import "std/regions"', 'import "std/aws"',
                 'import "std/gcp"', 'import "std/azure"', "",
                 'region cb_dc1 {\n  code = "dc1"\n  provider = "onprem"\n  jurisdiction = US\n'
                 '  country = "US"\n  city = "Chicago"\n}', ""]
        for location, (city, table) in LOCATIONS.items():
            lines.append(f'location {location} {{\n  country = "US"\n  city = "{city}"\n}}')
            entries = ", ".join(f"{region}: {ms}ms" for region, ms in table.items())
            lines.append(f"latency {{\n  from = {location}\n  to = {{ {entries} }}\n}}\n")
        lines += [_pool_source(pool) for pool in self.pools]
        lines.append(f'power_cap dc1 {{\n  labels = {{ site: "dc1" }}\n  cap = {self.power_cap_w}W\n}}\n')
        lines.append(f'electricity dc1_grid {{\n  labels = {{ site: "dc1" }}\n'
                     f'  price = {float(self.electricity)} USD/kWh\n}}\n')
        lines += [_buy_source(buy) for buy in self.buys]
        lines += [_workload_source(work) for work in self.workloads]
        lines.append(f"policy {{\n  objective = cost\n  budget = {self.budget()} USD/h\n"
                     '  kubernetes {\n    namespace = "cloud-buy"\n  }\n}\n')
        # no `terraform` block: what is bought joins each provider's cluster in its region (the
        # variables), where one block naming aws us-east-1 is E0615 when nothing is bought there
        return "\n".join(lines)

    def budget(self) -> int:
        """Generous: every replica on a node of its own of the dearest offer the instance buys,
        so the budget never decides feasibility, only appears in the model."""
        dearest = max(max([Fraction(self.offers[o]["price"])]
                          + [Fraction(p) for p in self.offers[o]["region_prices"].values()])
                      for buy in self.buys for o in buy["offers"]
                      if not self.offers[o]["gpu_count"] or buy["name"] != "training")
        replicas = sum(w["replicas"] for w in self.workloads)
        training = sum(w["replicas"] for w in self.workloads if w.get("gang")) * 100
        return int(dearest * replicas + training) + 10

    def as_json(self) -> dict:
        return {"offers": {name: self.offers[name] for buy in self.buys for name in buy["offers"]},
                "accelerators": self.accelerators,
                "region_jurisdiction": {r["code"]: r["jurisdiction"] for r in self.regions.values()}
                | {"dc1": "US"},
                "region_names": {r["code"]: name for name, r in self.regions.items()} | {"dc1": "cb_dc1"},
                "latency": {loc: table for loc, (_, table) in LOCATIONS.items()},
                "pools": self.pools, "buys": self.buys, "workloads": self.workloads,
                "power_cap_w": self.power_cap_w, "electricity_usd_kwh": str(self.electricity),
                "budget": self.budget(),
                "allocatable": {name: [str(c), m] for name, (c, m) in
                                ((n, allocatable(self.offers[n])) for buy in self.buys
                                 for n in buy["offers"])}}


def _pool(name, count, cpu, memory_gib, region, gpu=None, power_w=0, dedicated=None, zone=None):
    return {"name": name, "count": count, "cpu": cpu, "memory": memory_gib * GIB, "region": region,
            "zone": zone or f"{region}-a", "gpu": gpu, "power_w": power_w, "dedicated": dedicated,
            "site": "dc1" if region == "dc1" else None}


def _workload(name, kind, replicas, cpu, memory):
    return {"name": name, "kind": kind, "replicas": replicas, "cpu": cpu, "memory": memory}


def _pool_source(pool: dict) -> str:
    body = [f"  count = {pool['count']}", f"  cpu = {pool['cpu']}", f"  memory = {pool['memory'] // GIB}GiB",
            f'  region = "{pool["region"]}"', f'  zone = "{pool["zone"]}"']
    if pool["gpu"]:
        body.append(f"  gpu {{\n    model = {pool['gpu'][0]}\n    count = {pool['gpu'][1]}\n  }}")
    if pool["power_w"]:
        body.append(f"  power = {pool['power_w']}W")
    if pool["site"]:
        body.append(f'  labels = {{ site: "{pool["site"]}" }}')
    if pool["dedicated"]:
        body.append(f'  dedicated = "{pool["dedicated"]}"')
    return f"pool {pool['name']} {{\n" + "\n".join(body) + "\n}\n"


def _buy_source(buy: dict) -> str:
    body = [f"  offers = [{', '.join(buy['offers'])}]", f"  max_count = {buy['max_count']}"]
    if buy.get("spot"):
        body.append("  spot = true")
    if buy.get("regions"):
        body.append(f"  regions = {json.dumps(buy['regions'])}")
    return f"buy {buy['name']} {{\n" + "\n".join(body) + "\n}\n"


GPU_RULES = {"memory20": "require memory >= 20GB", "nvidia": "require vendor == nvidia",
             "nvlink80": "require memory >= 80GB and interconnect == nvlink", "any": None}


def _workload_source(work: dict) -> str:
    body = [f"  kind = {work['kind']}", f"  replicas = {work['replicas']}", f"  cpu = {work['cpu']}",
            f"  memory = {work['memory'] // GIB}GiB", f"  arch = [{', '.join(work['arch'])}]"
            if "arch" in work else None,
            f"  priority = {work['priority']}" if "priority" in work else None,
            "  gang = true" if work.get("gang") else None,
            f'  image = "registry.example.com/cloud-buy/{work["name"]}:1"']
    gpu = work.get("gpu")
    if gpu:
        inner = [f"    count = {gpu['count']}"]
        if gpu["model"]:
            inner.append(f"    model = {gpu['model']}")
        if GPU_RULES.get(gpu["rule"]):
            inner.append(f"    {GPU_RULES[gpu['rule']]}")
        body.append("  gpu {\n" + "\n".join(inner) + "\n  }")
    if work.get("tolerate"):
        body.append(f"  tolerate = {json.dumps(work['tolerate'])}")
    if work.get("residency"):
        body.append(f"  residency = [{', '.join(work['residency'])}]")
    if work.get("latency"):
        latency = work["latency"]
        body.append(f"  latency {{\n    users = [{', '.join(latency['users'])}]\n"
                    f"    within = {latency['within']}ms\n  }}")
    if work.get("spread_region"):
        body.append("  spread region max_skew 1")
    if work.get("anti_node"):
        body.append("  anti_affinity self on node")
    return f"workload {work['name']} {{\n" + "\n".join(line for line in body if line) + "\n}\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("outdir")
    parser.add_argument("--replicas", type=int, default=100)
    parser.add_argument("--workloads", type=int)
    parser.add_argument("--seed", type=int, action="append", required=True)
    parser.add_argument("--small", action="store_true", help="<= 30 replicas, <= 6 offers")
    args = parser.parse_args()
    out = Path(args.outdir)
    out.mkdir(parents=True, exist_ok=True)
    for seed in args.seed:
        rng = random.Random(seed)
        replicas = rng.randint(12, 30) if args.small else args.replicas
        workloads = args.workloads or (rng.randint(4, 8) if args.small else
                                       50 if replicas <= 100 else replicas // 5)
        instance = Instance(rng, replicas, workloads, args.small)
        stem = f"cloud-{'small' if args.small else replicas}-{seed}"
        (out / f"{stem}.fit").write_text(instance.source())
        (out / f"{stem}.json").write_text(json.dumps(instance.as_json(), indent=1))
        print(out / f"{stem}.fit", sum(w["replicas"] for w in instance.workloads), "replicas",
              len(instance.workloads), "workloads")


if __name__ == "__main__":
    main()
