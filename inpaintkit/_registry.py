"""Former home of :class:`inpaintkit.utils.Registry`; new code imports :mod:`inpaintkit.utils`."""
from __future__ import annotations

from .utils.registry import Registry

__all__ = ["Registry"]
