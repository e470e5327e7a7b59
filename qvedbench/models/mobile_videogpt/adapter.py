"""The Mobile-VideoGPT family behind the adapter interface, plus its tiny-model protocol (see
:mod:`qvedbench.models.tiny`).

``spec.path`` is either a folder of this package's format (``config.json`` with ``model_type:
mobile_videogpt``, e.g. a tiny model or a fine-tuned checkpoint) or a published upstream checkpoint (a local
folder or hub id, ``model_type: MobileVideoGPT_qwen``), which is mapped tensor by tensor
(:mod:`.checkpoint`). Frames: ``spec.frames`` must be a multiple of the chunk size (8); the published
models were trained on 16 frames (two chunks) at 224 px, which is this family's default.

The prompt layout, padding, label masking, generation and checkpoint saving are those of the shared ChatML adapter
(:class:`qvedbench.models.common.ChatMLAdapter`); only loading, the processor and the module names differ.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from transformers import AutoTokenizer

from qvedbench.models.base import ModelSpec
from qvedbench.models.common import (
    ChatMLAdapter,
    append_answers,
    check_videos,
    checkpoint_kind,
    load_record,
    local_folder,
    merge_lora,
    place_model,
    preset_settings,
    pretrained_kwargs,
    resolve_runtime,
    text_batch,
)
from qvedbench.models.mobile_videogpt.checkpoint import is_upstream_folder, load_upstream
from qvedbench.models.mobile_videogpt.config import MobileVideoGPTConfig
from qvedbench.models.mobile_videogpt.modeling import MobileVideoGPTForConditionalGeneration
from qvedbench.models.mobile_videogpt.processor import (
    CHAT_TEMPLATE,
    END_OF_TEXT,
    END_OF_TURN,
    PROCESSOR_FILE,
    VIDEO_TOKEN,
    MobileVideoGPTProcessor,
)
from qvedbench.models.registry import register

FAMILY = "mobile_videogpt"
SPECIAL_TOKENS = (END_OF_TEXT, "<|im_start|>", END_OF_TURN, VIDEO_TOKEN)
__all__ = ["CHAT_TEMPLATE", "END_OF_TEXT", "END_OF_TURN", "SPECIAL_TOKENS", "MobileVideoGPTAdapter",
           "model_classes", "tiny_config", "tiny_processor", "tiny_settings"]

LM_MODULE = "model.language_model"
PROJECTORS = ("model.context_projector", "model.video_projector")
ENCODERS = ("model.context_encoder", "model.video_encoder")


def model_classes(family: str = FAMILY) -> tuple[type, type, type]:
    if family != FAMILY:
        raise KeyError(f"mobile_videogpt module does not serve family '{family}'")
    return MobileVideoGPTForConditionalGeneration, MobileVideoGPTConfig, MobileVideoGPTProcessor


# -- tiny models -------------------------------------------------------------------------------------------------

TINY_PRESETS: dict[str, dict[str, Any]] = {
    "s": dict(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
              context_hidden_size=32, context_layers=2, context_heads=2, video_hidden_size=32, video_depth=2,
              patch_size=8, resolution=32, vocab_size=1024, initializer_range=0.1),
    "m": dict(hidden_size=128, intermediate_size=256, num_layers=2, num_heads=4, num_kv_heads=2,
              context_hidden_size=64, context_layers=2, context_heads=4, video_hidden_size=64, video_depth=2,
              patch_size=8, resolution=32, vocab_size=2048, initializer_range=0.1),
}
# Token grids of the tiny models: 4x4 patches pooled to 2x2 per frame (context and VideoMamba), four frames
# picked per 8-frame chunk (a 4x4 grid for the video ETP, pooled to 2x2).
TINY_LAYOUT = dict(chunk_size=8, frames_per_chunk=4, frame_pool=2, video_pool=2, context_pool=2)


def tiny_settings(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tiny preset's knobs with ``overrides`` applied (unknown keys are an error)."""
    settings = preset_settings(TINY_PRESETS, preset, overrides)
    if settings["hidden_size"] % settings["num_heads"]:
        raise ValueError("tiny model: hidden_size must be a multiple of num_heads")
    if settings["resolution"] % settings["patch_size"]:
        raise ValueError(f"tiny model: resolution must be a multiple of patch_size {settings['patch_size']}")
    return settings


def tiny_config(preset: str, vocab_size: int, overrides: dict[str, Any] | None = None, *, family: str = FAMILY,
                token_ids: dict[str, int] | None = None) -> MobileVideoGPTConfig:
    """A small randomly-initialisable config of the family (``token_ids``: special token -> id; defaults:
    their order in :data:`SPECIAL_TOKENS`)."""
    model_classes(family)
    s = tiny_settings(preset, overrides)
    ids = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    ids.update(token_ids or {})
    init = s["initializer_range"]
    return MobileVideoGPTConfig(
        text_config=dict(vocab_size=vocab_size, hidden_size=s["hidden_size"],
                         intermediate_size=s["intermediate_size"], num_hidden_layers=s["num_layers"],
                         num_attention_heads=s["num_heads"], num_key_value_heads=s["num_kv_heads"],
                         max_position_embeddings=4096, initializer_range=init, tie_word_embeddings=False,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
                         bos_token_id=ids[END_OF_TEXT], eos_token_id=ids[END_OF_TURN], pad_token_id=ids[END_OF_TEXT]),
        context_config=dict(hidden_size=s["context_hidden_size"], intermediate_size=2 * s["context_hidden_size"],
                            num_hidden_layers=s["context_layers"], num_attention_heads=s["context_heads"],
                            image_size=s["resolution"], patch_size=s["patch_size"], initializer_range=init),
        video_config=dict(image_size=s["resolution"], patch_size=s["patch_size"], num_frames=8,
                          embed_dim=s["video_hidden_size"], depth=s["video_depth"],
                          alignment_dim=s["video_hidden_size"], initializer_range=init),
        video_token_id=ids[VIDEO_TOKEN],
        bos_token_id=ids[END_OF_TEXT], eos_token_id=ids[END_OF_TURN], pad_token_id=ids[END_OF_TEXT],
        **TINY_LAYOUT,
    )


def tiny_processor(family: str, tokenizer, settings: dict[str, Any]) -> MobileVideoGPTProcessor:
    model_classes(family)
    return MobileVideoGPTProcessor(tokenizer, image_size=settings["resolution"],
                                   chunk_size=TINY_LAYOUT["chunk_size"],
                                   tokens_per_frame=TINY_LAYOUT["context_pool"] ** 2,
                                   tokens_per_chunk=TINY_LAYOUT["video_pool"] ** 2)


# -- the adapter -------------------------------------------------------------------------------------------------


@register
class MobileVideoGPTAdapter(ChatMLAdapter):
    """Mobile-VideoGPT-0.5B / -1.5B (and tiny models of the same architecture)."""

    families = (FAMILY,)
    LM_MODULE = LM_MODULE

    @classmethod
    def load(cls, spec: ModelSpec, checkpoint: str | None = None) -> "MobileVideoGPTAdapter":
        """Load ``spec.path`` (this package's format or the published one) plus ``checkpoint`` (a peft adapter,
        merged, or full weights saved by :meth:`save_checkpoint`) on the resolved device and precision."""
        # The published layout is built and filled here, not by from_pretrained: one-device maps only.
        runtime = resolve_runtime(spec, allow_auto_device_map=False)
        dtype, attn = runtime.dtype, runtime.attn
        ckpt, kind = checkpoint_kind(spec.name, checkpoint)
        base = local_folder(spec.path, spec.revision)
        weights = ckpt if kind == "full" else base
        if is_upstream_folder(weights):
            model = load_upstream(weights, MobileVideoGPTForConditionalGeneration, dtype)
            model.set_attn_implementation(attn)
        else:
            model = MobileVideoGPTForConditionalGeneration.from_pretrained(weights, **pretrained_kwargs(runtime))
        if kind == "lora":
            model = merge_lora(model, ckpt)
        processor_folder = weights if (weights / PROCESSOR_FILE).is_file() else base
        if (processor_folder / PROCESSOR_FILE).is_file():
            processor = MobileVideoGPTProcessor.from_pretrained(processor_folder)
        else:  # a published checkpoint: its Qwen2.5 tokenizer plus the family's placeholder and template
            processor = MobileVideoGPTProcessor.for_config(AutoTokenizer.from_pretrained(str(base)), model.config)
        if processor.video_token_id != model.config.video_token_id:
            raise ValueError(f"model '{spec.name}': the tokenizer's {VIDEO_TOKEN} id {processor.video_token_id} "
                             f"differs from the model's video_token_id {model.config.video_token_id}")
        try:
            model.config.check_frame_count(spec.frames)
        except ValueError as exc:
            raise ValueError(f"model '{spec.name}': frames {spec.frames}: {exc}") from None
        place_model(model, runtime)
        adapter = cls(model, processor, spec)
        adapter.load_info = load_record(spec, runtime, ckpt, kind,
                                        format="upstream" if is_upstream_folder(weights) else "native")
        return adapter

    # -- prompts and inputs ----------------------------------------------------------------------------------
    def prompt_text(self, system: str, prompt: str) -> str:
        return self.processor.prompt_text(system, prompt)

    def encode(
        self,
        videos: Sequence[np.ndarray],
        system: str,
        prompts: Sequence[str],
        answers: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Padded CPU tensors (left-padded prompts for generation; right-padded prompt + answer + ``<|im_end|>``
        with answer-only ``labels`` for training) and ``pixel_values_videos``."""
        check_videos(videos, prompts, answers)
        ids = [self.processor.prompt_ids(self.prompt_text(system, p), len(v)) for v, p in zip(videos, prompts)]
        labels = None
        if answers is not None:
            ids, labels = append_answers(ids, self.answer_ids(answers))
        return {**text_batch(ids, self.pad_id, labels), "pixel_values_videos": self.processor.frames(videos)}

    # -- training hooks --------------------------------------------------------------------------------------
    def input_size(self) -> dict[str, Any]:
        """Both encoders (CLIP ViT-B/16 and VideoMamba, 224 px in the published model) take one fixed size:
        the processor resizes every frame to it."""
        side = self.processor.image_size
        note = (f"resized to the encoders' fixed {side} px: accuracy and model latency do not depend on the "
                "requested size (only video decoding and resizing do)")
        return {"requested": self.spec.resolution, "effective": side, "fixed": True, "note": note}

    def trainable_groups(self) -> dict[str, list[str]]:
        """``projector`` (both ETPs), ``vision`` (CLIP and VideoMamba), ``language`` and, when the head is not
        tied to the embeddings, ``lm_head`` partition the parameters; ``language_blocks`` (one entry per
        decoder layer, in order) and ``embeddings`` subdivide ``language``."""
        num_layers = self.model.config.text_config.num_hidden_layers
        groups = {
            "projector": list(PROJECTORS),
            "vision": list(ENCODERS),
            "language": [LM_MODULE],
            "language_blocks": [f"{LM_MODULE}.layers.{i}" for i in range(num_layers)],
            "embeddings": [f"{LM_MODULE}.embed_tokens"],
        }
        if any(name.startswith("lm_head.") for name, _ in self.model.named_parameters()):
            groups["lm_head"] = ["lm_head"]
        return groups
