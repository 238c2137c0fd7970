"""The model registry: named DCGAN variants, built by name."""
from __future__ import annotations

from ..utils.registry import Registry

MODELS: Registry = Registry("model")

__all__ = ["MODELS", "register_model", "list_models", "create_model"]


def register_model(name: str):
    """Register a function ``(**overrides) -> DCGANConfig`` under ``name``."""
    return MODELS.register(name)


def list_models(pattern: str = "*") -> list[str]:
    return MODELS.list(pattern)


def create_model(name: str, **overrides):
    """Build ``(generator, discriminator)`` for a registered variant.

    ``None`` overrides are dropped so the variant's defaults apply.
    """
    from .dcgan import build_dcgan

    config = MODELS.build(name, **overrides)
    return build_dcgan(config)
