"""Shared plumbing: image range conversions, seeding, devices, atomic writes and run metadata."""
from __future__ import annotations

import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

__all__ = [
    "to_unit",
    "from_unit",
    "to_uint8",
    "from_uint8",
    "seed_everything",
    "DeviceError",
    "resolve_device",
    "RunDirError",
    "check_writable",
    "run_kind",
    "claim_run_dir",
    "remove_stale_tmp",
    "remove_empty_run_dir",
    "run_lock",
    "atomic_write_bytes",
    "atomic_write_text",
    "atomic_write_json",
    "atomic_torch_save",
    "git_commit",
    "run_metadata",
    "check_images",
    "native_bf16",
    "warn_if_slow_bf16",
]


# --- the one conversion each way between [-1, 1] and [0, 1] / uint8 -------------------------------

def to_unit(x: torch.Tensor) -> torch.Tensor:
    """Map an image from [-1, 1] (the DCGAN's tanh range) to [0, 1], clamping."""
    return ((x + 1.0) * 0.5).clamp(0.0, 1.0)


def from_unit(x: torch.Tensor) -> torch.Tensor:
    """Map an image from [0, 1] to [-1, 1]."""
    return x * 2.0 - 1.0


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Map ``(B, 3, H, W)`` or ``(3, H, W)`` images in [-1, 1] to uint8 NHWC / HWC arrays.

    Rounds to nearest, so ``to_uint8(from_uint8(a)) == a`` for every uint8 array ``a``.
    """
    u = (to_unit(x.detach().float()) * 255.0).round().to(torch.uint8).cpu()
    if u.dim() == 4:
        return u.permute(0, 2, 3, 1).numpy()
    if u.dim() == 3:
        return u.permute(1, 2, 0).numpy()
    raise ValueError(f"expected (B, 3, H, W) or (3, H, W), got shape {tuple(x.shape)}")


def from_uint8(a: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Map uint8 NHWC / HWC images to float ``(B, 3, H, W)`` / ``(3, H, W)`` in [-1, 1]."""
    t = torch.as_tensor(np.asarray(a))
    if t.dtype != torch.uint8:
        raise TypeError(f"expected uint8 images, got {t.dtype}")
    if t.dim() == 4:
        t = t.permute(0, 3, 1, 2)
    elif t.dim() == 3:
        t = t.permute(2, 0, 1)
    else:
        raise ValueError(f"expected NHWC or HWC uint8 images, got shape {tuple(t.shape)}")
    return from_unit(t.float().div(255.0)).contiguous()


def check_images(x: torch.Tensor, name: str = "images", size: tuple[int, int] | None = None) -> None:
    """Validate a ``(B, 3, H, W)`` image batch at an API boundary: type, shape and size.

    NaN is checked by the callers, which know where it is allowed (under the hole of ``y``).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(x.shape)}")
    if size is not None and tuple(x.shape[-2:]) != tuple(size):
        raise ValueError(f"{name} are {x.shape[-2]}x{x.shape[-1]} but {size[0]}x{size[1]} is required")


# --- reproducibility --------------------------------------------------------------------------------

def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


class DeviceError(ValueError):
    """A ``--device`` that does not exist or is not available on this machine."""


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None``/"auto" picks CUDA when available, else CPU; anything else is checked, not guessed.

    Raises:
        DeviceError: an unknown device string, or a CUDA/MPS device this machine does not have.
    """
    if device is None or str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise DeviceError(f"unknown device {str(device)!r}; use cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {str(device)!r} was requested but CUDA is not available on "
                              f"this machine; use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {str(device)!r} was requested but this machine has "
                              f"{torch.cuda.device_count()} CUDA device(s)")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise DeviceError(f"device {str(device)!r} was requested but MPS is not available on "
                              f"this machine; use --device cpu")
    elif dev.type != "cpu":
        raise DeviceError(f"device {str(device)!r} is not supported; use cpu, cuda, cuda:N or mps")
    return dev


def native_bf16(device: str | torch.device = "cpu") -> bool:
    """Whether ``device`` computes bfloat16 natively (CUDA, or a CPU with AVX512-BF16 or AMX).

    On other CPUs (AVX2-only machines, for example) oneDNN emulates bf16 and a bf16 matmul is
    orders of magnitude slower than fp32: measured about 1 vs 104 GFLOP/s on a 2-core AVX2 EPYC.
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return True
    if dev.type != "cpu":
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None),
              getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(bool(f()) for f in checks if f is not None)


def warn_if_slow_bf16(device: str | torch.device, what: str = "bf16") -> None:
    """Warn when ``what`` (a bf16 path the user asked for) will run emulated, hence slowly."""
    if not native_bf16(device):
        import warnings

        warnings.warn(f"{what} was requested, but this {torch.device(device).type.upper()} has no "
                      f"native bfloat16 (no AVX512-BF16/AMX; torch reports "
                      f"{torch.backends.cpu.get_cpu_capability()}): it will be much slower than fp32. "
                      f"Use fp32 here.", RuntimeWarning, stacklevel=3)


# --- atomic writes: a killed run never leaves a half-written file -------------------------------------

def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
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
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
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


# --- run directories: writable, of one kind, one writer at a time ----------------------------------

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


# --- run metadata --------------------------------------------------------------------------------------

def git_commit(cwd: str | os.PathLike | None = None) -> str | None:
    """The current git commit (with ``+dirty`` when the tree has changes), or None outside git."""
    cwd = cwd or Path(__file__).resolve().parent
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo``), else :func:`platform.processor`, else "unknown"."""
    import platform

    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def run_metadata(config: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to reproduce a run: argv, config, versions, commit, machine."""
    import importlib.metadata as im

    versions = {}
    for pkg in ("inpaintkit", "torch", "torchvision", "timm", "numpy", "scipy", "scikit-image"):
        try:
            versions[pkg] = im.version(pkg)
        except im.PackageNotFoundError:
            versions[pkg] = None
    return {
        "argv": sys.argv,
        "config": config or {},
        "versions": versions,
        "python": sys.version.split()[0],
        "git_commit": git_commit(),
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        },
    }
