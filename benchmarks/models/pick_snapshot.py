"""Score DCGAN snapshots by how confidently and how diversely a classifier recognises their samples.

An Inception-score analogue: ``exp(E_z KL(p(y|G(z)) || p(y)))`` over ``--n`` samples from a fixed
latent draw, plus the number of distinct predicted classes. Used to choose which snapshot of a
training run to ship (``train-gan --snapshot-every``); a late collapse shows as a falling score.

    python benchmarks/models/pick_snapshot.py --classifier CKPT runs/gan/snapshots/*.pt
"""
from __future__ import annotations

import argparse

import torch

from classifiers import load_feature_network
from inpaintkit.models import load_gan


@torch.no_grad()
def score(snapshot: str, net, n: int, seed: int, batch: int = 100) -> dict[str, float]:
    g, _, _ = load_gan(snapshot)
    g.eval()
    z = torch.rand(n, g.config.nz, generator=torch.Generator().manual_seed(seed)) * 2 - 1
    probs = torch.cat([net(g(z[i:i + batch]), [])[1].softmax(1) for i in range(0, n, batch)])
    py = probs.mean(0)
    kl = (probs * (probs.clamp_min(1e-12).log() - py.clamp_min(1e-12).log())).sum(1)
    return {"score": float(kl.mean().exp()), "confidence": float(probs.max(1).values.mean()),
            "classes": int(probs.argmax(1).unique().numel())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("snapshots", nargs="+", help="snapshot .pt files (G and D, save_gan format)")
    ap.add_argument("--classifier", required=True, help="classifier checkpoint (classifiers format)")
    ap.add_argument("--n", type=int, default=500, help="samples per snapshot")
    ap.add_argument("--seed", type=int, default=7, help="seed of the shared latent draw")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    net = load_feature_network(args.classifier)
    print("| snapshot | score | mean confidence | distinct classes |\n|---|---:|---:|---:|")
    for s in args.snapshots:
        r = score(s, net, args.n, args.seed)
        print(f"| {s.rsplit('/', 1)[-1]} | {r['score']:.2f} | {r['confidence']:.3f} | {r['classes']} |",
              flush=True)


if __name__ == "__main__":
    main()
