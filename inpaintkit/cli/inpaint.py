"""``inpaintkit inpaint``: inpaint an image or a folder of images."""
from __future__ import annotations

import click

from ._options import (
    BLENDS,
    OPTIMIZERS,
    RESTART_REDUCTIONS,
    check_lr,
    device_option,
    precision_option,
    seed_option,
    threads_option,
)


@click.command("inpaint")
@click.option("--gan", required=True, type=click.Path(dir_okay=False), help="GAN checkpoint.")
@click.option("--image", required=True, type=click.Path(), help="An image file, or a folder (run batched).")
@click.option("--mask", default="center", show_default=True,
              help="center, left, right, top, bottom, half, random[:p], blocks[:n], thin, medium, "
                   "thick, or a PNG (white = known; see --mask-polarity).")
@click.option("--mask-polarity", type=click.Choice(["known", "hole"]), default="known",
              show_default=True, help="A PNG --mask: known = white is known; hole = white is the "
                                      "hole (LaMa's convention).")
# inpaintkit.inpaint.INPAINT_PRESETS, written out: that module imports torch (a test keeps them equal)
@click.option("--preset", type=click.Choice(["best", "fast"]), default=None,
              help="The search of bench's preset: best = context,prior,sem[known]=auto:1 (needs "
                   "--classifier), fast = context,prior; both Adam lr 0.03, 100 iterations, 4 "
                   "restarts averaged (explicit options win).")
@click.option("--losses", default=None, help="Loss spec, e.g. context,prior=0.003,sem=1e5,cat=1e6 "
              "(inpaintkit losses). [default: context,prior; context,prior,sem[known]=auto:1 with "
              "--classifier]")
@click.option("--classifier", default=None, type=click.Path(dir_okay=False),
              help="Classifier checkpoint for the sem/cat losses.")
@click.option("--iters", default=None, type=click.IntRange(0), help="Search iterations. [default: 1500]")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None, help="[default: adam]")
@click.option("--lr", default=None, type=float, callback=check_lr,
              help="Search learning rate. [default: 0.01]")
@click.option("--restarts", default=None, type=click.IntRange(1),
              help="Random initialisations per image. [default: 1]")
@click.option("--restart-reduce", type=click.Choice(RESTART_REDUCTIONS), default=None,
              help="best: the lowest-loss restart's fill; mean: the mean of the restarts' fills "
                   "(higher PSNR, softer). [default: best]")
@click.option("--blend", type=click.Choice(BLENDS), default=None, help="[default: poisson]")
@precision_option(default="auto", help="bf16: the search's networks under bfloat16 autocast; auto: bf16 "
                  "where it is native (CUDA, AVX512-BF16/AMX CPUs), else fp32.")
@click.option("--batch-size", default=None, type=click.IntRange(1),
              help="Images per search batch (folders). [default: 64; 8 for a search with sem/cat on a "
                   "CPU, where it is faster]")
@click.option("--save-all", is_flag=True, help="Also write the masked input, G(z), overlay, mask and loss curves.")
@threads_option()
@seed_option("Seeds the masks and the starting latents.")
@device_option()
@click.option("--out", required=True, type=click.Path(),
              help="Output image (e.g. out.png) for one image, or a folder.")
@click.option("--overwrite", is_flag=True,
              help="Replace existing files at the output paths that an earlier inpaint did not write.")
def inpaint_cmd(gan, image, mask, mask_polarity, preset, losses, classifier, iters, optimizer, lr, restarts,
                restart_reduce, blend, precision, batch_size, save_all, threads, seed, device, out,
                overwrite) -> None:
    """Inpaint an image (or a folder of images) with a trained GAN by latent search."""
    import torch

    from ..inpaint import InpaintConfig, InpaintError, inpaint, inpaint_preset_options
    from ..losses import LossSpecError
    from ..masks import MaskError
    from ..models import CheckpointError

    if threads:
        torch.set_num_threads(threads)
    if preset == "best" and classifier is None and losses is None:
        raise click.UsageError("--preset best needs --classifier (its loss has sem[known]); "
                               "--preset fast is the same search without it")
    given = {"losses": losses, "iters": iters, "optimizer": optimizer, "lr": lr, "restarts": restarts,
             "restart_reduce": restart_reduce, "blend": blend}
    options = {**(inpaint_preset_options(preset) if preset else {}),
               **{k: v for k, v in given.items() if v is not None}}
    cfg = InpaintConfig(gan=gan, image=image, out=out, mask=mask, mask_polarity=mask_polarity,
                        classifier=classifier, precision=precision, seed=seed, device=device,
                        save_all=save_all, batch_size=batch_size, overwrite=overwrite, **options)
    try:
        inpaint(cfg, progress=True, echo=click.echo)
    except (InpaintError, LossSpecError, MaskError, KeyError) as e:
        raise click.UsageError(str(e).strip('"')) from e
    except (CheckpointError, FileNotFoundError) as e:
        raise click.ClickException(str(e)) from e
