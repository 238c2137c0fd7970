"""The latent search's fast paths: bf16 reaches fp32's PSNR, channels-last and BatchNorm folding
compute the same thing, and the caller's networks are never modified."""
from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from inpaintkit.masks import make_mask
from inpaintkit.metrics import psnr
from inpaintkit.search import SearchConfig, fold_batchnorm, latent_search
from inpaintkit.utils import to_uint8
from inpaintkit.utils.device import (
    auto_precision as real_auto_precision,  # before conftest patches it
)

TINY_SIZE, TINY_NZ = 32, 16  # conftest.py: dcgan_test

FIVE = "context,prior,inpaint,sem,cat"


@pytest.fixture()
def fillable(tiny_gan):
    """16 images the tiny generator can almost reproduce (G(z*) plus noise), with 4 mask kinds."""
    g, _ = tiny_gan
    gen = torch.Generator().manual_seed(3)
    with torch.no_grad():
        x = g(torch.rand(16, TINY_NZ, generator=gen) * 2 - 1)
    x = (x + 0.05 * torch.randn(x.shape, generator=gen)).clamp(-1, 1)
    kinds = ["center", "left", "random:0.7", "blocks"]
    mask = torch.cat([make_mask(kinds[i % 4], TINY_SIZE, seed=i) for i in range(16)])
    return x, mask


def _mean_psnr(result, x) -> float:
    return float(psnr(to_uint8(result.composite), to_uint8(x), 255.0).mean())


@pytest.mark.parametrize("spec", ["context,prior", FIVE])
def test_bf16_reaches_the_fp32_psnr(spec, tiny_gan, tiny_feature_net, fillable):
    g, d = tiny_gan
    x, mask = fillable
    seen = []  # the dtype the feature network's first layer computes in, under the search
    hook = tiny_feature_net.block1[0].register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    try:
        runs = {p: latent_search(g, d, x, mask, spec, SearchConfig(iters=100, precision=p, seed=0),
                                 feature_net=tiny_feature_net)
                for p in ("fp32", "bf16")}
    finally:
        hook.remove()
    if "sem" in spec:
        assert torch.bfloat16 in seen and torch.float32 in seen  # bf16 really ran
    fp32, bf16 = (_mean_psnr(runs[p], x) for p in ("fp32", "bf16"))
    start = float(psnr(to_uint8(torch.where(mask > 0, x, torch.zeros(()))), to_uint8(x), 255.0).mean())
    assert fp32 > start + 3  # the search did fill the holes, so the comparison means something
    assert abs(bf16 - fp32) < 0.1, (fp32, bf16)
    # same loss at the start (same z0), up to bf16 round-off
    np.testing.assert_allclose(runs["bf16"].history["total"][0], runs["fp32"].history["total"][0], rtol=2e-2)
    assert all(v.dtype == torch.float32 for v in runs["bf16"].terms.values())
    assert runs["bf16"].g.dtype == torch.float32 and runs["bf16"].config["precision"] == "bf16"


def test_fast_paths_match_the_plain_search_in_fp32(tiny_gan, tiny_feature_net, corrupted):
    g, d = tiny_gan
    y, mask = corrupted
    plain = latent_search(g, d, y, mask, FIVE, SearchConfig(iters=8, channels_last=False, fold_bn=False),
                          feature_net=tiny_feature_net)
    fast = latent_search(g, d, y, mask, FIVE, SearchConfig(iters=8, channels_last=True, fold_bn=True),
                         feature_net=tiny_feature_net)
    for k in plain.history:
        np.testing.assert_allclose(fast.history[k], plain.history[k], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(fast.z, plain.z, rtol=1e-4, atol=1e-4)


def test_callers_networks_are_not_modified(tiny_gan, tiny_feature_net, corrupted):
    g, d = tiny_gan
    y, mask = corrupted
    before = [copy.deepcopy(m.state_dict()) for m in (g, d, tiny_feature_net)]
    structure = [[type(x) for x in m.modules()] for m in (g, d)]
    latent_search(g, d, y, mask, FIVE, SearchConfig(iters=3, precision="bf16", channels_last=True),
                  feature_net=tiny_feature_net)
    for m, sd in zip((g, d, tiny_feature_net), before):
        for k, v in m.state_dict().items():
            assert v.dtype == sd[k].dtype and torch.equal(v, sd[k]), k
            assert v.dim() != 4 or v.is_contiguous(), k  # not left in channels-last
    assert [[type(x) for x in m.modules()] for m in (g, d)] == structure
    assert sum(isinstance(x, nn.BatchNorm2d) for x in g.modules()) > 0


class _BasicConv(nn.Module):
    """torchvision's BasicConv2d shape: conv -> bn -> relu, not a Sequential."""

    def __init__(self, cin, cout, transpose=False):
        super().__init__()
        conv = nn.ConvTranspose2d if transpose else nn.Conv2d
        self.conv = conv(cin, cout, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-3)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class _ConvUsedTwice(nn.Module):
    """The conv's output also bypasses the BatchNorm: folding would be wrong."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x):
        h = self.conv(x)
        return self.bn(h) + h


class _BatchNormAct(nn.BatchNorm2d):
    """A BatchNorm subclass with an activation inside (like timm's BatchNormAct2d)."""

    def forward(self, x):
        return torch.relu(super().forward(x))


def _randomise_bn(model: nn.Module, seed: int = 0) -> nn.Module:
    gen = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=gen))
            m.running_var.copy_(torch.rand(m.num_features, generator=gen) + 0.5)
            m.weight.data.copy_(torch.randn(m.num_features, generator=gen))
            m.bias.data.copy_(torch.randn(m.num_features, generator=gen))
    return model.eval().requires_grad_(False)


def test_fold_batchnorm_is_exact_where_it_applies():
    torch.manual_seed(0)
    net = _randomise_bn(nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),          # folded (Sequential)
        _BasicConv(4, 6),                                                       # folded (traced)
        _BasicConv(6, 4, transpose=True),                                       # folded (transpose)
        _ConvUsedTwice(),                                                       # left alone
        nn.Conv2d(4, 4, 1), _BatchNormAct(4),                                  # left alone
        nn.ReLU(), nn.BatchNorm2d(4),                                           # no conv before it
    ))
    x = torch.randn(2, 3, 9, 7)
    ref = net(x)
    folded = copy.deepcopy(net)
    assert fold_batchnorm(folded) == 3
    torch.testing.assert_close(folded(x), ref, rtol=1e-5, atol=1e-5)
    kinds = [type(m) for m in folded.modules()]
    assert kinds.count(nn.BatchNorm2d) == 2 and kinds.count(_BatchNormAct) == 1


def test_fused_inception_blocks_compute_the_same_values_and_gradients():
    """torchvision's Inception blocks, folded, then their three 1x1 input convolutions stacked into
    one: the same outputs and input gradients (in float64, so that max-pool near-ties cannot route
    a gradient differently), and an unfolded block is left alone."""
    from torchvision.models.googlenet import Inception

    from inpaintkit.search._fast import _FusedInception, fuse_inception_branches

    torch.manual_seed(0)
    net = _randomise_bn(nn.Sequential(Inception(8, 4, 3, 5, 2, 3, 6), nn.ReLU(),
                                      Inception(18, 2, 2, 3, 4, 5, 1))).double()
    x = torch.randn(2, 8, 9, 7, dtype=torch.float64, requires_grad=True)
    unfolded = copy.deepcopy(net)
    assert fuse_inception_branches(unfolded) == 0  # BatchNorm still there: nothing to stack
    fused = copy.deepcopy(net)
    assert fold_batchnorm(fused) == 12 and fuse_inception_branches(fused) == 2
    assert [type(m) for m in fused].count(_FusedInception) == 2
    ref, out = net(x), fused(x)
    torch.testing.assert_close(out, ref)
    w = torch.randn(ref.shape, dtype=torch.float64)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), x)
    (g_out,) = torch.autograd.grad((out * w).sum(), x)
    torch.testing.assert_close(g_out, g_ref)


def test_search_falls_back_when_folding_changes_the_output(tiny_gan, corrupted):
    """A block whose forward is bn(conv(x)), but whose owner calls its conv directly: the folded
    copy computes something else, the first-batch check catches it, and the search runs unfolded."""
    g, d = tiny_gan

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)
            self.bn = nn.BatchNorm2d(3)

        def forward(self, x):
            return self.bn(self.conv(x))

    class D(nn.Module):
        def __init__(self):
            super().__init__()
            self.block = _randomise_bn(Block())
            self.head = d

        def forward(self, x):
            return self.head(self.block.conv(x).tanh())  # bypasses block.forward

    disc = D().eval()
    y, mask = corrupted
    ref = latent_search(g, disc, y, mask, "context,prior", SearchConfig(iters=4, fold_bn=False))
    with pytest.warns(UserWarning, match="folding BatchNorm changed the output of D"):
        res = latent_search(g, disc, y, mask, "context,prior", SearchConfig(iters=4, fold_bn=True))
    np.testing.assert_allclose(res.history["total"], ref.history["total"], rtol=1e-4, atol=1e-4)


def test_bf16_warns_where_it_is_not_native(tiny_gan, corrupted, monkeypatch):
    import warnings

    import inpaintkit.utils.device as U

    g, d = tiny_gan
    y, mask = corrupted
    monkeypatch.setattr(U, "native_bf16", lambda device="cpu": False)
    with pytest.warns(RuntimeWarning, match="no native bfloat16"):
        latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=1, precision="bf16"))
    monkeypatch.setattr(U, "native_bf16", lambda device="cpu": True)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=1, precision="bf16"))


def test_bad_precision_raises():
    with pytest.raises(ValueError, match="unknown precision 'fp16'.*auto, fp32, bf16"):
        SearchConfig(precision="fp16")


@pytest.mark.parametrize("native", [True, False])
def test_auto_precision_is_bf16_exactly_where_bf16_is_native(native, monkeypatch):
    import inpaintkit.utils.device as U

    monkeypatch.setattr(U, "native_bf16", lambda device="cpu": native)
    monkeypatch.setattr(U, "auto_precision", real_auto_precision)
    assert U.resolve_precision("auto", "cpu") == ("bf16" if native else "fp32")
    assert U.resolve_precision(None, "cpu") == ("bf16" if native else "fp32")
    assert U.resolve_precision("fp32", "cpu") == "fp32" and U.resolve_precision("bf16", "cpu") == "bf16"
    with pytest.raises(ValueError, match="unknown precision 'fp8'"):
        U.resolve_precision("fp8", "cpu")


@pytest.mark.parametrize("auto", ["fp32", "bf16"])
def test_auto_is_the_default_and_the_result_records_what_ran(auto, tiny_gan, corrupted, monkeypatch):
    import inpaintkit.utils.device as U

    g, d = tiny_gan
    y, mask = corrupted
    monkeypatch.setattr(U, "auto_precision", lambda device="cpu": auto)
    monkeypatch.setattr(U, "native_bf16", lambda device="cpu": True)  # no slow-bf16 warning
    assert SearchConfig().precision == "auto"
    res = latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=2, seed=0))
    ref = latent_search(g, d, y, mask, "context,prior", SearchConfig(iters=2, seed=0, precision=auto))
    assert res.config["precision"] == auto
    torch.testing.assert_close(res.g, ref.g, rtol=0, atol=0)  # auto runs exactly what it resolved to


def test_bench_rows_record_the_resolved_precision(monkeypatch):
    import inpaintkit.utils.device as U
    from inpaintkit.bench import BenchConfig, resolve_config

    monkeypatch.setattr(U, "auto_precision", lambda device="cpu": "bf16")
    assert resolve_config(BenchConfig(dry_run=True)).config.precision == "bf16"
    assert resolve_config(BenchConfig(dry_run=True, precision="fp32")).config.precision == "fp32"
    monkeypatch.setattr(U, "auto_precision", lambda device="cpu": "fp32")
    assert resolve_config(BenchConfig(dry_run=True)).config.precision == "fp32"


def test_poisson_factorisation_cache_gives_the_same_results(odd_size):
    """Blending with masks A, B, A again (the cache hit) and at another image size with the same
    bits count as a different system; every result equals a fresh, uncached solve."""
    import inpaintkit.blend as blend_mod

    gen = torch.Generator().manual_seed(0)
    h, w = odd_size
    masks = [make_mask("center", (h, w)), make_mask("random:0.6", (h, w), seed=1), make_mask("center", (h, w))]
    y = torch.rand(2, 3, h, w, generator=gen) * 2 - 1
    g = torch.rand(2, 3, h, w, generator=gen) * 2 - 1
    cached = [blend_mod.poisson_blend(y, g, m) for m in masks]
    for m, got in zip(masks, cached):
        blend_mod._SYSTEMS.clear()
        torch.testing.assert_close(got, blend_mod.poisson_blend(y, g, m), rtol=0, atol=0)
    # a transposed image of the same number of pixels must not hit the (h, w) entry
    t = blend_mod.poisson_blend(y.transpose(-1, -2).contiguous(), g.transpose(-1, -2).contiguous(),
                                masks[0].transpose(-1, -2).contiguous())
    torch.testing.assert_close(t, cached[0].transpose(-1, -2), rtol=1e-6, atol=1e-6)


def test_feature_network_may_skip_the_logits(tiny_gan, tiny_feature_net, corrupted):
    """A feature network whose forward takes ``logits=False`` is asked to skip its head when no
    term reads the logits, and gives the same sem values."""
    from inpaintkit.features import TinyFeatureNet
    from inpaintkit.losses import build_loss

    class EarlyExit(TinyFeatureNet):
        asked: list = []  # on the class: shared with the search's copy of the network

        def forward(self, x, layers=(), logits=True):
            self.asked.append(logits)
            feats, out = super().forward(x, layers)
            if not logits:
                return {k: v for k, v in feats.items()}, None
            return feats, out

    net = EarlyExit(num_classes=10)
    net.load_state_dict(tiny_feature_net.state_dict())
    net.freeze()
    g, d = tiny_gan
    y, mask = corrupted
    z = torch.rand(4, TINY_NZ, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ref = build_loss("context,sem", tiny_feature_net)(z, y, mask, g, d)[1]["sem"]
    got = build_loss("context,sem", net)(z, y, mask, g, d)[1]["sem"]
    torch.testing.assert_close(got, ref)
    build_loss("sem,cat", net)(z, y, mask, g, d)
    assert net.asked == [False, True]
    res = latent_search(g, d, y, mask, "context,sem", SearchConfig(iters=2), feature_net=net)
    assert torch.isfinite(res.total).all() and set(net.asked[2:]) == {False}


def test_keep_freed_cpu_memory_is_applied_once_and_can_be_turned_off(monkeypatch):
    import platform

    import inpaintkit.utils.device as U

    calls = []
    monkeypatch.setattr(U, "_MALLOC_TUNED", None)
    monkeypatch.setenv("INPAINTKIT_MALLOC_TUNING", "0")
    assert U.keep_freed_cpu_memory() is False
    monkeypatch.delenv("INPAINTKIT_MALLOC_TUNING")
    assert U.keep_freed_cpu_memory() is False  # decided once per process
    monkeypatch.setattr(U, "_MALLOC_TUNED", None)
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    if glibc:  # the real mallopt, counted
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        real = libc.mallopt
        monkeypatch.setattr(ctypes, "CDLL", lambda name: type("L", (), {"mallopt": _Counted(real, calls)})())
    assert U.keep_freed_cpu_memory() is glibc
    assert U.keep_freed_cpu_memory() is glibc
    assert len(calls) == (2 if glibc else 0)  # M_MMAP_THRESHOLD and M_TRIM_THRESHOLD, once


class _Counted:
    def __init__(self, fn, calls):
        self.fn, self.calls, self.argtypes, self.restype = fn, calls, None, None

    def __call__(self, *args):
        self.calls.append(args)
        self.fn.argtypes, self.fn.restype = self.argtypes, self.restype
        return self.fn(*args)
