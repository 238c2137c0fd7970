"""Listing commands: models, losses, masks, baselines, datasets (and a dataset preview)."""
from __future__ import annotations

import click

from ._options import seed_option


@click.command("models")
def models_cmd() -> None:
    """List the registered DCGAN architectures and their configs."""
    from ..models import MODELS

    for name in MODELS.list():
        click.echo(f"{name:12s} {MODELS.build(name).to_dict()}")


@click.command("losses")
def losses_cmd() -> None:
    """List the registered loss terms: default weights, modes, options, inputs read."""
    from .._presets import WEIGHT_COLUMNS
    from ..losses import describe_losses

    click.echo(describe_losses(WEIGHT_COLUMNS))


@click.command("masks")
def masks_cmd() -> None:
    """List the registered mask generators and the spec forms --mask accepts."""
    from ..masks import MASKS
    from ..masks import __doc__ as doc

    for name in MASKS.list():
        first = (MASKS.get(name).__doc__ or "").strip().splitlines()
        click.echo(f"{name:8s} {first[0] if first else ''}")
    click.echo("\nSpec forms:" + doc.split("Spec strings", 1)[-1].split("\n", 1)[-1].rstrip())


@click.command("baselines")
def baselines_cmd() -> None:
    """List the classical inpainting baselines (bench --baselines NAMES) and their options."""
    from ..baselines import baseline_options, describe_baseline, list_baselines

    for name in list_baselines():
        click.echo(f"{name:11s} {describe_baseline(name)}")
        click.echo(f"{'':11s}   options: {', '.join(baseline_options(name)) or '(none)'}")


@click.group("data")
def data_group() -> None:
    """Datasets: list the registered ones, preview samples."""


@data_group.command("list")
def data_list_cmd() -> None:
    """List the registered datasets and their spec forms."""
    from ..data import DATASETS

    for name in DATASETS.list():
        doc = (DATASETS.get(name).__doc__ or "").strip().splitlines()
        click.echo(f"{name:16s} {doc[0] if doc else ''}")


@data_group.command("preview")
@click.option("--data", default="synthetic-cars", show_default=True, help="Dataset spec (inpaintkit data list).")
@click.option("--split", type=click.Choice(["train", "test", "val"]), default="train", show_default=True)
@click.option("--n", "n", default=64, show_default=True, type=click.IntRange(1), help="Number of samples.")
@click.option("--image-size", default=None, type=int, help="Resize to this side. [default: the dataset's]")
@seed_option("Dataset seed and sample choice.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="PNG grid; run metadata goes to OUT.json.")
def data_preview_cmd(data, split, n, image_size, seed, out) -> None:
    """Write a grid of dataset samples, captioned with their class names."""
    from ..data import DatasetError
    from ..data.preview import preview_dataset

    try:
        path = preview_dataset(data, out, split=split, n=n, seed=seed, image_size=image_size)
    except (DatasetError, KeyError) as e:
        raise click.ClickException(str(e).strip('"')) from e
    click.echo(f"wrote {path}")
