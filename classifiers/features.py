"""Feature networks for the ``sem`` and ``cat`` losses, built from the classifiers in this package.

A :class:`ClassifierFeatures` wraps a trained classifier, applies the classifier's own input
normalisation to [-1, 1] images (so they are seen exactly as in training), and returns the
requested hidden layers and the logits in one forward pass. It is frozen: eval mode, no parameter
gradients, but gradients flow back to the input image, which is what the latent search needs.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from inpaintkit.features import FeatureNetwork
from inpaintkit.utils import check_images, to_unit

__all__ = ["Normalize", "ClassifierFeatures", "default_feature_layers"]


class Normalize(nn.Module):
    """[-1, 1] images -> ``(to_unit(x) - mean) / std``, the input the classifier was trained on.

    Args:
        mean: per-channel mean of [0, 1] images (3 floats).
        std: per-channel standard deviation of [0, 1] images (3 floats).
    """

    def __init__(self, mean: Sequence[float], std: Sequence[float]) -> None:
        super().__init__()
        if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
            raise ValueError(f"normalisation needs 3 means and 3 positive stds, got {mean}, {std}")
        self.register_buffer("mean", torch.tensor([float(m) for m in mean]).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor([float(s) for s in std]).view(1, 3, 1, 1), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (to_unit(x) - self.mean) / self.std


def default_feature_layers(model: nn.Module) -> tuple[str, ...]:
    """GoogLeNet: ``inception3b``, ``inception4b`` (SPEC.md); timm: the third- and second-last
    ``feature_info`` stages (e.g. ``layer2``, ``layer3`` of a ResNet)."""
    names = tuple(model.feature_layer_names())
    if "inception3b" in names and "inception4b" in names:
        return ("inception3b", "inception4b")
    return names[-3:-1] if len(names) >= 3 else names[-1:]


class ClassifierFeatures(FeatureNetwork):
    """A frozen classifier as a :class:`~inpaintkit.features.FeatureNetwork`.

    Args:
        model: a classifier from :func:`classifiers.create_classifier` (has ``run`` and
            ``feature_layer_names``).
        mean, std: the normalisation it was trained with (from its checkpoint's config).
        default_layers: the layers ``sem`` uses when none are named; see
            :func:`default_feature_layers`.
        image_size: if given, inputs of another size are rejected with a clear error.

    Shape:
        - input: ``(B, 3, H, W)`` in [-1, 1]
        - output: ``({name: (B, C, h, w)}, logits (B, num_classes))``, float32
    """

    def __init__(self, model: nn.Module, mean: Sequence[float], std: Sequence[float],
                 default_layers: Sequence[str] | None = None, image_size: int | None = None) -> None:
        super().__init__()
        self.model = model
        self.normalize = Normalize(mean, std)
        self.layer_names = tuple(model.feature_layer_names())
        self.num_classes = int(model.num_classes)
        self.image_size = image_size
        layers = tuple(default_layers) if default_layers is not None else default_feature_layers(model)
        unknown = [n for n in layers if n not in self.layer_names]
        if unknown:
            raise KeyError(f"unknown feature layer(s) {unknown}; this network has {list(self.layer_names)}")
        self.default_layers = layers
        self.freeze()

    def feature_channels(self) -> dict[str, int]:
        """Channels of every named layer (GoogLeNet: from its plan; timm: ``feature_info``)."""
        return self.model.feature_channels()

    def forward(self, x: torch.Tensor, layers: Sequence[str] = (), logits: bool = True
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        """Features of ``layers`` and the logits; ``logits=False`` stops after the deepest requested
        layer and returns ``None`` for the logits (``sem`` without ``cat``)."""
        unknown = [n for n in layers if n not in self.layer_names]
        if unknown:
            raise KeyError(f"unknown feature layer(s) {unknown}; this network has {list(self.layer_names)}")
        return self.extract(x, layers, logits=logits)

    def extract(self, x: torch.Tensor, layers: Sequence[str], logits: bool = True
                ) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
        size = None if self.image_size is None else (self.image_size, self.image_size)
        check_images(x, "feature-network input", size)
        out, _, feats = self.model.run(self.normalize(x.float()), tuple(layers), logits=logits)
        return {n: feats[n] for n in layers}, out

    def train(self, mode: bool = True) -> "ClassifierFeatures":
        # always eval: BatchNorm statistics and dropout must not change under the latent search
        return super().train(False)
