"""Issue 18: which side of a plan's gap is loose, the plan's or its bound's? An offline study,
in process; not a test (the numbers go to docs/performance.md, session 44, h44e).

    .venv/bin/python bench/plan_sides.py DIR [--limit 5] [--at-rest ANSWER.json]

DIR holds the policy `p.fit` (with `move_price`) and what runs now, `now.json` (as
`move_bench.py` and `drains.py` write them). Printed, in USD/h:

- the plan (`make_plan` at `--limit` CPU seconds, the CPU clock as `e2eplan.py` runs it): its
  value, its bound, its end state's cost and what its moves are charged (value less cost);
- the charged LP (`move_bound.moves_lower_bound`'s relaxation, no deadline): its value split
  into the cost of its node counts and the rest, what it charges for moves. The plan's gap is
  the two differences: end cost over the LP's, and moves charged over the LP's;
- with `--at-rest` (`fitc solve --format json` of the same policy, no current state: what the
  fleet at rest costs), that answer's cost, and the answer as a plan's end (its nodes renamed
  to keep what runs, `moving.keep_in_place`): the replicas moved and cost + moves.

Where the plan's end costs well over the fleet at rest while the LP's end costs under it with
as many moves as the plan's, the plan's side is the larger: a plan that reached a cheaper end
with the moves the LP counts would close it. (Run it again on the policy with a near-zero
`move_price`: where the plan's end stays over the fleet at rest with moves almost free, its
steps do not reach the cheaper ends at any price.)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

# the plan's deadlines on the CPU clock, as `e2eplan.py`'s: before fitlang is read, whose
# default clocks are bound when its functions are made
time.monotonic = time.process_time

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.problem import Problem  # noqa: E402
from fitlang.plan import make_plan  # noqa: E402
from fitlang.solve import bound, moving  # noqa: E402
from fitlang.solve.move_bound import _ChargedMoves  # noqa: E402
from fitlang.solve.placement_file import placement_from_document  # noqa: E402


def planned(directory: Path, limit: float) -> Problem:
    """The plan at `limit` CPU seconds (counted from reading the policy), printed; its problem."""
    began = time.process_time()
    compilation = Compilation(directory / "p.fit", current=str(directory / "now.json"))
    state = compilation.current_state()
    result = make_plan(compilation, state, limit - (time.process_time() - began), clock=time.process_time)
    problem, placement = result.problem, result.placement
    assert problem is not None and placement is not None and placement.value is not None
    end = moving.placed_state(placement)
    bought = {name for names in placement.bought.values() for name in names}
    cost = float(moving.state_cost(problem, end, bought))
    print(f"plan: value {float(placement.value):.2f}, bound {float(placement.bound or 0):.2f}, "
          f"end cost {cost:.2f}, moves charged {float(placement.value) - cost:.2f} "
          f"({moving.replicas_moved(problem, moving.current_state(problem), end)} replicas moved), "
          f"{time.process_time() - began:.2f} CPU s")
    return problem


def charged_lp(problem: Problem) -> None:
    """The charged LP's value, its node counts' cost and what it charges for moves."""
    charged = _ChargedMoves(problem, problem.move_price or 0)
    found = bound.lower_bound(problem, "cost", None, extend=charged.extend)
    assert found.relaxation is not None and found.lp_value is not None and charged.constant is not None
    relaxed = found.relaxation
    nodes = float(np.dot(relaxed.cost[:relaxed.first_pair], found.node_values))
    value = found.lp_value + float(charged.constant)
    print(f"charged LP: {value:.2f} (converged {found.converged}): node cost {nodes:.2f}, "
          f"moves {value - nodes:.2f}")


def at_rest(problem: Problem, path: Path) -> None:
    """The fleet at rest's answer: its cost, and as a plan's end, its moves and cost + moves."""
    document = json.loads(path.read_text())
    placement = placement_from_document(problem, document)
    moving.keep_in_place(problem, placement)
    end = moving.placed_state(placement)
    bought = {name for names in placement.bought.values() for name in names}
    moved = moving.replicas_moved(problem, moving.current_state(problem), end)
    value = moving.objective_value(problem, "cost+moves", end, bought)
    print(f"at rest: cost {float(moving.state_cost(problem, end, bought)):.2f} (its bound "
          f"{document.get('objective', {}).get('lower_bound')}); as a plan's end {moved} replicas moved, "
          f"cost + moves {float(value):.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--limit", type=float, default=5.0)
    parser.add_argument("--at-rest", type=Path)
    arguments = parser.parse_args()
    problem = planned(arguments.directory, arguments.limit)
    charged_lp(problem)
    if arguments.at_rest is not None:
        at_rest(problem, arguments.at_rest)


if __name__ == "__main__":
    main()
