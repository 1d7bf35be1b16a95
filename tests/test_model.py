"""The model stage: inventory import, node classes, eligibility."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from fractions import Fraction

import pytest

from fitlang.model.inventory import parse_quantity, read_kubectl, read_slurm
from fitlang.model.problem import Taint
from fitlang.solve.placement import solve as solve_placement

from conftest import FIXTURES
from solving import bench_module, problem_from, solved

INVENTORY = FIXTURES / "inventory"


@pytest.mark.parametrize("text, value", [
    ("63500m", Decimal("63.5")), ("527971044Ki", Decimal(527971044 * 1024)),
    ("1.5Gi", Decimal(1.5 * 2 ** 30)),
    ("100", Decimal(100)), ("449964298507", Decimal(449964298507)), ("2M", Decimal(2_000_000)),
])
def test_kubernetes_quantities(text, value):
    assert parse_quantity(text) == value


def test_a_taint_is_tolerated_by_its_key_or_its_key_and_value_and_reads_as_kubectl_writes_it():
    taint = Taint("dedicated", "infra", "NoSchedule")
    assert taint.tolerated_by({"dedicated"}) and taint.tolerated_by(["dedicated=infra"])
    assert not taint.tolerated_by({"dedicated=gpu", "infra", "NoSchedule"})
    assert Taint("gpu", "", "NoExecute").tolerated_by({"gpu"}) and str(taint) == "dedicated=infra:NoSchedule"


def test_kubectl_nodes_with_gpus_taints_and_cordons():
    read = read_kubectl((INVENTORY / "nodes.json").read_text(), "nodes.json")
    assert read.problems == []
    names = [n.name for n in read.nodes]
    assert names == ["gpu-a100-0", "gpu-a100-1", "gpu-a100-2", "gpu-l4-0", "cpu-0", "cpu-1", "infra-0"]
    assert read.skipped == {"cpu-2": "cordoned (spec.unschedulable)", "cpu-3": "not Ready"}
    a100 = read.nodes[0]
    assert (a100.cpu_milli, a100.gpu_count, a100.gpu_product) == (95500, 8, "NVIDIA-A100-SXM4-80GB")
    assert a100.gpu_memory == 81920 * 2 ** 20
    assert a100.memory == (1056561152 - 1048576) * 1024
    assert (a100.zone, a100.region, a100.instance_type) == ("us-east-1a", "us-east-1", "p4de.24xlarge")
    assert read.nodes[2].taints == []  # PreferNoSchedule does not keep work away
    assert read.nodes[-1].taints == [Taint("dedicated", "infra", "NoSchedule")]
    assert read.nodes[-1].arch == "arm64"


def test_slurm_nodes_skip_down_and_drained():
    read = read_slurm((INVENTORY / "scontrol.txt").read_text(), "scontrol.txt")
    assert read.problems == []
    assert [n.name for n in read.nodes] == ["gpu001", "gpu002", "cpu001", "cpu002", "cpu003"]
    assert read.skipped == {"gpu003": "State=DOWN+NOT_RESPONDING", "gpu004": "State=IDLE+DRAIN"}
    gpu = read.nodes[0]
    assert (gpu.cpu_milli, gpu.memory, gpu.gpu_count, gpu.gpu_product) == \
        (128000, 1031000 * 2 ** 20, 8, "a100")
    assert gpu.features == ["a100", "nvlink", "ib"]
    assert read.nodes[2].gpu_count == 0 and "slurm.partition.debug" in read.nodes[2].labels


@pytest.mark.parametrize("text, expected", [
    ("not json", "not JSON"), ('{"kind": "Pod"}', "expected a NodeList"),
    ('{"items": [{"metadata": {}}]}', "has no metadata.name"),
    ('{"items": [{"metadata": {"name": "n"}, "status": {"allocatable": {"cpu": "four", "memory": "1Gi"}}}]}',
     "not a Kubernetes quantity"),
])
def test_malformed_kubectl_files_say_what_is_wrong(text, expected):
    read = read_kubectl(text, "bad.json")
    assert read.nodes == [] and expected in read.problems[0] and "bad.json" in read.problems[0]


def test_bad_kubectl_records_are_named_by_json_path_and_the_good_ones_kept():
    good = {"metadata": {"name": "b", "labels": {"rack": 4}},  # a number as a label: its text
            "status": {"allocatable": {"cpu": 4, "memory": "1Gi"}}}
    bad = {"metadata": {"name": "a", "labels": {"x": [1]}},
           "status": {"allocatable": {"cpu": "4", "memory": "1Gi"},
                      "conditions": [{"type": "Ready", "status": "True"}, 3]},
           "spec": {"taints": [{"key": "k", "effect": {"no": 1}}]}}
    read = read_kubectl(json.dumps({"items": [bad, 5, good]}), "f.json")
    assert [p.split(": ")[:2] for p in read.problems] == [
        ["f.json", "items[0].metadata.labels.x"], ["f.json", "items[0].spec.taints[0].effect"],
        ["f.json", "items[0].status.conditions[1]"], ["f.json", "items[1] is not an object"]]
    assert [(n.name, n.cpu_milli, n.labels) for n in read.nodes] == [("b", 4000, {"rack": "4"})]


def test_a_single_kubectl_node_document_is_read_as_one_node():
    node = {"kind": "Node", "metadata": {"name": "solo"},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi"}}}
    read = read_kubectl(json.dumps(node), "n.json")
    assert (read.problems, [(n.name, n.memory) for n in read.nodes]) == ([], [("solo", 4 * 2 ** 30)])


def test_a_slurm_field_given_twice_keeps_its_first_value():
    read = read_slurm("NodeName=a CPUTot=4 RealMemory=1024 CPUTot=8 NodeName=b\n", "s.txt")
    assert [(n.name, n.cpu_milli, n.memory) for n in read.nodes] == [("a", 4000, 2 ** 30)]


# `scontrol show node` (no `-o`) of a real Slurm 22.05: each node a `NodeName=` line, its other
# fields on indented lines, a blank line between nodes; the same nodes as `scontrol -o` prints them
SCONTROL_SHOW_NODE = """NodeName=cpu-01 Arch=x86_64 CoresPerSocket=32
   CPUAlloc=8 CPUEfctv=128 CPUTot=128 CPULoad=1.80
   AvailableFeatures=x86
   ActiveFeatures=x86
   Gres=(null)
   NodeAddr=127.0.0.1 NodeHostName=localhost Port=48001 Version=22.05.8
   OS=Linux 6.18.44-fc-v1252 #1 SMP PREEMPT_DYNAMIC @0
   RealMemory=500000 AllocMem=65536 FreeMem=21481 Sockets=2 Boards=1
   State=MIXED ThreadsPerCore=2 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=cpu
   CfgTRES=cpu=128,mem=500000M,billing=128
   AllocTRES=cpu=8,mem=64G
   CapWatts=n/a

NodeName=h100-01 Arch=x86_64 CoresPerSocket=28
   CPUAlloc=0 CPUEfctv=112 CPUTot=112 CPULoad=1.80
   AvailableFeatures=x86,nvlink,ib
   ActiveFeatures=x86,nvlink,ib
   Gres=gpu:h100:8
   RealMemory=1031000 AllocMem=0 FreeMem=21494 Sockets=2 Boards=1
   State=IDLE ThreadsPerCore=2 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=gpu

NodeName=grace-01 Arch=aarch64 CoresPerSocket=72
   CPUAlloc=0 CPUEfctv=72 CPUTot=72 CPULoad=1.80
   AvailableFeatures=arm64,grace
   Gres=(null)
   RealMemory=480000 AllocMem=0 FreeMem=21486 Sockets=1 Boards=1
   State=IDLE ThreadsPerCore=1 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=cpu

NodeName=l40s-02 Arch=x86_64 CoresPerSocket=16
   CPUAlloc=0 CPUEfctv=64 CPUTot=64 CPULoad=3.67
   Gres=gpu:l40s:4
   RealMemory=515000 AllocMem=0 FreeMem=21684 Sockets=2 Boards=1
   State=IDLE+DRAIN ThreadsPerCore=2 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A
   Partitions=gpu
   Reason=fan failure; "ticket" 42 [root@2026-12-06T06:13:06]
"""


def test_scontrol_show_node_without_o_is_read_as_the_one_line_form():
    """Each node's indented lines belong to it: read line by line, every one was "no
    NodeName=" and every node "needs numeric CPUTot=" (E0502 for each of ~170 lines)."""
    one_line = "\n".join(" ".join(line.strip() for line in block.splitlines())
                         for block in SCONTROL_SHOW_NODE.split("\n\n"))
    assert one_line.count("\n") == 3
    shown, one = read_slurm(SCONTROL_SHOW_NODE, "n.txt"), read_slurm(one_line, "n.txt")
    assert shown.problems == shown.bad_values == []
    assert [(n.name, n.cpu_milli, n.memory // 2 ** 20, n.gpu_count, n.gpu_product, n.arch,
             n.features, n.threads_per_core, n.labels) for n in shown.nodes] == [
        ("cpu-01", 128000, 500000, 0, None, "amd64", ["x86"], 2, {"slurm.partition.cpu": "true"}),
        ("h100-01", 112000, 1031000, 8, "h100", "amd64", ["x86", "nvlink", "ib"], 2,
         {"slurm.partition.gpu": "true"}),
        ("grace-01", 72000, 480000, 0, None, "arm64", ["arm64", "grace"], 1, {"slurm.partition.cpu": "true"})]
    assert shown.nodes == one.nodes
    assert shown.skipped == one.skipped == {"l40s-02": "State=IDLE+DRAIN"}
    assert shown.allocated == one.allocated == {
        "cpu-01": {"cpu": 8000, "memory": 65536 * 2 ** 20, "gpu": 0, "disk": 0}}
    # a line of no node still names its own line, after a node's indented ones
    read = read_slurm(SCONTROL_SHOW_NODE.replace("\nNodeName=grace-01", "\nhello world\nNodeName=grace-01"),
                      "n.txt")
    assert read.problems == [
        "n.txt:24: no NodeName=; expected `scontrol -o show node` output (one node per line)"]


def test_malformed_slurm_lines_name_the_line():
    read = read_slurm("NodeName=a CPUTot=x RealMemory=1\nhello world\n", "s.txt")
    assert read.problems == [
        "s.txt:1: node `a` needs numeric CPUTot= and RealMemory=",
        "s.txt:2: no NodeName=; expected `scontrol -o show node` output (one node per line)"]


def test_slurm_threads_per_core_is_read_and_checked():
    read = read_slurm("NodeName=a CPUTot=8 ThreadsPerCore=2 RealMemory=1\n"
                      "NodeName=b CPUTot=8 RealMemory=1\n"
                      "NodeName=c CPUTot=8 ThreadsPerCore=3 RealMemory=1\n"
                      "NodeName=d CPUTot=8 ThreadsPerCore=0 RealMemory=1\n", "s.txt")
    assert [(n.name, n.threads_per_core) for n in read.nodes] == [("a", 2), ("b", 1)]
    assert [line.split(":")[:2] for line in read.bad_values] == [["s.txt", "3"], ["s.txt", "4"]]



def test_slurm_cpus_and_memory_are_what_slurm_gives_jobs():
    """Core specialization and MemSpecLimit keep CPUs and memory for the system: CPUEfctv and
    RealMemory less MemSpecLimit are what jobs get (Slurm 22.05 refuses `-n 7` on CPUEfctv=6;
    tests/test_target_slurm.py shows it on a real cluster); without CPUEfctv, CPUTot less
    CoreSpecCount's cores."""
    read = read_slurm("NodeName=a CPUTot=8 CPUEfctv=6 CoreSpecCount=2 RealMemory=8000 MemSpecLimit=2000\n"
                      "NodeName=b CPUTot=16 CoreSpecCount=1 ThreadsPerCore=2 RealMemory=100\n"
                      "NodeName=c CPUTot=8 RealMemory=100\n"
                      "NodeName=d CPUTot=8 RealMemory=100 MemSpecLimit=100\n", "s.txt")
    assert [(n.name, n.cpu_milli, n.memory // 2 ** 20) for n in read.nodes] == [
        ("a", 6000, 6000), ("b", 14000, 100), ("c", 8000, 100)]
    assert [line.split(":")[:2] for line in read.bad_values] == [["s.txt", "4"]]

def test_slurm_nodes_of_other_threads_per_core_are_other_classes(tmp_path):
    (tmp_path / "nodes.txt").write_text("NodeName=a CPUTot=8 ThreadsPerCore=2 RealMemory=1000\n"
                                        "NodeName=b CPUTot=8 ThreadsPerCore=1 RealMemory=1000\n")
    problem = problem_from(tmp_path, 'inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
                           'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Mi\n}\n')
    assert sorted(c.threads_per_core for c in problem.classes) == [1, 2]



def test_an_inventorys_reserved_room_is_taken_off_each_node(tmp_path):
    """`reserved_cpu` / `reserved_memory`: what each node keeps for DaemonSets' pods, which a
    kubectl node's allocatable still holds; a replica that needs the node's whole allocatable
    no longer fits it."""
    (tmp_path / "nodes.json").write_text((INVENTORY / "nodes.json").read_text())
    def base(reserved: str) -> str:
        return f'inventory dc {{\n  format = kubectl\n  file = "nodes.json"\n{reserved}}}\n'
    work = "workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n"
    plain = problem_from(tmp_path, base("") + work)
    kept = problem_from(tmp_path, base("  reserved_cpu = 500m\n  reserved_memory = 1GiB\n") + work)
    assert [c.id for c in kept.classes] == [c.id for c in plain.classes]
    for before, after in zip(plain.classes, kept.classes, strict=True):
        assert after.capacity["cpu"] == before.capacity["cpu"] - 500
        assert after.capacity["memory"] == before.capacity["memory"] - 2 ** 30
    largest = max(plain.classes, key=lambda c: c.capacity["cpu"])
    cores = Fraction(largest.capacity["cpu"], 1000)
    whole = f"workload w {{\n  replicas = 1\n  cpu = {cores}\n  memory = 1Gi\n}}\n"
    assert not solve_placement(problem_from(tmp_path, base("") + whole)).unplaced
    assert solve_placement(problem_from(tmp_path, base("  reserved_cpu = 500m\n") + whole
                                        + "policy {\n  allow_unplaced = true\n}\n")).unplaced

def test_inventory_nodes_become_classes_and_match_accelerators(tmp_path):
    (tmp_path / "nodes.json").write_text((INVENTORY / "nodes.json").read_text())
    problem = problem_from(tmp_path, (
        'accelerator A100_80GB {\n  vendor = nvidia\n  memory = 80GB\n}\n'
        'accelerator A100_40GB {\n  vendor = nvidia\n  memory = 40GB\n}\n'
        'accelerator L4 {\n  vendor = nvidia\n  memory = 24GB\n}\n'
        'inventory dc {\n  format = kubectl\n  file = "nodes.json"\n  price = 2 USD/h\n}\n'
        'workload train {\n  replicas = 2\n  cpu = 8\n  memory = 64Gi\n  gpu {\n    count = 8\n'
        '    require model == A100_80GB\n  }\n}\n'
        'workload web {\n  replicas = 2\n  cpu = 4\n  memory = 8Gi\n'
        '  zones = ["us-east-1a", "us-east-1b"]\n}\n'))
    classes = {c.id: c for c in problem.classes}
    a100 = [c for c in classes.values() if c.accelerator and c.accelerator.name == "A100_80GB"]
    assert sorted(c.count for c in a100) == [1, 2]  # two zones -> two classes
    assert classes["dc/g6.4xlarge"].accelerator.name == "L4"
    infra = classes["dc/m6g.2xlarge"]
    assert infra.taints == (Taint("dedicated", "infra", "NoSchedule"),) and infra.arch == "arm64"
    placement = solved(problem)
    assert not placement.unplaced
    assert {a.node for a in placement.assignments if a.workload == "train"} <= {
        "gpu-a100-0", "gpu-a100-1", "gpu-a100-2"}
    assert "infra-0" not in {a.node for a in placement.assignments}


def _priced_by_type(prices: str) -> str:
    return ('inventory dc {\n  format = kubectl\n  file = "nodes.json"\n  price = 0.5 USD/h\n'
            f'  instance_prices = {{ {prices} }}\n}}\n'
            'workload web {\n  replicas = 2\n  cpu = 3\n  memory = 4Gi\n}\n')


def test_an_inventory_prices_each_node_by_its_instance_type(tmp_path, fitc):
    """Found as a user (session 57): one `price` per inventory, so a cluster of several node
    types was one `kubectl get nodes -l ...` file per price. `instance_prices` prices each node
    by its `node.kubernetes.io/instance-type`; a type it does not list costs `price`, and W0524
    names those types (a silent default would make them the first filled, the last released)."""
    (tmp_path / "nodes.json").write_text((INVENTORY / "nodes.json").read_text())
    listed = '"m6i.8xlarge": 0.2 USD/h, "p4de.24xlarge": 40.966 USD/h, "m6g.2xlarge": 0.308 USD/h'
    problem = problem_from(tmp_path, _priced_by_type(listed + ', "g6.4xlarge": 1.3232 USD/h'))
    prices = {(c.instance_type, c.price) for c in problem.classes}  # (no W0524: problem_from)
    assert prices == {("p4de.24xlarge", Fraction("40.966")), ("g6.4xlarge", Fraction("1.3232")),
                      ("m6i.8xlarge", Fraction("0.2")), ("m6g.2xlarge", Fraction("0.308"))}
    # the cheapest node web may use is an m6i at 0.2 (the m6g is tainted), one for both replicas
    nodes = {a.node for a in solved(problem).assignments}
    assert nodes in ({"cpu-0"}, {"cpu-1"}), nodes
    (tmp_path / "p.fit").write_text(_priced_by_type(listed))
    found = json.loads(fitc("check", "p.fit", "--format", "json", cwd=tmp_path).stdout)
    (unpriced,) = [d for d in found if d["code"] == "W0524"]
    assert (unpriced["line"], unpriced["column"]) == (5, 21)  # at `instance_prices`' value
    assert "`g6.4xlarge` (1)" in unpriced["message"] and "0.5 USD/h" in unpriced["message"]


def _karpenter_node(name: str, capacity: str) -> dict:
    """An m7i.2xlarge as Karpenter launches it, spot or on demand (`karpenter.sh/capacity-type`)."""
    return {"kind": "Node", "metadata": {"name": name, "labels": {
        "node.kubernetes.io/instance-type": "m7i.2xlarge", "karpenter.sh/nodepool": "default",
        "karpenter.sh/capacity-type": capacity, "topology.kubernetes.io/zone": "us-east-1a"}},
        "status": {"allocatable": {"cpu": "7910m", "memory": "31Gi", "pods": "58"}}}


def _karpenter_cluster(spot_prices: str) -> str:
    return ('inventory eks {\n  format = kubectl\n  file = "nodes.json"\n'
            '  instance_prices = { "m7i.2xlarge": 0.4032 USD/h }\n' + spot_prices + '}\n'
            'workload web {\n  replicas = 1\n  cpu = 2\n  memory = 4Gi\n}\n')


def test_an_inventorys_spot_nodes_cost_their_spot_price_and_unpriced_ones_are_said(tmp_path, fitc):
    """Found as a user (session 59): Karpenter launches one instance type spot and on demand;
    `instance_prices` priced both at the on-demand price, in silence, so the cost stated was
    not the bill and a plan emptied spot and on-demand nodes alike. `spot_prices` prices the
    nodes their labels say are spot; where it does not list a spot node's type, W0524 says so."""
    nodes = [_karpenter_node("ip-10-0-0-1", "on-demand"), _karpenter_node("ip-10-0-0-2", "spot")]
    (tmp_path / "nodes.json").write_text(json.dumps({"kind": "List", "items": nodes}))
    problem = problem_from(tmp_path, _karpenter_cluster('  spot_prices = { "m7i.2xlarge": 0.16 USD/h }\n'))
    assert sorted((c.id, c.node_names, c.price) for c in problem.classes) == [
        ("eks/m7i.2xlarge", ("ip-10-0-0-1",), Fraction("0.4032")),
        ("eks/m7i.2xlarge-spot", ("ip-10-0-0-2",), Fraction("0.16"))]
    assert {a.node for a in solved(problem).assignments} == {"ip-10-0-0-2"}  # the cheaper
    (tmp_path / "p.fit").write_text(_karpenter_cluster(""))
    found = json.loads(fitc("check", "p.fit", "--format", "json", cwd=tmp_path).stdout)
    assert [(d["code"], d["line"], d["message"]) for d in found] == [
        ("W0524", 4, "1 spot node(s) (as their labels say) of instance types `spot_prices` does not "
                     "list cost their on-demand price: `m7i.2xlarge` (1)")]
    # said at `spot_prices` where it is stated and lacks the type
    (tmp_path / "p.fit").write_text(_karpenter_cluster('  spot_prices = { "c7g.4xlarge": 0.23 USD/h }\n'))
    found = json.loads(fitc("check", "p.fit", "--format", "json", cwd=tmp_path).stdout)
    assert [(d["code"], d["line"]) for d in found] == [("W0524", 5)]


def test_inventory_problems_are_diagnostics_at_the_file_attribute(tmp_path, fitc):
    (tmp_path / "nodes.json").write_text('{"items": [{"metadata": {}}]}')
    (tmp_path / "p.fit").write_text('inventory dc {\n  format = kubectl\n  file = "nodes.json"\n}\n')
    result = fitc("solve", "p.fit", cwd=tmp_path)
    assert result.returncode == 1
    assert "p.fit:3:10: error[E0502]: nodes.json: items[0] has no metadata.name" in result.stderr


def test_inventory_nodes_left_out_are_said_at_the_file_attribute(tmp_path, fitc):
    """Cordoned, not Ready or drained nodes take no work: they were dropped without a word (a
    fleet smaller than the file, and nothing said why); now a note names them, by why."""
    (tmp_path / "nodes.json").write_text((INVENTORY / "nodes.json").read_text())
    (tmp_path / "nodes.txt").write_text((INVENTORY / "scontrol.txt").read_text())
    (tmp_path / "p.fit").write_text(
        'inventory dc {\n  format = kubectl\n  file = "nodes.json"\n}\n'
        'inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
        'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n')
    result = fitc("check", "p.fit", "--format", "json", cwd=tmp_path)
    assert result.returncode == 0
    notes = [(d["code"], d["line"], d["message"]) for d in json.loads(result.stdout)]
    assert [(code, line) for code, line, _ in notes] == [("W0522", 3), ("W0522", 7)]
    assert "`cpu-2`" in notes[0][2] and "`cpu-3`" in notes[0][2]
    assert "`gpu003`" in notes[1][2] and "`gpu004`" in notes[1][2]


def test_inventory_gpu_model_settles_an_ambiguous_slurm_type(tmp_path):
    (tmp_path / "nodes.txt").write_text((INVENTORY / "scontrol.txt").read_text())
    base = ('accelerator A100_40GB {\n  vendor = nvidia\n  memory = 40GB\n}\n'
            'accelerator A100_80GB {\n  vendor = nvidia\n  memory = 80GB\n}\n'
            'inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n%s}\n'
            'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n')
    explicit = problem_from(tmp_path, base % "  gpu_model = A100_80GB\n", "a.fit")
    (gpu,) = [c for c in explicit.classes if c.accelerator]
    assert gpu.accelerator.name == "A100_80GB" and gpu.gres_type == "a100"


def test_slurm_partition_of_the_policy_keeps_work_in_it(tmp_path):
    (tmp_path / "nodes.txt").write_text((INVENTORY / "scontrol.txt").read_text())
    text = ('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
            'workload w {\n  replicas = 2\n  cpu = 1\n  memory = 1Gi\n}\n'
            'policy {\n  slurm {\n    partition = "debug"\n  }\n}\n')
    problem = problem_from(tmp_path, text)
    (demand,) = problem.demands
    assert {problem.node_class(c).node_names[0][:3] for c in demand.eligible} == {"cpu"}
    assert all("partition" in e.rule for c, e in demand.excluded.items())


# ---- allocatable of bought nodes: each provider's documented kubelet reservation ----------

MIB, GIB = 2 ** 20, 2 ** 30


def _bought(tmp_path, offer: str, workload: str = "", policy: str = ""):
    """The classes of one stdlib offer bought in its first region (and a workload, if any)."""
    problem = problem_from(tmp_path, f'''
import "std/aws"
import "std/gcp"
import "std/azure"
buy {{
  offers = [{offer}]
}}
{workload}
{policy}
''')
    return problem, next(c for c in problem.classes if c.pool == offer)


def test_eks_allocatable_of_a_c7g_4xlarge_is_nodeadms_formula(tmp_path):
    _, node = _bought(tmp_path, "aws_c7g_4xlarge")
    # nodeadm: CPU 6% of core 1 + 1% of core 2 + 0.5% of cores 3-4 + 0.25% of cores 5-16
    cpu_reserved = 60 + 10 + 2 * 5 + 12 * 2.5
    # memory 11 MiB x maxPods (234 for c7g.4xlarge: 8 ENIs x 29 + 2) + 255 MiB, evicting at 100Mi
    memory_reserved = (11 * (8 * 29 + 2) + 255 + 100) * MIB
    assert cpu_reserved == 110 and memory_reserved == 2929 * MIB
    assert node.capacity["cpu"] == 16_000 - 110
    assert node.capacity["memory"] == 32 * GIB - 2929 * MIB
    assert node.reserved == {"cpu": 110, "memory": 2929 * MIB}
    assert node.machine["cpu"] == 16_000 and node.machine["memory"] == 32 * GIB


def test_gke_allocatable_of_an_n2_standard_8_is_googles_tiers(tmp_path):
    _, node = _bought(tmp_path, "gcp_n2_standard_8")
    # memory: 25% of 4 GiB + 20% of 4 GiB + 10% of 8 GiB + 6% of the 16 GiB up to 32 GiB
    #       = 1 + 0.8 + 0.8 + 0.96 = 3.56 GiB, rounded up to a byte, plus the 100 MiB threshold
    kube_reserved = -(-356 * GIB // 100)
    assert node.capacity["cpu"] == 8000 - (60 + 10 + 2 * 5 + 4 * 2.5)
    assert node.capacity["memory"] == 32 * GIB - kube_reserved - 100 * MIB


def test_aks_allocatable_follows_its_table_and_the_lesser_memory_rule(tmp_path):
    _, d8s = _bought(tmp_path, "azure_d8s_v5")
    # 8 cores: 180m; memory: 20 MB x 250 max pods + 50 MB = 5050 MiB < 25% of 32 GiB
    assert d8s.capacity["cpu"] == 8000 - 180
    assert d8s.capacity["memory"] == 32 * GIB - (20 * 250 + 50) * MIB - 100 * MIB
    _, f8s = _bought(tmp_path, "azure_f8s_v2")
    # 16 GiB: 25% (4096 MiB) is less than 5050 MiB
    assert f8s.capacity["memory"] == 16 * GIB - 4 * GIB - 100 * MIB


def test_an_offer_states_max_pods_for_its_network_setting(tmp_path):
    problem = problem_from(tmp_path, '''
offer kubenet_d8 {
  provider = azure
  instance_type = "Standard_D8s_v5"
  regions = ["eastus"]
  cpu = 8
  memory = 32GiB
  price = 0.384 USD/h
  max_pods = 110
}
buy {}
''')
    [node] = problem.classes
    assert node.capacity["memory"] == 32 * GIB - (20 * 110 + 50 + 100) * MIB


def test_pods_sized_to_the_whole_machine_get_no_such_node(tmp_path):
    """Issue 14: etl shards of 16 CPU and 32 GiB, the whole of a c7g.4xlarge, would stay
    Pending there; two 8-CPU pods do not fit one D16as_v5 (15.74 CPU allocatable)."""
    whole = '''
workload etl {
  replicas = 2
  cpu = 16
  memory = 32GiB
  arch = [arm64]
}
policy {
  allow_unplaced = true
}
'''
    problem, _ = _bought(tmp_path, "aws_c7g_4xlarge", whole)
    placement = solve_placement(problem)
    assert placement.assignments == [] and len(placement.unplaced) == 2
    problem = problem_from(tmp_path, '''
offer azure_d16as_v5 {
  provider = azure
  instance_type = "Standard_D16as_v5"
  regions = ["eastus"]
  cpu = 16
  memory = 64GiB
  price = 0.688 USD/h
}
buy {}
workload etl {
  replicas = 2
  cpu = 8
  memory = 16GiB
}
''')
    placement = solved(problem)
    assert len({a.node for a in placement.assignments}) == 2
    assert placement.value == 2 * Fraction("0.688")
def _jittered_nodes(allocatable: list[tuple[str, str]]) -> str:
    """kubectl nodes alike but for their allocatable (what the kubelet reserves differs)."""
    items = [{"metadata": {"name": f"n{i}", "labels": {"kubernetes.io/hostname": f"n{i}",
                                                          "rack": f"r{i}"}},
              "status": {"allocatable": {"cpu": cpu, "memory": memory}}}
             for i, (cpu, memory) in enumerate(allocatable)]
    return json.dumps({"items": items})


def test_inventory_nodes_that_no_rule_tells_apart_share_a_class_with_their_own_capacity(tmp_path):
    # 15.9 and 15.8 cores hold the same 2-core replicas; 62 and 61.5 GiB the same 4 GiB ones
    # (within 3%): one class. The rack label differs per node but no rule reads it.
    (tmp_path / "nodes.json").write_text(_jittered_nodes(
        [("15900m", "62Gi"), ("15800m", "61.5Gi"), ("15900m", "62Gi")]))
    problem = problem_from(tmp_path, (
        'inventory dc {\n  format = kubectl\n  file = "nodes.json"\n  price = 1 USD/h\n}\n'
        'workload w {\n  replicas = 21\n  cpu = 2\n  memory = 4Gi\n}\n'))
    (only,) = problem.classes
    assert only.count == 3 and "rack" not in only.labels
    assert only.capacity["cpu"] == 15900  # the largest: the class-level model is a relaxation
    assert only.capacity_of("n1") == {"cpu": 15800, "memory": int(61.5 * 2 ** 30), "gpu": 0, "disk": 0}
    placement = solved(problem)  # verify holds n1 to its own 15.8 cores: 7 replicas there
    per_node = {}
    for item in placement.assignments:
        per_node[item.node] = per_node.get(item.node, 0) + 1
    assert sorted(per_node.values()) == [7, 7, 7] and not placement.unplaced


def test_inventory_nodes_split_by_a_label_or_capacity_a_rule_reads(tmp_path):
    (tmp_path / "nodes.json").write_text(_jittered_nodes(
        [("16", "64Gi"), ("16", "64Gi"), ("16", "32Gi")]))
    problem = problem_from(tmp_path, (
        'inventory dc {\n  format = kubectl\n  file = "nodes.json"\n}\n'
        'workload w {\n  replicas = 1\n  cpu = 2\n  memory = 4Gi\n  require labels["rack"] != "r0"\n'
        '  require memory >= 40GiB\n}\n'))
    assert sorted(c.count for c in problem.classes) == [1, 1, 1]
    placement = solved(problem)
    assert [a.node for a in placement.assignments] == ["n1"]


def test_verify_holds_a_merged_node_to_its_own_allocatable(tmp_path):
    from fitlang.solve.verify import verify

    (tmp_path / "nodes.json").write_text(_jittered_nodes([("16", "64Gi"), ("15800m", "64Gi")]))
    problem = problem_from(tmp_path, (
        'inventory dc {\n  format = kubectl\n  file = "nodes.json"\n}\n'
        'workload w {\n  replicas = 64\n  cpu = 250m\n  memory = 100Mi\n}\n'))
    assert len(problem.classes) == 1  # 64 and 63 quarter-cores: within 3%
    document = {"assignments": [{"workload": "w", "replica": i, "node": "n1"} for i in range(64)]}
    violations, _ = verify(problem, document)  # 16 cores asked of a node with 15.8
    assert [v.message for v in violations] == [
        "node `n1` is over its cpu: 16 CPU requested, 15.8 available"]


def _kubectl(*nodes: tuple[str, dict]) -> str:
    import json

    return json.dumps({"items": [{"metadata": {"name": name}, "status": {"allocatable": resources}}
                                 for name, resources in nodes]})


@pytest.mark.parametrize("resources, expected", [
    ({"cpu": "-4", "memory": "8Gi"}, "cpu (in millicores) is negative (-4000m)"),
    ({"cpu": "4", "memory": "8Gi", "nvidia.com/gpu": "1.5"},
     "nvidia.com/gpu must be a whole number, found 1.5"),
    ({"cpu": "4", "memory": "64Ei"},
     "memory must be at most 1152921504606846976 bytes, found 7.379e+19 bytes"),
    ({"cpu": "1e400", "memory": "8Gi"}, "cpu (in millicores) must be at most 1000000000m, found 1.000e+403m"),
])
def test_kubectl_values_outside_their_range_are_reported_not_raised(resources, expected):
    read = read_kubectl(_kubectl(("n1", resources)), "nodes.json")
    assert (read.nodes, read.problems) == ([], [])
    assert read.bad_values == [f"nodes.json: node `n1`: {expected}"]


def test_kubectl_quantities_read_once_per_text_still_read_per_node():
    # quantities are worked out once per distinct text: every node repeating a bad one is
    # still reported, and the same text names the same amount on every node (and numbers
    # given as JSON numbers read as their text does)
    read = read_kubectl(_kubectl(("a", {"cpu": "-4", "memory": "8Gi"}),
                                 ("b", {"cpu": "-4", "memory": "8Gi"}),
                                 ("c", {"cpu": "3500m", "memory": "8Gi"}),
                                 ("d", {"cpu": "3500m", "memory": 8589934592}),
                                 ("e", {"cpu": 3.5, "memory": "8192Mi"})), "nodes.json")
    assert read.bad_values == ["nodes.json: node `a`: cpu (in millicores) is negative (-4000m)",
                               "nodes.json: node `b`: cpu (in millicores) is negative (-4000m)"]
    assert [(n.name, n.cpu_milli, n.memory) for n in read.nodes] == [
        ("c", 3500, 8 * 2 ** 30), ("d", 3500, 8 * 2 ** 30), ("e", 3500, 8 * 2 ** 30)]


@pytest.mark.parametrize("gres", ["gpu:a100:x", "gpu:a100:", "gpu", "gpu:-4", "gpu:1.5",
                                  "gpu:a100:4:5", "gpu:a100:2000"])
def test_malformed_slurm_gres_is_an_error_not_zero_gpus(gres):
    line = f"NodeName=g1 CPUTot=8 RealMemory=1024 Gres={gres} State=IDLE"
    read = read_slurm(line, "s.txt")
    assert read.nodes == [] and len(read.bad_values) == 1
    assert read.bad_values[0].startswith("s.txt:1: node `g1`: ")


def test_a_windows_node_takes_no_work():
    """A mixed cluster's Windows nodes run no Linux container: left out, and said why."""
    read = read_kubectl(json.dumps({"items": [
        {"metadata": {"name": name, "labels": {"kubernetes.io/os": system}},
         "status": {"allocatable": {"cpu": "8", "memory": "32Gi"}}}
        for name, system in (("akswin000000", "windows"), ("aks-linux-0", "linux"))]}), "n.json")
    assert [n.name for n in read.nodes] == ["aks-linux-0"]
    assert read.skipped == {"akswin000000": "kubernetes.io/os=windows"}


def test_a_slurm_node_in_a_reservation_takes_no_work():
    """A RESERVED node runs only jobs that name the reservation (sinfo(1)); fitc's name none."""
    read = read_slurm("NodeName=r1 CPUTot=8 RealMemory=1024 State=IDLE+RESERVED\n"
                      "NodeName=r2 CPUTot=8 RealMemory=1024 State=MIXED\n", "s.txt")
    assert [n.name for n in read.nodes] == ["r2"] and read.skipped == {"r1": "State=IDLE+RESERVED"}


@pytest.mark.parametrize("gres, count, kind", [
    ("gpu:a100:4(S:0-1)", 4, "a100"), ("gpu:4", 4, None), ("gpu:h100:2(S:0,2),nic:1", 2, "h100"),
    ("gpu:a100:2,gpu:v100:2", 4, "a100"), ("(null)", 0, None), ("", 0, None)])
def test_well_formed_slurm_gres(gres, count, kind):
    read = read_slurm(f"NodeName=g1 CPUTot=8 RealMemory=1024 Gres={gres}", "s.txt")
    assert [(n.gpu_count, n.gpu_product) for n in read.nodes] == [(count, kind)]


def test_negative_and_fractional_slurm_counts_are_reported():
    read = read_slurm("NodeName=a CPUTot=-4 RealMemory=1024\nNodeName=b CPUTot=8 RealMemory=1.5\n",
                      "s.txt")
    assert read.nodes == []
    assert read.bad_values == ["s.txt:1: node `a`: CPUTot is negative (-4)",
                               "s.txt:2: node `b`: RealMemory (MiB) must be a whole number, found 1.5"]


def test_deeply_nested_inventory_json_is_a_problem_not_a_crash():
    read = read_kubectl("[" * 100_000 + "]" * 100_000, "nodes.json")
    assert read.nodes == [] and len(read.problems) == 1 and "nests too deeply" in read.problems[0]


@pytest.mark.parametrize("name, text", [
    ("nodes.txt", "NodeName=n1 CPUTot=8 RealMemory=1024\nNodeName=n1 CPUTot=8 RealMemory=1024\n"),
    ("nodes.json", _kubectl(("n1", {"cpu": "8", "memory": "1Gi"}), ("n1", {"cpu": "8", "memory": "1Gi"}))),
])
def test_a_node_listed_twice_is_an_error_at_the_file(tmp_path, fitc, name, text):
    (tmp_path / name).write_text(text)
    fmt = "slurm" if name.endswith(".txt") else "kubectl"
    (tmp_path / "p.fit").write_text(f'inventory dc {{\n  format = {fmt}\n  file = "{name}"\n}}\n'
                                    'workload w {\n  replicas = 2\n  cpu = 8\n  memory = 1Gi\n}\n')
    for command in ("check", "solve"):
        result = fitc(command, "--format", "json", "p.fit", cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        records = json.loads(result.stdout)
        assert [(r["code"], r["line"]) for r in records if r["severity"] == "error"] == [
            ("E0521", 3)]


def test_a_node_two_inventories_list_is_an_error_at_the_second_file(tmp_path, fitc):
    # found as a user (session 57): two inventories of one `kubectl get nodes` file (a price
    # each) were two nodes per machine, and `solve` put 30 CPU on a 16-CPU node
    (tmp_path / "x86.json").write_text(_kubectl(("ip-1", {"cpu": "16", "memory": "8Gi"}),
                                                ("ip-2", {"cpu": "16", "memory": "8Gi"})))
    (tmp_path / "more.json").write_text(_kubectl(("ip-3", {"cpu": "16", "memory": "8Gi"}),
                                                 ("ip-2", {"cpu": "16", "memory": "8Gi"})))
    policy = ('inventory a {{\n  format = kubectl\n  file = "x86.json"\n}}\n'
              'inventory b {{\n  format = kubectl\n  file = "{}"\n}}\n'
              'workload w {{\n  replicas = 4\n  cpu = 15\n  memory = 1Gi\n}}\n')
    (tmp_path / "p.fit").write_text(policy.format("more.json"))
    for command in ("check", "solve"):
        result = fitc(command, "--format", "json", "p.fit", cwd=tmp_path)
        assert result.returncode == 1, result.stderr
        assert [(r["code"], r["line"], r["message"]) for r in json.loads(result.stdout)
                if r["severity"] == "error"] == [
            ("E0521", 7, "1 node(s) of inventory `b` are in inventory `a` too: `ip-2`; a node is in "
                         "one inventory (read each from a file of its own nodes: "
                         "`kubectl get nodes -l ...`)")]
    (tmp_path / "p.fit").write_text(policy.format("x86.json").replace("replicas = 4", "replicas = 2"))
    assert fitc("check", "p.fit", cwd=tmp_path).returncode == 1
    (tmp_path / "more.json").write_text(_kubectl(("ip-3", {"cpu": "16", "memory": "8Gi"})))
    (tmp_path / "p.fit").write_text(policy.format("more.json").replace("replicas = 4", "replicas = 3"))
    assert fitc("solve", "p.fit", cwd=tmp_path).returncode == 0  # three machines, three replicas


@pytest.mark.parametrize("make", ["directory", "fifo", "devnull"])
def test_an_inventory_that_is_not_a_regular_file_is_reported_without_blocking(tmp_path, fitc, make):
    import os

    if make == "directory":
        (tmp_path / "nodes.json").mkdir()
        file = "nodes.json"
    elif make == "fifo":
        os.mkfifo(tmp_path / "nodes.json")
        file = "nodes.json"
    else:
        file = "/dev/null"
    (tmp_path / "p.fit").write_text(f'inventory dc {{\n  format = kubectl\n  file = "{file}"\n}}\n')
    for command in ("check", "solve"):
        result = fitc(command, "--format", "json", "p.fit", cwd=tmp_path)
        assert result.returncode == 1
        assert [r["code"] for r in json.loads(result.stdout)] == ["E0103"]


# ---- node names: made when asked for, looked up by name (issue 13) -----------------------------


def test_made_up_node_names_are_parsed_not_listed(tmp_path):
    text = ('pool big {\n  count = 10000000\n  cpu = 4\n  memory = 16Gi\n  price = 0.1 USD/h\n}\n'
            'pool big_1 {\n  count = 3\n  cpu = 4\n  memory = 16Gi\n  price = 0.1 USD/h\n}\n'
            'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n')
    problem = problem_from(tmp_path, text)
    big, other = problem.classes
    assert len(big.node_names) == 10_000_000
    assert (big.node_names[0], big.node_names[-1]) == ("big-0", "big-9999999")
    assert list(big.node_names[9_999_998:]) == ["big-9999998", "big-9999999"]
    assert list(other.node_names) == ["big_1-0", "big_1-1", "big_1-2"]
    owners = problem.owners()
    assert (owners["big_1-0"], owners["big-1"], owners["big-9999999"]) == (other, big, big)
    assert (owners.position("big_1-2"), owners.position("big-17")) == (2, 17)
    # an Arabic-Indic digit on purpose: `isdigit` says yes, a node number it is not
    for stranger in ("big-10000000", "big-01", "big-", "big_1-3", "big--1", "big-١", "small-0"):  # noqa: RUF001
        assert stranger not in owners and stranger not in big.node_names, stranger
    assert owners.in_class_order(["big-10", "big-9", "big-100"]) == ["big-9", "big-10", "big-100"]


# ---- eligibility for all classes at once (issue 15) --------------------------------------------


def _pairwise(problem, program):
    """The reference: every rule checked on every (workload, class) pair, one at a time."""
    from fitlang.model.build import _demand_names, _views, exclusions
    from fitlang.model.problem import holds, replicas_per_node

    owned = {c.id for c in problem.classes}
    names = _demand_names(program)
    expected = {}
    for workload in program.workloads.values():
        for view, _ in _views(workload, names):
            demand = problem.demand(view.name)
            eligible, failing, preference, met = [], {}, {}, [set() for _ in view.preferences]
            for node_class in problem.classes + problem.spare_offers:
                rules = [e.rule for e in exclusions(view, node_class)]
                if not rules and replicas_per_node(demand, node_class) == 0:
                    rules = ["resources"]
                if rules:
                    failing[node_class.id] = rules
                elif node_class.id in owned:
                    eligible.append(node_class.id)
                    weights = [p.weight for i, p in enumerate(view.preferences)
                               if holds(p.predicate, node_class.attribute) and not met[i].add(node_class.id)]
                    if sum(weights):
                        preference[node_class.id] = sum(weights)
            expected[view.name] = (eligible, failing, preference, met)
    return expected


@pytest.mark.parametrize("shape", ["inventory", "breaker"])
def test_eligibility_for_all_classes_at_once_is_that_of_every_pair(tmp_path, shape):
    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem

    inventories = bench_module("inventories")
    fleet = getattr(inventories, "generate" if shape == "inventory" else "breaker")(600, 60)
    path = fleet.write(tmp_path, shape)
    program = check_file(path).program
    problem = build_problem(program).problem
    expected = _pairwise(problem, program)
    assert len(problem.classes) > 50 and len(expected) == len(problem.demands)
    for demand in problem.demands:
        eligible, failing, preference, met = expected[demand.name]
        assert demand.eligible == eligible, demand.name
        assert list(demand.failing) == list(failing)
        assert {c: [e.rule for e in reasons] for c, reasons in demand.failing.items()} == failing
        assert {c: e.rule for c, e in demand.excluded.items()} == \
            {c: rules[0] for c, rules in failing.items() if c not in {s.id for s in problem.spare_offers}}
        assert demand.preference == preference
        assert [r.met_by for r in demand.preferences] == met


def test_workloads_that_may_use_the_same_classes_share_one_eligibility(tmp_path):
    """Worked out by hand: pools small (4 cores), big (32 cores), gpu (tainted). `a` and `b`
    ask the same of a node (1 core, no rule): both pools but the tainted one, one list.
    `c` is too big for `small`, `d` requires the zone of `big` only: each a list of its own,
    and neither changes `a`'s; `e` requires label n = "1": `small` only (`gpu` is dedicated)."""
    pools = ''.join(
        f'pool {name} {{\n  count = 2\n  cpu = {cpu}\n  memory = 64Gi\n  zone = "{zone}"\n'
        f'  price = 1 USD/h\n  labels = {{ "n": {label} }}\n{extra}}}\n'
        for name, cpu, zone, label, extra in (
            ("small", 4, "z1", '"1"', ""), ("big", 32, "z2", '"2"', ""),
            ("gpu", 32, "z1", '"1"', '  dedicated = "gpu"\n')))

    def workload(name, cpu, extra=""):
        return f'workload {name} {{\n  replicas = 1\n  cpu = {cpu}\n  memory = 1Gi\n{extra}}}\n'

    problem = problem_from(tmp_path, pools + workload("a", 1) + workload("b", 1) + workload("c", 8)
                           + workload("d", 1, '  zones = ["z2"]\n')
                           + workload("e", 1, '  require labels["n"] == "1"\n'))
    demands = {d.name: d for d in problem.demands}
    assert demands["a"].eligible == ["small", "big"] and demands["a"].eligible is demands["b"].eligible
    assert demands["c"].eligible == ["big"] and demands["d"].eligible == ["big"]
    assert demands["e"].eligible == ["small"]
    assert demands["a"].excluded.keys() == {"gpu"} and demands["c"].excluded.keys() == {"small", "gpu"}
    assert demands["c"].excluded["small"].rule == "resources"
    assert demands["d"].excluded["small"].rule == "zones"


def test_a_built_problem_is_frozen_and_its_copies_have_their_own_indexes(tmp_path):
    problem = problem_from(tmp_path, """
pool a {
  count = 2
  cpu = 4
  memory = 8GiB
  price = 1 USD/h
}
workload web {
  replicas = 3
  cpu = 1
  memory = 1GiB
}
""")
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.budget = Fraction(1)  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.classes[0].count = 9  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        problem.demands[0].replicas = 9  # type: ignore[misc]
    assert problem.node_class("a").count == 2  # the index is built once read
    renamed = dataclasses.replace(problem, classes=[dataclasses.replace(problem.classes[0], id="b")])
    assert renamed.node_class("b").count == 2
    with pytest.raises(KeyError):
        renamed.node_class("a")
    fewer = problem.with_demand("web", replicas=1)
    assert (fewer.demand("web").replicas, problem.demand("web").replicas) == (1, 3)
    assert fewer.demand("web").eligible == problem.demand("web").eligible == ["a"]


def test_workloads_whose_rules_read_the_same_share_one_answer_of_the_classes(tmp_path, monkeypatch):
    """Which classes a workload may use is worked out once per distinct (rules, size): the
    workloads that repeat one get the answer (and reasons) worked out for the first."""
    from fitlang.model import build

    asked = []
    ruled_out = build.ruled_out
    monkeypatch.setattr(build, "ruled_out", lambda w, facets: asked.append(w.name) or ruled_out(w, facets))
    pools = ('pool small {\n  count = 2\n  cpu = 4\n  memory = 8GiB\n  zone = "a"\n  price = 1 USD/h\n}\n'
             'pool big {\n  count = 2\n  cpu = 64\n  memory = 256GiB\n  zone = "b"\n  price = 4 USD/h\n}\n')
    sizes = ["cpu = 2\n  memory = 4GiB", "cpu = 16\n  memory = 64GiB"]
    zones = '  zones = ["a", "b"]'
    workloads = "".join(f'workload w{i} {{\n  replicas = 1\n  {sizes[i % 2]}\n'
                        f'{zones if i % 3 == 0 else ""}\n}}\n' for i in range(12))
    problem = problem_from(tmp_path, pools + workloads)
    assert sorted(asked) == ["w0", "w1", "w2", "w3"]  # (zones stated or not) x (small, big)
    eligible = {d.name: d.eligible for d in problem.demands}
    assert [w for w in eligible if eligible[w] == ["small", "big"]] == ["w0", "w2", "w4", "w6", "w8", "w10"]
    assert all(eligible[f"w{i}"] == ["big"] for i in range(1, 12, 2))
    assert [e.detail for e in problem.demands[1].failing["small"]] == [
        "a node has less cpu and memory than one replica needs"]


def test_amd_gpus_are_read_from_the_labels_amds_node_labeller_writes(tmp_path):
    """ROCm/k8s-device-plugin's labeller: `amd.com/gpu.product-name`, `amd.com/gpu.vram` in GiB."""
    labels = {"amd.com/gpu.product-name": "AMD_Instinct_MI300X_OAM", "amd.com/gpu.vram": "192G",
              "amd.com/gpu.family": "AI"}
    text = json.dumps({"items": [{"metadata": {"name": "mi300", "labels": labels},
                                  "status": {"allocatable": {"cpu": "190", "memory": "1800Gi",
                                                             "amd.com/gpu": "8"}}}]})
    node, = read_kubectl(text, "n.json").nodes
    assert (node.gpu_count, node.gpu_product) == (8, "AMD_Instinct_MI300X_OAM")
    assert node.gpu_memory == 192 * 2 ** 30
    (tmp_path / "nodes.json").write_text(text)
    problem = problem_from(tmp_path, 'import "std/accelerators"\n\ninventory lab {\n  format = kubectl\n'
                           '  file = "nodes.json"\n  price = 30 USD/h\n}\n\nworkload train {\n'
                           '  replicas = 1\n  cpu = 8\n  memory = 64GiB\n'
                           '  gpu {\n    count = 8\n    model = MI300X\n  }\n}\n')
    assert [c.accelerator.name for c in problem.classes] == ["MI300X"]
    assert solved(problem).assignments[0].node == "mi300"


def _accelerators_of(tmp_path, nodes: list[tuple[str, dict, dict]], imports: str = "") -> dict:
    """node name -> its class's accelerator, for kubectl nodes (name, labels, allocatable)."""
    (tmp_path / "nodes.json").write_text(json.dumps({"items": [
        {"metadata": {"name": name, "labels": labels},
         "status": {"allocatable": {"cpu": "8", "memory": "32Gi", **resources}}}
        for name, labels, resources in nodes]}))
    problem = problem_from(tmp_path, f'import "std/accelerators"\n{imports}\ninventory lab {{\n'
                           '  format = kubectl\n  file = "nodes.json"\n  price = 1 USD/h\n}\n')
    return {name: c.accelerator for c in problem.classes for name in c.node_names}


def test_cloud_nodes_without_gpu_feature_discovery_are_known_by_their_clouds_labels(tmp_path):
    """GKE labels its accelerators itself; an EKS node without GFD is known by its instance
    type where an offer the policy imports sells it (std/aws: p4d.24xlarge is 8 A100-40GB)."""
    found = _accelerators_of(tmp_path, [
        ("gke-l4", {"cloud.google.com/gke-accelerator": "nvidia-l4"}, {"nvidia.com/gpu": "1"}),
        ("gke-tpu", {"cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice"}, {"google.com/tpu": "4"}),
        ("eks-p4d", {"node.kubernetes.io/instance-type": "p4d.24xlarge"}, {"nvidia.com/gpu": "8"})],
        'import "std/aws"\n')
    assert {name: a.name for name, a in found.items()} == {
        "gke-l4": "L4", "gke-tpu": "TPU_V5P", "eks-p4d": "A100_40GB"}


def test_a_tpu_or_neuron_node_is_never_taken_for_a_gpu(tmp_path):
    """Named by nothing fitc knows, a node's devices are of the vendor its resource names: a
    TPU v4 node is not a TPU v5e, and no `vendor == nvidia` rule takes it (it did: `nvidia`)."""
    found = _accelerators_of(tmp_path, [
        ("tpu-v4", {"cloud.google.com/gke-tpu-accelerator": "tpu-v4-podslice"}, {"google.com/tpu": "4"}),
        ("neuron", {}, {"aws.amazon.com/neuron": "1"}),
        ("amd", {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"}, {"amd.com/gpu": "8"})])
    assert [(a.vendor, a.family, a.memory, a.resource) for a in found.values()] == [
        ("google", "tpu", 0, "google.com/tpu"), ("aws", "neuron", 0, "aws.amazon.com/neuron"),
        ("amd", "gpu", 0, "amd.com/gpu")]


def test_an_inventory_s_idle_power_is_drawn_by_each_node_in_use_beside_its_gpus(tmp_path):
    # found as a user (session 55): a power-capped site read from `kubectl get nodes` counted
    # its CPU nodes at 0 W (a file states no power): the cap and the electricity price saw GPUs only
    (tmp_path / "nodes.json").write_text(json.dumps({"items": [
        {"metadata": {"name": "cpu-1", "labels": {"site": "a"}},
         "status": {"allocatable": {"cpu": "16", "memory": "64Gi"}}},
        {"metadata": {"name": "cpu-2", "labels": {"site": "a"}},
         "status": {"allocatable": {"cpu": "16", "memory": "64Gi"}}},
        {"metadata": {"name": "gpu-1", "labels": {"site": "a", "nvidia.com/gpu.product": "NVIDIA-L4"}},
         "status": {"allocatable": {"cpu": "16", "memory": "64Gi", "nvidia.com/gpu": "2"}}}]}))
    text = ('import "std/accelerators"\n\ninventory site_a {\n  format = kubectl\n  file = "nodes.json"\n'
            "  idle_power = 400W\n}\n\npower_cap room {\n  labels = { site: \"a\" }\n  cap = 900W\n}\n\n"
            "workload batch {\n  replicas = 3\n  cpu = 12\n  memory = 8Gi\n}\n\n"
            "policy {\n  allow_unplaced = true\n}\n")
    problem = problem_from(tmp_path, text)
    watts = {c.id: c.power_watts for c in problem.classes}
    assert watts == {"site_a/cpu": 400, "site_a/NVIDIA-L4": 400 + 2 * 72}  # an L4's tdp: 72 W
    # 900 W holds two nodes in use: one replica of 12 CPU each, the third left out
    assert len(solve_placement(problem).assignments) == 2


@pytest.mark.parametrize("gres, model, said", [
    # found as an HPC team (session 56): their 80 GB A100s were taken for 40 GB ones in silence
    ("gpu:a100:4", "", "the GPUs named `a100` (g1) may be A100_40GB or A100_80GB, and the file says "
     "no more: fitc takes A100_40GB (40 GB); if they are not, state `gpu_model = A100_80GB` in the "
     "inventory"),
    ("gpu:a100:4", "  gpu_model = A100_80GB\n", None),  # stated: nothing to say
    ("gpu:h100:4", "", None),  # the name decides (H100 before H100_PCIE)
])
def test_a_gpu_name_that_fits_models_of_different_memory_is_said_with_the_one_taken(
        tmp_path, gres, model, said):
    from fitlang.driver import Compilation

    (tmp_path / "nodes.txt").write_text(
        f"NodeName=g1 CPUTot=64 RealMemory=515000 Gres={gres} State=IDLE Partitions=gpu\n")
    (tmp_path / "p.fit").write_text(
        f'import "std/accelerators"\ninventory hpc {{\n  format = slurm\n  file = "nodes.txt"\n{model}}}\n'
        "workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  command = [\"true\"]\n}\n")
    built = Compilation(tmp_path / "p.fit").build()
    found = [d for d in built.diagnostics if d.code == "W0523"]
    assert [d.message for d in found] == ([said] if said else [])
    [node_class] = built.problem.classes
    assert node_class.accelerator.name == (model.split("= ")[-1].strip() or ("A100_40GB" if "a100" in gres
                                                                            else "H100"))


@pytest.mark.parametrize("gres, model, taken, said", [
    # found as an HPC centre (session 60): one `scontrol show node` file of `gpu:a100` and
    # `gpu:h100` nodes; the `gpu_model = A100_80GB` W0523 asks for made the H100 nodes A100s
    (("a100", "h100"), "A100_80GB", ("A100_80GB", "H100"),
     "`gpu_model = A100_80GB` is the GPUs named `a100` (g1); the GPUs named `h100` (g2) are H100, as "
     "named"),
    (("h100",), "A100_80GB", ("H100",),
     "`gpu_model = A100_80GB` names none of the file's GPUs: the GPUs named `h100` (g1) are H100, as "
     "named; a `gpu_model` settles a name that fits several accelerators, or one that fits none"),
    (("h100",), "H100_PCIE", ("H100_PCIE",), None),  # the name fits it: the file cannot tell PCIe apart
    (("tesla",), "A100_80GB", ("A100_80GB",), None),  # the name fits nothing: stated
])
def test_an_inventorys_gpu_model_is_only_the_gpus_whose_name_fits_it(tmp_path, gres, model, taken, said):
    from fitlang.driver import Compilation

    (tmp_path / "nodes.txt").write_text("".join(
        f"NodeName=g{i} CPUTot=64 RealMemory=515000 Gres=gpu:{name}:4 State=IDLE Partitions=gpu\n"
        for i, name in enumerate(gres, start=1)))
    (tmp_path / "p.fit").write_text(
        f'import "std/accelerators"\ninventory hpc {{\n  format = slurm\n  file = "nodes.txt"\n'
        f"  idle_power = 1kW\n  gpu_model = {model}\n}}\n"
        "workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  command = [\"true\"]\n}\n")
    built = Compilation(tmp_path / "p.fit").build()
    assert [d.message for d in built.diagnostics if d.code == "W0913"] == ([said] if said else [])
    assert not [d for d in built.diagnostics if d.code == "W0523"]
    by_node = {c.node_names[0]: c for c in built.problem.classes}
    assert tuple(by_node[f"g{i}"].accelerator.name for i in range(1, len(gres) + 1)) == taken
    # what a node draws under a power cap is its own GPUs' (an H100's 700 W, not an A100's 400 W)
    tdp = {"A100_80GB": 400, "H100": 700, "H100_PCIE": 350}
    assert [by_node[f"g{i}"].power_watts for i in range(1, len(gres) + 1)] == [
        1000 + 4 * tdp[name] for name in taken]


def test_trainium2_has_the_96_gib_of_device_memory_a_chip_has(tmp_path):
    """The Neuron docs ("Amazon EC2 Trn2 Architecture"): a trn2.48xlarge's 16 Trainium2 chips
    have 1,536 GiB, 96 GiB each, 103 GB; std/accelerators said 96 GB, so a job asking 100 GB of
    device memory was kept off every trn2 (session 58)."""
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem

    path = tmp_path / "p.fit"
    path.write_text('import "std/aws"\nbuy trn {\n  offers = [aws_trn2_48xlarge]\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 8\n  memory = 64GiB\n'
                    '  gpu {\n    count = 16\n    require family == trainium and memory >= 100GB\n  }\n}\n')
    checked = check_file(path, Workspace())
    assert not checked.has_errors, checked.diagnostics
    [demand] = build_problem(checked.program).problem.demands
    assert demand.eligible == ["aws_trn2_48xlarge@us-east-2"]


def test_the_hosts_of_a_multi_host_tpu_slice_are_a_class_only_a_gang_filling_it_may_use(tmp_path):
    """A GKE node pool whose `gke-tpu-topology` holds more chips than a node (`2x4` of 4-chip
    v5e hosts: 2 hosts) is one slice; its hosts were merged with every node alike into one
    class, and any workload could take any of them. Each slice is now a class, named by its
    node pool, that a workload may use only as one gang of a replica per host asking all its
    chips; a `2x2` pool (a single host) is no slice."""
    from gke_slices import inventory, slice_hosts, tpu_workload, write_nodes

    write_nodes(tmp_path / "nodes.json", slice_hosts("a", "2x4") + slice_hosts("b", "4x4")
                + slice_hosts("single", "2x2"))
    problem = problem_from(tmp_path, inventory() + tpu_workload("two", 2, gang=True)
                           + tpu_workload("four", 4, gang=True) + tpu_workload("loose", 2)
                           + tpu_workload("half", 2, chips=2, gang=True))
    slices = {c.id: (c.tpu_slice, c.slice_hosts, sorted(c.node_names)) for c in problem.classes}
    assert slices == {"gke/a": ("a", 2, ["a-0", "a-1"]), "gke/b": ("b", 4, ["b-0", "b-1", "b-2", "b-3"]),
                      "gke/ct5lp-hightpu-4t": (None, 0, ["single-0"])}
    eligible = {d.name: d.eligible for d in problem.demands}
    assert eligible == {"two": ["gke/a", "gke/ct5lp-hightpu-4t"], "four": ["gke/b", "gke/ct5lp-hightpu-4t"],
                        "loose": ["gke/ct5lp-hightpu-4t"], "half": ["gke/ct5lp-hightpu-4t"]}
    loose, half = problem.demand("loose"), problem.demand("half")
    assert (loose.excluded["gke/a"].rule, half.excluded["gke/a"].rule) == ("no `gang = true`", "count = 2")
    assert loose.excluded["gke/b"].rule == "replicas = 2"
    assert loose.excluded["gke/a"].detail == ("nodes of `gke/a` are the 2 hosts of multi-host TPU slice `a`, "
                                              "which run one job together: one gang (`gang = true`) of 2 "
                                              "replicas, each asking the 4 chips of its host")
    assert {c.gang_domain for c in problem.classes} == {"default", "default/tpu-slice:a",
                                                        "default/tpu-slice:b"}
