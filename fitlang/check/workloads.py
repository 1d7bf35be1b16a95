"""The checker's workloads: profiles folded in, attributes, `gpu` and `latency` blocks, the
rule statements (`require`, `prefer`, `affinity`, `spread`) and accelerator options, built
into one `Workload` at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from fitlang import messages as msg
from fitlang.check import schema as s
from fitlang.check import types as t
from fitlang.check.blocks import (
    WorkloadBlock,
    WorkloadGpuBlock,
    WorkloadGpuOptionBlock,
    WorkloadLatencyBlock,
)
from fitlang.check.entities import EntityBuilders, _given
from fitlang.check.evaluate import Evaluator, Symbol, accelerator_hint
from fitlang.check.program import (
    Accelerator,
    AcceleratorOption,
    AffinityRule,
    Compare,
    LatencyRule,
    Origin,
    Preference,
    Program,
    Requirement,
    SpreadRule,
    Workload,
    compares,
)
from fitlang.check.values import BlockValues, _merge_into, _option_blocks, _show_number, _waived
from fitlang.diagnostics import did_you_mean, hint
from fitlang.syntax import nodes as n
from fitlang.syntax.printer import expression_text

_ZERO = Fraction(0)  # an unstated size or count: made once, not per workload (Fraction(0) is ~2 us)

# what an accelerator requirement names the kind of device by: a `gpu` block naming none of
# them asks for GPUs (`_gpu_requirements`)
DEVICE_KIND = ("model", "vendor", "family")

if TYPE_CHECKING:
    from fitlang.check.checker import ModuleScope


@dataclass
class _Rules:
    """A workload's `require`, `prefer`, `affinity` and `spread` statements, checked, in
    source order (profiles' first), gathered before the Workload is built."""

    requirements: list[Requirement] = field(default_factory=list)
    preferences: list[Preference] = field(default_factory=list)
    affinities: list[AffinityRule] = field(default_factory=list)
    spreads: list[SpreadRule] = field(default_factory=list)


class WorkloadBuilder(EntityBuilders):
    """`_build_workload` and what it needs."""

    def _build_workload(self, scope: ModuleScope, name: str, v: BlockValues) -> Workload | None:
        merged = self._with_profiles(scope, v, [name])
        block = v.node
        missing = [a for a, spec in s.WORKLOAD.attrs.items()
                   if spec.required and a not in merged.spans and not _waived(s.WORKLOAD, a, merged)]
        if any(isinstance(e, n.Use) for e in block.entries):
            self.require_attributes(scope, block, s.WORKLOAD, merged)
        # rules are checked even when an attribute is missing or wrong, so that every error shows
        b = WorkloadBlock.of(merged.values)
        workload = self._workload_from(scope, name, merged, b)
        sized = workload.options if _option_blocks(merged) else b.replicas is not None
        if missing or not sized or b.cpu is None or b.memory is None:
            return None
        return workload

    def _with_profiles(self, scope: ModuleScope, v: BlockValues, chain: list[str]) -> BlockValues:
        """The block's values with every `use`d profile folded in; the block's own win."""
        merged = BlockValues(v.origin, v.node, indent=v.indent)
        for home, statement in v.statements:
            if isinstance(statement, n.Use):
                profile = self._profile(home, statement, chain)
                if profile is not None:
                    _merge_into(merged, profile)
        own = [(home, st) for home, st in v.statements if not isinstance(st, n.Use)]
        _merge_into(merged, BlockValues(v.origin, v.node, dict(v.values), dict(v.spans),
                                        dict(v.blocks), own))
        return merged

    def _profile(self, scope: ModuleScope, use: n.Use, chain: list[str]) -> BlockValues | None:
        _, symbol = self._resolve_ref(scope, use.target, "profile")
        if symbol is None:
            return None
        if symbol.name in chain:
            self.report(
                msg.DefinitionCycle(name=symbol.name, cycle=" -> ".join(chain + [symbol.name])).diagnostic(
                    scope.path, use.target.span
                )
            )
            return None
        values = self.entity(symbol)
        if values is None:
            return None
        return self._with_profiles(self.scope(symbol.module), values, chain + [symbol.name])

    def _resolve_ref(self, scope: ModuleScope, ref: n.Ref, kind: str) -> tuple[Any, Symbol | None]:
        parts = [p.name for p in ref.parts]
        target = scope
        for part in parts[:-1]:
            inner = target.alias(part)
            if inner is None:
                self.report(
                    msg.UnknownName(
                        name=part, hint=hint(did_you_mean(part, list(target.aliases)))
                    ).diagnostic(scope.path, ref.span)
                )
                return None, None
            target = inner
        symbol = target.lookup(parts[-1])
        if symbol is None:
            if not target.was_dropped(parts[-1]):
                self.report(
                    msg.UnknownName(
                        name=parts[-1], hint=hint(did_you_mean(parts[-1], target.names(kind)))
                    ).diagnostic(scope.path, ref.parts[-1].span)
                )
            return None, None
        if symbol.kind != kind:
            self.report(
                msg.WrongKindOfName(
                    name=ref.dotted, actual=f"a {symbol.kind}", expected=f"a {kind}"
                ).diagnostic(scope.path, ref.span)
            )
            return None, None
        return target, symbol

    def _workload_from(self, scope: ModuleScope, name: str, v: BlockValues,
                       b: WorkloadBlock) -> Workload:
        """The workload, built at once from its attributes (`b`: the typed view of `v`), then
        its blocks' and statements' rules, each checked (and reported) even where another
        part is wrong."""
        gpu = v.blocks.get("gpu")
        gpu_requirements: tuple[Requirement, ...] = ()
        if gpu is not None:
            gpu_requirements = tuple(self._gpu_requirements(scope, gpu))
            if not gpu.named and "count" not in gpu.spans:
                self.report(
                    msg.MissingAttribute(block="gpu", name="gpu", attribute="`count`").diagnostic(
                        gpu.origin.path, gpu.node.kind.span
                    )
                )
        replicas = int(_given(b.replicas, _ZERO))
        latency = (tuple(self._latency_rules(replicas, v.blocks["latency"]))
                   if "latency" in v.blocks else ())
        throughput, options = self._options(name, v)
        rules = _Rules()
        self._rules(rules, v.statements)
        workload = Workload(
            name=name, kind=_given(b.kind, "service"), replicas=replicas,
            cpu_milli=int(_given(b.cpu, _ZERO) * 1000),
            memory=int(_given(b.memory, _ZERO)), disk=int(_given(b.disk, _ZERO)),
            gpu_count=int(_given(WorkloadGpuBlock.of(gpu.values).count, _ZERO)) if gpu else 0,
            labels=_given(b.labels, {}), zones=b.zones, regions=b.regions,
            priority=int(_given(b.priority, _ZERO)), gang=bool(_given(b.gang, False)),
            tolerate=_given(b.tolerate, []), image=b.image, command=b.command,
            env=_given(b.env, {}), time_limit_seconds=_seconds(b.time_limit),
            exclusive=bool(_given(b.exclusive, False)), arch=list(_given(b.arch, ["amd64"])),
            residency=b.residency,
            gpu_requirements=gpu_requirements, latency=latency, throughput=throughput,
            options=options, requirements=tuple(rules.requirements),
            preferences=tuple(rules.preferences), affinities=tuple(rules.affinities),
            spreads=tuple(rules.spreads), origin=v.origin, spans=v.spans, indent=v.indent,
            movable=bool(_given(b.movable, True)), **self._max_disrupted(v),
            duration_seconds=b.duration, earliest=b.earliest, deadline=b.deadline,
            every=b.every, within_seconds=b.within, due=b.due,
            min_segment_seconds=_min_segment(b.preemptible, b.min_segment))
        return workload

    def check_exclusive_affinities(self, program: Program) -> None:
        """`affinity W on node` beside `exclusive = true` on either workload: no node holds
        both (before, a solve packed nothing and ended undecided, or explain ran out of time)."""
        for workload in program.workloads.values():
            for rule in workload.affinities:
                target = program.workloads.get(rule.target)
                if rule.anti or rule.topology != "node" or target is None or target is workload:
                    continue
                exclusive = next((w.name for w in (workload, target) if w.exclusive), None)
                if exclusive is not None:
                    self.report(msg.ExclusiveAffinity(
                        workload=workload.name, target=target.name, exclusive=exclusive,
                    ).diagnostic(rule.origin.path, rule.origin.span))

    # ---- accelerator options -------------------------------------------------

    def _options(self, name: str,
                 v: BlockValues) -> tuple[Fraction | None, tuple[AcceleratorOption, ...]]:
        """`gpu { option MODEL { ... } }`: the acceptable models, sized in replicas or
        throughput, and the throughput they deliver together (none without valid options)."""
        gpu = v.blocks.get("gpu")
        if gpu is None or not gpu.named:
            if "throughput" in v.spans:
                self.report(
                    msg.ThroughputWithoutOptions().diagnostic(
                        v.spans["throughput"].path, v.spans["throughput"].span
                    )
                )
            return None, ()
        if "model" in gpu.spans:
            self.report(
                msg.OptionsWithModel(model=_given(WorkloadGpuBlock.of(gpu.values).model, "?")).diagnostic(
                    gpu.spans["model"].path, gpu.spans["model"].span
                )
            )
        blocks = self._distinct_options(gpu)
        models = [self._option_model(home, ident) for home, ident, _ in blocks]
        if not self._measures_agree(name, v, blocks):
            return None, ()
        by_throughput = "throughput" in v.spans
        throughput = WorkloadBlock.of(v.values).throughput if by_throughput else Fraction(1)
        options = [self._option(model, home, ident, values, gpu, v, by_throughput)
                   for model, (home, ident, values) in zip(models, blocks)]
        valid = tuple(option for option in options if option is not None)
        if throughput is not None and len(valid) == len(options):
            return throughput, valid
        return throughput, ()

    def _distinct_options(self, gpu: BlockValues) -> list[tuple[Any, n.Ident, BlockValues]]:
        seen: set[str] = set()
        distinct = []
        for home, ident, values in gpu.named:
            if ident.name in seen:
                self.report(msg.DuplicateOption(name=ident.name).diagnostic(home.path, ident.span))
                continue
            seen.add(ident.name)
            distinct.append((home, ident, values))
        return distinct

    def _measures_agree(self, name: str, v: BlockValues, blocks: list) -> bool:
        """Throughput on every option and the workload, or on none of them; never beside replicas."""
        agree = True
        for home, ident, values in blocks:
            if "replicas" in values.spans and "throughput" in values.spans:
                self.report(
                    msg.ConflictingOptionMeasures(
                        detail=f"option `{ident.name}` states both `replicas` and `throughput`"
                    ).diagnostic(home.path, values.spans["throughput"].span)
                )
                agree = False
        stated = [(home, ident) for home, ident, values in blocks if "throughput" in values.spans]
        unstated = [(home, ident) for home, ident, values in blocks if "throughput" not in values.spans]
        if stated and unstated:
            home, ident = unstated[0]
            self.report(
                msg.ThroughputOnSomeOptions(
                    detail=f"option `{ident.name}` of `{name}` has no `throughput`, but option "
                    f"`{stated[0][1].name}` states one"
                ).diagnostic(home.path, ident.span)
            )
            return False
        if stated and "throughput" not in v.spans:
            self.report(
                msg.MissingAttribute(block="workload", name=name, attribute="`throughput`").diagnostic(
                    v.origin.path, v.node.kind.span
                )
            )
            return False
        if "throughput" in v.spans and not stated:
            origin = v.spans["throughput"]
            self.report(
                msg.ThroughputOnSomeOptions(
                    detail=f"`{name}` states a `throughput`, but none of its options says what one "
                    "replica delivers"
                ).diagnostic(origin.path, origin.span)
            )
            return False
        if stated and "replicas" in v.spans:
            origin = v.spans["replicas"]
            self.report(
                msg.ConflictingOptionMeasures(
                    detail=f"`{name}` states `replicas` beside a `throughput` its options deliver"
                ).diagnostic(origin.path, origin.span)
            )
            return False
        return agree

    def _option_model(self, home: ModuleScope, ident: n.Ident) -> Accelerator | None:
        symbol = home.lookup(ident.name)
        if symbol is None or symbol.kind != "accelerator":
            self.report(
                msg.UnknownAccelerator(
                    name=ident.name,
                    hint=accelerator_hint(ident.name, did_you_mean(ident.name, home.names("accelerator"))),
                ).diagnostic(home.path, ident.span)
            )
            return None
        return self.accelerator(symbol)

    def _option(self, model: Accelerator | None, home: ModuleScope, ident: n.Ident,
                values: BlockValues, gpu: BlockValues, v: BlockValues,
                by_throughput: bool) -> AcceleratorOption | None:
        option = WorkloadGpuOptionBlock.of(values.values)
        count = _given(option.count, WorkloadGpuBlock.of(gpu.values).count)
        if count is None and "count" not in values.spans and "count" not in gpu.spans:
            self.report(
                msg.MissingAttribute(block="option", name=ident.name, attribute="`count`").diagnostic(
                    home.path, ident.span
                )
            )
        if by_throughput:
            throughput = option.throughput
        else:
            replicas = _given(option.replicas, WorkloadBlock.of(v.values).replicas)
            if replicas is None and "replicas" not in values.spans and "replicas" not in v.spans:
                self.report(
                    msg.MissingAttribute(block="option", name=ident.name, attribute="`replicas`").diagnostic(
                        home.path, ident.span
                    )
                )
            throughput = None if not replicas else 1 / Fraction(replicas)
        if model is None or count is None or throughput is None:
            return None
        return AcceleratorOption(model, int(count), throughput,
                                 None if option.cpu is None else int(option.cpu * 1000),
                                 None if option.memory is None else int(option.memory),
                                 values.origin)

    def _latency_rules(self, workload_replicas: int, block: BlockValues) -> list[LatencyRule]:
        b = WorkloadLatencyBlock.of(block.values)
        if b.users is None or b.within is None:
            return []
        replicas = int(_given(b.replicas, Fraction(1)))
        if "replicas" in block.spans and workload_replicas and replicas > workload_replicas:
            where = block.spans["replicas"]
            self.report(
                msg.OutOfRange(
                    what="replicas within reach",
                    bound=f"<= the workload's {workload_replicas} replicas",
                    value=str(replicas),
                ).diagnostic(where.path, where.span)
            )
        return [LatencyRule(location, b.within * 1000, replicas, block.origin)
                for location in b.users]

    def _gpu_requirements(self, scope: ModuleScope, gpu: BlockValues) -> list[Requirement]:
        requirements = []
        model = WorkloadGpuBlock.of(gpu.values).model
        if model is not None:
            origin = gpu.spans["model"]
            requirements.append(Requirement(Compare(("model",), "==", model, origin),
                                            f"model == {model}", origin))
        for home, statement in gpu.statements:
            predicate = Evaluator(home).predicate(statement.condition, s.ACCELERATOR_SCOPE)
            if predicate is not None:
                requirements.append(Requirement(predicate, expression_text(statement.condition),
                                                Origin(home.path, statement.span)))
        named_kind = any(c.subject[0] in DEVICE_KIND for r in requirements for c in compares(r.predicate))
        if model is None and not gpu.named and not named_kind:
            # a block that names no model, vendor or family asks for GPUs, as its name says: a CUDA
            # image is no TPU or Trainium job (session 54: `gpu { count = 1 }` over std/gcp ran on a
            # TPU v6e host, its pod requesting `google.com/tpu`)
            origin = Origin(gpu.origin.path, gpu.node.kind.span)
            requirements.append(Requirement(Compare(("family",), "==", "gpu", origin),
                                            "family == gpu", origin))
        return requirements

    def _rules(self, rules: _Rules, statements: list[Any]) -> None:
        for home, statement in statements:
            origin = Origin(home.path, statement.span)
            if isinstance(statement, n.Require):
                predicate = Evaluator(home).predicate(statement.condition, s.NODE_SCOPE)
                if predicate is not None:
                    rules.requirements.append(Requirement(
                        predicate, expression_text(statement.condition), origin))
            elif isinstance(statement, n.Prefer):
                self._preference(home, rules, statement, origin)
            elif isinstance(statement, n.Affinity):
                self._affinity(home, rules, statement, origin)
            elif isinstance(statement, n.Spread):
                self._spread(home, rules, statement, origin)

    def _preference(self, scope: ModuleScope, rules: _Rules, statement: n.Prefer,
                    origin: Origin) -> None:
        evaluator = Evaluator(scope)
        predicate = evaluator.predicate(statement.condition, s.NODE_SCOPE)
        weight = evaluator.value(statement.weight, t.NUMBER)
        if weight is not None and weight.value <= 0:
            self.report(
                msg.OutOfRange(what="a weight", bound="> 0", value=_show_number(weight.value, "")).diagnostic(
                    scope.path, statement.weight.span
                )
            )
            return
        if predicate is not None and weight is not None:
            rules.preferences.append(Preference(predicate, weight.value,
                                                   expression_text(statement.condition), origin))

    def _topology(self, scope: ModuleScope, topology: n.Topology) -> str | None:
        if isinstance(topology.key, n.String):
            if not topology.key.value.strip():
                self.report(msg.InvalidTopology(key="").diagnostic(scope.path, topology.span))
                return None
            return topology.key.value
        if topology.key.name not in s.TOPOLOGIES:
            self.report(msg.InvalidTopology(key=topology.key.name).diagnostic(scope.path, topology.span))
            return None
        return topology.key.name

    def _affinity(self, scope: ModuleScope, rules: _Rules, statement: n.Affinity,
                  origin: Origin) -> None:
        topology = self._topology(scope, statement.topology)
        target = statement.target.dotted
        if target == "self":
            if not statement.anti:
                self.report(msg.SelfAffinity().diagnostic(scope.path, statement.target.span))
                return
        else:
            _, symbol = self._resolve_ref(scope, statement.target, "workload")
            if symbol is None:
                return
            target = symbol.name
        if topology is not None:
            rules.affinities.append(AffinityRule(target, topology, statement.anti, origin))

    def _spread(self, scope: ModuleScope, rules: _Rules, statement: n.Spread,
                origin: Origin) -> None:
        topology = self._topology(scope, statement.topology)
        skew = self._whole_at_least_one(scope, statement.max_skew, "max_skew")
        least = 1 if statement.min_domains is None else \
            self._whole_at_least_one(scope, statement.min_domains, "min_domains")
        if skew is None or least is None or topology is None:
            return
        rules.spreads.append(SpreadRule(topology, skew, origin, least))

    def _whole_at_least_one(self, scope: ModuleScope, expr: n.Expr, what: str) -> int | None:
        """A spread's number (`max_skew`, `min_domains`): a whole number >= 1 (else E0310)."""
        found = Evaluator(scope).value(expr, t.NUMBER)
        if found is not None and (found.value.denominator != 1 or found.value < 1):
            self.report(msg.OutOfRange(what=what, bound="a whole number >= 1",
                                       value=_show_number(found.value, "")).diagnostic(scope.path, expr.span))
            return None
        return None if found is None else int(found.value)

    def _max_disrupted(self, v: BlockValues) -> dict[str, Any]:
        """`max_disrupted = 2` (replicas) or `20%` (of its replicas), as Workload fields."""
        value = v.values.get("max_disrupted")
        if value is None:
            return {}
        if isinstance(value, t.Share):
            return {"max_disrupted_share": Fraction(value)}
        if isinstance(value, Fraction) and value.denominator == 1 and value >= 0:
            return {"max_disrupted": int(value)}
        where = v.spans["max_disrupted"]
        found = f"`{_show_number(value, '')}`" if isinstance(value, Fraction) else "that value"
        self.report(msg.MaxDisruptedInvalid(found=found).diagnostic(where.path, where.span))
        return {}


def _seconds(value: Fraction | None) -> int | None:
    return None if value is None else int(value)


def _min_segment(preemptible: bool | None, min_segment: Fraction | None) -> Fraction | None:
    """A preemptible job's shortest segment in seconds (0: one step, the default); None for a
    job that runs unbroken (`min_segment` without `preemptible` is reported by the checker)."""
    if not preemptible:
        return None
    return min_segment if min_segment is not None else Fraction(0)

