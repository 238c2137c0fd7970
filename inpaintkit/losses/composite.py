"""The weighted sum of loss terms, sharing every forward pass between them.

Per step the composite builds each named input of :data:`~inpaintkit.losses.INPUTS` at most once,
and only if some term requires it: ``G(z)`` once; the discriminator once on ``G(z)`` and ``y'``
together (one batch of 2B); the feature network once on whichever of ``G(z)``, ``y'`` and
``M*G(z)`` the terms read (one batch of up to 3B), for the union of the layers the terms read.
Constants (the context weights, the hole-zeroed image, and the feature network's outputs on
``M*y`` that ``sem[known]``/``cat[known]`` compare against) are computed once per search by
:meth:`CompositeLoss.prepare`. The feature network is run by :mod:`._features`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

import torch
from torch import nn

from ..masks import validate_mask
from ._features import (  # noqa: F401  (tests import it here)
    FIXED_FEATURE_INPUTS,
    _skips_logits,
    fixed_feature_inputs,
    run_feature_branches,
)
from ._registry import FEATURE_INPUTS, LOSSES, LossTerm
from .spec import AutoWeight, LossSpec, LossSpecError, format_loss_spec

__all__ = ["CompositeLoss", "PreparedInputs", "build_loss", "check_corrupted"]

_COMPOSITE_INPUTS = frozenset({"composite", "d_composite", "feat_composite", "logits_composite"})
_MASKED_G_INPUTS = frozenset({"masked_g", "feat_masked_g", "logits_masked_g"})
_G_INPUTS = frozenset({"g", "d_g", "feat_g", "logits_g"}) | _COMPOSITE_INPUTS | _MASKED_G_INPUTS


def check_corrupted(y: torch.Tensor, mask: torch.Tensor, name: str = "y") -> torch.Tensor:
    """Validate a corrupted image and its mask; return the mask as float.

    Raises:
        ValueError: ``y`` is not ``(B, 3, H, W)`` floating point, or has NaN/inf at a known pixel
            (NaN in the hole is fine: it is never read).
        MaskError: see :func:`~inpaintkit.masks.validate_mask`.
    """
    if not isinstance(y, torch.Tensor) or y.dim() != 4 or y.shape[1] != 3:
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise ValueError(f"{name} must be a (B, 3, H, W) tensor, got {shape}")
    if not y.is_floating_point():
        raise ValueError(f"{name} must be floating point in [-1, 1], got {y.dtype}")
    m = validate_mask(mask, size=tuple(y.shape[-2:]), batch=y.shape[0]).to(y.device, y.dtype)
    bad = ~torch.isfinite(y) & (m > 0)
    if bad.any():
        idx = int(bad.flatten(1).any(1).nonzero()[0])
        raise ValueError(f"{name} has NaN/inf values at known pixels (image {idx}); only the hole "
                         f"(mask == 0) may hold missing values")
    return m


@dataclass
class PreparedInputs:
    """What stays constant during a search: the hole-zeroed image, the mask, term constants.

    Attributes:
        y: ``(B, 3, H, W)``, the hole at 0 (which makes it ``M*y``).
        mask: ``(B|1, 1, H, W)`` float, 1 = known.
        inverse: ``1 - mask``.
        states: ``{term: {name: value}}`` from each term's ``prepare`` hook.
        fixed: named inputs (:data:`~inpaintkit.losses.INPUTS`) computed once per search, without
            gradient: ``feat_y`` and ``logits_y``, the feature network on ``y``, when a term reads
            them. Passed to every term at every step.
    """

    y: torch.Tensor
    mask: torch.Tensor
    inverse: torch.Tensor  # 1 - mask
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def batch(self) -> int:
        return self.y.shape[0]


class CompositeLoss(nn.Module):
    """``total = sum_k w_k * L_k``, per image, with the per-term breakdown.

    A weight may be an :class:`~inpaintkit.losses.AutoWeight` (``sem=auto:1``): it is resolved per
    image from the terms' gradients with respect to z (:meth:`resolve_weights`), which
    :meth:`evaluate` does at every call unless it is given resolved ``weights``; the latent search
    resolves once, at its first step, and keeps those weights.

    Args:
        terms: ``(name, weight, term)`` triples; names must be unique. Auto weights need a
            ``context`` term (their reference).
        feature_net: a :class:`~inpaintkit.features.FeatureNetwork`, required when a term reads
            classifier features or logits (``sem``, ``cat``).

    Shape:
        - z: ``(B, nz)``; y: ``(B, 3, H, W)``; mask: ``(B|1, 1, H, W)``
        - output: ``total (B,)`` and ``{name: (B,)}`` of the *unweighted* terms.

    Example:
        >>> loss = build_loss("context,prior=0.003")
        >>> total, terms = loss(z, y, mask, generator, discriminator)
        >>> total.sum().backward()   # each image's z gets the gradient it would get alone
    """

    def __init__(self, terms: Sequence[tuple[str, float, LossTerm]],
                 feature_net: nn.Module | None = None) -> None:
        super().__init__()
        if not terms:
            raise LossSpecError("a composite loss needs at least one term")
        names = [n for n, _, _ in terms]
        if len(set(names)) != len(names):
            raise LossSpecError(f"duplicate loss names in {names}")
        self.terms = nn.ModuleDict({n: t for n, _, t in terms})
        self.weights: dict[str, float | AutoWeight] = {
            n: w if isinstance(w, AutoWeight) else float(w) for n, w, _ in terms}
        if self.auto_terms and "context" not in self.weights:
            raise LossSpecError(f"auto weights ({', '.join(f'{n}={self.weights[n]}' for n in self.auto_terms)}) "
                                f"are set relative to the context term, but the spec has none")
        if self.auto_terms and isinstance(self.weights.get("context"), AutoWeight):
            raise LossSpecError("context is the reference of auto weights; give it a number")
        self.requires: frozenset[str] = frozenset().union(*(t.requires for _, _, t in terms))
        self.feature_net = None
        if self.needs_feature_net:
            if feature_net is None:
                readers = [n for n, t in self.terms.items() if t.requires & FEATURE_INPUTS]
                raise LossSpecError(
                    f"loss term(s) {', '.join(readers)} read classifier features, but no feature "
                    f"network was given (pass feature_net=..., or --classifier on the command line)")
            self.set_feature_net(feature_net)

    # --- description ------------------------------------------------------------------------------

    @property
    def names(self) -> list[str]:
        return list(self.terms)

    @property
    def needs_feature_net(self) -> bool:
        return bool(self.requires & FEATURE_INPUTS)

    @property
    def auto_terms(self) -> list[str]:
        """The terms whose weight is an :class:`~inpaintkit.losses.AutoWeight`."""
        return [n for n, w in self.weights.items() if isinstance(w, AutoWeight)]

    @property
    def feature_layers(self) -> tuple[str, ...]:
        """The union of the layers the terms read, in first-use order."""
        out: list[str] = []
        for t in self.terms.values():
            out += [n for n in t.feature_layers if n not in out]
        return tuple(out)

    @property
    def entries(self) -> list[tuple[str, float, dict[str, Any]]]:
        """``(name, weight, options)`` of every term, as a spec would give them."""
        return [(n, self.weights[n], t.spec_options()) for n, t in self.terms.items()]

    @property
    def spec(self) -> str:
        """A spec string of the names, modes and weights (for logs and run metadata)."""
        return format_loss_spec(self.entries)

    def set_feature_net(self, feature_net: nn.Module | None) -> "CompositeLoss":
        """Use ``feature_net`` for the feature-reading terms (re-resolving their default layers)."""
        if feature_net is None:
            if self.needs_feature_net:
                raise LossSpecError("this loss reads classifier features; it needs a feature network")
            return self
        for name, t in self.terms.items():
            if t.requires & FEATURE_INPUTS:
                try:
                    t.attach(feature_net)
                except ValueError as e:
                    raise LossSpecError(f"loss {name!r}: {e}") from e
        self.feature_net = feature_net
        return self

    def extra_repr(self) -> str:
        return f"spec={self.spec!r}"

    # --- evaluation -------------------------------------------------------------------------------

    def prepare(self, y: torch.Tensor, mask: torch.Tensor,
                feature_chunk: int | None = None) -> PreparedInputs:
        """Validate ``(y, mask)`` and compute the per-search constants.

        ``y``'s hole is replaced by zeros here (with ``torch.where``, so NaN there never reaches a
        product), which makes the composite ``M*y + (1-M)*G(z)`` equal to ``y + (1-M)*G(z)``, and
        ``y`` itself the masked image ``M*y`` with its hole at 0 (mid-grey).

        When a term reads ``feat_y``/``logits_y`` (``sem[known]``, ``cat[known]``), the attached
        feature network runs once here on that ``M*y``, in eval mode and without gradient, in
        fp32 (or y's dtype): the fixed targets of the whole search, cached in
        :attr:`PreparedInputs.fixed`. Each image's target depends on that image alone.

        Args:
            y: ``(B, 3, H, W)`` corrupted images in [-1, 1]; the hole's values are never read.
            mask: ``(B|1, 1, H, W)``, 1 = known.
            feature_chunk: run the feature network on at most this many images per call (see
                :meth:`evaluate`).
        """
        m = check_corrupted(y, mask)
        y_known = torch.where(m > 0, y, torch.zeros((), dtype=y.dtype, device=y.device))
        states = {n: t.prepare(y_known, m) for n, t in self.terms.items()}
        return PreparedInputs(y_known, m, 1.0 - m, states, self._fixed_inputs(y_known, feature_chunk))

    def _fixed_inputs(self, y_known: torch.Tensor, chunk: int | None) -> dict[str, Any]:
        """``feat_y``/``logits_y``: the attached feature network on the hole-zeroed ``y``."""
        if not self.requires & FIXED_FEATURE_INPUTS:
            return {}
        if self.feature_net is None:
            raise LossSpecError("this loss reads classifier features; it needs a feature network")
        return fixed_feature_inputs(self.feature_net, y_known, self.requires, self.feature_layers, chunk)

    def evaluate(self, z: torch.Tensor, generator: nn.Module, discriminator: nn.Module | None,
                 prepared: PreparedInputs, feature_net: nn.Module | None = None,
                 feature_chunk: int | None = None,
                 weights: Mapping[str, float | torch.Tensor] | None = None,
                 ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The total and the breakdown at ``z``, for inputs from :meth:`prepare`.

        Args:
            weights: the weights to combine the terms with (see :meth:`combine`); default the
                loss's own, with auto weights resolved at this ``z`` (:meth:`resolve_weights`,
                which needs ``z`` to require grad).
            feature_net: run this network instead of the attached one (the latent search passes
                its prepared copy: same layers, faster layout); default the attached one.
            feature_chunk: run the feature network on at most this many images per call (its
                input is ``G(z)`` and ``y'`` together, ``2B`` images). On a CPU a classifier such as
                GoogLeNet runs faster per image in small chunks, whose activations stay in cache;
                ``None`` runs it on all images at once. The values are the same either way (up to
                float round-off).

        Returns:
            ``total`` ``(B,)`` and ``{name: (B,)}`` of the unweighted terms, all differentiable
            with respect to ``z``. The terms compute in fp32 (at least) whatever precision the
            networks ran in.
        """
        breakdown = self.breakdown(z, generator, discriminator, prepared, feature_net, feature_chunk)
        if weights is None and self.auto_terms:
            weights = self.resolve_weights(breakdown, z)
        return self.combine(breakdown, weights), breakdown

    def breakdown(self, z: torch.Tensor, generator: nn.Module, discriminator: nn.Module | None,
                  prepared: PreparedInputs, feature_net: nn.Module | None = None,
                  feature_chunk: int | None = None) -> dict[str, torch.Tensor]:
        """The unweighted terms ``{name: (B,)}`` at ``z`` (:meth:`evaluate` without the total)."""
        req = self.requires
        b = prepared.batch
        if z.dim() != 2 or z.shape[0] != b:
            raise ValueError(f"z must have shape ({b}, nz) to match the {b} images, got {tuple(z.shape)}")
        inputs: dict[str, Any] = {"z": z, "y": prepared.y, "mask": prepared.mask}
        if req & _G_INPUTS:
            g = generator(z)
            if g.shape != prepared.y.shape:
                raise ValueError(f"the generator makes {tuple(g.shape[1:])} images but y is "
                                 f"{tuple(prepared.y.shape[1:])}")
            if g.dtype != prepared.y.dtype:  # a generator run under autocast: terms work in y's dtype
                g = g.to(prepared.y.dtype)
            inputs["g"] = g
            if req & _COMPOSITE_INPUTS:
                inputs["composite"] = torch.addcmul(prepared.y, prepared.inverse, g)
            if req & _MASKED_G_INPUTS:  # the hole at 0, as in the hole-zeroed y
                inputs["masked_g"] = g * prepared.mask
        if req & FIXED_FEATURE_INPUTS:
            missing = (req & FIXED_FEATURE_INPUTS) - set(prepared.fixed)
            if missing:
                raise ValueError(f"the prepared inputs lack {sorted(missing)}: prepare them with "
                                 f"this loss's prepare()")
            inputs.update(prepared.fixed)
        self._run_shared(inputs, req, "d_", ("d_g", "d_composite"), discriminator, b)
        if req & FEATURE_INPUTS:
            self._run_features(inputs, req, b, feature_net, feature_chunk)

        breakdown: dict[str, torch.Tensor] = {}
        for name, term in self.terms.items():
            value = term(**inputs, **prepared.states[name])
            if value.shape != (b,):
                raise ValueError(f"loss term {name!r} returned shape {tuple(value.shape)}, expected ({b},)")
            breakdown[name] = value
        return breakdown

    def combine(self, breakdown: Mapping[str, torch.Tensor],
                weights: Mapping[str, float | torch.Tensor] | None = None) -> torch.Tensor:
        """``sum_k w_k * L_k`` per image.

        Args:
            breakdown: ``{name: (B,)}`` from :meth:`breakdown`.
            weights: ``{name: float or (B,) tensor}``; default the loss's own weights, which must
                then hold no unresolved auto weight.

        Raises:
            ValueError: an auto weight was not resolved.
        """
        weights = self.weights if weights is None else weights
        total = None
        for name in self.terms:
            w = weights[name]
            if isinstance(w, AutoWeight):
                raise ValueError(f"the weight of {name!r} is {w}: resolve it first "
                                 f"(CompositeLoss.resolve_weights) or pass weights=")
            weighted = breakdown[name] * w
            total = weighted if total is None else total + weighted
        return total

    def resolve_weights(self, breakdown: Mapping[str, torch.Tensor], z: torch.Tensor,
                        group: int = 1) -> dict[str, float | torch.Tensor]:
        """The weights with every auto weight set from the gradients at ``z``.

        For an auto term ``k`` with ratio ``R``, per image:
        ``w_k = R * w_context * ||dL_context/dz|| / ||dL_k/dz||``, so that the weighted gradients'
        norms stand in the ratio R. Each row of ``z`` gets its own weight (every term is per
        image, so the gradient of the batch sum is each row's own); with ``group > 1`` (restarts),
        the norms of each run of ``group`` consecutive rows are averaged first, so the rows of one
        image share one weight. A term whose gradient vanishes for an image gets weight 0 there.

        Args:
            breakdown: the unweighted terms at ``z``, still attached to the graph.
            z: ``(B, nz)``, requiring grad.
            group: rows per image (the search's restarts).

        Returns:
            ``{name: float}`` for fixed weights and ``{name: (B,) tensor}`` (detached) for auto ones.

        Raises:
            ValueError: ``z`` does not require grad, or ``B`` is not a multiple of ``group``.
        """
        auto = self.auto_terms
        if not auto:
            return dict(self.weights)
        if not z.requires_grad:
            raise ValueError("auto weights are set from gradients with respect to z: z must require grad")
        names = ["context"] + auto
        norms = {}
        for j, name in enumerate(names):
            (g,) = torch.autograd.grad(breakdown[name].sum(), z, retain_graph=True, allow_unused=True)
            norms[name] = torch.zeros(z.shape[0], device=z.device) if g is None else \
                g.detach().float().flatten(1).norm(dim=1)
        return self.resolve_weights_from_norms(norms, group)

    def resolve_weights_from_norms(self, norms: Mapping[str, torch.Tensor],
                                   group: int = 1) -> dict[str, float | torch.Tensor]:
        """:meth:`resolve_weights` from per-row gradient norms ``{name: (B,)}`` (of ``context``
        and every auto term) already computed."""
        out: dict[str, float | torch.Tensor] = dict(self.weights)
        if not self.auto_terms:
            return out
        b = norms["context"].shape[0]
        if group < 1 or b % group:
            raise ValueError(f"{b} rows cannot be grouped by {group}")

        def per_image(t: torch.Tensor) -> torch.Tensor:
            return t.view(b // group, group).mean(1).repeat_interleave(group)

        ref = per_image(norms["context"]) * float(self.weights["context"])
        for name in self.auto_terms:
            own = per_image(norms[name])
            ratio = float(self.weights[name].ratio)
            out[name] = torch.where(own > 0, ratio * ref / own.clamp_min(torch.finfo(own.dtype).tiny),
                                    torch.zeros_like(own))
        return out

    def _run_shared(self, inputs, req, _prefix, keys, net, b) -> None:
        """Run ``net`` once on whichever of G(z) / y' the terms need (both in one batch)."""
        want_g, want_c = keys[0] in req, keys[1] in req
        if not (want_g or want_c):
            return
        if net is None:
            readers = [n for n, t in self.terms.items() if t.requires & set(keys)]
            raise ValueError(f"loss term(s) {', '.join(readers)} need a discriminator, but none was given")
        if want_g and want_c:
            out = net(torch.cat([inputs["g"], inputs["composite"]]))
            inputs[keys[0]], inputs[keys[1]] = out[:b], out[b:]
        elif want_g:
            inputs[keys[0]] = net(inputs["g"])
        else:
            inputs[keys[1]] = net(inputs["composite"])

    def _run_features(self, inputs, req, b, net=None, chunk: int | None = None) -> None:
        net = self.feature_net if net is None else net
        if net is None:
            raise LossSpecError("this loss reads classifier features; it needs a feature network")
        run_feature_branches(net, inputs, req, b, self.feature_layers, chunk)

    def forward(self, z: torch.Tensor, y: torch.Tensor, mask: torch.Tensor, generator: nn.Module,
                discriminator: nn.Module | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``evaluate(z, G, D, prepare(y, mask))``: one-off evaluation. A search calls
        :meth:`prepare` once and :meth:`evaluate` every step instead."""
        return self.evaluate(z, generator, discriminator, self.prepare(y, mask))


def build_loss(spec: LossSpec | str | Sequence[tuple[str, float, Mapping[str, Any]]],
               feature_net: nn.Module | None = None,
               defaults: Mapping[str, float] | None = None) -> CompositeLoss:
    """Build a :class:`CompositeLoss` from a :class:`~inpaintkit.losses.LossSpec`, a spec string,
    or already-parsed entries.

    Args:
        spec: e.g. ``LossSpec.parse("context,prior=0.003,sem=1e5,cat=1e6")``, or the string itself;
            see :func:`~inpaintkit.losses.parse_loss_spec`.
        feature_net: required when the spec has ``sem`` or ``cat``.
        defaults: weights for entries the spec gives none (over the terms' defaults).

    Raises:
        LossSpecError: a bad spec, bad term options, or a feature-reading term without a
            feature network.
    """
    if isinstance(spec, (str, LossSpec)):
        entries = list(LossSpec.parse(spec, defaults).entries)
    else:
        entries = list(spec)
    terms = []
    for name, weight, kwargs in entries:
        cls = LOSSES.get(name)
        try:
            term = cls(**kwargs)
        except (TypeError, ValueError) as e:
            raise LossSpecError(f"bad options {dict(kwargs)} for loss {name!r}: {e}") from e
        terms.append((name, weight, term))
    return CompositeLoss(terms, feature_net)

