"""Registry of model families: adding a family is one module that calls :func:`register`."""
from __future__ import annotations

import importlib

from qvedbench.models.base import ModelSpec, VideoVLMAdapter

_REGISTRY: dict[str, type[VideoVLMAdapter]] = {}

# Modules imported on first lookup so that each family registers itself.
FAMILY_MODULES = (
    "qvedbench.models.qwen2_vl",
    "qvedbench.models.videollama3",
    "qvedbench.models.nvila_lite",
    "qvedbench.models.mobile_videogpt",
)


def register(cls: type[VideoVLMAdapter]) -> type[VideoVLMAdapter]:
    """Class decorator: make ``cls`` available under each name in ``cls.families``."""
    for name in cls.families:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise ValueError(f"model family '{name}' registered twice")
        _REGISTRY[name] = cls
    return cls


def _load_all() -> None:
    for module in FAMILY_MODULES:
        importlib.import_module(module)


def families() -> list[str]:
    _load_all()
    return sorted(_REGISTRY)


def adapter_class(family: str) -> type[VideoVLMAdapter]:
    _load_all()
    try:
        return _REGISTRY[family]
    except KeyError:
        raise KeyError(f"unknown model family '{family}'; known: {', '.join(sorted(_REGISTRY))}") from None


def load_adapter(spec: ModelSpec, checkpoint: str | None = None) -> VideoVLMAdapter:
    """Load a model of ``spec.family`` (plus a fine-tuned checkpoint, if given) ready for use."""
    return adapter_class(spec.family).load(spec, checkpoint=checkpoint)
