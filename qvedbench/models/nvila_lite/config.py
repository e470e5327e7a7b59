"""Configuration of the native NVILA-Lite model: a SigLIP vision tower, token compression, projector, Qwen2 LLM.

The layout follows the published ``-hf`` checkpoint's ``config.json`` (``model_type`` ``nvila_lite`` with a
Qwen2 ``text_config`` and a SigLIP ``vision_config``), so that file loads into this class unchanged. Fields the
published config may lack take NVILA-Lite's values as defaults:

- ``vision_feature_layer`` -2: features come from the vision tower's penultimate layer;
- ``spatial_pool`` 3: each 3x3 block of patch features is concatenated into one token ("mlp_downsample 3x3",
  the grid padded at the bottom/right to a multiple of 3), so a 448-px frame (32x32 patches) gives 11x11 tokens;
- ``temporal_pool`` 1: how many consecutive frames are averaged into one group of tokens after the projector
  (1 = no temporal compression, NVILA-Lite's default; larger values are NVILA's temporal averaging);
- ``projector_hidden_size`` 3 x the vision width (the published projector's middle layer).
"""
from __future__ import annotations

from typing import Any

from transformers import PretrainedConfig, Qwen2Config, SiglipVisionConfig


class NVILALiteConfig(PretrainedConfig):
    model_type = "nvila_lite"
    sub_configs = {"text_config": Qwen2Config, "vision_config": SiglipVisionConfig}

    def __init__(
        self,
        text_config: dict[str, Any] | Qwen2Config | None = None,
        vision_config: dict[str, Any] | SiglipVisionConfig | None = None,
        image_token_id: int | None = None,
        video_token_id: int | None = None,
        vision_feature_layer: int = -2,
        spatial_pool: int = 3,
        temporal_pool: int = 1,
        projector_hidden_size: int | None = None,
        **kwargs,
    ):
        if isinstance(text_config, dict):
            text_config = Qwen2Config(**text_config)
        if isinstance(vision_config, dict):
            vision_config = SiglipVisionConfig(**vision_config)
        self.text_config = text_config if text_config is not None else Qwen2Config()
        self.vision_config = vision_config if vision_config is not None else SiglipVisionConfig()
        # NVILA reads patch features, never SigLIP's pooling head, and its checkpoints do not store the head.
        self.vision_config.vision_use_head = False
        self.image_token_id = image_token_id
        self.video_token_id = video_token_id
        if spatial_pool < 1 or temporal_pool < 1:
            raise ValueError(f"spatial_pool and temporal_pool must be >= 1, got {spatial_pool}, {temporal_pool}")
        self.vision_feature_layer = vision_feature_layer
        self.spatial_pool = spatial_pool
        self.temporal_pool = temporal_pool
        self.projector_hidden_size = projector_hidden_size or 3 * self.vision_config.hidden_size
        kwargs.setdefault("tie_word_embeddings", getattr(self.text_config, "tie_word_embeddings", False))
        super().__init__(**kwargs)

    def tokens_per_frame(self, image_size: int | None = None) -> int:
        """Video tokens one frame (or one temporal group of frames) becomes at ``image_size`` pixels."""
        side = (image_size or self.vision_config.image_size) // self.vision_config.patch_size
        pooled = -(-side // self.spatial_pool)  # ceil: the grid is padded up to a multiple of the pool
        return pooled * pooled


def nvila_lite_2b_config() -> NVILALiteConfig:
    """The published NVILA-Lite-2B architecture: SigLIP so400m-patch14-448 (no pooling head) and Qwen2-1.5B."""
    return NVILALiteConfig(
        text_config=Qwen2Config(
            vocab_size=151936,
            hidden_size=1536,
            intermediate_size=8960,
            num_hidden_layers=28,
            num_attention_heads=12,
            num_key_value_heads=2,
            max_position_embeddings=32768,
            rms_norm_eps=1e-6,
            rope_theta=1000000.0,
            tie_word_embeddings=True,
        ),
        vision_config=SiglipVisionConfig(
            hidden_size=1152,
            intermediate_size=4304,
            num_hidden_layers=27,
            num_attention_heads=16,
            image_size=448,
            patch_size=14,
        ),
        spatial_pool=3,
        temporal_pool=1,
    )
