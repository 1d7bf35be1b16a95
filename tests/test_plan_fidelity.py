"""The plan's own read-back of its wave files (`fitc plan --target T --out DIR`, E0602 / E0618):
`targets/kubernetes_plan_fidelity.py` (evictions, cordons, drains replayed),
`targets/slurm_plan_fidelity.py` (requeue, update, release, cancel, drain, wait replayed per
job) and `targets/terraform_plan_fidelity.py` (each stage's copies into the working directory
and its apply, read by compile's HCL reader).

Each damaged-file test changes what a real plan wrote in one way a writer could get wrong and
asserts the reader names it; each target's real plans read back with no finding. The real
Slurm cluster (tests/test_plan_targets.py) runs the scripts themselves and checks the rules of
`scontrol update` the Slurm reader relies on.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest
from test_plan_targets import HOSTILE_POOL, MIGRATION, MIGRATION_STATE, SHRINK, _kubectl_state, _squeue_text

from conftest import EXAMPLES

CONSOLIDATE_JOBS = [("11", "web", "std-0"), ("12", "web", "std-1"), ("13", "web", "std-2"),
                    ("14", "web", "std-3"), ("15", "api", "std-0"), ("16", "api", "std-3")]

# o0 bought earlier in two regions, w0 on the us-east-1 node and on p0: the plan moves it onto
# the idle us-west-2 node (free) and keeps both (differential_plan.py seed 2254): Kubernetes
# scales the us-west-2 class's Deployment and leaves the us-east-1 one as it runs
TWO_REGIONS = """
offer o0 {
  provider = aws
  instance_type = "m5.xlarge"
  regions = ["us-east-1", "us-west-2"]
  cpu = 4
  memory = 16GiB
  price = 0.00 USD/h
}

buy {
  offers = [o0]
  max_count = 4
}

pool p0 {
  count = 1
  cpu = 2
  memory = 32GiB
  price = 0.10 USD/h
}

workload w0 {
  replicas = 2
  cpu = 1
  memory = 1GiB
  max_disrupted = 1
}

policy {
  move_price = 0.01 USD/h
  min_saving = 0%
}
"""
TWO_REGIONS_STATE = {"assignments": [{"workload": "w0", "replica": 0, "node": "o0-us-east-1-3"},
                                     {"workload": "w0", "replica": 1, "node": "p0-0"}],
                     "nodes": [{"name": "o0-us-east-1-3", "provisioned": True},
                               {"name": "o0-us-west-2-3", "provisioned": True}]}

# two idle bought groups (o1 in two regions) released at once, w1 moved onto a free o0 node
# (differential_plan.py seed 2935): the read-back sorted the groups leaving by their capacity,
# which has no order (an internal error on every such plan)
TWO_GROUPS = """
offer o0 {
  provider = aws
  instance_type = "m5.xlarge"
  regions = ["us-east-1"]
  cpu = 4
  memory = 16GiB
  price = 0.00 USD/h
}

offer o1 {
  provider = aws
  instance_type = "m5.2xlarge"
  regions = ["us-east-1", "us-west-2"]
  cpu = 8
  memory = 32GiB
  price = 0.10 USD/h
}

buy {
  offers = [o0, o1]
  max_count = 1
}

pool p0 {
  count = 1
  cpu = 8
  memory = 16GiB
  price = 0.40 USD/h
}

workload w1 {
  replicas = 1
  cpu = 2
  memory = 1GiB
}

policy {
  move_price = 0.01 USD/h
  min_saving = 0%
}
"""
TWO_GROUPS_STATE = {"assignments": [{"workload": "w1", "replica": 0, "node": "p0-0"}],
                    "nodes": [{"name": "o1-us-east-1-0", "provisioned": True},
                              {"name": "o1-us-west-2-0", "provisioned": True}]}


def _write(tmp: Path, case: str) -> tuple[Path, Path]:
    """The policy and current state of each case."""
    if case == "consolidate":
        return EXAMPLES / "consolidate.fit", EXAMPLES / "consolidate-state.json"
    if case == "consolidate-jobs":
        (tmp / "squeue.txt").write_text(_squeue_text(CONSOLIDATE_JOBS))
        return EXAMPLES / "consolidate.fit", tmp / "squeue.txt"
    if case == "two-regions":
        (tmp / "p.fit").write_text(TWO_REGIONS)
        (tmp / "now.json").write_text(json.dumps(TWO_REGIONS_STATE))
        return tmp / "p.fit", tmp / "now.json"
    if case == "two-groups":
        (tmp / "g.fit").write_text(TWO_GROUPS)
        (tmp / "now.json").write_text(json.dumps(TWO_GROUPS_STATE))
        return tmp / "g.fit", tmp / "now.json"
    if case == "shrink":  # two bought nodes of one group, one replica on each: one released
        (tmp / "s.fit").write_text(SHRINK.format(provider="aws", instance_type="m5.2xlarge",
                                                 region="us-east-1"))
        nodes = ["new-us-east-1-0", "new-us-east-1-1"]
        (tmp / "now.json").write_text(json.dumps({
            "assignments": [{"workload": "web", "replica": r, "node": nodes[r]} for r in range(2)],
            "nodes": [{"name": node, "provisioned": True} for node in nodes]}))
        return tmp / "s.fit", tmp / "now.json"
    if case == "migration":
        (tmp / "m.fit").write_text(MIGRATION)
        (tmp / "now.json").write_text(json.dumps(MIGRATION_STATE))
        return tmp / "m.fit", tmp / "now.json"
    (tmp / "p.fit").write_text(HOSTILE_POOL)
    if case == "evicted":  # web on std-0 and by a named pod on a node the policy lacks
        (tmp / "pods.json").write_text(json.dumps(_kubectl_state(
            [("default", "web-std-0-a-b", "std-0"), ("ns1", "old-web", "gone-0")])))
        return tmp / "p.fit", tmp / "pods.json"
    assert case == "cancelled"  # 3 one-task web jobs, the policy asks 2
    (tmp / "squeue.txt").write_text(_squeue_text([("21", "web", "std-0"), ("22", "web", "std-1"),
                                                  ("23", "web", "std-2")]))
    return tmp / "p.fit", tmp / "squeue.txt"


@pytest.fixture(scope="module")
def plans(tmp_path_factory):
    """case -> (context, stages) of its plan, made once."""
    from fitlang.driver import Compilation
    from fitlang.plan import planned as plan_of
    from fitlang.targets.base import CompileContext
    from fitlang.targets.waves import stages

    made = {}

    def plan(case: str):
        if case not in made:
            policy, state = _write(tmp_path_factory.mktemp(case), case)
            compilation = Compilation(policy, current=str(state))
            result = plan_of(compilation, None)
            assert result.problem is not None and result.placement is not None
            context = CompileContext(compilation.check().program, result.problem, result.placement)
            made[case] = (context, stages(result))
        return made[case]
    return plan


def written(plans, case: str, target: str) -> dict[str, str]:
    from fitlang.targets import TARGETS

    context, waves = plans(case)
    files, _ = TARGETS[target]().render_plan(context, waves)
    return files


def findings(plans, case: str, target: str, files: dict[str, str]) -> list[str]:
    from fitlang.targets import TARGETS

    context, waves = plans(case)
    return [d.message for d in TARGETS[target]().plan_fidelity(context, waves, files)]


def damaged(files: dict[str, str], path: str, old: str, new: str) -> dict[str, str]:
    assert old in files[path], files[path]
    return {**files, path: files[path].replace(old, new, 1)}


def line_of(text: str, start: str) -> str:
    return next(line for line in text.splitlines() if line.startswith(start))


@pytest.mark.parametrize("case, target", [
    ("consolidate", "kubernetes"), ("evicted", "kubernetes"), ("migration", "kubernetes"),
    ("consolidate-jobs", "slurm"), ("cancelled", "slurm"), ("migration", "slurm"),
    ("migration", "terraform"), ("two-regions", "kubernetes"), ("shrink", "terraform"),
    ("two-groups", "terraform")])
def test_real_plans_read_back_with_no_finding(plans, case, target):
    files = written(plans, case, target)
    assert files and findings(plans, case, target, files) == []


# ---- Kubernetes: evictions, cordons, drains -----------------------------------------------

def test_a_bought_class_is_told_apart_by_its_nodes_labels(plans):
    # the plan grows w0 on the us-west-2 nodes of o0; a Deployment selecting us-east-1 instead
    # runs it on the other class, and one selecting a region no bought node has leaves it Pending
    files = written(plans, "two-regions", "kubernetes")
    deployment = "wave-01/step-1/w0.yaml"
    assert "- us-west-2" in files[deployment]
    found = findings(plans, "two-regions", "kubernetes",
                     damaged(files, deployment, "- us-west-2", "- us-east-1"))
    assert any(re.search(r"wave-01: after its steps the cluster runs 0 of w0 on bought nodes .*"
                         r"region=us-west-2 \(the plan: 1\)", f) for f in found), found
    found = findings(plans, "two-regions", "kubernetes",
                     damaged(files, deployment, "- us-west-2", "- eu-west-1"))
    assert any("may run on the bought nodes of 0 label sets" in f for f in found), found


def test_an_eviction_the_script_never_posts_is_found(plans):
    files = written(plans, "evicted", "kubernetes")
    evict = line_of(files["wave-01/run.sh"], "kubectl create --raw")
    found = findings(plans, "evicted", "kubernetes", damaged(files, "wave-01/run.sh", evict, "true"))
    assert any("1 of web on a node the policy lacks, pod ns1/old-web (the plan: 0)" in f
               for f in found), found


def test_an_eviction_of_another_pod_is_found(plans):
    files = written(plans, "evicted", "kubernetes")
    body = damaged(files, "wave-01/evictions/001.json", '"old-web"', '"web-std-0-a-b"')
    assert any("not an Eviction of that pod" in f for f in findings(plans, "evicted", "kubernetes", body))
    script = files["wave-01/run.sh"].replace("/pods/old-web/", "/pods/old-api/")
    found = findings(plans, "evicted", "kubernetes", {**files, "wave-01/run.sh": script})
    assert any("evicts pod ns1/old-api, which does not run" in f for f in found), found


def test_an_eviction_before_the_successor_runs_is_refused(plans):
    """web states no `max_disrupted`: a wave that starts first may take none down."""
    files = written(plans, "evicted", "kubernetes")
    script = files["wave-01/run.sh"]
    evict = line_of(script, "kubectl create --raw")
    early = script.replace(evict + "\n", "").replace("kubectl apply -k step-1",
                                                     evict + "\nkubectl apply -k step-1")
    found = findings(plans, "evicted", "kubernetes", {**files, "wave-01/run.sh": early})
    assert any("the Eviction of pod ns1/old-web is refused: web would run 1 pods, below 2" in f
               for f in found), found


def test_a_deployment_grown_on_a_cordoned_node_never_rolls_out(plans):
    files = written(plans, "consolidate", "kubernetes")
    script = files["wave-01/run.sh"]
    grown = re.search(r"deployment/(web-(std-\d))", script)
    assert grown
    cordoned = script.replace("kubectl cordon", f"kubectl cordon {grown.group(2)}\nkubectl cordon", 1)
    found = findings(plans, "consolidate", "kubernetes", {**files, "wave-01/run.sh": cordoned})
    assert any(f"rollout of `{grown.group(1)}` forever: 1 of its pods stay Pending on cordoned node "
               f"{grown.group(2)}" in f for f in found), found


def test_a_drain_before_the_wave_stops_its_pods_is_found(plans):
    files = written(plans, "consolidate", "kubernetes")
    script = files["wave-01/run.sh"]
    drain = line_of(script, "kubectl drain")
    early = script.replace("\n" + drain, "").replace("kubectl apply -k step-1",
                                                      drain + "\nkubectl apply -k step-1")
    found = findings(plans, "consolidate", "kubernetes", {**files, "wave-01/run.sh": early})
    assert any("`kubectl drain std-1` in wave-01 evicts 1 pod(s) of web that the plan keeps there" in f
               for f in found), found
    bare = damaged(files, "wave-01/run.sh", " --ignore-daemonsets", "")
    assert any("without --ignore-daemonsets" in f for f in findings(plans, "consolidate", "kubernetes", bare))


def test_a_node_an_earlier_wave_drained_takes_no_pod_until_uncordoned():
    from fitlang.driver import Compilation
    from fitlang.plan import make_plan
    from fitlang.solve.moving import Move, Wave
    from fitlang.targets import TARGETS
    from fitlang.targets.base import CompileContext
    from fitlang.targets.waves import stages

    compilation = Compilation(EXAMPLES / "consolidate.fit",
                              current=str(EXAMPLES / "consolidate-state.json"))
    result = make_plan(compilation, compilation.current_state())
    # waves made by hand: wave 1 empties std-1, wave 2 moves a replica back onto it
    result.plan.waves = [Wave([Move("web", "web", "std-1", "std-3")], drained=["std-1"]),
                         Wave([Move("web", "web", "std-2", "std-1")], drained=["std-2"])]
    context = CompileContext(compilation.check().program, result.problem, result.placement)
    waves = stages(result)
    kubernetes = TARGETS["kubernetes"]()
    files, _ = kubernetes.render_plan(context, waves)
    assert [d.message for d in kubernetes.plan_fidelity(context, waves, files)] == []
    kept = damaged(files, "wave-02/run.sh", "kubectl uncordon std-1\n", "")
    found = [d.message for d in kubernetes.plan_fidelity(context, waves, kept)]
    assert any("rollout of `web-std-1` forever" in f for f in found), found
    assert any("0 of web on std-1 (the plan: 1)" in f for f in found), found


# ---- Slurm: the jobs of each wave ---------------------------------------------------------

def test_a_job_updated_while_it_runs_is_found(plans):
    files = written(plans, "consolidate-jobs", "slurm")
    script = damaged(files, "wave-01/run.sh", "scontrol requeuehold 12\n", "")
    found = findings(plans, "consolidate-jobs", "slurm", script)
    assert any("job 12 runs: Slurm changes the nodes of a pending job only" in f for f in found), found


def test_a_job_sent_elsewhere_or_onto_a_drained_node_is_found(plans):
    files = written(plans, "consolidate-jobs", "slurm")
    target = re.search(r"JobId=12 ReqNodeList=(std-\d)", files["wave-01/run.sh"])
    assert target
    script = damaged(files, "wave-01/run.sh", f"ReqNodeList={target.group(1)}", "ReqNodeList=std-1")
    found = findings(plans, "consolidate-jobs", "slurm", script)
    assert any("`wait_running 12` waits forever: job 12 is bound to drained node std-1" in f
               for f in found), found
    assert any(f"job 12 runs 1 task(s) on std-1; the plan runs 1 on {target.group(1)}" in f
               for f in found), found
    wide = damaged(files, "wave-01/run.sh", "NumNodes=1", "NumNodes=2")
    found = findings(plans, "consolidate-jobs", "slurm", wide)
    assert any("NumNodes=2 for the 1 node(s) of ReqNodeList (Slurm adds nodes of its choice)" in f
               for f in found), found


def test_a_job_never_released_is_found(plans):
    files = written(plans, "consolidate-jobs", "slurm")
    script = damaged(files, "wave-02/run.sh", "scontrol release 13\n", "")
    found = findings(plans, "consolidate-jobs", "slurm", script)
    assert any("`wait_running 13` waits forever: job 13 is held" in f for f in found), found
    assert any("wave-02: job 13 is held at the wave's end" in f for f in found), found


def test_a_wave_script_missing_leaves_its_jobs_where_they_ran(plans):
    files = written(plans, "consolidate-jobs", "slurm")
    target = re.search(r"JobId=13 ReqNodeList=(std-\d)", files["wave-02/run.sh"])
    assert target
    found = findings(plans, "consolidate-jobs", "slurm",
                     {p: t for p, t in files.items() if p != "wave-02/run.sh"})
    assert found == [f"slurm: wave-02: job 13 runs 1 task(s) on std-2; the plan runs 1 on {target.group(1)}"]


def test_a_job_the_plan_stops_and_the_script_does_not_cancel_is_found(plans):
    files = written(plans, "cancelled", "slurm")
    cancel = line_of(files["wave-00/run.sh"], "scancel")
    found = findings(plans, "cancelled", "slurm", damaged(files, "wave-00/run.sh", cancel, "true"))
    job = cancel.split()[1]
    assert any(f"wave-00: job {job} still runs; the plan stops it" in f for f in found), found


def test_pods_of_a_kubectl_state_are_no_slurm_jobs(plans):
    """A kubectl state names pods (namespace/name), never jobs: nothing to requeue."""
    from fitlang.targets import TARGETS

    context, waves = plans("evicted")
    files, found = TARGETS["slurm"]().render_plan(context, waves)
    assert not [line for line in files["wave-01/run.sh"].splitlines()
                if line.startswith(("scontrol requeuehold", "scontrol update JobId", "scancel"))]
    assert "# not done here: move the replica of `web` on a node the policy lacks" in files["wave-01/run.sh"]
    assert [d.code for d in found] == ["W0820"]


# ---- Terraform: the capacity of each stage ------------------------------------------------

def test_capacity_never_applied_is_found(plans):
    files = written(plans, "migration", "terraform")
    script = damaged(files, "wave-00/run.sh", 'terraform -chdir="$dir" apply', "true")
    found = findings(plans, "migration", "terraform", script)
    assert any("wave-00: no `terraform apply` adds the nodes the plan buys by then (new-" in f
               for f in found), found


def test_a_stage_file_never_copied_is_found(plans):
    files = written(plans, "migration", "terraform")
    script = damaged(files, "wave-00/run.sh", 'cp terraform/aws.tf "$dir"/\n', "")
    found = findings(plans, "migration", "terraform", script)
    assert any("after wave-00's apply, the files buy 0 x aws m.new" in f for f in found), found


def test_a_release_that_keeps_the_old_capacity_is_found(plans):
    files = written(plans, "migration", "terraform")
    last = max(p.split("/")[0] for p in files)
    kept = {**files, f"{last}/terraform/aws.tf": files["wave-00/terraform/aws.tf"]}
    found = findings(plans, "migration", "terraform", kept)
    assert any(f"after {last}'s apply, the files buy 1 x aws m.old" in f and "priced 0" in f
               for f in found), found


def _released(files: dict[str, str]) -> tuple[str, str]:
    """The release stage's folder and its one `release_nodes` line."""
    [path] = [p for p in files if p.endswith("/release-nodes.sh")]
    return path.split("/")[0], line_of(files[path], "release_nodes ")


def test_a_group_left_to_shrink_by_count_is_found(plans):
    # without release-nodes.sh (or its line), the apply takes the group from 2 nodes to 1 and
    # the cloud chooses which goes
    files = written(plans, "shrink", "terraform")
    folder, line = _released(files)
    for path, old in ((f"{folder}/run.sh", "sh release-nodes.sh\n"), (f"{folder}/release-nodes.sh", line)):
        found = findings(plans, "shrink", "terraform", damaged(files, path, old, ""))
        assert any(f"{folder}'s apply shrinks the node group of aws m5.2xlarge in us-east-1" in f and
                   "never removed by name" in f for f in found), found


def test_a_release_of_the_wrong_node_group_or_size_is_found(plans):
    files = written(plans, "shrink", "terraform")
    folder, line = _released(files)
    path = f"{folder}/release-nodes.sh"
    words = shlex.split(line)
    kept = next(n for n in ("new-us-east-1-0", "new-us-east-1-1") if n != words[-1])
    cases = {"names group `fitc-other`": [*words[:3], "fitc-other", *words[4:]],
             "sizes the group 2 -> 0": [*words[:5], "0", *words[6:]],
             f"releases {kept}, which the plan keeps": [*words[:6], kept],
             f"releases {words[-1]} before it is found in its group": words}
    for said, changed in cases.items():
        script = files[path].replace(line, shlex.join(changed))
        if said.endswith("found in its group"):
            script = script.replace(line_of(script, "check_nodes "), "true")
        found = findings(plans, "shrink", "terraform", {**files, path: script})
        assert any(said in f for f in found), (said, found)


# ---- the command: a read-back that fails stops `fitc plan` ---------------------------------

def _drop_requeuehold(original):
    def requeued(*arguments):
        return [line for line in original(*arguments) if "requeuehold" not in line]
    return requeued


@pytest.mark.parametrize("case, target, code", [
    ("evicted", "kubernetes", "E0602"), ("consolidate-jobs", "slurm", "E0602"),
    ("migration", "terraform", "E0618")])
def test_plan_exits_1_when_the_files_it_wrote_do_not_read_back(tmp_path, monkeypatch, capsys,
                                                               case, target, code):
    """The writers damaged by hand: no eviction posted; no job held before its nodes change;
    the release keeps all that was bought."""
    from fitlang import cli
    from fitlang.targets import kubernetes_plan, slurm_plan, terraform_plan

    policy, state = _write(tmp_path, case)
    arguments = ["plan", str(policy), "--current", str(state), "--target", target,
                 "--out", str(tmp_path / "out")]
    assert cli.main(arguments) == 2 and code not in capsys.readouterr().err  # a plan, written
    monkeypatch.setattr(kubernetes_plan, "_evictions", lambda context, stage: [])
    monkeypatch.setattr(slurm_plan, "_requeued", _drop_requeuehold(slurm_plan._requeued))
    monkeypatch.setattr(terraform_plan, "_end_capacity", lambda target, context, planned, during: during)
    assert cli.main(arguments) == 1
    assert f"error[{code}]: {target}: " in capsys.readouterr().err

