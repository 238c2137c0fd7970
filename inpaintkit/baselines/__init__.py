"""Inpainting baselines (classical methods and the learned Context Encoder), registered by name and
run through one contract.

Every baseline is ``fn(y, mask, **options) -> filled``: ``y`` ``(B, 3, H, W)`` in [-1, 1] (the hole
is never read), ``mask`` ``(B|1, 1, H, W)`` float {0, 1} with 1 = known, and the result
``(B, 3, H, W)`` in [-1, 1] with the known pixels bit-identical to ``y``.

==============  ===============================================================================
name            method
==============  ===============================================================================
``im``          Image Melding-style patch synthesis: multi-scale PatchMatch + patch voting
``tv``          total-variation inpainting, Chambolle-Pock primal-dual
``lowrank``     nuclear-norm matrix completion per channel, singular value thresholding
``biharmonic``  scikit-image ``inpaint_biharmonic``
``nn``          nearest neighbour: the hole from the closest training image (needs ``pool``)
``telea``       OpenCV fast marching (``INPAINT_TELEA``), needs ``opencv-python-headless``
``ce``          Context Encoder (Pathak et al. 2016): a trained encoder-decoder (``model``)
==============  ===============================================================================

Example:
    >>> from inpaintkit.baselines import run_baseline
    >>> filled = run_baseline("im", y, mask, seed=0)
"""
from __future__ import annotations

from . import biharmonic, context_encoder, lowrank, nearest, patchmatch, telea, tv  # noqa: F401
from ._common import (
    BASELINES,
    baseline_options,
    composite_fill,
    describe_baseline,
    list_baselines,
    prepare_inputs,
    register_baseline,
    run_baseline,
)
from .biharmonic import biharmonic_inpaint
from .context_encoder import (
    ContextEncoder,
    ContextEncoderConfig,
    context_encoder_inpaint,
    load_context_encoder,
    save_context_encoder,
)
from .lowrank import lowrank_inpaint, svt_complete
from .nearest import nearest_neighbour_inpaint, nearest_neighbour_search
from .patchmatch import patchmatch_inpaint
from .telea import telea_inpaint
from .tv import tv_inpaint

__all__ = [
    "BASELINES", "register_baseline", "list_baselines", "describe_baseline", "baseline_options",
    "run_baseline", "prepare_inputs", "composite_fill",
    "patchmatch_inpaint", "tv_inpaint", "lowrank_inpaint", "svt_complete", "biharmonic_inpaint",
    "nearest_neighbour_inpaint", "nearest_neighbour_search", "telea_inpaint",
    "ContextEncoder", "ContextEncoderConfig", "context_encoder_inpaint", "load_context_encoder",
    "save_context_encoder",
]
