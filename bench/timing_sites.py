"""Placing work in time on a second shape (issue 19): three sites, mixed nodes, packed jobs.

    .venv/bin/python bench/timing_sites.py                      # 1,000 jobs x 168 h x 1,000 nodes
    .venv/bin/python bench/timing_sites.py --jobs 100 --nodes 100 --time-limit 60
    .venv/bin/python bench/timing_sites.py --stats              # the instance's contention only

`bench/timing.py` was the shape the time model was tuned on: whole-node jobs on one site, one
cap, one price curve. This generator shares no code with it and differs on every axis the
brief names (seeded, deterministic):

- three sites, each its own grid (price and carbon per hour: `fra` cheap at night on a
  fossil-heavy grid, `mad` cheap at noon on a solar one, `osl` flat and clean but small) and its
  own power cap per hour of the day (tighter in `fra`'s daytime peak);
- heterogeneous pools per site: small and large CPU nodes, H100 nodes in `fra`, L40S nodes in
  `mad` (GPU pools `dedicated = "gpu"`: CPU work stays off them);
- jobs of 1-16 replicas that pack (a replica takes 2-48 of a node's CPUs), GPU jobs of 1-4
  GPUs on either GPU pool, whole-node H100 training, a third of the jobs held to one or two
  sites (data residency), windows with 0-36 h of slack released over the week so that the
  cheap hours compete; services beside them; a few recurring (`every = 24h`) and preemptible
  (`min_segment = 2h`) jobs.

Baselines, node by node and step by step here (no fitc code): FIFO (each replica, jobs in
order of release, at the first start that fits on any node of a pool it may use, the cheapest
pool then) and "cheapest window alone" (each replica at the start and pool where its own share
of the node costs least, among those that fit what is placed). Both keep every node's
capacity and every site's power cap at each step; a replica that fits nowhere in its window
starts later (hours late), or is dropped (its duration past the horizon counted late). Both run
preemptible jobs unbroken and a recurring job's runs one by one. Cost: each node in use at a
step at its pool's price plus its power x the site's price then; carbon: its power x the
site's intensity then; fitc's schedule is recounted the same way and checked by `verify`.
Not a test: numbers go to docs/performance.md (the machine is shared: read CPU seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fitlang.driver import Compilation  # noqa: E402


@dataclass(frozen=True)
class PoolKind:
    cpu: int
    memory_gib: int
    gpus: int
    model: str | None
    watts: int
    usd_per_hour: float


KINDS = {"cpu_s": PoolKind(32, 128, 0, None, 450, 0.9),
         "cpu_l": PoolKind(96, 768, 0, None, 1200, 2.8),
         "h100": PoolKind(96, 1024, 8, "H100", 10_000, 22.0),
         "l40s": PoolKind(64, 512, 4, "L40S", 2_400, 5.0)}
# nodes per site and kind at 1,000 nodes (scaled with --nodes)
FLEET = {"fra": {"cpu_s": 180, "cpu_l": 90, "h100": 30},
         "osl": {"cpu_s": 150, "cpu_l": 50},
         "mad": {"cpu_s": 250, "cpu_l": 130, "l40s": 120}}
# a site's power cap, as a share of what all its nodes draw at once, per hour of the day
CAP_SHARE = {"fra": [0.70] * 7 + [0.55] * 13 + [0.70] * 4, "osl": [0.60] * 24,
             "mad": [0.70] * 24}


def hourly_curves(site: str, steps: int, rng: random.Random) -> tuple[list[float], list[int]]:
    """USD/kWh and gCO2e/kWh per step; each day its own weather (noise drawn per day)."""
    prices, grams = [], []
    for t in range(steps):
        hour, day = t % 24, t // 24
        if site == "fra":  # cheap nights on a fossil-heavy grid, a windy day now and then
            price = 0.07 if hour < 6 or hour >= 22 else 0.30 if 17 <= hour < 21 else 0.21
            gram = 420 if hour < 6 or hour >= 22 else 340
            windy = (day * 7 + 3) % 5 == 0
            gram -= 150 if windy else 0
        elif site == "mad":  # solar: cheap and clean at noon, dear and dirty in the evening
            sun = 10 <= hour < 16
            price = 0.04 if sun else 0.26 if 18 <= hour < 22 else 0.17
            gram = 90 if sun else 320
        else:  # osl: hydro, flat
            price, gram = 0.06, 25
        noise = rng.randint(-2, 2) / 100
        prices.append(round(max(0.01, price + noise), 2))
        grams.append(gram)
    return prices, grams


@dataclass
class Job:
    name: str
    replicas: int
    cpu: int
    memory_gib: int
    gpus: int
    model: str | None
    duration: int
    earliest: int
    deadline: int
    sites: list[str]
    every: int | None = None  # a period in steps: one run per period, each within `within`
    within: int = 0
    preemptible: bool = False
    service: bool = False

    def windows(self, steps: int) -> list[tuple[int, int]]:
        """(earliest start, deadline) of each run."""
        if self.service:
            return [(0, steps)]
        if self.every is None:
            return [(self.earliest, self.deadline)]
        return [(release, release + self.within)
                for release in range(self.earliest, steps, self.every)
                if release + self.within <= steps]


@dataclass
class Instance:
    steps: int
    pools: dict[str, tuple[str, str, int]]  # pool name -> (site, kind, count)
    prices: dict[str, list[float]]
    grams: dict[str, list[int]]
    caps: dict[str, list[int]]  # site -> watts per step
    jobs: list[Job] = field(default_factory=list)

    def may_use(self, job: Job, pool: str) -> bool:
        site, kind_name, _ = self.pools[pool]
        kind = KINDS[kind_name]
        if site not in job.sites or (kind.gpus > 0) != (job.gpus > 0):
            return False
        if job.model is not None and kind.model != job.model:
            return False
        return job.cpu <= kind.cpu and job.memory_gib <= kind.memory_gib and job.gpus <= kind.gpus


def generate(jobs: int, steps: int, nodes: int, seed: int) -> Instance:
    rng = random.Random(seed)
    pools = {f"{site}_{kind}": (site, kind, max(1, count * nodes // 1000))
             for site, kinds in FLEET.items() for kind, count in kinds.items()}
    prices, grams, caps = {}, {}, {}
    for site in FLEET:
        prices[site], grams[site] = hourly_curves(site, steps, rng)
        full = sum(KINDS[k].watts * n for s, k, n in pools.values() if s == site)
        caps[site] = [int(full * CAP_SHARE[site][t % 24]) for t in range(steps)]
    instance = Instance(steps, pools, prices, grams, caps)
    for index in range(max(1, nodes // 40)):
        cpu = rng.choice([2, 4, 8, 16])
        instance.jobs.append(Job(f"svc{index}", rng.randint(2, 6), cpu, cpu * 4, 0, None, steps, 0,
                                 steps, _sites(rng), service=True))
    for index in range(jobs):
        instance.jobs.append(_job(f"job{index}", rng, steps))
    _witnessed(instance, rng)
    return instance


def _witnessed(instance: Instance, rng: random.Random) -> None:
    """Make the instance feasible without making it loose: one schedule (services, recurring
    jobs, then the rest in a random order, each replica at the first start that fits: neither
    baseline's order) is the witness; a job it ran late gets its deadline moved to the
    witness's end; a recurring job it ran late, or one it could not place at all, is left
    out (what the witness placed of it stays: removing work keeps it a schedule). fitc's
    model keeps the same capacity and caps, so the witness is a schedule of the policy."""
    steps = instance.steps
    fleet = Fleet(instance)
    rest = [j for j in instance.jobs if not j.service and j.every is None]
    rng.shuffle(rest)
    order = [j for j in instance.jobs if j.service] + [j for j in instance.jobs if j.every] + rest
    dropped: set[str] = set()
    for job in order:
        pools = [p for p in instance.pools if instance.may_use(job, p)]
        ends = []
        for earliest, deadline in job.windows(steps):
            for _ in range(job.replicas):
                spot = _choose(instance, fleet, job, pools, range(earliest, steps - job.duration + 1),
                               False)
                if spot is None:
                    dropped.add(job.name)
                    continue
                pool, node, start = spot
                fleet.place(pool, node, job, start, start + job.duration)
                ends.append(start + job.duration - deadline)
        if ends and max(ends) > 0:
            if job.every is not None:  # its runs would overlap: left out
                dropped.add(job.name)
            else:
                job.deadline += max(ends)
    instance.jobs = [j for j in instance.jobs if j.name not in dropped]


def _sites(rng: random.Random) -> list[str]:
    if rng.random() < 0.33:
        return sorted(rng.sample(list(FLEET), rng.randint(1, 2)))
    return sorted(FLEET)


def _job(name: str, rng: random.Random, steps: int) -> Job:
    draw = rng.random()
    sites = _sites(rng)
    if draw < 0.1:  # whole-node H100 training (fra only)
        replicas, cpu, memory, gpus, model = rng.randint(1, 3), 96, 1000, 8, "H100"
        duration, sites = rng.randint(4, 16), ["fra"]
    elif draw < 0.3:  # GPU work on either GPU pool
        gpus = rng.choice([1, 2, 4])
        replicas, cpu, memory, model = rng.randint(1, 4), 8 * gpus, 48 * gpus, None
        duration, sites = rng.randint(2, 12), ["fra", "mad"]
    else:  # CPU batch that packs
        cpu = rng.choice([2, 4, 8, 16, 24, 32, 48])
        replicas, memory, gpus, model = rng.randint(1, 16), cpu * rng.choice([2, 4, 8]), 0, None
        duration = rng.randint(2, 24)
    earliest = rng.randint(0, steps - duration)
    deadline = min(steps, earliest + duration + rng.randint(0, 36))
    job = Job(name, replicas, cpu, memory, gpus, model, duration, earliest, deadline, sites)
    recurring = rng.random()
    if recurring < 0.06 and duration <= 6:
        job.every, job.within, job.earliest = 24, duration + rng.randint(2, 10), rng.randint(0, 12)
        job.deadline = steps
    elif 0.06 <= recurring < 0.08 and duration >= 4:
        job.preemptible, job.replicas = True, min(job.replicas, 2)
    return job


def policy_text(instance: Instance, objective: str) -> str:
    text = ['import "std/accelerators"\n']
    for name, (site, kind_name, count) in instance.pools.items():
        kind = KINDS[kind_name]
        gpu = f"\n  gpu {{\n    model = {kind.model}\n    count = {kind.gpus}\n  }}" if kind.gpus else ""
        dedicated = '\n  dedicated = "gpu"' if kind.gpus else ""
        text.append(f"\npool {name} {{\n  count = {count}\n  cpu = {kind.cpu}\n"
                    f"  memory = {kind.memory_gib}GiB{gpu}{dedicated}\n  power = {kind.watts}W\n"
                    f"  price = {kind.usd_per_hour} USD/h\n  labels = {{ site: \"{site}\" }}\n}}\n")
    for site in FLEET:
        listed = ", ".join(f"{p:g} USD/kWh" for p in instance.prices[site])
        grams = ", ".join(f"{g} gCO2e/kWh" for g in instance.grams[site])
        caps = ", ".join(f"{w}W" for w in instance.caps[site])
        text.append(f"\nelectricity grid_{site} {{\n  hourly = [{listed}]\n"
                    f"  carbon_hourly = [{grams}]\n  labels = {{ site: \"{site}\" }}\n}}\n"
                    f"\npower_cap feed_{site} {{\n  hourly = [{caps}]\n"
                    f"  labels = {{ site: \"{site}\" }}\n}}\n")
    for job in instance.jobs:
        text.append(_workload(job))
    text.append(f"\npolicy {{\n  objective = [{objective}]\n  horizon = {instance.steps}h\n"
                f"  step = 1h\n  start = \"2026-12-07T00:00Z\"\n}}\n")
    return "".join(text)


def _workload(job: Job) -> str:
    lines = [f"workload {job.name} {{", f"  replicas = {job.replicas}", f"  cpu = {job.cpu}",
             f"  memory = {job.memory_gib}GiB"]
    if job.gpus:
        model = f"\n    model = {job.model}" if job.model else ""
        lines += [f"  gpu {{{model}\n    count = {job.gpus}\n  }}", '  tolerate = ["gpu"]']
    if len(job.sites) < len(FLEET):
        lines.append("  require labels[\"site\"] in [" + ", ".join(f'"{s}"' for s in job.sites) + "]")
    if not job.service:
        lines += ["  kind = job", f"  duration = {job.duration}h"]
        if job.every is not None:
            lines += [f"  every = {job.every}h", f"  within = {job.within}h",
                      f"  earliest = {job.earliest}h"]
        else:
            lines += [f"  earliest = {job.earliest}h", f"  deadline = {job.deadline}h"]
        if job.preemptible:
            lines += ["  preemptible = true", "  min_segment = 2h"]
    return "\n" + "\n".join(lines) + "\n}\n"


# ---- the baselines: node by node, step by step -------------------------------------------------

class Fleet:
    """Every node's free CPU, memory and GPUs per step, which nodes are in use, each site's
    power drawn per step."""

    def __init__(self, instance: Instance):
        self.instance = instance
        steps = instance.steps
        self.free: dict[str, np.ndarray] = {}
        self.in_use: dict[str, np.ndarray] = {}
        for name, (_, kind_name, count) in instance.pools.items():
            kind = KINDS[kind_name]
            self.free[name] = np.tile(np.array([kind.cpu, kind.memory_gib, kind.gpus]), (count, steps, 1))
            self.in_use[name] = np.zeros((count, steps), dtype=bool)
        self.drawn = {site: np.zeros(steps) for site in FLEET}

    def first_node(self, pool: str, job: Job, start: int, end: int) -> int | None:
        """The first node of the pool with room for one replica at every step of [start, end)
        whose site's cap holds with it in use."""
        if end > self.instance.steps:
            return None
        site, kind_name, _ = self.instance.pools[pool]
        need = np.array([job.cpu, job.memory_gib, job.gpus])
        room = (self.free[pool][:, start:end, :] >= need).all(axis=(1, 2))
        watts = KINDS[kind_name].watts
        cap = np.array(self.instance.caps[site][start:end])
        for node in np.flatnonzero(room):
            waking = ~self.in_use[pool][node, start:end]
            if (self.drawn[site][start:end] + waking * watts <= cap).all():
                return int(node)
        return None

    def place(self, pool: str, node: int, job: Job, start: int, end: int) -> None:
        site, kind_name, _ = self.instance.pools[pool]
        waking = ~self.in_use[pool][node, start:end]
        self.drawn[site][start:end] += waking * KINDS[kind_name].watts
        self.in_use[pool][node, start:end] = True
        self.free[pool][node, start:end, :] -= np.array([job.cpu, job.memory_gib, job.gpus])

    def totals(self) -> tuple[float, float]:
        """(USD, kgCO2e) of the nodes in use over the horizon."""
        cost = carbon = 0.0
        for pool, used in self.in_use.items():
            site, kind_name, _ = self.instance.pools[pool]
            kind = KINDS[kind_name]
            per_step = used.sum(axis=0)
            prices = np.array(self.instance.prices[site])
            cost += float((per_step * (kind.usd_per_hour + kind.watts / 1000 * prices)).sum())
            carbon += float((per_step * kind.watts / 1000 * np.array(self.instance.grams[site])).sum()) / 1000
        return cost, carbon


def rate(instance: Instance, pool: str, job: Job, start: int, end: int) -> float:
    """What a replica's share of a node costs over [start, end), as a per-job tool sees it."""
    site, kind_name, _ = instance.pools[pool]
    kind = KINDS[kind_name]
    share = max(job.cpu / kind.cpu, job.memory_gib / kind.memory_gib,
                job.gpus / kind.gpus if kind.gpus else 0.0)
    hourly = sum(kind.usd_per_hour + kind.watts / 1000 * instance.prices[site][t]
                 for t in range(start, end))
    return share * hourly


def baseline(instance: Instance, cheapest: bool) -> dict:
    fleet = Fleet(instance)
    steps = instance.steps
    late = dropped = hours_late = 0
    order = sorted(instance.jobs, key=lambda j: (not j.service, j.earliest, j.name))
    for job in order:
        pools = [p for p in instance.pools if instance.may_use(job, p)]
        for earliest, deadline in job.windows(steps):
            for _ in range(job.replicas):
                starts = range(earliest, deadline - job.duration + 1)
                spot = _choose(instance, fleet, job, pools, starts, cheapest)
                if spot is None:
                    late += 1
                    spot = _choose(instance, fleet, job, pools, range(deadline - job.duration + 1,
                                                                      steps - job.duration + 1), False)
                if spot is None:
                    dropped += 1
                    hours_late += steps + job.duration - deadline
                    continue
                pool, node, start = spot
                fleet.place(pool, node, job, start, start + job.duration)
                hours_late += max(0, start + job.duration - deadline)
    cost, carbon = fleet.totals()
    return {"cost": cost, "carbon": carbon, "hours_late": hours_late, "late": late,
            "dropped": dropped}


def _choose(instance: Instance, fleet: Fleet, job: Job, pools: list[str], starts: range,
            cheapest: bool) -> tuple[str, int, int] | None:
    """FIFO: the first start where some pool fits, on the pool cheapest for the replica then;
    cheapest: the (start, pool) of least cost for the replica among all that fit."""
    options = []
    for start in starts:
        for pool in sorted(pools, key=lambda p: rate(instance, p, job, start, start + job.duration)):
            node = fleet.first_node(pool, job, start, start + job.duration)
            if node is not None:
                if not cheapest:
                    return pool, node, start
                options.append((rate(instance, pool, job, start, start + job.duration), start, pool, node))
                break
    if not options:
        return None
    _, start, pool, node = min(options)
    return pool, node, start


def contention(instance: Instance) -> dict[str, float]:
    """Each resource's work over the week against what the fleet holds (whole horizon), and
    the share of the power caps' energy the jobs would need if each replica used a node's
    share (a rough gauge: the packing and the cheap hours make it tighter)."""
    steps = instance.steps
    held = {"cpu": 0.0, "gpu": 0.0}
    for _, kind_name, count in instance.pools.values():
        held["cpu"] += KINDS[kind_name].cpu * count * steps
        held["gpu"] += KINDS[kind_name].gpus * count * steps
    asked = {"cpu": 0.0, "gpu": 0.0}
    for job in instance.jobs:
        hours = job.replicas * job.duration * len(job.windows(steps))
        asked["cpu"] += job.cpu * hours
        asked["gpu"] += job.gpus * hours
    return {resource: asked[resource] / held[resource] for resource in held if held[resource]}


# ---- fitc ---------------------------------------------------------------------------------------

def solve_fitc(instance: Instance, time_limit: float, objective: str) -> dict:
    from fitlang.solve.report import as_json
    from fitlang.solve.timeline import horizon_value
    from fitlang.solve.verify import verify

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sites.fit"
        path.write_text(policy_text(instance, objective))
        cpu, wall = time.process_time(), time.monotonic()
        compilation = Compilation(path)
        problem = compilation.problem
        if problem is None:
            raise SystemExit([d.message for d in compilation.diagnostics()][:5])
        built = time.process_time() - cpu
        cpu, wall = _cpu_with_children(), time.monotonic()
        placement = compilation.solve(time_limit=time_limit)
        solved, solved_wall = _cpu_with_children() - cpu, time.monotonic() - wall
        runs = placement.assignments
        cost, carbon = (float(horizon_value(problem, runs, name)) for name in ("cost", "carbon"))  # type: ignore[arg-type]
        document = json.loads(as_json(problem, placement, []))
        violations, malformed = verify(problem, document, str(path))
    return {"build_cpu": built, "solve_cpu": solved, "solve_wall": solved_wall,
            "status": str(placement.status), "value": placement.value, "bound": placement.bound,
            "gap": placement.gap, "unplaced": len(placement.unplaced), "cost": cost,
            "carbon": carbon, "verify": len(violations) + len(malformed),
            "verify_first": [v.message for v in violations][:3] + malformed[:3]}


def _cpu_with_children() -> float:
    """CPU seconds of this process and of the children it waited for (the time model's MIP
    runs in a child process)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def instance_arguments(parser: argparse.ArgumentParser, jobs: int = 1000, steps: int = 168,
                       nodes: int = 1000, seed: int = 1) -> None:
    """The instance's size and seed, as every script over this generator takes them."""
    parser.add_argument("--jobs", type=int, default=jobs)
    parser.add_argument("--steps", type=int, default=steps)
    parser.add_argument("--nodes", type=int, default=nodes)
    parser.add_argument("--seed", type=int, default=seed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    instance_arguments(parser)
    parser.add_argument("--time-limit", type=float, default=30.0)
    parser.add_argument("--objective", default="cost", help="cost, carbon, carbon,cost, ...")
    parser.add_argument("--stats", action="store_true", help="the instance and baselines only")
    arguments = parser.parse_args()
    instance = generate(arguments.jobs, arguments.steps, arguments.nodes, arguments.seed)
    nodes = sum(count for _, _, count in instance.pools.values())
    gauge = ", ".join(f"{r} {share:.0%}" for r, share in contention(instance).items())
    recurring = sum(1 for j in instance.jobs if j.every)
    preemptible = sum(1 for j in instance.jobs if j.preemptible)
    services = sum(1 for j in instance.jobs if j.service)
    print(f"{arguments.jobs} jobs ({recurring} recurring, {preemptible} preemptible) + {services} "
          f"services x {arguments.steps} h x {nodes} nodes in {len(instance.pools)} pools; "
          f"work / capacity over the week: {gauge}")
    began = time.process_time()
    fifo, alone = baseline(instance, cheapest=False), baseline(instance, cheapest=True)
    print(f"baselines: {time.process_time() - began:.1f} CPU s")
    columns = "cost USD / kgCO2e / hours late (replicas late, dropped)"
    if arguments.stats:
        print(f"FIFO {_shown(fifo)}; cheapest window alone {_shown(alone)}  [{columns}]")
        return
    objective = ", ".join(arguments.objective.split(","))
    row = solve_fitc(instance, arguments.time_limit, objective)
    value = "-" if row["value"] is None else f"{float(row['value']):.1f}"
    bound = "-" if row["bound"] is None else f"{float(row['bound']):.1f}"
    gap = "-" if row["gap"] is None else f"{row['gap']:.2%}"
    print(f"objective [{objective}]; each column: {columns}")
    print("| jobs x steps x nodes | build CPU s | solve CPU s (wall) | status | objective | bound | "
          "gap | verify | fitc | FIFO | cheapest window alone |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    unplaced = f" ({row['unplaced']} unplaced)" if row["unplaced"] else ""
    print(f"| {arguments.jobs} x {arguments.steps} x {nodes} | {row['build_cpu']:.1f} | "
          f"{row['solve_cpu']:.1f} ({row['solve_wall']:.1f}) | {row['status']}{unplaced} | {value} "
          f"| {bound} | {gap} | {row['verify']} violations | {row['cost']:.1f} / {row['carbon']:.1f} / 0 "
          f"| {_shown(fifo)} | {_shown(alone)} |", flush=True)
    if row["verify"]:
        print("verify:", row["verify_first"])


def _shown(result: dict) -> str:
    return (f"{result['cost']:.1f} / {result['carbon']:.1f} / {result['hours_late']} "
            f"({result['late']}, {result['dropped']})")


if __name__ == "__main__":
    main()
