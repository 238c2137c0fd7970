"""Generator quality without Inception weights: FD-R18, KID, classifier confidence, and fit.

**FD-R18** is the Fréchet distance between Gaussians fitted to the features of generator samples and
of real images,

    FD = |mu_g - mu_r|^2 + tr(S_g + S_r - 2 (S_g S_r)^{1/2}),

computed on the globally average-pooled deepest feature stage of an *independent* classifier: the
committed ResNet-18 evaluator for Stanford Cars, the bundled evaluator for synthetic-cars. It has
the form of Heusel et al.'s FID, but not its network: Inception-v3 weights cannot be downloaded on
the machines this toolkit is developed on, so the numbers are on another scale, are comparable only
between runs scored with the same evaluator, and must never be called FID. KID (Bińkowski et al.,
the unbiased MMD with the cubic polynomial kernel, on the same features) comes with it: it is
unbiased in the sample count, so small-sample comparisons are fairer.

Both are computed by torchmetrics' ``FrechetInceptionDistance`` and ``KernelInceptionDistance``,
which accept any ``nn.Module`` as ``feature`` and then load no weights and download nothing. The
features are extracted once here and handed to them through an identity module, so the real set's
features are computed once per run and shared by FD and KID. torchmetrics takes the matrix square
root through the eigenvalues of ``S_g S_r`` in float64.

Optionally a class-conditional classifier (the ``sem``/``cat`` network) reports the mean top-class
confidence of the samples and the number of distinct classes it predicts among them: a generator
that draws identifiable makes and models scores high on the first, and a collapsed one low on the
second.

**Fit** asks what inpainting asks of a generator: how closely can some ``G(z)`` reproduce a given
held-out image where it is known? For each image, the squared error on the known pixels is searched
from a few restarts (Adam, with ``--preset fast``'s budget), and the known-pixel PSNR of the best
``G(z)`` is taken; the median over the images is the score (higher is better). On Stanford Cars
a generator with the lower FD-R18 fitted every one of 16 held-out images worse, and inpainted worse
(``benchmarks/results/gan-compare/``): FD-R18 rewards samples that look like the data on average,
fit rewards covering the images one has to inpaint.

References:
    Heusel et al. GANs Trained by a Two Time-Scale Update Rule Converge to a Local Nash
    Equilibrium. NeurIPS 2017.
    Bińkowski, Sutherland, Arbel, Gretton. Demystifying MMD GANs. ICLR 2018.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

__all__ = ["PooledFeatures", "GeneratorQuality", "QualityConfig", "generator_quality", "real_images",
           "frechet_distance", "kernel_distance", "inversion_fit"]


def _check_features(a: torch.Tensor, b: torch.Tensor) -> None:
    if a.dim() != 2 or b.dim() != 2 or a.shape[1] != b.shape[1]:
        raise ValueError(f"features must be (N, C) and (M, C) with the same C, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    if len(a) < 2 or len(b) < 2:
        raise ValueError(f"the Fréchet distance needs at least 2 feature vectors per set, got {len(a)} and {len(b)}")


def frechet_distance(real: torch.Tensor, fake: torch.Tensor) -> float:
    """Fréchet distance between Gaussians fitted (sample mean, unbiased covariance) to two feature sets.

    ``|mu_r - mu_f|^2 + tr(S_r + S_f - 2 (S_r S_f)^{1/2})``, through torchmetrics (float64).

    Shape:
        real: ``(N, C)``; fake: ``(M, C)``; N, M >= 2.
    """
    from torchmetrics.image.fid import FrechetInceptionDistance

    _check_features(real, fake)
    fid = FrechetInceptionDistance(feature=_Identity(real.shape[1]))
    fid.update(real.double(), real=True)
    fid.update(fake.double(), real=False)
    return float(fid.compute())


def kernel_distance(real: torch.Tensor, fake: torch.Tensor, subsets: int = 100, subset_size: int = 1000,
                    seed: int = 0) -> tuple[float, float]:
    """KID: mean and standard deviation over ``subsets`` random subsets of the unbiased MMD^2 with
    the kernel ``(x.y / C + 1)^3`` (Bińkowski et al.), through torchmetrics.

    ``subset_size`` is capped at half the smaller set's size, so that the subsets differ and the
    standard deviation means something (a subset of the whole set is the same every time: std 0);
    subsets are drawn with ``seed``.
    """
    from torchmetrics.image.kid import KernelInceptionDistance

    _check_features(real, fake)
    with warnings.catch_warnings():  # "will save all extracted features": that is the point here
        warnings.simplefilter("ignore", UserWarning)
        kid = KernelInceptionDistance(feature=_Identity(real.shape[1]), subsets=subsets,
                                      subset_size=max(2, min(subset_size, len(real) // 2, len(fake) // 2)))
    kid.update(real.double(), real=True)
    kid.update(fake.double(), real=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # KID draws its subsets from the global generator
        mean, std = kid.compute()
    return float(mean), float(std)


def inversion_fit(generator: nn.Module, images: torch.Tensor, mask: str = "center", iters: int = 100,
                  restarts: int = 4, lr: float = 0.03, seed: int = 0) -> dict[str, Any]:
    """How well ``generator`` reproduces the known pixels of ``images`` (see the module doc).

    Searches ``context[l2]`` alone, the squared error on every known pixel (not the inpainting
    default, which weights only the pixels near the hole), with Adam (lr ``lr``, ``iters`` steps,
    ``restarts`` restarts from latents seeded by ``seed``; fp32, so that the score does not depend
    on the CPU), keeps each image's best ``z``, and measures the PSNR of ``G(z)`` against the image
    on the known pixels, with the [-1, 1] range as peak-to-peak (``10 log10(4 / MSE)``).

    Args:
        generator: the generator (put in eval mode for the search, its mode restored after).
        images: ``(N, 3, S, S)`` real images in [-1, 1], ``S`` the generator's side.
        mask: mask kind (:func:`inpaintkit.masks.make_mask`), the same for every image.

    Returns:
        ``{"fit_psnr": median, "fit_psnr_mean": mean, "fit_n": N, "fit_psnr_images": [N values]}``,
        the last in the order of ``images``, so that two generators scored on the same images can
        be compared image by image (``benchmarks/gan_compare/fit_pairs.py``).
    """
    from .masks import make_mask
    from .search import SearchConfig, latent_search
    from .utils import check_images

    check_images(images, "fit images")
    was_training = generator.training
    generator.eval()
    try:
        device = next(generator.parameters()).device
        m = make_mask(mask, images.shape[-1], seed=seed).to(device)
        x = images.to(device).float()
        y = torch.where(m > 0, x, torch.full_like(x, float("nan")))
        with warnings.catch_warnings():  # that warning is about loss weights; here there is one term
            warnings.filterwarnings("ignore", message="the search saturated z")
            res = latent_search(generator, None, y, m, "context[l2]",
                                SearchConfig(iters=iters, optimizer="adam", lr=lr, restarts=restarts, seed=seed,
                                             precision="fp32"))
    finally:
        generator.train(was_training)
    known = (m > 0).expand_as(x).float()
    mse = ((res.g.float().clamp(-1, 1) - x).square() * known).sum((1, 2, 3)) / known.sum((1, 2, 3))
    db = 10 * torch.log10(4.0 / mse.clamp_min(1e-10))
    return {"fit_psnr": float(db.median()), "fit_psnr_mean": float(db.mean()), "fit_n": len(images),
            "fit_psnr_images": [round(float(v), 4) for v in db]}


class PooledFeatures(nn.Module):
    """A frozen classifier's deepest feature stage, global-average-pooled: ``(B, C)`` float32.

    Args:
        net: a :class:`classifiers.ClassifierFeatures` (as returned by
            :func:`classifiers.load_feature_network`); it applies the classifier's own input
            normalisation to [-1, 1] images.
        layer: the stage to pool; default the deepest one.

    Shape:
        - input: ``(B, 3, H, W)`` in [-1, 1]
        - output: ``(B, C)``
    """

    def __init__(self, net: nn.Module, layer: str | None = None) -> None:
        super().__init__()
        self.net = net
        self.layer = layer or net.layer_names[-1]
        if self.layer not in net.layer_names:
            raise KeyError(f"unknown feature layer {self.layer!r}; this network has {list(net.layer_names)}")
        # torchmetrics reads the width from here instead of probing with a uint8 image.
        self.num_features = int(net.feature_channels()[self.layer])

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        feats, _ = self.net(x, [self.layer], logits=False)
        return feats[self.layer].float().mean(dim=(2, 3))


@dataclass
class QualityConfig:
    """What to score against.

    Args:
        data: dataset spec of the real images, e.g. ``npz:.../val.npz`` or ``synthetic-cars``.
        split: split of ``data`` where the source has splits.
        start, n_real: the real images are ``data[start : start + n_real]``.
        n: generator samples, from a fixed latent draw seeded by ``seed``.
        eval_classifier: checkpoint of the independent evaluator whose features FD-R18 uses;
            None = the bundled synthetic-cars evaluator.
        classifier: optional class-conditional classifier for confidence and distinct classes.
        seed: seeds the latent draw (U[-1, 1], the GAN's training prior).
        batch_size: images per forward pass.
        kid_subsets: KID subsets (torchmetrics' default is 100); each of size
            ``min(1000, n, n_real)``.
        fit: if > 0, also :func:`inversion_fit` on ``data[fit_start : fit_start + fit]``
            (``fit_start`` None = ``start``: the first of the real images).
    """

    data: str = "synthetic-cars"
    split: str = "val"
    start: int = 0
    n_real: int = 1000
    n: int = 2000
    eval_classifier: str | None = None
    classifier: str | None = None
    seed: int = 0
    batch_size: int = 100
    kid_subsets: int = 100
    fit: int = 0
    fit_start: int | None = None


def real_images(data: str, split: str, start: int, n: int, image_size: int) -> torch.Tensor:
    """``data[start : start + n]`` as ``(n, 3, S, S)`` in [-1, 1], no flips.

    Raises:
        ValueError: the range runs past the end of the data.
    """
    from .data import build_dataset

    ds = build_dataset(data, split=split, image_size=image_size, flip=False, seed=0)
    if start < 0 or n < 2 or start + n > len(ds):
        raise ValueError(f"real images {start}..{start + n - 1} requested, but {data} ({split}) has "
                         f"{len(ds)} images (and FD needs at least 2)")
    x, _ = ds.get_batch(list(range(start, start + n)))
    return x


class GeneratorQuality:
    """Scores generators against one fixed set of real images; the real features are computed once.

    Args:
        real: real images ``(N, 3, S, S)`` in [-1, 1].
        eval_classifier: path of the evaluator checkpoint (its pooled deepest stage is the feature).
        classifier: optional path of a class-conditional classifier (confidence, distinct classes).
        device: where to run.
        kid_subsets: number of KID subsets.
        batch_size: images per forward pass.
        fit_images: optional held-out real images for :func:`inversion_fit` (center masks).
    """

    def __init__(self, real: torch.Tensor, eval_classifier: str | os.PathLike,
                 classifier: str | os.PathLike | None = None, device: str | torch.device = "cpu",
                 kid_subsets: int = 100, batch_size: int = 100,
                 fit_images: torch.Tensor | None = None) -> None:
        from classifiers import load_feature_network

        from .utils import check_images, resolve_device

        check_images(real, "real images")
        self.device = resolve_device(device)
        self.batch_size = int(batch_size)
        self.kid_subsets = int(kid_subsets)
        self.n_real = len(real)
        self.features = PooledFeatures(load_feature_network(eval_classifier, device=self.device))
        self.eval_classifier = str(eval_classifier)
        self.classifier = None if classifier is None else load_feature_network(classifier, device=self.device)
        if fit_images is not None:
            check_images(fit_images, "fit images")
        self.fit_images = fit_images
        self.real_features = torch.cat([self.features(real[i:i + self.batch_size].to(self.device)).double().cpu()
                                        for i in range(0, len(real), self.batch_size)])

    @torch.no_grad()
    def score(self, generator: nn.Module, n: int = 2000, seed: int = 0) -> dict[str, Any]:
        """Score ``n`` samples ``G(z)``, ``z ~ U[-1, 1]`` seeded by ``seed``, G in eval mode.

        Returns:
            ``{"fd_r18", "kid", "kid_std", "n", "n_real"}``, plus ``"confidence"`` (mean top-class
            probability) and ``"classes"`` (distinct predicted classes) with a classifier, and the
            :func:`inversion_fit` keys with ``fit_images``.
        """
        if n < 2:
            raise ValueError(f"FD-R18 needs at least 2 samples, got n={n}")
        was_training = generator.training
        generator.eval()
        nz = generator.config.nz
        z = torch.rand(n, nz, generator=torch.Generator().manual_seed(seed)) * 2 - 1
        fake_feats, probs = [], []
        for i in range(0, n, self.batch_size):
            x = generator(z[i:i + self.batch_size].to(self.device)).float().clamp(-1, 1)
            fake_feats.append(self.features(x).double().cpu())
            if self.classifier is not None:
                probs.append(self.classifier(x, [])[1].float().softmax(1).cpu())
        generator.train(was_training)
        fake = torch.cat(fake_feats)
        out: dict[str, Any] = {"fd_r18": frechet_distance(self.real_features, fake), "n": n, "n_real": self.n_real}
        out["kid"], out["kid_std"] = kernel_distance(self.real_features, fake, subsets=self.kid_subsets, seed=seed)
        if self.classifier is not None:
            p = torch.cat(probs)
            out["confidence"] = float(p.max(1).values.mean())
            out["classes"] = int(p.argmax(1).unique().numel())
        if self.fit_images is not None:
            with torch.enable_grad():
                out.update(inversion_fit(generator, self.fit_images, seed=seed))
        return out


class _Identity(nn.Module):
    def __init__(self, num_features: int) -> None:
        super().__init__()
        self.num_features = num_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def generator_quality(gan: str | os.PathLike, config: QualityConfig, device: str | None = None
                      ) -> dict[str, Any]:
    """FD-R18 (and KID, confidence, distinct classes) of the generator in checkpoint ``gan``.

    Returns:
        The :meth:`GeneratorQuality.score` dict plus the checkpoint, the evaluator and the data.
    """
    from .models import load_gan

    g, _, ckpt = load_gan(gan, device=device or "cpu", with_discriminator=False)
    evaluator = config.eval_classifier
    if evaluator is None:
        from .bench import bundled_asset

        evaluator = str(bundled_asset("eval_classifier"))
    real = real_images(config.data, config.split, config.start, config.n_real, g.config.image_size)
    fit_start = config.start if config.fit_start is None else config.fit_start
    fit = (real_images(config.data, config.split, fit_start, config.fit, g.config.image_size)
           if config.fit > 0 else None)
    q = GeneratorQuality(real, evaluator, config.classifier, device=device or "cpu",
                         kid_subsets=config.kid_subsets, batch_size=config.batch_size, fit_images=fit)
    res = q.score(g, n=config.n, seed=config.seed)
    out = {"gan": str(gan), "iteration": ckpt.get("meta", {}).get("iteration"), **res,
           "eval_classifier": str(evaluator), "data": config.data, "split": config.split,
           "start": config.start}
    if fit is not None:
        out["fit_start"] = fit_start
    return out
