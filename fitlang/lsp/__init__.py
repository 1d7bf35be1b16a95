"""The fit language server (`fitc lsp`). The server itself, and pygls with it, is imported
only when it runs, so that the other commands start as fast as before."""

from __future__ import annotations


def run(arguments: object = None) -> int:
    from fitlang.lsp.server import main

    return main()
