"""Headline rows: the few numbers per (question, model) that the master comparison table is built from.

Every research question's table rule also writes ``results/tables/<question>/headline.csv`` with
:data:`HEADLINE_COLUMNS`, one row per (model, measure). The master table and the recommendation matrix read
only these files, so a new question joins them by writing its headline, with no change to the report code.

- ``measure``: a short snake_case name, stable across runs (``exercise_accuracy``, ``latency_p50_ms``,
  ``recommended_rank``, ...); the same measure name means the same quantity in every question.
- ``value``, ``ci_low``, ``ci_high``: numbers (CI bounds empty when there is none); ``value`` is empty when the
  measure could not be computed for that model (never imputed), and ``note`` then says why.
- ``n``, ``failed``: samples the value rests on and samples that failed (empty when not sample-based).
- ``better``: ``higher``, ``lower`` or ``none`` (a setting such as a recommended batch size, not a score).
- ``detail``: free text a reader needs beside the number (``run lora_r16``, ``batch 8``), may be empty.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Mapping

import pandas as pd

from qvedbench.io import write_text

HEADLINE_COLUMNS = ("question", "model", "measure", "value", "ci_low", "ci_high", "n", "failed", "better",
                    "detail", "note")
BETTER = ("higher", "lower", "none")
_NUMERIC = ("value", "ci_low", "ci_high", "n", "failed")


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value)) or value == ""


def headline_frame(rows: Iterable[Mapping], source: str = "headline rows") -> pd.DataFrame:
    """Validate ``rows`` (mappings with :data:`HEADLINE_COLUMNS`; missing optional keys become empty) and
    return them as a frame in column order. Raises ``ValueError`` naming the source, row and field."""
    out = []
    for i, row in enumerate(rows):
        unknown = set(row) - set(HEADLINE_COLUMNS)
        if unknown:
            raise ValueError(f"{source}: row {i}: unknown field(s) {', '.join(sorted(unknown))}")
        clean = {c: row.get(c) for c in HEADLINE_COLUMNS}
        for field in ("question", "model", "measure"):
            if _missing(clean[field]):
                raise ValueError(f"{source}: row {i}: field '{field}' is required")
        if clean["better"] not in BETTER:
            raise ValueError(f"{source}: row {i}: field 'better' must be one of {', '.join(BETTER)}, "
                             f"got {clean['better']!r}")
        for field in _NUMERIC:
            value = clean[field]
            if _missing(value):
                clean[field] = None
                continue
            try:
                clean[field] = float(value)
            except (TypeError, ValueError):
                raise ValueError(f"{source}: row {i}: field '{field}' must be a number, got {value!r}") from None
        if clean["value"] is None and _missing(clean["note"]):
            raise ValueError(f"{source}: row {i}: a missing value needs a 'note' saying why")
        for field in ("detail", "note"):
            clean[field] = "" if _missing(clean[field]) else str(clean[field])
        out.append(clean)
    return pd.DataFrame(out, columns=list(HEADLINE_COLUMNS))


def write_headline(path: str | os.PathLike, rows: Iterable[Mapping]) -> pd.DataFrame:
    """Validate ``rows`` and write them atomically as CSV to ``path``; return the frame."""
    frame = headline_frame(rows, source=str(path))
    write_text(path, frame.to_csv(index=False))
    return frame


def read_headlines(paths: Iterable[str | os.PathLike]) -> pd.DataFrame:
    """All headline files concatenated (each validated; an unreadable one raises naming its path)."""
    frames = []
    for path in paths:
        try:
            raw = pd.read_csv(path, keep_default_na=False, dtype=str)
        except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
            raise ValueError(f"{path}: cannot read headline table: {exc}") from exc
        missing = set(HEADLINE_COLUMNS) - set(raw.columns)
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        frames.append(headline_frame(raw.to_dict("records"), source=str(path)))
    if not frames:
        return pd.DataFrame(columns=list(HEADLINE_COLUMNS))
    return pd.concat(frames, ignore_index=True)
