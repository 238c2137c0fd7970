"""Guards on the loss weights: no preset saturates z at the first step (bundled models)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaintkit._presets import list_presets
from inpaintkit.bench import BenchConfig, bundled_asset, image_masks, resolve_config, search_seed
from inpaintkit.search import SearchConfig, latent_search

N_IMAGES = 8


@pytest.fixture(scope="module")
def bundled():
    """The bundled synthetic-cars GAN and classifier, and 8 test images."""
    from classifiers import load_feature_network
    from inpaintkit.data import build_dataset
    from inpaintkit.models import load_gan

    g, d, _ = load_gan(bundled_asset("gan"))
    size = int(g.config.image_size)
    fnet = load_feature_network(bundled_asset("classifier"), image_size=size)
    data = build_dataset("synthetic-cars", split="test", image_size=size, flip=False, seed=0)
    x, _ = data.get_batch(np.arange(N_IMAGES))
    return g, d, fnet, x


def _first_step_clip(bundled, preset: str | None) -> dict[tuple[str, str], float]:
    """``{(method, mask): mean fraction of z on the clip after the first step}`` for a preset's
    searches (``None``: the built-in demo)."""
    g, d, fnet, x = bundled
    rb = resolve_config(BenchConfig(preset=preset))
    cfg, size, nz = rb.config, x.shape[-1], int(g.config.nz)
    ids = list(range(N_IMAGES))
    out = {}
    for mask_spec in cfg.masks:
        masks, _ = image_masks(mask_spec, ids, (size, size), cfg.seed)
        mask = torch.from_numpy(masks.astype(np.float32))[:, None]
        z0 = torch.stack([torch.rand(nz, generator=torch.Generator().manual_seed(
            search_seed(cfg.seed, mask_spec, i, 0))) * 2 - 1 for i in ids])
        for method in rb.methods:
            if method.kind != "search":
                continue
            sc = SearchConfig(iters=1, optimizer=cfg.optimizer, lr=cfg.lr)
            with _no_filter():
                res = latent_search(g, d, x, mask, method.loss_spec(mask_spec), sc, feature_net=fnet,
                                    z_init=z0)
            out[(method.name, mask_spec)] = float(res.saturated.mean())
    return out


class _no_filter:
    """Let the saturation warning through without failing the test (it is checked separately)."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.simplefilter("ignore", RuntimeWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def _cases():
    """``(preset, method, mask)`` of every search a preset runs (``None``: the built-in demo)."""
    out = []
    for preset in [p for p in list_presets() if p != "paper-table1-eth"] + [None]:
        rb = resolve_config(BenchConfig(preset=preset))
        for mask in rb.config.masks:
            for m in rb.methods:
                if m.kind != "search":
                    continue
                marks = ()
                if preset == "paper-table1" and mask.startswith("random"):
                    # The ETH optimiser (Nesterov, lr 0.01) on a 70% hole: the context term alone
                    # (yeh) already puts ~29% of z on the clip at the first step with the bundled
                    # models (2026-12-02), so no weighting of the other terms can pass; the
                    # protocol's learning rate, not the weights, saturates here.
                    marks = pytest.mark.xfail(strict=True, reason="Nesterov lr 0.01 saturates the "
                                              "context term alone on random masks")
                out.append(pytest.param(preset, m.name, mask, marks=marks,
                                        id=f"{preset or 'demo'}-{m.name}-{mask}"))
    return out


_CLIP: dict[str | None, dict[tuple[str, str], float]] = {}


@pytest.mark.parametrize("preset, method, mask", _cases())
def test_no_preset_saturates_z_at_the_first_step(bundled, preset, method, mask):
    if preset not in _CLIP:
        _CLIP[preset] = _first_step_clip(bundled, preset)
    clip = _CLIP[preset][(method, mask)]
    assert clip < 0.10, f"{clip:.1%} of z on the clip after one step"


def test_the_eth_weights_do_saturate(bundled):
    # the reason for the calibration (SPEC.md, correction of 2026-12-02): kept only for the record
    clip = _first_step_clip(bundled, "paper-table1-eth")
    assert max(clip.values()) > 0.5, clip
