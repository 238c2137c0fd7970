"""inpaintkit: semantic image inpainting with a GAN prior.

The method, in the order of the tree: data -> models -> masks -> losses -> search -> blend ->
metrics -> bench/report. See SPEC.md in the project's shared folder for every formula.
"""
from __future__ import annotations

__version__ = "0.1.0"
