"""Attention-based key-frame selection: in each chunk, keep the frames whose tokens receive the most attention.

All CLIP patch tokens of a chunk attend to each other (scaled dot product, softmax over keys, no learned
weights); a frame's score is the total attention its tokens receive from every token in the chunk. The
``k`` best-scoring frames are kept in their original temporal order.
"""
from __future__ import annotations

import math

import torch


def frame_scores(chunk_tokens: torch.Tensor) -> torch.Tensor:
    """``(chunks, T, L, D)`` patch tokens -> ``(chunks, T)`` attention received by each frame."""
    chunks, frames, length, dim = chunk_tokens.shape
    tokens = chunk_tokens.reshape(chunks, frames * length, dim).float()
    attention = torch.softmax(tokens @ tokens.transpose(1, 2) / math.sqrt(dim), dim=-1)
    received = attention.sum(dim=1)  # column sums: attention each key token receives
    return received.view(chunks, frames, length).sum(dim=-1)


def select_frames(chunk_tokens: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``(chunks, k)`` of the ``k`` most-attended frames of each chunk, ascending."""
    if not 1 <= k <= chunk_tokens.shape[1]:
        raise ValueError(f"select_frames: k={k} must be between 1 and the chunk length {chunk_tokens.shape[1]}")
    top = torch.topk(frame_scores(chunk_tokens), k=k, dim=-1).indices
    return top.sort(dim=-1).values
