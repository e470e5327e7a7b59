"""Normalised split records (``results/data/{train,val,test}.jsonl``): reading back and counting."""
from __future__ import annotations

import os
from collections import Counter
from typing import Iterable

from qvedbench.data.qved import SPLITS
from qvedbench.io import RecordError, read_jsonl

# Required fields and their types, in the order records are written.
REQUIRED_FIELDS: dict[str, type | tuple[type, ...]] = {
    "id": str, "video": str, "video_rel": str, "exercise": str, "label": str, "feedback": str,
    "reference": str, "prompt": str, "split": str, "num_frames": int, "fps": (int, float),
    "width": int, "height": int, "source": str, "index": int,
}
# Optional fields and where they go: annotations after ``split``, ground truth after the probed properties.
ANNOTATION_FIELDS = ("errors", "error_frames")
GROUND_TRUTH_FIELDS = ("gt_labels", "gt_feedback")


def ordered(record: dict) -> dict:
    """``record`` with its fields in the documented order (unknown extra fields last)."""
    head = ["id", "video", "video_rel", "exercise", "label", "feedback", "reference", "prompt", "split"]
    order = head + list(ANNOTATION_FIELDS) + ["num_frames", "fps", "width", "height"] + list(GROUND_TRUTH_FIELDS) + ["source", "index"]
    out = {k: record[k] for k in order if k in record}
    out.update({k: v for k, v in record.items() if k not in out})
    return out


def read_records(path: str | os.PathLike) -> list[dict]:
    """Read a normalised split (or variant) JSONL, checking every required field and unique ids."""
    rows = read_jsonl(path)  # RecordError for bad bytes or a malformed line
    seen: set[str] = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RecordError(path, i, None, f"expected an object, got {type(row).__name__}")
        for field, kind in REQUIRED_FIELDS.items():
            if field not in row:
                raise RecordError(path, i, field, "missing")
            value = row[field]
            if not isinstance(value, kind) or isinstance(value, bool):
                raise RecordError(path, i, field, f"expected {getattr(kind, '__name__', 'a number')}, got {value!r}")
        if row["split"] not in SPLITS:
            raise RecordError(path, i, "split", f"unknown split {row['split']!r}")
        if row["id"] in seen:
            raise RecordError(path, i, "id", f"duplicate id {row['id']!r}")
        seen.add(row["id"])
    return rows


def class_counts(records: Iterable[dict], field: str = "exercise") -> dict[str, int]:
    """Records per class, classes in alphabetical order."""
    counts = Counter(r[field] for r in records)
    return {k: counts[k] for k in sorted(counts)}


def majority_class(records: Iterable[dict], field: str = "exercise") -> str:
    """The most frequent class (alphabetically first on a tie); ValueError when there are no records."""
    counts = class_counts(records, field)
    if not counts:
        raise ValueError("no records: the majority class is undefined")
    return min(counts, key=lambda k: (-counts[k], k))
