"""`fitc verify`: re-check a placement against every rule, without a solver.

The checks restate the rules directly over nodes and replicas, independently of
the encoding the solver used, so that a bug in the encoding or the packer shows
up here. The tests run this on every solve. Each rule's check is in its module of
fitlang/rules (its `check` hook); here: reading the placement, the classes each replica
may use (`Demand.excluded`), and the stated objective.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from fractions import Fraction
from operator import itemgetter
from typing import Any

from fitlang import rules
from fitlang.diagnostics import Diagnostic
from fitlang.file_problems import FileProblem
from fitlang.model.problem import Demand, Exclusion, NodeClass, Problem, option_demand_name
from fitlang.rules import carbon, completion, timing
from fitlang.rules.base import Owners, PairsPlaced, Placed, violation
from fitlang.solve.verify_columns import read_columns


class _Owners:
    """Node name -> class for the nodes of this placement: every owned node, and of offers only
    the nodes the file says were bought. Looked up by name (`Problem.owners`), never listed:
    a pool of millions of nodes costs nothing here."""

    def __init__(self, problem: Problem, bought: set[str]) -> None:
        self.owners, self.bought, self.problem = problem.owners(), bought, problem
        self.found: dict[str, NodeClass | None] = {}  # each check reads the same nodes again

    def get(self, name: Any, default: Any = None) -> Any:
        if not isinstance(name, str):
            return default
        node_class = self.found.get(name, self)
        if node_class is self:
            node_class = self.owners.get(name)
            if node_class is not None and node_class.provisioned and name not in self.bought:
                node_class = None
            self.found[name] = node_class
        return default if node_class is None else node_class

    def __contains__(self, name: Any) -> bool:
        return self.get(name) is not None

    def __getitem__(self, name: str) -> NodeClass:
        node_class = self.get(name)
        if node_class is None:
            raise KeyError(name)
        return node_class

    def counts(self) -> dict[str, int]:
        """Class id -> its nodes here (owned: all; offers: those bought)."""
        counts = {c.id: len(c.node_names) for c in self.problem.classes if not c.provisioned}
        for name in sorted(self.bought):
            node_class = self.get(name)
            if node_class is not None:
                counts[node_class.id] = counts.get(node_class.id, 0) + 1
        return {class_id: count for class_id, count in counts.items() if count}


def verify(problem: Problem, document: Any, root: str = "", shaped: bool = False
           ) -> tuple[list[Diagnostic], list[FileProblem]]:
    """(violations: E0503 diagnostics, problems with the file itself). `root`: the policy's
    root file, where a violation with no place in the policy points. `shaped`: the document
    is one `PlacementRead` validated (its shape is not checked again)."""
    shape = [] if shaped else _shape_problems(document)
    if shape:
        return [], shape
    if problem.holds:  # running jobs' room held until a step: pinned work (`held_room.py`)
        from fitlang.solve.held_room import held_document, with_holds

        problem, document = with_holds(problem), held_document(problem, document)
    bought = {n["name"] for n in document.get("nodes", [])
              if isinstance(n, dict) and n.get("provisioned")}
    owner = _Owners(problem, bought)
    demands = {d.name: d for d in problem.demands}
    read = read_columns(demands, owner, document["assignments"])  # None: a violation among them
    seen: set[tuple[str, int]] | PairsPlaced
    if read is None:  # the loop, for its diagnostics
        hosted, seen, violations = _read(demands, owner, document["assignments"], root, problem.running_jobs)
        placed = None
    else:
        (hosted, seen, placed), violations = read, []
    return _checked(problem, owner, demands, hosted, seen, _unplaced(demands, document), bought,
                    document, root, violations, placed), []


_UNSEEN = object()
_NONE_RUNNING: Mapping[str, tuple[str, ...]] = {}


def _read(demands: dict[str, Demand], owner: _Owners, assignments: list[dict], root: str,
          running: Mapping[str, tuple[str, ...]] = _NONE_RUNNING
          ) -> tuple[dict[str, Counter], set[tuple[str, int]], list[Diagnostic]]:
    """The replicas per node (node -> demand -> replicas there), the (demand, replica) numbers
    placed, and the violations found reading them, in the file's order: an unknown workload
    or node, a replica twice or out of range (`running`: per workload, its running jobs, named
    where a replica past its count may be one of them placed again), a class the demand may not
    use. A turn per assignment (147,787 at 50,000 nodes): each node's class and each demand's
    classes allowed are looked up once, here, rather than through a call per assignment."""
    violations: list[Diagnostic] = []
    hosted: dict[str, Counter] = {}
    seen: set[tuple[str, int]] = set()
    classes: dict[str, Any] = {}  # node -> its class (None: no node of this placement)
    allowed: set[tuple[str, str]] = set()  # (demand, class id) the demand may use
    for item in assignments:
        option = item.get("option")
        demand = demands.get(item["workload"]) if option is None else _demand_of(demands, item)
        if demand is None:
            violations.append(violation(root, f"placement names unknown workload `{_shown(item)}`",
                                        None))
            continue
        node = item["node"]
        node_class = classes.get(node, _UNSEEN)
        if node_class is _UNSEEN:
            node_class = classes[node] = owner.get(node)
        if node_class is None:
            violations.append(_not_a_node(root, demand, item["replica"], node))
            continue
        name, replica = demand.name, item["replica"]
        key = (name, replica)
        # a preemptible replica (issue 19) has one assignment per segment
        if (key in seen and demand.min_segment is None) or not 0 <= replica < demand.replicas:
            violations.append(_twice(root, demand, replica, running.get(name, ())))
        seen.add(key)
        counts = hosted.get(node)
        if counts is None:  # not setdefault: a Counter per assignment was half the time
            counts = hosted[node] = Counter()
        counts[name] = counts.get(name, 0) + 1
        if (name, node_class.id) not in allowed:
            if node_class.id in demand.excluded:
                violations.append(_excluded(root, demand, node, demand.excluded[node_class.id]))
            else:
                allowed.add((name, node_class.id))
    return hosted, seen, violations


def _not_a_node(root: str, demand: Demand, replica: int, node: str) -> Diagnostic:
    return violation(root, f"`{demand.name}` replica {replica} is on `{node}`, which is not a node of "
                     "this policy", demand.origin)


def _twice(root: str, demand: Demand, replica: int, running: tuple[str, ...] = ()) -> Diagnostic:
    """A replica numbered twice or past the workload's count; with a horizon and a current
    state, the count left once its running jobs run on (`Problem.running_jobs`): those are
    named, as a replica past it is most likely one of them placed again."""
    kept = (f"; its running jobs are not placed again: {', '.join(running)}"
            if running and replica >= demand.replicas else "")
    return violation(root, f"`{demand.name}` replica {replica} is placed twice or does not exist "
                     f"(replicas = {demand.replicas}{kept})", demand.spans.get("replicas", demand.origin))


def _excluded(root: str, demand: Demand, node: str, reason: Exclusion) -> Diagnostic:
    return violation(root, f"`{demand.name}` may not run on `{node}`: {reason.rule}"
                     + (f" ({reason.detail})" if reason.detail else ""), reason.origin or demand.origin)


def _checked(problem: Problem, owner: _Owners, demands: dict[str, Demand], hosted: dict[str, Counter],
             seen: set[tuple[str, int]] | PairsPlaced, unplaced: dict[str, list[int]], bought: set[str],
             document: dict, root: str, violations: list[Diagnostic], placed_count: Counter | None = None
             ) -> list[Diagnostic]:
    """Every rule's check over the replicas read (node -> demand -> replicas there), after
    the violations found reading them. `placed_count`: demand name -> replicas placed, where
    the reading counted them (else counted here from `seen`)."""
    placed_on: dict[str, Counter] = {}
    for node, counts in hosted.items():
        for name, amount in counts.items():
            if name not in placed_on:
                placed_on[name] = Counter()
            placed_on[name][node] += amount
    if placed_count is None:
        placed_count = Counter(map(itemgetter(0), seen))
    placed = Placed(problem, owner, demands, hosted, placed_on, seen, placed_count, unplaced, bought,
                    owner.counts(), root)
    timed = problem.timeline is not None
    for rule in rules.RULES:  # each rule's own check (fitlang/rules), in the registry's order
        if rule.check is not None and not (timed and rule.name in timing.PER_STEP):
            violations += rule.check(placed)
    if timed:  # with a horizon: windows, then every step on its own (issue 19)
        return violations + _timed(placed, document, root)
    violations += _objective(problem, owner, hosted, placed.used_per_class, document, root)
    return violations


def verify_state(problem: Problem, state: Mapping[str, Mapping[str, int]], bought: set[str],
                 root: str = "", counted: bool = True) -> list[Diagnostic]:
    """`verify` of a state of a move (node -> demand name -> replicas there) as `verify` reads
    the placement file that lists it (its replicas numbered from 0 per demand, nodes and
    demands in name order, the bought nodes listed; `_state_document` writes that file, and
    tests/test_verify.py checks, with a writer of its own, that both readings give the same
    violations in the same order): here its replicas are read per node
    and demand, not one assignment at a time (at 10,000 nodes the file's 17,000 assignments
    were half of each of a plan's dozen checks). `counted`: each demand is asked for as many
    replicas as the state holds (a state mid-move, where old and new replicas run side by
    side); else the policy's count (an end state, which must place every replica)."""
    if problem.timeline is not None:  # (a state has no times: read as its file, it breaks them)
        problem, document = _state_document(problem, state, bought, counted)
        found, problems = verify(problem, document, root)
        assert not problems, problems  # the document is made here: its shape is right
        return found
    if counted:
        problem = _counted(problem, _state_counts(state))
    owner = _Owners(problem, bought)
    demands = {d.name: d for d in problem.demands}
    hosted, seen, violations = read_state(demands, owner, state, root)
    document = {"assignments": [], "nodes": [{"name": n, "provisioned": True} for n in sorted(bought)]}
    return _checked(problem, owner, demands, hosted, seen, {}, bought, document, root, violations)


def read_state(demands: dict[str, Demand], owner: _Owners, state: Mapping[str, Mapping[str, int]],
               root: str) -> tuple[dict[str, Counter], set[tuple[str, int]], list[Diagnostic]]:
    """A state read as `verify` reads the file that lists it (see `verify_state`): the
    replicas per node of the policy's nodes, the (demand, replica) numbers placed, and the
    violations found reading them (a node the policy lacks, a class ruled out, a replica
    twice)."""
    violations: list[Diagnostic] = []
    hosted: dict[str, Counter] = {}
    seen: set[tuple[str, int]] = set()
    numbered: Counter = Counter()
    for node in sorted(state):
        node_class = owner.get(node)
        for name, amount in sorted(state[node].items()):
            if amount <= 0:
                continue
            demand = demands[name]
            first, numbered[name] = numbered[name], numbered[name] + amount
            if node_class is None:
                violations += [_not_a_node(root, demand, replica, node)
                               for replica in range(first, first + amount)]
                continue
            counts = hosted.get(node)
            if counts is None:
                counts = hosted[node] = Counter()
            counts[name] += amount
            reason = demand.excluded.get(node_class.id)
            if reason is None and first + amount <= demand.replicas:  # (numbered once each: no twice)
                seen.update((name, replica) for replica in range(first, first + amount))
                continue
            for replica in range(first, first + amount):  # (in the order the file lists them)
                key = (name, replica)
                if (key in seen and demand.min_segment is None) or replica >= demand.replicas:
                    violations.append(_twice(root, demand, replica))
                seen.add(key)
                if reason is not None:
                    violations.append(_excluded(root, demand, node, reason))
    return hosted, seen, violations


def _state_counts(state: Mapping[str, Mapping[str, int]]) -> Counter:
    counts: Counter = Counter()
    for node_counts in state.values():
        for name, amount in node_counts.items():
            if amount > 0:
                counts[name] += amount
    return counts


def _counted(problem: Problem, counts: Counter) -> Problem:
    """The problem asking for each demand's replicas as the state holds them."""
    import dataclasses

    return problem.with_demands([
        dataclasses.replace(d, replicas=counts[d.name]) if counts[d.name] != d.replicas else d
        for d in problem.demands])


def _state_document(problem: Problem, state: Mapping[str, Mapping[str, int]], bought: set[str],
                    counted: bool = True) -> tuple[Problem, dict]:
    """The placement file a state of a move is (see `verify_state`), and the problem it is
    read against."""
    counts: Counter = Counter()
    assignments = []
    for node in sorted(state):
        for name, amount in sorted(state[node].items()):
            demand = problem.demand(name)
            for _ in range(amount):
                item = {"workload": demand.workload, "replica": counts[name], "node": node}
                if demand.group is not None:
                    item["option"] = demand.option
                assignments.append(item)
                counts[name] += 1
    if counted:
        problem = _counted(problem, counts)
    document = {"assignments": assignments,
                "nodes": [{"name": n, "provisioned": True} for n in sorted(bought)]}
    return problem, document


def _unplaced(demands: dict[str, Demand], document: dict) -> dict[str, list[int]]:
    """Demand name -> replica numbers the placement lists as unplaced (an option workload:
    under its first option, as `fitc solve` lists it, or under its own name)."""
    listed: dict[str, list[int]] = {}
    first_option: dict[str, Demand] = {}  # option workload -> its first option's demand
    for option in demands.values():
        if option.group is not None:
            first_option.setdefault(option.group, option)
    for item in document.get("unplaced", []):
        demand = _demand_of(demands, item)
        if demand is None and isinstance(item.get("workload"), str):
            demand = first_option.get(item["workload"])
        name = demand.name if demand is not None else str(item.get("workload"))
        listed.setdefault(name, []).append(item.get("replica"))
    return listed


def _objective(problem: Problem, owner: Owners, hosted: dict[str, Counter],
               per_class: Counter, document: dict, root: str) -> list[Diagnostic]:
    """The stated objective, recomputed from the policy's node prices (cost), the nodes in use
    per class (nodes) or the preferences met; the stated lower bound is not above it; the
    nodes' stated prices are the policy's."""
    violations = []
    prices = {c.id: float(c.price) for c in problem.classes}  # floats: one check per node
    for node in document.get("nodes", []):
        if not isinstance(node, dict) or "price" not in node:
            continue
        node_class = owner.get(node.get("name"))  # one lookup a node: 27,421 at 50,000 nodes
        if node_class is None:
            continue
        stated = node["price"]
        if not isinstance(stated, (int, float)) or abs(stated - prices[node_class.id]) > _slack(stated):
            violations.append(violation(root, f"node `{node['name']}` is listed at "
                                        f"{node['price']} USD/h; the policy prices it at "
                                        f"{float(node_class.price):g} USD/h", node_class.origin))
    objective = document.get("objective")
    if not isinstance(objective, dict) or objective.get("value") is None:
        return violations
    value, bound = objective.get("value"), objective.get("lower_bound")
    actual = _recomputed(problem, objective.get("name"), owner, hosted, per_class)
    if not isinstance(value, (int, float)) or (actual is not None and not _close(value, actual)):
        violations.append(violation(root, f"the placement states {objective.get('name')} = "
                                    f"{value}; its nodes give "
                                    f"{float(actual) if actual is not None else '?'}", None))
    if isinstance(bound, (int, float)) and isinstance(value, (int, float)) and \
            bound > value + _slack(value):
        violations.append(violation(root, f"the stated lower bound {bound} is above the "
                                    f"objective {value}", None))
    return violations


def _recomputed(problem: Problem, name: Any, owner: Owners, hosted: dict[str, Counter],
                per_class: Counter) -> Fraction | None:
    if name == "cost":  # per class: a few exact products instead of a sum per node
        return sum((problem.node_class(c).price * k for c, k in per_class.items()), Fraction(0))
    if name == "nodes":
        return Fraction(sum(per_class.values()))
    if name == "preferences":  # the solver minimises minus the weights earned
        return -sum((problem.demand(w).preference.get(owner[node].id, Fraction(0)) * amount
                     for node, counts in hosted.items() for w, amount in counts.items()), Fraction(0))
    return None


def _slack(value: float) -> float:
    """The JSON rounds to 6 decimals; floats carry 1e-15 of relative error."""
    return 1e-6 + 1e-9 * abs(value)


def _close(stated: float, actual: Fraction) -> bool:
    return abs(Fraction(stated) - actual) <= _slack(float(actual))


def _demand_of(demands: dict[str, Demand], item: dict) -> Demand | None:
    """The demand an assignment names: its workload, or the workload's option (an option
    workload's assignment without its option names nothing)."""
    option = item.get("option")
    if not isinstance(option, str):
        return demands.get(item["workload"])
    demand = demands.get(option_demand_name(item["workload"], option))
    return demand if demand is not None and demand.group == item["workload"] else None


def _shown(item: dict) -> str:
    option = item.get("option")
    return item["workload"] + (f"` option `{option}" if option is not None else "")


def _shape_problems(document: Any) -> list[FileProblem]:
    """What is wrong with the file as a placement (`PlacementRead`), each wrong value named by
    its JSON path: `assignments[3].replica: input should be a valid integer (found "3")`."""
    from pydantic_core import ValidationError  # here: the language server loads this module

    from fitlang.core_schemas import validator  # `documents_read.PlacementRead`, no pydantic

    if not isinstance(document, dict) or not isinstance(document.get("assignments"), list):
        return [FileProblem("expected the JSON of `fitc solve --format json`: an object with "
                            "`assignments`", ())]
    try:
        validator("placement-input").validate_python(document)
    except ValidationError as error:
        from fitlang.documents_read import error_problems

        return error_problems(error)
    return []



def _timed(placed: Placed, document: dict, root: str) -> list[Diagnostic]:
    """A placement in time: each assignment's start and end read as steps, `timing.check_steps`
    over them, and the stated cost recomputed over the horizon from the policy's prices."""
    from datetime import datetime

    problem, timeline = placed.problem, placed.problem.timeline
    assert timeline is not None
    violations: list[Diagnostic] = []
    runs: list[timing.Run] = []

    def step_of(text: object) -> int | None:
        try:
            moment = datetime.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            return None
        if moment is None or moment.tzinfo is None:
            return None
        seconds = (moment - timeline.start).total_seconds()
        steps = seconds / timeline.step_seconds
        return int(steps) if steps == int(steps) and 0 <= steps <= timeline.steps else None

    for item in document["assignments"]:
        demand = _demand_of(placed.demands, item)
        if demand is None or item["node"] not in placed.owner:
            continue  # reported above
        start, end = step_of(item.get("start")), step_of(item.get("end"))
        if start is None or end is None or end <= start:
            violations.append(violation(root, f"`{demand.name}` replica {item['replica']} has no "
                                        "start and end on steps of the horizon (start "
                                        f"{item.get('start')!r}, end {item.get('end')!r})", demand.origin))
            continue
        runs.append(timing.Run(demand.name, item["replica"], item["node"], start, end))
    violations += timing.check_steps(placed, runs)
    objective = document.get("objective")
    recount = {"cost": ("USD", lambda: timing.horizon_cost(
                   problem, runs, lambda node, step: placed.owner[node].price_at(step))),
               "carbon": ("kgCO2e", lambda: carbon.horizon_carbon(
                   problem, runs, lambda node, step: placed.owner[node].carbon_at(step))),
               "makespan": ("h", lambda: completion.makespan(problem, runs)),
               "lateness": ("h", lambda: completion.lateness(problem, runs))}
    if isinstance(objective, dict) and objective.get("name") in recount and \
            isinstance(objective.get("value"), (int, float)):
        unit, count = recount[objective["name"]]
        actual = count()
        if not _close(objective["value"], actual):
            violations.append(violation(root, f"the placement states {objective['name']} = "
                                        f"{objective['value']} {unit} over the horizon; its runs "
                                        f"give {float(actual)}", None))
    return violations
