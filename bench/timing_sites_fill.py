"""A first schedule made node by node against the one made replica by replica (issue 19): a measurement.

    .venv/bin/python bench/timing_sites_fill.py POLICY.fit --first replicas --seconds 25
    .venv/bin/python bench/timing_sites_fill.py POLICY.fit --first nodes --seconds 25
    .venv/bin/python bench/timing_sites_fill.py POLICY.fit --first nodes --prices duals --seconds 25
    .venv/bin/python bench/timing_sites_fill.py POLICY.fit --first nodes --fill awake --seconds 25

On the CPU clock (`time.monotonic` is `time.process_time` here), from nothing:

- `replicas`: the solve's own first round (`timeline_pack._scheduled` in `floor_order`: each
  replica where it adds least, one by one);
- `nodes`: node by node. Runs are taken in `floor_order` (or `--order value`: services, then the
  dearest first); each run's next replica goes where it adds least (`Ledger.cheapest`, a node
  asleep throughout when nothing awake is cheaper), and then that node is filled: again and again
  the (run, start) of the class with the most gain, its value less the steps it wakes, until no
  run gains. A run's value is `--prices share` (its replica's own share of the node at its
  cheapest class and start, `timeline_pack.candidates`) or `duals` (the per-step LP's dual of its
  cover row, `node_schedule_bound.fluid_duals`, and its wakings priced at the LP's step prices:
  the columns of the configuration LP its greedy pricing makes; ~30 CPU s at 1,000 nodes, kept
  in POLICY.fit.duals.npz). `--fill awake`: a node is filled only by runs within the steps it is
  awake already (no run's tail wakes it further).

Then replicas left without room are repaired by ejection chains (`timeline_pack.repaired`) and
the schedule is searched (`timeline_pack.searched`, the solve's own search) until `--seconds` CPU
seconds from the start; each pass's CPU s and USD are printed (`--trace`). Not a test: numbers
go to docs/performance.md (session 48, h48g).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

time.monotonic = time.process_time  # every deadline below in CPU seconds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.problem import Demand, Problem, Window  # noqa: E402
from fitlang.solve import timeline_pack  # noqa: E402
from fitlang.solve.timeline_pack import (  # noqa: E402
    REPAIR_AT_ONCE_TRIES,
    REPAIRED_AT_ONCE,
    Ledger,
    Spot,
    _scheduled,
    candidates,
    floor_order,
    need_of,
    repaired,
    searched,
)

Run = tuple[Demand, int, Window, np.ndarray]  # (demand, run index, its window, a replica's need)


class ClassStarts:
    """Every (run, start) a class may take, for the gain of each on one node at once."""

    def __init__(self, ledger: Ledger, runs: list[Run], class_id: str, rate: np.ndarray) -> None:
        self.class_id, self.rate = class_id, rate
        needs: dict[bytes, int] = {}
        run_of, start_of, end_of, need_of_pair = [], [], [], []
        for index, (demand, _, window, need) in enumerate(runs):
            if class_id not in demand.eligible:
                continue
            kind = needs.setdefault(need.tobytes(), len(needs))
            for start in window.starts():
                run_of.append(index)
                start_of.append(start)
                end_of.append(start + window.duration)
                need_of_pair.append(kind)
        self.needs = np.array([np.frombuffer(need, dtype=np.int64) for need in needs]).reshape(
            len(needs), -1)
        self.run, self.start, self.end, self.need = (
            np.array(values, dtype=np.intp) for values in (run_of, start_of, end_of, need_of_pair))
        self.capacity, self.off = ledger.capacity[class_id], ledger.off[class_id]

    def gains(self, ledger: Ledger, node: int, value: np.ndarray, left: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
        """(per pair: the run's value less what waking the node costs, -inf where it does not
        fit or the run has no replica left; what it wakes)."""
        used = ledger.used[self.class_id][node]
        asleep = ledger.running[self.class_id][node] == 0
        over = ((used[None, :, :] + self.needs[:, None, :]) > self.capacity).any(axis=2) | self.off
        overs = np.concatenate((np.zeros((over.shape[0], 1)), np.cumsum(over, axis=1)), axis=1)
        blocked = overs[self.need, self.end] > overs[self.need, self.start]
        wakes = np.concatenate(([0.0], np.cumsum(np.where(asleep, self.rate, 0.0))))
        added = wakes[self.end] - wakes[self.start]
        gain = value[self.run] - added
        gain[blocked | (left[self.run] == 0)] = -np.inf
        return gain, added


def node_by_node(problem: Problem, order: str, prices: tuple[np.ndarray, dict[str, np.ndarray]] | None,
                 may_wake: bool = True) -> tuple[Ledger, list[Spot], list[tuple[str, int]]]:
    """The `nodes` first schedule: (ledger, spots, replicas without room). Without `may_wake`, a
    node is filled only by runs within the steps it is awake already."""
    ledger = Ledger(problem)
    runs: list[Run] = [(demand, index, window, need_of(demand)) for demand in problem.demands
                       for index, window in enumerate(demand.windows)]
    if prices is None:
        value = np.array([min(candidates(ledger, d, w))[0] for d, _, w, _ in runs])
        rates = ledger.rate
    else:
        value, rates = prices
    left = np.array([demand.replicas_per_run for demand, _, _, _ in runs])
    by_class = {c.id: ClassStarts(ledger, runs, c.id, rates[c.id]) for c in problem.classes}
    spots: list[Spot] = []
    missing: list[tuple[str, int]] = []

    def put(index: int, class_id: str, node: int, start: int, added: float) -> None:
        demand, run, window, need = runs[index]
        ledger.take(class_id, node, need, start, start + window.duration)
        replica = (run + 1) * demand.replicas_per_run - int(left[index])
        left[index] -= 1
        spots.append(Spot(demand.name, replica, class_id, node, start, start + window.duration, added))

    def fill(class_id: str, node: int) -> None:
        pairs, barred = by_class[class_id], np.zeros(by_class[class_id].run.size, dtype=bool)
        while True:
            gain, added = pairs.gains(ledger, node, value, left)
            gain[barred] = -np.inf
            if not may_wake:
                gain[added > 0] = -np.inf
            best = int(np.argmax(gain))
            if gain[best] <= 0:
                return
            start, end = int(pairs.start[best]), int(pairs.end[best])
            waking = ledger.running[class_id][node, start:end] == 0
            if waking.any() and not ledger._limits_hold(class_id, waking[None, :], start, end)[0]:
                barred[best] = True  # a cap, the budget or a buy limit
                continue
            put(int(pairs.run[best]), class_id, node, start, float(added[best]))

    for index in _run_order(problem, runs, value, order):
        demand, run, window, _ = runs[index]
        while left[index] > 0:
            found = ledger.cheapest(demand, window)
            if found is None:
                missing += [(demand.name, (run + 1) * demand.replicas_per_run - int(n))
                            for n in range(int(left[index]), 0, -1)]
                left[index] = 0
                break
            added, class_id, node, start = found
            put(index, class_id, node, start, added)
            fill(class_id, node)
    return ledger, spots, missing


def _run_order(problem: Problem, runs: list[Run], value: np.ndarray, order: str) -> list[int]:
    assert problem.timeline is not None
    if order == "value":
        steps = problem.timeline.steps
        return sorted(range(len(runs)), key=lambda i: (runs[i][2].duration < steps, -value[i]))
    rank = {demand.name: position for position, demand in enumerate(floor_order(problem))}
    return sorted(range(len(runs)), key=lambda i: (rank[runs[i][0].name], runs[i][1]))


def dual_prices(problem: Problem, policy: Path) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Each run's cover dual and each class's step prices at the per-step LP's duals (kept)."""
    kept = policy.with_name(policy.name + ".duals.npz")
    if kept.exists():
        saved = np.load(kept)
        rates = {c.id: saved[f"rate:{c.id}"] for c in problem.classes if f"rate:{c.id}" in saved}
        return saved["value"], rates
    from node_schedule_bound import Configurations, fluid_duals
    configurations = Configurations(problem)
    began = time.process_time()
    lp, y = fluid_duals(configurations)
    print(f"per-step LP {lp:.2f} in {time.process_time() - began:.1f} CPU s", flush=True)
    value = -y[:len(configurations.runs)]
    rates = {c.id: configurations.step_prices(i, y) for i, c in enumerate(configurations.classes)}
    np.savez(kept, value=value, **{f"rate:{class_id}": rate for class_id, rate in rates.items()})
    return value, rates


def traced(began: float) -> None:
    """Each pass of the search printed: its CPU s from `began`, CPU s taken, USD gained."""
    from fitlang.solve import timeline_overflow, timeline_stretches
    passes: list[tuple[object, str]] = [(timeline_pack, name) for name in (
        "repacked", "improved", "emptied", "runs_recreated", "runs_paired", "cap_kicked")]
    passes += [(timeline_stretches, "stretches_emptied"), (timeline_overflow, "overflowed")]
    for module, name in passes:
        setattr(module, name, _logged(getattr(module, name), name, began))


def _logged(search: Callable, name: str, began: float) -> Callable:
    def logged(*args, **kwargs):
        ledger, at, was = args[1], time.process_time(), args[1].total()
        spots = search(*args, **kwargs)
        print(f"  {at - began:6.2f} CPU s  {name:18s} {time.process_time() - at:5.2f} CPU s "
              f"{ledger.total() - was:9.2f} -> {ledger.total():.2f}", flush=True)
        return spots
    return logged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policy", type=Path)
    parser.add_argument("--first", choices=("replicas", "nodes"), default="nodes")
    parser.add_argument("--order", choices=("floor", "value"), default="floor")
    parser.add_argument("--prices", choices=("share", "duals"), default="share")
    parser.add_argument("--fill", choices=("waking", "awake"), default="waking",
                        help="awake: a node filled only within the steps it is awake already")
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    problem = Compilation(args.policy).problem
    assert problem is not None
    prices = dual_prices(problem, args.policy) if args.prices == "duals" else None
    began = time.process_time()
    if args.first == "replicas":
        ledger, spots, missing = _scheduled(problem, "cost", floor_order(problem))
    else:
        ledger, spots, missing = node_by_node(problem, args.order, prices, args.fill == "waking")
    print(f"first schedule ({args.first}): {ledger.total():.2f} USD, {len(missing)} replicas without "
          f"room, {time.process_time() - began:.2f} CPU s", flush=True)
    if missing:
        tries = REPAIR_AT_ONCE_TRIES if len(missing) <= REPAIRED_AT_ONCE else timeline_pack.REPAIR_TRIES
        spots, missing = repaired(problem, ledger, spots, missing, tries=tries)
        print(f"repaired: {ledger.total():.2f} USD, {len(missing)} without room, "
              f"{time.process_time() - began:.2f} CPU s", flush=True)
    if args.trace:
        traced(began)
    spots = searched(problem, ledger, spots, began + args.seconds)
    print(f"searched: {ledger.total():.2f} USD at {time.process_time() - began:.2f} CPU s"
          f"{'' if not missing else f' ({len(missing)} replicas without room)'}", flush=True)


if __name__ == "__main__":
    main()
