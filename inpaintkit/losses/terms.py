"""The five loss terms of SPEC.md: ``context``, ``prior``, ``inpaint``, ``sem`` and ``cat``.

``sem[known]`` and ``cat[known]`` compare against fixed targets computed from the known pixels
only: see :class:`SemanticLoss` and :class:`CategoricalLoss`.

Every term is unweighted and returns one value per image, summed (not averaged) over pixels and
features as in the reference TensorFlow code, so that the papers' weights mean the same here.

References:
    Yeh, Chen, Lim, Schwing, Hasegawa-Johnson, Do. Semantic Image Inpainting with Deep Generative
    Models. CVPR 2017 (``context``, ``prior``).
    The ETH classifier-loss extension (``inpaint``, ``sem``, ``cat``), SPEC.md's
    ``003_8d31d78e0082cdd2.txt``.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._registry import LossTerm, register_loss

__all__ = ["ContextLoss", "PriorLoss", "InpaintLoss", "SemanticLoss", "CategoricalLoss",
           "context_weights"]


def context_weights(mask: torch.Tensor, window: int = 7) -> torch.Tensor:
    """Yeh et al.'s importance weights: for each known pixel, the fraction of holes around it.

    ``W_i = M_i * mean_{j in window(i)} (1 - M_j)``: a box filter of the hole indicator over a
    ``window x window`` neighbourhood (centre included), with *symmetric* padding at the image
    borders (the edge row/column is mirrored, as ``numpy.pad(mode="symmetric")``), and 0 in the hole.

    Args:
        mask: ``(B, 1, H, W)`` float {0, 1}, 1 = known.
        window: odd window side.

    Returns:
        ``(B, 1, H, W)`` weights in [0, 1).

    Example:
        At 64x64 with the hole at rows/cols 16-47 and ``window=7``, a pixel beside an edge of the
        hole gets 21/49, one at a corner 9/49, one three pixels away 7/49; 420 weights are non-zero.
    """
    if window < 1 or window % 2 == 0:
        raise ValueError(f"context window must be a positive odd number, got {window}")
    r = window // 2
    h, w = mask.shape[-2:]
    mask = mask if mask.is_floating_point() else mask.float()
    hole = 1.0 - mask
    if r:
        # symmetric padding through an index gather: works for any image size, even h, w < r
        ih = torch.from_numpy(np.pad(np.arange(h), r, mode="symmetric")).to(mask.device)
        iw = torch.from_numpy(np.pad(np.arange(w), r, mode="symmetric")).to(mask.device)
        hole = hole.index_select(-2, ih).index_select(-1, iw)
    frac = F.avg_pool2d(hole, window, stride=1)
    return mask * frac


@register_loss("context", weight=1.0)
class ContextLoss(LossTerm):
    """Contextual loss: ``sum W * |G(z) - y|`` over pixels and channels.

    Args:
        mode: ``weighted`` (default; W from :func:`context_weights`), ``l1`` (W = M, plain L1 on
            the known pixels) or ``l2`` (``sum M * (G(z) - y)^2``).
        window: the ``weighted`` mode's window side (default 7, as Yeh et al.).

    References:
        Yeh et al. 2017, Eq. 5-6.
    """

    requires = frozenset({"g", "y", "mask"})
    modes = ("weighted", "l1", "l2")

    def __init__(self, mode: str = "weighted", window: int = 7) -> None:
        super().__init__()
        if mode not in self.modes:
            raise ValueError(f"context mode must be one of {self.modes}, got {mode!r}")
        if int(window) != window or window < 1 or window % 2 == 0:
            raise ValueError(f"context window must be a positive odd integer, got {window!r}")
        self.mode = mode
        self.window = int(window)

    def spec_options(self) -> dict:
        return {"mode": self.mode, **({"window": self.window} if self.window != 7 else {})}

    def prepare(self, y: torch.Tensor, mask: torch.Tensor) -> dict:
        # The weights depend on the mask only: computed once per search, not once per step.
        w = context_weights(mask, self.window) if self.mode == "weighted" else mask.float()
        return {"weight": w}

    def forward(self, g: torch.Tensor, y: torch.Tensor, mask: torch.Tensor,
                weight: torch.Tensor | None = None, **_) -> torch.Tensor:
        if weight is None:
            weight = self.prepare(y, mask)["weight"]
        diff = g - y  # y is 0 in the hole, where the weight is 0 as well
        err = diff.square() if self.mode == "l2" else diff.abs()
        return (weight * err).sum((1, 2, 3))


def _at_least_fp32(t: torch.Tensor) -> torch.Tensor:
    """bf16/fp16 activations (networks run under autocast) are reduced in fp32."""
    return t.to(torch.promote_types(t.dtype, torch.float32))


class _SquaredNorms(torch.autograd.Function):
    """Per image, ``sum((a - b)^2)`` and ``sum(b^2)`` in fp32, with their gradients.

    The same values as ``(a.float() - b.float()).square().flatten(1).sum(1)`` and
    ``b.float().square().flatten(1).sum(1)`` under autograd, without the full-batch fp32
    intermediates autograd keeps: on a CPU those are fresh allocations of the size of a whole
    feature map batch (63 MB for inception3b of 32 images), each page-faulted in on first touch.
    The search spent half of its five-term step in them on an AMX Xeon, where the convolutions
    themselves are fast (``benchmarks/results/speed-amx.md``). Here each image is done on its own
    (``chunk`` images per call, 1 on a CPU) in two fp32 scratch buffers, allocated once per call and
    reused for every image so that they stay in cache, and the inputs are converted once into them:
    arithmetic that mixes bf16 and fp32 operands runs at half the speed of same-dtype arithmetic on
    a CPU. The backward pass recomputes ``a - b`` the same way instead of keeping it.
    """

    @staticmethod
    def forward(ctx, a: torch.Tensor, b: torch.Tensor, chunk: int):  # noqa: D102
        ctx.save_for_backward(a, b)
        ctx.chunk = chunk
        dims = tuple(range(1, a.dim()))
        num, den = [], []
        with torch.no_grad():
            d_buf, b_buf = _scratch(a, b, chunk), _scratch(a, b, chunk)
            for s in range(0, a.shape[0], chunk):
                ai, bi = a[s:s + chunk], b[s:s + chunk]
                d, bw = d_buf[:ai.shape[0]], b_buf[:ai.shape[0]]
                bw.copy_(bi)
                d.copy_(ai).sub_(bw)
                num.append(torch.linalg.vector_norm(d, dim=dims).square())
                den.append(torch.linalg.vector_norm(bw, dim=dims).square())
        return torch.cat(num), torch.cat(den)

    @staticmethod
    def backward(ctx, g_num: torch.Tensor | None, g_den: torch.Tensor | None):  # noqa: D102
        a, b = ctx.saved_tensors
        need_a, need_b = ctx.needs_input_grad[:2]
        ga = torch.empty_like(a) if need_a else None
        gb = torch.empty_like(b) if need_b else None
        shape = (-1,) + (1,) * (a.dim() - 1)
        d_buf, b_buf = _scratch(a, b, ctx.chunk), _scratch(a, b, ctx.chunk)
        for s in range(0, a.shape[0], ctx.chunk):
            e = s + ctx.chunk
            ai, bi = a[s:e], b[s:e]
            d, bw = d_buf[:ai.shape[0]], b_buf[:ai.shape[0]]
            bw.copy_(bi)
            if g_num is not None:  # d = 2 g_num (a - b) = grad_a
                d.copy_(ai).sub_(bw).mul_(2.0 * g_num[s:e].reshape(shape))
            else:
                d.zero_()
            if ga is not None:
                ga[s:e].copy_(d)
            if gb is not None:
                if g_den is not None:  # d = grad_a - 2 g_den b = -grad_b
                    d.addcmul_(bw, -2.0 * g_den[s:e].reshape(shape))
                gb[s:e].copy_(d.neg_())
        return ga, gb, None


def _scratch(a: torch.Tensor, b: torch.Tensor, chunk: int) -> torch.Tensor:
    """An uninitialised fp32-or-wider buffer for ``chunk`` images of ``a``, in ``a``'s layout (the
    reductions run in it: the inputs are promoted, not their difference rounded)."""
    wide = torch.promote_types(torch.promote_types(a.dtype, b.dtype), torch.float32)
    return torch.empty_like(a[:chunk], dtype=wide)


def squared_norms(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per image ``(sum((a - b)^2), sum(b^2))`` in fp32 or wider, differentiable in ``a`` and ``b``.

    On a CPU one image at a time (see :class:`_SquaredNorms`); on other devices in one call.
    """
    if a.shape != b.shape:
        raise ValueError(f"squared_norms: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}")
    chunk = 1 if a.device.type == "cpu" else max(1, a.shape[0])
    return _SquaredNorms.apply(a, b, chunk)


def _gan_log_term(logit: torch.Tensor, mode: str) -> torch.Tensor:
    logit = _at_least_fp32(logit)
    if mode == "paper":
        return -F.softplus(logit)  # log(1 - sigmoid(l)), without ever forming 1 - D
    return F.softplus(-logit)  # -log(sigmoid(l))


@register_loss("prior", weight=0.003)
class PriorLoss(LossTerm):
    """Perceptual (prior) loss on ``G(z)``: ``log(1 - D(G(z)))`` as ``-softplus(logit)``.

    Args:
        mode: ``paper`` (default, ``log(1 - D)``, as SPEC.md and Yeh et al.) or ``nonsaturating``
            (``-log D = softplus(-logit)``, what most public code uses).

    References:
        Yeh et al. 2017, Eq. 7.
    """

    requires = frozenset({"d_g"})
    modes = ("paper", "nonsaturating")

    def __init__(self, mode: str = "paper") -> None:
        super().__init__()
        if mode not in self.modes:
            raise ValueError(f"{self.name} mode must be one of {self.modes}, got {mode!r}")
        self.mode = mode

    def forward(self, d_g: torch.Tensor, **_) -> torch.Tensor:
        return _gan_log_term(d_g, self.mode)


@register_loss("inpaint", weight=3.0)
class InpaintLoss(PriorLoss):
    """Inpainting loss: the prior's form on the composite ``y' = M*y + (1-M)*G(z)``.

    Args:
        mode: ``paper`` (default, ``log(1 - D(y'))``) or ``nonsaturating`` (``-log D(y')``).
    """

    requires = frozenset({"d_composite"})

    def forward(self, d_composite: torch.Tensor, **_) -> torch.Tensor:
        return _gan_log_term(d_composite, self.mode)


def _as_tuple(x) -> tuple:
    if x is None:
        return ()
    if isinstance(x, (str, int, float)):
        return (x,)
    return tuple(x)


@register_loss("sem", weight=150.0)
class SemanticLoss(LossTerm):
    """Semantic loss: classifier features of G(z) against y' (``[known]``: M*G(z) against fixed M*y).

    ``sum_l w_l ||F_l(a) - F_l(b)||^2 / ||F_l(b)||^2`` over classifier layers l. Modes (the
    pair of images compared):

    - ``paper`` (default): ``a = G(z)``, ``b = y'``, the composite, as in the ETH extension. Both
      branches carry gradient.
    - ``known`` (``sem[known]``): a perceptual context loss, ``a = M*G(z)``, ``b = M*y``: both
      images masked the same way, the hole at 0 (mid-grey in [-1, 1]), so that only the known
      pixels are compared, in feature space. The ``M*y`` branch is a fixed target: the composite
      loss computes its features once per search, without gradient (the ``feat_y`` input, see
      :meth:`~inpaintkit.losses.CompositeLoss.prepare`); the denominator is therefore a constant.
      The default weight was calibrated for ``paper``; weight this mode by ratio (``auto:R``).

    The denominator is clamped to ``eps`` so an all-zero activation (possible after a ReLU) gives
    a finite value.

    Args:
        mode: ``paper`` or ``known``, see above.
        layers: feature-network layer names; default the network's ``default_layers``
            (inception3b and inception4b for the ETH GoogLeNet).
        weights: one weight per layer (default 1 each), or a single weight for all.
        eps: denominator floor.

    References:
        The ETH extension, Eq. 2 (``paper``). ``known`` is inpaintkit's own: it follows the
        class-relevant features of the known region instead of those of ``y'``, which the search
        itself fills.
    """

    requires = frozenset({"feat_g", "feat_composite"})
    modes = ("paper", "known")
    mode_requires = {"known": frozenset({"feat_masked_g", "feat_y"})}

    def __init__(self, mode: str = "paper", layers: Sequence[str] | str | None = None,
                 weights: Sequence[float] | float | None = None, eps: float = 1e-12) -> None:
        super().__init__()
        if mode not in self.modes:
            raise ValueError(f"sem mode must be one of {self.modes}, got {mode!r}")
        self.mode = mode
        self.requires = self.mode_requires.get(mode, type(self).requires)
        self.layers = _as_tuple(layers)
        self._weights = tuple(float(w) for w in _as_tuple(weights))
        self.eps = float(eps)
        if any(not np.isfinite(w) or w < 0 for w in self._weights):
            raise ValueError(f"sem layer weights must be finite and >= 0, got {self._weights}")
        if self.layers:
            self._check_weights()

    def _check_weights(self) -> None:
        if len(self._weights) not in (0, 1, len(self.layers)):
            raise ValueError(f"sem has {len(self.layers)} layers {self.layers} but "
                             f"{len(self._weights)} weights {self._weights}")

    @property
    def layer_weights(self) -> tuple[float, ...]:
        if not self._weights:
            return (1.0,) * len(self.layers)
        if len(self._weights) == 1:
            return self._weights * len(self.layers)
        return self._weights

    @property
    def feature_layers(self) -> tuple[str, ...]:
        return self.layers

    def attach(self, feature_net) -> None:
        if not self.layers:
            self.layers = tuple(feature_net.default_layers)
            if not self.layers:
                raise ValueError(f"{type(feature_net).__name__} has no default_layers; "
                                 f"name them, e.g. sem[layers={'+'.join(feature_net.layer_names[:2])}]")
        unknown = [n for n in self.layers if n not in feature_net.layer_names]
        if unknown:
            raise ValueError(f"sem: unknown feature layer(s) {unknown}; "
                             f"{type(feature_net).__name__} has {list(feature_net.layer_names)}")
        self._check_weights()

    def forward(self, feat_g: dict | None = None, feat_composite: dict | None = None,
                feat_masked_g: dict | None = None, feat_y: dict | None = None, **_) -> torch.Tensor:
        if not self.layers:
            raise RuntimeError("sem has no layers: attach a feature network first (build_loss does)")
        if self.mode == "known":
            if feat_y is None:
                raise ValueError("sem[known] needs feat_y, the features of M*y: evaluate it on "
                                 "inputs from CompositeLoss.prepare")
            current, target = feat_masked_g, {k: v.detach() for k, v in feat_y.items()}
        else:
            current, target = feat_g, feat_composite
        total = None
        for name, w in zip(self.layers, self.layer_weights):
            num, den = squared_norms(current[name], target[name])
            term = w * (num / den.clamp_min(self.eps))
            total = term if total is None else total + term
        return total

    def spec_options(self) -> dict:
        out: dict = {"mode": self.mode} if self.mode != "paper" else {}
        if self.layers:
            out["layers"] = self.layers
        if any(w != 1.0 for w in self.layer_weights):
            out["weights"] = self.layer_weights
        return out

    def extra_repr(self) -> str:
        return f"mode={self.mode!r}, layers={self.layers}, weights={self.layer_weights}"


@register_loss("cat", weight=8.0)
class CategoricalLoss(LossTerm):
    """Categorical loss: symmetric KL, softmax on y' vs on G(z) (``[known]``: vs fixed one on M*y).

    ``KL(p||q) + KL(q||p) = sum_c (p_c - q_c) (log p_c - log q_c)``, with ``q`` the softmax on
    the composite ``y' = M*y + (1-M)*G(z)`` and ``p`` the reference, from log-softmax, so an
    underflowing probability gives no NaN (no epsilon needed).

    Modes (the reference ``p``):

    - ``paper`` (default): the softmax on ``G(z)``, as in the ETH extension; both sides carry
      gradient, so ``y'`` and ``G(z)`` are pulled towards each other, neither towards a class.
    - ``known`` (``cat[known]``): a fixed class signal from the known pixels, the softmax on
      ``M*y`` (the hole at 0, mid-grey in [-1, 1]), computed once per search without gradient
      (the ``logits_y`` input, see :meth:`~inpaintkit.losses.CompositeLoss.prepare`). Only ``q``,
      the composite's softmax, carries gradient: the fill is pulled towards the class the known
      pixels suggest. A classifier trained on masked inputs gives the most useful target. The
      default weight was calibrated for ``paper``; weight this mode by ratio (``auto:R``).

    Args:
        mode: ``paper`` or ``known``, see above.

    References:
        The ETH extension, Eq. 3 (``paper``). ``known`` is inpaintkit's own.
    """

    requires = frozenset({"logits_g", "logits_composite"})
    modes = ("paper", "known")
    mode_requires = {"known": frozenset({"logits_composite", "logits_y"})}

    def __init__(self, mode: str = "paper") -> None:
        super().__init__()
        if mode not in self.modes:
            raise ValueError(f"cat mode must be one of {self.modes}, got {mode!r}")
        self.mode = mode
        self.requires = self.mode_requires.get(mode, type(self).requires)

    def spec_options(self) -> dict:
        return {"mode": self.mode} if self.mode != "paper" else {}

    def forward(self, logits_composite: torch.Tensor, logits_g: torch.Tensor | None = None,
                logits_y: torch.Tensor | None = None, **_) -> torch.Tensor:
        if self.mode == "known":
            if logits_y is None:
                raise ValueError("cat[known] needs logits_y, the logits on M*y: evaluate it on "
                                 "inputs from CompositeLoss.prepare")
            ref = logits_y.detach()
        else:
            ref = logits_g
        lp = F.log_softmax(_at_least_fp32(ref), dim=1)
        lq = F.log_softmax(_at_least_fp32(logits_composite), dim=1)
        return ((lp.exp() - lq.exp()) * (lp - lq)).sum(1)
