"""Issue 15, the inventory shape at 10,000 nodes: in each zone, is the answer or the bound the
loose side? An offline study, in process; not a test (the numbers go to docs/performance.md,
session 53, h53a).

    PYTHONPATH=.:bench .venv/bin/python bench/zone_sides.py FILE ANSWER.json [--cpu S] [--zones Z ...]
        [--write OUT.json]

Per zone, the answer's replicas on its paid nodes without accelerators (per workload, kept in
the zone, as `zone_packing.py`) and three numbers beside what those nodes cost in the answer:

- *usable LP*: the zone's count LP over capacity rounded down to the gcd of the requests
  eligible there (`zone_patterns._usable`), the zone's share of what the pair LP can prove;
- *exact* and its *bound*: `zone_repack.py`'s per-node MIP (each node open or not, replicas per
  (workload, node) whole up to the per-node limit, CPU and memory per node) over its candidate
  nodes (per class the usable LP's node count rounded up plus one, and the answer's own nodes),
  solved by HiGHS on this process's CPU clock for S seconds (`--cpu`; `zone_repack.py`'s limit
  is on the wall, which under load 30-50 is a tenth of it), with the CPU second of each
  improving solution it found.

The zone's optimum (those replicas on any of its nodes) lies in [usable LP, exact]: the
candidates are a restriction, so the optimum over every node of the zone can only be lower than
`exact`. So `answer - exact` is what a better packing of those replicas saves at least (the
answer is loose by that much), and `exact - usable LP` the most a tighter relaxation could
raise that zone's share of the bound; where `bound` (HiGHS's, over the candidates) is `exact`,
nothing under it exists over the candidates. `--write`: the
answer with each zone's exact packing where cheaper, for `fitc verify` (the MIP does not keep
workloads apart on a node: verify says whether it had to).
"""

from __future__ import annotations

import argparse
import collections
import json
import time

import numpy as np
from zone_packing import _kept, _paid_cpu, _problem
from zone_repack import _candidates, _replaced, per_node_program


def _solved(cost, rows, bounds, cpu_seconds: float):
    """HiGHS on the per-node MIP until `cpu_seconds` of this process's CPU: (status, value or
    None, dual bound, x or None, [(CPU s, value) of each improving solution])."""
    import highspy

    matrix = rows.A.tocsc()
    width = matrix.shape[1]
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 1)
    highs.setOptionValue("mip_rel_gap", 1e-4)
    highs.passModel(width, matrix.shape[0], matrix.nnz, 1, 1, 0.0, cost.astype(float),
                    np.asarray(bounds.lb, dtype=float), np.asarray(bounds.ub, dtype=float),
                    np.asarray(rows.lb, dtype=float), np.asarray(rows.ub, dtype=float),
                    matrix.indptr.astype(np.int32), matrix.indices.astype(np.int32),
                    matrix.data.astype(float), np.ones(width, dtype=np.int32))
    started, found = time.process_time(), []

    def improving(event) -> None:
        value = event.data_out.objective_function_value
        found.append((round(time.process_time() - started, 2), round(value, 3)))

    def interrupt(event) -> None:
        if time.process_time() - started > cpu_seconds:
            event.data_in.user_interrupt = True

    highs.cbMipImprovingSolution.subscribe(improving)
    highs.cbMipInterrupt.subscribe(interrupt)
    highs.cbSimplexInterrupt.subscribe(interrupt)
    highs.run()
    info = highs.getInfo()
    if info.primal_solution_status != 2:
        return highs.getModelStatus(), None, info.mip_dual_bound, None, found
    x = np.array(highs.getSolution().col_value)
    # the cost of the solution handed back (HiGHS 1.16 has stated one value and handed back
    # another where given a start: zone_patterns.py); none is given here
    return highs.getModelStatus(), float(cost @ np.rint(x)), info.mip_dual_bound, x, found


def study(path: str, answer_path: str, zones: list[str], cpu_seconds: float, write: str | None) -> None:
    problem = _problem(path)
    with open(answer_path) as handle:
        answer = json.load(handle)
    replicas, paid = _kept(problem, answer)
    opened = {a["node"] for a in answer["assignments"]}
    total = answer["objective"]["value"]
    sums: collections.Counter = collections.Counter()
    print(f"{path} {answer_path}: paid CPU-only nodes per zone: answer / usable LP / exact (bound) "
          f"over the candidates, {cpu_seconds:g} CPU s a zone")
    for zone in sorted(replicas, key=str):
        if zones and zone not in zones:
            continue
        classes = [c for c in problem.classes if c.zone == zone and _paid_cpu(c)]
        started = time.process_time()
        nodes, usable = _candidates(problem, replicas[zone], classes, opened)
        cost, rows, bounds, columns = per_node_program(problem, replicas[zone], nodes)
        built = time.process_time() - started
        status, exact, bound, x, found = _solved(cost, rows, bounds, cpu_seconds)
        best = paid[zone] if exact is None else min(exact, paid[zone])
        for key, value in (("answer", paid[zone]), ("usable LP", usable), ("exact", best),
                           ("bound", min(bound, best))):
            sums[key] += value
        print(f"  {zone}: answer {paid[zone]:.2f}, usable LP {usable:.2f}, exact "
              f"{None if exact is None else round(exact, 2)} (bound {bound:.2f}, {status}), "
              f"{len(nodes)} candidate nodes, built in {built:.2f} CPU s; improving {found}", flush=True)
        if write and x is not None and exact < paid[zone] - 1e-6:
            answer, zone_cost = _replaced(answer, replicas[zone], classes, nodes, columns, x)
            total += zone_cost - paid[zone]
            answer["objective"] = dict(answer["objective"], value=round(total, 6))
            with open(write, "w") as handle:
                json.dump(answer, handle)
    print("  every zone: " + ", ".join(f"{key} {value:.2f}" for key, value in sums.items())
          + f"; the answer loose by at least {sums['answer'] - sums['exact']:.2f}, the bound by at most "
          f"{sums['exact'] - sums['usable LP']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file")
    parser.add_argument("answer")
    parser.add_argument("--cpu", type=float, default=10.0, help="HiGHS's CPU seconds a zone")
    parser.add_argument("--zones", nargs="*", default=[], help="these zones only (default: every zone)")
    parser.add_argument("--write", help="the answer with each zone's exact packing where cheaper")
    args = parser.parse_args()
    study(args.file, args.answer, args.zones, args.cpu, args.write)


if __name__ == "__main__":
    main()
