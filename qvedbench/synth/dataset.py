"""Planning and writing the synthetic QVED dataset: which clips exist, their errors, feedback and split, the
rendered videos, and the QVED JSON files.

Every random choice comes from ``numpy`` generators seeded by ``(seed, class name, clip index)``, so a clip's
content (its split aside, which is drawn over the whole dataset) does not depend on which other classes are
generated or on how work is spread over processes.
"""
from __future__ import annotations

import multiprocessing
import os
import re
import time
import zlib
from collections import Counter, defaultdict
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from qvedbench.io import read_json, write_json
from qvedbench.video import write_video

from .errors import ERRORS, visible_ranges
from .exercises import DEFAULT_CLASSES, EXERCISES
from .feedback import compose_feedback
from .render import ClipStyle, clip_phases, render_clip

PROMPT = (
    "Please evaluate the exercise form shown. "
    "What mistakes, if any, are present, and what corrections would you recommend?"
)
SPLITS = ("train", "val", "test")
_PARAMS_FILE = ".synth_params.json"  # parameters the videos on disk were rendered with (for resuming)


def class_dir(class_name: str) -> str:
    """Filesystem-safe folder name for a class: lower case, runs of other characters become '_'."""
    slug = re.sub(r"[^a-z0-9]+", "_", class_name.lower()).strip("_")
    if not slug:
        raise ValueError(f"class name {class_name!r} has no letters or digits")
    return slug


@dataclass(frozen=True)
class ClipSpec:
    """One planned clip: everything needed to render it and to write its annotations."""

    id: str
    class_name: str
    errors: tuple[str, ...]
    style: ClipStyle
    feedback: str
    split: str = ""

    @property
    def video(self) -> str:
        return f"{class_dir(self.class_name)}/{self.id}.mp4"

    def error_frames(self, num_frames: int, fps: float) -> dict[str, list[list[int]]]:
        """Inclusive frame ranges where each of the clip's errors shows."""
        ranges = visible_ranges(clip_phases(self.style, num_frames, fps))
        return {error: ranges for error in self.errors}


def _class_key(class_name: str) -> int:
    return zlib.crc32(class_name.encode("utf-8"))


def assign_errors(applicable: Sequence[str], n: int, error_rate: float, double_error_rate: float,
                  rng: np.random.Generator) -> list[tuple[str, ...]]:
    """Errors of ``n`` clips: ``round(n * error_rate)`` get errors, cycling evenly through ``applicable``;
    the first ``round(n_errors * double_error_rate)`` of those also get the next applicable error. The
    order is then shuffled by ``rng``."""
    n_errors = int(np.floor(n * error_rate + 0.5)) if applicable else 0
    n_double = int(np.floor(n_errors * double_error_rate + 0.5)) if len(applicable) > 1 else 0
    k = len(applicable)
    labelled: list[tuple[str, ...]] = []
    for i in range(n_errors):
        chosen = {applicable[i % k], applicable[(i + 1) % k]} if i < n_double else {applicable[i % k]}
        labelled.append(tuple(e for e in applicable if e in chosen))
    clips = labelled + [()] * (n - n_errors)
    order = rng.permutation(n)
    return [clips[i] for i in order]


def stratified_split(keys: Sequence, fractions: Sequence[float], rng: np.random.Generator) -> list[str]:
    """Assign each item a split (train, val, test) so every stratum (items with equal ``key``) is divided by
    ``fractions``.

    Within a shuffled stratum of ``n`` items, item ``k`` takes the split its position ``(k + u) / n`` falls
    in, with ``u`` drawn uniformly per stratum: each split gets ``n * fraction`` items rounded up or down, and
    strata too small to divide (a single clip) still land in val and test at the right rates on average.
    """
    groups: dict = defaultdict(list)
    for i, key in enumerate(keys):
        groups[key].append(i)
    train_end, val_end = fractions[0], fractions[0] + fractions[1]
    splits = [""] * len(keys)
    for key in sorted(groups, key=repr):
        members = [groups[key][j] for j in rng.permutation(len(groups[key]))]
        offset = rng.uniform()
        for k, index in enumerate(members):
            position = (k + offset) / len(members)
            splits[index] = "train" if position < train_end else "val" if position < val_end else "test"
    return splits


def plan_clips(classes: Sequence[str], clips_per_class: int, *, error_rate: float, double_error_rate: float,
               seed: int, seconds: float, fps: float, split: Sequence[float],
               class_counts: Mapping[str, int] | None = None) -> list[ClipSpec]:
    """Every clip of the dataset, in class order then clip index, with errors, style, feedback and split.

    ``class_counts`` (class -> clips) overrides ``clips_per_class`` for the classes it names, e.g. to make the
    classes imbalanced.
    """
    clips: list[ClipSpec] = []
    for name in classes:
        key = _class_key(name)
        error_rng = np.random.default_rng([seed, key, 1])
        count = (class_counts or {}).get(name, clips_per_class)
        errors = assign_errors(EXERCISES[name].errors, count, error_rate, double_error_rate, error_rng)
        for index, clip_errors in enumerate(errors):
            style_seq, text_seq = np.random.SeedSequence([seed, key, 0, index]).spawn(2)
            clips.append(ClipSpec(
                id=f"{class_dir(name)}_{index:04d}",
                class_name=name,
                errors=clip_errors,
                style=ClipStyle.sample(np.random.default_rng(style_seq), name, seconds, fps),
                feedback=compose_feedback(name, clip_errors, np.random.default_rng(text_seq)),
            ))
    splits = stratified_split([(c.class_name, c.errors) for c in clips], split, np.random.default_rng([seed, 2]))
    return [replace(c, split=s) for c, s in zip(clips, splits)]


def qved_record(clip: ClipSpec, num_frames: int, fps: float) -> dict:
    """The clip's entry in ``annotations.json``."""
    return {
        "video": clip.video,
        "conversations": [
            {"from": "human", "value": PROMPT},
            {"from": "gpt", "value": f"{clip.class_name} - {clip.feedback}"},
        ],
        "split": clip.split,
        "errors": list(clip.errors),
        "error_frames": clip.error_frames(num_frames, fps),
    }


def ground_truth_record(clip: ClipSpec) -> dict:
    """The clip's entry in ``ground_truth.json``."""
    return {"video_path": clip.video, "labels": [clip.class_name, *clip.errors], "labels_descriptive": clip.feedback}


def summarise(clips: Sequence[ClipSpec]) -> dict:
    """Clip counts per class, split, error, and class x split."""
    per_class_split: dict[str, Counter] = defaultdict(Counter)
    for c in clips:
        per_class_split[c.class_name][c.split] += 1
    return {
        "clips": len(clips),
        "per_class": dict(Counter(c.class_name for c in clips)),
        "per_split": {s: sum(c.split == s for c in clips) for s in SPLITS},
        "per_error": {**{e: sum(e in c.errors for c in clips) for e in ERRORS},
                      "none": sum(not c.errors for c in clips)},
        "per_class_split": {k: {s: v[s] for s in SPLITS} for k, v in per_class_split.items()},
    }


def _render_one(clip: ClipSpec, path: str, size: int, num_frames: int, fps: float, crf: int) -> str:
    frames = render_clip(clip.class_name, clip.style, clip.errors, size, num_frames, fps)
    write_video(frames, path, fps=fps, crf=crf)
    return clip.id


def _validate(classes: Sequence[str], clips_per_class: int, size: int, fps: float, seconds: float,
              error_rate: float, double_error_rate: float, workers: int, split: Sequence[float],
              class_counts: Mapping[str, int] | None = None) -> None:
    unknown = [c for c in classes if c not in EXERCISES]
    if unknown:
        raise ValueError(f"unknown exercise classes {unknown}; known: {list(EXERCISES)}")
    if len(set(classes)) != len(classes):
        raise ValueError(f"classes repeat: {list(classes)}")
    slugs = Counter(class_dir(c) for c in classes)
    if any(n > 1 for n in slugs.values()):
        raise ValueError(f"class names collide as folder names: {dict(slugs)}")
    if clips_per_class < 1:
        raise ValueError(f"clips_per_class must be >= 1, got {clips_per_class}")
    for name, count in (class_counts or {}).items():
        if name not in classes:
            raise ValueError(f"class_counts names {name!r}, which is not one of the classes {list(classes)}")
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ValueError(f"class_counts[{name!r}] must be an integer >= 1, got {count!r}")
    if size < 16 or size % 2:
        raise ValueError(f"size must be an even number >= 16 (H.264 yuv420p), got {size}")
    if fps <= 0 or seconds <= 0 or round(seconds * fps) < 4:
        raise ValueError(f"need fps > 0 and at least 4 frames per clip, got fps={fps}, seconds={seconds}")
    for name, rate in (("error_rate", error_rate), ("double_error_rate", double_error_rate)):
        if not 0 <= rate <= 1:
            raise ValueError(f"{name} must be in [0, 1], got {rate}")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    if len(split) != 3 or min(split) < 0 or abs(sum(split) - 1) > 1e-9:
        raise ValueError(f"split must be three non-negative fractions summing to 1, got {tuple(split)}")


def generate_dataset(
    out_dir: str | os.PathLike,
    *,
    classes: Sequence[str] | None = None,
    clips_per_class: int = 100,
    size: int = 112,
    fps: float = 12,
    seconds: float = 3.0,
    error_rate: float = 0.6,
    seed: int = 42,
    workers: int = 2,
    split: Sequence[float] = (0.6, 0.2, 0.2),
    double_error_rate: float = 0.0,
    crf: int = 23,
    class_counts: Mapping[str, int] | None = None,
) -> dict:
    """Render the synthetic QVED dataset into ``out_dir`` and return its summary.

    Writes ``videos/<class_dir>/<id>.mp4``, ``annotations.json`` (QVED records with ``split``, ``errors`` and
    ``error_frames``), ``ground_truth.json`` and ``synth_manifest.json`` (parameters and summary). The
    JSON files are byte-identical for the same arguments. Videos are written one by one, atomically; a rerun
    with the same parameters keeps the videos already on disk (resuming after a crash), while different
    parameters re-render them all. The returned summary adds ``rendered`` (videos written by this call) and
    ``wall_time_s``, which the manifest leaves out so that it stays deterministic.

    ``class_counts`` (class -> clips) gives the classes it names their own number of clips instead of
    ``clips_per_class`` (an imbalanced dataset).
    """
    started = time.perf_counter()
    classes = list(DEFAULT_CLASSES if classes is None else classes)
    _validate(classes, clips_per_class, size, fps, seconds, error_rate, double_error_rate, workers, split,
              class_counts)
    out_dir = Path(out_dir)
    num_frames = int(round(seconds * fps))
    params = {"classes": classes, "clips_per_class": clips_per_class, "size": size, "fps": fps,
              "seconds": seconds, "num_frames": num_frames, "error_rate": error_rate,
              "double_error_rate": double_error_rate, "seed": seed, "split": list(split), "crf": crf}
    if class_counts:  # only when set, so the manifest of a balanced dataset is unchanged
        params["class_counts"] = {name: class_counts[name] for name in classes if name in class_counts}
    clips = plan_clips(classes, clips_per_class, error_rate=error_rate, double_error_rate=double_error_rate,
                       seed=seed, seconds=seconds, fps=fps, split=split, class_counts=class_counts)

    params_path = out_dir / _PARAMS_FILE
    same_params = params_path.exists() and read_json(params_path) == params
    write_json(params_path, params)
    todo = [c for c in clips if not (same_params and (out_dir / "videos" / c.video).exists())]
    jobs = [(c, str(out_dir / "videos" / c.video), size, num_frames, fps, crf) for c in todo]
    if workers == 1 or len(jobs) <= 1:
        for job in jobs:
            _render_one(*job)
    else:
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context(method)) as pool:
            futures = [pool.submit(_render_one, *job) for job in jobs]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                pool.shutdown(cancel_futures=True)
                raise

    annotations = [qved_record(c, num_frames, fps) for c in clips]
    for clip, record in zip(clips, annotations):
        if clip.errors and not any(record["error_frames"].values()):
            raise RuntimeError(f"clip {clip.id}: its errors are never visible (clip too short?)")
    write_json(out_dir / "annotations.json", annotations)
    write_json(out_dir / "ground_truth.json", [ground_truth_record(c) for c in clips])
    summary = summarise(clips)
    write_json(out_dir / "synth_manifest.json", {"generator": "qvedbench.synth", "params": params,
                                                 "errors": ERRORS,
                                                 "applicable_errors": {c: list(EXERCISES[c].errors) for c in classes},
                                                 "summary": summary})
    return {**summary, "rendered": len(jobs), "wall_time_s": round(time.perf_counter() - started, 3)}
