"""Drains that break zone spreads: held-out instances for `fitc plan`'s spread restoring (issue 18).

    .venv/bin/python bench/drains.py --shape fleet --nodes 10000 --seed 10 --out /tmp/d10
    .venv/bin/python bench/drains.py --shape inventory --nodes 10000 --seed 11 --out /tmp/i11

`move_bench.changed_policy` drains pools picked by size alone: of the seven drains measured in
session 35 only two (fleet seeds 2 and 3) broke a zone spread that `repair` could not restore
where it places, so `spread_restore` had two instances, both developed on. Here the drain is
picked so that it leaves a zone short: the fleet at rest (`move_bench.at_rest`: the policy
and its solved placement) is read as text and counts, apart from fitlang, and a set of one
zone's pools and inventories (none running a replica that asks for GPUs) is drained where the
zone is then left without room for the replicas its spreads need there:

- a workload with `spread zone max_skew s` and n replicas over the k zones it may use must
  keep at least ceil((n - (k - 1) s) / k) of them in each (the zones it may use: those with a
  node of a pool or inventory whose `tier` label, `arch` and region its rules allow);
- what it has there on nodes that stay, and the room the zone keeps (each node's capacity
  less what runs on it, whole free nodes included), summed by (tier, arch) group: where for
  some set of groups the replicas that may run only there need more cores or memory than the
  set has free (Hall's condition), the zone is short; no end state keeps those spreads
  without moving other replicas out of the zone (nodes bought have no zone);
- but the zone's nodes that stay, emptied, hold every spread's minimum (`restorable`: else the
  drain may leave no placement at all, which is not the case this generator is for).

The room is summed, so a drain counted short is short (a node's crumbs of room count too: some
drains that are short in practice are missed). Every least such set is tried where the zone
has at most `EXHAUSTIVE` blocks (the fleet shape), else one per group grown greedily (the
inventory shape's ~57 pools a zone), up to `--most-share` of the fleet's nodes; fewest nodes
first, then most spreads short (`--pick` takes the next ones). The policy is written with only
that change, `move_price` and `min_saving = 0%` (as `move_bench` states them), beside the
placement as `now.json`. Not a test (tests/test_drains.py runs it at 200 nodes).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import move_bench

BLOCK = re.compile(r"^(pool|inventory|workload) (\S+) \{\n(.*?)^\}\n", re.M | re.S)
EU_REGIONS = {"eu-west-1", "eu-central-1", "fra-dc1"}  # the jurisdictions the generators use


@dataclass
class Pool:
    """A pool or inventory as its text (and its kubectl file) states it."""

    name: str
    kind: str  # "pool" or "inventory"
    zone: str | None
    region: str | None
    tier: str | None
    arch: str
    gpu: bool
    count: int
    capacity: tuple[float, float]  # cores, MiB a node (a pool's; an inventory's per node below)
    node_capacity: dict[str, tuple[float, float]] = field(default_factory=dict)

    @property
    def group(self) -> tuple[str | None, str]:
        return self.tier, self.arch


@dataclass
class Spread:
    name: str
    cpu: float
    memory: float  # MiB
    max_skew: int
    tier: str | None
    arches: frozenset[str]
    regions: frozenset[str] | None  # None: any

    def may_use(self, pool: Pool) -> bool:
        return ((self.tier is None or pool.tier == self.tier) and pool.arch in self.arches and
                (self.regions is None or pool.region in self.regions) and pool.zone is not None)


@dataclass
class Drain:
    zone: str
    pools: list[str]
    nodes: int
    short: dict[str, int]  # spread workload -> replicas it lacks in the zone
    cores_short: float
    memory_short: float  # GiB


def cores(text: str) -> float:
    return int(text[:-1]) / 1000 if text.endswith("m") else float(text)


def mebibytes(text: str) -> float:
    number, unit = re.fullmatch(r"([0-9.]+)\s*([A-Za-z]*)", text).groups()  # type: ignore[union-attr]
    scale = {"Ki": 1 / 1024, "Mi": 1, "Gi": 1024, "GiB": 1024, "MiB": 1, "Ti": 1024**2, "TiB": 1024**2}
    return float(number) * scale[unit]


def _field(body: str, name: str) -> str | None:
    found = re.search(rf"^  {name} = (.+)$", body, re.M)
    return found.group(1).strip() if found else None


def _label(body: str, key: str) -> str | None:
    found = re.search(rf'labels = \{{[^}}]*"?{key}"?: "([^"]+)"', body)
    return found.group(1) if found else None


def read_pools(text: str, files: dict[str, str]) -> dict[str, Pool]:
    pools = {}
    for kind, name, body in BLOCK.findall(text):
        if kind == "pool":
            zone, region = _field(body, "zone"), _field(body, "region")
            pools[name] = Pool(name, kind, zone and zone.strip('"'), region and region.strip('"'),
                               _label(body, "tier"), _field(body, "arch") or "amd64", "gpu {" in body,
                               int(_field(body, "count") or 0),
                               (cores(_field(body, "cpu") or "0"), mebibytes(_field(body, "memory") or "0")))
        elif kind == "inventory":
            pools.update(_inventory_pools(name, files[(_field(body, "file") or "").strip('"')]))
    return pools


def _inventory_pools(name: str, document: str) -> dict[str, Pool]:
    """An inventory's nodes that take work (Ready, schedulable, untainted: the spread services
    tolerate nothing), one pool per (zone, tier, arch) so that a zone's groups stay apart."""
    pools: dict[str, Pool] = {}
    for item in json.loads(document)["items"]:
        labels, spec, status = item["metadata"]["labels"], item.get("spec", {}), item["status"]
        if status["conditions"][0]["status"] != "True" or spec.get("unschedulable") or spec.get("taints"):
            continue
        allocatable = status["allocatable"]
        zone, tier = labels.get("topology.kubernetes.io/zone"), labels.get("tier")
        arch = labels.get("kubernetes.io/arch", "amd64")
        key = f"{name}/{zone}/{tier}/{arch}"
        pool = pools.setdefault(key, Pool(key, "inventory", zone, labels.get("topology.kubernetes.io/region"),
                                          tier, arch, "nvidia.com/gpu" in allocatable, 0, (0, 0)))
        pool.count += 1
        pool.node_capacity[item["metadata"]["name"]] = (cores(allocatable["cpu"]),
                                                        mebibytes(allocatable["memory"]))
    return pools


def read_spreads(text: str) -> dict[str, Spread]:
    spreads = {}
    for kind, name, body in BLOCK.findall(text):
        skew = re.search(r"^  spread zone max_skew (\d+)$", body, re.M)
        if kind != "workload" or not skew:
            continue
        tier = re.search(r'^  require labels\["tier"\] == "(\w+)"$', body, re.M)
        arch = _field(body, "arch")
        regions = _field(body, "regions")
        allowed = frozenset(re.findall(r'"([^"]+)"', regions)) if regions else None
        if _field(body, "residency") == "[EU]":
            allowed = EU_REGIONS if allowed is None else allowed & EU_REGIONS
        requests = cores(_field(body, "cpu") or "0"), mebibytes(_field(body, "memory") or "0")
        spreads[name] = Spread(name, *requests, int(skew.group(1)), tier and tier.group(1),
                               frozenset(re.findall(r"\w+", arch)) if arch else frozenset({"amd64"}),
                               allowed and frozenset(allowed))
    return spreads


class AtRest:
    """The fleet at rest counted: each node's pool, what runs on it, each pool's free room,
    and per spread workload the pools it may use and its replicas per zone."""

    def __init__(self, text: str, files: dict[str, str], placement: dict) -> None:
        self.pools = read_pools(text, files)
        self.spreads = read_spreads(text)
        requests = _requests(text)
        asking_gpus = {name for kind, name, body in BLOCK.findall(text)
                       if kind == "workload" and "gpu {" in body}
        self.gpu_work: set[str] = set()  # pools running a replica that asks for GPUs
        pool_of = {node: pool.name for pool in self.pools.values() for node in pool.node_capacity}
        used: dict[str, dict[str, list[float]]] = {}  # pool -> node -> [cores, MiB] in use
        self.running: dict[str, Counter] = {}  # pool -> spread workload -> replicas on it
        for item in placement["assignments"]:
            node, workload = item["node"], item["workload"]
            pool = pool_of.get(node) or node.rsplit("-", 1)[0]
            use = used.setdefault(pool, {}).setdefault(node, [0.0, 0.0])
            use[0] += requests[workload][0]
            use[1] += requests[workload][1]
            if workload in self.spreads:
                self.running.setdefault(pool, Counter())[workload] += 1
            if workload in asking_gpus:
                self.gpu_work.add(pool)
        self.room = {name: _room(pool, used.get(name, {})) for name, pool in self.pools.items()}
        self.capacity = {name: _room(pool, {}) for name, pool in self.pools.items()}  # every node free
        self.usable: dict[str, dict[str | None, set[str]]] = {}  # spread -> zone -> its pools there
        for name, spread in self.spreads.items():
            for pool in self.pools.values():
                if pool.count and spread.may_use(pool):
                    self.usable.setdefault(name, {}).setdefault(pool.zone, set()).add(pool.name)
        self.per_zone: dict[str, Counter] = {}  # spread workload -> zone -> replicas
        for pool, counts in self.running.items():
            for workload, count in counts.items():
                self.per_zone.setdefault(workload, Counter())[self.pools[pool].zone] += count

    def least(self, spread: Spread, zone: str, drained: set[str]) -> int:
        """Replicas of the spread the zone must hold once `drained` (pools of the zone) is gone
        (0 where the zone is not one of its domains then)."""
        usable = self.usable.get(spread.name, {})
        if not usable.get(zone, set()) - drained:
            return 0
        placed, k = sum(self.per_zone.get(spread.name, Counter()).values()), len(usable)
        return max(0, math.ceil((placed - (k - 1) * spread.max_skew) / k))

    def needed(self, spread: Spread, zone: str, drained: set[str]) -> int:
        """Of `least`, the replicas the zone lacks on the nodes that stay."""
        have = self.per_zone.get(spread.name, Counter())[zone] - \
            sum(self.running.get(p, Counter())[spread.name] for p in drained)
        return max(0, self.least(spread, zone, drained) - have)

    def restorable(self, zone: str, drained: set[str]) -> bool:
        """Do the zone's nodes that stay, emptied of everything else, hold every spread's
        `least` (Hall's condition over its groups, as `shortfall`)? Where not, the drain may
        leave the fleet with no placement at all (not this generator's case)."""
        kept = [p for p in self.pools.values() if p.zone == zone and p.name not in drained]
        least = {s.name: n for s in self.spreads.values() if (n := self.least(s, zone, drained))}
        usable = {name: {p.group for p in kept if p.name in self.usable[name][zone]} for name in least}
        groups = sorted({p.group for p in kept}, key=str)
        for size in range(1, len(groups) + 1):
            for chosen in map(set, itertools.combinations(groups, size)):
                inside = {n: c for n, c in least.items() if usable[n] and usable[n] <= chosen}
                for index, request in ((0, "cpu"), (1, "memory")):
                    need = sum(getattr(self.spreads[n], request) * c for n, c in inside.items())
                    if need > sum(self.capacity[p.name][index] for p in kept if p.group in chosen):
                        return False
        return True

    def shortfall(self, zone: str, drained: set[str]) -> tuple[Drain, float]:
        """The zone after the drain: its worst set of (tier, arch) groups by Hall's condition
        (most spreads short), and how far the need of the nearest set is past its room (cores
        plus GiB / 4; > 0 where short)."""
        kept = [p for p in self.pools.values() if p.zone == zone and p.name not in drained]
        groups = sorted({p.group for p in kept}, key=str)
        lacking = {s.name: n for s in self.spreads.values() if (n := self.needed(s, zone, drained))}
        usable = {name: {p.group for p in kept if p.name in self.usable[name][zone]} for name in lacking}
        worst, score = Drain(zone, sorted(drained), 0, {}, 0.0, 0.0), -math.inf
        for size in range(1, len(groups) + 1):
            for chosen in map(set, itertools.combinations(groups, size)):
                inside = {n: c for n, c in lacking.items() if usable[n] and usable[n] <= chosen}
                room = [sum(self.room[p.name][i] for p in kept if p.group in chosen) for i in (0, 1)]
                cores_short = sum(self.spreads[n].cpu * c for n, c in inside.items()) - room[0]
                memory_short = (sum(self.spreads[n].memory * c for n, c in inside.items()) - room[1]) / 1024
                score = max(score, cores_short, memory_short / 4)
                if (cores_short > 0 or memory_short > 0) and len(inside) > len(worst.short):
                    worst = Drain(zone, sorted(drained), 0, inside, cores_short, memory_short)
        return worst, score


def _room(pool: Pool, used: dict[str, list[float]]) -> tuple[float, float]:
    """The pool's free cores and MiB: its nodes in use less what runs on them, its free nodes
    whole."""
    free = [0.0, 0.0]
    for node, use in used.items():
        capacity = pool.node_capacity.get(node, pool.capacity)
        free = [free[0] + capacity[0] - use[0], free[1] + capacity[1] - use[1]]
    if pool.node_capacity:
        idle = [c for n, c in pool.node_capacity.items() if n not in used]
        return free[0] + sum(c[0] for c in idle), free[1] + sum(c[1] for c in idle)
    idle_count = pool.count - len(used)
    return free[0] + idle_count * pool.capacity[0], free[1] + idle_count * pool.capacity[1]


def _requests(text: str) -> dict[str, tuple[float, float]]:
    return {name: (cores(_field(body, "cpu") or "0"), mebibytes(_field(body, "memory") or "0"))
            for kind, name, body in BLOCK.findall(text) if kind == "workload"}


def short_drains(fleet: AtRest, most_nodes: int) -> list[Drain]:
    """Per zone, sets of its pools and inventories (none running a replica that asks for
    GPUs: it would have nowhere to go) whose drain leaves it short, up to `most_nodes` nodes:
    every least one where the zone has at most `EXHAUSTIVE` of them, else per (tier, arch)
    group one grown greedily (the block that takes the zone nearest to short first). Fewest
    nodes first, then most spreads short."""
    found = []
    for zone in sorted({p.zone for p in fleet.pools.values() if p.zone}):
        blocks: dict[str, set[str]] = {}  # block name -> its pools (an inventory's per group)
        for pool in fleet.pools.values():
            if pool.zone == zone and pool.name not in fleet.gpu_work:
                blocks.setdefault(pool.name.split("/")[0], set()).add(pool.name)
        if len(blocks) <= EXHAUSTIVE:
            sets = _every_least(fleet, zone, blocks, most_nodes)
        else:
            groups = {fleet.pools[p].group for names in blocks.values() for p in names}
            sets = [chosen for group in sorted(groups, key=str) for chosen in _grown(
                fleet, zone, {b: names for b, names in blocks.items()
                              if any(fleet.pools[p].group == group for p in names)}, blocks, most_nodes)]
        for chosen in sets:
            drained = set().union(*(blocks[b] for b in chosen))
            drain, _ = fleet.shortfall(zone, drained)
            drain.nodes, drain.pools = sum(fleet.pools[n].count for n in drained), sorted(chosen)
            found.append(drain)
    return sorted(found, key=lambda d: (d.nodes, -len(d.short), d.zone, d.pools))


EXHAUSTIVE = 10  # blocks in a zone up to which every set is tried (the fleet shape has 4-8)


def _nodes(fleet: AtRest, blocks: dict[str, set[str]], chosen: set[str]) -> int:
    return sum(fleet.pools[p].count for b in chosen for p in blocks[b])


def _every_least(fleet: AtRest, zone: str, blocks: dict[str, set[str]], most_nodes: int) -> list[set[str]]:
    least: list[set[str]] = []
    for size in range(1, len(blocks) + 1):
        for chosen in map(set, itertools.combinations(sorted(blocks), size)):
            if _nodes(fleet, blocks, chosen) > most_nodes or any(m <= chosen for m in least):
                continue
            drained = set().union(*(blocks[b] for b in chosen))
            drain, _ = fleet.shortfall(zone, drained)
            if drain.short:
                least.append(chosen)
    return [chosen for chosen in least if fleet.restorable(zone, set().union(*(blocks[b] for b in chosen)))]


def _grown(fleet: AtRest, zone: str, candidates: dict[str, set[str]], blocks: dict[str, set[str]],
           most_nodes: int) -> list[set[str]]:
    """Of the `candidates` (some of the zone's `blocks`), the one that takes the zone nearest
    to short added at each step, until it is short (that set) or `most_nodes` stops it."""
    chosen: set[str] = set()
    while True:
        scored = []
        for block in sorted(candidates.keys() - chosen):
            grown = chosen | {block}
            if _nodes(fleet, blocks, grown) <= most_nodes:
                drain, score = fleet.shortfall(zone, set().union(*(blocks[b] for b in grown)))
                scored.append((score, block, bool(drain.short)))
        if not scored:
            return []
        score, block, short = max(scored)
        chosen.add(block)
        if short:
            return [chosen] if fleet.restorable(zone, set().union(*(blocks[b] for b in chosen))) else []


def drained_policy(text: str, pools: list[str], move_price: str) -> str:
    """The policy without the drained pools' and inventories' blocks, with `move_bench`'s
    plan settings."""
    blocks = {m.group(2): m.group(0) for m in BLOCK.finditer(text) if m.group(1) != "workload"}
    for name in pools:
        text = text.replace(blocks[name], "")
    settings = f"  move_price = {move_price} USD/h\n  min_saving = 0%\n"
    if re.search(r"^policy \{\n", text, re.M):
        return re.sub(r"^policy \{\n", "policy {\n" + settings, text, count=1, flags=re.M)
    return text + "policy {\n" + settings + "}\n"


def write_instance(out: Path, files: dict[str, str], text: str, placement: dict, drain: Drain,
                   move_price: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (out / name).write_text(content)
    (out / "p.fit").write_text(drained_policy(text, drain.pools, move_price))
    (out / "now.json").write_text(json.dumps({"assignments": placement["assignments"]}))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=("fleet", "inventory"), default="fleet")
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--pick", type=int, default=0, help="the candidate taken, most spreads short first")
    parser.add_argument("--move-price", default="0.01")
    parser.add_argument("--most-share", type=float, default=0.2, help="of the nodes, drained at most")
    parser.add_argument("--cache", default="/tmp/fitc-move-bench")
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    files, placement, text = move_bench.at_rest(arguments.shape, arguments.nodes, arguments.workloads,
                                                arguments.seed, Path(arguments.cache))
    fleet = AtRest(text, files, placement)
    drains = short_drains(fleet, int(arguments.most_share * arguments.nodes))
    for index, drain in enumerate(drains):
        some = ", ".join(f"{n} {c}" for n, c in sorted(drain.short.items())[:6])
        print(f"{'*' if index == arguments.pick else ' '} {drain.zone}: drain {', '.join(drain.pools)} "
              f"({drain.nodes} nodes): {len(drain.short)} spreads short {drain.cores_short:.1f} cores "
              f"{drain.memory_short:.1f} GiB ({some})")
    if not drains:
        sys.exit(f"seed {arguments.seed}: no drain leaves a zone short")
    if arguments.out:
        write_instance(arguments.out, files, text, placement, drains[arguments.pick], arguments.move_price)


if __name__ == "__main__":
    main()
