"""Slurm batch scripts: one `sbatch` script per workload, pinned to the placement's nodes, and
the `slurm.conf`/`gres.conf` lines for the nodes no Slurm inventory lists (declared pools,
Kubernetes inventories, and bought cloud capacity as `State=CLOUD` nodes).

A placement with the same number of tasks on every node is one job; an uneven one is a
heterogeneous job with one component per (tasks per node, GPU type, features): Slurm applies
`--mem` and `--ntasks-per-node` to every node of a component, so each component must be
uniform for the requests to be exact. GPUs are requested per task and bound per task
(`--gpus-per-task=TYPE:N --gpu-bind=per_task:N`): on Slurm 22.05 a typed `--gpus-per-task`
without `--gpu-bind` leaves CUDA_VISIBLE_DEVICES empty in every task (seen on a real cluster).

Every user string that reaches the script is quoted for the shell (`shlex.quote`);
names that Slurm reads from `#SBATCH` lines (partition, account) must be plain
Slurm names, or the target refuses them (E0601).
"""

from __future__ import annotations

import math
import re
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from fitlang import messages as msg
from fitlang.check import types as t
from fitlang.check.program import Program, TargetSettings
from fitlang.check.schema import Attr, BlockSchema
from fitlang.check.settings import register
from fitlang.diagnostics import Diagnostic
from fitlang.model.problem import NodeClass, NodeNames
from fitlang.model.slurm_cpus import in_whole_cores, task_cpus
from fitlang.rules.base import Rule
from fitlang.target_names import job_name
from fitlang.targets import slurm_fidelity, slurm_runs
from fitlang.targets.base import CompileContext, Findings, Split, Target, by_message
from fitlang.targets.slurm_partition import PARTITION_LABEL, partition_rules

if TYPE_CHECKING:
    import jinja2

_SLURM_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MIB = 2 ** 20
NODES_FILE = "fitc-nodes.conf"  # slurm.conf lines, for `Include`
GRES_FILE = "fitc-gres.conf"  # gres.conf lines
# Slurm takes at most 64Ki hosts in one range of a host list (`Too many hosts in range`, Slurm
# 22.05 `scontrol show hostnames`); several ranges share one bracket: `pool-[0-65535,65536-99999]`
HOSTLIST_RANGE = 65536
FITC_PARTITION = "fitc"  # the partition of the nodes fitc declares, when the policy names none


def _environment() -> jinja2.Environment:
    import jinja2  # only where files are written: checking a policy needs none of it

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates" / "slurm"),
        undefined=jinja2.StrictUndefined, keep_trailing_newline=True, trim_blocks=True,
        lstrip_blocks=True, autoescape=False)
    environment.filters["shell"] = shlex.quote
    environment.filters["shell_words"] = lambda words: " ".join(shlex.quote(w) for w in words)
    environment.filters["comment"] = lambda text: " ".join(str(text).split())
    return environment


def slurm_time(seconds: int) -> str:
    minutes = math.ceil(seconds / 60)
    days, minutes = divmod(minutes, 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return f"{days}-{hours:02d}:{minutes:02d}:00" if days else f"{hours:02d}:{minutes:02d}:00"


@dataclass(frozen=True)
class Gres:
    """How Slurm names a node class's accelerators: `gpu` with a type for GPUs (as the
    inventory's `Gres=` says, else the model in lower case), `neuron` for AWS Trainium and
    Inferentia devices (/dev/neuronN), which are no GPUs to Slurm's gpu plugin (ParallelCluster
    configures GRES for NVIDIA GPUs only), `tpu` for TPU chips."""

    name: str
    type: str | None

    def spec(self, count: int) -> str:
        """As `Gres=` and `--gres` write it: `gpu:h100:8`, `neuron:16`."""
        return f"{self.name}:{self.type}:{count}" if self.type else f"{self.name}:{count}"

    def per_task(self, count: int) -> str:
        """As `--gpus-per-task` writes it: `h100:1`."""
        return f"{self.type}:{count}" if self.type else str(count)


# The TPU chips that a TPU VM's kernel hands to user space through VFIO (`/dev/vfio/N`, one
# IOMMU group a chip) rather than its own `accel` driver (`/dev/accelN`): v6e (Trillium) on.
# Ray's TPU accelerator manager and JAX's TPU discovery count a host's chips by either name.
_TPUS_BY_VFIO = frozenset({"TPU_V6E"})


def device_files(node_class: NodeClass, gres: Gres) -> str:
    """The device files of a node's accelerators, as gres.conf's `File=` names them (slurmd
    checks each exists, and hands a job the ones of the GRES it gets): NVIDIA GPUs
    `/dev/nvidiaN`; AWS Trainium and Inferentia `/dev/neuronN` (the Neuron driver's, one a
    device); TPU chips `/dev/accelN` (v4, v5e, v5p), `/dev/vfio/N` (v6e)."""
    last = node_class.capacity["gpu"] - 1
    if gres.name == "gpu":
        return f"/dev/nvidia[0-{last}]"
    if gres.name == "tpu":
        vfio = node_class.accelerator is not None and node_class.accelerator.name in _TPUS_BY_VFIO
        return f"/dev/vfio/[0-{last}]" if vfio else f"/dev/accel[0-{last}]"
    return f"/dev/neuron[0-{last}]"


def gres_of(node_class: NodeClass) -> Gres | None:
    if not node_class.capacity["gpu"]:
        return None
    if node_class.gres_type:
        return Gres("gpu", node_class.gres_type)
    accelerator = node_class.accelerator
    if accelerator is None:
        return None
    family = accelerator.family
    if family in ("trainium", "inferentia"):
        return Gres("neuron", None)
    if family == "gpu":
        return Gres("gpu", re.sub(r"[^a-z0-9_]", "_", accelerator.name.lower()))
    if family == "tpu":
        return Gres("tpu", None)
    return None  # an accelerator family Slurm has no name for (refused in `problems`)


def slurm_cpus(node_class: NodeClass) -> int:
    return max(1, node_class.capacity["cpu"] // 1000)


def slurm_memory_mib(node_class: NodeClass) -> int:
    return max(1, node_class.capacity["memory"] // MIB)


@dataclass
class Component:
    """Nodes of one workload that get the same tasks and the same requests."""

    nodes: list[str]
    tasks_per_node: int
    gres: Gres | None
    features: tuple[str, ...]


@dataclass(frozen=True, kw_only=True)
class SlurmSettings(TargetSettings):
    """The policy's `slurm { }` block."""

    partition: str | None = None
    account: str | None = None

    def work_partition(self) -> str | None:
        return self.partition


register(BlockSchema("slurm", "none", {"partition": Attr(t.STRING), "account": Attr(t.STRING)}),
         SlurmSettings)


def _srun_in_command(workload) -> list[Diagnostic]:
    """W0624: the script runs the command under `srun`, so a command that is `srun ...` itself
    asks for a job step inside the step that holds the job's CPUs: on a real Slurm 22.05 the
    inner `srun` waited, printing nothing, until the job was cancelled (a user coming from
    Slurm writes `srun` in front of the command, as in their own batch scripts)."""
    if not workload.command or Path(workload.command[0]).name != "srun":
        return []
    where = workload.spans.get("command", workload.origin)
    return [msg.CommandRunsSrun(
        target="slurm",
        detail=(f"the command of `{workload.name}` starts with `srun`, and the script runs it "
                "with `srun` already: the inner `srun` waits for CPUs its own job step holds, "
                "and the job hangs until its time limit")).diagnostic(where.path, where.span)]


def settings(context: CompileContext) -> SlurmSettings:
    """The policy's `slurm` block, or its defaults."""
    return context.program.policy.settings_of(SlurmSettings)


class Slurm(Target):
    name = "slurm"
    needed = "command"
    enforces_timing = True  # `--begin` and `--deadline` per job

    def runs(self, workload) -> bool:
        return bool(workload.command)

    def owns(self, context: CompileContext, node_class: NodeClass) -> bool:
        return _from_slurm_inventory(context, node_class)

    @classmethod
    def rules(cls, program: Program) -> tuple[Rule, ...]:
        return partition_rules(program)

    def settings_problems(self, program: Program) -> list[Diagnostic]:
        """The `slurm` block's names (read from `#SBATCH` lines: a `$(...)` there is no
        command, a newline ends the line) and the environment of the jobs it writes."""
        need = self.needs_of(program)
        problems = super().settings_problems(program)
        stated = program.policy.settings_of(SlurmSettings)
        for label, value in (("partition", stated.partition), ("account", stated.account)):
            if value is not None and not _SLURM_NAME.match(value):
                where = stated.spans.get(label, stated.origin or program.policy.origin)
                problems.append(need(f"slurm {label} {value!r} is not a Slurm name (letters, digits, "
                                     "`_.-`)", where))
        for workload in program.workloads.values():
            problems += [need(f"environment variable name {name!r} of `{workload.name}` is not a "
                              "shell variable name", workload.spans.get("env"))
                         for name in workload.env if self.runs(workload) and not _SHELL_NAME.match(name)]
        return problems

    def problems(self, context: CompileContext) -> list[Diagnostic]:
        need = self.needs(context)
        problems = self.unwritten(context, need) + self.settings_problems(context.program)
        context = self.written(context)  # the rest: of the jobs written
        for workload in context.placed_workloads():
            problems += self._workload_problems(workload, context.splits(workload), need)
            problems += _srun_in_command(workload)
        problems += self._partition_problems(context, need)
        if context.problem.timeline is None:
            problems += self._whole_cpu_problems(context, need)
        else:
            problems += _whole_cpus_in_time(context, need)
        problems += _timing_problems(context, need)
        return by_message(problems)

    def _whole_cpu_problems(self, context: CompileContext, need: Findings) -> list[Diagnostic]:
        """Slurm gives tasks whole CPUs, and each job whole cores: the solver's millicores,
        rounded up per task and per job, must still fit each node (two 500m tasks of different
        workloads take 2 CPUs; on nodes of 2 threads per core, two 1-CPU jobs take 4)."""
        asked: dict[str, int] = {}
        classes = {}
        for workload in context.placed_workloads():
            for split in context.splits(workload):
                for node, count in split.per_node.items():
                    cpus = in_whole_cores(count * _cpus_per_task(workload), split.node_class.threads_per_core)
                    asked[node] = asked.get(node, 0) + cpus
                    classes[node] = split.node_class
        problems = []
        for node, cpus in asked.items():
            if cpus > slurm_cpus(classes[node]):
                problems.append(need(f"node {node} would run {_rounded(cpus, classes[node])} in all, "
                                     f"more than its {slurm_cpus(classes[node])}: "
                                     f"{_whole_advice(classes[node])}", classes[node].origin))
        return problems

    def _workload_problems(self, workload, splits: list[Split],
                           need: Findings) -> list[Diagnostic]:
        problems = []
        for split in splits:
            node_class = split.node_class
            bad = [n for n in split.nodes if not _SLURM_NAME.match(n)]
            if bad:
                problems.append(need(f"node name {bad[0]!r} is not a Slurm node name",
                                     node_class.origin))
            # a workload with GPUs runs only where the class has an accelerator (eligibility)
            accelerator = node_class.accelerator
            if workload.gpu_count and accelerator is not None and gres_of(node_class) is None:
                problems.append(need(f"`{workload.name}` runs on {accelerator.name} "
                                     f"({node_class.pool}), which Slurm cannot schedule (no GRES)",
                                     workload.origin))
        return problems

    def _partition_problems(self, context: CompileContext, need: Findings) -> list[Diagnostic]:
        """The partition fitc declares for its nodes must not be one a Slurm inventory has."""
        declared = _declared_classes(context)
        partition = settings(context).partition
        if not declared or partition is None:
            return []
        known = [c for c in context.problem.classes if c not in declared
                 and PARTITION_LABEL + partition in c.labels]
        if not known:
            return []
        return [need(f"slurm partition {partition!r} exists in inventory `{known[0].pool}`, and the "
                     f"nodes of `{declared[0].pool}` are in no Slurm inventory: add them to the "
                     "cluster, or place the work on the inventory's nodes only",
                     context.program.policy.origin,
                     related=[(known[0].origin, f"inventory `{known[0].pool}`"),
                              (declared[0].origin, f"`{declared[0].pool}`")])]

    def fidelity(self, context: CompileContext, files: dict[str, str]) -> list[Diagnostic]:
        # the reader shares no code with this renderer: it reads the files as Slurm does
        return slurm_fidelity.check(context, files, self.mismatches(context))

    def render_plan(self, context: CompileContext, stages) -> tuple[dict[str, str], list[Diagnostic]]:
        from fitlang.targets import slurm_plan  # a script per wave: requeue, update, release

        return slurm_plan.render_plan(context, stages)

    def plan_fidelity(self, context: CompileContext, stages, files: dict[str, str]) -> list[Diagnostic]:
        from fitlang.targets import slurm_plan_fidelity  # replays the scripts; shares no code

        return slurm_plan_fidelity.check_plan(context, stages, files, self.mismatches(context))

    def render_reached(self, context: CompileContext, stages) -> tuple[dict[str, str], list[Diagnostic]]:
        from fitlang.targets import slurm_plan  # the end state's scripts, and what runs now

        return slurm_plan.render_reached(self, context, stages)

    def render(self, context: CompileContext) -> dict[str, str]:
        environment = _environment()
        template = environment.get_template("job.sbatch.j2")
        declared = _declared_classes(context)
        declared_ids = {c.id for c in declared}
        files: dict[str, str] = {}
        submitted = []  # what `submit.sh` runs, with a horizon: each job's script or submit script
        for workload in context.placed_workloads():
            if not workload.command:
                continue
            timed = _timed_kind(context, workload)
            if timed in ("array", "segments"):
                render = self._array if timed == "array" else self._segments
                made = render(template, context, workload, declared_ids)
                submitted += [n for n in made if n.endswith(slurm_runs.ARRAY_SUFFIX)]
            elif timed == "starts":
                made = self._starts_apart(template, context, workload, declared_ids)
                submitted += list(made)
            elif timed == "runs":
                made = self._runs_apart(template, context, workload, declared_ids)
                submitted += list(made)
            else:
                made = {f"{job_name(workload)}.sbatch": template.render(
                    self._values(context, workload, context.splits(workload), declared_ids))}
                submitted += list(made)
            files.update(made)
        if context.problem.timeline is not None and submitted:
            source = " ".join(Path(context.program.path).name.split())
            files[slurm_runs.SUBMIT_ALL] = slurm_runs.submit_all_script(source, submitted)
        if declared:
            files.update(self._cluster_files(environment, context, declared))
        return files

    def _values(self, context: CompileContext, workload, splits: list[Split],
                declared_ids: set[str]) -> dict:
        components = _components(splits)
        partition = settings(context).partition
        if partition is None and any(s.node_class.id in declared_ids for s in splits):
            partition = FITC_PARTITION
        if partition is None:
            partition = _holding_partition(splits)
        return {
            "source": Path(context.program.path).name, "workload": workload,
            "placement_summary": ", ".join(f"{n} x{c.tasks_per_node}" for c in components
                                           for n in c.nodes),
            "job_name": job_name(workload), "components": components,
            "cpus_per_task": _cpus_per_task(workload),
            "memory_mib": max(1, math.ceil(workload.memory / MIB)),
            "gpus_per_task": workload.gpu_count,
            "partition": partition, "account": settings(context).account,
            "time": slurm_time(workload.time_limit_seconds) if workload.time_limit_seconds else None,
            "env": sorted(workload.env.items()), "command": list(workload.command),
            "array": None, "segment": None, "start": None, "run": None,
            **_timing(context, workload),
        }

    def _array(self, template: jinja2.Template, context: CompileContext, workload,
               declared_ids: set[str]) -> dict[str, str]:
        """A recurring job: one held array, a task per run, and the script that gives each
        task its run's start, deadline and nodes (`slurm_runs`)."""
        timeline = context.problem.timeline
        runs = slurm_runs.runs(context, workload)
        first = runs[0]
        values = self._values(context, workload, list(first.splits), declared_ids)
        values.update(_timing_at(timeline, first.start, first.deadline,
                                 None if workload.time_limit_seconds else first.end - first.start))
        values.update(array=f"0-{len(runs) - 1}", hold=True,
                      placement_summary=f"{len(runs)} runs; run 0: {values['placement_summary']}")
        script = f"{job_name(workload)}.sbatch"
        tasks = [(index, _slurm_instant(timeline, run.start), _slurm_instant(timeline, run.deadline),
                  None if run.nodes() == first.nodes() else ",".join(run.nodes()))
                 for index, run in enumerate(runs) if index]
        return {script: template.render(values),
                job_name(workload) + slurm_runs.ARRAY_SUFFIX:
                    slurm_runs.array_submit_script(script, tasks)}

    def _segments(self, template: jinja2.Template, context: CompileContext, workload,
                  declared_ids: set[str]) -> dict[str, str]:
        """A preemptible job split in segments: a script each, with the segment's begin and
        length, and the script that submits them chained (`slurm_runs`)."""
        timeline = context.problem.timeline
        segments = slurm_runs.segments(context, workload)
        files, order = {}, []
        for index, segment in enumerate(segments):
            values = self._values(context, workload, list(segment.splits), declared_ids)
            values.update(_timing_at(timeline, segment.start, segment.deadline,
                                     segment.end - segment.start))
            values.update(segment=f"{index + 1} of {len(segments)}")
            name = f"{job_name(workload)}-seg{index}.sbatch"
            files[name] = template.render(values)
            order.append(name)
        chained = list(zip(order, slurm_runs.follows(segments)))
        files[job_name(workload) + slurm_runs.ARRAY_SUFFIX] = slurm_runs.chain_submit_script(chained)
        return files

    def _starts_apart(self, template: jinja2.Template, context: CompileContext, workload,
                      declared_ids: set[str]) -> dict[str, str]:
        """A job whose replicas the solver starts at different steps: a script per start
        (`NAME-startK.sbatch`, in start order), each with its start's `--begin`, nodes and
        tasks, and the window's `--deadline`. Each replica runs once and unbroken, so the jobs
        need no chaining: Slurm runs each from its own begin."""
        timeline = context.problem.timeline
        starts = slurm_runs.starts(context, workload)
        files = {}
        for index, group in enumerate(starts):
            values = self._values(context, workload, list(group.splits), declared_ids)
            length = None if workload.time_limit_seconds else group.end - group.start
            values.update(_timing_at(timeline, group.start, group.deadline, length))
            values.update(start=f"{index + 1} of {len(starts)}")
            files[f"{job_name(workload)}{slurm_runs.START_INFIX}{index}.sbatch"] = template.render(values)
        return files

    def _runs_apart(self, template: jinja2.Template, context: CompileContext, workload,
                    declared_ids: set[str]) -> dict[str, str]:
        """A recurring job whose runs one array cannot run as solved (`_array_refusals`): a
        script per run, `NAME-runK.sbatch`, or per start of a run whose replicas start apart,
        `NAME-runK-startJ.sbatch`; each its own begin, the run's window's end as deadline, its
        nodes and tasks (a heterogeneous job where they differ). Each runs once: `sbatch` each."""
        timeline = context.problem.timeline
        found = slurm_runs.run_starts(context, workload)
        per_run: dict[int, int] = {}
        for run, _ in found:
            per_run[run] = per_run.get(run, 0) + 1
        runs = slurm_runs.demand_of(context, workload).runs
        files: dict[str, str] = {}
        seen: dict[int, int] = {}  # run -> the index of its last start written
        for run, group in found:
            values = self._values(context, workload, list(group.splits), declared_ids)
            length = None if workload.time_limit_seconds else group.end - group.start
            values.update(_timing_at(timeline, group.start, group.deadline, length))
            name = f"{job_name(workload)}-run{run}"
            values["run"] = f"{run + 1} of {len(runs)}"
            if per_run[run] > 1:
                index = seen[run] = seen.get(run, -1) + 1
                name += f"{slurm_runs.START_INFIX}{index}"
                values["start"] = f"{index + 1} of {per_run[run]}"
            files[f"{name}.sbatch"] = template.render(values)
        return files

    def _cluster_files(self, environment: jinja2.Environment, context: CompileContext,
                       declared: list[NodeClass]) -> dict[str, str]:
        groups = []
        used: set[str] = set()  # the GRES names slurm.conf's `GresTypes` must list for them
        for node_class in declared:
            names = hostlist(_declared_nodes(context, node_class))
            gres = gres_of(node_class)
            if names:
                used |= {gres.name} if gres else set()
                groups.append({"class": node_class, "names": names, "gres": gres,
                               "files": device_files(node_class, gres) if gres else None,
                               "cpus": slurm_cpus(node_class),
                               "memory_mib": slurm_memory_mib(node_class),
                               "features": [f for f in node_class.features if _SLURM_NAME.match(f)],
                               "cloud": node_class.provisioned})
        values = {"source": Path(context.program.path).name, "groups": groups,
                  "gres_types": ",".join(sorted(used, key=lambda n: (n != "gpu", n))),  # gpu first
                  "partition": settings(context).partition or FITC_PARTITION,
                  "nodes_file": NODES_FILE, "gres_file": GRES_FILE}
        return {NODES_FILE: environment.get_template("nodes.conf.j2").render(values),
                GRES_FILE: environment.get_template("gres.conf.j2").render(values)}


def _cpus_per_task(workload) -> int:
    return task_cpus(workload.cpu_milli)


def _holding_partition(splits: list[Split]) -> str | None:
    """With no partition in the policy, one that holds every node of the job, as the Slurm
    inventory states (`Partitions=`): without `--partition` Slurm runs a job in its default
    partition, which `scontrol show node` does not name, and a node outside it is "Requested
    node configuration is not available" (Slurm 22.05: a job on a node of partition `gpu`
    only, where `cpu` is the default). The first by name where several hold them all; None
    where the nodes state no partition, or none holds them all (the fidelity check says so)."""
    held = [set(_partitions_of(s.node_class)) for s in splits]
    if not held or not all(held):
        return None
    common = set.intersection(*held)
    return min(common) if common else None


def _partitions_of(node_class) -> list[str]:
    return [k.removeprefix(PARTITION_LABEL) for k in node_class.labels if k.startswith(PARTITION_LABEL)]


def _components(splits: list[Split]) -> list[Component]:
    """Group the workload's nodes by what each of them runs, in placement order."""
    components: dict[tuple, Component] = {}
    for split in splits:
        gres = gres_of(split.node_class)
        features = tuple(sorted(f for f in split.node_class.features if _SLURM_NAME.match(f)))
        for node in split.nodes:
            key = (split.per_node[node], gres, features)
            component = components.setdefault(key, Component([], key[0], gres, features))
            component.nodes.append(node)
    return list(components.values())


def _from_slurm_inventory(context: CompileContext, node_class: NodeClass) -> bool:
    inventory = context.program.inventories.get(node_class.pool)
    return inventory is not None and inventory.format == "slurm"


def _declared_classes(context: CompileContext) -> list[NodeClass]:
    """Classes whose nodes no Slurm cluster lists yet: fitc writes their slurm.conf lines; not
    a Kubernetes inventory's, nor a pool whose work another target runs (W0623), unless a job
    written runs there."""
    owner = context.problem.owners()
    asked = context.left_on or _kubectl_classes(context)
    used = {owner[a.node].id for a in context.placement.assignments} if asked else set()
    others = {owner[node].id for node in context.left_on}
    return [c for c in context.problem.classes if not _from_slurm_inventory(context, c)
            and len(_declared_nodes(context, c))
            and (c.id in used or (c.id not in others and not _from_kubectl_inventory(context, c)))]


def _from_kubectl_inventory(context: CompileContext, node_class: NodeClass) -> bool:
    inventory = context.program.inventories.get(node_class.pool)
    return inventory is not None and inventory.format == "kubectl"


def _kubectl_classes(context: CompileContext) -> bool:
    """Whether any class is a Kubernetes inventory's: its nodes are declared to Slurm only
    where a job written runs (a mixed policy's services run there, on Kubernetes)."""
    return any(_from_kubectl_inventory(context, c) for c in context.problem.classes)


def _declared_nodes(context: CompileContext, node_class: NodeClass) -> Sequence[str]:
    """All nodes of a pool or inventory; of an offer, only the nodes bought."""
    if node_class.provisioned:
        return context.placement.bought.get(node_class.id, [])
    return node_class.node_names


def hostlist(names: Sequence[str]) -> list[str]:
    """Slurm host list items that name exactly `names`: a pool's made-up names (`big-0` ...
    `big-9999999`) as ranges, `big-[0-65535,65536-131071,...]`, so that a pool of ten million
    nodes is a line, not ten million; other names (inventories, nodes bought) one by one.
    Made-up names have no leading zeros, as a range from 0 writes them (its width is 1)."""
    if isinstance(names, NodeNames) and not names.suffix and len(names) > 1:
        ranges = ",".join(f"{low}-{min(low + HOSTLIST_RANGE, names.stop) - 1}"
                          for low in range(names.start, names.stop, HOSTLIST_RANGE))
        return [f"{names.prefix}[{ranges}]"]
    return list(names)


# ---- time (issue 19): `--begin` at the solved start, `--deadline` at the window's end ----------


def _starts(context: CompileContext, workload) -> set[int]:
    """The steps the replicas of a workload (or of one option of it) start at."""
    name = workload.name if workload.option is None else f"{workload.name}[{workload.option}]"
    return {getattr(a, "start", 0) for a in context.placement.assignments if a.workload == name}


def _timed_kind(context: CompileContext, workload) -> str | None:
    """How a workload that starts more than once is written: `array` (a recurring job),
    `runs` (a recurring job one array cannot run as solved: a script per run),
    `segments` (a preemptible job run in pieces), `starts` (a job whose replicas start apart:
    a script per start); None: one script (or refused, for a gang or a service)."""
    if context.problem.timeline is None or len(_starts(context, workload)) < 2:
        return None
    demand = slurm_runs.demand_of(context, workload)
    if len(demand.runs) > 1:
        return "runs" if _array_refusals(context, workload) else "array"
    if demand.min_segment is not None:
        return "segments"
    if demand.job and not demand.gang:
        return "starts"
    return None


def _timing_problems(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """One script runs a workload's replicas together: they must start at one step, unless
    the workload recurs (a job array) or is preemptible (a script per segment)."""
    if context.problem.timeline is None:
        return []
    problems = []
    for w in context.placed_workloads():
        kind = _timed_kind(context, w)
        if kind == "runs":
            scripts = len(slurm_runs.run_starts(context, w))
            problems += [need(f"{p}: written as {scripts} jobs, one per run (and per start of a "
                              "run whose replicas start apart), each run's own nodes and tasks",
                              w.spans.get("every", w.origin), kind=msg.RunsWrittenApart)
                         for p in _array_refusals(context, w)]
        elif kind == "segments":
            problems.append(need(
                f"`{w.name}` runs in {len(slurm_runs.segments(context, w))} segments, one job each "
                "chained by `--dependency=afterany`; Slurm stops each at its `--time`: the job "
                "must checkpoint and resume", w.spans.get("preemptible", w.origin),
                kind=msg.SegmentsNeedCheckpoint))
        elif kind == "starts":
            problems.append(need(
                f"the replicas of `{w.name}` start at {len(_starts(context, w))} different times: "
                "written as a job per start, each with its own tasks (`SLURM_NTASKS`, "
                "`SLURM_PROCID` count within it)", w.origin, kind=msg.ReplicasStartApart))
        elif kind is None and len(_starts(context, w)) > 1:  # a gang: one job, started together
            problems.append(need(
                f"the replicas of `{w.name}` start at different times ({len(_starts(context, w))} "
                "starts): a gang runs as one job, whose tasks start together", w.origin))
    return problems


def _array_refusals(context: CompileContext, workload) -> list[str]:
    """Why one job array cannot run a recurring job's runs as solved (empty: it can)."""
    found = slurm_runs.array_problems(context, workload)
    if not found and len(_components(list(slurm_runs.runs(context, workload)[0].splits))) > 1:
        # Slurm 22.05: "Invalid job array specification" for an array with `hetjob`
        found = [f"a run of `{workload.name}` is a heterogeneous job (nodes with different "
                 "tasks, GPUs or features), and Slurm has no heterogeneous job arrays"]
    return found


def _timing(context: CompileContext, workload) -> dict[str, str | None]:
    """`begin` (the solved start), `deadline` (the end of the workload's window, for a job),
    and `time` the job's duration (a service's: to the horizon's end) where it states no
    `time_limit`: Slurm 22.05 reads
    `YYYY-MM-DDTHH:MM:SS` in the controller's time zone, so these are UTC (docs/targets.md)."""
    timeline = context.problem.timeline
    starts = _starts(context, workload)
    values: dict[str, str | None] = {"begin": None, "deadline": None}
    if timeline is None or len(starts) != 1:
        return values
    name = workload.name if workload.option is None else f"{workload.name}[{workload.option}]"
    window = context.problem.demand(name).window
    start = starts.pop()
    values["begin"] = _slurm_instant(timeline, start)
    if window is not None and workload.duration_seconds is not None:
        values["deadline"] = _slurm_instant(timeline, window.latest_start + window.duration)
        if not workload.time_limit_seconds:
            values["time"] = slurm_time(window.duration * timeline.step_seconds)
    elif not workload.time_limit_seconds:
        # a service is solved to run to the horizon's end; with no `--time` the partition's
        # DefaultTime would stop it (Slurm's default for a job), maybe within the hour
        values["time"] = slurm_time((timeline.steps - start) * timeline.step_seconds)
    return values


def _timing_at(timeline, start: int, deadline: int, steps: int | None) -> dict[str, str | None]:
    """`_timing` for one run or segment: its start, its window's end, and `--time` its length
    in `steps` (None: the workload's own `time_limit`)."""
    values: dict[str, str | None] = {"begin": _slurm_instant(timeline, start),
                                     "deadline": _slurm_instant(timeline, deadline)}
    if steps is not None:
        values["time"] = slurm_time(steps * timeline.step_seconds)
    return values


def _slurm_instant(timeline, step: int) -> str:
    from fitlang.solve.timeline import instant, iso

    return iso(instant(timeline, step)).removesuffix("Z")


def _whole_cpus_in_time(context: CompileContext, need: Findings) -> list[Diagnostic]:
    """`_whole_cpu_problems` step by step: what runs on a node at once, in whole CPUs and in
    whole cores per job (a job: the replicas of one workload that start together)."""
    timeline = context.problem.timeline
    assert timeline is not None
    views = {(w.name if w.option is None else f"{w.name}[{w.option}]"): w
             for w in context.placed_workloads()}
    owners = context.problem.owners()
    jobs: dict[tuple[str, str, int, int], int] = {}  # (node, workload, start, end) -> CPUs
    for assignment in context.placement.assignments:
        start = getattr(assignment, "start", 0)
        key = (assignment.node, assignment.workload, start, getattr(assignment, "end", timeline.steps))
        jobs[key] = jobs.get(key, 0) + _cpus_per_task(views[assignment.workload])
    asked: dict[tuple[str, int], int] = {}
    for (node, _, start, end), cpus in jobs.items():
        taken = in_whole_cores(cpus, owners[node].threads_per_core)
        for step in range(start, end):
            asked[(node, step)] = asked.get((node, step), 0) + taken
    problems, seen = [], set()
    for (node, step), cpus in sorted(asked.items()):
        node_class = owners[node]
        if cpus > slurm_cpus(node_class) and node not in seen:
            seen.add(node)
            problems.append(need(f"node {node} would run {_rounded(cpus, node_class)} at once "
                                 f"(step {step}), more than its {slurm_cpus(node_class)}: "
                                 f"{_whole_advice(node_class)}", node_class.origin))
    return problems


def _rounded(cpus: int, node_class: NodeClass) -> str:
    if node_class.threads_per_core == 1:
        return f"tasks of {cpus} whole CPUs (Slurm rounds each task's CPUs up)"
    return (f"jobs of {cpus} CPUs (Slurm rounds each task's CPUs up, and gives each job whole "
            f"cores of {node_class.threads_per_core} threads)")


def _whole_advice(node_class: NodeClass) -> str:
    if node_class.threads_per_core == 1:
        return "give the workloads whole CPUs"
    return f"give the workloads whole cores (CPUs in multiples of {node_class.threads_per_core})"
