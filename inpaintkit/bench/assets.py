"""The bundled synthetic-cars models of the built-in demo, and the model files a run falls back
on."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from .config import BenchError, ResolvedBench

#: Where the bundled synthetic-cars models live (inside the package, shipped with it). The
#: environment variable ``INPAINTKIT_ASSETS`` points elsewhere (see :func:`assets_dir`).
ASSETS_DIR = Path(__file__).resolve().parent.parent / "assets"
BUNDLED_ASSETS = {
    "gan": "synthetic-cars-gan.pt",
    "classifier": "synthetic-cars-classifier.pt",
    "eval_classifier": "synthetic-cars-evaluator.pt",
    "ce": "synthetic-cars-ce.pt",
}


def assets_dir() -> Path:
    """The folder of the bundled models: ``$INPAINTKIT_ASSETS`` if set, else the package's own."""
    env = os.environ.get("INPAINTKIT_ASSETS")
    return Path(env).expanduser() if env else ASSETS_DIR


def bundled_asset(key: str) -> Path:
    """The path of a bundled model file, checked to exist.

    Args:
        key: ``"gan"``, ``"classifier"``, ``"eval_classifier"`` or ``"ce"``.

    Raises:
        BenchError: the file is missing (it is trained by the project's own commands, see
            benchmarks/models/synthetic-cars/README.md), naming the file.
    """
    if key not in BUNDLED_ASSETS:
        raise KeyError(f"unknown bundled asset {key!r}; known: {', '.join(BUNDLED_ASSETS)}")
    path = assets_dir() / BUNDLED_ASSETS[key]
    if not path.is_file():
        raise BenchError(
            f"the built-in benchmark needs the bundled model file {path}, which is missing. "
            f"Train it with the commands in benchmarks/models/synthetic-cars/README.md, or pass "
            f"--{key.replace('_', '-')} CKPT (and --data SPEC) to benchmark your own models.")
    return path


def with_model_paths(rb: ResolvedBench) -> ResolvedBench:
    """``rb`` with the model files the run needs and was not given filled in: the bundled
    synthetic-cars models for the demo, and for ``--data synthetic-cars`` without ``--gan``,
    ``--classifier`` or ``--ce``. Returns a new :class:`ResolvedBench`; ``rb`` is left as it was.

    Separate from :func:`resolve_config`, which checks names without touching any file: this one
    needs the bundled files to exist. The run calls it once, before loading anything.

    Raises:
        BenchError: a search on other data without ``--gan``, or sem/cat without
            ``--classifier``; a bundled file that is missing.
    """
    cfg = dataclasses.replace(rb.config)
    if rb.mode == "demo":
        for key in ("gan", "classifier", "eval_classifier"):
            needed = {"gan": rb.needs_gan, "classifier": rb.needs_classifier,
                      "eval_classifier": True}[key]
            if getattr(cfg, key) is None and needed:
                setattr(cfg, key, str(bundled_asset(key)))
    elif rb.mode == "custom" and cfg.data != "synthetic-cars" and rb.needs_gan and cfg.gan is None:
        raise BenchError("--gan CKPT is required with --data (the bundled GAN was trained on "
                         "synthetic-cars)")
    elif rb.mode == "custom" and rb.needs_gan and cfg.gan is None:
        cfg.gan = str(bundled_asset("gan"))
    if rb.mode == "custom" and rb.needs_classifier and cfg.classifier is None:
        if cfg.data == "synthetic-cars":
            cfg.classifier = str(bundled_asset("classifier"))
        else:
            hint = (" (--preset best has sem[known]; --preset fast is the same search without it)"
                    if cfg.preset == "best" else "")
            raise BenchError(f"the sem/cat losses need --classifier CKPT{hint}")
    if (cfg.ce is None and rb.mode != "dry-run" and any(m.name == "ce" for m in rb.methods)
            and (rb.mode == "demo" or cfg.data == "synthetic-cars")):
        cfg.ce = str(bundled_asset("ce"))
    return dataclasses.replace(rb, config=cfg)
