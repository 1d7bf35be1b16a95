"""A digest of the linear model `encode` makes, to show that a change to the encoding left the
model as it was (row and column order decide HiGHS's tie-breaks, hence placements).

    .venv/bin/python tools/model_digest.py FILE.fit ...     # one line per file and mode
    .venv/bin/python tools/model_digest.py --bench          # also bench/run.py --quick's fleets

Per input and mode (`must_place` true and false; then with `relax_replicas`), the digest
covers every variable (name, bounds, integrality) and every row (columns, coefficients,
bounds, group), in order. Run it before and after a change: the lines must be identical.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))


def model_digest(model) -> str:
    digest = hashlib.sha256()
    lower, upper, integer = model.bounds()
    for index in range(model.variable_count):
        digest.update(f"v {model.name_of(index)} {lower[index]} {upper[index]} {integer[index]}\n".encode())
    for row in model.constraints:
        terms = " ".join(f"{column}:{value}" for column, value in row.terms.items())
        digest.update(f"r {terms} | {row.lower} {row.upper} {row.group!r}\n".encode())
    return f"{model.variable_count} vars {model.row_count} rows {digest.hexdigest()[:16]}"


def digests(path: Path) -> list[str]:
    from fitlang.check.checker import check_file
    from fitlang.model.build import build_problem
    from fitlang.solve.encode import encode

    checked = check_file(path)
    if checked.program is None:
        return [f"{path.name}: does not check"]
    problem = build_problem(checked.program).problem
    lines = []
    for must_place in (True, False):
        encoding = encode(problem, must_place=must_place)
        lines.append(f"{path.name} must_place={must_place}: {model_digest(encoding.model)}")
        encoding.relax_replicas()
        lines.append(f"{path.name} must_place={must_place} relaxed: {model_digest(encoding.model)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", type=Path)
    parser.add_argument("--bench", action="store_true", help="bench/run.py --quick's fleets too")
    arguments = parser.parse_args()
    for path in arguments.files:
        print("\n".join(digests(path)), flush=True)
    if arguments.bench:
        import inventories
        from fleet import generate

        shapes = {"bench": generate, "inventory": inventories.generate, "breaker": inventories.breaker}
        with tempfile.TemporaryDirectory() as directory:
            for shape, make in shapes.items():
                for nodes, workloads in ((1_000, 100), (10_000, 1_000)):
                    path = make(nodes, workloads).write(Path(directory), f"{shape}-{nodes}")
                    print("\n".join(digests(path)), flush=True)


if __name__ == "__main__":
    main()
