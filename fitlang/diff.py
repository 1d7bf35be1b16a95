"""`fitc diff OLD.fit NEW.fit` (or `--rev REV FILE`): what a change to a policy does to its
placement, as `terraform plan` says what a change does to infrastructure: the cost before and
after, the workloads that change pool, zone, instance type, CPU architecture or capacity type
(spot, on-demand), the nodes bought or released, the outcome, and the limits (budget, `buy`
limits, power caps, full pools) that start or stop binding.

Exit codes as `terraform plan -detailed-exitcode`: 0 the placement is the same, 2 it changes,
1 errors (a policy that does not check is an error, not a change).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from dataclasses import field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING

from fitlang.frozen import Frozen, Mutable

if TYPE_CHECKING:  # the driver and the solver are imported when the command runs
    from fitlang.outcome import Observed

EXIT_SAME, EXIT_ERRORS, EXIT_CHANGED = 0, 1, 2
DEFAULT_TIME_LIMIT = 60.0


class Moved(Frozen):
    """A workload whose replicas run elsewhere (or in other numbers) after the change."""

    workload: str
    pools: tuple[tuple[str, ...], tuple[str, ...]]  # before, after
    zones: tuple[tuple[str, ...], tuple[str, ...]]
    # what their nodes are: one inventory is one pool, so a move onto Graviton nodes of the
    # same cluster is said by these alone
    instance_types: tuple[tuple[str, ...], tuple[str, ...]]
    archs: tuple[tuple[str, ...], tuple[str, ...]]
    capacities: tuple[tuple[str, ...], tuple[str, ...]]  # spot, on-demand (where said)
    placed: tuple[int, int]


class PolicyDiff(Mutable):
    before: Observed
    after: Observed
    moved: list[Moved] = field(default_factory=list)
    bought: dict[str, tuple[int, int]] = field(default_factory=dict)  # pool -> before, after
    used: dict[str, tuple[int, int]] = field(default_factory=dict)

    @property
    def newly_binding(self) -> list[str]:
        return [limit for limit in self.after.binding if limit not in self.before.binding]

    @property
    def released(self) -> list[str]:
        return [limit for limit in self.before.binding if limit not in self.after.binding]

    @property
    def changed(self) -> bool:
        return (self.before.outcome != self.after.outcome or self.before.cost != self.after.cost
                or bool(self.moved or self.bought or self.used or self.newly_binding or self.released))


def compare(before: Observed, after: Observed) -> PolicyDiff:
    diff = PolicyDiff(before, after)
    workloads = set(before.placed) | set(after.placed) | set(before.unplaced) | set(after.unplaced)
    for workload in sorted(workloads):
        pools = (_names(before.pools.get(workload)), _names(after.pools.get(workload)))
        zones = (_names(before.zones.get(workload)), _names(after.zones.get(workload)))
        types = (_names(before.instance_types.get(workload)), _names(after.instance_types.get(workload)))
        archs = (_names(before.archs.get(workload)), _names(after.archs.get(workload)))
        capacities = (_names(before.capacities.get(workload)), _names(after.capacities.get(workload)))
        placed = (before.placed.get(workload, 0), after.placed.get(workload, 0))
        if any(was != now for was, now in (pools, zones, types, archs, capacities)) or placed[0] != placed[1]:
            diff.moved.append(Moved(workload, pools, zones, types, archs, capacities, placed))
    diff.bought = _changed_counts(before.bought_by_pool, after.bought_by_pool)
    diff.used = _changed_counts(before.used_by_pool, after.used_by_pool)
    return diff


def _names(values: set[str | None] | None) -> tuple[str, ...]:
    return tuple(sorted(v for v in values or () if v is not None))


def _changed_counts(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {pool: (before.get(pool, 0), after.get(pool, 0)) for pool in sorted(set(before) | set(after))
            if before.get(pool, 0) != after.get(pool, 0)}


# ---- output -------------------------------------------------------------------------------


def as_text(diff: PolicyDiff) -> str:
    before, after = diff.before, diff.after
    lines = []
    if before.outcome != after.outcome:
        lines.append(f"outcome: {before.outcome} -> {after.outcome}")
    if before.cost != after.cost:
        lines.append(f"cost: {_money(before.cost)} -> {_money(after.cost)}{_delta(before.cost, after.cost)}")
    for moved in diff.moved:
        parts = []
        if moved.placed[0] != moved.placed[1]:
            parts.append(f"replicas placed {moved.placed[0]} -> {moved.placed[1]}")
        if moved.pools[0] != moved.pools[1]:
            parts.append(f"pools {_listed(moved.pools[0])} -> {_listed(moved.pools[1])}")
        if moved.zones[0] != moved.zones[1]:
            parts.append(f"zones {_listed(moved.zones[0])} -> {_listed(moved.zones[1])}")
        if moved.instance_types[0] != moved.instance_types[1]:
            parts.append(f"instance types {_listed(moved.instance_types[0])} -> "
                         f"{_listed(moved.instance_types[1])}")
        if moved.archs[0] != moved.archs[1]:
            parts.append(f"arch {_listed(moved.archs[0])} -> {_listed(moved.archs[1])}")
        if moved.capacities[0] != moved.capacities[1]:
            parts.append(f"capacity {_listed(moved.capacities[0])} -> {_listed(moved.capacities[1])}")
        lines.append(f"~ workload {moved.workload}: {'; '.join(parts)}")
    for pool, (was, now) in diff.bought.items():
        sign = "+" if now > was else "-"
        lines.append(f"{sign} buy {pool}: {was} -> {now} node{'s' if now != 1 else ''}")
    for pool, (was, now) in diff.used.items():
        if pool not in diff.bought:
            lines.append(f"~ pool {pool}: {was} -> {now} node{'s' if now != 1 else ''} in use")
    lines += [f"+ binding: {limit}" for limit in diff.newly_binding]
    lines += [f"- no longer binding: {limit}" for limit in diff.released]
    if not lines:
        return "no change: the placement is the same\n"
    return "\n".join(lines) + "\n"


def as_json(diff: PolicyDiff) -> str:
    def side(observed: Observed) -> dict:
        return {"outcome": observed.outcome, "cost_usd_h": _number(observed.cost),
                "nodes_bought": observed.bought, "codes": list(observed.codes)}

    document = {
        "changed": diff.changed, "before": side(diff.before), "after": side(diff.after),
        "workloads": [{"workload": m.workload,
                       "pools": {"before": list(m.pools[0]), "after": list(m.pools[1])},
                       "zones": {"before": list(m.zones[0]), "after": list(m.zones[1])},
                       "instance_types": {"before": list(m.instance_types[0]),
                                          "after": list(m.instance_types[1])},
                       "arch": {"before": list(m.archs[0]), "after": list(m.archs[1])},
                       "capacity": {"before": list(m.capacities[0]), "after": list(m.capacities[1])},
                       "placed": {"before": m.placed[0], "after": m.placed[1]}} for m in diff.moved],
        "bought": [{"pool": pool, "before": was, "after": now} for pool, (was, now) in diff.bought.items()],
        "in_use": [{"pool": pool, "before": was, "after": now} for pool, (was, now) in diff.used.items()],
        "binding": {"new": diff.newly_binding, "released": diff.released},
    }
    return json.dumps(document, indent=2) + "\n"


def _money(value: Fraction | None) -> str:
    return "none" if value is None else f"{float(value):.2f} USD/h"


def _delta(before: Fraction | None, after: Fraction | None) -> str:
    if before is None or after is None:
        return ""
    return f" ({float(after - before):+.2f})"


def _number(value: Fraction | None) -> float | None:
    return None if value is None else float(value)


def _listed(values: tuple[str, ...]) -> str:
    return "[" + ", ".join(values) + "]"


# ---- the command --------------------------------------------------------------------------


def add_parser(commands) -> argparse.ArgumentParser:
    command = commands.add_parser("diff", help="what a change to a policy does to its placement")
    command.add_argument("files", nargs="+", metavar="FILE",
                         help="OLD.fit NEW.fit; or, with --rev, the one policy")
    command.add_argument("--rev", metavar="REV",
                         help="compare FILE with FILE at this git revision (its imports and "
                              "inventories at that revision too)")
    command.add_argument("--format", choices=("text", "json"), default="text")
    command.add_argument("--time-limit", type=float, metavar="SECONDS",
                         help=f"for each of the two solves, on the wall (default: {DEFAULT_TIME_LIMIT:g} s "
                              "of CPU time, fitc's own and its children's: the same answer at any load)")
    command.set_defaults(run=run, default_time_limit=DEFAULT_TIME_LIMIT)
    return command


def run(arguments: argparse.Namespace) -> int:
    """Exit 2 means "the placement changes" here, as with `terraform plan -detailed-exitcode`:
    so a file that is missing or a revision git does not know is an error, exit 1, never 2."""
    from fitlang.errors import UsageError

    try:
        return _run(arguments)
    except UsageError as error:
        print(f"fitc: error: {error}", file=sys.stderr)
        return EXIT_ERRORS


def _run(arguments: argparse.Namespace) -> int:
    from fitlang.errors import UsageError

    if arguments.rev is None and len(arguments.files) != 2:
        raise UsageError("give OLD.fit NEW.fit, or --rev REV FILE")
    if arguments.rev is not None and len(arguments.files) != 1:
        raise UsageError("with --rev, give the one policy file")
    if not arguments.time_limit > 0:
        raise UsageError("--time-limit must be greater than 0")
    if arguments.rev is not None:
        import tempfile  # only for --rev (kept out of every other command's start-up)

        new = _existing(arguments.files[0])
        with tempfile.TemporaryDirectory(prefix="fitc-diff-") as old_tree:
            old = _at_revision(new, arguments.rev, Path(old_tree))
            return _report(old, new, arguments, Path(old_tree))
    return _report(_existing(arguments.files[0]), _existing(arguments.files[1]), arguments)


def _report(old: Path, new: Path, arguments: argparse.Namespace, old_root: Path | None = None) -> int:
    from fitlang.driver import Compilation
    from fitlang.outcome import observe
    from fitlang.render import human

    # the old revision's files are named as in the repository, not by where they were unpacked
    compilations = [Compilation(old, project_root=old_root), Compilation(new)]
    errors = [d for c in compilations for d in c.diagnostics() if d.is_error]
    if errors:
        sources = {m.path: m.text for c in compilations for m in c.workspace.modules.values()}
        sys.stderr.write(human(errors, sources.get))
        return EXIT_ERRORS
    before, after = (observe(c, arguments.time_limit) for c in compilations)
    diff = compare(before, after)
    sys.stdout.write(as_json(diff) if arguments.format == "json" else as_text(diff))
    return EXIT_CHANGED if diff.changed else EXIT_SAME


def _existing(raw: str) -> Path:
    from fitlang.cli import regular_file

    return regular_file(raw)


def _at_revision(file: Path, rev: str, into: Path) -> Path:
    """`file` as it was at git revision `rev`: the repository's tree at `rev` written under
    `into` (so that the policy's imports and inventory files are of that revision too)."""
    import subprocess

    from fitlang.errors import UsageError

    def git(where: Path, *args: str) -> bytes:
        done = subprocess.run(["git", "-C", str(where), *args], capture_output=True, check=False)
        if done.returncode != 0:
            message = done.stderr.decode(errors="replace").strip().splitlines()
            raise UsageError(f"--rev {rev}: {message[-1] if message else 'git failed'}")
        return done.stdout

    top = Path(git(file.resolve().parent, "rev-parse", "--show-toplevel").decode().strip())
    inside = file.resolve().relative_to(top)
    tree = git(top, "archive", "--format=tar", f"{rev}^{{tree}}")  # from the top: all of it
    import tarfile  # only for --rev

    with tarfile.open(fileobj=io.BytesIO(tree)) as archive:
        archive.extractall(into, filter="data")  # no absolute paths, links out or devices
    old = into / inside
    if not old.is_file():
        raise UsageError(f"--rev {rev}: {inside} does not exist at that revision")
    return old
