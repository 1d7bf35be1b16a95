"""One compilation of a policy: the stages every front end runs, each computed once.

The command line, the language server, its solver worker and the tests all go through a
`Compilation`: the root file, the unsaved buffers the editor has (path -> text), and the
project root that diagnostics name files relative to (the working directory by default).
Each stage runs when first asked for and is kept: `check()`, `build()`, `solve()`,
`explain()`, and `verdict()`, which decides, in this one place, what a placement means:
complete, partial (the policy allows it), proven impossible (then the conflict is
explained), or undecided.
"""

from __future__ import annotations

import dataclasses
import enum
import importlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fitlang import messages as msg
from fitlang.check.loader import Workspace
from fitlang.check.settings import install_loader
from fitlang.diagnostics import Diagnostic, first_named
from fitlang.file_problems import FileProblem, span_in
from fitlang.frozen import Frozen, Mutable
from fitlang.span import FIRST_CHARACTER

if TYPE_CHECKING:  # the solver and the model are imported when a stage first needs them
    from fitlang.check.checker import CheckResult
    from fitlang.check.incremental import IncrementalCheck
    from fitlang.check.program import CurrentFile, Program
    from fitlang.model.build import Built
    from fitlang.model.current import CurrentState, Running, StateRead
    from fitlang.model.current_read import StateFile, StateNames
    from fitlang.model.daemon_sets import DaemonSet
    from fitlang.model.problem import Demand, Problem
    from fitlang.solve.explain import Explanation
    from fitlang.solve.explain_time import TimeExplanation
    from fitlang.solve.placement import Placement
    from fitlang.solve.report import PlacementJson
    from fitlang.syntax.nodes import Span

# The targets declare their settings blocks in `policy` (check/settings.py); the checker
# imports them the first time a policy states one, so a file without one is checked without
# importing the targets and the solver they import.
install_loader(lambda: importlib.import_module("fitlang.targets"))

# with less of the command's limit left, an undecided solve is not handed to explain to decide
EXPLAIN_LEAST_SECONDS = 1.0
EXPLAIN_SECONDS = 30.0  # to find the conflict when none is named (as `fitc explain`)


class Outcome(enum.Enum):
    """What a placement means for the policy."""

    PLACED = "placed"  # every replica placed
    PARTIAL = "partial"  # replicas left out, as the policy's `allow_unplaced` allows
    INFEASIBLE = "infeasible"  # the solver proved that no placement meets every hard rule
    UNDECIDED = "undecided"  # neither a complete placement nor a proof that none exists


class Compiled(Mutable):
    """What `compile` makes of a placement: the files of every target (relative path -> text;
    each target in its own directory when there are several) and what the targets need that
    the policy does not say (E0601 and such), beside the verdict."""

    verdict: Verdict
    files: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    written_by: dict[str, int] = field(default_factory=dict)  # target -> files it wrote

    @property
    def ok(self) -> bool:
        """Placed (or partial as the policy allows) and every target has what it needs."""
        return self.verdict.outcome in (Outcome.PLACED, Outcome.PARTIAL) and \
            not any(d.is_error for d in self.diagnostics)


class Verdict(Mutable):
    placement: Placement
    outcome: Outcome
    diagnostics: list[Diagnostic] = field(default_factory=list)  # what the outcome says
    explanation: Explanation | None = None  # of a proven conflict
    # the placement's JSON document the self-check read (where every rule holds): what
    # `fitc solve --format json` prints, with the diagnostics, rather than dump it again
    checked: PlacementJson | None = None


class Compilation:
    """A policy's root file with what the editor has unsaved, compiled stage by stage."""

    def __init__(self, root: Path, buffers: Mapping[Path, str | bytes] | None = None,
                 project_root: Path | None = None, *, shown_as: str | None = None,
                 workspace: Workspace | None = None,
                 parse: Callable[[Path, Path | None, dict], Workspace] | None = None,
                 incremental: IncrementalCheck | None = None, current: str | None = None,
                 targets: Sequence[str] = ()) -> None:
        """`workspace`: one shared with other roots (`fitc check a.fit b.fit`); `parse`:
        makes the workspace (the editor's, which parses through its cache); `incremental`:
        the root's earlier checks, to check only what changed; `current`: a file saying what
        runs now (`--current FILE`, relative to the working directory), read instead of the
        policy's `current` blocks; `targets`: the targets to check the policy's settings for
        beside those it names (`fitc check --target`)."""
        self.targets = tuple(targets)
        self.root = root
        self.project_root = project_root.resolve() if project_root is not None else None
        self.buffers = {path.resolve(): text for path, text in (buffers or {}).items()}
        self._shown_as = shown_as
        self._given_workspace = workspace
        self._make_workspace = parse
        self._incremental = incremental
        self.current = current
        self._solved: dict[tuple[str, float | None], Placement] = {}
        self._explained: dict[tuple[float | None, float, float | None], Explanation] = {}

    # ---- check and build ------------------------------------------------------------

    @cached_property
    def workspace(self) -> Workspace:
        if self._given_workspace is not None:  # shared: it sees this root's buffers too
            self._given_workspace.overlay.update(self.buffers)
            return self._given_workspace
        if self._make_workspace is not None:
            return self._make_workspace(self.root, self.project_root, dict(self.buffers))
        return Workspace(overlay=dict(self.buffers),
                         project_root=self.project_root)

    def check(self) -> CheckResult:
        """The root and what it imports, parsed and checked (as `fitc check`)."""
        return self._checked

    @cached_property
    def _checked(self) -> CheckResult:
        from fitlang.check.checker import Checker, check_loaded

        resolved = self.root.resolve()
        if self._incremental is not None:
            return self._incremental.check(resolved, self.workspace)
        root = self.workspace.load(resolved, self._shown_as)
        return check_loaded(Checker(self.workspace), root)

    def build(self) -> Built | None:
        """The placement problem, of a program without errors (None with errors)."""
        return self._built

    @cached_property
    def _built(self) -> Built | None:
        checked = self.check()
        if checked.has_errors:
            return None
        return self._less_running(_build(checked.program, self._taken(), self._pods_taken(),
                                         self._daemon_sets()))

    def build_any(self) -> Built:
        """The placement problem of the declarations that check, errors or not (the editor's
        hover and rule warnings read it mid-edit)."""
        built = self.build()
        return built if built is not None else self._built_anyway

    @cached_property
    def _built_anyway(self) -> Built:
        return self._less_running(_build(self.check().program, self._taken(), self._pods_taken(),
                                         self._daemon_sets()))

    def _taken(self) -> dict[str, dict[str, int]] | None:
        """Node -> what the current state's running work of no workload requests there (None
        without a state), and with a horizon what the policy's own running jobs hold: the
        problem's nodes have that much less room."""
        from fitlang.model.running_jobs import held_room

        reads = self._state_reads[1]
        if not reads:
            return None
        return held_room(self.check().program, merge_reads(reads))[0]

    def _less_running(self, built: Built) -> Built:
        """With a horizon, the problem without the replicas of the policy's jobs that run now
        or are done (`model/running_jobs.py`): they are not placed again; and with the room
        running jobs hold until they end inside the horizon (`Problem.holds`)."""
        from fitlang.model.running_jobs import epoch, held_room, less_running, running_jobs
        from fitlang.solve.held_room import held_apart

        reads, program = self._state_reads[1], self.check().program
        if not reads or program.policy.horizon is None:
            return built
        state = merge_reads(reads)
        start = epoch(program.policy.horizon.start)
        problem = less_running(built.problem, running_jobs(program, state), start)
        return dataclasses.replace(built, problem=held_apart(dataclasses.replace(
            problem, holds=tuple(held_room(program, state)[1]))))

    def _pods_taken(self) -> dict[str, int]:
        """Node -> the current state's pods of no workload there (none without a state): each
        takes one of the pods the node's kubelet admits."""
        from fitlang.model.current import foreign_pods

        return foreign_pods(work for read in self._state_reads[1] for work in read.state.foreign)

    def _daemon_sets(self) -> tuple[DaemonSet, ...]:
        """The current state's DaemonSets (none without a state): each starts a pod on every
        node bought that its selector picks."""
        from fitlang.model.daemon_sets import daemon_sets

        return daemon_sets(work for read in self._state_reads[1] for work in read.state.foreign)

    @property
    def problem(self) -> Problem | None:
        """The problem to solve, when checking and building found no error."""
        built = self.build()
        if built is None or any(d.is_error for d in built.diagnostics):
            return None
        return built.problem

    def diagnostics(self) -> list[Diagnostic]:
        """What checking and building found (what the placement commands report first), and
        what reading the policy's own `current` blocks found."""
        built = self.build()
        if built is None:
            return list(self.check().diagnostics)
        return list(self.check().diagnostics) + built.diagnostics + self._policy_state_diagnostics()

    def _policy_state_diagnostics(self) -> list[Diagnostic]:
        """What reading the policy's `current` blocks found. Every command reads those files
        (work of no workload there takes room from the nodes), so every command says what is
        wrong with them, `fitc check` and the editor too: a malformed file read as less work
        than runs was a solve that overfilled the other team's nodes in silence. A `--current`
        file is only read by the commands that start from what runs (`state_apart`)."""
        return self.current_diagnostics() if self.current is None else []

    def state_apart(self) -> list[Diagnostic]:
        """What reading a `--current` file found (not part of `diagnostics()`)."""
        return self.current_diagnostics() if self.current is not None else []

    def rule_warnings(self) -> list[Diagnostic]:
        """What `solve` would see before solving: inventory files read and validated, and the
        rules no node can satisfy (W0101-W0103), of a program without errors."""
        from fitlang.model.rule_warnings import rule_warnings

        built = self.build()
        if built is None:
            return []
        settings = self.target_settings()
        if any(d.is_error for d in built.diagnostics):
            return built.diagnostics + settings
        state = self._policy_state_diagnostics()
        found = rule_warnings(self.check().program, built.problem)
        return built.diagnostics + settings + state + [
            self._at_name(d) if d.code == msg.PoolUnusable.code else d for d in found]

    def target_settings(self) -> list[Diagnostic]:
        """What the targets the policy names (by their settings blocks, `slurm { ... }`) and
        `self.targets` refuse in it with no placement: `Target.settings_problems`, by which
        `compile` reports the same at the same place, so that a CI running `fitc check` fails
        where `compile` would (a `slurm { account = "ml-$(team)" }`). A policy that states no
        settings block is checked without importing the targets."""
        checked = self.check()
        if checked.has_errors or not (checked.program.policy.settings or self.targets):
            return []
        from fitlang.targets.base import settings_problems

        return settings_problems(checked.program, self.targets)

    def _at_name(self, diagnostic: Diagnostic) -> Diagnostic:
        """A warning about a whole block (W0103: a pool no workload can use), at the block's
        name: the token that names what it is about, in the terminal and the editor alike
        (the editor underlining a whole block hides the block's own diagnostics)."""
        from fitlang.syntax import nodes as n

        for module in self.workspace.modules.values():
            if module.path != diagnostic.path:
                continue
            for decl in module.decls:
                if isinstance(decl, n.Block) and decl.span == diagnostic.span and decl.name is not None:
                    return dataclasses.replace(diagnostic, span=decl.name.span)
        return diagnostic

    def sources(self) -> Callable[[str], str | None]:
        """Display path -> text, for showing source lines; files outside the policy (a
        placement file) are read from disk once."""
        cache: dict[str, str | None] = {m.path: m.text for m in self.workspace.modules.values()}

        def read(path: str) -> str | None:
            if path not in cache:
                try:
                    cache[path] = Path(path).read_bytes().decode("utf-8", errors="replace")
                except OSError:
                    cache[path] = None
            return cache[path]

        return read

    @property
    def root_path(self) -> str:
        """The root file as diagnostics name it."""
        return self.check().root.path

    # ---- solve and explain ------------------------------------------------------------

    def solve(self, backend: str = "auto", time_limit: float | None = None,
              progress: Any = None) -> Placement:
        """The placement (of a problem without errors); once per backend and time limit."""
        from fitlang.solve.placement import solve

        key = (backend, time_limit)
        if key not in self._solved:
            problem = self.problem
            if problem is None:
                raise ValueError("the policy has errors: nothing to solve")
            self._solved[key] = solve(problem, backend, time_limit, progress)
        return self._solved[key]

    def explain(self, time_limit: float | None = EXPLAIN_SECONDS,
                repair_budget: float | None = None, ends: float | None = None) -> Explanation:
        """Why no placement exists, and repairs; once per time limit and repair budget (and
        `ends`, the `time.monotonic()` instant by which a command's limit wants it done)."""
        from fitlang.solve.explain import REPAIR_SECONDS, explain

        budget = REPAIR_SECONDS if repair_budget is None else repair_budget
        key = (time_limit, budget, ends)
        if key not in self._explained:
            problem = self.problem
            if problem is None:
                raise ValueError("the policy has errors: nothing to explain")
            if problem.timeline is not None:  # issue 19: solve/explain_time.py says the conflict
                self._explained[key] = _explained_in_time(self.solve("auto", time_limit))
            else:
                self._explained[key] = explain(problem, time_limit, budget, ends)
        return self._explained[key]

    def verdict(self, placement: Placement, time_limit: float | None,
                explain_time_limit: float | None = EXPLAIN_SECONDS,
                explain_ends: float | None = None, stated_limit: float | None = None) -> Verdict:
        """What `placement` means, decided here for every front end: every replica placed;
        replicas left out where the policy allows it (a warning per workload); proven
        impossible (the conflict, explained); or undecided (E0506, never E0501, which says
        a conflict is proven). `time_limit` is the solve's; `stated_limit` the one the user
        gave, for the message, where the solve had less (`fitc plan`: what reading left; by
        default the same); `explain_ends` the `time.monotonic()` instant by which the
        explanation ends (the command's limit), repairs included: past it the conflict is
        stated unnamed."""
        from fitlang.solve.linear import Status

        problem = self.problem
        assert problem is not None, "a verdict needs a placement, hence no errors"
        allowed = problem.allow_unplaced
        complete = not placement.unplaced and placement.status in ("optimal", "feasible")
        if complete:
            return self._checked_verdict(Verdict(placement, Outcome.PLACED))
        if allowed and placement.status == "unknown" and placement.assignments and placement.unplaced:
            # replicas may be left out: the best placement found is one (a hpc cluster of 300
            # nodes, more jobs than room, got none in 30 s), its shortfall said to be unproven
            placement.status = Status.FEASIBLE
            short = msg.LeftOutUnproven(count=len(placement.unplaced),
                                        when=self._search_end(time_limit, placement, stated_limit))
            unproven = short.diagnostic(self.root_path, FIRST_CHARACTER)
            warnings = [*self._unplaced_warnings(placement), unproven]
            return self._checked_verdict(Verdict(placement, Outcome.PARTIAL, warnings))
        if placement.status == "unknown" or (not placement.proven_infeasible and not allowed):
            proven = None if allowed else self._proven_by_explaining(placement, explain_time_limit,
                                                                     explain_ends)
            if proven is not None:
                return proven
            placement.status = Status.UNKNOWN  # neither a complete placement nor a proof of none
            return Verdict(placement, Outcome.UNDECIDED,
                           [self._out_of_time(time_limit, placement, stated_limit)])
        if not allowed:
            placement.status = Status.INFEASIBLE
            return self._conflict(placement, explain_time_limit, explain_ends, stated_limit or time_limit)
        return self._checked_verdict(Verdict(placement, Outcome.PARTIAL, self._unplaced_warnings(placement)))

    def _checked_verdict(self, verdict: Verdict) -> Verdict:
        """A placement the solver answers is re-checked by `verify` (`solve/self_check.py`)
        before a front end reports or a target writes it: one that breaks a rule is a bug of
        fitc's, reported as E0507 (status `unknown`, exit 1, no files), never as a success."""
        from fitlang.solve.linear import Status
        from fitlang.solve.report import placement_json
        from fitlang.solve.self_check import broken_rules

        problem = self.problem
        assert problem is not None
        dumped = placement_json(problem, verdict.placement)
        broken = broken_rules(problem, verdict.placement, self.root_path, dumped)
        if not broken:
            verdict.checked = dumped
            return verdict
        verdict.placement.status = Status.UNKNOWN
        first = broken[0]
        overfull = verdict.placement.overfull
        if overfull:  # the solver's per-replica count is a relaxation: not a bug (whole_cores.py)
            return Verdict(verdict.placement, Outcome.UNDECIDED,
                           [cores_overfull(overfull, first.path, first.span, verdict.placement.over_pods,
                                           verdict.placement.repair_cut)])
        more = f" (and {len(broken) - 1} more)" if len(broken) > 1 else ""
        return Verdict(verdict.placement, Outcome.UNDECIDED, [msg.SolverAnswerBroken(
            detail=f"the solver's placement breaks a rule, so it is not used: {first.message}{more}; "
                   "this is a bug in fitc: please report it with the policy"
        ).diagnostic(first.path, first.span)])

    def compile(self, targets: Sequence[str], time_limit: float | None = None,
                solve_time_limit: float | None = None, ends: float | None = None) -> Compiled:
        """The files the targets write for the placement (none unless the placement is
        complete or partial as allowed, and no target misses a setting it needs). `time_limit`
        is the user's, for messages; `solve_time_limit` what is left of it for the solver;
        `ends` when it runs out (`time.monotonic()`), for a conflict's explanation."""
        from fitlang.targets import TARGETS, CompileContext

        problem = self.problem
        assert problem is not None, "compile needs a policy without errors"
        limit = solve_time_limit if solve_time_limit is not None else time_limit
        reached = None
        # `compile --current`: the state `fitc plan` reaches; with a horizon (no plan in time
        # yet), where the state runs no service of the policy (which a plan would move), the
        # schedule that keeps its running jobs where they run (`running_jobs.py`)
        if self.current is not None and not self._jobs_kept_in_time():
            from fitlang.plan import target_placement

            reached = target_placement(self, limit)
            placement, moved = reached.placement, reached.diagnostics
        else:  # (what reading a `--current` file found: said, and its errors stop here)
            placement, moved = self.solve("auto", limit), self.state_apart()
        compiled = Compiled(self.verdict(placement, time_limit, explain_ends=ends), diagnostics=moved)
        if compiled.verdict.outcome in (Outcome.UNDECIDED, Outcome.INFEASIBLE) \
                or any(d.is_error for d in moved):
            return compiled
        context = CompileContext(self.check().program, problem, placement,
                                 per_node=reached is not None and reached.stages is not None,
                                 targets=tuple(targets))
        chosen = [TARGETS[name]() for name in dict.fromkeys(targets)]
        for target in chosen:
            # in the order the policy reads, as `fitc check` reports (a target finds them by name)
            compiled.diagnostics += sorted(target.problems(context), key=lambda d: d.sort_key())
            if problem.timeline is not None and not target.enforces_timing:
                compiled.diagnostics.append(_timing_not_enforced(target.name, self.root_path))
        if any(d.is_error for d in compiled.diagnostics):
            return compiled
        for target in chosen:
            written = target.written(context)  # what it runs (W0623 said what it does not)
            if reached is not None and reached.stages is not None:
                files, found = target.render_reached(written, reached.stages)
                compiled.diagnostics += found
            else:
                files = target.render(written)
            prefix = "" if len(chosen) == 1 else f"{target.name}/"
            compiled.files.update({prefix + relative: text for relative, text in files.items()})
            compiled.written_by[target.name] = len(files)
        return compiled

    def _jobs_kept_in_time(self) -> bool:
        """With a horizon, whether the state runs jobs of the policy only (kept as they run:
        compiled as solved, not planned)."""
        from fitlang.model.running_jobs import services_running

        program, state = self.check().program, self.current_state()
        return program.policy.horizon is not None and state is not None \
            and not services_running(program, state)

    def _out_of_time(self, time_limit: float | None, placement: Placement,
                     stated_limit: float | None = None) -> Diagnostic:
        """E0506. Where the solver gave up well before its limit (its packers had nothing left
        to try), the message says so rather than "raise --time-limit", as explain's does. The
        limit named is the user's (`stated_limit`), never what was left of it."""
        unplaced = len(placement.unplaced)
        found = (f"the best placement found leaves {unplaced} replica{'s' if unplaced != 1 else ''} "
                 "unplaced" if unplaced else "no placement was found")
        limit = self._search_end(time_limit, placement, stated_limit)
        return msg.PlacementUndecided(detail=f"{found} {limit}, and no conflict was proven").diagnostic(
            self.root_path, FIRST_CHARACTER
        )

    @staticmethod
    def _search_end(time_limit: float | None, placement: Placement, stated_limit: float | None) -> str:
        """When the search ended, and whether more time may help, for a message."""
        from fitlang.solve.explain.conflict import EARLY_END_SHARE

        if not time_limit:
            return "before the solver and the packer gave up"
        if placement.seconds < time_limit * EARLY_END_SHARE:
            return (f"when the search gave up after {placement.seconds:.1f} s of the {time_limit:.3g} s "
                    "allowed (more time may not help)")
        return f"within the time limit ({stated_limit or time_limit:g} s); raise --time-limit"

    def _conflict(self, placement: Placement, time_limit: float | None, ends: float | None = None,
                  command_limit: float | None = None) -> Verdict:
        """The solver proved that no placement meets every hard rule: the explanation of the
        conflict, or, where it names none, the proven verdict alone (never "in the time
        allowed")."""
        import time

        problem = self.problem
        assert problem is not None
        if ends is not None and ends <= time.monotonic():  # the command's limit is spent
            within = f" within the time limit ({command_limit:g} s)" if command_limit else ""
            return Verdict(placement, Outcome.INFEASIBLE, [_unnamed_conflict(
                self.root_path, f"{within}: `fitc explain` names it")])
        if problem.timeline is not None:  # the conflict in time, with repairs (issue 19)
            from fitlang.solve.explain_time import explain_in_time

            # as without a horizon: E0501 with the conflict as `fitc explain` says it (E0950)
            said = explain_in_time(problem, self.root_path, time_limit, time_limit)
            return Verdict(placement, Outcome.INFEASIBLE, [msg.NoPlacement(
                detail=said.message).diagnostic(said.path, said.span, related=said.related)])
        named = self._named_conflict(placement, time_limit, ends)
        return named or Verdict(placement, Outcome.INFEASIBLE, [_unnamed_conflict(self.root_path)])

    def explained_in_time(self, time_limit: float | None = EXPLAIN_SECONDS,
                          repair_budget: float | None = None) -> TimeExplanation | None:
        """With a horizon and no complete schedule: the conflict in time (a workload no node
        holds, a window lacking capacity), or what stands in for it; `fitc explain` and the
        API say it. None without a horizon, or where a schedule of everything was found."""
        from fitlang.solve.explain import ExplainOutcome
        from fitlang.solve.explain_time import explained_in_time

        problem = self.problem
        if problem is None or problem.timeline is None:
            return None
        outcome = self.explain(time_limit, repair_budget).outcome
        if outcome is ExplainOutcome.FEASIBLE:
            return None
        return explained_in_time(problem, self.root_path, time_limit, repair_budget,
                                 proven=outcome is ExplainOutcome.CONFLICT)

    def _named_conflict(self, placement: Placement, time_limit: float | None,
                        ends: float | None) -> Verdict | None:
        """The verdict with the conflict explain names, or None where it names none."""
        from fitlang.solve.explain import ExplainOutcome, explanation_diagnostics

        problem = self.problem
        assert problem is not None
        explanation = self.explain(time_limit, ends=ends)
        if explanation.outcome is not ExplainOutcome.CONFLICT:
            return None
        found = explanation_diagnostics(problem, self.root_path, explanation=explanation)
        return Verdict(placement, Outcome.INFEASIBLE, found, explanation)

    def _proven_by_explaining(self, placement: Placement, time_limit: float | None,
                              ends: float | None) -> Verdict | None:
        """The solver gave up with replicas left out and no proof, with time left on the
        command's limit: explain decides, by its own models (node by node up to 160 nodes), and
        where it names a conflict that is the verdict. Before, a placement no packer could
        complete ended as "raise --time-limit" in half a second of a 60 s limit (an affinity on
        nodes too small for both workloads, 50 nodes). None where it does not prove one."""
        import time

        from fitlang.solve.linear import Status

        problem = self.problem
        assert problem is not None
        if ends is None or ends - time.monotonic() < EXPLAIN_LEAST_SECONDS or problem.timeline is not None:
            return None
        named = self._named_conflict(placement, time_limit, ends)
        if named is not None:
            placement.status, placement.proven_infeasible = Status.INFEASIBLE, True
        return named

    def _unplaced_warnings(self, placement: Placement) -> list[Diagnostic]:
        problem = self.problem
        assert problem is not None
        reasons: dict[str, list[str]] = {}
        for item in placement.unplaced:
            reasons.setdefault(item.workload, []).append(item.reason)
        warnings = []
        for name, found in reasons.items():
            demand = problem.demand(name)
            origin = demand.origin
            warnings.append(
                msg.WorkloadUnplaced(
                    detail=f"{len(found)} of {demand.replicas} replicas of `{name}` are unplaced: {found[0]}"
                ).diagnostic(
                    origin.path if origin else self.root_path, origin.span if origin else FIRST_CHARACTER
                )
            )
        return warnings

    # ---- what runs now (`current`, `--current`: where `fitc plan` starts) ----------------

    def current_state(self) -> CurrentState | None:
        """What runs now, from `--current` (the `current` argument) or else the policy's
        `current` blocks, merged; None when neither names a file. Read once; what is wrong
        with the files is in `current_diagnostics()`. Replicas of workloads or options the
        policy lacks are left out (W0803); replicas on nodes it lacks are kept (W0802: they
        must move)."""
        return self._current[0]

    def current_diagnostics(self) -> list[Diagnostic]:
        """What reading the current state found: E0801 per malformed value (at the policy's
        `current` block, or at the file itself for `--current`), E0103 for a `--current` file
        that cannot be read, and one warning per file and kind (W0801-W0804). Part of
        `diagnostics()` where the policy's own `current` blocks name the files."""
        return self._current[1]

    @cached_property
    def _state_reads(self) -> tuple[list[tuple[StateFile, _Where]], list[StateRead], list[Diagnostic]]:
        """The state files, each one's read, and E0103 for a `--current` file that cannot be
        read: read before the problem is built, whose nodes lose the room that work of no
        workload takes."""
        from fitlang.model.current_read import read_state_files

        program = self.check().program
        files, diagnostics = self._state_files(program)
        if not files:
            return [], [], diagnostics
        return files, read_state_files([file for file, _ in files], _state_names(program)), diagnostics

    @cached_property
    def _current(self) -> tuple[CurrentState | None, list[Diagnostic]]:
        from fitlang.model.current_read import merge

        program = self.check().program
        files, reads, diagnostics = self._state_reads
        diagnostics = list(diagnostics)
        if not files and not diagnostics:
            return None, []
        problem = self.problem
        cluster_bought: dict[str, str] = {}
        if problem is not None and any(read.state.nodes for read in reads):
            diagnostics += _cluster_nodes(reads, [where for _, where in files], problem, cluster_bought)
            problem = _named_by_cluster(problem, cluster_bought)
            diagnostics += _closed_nodes(reads, [where for _, where in files], problem)
        for (_, where), read in zip(files, reads):
            diagnostics += _state_diagnostics(read, where, problem) + _running_jobs(read, where, program)
        built = self.build()
        if built is not None and built.overfilled and files:
            diagnostics.append(_overfilled(built.overfilled, files[0][1]))
        state = merge(reads)
        if problem is not None:
            state = dataclasses.replace(state, cluster_bought=tuple(cluster_bought.items()),
                                        bought=tuple(sorted(set(state.bought) | set(cluster_bought))))
            state = _with_options(_with_bought(state, problem), problem, program)
        return state, diagnostics

    def _state_files(self, program: Program) -> tuple[list[tuple[StateFile, _Where]], list[Diagnostic]]:
        """The files to read, each with where its messages go; E0103 instead when `--current`
        names a file that cannot be read (the checker reports the policy's)."""
        from fitlang.model.current_read import StateFile

        if self.current is None:
            return [(StateFile(block.file, block.format, block.given), _Where.of(block))
                    for block in program.current], []
        unreadable = _unreadable(self.current)
        if unreadable is not None:
            return [], [msg.FileUnreadable(file=self.current, reason=unreadable).diagnostic(
                self.current, FIRST_CHARACTER)]
        return [(StateFile(self.current, None, self.current),
                 _Where(self.current, FIRST_CHARACTER, in_file=True))], []


def merge_reads(reads: Sequence[StateRead]) -> CurrentState:
    """The state files' reads as one state (`current_read.merge`)."""
    from fitlang.model.current_read import merge

    return merge(reads)


def _unnamed_conflict(root: str, why: str = "") -> Diagnostic:
    """E0501 where no smaller conflict was named: the solver's proof alone."""
    return msg.NoPlacement(detail="no placement meets every hard rule (the solver proved it); "
                           f"no smaller conflict was named{why}").diagnostic(root, FIRST_CHARACTER)


def _explained_in_time(placement: Placement) -> Explanation:
    """With a horizon: feasible when the schedule places everything; a conflict where the
    solver proved none exists (solve/explain_time.py names it); otherwise undecided."""
    from fitlang.solve.explain import ExplainOutcome, Explanation

    placed = not placement.unplaced and placement.status in ("optimal", "feasible")
    if placed:
        return Explanation(ExplainOutcome.FEASIBLE)
    return Explanation(ExplainOutcome.CONFLICT if placement.proven_infeasible else ExplainOutcome.UNDECIDED)


def _timing_not_enforced(target: str, root: str) -> Diagnostic:
    """W0901: with a horizon, a target that creates all the work at once (issue 19)."""
    return msg.TimingNotEnforced(target=target, detail="its files start every workload at "
                                 "once, not at the times the placement gives").diagnostic(
        root, FIRST_CHARACTER)


def _build(program: Program, taken: dict[str, dict[str, int]] | None, pods: dict[str, int],
           running_daemons: tuple[DaemonSet, ...]) -> Built:
    """The problem with the language's rules and those the targets add (the Slurm partition):
    the driver sits above both, so model code names no target. A target's rules come from its
    settings block (`Target.rules`): a policy that states none is built without importing the
    targets (0.01 s CPU of every `fitc solve`)."""
    from fitlang.model.build import build_problem

    if not program.policy.settings:
        return build_problem(program, taken=taken, pods=pods, running_daemons=running_daemons)
    from fitlang.targets import target_rules

    return build_problem(program, target_rules(program), taken, pods, running_daemons)


class _Where(Frozen):
    """Where a state file's messages go: the `current` block's `file` (so that the editor shows
    them in the policy), or the file itself (`--current`), at the place each names."""

    path: str
    span: Span
    in_file: bool = False

    def spans(self, problems: list[FileProblem]) -> list[Span]:
        """Each problem's span: in the file where it says a place that the file has."""
        if not self.in_file or all(p.at is None and p.line is None for p in problems):
            return [self.span] * len(problems)
        try:
            text = Path(self.path).read_bytes().decode("utf-8", errors="replace")
        except OSError:
            return [self.span] * len(problems)
        return [span_in(text, problem) or self.span for problem in problems]

    @staticmethod
    def of(block: CurrentFile) -> _Where:
        origin = block.spans.get("file", block.origin)
        assert origin is not None  # the checker gives every block it makes its origin
        return _Where(origin.path, origin.span)


def _unreadable(path: str) -> str | None:
    """Why a `--current` file cannot be read (as the checker says of inventories), or None."""
    import os
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError as error:
        return (error.strerror or type(error).__name__).lower()
    if stat.S_ISDIR(mode):
        return "is a directory"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    return None if os.access(path, os.R_OK) else "permission denied"


def _state_names(program: Program) -> StateNames:
    """The policy's workloads as the targets name what runs them: the driver sits above the
    model and the targets, so the readers need not import the targets."""
    from fitlang.model.current_read import StateNames
    from fitlang.target_names import dns_name, job_name

    workloads = program.workloads
    option_labels: dict[tuple[str, str], str] = {}
    job_names: dict[str, tuple[str, str | None]] = {}
    for workload in workloads.values():
        job_names.setdefault(job_name(workload), (workload.name, None))
        for option in workload.options:
            # the Kubernetes target labels pods with the option, or its DNS form when the
            # option is no valid label value (kubernetes.py, `_workload_labels`)
            model = option.model.name  # an option is named by its accelerator
            option_labels[(workload.name, model)] = model
            option_labels.setdefault((workload.name, dns_name(model)), model)
            job_names.setdefault(job_name(workload.for_option(option)), (workload.name, model))
    return StateNames(
        workloads=frozenset(workloads),
        options={name: frozenset(o.model.name for o in w.options) for name, w in workloads.items()},
        pod_names=_hyphenated(workloads) | {dns_name(name): name for name in workloads},
        option_labels=option_labels, job_names=job_names)


def _hyphenated(workloads: Mapping[str, object]) -> dict[str, str]:
    """The names a person gives a workload's Deployment, StatefulSet or Job in Kubernetes,
    where a name has no `_`: `llm_serve` runs as `llm-serve` (its pods' ReplicaSet
    `llm-serve-5f7c8b9d4`). Without it, such pods were another team's: they took the room and
    the plan started every replica again beside them (no placement). Only a name one workload
    gives (`LLM_serve` and `llm_serve` both give `llm-serve`: neither)."""
    given: dict[str, list[str]] = {}
    for name in workloads:
        hyphenated = name.lower().replace("_", "-")
        if hyphenated != name and _DNS_LABEL.fullmatch(hyphenated):
            given.setdefault(hyphenated, []).append(name)
    return {form: names[0] for form, names in given.items() if len(names) == 1}


_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")


SHOWN_NAMES = 3  # a warning about many replicas names the first few


def _first(names: Sequence[str], quoted: bool = True) -> str:
    """The first SHOWN_NAMES names (each in backticks, or phrases as they are, `; ` apart)."""
    if quoted:
        return first_named(names, SHOWN_NAMES)
    return "; ".join(names[:SHOWN_NAMES]) + (
        f"; and {len(names) - SHOWN_NAMES} more" if len(names) > SHOWN_NAMES else "")


def _plural(count: int) -> str:
    return "" if count == 1 else "s"


def cores_overfull(overfull: Sequence[str], path: str, span: Span, pods: bool = False,
                   cut: bool = False) -> Diagnostic:
    """E0509 at `span` (of the first rule the answer breaks): the nodes read from Slurm that the
    answer overfills in whole cores per job, which moving replicas did not repair
    (`solve/whole_cores.py`; `cut`: by the time limit's end): the solver's count is a relaxation,
    not a bug of fitc's. E0512 where some hold more pods than their kubelet admits (`pods`)."""
    message = msg.PodsOverfull if pods else msg.SlurmCoresOverfull
    tried = {"tried": "the time limit ended before moving replicas off them found room (raise "
                      "--time-limit)"} if cut else {}
    return message(count=f"{len(overfull)} node{_plural(len(overfull))}",
                   nodes=_first(overfull), **tried).diagnostic(path, span)


def _room_taken(read: StateRead) -> str:
    """What the work of no workload a state lists takes, as W0801 says it."""
    if not read.room_known:
        return "their room not known (this text has no CPUs: `squeue --json` has)"
    if read.unit == "pod":  # (the kubelet counts every pod, whatever it requests)
        daemons = any(work.daemon_set for work in read.state.foreign)
        return "each takes a pod and what it requests on its node" + (
            ", and a DaemonSet's on each node bought too" if daemons else "")
    return "their requests take room on their nodes"


def _state_diagnostics(read: StateRead, where: _Where, problem: Problem | None) -> list[Diagnostic]:
    """The read's problems as E0801 each; what it left out or could not match as one warning
    per kind, with a count and the first few names. Nodes are matched when the policy built."""
    found = [msg.CurrentStateError.at(where.path, span, detail=wrong.text)
             for wrong, span in zip(read.problems, where.spans(read.problems))]
    file = read.state.sources[0] if read.state.sources else where.path
    if read.ignored:
        found.append(msg.UnmanagedWork.at(where.path, where.span, file=file, count=len(read.ignored),
                                          what=read.unit + _plural(len(read.ignored)),
                                          room=_room_taken(read), first=_first(read.ignored)))
    if read.unknown:
        found.append(msg.UnknownStateWorkloads.at(where.path, where.span, file=file,
                                                  count=len(read.unknown),
                                                  plural=_plural(len(read.unknown)),
                                                  first=_first(read.unknown)))
    if read.unmatched_budgets:
        count = len(read.unmatched_budgets)
        found.append(msg.BudgetSelectsNothing.at(where.path, where.span, file=file, count=count,
                                                 first=_first(read.unmatched_budgets)))
    if problem is not None:
        owners = problem.owners()
        lost = [r for r in read.state.running if owners.find(r.node) is None]
        if lost:
            nodes = list(dict.fromkeys(r.node for r in lost))
            found.append(msg.UnknownStateNodes.at(where.path, where.span, file=file, count=len(lost),
                                                  plural=_plural(len(lost)), nodes=len(nodes),
                                                  node_plural=_plural(len(nodes)), first=_first(nodes)))
        differ = _requests_differ(read.state.running, problem)
        if differ:
            found.append(msg.RequestsDiffer.at(where.path, where.span, file=file, count=len(differ),
                                               plural=_plural(len(differ)),
                                               first=_first(differ, quoted=False)))
    return found


def _running_jobs(read: StateRead, where: _Where, program: Program) -> list[Diagnostic]:
    """With a horizon, what the file's running jobs of the policy become: kept where they run
    to their end, or done (W0931), late (W0930), or refused where a recurring job's run is not
    whole or not known (E0906), as `model/running_jobs.py` reads them."""
    from fitlang.model.running_jobs import at_instant, epoch, running_jobs

    horizon = program.policy.horizon
    jobs = running_jobs(program, read.state)
    if horizon is None or not (jobs.jobs or jobs.refused):
        return []
    file = read.state.sources[0] if read.state.sources else where.path
    found = [msg.NotSupportedWithHorizon.at(where.path, where.span, detail=(
        f"a running job of a recurring workload whose run is not whole or not known (`{name}`'s "
        f"job {job} in {file}: {why})")) for name, job, why in jobs.refused]
    start = epoch(horizon.start)
    kept = []
    for job in jobs.jobs:
        kept.append(job.described(start))
        if job.late and job.ends is not None and job.due is not None and not job.done_by(start):
            found.append(msg.RunningJobLate.at(where.path, where.span, file=file, workload=job.workload,
                                               job=job.job, ends=at_instant(job.ends),
                                               deadline=at_instant(job.due)))
    if kept:
        found.append(msg.RunningJobsKept.at(where.path, where.span, file=file, count=len(kept),
                                            plural=_plural(len(kept)), detail=_first(kept, quoted=False)))
    return found


def _requests_differ(running: Sequence[Running], problem: Problem) -> list[str]:
    """Per workload (or option) whose running pods request other CPU or memory than the policy
    states: "`web` requests 1.1 CPU, 640 MiB (the policy: 1 CPU, 512 MiB)", the first pod's."""
    from fitlang.model.build import running_demand

    owners = problem.owners()
    by_workload: dict[str, list[Demand]] = {}
    for demand in problem.demands:
        by_workload.setdefault(demand.workload, []).append(demand)
    demands = {d.name: d for d in problem.demands}
    seen: dict[str, str] = {}
    for replica in running:
        name = running_demand(problem, owners, replica, by_workload) if replica.requests else None
        if name is None or name in seen or replica.requests is None:
            continue
        stated = (demands[name].requests["cpu"], demands[name].requests["memory"])
        if replica.requests != stated:
            seen[name] = (f"`{name}` requests {_cpu_memory(replica.requests)} (the policy: "
                          f"{_cpu_memory(stated)})")
    return list(seen.values())


def _cpu_memory(requests: tuple[int, int]) -> str:
    return f"{requests[0] / 1000:g} CPU, {requests[1] / 2 ** 20:g} MiB"


def _overfilled(nodes: Sequence[str], where: _Where) -> Diagnostic:
    """W0805: nodes whose running work of no workload already requests more than they have
    (a node resized or relabelled since, or a state and inventory read at different times):
    fitc places nothing there."""
    return msg.ForeignOverfills.at(where.path, where.span, count=len(nodes), plural=_plural(len(nodes)),
                                   first=_first(list(nodes)))


def _cluster_nodes(reads: Sequence[StateRead], wheres: Sequence[_Where], problem: Problem,
                   bought: dict[str, str]) -> list[Diagnostic]:
    """The nodes each file lists that the cloud named and fitc bought, into `bought` (node ->
    class id: `model/cluster_nodes.py`); W0806 per file for those that fit several groups."""
    from fitlang.model.cluster_nodes import match_cluster_nodes

    groups = _bought_groups(problem)
    found = []
    for read, where in zip(reads, wheres):
        matched = match_cluster_nodes(read.state.nodes, problem, groups)
        for node, class_id in matched.bought.items():
            bought.setdefault(node, class_id)
        if matched.ambiguous:
            shown = [f"{node} ({' or '.join(fits)})" for node, fits in matched.ambiguous]
            count = len(shown)
            found.append(msg.AmbiguousClusterNodes.at(
                where.path, where.span, file=read.state.sources[0] if read.state.sources else where.path,
                count=count, plural=_plural(count), verb="s" if count == 1 else "", first=_first(shown)))
    return found


def _closed_nodes(reads: Sequence[StateRead], wheres: Sequence[_Where], problem: Problem) -> list[Diagnostic]:
    """W0807 per file for the policy's nodes it lists as cordoned or not Ready: fitc places
    nothing there (`build._closed`)."""
    owners = problem.owners()
    found = []
    for read, where in zip(reads, wheres):
        closed = [node.name for node in read.state.nodes if not node.schedulable and node.name in owners]
        if closed:
            found.append(msg.ClosedClusterNodes.at(
                where.path, where.span, file=read.state.sources[0] if read.state.sources else where.path,
                count=len(closed), plural=_plural(len(closed)), verb="is" if len(closed) == 1 else "are",
                first=_first(closed)))
    return found


def _bought_groups(problem: Problem):
    """Each bought class's node group name, as the Terraform target writes it (the cloud puts
    it on the group's nodes): the driver sits above the model and the targets."""
    from fitlang.model.cluster_nodes import BoughtGroups
    from fitlang.targets.terraform import Purchase, group_name

    return BoughtGroups({c.id: group_name(Purchase(c, c.region or "", c.spot, 0, None))
                         for c in problem.classes if c.provisioned})


def _named_by_cluster(problem: Problem, bought: Mapping[str, str]) -> Problem:
    from fitlang.model.cluster_nodes import with_cluster_nodes

    return with_cluster_nodes(problem, bought.items())


def _with_bought(state: CurrentState, problem: Problem) -> CurrentState:
    """Pods and jobs do not say which nodes were bought: a node of an offer that runs a
    replica was (a placement's own list is kept). Bought nodes that run nothing are not
    seen; a placement file names them."""
    owners = problem.owners()
    found = {r.node for r in state.running
             if (owner := owners.find(r.node)) is not None and owner[0].provisioned}
    if found <= set(state.bought):
        return state
    return dataclasses.replace(state, bought=tuple(sorted(found | set(state.bought))))


def _with_options(state: CurrentState, problem: Problem, program: Program) -> CurrentState:
    """A replica of a workload with accelerator options that its file does not say the option
    of (a pod without the option label) runs with its node's accelerator, when that is one of
    the options: an H100 node runs the H100 option."""
    owners = problem.owners()

    def option_of(replica: Running) -> str | None:
        workload = program.workloads.get(replica.workload)
        if replica.option is not None or workload is None or not workload.options:
            return replica.option
        found = owners.find(replica.node)
        accelerator = found[0].accelerator if found is not None else None
        model = accelerator.name if accelerator is not None else None
        return model if model in {option.model.name for option in workload.options} else None

    return dataclasses.replace(state, running=tuple(
        replica if (option := option_of(replica)) == replica.option
        else dataclasses.replace(replica, option=option) for replica in state.running))
