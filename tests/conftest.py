"""Shared test fixtures: tiny seeded models, a tiny checkpoint, corrupted images.

Fixture names are stable; other test files build on them:

    tiny_gan            (G, D) of ``dcgan_test`` (32x32, nz 16), seeded, eval mode, CPU.
                        Function-scoped: each test gets its own fresh copy.
    tiny_feature_net    a frozen, seeded :class:`~inpaintkit.features.TinyFeatureNet` (10 classes,
                        layers block1..block3, default layers block1+block2).
    tiny_checkpoint     path to a ``dcgan_test`` checkpoint written with ``save_gan`` in a tmp dir
                        (the same weights as ``tiny_gan``).
    corrupted           ``(y, mask)``: 4 seeded 32x32 images in [-1, 1] and per-image masks
                        (center, left, random:0.7, blocks), with NaN in every hole, as the
                        convention allows.
    odd_size            ``(37, 31)``: the odd non-square size for size-free code (masks, blend,
                        context weights).
    data_root           ``Path`` of the real data (env INPAINTKIT_DATA, default ../shared/data);
                        tests that use it must skip when it is absent.

Helpers: ``load_script("benchmarks/guidance/analyze.py")`` imports a benchmark script (not a
package) as a module, for tests of its functions.

Constants: ``TINY_ARCH = "dcgan_test"``, ``TINY_SIZE = 32``, ``TINY_NZ = 16``.

Precision: ``precision="auto"`` (the search's default) resolves to fp32 in every test, so that the
suite computes the same numbers on CPUs with and without native bf16; the tests of ``auto`` itself
(``tests/test_precision.py``) patch :func:`inpaintkit.utils.device.auto_precision` back.

Threads: the tests run torch on ``INPAINTKIT_TEST_THREADS`` intra-op threads (default 1). The
models are tiny, and on a busy 2-core machine OpenMP threads competing for the cores made single
search steps 10-40x slower than one thread.
"""
from __future__ import annotations

import os

os.environ["HF_HUB_OFFLINE"] = "1"  # no test may reach the network (timm/hub look-ups)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ.get("INPAINTKIT_TEST_THREADS", "1")))

TINY_ARCH = "dcgan_test"
TINY_SIZE = 32
TINY_NZ = 16
ROOT = Path(__file__).resolve().parents[1]


def load_script(relpath: str):
    """The benchmark script at ``ROOT/relpath``, imported as a module (the scripts are no package)."""
    import importlib.util

    path = ROOT / relpath
    spec = importlib.util.spec_from_file_location(path.stem, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _tiny_gan(seed: int = 0):
    from inpaintkit.models import create_model

    with torch.random.fork_rng(devices=[]):  # seed the init without leaking the global RNG state
        torch.manual_seed(seed)
        g, d = create_model(TINY_ARCH)
        # Calibrate the BatchNorm running statistics on one batch, as training would, so that in
        # eval mode G(z) really depends on z (with the init's statistics it is nearly constant).
        bns = [m for m in list(g.modules()) + list(d.modules())
               if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d))]
        for m in bns:
            m.reset_running_stats()
            m.momentum = None  # cumulative average: after one batch, exactly its statistics
        with torch.no_grad():
            g.train(), d.train()
            fake = g(torch.rand(256, TINY_NZ) * 2 - 1)
            d(torch.cat([fake, torch.rand(256, 3, TINY_SIZE, TINY_SIZE) * 2 - 1]))
        for m in bns:
            m.momentum = 0.1
    return g.eval(), d.eval()


@pytest.fixture(autouse=True)
def _auto_precision_is_fp32(monkeypatch):
    import inpaintkit.utils.device as device

    monkeypatch.setattr(device, "auto_precision", lambda device="cpu": "fp32")


@pytest.fixture()
def tiny_gan():
    """``(G, D)`` of ``dcgan_test``, seeded, in eval mode."""
    return _tiny_gan()


@pytest.fixture()
def tiny_feature_net():
    """A frozen, seeded ``TinyFeatureNet``."""
    from inpaintkit.features import TinyFeatureNet

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        net = TinyFeatureNet(num_classes=10)
    return net.freeze()


@pytest.fixture()
def tiny_checkpoint(tmp_path: Path) -> Path:
    """A ``dcgan_test`` checkpoint holding ``tiny_gan``'s weights."""
    from inpaintkit.models import save_gan

    g, d = _tiny_gan()
    path = tmp_path / "tiny_gan.pt"
    save_gan(path, g, d, TINY_ARCH, meta={"note": "test fixture"})
    return path


@pytest.fixture()
def corrupted():
    """``(y, mask)``: 4 images 32x32 with per-image masks, NaN in the holes."""
    from inpaintkit.masks import make_mask

    gen = torch.Generator().manual_seed(2)
    x = torch.rand(4, 3, TINY_SIZE, TINY_SIZE, generator=gen) * 2 - 1
    mask = torch.cat([make_mask(s, TINY_SIZE, seed=i)
                      for i, s in enumerate(["center", "left", "random:0.7", "blocks"])])
    y = torch.where(mask > 0, x, torch.full_like(x, float("nan")))
    return y, mask


@pytest.fixture()
def odd_size() -> tuple[int, int]:
    return (37, 31)


@pytest.fixture()
def data_root() -> Path:
    return Path(os.environ.get("INPAINTKIT_DATA", Path(__file__).resolve().parents[1].parent / "shared" / "data"))
