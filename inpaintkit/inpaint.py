"""Inpaint image files with a trained GAN: the library function behind ``inpaintkit inpaint``.

Reads any PIL-readable image (or every image in a folder), centre-crops it to a square and resizes
it to the GAN's size (saying so), cuts the mask, runs the batched latent search, blends, and writes
the result, with ``save_all`` the masked input, ``G(z_hat)``, the overlay, the mask and the loss
curves, and always a JSON file with the resolved configuration, versions, commit and per-image
losses.
"""
from __future__ import annotations

import io
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np
import torch

from .utils import (
    atomic_write_bytes,
    atomic_write_json,
    default_batch_size,
    from_uint8,
    per_image_seed,
    resolve_device,
    resolve_precision,
    run_metadata,
    save_figure,
    starting_latents,
    to_uint8,
)

if TYPE_CHECKING:
    from .losses import LossSpec

__all__ = ["InpaintConfig", "InpaintError", "inpaint", "load_image_batch", "resolve_losses",
           "resolve_loss_spec", "search_seed_for", "INPAINT_PRESETS", "inpaint_preset_options"]


class InpaintError(ValueError):
    """A user-facing problem with the inputs of :func:`inpaint` (files, sizes, options)."""


@dataclass
class InpaintConfig:
    """Everything :func:`inpaint` needs; the fields are the ``inpaintkit inpaint`` options.

    Args:
        gan: GAN checkpoint (``train-gan``'s ``checkpoint.pt``).
        image: an image file, or a folder (its top-level image files, sorted, run batched).
        out: an image path (``.png``, ``.jpg``...) for a single image, or a folder: one
            ``<stem>.png`` per input.
        mask: a mask spec (``center``, ``left``, ``random:0.7``, ``blocks``...) or a PNG path;
            image ``i`` of a folder gets the mask ``bench`` draws for image id ``i``
            (:func:`~inpaintkit.utils.per_image_seed`).
        mask_polarity: a PNG mask's convention: ``known`` (white = known pixel, the default) or
            ``hole`` (white = hole, as LaMa and most tools).
        losses: loss spec; default ``context,prior``, or with a classifier ``--preset best``'s
            ``context,prior,sem[known]=auto:1`` (before 2026-12-05: all five terms).
            Omitted weights take the defaults for the mask
            (:func:`~inpaintkit._presets.default_weights_for_mask`), as in ``bench``.
        classifier: classifier checkpoint for ``sem``/``cat``.
        iters, optimizer, lr, restarts, restart_reduce: see :class:`~inpaintkit.search.SearchConfig`.
        blend: ``poisson`` or ``overlay``.
        precision: ``auto`` (bf16 where it is native, else fp32), ``fp32`` or ``bf16``; see
            :class:`~inpaintkit.search.SearchConfig`. The run record says which ran.
        seed: seeds the masks and every image's starting latents, by the rule ``bench`` follows:
            image ``i`` of a folder, with the same seed, mask and options, gets the fill ``bench``
            makes for image id ``i`` of its data.
        device: ``cpu``, ``cuda``...; default CUDA when available.
        save_all: also write the masked input, G(z_hat), overlay, mask and loss curves.
        batch_size: images per search batch; default (``None``) 64, or 8 for a search with
            ``sem``/``cat`` on a CPU, where it is faster (:func:`~inpaintkit.utils.default_batch_size`).
        overwrite: replace existing files at the output paths that no earlier ``inpaint`` wrote
            (files listed in the run record it left are replaced anyway). An output path that is
            one of the inputs is always refused.
    """

    gan: str
    image: str
    out: str
    mask: str = "center"
    mask_polarity: str = "known"
    losses: str | None = None
    classifier: str | None = None
    iters: int = 1500
    optimizer: str = "adam"
    lr: float | None = None
    restarts: int = 1
    restart_reduce: str = "best"
    blend: str = "poisson"
    precision: str = "auto"
    seed: int = 0
    device: str | None = None
    save_all: bool = False
    batch_size: int | None = None
    overwrite: bool = False


#: The ``bench`` presets ``inpaint --preset`` takes: their search settings and loss set.
INPAINT_PRESETS = ("best", "fast")


def inpaint_preset_options(name: str) -> dict:
    """The :class:`InpaintConfig` fields of a ``bench`` preset (``best`` or ``fast``): the loss set
    and the search settings (optimizer, lr, iterations, restarts and how they are reduced, blend).

    ``InpaintConfig(gan=..., image=..., out=..., **inpaint_preset_options("best"))`` runs the
    search of ``inpaintkit bench --preset best``; pass a field after it to override one.
    """
    from ._presets import get_preset

    if name not in INPAINT_PRESETS:
        raise InpaintError(f"unknown inpaint preset {name!r}; choose from {', '.join(INPAINT_PRESETS)}")
    opts = get_preset(name).options
    keys = ("optimizer", "iters", "lr", "restarts", "restart_reduce", "blend")
    return {"losses": opts["losses"][0], **{k: opts[k] for k in keys}}


def search_seed_for(seed: int, index: int, mask: str = "center", restart: int = 0) -> int:
    """The seed of restart ``restart`` of image ``index``'s starting latents under ``mask``:
    :func:`~inpaintkit.utils.per_image_seed`, as in ``bench``; independent of batching."""
    return per_image_seed("search", seed, mask, int(index), int(restart))


def _image_files(path: Path) -> list[Path]:
    from .data import IMAGE_EXTENSIONS

    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")
                       and p.suffix.lower() in IMAGE_EXTENSIONS)
        if not files:
            raise InpaintError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in folder {path}")
        return files
    if not path.exists():
        raise InpaintError(f"image not found: {path}")
    return [path]


def load_image_batch(paths: list[Path], size: int) -> tuple[torch.Tensor, list[str]]:
    """Read images, centre-crop to a square, resize to ``size``; report what was done.

    Returns:
        ``(B, 3, size, size)`` in [-1, 1], and one note per image (``""`` if it was used as is).

    Raises:
        InpaintError: naming a file that cannot be read.
    """
    from .data import DatasetError, center_crop, read_image, resize_images

    images, notes = [], []
    for p in paths:
        try:
            img = read_image(p)
        except DatasetError as e:
            raise InpaintError(str(e)) from e
        h, w = img.shape[:2]
        steps = []
        if h != w:
            img = np.ascontiguousarray(center_crop(img))
            steps.append(f"centre-cropped to {img.shape[0]}x{img.shape[1]}")
        if img.shape[0] != size:
            img = resize_images(img[None], size)[0]
            steps.append(f"resized to {size}x{size}")
        images.append(img)
        notes.append(f"{p.name}: {h}x{w} -> " + " -> ".join(steps) if steps else "")
    return from_uint8(np.stack(images)), notes


def resolve_loss_spec(losses: str | None, mask: str, has_classifier: bool) -> LossSpec:
    """The loss spec used, parsed once: the default set when none is given, the mask's default
    weights for the terms it gives none."""
    from ._presets import BEST, default_weights_for_mask
    from .losses import LossSpec

    spec = losses or (BEST if has_classifier else "context,prior")
    return LossSpec.parse(spec, defaults=default_weights_for_mask(mask))


def resolve_losses(losses: str | None, mask: str, has_classifier: bool) -> str:
    """:func:`resolve_loss_spec` as its canonical string, every weight written out."""
    return resolve_loss_spec(losses, mask, has_classifier).canonical


def _save_image(path: Path, image_uint8: np.ndarray) -> None:
    from PIL import Image

    fmt = Image.registered_extensions().get(path.suffix.lower(), "PNG")
    buf = io.BytesIO()
    Image.fromarray(image_uint8).save(buf, format=fmt)
    atomic_write_bytes(path, buf.getvalue())


def _save_curves(path: Path, history: dict[str, np.ndarray], column: int, weights: dict[str, float],
                 title: str) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    names = ["total"] + [k for k in history if k != "total"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        ax.plot(np.arange(len(history[name])), history[name][:, column], lw=1.2)
        w = weights.get(name, 1)  # a number, or an AutoWeight (``auto:R``, set per image)
        w = f"{w:g}" if isinstance(w, (int, float)) else str(w)
        ax.set_title(name if name == "total" else f"{name} (weight {w})", fontsize=9)
        ax.set_xlabel("iteration", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=100)


def _output_paths(cfg: InpaintConfig, inputs: list[Path], folder_input: bool) -> tuple[list[Path], Path, Path]:
    """(result path per image, folder for the extra files, metadata path)."""
    from .data import IMAGE_EXTENSIONS

    out = Path(cfg.out)
    if out.suffix.lower() in IMAGE_EXTENSIONS:
        if folder_input:
            raise InpaintError(f"--image is a folder, so --out must be a folder, not {out}")
        return [out], out.parent, out.with_suffix(".json")
    if out.exists() and not out.is_dir():
        raise InpaintError(f"--out {out} exists and is not a folder")
    return [out / f"{p.stem}.png" for p in inputs], out, out / "run.json"


_EXTRA_FILES = ("masked", "generated", "overlay", "mask", "losses")


def _planned_files(cfg: InpaintConfig, outputs: list[Path], extra_dir: Path, meta_path: Path) -> list[Path]:
    files = [*outputs, meta_path]
    if cfg.save_all:
        files += [extra_dir / f"{p.stem}_{name}.png" for p in outputs for name in _EXTRA_FILES]
    return files


def _check_outputs(cfg: InpaintConfig, inputs: list[Path], planned: list[Path], meta_path: Path) -> None:
    """Refuse to write over an input, or over a file that no earlier inpaint run wrote."""
    def same(a: Path, b: Path) -> bool:
        return a.resolve() == b.resolve() or (a.exists() and b.exists() and a.samefile(b))

    sources = [*inputs, Path(cfg.gan)] + ([Path(cfg.classifier)] if cfg.classifier else [])
    if cfg.mask.strip().lower().endswith(".png"):
        sources.append(Path(cfg.mask.strip()))
    for f in planned:
        for src in sources:
            if same(f, src):
                raise InpaintError(f"--out would overwrite the input {src}; choose another --out")
    ours: set[Path] = set()
    if meta_path.is_file():
        import json

        try:
            record = json.loads(meta_path.read_text())
            listed = [v for rec in record["images"] for k, v in rec.items()
                      if k in ("output", *_EXTRA_FILES, "curves") and isinstance(v, str)]
            ours = {Path(v).resolve() for v in listed} | {meta_path.resolve()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            ours = set()
    if cfg.overwrite:
        return
    clash = [f for f in planned if f.exists() and f.resolve() not in ours]
    if clash:
        more = f" and {len(clash) - 1} more" if len(clash) > 1 else ""
        raise InpaintError(f"{clash[0]}{more} already exist(s) and was not written by inpaintkit "
                           f"inpaint; pass --overwrite to replace, or choose another --out")


def inpaint(config: InpaintConfig, progress: bool = True,
            echo: Callable[[str], Any] = print) -> dict[str, Any]:
    """Inpaint one image or a folder of images and write the results.

    Args:
        config: see :class:`InpaintConfig`.
        progress: show a progress bar with the current loss.
        echo: where messages go (resize notes, loss spec, outputs).

    Returns:
        The run record written to the metadata JSON: config, resolved loss spec, metadata, and
        per image its input, output, note, mask, final losses and ``best_iter``.

    Raises:
        InpaintError: unreadable or missing images, bad ``--out``.
        LossSpecError, MaskError, CheckpointError, FileNotFoundError, KeyError (unknown mask or
        blend name): with messages naming the problem.
    """
    from .blend import BLENDS, blend
    from .losses import build_loss
    from .masks import check_mask_spec, make_mask
    from .models import load_gan
    from .search import SearchConfig, latent_search
    from .utils import check_writable, claim_run_dir

    cfg = config
    # Everything that can be checked without the model is checked first: a bad option never
    # costs a model load or a search.
    if cfg.blend not in BLENDS:
        BLENDS.get(cfg.blend)  # KeyError listing the methods
    if cfg.batch_size is not None and cfg.batch_size < 1:
        raise InpaintError(f"batch size must be >= 1, got {cfg.batch_size}")
    try:
        search_cfg = SearchConfig(iters=cfg.iters, optimizer=cfg.optimizer, lr=cfg.lr,
                                  restarts=cfg.restarts, restart_reduce=cfg.restart_reduce,
                                  precision=cfg.precision, seed=cfg.seed)
    except ValueError as e:
        raise InpaintError(f"bad search option: {e}") from e
    check_mask_spec(cfg.mask, polarity=cfg.mask_polarity)
    spec = resolve_loss_spec(cfg.losses, cfg.mask, cfg.classifier is not None)
    image_path = Path(cfg.image)
    folder_input = image_path.is_dir()
    inputs = _image_files(image_path)
    outputs, extra_dir, meta_path = _output_paths(cfg, inputs, folder_input)
    _check_outputs(cfg, inputs, _planned_files(cfg, outputs, extra_dir, meta_path), meta_path)
    if meta_path.name == "run.json":  # --out is a folder: it must not hold another kind of run
        claim_run_dir(extra_dir, "inpaintkit.inpaint")
    check_writable(extra_dir, "--out")

    device = resolve_device(cfg.device)
    search_cfg = replace(search_cfg, precision=resolve_precision(search_cfg.precision, device))
    if cfg.batch_size is None:
        cfg = replace(cfg, batch_size=default_batch_size(device, spec.needs_feature_net))
    feature_net = None
    if cfg.classifier is not None:
        try:
            from classifiers import load_feature_network
        except ImportError as e:
            raise InpaintError(f"--classifier needs the classifiers package: {e}") from e

    generator, discriminator, _ = load_gan(cfg.gan, device=device,
                                           with_discriminator=spec.needs_discriminator)
    size = int(generator.config.image_size)
    if cfg.classifier is not None:
        feature_net = load_feature_network(cfg.classifier, device=device, image_size=size)
    loss = build_loss(spec, feature_net=feature_net)
    echo(f"losses: {loss.spec}")

    y_all, notes = load_image_batch(inputs, size)
    for note in filter(None, notes):
        echo(f"note: {note} (the GAN makes {size}x{size} images)")
    # the image's position in the folder plays the part of bench's image id: the same seed rule
    # (per_image_seed) gives the same mask and the same starting latents in both commands
    mask_key = cfg.mask.strip()
    masks = torch.cat([make_mask(mask_key, size, seed=per_image_seed("mask", cfg.seed, mask_key, i),
                                 polarity=cfg.mask_polarity) for i in range(len(inputs))])
    nz = int(generator.config.nz)

    records: list[dict[str, Any]] = []
    for start in range(0, len(inputs), cfg.batch_size):
        idx = list(range(start, min(start + cfg.batch_size, len(inputs))))
        x = y_all[idx].to(device)
        m = masks[idx].to(device)
        # the hole is never read; 0 there, as in bench, so the blend sees the same input
        y = torch.where(m > 0, x, torch.zeros((), device=x.device))
        z_init = starting_latents(cfg.seed, mask_key, idx, cfg.restarts, nz)
        if len(inputs) > cfg.batch_size:
            echo(f"images {idx[0] + 1}-{idx[-1] + 1} of {len(inputs)}")
        res = latent_search(generator, discriminator, y, m, loss, search_cfg, progress=progress,
                            z_init=z_init).cpu()
        out = blend(y.cpu(), res.g, m.cpu(), method=cfg.blend)
        out_u8 = to_uint8(out)
        finals = res.final_losses()
        for j, i in enumerate(idx):
            _save_image(outputs[i], out_u8[j])
            rec = {"input": str(inputs[i]), "output": str(outputs[i]), "note": notes[i],
                   "losses": finals[j], "best_iter": int(res.best_iter[j]),
                   "best_restart": int(res.best_restart[j])}
            if cfg.save_all:
                stem = outputs[i].stem
                extra = {
                    "masked": torch.where(m[j:j + 1].cpu() > 0, x[j:j + 1].cpu(), -1.0),
                    "generated": res.g[j:j + 1],
                    "overlay": res.composite[j:j + 1],
                    "mask": m[j:j + 1].cpu().expand(1, 3, -1, -1) * 2 - 1,
                }
                for name, img in extra.items():
                    path = extra_dir / f"{stem}_{name}.png"
                    _save_image(path, to_uint8(img)[0])
                    rec[name] = str(path)
                curves = extra_dir / f"{stem}_losses.png"
                _save_curves(curves, res.history, j, res.weights,
                             f"{inputs[i].name}: {loss.spec}")
                rec["curves"] = str(curves)
            records.append(rec)
        echo(f"{len(idx)} image(s) in {res.seconds:.1f}s "
             f"({len(idx) * res.iters_run / max(res.seconds, 1e-9):.1f} image-iterations/s)")

    record = {
        "kind": "inpaintkit.inpaint/1",
        "config": asdict(cfg), "losses": loss.spec, "search": search_cfg.to_dict(),
        "image_size": size, "device": str(device), "images": records,
        "metadata": run_metadata({"inpaint": asdict(cfg)}),
    }
    atomic_write_json(meta_path, record)
    for rec in records:
        echo(f"wrote {rec['output']}")
    echo(f"run record: {meta_path}")
    return record
