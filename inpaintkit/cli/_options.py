"""Shared machinery of the commands: one-line errors, and the options spelled the same in every
command (``--device``, ``--threads``, ``--config``, ``--precision``, ``--flip/--no-flip``, and the
choices of the search options)."""
from __future__ import annotations

import math
import os

import click

#: The values of the choice options, spelled as the library spells them (inpaintkit.search's
#: PRECISIONS, OPTIMIZERS and RESTART_REDUCTIONS, inpaintkit.blend's BLENDS; a test checks that
#: they agree). Written out here so that ``inpaintkit --help`` does not import torch.
PRECISIONS = ("auto", "fp32", "bf16")
OPTIMIZERS = ("adam", "nesterov")
RESTART_REDUCTIONS = ("best", "mean")
BLENDS = ("poisson", "overlay")

#: What a bad input or environment raises inside the library: each becomes a one-line
#: ``Error: ...`` and exit status 1 instead of a traceback. ``INPAINTKIT_DEBUG=1`` shows the
#: traceback instead (for reporting a bug).
_USER_ERRORS = (ValueError, OSError, KeyError, ArithmeticError)


def _one_line(e: BaseException) -> str:
    msg = str(e.args[0]) if isinstance(e, KeyError) and e.args else str(e)
    msg = " ".join(msg.split()) or type(e).__name__
    if isinstance(e, OSError) and not isinstance(e, FileNotFoundError) and e.filename:
        msg = f"{e.strerror or msg}: {e.filename}"
    return msg


class CommandGroup(click.Group):
    """The command group: a library error ends the command with one line, not a traceback."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except _USER_ERRORS as e:
            if os.environ.get("INPAINTKIT_DEBUG"):
                raise
            raise click.ClickException(_one_line(e)) from e


def _check_device(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None:
        return None
    from ..utils import DeviceError, resolve_device

    try:
        resolve_device(value)
    except DeviceError as e:
        raise click.BadParameter(str(e)) from None
    return value


def device_option(default: str | None = None):
    """``--device``, spelled and checked the same in every command (before any work starts)."""
    return click.option("--device", default=default, callback=_check_device,
                        show_default=default is not None,
                        help="cpu, cuda, cuda:1 ..." + ("" if default else " (default: cuda if available)."))


def threads_option():
    """``--threads``: ``torch.set_num_threads`` for the process."""
    return click.option("--threads", default=None, type=click.IntRange(1),
                        help="torch.set_num_threads for this process.")


def check_lr(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    # 3.4e38 is float32's largest value: the search and training run in float32, so a larger
    # lr overflows in the first step instead of failing here
    """Refuse a learning rate that is not a positive finite float32."""
    if value is not None and not (math.isfinite(value) and 0 < value < 3.4e38):
        raise click.BadParameter(f"must be a positive finite number below 3.4e38 (float32), got {value}")
    return value


def _load_config(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """Read ``--config run.toml`` into the command's defaults (explicit options still win)."""
    if value is None:
        return None
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        try:
            import tomli as tomllib
        except ModuleNotFoundError:
            raise click.BadParameter("reading TOML needs Python 3.11, or the tomli package") from None
    try:
        with open(value, "rb") as f:
            data = tomllib.load(f)
    except OSError as e:
        raise click.BadParameter(f"cannot read {value}: {e.strerror or e}") from None
    except tomllib.TOMLDecodeError as e:
        raise click.BadParameter(f"{value} is not valid TOML: {e}") from None
    params = {p.name: p for p in ctx.command.params if p.name != "config"}
    names = set(params)
    values = {str(k).replace("-", "_"): v for k, v in data.items()}
    for k, v in list(values.items()):
        if k in params and getattr(params[k], "multiple", False) and not isinstance(v, list):
            values[k] = [v]  # a repeatable option may be given one value: masks = "center"
        # the off spelling of an on/off flag: no-flip = true is flip = false
        flag = params.get(k[3:]) if k.startswith("no_") and k not in params else None
        if flag is not None and f"--{k[3:].replace('_', '-')}" in getattr(flag, "opts", ()) \
                and f"--no-{k[3:].replace('_', '-')}" in getattr(flag, "secondary_opts", ()) \
                and isinstance(v, bool):
            values[k[3:]] = not values.pop(k)
            names.add(k)
    unknown = sorted(k for k in data if str(k).replace("-", "_") not in names)
    if unknown:
        raise click.BadParameter(f"{value}: unknown key(s) {', '.join(unknown)}; the keys are the "
                                 f"options of '{ctx.info_name}' (e.g. batch-size = 64)")
    ctx.default_map = {**(ctx.default_map or {}), **values}
    return value


def config_option():
    """``--config FILE.toml``: the same keys as the options, as defaults; copied into the run."""
    return click.option("--config", "config", default=None, is_eager=True, callback=_load_config,
                        type=click.Path(dir_okay=False),
                        help="A TOML file of option values (keys as the options: iters = 100, "
                             "batch-size = 32); options given on the command line win. Copied "
                             "into the run folder as config.toml.")


class tidy_out:
    """Around a command that claims ``--out``: if it fails before writing anything there, the
    folder it created is removed again (a refused run leaves no empty folder behind)."""

    def __init__(self, out: str | os.PathLike) -> None:
        from pathlib import Path

        self.out = Path(out)
        self.fresh = not self.out.exists()

    def __enter__(self) -> "tidy_out":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and self.fresh and int(os.environ.get("RANK", "0")) == 0:
            from ..utils import remove_empty_run_dir

            remove_empty_run_dir(self.out)


def keep_config(config: str | None, out: str | os.PathLike) -> None:
    """Copy ``--config FILE`` into the run folder as ``config.toml``."""
    if config:
        from pathlib import Path

        from ..utils import atomic_write_bytes

        atomic_write_bytes(Path(out) / "config.toml", Path(config).read_bytes())


def seed_option(help: str | None = None):
    """``--seed``, an integer with default 0 in every command; ``help`` says what it seeds."""
    return click.option("--seed", default=0, show_default=True, type=int, help=help)


def precision_option(default: str | None = "fp32", help: str = "bf16: bfloat16 autocast."):
    """``--precision auto|fp32|bf16``, the one spelling of numeric precision in every command
    (``auto``: bf16 where it is native, fp32 elsewhere)."""
    return click.option("--precision", type=click.Choice(PRECISIONS), default=default,
                        show_default=default is not None, help=help)


def flip_option():
    """``--flip/--no-flip``: random horizontal flips of the training images (on by default)."""
    return click.option("--flip/--no-flip", default=True, show_default=True,
                        help="Random horizontal flips.")


def resolve_bf16(precision: str | None, bf16: bool | None, device: str | None = None) -> bool:
    """Whether to use bf16, from ``--precision`` and the older ``--bf16/--no-bf16`` spelling
    (``auto``: whether bf16 is native on ``device``).

    Raises:
        click.UsageError: the two disagree.
    """
    if precision == "auto":
        from ..utils import resolve_device, resolve_precision

        precision = resolve_precision("auto", resolve_device(device))
    if precision is not None and bf16 is not None and (precision == "bf16") != bf16:
        raise click.UsageError(f"--precision {precision} and --{'' if bf16 else 'no-'}bf16 disagree; "
                               f"give --precision only")
    return precision == "bf16" if precision is not None else bool(bf16)
