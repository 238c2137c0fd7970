"""Loss specs: the string ``"context,prior=0.003,sem[layers=inception3b+inception4b]=1e5"`` and
the :class:`LossSpec` it is parsed into, once, wherever a loss is configured.

Grammar (one syntax, everywhere a ``--losses`` option is taken)::

    spec    := entry ("," entry)*
    entry   := NAME ["[" option ("," option)* "]"] ["=" WEIGHT]
    option  := WORD                  a mode of the term, e.g. context[l2], prior[nonsaturating]
             | KEY "=" VALUE         a constructor argument, e.g. context[window=9]
    VALUE   := atom ("+" atom)*      several atoms make a tuple: layers=inception3b+inception4b
    atom    := integer | float | true | false | text

    WEIGHT  := number                a fixed weight, e.g. 0.003 or 1e3
             | "auto:" R             a scale-free weight (see :class:`AutoWeight`), e.g. sem=auto:1

An omitted weight takes the term's default (``inpaintkit losses`` lists them), or the one a
caller passes as ``defaults`` (the benchmark's per-mask tables live with the presets, in
:mod:`inpaintkit._presets`: the loss package knows nothing of masks). Weights must be finite and >= 0 (0 keeps the term in the
breakdown without optimising it); an auto ratio R must be finite and > 0. Whitespace is ignored;
a name may appear once.
"""
from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, NamedTuple, Sequence, Union

from ._registry import DEFAULT_WEIGHTS, DISCRIMINATOR_INPUTS, FEATURE_INPUTS, LOSSES

__all__ = ["LossSpecError", "LossEntry", "LossSpec", "AutoWeight", "Weight", "parse_loss_spec",
           "format_loss_spec", "describe_losses"]

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

    @property
    def mode(self) -> str | None:
        """The term's mode as the spec gave it (``context[l2]``), or ``None`` for its default."""
        return self.kwargs.get("mode")


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
            the benchmark's per-mask tables).

    Returns:
        The entries, in spec order. :meth:`LossSpec.parse` keeps them with what they need.

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


def describe_losses(columns: Mapping[str, tuple[Mapping[str, Weight], str]] | None = None) -> str:
    """A table of the registered terms: default weight, modes, options, inputs.

    Args:
        columns: extra weight columns, ``{title: (weights, when)}``, e.g. a caller's weights for
            random masks: ``{"random": (RANDOM_MASK_WEIGHTS, "random masks")}``. A term missing
            from ``weights`` shows its default.
    """
    columns = dict(columns or {})
    head = "".join(f" {t:>8s}" for t in columns)
    lines = [f"{'name':10s} {'weight':>8s}{head}  {'modes / options':34s} reads", "-" * 96]
    for name in LOSSES.list():
        cls = LOSSES.get(name)
        params = [p for p in inspect.signature(cls.__init__).parameters.values()
                  if p.name not in ("self", "mode") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
        opts = ([f"[{'|'.join(cls.modes)}]"] if cls.modes else []) + \
               [f"{p.name}={p.default}" for p in params]
        weight = DEFAULT_WEIGHTS[name]
        extra = "".join(f" {_weight_text(w.get(name, weight)):>8s}" for w, _ in columns.values())
        lines.append(f"{name:10s} {_num(weight):>8s}{extra}  {' '.join(opts) or '-':34s} "
                     f"{', '.join(sorted(cls.requires))}")
        doc = (cls.__doc__ or "").strip().splitlines()
        if doc:
            lines.append(f"{'':11s}{doc[0].replace('``', '')}")
        for mode, reads in cls.mode_requires.items():
            lines.append(f"{'':11s}[{mode}] reads {', '.join(sorted(reads))}")
    when = "".join(f" ('{t}' for {w})" for t, (_, w) in columns.items())
    lines += ["", "Spec: NAME[mode,key=value]=WEIGHT joined by commas, e.g. "
              "context[l2],prior=0.003,sem[layers=inception3b+inception4b]=1e5 or "
              "context,prior,sem[known],cat[known]=auto:0.3",
              "feat_y, logits_y: the classifier on M*y (the hole at 0), computed once per search "
              "without gradient: fixed targets.",
              f"Omitted weights take 'weight'{when}; NAME=auto:R sets the "
              "weight per image at the first step so that the term's z-gradient is R times the "
              "context term's."]
    return "\n".join(lines)


def _weight_text(w: Weight) -> str:
    return str(w) if isinstance(w, AutoWeight) else _num(float(w))


def _entry_requires(entry: LossEntry) -> frozenset[str]:
    """The named inputs one entry's term reads, for its mode (without building the term)."""
    cls = LOSSES.get(entry.name)
    mode = entry.kwargs.get("mode")
    return frozenset(cls.mode_requires.get(mode, cls.requires)) if mode else frozenset(cls.requires)


@dataclass(frozen=True)
class LossSpec:
    """A loss spec, parsed once: its entries and what they need.

    Build it with :meth:`parse` (or from entries); hand it to
    :func:`~inpaintkit.losses.build_loss` and to whatever needs to know which networks a loss
    reads, instead of the string. ``str(spec)`` is the canonical string, every weight written
    out (:func:`format_loss_spec`).

    Attributes:
        entries: ``(name, weight, kwargs)`` per term, in spec order; a weight is a number or an
            :class:`AutoWeight`.
        given: the names whose weight the spec wrote out; the others took a default, which
            :meth:`with_defaults` may replace.

    Example:
        >>> spec = LossSpec.parse("context,prior,sem[known]=auto:1")
        >>> spec.needs_feature_net, spec.needs_discriminator
        (True, True)
        >>> str(spec.with_defaults({"prior": 0.01}))
        'context=1,prior=0.01,sem[known]=auto:1'
    """

    entries: tuple[LossEntry, ...]
    given: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, spec: "str | LossSpec", defaults: Mapping[str, Weight] | None = None) -> "LossSpec":
        """Parse ``spec`` (see :func:`parse_loss_spec`); a :class:`LossSpec` is returned as is,
        with ``defaults`` applied when given.

        Raises:
            LossSpecError: see :func:`parse_loss_spec`.
        """
        if isinstance(spec, LossSpec):
            return spec.with_defaults(defaults) if defaults else spec
        entries = parse_loss_spec(spec, defaults)
        given = set()
        if isinstance(spec, str):
            for part in _split_top(re.sub(r"\s+", "", spec)):
                m = _ENTRY.match(part)
                if m and m["weight"] is not None:
                    given.add(m["name"])
        return cls(tuple(entries), frozenset(given))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(e.name for e in self.entries)

    @property
    def weights(self) -> dict[str, Weight]:
        """``{name: weight}``."""
        return {e.name: e.weight for e in self.entries}

    @property
    def requires(self) -> frozenset[str]:
        """The named inputs (:data:`~inpaintkit.losses.INPUTS`) the terms read, for their modes."""
        return frozenset().union(*(_entry_requires(e) for e in self.entries))

    @property
    def needs_discriminator(self) -> bool:
        """Whether a term reads the discriminator (``prior``, ``inpaint``)."""
        return bool(self.requires & DISCRIMINATOR_INPUTS)

    @property
    def needs_feature_net(self) -> bool:
        """Whether a term reads classifier features or logits (``sem``, ``cat``)."""
        return bool(self.requires & FEATURE_INPUTS)

    @property
    def canonical(self) -> str:
        """The canonical spec string (:func:`format_loss_spec`)."""
        return format_loss_spec(self.entries)

    def __str__(self) -> str:
        return self.canonical

    def with_defaults(self, defaults: Mapping[str, Weight]) -> "LossSpec":
        """The same spec with the weights it did not write out taken from ``defaults`` (over
        :data:`DEFAULT_WEIGHTS`), as if it had been parsed with them."""
        table = {**DEFAULT_WEIGHTS, **defaults}
        out = []
        for e in self.entries:
            if e.name not in self.given:
                w = table.get(e.name, LOSSES.get(e.name).default_weight)
                e = LossEntry(e.name, w if isinstance(w, AutoWeight) else float(w), e.kwargs)
            out.append(e)
        return LossSpec(tuple(out), self.given)

    def monitoring(self, names: Iterable[str]) -> "LossSpec":
        """The spec with each term of ``names`` it lacks appended at weight 0: recorded in the
        breakdown, not optimised."""
        have = set(self.names)
        extra = []
        for n in names:
            if n not in have:
                if n not in LOSSES:
                    raise LossSpecError(f"unknown loss {n!r}; registered losses: {_known()}")
                extra.append(LossEntry(n, 0.0, {}))
                have.add(n)
        return LossSpec(self.entries + tuple(extra), self.given | {e.name for e in extra})
