"""Checking a file again after an edit, reusing what did not change (for the editor).

`IncrementalCheck.check` gives exactly what `check_file` gives (the same diagnostics, the
same `Program`), but checks again only the top-level declarations that changed and those
that read them. It relies on two facts:

- The editor's parse (fitlang/lsp/incremental.py) hands back the same declaration object
  for a declaration whose text did not change, its spans moved in place to where it now
  stands. Whatever the last check kept that points at those spans (a diagnostic, an
  `Origin` in a checked value) is therefore where the declaration now is.
- A declaration's check reads nothing but its own syntax and what it asks its module's
  scope: a name's declaration (`lookup`), an import alias, the names of a kind (for "did
  you mean"), the names a syntax error dropped. The checker records these questions and
  their answers per declaration (`Slot.uses`). A declaration is reused when it is the same
  object, every question gets the same answer now (the same declaration object), and every
  declaration it read is itself reused; else it is checked again.

What reads more than that is never reused: an `inventory` (it reads a file), a `buy` (the
program fills its offers in), a declaration in a definition cycle (which of them reports
the cycle depends on where the check entered it). The program-wide rules (duplicate names,
`policy` blocks, unnamed blocks, accelerator-option targets, residency) run every time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fitlang.check.checker import Checker, CheckResult, ModuleScope, Slot, check_loaded
from fitlang.check.loader import Workspace


class IncrementalCheck:
    """The checks of one root file, one after the other."""

    def __init__(self) -> None:
        self._slots: dict[int, Slot] = {}  # id(declaration) -> its slot (which keeps it alive)
        self._scopes: dict[Path, ModuleScope] = {}
        self.rechecked = 0  # declarations checked again by the last check (tests, benchmarks)

    def check(self, path: Path, workspace: Workspace) -> CheckResult:
        root = workspace.load(path)
        checker = Checker(workspace, recycled=self._scopes, recording=True)
        for module in workspace.reachable(root):
            checker.scope(module)
        reused = self._reusable(checker)
        for key, slot in reused.items():
            if slot.has_entity:
                checker._entities[key] = slot.entity
            if slot.has_const:
                checker._consts[key] = slot.const
        result = check_loaded(checker, root, (d for s in reused.values() for d in s.diagnostics))
        for key, slot in checker.slots.items():
            slot.has_entity, slot.entity = key in checker._entities, checker._entities.get(key)
            slot.has_const, slot.const = key in checker._consts, checker._consts.get(key)
        self.rechecked = len(checker.slots)
        self._slots = {**reused, **checker.slots}
        self._scopes = dict(checker.scopes)
        return result

    def _reusable(self, checker: Checker) -> dict[int, Slot]:
        # the declarations a check builds: each name's first (a second one is an error)
        current = {id(symbol.decl): symbol.decl for scope in checker.scopes.values()
                   for symbol in scope.own.values()}
        answers: dict[tuple[Path, str, Any], Any] = {}
        valid: dict[int, Slot] = {}
        for key, slot in self._slots.items():
            if slot.volatile or current.get(key) is not slot.decl:
                continue
            if all(_same(_answer(checker, question, answers), answer, question[1])
                   for question, answer in slot.uses.items()):
                valid[key] = slot
        # a declaration that read one checked again is checked again (to a fixpoint)
        readers: dict[int, list[int]] = {}
        for key, slot in valid.items():
            for (_, question, _), answer in slot.uses.items():
                if question == "lookup" and answer is not None:
                    readers.setdefault(id(answer), []).append(key)
        stale = [key for key, slot in valid.items()
                 if any(question == "lookup" and answer is not None and id(answer) not in valid
                        for (_, question, _), answer in slot.uses.items())]
        while stale:
            key = stale.pop()
            if valid.pop(key, None) is not None:
                stale.extend(readers.get(key, ()))
        return valid


def _same(now: Any, before: Any, question: str) -> bool:
    # a declaration is the same when it is the same object (its text did not change)
    return now is before if question == "lookup" else now == before


def _answer(checker: Checker, question: tuple[Path, str, Any], answers: dict) -> Any:
    """What the scope at `question[0]` answers now (once per check and question)."""
    if question in answers:
        return answers[question]
    path, kind, argument = question
    scope = checker.scopes.get(path)
    if scope is None:
        answer: Any = _GONE
    elif kind == "lookup":
        symbol = scope.symbols.get(argument)
        answer = symbol.decl if symbol is not None else None
    elif kind == "alias":
        inner = scope.aliases.get(argument)
        answer = inner.module.resolved if inner is not None else None
    elif kind == "names":
        answer = tuple(name for name, symbol in scope.symbols.items()
                       if argument is None or symbol.kind == argument)
    else:  # dropped
        answer = argument in scope.module.parsed.dropped_names
    answers[question] = answer
    return answer


_GONE = object()  # the module is no longer loaded: no answer equals this
