"""What a placement in time looks like to people and to the targets (issue 19): `fitc solve`'s
timeline, `fitc solve --plot`, and the Kubernetes and Terraform files that start work and
capacity at their time. Outcomes are those of examples/nightly-training.fit, worked out by
hand in its header; files are read by the real tools (kubernetes-validate, terraform's loader)."""

from __future__ import annotations

import sys
import xml.etree.ElementTree as ElementTree
from fractions import Fraction

import pytest

from fitlang.driver import Compilation

from conftest import EXAMPLES, run_fitc

NIGHTLY = EXAMPLES / "nightly-training.fit"


def _nightly():
    compilation = Compilation(NIGHTLY)
    return compilation.problem, compilation.solve()


# ---- the plot ------------------------------------------------------------------------------------


def test_the_power_drawn_per_step_is_that_worked_out_by_hand():
    from fitlang.solve.timeline_report import power_per_step

    problem, placement = _nightly()
    (feed,) = problem.power_caps
    # inference all day (10 kW); one job at a time from 22:00 (step 10) to 10:00 (step 22)
    expected = [10] * 10 + [20] * 12 + [10] * 2
    assert power_per_step(problem, placement, feed) == [Fraction(kw * 1000) for kw in expected]


@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_the_plot_is_the_same_bytes_on_every_run(tmp_path, suffix):
    pytest.importorskip("matplotlib")
    first, second = tmp_path / f"a{suffix}", tmp_path / f"b{suffix}"
    for path in (first, second):
        result = run_fitc("solve", str(NIGHTLY), "--plot", str(path))
        assert result.returncode == 0, result.stderr
    assert first.read_bytes() == second.read_bytes()
    if suffix == ".png":
        assert first.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")


def test_the_svg_plot_is_valid_svg_with_the_capacity_the_cap_and_the_prices(tmp_path):
    pytest.importorskip("matplotlib")
    path = tmp_path / "plot.svg"
    assert run_fitc("solve", str(NIGHTLY), "--plot", str(path)).returncode == 0
    root = ElementTree.parse(path).getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    text = {"".join(e.itertext()).strip() for e in root.iter("{http://www.w3.org/2000/svg}text")}
    assert {"h100 in use", "h100: 4", "hall_feed kW drawn", "hall_feed kW: 25",
            "USD per node-hour"} <= text
    assert "placement over 24 steps (optimal, cost 139.80 USD)" in text
    assert b"<dc:date>" not in path.read_bytes()  # no date: the same bytes tomorrow


def test_plot_without_matplotlib_is_a_usage_error_before_solving(tmp_path, monkeypatch, capsys):
    from fitlang import cli

    monkeypatch.setitem(sys.modules, "matplotlib", None)  # find_spec: not installed
    solved = []
    monkeypatch.setattr("fitlang.driver.Compilation.solve", lambda *a, **k: solved.append(1))
    path = tmp_path / "plot.svg"
    assert cli.main(["solve", str(NIGHTLY), "--plot", str(path)]) == 2
    assert "matplotlib" in capsys.readouterr().err
    assert not path.exists() and not solved


@pytest.mark.parametrize("name", ["plot.pdf", "plot", "missing/plot.svg"])
def test_plot_to_a_format_or_place_fitc_cannot_write_is_a_usage_error(tmp_path, name):
    pytest.importorskip("matplotlib")
    result = run_fitc("solve", str(NIGHTLY), "--plot", str(tmp_path / name))
    assert result.returncode == 2 and result.stderr.startswith("fitc: error: --plot"), result.stderr
    assert "Traceback" not in result.stderr


def test_plot_of_a_policy_without_a_horizon_is_a_usage_error(tmp_path):
    pytest.importorskip("matplotlib")
    result = run_fitc("solve", str(EXAMPLES / "llm-inference.fit"), "--plot",
                      str(tmp_path / "p.svg"))
    assert result.returncode == 2 and "horizon" in result.stderr
    assert not (tmp_path / "p.svg").exists()
