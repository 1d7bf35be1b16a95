"""A gang and a latency rule with a horizon (issue 19, `solve/timeline_rules.py`,
`rules/gang.time_rows`, `rules/latency.time_rows`): a gang's replicas of each run start at one
step; at least K of a workload's replicas run on nodes in reach of its users. Each outcome is
worked out by hand in the policy's comment; `verify` re-checks every answer (`solved`) and
rejects a gang whose replicas start apart; at a size the node-level search solves alone (more
than 16 nodes), every answer keeps both rules."""

from __future__ import annotations

import json
from fractions import Fraction

import pytest

from fitlang.solve.report import as_json
from fitlang.solve.verify import verify

from solving import problem_from, solved

# Two nodes of 32 CPUs, 1 USD/h and 1 kW each; electricity 0.30 USD/kWh but 0.10 at steps 2-3:
# a node-step costs 1.30 or 1.10. `other` (a whole node) must run at steps 2-3. The gang
# `train` (two whole-node replicas, 2 h, due by 6 h) needs both nodes at once, so it cannot
# use steps 2-3: it starts at 0 or at 4, 2 nodes x 2 steps x 1.30 = 5.20, plus `other` 2.20:
# 7.40 USD. Without `gang` a replica would run beside `other` at 2-3 (1.10 a step) and the
# other at 0-1: 7.00 USD, its replicas apart.
GANG = """
pool cpu {
  count = 2
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  power = 1kW
}

electricity grid {
  hourly = [0.30 USD/kWh, 0.30 USD/kWh, 0.10 USD/kWh, 0.10 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh]
}

workload train {
  kind = job
  replicas = 2
  cpu = 32
  memory = 64GiB
  duration = 2h
  deadline = 6h
  GANG
}

workload other {
  kind = job
  replicas = 1
  cpu = 32
  memory = 64GiB
  duration = 2h
  earliest = 2h
  deadline = 4h
}

policy {
  objective = cost
  horizon = 6h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""


def _starts(placement, workload: str) -> list[int]:
    return sorted(a.start for a in placement.assignments if a.workload == workload)


@pytest.mark.parametrize("gang, cost, together", [
    ("gang = true", Fraction("7.40"), True),
    ("", Fraction("7.00"), False),  # the same policy without the rule: its replicas start apart
])
def test_a_gang_starts_its_replicas_together_at_the_cheapest_step_that_holds_them(
        tmp_path, gang, cost, together):
    problem = problem_from(tmp_path, GANG.replace("GANG", gang))
    placement = solved(problem)
    assert placement.status == "optimal" and Fraction(placement.value) == cost
    starts = _starts(placement, "train")
    assert (len(set(starts)) == 1) == together
    if together:
        assert starts in ([0, 0], [4, 4])


def test_a_gang_with_a_time_limit_is_placed_whole_at_one_step(tmp_path):
    # the time limit runs the node-level schedule and its search (a pinned gang) beside the
    # LP bound: the same optimum
    problem = problem_from(tmp_path, GANG.replace("GANG", "gang = true"))
    placement = solved(problem, time_limit=10)
    assert Fraction(placement.value) == Fraction("7.40") and len(set(_starts(placement, "train"))) == 1


# A recurring gang, every 3 h (runs in steps 0-2 and 3-5), two whole-node replicas of 1 h each;
# electricity 0.30 USD/kWh but 0.10 at steps 1 and 5. `other` takes a whole node at step 1. Run
# 0 cannot start at step 1 (one node is taken): at 0 or 2, 2 x 1.30 = 2.60; run 1 at step 5,
# 2 x 1.10 = 2.20; `other` 1.10: 5.90 USD.
RECURRING = GANG.replace(
    "0.30 USD/kWh, 0.30 USD/kWh, 0.10 USD/kWh, 0.10 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh",
    "0.30 USD/kWh, 0.10 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh, 0.10 USD/kWh").replace(
    "  duration = 2h\n  deadline = 6h\n  GANG", "  duration = 1h\n  every = 3h\n  gang = true").replace(
    "  duration = 2h\n  earliest = 2h\n  deadline = 4h", "  duration = 1h\n  earliest = 1h\n  deadline = 2h")


def test_each_run_of_a_recurring_gang_starts_its_replicas_together(tmp_path):
    problem = problem_from(tmp_path, RECURRING)
    assert problem.demand("train").replicas_per_run == 2 and len(problem.demand("train").runs) == 2
    placement = solved(problem)
    assert placement.status == "optimal" and Fraction(placement.value) == Fraction("5.90")
    runs = sorted((a.replica, a.start) for a in placement.assignments if a.workload == "train")
    first, second = {s for r, s in runs if r < 2}, {s for r, s in runs if r >= 2}
    assert len(first) == 1 and first <= {0, 2} and second == {5}


def test_verify_rejects_a_gang_whose_replicas_start_apart(tmp_path):
    problem = problem_from(tmp_path, GANG.replace("GANG", "gang = true"))
    placement = solved(problem)
    document = json.loads(as_json(problem, placement, []))
    moved = next(a for a in document["assignments"] if a["workload"] == "train" and a["replica"] == 1)
    other = next(a for a in document["assignments"] if a["workload"] == "other")
    # replica 1 to the node `other` does not use, at steps 2-3 (room there): capacity holds
    moved["node"] = "cpu-1" if other["node"] == "cpu-0" else "cpu-0"
    moved["start"], moved["end"] = "2027-03-01T02:00:00Z", "2027-03-01T04:00:00Z"
    violations, _ = verify(problem, document)
    assert any("gang `train`" in v.message and "start together" in v.message for v in violations), \
        [v.message for v in violations]


# Users in paris reach region `eu` in 5 ms, `us` in 90 ms. Three whole-node replicas of a
# service for 2 h; `near` (eu) nodes cost 3 USD/h, `far` (us) 1 USD/h, three of each. At least
# K replicas within 10 ms: K near, 3 - K far: (3K + 3 - K) x 2 h = 6 + 4K USD.
LATENCY = """
region eu {
  code = "eu"
  jurisdiction = EU
}
region us {
  code = "us"
  jurisdiction = US
}
location paris {
  city = "paris"
}
latency {
  from = paris
  to = { eu: 5ms, us: 90ms }
}
pool near {
  count = 3
  cpu = 32
  memory = 128GiB
  price = 3 USD/h
  region = "eu"
}
pool far {
  count = 3
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  region = "us"
}
workload web {
  replicas = 3
  cpu = 32
  memory = 64GiB
  latency {
    users = [paris]
    within = 10ms
    replicas = K
  }
}
policy {
  objective = cost
  horizon = 2h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""


@pytest.mark.parametrize("near", [1, 2, 3])
def test_a_latency_rule_keeps_k_replicas_in_reach_and_no_more(tmp_path, near):
    problem = problem_from(tmp_path, LATENCY.replace("replicas = K", f"replicas = {near}"))
    placement = solved(problem)
    assert placement.status == "optimal" and Fraction(placement.value) == 6 + 4 * near
    on_near = sum(1 for a in placement.assignments if a.node.startswith("near"))
    assert on_near == near


def test_a_latency_rule_on_jobs_with_a_time_limit(tmp_path):
    # jobs of 1 h in a 2 h horizon, two near replicas asked: the same count in reach
    text = LATENCY.replace("replicas = K", "replicas = 2").replace(
        "workload web {\n  replicas = 3", "workload web {\n  kind = job\n  duration = 1h\n  replicas = 3")
    placement = solved(problem_from(tmp_path, text), time_limit=10)
    assert sum(1 for a in placement.assignments if a.node.startswith("near")) >= 2


def _fleet(gangs: int, services: int) -> str:
    """40 nodes in two regions (more than the 16 solved node by node: the pools are classes,
    and the node-level search places the replicas), gangs of 3 with windows, services with a
    latency rule of 2 near replicas, a site power cap."""
    pools = "".join(f"""
pool {name} {{
  count = 20
  cpu = 16
  memory = 64GiB
  price = {price} USD/h
  power = 500W
  region = "{region}"
  labels = {{ site: "s" }}
}}
""" for name, price, region in (("near", 2, "eu"), ("far", 1, "us")))
    hourly = ", ".join(f"{p} USD/kWh" for p in (0.3, 0.3, 0.1, 0.1, 0.2, 0.3, 0.1, 0.3) * 3)
    works = "".join(f"""
workload g{i} {{
  kind = job
  replicas = 3
  cpu = {4 + 4 * (i % 3)}
  memory = 8GiB
  duration = {1 + i % 3}h
  earliest = {i % 4}h
  deadline = {12 + i % 8}h
  gang = true
}}
""" for i in range(gangs))
    works += "".join(f"""
workload s{i} {{
  replicas = 3
  cpu = {2 + i % 5}
  memory = 4GiB
  latency {{
    users = [paris]
    within = 10ms
    replicas = 2
  }}
}}
""" for i in range(services))
    return LATENCY.split("pool near")[0] + pools + works + f"""
electricity grid {{
  labels = {{ site: "s" }}
  hourly = [{hourly}]
}}
power_cap feed {{
  labels = {{ site: "s" }}
  cap = 12kW
}}
policy {{
  objective = cost
  horizon = 24h
  step = 1h
  start = "2027-03-01T00:00Z"
}}
"""


def test_gangs_and_latency_rules_hold_when_the_node_level_search_places_them(tmp_path):
    problem = problem_from(tmp_path, _fleet(gangs=12, services=6))
    placement = solved(problem, time_limit=20)  # verify: every rule, step by step
    assert not placement.unplaced
    for i in range(12):
        assert len(set(_starts(placement, f"g{i}"))) == 1, f"g{i}"
    for i in range(6):
        near = [a for a in placement.assignments if a.workload == f"s{i}" and a.node.startswith("near")]
        assert len(near) >= 2, f"s{i}"


# ---- explain: a gang or a latency rule that rules out every schedule ---------------------------

@pytest.mark.parametrize("cap", ["cap = 1kW", "hourly = [1kW, 1kW, 1kW]"])
def test_explain_names_a_gang_that_cannot_start_together_and_drops_it_as_a_checked_repair(tmp_path, cap):
    # a site cap of 1 kW runs one node at a time: the gang's two whole-node replicas never run
    # together (apart, one after the other, they fit). The repair that keeps the gang whole
    # comes first: an HPC centre's 8-node training under its site cap was told only "drop
    # `gang = true`" (session 60), and a cap stated per step (`hourly`) was never raised by a
    # repair (its steps' caps, which the solver reads, stayed as they were)
    from fitlang.solve.explain_time import explained_in_time

    text = GANG.replace("GANG", "gang = true").replace("  power = 1kW\n",
                                                      '  power = 1kW\n  labels = { site: "s" }\n')
    text = text.replace("workload other", "workload unused").replace("  replicas = 1\n", "  replicas = 0\n")
    text += f'power_cap feed {{\n  labels = {{ site: "s" }}\n  {cap}\n}}\n'
    problem = problem_from(tmp_path, text)
    assert solved(problem).status == "infeasible"
    explained = explained_in_time(problem, str(tmp_path / "p.fit"))
    said = explained.diagnostic
    assert said.code == "E0951" and explained.rule == "gang"
    assert "the gang `train` (its 2 replicas start together" in said.message
    assert text.splitlines()[said.span.line - 1].strip() == "gang = true"
    raised, dropped = explained.repairs
    assert raised.rule == "power" and raised.text.startswith("raise the power cap `feed` to 2 kW for ")
    assert raised.text in said.message and dropped.text in said.message
    assert dropped.text.startswith("drop `gang = true` from `train`")
    assert solved(problem.with_demand("train", gang=False)).status == "optimal"  # the checks
    assert solved(problem_from(tmp_path, text.replace(cap, "cap = 2kW"))).status == "optimal"


def test_explain_moves_the_deadline_of_a_gang_that_cannot_start_together_in_its_window(tmp_path):
    # `other` holds one of the two nodes at 1-3 h: the gang's two whole-node replicas find both
    # nodes free together only from 3 h, past its deadline of 4 h; apart they fit (one at 0-2
    # and one at 2-4 on the node `other` leaves). A maintenance window that leaves too few
    # nodes in time is the same conflict: the repair that keeps the gang is its deadline moved
    from fitlang.solve.explain_time import explained_in_time

    text = GANG.replace("deadline = 6h\n  GANG", "deadline = 4h\n  gang = true").replace(
        "earliest = 2h\n  deadline = 4h", "earliest = 1h\n  deadline = 3h")
    problem = problem_from(tmp_path, text)
    assert solved(problem).status == "infeasible"
    explained = explained_in_time(problem, str(tmp_path / "p.fit"))
    assert explained.diagnostic.code == "E0951" and explained.rule == "gang"
    moved, dropped = explained.repairs
    assert (moved.rule, moved.text) == ("deadline", "move the deadline of `train` to 2027-03-01T05:00Z")
    assert (moved.before, moved.after) == ("2027-03-01T04:00Z", "2027-03-01T05:00Z")
    assert text.splitlines()[moved.origin.span.line - 1].strip() == "deadline = 4h"
    assert dropped.text.startswith("drop `gang = true` from `train`")
    assert solved(problem_from(tmp_path, text.replace("deadline = 4h\n  gang", "deadline = 5h\n  gang"))
                  ).status == "optimal"


def test_explain_names_a_latency_rule_no_schedule_meets(tmp_path):
    # two whole-node replicas within reach asked for, one near node
    from fitlang.solve.explain_time import explained_in_time

    text = LATENCY.replace("replicas = K", "replicas = 2").replace(
        "count = 3\n  cpu = 32\n  memory = 128GiB\n  price = 3 USD/h",
        "count = 1\n  cpu = 32\n  memory = 128GiB\n  price = 3 USD/h")
    problem = problem_from(tmp_path, text)
    assert solved(problem).status == "infeasible"
    explained = explained_in_time(problem, str(tmp_path / "p.fit"))
    assert explained.diagnostic.code == "E0951" and explained.rule == "latency"
    assert "the latency rule of `web` (2 within 10 ms of paris)" in explained.diagnostic.message


# ---- exclusive and anti-affinity on nodes, per step ---------------------------------------------

# `big` (8 CPUs, 2 h, by 6 h) and `small` (8 CPUs, 2 h, at 2-4 h: its window holds one start)
# on COUNT nodes of 32 CPUs; a node-step costs 1.30 USD, 1.10 at steps 2-3. Kept apart on one
# node, read per step (docs/language.md: two workloads kept apart never share a node at the
# same step; the Kubernetes scheduler's reading, "while both run"), `big` runs before or after
# `small` there: 2.20 + 2.60 = 4.80 USD (the whole horizon's reading would have no schedule).
# On two nodes both run at 2-3, a node each: 4.40. Sharing a node: 2.20.
APART = """
pool cpu {
  count = COUNT
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  power = 1kW
}

electricity grid {
  hourly = [0.30 USD/kWh, 0.30 USD/kWh, 0.10 USD/kWh, 0.10 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh]
}

workload big {
  kind = job
  replicas = BIG
  cpu = 8
  memory = 16GiB
  duration = 2h
  deadline = 6h
  RULE
}

workload small {
  kind = job
  replicas = 1
  cpu = 8
  memory = 16GiB
  duration = 2h
  earliest = 2h
  deadline = 4h
}

policy {
  objective = cost
  horizon = 6h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""


def _apart(count: int, rule: str, big: int = 1) -> str:
    return APART.replace("COUNT", str(count)).replace("BIG", str(big)).replace("RULE", rule)


@pytest.mark.parametrize("count, big, rule, cost", [
    (1, 1, "exclusive = true", Fraction("4.80")),
    (2, 1, "exclusive = true", Fraction("4.40")),
    (1, 1, "anti_affinity small on node", Fraction("4.80")),
    (2, 1, "anti_affinity small on node", Fraction("4.40")),
    # two replicas of `big`, at most one a node at a step: one beside `small` at 2-3, the other
    # before or after it (one node), or both at 2-3 (two)
    (1, 2, "anti_affinity self on node", Fraction("4.80")),
    (2, 2, "anti_affinity self on node", Fraction("4.40")),
    (1, 1, "", Fraction("2.20")),
])
def test_workloads_kept_apart_never_share_a_node_at_the_same_step(tmp_path, count, big, rule, cost):
    problem = problem_from(tmp_path, _apart(count, rule, big))
    placement = solved(problem)  # verify checks each node at each step
    assert placement.status == "optimal" and Fraction(placement.value) == cost


def _runs(document: dict) -> list[tuple[str, str, str]]:
    return [(a["workload"], a["node"], a["start"]) for a in document["assignments"]]


@pytest.mark.parametrize("rule, said", [
    ("exclusive = true", "`big` is exclusive but shares node `cpu-0` with `small` (at step 2)"),
    ("anti_affinity small on node", "`big` runs on node `cpu-0` at step 2 with `small` "
                                    "(anti_affinity small on node)"),
])
def test_verify_rejects_two_workloads_kept_apart_on_one_node_at_one_step(tmp_path, rule, said):
    problem = problem_from(tmp_path, _apart(1, rule))
    placement = solved(problem)
    document = json.loads(as_json(problem, placement, []))
    moved = next(a for a in document["assignments"] if a["workload"] == "big")
    moved["start"], moved["end"] = "2027-03-01T02:00:00Z", "2027-03-01T04:00:00Z"
    violations, _ = verify(problem, document)
    assert said in [v.message for v in violations]


def test_kept_apart_when_the_node_level_search_places_them(tmp_path):
    # 40 nodes (pools as classes, the node-level search), exclusive jobs and pairs kept apart
    text = _fleet(gangs=6, services=0)
    text = text.replace("  gang = true\n}", "  exclusive = true\n}", 3)
    text += "".join(f"""
workload a{i} {{
  kind = job
  replicas = 4
  cpu = 2
  memory = 2GiB
  duration = 2h
  deadline = 20h
  anti_affinity {'self' if i % 2 else f'g{3 + i}'} on node
}}
""" for i in range(3))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, time_limit=20)  # verify: each node at each step
    assert not placement.unplaced


# ---- spread, affinity and anti-affinity over zones, labels and nodes, per step -----------------

# Pool `a` (ACOUNT nodes, zone z1, 1 USD/h) and pool `b` (2 nodes, zone z2, 3 USD/h), 8 CPUs
# each; `train`, 4 replicas of CPU CPUs for 2 h by 6 h. Read per step (docs/language.md: a
# spread counts the replicas running then, as the scheduler counts the pods bound when one
# binds):
# - `spread zone max_skew 1` (whole nodes): z1 may run one more than z2 at a step, so at most
#   one at a time where z2 runs none; z1 runs 3 one after another (6 h, 6 USD), the fourth in
#   z2 (2 h x 3 = 6): 12 USD. Without the rule: 2 at a time on `a` for 4 h: 8.
# - `spread node max_skew 1` (half nodes, `a` one node): `a-0` runs 2 at a step only where
#   every node runs one (2 h x (1 + 3 + 3) = 14); else one at a time: 3 on `a-0` (6) + 1 on
#   `b` (6) = 12. Without the rule: 2 at a time on `a-0`, 4 h: 4.
# - `spread zone max_skew 1` (half nodes): 2 in z1 beside 2 in z2, at once, one node each
#   (2 + 6): 8 USD (3 and 1 after one another: 12; 2 beside 1, then 1: 10); with
#   `min_domains 3` (2 zones exist: the emptiest counts 0, each zone runs at most 1 at a
#   step): 3 after one another in z1 (6) + 1 in z2 (6) = 12 (1 + 1 twice: 16).
SPREAD = """
pool a {
  count = ACOUNT
  cpu = 8
  memory = 32GiB
  price = 1 USD/h
  zone = "z1"
}

pool b {
  count = 2
  cpu = 8
  memory = 32GiB
  price = 3 USD/h
  zone = "z2"
}

workload train {
  kind = job
  replicas = 4
  cpu = CPU
  memory = 4GiB
  duration = 2h
  deadline = 6h
  RULE
}

policy {
  objective = cost
  horizon = 6h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""


def _spread(rule: str, count: int = 2, cpu: int = 8) -> str:
    return SPREAD.replace("ACOUNT", str(count)).replace("CPU", str(cpu)).replace("RULE", rule)


def _per_step(placement, workload: str, domain) -> list[dict]:
    """Per step, the replicas of `workload` running per domain (`domain` of a node name)."""
    counts: list[dict] = [{} for _ in range(max(a.end for a in placement.assignments))]
    for a in placement.assignments:
        if a.workload == workload:
            for step in range(a.start, a.end):
                counts[step][domain(a.node)] = counts[step].get(domain(a.node), 0) + 1
    return counts


@pytest.mark.parametrize("rule, count, cpu, cost", [
    ("spread zone max_skew 1", 2, 8, 12),
    ("", 2, 8, 8),
    ("spread node max_skew 1", 1, 4, 12),
    ("", 1, 4, 4),
    ("spread zone max_skew 1", 2, 4, 8),
    ("spread zone max_skew 1 min_domains 3", 2, 4, 12),
])
def test_a_spread_holds_over_the_replicas_running_at_each_step(tmp_path, rule, count, cpu, cost):
    placement = solved(problem_from(tmp_path, _spread(rule, count, cpu)))  # verify: each step
    assert placement.status == "optimal" and Fraction(placement.value) == cost
    if rule.startswith("spread zone"):
        for here in _per_step(placement, "train", lambda node: node[0]):
            most = 1 if "min_domains" in rule else here.get("b", 0) + 1
            assert here.get("a", 0) <= most and here.get("b", 0) <= here.get("a", 0) + 1, here


def test_a_spread_service_is_spread_as_without_a_horizon(tmp_path):
    # two whole-node replicas of a service: one a zone, 2 h x (1 + 3) = 8 USD (without the
    # rule both on `a`: 4)
    text = _spread("spread zone max_skew 1").replace("  kind = job\n  replicas = 4", "  replicas = 2")
    text = text.replace("  duration = 2h\n  deadline = 6h\n", "").replace("horizon = 6h", "horizon = 2h")
    placement = solved(problem_from(tmp_path, text))
    assert placement.status == "optimal" and Fraction(placement.value) == 8
    assert sorted(a.node[0] for a in placement.assignments) == ["a", "b"]


def test_verify_rejects_a_spread_broken_at_one_step(tmp_path):
    problem = problem_from(tmp_path, _spread("spread zone max_skew 1"))
    document = json.loads(as_json(problem, solved(problem), []))
    # every replica on `a`, two at a time: 2 in z1 and none in z2 at steps 0-1
    for a, (node, start) in zip(document["assignments"], [("a-0", 0), ("a-1", 0), ("a-0", 2), ("a-0", 4)]):
        a["node"] = node
        a["start"], a["end"] = f"2027-03-01T0{start}:00:00Z", f"2027-03-01T0{start + 2}:00:00Z"
    violations, _ = verify(problem, document)
    assert "`train` is spread 0..2 per zone at step 0; max_skew is 1" in [v.message for v in violations]


# `big` (BIG replicas of BIGCPU CPUs, 2 h by 6 h) and `small` (SMALLCPU CPUs at 2-4 h: one start)
# on pool `cpu` (COUNT nodes of 32 CPUs, zone z1) and pool `other` (one such node, zone z2); a
# node-step costs 1.10 USD at steps 0-1 and 1.30 after. Read per step ("while both run"):
# - nothing: `big` beside `small` at 2-3: 2.60.
# - `anti_affinity small on zone`: `big` not in z1 at 2-3: at 0-1 (2.20) + `small` (2.60) = 4.80
#   (at 2-3 in z2: 5.20).
# - `anti_affinity self on zone`, two of `big`: not both in one zone at a step: one at 0-1, the
#   other beside `small` at 2-3 on its node: 4.80 (without the rule all three at 2-3: 2.60).
# - `affinity small on zone` (24 CPUs each: `big` and `small` never share a node): `big` runs
#   while `small` runs in its zone: at 2-3 on the other node of z1: 5.20 (without the rule at
#   0-1: 4.80; the whole horizon's reading would allow that too).
# - `affinity small on node`: on `small`'s node while it runs, where 24 + 24 CPUs do not fit:
#   no schedule.
TOGETHER = """
pool cpu {
  count = COUNT
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  power = 1kW
  zone = "z1"
}

pool other {
  count = 1
  cpu = 32
  memory = 128GiB
  price = 1 USD/h
  power = 1kW
  zone = "z2"
}

electricity grid {
  hourly = [0.10 USD/kWh, 0.10 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh, 0.30 USD/kWh]
}

workload big {
  kind = job
  replicas = BIG
  cpu = BIGCPU
  memory = 16GiB
  duration = 2h
  deadline = 6h
  RULE
}

workload small {
  kind = job
  replicas = 1
  cpu = SMALLCPU
  memory = 16GiB
  duration = 2h
  earliest = 2h
  deadline = 4h
}

policy {
  objective = cost
  horizon = 6h
  step = 1h
  start = "2027-03-01T00:00Z"
}
"""


def _together(rule: str, count: int = 1, big: int = 1, cpu: int = 8) -> str:
    return TOGETHER.replace("COUNT", str(count)).replace("BIGCPU", str(cpu)).replace(
        "SMALLCPU", str(cpu)).replace("BIG", str(big)).replace("RULE", rule)


@pytest.mark.parametrize("rule, count, big, cpu, cost", [
    ("", 1, 1, 8, Fraction("2.60")),
    ("anti_affinity small on zone", 1, 1, 8, Fraction("4.80")),
    ("anti_affinity self on zone", 1, 2, 8, Fraction("4.80")),
    ("", 1, 2, 8, Fraction("2.60")),
    ("affinity small on zone", 2, 1, 24, Fraction("5.20")),
    ("", 2, 1, 24, Fraction("4.80")),
])
def test_affinity_and_anti_affinity_over_zones_hold_at_each_step(tmp_path, rule, count, big, cpu, cost):
    placement = solved(problem_from(tmp_path, _together(rule, count, big, cpu)))  # verify: each step
    assert placement.status == "optimal" and Fraction(placement.value) == cost
    if rule.startswith("affinity"):
        [follower] = [a for a in placement.assignments if a.workload == "big"]
        [followed] = [a for a in placement.assignments if a.workload == "small"]
        assert follower.start == followed.start == 2 and follower.node != followed.node
        assert follower.node.startswith("cpu") and followed.node.startswith("cpu")


def test_affinity_on_a_node_that_cannot_hold_both_has_no_schedule(tmp_path):
    placement = solved(problem_from(tmp_path, _together("affinity small on node", 2, 1, 24)))
    assert placement.status == "infeasible"


@pytest.mark.parametrize("rule, said", [
    ("anti_affinity small on zone",
     "`big` runs in zone z1 with `small` at step 2 (anti_affinity small on zone)"),
    ("affinity small on zone", "`big` runs in zone z2 without `small` at step 2 (affinity small on zone)"),
])
def test_verify_rejects_affinity_and_anti_affinity_broken_at_one_step(tmp_path, rule, said):
    problem = problem_from(tmp_path, _together(rule, 2, 1, 24 if rule.startswith("affinity") else 8))
    document = json.loads(as_json(problem, solved(problem), []))
    moved = next(a for a in document["assignments"] if a["workload"] == "big")
    moved["node"] = "other-0" if rule.startswith("affinity") else "cpu-1"
    moved["start"], moved["end"] = "2027-03-01T02:00:00Z", "2027-03-01T04:00:00Z"
    violations, _ = verify(problem, document)
    assert said in [v.message for v in violations]


def test_spreads_over_nodes_hold_when_the_node_level_search_places_them(tmp_path):
    # 40 nodes (pools as classes): jobs spread over nodes with max_skew 1 or 2, each replica
    # asking for more than a node's CPUs over K + 1 in the node-level search (at most K a node
    # at a step): every schedule it searches keeps them, whatever the MIP gets to in the limit
    text = _fleet(gangs=0, services=0) + "".join(f"""
workload j{i} {{
  kind = job
  replicas = {3 + i % 3}
  cpu = {2 + 2 * (i % 3)}
  memory = 4GiB
  duration = {1 + i % 3}h
  earliest = {i % 4}h
  deadline = {12 + i % 8}h
  spread node max_skew {1 + i % 2}
}}
""" for i in range(9))
    problem = problem_from(tmp_path, text)
    placement = solved(problem, time_limit=20)  # verify: each spread at each step
    assert not placement.unplaced
    for i in range(9):
        per_node = _per_step(placement, f"j{i}", lambda node: node)
        assert all(n <= 1 + i % 2 for here in per_node for n in here.values())


def test_explain_names_a_spread_no_schedule_meets_at_each_step(tmp_path):
    # 4 half-node replicas in one 2 h slot, each zone at most 1 at a step (2 zones of the 3
    # `min_domains` asks for): 2 run at most; without the spread all 4 run on `a`
    from fitlang.solve.explain_time import explained_in_time

    text = _spread("spread zone max_skew 1 min_domains 3", cpu=4).replace("deadline = 6h", "deadline = 2h")
    problem = problem_from(tmp_path, text)
    assert solved(problem).status == "infeasible"
    explained = explained_in_time(problem, str(tmp_path / "p.fit"))
    said = explained.diagnostic
    assert said.code == "E0951" and explained.rule == "spread"
    assert "the spread of `train` over zone (max_skew 1, min_domains 3" in said.message
    assert text.splitlines()[said.span.line - 1].strip().startswith("spread zone")
    assert [r.text for r in explained.repairs] == ["drop the spread over zone from `train`"]


def test_explain_names_an_affinity_no_schedule_meets_at_each_step(tmp_path):
    from fitlang.solve.explain_time import explained_in_time

    text = _together("affinity small on node", 2, 1, 24)
    problem = problem_from(tmp_path, text)
    explained = explained_in_time(problem, str(tmp_path / "p.fit"))
    assert explained.diagnostic.code == "E0951" and explained.rule == "affinity"
    assert "`affinity small on node` of `big` (at each step it runs)" in explained.diagnostic.message
    assert [r.text for r in explained.repairs] == ["drop `affinity small on node` from `big`"]


def test_a_service_spread_over_regions_is_dealt_out_to_the_node_level_search(tmp_path):
    # 40 nodes: each service spread over the two regions is searched as a demand per region
    # with its replicas dealt out evenly (5: 3 in eu, 2 in us), so every schedule keeps it
    from fitlang.solve.timeline_rules import kept

    text = _fleet(gangs=3, services=0) + "".join(f"""
workload s{i} {{
  replicas = {4 + i}
  cpu = {2 + 2 * i}
  memory = 4GiB
  spread region max_skew 1
}}
""" for i in range(3))
    problem = problem_from(tmp_path, text)
    parts = {d.name: d.replicas for d in kept(problem).demands if d.name.startswith("s1")}
    assert parts == {"s1@eu": 3, "s1@us": 2}
    placement = solved(problem, time_limit=20)  # verify: each spread at each step
    assert not placement.unplaced
    for i in range(3):
        regions = [a.node.split("-")[0] for a in placement.assignments if a.workload == f"s{i}"]
        assert abs(regions.count("near") - regions.count("far")) <= 1
