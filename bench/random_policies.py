"""Random small policies, solved and held to `verify`: a generator that shares nothing with
the solver's, looking for crashes and for placements that break a rule.

    .venv/bin/python bench/random_policies.py --first 3000 --count 400 --directory /tmp/random_policies

Each policy: 1-4 pools (0-200 nodes, with or without a zone, labels, a taint, an arch, a power
draw), 1-4 workloads (spreads, affinities and anti-affinities on nodes and zones, gangs,
`require`, priorities, tolerations, `exclusive`, arch lists, preferences), sometimes a budget
or a site power cap. Policies with errors are counted and skipped; each other one is solved
(5 s), its verdict decided as `fitc solve` does (an explanation where none is placed), and a
complete placement checked by `verify` on its JSON report. Prints a line per crash and per
broken rule (the file is kept in the directory), then the counts. Not a test: what it finds
becomes one (tests/test_complete_packing.py, tests/test_explain.py, tests/test_pair_pack.py).
"""

from __future__ import annotations

import argparse
import json
import random
import traceback
from collections import Counter
from collections.abc import Callable
from pathlib import Path


def _pool(rng: random.Random, index: int) -> str:
    lines = [f"pool p{index} {{", f"  count = {rng.choice([0, 1, 2, 3, 5, 50, 60, 170, 200])}",
             f"  cpu = {rng.choice([2, 4, 8, 16])}", f"  memory = {rng.choice([4, 8, 16, 64])}Gi",
             f"  price = {rng.choice(['0', '0.5', '1', '3'])} USD/h"]
    zone = rng.choice(["", "a", "b", "c"])
    if zone:
        lines.append(f'  zone = "{zone}"')
    if rng.random() < 0.3:
        lines.append(f'  labels = {{ "tier": "{rng.choice(["gold", "silver"])}" }}')
    if rng.random() < 0.2:
        lines.append('  dedicated = "gpu"')
    if rng.random() < 0.2:
        lines.append(f"  arch = {rng.choice(['arm64', 'amd64'])}")
    if rng.random() < 0.2:
        lines.append(f"  power = {rng.choice(['1kW', '5kW'])}")
    return "\n".join(lines + ["}"]) + "\n"


def _workload(rng: random.Random, index: int, earlier: list[str]) -> str:
    lines = [f"workload w{index} {{", f"  replicas = {rng.choice([0, 1, 2, 3, 5, 8, 30])}",
             f"  cpu = {rng.choice([1, 2, 4, 9])}", f"  memory = {rng.choice([1, 2, 8])}Gi"]
    if rng.random() < 0.3:
        lines.append(f"  spread {rng.choice(['zone', 'node'])} max_skew {rng.choice([1, 2])}")
    if rng.random() < 0.2:
        lines.append("  anti_affinity self on node")
    for rule, chance in (("affinity", 0.3), ("anti_affinity", 0.15)):
        if earlier and rng.random() < chance:
            lines.append(f"  {rule} {rng.choice(earlier)} on {rng.choice(['node', 'zone'])}")
    optional = [(0.15, "  gang = true"), (0.15, '  tolerate = ["gpu"]'), (0.1, "  exclusive = true"),
                (0.15, f'  require labels["tier"] == "{rng.choice(["gold", "silver"])}"'),
                (0.1, f"  priority = {rng.choice([1, 5, 10])}"),
                (0.15, f"  arch = [{rng.choice(['arm64', 'amd64', 'amd64, arm64'])}]"),
                (0.1, f'  prefer labels["tier"] == "gold" weight {rng.choice([1, 10])}')]
    lines += [line for chance, line in optional if rng.random() < chance]
    return "\n".join(lines + ["}"]) + "\n"


def policy(seed: int) -> str:
    rng = random.Random(seed)
    text = "".join(_pool(rng, i) for i in range(rng.randint(1, 4)))
    names: list[str] = []
    for index in range(rng.randint(1, 4)):
        text += _workload(rng, index, names)
        names.append(f"w{index}")
    if rng.random() < 0.2:
        text += f"policy {{\n  budget = {rng.choice([1, 5, 50])} USD/h\n}}\n"
    if rng.random() < 0.2:
        text += f"power_cap site {{\n  cap = {rng.choice(['2kW', '10kW'])}\n}}\n"
    return text


def _tried(path: Path) -> str:
    """'error', 'placed', 'not placed', or what broke: 'crash: ...', 'broken: ...'."""
    from fitlang.driver import Compilation
    from fitlang.solve.report import as_json
    from fitlang.solve.verify import verify

    compilation = Compilation(path)
    if any(d.is_error for d in compilation.diagnostics()):
        return "error"
    placement = compilation.solve("auto", 5.0)
    compilation.verdict(placement, 5.0, 10.0)
    if not placement.assignments or placement.unplaced:
        return "not placed"
    problem = compilation.problem
    assert problem is not None
    violations, problems = verify(problem, json.loads(as_json(problem, placement, [])))
    if violations or problems:
        return "broken: " + "; ".join([d.message for d in violations][:2] + [p.text for p in problems[:2]])
    return "placed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--first", type=int, default=0)
    parser.add_argument("--count", type=int, default=100)
    parser.add_argument("--directory", type=Path, default=Path("/tmp/random_policies"))
    arguments = parser.parse_args()
    searched(policy, _tried, arguments.directory / "r", arguments.first, arguments.count)


def searched(policy: Callable[[int], str], tried: Callable[[Path], str], prefix: Path, first: int,
             count: int) -> None:
    """Each seed's policy written to `prefix`<seed>.fit and tried ('kind' or 'kind: what');
    a crash or a broken rule printed (its file kept), then the counts of each kind."""
    prefix.parent.mkdir(parents=True, exist_ok=True)
    outcomes: Counter = Counter()
    for seed in range(first, first + count):
        path = prefix.parent / f"{prefix.name}{seed}.fit"
        path.write_text(policy(seed))
        try:
            outcome = tried(path)
        except Exception:  # a crash is what this looks for
            outcome = "crash: " + traceback.format_exc().splitlines()[-1]
        kind = outcome.split(":")[0]
        outcomes[kind] += 1
        if kind in ("crash", "broken"):
            print(f"{path}: {outcome}", flush=True)
        else:
            path.unlink()
    print(json.dumps(dict(sorted(outcomes.items()))))

if __name__ == "__main__":
    main()
