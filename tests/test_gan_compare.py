"""benchmarks/gan_compare/compare.py: one table from several generators' (and presets') runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gan_compare" / "compare.py"


def _run_dir(tmp_path: Path, name: str, search_psnr: list[float]) -> Path:
    """A bench run folder with Telea (the same in every run) and one search row per image."""
    d = tmp_path / name
    d.mkdir()
    rows = []
    for i, p in enumerate(search_psnr):
        base = {"image_id": 100 + i, "mask": "center", "error": "", "seconds": 1.0, "eval_correct_gt": True,
                "ssim_hole": 0.5, "z_clip": 0.0}
        rows.append({**base, "method": "telea", "method_kind": "baseline", "psnr_hole": 10.0, "eval_correct": False})
        rows.append({**base, "method": "search", "method_kind": "search", "psnr_hole": p, "eval_correct": True,
                     "loss_context": 20.0 - p})
    (d / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return d


def _compare(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(_SCRIPT), *args], capture_output=True, text=True)


@pytest.fixture()
def runs(tmp_path):
    return ([str(_run_dir(tmp_path, "old", [11.0, 12.0, 13.0])),
             str(_run_dir(tmp_path, "new", [12.0, 13.5, 14.0])),
             str(_run_dir(tmp_path, "new-fast", [11.5, 12.5, 13.5]))], tmp_path / "table.md")


def test_labels_pair_runs_with_the_reference_and_with_telea(runs):
    dirs, out = runs
    r = _compare(*dirs, "--names", "old,new,new", "--presets", "best,best,fast", "--reference", "old",
                 "--out", str(out))
    assert r.returncode == 0, r.stderr
    text = out.read_text()
    new = next(x for x in text.splitlines() if x.startswith("| center | best (new)"))
    assert "+1.17 [" in new  # (1 + 1.5 + 1) / 3 above best (old), paired by image
    fast = next(x for x in text.splitlines() if x.startswith("| center | fast (new)"))
    assert "+0.50 [" in fast
    telea = next(x for x in text.splitlines() if x.startswith("| center | +"))
    assert telea.split("|")[2].strip().startswith("+2.00")  # best (old) - telea
    fit = next(x for x in text.splitlines() if x.startswith("| center | 8.0"))
    assert fit.split("|")[3].strip() == "6.5 (3 of 3)"  # best (new) fits the context better on every image


def test_a_label_can_be_the_reference(runs):
    dirs, out = runs
    r = _compare(*dirs, "--names", "old,new,new", "--presets", "best,best,fast", "--reference", "fast (new)",
                 "--out", str(out))
    assert r.returncode == 0, r.stderr
    old = next(x for x in out.read_text().splitlines() if x.startswith("| center | best (old)"))
    assert "-0.50 [" in old


@pytest.mark.parametrize("names,presets,reference,message", [
    ("old,new", "", "old", "one entry per run"),
    ("old,new,new", "", "old", "the same label"),
    ("old,new,new", "best,best,fast", "newest", "none of the runs' labels"),
])
def test_bad_arguments_are_named(runs, names, presets, reference, message):
    dirs, out = runs
    r = _compare(*dirs, "--names", names, *(["--presets", presets] if presets else []), "--reference", reference,
                 "--out", str(out))
    assert r.returncode != 0 and message in r.stderr and not out.exists()


def test_fit_table_pairs_each_generator_with_the_reference(tmp_path):
    _run_dir(tmp_path, "old", [11.0, 12.0])  # context loss 9, 8
    _run_dir(tmp_path, "19", [10.0, 12.5])   # context loss 10, 7.5: better on one image
    out = tmp_path / "fit.md"
    script = _SCRIPT.with_name("fit_table.py")
    r = subprocess.run([sys.executable, str(script), str(tmp_path), "--reference", "old", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    line = next(x for x in out.read_text().splitlines() if x.startswith("| 19 |"))
    assert "| 1 of 2 |" in line and line.rstrip().endswith("| -0.25 |")
    bad = subprocess.run([sys.executable, str(script), str(tmp_path), "--reference", "new", "--out", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "none of the runs" in bad.stderr
