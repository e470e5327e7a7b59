"""Inputs for the native NVILA-Lite model: the Qwen2 tokenizer plus SigLIP's image processor for the frames.

NVILA-Lite sees every frame at the vision tower's native square size (448 px for the published model; SigLIP's
position embeddings are fixed), rescaled to [-1, 1] (mean and std 0.5), resized bicubically: the image processor
is transformers' ``SiglipImageProcessor``. A folder without a ``preprocessor_config.json`` (the published
checkpoints keep it elsewhere or not at all) gets those settings from the model config.
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from transformers import Qwen2Tokenizer, SiglipImageProcessor

PREPROCESSOR_FILE = "preprocessor_config.json"


def siglip_image_processor(image_size: int) -> SiglipImageProcessor:
    return SiglipImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_resize=True,
        do_rescale=True,
        do_normalize=True,
    )


class NVILALiteNativeProcessor:
    """Qwen2 tokenizer (``.tokenizer``, with the chat template) and frame preprocessing (``.image_processor``)."""

    def __init__(self, tokenizer, image_processor: SiglipImageProcessor):
        self.tokenizer = tokenizer
        self.image_processor = image_processor

    @classmethod
    def from_pretrained(
        cls, folder: str, image_size: int, tokenizer_folder: str | None = None
    ) -> "NVILALiteNativeProcessor":
        """Load from ``folder`` (tokenizer from ``tokenizer_folder`` when the layout keeps it elsewhere)."""
        tokenizer = Qwen2Tokenizer.from_pretrained(tokenizer_folder or folder)
        local = Path(folder)
        if (local / PREPROCESSOR_FILE).is_file():
            image_processor = SiglipImageProcessor.from_pretrained(folder)
        else:
            image_processor = siglip_image_processor(image_size)
        return cls(tokenizer, image_processor)

    def save_pretrained(self, folder: str | Path) -> None:
        self.tokenizer.save_pretrained(folder)
        self.image_processor.save_pretrained(folder)

    def apply_chat_template(self, messages: list[dict], **kwargs) -> str:
        return self.tokenizer.apply_chat_template(messages, **kwargs)

    def frames_to_pixels(self, videos: Sequence[np.ndarray]) -> torch.Tensor:
        """(T, H, W, 3) uint8 clips of equal T -> (B, T, 3, S, S) float pixel values at the processor's size."""
        frames = [frame for video in videos for frame in video]
        pixels = self.image_processor(images=frames, return_tensors="pt")["pixel_values"]
        return pixels.reshape(len(videos), len(videos[0]), *pixels.shape[1:])
