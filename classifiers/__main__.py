"""``python -m classifiers ...`` is ``inpaintkit train-classifier ...`` (works under torchrun too)."""
from __future__ import annotations

import sys

from inpaintkit.cli import main

if __name__ == "__main__":
    main(args=["train-classifier", *sys.argv[1:]], prog_name="python -m classifiers")
