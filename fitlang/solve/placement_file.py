"""A placement read back from the JSON `fitc solve --format json` writes, for `fitc verify
--target`: the assignments and the nodes bought, in the solver's own terms."""

from __future__ import annotations

from fitlang.model.problem import Problem, option_demand_name
from fitlang.solve.placement import Assignment, Placement


def placement_from_document(problem: Problem, document: dict) -> Placement:
    """The document must have passed `verify` (its shape and names are known good)."""
    objective = document.get("objective") if isinstance(document.get("objective"), dict) else {}
    placement = Placement(status=str(document.get("status", "feasible")),
                          objective=str(objective.get("name", "cost")), value=None, bound=None)
    for item in document["assignments"]:
        option = item.get("option")
        demand = item["workload"] if option is None else option_demand_name(item["workload"], option)
        placement.assignments.append(Assignment(demand, item["replica"], item["node"]))
    bought = {n["name"] for n in document.get("nodes", [])
              if isinstance(n, dict) and n.get("provisioned")}
    for node_class in problem.classes:
        names = [name for name in node_class.node_names if name in bought]
        if node_class.provisioned and names:
            placement.bought[node_class.id] = names
    return placement
