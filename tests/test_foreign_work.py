"""Running work of no workload of the policy (issue 18, fidelity): pods of other teams and
DaemonSets in `kubectl get pods -A -o json`, other teams' jobs in `squeue --json`, take room
on the node they run on (the scheduler counts every pod's requests; Slurm every job's
allocation), for `solve`, `plan`, `compile --current` and `verify --current`.

Expected rooms are worked out by hand from the files (the comments say how)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from foreign_reference import overfilled_nodes

from fitlang.cli import main
from fitlang.driver import Compilation

GIB = 2 ** 30


def _node(name: str, cpu: str = "8", memory: str = "32Gi", gpus: int = 0) -> dict:
    allocatable = {"cpu": cpu, "memory": memory, "pods": "110"}
    labels = {"kubernetes.io/hostname": name}
    if gpus:
        allocatable["nvidia.com/gpu"] = str(gpus)
        labels["nvidia.com/gpu.product"] = "NVIDIA-L4"
    return {"kind": "Node", "metadata": {"name": name, "labels": labels},
            "status": {"allocatable": allocatable, "conditions": [{"type": "Ready", "status": "True"}]}}


def _pod(name: str, node: str, *requests: dict, phase: str = "Running", namespace: str = "monitoring",
         **spec) -> dict:
    containers = [{"name": f"c{i}", "resources": {"requests": r}} for i, r in enumerate(requests)]
    return {"kind": "Pod", "metadata": {"name": name, "namespace": namespace},
            "spec": {"nodeName": node, "containers": containers, **spec}, "status": {"phase": phase}}


def _listing(*items: dict) -> str:
    return json.dumps({"kind": "List", "items": list(items)})


# a cheap inventory (node `a`) and a dear one (`b`): `web` goes to `a` where it has the room
POLICY = """\
inventory cheap {
  format = kubectl
  file = "cheap.json"
  price = 1 USD/h
}
inventory dear {
  format = kubectl
  file = "dear.json"
  price = 2 USD/h
}
workload web {
  replicas = 1
  cpu = 6
  memory = 4GiB
}
"""


def _policy(tmp_path: Path, *pods: dict, policy: str = POLICY, cheap: list | None = None) -> Path:
    (tmp_path / "cheap.json").write_text(_listing(*(cheap or [_node("a")])))
    (tmp_path / "dear.json").write_text(_listing(_node("b")))
    (tmp_path / "pods.json").write_text(_listing(*pods))
    (tmp_path / "policy.fit").write_text(policy)
    return tmp_path / "policy.fit"


def _placed(compilation: Compilation) -> list[tuple[str, str]]:
    placement = compilation.solve()
    assert placement.status == "optimal"
    return sorted((a.workload, a.node) for a in placement.assignments)


# ---- what a pod takes -----------------------------------------------------------------


def test_a_pod_takes_what_the_scheduler_counts(tmp_path):
    """`agent`: containers 1500m + 1 = 2500m CPU and 1Gi + 512Mi; its sidecar (an init
    container that keeps running, 500m and 256Mi) adds to both; its init container (3 CPU) runs
    beside the sidecar started before it; `overhead` 100m: CPU max(2500 + 500, 500 + 3000) +
    100 = 3600m, memory 1Gi + 512Mi + 256Mi. Succeeded and Failed pods take nothing."""
    policy = _policy(tmp_path, _pod(
        "agent", "a", {"cpu": "1500m", "memory": "1Gi"}, {"cpu": "1", "memory": "512Mi"},
        initContainers=[{"name": "side", "restartPolicy": "Always",
                         "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}}},
                        {"name": "init", "resources": {"requests": {"cpu": "3"}}}],
        overhead={"cpu": "100m"}),
        _pod("done", "b", {"cpu": "7"}, phase="Succeeded"), _pod("failed", "b", {"cpu": "7"}, phase="Failed"),
        _pod("gpu-burn", "b", {"nvidia.com/gpu": "1", "ephemeral-storage": "1Gi"}))
    # (`b` has no GPU: its pod overfills it, W0805; it states no disk: no overfill of that)
    compilation = Compilation(policy, current=str(tmp_path / "pods.json"))
    state = compilation.current_state()
    assert [(f.node, f.name, f.cpu_milli, f.memory, f.gpu, f.disk) for f in state.foreign] == [
        ("a", "monitoring/agent", 3600, GIB + 768 * 2 ** 20, 0, 0),
        ("b", "monitoring/gpu-burn", 0, 0, 1, GIB)]
    assert [d.code for d in compilation.current_diagnostics()] == ["W0801", "W0805"]


def test_a_pod_takes_the_tpus_and_neuron_devices_it_requests(tmp_path):
    """TPU chips and Neuron devices are requested as extended resources like GPUs: a pod
    holding 4 of a TPU node's chips leaves 4 (they were taken as free)."""
    policy = _policy(tmp_path, _pod("jax", "a", {"google.com/tpu": "4"}),
                     _pod("neuron", "b", {"aws.amazon.com/neuron": "1"}))
    state = Compilation(policy, current=str(tmp_path / "pods.json")).current_state()
    assert [(f.node, f.gpu) for f in state.foreign] == [("a", 4), ("b", 1)]


# ---- solve, plan, verify ---------------------------------------------------------------


def test_a_replica_that_fits_the_node_but_not_beside_the_foreign_pod_goes_elsewhere(tmp_path):
    """`a` has 8 CPU; `agent` takes 3: `web` (6 CPU) fits `a` alone, not beside it, so it runs
    on the dearer `b`: solve (with the state), plan and compile --current alike."""
    policy = _policy(tmp_path, _pod("agent", "a", {"cpu": "3", "memory": "1Gi"}))
    assert _placed(Compilation(policy)) == [("web", "a")]  # without the state: the cheap node
    assert _placed(Compilation(policy, current=str(tmp_path / "pods.json"))) == [("web", "b")]


def test_a_policys_current_block_takes_the_room_for_solve_too(tmp_path, capsys):
    policy = _policy(tmp_path, _pod("agent", "a", {"cpu": "3", "memory": "1Gi"}),
                     policy=POLICY + 'current {\n  file = "pods.json"\n}\n')
    assert main(["solve", str(policy), "--format", "json"]) == 0
    placed = json.loads(capsys.readouterr().out)["assignments"]
    assert [(a["workload"], a["node"]) for a in placed] == [("web", "b")]


def test_plan_starts_the_replica_beside_no_foreign_pod(tmp_path, capsys):
    policy = _policy(tmp_path, _pod("agent", "a", {"cpu": "3", "memory": "1Gi"}))
    assert main(["plan", str(policy), "--current", str(tmp_path / "pods.json"), "--format", "json"]) == 2
    plan = json.loads(capsys.readouterr().out)
    assert [(m["kind"], m["workload"], m["target"]) for wave in plan["waves"] for m in wave["moves"]] == [
        ("start", "web", "b")]


def test_verify_refuses_a_placement_that_overfills_a_node_beside_foreign_pods(tmp_path, capsys):
    policy = _policy(tmp_path, _pod("agent", "a", {"cpu": "3", "memory": "1Gi"}))
    on_a = tmp_path / "on_a.json"
    on_a.write_text(json.dumps({"assignments": [{"workload": "web", "replica": 0, "node": "a"}]}))
    assert main(["verify", str(policy), str(on_a)]) == 0  # alone on `a` it fits
    capsys.readouterr()
    assert main(["verify", str(policy), str(on_a), "--current", str(tmp_path / "pods.json"),
                 "--format", "json"]) == 1
    codes = {d["code"] for d in json.loads(capsys.readouterr().out)}
    assert codes == {"E0503"}
    # the reference (no fitlang) sums the requests per node and finds `a` overfilled too
    assert overfilled_nodes(tmp_path / "pods.json", [tmp_path / "cheap.json", tmp_path / "dear.json"],
                            {"web": {"cpu": 6000, "memory": 4 * GIB}}, on_a) == ["a"]


def test_foreign_pods_on_a_declared_pools_node_take_its_room(tmp_path):
    """Pool `std` of 2 nodes of 8 CPU (`std-0`, `std-1`): a 5-CPU pod on `std-0` leaves it 3,
    so of `web`'s three 4-CPU replicas two fit (both on `std-1`) and one is left out."""
    policy = tmp_path / "policy.fit"
    policy.write_text("pool std {\n  count = 2\n  cpu = 8\n  memory = 32GiB\n  price = 1 USD/h\n}\n"
                      "workload web {\n  replicas = 3\n  cpu = 4\n  memory = 1GiB\n}\n")
    (tmp_path / "pods.json").write_text(_listing(_pod("agent", "std-0", {"cpu": "5"})))
    assert Compilation(policy).solve().status == "optimal"  # 3 x 4 CPU in 16: they fit
    placement = Compilation(policy, current=str(tmp_path / "pods.json")).solve()
    assert [a.node for a in placement.assignments] == ["std-1", "std-1"]
    assert len(placement.unplaced) == 1


def test_a_node_with_less_room_is_not_interchangeable_with_its_pools_others(tmp_path):
    """`std-0` keeps 3 of 8 CPU beside a 5-CPU pod: one 4-CPU replica runs on `std-1` alone,
    1 USD/h, proven (the per-node model ordered the pool's nodes as if alike, `std-0` in use
    before `std-1`: so both, or no answer proven)."""
    policy = tmp_path / "policy.fit"
    policy.write_text("pool std {\n  count = 2\n  cpu = 8\n  memory = 32GiB\n  price = 1 USD/h\n}\n"
                      "workload web {\n  replicas = 1\n  cpu = 4\n  memory = 1GiB\n}\n")
    (tmp_path / "pods.json").write_text(_listing(_pod("agent", "std-0", {"cpu": "5"})))
    placement = Compilation(policy, current=str(tmp_path / "pods.json")).solve()
    assert placement.status == "optimal" and placement.value == 1
    assert [a.node for a in placement.assignments] == ["std-1"]


def test_foreign_pods_take_the_pods_their_node_admits_whatever_they_request(tmp_path):
    """`a` admits 3 pods (`allocatable.pods`) and runs a DaemonSet's pod that requests
    nothing: the kubelet counts it, so `a` takes 2 of `web`'s three 1-CPU replicas: with `b`
    for the third (1 + 2 USD/h) that is dearer than all three on `b` (2): without the state,
    all 3 on `a` (1)."""
    cheap = [_node("a")]
    cheap[0]["status"]["allocatable"]["pods"] = "3"
    small = POLICY.replace("replicas = 1\n  cpu = 6", "replicas = 3\n  cpu = 1")
    policy = _policy(tmp_path, _pod("node-exporter", "a", {}), policy=small, cheap=cheap)
    assert _placed(Compilation(policy)) == [("web", "a")] * 3
    assert _placed(Compilation(policy, current=str(tmp_path / "pods.json"))) == [("web", "b")] * 3


def test_foreign_pods_on_a_declared_pools_node_take_its_pods(tmp_path):
    """Pool `std` of 2 nodes admitting 2 pods each; two pods of no workload on `std-0` leave
    it none: `web`'s two replicas both run on `std-1`, and `verify` refuses one on `std-0`."""
    policy = tmp_path / "policy.fit"
    policy.write_text("pool std {\n  count = 2\n  cpu = 8\n  memory = 32GiB\n  price = 1 USD/h\n"
                      "  max_pods = 2\n}\nworkload web {\n  replicas = 2\n  cpu = 1\n  memory = 1GiB\n}\n")
    (tmp_path / "pods.json").write_text(_listing(_pod("agent", "std-0", {}), _pod("proxy", "std-0", {})))
    placement = Compilation(policy, current=str(tmp_path / "pods.json")).solve()
    assert placement.status == "optimal"
    assert [a.node for a in placement.assignments] == ["std-1", "std-1"]
    document = {"status": "feasible", "assignments": [{"workload": "web", "replica": 0, "node": "std-0"},
                                                      {"workload": "web", "replica": 1, "node": "std-1"}]}
    (tmp_path / "a.json").write_text(json.dumps(document))
    state = str(tmp_path / "pods.json")
    assert main(["verify", str(policy), str(tmp_path / "a.json"), "--current", state]) == 1


def test_a_node_its_foreign_pods_overfill_is_a_warning_and_takes_nothing(tmp_path):
    """`hog` asks 12 CPU of `a`'s 8 (the inventory read before the node shrank): W0805, no
    crash, and `web` runs on `b`."""
    policy = _policy(tmp_path, _pod("hog", "a", {"cpu": "12"}))
    compilation = Compilation(policy, current=str(tmp_path / "pods.json"))
    assert sorted(d.code for d in compilation.current_diagnostics()) == ["W0801", "W0805"]
    assert _placed(compilation) == [("web", "b")]


def test_gpus_a_foreign_pod_holds_are_taken(tmp_path):
    """`a` has 2 L4s; a pod of no workload holds one: `infer` (2 GPUs) no longer fits it, and
    no other node has GPUs."""
    web = POLICY[POLICY.index("workload web"):]
    policy = 'import "std/accelerators"\n' + POLICY.replace(web, (
        "workload infer {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n"
        "  gpu {\n    model = L4\n    count = 2\n  }\n}\n"))
    path = _policy(tmp_path, _pod("burn", "a", {"nvidia.com/gpu": "1"}), policy=policy,
                   cheap=[_node("a", gpus=2)])
    assert _placed(Compilation(path)) == [("infer", "a")]
    assert Compilation(path, current=str(tmp_path / "pods.json")).solve().status == "infeasible"


# ---- Slurm ----------------------------------------------------------------------------


SLURM_NODES = ("NodeName=n1 CPUTot=16 CPUEfctv=16 RealMemory=64000 State=IDLE ThreadsPerCore=1\n"
               "NodeName=n2 CPUTot=16 CPUEfctv=16 RealMemory=64000 State=IDLE ThreadsPerCore=1\n")


def _slurm_policy(tmp_path: Path, jobs: list[dict]) -> Path:
    (tmp_path / "nodes.txt").write_text(SLURM_NODES)
    (tmp_path / "squeue.json").write_text(json.dumps({"jobs": jobs}))
    policy = tmp_path / "policy.fit"
    policy.write_text('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n  price = 1 USD/h\n}\n'
                      "workload train {\n  replicas = 2\n  cpu = 10\n  memory = 10GiB\n}\n")
    return policy


def test_a_slurm_job_of_no_workload_takes_its_cpus_and_memory_per_node(tmp_path):
    """Job 7 (`other-team`) holds 8 CPUs and 32000 MiB on n1 and on n2 (as 22.05 prints it
    per node): 8 CPUs are left on each, and `train`'s 10-CPU replicas fit nowhere."""
    job = {"job_id": 7, "name": "other-team", "job_state": "RUNNING", "nodes": "n[1-2]",
           "cpus": 16, "memory_per_node": 32000, "gres_detail": [],
           "job_resources": {"allocated_nodes": [
               {"nodename": "n1", "cpus_used": 8, "memory_allocated": 32000},
               {"nodename": "n2", "cpus_used": 8, "memory_allocated": 32000}]}}
    policy = _slurm_policy(tmp_path, [job])
    assert Compilation(policy).solve().status == "optimal"
    compilation = Compilation(policy, current=str(tmp_path / "squeue.json"))
    assert [(f.node, f.cpu_milli, f.memory) for f in compilation.current_state().foreign] == [
        ("n1", 8000, 32000 * 2 ** 20), ("n2", 8000, 32000 * 2 ** 20)]
    assert compilation.solve().status == "infeasible"


def test_a_slurm_job_without_per_node_allocations_is_spread_evenly(tmp_path):
    """No `job_resources`: 13 CPUs over 2 nodes, 7 on the first, 6 on the second; 1000 MiB a
    CPU; `gpu:l4:2(IDX:0-1)` on the first node."""
    job = {"job_id": 8, "name": "x", "job_state": ["RUNNING"], "nodes": "n1,n2", "cpus": 13,
           "memory_per_cpu": {"set": True, "number": 1000}, "gres_detail": ["gpu:l4:2(IDX:0-1)", ""]}
    policy = _slurm_policy(tmp_path, [job])
    foreign = Compilation(policy, current=str(tmp_path / "squeue.json")).current_state().foreign
    assert [(f.node, f.cpu_milli, f.memory, f.gpu) for f in foreign] == [
        ("n1", 7000, 7000 * 2 ** 20, 2), ("n2", 6000, 6000 * 2 ** 20, 0)]


def test_what_scontrol_says_jobs_hold_is_taken_where_no_state_says_whose(tmp_path):
    """n1 and n2 are MIXED, 8 of their 16 CPUs held (`CPUAlloc=8`): with no state fitc placed
    `train`'s 10-CPU replicas there as on idle nodes, and the jobs it wrote would wait. Now
    what scontrol says is held is taken off (and said: W0522); where a state says what runs,
    its jobs take the room instead (an empty state: nothing, as before)."""
    policy = _slurm_policy(tmp_path, [])
    busy = SLURM_NODES.replace("State=IDLE", "State=MIXED CPUAlloc=8 AllocMem=4000")
    (tmp_path / "nodes.txt").write_text(busy)
    compilation = Compilation(policy)
    assert compilation.solve().status == "infeasible"
    assert [d.code for d in compilation.build().diagnostics] == ["W0522"]
    assert Compilation(policy, current=str(tmp_path / "squeue.json")).solve().status == "optimal"


# `scontrol -o show node` of Slurm 22.05 (captured on a local cluster) for a node of 8 GPUs
# with a job holding 4 of them and 8 CPUs: no `GresUsed` (printed only with `-d`), and an
# `AllocTRES` without GPUs (accounting that does not track them)
BUSY_GPU_NODE = (
    "NodeName=gpu001 Arch=x86_64 CoresPerSocket=16  CPUAlloc=8 CPUEfctv=64 CPUTot=64 CPULoad=7.02 "
    "AvailableFeatures=a100,ib ActiveFeatures=a100,ib Gres=gpu:a100:8 NodeAddr=127.0.0.1 "
    "NodeHostName=localhost Port=47281 Version=22.05.8 OS=Linux 6.18.44-fc-v1252 #1 SMP "
    "PREEMPT_DYNAMIC @0  RealMemory=515000 AllocMem=102400 FreeMem=21746 Sockets=2 Boards=1 "
    "State=MIXED ThreadsPerCore=2 TmpDisk=0 Weight=1 Owner=N/A MCS_label=N/A Partitions=gpu  "
    "CfgTRES=cpu=64,mem=515000M,billing=64 AllocTRES=cpu=8,mem=100G CapWatts=n/a\n")


@pytest.mark.parametrize(("held", "placed"), [
    ("", False),  # what jobs hold of the GPUs not stated: every GPU counted as held
    (" GresDrain=N/A GresUsed=gpu:a100:4(IDX:0-3)", True),  # `scontrol -d`: 4 held, 4 free
    (" GresDrain=N/A GresUsed=gpu:a100:5(IDX:0-4)", False),
])
def test_the_gpus_running_jobs_hold_are_taken_as_scontrol_states_them(tmp_path, held, placed):
    """`train` needs 4 GPUs; gpu001 has 8, of which a job holds 4. Without `GresUsed` fitc
    took the node as having 8 free, and `train` (with 8) was placed where Slurm left it
    waiting; now the GPUs a line does not account for are held, and the note says to read
    the nodes with `scontrol -d`."""
    (tmp_path / "nodes.txt").write_text(BUSY_GPU_NODE.replace(" Gres=gpu:a100:8", " Gres=gpu:a100:8" + held))
    policy = tmp_path / "policy.fit"
    policy.write_text('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
                      "workload train {\n  replicas = 1\n  cpu = 16\n  memory = 200GiB\n"
                      "  gpu {\n    count = 4\n  }\n}\n")
    compilation = Compilation(policy)
    assert compilation.solve().status == ("optimal" if placed else "infeasible")
    [note] = compilation.build().diagnostics
    assert ("scontrol -d -o show node" in note.message) == (held == "")


def test_the_gpus_allocated_trackable_resources_state_are_taken(tmp_path):
    """Where accounting tracks GPUs (`AccountingStorageTRES=gres/gpu`), `AllocTRES` states
    what jobs hold: 4 of 8, so 4 are free (the typed entry repeats the count)."""
    line = BUSY_GPU_NODE.replace("AllocTRES=cpu=8,mem=100G",
                                 "AllocTRES=cpu=8,mem=100G,gres/gpu=4,gres/gpu:a100=4")
    (tmp_path / "nodes.txt").write_text(line)
    policy = tmp_path / "policy.fit"
    policy.write_text('inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n'
                      "workload train {\n  replicas = 2\n  cpu = 16\n  memory = 100GiB\n"
                      "  gpu {\n    count = 2\n  }\n}\nworkload more {\n  replicas = 1\n"
                      "  cpu = 1\n  memory = 1GiB\n  gpu {\n    count = 1\n  }\n}\n")
    assert Compilation(policy).solve().status == "infeasible"
    (tmp_path / "nodes.txt").write_text(line.replace("gres/gpu=4,", "gres/gpu=3,"))
    assert Compilation(policy).solve().status == "optimal"


def test_squeue_text_says_their_room_is_not_known(tmp_path):
    policy = _slurm_policy(tmp_path, [])
    (tmp_path / "squeue.txt").write_text("7|other-team|RUNNING|n[1-2]\n")
    compilation = Compilation(policy, current=str(tmp_path / "squeue.txt"))
    [warning] = compilation.current_diagnostics()
    assert warning.code == "W0801" and compilation.current_state().foreign == ()
    assert compilation.solve().status == "optimal"


@pytest.mark.parametrize("quantity", ["lots", "1.5.5"])
def test_a_request_that_is_no_quantity_is_E0801(tmp_path, quantity):
    policy = _policy(tmp_path, _pod("agent", "a", {"cpu": quantity}))
    assert "E0801" in [d.code for d in Compilation(policy, current=str(tmp_path / "pods.json"))
                       .current_diagnostics()]


# ---- the Kubernetes target's read-back of a plan ------------------------------------------


def test_the_plan_read_back_counts_the_pods_of_no_workload(tmp_path):
    """A plan made as if `agent` did not run starts `web` on `a` (6 CPU beside agent's 3, of
    8): read back against the cluster where it runs, its pod stays Pending. The plan made
    from the real state reads back clean."""
    from fitlang.targets import TARGETS
    from fitlang.targets.base import CompileContext
    from fitlang.targets.waves import stages

    policy = _policy(tmp_path, _pod("agent", "a", {"cpu": "3", "memory": "1Gi"}))
    (tmp_path / "none.json").write_text(_listing())
    kubernetes = TARGETS["kubernetes"]()
    program, _, seeing, found = _read_back_blind(kubernetes, policy, tmp_path / "none.json",
                                                 tmp_path / "pods.json")
    assert any("node a:" in f and "Pending" in f for f in found), found
    context = CompileContext(program, seeing.problem, seeing.placement)
    files, _ = kubernetes.render_plan(context, stages(seeing))
    assert [d.message for d in kubernetes.plan_fidelity(context, stages(seeing), files)] == []


def _read_back_blind(target, policy: Path, blind_state: Path, seeing_state: Path):
    """(the program, the plan from `blind_state`, the plan from `seeing_state`, what the
    target's read-back finds in the blind plan's files against the seeing state's problem)."""
    from fitlang.plan import planned
    from fitlang.targets.base import CompileContext
    from fitlang.targets.waves import stages

    def plan_of(state: Path):
        compilation = Compilation(policy, current=str(state))
        result = planned(compilation, None)
        assert result.problem is not None and result.placement is not None and result.plan is not None
        return compilation, result

    _, blind = plan_of(blind_state)
    seeing_compilation, seeing = plan_of(seeing_state)
    program = seeing_compilation.check().program
    waves = stages(blind)
    files, _ = target.render_plan(CompileContext(program, blind.problem, blind.placement), waves)
    found = [d.message for d in target.plan_fidelity(
        CompileContext(program, seeing.problem, blind.placement), waves, files)]
    return program, blind, seeing, found


def test_the_slurm_plan_read_back_counts_the_jobs_of_no_workload(tmp_path):
    """`train` (one 6-CPU task, job 5) runs on n1 (2 USD/h); n2 costs 1 USD/h, where job 7
    of no workload holds 12 of its 16 CPUs. A plan made as if job 7 did not run requeues job 5
    onto n2: read back against the queue where job 7 runs, n2's jobs take 6 CPUs of the 4 left
    (the start tree's read-back counted no room at all, and found nothing). The plan made from
    the real state keeps job 5 on n1 (no move: nothing to read back)."""
    from fitlang.targets import TARGETS

    (tmp_path / "n1.txt").write_text(SLURM_NODES.splitlines()[0] + "\n")
    (tmp_path / "n2.txt").write_text(SLURM_NODES.splitlines()[1] + "\n")
    policy = tmp_path / "policy.fit"
    policy.write_text("".join(f'inventory {name} {{\n  format = slurm\n  file = "{name}.txt"\n'
                              f"  price = {price} USD/h\n}}\n" for name, price in (("n1", 2), ("n2", 1)))
                      + "workload train {\n  replicas = 1\n  cpu = 6\n  memory = 4GiB\n}\n")
    train = {"job_id": 5, "name": "train", "job_state": "RUNNING", "nodes": "n1", "cpus": 6,
             "memory_per_node": 4096, "gres_detail": []}
    other = {"job_id": 7, "name": "other-team", "job_state": "RUNNING", "nodes": "n2", "cpus": 12,
             "memory_per_node": 8000, "gres_detail": []}
    (tmp_path / "blind.json").write_text(json.dumps({"jobs": [train]}))
    (tmp_path / "seeing.json").write_text(json.dumps({"jobs": [train, other]}))
    _, blind, seeing, found = _read_back_blind(TARGETS["slurm"](), policy, tmp_path / "blind.json",
                                               tmp_path / "seeing.json")
    assert [(m.source, m.target) for w in blind.plan.waves for m in w.moves] == [("n1", "n2")]
    assert not seeing.plan.changes
    assert any("node n2:" in f and "cpu 6 CPU > 4 CPU" in f for f in found), found
    # the blind plan read back against its own state (no job 7): nothing found
    _, _, _, found = _read_back_blind(TARGETS["slurm"](), policy, tmp_path / "blind.json",
                                      tmp_path / "blind.json")
    assert found == []


def test_a_foreign_job_in_squeue_json_captured_from_a_real_slurm(tmp_path):
    """onprem-burst-squeue.json (Slurm 22.05) with job 5 (`finetune`, 2 tasks on dgx-a100-[01-02])
    renamed to another team's: per node, as `job_resources.allocated_nodes` and `gres_detail`
    print it, 96 CPUs, 921600 MiB and 8 GPUs (`gpu:a100_80gb:8(IDX:0-7)`)."""
    from conftest import ROOT

    document = json.loads((ROOT / "examples" / "state" / "onprem-burst-squeue.json").read_text())
    [job] = [job for job in document["jobs"] if job["job_id"] == 5]
    job["name"] = "other-team"
    (tmp_path / "squeue.json").write_text(json.dumps(document))
    compilation = Compilation(ROOT / "examples" / "onprem-burst.fit", current=str(tmp_path / "squeue.json"))
    assert [(f.node, f.name, f.cpu_milli, f.memory, f.gpu) for f in compilation.current_state().foreign] == [
        (node, "5 (other-team)", 96000, 921600 * 2 ** 20, 8) for node in ("dgx-a100-01", "dgx-a100-02")]
    # `finetune` (2 x 8 A100 80GB, a gang) has no node left: the DGX nodes' GPUs are held
    placement = compilation.solve()
    assert not [a for a in placement.assignments if a.node.startswith("dgx-a100")]
    assert {u.workload for u in placement.unplaced} == {"finetune"}
