"""A second fleet shape, written apart from `fleet.py`: what imported inventories look like.

- many small pools (from 50 at 1,000 nodes to 2,000 at 50,000) of heterogeneous node sizes:
  instance shapes differ, and so does each pool's allocatable (what the kubelet reserves);
- 10 zones over 5 regions (4 cloud regions, one on-prem site);
- the on-prem site read from `kubectl get nodes -o json` files, every node's allocatable
  jittered, some tainted, cordoned or NotReady, some with GPUs known by their product label;
- GPU inference with GPU-memory and vendor rules and accelerator options, 8-GPU gangs of
  8-64 replicas, services with zone spread, anti-affinity (node and zone), residency and
  latency, CPU batch with priorities and arm64 images, one `exclusive` job;
- a budget, a power cap and electricity on the on-prem site, AWS offers to buy.

`breaker(nodes, workloads)` is a third shape meant to break the solver: every node of the
inventory different in a label a rule reads (racks), workloads pinned to racks, pairwise
anti-affinity, tight capacity with memory-heavy and CPU-heavy replicas side by side, and a
pool of a million nodes that only a handful of replicas may use.
"""

from __future__ import annotations

import json
import random

from fleet import Fleet

# (cloud region, its zones); the on-prem site is ONPREM
REGIONS = [("us-east-1", ["us-east-1a", "us-east-1b", "us-east-1c"]),
           ("us-west-2", ["us-west-2a", "us-west-2b"]),
           ("eu-west-1", ["eu-west-1a", "eu-west-1b"]),
           ("eu-central-1", ["eu-central-1a"])]
ONPREM = ("fra-dc1", ["fra-dc1-a", "fra-dc1-b"])
# instance shapes: (cores, GiB, arch, USD/h)
CPU_SHAPES = [(4, 16, "amd64", 0.19), (8, 32, "amd64", 0.38), (8, 64, "amd64", 0.50),
              (16, 32, "amd64", 0.68), (16, 64, "amd64", 0.77), (16, 128, "amd64", 1.01),
              (32, 128, "amd64", 1.54), (48, 192, "amd64", 2.30), (48, 384, "amd64", 3.02),
              (64, 256, "amd64", 3.07), (96, 384, "amd64", 4.61), (96, 768, "amd64", 6.05),
              (8, 32, "arm64", 0.33), (16, 32, "arm64", 0.58), (16, 64, "arm64", 0.65),
              (32, 128, "arm64", 1.31), (64, 256, "arm64", 2.61)]
# (model, GPUs, cores, GiB, USD/h, product label, GPU memory MiB)
GPU_SHAPES = [("H100", 8, 192, 2048, 55.04, "NVIDIA-H100-80GB-HBM3", 81559),
              ("A100_80GB", 8, 96, 1152, 27.45, "NVIDIA-A100-SXM4-80GB", 81920),
              ("L40S", 4, 48, 384, 15.9, "NVIDIA-L40S", 46068),
              ("L4", 1, 8, 32, 0.98, "NVIDIA-L4", 23034),
              ("L4", 4, 48, 192, 4.6, "NVIDIA-L4", 23034),
              ("A10G", 4, 48, 192, 5.67, "NVIDIA-A10G", 23028),
              ("MI300X", 8, 192, 2048, 48.0, "AMD-Instinct-MI300X", 196608)]
REGION_PRICE = {"us-east-1": 1.0, "us-west-2": 1.0, "eu-west-1": 1.1, "eu-central-1": 1.15}
TEAMS = ["search", "ads", "ml", "data", "web", "infra"]


def _allocatable_cpu(rng: random.Random, cores: int) -> int:
    """Millicores the kubelet leaves: the shape less what the system reserves (varies)."""
    return cores * 1000 - rng.choice([60, 80, 100, 140, 180, 230])


def _allocatable_memory_mib(rng: random.Random, gib: int) -> int:
    return gib * 1024 - rng.randint(300, 1800)


def _kubectl_items(rng: random.Random, prefix: str, count: int, zone: str) -> list[dict]:
    """On-prem nodes: mostly CPU, some GPU; per-node jitter; some tainted, cordoned, NotReady."""
    items = []
    for i in range(count):
        name = f"{prefix}-{i:05d}"
        labels = {"kubernetes.io/hostname": name, "topology.kubernetes.io/zone": zone,
                  "topology.kubernetes.io/region": ONPREM[0], "site": "fra-dc1",
                  "rack": f"r{i // 40:03d}", "team": rng.choice(TEAMS)}
        draw = rng.random()
        if draw < 0.08:
            _model, gpus, cores, gib, _, product, gpu_mib = rng.choice(
                [s for s in GPU_SHAPES if s[0] in ("H100", "A100_80GB", "L40S")])
            labels.update({"nvidia.com/gpu.product": product, "nvidia.com/gpu.memory": str(gpu_mib)})
            allocatable = {"nvidia.com/gpu": str(gpus)}
        else:
            cores, gib, arch, _ = rng.choice([s for s in CPU_SHAPES if s[0] >= 16])
            labels["kubernetes.io/arch"] = arch
            allocatable = {}
        allocatable.update({"cpu": f"{_allocatable_cpu(rng, cores)}m",
                            "memory": f"{_allocatable_memory_mib(rng, gib) * 1024}Ki",
                            "pods": "110"})
        spec: dict = {}
        if rng.random() < 0.03:
            spec["taints"] = [{"key": "maintenance", "value": "true", "effect": "NoSchedule"}]
        if rng.random() < 0.02:
            spec["unschedulable"] = True
        ready = "False" if rng.random() < 0.02 else "True"
        items.append({"apiVersion": "v1", "kind": "Node",
                      "metadata": {"name": name, "labels": labels}, "spec": spec,
                      "status": {"allocatable": allocatable,
                                 "conditions": [{"type": "Ready", "status": ready}]}})
    return items


def _split(rng: random.Random, total: int, parts: int) -> list[int]:
    """`total` nodes over `parts` pools of uneven sizes, each at least 1."""
    weights = [rng.paretovariate(1.5) for _ in range(parts)]
    scale = (total - parts) / sum(weights)
    counts = [1 + int(w * scale) for w in weights]
    counts[0] += total - sum(counts)
    return counts


def generate(nodes: int, workloads: int, seed: int = 7) -> Fleet:
    rng = random.Random(seed)
    fleet = Fleet("")
    out = [f"# inventory-shaped fleet: {nodes} nodes, {workloads} workloads, seed {seed}",
           'import "std/accelerators"', 'import "std/aws"', 'import "std/regions"',
           "region fra_dc1 {", '  code = "fra-dc1"', '  provider = "onprem"', "  jurisdiction = EU",
           '  country = "DE"', '  city = "Frankfurt"', "}",
           "latency {", "  from = frankfurt", "  to = { fra_dc1: 3ms }", "}"]
    onprem = nodes // 5
    cloud = nodes - onprem
    pools = min(2000, max(50, cloud // 20))
    capacity = {"cpu": 0.0, "gpu8": 0, "gpu": 0}
    cloud_zones = [(region, zone) for region, zones in REGIONS for zone in zones]
    for index, count in enumerate(_split(rng, cloud, pools)):
        region, zone = cloud_zones[rng.randrange(len(cloud_zones))]
        labels = {"team": rng.choice(TEAMS), "tier": rng.choice(["gold", "silver"]),
                  "cost-center": f"cc{rng.randrange(40)}"}
        if rng.random() < 0.12:
            model, gpus, cores, gib, price, _, _ = rng.choice(GPU_SHAPES)
            count = max(1, count // 2)
            gpu = [f"  gpu {{ model = {model}; count = {gpus} }}"]
            capacity["gpu"] += count * gpus
            if gpus == 8 and model != "MI300X":
                capacity["gpu8"] += count
            arch = "amd64"
        else:
            cores, gib, arch, price = rng.choice(CPU_SHAPES)
            gpu = []
            capacity["cpu"] += count * cores
        label_text = ", ".join(f'"{k}": "{v}"' for k, v in labels.items())
        out += [f"pool p{index:04d} {{", f"  count = {count}",
                f"  cpu = {_allocatable_cpu(rng, cores)}m",
                f"  memory = {_allocatable_memory_mib(rng, gib)}Mi", *gpu,
                f"  arch = {arch}", f"  labels = {{ {label_text} }}", f'  zone = "{zone}"',
                f'  region = "{region}"', '  provider = "aws"',
                f"  price = {price * REGION_PRICE[region]:.4f} USD/h", "}"]
    per_file = max(1, onprem // len(ONPREM[1]))
    for index, zone in enumerate(ONPREM[1]):
        items = _kubectl_items(rng, f"fra{index}", per_file, zone)
        for item in items:
            allocatable = item["status"]["allocatable"]
            if item["status"]["conditions"][0]["status"] == "True" and not item["spec"].get("unschedulable"):
                capacity["cpu"] += int(allocatable["cpu"][:-1]) / 1000
                gpus = int(allocatable.get("nvidia.com/gpu", 0))
                capacity["gpu"] += gpus
                capacity["gpu8"] += gpus == 8
        file_name = f"inv-{nodes}-seed{seed}-fra{index}.json"  # apart per seed: one directory holds several
        fleet.files[file_name] = json.dumps({"apiVersion": "v1", "kind": "List", "items": items})
        out += [f"inventory fra{index} {{", "  format = kubectl", f'  file = "{file_name}"',
                "  price = 0 USD/h", '  labels = { "site": "fra-dc1" }', "}"]
    out += ["power_cap fra_feed {", '  labels = { "site": "fra-dc1" }',
            f"  cap = {max(50, onprem * 0.55):.0f}kW", "}",
            "electricity fra_grid {", '  labels = { "site": "fra-dc1" }', "  price = 0.16 USD/kWh", "}",
            "buy burst {", "  offers = [aws_m7i_2xlarge, aws_c7g_4xlarge, aws_r7i_2xlarge, aws_g6e_xlarge]",
            '  regions = ["us-east-1", "us-west-2"]', f"  max_count = {max(10, nodes // 50)}", "}"]
    out += _workloads(rng, workloads, capacity)
    out += ["policy {", f"  budget = {cloud * 4 + 500} USD/h", "}"]
    fleet.policy = "\n".join(out) + "\n"
    return fleet


def _workloads(rng: random.Random, count: int, capacity: dict) -> list[str]:
    cpu_left = capacity["cpu"] * 0.55
    gpu8_left = capacity["gpu8"] * 0.5  # 8-GPU nodes the gangs may take
    gpu_left = capacity["gpu"] * 0.2
    out = ["workload nightly_exclusive {", "  kind = job", "  replicas = 4", "  cpu = 32",
           "  memory = 100GiB", "  exclusive = true", "  priority = 3", "}"]
    services: list[str] = []
    for index in range(1, count):
        kind = rng.random()
        if kind < 0.015 and gpu8_left >= 16:
            replicas = min(rng.choice([8, 16, 32, 64]), int(gpu8_left))
            gpu8_left -= replicas
            out += [f"workload gang{index} {{", "  kind = job", "  gang = true", f"  replicas = {replicas}",
                    f"  cpu = {rng.choice([64, 80])}", f"  memory = {rng.choice([512, 768])}GiB",
                    "  gpu {", "    count = 8", "    require memory >= 80GB and vendor == nvidia", "  }",
                    f"  priority = {rng.choice([50, 100])}", "}"]
        elif kind < 0.07 and gpu_left >= 8:
            need = rng.choice([4, 8, 12])
            gpu_left -= need
            out += [f"workload infer{index} {{", "  cpu = 6", "  memory = 28GiB",
                    "  gpu {", "    count = 1", "    require memory >= 20GB", "    require vendor == nvidia",
                    f"    option L4 {{ replicas = {need} }}",
                    f"    option L40S {{ replicas = {max(1, need * 2 // 3)}; cpu = 10; memory = 80GiB }}",
                    f"    option A10G {{ replicas = {need} }}", "  }",
                    f"  priority = {rng.choice([20, 30])}", "}"]
        elif kind < 0.47:
            replicas = rng.randint(2, 30)
            cpu = rng.choice([0.25, 0.5, 1, 2, 4])
            cpu_left -= replicas * cpu
            if cpu_left < 0:
                break
            rules = []
            style = rng.random()
            if style < 0.5 and replicas >= 3:
                rules.append("  spread zone max_skew 1")
            elif style < 0.6 and services:
                rules += ["  anti_affinity self on node", f"  anti_affinity {rng.choice(services)} on zone",
                          '  regions = ["us-east-1"]']
            else:
                rules.append("  anti_affinity self on node")
            # EU residency only where no rule keeps the service in us-east-1 (a style below
            # 0.5 with fewer than 3 replicas falls through to the anti-affinity branch too)
            if rng.random() < 0.15 and '  regions = ["us-east-1"]' not in rules:
                rules += ["  residency = [EU]", "  latency {", "    users = [frankfurt]",
                          "    within = 30ms", "    replicas = 1", "  }"]
            if rng.random() < 0.2:
                rules.append(f'  require labels["tier"] == "{rng.choice(["gold", "silver"])}"')
            services.append(f"svc{index}") if style >= 0.6 else None
            out += [f"workload svc{index} {{", f"  replicas = {replicas}", f"  cpu = {int(cpu * 1000)}m",
                    f"  memory = {rng.choice([512, 1024, 2048, 4096])}Mi", *rules,
                    f"  priority = {rng.choice([10, 20])}", "}"]
        else:
            replicas = rng.randint(1, 40)
            cpu = rng.choice([1, 2, 4, 8])
            cpu_left -= replicas * cpu
            if cpu_left < 0:
                break
            arch = "  arch = [amd64, arm64]" if rng.random() < 0.4 else ""
            team = f'  require labels["team"] == "{rng.choice(TEAMS)}"' if rng.random() < 0.15 else ""
            out += [f"workload batch{index} {{", "  kind = job", f"  replicas = {replicas}",
                    f"  cpu = {cpu}", f"  memory = {rng.choice([2, 4, 8, 16])}GiB", arch, team,
                    f"  priority = {rng.choice([0, 1, 5])}", "}"]
    return [line for line in out if line]


def breaker(nodes: int, workloads: int, seed: int = 11) -> Fleet:
    """Meant to break the solver (see the module's docstring)."""
    rng = random.Random(seed)
    fleet = Fleet("")
    out = [f"# breaker fleet: {nodes} nodes, {workloads} workloads, seed {seed}",
           "pool ocean {", "  count = 1000000", "  cpu = 1", "  memory = 2GiB",
           '  labels = { "kind": "tiny" }', '  zone = "z0"', "  price = 0.05 USD/h", "}"]
    racks = max(4, nodes // 250)
    items = []
    total_cpu = 0
    for i in range(nodes):
        cores, gib = rng.choice([(16, 128), (64, 64), (32, 256), (48, 96), (24, 48)])
        cpu = cores * 1000 - rng.randint(1, 400)
        total_cpu += cpu / 1000
        name = f"b-{i:06d}"
        items.append({"metadata": {"name": name, "labels": {
            "kubernetes.io/hostname": name, "rack": f"rack{i % racks:03d}",
            "topology.kubernetes.io/zone": f"z{1 + i % 7}"}},
            "status": {"allocatable": {"cpu": f"{cpu}m", "memory": f"{gib * 1024 - rng.randint(1, 900)}Mi"}}})
    fleet.files[f"breaker-{nodes}-seed{seed}.json"] = json.dumps({"items": items})
    out += ["inventory racks {", "  format = kubectl", f'  file = "breaker-{nodes}-seed{seed}.json"',
            "  price = 1 USD/h", "}"]
    cpu_left = total_cpu * 0.7
    for index in range(workloads):
        replicas = rng.randint(1, 30)
        cpu, memory = rng.choice([(1, 14), (12, 8), (6, 60), (2, 3), (10, 40), (3, 24)])
        cpu_left -= replicas * cpu
        if cpu_left < 0:
            break
        rules = []
        draw = rng.random()
        if draw < 0.3:
            rules.append(f'  require labels["rack"] in ["rack{rng.randrange(racks):03d}", '
                         f'"rack{rng.randrange(racks):03d}", "rack{rng.randrange(racks):03d}"]')
            replicas = min(replicas, 8)
        elif draw < 0.5 and index:
            rules.append(f"  anti_affinity w{rng.randrange(index)} on node")
        elif draw < 0.7:
            rules.append('  spread "rack" max_skew 2')
        if index % 50 == 0:  # the million-node pool: only these few replicas may use it
            rules = ['  require labels["kind"] == "tiny"']
            cpu, memory, replicas = 1, 1, 10
        out += [f"workload w{index} {{", "  kind = job", f"  replicas = {replicas}", f"  cpu = {cpu}",
                f"  memory = {memory}GiB", *rules, f"  priority = {rng.choice([0, 5])}", "}"]
    fleet.policy = "\n".join(out) + "\n"
    return fleet
