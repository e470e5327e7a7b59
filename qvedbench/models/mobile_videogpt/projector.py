"""The "ETP" (efficient token projector) that maps encoder tokens into the language model's embedding space.

Tokens go through a two-layer GELU MLP into the LLM width, are laid out as a square grid, average-pooled to
``pool x pool`` and refined by a depthwise 3x3 convolution with a residual connection (a positional
encoding generator). Parameter names follow the published checkpoint's module layout via
:mod:`qvedbench.models.mobile_videogpt.checkpoint`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


class ETPProjector(nn.Module):
    """``(N, L, in_dim)`` with ``L`` a square number -> ``(N, pool*pool, out_dim)``."""

    def __init__(self, in_dim: int, out_dim: int, pool: int):
        super().__init__()
        self.pool = pool
        self.mlp = nn.Sequential(nn.Linear(in_dim, out_dim), nn.GELU(), nn.Linear(out_dim, out_dim))
        self.peg = nn.Conv2d(out_dim, out_dim, kernel_size=3, padding=1, groups=out_dim)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.mlp(tokens)
        n, length, dim = x.shape
        side = math.isqrt(length)
        if side * side != length:
            raise ValueError(f"ETP projector: {length} tokens do not form a square grid")
        x = x.view(n, side, side, dim).permute(0, 3, 1, 2)
        x = F.adaptive_avg_pool2d(x, self.pool)
        x = x + self.peg(x)
        return x.flatten(2).transpose(1, 2)
