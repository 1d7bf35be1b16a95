"""The Kubernetes target: valid objects (kubernetes-validate, strict), the placement's
replica counts, escaping of hostile strings, determinism and atomic output."""

from __future__ import annotations

import re

import kubernetes_validate
import pytest
import yaml

from fitlang.targets.yaml_out import dump

from compiling import context_for, render
from conftest import FIXTURES

KUBERNETES_VERSION = "1.33.0"
CRDS = {("scheduling.x-k8s.io/v1alpha1", "PodGroup")}
QUANTITY = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")
FIXTURE = FIXTURES / "targets" / "gpu-cluster.fit"


def documents(files: dict[str, str]) -> list[dict]:
    return [d for name, text in sorted(files.items()) if name != "kustomization.yaml"
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
    assert sorted(files) == ["kustomization.yaml", "namespace.yaml", "priorityclasses.yaml",
                             "trainer.yaml", "web.yaml"]
    kustomization = yaml.safe_load(files["kustomization.yaml"])
    assert kustomization["resources"] == sorted(set(files) - {"kustomization.yaml"})
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
    line = [l for l in dump(document).splitlines() if "value:" in l][0]
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
    assert {e["name"]: e["value"] for e in container["env"]} == values
    assert container["command"] == [v.replace("$(", "$$(") for v in HOSTILE]


def test_invalid_namespace_and_labels_are_reported_not_emitted(tmp_path):
    from fitlang.targets import TARGETS

    path = tmp_path / "bad.fit"
    path.write_text('pool p {\n  count = 1\n  cpu = 4\n  memory = 16Gi\n  labels = { "bad key!": "x" }\n}\n'
                    'workload w {\n  replicas = 1\n  cpu = 1\n  memory = 1Gi\n}\n'
                    'policy {\n  kubernetes {\n    namespace = "Not Valid"\n  }\n}\n')
    problems = [need.message for need in TARGETS["kubernetes"]().problems(context_for(path))]
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
