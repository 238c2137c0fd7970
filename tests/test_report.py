"""The report: statistics by hand, the table layout, files, figures and --compare, from hand-made rows."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.stats import wilcoxon

from inpaintkit import report as R
from inpaintkit.bench import RowStore, load_rows, read_rows
from inpaintkit.cli import main

# im: 1 dB above yeh on every image; the loss set: +-0.1 dB around yeh, alternating (no effect)
METHODS = {"im": lambda i: 1.0, "yeh": lambda i: 0.0,
           "context,prior,sem,cat": lambda i: 0.1 if i % 2 else -0.1}


def _rows(n=12, seed=0, masks=("center", "left")):
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.5, n)  # per-image difficulty, shared by the methods (paired data)
    rows = []
    for mask in masks:
        for method, offset in METHODS.items():
            for i in range(n):
                noise, off = base[i], offset(i)
                rows.append({
                    "image_id": i, "method": method, "mask": mask,
                    "method_kind": "baseline" if method == "im" else "search",
                    "scored": "baseline" if method == "im" else "poisson",
                    "psnr": 20 + off + noise, "ssim": 0.7 + off / 10, "psnr_hole": 12 + off + noise,
                    "ssim_hole": 0.4 + off / 10 + rng.normal(0, 0.01),
                    "psnr_overlay": 19 + off, "ssim_overlay": 0.6, "psnr_hole_overlay": 11 + off,
                    "ssim_hole_overlay": 0.3,
                    "eval_correct": bool(i % 2 == 0 or method == "im"), "eval_correct_gt": True,
                    "error": "",
                })
    return rows


@pytest.fixture
def run_dir(tmp_path):
    d = tmp_path / "runA"
    rows = _rows()
    rows.append({"image_id": 99, "method": "yeh", "mask": "left", "error": "RuntimeError: boom"})
    RowStore(d).append(rows)
    return d


def test_bootstrap_ci_by_hand():
    assert all(math.isnan(v) for v in R.bootstrap_ci([]))
    assert R.bootstrap_ci([3.0]) == (3.0, 3.0, 3.0)
    x = np.random.default_rng(0).normal(10, 2, 400)
    mean, lo, hi = R.bootstrap_ci(x, n_boot=4000, seed=1)
    assert mean == pytest.approx(x.mean())
    # the percentile interval of the mean is about mean +- 1.96 * sd / sqrt(n)
    half = 1.96 * x.std() / math.sqrt(len(x))
    assert lo == pytest.approx(mean - half, abs=0.05)
    assert hi == pytest.approx(mean + half, abs=0.05)
    assert R.bootstrap_ci(x, seed=1) == R.bootstrap_ci(x, seed=1)  # reproducible


def test_paired_tests_match_scipy_and_edge_cases():
    rng = np.random.default_rng(2)
    a, b = rng.normal(0, 1, 30), rng.normal(0.3, 1, 30)
    assert R.paired_wilcoxon(a, b) == pytest.approx(wilcoxon(a - b, method="exact").pvalue)
    tied = np.array([1.0, -1.0, 1.0, 2.0, 2.0, 3.0, 0.0])  # ties and a zero: normal approximation
    assert R.paired_wilcoxon(tied, np.zeros(7)) == pytest.approx(
        wilcoxon(tied[tied != 0], method="asymptotic").pvalue)
    assert R.paired_wilcoxon(a, a) == 1.0
    assert math.isnan(R.paired_wilcoxon([], []))
    assert R.paired_wilcoxon([1.0, 2.0], [1.0, 2.0]) == 1.0
    assert R.paired_wilcoxon([1.0, math.inf, 2.0, 3.0], [0.0, 1.0, 1.5, 2.0]) == pytest.approx(
        wilcoxon(np.array([1.0, 0.5, 1.0]), method="asymptotic").pvalue)
    # McNemar: 10 discordant pairs all one way -> p = 2 * 0.5**10
    x = np.array([True] * 10 + [False] * 5)
    y = np.array([False] * 10 + [False] * 5)
    assert R.mcnemar_exact(x, y) == pytest.approx(2 * 0.5**10)
    assert R.mcnemar_exact(x, x) == 1.0


def test_summary_values_and_markers(run_dir):
    df = load_rows(run_dir)
    s = R.summarize(df)
    ok = df[df["error"] == ""]
    for (mask, metric, method), sub in s.set_index(["mask", "metric", "method"]).iterrows():
        vals = ok[(ok["mask"] == mask) & (ok["method"] == method)][metric]
        assert sub["mean"] == pytest.approx(vals.mean())
        assert sub["n"] == len(vals)
        assert sub["ci_low"] <= sub["mean"] <= sub["ci_high"]
    row = s[(s["mask"] == "center") & (s["metric"] == "psnr") & (s["method"] == "im")].iloc[0]
    y = ok[(ok["mask"] == "center") & (ok["method"] == "yeh")].set_index("image_id")["psnr"]
    m = ok[(ok["mask"] == "center") & (ok["method"] == "im")].set_index("image_id")["psnr"]
    assert row["p_vs_yeh"] == pytest.approx(R.paired_wilcoxon(m, y.loc[m.index]))
    assert row["p_vs_yeh"] < 0.01
    assert row["marker"] == "↑"  # im is 1 dB above yeh on every image
    tiny = s[(s["mask"] == "center") & (s["metric"] == "psnr") & (s["method"] == "context,prior,sem,cat")]
    assert tiny.iloc[0]["marker"] == "" and tiny.iloc[0]["p_vs_yeh"] > 0.5
    assert s[s["method"] == "yeh"]["p_vs_yeh"].isna().all()
    # the error row is left out
    assert s[(s["mask"] == "left") & (s["method"] == "yeh")]["n"].iloc[0] == 12


def test_marker_follows_the_paired_images_not_the_unpaired_mean(tmp_path):
    # yeh failed on images 12-17; "worse" is 1 dB below yeh on every image both scored, but scores
    # 40 dB on the images yeh lost, so its mean over all its images is far above yeh's.
    rows = []
    for i in range(18):
        base = 0.3 * (i % 5)
        rows.append({"image_id": i, "method": "worse", "mask": "center",
                     "psnr": 40.0 if i >= 12 else 19.0 + base, "error": ""})
        rows.append({"image_id": i, "method": "yeh", "mask": "center", "psnr": 20.0 + base,
                     "error": "" if i < 12 else "RuntimeError: boom"})
    s = R.summarize(pd.DataFrame(rows))
    cell = s[(s["metric"] == "psnr") & (s["method"] == "worse")].iloc[0]
    assert cell["mean"] > 20.5 and cell["p_vs_yeh"] < 0.01
    assert cell["marker"] == "↓"  # lower than yeh on the paired images, which the test compared


def test_overlay_output_uses_overlay_columns(run_dir):
    s = R.summarize(load_rows(run_dir), output="overlay")
    v = s[(s["mask"] == "center") & (s["metric"] == "psnr") & (s["method"] == "im")]["mean"].iloc[0]
    assert v == pytest.approx(20.0)
    with pytest.raises(ValueError, match="output"):
        R.summarize(load_rows(run_dir), output="blended")


def test_make_report_writes_tables_in_paper_layout(run_dir):
    rep = R.make_report(run_dir, echo=None)
    names = {p.name for p in rep.files}
    assert {"table.md", "table.csv", "table.tex", "psnr_distribution.png", "report_meta.json"} <= names
    md = (run_dir / "report" / "table.md").read_text()
    header = md.splitlines()[2]
    assert header == "| mask | metric | im | yeh | context,prior,sem,cat |"
    # mask x metric rows, in the paper's order
    body = [line.split("|")[1:3] for line in md.splitlines()[4:12]]
    assert [b[1].strip() for b in body[:4]] == ["PSNR", "SSIM", "PSNR hole", "SSIM hole"]
    assert body[0][0].strip() == "center" and body[4][0].strip() == "left"
    assert "Scored output: GAN searches: Poisson-blended" in md
    assert "baselines: their own fill" in md
    assert "1 (image, method, mask) rows failed" in md
    assert "### Semantic accuracy" in md and "uncorrupted" in md
    tex = (run_dir / "report" / "table.tex").read_text()
    assert r"\toprule" in tex and r"\midrule" in tex and r"\bottomrule" in tex
    assert "$^{\\uparrow}$" in tex
    csv = pd.read_csv(run_dir / "report" / "table.csv")
    assert {"mask", "metric", "method", "mean", "ci_low", "ci_high", "n", "p_vs_yeh"} <= set(csv.columns)
    acc = csv[(csv["metric"] == "accuracy") & (csv["method"] == "yeh") & (csv["mask"] == "center")]
    assert acc["mean"].iloc[0] == pytest.approx(0.5)


def test_report_without_yeh_says_so(tmp_path):
    rows = [r for r in _rows() if r["method"] != "yeh"]
    RowStore(tmp_path / "r").append(rows)
    rep = R.make_report(tmp_path / "r", figures=False, echo=None)
    assert "No yeh column, so no significance test" in rep.markdown
    assert "↑" not in rep.markdown.split("\n\n")[1]


def test_compare_puts_runs_side_by_side(run_dir, tmp_path):
    other = tmp_path / "runB"
    RowStore(other).append(_rows(seed=5))
    rep = R.make_report(run_dir, compare=other, echo=None)
    header = rep.markdown.splitlines()[2]
    assert "| im (runA) | im (runB) | yeh (runA) | yeh (runB) |" in header
    # (a bare glob() generator is always truthy: list it, so a missing file fails the test)
    written = list((run_dir / "report").glob("compare_runB*.md"))
    assert len(written) == 1 and written[0].read_text() == rep.markdown
    assert {p.suffix for p in (run_dir / "report").glob("compare_runB*")} == {".md", ".csv", ".tex"}


def test_cli_report_prints_and_rejects_empty_dir(run_dir, tmp_path):
    res = CliRunner().invoke(main, ["report", str(run_dir), "--no-figures"])
    assert res.exit_code == 0, res.output
    assert "| mask | metric |" in res.output
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(main, ["report", str(tmp_path / "empty")])
    assert res.exit_code != 0
    assert "holds no benchmark rows" in res.output


# --- the row store ---------------------------------------------------------------------------------

def test_rows_survive_a_torn_last_line(tmp_path):
    store = RowStore(tmp_path)
    store.append([{"image_id": 0, "method": "a", "mask": "center", "psnr": 1.0}])
    with open(store.path, "ab") as f:  # a kill in the middle of the next batch's write
        f.write(b'{"image_id": 1, "method": "a", "ma')
    assert [r["image_id"] for r in read_rows(tmp_path)] == [0]
    store.append([{"image_id": 1, "method": "a", "mask": "center", "psnr": math.inf}])
    lines = store.path.read_text().splitlines()
    assert len(lines) == 2 and all(json.loads(x) for x in lines)
    assert read_rows(tmp_path)[1]["psnr"] == math.inf


def test_rows_merge_and_last_wins(tmp_path):
    r0, r1 = RowStore(tmp_path, 0, 2), RowStore(tmp_path, 1, 2)
    r0.append([{"image_id": 0, "method": "a", "mask": "m", "error": "x"}])
    r1.append([{"image_id": 1, "method": "a", "mask": "m", "error": ""}])
    r0.append([{"image_id": 0, "method": "a", "mask": "m", "error": ""}])  # a retried error
    assert len(read_rows(tmp_path)) == 2
    r0.merge()
    assert not list(tmp_path.glob("rows.rank*"))
    rows = read_rows(tmp_path)
    assert sorted(r["image_id"] for r in rows) == [0, 1] and all(r["error"] == "" for r in rows)
    with pytest.raises(KeyError, match="key column"):
        r0.append([{"image_id": 3}])


def test_reading_names_the_best_method_per_mask_from_the_numbers():
    import pandas as pd

    from inpaintkit.report import reading

    summary = pd.DataFrame([
        {"mask": "center", "metric": "psnr_hole", "method": "im", "mean": 12.0},
        {"mask": "center", "metric": "psnr_hole", "method": "yeh", "mean": 14.5},
        {"mask": "left", "metric": "psnr_hole", "method": "im", "mean": 13.0},
        {"mask": "left", "metric": "psnr_hole", "method": "yeh", "mean": 11.0},
        {"mask": "center", "metric": "accuracy", "method": "im", "mean": 0.5},
        {"mask": "center", "metric": "accuracy", "method": "yeh", "mean": 0.5},
        {"mask": "center", "metric": "accuracy", "method": "uncorrupted", "mean": 1.0},
    ])
    line = reading(summary, {"yeh": "Yeh"})
    assert line == ("hole PSNR best: Yeh on center (14.50 dB), im on left (13.00 dB); "
                    "semantic accuracy best: im = Yeh on center (50%).")
    assert reading(summary[summary["metric"] == "ssim"]) == ""


def test_benjamini_hochberg_matches_the_hand_computation():
    p = [0.01, 0.04, 0.03, math.nan, 0.5]
    # sorted 0.01, 0.03, 0.04, 0.5 (m = 4): 0.04, 0.06, 0.0533 -> monotone 0.04, 0.0533, 0.0533, 0.5
    adj = R.benjamini_hochberg(p)
    np.testing.assert_allclose(adj[[0, 2, 1, 4]], [0.04, 0.16 / 3, 0.16 / 3, 0.5])
    assert math.isnan(adj[3])


def test_markers_follow_the_adjusted_p_values(run_dir):
    s = R.summarize(load_rows(run_dir))
    tested = s["p_vs_yeh"].notna()
    np.testing.assert_allclose(s.loc[tested, "p_bh_vs_yeh"], R.benjamini_hochberg(s.loc[tested, "p_vs_yeh"]))
    assert (s["p_bh_vs_yeh"][tested] >= s["p_vs_yeh"][tested] - 1e-15).all()
    assert ((s["marker"] != "") == (s["p_bh_vs_yeh"] < 0.05)).all()
    # a raw p under 0.05 that the adjustment lifts above it loses its marker
    df = pd.DataFrame([{"image_id": i, "method": m, "mask": "center", "psnr": v, "error": ""}
                       for i in range(6) for m, v in (("yeh", 20.0 + i), ("a", 21.0 + i + 0.01 * i),
                                                      ("b", 20.0 + i + (0.3 if i % 2 else -0.2)))])
    from inpaintkit.report.stats import _direction as direction

    one = R.summarize(df)
    a = one[one["method"] == "a"].iloc[0]
    assert a["p_vs_yeh"] < 0.05 and a["p_bh_vs_yeh"] >= 0.05 and a["marker"] == ""
    assert direction(df[df["method"] == "a"]["psnr"], df[df["method"] == "yeh"]["psnr"]) == "↑"


def test_l1_is_read_lowest_first():
    summary = pd.DataFrame([{"mask": "center", "metric": "l1_hole", "method": m, "mean": v}
                            for m, v in (("yeh", 0.2), ("im", 0.1))])
    assert "im on center" in R.reading(summary, metrics=("l1_hole",))
