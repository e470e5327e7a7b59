"""The VideoLLaMA3 adapter on tiny offline models, the remote-code gate, and the VideoLLaMA3-2B tensor layout."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import VideoLlama3Config, VideoLlama3ForConditionalGeneration

from qvedbench.device import DeviceConfigError
from qvedbench.models import ModelSpec, families, load_adapter
from qvedbench.models.qwen2_vl import LM_MODULE
from qvedbench.models.tiny import build_tiny_model
from qvedbench.models.videollama3 import (
    RemoteCodeError,
    VideoLlama3Adapter,
    check_remote_code_allowed,
    checkpoint_format,
    native_config_from_upstream,
    upstream_to_native_name,
)

FIXTURE = Path(__file__).parent / "fixtures" / "checkpoints" / "videollama3_2b.json"
SYSTEM = "You are an expert physiotherapist. Name the exercise and correct its form."
PROMPT = "Please evaluate the exercise form shown. What mistakes, if any, are present?"
CORPUS = [
    SYSTEM,
    PROMPT,
    "squat - knees caving in; push them out over your toes",
    "lunge - torso leaning forward; keep your chest up",
    "plank - hips sagging; brace your core",
] * 4
FRAMES, SIDE = 4, 32
TOKENS_PER_FRAME = (SIDE // 8 // 2) ** 2  # 8-px patches merged 2x2


def _video(seed: int, frames: int = FRAMES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, SIDE, SIDE, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny_path(tmp_path_factory) -> Path:
    torch.set_num_threads(1)
    return build_tiny_model("videollama3", tmp_path_factory.mktemp("vl3") / "model", CORPUS, preset="s", seed=0)


@pytest.fixture(scope="module")
def tiny(tiny_path) -> VideoLlama3Adapter:
    spec = ModelSpec(name="tiny-videollama3", family="videollama3", path=str(tiny_path), frames=FRAMES,
                     resolution=SIDE, device="cpu")
    return load_adapter(spec)


def test_family_is_registered_and_loads_natively(tiny):
    assert "videollama3" in families()
    assert isinstance(tiny, VideoLlama3Adapter) and tiny.checkpoint_format == "native"
    assert isinstance(tiny.model, VideoLlama3ForConditionalGeneration)
    assert tiny.model.config.text_config.initializer_range == 0.1


def test_tiny_build_is_deterministic_and_reloads_bit_exactly(tiny, tiny_path, tmp_path):
    again = build_tiny_model("videollama3", tmp_path / "again", CORPUS, preset="s", seed=0)
    assert (again / "model.safetensors").read_bytes() == (tiny_path / "model.safetensors").read_bytes()
    tiny.save_checkpoint(tiny.model, str(tmp_path / "full"))
    reloaded = load_adapter(replace(tiny.spec, path=str(tmp_path / "full")))
    original, restored = tiny.model.state_dict(), reloaded.model.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)


def test_encode_puts_timestamped_frames_in_the_prompt(tiny):
    adapter = load_adapter(replace(tiny.spec, extra={"token_compression": False}))
    batch = adapter.encode([_video(0), _video(1)], SYSTEM, [PROMPT, "Short?"])
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert "labels" not in batch and ids.shape == mask.shape
    video_id = adapter.model.config.video_token_id
    assert (ids == video_id).sum(dim=1).tolist() == [FRAMES * TOKENS_PER_FRAME] * 2
    assert batch["video_grid_thw"].tolist() == [[FRAMES, SIDE // 8, SIDE // 8]] * 2
    text = adapter.tokenizer.decode(ids[0])
    assert [f"Time {t}.0s:" in text for t in range(FRAMES)] == [True] * FRAMES
    assert mask[0].all() and mask[1, 0] == 0 and mask[1, -1] == 1  # left padding for generation
    assert adapter.tokenizer.decode(ids[1, -12:]).endswith("<|im_start|>assistant\n")
    # Clips of different lengths in one batch keep their own frame counts at the pinned size.
    mixed = adapter.encode([_video(0), _video(1, frames=FRAMES - 1)], SYSTEM, [PROMPT, PROMPT])
    assert (mixed["input_ids"] == video_id).sum(dim=1).tolist() == [FRAMES * TOKENS_PER_FRAME,
                                                                    (FRAMES - 1) * TOKENS_PER_FRAME]


def test_static_frames_are_pruned_by_default(tiny):
    still = np.repeat(_video(0, frames=1), FRAMES, axis=0)
    batch = tiny.encode([still], SYSTEM, [PROMPT])
    # Frames that do not change keep one token each after the first (differential frame pruning).
    assert (batch["input_ids"] == tiny.model.config.video_token_id).sum() == TOKENS_PER_FRAME + FRAMES - 1
    assert torch.isfinite(tiny.model(**batch).logits).all()


def test_labels_cover_exactly_the_answer_and_end_of_turn(tiny):
    answers = ["squat - knees caving in; push them out over your toes", "plank"]
    batch = tiny.encode([_video(0), _video(1)], SYSTEM, [PROMPT, PROMPT], answers=answers)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    for row in range(2):
        kept = labels[row] != -100
        assert torch.equal(labels[row][kept], ids[row][kept])
        assert tiny.tokenizer.decode(ids[row][kept]) == answers[row] + "<|im_end|>"
        assert not (kept & (mask[row] == 0)).any()
    assert mask[1, -1] == 0  # right padding for training
    prompt_only = tiny.encode([_video(0)], SYSTEM, [PROMPT])["input_ids"][0]
    assert torch.equal(ids[0, : len(prompt_only)], prompt_only)


def test_lora_steps_lower_a_finite_loss(tiny):
    adapter = load_adapter(tiny.spec)  # a private copy: peft wraps it in place
    torch.manual_seed(0)
    model = get_peft_model(adapter.model, LoraConfig(r=4, lora_alpha=8, target_modules=adapter.lora_target_modules()))
    model.train()
    batch = adapter.encode([_video(0)], SYSTEM, [PROMPT], answers=["squat - knees caving in"])
    optimiser = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    losses = []
    for _ in range(5):
        loss = model(**batch).loss
        assert torch.isfinite(loss)
        loss.backward()
        optimiser.step()
        optimiser.zero_grad()
        losses.append(loss.item())
    assert losses[-1] < losses[0] - 0.1, losses


def test_generate_batched_equals_one_at_a_time(tiny):
    videos = [_video(i) for i in range(3)]
    prompts = [PROMPT, "Short?", PROMPT + " Be brief."]
    batched = tiny.generate(videos, SYSTEM, prompts, max_new_tokens=8)
    single = [tiny.generate([v], SYSTEM, [p], max_new_tokens=8)[0] for v, p in zip(videos, prompts)]
    assert batched == single
    assert not any("<|im_end|>" in t or "<|video_pad|>" in t for t in batched)
    assert len(set(batched)) > 1


def test_lora_wraps_only_language_model_projections(tiny):
    targets = tiny.lora_target_modules()
    assert len(targets) == 7 * tiny.model.config.text_config.num_hidden_layers
    model = get_peft_model(tiny.model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    try:
        wrapped = [n for n, m in model.named_modules() if isinstance(getattr(m, "lora_A", None), torch.nn.ModuleDict)]
        assert len(wrapped) == len(targets)
        assert all(n.startswith(f"base_model.model.{LM_MODULE}.layers.") for n in wrapped)
    finally:
        model.unload()


def _in(name: str, modules: list[str]) -> bool:
    return any(name.startswith(m + ".") for m in modules)


def test_trainable_groups_partition_parameters(tiny):
    groups = tiny.trainable_groups()
    names = [n for n, _ in tiny.model.named_parameters()]
    for name in names:
        owners = [g for g in ("projector", "vision", "language", "lm_head") if _in(name, groups[g])]
        assert len(owners) == 1, (name, owners)
    for group in groups.values():
        for module in group:
            assert any(n.startswith(module + ".") for n in names), module
    blocks = groups["language_blocks"]
    assert blocks == [f"{LM_MODULE}.layers.{i}" for i in range(tiny.model.config.text_config.num_hidden_layers)]
    assert all(_in(m, groups["language"]) for m in blocks + groups["embeddings"])


def _logits(adapter, model=None) -> torch.Tensor:
    batch = adapter.encode([_video(3)], SYSTEM, [PROMPT], answers=["lunge"])
    with torch.no_grad():
        return (model or adapter.model)(**batch).logits


def test_lora_checkpoint_is_merged_on_load(tiny, tmp_path):
    base = load_adapter(tiny.spec)
    peft_model = get_peft_model(
        base.model,
        LoraConfig(r=4, lora_alpha=8, target_modules=base.lora_target_modules(),
                   modules_to_save=base.trainable_groups()["projector"]),
    )
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
    assert not isinstance(restored.model, PeftModel)
    assert restored.load_info["checkpoint_kind"] == "lora"
    torch.testing.assert_close(_logits(restored), expected, atol=1e-4, rtol=1e-4)


def test_bf16_on_cpu_trains_and_generates(tiny):
    half = load_adapter(replace(tiny.spec, precision="bf16"))
    assert next(half.model.parameters()).dtype is torch.bfloat16
    batch = half.encode([_video(0)], SYSTEM, [PROMPT], answers=["squat"])
    assert torch.isfinite(half.model(**batch).loss)
    assert isinstance(half.generate([_video(0)], SYSTEM, [PROMPT], max_new_tokens=4)[0], str)


# -- checkpoint formats and the remote-code gate ------------------------------------------------------------------


def test_unsupported_precision_fails_before_reading_the_checkpoint():
    spec = ModelSpec(name="vl3-2b", family="videollama3", path="/nonexistent/model", precision="fp16", device="cpu")
    with pytest.raises(DeviceConfigError, match=r"model 'vl3-2b'.*'fp16'"):
        load_adapter(spec)


def test_checkpoint_format_is_read_from_the_config():
    fixture = json.loads(FIXTURE.read_text())
    assert checkpoint_format(fixture["upstream_config"]) == "upstream"
    assert checkpoint_format({"model_type": "video_llama_3"}) == "native"
    assert checkpoint_format({"model_type": "video_llama_3", "auto_map": {"AutoModel": "x.Y"}}) == "upstream"
    with pytest.raises(ValueError, match=r"cfg\.json: model_type 'qwen2' is not a VideoLLaMA3 checkpoint"):
        checkpoint_format({"model_type": "qwen2"}, "cfg.json")


def _spec(path, **kwargs) -> ModelSpec:
    return ModelSpec(name="videollama3-2b", family="videollama3", path=str(path), device="cpu", **kwargs)


def test_remote_code_is_refused_unless_allowed_with_a_pinned_revision(tmp_path):
    hub = "DAMO-NLP-SG/VideoLLaMA3-2B"
    check_remote_code_allowed(_spec(hub), "native")
    check_remote_code_allowed(_spec(hub, trust_remote_code=True, revision="abc123"), "upstream")
    check_remote_code_allowed(_spec(tmp_path, trust_remote_code=True), "upstream")  # local code, no revision
    with pytest.raises(RemoteCodeError, match=r"model 'videollama3-2b'.*remote code.*Set trust_remote_code: true"):
        check_remote_code_allowed(_spec(hub, revision="abc123"), "upstream")
    with pytest.raises(RemoteCodeError, match="no revision is pinned"):
        check_remote_code_allowed(_spec(hub, trust_remote_code=True), None)


def test_loading_an_upstream_checkpoint_fails_before_any_weights(tmp_path):
    fixture = json.loads(FIXTURE.read_text())
    (tmp_path / "config.json").write_text(json.dumps(fixture["upstream_config"]))  # no weights, no code
    with pytest.raises(RemoteCodeError, match="trust_remote_code"):
        load_adapter(_spec(tmp_path))
    with pytest.raises(RemoteCodeError, match="no revision is pinned"):
        load_adapter(_spec("DAMO-NLP-SG/VideoLLaMA3-2B", trust_remote_code=True))  # refused before any download


# -- the published VideoLLaMA3-2B layout --------------------------------------------------------------------------


def test_real_config_on_meta_device_matches_the_checkpoint_tensors():
    fixture = json.loads(FIXTURE.read_text())
    native = fixture["native_config"]
    assert native_config_from_upstream(fixture["upstream_config"]) == native
    config = VideoLlama3Config(**{k: v for k, v in native.items() if k != "model_type"})
    with torch.device("meta"):
        model = VideoLlama3ForConditionalGeneration(config)
    built = {n: list(p.shape) for n, p in model.to(torch.bfloat16).named_parameters()}
    assert built == {n: t["shape"] for n, t in fixture["native"].items()}
    assert {t["dtype"] for t in fixture["native"].values()} == {"BF16"}
    assert sum(p.numel() for p in model.parameters()) == fixture["parameters"]["native"]
    assert checkpoint_format({"model_type": config.model_type}) == "native"


def test_upstream_names_map_one_to_one_onto_the_native_layout():
    fixture = json.loads(FIXTURE.read_text())
    mapped = {upstream_to_native_name(n): t["shape"] for n, t in fixture["upstream"].items()}
    assert len(mapped) == len(fixture["upstream"])
    assert mapped == {n: t["shape"] for n, t in fixture["native"].items()}
    with pytest.raises(KeyError, match="no place"):
        upstream_to_native_name("vision_tower.blocks.0.weight")
