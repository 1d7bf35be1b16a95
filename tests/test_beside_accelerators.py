"""The pair LP's rows for what fits beside no replica that fills a node's GPUs
(fitlang/solve/beside_accelerators.py): a policy whose bound is worked out by hand, with and
without the rows, and random policies with GPU pools whose bound stays under the independent
CP-SAT reference's optimum (tests/reference.py)."""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

import pytest

from fitlang.check.checker import check_file
from fitlang.check.loader import Workspace
from fitlang.model.build import build_problem
from fitlang.solve import bound as bound_module
from fitlang.solve.bound import lower_bound, relaxation

import reference
from solving import problem_from

ONE_GPU = "  gpu {\n    model = L4\n    count = 1\n  }\n"


def pool(name, count, cpu, memory, price, extra=""):
    return (f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = {memory}\n"
            f"  price = {price} USD/h\n{extra}}}\n")


def workload(name, replicas, cpu, memory, extra=""):
    return f"workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n  memory = {memory}\n{extra}}}\n"


# `infer` (4 x 1 GPU, 6 CPUs, 28 GiB) needs the four 1-GPU nodes (1 USD/h, 8 CPUs, 32 GiB) and
# leaves 2 CPUs and 4 GiB on each: `tiny` (0.5 CPU) fits there, `web` (2 x 4 CPUs) does not, so
# it needs a CPU node (0.40) or a fifth GPU node (1): 4.40, the optimum. The capacity rows alone
# pool the four nodes' 8 free CPUs and put `web` there: 4.025 (`tiny` takes 0.5 of them, and the
# last 0.5 CPU is a sixteenth of a 0.40 CPU node).
BESIDE = ('import "std/accelerators"\n'
          + pool("gpu", 6, 8, "32GiB", 1, ONE_GPU)
          + pool("cpu", 2, 8, "32GiB", "0.40")
          + workload("infer", 4, 6, "28GiB", "  gpu {\n    count = 1\n  }\n")
          + workload("web", 2, 4, "1GiB")
          + workload("tiny", 1, "500m", "1GiB"))


def test_what_fits_beside_no_gpu_replica_is_charged_other_nodes(tmp_path):
    problem = problem_from(tmp_path, BESIDE)
    found = lower_bound(problem, "cost")
    assert found.converged and abs(float(found.value) - 4.40) < 1e-6
    with pytest.MonkeyPatch.context() as patch:  # without the rows: the pooled room
        patch.setattr(bound_module, "beside_accelerator_rows", lambda *args: 0)
        without = lower_bound(problem, "cost")
    assert without.converged and abs(float(without.value) - 4.025) < 1e-6


def test_the_rows_come_last_and_the_guide_is_the_solution_before_them(tmp_path):
    # the rows move `web` off the GPU nodes' room in the LP; the first passes are guided by
    # the solution before they came in (the same as without them), the bound is after them
    problem = problem_from(tmp_path, BESIDE)
    found = lower_bound(problem, "cost")
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bound_module, "beside_accelerator_rows", lambda *args: 0)
        without = lower_bound(problem, "cost")
    assert abs(float(found.value) - 4.40) < 1e-6 < float(found.value) - float(without.value)
    assert found.pair_values.tolist() == without.pair_values.tolist()
    assert found.node_values.tolist() == without.node_values.tolist()


def test_two_gpu_replicas_that_may_share_a_node_add_no_row(tmp_path):
    # on 2-GPU nodes two 1-GPU replicas may share one: nothing fills a node, no row
    text = BESIDE.replace("count = 1\n  }\n}\npool cpu", "count = 2\n  }\n}\npool cpu", 1)
    problem = problem_from(tmp_path, text)
    assert _rows_added(problem) == 0
    assert _rows_added(problem_from(tmp_path, BESIDE, "one.fit")) > 0


def _rows_added(problem) -> int:
    added = []
    original = bound_module.beside_accelerator_rows
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bound_module, "beside_accelerator_rows",
                      lambda *args: added.append(original(*args)) or added[-1])
        relaxation(problem, "cost")
    return sum(added)


def _spec(seed: int) -> reference.Spec:
    """A random small policy where the rows bind: 1-GPU nodes that GPU replicas nearly fill,
    services some of which fit beside them and some not, CPU nodes, zones."""
    rng = random.Random(seed)
    zones = list(reference.ZONES)
    pools = [reference.Pool(f"g{i}", rng.randint(2, 4), 8, 32, rng.randint(80, 150), "G24", 1,
                            zone=rng.choice(zones)) for i in range(rng.randint(1, 2))]
    pools += [reference.Pool(f"c{i}", rng.randint(1, 3), rng.choice([4, 8, 16]), 32,
                             rng.randint(20, 90), zone=rng.choice(zones)) for i in range(rng.randint(1, 2))]
    workloads = [reference.Workload("infer", rng.randint(1, 3), rng.choice([5000, 6000, 7000]),
                                    rng.choice([16, 24, 28]), gpus=1)]
    for i in range(rng.randint(2, 3)):
        spreads = [("zone", 1)] if rng.random() < 0.3 else []
        workloads.append(reference.Workload(f"svc{i}", rng.randint(1, 3), rng.choice([500, 1000, 2000, 3000]),
                                            rng.choice([1, 2, 4, 8]), spreads=spreads))
    return reference.Spec(pools, workloads)


def _case_with_rows(seed, directory: Path):
    """`_spec(seed)` and its optimum by the reference, where it has one and the relaxation
    has rows of this module; else None."""
    spec = _spec(seed)
    path = directory / f"seed{seed}.fit"
    path.write_text(reference.to_fit(spec))
    result = check_file(path, Workspace())
    if result.has_errors:
        return None
    problem = build_problem(result.program).problem
    if not _rows_added(problem):
        return None
    expected = reference.reference(spec)
    if not (expected.decided and expected.feasible):
        return None
    return problem, expected


def _seeds_with_rows(candidates) -> list[int]:
    with tempfile.TemporaryDirectory() as directory:
        return [seed for seed in candidates if _case_with_rows(seed, Path(directory))]


SEEDS = _seeds_with_rows(range(1, 61))


def test_enough_random_policies_have_the_rows():
    # a change to `_spec` that left the rows out of almost every policy would check nothing
    assert len(SEEDS) >= 10


@pytest.mark.parametrize("seed", SEEDS)
def test_with_the_rows_the_bound_stays_under_the_reference_optimum(tmp_path, seed):
    problem, expected = _case_with_rows(seed, tmp_path)
    found = lower_bound(problem, "cost")
    assert found.value is not None and found.value <= expected.cost


def test_fitc_plan_s_bound_takes_the_rows_beside_its_own(tmp_path):
    # `fitc plan`'s bound adds its rows for the moves after the relaxation's (`extend`): the
    # late rows are the relaxation's only (before, the master indexed past them: an internal
    # error on every plan whose fleet has a node-filling GPU replica). What runs is the 4.40
    # optimum above, so nothing needs to move: the bound is its cost
    from fitlang.solve.move_bound import moves_lower_bound

    from solving import problem_running

    running = [("infer", f"gpu-{i}") for i in range(4)] + [("web", "cpu-0")] * 2 + [("tiny", "gpu-0")]
    text = BESIDE + "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"
    found = moves_lower_bound(problem_running(tmp_path, text, running), None)
    assert found is not None and abs(float(found) - 4.40) < 1e-6
