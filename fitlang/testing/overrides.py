"""A test's changes to its policy, made in the policy's text.

`workload chat { replicas = 8 }` in a test sets `replicas` of the policy's `workload chat`: the
value's text replaces the policy's (or the attribute is added to the block); a nested block
(`gpu { count = 2 }`) changes the nested block of that kind, the same way; a rule (`require`,
`prefer`, `affinity`, `spread`) is added to the block. The edits are made in the text, where
the parser put each node, so the changed policy is checked, built and solved exactly as a
policy a user had written that way: no second path through the checker to keep in step.
"""

from __future__ import annotations

from dataclasses import dataclass

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic, did_you_mean, hint
from fitlang.syntax import nodes as n


@dataclass(frozen=True, order=True)
class _Edit:
    start: int
    end: int
    order: int  # of edits at one place: the test's order (applied last to first)
    text: str


def apply_overrides(policy: n.Module, policy_text: str, overrides: list[n.Block],
                    test_path: str, test_text: str) -> tuple[str, list[Diagnostic]]:
    """The policy's text with every override made, and what could not be made (an override of
    a block the policy does not declare), as diagnostics at the override in the test file."""
    edits: list[_Edit] = []
    problems: list[Diagnostic] = []
    blocks = [d for d in policy.decls if isinstance(d, n.Block)]
    for override in overrides:
        target = _matching(blocks, override)
        if target is None:
            problems.append(_missing(blocks, override, policy.path, test_path))
            continue
        edits.extend(_block_edits(target, override, policy_text, test_text))
    text = policy_text
    for edit in sorted(edits, reverse=True):  # from the end, so that offsets stay right
        text = text[:edit.start] + edit.text + text[edit.end:]
    return text, problems


def _matching(blocks: list[n.Block], override: n.Block) -> n.Block | None:
    name = override.name.name if override.name is not None else None
    for block in blocks:
        if block.kind.name == override.kind.name and \
                (block.name.name if block.name is not None else None) == name:
            return block
    return None


def _block_edits(target: n.Block, override: n.Block, policy_text: str,
                 test_text: str) -> list[_Edit]:
    edits: list[_Edit] = []
    nested = [e for e in target.entries if isinstance(e, n.Block)]
    for entry in override.entries:
        if isinstance(entry, n.Attribute):
            current = next((e for e in target.entries if isinstance(e, n.Attribute)
                            and e.name.name == entry.name.name), None)
            if current is not None:
                edits.append(_Edit(current.value.span.start, current.value.span.end, len(edits),
                                   _source(test_text, entry.value)))
                continue
        elif isinstance(entry, n.Block):
            inner = _matching(nested, entry)
            if inner is not None:
                edits.extend(_block_edits(inner, entry, policy_text, test_text))
                continue
        edits.append(_added(target, policy_text, _source(test_text, entry), len(edits)))
    return edits


def _added(target: n.Block, policy_text: str, entry_text: str, order: int) -> _Edit:
    """`entry_text` on a line of its own before the block's closing brace (after `; ` where
    the brace closes a block written on one line)."""
    closing = target.span.end - 1
    assert policy_text[closing] == "}", "a block's span ends at its closing brace"
    line_start = policy_text.rfind("\n", 0, closing) + 1
    if policy_text[line_start:closing].strip():  # `gpu { count = 1 }`
        return _Edit(closing, closing, order, f"; {entry_text} ")
    block_line = policy_text.rfind("\n", 0, target.span.start) + 1
    indent = policy_text[block_line:target.span.start]
    indent = indent if not indent.strip() else ""
    return _Edit(line_start, line_start, order, f"{indent}  {entry_text}\n")


def _source(text: str, node: object) -> str:
    span = node.span  # type: ignore[attr-defined]  # every node has one
    return text[span.start:span.end]


def _missing(blocks: list[n.Block], override: n.Block, policy_path: str,
             test_path: str) -> Diagnostic:
    kind = override.kind.name
    name = override.name.name if override.name is not None else ""
    names = [b.name.name for b in blocks if b.kind.name == kind and b.name is not None]
    shown = f"{kind} {name}".strip()
    return msg.OverrideTargetMissing(policy=policy_path, block=shown,
                                     hint=hint(did_you_mean(name, names) if name else None)
                                     ).diagnostic(test_path, override.kind.span)
