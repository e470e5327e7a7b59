"""Model families behind one adapter interface (see :mod:`qvedbench.models.base`)."""

from qvedbench.models.base import ModelSpec, VideoVLMAdapter
from qvedbench.models.registry import adapter_class, families, load_adapter, register

__all__ = ["ModelSpec", "VideoVLMAdapter", "adapter_class", "families", "load_adapter", "register"]
