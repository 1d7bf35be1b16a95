"""fitc explain against the independent reference (tests/reference.py) on random small policies.

    .venv/bin/python bench/differential_explain.py --from 1 --seeds 1000
    .venv/bin/python bench/differential_explain.py --from 600 --seeds 40 --scale 100
    .venv/bin/python bench/differential_explain.py --time --from 1 --seeds 300

With `--scale`, each policy is grown past the exact model's size first (as
bench/differential_fleet.py grows it): explain's fleet path. With `--time`, policies in time
(bench/differential_time.py's generator and reference; tests/reference_explain_time.py).

For each seed the reference proves infeasible: explain's outcome, and each repair (and a
pair) applied to the reference's spec and decided by it: that it repairs, what it costs, and
that one step less does not (tests/reference_explain.py). Prints the counts and every
disagreement. With `--time`, the policies in time of bench/differential_time.py against its
reference instead (tests/reference_explain_time.py). Needs the `dev` extra (OR-tools).
tests/test_differential.py runs a few seeds.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from differential_fleet import grown
from reference_explain import check_explain
from reference_explain_time import check_explain_in_time

import reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--scale", type=int, default=0, help="grow each policy (0: as generated)")
    parser.add_argument("--reference-limit", type=float, default=10.0)
    parser.add_argument("--time", action="store_true", help="policies in time (a horizon)")
    arguments = parser.parse_args()
    tally: Counter = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            if arguments.time:
                result = check_explain_in_time(seed, Path(directory))
            else:
                spec = reference.generate(seed)
                if arguments.scale:
                    spec = grown(spec, arguments.scale, random.Random(seed))
                result = check_explain(spec, Path(directory), arguments.reference_limit)
            tally.update(result.tally)
            for text in result.disagreements:
                print(f"seed {seed}: {text}", flush=True)
            tally["disagreements"] += len(result.disagreements)
    print(dict(sorted(tally.items())), f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
