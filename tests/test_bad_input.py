"""Bad inputs, through the command line as a user types them: every one ends with a non-zero exit,
one line that names the problem, no traceback, and no file outside ``--out`` changed.

The cases: overwritten inputs, run folders of another kind, mixed bench configurations, changed
settings on resume, NaN models, wrong numbers with exit 0, late validation, tracebacks, leftovers
of a kill and two writers on one folder. Every command fails cleanly, and no run loses or mixes
data.
"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from conftest import TINY_ARCH, _tiny_gan

from inpaintkit.cli import main

K = 4  # classes of the fixture data


# --- fixtures: one folder of inputs for the whole module (the cases must leave it as it was) ---------

def _write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    Image.fromarray(array).save(path)


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """Paths of the inputs: a tiny GAN, a classifier, labelled data, images, masks, bad files, and
    finished runs of train-gan and bench."""
    import classifiers as C
    from inpaintkit.models import save_gan

    root = tmp_path_factory.mktemp("inputs")
    rng = np.random.default_rng(0)
    g, d = _tiny_gan()
    save_gan(root / "g.pt", g, d, TINY_ARCH)
    with torch.no_grad():
        g.project.weight.fill_(float("nan"))
    save_gan(root / "nan.pt", g, d, TINY_ARCH)                   # what a diverged run wrote
    np.savez(root / "data.npz", images=rng.integers(0, 256, (24, 32, 32, 3), dtype=np.uint8),
             labels=(np.arange(24) % K).astype(np.int16))
    np.savez(root / "nonsquare.npz", images=rng.integers(0, 256, (4, 32, 40, 3), dtype=np.uint8))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = C.create_classifier("googlenet_tiny", K, width=0.125)
    C.save_classifier(root / "cls.pt", net, "googlenet_tiny",
                      {"num_classes": K, "image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3,
                       "model_kwargs": {"width": 0.125}}, class_names=[f"c{i}" for i in range(K)])
    _write_png(root / "x.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    (root / "photos").mkdir()
    _write_png(root / "photos" / "a.png", rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    known = np.full((32, 32), 255, np.uint8)
    _write_png(root / "white.png", known)                        # no hole
    hole = known.copy()
    hole[8:24, 8:24] = 0
    _write_png(root / "hole.png", hole)                          # a good mask
    grey = known.copy()
    grey[8:24, 8:24] = 128
    _write_png(root / "grey.png", grey)                          # not binary
    wide = np.full((32, 48), 255, np.uint8)
    wide[8:24, 8:24] = 0
    _write_png(root / "wide.png", wide)                          # another aspect ratio
    (root / "empty.pt").write_bytes(b"")
    (root / "notes.txt").write_text("not an npz file\n")
    m = np.ones((32, 32), np.uint8) * 255
    m[8:24, 8:24] = 0
    np.savez(root / "mask255.npz", center=m)                     # 0/255, not bool or 0/1
    # finished runs of two kinds
    res = CliRunner().invoke(main, ["train-gan", "--data", f"npz:{root}/data.npz", "--dry-run",
                                    "--iters", "2", "--out", str(root / "gan-run")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["bench", "--dry-run", "--n", "2", "--masks", "center",
                                    "--baselines", "biharmonic", "--out", str(root / "bench-run"),
                                    "--no-progress", "--no-report"])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(main, ["train-classifier", "--data", f"npz:{root}/data.npz", "--arch",
                                    "googlenet_tiny", "--model-kwargs", '{"width": 0.125}', "--batch-size",
                                    "8", "--epochs", "1", "--dry-run", "--out", str(root / "cls-run")])
    assert res.exit_code == 0, res.output
    paths = {k: str(root / f) for k, f in (
        ("G", "g.pt"), ("CLS", "cls.pt"), ("X", "x.png"), ("PHOTOS", "photos"), ("WHITE", "white.png"), ("HOLE", "hole.png"),
        ("GREY", "grey.png"), ("WIDE", "wide.png"), ("EMPTY", "empty.pt"), ("TXT", "notes.txt"),
        ("MASK255", "mask255.npz"), ("GANRUN", "gan-run"), ("BENCHRUN", "bench-run"),
        ("CLSRUN", "cls-run"), ("NAN", "nan.pt"))}
    paths.update(ROOT=str(root), DATA=f"npz:{root}/data.npz", NONSQUARE=f"npz:{root}/nonsquare.npz",
                 BADNPZ=f"npz:{root}/notes.txt", UNWRITABLE=f"{root}/x.png/out")
    return paths


def _snapshot(*roots: Path, skip: Path | None = None) -> dict[str, str]:
    """Content hash of every file under ``roots`` (``skip`` and what is under it left out)."""
    snap = {}
    for root in roots:
        for p in sorted(root.rglob("*")):
            if p.is_file() and not (skip is not None and (p == skip or skip in p.parents)):
                snap[str(p)] = hashlib.sha1(p.read_bytes()).hexdigest()
    return snap


def _fails_cleanly(args: list[str], match: str, roots: list[Path], out: Path | None) -> str:
    """Run a command; assert the clean failure and that nothing outside ``out`` changed."""
    before = _snapshot(*roots, skip=out)
    res = CliRunner().invoke(main, args)
    after = _snapshot(*roots, skip=out)
    assert res.exit_code != 0, res.output
    assert isinstance(res.exception, SystemExit), f"uncaught {res.exception!r}"
    assert "Traceback" not in res.output
    errors = [line for line in res.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, res.output
    assert len(res.output.split("Error:", 1)[1].strip().splitlines()) == 1, res.output
    assert match.lower() in errors[0].lower(), errors[0]
    changed = sorted(set(before) ^ set(after) | {k for k in before if after.get(k) != before[k]})
    assert not changed, f"files outside --out changed: {changed}"
    return errors[0]


# --- the command-line cases -----------------------------------------------------------------------------
# (id, command line with {PLACEHOLDERS} from env and {OUT} a fresh path, text the error must contain)

CASES = [
    # 1. inpaint overwrites its own input
    ("inpaint-out-is-input", "inpaint --gan {G} --image {X} --iters 1 --out {X}", "overwrite the input"),
    ("inpaint-folder-out-is-input", "inpaint --gan {G} --image {PHOTOS} --iters 1 --out {PHOTOS}",
     "overwrite the input"),
    ("inpaint-out-is-mask", "inpaint --gan {G} --image {X} --iters 1 --mask {HOLE} --out {HOLE}",
     "overwrite the input"),
    # 2. run folders of another kind
    ("bench-into-gan-run", "bench --dry-run --n 2 --masks center --baselines biharmonic --no-progress "
                           "--out {GANRUN}", "holds a train-gan run"),
    ("train-gan-into-bench-run", "train-gan --data {DATA} --dry-run --out {BENCHRUN}", "holds a bench run"),
    ("train-classifier-into-gan-run", "train-classifier --data {DATA} --arch googlenet_tiny --dry-run "
                                      "--out {GANRUN}", "holds a train-gan run"),
    ("inpaint-into-bench-run", "inpaint --gan {G} --image {PHOTOS} --iters 1 --out {BENCHRUN}",
     "holds a bench run"),
    ("train-context-encoder-into-gan-run", "train-context-encoder --data {DATA} --dry-run --out {GANRUN}",
     "holds a train-gan run"),
    # 4. NaN models are not written, nor read
    ("train-gan-diverges", "train-gan --data {DATA} --dry-run --lr 1e30 --out {OUT}", "non-finite"),
    ("inpaint-nan-gan", "inpaint --gan {NAN} --image {X} --iters 1 --out {OUT}/o.png", "NaN or inf"),
    ("bench-nan-gan", "bench --data {DATA} --gan {NAN} --baselines yeh --masks center --no-progress "
                      "--out {OUT}", "NaN or inf"),
    # 3. a resumed classifier run keeps its settings
    ("train-classifier-resume-changed", "train-classifier --data {DATA} --arch googlenet_tiny "
     "--model-kwargs {{\"width\":0.125}} --batch-size 8 --epochs 2 --dry-run --lr 0.5 --resume --out {CLSRUN}",
     "different configuration"),
    # 5. wrong numbers with exit 0
    ("eval-batch-negative", "eval-classifier --classifier {CLS} --data {DATA} --batch-size -4", "batch-size"),
    ("eval-batch-zero", "eval-classifier --classifier {CLS} --data {DATA} --batch-size 0", "batch-size"),
    ("bench-mask-file-0-255", "bench --dry-run --n 2 --masks center --baselines biharmonic "
                              "--mask-file {MASK255} --no-progress --out {OUT}", "holds values [0, 255]"),
    ("bench-non-square-data", "bench --data {NONSQUARE} --gan {G} --baselines biharmonic --masks center "
                              "--no-progress --out {OUT}", "square"),
    # 6. late validation: every mask before any model or row
    ("bench-random-1.5", "bench --dry-run --n 2 --masks center,random:1.5 --baselines biharmonic "
                         "--no-progress --out {OUT}", "random:1.5"),
    ("bench-blocks-0", "bench --dry-run --n 2 --masks center,blocks:0 --baselines biharmonic "
                       "--no-progress --out {OUT}", "blocks:0"),
    ("bench-grey-png", "bench --dry-run --n 2 --masks center,{GREY} --baselines biharmonic "
                       "--no-progress --out {OUT}", "grey levels"),
    ("bench-wide-png", "bench --dry-run --n 2 --masks center,{WIDE} --baselines biharmonic "
                       "--no-progress --out {OUT}", "aspect ratio"),
    ("bench-no-hole-png", "bench --dry-run --n 2 --masks center,{WHITE} --baselines biharmonic "
                          "--no-progress --out {OUT}", "no hole"),
    ("inpaint-no-hole-png", "inpaint --gan {G} --image {X} --iters 1 --mask {WHITE} --out {OUT}/o.png",
     "no hole"),
    ("inpaint-grey-png", "inpaint --gan {G} --image {X} --iters 1 --mask {GREY} --out {OUT}/o.png",
     "grey levels"),
    ("inpaint-file-mask", "inpaint --gan {G} --image {X} --iters 1 --mask file:x --out {OUT}/o.png",
     "--mask-file"),
    ("inpaint-blocks-0", "inpaint --gan {G} --image {X} --iters 1 --mask blocks:0 --out {OUT}/o.png",
     "at least one block"),
    ("bench-bad-loss", "bench --dry-run --n 2 --masks center --losses context,bogus=1 --no-progress "
                       "--out {OUT}", "bogus"),
    # tracebacks that were: bad npz files, unwritable --out, checkpoint errors
    ("train-gan-bad-npz", "train-gan --data {BADNPZ} --dry-run --out {OUT}", "not an npz file"),
    ("train-classifier-bad-npz", "train-classifier --data {BADNPZ} --dry-run --out {OUT}",
     "not an npz file"),
    ("eval-classifier-bad-npz", "eval-classifier --classifier {CLS} --data {BADNPZ}", "not an npz file"),
    ("preview-bad-npz", "data preview --data {BADNPZ} --n 4 --out {OUT}/p.png", "not an npz file"),
    ("train-gan-non-square", "train-gan --data {NONSQUARE} --dry-run --out {OUT}", "square"),
    ("train-classifier-resume-nothing", "train-classifier --data {DATA} --dry-run --resume --out {OUT}",
     "no "),
    ("eval-classifier-empty-ckpt", "eval-classifier --classifier {EMPTY} --data {DATA}", "file is empty"),
    ("eval-classifier-gan-ckpt", "eval-classifier --classifier {G} --data {DATA}",
     "not a classifier checkpoint"),
    ("inpaint-empty-ckpt", "inpaint --gan {EMPTY} --image {X} --iters 1 --out {OUT}/o.png", "file is empty"),
    ("bench-empty-ckpt", "bench --data {DATA} --gan {EMPTY} --baselines yeh --masks center "
                         "--no-progress --out {OUT}", "file is empty"),
    ("inpaint-classifier-is-gan", "inpaint --gan {G} --classifier {G} --image {X} --iters 1 "
                                  "--out {OUT}/o.png", "not a classifier checkpoint"),
    ("bench-unwritable", "bench --dry-run --n 2 --masks center --baselines biharmonic --no-progress "
                         "--out {UNWRITABLE}", "cannot write --out"),
    ("train-gan-unwritable", "train-gan --data {DATA} --dry-run --out {UNWRITABLE}", "cannot write --out"),
    ("train-classifier-unwritable", "train-classifier --data {DATA} --dry-run --out {UNWRITABLE}",
     "cannot write --out"),
    ("eval-classifier-unwritable", "eval-classifier --classifier {CLS} --data {DATA} "
                                   "--out {UNWRITABLE}/a.csv", "cannot write --out"),
    ("preview-unwritable", "data preview --data {DATA} --n 4 --out {UNWRITABLE}/p.png",
     "cannot write --out"),
    ("inpaint-unwritable", "inpaint --gan {G} --image {X} --iters 1 --out {UNWRITABLE}/o.png",
     "cannot write --out"),
    # inpaint options
    ("inpaint-lr-negative", "inpaint --gan {G} --image {X} --iters 1 --lr -1 --out {OUT}/o.png", "--lr"),
    ("inpaint-lr-nan", "inpaint --gan {G} --image {X} --iters 1 --lr nan --out {OUT}/o.png", "--lr"),
    ("inpaint-nesterov-lr-overflow", "inpaint --gan {G} --image {X} --iters 2 --optimizer nesterov "
                                     "--lr 1e308 --out {OUT}/o.png", "--lr"),
    ("inpaint-threads-negative", "inpaint --gan {G} --image {X} --iters 1 --threads -1 --out {OUT}/o.png",
     "--threads"),
    ("bench-lr-overflow", "bench --dry-run --n 2 --masks center --baselines yeh --lr 1e308 "
                          "--no-progress --out {OUT}", "--lr"),
]

# the same cases under /proc, where it exists (a folder nothing may create anything in)
if Path("/proc").is_dir():
    CASES += [(f"{name}-proc", cmd.replace("{UNWRITABLE}", "/proc/x"), "cannot write --out")
              for name, cmd, _ in list(CASES) if name.endswith("-unwritable")]

# --device tpu everywhere, and --device cuda where there is no GPU
_DEVICE_COMMANDS = {
    "inpaint": "inpaint --gan {G} --image {X} --iters 1 --out {OUT}/o.png",
    "train-gan": "train-gan --data {DATA} --dry-run --out {OUT}",
    "train-classifier": "train-classifier --data {DATA} --dry-run --out {OUT}",
    "eval-classifier": "eval-classifier --classifier {CLS} --data {DATA}",
    "bench": "bench --dry-run --n 2 --masks center --baselines biharmonic --no-progress --out {OUT}",
    "gan-quality": "gan-quality --gan {G} --data {DATA} --n-real 4 --n 4",
    "train-context-encoder": "train-context-encoder --data {DATA} --dry-run --out {OUT}",
}
for _name, _cmd in _DEVICE_COMMANDS.items():
    CASES.append((f"{_name}-device-tpu", _cmd + " --device tpu", "unknown device 'tpu'"))
    if not torch.cuda.is_available():
        CASES.append((f"{_name}-device-cuda", _cmd + " --device cuda", "CUDA is not available"))


@pytest.mark.parametrize("command,match", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_command_fails_cleanly(env, tmp_path, command, match):
    out = tmp_path / "out"
    args = [a.format(**env, OUT=out) for a in command.split()]
    _fails_cleanly(args, match, [Path(env["ROOT"]), tmp_path], out)
    if "train-gan" in command and "1e30" in command:  # 4. no NaN checkpoint was written
        assert not (out / "checkpoint.pt").exists()
    elif command.split()[0] in ("bench", "train-gan", "train-classifier", "train-context-encoder"):
        assert not out.exists(), "a refused run left its --out folder behind"


# --- 1. never write over a file the command did not create ------------------------------------------------

def test_inpaint_overwrites_only_its_own_files_or_with_overwrite(env, tmp_path):
    target = tmp_path / "result.png"
    target.write_bytes(b"someone's file")
    args = ["inpaint", "--gan", env["G"], "--image", env["X"], "--iters", "1", "--out", str(target)]
    _fails_cleanly(args, "--overwrite", [Path(env["ROOT"]), tmp_path], None)
    res = CliRunner().invoke(main, [*args, "--overwrite"])
    assert res.exit_code == 0, res.output
    assert target.read_bytes()[:4] == b"\x89PNG"
    res = CliRunner().invoke(main, args)  # its own output (listed in result.json) is replaced
    assert res.exit_code == 0, res.output


# --- 3. one configuration per bench folder ------------------------------------------------------------------

def _bench(out, *extra):
    return ["bench", "--dry-run", "--n", "1", "--masks", "center", "--baselines", "yeh,biharmonic",
            "--no-progress", "--no-report", "--out", str(out), *extra]


def test_bench_refuses_to_mix_configs_or_keeps_them_apart(env, tmp_path):
    out = tmp_path / "run"
    assert CliRunner().invoke(main, _bench(out, "--iters", "2")).exit_code == 0
    # new image ids with other settings: refused, naming the fields
    err = _fails_cleanly(_bench(out, "--start", "1", "--iters", "3", "--seed", "7"), "another configuration",
                         [Path(env["ROOT"]), tmp_path], None)
    assert "iters: 2 -> 3" in err and "seed: 0 -> 7" in err
    # --allow-mixed: the new configuration gets its own methods, the old rows stay as they were
    from inpaintkit.bench import read_rows

    old = {(r["image_id"], r["method"]): r["psnr"] for r in read_rows(out)}
    res = CliRunner().invoke(main, _bench(out, "--start", "1", "--iters", "3", "--seed", "7",
                                          "--allow-mixed"))
    assert res.exit_code == 0, res.output
    rows = read_rows(out)
    assert {(r["image_id"], r["method"]): r["psnr"] for r in rows if "@" not in r["method"]} == old
    mixed = [r for r in rows if "@" in r["method"]]
    assert {r["method"].split("@")[0] for r in mixed} == {"yeh", "biharmonic"}
    assert all(r["seed"] == 7 and r["image_id"] == 1 for r in mixed)
    assert any("iters=3" in r["method_label"] for r in mixed)
    # the same mixed command again resumes its own rows, and the table keeps the two apart
    res = CliRunner().invoke(main, _bench(out, "--start", "1", "--iters", "3", "--seed", "7",
                                          "--allow-mixed"))
    assert res.exit_code == 0 and "0 new" in res.output, res.output
    res = CliRunner().invoke(main, ["report", str(out), "--no-figures"])
    assert res.exit_code == 0, res.output
    header = next(line for line in res.output.splitlines() if line.startswith("| mask"))
    assert header.count("yeh") == 2 and header.count("biharmonic") == 2


def test_two_bench_processes_on_one_folder(env, tmp_path):
    from inpaintkit.utils import run_lock

    out = tmp_path / "run"
    with run_lock(out, "bench"):  # another process holding the folder
        _fails_cleanly(_bench(out), "another bench process", [Path(env["ROOT"])], None)
    assert CliRunner().invoke(main, _bench(out)).exit_code == 0  # released


# --- 3. train-gan --resume keeps the settings of the run --------------------------------------------------------

@pytest.mark.parametrize("option,value,field", [("--lr", "1e-3", "lr"), ("--batch-size", "4", "batch_size"),
                                                ("--seed", "5", "seed")])
def test_train_gan_resume_refuses_changed_settings(env, tmp_path, option, value, field):
    out = tmp_path / "gan"
    shutil.copytree(env["GANRUN"], out)
    args = ["train-gan", "--data", env["DATA"], "--dry-run", "--iters", "4", "--resume", "--out", str(out)]
    err = _fails_cleanly([*args, option, value], field, [Path(env["ROOT"]), tmp_path], None)
    assert "resume with the same" in err


def test_killed_train_gan_leftovers_are_removed_on_start(env, tmp_path):
    out = tmp_path / "gan"
    shutil.copytree(env["GANRUN"], out)
    stale = out / ".checkpoint.pt.k1ll3d.tmp"
    stale.write_bytes(b"")
    res = CliRunner().invoke(main, ["train-gan", "--data", env["DATA"], "--dry-run", "--iters", "4",
                                    "--resume", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert not stale.exists()


# --- 4. training stops at the first non-finite loss and keeps the last finite checkpoint ------------------

def test_train_gan_keeps_the_last_finite_checkpoint(env, tmp_path, monkeypatch):
    import inpaintkit.train_gan as tg
    from inpaintkit.models import read_checkpoint

    calls = {"n": 0}
    real = tg._d_loss

    def nan_at_third(kind, l_real, l_fake):
        calls["n"] += 1
        loss = real(kind, l_real, l_fake)
        return loss * float("nan") if calls["n"] == 3 else loss

    monkeypatch.setattr(tg, "_d_loss", nan_at_third)
    out = tmp_path / "gan"
    err = _fails_cleanly(["train-gan", "--data", env["DATA"], "--dry-run", "--iters", "4", "--out", str(out)],
                         "iteration 3", [Path(env["ROOT"])], out)
    assert "D loss" in err and "last finite checkpoint" in err
    ckpt = read_checkpoint(out / "checkpoint.pt")
    assert ckpt["train_state"]["iteration"] == 2
    assert all(torch.isfinite(v).all() for part in ckpt["state_dict"].values() for v in part.values()
               if v.is_floating_point())


# --- 5. a run in which every row failed exits non-zero, and its report says why ------------------------------

def test_bench_where_every_row_fails(env, tmp_path, monkeypatch):
    import inpaintkit.bench.runner as R

    def broken(*args, **kwargs):
        raise RuntimeError("the method broke")

    monkeypatch.setattr(R, "_run_images", broken)
    out = tmp_path / "run"
    err = _fails_cleanly(_bench(out), "failed", [Path(env["ROOT"])], out)
    assert "the method broke" in err
    assert json.loads((out / "meta.json").read_text())["status"] == "failed"
    _fails_cleanly(["report", str(out)], "every one of the 2 rows", [Path(env["ROOT"])], out / "report")


# --- report over damaged rows files ----------------------------------------------------------------------------

@pytest.mark.parametrize("damage,match", [
    (b'{"image_id": 0, "method": \n', "rows.jsonl:3 is not a JSON row"),
    (b"\x89PNG\r\n\x1a\n\x00\xff\xfe\n", "is not text"),
    (b"[1, 2, 3]\n", "is not a benchmark row"),
], ids=["corrupt-line", "binary", "not-a-row"])
def test_report_on_a_damaged_rows_file(env, tmp_path, damage, match):
    run = tmp_path / "run"
    shutil.copytree(env["BENCHRUN"], run)
    with open(run / "rows.jsonl", "ab") as f:
        f.write(damage)
    _fails_cleanly(["report", str(run), "--no-figures"], match, [Path(env["ROOT"]), tmp_path],
                   run / "report")


def test_report_over_a_truncated_last_line_warns_and_counts(env, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(env["BENCHRUN"], run)
    with open(run / "rows.jsonl", "ab") as f:
        f.write(b'{"image_id": 1, "method": "biharm')
    res = CliRunner().invoke(main, ["report", str(run), "--no-figures"])
    assert res.exit_code == 0, res.output
    warning = next(line for line in res.output.splitlines() if line.startswith("warning:"))
    assert "incomplete line" in warning and "2 complete rows were read" in warning
