"""Targets: what runs a placement. Importing this package registers every target."""

from fitlang.targets import kubernetes, slurm, terraform  # noqa: F401  (they register themselves)
from fitlang.targets.base import TARGETS, CompileContext, Target, target_rules, write_tree

__all__ = ["TARGETS", "CompileContext", "Target", "target_rules", "write_tree"]
