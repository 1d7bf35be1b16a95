"""Writing results without ever losing a file fitc did not write itself.

`fitc compile --out DIR` keeps a manifest, `DIR/.fitc-output`, of the files it wrote. A later
run replaces only those: a `DIR` that is a file, or a non-empty directory without a manifest,
is refused unless the caller forces it, and a forced run still only overwrites the files it
writes. Writes are atomic: a fresh directory is staged beside `DIR` and renamed into place; a
directory that also holds other files gets each file staged first, then renamed, with the
manifest always covering every file of ours on disk, so an interrupted run never leaves a file
the next run would not clean up. Ctrl-C is held off while files are renamed.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path, PurePosixPath
from typing import Literal

MANIFEST = ".fitc-output"
Writer = Literal["fitc compile", "fitc plan"]  # the command a manifest says wrote the files
_STAGING: set[str] = set()  # temporary paths of writes under way, removed if fitc is stopped
RENAMING = threading.RLock()  # held while renames make a write visible: Ctrl-C waits for it


def remove_staging() -> None:
    """Remove what writes under way had staged: called when Ctrl-C ends fitc at once."""
    for path in list(_STAGING):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            with contextlib.suppress(OSError):
                os.unlink(path)
    _STAGING.clear()


class OutputRefused(Exception):
    """The output path is not ours to replace (or cannot be written): a usage error."""


def write_tree(out: Path | str, files: dict[str, str], force: bool = False,
               written_by: Writer = "fitc compile") -> None:
    """Write `files` ({relative POSIX path: text}) as the content of directory `out`; the
    manifest names the command that wrote them (`written_by`: "fitc compile", "fitc plan")."""
    if str(out) == "":  # Path("") would be the working directory
        raise OutputRefused("the output directory name is empty")
    for relative in files:
        _check_relative(relative)
    try:
        _write_tree(Path(os.path.abspath(out)), str(out), _Written(files, written_by), force)
    except OutputRefused:
        raise
    except OSError as error:
        raise OutputRefused(f"cannot write {out}: {error.strerror or error}") from None


def _write_tree(out: Path, shown: str, files: _Written, force: bool) -> None:
    if out.is_symlink() and out.is_dir():  # a link to a directory: that directory
        out = Path(os.path.realpath(out))
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        if not force:
            raise OutputRefused(f"{shown} is not a directory; fitc replaces only a directory it "
                                "wrote itself (give --force to replace it)")
        _stage_and_swap(out, files, replace_file=True)
        return
    if not out.exists():
        _stage_and_swap(out, files)
        return
    previous = read_manifest(out)
    entries = _entries(out)
    if previous is None and entries and not force:
        raise OutputRefused(f"{shown} is not empty and has no {MANIFEST}, so fitc did not write it; "
                            "choose an empty or new directory (or give --force to write into it)")
    ours = set(previous or ()) | {MANIFEST}
    if previous is not None and entries <= ours and not _holds_working_directory(out):
        _stage_and_swap(out, files)
    else:
        _replace_in_place(out, files, previous or [])


def read_manifest(directory: Path) -> list[str] | None:
    """The files a manifest lists, or None without one. Entries that are not plain relative
    paths inside the directory are ignored: a manifest never makes fitc touch anything else."""
    from pydantic import ValidationError  # here: `fitc` starts without pydantic

    from fitlang.documents_read import manifest_read

    try:
        manifest = manifest_read().validate_json((directory / MANIFEST).read_bytes())
    except (OSError, ValidationError):  # not JSON, or not a manifest: none to go by
        return None
    valid = []
    for entry in manifest["files"]:
        try:
            valid.append(_check_relative(entry))
        except (OutputRefused, TypeError):
            continue
    return valid


def _check_relative(relative: object) -> str:
    if not isinstance(relative, str):
        raise TypeError("not a path")
    path = PurePosixPath(relative)
    if (not relative or path.is_absolute() or ".." in path.parts or "\\" in relative
            or "\0" in relative or str(path) != relative or path.name == MANIFEST):
        raise OutputRefused(f"refusing to write outside the output directory: {relative!r}")
    return relative


def _entries(directory: Path) -> set[str]:
    """Every file below `directory`, relative (directories only when empty)."""
    found: set[str] = set()
    for root, dirs, names in os.walk(directory):
        base = Path(root).relative_to(directory)
        for name in names:
            found.add((base / name).as_posix())
        for name in dirs:
            if Path(root, name).is_symlink():
                found.add((base / name).as_posix())
        if not dirs and not names and Path(root) != directory:
            found.add(base.as_posix() + "/")
    return found


def _holds_working_directory(directory: Path) -> bool:
    here = Path(os.path.abspath(os.getcwd()))
    return here == directory or directory in here.parents


class _Written(dict[str, str]):
    """The files of one write ({relative POSIX path: text}) and the command writing them."""

    def __init__(self, files: dict[str, str], written_by: Writer) -> None:
        super().__init__(files)
        self.written_by = written_by

    def manifest(self, files: Iterable[str]) -> str:
        """The manifest's text listing `files` (those of this write, or also an earlier's)."""
        from fitlang.documents import OutputManifest  # here: `fitc` starts without pydantic

        # json.dumps, not pydantic's own: ASCII-escaped, as every manifest written before
        document = OutputManifest(written_by=self.written_by, files=sorted(files))
        return json.dumps(document.model_dump(), indent=2) + "\n"


def _stage(directory: Path, files: _Written) -> None:
    for relative, text in sorted(files.items()):
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    (directory / MANIFEST).write_text(files.manifest(files), encoding="utf-8")


def _stage_and_swap(out: Path, files: _Written, replace_file: bool = False) -> None:
    """Stage the whole tree beside `out`, then rename it into place."""
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    _STAGING.add(str(staging))
    try:
        _stage(staging, files)
        os.chmod(staging, 0o755)
        with held_interrupts():
            retired = None
            if out.exists() or out.is_symlink():
                retired = out.with_name(f".{out.name}.old-{os.getpid()}")
                os.replace(out, retired)
            os.replace(staging, out)
        if retired is not None:
            if retired.is_dir() and not retired.is_symlink() and not replace_file:
                shutil.rmtree(retired, ignore_errors=True)
            else:
                retired.unlink(missing_ok=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        _STAGING.discard(str(staging))


def _replace_in_place(out: Path, files: _Written, previous: list[str]) -> None:
    """`out` holds files that are not ours: stage every file inside it, then rename each into
    place. The manifest lists old and new files until the old ones are gone."""
    staging = Path(tempfile.mkdtemp(prefix=".fitc-staging-", dir=out))
    _STAGING.add(str(staging))
    try:
        _stage(staging, files)
        for relative in sorted(files):  # refuse before anything changes
            target = out / relative
            _inside(out, target)
            if target.is_dir() and not target.is_symlink():
                raise OutputRefused(f"{target} is a directory; fitc writes a file there")
        with held_interrupts():
            write_atomically(out / MANIFEST, files.manifest(set(previous) | set(files)).encode("utf-8"))
            for relative in sorted(files):
                target = out / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                os.replace(staging / relative, target)
            for relative in sorted(set(previous) - set(files)):
                _remove_file(out, relative)
            write_atomically(out / MANIFEST, files.manifest(files).encode("utf-8"))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
        _STAGING.discard(str(staging))


def _inside(out: Path, path: Path) -> None:
    """Refuse a path whose directory leads out of `out` through a symbolic link."""
    home = os.path.realpath(out)
    parent = os.path.realpath(path.parent)
    if parent != home and not parent.startswith(home + os.sep):
        raise OutputRefused(f"{path.parent} leads out of {out} through a symbolic link")


def _remove_file(out: Path, relative: str) -> None:
    """Remove a file a manifest listed, and the directories that leaves empty (not `out`)."""
    path = out / relative
    try:
        _inside(out, path)
    except OutputRefused:
        return  # reached through a link out of `out`: never ours to remove
    if path.is_dir() and not path.is_symlink():
        return  # a manifest lists files; a directory there now is someone else's
    path.unlink(missing_ok=True)
    parent = path.parent
    while parent != out and out in parent.parents:
        try:
            parent.rmdir()
        except OSError:
            break
        parent = parent.parent


def write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: readers never see half a file.
    A symlink is followed: the file it points to is replaced and the link kept."""
    path = Path(os.path.realpath(path))
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _STAGING.add(temporary)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o7777)
        with held_interrupts():
            os.replace(temporary, path)
    except BaseException:
        if os.path.exists(temporary):
            os.unlink(temporary)
        raise
    finally:
        _STAGING.discard(temporary)


@contextlib.contextmanager
def held_interrupts() -> Iterator[None]:
    """Hold Ctrl-C off for the few renames that make a write visible; deliver it after."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, frame: received.append(number))
    try:
        with RENAMING:
            yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        raise KeyboardInterrupt
