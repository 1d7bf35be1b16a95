"""What the rules' `reason` and `repairs` hooks share: the wording of a conflict and the
lookups over a `Problem` they make. Nothing here imports `fitlang.solve` (a hook imports
explain's search, `solve/explain/search.py`, in its body)."""

from __future__ import annotations

from fractions import Fraction

from fitlang.check.program import Origin
from fitlang.model.problem import Demand, NodeClass, OptionGroup, Problem


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def need(demand: Demand) -> str:
    """What one replica requests: '2 CPU + 8 GiB + 1 GPU' ('1 CPU (2 as Slurm gives it) + ...'
    where a node read from Slurm gives it whole CPUs and whole cores)."""
    cpu = f"{demand.asked_cpu / 1000:g} CPU"
    if demand.cpu_asked is not None:
        cpu += f" ({demand.requests['cpu'] / 1000:g} as Slurm gives it)"
    shown = [cpu, f"{demand.requests['memory'] / 2 ** 30:g} GiB"]
    if demand.requests["gpu"]:
        shown.append(plural(demand.requests["gpu"], "GPU"))
    return " + ".join(shown)


def shape(node_class: NodeClass) -> str:
    """What one node of a class has."""
    capacity = node_class.capacity
    text = f"{capacity['cpu'] / 1000:g} CPU, {capacity['memory'] / 2 ** 30:g} GiB"
    if capacity["gpu"]:
        model = node_class.accelerator.name if node_class.accelerator else "GPU"
        text += f", {capacity['gpu']} x {model}"
    return text


def money(value: Fraction | None) -> str:
    return f"{float(value or 0):.2f}"


def where(origin: Origin | None) -> str:
    """' (line N)' after a rule that stands somewhere."""
    return f" (line {origin.span.line})" if origin else ""


def demands_of(problem: Problem, workload: str) -> list[Demand]:
    """The demands of a workload (one per option of a workload with options)."""
    return [d for d in problem.demands if d.workload == workload]


def option_group(problem: Problem, workload: str) -> OptionGroup:
    return next(g for g in problem.option_groups if g.workload == workload)


def latency_members(problem: Problem, workload: str) -> list[Demand]:
    """The demands that share a workload's latency rules."""
    return next(m for m in problem.latency_demands() if m[0].workload == workload)


MIB, GIB = 2 ** 20, 2 ** 30
_BINARY_UNITS = (("GiB", GIB), ("MiB", MIB), ("KiB", 2 ** 10))


def written_down(resource: str, amount: int) -> int:
    """`amount` (a node's, in `Demand.requests` units) rounded down to what a request may
    read well: whole MiB of memory and disk (a node's allocatable need not be, GKE reserves
    shares of it). Never more, so a request lowered to it still fits the node."""
    return amount - amount % MIB if resource in ("memory", "disk") else amount


def literal(resource: str, amount: int) -> str:
    """A request as the language writes it (docs/language.md, Values), exactly: CPU in cores
    to the millicore (`15.89`), memory and disk in the largest binary unit that holds it
    whole (`29839MiB`; else in KB, to the byte), GPUs as a count."""
    if resource == "cpu":
        return _decimal(amount, 1000)
    if resource in ("memory", "disk"):
        for unit, size in _BINARY_UNITS:
            if amount and amount % size == 0:
                return f"{amount // size}{unit}"
        return _decimal(amount, 1000) + "KB"
    return str(amount)


def _decimal(amount: int, scale: int) -> str:
    """`amount / scale` written exactly (scale a power of ten): 15890 / 1000 is `15.89`."""
    whole, part = divmod(amount, scale)
    digits = len(str(scale)) - 1
    return f"{whole}.{part:0{digits}d}".rstrip("0") if part else str(whole)
