"""How the sites shape's bounds lift over the time model's LP as the fleet grows (issue 19).

    .venv/bin/python bench/timing_sites_sizes.py --nodes 50 100 200 400 --seed 1 --mip-seconds 120
    .venv/bin/python bench/timing_sites_sizes.py --fit sites-s1.fit          # an instance as written

On `timing_sites.generate(N, 168, N, SEED)` (N jobs, N nodes; preemptible jobs left out unless
`--preemptible`, so that every relaxation sees the instance a node-level reference would) or on
a written instance, three true lower bounds, each against the time model's LP (what fitc
states as its bound at the goal size):

- the LP with a whole-node row per run, class and step: the replicas of one run running on a
  class at a step, X of them, need at least X / m awake nodes of it, m the replicas of the run
  that fit one node (at most the run's replicas): a run of 2 replicas of 2 CPUs holds a whole
  32-CPU node awake, where the LP's capacity row charges it 1/8 (rows only where m x the
  replica's share of a node is below 1: elsewhere the capacity row says as much);
- the time model's MIP (replicas and awake nodes whole per class and step: a relaxation of any
  node-level schedule, which also has them whole) by HiGHS, its proven dual bound when
  `--mip-seconds` of this process's CPU are spent (0: not run);
- (not here) the configuration LP over whole node schedules: `bench/node_schedule_bound.py`.

Not a test: numbers go to docs/performance.md (CPU seconds; the machine is shared).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from timing_sites import generate, policy_text  # noqa: E402

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.problem import RESOURCES, Problem  # noqa: E402
from fitlang.solve.backends import _highs_with  # noqa: E402
from fitlang.solve.linear import MatrixForm, RowMatrix, matrix_form  # noqa: E402
from fitlang.solve.timeline import OBJECTIVES, TimeEncoding, encode  # noqa: E402


def compiled(text: str) -> Problem:
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "sites.fit"
        path.write_text(text)
        return Compilation(path).problem


def generated(nodes: int, seed: int, preemptible: bool) -> Problem:
    instance = generate(nodes, 168, nodes, seed)
    if not preemptible:
        instance.jobs = [job for job in instance.jobs if not job.preemptible]
    return compiled(policy_text(instance, "cost"))


def solved(form: MatrixForm, cpu_seconds: float | None = None) -> tuple[float, float]:
    """(the LP's optimum, or the MIP's dual bound where `form` has integer columns; CPU s)."""
    began = time.process_time()
    highs = _highs_with(form)
    highs.setOptionValue("threads", 1)
    if form.integrality.any():
        highs.setOptionValue("presolve", "on")
        stop = began + (cpu_seconds or 0.0)

        def interrupt(event) -> None:
            if time.process_time() >= stop:
                event.data_in.user_interrupt = True
        highs.cbMipInterrupt.subscribe(interrupt)
    highs.run()
    info = highs.getInfo()
    value = info.mip_dual_bound if form.integrality.any() else info.objective_function_value
    return float(value), time.process_time() - began


def whole_node_rows(encoding: TimeEncoding) -> sparse.csr_matrix:
    """Per run, class and step: (its replicas running then) / m - u[class, step] <= 0."""
    problem = encoding.problem
    capacity = {c.id: np.array([c.capacity[r] for r in RESOURCES], dtype=float) for c in problem.classes}
    rows: dict[tuple[str, int, str, int], list[tuple[int, float]]] = {}
    for (name, class_id, start), column in encoding.x.items():
        demand = problem.demand(name)
        need = np.array(encoding.charge_of(column), dtype=float)
        used = need > 0
        if not used.any():
            continue
        fit = int(np.floor(np.min(capacity[class_id][used] / need[used]) + 1e-9))
        most = min(demand.replicas_per_run, fit)
        if most <= 0 or most * float(np.max(need[used] / capacity[class_id][used])) >= 1 - 1e-9:
            continue
        run = next(k for k, window in enumerate(demand.windows) if start in window.starts())
        for step in range(start, start + demand.windows[run].duration):
            rows.setdefault((name, run, class_id, step), []).append((column, 1.0 / most))
    row_of, column_of, values = [], [], []
    for row, ((_, _, class_id, step), entries) in enumerate(rows.items()):
        row_of += [row] * (len(entries) + 1)
        column_of += [column for column, _ in entries] + [encoding.u[class_id, step]]
        values += [weight for _, weight in entries] + [-1.0]
    width = len(encoding.model.bounds()[0])
    return sparse.csr_matrix((values, (row_of, column_of)), shape=(len(rows), width))


def with_rows(form: MatrixForm, extra: sparse.csr_matrix) -> MatrixForm:
    """`form` with the rows `extra` <= 0 below its own."""
    matrix = form.matrix
    base = sparse.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)
    stacked = sparse.vstack([base, extra]).tocsr()
    stacked.sort_indices()
    return dataclasses.replace(
        form, matrix=RowMatrix(stacked.data, stacked.indices.astype(np.int64),
                               stacked.indptr.astype(np.int64), stacked.shape),
        row_lower=np.concatenate([form.row_lower, np.full(extra.shape[0], -np.inf)]),
        row_upper=np.concatenate([form.row_upper, np.zeros(extra.shape[0])]))


def measured(label: str, problem: Problem, mip_seconds: float) -> None:
    assert problem.timeline is not None
    encoding = encode(problem, problem.timeline)
    form = matrix_form(encoding.model, OBJECTIVES["cost"](encoding))
    relaxed = dataclasses.replace(form, integrality=np.zeros(len(form.c), dtype=np.int64))
    lp, lp_seconds = solved(relaxed)
    extra = whole_node_rows(encoding)
    rows, rows_seconds = solved(with_rows(relaxed, extra))
    line = (f"{label}: LP {lp:.2f} ({lp_seconds:.1f} CPU s); whole-node rows ({extra.shape[0]}) {rows:.2f} "
            f"(+{100 * (rows / lp - 1):.3f}%, {rows_seconds:.1f} CPU s)")
    if mip_seconds > 0:
        mip, mip_cpu = solved(form, mip_seconds)
        line += (f"; the time model's MIP, dual bound {mip:.2f} (+{100 * (mip / lp - 1):.3f}%, "
                 f"{mip_cpu:.1f} CPU s)")
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, nargs="*", default=[])
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fit", nargs="*", default=[], help="written instances instead")
    parser.add_argument("--preemptible", action="store_true", help="keep the preemptible jobs")
    parser.add_argument("--mip-seconds", type=float, default=0.0, help="CPU s for the time model's MIP")
    arguments = parser.parse_args()
    for nodes in arguments.nodes:
        measured(f"{nodes} nodes, seed {arguments.seed}",
                 generated(nodes, arguments.seed, arguments.preemptible), arguments.mip_seconds)
    for path in arguments.fit:
        measured(path, Compilation(Path(path)).problem, arguments.mip_seconds)


if __name__ == "__main__":
    main()
