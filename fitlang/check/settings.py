"""The registry of target settings blocks (`kubernetes { }`, `slurm { }`, ... in `policy`).

Each target declares its own settings block in its module: a `BlockSchema` and a frozen
`TargetSettings` subclass whose fields are the block's attributes, registered here with
`register` when the module is imported. The checker validates a `policy`'s nested blocks
against what is registered, and the checked `Policy` holds one settings object per stated
block, read by type (`policy.settings_of(SlurmSettings)`). check/ imports no target: the
targets fill the registry. Whoever sits above both (the driver) installs a `loader` that
imports the targets; the checker runs it the first time a `policy` block names a block
it does not know, so `fitc check` of a file without settings blocks does not import the
targets (and the solver they import).
"""

from __future__ import annotations

from collections.abc import Callable

from fitlang.check.program import TargetSettings
from fitlang.check.schema import SETTINGS_BLOCKS, BlockSchema

# block kind -> the settings class its block becomes
SETTINGS: dict[str, type[TargetSettings]] = {}

_loader: list[Callable[[], object]] = []  # at most one: imports the targets


def register(schema: BlockSchema, settings: type[TargetSettings]) -> None:
    """Declare a target's settings block: `schema` in `policy`, read into `settings`."""
    unknown = set(schema.attrs) - set(settings.__dataclass_fields__)
    assert not unknown, f"{settings.__name__} has no field for {sorted(unknown)}"
    SETTINGS_BLOCKS[schema.kind] = schema
    SETTINGS[schema.kind] = settings


def install_loader(loader: Callable[[], object]) -> None:
    """What imports the targets (and so registers their settings) when first needed."""
    _loader[:] = [loader]


def load_settings() -> bool:
    """Run the installed loader once; whether it ran now (a retried lookup may then succeed)."""
    if not _loader:
        return False
    _loader.pop()()
    return True
