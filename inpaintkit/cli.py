"""The ``inpaintkit`` command line: a thin click layer over the library.

Each command parses its options and calls one library function. Heavy imports happen inside the
commands so that ``inpaintkit --help`` stays fast.
"""
from __future__ import annotations

import click

from . import __version__


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="inpaintkit")
def main() -> None:
    """Semantic image inpainting with a GAN prior."""


@main.command("models")
def models_cmd() -> None:
    """List the registered DCGAN architectures and their configs."""
    from .models import MODELS

    for name in MODELS.list():
        click.echo(f"{name:12s} {MODELS.build(name).to_dict()}")


@main.command("train-gan")
@click.option("--data", default="synthetic-cars", show_default=True, help="Dataset spec (inpaintkit data list).")
@click.option("--arch", default="dcgan_64", show_default=True, help="DCGAN variant (inpaintkit models).")
@click.option("--iters", default=8000, show_default=True, type=click.IntRange(1))
@click.option("--batch-size", default=64, show_default=True, type=click.IntRange(1),
              help="Global batch size; split across processes under torchrun.")
@click.option("--lr", default=2e-4, show_default=True, type=float)
@click.option("--beta1", default=0.5, show_default=True, type=float)
@click.option("--nz", type=int, default=None, help="Override the variant's latent size.")
@click.option("--ngf", type=int, default=None)
@click.option("--ndf", type=int, default=None)
@click.option("--kernel-size", type=click.Choice(["4", "5"]), default=None)
@click.option("--no-flip", is_flag=True, help="Disable random horizontal flips.")
@click.option("--precision", type=click.Choice(["fp32", "bf16"]), default="fp32", show_default=True,
              help="bf16 autocast (about 2x faster on AVX-512 bf16 CPUs).")
@click.option("--channels-last", is_flag=True, help="NHWC memory format (faster convolutions on CPU).")
@click.option("--sample-every", default=500, show_default=True, type=click.IntRange(1))
@click.option("--ckpt-every", default=250, show_default=True, type=click.IntRange(1))
@click.option("--threads", type=int, default=None, help="torch.set_num_threads for this process.")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue the run in --out from its last checkpoint.")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
@click.option("--dry-run", is_flag=True, help="A few steps of dcgan_test on 32x32 data, for CI.")
def train_gan_cmd(data, arch, iters, batch_size, lr, beta1, nz, ngf, ndf, kernel_size, no_flip,
                  precision, channels_last, sample_every, ckpt_every, threads, out, resume, seed,
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
                         sample_every=sample_every, ckpt_every=ckpt_every, model_overrides=overrides)
    path = train_gan(cfg, out, resume=resume, device=device)
    click.echo(f"checkpoint: {path}")


@main.command("bench")
@click.option("--losses", multiple=True, help="A loss set to benchmark, e.g. context,prior,sem,cat; "
              "repeat for several. Each is one method, labelled by its spec.")
@click.option("--baselines", multiple=True, help="Comma-separated classical methods "
              "(im, tv, lowrank, biharmonic, nn, telea...) and yeh (= the search with context,prior); "
              "'none' for none. Default with --losses: im,yeh.")
@click.option("--masks", multiple=True, help="Comma-separated mask specs. [default: center,left,random:0.7]")
@click.option("--data", default=None, help="Dataset spec. [default: the built-in synthetic-cars]")
@click.option("--split", default=None, help="train, test or val. [default: test]")
@click.option("--gan", default=None, type=click.Path(dir_okay=False), help="GAN checkpoint.")
@click.option("--classifier", default=None, type=click.Path(dir_okay=False),
              help="Classifier checkpoint for the sem/cat losses.")
@click.option("--eval-classifier", default=None, type=click.Path(dir_okay=False),
              help="An independent classifier: adds semantic accuracy (when the data has labels).")
@click.option("--mask-file", default=None, type=click.Path(dir_okay=False),
              help="npz of named (H, W) bool masks, True = known (e.g. stanford-cars-64/masks.npz).")
@click.option("--pool", default=None, help="Dataset spec of the training images for the nn baseline.")
@click.option("--n", "n", default=None, type=int, help="Benchmark the first N images. [default: all]")
@click.option("--iters", default=None, type=int, help="Search iterations. [default: 1500]")
@click.option("--restarts", default=None, type=int, help="Random restarts per image. [default: 1]")
@click.option("--optimizer", default=None, help="adam or nesterov. [default: adam]")
@click.option("--lr", default=None, type=float, help="Search learning rate. [default: the optimiser's]")
@click.option("--monitor", multiple=True, help="Loss terms to record with weight 0 in every search "
              "(for the loss-curve figure), or 'all'.")
@click.option("--blend", default=None, help="poisson or overlay: how search outputs are scored. "
              "[default: poisson]")
@click.option("--batch-size", default=None, type=int, help="Images per batch. [default: 64]")
@click.option("--save-images", default=None, type=int,
              help="Save the outputs of the first N images for the grids (-1: all). [default: 16]")
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cuda if available).")
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Run directory; rerunning with the same --out resumes. "
                   "[default: runs/bench-<hash of the options>]")
@click.option("--preset", default=None, help="paper-table1: SPEC.md's protocol (explicit options win).")
@click.option("--dry-run", is_flag=True, help="Tiny random models on a handful of images, for CI.")
@click.option("--retry-errors", is_flag=True, help="Recompute rows that failed in an earlier run.")
@click.option("--no-report", is_flag=True, help="Skip the report at the end.")
@click.option("--no-progress", is_flag=True, help="No progress bars.")
def bench_cmd(losses, baselines, masks, data, split, gan, classifier, eval_classifier, mask_file,
              pool, n, iters, restarts, optimizer, lr, monitor, blend, batch_size, save_images, seed,
              device, out, preset, dry_run, retry_errors, no_report, no_progress) -> None:
    """Benchmark loss sets and baselines on the same images and masks; print the table.

    With no --data/--gan/--classifier it runs the built-in demo: the bundled synthetic-cars models
    on 32 synthetic-cars test images, scaled down to finish in minutes on a CPU.
    """
    from .bench import BenchConfig, BenchError, run_bench

    cfg = BenchConfig(
        losses=losses or None, baselines=baselines or None, masks=masks or None, data=data,
        split=split, gan=gan, classifier=classifier, eval_classifier=eval_classifier,
        mask_file=mask_file, pool=pool, n=n, iters=iters, restarts=restarts, optimizer=optimizer,
        lr=lr, monitor=monitor or None, blend=blend, batch_size=batch_size, save_images=save_images,
        seed=seed, device=device, out=out, preset=preset, dry_run=dry_run, retry_errors=retry_errors,
        progress=not no_progress, report=not no_report)
    try:
        run_bench(cfg, echo=click.echo)
    except BenchError as e:
        raise click.UsageError(str(e)) from e


@main.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--compare", default=None, type=click.Path(exists=True, file_okay=False),
              help="Another run directory to put side by side.")
@click.option("--output", type=click.Choice(["scored", "overlay"]), default="scored", show_default=True,
              help="scored: the blended output of searches (as run); overlay: the plain composite.")
@click.option("--no-figures", is_flag=True, help="Tables only.")
@click.option("--seed", default=0, show_default=True, type=int, help="Bootstrap resampling seed.")
def report_cmd(run_dir, compare, output, no_figures, seed) -> None:
    """Tables (Markdown, CSV, LaTeX) and figures from a bench run's rows, into RUN_DIR/report."""
    from .report import make_report

    try:
        make_report(run_dir, compare=compare, output=output, figures=not no_figures, seed=seed,
                    echo=click.echo)
    except FileNotFoundError as e:
        raise click.UsageError(str(e)) from e


if __name__ == "__main__":
    main()
