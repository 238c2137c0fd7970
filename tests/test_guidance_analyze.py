"""The guidance study's table script: rows computed twice must agree before they are pooled."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pandas as pd
import pytest
from conftest import ROOT, load_script


@pytest.fixture(scope="module")
def analyze():
    return load_script("benchmarks/guidance/analyze.py")


def _rows(psnr):
    return pd.DataFrame({"method": ["context,prior"] * len(psnr), "mask": "center",
                         "image_id": range(len(psnr)), "psnr_hole": psnr, "ssim_hole": 0.5,
                         "eval_correct": True})


def test_identical_repeats_are_dropped(analyze, capsys):
    rows = pd.concat([_rows([10.0, 11.0]), _rows([10.0])], ignore_index=True)
    out = analyze.drop_repeats(rows)
    assert list(out.image_id) == [0, 1] and "1 rows repeat" in capsys.readouterr().out


def test_differing_repeats_are_refused(analyze):
    rows = pd.concat([_rows([10.0, 11.0]), _rows([10.5])], ignore_index=True)
    with pytest.raises(SystemExit, match="different results"):
        analyze.drop_repeats(rows)


def test_tables_pair_methods_by_image(analyze):
    ref = _rows([10.0, 12.0, 14.0])
    other = ref.assign(method="context,prior,sem[known]=auto:1", psnr_hole=ref.psnr_hole + 1.0,
                       eval_correct=[True, False, True])
    rows = pd.concat([ref, other], ignore_index=True).assign(
        error="", z_clip=0.0, seconds=1.0, eval_correct_gt=True)
    text = analyze.tables(rows)
    line = next(x for x in text.splitlines() if x.startswith("| center | context,prior,sem"))
    assert "+1.00 [+1.00, +1.00]" in line and "| 1 / 0 |" in line


def _study():
    ref = pd.concat([_rows([10.0, 12.0]), _rows([20.0, 21.0]).assign(mask="random:0.7")], ignore_index=True)
    old = ref.assign(method="context,prior,sem,cat", psnr_hole=ref.psnr_hole - 1.0)
    new = ref[ref["mask"] == "random:0.7"].assign(method="context,prior,sem=8,cat=0.4",
                                                   psnr_hole=lambda d: d.psnr_hole - 0.1)
    return pd.concat([ref, old, new], ignore_index=True)


def test_drop_and_rename_build_a_method_from_two_runs(analyze):
    rows = analyze.drop_and_rename(_study(), ["context,prior,sem,cat@random:0.7"],
                                   ["context,prior,sem=8,cat=0.4=context,prior,sem,cat"])
    got = rows[rows.method == "context,prior,sem,cat"].set_index(["mask", "image_id"]).psnr_hole
    assert got.to_dict() == {("center", 0): 9.0, ("center", 1): 11.0,
                             ("random:0.7", 0): pytest.approx(19.9), ("random:0.7", 1): pytest.approx(20.9)}
    assert set(rows.method) == {"context,prior", "context,prior,sem,cat"}


def test_drop_can_name_an_image_range(analyze):
    rows = analyze.drop_and_rename(_study(), ["context,prior,sem,cat@random:0.7@1-1"], [])
    left = rows[(rows.method == "context,prior,sem,cat") & (rows["mask"] == "random:0.7")]
    assert list(left.image_id) == [0]
    assert len(rows) == len(_study()) - 1


def test_rename_onto_existing_rows_is_refused(analyze):
    with pytest.raises(SystemExit, match="already has rows"):
        analyze.drop_and_rename(_study(), [], ["context,prior,sem=8,cat=0.4=context,prior,sem,cat"])


@pytest.mark.parametrize("drop, rename, match", [
    (["context,prior,sem,cat@left"], [], "no rows of method"),
    (["context,prior,sem,cat"], [], "no rows of method"),
    (["context,prior,sem,cat@random:0.7@5-9"], [], "no rows of method"),
    ([], ["nothing=context,prior"], "known method"),
])
def test_drop_and_rename_name_what_does_not_match(analyze, drop, rename, match):
    with pytest.raises(SystemExit, match=match):
        analyze.drop_and_rename(_study(), drop, rename)


def test_collect_runs_reads_the_reference_from_committed_rows(tmp_path):
    """collect_runs.sh with REFERENCE_ROWS: the table compares against rows kept elsewhere, and the
    results folder holds only the collected run's rows and meta."""
    ref = _rows([10.0, 12.0]).assign(error="", z_clip=0.0, seconds=1.0, eval_correct_gt=True)
    ref_file = tmp_path / "reference.jsonl"
    ref.to_json(ref_file, orient="records", lines=True)
    run = tmp_path / "runs" / "mode"
    run.mkdir(parents=True)
    ref.assign(method="context,prior,sem", psnr_hole=ref.psnr_hole + 0.5).to_json(
        run / "rows.jsonl", orient="records", lines=True)
    (run / "meta.json").write_text(json.dumps({"git_commit": "abc"}))
    out = tmp_path / "results"
    env = dict(os.environ, PYTHON=sys.executable, REFERENCE_ROWS=str(ref_file))
    subprocess.run(["bash", str(ROOT / "benchmarks/guidance/collect_runs.sh"), str(out), str(run)],
                   check=True, env=env, capture_output=True)
    kept = pd.read_json(out / "rows.jsonl", lines=True)
    assert set(kept.method) == {"context,prior,sem"} and (out / "mode" / "meta.json").is_file()
    line = next(x for x in (out / "table.md").read_text().splitlines()
                if x.startswith("| center | context,prior,sem"))
    assert "+0.50 [+0.50, +0.50]" in line
