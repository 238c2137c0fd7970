"""The command line's shared options: the same choices as the library, one spelling everywhere."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from inpaintkit.cli import _options as O
from inpaintkit.cli import main


def test_choices_are_the_librarys():
    from inpaintkit.blend import BLENDS
    from inpaintkit.search import OPTIMIZERS, PRECISIONS, RESTART_REDUCTIONS

    assert O.PRECISIONS == PRECISIONS
    assert O.OPTIMIZERS == OPTIMIZERS
    assert O.RESTART_REDUCTIONS == RESTART_REDUCTIONS
    assert sorted(O.BLENDS) == BLENDS.list()


def test_help_does_not_import_torch():
    code = "import sys; from inpaintkit.cli import main; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("option,value", [("--optimizer", "lbfgs"), ("--blend", "alpha"),
                                          ("--restart-reduce", "median"), ("--precision", "fp8")])
def test_bench_choices_are_checked_by_the_cli(tmp_path, option, value):
    res = CliRunner().invoke(main, ["bench", "--dry-run", option, value, "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and f"Invalid value for '{option}'" in res.output
    assert not (tmp_path / "r").exists()


def test_precision_and_the_older_bf16_flag():
    assert O.resolve_bf16(None, None) is False
    assert O.resolve_bf16("bf16", None) is True
    assert O.resolve_bf16(None, True) is True
    assert O.resolve_bf16("fp32", False) is False
    with pytest.raises(click.UsageError, match="disagree"):
        O.resolve_bf16("fp32", True)


@pytest.mark.parametrize("command", ["train-gan", "train-context-encoder", "train-classifier"])
def test_flip_is_spelled_the_same_everywhere(command):
    params = {p.name: p for p in main.commands[command].params}
    assert params["flip"].opts == ["--flip"] and params["flip"].secondary_opts == ["--no-flip"]
    assert params["flip"].default is True


def _commands(group=main):
    for cmd in group.commands.values():
        yield from _commands(cmd) if isinstance(cmd, click.Group) else [cmd]


def test_seed_and_device_are_spelled_the_same_everywhere():
    seeds = [p for c in _commands() for p in c.params if p.name == "seed"]
    devices = [p for c in _commands() for p in c.params if p.name == "device"]
    assert len(seeds) >= 9 and len(devices) >= 6
    assert {(tuple(p.opts), p.default, p.type.name) for p in seeds} == {(("--seed",), 0, "integer")}
    assert {tuple(p.opts) for p in devices} == {("--device",)}
