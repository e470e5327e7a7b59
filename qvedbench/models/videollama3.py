"""The VideoLLaMA3 family through transformers' native ``VideoLlama3ForConditionalGeneration`` and its processor.

VideoLLaMA3 puts a SigLIP-style vision encoder (any resolution, 2-D rotary positions) and a two-layer MLP
projector in front of a Qwen2.5 language model. A video is a sequence of frames, each prefixed in the prompt
by its timestamp (``Time 1.0s:`` then that frame's tokens, frames separated by commas); the processor merges
2x2 patches per frame and, by default, drops the patches that did not change since the previous frame
("differential frame pruning"). The number of video tokens therefore depends on the clip's content; set
``spec.extra['token_compression']: false`` to keep every patch.

The frames arrive already sampled by the caller, without their original times, so timestamps are the frame
index divided by ``spec.extra['video_fps']`` (default 1.0, the rate VideoLLaMA3 samples videos at). Frame size
is pinned to one square side (``spec.resolution`` rounded to a multiple of patch size x merge size), so a
square clip always gives ``(side / patch / merge) ** 2`` tokens per frame before pruning.

Two checkpoint formats exist. The native format (``model_type: video_llama_3``) loads with transformers alone.
The upstream release (e.g. ``DAMO-NLP-SG/VideoLLaMA3-2B``, ``model_type: videollama3_qwen2``) ships its own
modelling code for transformers 4.46, whose processor has another call convention (conversation dicts, an
``<image>`` placeholder, batch size 1 with pruning). That code is never run: an upstream checkpoint is converted
on load into the native class and processor (:mod:`qvedbench.models.videollama3_convert`; or once, with
``qvedbench convert-videollama3 SRC DST``), so both formats train and generate through the same code.
:func:`native_config_from_upstream` and :func:`upstream_to_native_name` describe how the upstream weights map
onto the native layout (checked against the published VideoLLaMA3-2B config in the tests). A model config that
sets ``trust_remote_code: true`` for this family is refused with a message saying so.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from transformers import (
    VideoLlama3Config,
    VideoLlama3ForConditionalGeneration,
    VideoLlama3ImageProcessor,
    VideoLlama3Processor,
    VideoLlama3VideoProcessor,
)
from transformers.utils import cached_file

from qvedbench.io import read_json
from qvedbench.models.base import ModelSpec
from qvedbench.models.common import (
    checkpoint_kind,
    load_record,
    local_folder,
    merge_lora,
    place_model,
    preset_settings,
    resolve_runtime,
)
from qvedbench.models.qwen2_vl import LM_MODULE, Qwen2VLAdapter
from qvedbench.models.registry import register

FAMILY = "videollama3"
NATIVE_MODEL_TYPE = "video_llama_3"
UPSTREAM_MODEL_TYPE = "videollama3_qwen2"

END_OF_TURN = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"
IMAGE_TOKEN = "<|image_pad|>"
VIDEO_TOKEN = "<|video_pad|>"
# The family's special tokens, in the order a tiny tokenizer assigns them ids.
SPECIAL_TOKENS = (END_OF_TEXT, "<|im_start|>", END_OF_TURN, IMAGE_TOKEN, VIDEO_TOKEN)

# Qwen2.5's ChatML turns; a video becomes one placeholder the processor expands to timestamped frames.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content %}<|image_pad|>\n"
    "{% elif content['type'] == 'video' or 'video' in content %}<|video_pad|>\n"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

VISION_MODULE = "model.vision_model"
PROJECTOR_MODULE = "model.projector"
VIDEO_MERGE_SIZE = 2  # 2x2 patches per video token (images keep every patch: merge size 1)
DEFAULT_VIDEO_FPS = 1.0


def model_classes(family: str = FAMILY) -> tuple[type, type, type]:
    """(model class, config class, processor class) of the native format."""
    if family != FAMILY:
        raise KeyError(f"videollama3 module does not serve family '{family}'; known: {FAMILY}")
    return VideoLlama3ForConditionalGeneration, VideoLlama3Config, VideoLlama3Processor


# -- checkpoint format and the remote-code gate -------------------------------------------------------------------


class RemoteCodeError(ValueError):
    """A model config asks to run a checkpoint's own (remote) modelling code, which this family never does."""


def checkpoint_format(config: dict, source: str = "config.json") -> str:
    """``"native"`` for transformers' own VideoLLaMA3 layout, ``"upstream"`` for the remote-code release.

    Decided from ``model_type`` and ``auto_map`` (a config that maps auto classes to its own code needs that
    code). Anything else is not a VideoLLaMA3 checkpoint: a :class:`ValueError` naming ``source``.
    """
    model_type = config.get("model_type")
    if model_type == NATIVE_MODEL_TYPE and "auto_map" not in config:
        return "native"
    if model_type == UPSTREAM_MODEL_TYPE or "auto_map" in config:
        return "upstream"
    raise ValueError(
        f"{source}: model_type {model_type!r} is not a VideoLLaMA3 checkpoint "
        f"(expected '{NATIVE_MODEL_TYPE}' or the remote-code '{UPSTREAM_MODEL_TYPE}')"
    )


def refuse_remote_code(spec: ModelSpec) -> None:
    """Raise :class:`RemoteCodeError` when ``spec`` sets ``trust_remote_code``: the upstream code's processor
    cannot encode this project's batches, and upstream checkpoints load without it (converted to the native
    layout), so there is nothing to opt into."""
    if spec.trust_remote_code:
        raise RemoteCodeError(
            f"model '{spec.name}': trust_remote_code is set, but the VideoLLaMA3 family never runs a checkpoint's "
            "own code: the upstream release (model_type 'videollama3_qwen2', e.g. DAMO-NLP-SG/VideoLLaMA3-2B) "
            "ships a processor for transformers 4.46 that cannot encode batches here, and its weights are "
            "converted on load into transformers' native VideoLLaMA3 class without any remote code. Set "
            "trust_remote_code: false (keep revision pinned), or convert once with "
            "`qvedbench convert-videollama3 SRC DST` and point path at DST."
        )


# Upstream (remote-code) tensor-name prefixes and their native equivalents, most specific first.
UPSTREAM_TO_NATIVE_PREFIXES = (
    ("model.vision_encoder.", "model.vision_model."),
    ("model.mm_projector.", "model.projector."),
    ("model.", "model.language_model."),
    ("lm_head.", "lm_head."),
)


def upstream_to_native_name(name: str) -> str:
    """The native tensor name of an upstream checkpoint tensor (the tensors themselves have equal shapes)."""
    for old, new in UPSTREAM_TO_NATIVE_PREFIXES:
        if name.startswith(old):
            return new + name[len(old):]
    raise KeyError(f"tensor {name!r} has no place in the native VideoLLaMA3 layout")


# The upstream config.json fields that fix the tensors (besides rope_theta and tie_word_embeddings).
UPSTREAM_TEXT_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                      "num_key_value_heads", "vocab_size", "max_position_embeddings", "rms_norm_eps")
UPSTREAM_VISION_KEYS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "patch_size")


def native_config_from_upstream(upstream: dict) -> dict:
    """The native ``config.json`` fields that fix the model's tensors, from an upstream ``config.json``.

    With :func:`upstream_to_native_name` this is the recipe for turning upstream weights into the native
    layout without remote code (the placeholder token ids are the tokenizer's concern and are left out).
    """
    vision = upstream["vision_encoder_config"]
    tie = bool(upstream.get("tie_word_embeddings", False))
    text = {"model_type": "qwen2", **{k: upstream[k] for k in UPSTREAM_TEXT_KEYS},
            "rope_parameters": {"rope_type": "default", "rope_theta": upstream["rope_theta"]},
            "tie_word_embeddings": tie}
    return {"model_type": NATIVE_MODEL_TYPE, "text_config": text,
            "vision_config": {k: vision[k] for k in UPSTREAM_VISION_KEYS}, "tie_word_embeddings": tie}


def read_checkpoint_config(path: str, revision: str | None = None) -> dict:
    """``config.json`` of a local folder or a hub id (downloaded to, or read from, the hub cache)."""
    return read_json(cached_file(path, "config.json", revision=revision))


# -- tiny models -------------------------------------------------------------------------------------------------

TINY_PRESETS: dict[str, dict[str, Any]] = {
    "s": dict(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
              vision_depth=2, vision_hidden_size=32, vision_heads=2, patch_size=8, resolution=64,
              vocab_size=1024, initializer_range=0.1),
    "m": dict(hidden_size=128, intermediate_size=256, num_layers=2, num_heads=4, num_kv_heads=2,
              vision_depth=2, vision_hidden_size=64, vision_heads=4, patch_size=8, resolution=64,
              vocab_size=2048, initializer_range=0.1),
}


def tiny_settings(preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The tiny preset's knobs with ``overrides`` applied (unknown keys are an error)."""
    settings = preset_settings(TINY_PRESETS, preset, overrides)
    if settings["hidden_size"] % settings["num_heads"] or settings["vision_hidden_size"] % settings["vision_heads"]:
        raise ValueError("tiny model: hidden sizes must be multiples of their head counts")
    vision_head_dim = settings["vision_hidden_size"] // settings["vision_heads"]
    if vision_head_dim % 4:
        raise ValueError("tiny model: the vision head size must be a multiple of 4 (2-D rotary positions)")
    factor = settings["patch_size"] * VIDEO_MERGE_SIZE
    if settings["resolution"] % factor:
        raise ValueError(f"tiny model: resolution {settings['resolution']} must be a multiple of {factor}")
    return settings


def tiny_config(
    preset: str,
    vocab_size: int,
    overrides: dict[str, Any] | None = None,
    *,
    family: str = FAMILY,
    token_ids: dict[str, int] | None = None,
) -> VideoLlama3Config:
    """A small randomly-initialisable VideoLLaMA3 config (``initializer_range`` 0.1 so tiny models learn).

    ``token_ids`` maps the family's special tokens to the tokenizer's ids (defaults: their order in
    :data:`SPECIAL_TOKENS`).
    """
    model_classes(family)  # rejects any other family
    s = tiny_settings(preset, overrides)
    ids = {tok: i for i, tok in enumerate(SPECIAL_TOKENS)}
    ids.update(token_ids or {})
    text = dict(
        model_type="qwen2",
        vocab_size=vocab_size,
        hidden_size=s["hidden_size"],
        intermediate_size=s["intermediate_size"],
        num_hidden_layers=s["num_layers"],
        num_attention_heads=s["num_heads"],
        num_key_value_heads=s["num_kv_heads"],
        max_position_embeddings=4096,
        rope_parameters={"rope_type": "default", "rope_theta": 10000.0},
        initializer_range=s["initializer_range"],
        tie_word_embeddings=False,
        bos_token_id=ids[END_OF_TEXT],
        eos_token_id=ids[END_OF_TURN],
        pad_token_id=ids[END_OF_TEXT],
    )
    vision = dict(
        hidden_size=s["vision_hidden_size"],
        intermediate_size=2 * s["vision_hidden_size"],
        num_hidden_layers=s["vision_depth"],
        num_attention_heads=s["vision_heads"],
        patch_size=s["patch_size"],
        initializer_range=s["initializer_range"],
    )
    return VideoLlama3Config(
        text_config=text,
        vision_config=vision,
        image_token_id=ids[IMAGE_TOKEN],
        video_token_id=ids[VIDEO_TOKEN],
        bos_token_id=ids[END_OF_TEXT],
        eos_token_id=ids[END_OF_TURN],
        pad_token_id=ids[END_OF_TEXT],
    )


def tiny_processor(family: str, tokenizer, settings: dict[str, Any]) -> VideoLlama3Processor:
    """The family's processor around ``tokenizer``, with patch size and frame size from ``settings``."""
    model_classes(family)  # rejects any other family
    pixels = settings["resolution"] ** 2
    patch = settings["patch_size"]
    return VideoLlama3Processor(
        image_processor=VideoLlama3ImageProcessor(
            patch_size=patch, merge_size=1, size={"shortest_edge": pixels, "longest_edge": pixels}
        ),
        video_processor=VideoLlama3VideoProcessor(
            patch_size=patch,
            merge_size=VIDEO_MERGE_SIZE,
            temporal_patch_size=1,
            do_sample_frames=False,
            # The longest edge is a budget for the whole clip (divided by its frame count).
            size={"shortest_edge": pixels, "longest_edge": pixels * 64},
        ),
        tokenizer=tokenizer,
        chat_template=CHAT_TEMPLATE,
    )


# -- the adapter -------------------------------------------------------------------------------------------------


@register
class VideoLlama3Adapter(Qwen2VLAdapter):
    """VideoLLaMA3 (``VideoLlama3ForConditionalGeneration``; upstream checkpoints converted on load).

    Shares the Qwen2-VL adapter's ChatML prompts, label layout, batched generation, LoRA targets (the
    language model is a Qwen2 at ``model.language_model``) and checkpoint handling; differs in the checkpoint
    formats, the processor's video arguments (one frame per temporal step, timestamps) and module layout.
    """

    families = (FAMILY,)
    checkpoint_format = "native"  # the layout of the loaded model (upstream checkpoints are converted)

    @classmethod
    def model_class_for(cls, spec: ModelSpec) -> type:
        return VideoLlama3ForConditionalGeneration

    @classmethod
    def load(cls, spec: ModelSpec, checkpoint: str | None = None) -> "VideoLlama3Adapter":
        """A native checkpoint loads as in the Qwen2-VL adapter. An upstream one (read from its ``config.json``
        before any weights) is converted into the native model and processor, then a run's LoRA adapter is
        merged into it; a run's full checkpoint is already native. ``device_map: auto`` is for native
        checkpoints only (the converter fills the model itself, on one device)."""
        refuse_remote_code(spec)
        runtime = resolve_runtime(spec)
        ckpt, kind = checkpoint_kind(spec.name, checkpoint)
        source = f"{spec.path}/config.json"
        if kind == "full" or checkpoint_format(read_checkpoint_config(spec.path, spec.revision), source) == "native":
            return super().load(spec, checkpoint)
        runtime = resolve_runtime(spec, allow_auto_device_map=False)
        from qvedbench.models.videollama3_convert import load_upstream

        model, processor = load_upstream(local_folder(spec.path, spec.revision), dtype=runtime.dtype,
                                         attn_implementation=runtime.attn, device=runtime.device_map or "cpu")
        if kind == "lora":
            model = merge_lora(model, ckpt)
        place_model(model, runtime)
        adapter = cls(model, processor, spec)
        adapter.load_info = load_record(spec, runtime, ckpt, kind, format=UPSTREAM_MODEL_TYPE,
                                        converted_to=NATIVE_MODEL_TYPE)
        return adapter

    # -- prompts and inputs ----------------------------------------------------------------------------------
    def prepare_video(self, video: np.ndarray) -> np.ndarray:
        """Frames go in unchanged: VideoLLaMA3 encodes every frame on its own (temporal patch size 1)."""
        return video

    def _videos_kwargs(self, videos: Sequence[np.ndarray]) -> dict[str, Any]:
        """Processor arguments: no resampling, frames pinned to ``frame_side()`` squared, timestamps from
        ``video_fps``, pruning per ``token_compression``. The processor splits its pixel budget over a clip's
        frames; the budget is sized for the batch's longest clip, which pins every square clip exactly."""
        side = self.frame_side()
        fps = float(self.spec.extra.get("video_fps", DEFAULT_VIDEO_FPS))
        longest = max(len(v) for v in videos)
        return dict(
            do_sample_frames=False,
            size={"shortest_edge": side * side, "longest_edge": side * side * longest},
            use_token_compression=bool(self.spec.extra.get("token_compression", True)),
            video_metadata=[
                {"total_num_frames": len(v), "fps": fps, "frames_indices": list(range(len(v)))} for v in videos
            ],
        )

    # -- training hooks --------------------------------------------------------------------------------------
    def trainable_groups(self) -> dict[str, list[str]]:
        """Module names of transformers' VideoLLaMA3 layout (a parameter belongs to an entry when its name
        starts with the entry plus ``.``).

        ``projector``, ``vision``, ``language`` and ``lm_head`` partition the parameters;
        ``language_blocks`` (one entry per decoder layer, in order) and ``embeddings`` subdivide ``language``.
        """
        num_layers = self.model.config.text_config.num_hidden_layers
        return {
            "projector": [PROJECTOR_MODULE],
            "vision": [VISION_MODULE],
            "language": [LM_MODULE],
            "language_blocks": [f"{LM_MODULE}.layers.{i}" for i in range(num_layers)],
            "embeddings": [f"{LM_MODULE}.embed_tokens"],
            "lm_head": ["lm_head"],
        }
