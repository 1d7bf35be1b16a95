"""What a bought node's kubelet admits, as packed and as the Terraform target writes it: the
ephemeral storage on its root disk (or its instance store, set up where needed), and on EKS
the pods and the reservation fitc packed it to (fitlang/model/node_disks.py,
fitlang/targets/terraform_eks.py, terraform_node_fidelity.py)."""

from __future__ import annotations

import email
import re
import textwrap
from collections import Counter

import pytest
import yaml
from test_target_terraform import compiled, offer, resources

from fitlang.targets import TARGETS

GIB = 2 ** 30
INSTANCE = {"aws": "m7i.4xlarge", "gcp": "n2-standard-16", "azure": "Standard_D16s_v5"}
REGION = {"aws": "us-east-1", "gcp": "us-central1", "azure": "eastus"}


def disk_workload(name, replicas, *, cpu=1, disk="5GiB"):
    return (f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = 1GiB\n"
            f"  disk = {disk}\n}}\n")


def per_node(context) -> Counter:
    return Counter(a.node for a in context.placement.assignments)


@pytest.mark.parametrize("provider, disk, most", [("aws", 5, 3), ("gcp", 20, 2), ("azure", 30, 3)])
def test_a_bought_node_without_local_disk_holds_what_its_root_disk_admits(tmp_path, provider, disk, most):
    # the offer states no local disk: its nodes' kubelets count ephemeral storage on the root
    # disk the files write (EKS 20 GiB, GKE 100 GB, AKS 128 GiB), 16.1 / 43.8 / 109.4 GiB after
    # the kubelet's reservations; CPU (16) binds none of it
    text = (offer("o", provider, INSTANCE[provider], [REGION[provider]], cpu=16, memory="64GiB")
            + "buy {\n}\n" + disk_workload("w", 6, disk=f"{disk}GiB"))
    context, files = compiled(tmp_path, text)
    assert max(per_node(context).values()) == most
    assert sum(len(n) for n in context.placement.bought.values()) == -(-6 // most)
    from fitlang.model.node_disks import root_allocatable

    assert most * disk * GIB <= root_allocatable(provider) < (most + 1) * disk * GIB
    [group] = resources(files).values()
    stated = {"aws": lambda: root_volume(files), "gcp": lambda: group["node_config"][0]["disk_size_gb"],
              "azure": lambda: group["os_disk_size_gb"]}[provider]()
    assert stated == {"aws": 20, "gcp": 100, "azure": 128}[provider]


def root_volume(files) -> int:
    template = resources(files, templates=True)["aws_launch_template." + group_label(files)]
    [mapping] = template["block_device_mappings"]
    return mapping["ebs"][0]["volume_size"]


def group_label(files) -> str:
    [address] = [a for a in resources(files) if a.startswith("aws_eks_node_group.")]
    return address.split(".", 1)[1]


def node_config(files) -> dict:
    """The NodeConfig of the one EKS group's launch template, read as nodeadm would."""
    template = resources(files, templates=True)["aws_launch_template." + group_label(files)]
    match = re.fullmatch(r'\$\{base64encode\("?<<-EOT\n(.*)\n\s*EOT"?\)\}', template["user_data"], re.S)
    assert match is not None
    message = email.message_from_string(textwrap.dedent(match[1] + "\n"))
    [part] = [p for p in message.walk() if p.get_content_type() == "application/node.eks.aws"]
    return yaml.safe_load(part.get_payload())


def nvme_offer(**extra) -> str:
    return offer("i", "aws", "i4i.4xlarge", ["us-east-1"], cpu=16, memory="128GiB",
                 extra="\n  disk = 500GB" + "".join(f"\n  {k} = {v}" for k, v in extra.items()))


@pytest.mark.parametrize("disk, raid", [("150GiB", True), ("4GiB", False)])
def test_eks_sets_the_instance_store_up_where_a_node_needs_more_than_its_root_disk(tmp_path, disk, raid):
    # 150 GiB a replica is past the 20 GiB root volume: the group's NodeConfig puts the
    # kubelet on a RAID0 of the instance store (500 GB); 4 GiB fits the root volume
    _, files = compiled(tmp_path, nvme_offer() + "buy {\n}\n" + disk_workload("w", 2, cpu=8, disk=disk))
    spec = node_config(files)["spec"]
    assert (spec.get("instance", {}).get("localStorage", {}).get("strategy") == "RAID0") is raid
    assert root_volume(files) == 20


def gke_ssd_offer() -> str:
    # an n2-standard-16 with two 375 GiB Local SSDs (n2 takes 1, 2, 4, 8, 16 or 24 of them)
    return offer("s", "gcp", "n2-standard-16", ["us-central1"], cpu=16, memory="64GiB",
                 extra="\n  disk = 750GiB")


def aks_temp_disk_text(disk: str) -> str:
    # NC4as_T4_v3's 176 GiB temp disk (stdlib/azure.fit) admits 150.5 GiB, its OS disk 109.4
    return 'import "std/azure"\nbuy {\n  offers = [azure_nc4as_t4_v3]\n}\n' + \
        disk_workload("w", 2, cpu=2, disk=disk)


@pytest.mark.parametrize("disk, ssds", [("300GiB", 2), ("4GiB", None)])
def test_gke_sets_its_local_ssds_up_where_a_node_needs_more_than_its_boot_disk(tmp_path, disk, ssds):
    # 300 GiB a replica is past the boot disk's 43.8 GiB: the pool puts the kubelet's
    # ephemeral storage on its two Local SSDs (367.7 GiB admitted); 4 GiB fits the boot disk
    text = gke_ssd_offer() + "buy {\n}\n" + disk_workload("w", 2, cpu=8, disk=disk)
    context, files = compiled(tmp_path, text)
    assert not context.placement.unplaced
    [group] = resources(files).values()
    [config] = group["node_config"]
    local = config.get("ephemeral_storage_local_ssd_config")
    assert (local[0]["local_ssd_count"] if local else None) == ssds
    assert config["disk_size_gb"] == 100


def test_a_hostile_machine_type_stays_escaped_beside_the_local_ssds(tmp_path):
    hostile = 'n2\\"${file(\\"/etc/passwd\\")}'
    text = gke_ssd_offer().replace('"n2-standard-16"', f'"{hostile}"')
    _, files = compiled(tmp_path, text + "buy {\n}\n" + disk_workload("w", 2, cpu=8, disk="300GiB"))
    assert 'machine_type = "n2\\"$${file(\\"/etc/passwd\\")}"' in files["gcp.tf"]
    [group] = resources(files).values()
    assert group["node_config"][0]["ephemeral_storage_local_ssd_config"][0]["local_ssd_count"] == 2


@pytest.mark.parametrize("disk, kubelet_disk", [("120GiB", "Temporary"), ("4GiB", "OS")])
def test_aks_puts_the_kubelet_on_the_temp_disk_where_a_node_needs_more_than_its_os_disk(
        tmp_path, disk, kubelet_disk):
    context, files = compiled(tmp_path, aks_temp_disk_text(disk))
    assert not context.placement.unplaced
    assert {group["kubelet_disk_type"] for group in resources(files).values()} == {kubelet_disk}


def test_an_aks_size_whose_local_disk_is_nvme_packs_against_its_os_disk(tmp_path):
    # ND H100 v5's 28000 GiB is local NVMe, which AKS does not give the kubelet: a 120 GiB
    # replica fits none of its nodes (109.4 GiB on the OS disk), as on the start tree
    from fitlang.model.node_disks import AKS_TEMP_DISK_SIZES, ephemeral_storage, root_allocatable

    assert "Standard_ND96isr_H100_v5" not in AKS_TEMP_DISK_SIZES
    assert ephemeral_storage("azure", 28000 * GIB, "Standard_ND96isr_H100_v5") == root_allocatable("azure")
    assert ephemeral_storage("azure", 176 * GIB, "Standard_NC4as_T4_v3") > root_allocatable("azure")


def test_eks_launch_templates_set_the_pods_and_reservation_fitc_packed(tmp_path):
    # the offer admits 20 pods: the AMI would set the ENI limit (234 for this type) and reserve
    # memory by it; the NodeConfig sets 20 and the reservation fitc packed to
    text = nvme_offer(max_pods=20) + "buy {\n}\n" + disk_workload("w", 30, cpu=0.1, disk="10MiB")
    context, files = compiled(tmp_path, text)
    assert max(per_node(context).values()) == 20
    config = node_config(files)["spec"]["kubelet"]["config"]
    assert config["maxPods"] == 20
    assert config["kubeReserved"] == {"cpu": "110m", "ephemeral-storage": "1Gi",
                                      "memory": f"{11 * 20 + 255}Mi"}


@pytest.mark.parametrize("provider, old, new", [
    ("aws", "maxPods: 20", "maxPods: 110"),
    ("aws", "memory: 475Mi", "memory: 3000Mi"),
    ("aws", "volume_size = 20", "volume_size = 10"),
    ("aws", "    id      = aws_launch_template.", "    id      = aws_launch_template.other_"),
    ("raid", "      strategy: RAID0\n", "      strategy: Mount\n"),
    ("gcp", "disk_size_gb = 100", "disk_size_gb = 50 "),
    ("azure", 'kubelet_disk_type     = "OS"', 'kubelet_disk_type     = "Temporary"'),
    ("azure", "os_disk_size_gb       = 128", "os_disk_size_gb       = 16 "),
    ("gke-ssd", "local_ssd_count = 2", "local_ssd_count = 1"),
    ("gke-ssd", "local_ssd_count = 2", "local_ssd_count = 3"),  # more than the machine has
    ("gke-ssd", "local_ssd_count = 2", "local_ssd_count = 0"),  # the boot disk's 43.8 GiB
    ("aks-temp", 'kubelet_disk_type     = "Temporary"', 'kubelet_disk_type     = "OS"'),
])
def test_fidelity_finds_nodes_that_admit_less_than_was_packed(tmp_path, provider, old, new):
    if provider == "gke-ssd":
        text = gke_ssd_offer() + "buy {\n}\n" + disk_workload("w", 2, cpu=8, disk="300GiB")
    elif provider == "aks-temp":
        text = aks_temp_disk_text("120GiB")
    elif provider == "raid":
        text = nvme_offer() + "buy {\n}\n" + disk_workload("w", 2, cpu=8, disk="150GiB")
    elif provider == "aws":
        text = nvme_offer(max_pods=20) + "buy {\n}\n" + disk_workload("w", 30, cpu=0.1, disk="500MiB")
    else:
        text = (offer("o", provider, INSTANCE[provider], [REGION[provider]], cpu=16, memory="64GiB")
                + "buy {\n}\n" + disk_workload("w", 6, disk="20GiB"))
    context, files = compiled(tmp_path, text)
    edited = {path: body.replace(old, new) for path, body in files.items()}
    assert edited != files
    assert [d.code for d in TARGETS["terraform"]().fidelity(context, edited)] != []
