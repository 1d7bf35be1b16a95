"""An independent reference for `fitc plan`'s move problem (issue 18): a node-level MIP for HiGHS.

    .venv/bin/python bench/move_reference.py --shape inventory --nodes 1000 --workloads 100 \
        --seconds 1080
    .venv/bin/python bench/move_reference.py --seed 2 --lns 2

The instance is `bench/move_bench.py`'s (the fleet at rest, then ~10% of its nodes changed).
fitc reads the policy and the state into its `Problem` (the data: node classes with their
nodes, capacities, prices and zones; demands with their requests and the classes they may use;
spreads, affinities, latency, power caps, option groups; what runs where). The model written
here uses none of fitc's encoding or search: one integer x[d, n] per demand and node it may
use, and every rule the inventory shape states written again from the language's meaning:

- every replica placed (options: their throughput reaches the workload's), node capacity per
  resource, `anti_affinity self on node` (one a node), workloads apart on a node, `exclusive`;
- `anti_affinity X on zone`, `spread zone max_skew K` over the zones of the classes the demand
  may use that have nodes, latency (at least `replicas` within reach), power caps, the budget,
  buy limits, `movable = false`;
- the objective `cost + move_price x (replicas moved + nodes drained + nodes bought)`: a node
  costs its price when it hosts a replica; a replica moves unless it stays on the node it runs
  on (moves of a demand = min(running, placed) - stays, as `moves_between` pairs them).

It starts from fitc's plan (HiGHS `setSolution`), runs HiGHS for `--seconds`, and prints its
best value and bound next to the plan's (the bound is a bound on the plan's problem where the
model is exact: tests/test_moving.py checks its optimum against the brute force on small
fleets); its end state is checked by fitc's `verify` (independent of this encoding), valued
by fitc's `objective_value`, and compared with the plan's by class and by zone. `--free-zones
A,B` fixes every node outside those zones to the plan's replicas (one step of a large-
neighbourhood search); `--lns S` frees the pairs of cloud zones in turn, S seconds each.
Not a test: a reference run once, long, to split the plan's gap into "the plan is dear" and
"the bound is weak" (docs/performance.md, session 15).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import move_bench  # noqa: E402
import numpy as np  # noqa: E402

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.problem import RESOURCES  # noqa: E402
from fitlang.plan import make_plan  # noqa: E402

INF = float("inf")


class Instance:
    """The move problem's data, flattened to nodes (no fitc model or search in here)."""

    def __init__(self, problem) -> None:
        self.problem = problem
        self.nodes: list[str] = []
        self.node_class: dict[str, object] = {}
        for node_class in problem.classes:
            for name in list(node_class.node_names[: node_class.count]):
                self.nodes.append(name)
                self.node_class[name] = node_class
        self.capacity = {n: self.node_class[n].capacity_of(n) for n in self.nodes}
        self.now: dict[str, Counter] = defaultdict(Counter)  # node -> demand -> replicas now
        for demand, where in problem.running.items():
            for node, count in where.items():
                self.now[node][demand] += count
        self.nodes_of: dict[str, list[str]] = defaultdict(list)  # class id -> its nodes
        for node in self.nodes:
            self.nodes_of[self.node_class[node].id].append(node)


def _fit(demand, capacity: dict[str, int]) -> int:
    most = demand.replicas
    for resource in RESOURCES:
        need = demand.requests.get(resource, 0)
        if need:
            most = min(most, capacity.get(resource, 0) // need)
    return 1 if demand.one_per_node and most >= 1 else max(0, most)


class Linear:
    """A MIP as lists: columns (bounds, integer, cost) and rows (terms, lower, upper)."""

    def __init__(self) -> None:
        self.lower: list[float] = []
        self.upper: list[float] = []
        self.integer: list[int] = []
        self.cost: list[float] = []
        self.rows: list[tuple[list[tuple[int, float]], float, float]] = []

    def var(self, lower: float, upper: float, integer: bool = True, cost: float = 0.0) -> int:
        self.lower.append(lower)
        self.upper.append(upper)
        self.integer.append(int(integer))
        self.cost.append(cost)
        return len(self.cost) - 1

    def row(self, terms, lower: float = -INF, upper: float = INF) -> None:
        merged: dict[int, float] = defaultdict(float)
        for column, coefficient in terms:
            merged[column] += coefficient
        self.rows.append(([(c, a) for c, a in merged.items() if a], lower, upper))

    def highs(self):
        import highspy

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        starts, index, value, lower, upper = [0], [], [], [], []
        for terms, lo, hi in self.rows:
            largest = max((abs(a) for _, a in terms), default=1.0)  # each row scaled to 1
            index += [c for c, _ in terms]
            value += [a / largest for _, a in terms]
            starts.append(len(index))
            lower.append(lo / largest if lo > -INF else -INF)
            upper.append(hi / largest if hi < INF else INF)
        h.passModel(len(self.cost), len(self.rows), len(index), 2, 1, 0.0,
                    np.array(self.cost), np.array(self.lower, dtype=float), np.array(self.upper, dtype=float),
                    np.array(lower), np.array(upper), np.array(starts, dtype=np.int32),
                    np.array(index, dtype=np.int32), np.array(value), np.array(self.integer, dtype=np.int32))
        return h


class Reference:
    """The node-level MIP of the instance (module docstring). Costs in USD/h."""

    def __init__(self, instance: Instance) -> None:
        self.instance, self.problem = instance, instance.problem
        self.lin = Linear()
        self.x: dict[tuple[str, str], int] = {}
        self.ub: dict[tuple[str, str], int] = {}
        self.on: dict[str, list[tuple[str, str]]] = defaultdict(list)  # node -> its (d, n) keys
        self.use: dict[str, int] = {}
        self.placed: dict[str, list[tuple[int, float]]] = {}
        self.any_on: dict[tuple[str, str], int] = {}
        self.stays: dict[tuple[str, str], int] = {}
        self.constant = 0.0  # the objective's constant: the moves and drains if nothing stayed
        self.price = float(self.problem.move_price or 0)

    def build(self) -> None:
        self._columns()
        self._capacity()
        self._replicas()
        self._apart()
        self._zones()
        self._latency()
        self._power_budget_buy()
        self._objective()
        self._move_cap()

    def _columns(self) -> None:
        inst, lin = self.instance, self.lin
        for node in inst.nodes:
            self.use[node] = lin.var(0, 1, cost=float(inst.node_class[node].price))
        for demand in self.problem.demands:
            for class_id in demand.eligible:
                for node in inst.nodes_of.get(class_id, ()):
                    most = _fit(demand, inst.capacity[node])
                    if most <= 0:
                        continue
                    key = (demand.name, node)
                    low = inst.now[node][demand.name] if demand.name in self.problem.pinned else 0
                    self.x[key] = lin.var(low, most)
                    self.ub[key] = most
                    self.on[node].append(key)
                    lin.row([(self.x[key], 1), (self.use[node], -most)], upper=0)

    def _capacity(self) -> None:
        inst = self.instance
        for node, keys in self.on.items():
            for resource in RESOURCES:
                need = [(self.problem.demand(key[0]).requests.get(resource, 0), key) for key in keys]
                need = [(a, key) for a, key in need if a]
                have = inst.capacity[node].get(resource, 0)
                if need and sum(a * self.ub[key] for a, key in need) > have:
                    # times use[n]: tighter in the relaxation, the same for whole numbers
                    self.lin.row([(self.x[key], a) for a, key in need] + [(self.use[node], -have)], upper=0)

    def _replicas(self) -> None:
        lin = self.lin
        by_demand: dict[str, list] = defaultdict(list)
        for (d, _n), column in self.x.items():
            by_demand[d].append((column, 1.0))
        grouped = {name for group in self.problem.option_groups for name in group.demands}
        for demand in self.problem.demands:
            self.placed[demand.name] = by_demand[demand.name]
            if demand.name not in grouped:
                lin.row(by_demand[demand.name], demand.replicas, demand.replicas)
            else:
                lin.row(by_demand[demand.name], 0, demand.replicas)
        for group in self.problem.option_groups:
            terms = [(c, float(self.problem.demand(d).throughput)) for d in group.demands
                     for c, _ in self.placed[d]]
            lin.row(terms, lower=float(group.required))
            if group.gang:  # one option, all of its replicas
                chosen = [lin.var(0, 1) for _ in group.demands]
                lin.row([(c, 1) for c in chosen], 1, 1)
                for flag, d in zip(chosen, group.demands):
                    replicas = self.problem.demand(d).replicas
                    lin.row(self.placed[d] + [(flag, -replicas)], 0, 0)
        for demand in self.problem.demands:
            for rule in demand.affinities:
                assert rule.anti, f"{demand.name}: positive affinity is not modelled"

    def _hosts(self, demand: str, node: str) -> int:
        """1 when `node` hosts a replica of `demand` (forced up by x; nothing forces it down,
        and nothing in the model profits from it being 1)."""
        key = (demand, node)
        if key not in self.any_on:
            if self.ub[key] == 1:
                self.any_on[key] = self.x[key]
            else:
                flag = self.lin.var(0, 1)
                self.lin.row([(self.x[key], 1), (flag, -self.ub[key])], upper=0)
                self.any_on[key] = flag
        return self.any_on[key]

    def _apart(self) -> None:
        apart, alone = self.problem.apart_on_nodes
        demands_of: dict[str, list[str]] = defaultdict(list)
        for demand in self.problem.demands:
            demands_of[demand.workload].append(demand.name)
        for node, keys in self.on.items():
            here = {d for d, _ in keys}
            for d in here:
                workload = self.problem.demand(d).workload
                for other_workload in apart.get(workload, ()):
                    for e in demands_of[other_workload]:
                        if e in here and e > d:
                            self.lin.row([(self._hosts(d, node), 1), (self._hosts(e, node), 1)], upper=1)
                if workload in alone:
                    for e in here:
                        if e != d:
                            self.lin.row([(self._hosts(d, node), 1), (self._hosts(e, node), 1)], upper=1)

    def _domain(self, node: str, topology: str) -> str | None:
        return self.instance.node_class[node].topology_value(topology)

    def _zones(self) -> None:
        """Anti-affinity over a topology (not node) and spreads."""
        lin = self.lin
        for demand in self.problem.demands:
            for rule in demand.affinities:
                if rule.topology == "node":
                    continue  # one a node (self: the columns' bound) or apart (_apart)
                targets = ([demand.name] if rule.target == "self" else
                           [d.name for d in self.problem.demands if d.workload == rule.target])
                for _domain, mine, theirs in self._by_domain(demand.name, targets, rule.topology):
                    if rule.target == "self":
                        lin.row([(c, 1) for c in mine], upper=1)
                        continue
                    if not mine or not theirs:
                        continue
                    a, b = lin.var(0, 1), lin.var(0, 1)
                    for flag in mine:
                        lin.row([(flag, 1), (a, -1)], upper=0)
                    for flag in theirs:
                        lin.row([(flag, 1), (b, -1)], upper=0)
                    lin.row([(a, 1), (b, 1)], upper=1)
            for spread in demand.spreads:
                self._spread(demand, spread)

    def _by_domain(self, demand: str, targets: list[str], topology: str):
        """(domain, what `demand` places there, what the targets place there): replica counts
        for `self`, else flags (a node hosts one)."""
        mine: dict[str, list] = defaultdict(list)
        theirs: dict[str, list] = defaultdict(list)
        for (d, node), column in self.x.items():
            domain = self._domain(node, topology)
            if d == demand:
                mine[domain].append(column if targets == [demand] else self._hosts(d, node))
            elif d in targets:
                theirs[domain].append(self._hosts(d, node))
        for domain in sorted(set(mine) | set(theirs), key=str):
            yield domain, mine.get(domain, []), theirs.get(domain, [])

    def _spread(self, demand, spread) -> None:
        """Replicas per domain within [least, least + K] over the domains of the classes the
        demand may use that have nodes (offers: a domain once a node there is bought)."""
        lin = self.lin
        counts: dict[str, list] = defaultdict(list)
        bought_in: dict[str, list] = defaultdict(list)
        fixed: set[str] = set()
        for class_id in demand.eligible:
            node_class = self.problem.node_class(class_id)
            domain = node_class.topology_value(spread.topology)
            assert domain is not None, (demand.name, class_id)
            for node in self.instance.nodes_of.get(class_id, ()):
                if node_class.offer is None:
                    fixed.add(domain)
                else:
                    bought_in[domain].append(self.use[node])
                if (demand.name, node) in self.x:
                    counts[domain].append((self.x[(demand.name, node)], 1))
        domains = sorted(fixed | set(bought_in))
        if len(domains) < 2:
            return
        big = demand.replicas
        least = lin.var(0, big)
        for domain in domains:
            count = counts[domain]
            lin.row(count + [(least, -1)], upper=spread.max_skew)
            if domain in fixed:
                lin.row(count + [(least, -1)], lower=0)
            else:  # count >= least - big (1 - exists); exists >= each bought node's use
                exists = lin.var(0, 1)
                for flag in bought_in[domain]:
                    lin.row([(flag, 1), (exists, -1)], upper=0)
                lin.row(count + [(least, -1), (exists, -big)], lower=-big)

    def _latency(self) -> None:
        for demands in self.problem.latency_demands():
            names = {d.name for d in demands}
            for rule in demands[0].latency:
                near = [(c, 1) for (name, node), c in self.x.items()
                        if name in names and self.problem.within_reach(rule, self.instance.node_class[node])]
                self.lin.row(near, lower=rule.replicas)

    def _power_budget_buy(self) -> None:
        lin, inst = self.lin, self.instance
        for cap in self.problem.power_caps:
            watts = [(self.use[n], float(inst.node_class[n].power_watts))
                     for c in set(cap.classes) for n in inst.nodes_of.get(c, ())]
            lin.row(watts, upper=float(cap.cap_watts))
        if self.problem.budget is not None:
            lin.row([(self.use[n], float(inst.node_class[n].price)) for n in inst.nodes],
                    upper=float(self.problem.budget))
        for group, limit in self.problem.buy_limits.items():  # every node of it in use at the end,
            # bought earlier or now (docs/language.md: "most nodes bought in all"; verify's rule)
            bought = [(self.use[n], 1) for n in inst.nodes if inst.node_class[n].buy_group == group]
            if bought:
                lin.row(bought, upper=limit)

    def _objective(self) -> None:
        lin, inst, problem, price = self.lin, self.instance, self.problem, self.price
        grouped = {name for group in problem.option_groups for name in group.demands}
        for demand in problem.demands:
            running = problem.running_total(demand.name)
            if not running:
                continue
            for node, count in problem.running.get(demand.name, {}).items():
                if (demand.name, node) in self.x:
                    stay = lin.var(0, count, cost=-price)
                    lin.row([(stay, 1), (self.x[(demand.name, node)], -1)], upper=0)
                    self.stays[(demand.name, node)] = stay
            if demand.name in grouped:  # paired >= min(running, placed): a binary picks which
                paired = lin.var(0, running, cost=price)
                which = lin.var(0, 1)
                big = max(running, demand.replicas)
                lin.row([(paired, 1), (which, big)] + [(c, -1) for c, _ in self.placed[demand.name]], lower=0)
                lin.row([(paired, 1), (which, -big)], lower=running - big)
            else:
                self.constant += price * min(running, demand.replicas)
        for node in inst.nodes:
            if inst.now.get(node) or node in problem.bought_now:
                self.constant += price
                lin.cost[self.use[node]] -= price  # drained unless in use at the end
            elif inst.node_class[node].offer is not None:
                lin.cost[self.use[node]] += price  # bought

    def _move_cap(self) -> None:
        """The policy's `max_moves`: the replicas that change node, in all. A workload's moves
        are the lesser of its replicas leaving nodes and those arriving: min(running, replicas)
        less those that stay on their node (each stay leaves one fewer and brings one fewer)."""
        cap = self.problem.max_moves
        if cap is None:
            return
        assert not self.problem.option_groups, "max_moves with options is not restated here"
        kept = sum(min(self.problem.running_total(d.name), d.replicas) for d in self.problem.demands)
        if kept > cap:
            self.lin.row([(stay, 1) for stay in self.stays.values()], lower=kept - cap)

    def start(self, end: dict[str, Counter]) -> tuple[np.ndarray, np.ndarray]:
        """The plan's end state as a (partial) start: x, use and the stays."""
        index, value = [], []
        for (d, node), column in self.x.items():
            index.append(column)
            value.append(end.get(node, Counter())[d])
        for node, column in self.use.items():
            index.append(column)
            value.append(int(any(end.get(node, Counter()).values())))
        for (d, node), column in self.stays.items():
            index.append(column)
            value.append(min(end.get(node, Counter())[d], self.problem.running[d][node]))
        return np.array(index, dtype=np.int32), np.array(value, dtype=float)

    def remember_bounds(self) -> None:
        self.original = (list(self.lin.lower), list(self.lin.upper))

    def fix_outside(self, end: dict[str, Counter], zones: set[str]) -> int:
        """A neighbourhood (large-neighbourhood search, one step): every node outside `zones`
        keeps what `end` places on it; the nodes in `zones` are free. The nodes freed."""
        freed = 0
        for node, column in self.use.items():
            if self.instance.node_class[node].zone in zones:
                freed += 1
                continue
            used = int(any(end.get(node, Counter()).values()))
            self.lin.lower[column] = self.lin.upper[column] = used
        for (d, node), column in self.x.items():
            if self.instance.node_class[node].zone not in zones:
                self.lin.lower[column] = self.lin.upper[column] = end.get(node, Counter())[d]
        return freed

    def free_all(self) -> None:
        self.lin.lower[:], self.lin.upper[:] = self.original

    def end_state(self, values) -> dict[str, Counter]:
        end: dict[str, Counter] = defaultdict(Counter)
        for (d, node), column in self.x.items():
            count = round(values[column])
            if count:
                end[node][d] += count
        return end


class Solved(NamedTuple):
    status: str
    value: float  # cost + moves of its end state (the constant added back)
    bound: float  # HiGHS's dual bound, the constant added back
    end: dict[str, Counter] | None  # node -> demand -> replicas; None: no solution
    bought: set[str]


def solve(reference: Reference, seconds: float, start: dict[str, Counter] | None = None,
          log: bool = False) -> Solved:
    """HiGHS on the model, from `start` (an end state) where given."""
    highs = reference.lin.highs()
    highs.setOptionValue("time_limit", seconds)
    highs.setOptionValue("mip_rel_gap", 1e-6)
    if log:
        highs.setOptionValue("output_flag", True)
        highs.setOptionValue("log_to_console", True)
    if start is not None:
        index, values = reference.start(start)
        highs.setSolution(len(index), index, values)
    highs.run()
    info = highs.getInfo()
    status = highs.modelStatusToString(highs.getModelStatus())
    bound = info.mip_dual_bound + reference.constant
    if info.primal_solution_status != 2:
        return Solved(status, INF, bound, None, set())
    solution = highs.getSolution().col_value
    bought = {n for n, column in reference.use.items() if solution[column] > 0.5
              and reference.instance.node_class[n].offer is not None}
    return Solved(status, info.objective_function_value + reference.constant, bound,
                  reference.end_state(solution), bought)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shape", choices=("fleet", "inventory"), default="inventory")
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--workloads", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--seconds", type=float, default=900)
    parser.add_argument("--move-price", default="0.01")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "fitc-move-bench"))
    parser.add_argument("--free-zones", help="only the nodes of these zones (comma-separated) are "
                        "free; every other node keeps the plan's replicas (one LNS step)")
    parser.add_argument("--lns", type=float, metavar="SECONDS",
                        help="large-neighbourhood search from the plan: pairs of cloud zones freed in "
                        "turn (the dearest first), each solved for at most SECONDS")
    parser.add_argument("--out", help="write the reference's end state (JSON) here")
    parser.add_argument("--dir", help="an instance written out (p.fit, now.json and the inventory "
                        "files, as /work/wt/briefs37/inst.py writes them) instead of generating one")
    parser.add_argument("--plan-limit", type=float, help="fitc plan's --time-limit for the start "
                        "(default: fitc's own)")
    arguments = parser.parse_args()
    from fitlang.solve.moving import _Checker, objective_value, placed_state

    with tempfile.TemporaryDirectory() as name:
        directory = Path(arguments.dir or name)
        policy, current = directory / "p.fit", directory / "now.json"
        chosen = "(read)"
        if not arguments.dir:
            files, state, base = move_bench.at_rest(arguments.shape, arguments.nodes, arguments.workloads,
                                                    arguments.seed, Path(arguments.cache))
            text, chosen = move_bench.changed_policy(base, state, arguments.seed, arguments.move_price)
            for file_name, content in files.items():
                (directory / file_name).write_text(content)
            policy.write_text(text)
            current.write_text(json.dumps(state))
        compilation = Compilation(policy, current=str(current))
        result = make_plan(compilation, compilation.current_state(), arguments.plan_limit)
        problem, placement = result.problem, result.placement
        assert problem is not None and placement is not None
        plan_end = placed_state(placement)
        plan_bought = {n for names in placement.bought.values() for n in names}
        print(f"changed {chosen}; plan value {float(placement.value):.4f} bound {float(placement.bound):.4f}")
        instance = Instance(problem)
        reference = Reference(instance)
        started = time.monotonic()
        reference.build()
        print(f"model: {len(reference.x)} x, {len(instance.nodes)} nodes, built in "
              f"{time.monotonic() - started:.1f} s", flush=True)
        if arguments.lns:
            _lns(reference, instance, problem, plan_end, arguments.lns, str(directory))
            return
        if arguments.free_zones:
            freed = reference.fix_outside(plan_end, set(arguments.free_zones.split(",")))
            print(f"{freed} nodes free in {arguments.free_zones}", flush=True)
        started = time.monotonic()
        solved = solve(reference, arguments.seconds, plan_end, log=True)
        print(f"HiGHS {solved.status}: value {solved.value:.4f} bound {solved.bound:.4f} in "
              f"{time.monotonic() - started:.0f} s wall (constant {reference.constant:.2f})")
        if solved.end is None:
            return
        end, bought, value, bound = solved.end, solved.bought, solved.value, solved.bound
        broken = _Checker(problem, bought | set(problem.bought_now), str(directory)).broken(end)
        fitc_value = objective_value(problem, "cost+moves", end, bought)
        print(f"fitc verify of the reference's end state: {len(broken)} rules broken {sorted(broken)[:5]}; "
              f"fitc's objective_value of it {float(fitc_value):.4f} (plan {float(placement.value):.4f})")
        _compare(instance, plan_end, plan_bought, end, bought)
        if arguments.out:
            Path(arguments.out).write_text(json.dumps(
                {"end": {n: dict(c) for n, c in end.items() if c}, "bought": sorted(bought),
                 "value": value, "bound": bound}))


def _lns(reference: Reference, instance: Instance, problem, end, seconds: float, root: str) -> None:
    """Zone pairs freed in turn, the dearest first; each step kept where HiGHS improves it
    (its end state checked by fitc's verify)."""
    from fitlang.solve.moving import _Checker, objective_value

    reference.remember_bounds()
    cost: Counter = Counter()
    for node, counts in end.items():
        if any(counts.values()):
            cost[instance.node_class[node].zone] += float(instance.node_class[node].price)
    zones = [z for z, c in cost.most_common() if c > 1]
    pairs = [(a, b) for i, a in enumerate(zones) for b in zones[i + 1:]]
    value = float(objective_value(problem, "cost+moves", end, set()))
    started, cpu = time.monotonic(), time.process_time()
    print(f"LNS over {len(pairs)} zone pairs of {zones}, {seconds} s each; start {value:.4f}", flush=True)
    for pair in pairs:
        reference.free_all()
        reference.fix_outside(end, set(pair))
        solved = solve(reference, seconds, end)
        if solved.end is None:
            continue
        found, bought = solved.end, solved.bought
        reached = float(objective_value(problem, "cost+moves", found, bought))
        if reached < value - 1e-9 and not _Checker(problem, bought, root).broken(found):
            value, end = reached, found
        print(f"  {pair}: {reached:.4f}, best {value:.4f} at {time.monotonic() - started:.1f} s wall, "
              f"{time.process_time() - cpu:.1f} s CPU", flush=True)


def _compare(instance: Instance, plan_end, plan_bought, end, bought) -> None:
    """Nodes in use at the end, by class, where the plan and the reference differ."""
    def by_class(state, extra) -> Counter:
        used = {n for n, c in state.items() if any(c.values())} | extra
        return Counter(instance.node_class[n].id for n in used if n in instance.node_class)

    mine, theirs = by_class(plan_end, plan_bought), by_class(end, bought)
    for class_id in sorted(set(mine) | set(theirs)):
        if mine[class_id] != theirs[class_id]:
            node_class = instance.problem.node_class(class_id)
            print(f"  {class_id:>24} {node_class.zone or '':>14} {float(node_class.price):7.3f} USD/h: "
                  f"plan {mine[class_id]:4d} nodes, reference {theirs[class_id]:4d}")
    _compare_zones(instance, plan_end, end)


def _compare_zones(instance: Instance, plan_end, end) -> None:
    """Per zone: USD/h of the nodes in use, and each demand's replicas where the two differ."""
    def by_zone(state) -> tuple[Counter, dict[str, Counter]]:
        cost: Counter = Counter()
        replicas: dict[str, Counter] = defaultdict(Counter)
        for node, counts in state.items():
            if node in instance.node_class and any(counts.values()):
                zone = instance.node_class[node].zone or ""
                cost[zone] += float(instance.node_class[node].price)
                replicas[zone].update(counts)
        return cost, replicas

    (plan_cost, plan_replicas), (cost, replicas) = by_zone(plan_end), by_zone(end)
    for zone in sorted(set(plan_cost) | set(cost)):
        moved = {d: (plan_replicas[zone][d], replicas[zone][d])
                 for d in sorted(set(plan_replicas[zone]) | set(replicas[zone]))
                 if plan_replicas[zone][d] != replicas[zone][d]}
        if moved or abs(plan_cost[zone] - cost[zone]) > 1e-9:
            print(f"  {zone}: plan {plan_cost[zone]:.2f} USD/h, reference {cost[zone]:.2f}; replicas "
                  + ", ".join(f"{d} {a} -> {b}" for d, (a, b) in moved.items()))


if __name__ == "__main__":
    main()
