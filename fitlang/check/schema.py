"""Which blocks exist, what they are called, and which attributes and rules they take.

The grammar accepts any `KIND [NAME] { ... }`; this table is what makes a
`pool` a pool. The language reference (docs/language.md) follows it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from fitlang.check import types as t
from fitlang.check.types import Type


@dataclass(frozen=True)
class Attr:
    type: Type
    required: bool = False
    doc: str = ""
    minimum: Fraction | None = None
    integral: bool = False
    positive: bool = False
    non_empty: bool = False
    maximum: Fraction | None = None  # default: MAXIMUM for the type's dimension

    @property
    def most(self) -> Fraction:
        return self.maximum if self.maximum is not None else MAXIMUM[self.type.dim]


# The largest magnitude of a quantity of each dimension, unless its attribute says otherwise
# (docs/language.md, "Ranges"). Generous for any real fleet; small enough that a typo cannot
# exhaust memory or overflow a machine integer.
MAXIMUM: dict[str, Fraction] = {
    "": Fraction(10 ** 12),
    "bytes": Fraction(2 ** 60),  # 1 EiB
    "rate": Fraction(10 ** 9),  # USD/h
    "money": Fraction(10 ** 12),  # USD
    "energy_price": Fraction(10 ** 6),  # USD/kWh
    "carbon_intensity": Fraction(10 ** 5),  # gCO2e/kWh (coal is about 1,000)
    "carbon": Fraction(10 ** 12),  # kgCO2e
    "power": Fraction(10 ** 12),  # W (1 TW)
    "time": Fraction(10 * 366 * 86400),  # ten years, in seconds
    "share": Fraction(1),  # 100%
    "count_or_share": Fraction(10 ** 6),  # replicas
}
MOST_NODES = Fraction(10 ** 7)  # in one pool, and bought in all
MOST_REPLICAS = Fraction(10 ** 6)
MOST_ACCELERATORS = Fraction(1024)  # per node, per replica
MOST_CORES = Fraction(10 ** 6)


@dataclass(frozen=True)
class BlockSchema:
    kind: str
    naming: str  # "required", "optional" or "none"
    attrs: dict[str, Attr] = field(default_factory=dict)
    blocks: dict[str, BlockSchema] = field(default_factory=dict)
    statements: frozenset[str] = frozenset()
    doc: str = ""


def _count(doc: str, required: bool = False, positive: bool = False,
           maximum: Fraction | None = None) -> Attr:
    return Attr(t.NUMBER, required, doc, Fraction(0), integral=True, positive=positive,
                maximum=maximum)


def _size(doc: str, required: bool = False) -> Attr:
    return Attr(t.BYTES, required, doc, Fraction(0), integral=True)


def _cpu(doc: str, required: bool = False) -> Attr:
    return Attr(t.NUMBER, required, doc, Fraction(0), maximum=MOST_CORES)


def _rate(doc: str, required: bool = False) -> Attr:
    return Attr(t.RATE, required, doc, Fraction(0))


POOL_GPU = BlockSchema("gpu", "none", {
    "model": Attr(t.ref("accelerator"), True, "the accelerator model on each node"),
    "count": _count("accelerators per node", True, positive=True, maximum=MOST_ACCELERATORS),
}, doc="accelerators on each node")

GPU_OPTION = BlockSchema("option", "required", {
    "count": _count("accelerators per replica with this model (default: the gpu block's count)",
                    positive=True, maximum=MOST_ACCELERATORS),
    "replicas": _count("replicas that do the work with this model alone (default: the "
                       "workload's replicas)", positive=True, maximum=MOST_REPLICAS),
    "throughput": Attr(t.NUMBER, doc="what one replica with this model delivers, in the unit of "
                                     "the workload's `throughput`", positive=True),
    "cpu": _cpu("cores per replica with this model (default: the workload's)"),
    "memory": _size("memory per replica with this model (default: the workload's)"),
}, doc="an acceptable accelerator model, named by the block: `option H100 { ... }`")

WORKLOAD_GPU = BlockSchema("gpu", "none", {
    # required unless every option states its own (the checker reports it)
    "count": _count("accelerators per replica", maximum=MOST_ACCELERATORS),
    "model": Attr(t.ref("accelerator"), doc="shorthand for `require model == MODEL`"),
}, blocks={"option": GPU_OPTION}, statements=frozenset({"require"}),
    doc="accelerators each replica needs: one model, any that meets the rules, or any of the "
        "`option` blocks")

_PLACEMENT_ATTRS = {
    "labels": Attr(t.MAP, doc="node labels"),
    "zone": Attr(t.STRING, doc="availability zone"),
    "region": Attr(t.STRING, doc="region"),
    "provider": Attr(t.STRING, doc="who runs the machines: aws, gcp, azure, onprem, ..."),
    "dedicated": Attr(t.STRING, doc="only workloads that tolerate this value may run here"),
    "arch": Attr(t.ARCH, doc="CPU architecture, default amd64"),
    "jurisdiction": Attr(t.JURISDICTION, doc="whose law governs data on these nodes (default: "
                                             "that of their `region` block)"),
    "cluster": Attr(t.STRING, doc="the Kubernetes cluster these nodes belong to (default: "
                                  "\"default\")"),
}

ACCELERATOR = BlockSchema("accelerator", "required", {
    "vendor": Attr(t.VENDOR, True, "who makes it"),
    "memory": _size("device memory", True),
    "family": Attr(t.FAMILY, doc="gpu (default), tpu, trainium or inferentia"),
    "bf16_tflops": Attr(t.NUMBER, doc="dense BF16 TFLOPS", minimum=Fraction(0)),
    "interconnect": Attr(t.INTERCONNECT, doc="device-to-device fabric"),
    "form_factor": Attr(t.FORM_FACTOR, doc="board form factor"),
    "tdp": Attr(t.POWER, doc="board power", minimum=Fraction(0)),
    "resource": Attr(t.STRING, doc="Kubernetes extended resource name"),
}, doc="an accelerator model and its specs")

# time (issue 19): when a pool's or an inventory's nodes run work, as ISO 8601 intervals
# "START/END"; needs a horizon
_WINDOW_ATTRS = {
    "available": Attr(t.list_of(t.STRING), doc="with a horizon: the nodes run work only in "
                                               "these windows (\"2026-12-01T00:00Z/2026-12-02"
                                               "T00:00Z\")", non_empty=True),
    "unavailable": Attr(t.list_of(t.STRING), doc="with a horizon: windows in which the nodes "
                                                 "run nothing (maintenance)", non_empty=True),
}

# time (issue 19): a price per node per hour that varies over the horizon (a spot market, a
# tariff): one per step, repeated when shorter, or a CSV file of `timestamp,price` rows (USD/h).
# Named as an electricity block's `carbon_hourly`/`carbon_file`: `hourly` alone is a power cap's
# and an electricity price's, and `price` stays the one price over the horizon. Needs a horizon.
def _per_step(listed: str, file: str, element: Type, listed_doc: str, file_doc: str) -> dict[str, Attr]:
    """A value per time step of the horizon (issue 19): a list, repeated when shorter, or a CSV
    file of `timestamp,value` rows, the value from each timestamp on."""
    return {listed: Attr(t.list_of(element), doc=listed_doc, non_empty=True, minimum=Fraction(0)),
            file: Attr(t.STRING, doc=file_doc)}


_STEP_PRICE_ATTRS = _per_step(
    "price_hourly", "price_file", t.RATE,
    "with a horizon: the price per node per hour at each time step, repeated when shorter",
    "with a horizon: a CSV file of `timestamp,price` rows (USD/h per node, relative to this "
    "file): the price from each timestamp on")

POOL = BlockSchema("pool", "required", {
    "count": _count("nodes in the pool", True, maximum=MOST_NODES),
    "cpu": _cpu("cores per node", True),
    "memory": _size("memory per node", True),
    "disk": _size("local storage per node"),
    "price": _rate("price per node per hour"),
    "features": Attr(t.list_of(t.STRING), doc="Slurm node features"),
    "power": Attr(t.POWER, doc="power a node draws in use (default: idle_power plus its "
                               "accelerators' tdp)", minimum=Fraction(0)),
    "idle_power": Attr(t.POWER, doc="power a node draws without accelerators", minimum=Fraction(0)),
    "max_pods": _count("pods the kubelet admits per node (none stated: no limit, as on Slurm)",
                       positive=True),
    **_WINDOW_ATTRS,
    **_STEP_PRICE_ATTRS,
    **_PLACEMENT_ATTRS,
}, blocks={"gpu": POOL_GPU}, doc="a class of identical nodes")

INVENTORY = BlockSchema("inventory", "required", {
    "format": Attr(t.INVENTORY_FORMAT, True, "kubectl or slurm"),
    "file": Attr(t.STRING, True, "path of the inventory file, relative to this file"),
    "price": _rate("price per node per hour"),
    "instance_prices": Attr(Type("map", of=t.RATE),
                            doc="the price per node per hour by the node's instance type "
                                "(`node.kubernetes.io/instance-type`); a type it does not list "
                                "costs `price`", minimum=Fraction(0)),
    "spot_prices": Attr(Type("map", of=t.RATE),
                        doc="the price per spot node per hour by instance type, for the nodes "
                            "whose labels say they are spot capacity (`karpenter.sh/capacity-type`, "
                            "`eks.amazonaws.com/capacityType`, GKE's and AKS's); a spot node of a "
                            "type it does not list costs its on-demand price", minimum=Fraction(0)),
    "gpu_model": Attr(t.ref("accelerator"), doc="the accelerator of its GPU nodes, where the file "
                                                "is ambiguous (Slurm's `gpu:a100`)"),
    "reserved_cpu": _cpu("CPU each node keeps for pods fitc does not place (DaemonSets, agents), "
                         "taken off what the file says"),
    "reserved_memory": _size("memory each node keeps for pods fitc does not place, taken off what "
                             "the file says"),
    "reserved_pods": _count("pods each node keeps for pods fitc does not place, taken off what "
                            "the file says"),
    "idle_power": Attr(t.POWER, doc="power each node draws in use without its accelerators (power "
                                    "caps and electricity add its accelerators' tdp); default 0",
                       minimum=Fraction(0)),
    **_WINDOW_ATTRS,
    **_STEP_PRICE_ATTRS,
    **_PLACEMENT_ATTRS,
}, doc="nodes read from `kubectl get nodes -o json` or `scontrol -d -o show node` output")

OFFER = BlockSchema("offer", "required", {
    "provider": Attr(t.PROVIDER, True, "cloud provider"),
    "instance_type": Attr(t.STRING, True, "the provider's instance type name"),
    "regions": Attr(t.list_of(t.STRING), True, "regions where it is sold", non_empty=True),
    "cpu": _cpu("vCPUs", True),
    "memory": _size("memory", True),
    "disk": _size("local storage"),
    "arch": Attr(t.ARCH, doc="CPU architecture, default amd64"),
    "price": _rate("on-demand price per hour", True),
    "spot_price": _rate("spot price per hour"),
    "region_prices": Attr(Type("map", of=t.RATE, ref="region"),
                          doc="the on-demand price per hour in other regions, by `region` name: "
                              "each is sold there at its own price (bought spot there: on demand)",
                          minimum=Fraction(0)),
    "labels": Attr(t.MAP, doc="labels the provider puts on these nodes (GKE's TPU labels, say): "
                              "rules can test them and Kubernetes output selects them"),
    "max_pods": _count("pods the kubelet admits per node, which sets the memory EKS and AKS "
                       "reserve (default: aws 110, gcp 110, azure 250)", positive=True),
}, blocks={"gpu": POOL_GPU}, doc="an instance type that can be bought")

BUY = BlockSchema("buy", "optional", {
    "offers": Attr(t.list_of(t.ref("offer")), doc="offers that may be bought (default: all)"),
    "providers": Attr(t.list_of(t.PROVIDER), doc="providers that may be used"),
    "regions": Attr(t.list_of(t.STRING), doc="regions that may be used"),
    "max_count": _count("most nodes bought in all", maximum=MOST_NODES),
    "spot": Attr(t.BOOL, doc="buy at spot prices"),
    "reserved_cpu": _cpu("CPU each node bought keeps for pods fitc does not place (DaemonSets, "
                         "agents), taken off its allocatable (default: what the current state's "
                         "DaemonSets request)"),
    "reserved_memory": _size("memory each node bought keeps for pods fitc does not place"),
    "reserved_pods": _count("pods each node bought keeps for pods fitc does not place"),
    **_STEP_PRICE_ATTRS,
}, doc="permission to buy capacity from offers")

_WORKLOAD_ATTRS = {
    "kind": Attr(t.WORKLOAD_KIND, doc="service (default) or job"),
    # not required when the gpu block has options (they are sized in replicas or throughput)
    "replicas": _count("how many replicas", True, maximum=MOST_REPLICAS),
    "throughput": Attr(t.NUMBER, doc="what the replicas must deliver together, when gpu "
                                     "options state a throughput per replica", positive=True),
    "cpu": _cpu("cores per replica", True),
    "memory": _size("memory per replica", True),
    "disk": _size("local storage per replica"),
    "labels": Attr(t.MAP, doc="node labels required"),
    "zones": Attr(t.list_of(t.STRING), doc="allowed zones", non_empty=True),
    "regions": Attr(t.list_of(t.STRING), doc="allowed regions", non_empty=True),
    "priority": Attr(t.NUMBER, doc="higher is placed first", integral=True),
    "gang": Attr(t.BOOL, doc="all replicas or none"),
    "tolerate": Attr(t.list_of(t.STRING), doc="dedicated pools this workload may use"),
    "image": Attr(t.STRING, doc="container image"),
    "command": Attr(t.list_of(t.STRING), doc="command to run"),
    "env": Attr(t.MAP, doc="environment variables"),
    "time_limit": Attr(t.TIME, doc="wall-clock limit (Slurm --time)", minimum=Fraction(0)),
    "exclusive": Attr(t.BOOL, doc="whole nodes only (Slurm --exclusive)"),
    "arch": Attr(t.list_of(t.ARCH), doc="CPU architectures the image runs on (default [amd64])",
                 non_empty=True),
    "residency": Attr(t.list_of(t.JURISDICTION), doc="jurisdictions its data may be in; nodes "
                                                     "elsewhere or of unknown jurisdiction are "
                                                     "ruled out", non_empty=True),
    # moving work (`fitc plan`, docs/language.md "Moving work")
    "max_disrupted": Attr(t.COUNT_OR_SHARE, doc="most replicas moved at once in a plan's wave: a count "
                                     "or a share of its replicas (`20%`)"),
    "movable": Attr(t.BOOL, doc="false: its running replicas stay where they run"),
    # time (issue 19): with a `horizon` in the policy; a workload without `duration` is a
    # service and runs the whole horizon
    "duration": Attr(t.TIME, doc="how long a job runs (rounded up to whole steps); needs a "
                                 "`horizon` in the policy", positive=True),
    "earliest": Attr(t.ANY, doc="the earliest start: a duration after the policy's `start` "
                                "(`2h`) or a date-time (\"2026-12-01T02:00Z\")"),
    "deadline": Attr(t.ANY, doc="when the job must be done: a duration after the policy's "
                                "`start` or a date-time"),
    "every": Attr(t.ANY, doc="a recurring job: a run every period (`24h`) or at each firing of "
                             "a cron expression in UTC (\"0 2 * * 1-5\")"),
    "within": Attr(t.TIME, doc="each run of a recurring job ends within this of its release "
                               "(default: by the next release)", positive=True),
    "due": Attr(t.ANY, doc="when the job should be done (soft: the objective `lateness` counts "
                           "the hours past it): a duration after `start` or a date-time"),
    "preemptible": Attr(t.BOOL, doc="a checkpointed job: its duration may be split into "
                                    "segments, each on any node it may use"),
    "min_segment": Attr(t.TIME, doc="the shortest segment of a preemptible job (default: one "
                                    "step)", positive=True),
}
_RULES = frozenset({"require", "prefer", "use", "affinity", "spread"})

WORKLOAD_LATENCY = BlockSchema("latency", "none", {
    "users": Attr(t.list_of(t.ref("location")), True, "where the users are", non_empty=True),
    "within": Attr(t.TIME, True, "the most round-trip time from each of them to a replica",
                   Fraction(0)),
    "replicas": _count("replicas each location must reach within that time (default 1)",
                       positive=True, maximum=MOST_REPLICAS),
}, doc="serve users in these locations within a round-trip time")

_WORKLOAD_BLOCKS = {"gpu": WORKLOAD_GPU, "latency": WORKLOAD_LATENCY}
WORKLOAD = BlockSchema("workload", "required", _WORKLOAD_ATTRS, _WORKLOAD_BLOCKS, _RULES,
                       doc="work to place")
PROFILE = BlockSchema("profile", "required",
                      {name: Attr(a.type, False, a.doc, a.minimum, a.integral, a.positive,
                                  a.non_empty, a.maximum) for name, a in _WORKLOAD_ATTRS.items()},
                      _WORKLOAD_BLOCKS, _RULES, doc="reusable workload settings")

# the targets' settings blocks in `policy` (`kubernetes { }`, ...): each target declares its own
# and registers it (check/settings.py), so this table fills as the targets are imported
SETTINGS_BLOCKS: dict[str, BlockSchema] = {}

POLICY = BlockSchema("policy", "none", {
    "objective": Attr(t.ANY, doc="cost, nodes, or a list of them in priority order"),
    "budget": _rate("cap on the total hourly cost"),
    "allow_unplaced": Attr(t.BOOL, doc="a placement that leaves replicas out is a success"),
    # moving work (`fitc plan`, docs/language.md "Moving work")
    "move_price": _rate("what moving one replica is worth: a move is made only if it saves "
                        "at least this much per hour"),
    "min_saving": Attr(t.SHARE, doc="keep the current placement unless the plan saves at "
                                    "least this share of its cost (default 5%)",
                       minimum=Fraction(0), maximum=Fraction(1)),
    "max_drained": _count("most nodes emptied in one wave of a plan", positive=True,
                          maximum=MOST_NODES),
    "max_moves": _count("most replicas a plan moves in all its waves (the `moves` the "
                        "objective counts)", maximum=MOST_REPLICAS * 1000),
    # time (issue 19): all three together, or none
    "horizon": Attr(t.TIME, doc="how far ahead work is placed in time (`7d`)", positive=True),
    "step": Attr(t.TIME, doc="the length of one time step (`1h`); the horizon is a whole "
                             "number of them", positive=True),
    "start": Attr(t.STRING, doc="when the horizon starts: an ISO 8601 date-time with its UTC "
                                "offset (\"2026-12-01T00:00Z\")"),
    "carbon_budget": Attr(t.CARBON, doc="the most CO2e the nodes in use may emit over the "
                                        "horizon (`500 kgCO2e`); needs a horizon",
                          minimum=Fraction(0)),
}, blocks=SETTINGS_BLOCKS, doc="the objective, budget and per-target settings")

_SCOPE_ATTRS = {
    "zone": Attr(t.STRING, doc="the scope: nodes in this zone"),
    "region": Attr(t.STRING, doc="the scope: nodes in this region"),
    "labels": Attr(t.MAP, doc="the scope: nodes with these labels (a site, a row)"),
}

POWER_CAP = BlockSchema("power_cap", "required", {
    # one of `cap` and `hourly` (the checker reports neither)
    "cap": Attr(t.POWER, False, "most power the nodes in scope may draw", Fraction(0)),
    "hourly": Attr(t.list_of(t.POWER), doc="the cap at each time step of the policy's horizon, "
                                           "repeated when shorter", non_empty=True,
                   minimum=Fraction(0)),
    **_SCOPE_ATTRS,
}, doc="a cap on the power drawn by the nodes in use in a zone, region or labelled site")

ELECTRICITY = BlockSchema("electricity", "required", {
    # required unless `hourly` or `prices` gives a price per step (the checker reports it)
    "price": Attr(t.ENERGY_PRICE, doc="what a kWh costs there", minimum=Fraction(0)),
    "hourly": Attr(t.list_of(t.ENERGY_PRICE), doc="a price per time step of the policy's "
                                                  "horizon, repeated when shorter",
                   non_empty=True, minimum=Fraction(0)),
    "prices": Attr(t.STRING, doc="a CSV file of `timestamp,price` rows (price in USD/kWh, "
                                 "relative to this file): the price from each timestamp on"),
    # the grid's carbon intensity (issue 19): one value, a value per step, or a CSV file
    "carbon": Attr(t.CARBON_INTENSITY, doc="the grid's carbon intensity there (gCO2e/kWh)",
                   minimum=Fraction(0)),
    **_per_step("carbon_hourly", "carbon_file", t.CARBON_INTENSITY,
                "a carbon intensity per time step, repeated when shorter",
                "a CSV file of `timestamp,intensity` rows (gCO2e/kWh, relative to this file): "
                "the intensity from each timestamp on"),
    **_SCOPE_ATTRS,
}, doc="the electricity price of the nodes in a zone, region or labelled site: a node in use "
       "costs its power draw times this price on top of its own price")

REGION = BlockSchema("region", "required", {
    "code": Attr(t.STRING, True, "the region's name as pools, offers and inventories state it"),
    "jurisdiction": Attr(t.JURISDICTION, True, "whose law governs data stored there"),
    "provider": Attr(t.STRING, doc="who runs it: aws, gcp, azure, or your own name"),
    "country": Attr(t.STRING, doc="ISO 3166 country code"),
    "city": Attr(t.STRING, doc="where it is"),
}, doc="a region: where it is and whose law governs it")

LOCATION = BlockSchema("location", "required", {
    "country": Attr(t.STRING, doc="ISO 3166 country code"),
    "city": Attr(t.STRING, doc="the city it stands for"),
}, doc="a place where users are, for latency rules")

LATENCY = BlockSchema("latency", "none", {
    "from": Attr(t.ref("location"), True, "the users' location"),
    "to": Attr(Type("map", of=t.TIME, ref="region"), True,
               "round-trip time to each region, by `region` name"),
}, doc="round-trip times from a location to regions; later blocks (and the root file's) win")

CURRENT = BlockSchema("current", "optional", {
    "file": Attr(t.STRING, True, "path of the file saying what runs now, relative to this file"),
    "format": Attr(t.STATE_FORMAT, doc="placement (fitc's JSON), kubectl (`kubectl get pods,pdb "
                                       "-A -o json`) or squeue (`squeue --json` or `squeue -h -o "
                                       "\"%i|%j|%T|%N\"`); default: told from the content"),
}, doc="what runs now (`fitc plan` starts from it): one file each; several blocks make one state")

TOP_LEVEL: dict[str, BlockSchema] = {schema.kind: schema for schema in (
    ACCELERATOR, POOL, INVENTORY, OFFER, BUY, WORKLOAD, PROFILE, POLICY, POWER_CAP, ELECTRICITY,
    REGION, LOCATION, LATENCY, CURRENT)}

# what names mean inside `require` / `prefer`
NODE_SCOPE: dict[str, Type] = {
    "zone": t.STRING, "region": t.STRING, "provider": t.STRING, "pool": t.ref("pool"),
    "arch": t.ARCH, "jurisdiction": t.JURISDICTION, "labels": t.MAP, "cpu": t.NUMBER,
    "memory": t.BYTES, "disk": t.BYTES, "price": t.RATE,
    "gpu": Type("record", label="the node's accelerator"),
    # a node's Slurm features (`Features=`, a pool's `features`): `features["nvme"]` is true
    # where the node has that feature, a condition of its own as `labels["k"] == "v"` is
    "features": Type("record", label="the node's features"),
}
ACCELERATOR_SCOPE: dict[str, Type] = {
    "model": t.ref("accelerator"), "vendor": t.VENDOR, "family": t.FAMILY, "memory": t.BYTES,
    "bf16_tflops": t.NUMBER, "interconnect": t.INTERCONNECT, "form_factor": t.FORM_FACTOR,
    "tdp": t.POWER, "count": t.NUMBER,
}

# what an expression reads of an offer (`aws_m7i_2xlarge.price`): its prices, so that an
# inventory's `instance_prices` can take the stdlib's instead of copying them
OFFER_SCOPE: dict[str, Type] = {"price": t.RATE, "spot_price": t.RATE, "instance_type": t.STRING}

TOPOLOGIES = ("node", "zone", "region")
