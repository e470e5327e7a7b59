"""Merging the optional ``ground_truth.json`` into normalised records.

The file is a JSON list of ``{"video_path": ..., "labels": [...], "labels_descriptive": "..."}``. Entries are
matched to records by video path (as written in the annotations, compared after normalising ``./`` and
``..``). A matched record gains ``gt_labels`` and ``gt_feedback``; labels that spell a known error id fill the
record's ``errors`` when its annotation has none. Entries that match no record are returned, not raised.
"""
from __future__ import annotations

import os
import posixpath
from typing import Any, Sequence

from qvedbench.data.qved import read_annotation_list
from qvedbench.io import RecordError
from qvedbench.labels import normalise


def _path_key(path: str) -> str:
    return posixpath.normpath(path.replace("\\", "/"))


def read_ground_truth(path: str | os.PathLike) -> dict[str, dict[str, Any]]:
    """Validated entries keyed by normalised video path."""
    entries: dict[str, dict[str, Any]] = {}
    for index, raw in enumerate(read_annotation_list(path)):
        if not isinstance(raw, dict):
            raise RecordError(path, index, None, f"expected an object, got {type(raw).__name__}")
        video_path = raw.get("video_path")
        if not isinstance(video_path, str) or not video_path.strip():
            raise RecordError(path, index, "video_path", f"expected a non-empty path string, got {video_path!r}")
        gt_labels = raw.get("labels", [])
        if not isinstance(gt_labels, list) or not all(isinstance(x, str) for x in gt_labels):
            raise RecordError(path, index, "labels", f"expected a list of strings, got {gt_labels!r}")
        descriptive = raw.get("labels_descriptive")
        if descriptive is not None and not isinstance(descriptive, str):
            raise RecordError(path, index, "labels_descriptive", f"expected a string, got {descriptive!r}")
        key = _path_key(video_path)
        if key in entries:
            raise RecordError(path, index, "video_path", f"duplicate entry for {video_path!r} (first at record {entries[key]['index']})")
        entries[key] = {"video_path": video_path, "labels": list(gt_labels), "labels_descriptive": descriptive, "index": index}
    return entries


def known_error_ids(records: Sequence[dict]) -> set[str]:
    """Every error id any annotation uses (in ``errors`` or as an ``error_frames`` key)."""
    ids: set[str] = set()
    for record in records:
        ids.update(record.get("errors", []))
        ids.update(record.get("error_frames", {}))
    return ids


def merge_ground_truth(records: list[dict], entries: dict[str, dict[str, Any]]) -> list[str]:
    """Attach ground truth to ``records`` in place; return the video paths of entries no record matched."""
    by_name = {normalise(e): e for e in sorted(known_error_ids(records))}
    matched: set[str] = set()
    for record in records:
        entry = entries.get(_path_key(record["video_rel"]))
        if entry is None:
            continue
        matched.add(_path_key(record["video_rel"]))
        record["gt_labels"] = list(entry["labels"])
        if entry["labels_descriptive"] is not None:
            record["gt_feedback"] = entry["labels_descriptive"]
        found = [by_name[normalise(x)] for x in entry["labels"] if normalise(x) in by_name]
        # Only fill when some label is a known error id: labels without one are not proof of "no error".
        if "errors" not in record and found:
            record["errors"] = list(dict.fromkeys(found))
    return [e["video_path"] for key, e in sorted(entries.items()) if key not in matched]
