"""The search's time after the guided passes, kept at short limits.

At fleet scale the solve's own guided passes (`placement._cheapest_guided`, from
`_guided_floor`) went on while the time left held one more pass as long as the last
(`guided_pass.next_pass_fits`), and the search after them (`search_stages.searched`: small nodes
merged, the dear nodes ruined, the crossing room) had what was left: nothing. `bench/ai_fleet.py`
10,000 at `--time-limit 5` (CPU clock, session 40): the floor, its completion and the pair LP end
at 2.0-3.4 CPU s, a guided pass and its polish take 0.55-1.4, and the passes went on to the
search's deadline (~4.6) on every seed profiled (2, 3, 4, 5, 6, 8, 12, 14, 20); the first
pass that placed every replica was the cheapest of them on every one (the second and third
came 10-1,000 USD/h dearer, consolidated), while the merge and the ruin find 30-200 USD/h on
that pass in ~1 CPU s (seed 2 97,483 -> 97,276, seed 3 89,385 -> 89,361).

So once a pass placing every replica is kept, another begins only where the time left holds
it (as long as the last pass and its polish took) and, after it, SEARCH_ROOM_SHARE of the
limit for the search. At 30 s and up the passes end long before that (they take ~1 s each at
10,000 nodes, the room is 7.5 s): nothing changes there.
"""

from __future__ import annotations

from fitlang.solve.aggregate import remaining

# the share of the time limit kept for the search after the first guided pass that placed every
# replica (`later_pass_fits`): at 5 s, 1.25 s, what the merge and one ruin of the dear nodes take
# at 10,000 nodes (0.2-0.3 + ~1 CPU s)
SEARCH_ROOM_SHARE = 0.25


def search_room(time_limit: float | None) -> float:
    """The seconds kept for the search after the guided passes (see the module's doc)."""
    return 0.0 if time_limit is None else SEARCH_ROOM_SHARE * time_limit


def later_pass_fits(took: float | None, deadline: float | None, room: float | None) -> bool:
    """Where a guided pass was kept already and the last pass and its polish took `took`
    seconds: does the time left before `deadline` hold another as long and then `room`? As
    before where `room` is None (no check: the passes of the solve's other stages); 0 where
    no room is kept but the pass must end in the time (the child's passes beside the
    placement, whose time is not the search's: placement_aside.py)."""
    left = remaining(deadline)
    return took is None or left is None or room is None or left >= took + room
