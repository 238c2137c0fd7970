"""Image-quality metrics for inpainting: PSNR and SSIM, on the full image and on the hole alone.

Everything follows SPEC.md's evaluation protocol:

- Images are scored as **uint8 in [0, 255]**. Tensors in [-1, 1] are converted with
  :func:`inpaintkit.utils.to_uint8` (the project's one conversion; it rounds to nearest), so a
  metric never sees a value a saved PNG could not hold.
- **PSNR** is ``10 * log10(data_range**2 / MSE)``, the MSE taken over every pixel and channel of
  one image in float64, exactly as :func:`skimage.metrics.peak_signal_noise_ratio` computes it.
  Identical images give ``inf``.
- **SSIM** is Wang et al.'s: :func:`skimage.metrics.structural_similarity` with
  ``gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255,
  channel_axis=-1`` (an 11x11 Gaussian window). The full-image value is scikit-image's: the mean
  of the SSIM map over channels, leaving out the 5-pixel border strip where the window hangs over
  the edge.
- **Hole PSNR** is the PSNR of the MSE over the hole pixels (mask == 0) only, all channels.
- **Hole SSIM** is the mean of that same SSIM map over the hole pixels (and channels). The border
  strip is *not* left out here: the left-half hole touches the image border, and every hole pixel
  should count. Outside the strip, the map values are the ones the full-image SSIM averages.

Full-image numbers are diluted by the known pixels, which every method copies from the input; the
hole numbers are not (SPEC.md asks for both). Each metric is a function of NHWC arrays with an
explicit ``data_range`` (:func:`psnr`, :func:`ssim`, :func:`hole_psnr`, :func:`hole_ssim`) and a
module (:class:`PSNR`, :class:`SSIM`) that takes ``(B, 3, H, W)`` tensors in [-1, 1] and does the
uint8 conversion itself. :func:`inpainting_metrics` computes all four at once for a batch.
Each value is per image; a table averages them over images.

References:
    Wang, Bovik, Sheikh, Simoncelli. Image quality assessment: from error visibility to structural
    similarity. IEEE TIP 13(4), 2004.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from .utils import Registry, to_uint8

__all__ = [
    "METRICS", "list_metrics", "psnr", "ssim", "ssim_map", "hole_psnr", "hole_ssim", "l1", "hole_l1",
    "PSNR", "SSIM", "inpainting_metrics", "to_metric_arrays", "SSIM_SETTINGS", "lpips", "check_lpips",
    "lpips_weights_path", "LPIPSUnavailable", "LPIPS_BACKBONES",
]

#: The Wang et al. settings SPEC.md prescribes, passed to scikit-image verbatim (plus data_range).
SSIM_SETTINGS = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False}

METRICS: Registry[Callable[..., np.ndarray]] = Registry("metric")


def list_metrics(pattern: str = "*") -> list[str]:
    return METRICS.list(pattern)


# --- input validation -----------------------------------------------------------------------------

def _as_batch(a: np.ndarray | torch.Tensor, name: str) -> np.ndarray:
    if isinstance(a, torch.Tensor):
        raise TypeError(f"{name}: pass a NumPy NHWC array here; use PSNR()/SSIM() or "
                        "to_metric_arrays() for (B, 3, H, W) tensors in [-1, 1]")
    a = np.asarray(a)
    if a.ndim == 3:
        a = a[None]
    if a.ndim != 4 or a.shape[-1] not in (1, 3):
        raise ValueError(f"{name} must be (H, W, C) or (B, H, W, C) with C = 1 or 3, "
                         f"got shape {a.shape}")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise TypeError(f"{name} must be a numeric array, got {a.dtype}")
    if np.issubdtype(a.dtype, np.floating) and not np.isfinite(a).all():
        raise ValueError(f"{name} contains NaN or inf")
    return a


def _check_pair(pred, target, data_range: float) -> tuple[np.ndarray, np.ndarray]:
    p = _as_batch(pred, "pred")
    t = _as_batch(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred and target differ in shape: {p.shape} vs {t.shape}")
    if not np.isscalar(data_range) or not np.isfinite(data_range) or data_range <= 0:
        raise ValueError(f"data_range must be a positive number, got {data_range!r}")
    for name, a in (("pred", p), ("target", t)):
        lo, hi = float(a.min()), float(a.max())
        if lo < 0 or hi > data_range:
            raise ValueError(f"{name} values span [{lo:g}, {hi:g}], outside [0, data_range="
                             f"{data_range:g}]; convert [-1, 1] tensors with to_uint8 first")
    return p, t


def _hole(mask, shape: tuple[int, ...]) -> np.ndarray:
    """The hole (mask == 0) as bool ``(B, H, W)``, from a known-pixel mask in any usual layout."""
    if isinstance(mask, torch.Tensor):
        mask = mask.detach().cpu().numpy()
    m = np.asarray(mask)
    b, h, w = shape[0], shape[1], shape[2]
    if m.ndim == 4 and m.shape[1] == 1:  # (B, 1, H, W), the tensor convention
        m = m[:, 0]
    elif m.ndim == 4 and m.shape[-1] == 1:  # (B, H, W, 1)
        m = m[..., 0]
    if m.ndim == 2:
        m = m[None]
    if m.ndim != 3 or m.shape[-2:] != (h, w) or m.shape[0] not in (1, b):
        raise ValueError(f"mask must be (H, W), (B, H, W) or (B, 1, H, W) matching images of "
                         f"size {h}x{w} and batch {b}; got shape {np.asarray(mask).shape}")
    if m.dtype != bool:
        if not np.isin(m, (0, 1)).all():
            raise ValueError("mask must be binary (1 = known, 0 = hole)")
        m = m.astype(bool)
    hole = np.broadcast_to(~m, (b, h, w))
    empty = ~hole.reshape(b, -1).any(1)
    if empty.any():
        raise ValueError(f"mask {int(np.flatnonzero(empty)[0])} has no hole: hole metrics are "
                         "undefined")
    return hole


def _psnr_from_mse(mse: np.ndarray, data_range: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        return 10.0 * np.log10((float(data_range) ** 2) / mse)


# --- functions with an explicit data_range --------------------------------------------------------

@METRICS.register("psnr")
def psnr(pred: np.ndarray, target: np.ndarray, data_range: float) -> np.ndarray:
    """Peak signal-to-noise ratio per image, in dB.

    Args:
        pred, target: ``(H, W, C)`` or ``(B, H, W, C)`` arrays with values in ``[0, data_range]``.
        data_range: the value range, 255 for uint8 (SPEC.md).

    Returns:
        float64 ``(B,)``; ``inf`` where an image matches exactly.

    Shape:
        NHWC in, ``(B,)`` out.
    """
    p, t = _check_pair(pred, target, data_range)
    d = p.astype(np.float64) - t.astype(np.float64)
    return _psnr_from_mse((d * d).reshape(len(d), -1).mean(1), data_range)


@METRICS.register("psnr_hole")
def hole_psnr(pred: np.ndarray, target: np.ndarray, mask, data_range: float) -> np.ndarray:
    """PSNR over the hole only: the MSE averages the hole pixels' channels, nothing else.

    Args:
        pred, target: as in :func:`psnr`.
        mask: 1/True = known pixel, 0/False = hole; ``(H, W)``, ``(B, H, W)`` or ``(B, 1, H, W)``.
        data_range: as in :func:`psnr`.

    Returns:
        float64 ``(B,)``.
    """
    p, t = _check_pair(pred, target, data_range)
    hole = _hole(mask, p.shape)
    d = p.astype(np.float64) - t.astype(np.float64)
    se = (d * d).sum(-1)  # (B, H, W): summed over channels
    mse = (se * hole).reshape(len(d), -1).sum(1) / (hole.reshape(len(d), -1).sum(1) * p.shape[-1])
    return _psnr_from_mse(mse, data_range)


@METRICS.register("l1")
def l1(pred: np.ndarray, target: np.ndarray, data_range: float) -> np.ndarray:
    """Mean absolute error per image, as a fraction of ``data_range`` (0 = identical, 1 = worst).

    The L1 (MAE) column of LaMa-style evaluations, on images scaled to [0, 1]. Lower is better.

    Args:
        pred, target: as in :func:`psnr`.
        data_range: as in :func:`psnr`.

    Returns:
        float64 ``(B,)`` in [0, 1].
    """
    p, t = _check_pair(pred, target, data_range)
    d = np.abs(p.astype(np.float64) - t.astype(np.float64))
    return d.reshape(len(d), -1).mean(1) / float(data_range)


@METRICS.register("l1_hole")
def hole_l1(pred: np.ndarray, target: np.ndarray, mask, data_range: float) -> np.ndarray:
    """:func:`l1` over the hole only: the mean absolute error of the hole pixels' channels.

    Args:
        pred, target, data_range: as in :func:`l1`.
        mask: as in :func:`hole_psnr`.

    Returns:
        float64 ``(B,)`` in [0, 1].
    """
    p, t = _check_pair(pred, target, data_range)
    hole = _hole(mask, p.shape)
    ae = np.abs(p.astype(np.float64) - t.astype(np.float64)).sum(-1)  # (B, H, W)
    n = len(p)
    return ((ae * hole).reshape(n, -1).sum(1)
            / (hole.reshape(n, -1).sum(1) * p.shape[-1]) / float(data_range))


def ssim_map(pred: np.ndarray, target: np.ndarray, data_range: float,
             ) -> tuple[np.ndarray, np.ndarray]:
    """Wang et al. SSIM per image and its full map, straight from scikit-image.

    Returns:
        ``(ssim (B,), map (B, H, W, C))``: the first is scikit-image's value (the map's mean
        over channels, without the 5-pixel border strip).
    """
    from skimage.metrics import structural_similarity

    p, t = _check_pair(pred, target, data_range)
    if min(p.shape[1:3]) < 11:
        raise ValueError(f"SSIM with the Gaussian window needs images of at least 11x11, got "
                         f"{p.shape[1]}x{p.shape[2]}")
    values, maps = [], []
    for a, b in zip(p, t):
        v, s = structural_similarity(b, a, data_range=float(data_range), channel_axis=-1,
                                     full=True, **SSIM_SETTINGS)
        values.append(v)
        maps.append(s)
    return np.asarray(values, dtype=np.float64), np.stack(maps).astype(np.float64)


@METRICS.register("ssim")
def ssim(pred: np.ndarray, target: np.ndarray, data_range: float) -> np.ndarray:
    """Structural similarity per image, with SPEC.md's Wang et al. settings.

    Args:
        pred, target: ``(H, W, C)`` or ``(B, H, W, C)``, values in ``[0, data_range]``, at
            least 11x11.
        data_range: 255 for uint8.

    Returns:
        float64 ``(B,)``.

    References:
        Wang et al., IEEE TIP 2004; computed by :func:`skimage.metrics.structural_similarity`.
    """
    return ssim_map(pred, target, data_range)[0]


@METRICS.register("ssim_hole")
def hole_ssim(pred: np.ndarray, target: np.ndarray, mask, data_range: float) -> np.ndarray:
    """SSIM over the hole: the mean of the SSIM map over hole pixels and channels.

    The map is the one :func:`ssim` averages; the border strip is kept (see the module docstring).

    Returns:
        float64 ``(B,)``.
    """
    _, maps = ssim_map(pred, target, data_range)
    hole = _hole(mask, maps.shape)
    per_pixel = maps.mean(-1)  # (B, H, W)
    return (per_pixel * hole).reshape(len(maps), -1).sum(1) / hole.reshape(len(maps), -1).sum(1)


# --- tensors in [-1, 1] ---------------------------------------------------------------------------

def to_metric_arrays(x: torch.Tensor, name: str = "images") -> np.ndarray:
    """``(B, 3, H, W)`` in [-1, 1] -> uint8 NHWC, through the project's one conversion.

    Raises:
        ValueError: wrong shape, or NaN/inf values (which would otherwise be silently clamped).
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(f"{name} must have shape (B, 3, H, W), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{name} contains NaN or inf")
    return to_uint8(x)


def inpainting_metrics(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                       ) -> dict[str, np.ndarray]:
    """All four metrics for a batch, as the benchmark records them.

    Args:
        output: the inpainted images, ``(B, 3, H, W)`` in [-1, 1].
        target: the ground truth, same shape.
        mask: ``(B|1, 1, H, W)``, 1 = known.

    Returns:
        ``{"psnr", "ssim", "psnr_hole", "ssim_hole", "l1", "l1_hole"}``, each float64 ``(B,)``
        (L1 as a fraction of the uint8 range).
    """
    p, t = to_metric_arrays(output, "output"), to_metric_arrays(target, "target")
    values, maps = ssim_map(p, t, 255)
    hole = _hole(mask, p.shape)
    n = len(p)
    return {
        "psnr": psnr(p, t, 255),
        "ssim": values,
        "psnr_hole": hole_psnr(p, t, mask, 255),
        "ssim_hole": (maps.mean(-1) * hole).reshape(n, -1).sum(1) / hole.reshape(n, -1).sum(1),
        "l1": l1(p, t, 255),
        "l1_hole": hole_l1(p, t, mask, 255),
    }


class _TensorMetric(nn.Module):
    region: str

    def __init__(self, region: str = "full") -> None:
        super().__init__()
        if region not in ("full", "hole"):
            raise ValueError(f"region must be 'full' or 'hole', got {region!r}")
        self.region = region

    def _arrays(self, output, target, mask):
        if self.region == "hole" and mask is None:
            raise ValueError(f"{type(self).__name__}(region='hole') needs the mask")
        return to_metric_arrays(output, "output"), to_metric_arrays(target, "target")

    def extra_repr(self) -> str:
        return f"region={self.region!r}"


class PSNR(_TensorMetric):
    """PSNR of ``(B, 3, H, W)`` images in [-1, 1], scored as uint8 (data_range 255).

    Args:
        region: ``"full"`` (the whole image) or ``"hole"`` (mask == 0 only).

    Shape:
        - output, target: ``(B, 3, H, W)`` in [-1, 1]
        - mask: ``(B|1, 1, H, W)``, 1 = known (needed for ``region="hole"``)
        - returns: float64 tensor ``(B,)`` in dB
    """

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        p, t = self._arrays(output, target, mask)
        v = psnr(p, t, 255) if self.region == "full" else hole_psnr(p, t, mask, 255)
        return torch.from_numpy(v)


class SSIM(_TensorMetric):
    """SSIM (Wang et al. settings) of ``(B, 3, H, W)`` images in [-1, 1], scored as uint8.

    Args:
        region: ``"full"`` or ``"hole"`` (see the module docstring for the hole's definition).

    Shape:
        as :class:`PSNR`.
    """

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        p, t = self._arrays(output, target, mask)
        v = ssim(p, t, 255) if self.region == "full" else hole_ssim(p, t, mask, 255)
        return torch.from_numpy(v)


# --- LPIPS: only with backbone weights already on disk ------------------------------------------------

#: LPIPS backbones and their torchvision weights (ImageNet), which LPIPS needs besides its own
#: linear layers (shipped with torchmetrics).
LPIPS_BACKBONES = {"alex": "AlexNet_Weights", "vgg": "VGG16_Weights",
                   "squeeze": "SqueezeNet1_1_Weights"}
_LPIPS_NETS: dict[str, nn.Module] = {}


class LPIPSUnavailable(ValueError):
    """LPIPS was asked for, but its backbone's weights are not on disk (they are never downloaded)."""


def lpips_weights_path(net: str = "alex"):
    """Where torchvision keeps the backbone weights LPIPS needs (``$TORCH_HOME/hub/checkpoints``)."""
    import os
    from pathlib import Path

    import torchvision

    if net not in LPIPS_BACKBONES:
        raise ValueError(f"unknown LPIPS backbone {net!r}; choose one of {', '.join(LPIPS_BACKBONES)}")
    url = getattr(torchvision.models, LPIPS_BACKBONES[net]).DEFAULT.url
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(url)


def check_lpips(net: str = "alex") -> None:
    """Raise :class:`LPIPSUnavailable`, naming the file, unless LPIPS can run without a download."""
    path = lpips_weights_path(net)
    if not path.is_file():
        raise LPIPSUnavailable(
            f"LPIPS ({net}) needs the ImageNet weights of its backbone at {path}, which are not on "
            f"this machine, and inpaintkit never downloads them: copy that file there (or set "
            f"TORCH_HOME to a folder holding hub/checkpoints/{path.name}), or leave LPIPS out")


@torch.no_grad()
def lpips(output: torch.Tensor, target: torch.Tensor, net: str = "alex") -> np.ndarray:
    """LPIPS (Zhang et al. 2018) per image, through torchmetrics; lower is more similar.

    Args:
        output, target: ``(B, 3, H, W)`` in [-1, 1].
        net: the backbone, ``alex`` (the usual choice), ``vgg`` or ``squeeze``.

    Returns:
        float64 ``(B,)``.

    Raises:
        LPIPSUnavailable: the backbone's weights are not on disk.

    References:
        Zhang, Isola, Efros, Shechtman, Wang. The Unreasonable Effectiveness of Deep Features as a
        Perceptual Metric. CVPR 2018.
    """
    check_lpips(net)
    from .utils import check_images

    check_images(output, "output")
    check_images(target, "target", size=tuple(output.shape[-2:]))
    if net not in _LPIPS_NETS:
        from torchmetrics.image.lpip import LearnedPerceptualImagePatchSimilarity

        metric = LearnedPerceptualImagePatchSimilarity(net_type=net, reduction="none")
        _LPIPS_NETS[net] = metric.net.eval()
    model = _LPIPS_NETS[net].to(output.device)
    out = model(output.float().clamp(-1, 1), target.float().clamp(-1, 1), normalize=False)
    return out.reshape(len(output)).double().cpu().numpy()
