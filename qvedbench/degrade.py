"""Visual degradations of video clips: motion blur, compression, lighting and occlusion.

Every degradation is a pure function of uint8 RGB frames ``(T, H, W, 3)`` (plus a seed where it draws random
numbers) and returns new frames; the same input and seed always give the same output. A degradation is
named like a test-set variant (:func:`parse_degradation` / :attr:`Degradation.name`):

- ``blur_<k>``: camera-shake motion blur, each frame convolved with its own random-walk kernel of ``k`` x
  ``k`` pixels (``k`` odd, >= 3);
- ``crf_<q>``: H.264 re-encoding at constant rate factor ``q`` (0-51; higher is lossier);
- ``light_<p>``: exposure changed by ``p`` percent (e.g. ``light_-40``): brightness and contrast scale
  together by ``1 + p/100``, as under a brighter or dimmer light;
- ``occl_<fill>_<p>``: a box of ``p`` percent of the frame area, ``black`` or uniform ``noise``, at a seeded
  position that stays put for the whole clip (a static occluder in front of the camera).

The names are parsed by :mod:`qvedbench.variant_names` (re-exported here).
"""
from __future__ import annotations

import hashlib
import math
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np

from qvedbench.variant_names import DEGRADATION_TYPES, Degradation, check_level, is_degradation, parse_degradation
from qvedbench.video import load_frames, probe, write_video

OCCLUSION_FILLS = ("black", "noise")

__all__ = ["DEGRADATION_TYPES", "Degradation", "OCCLUSION_FILLS", "adjust_lighting", "camera_shake_kernel", "clip_seed",
           "compress", "degrade_frames", "degrade_video", "is_degradation", "motion_blur", "occlude",
           "occlusion_box", "parse_degradation"]


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(f"expected uint8 frames (T, H, W, 3), got {frames.dtype} {frames.shape}")
    return frames


# -- motion blur -------------------------------------------------------------------------------------------

def camera_shake_kernel(size: int, rng: np.random.Generator, steps: int = 64) -> np.ndarray:
    """A ``size`` x ``size`` blur kernel (float32, sums to 1) traced by a random walk with momentum.

    The path of a shaking camera during one exposure: a velocity that drifts randomly, integrated over
    ``steps`` sub-steps, scaled to span the kernel, and splatted with bilinear weights.
    """
    check_level("blur", size)
    velocity = rng.normal(size=2)
    path = np.zeros((steps, 2))
    for i in range(1, steps):
        velocity = 0.8 * velocity + 0.6 * rng.normal(size=2)
        path[i] = path[i - 1] + velocity
    path -= path.min(axis=0)
    extent = path.max()
    path = path * ((size - 1) / extent) if extent > 0 else path + (size - 1) / 2
    # Centre the path so the blur does not shift the image.
    path += ((size - 1) - path.max(axis=0)) / 2
    kernel = np.zeros((size, size), dtype=np.float64)
    for x, y in path:
        x0, y0 = min(int(x), size - 2), min(int(y), size - 2)
        fx, fy = x - x0, y - y0
        kernel[y0, x0] += (1 - fx) * (1 - fy)
        kernel[y0, x0 + 1] += fx * (1 - fy)
        kernel[y0 + 1, x0] += (1 - fx) * fy
        kernel[y0 + 1, x0 + 1] += fx * fy
    return (kernel / kernel.sum()).astype(np.float32)


def motion_blur(frames: np.ndarray, size: int, seed: int) -> np.ndarray:
    """Each frame convolved with its own camera-shake kernel of ``size`` pixels (seeded)."""
    frames = _check_frames(frames)
    rng = np.random.default_rng(seed)
    return np.stack([
        cv2.filter2D(frame, -1, camera_shake_kernel(size, rng), borderType=cv2.BORDER_REFLECT)
        for frame in frames
    ])


# -- compression -------------------------------------------------------------------------------------------

def compress(frames: np.ndarray, crf: int, fps: float = 25.0) -> np.ndarray:
    """The frames after an H.264 round trip at ``crf`` (encoded with FFmpeg, decoded back)."""
    frames = _check_frames(frames)
    check_level("crf", crf)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "clip.mp4"
        write_video(frames, path, fps=fps, crf=crf)
        decoded = load_frames(path)
    # write_video pads odd sides by one repeated row/column: cut them off again.
    return decoded[:, : frames.shape[1], : frames.shape[2]]


# -- lighting ----------------------------------------------------------------------------------------------

def adjust_lighting(frames: np.ndarray, percent: float) -> np.ndarray:
    """Exposure change by ``percent``: every pixel scaled by ``1 + percent/100`` and clipped to 0..255.

    Scaling moves brightness and contrast (the spread of intensities) by the same factor, as a brighter or
    dimmer light would; saturated pixels clip, as in an over-exposed recording.
    """
    frames = _check_frames(frames)
    check_level("light", percent)
    scaled = frames.astype(np.float32) * (1 + percent / 100)
    return np.clip(np.rint(scaled), 0, 255).astype(np.uint8)


# -- occlusion ---------------------------------------------------------------------------------------------

def occlusion_box(height: int, width: int, percent: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """``(top, left, box_height, box_width)`` of a box with the frame's aspect ratio covering ``percent`` of
    its area (to the nearest pixel), at a random position fully inside the frame."""
    check_level("occl_black", percent)
    scale = math.sqrt(percent / 100)
    box_h = min(height, max(1, round(height * scale)))
    box_w = min(width, max(1, round(height * width * percent / 100 / box_h)))
    top = int(rng.integers(0, height - box_h + 1))
    left = int(rng.integers(0, width - box_w + 1))
    return top, left, box_h, box_w


def occlude(frames: np.ndarray, percent: float, fill: str, seed: int) -> np.ndarray:
    """A box covering ``percent`` of each frame, at one seeded position for the whole clip, filled with
    black or with fresh uniform noise per frame."""
    frames = _check_frames(frames)
    if fill not in OCCLUSION_FILLS:
        raise ValueError(f"occlusion fill must be one of {OCCLUSION_FILLS}, got {fill!r}")
    rng = np.random.default_rng(seed)
    top, left, box_h, box_w = occlusion_box(frames.shape[1], frames.shape[2], percent, rng)
    out = frames.copy()
    region = out[:, top:top + box_h, left:left + box_w]
    region[...] = 0 if fill == "black" else rng.integers(0, 256, size=region.shape, dtype=np.uint8)
    return out


# -- dispatch ----------------------------------------------------------------------------------------------

def clip_seed(seed: int, clip_id: str) -> int:
    """A per-clip seed: clips differ from each other, yet each depends only on ``seed`` and its id."""
    digest = hashlib.sha256(f"{seed}:{clip_id}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big")


def degrade_frames(frames: np.ndarray, degradation: Degradation, seed: int, fps: float = 25.0) -> np.ndarray:
    """Apply ``degradation`` to ``frames`` (``fps`` matters only to the compression round trip)."""
    kind, level = degradation.kind, degradation.level
    if kind == "blur":
        return motion_blur(frames, level, seed)
    if kind == "crf":
        return compress(frames, level, fps)
    if kind == "light":
        return adjust_lighting(frames, level)
    return occlude(frames, level, kind.removeprefix("occl_"), seed)


def degrade_video(src: str | os.PathLike, dst: str | os.PathLike, degradation: Degradation, seed: int, *,
                  reencode_crf: int = 0) -> None:
    """Write a degraded copy of the video ``src`` to ``dst`` (H.264, same frame rate and frame count).

    Compression encodes the decoded source once at its own crf. The other degradations are encoded at
    ``reencode_crf`` (0: lossless in the pixel format), so the degradation is the only change from the
    source's decoded frames.
    """
    frames = load_frames(src)
    fps = probe(src).fps
    if degradation.kind == "crf":
        write_video(frames, dst, fps=fps, crf=degradation.level)
        return
    check_level("crf", reencode_crf)
    write_video(degrade_frames(frames, degradation, seed, fps), dst, fps=fps, crf=reencode_crf)
