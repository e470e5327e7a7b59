"""Batched greedy generation over records, one prediction row per record written as it goes (resumable)."""
from __future__ import annotations

import dataclasses
import os
import time
from typing import Sequence

import torch

from qvedbench.device import set_threads
from qvedbench.io import JsonlAppender, RecordError
from qvedbench.models import load_adapter
from qvedbench.models.base import ModelSpec
from qvedbench.train.data import clip_frames, record_field
from qvedbench.video import VideoReadError, load_frames

_REQUIRED = ("id", "video", "exercise", "reference", "prompt")
_ANNOTATIONS = ("errors", "error_frames")  # copied into the row when the record has them


def _check_records(records: Sequence[dict], source: str) -> None:
    seen: set = set()
    for i, record in enumerate(records):
        for field in _REQUIRED:
            record_field(record, i, field, source)
        if record["id"] in seen:
            raise RecordError(source, i, "id", f"duplicate id {record['id']!r}")
        seen.add(record["id"])


SAMPLING_OVERRIDES = ("sample_frames", "sample_stride", "sample_resolution")


def _overrides_sampling(record: dict) -> bool:
    return any(key in record for key in SAMPLING_OVERRIDES)


def record_frames(record: dict, num_frames: int, size: int):
    """The record's clip as frames; a variant's ``sample_frames``/``sample_stride``/``sample_resolution``
    override the model's uniform sampling of ``num_frames`` frames of ``size`` pixels."""
    if not _overrides_sampling(record):
        return clip_frames(record, num_frames, size)
    return load_frames(record["video"], num_frames=record.get("sample_frames", num_frames),
                       stride=record.get("sample_stride"), size=record.get("sample_resolution", size))


_record_frames = record_frames


def variant_spec(spec: ModelSpec, records: Sequence[dict], source: str = "records") -> ModelSpec:
    """``spec`` with the resolution the records ask for (``sample_resolution``, a resolution variant), so the
    family's processor is pinned to that size too; ``spec`` itself when no record asks. All records that ask
    must agree (one variant = one size): otherwise :class:`RecordError` names the first that differs."""
    wanted = None
    for i, record in enumerate(records):
        if "sample_resolution" not in record:
            continue
        value = record["sample_resolution"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise RecordError(source, i, "sample_resolution", f"must be a positive integer, got {value!r}")
        if wanted is None:
            wanted = value
        elif value != wanted:
            raise RecordError(source, i, "sample_resolution",
                              f"{value} differs from {wanted} of an earlier record (one resolution per file)")
    return spec if wanted is None else dataclasses.replace(spec, resolution=wanted)


def _row(record: dict, variant: str, **fields) -> dict:
    row = {"id": record["id"], "video": record["video"], "exercise": record["exercise"]}
    if "original_exercise" in record:
        row["original_exercise"] = record["original_exercise"]
    row.update(reference=record["reference"], **fields, variant=variant)
    row.update({key: record[key] for key in _ANNOTATIONS if key in record})
    return row


def run_inference(spec: ModelSpec, checkpoint: str | None, records: list[dict], out_path: str | os.PathLike, *,
                  system_prompt: str, batch_size: int = 8, max_new_tokens: int = 64, variant: str = "clean",
                  threads: int | None = None, frames: int | None = None, resolution: int | None = None,
                  source: str = "records", adapter=None) -> list[dict]:
    """Generate an answer for every record into the predictions JSONL ``out_path`` and return its rows.

    Rows are appended one per record as each batch finishes; a rerun after a crash skips the ids already
    written. ``frames``/``resolution`` default to the spec's and must match what the checkpoint was trained
    with; a record's own ``sample_frames``/``sample_stride``/``sample_resolution`` (temporal and resolution
    variants; :func:`variant_spec`) take precedence, and a batch of such records whose frames the model refuses
    (``ValueError``) becomes failure rows like unreadable clips.
    ``latency_s`` is the batch's generation wall time divided by the number of clips in it. A clip that
    fails to decode (or is too short) becomes a row with ``prediction: null`` and an ``error`` message. ``source`` names the
    records' file in error messages. ``adapter``, when given, is an already loaded (e.g. quantized) adapter used
    instead of loading ``spec`` plus ``checkpoint``.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    _check_records(records, source)
    num_frames = frames or spec.frames
    size = resolution or spec.resolution
    order = [record["id"] for record in records]
    with JsonlAppender(out_path) as out:
        todo = [record for record in records if record["id"] not in out.done_ids]
        if todo:
            set_threads(threads)
            if adapter is None:
                adapter = load_adapter(variant_spec(spec, records, source), checkpoint)
            adapter.model.eval()
            for start in range(0, len(todo), batch_size):
                batch, videos = [], []
                for record in todo[start:start + batch_size]:
                    try:
                        videos.append(record_frames(record, num_frames, size))
                        batch.append(record)
                    except (VideoReadError, ValueError, OSError) as exc:  # unreadable or too short
                        out.append(_row(record, variant, prediction=None, latency_s=None, batch_size=None,
                                        error=f"{type(exc).__name__}: {exc}"))
                if not batch:
                    continue
                began = time.perf_counter()
                try:
                    with torch.inference_mode():
                        answers = adapter.generate(videos, system_prompt, [r["prompt"] for r in batch],
                                                   max_new_tokens=max_new_tokens)
                except ValueError as exc:
                    # A variant's frame count or size the model cannot take (e.g. not a multiple of its chunk
                    # size) fails that configuration for these clips: recorded, never imputed.
                    if not any(_overrides_sampling(r) for r in batch):
                        raise
                    for record in batch:
                        out.append(_row(record, variant, prediction=None, latency_s=None, batch_size=None,
                                        error=f"ValueError: {exc}"))
                    continue
                latency = (time.perf_counter() - began) / len(batch)
                for record, answer in zip(batch, answers):
                    out.append(_row(record, variant, prediction=answer, latency_s=round(latency, 6),
                                    batch_size=len(batch)))
        return out.finish(order=order)
