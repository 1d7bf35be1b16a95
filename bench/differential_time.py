"""fitc's schedules (a policy with a horizon) against an exact reference written apart: random
tiny policies in time, solved by fitc as `fitc solve` does and by a per-node, per-step CP-SAT
model that shares no code with fitc (`ortools`, the `dev` extra).

    .venv/bin/python bench/differential_time.py --from 1 --seeds 200

A policy: 1-2 pools of 1-3 nodes at one site (CPU, memory, a power draw, a price per hour,
sometimes a maintenance window), hourly electricity prices, sometimes a site power cap;
0-1 service and 1-3 jobs (replicas, CPU, a duration, sometimes `earliest` and `deadline`,
sometimes `preemptible`) over a horizon of 5-8 one-hour steps. The reference restates
docs/language.md's "Time" sections: a job's replica runs on one node for `duration` steps
from a start inside its window (a preemptible one in segments of at least `min_segment`, any
node each, never two at once); a service's replicas run on one node each for the whole
horizon; a node is in use at a step where anything runs on it, and then costs its price plus
its power times the electricity price; a pool runs nothing in a step its window touches; the
power cap holds the power of the nodes in use at each step.

Prints each seed where fitc and the reference differ on the verdict, or where fitc says
`optimal` at a cost more than 0.1% off the optimum, or states a bound above it, or `verify`
rejects fitc's schedule; then the counts. Not a test.

With `--targets` (run with `PYTHONPATH=.:bench`), every placed schedule is also compiled to
kubernetes, slurm and terraform (bench/differential_combos.py's `fidelity_of_targets`: each
workload given an `image` and a `command`) and read back by each target's `fidelity`: Slurm's
`--begin`, `--deadline`, `--time`, segments chained and arrays in submit scripts, Kubernetes'
suspended Jobs, Terraform's schedules.

With `--rules` (its own draw, so that a seed's case without it stays what it was) jobs may be
a `gang` (every run's replicas start at one step: the reference chooses one start per run for
all of them), workloads may have a `latency` rule (each pool in region `eu` or `us`, the
users 5 ms from `eu` and 90 ms from `us`: at least K of the workload's replicas on nodes in
`eu`), be `exclusive` or have an `anti_affinity W on node` (W another workload or `self`),
both read per step: no node runs the two at the same step.

With `--unplaced` (its own draw, `with_unplaced`; `--rules` first for gangs and latency) each
workload has a priority and 2-3 times its replicas, and the policy allows replicas left out:
the reference places the most replicas per priority level, the highest first, then minimises
the objective; fitc's schedule must rank no lower than the queue's first fit by priority
(`bench/first_fit_time.py`, written apart), claim the most (no W0502) only where it places as
many as the reference, and at the reference's counts cost what `compared` allows.

With `--pods` every pool's nodes admit 1-3 pods each (`max_pods`, `with_pods`), so that pods
bind: the reference holds each node to them at each step, and a placed answer with no bound
stated is counted (`gap unknown`), as fitc's schedule that had to be repaired for them was.
"""

from __future__ import annotations

import argparse
import functools
import json
import random
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

TOLERANCE = Fraction(1, 1000)  # `optimal` means within 0.1% of the optimum (fitc's tolerance)
CENTS = 100


@dataclass
class Pool:
    name: str
    count: int
    cpu: int
    memory: int  # GiB
    watts: int
    price: int  # cents per hour
    off: tuple[int, int] | None = None  # steps [first, last) a maintenance window covers
    pods: int | None = None  # the pods a node's kubelet admits (`max_pods`); None: no limit
    region: str | None = None  # `eu` (in reach of the users of a latency rule) or `us`
    zone: str | None = None  # `--topology`: the pool's zone and its `rack` label
    rack: str | None = None


@dataclass
class Work:
    name: str
    replicas: int
    cpu: int
    memory: int
    duration: int | None = None  # steps; None: a service
    earliest: int = 0
    deadline: int | None = None  # the step by which it ends; None: the horizon's end
    preemptible: bool = False
    min_segment: int = 1
    every: int | None = None  # steps between releases; each run within the period
    due: int | None = None  # the step it is due by (soft: `lateness`)
    gang: bool = False  # each run's replicas start at one step
    near: int = 0  # a latency rule: at least this many replicas in region `eu`
    exclusive: bool = False  # no other workload on its node at a step it runs there
    apart: str | None = None  # `anti_affinity APART on node` (a workload's name, or `self`)
    priority: int = 0  # `--unplaced`: the queue's order
    # `--topology`: `spread T max_skew K min_domains M` as (T, K, M), and `[anti_]affinity W on
    # T` as (anti, W, T)
    spreads: list[tuple[str, int, int]] = field(default_factory=list)
    affinities: list[tuple[bool, str, str]] = field(default_factory=list)


@dataclass
class Case:
    steps: int
    pools: list[Pool]
    works: list[Work]
    prices: list[int]  # cents per kWh, per step
    cap: int | None = None  # W
    hourly_cap: list[int] | None = None  # W per step
    carbon: list[int] | None = None  # gCO2e per kWh, per step
    carbon_budget: int | None = None  # gCO2e over the horizon
    objective: str = "cost"  # or carbon, makespan, lateness
    kinds: set[str] = field(default_factory=set)
    allow_unplaced: bool = False  # `--unplaced`
    most: dict[int, int] = field(default_factory=dict)  # the reference's replicas placed per priority


def generate(seed: int) -> Case:
    rng = random.Random(seed)
    steps = rng.randint(5, 8)
    pools = [Pool(f"p{i}", rng.randint(1, 3), rng.choice([4, 8]), 32, rng.choice([1000, 2000]),
                  rng.choice([0, 50, 100])) for i in range(rng.randint(1, 2))]
    case = Case(steps, pools, [], [rng.choice([0, 10, 20, 40, 80]) for _ in range(steps)], kinds={"jobs"})
    if rng.random() < 0.3:
        first = rng.randint(1, steps - 2)
        rng.choice(pools).off = (first, min(steps, first + rng.randint(1, 3)))
        case.kinds.add("window")
    if rng.random() < 0.4:
        case.works.append(Work("svc", rng.randint(1, 2), rng.choice([1, 2, 4]), rng.choice([4, 8])))
        case.kinds.add("service")
    for index in range(rng.randint(1, 3)):
        work = Work(f"j{index}", rng.randint(1, 2), rng.choice([2, 4, 8]), rng.choice([4, 16]),
                    duration=rng.randint(1, 3))
        if rng.random() < 0.5:
            work.earliest = rng.randint(0, 2)
        if rng.random() < 0.5:
            work.deadline = rng.randint(work.earliest + work.duration, steps)
        if rng.random() < 0.25 and work.duration > 1:
            work.preemptible, work.min_segment = True, rng.randint(1, work.duration)
            case.kinds.add("preemptible")
        elif rng.random() < 0.2:
            every = rng.randint(work.duration, work.duration + 2)
            if work.earliest + every <= steps:  # else no run is due in the horizon (E0925)
                work.every, work.deadline = every, None
                case.kinds.add("every")
        case.works.append(work)
    if rng.random() < 0.4:
        case.cap = rng.choice([1000, 2000, 3000, 4000])
        case.kinds.add("power cap")
    elif rng.random() < 0.2:
        case.hourly_cap = [rng.choice([1000, 2000, 4000, 8000]) for _ in range(steps)]
        case.kinds.add("power cap per step")
    if rng.random() < 0.25:
        case.carbon = [rng.choice([100, 300, 600]) for _ in range(steps)]
        case.carbon_budget = rng.choice([2000, 5000, 10000])
        case.kinds.add("carbon budget")
    _objective(rng, case)
    return case


def with_pods(seed: int, case: Case) -> Case:
    """`case` with every pool's nodes admitting 1-3 pods (`--pods`; its own draw)."""
    rng = random.Random(f"time-pods-{seed}")
    for pool in case.pools:
        pool.pods = rng.randint(1, 3)
    case.kinds.add("pods")
    return case


def with_edge_shapes(seed: int, case: Case) -> Case:
    """The shapes the generator seldom draws, on `case` (`--shapes`; its own draw, so that a
    seed's case without them stays what it was): a job of 0 or 1 replicas, a pool that costs
    nothing and draws 0 W, a job whose window is its duration exactly, one as long as the
    horizon, a recurring job released every `duration`, a segment of 1 step, a cap per step
    of 0 W somewhere, prices of 0."""
    rng = random.Random(f"time-shapes-{seed}")
    jobs = [w for w in case.works if w.duration is not None]
    for work in jobs:
        roll = rng.random()
        if roll < 0.15:
            work.replicas = rng.choice([0, 1])
        elif roll < 0.3 and work.every is None and not work.preemptible:
            work.deadline = work.earliest + work.duration  # no slack: one start
        elif roll < 0.4 and work.every is None and work.earliest == 0 and not work.preemptible:
            work.duration, work.deadline, work.due = case.steps, None, None  # the whole horizon
        elif roll < 0.5 and work.every is not None:
            work.every = work.duration
        elif roll < 0.6 and work.preemptible:
            work.min_segment = 1
    if rng.random() < 0.3:
        pool = rng.choice(case.pools)
        pool.price, pool.watts = 0, 0
        case.kinds.add("free pool")
    if case.hourly_cap is not None and rng.random() < 0.4:
        case.hourly_cap[rng.randrange(case.steps)] = 0
    if rng.random() < 0.3:
        case.prices = [0 if rng.random() < 0.5 else p for p in case.prices]
    case.kinds.add("shapes")
    return case


def with_rules(seed: int, case: Case) -> Case:
    """`case` with gangs and latency rules (`--rules`; its own draw): a job that is not
    preemptible a gang now and then (of 2-3 replicas), each pool in `eu` or `us`, and a
    latency rule on a workload now and then (K of 1 to all its replicas near)."""
    rng = random.Random(f"time-rules-{seed}")
    for pool in case.pools:
        pool.region = rng.choice(["eu", "eu", "us"])
    for work in case.works:
        if work.duration is not None and not work.preemptible and rng.random() < 0.5:
            work.gang = True
            work.replicas = max(work.replicas, 2)
            case.kinds.add("gang")
        if not work.preemptible and rng.random() < 0.3 and work.replicas:
            work.near = rng.choice([1, 1, work.replicas])
            case.kinds.add("latency")
        roll = rng.random()
        if roll < 0.15:
            work.exclusive = True
            case.kinds.add("exclusive")
        elif roll < 0.35:
            work.apart = rng.choice(["self", *(w.name for w in case.works if w is not work)])
            case.kinds.add("anti_affinity")
    return case


def with_topology(seed: int, case: Case) -> Case:
    """`case` with rules of topology (`--topology`; its own draw): each pool in zone `a`, `b`
    or `c` and on rack `r0` or `r1` (a label), and now and then on a workload a `spread` over
    zones, racks or nodes (max_skew 1-2, sometimes `min_domains` 2-3), an `anti_affinity` over
    zones or racks (towards another workload or `self`) or an `affinity` towards another
    workload over zones, racks or nodes."""
    rng = random.Random(f"time-topology-{seed}")
    for pool in case.pools:
        pool.zone, pool.rack = rng.choice("abc"), rng.choice(["r0", "r1"])
    for work in case.works:
        others = [w.name for w in case.works if w is not work]
        if rng.random() < 0.5:
            least = rng.choice([1, 1, 2, 3])
            work.spreads.append((rng.choice(["zone", "rack", "node"]), rng.choice([1, 1, 2]), least))
            work.replicas = max(work.replicas, rng.choice([1, 2, 3]))
            case.kinds.add("spread")
        roll = rng.random()
        if roll < 0.25:
            work.affinities.append((True, rng.choice(["self", *others]), rng.choice(["zone", "rack"])))
            case.kinds.add("anti_affinity on domains")
        elif roll < 0.45 and others:
            work.affinities.append((False, rng.choice(others), rng.choice(["zone", "rack", "node"])))
            case.kinds.add("affinity")
    return case


def _topology_lines(pool: Pool) -> list[str]:
    """A pool's zone (`--topology`)."""
    return [] if pool.zone is None else [f'  zone = "{pool.zone}"']


def _rack(pool: Pool) -> str:
    """A pool's `rack` label (`--topology`), as the labels' tail."""
    return "" if pool.rack is None else f', rack: "{pool.rack}"'


def _topology_rule_lines(work: Work) -> list[str]:
    """A workload's rules of topology (`--topology`), a label's key quoted."""
    def written(topology: str) -> str:
        return f'"{topology}"' if topology == "rack" else topology

    lines = [f"  spread {written(topology)} max_skew {skew}" + (f" min_domains {least}" if least > 1 else "")
             for topology, skew, least in work.spreads]
    lines += [f"  {'anti_affinity' if anti else 'affinity'} {target} on {written(topology)}"
              for anti, target, topology in work.affinities]
    return lines


def _topology_rules(case: Case, model, on, nodes) -> None:
    """The rules of topology at each step over the choices running then (docs/language.md:
    "while they run"): per step a spread's counts per domain (of the nodes the workload fits
    on; each node for `node`) differ by at most K, or each is at most K while fewer than
    `min_domains` domains exist; `anti_affinity W on T`: no domain runs the workload and W at
    a step (`self`: two of its replicas); `affinity W on T`: each choice running in a domain
    at a step runs beside a choice of W running there then."""
    def workload(var) -> str:
        return var.Name().split("/")[0].split("#")[0]

    def domain(n: int, topology: str):
        pool = nodes[n][0]
        return n if topology == "node" else pool.zone if topology == "zone" else pool.rack

    for t in range(case.steps):
        per: dict[tuple[str, str, object], list] = {}  # (workload, topology, domain) -> choices
        for n in range(len(nodes)):
            for topology in ("zone", "rack", "node"):
                for _, _, var in on[n, t]:
                    per.setdefault((workload(var), topology, domain(n, topology)), []).append(var)
        for work in case.works:
            for topology, skew, least in work.spreads:
                fits = [n for n, (pool, _) in enumerate(nodes)
                        if work.cpu <= pool.cpu and work.memory <= pool.memory]
                domains = sorted({domain(n, topology) for n in fits}, key=str)
                counts = [sum(per.get((work.name, topology, d), [])) for d in domains]
                if len(domains) < least:
                    for count in counts:
                        model.Add(count <= skew)
                    continue
                for first in counts:
                    for second in counts:
                        model.Add(first - second <= skew)
            for anti, target, topology in work.affinities:
                for (name, over, d), mine in per.items():
                    if name != work.name or over != topology:
                        continue
                    theirs = per.get((work.name if target == "self" else target, topology, d), [])
                    if anti and target == "self":
                        model.Add(sum(mine) <= 1)
                    elif anti:
                        for a in mine:
                            for b in theirs:
                                model.Add(a + b <= 1)
                    else:
                        for a in mine:
                            model.Add(a <= sum(theirs))


def _objective(rng: random.Random, case: Case) -> None:
    """Now and then an objective of time instead of cost: carbon (where the grid states an
    intensity), makespan, or lateness (a `due` on each job that is not recurring)."""
    roll = rng.random()
    if roll < 0.1 and case.carbon is not None:
        case.objective = "carbon"
    elif roll < 0.2:
        case.objective = "makespan"
    elif roll < 0.3:
        case.objective = "lateness"
        for work in case.works:
            if work.duration is not None and work.every is None:
                work.due = rng.randint(work.earliest + 1, case.steps)
    if case.objective != "cost":
        case.kinds.add(case.objective)


def to_fit(case: Case) -> str:
    out = []
    if any(pool.region is not None for pool in case.pools):
        out += [f'region {code} {{\n  code = "{code}"\n  jurisdiction = {law}\n}}'
                for code, law in (("eu", "EU"), ("us", "US"))]
        out += ['location users {\n  city = "paris"\n}',
                "latency {\n  from = users\n  to = { eu: 5ms, us: 90ms }\n}"]
    for pool in case.pools:
        lines = [f"pool {pool.name} {{", f"  count = {pool.count}", f"  cpu = {pool.cpu}",
                 f"  memory = {pool.memory}GiB", f"  power = {pool.watts}W",
                 f"  price = {_decimal(Fraction(pool.price, CENTS))} USD/h",
                 f'  labels = {{ site: "s"{_rack(pool)} }}']
        if pool.pods is not None:
            lines.append(f"  max_pods = {pool.pods}")
        if pool.region is not None:
            lines.append(f'  region = "{pool.region}"')
        lines += _topology_lines(pool)
        if pool.off is not None:
            lines.append(f'  unavailable = ["{_instant(pool.off[0])}/{_instant(pool.off[1])}"]')
        out.append("\n".join(lines + ["}"]))
    for work in case.works:
        lines = [f"workload {work.name} {{", f"  replicas = {work.replicas}", f"  cpu = {work.cpu}",
                 f"  memory = {work.memory}GiB"]
        if work.gang:
            lines.append("  gang = true")
        if work.priority:
            lines.append(f"  priority = {work.priority}")
        if work.exclusive:
            lines.append("  exclusive = true")
        if work.apart is not None:
            lines.append(f"  anti_affinity {work.apart} on node")
        lines += _topology_rule_lines(work)
        if work.near:
            lines.append("  latency {\n    users = [users]\n    within = 10ms\n"
                         f"    replicas = {work.near}\n  }}")
        if work.duration is not None:
            lines += ["  kind = job", f"  duration = {work.duration}h"]
            if work.earliest:
                lines.append(f"  earliest = {work.earliest}h")
            if work.deadline is not None:
                lines.append(f"  deadline = {work.deadline}h")
            if work.preemptible:
                lines += ["  preemptible = true", f"  min_segment = {work.min_segment}h"]
            if work.every is not None:
                lines.append(f"  every = {work.every}h")
            if work.due is not None:
                lines.append(f"  due = {work.due}h")
        out.append("\n".join(lines + ["}"]))
    hourly = ", ".join(f"{_decimal(Fraction(p, CENTS))} USD/kWh" for p in case.prices)
    carbon = "" if case.carbon is None else \
        "\n  carbon_hourly = [" + ", ".join(f"{g} gCO2e/kWh" for g in case.carbon) + "]"
    out.append(f'electricity grid {{\n  labels = {{ site: "s" }}\n  hourly = [{hourly}]{carbon}\n}}')
    if case.cap is not None:
        out.append(f'power_cap feed {{\n  labels = {{ site: "s" }}\n  cap = {case.cap}W\n}}')
    if case.hourly_cap is not None:
        caps = ", ".join(f"{watts}W" for watts in case.hourly_cap)
        out.append(f'power_cap feed {{\n  labels = {{ site: "s" }}\n  hourly = [{caps}]\n}}')
    budget = "" if case.carbon_budget is None else f"\n  carbon_budget = {case.carbon_budget} gCO2e"
    objective = "" if case.objective == "cost" else f"\n  objective = {case.objective}"
    objective += "\n  allow_unplaced = true" if case.allow_unplaced else ""
    out.append(f"policy {{\n  horizon = {case.steps}h\n  step = 1h\n"
               f'  start = "2026-12-01T00:00Z"{budget}{objective}\n}}')
    return "\n".join(out) + "\n"


def _instant(step: int) -> str:
    return f"2026-12-01T{step:02d}:00Z"


def _decimal(value: Fraction) -> str:
    return f"{float(value):.2f}"


def _segments(length: int, least: int, window: list[int]) -> list[tuple[int, int]]:
    """Every segment (start, length >= least) inside `window` (a list of steps in order)."""
    first, last = window[0], window[-1] + 1
    return [(s, n) for s in range(first, last) for n in range(least, last - s + 1)]


def reference(case: Case, time_limit: float) -> tuple[str, Fraction | None]:
    """('feasible', the optimum in the objective's unit), ('infeasible', None) or ('undecided', None)."""
    from ortools.sat.python import cp_model

    model = cp_model.CpModel()
    nodes = [(pool, i) for pool in case.pools for i in range(pool.count)]
    steps = range(case.steps)
    on = {(n, t): [] for n in range(len(nodes)) for t in steps}  # (cpu, memory, var) running
    ends = []  # per job replica: its due step (or None) and its choices (Boolean, end step)
    for work in case.works:
        near = []  # (Boolean, in reach) of every replica's choices (a latency rule)
        for run in _runs(case, work):
            starts: dict[int, list] = {}  # a gang's run: start step -> its replicas' choices
            whole = present(model, case, work, f"{run.name}/run", run.replicas) if work.gang else None
            for replica in range(run.replicas):
                here = whole if whole is not None else present(model, case, work, f"{run.name}/{replica}")
                choices = _one_replica(model, case, nodes, run, replica, on, near, here)
                if run.duration is not None:
                    ends.append((run.due, choices))
                    for var, end in choices:
                        starts.setdefault(end - run.duration, []).append(var)
            if work.gang and run.replicas:  # every replica of the run starts at the one step chosen
                chosen = {s: model.NewBoolVar(f"{run.name}@{s}") for s in starts}
                model.Add(sum(chosen.values()) == (1 if whole is None else whole))
                for s, choices_at in starts.items():
                    model.Add(sum(choices_at) == run.replicas * chosen[s])
        if work.near and work.replicas:
            reached = sum(var for var, within in near if within)
            model.Add(reached >= work.near * any_placed(model, case, near))
    _kept_apart(case, model, on)
    _topology_rules(case, model, on, nodes)
    in_use = {}
    for (n, t), running in on.items():
        pool = nodes[n][0]
        flag = in_use[n, t] = model.NewBoolVar(f"use{n},{t}")
        if pool.off is not None and pool.off[0] <= t < pool.off[1]:
            model.Add(sum(var for _, _, var in running) == 0)
        model.Add(sum(cpu * var for cpu, _, var in running) <= pool.cpu * flag)
        model.Add(sum(memory * var for _, memory, var in running) <= pool.memory * flag)
        model.Add(flag <= sum(var for _, _, var in running))
        if pool.pods is not None:
            model.Add(sum(var for _, _, var in running) <= pool.pods)
    for t in steps:
        cap = case.cap if case.hourly_cap is None else case.hourly_cap[t]
        if cap is not None:
            model.Add(sum(nodes[n][0].watts * in_use[n, t] for n in range(len(nodes))) <= cap)
    if case.carbon_budget is not None and case.carbon is not None:  # W x g/kWh = g/1000 per hour
        model.Add(sum(nodes[n][0].watts * case.carbon[t] * in_use[n, t]
                      for n in range(len(nodes)) for t in steps) <= case.carbon_budget * 1000)
    objective, unit = _objective_of(case, model, nodes, in_use, ends)
    solver = cp_model.CpSolver()
    solver.parameters.num_workers = 1
    solver.parameters.random_seed = 0
    solver.parameters.max_time_in_seconds = time_limit
    if case.allow_unplaced and not most_by_priority(model, solver, case):
        return "undecided", None
    model.Minimize(objective)
    status = solver.Solve(model)
    if status == cp_model.OPTIMAL:
        return "feasible", Fraction(round(solver.ObjectiveValue()), unit)
    return ("infeasible" if status == cp_model.INFEASIBLE else "undecided"), None


def present(model, case: Case, work: Work, name: str, weight: int = 1):
    """1 where every replica is placed; with `--unplaced` a Boolean (a replica, or a gang's
    run, placed or not), listed on the model with its priority and its replicas."""
    if not case.allow_unplaced:
        return 1
    var = model.NewBoolVar(f"placed {name}")
    if not hasattr(model, "present"):
        model.present = []
    model.present.append((work.priority, var, weight))
    return var


def any_placed(model, case: Case, choices: list):
    """1 where every replica is placed; with `--unplaced`, whether any of `choices` is."""
    if not case.allow_unplaced:
        return 1
    var = model.NewBoolVar("runs")
    for choice, _ in choices:
        model.Add(var >= choice)
    return var


def most_by_priority(model, solver, case: Case) -> bool:
    """With `--unplaced`: the most replicas placed at each priority level, the highest first,
    each level's count held before the next (False where a level is not proven in time)."""
    from ortools.sat.python import cp_model

    listed = getattr(model, "present", [])
    for level in sorted({priority for priority, _, _ in listed}, reverse=True):
        terms = sum(weight * var for priority, var, weight in listed if priority == level)
        model.Maximize(terms)
        if solver.Solve(model) != cp_model.OPTIMAL:
            return False
        case.most[level] = round(solver.ObjectiveValue())
        model.Add(terms == case.most[level])
    model.ClearObjective()
    return True


def _kept_apart(case: Case, model, on) -> None:
    """At each node and step: an exclusive workload's choices running there exclude every
    other workload's; `anti_affinity W on node`, W's (each other's for `self`). A choice's
    workload is its Boolean's name up to `/` (a recurring run's `#k` cut off)."""
    def workload(var) -> str:
        return var.Name().split("/")[0].split("#")[0]

    rules = [(w.name, None) for w in case.works if w.exclusive]
    rules += [(w.name, w.apart) for w in case.works if w.apart is not None]
    for running in on.values():
        by_work: dict[str, list] = {}
        for _, _, var in running:
            by_work.setdefault(workload(var), []).append(var)
        for name, other in rules:
            mine = by_work.get(name, [])
            if other == "self":
                if len(mine) > 1:
                    model.Add(sum(mine) <= 1)
                continue
            theirs = [v for n, vs in by_work.items() if n != name and other in (None, n) for v in vs]
            for a in mine:
                for b in theirs:
                    model.Add(a + b <= 1)


def _objective_of(case: Case, model, nodes, in_use, ends):
    """The objective as a linear expression, and what one of its units is worth in the unit
    fitc states it in (USD, kgCO2e, h)."""
    everything = [(n, t) for n in range(len(nodes)) for t in range(case.steps)]
    if case.objective == "cost":  # 1/100,000 USD: cents per hour, and W x cents per kWh / 1000
        return sum(in_use[n, t] * (nodes[n][0].price * 1000 + nodes[n][0].watts * case.prices[t])
                   for n, t in everything), 100_000
    if case.objective == "carbon":  # W x gCO2e per kWh for an hour: 1/1,000,000 kgCO2e
        assert case.carbon is not None
        return sum(in_use[n, t] * nodes[n][0].watts * case.carbon[t] for n, t in everything), 1_000_000
    if case.objective == "makespan":  # the step the last job's replica ends by
        last = model.NewIntVar(0, case.steps, "makespan")
        for _, choices in ends:
            for var, end in choices:
                model.Add(last >= end * var)
        return last, 1
    late = []  # lateness: per replica, the steps its end is past its due
    for due, choices in ends:
        if due is None:
            continue
        past = model.NewIntVar(0, case.steps, f"late{len(late)}")
        for var, end in choices:
            model.Add(past >= (end - due) * var)
        late.append(past)
    return sum(late), 1


def _runs(case: Case, work: Work) -> list[Work]:
    """A recurring job's runs, each a job of its own: released every `every` steps from
    `earliest`, each done by the next release; those due by the horizon's end."""
    if work.every is None:
        return [work]
    releases = range(work.earliest, case.steps - work.every + 1, work.every)
    return [Work(f"{work.name}#{k}", work.replicas, work.cpu, work.memory, work.duration, release,
                 release + work.every, gang=work.gang) for k, release in enumerate(releases)]


def _one_replica(model, case: Case, nodes, work: Work, replica: int, on, near: list, here=1) -> list:
    """The choices of one replica (node, start; a preemptible one's segments), each a Boolean
    that puts the replica's CPU and memory on a node at the steps it covers; returned with
    the step each ends by (none for a service). Each choice (not a segment's) is listed in
    `near` with whether its node is in region `eu`."""
    name = f"{work.name}/{replica}"
    ends: list[tuple[object, int]] = []  # (Boolean, the step the replica ends by with it)
    fits = [n for n, (pool, _) in enumerate(nodes) if work.cpu <= pool.cpu and work.memory <= pool.memory]
    if work.duration is None:  # a service: one node, the whole horizon
        choice = [model.NewBoolVar(f"{name}@{n}") for n in fits]
        model.Add(sum(choice) == here)
        near += [(var, nodes[n][0].region == "eu") for n, var in zip(fits, choice)]
        for n, var in zip(fits, choice):
            for t in range(case.steps):
                on[n, t].append((work.cpu, work.memory, var))
        return ends
    window = list(range(work.earliest, work.deadline if work.deadline is not None else case.steps))
    if not work.preemptible:
        starts = [s for s in window if s + work.duration <= window[-1] + 1]
        choice = {(n, s): model.NewBoolVar(f"{name}@{n},{s}") for n in fits for s in starts}
        model.Add(sum(choice.values()) == here)
        near += [(var, nodes[n][0].region == "eu") for (n, _), var in choice.items()]
        for (n, s), var in choice.items():
            ends.append((var, s + work.duration))
            for t in range(s, s + work.duration):
                on[n, t].append((work.cpu, work.memory, var))
        return ends
    segments = {(n, s, k): model.NewBoolVar(f"{name}@{n},{s}+{k}") for n in fits
                for s, k in _segments(work.duration, work.min_segment, window)}
    model.Add(sum(k * var for (_, _, k), var in segments.items()) == work.duration * here)
    for t in window:  # never two segments at once
        model.Add(sum(var for (_, s, k), var in segments.items() if s <= t < s + k) <= 1)
    for (n, s, k), var in segments.items():
        ends.append((var, s + k))
        for t in range(s, s + k):
            on[n, t].append((work.cpu, work.memory, var))
    return ends


def decided_by_fitc(path: Path, time_limit: float):
    """fitc's answer as `fitc solve` gives it: (problem, placement, outcome name), or (None,
    None, the first error). Shared with bench/differential_fleet.py. A solve that gives up
    with replicas left out is decided by explain within what is left of the limit, as the
    command's (`explain_ends`): without it, `--rules` seeds 1760, 1780, 1802, 1823 and 1861
    counted `undecided` where `fitc solve` proves none in 1.0-3.0 CPU s."""
    from fitlang.driver import Compilation

    started = time.monotonic()
    compilation = Compilation(path)
    errors = [f"{d.code} {d.message}" for d in compilation.diagnostics() if d.is_error]
    if errors:
        return None, None, "error: " + errors[0]
    placement = compilation.solve("auto", time_limit)
    verdict = compilation.verdict(placement, time_limit, time_limit, explain_ends=started + time_limit)
    return compilation.problem, placement, verdict.outcome.name


def compared(case: Case, path: Path, time_limit: float, reference_limit: float) -> tuple[str, list[str]]:
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    path.write_text(to_fit(case))
    problem, placement, outcome = decided_by_fitc(path, time_limit)
    if problem is None:
        return "error", [outcome]
    verdict, optimum = reference(case, reference_limit)
    if verdict == "undecided":
        return outcome, ["reference undecided"]
    found = []
    if outcome == "PLACED":
        violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
        if violations or problems:
            rejected = [v.message for v in violations][:2] + [p.text for p in problems[:2]]
            found.append("verify rejects fitc: " + "; ".join(rejected))
    if outcome == "INFEASIBLE" and verdict == "feasible":
        found.append(f"wrong verdict: fitc proves none, the reference schedules all at {float(optimum)}")
    if outcome == "PLACED" and verdict == "infeasible":
        found.append("wrong verdict: fitc schedules all, the reference proves none")
    if outcome == "UNDECIDED" and verdict == "feasible":
        found.append(f"undecided: the reference schedules all at {float(optimum)}")
    if outcome != "PLACED" or optimum is None:
        return outcome, found
    value = Fraction(placement.value)
    if value < optimum:
        found.append(f"wrong optimum: fitc {float(value)} below the reference's {float(optimum)}")
    if placement.status == "optimal" and value > optimum * (1 + TOLERANCE):
        found.append(f"wrong optimum: fitc `optimal` at {float(value)}, reference {float(optimum)}")
    if placement.bound is not None and Fraction(placement.bound) > optimum:
        found.append(f"wrong optimum: fitc's bound {float(placement.bound)} above {float(optimum)}")
    if placement.bound is None and any(pool.pods is not None for pool in case.pools):
        found.append("gap unknown: fitc states no bound")
    return outcome, found


def with_unplaced(seed: int, case: Case) -> Case:
    """`case` as a queue with more work than room (`--unplaced`; its own draw): the policy
    allows replicas left out, each workload a priority of 1-3 and 2-3 times the replicas;
    no carbon budget and nothing kept apart (the first fit, `bench/first_fit_time.py`, holds
    neither); with `--rules` its gangs and latency rules."""
    rng = random.Random(f"time-unplaced-{seed}")
    case.allow_unplaced, case.carbon_budget = True, None
    for work in case.works:
        work.exclusive, work.apart = False, None
        work.priority = rng.randint(1, 3)
        work.replicas = max(1, work.replicas) * rng.randint(2, 3)
    case.kinds.add("unplaced")
    return case


def placed_by_priority(case: Case, placement) -> dict[int, int]:
    """fitc's replicas placed per priority level."""
    priority = {work.name: work.priority for work in case.works}
    placed: Counter = Counter()
    for workload, _ in {(a.workload, a.replica) for a in placement.assignments}:
        placed[priority[workload]] += 1
    return dict(placed)


def _vector(case: Case, placed: dict[int, int]) -> list[int]:
    return [placed.get(level, 0) for level in sorted({w.priority for w in case.works}, reverse=True)]


def compared_short(case: Case, path: Path, time_limit: float, reference_limit: float
                   ) -> tuple[str, list[str]]:
    """`--unplaced`: fitc's answer against the reference's most by priority (then its cost)
    and the queue's first fit by priority (`bench/first_fit_time.py`, written apart): never
    ranked below the first fit; `feasible` without W0502 (the most proven) only at the
    reference's counts; at the reference's counts, the cost as `compared` reads it."""
    from first_fit_time import first_fit

    from fitlang.driver import Compilation
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    path.write_text(to_fit(case))
    compilation = Compilation(path)
    errors = [f"{d.code} {d.message}" for d in compilation.diagnostics() if d.is_error]
    if errors:
        return "error", ["error: " + errors[0]]
    problem = compilation.problem
    placement = compilation.solve("auto", time_limit)
    proven = placement.status in ("optimal", "feasible")
    outcome = compilation.verdict(placement, time_limit, time_limit).outcome.name
    found = []
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    if violations or problems:
        found.append("verify rejects fitc: " + "; ".join([v.message for v in violations][:2]
                                                         + [p.text for p in problems[:2]]))
    mine, floor = _vector(case, placed_by_priority(case, placement)), _vector(case, dict(first_fit(case)))
    if mine < floor:
        found.append(f"below the first fit: fitc {mine}, first fit by priority {floor}")
    verdict, optimum = reference(case, reference_limit)
    if verdict != "feasible":
        return outcome, found or ["reference undecided"]
    most = _vector(case, case.most)
    if mine > most:
        found.append(f"wrong most: fitc {mine} above the reference's {most}")
    elif mine < most and proven:
        found.append(f"wrong proof: fitc claims the most at {mine}, the reference places {most}")
    elif mine < most:
        found.append(f"short: fitc {mine}, the reference {most}")
    elif optimum is not None and placement.value is not None:
        value = Fraction(placement.value)
        if value < optimum:
            found.append(f"wrong optimum: fitc {float(value)} below the reference's {float(optimum)}")
        if placement.status == "optimal" and value > optimum * (1 + TOLERANCE):
            found.append(f"wrong optimum: fitc `optimal` at {float(value)}, reference {float(optimum)}")
    return outcome, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=10.0, help="fitc's, seconds")
    parser.add_argument("--reference-limit", type=float, default=30.0)
    parser.add_argument("--shapes", action="store_true", help="the edge shapes of `with_edge_shapes`")
    parser.add_argument("--pods", action="store_true", help="every pool's nodes admit 1-3 pods (`with_pods`)")
    parser.add_argument("--rules", action="store_true", help="gangs and latency rules (`with_rules`)")
    parser.add_argument("--unplaced", action="store_true",
                        help="more work than room, priorities, `allow_unplaced` (`with_unplaced`)")
    parser.add_argument("--topology", action="store_true",
                        help="spread, affinity, anti-affinity over zones, a label, nodes (`with_topology`)")
    parser.add_argument("--targets", action="store_true",
                        help="compile each placed schedule to the three targets, check fidelity")
    arguments = parser.parse_args()
    tally: Counter = Counter()  # "agree (placed)", "agree (infeasible)", "agree (partial)", ...
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            case = with_edge_shapes(seed, generate(seed)) if arguments.shapes else generate(seed)
            case = with_pods(seed, case) if arguments.pods else case
            case = with_rules(seed, case) if arguments.rules else case
            case = with_unplaced(seed, case) if arguments.unplaced else case
            case = with_topology(seed, case) if arguments.topology else case
            path = Path(directory) / f"time{seed}.fit"
            compare = functools.partial(compared_short if arguments.unplaced else compared, case, path,
                                        arguments.time_limit, arguments.reference_limit)
            if arguments.targets:
                compare = functools.partial(with_targets, compare, path, arguments.time_limit, tally)
            recorded(tally, f"seed {seed} ({sorted(case.kinds)})", compare)
    print(json.dumps(dict(sorted(tally.items()))), f"{time.perf_counter() - started:.0f} s")


def with_targets(compare: Callable[[], tuple[str, list[str]]], path: Path, time_limit: float,
                 tally: Counter) -> tuple[str, list[str]]:
    """`compare`, then what each target's fidelity finds in the files written for a placed
    schedule (counted in `tally` as "NAME checked" or "NAME refuses (CODE)")."""
    from differential_combos import fidelity_of_targets

    outcome, found = compare()
    if outcome in ("PLACED", "PARTIAL"):
        targets, broken = fidelity_of_targets(path, time_limit)
        tally.update(targets)
        # a target's finding counts where the reference alone is undecided
        found = broken + found if found == ["reference undecided"] else found + broken
    return outcome, found


def recorded(tally: Counter, label: str, compare: Callable[[], tuple[str, list[str]]]) -> None:
    """One seed's comparison counted in `tally` (by its first finding, or "agree (outcome)"),
    and printed where fitc and the reference differ or fitc gave no verdict. Shared with
    bench/differential_fleet.py."""
    try:
        outcome, found = compare()
    except Exception:  # a crash is one of the things this looks for
        outcome, found = "crash", ["crash: " + traceback.format_exc().splitlines()[-1]]
    kind = found[0].split(":")[0] if found else f"agree ({outcome.lower()})"
    tally[kind] += 1
    if (found and kind != "reference undecided") or outcome == "UNDECIDED":  # weak verdicts too
        said = "; ".join(found) or "undecided, where the reference proves none"
        print(f"{label}: {said}", flush=True)


if __name__ == "__main__":
    main()
