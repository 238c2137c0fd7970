"""The inpaintkit speed suite: latent-search throughput against the machine's limit.

    python benchmarks/speed/run.py [--quick] [--out benchmarks/results/speed] [--threads 2]

Writes ``OUT.json`` (machine info, run metadata and one flat row per measurement) and ``OUT.md``
(tables derived from the rows). Sections (``--sections``, default all but ``precision``):

- ``matmul``: the machine's practical limit, a large square matmul in fp32 and bf16 (GFLOP/s);
- ``flops``: FLOPs of one search step per image, counted with ``FlopCounterMode``;
- ``search``: image-iterations/s of ``latent_search`` for the three loss sets at batch 1, 8, 32,
  64, fp32 and bf16 (and the fast paths off, for the before/after), fraction of the limit;
- ``naive``: the plain one-image-at-a-time reference (``naive.py``), same run;
- ``compile``: ``torch.compile`` time and its steady-state speed (``context,prior``, batch 64);
- ``blend``: Poisson blending per 64x64 image against OpenCV's ``seamlessClone``;
- ``train``: one DCGAN training step (dcgan_64, batch 64) and one GoogLeNet classifier step
  (batch 32), fp32 and bf16 + channels-last;
- ``precision``: the PSNR the bf16 search reaches against fp32 on the same images (accuracy, not
  timing: run it outside a quiet window; ``--gan``/``--data`` give a trained GAN and real images).

``--merge`` keeps the rows of sections not run now from an existing ``OUT.json``. Timings are
medians of repeats after warm-up; see README.md for the methodology.
"""
from __future__ import annotations

import argparse
import gc
import json
import math
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from common import LOSS_SETS, build_gan, build_googlenet_features, corrupted_batch, timeit  # noqa: E402

SECTIONS = ("matmul", "flops", "search", "chunk", "naive", "compile", "blend", "train", "precision")
DEFAULT_SECTIONS = tuple(s for s in SECTIONS if s != "precision")
PUBLISHED_GPU = 15.0  # img-it/s: ~100 s per image for 1500 iterations on a GTX 1080 Ti (ETH)
TARGETS = {"all five": 30.0, "context,prior": 500.0}
#: Whether the bf16 modes run (``--bf16``; ``auto``: only where bf16 is native). On a CPU without
#: AVX512-BF16/AMX oneDNN emulates bf16 at a tiny fraction of the fp32 speed, and timing it would
#: take hours; the matmul section then measures bf16 at one small size only, to show why.
USE_BF16 = True


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- machine ------------------------------------------------------------------------------------------

def machine_info(threads: int) -> dict:
    cpu, flags = "", ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name") and not cpu:
                cpu = line.split(":", 1)[1].strip()
            if line.startswith("flags") and not flags:
                flags = line
    except OSError:
        pass
    cpu = cpu or platform.processor() or platform.machine()
    bf16 = getattr(torch.cpu, "_is_avx512_bf16_supported", lambda: None)()
    amx = getattr(torch.cpu, "_is_amx_tile_supported", lambda: None)()
    return {
        "cpu_model": cpu, "logical_cpus": os.cpu_count(), "torch_threads": threads,
        "torch": torch.__version__, "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "mkldnn": torch.backends.mkldnn.is_available(), "avx512_bf16": bf16, "amx": amx,
        "cpu_flags_bf16": [f for f in ("avx512_bf16", "amx_bf16", "avx512f") if f in flags.split()],
        "python": platform.python_version(), "platform": platform.platform(),
        "loadavg_start": os.getloadavg(),
    }


def cpu_busy_s() -> float | None:
    """Busy CPU seconds of the whole machine so far (all cores, from /proc/stat)."""
    try:
        f = [float(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(f[:8]) - f[3] - f[4]) / hz  # minus idle and iowait


def own_cpu_s() -> float:
    import resource

    r = resource.getrusage(resource.RUSAGE_SELF)
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime + c.ru_utime + c.ru_stime


def busy_processes() -> list[str]:
    """Other processes running or runnable right now (state R), as 'pid command'."""
    out = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit() or int(d.name) == os.getpid():
            continue
        try:
            stat = (d / "stat").read_text()
            state = stat.rsplit(")", 1)[1].split()[0]
            if state == "R":
                cmd = (d / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
                out.append(f"{d.name} {cmd[:120]}")
        except (OSError, IndexError):
            continue
    return out


# --- sections -----------------------------------------------------------------------------------------

def run_matmul(quick: bool) -> list[dict]:
    rows = []
    for dtype in (torch.float32, torch.bfloat16):
        sizes = (2048,) if quick else (2048, 4096)
        if dtype == torch.bfloat16 and not USE_BF16:
            sizes = (512,)  # emulated: a 2048 product would take minutes
        for n in sizes:
            a = torch.randn(n, n, dtype=dtype)
            b = torch.randn(n, n, dtype=dtype)
            t = timeit(lambda: a @ b, repeats=3 if quick else 5, warmup=1)
            rows.append({"section": "matmul", "dtype": str(dtype).replace("torch.", ""), "n": n,
                         "gflops": 2 * n**3 / t["median_s"] / 1e9,
                         "native": dtype == torch.float32 or USE_BF16, **_t(t)})
            log(f"matmul {dtype} {n}: {rows[-1]['gflops']:.0f} GFLOP/s")
    return rows


def _t(t: dict) -> dict:
    return {"median_s": t["median_s"], "min_s": t["min_s"], "max_s": t["max_s"], "repeats": t["repeats"],
            "warmup": t["warmup"]}


def _count(fn) -> dict[str, float]:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        fn()
    return {str(k).replace("aten.", ""): float(v) for k, v in fc.get_flop_counts()["Global"].items()}


def search_flops(spec: str, g, d, fnet, batch: int = 2) -> dict:
    """FLOPs of one search step per image: the forward passes and the input-gradient backward
    (the networks are frozen, so no weight gradients), as latent_search runs them."""
    from inpaintkit.losses import build_loss

    loss = build_loss(spec, fnet if ("sem" in spec or "cat" in spec) else None)
    y, m = corrupted_batch(batch)
    prepared = loss.prepare(y, m)
    for net in (g, d, fnet):
        net.eval().requires_grad_(False)
    z = (torch.rand(batch, 100) * 2 - 1).requires_grad_()
    out = {}

    def fwd():
        out["total"] = loss.evaluate(z, g, d, prepared)[0]

    f = _count(fwd)
    b = _count(lambda: out["total"].sum().backward())
    fw, bw = sum(f.values()) / batch, sum(b.values()) / batch
    return {"fwd_gflop": fw / 1e9, "bwd_gflop": bw / 1e9, "gflop_per_img_it": (fw + bw) / 1e9,
            "by_op_gflop": {k: v / batch / 1e9 for k, v in {**f, **b}.items()}}


def naive_flops(spec: str, g, d, fnet) -> float:
    from naive import naive_loss

    from inpaintkit.losses import context_weights, parse_loss_spec

    weights = {n: w for n, w, _ in parse_loss_spec(spec)}
    y, m = corrupted_batch(1)
    y = torch.where(m > 0, y, torch.zeros(()))
    z = (torch.rand(1, 100) * 2 - 1).requires_grad_()
    layers = fnet.default_layers if fnet is not None else ()
    out = {}
    f = _count(lambda: out.setdefault("l", naive_loss(z, y, m, context_weights(m), weights, g, d, fnet, layers)))
    b = _count(lambda: out["l"].backward())
    return (sum(f.values()) + sum(b.values())) / 1e9


def run_flops(nets) -> list[dict]:
    g, d, fnet = nets
    rows = []
    for label, spec in LOSS_SETS.items():
        r = search_flops(spec, g, d, fnet)
        r_naive = naive_flops(spec, g, d, fnet if "sem" in spec else None)
        rows.append({"section": "flops", "loss_set": label, "spec": spec, **r, "naive_gflop_per_img_it": r_naive})
        log(f"flops {label}: {r['gflop_per_img_it']:.3f} GFLOP/img-it (naive {r_naive:.3f})")
    with torch.no_grad():
        rows.append({"section": "flops", "loss_set": "(model forwards, per image)",
                     "googlenet_fwd_gflop": sum(_count(lambda: fnet.model(torch.randn(1, 3, 64, 64))).values()) / 1e9,
                     "g_fwd_gflop": sum(_count(lambda: g(torch.randn(1, 100))).values()) / 1e9,
                     "d_fwd_gflop": sum(_count(lambda: d(torch.randn(1, 3, 64, 64))).values()) / 1e9})
    return rows


def time_search(nets, spec: str, batch: int, cfg: dict, budget_s: float, min_steps: int,
                warmup_steps: int | None = None, max_iters: int = 2000) -> dict:
    """Per-step seconds of latent_search, from the callback's clock: the steps after
    ``warmup_steps`` (default 2 below batch 32, else 1: the first step pays for the allocations),
    at least ``min_steps`` of them and until ``budget_s`` is spent. The search's one-off setup
    (copying and preparing the networks) is excluded; ``first_step_s`` includes it."""
    if warmup_steps is None:
        warmup_steps = 1 if batch >= 32 else 2
    from inpaintkit.search import SearchConfig, latent_search

    g, d, fnet = nets
    y, m = corrupted_batch(batch, seed=batch)
    stamps: list[float] = []

    def clock(step, total, terms):
        stamps.append(time.perf_counter())
        timed = len(stamps) - warmup_steps  # step durations after the warm-up steps
        return timed >= min_steps and stamps[-1] - stamps[warmup_steps - 1] >= budget_s

    t0 = time.perf_counter()
    latent_search(g, d, y, m, spec, SearchConfig(iters=max_iters, **cfg),
                  feature_net=fnet if ("sem" in spec or "cat" in spec) else None, callback=clock)
    steps = np.diff(stamps)[warmup_steps - 1:]  # diff[i] is the duration of step i + 1
    med = float(np.median(steps))
    return {"step_s": med, "img_it_per_s": batch / med, "timed_steps": len(steps),
            "step_min_s": float(steps.min()), "step_max_s": float(steps.max()),
            "warmup_steps": warmup_steps, "first_step_s": stamps[0] - t0,
            "total_s": time.perf_counter() - t0}


MODES = {
    "fp32": {"precision": "fp32"},
    "bf16": {"precision": "bf16"},
    "fp32-plain": {"precision": "fp32", "channels_last": False, "fold_bn": False, "feature_chunk": None},
}


def run_search(nets, quick: bool, batches: list[int], loss_sets: list[str]) -> list[dict]:
    rows = []
    for label in loss_sets:
        spec = LOSS_SETS[label]
        for mode, cfg in MODES.items():
            if cfg["precision"] == "bf16" and not USE_BF16:
                continue
            for b in batches:
                if mode == "fp32-plain" and b != max(batches):
                    continue  # the before/after comparison at the largest batch only
                budget = 1.0 if quick else 3.0
                r = time_search(nets, spec, b, cfg, budget,
                                min_steps=2 if (quick or mode == "fp32-plain") else 3)
                rows.append({"section": "search", "loss_set": label, "mode": mode, "batch": b, **r})
                log(f"search {label} {mode} B={b}: {r['img_it_per_s']:.2f} img-it/s "
                    f"({r['timed_steps']} steps, median {r['step_s']:.3f}s)")
                gc.collect()
    return rows


def run_chunk(nets, quick: bool, batch: int = 32) -> list[dict]:
    """The four-term search at one batch with the classifier run on chunks of several sizes
    (``SearchConfig.feature_chunk``; None = all ``2 * batch`` images in one call)."""
    rows = []
    spec = LOSS_SETS["context,prior,inpaint,sem"]
    for chunk in (None, 8, 16, 32):
        r = time_search(nets, spec, batch, {"precision": "fp32", "feature_chunk": chunk},
                        1.0 if quick else 3.0, 2 if quick else 3)
        rows.append({"section": "chunk", "loss_set": "context,prior,inpaint,sem", "batch": batch,
                     "feature_chunk": chunk, **r})
        log(f"chunk {chunk} B={batch}: {r['img_it_per_s']:.2f} img-it/s")
    return rows


def run_naive(nets, quick: bool, loss_sets: list[str]) -> list[dict]:
    from naive import naive_loss, time_naive_step

    from inpaintkit.losses import build_loss, context_weights, parse_loss_spec

    g, d, fnet = nets
    rows = []
    for label in loss_sets:
        spec = LOSS_SETS[label]
        uses_f = "sem" in spec or "cat" in spec
        weights = {n: w for n, w, _ in parse_loss_spec(spec)}
        layers = fnet.default_layers if uses_f else ()
        y, m = corrupted_batch(2, seed=1)
        # the naive reference computes the same loss: check at one z before timing it
        z = torch.rand(1, 100, generator=torch.Generator().manual_seed(0)) * 2 - 1
        with torch.no_grad():
            ref = build_loss(spec, fnet if uses_f else None)(z, y[:1], m, g, d)[0]
            y0 = torch.where(m > 0, y[:1], torch.zeros(()))
            nv = naive_loss(z, y0, m, context_weights(m), weights, g, d, fnet if uses_f else None, layers)
        rel = abs(float(nv) - float(ref)) / max(abs(float(ref)), 1e-12)
        steps = time_naive_step(g, d, fnet if uses_f else None, y, m, weights, layers, steps=2 if quick else 4)
        med = statistics.median(steps)
        rows.append({"section": "naive", "loss_set": label, "batch": 1, "step_s": med, "img_it_per_s": 1 / med,
                     "timed_steps": len(steps), "loss_rel_diff_vs_optimised": rel})
        log(f"naive {label}: {1 / med:.2f} img-it/s (loss matches optimised to {rel:.1e})")
    return rows


def run_compile(nets, quick: bool, loss_sets: list[str] | None = None) -> list[dict]:
    import tempfile

    rows = []
    b = 8 if quick else 64
    for label, prec in [(ls, p) for ls in loss_sets or ["context,prior"]
                        for p in (("fp32", "bf16") if USE_BF16 else ("fp32",))]:
        spec = LOSS_SETS[label]
        # a cold inductor cache, so the compile time is what a first run pays
        os.environ["TORCHINDUCTOR_CACHE_DIR"] = tempfile.mkdtemp(prefix="inductor-speed-")
        torch._dynamo.reset()
        comp = time_search(nets, spec, b, {"precision": prec, "compile": True}, 1.0 if quick else 3.0, 3)
        eager = time_search(nets, spec, b, {"precision": prec}, 1.0 if quick else 3.0, 3)
        rows.append({"section": "compile", "loss_set": label, "mode": prec, "batch": b,
                     "compile_first_step_s": comp["first_step_s"], "compiled_img_it_per_s": comp["img_it_per_s"],
                     "eager_img_it_per_s": eager["img_it_per_s"]})
        log(f"compile {label} {prec} B={b}: first step {comp['first_step_s']:.1f}s, "
            f"{comp['img_it_per_s']:.1f} vs eager {eager['img_it_per_s']:.1f} img-it/s")
    torch._dynamo.reset()
    return rows


def run_blend(quick: bool) -> list[dict]:
    import cv2

    from inpaintkit.blend import poisson_blend
    from inpaintkit.masks import make_mask
    from inpaintkit.utils import to_uint8

    n = 16 if quick else 64
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(n, 3, 64, 64, generator=gen) * 2 - 1
    gimg = (x + 0.3 * torch.rand(n, 3, 64, 64, generator=gen)).clamp(-1, 1)
    center = make_mask("center", 64)
    randoms = torch.cat([make_mask("random:0.7", 64, seed=i) for i in range(n)])
    rows = []
    reps = 3 if quick else 5
    cases = {
        f"inpaintkit poisson, center, batch of {n} (one factorisation)": lambda: poisson_blend(x, gimg, center),
        "inpaintkit poisson, center, one image per call": lambda: [poisson_blend(x[i:i + 1], gimg[i:i + 1], center)
                                                                   for i in range(n)],
        f"inpaintkit poisson, random 70%, batch of {n} (a factorisation per image)":
            lambda: poisson_blend(x, gimg, randoms),
    }
    ys, gs = to_uint8(x), to_uint8(gimg)
    hole = ((1 - center[0, 0]).numpy() * 255).astype(np.uint8)
    r0, r1 = np.nonzero(hole.any(1))[0][[0, -1]]
    c0, c1 = np.nonzero(hole.any(0))[0][[0, -1]]
    p = (int((c0 + c1 + 1) // 2), int((r0 + r1 + 1) // 2))

    def cv_all():
        for i in range(n):
            cv2.seamlessClone(np.ascontiguousarray(gs[i][..., ::-1]), np.ascontiguousarray(ys[i][..., ::-1]),
                              hole, p, cv2.NORMAL_CLONE)

    cases["cv2.seamlessClone NORMAL_CLONE, center, one image per call"] = cv_all
    for name, fn in cases.items():
        t = timeit(fn, repeats=reps, warmup=1)
        rows.append({"section": "blend", "method": name, "images": n, "ms_per_image": 1e3 * t["median_s"] / n, **_t(t)})
        log(f"blend {name}: {rows[-1]['ms_per_image']:.2f} ms/image")
    return rows


def _gan_step_fn(bf16: bool, channels_last: bool, batch: int = 64):
    """One step of train_gan's loop (D step, then the non-saturating G step, Adam 2e-4/0.5)."""
    import torch.nn.functional as F

    from inpaintkit.models import create_model

    torch.manual_seed(0)
    g, d = create_model("dcgan_64")
    g.train(), d.train()
    mf = torch.channels_last if channels_last else torch.contiguous_format
    g.to(memory_format=mf), d.to(memory_format=mf)
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    real = (torch.rand(batch, 3, 64, 64) * 2 - 1).contiguous(memory_format=mf)
    z = torch.rand(batch, 100) * 2 - 1

    def step():
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            fake = g(z)
            loss_d = F.softplus(-d(real)).mean() + F.softplus(d(fake.detach())).mean()
        opt_d.zero_grad(set_to_none=True)
        loss_d.float().backward()
        opt_d.step()
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            loss_g = F.softplus(-d(fake)).mean()
        opt_g.zero_grad(set_to_none=True)
        loss_g.float().backward()
        opt_g.step()

    return step


def _classifier_step_fn(bf16: bool, channels_last: bool, batch: int = 32):
    """One step of the recipe GoogLeNet: forward with aux heads, CE + 0.3 x aux, backward, Adam."""
    import torch.nn.functional as F

    from classifiers import create_classifier

    torch.manual_seed(0)
    m = create_classifier("googlenet", num_classes=196).train()
    mf = torch.channels_last if channels_last else torch.contiguous_format
    m.to(memory_format=mf)
    x = torch.randn(batch, 3, 64, 64).contiguous(memory_format=mf)
    y = torch.randint(0, 196, (batch,))
    opt = torch.optim.Adam(m.parameters(), 1e-3)

    def step():
        with torch.autocast("cpu", torch.bfloat16, enabled=bf16):
            logits, aux = m.forward_train(x)
            loss = F.cross_entropy(logits.float(), y) + sum(0.3 * F.cross_entropy(a.float(), y) for a in aux)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def run_train(quick: bool) -> list[dict]:
    rows = []
    for model, make, batch in (("dcgan_64 GAN step", _gan_step_fn, 64), ("googlenet classifier step", _classifier_step_fn, 32)):
        for mode, bf16, cl in (("fp32", False, False), ("bf16+channels_last", True, True)):
            if bf16 and not USE_BF16:
                continue
            step = make(bf16, cl, batch)
            flops = sum(_count(step).values()) / 1e9  # also a warm-up step
            t = timeit(step, repeats=2 if quick else 4, warmup=1)
            rows.append({"section": "train", "model": model, "mode": mode, "batch": batch, "step_s": t["median_s"],
                         "img_per_s": batch / t["median_s"], "gflop_per_step": flops, **_t(t)})
            log(f"train {model} {mode}: {t['median_s']:.3f} s/step")
            del step
            gc.collect()
    return rows


def run_precision(nets, quick: bool, gan: str | None, data: str | None, n_images: int, iters: int) -> list[dict]:
    """Mean PSNR (full image and hole, uint8, overlay composite) reached by the fp32 and the bf16
    search from the same starting latents on the same images."""
    from inpaintkit.masks import make_mask
    from inpaintkit.metrics import hole_psnr, psnr
    from inpaintkit.search import SearchConfig, latent_search
    from inpaintkit.utils import to_uint8

    g, d, fnet = nets
    gan_desc = "random dcgan_64"
    if gan:
        from inpaintkit.models import load_gan

        g, d, ckpt = load_gan(gan)
        gan_desc = f"{gan} (iteration {ckpt.get('meta', {}).get('iteration')})"
    if data:
        arr = np.load(data)
        key = "images" if "images" in arr else list(arr.keys())[0]
        imgs = torch.from_numpy(arr[key][:n_images]).permute(0, 3, 1, 2).float() / 127.5 - 1
    else:
        with torch.no_grad():
            imgs = g(torch.rand(n_images, 100, generator=torch.Generator().manual_seed(7)) * 2 - 1)
    rows = []
    for label, spec, n, it in (("context,prior", LOSS_SETS["context,prior"], n_images, iters),
                               ("all five", LOSS_SETS["all five"], max(4, n_images // 4), max(50, iters // 2))):
        for mask_kind in ("center",):
            mask = make_mask(mask_kind, 64)
            x = imgs[:n]
            out = {}
            for prec in ("fp32", "bf16"):
                t = time.perf_counter()
                r = latent_search(g, d, x, mask, spec, SearchConfig(iters=it, precision=prec, seed=0),
                                  feature_net=fnet if "sem" in spec else None)
                a, b = to_uint8(r.composite), to_uint8(x)
                out[prec] = (psnr(a, b, 255.0), hole_psnr(a, b, mask, 255.0), time.perf_counter() - t)
            for prec, (p, ph, secs) in out.items():
                rows.append({"section": "precision", "loss_set": label, "mask": mask_kind, "precision": prec,
                             "images": n, "iters": it, "psnr": float(p.mean()), "psnr_hole": float(ph.mean()),
                             "psnr_diff_vs_fp32": float((p - out["fp32"][0]).mean()),
                             "max_abs_image_diff": float(np.abs(p - out["fp32"][0]).max()),
                             "seconds": secs, "gan": gan_desc,
                             "images_from": data or "G(random z)"})
            log(f"precision {label}: fp32 {out['fp32'][0].mean():.3f} dB, bf16 {out['bf16'][0].mean():.3f} dB")
    return rows


# --- tables -------------------------------------------------------------------------------------------

def _fmt(v, nd=1):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    return f"{v:,.{nd}f}"


def markdown(doc: dict) -> str:
    import pandas as pd

    rows = pd.DataFrame(doc["rows"])
    # the machine description is that of the run that timed the search (others may merge in later)
    meta = next((m for m in doc["runs"] if "search" in m["sections"]), doc["runs"][-1])
    mi = meta["machine"]
    out = ["# inpaintkit speed suite", "",
           f"Generated by `{meta['command']}` ({meta['time']}), commit `{meta.get('git_commit')}`.", "",
           f"- CPU: {mi['cpu_model']} ({mi['logical_cpus']} logical CPUs, {mi['cpu_capability']}, "
           f"AVX512-BF16: {mi['avx512_bf16']}, AMX: {mi['amx']}); torch {mi['torch']}, "
           f"{mi['torch_threads']} threads",
           f"- load average before pausing / at start / at end: {meta.get('loadavg_before_pause') or '-'} / "
           f"{_load(mi.get('loadavg_start'))} / {_load(meta.get('loadavg_end'))}",
           f"- background training paused (SIGSTOP) during the timings: {meta.get('paused') or 'no'}",
           f"- other processes used {_pct(meta.get('other_processes_cpu_fraction'))} of the machine's CPU "
           f"time during the run ({_fmt(meta.get('other_processes_cpu_s'))} CPU-s over "
           f"{_fmt(meta.get('wall_s'))} s); running at the start: "
           f"{'; '.join(meta.get('busy_processes_start') or []) or 'none'}", ""]
    for m in doc["runs"]:
        if m is not meta:
            out.insert(-1, f"- merged run {m['run']} (`{m['command']}`, {m['time']}): sections "
                           f"{', '.join(m['sections'])}; paused: {m.get('paused') or 'no'}; other processes "
                           f"{_pct(m.get('other_processes_cpu_fraction'))} of the CPU time")

    def sec(name):
        return rows[rows["section"] == name] if "section" in rows else rows.iloc[0:0]

    mm = sec("matmul")
    limit = {}
    if len(mm):
        limit = mm.groupby("dtype")["gflops"].max().to_dict()
        out += ["## Machine limit (square matmul)", "", "| dtype | n | GFLOP/s |", "|---|---|---|"]
        out += [f"| {r.dtype} | {int(r.n)} | {_fmt(r.gflops, 0)} |" for r in mm.itertuples()]
        out += ["", "The limit used below is the larger of the sizes, per dtype."]
        if "native" in mm and not mm[mm["dtype"] == "bfloat16"]["native"].fillna(True).all():
            out += ["", "**bf16 is not native on this CPU** (no AVX512-BF16/AMX): oneDNN emulates it, so "
                        "the bf16 modes were not timed (`--bf16 auto`) and the search runs in fp32."]
        out.append("")
    fl = sec("flops")
    flops = {}
    if len(fl):
        per = fl[fl["loss_set"].isin(LOSS_SETS)]
        flops = dict(zip(per["loss_set"], per["gflop_per_img_it"]))
        out += ["## FLOPs per image-iteration (FlopCounterMode: forward + input-gradient backward, "
                "no weight gradients; convolutions and matmuls only)", "",
                "| loss set | forward GFLOP | backward GFLOP | total GFLOP | naive reference GFLOP |",
                "|---|---|---|---|---|"]
        out += [f"| {r.loss_set} | {r.fwd_gflop:.3f} | {r.bwd_gflop:.3f} | {r.gflop_per_img_it:.3f} | "
                f"{r.naive_gflop_per_img_it:.3f} |" for r in per.itertuples()]
        mf = fl[~fl["loss_set"].isin(LOSS_SETS)]
        if len(mf):
            r = mf.iloc[0]
            out += ["", f"Forward per image: recipe GoogLeNet {r.googlenet_fwd_gflop:.3f}, "
                        f"G {r.g_fwd_gflop:.3f}, D {r.d_fwd_gflop:.3f} GFLOP.", ""]
    se, nv = sec("search"), sec("naive")
    if len(se):
        out += ["## Latent-search throughput (image-iterations/s, 64x64)", "",
                "Fraction = counted GFLOP/img-it x img-it/s / matmul limit of the precision it runs in.", "",
                "| loss set | batch | fp32 | fp32 % of limit | bf16 | bf16 % of limit | fast paths off (fp32) |",
                "|---|---|---|---|---|---|---|"]
        for label in LOSS_SETS:
            s = se[se["loss_set"] == label]
            for b in sorted(int(v) for v in s["batch"].unique()):
                def val(mode):
                    v = s[(s["mode"] == mode) & (s["batch"] == b)]["img_it_per_s"]
                    return float(v.iloc[0]) if len(v) else None
                f32, b16, plain = val("fp32"), val("bf16"), val("fp32-plain")
                def frac(v, dt):
                    return (None if v is None or label not in flops or dt not in limit
                            else 100 * v * flops[label] / limit[dt])
                out.append(f"| {label} | {b} | {_fmt(f32)} | {_fmt(frac(f32, 'float32'))} | {_fmt(b16)} | "
                           f"{_fmt(frac(b16, 'bfloat16'))} | {_fmt(plain)} |")
        out.append("")
        if len(nv):
            out += ["## Against the naive reference (one image at a time, every term recomputing G(z) and "
                    "the classifier features; fp32)", "",
                    "| loss set | naive img-it/s | naive % of fp32 limit | best fp32 | speed-up fp32 | best bf16 | "
                    "speed-up bf16 |", "|---|---|---|---|---|---|---|"]
            for r in nv.itertuples():
                s = se[se["loss_set"] == r.loss_set]
                bf = s[s["mode"] == "fp32"]["img_it_per_s"].max()
                bb = s[s["mode"] == "bf16"]["img_it_per_s"].max()
                nfl = fl[fl["loss_set"] == r.loss_set]["naive_gflop_per_img_it"] if len(fl) else []
                nfrac = (100 * r.img_it_per_s * float(nfl.iloc[0]) / limit["float32"]
                         if len(nfl) and "float32" in limit else None)
                out.append(f"| {r.loss_set} | {_fmt(r.img_it_per_s, 2)} | {_fmt(nfrac)} | {_fmt(bf)} | "
                           f"{_fmt(bf / r.img_it_per_s)}x | {_fmt(bb)} | {_fmt(bb / r.img_it_per_s)}x |")
            out.append("")
        out += ["## Targets (2-core CPU, 64x64, batch 64)", "",
                "| loss set | target | measured (best precision) | met? |", "|---|---|---|---|"]
        for label in LOSS_SETS:
            s = se[(se["loss_set"] == label) & (se["batch"] == se["batch"].max())]
            best = s[s["mode"].isin(["fp32", "bf16"])].sort_values("img_it_per_s").tail(1)
            if not len(best):
                continue
            v, mode = float(best["img_it_per_s"].iloc[0]), best["mode"].iloc[0]
            if label in TARGETS:
                out.append(f"| {label} | >= {TARGETS[label]:.0f} img-it/s | {v:.1f} ({mode}) | "
                           f"{'yes' if v >= TARGETS[label] else 'no'} |")
            n = nv[nv["loss_set"] == label]["img_it_per_s"] if len(nv) else []
            if len(n):
                out.append(f"| {label} | >= 10x naive | {v / float(n.iloc[0]):.1f}x ({mode}) | "
                           f"{'yes' if v / float(n.iloc[0]) >= 10 else 'no'} |")
            dt = "bfloat16" if mode == "bf16" else "float32"
            if label in flops and dt in limit:
                fr = 100 * v * flops[label] / limit[dt]
                out.append(f"| {label} | >= 50% of the {mode} matmul limit | {fr:.0f}% | {'yes' if fr >= 50 else 'no'} |")
        out += ["", f"Published GPU speed for comparison: about {PUBLISHED_GPU:.0f} img-it/s (ETH, GTX 1080 Ti, "
                "1500 iterations in about 100 s per image).", ""]
    ch = sec("chunk")
    if len(ch):
        out += ["## Classifier chunk size (four-term search, fp32)", "",
                "The classifier behind `sem`/`cat` sees `2 x batch` images a step; `feature_chunk` runs "
                "it on slices of that many (`None`: all at once).", "",
                "| batch | feature_chunk | img-it/s |", "|---|---|---|"]
        out += [f"| {int(r.batch)} | {'all' if pd.isna(r.feature_chunk) else int(r.feature_chunk)} | "
                f"{r.img_it_per_s:.2f} |" for r in ch.itertuples()]
        out.append("")
    co = sec("compile")
    if len(co):
        out += ["## torch.compile", "",
                "| loss set | precision | batch | first step incl. compile (s) | compiled img-it/s | eager img-it/s |",
                "|---|---|---|---|---|---|"]
        out += [f"| {getattr(r, 'loss_set', 'context,prior')} | {r.mode} | {int(r.batch)} | "
                f"{r.compile_first_step_s:.1f} | {r.compiled_img_it_per_s:.1f} | "
                f"{r.eager_img_it_per_s:.1f} |" for r in co.itertuples()]
        out.append("")
    bl = sec("blend")
    if len(bl):
        out += ["## Poisson blending, 64x64", "", "| method | ms per image |", "|---|---|"]
        out += [f"| {r.method} | {r.ms_per_image:.2f} |" for r in bl.itertuples()]
        cvv = bl[bl["method"].str.startswith("cv2")]["ms_per_image"]
        if len(cvv):
            ref = float(cvv.iloc[0])
            out += ["", "Ratio (cv2 time / ours; > 1 means ours is faster): " + "; ".join(
                f"{r.method}: {ref / r.ms_per_image:.2f}" for r in bl.itertuples() if not r.method.startswith("cv2")), ""]
    tr = sec("train")
    if len(tr):
        out += ["## Training steps", "", "| step | mode | batch | s/step | images/s | GFLOP/step | % of limit |",
                "|---|---|---|---|---|---|---|"]
        for r in tr.itertuples():
            dt = "bfloat16" if r.mode.startswith("bf16") else "float32"
            fr = 100 * r.gflop_per_step / r.step_s / limit[dt] if dt in limit else None
            out.append(f"| {r.model} | {r.mode} | {int(r.batch)} | {r.step_s:.3f} | {r.img_per_s:.1f} | "
                       f"{r.gflop_per_step:.1f} | {_fmt(fr)} |")
        out.append("")
    pr = sec("precision")
    if len(pr):
        out += ["## bf16 accuracy (same images, same starting z; overlay composite, uint8 PSNR)", "",
                "| loss set | mask | precision | images | iters | PSNR | hole PSNR | mean diff vs fp32 (dB) | "
                "max per-image diff |", "|---|---|---|---|---|---|---|---|---|"]
        out += [f"| {r.loss_set} | {r.mask} | {r.precision} | {int(r.images)} | {int(r.iters)} | {r.psnr:.3f} | "
                f"{r.psnr_hole:.3f} | {r.psnr_diff_vs_fp32:+.3f} | {r.max_abs_image_diff:.3f} |" for r in pr.itertuples()]
        r0 = pr.iloc[0]
        out += ["", f"GAN: {r0.gan}; images: {r0.images_from}.", ""]
    return "\n".join(out) + "\n"


def _pct(v):
    return "-" if v is None else f"{100 * v:.1f}%"


def _load(v):
    return "-" if not v else ", ".join(f"{x:.2f}" for x in v)


# --- main ---------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="small batches, few repeats (development)")
    ap.add_argument("--out", default="benchmarks/results/speed", help="writes OUT.json and OUT.md")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sections", default=",".join(DEFAULT_SECTIONS), help=f"comma list of {', '.join(SECTIONS)}")
    ap.add_argument("--batches", default=None, help="search batch sizes (default 1,8,32,64; --quick 1,8)")
    ap.add_argument("--loss-sets", default=";".join(LOSS_SETS),
                    help=f"';'-separated loss-set labels for search and naive: {'; '.join(LOSS_SETS)}")
    ap.add_argument("--compile-sets", default="context,prior",
                    help="';'-separated loss-set labels for the compile section")
    ap.add_argument("--merge", action="store_true",
                    help="keep the rows of other sections (and other loss sets) from an existing OUT.json")
    ap.add_argument("--gan", default=None, help="GAN checkpoint for the precision section")
    ap.add_argument("--data", default=None, help="npz of uint8 NHWC 64x64 images for the precision section")
    ap.add_argument("--precision-images", type=int, default=32)
    ap.add_argument("--precision-iters", type=int, default=300)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bf16", choices=("auto", "on", "off"), default="auto",
                    help="time the bf16 modes: auto = only where bf16 is native (AVX512-BF16/AMX)")
    args = ap.parse_args(argv)
    from inpaintkit.utils import native_bf16

    global USE_BF16
    USE_BF16 = args.bf16 == "on" or (args.bf16 == "auto" and native_bf16("cpu"))
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    loss_sets = [s.strip() for s in args.loss_sets.split(";") if s.strip()]
    if sorted(set(loss_sets) - set(LOSS_SETS)):
        ap.error(f"unknown loss set(s) {sorted(set(loss_sets) - set(LOSS_SETS))}; choose from {list(LOSS_SETS)}")
    compile_sets = [x.strip() for x in args.compile_sets.split(";") if x.strip()]
    if sorted(set(compile_sets) - set(LOSS_SETS)):
        ap.error(f"unknown compile set(s) {sorted(set(compile_sets) - set(LOSS_SETS))}; choose from {list(LOSS_SETS)}")
    unknown = sorted(set(sections) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    batches = ([int(b) for b in args.batches.split(",")] if args.batches
               else ([1, 8] if args.quick else [1, 8, 32, 64]))
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from inpaintkit.utils import atomic_write_json, atomic_write_text, run_metadata

    out = Path(args.out)
    meta = run_metadata({k: v for k, v in vars(args).items()})
    meta.update({"command": "python benchmarks/speed/run.py " + " ".join(sys.argv[1:] if argv is None else argv),
                 "time": time.strftime("%Y-%m-%d %H:%M:%S"),
                 "machine": {**meta["machine"], **machine_info(args.threads)},
                 "sections": sections, "quick": args.quick,
                 "paused": os.environ.get("SPEED_PAUSED") or None,
                 "loadavg_before_pause": os.environ.get("SPEED_LOADAVG_BEFORE_PAUSE") or None})
    log(f"machine: {meta['machine']['cpu_model']}, {args.threads} threads, load {os.getloadavg()}")
    g, d = build_gan(args.seed)
    fnet = build_googlenet_features(args.seed)
    nets = (g, d, fnet)
    rows: list[dict] = []
    json_path = out.with_suffix(".json")
    doc = {"runs": [], "rows": []}
    if args.merge and json_path.exists():
        doc = json.loads(json_path.read_text())
        # replace this run's sections (for search/naive: only the loss sets run now)
        doc["rows"] = [r for r in doc["rows"] if r["section"] not in sections
                       or (r["section"] in ("search", "naive") and r.get("loss_set") not in loss_sets)]
    run_id = max([m["run"] for m in doc["runs"]], default=-1) + 1
    meta["run"] = run_id
    doc["runs"].append(meta)
    base_rows = list(doc["rows"])
    busy0, own0, wall0 = cpu_busy_s(), own_cpu_s(), time.perf_counter()
    meta["busy_processes_start"] = busy_processes()

    def write() -> None:
        wall = time.perf_counter() - wall0
        busy = cpu_busy_s()
        other = None if busy is None or busy0 is None else (busy - busy0) - (own_cpu_s() - own0)
        meta.update({"loadavg_end": os.getloadavg(), "wall_s": wall, "other_processes_cpu_s": other,
                     "other_processes_cpu_fraction": None if other is None or wall <= 0
                     else other / (wall * (os.cpu_count() or 1))})
        doc["rows"] = base_rows + [{**r, "run": run_id} for r in rows]
        atomic_write_json(json_path, doc)
        atomic_write_text(out.with_suffix(".md"), markdown(doc))

    for s in sections:
        t = time.perf_counter()
        if s == "matmul":
            rows += run_matmul(args.quick)
        elif s == "flops":
            rows += run_flops(nets)
        elif s == "search":
            rows += run_search(nets, args.quick, batches, loss_sets)
        elif s == "chunk":
            rows += run_chunk(nets, args.quick)
        elif s == "naive":
            rows += run_naive(nets, args.quick, loss_sets)
        elif s == "compile":
            rows += run_compile(nets, args.quick, compile_sets)
        elif s == "blend":
            rows += run_blend(args.quick)
        elif s == "train":
            rows += run_train(args.quick)
        elif s == "precision" and not USE_BF16:
            log("precision: skipped, bf16 is not native on this CPU (pass --bf16 on to run it anyway)")
        elif s == "precision":
            rows += run_precision(nets, args.quick, args.gan, args.data,
                                  8 if args.quick else args.precision_images,
                                  60 if args.quick else args.precision_iters)
        log(f"section {s} done in {time.perf_counter() - t:.0f}s")
        write()  # after every section: an interrupted run keeps what it measured
    meta["busy_processes_end"] = busy_processes()
    write()
    log(f"wrote {json_path} and {out.with_suffix('.md')}; other processes used "
        f"{100 * (meta['other_processes_cpu_fraction'] or 0):.1f}% of the CPUs meanwhile")


if __name__ == "__main__":
    main()
