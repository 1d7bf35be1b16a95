"""The rules of the language, one module each, and their order (`RULES`).

Each module ends in `RULE = Rule(...)` (`base.py` says what each hook does); build
(`model/eligibility.py`, `model/build.py`), the W0101 warnings (`model/rule_warnings.py`) and
`fitc verify` (`solve/verify.py`) iterate `RULES` and name no rule. The order is the order
of a class's reasons (the first is the one `verify` and W0103 show) and of `verify`'s
violations. Read `RULES` from this module when it is used, not at import: a test registers a
rule by replacing it.
"""

from __future__ import annotations

from fitlang.rules import (
    affinity,
    arch,
    budget,
    buy_limits,
    capacity,
    dedicated,
    exclusive,
    gang,
    gpu,
    labels,
    latency,
    moves,
    options,
    power,
    replicas,
    require,
    residency,
    spread,
    taints,
    tpu_slices,
    zones,
)
from fitlang.rules.base import Rule

RULES: tuple[Rule, ...] = (
    dedicated.RULE,
    taints.RULE,
    labels.RULE,
    arch.RULE,
    residency.RULE,
    zones.ZONES,
    zones.REGIONS,
    gpu.RULE,
    require.RULE,
    capacity.RULE,
    tpu_slices.RULE,
    exclusive.RULE,
    gang.RULE,
    spread.RULE,
    affinity.RULE,
    latency.RULE,
    replicas.RULE,
    options.RULE,
    budget.RULE,
    power.RULE,
    buy_limits.RULE,
    moves.RULE,
)

__all__ = ["RULES", "Rule"]
