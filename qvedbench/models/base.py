"""The adapter interface every model family implements.

An adapter owns a loaded model and its processor and knows the family's chat template, special tokens,
processor call, LoRA target modules and trainable groups. It knows nothing about training loops, metrics,
or the workflow: :mod:`qvedbench.train` and :mod:`qvedbench.infer` drive any adapter through this interface.

Videos cross this interface as ``numpy.ndarray`` of shape ``(T, H, W, 3)``, dtype ``uint8``, RGB: the frames
already sampled by :mod:`qvedbench.video`. The adapter hands them to its own processor (which may resize
them again to the family's native resolution).
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence

import numpy as np


@dataclass
class ModelSpec:
    """Everything needed to load one configured model (one entry of ``config['models']``)."""

    name: str  # the config key, used in result paths: results/runs/{name}/...
    family: str  # registry key, e.g. "qwen2_vl"
    path: str  # a from_pretrained directory or a hub id
    precision: str = "fp32"  # fp32 | tf32 | bf16 | fp16
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    device_map: str | None = None  # None | auto | cpu | cuda | cuda:N: passed to from_pretrained (needs accelerate)
    attn_implementation: str = "sdpa"  # auto | sdpa | eager | flash_attention_2 (error if it cannot work here)
    frames: int = 8  # frames sampled per clip
    resolution: int = 224  # square side, pixels, frames are resized to before the processor
    trust_remote_code: bool = False
    revision: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # family-specific options

    @classmethod
    def from_config(cls, name: str, cfg: dict) -> "ModelSpec":
        known = {f for f in cls.__dataclass_fields__ if f not in ("name", "extra")}
        kwargs = {k: cfg[k] for k in known if k in cfg}
        return cls(name=name, extra=dict(cfg.get("extra", {})), **kwargs)


class VideoVLMAdapter(ABC):
    """One loaded model of a family. Subclasses are registered with :func:`qvedbench.models.register`."""

    families: ClassVar[tuple[str, ...]] = ()  # registry names this class serves

    def __init__(self, model, processor, spec: ModelSpec):
        self.model = model
        self.processor = processor
        self.spec = spec

    # -- loading -------------------------------------------------------------------------------------------
    @classmethod
    @abstractmethod
    def load(cls, spec: ModelSpec, checkpoint: str | None = None) -> "VideoVLMAdapter":
        """Load ``spec.path`` with the requested precision and device.

        ``checkpoint`` is a run's saved output (:meth:`save_checkpoint`): a LoRA adapter applied on top of the
        base weights, or full fine-tuned weights.
        """

    @property
    def device(self):
        return next(self.model.parameters()).device

    # -- prompts and inputs ----------------------------------------------------------------------------------
    @abstractmethod
    def encode(
        self,
        videos: Sequence[np.ndarray],
        system: str,
        prompts: Sequence[str],
        answers: Sequence[str] | None = None,
    ) -> dict[str, Any]:
        """Build a padded batch of model inputs through the family's chat template and processor.

        Without ``answers`` the text ends with the assistant turn opened (for generation, left padding).
        With ``answers`` each answer plus the end-of-turn token is appended and ``labels`` is returned, equal to
        ``input_ids`` on the answer tokens and -100 everywhere else (prompt, video tokens, padding).
        """

    @abstractmethod
    def generate(
        self,
        videos: Sequence[np.ndarray],
        system: str,
        prompts: Sequence[str],
        max_new_tokens: int = 64,
    ) -> list[str]:
        """Greedy decoding for a batch; returns only the newly generated text, special tokens stripped."""

    # -- training hooks -------------------------------------------------------------------------------------
    @abstractmethod
    def lora_target_modules(self) -> list[str]:
        """Module-name patterns peft's LoRA should wrap (the language model's linear layers)."""

    @abstractmethod
    def trainable_groups(self) -> dict[str, list[str]]:
        """Named groups of module names: at least ``projector``, ``vision``, ``language`` and
        ``language_blocks`` (one entry per transformer block, in order), so training can unfreeze e.g. 'the
        projector plus the last N blocks'. A parameter belongs to an entry when its name starts with the entry
        plus ``"."``; entries are full module names, so they also work as peft ``modules_to_save``."""

    @abstractmethod
    def save_checkpoint(self, model, out_dir: str) -> None:
        """Save what training changed (an adapter or full weights) so :meth:`load` can restore it."""

    # -- input size ------------------------------------------------------------------------------------------
    def input_size(self) -> dict[str, Any]:
        """How the family treats the frame size asked for (``spec.resolution``):
        ``{"requested", "effective" (the square side the vision encoder sees), "fixed" (the encoder takes one
        size only), "note" (a sentence for tables and summaries, None when the size is taken as asked)}``.

        The default describes an any-resolution family; one that pins its processor to a rounded side exposes
        it as ``frame_side()``. A family whose encoder has a fixed input size overrides this and says how it
        handles other sizes."""
        requested = self.spec.resolution
        side = getattr(self, "frame_side", None)
        effective = side() if callable(side) else requested
        note = None if effective == requested else f"rounded to {effective} px (the encoder's patch grid)"
        return {"requested": requested, "effective": effective, "fixed": False, "note": note}

    def parameter_counts(self, model=None) -> dict[str, int]:
        model = model if model is not None else self.model
        total = sum(p.numel() for p in model.parameters())
        trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
        return {"total": int(total), "trainable": int(trainable)}
