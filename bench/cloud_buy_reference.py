"""References for `bench/cloud_buy.py`'s instances, sharing no code with fitc (no fitlang import).

Reads the instance's JSON (`cloud-R-S.json`) and either
  - `--exact`: solves it exactly as a per-node MIP (scipy.optimize.milp / HiGHS): one binary per
    node that may exist (a pool's nodes; up to `max_count` nodes per offer and region of each buy
    block, fewer where the replicas that may use it are fewer), an integer per workload and node;
    capacity (CPU, memory, accelerators, pods), eligibility (arch, accelerator model / memory /
    vendor / interconnect / family, residency, dedicated pools), `anti_affinity self on node`, `spread
    region max_skew 1` over the regions of every node the workload may use, `latency` (each
    location >= 1 replica within reach), buy limits, the power cap, the budget; the cost is the
    nodes' prices plus dc1's electricity. Small instances only (`cloud_buy.py --small`).
  - else a plain greedy: workloads largest first (gangs and accelerators first), each replica on
    the first open node with room, else on a new node of the class cheapest per replica it takes;
    spread and latency met by dealing replicas to regions first. An upper bound fitc must meet.
Prints `optimal VALUE` / `infeasible` / `greedy VALUE` / `greedy failed`; writes the placement
as fitc's answer JSON (`nodes`, `assignments`) when given OUT, so `fitc verify` can check it.
    python bench/cloud_buy_reference.py INSTANCE.json [OUT.json] [--exact] [--time-limit S]
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from fractions import Fraction

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import lil_matrix

MIB = 2**20


def millicores(text: str) -> int:
    return int(text[:-1]) if text.endswith("m") else int(Fraction(text) * 1000)


class NodeClass:
    def __init__(self, name, region, cpu, memory, gpu_model, gpu_count, arch, price, pods, count,
                 buy=None, power_w=0, dedicated=None, site=None, zone=None, offer=None):
        self.name, self.region, self.cpu, self.memory = name, region, cpu, memory
        self.gpu_model, self.gpu_count, self.arch, self.price = gpu_model, gpu_count, arch, price
        self.pods, self.count, self.buy, self.power_w = pods, count, buy, power_w
        self.dedicated, self.site, self.zone, self.offer = dedicated, site, zone, offer


def node_classes(inst: dict) -> list[NodeClass]:
    electricity = Fraction(inst["electricity_usd_kwh"])
    classes = []
    for pool in inst["pools"]:
        power = pool["power_w"] if pool["site"] == "dc1" else 0
        gpu = pool["gpu"] or (None, 0)
        classes.append(NodeClass(pool["name"], pool["region"], pool["cpu"] * 1000, pool["memory"],
                                 gpu[0], gpu[1], "amd64", electricity * power / 1000, None,
                                 pool["count"], power_w=power, dedicated=pool["dedicated"],
                                 site=pool["site"], zone=pool["zone"]))
    for index, buy in enumerate(inst["buys"]):
        for name in buy["offers"]:
            offer = inst["offers"][name]
            cpu, memory = inst["allocatable"][name]
            spot = buy.get("spot") and offer["spot_price"] is not None
            listed = Fraction(offer["spot_price"] if spot else offer["price"])
            own_prices = offer.get("region_prices", {})  # on demand, each region its own
            for region in offer["regions"] + [r for r in own_prices if r not in offer["regions"]]:
                if buy.get("regions") and region not in buy["regions"]:
                    continue
                price = Fraction(own_prices[region]) if region in own_prices else listed
                classes.append(NodeClass(f"{name}@{region}", region, Fraction(cpu), memory,
                                         offer["gpu_model"], offer["gpu_count"], offer["arch"], price,
                                         offer["max_pods"], buy["max_count"], buy=index, offer=name))
    seen: dict[str, int] = defaultdict(int)  # fitc names a second buy's nodes of one offer and
    for node_class in classes:                 # region `OFFER-REGION-K-1`
        node_class.suffix = f"-{seen[node_class.name]}" if seen[node_class.name] else ""
        seen[node_class.name] += 1
    return classes


def eligible(inst: dict, work: dict, node: NodeClass) -> bool:
    if node.arch not in work.get("arch", ["amd64"]):
        return False
    if node.dedicated and node.dedicated not in work.get("tolerate", []):
        return False
    if work.get("residency") and inst["region_jurisdiction"].get(node.region) not in work["residency"]:
        return False
    gpu = work.get("gpu")
    if gpu:
        if node.gpu_count < gpu["count"] or node.gpu_model is None:
            return False
        accelerator = inst["accelerators"][node.gpu_model]
        if gpu["model"] and node.gpu_model != gpu["model"]:
            return False
        rule = gpu["rule"]
        # a gpu block that names no model and no vendor asks for GPUs (fitlang's default family):
        # no TPU or Trainium for a rule on memory or interconnect alone, or none
        if not gpu["model"] and rule != "nvidia" and accelerator.get("family", "gpu") != "gpu":
            return False
        if rule == "memory20" and accelerator["memory"] < 20 * 10**9:
            return False
        if rule == "nvidia" and accelerator["vendor"] != "nvidia":
            return False
        if rule == "nvlink80" and (accelerator["memory"] < 80 * 10**9
                                   or accelerator["interconnect"] != "nvlink"):
            return False
    return fits_once(work, node)


def fits_once(work: dict, node: NodeClass) -> bool:
    return (millicores(work["cpu"]) <= node.cpu and work["memory"] <= node.memory
            and (node.pods is None or node.pods >= 1))


def per_node(work: dict, node: NodeClass) -> int:
    """Replicas of `work` alone on one empty node of `node`."""
    most = min(int(node.cpu // millicores(work["cpu"])), node.memory // work["memory"])
    gpu = work.get("gpu")
    if gpu:
        most = min(most, node.gpu_count // gpu["count"])
    if node.pods is not None:
        most = min(most, node.pods)
    return 1 if work.get("anti_node") and most >= 1 else most


def reach(inst: dict, region: str, location: str, within: int) -> bool:
    table = inst["latency"][location]
    name = inst["region_names"].get(region)
    return name in table and table[name] <= within


def exact(inst: dict, time_limit: float):
    classes = node_classes(inst)
    works = inst["workloads"]
    able = {(w, c): eligible(inst, works[w], classes[c])
            for w in range(len(works)) for c in range(len(classes))}
    slots = []  # (class index, k)
    for c, node in enumerate(classes):
        users = sum(works[w]["replicas"] for w in range(len(works)) if able[w, c])
        slots += [(c, k) for k in range(min(node.count, users))]
    y_index = {slot: i for i, slot in enumerate(slots)}
    x_index = {}
    for s, (c, _) in enumerate(slots):
        for w in range(len(works)):
            if able[w, c]:
                x_index[w, s] = len(slots) + len(x_index)
    spread_lo = {w: len(slots) + len(x_index) + i for i, w in
                 enumerate(w for w in range(len(works)) if works[w].get("spread_region"))}
    size = len(slots) + len(x_index) + len(spread_lo)
    rows, lows, highs = [], [], []
    extra: list[int] = []  # binaries made as rows are: does a region exist for a spread

    def row(entries, low, high):
        rows.append(entries)
        lows.append(low)
        highs.append(high)

    for w, work in enumerate(works):
        row({i: 1 for (ww, s), i in x_index.items() if ww == w}, work["replicas"], work["replicas"])
    for s, (c, k) in enumerate(slots):
        node = classes[c]
        here = {w: i for (w, ss), i in x_index.items() if ss == s}
        for need, have in ((lambda wk: millicores(wk["cpu"]), node.cpu),
                           (lambda wk: wk["memory"] / MIB, Fraction(node.memory, MIB)),
                           (lambda wk: (wk.get("gpu") or {"count": 0})["count"], node.gpu_count)):
            entries = {i: float(need(works[w])) for w, i in here.items()}
            entries[s] = -float(have)
            row(entries, -math.inf, 0)
        if node.pods is not None:
            row({**{i: 1 for i in here.values()}, s: -node.pods}, -math.inf, 0)
        for w, i in here.items():
            if works[w].get("anti_node"):
                row({i: 1, s: -1}, -math.inf, 0)
        if k > 0:
            row({y_index[c, k - 1]: 1, s: -1}, 0, math.inf)
    for index, buy in enumerate(inst["buys"]):
        row({s: 1 for s, (c, _) in enumerate(slots) if classes[c].buy == index}, -math.inf, buy["max_count"])
    row({s: classes[c].power_w for s, (c, _) in enumerate(slots) if classes[c].site == "dc1"},
        -math.inf, inst["power_cap_w"])
    prices = {s: float(classes[c].price) for s, (c, _) in enumerate(slots)}
    row(prices, -math.inf, inst["budget"])
    for w, work in enumerate(works):
        regions = sorted({classes[c].region for (ww, s), _ in x_index.items() if ww == w
                          for c in [slots[s][0]]})
        if work.get("spread_region"):
            for region in regions:
                count = {i: 1 for (ww, s), i in x_index.items()
                         if ww == w and classes[slots[s][0]].region == region}
                row({**count, spread_lo[w]: -1}, -math.inf, 1)
                # a domain of offers exists only where nodes the workload may use are bought
                # (docs/language.md): only then may it hold fewer than the others
                here = [s for s, (c, _) in enumerate(slots) if classes[c].region == region and able[w, c]]
                owned = any(classes[slots[s][0]].offer is None for s in here)
                big = work["replicas"]
                if owned:
                    row({**count, spread_lo[w]: -1}, 0, math.inf)
                else:
                    exists = size + len(extra)
                    extra.append(exists)
                    for s in here:
                        row({exists: 1, s: -1}, 0, math.inf)
                    row({exists: 1, **{s: -1 for s in here}}, -math.inf, 0)
                    row({**count, spread_lo[w]: -1, exists: -big}, -big, math.inf)
        for location in (work.get("latency") or {}).get("users", []):
            row({i: 1 for (ww, s), i in x_index.items() if ww == w
                 and reach(inst, classes[slots[s][0]].region, location, work["latency"]["within"])},
                1, math.inf)
    size += len(extra)
    matrix = lil_matrix((len(rows), size))
    for r, entries in enumerate(rows):
        for i, value in entries.items():
            matrix[r, i] = value
    cost = np.zeros(size)
    for s, price in prices.items():
        cost[s] = price
    upper = np.full(size, np.inf)
    upper[size - len(extra):] = 1
    upper[:len(slots)] = 1
    result = milp(cost, constraints=LinearConstraint(matrix.tocsr(), lows, highs),
                  integrality=np.ones(size), bounds=Bounds(np.zeros(size), upper),
                  options={"time_limit": time_limit, "mip_rel_gap": 1e-9})
    if result.status == 2:
        return "infeasible", None, None
    if result.x is None:
        return "undecided", None, None
    status = "optimal" if result.status == 0 else "feasible"
    placement = defaultdict(list)
    for (w, s), i in x_index.items():
        for _ in range(round(result.x[i])):
            placement[s].append(w)
    open_slots = [s for s in range(len(slots)) if result.x[s] > 0.5]
    nodes = [(classes[slots[s][0]], placement[s]) for s in open_slots]
    return status, sum(float(classes[slots[s][0]].price) for s in open_slots), nodes


class Greedy:
    def __init__(self, inst: dict):
        self.inst = inst
        self.classes = node_classes(inst)
        self.left = {c: node.count for c, node in enumerate(self.classes)}
        self.buy_left = {i: b["max_count"] for i, b in enumerate(inst["buys"])}
        self.power_left = inst["power_cap_w"]
        self.nodes: list[dict] = []  # class, cpu, memory, gpu, pods left, workloads on it

    def run(self):
        works = sorted(self.inst["workloads"], key=lambda w: (not w.get("gang"), not w.get("gpu"),
                                                              -millicores(w["cpu"]) * w["replicas"]))
        for work in works:
            if not self.place(work):
                return None
        return sum(float(self.classes[n["class"]].price) for n in self.nodes)

    def place(self, work: dict) -> bool:
        able = [c for c, node in enumerate(self.classes) if eligible(self.inst, work, node)]
        for region_set in self.deal(work, able):
            if not self.one(work, [c for c in able if self.classes[c].region in region_set]):
                return False
        return True

    def deal(self, work: dict, able: list[int]) -> list[set[str]]:
        """The regions each replica may go to: spread dealt evenly, latency's locations first."""
        regions = sorted({self.classes[c].region for c in able})
        replicas = work["replicas"]
        anywhere = set(regions)
        latency = work.get("latency")
        firsts = []
        if latency:
            for location in latency["users"]:
                near = {r for r in regions if reach(self.inst, r, location, latency["within"])}
                firsts.append(near)
        if not work.get("spread_region"):
            return (firsts + [anywhere] * replicas)[:replicas] if firsts else [anywhere] * replicas
        base, extra = divmod(replicas, len(regions))
        def per_replica(c: int) -> float:
            return float(self.classes[c].price) / max(1, per_node(work, self.classes[c]))

        cheap = sorted(regions, key=lambda r: min(per_replica(c) for c in able
                                                  if self.classes[c].region == r))
        chosen: list[str] = []
        for near in firsts:
            if base == 0 and not near & set(chosen):
                pick = [r for r in cheap if r in near and r not in chosen]
                if pick and len(chosen) < extra:
                    chosen.append(pick[0])
        chosen += [r for r in cheap if r not in chosen][:extra - len(chosen)]
        counts = {r: base + (r in chosen) for r in regions}
        return [{r} for r in regions for _ in range(counts[r])]

    def one(self, work: dict, able: list[int]) -> bool:
        cpu, memory = millicores(work["cpu"]), work["memory"]
        gpu = (work.get("gpu") or {"count": 0})["count"]
        for node in self.nodes:
            if (node["class"] in able and node["cpu"] >= cpu and node["memory"] >= memory
                    and node["gpu"] >= gpu and node["pods"] >= 1
                    and not (work.get("anti_node") and work["name"] in node["runs"])):
                self.take(node, work, cpu, memory, gpu)
                return True
        openable = [c for c in able if self.left[c] > 0 and self.can_open(self.classes[c])]
        if not openable:
            return False
        best = min(openable, key=lambda c: (float(self.classes[c].price) /
                                            max(1, min(per_node(work, self.classes[c]), work["replicas"])),
                                            self.classes[c].name))
        node_class = self.classes[best]
        self.left[best] -= 1
        if node_class.buy is not None:
            self.buy_left[node_class.buy] -= 1
        if node_class.site == "dc1":
            self.power_left -= node_class.power_w
        node = {"class": best, "cpu": node_class.cpu, "memory": node_class.memory,
                "gpu": node_class.gpu_count, "pods": node_class.pods if node_class.pods else 10**9,
                "runs": [], "k": node_class.count - self.left[best] - 1}
        self.nodes.append(node)
        self.take(node, work, cpu, memory, gpu)
        return True

    def can_open(self, node_class: NodeClass) -> bool:
        if node_class.buy is not None and self.buy_left[node_class.buy] <= 0:
            return False
        return node_class.site != "dc1" or self.power_left >= node_class.power_w

    @staticmethod
    def take(node, work, cpu, memory, gpu):
        node["cpu"] -= cpu
        node["memory"] -= memory
        node["gpu"] -= gpu
        node["pods"] -= 1
        node["runs"].append(work["name"])


def answer_json(inst: dict, nodes: list[tuple[NodeClass, list[str]]], value: float, status: str) -> dict:
    """fitc's answer JSON as docs/formats.md shows it: node names as fitc makes them (a pool's
    `POOL-K`, a bought node's `OFFER-REGION-K`), one assignment per replica."""
    counters: dict[str, int] = defaultdict(int)
    out_nodes, assignments, replica = [], [], defaultdict(int)
    for node_class, runs in nodes:
        k = counters[node_class.name + node_class.suffix]
        counters[node_class.name + node_class.suffix] += 1
        name = (f"{node_class.name}-{k}" if node_class.offer is None else
                f"{node_class.offer}-{node_class.region}-{k}{node_class.suffix}")
        entry = {"name": name, "pool": node_class.offer or node_class.name, "region": node_class.region,
                 "provisioned": node_class.offer is not None, "price": float(node_class.price)}
        if node_class.offer is not None:
            entry["offer"] = node_class.offer
        out_nodes.append(entry)
        for work in runs:
            assignments.append({"workload": work, "replica": replica[work], "node": name})
            replica[work] += 1
    return {"status": status, "objective": {"name": "cost", "value": value}, "nodes": out_nodes,
            "assignments": assignments, "unplaced": []}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("instance")
    parser.add_argument("out", nargs="?")
    parser.add_argument("--exact", action="store_true")
    parser.add_argument("--time-limit", type=float, default=300)
    args = parser.parse_args()
    with open(args.instance) as handle:
        inst = json.load(handle)
    if args.exact:
        status, value, nodes = exact(inst, args.time_limit)
        named = [(node, [inst["workloads"][w]["name"] for w in runs]) for node, runs in nodes or []]
    else:
        greedy = Greedy(inst)
        value = greedy.run()
        status = "greedy" if value is not None else "greedy failed"
        named = [(greedy.classes[n["class"]], n["runs"]) for n in greedy.nodes]
    print(status, "" if value is None else f"{value:.6f}")
    if args.out and value is not None:
        with open(args.out, "w") as handle:
            json.dump(answer_json(inst, named, value, "feasible"), handle, indent=1)
    sys.exit(0)


if __name__ == "__main__":
    main()
