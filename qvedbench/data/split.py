"""Seeded train/val/test assignment, stratified by exercise, for records whose annotation has no split."""
from __future__ import annotations

import math
import random
from collections import defaultdict
from typing import Sequence

from qvedbench.data.qved import SPLITS


def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    if len(ratios) != 3 or any(not isinstance(r, (int, float)) or r < 0 for r in ratios):
        raise ValueError(f"split_ratios must be three non-negative numbers (train, val, test), got {ratios!r}")
    if not math.isclose(sum(ratios), 1.0, abs_tol=1e-6):
        raise ValueError(f"split_ratios must sum to 1, got {ratios!r} (sum {sum(ratios)})")
    return tuple(float(r) for r in ratios)  # type: ignore[return-value]


def split_sizes(n: int, ratios: Sequence[float]) -> list[int]:
    """Largest-remainder apportionment of ``n`` items to the three splits (ties favour train, then val)."""
    exact = [n * r for r in ratios]
    sizes = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(ratios)), key=lambda i: (-(exact[i] - sizes[i]), i))
    for i in by_remainder[: n - sum(sizes)]:
        sizes[i] += 1
    return sizes


def assign_splits(records: list[dict], ratios: Sequence[float], seed: int) -> None:
    """Set ``split`` in place on records where it is None, per exercise, by a seeded shuffle.

    Each class is shuffled with its own generator (seeded by ``seed`` and the class name), so one class's
    records never change another's assignment. Records that already have a split keep it.
    """
    ratios = check_ratios(ratios)
    pending: dict[str, list[dict]] = defaultdict(list)
    for record in records:
        if record["split"] is None:
            pending[record["exercise"]].append(record)
    for exercise in sorted(pending):
        group = sorted(pending[exercise], key=lambda r: r["id"])
        random.Random(f"{seed}/{exercise}").shuffle(group)
        start = 0
        for split, size in zip(SPLITS, split_sizes(len(group), ratios)):
            for record in group[start: start + size]:
                record["split"] = split
            start += size
