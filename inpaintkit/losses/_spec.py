"""Loss spec strings: ``"context,prior=0.003,sem[layers=inception3b+inception4b]=1e5"``.

Grammar (one syntax, everywhere a ``--losses`` option is taken)::

    spec    := entry ("," entry)*
    entry   := NAME ["[" option ("," option)* "]"] ["=" WEIGHT]
    option  := WORD                  a mode of the term, e.g. context[l2], prior[nonsaturating]
             | KEY "=" VALUE         a constructor argument, e.g. context[window=9]
    VALUE   := atom ("+" atom)*      several atoms make a tuple: layers=inception3b+inception4b
    atom    := integer | float | true | false | text

    WEIGHT  := number                a fixed weight, e.g. 0.003 or 1e3
             | "auto:" R             a scale-free weight (see :class:`AutoWeight`), e.g. sem=auto:1

An omitted weight takes the term's default (``inpaintkit losses`` lists them; see also
:func:`default_weights_for_mask`). Weights must be finite and >= 0 (0 keeps the term in the
breakdown without optimising it); an auto ratio R must be finite and > 0. Whitespace is ignored;
a name may appear once.
"""
from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple, Sequence, Union

from ._registry import DEFAULT_WEIGHTS, LOSSES

__all__ = ["LossSpecError", "LossEntry", "AutoWeight", "parse_loss_spec", "format_loss_spec",
           "default_weights_for_mask", "RANDOM_MASK_WEIGHTS", "ETH_WEIGHTS",
           "ETH_RANDOM_MASK_WEIGHTS", "WEIGHT_TABLES", "RATIO_TABLE_R", "describe_losses"]

#: Calibrated random-mask weights (``benchmarks/results/guidance/``): with 70% of the pixels
#: missing, the context term pulls less on z and the classifier terms more, so the weights that
#: put ``sem`` and ``cat`` at the same gradient ratio to ``context`` as on center/left masks differ.
#: ``inpaint`` keeps the ETH study's random-mask value.
RANDOM_MASK_WEIGHTS: dict[str, float] = {"inpaint": 30.0, "sem": 800.0, "cat": 40.0}

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


@dataclass(frozen=True)
class AutoWeight:
    """A scale-free weight, ``NAME=auto:R`` in a spec.

    At the first step of a search, per image, the term's weight is set so that its weighted
    gradient with respect to z has ``ratio`` times the norm of the context term's weighted
    gradient: ``w_k = ratio * w_context * ||dL_context/dz|| / ||dL_k/dz||``. It stays fixed
    afterwards. With restarts, the norms are averaged over an image's restarts, so that all its
    restarts share one weight and their totals stay comparable. See
    :meth:`~inpaintkit.losses.CompositeLoss.resolve_weights`.

    Attributes:
        ratio: R, finite and > 0.
    """

    ratio: float

    def __post_init__(self) -> None:
        if not (isinstance(self.ratio, (int, float)) and math.isfinite(self.ratio) and self.ratio > 0):
            raise LossSpecError(f"an auto weight's ratio must be a finite number > 0, got {self.ratio!r}")

    def __str__(self) -> str:
        return f"auto:{_num(float(self.ratio))}"


#: A spec weight: a number, or an :class:`AutoWeight` resolved at the first step of a search.
Weight = Union[float, AutoWeight]


class LossSpecError(ValueError):
    """A malformed loss spec: unknown name or option, bad number, or a negative/NaN/inf weight."""


class LossEntry(NamedTuple):
    """One parsed spec entry; compares equal to the plain tuple ``(name, weight, kwargs)``."""

    name: str
    weight: float | AutoWeight
    kwargs: dict[str, Any]


_ENTRY = re.compile(r"^(?P<name>[A-Za-z][\w\-]*)(?:\[(?P<opts>[^\[\]]*)\])?(?:=(?P<weight>.*))?$")


def _known() -> str:
    return ", ".join(LOSSES.list()) or "(none)"


def _split_top(spec: str) -> list[str]:
    """Split on commas outside brackets."""
    parts, depth, cur = [], 0, []
    for ch in spec:
        if ch == "[":
            depth += 1
        elif ch == "]":
            depth -= 1
            if depth < 0:
                raise LossSpecError(f"unbalanced ']' in loss spec {spec!r}")
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if depth:
        raise LossSpecError(f"unbalanced '[' in loss spec {spec!r}")
    parts.append("".join(cur))
    return parts


def _atom(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        v = float(text)
    except ValueError:
        return text
    if not math.isfinite(v):
        raise LossSpecError(f"option value {text!r} is not a finite number")
    return v


def _value(text: str) -> Any:
    atoms = [_atom(a) for a in text.split("+")]
    if any(a == "" for a in atoms):
        raise LossSpecError(f"empty value in option {text!r}")
    return tuple(atoms) if len(atoms) > 1 else atoms[0]


def _parse_options(name: str, cls, text: str | None) -> dict[str, Any]:
    kwargs: dict[str, Any] = {}
    if text is None:
        return kwargs
    params = inspect.signature(cls.__init__).parameters
    open_kwargs = any(p.kind is p.VAR_KEYWORD for p in params.values())
    accepted = [p for p in params if p != "self" and params[p].kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)]
    for opt in filter(None, text.split(",")):
        key, eq, val = opt.partition("=")
        if not eq:
            if not cls.modes:
                raise LossSpecError(f"loss {name!r} has no modes, got option {key!r}; "
                                    f"its options are: {', '.join(accepted) or '(none)'}")
            if key not in cls.modes:
                raise LossSpecError(f"unknown mode {key!r} for loss {name!r}; "
                                    f"valid modes: {', '.join(cls.modes)}")
            key, parsed = "mode", key
        else:
            if not key:
                raise LossSpecError(f"missing option name in {opt!r} for loss {name!r}")
            if key not in accepted and not open_kwargs:
                raise LossSpecError(f"unknown option {key!r} for loss {name!r}; "
                                    f"valid options: {', '.join(accepted) or '(none)'}")
            if not val:
                raise LossSpecError(f"option {key!r} of loss {name!r} has no value")
            parsed = _value(val)
            if key == "mode" and cls.modes and parsed not in cls.modes:
                raise LossSpecError(f"unknown mode {parsed!r} for loss {name!r}; "
                                    f"valid modes: {', '.join(cls.modes)}")
        if key in kwargs:
            raise LossSpecError(f"option {key!r} given twice for loss {name!r}")
        kwargs[key] = parsed
    return kwargs


def _parse_weight(name: str, text: str) -> float | AutoWeight:
    if text.lower().startswith("auto"):
        head, colon, ratio = text.partition(":")
        if head.lower() != "auto" or not colon or not ratio:
            raise LossSpecError(f"cannot parse weight {text!r} of loss {name!r}: an auto weight is "
                                f"auto:R with R > 0, e.g. {name}=auto:1")
        if name == "context":
            raise LossSpecError("context is the reference of auto weights; give it a number")
        try:
            r = float(ratio)
        except ValueError:
            raise LossSpecError(f"cannot parse the ratio {ratio!r} in {name}={text}: expected a "
                                f"number > 0, e.g. {name}=auto:1") from None
        if not math.isfinite(r) or r <= 0:
            raise LossSpecError(f"the auto ratio of loss {name!r} must be a finite number > 0, "
                                f"got {ratio!r}")
        return AutoWeight(r)
    try:
        w = float(text)
    except ValueError:
        raise LossSpecError(f"cannot parse weight {text!r} of loss {name!r}: expected a number "
                            f"such as 0.003 or 1e5") from None
    if not math.isfinite(w) or w < 0:
        raise LossSpecError(f"weight of loss {name!r} must be a finite number >= 0, got {text!r}")
    return w


def parse_loss_spec(spec: str, defaults: Mapping[str, float] | None = None) -> list[LossEntry]:
    """Parse a loss spec string into ``(name, weight, kwargs)`` entries.

    Args:
        spec: e.g. ``"context,prior=0.003,sem=1e5,cat=1e6"`` or ``"context[l2],prior[nonsaturating]"``;
            see the module docstring for the grammar.
        defaults: weights for entries that give none, overriding :data:`DEFAULT_WEIGHTS` (e.g.
            :func:`default_weights_for_mask` for random masks).

    Returns:
        The entries, in spec order.

    Raises:
        LossSpecError: empty spec, unknown name (listing the registered ones), unknown mode or
            option, a name given twice, or a weight that is not a finite number >= 0.
    """
    if not isinstance(spec, str):
        raise LossSpecError(f"loss spec must be a string, got {type(spec).__name__}")
    compact = re.sub(r"\s+", "", spec)
    if not compact:
        raise LossSpecError(f"empty loss spec; registered losses: {_known()}")
    entries: list[LossEntry] = []
    for part in _split_top(compact):
        if not part:
            raise LossSpecError(f"empty entry in loss spec {spec!r} (stray comma?)")
        m = _ENTRY.match(part)
        if not m:
            raise LossSpecError(f"cannot parse {part!r} in loss spec {spec!r}; expected "
                                f"NAME[options]=WEIGHT, e.g. context[l2]=1 or prior=0.003")
        name = m["name"]
        if name not in LOSSES:
            raise LossSpecError(f"unknown loss {name!r} in {spec!r}; registered losses: {_known()}")
        if any(e.name == name for e in entries):
            raise LossSpecError(f"loss {name!r} appears twice in {spec!r}")
        cls = LOSSES.get(name)
        kwargs = _parse_options(name, cls, m["opts"])
        if m["weight"] is not None:
            weight = _parse_weight(name, m["weight"])
        else:
            weight = {**DEFAULT_WEIGHTS, **(defaults or {})}.get(name, cls.default_weight)
            weight = weight if isinstance(weight, AutoWeight) else float(weight)
        entries.append(LossEntry(name, weight, kwargs))
    return entries


def _format_value(v: Any) -> str:
    if isinstance(v, tuple):
        return "+".join(_format_value(a) for a in v)
    if isinstance(v, bool):
        return str(v).lower()
    return _num(v) if isinstance(v, float) else str(v)


def _num(v: float) -> str:
    """The shortest of ``100000`` / ``1e5`` style that reads back as exactly ``v``."""
    mantissa, _, exp = f"{v:.15e}".partition("e")
    mantissa = mantissa.rstrip("0").rstrip(".")
    plain, sci = f"{v:g}", f"{mantissa}e{int(exp)}"
    if float(plain) == v and len(plain) <= len(sci) + 1:
        return plain
    return sci if float(sci) == v else repr(v)


def format_loss_spec(entries: Sequence[tuple[str, float, Mapping[str, Any]]]) -> str:
    """The canonical spec string of parsed entries, with every weight written out.

    ``parse_loss_spec(format_loss_spec(e)) == e`` for parsed entries ``e``.
    """
    out = []
    for name, weight, kwargs in entries:
        opts = [str(v) if k == "mode" else f"{k}={_format_value(v)}" for k, v in kwargs.items()]
        w = str(weight) if isinstance(weight, AutoWeight) else _num(float(weight))
        out.append(name + (f"[{','.join(opts)}]" if opts else "") + f"={w}")
    return ",".join(out)


def default_weights_for_mask(mask_spec: str | None, table: str = "calibrated") -> dict[str, Weight]:
    """Default weights for a mask spec, from a named table.

    Args:
        mask_spec: e.g. ``"center"``, ``"left"``, ``"random:0.7"``; ``None`` gives the
            center/left weights.
        table: ``calibrated`` (default): :data:`DEFAULT_WEIGHTS`, with
            :data:`RANDOM_MASK_WEIGHTS` for ``random`` masks; the ``sem``/``cat`` values put those
            terms' z-gradients at about the context term's at the start of a search on Stanford
            Cars (``benchmarks/results/guidance/``). ``eth``: the ETH study's values
            (:data:`ETH_WEIGHTS`, :data:`ETH_RANDOM_MASK_WEIGHTS`), which saturate z with our
            classifier normalisation; for the record. ``ratio``: the calibrated table with ``sem``
            and ``cat`` at ``auto:R`` (:data:`RATIO_TABLE_R`), scale-free, for a classifier the
            fixed weights were not calibrated on (the built-in demo's).

    Returns:
        ``{name: weight}`` for every registered term.

    Raises:
        LossSpecError: an unknown table.
    """
    if table not in WEIGHT_TABLES:
        raise LossSpecError(f"unknown weight table {table!r}; choose one of {', '.join(WEIGHT_TABLES)}")
    weights = dict(DEFAULT_WEIGHTS)
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


def describe_losses() -> str:
    """A table of the registered terms: default weight, random-mask weight, modes, options, inputs."""
    lines = [f"{'name':10s} {'weight':>8s} {'random':>8s}  {'modes / options':34s} reads",
             "-" * 96]
    for name in LOSSES.list():
        cls = LOSSES.get(name)
        params = [p for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name not in ("self", "mode") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        opts = ([f"[{'|'.join(cls.modes)}]"] if cls.modes else []) + \
               [f"{p.name}={p.default}" for p in params]
        weight = DEFAULT_WEIGHTS[name]
        rnd = RANDOM_MASK_WEIGHTS.get(name, weight)
        lines.append(f"{name:10s} {_num(weight):>8s} {_num(rnd):>8s}  {' '.join(opts) or '-':34s} "
                     f"{', '.join(sorted(cls.requires))}")
        doc = (cls.__doc__ or "").strip().splitlines()
        if doc:
            lines.append(f"{'':11s}{doc[0].replace('``', '')}")
        for mode, reads in cls.mode_requires.items():
            lines.append(f"{'':11s}[{mode}] reads {', '.join(sorted(reads))}")
    lines += ["", "Spec: NAME[mode,key=value]=WEIGHT joined by commas, e.g. "
              "context[l2],prior=0.003,sem[layers=inception3b+inception4b]=1e5 or "
              "context,prior,sem[known],cat[known]=auto:0.3",
              "feat_y, logits_y: the classifier on M*y (the hole at 0), computed once per search "
              "without gradient: fixed targets.",
              "Omitted weights take 'weight' ('random' for random masks); NAME=auto:R sets the "
              "weight per image at the first step so that the term's z-gradient is R times the "
              "context term's."]
    return "\n".join(lines)
