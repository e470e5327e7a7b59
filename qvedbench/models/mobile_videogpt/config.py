"""Configuration of the Mobile-VideoGPT family: a VideoMamba video encoder, a CLIP context encoder, two ETP
projectors and a Qwen2.5 language model.

Mobile-VideoGPT-0.5B and -1.5B share everything but the language model; :func:`published_config` builds
either from the published architecture (CLIP ViT-B/16 at 224 px, VideoMamba-M: 32 bidirectional Mamba
layers of width 576, 16x16 patches, 8 frames; Qwen2.5-0.5B or -1.5B).
"""
from __future__ import annotations

from transformers import CLIPVisionConfig, PreTrainedConfig, Qwen2Config
from transformers.configuration_utils import SubConfigSpec

# ImageNet statistics (VideoMamba) and OpenAI CLIP statistics (the context encoder).
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]


class VideoMambaConfig(PreTrainedConfig):
    """VideoMamba encoder: 3D patch embedding (``kernel_size`` frames x ``patch_size``^2 pixels), a class token,
    spatial and temporal position embeddings, ``depth`` bidirectional Mamba blocks with RMSNorm, and the
    pretraining-time CLIP-alignment head (kept so every published tensor has a home; unused at inference)."""

    model_type = "mobile_videogpt_videomamba"
    base_config_key = "video_config"

    image_size: int = 224
    patch_size: int = 16
    kernel_size: int = 1
    num_frames: int = 8
    embed_dim: int = 576
    depth: int = 32
    d_state: int = 16
    d_conv: int = 4
    expand: int = 2
    dt_rank: int | None = None  # None: ceil(embed_dim / 16), as Mamba's "auto"
    norm_epsilon: float = 1e-5
    alignment_dim: int = 512  # output width of the CLIP-alignment head
    initializer_range: float = 0.02

    def __post_init__(self, **kwargs):
        if self.dt_rank is None:
            self.dt_rank = -(-self.embed_dim // 16)
        super().__post_init__(**kwargs)


class MobileVideoGPTConfig(PreTrainedConfig):
    """The whole model. ``text_config`` is a Qwen2 config, ``context_config`` a CLIP vision config and
    ``video_config`` a :class:`VideoMambaConfig`.

    Frames arrive in chunks of ``chunk_size``; in each chunk the ``frames_per_chunk`` frames whose CLIP tokens
    receive the most attention go through VideoMamba. Every frame's CLIP patch tokens (layer
    ``context_feature_layer``) are projected by the context ETP to ``context_pool``^2 tokens; each chunk's
    VideoMamba tokens are pooled per frame to ``frame_pool``^2 and projected by the video ETP to
    ``video_pool``^2 tokens. The LLM sees all context tokens, then all video tokens, in place of the
    ``video_token_id`` placeholders.
    """

    model_type = "mobile_videogpt"
    sub_configs_defaults = {
        "text_config": SubConfigSpec(config_class=Qwen2Config),
        "context_config": SubConfigSpec(config_class=CLIPVisionConfig),
        "video_config": SubConfigSpec(config_class=VideoMambaConfig),
    }

    text_config: dict | PreTrainedConfig | None = None
    context_config: dict | PreTrainedConfig | None = None
    video_config: dict | PreTrainedConfig | None = None
    video_token_id: int = 151665
    chunk_size: int = 8
    frames_per_chunk: int = 4
    frame_pool: int = 7
    video_pool: int = 7
    context_pool: int = 12
    context_feature_layer: int = -2
    video_mean: list[float] | None = None
    video_std: list[float] | None = None
    context_mean: list[float] | None = None
    context_std: list[float] | None = None
    tie_word_embeddings: bool = False

    def __post_init__(self, **kwargs):
        super().__post_init__(**kwargs)
        self.video_mean = list(self.video_mean or IMAGENET_MEAN)
        self.video_std = list(self.video_std or IMAGENET_STD)
        self.context_mean = list(self.context_mean or CLIP_MEAN)
        self.context_std = list(self.context_std or CLIP_STD)
        if not self.tie_word_embeddings and self.text_config.tie_word_embeddings:
            self.tie_word_embeddings = True
        self.validate_layout()

    @property
    def hidden_size(self) -> int:
        return self.text_config.hidden_size

    @property
    def vocab_size(self) -> int:
        return self.text_config.vocab_size

    def get_text_config(self, *args, **kwargs):
        return self.text_config

    def validate_layout(self) -> None:
        """Raise ``ValueError`` for token-grid settings that cannot fit together."""
        vc, cc = self.video_config, self.context_config
        if vc.image_size % vc.patch_size or cc.image_size % cc.patch_size:
            raise ValueError("mobile_videogpt config: image_size must be a multiple of patch_size")
        if vc.image_size != cc.image_size:
            raise ValueError("mobile_videogpt config: the video and context encoders must share image_size")
        if not 1 <= self.frames_per_chunk <= self.chunk_size:
            raise ValueError("mobile_videogpt config: frames_per_chunk must be between 1 and chunk_size")
        grid = self.frames_per_chunk * self.frame_pool**2
        side = round(grid**0.5)
        if side * side != grid:
            # The video ETP reads a chunk's selected-frame tokens as one square grid (as upstream does).
            raise ValueError(
                f"mobile_videogpt config: frames_per_chunk * frame_pool^2 = {grid} must be a square number"
            )

    def visual_token_count(self, num_frames: int) -> int:
        """How many placeholder tokens a clip of ``num_frames`` frames becomes."""
        self.check_frame_count(num_frames)
        chunks = num_frames // self.chunk_size
        return num_frames * self.context_pool**2 + chunks * self.video_pool**2

    def check_frame_count(self, num_frames: int) -> None:
        if num_frames <= 0 or num_frames % self.chunk_size:
            raise ValueError(
                f"mobile_videogpt: {num_frames} frames given; the frame count must be a positive multiple of "
                f"the chunk size {self.chunk_size}"
            )
        selected = num_frames // self.chunk_size * self.frames_per_chunk
        limit = self.video_config.num_frames // self.video_config.kernel_size
        if selected > limit:
            raise ValueError(
                f"mobile_videogpt: {num_frames} frames select {selected} frames for VideoMamba, which has "
                f"temporal position embeddings for {limit}; use at most "
                f"{limit // self.frames_per_chunk * self.chunk_size} frames"
            )


# Qwen2.5 language models as published (Qwen/Qwen2.5-0.5B-Instruct, Qwen/Qwen2.5-1.5B-Instruct).
QWEN25_TEXT = {
    "0.5b": dict(hidden_size=896, intermediate_size=4864, num_hidden_layers=24, num_attention_heads=14,
                 num_key_value_heads=2, tie_word_embeddings=True),
    "1.5b": dict(hidden_size=1536, intermediate_size=8960, num_hidden_layers=28, num_attention_heads=12,
                 num_key_value_heads=2, tie_word_embeddings=True),
}
# CLIP ViT-B/16 (openai/clip-vit-base-patch16) vision tower.
CLIP_VIT_B16 = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
                    image_size=224, patch_size=16, hidden_act="quick_gelu", layer_norm_eps=1e-5,
                    projection_dim=512)
# VideoMamba-M, 8 frames, 224 px (OpenGVLab videomamba_m16_25M_f8_res224).
VIDEOMAMBA_M = dict(image_size=224, patch_size=16, kernel_size=1, num_frames=8, embed_dim=576, depth=32,
                    alignment_dim=512)


def published_config(size: str) -> MobileVideoGPTConfig:
    """The architecture of the published Mobile-VideoGPT-``size`` checkpoint (``"0.5b"`` or ``"1.5b"``)."""
    if size not in QWEN25_TEXT:
        raise ValueError(f"unknown Mobile-VideoGPT size '{size}'; known: {', '.join(QWEN25_TEXT)}")
    text = dict(vocab_size=151936, max_position_embeddings=32768, rms_norm_eps=1e-6,
                rope_parameters={"rope_type": "default", "rope_theta": 1000000.0},
                bos_token_id=151643, eos_token_id=151645, pad_token_id=151643, **QWEN25_TEXT[size])
    return MobileVideoGPTConfig(
        text_config=text,
        context_config=dict(CLIP_VIT_B16),
        video_config=dict(VIDEOMAMBA_M),
        video_token_id=151665,
        tie_word_embeddings=True,
        bos_token_id=151643,
        eos_token_id=151645,
        pad_token_id=151643,
    )
