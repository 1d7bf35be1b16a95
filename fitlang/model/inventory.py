"""Nodes from files: `kubectl get nodes -o json` and `scontrol -o show node` output.

Each reader returns `InventoryNode`s for the nodes that can take work
(cordoned, tainted-NoSchedule-by-the-cluster, down and drained nodes are left
out and counted) and a list of problems, each naming the file, the node and
what is wrong. Nothing here raises on bad input.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal

_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL = {"n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10 ** 3,
            "K": 10 ** 3, "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18}
_QUANTITY = re.compile(r"^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|K|M|G|T|P|E)?$")

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "aws.amazon.com/neuron")


@dataclass
class InventoryNode:
    name: str
    cpu_milli: int
    memory: int
    gpu_count: int = 0
    gpu_product: str | None = None  # as the file names it: "NVIDIA-A100-SXM4-80GB", "a100"
    gpu_memory: int | None = None  # bytes per device, where the file says
    gpu_resource: str | None = None
    disk: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    region: str | None = None
    arch: str = "amd64"
    instance_type: str | None = None
    features: list[str] = field(default_factory=list)
    taints: list[str] = field(default_factory=list)


@dataclass
class InventoryRead:
    nodes: list[InventoryNode] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # node name -> why it was left out


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes resource quantity (`63500m`, `527971044Ki`, `1.5Gi`, `100`)."""
    match = _QUANTITY.match(str(text).strip())
    if not match:
        raise ValueError(f"`{text}` is not a Kubernetes quantity")
    number = Decimal(match.group(1))
    suffix = match.group(4)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix:
        return number * Decimal(_DECIMAL[suffix])
    return number


def read_kubectl(text: str, source: str) -> InventoryRead:
    result = InventoryRead()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        result.problems.append(f"{source}: not JSON (line {error.lineno}, column {error.colno}: "
                               f"{error.msg}); expected `kubectl get nodes -o json` output")
        return result
    if isinstance(document, dict) and document.get("kind") == "Node":
        items = [document]
    elif isinstance(document, dict) and isinstance(document.get("items"), list):
        items = document["items"]
    else:
        result.problems.append(f"{source}: expected a NodeList (`items`) or a Node, as "
                               "`kubectl get nodes -o json` prints")
        return result
    for index, item in enumerate(items):
        _read_kubectl_node(item, index, source, result)
    return result


def _read_kubectl_node(item: object, index: int, source: str, result: InventoryRead) -> None:
    if not isinstance(item, dict):
        result.problems.append(f"{source}: items[{index}] is not an object")
        return
    metadata = item.get("metadata") if isinstance(item.get("metadata"), dict) else {}
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        result.problems.append(f"{source}: items[{index}] has no metadata.name")
        return
    spec = item.get("spec") if isinstance(item.get("spec"), dict) else {}
    status = item.get("status") if isinstance(item.get("status"), dict) else {}
    labels = {str(k): str(v) for k, v in (metadata.get("labels") or {}).items()}
    if spec.get("unschedulable"):
        result.skipped[name] = "cordoned (spec.unschedulable)"
        return
    if not _ready(status):
        result.skipped[name] = "not Ready"
        return
    resources = status.get("allocatable") or status.get("capacity")
    if not isinstance(resources, dict):
        result.problems.append(f"{source}: node `{name}` has no status.allocatable or status.capacity")
        return
    try:
        node = _kubectl_node(name, labels, resources, spec)
    except ValueError as error:
        result.problems.append(f"{source}: node `{name}`: {error}")
        return
    result.nodes.append(node)


def _ready(status: dict) -> bool:
    conditions = status.get("conditions")
    if not isinstance(conditions, list):
        return True  # files trimmed by hand often drop conditions; trust them
    for condition in conditions:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return True


def _kubectl_node(name: str, labels: dict[str, str], resources: dict, spec: dict) -> InventoryNode:
    if "cpu" not in resources or "memory" not in resources:
        raise ValueError("allocatable has no `cpu` or no `memory`")
    cpu = parse_quantity(resources["cpu"]) * 1000
    memory = parse_quantity(resources["memory"])
    disk = parse_quantity(resources.get("ephemeral-storage", "0"))
    gpu_resource, gpu_count = None, 0
    for resource in GPU_RESOURCES:
        if resource in resources and int(parse_quantity(resources[resource])) > 0:
            gpu_resource, gpu_count = resource, int(parse_quantity(resources[resource]))
            break
    gpu_memory = None
    if "nvidia.com/gpu.memory" in labels:  # GPU feature discovery: MiB per device
        gpu_memory = int(parse_quantity(labels["nvidia.com/gpu.memory"])) * 2 ** 20
    taints = []
    for taint in spec.get("taints") or []:
        if isinstance(taint, dict) and taint.get("effect") in ("NoSchedule", "NoExecute"):
            taints.append(f"{taint.get('key')}={taint.get('value', '')}:{taint.get('effect')}")
    return InventoryNode(
        name=name, cpu_milli=int(cpu), memory=int(memory), gpu_count=gpu_count,
        gpu_product=labels.get("nvidia.com/gpu.product") or labels.get("amd.com/gpu.product"),
        gpu_memory=gpu_memory, gpu_resource=gpu_resource, disk=int(disk), labels=labels,
        zone=labels.get("topology.kubernetes.io/zone") or labels.get("failure-domain.beta.kubernetes.io/zone"),
        region=labels.get("topology.kubernetes.io/region"),
        arch=labels.get("kubernetes.io/arch", "amd64"),
        instance_type=labels.get("node.kubernetes.io/instance-type"), taints=taints)


_EXCLUDED_SLURM_STATES = ("DOWN", "DRAIN", "FAIL", "MAINT", "NOT_RESPONDING", "POWERED_DOWN",
                          "INVALID", "FUTURE", "REBOOT")


def read_slurm(text: str, source: str) -> InventoryRead:
    """`scontrol -o show node` output: one `Key=Value ...` line per node."""
    result = InventoryRead()
    seen_any = False
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        fields = _slurm_fields(line)
        if "NodeName" not in fields:
            result.problems.append(f"{source}:{number}: no NodeName=; expected "
                                   "`scontrol -o show node` output (one node per line)")
            continue
        seen_any = True
        _read_slurm_node(fields, f"{source}:{number}", result)
    if not seen_any and not result.problems:
        result.problems.append(f"{source}: no nodes in the file")
    return result


def _slurm_fields(line: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    for match in re.finditer(r"(\w+)=(\S*)", line):
        fields.setdefault(match.group(1), match.group(2))
    return fields


def _read_slurm_node(fields: dict[str, str], where: str, result: InventoryRead) -> None:
    name = fields["NodeName"]
    states = set(re.split(r"[+*~#!%$@^-]+", fields.get("State", "IDLE").upper()))
    excluded = sorted(states.intersection(_EXCLUDED_SLURM_STATES))
    if excluded:
        result.skipped[name] = f"State={fields.get('State')}"
        return
    try:
        cpus = int(fields.get("CPUTot") or fields["CPUs"])
        memory = int(fields["RealMemory"]) * 2 ** 20  # Slurm counts memory in MiB
    except (KeyError, ValueError):
        result.problems.append(f"{where}: node `{name}` needs numeric CPUTot= and RealMemory=")
        return
    gpu_count, gpu_type = _slurm_gpus(fields.get("Gres", ""))
    features = [f for f in re.split(r"[,&|]", fields.get("AvailableFeatures", "")) if f
                and f != "(null)"]
    arch = "arm64" if fields.get("Arch", "").lower() in ("aarch64", "arm64") else "amd64"
    partitions = fields.get("Partitions", "")
    labels = {"slurm.partition." + p: "true" for p in partitions.split(",") if p}
    result.nodes.append(InventoryNode(
        name=name, cpu_milli=cpus * 1000, memory=memory, gpu_count=gpu_count,
        gpu_product=gpu_type, gpu_resource="nvidia.com/gpu" if gpu_count else None,
        disk=int(fields.get("TmpDisk", "0") or 0) * 2 ** 20, labels=labels, arch=arch,
        features=features))


def _slurm_gpus(gres: str) -> tuple[int, str | None]:
    total, kind = 0, None
    for part in gres.split(","):
        match = re.match(r"gpu(?::([\w.-]+))?:(\d+)", part.strip())
        if match:
            total += int(match.group(2))
            kind = kind or match.group(1)
    return total, kind
