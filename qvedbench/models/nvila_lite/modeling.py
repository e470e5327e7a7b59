"""NVILA-Lite as a transformers ``PreTrainedModel``, written for this project from the published architecture.

Video path, per clip of T frames (all clips of a batch share T):

1. ``vision_tower`` (transformers' ``SiglipVisionModel``) encodes every frame; the features of layer
   ``config.vision_feature_layer`` (the penultimate) are kept: (T, P*P, C) for a P x P patch grid.
2. Spatial compression (:func:`spatial_compress`): the grid is padded to a multiple of ``spatial_pool`` (k) and
   every k x k block is concatenated into one token: (T, ceil(P/k)^2, k*k*C).
3. ``mm_projector``: LayerNorm, Linear(k*k*C -> 3C), GELU, LayerNorm, Linear(3C -> D), GELU, Linear(D -> D).
4. Temporal compression (:func:`temporal_compress`): groups of ``temporal_pool`` consecutive frames are averaged.
5. The tokens replace, in order, the ``video_token_id`` placeholders of ``input_ids`` (the caller writes one
   placeholder per token), and ``llm`` (transformers' ``Qwen2ForCausalLM``) runs on the embeddings.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel, Qwen2ForCausalLM, SiglipVisionModel
from transformers.modeling_outputs import CausalLMOutputWithPast

from qvedbench.models.nvila_lite.config import NVILALiteConfig


def spatial_compress(features: torch.Tensor, pool: int) -> torch.Tensor:
    """(N, S, C) patch features of a square S = P*P grid -> (N, ceil(P/pool)^2, pool*pool*C).

    The grid is zero-padded at the bottom and right up to a multiple of ``pool``; each pool x pool block becomes
    one token whose features are the block's patches concatenated row by row.
    """
    n, s, c = features.shape
    side = int(round(s**0.5))
    if side * side != s:
        raise ValueError(f"spatial_compress: {s} patch features do not form a square grid")
    if pool == 1:
        return features
    grid = features.reshape(n, side, side, c)
    pad = (-side) % pool
    if pad:
        grid = F.pad(grid, (0, 0, 0, pad, 0, pad))
    blocks = (side + pad) // pool
    grid = grid.reshape(n, blocks, pool, blocks, pool, c).permute(0, 1, 3, 2, 4, 5)
    return grid.reshape(n, blocks * blocks, pool * pool * c)


def temporal_compress(features: torch.Tensor, pool: int) -> torch.Tensor:
    """(B, T, S, D) per-frame tokens -> (B, T / pool, S, D): the mean of each group of ``pool`` frames."""
    b, t, s, d = features.shape
    if t % pool:
        raise ValueError(f"temporal_compress: {t} frames are not a multiple of temporal_pool {pool}")
    return features.reshape(b, t // pool, pool, s, d).mean(dim=2)


class NVILALiteProjector(nn.Module):
    """The multimodal projector applied to spatially compressed vision tokens."""

    def __init__(self, config: NVILALiteConfig):
        super().__init__()
        in_features = config.spatial_pool**2 * config.vision_config.hidden_size
        mid, out = config.projector_hidden_size, config.text_config.hidden_size
        self.norm_in = nn.LayerNorm(in_features)
        self.fc_in = nn.Linear(in_features, mid)
        self.norm_mid = nn.LayerNorm(mid)
        self.fc_mid = nn.Linear(mid, out)
        self.fc_out = nn.Linear(out, out)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.gelu(self.fc_in(self.norm_in(x)))
        x = F.gelu(self.fc_mid(self.norm_mid(x)))
        return self.fc_out(x)


class NVILALitePreTrainedModel(PreTrainedModel):
    config_class = NVILALiteConfig
    config: NVILALiteConfig
    base_model_prefix = ""
    supports_gradient_checkpointing = True
    _no_split_modules = ["Qwen2DecoderLayer", "SiglipEncoderLayer"]
    _supports_sdpa = True
    _supports_flash_attn = True
    _supports_attention_backend = True


class NVILALiteForConditionalGeneration(NVILALitePreTrainedModel, GenerationMixin):
    """Vision tower + token compression + projector + Qwen2 causal LM, with ``generate``."""

    _tied_weights_keys = {"llm.lm_head.weight": "llm.model.embed_tokens.weight"}

    def __init__(self, config: NVILALiteConfig):
        super().__init__(config)
        self.vision_tower = SiglipVisionModel(config.vision_config)
        self.mm_projector = NVILALiteProjector(config)
        self.llm = Qwen2ForCausalLM(config.text_config)
        if not config.tie_word_embeddings:
            self._tied_weights_keys = {}
        self.post_init()

    def get_input_embeddings(self) -> nn.Module:
        return self.llm.get_input_embeddings()

    def set_input_embeddings(self, value: nn.Module) -> None:
        self.llm.set_input_embeddings(value)

    def get_output_embeddings(self) -> nn.Module:
        return self.llm.get_output_embeddings()

    def get_video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """(B, T, 3, H, W) frames -> (B, T / temporal_pool, tokens_per_frame, D) LLM-space tokens."""
        if pixel_values_videos.ndim != 5:
            shape = tuple(pixel_values_videos.shape)
            raise ValueError(f"pixel_values_videos must be (B, T, 3, H, W), got shape {shape}")
        b, t = pixel_values_videos.shape[:2]
        frames = pixel_values_videos.flatten(0, 1).to(self.vision_tower.dtype)
        hidden = self.vision_tower(pixel_values=frames, output_hidden_states=True).hidden_states
        features = spatial_compress(hidden[self.config.vision_feature_layer], self.config.spatial_pool)
        features = self.mm_projector(features)
        return temporal_compress(features.reshape(b, t, *features.shape[1:]), self.config.temporal_pool)

    def _merge_video(self, input_ids: torch.Tensor, inputs_embeds: torch.Tensor, pixel_values_videos: torch.Tensor):
        features = self.get_video_features(pixel_values_videos)
        features = features.reshape(-1, features.shape[-1]).to(inputs_embeds.dtype)
        mask = input_ids == self.config.video_token_id
        if int(mask.sum()) != features.shape[0]:
            raise ValueError(
                f"the inputs hold {int(mask.sum())} video placeholder tokens but the frames give {features.shape[0]} "
                "video tokens"
            )
        return inputs_embeds.masked_scatter(mask.unsqueeze(-1).expand_as(inputs_embeds), features)

    def forward(
        self,
        input_ids: torch.LongTensor | None = None,
        attention_mask: torch.Tensor | None = None,
        position_ids: torch.LongTensor | None = None,
        cache=None,
        inputs_embeds: torch.Tensor | None = None,
        labels: torch.LongTensor | None = None,
        use_cache: bool | None = None,
        pixel_values_videos: torch.Tensor | None = None,
        logits_to_keep: int | torch.Tensor = 0,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        if pixel_values_videos is not None:
            if input_ids is None:
                raise ValueError("pixel_values_videos needs input_ids to locate the video placeholder tokens")
            inputs_embeds = self._merge_video(input_ids, inputs_embeds, pixel_values_videos)
        return self.llm(
            attention_mask=attention_mask,
            position_ids=position_ids,
            cache=cache,
            inputs_embeds=inputs_embeds,
            labels=labels,
            use_cache=use_cache,
            logits_to_keep=logits_to_keep,
            **kwargs,
        )
