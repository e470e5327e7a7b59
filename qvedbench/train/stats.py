"""Measurements for ``train_stats.json`` and ``resolved_config.yaml``: memory, sizes, library versions."""
from __future__ import annotations

import os
import platform
import resource
import sys
from importlib import metadata
from pathlib import Path

import torch

_LIBRARIES = ("qvedbench", "torch", "torchvision", "transformers", "peft", "accelerate", "tokenizers", "numpy",
              "decord", "opencv-python-headless")


def library_versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in _LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory_mb(device: torch.device) -> float:
    """CUDA max allocated memory on a GPU; the process's max resident set size on the CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 1024  # bytes on macOS, KiB on Linux


def directory_bytes(path: str | os.PathLike) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())
