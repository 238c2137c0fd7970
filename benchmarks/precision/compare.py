"""bf16 against fp32, from two bench runs of ``benchmarks/precision/run.sh`` (issue 19's acceptance):
per method and mask, the mean hole PSNR/SSIM of each precision, their paired difference, the
independent evaluator's correct count in each, and the median search time per image.

    python benchmarks/precision/compare.py runs/precision/fp32 runs/precision/bf16 \
        --out benchmarks/results/precision

Writes ``OUT/rows.jsonl`` (both runs' rows, the table's only input), ``OUT/table.md`` and
``OUT/summary.json``. The table is rebuilt from the committed rows with ``--rows OUT/rows.jsonl``.
Acceptance: |mean hole-PSNR difference| <= 0.1 dB and |correct-count difference| <= 2 images.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

PSNR_TOL, ACC_TOL = 0.1, 2


def read_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def compare(rows: list[dict]) -> list[dict]:
    by = {}
    for r in rows:
        if r.get("error"):
            continue
        by.setdefault((r["method"], r["mask"]), {}).setdefault(r["precision"], {})[r["image_id"]] = r
    out = []
    for (method, mask), per in sorted(by.items()):
        if not {"fp32", "bf16"} <= per.keys():
            continue
        ids = sorted(per["fp32"].keys() & per["bf16"].keys())
        a, b = [per["fp32"][i] for i in ids], [per["bf16"][i] for i in ids]
        d = [y["psnr_hole"] - x["psnr_hole"] for x, y in zip(a, b)]
        ca, cb = sum(bool(x["eval_correct"]) for x in a), sum(bool(y["eval_correct"]) for y in b)
        ta, tb = statistics.median(x["seconds"] for x in a), statistics.median(y["seconds"] for y in b)
        out.append({
            "method": method, "mask": mask, "n": len(ids),
            "psnr_hole_fp32": statistics.fmean(x["psnr_hole"] for x in a),
            "psnr_hole_bf16": statistics.fmean(y["psnr_hole"] for y in b),
            "psnr_hole_diff": statistics.fmean(d), "psnr_hole_absmax": max(abs(v) for v in d),
            "ssim_hole_diff": statistics.fmean(y["ssim_hole"] - x["ssim_hole"] for x, y in zip(a, b)),
            "correct_fp32": ca, "correct_bf16": cb,
            "changed_predictions": sum(x["eval_pred"] != y["eval_pred"] for x, y in zip(a, b)),
            "seconds_fp32": ta, "seconds_bf16": tb,
            "passes": abs(statistics.fmean(d)) <= PSNR_TOL and abs(cb - ca) <= ACC_TOL,
        })
    return out


def table(res: list[dict], meta: dict) -> str:
    lines = [
        "# bf16 against fp32 in the latent search (Stanford Cars models)", "",
        f"Rows: `rows.jsonl` ({meta['n_rows']} rows, both precisions). Made by "
        "`benchmarks/precision/run.sh` (fp32 and bf16) and "
        "`python benchmarks/precision/compare.py runs/precision/fp32 runs/precision/bf16 "
        "--out benchmarks/results/precision`.", "",
        f"CPU: {meta['cpu']}. Acceptance (issue 19): |mean hole-PSNR difference| <= {PSNR_TOL} dB and "
        f"evaluator correct counts within {ACC_TOL} images, per mask.", "",
        "| method | mask | n | hole PSNR fp32 | hole PSNR bf16 | mean diff (dB) | max abs diff | "
        "hole SSIM diff | correct fp32 | correct bf16 | predictions changed | s/batch-image fp32 | bf16 | speed-up | passes |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in res:
        lines.append(
            f"| {r['method']} | {r['mask']} | {r['n']} | {r['psnr_hole_fp32']:.2f} | {r['psnr_hole_bf16']:.2f} | "
            f"{r['psnr_hole_diff']:+.3f} | {r['psnr_hole_absmax']:.2f} | {r['ssim_hole_diff']:+.4f} | "
            f"{r['correct_fp32']} | {r['correct_bf16']} | {r['changed_predictions']} | "
            f"{r['seconds_fp32']:.2f} | {r['seconds_bf16']:.2f} | {r['seconds_fp32'] / r['seconds_bf16']:.1f}x | "
            f"{'yes' if r['passes'] else '**no**'} |")
    lines += ["", "`seconds` is the row's share of its batch's search time (batch 16, one thread, the "
              "other core busy with a training run), so the speed-up is indicative; "
              "`benchmarks/results/speed.md` has the controlled timings.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="*", type=Path, help="bench run folders (fp32 and bf16)")
    ap.add_argument("--rows", type=Path, help="a combined rows.jsonl instead of run folders")
    ap.add_argument("--cpu", default="", help="the CPU, for the table (default: the run's meta.json)")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    rows = read_rows(args.rows) if args.rows else [r for d in args.runs for r in read_rows(d / "rows.jsonl")]
    cpu = args.cpu
    if not cpu:  # the machine the runs recorded (bench's meta.json), else this one
        machines = [json.loads((d / "meta.json").read_text()).get("machine", {}) for d in args.runs
                    if (d / "meta.json").is_file()]
        m = machines[0] if machines else {}
        if "cpu_capability" not in m:
            import torch

            from inpaintkit.utils.meta import cpu_model
            m = {"cpu_model": cpu_model(), "cpu_capability": torch.backends.cpu.get_cpu_capability(),
                 "cpu_count": m.get("cpu_count")}
        cpu = (f"{m['cpu_model']} ({m.get('cpu_count')} logical CPUs, torch cpu_capability "
               f"{m['cpu_capability']}), {m.get('torch_threads', 1)} thread(s)")
    res = compare(rows)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.rows:
        tmp = args.out / "rows.jsonl.tmp"
        tmp.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))
        tmp.replace(args.out / "rows.jsonl")
    (args.out / "summary.json").write_text(json.dumps(res, indent=1) + "\n")
    (args.out / "table.md").write_text(table(res, {"n_rows": len(rows), "cpu": cpu or "see rows"}))
    print((args.out / "table.md").read_text())


if __name__ == "__main__":
    main()
