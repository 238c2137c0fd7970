"""One batch of one method: the latent search with its loss set, or a classical baseline."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch

from ..utils.seeding import per_image_seed, starting_latents
from .config import Method, ResolvedBench
from .loading import Models


@dataclass
class MethodOutput:
    """What one method made for one batch: the scored images, the plain composite and, for a
    search, ``G(z)``, its losses, weights, loss curves and clip fraction."""

    output: torch.Tensor  # the scored images
    overlay: torch.Tensor  # the plain composite
    g: torch.Tensor | None = None
    total: np.ndarray | None = None
    terms: dict[str, np.ndarray] = field(default_factory=dict)
    history: dict[str, np.ndarray] = field(default_factory=dict)  # {name: (iters, B)}
    weights: dict[str, np.ndarray] = field(default_factory=dict)  # {name: (B,)} weights used
    z_clip: np.ndarray | None = None  # (B,) largest fraction of z on the clip after a step


def search_batch(method: Method, rb: ResolvedBench, models: Models, y: torch.Tensor,
                 mask: torch.Tensor, *, mask_spec: str, ids: Sequence[int]) -> MethodOutput:
    """One batch of a search method: each image starts from its own seeded latents, the
    output is blended with ``--blend``."""
    from ..blend import blend
    from ..losses import build_loss
    from ..search import SearchConfig, latent_search

    cfg = rb.config
    loss = build_loss(method.resolved_spec(mask_spec, cfg.monitor or ()), feature_net=models.feature_net)
    # each image's starting latents come from its own seeds, so its result does not depend on the
    # batch it is in (the search itself is batch-size invariant); the seeds ignore the method, so
    # every method on an image starts from the same latents
    k = int(cfg.restarts)
    z_init = starting_latents(cfg.seed, mask_spec, ids, k, int(models.generator.config.nz))
    sc = SearchConfig(iters=cfg.iters, optimizer=cfg.optimizer, lr=cfg.lr, restarts=k,
                      restart_reduce=cfg.restart_reduce, precision=cfg.precision)
    res = latent_search(models.generator, models.discriminator, y, mask, loss, config=sc,
                        feature_net=models.feature_net, progress=False, z_init=z_init)
    g = res.g.detach()
    out = blend(y, g, mask, method=cfg.blend)
    overlay = blend(y, g, mask, method="overlay")
    hist = {k: np.asarray(v) for k, v in (res.history or {}).items()}
    return MethodOutput(out, overlay, g, _np(res.total), {k: _np(v) for k, v in res.terms.items()}, hist,
                   {k: _np(v) for k, v in res.image_weights.items()},
                   None if res.saturated is None else _np(res.saturated))


def baseline_batch(method: Method, rb: ResolvedBench, models: Models, y: torch.Tensor,
                   mask: torch.Tensor, *, mask_spec: str, ids: Sequence[int]) -> MethodOutput:
    """One batch of a baseline; a seeded one runs image by image, each with its image's seed."""
    from ..baselines import baseline_options, run_baseline

    opts: dict[str, Any] = {}
    accepted = baseline_options(method.name)
    if "pool" in accepted:
        opts["pool"] = models.pool
    if "model" in accepted:
        opts["model"] = models.ce
    if "seed" not in accepted:
        out = run_baseline(method.name, y, mask, **opts)
    else:
        # a seeded baseline (im) runs image by image, each with the seed of its image id, so its
        # result does not depend on the batch (it loops over the batch internally anyway)
        out = torch.cat([
            run_baseline(method.name, y[k:k + 1], mask[k:k + 1], **opts,
                         seed=per_image_seed("baseline", rb.config.seed, method.name, mask_spec, int(i)))
            for k, i in enumerate(ids)])
    return MethodOutput(out, out)


def _np(t: Any) -> np.ndarray:
    return t.detach().float().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t)


def sync(device: torch.device) -> None:
    """Wait for the device, so that the per-image time measures the work, not its queueing."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@torch.no_grad()
def evaluate_top1(evaluator, output: torch.Tensor, target: torch.Tensor,
                  ) -> tuple[np.ndarray, np.ndarray]:
    """Top-1 predictions of the evaluator on the outputs and on the ground truth."""
    _, logits = evaluator(output)
    _, logits_gt = evaluator(target)
    return logits.argmax(1).cpu().numpy(), logits_gt.argmax(1).cpu().numpy()
