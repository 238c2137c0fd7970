"""Classifiers for inpaintkit's ``sem`` and ``cat`` losses: models, training, feature extraction.

- :func:`create_classifier`: ``googlenet`` (the ETH recipe), ``googlenet_tiny``, or ``timm:NAME``.
- :func:`train_classifier` / :class:`TrainConfig`: the training loop (``inpaintkit train-classifier``).
- :func:`evaluate_classifier`: top-1/top-5 and per-class accuracy (``inpaintkit eval-classifier``).
- :func:`load_feature_network`: a checkpoint as a frozen :class:`~inpaintkit.features.FeatureNetwork`.
"""
from __future__ import annotations

from ._checkpoint import (
                          CLASSIFIER_FORMAT,
                          export_classifier,
                          load_classifier,
                          load_feature_network,
                          save_classifier,
)
from .evaluate import evaluate_classifier
from .features import ClassifierFeatures, Normalize, default_feature_layers
from .models import (
                          CLASSIFIERS,
                          GOOGLENET_LAYERS,
                          GoogLeNetETH,
                          TimmClassifier,
                          create_classifier,
                          list_classifiers,
                          load_pretrained_googlenet,
                          register_classifier,
)
from .train import TrainConfig, train_classifier

__all__ = [
    "CLASSIFIERS", "register_classifier", "list_classifiers", "create_classifier",
    "GoogLeNetETH", "TimmClassifier", "GOOGLENET_LAYERS", "load_pretrained_googlenet",
    "ClassifierFeatures", "Normalize", "default_feature_layers",
    "CLASSIFIER_FORMAT", "save_classifier", "load_classifier", "load_feature_network",
    "export_classifier",
    "TrainConfig", "train_classifier", "evaluate_classifier",
]
