"""bf16 against fp32, from bench runs of ``benchmarks/precision/run.sh`` (issue 19's acceptance):
per method and mask, the mean hole PSNR/SSIM of each run, their paired difference, the independent
evaluator's correct count in each (with the exact McNemar test), and the median search time.

    python benchmarks/precision/compare.py fp32=runs/precision/fp32 bf16=runs/precision/bf16 \
        fp32-2threads=runs/precision/fp32-2threads --out benchmarks/results/precision

The first run is the reference; every other run is compared with it on the same images, masks and
starting latents (common random numbers). A second fp32 run with another thread count changes only
the floating-point summation order: it measures how far round-off alone moves a search, the noise
floor any precision change is to be judged against.

Writes ``OUT/rows.jsonl`` (every run's rows with a ``run`` label: the table's only input),
``OUT/table.md`` and ``OUT/summary.json``; ``--rows OUT/rows.jsonl`` rebuilds them from the
committed rows. Acceptance (issue 19): |mean hole-PSNR difference| <= 0.1 dB and correct counts
within 2 images, per mask.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

PSNR_TOL, ACC_TOL = 0.1, 2


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def mcnemar(ref: list[bool], other: list[bool]) -> tuple[int, int, float]:
    from scipy.stats import binomtest

    b = sum(r and not o for r, o in zip(ref, other))
    c = sum(o and not r for r, o in zip(ref, other))
    return b, c, float(binomtest(c, b + c, 0.5).pvalue) if b + c else 1.0


def compare(rows: list[dict], labels: list[str]) -> list[dict]:
    by: dict = {}
    for r in rows:
        if not r.get("error"):
            by.setdefault((r["method"], r["mask"]), {}).setdefault(r["run"], {})[r["image_id"]] = r
    from scipy.stats import t as t_dist

    ref_label, out = labels[0], []
    for (method, mask), per in sorted(by.items()):
        for label in labels[1:]:
            if ref_label not in per or label not in per:
                continue
            ids = sorted(per[ref_label].keys() & per[label].keys())
            a, b = [per[ref_label][i] for i in ids], [per[label][i] for i in ids]
            d = [y["psnr_hole"] - x["psnr_hole"] for x, y in zip(a, b)]
            half = (t_dist.ppf(0.975, len(d) - 1) * statistics.stdev(d) / len(d) ** 0.5) if len(d) > 1 else float("nan")
            ca, cb = [bool(x["eval_correct"]) for x in a], [bool(y["eval_correct"]) for y in b]
            only_ref, only_other, p = mcnemar(ca, cb)
            out.append({
                "method": method, "mask": mask, "run": label, "reference": ref_label, "n": len(ids),
                "precision": b[0]["precision"],
                "psnr_hole_ref": statistics.fmean(x["psnr_hole"] for x in a),
                "psnr_hole": statistics.fmean(y["psnr_hole"] for y in b),
                "psnr_hole_diff": statistics.fmean(d), "psnr_hole_diff_ci95": half, "psnr_hole_absmax": max(abs(v) for v in d),
                "psnr_hole_absmean": statistics.fmean(abs(v) for v in d),
                "ssim_hole_diff": statistics.fmean(y["ssim_hole"] - x["ssim_hole"] for x, y in zip(a, b)),
                "correct_ref": sum(ca), "correct": sum(cb), "only_ref": only_ref, "only_other": only_other,
                "mcnemar_p": p,
                "changed_predictions": sum(x["eval_pred"] != y["eval_pred"] for x, y in zip(a, b)),
                "seconds_ref": statistics.median(x["seconds"] for x in a),
                "seconds": statistics.median(y["seconds"] for y in b),
                "passes": abs(statistics.fmean(d)) <= PSNR_TOL and abs(sum(cb) - sum(ca)) <= ACC_TOL,
            })
    return out


def table(res: list[dict], meta: dict) -> str:
    lines = [
        "# bf16 against fp32 in the latent search (Stanford Cars models)", "",
        f"Rows: `rows.jsonl` ({meta['n_rows']} rows; runs {', '.join(meta['labels'])}). Made by "
        "`benchmarks/precision/run.sh` and `python benchmarks/precision/compare.py "
        f"{meta['command']} --out {meta.get('out', 'benchmarks/results/precision')}`.",
        "",
        f"Reference: `{meta['labels'][0]}`. CPU: {meta['cpu']}. Acceptance (issue 19): |mean hole-PSNR "
        f"difference| <= {PSNR_TOL} dB and evaluator correct counts within {ACC_TOL} images, per mask.", "",
        "| method | mask | run | n | hole PSNR ref | hole PSNR run | mean diff (dB) [95% CI] | mean abs diff | max abs diff | "
        "hole SSIM diff | correct ref | correct run | only ref / only run right | McNemar p | predictions changed | "
        "s/image ref | s/image run | passes |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|",
    ]
    for r in res:
        lines.append(
            f"| {r['method']} | {r['mask']} | {r['run']} | {r['n']} | {r['psnr_hole_ref']:.2f} | {r['psnr_hole']:.2f} | "
            f"{r['psnr_hole_diff']:+.3f} [{r['psnr_hole_diff'] - r['psnr_hole_diff_ci95']:+.2f}, "
            f"{r['psnr_hole_diff'] + r['psnr_hole_diff_ci95']:+.2f}] | {r['psnr_hole_absmean']:.2f} | {r['psnr_hole_absmax']:.2f} | "
            f"{r['ssim_hole_diff']:+.4f} | {r['correct_ref']} | {r['correct']} | {r['only_ref']} / {r['only_other']} | "
            f"{r['mcnemar_p']:.2g} | {r['changed_predictions']} | {r['seconds_ref']:.2f} | {r['seconds']:.2f} | "
            f"{'yes' if r['passes'] else '**no**'} |")
    lines += ["", "`s/image` is the row's share of its batch's search time (batch 16, 100 iterations, the other "
              "core busy with a training run), so speed ratios here are indicative; the speed suite's "
              "`benchmarks/results/speed*.md` have the controlled timings.", ""]
    return "\n".join(lines)


def _cpu(run_dirs: list[Path]) -> str:
    for d in run_dirs:
        m = json.loads((d / "meta.json").read_text()).get("machine", {}) if (d / "meta.json").is_file() else {}
        if "cpu_capability" in m:
            return (f"{m['cpu_model']} ({m['cpu_count']} logical CPUs, torch cpu_capability "
                    f"{m['cpu_capability']}, native bf16: {m['native_bf16_cpu']})")
    import torch

    from inpaintkit.utils import native_bf16
    from inpaintkit.utils.meta import cpu_model
    return (f"{cpu_model()} (torch cpu_capability {torch.backends.cpu.get_cpu_capability()}, native bf16: "
            f"{native_bf16('cpu')}; the machine compare.py ran on, which ran the runs)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", help="LABEL=RUN_DIR[,RUN_DIR...], the reference first (several "
                    "folders of one label pool their rows, e.g. two image ranges)")
    ap.add_argument("--rows", type=Path, help="a combined rows.jsonl (with run labels) instead of run folders")
    ap.add_argument("--cpu", default="", help="the CPU, for the table")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    summary = args.out / "summary.json"
    previous = json.loads(summary.read_text()) if summary.is_file() else {}
    if args.rows:
        rows = read_rows(args.rows)
        labels = list(dict.fromkeys(r["run"] for r in rows))
        if not args.cpu and "cpu" not in previous:
            ap.error(f"--rows: {summary} does not exist, so the CPU of the runs is unknown; give it with --cpu")
        cpu = args.cpu or previous["cpu"]
    else:
        pairs = [s.split("=", 1) for s in args.runs]
        if len(pairs) < 2 or any(len(p) != 2 for p in pairs):
            ap.error("give at least two runs as LABEL=RUN_DIR, the reference first")
        labels = [lab for lab, _ in pairs]
        rows = [{**r, "run": lab} for lab, ds in pairs for d in ds.split(",") for r in read_rows(Path(d) / "rows.jsonl")]
        cpu = args.cpu or _cpu([Path(d) for _, ds in pairs for d in ds.split(",")])
        tmp = args.out / "rows.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        tmp.replace(args.out / "rows.jsonl")
    res = compare(rows, labels)
    command = " ".join(args.runs) if args.runs else previous.get("command", f"--rows {args.rows}")
    summary.write_text(json.dumps({"cpu": cpu, "labels": labels, "command": command,
                                                      "comparisons": res}, indent=1) + "\n")
    (args.out / "table.md").write_text(table(res, {"n_rows": len(rows), "cpu": cpu, "labels": labels,
                                                   "command": command, "out": str(args.out)}))
    print((args.out / "table.md").read_text())


if __name__ == "__main__":
    main()
