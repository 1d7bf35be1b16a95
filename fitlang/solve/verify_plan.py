"""`fitc verify FILE PLAN.json --current STATE`: re-check a plan (`fitc plan --format json`)
without the solver and without the planner's code.

The plan is replayed from what runs now (`Problem.running`, read from STATE): the replicas it
stops first, then wave by wave. Each step must start from what the steps before it leave
(E0831). While a wave's replicas move, the new ones run beside the old ones (or, in a
`stop_first` wave, the old stop first): that state may break no rule that held when the wave
began (E0832; `verify_state`, the rule checks of `fitc verify`; the hourly budget is of the end
state, as in `fitc plan`), and a node over its capacity when the wave began (what runs now may
overfill one: `solve/repair_first.py`) may ask no more of any resource than it did then. The
budgets are restated per wave in `rules/moves.check_wave` (E0833-E0835), and the replicas
moved in all are at most the policy's `max_moves` (E0815). After the last wave,
the nodes released must be empty and the end state must be a placement of every replica that
keeps every rule (E0836), at the costs the plan states (E0837).
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic
from fitlang.file_problems import FileProblem
from fitlang.model.problem import option_demand_name
from fitlang.rules.moves import WaveMoves, check_wave
from fitlang.solve.verify import verify_state
from fitlang.span import FIRST_CHARACTER

if TYPE_CHECKING:
    from fitlang.check.program import Program
    from fitlang.documents import PlanDocument, PlanMove, PlanWave
    from fitlang.model.current import RunningNames
    from fitlang.model.problem import Problem

OUTSIDE = ""  # the node of a replica running on a node the policy lacks
COST_SLACK = Fraction(1, 10 ** 5)  # the plan's JSON rounds costs to 6 decimals


def is_plan(document: Any) -> bool:
    """A plan (`fitc plan --format json`) rather than a placement: it has waves."""
    return isinstance(document, dict) and "waves" in document and "assignments" not in document


def verify_plan(problem: Problem, program: Program, document: Any, root: str = "",
                plan_path: str = "", handles: RunningNames | None = None,
                unhealthy: set[str] | None = None) -> tuple[list[Diagnostic], list[FileProblem]]:
    """(what the plan breaks, problems with the file itself). `problem` carries the state the
    plan starts from (`model/build.with_current`); `handles`: (demand, node) -> the names of
    the replicas running there (`model/build.running_handles`: pods, job ids), so that a step
    naming a replica (`replica`) must name one that runs where it leaves. A rule or budget
    broken is reported where the policy states it; a step that does not chain or a figure
    that is wrong, at the plan file (`plan_path`; default: the policy's root file).
    `unhealthy`: the names of the replicas not healthy (`model/build.unhealthy_names`): a move
    naming one moves a replica a budget over healthy replicas may let go free; one naming
    none moves one where its node still runs one (a ReplicaSet deletes those first)."""
    from pydantic import ValidationError

    from fitlang.documents import PlanDocument, error_problems

    try:
        plan = PlanDocument.model_validate(document)
    except ValidationError as error:
        return [], error_problems(error)
    replay = _Replay(problem, program, root, plan_path or root)
    # a plan file names each replica as it prints it ("namespace/pod", a job id)
    replay.handles = {key: Counter(map(str, names)) for key, names in (handles or {}).items()}
    replay.unhealthy_names = set(unhealthy or ())
    return replay.run(plan), []


class _Replay:
    """The plan's steps over a state: node -> demand -> replicas, and the replicas running on
    nodes the policy lacks, per demand."""

    def __init__(self, problem: Problem, program: Program, root: str, plan_path: str) -> None:
        self.problem, self.program, self.root, self.plan_path = problem, program, root, plan_path
        self.owners = problem.owners()
        self.state: dict[str, Counter] = {}
        for demand, nodes in problem.running.items():
            for node, count in nodes.items():
                self.state.setdefault(node, Counter())[demand] += count
        self.outside = Counter(problem.running_elsewhere)
        self.bought = set(problem.bought_now)
        self.found: list[Diagnostic] = []
        self.demands = {d.name for d in problem.demands}
        self.prices: dict[str, Fraction] = {}  # node -> USD/h: a name lookup parses the name
        self.handles: dict[tuple[str, str], Counter] = {}  # (demand, node) -> replicas' names
        # the replicas not healthy: by name, and per (demand, node) those not moved yet
        self.unhealthy_names: set[str] = set()
        self.unhealthy = Counter({(d, node): count for d, nodes in problem.unhealthy.items()
                                  for node, count in nodes.items()})
        self.replaced: Counter = Counter()  # per workload, its replicas not healthy moved
        self.moves = 0  # replicas moved in all

    def run(self, plan: PlanDocument) -> list[Diagnostic]:
        self._stated_cost("the plan's cost_before", plan.cost_before, self._cost())
        self._buy(plan.buy)
        for move in plan.stop:
            self._stop(move, "stop")
        for index, wave in enumerate(plan.waves, 1):
            if wave.number != index:
                self._chain(f"wave {wave.number}", f"it is wave {index} of the plan: waves are "
                            f"numbered 1, 2, ... in order (a wave is missing or out of order)")
            self._wave(wave)
        self._capped()
        self._release(plan.release)
        self._end(plan)
        return self.found

    # ---- the steps ----

    def _buy(self, nodes: list[str]) -> None:
        for node in nodes:
            node_class = self.owners.get(node)
            if node_class is None or not node_class.provisioned:
                self._chain("buy", f"`{node}` is not a node of an offer of the policy")
            elif node in self.bought:
                self._chain("buy", f"`{node}` was bought already")
            self.bought.add(node)

    def _stop(self, move: PlanMove, where: str) -> None:
        demand = self._demand(move, where)
        if demand is not None and self._take(demand, move.source, move, where):
            self._healthy(demand, move)  # (a stop may take a replica not healthy: none is left there)

    def _wave(self, wave: PlanWave) -> None:
        where = f"wave {wave.number}"
        before = self._in_use()
        began = self._copy()
        allowed = self._broken(self.state)
        started, left, moved, unhealthy = self._steps(wave, where)
        during = self._add(self._copy(), started)
        if wave.stop_first:  # _take removed the old replicas already
            mid = during
        else:  # the old replicas still run beside the new ones
            mid = self._add({n: Counter(c) for n, c in during.items()},
                            [(d, s) for d, s in left if s != OUTSIDE])
        broken = self._broken(mid)
        for key in sorted(broken.keys() - allowed.keys()):
            self.found.append(msg.WaveBreaksRule(wave=wave.number, detail=broken[key].message)
                              .diagnostic(broken[key].path, broken[key].span))
        self._fuller(wave.number, began, mid, set(allowed))
        self.state = during
        emptied = tuple(sorted(before - self._in_use(), key=self._order))
        self.found += check_wave(self.problem, self.program,
                                 WaveMoves(wave.number, tuple(moved), emptied, tuple(unhealthy)),
                                 self.root, Counter(self.replaced))
        self.replaced.update(unhealthy)
        self.moves += len(moved)
        if sorted(wave.drained) != sorted(emptied):
            self._stated(f"{where}'s `drained`", ", ".join(wave.drained) or "none",
                         ", ".join(emptied) or "none")
        self._stated_cost(f"{where}'s cost_after", wave.cost_after, self._cost())

    def _steps(self, wave: PlanWave, where: str):
        """The wave's moves taken from the state: (demand, target) of each replica started,
        (demand, source) of each that leaves, (workload, source) of each moved, and the
        workload of each moved that was not healthy."""
        started: list[tuple[str, str]] = []
        left: list[tuple[str, str]] = []
        moved: list[tuple[str, str]] = []
        unhealthy: list[str] = []
        for move in wave.moves:
            demand = self._demand(move, where)
            if demand is None:
                continue
            if move.kind == "stop":
                self._chain(where, f"stops `{move.workload}`: a plan stops replicas before "
                            "its first wave (`stop`), not in a wave")
                continue
            if not self._on_policy_node(move.target, move, where):
                continue
            if move.kind == "move":
                if not self._take(demand, move.source, move, where):
                    continue
                left.append((demand, move.source or OUTSIDE))
                moved.append((move.workload, move.source or OUTSIDE))
                if not self._healthy(demand, move):
                    unhealthy.append(move.workload)
            started.append((demand, move.target or ""))
        return started, left, moved, unhealthy

    def _healthy(self, demand: str, move: PlanMove) -> bool:
        """Was the replica a move takes healthy? The one it names, else its node's next: the
        replicas not healthy leave a node first (a ReplicaSet scaled down deletes them first)."""
        key = (demand, move.source or OUTSIDE)
        if self.unhealthy[key] <= 0:
            return True
        if move.replica is not None and str(move.replica) not in self.unhealthy_names:
            return True
        self.unhealthy[key] -= 1
        return False

    def _fuller(self, wave: int, began: dict[str, Counter], mid: dict[str, Counter],
                allowed: set[tuple[str, int, int]]) -> None:
        """A node over its capacity mid-wave asking more than when the wave began, where the
        wave's start broke the capacity of its class already (so that the rule's place is
        allowed): what runs now may overfill a node (a pool shrunk under an old placement),
        and a wave may leave it so while the plan repairs it, never worse."""
        from fitlang.rules.capacity import over_capacity, readable

        for node, used in sorted(over_capacity(self.problem, mid).items()):
            node_class = self.owners[node]
            origin = node_class.origin
            place = (origin.path, origin.span.line, origin.span.column) if origin else \
                (self.root, FIRST_CHARACTER.line, FIRST_CHARACTER.column)
            if place not in allowed:  # (reported as a rule broken mid-way above)
                continue
            had = over_capacity(self.problem, began, [node]).get(node)
            capacity = node_class.capacity_of(node)
            for resource in sorted(capacity):
                was = capacity[resource] if had is None else max(capacity[resource], had[resource])
                if used[resource] > was:
                    self.found.append(msg.WaveBreaksRule(wave=wave, detail=(
                        f"node `{node}` is over its {resource}: {readable(resource, used[resource])} "
                        f"requested, {readable(resource, capacity[resource], unit=False)} available, "
                        f"more than when the wave began")).diagnostic(
                        origin.path if origin else self.root, origin.span if origin else FIRST_CHARACTER))

    def _capped(self) -> None:
        """The replicas moved in all the waves, at most the policy's `max_moves` (E0815)."""
        cap = self.problem.max_moves
        if cap is None or self.moves <= cap:
            return
        policy = self.program.policy
        where = policy.spans.get("max_moves", policy.origin)
        path, span = (where.path, where.span) if where is not None else (self.root, FIRST_CHARACTER)
        self.found.append(msg.PlanOverMoveCap(moved=self.moves, limit=cap).diagnostic(path, span))

    def _release(self, nodes: list[str]) -> None:
        for node in nodes:
            if node not in self.bought:
                self._end_problem(f"`{node}` is released, but it is not bought")
            elif any(self.state.get(node, Counter()).values()):
                self._end_problem(f"`{node}` is released, but replicas still run on it")
            self.bought.discard(node)

    def _end(self, plan: PlanDocument) -> None:
        for demand, count in sorted((+self.outside).items()):
            self._end_problem(f"{count} replica(s) of `{self.problem.demand(demand).workload}` "
                              "still run on nodes the policy lacks")
        actual = self._cost()
        if not plan.kept and abs(Fraction(plan.cost_after) - actual) > COST_SLACK:
            # (a kept plan states the cost of the placement it does not make)
            self._end_problem(f"the nodes in use cost {float(actual):g} USD/h; the plan's target "
                              f"costs {plan.cost_after:g} USD/h")
        if any(d.code == msg.PlanDoesNotChain.code for d in self.found):
            return  # the end state of steps that do not chain says little more
        for violation in verify_state(self.problem, self.state, self.bought, self.root,
                                      counted=False):
            self.found.append(msg.PlanEndsElsewhere(
                detail=f"the end state breaks a rule: {violation.message}").diagnostic(
                violation.path, violation.span))

    # ---- the state ----

    def _demand(self, move: PlanMove, where: str) -> str | None:
        name = move.workload if move.option is None else option_demand_name(move.workload,
                                                                            move.option)
        if name not in self.demands:
            shown = move.workload + (f"` option `{move.option}" if move.option else "")
            self._chain(where, f"names `{shown}`, which the policy does not declare")
            return None
        return name

    def _take(self, demand: str, source: str | None, move: PlanMove, where: str) -> bool:
        """One replica of `demand` leaves `source` (None: a node the policy lacks), the one
        the move names if it names one (a wrong name is reported; the move is replayed by
        its counts all the same, so that what follows is checked as it would run)."""
        self._named(demand, source, move, where)
        if source is None:
            if self.outside[demand] > 0:
                self.outside[demand] -= 1
                return True
            self._chain(where, f"moves `{move.workload}` from outside the policy, but no more of "
                        "its replicas run there")
            return False
        if self.state.get(source, Counter())[demand] > 0:
            self.state[source][demand] -= 1
            return True
        self._chain(where, f"moves or stops `{move.workload}` on `{source}`, but no replica of it "
                    "runs there at this point of the plan")
        return False

    def _named(self, demand: str, source: str | None, move: PlanMove, where: str) -> None:
        """The replica a move names (a pod, a job id) runs where it leaves, if the state
        named the replicas there."""
        names = self.handles.get((demand, source or OUTSIDE))
        if move.replica is None or names is None:
            return
        if names[move.replica] > 0:
            names[move.replica] -= 1
            return
        self._chain(where, f"moves or stops `{move.replica}` ({move.workload}) from "
                    f"`{source or 'outside the policy'}`, but no replica of that name runs there "
                    "at this point of the plan")

    def _on_policy_node(self, node: str | None, move: PlanMove, where: str) -> bool:
        node_class = self.owners.get(node) if node else None
        if node_class is not None and (not node_class.provisioned or node in self.bought):
            return True
        self._chain(where, f"starts `{move.workload}` on `{node}`, which is not a node of the "
                    "policy (nor a node the plan buys)")
        return False

    def _copy(self) -> dict[str, Counter]:
        return {node: Counter(counts) for node, counts in self.state.items()}

    @staticmethod
    def _add(state: dict[str, Counter], replicas: list[tuple[str, str]]) -> dict[str, Counter]:
        for demand, node in replicas:
            state.setdefault(node, Counter())[demand] += 1
        return state

    def _in_use(self) -> set[str]:
        return {node for node, counts in self.state.items() if any(counts.values())}

    def _cost(self) -> Fraction:
        total = Fraction(0)
        for node in self._in_use() | self.bought:
            price = self.prices.get(node)
            if price is None:
                price = self.prices[node] = self.owners[node].price
            total += price
        return total

    def _broken(self, state: dict[str, Counter]) -> dict[tuple[str, int, int], Diagnostic]:
        """The rules a state mid-move breaks, by their place: the first violation of each. The
        hourly budget is of the end state (old and new nodes run side by side while work
        moves)."""
        broken: dict[tuple[str, int, int], Diagnostic] = {}
        for violation in verify_state(self.problem, {n: +c for n, c in state.items()},
                                      self.bought, self.root):
            broken.setdefault((violation.path, violation.span.line, violation.span.column),
                              violation)
        budget = self.problem.budget_origin
        if budget is not None:
            broken.pop((budget.path, budget.span.line, budget.span.column), None)
        return broken

    def _order(self, node: str):
        return (self.owners.position(node), node)

    # ---- what it reports ----

    def _chain(self, where: str, detail: str) -> None:
        self.found.append(msg.PlanDoesNotChain(where=where, detail=detail).diagnostic(
            self.plan_path, FIRST_CHARACTER))

    def _end_problem(self, detail: str) -> None:
        self.found.append(msg.PlanEndsElsewhere(detail=detail).diagnostic(
            self.plan_path, FIRST_CHARACTER))

    def _stated(self, where: str, stated: str, actual: str) -> None:
        self.found.append(msg.PlanStatesOtherwise(where=where, stated=stated, actual=actual)
                          .diagnostic(self.plan_path, FIRST_CHARACTER))

    def _stated_cost(self, where: str, stated: float, actual: Fraction) -> None:
        if abs(Fraction(stated) - actual) > COST_SLACK:
            self._stated(where, f"{stated:g} USD/h", f"{float(actual):g} USD/h")
