"""Read aggregate score files (and their per-sample companions) for figures, tables and the summary."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from qvedbench.io import RecordError, read_json, read_jsonl

REQUIRED_KEYS = ("model", "run", "variant", "n", "metrics")
SOURCE_KEY = "_source"  # where a loaded score came from, so its per-sample JSONL can be found


def load_scores(score_jsons: Iterable[str | os.PathLike | dict]) -> list[dict]:
    """Load aggregate scores given as paths or already-loaded dicts; validate the keys the report needs."""
    out = []
    for item in score_jsons:
        if isinstance(item, dict):
            scores, source = dict(item), item.get(SOURCE_KEY)
        else:
            scores, source = read_json(item), str(item)
            if not isinstance(scores, dict):
                raise RecordError(item, None, None, "a scores file must hold a JSON object")
        for key in REQUIRED_KEYS:
            if key not in scores:
                raise RecordError(source or "<scores dict>", None, key, "missing from scores")
        scores[SOURCE_KEY] = source
        out.append(scores)
    return out


def per_sample_path(scores: dict) -> Path | None:
    """The per-sample ``.jsonl`` beside a loaded scores ``.json``, if it exists."""
    source = scores.get(SOURCE_KEY)
    if not source:
        return None
    path = Path(source).with_suffix(".jsonl")
    return path if path.is_file() else None


def per_sample_values(scores: dict, field: str) -> dict[str, float | None] | None:
    """``id -> value`` of one per-sample field, or None without a per-sample file."""
    path = per_sample_path(scores)
    if path is None:
        return None
    return {row["id"]: row.get(field) for row in read_jsonl(path)}


def run_order(run: str) -> tuple:
    """Sort key: base first, baseline second, then other runs alphabetically."""
    return ({"base": 0, "baseline": 1}.get(run, 2), run)


def variant_order(variant: str) -> tuple:
    """Sort key: the clean test set, then the blank and swapped controls, then other variants alphabetically."""
    return ({"clean": 0, "blank": 1, "swapped": 2}.get(variant, 3), variant)
