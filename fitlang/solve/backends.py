"""Two backends behind one interface: `minimise(model, objective, time_limit)`.

- `HighsBackend`: HiGHS through `highspy`, the fleet-scale optimiser; it reports a proven
  dual bound, takes a start solution and reports each improving solution.
- `Z3Backend`: a plain `z3.Solver`, the objective tightened by bisection with
  push/pop (never `z3.Optimize`, which stalls on placement objectives; see
  ../shared/solver-notes.md). It also gives unsat cores over constraint groups: the one
  place where a group's typed key (`groups.py`) gets a name, the Boolean `g<i>` that switches
  its rows, and is found again from that name through the backend's own table.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import multiprocessing
import os
import sys
import time
from collections.abc import Callable
from fractions import Fraction
from typing import Any, Protocol

import numpy as np

from fitlang.solve import work
from fitlang.solve.clock import answered, highs_limited, wall_seconds
from fitlang.solve.groups import (
    AffinityGroup,
    BudgetGroup,
    BuyGroup,
    CapacityGroup,
    EligibleGroup,
    ExclusiveGroup,
    GangGroup,
    Group,
    GroupKey,
    LatencyGroup,
    PowerGroup,
    ReplicasGroup,
    SpreadGroup,
    ThroughputGroup,
)
from fitlang.solve.highs_made import quiet_highs
from fitlang.solve.linear import (
    FixedOut,
    LinearModel,
    MatrixForm,
    Number,
    Outcome,
    Status,
    Value,
    matrix_form,
    stated_bound,
)

EXACT_GAP = Fraction(0)


# improving(best value, proven bound): called by HiGHS on each better placement it finds
# (None: not a finite number)
Improving = Callable[[Fraction | None, Fraction | None], None]
# found(the better solution's column values): called with each, where the caller keeps them (the
# fragment bound's child tells its counts to the parent: fragment_bound.py)
Found = Callable[[np.ndarray], None]


class HighsBackend:
    """HiGHS through `highspy`: the model handed over as one row-wise matrix, a start
    solution (`setSolution`), a callback on each improving solution, the dual bound even
    when there is no incumbent, and an interrupt at the deadline."""

    name = "highs"

    def __init__(self, relative_gap: float = 1e-4, cutoff: float | None = None,
                 fixed_out: bool = False, most_nodes: int | None = None,
                 checked_seconds: float | None = None) -> None:
        self.relative_gap = relative_gap
        # the branch and bound stops after this many nodes (`mip_max_nodes`): a cap on its work
        # that, unlike one in seconds, ends it at the same place on any machine at any load
        self.most_nodes = most_nodes
        # with no user limit (`work.counted`), the MIP (its root too, which no node count
        # stops) also stops after the checks of its limits these CPU seconds stand for on its
        # model (`work.checks_for`): a cap of the same kind, where the caller's is on the CPU
        self.checked_seconds = checked_seconds
        # a MIP's solutions above this are of no use to the caller: HiGHS prunes every branch
        # whose bound is over it (`objective_bound`), and finds none where none is under it
        self.cutoff = cutoff
        # the columns the model's bounds fix are taken out before HiGHS sees it (`FixedOut`):
        # for a model most of whose columns are fixed (a few nodes open of a fleet's)
        self.fixed_out = fixed_out

    def minimise(self, model: LinearModel, objective: dict[int, Number],
                 time_limit: float | None = None, start: dict[int, float] | None = None,
                 improving: Improving | None = None, cpu_seconds: float | None = None,
                 settle: Settle | None = None, counted_seconds: float | None = None,
                 found: Found | None = None) -> Outcome:
        """`start`: values of some variables (by index) of a known solution; HiGHS fixes the
        integer ones it is given and completes the rest, and starts with that incumbent.
        `cpu_seconds`: the branch and bound also stops once the process has used this much
        CPU time in the call (on a loaded machine the wall time limit is mostly waiting).
        `settle`: it also stops past that time once its incumbent is within that gap.
        `counted_seconds`: with no user limit (`work.counted`), the branch and bound stops at
        the node count these seconds stand for (`work.nodes_for`), not at `time_limit`, which
        is then the default limit's end (a backstop). `found`: called with each better solution's
        column values (not where columns are taken out: `fixed_out`)."""
        counted = counted_seconds is not None and work.counted()
        if counted:
            time_limit = max(time_limit or 0.0, work.backstop() - time.monotonic())
        # the limit is on the whole call: building the matrix counts too
        deadline = None if time_limit is None else time.monotonic() + time_limit
        cpu_deadline = None if cpu_seconds is None else time.process_time() + cpu_seconds
        form = matrix_form(model, objective)  # straight from the model's row blocks
        most_nodes = self.most_nodes
        if counted:
            nodes = work.nodes_for(counted_seconds or 0.0, len(form.c))
            most_nodes = nodes if most_nodes is None else min(most_nodes, nodes)
        cut = FixedOut.of(form) if self.fixed_out else None
        with _native_stdout_silenced():  # its banner and some diagnostics go to fd 1
            highs = _highs_with(form if cut is None else cut.form)
            highs.setOptionValue("mip_rel_gap", self.relative_gap)
            if self.cutoff is not None:
                highs.setOptionValue("objective_bound", self.cutoff)
            if most_nodes is not None:
                highs.setOptionValue("mip_max_nodes", most_nodes)
            if self.checked_seconds is not None and work.counted():
                work.checks_counted(highs, work.checks_for(self.checked_seconds, len(form.c)))
            if deadline is not None:  # (its branch and bound: `watch`)
                highs_limited(highs, max(deadline, time.monotonic() + MODEL_SECONDS), branching=False)
            if start:
                indices = np.fromiter(start.keys(), dtype=np.int32, count=len(start))
                values = np.fromiter(start.values(), dtype=float, count=len(start))
                if cut is not None:
                    indices, values = cut.start(indices, values)
                highs.setSolution(len(indices), indices, values)
            if found is not None and cut is None:  # (before `improving`: called in this order)
                highs.cbMipImprovingSolution.subscribe(
                    lambda event: found(np.asarray(event.data_out.mip_solution)))
            watch(highs, deadline, improving, cpu_deadline, settle)
            highs.run()
            if start and _stale_start(highs, form if cut is None else cut.form):
                highs.setOptionValue("presolve", "off")
                highs.run()
            return self._outcome(highs, model, objective, form, cut)

    def _outcome(self, highs, model: LinearModel, objective: dict[int, Number], form: MatrixForm,
                 cut: FixedOut | None = None) -> Outcome:
        import highspy

        status = highs.getModelStatus()
        info = highs.getInfo()
        handed = form if cut is None else cut.form  # (the whole form's solution: `cut.full`)
        integer = bool(handed.integrality.any())
        bound = _bound_fraction(info.mip_dual_bound) if integer else None
        if status == highspy.HighsModelStatus.kModelEmpty:
            status = highspy.HighsModelStatus.kOptimal
        if status in (highspy.HighsModelStatus.kInfeasible,
                      highspy.HighsModelStatus.kUnboundedOrInfeasible):
            return Outcome(Status.INFEASIBLE)  # every variable is bounded: never unbounded
        has_solution = info.primal_solution_status == 2 or (
            status == highspy.HighsModelStatus.kOptimal and not handed.c.size)
        if not has_solution:
            return Outcome(Status.UNKNOWN, bound=bound)
        values = highs.getSolution().col_value
        values = values if cut is None else cut.full(values).tolist()
        solution = [int(round(x)) if whole else float(x)  # noqa: RUF046 (x may be a numpy float)
                    for x, whole in zip(values, form.integrality.tolist())]
        value = model.value(objective, solution)
        optimal = status == highspy.HighsModelStatus.kOptimal
        if optimal and (bound is None or not integer):  # an LP: its optimum is its bound
            bound = value
        # none proven before the root LP; none where HiGHS's bound is above its own solution
        proven = stated_bound(bound, value)
        # stopped (a deadline, `settle`) with its incumbent already within the gap: what HiGHS
        # calls optimal when it ends by itself
        within = proven is not None and value - proven <= Fraction(self.relative_gap) * abs(value)
        return Outcome(Status.OPTIMAL if optimal or within else Status.FEASIBLE, solution, value, proven)


MODEL_SECONDS = 0.05  # HiGHS is never given less than this


# HiGHS 1.16's MIP presolve answers some models "optimal" above their optimum, with a dual
# bound as wrong (a known kind of HiGHS fault: ERGO-Code/HiGHS issues 1725, 2900, 3094). On
# inventory 300 seed 9's whole-count model (tests/fixtures/presolve_fault) it answers 68.2175
# where 67.3215 is feasible in exact arithmetic; fitc would state that bound as proven. Without
# presolve the MIPs fitc solves took no longer (session 24: the 300-node round models 39.8
# against 57.2 CPU s over 20 seeds, 1,000-10,000 nodes and the time model alike).
MIP_PRESOLVE = "off"


def _stale_start(highs, form: MatrixForm) -> bool:
    """HiGHS 1.16 may answer the start it was given (`setSolution`) as its solution while
    reporting a better optimum, when presolve solves the whole model (seen on the time model
    of issue 19: objective 0.1 reported, the start's 0.7 returned). Solved again without
    presolve, it returns the solution it reports."""
    info = highs.getInfo()
    if info.primal_solution_status != 2 or not form.c.size:
        return False
    values = np.asarray(highs.getSolution().col_value)
    reached = float(form.c @ values)
    return abs(reached - info.objective_function_value) > 1e-6 * max(1.0, abs(reached))


def _highs_with(form: MatrixForm):
    """A quiet HiGHS instance holding the model. Rows mix bytes (1e11) with GPU counts (1):
    scaled to a largest coefficient of 1 each, the simplex needs a tenth of the time (23 s ->
    2.8 s for the LP at 50,000 nodes). A MIP is solved without presolve: see `MIP_PRESOLVE`."""
    highs = quiet_highs()
    if form.integrality.any():
        highs.setOptionValue("presolve", MIP_PRESOLVE)
    matrix = form.matrix
    rows, columns = matrix.shape
    row_lower, row_upper = form.row_lower, form.row_upper
    data = matrix.data
    if rows:
        largest = np.zeros(rows)
        row_of = np.repeat(np.arange(rows), np.diff(matrix.indptr))
        np.maximum.at(largest, row_of, np.abs(data))
        # a row with no entries keeps its bounds as they are: scaled by 1e300 a lower bound
        # of 2 became "infinite", and HiGHS answered "model empty" (no solution, no proof)
        # where no column can meet the row (a job that fits on no node: session 26)
        scale = np.divide(1.0, largest, out=np.ones(rows), where=largest > 0)
        data = data * scale[row_of]
        row_lower, row_upper = row_lower * scale, row_upper * scale
    highs.passModel(columns, rows, len(data), 2, 1, form.offset, form.c, form.lower, form.upper,
                    row_lower, row_upper, matrix.indptr.astype(np.int32),
                    matrix.indices.astype(np.int32), data, form.integrality.astype(np.int32))
    return highs


@dataclasses.dataclass(frozen=True)
class Settle:
    """Stop the branch and bound past `after` (time.monotonic()) once its incumbent is within
    `gap` of its dual bound: the rest of the time is kept for what follows the solve."""

    after: float
    gap: float
    # past this many branch-and-bound nodes instead of past `after`, where the stages count
    # their work (work.py: no user limit)
    after_nodes: int | None = None

    def reached(self, data_out) -> bool:
        if self.after_nodes is not None:
            if data_out.mip_node_count < self.after_nodes:
                return False
        elif time.monotonic() < self.after:
            return False
        primal, dual = data_out.mip_primal_bound, data_out.mip_dual_bound
        if not (math.isfinite(primal) and math.isfinite(dual)) or primal <= 0:
            return False
        return (primal - dual) / primal <= self.gap


def watch(highs, deadline: float | None, improving: Improving | None,
           cpu_deadline: float | None = None, settle: Settle | None = None) -> None:
    """Report each improving solution with the bound so far; stop at the deadline (HiGHS's own
    time limit counts its run only; this also counts the time the caller lost before it), or
    once the process's CPU time reaches `cpu_deadline`, or once `settle` is reached."""
    if improving is not None:
        def improved(event) -> None:
            out = event.data_out
            improving(_fraction(out.objective_function_value), _bound_fraction(out.mip_dual_bound))
        highs.cbMipImprovingSolution.subscribe(improved)
    if deadline is not None or cpu_deadline is not None or settle is not None:
        def interrupt(event) -> None:
            if (deadline is not None and time.monotonic() >= deadline) or \
                    (cpu_deadline is not None and time.process_time() >= cpu_deadline) or \
                    (settle is not None and settle.reached(event.data_out)):
                event.data_in.user_interrupt = True
        highs.cbMipInterrupt.subscribe(interrupt)


def _fraction(number: float) -> Fraction | None:
    return Fraction(number).limit_denominator(10 ** 9) if math.isfinite(number) else None


def _bound_fraction(number: float) -> Fraction | None:
    """A lower bound as a fraction never above it: on the grid of 1e-9, rounded down (the
    nearest fraction, as `_fraction` gives, may lie above and state a bound that is not one)."""
    if not math.isfinite(number):
        return None
    return Fraction(math.floor(Fraction(number) * 10 ** 9), 10 ** 9)


# what the parent waits past the limit for the child's answer before it stops the child
KILL_GRACE = 1.0


def started_from(solver, solution: list[Value] | None) -> dict[str, Any]:
    """`minimise`'s keyword for a known solution of the model as its start, where the backend
    takes one (HiGHS; Z3 does not)."""
    if solution is None or not isinstance(solver, HighsBackend):
        return {}
    return {"start": dict(enumerate(solution))}


def minimise_within(backend: HighsBackend, model: LinearModel, objective: dict[int, Number],
                    time_limit: float | None, start: dict[int, float] | None = None,
                    cpu_seconds: float | None = None) -> Outcome:
    """`backend.minimise` where the limit holds: in a child process, stopped at the limit (an
    UNKNOWN outcome then). HiGHS's MIP reads its time limit only between its stages: its root
    rounding heuristics ran minutes past it (session 13: `linesearchRounding` ->
    `tryRoundedPoint` -> `propagate`, which read neither the limit nor the interrupt
    callback). Without a limit, or where processes cannot fork, in this process.
    `cpu_seconds`: the branch and bound also stops once it has used this much CPU time (the
    child's own: a loaded machine does not change it as it does the wall's)."""
    if time_limit is None:
        return backend.minimise(model, objective, time_limit, start=start, cpu_seconds=cpu_seconds)
    return Minimising.running(lambda limit: backend.minimise(model, objective, limit, start=start,
                                                             cpu_seconds=cpu_seconds),
                              time_limit).outcome(time_limit + KILL_GRACE)


class Minimiser(Protocol):
    """What `Minimising` runs in its child: `HighsBackend`, or the time model's LP bound
    (`timeline_bound.DifferencedBound`)."""

    def minimise(self, model: LinearModel, objective: dict[int, Number],
                 time_limit: float | None = None, start: dict[int, float] | None = None) -> Outcome:
        ...


class Minimising:
    """`backend.minimise` started in a child process, stopped at `time_limit`: this process
    works on meanwhile (the time model's LP bound runs on the second core while the search
    runs here), then collects the `outcome`. The child reads the model as it is when started.
    Where processes cannot fork, solved here at once."""

    def __init__(self, backend: Minimiser, model: LinearModel, objective: dict[int, Number],
                 time_limit: float, start: dict[int, float] | None = None) -> None:
        self._started(lambda limit: backend.minimise(model, objective, limit, start=start), time_limit)

    @classmethod
    def running(cls, task: Callable[[float], Any], time_limit: float) -> Minimising:
        """`task(time_limit)` in the child: where the child builds its model itself (the time
        model's LP bound: its model is 2 CPU s to build at the goal size, which this process
        then spends on its own work), or answers with more than an `Outcome` (the placement's
        bounds and their LP solutions' guides: collected by `result`); `task`'s answer is
        pickled back, so it holds no large objects."""
        started = cls.__new__(cls)
        started._started(task, time_limit)
        return started

    def _started(self, task: Callable[[float], Any], time_limit: float) -> None:
        self.began = time.monotonic()
        self.seconds: float | None = None  # how long the solve took, once collected
        self._found: Any = None
        self._told: Any = None  # what the task told before its answer (`tell_parent`)
        self._child = None
        if not forks():
            self._found = task(time_limit)
            self.seconds = time.monotonic() - self.began
            return
        context = multiprocessing.get_context("fork")
        self._reader, writer = context.Pipe(duplex=False)
        self._child = context.Process(target=_minimise_in_child, daemon=True,
                                      args=(writer, task, time_limit))
        self._child.start()
        writer.close()
        self._limit = time_limit

    def done(self) -> bool:
        """Whether the outcome is in (collecting it will not wait); what the task told before
        it is kept (`told`, `newest`)."""
        return self.waited(0.0)

    def waited(self, wait: float) -> bool:
        """Whether the outcome is in within `wait` seconds, what the task told meanwhile kept;
        the child runs on (`result` stops it)."""
        end = time.monotonic() + wait
        while self._child is not None and self._found is None and \
                self._received(end - time.monotonic()) is not None:
            pass
        return self._child is None or self._found is not None

    def told(self, wait: float) -> Any:
        """What the task told this process before its answer (`tell_parent`), waiting at most
        `wait` seconds for it; None where nothing was told by then (or the answer came
        without it: `result` has it). The child runs on."""
        while self._told is None and self._child is not None and self._found is None:
            if self._received(wait) is None:
                break
        return self._told

    def newest(self) -> Any:
        """The task's answer where it is in, else what it told last so far (`tell_parent`: a
        task that tells as it goes), without waiting; None where neither. The child runs on."""
        while self._child is not None and self._found is None and self._received(0) is not None:
            pass
        return self._told if self._found is None else self._found

    def _received(self, wait: float) -> Any:
        """The next message from the child within `wait` seconds (off the wall, at most until
        its own CPU passes its limit and KILL_GRACE: `clock.answered`), kept as what it is
        (told, or the answer); None where none came (or the child died: `result` says so)."""
        assert self._child is not None and self._child.pid is not None
        try:
            if not answered(self._reader, self._child.pid, wait, self._limit + KILL_GRACE):
                return None
            message = self._reader.recv()
        except EOFError:
            return None
        if isinstance(message, _Told):
            self._told = message.message
        else:
            self._found, self.seconds = message
        return message

    def outcome(self, wait: float | None = None) -> Outcome:
        """The outcome, waiting at most `wait` seconds (by default until the limit, plus
        KILL_GRACE): UNKNOWN if it is not in by then. The child is stopped either way."""
        found = self.result(wait)
        return found if found is not None else Outcome(Status.UNKNOWN)

    def result(self, wait: float | None = None) -> Any:
        """What the task answered, as `outcome` waits for it; None where it is not in."""
        if self._child is None or self._found is not None:
            return self._found
        wait = self._limit + KILL_GRACE - (time.monotonic() - self.began) if wait is None else wait
        end = time.monotonic() + wait
        try:  # (what the child told first, where `told` did not collect it, is skipped)
            while self._found is None and self._received(end - time.monotonic()) is not None:
                pass
            return self._found  # (None where the child died without an answer)
        finally:
            self._child.kill()
            self._child.join()
            self._reader.close()
            self._child = None


@dataclasses.dataclass
class _Told:
    """A message a task sends its parent before its answer (`tell_parent`)."""
    message: Any


_PARENT = None  # in a child `Minimising` started: the pipe to its parent


def tell_parent(message: Any) -> None:
    """From a task `Minimising.running` runs in a child: `message` to the parent at once, before
    the task's answer (the parent reads it with `Minimising.told`); pickled, so nothing large.
    Nothing where the task runs in the parent's own process (no fork)."""
    if _PARENT is not None:
        _PARENT.send(_Told(message))


def forks() -> bool:
    """Whether `Minimising` runs its task in a child process (else here, at once)."""
    return "fork" in multiprocessing.get_all_start_methods()


def _minimise_in_child(writer, task: Callable[[float], Any], time_limit: float) -> None:
    import highspy

    global _PARENT
    began = time.monotonic()
    # a fork has none of the parent's worker threads: HiGHS's scheduler, made before the
    # fork, would wait on them forever
    highspy.Highs.resetGlobalScheduler(True)
    _PARENT = writer
    found = task(time_limit)
    writer.send((found, time.monotonic() - began))
    writer.close()


def run_until(highs, deadline: float | None) -> bool:
    """Run a model HiGHS has solved before (a master LP of column generation) until the
    deadline; whether it reached its optimum. HiGHS's time limit is on its clock summed over
    every run of one model, so the limit set is that clock so far plus the time left (on the
    wall: `clock.wall_seconds`)."""
    import highspy

    if deadline is not None:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        highs.setOptionValue("time_limit", highs.getRunTime() + wall_seconds(left))
    highs.run()
    return highs.getModelStatus() == highspy.HighsModelStatus.kOptimal


@contextlib.contextmanager
def _native_stdout_silenced():
    """HiGHS prints some diagnostics straight to file descriptor 1, whatever its options say;
    `fitc solve --format json` owns stdout, so they go to /dev/null while it runs."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as sink:
            os.dup2(sink.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


class Z3Backend:
    name = "z3"

    def __init__(self, relative_gap: Fraction = EXACT_GAP) -> None:
        self.relative_gap = relative_gap

    def _solver(self, model: LinearModel, switched: bool = False):
        """A solver for the model; with `switched`, each group of constraints behind a
        Boolean (returned too, by group), to be assumed or not.

        Z3 reads the model as SMT-LIB text: building it term by term through the Python API
        took 15 s at 10,000 nodes, parsing the same model takes a fraction of that."""
        import z3

        # Z3 swaps in its own SIGINT handler while it solves and turns Ctrl-C into "unknown",
        # which reads as an answer: Ctrl-C is left to fitc, which stops. Set here, where Z3 is
        # first used, so that a command that never calls Z3 never loads it (40 ms of start-up)
        z3.set_param("ctrl_c", False)
        text, groups = _smt2(model, switched)
        # a context of its own: Z3's search depends on the terms a context has seen, so a
        # shared one would make the answer depend on what was solved before in this process
        context = z3.Context()
        solver = z3.Solver(ctx=context)
        solver.set("random_seed", 0)
        solver.add(z3.parse_smt2_string(text, ctx=context))
        solver.fit_context = context
        if switched:
            return solver, {group: z3.Bool(f"g{i}", context) for i, group in enumerate(groups)}
        return solver, [z3.Int(f"v{v.index}", context) for v in model.variables]

    def minimise(self, model: LinearModel, objective: dict[int, Number],
                 time_limit: float | None = None) -> Outcome:
        import z3

        deadline = None if time_limit is None else time.monotonic() + time_limit
        solver, variables = self._solver(model)
        context = solver.fit_context
        cost = _linear(objective, variables, context)
        result = self._check(solver, deadline)
        if result != z3.sat:
            return Outcome(Status.INFEASIBLE if result == z3.unsat else Status.UNKNOWN)
        best = self._solution(solver, variables)
        best_value = model.value(objective, best)
        lower = self._trivial_lower_bound(model, objective)
        status = Status.OPTIMAL
        while objective:
            if best_value - lower <= self.relative_gap * abs(best_value):
                break
            gap_closed = best_value - lower <= Fraction(1, 10 ** 6)
            target = best_value if gap_closed else (lower + best_value) / 2
            solver.push()
            solver.add(cost < _q(best_value, context) if gap_closed else cost <= _q(target, context))
            result = self._check(solver, deadline)
            if result == z3.sat:
                best = self._solution(solver, variables)
                best_value = model.value(objective, best)
            solver.pop()
            if result == z3.unsat:
                if gap_closed:
                    lower = best_value
                    break
                lower = target
            elif result != z3.sat:
                status = Status.FEASIBLE
                break
        return Outcome(status, best, best_value, min(lower, best_value))

    def unsat_core(self, model: LinearModel, time_limit: float | None = None) -> list[Group] | None:
        """A minimal set of constraint groups that cannot hold together, or None if they can.

        The model is built once, each group behind a switch; the core is found and then
        minimised with the switches as assumptions, so Z3 keeps what it learnt between checks
        (rebuilding the model per trial took 80 s at 10,000 nodes)."""
        import z3

        solver, switches = self._solver(model, switched=True)
        deadline = None if time_limit is None else time.monotonic() + time_limit
        solver.set("core.minimize", True)
        if self._check(solver, deadline, list(switches.values())) != z3.unsat:
            return None
        group_of = {str(switch): group for group, switch in switches.items()}  # name -> key
        needed = sorted((group_of[str(item)] for item in solver.unsat_core()), key=_group_order)
        for group in list(needed):  # drop each group in turn while the rest stays unsatisfiable
            trial = [g for g in needed if g != group]
            if self._check(solver, deadline, [switches[g] for g in trial]) == z3.unsat:
                smaller = {group_of[str(item)] for item in solver.unsat_core()}
                needed = [g for g in trial if g in smaller]
        return needed

    @staticmethod
    def _check(solver, deadline: float | None, assumptions: list | None = None):
        import z3

        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return z3.unknown
            solver.set("timeout", max(1, int(remaining * 1000)))
        return solver.check(*(assumptions or []))

    @staticmethod
    def _solution(solver, variables) -> list[Value]:
        model = solver.model()
        return [model.eval(v, model_completion=True).as_long() for v in variables]

    @staticmethod
    def _trivial_lower_bound(model: LinearModel, objective: dict[int, Number]) -> Fraction:
        total = Fraction(0)
        for index, coefficient in objective.items():
            variable = model.variables[index]
            bound = variable.lower if coefficient > 0 else variable.upper
            total += Fraction(coefficient) * bound
        return total


def _q(value: Number, context):
    import z3

    value = Fraction(value)
    if value.denominator == 1:
        return z3.IntVal(value.numerator, context)
    return z3.RealVal(f"{value.numerator}/{value.denominator}", context)


def _linear(terms: dict[int, Number], variables, context):
    import z3

    if not terms:
        return z3.IntVal(0, context)
    fractional = any(Fraction(c).denominator != 1 for c in terms.values())
    parts = []
    for index, coefficient in terms.items():
        coefficient = Fraction(coefficient)
        if fractional:
            parts.append(z3.ToReal(variables[index]) * _q(coefficient, context))
        else:
            parts.append(variables[index] * int(coefficient))
    return z3.Sum(parts)


def group_name(group: Group) -> str:
    """A group's readable name ("kind:fields"), for people and for a stable order; never
    parsed back (two keys may share one: `LatencyGroup("a", "b:c")`, `LatencyGroup("a:b", "c")`)."""
    match group:
        case ReplicasGroup(name):
            return f"replicas:{name}"
        case EligibleGroup(name):
            return f"eligible:{name}"
        case GangGroup(name):
            return f"gang:{name}"
        case ThroughputGroup(workload):
            return f"throughput:{workload}"
        case CapacityGroup(class_id):
            return f"capacity:{class_id}"
        case ExclusiveGroup(name):
            return f"exclusive:{name}"
        case BudgetGroup():
            return "budget"
        case BuyGroup(buy):
            return f"buy:{buy}"
        case PowerGroup(index):
            return f"power:{index}"
        case AffinityGroup(name, index):
            return f"affinity:{name}:{index}"
        case SpreadGroup(name, index):
            return f"spread:{name}:{index}"
        case LatencyGroup(workload, location):
            return f"latency:{workload}:{location}"
    if isinstance(group, GroupKey) and dataclasses.is_dataclass(group):  # a rule's of its own
        return ":".join([type(group).__name__, *(str(v) for v in dataclasses.astuple(group))])
    raise TypeError(f"not a constraint group: {group!r}")


def _group_order(group: Group) -> str:
    """Groups in the order of their readable names: the order in which the core is minimised
    (and so which minimal core is found) does not depend on how the model was built."""
    return group_name(group)


def _smt2(model: LinearModel, switched: bool) -> tuple[str, list[Group]]:
    """The model as SMT-LIB assertions over Int constants v0, v1, ...; with `switched`, the
    grouped constraints of group number i under a Bool g<i>. (SMT-LIB text, groups in order:
    group i's switch is named g<i>.)"""
    lines = [f"(declare-const v{v.index} Int)" for v in model.variables]
    lines += [f"(assert (<= {_smt_number(v.lower)} v{v.index} {_smt_number(v.upper)}))"
              for v in model.variables]
    groups: dict[Group, list[str]] = {}
    for constraint in model.constraints:
        numbers = [*constraint.terms.values(), constraint.lower or 0, constraint.upper or 0]
        expression = _smt_linear(constraint.terms, any(Fraction(n).denominator != 1 for n in numbers))
        parts = []
        if constraint.lower is not None:
            parts.append(f"(>= {expression} {_smt_number(constraint.lower)})")
        if constraint.upper is not None:
            parts.append(f"(<= {expression} {_smt_number(constraint.upper)})")
        if switched and constraint.group is not None:
            groups.setdefault(constraint.group, []).extend(parts)
        else:
            lines.extend(f"(assert {part})" for part in parts)
    ordered = sorted(groups, key=_group_order)
    for index, group in enumerate(ordered):
        lines.append(f"(declare-const g{index} Bool)")
        lines.append(f"(assert (=> g{index} (and true {' '.join(groups[group])})))")
    return "\n".join(lines), ordered


def _smt_number(value: Number) -> str:
    value = Fraction(value)
    magnitude = str(abs(value.numerator)) if value.denominator == 1 else \
        f"(/ {abs(value.numerator)}.0 {value.denominator}.0)"
    return magnitude if value >= 0 else f"(- {magnitude})"


def _smt_linear(terms: dict[int, Number], real: bool) -> str:
    """A sum of terms, over the reals when the row has a fractional number in it."""
    if not terms:
        return "0.0" if real else "0"
    parts = [f"(* {_smt_number(c)} (to_real v{i}))" if real else f"(* {_smt_number(c)} v{i})"
             for i, c in terms.items()]
    return parts[0] if len(parts) == 1 else f"(+ {' '.join(parts)})"
