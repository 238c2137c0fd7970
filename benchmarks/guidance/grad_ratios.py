"""Gradient ratios of the loss terms at the starting latents: how hard each term pulls on z.

For every image and mask, at the bench's starting latent ``z0`` (restart 0 of
:func:`inpaintkit.bench.search_seed`), this computes each term's gradient with respect to z and
reports ``w_k * ||dL_k/dz|| / (w_context * ||dL_context/dz||)``: the ratio of the term's weighted
pull to the context term's. It also reports, for the full weighted sum, the fraction of z's
coordinates on the [-1, 1] clip after one step of the ETH optimiser (Nesterov, lr 0.01, momentum
0.9: the first update is ``1.9 * lr * grad``) and one Adam step (lr 0.03).

Run from the repository root (CPU model and command go into the output's header)::

    python benchmarks/guidance/grad_ratios.py --ids 100-131 --weights 'eth;calibrated' \
        --out benchmarks/results/guidance/grad_ratios

Writes ``OUT.csv`` (one row per image, mask, weight table and term) and ``OUT.md`` (the medians).
"""
from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

import numpy as np
import torch

from classifiers import load_feature_network
from inpaintkit.bench import default_weights_for_mask, image_masks, search_seed
from inpaintkit.data import build_dataset
from inpaintkit.losses import build_loss, format_loss_spec, parse_loss_spec
from inpaintkit.models import load_gan
from inpaintkit.utils import cpu_model

TERMS = ("context", "prior", "inpaint", "sem", "cat")
MASKS = ("center", "left", "random:0.7")
MODELS = Path("benchmarks/models/stanford-cars-64")


def _ids(text: str) -> list[int]:
    lo, _, hi = text.partition("-")
    return list(range(int(lo), int(hi) + 1)) if hi else [int(lo)]


def term_gradients(loss, z: torch.Tensor, generator, discriminator, prepared) -> dict[str, torch.Tensor]:
    """``{term: (B,) ||dL_term/dz||}`` per image, unweighted, at ``z``."""
    z = z.detach().clone().requires_grad_(True)
    _, terms = loss.evaluate(z, generator, discriminator, prepared)
    names = list(terms)
    out = {}
    for j, name in enumerate(names):
        (g,) = torch.autograd.grad(terms[name].sum(), z, retain_graph=j < len(names) - 1)
        out[name] = g.norm(dim=1)
    return out


def clip_fractions(loss, weights, z: torch.Tensor, generator, discriminator,
                   prepared) -> dict[str, np.ndarray]:
    """Per image, the fraction of z on the clip after one Nesterov (lr 0.01) and one Adam (lr 0.03)
    step of the total weighted with ``weights``."""
    z = z.detach().clone().requires_grad_(True)
    total, _ = loss.evaluate(z, generator, discriminator, prepared, weights=weights)
    (g,) = torch.autograd.grad(total.sum(), z)
    with torch.no_grad():
        nest = (z - 1.9 * 0.01 * g).clamp(-1, 1)
        adam = (z - 0.03 * torch.sign(g)).clamp(-1, 1)  # Adam's first step is lr * sign(grad)
        frac = lambda t: (t.abs() >= 1.0).float().mean(1).numpy()  # noqa: E731
        return {"clip_nesterov": frac(nest), "clip_adam": frac(adam)}


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", default="../shared/data/stanford-cars-64")
    p.add_argument("--ids", default="100-131", help="image ids, LO-HI inclusive")
    p.add_argument("--weights", default="eth;calibrated",
                   help="weight tables separated by ';': eth (SPEC.md's ETH values), calibrated "
                        "(the defaults), or a spec such as sem=auto:1,cat=auto:1")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True, help="output path without extension")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    data = build_dataset(f"npz:{args.data}/val.npz", split="val", flip=False, seed=0)
    ids = _ids(args.ids)
    x, _ = data.get_batch(np.asarray(ids))
    g, d, _ = load_gan(MODELS / "gan-stanford-cars-64.pt", image_size=64)
    fnet = load_feature_network(MODELS / "classifier-googlenet.pt", image_size=64)
    for m in (g, d, fnet):
        m.eval().requires_grad_(False)
    mask_file = dict(np.load(f"{args.data}/masks.npz"))
    nz = int(g.config.nz)

    rows = []
    for mask in MASKS:
        masks, _ = image_masks(mask, ids, (64, 64), args.seed, data.extras.get("random_masks"), mask_file)
        m = torch.from_numpy(masks.astype(np.float32))[:, None]
        y = torch.where(m.bool().expand_as(x), x, torch.zeros(()))
        z0 = torch.stack([torch.rand(nz, generator=torch.Generator().manual_seed(
            search_seed(args.seed, mask, i, 0))) * 2 - 1 for i in ids])
        for table in args.weights.split(";"):
            spec = _spec(table, mask)
            loss = build_loss(spec, feature_net=fnet)
            prepared = loss.prepare(y, m)
            grads = term_gradients(loss, z0, g, d, prepared)
            weights = loss.resolve_weights_from_norms(grads)  # auto weights, as the search sets them
            clip = clip_fractions(loss, weights, z0, g, d, prepared)
            ref = weights["context"] * grads["context"]
            for k, i in enumerate(ids):
                for name in TERMS:
                    wk = float(weights[name][k]) if torch.is_tensor(weights[name]) else weights[name]
                    rows.append({"image_id": i, "mask": mask, "table": table, "spec": spec,
                                 "term": name, "weight": wk,
                                 "grad_norm": float(grads[name][k]),
                                 "ratio": float(wk * grads[name][k] / ref[k]),
                                 "clip_nesterov": float(clip["clip_nesterov"][k]),
                                 "clip_adam": float(clip["clip_adam"][k])})
            print(f"{mask:11s} {table:12s} " + " ".join(
                f"{r['term']}={np.median([q['ratio'] for q in rows if q['mask'] == mask and q['table'] == table and q['term'] == r['term']]):.3g}"
                for r in rows[-len(TERMS):]), flush=True)
    _write(rows, Path(args.out), argv if argv is not None else sys.argv[1:])


def _spec(table: str, mask: str) -> str:
    """The five-term spec of a weight table, weights written out for ``mask``."""
    if table == "calibrated":
        return format_loss_spec(parse_loss_spec(",".join(TERMS), default_weights_for_mask(mask)))
    if table == "eth":
        return format_loss_spec(parse_loss_spec(",".join(TERMS), default_weights_for_mask(mask, "eth")))
    given = {e.name for e in parse_loss_spec(table, default_weights_for_mask(mask))}
    rest = ",".join(t for t in TERMS if t not in given)
    return format_loss_spec(parse_loss_spec(table + ("," + rest if rest else ""),
                                            default_weights_for_mask(mask)))


def _write(rows: list[dict], out: Path, argv: list[str]) -> None:
    import pandas as pd

    from inpaintkit.utils import atomic_write_bytes

    df = pd.DataFrame(rows)
    out.parent.mkdir(parents=True, exist_ok=True)
    buf = io.StringIO()
    df.to_csv(buf, index=False)
    atomic_write_bytes(out.with_suffix(".csv"), buf.getvalue().encode())
    med = (df.groupby(["table", "mask", "term"], sort=False)
           .agg(weight=("weight", "median"), ratio=("ratio", "median"),
                q25=("ratio", lambda s: s.quantile(0.25)), q75=("ratio", lambda s: s.quantile(0.75)))
           .reset_index())
    clip = (df[df.term == "context"].groupby(["table", "mask"], sort=False)
            .agg(clip_nesterov=("clip_nesterov", "mean"), clip_adam=("clip_adam", "mean")).reset_index())
    lines = [f"# Gradient ratios at z0 (`{out.name}`)", "",
             f"Command: `python benchmarks/guidance/grad_ratios.py {' '.join(argv)}`  ",
             f"CPU: {cpu_model()}, torch {torch.__version__}, {len(df.image_id.unique())} images "
             f"({df.image_id.min()}-{df.image_id.max()} of val.npz).", "",
             "Median over images of `w_k ||dL_k/dz|| / (w_context ||dL_context/dz||)` at the bench's "
             "z0 (restart 0), with the interquartile range; `weight` is the median weight used "
             "(auto weights vary per image).", "",
             "| table | mask | term | weight | median ratio | IQR |", "|---|---|---|---|---|---|"]
    for r in med.itertuples():
        lines.append(f"| {r.table} | {r.mask} | {r.term} | {r.weight:.3g} | {r.ratio:.3g} | "
                     f"{r.q25:.3g}-{r.q75:.3g} |")
    lines += ["", "Mean fraction of z's coordinates on the clip after one step of the five-term "
              "weighted total:", "", "| table | mask | Nesterov lr 0.01 | Adam lr 0.03 |",
              "|---|---|---|---|"]
    for r in clip.itertuples():
        lines.append(f"| {r.table} | {r.mask} | {r.clip_nesterov:.1%} | {r.clip_adam:.1%} |")
    atomic_write_bytes(out.with_suffix(".md"), ("\n".join(lines) + "\n").encode())
    print("\n".join(lines))


if __name__ == "__main__":
    main()
