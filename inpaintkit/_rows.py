"""Benchmark rows that are never lost: JSON lines, appended atomically one batch at a time.

A run directory holds ``rows.jsonl``: one JSON object per line, one line per (image, method,
mask). A batch's lines are written with a single ``os.write`` on a file opened ``O_APPEND`` and
then fsynced, so a batch is either on disk or not. The only damage a kill can do is a last line
cut short; a line without its trailing newline is ignored when reading and cut off before the
next append, so the batch it belonged to is simply recomputed.

Under ``torchrun`` each rank appends to its own ``rows.rank<R>.jsonl`` (no two processes share a
file) and rank 0 merges them into ``rows.jsonl`` at the end (:meth:`RowStore.merge`). Reading
always takes every file, so a run killed before the merge resumes with any world size.

Rows are keyed by ``(image_id, method, mask)``. When a key occurs twice (a retried error, or a
merge that was killed after writing ``rows.jsonl`` but before removing the rank files), the last
occurrence wins, so every key is reported exactly once.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from .utils import atomic_write_text

__all__ = ["RowStore", "ROWS_FILE", "ROW_KEY", "read_rows", "load_rows", "rows_to_csv", "incomplete_rows"]

ROWS_FILE = "rows.jsonl"
ROW_KEY = ("image_id", "method", "mask")


def _jsonable(v: Any) -> Any:
    """Plain Python scalars for JSON; NumPy/torch scalars are unwrapped, NaN/inf kept as floats."""
    if hasattr(v, "item") and callable(v.item) and getattr(v, "ndim", 0) == 0:
        v = v.item()
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if v is None or isinstance(v, (str, bool, int, float)):
        return v
    return str(v)


def _row_files(directory: Path) -> list[Path]:
    main = directory / ROWS_FILE
    ranks = sorted(directory.glob("rows.rank*.jsonl"))
    return ([main] if main.is_file() else []) + ranks


def _read_file(path: Path) -> list[dict[str, Any]]:
    data = path.read_bytes()
    complete = data[: data.rfind(b"\n") + 1]  # a cut-short last line is not a row yet
    rows = []
    for lineno, raw in enumerate(complete.split(b"\n")[:-1], 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}:{lineno} is not text (a binary file?); a rows file holds one "
                             f"JSON object per line") from None
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{lineno} is not a JSON row ({e}); the file was edited or "
                             "corrupted by something other than inpaintkit") from None
        missing = [k for k in ROW_KEY if k not in row] if isinstance(row, dict) else list(ROW_KEY)
        if missing:
            raise ValueError(f"{path}:{lineno} is not a benchmark row (it lacks {', '.join(missing)}); "
                             "the file was edited or corrupted by something other than inpaintkit")
        rows.append(row)
    return rows


def incomplete_rows(directory: str | os.PathLike) -> list[Path]:
    """The rows files of a run whose last line is cut short (a write killed midway).

    Such a line is not a row: readers leave it out, and the next append removes it.
    """
    out = []
    for path in _row_files(Path(directory)):
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            if f.tell() == 0:
                continue
            f.seek(-1, os.SEEK_END)
            if f.read(1) != b"\n":
                out.append(path)
    return out


def row_key(row: dict[str, Any]) -> tuple:
    return tuple(row[k] for k in ROW_KEY)


def read_rows(directory: str | os.PathLike) -> list[dict[str, Any]]:
    """Every row of a run directory (all rank files), one per key, last occurrence winning.

    Raises:
        FileNotFoundError: the directory, or any rows file in it, does not exist.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise FileNotFoundError(f"run directory not found: {directory}")
    by_key: dict[tuple, dict[str, Any]] = {}
    for path in _row_files(directory):
        for row in _read_file(path):
            by_key.pop(row_key(row), None)  # re-insert so the order is that of the last write
            by_key[row_key(row)] = row
    return list(by_key.values())


def load_rows(directory: str | os.PathLike):
    """The rows of a run directory as a pandas DataFrame (one row per image, method and mask).

    Raises:
        FileNotFoundError: no such directory, or no rows in it.
    """
    import pandas as pd

    rows = read_rows(directory)
    if not rows:
        raise FileNotFoundError(f"{directory} holds no benchmark rows ({ROWS_FILE} is missing or "
                                "empty)")
    return pd.DataFrame(rows)


def rows_to_csv(directory: str | os.PathLike, path: str | os.PathLike | None = None) -> Path:
    """Write the rows as ``rows.csv`` (a derived convenience copy; ``rows.jsonl`` is the record)."""
    df = load_rows(directory)
    path = Path(path) if path is not None else Path(directory) / "rows.csv"
    atomic_write_text(path, df.to_csv(index=False))
    return path


class RowStore:
    """The rows of one run directory, for one process.

    Args:
        directory: the run directory (created if needed).
        rank: this process's rank; ranks other than 0, and rank 0 of a multi-process run, write
            ``rows.rank<R>.jsonl``.
        world_size: number of processes.

    Example:
        >>> store = RowStore(tmp_path)
        >>> store.append([{"image_id": 0, "method": "yeh", "mask": "center", "psnr": 20.1}])
        >>> store.done()
        {(0, 'yeh', 'center'): {...}}
    """

    def __init__(self, directory: str | os.PathLike, rank: int = 0, world_size: int = 1) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.rank, self.world_size = rank, world_size
        name = ROWS_FILE if world_size == 1 else f"rows.rank{rank}.jsonl"
        self.path = self.directory / name

    def done(self) -> dict[tuple, dict[str, Any]]:
        """The rows already written, by ``(image_id, method, mask)``."""
        return {row_key(r): r for r in read_rows(self.directory)}

    def append(self, rows: Iterable[dict[str, Any]]) -> None:
        """Append a batch of rows atomically: all of them reach the disk, or none does."""
        rows = list(rows)
        if not rows:
            return
        for r in rows:
            missing = [k for k in ROW_KEY if k not in r]
            if missing:
                raise KeyError(f"row lacks the key column(s) {missing}: {r}")
        payload = "".join(json.dumps(_jsonable(r), allow_nan=True) + "\n" for r in rows).encode()
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        try:
            self._cut_partial_tail(fd)
            view = memoryview(payload)
            while view:
                n = os.write(fd, view)
                view = view[n:]
            os.fsync(fd)
        finally:
            os.close(fd)

    def _cut_partial_tail(self, fd: int) -> None:
        """Drop a last line that a killed write left without its newline."""
        size = os.fstat(fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as f:
            f.seek(size - 1)
            if f.read(1) == b"\n":
                return
            f.seek(0)
            content = f.read(size)
        os.ftruncate(fd, content.rfind(b"\n") + 1)

    def merge(self) -> Path:
        """Rank 0, after every rank is done: compact all files into ``rows.jsonl``, drop the rest.

        Safe to kill at any point: ``rows.jsonl`` is replaced atomically before the rank files
        go, and duplicates left by a kill are resolved on reading.
        """
        rows = read_rows(self.directory)
        text = "".join(json.dumps(_jsonable(r), allow_nan=True) + "\n" for r in rows)
        main = self.directory / ROWS_FILE
        atomic_write_text(main, text)
        for p in self.directory.glob("rows.rank*.jsonl"):
            p.unlink()
        return main

