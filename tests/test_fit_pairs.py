"""benchmarks/gan_compare/fit_pairs.py: generators' per-image fit, paired against a reference."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

_SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gan_compare" / "fit_pairs.py"


def _record(tmp_path: Path, name: str, fits: list[float], fit_start: int = 1000) -> str:
    rec = {"fd_r18": 5.0, "fit_psnr": sorted(fits)[(len(fits) - 1) // 2], "fit_n": len(fits),
           "fit_psnr_images": fits, "fit_start": fit_start, "data": "npz:val.npz", "split": "val"}
    p = tmp_path / f"{name}.json"
    p.write_text(json.dumps(rec))
    return f"{name}={p}"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(_SCRIPT), *args], capture_output=True, text=True)


def test_a_generator_better_on_every_image_is_significant(tmp_path):
    old = [15.0 + 0.1 * i for i in range(10)]
    new = [v + 0.5 + 0.02 * i for i, v in enumerate(old)]
    mixed = [v + (0.2 if i % 2 else -0.2) for i, v in enumerate(old)]
    out = tmp_path / "t.md"
    r = _run(_record(tmp_path, "old", old), _record(tmp_path, "new", new), _record(tmp_path, "mixed", mixed),
             "--reference", "old", "--out", str(out))
    assert r.returncode == 0, r.stderr
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in out.read_text().splitlines() if line.startswith("| ") and "generator" not in line}
    assert rows["new"][2] == "+0.59" and rows["new"][3] == "10 of 10"
    assert float(rows["new"][4]) == pytest.approx(2 / 2**10, rel=1e-2)  # exact: all ten signs agree
    assert rows["mixed"][3] == "5 of 10" and float(rows["mixed"][4]) > 0.5
    assert rows["old"][2:] == ["", "", ""]


def test_refuses_records_fitted_on_other_images(tmp_path):
    r = _run(_record(tmp_path, "old", [15.0, 16.0]), _record(tmp_path, "new", [15.5, 16.5], fit_start=200),
             "--reference", "old")
    assert r.returncode != 0 and "other images" in r.stderr


def test_refuses_a_record_without_per_image_fit_and_an_unknown_reference(tmp_path):
    p = tmp_path / "x.json"
    p.write_text(json.dumps({"fd_r18": 5.0, "fit_psnr": 16.0}))
    r = _run(f"x={p}", _record(tmp_path, "old", [15.0]), "--reference", "old")
    assert r.returncode != 0 and "no per-image fit" in r.stderr
    r = _run(_record(tmp_path, "a", [15.0]), _record(tmp_path, "b", [16.0]), "--reference", "c")
    assert r.returncode != 0 and "not one of" in r.stderr
    r = _run("a", _record(tmp_path, "b", [16.0]), "--reference", "b")
    assert r.returncode != 0 and "a record takes NAME=PATH" in r.stderr
