"""Which first guided pass to keep: the cheaper of the two cheapest after their ruin.

The first guided passes (`placement._guides`, in the child beside the placement and, where
it had no time for some, in the solve's process) are each consolidated. The one kept used
to be the cheapest consolidated; the search then ruins it (dear_nodes.py, every dear full
node) and goes on from there. The pass cheapest consolidated is not always the one cheapest
ruined: the passes differ in how full they leave their dear nodes (inventory 10,000 seed 14,
in process: the gangs' pass 592.25 consolidated -> 590.41 ruined, the fractional pass with
the option groups whole 592.30 -> 589.57). So the cheapest is ruined as the search would
ruin it, then, where the time left is expected to hold its ruin, the next cheapest too; the
cheaper after its ruin is kept, ruined, and the search does not ruin it again
(`Chosen.ruined`): only the second ruin is new time, taken from the stages after the ruin
(the repacking and the neighbourhood search, which found 0-0.2 USD/h at 5 s)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from fractions import Fraction

from fitlang.solve.aggregate import past
from fitlang.solve.dear_nodes import dear_nodes_ruined
from fitlang.solve.pack import Packing
from fitlang.solve.placement_result import _packed_value

# the second pass is ruined only where the time left is at least this many times what the
# first one's ruin took: a ruin the deadline cuts says nothing of where it would end
SECOND_RUIN_MARGIN = 1.5
# the choice is made only where the time left holds this many times the floor's pass and its
# polish (`placement._Run.floor_seconds`): the two ruins take about 1.3 of them, and in a shorter
# time the search's own order gains more, its zones' repacking before its ruin (zone_repack.py,
# which came after this choice was measured). Inventory 10,000 at 5 s, CPU clock, from the same
# passes with the 1.9-2.2 CPU s left (the floor's pass and polish 0.75-1.1: 2-3 of them): the choice, then the
# search 567.00 / 533.12 / 516.07 / 576.81 / 461.65 / 366.94 on seeds 94 / 109 / 112 / 7 / 86 / 64,
# the search alone 565.79 / 530.33 / 512.95 / 576.71 / 461.10 / 365.98 (session 57)
CHOICE_FLOORS = 4


@dataclass
class Chosen:
    """The pass kept, and whether it was ruined to the end of its dear nodes (the search's
    ruin would find nothing more on it)."""

    packing: Packing
    ruined: bool


def ruined_choice(problem, passes: list[Packing], objective: str,
                  deadline: float | None) -> Chosen | None:
    """Of `passes` (complete, consolidated), the two cheapest (distinct values) ruined in turn
    (the second where the time is expected to hold its ruin); the cheaper after its ruin.
    None where no pass is complete."""
    cheapest = ranked(problem, passes, objective)
    if not cheapest:
        return None
    first = cheapest[0]
    began = time.monotonic()
    dear_nodes_ruined(problem, first, objective, deadline, give_up=None)
    took = time.monotonic() - began
    if past(deadline):
        return Chosen(first, False)  # cut: the search goes on where it stopped
    left = None if deadline is None else deadline - time.monotonic()
    if len(cheapest) < 2 or (left is not None and left < SECOND_RUIN_MARGIN * took):
        return Chosen(first, True)
    second = cheapest[1]
    dear_nodes_ruined(problem, second, objective, deadline, give_up=None)
    if past(deadline):
        return Chosen(first, True)  # (the second cut short: not comparable)
    if _value(problem, second, objective) < _value(problem, first, objective):
        return Chosen(second, True)
    return Chosen(first, True)


def choice_fits(left: float | None, floor_seconds: float | None) -> bool:
    """Whether the time `left` holds the choice (CHOICE_FLOORS of the floor's `floor_seconds`);
    as before where either is not known (no limit, or no floor measured)."""
    return left is None or floor_seconds is None or left >= CHOICE_FLOORS * floor_seconds


def ranked(problem, passes: list[Packing], objective: str) -> list[Packing]:
    """The complete passes by value, cheapest first, one per value (two passes that place
    alike end alike)."""
    kept: list[tuple[Fraction, Packing]] = []
    for packing in passes:
        kept = kept_cheapest(problem, kept, packing, objective, len(passes))
    return [packing for _, packing in kept]


def kept_cheapest(problem, kept: list[tuple[Fraction, Packing]], packing: Packing, objective: str,
                  most: int = 2) -> list[tuple[Fraction, Packing]]:
    """`kept` (value, pass), cheapest first, one per value, with `packing` where it is complete
    and among the `most` cheapest; its value computed once (a few ms at 10,000 nodes)."""
    value = _packed_value(problem, packing, objective) if packing.complete else None
    if value is None or any(value == other for other, _ in kept):
        return kept
    return sorted([*kept, (value, packing)], key=lambda item: item[0])[:most]


def _value(problem, packing: Packing, objective: str) -> Fraction:
    value = _packed_value(problem, packing, objective)
    assert value is not None
    return value
