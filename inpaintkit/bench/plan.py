"""What a run computes for each image: its masks and its seeds, the same for every method.

Masks come from the data's ``random_masks``, from ``--mask-file``, or from a seed derived from
``(--seed, mask, image id)``. Starting latents come from ``(--seed, mask, image id, restart)``,
never from the method, so every method on an image starts from the same latents (common random
numbers) and an image's result depends neither on its batch nor on the number of processes. Both
follow :func:`~inpaintkit.utils.per_image_seed`, as ``inpaintkit inpaint`` does.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch

from ..utils.seeding import SEEDING, hash_seed, per_image_seed  # noqa: F401  (re-exported)
from .config import BenchError


def mask_seed(seed: int, mask: str, image_id: int) -> int:
    """The seed of a generated mask: the same image gets the same mask for every method and run."""
    return per_image_seed("mask", seed, mask, int(image_id))


def search_seed(seed: int, mask: str, image_id: int, restart: int = 0) -> int:
    """The seed of one starting latent: the same for every method on the image (common random
    numbers), and restart ``r`` the same whatever the number of restarts."""
    return per_image_seed("search", seed, mask, int(image_id), int(restart))


def image_masks(spec: str, ids: Sequence[int], size: tuple[int, int], seed: int,
                data_masks: np.ndarray | None = None,
                mask_file: dict[str, Any] | None = None, *, stems: Sequence[str] | None = None,
                polarity: str = "known") -> tuple[np.ndarray, str]:
    """The known-pixel masks of ``spec`` for the images ``ids``, identical for every method.

    Args:
        spec: a mask spec (``center``, ``random:0.7``, ``path.png``, ``file:NAME``...).
        ids: image ids (positions in the split).
        size: ``(H, W)``.
        seed: the run's seed.
        data_masks: the data's ``random_masks`` ``(N, H, W)`` bool (True = known), used for
            ``random:p`` when their drop rate is within 0.02 of ``p``.
        mask_file: the sets of ``--mask-file`` (:func:`~inpaintkit.masks.read_mask_file`; a plain
            ``(H, W)`` or ``(N, H, W)`` bool array is taken as such a set), used for a spec of
            that name and for ``file:NAME``.
        stems: the images' file names without suffix, for a PNG folder keyed by file name.
        polarity: how a PNG spec reads (``known``: white = known; ``hole``: white = hole).

    Returns:
        ``(masks (len(ids), H, W) bool, source)`` with source ``"data:random_masks"``,
        ``"file:NAME"`` or ``"seeded"``.
    """
    from ..masks import MaskSet, make_mask, parse_mask_spec, validate_mask

    name, args = parse_mask_spec(spec)
    ids = [int(i) for i in ids]
    if name == "random" and data_masks is not None:
        p = args[0] if args else 0.8
        drop = 1.0 - float(data_masks.mean())
        if abs(drop - p) <= 0.02:
            out = np.asarray(data_masks[ids], dtype=bool)
            validate_mask(torch.from_numpy(out[:, None].astype(np.float32)), size)
            return out, "data:random_masks"
    if name.startswith("file:"):
        key = name[5:]
    else:
        key = spec if mask_file and spec in mask_file else name
    if name.startswith("file:") and (mask_file is None or key not in mask_file):
        known = ", ".join(f"file:{k}" for k in (mask_file or {})) or "none: pass --mask-file"
        raise BenchError(f"mask {spec!r}: no such set in --mask-file (sets: {known})")
    if mask_file is not None and key in mask_file and not args:
        mset = mask_file[key]
        if not isinstance(mset, MaskSet):
            a = np.asarray(mset, dtype=bool)
            mset = MaskSet(key, a if a.ndim == 3 else a[None], a.ndim == 3)
        if mset.shape != tuple(size):
            raise BenchError(f"mask {spec!r} in the mask file is {mset.shape[0]}x{mset.shape[1]}, "
                             f"but the images are {size[0]}x{size[1]}")
        out = mset.for_images(ids, None if stems is None else [stems[i] for i in ids])
        if len(out):
            validate_mask(torch.from_numpy(out[:, None].astype(np.float32)), size)
        return out.astype(bool), f"file:{key}"
    out = np.stack([make_mask(spec, size, seed=mask_seed(seed, spec, i), polarity=polarity)[0, 0]
                    .numpy() > 0.5 for i in ids]) if ids else np.zeros((0, *size), bool)
    return out, "seeded"


def load_mask_file(path: str, polarity: str = "known") -> dict[str, Any]:
    """``--mask-file`` read into named mask sets; a bad file is a :class:`BenchError`."""
    from ..masks import MaskError, read_mask_file

    try:
        return read_mask_file(path, polarity)
    except (MaskError, FileNotFoundError) as e:
        raise BenchError(str(e)) from None
