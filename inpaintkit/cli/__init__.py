"""The ``inpaintkit`` command line: a thin click layer over the library.

Each command parses its options and calls one library function. Heavy imports happen inside the
commands so that ``inpaintkit --help`` stays fast. The commands live by topic (``info``, ``inpaint``,
``train``, ``bench``, ``classifier``); the options they share are built once in ``_options``.
"""
from __future__ import annotations

import click

from .. import __version__
from ._options import CommandGroup
from .bench import bench_cmd, merge_cmd, report_cmd
from .classifier import eval_classifier_cmd, train_classifier_cmd
from .info import baselines_cmd, data_group, losses_cmd, masks_cmd, models_cmd
from .inpaint import inpaint_cmd
from .train import gan_quality_cmd, train_context_encoder_cmd, train_gan_cmd

__all__ = ["main"]


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"],
                                                 "max_content_width": 100})
@click.version_option(__version__, prog_name="inpaintkit")
def main() -> None:
    """Semantic image inpainting with a GAN prior.

    Errors are one line; set INPAINTKIT_DEBUG=1 to see the traceback behind one.
    """


for _command in (models_cmd, losses_cmd, masks_cmd, baselines_cmd, data_group, inpaint_cmd, train_gan_cmd,
                 gan_quality_cmd, train_context_encoder_cmd, bench_cmd, merge_cmd, report_cmd,
                 train_classifier_cmd, eval_classifier_cmd):
    main.add_command(_command)
