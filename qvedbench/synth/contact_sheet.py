"""A contact sheet: a PNG grid of uniformly sampled frames from a few clips of each class, for eyeballing."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np

from qvedbench.io import atomic_path, read_json
from qvedbench.video import load_frames

_LABEL_HEIGHT = 14


def contact_sheet(dataset_dir: str | os.PathLike, out_png: str | os.PathLike, *, per_class: int = 3,
                  frames: int = 8, frame_size: int = 112) -> Path:
    """Write ``out_png``: one row per clip (the first ``per_class`` clips of each class in
    ``annotations.json``), ``frames`` frames sampled as a model would see them, each ``frame_size`` px,
    under a caption with the class and errors. Returns the PNG path."""
    dataset_dir = Path(dataset_dir)
    records = read_json(dataset_dir / "annotations.json")
    shown: dict[str, int] = {}
    rows = []
    for record in records:
        label = record["conversations"][1]["value"].split(" - ", 1)[0]
        if shown.get(label, 0) >= per_class:
            continue
        shown[label] = shown.get(label, 0) + 1
        clip = load_frames(dataset_dir / "videos" / record["video"], num_frames=frames, size=frame_size)
        strip = np.concatenate(list(clip), axis=1)
        caption = np.full((_LABEL_HEIGHT, strip.shape[1], 3), 255, dtype=np.uint8)
        text = f"{record['video']}  {label}  errors: {', '.join(record.get('errors', [])) or 'none'}"
        cv2.putText(caption, text, (3, _LABEL_HEIGHT - 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
        rows.append(np.concatenate([caption, strip], axis=0))
    if not rows:
        raise ValueError(f"{dataset_dir / 'annotations.json'}: no clips to show")
    sheet = np.concatenate(rows, axis=0)
    out_png = Path(out_png)
    with atomic_path(out_png) as tmp:
        ok, encoded = cv2.imencode(".png", cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR))
        if not ok:
            raise RuntimeError(f"{out_png}: PNG encoding failed")
        tmp.write_bytes(encoded.tobytes())
    return out_png
