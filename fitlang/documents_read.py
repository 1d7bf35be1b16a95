"""The JSON documents fitc reads, as pydantic TypedDicts: a placement given to `fitc verify`, the
manifest of `fitc compile --out` read back, `kubectl get nodes -o json` and `scontrol -o show
node` inventories, and the current state (`kubectl get pods,pdb -A -o json`, `squeue --json`).

Apart from `fitlang/documents.py` (what fitc writes, as models): a run that reads an inventory
loads only these, not the forty models of the written documents (0.03 s of start-up).
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Literal, NotRequired

from pydantic import ConfigDict, TypeAdapter, ValidationError, with_config
from typing_extensions import TypedDict  # pydantic asks for it below Python 3.12

from fitlang.file_problems import FileProblem, JsonPath


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    """Built when first used: building every validator when the module loads took 0.1 s, paid
    by each `fitc` run that reads one inventory."""
    return TypeAdapter(kind)



# ---- the placement `fitc verify` reads -----------------------------------------------------

# TypedDicts, not models (as the inventory records below): a placement of 200,000 replicas is
# checked in a fifth of a second this way, five times faster than with an object per replica.
# Strict: a replica number is an integer, not `"3"` or `true`. Fields not named are not read.
_STRICT = with_config(ConfigDict(strict=True))


@_STRICT
class AssignmentRead(TypedDict):
    workload: str
    replica: int
    node: str
    option: NotRequired[str | None]
    start: NotRequired[str]  # with a horizon (issue 19)
    end: NotRequired[str]


@_STRICT
class UnplacedRead(TypedDict):
    workload: str
    replica: int
    option: NotRequired[str | None]


@_STRICT
class NodeRead(TypedDict):
    name: str
    provisioned: NotRequired[bool]
    price: NotRequired[Any]  # checked against the policy by `verify`, with its own message


@with_config(ConfigDict(strict=True, title="fitc placement as fitc verify reads it"))
class PlacementRead(TypedDict):
    """What `fitc verify` needs of a placement: `assignments`, and the nodes bought and the
    replicas unplaced where there are any. The objective, if given, is checked against the
    policy (by `verify`, with its own messages), so only its shape is asked for here."""

    status: NotRequired[str]
    objective: NotRequired[dict[str, Any]]
    nodes: NotRequired[list[NodeRead]]
    assignments: list[AssignmentRead]
    unplaced: NotRequired[list[UnplacedRead]]


def placement_read() -> TypeAdapter[PlacementRead]:
    return _adapter(PlacementRead)


class ManifestRead(TypedDict):
    """A manifest as read back: entries that are not plain relative paths are dropped one by
    one by the reader, so only the list itself is asked for."""

    files: list[Any]


def manifest_read() -> TypeAdapter[ManifestRead]:
    return _adapter(ManifestRead)


# ---- `kubectl get nodes -o json` -----------------------------------------------------------
# TypedDicts, not models: pydantic validates them straight from the JSON text into plain dicts
# (no object per node), which for 50,000 nodes costs no more than `json.loads`. Fields not
# named here are dropped.

_TEXT = with_config(ConfigDict(coerce_numbers_to_str=True))  # hand-written files: `"rack": 4`


@_TEXT
class KubectlTaint(TypedDict):
    key: NotRequired[str]
    value: NotRequired[str]
    effect: NotRequired[str]


@_TEXT
class KubectlCondition(TypedDict):
    type: NotRequired[str]
    status: NotRequired[str]


@_TEXT
class KubectlMetadata(TypedDict):
    name: NotRequired[str]
    labels: NotRequired[dict[str, str] | None]


class KubectlSpec(TypedDict):
    unschedulable: NotRequired[bool | None]
    taints: NotRequired[list[KubectlTaint] | None]


Quantity = str | int | float  # a Kubernetes quantity: `63500m`, `527971044Ki`; hand-written: 4


class KubectlStatus(TypedDict):
    allocatable: NotRequired[dict[str, Quantity] | None]
    capacity: NotRequired[dict[str, Quantity] | None]
    conditions: NotRequired[list[KubectlCondition] | None]


class KubectlNode(TypedDict):
    kind: NotRequired[str]
    metadata: NotRequired[KubectlMetadata | None]
    spec: NotRequired[KubectlSpec | None]
    status: NotRequired[KubectlStatus | None]


class KubectlNodeList(TypedDict):
    kind: NotRequired[str]  # `List` as kubectl prints it
    items: list[KubectlNode]


def kubectl_node_list() -> TypeAdapter[KubectlNodeList]:
    return _adapter(KubectlNodeList)


def kubectl_node() -> TypeAdapter[KubectlNode]:
    return _adapter(KubectlNode)


# ---- `scontrol -o show node`: one `Key=Value ...` line per node ----------------------------

class SlurmNodeRecord(TypedDict):
    """The fields of one `scontrol -o show node` line that fitc reads, as text (the reader
    turns counts into numbers with its own messages); the others are dropped. A TypedDict, as
    the kubectl records: a file's records are validated in one call, not one object each."""

    NodeName: str
    State: NotRequired[str]
    CPUTot: NotRequired[str]
    CPUs: NotRequired[str]
    CPUEfctv: NotRequired[str]
    CoreSpecCount: NotRequired[str]
    RealMemory: NotRequired[str]
    MemSpecLimit: NotRequired[str]
    TmpDisk: NotRequired[str]
    Gres: NotRequired[str]
    AvailableFeatures: NotRequired[str]
    Arch: NotRequired[str]
    Partitions: NotRequired[str]
    ThreadsPerCore: NotRequired[str]
    CPUAlloc: NotRequired[str]
    AllocMem: NotRequired[str]
    GresUsed: NotRequired[str]
    AllocTRES: NotRequired[str]


def slurm_node_records() -> TypeAdapter[list[SlurmNodeRecord]]:
    return _adapter(list[SlurmNodeRecord])


# the documents read on every placement command whose policy names them (inventories) and by
# `fitc verify`: validated through their core schemas (fitlang/core_schemas.py, generated from
# these TypedDicts) without loading pydantic; what fails is named through `error_lines`
CORE_SCHEMA_OF: dict[str, Any] = {
    "placement-input": PlacementRead,  # `fitc verify`, `--current` placements
    "kubectl-node-list": KubectlNodeList,
    "slurm-node-records": list[SlurmNodeRecord],
}


# ---- errors as people read them -------------------------------------------------------------

def json_path(location: tuple[int | str, ...], root: str = "") -> str:
    """`('assignments', 3, 'replica')` as `assignments[3].replica`."""
    path = root
    for part in location:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


SHOWN_ERRORS = 10  # a file wrong in every record says so ten times, then counts the rest


def error_lines(error: ValidationError, root: str = "") -> list[str]:
    """One line per wrong value, `PATH: what is wrong (found VALUE)`, the first few of them."""
    return [problem.text for problem in error_problems(error, root)]


def error_problems(error: ValidationError, root: str = "", at: JsonPath = ()) -> list[FileProblem]:
    """`error_lines`, each with the wrong value's JSON path (`at`: the validated value's own,
    `root` its text), so that a diagnostic can point at it in the file."""
    problems = []
    for found in error.errors(include_url=False)[:SHOWN_ERRORS]:
        location = tuple(found["loc"])
        where = json_path(location, root) or "the document"
        problems.append(FileProblem(_what_is_wrong(where, found), at + location))
    if error.error_count() > SHOWN_ERRORS:
        problems.append(FileProblem(f"and {error.error_count() - SHOWN_ERRORS} more wrong values"))
    return problems


def _what_is_wrong(where: str, found: Any) -> str:
    if found["type"] == "missing":
        return f"{where}: missing"
    what = found["msg"][:1].lower() + found["msg"][1:]
    return f"{where}: {what} (found {_shown(found['input'])})"


def _shown(value: object) -> str:
    import json

    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- what runs now: `kubectl get pods,pdb -A -o json` (fitc plan's current state) -----------
# Only the fields the reader uses; a List mixes pods and PodDisruptionBudgets, so each kind is
# validated as a list of its own (in one call each: 20,000 pods are one validation).


@_TEXT
class KubectlOwner(TypedDict):
    kind: NotRequired[str]
    name: NotRequired[str]


@_TEXT
class KubectlObjectMeta(TypedDict):
    name: str
    namespace: NotRequired[str]
    labels: NotRequired[dict[str, str] | None]
    annotations: NotRequired[dict[str, str] | None]
    ownerReferences: NotRequired[list[KubectlOwner] | None]
    deletionTimestamp: NotRequired[str | None]


class KubectlResources(TypedDict):
    requests: NotRequired[dict[str, Quantity] | None]


class KubectlContainer(TypedDict):
    resources: NotRequired[KubectlResources | None]
    restartPolicy: NotRequired[str | None]  # `Always` on an init container: a sidecar


class KubectlPodSpec(TypedDict):
    nodeName: NotRequired[str | None]
    # a DaemonSet's pod: the nodes its DaemonSet runs on (`model/daemon_sets.py`)
    nodeSelector: NotRequired[dict[str, str] | None]
    # what a pod of no workload takes on its node, as the scheduler counts it
    containers: NotRequired[list[KubectlContainer] | None]
    initContainers: NotRequired[list[KubectlContainer] | None]
    overhead: NotRequired[dict[str, Quantity] | None]


class KubectlPodStatus(TypedDict):
    phase: NotRequired[str | None]
    # `Ready` True: the pod serves, and a PodDisruptionBudget counts it healthy
    conditions: NotRequired[list[KubectlCondition] | None]
    startTime: NotRequired[str | None]  # when the kubelet started it (RFC 3339)


class KubectlPod(TypedDict):
    kind: NotRequired[str]
    metadata: KubectlObjectMeta
    spec: NotRequired[KubectlPodSpec | None]
    status: NotRequired[KubectlPodStatus | None]


class KubectlRequirement(TypedDict):
    key: str
    operator: Literal["In", "NotIn", "Exists", "DoesNotExist"]
    values: NotRequired[list[str] | None]


@_TEXT
class KubectlSelector(TypedDict):
    matchLabels: NotRequired[dict[str, str] | None]
    matchExpressions: NotRequired[list[KubectlRequirement] | None]


class KubectlPdbSpec(TypedDict):
    # an IntOrString: `1` or `"20%"`, checked by the reader (a union here would report each
    # wrong value twice, once per member)
    maxUnavailable: NotRequired[Any]
    minAvailable: NotRequired[Any]
    selector: NotRequired[KubectlSelector | None]
    # whether the pods it selects that are not Ready may be evicted whatever the budget
    # (`AlwaysAllow`), or only while as many are healthy as must be (the default)
    unhealthyPodEvictionPolicy: NotRequired[Literal["IfHealthyBudget", "AlwaysAllow"] | None]


class KubectlPdbStatus(TypedDict):
    # what the disruption controller counted: the controller's scale a percentage is of, and
    # the pods that are healthy now (`kubectl get pdb -o json` of a live cluster has both)
    expectedPods: NotRequired[int | None]
    currentHealthy: NotRequired[int | None]


class KubectlPdb(TypedDict):
    kind: NotRequired[str]
    metadata: KubectlObjectMeta
    spec: NotRequired[KubectlPdbSpec | None]
    status: NotRequired[KubectlPdbStatus | None]


def kubectl_pods() -> TypeAdapter[list[KubectlPod]]:
    return _adapter(list[KubectlPod])


def kubectl_pdbs() -> TypeAdapter[list[KubectlPdb]]:
    return _adapter(list[KubectlPdb])


def kubectl_nodes() -> TypeAdapter[list[KubectlNode]]:
    return _adapter(list[KubectlNode])


def error_problems_relocated(error: ValidationError, element: JsonPath) -> list[FileProblem]:
    """`error_problems` of a one-element list validated apart from its document: `element` is
    that element's JSON path in the document (`('items', 12)`; `()`: the document itself)."""
    problems = []
    for found in error.errors(include_url=False)[:SHOWN_ERRORS]:
        place = tuple(found["loc"])
        where = _quoted_path(place[1:], json_path(element) or "the document") if place \
            else "the document"
        problems.append(FileProblem(_what_is_wrong(where, found), element + place[1:]))
    if error.error_count() > SHOWN_ERRORS:
        problems.append(FileProblem(f"and {error.error_count() - SHOWN_ERRORS} more wrong values"))
    return problems


# ---- what runs now on Slurm: `squeue --json` (Slurm 22.05 and later) ------------------------

SlurmCount = int | dict[str, Any]  # 22.05 writes 4; 23.02 and later {"set": true, "number": 4}


class SqueueJob(TypedDict):
    job_id: int
    name: str
    job_state: str | list[str]  # "RUNNING" (22.05), ["RUNNING"] (23.02 and later)
    nodes: NotRequired[str | None]  # a Slurm host list: `node[01-03,07]`
    node_count: NotRequired[SlurmCount | None]
    tasks: NotRequired[SlurmCount | None]
    het_job_id: NotRequired[SlurmCount | None]  # 0: not a heterogeneous job
    het_job_offset: NotRequired[SlurmCount | None]  # its component
    # what a job of no workload holds (read leniently: the layout changes between versions)
    cpus: NotRequired[Any]
    memory_per_node: NotRequired[Any]
    memory_per_cpu: NotRequired[Any]
    gres_detail: NotRequired[Any]
    job_resources: NotRequired[Any]
    # when it started, its time limit (minutes; none or infinite: UNLIMITED) and the latest it
    # ends (start + limit), in seconds since the epoch: a count, or 23.02's {"set", "infinite", "number"}
    start_time: NotRequired[Any]
    time_limit: NotRequired[Any]
    end_time: NotRequired[Any]


@with_config(ConfigDict(title="squeue --json as fitc reads it"))
class SqueueDocument(TypedDict):
    jobs: list[SqueueJob]


def squeue_document() -> TypeAdapter[SqueueDocument]:
    return _adapter(SqueueDocument)


_PLAIN_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _quoted_path(location: tuple[int | str, ...], root: str) -> str:
    """As `json_path`, with keys that are no plain names quoted: a label key is
    `labels["app.kubernetes.io/name"]`, not a path of four keys."""
    path = root
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        elif _PLAIN_KEY.match(part):
            path += f".{part}" if path else part
        else:
            path += f"[{json.dumps(part)}]"
    return path
