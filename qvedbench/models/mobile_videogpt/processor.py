"""Text and frame preprocessing for Mobile-VideoGPT: the family's chat template, the video placeholder expanded
to the clip's visual-token count, and frames as ``pixel_values_videos`` in [0, 1] at the encoders' size.

Saved as the tokenizer's files plus ``mobile_videogpt_processor.json`` (frame size, token counts, chat
template), so a model folder carries everything needed to rebuild it.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AddedToken, AutoTokenizer

from qvedbench.io import read_json, write_json

PROCESSOR_FILE = "mobile_videogpt_processor.json"
VIDEO_TOKEN = "<video>"
END_OF_TURN = "<|im_end|>"
END_OF_TEXT = "<|endoftext|>"

# Qwen2.5 ChatML, the way Mobile-VideoGPT's "qwen2_instruct" conversation lays it out: the video placeholder
# and a newline open the user turn, before the question.
CHAT_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'video' %}<video>\n"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}{% endif %}"
    "<|im_end|>\n{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


class MobileVideoGPTProcessor:
    """Tokenizer plus frame preparation; ``tokens_per_frame`` context tokens per frame and
    ``tokens_per_chunk`` video tokens per ``chunk_size`` frames replace each :data:`VIDEO_TOKEN`."""

    def __init__(self, tokenizer, image_size: int, chunk_size: int, tokens_per_frame: int, tokens_per_chunk: int,
                 chat_template: str = CHAT_TEMPLATE):
        if tokenizer.convert_tokens_to_ids(VIDEO_TOKEN) in (None, tokenizer.unk_token_id):
            tokenizer.add_tokens([AddedToken(VIDEO_TOKEN, special=True, normalized=False)], special_tokens=True)
        self.tokenizer = tokenizer
        self.image_size, self.chunk_size = int(image_size), int(chunk_size)
        self.tokens_per_frame, self.tokens_per_chunk = int(tokens_per_frame), int(tokens_per_chunk)
        self.chat_template = chat_template
        self.video_token_id = tokenizer.convert_tokens_to_ids(VIDEO_TOKEN)

    @classmethod
    def for_config(cls, tokenizer, config) -> "MobileVideoGPTProcessor":
        """The processor matching a :class:`MobileVideoGPTConfig`."""
        return cls(tokenizer, image_size=config.video_config.image_size, chunk_size=config.chunk_size,
                   tokens_per_frame=config.context_pool**2, tokens_per_chunk=config.video_pool**2)

    def settings(self) -> dict[str, Any]:
        return {"image_size": self.image_size, "chunk_size": self.chunk_size,
                "tokens_per_frame": self.tokens_per_frame, "tokens_per_chunk": self.tokens_per_chunk,
                "chat_template": self.chat_template}

    def save_pretrained(self, out_dir: str | os.PathLike) -> None:
        self.tokenizer.save_pretrained(out_dir)
        write_json(Path(out_dir) / PROCESSOR_FILE, self.settings())

    @classmethod
    def from_pretrained(cls, folder: str | os.PathLike, **kwargs) -> "MobileVideoGPTProcessor":
        path = Path(folder) / PROCESSOR_FILE
        if not path.is_file():
            raise FileNotFoundError(f"{folder}: no {PROCESSOR_FILE} (not a Mobile-VideoGPT processor folder)")
        settings = read_json(path)
        return cls(AutoTokenizer.from_pretrained(str(folder), **kwargs), **settings)

    def visual_token_count(self, num_frames: int) -> int:
        if num_frames <= 0 or num_frames % self.chunk_size:
            raise ValueError(f"mobile_videogpt: {num_frames} frames given; the frame count must be a positive "
                             f"multiple of the chunk size {self.chunk_size} (set the model's frames accordingly)")
        return num_frames * self.tokens_per_frame + num_frames // self.chunk_size * self.tokens_per_chunk

    def prompt_text(self, system: str, prompt: str) -> str:
        """The chat text up to the opened assistant turn, with one (unexpanded) video placeholder."""
        messages = [
            {"role": "system", "content": [{"type": "text", "text": system}]},
            {"role": "user", "content": [{"type": "video"}, {"type": "text", "text": prompt}]},
        ]
        return self.tokenizer.apply_chat_template(messages, chat_template=self.chat_template, tokenize=False,
                                                  add_generation_prompt=True)

    def prompt_ids(self, text: str, num_frames: int) -> list[int]:
        """Token ids of ``text`` with each placeholder expanded to the clip's visual-token count."""
        ids = self.tokenizer(text, add_special_tokens=False)["input_ids"]
        count = self.visual_token_count(num_frames)
        expanded: list[int] = []
        for token in ids:
            expanded.extend([token] * count if token == self.video_token_id else [token])
        return expanded

    def frames(self, videos: Sequence[np.ndarray]) -> torch.Tensor:
        """``(T, H, W, 3)`` uint8 clips (equal T) -> ``(B, T, 3, S, S)`` float32 in [0, 1], resized (bicubic,
        antialiased) to the encoders' square size when needed."""
        lengths = {len(v) for v in videos}
        if len(lengths) != 1:
            raise ValueError(f"mobile_videogpt: clips in a batch must have equal frame counts, got {sorted(lengths)}")
        out = []
        for video in videos:
            x = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float() / 255.0
            if x.shape[-2:] != (self.image_size, self.image_size):
                x = F.interpolate(x, size=(self.image_size, self.image_size), mode="bicubic", antialias=True,
                                  align_corners=False).clamp_(0.0, 1.0)
            out.append(x)
        return torch.stack(out)
