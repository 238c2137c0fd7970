"""``synthetic-cars[:N]``: procedural side-view cars, the built-in dataset that needs no files.

Every image is one car seen from the side on a road, under a sky. The class label is the body
style; the ten styles differ in silhouette (roof line, length, height, boot, bed, wheel size,
ground clearance, roof rails, spoiler...), not only in colour, so a car with half of it missing
still has one right answer for its type. Colours, wheels, windows, lights, backgrounds, position,
scale and facing direction are random. Heights are drawn 1.6x the real proportions so that a side
view fills a square frame, much as the Stanford Cars box crops are stretched when squeezed to 64x64.

Rendering is vectorised with NumPy. Every shape is the region between two curves per image column
(a roof line and a sill line, the two halves of a circle...), so each pixel's vertical coverage is
computed exactly and the horizontal direction is supersampled (``supersample`` sub-columns per
pixel, default 2): the images are antialiased at any size (32, 64, 128...) for the cost of about
two samples per pixel.
10,000 images take about 0.9 / 2.6 / 8.6 s of one CPU core at 32 / 64 / 128 px.

Determinism: images are generated in fixed chunks of 256, each from its own random stream derived
from ``(seed, split, chunk)``. The same arguments give identical bytes; the ``train``, ``test`` and
``val`` splits are different streams; and the first ``k`` images do not depend on ``N`` (so
``synthetic-cars:500`` is a prefix of ``synthetic-cars``) nor on the image size (the same scenes
are rendered at 32, 64 or 128 px).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from ._base import ArrayDataset, DatasetError, register_dataset

__all__ = ["BODY_STYLES", "SYNTHETIC_CLASS_NAMES", "render_synthetic_cars", "synthetic_cars"]

_CHUNK = 256                     # images per random stream
_SPLIT_IDS = {"train": 0, "test": 1, "val": 2}
_DEFAULT_SIZES = {"train": 10_000, "test": 2_000, "val": 2_000}

Shape = tuple  # ("bar", u0, u1, v0, v1) | ("disc", cu, cv, r) | ("slant", u0, v0, u1, v1, thick)


@dataclass(frozen=True)
class BodyStyle:
    """Side-view geometry of one body style, in car units.

    ``u`` runs along the car from the rear (0) to the front (1); ``v`` is the height above the
    ground, in car lengths. So the roof line of a car 4.8 m long and 1.45 m high peaks at v = 0.3.

    Attributes:
        name: class name.
        length: car length as a fraction of the image width (before the random scale).
        wheel_radius: in car lengths.
        wheels: rear and front wheel centres (u).
        top: the roof line, keypoints (u, v) from rear to front (the body's upper outline).
        bottom: the sill line, keypoints (u, v); wheel arches are cut out of it.
        belt: the belt line (bottom of the side windows), v.
        windows: u range of the side glass; its top follows the roof line minus a frame.
        pillars: (u, width) of the pillars that split the side glass.
        doors: u of the door seams.
        head, tail: (v_low, v_high) of the headlight and the tail light.
        dark: extra dark parts (roof rails, spoiler, spare wheel, folded roof...).
    """

    name: str
    length: float
    wheel_radius: float
    wheels: tuple[float, float]
    top: tuple[tuple[float, float], ...]
    bottom: tuple[tuple[float, float], ...]
    belt: float
    windows: tuple[float, float] | None
    pillars: tuple[tuple[float, float], ...]
    doors: tuple[float, ...]
    head: tuple[float, float]
    tail: tuple[float, float]
    dark: tuple[Shape, ...] = ()


def _bottom(clearance: float, end: float) -> tuple[tuple[float, float], ...]:
    return ((0.0, end), (0.025, clearance), (0.975, clearance), (1.0, end))


BODY_STYLES: tuple[BodyStyle, ...] = (
    BodyStyle(  # three boxes: bonnet, cabin, boot
        "sedan", 0.92, 0.072, (0.19, 0.80),
        top=((0, 0.15), (0.012, 0.195), (0.04, 0.205), (0.2, 0.21), (0.3, 0.29), (0.35, 0.30),
             (0.55, 0.30), (0.58, 0.295), (0.70, 0.215), (0.9, 0.198), (0.985, 0.17), (1, 0.12)),
        bottom=_bottom(0.045, 0.075), belt=0.207, windows=(0.31, 0.70),
        pillars=((0.47, 0.016),), doors=(0.285, 0.472, 0.68), head=(0.145, 0.17),
        tail=(0.16, 0.19)),
    BodyStyle(  # short, tall, blunt nose, near-vertical hatch
        "hatchback", 0.74, 0.08, (0.16, 0.83),
        top=((0, 0.15), (0.01, 0.29), (0.035, 0.36), (0.08, 0.385), (0.46, 0.39), (0.5, 0.385),
             (0.64, 0.265), (0.84, 0.24), (0.96, 0.215), (1, 0.15)),
        bottom=_bottom(0.05, 0.085), belt=0.25, windows=(0.06, 0.625),
        pillars=((0.19, 0.05), (0.42, 0.02)), doors=(0.27, 0.42, 0.62), head=(0.18, 0.205),
        tail=(0.24, 0.29)),
    BodyStyle(  # two doors, long sloping fastback
        "coupe", 0.88, 0.075, (0.18, 0.80),
        top=((0, 0.145), (0.012, 0.185), (0.12, 0.195), (0.3, 0.262), (0.42, 0.278), (0.5, 0.276),
             (0.64, 0.2), (0.88, 0.18), (0.985, 0.155), (1, 0.115)),
        bottom=_bottom(0.035, 0.065), belt=0.19, windows=(0.27, 0.625),
        pillars=((0.35, 0.012),), doors=(0.355, 0.635), head=(0.13, 0.155), tail=(0.15, 0.18)),
    BodyStyle(  # no roof: sky above the belt line, a windscreen frame, folded hood, the driver
        "convertible", 0.86, 0.075, (0.18, 0.80),
        top=((0, 0.145), (0.012, 0.185), (0.05, 0.195), (0.6, 0.198), (0.9, 0.185),
             (0.985, 0.16), (1, 0.12)),
        bottom=_bottom(0.035, 0.065), belt=0.2, windows=None, pillars=(),
        doors=(0.37, 0.64), head=(0.135, 0.16), tail=(0.15, 0.18),
        dark=(("bar", 0.08, 0.22, 0.19, 0.225), ("disc", 0.47, 0.243, 0.04),
              ("slant", 0.625, 0.19, 0.55, 0.285, 0.03))),
    BodyStyle(  # long flat roof to a near-vertical tailgate, roof rails on posts
        "wagon", 0.93, 0.072, (0.18, 0.80),
        top=((0, 0.15), (0.01, 0.27), (0.03, 0.315), (0.06, 0.325), (0.1, 0.325), (0.101, 0.35),
             (0.12, 0.35), (0.121, 0.325), (0.47, 0.325), (0.471, 0.35), (0.49, 0.35),
             (0.491, 0.325), (0.55, 0.325), (0.58, 0.318), (0.70, 0.215), (0.9, 0.198),
             (0.985, 0.17), (1, 0.12)),
        bottom=_bottom(0.045, 0.075), belt=0.207, windows=(0.05, 0.70),
        pillars=((0.16, 0.03), (0.30, 0.02), (0.47, 0.016)), doors=(0.3, 0.472, 0.68),
        head=(0.145, 0.17), tail=(0.2, 0.25), dark=(("bar", 0.08, 0.52, 0.345, 0.367),)),
    BodyStyle(  # tall box, big wheels, high clearance, spare wheel and roof rails
        "suv", 0.88, 0.095, (0.19, 0.80),
        top=((0, 0.2), (0.01, 0.34), (0.03, 0.37), (0.06, 0.38), (0.56, 0.38), (0.6, 0.37),
             (0.70, 0.285), (0.9, 0.27), (0.985, 0.25), (1, 0.2)),
        bottom=_bottom(0.08, 0.11), belt=0.275, windows=(0.06, 0.685),
        pillars=((0.17, 0.04), (0.44, 0.018)), doors=(0.3, 0.44, 0.665), head=(0.21, 0.24),
        tail=(0.24, 0.29),
        dark=(("bar", 0.1, 0.5, 0.375, 0.398), ("disc", -0.02, 0.24, 0.075))),
    BodyStyle(  # cab and an open bed, high bonnet
        "pickup", 0.97, 0.09, (0.17, 0.78),
        top=((0, 0.2), (0.01, 0.25), (0.395, 0.25), (0.405, 0.37), (0.42, 0.38), (0.56, 0.38),
             (0.59, 0.37), (0.66, 0.29), (0.9, 0.28), (0.985, 0.26), (1, 0.2)),
        bottom=_bottom(0.075, 0.1), belt=0.28, windows=(0.425, 0.645),
        pillars=((0.535, 0.016),), doors=(0.4, 0.535, 0.65), head=(0.215, 0.245),
        tail=(0.19, 0.23), dark=(("bar", 0.012, 0.39, 0.243, 0.252),)),
    BodyStyle(  # one box, tall, short nose, three side windows, small wheels
        "van", 0.92, 0.068, (0.15, 0.82),
        top=((0, 0.1), (0.005, 0.4), (0.02, 0.43), (0.06, 0.44), (0.72, 0.44), (0.78, 0.42),
             (0.9, 0.28), (0.95, 0.22), (0.99, 0.2), (1, 0.15)),
        bottom=_bottom(0.045, 0.07), belt=0.27, windows=(0.03, 0.87),
        pillars=((0.22, 0.025), (0.45, 0.02), (0.68, 0.02)), doors=(0.45, 0.68, 0.86),
        head=(0.15, 0.18), tail=(0.2, 0.26)),
    BodyStyle(  # low wedge, rear spoiler, side air intake
        "sports car", 0.86, 0.078, (0.17, 0.79),
        top=((0, 0.13), (0.01, 0.165), (0.035, 0.167), (0.036, 0.2), (0.05, 0.2), (0.051, 0.168),
             (0.1, 0.17), (0.3, 0.225), (0.4, 0.235), (0.48, 0.23),
             (0.6, 0.17), (0.85, 0.135), (0.97, 0.11), (1, 0.085)),
        bottom=_bottom(0.025, 0.05), belt=0.168, windows=(0.3, 0.585), pillars=(),
        doors=(0.31, 0.59), head=(0.09, 0.11), tail=(0.12, 0.15),
        dark=(("bar", -0.01, 0.095, 0.195, 0.215), ("disc", 0.34, 0.1, 0.028))),
    BodyStyle(  # tiny two-seater: short, very tall, big wheels at the corners
        "microcar", 0.6, 0.1, (0.17, 0.83),
        top=((0, 0.14), (0.01, 0.45), (0.04, 0.5), (0.1, 0.52), (0.5, 0.52), (0.56, 0.5),
             (0.78, 0.3), (0.93, 0.27), (0.99, 0.22), (1, 0.16)),
        bottom=_bottom(0.06, 0.09), belt=0.3, windows=(0.06, 0.745),
        pillars=((0.3, 0.04),), doors=(0.3, 0.74), head=(0.19, 0.23), tail=(0.24, 0.32)),
)
SYNTHETIC_CLASS_NAMES: tuple[str, ...] = tuple(s.name for s in BODY_STYLES)

# Heights are drawn 1.6x taller than the real proportions in the table (wheels 1.2x larger and
# kept round), so that a side view fills a square frame. The Stanford Cars crops are stretched the
# same way when their wide bounding boxes are resized to a square.
_STRETCH = 1.6
_WHEEL_GAIN = 1.2


def _padded(rows: list, n: int, fill: tuple) -> np.ndarray:
    """Rows padded to length n with ``fill`` (or the last row when ``fill`` is empty)."""
    rows = list(rows) + [fill if fill else rows[-1]] * (n - len(rows))
    return np.asarray(rows, dtype=np.float32)


def _scale_dark(shape: Shape) -> Shape:
    kind, *a = shape
    if kind == "bar":                  # u0, u1, v0, v1
        return (kind, a[0], a[1], a[2] * _STRETCH, a[3] * _STRETCH)
    if kind == "disc":                 # cu, cv, r: stays round
        return (kind, a[0], a[1] * _STRETCH, a[2])
    if kind == "slant":                # u0, v0, u1, v1, thickness
        return (kind, a[0], a[1] * _STRETCH, a[2], a[3] * _STRETCH, a[4])
    raise ValueError(f"unknown shape kind {kind!r}")


_V = np.array([1.0, _STRETCH], np.float32)
_N_TOP = max(len(s.top) for s in BODY_STYLES)
_TOP = np.stack([_padded(s.top, _N_TOP, ()) for s in BODY_STYLES]) * _V      # (K, P, 2)
_BOT = np.stack([_padded(s.bottom, 4, ()) for s in BODY_STYLES]) * _V        # (K, 4, 2)
_LEN = np.array([s.length for s in BODY_STYLES], np.float32)
_RAD = np.array([s.wheel_radius for s in BODY_STYLES], np.float32) * _WHEEL_GAIN
_WHEELS = np.array([s.wheels for s in BODY_STYLES], np.float32)
_BELT = np.array([s.belt for s in BODY_STYLES], np.float32) * _STRETCH
_SILL = np.array([s.bottom[1][1] for s in BODY_STYLES], np.float32) * _STRETCH
_WIN = np.array([s.windows or (2.0, 2.0) for s in BODY_STYLES], np.float32)
_PILLARS = np.stack([_padded(s.pillars or [(0.0, 0.0)], 3, (0.0, 0.0)) for s in BODY_STYLES])
_DOORS = np.stack([_padded([(d, 1.0) for d in s.doors], 3, (0.0, 0.0)) for s in BODY_STYLES])
_HEAD = np.array([s.head for s in BODY_STYLES], np.float32) * _STRETCH
_TAIL = np.array([s.tail for s in BODY_STYLES], np.float32) * _STRETCH
_DARK = [tuple(_scale_dark(d) for d in s.dark) for s in BODY_STYLES]


# --- parameters: one random stream per chunk of 256 images ----------------------------------------

def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Vectorised HSV -> RGB, all in [0, 1]; returns (..., 3)."""
    i = np.floor(h * 6.0) % 6
    f = h * 6.0 - np.floor(h * 6.0)
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    table = np.stack([np.stack(c, -1) for c in
                      ((v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q))])
    return np.take_along_axis(table, i.astype(np.int64)[None, ..., None].repeat(3, -1), 0)[0]


def _chunk_params(seed: int, split_id: int, chunk: int) -> dict[str, np.ndarray]:
    """All random choices for the 256 images of one chunk (independent of image size)."""
    rng = np.random.default_rng([seed & 0xFFFFFFFFFFFF, split_id, chunk, 0x5CA75])
    n, k = _CHUNK, len(BODY_STYLES)
    u = rng.uniform
    p: dict[str, np.ndarray] = {}
    # labels: (global index mod K), shuffled inside the chunk -> balanced to within a chunk
    p["label"] = rng.permutation((np.arange(chunk * n, (chunk + 1) * n)) % k)
    p["facing"] = np.where(u(size=n) < 0.5, 1.0, -1.0)                  # +1: front to the right
    p["scale"] = u(0.86, 1.04, n)                                        # car length jitter
    p["shift"] = u(-1, 1, n)                                             # fraction of free margin
    p["ground"] = u(0.8, 0.9, n)                                         # wheel contact row / H
    p["hscale"] = u(0.95, 1.05, n)                                       # body height jitter
    p["wscale"] = u(0.93, 1.07, n)                                       # wheel size jitter
    # body colour: ~40% white / silver / grey / black, the rest saturated
    grey = u(size=n) < 0.4
    hue, sat, val = u(size=n), u(0.45, 0.95, n), u(0.35, 0.95, n)
    sat = np.where(grey, u(0, 0.07, n), sat)
    val = np.where(grey, u(0.06, 0.95, n), val)
    p["body"] = _hsv_to_rgb(hue, sat, val)
    p["glass"] = _hsv_to_rgb(u(0.5, 0.7, n), u(0.2, 0.5, n), u(0.12, 0.3, n))
    rim_kind = rng.integers(0, 4, n)                                     # silver, light, dark, gold
    rim = np.stack([np.full(n, 0.72), np.full(n, 0.85), np.full(n, 0.3), np.full(n, 0.7)])
    p["rim"] = np.stack([rim[rim_kind, np.arange(n)]] * 3, -1) * u(0.9, 1.1, (n, 1))
    p["rim"][rim_kind == 3] *= np.array([1.0, 0.82, 0.45])
    p["trim_body"] = u(size=n) < 0.5                                     # bumpers body-coloured
    p["tire"] = u(0.04, 0.12, n)
    # sky: clear / hazy / overcast / dusk; ground: asphalt / grass / sand
    sky_kind = rng.integers(0, 4, n)
    tops = np.array([[0.25, 0.45, 0.85], [0.45, 0.6, 0.85], [0.55, 0.57, 0.6], [0.25, 0.25, 0.5]])
    hors = np.array([[0.7, 0.82, 0.95], [0.85, 0.88, 0.9], [0.78, 0.78, 0.8], [0.95, 0.6, 0.4]])
    p["sky_top"] = np.clip(tops[sky_kind] + u(-0.08, 0.08, (n, 3)), 0, 1)
    p["sky_hor"] = np.clip(hors[sky_kind] + u(-0.06, 0.06, (n, 3)), 0, 1)
    ground_kind = rng.integers(0, 3, n)
    g_far = np.array([[0.45, 0.45, 0.47], [0.35, 0.5, 0.25], [0.72, 0.62, 0.45]])
    p["ground_far"] = np.clip(g_far[ground_kind] + u(-0.07, 0.07, (n, 3)), 0, 1)
    p["ground_near"] = p["ground_far"] * u(0.55, 0.8, (n, 1))
    p["horizon"] = u(0.42, 0.62, n)                                      # horizon row / H
    p["hills_amp"] = u(0.0, 0.12, n)                                     # hill height / H
    p["hills_freq"] = u(3, 12, (n, 2))
    p["hills_phase"] = u(0, 2 * np.pi, (n, 2))
    p["hills_col"] = (0.6 * p["sky_hor"] + 0.4 * np.array([0.2, 0.35, 0.3])) * u(0.7, 1.0, (n, 1))
    p["kerb"] = np.where(u(size=n) < 0.5, u(0.3, 0.8, n), -1.0)          # kerb line, or none
    return p


# --- rasterisation --------------------------------------------------------------------------------

def _interp(u: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Piecewise-linear profile per image: ``u`` (n, ...) and keypoints ``pts`` (n, P, 2)."""
    shape = (-1,) + (1,) * (u.ndim - 1)
    out = np.zeros_like(u)
    for k in range(pts.shape[1] - 1):
        u0, v0 = pts[:, k, 0].reshape(shape), pts[:, k, 1].reshape(shape)
        u1, v1 = pts[:, k + 1, 0].reshape(shape), pts[:, k + 1, 1].reshape(shape)
        t = (u - u0) / np.maximum(u1 - u0, 1e-9)
        out = np.where((u >= u0) & (u <= u1) & (u1 > u0), v0 + t * (v1 - v0), out)
    return out


def _paint(img: np.ndarray, top: np.ndarray, bot: np.ndarray, colour: np.ndarray,
           alpha: float = 1.0, hcov: np.ndarray | None = None) -> None:
    """Alpha-composite the region between two curves onto ``img`` in place.

    Args:
        img: (n, 3, H, W) float32 canvas.
        top, bot: (n, ss, W) pixel rows of the region's upper and lower edge at each sub-column;
            a sub-column is empty where ``bot <= top``.
        colour: broadcastable to (n, 3, H, W): (n, 3, 1, 1), (n, 3, H, 1) or (n, 3, 1, W).
        alpha: opacity.
        hcov: optional (n, W) factor on the coverage (e.g. 1 - pillar coverage).
    """
    valid = bot > top
    if not valid.any():
        return
    h, w = img.shape[2:]
    i0 = max(int(np.floor(top[valid].min())), 0)
    i1 = min(int(np.ceil(bot[valid].max())), h)
    cols = np.flatnonzero(valid.any(axis=(0, 1)))
    j0, j1 = int(cols[0]), int(cols[-1]) + 1
    if i0 >= i1:
        return
    rows = np.arange(i0, i1, dtype=np.float32)[None, None, :, None]
    t, b = top[:, :, None, j0:j1], bot[:, :, None, j0:j1]
    cov = np.minimum(b, rows + 1.0)                                      # (n, ss, h, w)
    cov -= np.maximum(t, rows)
    np.maximum(cov, 0.0, out=cov)
    np.minimum(cov, 1.0, out=cov)
    cov = cov.sum(axis=1) if cov.shape[1] > 1 else cov[:, 0]             # (n, h, w)
    scale = alpha / top.shape[1]
    if scale != 1.0:
        cov *= scale
    if hcov is not None:
        cov *= hcov[:, None, j0:j1]
    if colour.shape[2] > 1:
        colour = colour[:, :, i0:i1]
    if colour.shape[3] > 1:
        colour = colour[:, :, :, j0:j1]
    sub = img[:, :, i0:i1, j0:j1]
    delta = colour - sub
    delta *= cov[:, None]
    sub += delta


def _interval_cov(x: np.ndarray, x0: np.ndarray, x1: np.ndarray) -> np.ndarray:
    """Coverage of pixel cells [x, x+1) by intervals [x0, x1] (broadcasting)."""
    return np.clip(np.minimum(x + 1.0, x1) - np.maximum(x, x0), 0.0, 1.0)


def _dark_parts(U: np.ndarray, label: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Top and bottom (car v) of each style's extra dark parts at sub-columns U (n, ss, W)."""
    top, bot = np.zeros_like(U), np.zeros_like(U)
    for c, shapes in enumerate(_DARK):
        sel = np.flatnonzero(label == c)
        if not shapes or not len(sel):
            continue
        u = U[sel]
        t, b = np.zeros_like(u), np.zeros_like(u)
        for kind, *a in shapes:
            if kind == "bar":
                u0, u1, v0, v1 = a
                on = (u >= u0) & (u <= u1)
                tv, bv = v1, v0
            elif kind == "disc":
                cu, cv, rad = a
                d = rad * rad - (u - cu) ** 2
                on = d > 0
                sq = np.sqrt(np.maximum(d, 0))
                tv, bv = cv + sq, cv - sq
            else:  # slant: a thick straight bar from (u0, v0) to (u1, v1)
                u0, v0, u1, v1, th = a
                on = (u >= min(u0, u1)) & (u <= max(u0, u1))
                mid = v0 + (u - u0) * ((v1 - v0) / (u1 - u0))
                tv, bv = mid + th / 2, mid - th / 2
            t = np.where(on, tv, t)
            b = np.where(on, bv, b)
        top[sel], bot[sel] = t, b
    return top, bot


def _render(p: dict[str, np.ndarray], size: int, ss: int) -> np.ndarray:
    """Render the images described by ``p`` (arrays of length n) as uint8 (n, size, size, 3).

    Car coordinates (u along the car, v up, in car lengths) map to pixels through each image's
    car length ``L`` (px), rear end ``x_rear``, ``facing`` and ground row: x = x_rear + facing*u*L,
    row = ground - v*L.
    """
    f32 = np.float32
    p = {k: (v.astype(f32) if v.dtype.kind == "f" else v) for k, v in p.items()}
    lab = p["label"]
    n, H, W = len(lab), size, size
    col = lambda a: np.asarray(a, f32).reshape(n, 3, 1, 1)                # noqa: E731
    e3 = (slice(None), None, None)                                        # (n,) -> (n, 1, 1)

    L = _LEN[lab] * p["scale"] * W
    margin = np.maximum(W - L, 0.0)
    x_left = 0.5 * margin * (1.0 + 0.8 * p["shift"])
    facing = p["facing"]
    x_rear = np.where(facing > 0, x_left, x_left + L)
    ground = p["ground"] * H
    hs = p["hscale"]                                                      # body height jitter
    R = _RAD[lab] * p["wscale"]                                           # wheel radius (car u)
    wheel_u = _WHEELS[lab]

    def rows(v: np.ndarray) -> np.ndarray:                                # car v -> pixel row
        return ground[e3] - v * L[e3]

    # sub-column centres (ss, W) and their car coordinate U (n, ss, W)
    xs = np.arange(W, dtype=f32)[None, :] + (np.arange(ss, dtype=f32)[:, None] + 0.5) / ss
    U = (xs[None] - x_rear[e3]) / (facing * L)[e3]
    inside = (U >= 0) & (U <= 1)
    r = np.arange(H, dtype=f32)[None, :] + 0.5                            # row centres (1, H)
    rv = (ground[:, None] - r) / L[:, None]                               # car v of rows (n, H)
    xc = np.arange(W, dtype=f32)[None, :]                                 # pixel starts (1, W)

    # --- background: sky gradient, ground gradient, kerb line, then distant hills
    hor = (p["horizon"] * H)[:, None]
    a = np.clip(r / hor, 0, 1)[:, None, :] ** 0.8
    sky = p["sky_top"][:, :, None] * (1 - a) + p["sky_hor"][:, :, None] * a
    b = np.clip((r - hor) / (H - hor), 0, 1)[:, None, :]
    grd = p["ground_far"][:, :, None] * (1 - b) + p["ground_near"][:, :, None] * b
    g = np.clip(r + 0.5 - hor, 0, 1)[:, None, :]                          # antialiased horizon
    bg = sky * (1 - g) + grd * g                                          # (n, 3, H)
    kerb = hor + p["kerb"][:, None] * (ground[:, None] - hor)
    kc = _interval_cov(r - 0.5, kerb, kerb + max(0.6, H / 64.0)) * (p["kerb"][:, None] > 0)
    bg += kc[:, None, :] * (np.array([0.85, 0.85, 0.82], f32)[None, :, None] - bg)
    img = np.ascontiguousarray(np.broadcast_to(bg[..., None], (n, 3, H, W)), dtype=f32)
    wave = np.sin(xs[None, :, :, None] / W * p["hills_freq"][:, None, None, :]
                  + p["hills_phase"][:, None, None, :]).sum(-1) * 0.25 + 0.5
    hill_top = hor[:, :, None] - (p["hills_amp"] * H)[e3] * wave
    _paint(img, hill_top, np.broadcast_to(hor[:, :, None], (n, ss, W)), col(p["hills_col"]))

    # --- soft shadow under the car
    sh = np.sqrt(np.clip(1 - ((U - 0.5) / 0.56) ** 2, 0, None)) * (0.025 * L)[e3]
    _paint(img, ground[e3] - sh, ground[e3] + sh, col(np.zeros((n, 3))), alpha=0.55)

    # --- body: between the roof line and the sill line, with the wheel arches cut out
    top_v = _interp(U, _TOP[lab]) * hs[e3]
    sill_v = _interp(U, _BOT[lab])
    arch_v = np.zeros_like(U)
    for k in range(2):
        d = (1.17 * R[e3]) ** 2 - (U - wheel_u[:, k][e3]) ** 2
        arch_v = np.maximum(arch_v, np.where(d > 0, R[e3] + np.sqrt(np.maximum(d, 0)), 0))
    body_bot = np.maximum(sill_v, arch_v)
    ok = inside & (top_v > body_bot)
    well = inside & (arch_v > sill_v)                                     # dark wheel wells
    _paint(img, np.where(well, rows(np.minimum(arch_v, top_v)), 0),
           np.where(well, rows(sill_v), 0), col(np.full((n, 3), 0.05)))
    belt = _BELT[lab] * hs
    rel = np.clip(rv / belt[:, None], 0, 1.3)                             # shading by height
    shade = 0.62 + 0.38 * rel - 0.25 * np.clip(rel - 1, 0, None)
    shade += 0.22 * np.exp(-((rv - 0.85 * belt[:, None]) / 0.03) ** 2)   # shoulder highlight
    body = np.clip(p["body"][:, :, None] * shade[:, None, :], 0, 1)[..., None]   # (n, 3, H, 1)
    _paint(img, np.where(ok, rows(top_v), 0), np.where(ok, rows(body_bot), 0), body)

    # --- trim: rocker panel between the arches, bumpers at both ends
    trim = np.where(p["trim_body"][:, None], p["body"] * 0.55, 0.12)
    rock = inside & (U > (wheel_u[:, 0] + 1.17 * R)[e3]) & (U < (wheel_u[:, 1] - 1.17 * R)[e3])
    bump = inside & ((U < 0.035) | (U > 0.965))
    on = rock | bump
    _paint(img, np.where(on, rows(sill_v + np.where(bump, 0.06, 0.028)), 0),
           np.where(on, rows(sill_v), 0), col(trim))

    def x_at(u: np.ndarray) -> np.ndarray:                                # car u (n, k) -> x px
        return x_rear[:, None] + facing[:, None] * u * L[:, None]

    def strips(centre: np.ndarray, width: np.ndarray) -> np.ndarray:      # (n, k) -> cov (n, W)
        xa, xb = x_at(centre - width / 2), x_at(centre + width / 2)
        lo, hi = np.minimum(xa, xb), np.maximum(xa, xb)
        return np.clip(_interval_cov(xc[:, None, :], lo[..., None], hi[..., None]).sum(1), 0, 1)

    # --- side glass: from the belt line up to the roof line minus a frame, cut by the pillars
    win = _WIN[lab]
    w_top = top_v - 0.025 * hs[e3]
    w_ok = (U >= win[:, 0][e3]) & (U <= win[:, 1][e3]) & (w_top > belt[e3])
    pil = _PILLARS[lab]
    glass = p["glass"][:, :, None] + 0.35 * np.clip((belt[:, None] + 0.12 - rv) / 0.12, 0, 1)[
        :, None] * (p["sky_hor"] - p["glass"])[:, :, None]                  # sky reflection
    _paint(img, np.where(w_ok, rows(w_top), 0), np.where(w_ok, rows(belt[e3]), 0),
           glass[..., None], hcov=1 - strips(pil[..., 0], pil[..., 1]))

    # --- door seams: thin dark lines from just above the sill to the belt line
    doors = _DOORS[lab]
    seam = strips(doors[..., 0], doors[..., 1] * max(0.5, 0.006 * float(L.mean())) / L[:, None])
    top_row, bot_row = ground - (belt - 0.006) * L, ground - (_SILL[lab] + 0.04) * L
    vc = _interval_cov(r - 0.5, top_row[:, None], bot_row[:, None])      # (n, H)
    img *= 1 - 0.4 * (vc[:, :, None] * seam[:, None, :])[:, None]

    # --- lights: headlight at the front end, tail light at the rear, clipped to the body
    front = U > 0.5
    lo = np.where(front, _HEAD[lab][:, 0][e3], _TAIL[lab][:, 0][e3]) * hs[e3]
    hi = np.minimum(np.where(front, _HEAD[lab][:, 1][e3], _TAIL[lab][:, 1][e3]) * hs[e3],
                    top_v - 0.006)
    on = inside & ((U < 0.028) | (U > 0.975)) & (hi > lo)
    side = x_rear[:, None] + facing[:, None] * 0.5 * L[:, None] < xc + 0.5   # front side (n, W)
    side = side == (facing[:, None] > 0)
    light = np.where(side[:, None, None, :], np.array([1.0, 0.95, 0.75], f32)[:, None, None],
                     np.array([0.85, 0.08, 0.06], f32)[:, None, None])   # (n, 3, 1, W)
    _paint(img, np.where(on, rows(hi), 0), np.where(on, rows(lo), 0), light)

    # --- style-specific dark parts (roof rails, spoiler, spare wheel, folded roof, heads...)
    d_top, d_bot = _dark_parts(U, lab)
    on = d_top > d_bot
    _paint(img, np.where(on, rows(d_top * hs[e3]), 0), np.where(on, rows(d_bot * hs[e3]), 0),
           col(np.full((n, 3), 0.08)))

    # --- wheels: tyre, rim, darker inner rim, hub cap. The left and right wheel are painted
    # separately so that each paint touches only a small band of the canvas.
    xw = np.sort(x_at(wheel_u), axis=1)
    cy = (ground - R * L)[e3]
    rp = (R * L)[e3]
    parts = ((1.0, np.repeat(p["tire"][:, None], 3, 1)), (0.64, p["rim"]), (0.5, p["rim"] * 0.7),
             (0.2, np.minimum(p["rim"] * 1.15, 1)))
    for k in range(2):
        dx2 = (xs[None] - xw[:, k][e3]) ** 2
        for frac, colour in parts:
            d = (frac * rp) ** 2 - dx2
            on = d > 0
            sq = np.sqrt(np.maximum(d, 0))
            _paint(img, np.where(on, cy - sq, 0), np.where(on, cy + sq, 0), col(colour))

    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8).transpose(0, 2, 3, 1)


# --- public API -----------------------------------------------------------------------------------

def render_synthetic_cars(n: int, split: str = "train", image_size: int = 64, seed: int = 0,
                          supersample: int = 2, start: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` synthetic cars.

    Args:
        n: number of images.
        split: ``train``, ``test`` or ``val``; each split is its own random stream.
        image_size: side of the square images (any size >= 8; 32, 64 and 128 are typical).
        seed: the dataset seed; with ``split`` it fixes every image.
        supersample: horizontal samples per pixel for antialiasing (vertical coverage is exact).
        start: index of the first image, so that images ``start..start+n-1`` of the stream are
            rendered without the earlier ones.

    Returns:
        ``(images, labels)``: uint8 ``(n, image_size, image_size, 3)`` RGB and int64 ``(n,)``
        body-style indices into :data:`SYNTHETIC_CLASS_NAMES`.
    """
    if split not in _SPLIT_IDS:
        raise DatasetError(f"synthetic-cars has splits {sorted(_SPLIT_IDS)}, got {split!r}")
    if n < 0 or start < 0:
        raise DatasetError(f"synthetic-cars: n and start must be >= 0, got n={n}, start={start}")
    if int(image_size) < 8:
        raise DatasetError(f"synthetic-cars: image_size must be >= 8, got {image_size}")
    if supersample < 1:
        raise DatasetError(f"synthetic-cars: supersample must be >= 1, got {supersample}")
    images = np.empty((n, image_size, image_size, 3), np.uint8)
    labels = np.empty((n,), np.int64)
    block = max(16, 2 ** 19 // (image_size * image_size))      # keep the canvas cache-sized
    i = 0
    while i < n:
        chunk, offset = divmod(start + i, _CHUNK)
        p = _chunk_params(int(seed), _SPLIT_IDS[split], chunk)
        take = min(_CHUNK - offset, n - i)
        for b0 in range(offset, offset + take, block):
            b1 = min(b0 + block, offset + take)
            sub = {k: v[b0:b1] for k, v in p.items()}
            images[i + b0 - offset:i + b1 - offset] = _render(sub, int(image_size), supersample)
        labels[i:i + take] = p["label"][offset:offset + take]
        i += take
    return images, labels


@functools.lru_cache(maxsize=2)
def _cached(n: int, split: str, image_size: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    images, labels = render_synthetic_cars(n, split, image_size, seed)
    images.flags.writeable = False
    labels.flags.writeable = False
    return images, labels


@register_dataset("synthetic-cars")
def synthetic_cars(arg: str | None, split: str = "train", image_size: int | None = None,
                   seed: int = 0) -> ArrayDataset:
    """synthetic-cars[:N] -- procedural side-view cars in 10 body styles (default; no files).

    Args:
        arg: optional number of images (``synthetic-cars:N``); default 10,000 for ``train`` and
            2,000 for ``test`` / ``val``.
        split: ``train``, ``test`` or ``val`` (different random streams).
        image_size: side in pixels, default 64; rendered at this size, not resized.
        seed: dataset seed.

    Returns:
        An :class:`ArrayDataset` with ``labels`` (body style) and ``class_names``. Results are
        cached per process (keyed by the arguments), and each call returns its own copy.
    """
    if arg is None or arg.strip() == "":
        n = _DEFAULT_SIZES.get(split, 2000)
    else:
        try:
            n = int(arg)
        except ValueError:
            raise DatasetError(f"synthetic-cars:N needs an integer number of images, got {arg!r}") \
                from None
        if n < 1:
            raise DatasetError(f"synthetic-cars:N needs N >= 1, got {n}")
    size = 64 if image_size is None else int(image_size)
    images, labels = _cached(n, split, size, int(seed))
    name = f"synthetic-cars:{n}" if arg else "synthetic-cars"
    return ArrayDataset(images.copy(), labels.copy(), list(SYNTHETIC_CLASS_NAMES), name=name)
