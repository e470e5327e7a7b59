"""The Qwen2-VL / Qwen2.5-VL adapter on tiny offline models: inputs, labels, generation, LoRA, checkpoints."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoProcessor, Qwen2VLForConditionalGeneration

from qvedbench.device import DeviceConfigError
from qvedbench.models import ModelSpec, families, load_adapter
from qvedbench.models.qwen2_vl import LM_MODULE, Qwen2VLAdapter
from qvedbench.models.tiny import build_tiny_model

SYSTEM = "You are an expert physiotherapist. Name the exercise and correct its form."
PROMPT = "Please evaluate the exercise form shown. What mistakes, if any, are present?"
CORPUS = [
    SYSTEM,
    PROMPT,
    "squat - knees caving in; push them out over your toes",
    "lunge - torso leaning forward; keep your chest up",
    "plank - hips sagging; brace your core",
] * 4
FRAMES, SIDE = 8, 64
VIDEO_TOKENS = FRAMES // 2 * (SIDE // 8 // 2) ** 2  # temporal pairs x merged 8-px patches


def _video(seed: int, frames: int = FRAMES) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (frames, SIDE, SIDE, 3), dtype=np.uint8)


@pytest.fixture(scope="module", params=["qwen2_vl", "qwen2_5_vl"])
def tiny(request, tmp_path_factory):
    family = request.param
    path = build_tiny_model(family, tmp_path_factory.mktemp(family) / "model", CORPUS, preset="s", seed=0)
    spec = ModelSpec(name=f"tiny-{family}", family=family, path=str(path), frames=FRAMES, resolution=SIDE)
    return load_adapter(spec)


def test_both_families_are_registered():
    assert {"qwen2_vl", "qwen2_5_vl"} <= set(families())


def test_encode_for_generation_is_left_padded_with_fixed_video_tokens(tiny):
    prompts = [PROMPT, "Short?"]
    batch = tiny.encode([_video(0), _video(1)], SYSTEM, prompts)
    ids, mask = batch["input_ids"], batch["attention_mask"]
    assert ids.shape == mask.shape and ids.shape[0] == 2
    assert "labels" not in batch
    video_id = tiny.model.config.video_token_id
    assert (ids == video_id).sum(dim=1).tolist() == [VIDEO_TOKENS, VIDEO_TOKENS]
    assert batch["video_grid_thw"].tolist() == [[FRAMES // 2, SIDE // 8, SIDE // 8]] * 2
    # The shorter prompt is padded on the left; both rows end with the opened assistant turn.
    assert mask[0].all() and mask[1, 0] == 0 and mask[1, -1] == 1
    tail = tiny.tokenizer.decode(ids[1, -12:])
    assert tail.endswith("assistant\n")
    assert batch["mm_token_type_ids"].shape == ids.shape


def test_labels_cover_exactly_the_answer_and_end_of_turn(tiny):
    answers = ["squat - knees caving in; push them out over your toes", "plank"]
    batch = tiny.encode([_video(0), _video(1)], SYSTEM, [PROMPT, PROMPT], answers=answers)
    ids, labels, mask = batch["input_ids"], batch["labels"], batch["attention_mask"]
    assert labels.shape == ids.shape
    for row in range(2):
        kept = labels[row] != -100
        assert torch.equal(labels[row][kept], ids[row][kept])
        assert tiny.tokenizer.decode(ids[row][kept]) == answers[row] + "<|im_end|>"
        assert not (kept & (mask[row] == 0)).any()  # padding is never a target
    assert mask[1, -1] == 0  # right padding for training
    # The prompt part is the same tokens the generation batch holds.
    gen = tiny.encode([_video(0)], SYSTEM, [PROMPT])
    n = gen["input_ids"].shape[1]
    assert torch.equal(ids[0, :n], gen["input_ids"][0])


def test_forward_with_labels_trains(tiny):
    batch = tiny.encode([_video(0)], SYSTEM, [PROMPT], answers=["squat - knees caving in"])
    out = tiny.model(**batch)
    assert torch.isfinite(out.loss)
    out.loss.backward()
    grads = [p.grad for p in tiny.model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)
    tiny.model.zero_grad(set_to_none=True)


def test_odd_frame_count_is_padded_to_pairs(tiny):
    batch = tiny.encode([_video(0, frames=7)], SYSTEM, [PROMPT])
    assert batch["video_grid_thw"].tolist() == [[4, SIDE // 8, SIDE // 8]]


def test_encode_rejects_bad_input(tiny):
    with pytest.raises(ValueError, match="must be equal"):
        tiny.encode([_video(0)], SYSTEM, [PROMPT, PROMPT])
    with pytest.raises(ValueError, match=r"video 0 must be a \(T, H, W, 3\) uint8"):
        tiny.encode([_video(0).astype(np.float32)], SYSTEM, [PROMPT])


def test_generate_batched_equals_one_at_a_time(tiny):
    videos = [_video(i) for i in range(3)]
    prompts = [PROMPT, "Short?", PROMPT + " Be brief."]
    batched = tiny.generate(videos, SYSTEM, prompts, max_new_tokens=10)
    single = [tiny.generate([v], SYSTEM, [p], max_new_tokens=10)[0] for v, p in zip(videos, prompts)]
    assert batched == single
    assert all(isinstance(t, str) for t in batched)
    assert not any("<|im_end|>" in t or "<|video_pad|>" in t for t in batched)
    assert len(set(batched)) > 1  # different videos/prompts give different random text


def test_lora_wraps_only_language_model_projections(tiny):
    targets = tiny.lora_target_modules()
    layers = tiny.model.config.text_config.num_hidden_layers
    assert len(targets) == 7 * layers
    model = get_peft_model(tiny.model, LoraConfig(r=4, lora_alpha=8, target_modules=targets))
    try:
        wrapped = [n for n, m in model.named_modules() if isinstance(getattr(m, "lora_A", None), torch.nn.ModuleDict)]
        assert len(wrapped) == len(targets)
        assert all(n.startswith(f"base_model.model.{LM_MODULE}.") for n in wrapped)
    finally:
        model.unload()


def _in(name: str, modules: list[str]) -> bool:
    return any(name.startswith(m + ".") for m in modules)


def test_trainable_groups_partition_parameters(tiny):
    groups = tiny.trainable_groups()
    names = [n for n, _ in tiny.model.named_parameters()]
    top = ("projector", "vision", "language", "lm_head")
    for name in names:
        owners = [g for g in top if _in(name, groups[g])]
        assert len(owners) == 1, (name, owners)
    modules = dict(tiny.model.named_modules())
    for group in groups.values():
        for module in group:  # every entry is a real module with parameters
            assert module in modules and any(n.startswith(module + ".") for n in names), module
    blocks = groups["language_blocks"]
    assert blocks == [f"{LM_MODULE}.layers.{i}" for i in range(len(blocks))]
    assert all(_in(m, groups["language"]) for m in blocks + groups["embeddings"])


def _logits(adapter, model=None) -> torch.Tensor:
    batch = adapter.encode([_video(3)], SYSTEM, [PROMPT], answers=["lunge"])
    with torch.no_grad():
        return (model or adapter.model)(**batch).logits


def test_lora_checkpoint_round_trip(tiny, tmp_path):
    spec = tiny.spec
    base = load_adapter(spec)  # a private copy: peft modifies the model in place
    peft_model = get_peft_model(
        base.model,
        LoraConfig(r=4, lora_alpha=8, target_modules=base.lora_target_modules(),
                   modules_to_save=base.trainable_groups()["projector"]),
    )
    torch.manual_seed(1)
    with torch.no_grad():  # LoRA B starts at zero; make the adapter change the output
        for name, p in peft_model.named_parameters():
            if "lora_B" in name or "modules_to_save" in name:
                p.add_(torch.randn_like(p) * 0.05)
    expected = _logits(base, peft_model)
    assert not torch.allclose(expected, _logits(tiny), atol=1e-4)
    peft_model.eval()
    expected_text = base.generate([_video(3)], SYSTEM, [PROMPT], max_new_tokens=8)

    base.save_checkpoint(peft_model, str(tmp_path / "ckpt"))
    assert (tmp_path / "ckpt" / "adapter_config.json").is_file()
    restored = load_adapter(spec, checkpoint=str(tmp_path / "ckpt"))
    assert not isinstance(restored.model, PeftModel)  # merged for inference
    assert restored.load_info["checkpoint_kind"] == "lora" and restored.load_info["dtype"] == "float32"
    torch.testing.assert_close(_logits(restored), expected, atol=1e-4, rtol=1e-4)
    assert restored.generate([_video(3)], SYSTEM, [PROMPT], max_new_tokens=8) == expected_text


def test_full_weights_checkpoint_round_trip_and_stands_alone(tiny, tmp_path):
    full = load_adapter(tiny.spec)
    with torch.no_grad():
        full.model.lm_head.weight.mul_(-1.0)
    expected = _logits(full)
    full.save_checkpoint(full.model, str(tmp_path / "ckpt"))
    restored = load_adapter(tiny.spec, checkpoint=str(tmp_path / "ckpt"))
    torch.testing.assert_close(_logits(restored), expected)
    # The folder is a complete model on its own.
    alone_spec = ModelSpec(name="alone", family=tiny.spec.family, path=str(tmp_path / "ckpt"), resolution=SIDE)
    alone = load_adapter(alone_spec)
    torch.testing.assert_close(_logits(alone), expected)
    assert AutoProcessor.from_pretrained(tmp_path / "ckpt").tokenizer.chat_template


def test_checkpoint_folder_must_hold_adapter_or_weights(tiny, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="neither a peft adapter"):
        load_adapter(tiny.spec, checkpoint=str(tmp_path / "empty"))


def test_unsupported_precision_fails_before_loading():
    spec = ModelSpec(name="qwen-2b", family="qwen2_vl", path="/nonexistent/model", precision="fp16", device="cpu")
    with pytest.raises(DeviceConfigError, match=r"model 'qwen-2b'.*'fp16'"):
        load_adapter(spec)


def test_tiny_model_folder_loads_with_plain_transformers(tiny):
    folder = tiny.spec.path
    if tiny.spec.family == "qwen2_vl":
        model = Qwen2VLForConditionalGeneration.from_pretrained(folder)
        assert model.config.video_token_id == tiny.model.config.video_token_id
    processor = AutoProcessor.from_pretrained(folder)
    assert processor.video_processor.patch_size == 8
    manifest = json.loads((Path(folder) / "tiny_model.json").read_text())
    assert manifest["family"] == tiny.spec.family
    assert manifest["parameters"]["total"] == tiny.parameter_counts()["total"]
    assert isinstance(tiny, Qwen2VLAdapter)


def test_bf16_on_cpu_loads_trains_and_generates(tiny):
    from dataclasses import replace

    half = load_adapter(replace(tiny.spec, precision="bf16"))
    assert next(half.model.parameters()).dtype is torch.bfloat16
    batch = half.encode([_video(0)], SYSTEM, [PROMPT], answers=["squat"])
    assert torch.isfinite(half.model(**batch).loss)
    assert isinstance(half.generate([_video(0)], SYSTEM, [PROMPT], max_new_tokens=4)[0], str)
