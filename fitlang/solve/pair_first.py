"""A short floor's pair LP and guided passes before its completion, where the time left would
not hold the completion, the LP and a guided pass one after another.

`fitc solve --time-limit 5` on `bench/ai_fleet.py` 10,000 (CPU clock): the floor's three greedy
passes end ~1.5 s into the solve, short (the priority order fills the room of one region's
services); its completion (`scarce_first`, `shorts_first_again`, `floor_completed`) and polish
take 0.8-1.2 s, the pair LP and its counts 0.5, and a guided pass in the order the floor learned
0.45-1.3 (one to three passes), so the search deadline (~4.3 s) comes during the first guided
pass or just after it: on seeds 5 / 7 / 12 / 14 the answer was the consolidated floor (2.1-3.6%
over the bound), or, on the start of session 38, the pass where it just fitted (1.07-1.27%), and
under load not. The guided pass places every replica itself (the LP's guide, the learned order,
its own completion: guided_pass.py) and is the answer where it does: so the LP comes first here,
from the short floor, then the guided passes (`placement._bounds_from_floor`, the LP not run
again), and the completion only where they all leave replicas out (then the first-fit is kept
aside as before: never worse than a first-fit).

Where the time left holds all three (longer limits), or not even the LP and one pass (the
completion is then what is worth its time), nothing changes; nor where the pair LP would not
converge in the limit, the whole model runs, or the floor learned no order.
"""

from __future__ import annotations

# what the completion, a guided pass and its polish and retries take, in the floor's passes'
# time: the completion chain 0.6-1.0 CPU s and a guided pass with its polish 0.6-1.4 where the
# floor's three passes took 0.85-1.0 (ai_fleet 10,000 seeds 5 / 7 / 12 / 14)
PASSES_AFTER_FLOOR = 3.0


def pair_first_pays(left: float | None, expected_bound: float, floor_passes: float, learned: bool) -> bool:
    """Whether a short floor's pair LP and guided passes come before its completion: the floor
    learned an order (`learned`: the guided pass goes in it at once), and the `left` seconds
    hold the LP (`expected_bound`) and a pass of the floor's (`floor_passes`), but not the LP
    and PASSES_AFTER_FLOOR such passes (the completion's, a guided pass's and its polish's)."""
    if left is None or not learned:
        return False
    return expected_bound + floor_passes <= left < expected_bound + PASSES_AFTER_FLOOR * floor_passes
