"""Run folders: writable, of one kind, one writer at a time."""
from __future__ import annotations

import contextlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

__all__ = ["RunDirError", "check_writable", "run_kind", "claim_run_dir", "remove_empty_run_dir",
           "remove_stale_tmp", "run_lock"]


class RunDirError(ValueError):
    """An output location that cannot be used: unwritable, another kind of run, or busy."""


def check_writable(path: str | os.PathLike, what: str = "--out", is_dir: bool = True) -> Path:
    """Create ``path`` (a folder) or its parent (a file) and prove it writable, before any work.

    Raises:
        RunDirError: the folder cannot be created or written, naming the option and the reason.
    """
    path = Path(path).expanduser()
    folder = path if is_dir else (path.parent if str(path.parent) else Path("."))
    if is_dir and path.exists() and not path.is_dir():
        raise RunDirError(f"{what} {path} exists and is not a folder")
    if not is_dir and path.is_dir():
        raise RunDirError(f"{what} {path} is a folder, not a file")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(tmp)
    except OSError as e:
        raise RunDirError(f"cannot write {what} {path}: {e.strerror or e}") from None
    return path


#: Files that mark a folder as a run of some kind, for folders written before ``meta.json`` held
#: its ``kind``.
_KIND_MARKERS = (("rows.jsonl", "inpaintkit.bench"),
                 ("context-encoder.pt", "inpaintkit.train-context-encoder"),
                 ("checkpoint.pt", "inpaintkit.train-gan"),
                 ("last.pt", "inpaintkit.train-classifier"),
                 ("run.json", "inpaintkit.inpaint"))


def run_kind(directory: str | os.PathLike) -> str | None:
    """The kind of run a folder holds (``inpaintkit.bench``, ``inpaintkit.train-gan``...), or None.

    Read from ``meta.json``'s ``kind`` (the version suffix ``/1`` dropped), else from the files
    that each command writes.
    """
    directory = Path(directory)
    meta = directory / "meta.json"
    if meta.is_file():
        try:
            kind = json.loads(meta.read_text()).get("kind")
        except (OSError, ValueError, AttributeError):
            kind = None
        if isinstance(kind, str) and kind:
            return kind.split("/")[0]
    for name, kind in _KIND_MARKERS:
        if (directory / name).is_file():
            return kind
    if next(directory.glob("rows.rank*.jsonl"), None) is not None:  # shards or ranks of a bench
        return "inpaintkit.bench"
    return None


def claim_run_dir(directory: str | os.PathLike, kind: str, option: str = "--out") -> Path:
    """Check that ``directory`` is writable and holds no run of another kind; create it.

    Args:
        kind: this command's kind, e.g. ``"inpaintkit.bench"``.

    Raises:
        RunDirError: unwritable, or a non-empty folder of another kind of run.
    """
    directory = Path(directory).expanduser()
    if directory.is_dir() and any(directory.iterdir()):
        other = run_kind(directory)
        if other is not None and other != kind:
            raise RunDirError(f"{option} {directory} holds a {other.split('.')[-1]} run, not a "
                              f"{kind.split('.')[-1]} run; choose another {option}")
    return check_writable(directory, option)


def remove_empty_run_dir(directory: str | os.PathLike) -> bool:
    """Remove a run folder that holds nothing but lock files (a run refused before any work).

    Returns whether it was removed; a folder holding anything else is left alone.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return False
    entries = list(directory.iterdir())
    if any(not (p.is_file() and p.name.startswith(".lock")) for p in entries):
        return False
    with contextlib.suppress(OSError):
        for p in entries:
            p.unlink()
        directory.rmdir()
        return True
    return False


def remove_stale_tmp(directory: str | os.PathLike, recursive: bool = True) -> list[Path]:
    """Delete the temporary files of atomic writes (``.NAME.XXXX.tmp``) that a killed run left.

    Call it only while no other process writes in ``directory`` (rank 0, under the run's lock).
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = directory.rglob(".*.tmp") if recursive else directory.glob(".*.tmp")
    removed = []
    for p in found:
        if p.is_file():
            with contextlib.suppress(OSError):
                p.unlink()
                removed.append(p)
    return removed


class run_lock:
    """An exclusive lock on a run folder (``DIR/.lock``), held for the life of a ``with`` block.

    The operating system releases it when the process dies, so a killed run never leaves a stale
    lock. Where ``fcntl`` is missing (Windows) it does nothing.

    Raises:
        RunDirError: another process holds the lock.
    """

    def __init__(self, directory: str | os.PathLike, what: str = "run", name: str = ".lock") -> None:
        self.path = Path(directory) / name
        self.what = what
        self._fd: int | None = None

    def __enter__(self) -> "run_lock":
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                holder = os.read(fd, 64).decode(errors="replace").strip() or "?"
            finally:
                os.close(fd)
            raise RunDirError(f"another {self.what} process (pid {holder}) is writing to "
                              f"{self.path.parent}; wait for it to finish or use another --out") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing releases the flock
            self._fd = None
