"""Slurm batch scripts: one `sbatch` script per workload, pinned to the placement's nodes.

Every user string that reaches the script is quoted for the shell (`shlex.quote`);
names that Slurm reads from `#SBATCH` lines (partition, account) must be plain
Slurm names, or the target refuses them (E0601).
"""

from __future__ import annotations

import math
import re
import shlex
from pathlib import Path

import jinja2

from fitlang.targets.base import CompileContext, Need, Split, Target, dns_name

_SLURM_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
_SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _environment() -> jinja2.Environment:
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


def job_name(workload) -> str:
    """One job per workload, or per option of it that runs (`chat-h100-...`)."""
    if workload.option is None:
        return dns_name(workload.name)
    return dns_name(f"{workload.name}-{workload.option}")


class Slurm(Target):
    name = "slurm"

    def problems(self, context: CompileContext) -> list[str]:
        policy = context.program.policy
        problems = []
        for label, value in (("partition", policy.slurm_partition), ("account", policy.slurm_account)):
            if value is not None and not _SLURM_NAME.match(value):
                problems.append(Need(f"slurm {label} {value!r} is not a Slurm name (letters, digits, "
                                     "`_.-`)", policy.origin))
        for workload in context.placed_workloads():
            if not workload.command:
                problems.append(Need(f"workload `{workload.name}` has no `command`; the slurm target "
                                     "needs one", workload.origin))
            for name in workload.env:
                if not _SHELL_NAME.match(name):
                    problems.append(Need(f"environment variable name {name!r} of `{workload.name}` "
                                         "is not a shell variable name", workload.spans.get("env")))
            for split in context.splits(workload):
                bad = [n for n in split.nodes if not _SLURM_NAME.match(n)]
                if bad:
                    problems.append(Need(f"node name {bad[0]!r} is not a Slurm node name",
                                         split.node_class.origin))
        return sorted(set(problems))

    def render(self, context: CompileContext) -> dict[str, str]:
        template = _environment().get_template("job.sbatch.j2")
        files = {}
        for workload in context.placed_workloads():
            if not workload.command:
                continue
            files[f"{job_name(workload)}.sbatch"] = template.render(
                self._values(context, workload, context.splits(workload)))
        return files

    def _values(self, context: CompileContext, workload, splits: list[Split]) -> dict:
        per_node: dict[str, int] = {}
        classes = []
        for split in splits:
            per_node.update(split.per_node)
            classes.append(split.node_class)
        nodes = list(per_node)
        most = max(per_node.values())
        policy = context.program.policy
        return {
            "source": Path(context.program.path).name, "workload": workload,
            "placement_summary": ", ".join(f"{n} x{k}" for n, k in per_node.items()),
            "job_name": job_name(workload), "nodes": nodes,
            "uniform": len(set(per_node.values())) == 1, "max_per_node": most,
            "total": sum(per_node.values()),
            "hostfile": [n for n, k in per_node.items() for _ in range(k)],
            "cpus_per_task": max(1, math.ceil(workload.cpu_milli / 1000)),
            "memory_mib": max(1, math.ceil(most * workload.memory / 2 ** 20)),
            "gres": self._gres(workload, classes, most), "constraint": self._constraint(classes),
            "partition": policy.slurm_partition, "account": policy.slurm_account,
            "time": slurm_time(workload.time_limit_seconds) if workload.time_limit_seconds else None,
            "env": sorted(workload.env.items()), "command": list(workload.command),
        }

    def _gres(self, workload, classes, most: int) -> str | None:
        if not workload.gpu_count:
            return None
        types = {c.gres_type or (c.accelerator.name.lower() if c.accelerator else None) for c in classes}
        count = workload.gpu_count * most
        if len(types) == 1 and None not in types:
            return f"gpu:{types.pop()}:{count}"
        return f"gpu:{count}"

    def _constraint(self, classes) -> str | None:
        common = set(classes[0].features)
        for node_class in classes[1:]:
            common &= set(node_class.features)
        usable = sorted(f for f in common if _SLURM_NAME.match(f))
        return "&".join(usable) or None
