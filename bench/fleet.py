"""Seeded, deterministic fleets and policies of a given size, as `.fit` text plus inventory.

Realistic shape: CPU pools and several GPU generations across 3 zones; services with
spread, gang training jobs, batch with priorities. Every fifth CPU class is not a pool but
nodes the cluster already has, read from `kubectl get nodes -o json` output.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class Fleet:
    policy: str  # the .fit text
    files: dict[str, str] = field(default_factory=dict)  # inventory files it reads, by name

    def write(self, directory: Path, name: str) -> Path:
        for file_name, text in self.files.items():
            (directory / file_name).write_text(text)
        path = directory / f"{name}.fit"
        path.write_text(self.policy)
        return path


def _kubectl_nodes(prefix: str, count: int, cpu: int, memory_gib: int, zone: str, tier: str) -> str:
    items = [{
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": f"{prefix}-{i}", "labels": {
            "kubernetes.io/hostname": f"{prefix}-{i}", "kubernetes.io/arch": "amd64",
            "topology.kubernetes.io/zone": zone, "topology.kubernetes.io/region": "us-east-1",
            "tier": tier}},
        "spec": {},
        "status": {"allocatable": {"cpu": str(cpu), "memory": f"{memory_gib}Gi", "pods": "110"},
                   "conditions": [{"type": "Ready", "status": "True"}]},
    } for i in range(count)]
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": items}, indent=1)

ZONES = ["us-east-1a", "us-east-1b", "us-east-1c"]
CPU_SHAPES = [(8, 32, 0.38), (16, 64, 0.77), (32, 128, 1.54), (64, 256, 3.07), (48, 384, 3.02),
              (96, 768, 6.05), (16, 128, 1.01), (4, 16, 0.19)]
GPU_SHAPES = [("H100", 8, 192, 2048, 98.32), ("A100_80GB", 8, 96, 1152, 40.96), ("L40S", 4, 48, 384, 15.9),
              ("L4", 1, 16, 64, 1.32), ("A10G", 4, 48, 192, 5.67)]
ACCELERATORS = {"H100": ("80GB", "nvlink"), "A100_80GB": ("80GB", "nvlink"), "L40S": ("48GB", "pcie"),
                "L4": ("24GB", "pcie"), "A10G": ("24GB", "pcie")}


def generate(nodes: int, workloads: int, classes: int = 20, seed: int = 1) -> Fleet:
    rng = random.Random(seed)
    fleet = Fleet("")
    out = [f"# generated fleet: {nodes} nodes, {workloads} workloads, seed {seed}"]
    for name, (memory, link) in ACCELERATORS.items():
        out += [f"accelerator {name} {{", "  vendor = nvidia", f"  memory = {memory}",
                f"  interconnect = {link}", "}"]
    gpu_classes = max(1, classes // 4)
    per_class = nodes // classes
    capacity = {"cpu": 0, "gpu": 0}
    for index in range(classes):
        zone = ZONES[index % 3]
        if index < gpu_classes:
            model, gpus, cpu, memory, price = GPU_SHAPES[index % len(GPU_SHAPES)]
            count = max(1, per_class // 4)
            out += [f"pool gpu{index} {{", f"  count = {count}", f"  cpu = {cpu}",
                    f"  memory = {memory}GiB", "  gpu {", f"    model = {model}", f"    count = {gpus}",
                    "  }", f'  zone = "{zone}"', f"  price = {price} USD/h", "}"]
            capacity["gpu"] += count * gpus
        else:
            cpu, memory, price = CPU_SHAPES[index % len(CPU_SHAPES)]
            count = per_class + (per_class * gpu_classes * 3 // 4) // max(1, classes - gpu_classes)
            tier = rng.choice(["gold", "silver"])
            if index % 5 == 0:
                file_name = f"fleet-{nodes}-seed{seed}-cpu{index}-nodes.json"
                fleet.files[file_name] = _kubectl_nodes(f"cpu{index}", count, cpu, memory, zone, tier)
                out += [f"inventory cpu{index} {{", "  format = kubectl", f'  file = "{file_name}"',
                        f"  price = {price} USD/h", "}"]
            else:
                out += [f"pool cpu{index} {{", f"  count = {count}", f"  cpu = {cpu}",
                        f"  memory = {memory}GiB", f'  labels = {{ tier: "{tier}" }}', f'  zone = "{zone}"',
                        f"  price = {price} USD/h", "}"]
            capacity["cpu"] += count * cpu
    gpu_budget = capacity["gpu"] * 0.6
    cpu_budget = capacity["cpu"] * 0.55
    for index in range(workloads):
        kind = rng.random()
        if kind < 0.08 and gpu_budget > 64:  # gang training job
            replicas, gpus = rng.choice([(2, 8), (4, 8), (2, 4), (8, 1)])
            gpu_budget -= replicas * gpus
            # per GPU, what training jobs ask for: no more CPU or memory than the GPU nodes
            # have per GPU (12 CPUs and 96 GiB on the smallest), so GPUs bind
            out += [f"workload train{index} {{", "  kind = job", "  gang = true", f"  replicas = {replicas}",
                    f"  cpu = {gpus * rng.choice([6, 8, 12])}",
                    f"  memory = {gpus * rng.choice([32, 64, 96])}GiB",
                    "  gpu {", f"    count = {gpus}", "    require memory >= 40GB", "  }",
                    f"  priority = {rng.choice([50, 100])}", "}"]
        elif kind < 0.5:  # service with spread
            replicas = rng.randint(2, 40)
            cpu = rng.choice([0.25, 0.5, 1, 2, 4])
            cpu_budget -= replicas * cpu
            if cpu_budget < 0:
                break
            out += [f"workload svc{index} {{", f"  replicas = {replicas}",
                    f"  cpu = {int(cpu * 1000)}m", f"  memory = {rng.choice([512, 1024, 2048, 4096])}Mi",
                    "  spread zone max_skew 1" if replicas >= 3 else "  anti_affinity self on node",
                    f'  require labels["tier"] == "{rng.choice(["gold", "silver"])}"'
                    if rng.random() < 0.3 else "", f"  priority = {rng.choice([10, 20])}", "}"]
        else:  # batch
            replicas = rng.randint(1, 40)
            cpu = rng.choice([1, 2, 4, 8])
            cpu_budget -= replicas * cpu
            if cpu_budget < 0:
                break
            out += [f"workload batch{index} {{", "  kind = job", f"  replicas = {replicas}",
                    f"  cpu = {cpu}", f"  memory = {rng.choice([2, 4, 8, 16])}GiB",
                    f"  priority = {rng.choice([0, 1, 5])}", "}"]
    fleet.policy = "\n".join(line for line in out if line) + "\n"
    return fleet
