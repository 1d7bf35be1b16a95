"""Issue 19's time rules after the first slice: carbon (intensity per step, the objective
`carbon`, `carbon_budget`), power caps per step, pools available only in windows, recurring
jobs. Each: the checker's diagnostics by code, the solver against a brute-force reference that
enumerates every start step and class, and `verify` catching a placement that breaks it."""

from __future__ import annotations

import itertools
import json
import random
from fractions import Fraction

import pytest
from test_timing import codes, job, policy

from fitlang.solve.placement import solve
from fitlang.solve.report import as_json, as_text
from fitlang.solve.verify import verify

from solving import problem_from, solved

# two regions, one whole-node class each; the grid of each states price and carbon per step
REGION_POOL = """
pool {name} {{
  count = {count}
  cpu = 8
  memory = 32GiB
  power = {watts}W
  price = {price} USD/h
  region = "{name}"
}}

electricity grid_{name} {{
  region = "{name}"
  hourly = [{prices}]
  carbon_hourly = [{carbon}]
}}
"""


def _listed(values, unit: str) -> str:
    return ", ".join(f"{float(v):g} {unit}" for v in values)


def _region(name, count, watts, price, prices, carbon) -> str:
    return REGION_POOL.format(name=name, count=count, watts=watts, price=price,
                              prices=_listed(prices, "USD/kWh"), carbon=_listed(carbon, "gCO2e/kWh"))


def _job(name, duration, first, last) -> str:
    """A whole-node job (8 cores) of `duration` steps that starts at a step in [first, last]."""
    return job(name, f"{duration}h", f"earliest = {first}h\n  deadline = {last + duration}h", cpu=8)


def _pools(classes, prefix: str = "p", extra: dict[int, str] | None = None) -> str:
    """Whole-node pools (8 cores) at site "a", one per (count, watts, USD/h), with a line more
    where `extra` gives one."""
    return "".join(f"""
pool {prefix}{index} {{
  count = {count}
  cpu = 8
  memory = 32GiB
  power = {watts}W
  price = {price} USD/h
  labels = {{ site: "a" }}
  {(extra or {}).get(index, "")}
}}
""" for index, (count, watts, price) in enumerate(classes))


def _grid(prices) -> str:
    listed = _listed(prices, "USD/kWh")
    return f'\nelectricity grid {{\n  hourly = [{listed}]\n  labels = {{ site: "a" }}\n}}\n'


def _feasible(options, classes, steps, off=None, caps=None):
    """Each choice of one profile per job (a profile: per step, the class run on or None)
    that the nodes hold, with the replicas running per step and class: each class's count
    (none in its `off` steps), and the site's cap per step (`caps`, watts) where given."""
    for combo in itertools.product(*options):
        running = [[0] * len(classes) for _ in range(steps)]
        for profile in combo:
            for t, c in enumerate(profile):
                if c is not None:
                    running[t][c] += 1
        if any(running[t][c] > (0 if off and t in off[c] else classes[c][0])
               for t in range(steps) for c in range(len(classes))):
            continue
        if caps and any(sum(running[t][c] * classes[c][1] for c in range(len(classes))) > caps[t]
                        for t in range(steps)):
            continue
        yield combo, running


def _cost(running, classes, prices) -> Fraction:
    """Each node in use at its price plus its power at the price per kWh then."""
    return sum((running[t][c] * (classes[c][2] + Fraction(classes[c][1], 1000) * prices[t])
                for t in range(len(running)) for c in range(len(classes))), Fraction(0))


def _unbroken(classes: int, steps: int, jobs):
    """Each job's profiles as one unbroken run: (name, duration, first start, last start)."""
    return [list(_profiles(classes, steps, duration, first, last + duration, None))
            for _, duration, first, last in jobs]


def _schedules(jobs, regions, steps):
    """Every schedule of whole-node jobs that the nodes hold, as (cost USD, carbon kgCO2e):
    shares no code with the solver."""
    classes = [region[:3] for region in regions]
    for _, running in _feasible(_unbroken(len(regions), steps, jobs), classes, steps):
        cost = carbon = Fraction(0)
        for t in range(steps):
            for c, (_, watts, price, prices, grams) in enumerate(regions):
                kw = Fraction(watts, 1000)
                cost += running[t][c] * (price + kw * prices[t])
                carbon += running[t][c] * kw * grams[t] / 1000
        yield cost, carbon


def _random_case(seed: int):
    rng = random.Random(seed)
    steps = 6
    regions = []
    for _ in range(2):
        prices = [Fraction(rng.randint(0, 9), 10) for _ in range(steps)]
        grams = [rng.choice([50, 100, 300, 600, 900]) for _ in range(steps)]
        regions.append((rng.randint(1, 2), rng.choice([1000, 2000]), rng.choice([0, 1]), prices, grams))
    jobs = []
    for index in range(rng.randint(2, 3)):
        duration = rng.randint(1, 3)
        first = rng.randint(0, 1)
        jobs.append((f"j{index}", duration, first,
                     rng.randint(max(first, steps - duration - 2), steps - duration)))
    return regions, jobs, steps


def _policy_text(regions, jobs, steps, objective: str, extra: str = "") -> str:
    text = "".join(_region(f"r{i}", *region) for i, region in enumerate(regions))
    text += "".join(_job(*j) for j in jobs)
    return text + f"""
policy {{
  objective = {objective}
  horizon = {steps}h
  step = 1h
  start = "2026-12-01T00:00Z"
  {extra}
}}
"""


# ---- carbon: the language ---------------------------------------------------------------------

CARBON_GRID = 'electricity grid {\n  labels = { site: "a" }\n  carbon = 300 gCO2e/kWh\n}\n'
ONE_POOL = ('pool big {\n  count = 1\n  cpu = 32\n  memory = 128GiB\n  power = 1kW\n'
            '  price = 1 USD/h\n  labels = { site: "a" }\n}\n')


@pytest.mark.parametrize("text, expected", [
    # carbon is counted per step: without a horizon each place that asks for it is E0920
    (ONE_POOL + CARBON_GRID, ["E0920"]),
    (ONE_POOL + "policy {\n  objective = carbon\n}\n", ["E0920"]),
    (ONE_POOL + "policy {\n  carbon_budget = 5 kgCO2e\n}\n", ["E0920"]),
    # with a horizon and no grid stating an intensity: a warning, every schedule emits 0
    (ONE_POOL + job("a") + policy().replace("}", "  objective = carbon\n}"), ["W0920"]),
    (ONE_POOL + job("a") + CARBON_GRID + policy().replace("}", "  objective = [carbon, cost]\n}"), []),
    # units: an intensity is gCO2e/kWh, a budget an amount (gCO2e, kgCO2e, tCO2e)
    (ONE_POOL + CARBON_GRID.replace("300 gCO2e/kWh", "300 kgCO2e") + job("a") + policy(), ["E0302"]),
    (ONE_POOL + job("a") + CARBON_GRID + policy().replace("}", "  carbon_budget = 5 gCO2e/kWh\n}"),
     ["E0302"]),
    (ONE_POOL + job("a") + CARBON_GRID + policy().replace("}", "  carbon_budget = 2 tCO2e\n}"), []),
    # other objectives than cost and carbon are still refused in time
    (ONE_POOL + job("a") + CARBON_GRID + policy().replace("}", "  objective = [carbon, nodes]\n}"),
     ["E0906"]),
])
def test_carbon_is_checked_in_its_units_and_needs_a_horizon(tmp_path, text, expected):
    assert codes(tmp_path, text) == expected


def test_a_malformed_carbon_file_is_reported_with_its_line(tmp_path):
    grid = CARBON_GRID.replace("carbon = 300 gCO2e/kWh", 'carbon_file = "grid/co2.csv"')
    rows = "timestamp,intensity\n2026-12-01T00:00Z,300\n2026-12-01T04:00Z,lots\n"
    text = ONE_POOL + job("a") + grid + policy()
    assert codes(tmp_path, text, {"grid/co2.csv": rows}) == ["E0908"]
    rows = "timestamp,intensity\n2026-12-01T00:00Z,300\n2026-12-01T04:00+01:00,50\n"
    (tmp_path / "grid/co2.csv").write_text(rows)
    problem = problem_from(tmp_path, text)
    # 1 kW: 300 g/h until 03:00Z (04:00+01:00), then 50 g/h
    assert problem.classes[0].step_carbon == tuple(Fraction(g, 1000) for g in (300,) * 3 + (50,) * 5)


# ---- carbon: the solver against every schedule -------------------------------------------------


@pytest.mark.parametrize("seed", range(16))
def test_least_carbon_then_least_cost_is_that_of_every_schedule(tmp_path, seed):
    regions, jobs, steps = _random_case(seed)
    found = list(_schedules(jobs, regions, steps))
    problem = problem_from(tmp_path, _policy_text(regions, jobs, steps, "[carbon, cost]"))
    if not found:
        placement = solve(problem)
        assert placement.status == "infeasible" and placement.proven_infeasible
        return
    least_carbon = min(carbon for _, carbon in found)
    cheapest_clean = min(cost for cost, carbon in found if carbon == least_carbon)
    placement = solved(problem)  # and verified
    assert placement.status == "optimal" and placement.value == least_carbon
    document = json.loads(as_json(problem, placement, []))
    assert document["objective"]["unit"] == "kgCO2e"
    assert document["carbon"]["emitted_kg_co2e"] == pytest.approx(float(least_carbon))
    assert f"cost over the horizon: {float(cheapest_clean):.2f} USD" in as_text(problem, placement)


@pytest.mark.parametrize("seed", range(16))
def test_the_carbon_budget_is_a_hard_row_under_the_cost_objective(tmp_path, seed):
    regions, jobs, steps = _random_case(seed)
    found = list(_schedules(jobs, regions, steps))
    if not found:
        return
    carbons = sorted({carbon for _, carbon in found})
    budget = carbons[len(carbons) // 3]  # binds in most cases: the cheapest is rarely the cleanest
    text = _policy_text(regions, jobs, steps, "cost", f"carbon_budget = {float(budget) * 1000:.6f} gCO2e")
    problem = problem_from(tmp_path, text)
    budget = problem.carbon_budget
    within = [cost for cost, carbon in found if carbon <= budget]
    if not within:
        assert solve(problem).status == "infeasible"
        return
    placement = solved(problem)
    assert placement.status == "optimal" and placement.value == min(within)


def test_verify_recounts_the_carbon_budget_and_the_carbon_objective(tmp_path):
    # one job of 2 h; r0 is clean in steps 0-1 (100 g/kWh), dirty after (900); r1 always 500
    regions = [(1, 1000, 0, [Fraction(0)] * 4, [100, 100, 900, 900]),
               (1, 1000, 0, [Fraction(0)] * 4, [500] * 4)]
    text = _policy_text(regions, [("a", 2, 0, 2)], 4, "carbon", "carbon_budget = 1 kgCO2e")
    problem = problem_from(tmp_path, text)
    document = json.loads(as_json(problem, solved(problem), []))
    (run,) = document["assignments"]
    assert (run["node"], run["start"]) == ("r0-0", "2026-12-01T00:00:00Z")
    assert document["objective"]["value"] == pytest.approx(0.2)
    run["start"], run["end"] = "2026-12-01T02:00:00Z", "2026-12-01T04:00:00Z"
    found = [v.message for v in verify(problem, document)[0]]
    assert any("emit 1.80 kgCO2e over the horizon, over the carbon budget of 1.00 kgCO2e" in m
               for m in found)
    assert any("states carbon = 0.2 kgCO2e over the horizon; its runs give 1.8" in m for m in found)


def test_a_carbon_budget_below_every_schedule_is_named_by_explain_with_a_checked_repair(tmp_path):
    """Found as a user (session 58): a week whose one conflict was its `carbon_budget` was
    E0951 "the power caps, the budget or the packing ... rule out every schedule"; the least
    a schedule emits here is 0.2 kgCO2e (r0's clean hours), by enumeration in the test above."""
    import dataclasses

    from fitlang.solve.explain_time import explained_in_time

    regions = [(1, 1000, 0, [Fraction(0)] * 4, [100, 100, 900, 900]),
               (1, 1000, 0, [Fraction(0)] * 4, [500] * 4)]
    text = _policy_text(regions, [("a", 2, 0, 2)], 4, "cost", "carbon_budget = 150 gCO2e")
    problem = problem_from(tmp_path, text)
    assert solve(problem).status == "infeasible"
    explained = explained_in_time(problem, str(tmp_path / "p.fit"))
    said = explained.diagnostic
    assert said.code == "E0951" and explained.rule == "carbon"
    assert ("the `carbon_budget` of 0.15 kgCO2e (line" in said.message
            and "is less than any schedule emits, at least 0.20 kgCO2e" in said.message)
    assert text.splitlines()[said.span.line - 1].strip() == "carbon_budget = 150 gCO2e"
    [repair] = explained.repairs
    assert (repair.rule, repair.before, repair.after) == ("carbon", "0.15 kgCO2e", "0.2 kgCO2e")
    repaired = solved(dataclasses.replace(problem, carbon_budget=Fraction(2, 10)))  # and verified
    assert repaired.status == "optimal"
    # a budget that holds the least schedule is no conflict: the window's E0951 stays as it was
    roomy = dataclasses.replace(problem, carbon_budget=Fraction(1))
    assert solve(roomy).status == "optimal"


# ---- power caps per step, pools available in windows: the language ------------------------------

SITE_POOL = ('pool big {{\n  count = 2\n  cpu = 32\n  memory = 128GiB\n  power = 1kW\n'
             '  labels = {{ site: "a" }}\n  {extra}\n}}\n')


def site_pool(extra: str = "") -> str:
    return SITE_POOL.format(extra=extra)


@pytest.mark.parametrize("text, expected", [
    # windows and caps per step need a horizon (E0902, as `duration` does)
    (site_pool('unavailable = ["2026-12-01T02:00Z/2026-12-01T04:00Z"]'), ["E0902"]),
    (site_pool() + 'power_cap feed {\n  hourly = [1kW, 2kW]\n  labels = { site: "a" }\n}\n', ["E0902"]),
    (site_pool() + 'power_cap feed {\n  labels = { site: "a" }\n}\n', ["E0921"]),
    (site_pool() + 'power_cap feed {\n  hourly = [1kW, 2kW]\n  labels = { site: "a" }\n}\n'
     + job("a") + policy(), []),
    # a window is an ISO 8601 interval of two date-times with offsets, the start first
    (site_pool('unavailable = ["2026-12-01T02:00Z"]') + job("a") + policy(), ["E0922"]),
    (site_pool('unavailable = ["2026-12-01T02:00/2026-12-01T04:00Z"]') + job("a") + policy(), ["E0922"]),
    (site_pool('available = ["2026-12-01T04:00Z/2026-12-01T02:00Z"]') + job("a") + policy(), ["E0922"]),
    # inside the horizon (8 steps of 1 h from 00:00Z): wholly outside, or no whole step
    (site_pool('unavailable = ["2026-12-02T02:00Z/2026-12-02T04:00Z"]') + job("a") + policy(), ["E0923"]),
    (site_pool('available = ["2026-12-01T02:10Z/2026-12-01T02:50Z"]') + job("a") + policy(), ["E0923"]),
    (site_pool('unavailable = ["2026-11-30T22:00Z/2026-12-01T01:30+01:00"]') + job("a") + policy(), []),
])
def test_windows_and_caps_per_step_are_checked(tmp_path, text, expected):
    assert codes(tmp_path, text) == expected


def test_a_pools_windows_become_the_steps_it_runs_nothing(tmp_path):
    # 8 steps of 1 h from 00:00Z; available 01:30-06:00 holds steps 2-5 whole; the maintenance
    # 03:30-04:10 touches steps 3 and 4: the pool runs work in steps 2 and 5
    text = site_pool('available = ["2026-12-01T01:30Z/2026-12-01T06:00Z"]\n'
                     '  unavailable = ["2026-12-01T03:30Z/2026-12-01T04:10Z"]') + job("a", "1h") + policy()
    problem = problem_from(tmp_path, text)
    assert sorted(set(range(8)) - problem.classes[0].off_steps) == [2, 5]


# ---- power caps per step, pools available in windows: the solver against every schedule ---------


def _least_cost(jobs, classes, off, caps, prices, steps):
    """The least cost of whole-node jobs over every class and start step, with each class's
    nodes at each step (none in its off steps) and the site's cap at each step. None: no
    schedule. Shares no code with the solver."""
    costs = [_cost(running, classes, prices) for _, running in
             _feasible(_unbroken(len(classes), steps, jobs), classes, steps, off, caps)]
    return min(costs, default=None)


def _stamp(step: int) -> str:
    return f"2026-12-01T{step:02d}:00Z"


def _windowed_text(jobs, classes, off_windows, caps, prices, steps) -> str:
    windows = {index: "unavailable = [" + ", ".join(f'"{_stamp(a)}/{_stamp(b)}"' for a, b in spans) + "]"
               for index, spans in enumerate(off_windows) if spans}
    text = _pools(classes, extra=windows) + "".join(_job(*j) for j in jobs) + _grid(prices)
    return text + f"""
power_cap feed {{
  hourly = [{", ".join(f"{c}W" for c in caps)}]
  labels = {{ site: "a" }}
}}
""" + policy(horizon=f"{steps}h")


@pytest.mark.parametrize("seed", range(20))
def test_caps_per_step_and_maintenance_windows_against_every_schedule(tmp_path, seed):
    rng = random.Random(1000 + seed)
    steps = 6
    classes = [(rng.randint(1, 2), rng.choice([1000, 2000]), rng.choice([0, 1])) for _ in range(2)]
    off_windows = []
    for _ in classes:
        start = rng.randint(0, steps - 1)
        off_windows.append([(start, min(steps, start + rng.randint(1, 3)))] if rng.random() < 0.7 else [])
    off = [{t for a, b in windows for t in range(a, b)} for windows in off_windows]
    caps = [rng.choice([1000, 2000, 3000, 10 ** 6]) for _ in range(steps)]
    prices = [Fraction(rng.randint(0, 9), 10) for _ in range(steps)]
    jobs = []
    for index in range(rng.randint(2, 3)):
        duration = rng.randint(1, 2)
        jobs.append((f"j{index}", duration, 0, steps - duration))
    expected = _least_cost(jobs, classes, off, caps, prices, steps)
    problem = problem_from(tmp_path, _windowed_text(jobs, classes, off_windows, caps, prices, steps))
    if expected is None:
        placement = solve(problem)
        assert placement.status == "infeasible" and placement.proven_infeasible
        return
    placement = solved(problem)  # and verified
    assert placement.status == "optimal" and placement.value == expected


def test_verify_rejects_a_run_in_a_maintenance_window_and_over_the_cap_then(tmp_path):
    # one node; maintenance 00:00-02:00; the feed allows 1 kW until 04:00, nothing after
    text = (site_pool('unavailable = ["2026-12-01T00:00Z/2026-12-01T02:00Z"]')
            + 'power_cap feed {\n  hourly = [1kW, 1kW, 1kW, 1kW, 0W, 0W]\n  labels = { site: "a" }\n}\n'
            + job("a", "2h") + policy(horizon="6h"))
    problem = problem_from(tmp_path, text)
    document = json.loads(as_json(problem, solved(problem), []))
    (run,) = document["assignments"]
    assert run["start"] == "2026-12-01T02:00:00Z"  # the only start: after the maintenance, before 04:00
    run["start"], run["end"] = "2026-12-01T01:00:00Z", "2026-12-01T03:00:00Z"
    found = [v.message for v in verify(problem, document)[0]]
    # the step and its instant, as an operations team reads it (session 60)
    assert any(f"replica 0 runs on `{run['node']}` at step 1 (2026-12-01T01:00Z), when its pool `big` is "
               "not available" in m for m in found)
    run["start"], run["end"] = "2026-12-01T03:00:00Z", "2026-12-01T05:00:00Z"
    found = [v.message for v in verify(problem, document)[0]]
    assert any("at step 4 (2026-12-01T04:00Z) nodes in site=a draw 1.0 kW, over the cap `feed` of 0.0 kW"
               in m for m in found)


# ---- recurring jobs: `every` -----------------------------------------------------------------


def recurring(every: str, extra: str = "", duration: str = "1h", replicas: int = 1) -> str:
    return job("r", duration, f"every = {every}\n  {extra}", replicas=replicas)


@pytest.mark.parametrize("text, expected", [
    (site_pool() + recurring("24h"), ["E0902"]),  # no horizon
    (site_pool() + recurring("6h") + policy(horizon="24h"), []),
    (site_pool() + recurring('"0 2 * * *"') + policy(horizon="48h"), []),
    # not a period or a cron expression
    (site_pool() + recurring("4") + policy(), ["E0924"]),
    (site_pool() + recurring('"0 2 * *"') + policy(), ["E0924"]),
    (site_pool() + recurring('"0 25 * * *"') + policy(), ["E0924"]),
    (site_pool() + recurring('"@daily"') + policy(), ["E0924"]),
    # runs that overlap, cannot hold the job, or none in the horizon
    (site_pool() + recurring("4h", "within = 6h") + policy(), ["E0925"]),
    (site_pool() + recurring('"0 2,4 * * *"', "within = 3h") + policy(), ["E0925"]),
    (site_pool() + recurring("4h", "within = 1h", duration="2h") + policy(), ["E0925"]),
    (site_pool() + recurring("24h") + policy(horizon="8h"), ["E0925"]),
    # a service does not recur
    (site_pool() + 'workload s {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  every = 4h\n}\n'
     + policy(), ["E0905"]),
])
def test_recurring_jobs_are_checked(tmp_path, text, expected):
    assert codes(tmp_path, text) == expected


@pytest.mark.parametrize("cron, firings", [
    # 2026-11-30 is a Monday; hand-listed firings in the week from it (hours after its 00:00Z)
    ("0 2 * * *", [2 + 24 * d for d in range(7)]),
    ("30 2 * * 1-5", [2.5 + 24 * d for d in range(5)]),
    ("0 */8 * * 0", [144, 152, 160]),  # Sunday only
    ("0 0 1 * *", [24]),  # the first of December
    ("0 0 1 * 1", [0, 24]),  # either day field, as cron does: Monday the 30th, or the 1st
    ("15,45 9-10 * * 3", [57.25, 57.75, 58.25, 58.75]),  # Wednesday
])
def test_cron_firings_are_the_hand_listed_ones(cron, firings):
    from datetime import datetime, timedelta

    from fitlang.check.recurrence import parse_cron

    parsed = parse_cron(cron)
    assert not isinstance(parsed, str)
    monday = datetime.fromisoformat("2026-11-30T00:00Z")
    found = parsed.firings(monday, monday + timedelta(days=7))
    assert [(m - monday).total_seconds() / 3600 for m in found] == firings


def test_each_run_is_its_own_window_and_replicas_are_numbered_run_by_run(tmp_path):
    # every 6 h from 01:00, each within 4 h: runs released at 1, 7, 13, 19 (the last due at 23)
    text = site_pool() + recurring("6h", "earliest = 1h\n  within = 4h", replicas=2) + policy(horizon="24h")
    problem = problem_from(tmp_path, text)
    demand = problem.demand("r")
    assert [(w.earliest, w.latest_start + w.duration) for w in demand.windows] == [
        (1, 5), (7, 11), (13, 17), (19, 23)]
    assert demand.replicas == 8 and demand.replicas_per_run == 2
    placement = solved(problem)
    runs = sorted((a.replica, a.start) for a in placement.assignments)
    assert [start // 6 for _, start in runs] == [0, 0, 1, 1, 2, 2, 3, 3]


def _recurring_text(classes, prices, period, within, duration, steps, others) -> str:
    recurring_job = job("r", f"{duration}h", f"every = {period}h\n  within = {within}h", cpu=8)
    return (_pools(classes) + recurring_job + "".join(_job(*j) for j in others) + _grid(prices)
            + policy(horizon=f"{steps}h"))


@pytest.mark.parametrize("seed", range(12))
def test_a_recurring_job_costs_what_its_runs_enumerated_cost(tmp_path, seed):
    rng = random.Random(2000 + seed)
    steps = 8
    period = rng.choice([2, 4])
    duration = rng.randint(1, 2)
    within = rng.randint(duration, period)
    classes = [(rng.randint(1, 2), rng.choice([1000, 2000]), rng.choice([0, 1])) for _ in range(2)]
    prices = [Fraction(rng.randint(0, 9), 10) for _ in range(steps)]
    others = [("o", rng.randint(1, 3), 0, 5)]
    # the runs by hand: released at 0, period, ...; due `within` after; all inside the horizon
    runs = [(f"run{k}", duration, k * period, k * period + within - duration)
            for k in range(steps // period) if k * period + within <= steps]
    expected = _least_cost([*runs, *others], classes, [set(), set()], [10 ** 9] * steps, prices, steps)
    problem = problem_from(tmp_path, _recurring_text(classes, prices, period, within, duration,
                                                     steps, others))
    assert len(problem.demand("r").windows) == len(runs)
    if expected is None:
        assert solve(problem).status == "infeasible"
        return
    placement = solved(problem)
    assert placement.status == "optimal" and placement.value == expected


def test_verify_rejects_a_run_outside_its_own_window(tmp_path):
    text = site_pool() + recurring("4h", "within = 2h") + policy(horizon="8h")
    problem = problem_from(tmp_path, text)
    document = json.loads(as_json(problem, solved(problem), []))
    second = next(a for a in document["assignments"] if a["replica"] == 1)
    assert "2026-12-01T04:00:00Z" <= second["start"] <= "2026-12-01T05:00:00Z"
    # replica 1 is run 1's (released at 04:00): at 01:00 it is inside run 0's window, not its own
    second["start"], second["end"] = "2026-12-01T01:00:00Z", "2026-12-01T02:00:00Z"
    found = [v.message for v in verify(problem, document)[0]]
    assert any("`r` replica 1 (run 1) starts at step 1 (2026-12-01T01:00Z), before its earliest start, "
               "step 4 (2026-12-01T04:00Z)" in m
               for m in found)


# ---- preemptible jobs: segments of at least `min_segment` --------------------------------------


@pytest.mark.parametrize("extra, expected", [
    ("preemptible = true\n  min_segment = 1h", []),
    ("min_segment = 1h", ["E0926"]),  # without `preemptible`
    ("preemptible = true\n  min_segment = 3h", ["E0926"]),  # longer than the job
    ("preemptible = true\n  every = 4h", ["E0926"]),  # not recurring yet
])
def test_preemptible_jobs_are_checked(tmp_path, extra, expected):
    assert codes(tmp_path, site_pool() + job("a", "2h", extra) + policy()) == expected


def test_preemption_needs_a_horizon_and_a_job(tmp_path):
    assert codes(tmp_path, site_pool() + job("a", "2h", "preemptible = true")) == ["E0902"]
    service = 'workload s {\n  replicas = 1\n  cpu = 1\n  memory = 1GiB\n  preemptible = true\n}\n'
    assert codes(tmp_path, site_pool() + service + policy()) == ["E0905"]


def _profiles(classes: int, steps: int, duration: int, first: int, last_end: int,
              least: int | None):
    """Every way one replica may run: per step, the class it runs on or None. Unbroken
    (least None): one run of `duration` on one class. Preemptible: `duration` steps in the
    window, each maximal run on one class at least `least` long."""
    window = range(first, last_end)
    if least is None:
        for c in range(classes):
            for start in range(first, last_end - duration + 1):
                yield tuple(c if start <= t < start + duration else None for t in range(steps))
        return
    for choice in itertools.product([None, *range(classes)], repeat=len(window)):
        if sum(c is not None for c in choice) != duration:
            continue
        runs = [len(list(group)) for c, group in itertools.groupby(choice) if c is not None]
        if min(runs) >= least:
            yield tuple(choice[t - first] if t in window else None for t in range(steps))


def _least_cost_of_profiles(jobs, classes, prices, steps):
    costs = [_cost(running, classes, prices) for _, running in _feasible(jobs, classes, steps)]
    return min(costs, default=None)


@pytest.mark.parametrize("seed", range(12))
def test_preemptible_jobs_cost_what_every_split_enumerated_costs(tmp_path, seed):
    rng = random.Random(3000 + seed)
    steps = 6
    classes = [(1, rng.choice([1000, 2000]), rng.choice([0, 1])) for _ in range(2)]
    prices = [Fraction(rng.choice([0, 1, 5, 9]), 10) for _ in range(steps)]
    specs = [("p0", rng.randint(2, 4), rng.randint(1, 2)), ("p1", rng.randint(2, 3), 1)]
    text = _pools(classes, prefix="c")
    for name, duration, least in specs:
        text += job(name, f"{duration}h", f"preemptible = true\n  min_segment = {least}h", cpu=8)
    text += job("whole", "2h", cpu=8) + _grid(prices) + policy(horizon=f"{steps}h")  # unbroken beside them
    jobs = [list(_profiles(2, steps, d, 0, steps, least)) for _, d, least in specs]
    jobs.append(list(_profiles(2, steps, 2, 0, steps, None)))
    expected = _least_cost_of_profiles(jobs, classes, prices, steps)
    problem = problem_from(tmp_path, text)
    if expected is None:
        assert solve(problem).status == "infeasible"
        return
    placement = solved(problem)  # and verified
    assert placement.status == "optimal" and placement.value == expected


def test_verify_checks_each_preemptible_replicas_segments(tmp_path):
    # cheap steps 0, 2, 3, 5 of 6: a 4 h job in segments of at least 1 h takes exactly those
    text = (site_pool() + job("a", "4h", "preemptible = true\n  min_segment = 1h")
            + 'electricity grid {\n  labels = { site: "a" }\n  hourly = [0.1 USD/kWh, 0.9 USD/kWh, '
              '0.1 USD/kWh, 0.1 USD/kWh, 0.9 USD/kWh, 0.1 USD/kWh]\n}\n' + policy(horizon="6h"))
    problem = problem_from(tmp_path, text)
    placement = solved(problem)
    assert placement.value == Fraction(4, 10)
    assert [(a.start, a.end) for a in placement.assignments] == [(0, 1), (2, 4), (5, 6)]
    document = json.loads(as_json(problem, placement, []))
    assert "replicas placed: 1/1" in as_text(problem, placement)
    document["assignments"][2]["end"] = "2026-12-01T05:30:00Z"  # not on a step
    document["assignments"][2]["start"] = "2026-12-01T03:00:00Z"
    document["assignments"][2]["end"] = "2026-12-01T04:00:00Z"  # overlaps the second segment
    found = [v.message for v in verify(problem, document)[0]]
    assert any("`a` replica 0 runs twice at once: at step 3" in m for m in found)
    document["assignments"][2]["start"] = "2026-12-01T04:00:00Z"
    document["assignments"][2]["end"] = "2026-12-01T06:00:00Z"  # 5 steps in all
    found = [v.message for v in verify(problem, document)[0]]
    assert any("`a` replica 0 runs 5 steps in 3 segments; its duration is 4" in m for m in found)


def test_verify_rejects_a_segment_shorter_than_min_segment(tmp_path):
    text = site_pool() + job("a", "4h", "preemptible = true\n  min_segment = 2h") + policy(horizon="6h")
    problem = problem_from(tmp_path, text)
    document = json.loads(as_json(problem, solved(problem), []))
    (run,) = document["assignments"]  # all hours cost the same: one unbroken run
    node = run["node"]
    document["assignments"] = [
        {"workload": "a", "replica": 0, "node": node, "start": "2026-12-01T00:00:00Z",
         "end": "2026-12-01T01:00:00Z"},
        {"workload": "a", "replica": 0, "node": node, "start": "2026-12-01T02:00:00Z",
         "end": "2026-12-01T05:00:00Z"}]
    found = [v.message for v in verify(problem, document)[0]]
    assert found == ["`a` replica 0 runs a segment of 1 steps from step 0, shorter than its "
                     "min_segment of 2"]


# ---- makespan and lateness -------------------------------------------------------------------


def _completion_reference(jobs, dues, classes, steps):
    """(least makespan, least total lateness) in hours over every feasible combination of the
    jobs' profiles; lateness counts each job's end past its due step."""
    best_makespan = best_lateness = None
    for combo, _ in _feasible(jobs, classes, steps):
        ends = [max(t for t, c in enumerate(profile) if c is not None) + 1 for profile in combo]
        span = max(ends)
        late = sum(max(0, end - due) for end, due in zip(ends, dues) if due is not None)
        best_makespan = span if best_makespan is None else min(best_makespan, span)
        best_lateness = late if best_lateness is None else min(best_lateness, late)
    return best_makespan, best_lateness


@pytest.mark.parametrize("seed", range(10))
def test_makespan_and_lateness_are_those_of_every_schedule_enumerated(tmp_path, seed):
    rng = random.Random(4000 + seed)
    steps = 6
    classes = [(rng.randint(1, 2), 1000, 1), (1, 1000, 2)]
    specs = []  # (name, duration, earliest, due, min_segment or None)
    for index in range(3):
        duration = rng.randint(1, 3)
        specs.append((f"j{index}", duration, rng.randint(0, 2), rng.choice([None, 2, 3, 4]),
                      rng.choice([None, None, 1])))
    text = _pools(classes, prefix="c")
    jobs = []
    for name, duration, earliest, due, least in specs:
        extra = f"earliest = {earliest}h"
        extra += f"\n  due = {due}h" if due is not None else ""
        extra += f"\n  preemptible = true\n  min_segment = {least}h" if least else ""
        text += job(name, f"{duration}h", extra, cpu=8)
        jobs.append(list(_profiles(2, steps, duration, earliest, steps, least)))
    expected = _completion_reference(jobs, [s[3] for s in specs], classes, steps)
    for objective, value in zip(("makespan", "lateness"), expected):
        directory = tmp_path / objective
        directory.mkdir()
        problem = problem_from(directory, text + policy(horizon=f"{steps}h").replace(
            "}", f"  objective = [{objective}, cost]\n}}"))
        if value is None:
            assert solve(problem).status == "infeasible"
            continue
        placement = solved(problem)  # and verified (the stated makespan or lateness recounted)
        assert placement.status == "optimal" and placement.value == value, objective


@pytest.mark.parametrize("text, expected", [
    (site_pool() + job("a", "2h", "due = 3h") + policy(), []),
    (site_pool() + job("a", "2h", "due = 3h"), ["E0902"]),  # no horizon
    (site_pool() + job("a", "2h", "due = 9h") + policy(), ["E0905"]),  # past the horizon's end
    (site_pool() + job("a", "2h", "every = 4h\n  due = 3h") + policy(), ["E0925"]),
    (site_pool() + "policy {\n  objective = makespan\n}\n", ["E0902"]),
    (site_pool() + job("a") + policy().replace("}", "  objective = [lateness, makespan, carbon]\n}"),
     ["W0920"]),
])
def test_due_and_the_completion_objectives_are_checked(tmp_path, text, expected):
    assert codes(tmp_path, text) == expected


@pytest.mark.parametrize("attribute", [
    'electricity grid {\n  labels = { site: "a" }\n  carbon_hourly = [300 gCO2e/kWh, -5 gCO2e/kWh]\n}\n',
    'electricity grid {\n  labels = { site: "a" }\n  hourly = [0.1 USD/kWh, -0.1 USD/kWh]\n}\n',
    'power_cap feed {\n  labels = { site: "a" }\n  hourly = [2kW, 0W - 1kW]\n}\n',
])
def test_values_per_step_are_never_negative(tmp_path, attribute):
    assert codes(tmp_path, site_pool() + job("a") + attribute + policy()) == ["E0303"]


def test_an_inventorys_windows_are_a_pools(tmp_path):
    from conftest import FIXTURES

    (tmp_path / "nodes.json").write_text((FIXTURES / "inventory" / "nodes.json").read_text())
    inventory = ('inventory onprem {\n  format = kubectl\n  file = "nodes.json"\n'
                 '  unavailable = ["2026-12-01T02:00Z/2026-12-01T04:00Z"]\n}\n')
    problem = problem_from(tmp_path, inventory + job("a", "1h", cpu=1) + policy())
    assert problem.classes and all(c.off_steps == {2, 3} for c in problem.classes)
    bad = inventory.replace("2026-12-01T04:00Z", "2026-12-01T01:00Z")
    assert codes(tmp_path, bad + job("a", "1h", cpu=1) + policy()) == ["E0922"]
