"""Joining annotation video paths onto the video root without letting them escape it."""
from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from qvedbench.io import RecordError


def resolve_video(video_root: str | os.PathLike, video_rel: str, *, source, index: int) -> str:
    """``video_rel`` joined onto ``video_root``, as a normalised (not resolved) path string.

    Raises :class:`RecordError` (field ``video``) for paths with control characters (NUL included), absolute
    paths, and paths that leave the root once ``..`` and symbolic links are resolved. The file itself need not exist.
    """
    if any(ord(ch) < 32 for ch in video_rel):  # a NUL byte would make the filesystem calls below raise
        raise RecordError(source, index, "video", f"path {video_rel!r} contains control characters")
    if PurePosixPath(video_rel).is_absolute() or PureWindowsPath(video_rel).is_absolute():
        raise RecordError(source, index, "video", f"absolute path {video_rel!r} not allowed; give it relative to the video root")
    root = Path(video_root).resolve()
    target = (root / video_rel).resolve()
    if target == root or not target.is_relative_to(root):
        raise RecordError(source, index, "video", f"path {video_rel!r} resolves to {str(target)!r}, outside the video root {str(root)!r}")
    return os.path.normpath(os.path.join(os.fspath(video_root), video_rel))
