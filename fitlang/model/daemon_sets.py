"""What the cluster's DaemonSets take on a node fitc buys: a DaemonSet starts one pod on every
node its node selector picks, on nodes added later as well, so a node bought for fitc's work
also runs kube-proxy, the CNI's agent, log and metrics collectors, which request CPU and
memory and take pods of its `max_pods`. A node packed to its allocatable leaves a pod of
fitc's Pending. Karpenter counts the same overhead for each node it launches.

A `current` state read from `kubectl get pods -A -o json` shows the DaemonSets by their pods
(owner `DaemonSet`): each runs on each bought node whose labels its pods' `nodeSelector` does
not contradict, and keeps there the most any of its pods requests and one pod. The labels
fitc knows of a bought node are its OS (Linux), architecture, instance type, region and the
offer's labels; a selector on any other label is taken to pick the node (the safe side: the
node keeps room it may not need). A node the state shows running already has what its own
pods request taken off instead (`build._less_taken`). A `buy` block's `reserved_cpu`,
`reserved_memory` and `reserved_pods` state it instead (with no state, or to override it).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from fitlang.check.program import Kept
from fitlang.frozen import Frozen
from fitlang.model.current import Foreign

OS_LABEL = "kubernetes.io/os"
ARCH_LABEL = "kubernetes.io/arch"
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
REGION_LABEL = "topology.kubernetes.io/region"


class DaemonSet(Frozen):
    """A DaemonSet as its running pods show it: the most any of them requests (CPU in
    millicores, memory in bytes) and the node labels its pods select."""

    name: str  # "NAMESPACE/NAME"
    cpu_milli: int = 0
    memory: int = 0
    node_selector: tuple[tuple[str, str], ...] = ()

    def picks(self, labels: dict[str, str]) -> bool:
        """Whether it runs on a node of these known labels (a label not known picks it)."""
        return all(labels.get(key, value) == value for key, value in self.node_selector)


def daemon_sets(foreign: Iterable[Foreign]) -> tuple[DaemonSet, ...]:
    """The DaemonSets the running pods of no workload belong to, by name."""
    seen: dict[str, DaemonSet] = {}
    for pod in foreign:
        if pod.daemon_set is None:
            continue
        known = seen.get(pod.daemon_set)
        selector = tuple(sorted(pod.node_selector.items()))
        if known is None:
            seen[pod.daemon_set] = DaemonSet(pod.daemon_set, pod.cpu_milli, pod.memory, selector)
        else:  # (pods of two revisions mid-rollout: the larger request, the first's selector)
            seen[pod.daemon_set] = DaemonSet(known.name, max(known.cpu_milli, pod.cpu_milli),
                                             max(known.memory, pod.memory), known.node_selector)
    return tuple(seen[name] for name in sorted(seen))


def bought_node_labels(arch: str, instance_type: str | None, region: str | None,
                       labels: dict[str, str]) -> dict[str, str]:
    """The labels a bought node will carry that fitc knows (its cloud sets them)."""
    known = {OS_LABEL: "linux", ARCH_LABEL: arch}
    if instance_type is not None:
        known[INSTANCE_TYPE_LABEL] = instance_type
    if region is not None:
        known[REGION_LABEL] = region
    return {**known, **labels}


def kept_for(running: Sequence[DaemonSet], labels: dict[str, str]) -> Kept:
    """What the DaemonSets that run on a node of these labels keep there."""
    picked = [each for each in running if each.picks(labels)]
    return Kept(cpu_milli=sum(each.cpu_milli for each in picked),
                memory=sum(each.memory for each in picked), pods=len(picked))
