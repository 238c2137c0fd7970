"""Classifier architectures: GoogLeNet per the ETH recipe, and any timm model as ``timm:NAME``.

The registry holds factories ``(num_classes, **kwargs) -> nn.Module``. Names starting with
``timm:`` are not registered one by one: ``create_classifier("timm:resnet18", 196)`` calls
``timm.create_model("resnet18", pretrained=False, num_classes=196)``.

Every model built here exposes the same two methods, which the trainer and the feature networks
use instead of ``forward``:

- ``forward_train(x) -> (logits, [aux_logits, ...])`` (aux heads only in training mode);
- ``feature_layer_names()`` -> the names :mod:`classifiers.features` may extract.

References:
    Szegedy et al., "Going Deeper with Convolutions", CVPR 2015 (GoogLeNet).
    The ETH classifier-loss study (shared papers/003): GoogLeNet with the first two max-pools
    removed for 64x64 inputs, two auxiliary heads of 512 hidden units, dropout 0.3.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from inpaintkit.utils import Registry

__all__ = [
    "CLASSIFIERS", "register_classifier", "list_classifiers", "create_classifier",
    "GoogLeNetETH", "InceptionAuxETH", "GOOGLENET_LAYERS", "load_pretrained_googlenet",
    "TimmClassifier",
]

CLASSIFIERS: Registry[Callable[..., nn.Module]] = Registry("classifier")

#: The GoogLeNet layers a feature network can return, in forward order.
GOOGLENET_LAYERS = ("inception3a", "inception3b", "inception4a", "inception4b", "inception4c",
                    "inception4d", "inception4e", "inception5a", "inception5b")

# torchvision's channel plan: (ch1x1, ch3x3red, ch3x3, ch5x5red, ch5x5, pool_proj) per block.
_INCEPTION_PLAN = {
    "inception3a": (64, 96, 128, 16, 32, 32),
    "inception3b": (128, 128, 192, 32, 96, 64),
    "inception4a": (192, 96, 208, 16, 48, 64),
    "inception4b": (160, 112, 224, 24, 64, 64),
    "inception4c": (128, 128, 256, 24, 64, 64),
    "inception4d": (112, 144, 288, 32, 64, 64),
    "inception4e": (256, 160, 320, 32, 128, 128),
    "inception5a": (256, 160, 320, 32, 128, 128),
    "inception5b": (384, 192, 384, 48, 128, 128),
}


def register_classifier(name: str):
    """Register ``factory(num_classes, **kwargs) -> nn.Module`` under ``name``."""
    return CLASSIFIERS.register(name)


def list_classifiers(pattern: str = "*") -> list[str]:
    """Registered names; any ``timm:NAME`` (a timm model name) is accepted as well."""
    return CLASSIFIERS.list(pattern)


def create_classifier(arch: str, num_classes: int, **kwargs: Any) -> nn.Module:
    """Build a classifier by name, randomly initialised.

    Args:
        arch: a registered name (``googlenet``, ``googlenet_tiny``) or ``timm:NAME``.
        num_classes: number of output classes.
        **kwargs: passed to the factory; ``None`` values are dropped so its defaults apply.

    Returns:
        An ``nn.Module`` with ``forward_train`` and ``feature_layer_names`` (see module doc).

    Raises:
        KeyError: unknown architecture (the message lists the known ones).
        ValueError: ``num_classes < 2``.
    """
    if int(num_classes) < 2:
        raise ValueError(f"a classifier needs at least 2 classes, got num_classes={num_classes}")
    if arch.startswith("timm:"):
        return TimmClassifier(arch[len("timm:"):], int(num_classes),
                              **{k: v for k, v in kwargs.items() if v is not None})
    return CLASSIFIERS.build(arch, num_classes=int(num_classes), **kwargs)


# --- GoogLeNet, ETH variant ---------------------------------------------------------------------------

class InceptionAuxETH(nn.Module):
    """Auxiliary head: 4x4 average pool, 1x1 conv to 128, FC to ``hidden`` (512), dropout, FC.

    torchvision's head has 1024 hidden units; the ETH recipe uses 512. The pool is adaptive,
    so at 64x64 input (16x16 maps at inception4a/4d) it matches the paper's 5x5/3 average pool.
    """

    def __init__(self, in_channels: int, num_classes: int, hidden: int = 512, conv_channels: int = 128,
                 dropout: float = 0.3) -> None:
        super().__init__()
        from torchvision.models.googlenet import BasicConv2d

        self.conv = BasicConv2d(in_channels, conv_channels, kernel_size=1)
        self.fc1 = nn.Linear(conv_channels * 16, hidden)
        self.fc2 = nn.Linear(hidden, num_classes)
        self.dropout = nn.Dropout(p=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(F.adaptive_avg_pool2d(x, (4, 4)))  # N x 128 x 4 x 4
        x = F.relu(self.fc1(torch.flatten(x, 1)), inplace=True)
        return self.fc2(self.dropout(x))


class GoogLeNetETH(nn.Module):
    """torchvision's GoogLeNet (same module names and, at ``width=1``, the same trunk weights
    shapes) changed as in the ETH recipe.

    Changes from ``torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=True)``:

    - ``maxpool1`` and ``maxpool2`` are ``nn.Identity`` (for 64x64 inputs: inception3 then runs
      at 32x32, inception4 at 16x16, inception5 at 8x8);
    - the two auxiliary heads have 512 hidden units (:class:`InceptionAuxETH`);
    - dropout 0.3 before the final FC and in the auxiliary heads (keep-probability 0.7);
    - ``width`` scales every channel count (1.0 is the real network; 0.25 gives a ~0.5 M-parameter
      net for tests and bundled checkpoints);
    - no ``transform_input``: normalisation is the caller's (see :mod:`classifiers.features`).

    Args:
        num_classes: output classes.
        width: channel multiplier.
        aux_logits: build the two auxiliary heads (used in training only).
        dropout: dropout probability before the final FC and inside the auxiliary heads.
        aux_hidden: hidden units in the auxiliary heads (512 in the recipe), scaled by ``width``.
        remove_stem_pools: the ETH change; False gives torchvision's stem (for 224 px inputs).
        init_weights: torchvision's truncated-normal(0.01) init; False keeps PyTorch's defaults.
        frozen: submodules whose parameters and BatchNorm statistics stay fixed in training
            (``--pretrained`` sets inception4a-4c, as in the recipe).

    Shape:
        - input: ``(B, 3, H, W)``, already normalised
        - output: ``(B, num_classes)`` logits
    """

    layer_names = GOOGLENET_LAYERS

    def __init__(self, num_classes: int = 196, width: float = 1.0, aux_logits: bool = True,
                 dropout: float = 0.3, aux_hidden: int = 512, remove_stem_pools: bool = True,
                 init_weights: bool = True, frozen: tuple[str, ...] | list[str] = ()) -> None:
        super().__init__()
        from torchvision.models.googlenet import BasicConv2d, Inception

        if width <= 0:
            raise ValueError(f"width must be > 0, got {width}")

        def c(n: int) -> int:
            return max(1, int(round(n * width)))

        self.num_classes = num_classes
        self.aux_logits = aux_logits
        self.conv1 = BasicConv2d(3, c(64), kernel_size=7, stride=2, padding=3)
        self.maxpool1 = nn.Identity() if remove_stem_pools else nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.conv2 = BasicConv2d(c(64), c(64), kernel_size=1)
        self.conv3 = BasicConv2d(c(64), c(192), kernel_size=3, padding=1)
        self.maxpool2 = nn.Identity() if remove_stem_pools else nn.MaxPool2d(3, stride=2, ceil_mode=True)
        in_ch = c(192)
        out_ch: dict[str, int] = {}
        for name, plan in _INCEPTION_PLAN.items():
            p = [c(n) for n in plan]
            setattr(self, name, Inception(in_ch, *p))
            in_ch = p[0] + p[2] + p[4] + p[5]
            out_ch[name] = in_ch
        self.maxpool3 = nn.MaxPool2d(3, stride=2, ceil_mode=True)
        self.maxpool4 = nn.MaxPool2d(2, stride=2, ceil_mode=True)
        self.channels = out_ch
        if aux_logits:
            kw = dict(hidden=c(aux_hidden), conv_channels=c(128), dropout=dropout)
            self.aux1 = InceptionAuxETH(out_ch["inception4a"], num_classes, **kw)
            self.aux2 = InceptionAuxETH(out_ch["inception4d"], num_classes, **kw)
        else:
            self.aux1 = None
            self.aux2 = None
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.dropout = nn.Dropout(p=dropout)
        self.fc = nn.Linear(out_ch["inception5b"], num_classes)
        self.frozen: tuple[str, ...] = ()
        if init_weights:
            for m in self.modules():
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    nn.init.trunc_normal_(m.weight, mean=0.0, std=0.01, a=-2, b=2)
                elif isinstance(m, nn.BatchNorm2d):
                    nn.init.constant_(m.weight, 1)
                    nn.init.constant_(m.bias, 0)
        if frozen:
            self.freeze_layers(frozen)

    def feature_layer_names(self) -> tuple[str, ...]:
        return GOOGLENET_LAYERS

    def feature_channels(self) -> dict[str, int]:
        return dict(self.channels)

    def run(self, x: torch.Tensor, layers: tuple[str, ...] | list[str] = (), with_aux: bool = False,
            logits: bool = True) -> tuple[torch.Tensor | None, list[torch.Tensor], dict[str, torch.Tensor]]:
        """One forward pass: ``(logits, aux_logits, {layer: activation})``.

        With ``logits=False`` the pass stops after the deepest requested layer and returns
        ``None`` for the logits (what ``sem`` without ``cat`` needs).
        """
        feats: dict[str, torch.Tensor] = {}
        aux: list[torch.Tensor] = []
        want = set(layers)
        if not logits and not want:
            return None, aux, feats
        x = self.maxpool2(self.conv3(self.conv2(self.maxpool1(self.conv1(x)))))
        for name in GOOGLENET_LAYERS:
            if name == "inception4a":
                x = self.maxpool3(x)
            elif name == "inception5a":
                x = self.maxpool4(x)
            x = getattr(self, name)(x)
            if name in want:
                feats[name] = x
                if not logits and len(feats) == len(want):
                    return None, aux, feats
            if with_aux and self.aux_logits:
                if name == "inception4a":
                    aux.append(self.aux1(x))
                elif name == "inception4d":
                    aux.append(self.aux2(x))
        x = self.fc(self.dropout(torch.flatten(self.avgpool(x), 1)))
        return x, aux, feats

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        logits, aux, _ = self.run(x, with_aux=self.training)
        return logits, aux

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.run(x)[0]

    def freeze_layers(self, names: tuple[str, ...] | list[str]) -> None:
        """Freeze parameters and BatchNorm statistics of the named submodules (kept in eval mode)."""
        unknown = [n for n in names if n not in GOOGLENET_LAYERS + ("conv1", "conv2", "conv3")]
        if unknown:
            raise KeyError(f"cannot freeze unknown GoogLeNet layer(s) {unknown}")
        for n in names:
            getattr(self, n).requires_grad_(False)
        self.frozen = tuple(names)
        self.train(self.training)

    def train(self, mode: bool = True) -> "GoogLeNetETH":
        super().train(mode)
        for n in getattr(self, "frozen", ()):
            getattr(self, n).eval()
        return self


@register_classifier("googlenet")
def googlenet(num_classes: int, pretrained: str | os.PathLike | None = None, **kwargs: Any) -> GoogLeNetETH:
    """GoogLeNet per the ETH recipe (:class:`GoogLeNetETH`).

    Args:
        pretrained: path of an ImageNet GoogLeNet state dict (torchvision's key names, e.g. the
            ``googlenet-1378be20.pth`` file); see :func:`load_pretrained_googlenet`. The trunk is
            loaded strictly, the heads stay freshly initialised for ``num_classes``, and
            inception 4a-4c are frozen as in the recipe.
    """
    if pretrained:
        kwargs.setdefault("frozen", ("inception4a", "inception4b", "inception4c"))
    model = GoogLeNetETH(num_classes=num_classes, **kwargs)
    if pretrained:
        load_pretrained_googlenet(model, pretrained)
    return model


@register_classifier("googlenet_tiny")
def googlenet_tiny(num_classes: int, **kwargs: Any) -> GoogLeNetETH:
    """The ETH GoogLeNet at a quarter of the width (~0.5 M parameters): for tests, the synthetic
    benchmark and checkpoints small enough to bundle."""
    kwargs.setdefault("width", 0.25)
    return googlenet(num_classes, **kwargs)


def _is_trunk_key(k: str) -> bool:
    return k.startswith(("conv1.", "conv2.", "conv3.", "inception"))


def load_pretrained_googlenet(model: GoogLeNetETH, path: str | os.PathLike) -> None:
    """Load ImageNet GoogLeNet weights from a local file into ``model``'s trunk.

    The file is a state dict with torchvision's names (optionally wrapped in ``{"state_dict": ...}``),
    read with ``weights_only=True``. The trunk (conv1-3, inception3a-5b) must match exactly; the
    heads (``aux1``, ``aux2``, ``fc``) are re-initialised for the new classes. Note that the
    original GoogLeNet weights expect inputs in [-1, 1]: train them with normalisation mean = std =
    0.5 (the trainer does this for ``--pretrained``).

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable file, or trunk keys missing / shapes that do not fit.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"pretrained weights not found: {path}")
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the file name
        raise ValueError(f"cannot read pretrained weights {path}: {e}") from e
    if isinstance(sd, dict) and "state_dict" in sd and isinstance(sd["state_dict"], dict):
        sd = sd["state_dict"]
    if not isinstance(sd, dict):
        raise ValueError(f"{path} is not a state dict (got {type(sd).__name__})")
    own = {k: v for k, v in model.state_dict().items() if _is_trunk_key(k)}
    given = {k: v for k, v in sd.items() if _is_trunk_key(k)}
    missing = sorted(set(own) - set(given))
    bad = [f"{k}: file {tuple(given[k].shape)} vs model {tuple(v.shape)}"
           for k, v in own.items() if k in given and given[k].shape != v.shape]
    if missing or bad:
        detail = "; ".join(([f"missing {len(missing)} keys, e.g. {missing[:3]}"] if missing else [])
                           + bad[:3])
        raise ValueError(f"{path}: not GoogLeNet trunk weights for this model ({detail})")
    model.load_state_dict({k: given[k].to(v.dtype) for k, v in own.items()}, strict=False)


# --- timm ---------------------------------------------------------------------------------------------

class _StopForward(Exception):
    """Raised from a forward hook once every requested stage is captured (logits not needed)."""


class TimmClassifier(nn.Module):
    """Any timm model, with one-pass access to its ``feature_info`` stages.

    The wrapped model is ``self.model``; feature layers are the module names in its
    ``feature_info`` (e.g. ``act1``, ``layer1`` .. ``layer4`` for a ResNet), read with forward
    hooks so one ``forward`` gives both the requested stages and the logits.

    Args:
        name: a timm model name (``timm.list_models()``).
        num_classes: output classes.
        drop_stem_pool: replace the stem max-pool (``model.maxpool``, ResNet family) with identity,
            halving the downsampling for small (64x64) inputs.
        **kwargs: passed to ``timm.create_model`` (e.g. ``drop_rate``, ``patch_size`` for ConvNeXt).
    """

    def __init__(self, name: str, num_classes: int, drop_stem_pool: bool = False, **kwargs: Any) -> None:
        super().__init__()
        import timm

        if not timm.is_model(name):
            close = timm.list_models(f"*{name}*")[:10]
            raise KeyError(f"unknown timm model {name!r}" + (f"; similar: {close}" if close else ""))
        self.timm_name = name
        self.num_classes = num_classes
        self.model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
        if drop_stem_pool:
            if not isinstance(getattr(self.model, "maxpool", None), nn.Module):
                raise ValueError(f"timm model {name!r} has no 'maxpool' stem pool to drop")
            self.model.maxpool = nn.Identity()
        info = getattr(self.model, "feature_info", None)
        if not info:
            raise ValueError(f"timm model {name!r} has no feature_info, so its stages cannot be named")
        self._info = [dict(d) for d in info]
        self._layer_names = tuple(d["module"] for d in self._info)

    def feature_layer_names(self) -> tuple[str, ...]:
        return self._layer_names

    def feature_channels(self) -> dict[str, int]:
        return {d["module"]: int(d["num_chs"]) for d in self._info}

    def run(self, x: torch.Tensor, layers: tuple[str, ...] | list[str] = (), with_aux: bool = False,
            logits: bool = True) -> tuple[torch.Tensor | None, list[torch.Tensor], dict[str, torch.Tensor]]:
        """One forward pass with hooks on the requested stages: ``(logits, [], {layer: activation})``.

        With ``logits=False`` the pass is cut short (by an exception raised from the hook that
        completes the requested set) and the logits are ``None``.
        """
        feats: dict[str, torch.Tensor] = {}
        want = set(layers)
        if not logits and not want:
            return None, [], feats
        handles = []
        for name in want:
            def hook(_m, _inp, out, name=name):
                feats[name] = out
                if not logits and len(feats) == len(want):
                    raise _StopForward
            handles.append(self.model.get_submodule(name).register_forward_hook(hook))
        out = None
        try:
            out = self.model(x)
        except _StopForward:
            pass
        finally:
            for h in handles:
                h.remove()
        return (out if logits else None), [], feats

    def forward_train(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        return self.model(x), []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)
