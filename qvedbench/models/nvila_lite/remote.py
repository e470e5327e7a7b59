"""The ``nvila_lite_remote`` family: a published NVILA-Lite ``-hf`` checkpoint run by its own remote code.

The checkpoint ships its model and processor as Python files (``auto_map``). Running them executes code from the
hub, so it is opt-in per model: the config must say ``trust_remote_code: true`` and pin ``revision`` to a commit,
and anything else fails before loading with :class:`RemoteCodeNotAllowed`. The native ``nvila_lite`` family loads
the same weights without remote code and is the tested path; this one exists to compare against the reference
implementation.

Inputs are built by the remote processor's ``apply_chat_template`` from messages whose user content lists
``{"type": "video", "video": [PIL frames]}`` then the prompt text. That message format is assumed from the
transformers convention and has not been run against the published code (no network here): only the opt-in gate
is tested offline.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from qvedbench.models.base import ModelSpec
from qvedbench.models.common import (
    append_answers,
    check_videos,
    local_folder,
    place_model,
    pretrained_kwargs,
    resolve_runtime,
    text_batch,
)
from qvedbench.models.nvila_lite.adapter import NVILALiteAdapter
from qvedbench.models.registry import register

REMOTE_FAMILY = "nvila_lite_remote"
_COMMIT = re.compile(r"[0-9a-f]{40}")


class RemoteCodeNotAllowed(ValueError):
    """A model needs the checkpoint's own code, and its config does not allow running it."""


def require_remote_code(spec: ModelSpec) -> None:
    """Raise unless ``spec`` opts in to remote code with a revision pinned to a full commit hash."""
    problems = []
    if not spec.trust_remote_code:
        problems.append("set trust_remote_code: true for this model")
    if not spec.revision or not _COMMIT.fullmatch(str(spec.revision)):
        problems.append("pin revision: to the 40-character commit of the checkpoint you reviewed")
    if problems:
        raise RemoteCodeNotAllowed(
            f"model '{spec.name}' (family {REMOTE_FAMILY}, path {spec.path}) runs Python code shipped with the "
            "checkpoint, which is off by default: " + "; ".join(problems)
            + ". Or use family 'nvila_lite', which loads the same weights without remote code."
        )


@register
class NVILALiteRemoteAdapter(NVILALiteAdapter):
    """Training hooks are the native adapter's (same module names: ``llm``, ``vision_tower``, ``mm_projector``);
    inputs come from the checkpoint's own processor."""

    families = (REMOTE_FAMILY,)

    def __init__(self, model, processor, spec: ModelSpec):
        super(NVILALiteAdapter, self).__init__(model, processor, spec)

    @classmethod
    def load(cls, spec: ModelSpec, checkpoint: str | None = None) -> "NVILALiteRemoteAdapter":
        require_remote_code(spec)
        from transformers import AutoModel, AutoProcessor

        runtime = resolve_runtime(spec, allow_auto_device_map=False)  # remote code: no split placement
        device, attn = runtime.device, runtime.attn
        folder = local_folder(spec.path, spec.revision)
        common = dict(trust_remote_code=True)
        model = AutoModel.from_pretrained(str(folder), **pretrained_kwargs(runtime), **common)
        if checkpoint:
            from peft import PeftModel

            if not (Path(checkpoint) / "adapter_config.json").is_file():
                raise FileNotFoundError(f"model '{spec.name}': {checkpoint} holds no peft adapter")
            model = PeftModel.from_pretrained(model, checkpoint).merge_and_unload()
        processor = AutoProcessor.from_pretrained(str(folder), **common)
        place_model(model, runtime)
        adapter = cls(model, processor, spec)
        adapter.load_info = {"device": str(device), "precision": spec.precision, "attn_implementation": attn,
                             "remote_code_revision": spec.revision, "checkpoint": checkpoint}
        return adapter

    def _messages(self, video: np.ndarray, system: str, prompt: str) -> list[dict]:
        from PIL import Image

        frames = [Image.fromarray(frame) for frame in video]
        return [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": [{"type": "video", "video": frames}, {"type": "text", "text": prompt}]},
        ]

    def encode(self, videos: Sequence[np.ndarray], system: str, prompts: Sequence[str],
               answers: Sequence[str] | None = None) -> dict[str, Any]:
        check_videos(videos, prompts, answers)
        rows, media = [], []
        for video, prompt in zip(videos, prompts):
            inputs = self.processor.apply_chat_template(
                self._messages(video, system, prompt), add_generation_prompt=True, tokenize=True, return_dict=True,
                return_tensors="pt",
            )
            rows.append(inputs.pop("input_ids")[0].tolist())
            inputs.pop("attention_mask", None)
            media.append(inputs)
        labels = None
        if answers is not None:
            rows, labels = append_answers(rows, self.answer_ids(answers))
        out: dict[str, Any] = text_batch(rows, self.pad_id, labels)
        for key in media[0]:
            values = [m[key] for m in media]
            out[key] = torch.cat(values) if isinstance(values[0], torch.Tensor) else [v for vs in values for v in vs]
        return out
