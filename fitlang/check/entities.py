"""The checker's builders: one per block kind, from a block's checked values (read through
the typed accessors of blocks.py) to the Program's entity (pools, offers, ...). Workloads,
with their profiles, rules and options, are built in workloads.py.
"""

from __future__ import annotations

import math
import os
import re
import stat
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from fitlang import messages as msg
from fitlang.check.blocks import (
    AcceleratorBlock,
    BuyBlock,
    CurrentBlock,
    ElectricityBlock,
    InventoryBlock,
    LatencyBlock,
    OfferBlock,
    PolicyBlock,
    PoolBlock,
    PoolGpuBlock,
    PowerCapBlock,
    RegionBlock,
)
from fitlang.check.program import (
    Accelerator,
    Buy,
    CurrentFile,
    Electricity,
    GpuSpec,
    Inventory,
    Kept,
    NodeShape,
    Offer,
    Policy,
    Pool,
    PowerCap,
    Region,
    StepPrices,
)
from fitlang.check.settings import SETTINGS
from fitlang.check.step_prices import buy_named
from fitlang.check.timing import PRICE_COLUMNS, horizon_of, read_price_file
from fitlang.check.values import BlockValues, BlockValuesStage
from fitlang.frozen import Mutable

if TYPE_CHECKING:
    from fitlang.check.checker import ModuleScope

_T = TypeVar("_T")

DEFAULT_RESOURCE = {"nvidia": "nvidia.com/gpu", "amd": "amd.com/gpu", "google": "google.com/tpu",
                    "aws": "aws.amazon.com/neuron", "intel": "gpu.intel.com/i915"}


class LatencyEntry(Mutable):
    """One `latency` block: round-trip milliseconds from a location to regions, by block name."""

    location: str
    to_ms: dict[str, Fraction]


class EntityBuilders(BlockValuesStage):
    """`_build_KIND(scope, name, values)` for every block kind but `workload`."""

    def _build_accelerator(self, scope: ModuleScope, name: str, v: BlockValues) -> Accelerator | None:
        b = AcceleratorBlock.of(v.values)
        if b.vendor is None or b.memory is None:
            return None
        return Accelerator(
            name=name, vendor=b.vendor, memory=int(b.memory), family=_given(b.family, "gpu"),
            bf16_tflops=b.bf16_tflops, interconnect=b.interconnect, form_factor=b.form_factor,
            tdp_watts=b.tdp,
            resource=_given(b.resource, DEFAULT_RESOURCE.get(b.vendor, "nvidia.com/gpu")),
            origin=v.origin)

    def _shape(self, scope: ModuleScope, b: PoolBlock | OfferBlock,
               gpu_values: BlockValues | None) -> NodeShape | None:
        if b.cpu is None or b.memory is None:
            return None
        gpu = None
        if gpu_values is not None:
            gpu_block = PoolGpuBlock.of(gpu_values.values)
            model = self._accelerator_named(scope, gpu_block.model)
            if model is None or gpu_block.count is None:
                return None
            gpu = GpuSpec(model, int(gpu_block.count))
        return NodeShape(int(b.cpu * 1000), int(b.memory), int(_given(b.disk, Fraction(0))), gpu,
                         _given(b.arch, "amd64"))

    def _accelerator_named(self, scope: ModuleScope, name: str | None) -> Accelerator | None:
        symbol = scope.lookup(name) if name else None
        return self.accelerator(symbol) if symbol else None

    def _build_pool(self, scope: ModuleScope, name: str, v: BlockValues) -> Pool | None:
        b = PoolBlock.of(v.values)
        shape = self._shape(scope, b, v.blocks.get("gpu"))
        if shape is None or b.count is None:
            return None
        self._no_tpu_slice("pool", name, shape, _given(b.labels, {}), v)
        return Pool(name=name, count=int(b.count), shape=shape, price=_given(b.price, Fraction(0)),
                    labels=_given(b.labels, {}), zone=b.zone, region=b.region,
                    provider=b.provider, dedicated=b.dedicated, features=_given(b.features, []),
                    power_watts=b.power, idle_watts=_given(b.idle_power, Fraction(0)),
                    jurisdiction=b.jurisdiction, cluster=b.cluster, origin=v.origin, spans=v.spans,
                    max_pods=None if b.max_pods is None else int(b.max_pods),
                    available=tuple(_given(b.available, [])),
                    unavailable=tuple(_given(b.unavailable, [])),
                    step_prices=self._step_prices(scope, f"pool `{name}`", v, b.price_hourly,
                                                  b.price_file))

    def _no_tpu_slice(self, block: str, name: str, shape: NodeShape, labels: dict[str, str],
                      v: BlockValues) -> None:
        """E0522 where a pool's or offer's GKE TPU topology label spans more chips than its
        nodes have: the hosts of a multi-host slice, which fitc places only as an inventory
        reads them (each node pool one slice, `rules/tpu_slices.py`); a pool or `buy` of them
        would be placed host by host, and buying one is buying its node pool whole."""
        topology = labels.get("cloud.google.com/gke-tpu-topology", "")
        count = shape.gpu.count if shape.gpu else 0
        if not count or not re.fullmatch(r"\d+(x\d+){1,2}", topology):
            return
        chips = math.prod(int(side) for side in topology.split("x"))
        if chips > count:
            where = v.spans.get("labels", v.origin)
            self.report(msg.DeclaredTpuSlice(block=block, name=name, topology=topology, chips=chips,
                                             count=count).diagnostic(where.path, where.span))

    def _build_inventory(self, scope: ModuleScope, name: str, v: BlockValues) -> Inventory | None:
        b = InventoryBlock.of(v.values)
        if b.file is None or b.format is None:
            return None
        file = (scope.module.resolved.parent / b.file).resolve()
        if not self._readable_file(scope, b.file, file, v):
            return None
        return Inventory(name=name, format=b.format, file=str(file),
                         price=_given(b.price, Fraction(0)),
                         instance_prices=self._instance_prices(name, v, b.instance_prices),
                         spot_prices=self._instance_prices(name, v, b.spot_prices, "spot_prices"),
                         labels=_given(b.labels, {}),
                         zone=b.zone, region=b.region, provider=b.provider, dedicated=b.dedicated,
                         arch=b.arch, jurisdiction=b.jurisdiction,
                         gpu_model=self._accelerator_named(scope, b.gpu_model),
                         cluster=b.cluster, origin=v.origin, spans=v.spans,
                         reserved_cpu_milli=int(_given(b.reserved_cpu, Fraction(0)) * 1000),
                         reserved_memory=int(_given(b.reserved_memory, Fraction(0))),
                         reserved_pods=int(_given(b.reserved_pods, Fraction(0))),
                         idle_watts=_given(b.idle_power, Fraction(0)),
                         available=tuple(_given(b.available, [])),
                         unavailable=tuple(_given(b.unavailable, [])),
                         step_prices=self._step_prices(scope, f"inventory `{name}`", v,
                                                       b.price_hourly, b.price_file))

    def _instance_prices(self, name: str, v: BlockValues, prices: dict[str, Fraction] | None,
                         attribute: str = "instance_prices") -> dict[str, Fraction]:
        """`instance_prices` (or `spot_prices`) as given; beside a price per step
        (`price_hourly`, `price_file`) it is a price stated twice (E0927 at the second): one
        node cannot have both."""
        per_step = [a for a in ("price_hourly", "price_file") if a in v.spans]
        if prices is not None and per_step:
            first, second = sorted((attribute, per_step[0]),
                                   key=lambda a: (v.spans[a].span.line, v.spans[a].span.column))
            where = v.spans[second]
            self.report(msg.StepPriceStatedTwice(block=f"inventory `{name}`", first=first,
                                                 second=second).diagnostic(where.path, where.span))
        return dict(prices or {})

    def _build_offer(self, scope: ModuleScope, name: str, v: BlockValues) -> Offer | None:
        b = OfferBlock.of(v.values)
        shape = self._shape(scope, b, v.blocks.get("gpu"))
        if (shape is None or b.provider is None or b.instance_type is None or b.regions is None
                or b.price is None):
            return None
        self._no_tpu_slice("offer", name, shape, _given(b.labels, {}), v)
        return Offer(name=name, provider=b.provider, instance_type=b.instance_type,
                     regions=b.regions, shape=shape, price=b.price, spot_price=b.spot_price,
                     region_prices=self._region_prices(scope, name, b.provider, v, b.region_prices),
                     labels=_given(b.labels, {}),
                     max_pods=None if b.max_pods is None else int(b.max_pods), origin=v.origin)

    def _region_prices(self, scope: ModuleScope, offer: str, provider: str, v: BlockValues,
                       by_name: dict[str, Fraction] | None) -> dict[str, Fraction]:
        """`region_prices` by region code; a region of another provider is E0213 (its names
        were checked as the map was read: each is a `region`)."""
        prices: dict[str, Fraction] = {}
        for name, price in (by_name or {}).items():
            symbol = scope.lookup(name)
            region = self.entity(symbol) if symbol else None
            if not isinstance(region, Region):
                continue
            if region.provider is not None and region.provider != provider:
                where = v.spans["region_prices"]
                self.report(msg.RegionOfAnotherProvider(offer=offer, provider=provider, region=name,
                                                        other=region.provider
                                                        ).diagnostic(where.path, where.span))
                continue
            prices[region.code] = price
        return prices

    def _build_buy(self, scope: ModuleScope, name: str | None, v: BlockValues) -> Buy:
        b = BuyBlock.of(v.values)
        offers = []
        for offer_name in _given(b.offers, []):
            symbol = scope.lookup(offer_name)
            offer = self.entity(symbol) if symbol else None
            if offer is not None:
                offers.append(offer)
        return Buy(name=name, offers=tuple(offers), providers=b.providers, regions=b.regions,
                   max_count=None if b.max_count is None else int(b.max_count),
                   spot=bool(_given(b.spot, False)), origin=v.origin, spans=dict(v.spans),
                   reserved=_kept(b.reserved_cpu, b.reserved_memory, b.reserved_pods),
                   step_prices=self._step_prices(scope, buy_named(name), v, b.price_hourly,
                                                 b.price_file))

    def _step_prices(self, scope: ModuleScope, block: str, v: BlockValues,
                     listed: list[Fraction] | None, file: str | None) -> StepPrices | None:
        """A price per node per hour per step (issue 19): `price_hourly` or `price_file`, each
        instead of the other and of `price` (E0927 at the second stated); a file's rows read
        as an electricity block's `prices` (E0908 per malformed row)."""
        stated = [a for a in ("price", "price_hourly", "price_file") if a in v.spans]
        for second in stated[1:]:
            where = v.spans[second]
            self.report(msg.StepPriceStatedTwice(block=block, first=stated[0], second=second
                                                 ).diagnostic(where.path, where.span))
        rows = self._price_file(scope, file, v, "price_file") if file is not None else None
        if listed:
            return StepPrices("price_hourly", v.spans["price_hourly"], listed=tuple(listed))
        if rows and file is not None:
            return StepPrices("price_file", v.spans["price_file"], timed=rows, file=file)
        return None

    def _build_policy(self, scope: ModuleScope, name: None, v: BlockValues) -> Policy:
        b = PolicyBlock.of(v.values)
        stated = {}
        for kind, block in v.blocks.items():  # each a registered target's settings block
            settings = SETTINGS[kind]
            stated[settings] = settings.from_block(block.values, block.origin, block.spans)
        horizon, problems = horizon_of(b.horizon, b.step, b.start, v.spans, v.origin)
        for problem in problems:
            self.report(problem)
        return Policy(objective=_given(b.objective, ["cost"]), budget=b.budget,
                      allow_unplaced=bool(_given(b.allow_unplaced, False)), origin=v.origin,
                      spans=v.spans, settings=stated, move_price=b.move_price,
                      min_saving=Fraction(_given(b.min_saving, Fraction(5, 100))),
                      max_drained=None if b.max_drained is None else int(b.max_drained),
                      max_moves=None if b.max_moves is None else int(b.max_moves),
                      horizon=horizon, carbon_budget=b.carbon_budget)

    def _build_power_cap(self, scope: ModuleScope, name: str, v: BlockValues) -> PowerCap | None:
        b = PowerCapBlock.of(v.values)
        if "cap" not in v.spans and "hourly" not in v.spans:
            self.report(msg.PowerCapMissing(name=name).diagnostic(
                scope.path, v.node.kind.span if v.node is not None else v.origin.span))
        per_step = tuple(_given(b.hourly, []))
        if b.cap is None and not per_step:
            return None
        return PowerCap(name, b.cap if b.cap is not None else max(per_step), zone=b.zone,
                        region=b.region, labels=_given(b.labels, {}), origin=v.origin,
                        per_step=per_step)

    def _build_electricity(self, scope: ModuleScope, name: str,
                           v: BlockValues) -> Electricity | None:
        b = ElectricityBlock.of(v.values)
        stated = [a for a in ("price", "hourly", "prices", "carbon", "carbon_hourly", "carbon_file")
                  if a in v.spans]
        if not stated:
            self.report(msg.ElectricityPriceMissing(name=name).diagnostic(
                scope.path, v.node.kind.span if v.node is not None else v.origin.span))
            return None
        timed = self._price_file(scope, b.prices, v, "prices") if b.prices is not None else ()
        carbon_timed = self._price_file(scope, b.carbon_file, v, "carbon_file") \
            if b.carbon_file is not None else ()
        if timed is None or carbon_timed is None:
            return None
        if all(getattr(b, a) is None for a in stated if a not in ("prices", "carbon_file")) \
                and not timed and not carbon_timed:
            return None  # a wrong value, already reported
        return Electricity(name, b.price, zone=b.zone, region=b.region,
                           labels=_given(b.labels, {}), origin=v.origin,
                           per_step=tuple(_given(b.hourly, [])), timed=timed,
                           carbon=b.carbon, carbon_per_step=tuple(_given(b.carbon_hourly, [])),
                           carbon_timed=carbon_timed,
                           carbon_origin=v.spans.get("carbon") or v.spans.get("carbon_hourly")
                           or v.spans.get("carbon_file"))

    def _price_file(self, scope: ModuleScope, file: str, v: BlockValues,
                    attribute: str) -> tuple | None:
        """A `prices` (or `carbon_file`) file's rows, read like an inventory: relative to the
        policy, each malformed row reported with its line."""
        path = (scope.module.resolved.parent / file).resolve()
        where = v.spans[attribute]
        try:
            if not stat.S_ISREG(os.stat(path).st_mode):
                raise OSError(0, "not a regular file")
            rows, problems = read_price_file(path, PRICE_COLUMNS[attribute])
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            self.report(msg.FileUnreadable(file=file, reason=reason.lower()).diagnostic(
                scope.path, where.span))
            return None
        for line, detail in problems:
            self.report(msg.PriceTableInvalid(file=file, line=line, detail=detail).diagnostic(
                scope.path, where.span))
        return None if problems else rows

    def _build_region(self, scope: ModuleScope, name: str, v: BlockValues) -> Region | None:
        b = RegionBlock.of(v.values)
        if b.code is None or b.jurisdiction is None:
            return None
        return Region(name, b.code, b.jurisdiction, b.provider, b.country, b.city, v.origin)

    def _build_location(self, scope: ModuleScope, name: str, v: BlockValues) -> str:
        return name

    def _build_latency(self, scope: ModuleScope, name: None, v: BlockValues) -> LatencyEntry | None:
        b = LatencyBlock.of(v.values)
        if b.from_ is None or b.to is None:
            return None
        return LatencyEntry(b.from_, {region: seconds * 1000 for region, seconds in b.to.items()})

    def _build_profile(self, scope: ModuleScope, name: str, v: BlockValues) -> BlockValues:
        return v

    def _build_current(self, scope: ModuleScope, name: str | None, v: BlockValues) -> CurrentFile | None:
        """A file saying what runs now: it must be there and readable, as an inventory's (its
        content is read by the commands that start from it: `Compilation.current_state`)."""
        b = CurrentBlock.of(v.values)
        if b.file is None:
            return None
        file = (scope.module.resolved.parent / b.file).resolve()
        if not self._readable_file(scope, b.file, file, v):
            return None
        return CurrentFile(name=name, file=str(file), given=b.file, format=b.format,
                           origin=v.origin, spans=v.spans)

    def _readable_file(self, scope: ModuleScope, given: str, file: Path, v: BlockValues) -> bool:
        """E0103 at the block's `file` unless `file` is a regular file that can be read."""
        try:
            if not stat.S_ISREG(os.stat(file).st_mode):  # a FIFO would block, a device lie
                raise OSError(0, "not a regular file" if not file.is_dir() else "is a directory")
            with open(file, "rb") as handle:
                handle.read(1)
        except OSError as error:
            reason = error.strerror or type(error).__name__
            self.report(msg.FileUnreadable(file=given, reason=reason.lower()).diagnostic(
                scope.path, v.spans["file"].span))
            return False
        return True


def _kept(cpu: Fraction | None, memory: Fraction | None, pods: Fraction | None) -> Kept | None:
    """A `buy` block's reservation for pods fitc does not place, where it states one (what it
    leaves out is none); None where it states nothing."""
    if cpu is None and memory is None and pods is None:
        return None
    return Kept(cpu_milli=int(_given(cpu, Fraction(0)) * 1000), memory=int(_given(memory, Fraction(0))),
                pods=int(_given(pods, Fraction(0))))


def _given(value: _T | None, default: _T) -> _T:
    """A block's attribute, or its default where the block does not state it."""
    return default if value is None else value
