"""Hole-ratio bins and paired differences with BCa intervals, by hand and against SciPy."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import bootstrap

from inpaintkit import breakdowns as BD


def _rows(fractions, methods=("yeh", "im"), mask="thick"):
    return pd.DataFrame([{"image_id": i, "method": m, "mask": mask, "hole_fraction": f,
                          "psnr_hole": 20.0 + i + (1.5 if m == "im" else 0.0), "l1_hole": 0.1, "error": ""}
                         for i, f in enumerate(fractions) for m in methods])


def test_hole_ratio_bins_by_hand():
    df = _rows([0.05, 0.10, 0.15, 0.95, 0.0])
    t = BD.hole_ratio_table(df, metrics=("psnr_hole",))
    yeh = t[t["method"] == "yeh"].set_index("hole")
    # 10% exactly belongs to 0-10%, and 0 to the first bin too
    assert list(yeh.index) == ["0-10%", "10-20%", "90-100%"]
    assert yeh.loc["0-10%", "n"] == 3 and yeh.loc["0-10%", "mean"] == pytest.approx((20 + 21 + 24) / 3)
    assert yeh.loc["90-100%", "mean"] == pytest.approx(23.0)
    # a mask of one hole size for every image has no breakdown
    fixed = _rows([0.25, 0.25, 0.25], mask="center")
    assert BD.hole_ratio_table(fixed).empty
    failed = df.assign(error="boom")
    assert BD.hole_ratio_table(failed).empty


def test_paired_differences_match_scipy_bca():
    rng = np.random.default_rng(0)
    n = 30
    a, b = rng.normal(20, 1, n), rng.normal(20.4, 1, n)
    df = pd.DataFrame([{"image_id": i, "method": m, "mask": "center", "psnr": v, "error": ""}
                       for i in range(n) for m, v in (("yeh", a[i]), ("x", b[i]))])
    t = BD.paired_differences(df, metrics=("psnr",), n_resamples=999, seed=3)
    row = t.iloc[0]
    assert row["method"] == "x" and row["n"] == n and row["diff"] == pytest.approx((b - a).mean())
    ref = bootstrap(((b - a),), np.mean, n_resamples=999, method="BCa",
                    random_state=np.random.default_rng(3)).confidence_interval
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((ref.low, ref.high))
    assert row["ci_low"] < row["diff"] < row["ci_high"]


def test_bca_edge_cases():
    assert all(math.isnan(v) for v in BD.bca_ci([]))
    assert BD.bca_ci([2.0, 2.0, 2.0]) == (2.0, 2.0, 2.0)
    assert BD.bca_ci([1.0]) == (1.0, 1.0, 1.0)
    assert BD.paired_differences(_rows([0.1, 0.2], methods=("im",))).empty  # no reference


def test_report_has_both_sections(tmp_path):
    from inpaintkit.bench import RowStore
    from inpaintkit.report import make_report

    df = _rows([0.05, 0.15, 0.25, 0.35, 0.45, 0.12])
    df["psnr"] = df["psnr_hole"]
    RowStore(tmp_path / "run").append(df.to_dict("records"))
    rep = make_report(tmp_path / "run", figures=False, echo=None)
    assert "### Paired differences against yeh" in rep.markdown and "+1.50 [1.50, 1.50]" in rep.markdown
    assert "### By hole size" in rep.markdown and "| thick | 10-20% | PSNR hole |" in rep.markdown
    assert {p.name for p in rep.files} >= {"differences.csv", "hole_ratio.csv"}


def test_distribution_of_outputs_is_zero_for_the_ground_truth(tmp_path):
    import torch

    import classifiers as C
    from inpaintkit.bench import RowStore
    from inpaintkit.distribution import output_distribution
    from inpaintkit.report import make_report

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = C.create_classifier("timm:test_resnet", 4)  # (googlenet_tiny's random features are ~0)
    C.save_classifier(tmp_path / "ev.pt", net, "timm:test_resnet",
                      {"num_classes": 4, "image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3,
                       "model_kwargs": {}})
    rng = np.random.default_rng(0)
    ids = np.arange(8)
    target = rng.integers(0, 256, (8, 32, 32, 3), dtype=np.uint8)
    run = tmp_path / "run"
    (run / "images" / "m").mkdir(parents=True)
    from inpaintkit.bench.rundir import slug as _slug

    np.savez(run / "images" / f"inputs__{_slug('center')}.npz", ids=ids, target=target)
    outputs = {"same": target, "dark": target // 4}
    rows = []
    for name, out in outputs.items():
        np.savez(run / "images" / "m" / f"{name}.npz", ids=ids, output=out)
        rows += [{"image_id": int(i), "method": name, "mask": "center", "psnr": 1.0, "error": "",
                  "images_file": f"images/m/{name}.npz"} for i in ids]
    RowStore(run).append(rows)
    from inpaintkit.bench import load_rows

    d = output_distribution(run, load_rows(run), tmp_path / "ev.pt", kid_subsets=10).set_index("method")
    assert d.loc["same", "n"] == 8
    assert d.loc["same", "fd_r18"] == pytest.approx(0.0, abs=1e-6)
    assert d.loc["dark", "fd_r18"] > 0.1
    # KID is unbiased, so noisy around 0 for identical sets; far below the darkened outputs'
    assert abs(d.loc["same", "kid"]) < 0.05 * d.loc["dark", "kid"]
    rep = make_report(run, figures=False, echo=None, evaluator=tmp_path / "ev.pt")
    assert "### Distribution of the outputs" in rep.markdown and "(8)" in rep.markdown
    assert "distribution.csv" in {p.name for p in rep.files}
    # without an evaluator (none given, none recorded in the run) there is no such section
    assert "### Distribution" not in make_report(run, figures=False, echo=None).markdown
