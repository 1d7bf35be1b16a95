"""Tiny fleets (2-12 nodes) where nodes keep workloads away, against the independent reference
(tests/reference.py's per-node CP-SAT model), checked as bench/differential_combos.py checks
its policies (the verdict, the optimum, bounds, `verify`, `fitc explain` where the reference
proves none, every placed answer compiled to the three targets and read back by fidelity).

What each seed draws beside the usual rules (spread, anti-affinity, affinity, gang,
exclusive, priorities, a budget):

- pools `dedicated` to a value, and nodes tainted NoSchedule (`team=a`, `spot=true`), which a
  workload's `tolerate` names by value, by key or as `key=value`;
- pools read from `kubectl get nodes -o json` (`inventory ... format = kubectl`): labels, zone,
  region and taints (NoSchedule or NoExecute, and PreferNoSchedule ones, which keep no pod
  off) on each node, or labels, zone and region as the inventory block's defaults; price
  and `dedicated` on the inventory block; and more nodes cordoned or not Ready that fitc
  must leave out (the reference never has them);
- `require labels["tier"] in [...]` (a node without the label never meets it) and
  `prefer labels[...] == ... weight N`, soft, which must leave the cost optimum as it is.

    PYTHONPATH=.:bench .venv/bin/python bench/differential_taints.py --from 1 --seeds 200

Not a test; tests/test_differential.py runs a few seeds.
"""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import differential_combos
from differential_combos import _dealt, checked_spec, with_exact_budget

import reference

DEDICATED = ("gpu", "batch")
TAINTS = (("team", "a"), ("team", "b"), ("spot", "true"))
GPU_TAINT = ("nvidia.com/gpu", "present")
# what a workload may tolerate: a dedicated value, a taint's key, or a taint as key=value
TOLERABLE = DEDICATED + ("team", "team=a", "team=b", "spot", "spot=true", "spot=false")
TIERS = ("gold", "silver", "bronze")


def drawn(seed: int) -> reference.Spec:
    """The policy of `seed` (a budget drawn as -1 is set from the optimum later)."""
    rng = random.Random(f"taints-{seed}")
    spec = reference.Spec(_pools(rng), [], kinds={"taints"})
    for index in range(rng.randint(1, 3)):
        spec.workloads.append(_workload(rng, f"w{index}", spec))
    if rng.random() < 0.3:
        spec.allow_unplaced = True
        for workload in spec.workloads:
            workload.priority = rng.choice([0, 5, 10])
    if rng.random() < 0.2:
        spec.budget = -1
    _gpu_nodes(random.Random(f"taints-gpus-{seed}"), spec)
    reference._no_exclusive_beside_node_affinity(spec.workloads, spec.kinds)
    return spec


def _gpu_nodes(rng: random.Random, spec: reference.Spec) -> None:
    """Some kubectl pools GPU nodes, often tainted `nvidia.com/gpu` as clouds taint them (a
    workload requesting GPUs tolerates that with no `tolerate`: ExtendedResourceToleration),
    and then some workloads requesting one. Drawn apart from the rest, so the seeds' other
    draws stay as they were."""
    kubectl = [p for p in spec.pools if p.kubectl and not p.gpus]
    if not kubectl or rng.random() < 0.6:
        return
    for pool in rng.sample(kubectl, rng.randint(1, len(kubectl))):
        pool.gpu_model, pool.gpus = rng.choice(sorted(reference.ACCELERATORS)), rng.choice([1, 2])
        if rng.random() < 0.7:
            pool.taints = [*pool.taints, GPU_TAINT]
    for workload in spec.workloads:
        if not workload.gpus and rng.random() < 0.4:
            workload.gpus = 1


def _pools(rng: random.Random) -> list[reference.Pool]:
    nodes = rng.randint(2, 12)
    parts = rng.randint(1, min(4, nodes))
    pools = []
    for index, count in enumerate(1 + c for c in _dealt(rng, nodes - parts, parts)):
        zone = None if rng.random() < 0.2 else rng.choice(sorted(reference.ZONES))
        region = reference.ZONES[zone] if zone else rng.choice([None, "r1", "r2"])
        pool = reference.Pool(f"p{index}", count, rng.choice([2, 4, 8]), rng.choice([8, 16, 32]),
                              rng.choice([0, 50, 100, 150, 300]), zone=zone, region=region)
        if rng.random() < 0.5:
            pool.labels = {"tier": rng.choice(TIERS)}
        if rng.random() < 0.3:
            pool.dedicated = rng.choice(DEDICATED)
        if rng.random() < 0.4:  # read from kubectl: its accelerators draw no power (no `tdp`)
            pool.kubectl, pool.off = True, rng.choice([0, 0, 1, 2])
            if rng.random() < 0.6:  # a pool block has no taints, only `dedicated`
                pool.taints = rng.sample(TAINTS, rng.randint(1, 2))
                pool.taint_effect = rng.choice(["NoSchedule", "NoExecute"])
            if rng.random() < 0.3:
                pool.soft_taints = [rng.choice(TAINTS)]
            pool.in_block = rng.random() < 0.3
        else:
            pool.power = rng.choice([0, 200, 400])
            if rng.random() < 0.25:
                pool.gpu_model, pool.gpus = rng.choice(sorted(reference.ACCELERATORS)), 1
        pools.append(pool)
    return pools


def _workload(rng: random.Random, name: str, spec: reference.Spec) -> reference.Workload:
    workload = reference.Workload(name, rng.choice([0, 1, 2, 3, 4]), rng.choice([500, 1000, 2000, 4000]),
                                  rng.choice([1, 2, 4, 8]))
    if rng.random() < 0.7:
        workload.tolerate = rng.sample(TOLERABLE, rng.randint(1, 3))
    if rng.random() < 0.3:
        workload.requires = [("tier", rng.sample(TIERS, rng.randint(1, 2)))]
    elif rng.random() < 0.2:
        workload.labels = {"tier": rng.choice(TIERS)}
    if rng.random() < 0.4:
        workload.prefers = [("tier", rng.choice(TIERS), rng.choice([1, 5, 10]))]
    if any(p.gpus for p in spec.pools) and rng.random() < 0.2:
        workload.gpus = 1
    if rng.random() < 0.3:
        workload.spreads.append((rng.choice(["node", "zone", "region"]), rng.randint(1, 2)))
    earlier = [w.name for w in spec.workloads]
    if rng.random() < 0.3:
        target = rng.choice(earlier + ["self"])
        anti = target == "self" or rng.random() < 0.5
        workload.rules.append((target, rng.choice(["node", "zone"]), anti))
    workload.gang = rng.random() < 0.15
    workload.exclusive = rng.random() < 0.1
    if rng.random() < 0.1:
        workload.zones = rng.sample(sorted(reference.ZONES), rng.randint(1, 2))
    return workload


def checked(seed: int, directory: Path, time_limit: float,
            reference_limit: float) -> tuple[Counter, list[str]]:
    spec = with_exact_budget(drawn(seed), random.Random(seed), reference_limit)
    return checked_spec(spec, seed, directory, time_limit, reference_limit)


if __name__ == "__main__":
    differential_combos.main(checked, lambda seed: "taints")
