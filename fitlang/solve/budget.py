"""How a fleet-scale solve (`placement._solve`) spends its time limit.

The stages run in order: the greedy floor (whole, whatever is left: it is the least the
answer is), then the aggregate model or the bounds and guided floors, then the packing and
polish, then what follows the solve (the report, the process's exit). Each stage ends at a
deadline that keeps, before the limit, what the stages after it are expected to take.

Those expectations are CPU seconds measured on this machine's quiet runs, turned into wall
seconds by the CPU share this process had while the floor ran (CPU seconds / wall seconds):
on a machine shared with other work, every stage takes longer by the same factor, and fixed
shares of the limit computed up front either threw away a model that would have finished
(bench 10,000 at 5 s on a quiet machine: the floor's 1.17% instead of the model's 0.26%) or
ran past the limit (at load 2.6 the report was kept 0.53 s and took 0.90 s).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from fitlang.solve import work

# the least CPU share believed: below it a measurement over a short floor is noise (a
# process descheduled once), and stages would be given nothing
MIN_CPU_SHARE = 0.25
# what follows the solve, per replica: the answer's JSON document, dumped once for the
# self-check and the output (`report.placement_json`), the self-check (`json.loads`, `verify`)
# and the process's exit; and the stages that return at the search's end (a last repack, the
# answer's checks). Session 39 (the document dumped once, not twice): ai 10,000 seeds 2 / 8
# (32,410 replicas) 0.37-0.42 CPU s of verdict, 4.70 CPU s in all at 5 s, with 2.5e-5;
# accelerator-heavy 50,000 seed 1 (147,787 replicas) ~1.7 CPU s after the search (3.6 before)
FINISH_CPU_PER_REPLICA = 1.5e-5
# and per workload: the self-check's rules and the document's workloads are read per workload
# (many_workloads 10,000 / 1,500, 16,000 replicas of 10,000 workloads: 0.53 CPU s after the
# solve, where the replicas alone said 0.24; session 56)
FINISH_CPU_PER_WORKLOAD = 3e-5
# packing the model's counts onto nodes and repairing what did not fit (`pack.pack` and
# `pack.repair`): 0.64-0.78 CPU s at bench 10,000 (19,232-19,502 replicas), 0.05 at 1,000
PACK_CPU_PER_REPLICA = 4e-5
# building the aggregate model and HiGHS's presolve, per (workload, class) column, which
# its time limit does not stop: inventory 10,000 (377,222 columns, quiet machine): encode
# 3 s, matrix and hand-over 2.5 s, presolve 8-10 s; with a 15 s limit HiGHS returned after
# 24 s with no bound
ENCODE_CPU_PER_COLUMN = 4e-5
MODEL_CPU = 0.05  # the least a model costs: HiGHS is never given less (see backends.py)
# the most of the model's time its building and presolving may take; the rest is HiGHS's
# search for a placement better than the floor's, whose integers are the node counts per
# class (the replicas are relaxed at fleet scale). With a few classes the search is short
# beside the presolve: bench 10,000 (20 classes, 16,795 columns; estimate 0.72 s) presolved
# in 0.42 s and closed its gap 0.36 s later. With many it is not: inventory 1,000 (188
# classes, 10,466 columns) had not closed its gap in 23 s, and given the model instead of
# the floor's bounds at 1 and 2 s it ended dearer (99.65 / 91.94 against 90.44 / 88.75 USD/h)
FEW_CLASSES = 32
ENCODING_SHARE = 0.5
ENCODING_SHARE_FEW_CLASSES = 1.0
# the share of what is left after the model's packing that is kept for closing nodes and
# ruin and recreate (`improve.consolidate`). Measured on the inventory shape at 1,000
# nodes, `--time-limit 20`: 5% left the local search no time (92.67 USD/h), 25% gave 84.25
# (the model's plan was no worse for the time it lost); at 30 s both reach 84.42.
IMPROVE_SHARE = 0.2


@dataclass
class Budget:
    """A solve's time limit: its deadline (monotonic seconds; None without a limit) and the
    CPU share measured so far, which turns a stage's CPU seconds into wall seconds."""
    deadline: float | None
    time_limit: float | None
    cpu_share: float = 1.0

    @classmethod
    def starting_now(cls, time_limit: float | None) -> Budget:
        """With no user limit (work.py) the deadline is the default limit's end on its clock
        (`work.backstop`), however long the start-up took (`cli.command_time_left`)."""
        if time_limit is None:
            return cls(None, None)
        return cls(min(time.monotonic() + time_limit, work.backstop()), time_limit)

    def measure(self, cpu_seconds: float, wall_seconds: float) -> None:
        """What a stage took, CPU and wall: the share of a CPU this process has now."""
        if wall_seconds > 0.05:  # (shorter: too few scheduler ticks to say anything)
            self.cpu_share = min(1.0, max(MIN_CPU_SHARE, cpu_seconds / wall_seconds))

    def wall(self, cpu_seconds: float) -> float:
        return cpu_seconds / self.cpu_share

    def left(self, deadline: float | None) -> float | None:
        return None if deadline is None else deadline - time.monotonic()

    def search_deadline(self, replicas: int, workloads: int = 0) -> float | None:
        """The end of the search: the limit less what follows the solve (the report, the
        exit), in wall seconds at the CPU share measured."""
        if self.deadline is None:
            return None
        finish = FINISH_CPU_PER_REPLICA * replicas + FINISH_CPU_PER_WORKLOAD * workloads
        return self.deadline - self.wall(finish)

    def model_deadline(self, search_deadline: float | None, pack_cpu: float) -> float | None:
        """The end of the aggregate model's solve: the search's end less the packing of its
        answer (`pack_cpu` CPU s: patterns_first.packing_cpu) and IMPROVE_SHARE of what is
        left after that for polishing it."""
        if search_deadline is None:
            return None
        after_pack = search_deadline - self.wall(pack_cpu)
        return after_pack - IMPROVE_SHARE * max(0.0, after_pack - time.monotonic())

    def model_fits(self, model_deadline: float | None, columns: int, classes: int) -> bool:
        """Do building and presolving the model leave HiGHS's search its share of the model's
        time (`encoding_share`)?"""
        if model_deadline is None:
            return True
        left = model_deadline - time.monotonic()
        return self.wall(encoding_cpu(columns)) < encoding_share(classes) * left


def encoding_share(classes: int) -> float:
    return ENCODING_SHARE_FEW_CLASSES if classes <= FEW_CLASSES else ENCODING_SHARE


def encoding_cpu(columns: int) -> float:
    """About how long building the aggregate model and presolving it take: it grows with the
    (workload, class) pairs that may hold replicas."""
    return MODEL_CPU + ENCODE_CPU_PER_COLUMN * columns
