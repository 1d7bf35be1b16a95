"""fitc against the independent reference (tests/reference.py) on many random small policies.

    .venv/bin/python bench/differential.py --seeds 500          # seeds 1..500
    .venv/bin/python bench/differential.py --from 1000 --seeds 200

For each seed: the verdict, the optimum (and, with `allow_unplaced`, the replicas placed per
priority level), `fitc verify` on fitc's placement and on the reference's. Prints the counts
per rule kind (a policy counts under every kind it uses) and every disagreement. Needs the
`dev` extra (OR-tools). Not a test: tests/test_differential.py runs a fixed few seeds in CI.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from solving import compare_with_reference


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=300)
    parser.add_argument("--from", dest="first", type=int, default=1)
    arguments = parser.parse_args()
    agree, disagree = Counter(), Counter()
    failures, bounds = [], []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as directory:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            result = compare_with_reference(seed, Path(directory))
            tally = disagree if result.disagreements else agree
            tally.update(result.kinds)
            tally["(all policies)"] += 1
            failures += [(seed, text) for text in result.disagreements]
            if result.bounds is not None:
                bounds.append(result.bounds)
    print(f"{arguments.seeds} policies in {time.perf_counter() - started:.0f} s\n")
    print("| rule kind | policies | agree | disagree |\n|---|---|---|---|")
    for kind in sorted(set(agree) | set(disagree)):
        print(f"| {kind} | {agree[kind] + disagree[kind]} | {agree[kind]} | {disagree[kind]} |")
    _bound_summary(bounds)
    for seed, text in failures:
        print(f"seed {seed}: {text}")


def _bound_summary(bounds: list[tuple]) -> None:
    """Where every replica must be placed and can be: the pair, pattern and coarse bounds
    against the reference's optimum (none may be above it)."""
    if not bounds:
        return
    coarse = [(c, o) for _, _, o, c in bounds if c is not None]
    bounds = [(p, q, o) for p, q, o, _ in bounds]
    positive = [(p, q, o) for p, q, o in bounds if o > 0]
    ratio = sorted(float(q / o) for _, q, o in positive)
    print(f"\nbounds on {len(bounds)} policies: pair above the optimum {sum(p > o for p, _, o in bounds)}, "
          f"pattern above {sum(q > o for _, q, o in bounds)}; pattern equal to the optimum "
          f"{sum(abs(q - o) <= 1e-6 for _, q, o in bounds)} "
          f"(pair: {sum(abs(p - o) <= 1e-6 for p, _, o in bounds)}), "
          f"above the pair bound {sum(q > p for p, q, _ in bounds)}; median pattern / optimum "
          f"{ratio[len(ratio) // 2] if ratio else float('nan'):.3f}; coarse bound on {len(coarse)}: "
          f"above the optimum {sum(c > o for c, o in coarse)}, "
          f"equal to it {sum(abs(c - o) <= 1e-6 for c, o in coarse)}")


if __name__ == "__main__":
    main()
