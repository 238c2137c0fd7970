"""Masks: a seeded registry of hole generators, and the one validator every entry point uses.

Convention (SPEC.md): a mask is float {0, 1} of shape ``(B, 1, H, W)`` or ``(1, 1, H, W)``, and
**1 = known pixel**, 0 = hole.

Spec strings, as accepted by :func:`make_mask` and every ``--mask``/``--masks`` option:

    center          a centred square hole of a quarter of the area (rows/cols 16-47 at 64x64)
    left|right|top|bottom   that half missing
    half            one of the four halves, chosen by the seed
    random[:p]      each pixel missing with probability p (default 0.8; the ETH masks use 0.7)
    blocks[:n]      n random rectangles (default 4), each 1/8 to 1/2 of the side
    thin|medium|thick   LaMa-style irregular strokes (plus boxes for medium and thick), with the
                    parameters of LaMa's random_{thin,medium,thick}_256 configs scaled to the size
    path/to/m.png   a binary PNG, white = known, black = hole (--mask-polarity hole: white =
                    hole); another size of the same aspect ratio is resized (nearest); grey
                    levels or another aspect ratio are errors
    file:NAME       the mask set NAME of bench's --mask-file (an npz key, or a PNG folder's name)
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .utils import Registry

__all__ = ["MASKS", "register_mask", "list_masks", "make_mask", "check_mask_spec", "validate_mask",
           "parse_mask_spec", "MaskError", "MaskSet", "read_mask_file", "mask_file_sets", "POLARITIES",
           "LAMA_CONFIGS"]

MaskFn = Callable[..., np.ndarray]
MASKS: Registry[MaskFn] = Registry("mask")


class MaskError(ValueError):
    """A mask that breaks the conventions: non-binary, no hole, no known pixel, or wrong size."""


def register_mask(name: str):
    """Register ``fn(height, width, rng, *args) -> bool array (H, W), True = known``."""
    return MASKS.register(name)


def list_masks(pattern: str = "*") -> list[str]:
    return MASKS.list(pattern)


@register_mask("center")
def center_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """A centred hole of half the height and half the width (a quarter of the area)."""
    m = np.ones((h, w), bool)
    m[h // 4: h // 4 + h // 2, w // 4: w // 4 + w // 2] = False
    return m


def _half(side: str) -> MaskFn:
    def fn(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        m = np.ones((h, w), bool)
        if side == "left":
            m[:, : w // 2] = False
        elif side == "right":
            m[:, w - w // 2:] = False
        elif side == "top":
            m[: h // 2, :] = False
        else:
            m[h - h // 2:, :] = False
        return m

    fn.__doc__ = f"The {side} half missing."
    return fn


for _side in ("left", "right", "top", "bottom"):
    register_mask(_side)(_half(_side))


@register_mask("half")
def half_mask(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """One of left/right/top/bottom, chosen by the seed."""
    side = ("left", "right", "top", "bottom")[int(rng.integers(4))]
    return MASKS.get(side)(h, w, rng)


@register_mask("random")
def random_mask(h: int, w: int, rng: np.random.Generator, p: float = 0.8) -> np.ndarray:
    """Each pixel missing independently with probability ``p`` (default 0.8, as in Yeh et al.)."""
    if not 0.0 < p < 1.0:
        raise MaskError(f"random mask drop probability must be in (0, 1), got {p}")
    m = rng.random((h, w)) >= p
    # A degenerate draw (possible only for tiny images) is redrawn deterministically.
    while m.all() or not m.any():
        m = rng.random((h, w)) >= p
    return m


@register_mask("blocks")
def blocks_mask(h: int, w: int, rng: np.random.Generator, n: float = 4) -> np.ndarray:
    """``n`` random rectangles, each side between 1/8 and 1/2 of the image side."""
    n = int(n)
    if n < 1:
        raise MaskError(f"blocks mask needs at least one block, got {n}")
    m = np.ones((h, w), bool)
    for _ in range(n):
        bh = int(rng.integers(max(1, h // 8), max(2, h // 2) + 1))
        bw = int(rng.integers(max(1, w // 8), max(2, w // 2) + 1))
        top = int(rng.integers(0, h - bh + 1))
        left = int(rng.integers(0, w - bw + 1))
        m[top: top + bh, left: left + bw] = False
    return m


# --- LaMa-style masks ---------------------------------------------------------------------------------
#
# The parameters of LaMa's evaluation mask configs (Suvorov et al. 2022, "Resolution-robust Large
# Mask Inpainting with Fourier Convolutions", github.com/advimman/lama,
# configs/data_gen/random_{thin,medium,thick}_256.yaml), in pixels at 256x256 and scaled here to the
# image size. Strokes: min_times..max_times strokes, each up to max_width wide, segments up to
# max_len long turning by up to max_angle radians. Boxes (with probability box_proba):
# min_times..max_times rectangles with sides in [bbox_min_size, bbox_max_size], margin from the
# border. max_tamper_area 0.5 (random_thick_256) caps the hole fraction: a larger draw is redrawn.
LAMA_CONFIGS: dict[str, dict[str, dict[str, float]]] = {
    "thin": {"irregular": {"min_times": 4, "max_times": 50, "max_width": 10, "max_angle": 4,
                           "max_len": 40},
             "box": {"proba": 0.0}},
    "medium": {"irregular": {"min_times": 4, "max_times": 5, "max_width": 50, "max_angle": 4,
                             "max_len": 100},
               "box": {"proba": 0.3, "margin": 0, "bbox_min_size": 10, "bbox_max_size": 50,
                       "min_times": 1, "max_times": 5}},
    "thick": {"irregular": {"min_times": 1, "max_times": 5, "max_width": 100, "max_angle": 4,
                            "max_len": 200},
              "box": {"proba": 0.3, "margin": 10, "bbox_min_size": 30, "bbox_max_size": 150,
                      "min_times": 1, "max_times": 3}},
}
LAMA_MAX_HOLE = 0.5


def _stroke_hole(h: int, w: int, rng: np.random.Generator, p: dict[str, float],
                 scale: float) -> np.ndarray:
    """Random-walk brush strokes: each segment is a capsule (all points within width/2 of it)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    hole = np.zeros((h, w), bool)
    for _ in range(int(rng.integers(p["min_times"], p["max_times"] + 1))):
        y, x = rng.uniform(0, h), rng.uniform(0, w)
        heading = rng.uniform(0, 2 * np.pi)
        for _ in range(int(rng.integers(1, 6))):  # a few vertices per stroke
            heading += rng.uniform(-1, 1) * p["max_angle"]
            length = rng.uniform(0.1, 1.0) * p["max_len"] * scale
            width = max(1.0, rng.uniform(0.1, 1.0) * p["max_width"] * scale)
            y1 = float(np.clip(y + length * np.sin(heading), 0, h - 1))
            x1 = float(np.clip(x + length * np.cos(heading), 0, w - 1))
            dy, dx = y1 - y, x1 - x
            seg2 = dy * dy + dx * dx
            t = (np.zeros_like(yy) if seg2 == 0
                 else np.clip(((yy - y) * dy + (xx - x) * dx) / seg2, 0, 1))
            hole |= (yy - (y + t * dy)) ** 2 + (xx - (x + t * dx)) ** 2 <= (width / 2) ** 2
            y, x = y1, x1
    return hole


def _box_hole(h: int, w: int, rng: np.random.Generator, p: dict[str, float],
              scale: float) -> np.ndarray:
    hole = np.zeros((h, w), bool)
    if rng.random() >= p["proba"]:
        return hole
    margin = int(round(p["margin"] * scale))
    lo = max(1, int(round(p["bbox_min_size"] * scale)))
    for _ in range(int(rng.integers(p["min_times"], p["max_times"] + 1))):
        hi_h = max(lo, min(int(round(p["bbox_max_size"] * scale)), h - 2 * margin))
        hi_w = max(lo, min(int(round(p["bbox_max_size"] * scale)), w - 2 * margin))
        bh, bw = int(rng.integers(lo, hi_h + 1)), int(rng.integers(lo, hi_w + 1))
        top = int(rng.integers(margin, max(margin, h - margin - bh) + 1))
        left = int(rng.integers(margin, max(margin, w - margin - bw) + 1))
        hole[top: top + bh, left: left + bw] = True
    return hole


def _lama(kind: str) -> MaskFn:
    cfg = LAMA_CONFIGS[kind]

    def fn(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
        scale = min(h, w) / 256.0
        while True:  # redraw the rare draw with no hole or too large a hole
            hole = _stroke_hole(h, w, rng, cfg["irregular"], scale)
            if cfg["box"]["proba"] > 0:
                hole |= _box_hole(h, w, rng, cfg["box"], scale)
            if hole.any() and hole.mean() <= LAMA_MAX_HOLE:
                return ~hole

    irr = cfg["irregular"]
    boxes = f", boxes with p={cfg['box']['proba']}" if cfg["box"]["proba"] else ""
    fn.__doc__ = (f"LaMa {kind}: {irr['min_times']}-{irr['max_times']} strokes up to "
                  f"{irr['max_width']} px wide at 256 px{boxes} (scaled to the image size).")
    return fn


for _kind in LAMA_CONFIGS:
    register_mask(_kind)(_lama(_kind))


# --- spec strings --------------------------------------------------------------------------------------

POLARITIES = ("known", "hole")


def _check_polarity(polarity: str) -> None:
    if polarity not in POLARITIES:
        raise MaskError(f"mask polarity must be 'known' (white/1 = known pixel, the default) or "
                        f"'hole' (white/1 = hole, as LaMa), got {polarity!r}")


def parse_mask_spec(spec: str) -> tuple[str, list[float]]:
    """Split ``"random:0.7"`` into ``("random", [0.7])``; a ``.png`` path and a ``file:NAME`` set
    are returned as they are."""
    spec = spec.strip()
    if spec.lower().endswith(".png") or os.sep in spec:
        return spec, []
    if spec.startswith("file:"):
        if not spec[5:]:
            raise MaskError("file: needs the name of a mask set of --mask-file, e.g. file:masks")
        return spec, []
    name, _, rest = spec.partition(":")
    MASKS.get(name)  # raises with the list of known masks
    args: list[float] = []
    for a in filter(None, rest.split(",")):
        try:
            args.append(float(a))
        except ValueError:
            raise MaskError(f"bad mask argument {a!r} in {spec!r}: expected a number") from None
    return name, args


def _read_png(path: str, h: int | None, w: int | None) -> np.ndarray:
    from PIL import Image

    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"mask file not found: {p}")
    try:
        with Image.open(p) as im:
            im = im.convert("L")
            a = np.asarray(im)
    except OSError as e:
        raise MaskError(f"cannot read mask image {p}: {e}") from e
    levels = np.unique(a)
    if not (set(levels.tolist()) <= {0, 255} or set(levels.tolist()) <= {0, 1}):
        grey = [int(v) for v in levels if v not in (0, 1, 255)][:5]
        raise MaskError(f"mask image {p} is not binary: it has grey levels such as {grey}; save it "
                        f"with black (0) for the hole and white (255) for known pixels only")
    if h is None or w is None:
        return a > 0
    if a.shape != (h, w):
        if a.shape[0] * w != a.shape[1] * h:
            raise MaskError(f"mask image {p} is {a.shape[1]}x{a.shape[0]} but the images are {w}x{h} "
                            f"(another aspect ratio); draw the mask at the image size")
        # same aspect ratio: nearest-neighbour resize keeps it binary
        a = np.asarray(Image.fromarray(a).resize((w, h), Image.NEAREST))
    return a > 0


def check_mask_spec(spec: str, size: int | tuple[int, int] | None = None,
                    polarity: str = "known", mask_file: bool = False) -> None:
    """Validate a mask spec up front, before any model loads or any image is processed.

    A generator's arguments are tried on one mask (at ``size``, default 64x64): a bad
    ``random:1.5`` or ``blocks:0`` fails here. A PNG is read and checked for grey levels and for a
    hole (and for its size, when ``size`` is given).

    Args:
        spec: a mask spec (see the module docstring).
        size: the image side or ``(H, W)``, if known.
        polarity: how a PNG reads (see :func:`make_mask`).
        mask_file: whether ``file:NAME`` specs are allowed (bench with ``--mask-file``).

    Raises:
        KeyError: an unknown mask name (listing the known ones).
        MaskError: a bad argument, a mask with no hole or no known pixel, a non-binary PNG.
        FileNotFoundError: a PNG that does not exist.
    """
    _check_polarity(polarity)
    name, args = parse_mask_spec(spec)
    if name.startswith("file:"):
        if not mask_file:
            raise MaskError(f"{spec}: a mask set of bench's --mask-file; here give a mask name or a "
                            f"PNG")
        return  # checked against --mask-file by its reader
    if name in MASKS:
        make_mask(spec, size or 64, seed=0)
        return
    if size is not None:
        make_mask(spec, size, polarity=polarity)
        return
    m = _read_png(name, None, None)
    m = m if polarity == "known" else ~m
    validate_mask(torch.from_numpy(m.astype(np.float32))[None, None])


def make_mask(spec: str, size: int | tuple[int, int], seed: int = 0, batch: int = 1,
              device: str | torch.device = "cpu", polarity: str = "known") -> torch.Tensor:
    """Build a validated mask batch from a spec string.

    Args:
        spec: see the module docstring.
        size: image side, or ``(H, W)``.
        seed: image ``i`` of the batch gets the mask of seed ``seed + i``, so the same image id
            gets the same mask on every run and for every method.
        batch: number of masks.
        polarity: how a PNG mask reads: ``known`` (white = known pixel, the default) or ``hole``
            (white = hole, LaMa's convention). Generated masks are unaffected.

    Returns:
        Float tensor ``(batch, 1, H, W)``, 1 = known.
    """
    _check_polarity(polarity)
    h, w = (size, size) if isinstance(size, int) else size
    name, args = parse_mask_spec(spec)
    if name.startswith("file:"):
        raise MaskError(f"{spec}: a mask set of --mask-file; only bench reads those")
    if name not in MASKS:
        m = _read_png(name, h, w)
        m = m if polarity == "known" else ~m
        masks = np.repeat(m[None], batch, 0)
    else:
        fn = MASKS.get(name)
        masks = np.stack([fn(h, w, np.random.default_rng(seed + i), *args) for i in range(batch)])
    out = torch.from_numpy(masks.astype(np.float32))[:, None].to(device)
    validate_mask(out, (h, w))
    return out


def validate_mask(mask: torch.Tensor, size: tuple[int, int] | None = None,
                  batch: int | None = None) -> torch.Tensor:
    """Check a mask against the conventions and return it as float.

    Args:
        mask: ``(B, 1, H, W)`` or ``(1, 1, H, W)``, values exactly 0 or 1 (bool accepted).
        size: the image's ``(H, W)``, if known.
        batch: the image batch size, if known; a mask batch of 1 broadcasts.

    Raises:
        MaskError: wrong shape or size, non-binary values, or a mask (any in the batch) with no
            hole or with no known pixel.
    """
    if not isinstance(mask, torch.Tensor):
        raise MaskError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
    if mask.dim() != 4 or mask.shape[1] != 1:
        raise MaskError(f"mask must have shape (B, 1, H, W), got {tuple(mask.shape)}")
    if size is not None and tuple(mask.shape[-2:]) != tuple(size):
        raise MaskError(f"mask is {mask.shape[-2]}x{mask.shape[-1]} but the image is {size[0]}x{size[1]}")
    if batch is not None and mask.shape[0] not in (1, batch):
        raise MaskError(f"mask batch {mask.shape[0]} does not match image batch {batch}")
    m = mask.float()
    if not torch.isfinite(m).all() or not ((m == 0) | (m == 1)).all():
        raise MaskError("mask must be binary (0 = hole, 1 = known); got other values")
    known = m.flatten(1).sum(1)
    n = m[0].numel()
    if (known == n).any():
        idx = int((known == n).nonzero()[0])
        raise MaskError(f"mask {idx} has no hole (every pixel is known): nothing to inpaint")
    if (known == 0).any():
        idx = int((known == 0).nonzero()[0])
        raise MaskError(f"mask {idx} has no known pixel: there is nothing to condition on")
    return m


# --- mask files: named masks and per-image mask sets ------------------------------------------------------

class MaskSet:
    """Masks read from a file: one mask for every image, or one per image.

    Args:
        name: the set's name (an npz key, or a PNG folder's name).
        masks: ``(K, H, W)`` bool, True = known pixel.
        per_image: False: ``masks[0]`` serves every image; True: one mask per image.
        index: per image, where each image's mask is: ``None`` = row ``i`` for image id ``i``;
            else a dict from image id (int) or image file stem (str) to a row.
    """

    def __init__(self, name: str, masks: np.ndarray, per_image: bool,
                 index: dict[int | str, int] | None = None) -> None:
        self.name, self.masks, self.per_image, self.index = name, masks, per_image, index

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.masks.shape[1:])

    def for_images(self, ids, stems=None) -> np.ndarray:
        """The masks of images ``ids`` (and, for a set keyed by file name, their file stems).

        Raises:
            MaskError: an image with no mask in the set.
        """
        ids = [int(i) for i in ids]
        if not self.per_image:
            return np.repeat(self.masks[:1], len(ids), 0)
        rows = []
        for k, i in enumerate(ids):
            if self.index is None:
                row = i if i < len(self.masks) else None
            else:
                row = self.index.get(i)
                if row is None and stems is not None:
                    row = self.index.get(str(stems[k]))
            if row is None:
                raise MaskError(f"mask set {self.name!r} holds {len(self.masks)} masks but none for "
                                f"image {i}" + (f" ({stems[k]})" if stems is not None else ""))
            rows.append(row)
        return self.masks[rows]


def _known_from_array(a: np.ndarray, what: str, polarity: str) -> np.ndarray:
    if a.dtype != bool and not np.isin(a, (0, 1)).all():
        # a 0/255 image mask read as "nonzero = known" would silently hold another convention
        levels = [v.item() for v in np.unique(a)[:4]]
        raise MaskError(f"{what} holds values {levels}; save masks as bool or 0/1 (1 = known pixel, "
                        f"or 1 = hole with --mask-polarity hole), e.g. (m > 127) for a 0/255 image")
    known = a.astype(bool)
    return known if polarity == "known" else ~known


def read_mask_file(path: str | os.PathLike, polarity: str = "known") -> dict[str, MaskSet]:
    """Read bench's ``--mask-file``: an npz, or a folder of PNG masks.

    An npz holds named masks: a 2-D ``(H, W)`` array is one mask for every image (masks.npz's
    ``center``...), a 3-D ``(N, H, W)`` array one mask per image, image id ``i`` taking row ``i``.
    Values are bool or 0/1. A folder of binary PNGs is one per-image set named after the folder,
    matched by image index (files ``12.png``, ``000012.png``) or else by the image's file name.

    Args:
        polarity: ``known`` (1/white = known pixel, the default) or ``hole`` (1/white = hole).

    Raises:
        FileNotFoundError: no such file or folder.
        MaskError: unreadable, non-binary, grey, or of mixed sizes.
    """
    import zipfile

    _check_polarity(polarity)
    p = Path(path).expanduser()
    if p.is_dir():
        files = sorted(f for f in p.iterdir()
                       if f.suffix.lower() == ".png" and not f.name.startswith("."))
        if not files:
            raise MaskError(f"--mask-file folder {p} holds no .png masks")
        masks = [_read_png(str(f), None, None) for f in files]
        sizes = {m.shape for m in masks}
        if len(sizes) != 1:
            raise MaskError(f"the masks in {p} have different sizes: {sorted(sizes)[:3]}")
        known = np.stack(masks) if polarity == "known" else ~np.stack(masks)
        stems = [f.stem for f in files]
        index: dict[int | str, int] = ({int(s): k for k, s in enumerate(stems)}
                                       if all(s.isdigit() for s in stems) else
                                       {s: k for k, s in enumerate(stems)})
        return {p.name: MaskSet(p.name, known, True, index)}
    if not p.is_file():
        raise FileNotFoundError(f"--mask-file not found: {p}")
    try:
        with np.load(p, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise MaskError(f"cannot read --mask-file {p}: {e}") from e
    sets = {}
    for k, a in arrays.items():
        if a.ndim not in (2, 3):
            continue  # not masks (e.g. ids saved beside them)
        known = _known_from_array(a, f"--mask-file {p}: mask {k!r}", polarity)
        sets[k] = MaskSet(k, known if a.ndim == 3 else known[None], a.ndim == 3)
    if not sets:
        raise MaskError(f"--mask-file {p} holds no (H, W) or (N, H, W) mask arrays")
    return sets


def mask_file_sets(path: str | os.PathLike) -> list[str]:
    """The names of the per-image mask sets of a ``--mask-file`` (3-D npz arrays, a PNG folder)."""
    p = Path(path).expanduser()
    if p.is_dir():
        return [p.name]
    if not p.is_file():
        raise FileNotFoundError(f"--mask-file not found: {p}")
    import zipfile

    try:
        with np.load(p, allow_pickle=False) as z:
            return [k for k in z.files if z[k].ndim == 3]
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise MaskError(f"cannot read --mask-file {p}: {e}") from e
