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

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
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

from qvedbench.device import apply_matmul_precision, resolve_attn_implementation, resolve_device, resolve_dtype
from qvedbench.models.base import ModelSpec, VideoVLMAdapter
from qvedbench.models.registry import register

# family -> (model class, config class, processor class)
FAMILY_CLASSES = {
    "qwen2_vl": (Qwen2VLForConditionalGeneration, Qwen2VLConfig, Qwen2VLProcessor),
    "qwen2_5_vl": (Qwen2_5_VLForConditionalGeneration, Qwen2_5_VLConfig, Qwen2_5_VLProcessor),
}

END_OF_TURN = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"
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
LORA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
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
    if preset not in TINY_PRESETS:
        raise ValueError(f"unknown tiny preset '{preset}'; known: {', '.join(TINY_PRESETS)}")
    settings = dict(TINY_PRESETS[preset])
    unknown = set(overrides or {}) - set(settings)
    if unknown:
        raise ValueError(f"unknown tiny-model override(s) {sorted(unknown)}; known: {sorted(settings)}")
    settings.update(overrides or {})
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


def _check_videos(videos: Sequence[np.ndarray], prompts: Sequence[str], answers: Sequence[str] | None) -> None:
    if len(videos) != len(prompts) or (answers is not None and len(answers) != len(prompts)):
        raise ValueError(
            f"encode: got {len(videos)} videos, {len(prompts)} prompts"
            + (f", {len(answers)} answers" if answers is not None else "")
            + "; they must be equal"
        )
    if not prompts:
        raise ValueError("encode: empty batch")
    for i, video in enumerate(videos):
        if not isinstance(video, np.ndarray) or video.ndim != 4 or video.shape[-1] != 3 or video.dtype != np.uint8:
            shape = getattr(video, "shape", None)
            dtype = getattr(video, "dtype", type(video).__name__)
            raise ValueError(f"encode: video {i} must be a (T, H, W, 3) uint8 array, got shape {shape} dtype {dtype}")
        if len(video) == 0:
            raise ValueError(f"encode: video {i} has no frames")


def _even_frames(video: np.ndarray) -> np.ndarray:
    """Repeat the last frame when the count is odd: the vision tower consumes frames in pairs."""
    if len(video) % TEMPORAL_PATCH_SIZE:
        return np.concatenate([video, video[-1:]], axis=0)
    return video


def _pad_rows(rows: list[list[int]], value: int, side: str) -> torch.Tensor:
    width = max(len(r) for r in rows)
    padded = [([value] * (width - len(r)) + r) if side == "left" else (r + [value] * (width - len(r))) for r in rows]
    return torch.tensor(padded, dtype=torch.long)


def _is_peft_checkpoint(folder: Path) -> bool:
    return (folder / "adapter_config.json").is_file()


def _has_processor(folder: Path) -> bool:
    return any((folder / name).is_file() for name in ("processor_config.json", "preprocessor_config.json"))


@register
class Qwen2VLAdapter(VideoVLMAdapter):
    """Qwen2-VL / Qwen2.5-VL (``Qwen2VLForConditionalGeneration`` / ``Qwen2_5_VLForConditionalGeneration``)."""

    families = tuple(FAMILY_CLASSES)

    def __init__(self, model, processor, spec: ModelSpec):
        super().__init__(model, processor, spec)
        tokenizer = processor.tokenizer
        self.tokenizer = tokenizer
        self.end_of_turn_id = tokenizer.convert_tokens_to_ids(END_OF_TURN)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.end_of_turn_id
        stop = {self.end_of_turn_id, tokenizer.eos_token_id, tokenizer.convert_tokens_to_ids(END_OF_TEXT)}
        self.stop_ids = sorted(i for i in stop if i is not None and i != tokenizer.unk_token_id)
        # What load() resolved (device, dtype, attention kernel, checkpoint kind), for run records.
        self.load_info: dict[str, Any] = {}

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
        device = resolve_device(spec.device, spec.name)
        dtype = resolve_dtype(spec.precision, device, spec.name)
        attn = resolve_attn_implementation(spec.attn_implementation, device, dtype, spec.name)
        model_class = cls.model_class_for(spec)
        apply_matmul_precision(spec.precision, device)

        weights_path, revision, processor_path = spec.path, spec.revision, spec.path
        ckpt = Path(checkpoint) if checkpoint else None
        if ckpt is not None:
            if not ckpt.is_dir():
                raise FileNotFoundError(f"model '{spec.name}': checkpoint folder {ckpt} does not exist")
            if not _is_peft_checkpoint(ckpt):
                if not (ckpt / "config.json").is_file():
                    raise FileNotFoundError(
                        f"model '{spec.name}': checkpoint {ckpt} holds neither a peft adapter "
                        "(adapter_config.json) nor full weights (config.json)"
                    )
                weights_path, revision = str(ckpt), None
                if _has_processor(ckpt):
                    processor_path = str(ckpt)
        common = dict(trust_remote_code=spec.trust_remote_code)
        model = model_class.from_pretrained(
            weights_path, dtype=dtype, attn_implementation=attn, revision=revision, **common
        )
        if ckpt is not None and _is_peft_checkpoint(ckpt):
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, str(ckpt)).merge_and_unload()
        processor = AutoProcessor.from_pretrained(
            processor_path, revision=spec.revision if processor_path == spec.path else None, **common
        )
        model.to(device).eval()
        adapter = cls(model, processor, spec)
        kind = None if ckpt is None else ("lora" if _is_peft_checkpoint(ckpt) else "full")
        adapter.load_info = {
            "device": str(device),
            "precision": spec.precision,
            "dtype": str(dtype).replace("torch.", ""),
            "attn_implementation": attn,
            "checkpoint": str(ckpt) if ckpt else None,
            "checkpoint_kind": kind,
        }
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
        _check_videos(videos, prompts, answers)
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
            answer_ids = [
                self.tokenizer(a, add_special_tokens=False)["input_ids"] + [self.end_of_turn_id] for a in answers
            ]
            labels = [[-100] * len(p) + a for p, a in zip(ids, answer_ids)]
            ids = [p + a for p, a in zip(ids, answer_ids)]
            if types is not None:
                types = [t + [0] * len(a) for t, a in zip(types, answer_ids)]
        side = "left" if answers is None else "right"
        out = {k: v for k, v in batch.items() if k not in ("input_ids", "attention_mask", "mm_token_type_ids")}
        out["input_ids"] = _pad_rows(ids, self.pad_id, side)
        out["attention_mask"] = _pad_rows([[1] * len(r) for r in ids], 0, side)
        if types is not None:
            out["mm_token_type_ids"] = _pad_rows(types, 0, side)
        if labels is not None:
            out["labels"] = _pad_rows(labels, -100, side)
        return out

    def _to_model(self, batch: dict[str, Any]) -> dict[str, Any]:
        dtype = next(self.model.parameters()).dtype
        moved = {}
        for key, value in batch.items():
            if isinstance(value, torch.Tensor):
                value = value.to(self.device)
                if value.is_floating_point() and key.startswith("pixel_values"):
                    value = value.to(dtype)
            moved[key] = value
        return moved

    @torch.inference_mode()
    def generate(
        self,
        videos: Sequence[np.ndarray],
        system: str,
        prompts: Sequence[str],
        max_new_tokens: int = 64,
    ) -> list[str]:
        batch = self._to_model(self.encode(videos, system, prompts))
        output = self.model.generate(
            **batch,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            num_beams=1,
            pad_token_id=self.pad_id,
            eos_token_id=self.stop_ids,
        )
        new_tokens = output[:, batch["input_ids"].shape[1]:]
        texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True, clean_up_tokenization_spaces=False)
        return [t.strip() for t in texts]

    # -- training hooks --------------------------------------------------------------------------------------
    def lora_target_modules(self) -> list[str]:
        """Full names of the language model's attention and MLP projections (the vision tower is excluded:
        Qwen2.5-VL's vision MLP also has ``gate_proj``/``up_proj``/``down_proj``, so bare suffixes would
        wrap it too). peft treats each entry as an exact module name."""
        return [
            name
            for name, module in self.model.named_modules()
            if name.startswith(LM_MODULE + ".") and name.rsplit(".", 1)[-1] in LORA_PROJECTIONS
            and isinstance(module, torch.nn.Linear)
        ]

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

    def save_checkpoint(self, model, out_dir: str) -> None:
        """A peft model saves its adapter (and any ``modules_to_save``); a plain model saves full weights plus
        the processor, so the folder loads on its own. The folder appears complete or not at all."""
        out = Path(out_dir)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
        try:
            model.save_pretrained(tmp)
            if not _is_peft_checkpoint(tmp):
                self.processor.save_pretrained(tmp)
            if out.exists():
                shutil.rmtree(out)
            os.replace(tmp, out)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)
