"""Capture real `squeue` output for the tests (examples/state/onprem-burst-squeue.*).

    .venv/bin/python tools/capture_squeue.py      # needs Slurm and root, as the Slurm tests

Starts the Slurm test cluster of tests/slurm_cluster.py with the nodes of
examples/onprem-burst.fit, submits the scripts `fitc compile --target slurm` writes for it
(each command replaced by `sleep 600`), and writes what `squeue --json` and `squeue -h -o
"%i|%j|%T|%N"` print once every job runs. The port is FITC_TEST_SLURM_PORT's.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from test_current import squeue_outputs, submit_sleeping  # noqa: E402

from compiling import render  # noqa: E402
from slurm_cluster import start_cluster  # noqa: E402

POLICY = ROOT / "examples" / "onprem-burst.fit"
OUT = ROOT / "examples" / "state"


def main() -> None:
    context, files = render(POLICY, "slurm")
    with tempfile.TemporaryDirectory() as folder:
        cluster = start_cluster(context.problem, Path(folder), [], files)
        try:
            submit_sleeping(cluster, files, Path(folder))
            as_json, as_text = squeue_outputs(cluster)
        finally:
            cluster.shutdown()
    (OUT / "onprem-burst-squeue.json").write_text(as_json)
    (OUT / "onprem-burst-squeue.txt").write_text(as_text)
    print(as_text, end="")


if __name__ == "__main__":
    main()
