"""benchmarks/gan_compare/compare.py: one table from several generators' (and presets') runs."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, load_script

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


def test_runs_kept_as_meta_only_read_the_results_folders_joined_rows(runs):
    """A results folder may keep one rows.jsonl (with a run column) and only meta.json per run: the
    table is the same as from the runs' own rows, and a run with no rows anywhere is named."""
    dirs, out = runs
    args = ("--names", "old,new,new", "--presets", "best,best,fast", "--reference", "old")
    assert _compare(*dirs, *args, "--out", str(out)).returncode == 0
    joined = out.parent / "rows.jsonl"
    lines = []
    for d in map(Path, dirs):
        lines += [json.dumps({**json.loads(x), "run": d.name}) for x in (d / "rows.jsonl").read_text().splitlines()]
        (d / "rows.jsonl").unlink()
    joined.write_text("\n".join(lines) + "\n")
    again = out.with_name("again.md")
    r = _compare(*dirs, *args, "--out", str(again))
    assert r.returncode == 0, r.stderr
    assert again.read_text() == out.read_text()
    (out.parent / "gone").mkdir()
    bad = _compare(str(out.parent / "gone"), dirs[0], "--names", "a,b", "--reference", "a", "--out", str(again))
    assert bad.returncode != 0 and "no rows for" in bad.stderr and "run='gone'" in bad.stderr


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
    assert "| 1 of 2 |" in line and "| -0.25 [" in line  # the paired mean, with its 95% t-interval
    assert line.rstrip().endswith("| -0.25 [-9.78, +9.28] |")
    bad = subprocess.run([sys.executable, str(script), str(tmp_path), "--reference", "new", "--out", str(out)],
                         capture_output=True, text=True)
    assert bad.returncode != 0 and "none of the runs" in bad.stderr


_CURVES = _SCRIPT.with_name("curves.py")


def _snapshots(path: Path, rows: list[tuple], fit: bool = True) -> Path:
    head = "iter,fd_r18,kid,kid_std,n,n_real" + (",fit_psnr,fit_n" if fit else "")
    body = "".join(",".join(str(v) for v in r) + "\n" for r in rows)
    path.write_text(head + "\n" + body)
    return path


def _quality(path: Path, start: int = 1000, fit_start: int = 1000, n: int = 2000) -> Path:
    path.write_text(json.dumps({"fd_r18": 5.7, "fit_psnr": 16.4, "fit_start": fit_start, "fit_n": 16,
                                "meta": {"config": {"start": start, "n_real": 1000, "n": n, "fit_start": fit_start}}}))
    return path


def test_curves_overlays_runs_and_references(tmp_path):
    a = _snapshots(tmp_path / "a.csv", [(1000, 9.0, 0.01, 0.001, 2000, 1000), (2000, 7.0, 0.01, 0.001, 2000, 1000)],
                   fit=False)
    b = _snapshots(tmp_path / "b.csv", [(1000, 8.0, 0.01, 0.001, 2000, 1000, 15.0, 16),
                                        (2000, 6.0, 0.01, 0.001, 2000, 1000, "", "")])
    out = tmp_path / "c.png"
    r = subprocess.run([sys.executable, str(_CURVES), "--run", f"a={a}", "--run", f"b={b}",
                        "--reference", f"old={_quality(tmp_path / 'q.json')}", "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_size > 1000 and not list(tmp_path.glob("*.tmp.png"))


def test_curves_draws_each_series_where_it_has_values(tmp_path):
    """Run a has no fit column, so the fit panel shows only run b and the reference's fit line."""
    curves = load_script(str(_CURVES.relative_to(ROOT)))
    a = _snapshots(tmp_path / "a.csv", [(1000, 9.0, 0.01, 0.001, 2000, 1000)], fit=False)
    b = _snapshots(tmp_path / "b.csv", [(1000, 8.0, 0.01, 0.001, 2000, 1000, 15.0, 16)])
    runs = {"a": curves.read_run(a), "b": curves.read_run(b)}
    refs = {"old": curves.read_reference(_quality(tmp_path / "q.json"))}
    drawn = curves.plot(runs, refs, tmp_path / "c.png", "t")
    assert drawn == {"fd_r18": ["a", "b", "old"], "fit_psnr": ["b", "old"]}


def test_curves_refuses_runs_scored_on_different_protocols(tmp_path):
    a = _snapshots(tmp_path / "a.csv", [(1000, 9.0, 0.01, 0.001, 2000, 1000)])
    b = _snapshots(tmp_path / "b.csv", [(1000, 9.0, 0.01, 0.001, 1000, 1000)])
    r = subprocess.run([sys.executable, str(_CURVES), "--run", f"a={a}", "--run", f"b={b}", "--out",
                        str(tmp_path / "c.png")], capture_output=True, text=True)
    assert r.returncode != 0 and "not comparable" in r.stderr
    assert not (tmp_path / "c.png").exists()


def test_curves_drops_a_reference_fit_on_other_images(tmp_path):
    a = _snapshots(tmp_path / "a.csv", [(1000, 9.0, 0.01, 0.001, 2000, 1000, 15.0, 16)])
    r = subprocess.run([sys.executable, str(_CURVES), "--run", f"a={a}", "--reference",
                        f"old={_quality(tmp_path / 'q.json', fit_start=200)}", "--out", str(tmp_path / "c.png")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "its fit line is left out" in r.stderr


def test_curves_names_a_missing_file(tmp_path):
    r = subprocess.run([sys.executable, str(_CURVES), "--run", f"a={tmp_path / 'none.csv'}", "--out",
                        str(tmp_path / "c.png")], capture_output=True, text=True)
    assert r.returncode != 0 and "none.csv" in r.stderr


_PICK = _SCRIPT.with_name("pick.py")


def _pick(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(_PICK), *args], capture_output=True, text=True)


def test_pick_applies_the_rule_from_the_first_iteration_allowed(tmp_path):
    csv = _snapshots(tmp_path / "snapshots.csv", [
        (9000, 4.0, 0.01, 0.001, 2000, 1000, 18.0, 16),    # best of both, but before --from
        (10000, 5.5, 0.01, 0.001, 2000, 1000, 17.0, 16),
        (11000, 5.2, 0.01, 0.001, 2000, 1000, 16.5, 16),   # lowest FD-R18 from 10,000
        (12000, 5.2, 0.01, 0.001, 2000, 1000, 16.9, 16),   # ties it, later: not picked
        (13000, 5.9, 0.01, 0.001, 2000, 1000, 17.0, 16)])  # ties the best fit, later: not picked
    r = _pick(str(csv), "--from", "10000")
    assert r.returncode == 0, r.stderr
    fd, fit = r.stdout.splitlines()
    assert fd.startswith("FD-R18 pick: 11000 (FD-R18 5.200)") and fd.endswith("snapshots/iter_0011000.pt")
    assert fit.startswith("fit pick: 10000 (fit 17.00 dB, FD-R18 5.500)")
    same = _pick(str(csv), "--from", "9000").stdout.splitlines()
    assert same[0].startswith("FD-R18 pick: 9000") and same[1] == "fit pick: the same snapshot (fit 18.00 dB)"


def test_pick_names_what_is_missing(tmp_path):
    csv = _snapshots(tmp_path / "s.csv", [(1000, 9.0, 0.01, 0.001, 2000, 1000)], fit=False)
    r = _pick(str(csv), "--from", "1000")
    assert r.returncode == 0 and r.stdout.splitlines()[1] == "fit pick: none (no fit scored)"
    late = _pick(str(csv), "--from", "5000")
    assert late.returncode != 0 and "no snapshot with an FD-R18 from iteration 5000 on" in late.stderr
    gone = _pick(str(tmp_path / "nope.csv"))
    assert gone.returncode != 0 and "no file" in gone.stderr
