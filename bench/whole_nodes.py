"""How much of `fitc plan`'s charged LP whole node counts explain (issue 18, h40k).

    .venv/bin/python bench/whole_nodes.py DIR [--classes accelerators|all] [--options]
        [--seconds 120]

DIR holds `p.fit` and `now.json` (h38g's inventory 10,000 instances). The charged relaxation
(`move_bound.moves_lower_bound`'s: `bound.lower_bound` with `_ChargedMoves.extend`) is solved
to convergence; its last master (the pairs it took in, the lazy rows its solutions broke) is
then solved again by HiGHS as a MIP, with the node count of each accelerator class (or of
every class) whole, and with `--options` each option demand's replicas whole as well (a whole
column per option demand, equal to the sum of its pairs).

What it says: the MIP's primal value less the LP's is at most what those whole counts add to
the bound over the relaxation's every column (the master's LP optimum is the relaxation's, as
the column generation converged; a MIP over fewer columns can only be dearer). A measurement,
not a bound `fitc` states: HiGHS's tolerances and its wall-clock limit (`--seconds`) apply.
Prints the charged bound, the accelerator classes whose count the LP leaves fractional, then
the MIP's status, primal value, dual bound and CPU seconds.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def plan_problem(folder: Path):
    """The problem `fitc plan` solves for `folder`'s `p.fit`, with what `now.json` says runs."""
    from fitlang.driver import Compilation
    from fitlang.model.build import with_current

    compilation = Compilation(folder / "p.fit", current=str(folder / "now.json"))
    program = compilation.check().program  # before `compilation.problem`, which the check builds
    return with_current(compilation.problem, program, compilation.current_state())


def converged_master(folder: Path):
    """The plan's problem, the converged charged bound, its constant and its last master."""
    from fitlang.solve import bound
    from fitlang.solve.move_bound import _ChargedMoves

    problem = plan_problem(folder)
    masters: list = []
    made = bound._Master.__init__

    def kept(master, *args, **kwargs) -> None:  # the last master built is the one that converged
        made(master, *args, **kwargs)
        masters.append(master)

    bound._Master.__init__ = kept  # type: ignore[method-assign]
    try:
        charged = _ChargedMoves(problem, problem.move_price)
        found = bound.lower_bound(problem, "cost", None, extend=charged.extend)
    finally:
        bound._Master.__init__ = made  # type: ignore[method-assign]
    assert found.converged and charged.constant is not None
    return problem, found, float(charged.constant), masters[-1]


def accelerator_classes(problem, relaxed) -> list[int]:
    """The merged classes (positions) whose nodes have accelerators."""
    return sorted({relaxed.class_index[c.id] for c in problem.classes
                   if c.capacity.get("gpu", 0) > 0 and c.id in relaxed.class_index})


def whole_option_replicas(highs, found, master, grouped: set[str]) -> int:
    """Per option demand, a whole column equal to the sum of its pairs in the master; how many."""
    import highspy

    relaxed = found.relaxation
    pairs_of: dict[int, list[int]] = {}
    for column, kind in enumerate(master.kinds.tolist()):
        pair = kind - relaxed.first_pair
        if 0 <= pair < relaxed.pairs:
            demand = int(relaxed.pair_demand[pair])
            if any(name in grouped for name in found.members[demand]):
                pairs_of.setdefault(demand, []).append(column)
    for columns in pairs_of.values():
        highs.addCol(0.0, 0.0, highspy.kHighsInf, 0, np.zeros(0, dtype=np.int32), np.zeros(0))
        whole = highs.getNumCol() - 1
        highs.changeColIntegrality(whole, highspy.HighsVarType.kInteger)
        highs.addRow(0.0, 0.0, len(columns) + 1, np.array([*columns, whole], dtype=np.int32),
                     np.array([1.0] * len(columns) + [-1.0]))
    return len(pairs_of)


def measure(folder: Path, every_class: bool, options: bool, seconds: float) -> None:
    import highspy

    problem, found, constant, master = converged_master(folder)
    relaxed = found.relaxation
    print(f"charged bound {float(found.value) + constant:.2f} master {master.value + constant:.2f}")
    accelerators = accelerator_classes(problem, relaxed)
    nodes = master.node_values()
    fractional = {c: round(float(nodes[c]), 3) for c in accelerators
                  if abs(nodes[c] - round(nodes[c])) > 1e-6}
    print(f"accelerator classes {len(accelerators)}, fractional in the LP: {fractional}")
    highs = master.highs
    highs.setOptionValue("time_limit", seconds)
    highs.setOptionValue("presolve", "on")
    highs.setOptionValue("mip_rel_gap", 1e-4)
    column_of = {int(kind): column for column, kind in enumerate(master.kinds.tolist()) if kind >= 0}
    for class_at in range(relaxed.first_pair) if every_class else accelerators:
        highs.changeColIntegrality(column_of[class_at], highspy.HighsVarType.kInteger)
    if options:
        grouped = {name for group in problem.option_groups for name in group.demands}
        print(f"option demands made whole: {whole_option_replicas(highs, found, master, grouped)}")
    started = time.process_time()
    highs.run()
    info = highs.getInfo()
    print(f"MIP ({'every class' if every_class else 'accelerator classes'}"
          f"{', option replicas' if options else ''}): "
          f"{highs.modelStatusToString(highs.getModelStatus())} primal "
          f"{info.objective_function_value + constant:.2f} dual {info.mip_dual_bound + constant:.2f} "
          f"cpu {time.process_time() - started:.1f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--classes", choices=("accelerators", "all"), default="accelerators")
    parser.add_argument("--options", action="store_true")
    parser.add_argument("--seconds", type=float, default=120.0)
    arguments = parser.parse_args()
    measure(arguments.folder, arguments.classes == "all", arguments.options, arguments.seconds)


if __name__ == "__main__":
    main()
