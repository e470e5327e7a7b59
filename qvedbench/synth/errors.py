"""The form-error taxonomy and the timing of a repetition: when in a rep an error shows.

Every exercise moves through repetitions described by a phase ``p`` in [0, 1]: 0 is the start position, 1
the far end of the movement (bottom of a squat, top of a curl, arms overhead in a jumping jack). Errors show
as a deviation weighted by :func:`error_weight`, which is 0 for ``p <= 0.35`` and 1 for ``p >= 0.65``; a
frame is annotated as showing an error when ``p >= VISIBLE_FROM``.
"""
from __future__ import annotations

import numpy as np

ERRORS: dict[str, str] = {
    "knee_valgus": "knees cave inward instead of tracking over the toes",
    "forward_lean": "excessive forward tilt of the torso",
    "incomplete_rom": "the movement stops short of its full range of motion",
    "poor_alignment": "body segments out of line (sagging hips, shifted hips, uneven arms, dropped leg)",
}

VISIBLE_FROM = 0.5
_RAMP_START, _RAMP_END = 0.35, 0.65
_REDUCED_RANGE_END = 0.4  # how far an incomplete repetition gets, as a phase


def rep_phase(t: np.ndarray | float, period: float, offset: float) -> np.ndarray:
    """Phase of the repetition at time ``t`` seconds: a smooth 0 -> 1 -> 0 cycle of ``period`` seconds."""
    return (1.0 - np.cos(2.0 * np.pi * np.asarray(t, dtype=float) / period + offset)) / 2.0


def error_weight(p: np.ndarray | float) -> np.ndarray:
    """How strongly an error shows at phase ``p``: smoothstep from 0 (p <= 0.35) to 1 (p >= 0.65)."""
    x = np.clip((np.asarray(p, dtype=float) - _RAMP_START) / (_RAMP_END - _RAMP_START), 0.0, 1.0)
    return x * x * (3.0 - 2.0 * x)


def reduced_range(p: np.ndarray | float) -> np.ndarray:
    """Phase actually reached by a repetition with an incomplete range of motion (levels off near 0.4)."""
    p = np.asarray(p, dtype=float)
    return p - error_weight(p) * (p - _REDUCED_RANGE_END)


def visible_ranges(phases: np.ndarray) -> list[list[int]]:
    """Inclusive ``[start, end]`` frame ranges where ``phases >= VISIBLE_FROM`` (where an error shows)."""
    mask = np.asarray(phases) >= VISIBLE_FROM
    ranges: list[list[int]] = []
    start = None
    for i, on in enumerate(mask):
        if on and start is None:
            start = i
        elif not on and start is not None:
            ranges.append([start, i - 1])
            start = None
    if start is not None:
        ranges.append([start, len(mask) - 1])
    return ranges
