"""The checked program: every declaration resolved, typed and evaluated.

This is what the checker hands to the model stage. Nothing here refers to
syntax; `Origin` keeps the source position of each thing so that later
stages can explain themselves in source terms.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import Any, TypeVar

from fitlang.check.recurrence import Cron
from fitlang.frozen import Frozen
from fitlang.syntax.nodes import Span


class Origin(Frozen):
    path: str
    span: Span

    def where(self) -> str:
        return f"line {self.span.line}"


# ---- predicates: `require` and `prefer` after checking -------------------


class Compare(Frozen):
    """`subject OP value`: subject is a path into the candidate node or accelerator,
    e.g. ("zone",), ("labels", "tier"), ("gpu", "memory"), ("model",)."""

    subject: tuple[str, ...]
    op: str  # == != < <= > >= in, not in
    value: Any
    origin: Origin | None = None


class AllOf(Frozen):
    items: tuple[Predicate, ...]


class AnyOf(Frozen):
    items: tuple[Predicate, ...]


class Negation(Frozen):
    item: Predicate


class Constant(Frozen):
    value: bool


Predicate = Compare | AllOf | AnyOf | Negation | Constant


def compares(predicate: Predicate) -> list[Compare]:
    """Every comparison in `predicate`, in order, under any `and`, `or` and `not`."""
    if isinstance(predicate, Compare):
        return [predicate]
    if isinstance(predicate, AllOf | AnyOf):
        return [c for item in predicate.items for c in compares(item)]
    if isinstance(predicate, Negation):
        return compares(predicate.item)
    return []


# ---- entities -----------------------------------------------------------


class Accelerator(Frozen):
    name: str
    vendor: str
    memory: int
    family: str = "gpu"
    bf16_tflops: Fraction | None = None
    interconnect: str | None = None
    form_factor: str | None = None
    tdp_watts: Fraction | None = None
    resource: str = "nvidia.com/gpu"
    origin: Origin | None = None
    # a part of a GPU, one to a pod: "mig" (a MIG slice), "shared" (a time-sliced or MPS
    # replica); None: a whole device (`model/gpu_partitions.py`)
    partition: str | None = None

    def attribute(self, name: str) -> Any:
        return self.name if name == "model" else getattr(self, {"tdp": "tdp_watts"}.get(name, name))


class GpuSpec(Frozen):
    model: Accelerator
    count: int


class NodeShape(Frozen):
    """What a pool's, an inventory node's or an offer's machines have."""

    cpu_milli: int
    memory: int
    disk: int = 0
    gpu: GpuSpec | None = None
    arch: str = "amd64"


class StepPrices(Frozen):
    """A price per node per hour that varies over the horizon (issue 19: a spot market, a
    tariff), stated by a pool, an inventory or a `buy` block: a list per step (`price_hourly`,
    repeated when shorter) or a file's (from, price) rows in time order (`price_file`)."""

    attribute: str  # `price_hourly` or `price_file`: what the policy states
    origin: Origin  # where it stands
    listed: tuple[Fraction, ...] = ()
    timed: tuple[tuple[datetime, Fraction], ...] = ()
    file: str = ""  # `price_file` as the policy states it


class Pool(Frozen):
    name: str
    count: int
    shape: NodeShape
    price: Fraction = Fraction(0)
    labels: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    region: str | None = None
    provider: str | None = None
    dedicated: str | None = None
    features: list[str] = field(default_factory=list)
    power_watts: Fraction | None = None  # per node in use, when the pool states it
    idle_watts: Fraction = Fraction(0)
    jurisdiction: str | None = None
    cluster: str | None = None
    max_pods: int | None = None  # the kubelet's, where the pool states it
    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)
    # with a horizon (issue 19): ISO 8601 intervals "START/END" in which its nodes may run work
    # (none stated: always), and in which they run nothing
    available: tuple[str, ...] = ()
    unavailable: tuple[str, ...] = ()
    step_prices: StepPrices | None = None  # with a horizon: its price per step (issue 19)


class NodeScope(Frozen, kw_only=True):
    """The nodes in a zone, a region and/or with labels (a site): what a power cap or an
    electricity price covers."""

    zone: str | None = None
    region: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    origin: Origin | None = None

    @property
    def scope(self) -> str:
        parts = [f"zone={self.zone}"] if self.zone else []
        parts += [f"region={self.region}"] if self.region else []
        parts += [f"{k}={v}" for k, v in sorted(self.labels.items())]
        return ",".join(parts) or "all"


class PowerCap(NodeScope):
    name: str
    cap_watts: Fraction  # `cap`, or with `hourly` alone the largest of its caps
    per_step: tuple[Fraction, ...] = ()  # `hourly`: the cap at each step, repeated when shorter


class Electricity(NodeScope):
    name: str
    price_per_kwh: Fraction | None  # None: `hourly` or `prices` gives it per step
    # a price per step of the horizon (`hourly = [...]`), repeated when shorter
    per_step: tuple[Fraction, ...] = ()
    # (from, price) rows of a `prices` file, in time order: the price from each instant on
    timed: tuple[tuple[datetime, Fraction], ...] = ()
    # the grid's carbon intensity (gCO2e/kWh), the same three ways; None and () when not stated
    carbon: Fraction | None = None
    carbon_per_step: tuple[Fraction, ...] = ()
    carbon_timed: tuple[tuple[datetime, Fraction], ...] = ()
    carbon_origin: Origin | None = None

    @property
    def states_carbon(self) -> bool:
        return self.carbon is not None or bool(self.carbon_per_step or self.carbon_timed)


class Region(Frozen):
    name: str  # the block's name, which latency tables use
    code: str  # the name pools and offers state: "eu-central-1"
    jurisdiction: str
    provider: str | None = None
    country: str | None = None
    city: str | None = None
    origin: Origin | None = None


class LatencyRule(Frozen):
    """Serve users in `location` within `limit_ms` from at least `replicas` replicas."""

    location: str
    limit_ms: Fraction
    replicas: int = 1
    origin: Origin | None = None


class Inventory(Frozen):
    name: str
    format: str
    file: str  # resolved path
    price: Fraction = Fraction(0)
    # the price per node by its `node.kubernetes.io/instance-type` (`instance_prices`): a
    # cluster of several node types is one inventory, each type at what it costs
    instance_prices: dict[str, Fraction] = field(default_factory=dict)
    # the price of a spot node (its labels say so: Karpenter's `karpenter.sh/capacity-type`)
    # by its instance type (`spot_prices`): a cluster's spot nodes cost what spot costs
    spot_prices: dict[str, Fraction] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    region: str | None = None
    provider: str | None = None
    dedicated: str | None = None
    arch: str | None = None
    jurisdiction: str | None = None
    gpu_model: Accelerator | None = None
    cluster: str | None = None
    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)
    # what each node keeps for pods fitc does not place (DaemonSets): off the file's capacity
    reserved_cpu_milli: int = 0
    reserved_memory: int = 0
    reserved_pods: int = 0
    # what each node draws in use without its accelerators (`idle_power`): power caps and
    # electricity count it (a file states no power; without it a CPU node drew nothing)
    idle_watts: Fraction = Fraction(0)
    available: tuple[str, ...] = ()  # with a horizon: as a pool's (issue 19)
    unavailable: tuple[str, ...] = ()
    step_prices: StepPrices | None = None

    def node_price(self, instance_type: str | None, spot: bool = False) -> Fraction:
        """What a node of this instance type costs per hour: a spot node its `spot_prices`
        entry, else its `instance_prices` entry, else `price`."""
        if spot and instance_type is not None and instance_type in self.spot_prices:
            return self.spot_prices[instance_type]
        if instance_type is not None and instance_type in self.instance_prices:
            return self.instance_prices[instance_type]
        return self.price


class Offer(Frozen):
    name: str
    provider: str
    instance_type: str
    regions: list[str]
    shape: NodeShape
    price: Fraction
    spot_price: Fraction | None = None
    # on-demand prices in other regions, by region code (`region_prices`): sold there too
    region_prices: dict[str, Fraction] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    max_pods: int | None = None  # as the offer states it; the model applies the default
    origin: Origin | None = None

    @property
    def sold_in(self) -> list[str]:
        """Every region it is sold in: `regions`, then those `region_prices` adds."""
        return self.regions + [code for code in self.region_prices if code not in self.regions]

    def price_in(self, region: str, spot: bool) -> tuple[Fraction, bool]:
        """Its price per hour in `region`, and whether that is spot: a region with its own
        price has no spot price stated, so it is priced, and bought, on demand there."""
        if region in self.region_prices:
            return self.region_prices[region], False
        if spot and self.spot_price is not None:
            return self.spot_price, True
        return self.price, False


class Kept(Frozen):
    """What each node keeps for pods fitc does not place (DaemonSets, agents): CPU in
    millicores, memory in bytes, and the pods they are (each one of the node's `max_pods`)."""

    cpu_milli: int = 0
    memory: int = 0
    pods: int = 0


class Buy(Frozen):
    name: str | None
    offers: tuple[Offer, ...]
    providers: list[str] | None = None
    regions: list[str] | None = None
    max_count: int | None = None
    spot: bool = False
    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)  # of the attributes stated
    # what each node it buys keeps for pods fitc does not place (DaemonSets), where the block
    # states it (`reserved_cpu`, `reserved_memory`, `reserved_pods`); None: the current state's
    # DaemonSets say (`model/daemon_sets.py`)
    reserved: Kept | None = None
    # with a horizon: the price per step of what it buys (one offer's market), in place of
    # the offer's `price` or `spot_price` (issue 19)
    step_prices: StepPrices | None = None


class AffinityRule(Frozen):
    target: str  # a workload name; "self" for the workload's own replicas
    topology: str  # node, zone, region, or a label key
    anti: bool
    origin: Origin  # the checker builds every rule from a statement


class SpreadRule(Frozen):
    topology: str
    max_skew: int
    origin: Origin  # the checker builds every rule from a statement
    # Kubernetes' `minDomains`: while fewer domains than this have nodes the workload may
    # use, the emptiest counts 0 (each holds at most `max_skew`); 1 (the default) changes nothing
    min_domains: int = 1


class Preference(Frozen):
    predicate: Predicate
    weight: Fraction
    text: str
    origin: Origin | None = None


class Requirement(Frozen):
    predicate: Predicate
    text: str
    origin: Origin | None = None


class AcceleratorOption(Frozen):
    """One acceptable accelerator of a workload (`gpu { option H100 { ... } }`)."""

    model: Accelerator
    count: int  # accelerators per replica
    throughput: Fraction  # what one replica delivers; 1/replicas for options stated in replicas
    cpu_milli: int | None = None  # None: the workload's own
    memory: int | None = None
    origin: Origin | None = None


class Workload(Frozen):
    name: str
    kind: str = "service"
    replicas: int = 1
    cpu_milli: int = 0
    memory: int = 0
    disk: int = 0
    gpu_count: int = 0
    gpu_requirements: tuple[Requirement, ...] = ()
    labels: dict[str, str] = field(default_factory=dict)
    zones: list[str] | None = None
    regions: list[str] | None = None
    priority: int = 0
    gang: bool = False
    tolerate: list[str] = field(default_factory=list)
    requirements: tuple[Requirement, ...] = ()
    preferences: tuple[Preference, ...] = ()
    affinities: tuple[AffinityRule, ...] = ()
    spreads: tuple[SpreadRule, ...] = ()
    image: str | None = None
    command: list[str] | None = None
    env: dict[str, str] = field(default_factory=dict)
    time_limit_seconds: int | None = None
    exclusive: bool = False
    arch: list[str] = field(default_factory=lambda: ["amd64"])
    # acceptable accelerators, and the throughput their replicas must deliver together (for
    # options stated in replicas: 1, each replica delivering 1/replicas)
    options: tuple[AcceleratorOption, ...] = ()
    throughput: Fraction | None = None
    option: str | None = None  # set on the view `for_option` gives
    residency: list[str] | None = None
    latency: tuple[LatencyRule, ...] = ()
    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)
    indent: str | None = None  # before the block's entries, as written (`BlockValues.indent`)
    # moving work (`fitc plan`): the most replicas moved in one wave, as a count or a share
    # of its replicas (at most one is set; neither: no limit), and whether it may move at all
    max_disrupted: int | None = None
    max_disrupted_share: Fraction | None = None
    movable: bool = True
    # time (issue 19): seconds a job runs (None: a service, the whole horizon), and its window
    duration_seconds: Fraction | None = None
    earliest: TimePoint | None = None
    deadline: TimePoint | None = None
    # a recurring job (issue 19): its period in seconds or its cron expression, and how long
    # after each release its run must end (None: by the next release)
    every: Fraction | Cron | None = None
    within_seconds: Fraction | None = None
    due: TimePoint | None = None  # soft: the objective `lateness` counts the time past it
    # a preemptible (checkpointed) job: segments of at least this many seconds (None: whole)
    min_segment_seconds: Fraction | None = None

    def option_replicas(self, option: AcceleratorOption) -> int:
        """Replicas of `option` that deliver the workload's throughput alone."""
        assert self.throughput is not None, "the checker sets options only with a throughput"
        return math.ceil(self.throughput / option.throughput)

    def for_option(self, option: AcceleratorOption, **changes: Any) -> Workload:
        """The workload as it runs with one option: that model, count, size and replicas
        (and `changes`, made in the same copy: a copy of a workload is ~40 fields)."""
        model = option.model.name
        rule = Requirement(Compare(("model",), "==", model, option.origin), f"option {model}",
                           option.origin)
        return dataclasses.replace(
            self, gpu_count=option.count, replicas=self.option_replicas(option),
            cpu_milli=self.cpu_milli if option.cpu_milli is None else option.cpu_milli,
            memory=self.memory if option.memory is None else option.memory,
            gpu_requirements=(*self.gpu_requirements, rule), options=(), option=model, **changes)


# a moment of the horizon as the policy states it: seconds after its start, or a date-time
TimePoint = Fraction | datetime


class Horizon(Frozen):
    """The policy's horizon: `steps` steps of `step_seconds` from `start` (timezone-aware)."""

    start: datetime
    step_seconds: int
    steps: int

    def seconds_after_start(self, point: TimePoint) -> Fraction:
        if isinstance(point, datetime):
            return Fraction((point - self.start).total_seconds()).limit_denominator(10 ** 6)
        return point

    @property
    def end_seconds(self) -> int:
        return self.step_seconds * self.steps


@dataclass(frozen=True, kw_only=True)  # eager: each target derives its settings with @dataclass
class TargetSettings:
    """A target's settings block in `policy` (`slurm { partition = "gpu" }`), checked.

    Each target subclasses it in its own module, one field per attribute of its block (with
    the default that applies when the block or the attribute is absent), and registers it
    with `fitlang.check.settings.register`. The hooks let earlier stages ask what a target's
    settings mean for them without importing the target."""

    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)  # of the attributes stated

    @classmethod
    def from_block(cls, values: dict[str, Any], origin: Origin,
                   spans: dict[str, Origin]) -> TargetSettings:
        """The block's checked values (attribute -> value, as the block's schema types them)."""
        return cls(**values, origin=origin, spans=dict(spans))

    def bought_cluster(self, provider: str | None, region: str | None) -> str | None:
        """The cluster nodes bought from `provider` in `region` join, if these settings name one."""
        return None

    def work_partition(self) -> str | None:
        """The partition all work runs in, if these settings name one."""
        return None

    def bought_region(self) -> str | None:
        """The region these settings buy nodes in, if they name one (a tie-break of where to buy)."""
        return None


_Settings = TypeVar("_Settings", bound=TargetSettings)


class Policy(Frozen):
    objective: list[str] = field(default_factory=lambda: ["cost"])
    budget: Fraction | None = None
    allow_unplaced: bool = False
    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)
    # the targets' settings blocks the policy states, by their settings class
    settings: dict[type[TargetSettings], TargetSettings] = field(default_factory=dict)
    # moving work (`fitc plan`): USD/h a move must save, the least share of the cost a plan
    # must save to be made (else the current placement is kept), nodes emptied per wave,
    # replicas moved in all
    move_price: Fraction | None = None
    min_saving: Fraction = Fraction(5, 100)
    max_drained: int | None = None
    max_moves: int | None = None
    horizon: Horizon | None = None  # time (issue 19): None without `horizon`
    carbon_budget: Fraction | None = None  # kgCO2e over the horizon

    def settings_of(self, kind: type[_Settings]) -> _Settings:
        """A target's settings: as its block states them, or its defaults."""
        stated = self.settings.get(kind)
        return stated if isinstance(stated, kind) else kind()

    def bought_cluster(self, provider: str | None, region: str | None) -> str | None:
        return next((cluster for stated in self.settings.values()
                     if (cluster := stated.bought_cluster(provider, region)) is not None), None)

    def work_partition(self) -> str | None:
        return next((partition for stated in self.settings.values()
                     if (partition := stated.work_partition()) is not None), None)

    def bought_region(self) -> str | None:
        return next((region for stated in self.settings.values()
                     if (region := stated.bought_region()) is not None), None)


class Program(Frozen):
    """Everything one root file (with its imports) declares, checked."""

    path: str
    accelerators: dict[str, Accelerator] = field(default_factory=dict)
    pools: dict[str, Pool] = field(default_factory=dict)
    inventories: dict[str, Inventory] = field(default_factory=dict)
    offers: dict[str, Offer] = field(default_factory=dict)
    buys: tuple[Buy, ...] = ()
    workloads: dict[str, Workload] = field(default_factory=dict)
    policy: Policy = field(default_factory=Policy)
    power_caps: tuple[PowerCap, ...] = ()
    electricity: tuple[Electricity, ...] = ()
    regions: dict[str, Region] = field(default_factory=dict)  # by block name
    locations: tuple[str, ...] = ()
    # (location, region code) -> round-trip milliseconds, the root file's entries last
    latency: dict[tuple[str, str], Fraction] = field(default_factory=dict)
    current: tuple[CurrentFile, ...] = ()  # the `current` blocks: what runs now, in order

    def region_at(self, region: str | None, zone: str | None = None) -> Region | None:
        """The `region` block of a region code, or else of the region a zone name starts with
        (`eu-west-1a`, `europe-west4-b`): cloud zone names are their region's name plus a suffix."""
        for candidate in self.regions.values():
            if region is not None and candidate.code == region:
                return candidate
        if region is not None or zone is None:
            return None
        for candidate in self.regions.values():
            rest = zone[len(candidate.code):]
            if zone.startswith(candidate.code) and (rest[:1].isalpha() or rest[:1] == "-"):
                return candidate
        return None


class CurrentFile(Frozen):
    """A `current` block: a file saying what runs now (`fitc plan` starts from it)."""

    name: str | None
    file: str  # resolved path
    given: str = ""  # the path as the block gives it, for messages
    format: str | None = None  # placement, kubectl or squeue; None: told from the content
    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)
