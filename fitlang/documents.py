"""The JSON documents that cross fitc's boundary, as pydantic models.

What fitc writes (the placement of `fitc solve --format json`, the explanation of `fitc explain
--format json`, the manifest of `fitc compile --out`) and what it reads (a placement given to
`fitc verify`, `kubectl get nodes -o json` files, `scontrol -o show node` records). The written
documents forbid fields they do not name, so a test that reads every example's output through
them fails when a writer adds a field the model lacks; their JSON Schemas are published in
docs/schemas/ by tools/gen_schemas.py.

The contracts are those of docs/formats.md. Readers are lenient where the files people give are:
a placement for `verify` needs only `assignments`; inventory records name only what is read.
"""

from __future__ import annotations

import functools
import json
import re
from typing import Any, Literal, NotRequired

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    TypeAdapter,
    ValidationError,
    model_serializer,
    with_config,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, SkipJsonSchema
from pydantic_core import core_schema
from typing_extensions import TypedDict  # pydantic asks for it below Python 3.12

# `X | SkipJsonSchema[None] = None`: a field the writer leaves out rather than writing `null`,
# so the published schema has it optional but never null.
Number = float  # JSON numbers fitc rounds to 6 decimals


@functools.cache
def _adapter(kind: Any) -> TypeAdapter[Any]:
    """Built when first used: building every validator when the module loads took 0.1 s, paid
    by each `fitc` run that reads one inventory."""
    return TypeAdapter(kind)


class _Written(BaseModel):
    """A document fitc writes: every field named, none unknown."""

    model_config = ConfigDict(extra="forbid", defer_build=True)


# ---- diagnostics (docs/formats.md, "Diagnostics": the `json` format) -------------------------

class RelatedRecord(_Written):
    """Another place a diagnostic is about (a rule of a conflict, the other of two blocks)."""

    path: str
    line: int
    column: int
    end_line: int
    end_column: int = Field(description="exclusive, 1-based")
    message: str


class FixRecord(_Written):
    """A literal edit that repairs what the diagnostic says: put `text` in place of the span
    (of the diagnostic's own file)."""

    title: str
    line: int
    column: int
    end_line: int
    end_column: int = Field(description="exclusive, 1-based")
    text: str


class DiagnosticRecord(_Written):
    path: str
    line: int
    column: int
    end_line: int
    end_column: int = Field(description="exclusive, 1-based")
    severity: Literal["error", "warning", "note"]
    code: str = Field(description="one of docs/errors.md")
    message: str
    related: list[RelatedRecord] | SkipJsonSchema[None] = Field(
        default=None, description="other places the diagnostic is about; left out when none")
    fixes: list[FixRecord] | SkipJsonSchema[None] = Field(
        default=None, description="literal edits that repair it; left out when none")

    @model_serializer(mode="wrap")
    def _left_out_when_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """`related` and `fixes` are left out, not null, where there are none, as
        `Diagnostic.as_record` writes them (the published schema has them never null)."""
        data = handler(self)
        for name in ("related", "fixes"):
            if data.get(name) is None:
                data.pop(name, None)
        return data


# ---- the placement `fitc solve --format json` writes ---------------------------------------

class Objective(_Written):
    name: str = Field(description="the policy's first objective: cost, nodes, preferences, ...")
    value: Number | None = Field(description="null when nothing was placed")
    lower_bound: Number | None = Field(description="proven; null when unknown")
    unit: str
    gap: Number | None = Field(description="(value - lower_bound) / value; null without a bound")
    optimality_tolerance: Number


class PlacedNode(_Written):
    name: str
    pool: str = Field(description="the pool, inventory or offer the node comes from")
    capacity: dict[str, int] = Field(description="the whole machine: cpu in millicores, "
                                                 "memory and disk in bytes, accelerators counted")
    allocatable: dict[str, int] = Field(description="what pods may request there")
    labels: dict[str, str]
    zone: str | None
    region: str | None
    arch: str
    power_w: Number | SkipJsonSchema[None] = None
    energy_usd_h: Number | SkipJsonSchema[None] = None
    provisioned: bool = Field(description="true for a bought node")
    price: Number = Field(description="USD/h per node in use, electricity included")
    offer: str | SkipJsonSchema[None] = Field(default=None, description="bought nodes only")
    instance_type: str | None = Field(default=None, description="bought nodes only")


class OptionEntry(_Written):
    name: str
    replicas: int = Field(description="needed with this option alone")
    requests: dict[str, int]
    throughput: Number = Field(description="per replica")


class WorkloadEntry(_Written):
    name: str
    replicas: int
    requests: dict[str, int] = Field(description="per replica; disk only when requested")
    throughput: Number | SkipJsonSchema[None] = Field(
        default=None, description="workloads with options: what their replicas deliver together")
    gang: bool | SkipJsonSchema[None] = None
    options: list[OptionEntry] | SkipJsonSchema[None] = None


class PlacedReplica(_Written):
    workload: str
    option: str | SkipJsonSchema[None] = Field(default=None, description="workloads with options")
    replica: int = Field(description="numbered from 0, per option")
    node: str
    start: str | SkipJsonSchema[None] = Field(
        default=None, description="with a horizon: when the replica starts on its node (ISO 8601, UTC)")
    end: str | SkipJsonSchema[None] = Field(
        default=None, description="with a horizon: when it ends and leaves the node (ISO 8601, UTC)")


class PlacedReplicaFields(TypedDict):
    """`PlacedReplica` as the writer makes it, a typed dict: one per replica (19,232 at 10,000
    nodes), and a model each (made, then dumped) took 0.14 s of the 0.58 s the placement
    JSON took. tests/test_documents.py checks that its keys are the model's fields, and the
    written JSON against the published schema."""

    workload: str
    option: NotRequired[str]
    replica: int
    node: str
    start: NotRequired[str]  # with a horizon (issue 19)
    end: NotRequired[str]


class UnplacedReplica(_Written):
    workload: str
    option: str | SkipJsonSchema[None] = None
    replica: int
    reason: str


class PoolUtilization(_Written):
    pool: str
    resource: str
    capacity: int
    used: int
    stranded: int = Field(description="free, but no replica of the policy fits beside what is full")


class PowerUse(_Written):
    scope: str
    cap_kw: Number
    used_kw: Number


class LatencyReach(_Written):
    workload: str
    location: str
    limit_ms: Number
    worst_ms: Number | None
    replicas_within: int
    replicas_needed: int


class EnergyUse(_Written):
    scope: str
    price_usd_kwh: Number
    used_kw: Number
    cost_usd_h: Number


class CarbonUse(_Written):
    """What the nodes in use emit over the horizon (issue 19), and the policy's budget."""

    emitted_kg_co2e: Number
    budget_kg_co2e: Number | SkipJsonSchema[None] = Field(
        default=None, description="only where the policy states `carbon_budget`")


PlacementStatus = Literal["optimal", "feasible", "infeasible", "unknown"]  # solve.linear.Status


class PlacementDocument(_Written):
    """`fitc solve --format json` (docs/formats.md)."""

    model_config = ConfigDict(title="fitc placement", extra="forbid", defer_build=True)

    status: PlacementStatus
    objective: Objective
    nodes: list[PlacedNode] = Field(description="the nodes in use and every node bought "
                                                "(--all-nodes: every node)")
    workloads: list[WorkloadEntry]
    assignments: list[PlacedReplica]
    unplaced: list[UnplacedReplica]
    diagnostics: list[DiagnosticRecord]
    utilization: list[PoolUtilization]
    power: list[PowerUse]
    latency: list[LatencyReach] | SkipJsonSchema[None] = Field(
        default=None, description="only where the policy has latency rules")
    energy: list[EnergyUse] | SkipJsonSchema[None] = Field(
        default=None, description="only where the policy has `electricity` blocks")
    carbon: CarbonUse | SkipJsonSchema[None] = Field(
        default=None, description="with a horizon, where a grid states its carbon intensity")


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


# ---- the explanation `fitc explain --format json` writes -----------------------------------

class ConflictRule(_Written):
    rule: str | None = Field(description="the kind of rule: replicas, capacity, spread, ...")
    subject: str | None = Field(description="the workload or pool it is about")
    text: str
    path: str | None
    line: int | None
    column: int | None


class TextEdit(_Written):
    title: str
    line: int
    column: int
    end_line: int
    end_column: int
    text: str


class RepairEntry(_Written):
    rule: str
    subject: str | None
    text: str
    path: str | None
    line: int | None
    column: int | None
    from_: str | None = Field(alias="from", description="the value today")
    to: str | None = Field(description="the value that admits a placement")
    checked_cost: Number | None = Field(description="USD/h of the placement found with the change")
    fix: TextEdit | None = Field(description="the literal edit, where the repair is one")

    model_config = ConfigDict(extra="forbid", populate_by_name=True, defer_build=True)


class ExplanationDocument(_Written):
    """`fitc explain --format json`."""

    model_config = ConfigDict(title="fitc explanation", extra="forbid", defer_build=True)

    outcome: Literal["conflict", "feasible", "undecided"]
    conflict: list[ConflictRule]
    minimal: bool = Field(description="every rule of the conflict was shown to be needed")
    repairs: list[RepairEntry]
    no_single_repair: bool
    pair: list[RepairEntry] = Field(description="two changes that admit a placement together")
    repairs_cut_short: bool
    repair_budget: Number | None
    tried: str | None = Field(description="for `undecided`: what was tried")
    conflict_seconds: Number
    repair_seconds: Number
    diagnostics: list[DiagnosticRecord]


# ---- the manifest `fitc compile --out DIR` keeps in DIR/.fitc-output ------------------------

class OutputManifest(_Written):
    model_config = ConfigDict(title="fitc compile manifest", extra="forbid", defer_build=True)

    fitc: Literal[1] = 1
    written_by: Literal["fitc compile"] = "fitc compile"
    files: list[str] = Field(description="POSIX paths relative to DIR, sorted")


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
    RealMemory: NotRequired[str]
    TmpDisk: NotRequired[str]
    Gres: NotRequired[str]
    AvailableFeatures: NotRequired[str]
    Arch: NotRequired[str]
    Partitions: NotRequired[str]


def slurm_node_records() -> TypeAdapter[list[SlurmNodeRecord]]:
    return _adapter(list[SlurmNodeRecord])


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
    lines = []
    for found in error.errors(include_url=False)[:SHOWN_ERRORS]:
        where = json_path(tuple(found["loc"]), root) or "the document"
        what = found["msg"][:1].lower() + found["msg"][1:]
        if found["type"] == "missing":
            lines.append(f"{where}: missing")
        else:
            lines.append(f"{where}: {what} (found {_shown(found['input'])})")
    if error.error_count() > SHOWN_ERRORS:
        lines.append(f"and {error.error_count() - SHOWN_ERRORS} more wrong values")
    return lines


def _shown(value: object) -> str:
    import json

    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."


# ---- the documents with a published JSON Schema (tools/gen_schemas.py) --------------------

PUBLISHED: dict[str, Any] = {
    "placement": PlacementDocument,
    "placement-input": PlacementRead,
    "explanation": ExplanationDocument,
    "compile-manifest": OutputManifest,
    "kubectl-node-list": KubectlNodeList,
    "slurm-node-records": list[SlurmNodeRecord],
}


class _PublishedSchema(GenerateJsonSchema):
    """Draft 2020-12, with `$schema`, and without the `"default": null` of the fields
    a writer leaves out (their schema has no null: absent or of their type)."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        found = super().default_schema(schema)
        if found.get("default", ...) is None and not _allows_null(found):
            del found["default"]
        return found


def _allows_null(schema: JsonSchemaValue) -> bool:
    return schema.get("type") == "null" or any(_allows_null(s) for s in schema.get("anyOf", ()))


def json_schema(name: str) -> dict[str, Any]:
    """The published JSON Schema of document `name` (a key of `PUBLISHED`)."""
    found = _adapter(PUBLISHED[name]).json_schema(schema_generator=_PublishedSchema)
    return {"$schema": _PublishedSchema.schema_dialect, **found}


# ---- the plan `fitc plan --format json` writes (docs/cli.md, `plan`) -------------------------

class PlanMove(_Written):
    workload: str
    option: str | None = Field(description="the accelerator option it runs with, if any")
    replica: str | None = Field(description="how the system running it names it (a pod, a job "
                                            "id); null when read from a placement")
    kind: Literal["move", "start", "stop"] = Field(
        description="move: from source to target; start: a replica more than runs now; stop: "
                    "a replica more than the policy asks for")
    source: str | None = Field(description="the node it runs on now; null: a node the policy "
                                           "lacks, or none (start)")
    target: str | None = Field(description="null: none (stop)")


class PlanWave(_Written):
    number: int = Field(description="1 for the first wave")
    stop_first: bool = Field(description="no move could start beside what runs: each replica "
                                         "stops before its successor starts")
    moves: list[PlanMove]
    drained: list[str] = Field(description="the nodes this wave empties")
    cost_after: Number = Field(description="USD/h of the nodes in use after the wave")
    saving: Number = Field(description="USD/h the wave saves")


class PlanBinding(_Written):
    """`fitc plan --explain`: a limit the plan is under, and what lifting it alone gives."""

    limit: Literal["movable", "max_disrupted", "max_drained", "move_price", "min_saving"]
    workload: str | None = Field(description="the workload it is of (movable, max_disrupted)")
    stated: str = Field(description="the limit as the policy or the cluster states it")
    cost_after: Number = Field(description="USD/h the move reaches with the limit lifted")
    saving: Number = Field(description="USD/h more than the plan saves; 0: it binds the order "
                                       "of the moves (the waves), not where they end")
    waves: int = Field(description="the waves with the limit lifted")
    moves: int = Field(description="the replicas moved with the limit lifted")


class PlanDocument(_Written):
    """`fitc plan --format json`: from what runs to the placement, in waves."""

    changes: bool = Field(description="false: nothing to do (exit 0)")
    kept: bool = Field(description="the current placement is kept: it meets every rule and the "
                                   "best placement saves less than `min_saving`")
    cost_before: Number
    cost_after: Number
    min_saving: Number = Field(description="the policy's min_saving, as a share (0.05)")
    buy: list[str] = Field(description="nodes to buy before the first wave")
    stop: list[PlanMove] = Field(description="replicas beyond the policy's, stopped first")
    waves: list[PlanWave]
    release: list[str] = Field(description="nodes bought earlier, released after the last wave")
    moves: int
    least_moves: int = Field(description="the least moves the target's node counts per class "
                                         "allow; equal to `moves` when every replica that may "
                                         "stay stays")
    status: str = Field(description="the target placement's: optimal, feasible, ...")
    objective: str | None = Field(
        default=None, description="the objective the target was solved for and `bound` bounds: "
                                  "cost+moves (with move_price), cost, moves, ...; null without a target")
    value: Number | None = Field(default=None, description="the target's value of `objective`")
    bound: Number | None = Field(
        default=None, description="a proven lower bound on `objective` over every placement the plan "
                                  "may reach; null where none was proven")
    gap: Number | None = Field(default=None, description="(value - bound) / value; null without a bound")
    diagnostics: list[DiagnosticRecord]
    binding: list[PlanBinding] | None = Field(
        default=None, description="with --explain: the limits that bind, most saving first")


PUBLISHED["plan"] = PlanDocument


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


class KubectlPodSpec(TypedDict):
    nodeName: NotRequired[str | None]


class KubectlPodStatus(TypedDict):
    phase: NotRequired[str | None]


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


class KubectlPdb(TypedDict):
    kind: NotRequired[str]
    metadata: KubectlObjectMeta
    spec: NotRequired[KubectlPdbSpec | None]


def kubectl_pods() -> TypeAdapter[list[KubectlPod]]:
    return _adapter(list[KubectlPod])


def kubectl_pdbs() -> TypeAdapter[list[KubectlPdb]]:
    return _adapter(list[KubectlPdb])


def error_lines_relocated(error: ValidationError, locate: Any) -> list[str]:
    """`error_lines` of a list validated apart from its document: `locate(k)` is the JSON path
    of its k-th element in the document (`items[12]`)."""
    lines = []
    for found in error.errors(include_url=False)[:SHOWN_ERRORS]:
        place = tuple(found["loc"])
        where = _quoted_path(place[1:], locate(place[0])) if place else "the document"
        what = found["msg"][:1].lower() + found["msg"][1:]
        lines.append(f"{where}: missing" if found["type"] == "missing"
                     else f"{where}: {what} (found {_shown(found['input'])})")
    if error.error_count() > SHOWN_ERRORS:
        lines.append(f"and {error.error_count() - SHOWN_ERRORS} more wrong values")
    return lines


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
