"""Latent search: descent, reproducibility, batch invariance, restarts, schedule, early stop."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from inpaintkit.losses import build_loss
from inpaintkit.masks import MaskError, make_mask
from inpaintkit.search import LatentOptimizer, SearchConfig, latent_search


@pytest.fixture()
def problem(corrupted):
    y, mask = corrupted
    return y, mask


@pytest.mark.parametrize("optimizer", ["adam", "nesterov"])
def test_a_few_steps_lower_the_total(optimizer, tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    lr = 0.01 if optimizer == "adam" else 0.05
    res = latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=25, optimizer=optimizer, lr=lr))
    start = res.history["total"][0]
    assert res.history["total"].shape == (25, 4) and res.history["total"].dtype == np.float32
    assert (res.total.numpy() < start - 1e-3).all(), (start, res.total)
    assert res.z.shape == (4, 16) and res.g.shape == y.shape and res.composite.shape == y.shape


def test_result_is_consistent(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    loss = build_loss("context,prior,inpaint")
    res = latent_search(g, d, y, mask, loss, SearchConfig(iters=12))
    # the reported z, G(z), terms and totals agree with a fresh evaluation
    torch.testing.assert_close(res.g, g(res.z))
    total, terms = loss(res.z, y, mask, g, d)
    torch.testing.assert_close(res.total, total, rtol=1e-5, atol=1e-4)
    for k in terms:
        torch.testing.assert_close(res.terms[k], terms[k], rtol=1e-5, atol=1e-4)
    known = (mask > 0).expand_as(y)
    assert torch.equal(res.composite[known], y[known]) and torch.equal(res.composite[~known], res.g[~known])
    # the best value is the minimum of the history (or the evaluation after the last step)
    hist_min = res.history["total"].min(0)
    assert (res.total.numpy() <= hist_min + 1e-4).all()
    i = res.best_iter.numpy()
    inside = i < res.iters_run
    np.testing.assert_allclose(res.history["total"][i[inside], np.flatnonzero(inside)],
                               res.total.numpy()[inside], rtol=1e-6)
    assert set(res.history) == {"total", "context", "prior", "inpaint"}
    w = res.weights
    np.testing.assert_allclose(res.history["total"],
                               sum(w[k] * res.history[k] for k in ("context", "prior", "inpaint")),
                               rtol=1e-5, atol=1e-4)


def test_reproducible_from_seed(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    runs = [latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=8, seed=s)) for s in (3, 3, 4)]
    assert torch.equal(runs[0].z, runs[1].z)
    assert all(np.array_equal(runs[0].history[k], runs[1].history[k]) for k in runs[0].history)
    assert not torch.allclose(runs[0].z, runs[2].z)


def test_each_image_searches_as_if_alone(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    z0 = torch.rand(4, 16, generator=torch.Generator().manual_seed(5)) * 2 - 1
    cfg = SearchConfig(iters=10)
    batch = latent_search(g, d, y, mask, "context,prior,inpaint", cfg, z_init=z0)
    for i in (0, 2):
        solo = latent_search(g, d, y[i:i + 1], mask[i:i + 1], "context,prior,inpaint", cfg, z_init=z0[i:i + 1])
        torch.testing.assert_close(solo.z[0], batch.z[i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(solo.history["total"][:, 0], batch.history["total"][:, i], rtol=1e-5)


def test_restarts_keep_the_best_per_image(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    z0 = torch.rand(4, 3, 16, generator=torch.Generator().manual_seed(6)) * 2 - 1
    cfg = SearchConfig(iters=6, restarts=3)
    res = latent_search(g, d, y, mask, "context,prior", cfg, z_init=z0)
    singles = [latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=6), z_init=z0[:, k])
               for k in range(3)]
    totals = torch.stack([s.total for s in singles], 1)  # (B, K)
    torch.testing.assert_close(res.total, totals.min(1).values, rtol=1e-5, atol=1e-4)
    assert torch.equal(res.best_restart, totals.argmin(1))
    for i in range(4):
        k = int(res.best_restart[i])
        torch.testing.assert_close(res.z[i], singles[k].z[i], rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(res.history["total"][:, i], singles[k].history["total"][:, i], rtol=1e-5)


def test_restart_reduce_mean_averages_the_restarts_fills(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    z0 = torch.rand(4, 3, 16, generator=torch.Generator().manual_seed(6)) * 2 - 1
    best = latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=6, restarts=3), z_init=z0)
    mean = latent_search(g, d, y, mask, "context,prior",
                         SearchConfig(iters=6, restarts=3, restart_reduce="mean"), z_init=z0)
    singles = [latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=6), z_init=z0[:, k])
               for k in range(3)]
    expected = torch.stack([s.g for s in singles], 1).mean(1)  # each restart at its own best z
    torch.testing.assert_close(mean.g, expected, rtol=1e-4, atol=1e-5)
    # the loss bookkeeping stays that of the winning restart, and known pixels are still y's
    torch.testing.assert_close(mean.z, best.z)
    torch.testing.assert_close(mean.total, best.total)
    keep = mask.expand_as(y) > 0
    assert torch.equal(mean.composite[keep], y[keep])
    assert not torch.allclose(mean.g, best.g)
    with pytest.raises(ValueError, match="unknown restart_reduce 'median'.*best, mean"):
        SearchConfig(restart_reduce="median")


def test_restarts_default_init_is_seeded(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    y = torch.nan_to_num(y)
    a = latent_search(g, d, y, mask[:1], "context", SearchConfig(iters=2, restarts=2, seed=9))
    b = latent_search(g, d, y, mask[:1], "context", SearchConfig(iters=2, restarts=2, seed=9))
    assert torch.equal(a.z, b.z) and a.total.shape == (4,)


def test_z_is_clipped_to_the_prior_box(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    with pytest.warns(RuntimeWarning, match="saturated"):
        res = latent_search(g, d, y, mask, "context", SearchConfig(iters=5, optimizer="nesterov", lr=50.0))
    assert res.z.abs().max() <= 1.0
    assert (res.z.abs() == 1.0).any()


@pytest.mark.parametrize("kind", ["adam", "nesterov"])
def test_optimizer_matches_torch_optim(kind):
    gen = torch.Generator().manual_seed(0)
    z_ref = torch.rand(5, 7, generator=gen).requires_grad_()
    z = z_ref.detach().clone().requires_grad_()
    cfg = SearchConfig(optimizer=kind, betas=(0.8, 0.99), momentum=0.7)
    ours = LatentOptimizer(z, cfg)
    ref = (torch.optim.Adam([z_ref], lr=0.03, betas=(0.8, 0.99)) if kind == "adam"
           else torch.optim.SGD([z_ref], lr=0.03, momentum=0.7, nesterov=True))
    for _ in range(6):
        grad = torch.randn(5, 7, generator=gen)
        z.grad, z_ref.grad = grad.clone(), grad.clone()
        ours.step(0.03)
        ref.step()
        torch.testing.assert_close(z.detach(), z_ref.detach(), rtol=1e-6, atol=1e-7)


def test_learning_rate_schedule():
    nes = SearchConfig(optimizer="nesterov")
    assert [nes.lr_at(t) for t in (0, 99, 100, 250)] == pytest.approx([0.01, 0.01, 0.0095, 0.01 * 0.95**2])
    adam = SearchConfig()
    assert adam.lr_at(1400) == 0.01 and adam.to_dict()["resolved_lr_decay"] == 1.0
    assert SearchConfig(optimizer="adam", lr=0.1, lr_decay=0.5, lr_decay_every=10).lr_at(25) == pytest.approx(0.025)


def test_early_stop(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    res = latent_search(g, d, y, mask, "context", SearchConfig(iters=200, lr=0.0, patience=10, check_every=5))
    assert res.iters_run == 15  # no progress after step 0: stopped at the first check >= 10 steps later
    assert res.history["total"].shape == (15, 4)
    full = latent_search(g, d, y, mask, "context", SearchConfig(iters=20, patience=None))
    assert full.iters_run == 20


def test_callback_sees_every_step_and_can_stop(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    seen = []

    def cb(step, total, terms):
        seen.append((step, tuple(total.shape), sorted(terms)))
        return step == 3

    res = latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=50), callback=cb)
    assert res.iters_run == 4 and [s[0] for s in seen] == [0, 1, 2, 3]
    assert seen[0][1:] == ((4,), ["context", "prior"])


def test_hole_content_never_matters(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    a = latent_search(g, d, y, mask, "context,prior,inpaint", SearchConfig(iters=5))
    b = latent_search(g, d, torch.nan_to_num(y, nan=7.0), mask, "context,prior,inpaint", SearchConfig(iters=5))
    assert torch.equal(a.z, b.z) and torch.equal(a.g, b.g)


def test_models_are_frozen_during_and_restored_after(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    g.train()
    modes = []
    latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=3),
                  callback=lambda *a: modes.append((g.training, d.training,
                                                    any(p.requires_grad for p in g.parameters()))))
    assert set(modes) == {(False, False, False)}
    assert g.training and not d.training
    assert all(p.requires_grad for p in g.parameters()) and all(p.grad is None for p in g.parameters())


def test_with_feature_losses(tiny_gan, tiny_feature_net, problem):
    g, d = tiny_gan
    y, mask = problem
    res = latent_search(g, d, y, mask, "context,prior,inpaint,sem,cat", SearchConfig(iters=4),
                        feature_net=tiny_feature_net)
    assert set(res.terms) == {"context", "prior", "inpaint", "sem", "cat"}
    assert all(torch.isfinite(v).all() for v in res.terms.values())


@pytest.mark.parametrize("spec", ["context,sem", "context,prior,inpaint,sem,cat"])
def test_feature_chunks_give_the_same_search(tiny_gan, tiny_feature_net, problem, spec):
    # the classifier run on slices of 3 images (of the 2 x 4 x 2 it sees per step) changes nothing
    g, d = tiny_gan
    y, mask = problem
    runs = [latent_search(g, d, y, mask, spec, SearchConfig(iters=4, restarts=2, feature_chunk=c),
                          feature_net=tiny_feature_net) for c in (None, 3, "auto")]
    for other in runs[1:]:
        torch.testing.assert_close(other.z, runs[0].z, rtol=1e-4, atol=1e-5)
        for name in runs[0].terms:
            np.testing.assert_allclose(other.history[name], runs[0].history[name], rtol=1e-4, atol=1e-6)
    assert SearchConfig().feature_chunk_for("cpu") == 16 and SearchConfig().feature_chunk_for("cuda") is None
    for bad in (0, -2, "some", 1.5):
        with pytest.raises(ValueError, match="feature_chunk must be"):
            SearchConfig(feature_chunk=bad)


def test_bad_inputs_raise(tiny_gan, problem, odd_size):
    g, d = tiny_gan
    y, mask = problem
    with pytest.raises(ValueError, match="generator makes 32x32"):
        latent_search(g, d, torch.zeros(1, 3, *odd_size), make_mask("center", odd_size), "context")
    with pytest.raises(MaskError, match="binary"):
        latent_search(g, d, y, mask * 2, "context")
    with pytest.raises(MaskError, match="no hole"):
        latent_search(g, d, y, torch.ones_like(mask), "context")
    y_bad = y.clone()
    y_bad[0, :, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="known pixels"):
        latent_search(g, d, y_bad, mask, "context")
    with pytest.raises(ValueError, match="z_init must have shape"):
        latent_search(g, d, y, mask, "context", z_init=torch.zeros(3, 16))
    with pytest.raises(ValueError, match="unknown optimizer 'sgd'.*adam, nesterov"):
        SearchConfig(optimizer="sgd")
    for bad in ({"iters": -1}, {"restarts": 0}, {"lr": -0.1}, {"lr": float("nan")}, {"patience": 0}):
        with pytest.raises(ValueError):
            SearchConfig(**bad)


# --- auto weights and saturation ------------------------------------------------------------------------

def test_auto_weights_in_a_search_are_set_at_step0_and_kept(tiny_gan, problem, tiny_feature_net):
    g, d = tiny_gan
    y, mask = problem
    spec = "context,prior,sem=auto:2,cat=auto:0.5"
    z0 = torch.rand(4, 16, generator=torch.Generator().manual_seed(5)) * 2 - 1
    res = latent_search(g, d, y, mask, spec, SearchConfig(iters=6), feature_net=tiny_feature_net,
                        z_init=z0)
    # recompute the ratios at z0 from scratch: the weighted gradients stand in the ratios R
    loss = build_loss(spec, tiny_feature_net)
    z = z0.clone().requires_grad_(True)
    _, terms = loss(z, y, mask, g, d)
    grads = {k: torch.autograd.grad(terms[k].sum(), z, retain_graph=True)[0].norm(dim=1)
             for k in ("context", "sem", "cat")}
    for name, r in (("sem", 2.0), ("cat", 0.5)):
        got = res.image_weights[name] * grads[name] / grads["context"]
        torch.testing.assert_close(got, torch.full_like(got, r), rtol=0.01, atol=0)
    assert res.image_weights["prior"].tolist() == pytest.approx([0.003] * 4)
    # the weights stayed fixed: the history's total is the weighted sum with the step-0 weights
    w = {k: v.numpy()[None] for k, v in res.image_weights.items()}
    np.testing.assert_allclose(res.history["total"], sum(w[k] * res.history[k] for k in w),
                               rtol=1e-4, atol=1e-4)
    assert "auto:2" in res.loss_spec


def test_auto_weights_do_not_depend_on_the_batch(tiny_gan, problem, tiny_feature_net):
    g, d = tiny_gan
    y, mask = problem
    z0 = torch.rand(4, 16, generator=torch.Generator().manual_seed(6)) * 2 - 1
    cfg = SearchConfig(iters=3)
    spec = "context,sem=auto:1"
    full = latent_search(g, d, y, mask, spec, cfg, feature_net=tiny_feature_net, z_init=z0)
    for i in (0, 3):
        one = latent_search(g, d, y[i:i + 1], mask[i:i + 1], spec, cfg, feature_net=tiny_feature_net,
                            z_init=z0[i:i + 1])
        torch.testing.assert_close(one.image_weights["sem"], full.image_weights["sem"][i:i + 1],
                                   rtol=1e-4, atol=0)


def test_saturating_weights_warn_once(tiny_gan, problem):
    g, d = tiny_gan
    y, mask = problem
    cfg = SearchConfig(iters=5, optimizer="nesterov", lr=0.01)
    with pytest.warns(RuntimeWarning, match="the search saturated z: the weights are probably too large") as rec:
        res = latent_search(g, d, y, mask, "context=1e6,prior", cfg)
    assert sum("saturated" in str(w.message) for w in rec) == 1
    assert (res.saturated > 0.5).all()
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        res = latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=5, lr=0.01))
    assert (res.saturated < 0.5).all()
