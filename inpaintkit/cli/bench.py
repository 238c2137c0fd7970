"""``inpaintkit bench``, ``merge`` and ``report``: benchmark runs and their tables."""
from __future__ import annotations

import os

import click

from ._options import (
    BLENDS,
    OPTIMIZERS,
    RESTART_REDUCTIONS,
    check_lr,
    config_option,
    device_option,
    keep_config,
    precision_option,
    seed_option,
)


@click.command("bench")
@config_option()
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
@click.option("--restart-reduce", type=click.Choice(RESTART_REDUCTIONS), default=None,
              help="best: the lowest-loss restart's fill; mean: the mean of the restarts' fills "
                   "(higher PSNR, softer). [default: best]")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None, help="[default: adam]")
@click.option("--lr", default=None, type=float, callback=check_lr,
              help="Search learning rate. [default: the optimiser's]")
@click.option("--weights", "weights", default=None,
              help="Default-weight table for terms given without a weight: calibrated, eth (the "
                   "ETH study's, which saturate z), or ratio (sem, cat at auto:R). [default: "
                   "calibrated; the demo: ratio]")
@precision_option(default=None, help="bf16: the search's networks under bfloat16 autocast; auto: bf16 "
                  "where it is native (CUDA, AVX512-BF16/AMX CPUs), else fp32. [default: auto]")
@click.option("--monitor", multiple=True, help="Loss terms to record with weight 0 in every search "
              "(for the loss-curve figure), or 'all'.")
@click.option("--blend", type=click.Choice(BLENDS), default=None,
              help="How search outputs are scored. [default: poisson]")
@click.option("--batch-size", default=None, type=int,
              help="Images per batch. [default: 64; 8 for a search with sem/cat on a CPU, where it is faster]")
@click.option("--save-images", default=None, type=int,
              help="Save the outputs of the first N images for the grids (-1: all). [default: 16]")
@seed_option()
@device_option()
@click.option("--out", default=None, type=click.Path(file_okay=False),
              help="Run directory; rerunning with the same --out resumes. "
                   "[default: runs/bench-<hash of the options>]")
@click.option("--preset", default=None,
              help="paper-table1: SPEC.md's protocol; best: the best configuration found on "
                   "Stanford Cars (context,prior,sem[known], needs --classifier); fast: best without "
                   "its classifier term, about a tenth of the time (explicit options win).")
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
    from ..bench import BenchConfig, BenchError, BenchFailed, run_bench

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
        keep_config(config, result.out)


@click.command("merge")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--no-report", is_flag=True, help="Skip the report.")
def merge_cmd(run_dir, no_report) -> None:
    """Merge the shards of a 'bench --shard I/N' run in RUN_DIR and write its report.

    Checks that all N shards completed with one configuration and that every (image, method,
    mask) is there exactly once.
    """
    from ..shards import merge_shards

    merge_shards(run_dir, report=not no_report, echo=click.echo)


@click.command("report")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--compare", default=None, type=click.Path(exists=True, file_okay=False),
              help="Another run directory to put side by side.")
@click.option("--output", type=click.Choice(["scored", "overlay"]), default="scored",
              show_default=True,
              help="scored: the blended output of searches (as run); overlay: the plain composite.")
@click.option("--no-figures", is_flag=True, help="Tables only.")
@seed_option("Bootstrap resampling seed.")
@click.option("--fd-evaluator", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Evaluator classifier for FD-R18/KID of the saved outputs. "
                   "[default: the run's --eval-classifier]")
@click.option("--no-fd", is_flag=True, help="No FD-R18/KID section.")
def report_cmd(run_dir, compare, output, no_figures, seed, fd_evaluator, no_fd) -> None:
    """Tables (Markdown, CSV, LaTeX) and figures from a bench run's rows, into RUN_DIR/report."""
    from ..report import make_report

    try:
        make_report(run_dir, compare=compare, output=output, figures=not no_figures, seed=seed,
                    echo=click.echo, distribution=not no_fd, evaluator=fd_evaluator)
    except FileNotFoundError as e:
        raise click.UsageError(str(e)) from e
