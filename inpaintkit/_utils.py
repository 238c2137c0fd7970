"""Former home of :mod:`inpaintkit.utils`; kept for scripts and results folders that still import it.

New code imports :mod:`inpaintkit.utils`.
"""
from __future__ import annotations

from .utils import *  # noqa: F401,F403
from .utils import __all__  # noqa: F401
