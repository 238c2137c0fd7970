"""Atomic writes: a killed run never leaves a half-written file."""
from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_write_bytes", "atomic_write_text", "atomic_write_json", "atomic_torch_save",
           "save_figure"]


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file, ``fsync`` and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """:func:`atomic_write_bytes` of UTF-8 text."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """:func:`atomic_write_text` of indented, key-sorted JSON (unknown types as ``str``)."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def atomic_torch_save(obj: Any, path: str | os.PathLike) -> None:
    """``torch.save`` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def save_figure(fig: Any, path: str | os.PathLike, dpi: float | None = None,
                format: str | None = None) -> Path:
    """Write a matplotlib figure atomically and close it.

    The format follows the file's extension (PNG when it has none), as ``Figure.savefig`` does,
    unless ``format`` names one.

    Args:
        fig: the ``matplotlib.figure.Figure``.
        path: the file to write; its folder is created.
        dpi: resolution; ``None`` keeps matplotlib's default (the figure's own dpi).
        format: ``"png"``, ``"pdf"``...; ``None`` follows the extension.

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import io
    import sys

    path = Path(path)
    buf = io.BytesIO()
    fig.savefig(buf, format=format or path.suffix.lstrip(".").lower() or None, dpi=dpi)
    plt = sys.modules.get("matplotlib.pyplot")  # a figure made without pyplot needs no closing
    if plt is not None:
        plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path
