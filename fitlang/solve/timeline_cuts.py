"""Valid inequalities the time model's capacity rows lack: nodes are whole (issue 19).

The capacity row of a class, step and resource reads the nodes in use u[c,t] as divisible:
three replicas of 40% of a node count 1.2 nodes, where whole nodes need 2 (two fit a node,
never three). The rows here count whole nodes through dual-feasible functions (Fekete and
Schepers, "New classes of fast lower bounds for bin packing problems", Math. Programming
91, 2001): f maps a share of a node to a weight such that whatever fits one node has
weights summing to at most 1; then at each step the replicas running on a class's nodes
have weights summing to at most the nodes in use. The family used is theirs,

    u_k(x) = x                      where (k + 1) x is whole,
             floor((k + 1) x) / k   else,                     for k = 1, 2, 3,

dual feasible for every k >= 1 (their Theorem 2): a node holding shares x_i with sum <= 1
has sum floor((k + 1) x_i) <= k where no (k + 1) x_i is whole (so sum u_k <= 1), and the
whole ones only add their exact share. A replica's share is its charge (`charge_matrix`:
its request, or the whole node when nothing fits beside it: such a replica is alone on its
node, where u_k(1) = 1) over the node's capacity, per resource. So each row holds at every
step of every schedule that packs, and the model with them is still a relaxation (its bound
a proven bound: tests/test_timing.py checks it against enumerations). For k = 1 the row
counts the replicas of more than half a node (one each: two never share a node).

A row is added only where some replica running there weighs more than its share (else the
capacity row already implies it), scaled by k x capacity to keep its coefficients whole.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from fitlang.model.problem import RESOURCES
from fitlang.rules.base import GroupKey
from fitlang.solve.linear import Number

if TYPE_CHECKING:
    from fitlang.solve.timeline import TimeEncoding

ORDERS = (1, 2, 3)


@dataclass(frozen=True)
class WholeNodesGroup(GroupKey):
    """Whole nodes of a class at a step, counted by u_k of one resource's shares."""

    class_id: str
    step: int
    resource: str
    order: int


def scaled_weight(charge: int, capacity: int, order: int) -> int:
    """k x capacity x u_k(charge / capacity), a whole number."""
    if (order + 1) * charge % capacity == 0:
        return order * charge
    return ((order + 1) * charge // capacity) * capacity


def whole_node_rows(encoding: TimeEncoding) -> None:
    """Per class, step, resource and k: sum of k x capacity x u_k(share) x running replicas
    - k x capacity x u[c,t] <= 0, where some replica weighs more than its share."""
    for node_class in encoding.problem.classes:
        for position, resource in enumerate(RESOURCES):
            capacity = node_class.capacity[resource]
            if capacity <= 0:
                continue
            for order in ORDERS:
                for step in range(encoding.timeline.steps):
                    _add_row(encoding, node_class.id, step, position, resource, capacity, order)


def _add_row(encoding: TimeEncoding, class_id: str, step: int, position: int, resource: str,
             capacity: int, order: int) -> None:
    terms: dict[int, Number] = {}
    heavier = False
    for column, charge in encoding.running(class_id, step):
        amount = min(charge[position], capacity)
        if not amount:
            continue
        weight = scaled_weight(amount, capacity, order)
        heavier |= weight > order * amount
        if weight:
            terms[column] = terms.get(column, 0) + weight
    if heavier:
        terms[encoding.u[class_id, step]] = -order * capacity
        encoding.model.add(terms, upper=0, group=WholeNodesGroup(class_id, step, resource, order))
