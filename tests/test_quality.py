"""FD-R18 and KID: the closed-form Gaussian case, end-to-end scoring, and the gan-quality command."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
import torch
from click.testing import CliRunner
from torch import nn

from inpaintkit.quality import GeneratorQuality, frechet_distance, inversion_fit, kernel_distance

pytest.importorskip("torchmetrics")


def _closed_form(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * covmean))


def test_frechet_distance_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 3))
    b = rng.normal(size=(3, 3))
    s1, s2 = a @ a.T + 0.5 * np.eye(3), b @ b.T + 0.2 * np.eye(3)
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.5, 0.0, 0.5])
    x = rng.multivariate_normal(mu1, s1, size=200_000)
    y = rng.multivariate_normal(mu2, s2, size=150_000)
    fd = frechet_distance(torch.from_numpy(x), torch.from_numpy(y))
    # exactly the closed form of the sample moments ...
    sample = _closed_form(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    assert fd == pytest.approx(sample, rel=1e-6)
    # ... and, with this many samples, close to the population value
    assert fd == pytest.approx(_closed_form(mu1, s1, mu2, s2), rel=0.02)


def test_frechet_distance_zero_for_equal_sets_and_bad_shapes_raise():
    x = torch.randn(500, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert abs(frechet_distance(x, x.clone())) < 1e-6
    assert frechet_distance(x, x + 1.0) == pytest.approx(4.0, rel=1e-6)  # a pure mean shift: |d|^2
    with pytest.raises(ValueError, match="same C"):
        frechet_distance(x, x[:, :3])
    with pytest.raises(ValueError, match="at least 2"):
        frechet_distance(x, x[:1])


def test_kernel_distance_is_near_zero_for_one_distribution_and_positive_for_two():
    gen = torch.Generator().manual_seed(1)
    x, y = torch.randn(600, 8, generator=gen), torch.randn(600, 8, generator=gen)
    same = kernel_distance(x, y, subsets=20, subset_size=300)
    shifted, _ = kernel_distance(x, y + 1.0, subsets=20, subset_size=300)
    assert abs(same[0]) < 0.02 and shifted > 0.2
    assert kernel_distance(x, y, subsets=20, subset_size=300) == same  # seeded subsets
    # a subset size of the whole set would draw the same subset every time: capped at half of it
    assert kernel_distance(x, y, subsets=20, subset_size=10**6)[1] > 0


class _Replay(nn.Module):
    """A 'generator' that returns fixed images in order, whatever z is."""

    def __init__(self, images: torch.Tensor, nz: int = 4) -> None:
        super().__init__()
        self.images = images
        self.config = type("C", (), {"nz": nz})()
        self.pos = 0

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        out = self.images[self.pos:self.pos + len(z)]
        self.pos += len(z)
        return out


@pytest.fixture()
def evaluator(tmp_path):
    classifiers = pytest.importorskip("classifiers")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = classifiers.create_classifier("timm:test_resnet", 5, drop_stem_pool=True)
    cfg = {"num_classes": 5, "image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3,
           "model_kwargs": {"drop_stem_pool": True}}
    path = tmp_path / "evaluator.pt"
    classifiers.save_classifier(path, model, "timm:test_resnet", cfg)
    return path


def _real(n=64, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.rand(n, 3, 1, 1, generator=gen) * 1.6 - 0.8
    return (base + 0.1 * torch.randn(n, 3, 32, 32, generator=gen)).clamp(-1, 1)


def test_generator_quality_scores_real_images_best(evaluator):
    real = _real()
    q = GeneratorQuality(real, evaluator, classifier=evaluator, kid_subsets=10, batch_size=16)
    replay = q.score(_Replay(real.clone()), n=64)
    noise = q.score(_Replay(torch.rand(64, 3, 32, 32, generator=torch.Generator().manual_seed(5)) * 2 - 1), n=64)
    assert abs(replay["fd_r18"]) < 1e-4 and noise["fd_r18"] > 10 * max(abs(replay["fd_r18"]), 1e-3)
    assert noise["kid"] > replay["kid"]
    assert 0.2 <= replay["confidence"] <= 1 and 1 <= replay["classes"] <= 5
    assert replay["n"] == 64 and replay["n_real"] == 64


def test_gan_quality_cli(evaluator, tiny_checkpoint, tmp_path):
    import json

    from inpaintkit.cli import main

    path = tmp_path / "real.npz"
    np.savez(path, images=np.random.default_rng(0).integers(0, 256, (40, 32, 32, 3), dtype=np.uint8))
    args = ["gan-quality", "--gan", str(tiny_checkpoint), "--data", f"npz:{path}", "--eval-classifier",
            str(evaluator), "--classifier", str(evaluator), "--n", "30", "--start", "10", "--n-real", "30",
            "--seed", "1", "--fit", "4", "--fit-start", "0", "--json", str(tmp_path / "q.json")]
    res = CliRunner().invoke(main, args)
    assert res.exit_code == 0, res.output
    assert "FD-R18" in res.output and "FID" not in res.output
    rec = json.loads((tmp_path / "q.json").read_text())
    assert rec["fd_r18"] > 0 and rec["start"] == 10 and rec["n_real"] == 30 and "confidence" in rec
    assert rec["fit_n"] == 4 and rec["fit_start"] == 0 and np.isfinite(rec["fit_psnr"]) and "fit" in res.output
    bad = CliRunner().invoke(main, args[:-2] + ["--start", "20"])  # 20 + 30 > 40 images
    assert bad.exit_code != 0 and "40 images" in bad.output


def test_inversion_fit_ranks_the_generator_that_drew_the_images_first(tiny_gan):
    """Images the tiny generator drew itself are fitted far better by it than by another generator,
    and the fit is reproducible and leaves the generator's mode alone."""
    from inpaintkit.models import create_model

    g, _ = tiny_gan
    gen = torch.Generator().manual_seed(4)
    with torch.no_grad():
        own = g(torch.rand(6, g.config.nz, generator=gen) * 2 - 1)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(11)
        other, _ = create_model("dcgan_test")
    other.eval()
    g.train()
    a = inversion_fit(g, own, iters=40, restarts=2)
    assert g.training  # restored
    b = inversion_fit(other, own, iters=40, restarts=2)
    assert a["fit_n"] == 6 and a["fit_psnr"] > b["fit_psnr"] + 3
    assert len(a["fit_psnr_images"]) == 6  # one value per image: every own image is fitted better
    assert all(x > y for x, y in zip(a["fit_psnr_images"], b["fit_psnr_images"]))
    assert a["fit_psnr"] == pytest.approx(float(torch.tensor(a["fit_psnr_images"]).median()), abs=1e-3)
    assert inversion_fit(g, own, iters=40, restarts=2) == a
    with pytest.raises(ValueError):
        inversion_fit(g, own[:, :1])
