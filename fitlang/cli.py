"""`fitc`, the command line. Exit codes: 0 fine, 1 the input has errors, 2 usage, 3 internal."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Callable, Sequence

from fitlang import __version__
from fitlang.diagnostics import Diagnostic
from fitlang.render import FORMATS, exit_code, render

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class UsageError(Exception):
    """Bad arguments or unreadable input paths: exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse exits 2 too; keep one message style
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fitc", description="Compile fit placement policies.")
    parser.add_argument("--version", action="version", version=f"fitc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    check = commands.add_parser("check", help="parse and check .fit files")
    check.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    _diagnostic_options(check)
    check.set_defaults(run=_run_check)

    fmt = commands.add_parser("fmt", help="format .fit files in place")
    fmt.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    fmt.add_argument("--check", action="store_true", help="only report files that would change")
    _diagnostic_options(fmt)
    fmt.set_defaults(run=_run_fmt)
    return parser


def _diagnostic_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--format", choices=FORMATS, default="human",
                         help="how to print diagnostics (default: human)")
    command.add_argument("--fail-level", choices=("error", "warning"), default="error",
                         help="lowest severity that fails the run (default: error)")


def main(argv: Sequence[str] | None = None) -> int:
    try:
        arguments = build_parser().parse_args(argv)
        return arguments.run(arguments)
    except UsageError as error:
        print(f"fitc: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130
    except SystemExit as done:  # --version, --help
        return int(done.code or 0)
    except Exception as error:  # one line, never a traceback
        print(f"fitc: internal error: {type(error).__name__}: {error}; please report it",
              file=sys.stderr)
        return EXIT_INTERNAL


# ---- inputs -----------------------------------------------------------


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Files as given; directories become every `*.fit` below them, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files.extend(sorted(p for p in path.rglob("*.fit") if p.is_file()))
        elif path.is_file():
            if not os.access(path, os.R_OK):
                raise UsageError(f"cannot read {raw}: permission denied")
            files.append(path)
        else:
            raise UsageError(f"cannot read {raw}: no such file or directory")
    return files


def _source_reader(extra: dict[str, str] | None = None) -> Callable[[str], str | None]:
    cache: dict[str, str | None] = dict(extra or {})

    def read(path: str) -> str | None:
        if path not in cache:
            try:
                cache[path] = Path(path).read_bytes().decode("utf-8", errors="replace")
            except OSError:
                cache[path] = None
        return cache[path]

    return read


def emit(diagnostics: list[Diagnostic], fmt: str, sources: Callable[[str], str | None]) -> None:
    if diagnostics or fmt in ("json", "sarif"):
        output = render(diagnostics, fmt, sources)
        stream = sys.stdout if fmt in ("json", "sarif", "github") else sys.stderr
        stream.write(output)


# ---- commands ---------------------------------------------------------


def _run_check(arguments: argparse.Namespace) -> int:
    from fitlang.check.checker import check_file
    from fitlang.check.loader import Workspace

    workspace = Workspace()
    diagnostics: dict[tuple, Diagnostic] = {}
    for path in expand_paths(arguments.paths):
        result = check_file(path, workspace)
        for diagnostic in result.diagnostics:
            diagnostics.setdefault((diagnostic.sort_key(), diagnostic.code), diagnostic)
    ordered = [diagnostics[key] for key in sorted(diagnostics)]
    sources = {m.path: m.text for m in workspace.modules.values()}
    emit(ordered, arguments.format, _source_reader(sources))
    return exit_code(ordered, arguments.fail_level)


def _run_fmt(arguments: argparse.Namespace) -> int:
    from fitlang.syntax.formatter import FormatError, format_source

    all_diagnostics: list[Diagnostic] = []
    sources: dict[str, str] = {}
    changed: list[Path] = []
    for path in expand_paths(arguments.paths):
        data = path.read_bytes()
        try:
            result = format_source(data, str(path))
        except FormatError as error:
            raise RuntimeError(str(error)) from error
        if result.diagnostics:
            all_diagnostics.extend(result.diagnostics)
            sources[str(path)] = data.decode("utf-8", errors="replace")
            continue
        if result.text.encode("utf-8") != data:
            changed.append(path)
            if not arguments.check:
                write_atomically(path, result.text.encode("utf-8"))
    emit(all_diagnostics, arguments.format, _source_reader(sources))
    verb = "would reformat" if arguments.check else "reformatted"
    for path in changed:
        print(f"{verb} {path}", file=sys.stderr)
    if all_diagnostics:
        return EXIT_ERRORS
    return EXIT_ERRORS if arguments.check and changed else EXIT_OK


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file."""
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise


if __name__ == "__main__":
    sys.exit(main())
