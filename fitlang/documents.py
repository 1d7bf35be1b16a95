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

from typing import Any, Literal, NotRequired

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
)
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue, SkipJsonSchema
from pydantic_core import core_schema
from typing_extensions import TypedDict  # pydantic asks for it below Python 3.12

# the documents fitc reads live apart (fitlang/documents_read.py: reading an inventory loads only
# those); re-exported so that `fitlang.documents` names every document
from fitlang.documents_read import (  # noqa: F401
    SHOWN_ERRORS,
    AssignmentRead,
    KubectlCondition,
    KubectlMetadata,
    KubectlNode,
    KubectlNodeList,
    KubectlObjectMeta,
    KubectlOwner,
    KubectlPdb,
    KubectlPdbSpec,
    KubectlPod,
    KubectlPodSpec,
    KubectlPodStatus,
    KubectlRequirement,
    KubectlSelector,
    KubectlSpec,
    KubectlStatus,
    KubectlTaint,
    ManifestRead,
    NodeRead,
    PlacementRead,
    Quantity,
    SlurmCount,
    SlurmNodeRecord,
    SqueueDocument,
    SqueueJob,
    UnplacedRead,
    _adapter,
    error_lines,
    error_problems,
    error_problems_relocated,
    json_path,
    kubectl_node,
    kubectl_node_list,
    kubectl_pdbs,
    kubectl_pods,
    manifest_read,
    placement_read,
    slurm_node_records,
    squeue_document,
)
from fitlang.outputs import Writer

# `X | SkipJsonSchema[None] = None`: a field the writer leaves out rather than writing `null`,
# so the published schema has it optional but never null.
Number = float  # JSON numbers fitc rounds to 6 decimals


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


# ---- the placement as `solve/report.py` writes it: typed dicts ------------------------------
# The writer makes plain dicts typed by these (mypy checks it), not the models above: loading
# pydantic and building the models' serialisers took 0.11 s of a 0.44 s CPU `fitc solve` of a
# small policy, and 0.14 s at 10,000 nodes (docs/performance.md, "Session 14: start-up"). The
# models stay the one definition (the schema, `fitlang.api`, the readers' tests):
# tests/test_documents.py checks that each typed dict names its model's fields, in order, the
# same ones required, and reads every example's output back through the model, key order too.

class ObjectiveFields(TypedDict):
    name: str
    value: Number | None
    lower_bound: Number | None
    unit: str
    gap: Number | None
    optimality_tolerance: Number


class PlacedNodeFields(TypedDict):
    name: str
    pool: str
    capacity: dict[str, int]
    allocatable: dict[str, int]
    labels: dict[str, str]
    zone: str | None
    region: str | None
    arch: str
    power_w: NotRequired[Number]
    energy_usd_h: NotRequired[Number]
    provisioned: bool
    price: Number
    offer: NotRequired[str]
    instance_type: NotRequired[str | None]


class OptionEntryFields(TypedDict):
    name: str
    replicas: int
    requests: dict[str, int]
    throughput: Number


class WorkloadEntryFields(TypedDict):
    name: str
    replicas: int
    requests: dict[str, int]
    throughput: NotRequired[Number]
    gang: NotRequired[bool]
    options: NotRequired[list[OptionEntryFields]]


class UnplacedReplicaFields(TypedDict):
    workload: str
    option: NotRequired[str]
    replica: int
    reason: str


class PoolUtilizationFields(TypedDict):
    pool: str
    resource: str
    capacity: int
    used: int
    stranded: int


class PowerUseFields(TypedDict):
    scope: str
    cap_kw: Number
    used_kw: Number


class LatencyReachFields(TypedDict):
    workload: str
    location: str
    limit_ms: Number
    worst_ms: Number | None
    replicas_within: int
    replicas_needed: int


class EnergyUseFields(TypedDict):
    scope: str
    price_usd_kwh: Number
    used_kw: Number
    cost_usd_h: Number


class CarbonUseFields(TypedDict):
    emitted_kg_co2e: Number
    budget_kg_co2e: NotRequired[Number]


class PlacementDocumentFields(TypedDict):
    status: PlacementStatus
    objective: ObjectiveFields
    nodes: list[PlacedNodeFields]
    workloads: list[WorkloadEntryFields]
    assignments: list[PlacedReplicaFields]
    unplaced: list[UnplacedReplicaFields]
    diagnostics: list[dict[str, Any]]  # `Diagnostic.as_record`, read back through DiagnosticRecord
    utilization: list[PoolUtilizationFields]
    power: list[PowerUseFields]
    latency: NotRequired[list[LatencyReachFields]]
    energy: NotRequired[list[EnergyUseFields]]
    carbon: NotRequired[CarbonUseFields]


# the typed dicts the placement writer makes, by the model each stands for
WRITTEN_AS: dict[type[BaseModel], Any] = {
    Objective: ObjectiveFields, PlacedNode: PlacedNodeFields, OptionEntry: OptionEntryFields,
    WorkloadEntry: WorkloadEntryFields, PlacedReplica: PlacedReplicaFields,
    UnplacedReplica: UnplacedReplicaFields, PoolUtilization: PoolUtilizationFields,
    PowerUse: PowerUseFields, LatencyReach: LatencyReachFields, EnergyUse: EnergyUseFields,
    CarbonUse: CarbonUseFields, PlacementDocument: PlacementDocumentFields,
}


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
    checked_cost_least: bool = Field(
        description="the cheapest placement (within 2% of a proven bound above 160 nodes; "
        "else one that works: the policy with the change costs at most checked_cost)")
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
    diagnostics: list[DiagnosticRecord]


# ---- the manifest `fitc compile --out DIR` (and `fitc plan --out DIR`) keeps in DIR/.fitc-output

class OutputManifest(_Written):
    model_config = ConfigDict(title="fitc compile manifest", extra="forbid", defer_build=True)

    fitc: Literal[1] = 1
    written_by: Writer = Field(default="fitc compile", description="the command that wrote the files")
    files: list[str] = Field(description="POSIX paths relative to DIR, sorted")


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

    limit: Literal["movable", "max_disrupted", "max_drained", "max_moves", "move_price", "min_saving"]
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


