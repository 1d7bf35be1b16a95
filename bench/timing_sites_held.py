"""What a fitc schedule's choices of class and start cost against the time model's LP: a diagnostic.

    .venv/bin/python bench/timing_sites_held.py POLICY.fit ANSWER.json
    .venv/bin/python bench/timing_sites_held.py POLICY.fit ANSWER.json --held classes kinds

ANSWER.json is `fitc solve POLICY.fit --format json`'s output. The time model's LP (dual
simplex, no limit) is solved once free, then again with each job's start columns held to what
the answer chose (preemptible jobs stay free: their segments have columns of their own):

- `classes`: only the classes the answer runs the job on (any start in its window);
- `starts`: only the starts the answer runs it at (any class);
- `pairs`: only the (class, start) pairs the answer uses (how many replicas on each stays free);
- `kinds`: `pairs` for one kind of job at a time (services, whole-node H100 training, other GPU
  work, recurring jobs, CPU batch), the others free.

Each rise over the free LP is what the answer's choice costs where nodes were fractional: the
rest of the answer's excess over the LP (`timing_sites_waste.py`'s rounding and fragments) is
the price of whole nodes and of runs that keep their node. Not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from fitlang.driver import Compilation
from fitlang.model.problem import Demand, Problem
from fitlang.solve.backends import HighsBackend
from fitlang.solve.timeline import OBJECTIVES, TimeEncoding, _relaxed, encode

Pairs = dict[str, set[tuple[str, int]]]  # job -> the (class, start) pairs the answer uses


def answer_pairs(problem: Problem, answer: dict) -> Pairs:
    """Job -> the (class, start) pairs the answer runs its replicas at."""
    timeline = problem.timeline
    assert timeline is not None
    owners = problem.owners()

    def step(moment: str) -> int:
        since = datetime.fromisoformat(moment.replace("Z", "+00:00")) - timeline.start
        return int(since.total_seconds() // timeline.step_seconds)

    pairs: Pairs = {}
    for assignment in answer["assignments"]:
        pairs.setdefault(assignment["workload"], set()).add(
            (owners[assignment["node"]].id, step(assignment["start"])))
    return pairs


def kind_of(demand: Demand, steps: int) -> str:
    if demand.window is not None and demand.window.duration >= steps:
        return "service"
    if len(demand.windows) > 1:
        return "recurring"
    if demand.requests.get("gpu", 0) >= 8:
        return "h100 training"
    return "gpu" if demand.requests.get("gpu", 0) else "cpu batch"


def lp_value(encoding: TimeEncoding) -> float:
    began = time.process_time()
    with _relaxed(encoding.model):
        outcome = HighsBackend().minimise(encoding.model, OBJECTIVES["cost"](encoding))
    print(f"  ({time.process_time() - began:.1f} CPU s)", file=sys.stderr)
    assert outcome.objective is not None, outcome.status
    return float(outcome.objective)


def held_lp(problem: Problem, pairs: Pairs, keeps: Callable[[str, str, int], bool]) -> float:
    """The LP with every start column (job, class, start) that `keeps` refuses set to 0."""
    assert problem.timeline is not None
    encoding = encode(problem, problem.timeline)
    for (name, class_id, start), column in encoding.x.items():
        if name in pairs and not keeps(name, class_id, start):
            encoding.model.set_bounds(column, 0, 0)
    return lp_value(encoding)


def kind_held(pairs: Pairs, kinds: dict[str, str], kind: str) -> Callable[[str, str, int], bool]:
    """`pairs` for the jobs of one kind, the others free."""
    def keeps(name: str, class_id: str, start: int) -> bool:
        return kinds[name] != kind or (class_id, start) in pairs[name]
    return keeps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("policy")
    parser.add_argument("answer")
    parser.add_argument("--held", nargs="*", default=["classes", "starts", "pairs"],
                        help="classes starts pairs kinds")
    arguments = parser.parse_args()
    problem = Compilation(Path(arguments.policy)).problem
    assert problem is not None and problem.timeline is not None
    answer = json.loads(Path(arguments.answer).read_text())
    pairs = answer_pairs(problem, answer)
    free = lp_value(encode(problem, problem.timeline))
    value = float(answer["objective"]["value"])
    print(f"answer {value:,.2f} (+{100 * (value / free - 1):.3f}% over the LP {free:,.2f})")
    rules: dict[str, Callable[[str, str, int], bool]] = {
        "classes": lambda name, class_id, _: any(class_id == c for c, _ in pairs[name]),
        "starts": lambda name, _, start: any(start == s for _, s in pairs[name]),
        "pairs": lambda name, class_id, start: (class_id, start) in pairs[name]}
    rows: list[tuple[str, float]] = []
    for held in arguments.held:
        if held in rules:
            rows.append((held, held_lp(problem, pairs, rules[held])))
        elif held == "kinds":
            steps = problem.timeline.steps
            kinds = {d.name: kind_of(d, steps) for d in problem.demands}
            for kind in sorted(set(kinds.values())):
                rows.append((f"pairs of {kind} only", held_lp(problem, pairs, kind_held(pairs, kinds, kind))))
    print("| held to the answer's | LP | rise over the free LP |")
    print("|---|---|---|")
    for name, held_value in rows:
        rise = held_value - free
        print(f"| {name} | {held_value:,.2f} | +{rise:,.2f} (+{100 * rise / free:.3f}%) |")


if __name__ == "__main__":
    main()
