"""option_hosts.py: a follower on node of a workload whose spreads over its options are
narrowed, split beside each of its parts, the parts' counts chosen with room for it."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

from fitlang.rules import option_spread
from fitlang.rules.option_hosts import dealt, hosted

import reference
from solving import problem_from, solved


def _more_hosts_than_throughput(spreads: list[tuple[str, int]] | None = None) -> str:
    """`bench/option_spreads.py --rules` seed 738 (84 nodes): `chat` (5 replicas of G80, one
    a node in z2 at 1.00, or 5 of G24, two a node in z1 at 2.00; 4 CPUs of 8) under `spread
    zone max_skew 3`; `web` (25 replicas of one CPU) beside chat on its nodes, 4 a node. The
    throughput asks 5 nodes of chat, room for 20: the optimum (9.00) runs all 5 of G80 and 2
    of G24 besides, 7 nodes. Following one option's share, 13 replicas were left out."""
    pools = [reference.Pool("g0", 16, 8, 32, 200, "G24", 2, "z1", "r1"),
             reference.Pool("g1", 26, 8, 32, 100, "G80", 1, "z2", "r1"),
             reference.Pool("c0", 25, 4, 16, 40, zone="z1", region="r1")]
    chat = reference.Workload("chat", 5, 4000, 4, gpus=1, options=[("G80", 5), ("G24", 5)],
                              spreads=[("zone", 3)])
    web = reference.Workload("web", 25, 1000, 2, spreads=spreads or [], rules=[("chat", "node", False)])
    return reference.to_fit(reference.Spec(pools, [chat, web]))


def test_the_follower_runs_beside_each_part_and_the_parts_host_it(tmp_path):
    problem = problem_from(tmp_path, _more_hosts_than_throughput())
    narrowed, same, _ = option_spread.narrowed(problem)
    chat = [d for d in narrowed.demands if d.name.startswith("chat")]
    web = [d for d in narrowed.demands if d.name.startswith("web")]
    assert sum(d.replicas for d in chat) == 7 and sum(d.replicas for d in web) == 25
    assert {r.target for d in web for r in d.affinities} <= {d.name for d in chat}
    assert not same
    placement = solved(problem, time_limit=10.0)  # (verified: every web replica beside chat)
    assert not placement.unplaced and placement.value == Fraction(9)


def test_the_follower_is_dealt_evenly_over_its_spreads_domains(tmp_path):
    problem = problem_from(tmp_path, _more_hosts_than_throughput([("zone", 1)]))
    web = replace(problem.demand("web"), replicas=9)
    assert dealt(problem, web, [("z1", 8), ("z2", 8)]) == [4, 5]
    assert dealt(problem, web, [("z1", 8), ("z1", 8), ("z2", 3)]) is None  # (z2 holds 3: 6 in z1)
    assert dealt(problem, web, [("z1", 4), ("z2", 4)]) is None  # (room for 8)
    assert dealt(problem, replace(web, spreads=[]), [(None, 4), (None, 8)]) == [4, 5]
    # (first beside the parts whose nodes hold one replica each: `--rules` seed 682 paid a node
    # more beside G24's two-GPU nodes, where G24's one-GPU nodes had room for free)
    assert dealt(problem, replace(web, spreads=[]), [(None, 8), (None, 8)], [False, True]) == [1, 8]


def test_a_follower_counted_with_others_is_not_split(tmp_path):
    problem = problem_from(tmp_path, _more_hosts_than_throughput())
    group = problem.option_groups[0]
    assert hosted(problem, group) is problem.demand("web")
    gang = problem.with_demands([replace(d, gang=True) if d.name == "web" else d for d in problem.demands])
    assert hosted(gang, group) is None
    names = [d.name for d in option_spread.narrowed(gang)[0].demands]
    assert names.count("web") == 1 and not any(n.startswith("web~") for n in names)  # (as before)


def _beside_a_node_spread() -> str:
    """`--rules` seed 771 (74 nodes): `chat` (4 of G80 in z1 at 4.00 a GPU or z2 at 2.00 for
    two, r1; or 8 of G24 in z3 of r2 at 1.00) under `spread region max_skew 1`, `spread node
    max_skew 2` and 3 replicas within 10 ms (r1 only); `web` (7, `spread zone max_skew 2`)
    beside chat on its nodes. Its spread over nodes kept chat from being split (`unknown`);
    the optimum is 8.00."""
    pools = [reference.Pool("g0", 13, 8, 32, 400, "G80", 1, "z1", "r1"),
             reference.Pool("g1", 17, 8, 32, 200, "G80", 2, "z2", "r1"),
             reference.Pool("g2", 27, 8, 32, 100, "G24", 1, "z3", "r2"),
             reference.Pool("c0", 17, 4, 16, 60, zone="z2", region="r1")]
    chat = reference.Workload("chat", 4, 1000, 4, gpus=1, options=[("G80", 4), ("G24", 8)],
                              spreads=[("region", 1), ("node", 2)], latency=(10, 3))
    web = reference.Workload("web", 7, 1000, 2, spreads=[("zone", 2)], rules=[("chat", "node", False)])
    return reference.to_fit(reference.Spec(pools, [chat, web]))


def test_a_spread_over_nodes_is_kept_by_each_part_leaving_a_node_empty(tmp_path):
    problem = problem_from(tmp_path, _beside_a_node_spread())
    narrowed, _, _ = option_spread.narrowed(problem)
    for part in (d for d in narrowed.demands if d.name.startswith("chat")):
        assert [s.topology for s in part.spreads] == ["node"]
        assert part.replicas < sum(narrowed.node_class(c).count for c in part.eligible)
    placement = solved(problem, time_limit=10.0)
    assert not placement.unplaced and placement.value == Fraction(8)
