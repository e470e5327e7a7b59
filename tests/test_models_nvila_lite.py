"""NVILA-Lite: native model, token compression, the published checkpoint map, the adapter on a tiny model, and the
remote-code gate."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import save_file

from qvedbench.models import ModelSpec, load_adapter
from qvedbench.models.nvila_lite.adapter import NVILALiteAdapter, load_native_model
from qvedbench.models.nvila_lite.checkpoint import (
    CheckpointMappingError,
    expected_tensors,
    map_state_dict,
    ours_to_published,
    published_to_ours,
)
from qvedbench.models.nvila_lite.config import nvila_lite_2b_config
from qvedbench.models.nvila_lite.modeling import (
    NVILALiteForConditionalGeneration,
    spatial_compress,
    temporal_compress,
)
from qvedbench.models.nvila_lite.remote import RemoteCodeNotAllowed, require_remote_code
from qvedbench.models.tiny import build_tiny_model
from qvedbench.train.trainable import prepare_trainable

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoints" / "nvila_lite_2b.json"
SYSTEM = "You are an expert physiotherapist. Name the exercise and correct its form."
PROMPT = "Please evaluate the exercise form shown. What mistakes, if any, are present?"
CORPUS = [
    SYSTEM,
    PROMPT,
    "squat - knees caving in; push them out over your toes",
    "lunge - torso leaning forward; keep your chest up",
    "plank - hips sagging; brace your core",
] * 4
FRAMES, SIDE = 4, 64
TOKENS_PER_FRAME = 9  # 64 px / 8 px patches = 8x8 grid, padded to 9x9, 3x3 blocks -> 3x3 tokens


def _video(seed: int, frames: int = FRAMES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, SIDE, SIDE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.set_num_threads(1)
    path = build_tiny_model("nvila_lite", tmp_path_factory.mktemp("nvila") / "model", CORPUS, preset="s", seed=0)
    return load_adapter(ModelSpec(name="tiny-nvila", family="nvila_lite", path=str(path), frames=FRAMES,
                                  resolution=SIDE))


def _logits(adapter, model=None) -> torch.Tensor:
    batch = adapter.encode([_video(3)], SYSTEM, [PROMPT], answers=["lunge"])
    with torch.no_grad():
        return (model or adapter.model)(**batch).logits


# -- token compression ---------------------------------------------------------------------------------------------


def test_spatial_compression_pads_and_concatenates_3x3_blocks():
    features = torch.arange(2 * 32 * 32 * 5, dtype=torch.float32).reshape(2, 32 * 32, 5)
    out = spatial_compress(features, 3)
    assert out.shape == (2, 11 * 11, 45)  # the published 448-px frame: 32x32 patches -> 11x11 tokens
    grid = features.reshape(2, 32, 32, 5)
    # Token (row 1, col 2) holds patches rows 3-5, cols 6-8, row by row.
    expected = grid[:, 3:6, 6:9].reshape(2, 45)
    torch.testing.assert_close(out[:, 1 * 11 + 2], expected)
    # The last column of blocks covers patch column 30, 31 and a zero pad.
    assert torch.all(out[:, 10].reshape(2, 3, 3, 5)[:, :, 2] == 0)
    with pytest.raises(ValueError, match="square grid"):
        spatial_compress(torch.zeros(1, 10, 4), 3)


def test_temporal_compression_averages_consecutive_frames():
    features = torch.arange(8, dtype=torch.float32).reshape(1, 4, 1, 2).expand(1, 4, 3, 2).contiguous()
    out = temporal_compress(features, 2)
    assert out.shape == (1, 2, 3, 2)
    torch.testing.assert_close(out[0, :, 0], torch.tensor([[1.0, 2.0], [5.0, 6.0]]))
    assert torch.equal(temporal_compress(features, 1), features)
    with pytest.raises(ValueError, match="multiple of temporal_pool 3"):
        temporal_compress(features, 3)


def test_video_features_shape_follows_both_compressions(tiny):
    model = tiny.model
    pixels = torch.randn(2, 4, 3, SIDE, SIDE)
    assert model.get_video_features(pixels).shape == (2, 4, TOKENS_PER_FRAME, model.config.text_config.hidden_size)
    model.config.temporal_pool = 2
    try:
        assert model.get_video_features(pixels).shape[:3] == (2, 2, TOKENS_PER_FRAME)
        assert len(tiny.video_token_ids(3)) == 2 * (TOKENS_PER_FRAME + len(tiny.separator_ids))
    finally:
        model.config.temporal_pool = 1


# -- the published checkpoint format -------------------------------------------------------------------------------


def test_real_config_on_meta_device_matches_published_tensor_list():
    fixture = json.loads(FIXTURE.read_text())
    with torch.device("meta"):
        model = NVILALiteForConditionalGeneration(nvila_lite_2b_config())
    ours = {ours_to_published(name): list(shape) for name, shape in expected_tensors(model).items()}
    published = {t["name"]: t["shape"] for t in fixture["tensors"]}
    assert set(ours) == set(published)
    assert ours == published
    assert sum(p.numel() for p in model.parameters()) == fixture["parameters"]["total"]
    # The loader maps the whole published list onto the model with nothing missing or left over.
    fake = {t["name"]: torch.empty(t["shape"], dtype=torch.bfloat16, device="meta") for t in fixture["tensors"]}
    assert len(map_state_dict(fake, model)) == len(fixture["tensors"])
    assert model.config.tokens_per_frame() == 121


def test_name_mapping_round_trips():
    for ours in ("vision_tower.encoder.layers.3.mlp.fc1.weight", "mm_projector.fc_mid.bias",
                 "llm.model.layers.0.self_attn.q_proj.weight"):
        assert published_to_ours(ours_to_published(ours)) == ours
    assert published_to_ours("mm_projector.layers.7.weight") == "mm_projector.fc_out.weight"
    assert published_to_ours("vision_tower.vision_model.post_layernorm.bias") == "vision_tower.post_layernorm.bias"
    with pytest.raises(CheckpointMappingError, match="mm_projector.layers.3.weight"):
        published_to_ours("mm_projector.layers.3.weight")  # a GELU position holds no weights


def _published_state(model) -> dict[str, torch.Tensor]:
    return {ours_to_published(n): t.clone() for n, t in model.state_dict().items() if n in expected_tensors(model)}


def test_mapping_fails_loudly_on_missing_extra_or_misshapen_tensors(tiny):
    state = _published_state(tiny.model)
    missing = dict(state)
    del missing["vision_tower.vision_model.encoder.layers.1.mlp.fc2.bias"]
    with pytest.raises(CheckpointMappingError, match=r"1 missing tensor\(s\): vision_tower.vision_model.encoder"):
        map_state_dict(missing, tiny.model, source="ckpt-x")
    extra = dict(state)
    extra["vision_tower.vision_model.head.probe"] = torch.zeros(1)
    with pytest.raises(CheckpointMappingError, match=r"ckpt-x.*unexpected tensor\(s\): vision_tower.vision_model.head"):
        map_state_dict(extra, tiny.model, source="ckpt-x")
    extra["something.else"] = torch.zeros(1)
    with pytest.raises(CheckpointMappingError, match=r"unknown tensor\(s\): something.else"):
        map_state_dict(extra, tiny.model)
    bad = dict(state)
    bad["mm_projector.layers.2.bias"] = torch.zeros(3)
    with pytest.raises(ValueError, match=r"'mm_projector.layers.2.bias' has shape \(3,\)"):
        map_state_dict(bad, tiny.model)


def _write_published(folder: Path, tiny, legacy: bool) -> None:
    state = _published_state(tiny.model)
    config = tiny.model.config
    if not legacy:
        folder.mkdir(parents=True)
        save_file(state, str(folder / "model.safetensors"))
        config.save_pretrained(folder)
        tiny.processor.save_pretrained(folder)
        return
    for sub in ("llm", "vision_tower", "mm_projector"):
        (folder / sub).mkdir(parents=True)
        part = {n[len(sub) + 1:]: t for n, t in state.items() if n.startswith(sub + ".")}
        save_file(part, str(folder / sub / "model.safetensors"))
    config.text_config.save_pretrained(folder / "llm")
    config.vision_config.save_pretrained(folder / "vision_tower")
    (folder / "mm_projector" / "config.json").write_text('{"mm_projector_type": "mlp_downsample_3x3_fix"}')
    tiny.processor.tokenizer.save_pretrained(folder / "llm")
    tiny.processor.image_processor.save_pretrained(folder / "vision_tower")


@pytest.mark.parametrize("legacy", [False, True], ids=["hf-layout", "original-layout"])
def test_published_layouts_load_to_the_same_model(tiny, tmp_path, legacy):
    folder = tmp_path / "published"
    _write_published(folder, tiny, legacy)
    loaded = load_native_model(folder, torch.float32, "sdpa")
    for name, tensor in tiny.model.state_dict().items():
        assert torch.equal(loaded.state_dict()[name], tensor), name
    assert loaded.llm.lm_head.weight is loaded.llm.model.embed_tokens.weight  # tied, as in Qwen2-1.5B
    adapter = load_adapter(replace(tiny.spec, path=str(folder)))
    torch.testing.assert_close(_logits(adapter), _logits(tiny))


def test_original_layout_with_another_projector_type_is_refused(tiny, tmp_path):
    folder = tmp_path / "published"
    _write_published(folder, tiny, legacy=True)
    (folder / "mm_projector" / "config.json").write_text('{"mm_projector_type": "mlp_downsample"}')
    with pytest.raises(ValueError, match="projector type 'mlp_downsample' is not NVILA-Lite's"):
        load_native_model(folder, torch.float32, "sdpa")


def test_published_folder_with_an_extra_tensor_is_refused(tiny, tmp_path):
    folder = tmp_path / "published"
    _write_published(folder, tiny, legacy=False)
    from safetensors.torch import load_file

    state = load_file(str(folder / "model.safetensors"))
    state["llm.lm_head.weight"] = state["llm.model.embed_tokens.weight"].clone()  # a tied head is never stored
    save_file(state, str(folder / "model.safetensors"))
    with pytest.raises(CheckpointMappingError, match=r"unexpected tensor\(s\): llm.lm_head.weight"):
        load_native_model(folder, torch.float32, "sdpa")


# -- the adapter ---------------------------------------------------------------------------------------------------


def test_encode_lays_out_video_tokens_and_masks_labels_to_the_answer(tiny):
    answers = ["squat - knees caving in; push them out over your toes", "plank"]
    batch = tiny.encode([_video(0), _video(1)], SYSTEM, [PROMPT, "Short?"], answers=answers)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert batch["pixel_values_videos"].shape == (2, FRAMES, 3, SIDE, SIDE)
    assert (ids == tiny.video_token_id).sum(dim=1).tolist() == [FRAMES * TOKENS_PER_FRAME] * 2
    for row in range(2):
        kept = labels[row] != -100
        assert tiny.tokenizer.decode(ids[row][kept]) == answers[row] + "<|im_end|>"
        assert not (kept & (mask[row] == 0)).any()
    assert mask[1, -1] == 0  # right padding for training
    gen = tiny.encode([_video(0), _video(1)], SYSTEM, [PROMPT, "Short?"])
    assert "labels" not in gen and gen["attention_mask"][1, 0] == 0  # left padding for generation
    text = tiny.tokenizer.decode(gen["input_ids"][0])
    assert text.startswith("<|im_start|>system\n" + SYSTEM) and text.endswith("<|im_start|>assistant\n")
    with pytest.raises(ValueError, match="same frame count"):
        tiny.encode([_video(0), _video(1, frames=2)], SYSTEM, [PROMPT, PROMPT])


def test_wrong_number_of_video_placeholders_is_an_error(tiny):
    batch = tiny.encode([_video(0)], SYSTEM, [PROMPT])
    batch["pixel_values_videos"] = batch["pixel_values_videos"][:, :2]
    with pytest.raises(ValueError, match="video placeholder tokens"):
        tiny.model(**batch)


def test_generate_batched_equals_one_at_a_time(tiny):
    videos = [_video(i) for i in range(3)]
    prompts = [PROMPT, "Short?", PROMPT + " Be brief."]
    batched = tiny.generate(videos, SYSTEM, prompts, max_new_tokens=8)
    single = [tiny.generate([v], SYSTEM, [p], max_new_tokens=8)[0] for v, p in zip(videos, prompts)]
    assert batched == single
    assert not any("<vila/video>" in t or "<|im_end|>" in t for t in batched)


def test_lora_loss_is_finite_and_decreases(tiny):
    adapter = load_adapter(tiny.spec)
    model = get_peft_model(adapter.model, LoraConfig(r=4, lora_alpha=8, target_modules=adapter.lora_target_modules()))
    wrapped = [n for n, m in model.named_modules() if isinstance(getattr(m, "lora_A", None), torch.nn.ModuleDict)]
    assert wrapped and all(n.startswith("base_model.model.llm.model.layers.") for n in wrapped)
    batch = adapter.encode([_video(0), _video(1)], SYSTEM, [PROMPT, PROMPT], answers=["squat - knees in", "plank"])
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    model.train()
    losses = []
    for _ in range(6):
        loss = model(**batch).loss
        assert torch.isfinite(loss)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] * 0.9, losses


def test_trainable_groups_partition_parameters(tiny):
    groups = tiny.trainable_groups()
    names = [n for n, _ in tiny.model.named_parameters()]

    def inside(name, modules):
        return any(name.startswith(m + ".") for m in modules)

    for name in names:
        owners = [g for g in ("projector", "vision", "language") if inside(name, groups[g])]
        assert len(owners) == 1, (name, owners)
    modules = dict(tiny.model.named_modules())
    assert all(m in modules for group in groups.values() for m in group)
    assert groups["language_blocks"] == [f"llm.model.layers.{i}" for i in range(2)]
    assert groups["lm_head"] == []  # tied to the input embeddings


def test_last_n_blocks_mode_trains_only_those_blocks_and_projector(tiny):
    adapter = load_adapter(tiny.spec)
    model = prepare_trainable(adapter, {"method": "last_n", "last_n": 1, "train_projector": True})
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(n.startswith(("llm.model.layers.1.", "mm_projector.")) for n in trainable)
    assert any(n.startswith("mm_projector.") for n in trainable)
    counts = adapter.parameter_counts(model)
    assert counts["trainable"] == sum(p.numel() for n, p in model.named_parameters() if n in trainable)


def test_tiny_save_reload_is_bit_exact_and_full_checkpoint_stands_alone(tiny, tmp_path):
    reloaded = load_adapter(tiny.spec)
    for name, tensor in tiny.model.state_dict().items():
        assert torch.equal(reloaded.model.state_dict()[name], tensor), name
    full = load_adapter(tiny.spec)
    with torch.no_grad():
        full.model.mm_projector.fc_out.weight.mul_(-1.0)
    expected = _logits(full)
    full.save_checkpoint(full.model, str(tmp_path / "ckpt"))
    restored = load_adapter(tiny.spec, checkpoint=str(tmp_path / "ckpt"))
    assert restored.load_info["checkpoint_kind"] == "full"
    torch.testing.assert_close(_logits(restored), expected, rtol=0, atol=0)
    alone = load_adapter(replace(tiny.spec, path=str(tmp_path / "ckpt")))
    torch.testing.assert_close(_logits(alone), expected, rtol=0, atol=0)


def test_lora_checkpoint_round_trip(tiny, tmp_path):
    base = load_adapter(tiny.spec)
    peft_model = get_peft_model(base.model, LoraConfig(r=4, lora_alpha=8, target_modules=base.lora_target_modules(),
                                                       modules_to_save=base.trainable_groups()["projector"]))
    torch.manual_seed(1)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                p.add_(torch.randn_like(p) * 0.05)
    peft_model.eval()
    expected = _logits(base, peft_model)
    assert not torch.allclose(expected, _logits(tiny), atol=1e-4)
    base.save_checkpoint(peft_model, str(tmp_path / "ckpt"))
    restored = load_adapter(tiny.spec, checkpoint=str(tmp_path / "ckpt"))
    assert not isinstance(restored.model, PeftModel) and restored.load_info["checkpoint_kind"] == "lora"
    torch.testing.assert_close(_logits(restored), expected, atol=1e-4, rtol=1e-4)


def test_bf16_on_cpu_runs(tiny):
    half = load_adapter(replace(tiny.spec, precision="bf16"))
    assert next(half.model.parameters()).dtype is torch.bfloat16
    batch = half.encode([_video(0)], SYSTEM, [PROMPT], answers=["squat"])
    assert torch.isfinite(half.model(**half._to_model(batch)).loss)
    assert isinstance(half.generate([_video(0)], SYSTEM, [PROMPT], max_new_tokens=3)[0], str)


def test_tiny_build_is_byte_identical_for_a_seed(tiny, tmp_path):
    again = build_tiny_model("nvila_lite", tmp_path / "again", CORPUS, preset="s", seed=0)
    original = Path(tiny.spec.path) / "model.safetensors"
    assert (again / "model.safetensors").read_bytes() == original.read_bytes()
    other = build_tiny_model("nvila_lite", tmp_path / "other", CORPUS, preset="s", seed=1)
    assert (other / "model.safetensors").read_bytes() != original.read_bytes()


def test_adapter_is_registered_with_tiny_support(tiny):
    assert isinstance(tiny, NVILALiteAdapter)
    manifest = json.loads((Path(tiny.spec.path) / "tiny_model.json").read_text())
    assert manifest["family"] == "nvila_lite"
    assert manifest["parameters"]["total"] == tiny.parameter_counts()["total"]


# -- remote code gate ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "trust, revision, needs",
    [(False, "0" * 40, "trust_remote_code: true"), (True, None, "pin revision"), (True, "main", "pin revision")],
)
def test_remote_code_needs_opt_in_and_pinned_revision(trust, revision, needs):
    spec = ModelSpec(name="nvila-hf", family="nvila_lite_remote", path="Efficient-Large-Model/NVILA-Lite-2B-hf",
                     trust_remote_code=trust, revision=revision)
    with pytest.raises(RemoteCodeNotAllowed, match=rf"model 'nvila-hf'.*{needs}.*family 'nvila_lite'"):
        load_adapter(spec)  # fails before any download
    require_remote_code(replace(spec, trust_remote_code=True, revision="a" * 40))
