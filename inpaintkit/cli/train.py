"""Training commands of the generative models: ``train-gan``, ``gan-quality``,
``train-context-encoder``."""
from __future__ import annotations

import os

import click

from ._options import (
    check_lr,
    config_option,
    device_option,
    flip_option,
    keep_config,
    precision_option,
    seed_option,
    threads_option,
    tidy_out,
)


@click.command("train-gan")
@config_option()
@click.option("--data", default="synthetic-cars", show_default=True, help="Dataset spec (inpaintkit data list).")
@click.option("--arch", default="dcgan_64", show_default=True, help="DCGAN variant (inpaintkit models).")
@click.option("--iters", default=8000, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1),
              help="Global batch size; split across processes under torchrun.")
@click.option("--lr", default=2e-4, show_default=True, type=float, callback=check_lr)
@click.option("--beta1", default=0.5, show_default=True, type=float)
@click.option("--nz", type=int, default=None, help="Override the variant's latent size.")
@click.option("--ngf", type=int, default=None)
@click.option("--ndf", type=int, default=None)
@click.option("--kernel-size", type=click.Choice(["4", "5"]), default=None)
@flip_option()
@precision_option(help="bf16 autocast (about 2x faster on CPUs with AVX512-BF16 or AMX and on "
                       "GPUs; much slower on CPUs without them, which get a warning).")
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
@click.option("--fd-fit", default=0, show_default=True, type=click.IntRange(0),
              help="Also score each snapshot's fit on the first N of the FD real images (16 is a good size; "
                   "see gan-quality --fit); 0 = off.")
@threads_option()
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@seed_option()
@device_option()
@click.option("--dry-run", is_flag=True, help="A few steps of dcgan_test on 32x32 data, for CI.")
def train_gan_cmd(config, data, arch, iters, batch_size, lr, beta1, nz, ngf, ndf, kernel_size, flip,
                  precision, channels_last, sample_every, ckpt_every, snapshot_every, ema, diffaug, spectral_norm,
                  gan_loss, fd_data, fd_classifier, fd_split, fd_start, fd_n_real, fd_n, fd_fit, threads, out, resume,
                  seed, device, dry_run) -> None:
    """Train a DCGAN (Adam 2e-4, beta1 0.5, flips). Works under torchrun for DDP."""
    import torch

    from ..train_gan import GANTrainConfig, train_gan

    if threads:
        torch.set_num_threads(threads)
    overrides = {k: v for k, v in {"nz": nz, "ngf": ngf, "ndf": ndf,
                                   "kernel_size": int(kernel_size) if kernel_size else None}.items()
                 if v is not None}
    if dry_run:
        arch, iters, batch_size = "dcgan_test", min(iters, 4), min(batch_size, 8)
        sample_every = ckpt_every = 2
    cfg = GANTrainConfig(data=data, arch=arch, iters=iters, batch_size=batch_size, lr=lr, beta1=beta1,
                         flip=flip, seed=seed, precision=precision, channels_last=channels_last,
                         sample_every=sample_every, ckpt_every=ckpt_every,
                         snapshot_every=snapshot_every, model_overrides=overrides, ema=ema, diffaug=diffaug,
                         spectral_norm=spectral_norm, gan_loss=gan_loss, fd_data=fd_data,
                         fd_classifier=fd_classifier, fd_split=fd_split, fd_start=fd_start, fd_n_real=fd_n_real,
                         fd_n=fd_n, fd_fit=fd_fit)
    with tidy_out(out):
        path = train_gan(cfg, out, resume=resume, device=device)
    if int(os.environ.get("RANK", "0")) == 0:
        keep_config(config, out)
    click.echo(f"checkpoint: {path}")


@click.command("gan-quality")
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
@click.option("--fit", default=0, show_default=True, type=click.IntRange(0),
              help="Also measure fit on this many real images: the median known-pixel PSNR of the best G(z) "
                   "of a short context search (center masks; 16 is a good size). What inpainting needs.")
@click.option("--fit-start", default=None, type=click.IntRange(0),
              help="First image of the fit set. [default: --start]")
@click.option("--json", "json_out", default=None, type=click.Path(dir_okay=False), help="Write the record here.")
@threads_option()
@seed_option("Seeds the latent draw.")
@device_option()
def gan_quality_cmd(gan, data, split, start, n_real, n, eval_classifier, classifier, fit, fit_start, json_out,
                    threads, seed, device) -> None:
    """FD-R18 (Fréchet distance on an independent classifier's features; not FID), KID and fit of a GAN."""
    import torch

    from ..quality import QualityConfig, generator_quality
    from ..utils import atomic_write_json, run_metadata

    if threads:
        torch.set_num_threads(threads)
    cfg = QualityConfig(data=data, split=split, start=start, n_real=n_real, n=n, eval_classifier=eval_classifier,
                        classifier=classifier, seed=seed, fit=fit, fit_start=fit_start)
    try:
        rec = generator_quality(gan, cfg, device=device)
    except (ValueError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
    line = f"FD-R18 {rec['fd_r18']:.3f}  KID {rec['kid']:.4f} ± {rec['kid_std']:.4f}  ({n} samples vs {n_real} real)"
    if "confidence" in rec:
        line += f"  confidence {rec['confidence']:.3f}  distinct classes {rec['classes']}"
    if "fit_psnr" in rec:
        line += f"  fit {rec['fit_psnr']:.2f} dB (median of {rec['fit_n']})"
    click.echo(line)
    if json_out:
        atomic_write_json(json_out, {**rec, "meta": run_metadata(vars(cfg))})


@click.command("train-context-encoder")
@click.option("--data", default="synthetic-cars", show_default=True, help="Dataset spec (inpaintkit data list).")
@click.option("--image-size", default=64, show_default=True, type=int, help="Training side (power of two >= 16).")
@click.option("--iters", default=6000, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1),
              help="Global batch size; split across processes under torchrun.")
@click.option("--lr", default=2e-4, show_default=True, type=float, callback=check_lr)
@click.option("--beta1", default=0.5, show_default=True, type=float)
@click.option("--w-adv", default=0.001, show_default=True, type=float,
              help="Adversarial loss weight; the reconstruction weight is 1 - w_adv (Pathak et al.).")
@click.option("--masks", default="center,half,random,blocks", show_default=True,
              help="Mask kinds of the training mixture (center, half, random, blocks).")
@click.option("--nef", default=64, show_default=True, type=click.IntRange(1), help="Encoder width.")
@click.option("--ngf", default=64, show_default=True, type=click.IntRange(1), help="Decoder width.")
@click.option("--ndf", default=64, show_default=True, type=click.IntRange(1), help="Discriminator width.")
@flip_option()
@precision_option(help="bf16 autocast (fast only where bf16 is native: GPUs, AVX512-BF16/AMX CPUs).")
@click.option("--channels-last", is_flag=True, help="NHWC memory format (faster convolutions on CPU).")
@click.option("--sample-every", default=500, show_default=True, type=click.IntRange(1))
@click.option("--ckpt-every", default=250, show_default=True, type=click.IntRange(1))
@click.option("--threads", type=click.IntRange(1), default=None, help="torch.set_num_threads for this process.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@seed_option()
@device_option()
@click.option("--dry-run", is_flag=True, help="A few steps of a tiny 32x32 model, for CI.")
def train_context_encoder_cmd(data, image_size, iters, batch_size, lr, beta1, w_adv, masks, nef,
                              ngf, ndf, flip, precision, channels_last, sample_every, ckpt_every,
                              threads, out, resume, seed, device, dry_run) -> None:
    """Train a Context Encoder (Pathak et al. 2016) for the ce baseline; works under torchrun.

    The release file DIR/context-encoder.pt (fp16, no discriminator) is what bench --ce loads.
    """
    import torch

    from ..data import DatasetError
    from ..models import CheckpointError
    from ..train_context_encoder import CETrainConfig, train_context_encoder

    if threads:
        torch.set_num_threads(threads)
    if dry_run:
        image_size, iters, batch_size = 32, min(iters, 4), min(batch_size, 8)
        nef, ngf, ndf, sample_every, ckpt_every = 8, 8, 8, 2, 2
    cfg = CETrainConfig(data=data, image_size=image_size, iters=iters, batch_size=batch_size,
                        lr=lr, beta1=beta1, w_rec=1.0 - w_adv, w_adv=w_adv,
                        masks=tuple(k.strip() for k in masks.split(",") if k.strip()), nef=nef,
                        ngf=ngf, ndf=ndf, flip=flip, seed=seed, precision=precision,
                        channels_last=channels_last, sample_every=sample_every,
                        ckpt_every=ckpt_every)
    try:
        with tidy_out(out):
            if int(os.environ.get("RANK", "0")) == 0:
                from ..utils import claim_run_dir

                claim_run_dir(out, "inpaintkit.train-context-encoder")
            path = train_context_encoder(cfg, out, resume=resume, device=device)
    except (ValueError, FileExistsError, FileNotFoundError, KeyError, DatasetError,
            CheckpointError) as e:
        raise click.UsageError(str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)) \
            from e
    click.echo(f"context encoder: {path}")
