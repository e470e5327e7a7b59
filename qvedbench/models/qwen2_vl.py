"""The Qwen2-VL and Qwen2.5-VL families through transformers' native classes and the family's own processor.

Video frames arrive already sampled and resized by the caller (``spec.frames`` frames of ``spec.resolution``
pixels square). The processor is called with its own frame sampling off and its resizing pinned to one square
size (``spec.resolution`` rounded to a multiple of patch size x merge size), so the number of video tokens is
fixed: ``frames / 2 * (side / patch / merge) ** 2``. The vision tower groups frames in pairs (temporal patch
size 2): an odd frame count is padded by repeating the last frame.

Qwen2.5-VL also places video tokens in time with ``second_per_grid_ts``, which the processor derives from the
clip's sampled frame rate; the frames here come without one, so ``spec.extra['video_fps']`` (default 2.0, the
rate Qwen2.5-VL was trained at) is used for every clip.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from transformers import (
    AutoProcessor,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
)

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
    merge_lora,
    pad_rows,
    place_model,
    preset_settings,
    pretrained_kwargs,
    resolve_runtime,
    text_batch,
)
from qvedbench.models.registry import register

# family -> (model class, config class, processor class)
FAMILY_CLASSES = {
    "qwen2_vl": (Qwen2VLForConditionalGeneration, Qwen2VLConfig, Qwen2VLProcessor),
    "qwen2_5_vl": (Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLConfig, Qwen2_5_VLProcessor),
}

# The family's special tokens, in the order a tiny tokenizer assigns them ids.
SPECIAL_TOKENS = (
    END_OF_TEXT,
    "<|im_start|>",
    END_OF_TURN,
    "<|vision_start|>",
    "<|vision_end|>",
    "<|vision_pad|>",
    "<|image_pad|>",
    "<|video_pad|>",
)

# The chat template Qwen2-VL and Qwen2.5-VL ship with (used for tiny models; real checkpoints bring their own).
CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}<|im_end|>\n"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}Picture {{ image_count.value }}: "
    "{% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}Video {{ video_count.value }}: "
    "{% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

LM_MODULE = "model.language_model"
VISION_MODULE = "model.visual"
PROJECTOR_MODULE = "model.visual.merger"
DEFAULT_VIDEO_FPS = 2.0


def model_classes(family: str) -> tuple[type, type, type]:
    try:
        return FAMILY_CLASSES[family]
    except KeyError:
        known = ", ".join(FAMILY_CLASSES)
        raise KeyError(f"qwen2_vl module does not serve family '{family}'; known: {known}") from None


# -- tiny models -------------------------------------------------------------------------------------------------

TINY_PRESETS: dict[str, dict[str, Any]] = {
    "s": dict(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
              vision_depth=2, vision_hidden_size=32, vision_heads=2, patch_size=8, resolution=64,
              vocab_size=1024, initializer_range=0.1),
    "m": dict(hidden_size=128, intermediate_size=256, num_layers=2, num_heads=4, num_kv_heads=2,
              vision_depth=2, vision_hidden_size=64, vision_heads=4, patch_size=8, resolution=64,
              vocab_size=2048, initializer_range=0.1),
}
MERGE_SIZE = 2
TEMPORAL_PATCH_SIZE = 2


def tiny_settings(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tiny preset's knobs with ``overrides`` applied (unknown keys are an error)."""
    settings = preset_settings(TINY_PRESETS, preset, overrides)
    head_dim, rest = divmod(settings["hidden_size"], settings["num_heads"])
    if rest or head_dim % 2:
        raise ValueError("tiny model: hidden_size must be num_heads times an even head size")
    factor = settings["patch_size"] * MERGE_SIZE
    if settings["resolution"] % factor:
        raise ValueError(f"tiny model: resolution {settings['resolution']} must be a multiple of {factor}")
    return settings


def _mrope_section(head_dim: int) -> list[int]:
    # Multimodal RoPE splits the rotary half-dimension into time / height / width parts summing to head_dim/2,
    # in the real models' proportions (16, 24, 24 of 64).
    half = head_dim // 2
    t = half // 4
    h = (half - t) // 2
    return [t, h, half - t - h]


def tiny_config(
    preset: str,
    vocab_size: int,
    overrides: dict[str, Any] | None = None,
    *,
    family: str = "qwen2_vl",
    token_ids: dict[str, int] | None = None,
):
    """A small randomly-initialisable config of ``family`` (``initializer_range`` 0.1 so tiny models learn).

    ``token_ids`` maps the family's special tokens to the tokenizer's ids (defaults: their order in
    :data:`SPECIAL_TOKENS`).
    """
    s = tiny_settings(preset, overrides)
    ids = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    ids.update(token_ids or {})
    _, config_class, _ = model_classes(family)
    text = dict(
        vocab_size=vocab_size,
        hidden_size=s["hidden_size"],
        intermediate_size=s["intermediate_size"],
        num_hidden_layers=s["num_layers"],
        num_attention_heads=s["num_heads"],
        num_key_value_heads=s["num_kv_heads"],
        max_position_embeddings=4096,
        rope_parameters={
            "rope_type": "default",
            "rope_theta": 10000.0,
            "mrope_section": _mrope_section(s["hidden_size"] // s["num_heads"]),
        },
        initializer_range=s["initializer_range"],
        bos_token_id=ids[END_OF_TEXT],
        eos_token_id=ids[END_OF_TURN],
        pad_token_id=ids[END_OF_TEXT],
    )
    vision = dict(
        depth=s["vision_depth"],
        num_heads=s["vision_heads"],
        patch_size=s["patch_size"],
        spatial_merge_size=MERGE_SIZE,
        temporal_patch_size=TEMPORAL_PATCH_SIZE,
        initializer_range=s["initializer_range"],
    )
    if family == "qwen2_vl":
        vision.update(embed_dim=s["vision_hidden_size"], hidden_size=s["hidden_size"], mlp_ratio=2)
    else:
        vision.update(
            hidden_size=s["vision_hidden_size"],
            intermediate_size=2 * s["vision_hidden_size"],
            out_hidden_size=s["hidden_size"],
            window_size=2 * s["patch_size"] * MERGE_SIZE,
            fullatt_block_indexes=[s["vision_depth"] - 1],
        )
    return config_class(
        text_config=text,
        vision_config=vision,
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        bos_token_id=ids[END_OF_TEXT],
        eos_token_id=ids[END_OF_TURN],
        pad_token_id=ids[END_OF_TEXT],
    )


def tiny_processor(family: str, tokenizer, settings: dict[str, Any]):
    """The family's processor around ``tokenizer``, with patch size and pinned frame size from ``settings``."""
    pixels = settings["resolution"] ** 2
    common = dict(patch_size=settings["patch_size"], merge_size=MERGE_SIZE, temporal_patch_size=TEMPORAL_PATCH_SIZE)
    size = {"shortest_edge": pixels, "longest_edge": pixels}
    _, _, processor_class = model_classes(family)
    return processor_class(
        image_processor=Qwen2VLImageProcessor(size=dict(size), **common),
        video_processor=Qwen2VLVideoProcessor(size=dict(size), do_sample_frames=False, **common),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


# -- the adapter -------------------------------------------------------------------------------------------------


def _even_frames(video: np.ndarray) -> np.ndarray:
    """Repeat the last frame when the count is odd: the vision tower consumes frames in pairs."""
    if len(video) % TEMPORAL_PATCH_SIZE:
        return np.concatenate([video, video[-1:]], axis=0)
    return video


@register
class Qwen2VLAdapter(ChatMLAdapter):
    """Qwen2-VL / Qwen2.5-VL (``Qwen2VLForConditionalGeneration`` / ``Qwen2_5_VLForConditionalGeneration``)."""

    families = tuple(FAMILY_CLASSES)
    LM_MODULE = LM_MODULE

    # -- loading ---------------------------------------------------------------------------------------------
    @classmethod
    def model_class_for(cls, spec: ModelSpec) -> type:
        """The class whose ``from_pretrained`` loads ``spec`` (a subclass may pick it from the checkpoint)."""
        return model_classes(spec.family)[0]

    @classmethod
    def load(cls, spec: ModelSpec, checkpoint: str | None = None) -> "Qwen2VLAdapter":
        """Load ``spec.path`` (plus ``checkpoint``) on the resolved device and precision, in eval mode.

        A checkpoint holding a peft adapter is applied to the base weights and merged into them (inference
        runs as fast as the base model; the merged model is no longer a peft model). A checkpoint holding full
        weights (``config.json``) is loaded instead of the base, with its own processor if it saved one.
        """
        runtime = resolve_runtime(spec)
        ckpt, kind = checkpoint_kind(spec.name, checkpoint)
        weights_path, revision, processor_path = spec.path, spec.revision, spec.path
        if kind == "full":
            weights_path, revision = str(ckpt), None
            if has_processor(ckpt):
                processor_path = str(ckpt)
        common = dict(trust_remote_code=spec.trust_remote_code)
        model = cls.model_class_for(spec).from_pretrained(
            weights_path, revision=revision, **pretrained_kwargs(runtime), **common
        )
        if kind == "lora":
            model = merge_lora(model, ckpt)
        processor = AutoProcessor.from_pretrained(
            processor_path, revision=spec.revision if processor_path == spec.path else None, **common
        )
        place_model(model, runtime)
        adapter = cls(model, processor, spec)
        adapter.load_info = load_record(spec, runtime, ckpt, kind)
        return adapter

    # -- prompts and inputs ----------------------------------------------------------------------------------
    def prompt_text(self, system: str, prompt: str) -> str:
        """The chat-template text up to and including the opened assistant turn."""
        messages = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]},
        ]
        return self.processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def prepare_video(self, video: np.ndarray) -> np.ndarray:
        """Frames as the processor needs them: an odd count is padded to whole temporal pairs."""
        return _even_frames(video)

    def frame_side(self) -> int:
        """The square frame side the processor is pinned to: spec.resolution rounded to patch x merge size."""
        vp = self.processor.video_processor
        factor = vp.patch_size * vp.merge_size
        return max(factor, round(self.spec.resolution / factor) * factor)

    def _videos_kwargs(self, videos: Sequence[np.ndarray]) -> dict[str, Any]:
        side = self.frame_side()
        fps = float(self.spec.extra.get("video_fps", DEFAULT_VIDEO_FPS))
        return dict(
            do_sample_frames=False,
            size={"shortest_edge": side * side, "longest_edge": side * side},
            cap_pixels_per_frame=False,
            video_metadata=[{"total_num_frames": len(v), "fps": fps} for v in videos],
        )

    def encode(
        self,
        videos: Sequence[np.ndarray],
        system: str,
        prompts: Sequence[str],
        answers: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Padded CPU tensors: left-padded prompts for generation, or right-padded prompt + answer with labels.

        The answer is tokenized on its own and appended to the prompt's tokens followed by ``<|im_end|>``, so
        the labelled tokens are exactly what greedy decoding must produce after the prompt.
        """
        check_videos(videos, prompts, answers)
        videos = [self.prepare_video(v) for v in videos]
        texts = [self.prompt_text(system, p) for p in prompts]
        batch = self.processor(
            text=texts,
            videos=list(videos),
            padding=True,
            padding_side="right",
            return_tensors="pt",
            videos_kwargs=self._videos_kwargs(videos),
        )
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        ids = [batch["input_ids"][i, :n].tolist() for i, n in enumerate(lengths)]
        has_types = "mm_token_type_ids" in batch
        types = [batch["mm_token_type_ids"][i, :n].tolist() for i, n in enumerate(lengths)] if has_types else None
        labels = None
        if answers is not None:
            answer_ids = self.answer_ids(answers)
            ids, labels = append_answers(ids, answer_ids)
            if types is not None:
                types = [t + [0] * len(a) for t, a in zip(types, answer_ids)]
        out = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
        out.update(text_batch(ids, self.pad_id, labels))
        if types is not None:
            out["mm_token_type_ids"] = pad_rows(types, 0, "left" if labels is None else "right")
        return out

    # -- training hooks --------------------------------------------------------------------------------------
    def trainable_groups(self) -> dict[str, list[str]]:
        """Module names of this transformers version's Qwen2-VL layout (a parameter belongs to an entry when
        its name starts with the entry plus ``.``).

        ``projector``, ``vision``, ``language`` and ``lm_head`` partition the parameters;
        ``language_blocks`` (one entry per decoder layer, in order) and ``embeddings`` subdivide ``language``.
        """
        vision_children = sorted(
            {VISION_MODULE + "." + n[len(VISION_MODULE) + 1:].split(".", 1)[0]
             for n, _ in self.model.named_parameters() if n.startswith(VISION_MODULE + ".")}
        )
        num_layers = self.model.config.text_config.num_hidden_layers
        return {
            "projector": [PROJECTOR_MODULE],
            "vision": [m for m in vision_children if m != PROJECTOR_MODULE],
            "language": [LM_MODULE],
            "language_blocks": [f"{LM_MODULE}.layers.{i}" for i in range(num_layers)],
            "embeddings": [f"{LM_MODULE}.embed_tokens"],
            "lm_head": ["lm_head"],
        }
