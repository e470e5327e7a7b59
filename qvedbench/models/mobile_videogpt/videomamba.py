"""VideoMamba: a video encoder built from bidirectional Mamba (selective state-space) blocks, in plain PyTorch.

A clip ``(B, T, 3, H, W)`` is cut into ``kernel_size x patch x patch`` tubelets (a 3D convolution), a class
token is prepended, spatial and temporal position embeddings are added and the tokens, ordered time-major
(``[cls, t0 patches, t1 patches, ...]``), run through ``depth`` residual blocks ``x -> x + Mixer(RMSNorm(x))``
and a final RMSNorm.

Each mixer scans the sequence twice with separate parameters: forward, and backward over the reversed
sequence (the ``*_b`` tensors: ``A_b_log``, ``D_b``, ``conv1d_b``, ``x_proj_b``, ``dt_proj_b``); the two
outputs, the backward one flipped back into order, are summed before the shared output projection. The
scan itself (:func:`selective_scan`) is a plain loop over time; when the ``mamba_ssm`` package is importable
and the tensors are on CUDA its fused kernel is used instead (same inputs, same result up to rounding).
"""
from __future__ import annotations

import functools
import importlib.util
import math

import torch
import torch.nn.functional as F
from torch import nn
from transformers import initialization as init

from qvedbench.models.mobile_videogpt.config import VideoMambaConfig

DT_MIN, DT_MAX, DT_FLOOR = 1e-3, 1e-1, 1e-4


@functools.lru_cache(maxsize=1)
def _fast_scan():
    if importlib.util.find_spec("mamba_ssm") is None:
        return None
    try:
        from mamba_ssm.ops.selective_scan_interface import selective_scan_fn
    except ImportError:
        return None
    return selective_scan_fn


def selective_scan_reference(u, delta, A, B, C, D, z, delta_bias):
    """The selective scan, step by step, in float32.

    ``u``, ``delta``, ``z``: ``(batch, d_inner, L)``; ``A``: ``(d_inner, d_state)``; ``B``, ``C``:
    ``(batch, d_state, L)``; ``D``, ``delta_bias``: ``(d_inner,)``. With ``dt = softplus(delta + delta_bias)``:
    ``h_t = exp(dt_t A) h_{t-1} + dt_t B_t u_t``, ``y_t = C_t . h_t + D u_t``, output ``y * silu(z)``.
    """
    dtype = u.dtype
    u, delta, B, C, z = (t.float() for t in (u, delta, B, C, z))
    dt = F.softplus(delta + delta_bias.float()[None, :, None])  # (b, d, L)
    decay = torch.exp(dt.unsqueeze(-1) * A.float()[None, :, None, :])  # (b, d, L, n)
    drive = (dt * u).unsqueeze(-1) * B.transpose(1, 2).unsqueeze(1)  # (b, d, L, n)
    state = u.new_zeros(u.shape[0], u.shape[1], A.shape[1])
    outputs = []
    # unbind, not indexing per step: the backward of one index allocates a zero gradient of the whole tensor,
    # which made training quadratic in the sequence length.
    for decay_t, drive_t, c_t in zip(decay.unbind(2), drive.unbind(2), C.unbind(2)):
        state = decay_t * state + drive_t
        outputs.append(torch.einsum("bdn,bn->bd", state, c_t))
    y = torch.stack(outputs, dim=-1) + u * D.float()[None, :, None]
    return (y * F.silu(z)).to(dtype)


def selective_scan(u, delta, A, B, C, D, z, delta_bias):
    """:func:`selective_scan_reference`, or mamba_ssm's CUDA kernel for CUDA tensors when it is installed."""
    fast = _fast_scan() if u.is_cuda else None
    if fast is not None:
        u, delta, B, C, z = (t.contiguous() for t in (u, delta, B, C, z))
        return fast(u, delta, A, B, C, D.float(), z=z, delta_bias=delta_bias.float(), delta_softplus=True)
    return selective_scan_reference(u, delta, A, B, C, D, z, delta_bias)


class BiMambaMixer(nn.Module):
    """Bidirectional Mamba mixer (parameter names as in VideoMamba's ``Mamba(bimamba=True)``)."""

    def __init__(self, config: VideoMambaConfig):
        super().__init__()
        d_model, self.d_state, self.dt_rank = config.embed_dim, config.d_state, config.dt_rank
        self.d_inner = config.expand * d_model
        self.in_proj = nn.Linear(d_model, 2 * self.d_inner, bias=False)
        self.out_proj = nn.Linear(self.d_inner, d_model, bias=False)
        for suffix in ("", "_b"):
            self.add_module("conv1d" + suffix, nn.Conv1d(self.d_inner, self.d_inner, config.d_conv,
                                                       groups=self.d_inner, padding=config.d_conv - 1))
            self.add_module("x_proj" + suffix, nn.Linear(self.d_inner, self.dt_rank + 2 * self.d_state, bias=False))
            self.add_module("dt_proj" + suffix, nn.Linear(self.dt_rank, self.d_inner, bias=True))
            self.register_parameter("A" + suffix + "_log", nn.Parameter(torch.empty(self.d_inner, self.d_state)))
            self.register_parameter("D" + suffix, nn.Parameter(torch.empty(self.d_inner)))
        self.reset_ssm_parameters()

    @torch.no_grad()
    def reset_ssm_parameters(self) -> None:
        """Mamba's initialisation: ``A = -(1..d_state)``, ``D = 1``, ``softplus(dt bias)`` log-uniform in
        [1e-3, 1e-1], dt weights uniform in +-dt_rank^-0.5. Tensors already loaded from a checkpoint are left
        alone (transformers' init functions skip them)."""
        if self.in_proj.weight.is_meta:
            return
        for suffix in ("", "_b"):
            a = torch.arange(1, self.d_state + 1, dtype=torch.float32).repeat(self.d_inner, 1)
            init.copy_(getattr(self, "A" + suffix + "_log"), torch.log(a))
            init.ones_(getattr(self, "D" + suffix))
            dt_proj = getattr(self, "dt_proj" + suffix)
            init.uniform_(dt_proj.weight, -self.dt_rank**-0.5, self.dt_rank**-0.5)
            dt = torch.exp(torch.rand(self.d_inner) * (math.log(DT_MAX) - math.log(DT_MIN)) + math.log(DT_MIN))
            dt = dt.clamp(min=DT_FLOOR)
            init.copy_(dt_proj.bias, dt + torch.log(-torch.expm1(-dt)))  # inverse of softplus

    def scan(self, xz: torch.Tensor, suffix: str) -> torch.Tensor:
        """One direction over ``xz`` ``(B, 2*d_inner, L)`` with the parameters named ``*suffix``."""
        length = xz.shape[-1]
        x, z = xz.chunk(2, dim=1)
        x = F.silu(getattr(self, "conv1d" + suffix)(x)[..., :length])  # causal depthwise convolution
        dt, B, C = getattr(self, "x_proj" + suffix)(x.transpose(1, 2)).split(
            [self.dt_rank, self.d_state, self.d_state], dim=-1
        )
        dt_proj = getattr(self, "dt_proj" + suffix)
        delta = F.linear(dt, dt_proj.weight).transpose(1, 2)
        A = -torch.exp(getattr(self, "A" + suffix + "_log").float())
        return selective_scan(x, delta, A, B.transpose(1, 2), C.transpose(1, 2), getattr(self, "D" + suffix),
                              z, dt_proj.bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        xz = self.in_proj(hidden).transpose(1, 2)  # (B, 2*d_inner, L)
        forward = self.scan(xz, "")
        backward = self.scan(xz.flip(-1), "_b").flip(-1)
        return self.out_proj((forward + backward).transpose(1, 2).to(hidden.dtype))


class VideoMambaBlock(nn.Module):
    """Pre-norm residual block; carries the residual stream separately (in float32) like the upstream one."""

    def __init__(self, config: VideoMambaConfig):
        super().__init__()
        self.mixer = BiMambaMixer(config)
        self.norm = nn.RMSNorm(config.embed_dim, eps=config.norm_epsilon)

    def forward(self, hidden: torch.Tensor, residual: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
        residual = hidden.float() if residual is None else residual + hidden.float()
        hidden = self.mixer(self.norm(residual.to(self.norm.weight.dtype)))
        return hidden, residual


class PatchEmbed(nn.Module):
    def __init__(self, config: VideoMambaConfig):
        super().__init__()
        kernel = (config.kernel_size, config.patch_size, config.patch_size)
        self.proj = nn.Conv3d(3, config.embed_dim, kernel_size=kernel, stride=kernel)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.proj(video)  # (B, C, T', H', W')


class AlignmentHead(nn.Module):
    """VideoMamba's pretraining-time CLIP-alignment decoder (Linear + LayerNorm). Unused by Mobile-VideoGPT;
    kept so the published checkpoint's tensors all load."""

    def __init__(self, config: VideoMambaConfig):
        super().__init__()
        self.head = nn.Linear(config.embed_dim, config.alignment_dim)
        self.norm = nn.LayerNorm(config.alignment_dim)


class VideoMambaEncoder(nn.Module):
    """``(B, T, 3, H, W)`` normalised frames -> ``(B, 1 + T*N, C)`` tokens (class token first, time-major)."""

    def __init__(self, config: VideoMambaConfig):
        super().__init__()
        self.config = config
        grid = config.image_size // config.patch_size
        self.patch_embed = PatchEmbed(config)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, config.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, grid * grid + 1, config.embed_dim))
        self.temporal_pos_embedding = nn.Parameter(
            torch.zeros(1, config.num_frames // config.kernel_size, config.embed_dim)
        )
        self.layers = nn.ModuleList(VideoMambaBlock(config) for _ in range(config.depth))
        self.norm = nn.RMSNorm(config.embed_dim, eps=config.norm_epsilon)
        self.clip_decoder = nn.ModuleList([AlignmentHead(config)])

    def embed(self, video: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(video.transpose(1, 2).to(self.patch_embed.proj.weight.dtype))
        batch, channels, steps = x.shape[:3]
        if steps > self.temporal_pos_embedding.shape[1]:
            raise ValueError(f"VideoMamba: {steps} time steps but temporal position embeddings for "
                             f"{self.temporal_pos_embedding.shape[1]}")
        x = x.flatten(3).permute(0, 2, 3, 1)  # (B, T', N, C)
        patches = x + self.pos_embed[:, None, 1:]
        if steps > 1:  # a single frame is an image: no temporal embedding, as upstream
            patches = patches + self.temporal_pos_embedding[:, :steps, None]
        cls = (self.cls_token + self.pos_embed[:, :1]).expand(batch, -1, -1)
        return torch.cat([cls, patches.reshape(batch, steps * patches.shape[2], channels)], dim=1)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        hidden, residual = self.embed(video), None
        for layer in self.layers:
            hidden, residual = layer(hidden, residual)
        return self.norm((residual + hidden.float()).to(self.norm.weight.dtype))
