"""`fitc verify`: re-check a placement against every rule, without a solver.

The checks restate the rules directly over nodes and replicas, independently of
the encoding the solver used, so that a bug in the encoding or the packer shows
up here. The tests run this on every solve.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from fitlang.check.program import Origin
from fitlang.model.problem import RESOURCES, Demand, NodeClass, Problem, option_demand_name


@dataclass
class Violation:
    message: str
    origin: Origin | None


class _Owners:
    """Node name -> class for the nodes of this placement: every owned node, and of offers only
    the nodes the file says were bought. Looked up by name (`Problem.owners`), never listed:
    a pool of millions of nodes costs nothing here."""

    def __init__(self, problem: Problem, bought: set[str]) -> None:
        self.owners, self.bought, self.problem = problem.owners(), bought, problem
        self.found: dict[str, NodeClass | None] = {}  # each check reads the same nodes again

    def get(self, name: Any, default: Any = None) -> Any:
        if not isinstance(name, str):
            return default
        node_class = self.found.get(name, self)
        if node_class is self:
            node_class = self.owners.get(name)
            if node_class is not None and node_class.provisioned and name not in self.bought:
                node_class = None
            self.found[name] = node_class
        return default if node_class is None else node_class

    def __contains__(self, name: Any) -> bool:
        return self.get(name) is not None

    def __getitem__(self, name: str) -> NodeClass:
        node_class = self.get(name)
        if node_class is None:
            raise KeyError(name)
        return node_class

    def counts(self) -> dict[str, int]:
        """Class id -> its nodes here (owned: all; offers: those bought)."""
        counts = {c.id: len(c.node_names) for c in self.problem.classes if not c.provisioned}
        for name in sorted(self.bought):
            node_class = self.get(name)
            if node_class is not None:
                counts[node_class.id] = counts.get(node_class.id, 0) + 1
        return {class_id: count for class_id, count in counts.items() if count}


def verify(problem: Problem, document: Any) -> tuple[list[Violation], list[str]]:
    """(violations, problems with the file itself)."""
    shape = _shape_problems(document)
    if shape:
        return [], shape
    bought = {n["name"] for n in document.get("nodes", [])
              if isinstance(n, dict) and n.get("provisioned")}
    owner = _Owners(problem, bought)
    demands = {d.name: d for d in problem.demands}
    violations: list[Violation] = []
    hosted: dict[str, Counter] = {}
    seen: set[tuple[str, int]] = set()
    for item in document["assignments"]:
        demand, node = _demand_of(demands, item), item["node"]
        if demand is None:
            violations.append(Violation(f"placement names unknown workload `{_shown(item)}`", None))
            continue
        node_class = owner.get(node)  # looked up once: a name lookup parses the name
        if node_class is None:
            violations.append(Violation(f"`{demand.name}` replica {item['replica']} is on `{node}`, "
                                        "which is not a node of this policy", demand.origin))
            continue
        key = (demand.name, item["replica"])
        if key in seen or not 0 <= item["replica"] < demand.replicas:
            violations.append(Violation(f"`{demand.name}` replica {item['replica']} is placed twice or "
                                        f"does not exist (replicas = {demand.replicas})",
                                        demand.spans.get("replicas", demand.origin)))
        seen.add(key)
        counts = hosted.get(node)
        if counts is None:  # not setdefault: a Counter per assignment was half the time
            counts = hosted[node] = Counter()
        counts[demand.name] += 1
        if node_class.id in demand.excluded:
            reason = demand.excluded[node_class.id]
            violations.append(Violation(f"`{demand.name}` may not run on `{node}`: {reason.rule}"
                                        + (f" ({reason.detail})" if reason.detail else ""),
                                        reason.origin or demand.origin))
    violations += _resources(problem, owner, hosted, demands)
    violations += _exclusive(hosted, demands)
    placed = Counter(w for w, _ in seen)
    nodes_of = owner.counts()
    domains = _ClassDomains(problem, nodes_of)
    placed_on: dict[str, Counter] = {}
    for node, counts in hosted.items():
        for name, amount in counts.items():
            if name not in placed_on:
                placed_on[name] = Counter()
            placed_on[name][node] += amount
    for demand in problem.demands:
        if demand.gang and placed[demand.name] not in (0, demand.replicas):
            violations.append(Violation(f"gang `{demand.name}` has {placed[demand.name]} of "
                                        f"{demand.replicas} replicas placed: all or none",
                                        demand.spans.get("gang", demand.origin)))
        clusters = sorted({owner[node].cluster for node in placed_on.get(demand.name, ())})
        if demand.gang and len(clusters) > 1:
            violations.append(Violation(f"gang `{demand.name}` runs in clusters "
                                        f"{', '.join(clusters)}: a gang runs in one cluster",
                                        demand.spans.get("gang", demand.origin)))
        violations += _affinities(problem, demand, owner, placed_on)
        violations += _spreads(demand, owner, domains, placed_on.get(demand.name, Counter()))
    for members in problem.latency_demands():
        violations += _latency(problem, members, owner, placed_on)
    unplaced = _unplaced(demands, document)
    violations += _every_replica(problem, seen, unplaced)
    violations += _throughput(problem, placed, unplaced)
    violations += _money(problem, owner, hosted, bought)
    violations += _objective(problem, owner, hosted, bought, document)
    return violations, []


def _unplaced(demands: dict[str, Demand], document: dict) -> dict[str, list[int]]:
    """Demand name -> replica numbers the placement lists as unplaced (an option workload:
    under its first option, as `fitc solve` lists it, or under its own name)."""
    listed: dict[str, list[int]] = {}
    first_option: dict[str, Demand] = {}  # option workload -> its first option's demand
    for option in demands.values():
        if option.group is not None:
            first_option.setdefault(option.group, option)
    for item in document.get("unplaced", []):
        demand = _demand_of(demands, item)
        if demand is None and isinstance(item.get("workload"), str):
            demand = first_option.get(item["workload"])
        name = demand.name if demand is not None else str(item.get("workload"))
        listed.setdefault(name, []).append(item.get("replica"))
    return listed


def _every_replica(problem: Problem, seen: set[tuple[str, int]],
                   unplaced: dict[str, list[int]]) -> list[Violation]:
    """Every replica of every workload is placed once, or listed as unplaced where the policy
    allows it (`allow_unplaced`). Option workloads are counted by throughput (`_throughput`)."""
    violations = []
    known = {d.name for d in problem.demands}
    for name in sorted(set(unplaced) - known):
        violations.append(Violation(f"the placement lists unknown workload `{name}` as unplaced", None))
    placed_replicas: dict[str, set[int]] = {}
    for workload, replica in seen:
        placed_replicas.setdefault(workload, set()).add(replica)
    for demand in problem.demands:
        listed = unplaced.get(demand.name, [])
        if demand.group is None:
            placed = placed_replicas.get(demand.name, set())
            counted = Counter(listed)
            missing = [r for r in range(demand.replicas) if r not in placed and r not in counted]
            twice = sorted({r for r in counted if r in placed or counted[r] > 1
                            or not (isinstance(r, int) and 0 <= r < demand.replicas)}, key=str)
            where = demand.spans.get("replicas", demand.origin)
            if missing:
                violations.append(Violation(
                    f"`{demand.name}` has {len(missing)} of {demand.replicas} replicas neither placed "
                    f"nor listed as unplaced (replica {', '.join(map(str, missing[:5]))}"
                    f"{', ...' if len(missing) > 5 else ''})", where))
            if twice:
                violations.append(Violation(
                    f"`{demand.name}` replica {', '.join(map(str, twice[:5]))} is listed as unplaced "
                    "but placed, listed twice, or does not exist", where))
        if listed and not problem.allow_unplaced:
            violations.append(Violation(
                f"`{demand.workload}` has {len(listed)} replica{'s' if len(listed) != 1 else ''} "
                "unplaced, and the policy does not set `allow_unplaced = true`", demand.origin))
    return violations


def _objective(problem: Problem, owner: dict[str, NodeClass], hosted: dict[str, Counter],
               bought: set[str], document: dict) -> list[Violation]:
    """The stated objective, recomputed from the policy's node prices (cost), the nodes in use
    (nodes) or the preferences met; the stated lower bound is not above it; the nodes' stated
    prices are the policy's."""
    violations = []
    prices = {c.id: float(c.price) for c in problem.classes}  # floats: one check per node
    for node in document.get("nodes", []):
        if isinstance(node, dict) and "price" in node and node.get("name") in owner:
            price = owner[node["name"]].price
            stated = node["price"]
            if not isinstance(stated, (int, float)) or \
                    abs(stated - prices[owner[node["name"]].id]) > _slack(stated):
                violations.append(Violation(f"node `{node['name']}` is listed at {node['price']} "
                                            f"USD/h; the policy prices it at {float(price):g} USD/h",
                                            owner[node["name"]].origin))
    objective = document.get("objective")
    if not isinstance(objective, dict) or objective.get("value") is None:
        return violations
    value, bound = objective.get("value"), objective.get("lower_bound")
    actual = _recomputed(problem, objective.get("name"), owner, hosted, bought)
    if not isinstance(value, (int, float)) or (actual is not None and not _close(value, actual)):
        violations.append(Violation(f"the placement states {objective.get('name')} = {value}; its "
                                    f"nodes give {float(actual) if actual is not None else '?'}",
                                    None))
    if isinstance(bound, (int, float)) and isinstance(value, (int, float)) and \
            bound > value + _slack(value):
        violations.append(Violation(f"the stated lower bound {bound} is above the objective {value}",
                                    None))
    return violations


def _recomputed(problem: Problem, name: Any, owner: dict[str, NodeClass], hosted: dict[str, Counter],
                bought: set[str]) -> Fraction | None:
    per_class = _used_per_class(owner, hosted, bought)
    if name == "cost":  # per class: a few exact products instead of a sum per node
        return sum((problem.node_class(c).price * k for c, k in per_class.items()), Fraction(0))
    if name == "nodes":
        return Fraction(sum(per_class.values()))
    if name == "preferences":  # the solver minimises minus the weights earned
        return -sum((problem.demand(w).preference.get(owner[node].id, Fraction(0)) * amount
                     for node, counts in hosted.items() for w, amount in counts.items()), Fraction(0))
    return None


def _used_per_class(owner: dict[str, NodeClass], hosted: dict[str, Counter],
                    bought: set[str]) -> Counter:
    """Class id -> its nodes in use: hosting a replica, or bought."""
    used = {node for node, counts in hosted.items() if any(counts.values())}
    used |= {node for node in bought if node in owner}
    return Counter(owner[node].id for node in used)


def _slack(value: float) -> float:
    """The JSON rounds to 6 decimals; floats carry 1e-15 of relative error."""
    return 1e-6 + 1e-9 * abs(value)


def _close(stated: float, actual: Fraction) -> bool:
    return abs(Fraction(stated) - actual) <= _slack(float(actual))


def _demand_of(demands: dict[str, Demand], item: dict) -> Demand | None:
    """The demand an assignment names: its workload, or the workload's option (an option
    workload's assignment without its option names nothing)."""
    option = item.get("option")
    if not isinstance(option, str):
        return demands.get(item["workload"])
    demand = demands.get(option_demand_name(item["workload"], option))
    return demand if demand is not None and demand.group == item["workload"] else None


def _shown(item: dict) -> str:
    option = item.get("option")
    return item["workload"] + (f"` option `{option}" if option is not None else "")


def _throughput(problem: Problem, placed: Counter, listed: dict[str, list[int]]) -> list[Violation]:
    """Each workload with options: what its replicas deliver reaches its throughput (or, when
    the placement reports it unplaced, nothing of it runs); a gang uses one option only."""
    known = {d.name for d in problem.demands}  # not a pass over them per listed name
    unplaced = {problem.demand(name).workload for name in listed if name in known}
    violations = []
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        delivered = sum((d.throughput * placed[d.name] for d in members), Fraction(0))
        used = [d.option for d in members if placed[d.name]]
        if delivered < group.required and (used or group.workload not in unplaced):
            violations.append(Violation(
                f"`{group.workload}` delivers {float(delivered):g} of the {float(group.required):g} "
                "it needs (" + ", ".join(f"{d.option} x{placed[d.name]} at {float(d.throughput):g} "
                                          "each" for d in members) + ")",
                group.origin))
        if group.gang and len(used) > 1:
            violations.append(Violation(f"gang `{group.workload}` runs on options "
                                        f"{', '.join(used)}: a gang uses one option",
                                        group.origin))
    return violations


def readable(resource: str, amount: int, unit: bool = True) -> str:
    """An amount as people read it: `32 CPU` (not millicores), `96 GiB` (not bytes), `4 GPUs`;
    `unit=False` leaves the unit off a CPU or GPU count that follows one already named."""
    if resource == "cpu":
        return f"{amount / 1000:g}" + (" CPU" if unit else "")
    if resource in ("memory", "disk"):
        return f"{amount / 2 ** 30:.4g} GiB" if amount % 2 ** 20 else f"{amount // 2 ** 20 / 1024:g} GiB"
    return f"{amount}" + ((" GPU" if amount == 1 else " GPUs") if unit else "")


def _shape_problems(document: Any) -> list[str]:
    """What is wrong with the file as a placement (`PlacementRead`), each wrong value named by
    its JSON path: `assignments[3].replica: input should be a valid integer (found "3")`."""
    from pydantic import ValidationError  # here: the language server loads this module

    from fitlang.documents import error_lines, placement_read

    if not isinstance(document, dict) or not isinstance(document.get("assignments"), list):
        return ["expected the JSON of `fitc solve --format json`: an object with `assignments`"]
    try:
        placement_read().validate_python(document)
    except ValidationError as error:
        return error_lines(error)
    return []


def _resources(problem: Problem, owner: dict[str, NodeClass], hosted: dict[str, Counter],
               demands: dict[str, Demand]) -> list[Violation]:
    violations = []
    for node, counts in sorted(hosted.items()):
        capacity = owner[node].capacity_of(node)
        for resource in RESOURCES:
            used = sum(demands[w].requests[resource] * n for w, n in counts.items())
            if used > capacity[resource]:
                violations.append(Violation(
                    f"node `{node}` is over its {resource}: {readable(resource, used)} requested, "
                    f"{readable(resource, capacity[resource], unit=False)} available",
                    owner[node].origin))
    return violations


def _exclusive(hosted: dict[str, Counter], demands: dict[str, Demand]) -> list[Violation]:
    """A node that hosts an `exclusive` workload hosts nothing else."""
    violations = []
    for node, counts in sorted(hosted.items()):
        names = sorted(name for name, amount in counts.items() if amount)
        for name in names:
            if demands[name].exclusive and len(names) > 1:
                others = ", ".join(f"`{n}`" for n in names if n != name)
                violations.append(Violation(f"`{name}` is exclusive but shares node `{node}` with "
                                            f"{others}", demands[name].spans.get("exclusive",
                                                                                 demands[name].origin)))
    return violations


def _domain_of(node: str, node_class: NodeClass, topology: str) -> str | None:
    return node if topology == "node" else node_class.topology_value(topology)


def _affinities(problem: Problem, demand: Demand, owner: dict[str, NodeClass],
                placed_on: dict[str, Counter]) -> list[Violation]:
    """Each rule reads the nodes of the two workloads it names only: linear in replicas."""
    violations = []
    here = placed_on.get(demand.name)
    if not here:
        return violations
    for rule in demand.affinities:
        mine: Counter = Counter()
        target = demand.name if rule.target == "self" else rule.target
        for node, amount in here.items():
            mine[_domain_of(node, owner[node], rule.topology)] += amount
        theirs = {_domain_of(node, owner[node], rule.topology)
                  for node in placed_on.get(target, ())}
        verb = "anti_affinity" if rule.anti else "affinity"
        if rule.target == "self":
            crowded = sorted(str(d) for d, n in mine.items() if n > 1 or d is None)
            if crowded:
                violations.append(Violation(f"`{demand.name}` has several replicas in {rule.topology} "
                                            f"{', '.join(crowded)} ({verb} self on {rule.topology})",
                                            rule.origin))
            continue
        for domain in sorted(mine, key=str):
            broken = (domain in theirs) if rule.anti else (domain is None or domain not in theirs)
            if broken:
                violations.append(Violation(
                    f"`{demand.name}` runs in {rule.topology} {domain} "
                    f"{'with' if rule.anti else 'without'} `{rule.target}` "
                    f"({verb} {rule.target} on {rule.topology})", rule.origin))
    return violations


class _ClassDomains:
    """The domains (zone, region, label value) and node counts of the classes a workload may
    use, for the classes with nodes here: worked out once per distinct eligibility list
    (`build_problem` shares one between workloads that may use the same classes), not once
    per spread workload and class (that was most of `verify` at 50,000 breaker nodes, where
    most workloads may use most of 7,000 classes)."""

    def __init__(self, problem: Problem, nodes_of: dict[str, int]) -> None:
        self.classes = [c for c in problem.classes if c.id in nodes_of]
        self.nodes_of = nodes_of
        self.by_topology: dict[str, dict[str, str | None]] = {}
        self.known: dict[tuple[int, str], tuple[list, int]] = {}  # keyed by id: lists stay alive

    def domains(self, eligible: list[str], topology: str) -> tuple[list, int]:
        """(the domains of `topology` the classes with nodes span, their nodes)."""
        key = (id(eligible), topology)
        found = self.known.get(key)
        if found is None:
            with_nodes = [c for c in eligible if c in self.nodes_of]  # classes with nodes
            nodes = sum(self.nodes_of[c] for c in with_nodes)
            if topology == "node":
                found = ([], nodes)
            else:
                domain_of = self.by_topology.get(topology)
                if domain_of is None:
                    domain_of = self.by_topology[topology] = {c.id: c.topology_value(topology)
                                                              for c in self.classes}
                spanned = dict.fromkeys(domain_of[c] for c in with_nodes)
                spanned.pop(None, None)
                found = (list(spanned), nodes)
            self.known[key] = found
        return found


def _spreads(demand: Demand, owner: dict[str, NodeClass], domains: _ClassDomains,
             placed_on: Counter) -> list[Violation]:
    """Replicas per domain of each spread's topology, counted over the nodes the workload
    may use (a domain it does not use counts 0)."""
    violations: list[Violation] = []
    for spread in demand.spreads:
        spanned, nodes = domains.domains(demand.eligible, spread.topology)
        if spread.topology == "node":
            counts = list(placed_on.values())
            domains_count = nodes
        else:
            per_domain: Counter = Counter(dict.fromkeys(spanned, 0))
            for node, amount in placed_on.items():
                domain = _domain_of(node, owner[node], spread.topology)
                if domain is not None:
                    per_domain[domain] += amount
            counts, domains_count = list(per_domain.values()), len(per_domain)
        if not domains_count:
            continue
        most = max(counts, default=0)
        least = min(counts, default=0) if len(counts) == domains_count else 0
        if most - least > spread.max_skew:
            violations.append(Violation(
                f"`{demand.name}` is spread {least}..{most} per {spread.topology}; max_skew is "
                f"{spread.max_skew}", spread.origin))
    return violations


def _latency(problem: Problem, members: list[Demand], owner: dict[str, NodeClass],
             placed_on: dict[str, Counter]) -> list[Violation]:
    """A workload's latency rules, its options' replicas counted together."""
    violations = []
    for rule in members[0].latency:
        placed = within = 0
        for demand in members:
            for node, here in placed_on.get(demand.name, Counter()).items():
                placed += here
                if problem.within_reach(rule, owner[node]):
                    within += here
        if placed and within < rule.replicas:
            violations.append(Violation(
                f"`{members[0].workload}` has {within} replica{'s' if within != 1 else ''} within "
                f"{float(rule.limit_ms):g} ms of {rule.location}; its latency rule needs "
                f"{rule.replicas}", rule.origin))
    return violations


def _money(problem: Problem, owner: dict[str, NodeClass], hosted: dict[str, Counter],
           bought: set[str]) -> list[Violation]:
    violations = []
    per_class = _used_per_class(owner, hosted, bought)
    cost = sum((problem.node_class(c).price * k for c, k in per_class.items()), Fraction(0))
    if problem.budget is not None and cost > problem.budget:
        violations.append(Violation(f"the placement costs {float(cost):.2f} USD/h, over the budget "
                                    f"of {float(problem.budget):.2f} USD/h", problem.budget_origin))
    for cap in problem.power_caps:
        drawn = sum((problem.node_class(c).power_watts * per_class[c] for c in set(cap.classes)),
                    Fraction(0))
        if drawn > cap.cap_watts:
            violations.append(Violation(f"nodes in {cap.scope} draw {float(drawn) / 1000:.1f} kW, over "
                                        f"the cap `{cap.name}` of {float(cap.cap_watts) / 1000:.1f} kW",
                                        cap.origin))
    per_group: Counter = Counter(owner[n].buy_group for n in bought if n in owner)
    for group, limit in problem.buy_limits.items():
        if per_group[group] > limit:
            violations.append(Violation(f"{per_group[group]} nodes bought, over max_count = {limit}",
                                        None))
    return violations
