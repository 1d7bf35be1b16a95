"""fitc verify against the independent reference on placements broken at random.

    .venv/bin/python bench/differential_verify.py --from 1 --seeds 1000

For each seed the reference places: its optimal placement changed at random, a few times
(tests/reference_verify.py), judged by `fitc verify` and by the reference's model with every
replica fixed. Prints each disagreement and the counts. Needs the `dev` extra (OR-tools).
tests/test_differential.py runs a few seeds.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from reference_verify import check_verify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--changes", type=int, default=6, help="broken placements per seed")
    arguments = parser.parse_args()
    judged = rejected = disagreements = 0
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            result = check_verify(seed, Path(directory), arguments.changes)
            judged, rejected = judged + result.judged, rejected + result.rejected
            for text in result.disagreements:
                print(f"seed {seed}: {text}", flush=True)
            disagreements += len(result.disagreements)
    print(f"{judged} placements judged, {rejected} rejected by both, {disagreements} disagreements, "
          f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
