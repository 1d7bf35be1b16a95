"""Finding, reading and parsing files, and following their imports.

A `Workspace` parses each file once. Editors hand it the text of unsaved
buffers (`overlay`), so that the language server checks what is on screen.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from fitlang import messages as msg
from fitlang.diagnostics import Diagnostic, did_you_mean, hint
from fitlang.resources import stdlib_dir
from fitlang.syntax.nodes import ImportDecl
from fitlang.syntax.parser import ParseResult, parse_source

STDLIB_PREFIX = "std/"


@dataclass
class SourceModule:
    path: str  # as shown in diagnostics
    resolved: Path
    text: str
    parsed: ParseResult
    imports: list[tuple[ImportDecl, SourceModule | None]] = field(default_factory=list)

    @property
    def decls(self) -> list:
        return self.parsed.module.decls


@functools.cache
def _stdlib_declarations() -> dict[tuple[str, str], str]:
    """(kind, name) -> the stdlib module that declares it (`std/accelerators`)."""
    found: dict[tuple[str, str], str] = {}
    for path in sorted(stdlib_dir().glob("*.fit")):
        text = path.read_text(encoding="utf-8", errors="replace")
        for kind, name in re.findall(r"(?m)^(\w+)[ \t]+(\w+)[ \t]*\{", text):
            found.setdefault((kind, name), STDLIB_PREFIX + path.stem)
    return found


def stdlib_home(kind: str, name: str) -> str | None:
    """Which `import "std/..."` would define `name` as a `kind`, if any does."""
    return _stdlib_declarations().get((kind, name))


def display_path(path: Path, project_root: Path | None = None) -> str:
    """Paths below the project root (by default the working directory) are shown relative
    to it, as users typed them; others in full."""
    try:
        relative = os.path.relpath(path, project_root)
    except ValueError:
        return str(path)
    return str(path) if relative.startswith("..") else relative


@dataclass
class Workspace:
    overlay: dict[Path, str | bytes] = field(default_factory=dict)  # bytes: standard input
    modules: dict[Path, SourceModule] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    project_root: Path | None = None  # paths are shown relative to it (None: the working directory)

    def shown(self, resolved: Path) -> str:
        return display_path(resolved, self.project_root)

    def load(self, path: Path, shown_as: str | None = None) -> SourceModule:
        """Load a root file and everything it imports. The file must exist (the CLI checks)."""
        resolved = path.resolve()
        module = self.modules.get(resolved)
        if module is None:
            module = self._read(resolved, shown_as or self.shown(resolved))
            self._follow_imports(module, [resolved])
        return module

    def _read(self, resolved: Path, shown: str) -> SourceModule:
        if resolved in self.overlay:
            data: bytes | str = self.overlay[resolved]
        else:
            data = resolved.read_bytes()
        parsed = parse_source(data, shown)
        text = data if isinstance(data, str) else data.decode("utf-8", errors="replace")
        module = SourceModule(shown, resolved, text, parsed)
        self.modules[resolved] = module
        self.diagnostics.extend(parsed.diagnostics)
        return module

    def _follow_imports(self, module: SourceModule, chain: list[Path]) -> None:
        for decl in module.decls:
            if not isinstance(decl, ImportDecl):
                continue
            target = self._resolve(decl, module)
            if target is None:
                module.imports.append((decl, None))
                continue
            if target in chain:
                names = [self.shown(p) for p in chain[chain.index(target):]] + [self.shown(target)]
                self.diagnostics.append(
                    msg.ImportCycle(cycle=" -> ".join(names)).diagnostic(module.path, decl.path.span)
                )
                module.imports.append((decl, None))
                continue
            imported = self.modules.get(target)
            if imported is None:
                imported = self._read(target, self.shown(target))
                self._follow_imports(imported, chain + [target])
            module.imports.append((decl, imported))

    def _resolve(self, decl: ImportDecl, module: SourceModule) -> Path | None:
        spec = decl.path.value
        if spec.startswith(STDLIB_PREFIX):
            candidate = stdlib_dir() / (spec[len(STDLIB_PREFIX):] + ".fit")
            known = [STDLIB_PREFIX + p.stem for p in stdlib_dir().glob("*.fit")]
        else:
            candidate = module.resolved.parent / spec
            known = [f"./{p.name}" for p in module.resolved.parent.glob("*.fit")]
            known += [STDLIB_PREFIX + p.stem for p in stdlib_dir().glob("*.fit")]
        candidate = candidate.resolve()
        if candidate in self.overlay or candidate.is_file():
            try:
                if candidate not in self.overlay:
                    candidate.read_bytes()
                return candidate
            except OSError:
                pass
        self.diagnostics.append(
            msg.ImportNotFound(module=spec, hint=hint(did_you_mean(spec, known))).diagnostic(
                module.path, decl.path.span
            )
        )
        return None

    def reachable(self, root: SourceModule) -> list[SourceModule]:
        """The root and every module it imports, transitively, each once, in load order."""
        seen: dict[Path, SourceModule] = {}
        stack = [root]
        while stack:
            module = stack.pop()
            if module.resolved in seen:
                continue
            seen[module.resolved] = module
            stack.extend(m for _, m in reversed(module.imports) if m is not None)
        return list(seen.values())
