"""The time `whole_cores`' repair takes, kept from the search, sized on the greedy floor.

`whole_cores.solved_and_repaired` keeps `REPAIR_CPU_PER_REPLICA` of the limit from the solve
for the repair after it (slurm_cores 2,000 nodes: 0.2-0.3 CPU s). Its work is the nodes the
answer overfills in whole cores per job (or past their pods), not the replicas: an
oversubscribed Slurm cluster (bench/hpc_queue.py 10,000 nodes / 3,000 jobs seed 5) has 368
such nodes in its greedy floor, which is its answer, and their moves took ~1.4 CPU s, then the
moved answer's check (a dump, a read and `verify`, as the verdict's) ~0.45; with 0.41 kept,
the repair began past its deadline, left ~410 replicas out there, and the command ended at
6.0-6.7 CPU s of a 5 s limit (session 48). So, once the floor is placed, the search ends that
much sooner: what the floor's overfull nodes are expected to take to move, and the check,
less what is kept already; the repair then has its time, and the stages before it (the
floor's completion, which places nothing more on that cluster) have less.
"""

from __future__ import annotations

from fitlang.model.problem import NodeClass, Problem
from fitlang.model.slurm_cpus import MILLI, job_cpus
from fitlang.solve.budget import Budget
from fitlang.solve.pack import NodeState, Packing
from fitlang.solve.whole_cores import CHECK_CPU_PER_REPLICA, REPAIR_CPU_PER_REPLICA

# what the repair is expected to take, CPU seconds a node overfull in the floor: that cluster's
# 368 nodes, ~1.4 CPU s of moves at load ~29 (1.85 with the check), more at load 35-40: at 4e-3
# the moves were cut there once (49 replicas of priority 2 left out at load 35)
REPAIR_CPU_PER_OVERFULL_NODE = 5e-3


def search_deadline(problem: Problem, floor: Packing, budget: Budget, replicas: int) -> float | None:
    """`budget.search_deadline` (the problem's workloads and `replicas`), sooner by what the
    repair of the floor's overfull nodes is expected to take past what is kept for it already."""
    deadline = budget.search_deadline(replicas, len(problem.demands))
    if deadline is None:
        return None
    overfull = overfull_nodes(problem, floor)
    if not overfull:
        return deadline
    expected = REPAIR_CPU_PER_OVERFULL_NODE * overfull + CHECK_CPU_PER_REPLICA * replicas
    return deadline - budget.wall(max(0.0, expected - REPAIR_CPU_PER_REPLICA * replicas))


def overfull_nodes(problem: Problem, packing: Packing) -> int:
    """The packing's nodes that Slurm's whole cores per job overfill (`whole_cores`), or that
    hold more replicas than their kubelet admits."""
    overfull = 0
    for node_class in problem.classes:
        cores = node_class.slurm_allocated and node_class.threads_per_core > 1
        if not cores and node_class.max_pods is None and not node_class.node_pods:
            continue
        overfull += sum(map(lambda node: _overfull(problem, node_class, node, cores),
                            packing.nodes.get(node_class.id, ())))
    return overfull


def _overfull(problem: Problem, node_class: NodeClass, node: NodeState, cores: bool) -> bool:
    most = node_class.pods_of(node.name)
    if most is not None and sum(node.hosted.values()) > most:
        return True
    return cores and _cpus(problem, node.hosted, node_class.threads_per_core) > \
        node_class.capacity_of(node.name)["cpu"]


def _cpus(problem: Problem, hosted: dict[str, int], threads_per_core: int) -> int:
    """What a node's jobs take of its CPUs as Slurm gives them (milli-CPUs)."""
    return sum(job_cpus(count, problem.demand(name).asked_cpu, threads_per_core) * MILLI
               for name, count in hosted.items() if count)
