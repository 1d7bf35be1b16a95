"""Tiny fleets (2-12 nodes) where several rule kinds meet on the SAME workload, against the
independent reference (tests/reference.py's per-node CP-SAT model), with `fitc explain` where
the reference proves no placement, and every placed answer compiled to all three targets and
read back by each target's fidelity check.

The other differentials draw rules one workload at a time, or grow policies past the exact
model; this one draws a combination per workload, on fleets small enough that every rule
binds, with the shapes they seldom draw: nodes with no zone, a fleet in one zone, nodes that
cost nothing, a budget set to the optimum exactly (or a cent under), replicas 0 and 1.
Each seed draws one of COMBOS for its first workload (the others draw one each at random):

- `latency apart exclusive`: latency to the users, `anti_affinity self` on zone or region,
  `exclusive`;
- `options spread priority`: accelerator options with a spread, priorities and
  `allow_unplaced` (an option workload counts as placed once its options deliver the work in
  the reference and as its fewest replicas in fitc: so the priority levels at or below an
  option workload's are not compared, nor the cost);
- `gang residency budget`: a gang with data residency under a budget;
- `power buy arch`: a power cap on a zone, a `buy` block, arm64 nodes (stated to the
  reference as a `cpuarch` label, as bench/mixed_rules.py does);
- `labels affinity`: a label the workload requires, and affinity to another workload on node
  or zone.

    PYTHONPATH=.:bench .venv/bin/python bench/differential_combos.py --from 1 --seeds 300

Each seed is checked by tests/solving.py's `compare_with_reference` (verdict, optimum, placed
per priority, every bound at most the optimum, `verify` of both answers), by
bench/differential_fleet.py's `compared` (the verdict as `fitc solve` decides it), by
tests/reference_explain.py's `check_explain` where infeasible, and by each target's
`fidelity` on what it writes. Prints each disagreement, then the counts. Not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import random
import re
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from differential_fleet import compared
from mixed_rules import ARCH, fit_text
from reference_explain import check_explain

import reference
from solving import compare_with_reference

COMBOS = ("latency apart exclusive", "options spread priority", "gang residency budget",
          "power buy arch", "labels affinity")
TARGET_NAMES = ("kubernetes", "slurm", "terraform")
_plain_text = reference.to_fit


def _to_fit(spec: reference.Spec) -> str:
    """What fitc reads: the reference's text, with `cpuarch` written as `arch` where the fleet
    states an architecture (bench/mixed_rules.py's `fit_text`)."""
    if any(ARCH in p.labels for p in spec.pools):
        return fit_text(spec)
    return _plain_text(spec)


_plain_nodes = reference.nodes_of


def _nodes_of(spec: reference.Spec) -> list[reference.Node]:
    """The reference's nodes, a bought one amd64 (an offer's architecture unless it says
    otherwise) where the fleet states architectures."""
    nodes = _plain_nodes(spec)
    if any(ARCH in p.labels for p in spec.pools):
        for node in nodes:
            if node.buy is not None:
                node.labels = {ARCH: "amd64"}
    return nodes


@contextlib.contextmanager
def arch_stated() -> Iterator[None]:
    """While inside: every comparison writes `arch` for fitc and gives the reference's bought
    nodes their architecture (the shared modules look both up in `reference`)."""
    saved = reference.to_fit, reference.nodes_of
    reference.to_fit, reference.nodes_of = _to_fit, _nodes_of
    try:
        yield
    finally:
        reference.to_fit, reference.nodes_of = saved


def drawn(seed: int) -> tuple[reference.Spec, str]:
    """The policy of `seed` and its first workload's combination (the budget that binds
    exactly is set later, by `with_exact_budget`, from the reference's optimum)."""
    rng = random.Random(f"combos-{seed}")
    combo = COMBOS[seed % len(COMBOS)]
    arm = combo == "power buy arch" or rng.random() < 0.1
    pools = _pools(rng, arm)
    spec = reference.Spec(pools, [], kinds={combo})
    for index in range(rng.randint(1, 3)):
        chosen = combo if index == 0 else rng.choice(COMBOS)
        spec.workloads.append(_workload(rng, f"w{index}", chosen, spec))
        spec.kinds.add(chosen)
    if arm:
        for workload in spec.workloads:
            _arch(rng, workload)
    _finish(rng, spec)
    return spec, combo


def _pools(rng: random.Random, arm: bool) -> list[reference.Pool]:
    one_zone = rng.random() < 0.25
    zone_of_all = rng.choice(sorted(reference.ZONES))
    nodes = rng.randint(2, 12)
    parts = rng.randint(1, min(4, nodes))
    counts = [1 + c for c in _dealt(rng, nodes - parts, parts)]
    pools = []
    for index, count in enumerate(counts):
        roll = rng.random()
        zone = zone_of_all if one_zone else (None if roll < 0.2 else rng.choice(sorted(reference.ZONES)))
        region = reference.ZONES[zone] if zone else rng.choice([None, "r1", "r2"])
        pool = reference.Pool(f"p{index}", count, rng.choice([2, 4, 8]), rng.choice([8, 16, 32]),
                              rng.choice([0, 50, 100, 150, 300]), zone=zone, region=region,
                              power=rng.choice([0, 200, 400]))
        if rng.random() < 0.35:
            pool.gpu_model, pool.gpus = rng.choice(sorted(reference.ACCELERATORS)), rng.choice([1, 2])
        if arm:
            pool.labels = {ARCH: "arm64" if rng.random() < 0.4 else "amd64"}
        elif rng.random() < 0.4:
            pool.labels = {"tier": rng.choice(["gold", "silver"])}
        pools.append(pool)
    return pools


def _dealt(rng: random.Random, amount: int, parts: int) -> list[int]:
    """`amount` split at random into `parts` counts."""
    cuts = sorted(rng.randint(0, amount) for _ in range(parts - 1))
    return [b - a for a, b in zip([0] + cuts, cuts + [amount], strict=True)]


def _workload(rng: random.Random, name: str, combo: str, spec: reference.Spec) -> reference.Workload:
    workload = reference.Workload(name, rng.choice([0, 1, 1, 2, 3, 4]), rng.choice([500, 1000, 2000, 4000]),
                                  rng.choice([1, 2, 4, 8]))
    earlier = [w for w in spec.workloads if w.options is None]
    if combo == "latency apart exclusive":
        workload.replicas = max(1, workload.replicas)
        workload.latency = (rng.choice([10, 50]), rng.randint(1, workload.replicas))
        workload.rules.append(("self", rng.choice(["zone", "region"]), True))
        workload.exclusive = rng.random() < 0.7
    elif combo == "options spread priority":
        if any(p.gpus for p in spec.pools) and not any(w.options for w in spec.workloads):
            workload.gpus = 1
            workload.options = [("G80", rng.randint(1, 2)), ("G24", rng.randint(2, 3))]
            workload.replicas = workload.options[0][1]
        workload.spreads.append((rng.choice(["node", "zone", "region"]), rng.randint(1, 2)))
        spec.allow_unplaced = True
    elif combo == "gang residency budget":
        workload.gang = True
        workload.residency = [rng.choice(["EU", "US"])]
        if any(p.gpus for p in spec.pools) and rng.random() < 0.4:
            workload.gpus, workload.gpu_min_memory = 1, rng.choice([None, 40])
        spec.budget = spec.budget if spec.budget is not None else -1  # set from the optimum
    elif combo == "power buy arch":
        zones = sorted({p.zone for p in spec.pools if p.zone})
        if zones and not spec.power_caps:
            zone = rng.choice(zones)
            watts = sum(p.count * p.power for p in spec.pools if p.zone == zone)
            spec.power_caps = [(zone, max(0, int(watts * rng.uniform(0.2, 0.9))))]
        if not spec.buys:
            spec.offers = [reference.Offer("o0", rng.sample(sorted(reference.REGIONS), rng.randint(1, 2)),
                                           rng.choice([2, 4]), 16, rng.choice([0, 80, 120, 400]))]
            spec.buys = [reference.Buy(["o0"], rng.choice([None, [spec.offers[0].regions[0]]]),
                                       rng.randint(1, 2))]
    elif combo == "labels affinity":
        labelled = [p for p in spec.pools if "tier" in p.labels]
        if labelled:
            workload.labels = {"tier": rng.choice(labelled).labels["tier"]}
        if earlier:
            workload.rules.append((rng.choice(earlier).name, rng.choice(["node", "zone"]), False))
        if rng.random() < 0.3:
            workload.zones = rng.sample(sorted(reference.ZONES), rng.randint(1, 2))
    return workload


def _arch(rng: random.Random, workload: reference.Workload) -> None:
    """arm64 only, either, or amd64 only (bench/mixed_rules.py's `fit_text` writes them)."""
    workload.labels = rng.choice([{ARCH: "arm64"}, {}, {ARCH: "amd64"}])


def _finish(rng: random.Random, spec: reference.Spec) -> None:
    """Priorities where `allow_unplaced` is set (an option workload lowest, so that the levels
    above it compare), and a rule or two more on each workload."""
    if spec.allow_unplaced:
        for workload in spec.workloads:
            workload.priority = 0 if workload.options else rng.choice([0, 5, 10])
    for workload in spec.workloads:
        if workload.options is not None:
            continue
        if rng.random() < 0.2 and not workload.exclusive:
            workload.rules.append(("self", rng.choice(["node", "zone"]), True))
        if rng.random() < 0.15:
            workload.spreads.append((rng.choice(["node", "zone"]), rng.randint(1, 2)))
        others = [w.name for w in spec.workloads if w is not workload and w.options is None]
        if others and rng.random() < 0.15:
            workload.rules.append((rng.choice(others), rng.choice(["zone", "region"]), True))
        if rng.random() < 0.1:
            workload.gang = True
    reference._no_exclusive_beside_node_affinity(spec.workloads, spec.kinds)


def with_exact_budget(spec: reference.Spec, rng: random.Random, limit: float) -> reference.Spec:
    """A budget drawn as -1 set to the optimum without one, exactly, or a cent under (no
    budget where no placement exists or the optimum is free)."""
    if spec.budget != -1:
        return spec
    free = dataclasses.replace(spec, budget=None)
    answer = reference.reference(free, limit)
    if not answer.decided or not answer.feasible or not answer.cost:
        return free
    return dataclasses.replace(spec, budget=int(answer.cost * 100) - rng.choice([0, 0, 1]))


def options_apart(spec: reference.Spec, found: list[str]) -> list[str]:
    """Leave out what the reference cannot state: with `allow_unplaced`, an option workload's
    count (so the cost, and the levels at or below its priority, which it alone decides)."""
    if not (spec.allow_unplaced and any(w.options for w in spec.workloads)):
        return found
    return [f for f in found if not f.startswith(("optimum:", "placed per priority:", "wrong optimum"))]


def fidelity_of_targets(path: Path, time_limit: float) -> tuple[Counter, list[str]]:
    """Each target's files for fitc's answer (as `fitc compile` writes them), read back by the
    target's fidelity check: what they find. Each workload is given the `image` and `command`
    the targets need (settings that do not change where it is placed)."""
    from fitlang.driver import Compilation, Outcome
    from fitlang.targets import TARGETS, CompileContext

    tally: Counter = Counter()
    runnable = path.with_name(f"runnable-{path.name}")
    runnable.write_text(re.sub(r"(workload \S+ \{\n)", '\\1  image = "example/app:1"\n'
                               '  command = ["/app/run"]\n', path.read_text()))
    compilation = Compilation(runnable)
    placement = compilation.solve("auto", time_limit)
    verdict = compilation.verdict(placement, time_limit, time_limit)
    if verdict.outcome in (Outcome.UNDECIDED, Outcome.INFEASIBLE):
        return tally, []
    context = CompileContext(compilation.check().program, compilation.problem, placement)
    found = []
    for name in TARGET_NAMES:
        target = TARGETS[name]()
        refused = [d for d in target.problems(context) if d.is_error]
        if refused:
            tally[f"{name} refuses ({refused[0].code})"] += 1
            continue
        broken = target.fidelity(context, target.render(context))
        tally[f"{name} checked"] += 1
        found += [f"fidelity {name}: {d.message}" for d in broken]
    return tally, found


def checked(seed: int, directory: Path, time_limit: float,
            reference_limit: float) -> tuple[Counter, list[str]]:
    """Everything compared on one seed: (counts, disagreements)."""
    spec, _ = drawn(seed)
    spec = with_exact_budget(spec, random.Random(seed), reference_limit)
    return checked_spec(spec, seed, directory, time_limit, reference_limit)


def checked_spec(spec: reference.Spec, seed: int, directory: Path, time_limit: float,
                 reference_limit: float) -> tuple[Counter, list[str]]:
    """Everything compared on one policy (its kubectl files written beside it first)."""
    for name, text in reference.inventory_files(spec).items():
        (directory / name).write_text(text)
    tally: Counter = Counter()
    differential = compare_with_reference(spec, directory)
    found = options_apart(spec, differential.disagreements)
    if any("ran out of time" in f for f in found):
        return Counter({"reference undecided": 1}), []
    path = directory / f"combo{seed}.fit"
    outcome, more = compared(spec, path, time_limit, reference_limit)
    tally[f"outcome {outcome.lower()}"] += 1
    found += options_apart(spec, [f for f in more if f != "reference undecided"])
    if outcome in ("PLACED", "PARTIAL"):
        targets, broken = fidelity_of_targets(path, time_limit)
        tally.update(targets)
        found += broken
    if not spec.allow_unplaced and outcome == "INFEASIBLE":
        explained = check_explain(spec, directory, reference_limit)
        tally.update(explained.tally)
        found += [f"explain: {d}" for d in explained.disagreements]
    return tally, found


def main(check: Callable[[int, Path, float, float], tuple[Counter, list[str]]] = checked,
         named: Callable[[int], str] = lambda seed: drawn(seed)[1]) -> None:
    """Each seed of the range checked by `check`, each disagreement printed with `named`'s
    name for the seed's policy, then the counts."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--time-limit", type=float, default=10.0, help="fitc's, seconds")
    parser.add_argument("--reference-limit", type=float, default=20.0)
    arguments = parser.parse_args()
    tally: Counter = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory, arch_stated():
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            try:
                counts, found = check(seed, Path(directory), arguments.time_limit,
                                      arguments.reference_limit)
            except Exception:  # a crash is one of the things this looks for
                counts, found = Counter(), ["crash: " + traceback.format_exc().splitlines()[-1]]
            tally.update(counts)
            tally["disagreeing seeds" if found else "agreeing seeds"] += 1
            for text in found:
                print(f"seed {seed} ({named(seed)}): {text}", flush=True)
    print(dict(sorted(tally.items())), f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
