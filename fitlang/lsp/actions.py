"""Quick fixes for "did you mean" diagnostics, repairs of a conflict, and formatting as
text edits."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from lsprotocol import types

from fitlang.lsp.positions import LineIndex

_DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`\?$")


HARDWARE_KINDS = ("accelerator", "offer")
MAX_CANDIDATES = 4


@dataclass
class _Fix:
    title: str
    edit: types.TextEdit
    risky: bool  # it changes a hardware model or a number: never applied by one keystroke


def quick_fixes(uri: str, index: LineIndex, diagnostics: list[types.Diagnostic],
                hardware: dict[str, str] | None = None) -> list[types.CodeAction]:
    """The fixes of each diagnostic; `hardware` names the accelerators and offers in scope
    (name -> kind), whose misspellings get the close candidates of the same family."""
    actions = []
    for diagnostic in diagnostics:
        fixes = _fixes(index, diagnostic, hardware or {})
        for fix in fixes:
            actions.append(types.CodeAction(
                title=fix.title, kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                is_preferred=len(fixes) == 1 and not fix.risky,
                edit=types.WorkspaceEdit(changes={uri: [fix.edit]})))
    return actions


def _fixes(index: LineIndex, diagnostic: types.Diagnostic, hardware: dict[str, str]
           ) -> list[_Fix]:
    found = []
    data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
    for fix in data.get("fixes", []) or []:
        try:
            begins = types.Position(**fix["range"]["start"])
            ends = types.Position(**fix["range"]["end"])
            current = index.text[index.offset(begins):index.offset(ends)]
            found.append(_Fix(fix["title"], types.TextEdit(types.Range(begins, ends), fix["text"]),
                              _changes_number(current, fix["text"])))
        except (KeyError, TypeError):
            continue
    match = _DID_YOU_MEAN.search(diagnostic.message)
    if match is None:
        return found
    suggestion = match.group(1)
    start, end = index.offset(diagnostic.range.start), index.offset(diagnostic.range.end)
    current = index.text[start:end]
    if not current:
        return found
    if " " in suggestion:  # `anti_affinity self` for `affinity self`: change the keyword
        words = suggestion.split()
        before = index.text[:start]
        keyword = re.search(r"([A-Za-z_]+)\s+$", before[-200:])
        if keyword is None or words[-1] != current or len(words) != 2:
            return found
        keyword_start = start - len(before[-200:]) + keyword.start(1)
        edit_range = types.Range(index.position_at(keyword_start),
                                 index.position_at(keyword_start + len(keyword.group(1))))
        found.append(_Fix(f"Change to `{suggestion}`", types.TextEdit(edit_range, words[0]),
                          False))
        return found
    quoted = current.startswith('"')
    kind = hardware.get(suggestion) or ("accelerator" if diagnostic.code == "E0203" else None)
    if kind in HARDWARE_KINDS:
        typed = current.strip('"')
        candidates = hardware_candidates(typed, [n for n, k in hardware.items() if k == kind]) \
            or [suggestion]
    else:
        candidates = [suggestion]
    for candidate in candidates:
        text = f'"{candidate}"' if quoted else candidate
        found.append(_Fix(f"Change to `{candidate}`", types.TextEdit(diagnostic.range, text),
                          kind in HARDWARE_KINDS or _changes_number(current, candidate)))
    return found


def repair_actions(diagnostics: list[types.Diagnostic], versions: dict[str, int | None]
                   ) -> list[types.CodeAction]:
    """The repairs `explain` checked for a conflict (E0501 after a save), each one edit
    that applies exactly the value it checked. Never preferred: each changes the policy's
    meaning (a budget, a count of nodes or replicas, a rule), which the user chooses. None
    once the text changed since the solve (its diagnostic is then stale too)."""
    actions = []
    for diagnostic in diagnostics:
        data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
        solved = data.get("versions")
        if not isinstance(solved, dict) or any(versions.get(u) != v for u, v in solved.items()):
            continue
        for repair in data.get("repairs") or []:
            try:
                edit = types.TextEdit(types.Range(types.Position(**repair["range"]["start"]),
                                                  types.Position(**repair["range"]["end"])),
                                      repair["text"])
                cost = repair["cost"]
                title = repair["title"] + ("" if cost is None else
                                           f" (checked: a placement at {cost:.2f} USD/h)")
                actions.append(types.CodeAction(
                    title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                    is_preferred=False, edit=types.WorkspaceEdit(changes={repair["uri"]: [edit]})))
            except (KeyError, TypeError):
                continue
    return actions


def family(name: str) -> str:
    """A model's family: its letters and the digits after them (`H100` of `H100_80GB`,
    `A10` of `A10G`, `MI300` of `MI300X`), in upper case."""
    found = re.match(r"[A-Za-z]+\d*", name)
    return (found.group() if found else name).upper()


def hardware_candidates(typed: str, names: list[str]) -> list[str]:
    """The names `typed` may have meant, best first: those of its family when there are
    any (so `H100_80GB` never becomes `A100_80GB`, nor `A100` `A10`), else the close ones."""
    def closeness(name: str) -> float:
        return difflib.SequenceMatcher(None, typed.upper(), name.upper()).ratio()

    same = [name for name in names if family(name) == family(typed) and name != typed]
    if not same:
        same = difflib.get_close_matches(typed, names, n=MAX_CANDIDATES, cutoff=0.6)
    return sorted(same, key=lambda name: (-closeness(name), name))[:MAX_CANDIDATES]


def _changes_number(current: str, replacement: str) -> bool:
    return re.findall(r"\d+", current) != re.findall(r"\d+", replacement)


DIFF_LIMIT = 2_000  # lines: past this, a region whose line count changed is one edit


def text_edits(index: LineIndex, new_text: str) -> list[types.TextEdit]:
    """The edits that turn the document into `new_text`, line by line (so that the cursor
    and folds stay where they were outside the lines that change). Linear in the usual
    case: the lines the two texts share at both ends are skipped, and a middle with as many
    lines on both sides is compared line by line; difflib only for a small middle whose
    line count changed."""
    old_lines = index.text.split("\n")
    new_lines = new_text.split("\n")
    if old_lines == new_lines:
        return []
    head = 0
    while head < min(len(old_lines), len(new_lines)) and old_lines[head] == new_lines[head]:
        head += 1
    tail = 0
    while tail < min(len(old_lines), len(new_lines)) - head \
            and old_lines[-1 - tail] == new_lines[-1 - tail]:
        tail += 1
    old_end, new_end = len(old_lines) - tail, len(new_lines) - tail
    if old_end - head == new_end - head:
        runs = _changed_runs(old_lines, new_lines, head, old_end)
    elif max(old_end, new_end) - head <= DIFF_LIMIT:
        matcher = difflib.SequenceMatcher(None, old_lines[head:old_end], new_lines[head:new_end],
                                          autojunk=False)
        runs = [(head + i1, head + i2, head + j1, head + j2)
                for tag, i1, i2, j1, j2 in matcher.get_opcodes() if tag != "equal"]
    else:
        runs = [(head, old_end, head, new_end)]
    return [_edit(index, old_lines, new_lines, *run) for run in runs]


def _changed_runs(old_lines: list[str], new_lines: list[str], start: int, end: int
                  ) -> list[tuple[int, int, int, int]]:
    """Runs of lines that differ, where both sides have the same lines in between."""
    runs = []
    line = start
    while line < end:
        if old_lines[line] == new_lines[line]:
            line += 1
            continue
        first = line
        while line < end and old_lines[line] != new_lines[line]:
            line += 1
        runs.append((first, line, first, line))
    return runs


def _edit(index: LineIndex, old_lines: list[str], new_lines: list[str],
          i1: int, i2: int, j1: int, j2: int) -> types.TextEdit:
    if i2 < len(old_lines):  # whole lines, each with its newline
        edit_range = types.Range(index.position(i1 + 1, 1), index.position(i2 + 1, 1))
        replacement = "".join(line + "\n" for line in new_lines[j1:j2])
    elif i1 == 0:  # everything
        edit_range = types.Range(types.Position(0, 0), index.end())
        replacement = "\n".join(new_lines[j1:j2])
    else:  # up to the end, which has no newline: start after the line before
        edit_range = types.Range(index.position(i1, len(old_lines[i1 - 1]) + 1), index.end())
        replacement = "".join("\n" + line for line in new_lines[j1:j2])
    return types.TextEdit(edit_range, replacement)
