"""Tiny clips, records and a tiny model for the training and inference tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from qvedbench.models import ModelSpec
from qvedbench.models.tiny import build_tiny_model
from qvedbench.video import write_video

CLASSES = ["squats", "lunges", "push-ups"]
SYSTEM = "You are an expert physiotherapist. Name the exercise and correct its form."
PROMPT = "Please evaluate the exercise form shown. What mistakes, if any, are present?"
FEEDBACK = {"squats": "knees caving in; push them out", "lunges": "torso leaning; keep your chest up",
            "push-ups": "hips sagging; brace your core"}
FRAMES, SIDE = 4, 32


def _clip(class_index: int, clip_index: int, frames: int = 8, side: int = SIDE) -> np.ndarray:
    """A square moving across a class-coloured background."""
    video = np.zeros((frames, side, side, 3), dtype=np.uint8)
    video[..., class_index] = 90 + 20 * clip_index
    for t in range(frames):
        x = (t * 3 + clip_index) % (side - 8)
        video[t, 8:16, x:x + 8] = 255
    return video


def write_records(root: Path, per_class: int = 2) -> list[dict]:
    """Write ``per_class`` clips per class under ``root`` and return their records (the split JSONL fields
    training and inference read)."""
    records = []
    for c, cls in enumerate(CLASSES):
        for i in range(per_class):
            path = root / "videos" / f"{cls}_{i}.mp4"
            write_video(_clip(c, i), path, fps=8)
            records.append({"id": f"{cls}/{i}", "video": str(path), "exercise": cls,
                            "reference": f"{cls} - {FEEDBACK[cls]}", "prompt": PROMPT,
                            "errors": [], "error_frames": {}})
    return records


def tiny_spec(root: Path, records: list[dict], family: str = "qwen2_vl") -> ModelSpec:
    """Build a seeded tiny model whose tokenizer knows the records' text; return its spec (CPU, fp32)."""
    corpus = [r["reference"] for r in records] + [PROMPT, SYSTEM]
    path = build_tiny_model(family, root / "model", corpus * 4, preset="s", seed=0)
    return ModelSpec(name="tiny", family=family, path=str(path), device="cpu", frames=FRAMES, resolution=SIDE)
