"""The search that lowers a fleet-scale packing's cost, stage by stage, each for its share of
the time left (`searched`): placement.py runs it on the floor and on each guided floor.

The stages run in this order because of what each measured against the others (the comments
at each share say how much); a stage that would break a spread over the domains that exist is
guarded around the whole search (`spread_domains.searched_keeping_spreads`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from fractions import Fraction
from typing import NamedTuple

from fitlang.model.problem import Problem
from fitlang.solve import neighbourhood
from fitlang.solve.accelerator_repack import accelerators_repacked
from fitlang.solve.crossing_room import crossing_room
from fitlang.solve.dear_nodes import dear_nodes_ruined
from fitlang.solve.dear_room import dear_room_filled
from fitlang.solve.gang_bought import gangs_onto_bought
from fitlang.solve.improve import NODE_OBJECTIVES
from fitlang.solve.option_convert import options_converted
from fitlang.solve.pack import Packing
from fitlang.solve.placement_result import OPTIMALITY_TOLERANCE, _packed_value
from fitlang.solve.repack import repack
from fitlang.solve.small_merged import small_nodes_merged
from fitlang.solve.zone_pairs import zone_pairs_placed
from fitlang.solve.zone_repack import zones_repacked

# what a stage tells the solve's progress line: (what happened, the value, the bound)
Progress = Callable[[str, Fraction | None, Fraction | None], None]
# a cheaper packing found apart from the search by now, asked with the search's packing (None: none)
Taken = Callable[[Packing], Packing | None]

# of the time left for the search, the share exact repacking takes before the neighbourhood
# search. Measured on the inventory shape at 10,000 nodes from the guided floor (593.18 USD/h):
# 20 s of repacking gave 589.96-591.65, 30 s of neighbourhood search nothing
REPACK_SHARE = 0.5
# the share the search's ruin (`searched`) may take before the repacking. It tries every dear
# full node (no give-up) and ends at its list's end (0.4-0.8 CPU s at inventory 10,000): at
# longer limits the repacking gets the rest as before; at 5 s the repacking after it kept
# nothing on seeds 7-9, where half the time left cut the ruin short under load (seed 7 582.16
# against 581.42 whole)
SEARCH_DEAR_SHARE = 0.8
# a paid node closed by first sending a spread replica beside it across domains
# (crossing_room.py; inventory 300 seed 14: 8.353 -> 8.106, the optimum, in 0.13 CPU s) takes
# at most this share of what is left, before the repacking and the neighbourhood search
CROSSING_ROOM_SHARE = 0.25
# small open nodes merged onto one new node of a larger class (small_merged.py), before the
# search's ruin and again after the dear room (which moves replicas off cheap nodes), each at most
# this share of what is left (inventory 10,000 at 5 s, seed 31: 629.43 -> 627.39 in 0.07 CPU s,
# then 625.20 -> 624.68 in 0.08 s; seed 11: 460.57 -> 460.39 after the dear room)
MERGE_SHARE = 0.5
# whole gangs moved onto bought accelerator nodes (gang_bought.py), first: at most this share of
# what is left (accelerator-heavy 10,000 at 5 s, seeds 3 / 12: one gang each, -73 / -76 USD/h,
# in 0.4-0.6 CPU s with every gang tried)
GANG_SHARE = 0.5
# the accelerator work re-placed by one MIP (accelerator_repack.py), first: at most this share of
# what is left; it ends where its MIP does, so the rest keeps what it does not take (accelerator-heavy
# 10,000 at 5 s: the search begins with 0.5-0.9 CPU s left under load, seed 17's MIP and packing take
# 0.4 of it: half gave 0.24 and kept nothing, 1.91%, 0.85 of it 1.21%; session 48)
REPACK_ACCELERATORS_SHARE = 0.85
# dear accelerator nodes closed by other options' room (option_convert.py, dearest first) before the
# accelerator MIP, for at most this share of the time left: the MIP can take the search's whole time, past
# its deadline where HiGHS's root does not stop (`bench/ai_fleet.py` 10,000 seed 20 at 5 s: 0.91 of the
# 0.93 CPU s left for nothing kept, where the conversion closes 27 L40S nodes, 405 USD/h, in 0.16 s);
# whole before the MIP, the conversion took 0.3-0.46 s on seeds 2 / 12, and the MIP after it kept nothing
# in the 1 s given (where first it kept 151 / 232 USD/h; session 54)
OPTIONS_FIRST_SHARE = 0.25
# two zones' nodes placed again exactly, everything else held (zone_pairs.py), after the merges and
# before the crossing room: at most this share of what is left (inventory 1,000 at 5 s: 1.4-1.7 CPU s,
# 1-7 pairs; after the repacking it had 0.6-1.2 s and seed 22 none: 49.34, where before 48.40)
ZONE_PAIRS_SHARE = 0.6
# the most of the search's time the zones' repacking takes (`zone_repack`: 0.3-0.5 CPU s at
# inventory 10,000, of the 1.1-1.6 s the search has there at 5 s)
ZONE_SHARE = 0.5
# the most of what is left the zones' repacking takes again after the ruin of the dear nodes and the
# dear room: they move replicas across a zone's nodes (the dear room onto accelerator nodes' room, at
# the same cost), and the zones' repacking, which finds nothing more on its own packing again, finds
# more on theirs. Inventory 10,000 at 5 s (start tree, CPU clock), each stage's packing repacked
# offline: one round after the dear room 565.82 / 512.08 / 529.89 -> 564.77 / 511.73 / 529.61 (seeds
# 94 / 112 / 109, 0.22-0.26 CPU s; after the ruin alone 565.66 / - / 529.61). In the search at 5 s it
# has what the dear room leaves (0.05-0.1 s): 565.90 / 513.39 / 530.33 -> 565.78 / 513.28 / 530.22;
# at 20 s 563.80 / 511.47 -> 563.78 / 511.47 (session 59, h59h)
ZONE_AGAIN_SHARE = 0.5


def searched(problem: Problem, packing: Packing, objective: str, deadline: float | None,
             progress: Progress, bound: Fraction | None, ruined: bool = False,
             taken: Taken | None = None) -> Packing:
    """The floor improved first by the accelerator work re-placed by one MIP over classes
    (accelerator_repack.py, REPACK_ACCELERATORS_SHARE of the time left), then by whole gangs moved onto
    bought accelerator nodes (gang_bought.py, GANG_SHARE of what is left), then dear accelerator nodes closed
    by other options' room (option_convert.py) and small nodes merged onto larger ones (small_merged.py,
    MERGE_SHARE of what is left), then each zone's CPU nodes packed again from empty (zone_repack.py,
    ZONE_SHARE of what is left: before the ruin, which polishes what it packs: seeds 11 / 24 0.62 / 0.91%
    where after `crossing_room` 1.01 / 1.00%, session 46), then by ruin and recreate on its dear full nodes
    (dear_nodes.py, every one, for SEARCH_DEAR_SHARE of the time left); then, for SEARCH_DEAR_SHARE of what
    is left, the cheap nodes' replicas that fit moved into the accelerator nodes' room, the floor
    consolidated (dear_room.py) and ruined again), then the zones packed again (ZONE_AGAIN_SHARE of what is
    left: the ruin and the dear room moved replicas across their nodes), and the small nodes merged again,
    then two zones at a time placed again by the exact per-node model, the other zones held
    (zone_pairs.py, ZONE_PAIRS_SHARE of what is left; where that model is small), then paid nodes closed
    by sending a spread replica beside them across domains (crossing_room.py), then by exact repacking of
    a few nodes at a time (`repack`) for a share of the time left, then by large-neighbourhood search
    (`neighbourhood.search`) until the deadline, or within the optimality tolerance of the proven `bound`.
    `ruined`: the packing was ruined to its end already (ruined_choice.py), not again.
    `taken`: asked before each stage and each step of the neighbourhood search for a cheaper
    packing found elsewhere meanwhile (the fragment bound's child's counts, packed:
    `fragment_counts.Takes`); where it gives one, the search begins again from it."""
    if deadline is None or objective not in NODE_OBJECTIVES:
        return packing
    enough = None if bound is None or bound <= 0 else bound / (1 - Fraction(OPTIMALITY_TOLERANCE))
    while True:
        packing, switched = _searched_once(problem, packing, objective, deadline, progress, bound, enough,
                                           ruined, taken)
        if switched is None:
            return packing
        packing, ruined = switched, False
        progress("improve", _packed_value(problem, packing, objective), bound)


def _searched_once(problem: Problem, packing: Packing, objective: str, deadline: float,
                   progress: Progress, bound: Fraction | None, enough: Fraction | None, ruined: bool,
                   taken: Taken | None) -> tuple[Packing, Packing | None]:
    """`searched`'s stages once: the packing they end with, and the one `taken` gave where it
    gave one (the stages then stopped)."""
    value = _packed_value(problem, packing, objective)
    for stage in STAGES:
        if taken is not None and (switched := taken(packing)) is not None:
            return packing, switched
        if stage.name == "dear nodes" and ruined:
            continue
        if (enough is None or value is None or value > enough) and stage.run(problem, packing, objective,
                                                                             deadline):
            value = _packed_value(problem, packing, objective)
            progress("improve", value, bound)
    given: list[Packing] = []

    def stop(best: Packing) -> bool:
        switched = None if taken is None else taken(best)
        given.extend([switched] if switched is not None else [])
        return switched is not None

    found = neighbourhood.search(
        problem, packing, objective, deadline, lambda p: _packed_value(problem, p, objective),
        improved=lambda value: progress("improve", value, bound), enough=enough,
        stop=stop if taken is not None else None)
    return found, (given[0] if given else None)


def _until(share: float, deadline: float) -> float:
    """The instant `share` of the time left to `deadline` ends."""
    return time.monotonic() + share * (deadline - time.monotonic())


class Stage(NamedTuple):
    """One stage of the search: `run(problem, packing, objective, the search's deadline)` changes
    the packing in place and says whether it lowered it. Each looks its function up when it runs
    (a test replaces one in this module)."""

    name: str
    run: Callable[[Problem, Packing, str, float], object]


# the stages in order (why this order: the shares' comments above and `searched`'s docstring)
STAGES: tuple[Stage, ...] = (
    # dear accelerator nodes closed by other options' room first (OPTIONS_FIRST_SHARE of the time left),
    # then again with the merge after the MIP, which gets the rest (its 0.85 of it)
    Stage("options", lambda p, k, o, d: options_converted(p, k, o, _until(OPTIONS_FIRST_SHARE, d))),
    Stage("accelerators",
          lambda p, k, o, d: accelerators_repacked(p, k, o, _until(REPACK_ACCELERATORS_SHARE, d))),
    Stage("gangs", lambda p, k, o, d: gangs_onto_bought(p, k, o, _until(GANG_SHARE, d))),
    # (both, one check before them: the merge closes what the conversion leaves)
    Stage("options and small nodes", lambda p, k, o, d: options_converted(p, k, o, d)
          + small_nodes_merged(p, k, o, _until(MERGE_SHARE, d))),
    Stage("zones", lambda p, k, o, d: zones_repacked(p, k, o, _until(ZONE_SHARE, d))),
    Stage("dear nodes", lambda p, k, o, d: dear_nodes_ruined(p, k, o, _until(SEARCH_DEAR_SHARE, d),
                                                             give_up=None)),
    # after the ruin, not before: before it gained more where the ruin then ran to its end, but
    # took the time of the ruin's best moves where it did not (inventory 10,000 seed 7 at 5 s
    # under load: 584.97, the ruin kept nothing, against 581.31-582.40)
    Stage("dear room", lambda p, k, o, d: dear_room_filled(p, k, o, _until(SEARCH_DEAR_SHARE, d))),
    # the zones again once the ruin and the dear room moved replicas across their nodes (ZONE_AGAIN_SHARE)
    Stage("zones again", lambda p, k, o, d: zones_repacked(p, k, o, _until(ZONE_AGAIN_SHARE, d))),
    Stage("small nodes", lambda p, k, o, d: small_nodes_merged(p, k, o, _until(MERGE_SHARE, d))),
    Stage("zone pairs", lambda p, k, o, d: zone_pairs_placed(p, k, o, _until(ZONE_PAIRS_SHARE, d))),
    Stage("crossing room", lambda p, k, o, d: crossing_room(p, k, o, _until(CROSSING_ROOM_SHARE, d))),
    Stage("repack", lambda p, k, o, d: repack(p, k, o, _until(REPACK_SHARE, d))),
)
