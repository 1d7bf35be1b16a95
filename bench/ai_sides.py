"""Issue 15, the accelerator-heavy shape (`bench/ai_fleet.py`) at 10,000 nodes: which side of an
answer's gap is loose, and where the answer's excess sits. An offline study, in process; not a
test (the numbers go to docs/performance.md, session 54, h54b).

    PYTHONPATH=.:bench .venv/bin/python bench/ai_sides.py FILE ANSWER.json [--kinds]

The pair LP (`bound.lower_bound`, no deadline) on the problem as it is, then on restrictions of
it to the answer's choices, each one a restriction of the last (so each LP value is at least the
one before): every option group's options fixed to the answer's replicas of each (*options*);
every workload, options too, kept to the answer's replicas per zone (*zones*: the zone and region
spreads and the latency rules dropped, the answer's counts keep them); then per class
(*classes*). So `options - bound` is the answer's option choice in the LP's terms, `zones -
options` its zones, `classes - zones` the classes within them, and `answer - classes` the whole
nodes and how full they are. Beside: per zone, the answer's paid accelerator and CPU nodes
against the LP's node counts priced (its last solution, one vertex of its optimum). `--kinds`:
the zones and classes kept for the gangs, the other accelerator workloads and the CPU workloads
one kind at a time, and the answer against the classes' LP zone by zone.

Written apart from fitc's placement code: it reads the problem, the answer's assignments and
the LP's value and solution, nothing else.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import json
from collections.abc import Callable

from answer_sides import _problem


def _zone(node_class):
    return node_class.topology_value("zone")


def _placed(problem, answer: dict, key: Callable) -> tuple[dict[str, collections.Counter], dict]:
    """Per demand (an option's as `workload[option]`), its replicas per `key(class)`; and each
    node's class."""
    node_class = {name: c for c in problem.classes for name in c.node_names[:c.count]}
    found: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for assignment in answer["assignments"]:
        option = assignment.get("option")
        name = f"{assignment['workload']}[{option}]" if option else assignment["workload"]
        found[name][key(node_class[assignment["node"]])] += 1
    return found, node_class


def _kind(demand) -> str:
    if demand.gang:
        return "gang"
    asks = {r for r, v in demand.requests.items() if v and r not in ("cpu", "memory", "disk")}
    return "accelerator" if asks or demand.group is not None else "cpu"


def _kept(problem, counts, key: Callable | None, which: Callable = lambda demand: True):
    """The problem with the demands `which` picks kept to the answer's: options as the answer's
    counts of each (groups dropped), then with `key`, split per value of it."""
    grouped = {name for group in problem.option_groups for name in group.demands}
    demands = []
    for demand in problem.demands:
        by_value = counts.get(demand.name)
        if not which(demand):
            demands.append(demand)
            continue
        if demand.name in grouped:
            if not by_value:
                continue
            demand = dataclasses.replace(demand, group=None, option=None, replicas=sum(by_value.values()))
        if key is None or not by_value:
            demands.append(demand)
            continue
        spreads = [s for s in demand.spreads if s.topology == "node"]
        for i, (value, replicas) in enumerate(sorted(by_value.items(), key=lambda item: str(item[0]))):
            eligible = [c for c in demand.eligible if key(problem.node_class(c)) == value]
            name = demand.name if i == 0 else f"{demand.name}@{value}"
            demands.append(dataclasses.replace(demand, name=name, replicas=replicas, spreads=spreads,
                                               latency=[], eligible=eligible))
    groups = [group for group in problem.option_groups
              if not any(which(problem.demand(name)) for name in group.demands)]
    return dataclasses.replace(problem, demands=demands, option_groups=groups)


def _bound(problem):
    from fitlang.solve.bound import lower_bound

    found = lower_bound(problem, "cost")
    assert found.value is not None
    return found


def _lp_by_zone(found) -> dict[tuple[str, bool], float]:
    """The LP's last solution's nodes priced, per (zone, has accelerators)."""
    from fitlang.solve.bound import merged_classes

    merged, _, _ = merged_classes(found.problem)
    costs: dict[tuple[str, bool], float] = collections.defaultdict(float)
    for position, node_class in enumerate(merged):
        costs[(str(_zone(node_class)), node_class.accelerator is not None)] += \
            float(node_class.price) * found.node_values[position]
    return costs


def _answer_by_zone(answer: dict, node_class: dict) -> dict[tuple[str, bool], float]:
    costs: dict[tuple[str, bool], float] = collections.defaultdict(float)
    for name in {assignment["node"] for assignment in answer["assignments"]}:
        c = node_class[name]
        costs[(str(_zone(c)), c.accelerator is not None)] += float(c.price)
    return costs


def study(path: str, answer_path: str) -> None:
    problem = _problem(path)
    with open(answer_path) as handle:
        answer = json.load(handle)
    value = float(answer["objective"]["value"])
    found = _bound(problem)
    bound = float(found.value)
    print(f"{path} {answer_path}: answer {value:.2f}, bound {bound:.2f}, gap {value - bound:.2f}")
    _, node_class = _placed(problem, answer, lambda c: c.id)
    paid, lp = _answer_by_zone(answer, node_class), _lp_by_zone(found)
    print("  zone: answer accelerator / CPU nodes, the LP's, the difference")
    for zone in sorted({zone for zone, _ in paid} | {zone for zone, _ in lp}):
        a1, a0, l1, l0 = paid[(zone, True)], paid[(zone, False)], lp[(zone, True)], lp[(zone, False)]
        print(f"  {zone}: {a1:10.2f} {a0:9.2f} | {l1:10.2f} {l0:9.2f} | {a1 - l1:+9.2f} {a0 - l0:+9.2f}")
    last = bound
    for side, key in (("options", None), ("zones", _zone), ("classes", lambda c: c.id)):
        counts, _ = _placed(problem, answer, key or (lambda c: c.id))
        kept_to = float(_bound(_kept(problem, counts, key)).value)
        print(f"  kept to the answer's {side}: {kept_to:.2f} (+{kept_to - last:.2f})")
        last = kept_to
    print(f"  the answer over the classes' LP (whole nodes, how full): {value - last:.2f}")


def kinds(path: str, answer_path: str) -> None:
    problem = _problem(path)
    with open(answer_path) as handle:
        answer = json.load(handle)
    bound = float(_bound(problem).value)
    for side, key in (("zones", _zone), ("classes", lambda c: c.id)):
        counts, _ = _placed(problem, answer, key)
        for kind in ("gang", "accelerator", "cpu"):
            kept_to = float(_bound(_kept(problem, counts, key, lambda d, kind=kind: _kind(d) == kind)).value)
            print(f"  {side} of the {kind} workloads alone kept: +{kept_to - bound:.2f}")
    counts, node_class = _placed(problem, answer, lambda c: c.id)
    lp = _lp_by_zone(_bound(_kept(problem, counts, lambda c: c.id)))
    paid = _answer_by_zone(answer, node_class)
    print("  the answer over the classes' LP per zone: accelerator / CPU nodes")
    for zone in sorted({zone for zone, _ in paid}):
        over = [paid[(zone, accelerators)] - lp[(zone, accelerators)] for accelerators in (True, False)]
        print(f"  {zone}: {over[0]:+9.2f} {over[1]:+9.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("answer")
    parser.add_argument("--kinds", action="store_true", help="one kind of workload at a time (`kinds`)")
    args = parser.parse_args()
    (kinds if args.kinds else study)(args.file, args.answer)


if __name__ == "__main__":
    main()
