"""The paper modes' table on val 100-199: rows from several runs joined under one label per mode."""
from __future__ import annotations

import json

import pandas as pd
import pytest
from conftest import load_script


@pytest.fixture(scope="module")
def modes():
    return load_script("benchmarks/guidance/modes.py")


def _run(root, name, method, masks, images, psnr, reduce="mean"):
    rows = pd.DataFrame([{"method": method, "mask": k, "image_id": i, "psnr_hole": psnr, "ssim_hole": 0.5,
                          "eval_correct": i % 2 == 0, "restarts": 4, "restart_reduce": reduce}
                         for k in masks for i in images])
    (root / name).mkdir(exist_ok=True)
    path = root / name / "rows.jsonl"
    old = pd.read_json(path, lines=True) if path.is_file() else None
    pd.concat([old, rows]).to_json(path, orient="records", lines=True)


def test_study_rows_keep_only_the_current_weights(modes, tmp_path):
    masks = ["center", "left", "random:0.7"]
    _run(tmp_path, "paper-x4mean", "context,prior", masks, [100, 101], 10.0)
    _run(tmp_path, "paper-x4mean", "context,prior,sem", masks, [100, 101], 11.0)  # random: earlier weights
    _run(tmp_path, "random-confirm2", "context,prior,sem=8", ["random:0.7"], [100, 101], 12.0)
    _run(tmp_path, "default-132-199", "context,prior", masks, [132], 10.0)
    _run(tmp_path, "modes-132-199", "context,prior,sem", masks, [132], 13.0)
    _run(tmp_path, "modes-132-199", "context,prior,cat", ["center"], [132], 13.0)
    rows = modes.study_rows(tmp_path)
    sem = rows[rows.method == "context,prior,sem (x4 mean)"].set_index(["mask", "image_id"]).psnr_hole
    assert sem[("random:0.7", 100)] == 12.0 and sem[("random:0.7", 132)] == 13.0 and sem[("left", 101)] == 11.0
    assert len(sem) == 9
    done, missing = modes.complete_modes(rows)
    assert done == ["context,prior,sem (x4 mean)"] and "context,prior,cat (x4 mean)" in missing


def test_committed_rows_give_the_published_numbers(modes):
    rows = modes.selected_rows()
    done, _ = modes.complete_modes(rows)
    s = modes.summary(rows, done).set_index(["images", "mask"])
    # section 15's pooled numbers for the default on val 100-199: 11 lost, 19 gained, -0.07 dB
    default = s.loc[("+sem,cat (the default)", "pooled")]
    assert (default.n, default.lost, default.gained) == (300, 11, 19)
    assert default.psnr == pytest.approx(-0.07, abs=0.005)
    # section 17's candidate: 7 lost, 20 gained, p = 0.019
    candidate = s.loc[("+inpaint,sem (w/o logits)", "pooled")]
    assert (candidate.lost, candidate.gained) == (7, 20) and candidate.p == pytest.approx(0.019, abs=0.0005)
    # section 17's last two modes: +cat 11 / 14, all five 14 / 23, both losing 0.11 dB
    for mode, counts in [("+cat", (11, 14)), ("all five (with logits)", (14, 23))]:
        r = s.loc[(mode, "pooled")]
        assert (r.lost, r.gained) == counts and r.psnr == pytest.approx(-0.11, abs=0.005)
    assert len(done) == len(modes.MODES)
    assert (s.n == [100, 100, 100, 300] * len(done)).all()


def test_machines_names_each_runs_cpu_from_the_shard_metas(modes, tmp_path):
    def meta(path, cpu, threads, merged_from=None):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"machine": {"cpu_model": cpu, "cpu_capability": "AVX512", "torch_threads": threads},
                                    **({"merged_from": merged_from} if merged_from else {})}))

    meta(tmp_path / "paper-x4mean" / "a" / "meta.json", "Xeon", 1)
    shards = ["meta.shard-1-of-2.json", "meta.shard-2-of-2.json"]
    for s in shards:
        meta(tmp_path / "modes-132-199" / "b" / s, "EPYC", 1)
    meta(tmp_path / "modes-132-199" / "b" / "meta.json", "merging machine", 2, shards)  # the merge's, not the run's
    meta(tmp_path / "random-confirm2" / "c" / "meta.json", "Xeon", 1, shards)  # shards not kept: the merged one counts
    text = modes.machines(tmp_path)
    assert "- `paper-x4mean/`: Xeon (AVX512), 1 thread(s)" in text
    assert "- `modes-132-199/`: EPYC (AVX512), 1 thread(s)" in text and "merging machine" not in text
    assert "- `random-confirm2/`: Xeon" in text and "default-132-199" not in text


def test_best_reduction_rows_give_the_published_numbers(modes):
    """Sections 16 and 19-22: every mode under ``--restart-reduce best`` on val 100-131."""
    ref, labels = modes.reference("best"), modes.modes("best")
    assert ref == "context,prior (x4 best)" and all(m.endswith("(x4 best)") for m in labels)
    rows = modes.selected_rows("best", 100, 131)
    assert set(rows.method) == {ref, *labels} and set(rows.image_id) == set(range(100, 132))
    done, missing = modes.complete_modes(rows, "best")
    assert done == list(labels) and not missing
    s = modes.summary(rows, done, "best").set_index(["images", "mask"])
    counts = {"+sem": (5, 7), "+cat": (9, 1), "+inpaint,sem (w/o logits)": (6, 3),
              "+sem,cat (the default)": (9, 7), "all five (with logits)": (8, 4)}
    for mode, (lost, gained) in counts.items():
        r = s.loc[(mode, "pooled")]
        assert (r.n, r.lost, r.gained) == (96, lost, gained), mode
    assert s.loc[("+cat", "pooled")].p == pytest.approx(0.021, abs=0.0005)
    assert s.loc[("all five (with logits)", "pooled")].psnr == pytest.approx(-0.08, abs=0.005)


def test_a_mode_without_every_pair_of_the_reference_is_left_out_under_best(modes, tmp_path):
    masks = ["center", "left", "random:0.7"]
    for name, method, images in [("default-x4best", "context,prior", [100, 101]),
                                 ("sem-x4best", "context,prior,sem", [100, 101]),
                                 ("cat-x4best", "context,prior,cat", [100])]:
        _run(tmp_path, name, method, masks, images, 10.0, reduce="best")
    rows = modes.study_rows(tmp_path, reduce="best")
    done, missing = modes.complete_modes(rows, "best")
    assert done == ["context,prior,sem (x4 best)"] and "context,prior,cat (x4 best)" in missing


def test_best_reduction_on_val_100_199_joins_sections_16_and_21_to_24(modes):
    rows = modes.selected_rows("best")
    done, missing = modes.complete_modes(rows, "best")
    assert done == ["context,prior,cat (x4 best)", "context,prior,sem,cat (x4 best)"] and len(missing) == 3
    s = modes.summary(rows, done, "best").set_index(["images", "mask"])
    cat, default = s.loc[("+cat", "pooled")], s.loc[("+sem,cat (the default)", "pooled")]
    assert (cat.n, cat.lost, cat.gained) == (300, 26, 8) and cat.psnr == pytest.approx(-0.16, abs=0.005)
    assert (default.n, default.lost, default.gained) == (300, 32, 16) and default.p == pytest.approx(0.029, abs=0.0005)
