"""Extract the schemas of the Terraform resources fitc writes from the real provider packages.

The npm packages `@cdktf/provider-aws`, `@cdktf/provider-google` and `@cdktf/provider-azurerm`
are generated from each provider's own schema (`terraform providers schema -json`); their
TypeScript declarations keep, per resource, every argument with its Terraform name, its type,
whether it is required, and its nested blocks. This script reads those declarations and writes
the compact subset the tests check every written resource against:

    npm install --ignore-scripts --prefix /tmp/schemas \\
        @cdktf/provider-aws @cdktf/provider-google @cdktf/provider-azurerm
    .venv/bin/python tools/provider_schemas.py /tmp/schemas/node_modules \\
        > tests/fixtures/terraform/provider-schemas.json

The output records the package and provider versions it came from.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

# (kind, Terraform type, package, directory under lib/, configuration interface)
WRITTEN = [
    ("provider", "aws", "provider-aws", "provider", "AwsProviderConfig"),
    ("provider", "google", "provider-google", "provider", "GoogleProviderConfig"),
    ("provider", "azurerm", "provider-azurerm", "provider", "AzurermProviderConfig"),
    ("resource", "aws_eks_node_group", "provider-aws", "eks-node-group", "EksNodeGroupConfig"),
    ("resource", "aws_autoscaling_schedule", "provider-aws", "autoscaling-schedule",
     "AutoscalingScheduleConfig"),  # capacity in time (issue 19)
    ("resource", "aws_launch_template", "provider-aws", "launch-template",
     "LaunchTemplateConfig"),  # each EKS group's NodeConfig and root volume
    ("resource", "google_container_node_pool", "provider-google", "container-node-pool",
     "ContainerNodePoolConfig"),
    ("resource", "azurerm_kubernetes_cluster_node_pool", "provider-azurerm",
     "kubernetes-cluster-node-pool", "KubernetesClusterNodePoolConfig"),
    ("data", "azurerm_kubernetes_cluster", "provider-azurerm", "data-azurerm-kubernetes-cluster",
     "DataAzurermKubernetesClusterConfig"),
]
MEMBER = re.compile(r"/\*\*(?P<doc>(?:(?!\*/).)*)\*/\s*readonly (?P<name>\w+)(?P<optional>\??): "
                    r"(?P<type>\{[^}]*\}|[^;]*);", re.S)
SCALARS = {"string": "string", "number": "number", "boolean | cdktf.IResolvable": "bool",
           "string[]": "list(string)", "number[]": "list(number)"}
MAP = re.compile(r"^\{\s*\[key: string\]: (string|number|boolean);?\s*\}$")


def interfaces(text: str) -> dict[str, str]:
    """Interface name -> its body, for every `export interface` of a declaration file."""
    found = {}
    for match in re.finditer(r"export interface (\w+)(?: extends [\w.]+)? \{", text):
        depth, index = 1, match.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(text[index], 0)
            index += 1
        found[match.group(1)] = text[match.end():index - 1]
    return found


def schema(name: str, declared: dict[str, str]) -> dict:
    attributes, blocks = {}, {}
    for member in MEMBER.finditer(declared[name]):
        anchors = re.findall(r"#(\w+)\}", member.group("doc"))
        key = anchors[-1] if anchors else re.sub(r"(?<!^)([A-Z])", r"_\1", member.group("name")).lower()
        required = member.group("optional") != "?"
        kind = " ".join(member.group("type").split())
        nested = re.fullmatch(r"(\w+)(\[\] \| cdktf\.IResolvable)?", kind)
        if kind in SCALARS:
            attributes[key] = {"type": SCALARS[kind], "required": required}
        elif MAP.match(kind):
            value = {"boolean": "bool"}.get(MAP.match(kind).group(1), MAP.match(kind).group(1))
            attributes[key] = {"type": f"map({value})", "required": required}
        elif nested and nested.group(1) in declared:
            blocks[key] = {"required": required, "max_one": nested.group(2) is None,
                           **schema(nested.group(1), declared)}
        else:
            attributes[key] = {"type": f"unknown: {kind}", "required": required}
    return {"attributes": dict(sorted(attributes.items())), "blocks": dict(sorted(blocks.items()))}


def extract(modules: Path) -> dict:
    out: dict = {"source": "TypeScript declarations of the @cdktf provider packages "
                           "(tools/provider_schemas.py)", "packages": {}}
    for kind, terraform_type, package, directory, interface in WRITTEN:
        root = modules / "@cdktf" / package
        manifest = json.loads((root / "package.json").read_text())
        provider = manifest["cdktf"]["provider"]
        out["packages"][f"@cdktf/{package}"] = {
            "version": manifest["version"],
            "provider": f"{provider['name'].removeprefix('registry.terraform.io/')} {provider['version']}"}
        declared = interfaces((root / "lib" / directory / "index.d.ts").read_text())
        out.setdefault(kind, {})[terraform_type] = schema(interface, declared)
    return out


if __name__ == "__main__":
    print(json.dumps(extract(Path(sys.argv[1])), indent=1, sort_keys=True))
