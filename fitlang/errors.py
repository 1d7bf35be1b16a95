"""What the command line reports as a usage error (exit 2), raised by every command's code.

Apart from fitlang/cli.py, which runs as `__main__` under `python -m fitlang.cli`: a class
defined there would be a second class to the modules that import it."""

from __future__ import annotations


class UsageError(Exception):
    """Bad arguments or unreadable input paths: exit 2."""
