"""Small fleets (20-300 nodes) that mix the rule kinds the other differentials mix least,
against the independent reference (tests/reference.py's per-node CP-SAT model). Each seed
draws one theme and a little of the others:

- `gangs apart`: gangs kept apart on a node or a zone, from themselves or another workload;
- `options under caps`: a workload with accelerator options spread over zones or regions,
  under a budget and a power cap;
- `priorities near users`: `allow_unplaced`, three priority levels, latency to the users and
  data residency, capacity short of the demand;
- `arm64 accelerators`: arm64 pools with and without GPUs beside amd64 ones, workloads that
  run on arm64 only, on both, or on amd64 (the default).

Its own shapes (drawn here, not by tests/reference.py's `generate` or any bench generator):
pools of 4-60 nodes in the reference's zones and regions, demand from a third of the fleet
to 1.3 times it. `arch` is not a rule the reference knows: it is stated to it as a node label
(`cpuarch`) that a single-architecture workload requires, and written for fitc as `arch`.

    PYTHONPATH=.:bench .venv/bin/python bench/mixed_rules.py --from 1 --seeds 60

Prints each seed where they differ as bench/differential_fleet.py does (a wrong verdict, a
wrong optimum or a bound above it, `verify` rejecting fitc, `undecided` where the reference
places all), then the counts per outcome and per theme. Not a test."""

from __future__ import annotations

import argparse
import functools
import json
import random
import re
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from differential_fleet import compared
from differential_time import recorded

import reference

THEMES = ("gangs apart", "options under caps", "priorities near users", "arm64 accelerators")
ARCH = "cpuarch"  # the label that states a pool's architecture to the reference


def drawn(seed: int) -> tuple[reference.Spec, str]:
    """The policy of `seed`, and its theme."""
    rng = random.Random(f"mixed-{seed}")
    theme = THEMES[seed % len(THEMES)]
    pools = _pools(rng, arm=theme == "arm64 accelerators" or rng.random() < 0.2)
    cores = sum(p.count * p.cpu for p in pools)
    workloads = _workloads(rng, theme, pools, cores * rng.uniform(0.3, 1.3))
    spec = reference.Spec(pools, workloads, kinds={theme})
    if theme == "priorities near users" or (rng.random() < 0.15 and not any(w.options for w in workloads)):
        spec.allow_unplaced = True
        for workload in workloads:
            workload.priority = rng.choice([0, 5, 10])
    if theme == "options under caps" or rng.random() < 0.15:
        spec.budget = int(sum(p.count * p.price for p in pools) * rng.uniform(0.2, 0.7))
    zones = sorted({p.zone for p in pools if p.zone})
    if zones and (theme == "options under caps" or rng.random() < 0.15):
        zone = rng.choice(zones)
        watts = sum(p.count * p.power for p in pools if p.zone == zone)
        spec.power_caps = [(zone, max(400, int(watts * rng.uniform(0.3, 0.8))))]
    return spec, theme


def _pools(rng: random.Random, arm: bool) -> list[reference.Pool]:
    pools = []
    for index in range(rng.randint(3, 6)):
        zone = rng.choice(sorted(reference.ZONES))
        pool = reference.Pool(f"m{index}", rng.randint(4, 60), rng.choice([4, 8, 16]),
                              rng.choice([16, 32, 64]),
                              rng.choice([40, 80, 120, 200]), zone=zone, region=reference.ZONES[zone],
                              power=rng.choice([200, 300, 500]))
        if rng.random() < 0.35:
            pool.gpu_model, pool.gpus = rng.choice(sorted(reference.ACCELERATORS)), rng.choice([1, 2, 4])
            pool.price *= 4
        pool.labels = {ARCH: "arm64" if arm and rng.random() < 0.45 else "amd64"}
        pools.append(pool)
    while sum(p.count for p in pools) < 20:
        pools[0].count += 10
    return pools


def _workloads(rng: random.Random, theme: str, pools: list[reference.Pool],
               cores: float) -> list[reference.Workload]:
    gpu_pools = [p for p in pools if p.gpus]
    workloads: list[reference.Workload] = []
    for index in range(rng.randint(2, 4)):
        cpu = rng.choice([1, 2, 3, 4])
        replicas = max(1, int(cores / 3 / cpu * rng.uniform(0.3, 1.0)))
        workload = reference.Workload(f"x{index}", replicas, cpu * 1000, rng.choice([1, 2, 4, 8]))
        accelerated = theme in ("options under caps", "arm64 accelerators")
        if gpu_pools and rng.random() < (0.6 if accelerated else 0.25):
            workload.gpus, workload.replicas = 1, max(1, min(workload.replicas, len(gpu_pools) * 6))
            if theme == "options under caps" and not any(w.options for w in workloads) and rng.random() < 0.7:
                alone = rng.randint(2, 8)
                workload.options = [("G80", alone), ("G24", alone * rng.randint(1, 2))]
                workload.replicas = alone
                topologies = rng.sample(["zone", "region"], rng.randint(1, 2))
                workload.spreads = [(t, rng.randint(1, 2)) for t in topologies]
        _arch(rng, workload, pools, theme)
        if workload.options is None:
            _rules(rng, workload, workloads, theme)
        workloads.append(workload)
    return workloads


def _arch(rng: random.Random, workload: reference.Workload, pools: list[reference.Pool], theme: str) -> None:
    """arm64 only, both, or amd64 only (the default), where the fleet has arm64 pools."""
    if not any(p.labels[ARCH] == "arm64" for p in pools):
        workload.labels = {ARCH: "amd64"}
        return
    roll = rng.random()
    if roll < (0.4 if theme == "arm64 accelerators" else 0.2):
        workload.labels = {ARCH: "arm64"}
    elif roll < 0.7:
        workload.labels = {}  # both
    else:
        workload.labels = {ARCH: "amd64"}


def _rules(rng: random.Random, workload: reference.Workload, earlier: list[reference.Workload],
           theme: str) -> None:
    if theme == "gangs apart" or rng.random() < 0.15:
        workload.gang = rng.random() < (0.7 if theme == "gangs apart" else 0.3)
        others = [w.name for w in earlier if w.options is None]
        target = rng.choice(others) if others and rng.random() < 0.6 else "self"
        topology = rng.choice(["node", "node", "zone"])
        if target == "self" and topology == "zone":
            workload.replicas = min(workload.replicas, 3)
        workload.rules.append((target, topology, True))
    if theme == "priorities near users" or rng.random() < 0.1:
        if rng.random() < 0.5:
            workload.latency = (rng.choice([10, 50]), rng.randint(1, max(1, workload.replicas // 2)))
        if rng.random() < 0.4:
            workload.residency = [rng.choice(["EU", "US"])]
    if rng.random() < 0.2:
        workload.spreads.append((rng.choice(["node", "zone", "region"]), rng.randint(1, 2)))
    if rng.random() < 0.08 and not workload.rules:
        workload.exclusive = True


def fit_text(spec: reference.Spec) -> str:
    """The reference's text with the `cpuarch` label written as fitc's `arch`: a pool's
    `arch = arm64` (amd64 is the default), a workload's `arch = [arm64]`, `[amd64, arm64]` (no
    label: either) or nothing (amd64)."""
    text = _reference_text(spec)
    text = text.replace(f'  labels = {{ {ARCH}: "arm64" }}', "  arch = arm64")
    text = text.replace(f'  labels = {{ {ARCH}: "amd64" }}\n', "")
    out = []
    for block in text.split("\n}\n"):
        name = re.match(r"\s*workload (\S+) \{", block)
        if name is not None:
            workload = next(w for w in spec.workloads if w.name == name.group(1))
            block = block.replace("  arch = arm64", "  arch = [arm64]")
            if not workload.labels:
                block += "\n  arch = [amd64, arm64]"
        out.append(block)
    return "\n}\n".join(out)


_reference_text = reference.to_fit


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--time-limit", type=float, default=10.0, help="fitc's, seconds")
    parser.add_argument("--reference-limit", type=float, default=60.0)
    arguments = parser.parse_args()
    reference.to_fit = fit_text  # (what `compared` writes for fitc)
    tally: Counter = Counter()
    themes: Counter = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            spec, theme = drawn(seed)
            nodes = sum(p.count for p in spec.pools)
            path = Path(directory) / f"mixed{seed}.fit"
            before = Counter(tally)
            recorded(tally, f"seed {seed} ({nodes} nodes, {theme})",
                     functools.partial(compared, spec, path, arguments.time_limit, arguments.reference_limit))
            for key in (tally - before):
                themes[theme, key] += 1
    print(json.dumps(dict(sorted(tally.items()))), f"{time.perf_counter() - started:.0f} s")
    for (theme, key), count in sorted(themes.items()):
        print(f"  {theme}: {key} {count}")


if __name__ == "__main__":
    main()
