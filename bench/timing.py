"""Placing work in time (issue 19): fitc's time-indexed model against the two per-job answers.

    .venv/bin/python bench/timing.py                          # the sizes of docs/performance.md
    .venv/bin/python bench/timing.py --jobs 200 --steps 168 --nodes 100 --time-limit 60
    .venv/bin/python bench/timing.py --objective carbon,cost     # least carbon, then cost
    .venv/bin/python bench/timing.py --preemptible 0.2   # a fifth of the jobs in 2 h segments
    .venv/bin/python bench/timing.py --spot              # the h100 pool at a spot price per step

A generated site (seeded): pools of whole-node GPU machines with their power draw and price,
one power cap over all of them, an hourly electricity price with a daily shape (cheap nights)
and noise, a few services that run all the time, and jobs of 1 to 12 hours with random
windows (a job's deadline leaves it slack of 0 to 3 days). Every replica takes a whole node,
so the nodes in use at a step are the replicas running then: the baselines need no packer.

- fitc: `fitc solve`'s time model in process (HiGHS), its cost over the horizon and proven
  bound;
- FIFO: each job, in order of its earliest start, at the first step where a node of a pool it
  may use is free for its whole run and the power cap holds ("as soon as it can", what a
  queue does), on the cheapest such pool; a job that cannot start in its window is late,
  placed at the first step that fits at all (or dropped past the horizon's end);
- cheapest window alone: each job, in the same order, at the start of its window where its own
  electricity is cheapest among those that fit what is already placed (per-job carbon- and
  price-aware tools), late as above.
Cost: every node in use at a step at its pool's price plus its power x the price then. Carbon:
its power x the grid's carbon intensity then (a solar grid: dirtiest at night, cleanest at
noon, so cheap and clean hours differ). Lateness: the hours the late jobs end past their
deadline (a dropped job counts as its duration past the horizon's end). Not a test: numbers go
to docs/performance.md (the machine is shared: rerun, read medians).
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fitlang.driver import Compilation  # noqa: E402

POOLS = [("h100", 8, 10_000, 8), ("a100", 8, 6_500, 4), ("l40s", 4, 2_500, 2)]  # gpus, W, USD/h


@dataclass
class Job:
    name: str
    pools: list[str]
    duration: int
    earliest: int
    deadline: int  # steps: the run ends by this step
    preemptible: bool = False  # fitc may split it in segments of 2 h (the baselines do not)


def carbon_curve(steps: int) -> list[int]:
    """gCO2e/kWh per step of a solar-heavy grid: 450 at night, 120 at noon (no noise, so the
    baselines and fitc read the same curve the policy states)."""
    return [120 if 10 <= t % 24 < 16 else 260 if 7 <= t % 24 < 19 else 450 for t in range(steps)]


def spot_curve(steps: int, seed: int) -> list[Fraction]:
    """USD/h per h100 node at each step with `--spot` (issue 19, offer prices per step): a
    spot market that is cheap at night and dear in the working day, with noise (its own
    generator, so that the jobs are those without `--spot`)."""
    rng = random.Random(seed + 7919)
    return [(Fraction(3) if t % 24 < 8 else Fraction(6) if t % 24 < 18 else Fraction(4))
            + Fraction(rng.randint(-20, 20), 100) for t in range(steps)]


def pool_prices(steps: int, seed: int, spot: bool) -> dict[str, list[Fraction]]:
    """Each pool's USD/h per node at each step: its one price, or the h100's spot curve."""
    found = {name: [Fraction(price)] * steps for name, _, _, price in POOLS}
    if spot:
        found["h100"] = spot_curve(steps, seed)
    return found


def generate(jobs: int, steps: int, nodes: int, seed: int, objective: str = "cost",
             preemptible: float = 0.0, spot: bool = False
             ) -> tuple[str, list[Job], dict, list[Fraction], int]:
    rng = random.Random(seed)
    counts = {name: max(1, nodes * share // 10) for (name, *_), share in zip(POOLS, (3, 4, 3))}
    prices = []
    for t in range(steps):
        hour = t % 24
        base = Fraction(8, 100) if hour < 6 or hour >= 22 else Fraction(25, 100) if hour < 17 \
            else Fraction(32, 100)
        prices.append(base + Fraction(rng.randint(-3, 3), 100))
    services = max(1, nodes // 20)
    # the cap: room for about 30% of the nodes at once, so that cheap nights are contended
    cap = sum(w * counts[name] for name, _, w, _ in POOLS) * 3 // 10
    work: list[Job] = []
    for index in range(jobs):
        duration = rng.randint(1, 12)
        earliest = rng.randint(0, steps - duration)
        deadline = min(steps, earliest + duration + rng.randint(0, 72))
        allowed = rng.sample([p[0] for p in POOLS], rng.randint(1, 3))
        split = duration >= 4 and index < jobs * preemptible  # drawn after the rest: same jobs
        work.append(Job(f"j{index}", sorted(allowed), duration, earliest, deadline, split))
    text = ['import "std/accelerators"\n']
    for name, gpus, watts, price in POOLS:
        model = {"h100": "H100", "a100": "A100_80GB", "l40s": "L40S"}[name]
        priced = f"price = {price} USD/h" if not (spot and name == "h100") else "price_hourly = [" + \
            ", ".join(f"{float(p):g} USD/h" for p in spot_curve(steps, seed)) + "]"
        text.append(f"""
pool {name} {{
  count = {counts[name]}
  cpu = 64
  memory = 512GiB
  gpu {{
    model = {model}
    count = {gpus}
  }}
  power = {watts}W
  {priced}
  labels = {{ site: "s1", kind: "{name}" }}
}}
""")
    listed = ", ".join(f"{float(p):g} USD/kWh" for p in prices)
    intensities = ", ".join(f"{g} gCO2e/kWh" for g in carbon_curve(steps))
    text.append(f"""
electricity grid {{
  hourly = [{listed}]
  carbon_hourly = [{intensities}]
  labels = {{ site: "s1" }}
}}

power_cap feed {{
  cap = {cap}W
  labels = {{ site: "s1" }}
}}
""")
    for index in range(services):
        text.append(f"""
workload svc{index} {{
  replicas = 1
  cpu = 64
  memory = 512GiB
  gpu {{
    count = 2
  }}
  require labels["kind"] == "l40s"
}}
""")
    for job in work:
        kinds = ", ".join(f'"{k}"' for k in job.pools)
        text.append(f"""
workload {job.name} {{
  kind = job
  replicas = 1
  cpu = 64
  memory = 512GiB
  gpu {{
    count = 2
  }}
  duration = {job.duration}h
  earliest = {job.earliest}h
  deadline = {job.deadline}h
  require labels["kind"] in [{kinds}]
  {"preemptible = true" if job.preemptible else ""}
  {"min_segment = 2h" if job.preemptible else ""}
}}
""")
    text.append(f"""
policy {{
  objective = [{objective}]
  horizon = {steps}h
  step = 1h
  start = "2026-12-07T00:00Z"
}}
""")
    return "".join(text), work, counts, prices, cap


def baseline(work: list[Job], counts: dict, prices: list[Fraction], cap: int, services: int,
             steps: int, cheapest: bool, price: dict[str, list[Fraction]]
             ) -> tuple[Fraction, int, int, Fraction, int]:
    """(cost, jobs late, jobs dropped, kgCO2e, hours late) of FIFO or each job's cheapest
    window alone; `price`: each pool's USD/h per node at each step (`pool_prices`)."""
    watts = {name: w for name, _, w, _ in POOLS}
    busy = {name: [0] * steps for name in counts}
    busy["l40s"] = [services] * steps
    drawn = [services * watts["l40s"]] * steps

    def fits(pool: str, start: int, duration: int) -> bool:
        return start + duration <= steps and all(
            busy[pool][t] < counts[pool] and drawn[t] + watts[pool] <= cap
            for t in range(start, start + duration))

    def energy(pool: str, start: int, duration: int) -> Fraction:
        return sum((price[pool][t] + Fraction(watts[pool], 1000) * prices[t]
                    for t in range(start, start + duration)), Fraction(0))

    late = dropped = hours_late = 0
    for job in sorted(work, key=lambda j: (j.earliest, j.name)):
        options = [(start, pool) for start in range(job.earliest, job.deadline - job.duration + 1)
                   for pool in job.pools if fits(pool, start, job.duration)]
        # FIFO: the first start that fits, on its cheapest pool then; alone: the cheapest start
        options.sort(key=lambda o: (energy(o[1], o[0], job.duration), o[0]) if cheapest
                     else (o[0], energy(o[1], o[0], job.duration)))
        if not options:
            late += 1
            options = [(start, pool) for start in range(job.earliest, steps)
                       for pool in job.pools if fits(pool, start, job.duration)]
        if not options:
            dropped += 1
            hours_late += steps + job.duration - job.deadline
            continue
        start, pool = options[0]
        hours_late += max(0, start + job.duration - job.deadline)
        for t in range(start, start + job.duration):
            busy[pool][t] += 1
            drawn[t] += watts[pool]
    cost = sum((busy[pool][t] * (price[pool][t] + Fraction(watts[pool], 1000) * prices[t])
                for pool in busy for t in range(steps)), Fraction(0))
    grams = carbon_curve(steps)
    carbon = sum((busy[pool][t] * Fraction(watts[pool] * grams[t], 10 ** 6)
                  for pool in busy for t in range(steps)), Fraction(0))
    return cost, late, dropped, carbon, hours_late


def run(jobs: int, steps: int, nodes: int, seed: int, time_limit: float,
        objective: str = "cost", preemptible: float = 0.0, spot: bool = False) -> dict:
    from fitlang.solve.timeline import horizon_value

    text, work, counts, prices, cap = generate(jobs, steps, nodes, seed, objective, preemptible, spot)
    services = max(1, nodes // 20)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "timing.fit"
        path.write_text(text)
        began = time.monotonic()
        compilation = Compilation(path)
        problem = compilation.problem
        built = time.monotonic() - began
        if problem is None:
            raise SystemExit([d.message for d in compilation.diagnostics()][:5])
        began = time.monotonic()
        placement = compilation.solve(time_limit=time_limit)
        solved = time.monotonic() - began
        runs = placement.assignments
        totals = [horizon_value(problem, runs, name) for name in ("cost", "carbon")]  # type: ignore[arg-type]
    priced = pool_prices(steps, seed, spot)
    fifo = baseline(work, counts, prices, cap, services, steps, False, priced)
    alone = baseline(work, counts, prices, cap, services, steps, True, priced)
    return {"size": f"{jobs} x {steps} x {sum(counts.values())}", "check+build": built,
            "solve": solved, "status": str(placement.status), "value": placement.value,
            "cost": totals[0], "carbon": totals[1],
            "bound": placement.bound, "gap": placement.gap, "unplaced": len(placement.unplaced),
            "fifo": fifo, "alone": alone}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int)
    parser.add_argument("--steps", type=int, default=168)
    parser.add_argument("--nodes", type=int)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=120.0)
    parser.add_argument("--objective", default="cost", help="fitc's objective list: cost, "
                        "carbon, carbon,cost, ...")
    parser.add_argument("--preemptible", type=float, default=0.0,
                        help="the share of jobs (of 4 h or more) fitc may split in 2 h segments")
    parser.add_argument("--spot", action="store_true",
                        help="the h100 pool at a spot price per step (`price_hourly`)")
    arguments = parser.parse_args()
    sizes = [(arguments.jobs, arguments.steps, arguments.nodes)] if arguments.jobs else \
        [(20, 48, 20), (50, 168, 40), (200, 168, 100)]
    objective = ", ".join(arguments.objective.split(","))
    print(f"objective [{objective}]; each column: cost USD / kgCO2e / hours late")
    print("| jobs x steps x nodes | check+build s | solve s | status | objective | bound | gap "
          "| fitc | FIFO (late, dropped) | cheapest window alone (late, dropped) |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for jobs, steps, nodes in sizes:
        row = run(jobs, steps, nodes, arguments.seed, arguments.time_limit, objective,
                  arguments.preemptible, arguments.spot)
        value = "-" if row["value"] is None else f"{float(row['value']):.1f}"
        bound = "-" if row["bound"] is None else f"{float(row['bound']):.1f}"
        gap = "-" if row["gap"] is None else f"{row['gap']:.2%}"
        fifo, alone = row["fifo"], row["alone"]
        print(f"| {row['size']} | {row['check+build']:.1f} | {row['solve']:.1f} | {row['status']}"
              f"{' (' + str(row['unplaced']) + ' unplaced)' if row['unplaced'] else ''} | {value} "
              f"| {bound} | {gap} | {float(row['cost']):.1f} / {float(row['carbon']):.1f} / 0 "
              f"| {_totals(fifo)} | {_totals(alone)} |", flush=True)


def _totals(result: tuple[Fraction, int, int, Fraction, int]) -> str:
    cost, late, dropped, carbon, hours = result
    return f"{float(cost):.1f} / {float(carbon):.1f} / {hours} ({late}, {dropped})"


if __name__ == "__main__":
    main()
