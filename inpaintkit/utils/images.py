"""Image range conversions: the one conversion each way between [-1, 1] and [0, 1] / uint8."""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["to_unit", "from_unit", "to_uint8", "from_uint8"]


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
