"""Mobile-VideoGPT as a transformers ``PreTrainedModel`` with ``generate``.

A clip ``pixel_values_videos`` ``(B, T, 3, S, S)`` with values in [0, 1] (``T`` a multiple of the chunk size)
becomes visual tokens in four steps:

1. every frame goes through the CLIP context encoder (patch tokens of layer ``context_feature_layer``);
2. in each chunk the ``frames_per_chunk`` most-attended frames are picked from those CLIP tokens
   (:mod:`.frame_selection`) and all picked frames of a clip go through VideoMamba as one video;
3. VideoMamba's patch tokens are average-pooled per frame to ``frame_pool``^2 and each chunk's picked frames
   are projected by the video ETP to ``video_pool``^2 tokens; every frame's CLIP tokens are projected by the
   context ETP to ``context_pool``^2 tokens;
4. the clip's context tokens (frame by frame) followed by its video tokens (chunk by chunk) replace the
   ``video_token_id`` placeholders of ``input_ids``, whose count must match exactly.

Each encoder normalises the frames with its own statistics (``config.video_mean`` / ``context_mean``...).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel, Qwen2Model
from transformers import initialization as init
from transformers.modeling_outputs import CausalLMOutputWithPast

from qvedbench.models.mobile_videogpt.clip import build_context_encoder, context_features
from qvedbench.models.mobile_videogpt.config import MobileVideoGPTConfig
from qvedbench.models.mobile_videogpt.frame_selection import select_frames
from qvedbench.models.mobile_videogpt.projector import ETPProjector
from qvedbench.models.mobile_videogpt.videomamba import BiMambaMixer, VideoMambaEncoder


class MobileVideoGPTPreTrainedModel(PreTrainedModel):
    config: MobileVideoGPTConfig
    config_class = MobileVideoGPTConfig
    base_model_prefix = "model"
    input_modalities = ("video", "text")
    supports_gradient_checkpointing = True
    _no_split_modules = ["Qwen2DecoderLayer", "CLIPEncoderLayer", "VideoMambaBlock"]
    _supports_flash_attn = True
    _supports_sdpa = True
    _supports_attention_backend = True

    @torch.no_grad()
    def _init_weights(self, module):
        super()._init_weights(module)
        if isinstance(module, BiMambaMixer):
            module.reset_ssm_parameters()
        elif isinstance(module, VideoMambaEncoder):
            std = module.config.initializer_range
            for param in (module.cls_token, module.pos_embed, module.temporal_pos_embedding):
                init.normal_(param, mean=0.0, std=std)


class MobileVideoGPTModel(MobileVideoGPTPreTrainedModel):
    """Encoders, projectors and the Qwen2 decoder (no language-modelling head)."""

    def __init__(self, config: MobileVideoGPTConfig):
        super().__init__(config)
        hidden = config.text_config.hidden_size
        self.context_encoder = build_context_encoder(config.context_config)
        self.video_encoder = VideoMambaEncoder(config.video_config)
        self.context_projector = ETPProjector(config.context_config.hidden_size, hidden, config.context_pool)
        self.video_projector = ETPProjector(config.video_config.embed_dim, hidden, config.video_pool)
        self.language_model = Qwen2Model(config.text_config)
        self.post_init()

    def get_input_embeddings(self):
        return self.language_model.embed_tokens

    def set_input_embeddings(self, value):
        self.language_model.embed_tokens = value

    def _normalise(self, frames: torch.Tensor, mean, std) -> torch.Tensor:
        mean = torch.tensor(mean, device=frames.device, dtype=torch.float32).view(3, 1, 1)
        std = torch.tensor(std, device=frames.device, dtype=torch.float32).view(3, 1, 1)
        return (frames.float() - mean) / std

    def video_features(self, pixel_values_videos: torch.Tensor) -> torch.Tensor:
        """``(B, T, 3, S, S)`` frames in [0, 1] -> ``(B, visual_token_count(T), hidden)``."""
        cfg = self.config
        if pixel_values_videos.ndim != 5 or pixel_values_videos.shape[2] != 3:
            raise ValueError(f"pixel_values_videos must be (B, T, 3, H, W), got {tuple(pixel_values_videos.shape)}")
        batch, frames = pixel_values_videos.shape[:2]
        cfg.check_frame_count(frames)
        chunks, k = frames // cfg.chunk_size, cfg.frames_per_chunk
        flat = pixel_values_videos.flatten(0, 1)

        context = context_features(
            self.context_encoder, self._normalise(flat, cfg.context_mean, cfg.context_std), cfg.context_feature_layer
        )  # (B*T, P, Dc)
        picked = select_frames(context.view(batch * chunks, cfg.chunk_size, *context.shape[1:]), k)
        offsets = torch.arange(batch * chunks, device=picked.device)[:, None] * cfg.chunk_size
        picked_frames = flat[(picked + offsets).flatten()]  # (B*chunks*k, 3, S, S)
        video_in = self._normalise(picked_frames, cfg.video_mean, cfg.video_std).view(batch, chunks * k,
                                                                                      *flat.shape[1:])
        video = self.video_encoder(video_in)[:, 1:]  # drop the class token: (B, chunks*k*P, Dv)
        grid = cfg.video_config.image_size // cfg.video_config.patch_size
        video = video.reshape(batch * chunks * k, grid, grid, -1).permute(0, 3, 1, 2)
        video = F.adaptive_avg_pool2d(video, cfg.frame_pool).flatten(2).transpose(1, 2)
        video = video.reshape(batch * chunks, k * cfg.frame_pool**2, -1)

        dtype = self.video_projector.mlp[0].weight.dtype
        video_tokens = self.video_projector(video.to(dtype)).reshape(batch, -1, cfg.hidden_size)
        context_tokens = self.context_projector(context.to(dtype)).reshape(batch, -1, cfg.hidden_size)
        return torch.cat([context_tokens, video_tokens], dim=1)

    def merge_video(self, input_ids: torch.Tensor, embeds: torch.Tensor, pixel_values_videos: torch.Tensor):
        """``embeds`` with each row's placeholder positions replaced by its clip's visual tokens."""
        features = self.video_features(pixel_values_videos).to(embeds.dtype)
        mask = input_ids == self.config.video_token_id
        counts = mask.sum(dim=1)
        if (counts != features.shape[1]).any():
            raise ValueError(
                f"mobile_videogpt: each sequence needs exactly {features.shape[1]} video placeholder tokens "
                f"(id {self.config.video_token_id}) for {pixel_values_videos.shape[1]} frames; got {counts.tolist()}"
            )
        return embeds.masked_scatter(mask.unsqueeze(-1), features)

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, inputs_embeds=None,
                pixel_values_videos=None, use_cache=None, **kwargs):
        if inputs_embeds is None:
            inputs_embeds = self.get_input_embeddings()(input_ids)
        if pixel_values_videos is not None:
            if input_ids is None:
                raise ValueError("mobile_videogpt: pixel_values_videos needs input_ids to locate the placeholders")
            inputs_embeds = self.merge_video(input_ids, inputs_embeds, pixel_values_videos)
        return self.language_model(inputs_embeds=inputs_embeds, attention_mask=attention_mask,
                                   position_ids=position_ids, cache=cache, use_cache=use_cache, **kwargs)


class MobileVideoGPTForConditionalGeneration(MobileVideoGPTPreTrainedModel, GenerationMixin):
    """Mobile-VideoGPT with its language-modelling head; ``generate`` takes ``pixel_values_videos``."""

    _tied_weights_keys = {"lm_head.weight": "model.language_model.embed_tokens.weight"}

    def __init__(self, config: MobileVideoGPTConfig):
        super().__init__(config)
        self.model = MobileVideoGPTModel(config)
        self.lm_head = nn.Linear(config.text_config.hidden_size, config.text_config.vocab_size, bias=False)
        self.post_init()

    def get_input_embeddings(self):
        return self.model.get_input_embeddings()

    def set_input_embeddings(self, value):
        self.model.set_input_embeddings(value)

    def get_output_embeddings(self):
        return self.lm_head

    def forward(self, input_ids=None, attention_mask=None, position_ids=None, cache=None, inputs_embeds=None,
                pixel_values_videos=None, labels=None, use_cache=None, logits_to_keep=0, **kwargs):
        outputs = self.model(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                             cache=cache, inputs_embeds=inputs_embeds, pixel_values_videos=pixel_values_videos,
                             use_cache=use_cache, **kwargs)
        hidden = outputs.last_hidden_state
        if isinstance(logits_to_keep, int) and logits_to_keep > 0:
            hidden = hidden[:, -logits_to_keep:]
        logits = self.lm_head(hidden)
        loss = None
        if labels is not None:
            loss = self.loss_function(logits=logits, labels=labels, vocab_size=self.config.text_config.vocab_size,
                                      **kwargs)
        return CausalLMOutputWithPast(loss=loss, logits=logits, cache=outputs.cache,
                                      hidden_states=outputs.hidden_states, attentions=outputs.attentions)
