"""`fitc compile --check --out DIR`: is DIR what `compile` would write now?

Generated manifests checked into a GitOps repository drift: someone edits one by hand, or
changes the policy and forgets to compile. `drift` compares, without writing anything, each
file `compile` would write with the file in DIR, and lists the files of DIR's manifest that
`compile` would remove, as unified diffs (`terraform fmt -check -diff`, `fitc fmt --diff`).
"""

from __future__ import annotations

import difflib
from pathlib import Path

from fitlang.outputs import MANIFEST, read_manifest


def drift(out: Path, files: dict[str, str]) -> list[str]:
    """The unified diffs of what `compile` would change in `out` (none: it is up to date)."""
    diffs = []
    previous = read_manifest(out) if out.is_dir() else None
    if files and previous is None:
        diffs.append(f"--- {out / MANIFEST}\n+++ {out / MANIFEST}\n@@ missing: fitc has not "
                     f"written {out} (or its manifest was removed) @@\n")
    for relative, text in sorted(files.items()):
        diffs.extend(_diff(out, relative, _read(out / relative), text))
    for relative in sorted(set(previous or ()) - set(files)):
        present = _read(out / relative)
        if present is not None:
            diffs.extend(_diff(out, relative, present, None))
    return diffs


def _read(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:  # missing, or a directory where a file should be
        return None


def _diff(out: Path, relative: str, present: str | None, wanted: str | None) -> list[str]:
    if present == wanted:
        return []
    before = (present or "").splitlines(keepends=True)
    after = (wanted or "").splitlines(keepends=True)
    name = (out / relative).as_posix()
    lines = difflib.unified_diff(before, after, fromfile=name if present is not None else "/dev/null",
                                 tofile=name if wanted is not None else "/dev/null")
    text = "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)
    return [text]
