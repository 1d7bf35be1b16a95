"""`fitc plan` against Karpenter-style consolidation, one node at a time (issue 18).

    .venv/bin/python bench/move_bench.py                                  # 3 pools, 201 nodes
    .venv/bin/python bench/move_bench.py --shape fleet --nodes 10000 --workloads 1000
    .venv/bin/python bench/move_bench.py --shape inventory --nodes 10000 --workloads 1000

`--shape pools` (session 11): three pools of alike nodes (8 cores, 32 GiB; 0.40, 0.34 and
0.30 USD/h), 40 workloads of 1-4 cores, and what runs now: after demand dropped, each replica
on a random node with room (so nodes run a third full on average).

`--shape fleet` (bench/fleet.py) and `--shape inventory` (bench/inventories.py, heterogeneous
pools, on-prem inventories, zone spread, budgets): the issue's instance. What runs now is the
fleet at rest: `fitc solve --format json` of the generated policy (cached under
--cache). Then about 10% of the nodes change (`changed_policy`): the pools in use, nearest
in size to a third of that share each, are one of

- *priced*: its price rises by 25%;
- *drained*: its block is gone from the policy (its replicas run on nodes the policy lacks:
  they must move, W0802);
- *undercut*: a new offer of its shape and labels at 80% of its price, as many nodes.

The policy states `move_price` (`--move-price`, USD/h per replica moved, node drained or
bought: one objective, cost + moves, whose proven bound the plan states) and
`min_saving = 0%`.

Both start from what runs now:

- `fitc plan` (`make_plan`, the waves checked by verify), timed in process (fitlang's
  byte-code compiled and the garbage collector set as the command has them): wall and CPU
  seconds, and the peak resident memory of the process;
- the baseline (`karpenter`), as Karpenter's single-node consolidation: first the replicas
  on nodes the policy lacks go, first fit, onto nodes in use with room (else onto the
  cheapest free node that takes them); then, repeatedly, the node in use with the fewest
  replicas (then the dearest) whose replicas all fit on the other nodes in use is deleted
  (its replicas moved there, first fit), or, failing that, replaced by one cheaper free node
  that takes all of its replicas; until no node is. It keeps each node rule a packer keeps
  (capacity, eligibility, one replica per node, apart, alone) and moves a replica of a
  workload with topology rules (spread, affinity, latency, gangs) only within its zone, as
  the scheduler's simulation would keep them; its end state is checked by `verify` too.

Printed per seed: cost before and after and moves for each, the plan's proven bound on
cost + moves and its gap. The machine is shared: medians over seeds. Not a test.
"""

from __future__ import annotations

import argparse
import compileall
import json
import random
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fitlang.cli import tune_collector  # noqa: E402
from fitlang.driver import Compilation  # noqa: E402
from fitlang.plan import make_plan  # noqa: E402

POOLS = (("a", "0.40"), ("b", "0.34"), ("c", "0.30"))
CORES, MEMORY_GIB = 8, 32
CHANGED_SHARE = 0.10  # of the nodes, split between the three kinds of change


def pools_fleet(nodes: int, seed: int) -> tuple[str, dict]:
    """The `pools` shape: the policy text and the state (placement JSON)."""
    rng = random.Random(seed)
    per_pool = nodes // len(POOLS)
    text = ""
    for name, price in POOLS:
        text += (f"pool {name} {{\n  count = {per_pool}\n  cpu = {CORES}\n  memory = {MEMORY_GIB}GiB\n"
                 f"  price = {price} USD/h\n}}\n\n")
    names = [f"{name}-{i}" for name, _ in POOLS for i in range(per_pool)]
    free = {n: [CORES, MEMORY_GIB] for n in names}
    assignments = []
    budget = CORES * len(names) // 3  # the cores that run now: a third of the fleet
    workloads = 40
    for index in range(workloads):
        cores, gib = rng.randint(1, 4), rng.randint(1, 8)
        replicas = max(1, budget // workloads // cores)
        name = f"w{index}"
        text += (f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cores}\n"
                 f"  memory = {gib}GiB\n}}\n\n")
        for replica in range(replicas):
            node = rng.choice([n for n in names if free[n][0] >= cores and free[n][1] >= gib])
            free[node][0] -= cores
            free[node][1] -= gib
            assignments.append({"workload": name, "replica": replica, "node": node})
    text += "policy {\n  objective = [cost, moves]\n  min_saving = 0%\n}\n"
    return text, {"assignments": assignments}


# ---- the issue's instance: a fleet at rest, then 10% of its nodes changed -----------------

POOL_BLOCK = re.compile(r"^pool (\S+) \{\n.*?^\}\n", re.M | re.S)


def at_rest(shape: str, nodes: int, workloads: int, seed: int, cache: Path) -> tuple[dict, dict, str]:
    """The generated fleet's files, its placement (what runs now: `fitc solve`, cached) and
    its policy text."""
    import fleet as fleet_shape
    import inventories

    generated = (fleet_shape.generate(nodes, workloads, seed=seed) if shape == "fleet"
                 else inventories.generate(nodes, workloads, seed=seed))
    where = cache / f"{shape}-{nodes}-{workloads}-{seed}"
    placement = where / "placement.json"
    if not placement.is_file():
        where.mkdir(parents=True, exist_ok=True)
        policy = generated.write(where, "base")
        solved = subprocess.run([sys.executable, "-m", "fitlang.cli", "solve", str(policy), "--format",
                                 "json", "--time-limit", "60"], capture_output=True, text=True,
                                cwd=ROOT)
        document = json.loads(solved.stdout)
        assert document.get("assignments"), solved.stderr[-2000:]
        placement.write_text(json.dumps(document))
    return generated.files, json.loads(placement.read_text()), generated.policy


def changed_policy(text: str, state: dict, seed: int, move_price: str) -> tuple[str, dict[str, list[str]]]:
    """The policy after about 10% of its nodes changed (see the module's docstring), and the
    pools each kind of change took."""
    rng = random.Random(seed)
    blocks = {m.group(1): m.group(0) for m in POOL_BLOCK.finditer(text)}
    used = Counter(item["node"].rsplit("-", 1)[0] for item in state["assignments"])
    count = {name: int(re.search(r"count = (\d+)", block).group(1)) for name, block in blocks.items()}
    total = sum(count.values())
    target = CHANGED_SHARE * total / 3
    chosen: dict[str, list[str]] = {"priced": [], "drained": [], "undercut": []}
    taken: set[str] = set()
    for kind in chosen:
        left = target
        while left > 0:
            candidates = [n for n in blocks if n in used and n not in taken and
                          (kind != "drained" or "gpu" not in blocks[n])]
            if not candidates:
                break
            rng.shuffle(candidates)
            name = min(candidates, key=lambda n: abs(count[n] - left))
            if chosen[kind] and count[name] > 2 * left:
                break
            chosen[kind].append(name)
            taken.add(name)
            left -= count[name]
    for name in chosen["priced"]:
        text = text.replace(blocks[name], _repriced(blocks[name], Fraction(5, 4)))
    for name in chosen["drained"]:
        text = text.replace(blocks[name], "")
    for name in chosen["undercut"]:
        offer = _repriced(blocks[name], Fraction(4, 5)).replace(f"pool {name} {{", f"pool {name}x {{", 1)
        text += "\n" + offer
    settings = f"  move_price = {move_price} USD/h\n  min_saving = 0%\n"
    if re.search(r"^policy \{\n", text, re.M):
        text = re.sub(r"^policy \{\n", "policy {\n" + settings, text, count=1, flags=re.M)
    else:
        text += "policy {\n" + settings + "}\n"
    return text, chosen


def _repriced(block: str, factor: Fraction) -> str:
    def scaled(match: re.Match) -> str:
        return f"price = {float(Fraction(match.group(1)) * factor):.4f} USD/h"

    return re.sub(r"price = ([0-9.]+) USD/h", scaled, block)


# ---- the baseline -------------------------------------------------------------------------

class Karpenter:
    """Single-node consolidation over a problem with a current state (module docstring)."""

    def __init__(self, problem) -> None:
        from fitlang.model.problem import RESOURCES

        self.problem, self.resources = problem, RESOURCES
        self.owners = problem.owners()
        self.apart, self.alone = problem.apart_on_nodes
        self.eligible = {d.name: frozenset(d.eligible) for d in problem.demands}
        self.zoned = {d.name for d in problem.demands
                      if d.spreads or d.affinities or d.latency or d.gang}
        self.hosted: dict[str, Counter] = {}
        for demand, nodes in problem.running.items():
            for node, count in nodes.items():
                self.hosted.setdefault(node, Counter())[demand] += count
        self.used = {n: self._use(c) for n, c in self.hosted.items()}
        self.moves = 0
        self.unplaced = 0

    def capacity(self, node: str) -> dict[str, int]:
        node_class = self.owners[node]
        return node_class.node_capacity.get(node, node_class.capacity)

    def _use(self, hosted: Counter) -> dict[str, int]:
        return {r: sum(self.problem.demand(d).requests[r] * c for d, c in hosted.items())
                for r in self.resources}

    def takes(self, node: str, demand, used: dict[str, int], hosted: Counter, source: str | None) -> bool:
        node_class = self.owners[node]
        if node_class.id not in self.eligible[demand.name]:
            return False
        if source is not None and demand.name in self.zoned and \
                self.owners[source].zone != node_class.zone:
            return False
        if demand.one_per_node and hosted[demand.name]:
            return False
        others = [d for d, c in hosted.items() if c and d != demand.name]
        if others and (demand.name in self.alone or any(d in self.alone for d in others)):
            return False
        if any(d in self.apart.get(demand.name, ()) for d in others):
            return False
        capacity = self.capacity(node)
        return all(used[r] + demand.requests[r] <= capacity[r] for r in self.resources)

    def fit(self, replicas: list[str], targets: list[str], source: str | None) -> dict[str, Counter] | None:
        """First fit of the replicas (largest first) onto the targets, or None."""
        added: dict[str, Counter] = {}
        used = {n: dict(self.used[n]) for n in targets}
        for name in sorted(replicas, key=lambda d: -self.problem.demand(d).requests["cpu"]):
            demand = self.problem.demand(name)
            for node in targets:
                hosted = self.hosted[node] + added.get(node, Counter())
                if self.takes(node, demand, used[node], hosted, source):
                    added.setdefault(node, Counter())[name] += 1
                    for r in self.resources:
                        used[node][r] += demand.requests[r]
                    break
            else:
                return None
        return added

    def apply(self, source: str | None, added: dict[str, Counter]) -> None:
        for node, counts in added.items():
            self.hosted.setdefault(node, Counter()).update(counts)
            self.used[node] = self._use(self.hosted[node])
            self.moves += sum(counts.values())
        if source is not None:
            del self.hosted[source], self.used[source]

    def free_nodes(self) -> list[str]:
        """Nodes not in use, cheapest first (one per class and size: alike nodes are alike)."""
        free = []
        for node_class in sorted(self.problem.classes, key=lambda c: (c.price, c.id)):
            for node in node_class.node_names[: node_class.count]:
                if node not in self.hosted:
                    free.append(node)
                    if not node_class.node_capacity:
                        break
        return free

    def run(self, deadline: float) -> None:
        for demand, count in sorted(self.problem.running_elsewhere.items()):
            for _ in range(count):
                self._place_elsewhere(demand)
        changed = True
        while changed and time.monotonic() < deadline:
            changed = False
            order = sorted(self.hosted, key=lambda n: (sum(self.hosted[n].values()),
                                                       -self.owners[n].price, n))
            for node in order:
                if time.monotonic() > deadline:
                    return
                replicas = list(self.hosted[node].elements())
                if any(d in self.problem.pinned for d in replicas):
                    continue
                targets = sorted((n for n in self.hosted if n != node),
                                 key=lambda n: (self.owners.position(n), n))
                added = self.fit(replicas, targets, node)
                if added is None:
                    added = self._replacement(node, replicas)
                if added is not None:
                    self.apply(node, added)
                    changed = True
                    break

    def _replacement(self, node: str, replicas: list[str]) -> dict[str, Counter] | None:
        """One free node, cheaper than `node`, that takes all its replicas (opened), or None."""
        price = self.owners[node].price
        for free in self.free_nodes():
            if self.owners[free].price >= price:
                break
            self._open(free)
            added = self.fit(replicas, [free], node)
            if added is not None:
                return added
            self._close(free)
        return None

    def _open(self, node: str) -> None:
        self.hosted[node], self.used[node] = Counter(), self._use(Counter())

    def _close(self, node: str) -> None:
        del self.hosted[node], self.used[node]

    def _place_elsewhere(self, name: str) -> None:
        """First fit onto the nodes in use, else the cheapest free node; a replica of a
        workload with topology rules in the zone that runs the fewest of it, as the
        scheduler's topology spread would place it."""
        zone = self._fewest_zone(name)
        targets = sorted((n for n in self.hosted if zone is None or self.owners[n].zone == zone),
                         key=lambda n: (self.owners.position(n), n))
        added = self.fit([name], targets, None)
        if added is None:
            for node in self.free_nodes():
                if zone is not None and self.owners[node].zone != zone:
                    continue
                self._open(node)
                added = self.fit([name], [node], None)
                if added is not None:
                    break
                self._close(node)
        if added is None:
            self.unplaced += 1
            return
        self.apply(None, added)

    def _fewest_zone(self, name: str) -> str | None:
        if name not in self.zoned:
            return None
        counts = Counter({self.problem.node_class(c).zone: 0 for c in self.eligible[name]})
        for node, hosted in self.hosted.items():
            counts[self.owners[node].zone] += hosted[name]
        return min(counts, key=lambda z: (counts[z], str(z)))

    def cost(self) -> Fraction:
        return sum((self.owners[n].price for n, c in self.hosted.items() if c), Fraction(0))


def karpenter(problem, root: str, seconds: float) -> tuple[Fraction, int, int, int, float]:
    """(cost after, replicas moved, left out, rules its end state breaks, seconds)."""
    from fitlang.solve.moving import _Checker

    started = time.monotonic()
    baseline = Karpenter(problem)
    baseline.run(started + seconds)
    elapsed = time.monotonic() - started
    broken = _Checker(problem, set(problem.bought_now), root).broken(baseline.hosted)
    return baseline.cost(), baseline.moves, baseline.unplaced, len(broken), elapsed


# ---- the run ------------------------------------------------------------------------------

def one_seed(arguments: argparse.Namespace, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as name:
        directory = Path(name)
        if arguments.shape == "pools":
            text, state = pools_fleet(arguments.nodes, seed)
            chosen: dict[str, list[str]] = {}
        else:
            files, state, base = at_rest(arguments.shape, arguments.nodes, arguments.workloads, seed,
                                         Path(arguments.cache))
            text, chosen = changed_policy(base, state, seed, arguments.move_price)
            for file_name, content in files.items():
                (directory / file_name).write_text(content)
        policy, current = directory / "p.fit", directory / "now.json"
        policy.write_text(text)
        current.write_text(json.dumps(state))
        row = planned(policy, current, arguments.time_limit)
        row.update(chosen=chosen, replicas=len(state["assignments"]))
        result = row["plan"]
        if result.plan is not None:
            assert result.problem is not None
            row["karpenter"] = karpenter(result.problem, str(policy), arguments.baseline_seconds)
    return row


def planned(policy: Path, current: Path, time_limit: float | None) -> dict:
    """`make_plan` of the policy from the state, timed; `no_plan` the first line of its first
    error where it makes none (a change can leave the fleet with no placement at all:
    inventory 1,000 seed 2 drains the pool its EU spreads needed, session 24)."""
    started, cpu = time.monotonic(), time.process_time()
    compilation = Compilation(policy, current=str(current))
    result = make_plan(compilation, compilation.current_state(), time_limit)
    row = {"seconds": time.monotonic() - started, "cpu": time.process_time() - cpu,
           "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "plan": result}
    if result.plan is None:
        errors = [d for d in result.diagnostics if d.is_error]
        row["no_plan"] = (f"{errors[0].code} {errors[0].message.splitlines()[0]}" if errors
                          else "no plan and no error")
    return row


def compile_package() -> None:
    """fitlang's byte-code, compiled before anything is timed, as an installed fitc has it (as
    `run.py` does): this machine sets PYTHONDONTWRITEBYTECODE, so without it each plan timed
    here compiled every fitlang module it imports (inventory 10,000: ~0.3-0.6 of its CPU s)."""
    import fitlang

    compileall.compile_dir(str(Path(fitlang.__file__).parent), quiet=1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=("pools", "fleet", "inventory"), default="pools")
    parser.add_argument("--nodes", type=int, default=201)
    parser.add_argument("--workloads", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--time-limit", type=float, default=60.0)
    parser.add_argument("--baseline-seconds", type=float, default=120.0)
    parser.add_argument("--move-price", default="0.01")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "fitc-move-bench"))
    arguments = parser.parse_args()
    compile_package()
    # the collector as `fitc plan` sets it (`cli.main`): timed without it, the plan's CPU was
    # 0.2-1.7 s more at inventory 10,000 (session 25)
    tune_collector()
    seconds = []
    for seed in range(arguments.first_seed, arguments.first_seed + arguments.seeds):
        row = one_seed(arguments, seed)
        if "no_plan" in row:  # not in the medians: no plan exists to time
            print(f"seed {seed}: {row['replicas']} replicas on {arguments.nodes} nodes, changed "
                  f"{row['chosen']}\n  no plan: {row['no_plan']} ({row['seconds']:.1f} s wall "
                  f"{row['cpu']:.1f} s CPU)")
            continue
        seconds.append(row["seconds"])
        result = row["plan"]
        plan = result.plan
        greedy_cost, greedy_moves, left_out, broken, greedy_seconds = row["karpenter"]
        target = result.placement
        bound = (f", {target.objective} {float(target.value):.2f}, bound {float(target.bound):.2f}, "
                 f"gap {100 * target.gap:.2f}%" if target.bound is not None and target.value is not None
                 and target.gap is not None else "")
        print(f"seed {seed}: {row['replicas']} replicas on {arguments.nodes} nodes, changed "
              f"{row['chosen']}\n  now {float(plan.cost_before):.2f} USD/h | plan "
              f"{float(plan.cost_after):.2f} USD/h, {plan.moves} moves (least {plan.least_moves}), "
              f"{len(plan.waves)} waves, {result.status}{bound}, {row['seconds']:.1f} s wall "
              f"{row['cpu']:.1f} s CPU, peak {row['peak_mb']:.0f} MB\n  one node at a time "
              f"{float(greedy_cost):.2f} USD/h, {greedy_moves} moves, {left_out} left out, "
              f"{broken} rules broken, {greedy_seconds:.1f} s")
    if seconds:
        print(f"plan wall time, median of {len(seconds)}: {statistics.median(seconds):.1f} s")


if __name__ == "__main__":
    main()
