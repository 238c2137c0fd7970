"""``inpaintkit inpaint``, ``losses`` and ``masks`` end to end through click's CliRunner."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from inpaintkit.cli import main
from inpaintkit.inpaint import InpaintConfig, InpaintError, inpaint


def _write_image(path: Path, h: int, w: int, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.stack([xx * 255 // max(w - 1, 1), yy * 255 // max(h - 1, 1), np.full((h, w), 90)], -1)
    img = np.clip(img + rng.integers(-20, 20, (h, w, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(img).save(path)
    return path


def _run(args, ok=True):
    res = CliRunner().invoke(main, [str(a) for a in args])
    if ok:
        assert res.exit_code == 0, res.output + repr(res.exception)
    return res


def test_inpaint_one_image_end_to_end(tiny_checkpoint, tmp_path):
    img = _write_image(tmp_path / "car.jpg", 31, 37)  # odd, non-square: cropped and resized
    out = tmp_path / "result.png"
    res = _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", out, "--iters", 12,
                "--mask", "center", "--save-all", "--seed", 1, "--device", "cpu"])
    assert "centre-cropped to 31x31 -> resized to 32x32" in res.output
    assert "losses: context[weighted]=1,prior[paper]=0.003" in res.output
    result = np.asarray(Image.open(out))
    assert result.shape == (32, 32, 3)
    for suffix in ("masked", "generated", "overlay", "mask", "losses"):
        assert (tmp_path / f"result_{suffix}.png").is_file(), suffix
    rec = json.loads((tmp_path / "result.json").read_text())
    assert rec["image_size"] == 32 and rec["losses"] == "context[weighted]=1,prior[paper]=0.003"
    assert rec["metadata"]["versions"]["torch"] and "argv" in rec["metadata"]
    (image_rec,) = rec["images"]
    assert set(image_rec["losses"]) == {"total", "context", "prior"}
    # the known pixels of the output are those of the (cropped, resized) input
    from inpaintkit.inpaint import load_image_batch
    from inpaintkit.masks import make_mask

    x, _ = load_image_batch([img], 32)
    known = make_mask("center", 32, seed=1)[0, 0].numpy() > 0
    from inpaintkit.utils import to_uint8

    np.testing.assert_array_equal(result[known], to_uint8(x)[0][known])
    # same seed, same result
    out2 = tmp_path / "again.png"
    _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", out2, "--iters", 12,
          "--seed", 1])
    np.testing.assert_array_equal(np.asarray(Image.open(out2)), result)


def test_inpaint_folder_runs_batched_and_is_batch_size_invariant(tiny_checkpoint, tmp_path):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        _write_image(folder / f"im{i}.png", 32, 32, seed=i)
    (folder / "notes.txt").write_text("not an image")
    common = ["inpaint", "--gan", tiny_checkpoint, "--image", folder, "--iters", 6, "--mask",
              "random:0.7", "--blend", "overlay", "--optimizer", "nesterov", "--restarts", 2]
    _run(common + ["--out", tmp_path / "a", "--batch-size", 3])
    res = _run(common + ["--out", tmp_path / "b", "--batch-size", 2])
    assert "images 1-2 of 3" in res.output
    rec = json.loads((tmp_path / "b" / "run.json").read_text())
    assert [Path(r["output"]).name for r in rec["images"]] == ["im0.png", "im1.png", "im2.png"]
    assert rec["losses"] == "context[weighted]=1,prior[paper]=0.003"  # random-mask defaults apply to inpaint/sem/cat only
    for i in range(3):
        a = np.asarray(Image.open(tmp_path / "a" / f"im{i}.png")).astype(int)
        b = np.asarray(Image.open(tmp_path / "b" / f"im{i}.png")).astype(int)
        assert np.abs(a - b).max() <= 1  # same per-image seeds whatever the batching


def test_restart_reduce_mean_changes_the_fill_not_the_known_pixels(tiny_checkpoint, tmp_path):
    img = _write_image(tmp_path / "x.png", 32, 32)
    common = ["inpaint", "--gan", tiny_checkpoint, "--image", img, "--iters", 4, "--restarts", 3,
              "--blend", "overlay"]
    _run(common + ["--out", tmp_path / "best.png"])
    _run(common + ["--out", tmp_path / "mean.png", "--restart-reduce", "mean"])
    best = np.asarray(Image.open(tmp_path / "best.png")).astype(int)
    mean = np.asarray(Image.open(tmp_path / "mean.png")).astype(int)
    hole = np.zeros(best.shape[:2], bool)
    hole[8:24, 8:24] = True  # the center mask at 32x32
    assert np.array_equal(best[~hole], mean[~hole]) and not np.array_equal(best[hole], mean[hole])


def test_random_mask_weights_are_the_default(tiny_checkpoint, tmp_path):
    img = _write_image(tmp_path / "x.png", 32, 32)
    res = _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", tmp_path / "o.png",
                "--iters", 2, "--mask", "random:0.7", "--losses", "context,prior,inpaint"])
    assert "inpaint[paper]=30" in res.output


def test_inpaint_with_a_classifier(tiny_checkpoint, tmp_path):
    classifiers = pytest.importorskip("classifiers")
    if not hasattr(classifiers, "load_feature_network"):
        pytest.skip("classifiers.load_feature_network is not available")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = classifiers.create_classifier("googlenet_tiny", 5, width=0.125)
    cfg = {"num_classes": 5, "image_size": 32, "mean": [0.5] * 3, "std": [0.25] * 3,
           "model_kwargs": {"width": 0.125}}
    ckpt = tmp_path / "clf.pt"
    classifiers.save_classifier(ckpt, model, "googlenet_tiny", cfg)
    img = _write_image(tmp_path / "x.png", 32, 32)
    res = _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", tmp_path / "o.png",
                "--iters", 3, "--classifier", ckpt, "--losses", "context,prior,inpaint,sem,cat"])
    assert "sem[layers=inception3b+inception4b]=150,cat=8" in res.output
    rec = json.loads((tmp_path / "o.json").read_text())
    assert set(rec["images"][0]["losses"]) == {"total", "context", "prior", "inpaint", "sem", "cat"}
    # with a classifier and no --losses: --preset best's loss set; --preset best: its search too
    for extra, name in (([], "d.png"), (["--preset", "best"], "b.png")):
        res = _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", tmp_path / name,
                    "--iters", 3, "--classifier", ckpt, *extra])
        assert "sem[known" in res.output and "=auto:1" in res.output and "cat" not in res.output
        rec = json.loads((tmp_path / name).with_suffix(".json").read_text())
        assert set(rec["images"][0]["losses"]) == {"total", "context", "prior", "sem"}
    assert rec["search"]["iters"] == 3  # explicit options win over the preset
    assert rec["search"]["restarts"] == 4 and rec["search"]["restart_reduce"] == "mean"
    assert rec["search"]["lr"] == 0.03 and rec["search"]["optimizer"] == "adam"
    # a classifier for another image size is refused
    cfg64 = dict(cfg, image_size=64)
    classifiers.save_classifier(tmp_path / "clf64.pt", model, "googlenet_tiny", cfg64)
    res = _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", tmp_path / "p.png",
                "--iters", 1, "--classifier", tmp_path / "clf64.pt"], ok=False)
    assert res.exit_code != 0 and "64x64" in res.output


def test_inpaint_fast_preset_and_best_without_a_classifier(tiny_checkpoint, tmp_path):
    from inpaintkit.inpaint import InpaintError, inpaint_preset_options

    img = _write_image(tmp_path / "x.png", 32, 32)
    _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", tmp_path / "f.png",
          "--preset", "fast", "--iters", 2])
    rec = json.loads((tmp_path / "f.json").read_text())
    assert rec["losses"] == "context[weighted]=1,prior[paper]=0.003"
    assert (rec["search"]["iters"], rec["search"]["restarts"], rec["search"]["restart_reduce"]) == (2, 4, "mean")
    res = _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", tmp_path / "b.png",
                "--preset", "best"], ok=False)
    assert res.exit_code != 0 and "--preset best needs --classifier" in res.output
    assert not (tmp_path / "b.png").exists()
    assert inpaint_preset_options("fast") == {"losses": "context,prior", "optimizer": "adam", "iters": 100,
                                              "lr": 0.03, "restarts": 4, "restart_reduce": "mean",
                                              "blend": "poisson"}
    with pytest.raises(InpaintError, match="unknown inpaint preset"):
        inpaint_preset_options("paper-table1")


def test_inpaint_cli_preset_choices_are_inpaint_presets():
    """The CLI lists the presets literally (inpaintkit.inpaint imports torch, the CLI module must
    not): the two lists must not drift apart."""
    from inpaintkit.cli.inpaint import inpaint_cmd
    from inpaintkit.inpaint import INPAINT_PRESETS

    (opt,) = [p for p in inpaint_cmd.params if p.name == "preset"]
    assert tuple(opt.type.choices) == INPAINT_PRESETS


@pytest.mark.parametrize("extra, message", [
    (["--losses", "context,nope"], "unknown loss 'nope'"),
    (["--losses", "context,prior=-1"], "finite number >= 0"),
    (["--losses", "context,sem"], "feature network"),
    (["--mask", "moon"], "unknown mask 'moon'"),
])
def test_bad_options_are_usage_errors(tiny_checkpoint, tmp_path, extra, message):
    img = _write_image(tmp_path / "x.png", 32, 32)
    res = _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--out", tmp_path / "o.png",
                "--iters", 1] + extra, ok=False)
    assert res.exit_code == 2 and message in res.output, res.output
    assert not (tmp_path / "o.png").exists()


def test_bad_files_are_clear_errors(tiny_checkpoint, tmp_path):
    good = _write_image(tmp_path / "x.png", 32, 32)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"this is not a PNG")
    base = ["inpaint", "--gan", tiny_checkpoint, "--iters", 1]
    res = _run(base + ["--image", bad, "--out", tmp_path / "o.png"], ok=False)
    assert res.exit_code == 2 and "cannot read image file" in res.output and "broken.png" in res.output
    res = _run(base + ["--image", tmp_path / "missing.png", "--out", tmp_path / "o.png"], ok=False)
    assert res.exit_code == 2 and "image not found" in res.output
    empty = tmp_path / "empty"
    empty.mkdir()
    res = _run(base + ["--image", empty, "--out", tmp_path / "o"], ok=False)
    assert res.exit_code == 2 and "no image files" in res.output
    white = tmp_path / "white.png"
    Image.fromarray(np.full((32, 32), 255, np.uint8)).save(white)
    res = _run(base + ["--image", good, "--mask", white, "--out", tmp_path / "o.png"], ok=False)
    assert res.exit_code == 2 and "no hole" in res.output
    not_gan = tmp_path / "not_gan.pt"
    torch.save({"format": "something/1"}, not_gan)
    res = _run(["inpaint", "--gan", not_gan, "--image", good, "--out", tmp_path / "o.png"], ok=False)
    assert res.exit_code == 1 and "not a DCGAN checkpoint" in res.output
    res = _run(["inpaint", "--gan", tmp_path / "nope.pt", "--image", good, "--out", tmp_path / "o.png"],
               ok=False)
    assert res.exit_code == 1 and "checkpoint not found" in res.output
    with pytest.raises(InpaintError, match="must be a folder"):
        inpaint(InpaintConfig(gan=str(tiny_checkpoint), image=str(tmp_path), out=str(tmp_path / "o.png")))


def test_png_mask_file(tiny_checkpoint, tmp_path):
    img = _write_image(tmp_path / "x.png", 32, 32)
    m = np.full((64, 64), 255, np.uint8)
    m[:, :20] = 0  # resized (nearest) to 32x32: the first 10 columns are the hole
    Image.fromarray(m).save(tmp_path / "m.png")
    _run(["inpaint", "--gan", tiny_checkpoint, "--image", img, "--mask", tmp_path / "m.png",
          "--out", tmp_path / "o.png", "--iters", 2, "--save-all"])
    saved = np.asarray(Image.open(tmp_path / "o_mask.png"))[..., 0]
    assert (saved[:, :10] == 0).all() and (saved[:, 10:] == 255).all()


def test_losses_and_masks_commands_list_the_registries():
    res = _run(["losses"])
    for name, weight, random_weight in [("context", "1", "1"), ("prior", "0.003", "0.003"),
                                        ("inpaint", "3", "30"), ("sem", "150", "8"), ("cat", "8", "0.4")]:
        line = next(ln for ln in res.output.splitlines() if ln.startswith(name + " "))
        assert line.split()[1:3] == [weight, random_weight], line
    assert "[weighted|l1|l2]" in res.output
    res = _run(["masks"])
    for name in ("center", "left", "right", "top", "bottom", "half", "random", "blocks"):
        assert any(ln.startswith(name + " ") for ln in res.output.splitlines()), name
    assert "random[:p]" in res.output


def test_inpaint_and_bench_make_the_same_fill_for_the_same_image_seed_and_options(tiny_checkpoint, tmp_path):
    """One seeding rule (per_image_seed): image i of an inpaint folder and image id i of a bench run
    get the same mask, the same starting latents, the same hole value (0) and so the same fill."""
    from types import SimpleNamespace

    from inpaintkit.bench import BenchConfig, image_masks, resolve_config
    from inpaintkit.bench.methods import search_batch
    from inpaintkit.inpaint import load_image_batch
    from inpaintkit.models import load_gan
    from inpaintkit.utils import to_uint8

    folder = tmp_path / "images"
    folder.mkdir()
    paths = [_write_image(folder / f"{i}.png", 32, 32, seed=i) for i in range(3)]
    seed, mask_spec = 5, "random:0.5"
    _run(["inpaint", "--gan", tiny_checkpoint, "--image", folder, "--out", tmp_path / "out",
          "--mask", mask_spec, "--iters", 4, "--restarts", 2, "--seed", seed, "--losses",
          "context,prior", "--device", "cpu"])

    rb = resolve_config(BenchConfig(losses=("context,prior",), baselines=("none",), masks=(mask_spec,),
                                    gan=str(tiny_checkpoint), iters=4, restarts=2, seed=seed,
                                    device="cpu"))
    g, d, _ = load_gan(tiny_checkpoint, device="cpu", with_discriminator=True)
    models = SimpleNamespace(generator=g, discriminator=d, feature_net=None)
    size = int(g.config.image_size)
    x, _ = load_image_batch(paths, size)
    ids = [0, 1, 2]
    known, source = image_masks(mask_spec, ids, (size, size), seed)
    assert source == "seeded"
    mask = torch.from_numpy(known[:, None].astype(np.float32))
    y = torch.where(mask.bool().expand_as(x), x, torch.zeros(()))  # as bench's runner does
    # batched differently from inpaint (one batch of 3): the fill must not depend on it
    out = torch.cat([search_batch(rb.methods[0], rb, models, y[i:i + 1], mask[i:i + 1],
                                  mask_spec=mask_spec, ids=[i]).output for i in ids])
    bench_u8 = to_uint8(out)
    for i in ids:
        inpaint_u8 = np.asarray(Image.open(tmp_path / "out" / f"{i}.png"))
        assert np.array_equal(inpaint_u8, bench_u8[i]), f"image {i}: inpaint and bench fills differ"
    # and the masks differ between images (the seed rule keys on the image)
    assert not np.array_equal(known[0], known[1])
