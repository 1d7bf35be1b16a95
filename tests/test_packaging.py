"""A non-editable install carries the grammar and the standard library: `fitc` works from any
working directory with nothing but the wheel."""

from __future__ import annotations

import subprocess
import sys
import zipfile

from conftest import ROOT


def test_wheel_carries_grammar_and_stdlib_and_works_from_anywhere(tmp_path):
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True,
                           timeout=300)
    if built.returncode != 0 and "hatchling" in built.stderr:
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-w",
                                str(tmp_path / "dist"), str(ROOT)], capture_output=True, text=True,
                               timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "dist").glob("fitlang-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "fitlang/_data/grammar/fit.lark" in names
    stdlib = sorted(n for n in names if n.startswith("fitlang/_data/stdlib/") and n.endswith(".fit"))
    assert {p.name for p in (ROOT / "stdlib").glob("*.fit")} == {n.rsplit("/", 1)[1] for n in stdlib}
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "p.fit").write_text('import "std/accelerators"\n\npool p {\n  count = 1\n  cpu = 96\n'
                                     '  memory = 1Ti\n  gpu {\n    model = H100\n    count = 8\n  }\n}\n')
    script = ("import fitlang.resources as r, sys; from fitlang.cli import main; "
              "assert str(r.stdlib_dir()).startswith(sys.argv[1]), r.stdlib_dir(); "
              "sys.exit(main(['check', 'p.fit']))")
    ran = subprocess.run([sys.executable, "-c", script, str(site)], cwd=elsewhere, capture_output=True,
                         text=True, env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, timeout=120)
    assert ran.returncode == 0, ran.stderr
