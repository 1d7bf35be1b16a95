"""Spreads over accelerator options past 48 nodes (`rules/option_spread.py`, `rules/option_deal.py`)
against the independent reference (tests/reference.py's per-node CP-SAT model, which counts a
spread over every option's replicas and runs a gang on one option): random fleets of 49-180
nodes, GPU pools of two models in zones of two regions (z1, z2 in r1; z3 in r2) and CPU pools,
a workload with options under one or two spreads over zones and regions (a gang a third of
the time), and a plain workload beside it; solved by fitc as `fitc solve` does and by the
reference.

    PYTHONPATH=.:bench .venv/bin/python bench/option_spreads.py --from 1 --seeds 40

Prints each seed where they differ as bench/differential_fleet.py does (a wrong verdict, a
bound above the optimum, `verify` rejecting fitc, E0508 counted as `error`); then the counts,
and over the seeds where fitc placed everything and the reference decided: fitc's value over
the optimum, and its bound (where stated) under it. Not a test."""

from __future__ import annotations

import argparse
import functools
import json
import random
import sys
import tempfile
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from differential_fleet import compared
from differential_time import recorded

import reference


def spec(seed: int, rules: bool = False) -> reference.Spec:
    """The policy of `seed`; with `rules`, also what `_more_rules` draws."""
    rng = random.Random(seed)
    pools = []
    for index in range(rng.randint(2, 4)):
        zone = rng.choice(sorted(reference.ZONES))
        pools.append(reference.Pool(f"g{index}", rng.randint(8, 30), 8, 32, rng.choice([100, 200, 300, 400]),
                                    rng.choice(sorted(reference.ACCELERATORS)), rng.choice([1, 2]), zone,
                                    reference.ZONES[zone]))
    for index in range(rng.randint(1, 3)):
        zone = rng.choice(sorted(reference.ZONES))
        pools.append(reference.Pool(f"c{index}", rng.randint(8, 25), 4, 16, rng.choice([40, 60]),
                                    zone=zone, region=reference.ZONES[zone]))
    while sum(p.count for p in pools) <= 48:
        pools[0].count += 10
    alone = rng.randint(2, 8)
    chat = reference.Workload("chat", alone, rng.choice([1000, 2000, 4000]), 4, gpus=1,
                              options=[("G80", alone), ("G24", alone * rng.randint(1, 2))],
                              gang=rng.random() < 0.35)
    topologies = rng.sample(["zone", "region"], rng.randint(1, 2))
    chat.spreads = [(topology, rng.randint(1, 3)) for topology in topologies]
    web = reference.Workload("web", rng.randint(4, 30), 1000, 2)
    if rng.random() < 0.5:
        web.spreads = [("zone", rng.randint(1, 2))]
    kinds = {"options", "spread"} | ({"gang"} if chat.gang else set())
    if rules:
        _more_rules(reference._side(rng), chat, web, kinds)
    return reference.Spec(pools, [chat, web], kinds=kinds)


def _more_rules(side: random.Random, chat: reference.Workload, web: reference.Workload,
                kinds: set[str]) -> None:
    """Rules beside the spreads over options, which fitc's narrowings must keep (`--rules`;
    drawn from a generator of their own, so without it every seed's policy is as before):
    `latency` on chat (every option's replicas in reach counted together), a `spread node`
    of chat's (each option over its own nodes), chat kept one a node, `web` near chat or
    away from it, chat near web."""
    if side.random() < 0.3:
        kinds.add("latency")
        chat.latency = (side.choice([10, 50]), side.randint(1, 3))
    if side.random() < 0.2:
        kinds.add("node spread")
        chat.spreads.append(("node", side.randint(1, 2)))
    elif side.random() < 0.15:
        kinds.add("apart on nodes")
        chat.rules.append(("self", "node", True))
    roll = side.random()
    if roll < 0.2:
        kinds.add("affinity to options")
        web.rules.append(("chat", side.choice(["node", "zone"]), False))
    elif roll < 0.3:
        kinds.add("anti-affinity to options")
        web.rules.append(("chat", side.choice(["node", "zone"]), True))
    elif roll < 0.4:
        kinds.add("options near")
        chat.rules.append(("web", "zone", False))


def _compared(drawn: reference.Spec, path: Path, time_limit: float, reference_limit: float,
              kept: list) -> tuple[str, list[str]]:
    """`differential_fleet.compared`; where fitc refuses the policy (E0508), whether the
    reference places it all the same (then E0508 refused a policy it could have solved)."""
    outcome, found = compared(drawn, path, time_limit, reference_limit, kept)
    if outcome != "error" or "E0508" not in found[0]:
        return outcome, found
    expected = reference.reference(drawn, reference_limit)
    if not expected.decided:
        return "E0508", ["reference undecided"]
    if expected.feasible:
        return "E0508", [f"E0508 where the reference places all: {expected.cost}; {found[0][-160:]}"]
    return "E0508", []


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=40)
    parser.add_argument("--time-limit", type=float, default=10.0, help="fitc's, seconds")
    parser.add_argument("--reference-limit", type=float, default=60.0)
    parser.add_argument("--rules", action="store_true",
                        help="latency, a node spread, affinities beside the spreads too")
    arguments = parser.parse_args()
    tally: Counter = Counter()
    over, under = [], []  # fitc's value / the optimum - 1, 1 - its bound / the optimum
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            drawn = spec(seed, arguments.rules)
            kept: list = []
            recorded(tally, f"seed {seed} ({sum(p.count for p in drawn.pools)} nodes, {sorted(drawn.kinds)}, "
                            f"spreads {drawn.workloads[0].spreads})",
                     functools.partial(_compared, drawn, Path(directory) / f"o{seed}.fit",
                                       arguments.time_limit, arguments.reference_limit, kept))
            for placement, expected in kept:
                complete = placement.assignments and not placement.unplaced
                if expected.decided and expected.feasible and complete:
                    optimum = Fraction(expected.cost)
                    over.append(float(Fraction(placement.value) / optimum - 1))
                    if placement.bound is not None:
                        under.append(float(1 - Fraction(placement.bound) / optimum))
                    print(f"seed {seed}: fitc {float(placement.value):g} ({placement.status.value}), bound "
                          f"{placement.bound if placement.bound is None else float(placement.bound)}, "
                          f"optimum {float(optimum):g}", flush=True)
    print(json.dumps(dict(sorted(tally.items()))), f"{time.perf_counter() - started:.0f} s")
    for name, values in (("value over the optimum", over), ("bound under the optimum", under)):
        if values:
            print(f"{name}: {len(values)} seeds, {min(values):.2%} .. {max(values):.2%}, "
                  f"median {sorted(values)[len(values) // 2]:.2%}")


if __name__ == "__main__":
    main()
