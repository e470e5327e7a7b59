"""Reading, sampling and writing video clips.

Frames cross every interface as ``numpy.ndarray`` of shape ``(T, H, W, 3)``, dtype ``uint8``, RGB.

Decoding uses decord (only the requested frames are decoded, via ``get_batch``) and falls back to OpenCV
when decord is not importable. Writing pipes raw RGB frames to the ``ffmpeg`` binary, which encodes H.264
(OpenCV's own writers cannot produce H.264 on many builds). Every unreadable input raises
:class:`VideoReadError` naming the file.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from qvedbench.io import atomic_path

try:  # decord has no wheels for some platforms (e.g. aarch64); OpenCV then decodes.
    import decord

    # Corrupt inputs make FFmpeg print to stderr; the VideoReadError raised here carries the reason instead.
    decord.logging.set_level(decord.logging.QUIET)
except ImportError:  # pragma: no cover - exercised only where decord is missing
    decord = None


class VideoReadError(RuntimeError):
    """A video that is missing, empty, truncated, corrupt, not a video, or has no video stream."""

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path, self.reason = str(path), reason
        super().__init__(f"{self.path}: {reason}")


class VideoWriteError(RuntimeError):
    """The ``ffmpeg`` binary is missing or failed to encode a video."""


@dataclass
class VideoInfo:
    num_frames: int
    fps: float
    width: int
    height: int
    duration_s: float


# -- sampling ----------------------------------------------------------------------------------------------

def sample_indices(num_frames: int, count: int | None = None, stride: int | None = None, start: int = 0) -> list[int]:
    """Frame indices to decode from a clip of ``num_frames`` frames, considering only frames ``start`` onward.

    - ``count`` only: ``count`` frames spread uniformly over the clip, each the centre of one of ``count``
      equal segments (the sampler of common video-LLM pipelines); deterministic.
    - ``stride`` only: every ``stride``-th frame from ``start`` to the end (``stride`` 1, 2, 4 = the source
      frame rate, a half, a quarter).
    - both: ``count`` frames ``stride`` apart, the window centred in the clip.
    - neither: every frame.

    Indices are strictly increasing and never repeat: a clip too short for the request raises ``ValueError``
    (callers decide whether to skip such a clip or ask for fewer frames).
    """
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    if count is not None and count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if stride is not None and stride < 1:
        raise ValueError(f"stride must be >= 1, got {stride}")
    if not 0 <= start < num_frames:
        raise ValueError(f"start must be in [0, {num_frames}), got {start}")
    available = num_frames - start
    if count is None:
        return list(range(start, num_frames, stride or 1))
    if stride is None:
        if count > available:
            raise ValueError(f"clip too short: {count} distinct frames requested, {available} available")
        # Integer form of floor(segment * (i + 0.5)) so the result never depends on float rounding.
        return [start + (available * (2 * i + 1)) // (2 * count) for i in range(count)]
    span = (count - 1) * stride + 1
    if span > available:
        raise ValueError(
            f"clip too short: {count} frames at stride {stride} span {span} frames, {available} available"
        )
    first = start + (available - span) // 2
    return [first + i * stride for i in range(count)]


# -- reading -----------------------------------------------------------------------------------------------

def _check_file(path: Path) -> None:
    if not path.exists():
        raise VideoReadError(path, "file not found")
    if not path.is_file():
        raise VideoReadError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise VideoReadError(path, "file is empty (0 bytes)")


def _decord_reason(exc: Exception) -> str:
    """decord's messages carry timestamps and C++ source locations; keep the informative text."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if "cannot find video stream" in text:
        return "no video stream"
    text = re.sub(r"\[\d{2}:\d{2}:\d{2}\] \S+?:\d+: ", "", text).strip()
    return f"cannot decode ({text[-200:]})"


class _Reader:
    """One open video behind a common interface: frame count, fps, size and decoding of chosen frames."""

    def __init__(self, path: Path):
        self.path = path
        _check_file(path)
        if decord is not None:
            try:
                self._vr = decord.VideoReader(str(path), ctx=decord.cpu(0))
            except Exception as exc:  # decord raises RuntimeError or DECORDError for bad input
                raise VideoReadError(path, _decord_reason(exc)) from exc
            self.num_frames = len(self._vr)
            self.fps = float(self._vr.get_avg_fps())
            self._size: tuple[int, int] | None = None
        else:
            cap = cv2.VideoCapture(str(path))
            if not cap.isOpened():
                raise VideoReadError(path, "cannot open as a video (not a video file, or no video stream)")
            self.num_frames = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            self.fps = float(cap.get(cv2.CAP_PROP_FPS))
            self._size = (int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)), int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)))
            if self.num_frames <= 0:  # some containers do not store a frame count: count by decoding
                self.num_frames = 0
                while cap.grab():
                    self.num_frames += 1
            cap.release()
        if self.num_frames <= 0:
            raise VideoReadError(path, "no decodable frames (0-frame video or no video stream)")

    def size(self) -> tuple[int, int]:
        """``(height, width)`` of the decoded frames, rotation metadata applied (decord: the first frame's)."""
        if self._size is None:
            self._size = self.decode([0]).shape[1:3]
        return self._size

    def decode(self, indices: list[int], transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        """The frames at ``indices``, stacked. ``transform`` (e.g. a resize) is applied to each frame as soon as
        it is decoded, so only one full-size frame is held at a time (a 4K clip would otherwise need the
        memory of all its sampled frames at full size)."""
        if decord is None:
            frames = self._decode_opencv(indices, transform)
        elif transform is not None:
            frames = np.stack([transform(self.decode([i])[0]) for i in indices])
        else:
            try:
                frames = self._vr.get_batch(indices).asnumpy()
            except Exception as exc:
                # decord 0.6 mis-sizes frames of some widths (e.g. 16, 24, 48, 72 px) and fails this copy;
                # the file itself is fine, so OpenCV decodes it instead.
                if "DECORDArrayCopyFromTo" not in str(exc):
                    raise VideoReadError(self.path, f"truncated or corrupt: {_decord_reason(exc)}") from exc
                frames = self._decode_opencv(indices)
        return np.ascontiguousarray(frames, dtype=np.uint8)

    def _decode_opencv(self, indices: list[int], transform: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
        # Sequential grabbing: OpenCV's frame seeking is inexact for many codecs.
        wanted = set(indices)
        cap = cv2.VideoCapture(str(self.path))
        got: dict[int, np.ndarray] = {}
        try:
            for i in range(max(wanted) + 1):
                if not cap.grab():
                    raise VideoReadError(self.path, f"truncated or corrupt: frame {i} of {self.num_frames} unreadable")
                if i in wanted:
                    ok, bgr = cap.retrieve()
                    if not ok:
                        raise VideoReadError(self.path, f"truncated or corrupt: frame {i} unreadable")
                    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
                    got[i] = transform(rgb) if transform is not None else rgb
        finally:
            cap.release()
        return np.stack([got[i] for i in indices])


def probe(path: str | os.PathLike) -> VideoInfo:
    """Frame count, frame rate and size of a video, checked by decoding its first and last frames.

    Container metadata can claim frames a truncated file no longer holds, so the last claimed frame is
    decoded; if that fails the file is reported as truncated. Raises :class:`VideoReadError` for anything
    unreadable, including a video with no frames.
    """
    reader = _Reader(Path(path))
    height, width = reader.size()
    reader.decode([reader.num_frames - 1])
    fps = reader.fps
    duration = reader.num_frames / fps if fps > 0 else 0.0
    return VideoInfo(reader.num_frames, fps, width, height, duration)


def resize_frames(frames: np.ndarray, size: int | tuple[int, int]) -> np.ndarray:
    """Resize ``(T, H, W, 3)`` frames to ``size`` (an int: a square side; a tuple: ``(height, width)``)."""
    height, width = (size, size) if isinstance(size, int) else size
    if height < 1 or width < 1:
        raise ValueError(f"size must be positive, got {size}")
    if frames.shape[1:3] == (height, width):
        return frames
    return np.stack([cv2.resize(f, (width, height), interpolation=cv2.INTER_AREA) for f in frames])


def load_frames(
    path: str | os.PathLike,
    num_frames: int | None = None,
    stride: int | None = None,
    size: int | tuple[int, int] | None = None,
) -> np.ndarray:
    """Decode the frames :func:`sample_indices` picks (``num_frames`` = its ``count``) as uint8 RGB
    ``(T, H, W, 3)``, optionally resized (see :func:`resize_frames`; OpenCV ``INTER_AREA``).

    Only the sampled frames are decoded, and with ``size`` each is resized before the next is decoded, so
    memory stays bounded for huge sources (e.g. 4096x2160). Frames are sampled by index, so a variable frame
    rate clip is sampled uniformly in frames, not in time. Rotation metadata (portrait phone videos) is
    applied by both decoders: frames come out upright, as players show them, and :func:`probe` reports the
    upright size. Raises :class:`VideoReadError` for unreadable files and
    ``ValueError`` for a clip too short for the request.
    """
    reader = _Reader(Path(path))
    try:
        indices = sample_indices(reader.num_frames, count=num_frames, stride=stride)
    except ValueError as exc:
        raise ValueError(f"{path}: {exc}") from exc
    if size is None:
        return reader.decode(indices)
    return reader.decode(indices, transform=lambda frame: resize_frames(frame[None], size)[0])


# -- writing -----------------------------------------------------------------------------------------------

def ffmpeg_binary() -> str:
    """Path of the ``ffmpeg`` executable on ``PATH``; :class:`VideoWriteError` if there is none."""
    found = shutil.which("ffmpeg")
    if found is None:
        raise VideoWriteError("the 'ffmpeg' executable was not found on PATH; install FFmpeg (with libx264)")
    return found


def _even_frame(frame: np.ndarray) -> np.ndarray:
    """yuv420p needs even sides: repeat the last row/column of an odd-sized frame."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") if (h % 2 or w % 2) else frame


def write_video(
    frames: np.ndarray | Iterable[np.ndarray],
    path: str | os.PathLike,
    fps: float,
    crf: int = 23,
    preset: str = "medium",
) -> None:
    """Encode RGB uint8 frames (an array ``(T, H, W, 3)`` or any iterable of ``(H, W, 3)`` frames, streamed)
    as an H.264 mp4 (yuv420p, ``+faststart``) at ``path``, atomically.

    Odd frame sides are padded by one repeated row/column. The encoder runs single-threaded with
    bit-exact flags and no metadata, so the same frames give the same bytes with the same FFmpeg build.
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    path = Path(path)
    iterator = iter(frames)
    first = next(iterator, None)
    if first is None:
        raise ValueError(f"{path}: no frames to write")
    first = _check_frame(first, 0)
    height, width = _even_frame(first).shape[:2]
    cmd = [
        ffmpeg_binary(), "-hide_banner", "-loglevel", "error", "-nostdin", "-y",
        "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", f"{width}x{height}", "-framerate", repr(float(fps)),
        "-i", "pipe:0",
        "-c:v", "libx264", "-preset", preset, "-crf", str(int(crf)), "-pix_fmt", "yuv420p", "-threads", "1",
        "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1",
        "-movflags", "+faststart", "-f", "mp4",
    ]
    with atomic_path(path) as tmp, tempfile.TemporaryFile() as stderr:
        proc = subprocess.Popen(cmd + [str(tmp)], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=stderr)
        try:
            proc.stdin.write(_even_frame(first).tobytes())
            for i, frame in enumerate(iterator, start=1):
                frame = _even_frame(_check_frame(frame, i))
                if frame.shape[:2] != (height, width):
                    raise ValueError(f"{path}: frame {i} has shape {frame.shape}, frame 0 has {first.shape}")
                proc.stdin.write(frame.tobytes())
            proc.stdin.close()
        except BrokenPipeError:
            pass  # ffmpeg exited early; its exit status and message are reported below
        except BaseException:
            proc.kill()
            proc.wait()
            raise
        returncode = proc.wait()
        if returncode != 0:
            stderr.seek(0)
            message = stderr.read().decode("utf-8", "replace").strip()[-800:]
            raise VideoWriteError(f"{path}: ffmpeg failed with exit status {returncode}: {message}")


def _check_frame(frame: np.ndarray, index: int) -> np.ndarray:
    frame = np.asarray(frame)
    if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
        raise ValueError(f"frame {index}: expected uint8 (H, W, 3) RGB, got {frame.dtype} {frame.shape}")
    return np.ascontiguousarray(frame)
