"""Where a search in time stopped, for the search that goes on from its schedule (issue 19).

The time solve searches to IMPROVING_SHARE of its limit, collects the LP bound, then searches
again to the end (`timeline._searched_beside_bound`'s tail) from the schedule the first search
ended with. A pass the first search ran to its end over that schedule would find nothing there
again, and a pass it was cut in would find nothing again over the items it had tried: its items
are in the same order on the same schedule. So the tail starts where the first search stopped
(session 37: not the moves again where they had converged; session 38: a pass cut by the
deadline goes on from its first untried item, and the overflow chains the first search was cut
in go on first). At the goal size of the sites shape the tail had run the cut run and stretch
passes from their first items again (1.4-1.8 CPU s each), and the overflow chains after the kick,
33-80 USD from converged schedules, got no time in it on seeds 1 and 3.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Progress(Generic[Item]):
    """How far one pass over a list of items (runs, blocks) got on one schedule."""

    def __init__(self) -> None:
        self.items: list[Item] | None = None  # None: the pass has not begun
        self.tried = 0

    def through(self, listed: Callable[[], list[Item]], stopped: Callable[[], bool]) -> Iterator[Item]:
        """The pass's items from the first it has not tried (`listed()`'s, read once, where
        it has not begun), while not `stopped()`. An item counts as tried once the pass is
        done with it before it stopped: one it was cut in is tried again by the pass after."""
        if self.items is None:
            self.items = listed()
        while self.tried < len(self.items) and not stopped():
            yield self.items[self.tried]
            if stopped():
                return
            self.tried += 1

    @property
    def finished(self) -> bool:
        """Whether the pass tried every item."""
        return self.items is not None and self.tried == len(self.items)


@dataclass
class Resumed:
    """Where a search stopped, for the search that goes on from its schedule: whether the
    moves (`improved`, `emptied`) had converged on it (their last round gained under
    CONVERGING, and the passes after them under it too), which of the passes that follow them ran to
    their end since (`done`), and how far those it was cut in got (`begun`, by name: "runs",
    "stretches", "fill", "longest" (`blocks_emptied_longest_first`), "windows"
    (`timeline_windows`), and "overflow" for the overflow chains after the kick)."""

    converged: bool = False
    paired: bool = False  # a run pass with pairs of runs ran to its end: the later ones without
    done: set[str] = field(default_factory=set)
    begun: dict[str, Progress] = field(default_factory=dict)

    def moved(self, converged: bool) -> None:
        """A round of the moves ran: the schedule changed, so every pass starts anew."""
        self.converged, self.done, self.begun = converged, set(), {}

    def progress(self, name: str) -> Progress:
        """How far the pass `name` got on the schedule as it stands (a new one where it has
        not begun)."""
        return self.begun.setdefault(name, Progress())

    def restarted(self, name: str) -> None:
        """The pass `name` from its first item: the schedule changed under it (the kick)."""
        self.done.discard(name)
        self.begun[name] = Progress()

    def ended(self, name: str) -> None:
        """The pass `name` ran to its end, if it did."""
        if name in self.begun and self.begun[name].finished:
            del self.begun[name]
            self.done.add(name)
