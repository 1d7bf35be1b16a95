"""Quick fixes for "did you mean" diagnostics, and formatting as text edits."""

from __future__ import annotations

import difflib
import re

from lsprotocol import types

from fitlang.lsp.positions import LineIndex

_DID_YOU_MEAN = re.compile(r"did you mean `([^`]+)`\?$")


def quick_fixes(uri: str, index: LineIndex, diagnostics: list[types.Diagnostic]
                ) -> list[types.CodeAction]:
    actions = []
    for diagnostic in diagnostics:
        edits = _fix_edits(index, diagnostic)
        for title, edit in edits:
            actions.append(types.CodeAction(
                title=title, kind=types.CodeActionKind.QuickFix, diagnostics=[diagnostic],
                is_preferred=len(edits) == 1,
                edit=types.WorkspaceEdit(changes={uri: [edit]})))
    return actions


def _fix_edits(index: LineIndex, diagnostic: types.Diagnostic) -> list[tuple[str, types.TextEdit]]:
    found = []
    data = diagnostic.data if isinstance(diagnostic.data, dict) else {}
    for fix in data.get("fixes", []) or []:
        try:
            start = types.Position(**fix["range"]["start"])
            end = types.Position(**fix["range"]["end"])
            found.append((fix["title"], types.TextEdit(types.Range(start, end), fix["text"])))
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
        keyword = re.search(r"([A-Za-z_]+)\s+$", before)
        if keyword is None or words[-1] != current or len(words) != 2:
            return found
        edit_range = types.Range(index.position_at(keyword.start(1)),
                                 index.position_at(keyword.end(1)))
        found.append((f"Change to `{suggestion}`", types.TextEdit(edit_range, words[0])))
        return found
    text = f'"{suggestion}"' if current.startswith('"') else suggestion
    found.append((f"Change to `{suggestion}`", types.TextEdit(diagnostic.range, text)))
    return found


def text_edits(index: LineIndex, new_text: str) -> list[types.TextEdit]:
    """The edits that turn the document into `new_text`, line by line (so that the cursor
    and folds stay where they were outside the lines that change)."""
    old_lines = index.text.split("\n")
    new_lines = new_text.split("\n")
    if old_lines == new_lines:
        return []
    edits = []
    matcher = difflib.SequenceMatcher(None, old_lines, new_lines, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            continue
        if i2 < len(old_lines):  # whole lines, each with its newline
            edit_range = types.Range(index.position(i1 + 1, 1), index.position(i2 + 1, 1))
            replacement = "".join(line + "\n" for line in new_lines[j1:j2])
        elif i1 == 0:  # everything
            edit_range = types.Range(types.Position(0, 0), index.end())
            replacement = "\n".join(new_lines[j1:j2])
        else:  # up to the end, which has no newline: start after the line before
            edit_range = types.Range(index.position(i1, len(old_lines[i1 - 1]) + 1), index.end())
            replacement = "".join("\n" + line for line in new_lines[j1:j2])
        edits.append(types.TextEdit(edit_range, replacement))
    return edits
