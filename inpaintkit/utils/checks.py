"""Checks at the API boundary, called once where data enters."""
from __future__ import annotations

import torch

__all__ = ["check_images"]


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
