"""``train-classifier`` and ``eval-classifier``: the classifiers behind sem/cat and the evaluator."""
from __future__ import annotations

import os

import click

from ._options import (
    check_lr,
    config_option,
    device_option,
    keep_config,
    precision_option,
    resolve_bf16,
    seed_option,
    threads_option,
    tidy_out,
)


def _names(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


def _floats(text: str | None) -> tuple[float, ...] | None:
    return None if text is None else tuple(float(t) for t in text.split(",") if t.strip())


@click.command("train-classifier")
@config_option()
@click.option("--data", required=True, help="Labelled training data spec, e.g. npz:PATH/train.npz.")
@click.option("--arch", default="googlenet", show_default=True,
              help="googlenet (ETH recipe), googlenet_tiny, or timm:NAME.")
@click.option("--epochs", default=60, show_default=True, type=int)
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output folder.")
@click.option("--val", default=None, help="Labelled validation data spec (best.pt is chosen on it).")
@click.option("--resume", is_flag=True, help="Continue exactly from OUT/last.pt.")
@seed_option()
@device_option()
@click.option("--batch-size", default=32, show_default=True, type=int, help="Global batch size.")
@click.option("--lr", default=1e-3, show_default=True, type=float, callback=check_lr,
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
@precision_option(default=None, help="bf16: bfloat16 autocast. [default: fp32]")
@click.option("--bf16/--no-bf16", default=None, hidden=True, help="Same as --precision bf16/fp32.")
@click.option("--channels-last/--no-channels-last", default=False, show_default=True)
@threads_option()
@click.option("--best-dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default="float32",
              show_default=True, help="Storage dtype of best.pt (loading restores fp32).")
@click.option("--dry-run", is_flag=True, help="2 batches per epoch, at most 2 epochs.")
def train_classifier_cmd(config, data, arch, epochs, out, val, resume, seed, device, batch_size, lr, optimizer,
                         weight_decay, schedule, milestones, min_lr, warmup_epochs, aux_weight,
                         label_smoothing, flip, crop, pad, crop_scale, jitter, mixup, cutmix, mix_prob,
                         model_kwargs, pretrained, init, mask_augment, mask_prob, mask_fill, image_size,
                         precision, bf16, channels_last, threads, best_dtype, dry_run) -> None:
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
            mask_fill=_names(mask_fill), image_size=image_size, seed=seed, device=device,
            bf16=resolve_bf16(precision, bf16, device),
            channels_last=channels_last, threads=threads, best_dtype=best_dtype, dry_run=dry_run,
            resume=resume)
    except (ValueError, TypeError) as e:
        raise click.UsageError(str(e)) from e
    with tidy_out(out):
        result = train_classifier(cfg)
    if int(os.environ.get("RANK", "0")) == 0:
        keep_config(config, out)
    click.echo(f"best top-1{' (val with holes)' if cfg.mask_augment else ''} {result['best_top1']:.4f} at "
               f"epoch {result['best_epoch']}; "
               f"checkpoints in {result['out']}")


@click.command("eval-classifier")
@click.option("--classifier", "ckpt", required=True, type=click.Path(dir_okay=False),
              help="Classifier checkpoint (best.pt).")
@click.option("--data", required=True, help="Labelled data spec.")
@click.option("--out", default=None, type=click.Path(dir_okay=False), help="Per-class accuracy CSV.")
@click.option("--batch-size", default=256, show_default=True, type=click.IntRange(1))
@precision_option(default=None, help="bf16: bfloat16 autocast. [default: fp32]")
@click.option("--bf16/--no-bf16", default=None, hidden=True, help="Same as --precision bf16/fp32.")
@seed_option("For generated datasets.")
@click.option("--masks", default="", help="Also top-1 with each of these holes (zero-filled), e.g. "
              "center,left,random:0.7.")
@device_option("cpu")
def eval_classifier_cmd(ckpt, data, out, batch_size, precision, bf16, seed, masks, device) -> None:
    """Top-1/top-5 accuracy of a classifier, and a per-class table."""
    from classifiers import evaluate_classifier

    from .. import masks as masks_mod

    try:
        specs = _names(masks)
        for spec in specs:
            masks_mod.check_mask_spec(spec)
    except (ValueError, KeyError) as e:
        raise click.UsageError(f"--masks: {e}") from e
    r = evaluate_classifier(ckpt, data, out=out, device=device, batch_size=batch_size,
                            bf16=resolve_bf16(precision, bf16, device), seed=seed, masks=specs)
    click.echo(f"{r['arch']} on {data}: top-1 {r['top1']:.4f}, top-5 {r['top5']:.4f}, "
               f"loss {r['loss']:.4f} ({r['n']} images)")
    for spec, acc in r["masked_top1"].items():
        click.echo(f"  with a {spec} hole: top-1 {acc:.4f}")
    if out:
        click.echo(f"per-class accuracy: {out}")
