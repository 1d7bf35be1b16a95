"""Slurm's whole cores per job on nodes of ThreadsPerCore > 1: the solver counts a replica at
the least Slurm gives it (a relaxation: bounds, `optimal` and `infeasible` stay true), then
repairs the nodes its answer overfills per job (`fitlang/solve/whole_cores.py`)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import random
import time
from collections import Counter
from fractions import Fraction

from test_priority_first_fit import slurm_policy

from fitlang.cli import main
from fitlang.driver import Compilation, Outcome
from fitlang.model.problem import Problem
from fitlang.plan import EXIT_CHANGES, EXIT_ERRORS, target_placement
from fitlang.solve import whole_cores, whole_cores_time
from fitlang.solve.linear import Status
from fitlang.solve.placement import solve
from fitlang.solve.placement_result import Assignment, Placement, Unplaced
from fitlang.solve.self_check import broken_rules
from fitlang.solve.whole_cores import repaired

from compiling import context_for


def _write(tmp_path, nodes: list[tuple[str, int, int]], workloads: list[tuple[str, int, str]],
           pool: str = "", price: str = "1") -> Compilation:
    """A policy of a Slurm inventory of (name, CPUs, ThreadsPerCore) nodes at `price` each,
    `pool` beside it, and a workload per (name, replicas, cpu)."""
    (tmp_path / "nodes.txt").write_text("".join(
        f"NodeName={name} CPUTot={cpus} ThreadsPerCore={threads} RealMemory=16000 State=IDLE "
        "Partitions=debug\n" for name, cpus, threads in nodes))
    text = (f'inventory hpc {{\n  format = slurm\n  file = "nodes.txt"\n  price = {price} USD/h\n}}\n'
            + pool + "".join(f'workload {name} {{\n  replicas = {replicas}\n  cpu = {cpu}\n'
                             f'  memory = 1Gi\n  command = ["run"]\n}}\n'
                             for name, replicas, cpu in workloads))
    path = tmp_path / "p.fit"
    path.write_text(text)
    return Compilation(path)


def _placed(compilation: Compilation):
    problem = compilation.problem
    assert problem is not None
    placement = compilation.solve("auto", 20.0)
    return problem, placement, compilation.verdict(placement, 20.0)


def test_two_one_cpu_replicas_share_the_one_core_of_a_two_thread_node(tmp_path):
    # Slurm: one job of 2 CPUs = 1 core, it fits; counted per replica (2 + 2 on 2) it did not
    problem, placement, verdict = _placed(_write(tmp_path, [("n1", 2, 2)], [("a", 2, "1")]))
    assert verdict.outcome is Outcome.PLACED and placement.status is Status.OPTIMAL
    assert [a.node for a in placement.assignments] == ["n1", "n1"]
    assert broken_rules(problem, placement) == []


def test_a_pool_node_of_exactly_the_ask_beside_slurm_nodes_holds_a_replica(tmp_path):
    # 4 replicas of 1500m: two on the 2x2-thread Slurm node (2 CPUs each), one on each of two
    # 1500m pool nodes; one size per demand, the Slurm one, left the pool nodes too small
    pool = 'pool small {\n  count = 3\n  cpu = 1500m\n  memory = 4Gi\n  price = 1 USD/h\n}\n'
    problem, placement, verdict = _placed(_write(tmp_path, [("n1", 4, 2)], [("w", 4, "1500m")],
                                                 pool, price="0"))
    assert verdict.outcome is Outcome.PLACED and not placement.unplaced
    assert sorted(Counter(a.node for a in placement.assignments).values()) == [1, 1, 2]
    assert placement.value == 2 and broken_rules(problem, placement) == []


def _a_and_c_on_n1(tmp_path) -> tuple[Compilation, Problem, Placement]:
    """Two 2-thread nodes of 4 CPUs, a x3 and one of c x2 on n1 (Slurm gives a's job 4 CPUs,
    c's 2: 6 of 4), c's other on n2."""
    compilation = _write(tmp_path, [("n1", 4, 2), ("n2", 4, 2)], [("a", 3, "1"), ("c", 2, "1")])
    problem = compilation.problem
    assert problem is not None
    placement = compilation.solve("auto", 20.0)
    return compilation, problem, dataclasses.replace(placement, assignments=[
        dataclasses.replace(a, node="n1" if a.workload == "a" or a.replica == 0 else "n2")
        for a in placement.assignments])


def test_replicas_overfilling_a_node_in_whole_cores_move_to_a_free_thread_of_their_job(tmp_path):
    # a x3 and c x1 on n1 count 4 of its 4 CPUs per replica; Slurm gives a's job 4, c's 2:
    # c moves to n2, where its other replica leaves a thread of a core free
    _, problem, crowded = _a_and_c_on_n1(tmp_path)
    assert [d.message for d in broken_rules(problem, crowded)] == [
        "node `n1` is over its cpu: 6 CPU requested (as Slurm gives it: whole CPUs per task, whole "
        "cores of 2 threads per job), 4 available"]
    fixed = repaired(problem, crowded)
    assert broken_rules(problem, fixed) == [] and not fixed.overfull
    assert Counter((a.workload, a.node) for a in fixed.assignments) == {("a", "n1"): 3, ("c", "n2"): 2}


def test_where_no_move_repairs_a_node_the_verdict_says_so_in_slurms_terms(tmp_path):
    # 3 + 3 replicas of 1 CPU on the one node of 3 cores x 2 threads: 6 CPUs per replica,
    # 4 + 4 per job as Slurm gives them. The relaxation cannot prove it infeasible; the
    # answer is not called optimal, nor a bug of fitc's
    _, placement, verdict = _placed(_write(tmp_path, [("n1", 6, 2)], [("a", 3, "1"), ("b", 3, "1")]))
    assert verdict.outcome is Outcome.UNDECIDED and placement.status is Status.UNKNOWN
    assert placement.overfull == ["n1"]
    assert [d.code for d in verdict.diagnostics] == ["E0509"]
    assert "whole cores: 1 node overfull as placed (`n1`)" in verdict.diagnostics[0].message


def test_a_repair_past_its_deadline_names_the_nodes_it_did_not_repair(tmp_path):
    # a x3 and c x1 on n1 (Slurm: 4 + 2 of 4 CPUs); a move to n2 repairs it, but the deadline is
    # past before the first: the answer is the solver's, n1 named (E0509), never one Slurm
    # would not run
    compilation, problem, crowded = _a_and_c_on_n1(tmp_path)
    assert not repaired(problem, dataclasses.replace(crowded)).overfull  # (in time: moved)
    cut = repaired(problem, crowded, deadline=time.monotonic() - 1.0)
    assert cut.overfull == ["n1"] and cut.repair_cut
    assert [d.code for d in compilation.verdict(cut, 20.0).diagnostics] == ["E0509"]


def test_a_repair_past_its_deadline_leaves_out_what_it_did_not_move_where_that_is_allowed(tmp_path):
    # a x3 and c x1 (priority 5) on n1, Slurm gives 4 + 2 of its 4 CPUs; n2 is free. In time, c
    # moves there; past the deadline, the least important replica on n1 is left out instead
    problem, placement = _ranked(tmp_path, [("n1", 4), ("n2", 4)], [("a", 3, 5, ""), ("c", 1, 5, "")])
    crowded = _crowded(placement, {"a": ["n1"] * 3, "c": ["n1"]})
    assert not repaired(problem, crowded).unplaced
    cut = repaired(problem, crowded, deadline=time.monotonic() - 1.0)
    assert broken_rules(problem, cut) == [] and not cut.overfull
    assert len(cut.unplaced) == 1 and len(cut.assignments) == 3 and cut.status is Status.FEASIBLE


def test_a_repair_cut_short_repairs_the_nodes_of_the_highest_priority_first(tmp_path, monkeypatch):
    # n1 runs b x3 and d x1 (priority 1), n2 a x3 and c x1 (priority 5): Slurm gives 4 + 2 of
    # each node's 4 CPUs; n3 and n4 are free. The deadline comes after one move: that move
    # repairs n2 (its least priority is the higher), and n1 gives up a priority-1 replica. In
    # the order the answer lists them n1 took the move and n2 gave up a priority-5 one (bench/hpc_queue.py
    # 3,000 nodes seed 61 at 10 s: 25 replicas of the top priority left out a first-fit places)
    problem, placement = _ranked(tmp_path, [("n1", 4), ("n2", 4), ("n3", 4), ("n4", 4)],
                                 [("a", 3, 5, ""), ("c", 1, 5, ""), ("b", 3, 1, ""), ("d", 1, 1, "")])
    crowded = _crowded(placement, {"b": ["n1"] * 3, "d": ["n1"], "a": ["n2"] * 3, "c": ["n2"]})
    moving = whole_cores._Nodes.move

    def one_move_in_time(nodes, *arguments, **keywords):
        nodes.deadline = float("-inf")  # past it once this move is made
        return moving(nodes, *arguments, **keywords)

    monkeypatch.setattr(whole_cores._Nodes, "move", one_move_in_time)
    cut = repaired(problem, crowded, deadline=time.monotonic() + 3600)
    assert broken_rules(problem, cut) == [] and not cut.overfull
    assert [problem.demand(u.workload).priority for u in cut.unplaced] == [1]


def _ranked(tmp_path, nodes: list[tuple[str, int]], workloads: list[tuple[str, int, int, str]]):
    """A policy of free 2-thread Slurm nodes (name, CPUs) and workloads (name, replicas,
    priority, extra rule) of 1 CPU each, replicas allowed out: its problem and a placement
    of every replica to be crowded by hand."""
    compilation = slurm_policy(tmp_path, nodes, [(name, replicas, priority, 1, rule)
                                                 for name, replicas, priority, rule in workloads])
    return compilation.problem, compilation.solve("auto", 20.0)


def _crowded(placement: Placement, layout: dict[str, list[str | None]]) -> Placement:
    """`placement` with each workload's replicas on the nodes `layout` lists (None: left out)."""
    laid = [(name, replica, node) for name, nodes in layout.items() for replica, node in enumerate(nodes)]
    return dataclasses.replace(
        placement, status=Status.OPTIMAL,
        unplaced=[Unplaced(n, r, "by hand") for n, r, node in laid if node is None],
        assignments=[Assignment(n, r, node) for n, r, node in laid if node is not None])


def test_where_no_move_repairs_a_node_and_replicas_may_be_left_out_the_least_priority_is(tmp_path):
    # a x3 (priority 5) and b x1 (priority 1) count 4 of n1's 4 CPUs per replica; Slurm gives
    # a's job 4 and b's 2, and no node is free: b is left out, never a
    problem, placement = _ranked(tmp_path, [("n1", 4)], [("a", 3, 5, ""), ("b", 3, 1, "")])
    crowded = _crowded(placement, {"a": ["n1"] * 3, "b": ["n1", None, None]})
    assert [d.code for d in broken_rules(problem, crowded)] == ["E0503"]
    fixed = repaired(problem, crowded)
    assert broken_rules(problem, fixed) == [] and not fixed.overfull
    assert Counter(a.workload for a in fixed.assignments) == {"a": 3}
    assert sorted((u.workload, u.replica) for u in fixed.unplaced) == [("b", 0), ("b", 1), ("b", 2)]
    assert fixed.status is Status.FEASIBLE  # more left out than the solver's count proved needed


def test_a_replica_of_a_higher_priority_takes_the_room_of_lower_ones_rather_than_be_left_out(tmp_path):
    # n1 runs a x3 and c x1 (priority 5: Slurm gives 4 + 2 of 4 CPUs), n2 b x3 (priority 1: 4 of
    # 4). One priority-5 replica goes to n2 where one of b's is left out for it: a job of 1 and
    # one of 2 take a core each. b cannot run 3 beside any priority-5 job there
    problem, placement = _ranked(tmp_path, [("n1", 4), ("n2", 4)],
                                 [("a", 3, 5, ""), ("c", 1, 5, ""), ("b", 3, 1, "")])
    fixed = repaired(problem, _crowded(placement, {"a": ["n1"] * 3, "c": ["n1"], "b": ["n2"] * 3}))
    assert broken_rules(problem, fixed) == [] and not fixed.overfull
    assert Counter(a.workload for a in fixed.assignments) == {"a": 3, "c": 1, "b": 2}
    assert [u.workload for u in fixed.unplaced] == ["b"]


def test_a_replica_kept_apart_from_its_own_never_moves_to_its_jobs_free_thread(tmp_path):
    # w (one a node) x1 and x x3 on n1: Slurm gives 2 + 4 of 4 CPUs. w's other replica on n2
    # leaves a thread free, but w may not join it there: one of x's moves instead
    problem, placement = _ranked(tmp_path, [("n1", 4), ("n2", 4)],
                                 [("w", 2, 1, "anti_affinity self on node"), ("x", 3, 1, "")])
    fixed = repaired(problem, _crowded(placement, {"w": ["n1", "n2"], "x": ["n1"] * 3}))
    assert broken_rules(problem, fixed) == [] and not fixed.overfull and not fixed.unplaced
    assert Counter((a.workload, a.node) for a in fixed.assignments) == {
        ("w", "n1"): 1, ("w", "n2"): 1, ("x", "n1"): 2, ("x", "n2"): 1}


def _in_time(tmp_path, nodes: list[tuple[str, int, int]], workloads: list[tuple[str, int, str]],
             horizon: str = "1h") -> Compilation:
    """`_write`'s policy with a horizon of steps of an hour, each workload a job of one."""
    _write(tmp_path, nodes, workloads)
    path = tmp_path / "p.fit"
    path.write_text(path.read_text().replace('  command = ["run"]\n', '  command = ["run"]\n'
                                             '  kind = job\n  duration = 1h\n')
                    + f'policy {{\n  horizon = {horizon}\n  step = 1h\n  start = "2027-12-01T12:00Z"\n}}\n')
    return Compilation(path)


def test_a_timed_answer_overfilling_a_node_per_step_is_e0509_not_a_bug_of_fitcs(tmp_path):
    # the same fleet with a horizon of one step: each workload a job of one hour. Per step the
    # jobs take 4 + 4 of 6 CPUs as Slurm gives them; it was E0507 ("a bug in fitc")
    _, placement, verdict = _placed(_in_time(tmp_path, [("n1", 6, 2)], [("a", 3, "1"), ("b", 3, "1")]))
    assert verdict.outcome is Outcome.UNDECIDED and placement.status is Status.UNKNOWN
    assert placement.overfull == ["n1"]
    assert [d.code for d in verdict.diagnostics] == ["E0509"]


def test_a_timed_answer_overfilling_a_node_moves_a_replica_at_its_times(tmp_path):
    # two such nodes: the cheapest answer runs both jobs on one (6 of 6 CPUs per replica, 4 + 4
    # as Slurm gives them); a replica of one moves to the other node at the same hour. It was
    # E0509 (with a horizon the overfull nodes were named, never repaired)
    problem, placement, verdict = _placed(_in_time(tmp_path, [("n1", 6, 2), ("n2", 6, 2)],
                                                   [("a", 3, "1"), ("b", 3, "1")]))
    assert verdict.outcome is Outcome.PLACED and not placement.overfull, verdict.diagnostics
    assert broken_rules(problem, placement) == []
    assert sorted(Counter(a.node for a in placement.assignments).values()) == [1, 5]
    assert {(a.start, a.end) for a in placement.assignments} == {(0, 1)}
    assert placement.value == 2  # two nodes for the hour


# ---- an independent check on tiny clusters: every placement enumerated, Slurm's rule counted here

def _slurm_cpus(replicas: int, cpu_milli: int, threads: int) -> int:
    """What Slurm gives a job of `replicas` tasks on one node: whole CPUs, then whole cores."""
    cpus = replicas * -(-cpu_milli // 1000)
    return -(-cpus // threads) * threads


def _true_optimum(nodes: list[tuple[str, int, int]], workloads: list[tuple[str, int, int]],
                  prices: dict[str, Fraction]) -> Fraction | None:
    """The least cost over every placement Slurm runs (None: none does)."""
    best = None
    per_workload = [[split for split in itertools.product(range(replicas + 1), repeat=len(nodes))
                     if sum(split) == replicas] for _, replicas, _ in workloads]
    for splits in itertools.product(*per_workload):
        if all(sum(_slurm_cpus(split[i], cpu, threads) for split, (_, _, cpu) in zip(splits, workloads))
               <= cpus for i, (_, cpus, threads) in enumerate(nodes)):
            cost = sum((prices[name] for i, (name, _, _) in enumerate(nodes) if any(s[i] for s in splits)),
                       Fraction(0))
            best = cost if best is None else min(best, cost)
    return best


def _runs_under_slurm(placement: Placement, nodes: list[tuple[str, int, int]],
                      workloads: list[tuple[str, int, int]]) -> bool:
    jobs = Counter((a.workload, a.node) for a in placement.assignments)
    cpu = {name: milli for name, _, milli in workloads}
    return all(sum(_slurm_cpus(jobs[(w, name)], cpu[w], threads) for w in cpu) <= cpus
               for name, cpus, threads in nodes)


def test_on_tiny_clusters_the_bound_never_exceeds_the_true_optimum_and_the_answer_runs(tmp_path, monkeypatch):
    rng = random.Random(40)
    decided, repairs = 0, []

    def watched(problem, placement, **given):  # the repair, noting whether it moved a replica
        before = [a.node for a in placement.assignments]
        after = repaired(problem, placement, **given)
        repairs.append(before != [a.node for a in after.assignments])
        return after

    monkeypatch.setattr(whole_cores, "repaired", watched)
    for trial in range(24):
        nodes = [(f"n{i}", rng.choice((2, 4, 6)), rng.choice((1, 2, 2))) for i in range(rng.choice((2, 3)))]
        workloads = [(f"w{i}", rng.randint(1, 3), rng.choice((500, 1000, 1000, 1000, 1500, 2000)))
                     for i in range(3)]
        prices = {name: Fraction(i + 2, 2) for i, (name, _, _) in enumerate(nodes)}
        directory = tmp_path / f"t{trial}"
        directory.mkdir()
        for name, cpus, threads in nodes:  # an inventory per node, at its price
            (directory / f"{name}.txt").write_text(
                f"NodeName={name} CPUTot={cpus} ThreadsPerCore={threads} RealMemory=16000 State=IDLE\n")
        text = "".join(f'inventory {name} {{\n  format = slurm\n  file = "{name}.txt"\n  '
                       f'price = {float(prices[name])} USD/h\n}}\n' for name, _, _ in nodes)
        text += "".join(f'workload {name} {{\n  replicas = {replicas}\n  cpu = {milli}m\n  memory = 1Gi\n'
                        f'  command = ["run"]\n}}\n' for name, replicas, milli in workloads)
        (directory / "p.fit").write_text(text)
        compilation = Compilation(directory / "p.fit")
        problem = compilation.problem
        assert problem is not None, trial
        placement = solve(problem, "auto", 20.0)
        verdict = compilation.verdict(placement, 20.0)
        truth = _true_optimum(nodes, workloads, prices)
        if placement.bound is not None and truth is not None:
            assert placement.bound <= truth, (trial, nodes, workloads)
        if verdict.outcome is Outcome.INFEASIBLE:
            assert truth is None, (trial, nodes, workloads)
        if verdict.outcome is Outcome.PLACED:
            decided += 1
            assert _runs_under_slurm(placement, nodes, workloads), (trial, nodes, workloads)
            assert truth is not None and placement.value is not None and placement.value >= truth
            if placement.status is Status.OPTIMAL:
                assert placement.value == truth, (trial, nodes, workloads)
    assert decided >= 12  # most of them placed
    assert any(repairs)  # some answers were repaired: the check reaches the repair stage


def test_three_jobs_on_two_smt_nodes_still_compile_for_slurm(tmp_path):
    # h40h's case, each workload of one replica: its per-replica size is exact (whole cores)
    (tmp_path / "nodes.txt").write_text("".join(
        f"NodeName={n} CPUTot=4 ThreadsPerCore=2 RealMemory=16000 State=IDLE Partitions=debug\n"
        for n in ("n1", "n2")))
    (tmp_path / "p.fit").write_text(
        'inventory hpc {\n  format = slurm\n  file = "nodes.txt"\n}\n' + "".join(
            f'workload {n} {{\n  replicas = 1\n  cpu = {c}\n  memory = 1Gi\n  command = ["run"]\n}}\n'
            for n, c in (("a", 1), ("b", 1), ("c", 2))))
    context = context_for(tmp_path / "p.fit")
    assert context.problem.demand("a").requests["cpu"] == 2000  # exact: one replica
    assert {a.node for a in context.placement.assignments} == {"n1", "n2"}


def _running(tmp_path, on: dict[str, list[str]]) -> str:
    """What runs now, as fitc's placement JSON: workload -> the node of each replica."""
    path = tmp_path / "now.json"
    path.write_text(json.dumps({"assignments": [
        {"workload": name, "replica": index, "node": node}
        for name, nodes in on.items() for index, node in enumerate(nodes)]}))
    return str(path)


def test_a_plan_towards_a_node_overfull_in_whole_cores_moves_a_replica_off_it(tmp_path, capsys):
    # a x3 and c x1 run on n1 (4 CPUs per replica of its 4; Slurm gives them 4 + 2), c x1 on
    # n2: the move's model keeps all where it runs. Its end state is repaired (c's replica to
    # its job's free thread on n2), so the plan moves it, and every wave verifies
    compilation = _write(tmp_path, [("n1", 4, 2), ("n2", 4, 2)], [("a", 3, "1"), ("c", 2, "1")])
    now = _running(tmp_path, {"a": ["n1"] * 3, "c": ["n1", "n2"]})
    policy = str(compilation.root_path)
    assert main(["plan", policy, "--current", now, "--format", "json"]) == EXIT_CHANGES
    document = json.loads(capsys.readouterr().out)
    assert [(m["workload"], m["source"], m["target"]) for w in document["waves"] for m in w["moves"]] \
        == [("c", "n1", "n2")]
    (tmp_path / "plan.json").write_text(json.dumps(document))
    assert main(["verify", policy, str(tmp_path / "plan.json"), "--current", now]) == 0
    reached = target_placement(Compilation(tmp_path / "p.fit", current=now), 20.0)
    assert Counter(a.node for a in reached.placement.assignments) == {"n1": 3, "n2": 2}
    assert not any(d.is_error for d in reached.diagnostics)


def test_a_plan_whose_end_state_no_move_repairs_is_e0509_not_a_plan(tmp_path, capsys):
    # 3 + 3 replicas of 1 CPU on the one node of 3 cores x 2 threads (as above): the plan
    # kept them there ("no changes"), and compile --current called it a bug of fitc's (E0507)
    compilation = _write(tmp_path, [("n1", 6, 2)], [("a", 3, "1"), ("b", 3, "1")])
    now = _running(tmp_path, {"a": ["n1"] * 3, "b": ["n1"] * 3})
    assert main(["plan", str(compilation.root_path), "--current", now]) == EXIT_ERRORS
    assert "error[E0509]" in capsys.readouterr().err
    reached = target_placement(Compilation(tmp_path / "p.fit", current=now), 20.0)
    assert reached.placement.overfull == ["n1"]
    assert [d.code for d in reached.diagnostics if d.is_error] == ["E0509"]


# ---- in time, the same check: every replica's node and start enumerated, Slurm's rule per step

Job = tuple[str, int, int, int]  # (name, replicas, cpu in millicores, duration in steps)


def _timed_truth(nodes: list[tuple[str, int, int]], jobs: list[Job], steps: int,
                 prices: dict[str, Fraction]) -> Fraction | None:
    """The least cost over every timed placement Slurm runs: a job's replicas on a node from
    one start are one Slurm job (whole CPUs per task, whole cores per job), counted at each
    step it runs (None: no placement runs)."""
    spots = [(node, start) for node in range(len(nodes)) for start in range(steps)]
    choices = [[Counter(combo) for combo in itertools.combinations_with_replacement(
        [(node, start) for node, start in spots if start + duration <= steps], replicas)]
        for _, replicas, _, duration in jobs]
    best = None
    for choice in itertools.product(*choices):
        used: Counter[tuple[int, int]] = Counter()  # (node, step) -> CPUs
        for (_, _, milli, duration), counts in zip(jobs, choice, strict=True):
            for (node, start), count in counts.items():
                for step in range(start, start + duration):
                    used[(node, step)] += _slurm_cpus(count, milli, nodes[node][2])
        if all(cpus <= nodes[node][1] for (node, _), cpus in used.items()):
            cost = sum((prices[nodes[node][0]] for node, _ in used), Fraction(0))
            best = cost if best is None else min(best, cost)
    return best


def _prices(nodes: list[tuple[str, int, int]]) -> dict[str, Fraction]:
    return {name: Fraction(i + 2, 2) for i, (name, _, _) in enumerate(nodes)}


def _timed_policy(directory, nodes: list[tuple[str, int, int]], jobs: list[Job]) -> Compilation:
    """An inventory per Slurm node at `_prices`, a job per `jobs`, a horizon of 3 hours."""
    for name, cpus, threads in nodes:
        (directory / f"{name}.txt").write_text(
            f"NodeName={name} CPUTot={cpus} ThreadsPerCore={threads} RealMemory=16000 State=IDLE\n")
    prices = _prices(nodes)
    text = "".join(f'inventory {name} {{\n  format = slurm\n  file = "{name}.txt"\n  '
                   f'price = {float(prices[name])} USD/h\n}}\n' for name, _, _ in nodes)
    text += "".join(f'workload {name} {{\n  replicas = {replicas}\n  cpu = {milli}m\n  memory = 1Gi\n'
                    f'  command = ["run"]\n  kind = job\n  duration = {duration}h\n}}\n'
                    for name, replicas, milli, duration in jobs)
    text += 'policy {\n  horizon = 3h\n  step = 1h\n  start = "2027-12-01T12:00Z"\n}\n'
    (directory / "p.fit").write_text(text)
    return Compilation(directory / "p.fit")


def test_a_timed_job_split_over_two_nodes_swaps_with_a_job_that_fits_whole_beside_the_other(tmp_path):
    # n0 (4 CPUs) holds a 3-CPU replica of w0 and one of w1's (4 + 2 CPUs as Slurm gives
    # them), n1 (6) the other of w0 and two of w1 (4 + 2): no node has room, and every run
    # covers step 1. w0's replica goes to n1 and w1's two come back to n0 (6 and 4 CPUs:
    # both full); it was E0509
    nodes, jobs = [("n0", 4, 2), ("n1", 6, 2)], [("w0", 2, 3000, 2), ("w1", 3, 500, 2)]
    problem, placement, verdict = _placed(_timed_policy(tmp_path, nodes, jobs))
    assert verdict.outcome is Outcome.PLACED and broken_rules(problem, placement) == []
    assert Counter((a.workload, a.node) for a in placement.assignments) == {("w0", "n1"): 2, ("w1", "n0"): 3}
    assert placement.value == _timed_truth(nodes, jobs, 3, _prices(nodes)) == 5


def test_a_timed_replica_moves_to_another_start_only_within_its_window(tmp_path):
    # one node of 6 CPUs: w0's 3 replicas (2 h) and w1's 3 (1 h) fit it counted per replica
    # (6 of 6), not as Slurm gives them (4 + 4): one of w1's moves an hour later, while w0
    # still runs (2 + 2 CPUs of w1's, 4 of w0's at each hour). With `deadline = 1h` on w1 it
    # must start at 0, as w0 must by `deadline = 2h`: E0509
    nodes, jobs = [("n0", 6, 2)], [("w0", 3, 1000, 2), ("w1", 3, 1000, 1)]
    problem, placement, verdict = _placed(_timed_policy(tmp_path, nodes, jobs))
    assert verdict.outcome is Outcome.PLACED and broken_rules(problem, placement) == []
    assert sorted((a.workload, a.start) for a in placement.assignments if a.workload == "w1") \
        == [("w1", 0), ("w1", 0), ("w1", 1)]
    assert placement.value == _timed_truth(nodes, jobs, 3, _prices(nodes)) == 2
    path = tmp_path / "p.fit"
    path.write_text(path.read_text().replace('duration = 2h\n', 'duration = 2h\n  deadline = 2h\n')
                    .replace('duration = 1h\n', 'duration = 1h\n  deadline = 1h\n'))
    _, placement, verdict = _placed(Compilation(path))
    assert placement.overfull == ["n0"] and [d.code for d in verdict.diagnostics] == ["E0509"]


def _runs_under_slurm_per_step(placement: Placement, nodes: list[tuple[str, int, int]],
                               jobs: list[Job]) -> bool:
    groups = Counter((a.workload, a.node, a.start, a.end) for a in placement.assignments)
    cpu = {name: milli for name, _, milli, _ in jobs}
    size = {name: (cpus, threads) for name, cpus, threads in nodes}
    used: Counter[tuple[str, int]] = Counter()
    for (name, node, start, end), count in groups.items():
        for step in range(start, end):
            used[(node, step)] += _slurm_cpus(count, cpu[name], size[node][1])
    return all(cpus <= size[node][0] for (node, _), cpus in used.items())


def test_in_time_an_answer_is_e0509_only_where_no_placement_runs_under_slurm(tmp_path, monkeypatch):
    # random tiny timed fleets of Slurm nodes of 2 threads per core: where some placement runs
    # (enumerated here), fitc places it (a replica moved to another start where no node has
    # room at its own: it was E0509, h41h's seed 126); E0509 only where none does
    rng = random.Random(42)
    retimed = []
    retime = whole_cores_time._Runs.retime_one_off

    def watched(runs, source, step, objective):
        moved = retime(runs, source, step, objective)
        retimed.append(moved)
        return moved

    monkeypatch.setattr(whole_cores_time._Runs, "retime_one_off", watched)
    placed = 0
    for trial in range(TIMED_TRIALS):
        nodes = [(f"n{i}", rng.choice((4, 6, 8)), 2) for i in range(rng.choice((1, 1, 2)))]
        jobs: list[Job] = []
        while sum(j[1] for j in jobs) < 5 and len(jobs) < rng.choice((2, 3, 3)):
            jobs.append((f"w{len(jobs)}", rng.randint(1, min(3, 5 - sum(j[1] for j in jobs))),
                         rng.choice((500, 1000, 1000, 3000)), rng.choice((1, 2))))
        prices = _prices(nodes)
        directory = tmp_path / f"t{trial}"
        directory.mkdir()
        problem, placement, verdict = _placed(_timed_policy(directory, nodes, jobs))
        truth = _timed_truth(nodes, jobs, 3, prices)
        case = (trial, nodes, jobs, [d.code for d in verdict.diagnostics])
        if placement.bound is not None and truth is not None:
            assert placement.bound <= truth, case
        if truth is None:
            assert verdict.outcome is not Outcome.PLACED, case
            continue
        placed += 1
        assert verdict.outcome is Outcome.PLACED, case
        assert broken_rules(problem, placement) == [] and _runs_under_slurm_per_step(placement, nodes, jobs)
        assert placement.value is not None and placement.value >= truth, case
        if placement.status is Status.OPTIMAL:
            assert placement.value == truth, case
    assert placed >= TIMED_TRIALS // 2
    assert any(retimed)  # some answers were moved in time: the check reaches that stage


TIMED_TRIALS = 40
