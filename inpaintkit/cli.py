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


if __name__ == "__main__":
    main()
