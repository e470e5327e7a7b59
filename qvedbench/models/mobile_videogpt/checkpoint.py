"""The published Mobile-VideoGPT checkpoint layout and its strict mapping onto this package's model.

Published checkpoints (Amshaker/Mobile-VideoGPT-0.5B / -1.5B) are a LLaVA-style ``Qwen2ForCausalLM`` subclass
(``model_type: MobileVideoGPT_qwen``) whose tensor names map onto
:class:`~qvedbench.models.mobile_videogpt.modeling.MobileVideoGPTForConditionalGeneration` as follows (first
matching prefix wins; the rest of the name is kept):

    upstream prefix                                       prefix here
    model.vision_tower.vision_encoder.                    model.video_encoder.  (VideoMamba, with the
                                                          backward-scan *_b tensors and the unused
                                                          clip_decoder alignment head)
    model.image_vision_tower.vision_tower.vision_model.   model.context_encoder.  (CLIP ViT-B/16)
    model.mm_projector.mlp.mlp.                           model.video_projector.mlp.
    model.mm_projector.peg.peg.0.                         model.video_projector.peg.
    model.image_mm_projector.mlp.mlp.                     model.context_projector.mlp.
    model.image_mm_projector.peg.peg.0.                   model.context_projector.peg.
    model.  (embed_tokens, layers, norm)                  model.language_model.
    lm_head.                                              lm_head.

The same table is :data:`KEY_MAP`, which the code uses in both directions.

Loading is strict: every published tensor must land on a parameter of the same shape and every parameter
must be filled, else :class:`CheckpointMappingError` names the offending tensors. The single exception is
``lm_head.weight`` when the config ties word embeddings: transformers does not save a tied head, and when it
is present it must equal the embedding matrix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Mapping

import torch
from transformers.initialization import no_init_weights

from qvedbench.io import read_json
from qvedbench.models.mobile_videogpt.config import (
    CLIP_VIT_B16,
    VIDEOMAMBA_M,
    MobileVideoGPTConfig,
)

UPSTREAM_MODEL_TYPE = "MobileVideoGPT_qwen"

# (upstream prefix, prefix here), in matching order.
KEY_MAP: tuple[tuple[str, str], ...] = (
    ("model.vision_tower.vision_encoder.", "model.video_encoder."),
    ("model.image_vision_tower.vision_tower.vision_model.", "model.context_encoder."),
    ("model.mm_projector.mlp.mlp.", "model.video_projector.mlp."),
    ("model.mm_projector.peg.peg.0.", "model.video_projector.peg."),
    ("model.image_mm_projector.mlp.mlp.", "model.context_projector.mlp."),
    ("model.image_mm_projector.peg.peg.0.", "model.context_projector.peg."),
    ("model.", "model.language_model."),
    ("lm_head.", "lm_head."),
)
TIED_HEAD = "lm_head.weight"
EMBEDDINGS = "model.language_model.embed_tokens.weight"


class CheckpointMappingError(ValueError):
    """A checkpoint whose tensors do not match the model one to one."""


def _rename(name: str, pairs) -> str | None:
    for source, target in pairs:
        if name.startswith(source):
            return target + name[len(source):]
    return None


def upstream_to_local(name: str) -> str | None:
    """The parameter name here for an upstream tensor name (``None``: no rule covers it)."""
    return _rename(name, KEY_MAP)


def local_to_upstream(name: str) -> str | None:
    """The upstream tensor name for a parameter name here (``None``: no rule covers it)."""
    return _rename(name, [(b, a) for a, b in KEY_MAP])


def _preview(names) -> str:
    names = sorted(names)
    return ", ".join(names[:8]) + (f" ... ({len(names)} in all)" if len(names) > 8 else "")


def map_upstream_state_dict(
    upstream: Mapping[str, torch.Tensor],
    expected: Mapping[str, torch.Size],
    tie_word_embeddings: bool,
    source: str = "checkpoint",
) -> dict[str, torch.Tensor]:
    """Rename ``upstream`` tensors to local names and check them against ``expected`` (name -> shape).

    Raises :class:`CheckpointMappingError` listing unmapped, unexpected, missing or mis-shaped tensors.
    """
    mapped: dict[str, torch.Tensor] = {}
    unexpected, wrong_shape = [], []
    for name, tensor in upstream.items():
        local = upstream_to_local(name)
        if local is None or local not in expected:
            unexpected.append(name if local is None else f"{name} (-> {local})")
        elif tuple(tensor.shape) != tuple(expected[local]):
            wrong_shape.append(f"{name}: {tuple(tensor.shape)} vs {tuple(expected[local])} expected")
        else:
            mapped[local] = tensor
    missing = [n for n in expected if n not in mapped]
    if tie_word_embeddings:
        missing = [n for n in missing if n != TIED_HEAD]
        if TIED_HEAD in mapped:
            head = mapped.pop(TIED_HEAD)
            if EMBEDDINGS in mapped and not torch.equal(head, mapped[EMBEDDINGS]):
                raise CheckpointMappingError(
                    f"{source}: lm_head.weight differs from the embeddings but the config ties them "
                    "(tie_word_embeddings: true)"
                )
    problems = []
    if unexpected:
        problems.append(f"unexpected tensor(s): {_preview(unexpected)}")
    if missing:
        problems.append(f"missing tensor(s): {_preview(local_to_upstream(n) or n for n in missing)}")
    if wrong_shape:
        problems.append(f"wrong shape: {_preview(wrong_shape)}")
    if problems:
        raise CheckpointMappingError(f"{source}: does not match the Mobile-VideoGPT layout; " + "; ".join(problems))
    return mapped


def expected_shapes(model) -> dict[str, torch.Size]:
    """Local parameter and persistent-buffer names of ``model`` with their shapes (tied copies once)."""
    return {name: tensor.shape for name, tensor in model.state_dict().items()
            if not (model.config.tie_word_embeddings and name == TIED_HEAD)}


def to_upstream_state_dict(model) -> dict[str, torch.Tensor]:
    """``model``'s tensors under the published names (for writing an upstream-layout checkpoint)."""
    out = {}
    for name, tensor in model.state_dict().items():
        if model.config.tie_word_embeddings and name == TIED_HEAD:
            continue
        upstream = local_to_upstream(name)
        if upstream is None:
            raise CheckpointMappingError(f"no upstream name for parameter '{name}'")
        out[upstream] = tensor
    return out


# -- whole folders ------------------------------------------------------------------------------------------------


def is_upstream_folder(folder: str | Path) -> bool:
    config = Path(folder) / "config.json"
    if not config.is_file():
        return False
    return read_json(config).get("model_type") == UPSTREAM_MODEL_TYPE


def read_tensors(folder: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a folder's ``*.safetensors`` (or, failing that, ``pytorch_model*.bin``) files."""
    from safetensors.torch import load_file

    folder = Path(folder)
    files = sorted(folder.glob("*.safetensors"))
    tensors: dict[str, torch.Tensor] = {}
    for path in files or sorted(folder.glob("pytorch_model*.bin")):
        part = load_file(path) if path.suffix == ".safetensors" else torch.load(path, map_location="cpu",
                                                                                   weights_only=True)
        duplicate = set(part) & set(tensors)
        if duplicate:
            raise CheckpointMappingError(f"{path}: tensor(s) also in another file: {_preview(duplicate)}")
        tensors.update(part)
    if not tensors:
        raise FileNotFoundError(f"{folder}: no *.safetensors or pytorch_model*.bin weights")
    return tensors


def config_from_upstream(upstream: dict, source: str = "config.json") -> MobileVideoGPTConfig:
    """Our config for a published ``config.json`` (a Qwen2 config plus LLaVA-style ``mm_*`` fields).

    The published models use ETP projectors, CLIP ViT-B/16 and VideoMamba-M; anything else is an error.
    """
    for field in ("mm_projector_type", "image_mm_projector_type"):
        value = upstream.get(field, "etp")
        if not str(value).startswith("etp"):
            raise ValueError(f"{source}: {field} is '{value}'; only the ETP projector is implemented")
    clip_name = str(upstream.get("image_mm_vision_tower", upstream.get("image_vision_tower", "")))
    if clip_name and "clip-vit-base-patch16" not in clip_name:
        raise ValueError(f"{source}: context encoder '{clip_name}' is not CLIP ViT-B/16")
    text_keys = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                 "num_key_value_heads", "max_position_embeddings", "rms_norm_eps", "hidden_act",
                 "bos_token_id", "eos_token_id", "tie_word_embeddings", "sliding_window", "use_sliding_window")
    text = {k: upstream[k] for k in text_keys if k in upstream}
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": float(upstream.get("rope_theta", 1e6))}
    return MobileVideoGPTConfig(
        text_config=text,
        context_config=dict(CLIP_VIT_B16),
        video_config=dict(VIDEOMAMBA_M),
        context_feature_layer=int(upstream.get("mm_vision_select_layer", -2)),
        tie_word_embeddings=bool(upstream.get("tie_word_embeddings", False)),
        bos_token_id=upstream.get("bos_token_id"),
        eos_token_id=upstream.get("eos_token_id"),
    )


def load_upstream(folder: str | Path, model_class, dtype: torch.dtype = torch.float32,
                  config: MobileVideoGPTConfig | None = None):
    """Build ``model_class`` from a published checkpoint folder, loading every tensor by name (strict).

    ``config`` overrides the one derived from the folder's ``config.json`` (for layouts other than the
    published architectures, e.g. tiny test models saved in the upstream layout).
    """
    folder = Path(folder)
    if config is None:
        config = config_from_upstream(read_json(folder / "config.json"), source=str(folder / "config.json"))
    with no_init_weights():  # every tensor is overwritten below
        model = model_class(config)
    mapped = map_upstream_state_dict(read_tensors(folder), expected_shapes(model), config.tie_word_embeddings,
                                     source=str(folder))
    if config.tie_word_embeddings:
        mapped[TIED_HEAD] = mapped[EMBEDDINGS]
    model.to(dtype).load_state_dict(mapped, strict=True)
    return model
