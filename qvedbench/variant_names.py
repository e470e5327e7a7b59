"""Names of the parametrised test-set variants, parsed without any video dependency (the report stage has
no OpenCV).

- temporal: ``frames<F>_stride<S>``: ``F`` frames taken ``S`` source frames apart;
- resolution: ``res<R>_frames<F>``: ``F`` frames sampled uniformly over the clip, each ``R`` x ``R`` pixels;
- degraded: ``blur_<k>`` (camera-shake kernel of ``k`` px, odd, >= 3), ``crf_<q>`` (H.264 crf 0..51),
  ``light_<p>`` (exposure change of ``p`` percent, above -100), ``occl_<black|noise>_<p>`` (a box covering
  ``p`` percent of the frame, 1..99). :mod:`qvedbench.degrade` applies them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

DEGRADATION_TYPES = ("blur", "crf", "light", "occl_black", "occl_noise")
_DEGRADATION = re.compile(r"^(?:(blur|crf|light)|occl_(black|noise))_(-?\d+)$")
_TEMPORAL = re.compile(r"^frames(\d+)_stride(\d+)$")
_RESOLUTION = re.compile(r"^res(\d+)_frames(\d+)$")


def check_level(kind: str, level: int) -> None:
    """``ValueError`` unless ``level`` is valid for the degradation type ``kind``."""
    if kind == "blur" and (level < 3 or level % 2 == 0):
        raise ValueError(f"blur kernel size must be odd and >= 3, got {level}")
    if kind == "crf" and not 0 <= level <= 51:
        raise ValueError(f"crf must be within 0..51, got {level}")
    if kind == "light" and not level > -100:
        raise ValueError(f"lighting change must be above -100%, got {level}")
    if kind.startswith("occl_") and not 0 < level < 100:
        raise ValueError(f"occluded share must be within 1..99 percent, got {level}")


@dataclass(frozen=True)
class Degradation:
    """One degradation at one level; ``kind`` is one of :data:`DEGRADATION_TYPES`."""

    kind: str
    level: int

    def __post_init__(self) -> None:
        if self.kind not in DEGRADATION_TYPES:
            raise ValueError(f"unknown degradation type {self.kind!r}; known: {', '.join(DEGRADATION_TYPES)}")
        check_level(self.kind, self.level)

    @property
    def name(self) -> str:
        """The variant name, e.g. ``blur_7``, ``crf_40``, ``light_-40``, ``occl_black_20``."""
        return f"{self.kind}_{self.level}"


def parse_degradation(name: str) -> Degradation:
    """The :class:`Degradation` a variant name stands for; ``ValueError`` for anything else."""
    match = _DEGRADATION.match(name)
    if match is None:
        raise ValueError(f"{name!r} is not a degradation name (blur_<k>, crf_<q>, light_<p>, occl_<black|noise>_<p>)")
    kind = match.group(1) or f"occl_{match.group(2)}"
    return Degradation(kind, int(match.group(3)))


def is_degradation(name: str) -> bool:
    """Whether ``name`` has the form of a degraded variant (its level may still be invalid)."""
    return _DEGRADATION.match(name) is not None


def temporal_variant_name(frames: int, stride: int) -> str:
    return f"frames{frames}_stride{stride}"


def parse_temporal_variant(name: str) -> tuple[int, int] | None:
    """``(frames, stride)`` of a temporal variant name such as ``frames8_stride2``; None for other names."""
    match = _TEMPORAL.match(name)
    if match is None:
        return None
    frames, stride = int(match.group(1)), int(match.group(2))
    if frames < 1 or stride < 1:
        raise ValueError(f"temporal variant {name!r}: frames and stride must be >= 1")
    return frames, stride


def resolution_variant_name(resolution: int, frames: int) -> str:
    """The variant name of ``frames`` frames at ``resolution`` pixels square, e.g. ``res336_frames8``."""
    if resolution < 1 or frames < 1:
        raise ValueError(f"resolution and frames must be >= 1, got {resolution} and {frames}")
    return f"res{resolution}_frames{frames}"


def parse_resolution_variant(name: str) -> tuple[int, int] | None:
    """``(resolution, frames)`` of a resolution variant name such as ``res336_frames8``; None for other names."""
    match = _RESOLUTION.match(name)
    if match is None:
        return None
    resolution, frames = int(match.group(1)), int(match.group(2))
    if resolution < 1 or frames < 1:
        raise ValueError(f"resolution variant {name!r}: resolution and frames must be >= 1")
    return resolution, frames
