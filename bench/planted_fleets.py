"""Tight fleets with a planted complete placement: every replica fits, with 0-5% slack, so a
solve that leaves one out (issue 15, "anytime") has missed a placement that exists.

- `zones` (h31d's, session 31): two regions of three zones, 16-CPU nodes in 4-12 classes a
  zone at prices apart; workloads of priority 20 that may go anywhere planted in the dear
  region, one-a-node workloads of 10 that must stay in the cheap region apart by zone from one
  of those, zone spreads and zone-pinned workloads of 1 / 5 / 10 in the cheap region: the
  constrained ones have the lower priorities.
- `pools` (session 32, held out from `zones`): twelve pools of one zone each, two node shapes
  (16 CPUs / 64 GiB, 32 CPUs / 64 GiB), workloads of CPU- or memory-heavy replicas each
  restricted to a random set of 1-12 pools and planted there, priorities drawn apart from how
  restricted each is; each pool's nodes the least a first-fit-decreasing of its planted
  replicas takes.

    PYTHONPATH=bench python bench/planted_fleets.py zones|pools SEED NODES OUT.fit
"""

from __future__ import annotations

import heapq
import math
import random
import sys
from pathlib import Path

REGIONS = {"r1": ["r1a", "r1b", "r1c"], "r2": ["r2a", "r2b", "r2c"]}
ZONES = [zone for zones in REGIONS.values() for zone in zones]
NODE_CPU = 16


def zones(seed: int, nodes: int) -> str:
    """The `zones` shape: about `nodes` nodes, 90% of their CPUs planted."""
    rng = random.Random(seed)
    work = _zoned_work(rng, nodes * NODE_CPU * 0.9)
    pools = []
    slack = rng.choice([0.0, 0.02, 0.05])
    for zone in ZONES:
        count = _zone_nodes(work, zone)
        count = max(1, math.ceil(count * (1 + slack)) + rng.randint(0, 2))
        parts = rng.randint(4, 12)  # classes of one shape at prices apart, as inventories have
        cuts = sorted(rng.sample(range(1, count), min(parts - 1, count - 1))) if count > 1 else []
        for index, (low, high) in enumerate(zip([0, *cuts], [*cuts, count])):
            price = ((400 if zone in REGIONS["r1"] else 600) + rng.randint(0, 150)) / 1000
            pools.append(f'pool n_{zone}_{index} {{\n  count = {high - low}\n  cpu = {NODE_CPU}\n'
                         f'  memory = 64Gi\n  price = {price} USD/h\n  zone = "{zone}"\n'
                         f'  region = "{zone[:2]}"\n}}')
    workloads = []
    for name, cpu, priority, one_a_node, lines, planted in work:
        body = [f"workload {name} {{", f"  replicas = {sum(planted.values())}", f"  cpu = {cpu}",
                f"  memory = {rng.choice([1, 2, 4])}Gi", f"  priority = {priority}"]
        if one_a_node:
            body.append("  anti_affinity self on node")
        workloads.append("\n".join(body + lines + ["}"]))
    return "\n".join(pools + workloads) + "\n"


def _zoned_work(rng: random.Random, budget: float) -> list[tuple]:
    """(name, CPUs, priority, one a node, rule lines, planted replicas per zone) until `budget`
    CPUs are planted."""
    r1, r2 = REGIONS["r1"], REGIONS["r2"]
    work: list[tuple] = []
    used, index = 0, 0
    while used < budget:
        kind = rng.choice(["pair", "pair", "spread", "pinned", "filler", "filler"])
        index += 1
        if kind == "pair":  # t anywhere (planted in r2, maybe one r1 zone); w apart from it by zone
            t_replicas, w_replicas = rng.randint(10, 60), rng.randint(5, 40)
            t_zones = rng.sample(r2, rng.randint(2, 3)) + ([] if rng.random() < 0.5 else [rng.choice(r1)])
            w_zone = rng.choice([z for z in r1 if z not in t_zones])
            work.append((f"t{index}", 4, 20, True, [], _dealt(t_replicas, t_zones)))
            apart = [f"  anti_affinity t{index} on zone", '  regions = ["r1"]']
            work.append((f"w{index}", 4, 10, True, apart, {w_zone: w_replicas}))
            used += 4 * (t_replicas + w_replicas)
        elif kind == "spread":
            replicas = 3 * rng.randint(5, 60)
            work.append((f"s{index}", 2, rng.choice([5, 10]), False,
                         ["  spread zone max_skew 1", '  regions = ["r1"]'], {z: replicas // 3 for z in r1}))
            used += 2 * replicas
        elif kind == "pinned":
            zone, replicas = rng.choice(r1), rng.randint(10, 80)
            priority = rng.choice([1, 10])
            work.append((f"z{index}", 4, priority, False, [f'  zones = ["{zone}"]'], {zone: replicas}))
            used += 4 * replicas
        else:
            replicas, cpu = rng.randint(40, 400), rng.choice([2, 4, 8])
            planted = _dealt(replicas, rng.sample(r2, rng.randint(1, 3)))
            work.append((f"f{index}", cpu, 20, False, [], planted))
            used += cpu * replicas
    return work


def _dealt(replicas: int, zones: list[str]) -> dict[str, int]:
    planted = dict.fromkeys(zones, 0)
    for index in range(replicas):
        planted[zones[index % len(zones)]] += 1
    return planted


def _zone_nodes(work: list[tuple], zone: str) -> int:
    """The fewest nodes the zone's planted replicas fit on (`_fits`)."""
    need = sum(cpu * planted.get(zone, 0) for _, cpu, _, _, _, planted in work)
    apart = max([planted.get(zone, 0) for _, _, _, one, _, planted in work if one] or [0])
    count = max(apart, math.ceil(need / NODE_CPU)) if need else 0
    while count and not _fits(work, zone, count):
        count += 1
    return count


def _fits(work: list[tuple], zone: str, count: int) -> bool:
    """One-a-node workloads dealt round-robin first, then the rest by size, each replica onto
    the emptiest node (CPU sizes divide 16)."""
    free = [NODE_CPU] * count
    start = 0
    for _, cpu, _, one_a_node, _, planted in sorted(work, key=lambda w: (not w[3], -w[1])):
        replicas = planted.get(zone, 0)
        if not replicas:
            continue
        if one_a_node:
            if replicas > count:
                return False
            for i in range(replicas):
                node = (start + i) % count
                if free[node] < cpu:
                    return False
                free[node] -= cpu
            start = (start + replicas) % count
            continue
        heap = [(-room, node) for node, room in enumerate(free)]
        heapq.heapify(heap)
        for _ in range(replicas):
            room, node = heapq.heappop(heap)
            if -room < cpu:
                return False
            free[node] = -room - cpu
            heapq.heappush(heap, (-free[node], node))
    return True


POOLS = 12
SHAPES = [(16, 64), (32, 64)]  # (CPUs, GiB)
REPLICA_SHAPES = [(1, 4), (2, 2), (2, 8), (4, 4), (4, 16), (8, 8), (1, 16)]  # CPU-heavy and memory-heavy


def pools(seed: int, nodes: int) -> str:
    """The `pools` shape: about `nodes` nodes, each pool sized to its planted replicas."""
    rng = random.Random(seed)
    shapes = [rng.choice(SHAPES) for _ in range(POOLS)]
    prices = [round(shape[0] * rng.uniform(0.02, 0.05), 3) for shape in shapes]
    planted: list[list[tuple[int, int]]] = [[] for _ in range(POOLS)]  # per pool, replica shapes
    workloads = []
    cpus = nodes * 0.85 * sum(s[0] for s in shapes) / POOLS
    index = 0
    while cpus > 0:
        index += 1
        cpu, memory = rng.choice(REPLICA_SHAPES)
        allowed = sorted(rng.sample(range(POOLS), rng.choice([1, 1, 2, 3, 6, POOLS])))
        replicas = rng.randint(10, 200)
        for _ in range(replicas):
            planted[rng.choice(allowed)].append((cpu, memory))
        cpus -= cpu * replicas
        lines = [f"workload w{index} {{", f"  replicas = {replicas}", f"  cpu = {cpu}",
                 f"  memory = {memory}Gi", f"  priority = {rng.choice([1, 5, 10, 20])}"]
        if len(allowed) < POOLS:
            lines.append(f"  require pool in [{', '.join(f'p{p}' for p in allowed)}]")
        workloads.append("\n".join(lines + ["}"]))
    slack = rng.choice([0.0, 0.02, 0.05])
    text = []
    for pool, (shape, price) in enumerate(zip(shapes, prices)):
        count = max(1, math.ceil(_first_fit(planted[pool], shape) * (1 + slack)))
        text.append(f"pool p{pool} {{\n  count = {count}\n  cpu = {shape[0]}\n  memory = {shape[1]}Gi\n"
                    f'  price = {price} USD/h\n  zone = "z{pool}"\n}}')
    return "\n".join(text + workloads) + "\n"


def _first_fit(replicas: list[tuple[int, int]], shape: tuple[int, int]) -> int:
    """Nodes of `shape` a first-fit decreasing of these replicas opens."""
    free: list[list[int]] = []
    for cpu, memory in sorted(replicas, key=lambda r: (-max(r[0] / shape[0], r[1] / shape[1]), r)):
        node = next((room for room in free if room[0] >= cpu and room[1] >= memory), None)
        if node is None:
            node = [shape[0], shape[1]]
            free.append(node)
        node[0] -= cpu
        node[1] -= memory
    return len(free)


if __name__ == "__main__":
    shape, seed, count, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
    out.write_text({"zones": zones, "pools": pools}[shape](seed, count))
