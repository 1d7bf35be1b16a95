"""The dead-rule warnings W0101-W0103 live in the model stage (`fitc check` reports them too);
the language server imports them from there."""

from fitlang.messages import PoolUnusable, RuleAlwaysHolds, UnsatisfiableRule
from fitlang.model.rule_warnings import MAX_LISTED, rule_warnings

__all__ = ["MAX_LISTED", "PoolUnusable", "RuleAlwaysHolds", "UnsatisfiableRule", "rule_warnings"]
