"""Issue 15, the inventory shape at 10,000 nodes: how much of an answer's gap is the zones its
CPU workloads run in, and how much the classes they run on? An offline study, in process; not a
test (the numbers go to docs/performance.md, session 39, h39b).

    .venv/bin/python bench/answer_sides.py FILE ANSWER.json [ANSWER.json ...] [--by-zone]

The pair LP (`bound.lower_bound`, no deadline) is solved on the problem as it is, then on the
problem with the answer's choices written into it, per CPU workload (no GPU request, not an
option of a group):

- *zones*: each such workload split into one demand per zone it runs in, with the answer's
  replicas there and only that zone's classes (its zone spreads dropped: the counts per zone
  are the answer's, which keep them);
- *classes*: likewise one demand per class it runs on (only its node spreads kept).

Each split is a restriction of the relaxed problem, so its LP value is at least the bound; the
rise is what the answer's choice costs the relaxation: `zones - bound` is what moving the CPU
workloads to the LP's zones could save at most in the LP's terms, `classes - zones` the class
mix within the zones, and `answer - classes` the whole nodes and how full they are (the GPU
workloads stay free in every split). The splits are asked of the zoned CPU services (a zone
spread, a zone rule towards or from another workload, a latency rule) alone and of every CPU
workload.

Written apart from fitc's placement code: it reads the problem, the answer's assignments and
the LP's value, nothing else.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import json
import time
from collections.abc import Callable


def _problem(path: str):
    from fitlang.cli import compilation_of
    from fitlang.model.build import build_problem

    result = compilation_of(path).check()
    assert not result.has_errors, result.diagnostics[:3]
    return build_problem(result.program).problem


def _placed(problem, answer: dict, key: Callable) -> dict[str, collections.Counter]:
    """Per workload, its replicas per `key(class)` in the answer."""
    node_class = {name: c for c in problem.classes for name in c.node_names[:c.count]}
    found: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    for assignment in answer["assignments"]:
        found[assignment["workload"]][key(node_class[assignment["node"]])] += 1
    return found


def _spread(problem, demand) -> bool:
    return any(s.topology == "zone" for s in demand.spreads)


def _apart(problem, demand) -> bool:
    towards = problem.affinity_topologies_towards.get(demand.name, set())
    return "zone" in towards or any(r.topology == "zone" for r in demand.affinities)


def _latency(problem, demand) -> bool:
    return bool(demand.latency)


def _zoned(problem, demand) -> bool:
    return _spread(problem, demand) or _apart(problem, demand) or _latency(problem, demand)


def _split(problem, placed: dict[str, collections.Counter], key: Callable, which: Callable,
           spreads_kept: str):
    """The problem with each CPU workload `which` picks split per value of `key` it has in the
    answer: the answer's replicas there, only the classes of that value, the spreads over
    topologies other than `spreads_kept`'s dropped (the split's counts are the answer's)."""
    demands = []
    for demand in problem.demands:
        counts = placed.get(demand.name)
        if not counts or demand.requests.get("gpu") or demand.group is not None or not which(demand):
            demands.append(demand)
            continue
        spreads = [s for s in demand.spreads if s.topology in spreads_kept]
        for i, (value, replicas) in enumerate(sorted(counts.items(), key=lambda item: str(item[0]))):
            eligible = [c for c in demand.eligible if key(problem.node_class(c)) == value]
            name = demand.name if i == 0 else f"{demand.name}@{value}"
            demands.append(dataclasses.replace(demand, name=name, replicas=replicas, spreads=spreads,
                                               eligible=eligible))
    return dataclasses.replace(problem, demands=demands)


def _bound(problem) -> float:
    from fitlang.solve.bound import lower_bound

    found = lower_bound(problem, "cost")
    assert found.value is not None
    return float(found.value)


def study(path: str, answer_path: str) -> None:
    problem = _problem(path)
    with open(answer_path) as handle:
        answer = json.load(handle)
    value = float(answer["objective"]["value"])
    started = time.process_time()
    bound = _bound(problem)
    print(f"{path} {answer_path}: answer {value:.3f}, bound {bound:.3f}, gap {value - bound:.3f} "
          f"({time.process_time() - started:.1f} CPU s)")
    keys = {"zones": (lambda c: c.topology_value("zone"), ("node", "region")),
            "classes": (lambda c: c.id, ("node",))}
    whose = {"zoned CPU services": (_zoned, keys), "every CPU workload": (lambda p, d: True, keys),
             "zone spreads": (_spread, {"classes": keys["classes"]}),
             "zone rules between workloads": (_apart, {"classes": keys["classes"]}),
             "latency rules": (_latency, {"classes": keys["classes"]})}
    for label, (kind, sides) in whose.items():
        which = functools.partial(kind, problem)
        parts = []
        for side, (key, kept) in sides.items():
            kept_to = _bound(_split(problem, _placed(problem, answer, key), key, which, kept))
            parts.append(f"{side} {kept_to:.3f} (+{kept_to - bound:.3f})")
        print(f"  {label} kept to the answer's: " + ", ".join(parts))


def by_zone(path: str, answer_path: str) -> None:
    """Every CPU workload kept to the answer's zones, then in one zone at a time to its
    classes too: what each zone's class mix costs the relaxation."""
    problem = _problem(path)
    with open(answer_path) as handle:
        answer = json.load(handle)
    every = functools.partial(lambda p, d: True, problem)
    spreads_kept = ("node", "region")

    def zone(node_class):
        return node_class.topology_value("zone")

    zoned = _bound(_split(problem, _placed(problem, answer, zone), zone, every, spreads_kept))
    print(f"{path} {answer_path}: every CPU workload kept to the answer's zones {zoned:.3f}")
    zones = sorted({zone(c) for c in problem.classes if zone(c) is not None})
    for name in zones:
        def key(node_class, name=name):
            return node_class.id if zone(node_class) == name else zone(node_class)

        kept_to = _bound(_split(problem, _placed(problem, answer, key), key, every, spreads_kept))
        print(f"  and to its classes in {name}: {kept_to:.3f} (+{kept_to - zoned:.3f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("answers", nargs="+")
    parser.add_argument("--by-zone", action="store_true",
                        help="the class mix zone by zone, over the answer's zones (`by_zone`)")
    args = parser.parse_args()
    for answer in args.answers:
        (by_zone if args.by_zone else study)(args.file, answer)


if __name__ == "__main__":
    main()
