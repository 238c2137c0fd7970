"""``biharmonic``: scikit-image's biharmonic inpainting, one image at a time.

The hole is filled with the smooth function whose bilaplacian vanishes there, with the known
pixels as boundary values (Damelin and Hoang 2018), per colour channel.
"""
from __future__ import annotations

import numpy as np
import torch

from ._common import composite_fill, prepare_inputs, register_baseline

__all__ = ["biharmonic_inpaint"]


@register_baseline("biharmonic")
def biharmonic_inpaint(y: torch.Tensor, mask: torch.Tensor,
                       split_into_regions: bool = False) -> torch.Tensor:
    """Biharmonic inpainting (scikit-image ``inpaint_biharmonic``, channel_axis=-1).

    Runs on the CPU in float64 on each image of the batch; the result comes back on ``y``'s device.

    Args:
        y: ``(B, 3, H, W)`` in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        split_into_regions: solve each connected hole separately (scikit-image's option; faster
            for many small holes, same result).

    Returns:
        ``(B, 3, H, W)`` in [-1, 1], known pixels bit-identical to ``y``.

    References:
        S. B. Damelin and N. S. Hoang, "On Surface Completion and Image Inpainting by Biharmonic
        Functions: Numerical Aspects", Int. J. Math. Math. Sci., 2018.
    """
    from skimage.restoration import inpaint_biharmonic

    y0, m = prepare_inputs(y, mask)
    imgs = y0.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).numpy()
    holes = ~m[:, 0].detach().cpu().bool().numpy()
    out = np.stack([inpaint_biharmonic(img, hole, split_into_regions=split_into_regions,
                                       channel_axis=-1)
                    for img, hole in zip(imgs, holes)])
    return composite_fill(y, m, torch.from_numpy(out).permute(0, 3, 1, 2))
