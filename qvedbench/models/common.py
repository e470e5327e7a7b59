"""Machinery shared by the model families: input checks, padding, checkpoint folders, and a base adapter for
families whose language model speaks Qwen2's ChatML (``<|im_start|>`` ... ``<|im_end|>``).

:class:`ChatMLAdapter` implements batched greedy generation, device moves, LoRA targets and checkpoint saving;
a family adds loading, prompt building (:meth:`~qvedbench.models.base.VideoVLMAdapter.encode`) and its module
layout (``LM_MODULE`` and :meth:`~qvedbench.models.base.VideoVLMAdapter.trainable_groups`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Sequence

import numpy as np
import torch

from qvedbench.device import (
    apply_matmul_precision,
    resolve_attn_implementation,
    resolve_device,
    resolve_device_map,
    resolve_dtype,
)
from qvedbench.io import save_folder_atomically
from qvedbench.models.base import ModelSpec, VideoVLMAdapter

END_OF_TURN = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"
# The attention and MLP projections of a Qwen2 decoder layer: the default LoRA targets of every family here.
LORA_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


# -- inputs ------------------------------------------------------------------------------------------------------


def check_videos(videos: Sequence[np.ndarray], prompts: Sequence[str], answers: Sequence[str] | None) -> None:
    """Raise ``ValueError`` unless the batch is non-empty, the counts agree and every video is (T, H, W, 3) uint8."""
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


def pad_rows(rows: list[list[int]], value: int, side: str) -> torch.Tensor:
    """Rows of different lengths as one ``long`` tensor, filled with ``value`` on the ``left`` or ``right``."""
    width = max(len(r) for r in rows)
    padded = [([value] * (width - len(r)) + r) if side == "left" else (r + [value] * (width - len(r))) for r in rows]
    return torch.tensor(padded, dtype=torch.long)


def append_answers(
    prompt_ids: list[list[int]], answer_ids: list[list[int]]
) -> tuple[list[list[int]], list[list[int]]]:
    """Prompt plus answer token rows, and labels that are -100 on the prompt and the answer's ids on the answer."""
    labels = [[-100] * len(p) + a for p, a in zip(prompt_ids, answer_ids)]
    return [p + a for p, a in zip(prompt_ids, answer_ids)], labels


def text_batch(rows: list[list[int]], pad_id: int, labels: list[list[int]] | None = None) -> dict[str, torch.Tensor]:
    """``input_ids`` and ``attention_mask`` (plus ``labels``): left-padded for generation (no labels),
    right-padded for training."""
    side = "left" if labels is None else "right"
    out = {"input_ids": pad_rows(rows, pad_id, side), "attention_mask": pad_rows([[1] * len(r) for r in rows], 0, side)}
    if labels is not None:
        out["labels"] = pad_rows(labels, -100, side)
    return out


# -- loading -----------------------------------------------------------------------------------------------------


def is_peft_checkpoint(folder: Path) -> bool:
    return (Path(folder) / "adapter_config.json").is_file()


def has_processor(folder: Path) -> bool:
    return any((Path(folder) / name).is_file() for name in ("processor_config.json", "preprocessor_config.json"))


def local_folder(path: str, revision: str | None) -> Path:
    """``path`` itself when it is a folder, else the hub snapshot of that id at ``revision``."""
    if Path(path).is_dir():
        return Path(path)
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(repo_id=path, revision=revision))


@dataclass(frozen=True)
class Runtime:
    """Where and how a model runs, resolved (and checked) from a spec before anything is loaded."""

    device: torch.device
    dtype: torch.dtype
    attn: str
    device_map: str | None = None  # what from_pretrained gets: None, "auto" or one device ("cpu", "cuda:0")


def resolve_runtime(spec: ModelSpec, *, allow_auto_device_map: bool = True) -> Runtime:
    """Device, dtype, attention kernel and device map for ``spec``; an unsupported combination raises before
    any loading. Also applies the spec's matmul precision (tf32). A family whose loader builds the model itself
    passes ``allow_auto_device_map=False`` (a one-device map still works: the model is moved there)."""
    device = resolve_device(spec.device, spec.name)
    dtype = resolve_dtype(spec.precision, device, spec.name)
    attn = resolve_attn_implementation(spec.attn_implementation, device, dtype, spec.name)
    device_map = resolve_device_map(spec.device_map, device, spec.name, allow_auto=allow_auto_device_map)
    apply_matmul_precision(spec.precision, device)
    return Runtime(device, dtype, attn, device_map)


def pretrained_kwargs(runtime: Runtime) -> dict[str, Any]:
    """``from_pretrained`` keyword arguments for ``runtime``: dtype, attention kernel and, when set, device map."""
    kwargs: dict[str, Any] = {"dtype": runtime.dtype, "attn_implementation": runtime.attn}
    if runtime.device_map is not None:
        kwargs["device_map"] = runtime.device_map
    return kwargs


def place_model(model, runtime: Runtime):
    """``model`` on the runtime's device in eval mode; a model placed by ``device_map: auto`` stays where
    accelerate put it (a one-device map already loaded it there, so the move is free)."""
    if runtime.device_map != "auto":
        model.to(runtime.device)
    return model.eval()


def checkpoint_kind(model_name: str, checkpoint: str | os.PathLike | None) -> tuple[Path | None, str | None]:
    """``(folder, "lora" | "full")`` for a run's saved checkpoint, ``(None, None)`` without one.

    Raises ``FileNotFoundError`` when the folder is missing or holds neither a peft adapter nor full weights.
    """
    if not checkpoint:
        return None, None
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise FileNotFoundError(f"model '{model_name}': checkpoint folder {folder} does not exist")
    if is_peft_checkpoint(folder):
        return folder, "lora"
    if not (folder / "config.json").is_file():
        raise FileNotFoundError(
            f"model '{model_name}': checkpoint {folder} holds neither a peft adapter "
            "(adapter_config.json) nor full weights (config.json)"
        )
    return folder, "full"


def merge_lora(model, folder: Path):
    """``model`` with the peft adapter in ``folder`` applied and merged (a plain model again, as fast as before)."""
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(folder)).merge_and_unload()


def load_record(spec: ModelSpec, runtime: Runtime, folder: Path | None, kind: str | None, **extra) -> dict[str, Any]:
    """What a load resolved (device, dtype, attention kernel, checkpoint), for run records."""
    return {
        "device": str(runtime.device),
        "precision": spec.precision,
        "dtype": str(runtime.dtype).replace("torch.", ""),
        "attn_implementation": runtime.attn,
        "device_map": runtime.device_map,
        "checkpoint": str(folder) if folder else None,
        "checkpoint_kind": kind,
        **extra,
    }


def group_parameter_counts(model, groups: dict[str, list[str]]) -> dict[str, int]:
    """Parameters per partition group of :meth:`~qvedbench.models.base.VideoVLMAdapter.trainable_groups`:
    ``total``, ``vision``, ``projector`` and ``language`` (which includes an untied ``lm_head``).

    Shared (tied) tensors count once. Raises ``ValueError`` if a parameter belongs to no group, so the counts
    always add up to the total.
    """
    prefixes = {key: [m + "." for m in groups.get(key, [])] for key in ("vision", "projector", "language", "lm_head")}
    counts = {"total": 0, "vision": 0, "projector": 0, "language": 0}
    for name, param in model.named_parameters():
        # The longest matching prefix wins: a projector may sit inside the vision tower (Qwen2-VL's merger).
        matches = [(len(p), key) for key, ps in prefixes.items() for p in ps if name.startswith(p)]
        if not matches:
            raise ValueError(f"parameter '{name}' belongs to none of the groups {sorted(prefixes)}")
        key = max(matches)[1]
        counts["total"] += param.numel()
        counts["language" if key == "lm_head" else key] += param.numel()
    return counts


# -- the shared adapter ------------------------------------------------------------------------------------------


class ChatMLAdapter(VideoVLMAdapter):
    """Base of the adapters whose processor carries a Qwen2 tokenizer (``processor.tokenizer``) and whose
    language model lives at ``LM_MODULE``. Generation stops at ``<|im_end|>`` or ``<|endoftext|>``."""

    LM_MODULE: ClassVar[str] = "model.language_model"

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

    def answer_ids(self, answers: Sequence[str]) -> list[list[int]]:
        """Each answer's tokens followed by ``<|im_end|>``: exactly what greedy decoding must produce."""
        return [self.tokenizer(a, add_special_tokens=False)["input_ids"] + [self.end_of_turn_id] for a in answers]

    def _to_model(self, batch: dict[str, Any]) -> dict[str, Any]:
        """Tensors on the model's device; pixel tensors in the model's dtype."""
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

    def lora_target_modules(self) -> list[str]:
        """Full names of the language model's attention and MLP projections (vision towers are excluded: their
        MLPs may share the suffixes, so bare suffixes would wrap them too). peft treats each entry as an exact
        module name."""
        return [
            name
            for name, module in self.model.named_modules()
            if name.startswith(self.LM_MODULE + ".") and name.rsplit(".", 1)[-1] in LORA_PROJECTIONS
            and isinstance(module, torch.nn.Linear)
        ]

    def save_checkpoint(self, model, out_dir: str) -> None:
        """A peft model saves its adapter (and any ``modules_to_save``); a plain model saves full weights plus
        the processor, so the folder loads on its own. The folder appears complete or not at all."""

        def write(tmp: Path) -> None:
            model.save_pretrained(tmp)
            if not is_peft_checkpoint(tmp):
                self.processor.save_pretrained(tmp)

        save_folder_atomically(out_dir, write)


def preset_settings(presets: dict[str, dict[str, Any]], preset: str, overrides: dict[str, Any] | None) -> dict[str, Any]:
    """A copy of ``presets[preset]`` with ``overrides`` applied; an unknown preset or override key is an error."""
    if preset not in presets:
        raise ValueError(f"unknown tiny preset '{preset}'; known: {', '.join(presets)}")
    settings = dict(presets[preset])
    unknown = set(overrides or {}) - set(settings)
    if unknown:
        raise ValueError(f"unknown tiny-model override(s) {sorted(unknown)}; known: {sorted(settings)}")
    settings.update(overrides or {})
    return settings

