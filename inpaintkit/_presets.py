"""Named option sets for ``inpaintkit bench``: the paper's protocol, the built-in demo, the dry run,
and the per-mask default weights of the loss terms.

A preset only fills options the user left unset: any option given explicitly wins (see
:func:`inpaintkit.bench.resolve_config`). ``method_labels`` are display names for the tables.

The default-weight tables (:func:`default_weights_for_mask`) are experiment policy: which weight a
term takes when a spec gives none depends on the mask and on the study. They live here, beside the
presets that use them, so that the loss package knows nothing of masks; ``inpaint`` and ``bench``
pass the table's weights to :class:`~inpaintkit.losses.LossSpec` as defaults.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from .utils import Registry

__all__ = ["Preset", "PRESETS", "register_preset", "list_presets", "get_preset", "DEMO", "DRY_RUN",
           "ALL_TERMS", "default_weights_for_mask", "RANDOM_MASK_WEIGHTS", "ETH_WEIGHTS",
           "ETH_RANDOM_MASK_WEIGHTS", "WEIGHT_TABLES", "RATIO_TABLE_R", "WEIGHT_COLUMNS"]

#: Random-mask weights (``benchmarks/results/guidance/README.md``, sections 1, 11 and 12). ``sem``
#: 800 and ``cat`` 40 put those terms' z-gradients at about the context term's at z0, as 150 and 8
#: do on center/left masks; but at that ratio the default ``context,prior,sem,cat`` lost 0.84 dB of
#: hole PSNR on random 70% masks (4 averaged restarts, val 100-131) and raised no accuracy. A sweep
#: over three orders of magnitude on the tuning images val 200-231 (x1, x0.1, x0.01 of 800/40) had
#: the highest hole PSNR at x0.01, the rule fixed before the sweep; so on random masks the two terms
#: default to a gradient ratio of about 0.01, next to nothing. ``inpaint`` keeps the ETH study's
#: random-mask value.
RANDOM_MASK_WEIGHTS: dict[str, float] = {"inpaint": 30.0, "sem": 8.0, "cat": 0.4}

#: The ETH study's weights for center/left masks (SPEC.md). Their ``sem``/``cat`` values were tuned
#: for a classifier fed unnormalised inputs; with ours they make those terms' z-gradients
#: 560-1,300x (sem) and 1e5-3e5x (cat) the context term's (SPEC.md, correction of 2026-12-02).
#: Kept for ``--preset paper-table1-eth`` and ``--weights eth``.
ETH_WEIGHTS: dict[str, float] = {"context": 1.0, "prior": 0.003, "inpaint": 3.0, "sem": 1e5, "cat": 1e6}

#: The ETH study's weights for random masks (SPEC.md).
ETH_RANDOM_MASK_WEIGHTS: dict[str, float] = {"inpaint": 30.0, "sem": 1e6, "cat": 1e7}

#: The named default-weight tables of :func:`default_weights_for_mask`.
WEIGHT_TABLES = ("calibrated", "eth", "ratio")

#: R of the ``ratio`` table: ``sem`` and ``cat`` default to ``auto:R`` (each pulls on z with R times
#: the context term's force at the first step), whatever the classifier. Chosen for the built-in
#: demo on the synthetic-cars val split (``benchmarks/results/demo-tune/``).
RATIO_TABLE_R = 0.1

#: The extra column of ``inpaintkit losses``: the calibrated weights on random masks.
WEIGHT_COLUMNS: dict[str, tuple[Mapping[str, float], str]] = {
    "random": (RANDOM_MASK_WEIGHTS, "random masks")}


def default_weights_for_mask(mask_spec: str | None, table: str = "calibrated") -> dict[str, Any]:
    """Default weights for a mask spec, from a named table.

    Args:
        mask_spec: e.g. ``"center"``, ``"left"``, ``"random:0.7"``; ``None`` gives the
            center/left weights.
        table: ``calibrated`` (default): the terms' registered defaults
            (:data:`~inpaintkit.losses.DEFAULT_WEIGHTS`), with :data:`RANDOM_MASK_WEIGHTS` for
            ``random`` masks; the ``sem``/``cat`` values put those terms' z-gradients at about the
            context term's at the start of a search on Stanford Cars
            (``benchmarks/results/guidance/``). ``eth``: the ETH study's values
            (:data:`ETH_WEIGHTS`, :data:`ETH_RANDOM_MASK_WEIGHTS`), which saturate z with our
            classifier normalisation; for the record. ``ratio``: the calibrated table with ``sem``
            and ``cat`` at ``auto:R`` (:data:`RATIO_TABLE_R`), scale-free, for a classifier the
            fixed weights were not calibrated on (the built-in demo's).

    Returns:
        ``{name: weight}`` for every registered term: a number or an
        :class:`~inpaintkit.losses.AutoWeight`.

    Raises:
        LossSpecError: an unknown table.
    """
    from .losses import DEFAULT_WEIGHTS, AutoWeight, LossSpecError

    if table not in WEIGHT_TABLES:
        raise LossSpecError(f"unknown weight table {table!r}; choose one of {', '.join(WEIGHT_TABLES)}")
    weights: dict[str, Any] = dict(DEFAULT_WEIGHTS)
    rnd = mask_spec is not None and mask_spec.strip().partition(":")[0].strip() == "random"
    if table == "eth":
        weights.update(ETH_WEIGHTS)
        if rnd:
            weights.update(ETH_RANDOM_MASK_WEIGHTS)
    elif rnd:
        weights.update(RANDOM_MASK_WEIGHTS)
    if table == "ratio":
        weights.update(sem=AutoWeight(RATIO_TABLE_R), cat=AutoWeight(RATIO_TABLE_R))
    return weights

#: The five loss terms of SPEC.md, monitored with weight 0 where a method does not optimise them
#: (so the loss-curve figure can show, as Fig. 3 of the paper does, that Yeh's search leaves the
#: semantic and categorical losses high).
ALL_TERMS = ("context", "prior", "inpaint", "sem", "cat")


@dataclass(frozen=True)
class Preset:
    """A named set of bench options.

    Attributes:
        name: registry name (``--preset NAME``).
        description: one line, printed when the preset is used.
        options: :class:`~inpaintkit.bench.BenchConfig` field values.
        method_labels: display names of methods in tables and figures.
    """

    name: str
    description: str
    options: dict[str, Any] = field(default_factory=dict)
    method_labels: dict[str, str] = field(default_factory=dict)


PRESETS: Registry[Preset] = Registry("preset")


def register_preset(preset: Preset) -> Preset:
    PRESETS.register(preset.name)(preset)
    return preset


def list_presets(pattern: str = "*") -> list[str]:
    return PRESETS.list(pattern)


def get_preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name raises a KeyError listing the known ones."""
    return PRESETS.get(name)


W_O_LOGITS = "context,prior,inpaint,sem"
WITH_LOGITS = "context,prior,inpaint,sem,cat"
#: The paper's two classifier-loss methods with ``sem`` and ``cat`` weighted per image from gradient
#: ratios (SPEC.md: "set the weights from gradient ratios to the context term"): at the first step
#: each pulls on z with 0.3 times the context term's force. Fixed weights calibrated on one
#: classifier do not carry over to another (the bundled synthetic-cars classifier's ``sem`` gradient
#: is about 3x the Stanford GoogLeNet's at the same weight), and with the ETH optimiser (Nesterov,
#: lr 0.01) the five-term step leaves fewer than 10% of z on the clip at R = 0.3 but not at
#: R = 1 (tests/test_guidance.py; benchmarks/results/guidance/).
AUTO_RATIO = 0.3
W_O_LOGITS_AUTO = f"context,prior,inpaint,sem=auto:{AUTO_RATIO:g}"
WITH_LOGITS_AUTO = f"context,prior,inpaint,sem=auto:{AUTO_RATIO:g},cat=auto:{AUTO_RATIO:g}"

_PAPER_TABLE1 = {
    "baselines": ("im", "ce", "yeh"),
    "masks": ("center", "left", "random:0.7"),
    "optimizer": "nesterov",
    "iters": 1500,
    "lr": 0.01,
    "restarts": 1,
    "blend": "poisson",
    "monitor": ALL_TERMS,
}

register_preset(Preset(
    name="paper-table1",
    description=("Table 1 of the classifier-loss paper (SPEC.md): im, ce, yeh, w/o logits, with "
                 f"logits; masks center, left, random:0.7; sem and cat weighted per image from "
                 f"gradient ratios (auto:{AUTO_RATIO:g}), the other terms at the calibrated "
                 f"per-mask weights; 1500 Nesterov iterations"),
    options={**_PAPER_TABLE1, "losses": (W_O_LOGITS_AUTO, WITH_LOGITS_AUTO), "weights": "calibrated"},
    method_labels={"im": "im", "yeh": "yeh", W_O_LOGITS_AUTO: "w/o logits",
                   WITH_LOGITS_AUTO: "with logits"},
))

#: The same protocol with the ETH study's own weights, which with a correctly normalised classifier
#: put 99-100% of z on the clip at the first step (SPEC.md, correction of 2026-12-02). For the record.
register_preset(Preset(
    name="paper-table1-eth",
    description=("paper-table1 with the ETH study's uncalibrated weights (sem 1e5, cat 1e6; random "
                 "masks sem 1e6, cat 1e7), which saturate z; for the record"),
    options={**_PAPER_TABLE1, "losses": (W_O_LOGITS, WITH_LOGITS), "weights": "eth"},
    method_labels={"im": "im", "yeh": "yeh", W_O_LOGITS: "w/o logits", WITH_LOGITS: "with logits"},
))

#: The search settings both presets below share: Adam (lr 0.03), 100 iterations, 4 restarts whose
#: fills are averaged. The pixel mean of the restarts' fills (``restart_reduce="mean"``, an MMSE
#: estimate under the GAN prior) gained 1.3-1.7 dB of hole PSNR over the fill of the best restart,
#: at the same cost (val 100-131, rows of 2026-12-01; benchmarks/results/paper-table1/README.md).
_BEST_SEARCH = {
    "baselines": ("im", "telea", "biharmonic", "ce"),
    "masks": ("center", "left", "random:0.7"),
    "optimizer": "adam",
    "iters": 100,
    "lr": 0.03,
    "restarts": 4,
    "restart_reduce": "mean",
    "blend": "poisson",
}

#: The best configuration found on Stanford Cars: the averaged restarts plus ``sem[known]`` at ratio
#: 1 (the classifier features of the known pixels of G(z) against those of y). Against the averaged
#: restarts alone, at the same budget, it raises hole PSNR by about 0.3 dB on every image set measured
#: (val 100-199, test 0-99, val 300-399). Its semantic-accuracy gain on val 100-199 did not hold on
#: fresh images (val 300-399: p = 1; benchmarks/results/guidance/README.md, sections 5-6 and 14).
#: It needs a classifier (``--classifier``) and takes about 7-10x the time of ``fast`` (16.6 against
#: 1.9 s per image on one AVX-512 core, benchmarks/results/paper-table1/p1-best-sem/).
BEST = "context,prior,sem[known]=auto:1"
register_preset(Preset(
    name="best",
    description=("the best configuration found on Stanford Cars: context,prior,sem[known]=auto:1 "
                 "(needs --classifier) with Adam (lr 0.03), 100 iterations, 4 restarts averaged "
                 "(restart_reduce mean), Poisson blend; im, telea, biharmonic and the Context Encoder "
                 "(ce) beside it. --preset fast: the same without the classifier term"),
    options={**_BEST_SEARCH, "losses": (BEST,)},
    method_labels={BEST: "best"},
))

#: ``best`` without the classifier term: no classifier needed, about a tenth of the time, about 0.3 dB
#: of hole PSNR below it (the ``--preset best`` of 2026-12-01 to 12-05).
FAST = "context,prior"
register_preset(Preset(
    name="fast",
    description=("best without its classifier term: context,prior with Adam (lr 0.03), 100 "
                 "iterations, 4 restarts averaged (restart_reduce mean), Poisson blend; no classifier "
                 "needed, about a tenth of best's time; im, telea, biharmonic and ce beside it"),
    options={**_BEST_SEARCH, "losses": (FAST,)},
    method_labels={FAST: "fast"},
))

#: The built-in default (no --data/--gan/--classifier): the bundled synthetic-cars models on the
#: synthetic-cars test split, scaled down to finish in under 3 minutes on a 2-core CPU
#: (benchmarks/results/demo-time.md). The search settings were chosen by measurement on the
#: synthetic-cars *val* split (benchmarks/results/demo-tune/): at the same cost as 30 iterations of
#: one start, 2 restarts of 15 Adam iterations whose fills are averaged gained 0.5-1.0 dB of hole
#: PSNR for context,prior,sem,cat; and sem/cat at auto:0.1 (the ``ratio`` table: the fixed weights
#: were calibrated on the Stanford Cars GoogLeNet, not on the bundled classifier) instead of the
#: fixed calibrated weights gained another 1.1-1.2 dB on center and left, for 3 points of semantic
#: accuracy (78% against 81%; yeh 76%).
DEMO = Preset(
    name="demo",
    description="built-in demo",
    options={
        "data": "synthetic-cars",
        "split": "test",
        "n": 32,
        "optimizer": "adam",
        "iters": 15,
        "lr": 0.03,
        "restarts": 2,
        "restart_reduce": "mean",
        "weights": "ratio",
        "batch_size": 32,
        "masks": ("center", "left", "random:0.7"),
        "save_images": 8,
    },
)

#: ``--dry-run``: tiny random models and a handful of images, to run the whole pipeline in CI.
DRY_RUN = Preset(
    name="dry-run",
    description="dry run",
    options={
        "split": "test",
        "n": 4,
        "iters": 3,
        "batch_size": 2,
        "masks": ("center", "random:0.7"),
        "save_images": 4,
    },
)
