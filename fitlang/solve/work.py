"""Counts of work in place of seconds, where `fitc` was given no `--time-limit`.

With no limit of the user's, `fitc` counts its default on the process's CPU (clock.py), so the
load does not move the answer; but a stage that stops at a share of that time still stops at a
point the CPU's speed decides: inventory 1,000 seed 3 with no limit answered 41.332, 41.522 or
41.902 by the run (the aggregate model settled at a quarter of its time, the search's loops
ran until their deadlines). There, each such stage stops at a count of its own work instead:
HiGHS's branch and bound by its node count (`mip_max_nodes` and the node count its callbacks
see), a loop by its steps. The counts are sized so that on this project's machine they end
about where the seconds they replace did (measured: each constant's comment); the default limit
stays, behind them, as the backstop a user may rely on. A user's `--time-limit` is a promise on
time: there nothing here applies (docs/cli.md: the answer may then differ by the run).
"""

from __future__ import annotations

import math
import time

from fitlang.solve.clock import CpuClock

# HiGHS's branch-and-bound nodes a second of CPU stands for, by the model's columns n: about
# NODE_RATE / n ** NODE_SIZE_POWER (a node's LP is re-solved from its parent's basis, in more and
# dearer iterations the larger the model). Measured on one thread: market split (38 columns)
# ~3,000 nodes a CPU second; the relaxed aggregate model of inventory 1,000 seed 3 (10,466
# columns) 2-3 a second after a root of ~11 CPU s
NODE_RATE = 2.9e5
NODE_SIZE_POWER = 1.25
LEAST_NODES = 5
GRID_SLACK = 0.05  # (in powers of two: 3.5%)
# HiGHS's MIP asks its interrupt callback at each check of its limits: after its root LP, after
# each round of the root's cut separation and each of its heuristics, at each node. Where a root
# runs long, those calls count its work where its node count does not, a check about
# CHECK_COST * n CPU s on a model of n columns (a separation round, a heuristic's propagation:
# each over the whole model). Measured on one thread at load 25 (CPU s a check and column):
# fleet.py 600 seed 4's whole-count models (1,543 columns) 10 and 27 checks in 0.29 and 0.46
# CPU s (1.9e-5, 1.1e-5); inventory 300 seed 14's (2,436), grown, 38 and 23 in 0.93 and 0.76
# (1.0e-5, 1.4e-5); inventory 1,000 seed 42's (11,456) 124 in 6.3 CPU s and, grown, 61 in 12.9
# (0.44e-5, 1.85e-5). Taken near the dearest, so that a cap of seconds counted is seldom more
CHECK_COST = 1.7e-5
LEAST_CHECKS = 5


def counted() -> bool:
    """Whether the solve runs on `fitc`'s default limit (no `--time-limit`): its clock is the
    process's CPU (`clock.CpuClock`), and the stages here stop by their work, not by it."""
    return isinstance(time.monotonic, CpuClock)


def nodes_for(seconds: float, columns: int) -> int:
    """The branch-and-bound nodes that stand for `seconds` of CPU on a model of `columns`
    columns. The seconds are taken down to a power of two first (within GRID_SLACK of one: a
    cap read back off the clock, `now + 1.0` as 0.9999..., is 1): a stage handed the time left
    to a far deadline (45.3 s in one run, 45.6 in the next) then gets the same count."""
    grid = 2.0 ** math.floor(math.log2(max(seconds, 1e-3)) + GRID_SLACK)
    return max(LEAST_NODES, int(grid * NODE_RATE / max(1, columns) ** NODE_SIZE_POWER))


def backstop() -> float:
    """The instant (on the solve's clock) a counted stage is still stopped at where its count did
    not end it first: the default limit's end (a user relies on that). Not the stage's own
    deadline: a node count does not stop HiGHS within its root, which then would be cut there at
    a point the CPU's speed decides (inventory 300 seed 3's last priority level: bound 21.64 on a
    clock twice as fast, 23.82 on one half as fast)."""
    clock = time.monotonic
    return clock.ends if isinstance(clock, CpuClock) else math.inf


def default_limit() -> float:
    """The default limit's seconds, which the counts of a whole solve are sized by."""
    clock = time.monotonic
    return clock.limit if isinstance(clock, CpuClock) else 0.0


def nodes_counted(highs, seconds: float) -> None:
    """HiGHS's branch and bound stopped by its node count, at `nodes_for(seconds, its columns)`
    (its columns read when it first calls back: the model is handed over after this)."""
    cap: list[int] = []

    def interrupt(event) -> None:
        if not cap:
            cap.append(nodes_for(seconds, highs.getNumCol()))
        if event.data_out.mip_node_count >= cap[0]:
            event.data_in.user_interrupt = True

    highs.cbMipInterrupt.subscribe(interrupt)


def checks_for(seconds: float, columns: int) -> int:
    """The checks of its limits a MIP of `columns` columns makes in `seconds` of CPU (`CHECK_COST`)."""
    return max(LEAST_CHECKS, int(seconds / (CHECK_COST * max(1, columns))))


def checks_counted(highs, checks: int) -> None:
    """HiGHS's MIP stopped at its `checks`-th check of its limits (its interrupt callback's
    calls, in the order its work asks for them: the same on any machine), in its root too."""
    asked = [0]

    def interrupt(event) -> None:
        asked[0] += 1
        if asked[0] >= checks:
            event.data_in.user_interrupt = True

    highs.cbMipInterrupt.subscribe(interrupt)


class Tally:
    """The clock of a stage that counts its own work, where no user limit is given: it reads
    the solve's clock where the stage began plus the seconds its work so far stands for
    (`spend`, a constant for each unit of it: the stage's own measure), and ends `seconds`
    after that beginning. A stage that read its deadline off the solve's clock reads it off
    this one instead, so that it stops after the same work on any machine."""

    def __init__(self, seconds: float) -> None:
        self.began = time.monotonic()
        self.ends = self.began + seconds
        self.spent = 0.0

    def spend(self, seconds: float) -> None:
        self.spent += seconds

    def __call__(self) -> float:
        return self.began + self.spent
