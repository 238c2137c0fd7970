"""Reproducibility: seeding every random number generator at once, and the one per-image seed rule.

Every random choice made for one image (its generated mask, its starting latents, a seeded
baseline) takes its seed from :func:`per_image_seed`, a hash of what the choice is for. So an
image's result depends neither on its batch, nor on the number of processes, nor on the command:
``inpaintkit inpaint`` on image ``i`` of a folder and ``inpaintkit bench`` on image id ``i`` of a
split draw the same mask and the same starting latents for the same ``--seed`` and options.
"""
from __future__ import annotations

import hashlib
import random
from typing import Any, Sequence

import numpy as np
import torch

__all__ = ["seed_everything", "hash_seed", "per_image_seed", "starting_latents", "SEEDING"]

#: How searches draw their starting latents; recorded in every bench search row (``seeding``) and
#: part of its config hash, so a resume never mixes rows seeded differently. ``crn`` (common random
#: numbers, since 2026-12-02): one seed per (seed, mask, image, restart), the same for every method,
#: so paired comparisons between methods do not compare starting points. Rows without the column
#: were seeded per method name.
SEEDING = "crn"

# Kinds whose seeds also hash a scheme tag, so that changing the scheme changes every such seed.
_KIND_TAGS: dict[str, tuple[str, ...]] = {"search": ("search", SEEDING)}


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a CPU ``torch.Generator`` seeded the same."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def hash_seed(*parts: Any) -> int:
    """A 31-bit seed from a hash of ``parts``: the same on every machine and Python version."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little") & 0x7FFFFFFF


def per_image_seed(kind: str, seed: int, *keys: Any) -> int:
    """The seed of one random choice for one image.

    Args:
        kind: what the seed is for: ``"mask"`` (keys: mask spec, image id), ``"search"`` (keys:
            mask spec, image id, restart) or ``"baseline"`` (keys: baseline name, mask spec,
            image id).
        seed: the run's ``--seed``.
        keys: what else the choice depends on; ints and strings, compared by value.

    Returns:
        A 31-bit seed, the same on every machine; never the method's business, so every method
        on an image gets the same mask and starting latents (common random numbers).
    """
    return hash_seed(*_KIND_TAGS.get(kind, (kind,)), int(seed), *keys)


def starting_latents(seed: int, mask: str, ids: Sequence[int], restarts: int, nz: int) -> torch.Tensor:
    """The starting latents of the images ``ids`` under ``mask``: uniform in [-1, 1].

    Restart ``r`` of image ``i`` is drawn from its own ``per_image_seed("search", seed, mask, i,
    r)``, so it is the same whatever the batch and the number of restarts.

    Shape:
        - output: ``(len(ids), restarts, nz)``.
    """
    return torch.stack([torch.stack([
        torch.rand(nz, generator=torch.Generator().manual_seed(
            per_image_seed("search", seed, mask, int(i), r))) * 2 - 1 for r in range(int(restarts))])
        for i in ids])
