"""``ce``: the Context Encoder (Pathak et al. 2016), a learned feed-forward inpainting baseline.

Yeh et al. compare their GAN-prior search against it in every table: a network that sees the
corrupted image and predicts the hole in one forward pass. This is the 64x64 version of its
encoder-decoder, adapted to arbitrary masks:

- the input is the corrupted image with the hole set to 0 (mid-grey in [-1, 1]) and the mask as a
  fourth channel, so one network serves center, half, random and block masks;
- a conv encoder (stride-2 4x4 convolutions, BatchNorm, LeakyReLU 0.2) down to ``C x 4 x 4``;
- the *channel-wise fully connected* layer of the paper: each of the ``C`` feature maps is mapped
  by its own ``16 x 16`` linear layer (global context within a channel at ``C * 16^2`` parameters
  instead of ``(C * 16)^2``), followed by a 1x1 convolution that mixes the channels;
- a deconv decoder mirroring the encoder (BatchNorm, ReLU) back to ``3 x S x S`` and tanh.

It is trained (:mod:`inpaintkit.train_context_encoder`) with the paper's joint loss, 0.999 x the L2
reconstruction error over the hole plus 0.001 x the adversarial loss of a DCGAN discriminator that
sees the composite. At inference the prediction is pasted into the hole; the known pixels are
copied bit for bit and the hole of ``y`` is never read.

References:
    D. Pathak, P. Krähenbühl, J. Donahue, T. Darrell, A. A. Efros, "Context Encoders: Feature
    Learning by Inpainting", CVPR 2016.
"""
from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..models import CheckpointError, load_state, read_checkpoint, state_dict_for_storage
from ..utils import atomic_torch_save
from ._common import composite_fill, prepare_inputs, register_baseline

__all__ = ["ContextEncoderConfig", "ContextEncoder", "ChannelwiseFC", "CE_FORMAT",
           "save_context_encoder", "load_context_encoder", "context_encoder_inpaint",
           "BUNDLED_CE"]

CE_FORMAT = "inpaintkit.context_encoder/1"

#: File name of the synthetic-cars Context Encoder bundled in ``inpaintkit/assets/``.
BUNDLED_CE = "synthetic-cars-ce.pt"


@dataclass(frozen=True)
class ContextEncoderConfig:
    """Hyperparameters of a Context Encoder.

    Args:
        image_size: side of the square images it was trained on, a power of two >= 16.
        nef: encoder width (channels of the first conv; doubled at every stride-2 layer).
        ngf: decoder width at full resolution (mirrored).
        channels: image channels (the network sees ``channels + 1`` with the mask).
    """

    image_size: int = 64
    nef: int = 64
    ngf: int = 64
    channels: int = 3

    def __post_init__(self) -> None:
        if self.image_size < 16 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 16, got {self.image_size}")
        for name in ("nef", "ngf", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def n_down(self) -> int:
        """Number of stride-2 layers between the image and the 4x4 bottleneck."""
        return int(math.log2(self.image_size // 4))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class ChannelwiseFC(nn.Module):
    """Channel-wise fully connected layer: feature map ``c`` (``n = H*W`` values) -> ``W_c @ x_c + b_c``.

    Shape:
        ``(B, C, H, W) -> (B, C, H, W)``; parameters ``(C, n, n)`` and ``(C, n)``.
    """

    def __init__(self, channels: int, size: int) -> None:
        super().__init__()
        n = size * size
        self.weight = nn.Parameter(torch.randn(channels, n, n) * (1.0 / math.sqrt(n)))
        self.bias = nn.Parameter(torch.zeros(channels, n))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        flat = x.reshape(b, c, h * w)
        out = torch.einsum("bcn,cmn->bcm", flat, self.weight.to(flat.dtype)) + self.bias.to(flat.dtype)
        return out.reshape(b, c, h, w)


class ContextEncoder(nn.Module):
    """``(y with hole zeroed, mask) -> full-image prediction`` in [-1, 1].

    ``forward(y0, mask)``: ``y0`` ``(B, 3, S, S)`` with 0 in the hole, ``mask`` ``(B, 1, S, S)``
    float, 1 = known. Use :func:`context_encoder_inpaint` (the ``ce`` baseline) to inpaint: it
    validates, zeroes the hole, resizes other image sizes and composites.
    """

    def __init__(self, config: ContextEncoderConfig) -> None:
        super().__init__()
        self.config = config
        n = config.n_down
        enc: list[nn.Module] = []
        ch = config.channels + 1
        for i in range(n):
            out = config.nef * 2**i
            # (ch) x s x s -> (out) x s/2 x s/2
            enc.append(nn.Conv2d(ch, out, 4, 2, 1, bias=i == 0))
            if i > 0:
                enc.append(nn.BatchNorm2d(out))
            enc.append(nn.LeakyReLU(0.2, inplace=True))
            ch = out
        self.encoder = nn.Sequential(*enc)  # (nef * 2**(n-1)) x 4 x 4
        c_mid = config.ngf * 2 ** (n - 1)
        self.bottleneck = nn.Sequential(
            ChannelwiseFC(ch, 4),
            nn.Conv2d(ch, c_mid, 1, bias=False),  # mixes the channels, as the paper's 1x1 conv
            nn.BatchNorm2d(c_mid),
            nn.ReLU(inplace=True),
        )
        dec: list[nn.Module] = []
        ch = c_mid
        for i in range(n):
            last = i == n - 1
            out = config.channels if last else ch // 2
            # (ch) x s x s -> (out) x 2s x 2s
            dec.append(nn.ConvTranspose2d(ch, out, 4, 2, 1, bias=last))
            if not last:
                dec += [nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            ch = out
        dec.append(nn.Tanh())
        self.decoder = nn.Sequential(*dec)
        self.apply(_init_weights)

    def forward(self, y0: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        s, c = self.config.image_size, self.config.channels
        if y0.dim() != 4 or tuple(y0.shape[1:]) != (c, s, s):
            raise ValueError(f"context encoder expects y of shape (B, {c}, {s}, {s}), "
                             f"got {tuple(y0.shape)}")
        if tuple(mask.shape[1:]) != (1, s, s) or mask.shape[0] not in (1, y0.shape[0]):
            raise ValueError(f"context encoder expects a mask of shape (B, 1, {s}, {s}), "
                             f"got {tuple(mask.shape)}")
        mask = mask.to(y0.dtype).expand(y0.shape[0], 1, s, s)
        return self.decoder(self.bottleneck(self.encoder(torch.cat([y0 * mask, mask], 1))))


def _init_weights(module: nn.Module) -> None:
    # N(0, 0.02) as the DCGAN recipe the paper's code follows; the channel-wise FC keeps its
    # 1/sqrt(n) scale so the bottleneck neither vanishes nor explodes at the start
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


# --- checkpoints ----------------------------------------------------------------------------------

def save_context_encoder(path: str | os.PathLike, model: ContextEncoder,
                         discriminator: nn.Module | None = None, meta: dict[str, Any] | None = None,
                         train_state: dict[str, Any] | None = None,
                         storage_dtype: torch.dtype | None = None) -> None:
    """Write a self-describing Context Encoder checkpoint atomically.

    ``{"format", "arch": "context_encoder", "config", "state_dict": {"generator", ["discriminator",
    "discriminator_config"]}, "meta", ["train_state"]}``; ``storage_dtype=torch.float16`` halves
    the file (:func:`load_context_encoder` restores fp32).
    """
    sd: dict[str, Any] = {"generator": state_dict_for_storage(model.state_dict(), storage_dtype)}
    ckpt: dict[str, Any] = {"format": CE_FORMAT, "arch": "context_encoder",
                            "config": model.config.to_dict(), "state_dict": sd, "meta": meta or {}}
    if discriminator is not None:
        sd["discriminator"] = state_dict_for_storage(discriminator.state_dict(), storage_dtype)
        ckpt["discriminator_config"] = discriminator.config.to_dict()
    if train_state is not None:
        ckpt["train_state"] = train_state
    atomic_torch_save(ckpt, path)


def load_context_encoder(path: str | os.PathLike, device: str | torch.device = "cpu",
                         ) -> tuple[ContextEncoder, dict[str, Any]]:
    """Rebuild ``(model, checkpoint)`` in eval mode, fp32, on ``device`` (``weights_only=True``).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: unreadable, not a Context Encoder checkpoint (e.g. a DCGAN or classifier
            checkpoint), or weights that do not fit their declared config.
    """
    path = Path(path)
    ckpt = read_checkpoint(path)
    if ckpt.get("format") != CE_FORMAT:
        raise CheckpointError(f"{path} is not a Context Encoder checkpoint (format "
                              f"{ckpt.get('format')!r}, expected {CE_FORMAT!r}); train one with "
                              f"'inpaintkit train-context-encoder'")
    try:
        config = ContextEncoderConfig(**ckpt["config"])
        sd = ckpt["state_dict"]["generator"]
    except (KeyError, TypeError, ValueError) as e:
        raise CheckpointError(f"{path}: malformed Context Encoder checkpoint ({e})") from e
    model = ContextEncoder(config)
    load_state(model, sd, "context encoder", path)
    return model.to(device).eval(), ckpt


_CACHE: dict[tuple[str, float, str], ContextEncoder] = {}


def _cached_model(path: str | os.PathLike, device: torch.device) -> ContextEncoder:
    """Load a checkpoint once per (file, modification time, device)."""
    p = Path(path).resolve()
    if not p.is_file():
        raise FileNotFoundError(f"Context Encoder checkpoint not found: {p}")
    key = (str(p), p.stat().st_mtime, str(device))
    if key not in _CACHE:
        _CACHE[key] = load_context_encoder(p, device=device)[0]
    return _CACHE[key]


def _bundled_path() -> Path:
    from ..bench import assets_dir

    return assets_dir() / BUNDLED_CE


# --- the baseline ---------------------------------------------------------------------------------

@register_baseline("ce")
def context_encoder_inpaint(y: torch.Tensor, mask: torch.Tensor,
                            model: ContextEncoder | str | os.PathLike | None = None,
                            batch_size: int = 256) -> torch.Tensor:
    """Context Encoder (Pathak et al. 2016): a trained encoder-decoder predicts the hole in one pass.

    Images of another size than the model's are resized to it (bilinear, antialiased) together
    with their mask, and the prediction is resized back before it is pasted into the hole; a model
    trained at the data's size is what the benchmarks use.

    Args:
        y: ``(B, 3, H, W)`` in [-1, 1]; the hole is never read.
        mask: ``(B|1, 1, H, W)``, 1 = known.
        model: a :class:`ContextEncoder`, or the path of a checkpoint written by
            ``inpaintkit train-context-encoder``; default: the bundled synthetic-cars model
            (``inpaintkit/assets/synthetic-cars-ce.pt``, 64x64).
        batch_size: images per forward pass.

    Returns:
        ``(B, 3, H, W)`` in [-1, 1], known pixels bit-identical to ``y``.

    Raises:
        FileNotFoundError: the checkpoint (or the bundled one) is missing.
        CheckpointError: the file is not a Context Encoder checkpoint.

    References:
        D. Pathak et al., "Context Encoders: Feature Learning by Inpainting", CVPR 2016.
    """
    if not (isinstance(batch_size, int) and batch_size >= 1):
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    y0, m = prepare_inputs(y, mask)
    if model is None:
        path = _bundled_path()
        if not path.is_file():
            raise FileNotFoundError(
                f"the ce baseline's bundled model {path} is missing; pass model=CKPT (bench: --ce "
                f"CKPT), trained with 'inpaintkit train-context-encoder'")
        model = path
    net = model if isinstance(model, ContextEncoder) else _cached_model(model, y.device)
    net = net.to(y.device)
    s = net.config.image_size
    h, w = y.shape[-2:]
    dtype = next(net.parameters()).dtype
    preds = []
    with torch.no_grad():
        for k in range(0, y0.shape[0], batch_size):
            yb, mb = y0[k:k + batch_size].to(dtype), m[k:k + batch_size].to(dtype)
            if (h, w) != (s, s):
                mb_in = F.interpolate(mb, size=(s, s), mode="bilinear", antialias=True,
                                      align_corners=False)
                yb = F.interpolate(yb * mb, size=(s, s), mode="bilinear", antialias=True,
                                   align_corners=False)
                # a known-weighted average: the zeroed hole does not darken the pixels around it
                yb = torch.where(mb_in > 1e-3, yb / mb_in.clamp_min(1e-3), torch.zeros_like(yb))
                mb = (mb_in > 0.5).to(dtype)
            pred = net.eval()(yb, mb)
            if (h, w) != (s, s):
                pred = F.interpolate(pred, size=(h, w), mode="bilinear", align_corners=False)
            preds.append(pred)
    return composite_fill(y, m, torch.cat(preds))
