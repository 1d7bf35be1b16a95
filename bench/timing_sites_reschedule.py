"""What a site's nodes solved again exactly gains per CPU s against the search, from one schedule (issue 19).

    .venv/bin/python bench/timing_sites_reschedule.py POLICY.fit --first 22 --seconds 8 --mode search
    .venv/bin/python bench/timing_sites_reschedule.py POLICY.fit --first 22 --seconds 8 --mode reschedule
    .venv/bin/python bench/timing_sites_reschedule.py POLICY.fit --first 22 --seconds 8 --mode reschedule \\
        --by class --nodes 4 --window 12 --shift 2
    .venv/bin/python bench/timing_sites_reschedule.py POLICY.fit --first 22 --seconds 8 --mode fill

On the CPU clock (`time.monotonic` is `time.process_time` here): the solve's first schedule and
its search (`timeline_pack.node_schedule`) for `--first` CPU s (the 30 s solve's search stops at
22.5, then its tail), kept in POLICY.fit.first-SECONDS.pkl for the runs after; from it,
`--seconds` CPU s of `--mode`:

- `search`: the solve's tail (`searched` with the regroup, the classes not packed again), which
  now ends in the neighbourhoods below where its moves converge;
- `reschedule`: `timeline_reschedule.rescheduled` alone, again while a pass gains;
- `fill`: `timeline_fill.filled` alone (its own NODES, WINDOW and SHIFT), again while a pass
  gains (session 53, h53f).

Prints the USD before and after, and checks the schedule against a ledger made anew (capacity
at every step). Not a test: numbers go to docs/performance.md (session 51, h51h).
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path

time.monotonic = time.process_time  # every deadline below in CPU seconds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.problem import Problem  # noqa: E402
from fitlang.solve import timeline_fill, timeline_reschedule  # noqa: E402
from fitlang.solve.timeline_pack import Spot, holding, node_schedule, searched  # noqa: E402


def first_schedule(problem: Problem, policy: Path, seconds: float) -> list[Spot]:
    kept = policy.with_name(f"{policy.name}.first-{seconds:g}.pkl")
    if kept.exists():
        return pickle.loads(kept.read_bytes())
    began = time.process_time()
    spots, missing = node_schedule(problem, "cost", deadline=began + seconds)
    assert not missing, f"{len(missing)} replicas without room"
    kept.write_bytes(pickle.dumps(spots))
    return spots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policy", type=Path)
    parser.add_argument("--first", type=float, default=22.0)
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--mode", choices=("search", "reschedule", "fill"), default="reschedule")
    parser.add_argument("--by", choices=("site", "class"), default="site")
    parser.add_argument("--nodes", type=int, default=timeline_reschedule.NODES)
    parser.add_argument("--window", type=int, default=timeline_reschedule.WINDOW)
    parser.add_argument("--shift", type=int, default=timeline_reschedule.SHIFT)
    args = parser.parse_args()
    problem = Compilation(args.policy).problem
    assert problem is not None
    spots = first_schedule(problem, args.policy, args.first)
    ledger = holding(problem, spots)
    was, began = ledger.total(), time.process_time()
    end = began + args.seconds
    if args.mode == "search":
        spots = searched(problem, ledger, spots, end, regroup=True, repack=False)
    else:
        before = None
        while time.process_time() < end and (before is None or ledger.total() < before - 1e-6):
            before = ledger.total()
            if args.mode == "fill":
                spots = timeline_fill.filled(problem, ledger, spots, end)
                continue
            spots = timeline_reschedule.rescheduled(problem, ledger, spots, end, args.nodes, args.window,
                                                    args.shift, args.by)
    again = holding(problem, spots)
    assert abs(again.total() - ledger.total()) < 1e-6
    assert all((again.used[c.id] <= again.capacity[c.id]).all() for c in problem.classes)
    fill = timeline_fill
    hood = (f"site {fill.NODES} x {fill.WINDOW} +-{fill.SHIFT}" if args.mode == "fill"
            else f"{args.by} {args.nodes} x {args.window} +-{args.shift}")
    print(f"{args.policy.name} {args.mode} ({hood}): "
          f"{was:.2f} -> {ledger.total():.2f} USD ({ledger.total() - was:+.2f}) in "
          f"{time.process_time() - began:.1f} CPU s", flush=True)


if __name__ == "__main__":
    main()
