"""Devices: resolving a ``--device`` string, whether bfloat16 is native there, what
``precision="auto"`` means on it, and the CPU allocator setting the search runs with."""
from __future__ import annotations

import torch

__all__ = ["DeviceError", "PRECISIONS", "resolve_device", "native_bf16", "auto_precision", "resolve_precision",
           "warn_if_slow_bf16", "DEFAULT_BATCH", "CPU_FEATURE_BATCH", "default_batch_size",
           "keep_freed_cpu_memory"]

#: The numeric precisions of the search and the training commands. ``auto``: ``bf16`` where
#: bfloat16 is native (:func:`native_bf16`), else ``fp32``.
PRECISIONS = ("auto", "fp32", "bf16")


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
    orders of magnitude slower than fp32 (``benchmarks/speed`` measures the machine's matmul rate
    in both).
    """
    dev = torch.device(device)
    if dev.type == "cuda":
        return True
    if dev.type != "cpu":
        return False
    checks = (getattr(torch.cpu, "_is_avx512_bf16_supported", None),
              getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(bool(f()) for f in checks if f is not None)


def auto_precision(device: str | torch.device = "cpu") -> str:
    """What ``precision="auto"`` runs in on ``device``: ``bf16`` where it is native, else ``fp32``.

    bf16 was validated against fp32 for the latent search on the Stanford Cars models
    (``benchmarks/results/precision/``); where it is emulated it would be far slower, so it is
    never chosen there.
    """
    return "bf16" if native_bf16(device) else "fp32"


def resolve_precision(precision: str | None, device: str | torch.device = "cpu") -> str:
    """``fp32`` or ``bf16``: ``precision`` itself, or for ``auto``/``None`` what
    :func:`auto_precision` picks on ``device``.

    Raises:
        ValueError: a precision that is not one of :data:`PRECISIONS`.
    """
    if precision is None or precision == "auto":
        return auto_precision(device)
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    return precision


#: Images per search batch when none is given: 64, except for a search that runs the classifier
#: (``sem``/``cat``) on a CPU, where 8 is faster on both CPU kinds measured (AVX2 EPYC: 5.2 against
#: 4.7 img-it/s for the five terms in fp32; AVX-512 EPYC: 18.9 against 14.2 in bf16;
#: benchmarks/results/speed.md and speed-avx512.md). The search is batch-size invariant (per-image
#: seeds and loss sums), so the choice changes the time, not the result.
DEFAULT_BATCH = 64
CPU_FEATURE_BATCH = 8


def default_batch_size(device: str | torch.device, needs_features: bool) -> int:
    """:data:`CPU_FEATURE_BATCH` for a search that runs the classifier on a CPU, else
    :data:`DEFAULT_BATCH`."""
    return CPU_FEATURE_BATCH if needs_features and torch.device(device).type == "cpu" else DEFAULT_BATCH


def warn_if_slow_bf16(device: str | torch.device, what: str = "bf16") -> None:
    """Warn when ``what`` (a bf16 path the user asked for) will run emulated, hence slowly."""
    if not native_bf16(device):
        import warnings

        warnings.warn(f"{what} was requested, but this {torch.device(device).type.upper()} has no "
                      f"native bfloat16 (no AVX512-BF16/AMX; torch reports "
                      f"{torch.backends.cpu.get_cpu_capability()}): it will be much slower than fp32. "
                      f"Use fp32 here.", RuntimeWarning, stacklevel=3)


#: glibc's ``mallopt`` parameters (``<malloc.h>``).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_MALLOC_TUNED: bool | None = None


def keep_freed_cpu_memory() -> bool:
    """Have glibc keep freed memory for reuse instead of handing it back to the kernel.

    A CPU search step allocates and frees hundreds of MB of activations and gradients. With
    glibc's defaults the larger blocks are ``mmap``-ed and given back on ``free``, so the next step
    page-faults every page in again: about 0.7 GB per five-term step at batch 64, measured on a
    2-core AMX Xeon (``benchmarks/results/speed-amx-ab-malloc.md`` has the effect on speed). This
    sets ``M_MMAP_THRESHOLD`` to its maximum (32 MiB) and ``M_TRIM_THRESHOLD`` to 1 GiB, for the
    whole process, once. The cost is a resident size that stays near its peak. No-op (returns
    ``False``) off glibc, or when the environment variable ``INPAINTKIT_MALLOC_TUNING`` is ``0``
    at the first call.

    Returns:
        Whether the settings are in effect.
    """
    global _MALLOC_TUNED
    if _MALLOC_TUNED is None:  # decided once per process
        import ctypes
        import os
        import platform

        _MALLOC_TUNED = False
        if (os.environ.get("INPAINTKIT_MALLOC_TUNING", "1") != "0" and platform.system() == "Linux"
                and platform.libc_ver()[0] == "glibc"):
            try:
                mallopt = ctypes.CDLL("libc.so.6").mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
            _MALLOC_TUNED = bool(mallopt(_M_MMAP_THRESHOLD, 32 << 20) and mallopt(_M_TRIM_THRESHOLD, 1 << 30))
    return _MALLOC_TUNED
