"""A placement read back from the JSON `fitc solve --format json` writes, for `fitc verify
--target`: the assignments and the nodes bought, in the solver's own terms."""

from __future__ import annotations

from fitlang.documents import AssignmentRead, PlacementRead
from fitlang.model.problem import Problem, option_demand_name
from fitlang.solve.linear import Status
from fitlang.solve.placement_result import Assignment, Placement

STATUSES = {status.value for status in Status}


def placement_from_document(problem: Problem, document: PlacementRead) -> Placement:
    """The document must have passed `verify` (its shape, `PlacementRead`, and its names are
    known good)."""
    objective = document.get("objective", {})
    status = document.get("status", "feasible")  # (any text, as verify reads it)
    placement = Placement(status=Status(status) if status in STATUSES else Status.UNKNOWN,
                          objective=str(objective.get("name", "cost")), value=None, bound=None)
    for item in document["assignments"]:
        option = item.get("option")
        demand = item["workload"] if option is None else option_demand_name(item["workload"], option)
        placement.assignments.append(_assignment(problem, demand, item))
    bought = {n["name"] for n in document.get("nodes", []) if n.get("provisioned")}
    owners = problem.owners()
    of_class: dict[int, list[str]] = {}  # bought names by class, looked up (not listed)
    for name in bought:
        node_class = owners.get(name)
        if node_class is not None and node_class.provisioned:
            of_class.setdefault(id(node_class), []).append(name)
    for node_class in problem.classes:
        names = owners.in_class_order(of_class.get(id(node_class), []))
        if names:
            placement.bought[node_class.id] = names
    return placement


def _assignment(problem: Problem, demand: str, item: AssignmentRead) -> Assignment:
    """With a horizon: the replica's start and end as steps (verify has checked them)."""
    timeline = problem.timeline
    if timeline is None or "start" not in item or "end" not in item:
        return Assignment(demand, item["replica"], item["node"])
    from datetime import datetime

    from fitlang.solve.timeline import TimedAssignment

    def step(text: str) -> int:
        seconds = (datetime.fromisoformat(text) - timeline.start).total_seconds()
        return int(seconds // timeline.step_seconds)

    return TimedAssignment(demand, item["replica"], item["node"], step(item["start"]), step(item["end"]))
