"""The node-schedule bound of issue 19's sites shape (`bench/timing_bound.py`) against references
that share no code with it: every assignment of replicas to starts and nodes enumerated (the
optimum), and every node schedule enumerated into the Dantzig-Wolfe master solved as one LP
(the value the bound converges to)."""

from __future__ import annotations

import itertools
import random

import numpy as np
import pytest
from scipy.optimize import linprog

from solving import bench_module

bound_tool = bench_module("timing_bound")
sites = bench_module("timing_sites")
Job, Instance, KINDS = sites.Job, sites.Instance, sites.KINDS


def _node_step_cost(instance, pool: str, step: int) -> float:
    site, kind_name, _ = instance.pools[pool]
    kind = KINDS[kind_name]
    return kind.usd_per_hour + kind.watts / 1000 * instance.prices[site][step]


def _fits(kind, loads) -> bool:
    return all(cpu <= kind.cpu and memory <= kind.memory_gib and gpus <= kind.gpus
               for cpu, memory, gpus in loads)


def _pools_of(instance, job) -> list[str]:
    return [p for p in instance.pools if instance.may_use(job, p)]


def _optimum(instance) -> float | None:
    """Every replica at every start of its window, on every node of every pool it may use:
    the least cost of those within every node's capacity at every step and every site's cap."""
    steps = instance.steps
    choices = []
    for job in instance.jobs:
        options = [(pool, node, start) for pool in _pools_of(instance, job)
                   for node in range(instance.pools[pool][2])
                   for start in range(job.earliest, job.deadline - job.duration + 1)]
        choices += [[(job, option) for option in options]] * job.replicas
    best = None
    for combo in itertools.product(*choices):
        loads: dict[tuple[str, int], list[list[int]]] = {}
        for job, (pool, node, start) in combo:
            rows = loads.setdefault((pool, node), [[0, 0, 0] for _ in range(steps)])
            for t in range(start, start + job.duration):
                rows[t][0] += job.cpu
                rows[t][1] += job.memory_gib
                rows[t][2] += job.gpus
        if not all(_fits(KINDS[instance.pools[pool][1]], rows) for (pool, _), rows in loads.items()):
            continue
        drawn = {site: [0] * steps for site in instance.caps}
        cost = 0.0
        for (pool, _), rows in loads.items():
            site, kind_name, _ = instance.pools[pool]
            for t, row in enumerate(rows):
                if any(row):
                    drawn[site][t] += KINDS[kind_name].watts
                    cost += _node_step_cost(instance, pool, t)
        if any(w > cap for site in drawn for w, cap in zip(drawn[site], instance.caps[site])):
            continue
        best = cost if best is None or cost < best else best
    return best


def _master_of_every_schedule(instance) -> float:
    """The Dantzig-Wolfe master with every node schedule as a column (each job's replicas on the
    node at each start, within the node's capacity at every step), solved as one LP."""
    steps, jobs = instance.steps, instance.jobs
    columns, costs = [], []
    for pool, (site, kind_name, _) in instance.pools.items():
        kind = KINDS[kind_name]
        items = [(index, start) for index, job in enumerate(jobs) if pool in _pools_of(instance, job)
                 for start in range(job.earliest, job.deadline - job.duration + 1)]
        for counts in itertools.product(*[range(jobs[i].replicas + 1) for i, _ in items]):
            per_job = [0] * len(jobs)
            rows = [[0, 0, 0] for _ in range(steps)]
            for (index, start), n in zip(items, counts):
                per_job[index] += n
                for t in range(start, start + jobs[index].duration):
                    rows[t] = [rows[t][0] + n * jobs[index].cpu,
                               rows[t][1] + n * jobs[index].memory_gib,
                               rows[t][2] + n * jobs[index].gpus]
            if not any(counts) or not _fits(kind, rows):
                continue
            if any(n > jobs[i].replicas for i, n in enumerate(per_job)):
                continue
            awake = [t for t in range(steps) if any(rows[t])]
            columns.append((pool, site, per_job, awake))
            costs.append(sum(_node_step_cost(instance, pool, t) for t in awake))
    a_ub, b_ub = [], []
    for index, job in enumerate(jobs):  # cover: -sum n lambda <= -replicas
        a_ub.append([-c[2][index] for c in columns])
        b_ub.append(-job.replicas)
    for pool, (_, _, count) in instance.pools.items():
        a_ub.append([1 if c[0] == pool else 0 for c in columns])
        b_ub.append(count)
    for site, caps in instance.caps.items():
        for t in range(steps):
            a_ub.append([KINDS[instance.pools[c[0]][1]].watts if c[1] == site and t in c[3] else 0
                         for c in columns])
            b_ub.append(caps[t])
    result = linprog(costs, A_ub=np.array(a_ub, dtype=float), b_ub=b_ub, method="highs")
    assert result.status == 0
    return float(result.fun)


def _one_site(jobs, steps: int, count: int, prices: list[float], cap: int) -> object:
    return Instance(steps, {"osl_cpu_s": ("osl", "cpu_s", count)}, {"osl": prices},
                    {"osl": [0] * steps}, {"osl": [cap] * steps}, jobs)


def _fragment_case():
    """32-CPU nodes at 0.9 USD a node-step (price 0), 3 of them, no binding cap. Step 0: a and c
    (22 CPUs, one step each) cannot share a node; b and d (10 CPUs) run both steps, e (12
    CPUs) step 1 only."""
    def job(name, cpu, duration, earliest):
        return Job(name, 1, cpu, 1, 0, None, duration, earliest, earliest + duration, ["osl"])

    jobs = [job("a", 22, 1, 0), job("b", 10, 2, 0), job("c", 22, 1, 0), job("d", 10, 2, 0),
            job("e", 12, 1, 1)]
    return _one_site(jobs, 2, 3, [0.0, 0.0], 10 ** 6)


def test_continuity_forces_a_fragment_the_lp_cannot_see():
    # Per step the load is 64 then 32 CPUs: two nodes then one, 2.7 USD, the LP's (and whole
    # nodes per step's) value. But b and d keep their node: with a and c apart at step 0,
    # either b and d sit beside them (two nodes at step 1 too) or on a third node at step 0:
    # four node-steps, 3.6 USD, at best ({a, b, e} and {c, d}). The node-schedule master proves
    # it: duals 0.9 on a, b, c, d and 0 on e price every node schedule at >= 0 (any schedule
    # holding two of them is awake at both steps, a or c with b or d are one at step 0), and
    # they sum to 3.6.
    instance = _fragment_case()
    result = bound_tool.node_schedule_bound(instance, 60.0, 10.0, log=lambda _: None)
    assert result["lp"] == pytest.approx(2.7, abs=1e-9)
    assert result["bound"] == pytest.approx(3.6, abs=1e-9)
    assert _master_of_every_schedule(instance) == pytest.approx(3.6, abs=1e-9)
    assert _optimum(instance) == pytest.approx(3.6, abs=1e-9)


def test_the_lagrangian_at_given_duals_is_worked_by_hand():
    # duals 1 on every run, no cap price: the best node schedule holds three runs over both
    # steps ({a, b, e}, {b, d, e} or {a, d, e}; no four fit), 3 - 2 x 0.9 = 1.2 gained, so the
    # least reduced cost is -1.2; the Lagrangian takes it on all 3 nodes: 5 - 3 x 1.2 = 1.4
    instance = _fragment_case()
    runs = bound_tool.runs_of(instance)
    duals = bound_tool.Duals(np.ones(5), {"osl": np.zeros(2)})
    pricer = bound_tool.PoolPricing(instance, "osl_cpu_s", runs)
    found, least = pricer.exact(duals, pricer.greedy(duals), 10.0)
    assert least == pytest.approx(-1.2, abs=1e-9)
    assert pricer.reduced_cost(found, duals) == pytest.approx(-1.2, abs=1e-9)
    assert bound_tool.lagrangian(instance, runs, duals, {"osl_cpu_s": least}) == pytest.approx(1.4, abs=1e-9)


def _drawn(rng: random.Random) -> object:
    """2-3 small jobs of 1-2 replicas, 0-1 step of slack, on 2 nodes of one pool (or 1 and 1
    of two sites' pools) over 4 steps, prices per step, a cap of one or two nodes or none."""
    steps = 4
    jobs = []
    for index in range(rng.randint(2, 3)):
        duration = rng.randint(1, 3)
        earliest = rng.randint(0, steps - duration)
        deadline = min(steps, earliest + duration + rng.randint(0, 1))
        cpu = rng.choice([8, 12, 16, 20])
        jobs.append(Job(f"j{index}", rng.randint(1, 2) if index < 2 else 1, cpu, cpu, 0, None,
                        duration, earliest, deadline, ["mad", "osl"]))
    if rng.random() < 0.5:
        pools = {"osl_cpu_s": ("osl", "cpu_s", 2)}
    else:
        pools = {"osl_cpu_s": ("osl", "cpu_s", 1), "mad_cpu_s": ("mad", "cpu_s", 1)}
    names = sorted({site for site, _, _ in pools.values()})
    prices = {site: [rng.choice([0.02, 0.1, 0.3]) for _ in range(steps)] for site in names}
    caps = {site: [rng.choice([450, 900, 10 ** 6])] * steps for site in names}
    return Instance(steps, pools, prices, {s: [0] * steps for s in names}, caps, jobs)


def _drawn_with_an_optimum(rng: random.Random):
    """A drawn instance that has a schedule, with its enumerated optimum (redrawn until one has)."""
    while True:
        instance = _drawn(rng)
        optimum = _optimum(instance)
        if optimum is not None:
            return instance, optimum


@pytest.mark.parametrize("seed", range(8))
def test_the_bound_lies_between_the_lp_and_the_enumerated_optimum(seed):
    instance, optimum = _drawn_with_an_optimum(random.Random(seed))
    result = bound_tool.node_schedule_bound(instance, 60.0, 10.0, log=lambda _: None)
    assert result["lp"] <= result["bound"] + 1e-7
    assert result["bound"] <= optimum + 1e-7
    # converged on cases this small: the bound is the master of every node schedule
    assert result["bound"] == pytest.approx(_master_of_every_schedule(instance), abs=1e-6)


def test_converged_bound_proves_the_fragment_and_its_master_is_what_node_schedules_prove():
    # the cheap levels converge the master, the one exact round at its end proves it: 3.6 on
    # the hand case, the value of the master over every node schedule
    instance = _fragment_case()
    result = bound_tool.converged_bound(instance, 60.0, 10.0, log=lambda _: None)
    assert result["lp"] == pytest.approx(2.7, abs=1e-9)
    assert result["bound"] == pytest.approx(3.6, abs=1e-9)
    assert result["master"] == pytest.approx(3.6, abs=1e-9)


@pytest.mark.parametrize("seed", range(8))
def test_converged_bound_lies_between_the_lp_and_the_optimum_and_its_master_above_it(seed):
    instance, optimum = _drawn_with_an_optimum(random.Random(seed))
    result = bound_tool.converged_bound(instance, 60.0, 10.0, 30.0, log=lambda _: None)
    every = _master_of_every_schedule(instance)
    # whole columns make a schedule: never below the enumerated optimum
    assert result["schedule"] is not None and result["schedule"] >= optimum - 1e-7
    assert result["lp"] <= result["bound"] + 1e-7
    assert result["bound"] <= every + 1e-7 <= optimum + 2e-7
    # the master over the columns priced can only be above the one over every schedule
    assert result["master"] >= every - 1e-7
    assert result["bound"] == pytest.approx(every, abs=1e-6)


def _every_schedule_of(pricer):
    """Every count vector of the pricer's items within their most, by brute force."""
    return itertools.product(*[range(most + 1) for _, _, most in pricer.items])


def _schedule_fits(pricer, taken) -> bool:
    load = np.zeros((pricer.steps, 3))
    per_run: dict = {}
    for (k, s, _), n in zip(pricer.items, taken):
        run = pricer.runs[k]
        load[s:s + run.length()] += run.need * n
        key = (k, s) if run.units else k
        per_run[key] = per_run.get(key, 0) + n
    return (load <= pricer.capacity + 1e-9).all() and \
        all(n <= pricer.runs[key if isinstance(key, int) else key[0]].replicas
            for key, n in per_run.items())


def _reduced_cost_by_hand(instance, pricer, taken, duals) -> float:
    awake = set()
    for (k, s, _), n in zip(pricer.items, taken):
        if n:
            awake |= set(range(s, s + pricer.runs[k].length()))
    cost = sum(_node_step_cost(instance, pricer.pool, t) + duals.nu["osl"][t] * pricer.watts
               for t in awake)
    return cost - sum(duals.pi[k] * n for (k, _, _), n in zip(pricer.items, taken))


def test_a_segment_that_does_not_pay_is_emptied_and_free_room_filled():
    # one 32-CPU node, 0.9 USD a step; x runs steps 0-1 (duals 0.5: it does not pay for its two
    # steps), y and z run step 3 (16 CPUs each, duals 1.0 and 0.2: together they pay for the step,
    # z rides free once y wakes it). From {x, y}: x's segment emptied, z added: reduced cost
    # 0.9 - 1.2 = -0.3, the least any schedule has (brute force)
    def job(name, cpu, duration, earliest):
        return Job(name, 1, cpu, 1, 0, None, duration, earliest, earliest + duration, ["osl"])

    instance = _one_site([job("x", 16, 2, 0), job("y", 16, 1, 3), job("z", 16, 1, 3)], 4, 1,
                         [0.0] * 4, 10 ** 6)
    runs = bound_tool.runs_of(instance)
    pricer = bound_tool.PoolPricing(instance, "osl_cpu_s", runs)
    duals = bound_tool.Duals(np.array([0.5, 1.0, 0.2]), {"osl": np.zeros(4)})
    start = np.array([1, 1, 0])
    improved = pricer.improved(start, duals)
    assert improved.tolist() == [0, 1, 1]
    assert pricer.reduced_cost(improved, duals) == pytest.approx(-0.3, abs=1e-9)
    least = min(_reduced_cost_by_hand(instance, pricer, t, duals) for t in _every_schedule_of(pricer)
                if _schedule_fits(pricer, t))
    assert least == pytest.approx(-0.3, abs=1e-9)


@pytest.mark.parametrize("seed", range(10))
def test_improved_and_by_segments_fit_and_are_never_below_the_least(seed):
    rng = random.Random(100 + seed)
    instance = _drawn(rng)
    instance.pools = {"osl_cpu_s": ("osl", "cpu_s", 2)}
    instance.prices = {"osl": instance.prices.get("osl", [0.1] * instance.steps)}
    instance.caps = {"osl": [10 ** 6] * instance.steps}
    instance.grams = {"osl": [0] * instance.steps}
    runs = bound_tool.runs_of(instance)
    pricer = bound_tool.PoolPricing(instance, "osl_cpu_s", runs)
    duals = bound_tool.Duals(np.array([rng.uniform(0, 3) for _ in runs]),
                             {"osl": np.array([rng.choice([0.0, 1e-4]) for _ in range(instance.steps)])})
    schedules = [np.array(t) for t in _every_schedule_of(pricer) if _schedule_fits(pricer, t)]
    least = min(_reduced_cost_by_hand(instance, pricer, t, duals) for t in schedules)
    by_segments = pricer.by_segments(duals)
    assert _schedule_fits(pricer, by_segments)
    assert _reduced_cost_by_hand(instance, pricer, by_segments, duals) >= least - 1e-9
    for taken in schedules:
        improved = pricer.improved(taken, duals)
        assert _schedule_fits(pricer, improved)
        value = _reduced_cost_by_hand(instance, pricer, improved, duals)
        assert value <= _reduced_cost_by_hand(instance, pricer, taken, duals) + 1e-9
        assert value >= least - 1e-9
