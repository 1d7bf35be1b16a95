"""Targets: what runs a placement. Importing this package registers every target."""

from fitlang.targets.base import TARGETS, CompileContext, Target, write_tree
from fitlang.targets import kubernetes  # noqa: F401  (registers itself)

__all__ = ["TARGETS", "CompileContext", "Target", "write_tree"]
