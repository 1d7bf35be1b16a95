from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

# every diagnostic made while the tests run (here and in the `fitc` they start) is checked
# against its message class's declared field types (fitlang/diagnostics.py)
os.environ["FITC_CHECK_MESSAGE_TYPES"] = "1"

import fitlang.targets  # noqa: F401  (the targets declare their `policy` settings blocks)
from fitlang.solve import clock

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
EXAMPLES = ROOT / "examples"
STDLIB = ROOT / "stdlib"


# a small policy the CI commands' tests change (`fitc test`, `fitc diff`): two pools in two
# zones; `web` takes a whole small node (2 CPUs, one replica a node): the cheapest first
SHOP_POLICY = """\
pool small_a {
  count = 2
  cpu = 2
  memory = 8Gi
  zone = "zone-a"
  price = 1.00 USD/h
}

pool big_b {
  count = 2
  cpu = 8
  memory = 32Gi
  zone = "zone-b"
  price = 3.00 USD/h
}

workload web {
  replicas = 2
  cpu = 2
  memory = 1Gi
  anti_affinity self on node
}

policy {
  objective = cost
}
"""


def policies(directory: Path) -> list[Path]:
    """The policies of a directory: its `.fit` files but the tests of them (`*_test.fit`)."""
    return sorted(p for p in directory.glob("*.fit") if not p.name.endswith("_test.fit"))


def run_fitc(*args: str, cwd: Path | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run the real command line, as users and CI do."""
    return subprocess.run([sys.executable, "-m", "fitlang.cli", *args], capture_output=True,
                          text=True, cwd=cwd or ROOT, input=stdin, timeout=120)


@pytest.fixture
def fitc():
    return run_fitc


@pytest.fixture
def cpu_clock(monkeypatch):
    """The benches' `--cpu-clock` (solve/clock.py): every deadline of a solve read on this
    process's CPU time (a forked child's on its own), the share of a core measured afresh.
    Gives `solving.CpuWatch`, the stopwatch to time the solve on that clock from outside."""
    from solving import CpuWatch

    monkeypatch.setattr(time, "monotonic", time.process_time)
    monkeypatch.setattr(clock, "_SHARE", clock._Share())
    return CpuWatch
