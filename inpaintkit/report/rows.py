"""Reading a run for the report: its rows (the scored ones), ``meta.json``, the order and
labels of its methods and masks."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable

from .._rows import load_rows
from ..bench.rundir import META_FILE


class ReportError(ValueError):
    """A run whose rows cannot be reported: every row failed, or a meta.json that is not JSON."""


def load_meta(run_dir: str | os.PathLike) -> dict[str, Any]:
    """``DIR/meta.json``, or ``{}`` when there is none (a hand-made rows file)."""
    p = Path(run_dir) / META_FILE
    if not p.is_file():
        return {}
    try:
        meta = json.loads(p.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ReportError(f"{p} is not a JSON file ({e}); it was edited or corrupted") from None
    return meta if isinstance(meta, dict) else {}


def method_order(df, meta: dict[str, Any]) -> list[str]:
    """Methods in the order the run declared them, then any others in the rows."""
    seen = list(dict.fromkeys(df["method"]))
    declared = [m["name"] for m in meta.get("methods", []) if m["name"] in seen]
    return declared + [m for m in seen if m not in declared]


def mask_order(df, meta: dict[str, Any]) -> list[str]:
    """Masks in the order the run declared them, then any others in the rows."""
    seen = list(dict.fromkeys(df["mask"]))
    declared = [m for m in meta.get("config", {}).get("masks", []) or [] if m in seen]
    return declared + [m for m in seen if m not in declared]


def method_labels(df, meta: dict[str, Any]) -> dict[str, str]:
    """Display name of every method in the rows (from ``meta.json``, else the rows)."""
    labels = {m["name"]: m.get("label", m["name"]) for m in meta.get("methods", [])}
    if "method_label" in df:
        for name, label in zip(df["method"], df["method_label"]):
            if isinstance(label, str) and label:
                labels.setdefault(name, label)
    return {m: labels.get(m, m) for m in dict.fromkeys(df["method"])}


def ok_rows(df):
    """The rows that did not fail (empty ``error``)."""
    if "error" not in df:
        return df
    err = df["error"].fillna("").astype(str)
    return df[err == ""]


def metric_column(metric: str, output: str) -> str:
    """The rows' column of ``metric`` for ``output`` ``"scored"`` or ``"overlay"``."""
    return metric if output == "scored" else f"{metric}_overlay"


def rows_to_report(run_dir: Path, echo: Callable[[str], None] | None):
    """The rows of a run, with a warning for a cut-short last line and an error when none worked."""
    from .._rows import incomplete_rows

    df = load_rows(run_dir)
    for path in incomplete_rows(run_dir):
        msg = (f"warning: {path} ends with an incomplete line (a run killed while writing); it is "
               f"left out, and {len(df)} complete rows were read")
        if echo is not None:
            echo(msg)
        else:
            import warnings

            warnings.warn(msg, RuntimeWarning, stacklevel=3)
    ok = ok_rows(df)
    if ok.empty:
        first = str(df["error"].iloc[0]) if "error" in df else "?"
        raise ReportError(f"every one of the {len(df)} rows in {run_dir} failed, so there is nothing "
                          f"to report; the first error: {' '.join(first.split())[:300]}")
    return df
