"""GPUs a kubectl node hands out in parts (`model/gpu_partitions.py`): MIG slices (`single`
strategy) and shared replicas (time-slicing, MPS), as NVIDIA's device plugin advertises them and
GPU feature discovery labels them. Each part is what a pod gets: its own memory (a slice's, or
its share of a shared GPU's), a share of the GPU's power, one to a pod."""

from __future__ import annotations

import json
from fractions import Fraction

import yaml

from fitlang.driver import Compilation
from fitlang.model.inventory import read_kubectl, read_slurm
from fitlang.targets import TARGETS
from fitlang.targets.base import CompileContext

from solving import on_pools, problem_from, solved

# GFD's labels, as docs/gpu-feature-discovery/README.md and internal/lm/resource.go of
# NVIDIA/k8s-device-plugin write them: 8 A100-40GB cut into 1g.5gb slices (4,864 MiB each) ...
MIG_LABELS = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB-MIG-1g.5gb", "nvidia.com/gpu.count": "56",
              "nvidia.com/gpu.memory": "4864", "nvidia.com/mig.strategy": "single",
              "nvidia.com/gpu.replicas": "1", "nvidia.com/gpu.slices.gi": "1"}
# ... and 8 A100-80GB, each advertised 4 times by time-slicing
SHARED_LABELS = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB-SHARED", "nvidia.com/gpu.count": "8",
                 "nvidia.com/gpu.memory": "81920", "nvidia.com/gpu.replicas": "4",
                 "nvidia.com/gpu.sharing-strategy": "time-slicing"}
WHOLE_LABELS = {"nvidia.com/gpu.product": "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu.count": "8",
                "nvidia.com/gpu.memory": "81920"}


def _nodes(*nodes: tuple[str, dict, int]) -> str:
    return json.dumps({"items": [
        {"metadata": {"name": name, "labels": {"topology.kubernetes.io/zone": "muc1-a", **labels}},
         "status": {"allocatable": {"cpu": "255", "memory": "1000Gi", "pods": "110",
                                    "nvidia.com/gpu": str(gpus)}}}
        for name, labels, gpus in nodes]})


def _policy(replicas: int, count: int, memory: str) -> str:
    return f'''import "std/accelerators"

inventory lab {{
  format = kubectl
  file = "nodes.json"
  price = 10 USD/h
}}

workload infer {{
  kind = service
  replicas = {replicas}
  cpu = 2
  memory = 8GiB
  gpu {{
    count = {count}
    require memory >= {memory}
  }}
  image = "registry.example.com/infer:1"
}}
'''


def _kinds(problem, placement) -> set[str | None]:
    """The part each replica placed got: "mig", "shared" or None (whole GPUs)."""
    kind = {name: c.accelerator.partition for c in problem.classes for name in c.node_names}
    return {kind[a.node] for a in placement.assignments}


def _problem(tmp_path, replicas: int, count: int, memory: str, *nodes):
    (tmp_path / "nodes.json").write_text(_nodes(*nodes))
    return problem_from(tmp_path, _policy(replicas, count, memory))


def test_the_labels_say_what_part_of_a_gpu_each_advertised_gpu_is():
    mig, shared, whole = read_kubectl(_nodes(("mig", MIG_LABELS, 56), ("ts", SHARED_LABELS, 32),
                                             ("dgx", WHOLE_LABELS, 8)), "n.json").nodes
    assert (mig.gpu_partition.kind, mig.gpu_partition.share, mig.gpu_partition.memory) == \
        ("mig", Fraction(1, 7), 4864 * 2 ** 20)
    assert (shared.gpu_partition.kind, shared.gpu_partition.share, shared.gpu_partition.memory) == \
        ("shared", Fraction(1, 4), 81920 * 2 ** 20 // 4)
    assert whole.gpu_partition is None
    # a MIG slice shared in turn: GFD appends `-SHARED` to the slice's product
    labels = {**MIG_LABELS, "nvidia.com/gpu.product": MIG_LABELS["nvidia.com/gpu.product"] + "-SHARED",
              "nvidia.com/gpu.replicas": "2"}
    (both,) = read_kubectl(_nodes(("mig-ts", labels, 112)), "n.json").nodes
    assert (both.gpu_partition.kind, both.gpu_partition.share, both.gpu_partition.memory) == \
        ("shared", Fraction(1, 14), 4864 * 2 ** 20 // 2)


def test_a_mig_slice_holds_its_own_memory_not_the_whole_gpus(tmp_path):
    """40 replicas that need 20 GB of GPU memory: the 56 slices of 4.75 GiB (read as 56
    A100-40GB, they all went there) hold none; 32 fit on the shared node's 20 GiB replicas."""
    problem = _problem(tmp_path, 40, 1, "20GB", ("mig", MIG_LABELS, 56), ("ts", SHARED_LABELS, 32))
    slices = next(c for c in problem.classes if c.accelerator.partition == "mig")
    assert slices.accelerator.memory == 4864 * 2 ** 20 and slices.accelerator.interconnect is None
    placement = solved(problem)
    assert on_pools(placement, problem)["infer"] == {"lab": 32}
    assert _kinds(problem, placement) == {"shared"} and len(placement.unplaced) == 8


def test_a_shared_gpu_counts_its_share_of_memory_and_power(tmp_path):
    problem = _problem(tmp_path, 1, 1, "1GB", ("ts", SHARED_LABELS, 32), ("mig", MIG_LABELS, 56))
    by_kind = {c.accelerator.partition: c for c in problem.classes}
    assert by_kind["shared"].accelerator.memory == 81920 * 2 ** 20 // 4
    # the node's GPUs draw what 8 A100s draw (std/accelerators: 400 W each), however cut
    assert by_kind["shared"].power_watts == by_kind["mig"].power_watts == 8 * 400


def test_a_replica_of_several_gpus_takes_no_parts(tmp_path):
    """CUDA sees one MIG device per process, and two replicas of a shared GPU may be one GPU:
    a replica asking for 2 GPUs runs on whole GPUs only."""
    problem = _problem(tmp_path, 2, 2, "1GB", ("mig", MIG_LABELS, 56), ("ts", SHARED_LABELS, 32),
                       ("dgx", WHOLE_LABELS, 2))
    placement = solved(problem)
    assert _kinds(problem, placement) == {None}
    assert len(placement.assignments) == 1 and len(placement.unplaced) == 1


def test_a_slurm_gres_type_of_a_mig_slice_is_a_slice():
    """Slurm names a MIG slice's GRES type by its GPU and profile (`gpu:a100_1g.5gb:7`, as
    Alliance's Narval does): the slice holds 5 GB, not an A100's 40 (it matched A100_40GB)."""
    read = read_slurm("NodeName=g1 CPUTot=64 RealMemory=512000 Gres=gpu:a100_1g.5gb:7\n"
                      "NodeName=g2 CPUTot=64 RealMemory=512000 Gres=gpu:a100:4\n", "s.txt")
    slices, whole = read.nodes
    assert (slices.gpu_partition.kind, slices.gpu_partition.memory, slices.gpu_partition.whole_product) \
        == ("mig", 5 * 10 ** 9, "a100")
    assert whole.gpu_partition is None


def test_gkes_own_labels_say_what_part_of_a_gpu_each_is(tmp_path):
    """GKE runs no GFD: its MIG nodes say `cloud.google.com/gke-gpu-partition-size`, its shared
    ones `gke-gpu-sharing-strategy` and `gke-max-shared-clients-per-gpu` (they read as whole
    A100-40GB and L4s)."""
    gke = {"cloud.google.com/gke-accelerator": "nvidia-tesla-a100",
           "cloud.google.com/gke-gpu-partition-size": "1g.5gb"}
    shared = {"cloud.google.com/gke-accelerator": "nvidia-l4",
              "cloud.google.com/gke-gpu-sharing-strategy": "time-sharing",
              "cloud.google.com/gke-max-shared-clients-per-gpu": "4"}
    problem = _problem(tmp_path, 1, 1, "1GB", ("gke-mig", gke, 7), ("gke-l4", shared, 4))
    found = {name: c.accelerator for c in problem.classes for name in c.node_names}
    assert (found["gke-mig"].name, found["gke-mig"].partition, found["gke-mig"].memory) == \
        ("nvidia-tesla-a100-mig-1g.5gb", "mig", 5 * 10 ** 9)
    # std/accelerators' L4: 24 GB, a quarter to each client
    assert (found["gke-l4"].name, found["gke-l4"].partition, found["gke-l4"].memory) == \
        ("nvidia-l4-shared-4", "shared", 24 * 10 ** 9 // 4)


# GFD's labels under the device plugin's `mixed` MIG strategy (docs/gpu-feature-discovery/README.md,
# "MIG 'mixed' strategy"): the whole GPU's product and memory, and per profile its own labels;
# the node advertises each profile as a resource of its own and no `nvidia.com/gpu`
MIXED_LABELS = {"nvidia.com/mig.strategy": "mixed", "nvidia.com/gpu.product": "NVIDIA-A100-SXM4-40GB",
                "nvidia.com/gpu.memory": "40960", "nvidia.com/gpu.count": "8",
                "nvidia.com/mig-1g.5gb.count": "42", "nvidia.com/mig-1g.5gb.memory": "4864",
                "nvidia.com/mig-1g.5gb.slices.gi": "1", "nvidia.com/mig-3g.20gb.count": "4",
                "nvidia.com/mig-3g.20gb.memory": "20096", "nvidia.com/mig-3g.20gb.slices.gi": "3"}


def test_mig_slices_of_the_mixed_strategy_are_requested_by_their_own_resource(tmp_path):
    """Under the `mixed` strategy a node advertises `nvidia.com/mig-1g.5gb` and
    `nvidia.com/mig-3g.20gb`, no `nvidia.com/gpu`: it read as a node with no GPU. Its most
    numerous slices are now its accelerator, requested by their own name (a pod requesting
    `nvidia.com/gpu` there stays Pending); the others are said to be left idle (W0522)."""
    node = {"metadata": {"name": "mig-mixed", "labels": {"topology.kubernetes.io/zone": "muc1-a",
                                                         **MIXED_LABELS}},
            "status": {"allocatable": {"cpu": "255", "memory": "1000Gi", "pods": "110", "nvidia.com/gpu": "0",
                                       "nvidia.com/mig-1g.5gb": "42", "nvidia.com/mig-3g.20gb": "4"}}}
    (tmp_path / "nodes.json").write_text(json.dumps({"items": [node]}))
    path = tmp_path / "p.fit"
    path.write_text(_policy(40, 1, "4GB"))
    compilation = Compilation(path)
    checked = compilation.check()
    built = compilation.build()
    assert built is not None and [d.code for d in built.diagnostics] == ["W0522"]
    assert "4 `nvidia.com/mig-3g.20gb`" in built.diagnostics[0].message
    (slices,) = built.problem.classes
    assert (slices.accelerator.resource, slices.accelerator.partition, slices.accelerator.memory) == \
        ("nvidia.com/mig-1g.5gb", "mig", 4864 * 2 ** 20)
    placement = solved(built.problem)
    assert on_pools(placement, built.problem)["infer"] == {"lab": 40}
    context = CompileContext(checked.program, built.problem, placement)
    files = TARGETS["kubernetes"]().render(context)
    (deployment,) = [d for text in files.values() for d in yaml.safe_load_all(text)
                     if d and d.get("kind") == "Deployment"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    limits = container["resources"]["limits"]
    assert limits.get("nvidia.com/mig-1g.5gb") == "1" and "nvidia.com/gpu" not in limits
    assert TARGETS["kubernetes"]().fidelity(context, files) == []


def test_gpus_shared_under_a_name_of_their_own_are_requested_by_it():
    """Sharing with `renameByDefault: true` advertises `nvidia.com/gpu.shared` (it read as no GPU)."""
    labels = {**SHARED_LABELS, "nvidia.com/gpu.count": "8"}
    node = {"metadata": {"name": "ts", "labels": labels},
            "status": {"allocatable": {"cpu": "64", "memory": "500Gi", "nvidia.com/gpu.shared": "32"}}}
    (read,) = read_kubectl(json.dumps({"items": [node]}), "n.json").nodes
    assert (read.gpu_resource, read.gpu_count, read.gpu_partition.kind, read.gpu_partition.share) == \
        ("nvidia.com/gpu.shared", 32, "shared", Fraction(1, 4))
