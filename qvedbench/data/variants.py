"""Test-set variants: the records inference runs on (``results/data/variants/{variant}.jsonl``).

``VARIANTS`` maps a variant name to a function ``(records, seed) -> records``; :func:`register_variant` adds
more (degraded copies of the clips, say). Variant functions return new records and never modify their input.
"""
from __future__ import annotations

import copy
import os
import random
from typing import Callable

from qvedbench.data.records import read_records
from qvedbench.io import write_jsonl

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


def make_variant(test_records: list[dict], variant: str, seed: int) -> list[dict]:
    """The records of ``variant`` built from the test records."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; known: {', '.join(sorted(VARIANTS))}")
    return VARIANTS[variant](test_records, seed)


def write_variant(test_jsonl: str | os.PathLike, variant: str, out_path: str | os.PathLike, seed: int) -> list[dict]:
    """Read a normalised test split, build ``variant`` and write it atomically to ``out_path``."""
    records = make_variant(read_records(test_jsonl), variant, seed)
    write_jsonl(out_path, records)
    return records
