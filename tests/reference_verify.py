"""`fitc verify` against the independent reference: placements broken at random.

The reference's optimal placement of a random policy is changed (a replica moved to another
node, one left out, one added, an option swapped), written in `fitc solve`'s JSON contract,
and judged twice: by `fitc verify` (through its command line) and by the reference's own model
with every replica fixed where the placement puts it (`reference.reference(..., fixed=...)`).
They must agree on whether the placement meets every rule. Nothing here imports fitlang's
solver or model.
"""

from __future__ import annotations

import contextlib
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

import reference

Placement = dict[tuple[str, str | None, str], int]


@dataclass
class VerifyCheck:
    seed: int
    judged: int = 0
    rejected: int = 0  # by both
    disagreements: list[str] = field(default_factory=list)


def fitc_verify(policy: Path, document: dict, directory: Path) -> int:
    from fitlang.cli import main

    path = directory / "placement.json"
    path.write_text(json.dumps(document))
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        return main(["verify", str(policy), str(path)])


def check_verify(seed: int, directory: Path, changes: int = 6, time_limit: float = 10.0) -> VerifyCheck:
    spec = reference.generate(seed)
    result = VerifyCheck(seed)
    answer = reference.reference(spec, time_limit)
    if not answer.decided or not answer.feasible or not answer.placement:
        return result
    policy = directory / f"seed{seed}.fit"
    policy.write_text(reference.to_fit(spec))
    rng = random.Random(seed)
    nodes = reference.nodes_of(spec)
    for _ in range(changes):
        placement = _changed(spec, dict(answer.placement), nodes, rng)
        judged = reference.reference(spec, time_limit, fixed=placement)
        if judged.feasible is False and not judged.decided:
            continue  # (CP-SAT out of time: no verdict to compare with)
        document = _as_json(spec, placement, nodes)
        code = fitc_verify(policy, document, directory)
        result.judged += 1
        if (code == 0) != judged.feasible:
            said = "accepts" if code == 0 else f"rejects (exit {code})"
            truth = "meets every rule" if judged.feasible else "breaks a rule"
            result.disagreements.append(
                f"verify {said} a placement that {truth}: {sorted(placement.items())}")
        elif code != 0:
            result.rejected += 1
    return result


def _changed(spec: reference.Spec, placement: Placement, nodes: list[reference.Node],
             rng: random.Random) -> Placement:
    """One to three random changes: move, drop, add a replica, or swap its option."""
    for _ in range(rng.randint(1, 3)):
        kind = rng.choice(["move", "move", "drop", "add", "option"])
        keys = sorted(k for k, v in placement.items() if v)
        if not keys:
            break
        workload, option, node = key = rng.choice(keys)
        if kind == "add":
            target = (workload, option, rng.choice(nodes).name)
            placement[target] = placement.get(target, 0) + 1
            continue
        placement[key] -= 1
        if kind == "move":
            target = (workload, option, rng.choice(nodes).name)
            placement[target] = placement.get(target, 0) + 1
        elif kind == "option":
            options = [m for m, _ in next(w for w in spec.workloads if w.name == workload).options or []]
            target = (workload, rng.choice(options) if options else option, node)
            placement[target] = placement.get(target, 0) + 1
    return {k: v for k, v in placement.items() if v}


def _as_json(spec: reference.Spec, placement: Placement, nodes: list[reference.Node]) -> dict:
    """The placement as `fitc solve --format json` writes one (nodes bought where it runs on
    an offer's node; its cost from the nodes it uses)."""
    used = {node for (_, _, node) in placement}
    price = {n.name: n.price for n in nodes}
    answer = reference.Answer(True, sum((price[n] for n in used), 0) / reference.Fraction(100),
                              placement=placement,
                              bought=[n.name for n in nodes if n.buy is not None and n.name in used])
    return reference.placement_json(spec, answer)
