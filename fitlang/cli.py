"""`fitc`, the command line. Exit codes: 0 fine, 1 the input has errors, 2 usage, 3 internal."""

from __future__ import annotations

if __name__ == "__main__":  # `python -m fitlang.cli`: Ctrl-C while importing (launch.py)
    from fitlang.launch import exit_on_ctrl_c_at_start

    exit_on_ctrl_c_at_start()

import argparse
import contextlib
import gc
import os
import stat
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from fitlang import __version__
from fitlang.diagnostics import Diagnostic, unique_sorted
from fitlang.errors import UsageError
from fitlang.file_problems import FileProblem, span_in
from fitlang.launch import EXIT_INTERRUPTED
from fitlang.outputs import write_atomically
from fitlang.render import FORMATS, exit_code, render
from fitlang.span import FIRST_CHARACTER, Span

if TYPE_CHECKING:  # the driver, the checker and the solver are imported when a command runs
    from fitlang.check.loader import Workspace
    from fitlang.documents_read import PlacementRead
    from fitlang.driver import Compilation
    from fitlang.model.problem import Problem

EXIT_OK, EXIT_ERRORS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3
DEFAULT_TIME_LIMIT = 60.0  # seconds of search in `solve` and `compile`
# what a default limit counts (`solve.clock.CpuClock`), for --help
CPU_DEFAULT = "CPU time, fitc's own and its children's: the same answer at any load"
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, as shells report a reader that went away


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # argparse exits 2 too; keep one message style
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="fitc", description="Compile fit placement policies.")
    parser.add_argument("--version", action="version", version=f"fitc {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    _add_check_and_fmt(commands)
    _add_solve(commands)
    _add_compile(commands)
    _add_explain(commands)
    _add_verify(commands)
    _add_the_others(commands)
    _document(commands)
    return parser


def _add_check_and_fmt(commands) -> None:
    """`fitc check` and `fitc fmt`: files or directories of .fit files."""
    check = commands.add_parser("check", help="parse and check .fit files")
    check.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    check.add_argument("--target", action="append", default=[], dest="targets",
                       choices=("kubernetes", "slurm", "terraform"),
                       help="check the settings this target reads, as `compile --target` "
                            "refuses them (beside the targets whose block the policy states)")
    _diagnostic_options(check)
    check.set_defaults(run=_without_collector(_run_check))

    fmt = commands.add_parser("fmt", help="format .fit files in place")
    fmt.add_argument("paths", nargs="+", metavar="PATH", help="files or directories")
    fmt.add_argument("--check", action="store_true", help="only report files that would change")
    fmt.add_argument("--diff", action="store_true", help="print what would change, change nothing")
    _diagnostic_options(fmt)
    fmt.set_defaults(run=_run_fmt)


def _add_solve(commands) -> None:
    """`fitc solve`: where everything runs, with its bound and gap."""
    solve = commands.add_parser("solve", help="find where everything runs")
    solve.add_argument("file", metavar="FILE")
    solve.add_argument("--format", choices=("text", "json", "sarif", "github", "junit", "gitlab"),
                       default="text",
                       help="text for people (default), the placement as JSON (docs/formats.md), "
                            "or only the diagnostics in a CI format (sarif, github, junit, gitlab)")
    solve.add_argument("--time-limit", type=_positive_float, metavar="SECONDS",
                       help="stop searching after this long on the wall and answer with the best "
                            "placement found, its proven bound and gap (default: "
                            f"{DEFAULT_TIME_LIMIT:g} s of {CPU_DEFAULT})")
    solve.add_argument("--backend", choices=("auto", "highs", "z3"), default="auto",
                       help="optimiser: HiGHS (fleet scale) or Z3 (exact, small); default: by size")
    solve.add_argument("--all-nodes", action="store_true",
                       help="with --format json: list every node of the fleet, not only those "
                            "in use and bought")
    solve.add_argument("--plot", metavar="FILE",
                       help="with a horizon: draw the nodes in use, the power drawn and the "
                            "prices over time to FILE (.svg or .png; needs matplotlib: "
                            'pip install "fitlang[plot]")')
    solve.set_defaults(run=_run_solve, default_time_limit=DEFAULT_TIME_LIMIT)


def _add_compile(commands) -> None:
    """`fitc compile`: the files that run the placement."""
    compile_ = commands.add_parser("compile", help="write what runs the placement")
    compile_.add_argument("file", metavar="FILE")
    compile_.add_argument("--target", action="append", required=True,
                          choices=("kubernetes", "slurm", "terraform"), dest="targets")
    compile_.add_argument("--out", required=True, metavar="DIR")
    compile_.add_argument("--force", action="store_true")
    compile_.add_argument("--check", action="store_true",
                          help="write nothing; exit 1 with a unified diff when DIR is not what "
                               "compile would write now (0 when it is)")
    compile_.add_argument("--time-limit", type=_positive_float, metavar="SECONDS",
                          help="for the solve, as `fitc solve` (on the wall; default: "
                               f"{DEFAULT_TIME_LIMIT:g} s of {CPU_DEFAULT})")
    compile_.add_argument("--current", metavar="STATE",
                          help="what runs now: write the placement `fitc plan` reaches from it")
    compile_.set_defaults(run=_run_compile, default_time_limit=DEFAULT_TIME_LIMIT)


def _add_explain(commands) -> None:
    """`fitc explain`: why no placement exists, or what binds a plan."""
    explain = commands.add_parser(
        "explain", help="why no placement exists, and repairs; with --current, what binds the plan")
    explain.add_argument("file", metavar="FILE")
    explain.add_argument("--time-limit", type=_positive_float, metavar="SECONDS",
                         help=f"to decide and find the conflict, on the wall (default: 30 s of "
                              f"{CPU_DEFAULT})")
    explain.add_argument("--repair-budget", type=_non_negative_float, metavar="SECONDS",
                         help="to find and check repairs, after the conflict (default: 10; "
                              "0: name the conflict, search no repairs)")
    explain.add_argument("--current", metavar="STATE",
                         help="what runs now: say why the plan from it reaches no cheaper "
                              "placement (the limit that binds, and what lifting it saves), as "
                              "`fitc plan --explain`")
    _diagnostic_options(explain)
    explain.set_defaults(run=_run_explain)


def _add_verify(commands) -> None:
    """`fitc verify`: a placement or a plan re-checked without the solver."""
    verify = commands.add_parser("verify", help="re-check a placement or a plan without the solver")
    verify.add_argument("file", metavar="FILE")
    verify.add_argument("placement", metavar="PLACEMENT.json",
                        help="a placement (`fitc solve --format json`) or a plan "
                             "(`fitc plan --format json`)")
    verify.add_argument("--current", metavar="STATE",
                        help="what runs now (default: the policy's `current` blocks): for a plan, "
                             "the state it starts from; pods and jobs of no workload take room")
    # not `choices`: listing the targets would import them on every command (0.7 s)
    verify.add_argument("--target", metavar="TARGET",
                        help="also check that the files in --out realise the placement "
                             "(kubernetes, slurm, terraform)")
    verify.add_argument("--out", metavar="DIR", help="what `fitc compile --target` wrote")
    _diagnostic_options(verify)
    verify.set_defaults(run=_without_collector(_run_verify))


def _add_the_others(commands) -> None:
    """`fitc stdlib`, `test`, `diff`, `plan` and `lsp` (the last four from their own modules)."""
    stdlib = commands.add_parser("stdlib", help="list what the standard library declares")
    stdlib.add_argument("section", nargs="?", choices=("models", "offers", "regions"),
                        help="only accelerator models, offers, or regions and locations")
    stdlib.set_defaults(run=_run_stdlib)
    from fitlang.testing.command import add_parser as add_test

    add_test(commands)  # `fitc test`: fitlang/testing/command.py
    from fitlang.diff import add_parser as add_diff

    add_diff(commands)  # `fitc diff`: fitlang/diff.py
    from fitlang.plan import add_parser as add_plan

    add_plan(commands)  # `fitc plan`: fitlang/plan.py
    from fitlang.lsp import run as run_lsp  # light: the server is imported when it runs
    lsp = commands.add_parser("lsp", help="the language server on stdio")
    lsp.set_defaults(run=run_lsp)


EXIT_CODES = """exit codes:
  0    success (warnings do not fail unless --fail-level warning)
  1    the input has errors, or no placement exists
  2    usage error: bad arguments, unreadable or refused paths
  3    internal error (please report it)
  130  interrupted (Ctrl-C); nothing is left half-written"""

DIFF_EXIT_CODES = """exit codes (as `terraform plan -detailed-exitcode`):
  0    the placement is the same
  1    errors: a policy does not check, a file or revision is missing (bad flags: 2)
  2    the placement changes
  3    internal error (please report it)"""

PLAN_EXIT_CODES = """exit codes (as `terraform plan -detailed-exitcode`):
  0    nothing to do (or the current placement is kept: within min_saving)
  1    errors: the policy or the state does not read, no placement or no safe order of moves,
       an --out that is not fitc's to write
  2    changes to make (and usage errors, before anything is read: --target without --out)
  3    internal error (please report it)"""

EXAMPLES = {
    "check": ("fitc check policy.fit", "fitc check --format sarif --fail-level warning policies/"),
    "fmt": ("fitc fmt policies/", "fitc fmt --diff - < policy.fit"),
    "solve": ("fitc solve policy.fit", "fitc solve policy.fit --format json > placement.json"),
    "compile": ("fitc compile policy.fit --target kubernetes --out deploy/",
                "fitc compile policy.fit --current pods.json --target kubernetes --out deploy/"),
    "explain": ("fitc explain policy.fit", "fitc explain policy.fit --current pods.json"),
    "verify": ("fitc verify policy.fit placement.json",
               "fitc verify --format github policy.fit placement.json"),
    "diff": ("fitc diff old.fit new.fit", "fitc diff --rev origin/main policy.fit --format json"),
    "plan": ("fitc plan policy.fit --current placement.json",
             "fitc plan policy.fit --current pods.json --target kubernetes --out waves/"),
    "test": ("fitc test", "fitc test policies/ --run budget --format junit > report.xml"),
    "lsp": ("fitc lsp", "nvim: vim.lsp.start({cmd = {'fitc', 'lsp'}})"),
    "stdlib": ("fitc stdlib", "fitc stdlib offers | grep H100"),
}

OPTION_HELP = {
    "file": "the policy's root .fit file (`-`: read it from standard input)",
    "paths": "files or directories (every .fit file below); `-`: standard input",
    "placement": "a placement as `fitc solve --format json` prints it",
    "time_limit": "stop the solver after SECONDS and use the best placement found",
    "targets": "what to write: kubernetes, slurm or terraform (repeat for several, each in "
               "its own subdirectory)",
    "out": "the output directory; fitc keeps a manifest (.fitc-output) of the files it wrote "
           "and replaces only those",
    "force": "write into DIR even if it is a file or a non-empty directory fitc did not write "
             "(files of other names are kept)",
}


def _document(commands) -> None:
    """Every subcommand: its options explained, the exit codes, two examples, and --color."""
    for name, command in commands.choices.items():
        command.formatter_class = argparse.RawDescriptionHelpFormatter
        first, second = EXAMPLES.get(name, ("", ""))
        codes = {"diff": DIFF_EXIT_CODES, "plan": PLAN_EXIT_CODES}.get(name, EXIT_CODES)
        command.epilog = f"{codes}\n\nexamples:\n  {first}\n  {second}"
        for action in command._actions:
            if action.help is None and action.dest in OPTION_HELP:
                action.help = OPTION_HELP[action.dest]
            elif action.help is None and action.dest == "format":
                action.help = "text for people (default) or the JSON contract of docs/formats.md"
        command.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                             help="colour diagnostics: auto (on a terminal, unless NO_COLOR is "
                                  "set), always, never")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("must be greater than 0")
    return value


def _non_negative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _diagnostic_options(command: argparse.ArgumentParser) -> None:
    command.add_argument("--format", choices=FORMATS, default="human",
                         help="how to print diagnostics (default: human)")
    command.add_argument("--fail-level", choices=("error", "warning"), default="error",
                         help="lowest severity that fails the run (default: error)")


def tune_collector() -> None:
    """fitc allocates many small objects that live to the end of the run; the default collector
    thresholds re-scan them thousands of times (measured: +60% on a 10,000-line check). The
    benchmarks that time a command in process set it as the command does."""
    gc.freeze()
    gc.set_threshold(200_000, 50, 1000)


def _without_collector(run: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """`run` with the cyclic collector off until it returns (then as it was): for the commands
    that read a policy (and a placement), check and report. What they make lives to their end
    and holds no cycles to free, and each collection walked all of it that was new: at 50,000
    nodes `fitc verify` ran one after the parse (0.15 CPU s), one in the build (0.06) and three
    more (0.05), ~9% of the command."""
    def paused(arguments: argparse.Namespace) -> int:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return run(arguments)
        finally:
            if was_enabled:
                gc.enable()
    return paused


def main(argv: Sequence[str] | None = None, started: float | None = None,
         process_start: bool = False) -> int:
    """`started`: when the command began, in `time.monotonic()` seconds (`entry`: when the
    process did); by default now. --time-limit counts from there; a default limit counts the
    CPU from the process's start with `process_start` (`entry`), else from now."""
    tune_collector()
    global _STARTED
    _STARTED = time.monotonic() if started is None else started
    try:
        parser = build_parser()
        arguments, extra = parser.parse_known_args(argv)
        if extra:  # the subcommand's own usage, not fitc's
            _subcommand(parser, arguments.command).error(
                f"unrecognized arguments: {' '.join(extra)}")
        _use_color(getattr(arguments, "color", "auto"))
        with _limit_counted(arguments, process_start):
            code = arguments.run(arguments)
        if not sys.stdout.closed:  # the language server closes it on `exit`
            sys.stdout.flush()  # a reader that went away shows here, inside the handlers below
        return code
    except UsageError as error:
        print(f"fitc: error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:  # outputs are written atomically: nothing is left half-written
        _ignore_interrupts()  # a solver thread can deliver the same Ctrl-C once more
        print("fitc: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `fitc solve a.fit | head -1`: the reader has gone, as with any tool
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except SystemExit as done:  # --version, --help
        return int(done.code or 0)
    except Exception as error:  # one line, never a traceback
        print(f"fitc: internal error: {type(error).__name__}: {error}; please report it",
              file=sys.stderr)
        return EXIT_INTERNAL


def _subcommand(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return action.choices[name]
    return parser


_COLOR = {"enabled": False}


def _use_color(choice: str) -> None:
    """Colour on a terminal only, unless NO_COLOR is set (no-color.org) or --color decides."""
    if choice == "auto":
        _COLOR["enabled"] = sys.stderr.isatty() and not os.environ.get("NO_COLOR")
    else:
        _COLOR["enabled"] = choice == "always"


def _stop_at_once_on_ctrl_c() -> None:
    """Ctrl-C ends fitc at once with 130, even inside a solver's native code: Python's own
    handler only runs between bytecodes, and a KeyboardInterrupt can land in a solver object's
    `__del__`, where Python prints it and carries on. A thread woken by the signal (through
    Python's wakeup fd) stops the process; it waits while renames make a write visible
    (`outputs.RENAMING`), and what was staged is removed. Nothing is half-written."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        return  # tests calling main() from a thread: Python's default
    reader, writer = os.pipe()
    os.set_blocking(writer, False)
    signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
    signal.signal(signal.SIGINT, lambda number, frame: _stop())
    threading.Thread(target=_watch, args=(reader, signal.SIGINT), daemon=True,
                     name="fitc-ctrl-c").start()


def _watch(reader: int, number: int) -> None:
    while True:
        try:
            received = os.read(reader, 64)
        except OSError:
            return
        if number in received:
            _stop()


def _stop() -> None:
    from fitlang.outputs import RENAMING, remove_staging

    with RENAMING:  # renames under way finish first; then nothing more happens
        remove_staging()
        os.write(2, b"fitc: interrupted\n")
        os._exit(EXIT_INTERRUPTED)


def _ignore_interrupts() -> None:
    import signal

    with contextlib.suppress(ValueError):  # not the main thread (tests calling main())
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so that the interpreter's own flush at exit fails no more."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


# ---- inputs -----------------------------------------------------------


STDIN = "-"  # the policy on standard input
STDIN_SHOWN = "<stdin>"


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Files as given; directories become every `*.fit` below them, sorted."""
    files: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.fit") if p.is_file())
            if not found:
                raise UsageError(f"found no .fit files in {raw}")
            files.extend(found)
        else:
            files.append(regular_file(raw))
    return files


def regular_file(raw: str, what: str = "a .fit file") -> Path:
    """`raw` if it names a readable regular file; a usage error otherwise (a directory, a FIFO
    that would block, a device)."""
    path = Path(raw)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise UsageError(f"cannot read {raw}: no such file or directory") from None
    if stat.S_ISDIR(mode):
        raise UsageError(f"{raw} is a directory; expected {what}")
    if not stat.S_ISREG(mode):
        raise UsageError(f"cannot read {raw}: not a regular file (a pipe, device or socket); "
                         f"expected {what}" + ("" if what != "a .fit file" else
                                               " (`-` reads the policy from standard input)"))
    if not os.access(path, os.R_OK):
        raise UsageError(f"cannot read {raw}: permission denied")
    return path


def _stdin_bytes() -> bytes:
    return sys.stdin.buffer.read()


def compilation_of(raw: str, workspace: Workspace | None = None,
                   current: str | None = None, targets: Sequence[str] = ()) -> Compilation:
    """The compilation of a policy's root file: a file, or `-` for standard input (its
    imports are then relative to the working directory); `current`: what runs now;
    `targets`: whose settings `check` checks beside those the policy names."""
    from fitlang.driver import Compilation

    if raw != STDIN:
        return Compilation(regular_file(raw), workspace=workspace, current=current, targets=targets)
    path = Path.cwd() / STDIN_SHOWN
    return Compilation(path, {path: _stdin_bytes()}, shown_as=STDIN_SHOWN, workspace=workspace,
                       current=current, targets=targets)


def _source_reader(extra: dict[str, str] | None = None) -> Callable[[str], str | None]:
    """Display path -> text, for showing source lines (`fmt`, whose files are not compiled)."""
    texts = dict(extra or {})
    return texts.get


def emit(diagnostics: list[Diagnostic], fmt: str, sources: Callable[[str], str | None]) -> None:
    if diagnostics or fmt in ("json", "sarif", "junit", "gitlab"):  # documents, even when empty
        output = render(diagnostics, fmt, sources, color=_COLOR["enabled"])
        stream = sys.stderr if fmt == "human" else sys.stdout
        stream.write(output)


# ---- commands ---------------------------------------------------------


def _run_check(arguments: argparse.Namespace) -> int:
    from fitlang.check.loader import Workspace
    from fitlang.driver import Compilation

    workspace = Workspace()  # shared: a file imported by several roots is read once
    found: list[Diagnostic] = []
    tests = [p for p in arguments.paths if p != STDIN and _is_test_file(Path(p))]
    compilations = _check_roots([p for p in arguments.paths if p not in tests], workspace,
                                arguments.targets)
    compilations, found_tests = ([c for c in compilations if not _is_test_file(c.root)],
                                 [c for c in compilations if _is_test_file(c.root)])
    for compilation in compilations:  # every root loaded before any is told apart as imported
        compilation.check()
    imported = {m.resolved for module in workspace.modules.values()
                for _, m in module.imports if m is not None}
    for compilation in compilations:
        result = compilation.check()
        found.extend(result.diagnostics)
        # files that another checked file imports are not roots: their partial view would
        # warn falsely
        if not result.has_errors and result.root.resolved not in imported:
            found.extend(compilation.rule_warnings())
    found.extend(_test_file_diagnostics(tests, found_tests))
    ordered = unique_sorted(found)
    emit(ordered, arguments.format, Compilation(Path(), workspace=workspace).sources())
    return exit_code(ordered, arguments.fail_level)


def _is_test_file(path: Path) -> bool:
    from fitlang.testing import is_test_file

    return is_test_file(path)


def _test_file_diagnostics(given: list[str], compilations: list[Compilation]) -> list[Diagnostic]:
    """Test files (`*_test.fit`, named or found in a directory) are checked as test files:
    their syntax and what their `test` blocks hold (`fitc test` runs them)."""
    paths = [regular_file(p) for p in given] + [c.root for c in compilations if _is_test_file(c.root)]
    if not paths:
        return []
    from fitlang.testing.suite import check_test_file

    return [diagnostic for path in paths for diagnostic in check_test_file(path)]


def _check_roots(paths: Sequence[str], workspace: Workspace,
                 targets: Sequence[str] = ()) -> list[Compilation]:
    if STDIN in paths and len(paths) > 1:
        raise UsageError("`-` (standard input) cannot be combined with other paths")
    from fitlang.driver import Compilation

    if paths == [STDIN]:
        return [compilation_of(STDIN, workspace, targets=targets)]
    return [Compilation(path, workspace=workspace, targets=targets) for path in expand_paths(paths)]


def _run_fmt(arguments: argparse.Namespace) -> int:
    from fitlang.syntax.formatter import FormatError, format_source

    if STDIN in arguments.paths:
        if len(arguments.paths) > 1:
            raise UsageError("`-` (standard input) cannot be combined with other paths")
        return _fmt_stdin(arguments)
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
            if arguments.diff:
                sys.stdout.write(_diff(str(path), result.text, data))
            if not (arguments.check or arguments.diff):
                write_atomically(path, result.text.encode("utf-8"))
    emit(all_diagnostics, arguments.format, _source_reader(sources))
    verb = "would reformat" if arguments.check or arguments.diff else "reformatted"
    for path in changed:
        print(f"{verb} {path}", file=sys.stderr)
    if all_diagnostics:
        return EXIT_ERRORS
    return EXIT_ERRORS if (arguments.check or arguments.diff) and changed else EXIT_OK


def _fmt_stdin(arguments: argparse.Namespace) -> int:
    """`fitc fmt -`: the formatted policy on standard output (or its diff, or a check)."""
    from fitlang.syntax.formatter import FormatError, format_source

    data = _stdin_bytes()
    try:
        result = format_source(data, STDIN_SHOWN)
    except FormatError as error:
        raise RuntimeError(str(error)) from error
    if result.diagnostics:
        text = data.decode("utf-8", errors="replace")
        emit(result.diagnostics, arguments.format, _source_reader({STDIN_SHOWN: text}))
        return EXIT_ERRORS
    changed = result.text.encode("utf-8") != data
    if arguments.diff:
        sys.stdout.write(_diff(STDIN_SHOWN, result.text, data))
    elif not arguments.check:
        sys.stdout.write(result.text)
    return EXIT_ERRORS if (arguments.check or arguments.diff) and changed else EXIT_OK


def _diff(name: str, formatted: str, original: bytes) -> str:
    import difflib

    before = original.decode("utf-8", errors="replace").splitlines(keepends=True)
    after = formatted.splitlines(keepends=True)
    lines = difflib.unified_diff(before, after, f"{name} (original)", f"{name} (formatted)")
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n"
                   for line in lines)


# ---- the placement commands -----------------------------------------------


@contextlib.contextmanager
def _limit_counted(arguments: argparse.Namespace, process_start: bool) -> Iterator[None]:
    """The clock the command's limit counts on: the wall where the user gave --time-limit (or
    --repair-budget: they want the answer by then); where the command's default decides, the
    CPU seconds of this process, and a stage in a child the child's (`clock.CpuClock`), so that the same input
    gives the same bytes at any load (session 47: fleet.py 600 seed 4 answered 444.13 to 450.66
    on 60 s of wall at load 31-43). `_STARTED` is then read on that clock."""
    global _STARTED
    given = getattr(arguments, "time_limit", 0.0), getattr(arguments, "repair_budget", None)
    if given[0] is not None or given[1] is not None:
        yield
        return
    from fitlang.driver import EXPLAIN_SECONDS
    from fitlang.solve.clock import counted_on_the_cpu
    from fitlang.solve.explain import REPAIR_SECONDS

    default = getattr(arguments, "default_time_limit", None)  # (explain: its own, left unset)
    if default is not None:
        arguments.time_limit = default
    with counted_on_the_cpu(default or EXPLAIN_SECONDS + REPAIR_SECONDS, _process_age()):
        _STARTED = 0.0 if process_start else time.monotonic()
        yield


def _problem_or_errors(file: str, fmt: str,
                       current: str | None = None) -> tuple[Compilation, Problem] | None:
    """Check and build the placement problem; on errors print them and return None.
    `current`: what runs now (`compile --current`)."""
    compilation = compilation_of(file, current=current)
    compilation.check()
    diagnostics = compilation.diagnostics()  # with the policy's `current` files' (E0801)
    if compilation.problem is not None and not any(d.is_error for d in diagnostics):
        return compilation, compilation.problem
    emit(diagnostics, "human" if fmt in ("text",) else fmt, compilation.sources())
    return None


_STARTED = time.monotonic()  # reset when `main` starts (`entry`: to the process's start)


def command_time_left(time_limit: float | None) -> float | None:
    """--time-limit bounds the whole command (reading, checking and building the model
    count too), so the solver gets what is left of it; never nothing, so that the greedy
    floor still runs. With no user limit (`work.counted`: the default, on the CPU) the whole
    default, whose end the clock keeps (`budget.Budget`): what is left of it after the start-up
    is another number on every machine (59.51 s on one 1.4 times as fast as this, 58.96 on one
    1.5 times as slow: inventory 1,000 seed 3), and the stages' counts of work are sized by it."""
    from fitlang.solve import work

    if time_limit is None:
        return None
    if work.counted():
        return time_limit
    return max(0.05 * time_limit, time_limit - (time.monotonic() - _STARTED))


def _limit_ends(time_limit: float | None) -> float | None:
    """When --time-limit runs out (`time.monotonic()`): the explanation of a proven conflict
    ends by then too, as every other stage of the command."""
    return None if time_limit is None else _STARTED + time_limit


def _run_solve(arguments: argparse.Namespace) -> int:
    from fitlang.solve.report import as_json, as_text

    plot = _plot_path(arguments.plot) if arguments.plot else None  # refused before solving
    loaded = _problem_or_errors(arguments.file, "human" if arguments.format == "text" else arguments.format)
    if loaded is None:
        return EXIT_ERRORS
    compilation, problem = loaded
    if plot is not None and problem.timeline is None:
        raise UsageError(f"--plot {arguments.plot}: the plot is of a placement in time, and "
                         f"{arguments.file} has no `horizon`")
    sources = compilation.sources()
    with _progress_line() as progress:
        placement = compilation.solve(arguments.backend, command_time_left(arguments.time_limit),
                                      progress)
    verdict = compilation.verdict(placement, arguments.time_limit,
                                  explain_ends=_limit_ends(arguments.time_limit))
    diagnostics = compilation.diagnostics() + verdict.diagnostics
    if plot is not None:
        from fitlang.solve.timeline_plot import write_plot

        write_plot(problem, placement, plot)
    if arguments.format == "json":  # the document the self-check read, where it read one
        checked = None if arguments.all_nodes else verdict.checked
        sys.stdout.write(checked.text(diagnostics) if checked is not None else
                         as_json(problem, placement, diagnostics, arguments.all_nodes))
    elif arguments.format != "text":  # a CI format: what the solve found to report, only
        emit(diagnostics, arguments.format, sources)
    else:
        from fitlang.solve.preferences import preference_outcomes

        sys.stdout.write(as_text(problem, placement))
        from fitlang.solve.savings import arm_saving

        outcomes = preference_outcomes(problem, placement) if placement.assignments else []
        if outcomes:
            sys.stdout.write("\npreferences:\n" + "".join(f"  {o.line()}\n" for o in outcomes))
        saving = arm_saving(problem, placement) if not placement.unplaced else None
        if saving is not None:
            sys.stdout.write(f"\narm64 nodes save {float(saving):.2f} {placement.unit} against the "
                             "best placement without them\n")
        emit(diagnostics, "human", sources)
    if any(d.is_error for d in diagnostics):
        return EXIT_ERRORS
    return EXIT_OK if placement.status in ("optimal", "feasible") else EXIT_ERRORS


def _plot_path(raw: str) -> Path:
    """Where `--plot` writes, checked before the solve: a known format, matplotlib installed,
    a directory to write into."""
    from fitlang.solve.timeline_plot import plot_format, require_matplotlib

    plot_format(raw)
    require_matplotlib()
    path = Path(raw)
    if not path.parent.resolve().is_dir():
        raise UsageError(f"--plot {raw}: no such directory {path.parent}")
    return path


@contextlib.contextmanager
def _progress_line():
    """On a terminal only: after a second, one line on stderr, rewritten in place, with the
    stage, the time so far, and the best cost and gap found; erased when the solve ends."""
    if not sys.stderr.isatty():
        yield None
        return
    import threading
    import time

    started = time.monotonic()
    state = {"stage": "start", "value": None, "bound": None}
    done = threading.Event()

    def show() -> None:
        line = f"fitc: {state['stage']} {time.monotonic() - started:.1f} s"
        value, bound = state["value"], state["bound"]
        if value is not None:
            line += f", best {float(value):,.2f}"
            if bound is not None and value:
                line += f", gap {max(0.0, float((value - bound) / value)):.2%}"
        sys.stderr.write(f"\r\x1b[K{line}")
        sys.stderr.flush()

    def update(stage: str, value, bound) -> None:
        state["stage"] = stage
        if value is not None and (state["value"] is None or value < state["value"]):
            state["value"] = value
        if bound is not None:
            state["bound"] = bound
        if time.monotonic() - started > 1.0:
            show()

    def tick() -> None:
        while not done.wait(0.5):
            if time.monotonic() - started > 1.0:
                show()

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield update
    finally:
        done.set()
        ticker.join()
        if time.monotonic() - started > 1.0:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _run_compile(arguments: argparse.Namespace) -> int:
    from fitlang.outputs import OutputRefused, write_tree

    loaded = _problem_or_errors(arguments.file, "human", current=arguments.current)
    if loaded is None:
        return EXIT_ERRORS
    compilation, _ = loaded
    sources, diagnostics = compilation.sources(), compilation.diagnostics()
    compiled = compilation.compile(arguments.targets, arguments.time_limit,
                                   command_time_left(arguments.time_limit), _limit_ends(arguments.time_limit))
    verdict = compiled.verdict
    if not compiled.ok:
        emit(diagnostics + (compiled.diagnostics or verdict.diagnostics), "human", sources)
        return EXIT_ERRORS
    diagnostics += compiled.diagnostics
    for target, count in compiled.written_by.items():
        if not count:
            print(f"{target}: nothing to write", file=sys.stderr)
    if arguments.check:
        return _drift(Path(arguments.out), compiled.files, diagnostics + verdict.diagnostics, sources)
    if compiled.files:
        try:
            write_tree(arguments.out, compiled.files, force=arguments.force)
        except OutputRefused as refused:
            emit(diagnostics, "human", sources)
            raise UsageError(str(refused)) from None
    emit(diagnostics + verdict.diagnostics, "human", sources)
    counts = [f"{target} {n} file{'s' if n != 1 else ''}" for target, n in compiled.written_by.items() if n]
    done = f"wrote {', '.join(counts)} to {arguments.out}" if compiled.files else "wrote no files"
    print(f"{done}; {_cost_summary(verdict.placement)}", file=sys.stderr)
    return EXIT_OK


def _drift(out: Path, written: dict[str, str], diagnostics: list[Diagnostic],
           sources: Callable[[str], str | None]) -> int:
    """`compile --check`: the diffs between DIR and what compile would write, on stdout."""
    from fitlang.drift import drift

    emit(diagnostics, "human", sources)
    diffs = drift(out, written)
    sys.stdout.write("".join(diffs))
    if diffs:
        differ = "1 file differs" if len(diffs) == 1 else f"{len(diffs)} files differ"
        print(f"fitc: {out} is not what `fitc compile` writes now: {differ}", file=sys.stderr)
        return EXIT_ERRORS
    return EXIT_OK


def _cost_summary(placement) -> str:
    if placement.value is None:
        return f"{placement.objective}: none"
    if placement.bound is None:  # (a short schedule in time states none: not a gap of 0)
        return f"{placement.objective} {float(placement.value):.2f} {placement.unit}, gap unknown".replace(
            " ,", ",")
    bound = placement.bound
    gap = 0.0 if placement.value == 0 else float((placement.value - bound) / abs(placement.value))
    return (f"{placement.objective} {float(placement.value):.2f} {placement.unit}, "
            f"gap {gap:.2%}").replace(" ,", ",")


def _run_stdlib(arguments: argparse.Namespace) -> int:
    from fitlang.stdlib_reference import reference

    sys.stdout.write(reference(arguments.section))
    return EXIT_OK


def _run_explain(arguments: argparse.Namespace) -> int:
    """The explanation is the output (stdout); the diagnostics go where they always go."""
    import json

    from fitlang.driver import EXPLAIN_SECONDS
    from fitlang.solve.explain import (
        ExplainOutcome,
        explanation_diagnostics,
        explanation_json,
        explanation_text,
    )

    if arguments.current is not None:  # issue 18: why the plan reaches no cheaper placement
        from fitlang.plan_explain import run_explain

        return run_explain(arguments, regular_file(arguments.file))
    loaded = _problem_or_errors(arguments.file, arguments.format)
    if loaded is None:
        return EXIT_ERRORS
    compilation, problem = loaded
    sources, diagnostics = compilation.sources(), compilation.diagnostics()
    limit = EXPLAIN_SECONDS if arguments.time_limit is None else arguments.time_limit
    explanation = compilation.explain(limit, arguments.repair_budget)
    explained = compilation.explained_in_time(limit, arguments.repair_budget)
    if explained is not None:  # issue 19: a window lacking capacity, with repairs
        from fitlang.solve.explain_time import explanation_document

        if arguments.format == "json":
            document = explanation_document(explained, arguments.repair_budget)
            document["diagnostics"] = json.loads(render(diagnostics + [explained.diagnostic],
                                                        "json", sources))
            sys.stdout.write(json.dumps(document, indent=2) + "\n")
        else:
            emit(diagnostics + [explained.diagnostic], arguments.format, sources)
        return EXIT_ERRORS
    found = explanation_diagnostics(problem, compilation.root_path, explanation=explanation,
                                    for_solve=False)
    everything = diagnostics + found
    if arguments.format == "json":
        document = explanation_json(explanation)
        document["diagnostics"] = json.loads(render(everything, "json", sources))
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        emit(everything, arguments.format, sources)
        if arguments.format == "human":
            sys.stdout.write(explanation_text(explanation))
    if explanation.outcome is ExplainOutcome.FEASIBLE:
        return exit_code(diagnostics, arguments.fail_level)
    return EXIT_ERRORS


def _run_verify(arguments: argparse.Namespace) -> int:

    from fitlang import messages as msg
    from fitlang.solve.verify import verify

    if (arguments.target is None) != (arguments.out is None):
        raise UsageError("--target and --out go together: the target whose files --out holds")
    if arguments.target is not None:
        from fitlang.targets import TARGETS

        if arguments.target not in TARGETS:
            raise UsageError(f"--target {arguments.target}: not a target (choose from "
                             f"{', '.join(sorted(TARGETS))})")
    out = _output_directory(arguments.out) if arguments.out is not None else None
    loaded = _problem_or_errors(arguments.file, arguments.format, arguments.current)
    if loaded is None:
        return EXIT_ERRORS
    compilation, problem = loaded
    sources, diagnostics = compilation.sources(), compilation.diagnostics()
    program = compilation.check().program
    placement_path = regular_file(arguments.placement, "a placement file (JSON)")
    # with --target, the files are checked against all the placement says: its whole JSON
    document: Any = _placement_read(placement_path) if out is None else None
    problems: list[FileProblem] = []
    shaped = document is not None
    if not shaped:
        document, problems = _json_document(placement_path)
    violations: list[Diagnostic] = []
    from fitlang.solve.verify_plan import is_plan

    if is_plan(document):
        if out is not None:
            raise UsageError("--target and --out check a placement's files, not a plan's")
        return _verify_plan(compilation, document, placement_path, arguments)
    if document is not None:
        violations, problems = verify(problem, document, compilation.root_path, shaped=shaped)
    diagnostics += [msg.PlacementFileError(detail=problem.text).diagnostic(str(placement_path), span)
                    for problem, span in zip(problems, _spans_in(placement_path, problems))]
    diagnostics += violations
    if out is not None and document is not None and not problems:
        diagnostics += _fidelity_diagnostics(program, problem, document, arguments.target, out)
    emit(diagnostics, arguments.format, sources)
    if not diagnostics and arguments.format == "human":
        print(f"{placement_path}: every rule holds")
        if out is not None:
            print(f"{out}: the {arguments.target} files realise the placement")
    return exit_code(diagnostics, arguments.fail_level)


def _verify_plan(compilation: Compilation, document: dict, plan_path: Path,
                 arguments: argparse.Namespace) -> int:
    """`fitc verify FILE PLAN.json --current STATE`: the plan replayed from the state."""
    from fitlang import messages as msg
    from fitlang.model.build import running_handles, unhealthy_names, with_current
    from fitlang.plan import in_time_refused
    from fitlang.solve.verify_plan import verify_plan

    sources = compilation.sources()
    diagnostics = compilation.diagnostics() + compilation.state_apart()
    state = compilation.current_state()
    if state is None:
        raise UsageError("a plan starts from what runs: give --current STATE (or a `current` "
                         "block in the policy)")
    if any(d.is_error for d in diagnostics):
        emit(diagnostics, arguments.format, sources)
        return EXIT_ERRORS
    program = compilation.check().program
    in_time = in_time_refused(program)  # no plan is made in time: none is checked in time either
    if in_time:
        emit(diagnostics + in_time, arguments.format, sources)
        return EXIT_ERRORS
    assert compilation.problem is not None  # _problem_or_errors returned it
    problem = with_current(compilation.problem, program, state)
    violations, problems = verify_plan(problem, program, document, compilation.root_path,
                                       str(plan_path), running_handles(problem, state),
                                       unhealthy_names(state))
    diagnostics += [msg.PlanFileError(detail=problem.text).diagnostic(str(plan_path), span)
                    for problem, span in zip(problems, _spans_in(plan_path, problems))] + violations
    emit(diagnostics, arguments.format, sources)
    if not any(d.is_error for d in diagnostics) and arguments.format == "human":
        print(f"{plan_path}: every wave keeps every rule and budget, and the plan ends in its "
              "placement")
    return exit_code(diagnostics, arguments.fail_level)


def _placement_read(path: Path) -> Any:
    """The placement as `verify` reads it (`PlacementRead`: the fields it reads), in one pass
    of pydantic_core over the text, which reads and checks its shape together: 0.15 CPU s at
    50,000 nodes where the JSON and then its shape took 0.19, without the 27,000 nodes' other
    fields. None where that fails (not JSON, or not a placement: a plan, a wrong value):
    `_json_document` and `verify` read it again, and word what is wrong as they did."""
    from pydantic_core import ValidationError

    from fitlang.core_schemas import validator

    try:
        return validator("placement-input").validate_json(path.read_bytes())
    except (ValidationError, ValueError, RecursionError):
        return None


def _json_document(path: Path) -> tuple[Any, list[FileProblem]]:
    """The file's JSON, or None and why not (a syntax error at its line and column).
    Read by pydantic_core's parser (which checks its shape next): 0.14 CPU s where `json`
    takes 0.21 at 50,000 nodes (22 MB). Where it refuses a text (a byte order mark, UTF-16,
    a lone surrogate, or JSON that is not), `json` reads it: what `json` accepts is read,
    and what it refuses is reported, as before."""
    import json

    from pydantic_core import from_json

    data = path.read_bytes()
    try:
        return from_json(data), []
    except ValueError:
        pass
    try:
        return json.loads(data), []
    except json.JSONDecodeError as error:
        return None, [FileProblem(f"not JSON: {error}", line=error.lineno, column=error.colno)]
    except (ValueError, UnicodeDecodeError) as error:
        return None, [FileProblem(f"not JSON: {error}")]
    except RecursionError:
        return None, [FileProblem("not a placement: its JSON nests too deeply")]


def _spans_in(path: Path, problems: list[FileProblem]) -> list[Span]:
    """Where each problem is in the file (its first character where it names no place)."""
    if not problems:
        return []
    text = path.read_bytes().decode("utf-8", errors="replace")
    return [span_in(text, problem) or FIRST_CHARACTER for problem in problems]


def _output_directory(raw: str) -> Path:
    out = Path(raw)
    if not out.is_dir():  # (a DIR `compile` has not written yet is no directory that is not one)
        why = "not a directory" if out.exists() else "no such directory (run `fitc compile` first)"
        raise UsageError(f"cannot read {raw}: {why}")
    return out


def _read_tree(out: Path) -> dict[str, str]:
    """Every file under `out` as {relative path (with `/`): text}, but compile's manifest of
    what it wrote (not a file of the target)."""
    from fitlang.outputs import MANIFEST

    return {path.relative_to(out).as_posix(): path.read_bytes().decode("utf-8", errors="replace")
            for path in sorted(out.rglob("*"))
            if path.is_file() and path.relative_to(out).as_posix() != MANIFEST}


def _fidelity_diagnostics(program, problem, document: PlacementRead, target: str,
                          out: Path) -> list[Diagnostic]:
    """Each way the files in `out` fail to realise the placement (a document `verify` has
    accepted), as one diagnostic."""
    from fitlang.solve.placement_file import placement_from_document
    from fitlang.targets import TARGETS, CompileContext

    context = CompileContext(program, problem, placement_from_document(problem, document))
    try:
        chosen = TARGETS[target]()
        return chosen.fidelity(chosen.written(context), _read_tree(out))
    except NotImplementedError as error:
        raise UsageError(f"--target {target}: {error}") from None


def entry() -> None:
    """The `fitc` program: `main` with Ctrl-C handled for a whole process (tests that call
    `main` in-process keep their own)."""
    if "lsp" not in sys.argv[1:2]:  # the language server keeps its own loop and exit codes
        _stop_at_once_on_ctrl_c()
    else:  # (launch.py's start-up handler gone)
        import signal

        signal.signal(signal.SIGINT, signal.default_int_handler)
    code = main(started=time.monotonic() - _process_age(), process_start=True)
    _leave_the_heap_to_the_exit()
    sys.exit(code)


def _leave_the_heap_to_the_exit() -> None:
    """What the command made is left for the process's exit to take back, not collected: the
    interpreter's last collection walks every object still tracked, and the commands that read
    with the collector paused (`_without_collector`) leave their whole policy in garbage
    cycles (the checked program's origins and scopes point back at each other): after
    `fitc verify` at 50,000 nodes ~500,000 objects, 0.3 CPU s to walk and free. Frozen, the
    collection passes them by; atexit handlers still run, and fitc's files are closed by
    then (written through `with`)."""
    gc.freeze()


# the most start-up believed (a process's age beyond it is not a start-up: a clock read wrong)
MAX_START_UP_SECONDS = 30.0


def _process_age() -> float:
    """Seconds since this process started (Linux: /proc), 0 where that cannot be read. The
    interpreter's start and fitc's own imports before `main` (0.2-0.3 s quiet, 0.6 s and more
    on a loaded machine) are part of the command a time limit bounds."""
    try:
        with open("/proc/self/stat", "rb") as stat_file:  # field 22, after the parenthesised name
            started_ticks = int(stat_file.read().rsplit(b")", 1)[1].split()[19])
        with open("/proc/uptime", "rb") as uptime_file:
            uptime = float(uptime_file.read().split()[0])
        age = uptime - started_ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0
    return age if 0.0 <= age <= MAX_START_UP_SECONDS else 0.0


if __name__ == "__main__":
    entry()
