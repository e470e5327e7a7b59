"""Test-set variants: the records inference runs on (``results/data/variants/{variant}.jsonl``).

``VARIANTS`` maps a variant name to a function ``(records, seed) -> records``; :func:`register_variant` adds
more. Variant functions return new records and never modify their input. Two parametrised families are
recognised by name rather than registered:

- temporal variants ``frames<F>_stride<S>``: the same clips with the per-record sampling overrides
  ``sample_frames`` (frames shown) and ``sample_stride`` (source frames between them), which inference
  honours in place of the model's own frame count;
- resolution variants ``res<R>_frames<F>``: the same clips with ``sample_frames`` and ``sample_resolution``
  (frames resized to ``R`` x ``R`` pixels, and the model asked to take that size; see
  :func:`qvedbench.infer.variant_spec`), sampled uniformly over the clip like the model's own sampling;
- degraded variants (``blur_7``, ``crf_40``, ``light_-40``, ``occl_black_20``; see :mod:`qvedbench.degrade`):
  records pointing at degraded copies of the clips, written by :func:`write_degraded_variant`.
"""
from __future__ import annotations

import copy
import os
import random
from pathlib import Path
from typing import Callable

from qvedbench.data.records import read_records
from qvedbench.degrade import clip_seed, degrade_video
from qvedbench.io import RecordError, write_jsonl
from qvedbench.variant_names import parse_degradation, parse_resolution_variant, parse_temporal_variant
from qvedbench.video import probe

VariantFn = Callable[[list[dict], int], list[dict]]
VARIANTS: dict[str, VariantFn] = {}

# What travels with a video when it is shown in place of another.
VIDEO_FIELDS = ("video", "video_rel", "num_frames", "fps", "width", "height")


def register_variant(name: str) -> Callable[[VariantFn], VariantFn]:
    def add(fn: VariantFn) -> VariantFn:
        if name in VARIANTS:
            raise ValueError(f"variant {name!r} is already registered")
        VARIANTS[name] = fn
        return fn
    return add


@register_variant("clean")
def clean(records: list[dict], seed: int) -> list[dict]:
    """The test set itself."""
    return copy.deepcopy(records)


@register_variant("blank")
def blank(records: list[dict], seed: int) -> list[dict]:
    """The same records, marked so the loader replaces every frame by uniform grey of the same shape."""
    return [{**copy.deepcopy(r), "frame_source": "blank"} for r in records]


def _class_derangement(classes: list[str], rng: random.Random) -> list[int]:
    """A permutation ``p`` with ``classes[p[i]] != classes[i]`` for all ``i``; needs no class above half.

    Start from a random permutation and repair each same-class position by swapping targets with a position
    where the swap suits both. Such a partner always exists when the class holds at most half the items: at
    most ``2 * n_c - 1`` positions are unsuitable.
    """
    n = len(classes)
    perm = list(range(n))
    rng.shuffle(perm)
    for i in range(n):
        if classes[perm[i]] != classes[i]:
            continue
        partners = [j for j in range(n) if classes[j] != classes[i] and classes[perm[j]] != classes[i]]
        j = rng.choice(partners)
        perm[i], perm[j] = perm[j], perm[i]
    return perm


def _other_class_draws(classes: list[str], rng: random.Random) -> list[int]:
    """For each item, a random item of a different class (with replacement)."""
    return [rng.choice([j for j, c in enumerate(classes) if c != own]) for own in classes]


@register_variant("swapped")
def swapped(records: list[dict], seed: int) -> list[dict]:
    """Each record shown the video of a record of a different class (seeded).

    ``exercise`` becomes the class of the video shown and ``original_exercise`` keeps the record's own;
    ``reference`` stays the record's own. Each video is shown exactly once (a class derangement) unless one
    class holds more than half the records; then donors are drawn with replacement. ``swapped_from`` names the
    donor record. ``error_frames`` are dropped: they index frames of a video no longer shown.
    """
    classes = [r["exercise"] for r in records]
    if len(set(classes)) < 2:
        raise ValueError(f"the swapped variant needs records of at least two classes, got {sorted(set(classes))}")
    rng = random.Random(seed)
    most = max(classes.count(c) for c in set(classes))
    donors = _class_derangement(classes, rng) if 2 * most <= len(classes) else _other_class_draws(classes, rng)
    out = []
    for record, d in zip(records, donors):
        donor = records[d]
        new = copy.deepcopy(record)
        new.pop("error_frames", None)
        new.update({k: donor[k] for k in VIDEO_FIELDS if k in donor})
        new["exercise"] = donor["exercise"]
        new["original_exercise"] = record["exercise"]
        new["swapped_from"] = donor["id"]
        out.append(new)
    return out


def temporal_records(records: list[dict], frames: int, stride: int) -> list[dict]:
    """The records with ``sample_frames``/``sample_stride`` set: ``frames`` frames ``stride`` source frames
    apart (the source frame rate divided by ``stride``), the window centred in the clip."""
    if frames < 1 or stride < 1:
        raise ValueError(f"frames and stride must be >= 1, got {frames} and {stride}")
    return [{**copy.deepcopy(r), "sample_frames": frames, "sample_stride": stride} for r in records]


def resolution_records(records: list[dict], resolution: int, frames: int) -> list[dict]:
    """The records with ``sample_resolution`` (square frame side in pixels) and ``sample_frames`` set, frames
    sampled uniformly over the whole clip."""
    if resolution < 1 or frames < 1:
        raise ValueError(f"resolution and frames must be >= 1, got {resolution} and {frames}")
    return [{**copy.deepcopy(r), "sample_resolution": resolution, "sample_frames": frames} for r in records]


def make_variant(test_records: list[dict], variant: str, seed: int) -> list[dict]:
    """The records of ``variant`` built from the test records (registered names, temporal and resolution
    variants; degraded variants need their videos written: :func:`write_degraded_variant`)."""
    temporal = parse_temporal_variant(variant)
    if temporal is not None:
        return temporal_records(test_records, *temporal)
    resolution = parse_resolution_variant(variant)
    if resolution is not None:
        return resolution_records(test_records, *resolution)
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(sorted(VARIANTS))}, "
                         "frames<F>_stride<S>, res<R>_frames<F>, and degraded variants (written by write_degraded_variant)")
    return VARIANTS[variant](test_records, seed)


def write_variant(test_jsonl: str | os.PathLike, variant: str, out_path: str | os.PathLike, seed: int) -> list[dict]:
    """Read a normalised test split, build ``variant`` and write it atomically to ``out_path``."""
    records = make_variant(read_records(test_jsonl), variant, seed)
    write_jsonl(out_path, records)
    return records


def degraded_video_path(record: dict, index: int, video_dir: str | os.PathLike, source: str) -> Path:
    """Where the degraded copy of the record's clip goes: its ``video_rel`` (as ``.mp4``) under ``video_dir``."""
    rel = Path(record.get("video_rel") or Path(record["video"]).name).with_suffix(".mp4")
    if rel.is_absolute() or ".." in rel.parts:
        raise RecordError(source, index, "video_rel", f"{str(rel)!r} must be a relative path inside the video root")
    return Path(video_dir) / rel


def write_degraded_variant(test_jsonl: str | os.PathLike, variant: str, video_dir: str | os.PathLike,
                           out_path: str | os.PathLike, seed: int, *, reencode_crf: int = 0) -> list[dict]:
    """Write a degraded copy of every test clip under ``video_dir`` and the variant's records to ``out_path``.

    ``variant`` names the degradation (e.g. ``occl_black_20``); each clip is degraded with its own seed
    derived from ``seed`` and its id. Records point at the copies and keep ``source_video``;
    ``degradation`` holds ``{"type", "level"}``. Each video is written atomically and the records last, so
    the records file only appears once every copy exists. A clip that cannot be read raises
    :class:`RecordError` naming the test file, record index and ``video`` field.
    """
    degradation = parse_degradation(variant)
    records = read_records(test_jsonl)
    out, written = [], {}
    for index, record in enumerate(records):
        dst = degraded_video_path(record, index, video_dir, str(test_jsonl))
        if dst in written:  # e.g. clip.avi and clip.mp4 side by side
            raise RecordError(test_jsonl, index, "video_rel",
                              f"its degraded copy {dst} would overwrite that of record {written[dst]}")
        written[dst] = index
        try:
            degrade_video(record["video"], dst, degradation, clip_seed(seed, record["id"]), reencode_crf=reencode_crf)
        except (OSError, RuntimeError, ValueError) as exc:
            raise RecordError(test_jsonl, index, "video", f"cannot degrade {record['video']}: {exc}") from exc
        info = probe(dst)
        new = copy.deepcopy(record)
        new.update(video=str(dst), source_video=record["video"], num_frames=info.num_frames, fps=info.fps,
                   width=info.width, height=info.height,
                   degradation={"type": degradation.kind, "level": degradation.level})
        out.append(new)
    write_jsonl(out_path, out)
    return out
