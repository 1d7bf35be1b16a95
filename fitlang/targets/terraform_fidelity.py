"""Does a Terraform directory buy exactly what the placement priced?

Reads the `.tf` files as Terraform and the clouds would (python-hcl2, no code shared with the
renderer in `terraform.py`) and works out, per resource, the capacity it makes the cloud run:
provider, region (from the AWS provider alias, the GKE `location`, the AKS cluster), instance
type, node count (EKS: a fixed `scaling_config`; GKE: `node_count` per zone times the zones in
`node_locations`; AKS: `node_count`; times any `count`), and spot or on-demand. That is
compared with the nodes the placement bought, offer by offer (each node group carries the
`fitlang.dev/pool` label of its offer, which the Kubernetes objects select). Also checked:
the cluster the policy names, EKS AMI types that run the instance's accelerators, TPU pools
only in zones that sell them, and AKS spot prices capped at what was priced.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction

import hcl2

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import NodeClass
from fitlang.targets.base import CompileContext, Findings, dns_name
from fitlang.targets.cloud_facts import GKE_TPU_ZONES
from fitlang.targets.terraform import GKE_DEFAULT_MAX_PODS, TerraformSettings
from fitlang.targets.terraform_node_fidelity import (
    admitted_storage,
    eks_max_pods,
    eks_problems,
    launch_template_of,
    node_config,
    packed_disk,
)

POOL_LABEL = "fitlang.dev/pool"
PROVIDER_OF_RESOURCE = {"aws_eks_node_group": "aws", "google_container_node_pool": "gcp",
                        "azurerm_kubernetes_cluster_node_pool": "azure"}
ZONE = re.compile(r"^(?P<region>[a-z]+-[a-z]+\d+)-[a-z]$")


@dataclass(frozen=True)
class Capacity:
    """What one node group makes the cloud run, but for how many nodes."""

    provider: str
    region: str
    instance_type: str
    spot: bool
    pool_label: str
    # the pods each node's kubelet admits, where the group sets it (GKE `max_pods_per_node`, its
    # default 110 where absent; AKS `max_pods`; EKS its launch template's NodeConfig `maxPods`;
    # None where absent: AKS's network plugin's default, EKS's AMI's per instance type)
    max_pods: int | None = None

    def describe(self) -> str:
        pricing = "spot" if self.spot else "on-demand"
        pods = "" if self.max_pods is None else f", {self.max_pods} pods a node"
        return (f"{self.provider} {self.instance_type} in {self.region}, {pricing}, "
                f"{POOL_LABEL}={self.pool_label}{pods}")

    def order(self) -> tuple:
        """The order findings are reported in (the pods a node admits, where unknown, first)."""
        return (self.provider, self.region, self.instance_type, self.spot, self.pool_label,
                -1 if self.max_pods is None else self.max_pods)


@dataclass
class Read:
    """The blocks of every file: provider, resource and data blocks, and blocks fitc cannot
    see into (`module`, `import`)."""

    providers: list[tuple[str, dict]]
    resources: list[tuple[str, str, dict]]
    data: list[tuple[str, str, dict]]
    others: list[str]


def check_files(context: CompileContext, files: dict[str, str],
                need: Findings) -> list[Diagnostic]:
    """What in `files` does not buy what the placement priced (`need`: E0618 by default)."""
    needs: list[Diagnostic] = []
    read = _read(files, needs, need)
    if read is None:
        return needs
    expected = _bought(context)
    classes = {capacity: node_class for capacity, (_, node_class) in expected.items()}
    policy = context.program.policy

    def cluster(provider: str, region: str) -> str | None:
        """The cluster the policy names for nodes bought there (docs/language.md, Clusters);
        None: the region's cluster, given in a variable."""
        stated = policy.settings_of(TerraformSettings)
        named = stated.provider in (None, provider) and stated.region in (None, region)
        return stated.cluster if named else None

    found: Counter[Capacity] = Counter()
    timed = context.problem.timeline is not None
    groups: dict[str, Capacity] = {}  # EKS resource label -> what it runs (for the schedules)
    schedules: list[tuple[str, dict]] = []
    for kind in read.others:
        needs.append(need(f"{kind}: fitc writes no such block; what it buys is not checked"))
    aws_regions = {body.get("alias"): body.get("region") for name, body in read.providers
                   if name == "aws"}
    clusters = {label: body for kind, label, body in read.data if kind == "azurerm_kubernetes_cluster"}
    templates = launch_templates(read)
    for kind, label, body in read.resources:
        address = f"{kind}.{label}"
        if kind == SCHEDULE and timed:
            schedules.append((label, body))
            continue
        if kind == LAUNCH_TEMPLATE:  # read with the group that names it
            continue
        if kind not in PROVIDER_OF_RESOURCE:
            needs.append(need(f"{address}: a resource fitc does not write; it may buy capacity "
                              "that was not priced"))
            continue
        reader = READERS[PROVIDER_OF_RESOURCE[kind]]
        problems: list[str] = []
        result = reader(body, problems, aws_regions=aws_regions, clusters=clusters, cluster=cluster,
                        timed=timed, templates=templates)
        copies = _copies(body, problems)
        if result is not None and copies is not None:
            capacity, count = result
            if kind == "aws_eks_node_group":
                groups[label] = capacity
            node_class = classes.get(capacity)
            if node_class is not None:
                problems += _runs_on(kind, body, node_class, capacity)
                problems += _node_problems(context, kind, body, templates, node_class, capacity)
            found[capacity] += count * copies
        needs += [need(f"{address}: {problem}") for problem in problems]
    for capacity in sorted(set(found) | set(expected), key=Capacity.order):
        bought, node_class = expected.get(capacity, (0, None))
        if found[capacity] != bought:
            needs.append(need(f"the files buy {found[capacity]} x {capacity.describe()}; the "
                              f"placement bought and priced {bought}",
                              node_class.origin if node_class else None))
    if timed:
        needs += _schedule_needs(context, groups, schedules, need)
    return needs


def _bought(context: CompileContext) -> dict[Capacity, tuple[int, NodeClass]]:
    """Capacity -> (nodes the placement bought, a class they belong to)."""
    bought: dict[Capacity, tuple[int, NodeClass]] = {}
    for class_id, nodes in sorted(context.placement.bought.items()):
        node_class = context.problem.node_class(class_id)
        if not nodes:
            continue
        capacity = capacity_of(node_class)
        earlier, first = bought.get(capacity, (0, node_class))
        bought[capacity] = (earlier + len(nodes), first)
    return bought


def capacity_of(node_class: NodeClass) -> Capacity:
    """What a bought node of `node_class` is, as a node group of the files is read."""
    return Capacity(node_class.provider or "aws", node_class.region or "", node_class.instance_type or "",
                    node_class.spot, dns_name(node_class.pool), node_class.kubelet_max_pods)


def group_names(files: dict[str, str]) -> dict[Capacity, set[str]]:
    """Capacity -> the names its node groups in `files` have in their cloud (EKS
    `node_group_name`, GKE and AKS `name`), which the cloud puts on their nodes as a label."""
    read = _read(files, [], Findings("terraform", "", msg.TerraformDrift))
    if read is None:
        return {}
    aws_regions = {body.get("alias"): body.get("region") for name, body in read.providers
                   if name == "aws"}
    clusters = {label: body for kind, label, body in read.data if kind == "azurerm_kubernetes_cluster"}
    templates = launch_templates(read)
    found: dict[Capacity, set[str]] = {}
    for kind, _, body in read.resources:
        provider = PROVIDER_OF_RESOURCE.get(kind)
        result = None if provider is None else READERS[provider](
            body, [], aws_regions=aws_regions, clusters=clusters, cluster=lambda *_: None,
            templates=templates)
        name = _literal(body.get("node_group_name" if kind == "aws_eks_node_group" else "name"))
        if result is not None and isinstance(name, str):
            found.setdefault(result[0], set()).add(name)
    return found


def _read(files: dict[str, str], needs: list[Diagnostic], need: Findings) -> Read | None:
    read = Read([], [], [], [])
    # python-hcl2 keeps each string as written (quotes and escapes): `_decoded` reads it as
    # Terraform does, so that a hostile name compares by its value
    options = hcl2.SerializationOptions(explicit_blocks=False)
    for path, text in sorted(files.items()):
        if not path.endswith(".tf"):
            continue
        try:
            parsed = _decoded_file(hcl2.loads(text, serialization_options=options))
        except Exception as error:
            needs.append(need(f"{path}: not HCL that Terraform reads ({type(error).__name__}: "
                              f"{str(error).splitlines()[0] if str(error) else ''})"))
            return None
        for block in parsed.get("provider", []):
            read.providers += list(block.items())
        for block in parsed.get("resource", []):
            read.resources += [(kind, label, body) for kind, named in block.items()
                               for label, body in named.items()]
        for block in parsed.get("data", []):
            read.data += [(kind, label, body) for kind, named in block.items()
                          for label, body in named.items()]
        read.others += [f"{path}: `{kind}` block" for kind in parsed
                        if kind in ("module", "import")]
    return read


class Expression(str):
    """A value Terraform computes (`var.x`, `"a-${var.b}"`): its source text."""


ESCAPES = {"n": "\n", "r": "\r", "t": "\t", '"': '"', "\\": "\\"}


def _decoded_file(tree: dict) -> dict:
    """`_decoded` of a whole file: python-hcl2 gives a dict of block types."""
    return {_decoded(key): _decoded(item) for key, item in tree.items()}


def _decoded(value: object) -> object:
    """The parsed tree with every string literal replaced by its value (HCL escapes and `$${`
    resolved) and every computed value by an `Expression`."""
    if isinstance(value, dict):
        return {_decoded(key): _decoded(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_decoded(item) for item in value]
    if not isinstance(value, str):
        return value
    if len(value) >= 2 and value[0] == value[-1] == '"':
        text = _template_text(value[1:-1])
        return Expression(value) if text is None else text
    if value.startswith("${") and value.endswith("}"):
        return Expression(value[2:-1])
    return value  # a bare identifier (block types, keys)


def _template_text(raw: str) -> str | None:
    """The value of a quoted HCL template, or None when it interpolates or has directives."""
    out, index = [], 0
    while index < len(raw):
        if raw[index] == "\\":
            code = raw[index + 1]
            width = {"u": 4, "U": 8}.get(code, 0)
            out.append(chr(int(raw[index + 2:index + 2 + width], 16)) if width else ESCAPES[code])
            index += 2 + width
        elif raw.startswith(("$${", "%%{"), index):
            out.append(raw[index + 1:index + 3])
            index += 3
        elif raw.startswith(("${", "%{"), index):
            return None
        else:
            out.append(raw[index])
            index += 1
    return "".join(out)


def _expression(value: object) -> str | None:
    """The source of a computed value (`${var.x}` -> `var.x`); None for literals."""
    return str(value) if isinstance(value, Expression) else None


def _literal(value: object) -> object:
    return None if isinstance(value, Expression) else value


def _map_lookup(value: object, variable: str) -> str | None:
    """The key of `var.<variable>["key"]`, or None when `value` is something else."""
    expression = _expression(value)
    match = re.fullmatch(rf'var\.{variable}\[("(?:[^"\\]|\\.)*")\]', expression or "")
    return _template_text(match.group(1)[1:-1]) if match else None


def _block(body: dict, name: str) -> dict | None:
    blocks = body.get(name) or []
    return blocks[0] if len(blocks) == 1 else None


def _copies(body: dict, problems: list[str]) -> int | None:
    if "for_each" in body:
        problems.append("`for_each`: how many copies it makes is not known from the files")
        return None
    count = body.get("count", 1)
    if not isinstance(count, int):
        problems.append(f"`count = {count}`: not a number fitc can check")
        return None
    return count


def _pool_label(labels: object, problems: list[str]) -> str | None:
    if not isinstance(labels, dict) or not isinstance(labels.get(POOL_LABEL), str):
        problems.append(f"no `{POOL_LABEL}` label: no workload selects these nodes")
        return None
    return labels[POOL_LABEL]


def _cluster_in(value: object, variable: str, region: str, cluster: str | None,
                problems: list[str], attribute: str) -> None:
    """`value` names `cluster`, or (None) the region's cluster from the variable."""
    if cluster is not None:
        if value != cluster:
            problems.append(f"`{attribute}` is not `{cluster}`, the cluster the policy names")
    elif _map_lookup(value, variable) != region:
        problems.append(f"`{attribute}` is not the cluster of {region} (var.{variable}[\"{region}\"])")


def _eks(body: dict, problems: list[str], *, aws_regions: dict, cluster, timed: bool = False,
         templates: dict | None = None, **_: object) -> tuple[Capacity, int] | None:
    alias = (_expression(body.get("provider")) or "aws").removeprefix("aws").removeprefix(".")
    region = _literal(aws_regions.get(alias or None))
    types = body.get("instance_types")
    instance_type = _literal(types[0]) if isinstance(types, list) and len(types) == 1 else None
    scaling = _block(body, "scaling_config") or {}
    sizes = {scaling.get(key) for key in ("desired_size", "min_size", "max_size")}
    size = next(iter(sizes)) if len(sizes) == 1 else None
    if timed and scaling.get("desired_size") == scaling.get("min_size") == 0:
        size = scaling.get("max_size")  # in time: empty until its schedules size it
    capacity_type = body.get("capacity_type", "ON_DEMAND")
    if not isinstance(region, str):
        problems.append("its AWS provider names no region")
    if not isinstance(instance_type, str):
        problems.append("not exactly one instance type: EKS may start any of them")
    if not isinstance(size, int):
        problems.append("desired, min and max size differ: the group may scale away from what "
                        "was bought")
    if capacity_type not in ("ON_DEMAND", "SPOT"):
        problems.append(f"capacity type {capacity_type!r} is neither ON_DEMAND nor SPOT")
    label = _pool_label(body.get("labels"), problems)
    # the isinstance tests restate the problems above for the type checker
    if problems or label is None or not isinstance(region, str) or not isinstance(instance_type, str) \
            or not isinstance(size, int):
        return None
    _cluster_in(body.get("cluster_name"), "aws_cluster_names", region, cluster("aws", region), problems,
                "cluster_name")
    if _map_lookup(body.get("subnet_ids"), "aws_subnet_ids") != region:
        problems.append(f"its subnets are not those given for {region}")
    spec = node_config(launch_template_of(body, templates or {}, problems), problems)
    return Capacity("aws", region, instance_type, capacity_type == "SPOT", label, eks_max_pods(spec)), size


def _gke(body: dict, problems: list[str], *, cluster,
         **_: object) -> tuple[Capacity, int] | None:
    location = _literal(body.get("location"))
    config = _block(body, "node_config") or {}
    machine_type = _literal(config.get("machine_type"))
    count = body.get("node_count")
    if not isinstance(location, str):
        problems.append("no literal `location`: its region is unknown")
        return None
    zone = ZONE.match(location)
    region = zone.group("region") if zone else location
    zones = body.get("node_locations", [location] if zone else None)
    if zones is None:
        problems.append(f"regional location {location} without `node_locations`: `node_count` "
                        "is per zone, so it buys node_count x every zone of the cluster")
    elif not isinstance(zones, list):
        problems.append("`node_locations` is not a list of zones: how many zones is not known")
    elif any(not _zone_of(z, region) for z in zones):
        problems.append(f"a zone of `node_locations` is not a zone of {region}")
    if "autoscaling" in body or not isinstance(count, int):
        problems.append("no fixed `node_count`: the pool may scale away from what was bought")
    if not isinstance(machine_type, str):
        problems.append("no literal `machine_type`")
    label = _pool_label(config.get("labels"), problems)
    # the isinstance tests restate the problems above for the type checker
    if problems or label is None or not isinstance(machine_type, str) or not isinstance(count, int) \
            or not isinstance(zones, list):
        return None
    _cluster_in(body.get("cluster"), "gcp_clusters", region, cluster("gcp", region), problems,
                "cluster")
    spot = config.get("spot") is True or config.get("preemptible") is True
    pods = body.get("max_pods_per_node", GKE_DEFAULT_MAX_PODS)
    return Capacity("gcp", region, machine_type, spot, label,
                    pods if isinstance(pods, int) else None), count * len(zones)


def _zone_of(zone: object, region: str) -> bool:
    """A literal zone of `region`, or the zone the variable (validated so) gives for it."""
    if _map_lookup(zone, "gcp_zones") == region:
        return True
    match = ZONE.match(zone) if isinstance(zone, str) and _expression(zone) is None else None
    return match is not None and match.group("region") == region


def _aks(body: dict, problems: list[str], *, clusters: dict, cluster,
         **_: object) -> tuple[Capacity, int] | None:
    region = _aks_region(body, clusters, cluster, problems)
    vm_size = _literal(body.get("vm_size"))
    count = body.get("node_count")
    if body.get("auto_scaling_enabled") is True or body.get("enable_auto_scaling") is True \
            or not isinstance(count, int):
        problems.append("no fixed `node_count`: the pool may scale away from what was bought")
    if not isinstance(vm_size, str):
        problems.append("no literal `vm_size`")
    priority = body.get("priority", "Regular")
    if priority not in ("Regular", "Spot"):
        problems.append(f"priority {priority!r} is neither Regular nor Spot")
    label = _pool_label(body.get("node_labels"), problems)
    # the isinstance tests restate the problems above for the type checker
    if problems or label is None or region is None or not isinstance(vm_size, str) \
            or not isinstance(count, int):
        return None
    pods = body.get("max_pods")  # (absent: the network plugin's default, not known here)
    return Capacity("azure", region, vm_size, priority == "Spot", label,
                    pods if isinstance(pods, int) else None), count


def _aks_region(body: dict, clusters: dict, cluster, problems: list[str]) -> str | None:
    """Where an AKS pool runs: where its cluster is, which the files say through the region
    key of the cluster id variable, or a precondition on the looked-up cluster's location."""
    cluster_id = body.get("kubernetes_cluster_id")
    keyed = _map_lookup(cluster_id, "azure_cluster_ids")
    if keyed is not None:
        if cluster("azure", keyed) is not None:
            problems.append(f"`kubernetes_cluster_id` is not `{cluster('azure', keyed)}`, the "
                            "cluster the policy names")
        return keyed
    match = re.fullmatch(r"data\.azurerm_kubernetes_cluster\.([\w-]+)\.id", _expression(cluster_id) or "")
    data = clusters.get(match.group(1)) if match else None
    if match is None or data is None:
        problems.append("`kubernetes_cluster_id` is neither a looked-up cluster nor the one "
                        "given per region")
        return None
    for lifecycle in body.get("lifecycle", []):
        for precondition in lifecycle.get("precondition", []):
            located = re.fullmatch(r'contains\(\[("(?:[^"\\]|\\.)*")\], '
                                   rf'data\.azurerm_kubernetes_cluster\.{match.group(1)}\.location\)',
                                   _expression(precondition.get("condition")) or "")
            if located:
                region = _template_text(located.group(1)[1:-1])
                if data.get("name") != cluster("azure", region):
                    problems.append(f"its cluster `{data.get('name')}` is not the one the policy "
                                    f"names for {region}")
                return region
    problems.append("nothing states the region of its cluster (a precondition on its location)")
    return None


def launch_templates(read: Read) -> dict[str, dict]:
    """Each `aws_launch_template` of the files, by its label."""
    return {label: body for kind, label, body in read.resources if kind == LAUNCH_TEMPLATE}


def _node_problems(context: CompileContext, kind: str, body: dict, templates: dict[str, dict],
                   node_class: NodeClass, capacity: Capacity) -> list[str]:
    """What keeps a node of the group from admitting what the placement packed onto it: its
    reservation (EKS) and its ephemeral storage (terraform_node_fidelity.py)."""
    problems: list[str] = []
    read: list[str] = []  # (what is unreadable in the template: `_eks` said it already)
    template = launch_template_of(body, templates, read) if kind == "aws_eks_node_group" else None
    spec = node_config(template, read)
    if kind == "aws_eks_node_group":
        problems += eks_problems(spec, template, node_class)
    classes = {c for c in context.placement.bought if capacity_of(context.problem.node_class(c)) == capacity}
    packed = packed_disk(context, classes)
    admitted = admitted_storage(kind, body, template, spec, node_class)
    if packed and (admitted is None or packed > admitted):
        shown = "an unknown amount" if admitted is None else f"{admitted} bytes"
        problems.append(f"its nodes admit {shown} of ephemeral storage; the placement puts "
                        f"{packed} bytes of `disk` on one")
    return problems


def _runs_on(kind: str, body: dict, node_class: NodeClass, capacity: Capacity) -> list[str]:
    """What keeps nodes of the priced class from starting or running their accelerators."""
    if kind == "aws_eks_node_group":
        return _eks_image(body.get("ami_type"), node_class)
    if kind == "google_container_node_pool":
        return _gke_devices(body, node_class, capacity)
    return _aks_spot(body, node_class) if capacity.spot else []


def _eks_image(ami_type: object, node_class: NodeClass) -> list[str]:
    """EKS builds Amazon Linux 2023 AMIs only; accelerators need the matching variant."""
    if not isinstance(ami_type, str) or not ami_type.startswith("AL2023_"):
        return [f"AMI type {ami_type!r}: not an Amazon Linux 2023 AMI type"]
    accelerator = node_class.accelerator if node_class.capacity["gpu"] else None
    wanted = "ARM_64" if node_class.arch == "arm64" else "x86_64"
    if accelerator is not None:
        wanted += "_NEURON" if accelerator.family in ("trainium", "inferentia") else "_NVIDIA"
    if not ami_type.startswith(f"AL2023_{wanted}"):
        return [f"AMI type {ami_type} does not run {node_class.instance_type} "
                f"({node_class.arch}{', ' + accelerator.name if accelerator else ''})"]
    return []


def _gke_devices(body: dict, node_class: NodeClass, capacity: Capacity) -> list[str]:
    config = _block(body, "node_config") or {}
    problems = []
    for accelerator in config.get("guest_accelerator", []):
        if accelerator.get("count") != node_class.capacity["gpu"]:
            problems.append(f"guest_accelerator count {accelerator.get('count')} is not the "
                            f"{node_class.capacity['gpu']} the machine type has")
    tpu = next((zones for prefix, zones in GKE_TPU_ZONES.items()
                if capacity.instance_type.startswith(prefix)), None)
    if node_class.accelerator is not None and node_class.accelerator.family == "tpu":
        selling = set((tpu or {}).values())
        if any(zone not in selling for zone in body.get("node_locations", [])):
            problems.append(f"a zone of `node_locations` is not one known to sell "
                            f"{capacity.instance_type}")
    return problems


def _aks_spot(body: dict, node_class: NodeClass) -> list[str]:
    """Spot pools: an eviction policy, and a cap no lower than the price fitc priced (or the
    nodes never start) and under 0.00001 USD/h above it (or they cost more than priced)."""
    priced = node_class.highest_price - node_class.energy_cost  # prices per step: the highest
    cap = body.get("spot_max_price")
    problems = [] if body.get("eviction_policy") in ("Delete", "Deallocate") else \
        ["spot pool without eviction policy Delete or Deallocate"]
    if not isinstance(cap, (int, float)) or not priced <= Fraction(str(cap)) < priced + Fraction(1, 100000):
        problems.append(f"spot_max_price {cap!r} is not the priced {float(priced)} USD/h")
    return problems


# per provider, what reads one of its node group resources
READERS: dict[str, Callable[..., tuple[Capacity, int] | None]] = {"aws": _eks, "gcp": _gke, "azure": _aks}


# ---- in time (issue 19) -----------------------------------------------------------------
# With a horizon, an EKS group starts empty (desired = min = 0) and aws_autoscaling_schedule
# resources set its size from their start_time on. Read so, the group runs at each step the
# desired capacity of the latest schedule begun by then; that must be the nodes of its
# capacity the placement uses at that step (what it priced, node-hour by node-hour).

SCHEDULE = "aws_autoscaling_schedule"
LAUNCH_TEMPLATE = "aws_launch_template"
GROUP_NAME = re.compile(r"aws_eks_node_group\.(?P<label>[A-Za-z0-9_-]+)\.resources\[0\]\."
                        r"autoscaling_groups\[0\]\.name")


def _schedule_needs(context: CompileContext, groups: dict[str, Capacity],
                    schedules: list[tuple[str, dict]], need: Findings) -> list[Diagnostic]:
    timeline = context.problem.timeline
    assert timeline is not None
    needs = []
    sized: dict[str, list[tuple[datetime, object]]] = {}
    for label, body in schedules:
        address = f"{SCHEDULE}.{label}"
        match = GROUP_NAME.fullmatch(_expression(body.get("autoscaling_group_name")) or "")
        start = _instant_of(body.get("start_time"))
        if match is None or match["label"] not in groups:
            needs.append(need(f"{address}: scales no node group fitc wrote"))
        elif start is None or "recurrence" in body:
            needs.append(need(f"{address}: not one start_time in UTC (`...Z`): when it scales "
                              "is not known from the files"))
        else:
            sized.setdefault(match["label"], []).append((start, body.get("desired_capacity")))
    for label, capacity in sorted(groups.items(), key=lambda item: item[0]):  # (labels are unique)
        wanted = _in_use(context, capacity)
        if not any(wanted) and label not in sized:
            continue
        actions = sorted(sized.get(label, []), key=lambda action: action[0])
        for step, nodes in enumerate(wanted):
            moment = timeline.start + timedelta(seconds=step * timeline.step_seconds)
            size = next((d for s, d in reversed(actions) if s <= moment), 0)
            if size != nodes:
                needs.append(need(f"aws_eks_node_group.{label}: at {moment:%Y-%m-%dT%H:%M}Z its "
                                  f"schedules size it at {size}; the placement uses and prices "
                                  f"{nodes} x {capacity.describe()} then"))
                break
    return needs


def _instant_of(value: object) -> datetime | None:
    if not isinstance(value, str) or not value.endswith("Z"):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _in_use(context: CompileContext, capacity: Capacity) -> list[int]:
    """The placement's nodes of `capacity` hosting a run at each step."""
    timeline = context.problem.timeline
    assert timeline is not None
    owners = context.problem.owners()
    nodes: list[set[str]] = [set() for _ in range(timeline.steps)]
    for assignment in context.placement.assignments:
        node_class = owners[assignment.node]
        if node_class.provisioned and capacity_of(node_class) == capacity:
            for step in range(getattr(assignment, "start", 0), getattr(assignment, "end", 0)):
                nodes[step].add(assignment.node)
    return [len(n) for n in nodes]
