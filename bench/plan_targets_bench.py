"""What writing a plan's per-wave files costs (`fitc plan --target T --out DIR`, issue 18).

    .venv/bin/python bench/plan_targets_bench.py                  # 201 nodes, seed 0
    .venv/bin/python bench/plan_targets_bench.py --nodes 999
    .venv/bin/python bench/plan_targets_bench.py --reached  # `fitc compile --current`'s files

With `--reached`, the files of the state the plan reaches (`Target.render_reached`, what
`fitc compile --current` writes) are timed instead, beside `render` of the same end placement
(what `fitc compile` writes for it: per-pool Deployments).

The fleet and the state of bench/move_bench.py (three pools of alike nodes, 40 workloads,
what runs now a third of the fleet, spread at random). The plan is made once; then, per
target, `render_plan` (the stages and the files, not the solve) is timed in CPU time of this
process (the machine is shared: CPU time, not wall time), and the files and bytes counted.
Kubernetes writes every Deployment the plan uses into every step of every wave (at 0 where
none run): its size grows with waves x (workload, node) pairs. Not a test.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from move_bench import pools_fleet  # noqa: E402

from fitlang.driver import Compilation  # noqa: E402
from fitlang.plan import make_plan  # noqa: E402
from fitlang.targets.waves import render_plan  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=201)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--reached", action="store_true",
                        help="time compile --current's files (render_reached) and render's")
    arguments = parser.parse_args()
    text, state = pools_fleet(arguments.nodes, arguments.seed)
    with tempfile.TemporaryDirectory() as directory:
        policy, current = Path(directory) / "p.fit", Path(directory) / "now.json"
        policy.write_text(text.replace("  replicas =", '  image = "bench:1"\n  replicas ='))
        current.write_text(json.dumps(state))
        compilation = Compilation(policy, current=str(current))
        result = make_plan(compilation, compilation.current_state(), 60.0)
        assert result.plan is not None, [d.message for d in result.diagnostics]
        plan = result.plan
        print(f"{len(state['assignments'])} replicas on {arguments.nodes} nodes: {plan.moves} moves "
              f"in {len(plan.waves)} waves, {len(plan.drained)} nodes drained")
        program = compilation.check().program
        if arguments.reached:
            _reached(compilation)
            return
        for target in ("kubernetes", "slurm", "terraform"):
            started = time.process_time()
            files, found = render_plan(result, program, [target])
            spent = time.process_time() - started
            size = sum(len(text.encode()) for text in files.values())
            print(f"  {target:<10} {len(files):6d} files {size / 2 ** 20:8.2f} MiB "
                  f"{spent:7.2f} s CPU, {len(found)} warning(s)")


def _reached(compilation: Compilation) -> None:
    """`render_reached` per target against `render` of the same end placement, CPU time."""
    from fitlang.plan import target_placement
    from fitlang.targets import TARGETS, CompileContext

    reached = target_placement(compilation, 60.0)
    assert reached.stages is not None
    context = CompileContext(compilation.check().program, compilation.problem, reached.placement)
    for name in ("kubernetes", "slurm", "terraform"):
        target = TARGETS[name]()
        renders = (("render_reached", lambda t=target: t.render_reached(context, reached.stages)[0]),
                   ("render", lambda t=target: t.render(context)))
        for how, write in renders:
            started = time.process_time()
            files = write()
            spent = time.process_time() - started
            size = sum(len(text.encode()) for text in files.values())
            print(f"  {name:<10} {how:<14} {len(files):6d} files {size / 2 ** 20:8.2f} MiB "
                  f"{spent:7.2f} s CPU")


if __name__ == "__main__":
    main()
