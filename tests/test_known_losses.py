"""``sem[known]`` and ``cat[known]``: classifier terms against fixed targets from the known pixels.

The registry-wide checks (shape, gradient, batch invariance, the hole of y never read) run on
these modes in ``test_losses.py`` (``TERM_SPECS``); the hand-computed values on the pixel
"classifier" are in its ``HAND`` table. This file checks them against a tiny random classifier,
and what is special about them: the ``M*y`` branch is computed once per search, without gradient.
"""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inpaintkit.features import FeatureNetwork, TinyFeatureNet
from inpaintkit.losses import (
    LOSSES,
    LossSpecError,
    LossTerm,
    build_loss,
    describe_losses,
    format_loss_spec,
    parse_loss_spec,
    register_loss,
    unregister_loss,
)
from inpaintkit.masks import make_mask
from inpaintkit.search import SearchConfig, latent_search


@pytest.fixture()
def problem64(tiny_gan, tiny_feature_net):
    """float64 G, D, classifier; 6 images 32x32 with per-image masks and NaN in the holes."""
    g, d = (m.double() for m in tiny_gan)
    gen = torch.Generator().manual_seed(11)
    x = torch.rand(6, 3, 32, 32, generator=gen, dtype=torch.float64) * 2 - 1
    mask = torch.cat([make_mask(s, 32, seed=i) for i, s in
                      enumerate(["center", "left", "random:0.7", "blocks", "center", "random:0.5"])])
    y = torch.where(mask > 0, x, torch.full_like(x, float("nan")))
    z = torch.rand(6, 16, generator=gen, dtype=torch.float64) * 2 - 1
    return g, d, tiny_feature_net.double(), y, mask.double(), z


def _masked(x, mask):
    """M*x with the hole at 0, written out independently of the library."""
    return torch.where(mask > 0, x, torch.zeros_like(x))


# --- values, worked out on a tiny random classifier -------------------------------------------------

@pytest.mark.parametrize("options, layers, weights", [
    ("", ("block1", "block2"), (1.0, 1.0)),                     # the network's default layers
    (",layers=block1+block3,weights=2+0.5", ("block1", "block3"), (2.0, 0.5)),
])
def test_sem_known_value_by_hand(problem64, options, layers, weights):
    g, d, fnet, y, mask, z = problem64
    loss = build_loss(f"sem[known{options}]=3", fnet)
    total, terms = loss(z, y, mask, g, d)
    with torch.no_grad():
        fa, _ = fnet(_masked(g(z), mask), layers)
        fb, _ = fnet(_masked(y, mask), layers)
    expected = sum(w * (fa[n] - fb[n]).square().sum((1, 2, 3)) / fb[n].square().sum((1, 2, 3))
                   for n, w in zip(layers, weights))
    torch.testing.assert_close(terms["sem"], expected, rtol=1e-10, atol=0)
    torch.testing.assert_close(total, 3 * expected, rtol=1e-10, atol=0)
    # not the paper's sem (features of G(z) against y'): the mode changes the value
    paper = build_loss(f"sem[paper{options}]", fnet)(z, y, mask, g, d)[1]["sem"]
    assert ((paper - expected).abs() > 1e-6 * expected).all()


def test_cat_known_value_by_hand(problem64):
    g, d, fnet, y, mask, z = problem64
    terms = build_loss("cat[known]", fnet)(z, y, mask, g, d)[1]
    with torch.no_grad():
        _, logits_y = fnet(_masked(y, mask), ())
        _, logits_c = fnet(_masked(y, mask) + (1 - mask) * g(z), ())
    t, q = F.softmax(logits_y, 1), F.softmax(logits_c, 1)
    expected = (t * (t / q).log()).sum(1) + (q * (q / t).log()).sum(1)  # KL(t||q) + KL(q||t)
    torch.testing.assert_close(terms["cat"], expected, rtol=1e-8, atol=1e-15)
    paper = build_loss("cat", fnet)(z, y, mask, g, d)[1]["cat"]
    assert ((paper - expected).abs() > 1e-6 * expected).all()


def test_sem_known_vanishes_when_g_matches_y_on_the_known_pixels(problem64):
    # G(z) = an image that equals y on the known pixels: M*G(z) = M*y, so sem[known] is 0,
    # whatever G(z) holds in the hole
    g, d, fnet, y, mask, z = problem64
    image = torch.where(mask > 0, y, torch.rand_like(y))

    class Replay(nn.Module):
        def forward(self, zz):
            return image[: zz.shape[0]] + 0 * zz.sum()

    terms = build_loss("sem[known]", fnet)(z, y, mask, Replay(), None)[1]
    torch.testing.assert_close(terms["sem"], torch.zeros(6, dtype=torch.float64), atol=1e-20, rtol=0)


# --- the y branch: fixed, computed once, without gradient --------------------------------------------

class CountingFeatures(FeatureNetwork):
    def __init__(self, inner: FeatureNetwork) -> None:
        super().__init__()
        self.inner, self.batches, self.grad_enabled = inner, [], []
        self.layer_names, self.default_layers = inner.layer_names, inner.default_layers
        self.num_classes = inner.num_classes

    def extract(self, x, layers):
        self.batches.append(x.shape[0])
        self.grad_enabled.append(torch.is_grad_enabled())
        return self.inner(x, layers)


def test_y_branch_runs_once_per_search_without_gradient(tiny_gan, tiny_feature_net, corrupted):
    g, d = tiny_gan
    y, mask = corrupted
    fnet = CountingFeatures(tiny_feature_net)
    loss = build_loss("context,sem[known],cat", fnet)
    prepared = loss.prepare(y, mask)
    assert fnet.batches == [4] and fnet.grad_enabled == [False]
    z = torch.zeros(4, 16, requires_grad=True)
    for _ in range(3):
        loss.breakdown(z, g, d, prepared)
    # each step: one call on G(z), y' (cat) and M*G(z) (sem[known]) together; never on y again
    assert fnet.batches == [4, 12, 12, 12] and fnet.grad_enabled == [False, True, True, True]


def test_no_gradient_reaches_y_or_the_classifier_through_the_targets(tiny_gan, corrupted):
    g, d = tiny_gan
    y_nan, mask = corrupted
    y = torch.nan_to_num(y_nan).requires_grad_(True)
    fnet = TinyFeatureNet(num_classes=10)  # not frozen: its parameters require grad
    for spec in ("sem[known]", "cat[known]"):
        loss = build_loss(spec, fnet)
        prepared = loss.prepare(y, mask)
        assert prepared.fixed, "the known modes' targets are computed by prepare"
        fixed = list(prepared.fixed["feat_y"].values()) + [prepared.fixed["logits_y"]]
        assert all(not t.requires_grad and t.grad_fn is None for t in fixed)
    # sem[known] reads y only through its target: y gets no gradient at all
    y.grad = None
    z = torch.zeros(4, 16, requires_grad=True)
    build_loss("sem[known]", fnet)(z, y, mask, g, d)[0].sum().backward()
    assert y.grad is None and z.grad.abs().sum() > 0


def test_targets_are_computed_in_eval_mode_and_the_mode_is_restored(tiny_gan, corrupted):
    class DropoutFeatures(TinyFeatureNet):
        def __init__(self):
            super().__init__()
            self.drop = nn.Dropout(0.5)

        def extract(self, x, layers):
            feats, logits = super().extract(x, layers)
            return feats, self.drop(logits)

    torch.manual_seed(0)
    fnet = DropoutFeatures().train()
    y, mask = corrupted
    loss = build_loss("cat[known]", fnet)
    prepared = loss.prepare(y, mask)
    assert fnet.training and fnet.drop.training
    with torch.no_grad():
        _, expected = fnet.eval()(_masked(torch.nan_to_num(y), mask), ())
    torch.testing.assert_close(prepared.fixed["logits_y"], expected, rtol=0, atol=0)


def test_logits_are_skipped_where_no_known_term_reads_them(tiny_gan, tiny_feature_net, corrupted):
    class EarlyExit(TinyFeatureNet):
        def __init__(self):
            super().__init__()
            self.asked = []

        def forward(self, x, layers=(), logits=True):
            self.asked.append((x.shape[0], logits))
            feats, out = super().forward(x, layers)
            return feats, (out if logits else None)

    net = EarlyExit()
    net.load_state_dict(tiny_feature_net.state_dict())
    net.freeze()
    g, d = tiny_gan
    y, mask = corrupted
    z = torch.rand(4, 16, generator=torch.Generator().manual_seed(0)) * 2 - 1
    ref = build_loss("sem[known]", tiny_feature_net)(z, y, mask, g, d)[1]["sem"]
    got = build_loss("sem[known]", net)(z, y, mask, g, d)[1]["sem"]
    torch.testing.assert_close(got, ref, rtol=0, atol=0)
    assert net.asked == [(4, False), (4, False)]  # M*y once (prepare), then M*G(z)
    net.asked.clear()
    build_loss("sem[known],cat[known]", net)(z, y, mask, g, d)
    assert net.asked == [(4, True), (8, True)]  # M*y; then y' and M*G(z) in one batch


def test_prepared_inputs_without_targets_raise(tiny_gan, tiny_feature_net, corrupted):
    g, d = tiny_gan
    y, mask = corrupted
    other = build_loss("context,sem", tiny_feature_net).prepare(y, mask)
    with pytest.raises(ValueError, match=r"lack \['feat_y'\].*prepare"):
        build_loss("context,sem[known]", tiny_feature_net).breakdown(torch.zeros(4, 16), g, d, other)


# --- chunking, auto weights, the search --------------------------------------------------------------

def test_feature_chunks_give_the_same_values(problem64):
    g, d, fnet, y, mask, z = problem64
    loss = build_loss("context,sem[known],cat[known]", fnet)
    ref = loss.breakdown(z, g, d, loss.prepare(y, mask))
    for chunk in (1, 4):
        got = loss.breakdown(z, g, d, loss.prepare(y, mask, feature_chunk=chunk), feature_chunk=chunk)
        for name in ("sem", "cat"):
            torch.testing.assert_close(got[name], ref[name], rtol=1e-10, atol=1e-18)


@pytest.mark.parametrize("ratio", [0.3, 4.0])
def test_auto_weights_set_the_gradient_ratio(tiny_gan, corrupted, tiny_feature_net, ratio):
    g, d = tiny_gan
    y, mask = corrupted
    loss = build_loss(f"context=2,sem[known]=auto:{ratio},cat[known]=auto:{ratio}", tiny_feature_net)
    z = (torch.rand(4, 16, generator=torch.Generator().manual_seed(4)) * 2 - 1).requires_grad_(True)
    terms = loss.breakdown(z, g, d, loss.prepare(y, mask))
    w = loss.resolve_weights(terms, z)

    def norm(v):
        (gr,) = torch.autograd.grad(v.sum(), z, retain_graph=True)
        return gr.norm(dim=1)

    ref = 2.0 * norm(terms["context"])
    for name in ("sem", "cat"):
        got = norm(terms[name] * w[name]) / ref
        torch.testing.assert_close(got, torch.full_like(got, ratio), rtol=0.01, atol=0)


def test_search_with_known_terms_treats_each_image_as_if_alone(problem64):
    g, d, fnet, y, mask, z = problem64
    spec = "context,prior,sem[known]=auto:1,cat[known]=auto:1"
    # channels-last and chunks of 3 on the CPU: the fixed targets travel through both paths
    cfg = SearchConfig(iters=6, channels_last=True, feature_chunk=3, restarts=2)
    z0 = torch.stack([z, z.flip(0)], 1)  # (B, K, nz)
    batch = latent_search(g, d, y, mask, spec, cfg, feature_net=fnet, z_init=z0)
    assert torch.isfinite(batch.total).all() and (batch.image_weights["sem"] > 0).all()
    assert batch.loss_spec == ("context[weighted]=1,prior[paper]=0.003,"
                               "sem[known,layers=block1+block2]=auto:1,cat[known]=auto:1")
    for i in (0, 4):
        solo = latent_search(g, d, y[i:i + 1], mask[i:i + 1], spec, cfg, feature_net=fnet,
                             z_init=z0[i:i + 1])
        torch.testing.assert_close(solo.z[0], batch.z[i], rtol=1e-7, atol=1e-9)
        torch.testing.assert_close(solo.image_weights["cat"][0], batch.image_weights["cat"][i],
                                   rtol=1e-7, atol=0)


# --- spec strings, description, errors ---------------------------------------------------------------

def test_spec_round_trip():
    entries = parse_loss_spec("context,sem[known]=150")
    assert entries == [("context", 1.0, {}), ("sem", 150.0, {"mode": "known"})]
    assert format_loss_spec(entries) == "context=1,sem[known]=150"
    assert parse_loss_spec(format_loss_spec(entries)) == entries
    e = parse_loss_spec("cat[known]=auto:0.3,sem[known,layers=block1+block3]")
    assert format_loss_spec(e) == "cat[known]=auto:0.3,sem[known,layers=block1+block3]=150"
    assert parse_loss_spec(format_loss_spec(e)) == e


def test_built_loss_spec_rebuilds_the_same_modes(tiny_feature_net):
    loss = build_loss("context,sem[known],cat[known]=2", tiny_feature_net)
    assert loss.spec == "context[weighted]=1,sem[known,layers=block1+block2]=150,cat[known]=2"
    again = build_loss(loss.spec, tiny_feature_net)
    assert [t.mode for t in again.terms.values()] == ["weighted", "known", "known"]
    # the paper modes keep their spec strings (bench rows written before the known modes)
    assert build_loss("sem,cat", tiny_feature_net).spec == "sem[layers=block1+block2]=150,cat=8"


def test_requires_follow_the_mode(tiny_feature_net):
    assert build_loss("sem[known]", tiny_feature_net).requires == {"feat_masked_g", "feat_y"}
    assert build_loss("cat[known]", tiny_feature_net).requires == {"logits_composite", "logits_y"}
    assert build_loss("sem,cat", tiny_feature_net).requires == {
        "feat_g", "feat_composite", "logits_g", "logits_composite"}
    with pytest.raises(LossSpecError, match="feature network"):
        build_loss("context,cat[known]")


def test_describe_losses_lists_the_known_modes():
    text = describe_losses()
    sem = next(line for line in text.splitlines() if line.startswith("sem "))
    cat = next(line for line in text.splitlines() if line.startswith("cat "))
    assert "[paper|known]" in sem and "[paper|known]" in cat
    assert "[known] reads feat_masked_g, feat_y" in text
    assert "[known] reads logits_composite, logits_y" in text


@pytest.mark.parametrize("spec, message", [
    ("sem[known,known]", r"option 'mode' given twice"),
    ("cat[known,layers=block1]", r"unknown option 'layers' for loss 'cat'; valid options: mode"),
    ("sem[masked]", r"unknown mode 'masked' for loss 'sem'; valid modes: paper, known"),
])
def test_bad_known_specs_raise(spec, message):
    with pytest.raises(LossSpecError, match=message):
        parse_loss_spec(spec)


def test_term_without_modes_rejects_a_bare_word():
    @register_loss("plain_tmp")
    class Plain(LossTerm):
        requires = frozenset({"g"})

        def forward(self, g, **_):
            return g.flatten(1).sum(1)

    try:
        with pytest.raises(LossSpecError, match=r"loss 'plain_tmp' has no modes, got option 'known'"):
            parse_loss_spec("plain_tmp[known]")
    finally:
        unregister_loss("plain_tmp")


def test_mode_requires_are_validated_at_registration():
    body = {"requires": frozenset({"g"}), "modes": ("a", "b"),
            "__init__": lambda self, mode="a": LossTerm.__init__(self)}
    def term(mode_requires):
        return type("Bad", (LossTerm,), {**body, "mode_requires": mode_requires})

    with pytest.raises(ValueError, match=r"unknown inputs \['masked_y'\]"):
        register_loss("bad_tmp")(term({"b": frozenset({"masked_y"})}))
    with pytest.raises(ValueError, match=r"mode_requires for \['c'\].*not among its modes"):
        register_loss("bad_tmp")(term({"c": frozenset({"g"})}))
    assert "bad_tmp" not in LOSSES
