"""`fitc lsp`: the fit language server, on stdio (pygls).

Diagnostics are `fitc check`'s, for the text on screen: on open at once, on change after a
short pause (an edit after a quiet spell is checked at once, a burst of keystrokes once it
stops), in the file they belong to (an error in an imported file goes to that file). A file
without errors also gets the solver-free warnings W0101-W0103, from a worker process after
a second without edits. After a save, a worker process asks the solver whether every
replica can be placed and, when not, adds the conflict (E0501, E0504) where its rules stand;
when it can, inlay hints show where each workload goes. Results are dropped if the text
changed meanwhile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import json
import logging
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from pygls import uris
from pygls.lsp.server import LanguageServer

import fitlang.targets  # noqa: F401  (their `policy` settings blocks, for completion and highlighting)
from fitlang import __version__
from fitlang.check.incremental import IncrementalCheck
from fitlang.check.loader import display_path
from fitlang.diagnostics import Diagnostic, Severity
from fitlang.lsp import navigation
from fitlang.lsp.analysis import Analysis, analyze
from fitlang.lsp.incremental import ParseCache
from fitlang.lsp.positions import LineIndex
from fitlang.lsp.semantic import LEGEND as SEMANTIC_LEGEND
from fitlang.lsp.solver_worker import WorkerAnswer
from fitlang.lsp.transport import FitProtocol, FramedInput, answer_parse_error
from fitlang.messages import NoPlacement
from fitlang.syntax import nodes as n
from fitlang.syntax.nodes import Span

if TYPE_CHECKING:  # the formatter is imported when first asked for (start-up time)
    from fitlang.syntax.formatter import FormatCache

DEBOUNCE = 0.15  # seconds of quiet before a burst of edits is checked
WARNINGS_DELAY = 1.0  # seconds of quiet after a check before its rule warnings are sought
# (a worker process then builds the placement problem: while the user types, none runs)
SOLVE_BUDGET = 10.0  # seconds the solver may take after a save
WARNINGS_BUDGET = 30.0  # seconds the rule warnings may take
SOURCE = "fitc"
# Python's cyclic garbage collector walks every live object of the old generation now and
# then: 100-300 ms with a 5,000-line policy's syntax trees and checked values in memory,
# in the middle of whichever edit was being checked. The server runs it itself instead:
# once the editor has been quiet for GC_QUIET seconds, or after GC_EVERY checks.
GC_QUIET = 2.0
GC_EVERY = 200

log = logging.getLogger(__name__)

_SEVERITY = {Severity.ERROR: types.DiagnosticSeverity.Error,
             Severity.WARNING: types.DiagnosticSeverity.Warning,
             Severity.NOTE: types.DiagnosticSeverity.Information}


@dataclass
class _Solved:
    """A solver job's outcome for one root, valid while the open texts are the same."""

    versions: dict[str, int | None]
    diagnostics: dict[str, list[types.Diagnostic]] = field(default_factory=dict)


class FitLanguageServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("fitc", __version__, protocol_cls=FitProtocol)
        self.shutdown_requested = False  # `exit` before `shutdown` exits 1, as the protocol says
        self.cache = ParseCache()
        self.format_cache = ParseCache()  # formatted texts: kept apart from the edited ones
        self.formatting: dict[str, FormatCache] = {}  # uri -> what formatting it again reuses
        self.analyses: dict[str, tuple[int | None, Analysis]] = {}  # root uri -> (version, it)
        self.checks: dict[str, IncrementalCheck] = {}  # root uri -> its checks, reusing
        self.parsed_whole: dict[str, Analysis] = {}  # the last check without syntax errors
        # target uri -> root uri -> the diagnostics that root's check found in the target
        self.found: dict[str, dict[str, list[types.Diagnostic]]] = {}
        self.solved: dict[str, _Solved] = {}
        self.solving: dict[str, asyncio.Task] = {}
        self.pending: dict[str, asyncio.TimerHandle] = {}
        self.pending_warnings: dict[str, asyncio.TimerHandle] = {}
        self.warning_jobs: dict[str, asyncio.Task] = {}
        self.warned: dict[str, _Solved] = {}  # root uri -> its rule warnings, from a worker
        # root uri -> (versions, workload -> pools and cost) from the last solve after a save
        self.placed: dict[str, tuple[dict[str, int | None], dict]] = {}
        self.last_change: dict[str, float] = {}
        self.busy_until = float("-inf")  # when the last check ended (the event loop's clock)
        self.uri_of: dict[Path, str] = {}  # open documents' paths -> their uris, as sent
        self.solve_budget = SOLVE_BUDGET
        self.root: Path | None = None  # the project folder, when the client names one
        self.checks_since_gc = 0
        self.pending_gc: asyncio.TimerHandle | None = None

    def report_server_error(self, error: Exception, source: Any) -> None:
        if not answer_parse_error(self.protocol, error):
            super().report_server_error(error, source)

    # ---- documents ----------------------------------------------------------

    def is_open(self, uri: str) -> bool:
        return uri in self.workspace.text_documents

    def path_of(self, uri: str) -> Path:
        path = uris.to_fs_path(uri)
        if path is None:  # untitled:Untitled-1 and the like
            name = re.sub(r"[^A-Za-z0-9_.-]", "_", uri.split(":", 1)[-1]) or "untitled"
            return Path("/untitled") / (name if name.endswith(".fit") else name + ".fit")
        return Path(path).resolve()

    def shown(self, path: Path) -> str:
        """A file as diagnostics name it: relative to the project root."""
        return display_path(path, self.root)

    def from_shown(self, shown: str) -> Path:
        """The file a diagnostic names (relative to the project root, or in full)."""
        return ((self.root or Path.cwd()) / shown).resolve()

    def uri_for(self, path: Path) -> str:
        return self.uri_of.get(path) or uris.from_fs_path(str(path)) or path.as_uri()

    def open_uris(self) -> list[str]:
        return list(self.workspace.text_documents)

    def overlay(self) -> dict[Path, str]:
        return {self.path_of(uri): doc.source for uri, doc in self.workspace.text_documents.items()}

    def versions(self) -> dict[str, int | None]:
        return {uri: doc.version for uri, doc in self.workspace.text_documents.items()}

    def encoding(self) -> str:
        return str(self.workspace.position_encoding or "utf-16")

    def index(self, uri: str) -> LineIndex:
        return LineIndex(self.workspace.get_text_document(uri).source, self.encoding())

    # ---- checking -----------------------------------------------------------

    def analysis(self, uri: str, fresh: bool = True) -> Analysis | None:
        """The check of an open document; re-run first when `fresh` and the text changed."""
        if uri not in self.workspace.text_documents:
            return None
        known = self.analyses.get(uri)
        version = self.workspace.get_text_document(uri).version
        if known is None or (fresh and known[0] != version):
            self.check_now(uri)
            known = self.analyses.get(uri)
        return known[1] if known else None

    def schedule(self, uri: str, changed: bool = True) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        # quiet: no edit and no check for a while. A keystroke that waited behind a long
        # check (a big file) is no quiet spell: the keystrokes queued with it are one burst.
        quiet = now - max(self.last_change.get(uri, float("-inf")), self.busy_until) > DEBOUNCE
        if changed:
            self.last_change[uri] = now
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        self.pending[uri] = loop.call_later(0 if quiet else DEBOUNCE, self.check_now, uri)

    def check_now(self, uri: str) -> None:
        """Check `uri` and every open document that imports it, and publish."""
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        if uri not in self.workspace.text_documents:
            return
        path = self.path_of(uri)
        roots = [uri] + [other for other, (_, analysis) in self.analyses.items()
                         if other != uri and other in self.workspace.text_documents
                         and path in analysis.workspace.modules]
        overlay = self.overlay()
        touched: set[str] = set()
        for root in roots:
            touched |= self._check_root(root, overlay)
        for target in touched:
            self.publish(target)
        self.busy_until = asyncio.get_running_loop().time()
        self.collect_garbage_later()

    def collect_garbage_later(self) -> None:
        """Collect cyclic garbage once the editor is quiet (see GC_QUIET)."""
        if self.pending_gc is not None:
            self.pending_gc.cancel()
        self.checks_since_gc += 1
        if self.checks_since_gc >= GC_EVERY:
            self.collect_garbage()
        else:
            self.pending_gc = asyncio.get_running_loop().call_later(GC_QUIET, self.collect_garbage)

    def collect_garbage(self) -> None:
        self.pending_gc = None
        self.checks_since_gc = 0
        gc.collect()

    def _check_root(self, root: str, overlay: dict[Path, str]) -> set[str]:
        document = self.workspace.get_text_document(root)
        try:
            analysis = analyze(self.path_of(root), overlay, self.cache, warnings=False,
                               incremental=self.checks.setdefault(root, IncrementalCheck()),
                               project_root=self.root)
        except Exception as error:  # never let one bad input stop the server
            self.checks.pop(root, None)  # what it kept may be half updated
            log.exception("checking %s failed", root)
            self.window_log_message(types.LogMessageParams(
                types.MessageType.Error, f"fitc: internal error checking {root}: {error}"))
            return set()
        self.analyses[root] = (document.version, analysis)
        module = analysis.module(analysis.path)
        if module is not None and not module.parsed.diagnostics:
            self.parsed_whole[root] = analysis
        touched = {target for target, by_root in self.found.items() if root in by_root}
        for target in touched:
            self.found[target].pop(root, None)
        results: dict[str, list[types.Diagnostic]] = {root: []}
        for path, diagnostics in analysis.diagnostics.items():
            target = self.uri_for(path)
            results[target] = self.convert(analysis, path, diagnostics)
        for target, converted in results.items():
            self.found.setdefault(target, {})[root] = converted
        self.schedule_warnings(root, analysis)
        return touched | set(results)

    def schedule_warnings(self, root: str, analysis: Analysis) -> None:
        """The rule warnings of a check without errors, from a worker process once the text
        has been quiet for WARNINGS_DELAY (an edit cancels them: its check schedules its own)."""
        self.cancel_warnings(root)
        if analysis.has_errors:
            self.warned.pop(root, None)
            return
        self.pending_warnings[root] = asyncio.get_running_loop().call_later(
            WARNINGS_DELAY, self._start_warnings, root)

    def cancel_warnings(self, root: str) -> None:
        handle = self.pending_warnings.pop(root, None)
        if handle is not None:
            handle.cancel()
        task = self.warning_jobs.pop(root, None)
        if task is not None:
            task.cancel()

    def _start_warnings(self, root: str) -> None:
        self.pending_warnings.pop(root, None)
        if root in self.workspace.text_documents:
            self.warning_jobs[root] = asyncio.get_running_loop().create_task(self._warn(root))

    def convert(self, analysis: Analysis, path: Path, diagnostics: list[Diagnostic]
                ) -> list[types.Diagnostic]:
        module = analysis.module(path)
        index = LineIndex(module.text if module is not None else analysis.text, self.encoding())
        modules = {m.path: m for m in analysis.workspace.modules.values()}
        return [self.lsp_diagnostic(d, index, modules) for d in diagnostics]

    def lsp_diagnostic(self, d: Diagnostic, index: LineIndex, modules: dict[str, Any]
                       ) -> types.Diagnostic:
        related = []
        for item in d.related:
            module = modules.get(item.path)
            if module is None:
                continue
            where = index if item.path == d.path else LineIndex(module.text, self.encoding())
            related.append(types.DiagnosticRelatedInformation(
                location=types.Location(self.uri_for(module.resolved), where.range(item.span)),
                message=item.message))
        data = None
        if d.fixes:
            data = {"fixes": [{"title": fix.title, "text": fix.text,
                               "range": _range_json(index.range(fix.span))} for fix in d.fixes]}
        return types.Diagnostic(range=index.range(d.span), message=d.message,
                                severity=_SEVERITY.get(d.severity, types.DiagnosticSeverity.Error),
                                code=d.code, source=SOURCE, related_information=related or None,
                                data=data)

    def publish(self, target: str) -> None:
        diagnostics: list[types.Diagnostic] = []
        seen: set[tuple] = set()
        versions = self.versions()
        solved = [s.diagnostics.get(target, [])
                  for s in [*self.solved.values(), *self.warned.values()]
                  if all(versions.get(u) == v for u, v in s.versions.items())]
        for group in list(self.found.get(target, {}).values()) + solved:
            for diagnostic in group:
                key = (diagnostic.code, diagnostic.message, diagnostic.range.start.line,
                       diagnostic.range.start.character, diagnostic.range.end.line,
                       diagnostic.range.end.character)
                if key not in seen:
                    seen.add(key)
                    diagnostics.append(diagnostic)
        diagnostics.sort(key=lambda d: (d.range.start.line, d.range.start.character, str(d.code)))
        document = self.workspace.text_documents.get(target)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(
            uri=target, diagnostics=diagnostics,
            version=document.version if document is not None else None))

    def forget(self, uri: str) -> None:
        """A document was closed: drop what its checks found and clear what is left over."""
        handle = self.pending.pop(uri, None)
        if handle is not None:
            handle.cancel()
        self.analyses.pop(uri, None)
        self.checks.pop(uri, None)
        self.formatting.pop(uri, None)
        self.parsed_whole.pop(uri, None)
        self.cancel_warnings(uri)
        self.placed.pop(uri, None)
        warned = self.warned.pop(uri, None)
        solved = self.solved.pop(uri, None)
        task = self.solving.pop(uri, None)
        if task is not None:
            task.cancel()
        touched = {uri} | (set(solved.diagnostics) if solved is not None else set()) \
            | (set(warned.diagnostics) if warned is not None else set())
        for target, by_root in self.found.items():
            if uri in by_root:
                by_root.pop(uri)
                touched.add(target)
        for target in touched:
            if not self.found.get(target):
                self.found.pop(target, None)
            self.publish(target)

    # ---- the solver after a save ---------------------------------------------

    def start_solving(self, uri: str) -> None:
        task = self.solving.pop(uri, None)
        if task is not None:
            task.cancel()
        self.solved.pop(uri, None)
        known = self.analyses.get(uri)
        if known is not None and (known[1].has_errors or not known[1].result.program.workloads):
            return  # nothing to place, or errors to fix first
        self.solving[uri] = asyncio.get_running_loop().create_task(self._solve(uri))

    def drop_stale_solves(self, but: str) -> None:
        """Forget solver results for texts that changed, and clear them where they are shown
        (`but` is checked again soon anyway)."""
        versions = self.versions()
        for root, solved in list(self.solved.items()):
            if any(versions.get(u) != v for u, v in solved.versions.items()):
                del self.solved[root]
                for target in solved.diagnostics:
                    if target != but:
                        self.publish(target)

    def stop_solving_for(self, changed: str) -> None:
        """The text of `changed` moved on: stop the solver jobs that read it."""
        path = self.path_of(changed)
        for jobs in (self.solving, self.warning_jobs):
            for root, task in list(jobs.items()):
                known = self.analyses.get(root)
                if root == changed or (known is not None and path in known[1].workspace.modules):
                    task.cancel()
                    jobs.pop(root, None)

    def relevant_versions(self, uri: str) -> dict[str, int | None]:
        """The versions of the open documents that `uri`'s check read."""
        versions = self.versions()
        known = self.analyses.get(uri)
        if known is None:
            return versions
        paths = set(known[1].workspace.modules)
        return {u: v for u, v in versions.items() if u == uri or self.path_of(u) in paths}

    async def _run_worker(self, uri: str, job: str, budget: float
                          ) -> tuple[dict[str, int | None], WorkerAnswer] | None:
        """Run a job in the worker process (solver_worker); its diagnostics, or None when
        it failed or the text changed meanwhile (then what it says is about another text)."""
        versions = self.relevant_versions(uri)
        request = json.dumps({"root": str(self.path_of(uri)), "job": job, "time_limit": budget,
                              "project_root": None if self.root is None else str(self.root),
                              "overlay": {str(p): t for p, t in self.overlay().items()}})
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "fitlang.lsp.solver_worker", stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        try:
            output, errors = await asyncio.wait_for(process.communicate(request.encode("utf-8")),
                                               timeout=budget + 5)
        except (TimeoutError, asyncio.CancelledError):
            if process.returncode is None:
                process.kill()
                await process.wait()
            raise
        if process.returncode != 0:  # its traceback, where the editor shows the server's log
            log.error("the solver worker (%s of %s) failed:\n%s", job, uri,
                      errors.decode("utf-8", errors="replace")[-4000:])
            return None
        current = self.versions()
        if any(current.get(u) != v for u, v in versions.items()):
            return None
        try:
            answer = WorkerAnswer.from_json(output)
        except ValueError:
            log.exception("the solver worker's answer for %s was not understood", uri)
            return None
        return versions, answer

    def _found_by_worker(self, uri: str, versions: dict[str, int | None], answer: WorkerAnswer
                         ) -> _Solved:
        result = _Solved(versions)
        known = self.analyses.get(uri)
        for record in answer.diagnostics:
            found = Diagnostic.from_record(record)
            path = self.from_shown(found.path)
            found = dataclasses.replace(
                found, span=_narrow(known[1] if known else None, path, found.span))
            diagnostic = self.lsp_diagnostic(found, LineIndex(self._text(path), self.encoding()),
                                             {})
            diagnostic.related_information = self._related_by_worker(
                known[1] if known else None, found) or None
            if found.code == NoPlacement.code and answer.repairs:
                # the conflict: the repairs `explain` checked, as code actions
                diagnostic.data = {"versions": versions,
                                   "repairs": [self._repair_edit(r) for r in answer.repairs]}
            result.diagnostics.setdefault(self.uri_for(path), []).append(diagnostic)
        return result

    def _related_by_worker(self, analysis: Analysis | None, found: Diagnostic
                           ) -> list[types.DiagnosticRelatedInformation]:
        """A worker's diagnostic's related locations (a conflict's rules), in the files as the
        editor has them, narrowed to a block's name as the diagnostic is."""
        related = []
        for item in found.related:
            path = self.from_shown(item.path)
            index = LineIndex(self._text(path), self.encoding())
            span = _narrow(analysis, path, item.span)
            related.append(types.DiagnosticRelatedInformation(
                location=types.Location(self.uri_for(path), index.range(span)), message=item.message))
        return related

    def _repair_edit(self, repair: dict) -> dict:
        """A repair's edit (offsets in its file's text) in LSP terms, for a code action."""
        path = Path(repair["file"])
        index = LineIndex(self._text(path), self.encoding())
        edit_range = types.Range(index.position_at(repair["start"]), index.position_at(repair["end"]))
        return {"title": repair["title"], "uri": self.uri_for(path), "range": _range_json(edit_range),
                "text": repair["text"], "cost": repair["cost"]}

    async def _solve(self, uri: str) -> None:
        try:
            got = await self._run_worker(uri, "conflicts", self.solve_budget)
        finally:
            if self.solving.get(uri) is asyncio.current_task():
                self.solving.pop(uri, None)
        if got is None:
            return
        versions, answer = got
        self.placed[uri] = (versions, answer.placed)
        solved = self._found_by_worker(uri, versions, answer)
        if not solved.diagnostics:
            self.refresh_inlay_hints()
            return
        self.solved[uri] = solved
        for target in solved.diagnostics:
            self.publish(target)

    async def _warn(self, uri: str) -> None:
        try:
            got = await self._run_worker(uri, "warnings", WARNINGS_BUDGET)
        finally:
            if self.warning_jobs.get(uri) is asyncio.current_task():
                self.warning_jobs.pop(uri, None)
        if got is None:
            return
        warned = self._found_by_worker(uri, *got)
        before = self.warned.get(uri)
        self.warned[uri] = warned
        for target in set(warned.diagnostics) | (set(before.diagnostics) if before else set()):
            self.publish(target)

    def refresh_inlay_hints(self) -> None:
        """Ask the client to ask again (when it said it can be asked)."""
        workspace = self.client_capabilities.workspace
        inlay = workspace.inlay_hint if workspace is not None else None
        if inlay is not None and inlay.refresh_support:
            self.workspace_inlay_hint_refresh(None)

    def _text(self, path: Path) -> str:
        uri = self.uri_of.get(path)
        if uri is not None and uri in self.workspace.text_documents:
            return self.workspace.get_text_document(uri).source
        return _text_of(path)

    def stop_all(self) -> None:
        for task in self.solving.values():
            task.cancel()
        for task in self.warning_jobs.values():
            task.cancel()
        for handle in [*self.pending.values(), *self.pending_warnings.values()]:
            handle.cancel()
        if self.pending_gc is not None:
            self.pending_gc.cancel()


def _narrow(analysis: Analysis | None, path: Path, span: Span) -> Span:
    """A conflict that names a whole pool or workload is shown at its name, not over the
    whole block."""
    module = analysis.module(path) if analysis is not None else None
    if module is None or span.end_line == span.line:
        return span
    where = _lines_and_columns(span)  # a diagnostic's wire form has no offsets
    for decl in module.decls:
        if isinstance(decl, n.Block) and _lines_and_columns(decl.span) == where \
                and decl.name is not None:
            return decl.name.span
    return span


def _lines_and_columns(span: Span) -> tuple[int, int, int, int]:
    return span.line, span.column, span.end_line, span.end_column


def _text_of(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8", errors="replace")
    except OSError:
        return ""


def _range_json(r: types.Range) -> dict[str, Any]:
    return {"start": {"line": r.start.line, "character": r.start.character},
            "end": {"line": r.end.line, "character": r.end.character}}


server = FitLanguageServer()


# ---- lifecycle and synchronisation ------------------------------------------------


@server.feature(types.INITIALIZE)
def initialize(ls: FitLanguageServer, params: types.InitializeParams) -> None:
    root = params.root_uri or (params.workspace_folders[0].uri if params.workspace_folders else None)
    path = uris.to_fs_path(root) if root else None
    if path and os.path.isdir(path):
        # diagnostics name files relative to the project, as `fitc check` run there does
        ls.root = Path(path).resolve()
    options = params.initialization_options
    if isinstance(options, dict) and isinstance(options.get("solveTimeLimit"), (int, float)):
        ls.solve_budget = float(options["solveTimeLimit"])


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
def did_open(ls: FitLanguageServer, params: types.DidOpenTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.uri_of[ls.path_of(uri)] = uri
    ls.check_now(uri)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
def did_change(ls: FitLanguageServer, params: types.DidChangeTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.stop_solving_for(uri)
    ls.drop_stale_solves(but=uri)
    ls.schedule(uri)


@server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
def did_change_watched_files(ls: FitLanguageServer, params: types.DidChangeWatchedFilesParams
                             ) -> None:
    """A file changed on disk (another program, a `git checkout`): check the open files again,
    one of them may import it."""
    for uri in ls.open_uris():
        ls.schedule(uri, changed=False)


@server.feature(types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False))
def did_save(ls: FitLanguageServer, params: types.DidSaveTextDocumentParams) -> None:
    uri = params.text_document.uri
    ls.analysis(uri)  # the check of the saved text, if the last edit was not checked yet
    ls.start_solving(uri)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
def did_close(ls: FitLanguageServer, params: types.DidCloseTextDocumentParams) -> None:
    uri = params.text_document.uri
    path = ls.path_of(uri)
    ls.uri_of.pop(path, None)
    ls.forget(uri)
    ls.cache.forget(ls.shown(path))


@server.feature(types.SHUTDOWN)
def shutdown(ls: FitLanguageServer, params: None) -> None:
    ls.shutdown_requested = True
    ls.stop_all()


@server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
def did_change_configuration(ls: FitLanguageServer, params: types.DidChangeConfigurationParams
                             ) -> None:
    """Settings as Helix and VS Code send them: `{"solveTimeLimit": 10}`, possibly under
    `fitc` or `fitlang`; anything else is ignored."""
    settings = params.settings if isinstance(params.settings, dict) else {}
    for scope in (settings, settings.get("fitc"), settings.get("fitlang")):
        if isinstance(scope, dict) and isinstance(scope.get("solveTimeLimit"), (int, float)) \
                and not isinstance(scope.get("solveTimeLimit"), bool):
            ls.solve_budget = float(scope["solveTimeLimit"])


# ---- requests -------------------------------------------------------------------


def _where(ls: FitLanguageServer, uri: str, position: types.Position):
    analysis = ls.analysis(uri)
    if analysis is None:
        return None
    module = analysis.module(ls.path_of(uri))
    if module is None:
        return None
    line, column = ls.index(uri).line_column(position)
    return analysis, module, line, column


@server.feature(types.TEXT_DOCUMENT_HOVER)
def hover(ls: FitLanguageServer, params: types.HoverParams) -> types.Hover | None:
    from fitlang.lsp.hover import hover as describe

    where = _where(ls, params.text_document.uri, params.position)
    if where is None:
        return None
    analysis, module, line, column = where
    found = describe(analysis, module, line, column)
    if found is None:
        return None
    text, span = found
    return types.Hover(contents=types.MarkupContent(types.MarkupKind.Markdown, text),
                       range=ls.index(params.text_document.uri).range(span))


@server.feature(types.TEXT_DOCUMENT_COMPLETION,
                types.CompletionOptions(trigger_characters=[".", '"', "/"]))
def completion(ls: FitLanguageServer, params: types.CompletionParams) -> types.CompletionList:
    from fitlang.lsp.completion import Completer, apply_range

    uri = params.text_document.uri
    if not ls.is_open(uri):
        return types.CompletionList(is_incomplete=False, items=[])
    document = ls.workspace.get_text_document(uri)
    index = LineIndex(document.source, ls.encoding())
    offset = index.offset(params.position)
    analysis = ls.analysis(uri, fresh=False)  # names only: the last check is good enough
    module = analysis.module(ls.path_of(uri)) if analysis is not None else None
    completer = Completer(analysis, module, document.source, offset, ls.parsed_whole.get(uri))
    items = completer.items()
    replace = types.Range(index.position_at(completer.replace_from()), params.position)
    return types.CompletionList(is_incomplete=False, items=apply_range(items, replace))


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
def definition(ls: FitLanguageServer, params: types.DefinitionParams) -> list[types.Location]:
    where = _where(ls, params.text_document.uri, params.position)
    if where is None:
        return []
    analysis, module, line, column = where
    return [_location(ls, analysis, path, span)
            for path, span in navigation.definition(analysis, module, line, column)]


@server.feature(types.TEXT_DOCUMENT_REFERENCES)
def references(ls: FitLanguageServer, params: types.ReferenceParams) -> list[types.Location]:
    uri = params.text_document.uri
    where = _where(ls, uri, params.position)
    if where is None:
        return []
    analysis, module, line, column = where
    symbol = navigation.symbol_at(analysis, module, line, column)
    if symbol is None:
        return []
    analyses = [analysis] + [a for a in (ls.analysis(u) for u in ls.open_uris() if u != uri)
                             if a is not None]
    analyses += _project_analyses(ls, symbol.name, {a.path for a in analyses})
    places = navigation.references(analyses, symbol, params.context.include_declaration)
    return [_location(ls, analysis, path, span) for path, span in places]


def _project_analyses(ls: FitLanguageServer, name: str, done: set[Path]) -> list[Analysis]:
    """Files of the project that are not open but mention the name: they may refer to it."""
    if ls.root is None:
        return []
    found = []
    overlay = ls.overlay()
    for path in _project_files(ls.root):
        if path in done:
            continue
        try:
            if name not in path.read_text(encoding="utf-8", errors="replace"):
                continue
            found.append(analyze(path, overlay, ls.cache, warnings=False, project_root=ls.root))
        except Exception:  # one unreadable file must not cost the others' references
            log.exception("reading %s for references failed", path)
            continue
    return found


_SKIPPED_DIRECTORIES = {"node_modules", "__pycache__", "venv", "site-packages"}
MAX_PROJECT_FILES = 500


def _project_files(root: Path) -> list[Path]:
    """The `.fit` files below the project root (not in hidden or tool directories), at most
    MAX_PROJECT_FILES of them."""
    files: list[Path] = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories
                                   if not d.startswith(".") and d not in _SKIPPED_DIRECTORIES)
        for name in sorted(names):
            if name.endswith(".fit"):
                files.append((Path(directory) / name).resolve())
                if len(files) >= MAX_PROJECT_FILES:
                    return files
    return files


def _location(ls: FitLanguageServer, analysis: Analysis, path: Path, span: Span) -> types.Location:
    module = analysis.module(path)
    text = module.text if module is not None else ls._text(path)
    if path in ls.uri_of and ls.uri_of[path] in ls.workspace.text_documents:
        text = ls.workspace.get_text_document(ls.uri_of[path]).source
    return types.Location(ls.uri_for(path), LineIndex(text, ls.encoding()).range(span))


@server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
def document_symbol(ls: FitLanguageServer, params: types.DocumentSymbolParams
                    ) -> list[types.DocumentSymbol]:
    uri = params.text_document.uri
    analysis = ls.analysis(uri)
    module = analysis.module(ls.path_of(uri)) if analysis is not None else None
    if module is None:
        return []
    return navigation.document_symbols(module, ls.index(uri).range)


@server.feature(types.TEXT_DOCUMENT_FORMATTING)
def formatting(ls: FitLanguageServer, params: types.DocumentFormattingParams
               ) -> list[types.TextEdit] | None:
    from fitlang.lsp.actions import text_edits
    from fitlang.syntax.formatter import FormatCache, FormatError, format_source

    uri = params.text_document.uri
    if not ls.is_open(uri):
        return None
    document = ls.workspace.get_text_document(uri)
    shown = ls.shown(ls.path_of(uri))
    try:
        # the text as the last check parsed it; the formatted text through a cache of its own
        formatted = format_source(document.source, shown, ls.cache.parse, ls.format_cache.parse,
                                  ls.formatting.setdefault(uri, FormatCache()))
    except FormatError as error:
        ls.window_show_message(types.ShowMessageParams(types.MessageType.Error, f"fitc fmt: {error}"))
        return None
    if formatted.diagnostics:
        return None  # a file with syntax errors is left as it is (its errors are shown)
    ls.collect_garbage_later()
    return text_edits(ls.index(uri), formatted.text)


@server.feature(types.TEXT_DOCUMENT_SEMANTIC_TOKENS_FULL, SEMANTIC_LEGEND)
def semantic_tokens_full(ls: FitLanguageServer, params: types.SemanticTokensParams
                         ) -> types.SemanticTokens:
    from fitlang.lsp.semantic import semantic_tokens

    uri = params.text_document.uri
    if not ls.is_open(uri):
        return types.SemanticTokens(data=[])
    text = ls.workspace.get_text_document(uri).source
    return types.SemanticTokens(data=semantic_tokens(text, ls.encoding()))


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
def inlay_hint(ls: FitLanguageServer, params: types.InlayHintParams) -> list[types.InlayHint]:
    """After each workload's `replicas = N`: where the last solve after a save put it, and
    its share of the cost (while the text is the one solved)."""
    uri = params.text_document.uri
    placed = ls.placed.get(uri)
    versions = ls.versions()
    if placed is None or any(versions.get(u) != v for u, v in placed[0].items()):
        return []
    analysis = ls.analysis(uri, fresh=False)
    module = analysis.module(ls.path_of(uri)) if analysis is not None else None
    if module is None:
        return []
    index = ls.index(uri)
    hints = []
    for decl in module.decls:
        if not isinstance(decl, n.Block) or decl.kind.name != "workload" or decl.name is None:
            continue
        where = placed[1].get(decl.name.name)
        replicas = next((e for e in decl.entries if isinstance(e, n.Attribute)
                         and e.name.name == "replicas"), None)
        if where is None or replicas is None:
            continue
        position = index.range(replicas.span).end
        if not (params.range.start.line <= position.line <= params.range.end.line):
            continue
        hints.append(types.InlayHint(position=position, label=_placed_label(where),
                                     padding_left=True))
    return hints


def _placed_label(where: dict) -> str:
    pools = ", ".join(f"{pool} \u00d7{count}" for pool, count in where["pools"].items())
    return f"on {pools} \u00b7 {where['cost']:.2f} USD/h ({where['share'] * 100:.0f}% of cost)"


@server.feature(types.TEXT_DOCUMENT_CODE_ACTION,
                types.CodeActionOptions(code_action_kinds=[types.CodeActionKind.QuickFix]))
def code_action(ls: FitLanguageServer, params: types.CodeActionParams) -> list[types.CodeAction]:
    from fitlang.lsp.actions import quick_fixes, repair_actions

    uri = params.text_document.uri
    if uri not in ls.workspace.text_documents:
        return []
    mine = [d for d in params.context.diagnostics if d.source in (SOURCE, None)]
    return quick_fixes(uri, ls.index(uri), mine, _hardware_names(ls, uri)) + \
        repair_actions(mine, ls.versions())


def _hardware_names(ls: FitLanguageServer, uri: str) -> dict[str, str]:
    """The accelerators and offers in scope in `uri` (name -> kind), from its last check."""
    from fitlang.lsp.actions import HARDWARE_KINDS

    analysis = ls.analysis(uri, fresh=False)
    module = analysis.module(ls.path_of(uri)) if analysis is not None else None
    if analysis is None or module is None:
        return {}
    try:
        symbols = analysis.scope(module).symbols
    except Exception:  # a half-typed file: no candidates rather than no answer
        log.debug("the names in scope in %s could not be listed", uri, exc_info=True)
        return {}
    return {name: symbol.kind for name, symbol in symbols.items() if symbol.kind in HARDWARE_KINDS}


def main() -> int:
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="fitc lsp: %(levelname)s: %(message)s")
    gc.disable()  # collected when the editor is quiet: FitLanguageServer.collect_garbage
    try:
        server.start_io(stdin=FramedInput(sys.stdin.fileno()))  # type: ignore[arg-type]
    finally:
        server.stop_all()
    return 0 if server.shutdown_requested else 1
