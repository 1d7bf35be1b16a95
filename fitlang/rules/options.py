"""`options` of a workload (accelerator choices with a `throughput` each): what its replicas
deliver together reaches the workload's throughput; a gang uses one option only."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction
from typing import TYPE_CHECKING

from fitlang.diagnostics import Diagnostic
from fitlang.frozen import Frozen
from fitlang.model.problem import Demand
from fitlang.rules.base import CheckReads, GroupKey, PartKind, Placed, Rows, Rule, Stated, domain_of
from fitlang.rules.explaining import need, option_group, plural
from fitlang.rules.gang import GangGroup

if TYPE_CHECKING:  # explain's types: importing a rule module imports nothing of fitlang.solve
    from fitlang.model.problem import Problem
    from fitlang.solve.encode import Encoding
    from fitlang.solve.explain.parts import Part


def check(placed: Placed) -> Iterator[Diagnostic]:
    """(Or, where the placement reports the workload unplaced, nothing of it runs.)"""
    problem, count = placed.problem, placed.placed
    known = {d.name for d in problem.demands}  # not a pass over them per listed name
    unplaced = {problem.demand(name).workload for name in placed.unplaced if name in known}
    for group in problem.option_groups:
        members = [problem.demand(name) for name in group.demands]
        delivered = sum((d.throughput * count[d.name] for d in members), Fraction(0))
        used = [d.option for d in members if count[d.name]]
        if delivered < group.required and (used or group.workload not in unplaced):
            yield placed.violation(
                f"`{group.workload}` delivers {float(delivered):g} of the {float(group.required):g} "
                "it needs (" + ", ".join(f"{d.option} x{count[d.name]} at {float(d.throughput):g} "
                                          "each" for d in members) + ")",
                group.origin)
        if group.gang and len(used) > 1:
            yield placed.violation(f"gang `{group.workload}` runs on options {', '.join(map(str, used))}: "
                                   "a gang uses one option", group.origin)
        yield from _options_apart(placed, members)


def _options_apart(placed: Placed, members: list[Demand]) -> Iterator[Diagnostic]:
    """`anti_affinity self on T` of a workload with options: at most one replica of any of its
    options per domain of T. Counted here over the options together, from the rule as written
    (`self`), not from the rules between options the model is given; a domain with replicas
    of one option only is the affinity rule's own check."""
    owner = placed.owner
    for rule in members[0].affinities:
        if not (rule.anti and rule.target == "self"):
            continue
        options_in: dict[str | None, dict[str, int]] = {}
        for demand in members:
            for node, amount in placed.placed_on.get(demand.name, {}).items():
                here = options_in.setdefault(domain_of(node, owner[node], rule.topology), {})
                here[str(demand.option)] = here.get(str(demand.option), 0) + amount
        for domain, options in sorted(options_in.items(), key=lambda item: str(item[0])):
            if len(options) > 1:
                mix = ", ".join(f"{option} x{count}" for option, count in sorted(options.items()))
                yield placed.violation(
                    f"`{members[0].workload}` runs {sum(options.values())} replicas in "
                    f"{rule.topology} {domain} ({mix}; anti_affinity self on {rule.topology})",
                    rule.origin)


class ThroughputGroup(GroupKey, Frozen):
    """An option group's options deliver its throughput."""

    workload: str


def throughput_rows(encoding: Encoding, must_place: bool) -> None:
    """Sum over options of throughput x replicas placed >= the workload's throughput. When not
    everything must be placed, a binary m[w] says whether the group is met; an unmet group places
    nothing. A gang picks one option (binary b) and places exactly its replicas there."""
    model = encoding.model
    for group in encoding.problem.option_groups:
        members = [encoding.problem.demand(name) for name in group.demands]
        supply = {encoding.placed[d.name]: d.throughput for d in members}
        met = None
        if must_place:
            model.add(supply, lower=group.required, group=ThroughputGroup(group.workload))
        else:
            met = model.var(f"m[{group.workload}]", 0, 1)
            encoding.met[group.workload] = met
            model.add({**supply, met: -group.required}, lower=0)
            for demand in members:
                model.add({encoding.placed[demand.name]: 1, met: -demand.replicas}, upper=0)
        if group.gang:
            choices = {}
            for demand in members:
                choice = encoding.column(OptionChoice(demand.name), f"b[{demand.name}]", 0, 1)
                model.add({encoding.placed[demand.name]: 1, choice: -demand.replicas},
                          lower=0, upper=0, group=GangGroup(group.workload))
                choices[choice] = 1
            if met is None:
                model.add(choices, upper=1, group=GangGroup(group.workload))
            else:
                model.add({**choices, met: -1}, upper=0, group=GangGroup(group.workload))


def reason(problem: Problem, part: Part) -> Stated:
    """What a workload with options needs: its replicas per option, or its throughput."""
    group = option_group(problem, part.subject)
    options = [problem.demand(name) for name in group.demands]
    if all(d.replicas * d.throughput == 1 for d in options):  # sized in replicas per option
        needed = " or ".join(f"{plural(d.replicas, 'replica')} of {d.option} ({need(d)} each)"
                             for d in options)
        return Stated(f"workload `{part.subject}` needs {needed}"
                      + (", all on one option" if group.gang else ""), group.origin)
    each = ", ".join(f"{d.option} {float(d.throughput):g} per replica of {need(d)}"
                     for d in options)
    how = "from one option" if group.gang else "from its options"
    return Stated(f"workload `{part.subject}` needs throughput {float(group.required):g} {how} "
                  f"({each})", group.origin)


class OptionChoice(Frozen):
    """The binary of a gang's option: is it the one the gang runs on?"""

    demand: str


def keeps_whole(encoding: Encoding, demand: Demand) -> bool:
    """An option's count is weighed by its throughput: rounding could fall short of it."""
    return demand.group is not None


def start(encoding: Encoding, demand: Demand, mine: dict[str, int], opened: dict[str, int],
          values: dict[int, float]) -> None:
    """A gang's option binary: on where the placement runs the option."""
    chosen = encoding.index.get(OptionChoice(demand.name))
    if chosen is not None:
        values[chosen] = int(sum(mine.values()) > 0)


RULE = Rule("options", check=check, check_reads=CheckReads.DEMANDS,
            rows=Rows(fleet=throughput_rows, keeps_whole=keeps_whole, start=start),
            part_kind=PartKind.THROUGHPUT, reason=reason)
