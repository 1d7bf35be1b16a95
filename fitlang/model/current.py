"""What runs now: the state a move (`fitc plan`, `compile --current`) starts from.

A `CurrentState` says which replica of which workload runs on which node today, which nodes
were bought (and may be released), and the disruption budgets the cluster states. It is read
from fitc's own placement JSON (`read_placement_state`, below), `kubectl get pods -A -o json`
and Slurm's `squeue` (their readers sit beside this one). Like the inventory readers, a reader
never raises on bad input: it returns what it could read and a list of problems, each naming
the file and, for JSON, the path of the value that is wrong.

Names are the policy's: a running replica names its workload (and accelerator option) as the
policy does, and its node as the inventory or pool names it. Matching a running replica to a
node class is the solver's business, not the reader's.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import field
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.file_problems import FileProblem
from fitlang.frozen import Frozen, Mutable

if TYPE_CHECKING:
    from fitlang.documents_read import PlacementRead


class ReplicaName(Frozen):
    """How the system that runs a replica names it, for the commands that move it: a pod by
    its namespace and name, a Slurm job by its id alone. Printed (plan JSON, messages) as
    kubectl and squeue write it: "namespace/pod", "1234", "1234+1"."""

    name: str  # the pod's name, or the Slurm job's id
    namespace: str | None = None  # the pod's namespace; None for a Slurm job

    def __str__(self) -> str:
        return self.name if self.namespace is None else f"{self.namespace}/{self.name}"


# (demand, node) -> the names of the replicas of that demand running on that node, in the
# order read; node "" is a node the policy lacks
RunningNames = dict[tuple[str, str], list[ReplicaName]]


class Running(Frozen):
    """One replica running now."""

    workload: str  # the workload's name in the policy
    node: str  # the node it runs on
    option: str | None = None  # the accelerator option it runs with (workloads with options)
    handle: ReplicaName | None = None  # None when read from a placement, which names none
    # what the pod requests, as the scheduler counts it (kubectl's only): CPU in millicores,
    # memory in bytes; a sidecar injected at admission or a LimitRange may make it more than
    # the workload states (W0808)
    requests: tuple[int, int] | None = None
    # whether it serves: a pod whose `Ready` condition is True (kubectl's only; a Pending pod,
    # or one on a node gone NotReady, which the node controller marks not Ready, is not). A
    # disruption budget counts healthy pods only (`DisruptionBudget.above`)
    ready: bool = True
    # when it started, and the latest it runs until (its time limit), in seconds since the
    # epoch, where the state says (`squeue --json`'s `start_time` and `end_time`): with a
    # horizon a running job of the policy runs on to its end (`model/running_jobs.py`)
    started: int | None = None
    ends: int | None = None


class Foreign(Frozen):
    """A running pod or job of no workload of the policy (another team's, a DaemonSet's, a
    system pod): what it requests on the node it runs on, which fitc's work may not use (the
    scheduler counts every pod's requests; Slurm every job's allocation). CPU in millicores,
    memory in bytes, GPUs as a count."""

    node: str
    name: str  # as kubectl or squeue names it: "kube-system/coredns-5d78c", "1234"
    cpu_milli: int = 0
    memory: int = 0
    gpu: int = 0
    disk: int = 0
    pod: bool = False  # a pod (kubectl's): it takes one of the pods its node's kubelet admits
    # the latest it runs until, in seconds since the epoch (`squeue --json`'s `end_time` of a
    # job with a time limit); None: no end known, so with a horizon it holds its room throughout
    ends: int | None = None
    # a DaemonSet's pod: its DaemonSet ("kube-system/kube-proxy"), which starts one on every
    # node its node selector picks, nodes bought later too (`model/daemon_sets.py`)
    daemon_set: str | None = None
    node_selector: dict[str, str] = field(default_factory=dict)
    job: str | None = None  # of the policy's own running job (`held_by_policy`): its id

    def requests(self) -> dict[str, int]:
        return {"cpu": self.cpu_milli, "memory": self.memory, "gpu": self.gpu, "disk": self.disk}


class DisruptionBudget(Frozen):
    """At most this many of a workload's replicas may be down at once while work moves
    (a PodDisruptionBudget's `maxUnavailable`, or its `minAvailable` turned into one by the
    reader, which knows how many replicas run). `share` is the budget as a share of the
    workload's replicas (`maxUnavailable: 20%`); exactly one of `count`, `share` is set."""

    workload: str
    count: int | None = None
    share: Fraction | None = None
    source: str = ""  # where it was read: "kube-system/chat-pdb in pdbs.json"
    # where the budget is counted over healthy pods (a PDB with its status, or over pods some
    # of which are not Ready), as the API server counts it: the healthy pods beyond those that
    # must stay (`count` is this, at least 0; fewer than none where fewer are healthy than
    # must stay), those that must (`desiredHealthy`), and whether its pods that are not Ready
    # may always be evicted (`unhealthyPodEvictionPolicy: AlwaysAllow`); None: every pod healthy
    above: int | None = None
    must_stay: int = 0
    always_evict_unhealthy: bool = False


class ClusterNode(Frozen):
    """A node as the cluster lists it (`kubectl get nodes -o json` in the state): its name and
    labels, by which a node the cloud named is told to be one fitc bought (`cluster_nodes.py`)."""

    name: str
    labels: dict[str, str] = field(default_factory=dict)
    # False where the cluster places no new pod there: cordoned (`spec.unschedulable`) or not
    # Ready (its pods evicted after the controller's grace): fitc places nothing there either
    schedulable: bool = True


class CurrentState(Frozen):
    running: tuple[Running, ...] = ()
    bought: tuple[str, ...] = ()  # nodes bought earlier: in use now, and releasable
    budgets: tuple[DisruptionBudget, ...] = ()
    sources: tuple[str, ...] = ()  # the files it was read from, for messages
    foreign: tuple[Foreign, ...] = ()  # running work of no workload: it takes room on its node
    nodes: tuple[ClusterNode, ...] = ()  # the cluster's nodes, where the state lists them
    # what the policy's own running jobs hold of their nodes (`squeue --json`'s allocation,
    # each entry's `job` its id): with a horizon they run on, and their room is not free
    held_by_policy: tuple[Foreign, ...] = ()
    # (node, class id): nodes the cloud named that the state counts as bought nodes of that
    # class, by their own names (`cluster_nodes.py`; the problem learns them in `with_current`)
    cluster_bought: tuple[tuple[str, str], ...] = ()

    def by_workload(self) -> dict[str, list[Running]]:
        grouped: dict[str, list[Running]] = {}
        for replica in self.running:
            grouped.setdefault(replica.workload, []).append(replica)
        return grouped


def foreign_room(foreign: Iterable[Foreign]) -> dict[str, dict[str, int]]:
    """Node -> what the running work of no workload requests there, summed (work that requests
    nothing takes no room: only a pod, `foreign_pods`)."""
    taken: dict[str, dict[str, int]] = {}
    for work in foreign:
        if not any(work.requests().values()):
            continue
        sums = taken.setdefault(work.node, {"cpu": 0, "memory": 0, "gpu": 0, "disk": 0})
        for resource, amount in work.requests().items():
            sums[resource] += amount
    return taken


def foreign_pods(foreign: Iterable[Foreign]) -> dict[str, int]:
    """Node -> the pods of no workload running there (each takes one its kubelet admits)."""
    return dict(Counter(work.node for work in foreign if work.pod))


class StateRead(Mutable):
    state: CurrentState = field(default_factory=CurrentState)
    problems: list[FileProblem] = field(default_factory=list)  # "FILE: what is wrong", and where
    # what the reader left out or could not match, for one warning per file and kind (W0801,
    # W0803, W0804): names, in file order
    ignored: list[str] = field(default_factory=list)  # running work of no workload of the policy
    unit: str = "replica"  # what the file lists, for messages: pod, job
    room_known: bool = True  # whether it says what its work of no workload requests (not squeue's text)
    unknown: list[str] = field(default_factory=list)  # naming a workload or option it lacks
    unmatched_budgets: list[str] = field(default_factory=list)  # PDBs selecting no workload


def read_placement_state(text: str, source: str) -> StateRead:
    """The state a placement JSON (`fitc solve --format json`) describes: its assignments run,
    its provisioned nodes were bought. Validated as `fitc verify` reads a placement
    (`documents.PlacementRead`), so a wrong value is named by its JSON path."""
    try:
        document = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as error:
        read = StateRead()
        where = (error.lineno, error.colno) if isinstance(error, json.JSONDecodeError) else (None, 1)
        read.problems.append(FileProblem(f"{source}: not JSON: {error}", line=where[0], column=where[1]))
        return read
    return placement_state(document, source)


def _listed_twice(source: str, workload: str, option: str | None, replica: int, earlier: int,
                  index: int) -> FileProblem:
    named = f"`{workload}`" + (f" (option {option})" if option is not None else "")
    return FileProblem(f"{source}: assignments[{index}].replica: replica {replica} of {named} is "
                       f"listed twice (first at assignments[{earlier}]): a replica runs on one node",
                       ("assignments", index, "replica"))


def placement_state(document: object, source: str,
                    knows: Callable[[str, str | None], bool] | None = None) -> StateRead:
    """`read_placement_state` of a parsed document. `knows(workload, option)`: whether the
    policy has them; assignments it does not know are left out and listed in `unknown`."""
    from pydantic_core import ValidationError  # here: pydantic_core is slow to import

    from fitlang.core_schemas import validator  # `documents_read.PlacementRead`, no pydantic

    read = StateRead()
    if not isinstance(document, dict) or not isinstance(document.get("assignments"), list):
        read.problems.append(FileProblem(f"{source}: expected the JSON of `fitc solve --format json`: "
                                         "an object with `assignments`", ()))
        return read
    try:
        placement: PlacementRead = validator("placement-input").validate_python(document)
    except ValidationError as error:
        from fitlang.documents_read import error_problems

        read.problems.extend(problem.of_file(source) for problem in error_problems(error))
        return read
    running = []
    first_at: dict[tuple[str, str | None, int], int] = {}  # a replica -> its first assignment
    for index, item in enumerate(placement["assignments"]):
        workload, option = item["workload"], item.get("option")
        if knows is not None and not knows(workload, option):
            read.unknown.append(workload if option is None else f"{workload} (option {option})")
            continue
        earlier = first_at.setdefault((workload, option, item["replica"]), index)
        if earlier != index:  # as `fitc verify` refuses it in an answer (E0503): one runs once
            read.problems.append(_listed_twice(source, workload, option, item["replica"], earlier, index))
            continue
        running.append(Running(workload=workload, node=item["node"], option=option))
    bought = tuple(sorted(node["name"] for node in placement.get("nodes", [])
                          if node.get("provisioned")))
    read.state = CurrentState(running=tuple(running), bought=bought, sources=(source,))
    return read
