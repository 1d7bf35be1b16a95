"""The plan's faster paths against the full ones they stand for (issue 18, CPU at 10,000 nodes):
each drawn state is read both ways and must give the same answer.

- `moving.replicas_moved` (a count) against the moves `moving.moves_between` lists;
- `moving._apply` (the untouched nodes shared, not copied) against a full copy written here,
  and the state it starts from left as it was;
- `verify`'s counted copy of the problem keeps the class indexes (`Problem.with_demands`);
- `LazyReasons.get` against the plain dict it stands for;
- `ScaleMove._fill` (Python ints) against a first fit written here over the same replicas;
- `moving.state_cost` (a product per class) against each node's price summed.
"""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fitlang.driver import Compilation
from fitlang.model.build import with_current
from fitlang.model.current import CurrentState, Running
from fitlang.model.problem import RESOURCES
from fitlang.solve.move_scale import ScaleMove, zone_of
from fitlang.solve.moving import ELSEWHERE, Move, _apply, moves_between, replicas_moved, state_cost
from fitlang.solve.verify import _counted

POOLS = (("a", 2, "4", "0.40", "z1"), ("b", 3, "8", "0.70", "z2"), ("c", 2, "2", "0.15", "z1"))
WORKLOADS = (("web", 4, "1", ""), ("db", 2, "2", '  zones = ["z2"]\n'),
             ("cache", 3, "1", "  anti_affinity self on node\n"))


def _policy(replicas: dict[str, int]) -> str:
    text = "".join(f"pool {name} {{\n  count = {count}\n  cpu = {cpu}\n  memory = 16GiB\n"
                   f"  price = {price} USD/h\n  zone = \"{zone}\"\n}}\n\n"
                   for name, count, cpu, price, zone in POOLS)
    for name, _, cpu, extra in WORKLOADS:
        text += (f"workload {name} {{\n  replicas = {replicas[name]}\n  cpu = {cpu}\n"
                 f"  memory = 1GiB\n{extra}}}\n\n")
    return text + "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n}\n"


NODES = [f"{name}-{i}" for name, count, _, _, _ in POOLS for i in range(count)]


@st.composite
def fleets(draw):
    """Replicas asked per workload, what runs now (some on `gone-0`, a node the policy lacks)
    and an end state (node -> workload -> replicas), each drawn freely: more or fewer
    replicas than asked, on any node."""
    replicas = {name: draw(st.integers(0, most)) for name, most, _, _ in WORKLOADS}
    running = [(name, draw(st.sampled_from(NODES + ["gone-0"])))
               for name, most, _, _ in WORKLOADS for _ in range(draw(st.integers(0, most)))]
    end: dict[str, Counter] = {}
    for name, most, _, _ in WORKLOADS:
        for _ in range(draw(st.integers(0, most))):
            end.setdefault(draw(st.sampled_from(NODES)), Counter())[name] += 1
    return replicas, running, end


def _problem(tmp_path, replicas: dict[str, int], running: list[tuple[str, str]]):
    path = tmp_path / "p.fit"
    path.write_text(_policy(replicas))
    compilation = Compilation(path)
    problem = compilation.problem
    assert problem is not None, [d.message for d in compilation.diagnostics()]
    state = CurrentState(running=tuple(Running(w, n) for w, n in running))
    return with_current(problem, compilation.check().program, state)


def _now(problem) -> dict[str, Counter]:
    state: dict[str, Counter] = {}
    for demand, nodes in problem.running.items():
        for node, count in nodes.items():
            state.setdefault(node, Counter())[demand] += count
    return state


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=fleets())
def test_the_moves_counted_are_those_moves_between_lists(tmp_path_factory, drawn):
    replicas, running, end = drawn
    problem = _problem(tmp_path_factory.mktemp("m"), replicas, running)
    start = _now(problem)
    listed = moves_between(problem, start, end)
    assert replicas_moved(problem, start, end) == sum(1 for m in listed if m.kind == "move")


def _applied_in_full(state, moves, start=True, stop=True):
    """Every node's counts copied, then the moves: what `_apply` must equal."""
    after = {node: Counter(counts) for node, counts in state.items()}
    for move in moves:
        if start:
            after.setdefault(move.target, Counter())[move.demand] += 1
        if stop and move.source != ELSEWHERE:
            after[move.source][move.demand] -= 1
            if not after[move.source][move.demand]:
                del after[move.source][move.demand]
    return after


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=fleets(), data=st.data())
def test_a_state_applied_equals_a_full_copy_and_leaves_its_start_as_it_was(tmp_path_factory, drawn, data):
    replicas, running, _ = drawn
    problem = _problem(tmp_path_factory.mktemp("a"), replicas, running)
    state = _now(problem)
    sources = [(node, name) for node, counts in state.items() for name, c in counts.items()
               for _ in range(c)] + [(ELSEWHERE, name) for name, c in problem.running_elsewhere.items()
                                     for _ in range(c)]
    picked = data.draw(st.lists(st.sampled_from(sources), unique=True) if sources else st.just([]))
    moves = [Move(name, name, source, data.draw(st.sampled_from(NODES))) for source, name in picked]
    start, stop = data.draw(st.booleans()), data.draw(st.booleans())
    before = {node: dict(counts) for node, counts in state.items()}
    after = _applied_in_full(state, moves, start, stop)
    assert _apply(state, moves, start, stop) == after
    assert list(_apply(state, moves, start, stop)) == list(after)  # the same node order
    assert {node: dict(counts) for node, counts in state.items()} == before


def test_the_counted_copy_verify_reads_keeps_the_class_indexes(tmp_path):
    problem = _problem(tmp_path, {"web": 4, "db": 2, "cache": 3}, [("web", "a-0")])
    copy = _counted(problem, Counter({"web": 1}))  # (the problem's own indexes not yet asked for)
    assert copy.demand("web").replicas == 1 and copy.demand("db").replicas == 0
    assert copy.owners() is problem.owners()  # not built again: its names found stay found
    assert _counted(problem, Counter()).owners() is problem.owners()
    assert copy.node_class("a") is problem.node_class("a")


def test_lazy_reasons_get_what_the_dict_they_stand_for_gets(tmp_path):
    problem = _problem(tmp_path, {"web": 4, "db": 2, "cache": 3}, [])
    excluded = problem.demand("db").excluded  # `zones` rules out z1: pools a and c
    keys = ["a", "b", "c", "nope", 3, None]
    got = [(excluded.get(key), excluded.get(key, "default")) for key in keys]  # before any is made
    plain = dict(excluded.items())
    assert sorted(plain) == ["a", "c"]
    assert got == [(plain.get(key), plain.get(key, "default")) for key in keys]
    assert excluded.get("a") == plain["a"]  # and once made
    excluded["b"] = "written"  # written to, it is that dict
    assert excluded.get("b") == "written" and excluded.get("nope", 1) == 1


def _first_fit(fleet: ScaleMove, node_class, demand, upcoming, zones) -> int:
    """What a new node of the class holds, written again from `_fill`'s docstring: the replica,
    then each upcoming one that fits and may run there (eligible, one per node, apart, alone,
    its zones), in weight units; 0 where the replica does not fit."""
    free = {r: node_class.capacity[r] - demand.requests[r] for r in RESOURCES}
    if any(v < 0 for v in free.values()):
        return 0
    hosted, held = Counter({demand.name: 1}), fleet.weight[demand.name]
    for other, _ in upcoming:  # (drawn with no zone they ran in: their zones are `zones`)
        if node_class.id not in other.eligible or any(other.requests[r] > free[r] for r in RESOURCES):
            continue
        if (other.one_per_node and hosted[other.name]) or other.name in fleet.alone or \
                any(d in fleet.alone for d in hosted) or \
                any(d in fleet.apart.get(other.name, ()) for d in hosted):
            continue
        if other.name in fleet.zoned and zone_of(node_class) not in zones[other.name]:
            continue
        hosted[other.name] += 1
        held += fleet.weight[other.name]
        free = {r: free[r] - other.requests[r] for r in RESOURCES}
    return held


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_a_new_node_holds_what_a_first_fit_puts_on_it(tmp_path_factory, data):
    problem = _problem(tmp_path_factory.mktemp("f"), {"web": 4, "db": 2, "cache": 3}, [])
    fleet = ScaleMove(problem)
    demands = {d.name: d for d in problem.demands}
    demand = demands[data.draw(st.sampled_from(sorted(demands)))]
    upcoming = [(demands[name], None) for name in
                data.draw(st.lists(st.sampled_from(sorted(demands)), max_size=12))]
    zones = {name: fleet._zones_for(d) for name, d in demands.items()}
    for node_class in problem.classes:
        expected = _first_fit(fleet, node_class, demand, upcoming, zones)
        assert fleet._fill(node_class, node_class.capacity, demand, upcoming, {}) == expected


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(drawn=fleets(), data=st.data())
def test_a_state_costs_its_nodes_in_use_and_bought_each_at_its_price(tmp_path_factory, drawn, data):
    replicas, running, end = drawn
    problem = _problem(tmp_path_factory.mktemp("c"), replicas, running)
    bought = set(data.draw(st.lists(st.sampled_from(NODES + ["gone-0"]))))
    owners = problem.owners()
    in_use = {node for node, counts in end.items() if sum(counts.values())} | bought
    by_node = sum((owners[node].price for node in in_use if node in owners), Fraction(0))
    assert state_cost(problem, end, bought) == by_node
