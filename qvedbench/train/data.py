"""Clip records as training examples: frame sampling (decoded once per job) and the batch collator."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from qvedbench.io import RecordError
from qvedbench.models.base import VideoVLMAdapter
from qvedbench.train.weighting import WEIGHT_KEY
from qvedbench.video import VideoReadError, load_frames

BLANK_GREY = 128  # the uniform grey shown for records with frame_source "blank"


def record_field(record: dict, index: int, field: str, source: str) -> Any:
    """``record[field]``, or a :class:`RecordError` naming the source, record index and field."""
    try:
        return record[field]
    except KeyError:
        raise RecordError(source, index, field, "missing") from None


def clip_frames(record: dict, num_frames: int, resolution: int) -> np.ndarray:
    """Sample the record's clip as ``uint8 (T, H, W, 3)``.

    A record with ``"frame_source": "blank"`` yields uniform grey frames of the shape the clip samples to.
    Decode failures propagate as :class:`qvedbench.video.VideoReadError` (``ValueError`` for a clip too short).
    """
    frames = load_frames(record["video"], num_frames=num_frames, size=resolution)
    if record.get("frame_source") == "blank":
        return np.full_like(frames, BLANK_GREY)
    return frames


class ClipDataset(Dataset):
    """Records as ``{"video", "prompt", "answer", "exercise"}`` items; each clip is decoded once and cached.

    With ``weights`` (one per record, e.g. :func:`qvedbench.train.weighting.sample_weights`) each item also
    carries its ``"weight"``, which the collator passes on with the batch.
    """

    def __init__(self, records: Sequence[dict], num_frames: int, resolution: int, source: str = "records",
                 weights: Sequence[float] | None = None):
        for i, record in enumerate(records):
            for field in ("id", "video", "prompt", "reference"):
                record_field(record, i, field, source)
        if weights is not None and len(weights) != len(records):
            raise ValueError(f"{source}: {len(weights)} sample weights for {len(records)} records")
        self.weights = None if weights is None else [float(w) for w in weights]
        self.records = list(records)
        self.num_frames, self.resolution, self.source = num_frames, resolution, source
        self._frames: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.records)

    def frames(self, index: int) -> np.ndarray:
        if index not in self._frames:
            try:
                self._frames[index] = clip_frames(self.records[index], self.num_frames, self.resolution)
            except (VideoReadError, ValueError) as exc:
                raise RecordError(self.source, index, "video", str(exc)) from exc
        return self._frames[index]

    def preload(self) -> None:
        """Decode every clip now (so training time excludes decoding)."""
        for index in range(len(self)):
            self.frames(index)

    def __getitem__(self, index: int) -> dict[str, Any]:
        record = self.records[index]
        item = {"video": self.frames(index), "prompt": record["prompt"], "answer": record["reference"],
                "exercise": record.get("exercise")}
        if self.weights is not None:
            item["weight"] = self.weights[index]
        return item


class VideoCollator:
    """Turns a list of dataset items into the adapter's padded batch, with answer-only ``labels``; items with a
    ``"weight"`` add a float tensor of them under :data:`qvedbench.train.weighting.WEIGHT_KEY` (which the
    weighted-loss Trainer removes before the model's forward)."""

    def __init__(self, adapter: VideoVLMAdapter, system_prompt: str):
        self.adapter, self.system_prompt = adapter, system_prompt

    def __call__(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        batch = self.adapter.encode([it["video"] for it in items], self.system_prompt,
                                    [it["prompt"] for it in items], [it["answer"] for it in items])
        if items and "weight" in items[0]:
            batch[WEIGHT_KEY] = torch.tensor([it["weight"] for it in items], dtype=torch.float32)
        return batch
