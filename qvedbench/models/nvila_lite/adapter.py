"""The ``nvila_lite`` family: NVILA-Lite through this package's native implementation (no remote code).

It loads three kinds of folders: one this package saved (``save_pretrained`` layout: tiny models and fully
fine-tuned checkpoints), a published ``-hf`` checkpoint, and the original split layout (``llm/``,
``vision_tower/``, ``mm_projector/``); the published ones through the tensor-name map of
:mod:`qvedbench.models.nvila_lite.checkpoint`, with a loud error on any missing or extra tensor.

Prompt format (NVILA-Lite's Qwen2 chat template): the user turn holds the video first, then the prompt. The video
is written as ``<vila/video>`` per frame group, and :meth:`NVILALiteAdapter.encode` expands it the way NVILA's
video encoder lays tokens out: for every group of ``temporal_pool`` frames, ``tokens_per_frame`` placeholder
tokens followed by the tokens of ``"\\n"``. Every frame is resized to the vision tower's native size, so
``spec.resolution`` does not change the number of video tokens; ``spec.frames`` does.

Batching: the clips of one batch must have the same number of frames (after padding to a multiple of
``temporal_pool`` by repeating the last frame).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from transformers import Qwen2Config, SiglipVisionConfig

from qvedbench.models.base import ModelSpec
from qvedbench.models.common import (
    END_OF_TEXT,
    END_OF_TURN,
    ChatMLAdapter,
    append_answers,
    check_videos,
    checkpoint_kind,
    has_processor,
    load_record,
    local_folder,
    merge_lora,
    place_model,
    preset_settings,
    resolve_runtime,
    text_batch,
)
from qvedbench.models.nvila_lite.checkpoint import (
    is_legacy_layout,
    is_published_hf_layout,
    legacy_config,
    load_published_weights,
)
from qvedbench.models.nvila_lite.config import NVILALiteConfig
from qvedbench.models.nvila_lite.modeling import NVILALiteForConditionalGeneration
from qvedbench.models.nvila_lite.processing import NVILALiteNativeProcessor, siglip_image_processor
from qvedbench.models.registry import register

FAMILY = "nvila_lite"
VIDEO_TOKEN = "<vila/video>"
IMAGE_TOKEN = "<image>"
# Qwen2's chat tokens plus the media tokens VILA adds to its tokenizer, in the order a tiny tokenizer assigns ids.
SPECIAL_TOKENS = (END_OF_TEXT, "<|im_start|>", END_OF_TURN, "<vila/sentinel>", IMAGE_TOKEN, VIDEO_TOKEN)
# NVILA's Qwen2 chat template (its default system prompt has no final full stop); content is a plain string.
CHAT_TEMPLATE = (
    "{% if messages[0]['role'] != 'system' %}{{ '<|im_start|>system\\nYou are a helpful assistant<|im_end|>\\n' }}"
    "{% endif %}{% for message in messages if message['content'] is not none %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LM_MODULE = "llm.model"
FRAME_SEPARATOR = "\n"


def model_classes(family: str = FAMILY) -> tuple[type, type, type]:
    if family != FAMILY:
        raise KeyError(f"nvila_lite module does not serve family '{family}'")
    return NVILALiteForConditionalGeneration, NVILALiteConfig, NVILALiteNativeProcessor


# -- tiny models -------------------------------------------------------------------------------------------------

TINY_PRESETS: dict[str, dict[str, Any]] = {
    "s": dict(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
              vision_depth=2, vision_hidden_size=32, vision_heads=2, patch_size=8, resolution=64,
              vocab_size=1024, spatial_pool=3, temporal_pool=1, initializer_range=0.1),
    "m": dict(hidden_size=128, intermediate_size=256, num_layers=2, num_heads=4, num_kv_heads=2,
              vision_depth=2, vision_hidden_size=64, vision_heads=4, patch_size=8, resolution=64,
              vocab_size=2048, spatial_pool=3, temporal_pool=1, initializer_range=0.1),
}


def tiny_settings(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tiny preset's knobs with ``overrides`` applied (unknown keys are an error)."""
    settings = preset_settings(TINY_PRESETS, preset, overrides)
    if settings["hidden_size"] % settings["num_heads"] or (settings["hidden_size"] // settings["num_heads"]) % 2:
        raise ValueError("tiny model: hidden_size must be num_heads times an even head size")
    if settings["resolution"] % settings["patch_size"]:
        raise ValueError(f"tiny model: resolution must be a multiple of patch_size {settings['patch_size']}")
    return settings


def tiny_config(
    preset: str,
    vocab_size: int,
    overrides: dict[str, Any] | None = None,
    *,
    family: str = FAMILY,
    token_ids: dict[str, int] | None = None,
) -> NVILALiteConfig:
    """A small NVILA-Lite config (tied embeddings like Qwen2-1.5B; ``initializer_range`` 0.1 so it learns)."""
    model_classes(family)
    s = tiny_settings(preset, overrides)
    ids = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    ids.update(token_ids or {})
    text = Qwen2Config(
        vocab_size=vocab_size,
        hidden_size=s["hidden_size"],
        intermediate_size=s["intermediate_size"],
        num_hidden_layers=s["num_layers"],
        num_attention_heads=s["num_heads"],
        num_key_value_heads=s["num_kv_heads"],
        max_position_embeddings=4096,
        initializer_range=s["initializer_range"],
        tie_word_embeddings=True,
        bos_token_id=ids[END_OF_TEXT],
        eos_token_id=ids[END_OF_TURN],
        pad_token_id=ids[END_OF_TEXT],
    )
    vision = SiglipVisionConfig(
        hidden_size=s["vision_hidden_size"],
        intermediate_size=2 * s["vision_hidden_size"],
        num_hidden_layers=s["vision_depth"],
        num_attention_heads=s["vision_heads"],
        image_size=s["resolution"],
        patch_size=s["patch_size"],
        vision_use_head=False,
    )
    vision.initializer_range = s["initializer_range"]
    return NVILALiteConfig(
        text_config=text,
        vision_config=vision,
        image_token_id=ids[IMAGE_TOKEN],
        video_token_id=ids[VIDEO_TOKEN],
        spatial_pool=s["spatial_pool"],
        temporal_pool=s["temporal_pool"],
        bos_token_id=ids[END_OF_TEXT],
        eos_token_id=ids[END_OF_TURN],
        pad_token_id=ids[END_OF_TEXT],
    )


def tiny_processor(family: str, tokenizer, settings: dict[str, Any]) -> NVILALiteNativeProcessor:
    model_classes(family)
    return NVILALiteNativeProcessor(tokenizer, siglip_image_processor(settings["resolution"]))


# -- loading -------------------------------------------------------------------------------------------------------


def load_native_model(
    folder: Path, dtype: torch.dtype, attn: str, device_map: str | None = None
) -> NVILALiteForConditionalGeneration:
    """Our model from any of the three folder layouts, in ``dtype`` with attention kernel ``attn``
    (``device_map``, one device, is passed to ``from_pretrained`` for this package's own layout)."""
    if is_legacy_layout(folder) or is_published_hf_layout(folder):
        config = legacy_config(folder) if is_legacy_layout(folder) else NVILALiteConfig.from_pretrained(folder)
        from accelerate import init_empty_weights

        # Parameters start empty (filled from the checkpoint); buffers such as rotary frequencies are real.
        with init_empty_weights(include_buffers=False):
            model = NVILALiteForConditionalGeneration._from_config(config, attn_implementation=attn, dtype=dtype)
        load_published_weights(model, folder)
        return model.to(dtype)
    kwargs = {"device_map": device_map} if device_map is not None else {}
    return NVILALiteForConditionalGeneration.from_pretrained(folder, dtype=dtype, attn_implementation=attn, **kwargs)


def _fill_media_token_ids(config: NVILALiteConfig, tokenizer, model_name: str) -> None:
    """The original layout's configs carry no media token ids: take them from the tokenizer."""
    for field, token in (("video_token_id", VIDEO_TOKEN), ("image_token_id", IMAGE_TOKEN)):
        if getattr(config, field) is None:
            token_id = tokenizer.convert_tokens_to_ids(token)
            if token_id is None or token_id == tokenizer.unk_token_id:
                raise ValueError(
                    f"model '{model_name}': the tokenizer has no '{token}' token and the config no {field}"
                )
            setattr(config, field, token_id)


@register
class NVILALiteAdapter(ChatMLAdapter):
    """NVILA-Lite (:class:`NVILALiteForConditionalGeneration`); generation, device moves, LoRA targets and
    checkpoint saving are the shared ChatML adapter's (Qwen2 chat tokens), prompts and video inputs NVILA's."""

    families = (FAMILY,)
    LM_MODULE = LM_MODULE

    def __init__(self, model, processor, spec: ModelSpec):
        super().__init__(model, processor, spec)
        self.video_token_id = model.config.video_token_id
        self.separator_ids = self.tokenizer(FRAME_SEPARATOR, add_special_tokens=False)["input_ids"]

    @classmethod
    def load(cls, spec: ModelSpec, checkpoint: str | None = None) -> "NVILALiteAdapter":
        """Load ``spec.path`` (any layout) plus ``checkpoint`` (a peft adapter, merged, or full weights)."""
        # The published layouts are built and filled here, not by from_pretrained: one-device maps only.
        runtime = resolve_runtime(spec, allow_auto_device_map=False)
        base = local_folder(spec.path, spec.revision)
        ckpt, kind = checkpoint_kind(spec.name, checkpoint)
        weights, processor_folder = base, base
        if kind == "full":
            weights = ckpt
            if has_processor(ckpt):
                processor_folder = ckpt
        model = load_native_model(weights, runtime.dtype, runtime.attn, runtime.device_map)
        if kind == "lora":
            model = merge_lora(model, ckpt)
        legacy = is_legacy_layout(processor_folder)
        processor = NVILALiteNativeProcessor.from_pretrained(
            str(processor_folder / "vision_tower") if legacy else str(processor_folder),
            image_size=model.config.vision_config.image_size,
            tokenizer_folder=str(processor_folder / "llm") if legacy else None,
        )
        _fill_media_token_ids(model.config, processor.tokenizer, spec.name)
        place_model(model, runtime)
        adapter = cls(model, processor, spec)
        adapter.load_info = load_record(spec, runtime, ckpt, kind)
        return adapter

    def input_size(self) -> dict[str, Any]:
        """SigLIP's position embeddings are fixed: every frame is resized to the tower's native size."""
        side = int(self.model.config.vision_config.image_size)
        note = (f"resized to SigLIP's fixed {side} px: accuracy and model latency do not depend on the "
                "requested size (only video decoding and resizing do)")
        return {"requested": self.spec.resolution, "effective": side, "fixed": True, "note": note}

    # -- prompts and inputs ----------------------------------------------------------------------------------
    def prompt_text(self, system: str, prompt: str) -> str:
        """The chat-template text up to the opened assistant turn, with one ``<vila/video>`` marker."""
        messages = [{"role": "system", "content": system}, {"role": "user", "content": VIDEO_TOKEN + "\n" + prompt}]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def frame_groups(self, num_frames: int) -> int:
        pool = self.model.config.temporal_pool
        return -(-num_frames // pool)

    def video_token_ids(self, num_frames: int) -> list[int]:
        """The token ids a clip of ``num_frames`` frames occupies: placeholders plus a newline per frame group."""
        per_group = [self.video_token_id] * self.model.config.tokens_per_frame() + self.separator_ids
        return per_group * self.frame_groups(num_frames)

    def _prompt_ids(self, system: str, prompt: str, num_frames: int) -> list[int]:
        before, after = self.prompt_text(system, prompt).split(VIDEO_TOKEN, 1)
        encode = lambda text: self.tokenizer(text, add_special_tokens=False)["input_ids"]  # noqa: E731
        return encode(before) + self.video_token_ids(num_frames) + encode(after)

    def _padded_frames(self, video: np.ndarray) -> np.ndarray:
        """Repeat the last frame up to a multiple of ``temporal_pool`` (the frames are averaged in groups)."""
        pool = self.model.config.temporal_pool
        short = (-len(video)) % pool
        return np.concatenate([video, np.repeat(video[-1:], short, axis=0)]) if short else video

    def encode(
        self,
        videos: Sequence[np.ndarray],
        system: str,
        prompts: Sequence[str],
        answers: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Padded CPU tensors (``input_ids``, ``attention_mask``, ``pixel_values_videos``, and ``labels`` with
        answers): left padding for generation, right padding with the answer plus ``<|im_end|>`` labelled."""
        check_videos(videos, prompts, answers)
        videos = [self._padded_frames(v) for v in videos]
        if len({len(v) for v in videos}) > 1:
            counts = [len(v) for v in videos]
            raise ValueError(f"encode: the clips of one batch must have the same frame count, got {counts}")
        ids = [self._prompt_ids(system, p, len(v)) for v, p in zip(videos, prompts)]
        labels = None
        if answers is not None:
            ids, labels = append_answers(ids, self.answer_ids(answers))
        return {**text_batch(ids, self.pad_id, labels), "pixel_values_videos": self.processor.frames_to_pixels(videos)}

    # -- training hooks --------------------------------------------------------------------------------------
    def trainable_groups(self) -> dict[str, list[str]]:
        """``projector``, ``vision`` and ``language`` partition the parameters (the tied output head is the
        input embedding); ``language_blocks`` (decoder layers in order), ``embeddings`` and ``lm_head`` (present
        only when untied) subdivide ``language``."""
        num_layers = self.model.config.text_config.num_hidden_layers
        groups = {
            "projector": ["mm_projector"],
            "vision": ["vision_tower"],
            "language": ["llm"],
            "language_blocks": [f"{LM_MODULE}.layers.{i}" for i in range(num_layers)],
            "embeddings": [f"{LM_MODULE}.embed_tokens"],
            "lm_head": [] if self.model.config.tie_word_embeddings else ["llm.lm_head"],
        }
        return groups
