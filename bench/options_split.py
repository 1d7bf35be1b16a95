"""The options' share of a `fitc plan` gap against the CPU services on accelerator nodes (issue 18,
h40k).

    .venv/bin/python bench/options_split.py DIR [--seconds 5]

DIR holds `p.fit` and `now.json` (h38g's inventory 10,000 instances). The fleet-scale move
(`move_scale.move_at_scale`) runs `--seconds` on the CPU clock; then the charged relaxation
(`move_bound._ChargedMoves`) is solved to convergence four times: free; every option demand's
replicas fixed at the plan's end count (h40e's split); every CPU service's replicas on each
accelerator class held at least at the plan's count there (y + s >= count per merged pair: the
pair's replicas placed anew and those that stay); both. Prints the plan's cost + moves and the
four bounds. A measurement on the CPU clock, not a timed test.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np


def plan_counts(problem, fleet, grouped: set[str]) -> tuple[Counter, Counter]:
    """The plan's replicas per demand, and per (CPU service, accelerator class id)."""
    owners = problem.owners()
    accelerated = {c.id for c in problem.classes if c.capacity.get("gpu", 0) > 0}
    replicas: Counter = Counter()
    on_accelerators: Counter = Counter()
    for name, node in fleet.nodes.items():
        replicas.update(node.hosted)
        class_id = owners[name].id
        if class_id in accelerated:
            for demand, count in node.hosted.items():
                if demand not in grouped and count:
                    on_accelerators[(demand, class_id)] += count
    return replicas, on_accelerators


def held_bound(problem, grouped: set[str], options: Counter | None, services: Counter | None) -> float:
    """The converged charged bound with the option demands fixed at `options` and the CPU
    services at least at `services` on accelerator classes (None: free)."""
    from fitlang.solve import bound, move_bound

    made: list = []
    build = move_bound._NewColumns.__init__

    def recorded(columns, *args, **kwargs) -> None:  # the charged columns' stays, read below
        build(columns, *args, **kwargs)
        made.append(columns)

    charged = move_bound._ChargedMoves(problem, problem.move_price)

    def extend(merged, members, relaxed) -> None:
        charged.extend(merged, members, relaxed)
        stay_of = made[0].stay_of if made else {}
        rows = move_bound._NewColumns(relaxed)
        width = relaxed.first_pair
        pair_at = {int(key): p for p, key in
                   enumerate((relaxed.pair_demand * width + relaxed.pair_class).tolist())}
        for at, names in enumerate(members):
            if options is not None and len(names) == 1 and names[0] in grouped:
                terms = {width + int(p): 1.0 for p in np.flatnonzero(relaxed.pair_demand == at)}
                if terms:
                    rows.row(terms, float(options[names[0]]), float(options[names[0]]))
            if services is not None and not grouped.intersection(names):
                per_class: Counter = Counter()
                for (demand, class_id), count in services.items():
                    if demand in names:
                        per_class[relaxed.class_index[class_id]] += count
                for class_at, count in per_class.items():
                    pair = pair_at[at * width + class_at]  # the plan has them there: a pair
                    terms = {width + pair: 1.0}
                    if pair in stay_of:
                        terms[stay_of[pair]] = 1.0
                    rows.row(terms, float(count), bound.INFINITY)
        rows.into(relaxed)

    move_bound._NewColumns.__init__ = recorded  # type: ignore[method-assign]
    try:
        found = bound.lower_bound(problem, "cost", None, extend=extend)
    finally:
        move_bound._NewColumns.__init__ = build  # type: ignore[method-assign]
    assert found.value is not None and charged.constant is not None
    return float(found.value + charged.constant)


def measure(folder: Path, seconds: float) -> None:
    time.monotonic = time.process_time  # the move's limit on the CPU clock, as `e2eplan.py`
    from whole_nodes import plan_problem

    from fitlang.solve.move_scale import move_at_scale
    from fitlang.solve.moving import objective_value

    problem = plan_problem(folder)
    _, fleet = move_at_scale(problem, "cost+moves", seconds)
    value = objective_value(problem, "cost+moves", fleet.state(), set(fleet.bought))
    grouped = {name for group in problem.option_groups for name in group.demands}
    replicas, on_accelerators = plan_counts(problem, fleet, grouped)
    print(f"plan {float(value):.2f}; CPU replicas on accelerator classes {sum(on_accelerators.values())}")
    for options, services, what in ((None, None, "free"), (replicas, None, "options fixed"),
                                    (None, on_accelerators, "CPU services on accelerator classes held"),
                                    (replicas, on_accelerators, "both")):
        print(f"charged LP, {what}: {held_bound(problem, grouped, options, services):.2f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--seconds", type=float, default=5.0)
    arguments = parser.parse_args()
    measure(arguments.folder, arguments.seconds)


if __name__ == "__main__":
    main()
