"""DCGAN models, their registry and self-describing checkpoints."""
from __future__ import annotations

from ._checkpoint import (
    GAN_FORMAT,
    CheckpointError,
    load_gan,
    load_state,
    read_checkpoint,
    save_gan,
    state_dict_for_storage,
    state_dict_mismatch,
)
from ._registry import MODELS, create_model, list_models, register_model
from .dcgan import (
    DCGANConfig,
    Discriminator,
    Generator,
    apply_spectral_norm,
    build_dcgan,
    fold_spectral_norm,
    init_weights,
)

__all__ = [
    "MODELS", "create_model", "list_models", "register_model",
    "DCGANConfig", "Generator", "Discriminator", "build_dcgan", "init_weights",
    "apply_spectral_norm", "fold_spectral_norm",
    "GAN_FORMAT", "CheckpointError", "save_gan", "load_gan", "read_checkpoint",
    "load_state", "state_dict_for_storage", "state_dict_mismatch",
]
