"""Issue 18: the plan's target from the fleet solved at rest, its moves priced or not, against
the search from what runs. An offline study, in process on the CPU clock; not a test (the numbers
go to docs/performance.md, session 53, h53d).

    .venv/bin/python bench/rest_targets.py DIR [--limit 4] [--rest 3] [--kinds search,rest,split,halves]

DIR holds the policy `p.fit` (with `move_price`) and what runs now, `now.json` (as
`move_bench.py` / `mkplan.py` write them). Each kind prints its end's cost + moves (the plan's
objective, `moving.objective_value`), its cost, the replicas it moves, the replicas it places on a
class where their workload ran fewer (the class-level arrivals: moves no renaming of nodes
within a class can save) and whether `verify` finds a rule broken:

- `search`: the move from what runs (`move_scale.move_at_scale` at `--limit` CPU s, no bound
  beside it);
- `rest`: the policy solved at rest (`placement.solve` of the problem with nothing running, at
  `--rest` CPU s), its nodes renamed within each class to keep what runs (`moving.keep_in_place`),
  as `rest_target.py` makes the plan's target where both searches leave replicas out;
- `split`: at rest, each node in use a class of its own, which only the workloads running on it
  and those with replicas to place anew may use; the free nodes of each class priced
  `move_price` x the replicas a node of the class runs now (on average) more: a replica on a
  free node is a move, one back on its own node is not (the move price of a replica that
  leaves its node, node by node, in a model that knows only classes);
- `halves`: at rest, each class split into its nodes in use and its free ones, the free ones
  priced as in `split` (the class-level split: which node of the half a replica lands on is
  the packer's).
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from collections import Counter
from fractions import Fraction
from pathlib import Path

# the deadlines on the CPU clock, as `e2eplan.py`'s: before fitlang is read
time.monotonic = time.process_time

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.build import with_current  # noqa: E402
from fitlang.model.problem import NodeClass, Problem  # noqa: E402
from fitlang.solve import moving  # noqa: E402
from fitlang.solve.move_scale import move_at_scale  # noqa: E402
from fitlang.solve.placement import solve  # noqa: E402


def read(directory: Path) -> Problem:
    compilation = Compilation(directory / "p.fit", current=str(directory / "now.json"))
    compilation.check()
    problem = compilation.problem
    assert problem is not None
    return with_current(problem, compilation.check().program, compilation.current_state())


def stated(problem: Problem, kind: str, end: moving.State, bought: set[str], seconds: float) -> None:
    now = moving.current_state(problem)
    owners = problem.owners()

    def per_class(state: moving.State) -> Counter:
        counts: Counter = Counter()
        for node, hosted in state.items():
            for name, amount in hosted.items():
                counts[name, owners[node].id] += amount
        return counts

    before, after = per_class(now), per_class(end)
    arrivals = sum(max(0, amount - before[key]) for key, amount in after.items())
    broken = moving._Checker(problem, bought | set(problem.bought_now), "").broken(end)
    print(f"{kind}: cost + moves {float(moving.objective_value(problem, 'cost+moves', end, bought)):.2f}, "
          f"cost {float(moving.state_cost(problem, end, bought)):.2f}, "
          f"moves {moving.replicas_moved(problem, now, end)}, class-level arrivals {arrivals}, "
          f"rules broken {len(broken)}, {seconds:.2f} CPU s", flush=True)


def search(problem: Problem, limit: float) -> None:
    began = time.process_time()
    moved = dataclasses.replace(problem, objective=moving.move_objectives(problem), symmetric=[])
    _, fleet = move_at_scale(moved, "cost+moves", limit)
    stated(problem, "search", fleet.state(), set(fleet.bought), time.process_time() - began)


def at_rest(problem: Problem, kind: str, solved: Problem, seconds: float, renamed: bool) -> None:
    began = time.process_time()
    placement = solve(solved, time_limit=seconds)
    if placement.unplaced:
        print(f"{kind}: {len(placement.unplaced)} replicas left out")
        return
    if renamed:  # (the solved problem's classes, what runs on them now)
        moving.keep_in_place(dataclasses.replace(solved, running=problem.running), placement)
    bought = {name for names in placement.bought.values() for name in names}
    stated(problem, kind, moving.placed_state(placement), bought, time.process_time() - began)


def _in_use(problem: Problem) -> tuple[dict[str, list[str]], dict[str, Fraction]]:
    """Per class, its nodes in use now; and per class the move price of a free node's
    replicas (`move_price` x the replicas a node in use of the class runs, on average; of the
    fleet where the class has none in use)."""
    now = moving.current_state(problem)
    owners = problem.owners()
    used: dict[str, list[str]] = {}
    for node in sorted(now, key=owners.position):
        used.setdefault(owners[node].id, []).append(node)
    price = problem.move_price or Fraction(0)
    fleet = Fraction(sum(sum(c.values()) for c in now.values()), max(1, len(now)))
    surcharge = {c.id: price * (Fraction(sum(sum(now[n].values()) for n in used[c.id]), len(used[c.id]))
                                if c.id in used else fleet) for c in problem.classes}
    return used, surcharge


def _free_part(node_class: NodeClass, used: list[str], surcharge: Fraction) -> NodeClass | None:
    taken = set(used)
    names = [name for name in node_class.node_names if name not in taken]
    if not names:
        return None
    return dataclasses.replace(node_class, price=node_class.price + surcharge, count=len(names),
                               node_names=tuple(names))


def _at_rest(problem: Problem, classes: list[NodeClass], eligible) -> Problem:
    ids = {c.id for c in classes}
    demands = [dataclasses.replace(d, eligible=[c for c in eligible(d) if c in ids]) for d in problem.demands]
    caps = [dataclasses.replace(s, classes=[c for c in ids if c.split("@")[0] in set(s.classes)])
            for s in problem.power_caps]
    return dataclasses.replace(problem, classes=classes, demands=demands, running={}, running_elsewhere={},
                               bought_now=(), symmetric=[], power_caps=caps, objective=["cost"])


def split(problem: Problem) -> Problem:
    """Each node in use a class of its own (module's docstring)."""
    used, surcharge = _in_use(problem)
    runs_on: dict[str, set[str]] = {}
    for name, nodes in problem.running.items():
        for node in nodes:
            runs_on.setdefault(node, set()).add(name)
    anew = {d.name for d in problem.demands if problem.running_elsewhere.get(d.name, 0) or
            d.replicas > problem.running_total(d.name)}
    classes: list[NodeClass] = []
    own: dict[str, list[tuple[str, str]]] = {}  # class id -> (its node's class id, node)
    for node_class in problem.classes:
        for node in used.get(node_class.id, []):
            alone = f"{node_class.id}@{node}"
            classes.append(dataclasses.replace(
                node_class, id=alone, count=1, node_names=(node,),
                node_capacity={k: v for k, v in node_class.node_capacity.items() if k == node},
                node_taken={k: v for k, v in node_class.node_taken.items() if k == node},
                node_pods={k: v for k, v in node_class.node_pods.items() if k == node},
                node_hostnames={k: v for k, v in node_class.node_hostnames.items() if k == node}))
            own.setdefault(node_class.id, []).append((alone, node))
        free = _free_part(node_class, used.get(node_class.id, []), surcharge[node_class.id])
        if free is not None:
            classes.append(free)

    def eligible(demand) -> list[str]:
        return [c for class_id in demand.eligible for c in [class_id] + [
            alone for alone, node in own.get(class_id, [])
            if demand.name in runs_on.get(node, ()) or demand.name in anew]]
    return _at_rest(problem, classes, eligible)


def halves(problem: Problem) -> Problem:
    """Each class's nodes in use and its free ones (module's docstring)."""
    used, surcharge = _in_use(problem)
    classes: list[NodeClass] = []
    parts: dict[str, list[str]] = {}
    for node_class in problem.classes:
        nodes = used.get(node_class.id, [])
        if nodes:
            classes.append(dataclasses.replace(node_class, id=f"{node_class.id}@used", count=len(nodes),
                                               node_names=tuple(nodes)))
            parts.setdefault(node_class.id, []).append(f"{node_class.id}@used")
        free = _free_part(node_class, nodes, surcharge[node_class.id])
        if free is not None:
            classes.append(free)
            parts.setdefault(node_class.id, []).append(node_class.id)
    return _at_rest(problem, classes,
                    lambda d: [c for class_id in d.eligible for c in parts.get(class_id, [])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path)
    parser.add_argument("--limit", type=float, default=4.0)
    parser.add_argument("--rest", type=float, default=3.0)
    parser.add_argument("--kinds", default="search,rest,split,halves")
    arguments = parser.parse_args()
    problem = read(arguments.directory)
    kinds = arguments.kinds.split(",")
    if "search" in kinds:
        search(problem, arguments.limit)
    if "rest" in kinds:
        plain = dataclasses.replace(problem, running={}, running_elsewhere={})
        at_rest(problem, "rest", plain, arguments.rest, renamed=True)
    if "split" in kinds:
        at_rest(problem, "split", split(problem), arguments.rest, renamed=False)
    if "halves" in kinds:
        at_rest(problem, "halves", halves(problem), arguments.rest, renamed=True)


if __name__ == "__main__":
    main()
