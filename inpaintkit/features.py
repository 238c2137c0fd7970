"""The feature-network interface behind the ``sem`` and ``cat`` losses.

A feature network is a *frozen* classifier that, for images in [-1, 1], returns the named hidden
layers the caller asks for and the logits, in one forward pass. It applies its own input
normalisation inside, so a [-1, 1] image is seen exactly as during the classifier's training
(SPEC.md: do not repeat the ETH code's [-1, 1]-into-a-[0, 255]-net mistake).

Implementations: :mod:`classifiers` (GoogLeNet per the ETH recipe, any timm model), and the tiny
:class:`TinyFeatureNet` used by tests and dry runs.
"""
from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

__all__ = ["FeatureNetwork", "TinyFeatureNet"]


class FeatureNetwork(nn.Module):
    """Base class. Subclasses set ``layer_names`` and ``num_classes`` and implement ``extract``.

    Shape:
        - input: ``(B, 3, H, W)`` in [-1, 1]
        - output: ``({name: (B, C, h, w)}, logits (B, num_classes))``
    """

    layer_names: tuple[str, ...] = ()
    num_classes: int = 0
    default_layers: tuple[str, ...] = ()

    def extract(self, x: torch.Tensor, layers: Sequence[str]) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        raise NotImplementedError

    def forward(self, x: torch.Tensor, layers: Sequence[str] = ()) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        unknown = [n for n in layers if n not in self.layer_names]
        if unknown:
            raise KeyError(f"unknown feature layer(s) {unknown}; this network has {list(self.layer_names)}")
        return self.extract(x, layers)

    def freeze(self) -> "FeatureNetwork":
        """Eval mode and no parameter gradients; gradients still flow to the input."""
        self.eval().requires_grad_(False)
        return self


class TinyFeatureNet(FeatureNetwork):
    """A small conv classifier for tests and ``--dry-run``: layers ``block1``..``block3``."""

    layer_names = ("block1", "block2", "block3")
    default_layers = ("block1", "block2")

    def __init__(self, num_classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.block1 = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv2d(width, 2 * width, 3, 2, 1), nn.ReLU())
        self.block3 = nn.Sequential(nn.Conv2d(2 * width, 4 * width, 3, 2, 1), nn.ReLU())
        self.fc = nn.Linear(4 * width, num_classes)

    def extract(self, x, layers):
        feats = {}
        h = x  # trained on [-1, 1] directly: its normalisation is the identity
        for name in self.layer_names:
            h = getattr(self, name)(h)
            if name in layers:
                feats[name] = h
        return feats, self.fc(h.mean((2, 3)))
