"""From QVED annotation files to normalised split JSONLs, a problems list and a summary."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from qvedbench import labels
from qvedbench.data.ground_truth import merge_ground_truth, read_ground_truth
from qvedbench.data.qved import SPLITS, read_qved
from qvedbench.data.records import class_counts, ordered
from qvedbench.data.split import assign_splits, check_ratios
from qvedbench.io import write_json, write_jsonl
from qvedbench.video import VideoInfo, VideoReadError, probe

PROBLEM_REASONS = ("missing", "empty", "unreadable", "too_short")


class VideoChecker:
    """Probes each video file once and says why a clip is unusable (or returns its properties)."""

    def __init__(self, min_frames: int, probe_fn: Callable[[str], VideoInfo] | None = None):
        self.min_frames = min_frames
        self._probe = probe_fn or probe
        self._cache: dict[str, VideoInfo | tuple[str, str]] = {}

    def _inspect(self, path: str) -> VideoInfo | tuple[str, str]:
        if not os.path.isfile(path):
            return "missing", f"no such file: {path}"
        if os.path.getsize(path) == 0:
            return "empty", f"zero-byte file: {path}"
        try:
            return self._probe(path)
        except VideoReadError as exc:
            return "unreadable", str(exc)

    def check(self, path: str) -> VideoInfo | tuple[str, str]:
        """The clip's :class:`VideoInfo`, or ``(reason, detail)`` with a reason from ``PROBLEM_REASONS``."""
        key = os.path.realpath(path)
        if key not in self._cache:
            self._cache[key] = self._inspect(path)
        result = self._cache[key]
        if isinstance(result, tuple):
            return result
        if result.num_frames < self.min_frames:
            return "too_short", f"{result.num_frames} frames, fewer than min_frames={self.min_frames}"
        return result


def _with_video_info(record: dict, info: VideoInfo) -> dict:
    return ordered({
        **record, "num_frames": int(info.num_frames), "fps": float(info.fps),
        "width": int(info.width), "height": int(info.height),
    })


def _per_class(rows: list[dict], classes: list[str]) -> dict[str, int]:
    counts = class_counts(rows)
    return {c: counts.get(c, 0) for c in classes}


def _problem(record: dict, reason: str, detail: str) -> dict:
    return {"source": record["source"], "index": record["index"], "id": record["id"], "video": record["video"],
            "exercise": record["exercise"], "reason": reason, "detail": detail}


def prepare_dataset(
    annotation_files: Sequence[str | os.PathLike],
    video_root: str | os.PathLike,
    classes: Sequence[str],
    out_dir: str | os.PathLike,
    *,
    min_frames: int,
    ground_truth: str | os.PathLike | None = None,
    split_ratios: Sequence[float] = (0.6, 0.2, 0.2),
    split_seed: int = 42,
) -> dict[str, Any]:
    """Validate and normalise QVED annotations; write the splits, ``problems.jsonl`` and ``summary.json``.

    Malformed annotations raise :class:`qvedbench.io.RecordError` before any video is opened. Records whose
    video is missing, empty, unreadable or shorter than ``min_frames`` are listed in ``problems.jsonl`` and
    left out. Records without a split are assigned one (seeded, stratified by exercise) among the usable
    records. Every output is written atomically; the summary is also returned.
    """
    classes = labels.check_classes(list(classes))
    ratios = check_ratios(split_ratios)
    if not Path(video_root).is_dir():
        raise FileNotFoundError(f"video root {os.fspath(video_root)!r} is not a directory")
    out_dir = Path(out_dir)

    records = read_qved(annotation_files, video_root, classes)
    unmatched_gt: list[str] | None = None
    gt_entries = 0
    if ground_truth is not None:
        entries = read_ground_truth(ground_truth)
        gt_entries = len(entries)
        unmatched_gt = merge_ground_truth(records, entries)

    checker = VideoChecker(min_frames)
    usable, problems = [], []
    for record in records:
        result = checker.check(record["video"])
        if isinstance(result, tuple):
            problems.append(_problem(record, *result))
        else:
            usable.append(_with_video_info(record, result))

    annotated_split = sum(r["split"] is not None for r in usable)
    assign_splits(usable, ratios, split_seed)
    by_split = {s: sorted((r for r in usable if r["split"] == s), key=lambda r: r["id"]) for s in SPLITS}
    for split, rows in by_split.items():
        write_jsonl(out_dir / f"{split}.jsonl", rows)
    write_jsonl(out_dir / "problems.jsonl", problems)

    summary: dict[str, Any] = {
        "sources": [os.fspath(f) for f in annotation_files],
        "classes": classes,
        "records": len(records),
        "usable": len(usable),
        "excluded": len(problems),
        "problems": {reason: sum(p["reason"] == reason for p in problems) for reason in PROBLEM_REASONS},
        "per_class": _per_class(usable, classes),
        "splits": {s: {"total": len(rows), "per_class": _per_class(rows, classes)}
                   for s, rows in by_split.items()},
        "split_from_annotation": annotated_split,
        "split_assigned": len(usable) - annotated_split,
        "split_ratios": list(ratios),
        "split_seed": split_seed,
        "min_frames": min_frames,
        "ground_truth": None if ground_truth is None else {
            "file": os.fspath(ground_truth), "entries": gt_entries,
            "matched": gt_entries - len(unmatched_gt), "unmatched": unmatched_gt,
        },
    }
    write_json(out_dir / "summary.json", summary)
    return summary
