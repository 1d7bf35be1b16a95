"""`fitc compile FILE --current STATE`: the files of the state the plan reaches
(`Target.render_reached`; fitlang/targets/kubernetes_plan.py, slurm_plan.py, terraform_plan.py).

Each target's files are read back as the system reads them (YAML parsed, `#SBATCH` lines split
with shlex, HCL through python-hcl2) and the placement they make compared with the plan's end
state worked out here from the plan's JSON alone (what runs now, every wave's moves applied by
hand: `reference_states` of test_plan_targets). Where the plan's own files say the same thing
(the per-node Deployments, Terraform's last stage), the files must be equal.
"""

from __future__ import annotations

import json
import shlex
from collections import Counter
from pathlib import Path

import yaml
from test_plan_targets import (
    HOSTILE_POOL,
    MIGRATION,
    MIGRATION_STATE,
    OLD_NODE,
    _kubectl_node,
    _kubectl_state,
    _squeue_text,
    applied,
    codes,
    consolidate_running,
    deployments_state,
    fitc,
    planned,
    reference_states,
    valid_objects,
)

from conftest import EXAMPLES


def reached(tmp_path: Path, policy: Path, state: Path, *targets: str, out: str = "reached"):
    """What `compile --current` wrote (relative path -> text) and its stderr."""
    arguments = [a for t in targets for a in ("--target", t)]
    run = fitc("compile", str(policy), "--current", str(state), *arguments, "--out", out,
               cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    files = {str(p.relative_to(tmp_path / out)): p.read_text()
             for p in sorted((tmp_path / out).rglob("*")) if p.is_file() and p.name != ".fitc-output"}
    return files, run.stderr


def rooted(files: dict[str, str], folder: str = "c") -> dict[str, str]:
    """The files under one folder name, as `deployments_state` and `applied` read a stage's."""
    return {f"{folder}/{path}": text for path, text in files.items()}


def state_of(running: list[tuple[str, str]]) -> dict[str, Counter]:
    state: dict[str, Counter] = {}
    for workload, node in running:
        state.setdefault(node, Counter())[workload] += 1
    return state


def deployments(files: dict[str, str]) -> dict[str, dict]:
    """Deployment name -> the object, over every YAML file given."""
    return {document["metadata"]["name"]: document for path, text in files.items()
            if path.endswith(".yaml") for document in yaml.safe_load_all(text)
            if document and document["kind"] == "Deployment"}


def last_written(files: dict[str, str]) -> dict[str, dict]:
    """Each Deployment as the plan's stages leave it: applied stage by stage, step by step, the
    last object of each name is what runs once the plan is done."""
    steps = sorted({path.rsplit("/", 1)[0] for path in files if "/step-" in path})
    found: dict[str, dict] = {}
    for step in steps:
        found.update(deployments({p: t for p, t in files.items() if p.startswith(step + "/")}))
    return found


# ---- Kubernetes -------------------------------------------------------------------------------

def test_the_consolidations_end_state_is_pinned_node_by_node(tmp_path):
    document, plan_files, _ = planned(tmp_path, EXAMPLES / "consolidate.fit",
                                      EXAMPLES / "consolidate-state.json", "kubernetes")
    files, stderr = reached(tmp_path, EXAMPLES / "consolidate.fit",
                            EXAMPLES / "consolidate-state.json", "kubernetes")
    end = reference_states(document, consolidate_running())[-1]
    assert deployments_state(rooted(files), "c") == end
    # applied over what runs now (pods of the plan's per-node Deployments), the same end
    assert applied(state_of(consolidate_running()), rooted(files), "c") == end
    # the same objects as the plan's: every Deployment the plan writes, as its last stage
    # leaves it; the others (never changed by the plan) at what runs now
    mine, plans = deployments(files), last_written(plan_files)
    assert set(plans) < set(mine)
    assert all(mine[name] == plans[name] for name in plans)
    now = state_of(consolidate_running())
    for name in set(mine) - set(plans):
        node = mine[name]["metadata"]["labels"]["fitlang.dev/node"]
        workload = mine[name]["spec"]["template"]["metadata"]["annotations"]["fitlang.dev/workload"]
        assert mine[name]["spec"]["replicas"] == now[node][workload]
    # a Deployment per (workload, node) that runs a replica now or at the end: web on the 4
    # nodes (std-1 and std-2 emptied, at 0), api on std-0 and std-3
    assert len(mine) == 6 and sum(d["spec"]["replicas"] for d in mine.values()) == 6
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["resources"] == ["api.yaml", "web.yaml"]
    assert valid_objects(files) == 6
    assert codes(stderr) == ["W0821"]  # a declared pool, pinned by the names fitc gives


def test_bought_capacity_is_selected_per_class_as_the_plan_selects_it(tmp_path):
    # gpu-migration: the end state runs infer on 10 bought l40s nodes; the a100 nodes' per-node
    # Deployments are at 0; Terraform's capacity is the plan's last stage's
    policy, state = EXAMPLES / "gpu-migration.fit", EXAMPLES / "gpu-migration-state.json"
    document, plan_files, _ = planned(tmp_path, policy, state, "kubernetes", "terraform")
    files, stderr = reached(tmp_path, policy, state, "kubernetes", "terraform")
    running = [(a["workload"], a["node"]) for a in json.loads(state.read_text())["assignments"]]
    end = reference_states(document, running)[-1]
    assert set(end) == set(document["buy"]) and len(end) == 10  # hand-worked: 10 l40s nodes
    kube = {p.removeprefix("kubernetes/"): t for p, t in files.items() if p.startswith("kubernetes/")}
    assert deployments_state(rooted(kube), "c") == {"g6e.xlarge": Counter(infer=10)}
    assert deployments_state(rooted(kube), "c", keep_zero=True).keys() == \
        {"g6e.xlarge"} | {f"a100-{i}" for i in range(10)}
    plans = last_written({p.removeprefix("kubernetes/"): t for p, t in plan_files.items()
                          if p.startswith("kubernetes/")})
    assert deployments(kube) == plans  # every one of them changes in the plan
    terraform = {p.removeprefix("terraform/"): t for p, t in files.items() if p.startswith("terraform/")}
    assert terraform == {p.removeprefix("terraform/wave-00/terraform/"): t
                         for p, t in plan_files.items() if p.startswith("terraform/wave-00/terraform/")}
    assert "W0821" in codes(stderr) and "W0824" not in codes(stderr)


def test_pods_of_another_controller_and_on_missing_nodes_are_said_not_handed_over(tmp_path):
    # web runs by compile's per-pool Deployment on std-0 and on a node the policy lacks, the
    # pod names hostile: the files pin web to std-0, and W0824 says what keeps running
    hostile = "pod'$(touch pwned)\"`x`${y}"
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "pods.json").write_text(json.dumps(_kubectl_state(
        [("default", "web-std-5d8c7b9f4-abcde", "std-0"), ("ns;rm", hostile, "gone 'node'")])))
    document, _, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "pods.json", "kubernetes")
    files, stderr = reached(tmp_path, tmp_path / "p.fit", tmp_path / "pods.json", "kubernetes")
    # (the plan's JSON moves the pod off the missing node with no source: the reference starts
    # from the policy's nodes)
    end = reference_states(document, [("web", "std-0")])[-1]
    assert deployments_state(rooted(files), "c") == end == {"std-0": Counter(web=2)}
    assert stderr.count("warning[W0824]: kubernetes:") == 2
    assert f"the first: ns;rm/{hostile}" in stderr
    assert not (tmp_path / "pwned").exists()


def test_hostile_node_names_are_refused_where_they_run_and_said_where_they_are_emptied(tmp_path):
    # `old` (0.50 USD/h) and `rack` (0.40 USD/h) have one node each; web runs on both, one
    # node holds both: the end state empties old's node, whose name is hostile
    hostile = 'n1";`touch pwned`'
    (tmp_path / "old.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                   "items": [_kubectl_node(hostile)]}))
    (tmp_path / "rack.json").write_text(json.dumps({"apiVersion": "v1", "kind": "List",
                                                    "items": [_kubectl_node("n0")]}))
    workload = HOSTILE_POOL.split("\n\n", 1)[1]
    inventories = "".join(f'inventory {name} {{\n  format = kubectl\n  file = "{name}.json"\n'
                          f"  price = {price} USD/h\n}}\n\n" for name, price in
                          (("old", "0.50"), ("rack", "0.40")))
    (tmp_path / "p.fit").write_text(inventories + workload)
    (tmp_path / "now.json").write_text(json.dumps({"assignments": [
        {"workload": "web", "replica": r, "node": n} for r, n in enumerate(["n0", hostile])]}))
    document, _, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    files, stderr = reached(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    end = reference_states(document, [("web", "n0"), ("web", hostile)])[-1]
    assert deployments_state(rooted(files), "c") == end == {"n0": Counter(web=2)}
    # the emptied node's Deployment, at 0, names it as one YAML value
    assert deployments_state(rooted(files), "c", keep_zero=True)[hostile] == Counter(web=0)
    assert codes(stderr) == ["W0823"]  # its name is no label value: the API server refuses it
    # where the end state runs work on such a node, compile refuses it, as without --current
    (tmp_path / "p2.fit").write_text(inventories.replace("0.50", "0.30") + workload)
    refused = fitc("compile", "p2.fit", "--current", "now.json", "--target", "kubernetes",
                   "--out", "refused", cwd=tmp_path)
    assert refused.returncode == 1 and "error[E0603]" in refused.stderr
    assert not (tmp_path / "refused").exists() and not (tmp_path / "pwned").exists()


def test_jobs_are_written_per_pool_and_said_so(tmp_path):
    (tmp_path / "p.fit").write_text(HOSTILE_POOL.replace("workload web {", "workload web {\n  kind = job"))
    (tmp_path / "now.json").write_text(json.dumps({"assignments": [
        {"workload": "web", "replica": 0, "node": "std-0"}, {"workload": "web", "replica": 1,
                                                             "node": "std-1"}]}))
    document, _, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    files, stderr = reached(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    [job] = [d for d in yaml.safe_load_all(files["web.yaml"]) if d]
    assert job["kind"] == "Job" and job["spec"]["parallelism"] == 2  # the pool's count
    assert sum(sum(c.values()) for c in reference_states(document, [("web", "std-0"), ("web", "std-1")])[-1]
               .values()) == 2
    assert codes(stderr) == ["W0823"]


def test_a_kept_placement_is_written_as_it_runs(tmp_path):
    # two web replicas on std-0 are already the best: nothing moves, the files pin what runs
    (tmp_path / "p.fit").write_text(HOSTILE_POOL)
    (tmp_path / "now.json").write_text(json.dumps({"assignments": [
        {"workload": "web", "replica": r, "node": "std-0"} for r in range(2)]}))
    files, _ = reached(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    assert deployments_state(rooted(files), "c", keep_zero=True) == {"std-0": Counter(web=2)}


# ---- Slurm ------------------------------------------------------------------------------------

def sbatch_state(files: dict[str, str]) -> dict[str, Counter]:
    """node -> job name -> tasks, as Slurm reads the `#SBATCH` lines: per component (`hetjob`
    splits them) its node list and tasks per node."""
    state: dict[str, Counter] = {}
    for path, text in files.items():
        if not path.endswith(".sbatch"):
            continue
        components: list[dict[str, str]] = [{}]
        for line in text.splitlines():
            if not line.startswith("#SBATCH"):
                continue
            [word] = shlex.split(line.removeprefix("#SBATCH"))
            if word == "hetjob":
                components.append({})
                continue
            key, _, value = word.partition("=")
            components[-1][key] = value
        name = components[0]["--job-name"]
        for component in components:
            nodes = component["--nodelist"]
            assert "[" not in nodes  # small cases: plain lists
            for node in nodes.split(","):
                state.setdefault(node, Counter())[name] += int(component["--ntasks-per-node"])
    return state


def test_slurm_scripts_run_the_end_state_and_name_the_jobs_that_run_now(tmp_path):
    jobs = [("11", "web", "std-0"), ("12", "web", "std-1"), ("13", "web", "std-2"),
            ("14", "web", "std-3"), ("15", "api", "std-0"), ("16", "api", "std-3")]
    (tmp_path / "squeue.txt").write_text(_squeue_text(jobs))
    document, _, _ = planned(tmp_path, EXAMPLES / "consolidate.fit", tmp_path / "squeue.txt", "slurm")
    files, stderr = reached(tmp_path, EXAMPLES / "consolidate.fit", tmp_path / "squeue.txt", "slurm")
    end = reference_states(document, [(name, node) for _, name, node in jobs])[-1]
    assert sbatch_state(files) == end
    assert codes(stderr) == ["W0824"] and "6 job(s) of the policy run now (the first: 11)" in stderr
    # from fitc's placement JSON (no job ids): the same scripts, nothing named
    plain, stderr = reached(tmp_path, EXAMPLES / "consolidate.fit",
                            EXAMPLES / "consolidate-state.json", "slurm", out="plain")
    assert sbatch_state(plain) == reference_states(
        planned(tmp_path, EXAMPLES / "consolidate.fit", EXAMPLES / "consolidate-state.json",
                "slurm", out="p2")[0], consolidate_running())[-1]
    assert codes(stderr) == []


# ---- Terraform --------------------------------------------------------------------------------

def test_terraform_is_the_capacity_after_the_release(tmp_path):
    from test_target_terraform import loads_cleanly, resources

    (tmp_path / "m.fit").write_text(MIGRATION)
    (tmp_path / "now.json").write_text(json.dumps(MIGRATION_STATE))
    document, plan_files, _ = planned(tmp_path, tmp_path / "m.fit", tmp_path / "now.json", "terraform")
    files, _ = reached(tmp_path, tmp_path / "m.fit", tmp_path / "now.json", "terraform")
    last = f"wave-{len(document['waves']) + 1:02d}/terraform/"
    assert files == {p.removeprefix(last): t for p, t in plan_files.items() if p.startswith(last)}
    (tmp_path / "tf").mkdir()
    loads_cleanly(tmp_path / "tf", files)
    # from the plan's JSON: bought before (the old node), + buy, - release
    kept = ({OLD_NODE} | set(document["buy"])) - set(document["release"])
    sizes = {name: body["scaling_config"][0]["desired_size"] for name, body in resources(files).items()}
    assert list(sizes.values()) == [len(kept)] and "new" in next(iter(sizes))


# ---- every target ----------------------------------------------------------------------------

def test_compile_current_is_byte_identical_twice(tmp_path):
    for policy, state in (("consolidate.fit", "consolidate-state.json"),
                          ("gpu-migration.fit", "gpu-migration-state.json")):
        first, _ = reached(tmp_path, EXAMPLES / policy, EXAMPLES / state, "kubernetes", "slurm",
                           "terraform", out="a")
        second, _ = reached(tmp_path, EXAMPLES / policy, EXAMPLES / state, "kubernetes", "slurm",
                            "terraform", out="b")
        assert first == second and first
        (tmp_path / "a").rename(tmp_path / f"a-{policy}")
        (tmp_path / "b").rename(tmp_path / f"b-{policy}")



def test_every_targets_files_realise_the_end_placement_as_fidelity_reads_them():
    # each target's `fidelity` (what `fitc verify --target --out` runs: it reads the files as
    # the system does and shares no code with the writer) finds nothing, Deployments at 0 too
    from fitlang.driver import Compilation
    from fitlang.plan import target_placement
    from fitlang.targets import TARGETS, CompileContext

    for policy, state in (("consolidate.fit", "consolidate-state.json"),
                          ("gpu-migration.fit", "gpu-migration-state.json")):
        compilation = Compilation(EXAMPLES / policy, current=str(EXAMPLES / state))
        reached_state = target_placement(compilation, 60.0)
        assert reached_state.stages is not None
        context = CompileContext(compilation.check().program, compilation.problem,
                                 reached_state.placement)
        for name in ("kubernetes", "slurm", "terraform"):
            target = TARGETS[name]()
            files, _ = target.render_reached(context, reached_state.stages)
            assert target.fidelity(context, files) == [], (policy, name)


TWO_CLUSTERS = """\
pool east {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 0.40 USD/h
  cluster = "east"
}

pool west {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 0.90 USD/h
  cluster = "west"
}

workload web {
  image = "registry.example.com/web:1"
  replicas = 2
  cpu = 2
  memory = 4GiB
}
"""


def test_several_clusters_get_a_folder_each_with_the_emptied_nodes_at_zero(tmp_path):
    # web runs on west-0 and west-1 (0.90 USD/h each); an east node holds both (0.40 USD/h): the
    # end state runs web there; west's folder scales its two Deployments to 0
    (tmp_path / "p.fit").write_text(TWO_CLUSTERS)
    running = [("web", "west-0"), ("web", "west-1")]
    (tmp_path / "now.json").write_text(json.dumps({"assignments": [
        {"workload": w, "replica": r, "node": n} for r, (w, n) in enumerate(running)]}))
    document, _, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    files, _ = reached(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    assert {path.split("/")[0] for path in files} == {"east", "west"}
    east = {p: t for p, t in files.items() if p.startswith("east/")}
    west = {p: t for p, t in files.items() if p.startswith("west/")}
    end = reference_states(document, running)[-1]
    assert deployments_state(east, "east") == end
    [(node, counts)] = end.items()  # one east node holds both (either: they are alike)
    assert node.startswith("east-") and counts == Counter(web=2)
    assert deployments_state(west, "west", keep_zero=True) == {"west-0": Counter(web=0),
                                                                "west-1": Counter(web=0)}
    # each folder applicable alone: its kustomization lists its own files
    for folder, written in (("east", east), ("west", west)):
        listed = yaml.safe_load(written[f"{folder}/kustomization.yaml"])["resources"]
        assert {f"{folder}/{name}" for name in listed} == \
            {p for p in written if p.endswith(".yaml") and not p.endswith("kustomization.yaml")}


def test_compile_current_check_finds_its_own_output_up_to_date(tmp_path):
    policy, state = EXAMPLES / "consolidate.fit", EXAMPLES / "consolidate-state.json"
    reached(tmp_path, policy, state, "kubernetes")
    check = fitc("compile", str(policy), "--current", str(state), "--target", "kubernetes",
                 "--out", "reached", "--check", cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    # without --current the per-pool Deployments of a fresh solve are another output
    fresh = fitc("compile", str(policy), "--target", "kubernetes", "--out", "reached", "--check",
                 cwd=tmp_path)
    assert fresh.returncode == 1 and "web.yaml" in fresh.stdout


def test_replicas_beyond_the_policys_are_not_in_the_end_state(tmp_path):
    # 4 web run (2 on std-0, 2 on std-1), the policy asks 2: the plan stops 2 (wave-00); the end
    # state's Deployments hold 2, and `pin_nodes = true` (the names are the cluster's): no W0821
    (tmp_path / "p.fit").write_text(HOSTILE_POOL + "policy {\n  kubernetes {\n    pin_nodes = true\n  }\n}\n")
    running = [("web", "std-0"), ("web", "std-0"), ("web", "std-1"), ("web", "std-1")]
    (tmp_path / "now.json").write_text(json.dumps({"assignments": [
        {"workload": w, "replica": r, "node": n} for r, (w, n) in enumerate(running)]}))
    document, _, _ = planned(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    files, stderr = reached(tmp_path, tmp_path / "p.fit", tmp_path / "now.json", "kubernetes")
    end = reference_states(document, running)[-1]
    assert deployments_state(rooted(files), "c") == end
    assert sum(sum(counts.values()) for counts in end.values()) == 2
    assert codes(stderr) == []
