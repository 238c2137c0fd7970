"""Loss terms, spec strings and the composite loss."""
from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from inpaintkit._presets import RATIO_TABLE_R, default_weights_for_mask
from inpaintkit.features import FeatureNetwork
from inpaintkit.losses import (
    DEFAULT_WEIGHTS,
    LOSSES,
    AutoWeight,
    LossSpec,
    LossSpecError,
    LossTerm,
    build_loss,
    context_weights,
    format_loss_spec,
    parse_loss_spec,
    register_loss,
    unregister_loss,
)
from inpaintkit.masks import MaskError, make_mask

FEATURE_TERMS = {"sem", "cat"}


# --- stubs whose outputs can be worked out by hand ----------------------------------------------------

class ConstantG(nn.Module):
    """G(z) = the constant image z[:, 0] everywhere."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, z):
        return z[:, :1, None, None].expand(-1, 3, self.size, self.size)


class MeanD(nn.Module):
    """logit = 4 * mean(x)."""

    def forward(self, x):
        return 4.0 * x.flatten(1).mean(1)


class PixelFeatures(FeatureNetwork):
    """Layer ``pix`` is the image itself; logits are ``[0, 4 * mean(x)]``."""

    layer_names = ("pix",)
    default_layers = ("pix",)
    num_classes = 2

    def extract(self, x, layers):
        m = 4.0 * x.flatten(1).mean(1)
        return {"pix": x}, torch.stack([torch.zeros_like(m), m], 1)


# A 16x16 centre mask: 64 hole pixels, 192 known; G's constant c, y's constant a on the known part.
N_KNOWN, N_HOLE, C, A = 192, 64, 0.5, -0.25


def _softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def _sym_kl(c: float) -> float:
    m_comp = (N_KNOWN * A + N_HOLE * c) / 256
    lp = np.log(np.exp([0.0, 4 * c]) / np.exp([0.0, 4 * c]).sum())
    lq = np.log(np.exp([0.0, 4 * m_comp]) / np.exp([0.0, 4 * m_comp]).sum())
    return float(((np.exp(lp) - np.exp(lq)) * (lp - lq)).sum())


def _sym_kl_to_known(c: float) -> float:
    # cat[known]: the reference is the softmax on M*y (mean 192*A/256, fixed), not on G(z)
    m_comp = (N_KNOWN * A + N_HOLE * c) / 256
    lp = np.log(np.exp([0.0, 4 * N_KNOWN * A / 256]) / np.exp([0.0, 4 * N_KNOWN * A / 256]).sum())
    lq = np.log(np.exp([0.0, 4 * m_comp]) / np.exp([0.0, 4 * m_comp]).sum())
    return float(((np.exp(lp) - np.exp(lq)) * (lp - lq)).sum())


HAND = {  # spec -> value as a function of G's constant c, worked out on paper
    "context[l1]": lambda c: 3 * N_KNOWN * abs(c - A),
    "context[l2]": lambda c: 3 * N_KNOWN * (c - A) ** 2,
    "prior": lambda c: -_softplus(4 * c),
    "prior[nonsaturating]": lambda c: _softplus(-4 * c),
    "inpaint": lambda c: -_softplus(4 * (N_KNOWN * A + N_HOLE * c) / 256),
    "inpaint[nonsaturating]": lambda c: _softplus(-4 * (N_KNOWN * A + N_HOLE * c) / 256),
    # ||M*(g - y)||^2 / ||y'||^2: the denominator depends on c too (both branches carry gradient)
    "sem": lambda c: (N_KNOWN * (c - A) ** 2) / (N_KNOWN * A**2 + N_HOLE * c**2),
    "cat": _sym_kl,
    # ||M*g - M*y||^2 / ||M*y||^2 over the 3 * 192 known values: the fixed denominator has no c
    "sem[known]": lambda c: (c - A) ** 2 / A**2,
    "cat[known]": _sym_kl_to_known,
}


def _hand_inputs():
    mask = make_mask("center", 16)
    y = torch.where(mask > 0, torch.full((1, 3, 16, 16), A, dtype=torch.float64), float("nan"))
    return y, mask.double()


@pytest.mark.parametrize("spec", sorted(HAND))
def test_hand_computed_value_and_gradient(spec):
    y, mask = _hand_inputs()
    loss = build_loss(spec, feature_net=PixelFeatures())
    z = torch.tensor([[C, 0.0]], dtype=torch.float64, requires_grad=True)
    total, terms = loss(z, y, mask, ConstantG(16), MeanD())
    name = spec.partition("[")[0]
    assert total.shape == (1,) and terms[name].shape == (1,)
    assert terms[name].item() == pytest.approx(HAND[spec](C), rel=1e-9)
    assert total.item() == pytest.approx(DEFAULT_WEIGHTS[name] * HAND[spec](C), rel=1e-9)
    terms[name].sum().backward()
    h = 1e-6
    fd = (HAND[spec](C + h) - HAND[spec](C - h)) / (2 * h)
    assert z.grad[0, 0].item() == pytest.approx(fd, rel=1e-5, abs=1e-9)


def test_weighted_context_hand_value():
    # 64x64, hole 16-47: sum of W = (1024 * 49 - 212**2) / 49 (each hole pixel's window holds
    # 49 - rows_in * cols_in known pixels, sum_r rows_in = 2 * (4 + 5 + 6) + 26 * 7 = 212).
    mask = make_mask("center", 64).double()
    y = torch.full((1, 3, 64, 64), A, dtype=torch.float64)
    z = torch.tensor([[C]], dtype=torch.float64)
    total, _ = build_loss("context")(z, y, mask, ConstantG(64), None)
    assert total.item() == pytest.approx(3 * abs(C - A) * (1024 * 49 - 212**2) / 49, rel=1e-12)


# --- the weighted mask ----------------------------------------------------------------------------

def test_context_weights_closed_form():
    w = context_weights(make_mask("center", 64))[0, 0]
    assert w[15, 30].item() == pytest.approx(21 / 49)  # beside an edge of the hole
    assert w[15, 15].item() == pytest.approx(9 / 49)   # at a corner
    assert w[13, 30].item() == pytest.approx(7 / 49)   # three pixels away
    assert w[12, 30].item() == 0.0                     # four away: outside the window
    assert int((w > 0).sum()) == 420
    assert (w[16:48, 16:48] == 0).all()                # 0 in the hole


def test_context_weights_symmetric_padding_at_borders():
    # Left half missing: the first known column sees 3 hole columns on every row, the top and
    # bottom rows included (symmetric padding; zero padding would give 12/49 on row 0).
    w = context_weights(make_mask("left", 64))[0, 0]
    assert torch.allclose(w[:, 32], torch.full((64,), 21 / 49))
    assert torch.allclose(w[:, 35], torch.full((64,), 0.0)) and (w[:, :32] == 0).all()


def test_context_weights_match_numpy_on_odd_size(odd_size):
    h, w = odd_size
    mask = make_mask("blocks:3", (h, w), seed=5)
    hole = 1 - mask[0, 0].numpy().astype(np.float64)
    padded = np.pad(hole, 3, mode="symmetric")
    ref = np.zeros((h, w))
    for i in range(h):
        for j in range(w):
            ref[i, j] = padded[i:i + 7, j:j + 7].sum() / 49
    ref *= 1 - hole
    np.testing.assert_allclose(context_weights(mask)[0, 0].numpy(), ref, atol=1e-6)


# --- every registered term --------------------------------------------------------------------------

def _single_term(spec, fnet):
    loss = build_loss(spec, feature_net=fnet if LOSSES.get(spec.partition("[")[0]).requires & {
        "feat_g", "feat_composite", "logits_g", "logits_composite"} else None)
    return loss, spec.partition("[")[0]


#: every registered term, and each of its modes that reads other inputs (sem[known], cat[known])
TERM_SPECS = LOSSES.list() + [f"{n}[{m}]" for n in LOSSES.list() for m in LOSSES.get(n).mode_requires]


def test_term_specs_cover_the_known_modes():
    assert {"sem[known]", "cat[known]"} <= set(TERM_SPECS)


@pytest.mark.parametrize("spec", TERM_SPECS)
def test_term_shape_finite_and_gradient(spec, tiny_gan, tiny_feature_net, corrupted):
    g, d = tiny_gan
    y, mask = corrupted
    loss, name = _single_term(spec, tiny_feature_net)
    z = (torch.rand(4, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_()
    total, terms = loss(z, y, mask, g, d)
    assert total.shape == (4,) and terms[name].shape == (4,)
    assert torch.isfinite(total).all()
    total.sum().backward()
    assert torch.isfinite(z.grad).all()
    assert (z.grad.abs().sum(1) > 0).all(), "every image's z must get a gradient"


@pytest.mark.parametrize("spec", TERM_SPECS)
def test_term_batch_invariance(spec, tiny_gan, tiny_feature_net):
    """One image alone gets the same z-gradient as inside a batch of 8 (float64, exact-ish)."""
    g, d = (m.double() for m in tiny_gan)
    fnet = tiny_feature_net.double()
    loss, _ = _single_term(spec, fnet)
    gen = torch.Generator().manual_seed(3)
    y = torch.rand(8, 3, 32, 32, generator=gen, dtype=torch.float64) * 2 - 1
    mask = torch.cat([make_mask("random:0.6", 32, seed=i) for i in range(8)]).double()
    z = torch.rand(8, 16, generator=gen, dtype=torch.float64) * 2 - 1
    zb = z.clone().requires_grad_()
    loss(zb, y, mask, g, d)[0].sum().backward()
    for i in (0, 5):
        zi = z[i:i + 1].clone().requires_grad_()
        loss(zi, y[i:i + 1], mask[i:i + 1], g, d)[0].sum().backward()
        torch.testing.assert_close(zi.grad[0], zb.grad[i], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("spec", TERM_SPECS)
def test_hole_content_of_y_is_never_read(spec, tiny_gan, tiny_feature_net, corrupted):
    g, d = tiny_gan
    y_nan, mask = corrupted
    loss, _ = _single_term(spec, tiny_feature_net)
    results = []
    for fill in (float("nan"), 1e6, 0.0):
        y = torch.where(mask > 0, y_nan, torch.full_like(y_nan, fill))
        z = (torch.rand(4, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1).requires_grad_()
        total, _ = loss(z, y, mask, g, d)
        total.sum().backward()
        results.append((total.detach(), z.grad))
    for total, grad in results[1:]:
        assert torch.equal(total, results[0][0]) and torch.equal(grad, results[0][1])
    assert torch.isfinite(results[0][0]).all()


# --- the composite computes shared inputs once ------------------------------------------------------

class Counting(nn.Module):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls, self.batches = inner, 0, []

    def forward(self, x, *args):
        self.calls += 1
        self.batches.append(x.shape[0])
        return self.inner(x, *args)


class CountingFeatures(FeatureNetwork):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.calls, self.layers_asked = inner, 0, []
        self.layer_names, self.default_layers = inner.layer_names, inner.default_layers
        self.num_classes = inner.num_classes

    def extract(self, x, layers):
        self.calls += 1
        self.layers_asked.append(tuple(layers))
        return self.inner(x, layers)


def test_composite_runs_each_network_once_per_step(tiny_gan, tiny_feature_net, corrupted):
    g, d = (Counting(m) for m in tiny_gan)
    fnet = CountingFeatures(tiny_feature_net)
    loss = build_loss("context,prior,inpaint,sem[layers=block1+block3],cat", fnet)
    y, mask = corrupted
    z = torch.zeros(4, 16)
    total, terms = loss(z, y, mask, g, d)
    assert (g.calls, d.calls, fnet.calls) == (1, 1, 1)
    assert d.batches == [8] and fnet.layers_asked == [("block1", "block3")]
    assert list(terms) == ["context", "prior", "inpaint", "sem", "cat"]
    expected = sum(loss.weights[k] * v for k, v in terms.items())
    torch.testing.assert_close(total, expected)


def test_composite_builds_only_what_is_required(tiny_gan, corrupted):
    g, d = (Counting(m) for m in tiny_gan)
    y, mask = corrupted
    build_loss("context")(torch.zeros(4, 16), y, mask, g, d)
    assert (g.calls, d.calls) == (1, 0)
    build_loss("prior")(torch.zeros(4, 16), y, mask, g, d)
    assert d.batches == [4]  # D on G(z) only, no composite


# --- spec strings ---------------------------------------------------------------------------------------

def test_parse_spec_defaults_options_and_round_trip():
    e = parse_loss_spec("context, prior=0.003,sem[layers=inception3b+inception4b]=1e5,cat")
    assert e == [("context", 1.0, {}), ("prior", 0.003, {}),
                 ("sem", 1e5, {"layers": ("inception3b", "inception4b")}), ("cat", 8.0, {})]
    e = parse_loss_spec("context[l2],prior[nonsaturating]=0,inpaint[mode=paper]")
    assert e == [("context", 1.0, {"mode": "l2"}), ("prior", 0.0, {"mode": "nonsaturating"}),
                 ("inpaint", 3.0, {"mode": "paper"})]
    assert parse_loss_spec(format_loss_spec(e)) == e
    # calibrated on Stanford Cars val 200-231 (benchmarks/results/guidance/)
    assert DEFAULT_WEIGHTS == {"context": 1.0, "prior": 0.003, "inpaint": 3.0, "sem": 150.0, "cat": 8.0}


def test_default_weights_for_random_masks():
    w = default_weights_for_mask("random:0.7")
    assert (w["inpaint"], w["sem"], w["cat"], w["context"], w["prior"]) == (30, 8, 0.4, 1, 0.003)
    assert default_weights_for_mask("center") == DEFAULT_WEIGHTS
    e = parse_loss_spec("context,inpaint,cat=5", defaults=w)
    assert [x.weight for x in e] == [1.0, 30.0, 5.0]


def test_eth_weight_table():
    assert default_weights_for_mask("left", "eth") == {
        "context": 1.0, "prior": 0.003, "inpaint": 3.0, "sem": 1e5, "cat": 1e6}
    w = default_weights_for_mask("random:0.7", "eth")
    assert (w["inpaint"], w["sem"], w["cat"]) == (30, 1e6, 1e7)
    with pytest.raises(LossSpecError, match=r"unknown weight table 'paper'.*calibrated, eth"):
        default_weights_for_mask("center", "paper")


def test_ratio_weight_table_defaults_sem_and_cat_to_auto_weights():
    for mask in ("center", "random:0.7"):
        w = default_weights_for_mask(mask, "ratio")
        assert w["sem"] == w["cat"] == AutoWeight(RATIO_TABLE_R)
        assert w["inpaint"] == default_weights_for_mask(mask)["inpaint"]
        # a weight given in the spec wins; omitted ones take the table's auto weight
        e = parse_loss_spec("context,sem=5,cat", defaults=w)
        assert [x.weight for x in e] == [1.0, 5.0, AutoWeight(RATIO_TABLE_R)]


# --- LossSpec: parsed once ------------------------------------------------------------------------------

def test_loss_spec_carries_entries_needs_and_canonical_string():
    spec = LossSpec.parse("context[l2], prior, sem[known]=auto:1")
    assert spec.names == ("context", "prior", "sem")
    assert [e.mode for e in spec.entries] == ["l2", None, "known"]
    assert spec.weights == {"context": 1.0, "prior": 0.003, "sem": AutoWeight(1.0)}
    assert spec.given == {"sem"}
    # sem[known] reads the features of M*G(z) and M*y, not those of G(z): requires follows the mode
    assert {"feat_masked_g", "feat_y", "d_g"} <= spec.requires and "feat_g" not in spec.requires
    assert spec.needs_feature_net and spec.needs_discriminator
    assert str(spec) == spec.canonical == "context[l2]=1,prior=0.003,sem[known]=auto:1"
    assert LossSpec.parse(spec.canonical).entries == spec.entries
    plain = LossSpec.parse("context")
    assert not plain.needs_feature_net and not plain.needs_discriminator
    assert LossSpec.parse("context,inpaint").needs_discriminator
    assert LossSpec.parse(spec) is spec


@pytest.mark.parametrize("table", ["calibrated", "eth", "ratio"])
@pytest.mark.parametrize("mask", ["center", "random:0.7"])
def test_loss_spec_defaults_match_parsing_with_them(mask, table):
    defaults = default_weights_for_mask(mask, table)
    for text in ("context,prior,inpaint,sem,cat", "context,prior=0.01,sem=auto:2,cat",
                 "context[l2],cat[known]=5"):
        once = LossSpec.parse(text).with_defaults(defaults)
        assert once.entries == tuple(parse_loss_spec(text, defaults))
        assert once.canonical == format_loss_spec(parse_loss_spec(text, defaults))


def test_loss_spec_monitoring_appends_missing_terms_at_weight_zero():
    spec = LossSpec.parse("context,sem=2").monitoring(["sem", "prior", "cat", "prior"])
    assert spec.canonical == "context=1,sem=2,prior=0,cat=0"
    assert spec.with_defaults({"cat": 40.0}).weights["cat"] == 0.0  # a monitored term stays at 0
    with pytest.raises(LossSpecError, match="unknown loss 'nope'"):
        LossSpec.parse("context").monitoring(["nope"])


def test_build_loss_takes_a_loss_spec():
    spec = LossSpec.parse("context,prior=0.01")
    loss = build_loss(spec)
    assert loss.spec == build_loss("context,prior=0.01").spec
    assert loss.weights == spec.weights


def test_losses_package_knows_nothing_of_masks():
    import inpaintkit.losses as L

    src = "\n".join(p.read_text() for p in Path(L.__file__).parent.glob("*.py"))
    assert "random:" not in src and "RANDOM_MASK_WEIGHTS =" not in src
    assert not hasattr(L, "default_weights_for_mask")
    # the per-mask policy is the benchmark's, public there
    from inpaintkit import _presets, bench

    assert bench.default_weights_for_mask is _presets.default_weights_for_mask


# --- auto weights ---------------------------------------------------------------------------------------

def test_auto_weight_parses_and_round_trips():
    e = parse_loss_spec("context,sem=auto:1,cat=auto:0.25")
    assert e[1].weight == AutoWeight(1.0) and e[2].weight == AutoWeight(0.25)
    assert format_loss_spec(e) == "context=1,sem=auto:1,cat=auto:0.25"
    assert parse_loss_spec(format_loss_spec(e)) == e


@pytest.mark.parametrize("spec, message", [
    ("context,sem=auto:-1", r"auto ratio of loss 'sem' must be a finite number > 0, got '-1'"),
    ("context,sem=auto:0", r"auto ratio of loss 'sem' must be a finite number > 0"),
    ("context,sem=auto:inf", r"finite number > 0"),
    ("context,sem=auto:x", r"cannot parse the ratio 'x' in sem=auto:x"),
    ("context,sem=auto", r"auto weight is auto:R"),
    ("context,sem=automatic:1", r"auto weight is auto:R"),
    ("context=auto:1,prior", r"context is the reference"),
])
def test_bad_auto_weights_raise(spec, message):
    with pytest.raises(LossSpecError, match=message):
        parse_loss_spec(spec)


def test_auto_weight_needs_context():
    with pytest.raises(LossSpecError, match="relative to the context term"):
        build_loss("prior,inpaint=auto:1")


def _grad_norm(value, z):
    (g,) = torch.autograd.grad(value.sum(), z, retain_graph=True)
    return g.norm(dim=1)


@pytest.mark.parametrize("ratio", [0.1, 1.0, 7.0])
def test_auto_weight_sets_the_gradient_ratio(tiny_gan, corrupted, tiny_feature_net, ratio):
    g, d = tiny_gan
    y, mask = corrupted
    loss = build_loss(f"context=2,prior=auto:{ratio},sem=auto:{ratio}", tiny_feature_net)
    prepared = loss.prepare(y, mask)
    z = (torch.rand(y.shape[0], 16, generator=torch.Generator().manual_seed(1)) * 2 - 1).requires_grad_(True)
    terms = loss.breakdown(z, g, d, prepared)
    w = loss.resolve_weights(terms, z)
    ref = 2.0 * _grad_norm(terms["context"], z)
    for name in ("prior", "sem"):
        assert w[name].shape == (y.shape[0],) and (w[name] > 0).all()
        # the weighted gradient of the term itself, not just the weight formula
        got = _grad_norm(terms[name] * w[name], z) / ref
        torch.testing.assert_close(got, torch.full_like(got, ratio), rtol=0.01, atol=0)
    # the images get different weights: it is set per image
    assert w["sem"].unique().numel() == y.shape[0]


def test_auto_weight_is_per_image(tiny_gan, corrupted, tiny_feature_net):
    g, d = tiny_gan
    y, mask = corrupted
    loss = build_loss("context,prior,cat=auto:1", tiny_feature_net)
    z = (torch.rand(y.shape[0], 16, generator=torch.Generator().manual_seed(2)) * 2 - 1)
    zb = z.clone().requires_grad_(True)
    batch = loss.resolve_weights(loss.breakdown(zb, g, d, loss.prepare(y, mask)), zb)["cat"]
    for i in range(y.shape[0]):
        zi = z[i:i + 1].clone().requires_grad_(True)
        mi = mask if mask.shape[0] == 1 else mask[i:i + 1]
        alone = loss.resolve_weights(loss.breakdown(zi, g, d, loss.prepare(y[i:i + 1], mi)), zi)["cat"]
        torch.testing.assert_close(alone, batch[i:i + 1], rtol=1e-4, atol=0)


def test_auto_weights_group_restarts(tiny_gan, corrupted, tiny_feature_net):
    loss = build_loss("context,sem=auto:1", tiny_feature_net)
    norms = {"context": torch.tensor([1.0, 3.0, 2.0, 2.0]), "sem": torch.tensor([1.0, 1.0, 4.0, 0.0])}
    w = loss.resolve_weights_from_norms(norms, group=2)["sem"]
    # image 0: mean context 2 / mean sem 1; image 1: 2 / 2; both restarts share the weight
    torch.testing.assert_close(w, torch.tensor([2.0, 2.0, 1.0, 1.0]))
    # a vanishing gradient gives weight 0, not inf
    w1 = loss.resolve_weights_from_norms(norms)["sem"]
    assert w1[3] == 0 and torch.isfinite(w1).all()


def test_unresolved_auto_weight_cannot_be_combined(tiny_feature_net):
    loss = build_loss("context,sem=auto:1", tiny_feature_net)
    with pytest.raises(ValueError, match=r"weight of 'sem' is auto:1: resolve it first"):
        loss.combine({"context": torch.zeros(2), "sem": torch.zeros(2)})


@pytest.mark.parametrize("spec, message", [
    ("context,nope", r"unknown loss 'nope'.*cat, context, inpaint, prior, sem"),
    ("prior=abc", r"cannot parse weight 'abc'"),
    ("prior=-1", r"finite number >= 0"),
    ("prior=nan", r"finite number >= 0"),
    ("prior=inf", r"finite number >= 0"),
    ("context[l3]", r"unknown mode 'l3'.*weighted, l1, l2"),
    ("context[size=3]", r"unknown option 'size'.*mode, window"),
    ("cat[fast]", r"unknown mode 'fast' for loss 'cat'; valid modes: paper, known"),
    ("sem[knwon]", r"unknown mode 'knwon' for loss 'sem'; valid modes: paper, known"),
    ("sem[mode=kown]", r"unknown mode 'kown' for loss 'sem'; valid modes: paper, known"),
    ("context,context[l2]", r"twice"),
    ("", r"empty loss spec.*context"),
    ("context,,prior", r"empty entry"),
    ("context[l1", r"unbalanced"),
    ("context=1=2", r"cannot parse weight"),
    ("2context", r"cannot parse"),
])
def test_bad_specs_raise(spec, message):
    with pytest.raises(LossSpecError, match=message):
        parse_loss_spec(spec)


def test_bad_term_options_and_missing_feature_net(tiny_feature_net):
    with pytest.raises(LossSpecError, match="window"):
        build_loss("context[window=4]")
    with pytest.raises(LossSpecError, match="feature network"):
        build_loss("context,sem")
    with pytest.raises(LossSpecError, match=r"unknown feature layer.*block1"):
        build_loss("sem[layers=inception3b]", tiny_feature_net)


def test_bad_inputs_raise(tiny_gan, corrupted):
    g, d = tiny_gan
    y, mask = corrupted
    loss = build_loss("context,prior")
    z = torch.zeros(4, 16)
    with pytest.raises(MaskError, match="binary"):
        loss(z, y, mask * 0.5 + 0.25, g, d)
    with pytest.raises(MaskError, match="no hole"):
        loss(z, y, torch.ones_like(mask), g, d)
    with pytest.raises(MaskError, match="no known pixel"):
        loss(z, y, torch.zeros_like(mask), g, d)
    y_bad = y.clone()
    y_bad[1, 0, 0, 40 // 2 + 10] = float("nan")  # a known pixel of the left-half mask
    with pytest.raises(ValueError, match=r"NaN/inf values at known pixels \(image 1\)"):
        loss(z, y_bad, mask, g, d)
    with pytest.raises(MaskError, match="32x32"):
        loss(z, y[..., :31], mask, g, d)
    with pytest.raises(ValueError, match="z must have shape"):
        loss(torch.zeros(3, 16), y, mask, g, d)
    with pytest.raises(ValueError, match="generator makes"):
        loss(z, torch.zeros(4, 3, 16, 16), make_mask("center", 16), g, d)
    with pytest.raises(ValueError, match="need a discriminator"):
        loss(z, y, mask, g, None)


def test_duplicate_registration_raises():
    with pytest.raises(KeyError, match="already registered"):
        register_loss("context")(type("Dup", (LossTerm,), {"requires": frozenset({"g"})}))
    with pytest.raises(ValueError, match="unknown inputs"):
        register_loss("bad_inputs")(type("Bad", (LossTerm,), {"requires": frozenset({"G"})}))
    assert "bad_inputs" not in LOSSES


# --- the README's custom-term example, run exactly ------------------------------------------------

CUSTOM_TERM_EXAMPLE = '''\
import torch
from inpaintkit.losses import LossTerm, build_loss, register_loss

@register_loss("tv", weight=0.01)
class TotalVariationLoss(LossTerm):
    """Anisotropic total variation of G(z), summed over pixels and channels."""
    requires = frozenset({"g"})          # named inputs it reads: see inpaintkit.losses.INPUTS

    def forward(self, g: torch.Tensor, **_) -> torch.Tensor:
        dx = (g[..., :, 1:] - g[..., :, :-1]).abs().sum((1, 2, 3))
        dy = (g[..., 1:, :] - g[..., :-1, :]).abs().sum((1, 2, 3))
        return dx + dy                    # shape (B,): one value per image

loss = build_loss("context,prior,tv=0.05")
'''


def _run_example(code, tiny_gan, corrupted):
    ns: dict = {}
    try:
        exec(compile(code, "README example", "exec"), ns)
        g, d = tiny_gan
        y, mask = corrupted
        z = torch.zeros(4, 16, requires_grad=True)
        total, terms = ns["loss"](z, y, mask, g, d)
        assert set(terms) == {"context", "prior", "tv"} and ns["loss"].weights["tv"] == 0.05
        assert DEFAULT_WEIGHTS["tv"] == 0.01 and terms["tv"].shape == (4,)
        gx = ns["loss"](z, y, mask, g, d)[1]["tv"]
        expected = sum((gg.diff(dim=k).abs().sum()) for gg in [g(z.detach())[0]] for k in (1, 2))
        assert gx[0].item() == pytest.approx(expected.item(), rel=1e-5)
        total.sum().backward()
        assert z.grad.abs().sum() > 0
    finally:
        unregister_loss("tv")
    assert "tv" not in LOSSES and "tv" not in DEFAULT_WEIGHTS


def test_custom_term_example_runs(tiny_gan, corrupted):
    _run_example(CUSTOM_TERM_EXAMPLE, tiny_gan, corrupted)


def test_readme_custom_term_example_is_the_tested_one(tiny_gan, corrupted):
    readme = Path(__file__).resolve().parents[1] / "README.md"
    blocks = re.findall(r"```python\n(.*?)```", readme.read_text(), flags=re.S)
    blocks = [b for b in blocks if "@register_loss(" in b]
    # The README documents custom terms with this example: its absence is a failure, not a skip.
    assert blocks, "README.md lost its register_loss example"
    assert blocks[0] == CUSTOM_TERM_EXAMPLE
    _run_example(blocks[0], tiny_gan, corrupted)


def _squared_norms_reference(a, b):
    a, b = a.double(), b.double()
    return (a - b).square().flatten(1).sum(1), b.square().flatten(1).sum(1)


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("channels_last", [False, True])
def test_squared_norms_match_autograd_reference(dtype, channels_last):
    """The fused per-image reduction behind sem gives autograd's values and gradients."""
    from inpaintkit.losses.terms import squared_norms

    gen = torch.Generator().manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    a0 = torch.randn(3, 5, 4, 6, generator=gen).to(dtype).contiguous(memory_format=fmt)
    b0 = torch.randn(3, 5, 4, 6, generator=gen).to(dtype).contiguous(memory_format=fmt)
    g_num, g_den = torch.tensor([1.0, -2.0, 0.5]), torch.tensor([0.3, 0.0, -1.5])
    a, b = a0.clone().requires_grad_(), b0.clone().requires_grad_()
    num, den = squared_norms(a, b)
    assert num.dtype == den.dtype == torch.float32
    (num * g_num + den * g_den).sum().backward()
    ra, rb = a0.double().requires_grad_(), b0.double().requires_grad_()
    rnum, rden = _squared_norms_reference(ra, rb)
    (rnum * g_num.double() + rden * g_den.double()).sum().backward()
    torch.testing.assert_close(num.double(), rnum.detach(), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(den.double(), rden.detach(), rtol=1e-6, atol=1e-6)
    tol = 1e-6 if dtype == torch.float32 else 1e-2  # the gradients are returned in the input dtype
    assert a.grad.dtype == dtype and b.grad.dtype == dtype
    torch.testing.assert_close(a.grad.double(), ra.grad, rtol=tol, atol=tol)
    torch.testing.assert_close(b.grad.double(), rb.grad, rtol=tol, atol=tol)
    assert torch.equal(a.detach(), a0) and torch.equal(b.detach(), b0)  # inputs never written to


def test_squared_norms_gradcheck_and_fixed_target():
    from inpaintkit.losses.terms import squared_norms

    gen = torch.Generator().manual_seed(1)
    a = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(2, 3, 4, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x, y: squared_norms(x, y), (a, b))
    # a fixed target (sem[known]): no gradient asked for b, and only num used
    num, _ = squared_norms(a, b.detach())
    num.sum().backward()
    torch.testing.assert_close(a.grad, 2 * (a - b).detach())
    with pytest.raises(ValueError, match="shapes differ"):
        squared_norms(a, b[:1])
