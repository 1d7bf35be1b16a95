"""What is wrong in a JSON or text file fitc reads beside a policy (a placement or plan for
`fitc verify`, what runs now for `fitc plan --current`), and where in that file.

A reader says where as data: the JSON path of the wrong value (`('assignments', 3, 'node')`)
or the line and column of the text (a JSON syntax error, a line of `squeue`'s text). Where the
diagnostic goes to the file itself, `span_in` finds that place in the file's text, so the
caret stands under the value that is wrong rather than under the file's first character.

The JSON is not parsed again by hand for this: a JSON document is YAML, and PyYAML's composer
(libyaml, already a dependency) gives every node its line and column. It runs only when a file
has a problem, and not on files past `LOCATED_BYTES` (the caret then stays on the first
character; the message still names the path).
"""

from __future__ import annotations

from typing import Any

from fitlang.frozen import Frozen
from fitlang.span import Span

JsonPath = tuple[str | int, ...]

LOCATED_BYTES = 8_000_000  # composing nodes for a larger file costs seconds: not for a caret


class FileProblem(Frozen):
    """One thing wrong in a file: the message, and where (`at`: the wrong value's JSON path;
    or `line` and `column`, 1-based, in the text; neither: the file as a whole)."""

    text: str
    at: JsonPath | None = None
    line: int | None = None
    column: int = 1

    def __str__(self) -> str:
        return self.text

    def of_file(self, source: str) -> FileProblem:
        """The same problem, its message naming the file (`source: ...`)."""
        return FileProblem(f"{source}: {self.text}", self.at, self.line, self.column)


def span_in(text: str, problem: FileProblem) -> Span | None:
    """Where `problem` is in `text`, on one line (a value that spans lines: its first
    character); None when it says no place or the place cannot be found."""
    if problem.line is not None:
        lines = text.split("\n")
        if not 1 <= problem.line <= len(lines):
            return None
        column = max(1, min(problem.column, len(lines[problem.line - 1]) + 1))
        return Span(problem.line, column, problem.line, column + 1)
    if problem.at is None or len(text) > LOCATED_BYTES:
        return None
    node = _node_at(text, problem.at)
    if node is None:
        return None
    start, end = node.start_mark, node.end_mark
    end_column = end.column + 1 if end.line == start.line else start.column + 2
    return Span(start.line + 1, start.column + 1, start.line + 1, end_column)


def _node_at(text: str, path: JsonPath) -> Any:  # a yaml.Node or None (yaml imported lazily)
    """The node of the deepest part of `path` the document has: a missing key's object, an
    index past a list's end its list."""
    import yaml

    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (yaml.YAMLError, RecursionError, ValueError):
        return None
    for part in path:
        inner = _child(node, part)
        if inner is None:
            break
        node = inner
    return node


def _child(node: Any, part: str | int) -> Any:
    import yaml

    if isinstance(node, yaml.MappingNode) and isinstance(part, str):
        return next((value for key, value in node.value if key.value == part), None)
    if isinstance(node, yaml.SequenceNode) and isinstance(part, int) and 0 <= part < len(node.value):
        return node.value[part]
    return None
