"""Node schedules chosen against each other (issue 19): a restricted master MIP over columns, a measurement.

    .venv/bin/python bench/timing_sites_master.py POLICY.fit --seconds 25 --mip 120 --after 25

On the CPU clock (`time.monotonic` is `time.process_time` here), the sites shape at the goal
size. A column is one node's week (the (run, start) replicas it holds, awake where one runs,
`node_schedule_bound.Column`); columns come from

- the solve's own first schedule (replica by replica in `floor_order`, repaired) and the same
  searched for `--seconds` (`timeline_pack.searched`, without its last cut of the preemptible
  replicas into segments, so that each replica is one run on one node), a column per node;
- `--fill`: h48g's node-by-node first schedule priced at the per-step LP's duals
  (`timing_sites_fill.node_by_node`), a column per node;
- `--rounds R`: R rounds of h46h's greedy pricing (`node_schedule_bound.greedy_columns`), each
  at the restricted master LP's duals and at their mix with the per-step LP's (Wentges, as h46h;
  the LP's kept in POLICY.fit.duals.npz).

The restricted master MIP (HiGHS, `--mip` CPU s, the searched schedule its incumbent): each
column a whole number of nodes of its class, every run's replicas covered (at least), each
class's nodes in all and at every step, the power caps at every step. Its columns are then put
on nodes, replicas a run has too many of taken off where that saves most, those it has too few
of repaired by ejection chains (`timeline_pack.repaired`), and the schedule searched for
`--after` CPU s (the solve's search, its segments last). The searched schedule is searched on for
as long (`--after`) beside it: the comparison at equal CPU. Not a test: numbers go to
docs/performance.md (session 49, h49g).
"""

from __future__ import annotations

import argparse
import dataclasses
import pickle
import sys
import time
from pathlib import Path

import highspy
import numpy as np

time.monotonic = time.process_time  # every deadline below in CPU seconds

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from node_schedule_bound import SMOOTHING, Column, Configurations, greedy_columns  # noqa: E402
from timing_sites_fill import dual_prices, node_by_node  # noqa: E402

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.problem import Problem  # noqa: E402
from fitlang.solve import timeline_pack, timeline_segments  # noqa: E402
from fitlang.solve.timeline_pack import (  # noqa: E402
    REPAIR_AT_ONCE_TRIES,
    REPAIRED_AT_ONCE,
    Ledger,
    Spot,
    _scheduled,
    floor_order,
    holding,
    node_schedule,
    repaired,
    run_of,
    searched,
)

RESEGMENTED = timeline_segments.resegmented


def unsegmented(searching: bool) -> None:
    """The search's last cut of preemptible replicas into segments off (`searching`) or on."""
    timeline_segments.resegmented = (lambda problem, ledger, spots, deadline: spots) if searching \
        else RESEGMENTED


def columns_of(configurations: Configurations, spots: list[Spot]) -> list[Column]:
    """A column per node in use by `spots` (each spot a whole run)."""
    problem, steps = configurations.problem, configurations.steps
    index_of = {c.id: i for i, c in enumerate(configurations.classes)}
    nodes: dict[tuple[str, int], Column] = {}
    for spot in spots:
        column = nodes.setdefault((spot.class_id, spot.node), Column(
            index_of[spot.class_id], {}, np.zeros(steps, dtype=bool)))
        run = configurations.run_index[spot.demand, run_of(problem.demand(spot.demand), spot.start)]
        column.replicas[run] = column.replicas.get(run, 0) + 1
        column.placed.append((run, spot.start, 1))
        column.awake[spot.start:spot.end] = True
    return list(nodes.values())


def key_of(column: Column) -> tuple:
    placed: dict[tuple[int, int], int] = {}
    for run, start, count in column.placed:
        placed[run, start] = placed.get((run, start), 0) + count
    return column.class_index, tuple(sorted(placed.items())), column.awake.tobytes()


def lp_duals(configurations: Configurations, policy: Path) -> np.ndarray:
    """The per-step LP's duals in the configuration LP's rows, from its kept run values and step
    prices (class and cap rows 0: the step prices hold the caps' share)."""
    value, rates = dual_prices(configurations.problem, policy)
    y = np.zeros(len(configurations.b))
    y[:len(configurations.runs)] = -value
    steps = configurations.steps
    for i, node_class in enumerate(configurations.classes):
        first = configurations.step_row + i * steps
        y[first:first + steps] = configurations.ledger.rate[node_class.id] - rates[node_class.id]
    return y


def master_mip(configurations: Configurations, incumbent: list[Column], seconds: float
               ) -> list[tuple[Column, int]]:
    """The restricted master over the columns as a MIP: (column, nodes) chosen."""
    columns = configurations.columns
    starts, indices, values = [0], [], []
    for column in columns:
        entries = sorted(configurations._entries(column))
        indices += [row for row, _ in entries]
        values += [value for _, value in entries]
        starts.append(len(indices))
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = len(columns), len(configurations.b)
    lp.col_cost_ = np.array([float(c.awake @ configurations.ledger.rate[configurations.classes[
        c.class_index].id]) for c in columns])
    lp.col_lower_ = np.zeros(len(columns))
    lp.col_upper_ = np.array([float(configurations.classes[c.class_index].count) for c in columns])
    lp.row_lower_ = np.full(len(configurations.b), -highspy.kHighsInf)
    lp.row_upper_ = configurations.b.astype(float)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = np.array(starts, dtype=np.int32)
    lp.a_matrix_.index_ = np.array(indices, dtype=np.int32)
    lp.a_matrix_.value_ = np.array(values, dtype=float)
    lp.integrality_ = [highspy.HighsVarType.kInteger] * len(columns)
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("time_limit", seconds)
    highs.setOptionValue("mip_rel_gap", 1e-5)
    highs.passModel(lp)
    position = {key_of(c): i for i, c in enumerate(columns)}
    start = np.zeros(len(columns))
    for column in incumbent:
        start[position[key_of(column)]] += 1
    solution = highspy.HighsSolution()
    solution.col_value = list(start)
    highs.setSolution(solution)
    began = time.process_time()
    highs.run()
    info = highs.getInfo()
    print(f"master MIP: {highs.modelStatusToString(highs.getModelStatus())}, "
          f"{info.objective_function_value:.2f} (dual bound {info.mip_dual_bound:.2f}), "
          f"{time.process_time() - began:.1f} CPU s", flush=True)
    solution = highs.getSolution()
    chosen = np.array(solution.col_value)
    if not solution.value_valid or float(chosen @ lp.col_cost_) > info.objective_function_value + 1e-3:
        # (HiGHS 1.16 on seed 1, 2,313 columns: "Optimal" at 105,993.77, below the master's own
        # LP 106,021.58, and the solution read back the incumbent at 106,022.45)
        print(f"  the solution read back is not the MIP's: valid {solution.value_valid}", flush=True)
    print(f"  chosen: {sum(chosen):.1f} nodes, cost {float(np.dot(chosen, lp.col_cost_)):.2f}, "
          f"{int(((chosen > 0.5) & (start < 0.5)).sum())} columns not the incumbent's",
          flush=True)
    return [(column, round(chosen[i])) for i, column in enumerate(columns) if chosen[i] > 0.5]


def realised(configurations: Configurations, chosen: list[tuple[Column, int]]
             ) -> tuple[Ledger, list[Spot], list[tuple[str, int]]]:
    """The chosen columns put on nodes: (ledger, spots, replicas missing). Replicas beyond a
    run's are taken off where that saves most."""
    problem = configurations.problem
    ledger, spots = Ledger(problem), []
    next_node = {c.id: 0 for c in configurations.classes}
    for column, nodes in chosen:
        class_id = configurations.classes[column.class_index].id
        for _ in range(nodes):
            node = next_node[class_id]
            next_node[class_id] += 1
            for run, start, count in column.placed:
                demand, _, window = configurations.runs[run]
                for _ in range(count):
                    spot = Spot(demand.name, -1 - run, class_id, node, start, start + window.duration)
                    ledger.put(spot)
                    spots.append(spot)
    by_run: dict[int, list[Spot]] = {}
    for spot in spots:
        by_run.setdefault(-1 - spot.replica, []).append(spot)
    kept, missing = [], []
    for run, placed in by_run.items():
        demand, index, _ = configurations.runs[run]
        while len(placed) > demand.replicas_per_run:
            worst = max(placed, key=lambda s: _alone(ledger, s))
            ledger.drop(worst)
            placed.remove(worst)
        first = index * demand.replicas_per_run
        kept += [dataclasses.replace(s, replica=first + i) for i, s in enumerate(placed)]
        missing += [(demand.name, first + i) for i in range(len(placed), demand.replicas_per_run)]
    for run, (demand, index, _) in enumerate(configurations.runs):
        if run not in by_run:
            first = index * demand.replicas_per_run
            missing += [(demand.name, first + i) for i in range(demand.replicas_per_run)]
    return holding(problem, kept), kept, missing


def _alone(ledger: Ledger, spot: Spot) -> float:
    """What taking the spot off saves: the steps it alone keeps its node awake."""
    alone = ledger.running[spot.class_id][spot.node, spot.start:spot.end] == 1
    return float(alone @ ledger.rate[spot.class_id][spot.start:spot.end])


def caps_hold(ledger: Ledger) -> bool:
    return all((drawn <= cap + 1e-6).all() for cap, _, drawn in ledger.caps)


def first_schedule(problem: Problem) -> tuple[Ledger, list[Spot]]:
    """The solve's own first round, repaired (or, where that leaves replicas without room, the
    solve's later rounds: `node_schedule`, its search cut at once)."""
    ledger, spots, missing = _scheduled(problem, "cost", floor_order(problem))
    if missing:
        tries = REPAIR_AT_ONCE_TRIES if len(missing) <= REPAIRED_AT_ONCE else timeline_pack.REPAIR_TRIES
        spots, missing = repaired(problem, ledger, spots, missing, tries=tries)
    if missing:
        spots, missing = node_schedule(problem, deadline=time.process_time())
        ledger = holding(problem, spots)
    assert not missing, missing
    return ledger, spots


def priced_rounds(configurations: Configurations, y_lp: np.ndarray, rounds: int, seen: set) -> None:
    """`rounds` of greedy pricing added to the columns, each at the restricted master LP's duals
    and at their mix with the per-step LP's (at the LP's own duals alone no column pays: the
    greedy finds nothing there, 100 nodes)."""
    for round_ in range(rounds):
        began = time.process_time()
        value, y = configurations.master()
        found = greedy_columns(configurations, SMOOTHING * y_lp + (1 - SMOOTHING) * y, seen) \
            + greedy_columns(configurations, y, seen)
        configurations.columns += found
        print(f"round {round_ + 1}: master LP {value:.2f}, {len(found)} columns, "
              f"{len(configurations.columns)} in all, {time.process_time() - began:.1f} CPU s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("policy", type=Path)
    parser.add_argument("--seconds", type=float, default=25.0, help="CPU s of the search before")
    parser.add_argument("--rounds", type=int, default=1, help="rounds of greedy pricing")
    parser.add_argument("--fill", action="store_true", help="h48g's node-by-node columns too")
    parser.add_argument("--mip", type=float, default=120.0, help="s of the master MIP")
    parser.add_argument("--save", type=Path, help="the columns, the searched schedule's and its spots: kept")
    parser.add_argument("--after", type=float, default=25.0, help="CPU s of the search after")
    args = parser.parse_args()
    problem = Compilation(args.policy).problem
    assert problem is not None
    configurations = Configurations(problem)
    began = time.process_time()
    unsegmented(True)
    ledger, spots = first_schedule(problem)
    first = columns_of(configurations, spots)
    print(f"first schedule {ledger.total():.2f} ({len(first)} nodes), "
          f"{time.process_time() - began:.1f} CPU s", flush=True)
    spots = searched(problem, ledger, spots, time.process_time() + args.seconds)
    base = columns_of(configurations, spots)
    print(f"searched {ledger.total():.2f} ({len(base)} nodes), {time.process_time() - began:.1f} CPU s",
          flush=True)
    seen: set = set()
    for column in first + base:
        if key_of(column) not in seen:
            seen.add(key_of(column))
            configurations.columns.append(column)
    y_lp = lp_duals(configurations, args.policy)
    if args.fill:
        _, filled, missing = node_by_node(problem, "floor", dual_prices(problem, args.policy))
        for column in columns_of(configurations, filled):
            if key_of(column) not in seen:
                seen.add(key_of(column))
                configurations.columns.append(column)
    priced_rounds(configurations, y_lp, args.rounds, seen)
    if args.save:
        with open(args.save, "wb") as kept:
            pickle.dump((configurations.columns, base, spots), kept)
    chosen = master_mip(configurations, base, args.mip)
    ledger_m, spots_m, missing = realised(configurations, chosen)
    print(f"realised {ledger_m.total():.2f}, {len(missing)} replicas missing, "
          f"caps hold {caps_hold(ledger_m)}", flush=True)
    if missing:
        spots_m, missing = repaired(problem, ledger_m, spots_m, missing, tries=timeline_pack.REPAIR_TRIES)
        print(f"repaired {ledger_m.total():.2f}, {len(missing)} missing", flush=True)
    unsegmented(False)
    spots_m = searched(problem, ledger_m, spots_m, time.process_time() + args.after)
    print(f"master, searched {args.after:.0f} CPU s: {ledger_m.total():.2f}, caps hold {caps_hold(ledger_m)}",
          flush=True)
    spots = searched(problem, ledger, spots, time.process_time() + args.after, repack=False)
    print(f"the searched schedule searched on {args.after:.0f} CPU s: {ledger.total():.2f}", flush=True)


if __name__ == "__main__":
    main()
