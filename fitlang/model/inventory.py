"""Nodes from files: `kubectl get nodes -o json` and `scontrol [-o] show node` output.

Each reader returns `InventoryNode`s for the nodes that can take work
(cordoned, tainted-NoSchedule-by-the-cluster, down and drained nodes are left
out and counted) and a list of problems, each naming the file, the node and
what is wrong. Nothing here raises on bad input.
"""

from __future__ import annotations

import functools
import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

from fitlang.diagnostics import first_named
from fitlang.model.gpu_partitions import GpuPartition, advertised_parts, is_part_resource, read_partition
from fitlang.model.problem import Taint

if TYPE_CHECKING:  # the models are imported where a file is read: pydantic takes 0.15 s to load
    from fitlang.documents_read import KubectlNode, KubectlSpec, KubectlStatus, Quantity, SlurmNodeRecord

_BINARY = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40, "Pi": 2 ** 50, "Ei": 2 ** 60}
_DECIMAL: dict[str, Decimal | int] = {
    "n": Decimal("1e-9"), "u": Decimal("1e-6"), "m": Decimal("1e-3"), "k": 10 ** 3, "K": 10 ** 3,
    "M": 10 ** 6, "G": 10 ** 9, "T": 10 ** 12, "P": 10 ** 15, "E": 10 ** 18}
_QUANTITY = re.compile(r"^([+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|K|M|G|T|P|E)?$")

GPU_RESOURCES = ("nvidia.com/gpu", "amd.com/gpu", "google.com/tpu", "aws.amazon.com/neuron")

# spot or on demand, where a cloud says it: label -> (the value of a spot node, of an on-demand
# node or None where on-demand nodes lack the label). Karpenter's is on every node it launches,
# EKS managed node groups', GKE's and AKS's on theirs.
CAPACITY_LABELS = {"karpenter.sh/capacity-type": ("spot", "on-demand"),
                   "eks.amazonaws.com/capacityType": ("SPOT", "ON_DEMAND"),
                   "cloud.google.com/gke-spot": ("true", None),
                   "kubernetes.azure.com/scalesetpriority": ("spot", None)}


def capacity_spot(labels: dict[str, str]) -> bool | None:
    """Whether a node is spot capacity, where a label says so; None where none does."""
    for key, (spot, on_demand) in CAPACITY_LABELS.items():
        if labels.get(key) == spot:
            return True
        if on_demand is not None and labels.get(key) == on_demand:
            return False
    return None


@dataclass
class InventoryNode:
    name: str
    cpu_milli: int
    memory: int
    gpu_count: int = 0
    gpu_product: str | None = None  # as the file names it: "NVIDIA-A100-SXM4-80GB", "a100"
    gpu_memory: int | None = None  # bytes per device, where the file says
    gpu_resource: str | None = None  # the extended resource a kubectl node advertises them as
    disk: int = 0
    labels: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    region: str | None = None
    arch: str = "amd64"
    instance_type: str | None = None
    spot: bool = False  # spot capacity, as its labels say (`CAPACITY_LABELS`): an inventory's `spot_prices`
    features: list[str] = field(default_factory=list)
    taints: list[Taint] = field(default_factory=list)
    threads_per_core: int = 1  # Slurm's ThreadsPerCore: a job gets whole cores of these
    max_pods: int | None = None  # `allocatable.pods`: what the kubelet admits
    gpu_partition: GpuPartition | None = None  # its GPUs handed out as MIG slices or shared


@dataclass
class InventoryRead:
    nodes: list[InventoryNode] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # node name -> why it was left out
    bad_values: list[str] = field(default_factory=list)  # negative, fractional, out of range
    duplicates: list[str] = field(default_factory=list)  # a node name given twice
    unused: dict[str, str] = field(default_factory=dict)  # node name -> devices fitc leaves idle
    # node name -> what jobs hold there now, as `scontrol show node` states it (CPUAlloc,
    # AllocMem, GresUsed): taken off where no state says whose they are (`build_problem`)
    allocated: dict[str, dict[str, int]] = field(default_factory=dict)
    # nodes whose line says jobs run there but not which of its GPUs they hold (no `GresUsed`:
    # `scontrol -o show node` prints it only with `-d`): every GPU counted as held
    gpus_unstated: list[str] = field(default_factory=list)

    def left_out(self, held_known: bool = True) -> str | None:
        """The nodes left out, by why, the devices left idle, and (where no state says whose,
        `held_known` False) the room running jobs hold, in a sentence (W0522); None where there
        are none."""
        by_why: dict[str, list[str]] = {}
        for name, why in sorted(self.skipped.items()):
            by_why.setdefault(why, []).append(name)
        said = []
        if by_why:
            count = len(self.skipped)
            nodes = "1 node of the file takes" if count == 1 else f"{count} nodes of the file take"
            said.append(f"{nodes} no work, left out: "
                        + "; ".join(f"{why}: {first_named(names)}" for why, names in sorted(by_why.items())))
        by_devices: dict[str, list[str]] = {}
        for name, devices in sorted(self.unused.items()):
            by_devices.setdefault(devices, []).append(name)
        said += [f"{first_named(names)} also advertise{'s' if len(names) == 1 else ''} {devices}, which fitc "
                 "leaves idle (it places on one kind of accelerator a node)"
                 for devices, names in sorted(by_devices.items())]
        if self.allocated and not held_known:
            busy = sorted(self.allocated)
            verb = "holds" if len(busy) == 1 else "hold"
            said.append(f"{first_named(busy)} {verb} running jobs (`CPUAlloc`, "
                        "`AllocMem`, `GresUsed`): fitc places in what they leave free (a state of what "
                        "runs, `squeue --json`, says whose they are)")
            unstated = sorted(self.gpus_unstated)
            if unstated:
                said.append(f"{first_named(unstated)} run{'s' if len(unstated) == 1 else ''} jobs and "
                            "the file does not say which GPUs they hold (no `GresUsed`, which "
                            "`scontrol` prints only with `-d`): every GPU there is counted as held; "
                            "read the nodes with `scontrol -d -o show node`")
        return "; ".join(said) or None


# The ranges of docs/language.md ("Ranges"), as a pool block would be held to them
MOST_CORES = 10 ** 6
MOST_BYTES = 2 ** 60  # 1 EiB
MOST_ACCELERATORS = 1024
MOST_PODS = 10 ** 6


class BadValue(ValueError):
    """A value that reads as a number but cannot be one of a node's resources."""


def whole(value: Decimal, what: str, most: int, unit: str = "") -> int:
    """A resource amount that must be a whole number within its range."""
    if value < 0:
        raise BadValue(f"{what} is negative ({_show(value)}{unit})")
    if value != value.to_integral_value():
        raise BadValue(f"{what} must be a whole number, found {_show(value)}{unit}")
    if value > most:
        raise BadValue(f"{what} must be at most {most}{unit}, found {_show(value)}{unit}")
    return int(value)


def _show(value: Decimal) -> str:
    return f"{value:.4g}" if abs(value) >= 10 ** 15 else f"{value.normalize():f}"


def read_file(path: str, format: str) -> InventoryRead:
    """Read an inventory file (`kubectl` or `slurm` format); never raises, never blocks on a
    FIFO, never reads a device."""
    import os
    import stat
    from pathlib import Path

    try:
        mode = os.stat(path).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(21, "is a directory, not a file")
        if not stat.S_ISREG(mode):
            raise OSError(0, "not a regular file (a pipe, device or socket)")
        text = Path(path).read_bytes().decode("utf-8", errors="replace")
    except OSError as error:
        read = InventoryRead()
        read.problems.append(f"{path}: {error.strerror or error}")
        return read
    reader = read_kubectl if format == "kubectl" else read_slurm
    result = reader(text, Path(path).name)
    _find_duplicates(result, Path(path).name)
    return result


def _find_duplicates(result: InventoryRead, source: str) -> None:
    """A node given twice would count twice: the solver would place on capacity that does not
    exist, or call a fleet infeasible for a reason nobody can see. Report it and keep one."""
    seen: set[str] = set()
    kept = []
    for node in result.nodes:
        if node.name in seen:
            result.duplicates.append(f"{source}: node `{node.name}` is listed more than once")
            continue
        seen.add(node.name)
        kept.append(node)
    result.nodes = kept


def parse_quantity(text: str) -> Decimal:
    """A Kubernetes resource quantity (`63500m`, `527971044Ki`, `1.5Gi`, `100`)."""
    return _parse_quantity(str(text).strip())


@functools.lru_cache(maxsize=1 << 16)  # a fleet repeats its quantities (`64`, `110`, `0`)
def _parse_quantity(text: str) -> Decimal:
    match = _QUANTITY.match(text)
    if not match:
        raise ValueError(f"`{text}` is not a Kubernetes quantity")
    number = Decimal(match.group(1))
    suffix = match.group(4)
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix:
        return number * Decimal(_DECIMAL[suffix])
    return number


@functools.lru_cache(maxsize=1 << 16)  # as `_parse_quantity`: per distinct text, not per node
def _whole_quantity(text: str, scale: int, what: str, most: int, unit: str) -> int:
    """`whole(parse_quantity(text) * scale, ...)`; raises as they do (errors are not kept)."""
    return whole(parse_quantity(text) * scale, what, most, unit)


def read_kubectl(text: str, source: str) -> InventoryRead:
    result = InventoryRead()
    for index, item in _kubectl_items(text, source, result):
        _read_kubectl_node(item, index, source, result)
    return result


def _kubectl_items(text: str, source: str,
                   result: InventoryRead) -> Iterable[tuple[int, KubectlNode]]:
    """The node records of a file, validated (`fitlang/documents.py`). A NodeList whose every
    record is well-formed is read in one pass from the text; anything else is read again record
    by record, so that each bad one is named by its JSON path and the good ones are kept.
    The one pass uses the generated core schema (fitlang/core_schemas.py: no pydantic to load)."""
    from pydantic_core import ValidationError

    from fitlang.core_schemas import validator

    try:
        listed = validator("kubectl-node-list").validate_json(text)
    except ValidationError:
        return _kubectl_items_one_by_one(text, source, result)
    if listed.get("kind") == "Node":  # a Node that happens to have `items`: read it as a Node
        return _kubectl_items_one_by_one(text, source, result)
    return enumerate(listed["items"])


def _kubectl_items_one_by_one(text: str, source: str,
                              result: InventoryRead) -> list[tuple[int, KubectlNode]]:
    from pydantic import ValidationError

    from fitlang.documents_read import error_lines, kubectl_node

    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        result.problems.append(f"{source}: not JSON (line {error.lineno}, column {error.colno}: "
                               f"{error.msg}); expected `kubectl get nodes -o json` output")
        return []
    except RecursionError:
        result.problems.append(f"{source}: its JSON nests too deeply to be "
                               "`kubectl get nodes -o json` output")
        return []
    if isinstance(document, dict) and document.get("kind") == "Node":
        items = [document]
    elif isinstance(document, dict) and isinstance(document.get("items"), list):
        items = document["items"]
    else:
        result.problems.append(f"{source}: expected a NodeList (`items`) or a Node, as "
                               "`kubectl get nodes -o json` prints")
        return []
    valid = []
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            result.problems.append(f"{source}: items[{index}] is not an object")
            continue
        try:
            valid.append((index, kubectl_node().validate_python(item)))
        except ValidationError as error:
            result.problems += [f"{source}: {line}" for line in error_lines(error, f"items[{index}]")]
    return valid


def _read_kubectl_node(item: KubectlNode, index: int, source: str, result: InventoryRead) -> None:
    metadata = item.get("metadata") or {}
    name = metadata.get("name")
    if not name:
        result.problems.append(f"{source}: items[{index}] has no metadata.name")
        return
    spec = item.get("spec") or {}
    status = item.get("status") or {}
    labels = metadata.get("labels") or {}
    if spec.get("unschedulable"):
        result.skipped[name] = "cordoned (spec.unschedulable)"
        return
    if not is_ready(status):
        result.skipped[name] = "not Ready"
        return
    system = labels.get("kubernetes.io/os") or labels.get("beta.kubernetes.io/os") or "linux"
    if system != "linux":  # a Windows node runs no Linux container (and the pods fitc writes are)
        result.skipped[name] = f"kubernetes.io/os={system}"
        return
    resources = status.get("allocatable") or status.get("capacity")
    if resources is None:
        result.problems.append(f"{source}: node `{name}` has no status.allocatable or status.capacity")
        return
    try:
        node, unused = _kubectl_node(name, labels, resources, spec)
    except BadValue as error:
        result.bad_values.append(f"{source}: node `{name}`: {error}")
        return
    except ValueError as error:
        result.problems.append(f"{source}: node `{name}`: {error}")
        return
    result.nodes.append(node)
    if unused:
        result.unused[name] = unused


def is_ready(status: KubectlStatus) -> bool:
    """Whether a node's Ready condition holds (a node that states none is taken as Ready)."""
    conditions = status.get("conditions")
    if conditions is None:
        return True  # files trimmed by hand often drop conditions; trust them
    for condition in conditions:
        if condition.get("type") == "Ready":
            return condition.get("status") == "True"
    return True


def _kubectl_node(name: str, labels: dict[str, str], resources: dict[str, Quantity],
                  spec: KubectlSpec) -> tuple[InventoryNode, str]:
    """The node, and the devices it advertises that fitc leaves idle ("" where none)."""
    if "cpu" not in resources or "memory" not in resources:
        raise ValueError("allocatable has no `cpu` or no `memory`")
    cpu_milli = _whole_quantity(str(resources["cpu"]), 1000, "cpu (in millicores)",
                                MOST_CORES * 1000, "m")
    memory = _whole_quantity(str(resources["memory"]), 1, "memory", MOST_BYTES, " bytes")
    disk = _whole_quantity(str(resources.get("ephemeral-storage", "0")), 1, "ephemeral-storage",
                           MOST_BYTES, " bytes")
    gpu_resource, gpu_count = None, 0
    for resource in GPU_RESOURCES:
        if resource in resources:
            count = _whole_quantity(str(resources[resource]), 1, resource, MOST_ACCELERATORS, "")
            if count > 0:
                gpu_resource, gpu_count = resource, count
                break
    gpu_memory = _gpu_memory(labels)
    product = _gpu_product(labels)
    partition = None
    if gpu_count and gpu_resource == "nvidia.com/gpu":
        partition = read_partition(labels, product, gpu_memory)
    parts = sorted(((parts_count, resource) for resource in resources if is_part_resource(resource)
                    if (parts_count := _whole_quantity(str(resources[resource]), 1, resource,
                                                       MOST_ACCELERATORS, "")) > 0),
                   key=lambda found: (-found[0], found[1]))
    if parts and not gpu_count:  # parts only (MIG `mixed`, renamed sharing): the most of one kind
        chosen = advertised_parts(parts[0][1], parts[0][0], labels)
        gpu_resource, gpu_count, product = chosen.resource, chosen.count, chosen.product
        gpu_memory, partition = chosen.memory, chosen.partition
        parts = parts[1:]
    unused = ", ".join(f"{count} `{resource}`" for count, resource in parts)
    taints = []
    for taint in spec.get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute"):
            taints.append(Taint(str(taint.get("key")), str(taint.get("value", "")), taint["effect"]))
    return InventoryNode(
        name=name, cpu_milli=cpu_milli, memory=memory, gpu_count=gpu_count,
        gpu_product=product, gpu_memory=gpu_memory, gpu_partition=partition,
        gpu_resource=gpu_resource, disk=disk, labels=labels,
        zone=labels.get("topology.kubernetes.io/zone")
        or labels.get("failure-domain.beta.kubernetes.io/zone"),
        region=labels.get("topology.kubernetes.io/region"),
        arch=labels.get("kubernetes.io/arch", "amd64"),
        instance_type=labels.get("node.kubernetes.io/instance-type"), taints=taints,
        spot=capacity_spot(labels) is True,
        max_pods=_whole_quantity(str(resources["pods"]), 1, "pods", MOST_PODS, "") if "pods" in resources
        else None), unused


# the labels that name a node's accelerator, the most precise first: GPU feature discovery's,
# AMD's node labeller's (cmd/k8s-node-labeller of ROCm/k8s-device-plugin), GKE's, Karpenter's
_PRODUCT_LABELS = ("nvidia.com/gpu.product", "amd.com/gpu.product-name", "beta.amd.com/gpu.product-name",
                   "cloud.google.com/gke-accelerator", "karpenter.k8s.aws/instance-gpu-name",
                   "karpenter.k8s.aws/instance-accelerator-name")
GKE_TPU_ACCELERATOR = "cloud.google.com/gke-tpu-accelerator"
# the labels GKE puts on a TPU slice node, which a pod using its TPUs must select (GKE's TPU
# admission: "nodeSelector ... cloud.google.com/gke-tpu-accelerator ... gke-tpu-topology",
# cloud.google.com/kubernetes-engine/docs/how-to/tpus): nodes that differ in one are no class
GKE_TPU_SELECTORS = (GKE_TPU_ACCELERATOR, "cloud.google.com/gke-tpu-topology")
# GKE's TPU node label (cloud.google.com/gke-tpu-accelerator) -> the stdlib's accelerator
GKE_NODE_POOL = "cloud.google.com/gke-nodepool"


def tpu_slice(node: InventoryNode) -> tuple[str, int] | None:
    """(its GKE node pool, the hosts of its slice) for a host of a multi-host TPU slice: a node
    whose `cloud.google.com/gke-tpu-topology` holds more chips than the node has (`2x4` of a
    4-chip `ct5lp-hightpu-4t`: 8 chips on 2 hosts, one node pool). GKE makes a multi-host
    slice's node pool whole ("Plan TPUs in GKE"); None for other nodes, or where no node pool
    label says which slice the node is of."""
    topology = node.labels.get(GKE_TPU_SELECTORS[1], "")
    pool = node.labels.get(GKE_NODE_POOL)
    if not node.gpu_count or pool is None or not re.fullmatch(r"\d+(x\d+){1,2}", topology):
        return None
    chips = math.prod(int(side) for side in topology.split("x"))
    if chips <= node.gpu_count or chips % node.gpu_count:
        return None
    return pool, chips // node.gpu_count


_GKE_TPUS = {"tpu-v5-lite-podslice": "TPU_V5E", "tpu-v5-lite-device": "TPU_V5E",
             "tpu-v5p-slice": "TPU_V5P", "tpu-v6e-slice": "TPU_V6E"}


def _gpu_product(labels: dict[str, str]) -> str | None:
    tpu = labels.get(GKE_TPU_ACCELERATOR)
    if tpu is not None:
        return _GKE_TPUS.get(tpu, tpu)
    return next((labels[key] for key in _PRODUCT_LABELS if labels.get(key)), None)


def _gpu_memory(labels: dict[str, str]) -> int | None:
    """Bytes per device, as GPU feature discovery (`nvidia.com/gpu.memory`, MiB), Karpenter
    (`karpenter.k8s.aws/instance-gpu-memory`, MiB) or AMD's node labeller (`amd.com/gpu.vram`,
    GiB: `192G`) labels the node."""
    for key in ("nvidia.com/gpu.memory", "karpenter.k8s.aws/instance-gpu-memory"):
        if key in labels:
            return whole(parse_quantity(labels[key]), f"{key} (MiB)", MOST_BYTES // 2 ** 20) * 2 ** 20
    vram = labels.get("amd.com/gpu.vram") or labels.get("beta.amd.com/gpu.vram")
    if vram is None:
        return None
    if not vram.endswith("G"):
        raise BadValue(f"amd.com/gpu.vram={vram!r} is not a size in GiB (`192G`)")
    return whole(parse_quantity(vram[:-1]), "amd.com/gpu.vram (GiB)", MOST_BYTES // 2 ** 30) * 2 ** 30


# the states of a node no job fitc writes may start on; RESERVED: "in an advanced reservation and
# not generally available" (sinfo(1)): only jobs naming the reservation run there, and fitc's
# name none
_EXCLUDED_SLURM_STATES = ("DOWN", "DRAIN", "FAIL", "MAINT", "NOT_RESPONDING", "POWERED_DOWN",
                          "INVALID", "FUTURE", "REBOOT", "RESERVED")


def read_slurm(text: str, source: str) -> InventoryRead:
    """`scontrol -o show node` output: one `Key=Value ...` line per node; or `scontrol show
    node` output, each node a `NodeName=` line and its indented lines below it (read as one)."""
    from fitlang.core_schemas import validator  # `documents_read.SlurmNodeRecord`, generated

    result = InventoryRead()
    lines: list[tuple[int, dict[str, str] | None]] = []  # None: a line that names no node
    for number, line in _slurm_records(text):
        fields = _slurm_fields(line)
        lines.append((number, fields if "NodeName" in fields else None))
    # every value is text, so nothing fails here: the records are typed, the other fields dropped
    records = iter(validator("slurm-node-records").validate_python([f for _, f in lines if f is not None]))
    for number, named in lines:
        if named is None:
            result.problems.append(f"{source}:{number}: no NodeName=; expected "
                                   "`scontrol -o show node` output (one node per line)")
        else:
            _read_slurm_node(next(records), f"{source}:{number}", result)
    if not lines:
        result.problems.append(f"{source}: no nodes in the file")
    return result


def _slurm_records(text: str) -> list[tuple[int, str]]:
    """Each record's first line number and text. `scontrol show node` without `-o` prints a
    node as a `NodeName=` line and indented lines of its other fields (`   CPUAlloc=0 ...`,
    `   Gres=gpu:h100:8`), a blank line between nodes: an indented line goes on the record
    above it (read line by line, each was "no NodeName=", and the node had no CPUTot)."""
    records: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if line[0].isspace() and records:
            first, joined = records[-1]
            records[-1] = (first, f"{joined} {line.strip()}")
        else:
            records.append((number, line))
    return records


def _slurm_fields(line: str) -> dict[str, str]:
    """`Key=Value` pairs; a key given twice keeps its first value."""
    return dict(reversed(_SLURM_FIELD.findall(line)))


_SLURM_FIELD = re.compile(r"(\w+)=(\S*)")


def _read_slurm_node(record: SlurmNodeRecord, where: str, result: InventoryRead) -> None:
    name = record["NodeName"]
    state = record.get("State", "IDLE")
    states = set(re.split(r"[+*~#!%$@^-]+", state.upper()))
    excluded = sorted(states.intersection(_EXCLUDED_SLURM_STATES))
    if excluded:
        result.skipped[name] = f"State={state}"
        return
    try:
        threads = _slurm_whole(record.get("ThreadsPerCore") or "1", "ThreadsPerCore", 64)
        cpus, cpus_field = _slurm_cpus(record, threads)
        memory = _slurm_memory_mib(record) * 2 ** 20  # Slurm counts memory in MiB
        disk = _slurm_whole(record.get("TmpDisk") or "0", "TmpDisk (MiB)",
                            MOST_BYTES // 2 ** 20) * 2 ** 20
        gpu_count, gpu_type = _slurm_gpus(record.get("Gres", ""))
        held = _slurm_allocated(record, gpu_count)
        if threads < 1 or cpus % threads:
            raise BadValue(f"ThreadsPerCore={threads} does not divide {cpus_field}={cpus} into cores")
    except BadValue as error:
        result.bad_values.append(f"{where}: node `{name}`: {error}")
        return
    except (KeyError, ValueError):
        result.problems.append(f"{where}: node `{name}` needs numeric CPUTot= and RealMemory=")
        return
    features = [f for f in re.split(r"[,&|]", record.get("AvailableFeatures", ""))
                if f and f != "(null)"]
    arch = "arm64" if record.get("Arch", "").lower() in ("aarch64", "arm64") else "amd64"
    labels = {"slurm.partition." + p: "true" for p in record.get("Partitions", "").split(",") if p}
    if held is not None:
        result.allocated[name] = held
        if gpu_count and record.get("GresUsed") is None and _alloc_tres_gpus(record) is None:
            result.gpus_unstated.append(name)
    result.nodes.append(InventoryNode(
        name=name, cpu_milli=cpus * 1000, memory=memory, gpu_count=gpu_count,
        gpu_product=gpu_type,  # gpu_resource None: a GRES `gpu` names no vendor's device plugin
        gpu_partition=read_partition({}, gpu_type, None) if gpu_count else None,
        disk=disk, labels=labels, arch=arch,
        features=features, threads_per_core=threads))


def _slurm_allocated(record: SlurmNodeRecord, gpu_count: int) -> dict[str, int] | None:
    """What the node's running jobs hold (`CPUAlloc=`, `AllocMem=` MiB, GPUs), None where
    nothing (an IDLE node) or the line says nothing of it. Raises BadValue. The GPUs held are
    `GresUsed=gpu:..:N` (`scontrol -d`), else `AllocTRES`'s `gres/gpu=N` (where accounting
    tracks GPUs); where the line states neither, on a node that runs jobs, every GPU: Slurm
    22.05's `scontrol -o show node` prints no `GresUsed`, and a node of 8 GPUs with 4 held
    took 8 GPUs of fitc's work that then waited."""
    cpus = _slurm_whole(record.get("CPUAlloc") or "0", "CPUAlloc", MOST_CORES)
    memory = _slurm_whole(record.get("AllocMem") or "0", "AllocMem (MiB)", MOST_BYTES // 2 ** 20)
    if record.get("GresUsed") is not None:
        gpus, _ = _slurm_gpus(record.get("GresUsed") or "")
    else:
        stated = _alloc_tres_gpus(record)
        gpus = stated if stated is not None else (gpu_count if cpus or memory else 0)
    if not (cpus or memory or gpus):
        return None
    return {"cpu": cpus * 1000, "memory": memory * 2 ** 20, "gpu": min(gpus, gpu_count), "disk": 0}


def _alloc_tres_gpus(record: SlurmNodeRecord) -> int | None:
    """`AllocTRES=cpu=8,mem=100G,gres/gpu=4,gres/gpu:a100=4`: the untyped `gres/gpu` count
    (the typed ones repeat it), None where the line has no such entry (accounting that does
    not track GPUs prints none, even with GPUs held)."""
    for item in (record.get("AllocTRES") or "").split(","):
        key, _, value = item.partition("=")
        if key == "gres/gpu":
            if not re.fullmatch(r"\d+", value):
                raise BadValue(f"AllocTRES item `{item}` has no whole GPU count")
            return whole(Decimal(value), "GPUs in AllocTRES", MOST_ACCELERATORS)
    return None


def _slurm_cpus(record: SlurmNodeRecord, threads: int) -> tuple[int, str]:
    """The CPUs Slurm gives jobs, and the field that said so: `CPUEfctv=` (CPUTot less the
    cores kept for the system by `CoreSpecCount` / `CPUSpecList`), else CPUTot less
    CoreSpecCount's cores (a Slurm that prints no CPUEfctv). Slurm 22.05 measured: on a node
    of CPUTot=8 CoreSpecCount=2 (CPUEfctv=6) `sbatch -n 7` is "Requested node configuration
    is not available"; counting CPUTot placed 8."""
    if record.get("CPUEfctv"):
        return _slurm_whole(record["CPUEfctv"], "CPUEfctv", MOST_CORES), "CPUEfctv"
    total = _slurm_whole(record.get("CPUTot") or record["CPUs"], "CPUTot", MOST_CORES)
    kept = _slurm_whole(record.get("CoreSpecCount") or "0", "CoreSpecCount", MOST_CORES) * max(threads, 1)
    if kept >= total and kept:
        raise BadValue(f"CoreSpecCount keeps {kept} of CPUTot={total} CPUs for the system")
    return total - kept, "CPUTot"


def _slurm_memory_mib(record: SlurmNodeRecord) -> int:
    """The MiB Slurm gives jobs: RealMemory less `MemSpecLimit=` (kept for the system: on
    RealMemory=8000 MemSpecLimit=2000, `sbatch --mem=7000` is refused and 6000 runs)."""
    real = _slurm_whole(record["RealMemory"], "RealMemory (MiB)", MOST_BYTES // 2 ** 20)
    kept = _slurm_whole(record.get("MemSpecLimit") or "0", "MemSpecLimit (MiB)", MOST_BYTES // 2 ** 20)
    if kept >= real and kept:
        raise BadValue(f"MemSpecLimit={kept} keeps all of RealMemory={real} MiB for the system")
    return real - kept


def _slurm_whole(text: str, what: str, most: int) -> int:
    """A Slurm count. Text that is no number at all is malformed (ValueError); a number that
    is negative, fractional or too large is a bad value (BadValue)."""
    text = text.strip()
    if not re.fullmatch(r"[+-]?(\d{1,30}\.?\d{0,30}|\.\d{1,30})([eE][+-]?\d{1,3})?", text):
        raise ValueError(f"{what}={text} is not a number")
    return whole(Decimal(text), what, most)


_GRES_ITEM = re.compile(r"(?P<name>[\w.-]+)(?::(?P<type>[\w.-]+))?(?::(?P<count>[^:(]+))?"
                        r"(?:\((?P<extra>[^)]*)\))?")


def _slurm_gpus(gres: str) -> tuple[int, str | None]:
    """`Gres=gpu:a100:4(S:0-1),gpu:2,nic:1`: the GPU count and the first named type. An
    item that names `gpu` but does not parse is an error, never 0 GPUs."""
    total, kind = 0, None
    if gres in ("", "(null)"):
        return 0, None
    for part in re.split(r",(?![^(]*\))", gres):  # not the commas of `(S:0,2)`
        part = part.strip()
        match = _GRES_ITEM.fullmatch(part)
        if match is None or match.group("name") != "gpu":
            if part.startswith("gpu"):
                raise BadValue(f"Gres item `{part}` is not `gpu[:TYPE]:COUNT`")
            continue
        count_text = match.group("count")
        if count_text is None:  # `gpu:4` (type omitted) or `gpu:a100` (count omitted)
            count_text, gpu_type = match.group("type"), None
        else:
            gpu_type = match.group("type")
        if count_text is None or not re.fullmatch(r"\d+", count_text):
            raise BadValue(f"Gres item `{part}` has no whole GPU count (`gpu[:TYPE]:COUNT`)")
        total += whole(Decimal(count_text), "GPUs in Gres", MOST_ACCELERATORS)
        kind = kind or gpu_type
    if total > MOST_ACCELERATORS:
        raise BadValue(f"Gres counts {total} GPUs; at most {MOST_ACCELERATORS} per node")
    return total, kind
