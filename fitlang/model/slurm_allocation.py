"""What a running job holds of each of its nodes, as `squeue --json` states it.

Slurm's select plugin packs a job's nodes unevenly: on two idle 16-CPU nodes, `sbatch -N2 -n10`
holds 9 CPUs of the first node and 1 of the second, and its tasks run 9 and 1 (measured with
this machine's Slurm 22.05 and `scontrol -d show job`), not 5 and 5. So where the JSON states
a job's allocation per node, fitc counts that; where it does not, a job's CPUs and tasks are
spread evenly over its nodes, the first ones the remainder.

The layouts, from SchedMD's data_parser plugins (src/plugins/data_parser/vX/parsers.c):
- v0.0.38 to v0.0.40 (Slurm 22.05 to 23.11): `job_resources.allocated_nodes[]`, each with
  `nodename`, `memory_allocated` (MiB), `cpus_used` and `sockets` (socket -> `cores` -> core ->
  "allocated" or "allocated_and_in_use"). `cpus_used` is what the job's steps use, not what
  it holds: 0 on every node of a batch script that starts no `srun` (measured here). The CPUs
  held are not printed per node, so the job's `cpus` are dealt over its nodes in proportion to
  the cores it holds on each: exact where its nodes have one thread count per core.
- v0.0.41 and later (Slurm 24.05 on): `job_resources.nodes.allocation[]`, each with `name`,
  `cpus.count` (the CPUs held) and `memory.allocated` (MiB).
"""

from __future__ import annotations

from typing import Any

# node -> {"cpus": CPUs held, "memory": MiB held}, each where stated
Allocation = dict[str, dict[str, int]]


def stated_allocation(job: Any, job_cpus: int | None) -> Allocation:
    """What the job holds of each node, where `squeue --json` states it (else {})."""
    resources = job.get("job_resources") if isinstance(job, dict) else None
    if not isinstance(resources, dict):
        return {}
    nodes = resources.get("nodes")
    if isinstance(nodes, dict) and isinstance(nodes.get("allocation"), list):
        return _allocation_v41(nodes["allocation"])
    listed = resources.get("allocated_nodes")
    return _allocation_v38(listed, job_cpus) if isinstance(listed, list) else {}


def _allocation_v41(entries: list[Any]) -> Allocation:
    found: Allocation = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        own = {}
        for key, value in (("cpus", _field(entry, "cpus", "count")),
                           ("memory", _field(entry, "memory", "allocated"))):
            if isinstance(value, int) and not isinstance(value, bool):
                own[key] = value
        found[entry["name"]] = own
    return found


def _field(entry: dict[str, Any], group: str, key: str) -> Any:
    inner = entry.get(group)
    return inner.get(key) if isinstance(inner, dict) else None


def _allocation_v38(entries: list[Any], job_cpus: int | None) -> Allocation:
    named = [e for e in entries if isinstance(e, dict) and isinstance(e.get("nodename"), str)]
    found: Allocation = {}
    for entry in named:
        memory = entry.get("memory_allocated")
        found[entry["nodename"]] = {"memory": memory} \
            if isinstance(memory, int) and not isinstance(memory, bool) else {}
    cores = [_cores_held(entry.get("sockets")) for entry in named]
    if named and all(count is not None and count > 0 for count in cores):
        held = [count for count in cores if count is not None]
        cpus = apportion(job_cpus, held) if job_cpus is not None else held
        for entry, count in zip(named, cpus):
            found[entry["nodename"]]["cpus"] = count
    return found


def _cores_held(sockets: Any) -> int | None:
    """The cores a v0.0.38-v0.0.40 `sockets` listing marks as the job's; None where it is not
    that listing."""
    if not isinstance(sockets, dict):
        return None
    count = 0
    for socket in sockets.values():
        cores = socket.get("cores") if isinstance(socket, dict) else None
        if not isinstance(cores, dict):
            return None
        count += sum(1 for status in cores.values()
                     if isinstance(status, str) and status.startswith("allocated"))
    return count


def apportion(total: int, weights: list[int]) -> list[int]:
    """`total` dealt over the weights in proportion (largest remainder, ties to the first);
    evenly where the weights are all 0."""
    whole = sum(weights)
    if whole <= 0:
        weights, whole = [1] * len(weights), len(weights)
    shares = [total * weight // whole for weight in weights]
    order = sorted(range(len(weights)), key=lambda index: (-(total * weights[index] % whole), index))
    for index in order[:total - sum(shares)]:
        shares[index] += 1
    return shares
