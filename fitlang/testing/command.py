"""`fitc test [PATH...]`: the command line of policy tests (fitlang/cli.py adds it)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

# light: the tests and the solver are imported when the command runs (fitlang/cli.py builds
# every command's parser on each run)
FORMATS = ("human", "json", "junit", "github")
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def add_parser(commands) -> argparse.ArgumentParser:
    command = commands.add_parser("test", help="run the policy tests (*_test.fit)")
    command.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                         help="test files, or directories to search for *_test.fit (default: .)")
    command.add_argument("--run", dest="pattern", metavar="PATTERN",
                         help="only the tests whose name matches this regular expression")
    command.add_argument("--format", choices=FORMATS, default="human",
                         help="human (default), json, junit (XML, for CI test reports), github")
    command.add_argument("-v", "--verbose", action="store_true", help="list passing tests too")
    command.set_defaults(run=run)
    return command


def run(arguments: argparse.Namespace) -> int:
    import re

    from fitlang.driver import Compilation
    from fitlang.errors import UsageError
    from fitlang.testing import test_files
    from fitlang.testing.report import render
    from fitlang.testing.suite import run_tests

    if arguments.pattern is not None:
        try:
            re.compile(arguments.pattern)
        except re.error as error:
            raise UsageError(f"--run {arguments.pattern!r}: not a regular expression ({error})") from None
    try:
        files = test_files([Path(p) for p in arguments.paths])
    except FileNotFoundError as error:
        raise UsageError(str(error)) from None
    if not files:
        raise UsageError(f"found no *_test.fit files in {' '.join(arguments.paths)}")
    done = run_tests(files, arguments.pattern)
    sources = Compilation(Path()).sources()
    sys.stdout.write(render(done, arguments.format, sources, arguments.verbose))
    if not done.results and not done.diagnostics:
        print(f"fitc: no test matches --run {arguments.pattern!r}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK if done.passed else EXIT_FAILED
