"""Does each node a Terraform directory buys admit what the placement packed onto it?

Read apart from the renderer (`terraform_eks.py`), as the cloud would:
- EKS: the group's `launch_template` names an `aws_launch_template` of the same provider;
  its user data (a `base64encode` of a heredoc, or base64 text) is MIME multipart, and its
  `application/node.eks.aws` parts are nodeadm NodeConfigs, merged in order. What they set is
  what the kubelet runs with: `maxPods` (absent: the AMI's, unknown here), `kubeReserved`
  cpu and memory (each the model's, or the allocatable differs), and
  `instance.localStorage.strategy` (RAID0 puts the kubelet's ephemeral storage on the
  instance store; absent, on the root volume the template's /dev/xvda mapping sizes).
- GKE: `node_config.ephemeral_storage_local_ssd_config.local_ssd_count` (its Local SSDs, no
  more than the offer's `disk` holds), else `node_config.disk_size_gb` (absent: GKE's 100).
- AKS: `kubelet_disk_type` `Temporary`: the temp disk, known only on the sizes whose offer
  `disk` is it (`AKS_TEMP_DISK_SIZES`); else `os_disk_size_gb` (absent: unknown here).
A node's ephemeral storage read so (`model/node_disks.py`'s reservations) must hold the most
`disk` the placement puts on a node of that group.
"""

from __future__ import annotations

import base64
import binascii
import email
import re
import textwrap
from collections import Counter

import yaml

from fitlang.model.node_disks import (
    AKS_TEMP_DISK_SIZES,
    GIB,
    GKE_LOCAL_SSD,
    disk_allocatable,
    gke_local_ssd_allocatable,
)
from fitlang.model.problem import NodeClass
from fitlang.model.reservations import EVICTION_HARD_MEMORY
from fitlang.targets.base import CompileContext

NODE_CONFIG_TYPE = "application/node.eks.aws"
TEMPLATE_ID = re.compile(r"aws_launch_template\.(?P<label>[A-Za-z0-9_-]+)\.id")
HEREDOC = re.compile(r'base64encode\("<<(?P<flush>-?)(?P<marker>\w+)\n(?P<text>.*?)\n[ \t]*(?P=marker)"\)',
                     re.S)
ROOT_DEVICE = "/dev/xvda"


def launch_template_of(body: dict, templates: dict[str, dict], problems: list[str]) -> dict | None:
    """The `aws_launch_template` an EKS group's `launch_template` block names, in the group's
    own provider; None (with a problem) where it names none fitc can read."""
    blocks = body.get("launch_template") or []
    if not blocks:
        return None
    match = TEMPLATE_ID.fullmatch(str(blocks[0].get("id", "")))
    template = templates.get(match["label"]) if match else None
    if template is None:
        problems.append("its launch_template is not an aws_launch_template of the files")
    elif str(template.get("provider", "aws")) != str(body.get("provider", "aws")):
        problems.append("its launch template is in another provider (region) than the group")
        return None
    return template


def node_config(template: dict | None, problems: list[str]) -> dict:
    """The NodeConfig `spec` the template's user data sets, its parts merged in order ({}:
    none)."""
    if template is None or "user_data" not in template:
        return {}
    text = _user_data(template["user_data"])
    if text is None:
        problems.append("its launch template's user data is neither base64encode(<<-EOT ...) nor base64")
        return {}
    spec: dict = {}
    for part in email.message_from_string(text).walk():
        if part.get_content_type() != NODE_CONFIG_TYPE:
            continue
        try:
            document = yaml.safe_load(part.get_payload())
        except yaml.YAMLError:
            problems.append("a NodeConfig of its user data is not YAML")
            continue
        if isinstance(document, dict) and document.get("kind") == "NodeConfig":
            _merge(spec, document.get("spec") or {})
    return spec


def _user_data(value: object) -> str | None:
    heredoc = HEREDOC.fullmatch(str(value))
    if heredoc:
        text = heredoc["text"] + "\n"
        return textwrap.dedent(text) if heredoc["flush"] else text
    try:
        return base64.b64decode(str(value), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None


def _merge(into: dict, spec: dict) -> None:
    for key, value in spec.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


def eks_max_pods(spec: dict) -> int | None:
    pods = ((spec.get("kubelet") or {}).get("config") or {}).get("maxPods")
    return pods if isinstance(pods, int) else None


def eks_problems(spec: dict, template: dict | None, node_class: NodeClass) -> list[str]:
    """What of the NodeConfig gives the node other allocatable CPU or memory than fitc packed."""
    reserved = ((spec.get("kubelet") or {}).get("config") or {}).get("kubeReserved") or {}
    wanted = {"cpu": f"{node_class.reserved.get('cpu', 0)}m",
              "memory": node_class.reserved.get("memory", 0) - EVICTION_HARD_MEMORY}
    found = {"cpu": reserved.get("cpu"), "memory": _bytes(reserved.get("memory"))}
    if template is None or found != wanted:
        return [f"its nodes' kubeReserved is {found} (the AMI's where absent), not the "
                f"{wanted} fitc packed {node_class.instance_type} to"]
    return []


def _bytes(quantity: object) -> int | None:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi)?", str(quantity))
    if match is None:
        return None
    return int(match[1]) * {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": GIB, None: 1}[match[2]]


def admitted_storage(kind: str, body: dict, template: dict | None, spec: dict,
                     node_class: NodeClass) -> int | None:
    """The ephemeral storage each node of the group admits, as the files set it up; None
    where the files leave it unknown."""
    provider = node_class.provider or "aws"
    if kind == "aws_eks_node_group":
        local = ((spec.get("instance") or {}).get("localStorage") or {}).get("strategy")
        if local == "RAID0":
            return disk_allocatable(provider, node_class.local_disk)
        size = _root_volume(template) if template is not None else None
        return None if size is None else disk_allocatable(provider, size * GIB)
    if kind == "google_container_node_pool":
        config = (body.get("node_config") or [{}])[0]
        local = (config.get("ephemeral_storage_local_ssd_config") or [{}])[0]
        count = local.get("local_ssd_count", 0)
        if count != 0:  # the pool's Local SSDs, where the machine has that many
            known = isinstance(count, int) and 0 < count * GKE_LOCAL_SSD <= node_class.local_disk
            return gke_local_ssd_allocatable(count) if known else None
        size = config.get("disk_size_gb", 100)
        return disk_allocatable(provider, size * GIB) if isinstance(size, int) else None
    if body.get("kubelet_disk_type", "OS") == "Temporary":  # the size's temp disk
        known = node_class.instance_type in AKS_TEMP_DISK_SIZES
        return disk_allocatable(provider, node_class.local_disk) if known else None
    size = body.get("os_disk_size_gb")
    if body.get("kubelet_disk_type", "OS") != "OS" or not isinstance(size, int):
        return None
    return disk_allocatable(provider, size * GIB)


def _root_volume(template: dict) -> int | None:
    for mapping in template.get("block_device_mappings", []):
        if mapping.get("device_name") == ROOT_DEVICE:
            sizes = [ebs.get("volume_size") for ebs in mapping.get("ebs", [])]
            return sizes[0] if len(sizes) == 1 and isinstance(sizes[0], int) else None
    return 20  # no mapping of the root device: EKS's default root volume


def packed_disk(context: CompileContext, node_classes: set[str]) -> int:
    """The most `disk` the placement puts on one node of these classes."""
    owners = context.problem.owners()
    per_node: Counter[str] = Counter()
    for assignment in context.placement.assignments:
        if owners[assignment.node].id in node_classes:
            per_node[assignment.node] += context.problem.demand(assignment.workload).requests.get("disk", 0)
    return max(per_node.values(), default=0)
