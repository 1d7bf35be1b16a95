"""The `fitc` program's first lines: Ctrl-C from its first instant ends it with 130 and no
traceback. Python's own handler raises KeyboardInterrupt wherever the signal lands, and until
`cli.entry` installs fitc's (`cli._stop_at_once_on_ctrl_c`) fitc is importing: at load 40 a
Ctrl-C 1.2 s into `fitc explain` landed in an import and printed a traceback (session 43).
Nothing is written before `main` runs, so there is nothing to wait for or remove."""

from __future__ import annotations

import os
import signal

EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C


def _interrupted_at_start(number: int, frame: object) -> None:
    os.write(2, b"fitc: interrupted\n")
    os._exit(EXIT_INTERRUPTED)


def exit_on_ctrl_c_at_start() -> None:
    """Ctrl-C ends the process at once until fitc's own handler replaces this one."""
    signal.signal(signal.SIGINT, _interrupted_at_start)


def entry() -> None:
    """The console script `fitc`: the handler first, then the program (`cli.entry`)."""
    exit_on_ctrl_c_at_start()
    from fitlang.cli import entry as program

    program()
