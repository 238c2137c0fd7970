"""The ``inpaintkit`` command line: a thin click layer over the library.

Each command parses its options and calls one library function. Heavy imports happen inside the
commands so that ``inpaintkit --help`` stays fast.
"""
from __future__ import annotations

import math
import os

import click

from . import __version__

#: What a bad input or environment raises inside the library: each becomes a one-line
#: ``Error: ...`` and exit status 1 instead of a traceback. ``INPAINTKIT_DEBUG=1`` shows the
#: traceback instead (for reporting a bug).
_USER_ERRORS = (ValueError, OSError, KeyError, ArithmeticError)


def _one_line(e: BaseException) -> str:
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    msg = " ".join(msg.split()) or type(e).__name__
    if isinstance(e, OSError) and not isinstance(e, FileNotFoundError) and e.filename:
        msg = f"{e.strerror or msg}: {e.filename}"
    return msg


class _Group(click.Group):
    """The command group: a library error ends the command with one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _USER_ERRORS as e:
            if os.environ.get("INPAINTKIT_DEBUG"):
                raise
            raise click.ClickException(_one_line(e)) from e


def _check_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from .utils import DeviceError, resolve_device

    try:
        resolve_device(value)
    except DeviceError as e:
        raise click.BadParameter(str(e)) from None
    return value


def _device_option(default: str | None = None):
    """``--device``, spelled and checked the same in every command (before any work starts)."""
    return click.option("--device", default=default, callback=_check_device,
                        show_default=default is not None,
                        help="cpu, cuda, cuda:1 ..." + ("" if default else " (default: cuda if available)."))


def _threads_option():
    return click.option("--threads", default=None, type=click.IntRange(1),
                        help="torch.set_num_threads for this process.")


def _check_lr(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    # 3.4e38 is float32's largest value: the search and training run in float32, so a larger
    # lr overflows in the first step instead of failing here
    if value is not None and not (math.isfinite(value) and 0 < value < 3.4e38):
        raise click.BadParameter(f"must be a positive finite number below 3.4e38 (float32), got {value}")
    return value


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Read ``--config run.toml`` into the command's defaults (explicit options still win)."""
    if value is None:
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise click.BadParameter("reading TOML needs Python 3.11, or the tomli package") from None
    try:
        with open(value, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise click.BadParameter(f"cannot read {value}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise click.BadParameter(f"{value} is not valid TOML: {e}") from None
    params = {p.name: p for p in ctx.command.params if p.name != "config"}
    names = set(params)
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    for k, v in values.items():  # a repeatable option may be given one value: masks = "center"
        if k in params and getattr(params[k], "multiple", False) and not isinstance(v, list):
            values[k] = [v]
    unknown = sorted(k for k in data if str(k).replace("-", "_") not in names)
    if unknown:
        raise click.BadParameter(f"{value}: unknown key(s) {', '.join(unknown)}; the keys are the "
                                 f"options of '{ctx.info_name}' (e.g. batch-size = 64)")
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return value


def _config_option():
    """``--config FILE.toml``: the same keys as the options, as defaults; copied into the run."""
    return click.option("--config", "config", default=None, is_eager=True, callback=_load_config,
                        type=click.Path(dir_okay=False),
                        help="A TOML file of option values (keys as the options: iters = 100, "
                             "batch-size = 32); options given on the command line win. Copied "
                             "into the run folder as config.toml.")


class _tidy_out:
    """Around a command that claims ``--out``: if it fails before writing anything there, the
    folder it created is removed again (a refused run leaves no empty folder behind)."""

    def __init__(self, out: str | os.PathLike) -> None:
        from pathlib import Path

        self.out = Path(out)
        self.fresh = not self.out.exists()

    def __enter__(self) -> "_tidy_out":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.fresh and int(os.environ.get("RANK", "0")) == 0:
            from .utils import remove_empty_run_dir

            remove_empty_run_dir(self.out)


def _keep_config(config: str | None, out: str | os.PathLike) -> None:
    if config:
        from pathlib import Path

        from .utils import atomic_write_bytes

        atomic_write_bytes(Path(out) / "config.toml", Path(config).read_bytes())


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"],
                                           "max_content_width": 100})
@click.version_option(__version__, prog_name="inpaintkit")
def main() -> None:
    """Semantic image inpainting with a GAN prior.

    Errors are one line; set INPAINTKIT_DEBUG=1 to see the traceback behind one.
    """


@main.command("models")
def models_cmd() -> None:
    """List the registered DCGAN architectures and their configs."""
    from .models import MODELS

    for name in MODELS.list():
        click.echo(f"{name:12s} {MODELS.build(name).to_dict()}")


@main.command("losses")
def losses_cmd() -> None:
    """List the registered loss terms: default weights, modes, options, inputs read."""
    from .losses import describe_losses

    click.echo(describe_losses())


@main.command("masks")
def masks_cmd() -> None:
    """List the registered mask generators and the spec forms --mask accepts."""
    from .masks import MASKS, __doc__ as doc

    for name in MASKS.list():
        first = (MASKS.get(name).__doc__ or "").strip().splitlines()
        click.echo(f"{name:8s} {first[0] if first else ''}")
    click.echo("\nSpec forms:" + doc.split("Spec strings", 1)[-1].split("\n", 1)[-1].rstrip())


@main.command("baselines")
def baselines_cmd() -> None:
    """List the classical inpainting baselines (bench --baselines NAMES) and their options."""
    from .baselines import baseline_options, describe_baseline, list_baselines

    for name in list_baselines():
        click.echo(f"{name:11s} {describe_baseline(name)}")
        click.echo(f"{'':11s}   options: {', '.join(baseline_options(name)) or '(none)'}")


@main.command("inpaint")
@click.option("--gan", required=True, type=click.Path(dir_okay=False), help="GAN checkpoint.")
@click.option("--image", required=True, type=click.Path(), help="An image file, or a folder (run batched).")
@click.option("--mask", default="center", show_default=True,
              help="center, left, right, top, bottom, half, random[:p], blocks[:n], thin, medium, "
                   "thick, or a PNG (white = known; see --mask-polarity).")
@click.option("--mask-polarity", type=click.Choice(["known", "hole"]), default="known",
              show_default=True, help="A PNG --mask: known = white is known; hole = white is the "
                                      "hole (LaMa's convention).")
@click.option("--losses", default=None, help="Loss spec, e.g. context,prior=0.003,sem=1e5,cat=1e6 "
              "(inpaintkit losses). [default: context,prior; all five with --classifier]")
@click.option("--classifier", default=None, type=click.Path(dir_okay=False),
              help="Classifier checkpoint for the sem/cat losses.")
@click.option("--iters", default=1500, show_default=True, type=click.IntRange(0))
@click.option("--optimizer", type=click.Choice(["adam", "nesterov"]), default="adam", show_default=True)
@click.option("--lr", default=None, type=float, callback=_check_lr,
              help="Search learning rate. [default: 0.01]")
@click.option("--restarts", default=1, show_default=True, type=click.IntRange(1),
              help="Random initialisations per image; the best is kept.")
@click.option("--restart-reduce", type=click.Choice(["best", "mean"]), default="best",
              show_default=True, help="best: the lowest-loss restart's fill; mean: the mean of the restarts' fills "
                   "(higher PSNR, softer).")
@click.option("--blend", type=click.Choice(["poisson", "overlay"]), default="poisson", show_default=True)
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1),
              help="Images per search batch (folders).")
@click.option("--save-all", is_flag=True, help="Also write the masked input, G(z), overlay, mask and loss curves.")
@_threads_option()
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds the masks and the starting latents.")
@_device_option()
@click.option("--out", required=True, type=click.Path(),
              help="Output image (e.g. out.png) for one image, or a folder.")
@click.option("--overwrite", is_flag=True,
              help="Replace existing files at the output paths that an earlier inpaint did not write.")
def inpaint_cmd(gan, image, mask, mask_polarity, losses, classifier, iters, optimizer, lr, restarts, restart_reduce,
                blend, batch_size, save_all, threads, seed, device, out, overwrite) -> None:
    """Inpaint an image (or a folder of images) with a trained GAN by latent search."""
    import torch

    from .inpaint import InpaintConfig, InpaintError, inpaint
    from .losses import LossSpecError
    from .masks import MaskError
    from .models import CheckpointError

    if threads:
        torch.set_num_threads(threads)
    cfg = InpaintConfig(gan=gan, image=image, out=out, mask=mask, mask_polarity=mask_polarity,
                        losses=losses, classifier=classifier,
                        iters=iters, optimizer=optimizer, lr=lr, restarts=restarts,
                        restart_reduce=restart_reduce, blend=blend,
                        seed=seed, device=device, save_all=save_all, batch_size=batch_size,
                        overwrite=overwrite)
    try:
        inpaint(cfg, progress=True, echo=click.echo)
    except (InpaintError, LossSpecError, MaskError, KeyError) as e:
        raise click.UsageError(str(e).strip('"')) from e
    except (CheckpointError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e


@main.group("data")
def data_group() -> None:
    """Datasets: list the registered ones, preview samples."""


@data_group.command("list")
def data_list_cmd() -> None:
    """List the registered datasets and their spec forms."""
    from .data import DATASETS

    for name in DATASETS.list():
        doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()
        click.echo(f"{name:16s} {doc[0] if doc else ''}")


@data_group.command("preview")
@click.option("--data", default="synthetic-cars", show_default=True, help="Dataset spec (inpaintkit data list).")
@click.option("--split", type=click.Choice(["train", "test", "val"]), default="train", show_default=True)
@click.option("--n", "n", default=64, show_default=True, type=click.IntRange(1), help="Number of samples.")
@click.option("--image-size", default=None, type=int, help="Resize to this side. [default: the dataset's]")
@click.option("--seed", default=0, show_default=True, type=int, help="Dataset seed and sample choice.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG grid; run metadata goes to OUT.json.")
def data_preview_cmd(data, split, n, image_size, seed, out) -> None:
    """Write a grid of dataset samples, captioned with their class names."""
    from .data import DatasetError
    from .data.preview import preview_dataset

    try:
        path = preview_dataset(data, out, split=split, n=n, seed=seed, image_size=image_size)
    except (DatasetError, KeyError) as e:
        raise click.ClickException(str(e).strip('"')) from e
    click.echo(f"wrote {path}")


@main.command("train-gan")
@_config_option()
@click.option("--data", default="synthetic-cars", show_default=True, help="Dataset spec (inpaintkit data list).")
@click.option("--arch", default="dcgan_64", show_default=True, help="DCGAN variant (inpaintkit models).")
@click.option("--iters", default=8000, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1),
              help="Global batch size; split across processes under torchrun.")
@click.option("--lr", default=2e-4, show_default=True, type=float, callback=_check_lr)
@click.option("--beta1", default=0.5, show_default=True, type=float)
@click.option("--nz", type=int, default=None, help="Override the variant's latent size.")
@click.option("--ngf", type=int, default=None)
@click.option("--ndf", type=int, default=None)
@click.option("--kernel-size", type=click.Choice(["4", "5"]), default=None)
@click.option("--no-flip", is_flag=True, help="Disable random horizontal flips.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 autocast (about 2x faster on CPUs with AVX512-BF16 or AMX and on GPUs; "
                   "much slower on CPUs without them, which get a warning).")
@click.option("--channels-last", is_flag=True, help="NHWC memory format (faster convolutions on CPU).")
@click.option("--sample-every", default=500, show_default=True, type=click.IntRange(1))
@click.option("--ckpt-every", default=250, show_default=True, type=click.IntRange(1))
@click.option("--snapshot-every", default=0, show_default=True, type=click.IntRange(0),
              help="Also keep snapshots/iter_N.pt (fp16 G and D) every N iterations; 0 = never.")
@click.option("--ema", default=0.0, show_default=True, type=float,
              help="Decay of an EMA of G's weights (e.g. 0.999), saved as the generator; 0 = off.")
@click.option("--diffaug", default="", show_default=True,
              help="DiffAugment policy for D's inputs, e.g. color,translation,cutout; empty = off.")
@click.option("--spectral-norm", is_flag=True, help="Spectral normalisation on D's weights.")
@click.option("--gan-loss", type=click.Choice(["bce", "hinge"]), default="bce", show_default=True)
@click.option("--fd-data", default="", help="Score every snapshot by FD-R18 against these real images "
              "(a dataset spec; needs --snapshot-every). [default: off]")
@click.option("--fd-classifier", default="", type=click.Path(dir_okay=False),
              help="Evaluator for FD-R18. [default: the bundled synthetic-cars evaluator]")
@click.option("--fd-split", type=click.Choice(["train", "test", "val"]), default="val", show_default=True)
@click.option("--fd-start", default=0, show_default=True, type=click.IntRange(0), help="First real image.")
@click.option("--fd-n-real", default=1000, show_default=True, type=click.IntRange(2))
@click.option("--fd-n", default=2000, show_default=True, type=click.IntRange(2), help="Samples per snapshot.")
@_threads_option()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--seed", default=0, show_default=True, type=int)
@_device_option()
@click.option("--dry-run", is_flag=True, help="A few steps of dcgan_test on 32x32 data, for CI.")
def train_gan_cmd(config, data, arch, iters, batch_size, lr, beta1, nz, ngf, ndf, kernel_size, no_flip,
                  precision, channels_last, sample_every, ckpt_every, snapshot_every, ema, diffaug, spectral_norm,
                  gan_loss, fd_data, fd_classifier, fd_split, fd_start, fd_n_real, fd_n, threads, out, resume, seed,
                  device, dry_run) -> None:
    """Train a DCGAN (Adam 2e-4, beta1 0.5, flips). Works under torchrun for DDP."""
    import torch

    from .train_gan import GANTrainConfig, train_gan

    if threads:
        torch.set_num_threads(threads)
    overrides = {k: v for k, v in {"nz": nz, "ngf": ngf, "ndf": ndf,
                                   "kernel_size": int(kernel_size) if kernel_size else None}.items()
                 if v is not None}
    if dry_run:
        arch, iters, batch_size = "dcgan_test", min(iters, 4), min(batch_size, 8)
        sample_every = ckpt_every = 2
    cfg = GANTrainConfig(data=data, arch=arch, iters=iters, batch_size=batch_size, lr=lr, beta1=beta1,
                         flip=not no_flip, seed=seed, precision=precision, channels_last=channels_last,
                         sample_every=sample_every, ckpt_every=ckpt_every,
                         snapshot_every=snapshot_every, model_overrides=overrides, ema=ema, diffaug=diffaug,
                         spectral_norm=spectral_norm, gan_loss=gan_loss, fd_data=fd_data,
                         fd_classifier=fd_classifier, fd_split=fd_split, fd_start=fd_start, fd_n_real=fd_n_real,
                         fd_n=fd_n)
    with _tidy_out(out):
        path = train_gan(cfg, out, resume=resume, device=device)
    if int(os.environ.get("RANK", "0")) == 0:
        _keep_config(config, out)
    click.echo(f"checkpoint: {path}")


@main.command("gan-quality")
@click.option("--gan", required=True, type=click.Path(dir_okay=False), help="GAN checkpoint (or snapshot).")
@click.option("--data", default="synthetic-cars", show_default=True, help="Real images (inpaintkit data list).")
@click.option("--split", type=click.Choice(["train", "test", "val"]), default="val", show_default=True)
@click.option("--start", default=0, show_default=True, type=click.IntRange(0), help="First real image.")
@click.option("--n-real", default=1000, show_default=True, type=click.IntRange(2), help="Number of real images.")
@click.option("--n", "n", default=2000, show_default=True, type=click.IntRange(2), help="Generator samples.")
@click.option("--eval-classifier", default=None, type=click.Path(dir_okay=False),
              help="Independent evaluator whose pooled deepest features FD-R18 uses. "
                   "[default: the bundled synthetic-cars evaluator]")
@click.option("--classifier", default=None, type=click.Path(dir_okay=False),
              help="Also report this classifier's mean top-class confidence and distinct classes.")
@click.option("--json", "json_out", default=None, type=click.Path(dir_okay=False), help="Write the record here.")
@_threads_option()
@click.option("--seed", default=0, show_default=True, type=int, help="Seeds the latent draw.")
@_device_option()
def gan_quality_cmd(gan, data, split, start, n_real, n, eval_classifier, classifier, json_out, threads, seed,
                    device) -> None:
    """FD-R18 (Fréchet distance on an independent classifier's features; not FID) and KID of a GAN."""
    import torch

    from .utils import atomic_write_json, run_metadata
    from .quality import QualityConfig, generator_quality

    if threads:
        torch.set_num_threads(threads)
    cfg = QualityConfig(data=data, split=split, start=start, n_real=n_real, n=n, eval_classifier=eval_classifier,
                        classifier=classifier, seed=seed)
    try:
        rec = generator_quality(gan, cfg, device=device)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    line = f"FD-R18 {rec['fd_r18']:.3f}  KID {rec['kid']:.4f} ± {rec['kid_std']:.4f}  ({n} samples vs {n_real} real)"
    if "confidence" in rec:
        line += f"  confidence {rec['confidence']:.3f}  distinct classes {rec['classes']}"
    click.echo(line)
    if json_out:
        atomic_write_json(json_out, {**rec, "meta": run_metadata(vars(cfg))})


@main.command("train-context-encoder")
@click.option("--data", default="synthetic-cars", show_default=True, help="Dataset spec (inpaintkit data list).")
@click.option("--image-size", default=64, show_default=True, type=int, help="Training side (power of two >= 16).")
@click.option("--iters", default=6000, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1),
              help="Global batch size; split across processes under torchrun.")
@click.option("--lr", default=2e-4, show_default=True, type=float, callback=_check_lr)
@click.option("--beta1", default=0.5, show_default=True, type=float)
@click.option("--w-adv", default=0.001, show_default=True, type=float,
              help="Adversarial loss weight; the reconstruction weight is 1 - w_adv (Pathak et al.).")
@click.option("--masks", default="center,half,random,blocks", show_default=True,
              help="Mask kinds of the training mixture (center, half, random, blocks).")
@click.option("--nef", default=64, show_default=True, type=click.IntRange(1), help="Encoder width.")
@click.option("--ngf", default=64, show_default=True, type=click.IntRange(1), help="Decoder width.")
@click.option("--ndf", default=64, show_default=True, type=click.IntRange(1), help="Discriminator width.")
@click.option("--no-flip", is_flag=True, help="Disable random horizontal flips.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 autocast (fast only where bf16 is native: GPUs, AVX512-BF16/AMX CPUs).")
@click.option("--channels-last", is_flag=True, help="NHWC memory format (faster convolutions on CPU).")
@click.option("--sample-every", default=500, show_default=True, type=click.IntRange(1))
@click.option("--ckpt-every", default=250, show_default=True, type=click.IntRange(1))
@click.option("--threads", type=click.IntRange(1), default=None, help="torch.set_num_threads for this process.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--seed", default=0, show_default=True, type=int)
@_device_option()
@click.option("--dry-run", is_flag=True, help="A few steps of a tiny 32x32 model, for CI.")
def train_context_encoder_cmd(data, image_size, iters, batch_size, lr, beta1, w_adv, masks, nef,
                              ngf, ndf, no_flip, precision, channels_last, sample_every, ckpt_every,
                              threads, out, resume, seed, device, dry_run) -> None:
    """Train a Context Encoder (Pathak et al. 2016) for the ce baseline; works under torchrun.

    The release file DIR/context-encoder.pt (fp16, no discriminator) is what bench --ce loads.
    """
    import torch

    from .data import DatasetError
    from .models import CheckpointError
    from .train_context_encoder import CETrainConfig, train_context_encoder

    if threads:
        torch.set_num_threads(threads)
    if dry_run:
        image_size, iters, batch_size = 32, min(iters, 4), min(batch_size, 8)
        nef, ngf, ndf, sample_every, ckpt_every = 8, 8, 8, 2, 2
    cfg = CETrainConfig(data=data, image_size=image_size, iters=iters, batch_size=batch_size,
                        lr=lr, beta1=beta1, w_rec=1.0 - w_adv, w_adv=w_adv,
                        masks=tuple(k.strip() for k in masks.split(",") if k.strip()), nef=nef,
                        ngf=ngf, ndf=ndf, flip=not no_flip, seed=seed, precision=precision,
                        channels_last=channels_last, sample_every=sample_every,
                        ckpt_every=ckpt_every)
    try:
        with _tidy_out(out):
            if int(os.environ.get("RANK", "0")) == 0:
                from .utils import claim_run_dir

                claim_run_dir(out, "inpaintkit.train-context-encoder")
            path = train_context_encoder(cfg, out, resume=resume, device=device)
    except (ValueError, FileExistsError, FileNotFoundError, KeyError, DatasetError,
            CheckpointError) as e:
        raise click.UsageError(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)) \
            from e
    click.echo(f"context encoder: {path}")


@main.command("bench")
@_config_option()
@click.option("--losses", multiple=True,
              help="A loss set to benchmark, e.g. context,prior,sem,cat; repeat for several. Each "
                   "is one method, labelled by its spec.")
@click.option("--baselines", multiple=True,
              help="Comma-separated baselines (im, tv, lowrank, biharmonic, nn, telea, ce...) "
                   "and yeh (= the search with context,prior); 'none' for none. Default with "
                   "--losses: im,yeh.")
@click.option("--masks", multiple=True,
              help="Comma-separated mask specs. [default: center,left,random:0.7]")
@click.option("--data", default=None, help="Dataset spec. [default: the built-in synthetic-cars]")
@click.option("--split", default=None, help="train, test or val. [default: test]")
@click.option("--gan", default=None, type=click.Path(dir_okay=False), help="GAN checkpoint.")
@click.option("--classifier", default=None, type=click.Path(dir_okay=False),
              help="Classifier checkpoint for the sem/cat losses.")
@click.option("--eval-classifier", default=None, type=click.Path(dir_okay=False),
              help="An independent classifier: adds semantic accuracy (when the data has labels).")
@click.option("--mask-file", default=None, type=click.Path(),
              help="npz of named (H, W) masks for every image (stanford-cars-64/masks.npz) and "
                   "(N, H, W) per-image sets, or a folder of PNG masks (by image index or file "
                   "name); per-image sets run as file:NAME. Bool or 0/1.")
@click.option("--mask-polarity", type=click.Choice(["known", "hole"]), default=None,
              help="How --mask-file and PNG masks read: known = white/1 is a known pixel; hole = "
                   "white/1 is the hole (LaMa's convention). [default: known]")
@click.option("--pool", default=None,
              help="Dataset spec of the training images for the nn baseline.")
@click.option("--ce", default=None, type=click.Path(dir_okay=False),
              help="Context Encoder checkpoint for the ce baseline (train-context-encoder); "
                   "given, ce joins the default baselines. [default on synthetic-cars: bundled]")
@click.option("--n", "-n", "n", default=None, type=int,
              help="Benchmark the first N images (from --start). [default: all]")
@click.option("--start", default=0, show_default=True, type=click.IntRange(0),
              help="Index of the first image, e.g. 100 to tune on images the test set leaves out.")
@click.option("--iters", default=None, type=int, help="Search iterations. [default: 1500]")
@click.option("--restarts", default=None, type=int, help="Random restarts per image. [default: 1]")
@click.option("--restart-reduce", default=None,
              help="best: the lowest-loss restart's fill; mean: the mean of the restarts' fills "
                   "(higher PSNR, softer). [default: best]")
@click.option("--optimizer", default=None, help="adam or nesterov. [default: adam]")
@click.option("--lr", default=None, type=float, callback=_check_lr,
              help="Search learning rate. [default: the optimiser's]")
@click.option("--weights", "weights", default=None,
              help="Default-weight table for terms given without a weight: calibrated, eth (the "
                   "ETH study's, which saturate z), or ratio (sem, cat at auto:R). [default: "
                   "calibrated; the demo: ratio]")
@click.option("--precision", default=None,
              help="fp32 or bf16: the search's networks under bfloat16 autocast. [default: fp32]")
@click.option("--monitor", multiple=True, help="Loss terms to record with weight 0 in every search "
              "(for the loss-curve figure), or 'all'.")
@click.option("--blend", default=None, help="poisson or overlay: how search outputs are scored. "
              "[default: poisson]")
@click.option("--batch-size", default=None, type=int, help="Images per batch. [default: 64]")
@click.option("--save-images", default=None, type=int,
              help="Save the outputs of the first N images for the grids (-1: all). [default: 16]")
@click.option("--seed", default=0, show_default=True, type=int)
@_device_option()
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Run directory; rerunning with the same --out resumes. "
                   "[default: runs/bench-<hash of the options>]")
@click.option("--preset", default=None,
              help="paper-table1: SPEC.md's protocol; best: the best configuration found on "
                   "Stanford Cars (explicit options win).")
@click.option("--dry-run", is_flag=True, help="Tiny random models on a handful of images, for CI.")
@click.option("--retry-errors", is_flag=True, help="Recompute rows that failed in an earlier run.")
@click.option("--lpips", is_flag=True,
              help="Add LPIPS columns (AlexNet), only if its ImageNet weights are already on disk "
                   "(never downloaded; the error names the file).")
@click.option("--shard", default=None, metavar="I/N",
              help="Run only shard I of N (1-based) disjoint image shards into --out, e.g. one "
                   "task of a Slurm job array; then 'inpaintkit merge OUT'.")
@click.option("--allow-mixed", is_flag=True,
              help="Rerun into an --out holding rows of another configuration: methods whose "
                   "settings differ are stored as NAME@HASH, so the tables keep them apart. "
                   "[default: refuse, naming the differing settings]")
@click.option("--no-report", is_flag=True, help="Skip the report at the end.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def bench_cmd(config, losses, baselines, masks, data, split, gan, classifier, eval_classifier, mask_file,
              mask_polarity, pool, ce, n, start, iters, restarts, restart_reduce, optimizer, lr, weights,
              precision, monitor, blend,
              batch_size,
              save_images, seed, device, out, preset, dry_run, retry_errors, lpips, shard, allow_mixed,
              no_report, no_progress) -> None:
    """Benchmark loss sets and baselines on the same images and masks; print the table.

    With no --data/--gan/--classifier it runs the built-in demo: the bundled synthetic-cars models
    on 32 synthetic-cars test images, scaled down to finish in minutes on a CPU.
    """
    from .bench import BenchConfig, BenchError, BenchFailed, run_bench

    cfg = BenchConfig(
        losses=losses or None, baselines=baselines or None, masks=masks or None, data=data,
        split=split, gan=gan, classifier=classifier, eval_classifier=eval_classifier,
        mask_file=mask_file, mask_polarity=mask_polarity, pool=pool, ce=ce, n=n, start=start, iters=iters, restarts=restarts,
        restart_reduce=restart_reduce, optimizer=optimizer,
        lr=lr, weights=weights, precision=precision, monitor=monitor or None, blend=blend, batch_size=batch_size,
        save_images=save_images,
        seed=seed, device=device, out=out, preset=preset, dry_run=dry_run,
        retry_errors=retry_errors, allow_mixed=allow_mixed, shard=shard, lpips=lpips,
        progress=not no_progress,
        report=not no_report)
    try:
        result = run_bench(cfg, echo=click.echo)
    except BenchError as e:
        raise click.UsageError(str(e)) from e
    except BenchFailed as e:
        raise click.ClickException(str(e)) from e
    if int(os.environ.get("RANK", "0")) == 0:
        _keep_config(config, result.out)


@main.command("merge")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--no-report", is_flag=True, help="Skip the report.")
def merge_cmd(run_dir, no_report) -> None:
    """Merge the shards of a 'bench --shard I/N' run in RUN_DIR and write its report.

    Checks that all N shards completed with one configuration and that every (image, method,
    mask) is there exactly once.
    """
    from .shards import merge_shards

    merge_shards(run_dir, report=not no_report, echo=click.echo)


@main.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--compare", default=None, type=click.Path(exists=True, file_okay=False),
              help="Another run directory to put side by side.")
@click.option("--output", type=click.Choice(["scored", "overlay"]), default="scored",
              show_default=True,
              help="scored: the blended output of searches (as run); overlay: the plain composite.")
@click.option("--no-figures", is_flag=True, help="Tables only.")
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap resampling seed.")
@click.option("--fd-evaluator", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Evaluator classifier for FD-R18/KID of the saved outputs. "
                   "[default: the run's --eval-classifier]")
@click.option("--no-fd", is_flag=True, help="No FD-R18/KID section.")
def report_cmd(run_dir, compare, output, no_figures, seed, fd_evaluator, no_fd) -> None:
    """Tables (Markdown, CSV, LaTeX) and figures from a bench run's rows, into RUN_DIR/report."""
    from .report import make_report

    try:
        make_report(run_dir, compare=compare, output=output, figures=not no_figures, seed=seed,
                    echo=click.echo, distribution=not no_fd, evaluator=fd_evaluator)
    except FileNotFoundError as e:
        raise click.UsageError(str(e)) from e


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _floats(text: str | None) -> tuple[float, ...] | None:
    return None if text is None else tuple(float(t) for t in text.split(",") if t.strip())


@main.command("train-classifier")
@_config_option()
@click.option("--data", required=True, help="Labelled training data spec, e.g. npz:PATH/train.npz.")
@click.option("--arch", default="googlenet", show_default=True,
              help="googlenet (ETH recipe), googlenet_tiny, or timm:NAME.")
@click.option("--epochs", default=60, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--val", default=None, help="Labelled validation data spec (best.pt is chosen on it).")
@click.option("--resume", is_flag=True, help="Continue exactly from OUT/last.pt.")
@click.option("--seed", default=0, show_default=True, type=int)
@_device_option()
@click.option("--batch-size", default=32, show_default=True, type=int, help="Global batch size.")
@click.option("--lr", default=1e-3, show_default=True, type=float, callback=_check_lr,
              help="Peak learning rate.")
@click.option("--optimizer", type=click.Choice(["adam", "adamw", "sgd"]), default="adam", show_default=True)
@click.option("--weight-decay", default=0.0, show_default=True, type=float)
@click.option("--schedule", type=click.Choice(["eth", "cosine"]), default="eth", show_default=True,
              help="eth: lr x0.1 at each --milestones epoch; cosine: decay to --min-lr.")
@click.option("--milestones", default="35,50", show_default=True, help="Epochs of the eth lr steps.")
@click.option("--min-lr", default=0.0, show_default=True, type=float)
@click.option("--warmup-epochs", default=0.0, show_default=True, type=float)
@click.option("--aux-weight", default=0.3, show_default=True, type=float, help="GoogLeNet aux-head loss weight.")
@click.option("--label-smoothing", default=0.0, show_default=True, type=float)
@click.option("--flip/--no-flip", default=True, show_default=True, help="Random horizontal flips.")
@click.option("--crop", type=click.Choice(["none", "shift", "rrc"]), default="shift", show_default=True,
              help="shift: random translation by up to --pad px; rrc: random resized crop.")
@click.option("--pad", default=4, show_default=True, type=int)
@click.option("--crop-scale", default="0.35,1", show_default=True, help="rrc area range.")
@click.option("--jitter", default=0.0, show_default=True, type=float, help="Colour-jitter strength.")
@click.option("--mixup", default=0.0, show_default=True, type=float, help="Mixup alpha (0 = off).")
@click.option("--cutmix", default=0.0, show_default=True, type=float, help="CutMix alpha (0 = off).")
@click.option("--mix-prob", default=0.5, show_default=True, type=float)
@click.option("--model-kwargs", default="{}", show_default=True,
              help='JSON architecture arguments, e.g. \'{"width": 0.25}\' or \'{"drop_stem_pool": true}\'.')
@click.option("--pretrained", default=None, type=click.Path(dir_okay=False),
              help="ImageNet GoogLeNet state dict (local file); freezes inception 4a-4c.")
@click.option("--init", default=None, type=click.Path(dir_okay=False),
              help="Classifier checkpoint of this toolkit to fine-tune (same --arch and classes).")
@click.option("--mask-augment", default="", show_default=True,
              help="Mask specs, e.g. center,left,random:0.7,blocks: a --mask-prob share of each batch "
                   "gets such a hole (a masked-input classifier for cat[known]); best.pt is then "
                   "chosen on val top-1 with holes.")
@click.option("--mask-prob", default=0.75, show_default=True, type=click.FloatRange(0, 1))
@click.option("--mask-fill", default="zero,flat,noise", show_default=True,
              help="Hole fills to draw from: zero (mid-grey, as M*y in the losses), flat (a random "
                   "colour), noise.")
@click.option("--image-size", default=None, type=int, help="Resize the data to this side.")
@click.option("--bf16/--no-bf16", default=False, show_default=True, help="bfloat16 autocast.")
@click.option("--channels-last/--no-channels-last", default=False, show_default=True)
@_threads_option()
@click.option("--best-dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default="float32",
              show_default=True, help="Storage dtype of best.pt (loading restores fp32).")
@click.option("--dry-run", is_flag=True, help="2 batches per epoch, at most 2 epochs.")
def train_classifier_cmd(config, data, arch, epochs, out, val, resume, seed, device, batch_size, lr, optimizer,
                         weight_decay, schedule, milestones, min_lr, warmup_epochs, aux_weight,
                         label_smoothing, flip, crop, pad, crop_scale, jitter, mixup, cutmix, mix_prob,
                         model_kwargs, pretrained, init, mask_augment, mask_prob, mask_fill, image_size,
                         bf16, channels_last, threads, best_dtype, dry_run) -> None:
    """Train a classifier for the sem/cat losses (ETH GoogLeNet recipe by default)."""
    import json

    from classifiers import TrainConfig, train_classifier

    try:
        cfg = TrainConfig(
            data=data, out=out, arch=arch, val=val, epochs=epochs, batch_size=batch_size, lr=lr,
            optimizer=optimizer, weight_decay=weight_decay, schedule=schedule,
            milestones=tuple(int(m) for m in _floats(milestones)), min_lr=min_lr,
            warmup_epochs=warmup_epochs, aux_weight=aux_weight, label_smoothing=label_smoothing,
            flip=flip, crop=crop, pad=pad, crop_scale=_floats(crop_scale), jitter=jitter, mixup=mixup,
            cutmix=cutmix, mix_prob=mix_prob, model_kwargs=json.loads(model_kwargs),
            pretrained=pretrained, init=init, mask_augment=_names(mask_augment), mask_prob=mask_prob,
            mask_fill=_names(mask_fill), image_size=image_size, seed=seed, device=device, bf16=bf16,
            channels_last=channels_last, threads=threads, best_dtype=best_dtype, dry_run=dry_run,
            resume=resume)
    except (ValueError, TypeError) as e:
        raise click.UsageError(str(e)) from e
    with _tidy_out(out):
        result = train_classifier(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        _keep_config(config, out)
    click.echo(f"best top-1{' (val with holes)' if cfg.mask_augment else ''} {result['best_top1']:.4f} at "
               f"epoch {result['best_epoch']}; "
               f"checkpoints in {result['out']}")


@main.command("eval-classifier")
@click.option("--classifier", "ckpt", required=True, type=click.Path(dir_okay=False),
              help="Classifier checkpoint (best.pt).")
@click.option("--data", required=True, help="Labelled data spec.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Per-class accuracy CSV.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1))
@click.option("--bf16/--no-bf16", default=False, show_default=True)
@click.option("--seed", default=0, show_default=True, type=int, help="For generated datasets.")
@click.option("--masks", default="", help="Also top-1 with each of these holes (zero-filled), e.g. "
              "center,left,random:0.7.")
@_device_option("cpu")
def eval_classifier_cmd(ckpt, data, out, batch_size, bf16, seed, masks, device) -> None:
    """Top-1/top-5 accuracy of a classifier, and a per-class table."""
    from classifiers import evaluate_classifier

    from . import masks as masks_mod

    try:
        specs = _names(masks)
        for spec in specs:
            masks_mod.check_mask_spec(spec)
    except (ValueError, KeyError) as e:
        raise click.UsageError(f"--masks: {e}") from e
    r = evaluate_classifier(ckpt, data, out=out, device=device, batch_size=batch_size, bf16=bf16, seed=seed,
                            masks=specs)
    click.echo(f"{r['arch']} on {data}: top-1 {r['top1']:.4f}, top-5 {r['top5']:.4f}, "
               f"loss {r['loss']:.4f} ({r['n']} images)")
    for spec, acc in r["masked_top1"].items():
        click.echo(f"  with a {spec} hole: top-1 {acc:.4f}")
    if out:
        click.echo(f"per-class accuracy: {out}")


if __name__ == "__main__":
    main()
