"""fitc explain against the independent reference (tests/reference.py) on random small policies.

    .venv/bin/python bench/differential_explain.py --from 1 --seeds 1000
    .venv/bin/python bench/differential_explain.py --time --from 1 --seeds 300

For each seed the reference proves infeasible: explain's outcome, and each repair (and a
pair) applied to the reference's spec and decided by it: that it repairs, what it costs, and
that one step less does not (tests/reference_explain.py). Prints the counts and every
disagreement. With `--time`, the policies in time of bench/differential_time.py against its
reference instead (tests/reference_explain_time.py). Needs the `dev` extra (OR-tools).
tests/test_differential.py runs a few seeds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reference_explain import check_explain
from reference_explain_time import check_explain_in_time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--time", action="store_true", help="policies in time (a horizon)")
    arguments = parser.parse_args()
    check = check_explain_in_time if arguments.time else check_explain
    tally: Counter = Counter()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            result = check(seed, Path(directory))
            tally.update(result.tally)
            for text in result.disagreements:
                print(f"seed {seed}: {text}", flush=True)
            tally["disagreements"] += len(result.disagreements)
    print(dict(sorted(tally.items())), f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
