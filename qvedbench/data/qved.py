"""Reading and validating QVED annotation files (JSON lists of conversation records).

A record::

    {"video": "<exercise>/<id>.mp4",
     "conversations": [{"from": "human", "value": prompt}, {"from": "gpt", "value": "<label> - <feedback>"}],
     "split": "train|val|test", "id": "...", "errors": [...], "error_frames": {"<error id>": [[start, end]]}}

``split``, ``id``, ``errors`` and ``error_frames`` are optional. Anything malformed raises
:class:`qvedbench.io.RecordError` naming the file, the record index and the field. Videos are not opened
here (see :mod:`qvedbench.data.prepare`).
"""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any, Sequence

from qvedbench import labels
from qvedbench.data.paths import resolve_video
from qvedbench.io import RecordError, read_json

SPLITS = ("train", "val", "test")


def read_annotation_list(path: str | os.PathLike) -> list[Any]:
    """The JSON list in ``path`` (an annotation or ground-truth file), or a RecordError."""
    data = read_json(path)
    if not isinstance(data, list):
        raise RecordError(path, None, None, f"expected a JSON list of records, got {type(data).__name__}")
    return data


def _turn_text(record: dict, role: str, *, source, index: int) -> str:
    """The value of the first conversation turn from ``role``; must be a non-empty string."""
    turns = record["conversations"]
    for j, turn in enumerate(turns):
        if not isinstance(turn, dict):
            raise RecordError(source, index, f"conversations[{j}]", f"expected an object with 'from' and 'value', got {type(turn).__name__}")
        if turn.get("from") != role:
            continue
        value = turn.get("value")
        if not isinstance(value, str):
            raise RecordError(source, index, f"conversations[{j}].value", f"expected a string, got {type(value).__name__}")
        if not value.strip():
            what = "reference text" if role == "gpt" else "prompt"
            raise RecordError(source, index, f"conversations[{j}].value", f"empty {what}")
        return value.strip()
    raise RecordError(source, index, "conversations", f"no '{role}' turn")


def _check_errors(value: Any, *, source, index: int) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(e, str) and e for e in value):
        raise RecordError(source, index, "errors", f"expected a list of non-empty error-id strings, got {value!r}")
    return list(value)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _check_error_frames(value: Any, errors: list[str] | None, *, source, index: int) -> dict[str, list[list[int]]]:
    if not isinstance(value, dict):
        raise RecordError(source, index, "error_frames", f"expected a mapping of error id -> list of [start, end], got {type(value).__name__}")
    checked: dict[str, list[list[int]]] = {}
    for error_id, ranges in value.items():
        field = f"error_frames.{error_id}"
        if errors is not None and error_id not in errors:
            raise RecordError(source, index, field, f"error id {error_id!r} is not among the record's errors {errors}")
        if not isinstance(ranges, list):
            raise RecordError(source, index, field, f"expected a list of [start, end] pairs, got {ranges!r}")
        for k, pair in enumerate(ranges):
            if not (isinstance(pair, list) and len(pair) == 2 and all(_is_int(x) for x in pair)):
                raise RecordError(source, index, f"{field}[{k}]", f"expected an integer pair [start, end], got {pair!r}")
            if not 0 <= pair[0] <= pair[1]:
                raise RecordError(source, index, f"{field}[{k}]", f"need 0 <= start <= end, got {pair!r}")
        checked[error_id] = [list(pair) for pair in ranges]
    return checked


def _exercise(reference: str, video_rel: str, classes: Sequence[str], *, source, index: int) -> str:
    """The record's class: named by the reference, cross-checked with the video's first folder."""
    known = f"known classes: {', '.join(classes)}"
    folder = PurePosixPath(video_rel).parts[0] if len(PurePosixPath(video_rel).parts) > 1 else None
    folder_class = labels.find_class(folder, classes) if folder else None
    parsed = labels.parse_exercise(reference, classes)
    leading = labels.leading_part(reference)
    if parsed is None or (folder_class is None and leading is not None and labels.parse_exercise(leading, classes) is None):
        named = leading if leading is not None else reference
        raise RecordError(source, index, "conversations", f"exercise {named!r} is not a configured class; {known}")
    if folder_class is not None and folder_class != parsed:
        raise RecordError(
            source, index, "video",
            f"the reference names exercise {parsed!r} but the video folder {folder!r} names {folder_class!r}",
        )
    return parsed


def parse_record(
    raw: Any, classes: Sequence[str], video_root: str | os.PathLike, *, source, index: int
) -> dict[str, Any]:
    """One validated record in the normalised field order, without the video's probed properties.

    ``split`` is None when the record has none.
    """
    if not isinstance(raw, dict):
        raise RecordError(source, index, None, f"expected an object, got {type(raw).__name__}")
    video_rel = raw.get("video")
    if not isinstance(video_rel, str) or not video_rel.strip():
        raise RecordError(source, index, "video", f"expected a non-empty path string, got {video_rel!r}")
    video = resolve_video(video_root, video_rel, source=source, index=index)
    conversations = raw.get("conversations")
    if not isinstance(conversations, list) or not conversations:
        raise RecordError(source, index, "conversations", f"expected a non-empty list of turns, got {conversations!r}")
    prompt = _turn_text(raw, "human", source=source, index=index)
    reference = _turn_text(raw, "gpt", source=source, index=index)
    exercise = _exercise(reference, video_rel, classes, source=source, index=index)
    label, feedback = labels.split_answer(reference, classes)

    record_id = raw.get("id", str(PurePosixPath(video_rel).with_suffix("")))
    if not isinstance(record_id, str) or not record_id.strip():
        raise RecordError(source, index, "id", f"expected a non-empty string, got {record_id!r}")
    split = raw.get("split")
    if split is not None and split not in SPLITS:
        raise RecordError(source, index, "split", f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")

    record: dict[str, Any] = {
        "id": record_id, "video": video, "video_rel": video_rel, "exercise": exercise,
        "label": label, "feedback": feedback, "reference": reference, "prompt": prompt, "split": split,
    }
    errors = _check_errors(raw["errors"], source=source, index=index) if "errors" in raw else None
    if errors is not None:
        record["errors"] = errors
    if "error_frames" in raw:
        record["error_frames"] = _check_error_frames(raw["error_frames"], errors, source=source, index=index)
    record["source"] = Path(source).name
    record["index"] = index
    return record


def read_qved(
    files: Sequence[str | os.PathLike], video_root: str | os.PathLike, classes: Sequence[str]
) -> list[dict[str, Any]]:
    """Every record of every annotation file, validated; ids must be unique across all files."""
    records: list[dict[str, Any]] = []
    first_seen: dict[str, tuple[str, int]] = {}
    for path in files:
        for index, raw in enumerate(read_annotation_list(path)):
            record = parse_record(raw, classes, video_root, source=path, index=index)
            rid = record["id"]
            if rid in first_seen:
                where = first_seen[rid]
                field = "id" if isinstance(raw, dict) and "id" in raw else "video"
                raise RecordError(path, index, field, f"duplicate id {rid!r} (first in {where[0]}, record {where[1]})")
            first_seen[rid] = (str(path), index)
            records.append(record)
    return records
