"""A replica's `cpu`, `memory`, `gpu` and `disk` requests: the replicas on a node fit in what
it has (its own allocatable where a class's nodes differ), and they are no more pods than its
kubelet admits (`NodeClass.max_pods`: the class model counts them per class, a relaxation where a
class has several nodes; the solver's packing is repaired to it node by node,
`solve/whole_cores.py`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from itertools import chain
from typing import TYPE_CHECKING

import numpy as np

from fitlang.check.program import Workload
from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model import slurm_cpus
from fitlang.model.problem import RESOURCES, Demand, Exclusion, NodeClass
from fitlang.rules.base import CheckReads, GroupKey, PartKind, Placed, Rows, Rule, Stated
from fitlang.rules.explaining import plural, shape

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.eligibility import ClassFacets
    from fitlang.model.problem import Problem
    from fitlang.solve.encode import DemandColumns, Encoding
    from fitlang.solve.explain.parts import Part
    from fitlang.solve.explain.results import Repair
    from fitlang.solve.groups import Group


def requests(workload: Workload) -> dict[str, int]:
    """What one replica asks of a node, per resource (as `Demand.requests`)."""
    return {"cpu": workload.cpu_milli, "memory": workload.memory, "gpu": workload.gpu_count,
            "disk": workload.disk}


def too_small(requested: dict[str, int], replicas: int, facets: ClassFacets) -> np.ndarray:
    """Per class: does no replica fit on one node (`replicas_per_node` == 0)?"""
    if replicas <= 0:
        return np.ones(len(facets.classes), dtype=bool)
    small = np.zeros(len(facets.classes), dtype=bool)
    for column, resource in zip(facets.columns, RESOURCES):
        need = requested[resource]
        if need > 0:
            small |= column < need
    return small


def excludes(workload: Workload, facets: ClassFacets) -> np.ndarray:
    # no `reads`: sizes differ between workloads where their other rules repeat, so this is
    # asked per workload, after the shared answer of the other rules
    return too_small(requests(workload), workload.replicas, facets)


def sized_by(workload: Workload) -> tuple:
    """What `excludes` reads of a workload: its requests, and whether it runs a replica."""
    return (workload.cpu_milli, workload.memory, workload.gpu_count, workload.disk, workload.replicas > 0)


def why(workload: Workload, node_class: NodeClass) -> Iterator[Exclusion]:
    """As `replicas_per_node(demand, node_class) == 0`: no replica fits on one node."""
    requested = requests(workload)
    if workload.replicas <= 0 or any(0 < requested[r] > node_class.capacity[r] for r in RESOURCES):
        short = [r for r in RESOURCES if requested[r] > node_class.capacity[r]]
        yield Exclusion("resources", workload.origin,
                        "a node has less " + " and ".join(short) + " than one replica needs"
                        if short else "", source="capacity", fact=True)


def check(placed: Placed) -> Iterator[Diagnostic]:
    owner, demands, hosted = placed.owner, placed.demands, placed.hosted
    for node in sorted(_perhaps_over(placed)):
        node_class, counts = owner[node], hosted[node]
        capacity = node_class.capacity_of(node)
        used = used_on_node(node_class, [(demands[w], n) for w, n in counts.items()])
        for resource in RESOURCES:
            if used[resource] > capacity[resource]:
                yield placed.violation(
                    f"node `{node}` is over its {resource}: {readable(resource, used[resource])} "
                    f"requested{as_slurm_gives(node_class, resource)}, "
                    f"{readable(resource, capacity[resource], unit=False)} available",
                    node_class.origin)
    yield from _over_pods(placed)


def _over_pods(placed: Placed) -> Iterator[Diagnostic]:
    """A node that hosts more replicas than its kubelet admits: the scheduler leaves the rest
    Pending."""
    for node, counts in placed.hosted.items():
        most = placed.owner[node].pods_of(node)
        if most is not None and (pods := sum(counts.values())) > most:
            yield placed.violation(f"node `{node}` is over its pods: {pods} placed, its kubelet admits "
                                   f"{most}", placed.owner[node].origin)


def _perhaps_over(placed: Placed) -> Iterable[str]:
    """The nodes whose replicas may not fit, for `check` to word: every node summed at once
    in int64 arrays, exactly (27,000 nodes a sum and a dict each was a tenth of `fitc verify`),
    but the nodes whose CPUs Slurm gives (`used_on_node`) and sums that int64 may not hold."""
    hosted, owner = placed.hosted, placed.owner
    nodes = list(hosted)
    names = list(chain.from_iterable(hosted.values()))
    amounts = list(chain.from_iterable(map(dict.values, hosted.values())))
    kinds = [owner[node] for node in nodes]
    demands = [placed.demands[name] for name in dict.fromkeys(names)]
    asked = [[demand.requests[r] for r in RESOURCES] for demand in demands]
    has = list(map(NodeClass.capacity_of, kinds, nodes))  # (a class's nodes share one dict)
    shared = {id(capacity): capacity for capacity in has}
    place = {key: position for position, key in enumerate(shared)}
    capacities = [[capacity[r] for r in RESOURCES] for capacity in shared.values()]
    rows = np.repeat(np.arange(len(nodes)), np.fromiter(map(len, hosted.values()), np.int64, len(nodes)))
    if not _sums_fit(asked, capacities, amounts, rows, len(nodes)):
        return nodes
    index = {demand.name: position for position, demand in enumerate(demands)}
    taken = np.array(asked, dtype=np.int64).reshape(-1, len(RESOURCES))[
        np.fromiter(map(index.__getitem__, names), np.int64, len(names))]
    taken *= np.array(amounts, dtype=np.int64)[:, None]
    used = np.zeros((len(nodes), len(RESOURCES)), dtype=np.int64)
    np.add.at(used, rows, taken)  # each node's replicas' requests summed
    of_node = np.fromiter(map(place.__getitem__, map(id, has)), np.int64, len(has))
    over = (used > np.array(capacities, dtype=np.int64).reshape(-1, len(RESOURCES))[of_node]).any(axis=1)
    over |= np.fromiter((kind.slurm_allocated for kind in kinds), bool, len(kinds))
    return [nodes[i] for i in np.flatnonzero(over).tolist()]


def _sums_fit(asked: list[list[int]], capacities: list[list[int]], amounts: list[int],
              rows: np.ndarray, nodes: int) -> bool:
    """Whether int64 holds every node's sums and every capacity: a node's sum is at most the
    largest request times the replicas on that node (the most on any node), not times every
    replica placed. Bounded by the replicas placed in all (147,787 at 50,000 nodes) times a
    node's 30 TB of disk, the screen was off on the accelerator-heavy fleets and the loop
    summed all 27,000 nodes (0.09 CPU s of 0.11)."""
    largest = max(map(abs, chain.from_iterable(asked)), default=0)
    held = max(map(abs, chain.from_iterable(capacities)), default=0)
    replicas = sum(map(abs, amounts))
    if max(largest, held, replicas) >= 2 ** 62:
        return False
    if largest * replicas < 2 ** 62:
        return True
    here = np.zeros(nodes, dtype=np.int64)
    np.add.at(here, rows, np.abs(np.array(amounts, dtype=np.int64)))
    return largest * int(here.max(initial=0)) < 2 ** 62


def used_on_node(node_class: NodeClass, jobs: Iterable[tuple[Demand, int]]) -> dict[str, int]:
    """What jobs (a demand and its replicas on one node, started together) take of a node of
    the class, per resource, from what each workload asks: on a node read from Slurm, its
    CPUs as Slurm gives them (whole CPUs per task, whole cores per job); elsewhere the sums
    of the requests."""
    used = dict.fromkeys(RESOURCES, 0)
    for demand, count in jobs:
        for resource in RESOURCES:
            used[resource] += demand.requests[resource] * count
        if node_class.slurm_allocated:
            used["cpu"] += slurm_cpus.job_cpus(count, demand.asked_cpu, node_class.threads_per_core) \
                * slurm_cpus.MILLI - demand.requests["cpu"] * count
    return used


def over_capacity(problem: Problem, state: Mapping[str, Mapping[str, int]],
                  nodes: Iterable[str] | None = None) -> dict[str, dict[str, int]]:
    """Of a state (node -> demand name -> replicas; the policy's nodes only), each of `nodes`
    (default: all) whose replicas take more than it has: node -> what they take, per resource
    (`used_on_node`). A plan from a state with such a node may leave it over no more than it
    was when each wave began (`solve/repair_first.py`)."""
    owners, demands = problem.owners(), {d.name: d for d in problem.demands}
    found = {}
    for node in state if nodes is None else nodes:
        node_class = owners.get(node)
        counts = state.get(node, {})
        if node_class is None or not any(count > 0 for count in counts.values()):
            continue
        used = used_on_node(node_class, [(demands[d], n) for d, n in counts.items() if n > 0])
        capacity = node_class.capacity_of(node)
        if any(used[r] > capacity[r] for r in RESOURCES):
            found[node] = used
    return found


def as_slurm_gives(node_class: NodeClass, resource: str) -> str:
    if resource != "cpu" or not node_class.slurm_allocated:
        return ""
    if node_class.threads_per_core == 1:
        return " (as Slurm gives it: whole CPUs per task)"
    return (f" (as Slurm gives it: whole CPUs per task, whole cores of "
            f"{node_class.threads_per_core} threads per job)")


def readable(resource: str, amount: int, unit: bool = True) -> str:
    """An amount as people read it: `32 CPU` (not millicores), `96 GiB` (not bytes), `4 GPUs`;
    `unit=False` leaves the unit off a CPU or GPU count that follows one already named."""
    if resource == "cpu":
        return f"{amount / 1000:g}" + (" CPU" if unit else "")
    if resource in ("memory", "disk"):
        return f"{amount / 2 ** 30:.4g} GiB" if amount % 2 ** 20 else f"{amount // 2 ** 20 / 1024:g} GiB"
    return f"{amount}" + ((" GPU" if amount == 1 else " GPUs") if unit else "")


class CapacityGroup(GroupKey, Frozen):
    """What a class's nodes hold (node by node, a class is one node)."""

    class_id: str


def class_groups(encoding: Encoding) -> dict[str, CapacityGroup]:
    """Class id -> its capacity rows' key, one object per class: the packing cuts of every
    demand share it (a key made per row was most of the time to read the rows back)."""
    groups = encoding.cache.get(CapacityGroup)
    if groups is None:
        groups = encoding.cache[CapacityGroup] = {c.id: CapacityGroup(c.id) for c in encoding.problem.classes}
    return groups


def cut_implied(charge: np.ndarray, capacity: np.ndarray, fit: np.ndarray) -> np.ndarray:
    """Per workload (a row of `charge`, what a replica takes of each resource): does a
    capacity row alone already say y <= fit x u? Where capacity <= fit x charge, i.e.
    ceil(capacity / charge) <= fit (divided, not multiplied: bytes x replicas overflow int64)."""
    return ((charge > 0) & (-(-capacity // np.maximum(charge, 1)) <= fit[:, None])).any(axis=1)


def packing_cut_rows(encoding: Encoding, made: DemandColumns) -> None:
    """The class-level packing cut y <= fit x u where no capacity row implies it: in bulk, as
    arrays (one Python object per row was most of the time to build the model at fleet scale)."""
    demand, fit, capacity, columns = made.demand, made.fit, made.capacity, made.columns
    eligible = demand.eligible
    charge = np.broadcast_to(np.array([demand.requests[r] for r in RESOURCES], dtype=np.int64),
                             capacity.shape).copy()
    whole = encoding.whole.get(demand.name)
    if whole:
        charged = np.array([c in whole for c in eligible], dtype=bool)
        charge[charged] = capacity[charged]
    cut = np.flatnonzero(~cut_implied(charge, capacity, fit))
    if not len(cut):
        return
    # one replica's worth of a node per `fit` replicas: the class-level packing cut
    u = np.array([encoding.u[eligible[k]] for k in cut.tolist()], dtype=np.int64)
    indices = np.stack([columns[cut], u], axis=1).ravel()
    data = np.stack([np.ones(len(cut), dtype=np.int64), -fit[cut]], axis=1).ravel()
    indptr = np.arange(0, 2 * len(cut) + 1, 2, dtype=np.int64)
    if (fit[cut] == 0).any():  # a zero coefficient is dropped, as `add` drops it
        keep = data != 0
        indptr = np.concatenate([[0], np.cumsum(keep.reshape(-1, 2).sum(axis=1))])
        indices, data = indices[keep], data[keep]
    groups = class_groups(encoding)
    pools: list[Group] = [groups[eligible[k]] for k in cut.tolist()]
    encoding.model.add_rows(indptr, indices, data, np.full(len(cut), np.nan), np.zeros(len(cut)), pools)


def capacity_rows(encoding: Encoding, node_class: NodeClass) -> None:
    """One row per resource some replica here takes: sum of charges x y <= capacity x u (the
    capacity the charges can fill, `fillable`); one
    for the pods its kubelet admits, sum of y <= max_pods x u (a 4-node pool of 3 pods a node
    whose 7 one-CPU replicas fit one node's CPUs was `feasible` with a gap of 67%, its bound one
    node: now `optimal` at three); and the fragmentation rows of `_fragment_rows`."""
    if not encoding.here[node_class.id]:
        return
    charge, columns, u = encoding.capacity_terms(node_class.id)
    pointers: list[int] = [0]
    indices: list[Terms] = []
    data: list[Terms] = []
    for index, resource in enumerate(RESOURCES):
        taking = np.flatnonzero(charge[:, index])
        if not len(taking):
            continue
        capacity = fillable(node_class.capacity[resource], charge[taking, index])
        indices += [columns[taking], [u]]
        data += [charge[taking, index], [-capacity]]
        if capacity == 0:  # a zero coefficient is dropped, as `add` drops it
            indices[-1], data[-1] = [], []
        pointers.append(pointers[-1] + len(taking) + len(indices[-1]))
    if node_class.max_pods is not None and len(columns):  # each replica is one pod
        indices += [columns, [u]]
        data += [np.ones(len(columns), dtype=np.int64), [-node_class.max_pods]]
        if node_class.max_pods == 0:
            indices[-1], data[-1] = [], []
        pointers.append(pointers[-1] + len(columns) + len(indices[-1]))
    group = class_groups(encoding)[node_class.id]
    encoding.add_at_most_zero(pointers, indices, data, group)
    _fragment_rows(encoding, node_class, group)


def fillable(capacity: int, charges: np.ndarray) -> int:
    """The most of a node's `capacity` the replicas here can fill: each charge is a multiple of
    their greatest common divisor, and so is every sum of them, so no node holds more than its
    capacity rounded down to one (as `bound.usable_capacity` rounds the pair bound's). A charge
    of the whole node makes the divisor one of the capacity's: nothing is rounded off. The row
    over it holds for every placement; over the capacity as stated, the model counted four
    nodes of 7.82 CPUs for 31 CPUs of 2- and 3-CPU replicas (7 a node at most: five needed),
    never weighed the arm64 nodes only some of them may use, and its packing bought a fifth
    node of the dearer offer (`cloud_buy.py --small` seed 159: 1.99 against the optimum 1.84)."""
    divisor = int(np.gcd.reduce(charges)) if len(charges) else 1
    return capacity // divisor * divisor if divisor > 1 else capacity


Terms = np.ndarray | list[int]  # a run of a row's columns, or of its coefficients

# the dual feasible functions tried per class and resource (k = 1: replicas over half a node).
# None by default: the rows raise the proven bound (inventory 1,000: 76.8 -> 79.6 USD/h) and
# made scipy's HiGHS plan better (final 88.5 against 89.3), but with HiGHS started from the
# greedy floor through highspy they kept it from improving on the start within 30 s (185.11,
# against 95.49 without them; k = 1 alone 146.00): see docs/performance.md, session 5
FRAGMENT_KS: tuple[int, ...] = ()
# a row is added only where it charges some replica this many percent of a node more
FRAGMENT_GAIN = 10


def fragment_weights(charge: np.ndarray, capacity: int, k: int) -> np.ndarray:
    """Fekete and Schepers' dual feasible function u(k) of each replica's share x of a node
    ("New classes of fast lower bounds for bin packing problems", 2001), times k(k+1) to
    keep it whole: k(k+1)x where (k+1)x is whole, else (k+1) floor((k+1)x). Whatever one
    node holds, the u(k) of its replicas sum to at most 1, so sum of u(k) x y <= u is valid
    for the class (the model stays a relaxation, its bound proven); with k = 1 it says that
    replicas over half a node take a node each, which the sums of requests do not see (two
    replicas of 0.51 of a node's CPUs on one node)."""
    whole, rest = np.divmod((k + 1) * charge, capacity)
    return np.where(rest == 0, k * whole, (k + 1) * whole)


def _fragment_rows(encoding: Encoding, node_class: NodeClass, group: CapacityGroup) -> None:
    """Per resource and k of the encoding's `fragment_ks` (FRAGMENT_KS where it sets none):
    sum of k(k+1) u(k) x y <= k(k+1) x u (see `fragment_weights`), where it charges some replica
    more than the capacity row does, by at least 1% of a node (a row that says nothing new only
    slows the solver)."""
    ks = FRAGMENT_KS if encoding.fragment_ks is None else encoding.fragment_ks
    if not ks:
        return
    charge, columns, u = encoding.capacity_terms(node_class.id)
    pointers: list[int] = [0]
    indices: list[Terms] = []
    data: list[Terms] = []
    for index, resource in enumerate(RESOURCES):
        capacity = node_class.capacity[resource]
        if not capacity or not charge[:, index].any():
            continue
        for k in ks:
            weights = fragment_weights(charge[:, index], capacity, k)
            scale = k * (k + 1)
            if not ((weights - scale * charge[:, index] / capacity) * 100 > FRAGMENT_GAIN * scale).any():
                continue
            taking = np.flatnonzero(weights)
            indices += [columns[taking], [u]]
            data += [weights[taking], [-scale]]
            pointers.append(pointers[-1] + len(taking) + 1)
    encoding.add_at_most_zero(pointers, indices, data, group)


def reason(problem: Problem, part: Part) -> Stated:
    node_class = problem.node_class(part.subject)
    pods = "" if node_class.max_pods is None else f", {plural(node_class.max_pods, 'pod')}"
    return Stated(f"pool `{node_class.id}` has {plural(node_class.count, 'node')} of "
                  f"{shape(node_class)}{pods}", node_class.spans.get("count", node_class.origin))


def repairs(problem: Problem, part: Part, deadline: float) -> Repair | None:
    """More nodes in the pool: the fewest that work (from a proven bound where there is one)."""
    from fitlang.solve.explain import search

    pool = part.subject
    count = problem.node_class(pool).count

    def works(extra: int) -> search.Check:
        return search.works(search.with_pool(problem, pool, count + extra), deadline, True)

    grown = search.with_pool(problem, pool,
                             count + min(search.MAX_EXTRA_NODES, sum(d.replicas for d in problem.demands)))
    # node by node (small fleets) each node is a class: which pool it is in
    exact = search.per_node(grown)
    owners = grown.owners() if exact else None
    # under `spread node` an idle node is a domain with 0 replicas: the fewest nodes used in
    # a larger pool says nothing of a pool of that size, so the search starts at 1
    spread = any(s.topology == "node" and pool in {search.class_id(owners, c) for c in d.eligible}
                 for d in grown.demands for s in d.spreads)
    least = None if spread else search.bound(
        grown, lambda e, p: {e.u[c.id]: 1 for c in p.classes
                             if search.class_id(owners, c.id) == pool}, deadline)
    if least is search.NOTHING_WORKS:  # not even with as many nodes as there are replicas
        return None
    low = 1 if least is None else max(1, least - count)
    found = search.smallest(works, low, search.MAX_EXTRA_NODES, deadline)
    if found is None:
        return None
    extra = found[0]
    origin = problem.node_class(pool).spans.get("count")
    text = (f"add {plural(extra, 'node')} to pool `{pool}` (count = {count + extra})" if origin else
            _inventory_grown(problem, problem.node_class(pool), extra))
    return search.Repair(part, text, origin or problem.node_class(pool).origin, str(count),
                         str(count + extra), found[1].cost,
                         search.fix(text, origin, str(count + extra)), extra,
                         Fraction(count + extra), checked=found[1])


def _inventory_grown(problem: Problem, node_class: NodeClass, extra: int) -> str:
    """An inventory's nodes have no `count` to raise: the cluster needs the nodes themselves.
    Its nodes of one instance type may be classes apart (by what running pods leave on them,
    zones): the type is named and counted over them all, as a cluster's team counts it
    (`explain` says it once per type: `repairs.one_per_instance_type`)."""
    kind = node_class.instance_type
    same_type = [c for c in problem.classes if same_instance_type(c, node_class)]
    if kind is None or len(same_type) == 1:
        return (f"add {plural(extra, 'node')} like those of `{node_class.id}` to the inventory "
                f"({node_class.count + extra} in all)")
    return (f"add {plural(extra, f'`{kind}` node')} like those of `{node_class.id}` to the inventory "
            f"({sum(c.count for c in same_type) + extra} `{kind}` nodes in all)")


def same_instance_type(node_class: NodeClass, other: NodeClass) -> bool:
    """Are both an inventory's nodes of one instance type (of one inventory)?"""
    return (not node_class.provisioned and not other.provisioned and node_class.pool == other.pool
            and node_class.instance_type is not None and node_class.instance_type == other.instance_type)


RULE = Rule("capacity", excludes=excludes, sized_by=sized_by, why=why, last_resort=True, check=check,
            check_reads=CheckReads.NODE,
            rows=Rows(columns=packing_cut_rows, per_class=capacity_rows),
            part_kind=PartKind.CAPACITY, reason=reason, repairs=repairs)
