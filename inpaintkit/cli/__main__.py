"""``python -m inpaintkit.cli``: the ``inpaintkit`` command (torchrun launches it this way)."""
from . import main

main()
