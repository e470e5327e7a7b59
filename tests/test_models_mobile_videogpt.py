"""Mobile-VideoGPT implemented here: VideoMamba's bidirectional scan, frame selection, ETP projectors, the
adapter on a tiny offline model, and the strict mapping of the published checkpoint layout."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, get_peft_model
from safetensors.torch import save_file

import qvedbench.models.mobile_videogpt  # noqa: F401  (registers the family)
from qvedbench.io import write_json
from qvedbench.models import ModelSpec, load_adapter
from qvedbench.models.mobile_videogpt.checkpoint import (
    CheckpointMappingError,
    config_from_upstream,
    load_upstream,
    local_to_upstream,
    to_upstream_state_dict,
    upstream_to_local,
)
from qvedbench.models.mobile_videogpt.config import VideoMambaConfig, published_config
from qvedbench.models.mobile_videogpt.frame_selection import frame_scores, select_frames
from qvedbench.models.mobile_videogpt.modeling import MobileVideoGPTForConditionalGeneration
from qvedbench.models.mobile_videogpt.projector import ETPProjector
from qvedbench.models.mobile_videogpt.videomamba import BiMambaMixer, selective_scan_reference
from qvedbench.models.tiny import build_tiny_model
from qvedbench.train.trainable import prepare_trainable

torch.set_num_threads(1)

SYSTEM = "You are an expert physiotherapist. Name the exercise and correct its form."
PROMPT = "Please evaluate the exercise form shown. What mistakes, if any, are present?"
CORPUS = [SYSTEM, PROMPT, "squat - knees caving in; push them out over your toes",
          "lunge - torso leaning forward; keep your chest up", "plank - hips sagging; brace your core"] * 4
FRAMES, SIDE = 8, 32
VISUAL_TOKENS = FRAMES * 2 * 2 + (FRAMES // 8) * 2 * 2  # context 2x2 per frame + video 2x2 per 8-frame chunk
FIXTURES = Path(__file__).parent / "fixtures" / "checkpoints"


def _video(seed: int, frames: int = FRAMES, side: int = SIDE) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, side, side, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory):
    return build_tiny_model("mobile_videogpt", tmp_path_factory.mktemp("mvg") / "model", CORPUS, preset="s", seed=0)


@pytest.fixture(scope="module")
def tiny(tiny_path):
    return load_adapter(ModelSpec(name="tiny-mvg", family="mobile_videogpt", path=str(tiny_path), frames=FRAMES,
                                  resolution=SIDE))


# -- the bidirectional selective scan --------------------------------------------------------------------------


def _naive_scan(u, delta, A, B, C, D, z, delta_bias):
    """Element by element: h[b,d,n] <- exp(dt A[d,n]) h + dt B[b,n,t] u; y = sum_n C h + D u; y * silu(z)."""
    batch, dim, length = u.shape
    y = torch.zeros(batch, dim, length, dtype=torch.float64)
    for b in range(batch):
        for d in range(dim):
            h = torch.zeros(A.shape[1], dtype=torch.float64)
            for t in range(length):
                dt = torch.nn.functional.softplus(delta[b, d, t] + delta_bias[d]).double()
                h = torch.exp(dt * A[d].double()) * h + dt * B[b, :, t].double() * u[b, d, t].double()
                y[b, d, t] = (C[b, :, t].double() * h).sum() + D[d] * u[b, d, t]
    return y * torch.nn.functional.silu(z.double())


def test_selective_scan_matches_a_naive_loop():
    g = torch.Generator().manual_seed(0)
    b, d, n, length = 2, 3, 4, 6
    u, delta, z = (torch.randn(b, d, length, generator=g) for _ in range(3))
    A = -torch.rand(d, n, generator=g) * 2
    B, C = torch.randn(b, n, length, generator=g), torch.randn(b, n, length, generator=g)
    D, bias = torch.randn(d, generator=g), torch.randn(d, generator=g)
    fast = selective_scan_reference(u, delta, A, B, C, D, z, bias)
    assert torch.allclose(fast.double(), _naive_scan(u, delta, A, B, C, D, z, bias), atol=1e-5)


def _mixer(seed: int = 0) -> BiMambaMixer:
    torch.manual_seed(seed)
    mixer = BiMambaMixer(VideoMambaConfig(embed_dim=8, d_state=4, depth=1)).double()
    with torch.no_grad():
        for p in mixer.parameters():  # random, so the two directions really differ
            p.add_(torch.randn_like(p) * 0.3)
    return mixer


DIRECTION_PAIRS = [("conv1d.weight", "conv1d_b.weight"), ("conv1d.bias", "conv1d_b.bias"),
                   ("x_proj.weight", "x_proj_b.weight"), ("dt_proj.weight", "dt_proj_b.weight"),
                   ("dt_proj.bias", "dt_proj_b.bias"), ("A_log", "A_b_log"), ("D", "D_b")]


def test_backward_path_is_the_forward_path_on_the_reversed_sequence():
    mixer, swapped = _mixer(), _mixer()
    params, swapped_params = dict(mixer.named_parameters()), dict(swapped.named_parameters())
    with torch.no_grad():  # exchange the forward and backward scan parameters
        for forward, backward in DIRECTION_PAIRS:
            swapped_params[forward].copy_(params[backward])
            swapped_params[backward].copy_(params[forward])
    x = torch.randn(2, 7, 8, dtype=torch.float64)
    # Reversing the input and swapping the directions reverses the output exactly ...
    assert torch.allclose(swapped(x.flip(1)).flip(1), mixer(x), atol=1e-10)
    # ... while the directions' own parameters differ, so plain reversal does not.
    assert not torch.allclose(mixer(x.flip(1)).flip(1), mixer(x), atol=1e-3)


def test_both_directions_contribute_and_backward_weights_matter():
    mixer = _mixer()
    x = torch.randn(1, 7, 8, dtype=torch.float64, requires_grad=True)
    mixer(x)[0, 0].sum().backward()  # the first output sees the last input only through the backward scan
    assert x.grad[0, -1].abs().sum() > 0
    before = mixer(x).detach()
    with torch.no_grad():
        mixer.A_b_log.add_(0.5)
    assert not torch.allclose(mixer(x), before)


# -- frame selection and projectors ----------------------------------------------------------------------------


def test_frame_selection_keeps_the_most_attended_frames_in_order():
    g = torch.Generator().manual_seed(0)
    tokens = torch.randn(2, 8, 5, 16, generator=g) * 0.1
    tokens[0, 6] = 3.0  # every token of frame 6 (chunk 0) and frame 1 (chunk 1) attracts all attention
    tokens[1, 1] = 3.0
    scores = frame_scores(tokens)
    assert scores.shape == (2, 8)
    assert torch.allclose(scores.sum(dim=1), torch.full((2,), 40.0))  # each of 40 queries spreads weight 1
    assert select_frames(tokens, 1).tolist() == [[6], [1]]
    picked = select_frames(tokens, 4)
    assert picked.shape == (2, 4) and (picked.diff(dim=1) > 0).all()
    assert 6 in picked[0] and 1 in picked[1]
    with pytest.raises(ValueError, match="between 1 and the chunk length"):
        select_frames(tokens, 9)


def test_etp_projector_pools_a_square_grid():
    projector = ETPProjector(12, 20, pool=2)
    assert projector(torch.randn(3, 16, 12)).shape == (3, 4, 20)
    with pytest.raises(ValueError, match="square grid"):
        projector(torch.randn(3, 12, 12))


# -- the adapter on a tiny model -------------------------------------------------------------------------------


def test_tiny_build_is_deterministic_and_reloads_bit_exactly(tiny_path, tmp_path):
    again = build_tiny_model("mobile_videogpt", tmp_path / "again", CORPUS, preset="s", seed=0)
    assert (again / "model.safetensors").read_bytes() == (tiny_path / "model.safetensors").read_bytes()
    manifest = json.loads((tiny_path / "tiny_model.json").read_text())
    assert manifest["family"] == "mobile_videogpt"
    reloaded = MobileVideoGPTForConditionalGeneration.from_pretrained(tiny_path)
    fresh = build_tiny_model("mobile_videogpt", tmp_path / "other", CORPUS, preset="s", seed=1)
    other = MobileVideoGPTForConditionalGeneration.from_pretrained(fresh).state_dict()
    state = reloaded.state_dict()
    assert any(not torch.equal(state[k], other[k]) for k in state)  # the seed matters
    from safetensors.torch import load_file

    saved = load_file(tiny_path / "model.safetensors")
    assert set(saved) == set(state) and all(torch.equal(saved[k], state[k]) for k in saved)


def test_encode_expands_the_placeholder_and_masks_labels_to_the_answer(tiny):
    answers = ["squat - knees caving in; push them out over your toes", "plank"]
    batch = tiny.encode([_video(0), _video(1)], SYSTEM, [PROMPT, "Short?"], answers=answers)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert batch["pixel_values_videos"].shape == (2, FRAMES, 3, SIDE, SIDE)
    assert (ids == tiny.model.config.video_token_id).sum(dim=1).tolist() == [VISUAL_TOKENS] * 2
    for row in range(2):
        kept = labels[row] != -100
        assert tiny.tokenizer.decode(ids[row][kept]) == answers[row] + "<|im_end|>"
        assert not (kept & (mask[row] == 0)).any()
    gen = tiny.encode([_video(0), _video(1)], SYSTEM, [PROMPT, "Short?"])
    assert gen["attention_mask"][1, 0] == 0 and gen["attention_mask"][:, -1].all()  # left padding
    text = tiny.tokenizer.decode(gen["input_ids"][0])
    assert text.startswith(f"<|im_start|>system\n{SYSTEM}<|im_end|>\n<|im_start|>user\n<video>")
    assert text.endswith(f"<video>\n{PROMPT}<|im_end|>\n<|im_start|>assistant\n")


def test_frame_count_must_fill_whole_chunks(tiny):
    with pytest.raises(ValueError, match="multiple of the chunk size 8"):
        tiny.encode([_video(0, frames=6)], SYSTEM, [PROMPT])
    batch = tiny.encode([_video(0, frames=16)], SYSTEM, [PROMPT])  # two chunks: 8 frames reach VideoMamba
    with torch.no_grad():
        assert torch.isfinite(tiny.model(**batch).logits).all()
    with pytest.raises(ValueError, match="temporal position embeddings"):
        tiny.model.config.check_frame_count(24)


def test_a_frame_count_the_model_cannot_take_fails_at_load(tiny_path):
    with pytest.raises(ValueError, match="model 'bad': frames 12: .*multiple of the chunk size 8"):
        load_adapter(ModelSpec(name="bad", family="mobile_videogpt", path=str(tiny_path), frames=12))


def test_placeholder_count_mismatch_fails(tiny):
    batch = tiny.encode([_video(0)], SYSTEM, [PROMPT])
    ids = batch["input_ids"].clone()
    ids[0, (ids[0] == tiny.model.config.video_token_id).nonzero()[0]] = 0
    with pytest.raises(ValueError, match="exactly 36 video placeholder tokens"):
        tiny.model(input_ids=ids, attention_mask=batch["attention_mask"],
                   pixel_values_videos=batch["pixel_values_videos"])


def test_video_changes_the_output(tiny):
    a = tiny.encode([_video(0)], SYSTEM, [PROMPT])
    b = tiny.encode([_video(5)], SYSTEM, [PROMPT])
    with torch.no_grad():
        assert not torch.allclose(tiny.model(**a).logits[0, -1], tiny.model(**b).logits[0, -1])


def test_generate_batched_equals_one_at_a_time(tiny):
    videos, prompts = [_video(0), _video(1), _video(2)], [PROMPT, "Short?", "What exercise is this?"]
    batched = tiny.generate(videos, SYSTEM, prompts, max_new_tokens=8)
    single = [tiny.generate([v], SYSTEM, [p], max_new_tokens=8)[0] for v, p in zip(videos, prompts)]
    assert batched == single and len(batched) == 3


def _in(name: str, modules: list[str]) -> bool:
    return any(name == m or name.startswith(m + ".") for m in modules)


def test_trainable_groups_partition_parameters_and_lora_targets_only_the_lm(tiny):
    groups = tiny.trainable_groups()
    names = [n for n, _ in tiny.model.named_parameters()]
    for name in names:
        owners = [g for g in ("projector", "vision", "language", "lm_head") if _in(name, groups.get(g, []))]
        assert len(owners) == 1, (name, owners)
    assert len(groups["language_blocks"]) == tiny.model.config.text_config.num_hidden_layers
    assert any(n.startswith("model.video_encoder.layers.0.mixer.A_b_log") for n in names)
    targets = tiny.lora_target_modules()
    assert targets and all(t.startswith("model.language_model.layers.") for t in targets)
    assert len(targets) == 7 * tiny.model.config.text_config.num_hidden_layers


def test_last_n_blocks_trains_only_those_blocks_and_the_projector(tiny):
    cfg = {"method": "last_n", "last_n": 1, "train_projector": True}
    model = prepare_trainable(tiny, cfg)
    try:
        trainable = {n for n, p in model.named_parameters() if p.requires_grad}
        groups = tiny.trainable_groups()
        expected = {n for n, _ in model.named_parameters()
                    if _in(n, groups["language_blocks"][-1:] + groups["projector"])}
        assert trainable == expected
    finally:
        for p in tiny.model.parameters():
            p.requires_grad_(True)


def _logits(adapter, model=None) -> torch.Tensor:
    batch = adapter.encode([_video(0)], SYSTEM, [PROMPT])
    with torch.no_grad():
        return (model or adapter.model)(**batch).logits


def test_lora_loss_decreases_and_checkpoint_round_trips(tiny_path, tmp_path):
    adapter = load_adapter(ModelSpec(name="t", family="mobile_videogpt", path=str(tiny_path), frames=FRAMES))
    torch.manual_seed(0)
    model = get_peft_model(adapter.model, LoraConfig(r=8, lora_alpha=16, target_modules=adapter.lora_target_modules(),
                                                     modules_to_save=adapter.trainable_groups()["projector"]))
    batch = adapter.encode([_video(0), _video(1)], SYSTEM, [PROMPT, PROMPT],
                           answers=["squat - knees caving in", "plank - hips sagging"])
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for _ in range(5):
        loss = model(**batch).loss
        assert torch.isfinite(loss)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]
    model.eval()
    adapter.save_checkpoint(model, str(tmp_path / "lora"))
    assert (tmp_path / "lora" / "adapter_config.json").is_file()
    expected = _logits(adapter, model)
    spec = ModelSpec(name="t", family="mobile_videogpt", path=str(tiny_path), frames=FRAMES)
    restored = load_adapter(spec, checkpoint=str(tmp_path / "lora"))
    assert restored.load_info["checkpoint_kind"] == "lora"
    assert torch.allclose(_logits(restored), expected, atol=1e-5)

    merged = model.merge_and_unload()
    adapter.save_checkpoint(merged, str(tmp_path / "full"))
    full = load_adapter(spec, checkpoint=str(tmp_path / "full"))
    assert full.load_info["checkpoint_kind"] == "full"
    assert torch.allclose(_logits(full), expected, atol=1e-5)


# -- the published checkpoint layout ---------------------------------------------------------------------------


def _save_upstream(model, folder: Path, drop=(), extra=None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.contiguous() for k, v in to_upstream_state_dict(model).items() if k not in drop}
    tensors.update(extra or {})
    save_file(tensors, folder / "model.safetensors")
    write_json(folder / "config.json", {"model_type": "MobileVideoGPT_qwen"})
    return folder


def test_key_map_round_trips_every_name():
    with torch.device("meta"):
        model = MobileVideoGPTForConditionalGeneration(published_config("0.5b"))
    for name in model.state_dict():
        upstream = local_to_upstream(name)
        assert upstream is not None and upstream_to_local(upstream) == name
    assert local_to_upstream("model.video_encoder.layers.3.mixer.x_proj_b.weight") == \
        "model.vision_tower.vision_encoder.layers.3.mixer.x_proj_b.weight"
    assert local_to_upstream("model.video_projector.peg.weight") == "model.mm_projector.peg.peg.0.weight"
    assert local_to_upstream("model.context_encoder.encoder.layers.0.mlp.fc1.bias") == \
        "model.image_vision_tower.vision_tower.vision_model.encoder.layers.0.mlp.fc1.bias"


def test_upstream_layout_reloads_exactly(tiny, tmp_path):
    folder = _save_upstream(tiny.model, tmp_path / "up")
    loaded = load_upstream(folder, MobileVideoGPTForConditionalGeneration, config=tiny.model.config)
    original, reloaded = tiny.model.state_dict(), loaded.state_dict()
    assert set(original) == set(reloaded)
    assert all(torch.equal(original[k], reloaded[k]) for k in original)
    assert torch.equal(_logits(tiny, loaded), _logits(tiny))


@pytest.mark.parametrize("drop", ["model.vision_tower.vision_encoder.layers.1.mixer.A_b_log",
                                  "model.vision_tower.vision_encoder.layers.0.mixer.conv1d_b.weight",
                                  "model.image_mm_projector.peg.peg.0.bias", "lm_head.weight"])
def test_missing_tensor_fails_with_its_name(tiny, tmp_path, drop):
    folder = _save_upstream(tiny.model, tmp_path / "up", drop=(drop,))
    with pytest.raises(CheckpointMappingError, match=f"missing tensor.*{drop.replace('.', '[.]')}"):
        load_upstream(folder, MobileVideoGPTForConditionalGeneration, config=tiny.model.config)


@pytest.mark.parametrize("extra, pattern", [
    ("model.vision_tower.vision_encoder.pool_norm.weight", "unexpected tensor"),
    ("something.else", "unexpected tensor.*something[.]else"),
])
def test_extra_tensor_fails_with_its_name(tiny, tmp_path, extra, pattern):
    folder = _save_upstream(tiny.model, tmp_path / "up", extra={extra: torch.zeros(3)})
    with pytest.raises(CheckpointMappingError, match=pattern) as info:
        load_upstream(folder, MobileVideoGPTForConditionalGeneration, config=tiny.model.config)
    assert extra in str(info.value)


def test_wrong_shape_fails(tiny, tmp_path):
    name = "model.mm_projector.mlp.mlp.0.bias"
    folder = _save_upstream(tiny.model, tmp_path / "up", drop=(name,), extra={name: torch.zeros(5)})
    with pytest.raises(CheckpointMappingError, match="wrong shape.*mlp[.]mlp[.]0[.]bias"):
        load_upstream(folder, MobileVideoGPTForConditionalGeneration, config=tiny.model.config)


def test_adapter_loads_an_upstream_layout_folder(tiny, tiny_path, tmp_path, monkeypatch):
    # The published config.json names the real architecture; point the conversion at the tiny one instead.
    import qvedbench.models.mobile_videogpt.checkpoint as checkpoint

    monkeypatch.setattr(checkpoint, "config_from_upstream", lambda upstream, source: tiny.model.config)
    folder = _save_upstream(tiny.model, tmp_path / "up")
    for name in ("tokenizer.json", "tokenizer_config.json"):  # a published folder has no processor file
        (folder / name).write_bytes((tiny_path / name).read_bytes())
    adapter = load_adapter(ModelSpec(name="up", family="mobile_videogpt", path=str(folder), frames=FRAMES))
    assert adapter.load_info["format"] == "upstream"
    assert torch.equal(_logits(adapter), _logits(tiny))


def test_bf16_on_cpu_trains_and_generates(tiny_path):
    adapter = load_adapter(ModelSpec(name="bf", family="mobile_videogpt", path=str(tiny_path), frames=FRAMES,
                                     precision="bf16", device="cpu"))
    assert next(adapter.model.parameters()).dtype == torch.bfloat16
    batch = adapter.encode([_video(0)], SYSTEM, [PROMPT], answers=["squat"])
    loss = adapter.model(**adapter._to_model(batch)).loss
    assert torch.isfinite(loss)
    loss.backward()
    assert len(adapter.generate([_video(0)], SYSTEM, [PROMPT], max_new_tokens=4)) == 1


def test_published_config_json_converts():
    upstream = {"model_type": "MobileVideoGPT_qwen", "hidden_size": 896, "intermediate_size": 4864,
                "num_hidden_layers": 24, "num_attention_heads": 14, "num_key_value_heads": 2, "vocab_size": 151936,
                "rope_theta": 1000000.0, "rms_norm_eps": 1e-6, "tie_word_embeddings": True,
                "mm_projector_type": "etp", "image_mm_projector_type": "etp", "mm_vision_select_layer": -2,
                "image_mm_vision_tower": "openai/clip-vit-base-patch16", "mm_vision_tower": "OpenGVLab/VideoMamba"}
    config = config_from_upstream(upstream)
    reference = published_config("0.5b")
    assert config.text_config.num_hidden_layers == 24 and config.tie_word_embeddings
    assert config.video_config.to_dict() == reference.video_config.to_dict()
    with pytest.raises(ValueError, match="only the ETP projector"):
        config_from_upstream({**upstream, "mm_projector_type": "mlp2x_gelu"})


@pytest.mark.parametrize("size", ["0.5b", "1.5b"])
def test_meta_model_matches_the_published_tensor_list(size):
    fixture = json.loads((FIXTURES / f"mobile_videogpt_{size.replace('.', '_')}.json").read_text())
    assert fixture["source"]
    published = {t["name"]: tuple(t["shape"]) for t in fixture["tensors"]}
    with torch.device("meta"):
        model = MobileVideoGPTForConditionalGeneration(published_config(size))
    ours = {name: tuple(t.shape) for name, t in to_upstream_state_dict(model).items()}
    assert set(ours) == set(published), (sorted(set(ours) - set(published))[:5],
                                         sorted(set(published) - set(ours))[:5])
    assert ours == published
    assert sum(1 for n in published if "mixer.A_b_log" in n) == 32  # every backward scan is there
