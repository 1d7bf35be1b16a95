"""The pattern master's LP rounded to whole nodes by re-solving it (residual rounding).

`placement._pattern_floor` guided the greedy pass by the master's last LP solution with each
pattern's nodes rounded at a fixed threshold (`ROUNDING_THRESHOLDS`): floor(x), plus one node
where x's fraction is over it. Rounded up, the nodes of a pool can exceed its count, and a
pattern's node can hold replicas another pattern's nodes already took; on a fleet whose pools
are sized to what runs (`bench/planted_fleets.py pools`) the pass was then short, and where
the pass that `scarce_first` completed was the last one the deadline cut, the answer was the
model's packing (`pools` 3,000 seed 103: 1.56% over the bound, 0.19% when it completed).

Here instead (sequential rounding, after Waescher and Gau 1996 for cutting stock): each round
fixes every pattern's nodes at least at floor(x), then one node more of the patterns whose
fraction is largest, as long as their class has a node left and no workload gets more
replicas than it has; the LP is solved again with those lower bounds (HiGHS's dual simplex
from the last basis) and the next round rounds its answer, until it is whole, the deadline
or `ROUNDS`. Each re-solve re-optimises what is left, so the result does not hang on which
of the LP's optimal vertices HiGHS returned. Where the master lacks patterns for what is
left its artificial columns take it (the greedy pass places that); where a re-solve finds
no answer the last rounds' nodes are kept. The master's bounds are restored after.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np

from fitlang.solve.aggregate import remaining
from fitlang.solve.backends import run_until
from fitlang.solve.greedy import Guide
from fitlang.solve.improve import NODE_OBJECTIVES
from fitlang.solve.pack import Packing
from fitlang.solve.patterns import PatternBound

# re-solves at most (each a few dual simplex iterations: `pools` 3,000, 500-800 patterns)
ROUNDS = 60
# per round, the patterns rounded up at most, as a share of those still fractional (at
# least one): one at a time is the classic rule, a share keeps the rounds few. `pools`
# 3,000 seeds 103 / 106 / 111 / 112, the guided pass consolidated: one at a time 2071.45 /
# 2028.39 / 1982.68 / 2030.76 in 0.27-0.52 CPU s of rounding; 0.1 2071.24 / 2028.62 /
# 1983.94 / 2031.38 in 0.10-0.19 s; 0.25 2072.75 / short / 1983.20 / 2030.90 in 0.06-0.13 s
ROUND_UP_SHARE = 0.1
# the rounding's share of the time left to the deadline (the guided pass needs the rest)
ROUNDING_SHARE = 0.5
# a value within this of a whole number counts as whole
WHOLE = 1e-6


# a pattern with x nodes in the pattern relaxation's solution fills floor(x) nodes, and one
# more where x's fraction is over the threshold; each threshold is one greedy pass
# (breaker 1,000, consolidated: 0.5 -> 228, 0.3 -> 227, every fraction (0) -> 228, none
# (floor) -> 231, against the plain floor's 243 and a pattern bound of 222.40)
ROUNDING_THRESHOLDS = (0.3, 0.5, 0.0)
# after a rounded pass that is kept, the threshold passes only where the time left is this many
# times what it took: three passes and as long again for the search (`pools` 3,000 at 5 s: they
# took 1.5-2.0 CPU s, and the deadline cut seed 103's one that completed; at 60 nodes they win some)
THRESHOLD_ROOM = 6


def pattern_floor(packing: Packing, found: PatternBound | None, objective: str, deadline: float | None,
                  guided: Callable[[Packing, list[Guide]], Packing]) -> Packing:
    """The floor placed again with the pattern relaxation's nodes filled first (`Guide.nodes`),
    then the greedy pass for the rest, consolidated (`guided`: those passes from a packing, the
    cheapest of them and it); the cheapest of those and `packing`. The nodes: rounded by
    re-solving the LP (`rounded_guide`; careful where that pass finds nothing cheaper), then
    rounded as ROUNDING_THRESHOLDS say. The greedy pass fills nodes one workload at a time,
    so it rarely mixes replicas that complement each other on a node (a CPU-heavy one beside
    memory-heavy ones); the patterns do."""
    if found is None or not found.nodes or objective not in NODE_OBJECTIVES:
        return packing
    began = time.monotonic()
    for careful in (False, True):
        rounded = rounded_guide(found, deadline, careful)
        if rounded is None:
            break
        placed = guided(packing, [rounded])
        if placed is not packing:
            left = remaining(deadline)
            if left is not None and left < THRESHOLD_ROOM * (time.monotonic() - began):
                return placed
            packing = placed
            break
    return guided(packing, [Guide(nodes=[(ids, hosted) for ids, hosted, x in found.nodes
                                         for _ in range(_rounded(x, threshold))])
                            for threshold in ROUNDING_THRESHOLDS])


def _rounded(x: float, threshold: float) -> int:
    """floor(x), and one more where x's fraction is over `threshold`."""
    whole = math.floor(x + 1e-9)
    return whole + (x - whole > threshold)


def rounded_guide(found: PatternBound | None, deadline: float | None, careful: bool = False) -> Guide | None:
    """The greedy pass's guide: `rounded_nodes`' nodes to fill first, in ROUNDING_SHARE of
    the time to `deadline`; None where there are none."""
    if found is None:
        return None
    left = None if deadline is None else max(0.0, deadline - time.monotonic())
    nodes = rounded_nodes(found, None if left is None else time.monotonic() + ROUNDING_SHARE * left, careful)
    if not nodes:
        return None
    return Guide(nodes=[(ids, hosted) for ids, hosted, x in nodes for _ in range(round(x))])


def rounded_nodes(found: PatternBound, deadline: float | None, careful: bool = False) -> list | None:
    """Whole nodes per pattern from the master's LP by residual rounding, as
    `PatternBound.nodes` gives them (class ids, hosted replicas, nodes) but with whole
    counts; None where there is no master or no LP answer. `careful`: no round whose nodes
    leave rows to the master's artificial columns (the patterns it has do not cover what
    they leave): such a round is undone, the rounding goes on one node at a time, then
    stops. Not careful, the greedy pass places what those rows ask; where it cannot, careful
    (`pools` 3,000 seed 104: 46 replicas left to them, the pass short; careful, 0.19% over
    the bound; on seeds 102 / 103 / 105 / 106 careful was 0.04-0.09 points dearer)."""
    master = found.master
    if master is None or master.solution is None or not master.patterns:
        return None
    highs, base = master.highs, master.base
    rounding = _Rounding(master)
    highs.setOptionValue("simplex_strategy", 1)  # bounds change: the dual simplex from the basis
    values = master.solution[base:base + len(master.patterns)]
    uncovered, single = _uncovered(master, master.solution), False
    try:
        for _ in range(ROUNDS):
            rounding.floored(values)
            fraction = values - rounding.fixed[:len(values)]
            if (fraction <= WHOLE).all() or (deadline is not None and time.monotonic() >= deadline):
                break
            raised = rounding.raised(fraction, 1 if single else None)
            if raised is None:
                break
            _fixed(highs, base, raised)
            if not run_until(highs, deadline):
                break
            solution = np.array(highs.getSolution().col_value, dtype=float)
            if careful and _uncovered(master, solution) > uncovered + WHOLE:
                _fixed(highs, base, rounding.fixed)
                if single:
                    break
                single = True
                continue
            rounding.fixed = raised
            values = solution[base:base + len(raised)]
        rounding.floored(values)
    finally:
        _fixed(highs, base, np.zeros(len(master.patterns), dtype=np.int64))
        highs.setOptionValue("simplex_strategy", 4)  # (as the master left it)
    return master.used_patterns(master.blocks.bound, rounding.fixed.astype(float))


def _fixed(highs, base: int, nodes: np.ndarray) -> None:
    """Each pattern column's lower bound at its whole nodes."""
    count = len(nodes)
    highs.changeColsBounds(count, np.arange(base, base + count, dtype=np.int32), nodes.astype(float),
                           np.full(count, np.inf))


def _uncovered(master, solution: np.ndarray) -> float:
    """What the master's artificial columns take in an LP answer (rows no pattern meets)."""
    return float(solution[master.artificial:master.base].sum())


class _Rounding:
    """The whole nodes fixed so far per pattern column of the master, and what more they
    may take: each class's node count and each demand's replicas (the master's `at most
    replicas` rows)."""

    def __init__(self, master) -> None:
        blocks = master.blocks
        self.master = master
        self.count = np.floor(blocks.count + WHOLE).astype(np.int64)
        self.replicas = np.floor(blocks.row_upper[len(blocks.kept):] + WHOLE).astype(np.int64)
        self.index: dict[tuple, int] = {}
        self.fixed = np.zeros(0, dtype=np.int64)
        # per pattern its class; per (pattern, pair) entry, the pattern, demand and replicas
        self.classes, self.owner, self.demand, self.hosts = (np.zeros(0, dtype=np.int64) for _ in range(4))
        self._known(master.patterns)

    def _known(self, patterns: list) -> None:
        """Patterns the master holds, indexed (after those known)."""
        blocks, first = self.master.blocks, len(self.fixed)
        for p, (k, pairs, counts) in enumerate(patterns, start=first):
            self.index[(k, pairs.tobytes(), counts.tobytes())] = p
        self.fixed = np.concatenate([self.fixed, np.zeros(len(patterns), dtype=np.int64)])
        self.classes = np.concatenate([self.classes, [k for k, _, _ in patterns]]).astype(np.int64)
        owners = [np.full(len(pairs), p, dtype=np.int64)
                  for p, (_, pairs, _) in enumerate(patterns, start=first)]
        self.owner = np.concatenate([self.owner, *owners]).astype(np.int64)
        self.demand = np.concatenate([self.demand] + [blocks.pair_demand[pairs] for _, pairs, _ in patterns])
        self.hosts = np.concatenate([self.hosts] + [counts for _, _, counts in patterns]).astype(np.int64)

    def floored(self, values: np.ndarray) -> None:
        """Every pattern at least at floor(x) (the LP's answer keeps every limit)."""
        n = len(values)  # (columns added since the LP's last answer stay as fixed)
        self.fixed[:n] = np.maximum(self.fixed[:n], np.floor(values + WHOLE).astype(np.int64))

    def raised(self, fraction: np.ndarray, most: int | None = None) -> np.ndarray | None:
        """The nodes fixed with one node more of the most fractional patterns whose class
        has a node left (at most `most`, else ROUND_UP_SHARE of the fractional ones), each
        holding what its demands have left (a pattern cut to that enters the master); None
        where none."""
        master, blocks = self.master, self.master.blocks
        open_ = np.flatnonzero(fraction > WHOLE)
        most = most or max(1, math.ceil(ROUND_UP_SHARE * len(open_)))
        nodes = np.bincount(self.classes, weights=self.fixed, minlength=len(self.count)).astype(np.int64)
        placed = np.bincount(self.demand, weights=self.hosts * self.fixed[self.owner],
                             minlength=len(self.replicas)).astype(np.int64)
        raised = self.fixed.tolist()
        taken = 0
        for p in open_[np.argsort(-fraction[open_], kind="stable")].tolist():
            k, pairs, counts = master.patterns[p]
            demands = blocks.pair_demand[pairs]
            cut = np.minimum(counts, np.maximum(self.replicas[demands] - placed[demands], 0))
            if nodes[k] >= self.count[k] or not cut.any():
                continue
            column = self._column(k, pairs[cut > 0], cut[cut > 0])
            raised += [0] * (len(master.patterns) - len(raised))
            raised[column] += 1
            nodes[k] += 1
            np.add.at(placed, demands, cut)
            taken += 1
            if taken >= most:
                break
        if not taken:
            return None
        return np.array(raised, dtype=np.int64)

    def _column(self, k: int, pairs: np.ndarray, counts: np.ndarray) -> int:
        """The master's column of this pattern, added where it is not there yet."""
        key = (k, pairs.tobytes(), counts.tobytes())
        if key not in self.index:
            self.master.add([(k, pairs, counts)])
            self._known([(k, pairs, counts)])
        return self.index[key]
