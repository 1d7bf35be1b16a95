"""What `fitc compile --target kubernetes` writes for one solved placement, and its CPU cost.

    .venv/bin/python bench/kubernetes_objects.py POLICY.fit PLACEMENT.json [--out DIR]

PLACEMENT.json is `fitc solve POLICY.fit --format json` (one solve serves both trees of an
A/B: the target's work alone is measured). Prints the objects written by kind, those pinned to
one node (`fitlang.dev/node`), the bytes, the W0620 warnings and the workloads they name, and
the CPU seconds of the target's checks (`problems`, W0620's packing test among them), of
`render` and of the read-back (`fidelity`, which must find nothing). `--out`: write the files.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import yaml

from fitlang.driver import Compilation
from fitlang.targets import TARGETS, CompileContext


def _context(policy: Path, placement: Path) -> CompileContext:
    from fitlang.cli import _placement_read
    from fitlang.solve.placement_file import placement_from_document

    compilation = Compilation(policy)
    program = compilation.check().program
    built = compilation.build()
    assert built is not None and built.problem is not None
    document = _placement_read(placement)
    assert document is not None, f"{placement}: not a placement"
    return CompileContext(program, built.problem, placement_from_document(built.problem, document))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policy", type=Path)
    parser.add_argument("placement", type=Path)
    parser.add_argument("--out", type=Path)
    arguments = parser.parse_args()
    context = _context(arguments.policy, arguments.placement)
    target = TARGETS["kubernetes"]()
    began = time.process_time()
    found = target.problems(context)
    checked = time.process_time()
    files = target.render(context)
    rendered = time.process_time()
    misses = target.fidelity(context, files)
    read_back = time.process_time()
    kinds: Counter = Counter()
    pinned = 0
    for name, text in files.items():
        if name.endswith(".yaml") and not name.endswith("kustomization.yaml"):
            for document in yaml.load_all(text, Loader=yaml.CSafeLoader):
                if document:
                    kinds[document["kind"]] += 1
                    pinned += "fitlang.dev/node" in document["metadata"].get("labels", {})
    warned = [d for d in found if d.code == "W0620"]
    print(f"objects={sum(kinds.values())} {dict(sorted(kinds.items()))} pinned_to_one_node={pinned} "
          f"files={len(files)} bytes={sum(len(t.encode()) for t in files.values())} "
          f"W0620={len(warned)} naming={sum(len(d.related) for d in warned)} workload(s) "
          f"errors={sum(d.is_error for d in found)} fidelity_misses={len(misses)}")
    print(f"cpu: problems={checked - began:.2f}s render={rendered - checked:.2f}s "
          f"fidelity={read_back - rendered:.2f}s")
    if arguments.out is not None:
        for name, text in files.items():
            path = arguments.out / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)


if __name__ == "__main__":
    main()
