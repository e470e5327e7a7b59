"""The published NVILA-Lite checkpoints' tensor names, mapped onto this package's model, and their loading.

Two published layouts hold the same tensors:

- ``-hf`` (one folder of ``*.safetensors``): ``llm.*``, ``vision_tower.vision_model.*``, ``mm_projector.layers.N.*``;
- the original layout: sub-folders ``llm/``, ``vision_tower/`` and ``mm_projector/``, each with its own
  ``config.json`` and safetensors whose names lack the folder prefix. Read as ``<folder>.<name>`` they are exactly
  the ``-hf`` names, so one mapping serves both.

Our model differs in two places: transformers' ``SiglipVisionModel`` has no ``vision_model`` level any more, and
the projector's ``nn.Sequential`` positions have names (the GELUs and the pixel-shuffle step hold no weights).
Every published tensor must map to a model tensor and every model tensor must be covered: anything missing,
left over, or of the wrong shape is an error naming the tensor. A tied ``lm_head`` (Qwen2-1.5B ties it to the
input embeddings) is not stored, as in the published files.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Mapping

import torch

from qvedbench.models.nvila_lite.config import NVILALiteConfig

# Published projector position -> our layer name.
PROJECTOR_LAYERS = {"1": "norm_in", "2": "fc_in", "4": "norm_mid", "5": "fc_mid", "7": "fc_out"}
_OUR_PROJECTOR = {v: k for k, v in PROJECTOR_LAYERS.items()}
LEGACY_FOLDERS = ("llm", "vision_tower", "mm_projector")


class CheckpointMappingError(KeyError):
    """A checkpoint tensor that has no place in the model, or a model tensor the checkpoint lacks."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def published_to_ours(name: str) -> str:
    """Our parameter name for a published (``-hf`` style) tensor name; error if the name is not NVILA-Lite's."""
    if name.startswith("llm."):
        return name
    if name.startswith("vision_tower.vision_model."):
        return "vision_tower." + name[len("vision_tower.vision_model."):]
    match = re.fullmatch(r"mm_projector\.layers\.(\d+)\.(weight|bias)", name)
    if match and match.group(1) in PROJECTOR_LAYERS:
        return f"mm_projector.{PROJECTOR_LAYERS[match.group(1)]}.{match.group(2)}"
    raise CheckpointMappingError(f"checkpoint tensor '{name}' is not part of the NVILA-Lite layout")


def ours_to_published(name: str) -> str:
    """The published (``-hf`` style) name of one of our parameters (inverse of :func:`published_to_ours`)."""
    if name.startswith("llm."):
        return name
    if name.startswith("vision_tower."):
        return "vision_tower.vision_model." + name[len("vision_tower."):]
    match = re.fullmatch(r"mm_projector\.(\w+)\.(weight|bias)", name)
    if match and match.group(1) in _OUR_PROJECTOR:
        return f"mm_projector.layers.{_OUR_PROJECTOR[match.group(1)]}.{match.group(2)}"
    raise CheckpointMappingError(f"model tensor '{name}' has no published NVILA-Lite name")


def expected_tensors(model: torch.nn.Module) -> dict[str, tuple[int, ...]]:
    """Our tensor names and shapes a checkpoint must provide: the state dict minus tied copies."""
    tied = set(getattr(model, "_tied_weights_keys", None) or {}) if model.config.tie_word_embeddings else set()
    return {name: tuple(t.shape) for name, t in model.state_dict().items() if name not in tied}


def map_state_dict(
    published: Mapping[str, torch.Tensor], model: torch.nn.Module, source: str = "checkpoint"
) -> dict[str, torch.Tensor]:
    """Rename ``published`` tensors to ours and check the result covers ``model`` exactly (names and shapes).

    Raises :class:`CheckpointMappingError` listing unknown, left-over and missing tensors, or ``ValueError`` for a
    shape mismatch; ``source`` names the checkpoint in the message.
    """
    expected = expected_tensors(model)
    mapped: dict[str, torch.Tensor] = {}
    unknown, extra = [], []
    for name, tensor in published.items():
        try:
            ours = published_to_ours(name)
        except CheckpointMappingError:
            unknown.append(name)
            continue
        if ours not in expected:
            extra.append(name)
            continue
        mapped[ours] = tensor
    missing = [ours_to_published(n) for n in expected if n not in mapped]
    if unknown or extra or missing:
        parts = []
        for label, names in (("unknown", unknown), ("unexpected", extra), ("missing", missing)):
            if names:
                shown = ", ".join(sorted(names)[:10]) + (f" (+{len(names) - 10} more)" if len(names) > 10 else "")
                parts.append(f"{len(names)} {label} tensor(s): {shown}")
        raise CheckpointMappingError(f"{source}: does not match the NVILA-Lite model: " + "; ".join(parts))
    for ours, tensor in mapped.items():
        if tuple(tensor.shape) != expected[ours]:
            raise ValueError(
                f"{source}: tensor '{ours_to_published(ours)}' has shape {tuple(tensor.shape)}, "
                f"the model expects {expected[ours]}"
            )
    return mapped


# -- reading published folders ------------------------------------------------------------------------------------


def is_legacy_layout(folder: str | Path) -> bool:
    folder = Path(folder)
    return all((folder / sub / "config.json").is_file() for sub in LEGACY_FOLDERS)


def is_published_hf_layout(folder: str | Path) -> bool:
    """A ``-hf`` checkpoint folder (its tensor names carry ``vision_tower.vision_model.``), not one we saved."""
    names = safetensors_names(Path(folder))
    return any(n.startswith("vision_tower.vision_model.") or n.startswith("mm_projector.layers.") for n in names)


def _safetensors_files(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.safetensors"))


def safetensors_names(folder: Path) -> list[str]:
    from safetensors import safe_open

    names: list[str] = []
    for file in _safetensors_files(folder):
        with safe_open(str(file), framework="pt") as fh:
            names.extend(fh.keys())
    return names


def read_published_tensors(folder: str | Path) -> dict[str, torch.Tensor]:
    """All tensors of a published checkpoint folder, by ``-hf`` style name (either layout)."""
    from safetensors.torch import load_file

    folder = Path(folder)
    tensors: dict[str, torch.Tensor] = {}
    sources = [(folder / sub, sub + ".") for sub in LEGACY_FOLDERS] if is_legacy_layout(folder) else [(folder, "")]
    for path, prefix in sources:
        files = _safetensors_files(path)
        if not files:
            raise FileNotFoundError(f"{path}: no *.safetensors files")
        for file in files:
            for name, tensor in load_file(str(file)).items():
                tensors[prefix + name] = tensor
    return tensors


def legacy_config(folder: str | Path) -> NVILALiteConfig:
    """An :class:`NVILALiteConfig` from the original layout's ``llm/`` and ``vision_tower/`` configs."""
    folder = Path(folder)
    projector = json.loads((folder / "mm_projector" / "config.json").read_text(encoding="utf-8"))
    kind = projector.get("mm_projector_type")
    if kind is not None and "3x3" not in kind:
        raise ValueError(f"{folder / 'mm_projector' / 'config.json'}: projector type '{kind}' is not NVILA-Lite's "
                         "3x3 'mlp_downsample' projector, the only one this implementation maps")
    text = json.loads((folder / "llm" / "config.json").read_text(encoding="utf-8"))
    vision = json.loads((folder / "vision_tower" / "config.json").read_text(encoding="utf-8"))
    return NVILALiteConfig(text_config=text, vision_config=vision)


def load_published_weights(model: torch.nn.Module, folder: str | Path) -> None:
    """Copy a published checkpoint's tensors into ``model`` (every tensor mapped, nothing missing or extra)."""
    mapped = map_state_dict(read_published_tensors(folder), model, source=str(folder))
    if model.config.tie_word_embeddings:
        for target, source in (getattr(model, "_tied_weights_keys", None) or {}).items():
            mapped[target] = mapped[source]
    model.load_state_dict(mapped, strict=True, assign=True)
    if model.config.tie_word_embeddings:
        model.tie_weights()
