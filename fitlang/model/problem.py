"""The placement problem, normalised: node classes, demands, and which demand may use which class.

Identical nodes form one `NodeClass`; a workload's identical replicas are one
`Demand` with a count. The solver sees workloads x classes, never replicas x
nodes. Nothing here knows about syntax: source positions travel as `Origin`s.

Every record here is a frozen dataclass, built complete once (`model/build.py`) and never
changed: a variant (one node per class, explain's trials) is a copy made with
`dataclasses.replace`. The dicts and lists inside (capacities, `eligible`, ...) stay plain
containers, since freezing them would cost on the solver's hot path; nothing writes to them
once the record holding them is made. Indexes over a problem (class by id, demand by name,
node owners, workloads kept apart) are `cached_property`s: built when first read, and a copy
starts without them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Iterator, MutableMapping, Sequence
from dataclasses import field
from fractions import Fraction
from functools import cached_property
from typing import Any

from fitlang.check.evaluate import apply_comparison
from fitlang.check.program import (
    Accelerator,
    AffinityRule,
    AllOf,
    AnyOf,
    Compare,
    Constant,
    Horizon,
    Kept,
    LatencyRule,
    Negation,
    Origin,
    Predicate,
    Region,
    SpreadRule,
)
from fitlang.frozen import Frozen

RESOURCES = ("cpu", "memory", "gpu", "disk")
DEFAULT_CLUSTER = "default"


class NodeNames(Sequence):
    """The names `{prefix}{i}{suffix}` for i in range(start, stop), made when asked for: a pool
    of ten million nodes where ten replicas run must not cost ten million strings (issue 13).
    A slice is another `NodeNames`; `+` a tuple (repairs that grow a pool add named nodes)."""

    __slots__ = ("prefix", "start", "stop", "suffix")

    def __init__(self, prefix: str, count: int, suffix: str = "", start: int = 0) -> None:
        self.prefix, self.suffix = prefix, suffix
        self.start, self.stop = start, start + max(0, count)

    def __len__(self) -> int:
        return self.stop - self.start

    def __getitem__(self, item):
        if isinstance(item, slice):
            start, stop, step = item.indices(len(self))
            if step != 1:
                return tuple(self)[item]
            return NodeNames(self.prefix, max(0, stop - start), self.suffix, self.start + start)
        if item < 0:
            item += len(self)
        if not 0 <= item < len(self):
            raise IndexError(item)
        return f"{self.prefix}{self.start + item}{self.suffix}"

    def __iter__(self) -> Iterator[str]:
        prefix, suffix = self.prefix, self.suffix
        return (f"{prefix}{i}{suffix}" for i in range(self.start, self.stop))

    def position(self, name: str) -> int | None:
        """Where `name` is in the sequence, or None: parsed, not searched."""
        if not (name.startswith(self.prefix) and name.endswith(self.suffix)):
            return None
        digits = name[len(self.prefix): len(name) - len(self.suffix)]
        if not digits.isdigit() or (len(digits) > 1 and digits[0] == "0") or not digits.isascii():
            return None
        number = int(digits)
        return number - self.start if self.start <= number < self.stop else None

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.position(name) is not None

    def index(self, name: str, *args) -> int:
        found = self.position(name) if isinstance(name, str) else None
        if found is None:
            raise ValueError(f"{name!r} is not a node of this class")
        return found

    def __add__(self, other) -> tuple[str, ...]:
        return tuple(self) + tuple(other)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, NodeNames):
            return (len(self) == len(other) == 0 or
                    (self.prefix, self.start, self.stop, self.suffix) ==
                    (other.prefix, other.start, other.stop, other.suffix))
        if isinstance(other, (tuple, list)):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"NodeNames({self.prefix!r}, {len(self)}, {self.suffix!r}, start={self.start})"

    def suffixed(self, suffix: str) -> NodeNames:
        return NodeNames(self.prefix, len(self), self.suffix + suffix, self.start)


class Taint(Frozen):
    """A node's taint as the cluster states it (`kubectl get nodes`: key, value, effect); only
    NoSchedule and NoExecute ones are kept, since only they keep pods away."""

    key: str
    value: str
    effect: str

    def tolerated_by(self, tolerate: Collection[str]) -> bool:
        """A workload's `tolerate` names a taint by its key alone or as `key=value`."""
        return self.key in tolerate or f"{self.key}={self.value}" in tolerate

    def __str__(self) -> str:  # how kubectl writes it, in messages (no `=` without a value)
        return f"{self.key}={self.value}:{self.effect}" if self.value else f"{self.key}:{self.effect}"


class NodeClass(Frozen):
    id: str
    pool: str  # the pool, inventory or offer it comes from
    count: int  # nodes available (for offers: the most that may be bought)
    # what pods may request on one node, and what the solver packs against: cpu in millicores,
    # memory and disk in bytes, gpu as a count. For bought nodes the instance's shape less
    # `reserved`; for inventory nodes their allocatable; for declared pools what they state.
    capacity: dict[str, int]
    price: Fraction = Fraction(0)
    accelerator: Accelerator | None = None
    labels: dict[str, str] = field(default_factory=dict)
    zone: str | None = None
    region: str | None = None
    provider: str | None = None
    arch: str = "amd64"
    dedicated: str | None = None
    taints: tuple[Taint, ...] = ()
    features: tuple[str, ...] = ()
    node_names: Sequence[str] = ()  # a tuple, or `NodeNames` for made-up names
    # bought classes: how many of `node_names`, first, are the cluster's own names of nodes
    # of the class it runs (read from a `current` state: `model/cluster_nodes.py`)
    cluster_nodes: int = 0
    offer: str | None = None  # set when nodes of this class must be bought
    spot: bool = False  # bought (and priced) at the offer's spot price
    instance_type: str | None = None
    # a bought node's local NVMe (its offer's `disk`): capacity["disk"] is what its kubelet
    # admits, this only where the node group sets it up (model/node_disks.py)
    local_disk: int = 0
    buy_group: int | None = None  # index of the `buy` block whose max_count it shares
    gres_type: str | None = None  # the GPU type Slurm knows these nodes by ("a100")
    # Slurm's ThreadsPerCore: its CPUs are threads, and each job gets whole cores (CR_Core)
    threads_per_core: int = 1
    # the pods the kubelet admits on one node (`allocatable.pods`, an offer's or pool's
    # `max_pods`); None: no limit known (Slurm). The class model counts them per class (a row
    # beside its capacity rows); the answer is repaired where a packing leaves a node with
    # more (`solve/whole_cores.py`), `verify` checks it
    max_pods: int | None = None
    # read from a Slurm inventory: Slurm gives its tasks whole CPUs and its jobs whole cores,
    # and demands count their CPU so here (`model/slurm_cpus.py`)
    slurm_allocated: bool = False
    power_watts: Fraction = Fraction(0)  # drawn by one node in use
    site: Region | None = None  # the `region` block its region (or zone) names
    jurisdiction: str | None = None  # stated by its pool, or its site's
    # the Kubernetes cluster its nodes join: stated by the pool or inventory; for bought nodes
    # the `terraform` block's cluster, else one per provider and region ("aws-us-east-1")
    cluster: str = DEFAULT_CLUSTER
    # electricity, where an `electricity` block prices it: USD/h per node in use, in `price`
    energy_cost: Fraction = Fraction(0)
    energy_price_kwh: Fraction | None = None
    energy_scope: str | None = None
    # kept back by the kubelet of a bought node (kube-reserved + eviction threshold): cpu in
    # millicores, memory in bytes; the machine has capacity + reserved
    reserved: dict[str, int] = field(default_factory=dict)
    # bought classes: what each node keeps for pods of no workload that start there with it
    # (the cluster's DaemonSets, `model/daemon_sets.py`, or the `buy` block's `reserved_*`),
    # already off `capacity` and `max_pods`; a node the state shows running keeps its own
    daemons: Kept = field(default_factory=Kept)
    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)  # its pool's settings, where they stand
    # inventory nodes merged into one class whose allocatable differs a little (kubelet
    # reservations): each node's own, where it is less than `capacity` (the largest member's)
    node_capacity: dict[str, dict[str, int]] = field(default_factory=dict)
    # what running work of no workload of the policy (a current state's other pods and jobs)
    # requests on each of its nodes that runs some: already off its room (`capacity_of`)
    node_taken: dict[str, dict[str, int]] = field(default_factory=dict)
    # the pods each such node admits yet, where that work's pods (DaemonSets', other teams')
    # take some of `max_pods`: the kubelet counts every pod
    node_pods: dict[str, int] = field(default_factory=dict)
    # node name -> its `kubernetes.io/hostname` label, where an inventory states one that is
    # not its name (the kubelet's --hostname-override, a cloud that names nodes by instance)
    node_hostnames: dict[str, str] = field(default_factory=dict)
    # node name -> `spot` or `on-demand` as its labels say, where the class's nodes differ in it
    # (a class priced by `spot_prices` is all spot, and its labels say so): `fitc diff` says a
    # move between them (`outcome.capacity_type`)
    node_capacity_types: dict[str, str] = field(default_factory=dict)
    # the hosts of a multi-host TPU slice (a `2x4` v5e slice of 4-chip nodes is 2 hosts): its
    # GKE node pool, and how many hosts the slice has. A slice's hosts run one job together: one
    # gang of a replica per host, asking every chip of its host (`rules/tpu_slices.py`), all of
    # the gang on the slice (`gang_domain`). None, 0 for other classes
    tpu_slice: str | None = None
    slice_hosts: int = 0
    # with a horizon (issue 19): electricity's USD/h per node in use at each step, on top of
    # `price` (which then leaves electricity out); () without a horizon or electricity
    step_energy_cost: tuple[Fraction, ...] = ()
    # with a horizon and a grid's carbon intensity: kgCO2e per hour per node in use at each
    # step (its power draw x the intensity then); () where no grid states one (it emits 0)
    step_carbon: tuple[Fraction, ...] = ()
    # with a horizon: the steps in which its nodes run nothing (its pool's `available` and
    # `unavailable` windows, issue 19)
    off_steps: frozenset[int] = frozenset()
    # with a horizon and a price per step (its pool's, inventory's or `buy` block's
    # `price_hourly` or `price_file`, issue 19): USD/h per node in use at each step, without
    # electricity; `price` is then their average over the horizon. () for one price
    step_price: tuple[Fraction, ...] = ()

    @property
    def gang_domain(self) -> str:
        """Where a gang's replicas all run: one cluster, and within it one multi-host TPU
        slice or none (a slice's hosts run one job, so a gang on them is all there)."""
        return self.cluster if self.tpu_slice is None else f"{self.cluster}/tpu-slice:{self.tpu_slice}"

    def price_at(self, step: int) -> Fraction:
        """USD/h per node in use at a step of the horizon, electricity included."""
        own = self.step_price[step] if self.step_price else self.price
        return own + (self.step_energy_cost[step] if self.step_energy_cost else 0)

    @property
    def highest_price(self) -> Fraction:
        """The most one node costs per hour (without electricity) at any step: its price, or
        the highest of its prices per step."""
        return max(self.step_price) if self.step_price else self.price

    def count_at(self, step: int) -> int:
        """Nodes that may run work at a step of the horizon."""
        return 0 if step in self.off_steps else self.count

    def carbon_at(self, step: int) -> Fraction:
        """kgCO2e per hour per node in use at a step of the horizon."""
        return self.step_carbon[step] if self.step_carbon else Fraction(0)

    @property
    def provisioned(self) -> bool:
        return self.offer is not None

    @property
    def machine(self) -> dict[str, int]:
        """What one node has in all: what fitc's pods may use plus what the kubelet and the
        DaemonSets keep."""
        return {r: amount + self.reserved.get(r, 0) + self.daemons_keep(r)
                for r, amount in self.capacity.items()}

    def hostname(self, node: str) -> str:
        """The `kubernetes.io/hostname` label the node carries: what selects it by host."""
        return self.node_hostnames.get(node, node)

    def daemons_keep(self, resource: str) -> int:
        """What the DaemonSets keep of a resource on each node (`daemons`)."""
        return {"cpu": self.daemons.cpu_milli, "memory": self.daemons.memory}.get(resource, 0)

    @property
    def kubelet_max_pods(self) -> int | None:
        """The pods the node's kubelet admits (its `maxPods`): fitc's and the DaemonSets'."""
        return None if self.max_pods is None else self.max_pods + self.daemons.pods

    def pods_of(self, node: str) -> int | None:
        """The pods fitc's replicas may take on one node of the class (None: no limit)."""
        return self.node_pods.get(node, self.max_pods)

    def capacity_of(self, node: str) -> dict[str, int]:
        """What one node of the class has: its own allocatable, where members differ."""
        return self.node_capacity.get(node, self.capacity)

    def attribute(self, path: tuple[str, ...]) -> Any:
        """The value a `require`/`prefer` subject names, or None when the node lacks it."""
        head = path[0]
        if head == "labels":
            return self.labels.get(path[1])
        if head == "features":  # every node has or lacks a feature: never None
            return path[1] in self.features
        if head == "gpu":
            if path[1] == "count":  # a node without accelerators has zero of them
                return Fraction(self.capacity["gpu"] if self.accelerator else 0)
            if self.accelerator is None:
                return None
            return self.accelerator.attribute(path[1])
        if head == "cpu":
            return Fraction(self.capacity["cpu"], 1000)
        if head in ("memory", "disk"):
            return Fraction(self.capacity[head])
        if head == "price":
            return self.price
        return {"zone": self.zone, "region": self.region, "provider": self.provider,
                "pool": self.pool, "arch": self.arch, "jurisdiction": self.jurisdiction}.get(head)

    def accelerator_attribute(self, path: tuple[str, ...]) -> Any:
        if self.accelerator is None:
            return None
        if path[0] == "count":
            return Fraction(self.capacity["gpu"])
        return self.accelerator.attribute(path[0])

    def topology_value(self, key: str) -> str | None:
        if key == "zone":
            return self.zone
        if key == "region":
            return self.region
        return self.labels.get(key)


class Exclusion(Frozen):
    """Why a demand may not use a class: the rule, where it stands, and what the node has.

    `rule` is the clause as the user reads it, for display only: what the exclusion is, to
    explain and the editor, is in the typed fields (never parsed back from the text)."""

    rule: str
    origin: Origin | None
    detail: str = ""
    # for a numeric rule on one attribute: the rule with the bound this node would need
    relaxed: str | None = None
    source: str = ""  # the name of the `Rule` (fitlang/rules) that made it; "" for none
    # a fact about the node (too small, no GPUs, not the option's accelerator), not a rule
    # the user may drop: explain never blames or relaxes it
    fact: bool = False
    index: int | None = None  # which of the workload's rules of its kind (a spread's index)
    # the `gpu` block's one rule naming a kind of device (`model == TPU_V6E`), on a node of
    # another family than `gpu`: dropped, the block names no kind and asks for GPUs (the
    # checker's default `family == gpu`), which keeps the node out still
    kind_default: bool = False


class PreferenceRule(Frozen):
    text: str
    weight: Fraction
    met_by: set[str]  # class ids whose nodes meet it
    origin: Origin | None = None


class Demand(Frozen):
    name: str
    replicas: int
    # what one replica takes of a node, per resource; cpu in millicores, at the least Slurm
    # allocates it where the demand may run only on nodes read from Slurm (`model/slurm_cpus.py`)
    requests: dict[str, int]
    priority: int = 0
    gang: bool = False
    # whole nodes: nothing of another workload beside its replicas (Slurm --exclusive); a flag,
    # not an anti-affinity towards every other workload, which would keep every count whole
    exclusive: bool = False
    eligible: list[str] = field(default_factory=list)  # class ids, in problem order
    # class id -> first reason (build gives a `LazyReasons`, which works them out when read)
    excluded: MutableMapping[str, Exclusion] = field(default_factory=dict)
    preference: dict[str, Fraction] = field(default_factory=dict)  # class id -> weight earned
    preferences: list[PreferenceRule] = field(default_factory=list)
    # class id -> every rule that rules it out (the first is `excluded`), for repairs
    failing: MutableMapping[str, list[Exclusion]] = field(default_factory=dict)
    affinities: list[AffinityRule] = field(default_factory=list)
    spreads: list[SpreadRule] = field(default_factory=list)
    latency: list[LatencyRule] = field(default_factory=list)
    origin: Origin | None = None
    spans: dict[str, Origin] = field(default_factory=dict)
    # the workload's `tolerate`, as written: what a repair tolerating one more keeps
    tolerate: tuple[str, ...] = ()
    indent: str | None = None  # before its block's entries, as written: a line a fix inserts
    # one accelerator option of a workload (`group`): its replicas deliver `throughput` each,
    # and `replicas` is how many deliver the workload's throughput with this option alone
    group: str | None = None
    option: str | None = None
    throughput: Fraction = Fraction(1)
    window: Window | None = None  # with a horizon: when it may run (a service: all of it)
    # a recurring job's runs, in time order (`window` is the first): `replicas` counts the
    # replicas of all of them, replicas // len(runs) each, numbered run by run
    runs: tuple[Window, ...] = ()
    # a preemptible job (issue 19): its duration in segments of at least this many steps,
    # each replica's on any eligible nodes (`rules/preemption.py`); None: it runs unbroken
    min_segment: int | None = None
    job: bool = False  # with a horizon: a job (it has a duration), not a service
    due_seconds: Fraction | None = None  # a job's soft due time, after the horizon's start
    # the workload's own `cpu` (millicores) where `requests` counts it as Slurm allocates it
    # (whole CPUs, whole cores); None where the two are the same
    cpu_asked: int | None = None

    @property
    def windows(self) -> tuple[Window, ...]:
        """Each run's window: a recurring job's runs, else its one window (none without a
        horizon)."""
        return self.runs or ((self.window,) if self.window is not None else ())

    @property
    def asked_cpu(self) -> int:
        """The millicores one replica asks for, as its workload states them."""
        return self.requests["cpu"] if self.cpu_asked is None else self.cpu_asked

    @property
    def replicas_per_run(self) -> int:
        return self.replicas // max(1, len(self.runs))

    @property
    def workload(self) -> str:
        """The workload's name in the policy (an option's demand is named `chat[H100]`)."""
        return self.group or self.name

    @property
    def one_per_node(self) -> bool:
        return any(r.anti and r.target == "self" and r.topology == "node" for r in self.affinities)


# the policy's horizon as the solver reads it: `steps` steps of `step_seconds` from `start`
Timeline = Horizon


class Window(Frozen):
    """When a demand's replicas may run, in steps of the timeline: each starts at a step in
    [earliest, latest_start] and runs `duration` steps on one node."""

    earliest: int
    latest_start: int
    duration: int

    def starts(self) -> range:
        return range(self.earliest, self.latest_start + 1)


class Hold(Frozen):
    """A running job's room on one node, held from the horizon's start until step `until`
    (1 to the horizon's steps - 1): the policy's own job (`job` its id and workload) or another
    team's (squeue's `end_time`). Its node-steps are not the schedule's: they cost nothing."""

    node: str
    room: dict[str, int]  # per resource, as `Demand.requests`
    until: int
    job: str  # "101 (finetune)", as the state names it


class OptionGroup(Frozen):
    """A workload with accelerator options: its option demands must deliver `required` together
    (sum of throughput x replicas placed); a gang runs all its replicas on one option."""

    workload: str
    required: Fraction
    demands: list[str]  # the option demands, in the order the policy lists them
    gang: bool = False
    origin: Origin | None = None


def option_demand_name(workload: str, option: str) -> str:
    return f"{workload}[{option}]"


class PowerScope(Frozen):
    name: str
    scope: str
    cap_watts: Fraction
    classes: list[str]  # class ids whose nodes are in scope
    origin: Origin | None = None
    step_caps: tuple[Fraction, ...] = ()  # with a horizon and `hourly`: the cap at each step

    def cap_at(self, step: int) -> Fraction:
        return self.step_caps[step] if self.step_caps else self.cap_watts


class HealthBudget(Frozen):
    """A workload's disruption budget over its healthy replicas, where some are not healthy
    (a PodDisruptionBudget as the API server's eviction counts it, `model/current.py`
    `DisruptionBudget.above`): a healthy replica moved spends one of the healthy replicas
    beyond those that must stay (`above`, fewer than none where fewer are healthy than must
    stay); one not healthy spends none where `always` (`unhealthyPodEvictionPolicy:
    AlwaysAllow`) or where as many are healthy as must stay, and some must (the default,
    `IfHealthyBudget`), else one as a healthy one does. `own`: the least of the budgets that
    count every replica moved, healthy or not (the workload's `max_disrupted`, and the
    cluster's budgets not counted over healthy pods)."""

    above: int
    must_stay: int
    always: bool = False
    own: int | None = None


class Problem(Frozen, eq=False):  # compared (and hashed) as itself: solvers key caches on it
    classes: list[NodeClass]
    demands: list[Demand]
    objective: list[str]
    budget: Fraction | None = None
    buy_limits: dict[int, int] = field(default_factory=dict)  # buy group -> max nodes
    budget_origin: Origin | None = None
    # offers in scope where no `buy` allows buying them: `explain` tries them as a repair.
    # One a block's `regions` keep out (sold in a region the block does not name), or its
    # `providers` (of another provider, sold in its regions), is of that block's group, priced
    # and limited as it would buy it; one of no block's, of none
    spare_offers: list[NodeClass] = field(default_factory=list)
    # runs of interchangeable classes (one node each): use them in order, to break symmetry
    symmetric: list[list[str]] = field(default_factory=list)
    power_caps: list[PowerScope] = field(default_factory=list)
    option_groups: list[OptionGroup] = field(default_factory=list)
    # (user location, region code) -> round-trip milliseconds
    latency: dict[tuple[str, str], Fraction] = field(default_factory=dict)
    buy_origins: dict[int, Origin] = field(default_factory=dict)  # buy group -> its `buy` block
    buy_names: dict[int, str] = field(default_factory=dict)  # buy group -> as a message names it
    buy_providers: dict[int, tuple[str, ...]] = field(default_factory=dict)  # its `providers`, if set
    # region -> its rank where an offer is sold in several at one price, best first: 0 the
    # `terraform` block's region, 1 a region of the policy's own nodes; unlisted ranks last. A
    # tie-break, not a rule: bought nodes move to the best at no cost (`solve/home_regions.py`)
    home_regions: dict[str, int] = field(default_factory=dict)
    allow_unplaced: bool = False  # the policy's: leaving replicas out (by priority) is a success
    # moving work (`fitc plan`; `model/build.with_current` sets these from a `CurrentState`):
    # demand -> node -> its replicas running there now (nodes of this problem only), and
    # demand -> replicas running on nodes the problem lacks (those must move)
    running: dict[str, dict[str, int]] = field(default_factory=dict)
    running_elsewhere: dict[str, int] = field(default_factory=dict)
    bought_now: tuple[str, ...] = ()  # offer nodes bought earlier: kept or released
    pinned: frozenset[str] = frozenset()  # demands whose running replicas stay (movable = false)
    move_price: Fraction | None = None  # USD/h a move must save (the policy's `move_price`)
    # workload -> the most of its replicas moved in one wave (its own `max_disrupted` and the
    # cluster's disruption budgets, the least of them); max_drained: nodes emptied per wave
    max_disrupted: dict[str, int] = field(default_factory=dict)
    max_drained: int | None = None
    min_saving: Fraction = Fraction(5, 100)
    max_moves: int | None = None  # the most replicas the whole plan moves (the policy's)
    # demand -> node ("" for nodes the problem lacks) -> its replicas running there that are
    # not healthy (a pod not Ready), and workload -> how its cluster budget counts them where
    # it has some: each wave's budget is then over healthy replicas (`rules/moves.WaveBudget`)
    unhealthy: dict[str, dict[str, int]] = field(default_factory=dict)
    health_budgets: dict[str, HealthBudget] = field(default_factory=dict)
    # demand -> its replicas not healthy on the policy's nodes that must move before a healthy
    # one may: a budget of 0 that they raise once replaced (`build._raised_first`; the exact
    # model holds it, `rules/moves.stay_columns`)
    raise_first: dict[str, int] = field(default_factory=dict)

    def running_total(self, demand: str) -> int:
        """Replicas of `demand` running now, wherever they run."""
        return sum(self.running.get(demand, {}).values()) + self.running_elsewhere.get(demand, 0)
    timeline: Timeline | None = None  # with a horizon: work is placed in time too (issue 19)
    # with a horizon and a current state: running jobs that hold room on a node until a step
    # inside the horizon (`model/running_jobs.py`; the solver and `verify` read them through
    # `solve/held_room.py`); jobs that run past the horizon's end hold theirs in `capacity`
    holds: tuple[Hold, ...] = ()
    # with a horizon and a current state: workload -> its running jobs kept where they run (or
    # done), not placed again, as messages name them ("`101 (finetune)` on gpu-1 until ...")
    running_jobs: dict[str, tuple[str, ...]] = field(default_factory=dict)
    carbon_budget: Fraction | None = None  # kgCO2e over the horizon (the policy's)
    carbon_budget_origin: Origin | None = None

    def latency_ms(self, location: str, node_class: NodeClass) -> Fraction | None:
        """Round trip from users in `location` to the class's region; None when unknown."""
        if node_class.site is None:
            return None
        return self.latency.get((location, node_class.site.code))

    def within_reach(self, rule: LatencyRule, node_class: NodeClass) -> bool:
        ms = self.latency_ms(rule.location, node_class)
        return ms is not None and ms <= rule.limit_ms

    def node_class(self, class_id: str) -> NodeClass:
        return self._by_id[class_id]

    @cached_property
    def _by_id(self) -> dict[str, NodeClass]:
        return {c.id: c for c in self.classes}

    def owners(self) -> NodeOwners:
        """Node name -> its class, without listing every node of every pool."""
        return self._owners

    @cached_property
    def _owners(self) -> NodeOwners:
        return NodeOwners(self.classes)

    def demand(self, name: str) -> Demand:
        return self._demand_index[name]

    @cached_property
    def _demand_index(self) -> dict[str, Demand]:
        return {d.name: d for d in self.demands}

    @cached_property
    def apart_on_nodes(self) -> tuple[dict[str, set[str]], set[str]]:
        """Workload -> those it may not share a node with (either's rule), and the workloads
        whose nodes host nothing else, as the rules say (`Rule.packing`): read by every packer
        (one per class and batch, thousands at fleet scale)."""
        from fitlang import rules  # the registry reads this module: asked when first used

        apart: dict[str, set[str]] = {}
        exclusive: set[str] = set()
        for rule in rules.RULES:
            if rule.packing is None:
                continue
            for name, other in rule.packing.apart(self) if rule.packing.apart is not None else ():
                apart.setdefault(name, set()).add(other)
                apart.setdefault(other, set()).add(name)
            if rule.packing.alone is not None:
                exclusive.update(rule.packing.alone(self))
        return apart, exclusive

    @cached_property
    def affinity_topologies_towards(self) -> dict[str, set[str]]:
        """Workload -> the topologies of the affinities (either kind) other workloads have
        towards it: read per workload by `rules.affinity.same_domains` (a scan of every
        workload each time took 2.3 ms a call at 5,000 workloads)."""
        towards: dict[str, set[str]] = {}
        for demand in self.demands:
            for rule in demand.affinities:
                towards.setdefault(rule.target, set()).add(rule.topology)
        return towards

    def with_demands(self, demands: list[Demand], **changes: Any) -> Problem:
        """The problem with other demands (and `changes`, as `dataclasses.replace` makes
        them) and the same classes: its indexes over the classes (`owners`, class by id) are
        kept, not built again (`verify` of each wave's state asks for its replicas as the
        state holds them: a copy per wave, whose ~20,000 node names were found again in each)."""
        copy = dataclasses.replace(self, demands=demands, **changes)
        copy.__dict__["_owners"], copy.__dict__["_by_id"] = self._owners, self._by_id
        return copy

    def with_demand(self, name: str, **changes: Any) -> Problem:
        """The problem with demand `name` changed as `dataclasses.replace` would."""
        return dataclasses.replace(self, demands=[
            dataclasses.replace(d, **changes) if d.name == name else d for d in self.demands])

    def latency_demands(self) -> list[list[Demand]]:
        """The demands each workload with latency rules became: itself, or its options, whose
        replicas the rules count together (every option carries the workload's rules)."""
        by_workload: dict[str, list[Demand]] = {}
        for demand in self.demands:
            if demand.latency:
                by_workload.setdefault(demand.workload, []).append(demand)
        return list(by_workload.values())


FOUND_MEMO = 200_000  # node names `NodeOwners.find` keeps found (~30 MB at most)


class NodeOwners:
    """Which class a node name belongs to, and where in its class's `node_names` it stands.
    Named nodes (inventories) are indexed by name; made-up names (`pool-17`) are parsed, so a
    pool of millions of nodes costs nothing until one of its nodes is asked for. Where two
    classes list the same name, the later one owns it (as a dict built over all names did)."""

    def __init__(self, classes: list[NodeClass]) -> None:
        self._named: dict[str, tuple[NodeClass, int]] = {}
        # (prefix, suffix) -> (order, class, its NodeNames)
        self._made: dict[tuple[str, str], list[tuple[int, NodeClass, NodeNames]]] = {}
        self._suffixes: list[str] = []
        for order, node_class in enumerate(classes):
            names = node_class.node_names
            if isinstance(names, NodeNames):
                self._made.setdefault((names.prefix, names.suffix), []).append(
                    (order, node_class, names))
                if names.suffix not in self._suffixes:
                    self._suffixes.append(names.suffix)
            else:
                for position, name in enumerate(names):
                    self._named[name] = (node_class, position)
        self._order = {id(c): order for order, c in enumerate(classes)}
        # the names found so far (a plan at 10,000 nodes asks ~200,000 times, of ~20,000 names;
        # parsing each again was a second of CPU), up to FOUND_MEMO names: a pool of millions
        # looked up node by node stays parsed, not held
        self._found: dict[str, tuple[NodeClass, int] | None] = {}

    def find(self, name: str) -> tuple[NodeClass, int] | None:
        """(class, position in its node_names), or None for a name no class has."""
        if name in self._found:
            return self._found[name]
        found = self._search(name)
        if len(self._found) < FOUND_MEMO:
            self._found[name] = found
        return found

    def _search(self, name: str) -> tuple[NodeClass, int] | None:
        best = self._named.get(name)
        for suffix in self._suffixes:
            if not name.endswith(suffix):
                continue
            core = name[: len(name) - len(suffix)] if suffix else name
            cut = core.rfind("-") + 1
            for order, node_class, names in self._made.get((core[:cut], suffix), ()):
                position = names.position(name)
                if position is not None and (best is None or order > self._order[id(best[0])]):
                    best = (node_class, position)
        return best

    def __getitem__(self, name: str) -> NodeClass:
        found = self.find(name)
        if found is None:
            raise KeyError(name)
        return found[0]

    def get(self, name: str, default: Any = None) -> Any:
        found = self.find(name)
        return default if found is None else found[0]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.find(name) is not None

    def position(self, name: str) -> int:
        found = self.find(name)
        if found is None:
            raise KeyError(name)
        return found[1]

    def in_class_order(self, names) -> list[str]:
        """`names` in the order their classes list them (as iterating node_names gives them)."""
        return sorted(names, key=self.position)


def holds(predicate: Predicate, lookup: Any) -> bool:
    """Evaluate a checked predicate; `lookup(path)` gives the node's value or None."""
    if isinstance(predicate, Constant):
        return predicate.value
    if isinstance(predicate, AllOf):
        return all(holds(p, lookup) for p in predicate.items)
    if isinstance(predicate, AnyOf):
        return any(holds(p, lookup) for p in predicate.items)
    if isinstance(predicate, Negation):
        return not holds(predicate.item, lookup)
    assert isinstance(predicate, Compare)
    value = lookup(predicate.subject)
    if value is None:  # a node that lacks the attribute meets only negative rules
        return predicate.op in ("!=", "not in")
    if predicate.op == "in":
        return value in predicate.value
    if predicate.op == "not in":
        return value not in predicate.value
    return apply_comparison(predicate.op, value, predicate.value)


def replicas_per_node(demand: Demand, node_class: NodeClass) -> int:
    """How many replicas of `demand` alone fit on one node of the class."""
    fit = None
    for resource in RESOURCES:
        need = demand.requests[resource]
        if need == 0:
            continue
        have = node_class.capacity[resource] // need
        fit = have if fit is None else min(fit, have)
    fit = demand.replicas if fit is None else min(fit, demand.replicas)
    if node_class.max_pods is not None:  # the kubelet admits no more pods
        fit = min(fit, node_class.max_pods)
    if demand.one_per_node:
        fit = min(fit, 1)
    return max(fit, 0)


def node_limit(demand: Demand, node_class: NodeClass) -> int:
    """The most replicas of `demand` one node of the class may host when nothing else is
    known. A `spread node max_skew K` bounds the difference between nodes, not the count per
    node; on a class of several nodes a packer that does not share the count evenly keeps
    every node at K or fewer (0 <= count <= K per node keeps the skew within K). The
    encoding states the exact rule (see `rules/spread._node_spread_rows`), and `pack` shares a
    class's count evenly where the model needs more than K on a node."""
    fit = replicas_per_node(demand, node_class)
    if node_class.count > 1:
        for spread in demand.spreads:
            if spread.topology == "node":
                fit = min(fit, spread.max_skew)
    return fit


def one_class_per_node(problem: Problem) -> Problem:
    """The same problem with every node its own class: the aggregate model over it is the
    exact per-node model, so no packing step can lose optimality (for small fleets)."""
    singles: list[NodeClass] = []
    members: dict[str, list[str]] = {}
    for node_class in problem.classes:
        for name in node_class.node_names[: node_class.count]:
            # its own capacity: a class's is its largest member's (an inventory's smaller
            # nodes keep theirs in `node_capacity`), and the per-node model's rows read `capacity`
            single = dataclasses.replace(node_class, id=name, count=1, node_names=(name,),
                                         capacity=node_class.capacity_of(name),
                                         max_pods=node_class.pods_of(name))
            singles.append(single)
            members.setdefault(node_class.id, []).append(name)
    demands = [dataclasses.replace(
        demand, eligible=[n for c in demand.eligible for n in members.get(c, [])],
        excluded={n: e for c, e in demand.excluded.items() for n in members.get(c, [])},
        failing={n: e for c, e in demand.failing.items() for n in members.get(c, [])},
        preference={n: w for c, w in demand.preference.items() for n in members.get(c, [])},
        preferences=[dataclasses.replace(rule, met_by={n for c in rule.met_by
                                                       for n in members.get(c, [])})
                     for rule in demand.preferences])
        for demand in problem.demands]
    caps = [dataclasses.replace(cap, classes=[n for c in cap.classes for n in members.get(c, [])])
            for cap in problem.power_caps]
    return dataclasses.replace(problem, classes=singles, demands=demands, power_caps=caps,
                               symmetric=_alike_runs(problem.classes))


def _alike_runs(classes: Sequence[NodeClass]) -> list[list[str]]:
    """Per class, its nodes with the same room and pods, in order: the model may order each
    run's use (u[first] >= u[second]); a node with less (running work of no workload took
    some) is no longer interchangeable with the others (ordered first, it had to be used first)."""
    runs: list[list[str]] = []
    for node_class in classes:
        alike: dict[tuple, list[str]] = {}
        for name in node_class.node_names[: node_class.count]:
            room = tuple(sorted(node_class.capacity_of(name).items()))
            alike.setdefault((room, node_class.pods_of(name)), []).append(name)
        runs += [names for names in alike.values() if len(names) > 1]
    return runs
