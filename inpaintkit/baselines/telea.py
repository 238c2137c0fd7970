"""``telea``: OpenCV's fast-marching inpainting (Telea 2004), a compiled reference baseline.

OpenCV is a benchmark-only dependency (``pip install opencv-python-headless``, or the
``inpaintkit[bench]`` extra); it is imported on first use, so the rest of inpaintkit never needs it.
"""
from __future__ import annotations

import numpy as np
import torch

from ..utils import from_uint8, to_uint8
from ._common import composite_fill, prepare_inputs, register_baseline

__all__ = ["telea_inpaint"]


def _import_cv2():
    try:
        import cv2
    except ImportError as e:
        raise ImportError("the 'telea' baseline needs OpenCV: pip install opencv-python-headless "
                          "(or pip install 'inpaintkit[bench]')") from e
    return cv2


@register_baseline("telea")
def telea_inpaint(y: torch.Tensor, mask: torch.Tensor, radius: float = 3.0) -> torch.Tensor:
    """OpenCV Telea fast-marching inpainting (cv2.INPAINT_TELEA, radius 3), needs opencv.

    OpenCV inpaints 8-bit images, so each image goes through uint8 (the one conversion in
    ``inpaintkit.utils``); the fill is therefore quantised to 1/255 steps of [0, 1], while the
    known pixels are copied from ``y`` bit for bit.

    Args:
        y: ``(B, 3, H, W)`` in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        radius: the neighbourhood radius OpenCV uses around each filled pixel.

    Returns:
        ``(B, 3, H, W)`` in [-1, 1], known pixels bit-identical to ``y``.

    Raises:
        ImportError: OpenCV is not installed (the message says what to install).

    References:
        A. Telea, "An Image Inpainting Technique Based on the Fast Marching Method", Journal of
        Graphics Tools 9(1), 2004.
    """
    cv2 = _import_cv2()
    if not radius > 0:
        raise ValueError(f"radius must be positive, got {radius}")
    y0, m = prepare_inputs(y, mask)
    imgs = to_uint8(y0)
    holes = ((1 - m[:, 0].detach().cpu().numpy()) * 255).astype(np.uint8)
    out = np.stack([cv2.inpaint(np.ascontiguousarray(img), hole, float(radius), cv2.INPAINT_TELEA)
                    for img, hole in zip(imgs, holes)])
    return composite_fill(y, m, from_uint8(out))
