"""Every HiGHS instance fitc solves with is made here: quiet, and on one thread.

HiGHS's `threads` option (0 by default) sizes its global scheduler from the cores the process
may use, and its answers depend on that count: fleet.py 200 seed 1 (`bench/determinism.py`)
is 86.09 on one core or two and 86.1 (other assignments, 8.3 CPU s against 1.7) where HiGHS
has 8 threads, as a machine of 16 cores gives it (session 49, h49h). The same input must give
the same bytes on a CI machine of 2 cores and a workstation of 64, so every instance runs on
one thread (its cost at 5 s: docs/performance.md, session 49, h49h).

HiGHS refuses to run (`kError`, no status) an instance whose `threads` differs from the count
its global scheduler was started with, and the scheduler outlives every instance: one started
in this process by a HiGHS not made here (another library's, a test's) would stop every
solve. So the scheduler is reset before each instance is made (~nothing: 10.0 ms of CPU per
tiny MIP with or without); fitc runs no two HiGHS at once in a process.
"""

from __future__ import annotations

# HiGHS's threads per instance: one, so that the answer does not depend on the machine
THREADS = 1


def quiet_highs():
    """A new HiGHS instance that prints nothing and runs on THREADS threads."""
    import highspy

    highspy.Highs.resetGlobalScheduler(True)
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", THREADS)
    return highs
