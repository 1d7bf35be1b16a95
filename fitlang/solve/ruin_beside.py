"""Whether this process ruins the floor while the child beside it runs the bounds and passes.

At fleet scale the pair LP and the first guided passes run in a child process beside the
placement (`placement._bounds_aside`); this process meanwhile made a second floor
(`placement._room_floor`) and ruined the floor's dear full nodes (dear_nodes.py), then waited
for the child. At inventory 10,000 the child's passes beat the floor before that ruin on every
seed measured (`placement._beats_unruined`; seed 10: 516.91 consolidated against 543.08), so the
ruined floor was dropped, and the choice after the child's answer (ruined_choice.py) ruined the
child's cheapest pass and had no time left for the next cheapest: at 5 s on the CPU clock its
window was 0.5-1.0 s where a ruin takes 0.5-0.7 (seeds 10 / 11 / 22 / 24 / 28 / 51,
docs/performance.md, session 38). Where the floor is still the cheapest pass, the choice
ruins it then; where no pass comes, the search does (`search_stages.searched`). So the floor is
ruined here only where this process also makes a pass beside the child (passes_beside.py:
50,000 nodes, where it waits for the child's guides anyway) or no choice follows (the `nodes`
objective). On a machine shared with other work the wait also leaves the cores to the child.
"""

from __future__ import annotations


def floor_ruined_beside(objective: str, beside: bool) -> bool:
    """Whether the floor is ruined while the child runs (`placement._bounds_aside`): where this
    process makes a pass beside it (`beside`) or the objective is not `cost` (no choice
    between ruined passes follows, `placement._ruined_first`)."""
    return beside or objective != "cost"
