"""Benchmark: `fitc lsp`, from a `didChange` to its `publishDiagnostics`. Not a timed test.

    .venv/bin/python bench/lsp_bench.py [--lines 1000 5000] [--edits 30]

A real server process on generated policies (bench/gen_policy.py) of 1,000 and 5,000 lines.
Three kinds of edit, and formatting:

- an edit after a pause (the common case: the server checks at once): the headline number;
- the last keystroke of a burst (5 keystrokes 30 ms apart): the server waits for a quiet
  spell of 150 ms before checking, so this is about 150 ms plus a check;
- an edit that breaks the syntax: the whole file is parsed again, as `fitc check` would.

Each edit changes a value in the middle of the file, so every declaration after it moves.
The time is to the first `publishDiagnostics` of the edited version: the check's diagnostics.
A file without errors then gets its solver-free rule warnings (W01xx) in a second publish;
their extra time is printed as well. Formatting: a `textDocument/formatting` request on a
file whose layout is off in every declaration (the first request fills the server's cache
of formatted declarations; the median is over the next ones, each on a new variant).
Prints medians and 90th percentiles.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
import contextlib

from gen_policy import generate

PAUSE = 0.3  # seconds between isolated edits: longer than the server's debounce


class Client(LanguageClient):
    def __init__(self) -> None:
        super().__init__("lsp-bench", "1")
        self.published: dict[int, float] = {}  # version -> when its diagnostics arrived
        self.counts: dict[int, int] = {}  # version -> errors
        self.arrived = asyncio.Event()


def _p90(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms median, p90 {_p90(values) * 1000:.1f} ms"


async def run(lines: int, edits: int) -> None:
    client = Client()

    @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
    def published(params: types.PublishDiagnosticsParams) -> None:
        if params.version is not None:
            client.published.setdefault(params.version, time.perf_counter())
            client.counts[params.version] = sum(
                d.severity == types.DiagnosticSeverity.Error for d in params.diagnostics)
        client.arrived.set()

    await client.start_io(sys.executable, "-m", "fitlang.cli", "lsp")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "big.fit"
        text = generate(lines)
        path.write_text(text)
        await client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=Path(directory).as_uri()))
        client.initialized(types.InitializedParams())
        uri = path.as_uri()
        version = 1
        client.text_document_did_open(types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri, "fit", version, text)))
        await wait_for(client, version)
        assert client.counts[version] == 0, "the generated policy has errors"
        anchor = text.index("replicas = ", len(text) // 2) + len("replicas = ")

        def edit(new_text: str) -> float:
            nonlocal version
            version += 1
            client.text_document_did_change(types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(version=version, uri=uri),
                [types.TextDocumentContentChangeWholeDocument(new_text)]))
            return time.perf_counter()

        def variant(i: int) -> str:
            # 1..99 replicas: the text after the edit moves by a character now and then
            return text[:anchor] + str(1 + i % 99) + text[anchor:].lstrip("0123456789")

        isolated, burst, broken = [], [], []
        for i in range(edits):
            await asyncio.sleep(PAUSE)
            sent = edit(variant(i * 7))
            await wait_for(client, version)
            isolated.append(client.published[version] - sent)
        for i in range(max(edits // 3, 3)):
            await asyncio.sleep(PAUSE)
            for keystroke in range(5):
                sent = edit(variant(i * 5 + keystroke))
                await asyncio.sleep(0.03)
            await wait_for(client, version)
            burst.append(client.published[version] - sent)
        for i in range(max(edits // 3, 3)):
            await asyncio.sleep(PAUSE)
            valid = variant(i * 3)
            sent = edit(valid[:anchor] + "{" + valid[anchor:])
            await wait_for(client, version)
            assert client.counts[version] > 0
            broken.append(client.published[version] - sent)
        formatting = []
        for i in range(max(edits // 3, 3) + 1):
            await asyncio.sleep(PAUSE)
            messy = variant(i * 11).replace("  cpu = ", "  cpu   =  ")
            edit(messy)
            await wait_for(client, version)
            sent = time.perf_counter()
            edits_back = await client.text_document_formatting_async(types.DocumentFormattingParams(
                types.TextDocumentIdentifier(uri), types.FormattingOptions(2, True)))
            assert edits_back, "the layout was off: formatting must change it"
            if i:  # the first fills the cache of formatted declarations
                formatting.append(time.perf_counter() - sent)
        await client.shutdown_async(None)
        client.exit(None)
        await client.stop()

    print(f"didChange -> publishDiagnostics, {lines}-line policy: {_ms(isolated)} "
          f"({len(isolated)} edits after a pause)")
    print(f"  last keystroke of a burst: {_ms(burst)} (includes the 150 ms debounce)")
    print(f"  edit that breaks the syntax: {_ms(broken)}")
    print(f"  formatting: {_ms(formatting)}")
    print(f"  then the rule warnings (W01xx), in-process: {_ms(warnings_time(text))}")


def warnings_time(text: str, repeat: int = 7) -> list[float]:
    """How long the rule warnings of a check take, after it (they are published after the
    check's diagnostics)."""
    from fitlang.lsp.analysis import analyze, rule_warnings_by_file
    from fitlang.lsp.incremental import ParseCache

    times = []
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "big.fit"
        path.write_text(text)
        cache = ParseCache()
        for _ in range(repeat):
            analysis = analyze(path, {path.resolve(): text}, cache, warnings=False)
            started = time.perf_counter()
            rule_warnings_by_file(analysis)
            times.append(time.perf_counter() - started)
    return times


async def wait_for(client: Client, version: int, timeout: float = 30.0) -> None:
    deadline = time.perf_counter() + timeout
    while version not in client.published:
        client.arrived.clear()
        remaining = deadline - time.perf_counter()
        if remaining <= 0:
            raise TimeoutError(f"no diagnostics for version {version}")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(client.arrived.wait(), remaining)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lines", type=int, nargs="+", default=[1000, 5000])
    parser.add_argument("--edits", type=int, default=30)
    arguments = parser.parse_args()
    for lines in arguments.lines:
        asyncio.run(run(lines, arguments.edits))


if __name__ == "__main__":
    main()
