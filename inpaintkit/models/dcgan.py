"""DCGAN generator and discriminator (Radford et al. 2016), as SPEC.md describes them.

G: z -> linear -> 4x4x(C0) -> stride-2 transposed convs, each halving channels and doubling size,
-> size x size x 3 -> tanh, with BatchNorm and ReLU in between.
D: the mirror image: stride-2 convs with LeakyReLU(0.2) and BatchNorm (none on the first layer),
down to 4x4x(C0), -> linear -> a single logit. D(x) = sigmoid(logit); callers keep the logit.

References:
    Radford, Metz, Chintala. Unsupervised Representation Learning with Deep Convolutional
    Generative Adversarial Networks. ICLR 2016.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
from torch import nn

from ._registry import register_model

__all__ = ["DCGANConfig", "Generator", "Discriminator", "build_dcgan", "init_weights", "apply_spectral_norm",
           "fold_spectral_norm"]


@dataclass(frozen=True)
class DCGANConfig:
    """Hyperparameters of a DCGAN pair.

    Args:
        image_size: output side, a power of two >= 8 (the papers use 64).
        nz: latent dimension.
        ngf: generator width; the 4x4 layer has ``ngf * 2**(n_up - 1)`` channels.
        ndf: discriminator width, mirrored.
        kernel_size: 4 (PyTorch DCGAN) or 5 (the TensorFlow DCGAN of Yeh et al.).
        channels: image channels.
    """

    image_size: int = 64
    nz: int = 100
    ngf: int = 64
    ndf: int = 64
    kernel_size: int = 4
    channels: int = 3

    def __post_init__(self) -> None:
        if self.image_size < 8 or self.image_size & (self.image_size - 1):
            raise ValueError(f"image_size must be a power of two >= 8, got {self.image_size}")
        if self.kernel_size not in (4, 5):
            raise ValueError(f"kernel_size must be 4 or 5, got {self.kernel_size}")
        for name in ("nz", "ngf", "ndf", "channels"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")

    @property
    def n_up(self) -> int:
        """Number of stride-2 layers between 4x4 and ``image_size``."""
        return int(math.log2(self.image_size // 4))

    def to_dict(self) -> dict:
        return asdict(self)


def _conv_args(k: int) -> dict:
    # Both settings exactly halve / double the spatial size with stride 2.
    return {"kernel_size": k, "stride": 2, "padding": 1 if k == 4 else 2}


class Generator(nn.Module):
    """DCGAN generator: ``(B, nz) -> (B, 3, S, S)`` in [-1, 1]."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        c0 = config.ngf * 2 ** (config.n_up - 1)
        self.project = nn.Linear(config.nz, c0 * 4 * 4, bias=False)
        self.project_bn = nn.BatchNorm1d(c0 * 4 * 4)  # (c0) x 4 x 4, normalised per unit as in TF DCGAN
        layers: list[nn.Module] = []
        ch = c0
        extra = {} if config.kernel_size == 4 else {"output_padding": 1}
        for i in range(config.n_up):
            last = i == config.n_up - 1
            out = config.channels if last else ch // 2
            # (ch) x s x s -> (out) x 2s x 2s
            layers.append(nn.ConvTranspose2d(ch, out, bias=last, **_conv_args(config.kernel_size), **extra))
            if not last:
                layers += [nn.BatchNorm2d(out), nn.ReLU(inplace=True)]
            ch = out
        layers.append(nn.Tanh())
        self.body = nn.Sequential(*layers)
        self._c0 = c0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.dim() != 2 or z.shape[1] != self.config.nz:
            raise ValueError(f"z must have shape (B, {self.config.nz}), got {tuple(z.shape)}")
        h = torch.relu(self.project_bn(self.project(z)))
        h = h.view(z.shape[0], self._c0, 4, 4)
        return self.body(h)


class Discriminator(nn.Module):
    """DCGAN discriminator: ``(B, 3, S, S) -> (B,)`` logits. ``D(x) = sigmoid(logit)``."""

    def __init__(self, config: DCGANConfig) -> None:
        super().__init__()
        self.config = config
        layers: list[nn.Module] = []
        ch = config.channels
        for i in range(config.n_up):
            out = config.ndf * 2**i
            # (ch) x s x s -> (out) x s/2 x s/2
            layers.append(nn.Conv2d(ch, out, bias=i == 0, **_conv_args(config.kernel_size)))
            if i > 0:
                layers.append(nn.BatchNorm2d(out))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            ch = out
        self.body = nn.Sequential(*layers)  # (ndf * 2**(n_up-1)) x 4 x 4
        self.head = nn.Linear(ch * 4 * 4, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.config.image_size
        if x.dim() != 4 or tuple(x.shape[1:]) != (self.config.channels, s, s):
            raise ValueError(
                f"discriminator expects (B, {self.config.channels}, {s}, {s}), got {tuple(x.shape)}"
            )
        return self.head(self.body(x).flatten(1)).squeeze(1)


def init_weights(module: nn.Module) -> None:
    """N(0, 0.02) for conv/linear weights; N(1, 0.02) scale and zero shift for BatchNorm."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def build_dcgan(config: DCGANConfig) -> tuple[Generator, Discriminator]:
    g, d = Generator(config), Discriminator(config)
    g.apply(init_weights)
    d.apply(init_weights)
    return g, d


def _variant(**defaults):
    def make(**overrides) -> DCGANConfig:
        return DCGANConfig(**{**defaults, **overrides})

    return make


register_model("dcgan_32")(_variant(image_size=32))
register_model("dcgan_64")(_variant(image_size=64))
register_model("dcgan_128")(_variant(image_size=128))
# A tiny variant for tests and --dry-run: 32x32, narrow, small latent.
register_model("dcgan_test")(_variant(image_size=32, nz=16, ngf=8, ndf=8))


def apply_spectral_norm(discriminator: Discriminator) -> Discriminator:
    """Put spectral normalisation on every conv and linear weight of ``discriminator``, in place.

    Miyato et al. normalise every weight layer so that each has spectral norm 1 (one power-iteration
    step per training forward pass); the BatchNorm layers of the DCGAN discriminator are kept.
    Uses ``torch.nn.utils.parametrizations.spectral_norm``.

    References:
        Miyato, Kataoka, Koyama, Yoshida. Spectral Normalization for Generative Adversarial
        Networks. ICLR 2018.
    """
    from torch.nn.utils.parametrizations import spectral_norm

    for m in discriminator.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            spectral_norm(m)
    return discriminator


@torch.no_grad()
def fold_spectral_norm(discriminator: Discriminator) -> Discriminator:
    """A plain :class:`Discriminator` whose weights are the spectrally normalised ones, ``W / sigma``.

    ``sigma`` comes from the stored power-iteration vectors, exactly as the normalised layer
    computes it in eval mode, so the folded copy gives the same logits as ``discriminator.eval()``.
    Checkpoints store the folded weights: every consumer (``load_gan``, the ``prior`` and
    ``inpaint`` losses) sees an ordinary DCGAN discriminator. A discriminator without
    normalisation comes back as a copy. The copy is in eval mode.
    """
    was_training = discriminator.training
    discriminator.eval()  # eval: no power-iteration step, sigma from the stored vectors
    own = discriminator.state_dict()
    plain = Discriminator(discriminator.config)
    folded = {}
    for key in plain.state_dict():
        if key in own:
            folded[key] = own[key].detach().clone()
        else:  # e.g. body.0.weight, computed by the parametrisation
            module, attr = key.rsplit(".", 1)
            folded[key] = getattr(discriminator.get_submodule(module), attr).detach().float().clone()
    discriminator.train(was_training)
    plain.load_state_dict(folded)
    return plain.eval()
