"""`fitc solve --plot FILE.svg|png` (issue 19): a placement in time drawn for people who would
rather look than read. Three panels sharing the time axis: the nodes in use per pool against
the pool's nodes, the power drawn under each `power_cap` against its cap, and what a node-hour
of each pool costs at each step (its price plus its electricity then).

matplotlib is an optional extra (`pip install "fitlang[plot]"`): `require_matplotlib` says so
as a usage error before anything is solved. The figure is made with matplotlib's object API
(no pyplot: no global state, no GUI backend) and written deterministically: SVG ids are salted
with a constant (`svg.hashsalt`) and no date or version goes into the file's metadata, so the
same placement gives the same bytes.
"""

from __future__ import annotations

import importlib.util
import io
from fractions import Fraction
from pathlib import Path

from fitlang.errors import UsageError
from fitlang.model.problem import Problem
from fitlang.outputs import write_atomically
from fitlang.solve.placement import Placement
from fitlang.solve.timeline_report import in_use_per_step, power_per_step

FORMATS = (".svg", ".png")
MAX_LINES = 8  # lines per panel; more classes are drawn as one fleet line
SPARSE = 8  # pools this many times the most nodes in use are drawn on a log axis
INSTALL_HINT = 'pip install "fitlang[plot]" (or: pip install matplotlib)'
# what the SVG and PNG writers would otherwise stamp into the file, differing between runs
# or installs
_NO_METADATA = {".svg": {"Date": None, "Creator": "fitc"},
                ".png": {"Software": "fitc"}}


def plot_format(raw: str) -> str:
    """The suffix of a --plot path, refused (a usage error) unless fitc writes it."""
    suffix = Path(raw).suffix.lower()
    if suffix not in FORMATS:
        raise UsageError(f"--plot {raw}: the file must end in .svg or .png")
    return suffix


def require_matplotlib() -> None:
    """A usage error (exit 2) when the optional plotting extra is not installed."""
    if importlib.util.find_spec("matplotlib") is None:
        raise UsageError(f"--plot needs matplotlib, which is not installed: {INSTALL_HINT}")


def write_plot(problem: Problem, placement: Placement, path: Path) -> None:
    """Draw the placement and write it to `path` (atomically)."""
    suffix = plot_format(str(path))
    write_atomically(path, render(problem, placement, suffix))


def render(problem: Problem, placement: Placement, suffix: str) -> bytes:
    """The figure's bytes as SVG or PNG."""
    import matplotlib
    from matplotlib.figure import Figure

    panels = 3 if problem.power_caps else 2
    with matplotlib.rc_context({
        "svg.hashsalt": "fitc",  # ids from a constant, not a random salt
        "svg.fonttype": "none",  # text as text: smaller, searchable, no glyph paths per font
        "path.simplify": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
    }):
        figure = Figure(figsize=(10, 2.6 * panels), layout="constrained")
        axes = figure.subplots(panels, 1, sharex=True, squeeze=False)[:, 0]
        hours = _hours(problem)
        _nodes_panel(axes[0], problem, placement, hours)
        if problem.power_caps:
            _power_panel(axes[1], problem, placement, hours)
        _price_panel(axes[-1], problem, hours)
        timeline = problem.timeline
        assert timeline is not None
        from fitlang.solve.timeline import iso

        axes[-1].set_xlabel(f"hours from {iso(timeline.start)}")
        figure.suptitle(f"placement over {timeline.steps} steps "
                        f"({placement.status}, cost {_cost(placement)})")
        buffer = io.BytesIO()
        figure.savefig(buffer, format=suffix[1:], metadata=_NO_METADATA[suffix], dpi=100)
    return buffer.getvalue()


def _hours(problem: Problem) -> list[float]:
    """The edges of the steps, in hours from the start: steps + 1 values."""
    timeline = problem.timeline
    assert timeline is not None
    step = timeline.step_seconds / 3600
    return [index * step for index in range(timeline.steps + 1)]


def _stepped(values: list[float]) -> list[float]:
    """Per-step values for `stairs`-like drawing with `step(where="post")`: the last repeated."""
    return values + values[-1:] if values else [0.0]


def _nodes_panel(axis, problem: Problem, placement: Placement, hours: list[float]) -> None:
    per_step = in_use_per_step(problem, placement)
    used = {c.id: [float(len(step.get(c.id, ()))) for step in per_step] for c in problem.classes}
    shown = [c for c in problem.classes if any(used[c.id])]
    steps = range(len(per_step))
    if len(shown) > MAX_LINES:  # a fleet of many classes: the whole fleet, one line
        total = [sum(values) for values in zip(*used.values())]
        available = [float(sum(c.count_at(step) for c in problem.classes)) for step in steps]
        _against(axis, hours, total, available, "all nodes")
    for node_class in shown if len(shown) <= MAX_LINES else []:
        _against(axis, hours, used[node_class.id],
                 [float(node_class.count_at(step)) for step in steps], node_class.id)
    most_used = max((max(used[c.id]) for c in shown), default=0.0)
    most = max((float(c.count) for c in shown), default=0.0)
    if most_used and most > SPARSE * most_used:
        # a week on a few nodes of a centre of hundreds: on a linear axis up to the pools' sizes
        # the nodes in use were a flat line at the bottom, under the pools' dashed lines (an HPC
        # centre's 4-node training against 120 CPU nodes); a log axis (linear below 1) shows both
        axis.set_yscale("symlog", linthresh=1)
        axis.set_ylim(0, 4 * most)  # the legend's room above the largest pool
    axis.set_ylabel("nodes in use")
    _legend(axis)


def _against(axis, hours: list[float], values: list[float], limits: list[float], name: str,
             what: str = "in use") -> None:
    """A step line of `values` and, dashed in its colour, the limit at each step it must stay
    under (a power cap per hour, a pool's nodes off in a maintenance window)."""
    line = axis.step(hours, _stepped(values), where="post", label=f"{name} {what}")
    shown = f"{limits[0]:g}" if len(set(limits)) == 1 else f"{min(limits):g}-{max(limits):g}"
    axis.step(hours, _stepped(limits), where="post", color=line[0].get_color(),
              linestyle="dashed", label=f"{name}: {shown}")
    axis.set_ylim(0, max(axis.get_ylim()[1], 1.3 * max(limits)))  # room for the legend above it


def _power_panel(axis, problem: Problem, placement: Placement, hours: list[float]) -> None:
    for cap in problem.power_caps[:MAX_LINES]:
        drawn = [float(watts) / 1000 for watts in power_per_step(problem, placement, cap)]
        caps = [float(cap.cap_at(step)) / 1000 for step in range(len(drawn))]
        _against(axis, hours, drawn, caps, f"{cap.name} kW", "drawn")
    axis.set_ylabel("power (kW)")
    _legend(axis)


def _price_panel(axis, problem: Problem, hours: list[float]) -> None:
    """One line per distinct price curve, named by the pools that share it."""
    timeline = problem.timeline
    assert timeline is not None
    curves: dict[tuple[float, ...], list[str]] = {}
    for node_class in problem.classes:
        prices = tuple(float(node_class.price_at(step)) for step in range(timeline.steps))
        curves.setdefault(prices, []).append(node_class.id)
    for prices, names in list(curves.items())[:MAX_LINES]:
        label = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
        axis.step(hours, _stepped(list(prices)), where="post", label=label)
    axis.set_ylabel("USD per node-hour")
    axis.set_ylim(bottom=0)
    _legend(axis)


def _legend(axis) -> None:
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="upper left", fontsize="small", ncols=2)


def _cost(placement: Placement) -> str:
    value = placement.value
    return "none" if value is None else f"{float(Fraction(value)):.2f} {placement.unit}"
