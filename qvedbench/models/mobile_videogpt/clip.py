"""The context encoder: transformers' CLIP vision tower, read at one hidden layer (the penultimate by default)."""
from __future__ import annotations

import torch
from transformers import CLIPVisionConfig, CLIPVisionModel


def build_context_encoder(config: CLIPVisionConfig) -> CLIPVisionModel:
    return CLIPVisionModel(config)


def context_features(encoder: CLIPVisionModel, pixels: torch.Tensor, layer: int = -2) -> torch.Tensor:
    """``(N, 3, H, W)`` CLIP-normalised images -> ``(N, patches, hidden)``: the patch tokens (class token
    dropped) of hidden state ``layer`` (``-2``: the input of the last encoder layer)."""
    out = encoder(pixel_values=pixels.to(encoder.dtype), output_hidden_states=True)
    return out.hidden_states[layer][:, 1:]
