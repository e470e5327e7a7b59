"""The VideoLLaMA3 adapter on tiny offline models, upstream-format conversion (no remote code), device maps, and
the VideoLLaMA3-2B tensor layout."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import VideoLlama3Config, VideoLlama3ForConditionalGeneration

from qvedbench.cli import main
from qvedbench.device import DeviceConfigError
from qvedbench.models import ModelSpec, families, load_adapter
from qvedbench.models.qwen2_vl import LM_MODULE
from qvedbench.models.tiny import build_tiny_model
from qvedbench.models.videollama3 import (
    SPECIAL_TOKENS,
    RemoteCodeError,
    VideoLlama3Adapter,
    checkpoint_format,
    native_config_from_upstream,
    refuse_remote_code,
    tiny_config,
    upstream_to_native_name,
)
from qvedbench.models.videollama3_convert import (
    CheckpointMismatchError,
    check_state,
    native_processor_settings,
    native_to_upstream_name,
    rename_to_native,
    save_upstream_layout,
    stored_tensor_names,
    upstream_config_from_native,
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


# -- checkpoint formats and remote code -------------------------------------------------------------------------------


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


def test_remote_code_is_refused_with_a_message_pointing_at_the_converter(tmp_path):
    refuse_remote_code(_spec("DAMO-NLP-SG/VideoLLaMA3-2B", revision="abc123"))
    with pytest.raises(RemoteCodeError, match=r"model 'videollama3-2b'.*never runs.*converted on load.*"
                                              r"trust_remote_code: false.*convert-videollama3"):
        refuse_remote_code(_spec("DAMO-NLP-SG/VideoLLaMA3-2B", trust_remote_code=True, revision="abc123"))
    fixture = json.loads(FIXTURE.read_text())
    (tmp_path / "config.json").write_text(json.dumps(fixture["upstream_config"]))  # no weights, no code
    with pytest.raises(RemoteCodeError):  # refused before reading anything
        load_adapter(_spec(tmp_path, trust_remote_code=True))


def test_an_upstream_folder_without_weights_fails_naming_the_folder(tmp_path):
    fixture = json.loads(FIXTURE.read_text())
    (tmp_path / "config.json").write_text(json.dumps(fixture["upstream_config"]))
    with pytest.raises(FileNotFoundError, match=rf"{tmp_path}: neither model.safetensors"):
        load_adapter(_spec(tmp_path))


# -- upstream-format conversion ----------------------------------------------------------------------------------


def _save_upstream(adapter, out: Path, **kwargs) -> Path:
    return save_upstream_layout(adapter.model, adapter.processor, out, **kwargs)


@pytest.fixture(scope="module")
def upstream_path(tiny, tmp_path_factory) -> Path:
    return _save_upstream(tiny, tmp_path_factory.mktemp("vl3-upstream") / "upstream", shards=2)


@pytest.fixture(scope="module")
def converted(tiny, upstream_path) -> VideoLlama3Adapter:
    return load_adapter(replace(tiny.spec, path=str(upstream_path)))


def test_name_maps_are_inverse_and_cover_every_tensor(tiny):
    names = stored_tensor_names(tiny.model)
    upstream = {native_to_upstream_name(n) for n in names}
    assert len(upstream) == len(names) and not any(n.startswith("model.language_model.") for n in upstream)
    assert {upstream_to_native_name(n) for n in upstream} == names
    with pytest.raises(KeyError, match="no place in the upstream"):
        native_to_upstream_name("vision_tower.weight")


def test_upstream_layout_has_upstream_config_and_names(upstream_path, tiny):
    config = json.loads((upstream_path / "config.json").read_text())
    assert checkpoint_format(config) == "upstream" and "auto_map" in config
    assert native_config_from_upstream(config) == native_config_from_upstream(
        upstream_config_from_native(tiny.model.config))
    index = json.loads((upstream_path / "model.safetensors.index.json").read_text())
    assert set(index["weight_map"]) == {native_to_upstream_name(n) for n in stored_tensor_names(tiny.model)}
    assert len(set(index["weight_map"].values())) == 2


def test_upstream_checkpoint_reloads_bit_exactly_through_the_converter(converted, tiny):
    assert isinstance(converted.model, VideoLlama3ForConditionalGeneration)
    assert converted.load_info["format"] == "videollama3_qwen2"
    assert converted.load_info["converted_to"] == "video_llama_3"
    original, restored = tiny.model.state_dict(), converted.model.state_dict()
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    for key in ("video_token_id", "image_token_id"):
        assert getattr(converted.model.config, key) == getattr(tiny.model.config, key)


def test_converted_model_gives_identical_inputs_logits_and_generation(converted, tiny):
    videos, prompts = [_video(5), _video(6)], [PROMPT, "Short?"]
    a = tiny.encode(videos, SYSTEM, prompts, answers=["squat", "plank - hips sagging"])
    b = converted.encode(videos, SYSTEM, prompts, answers=["squat", "plank - hips sagging"])
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    with torch.no_grad():
        assert torch.equal(tiny.model(**a).logits, converted.model(**b).logits)
    assert converted.generate(videos, SYSTEM, prompts, max_new_tokens=8) == \
        tiny.generate(videos, SYSTEM, prompts, max_new_tokens=8)


def test_tied_embeddings_round_trip_without_a_stored_head(tiny, tmp_path):
    tokenizer = tiny.tokenizer
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
    config = tiny_config("s", len(tokenizer), token_ids=ids)
    config.tie_word_embeddings = config.text_config.tie_word_embeddings = True
    torch.manual_seed(3)
    model = VideoLlama3ForConditionalGeneration(config).eval()
    assert "lm_head.weight" not in stored_tensor_names(model)
    out = save_upstream_layout(model, tiny.processor, tmp_path / "tied")
    restored = load_adapter(replace(tiny.spec, path=str(out)))
    head, embed = restored.model.lm_head.weight, restored.model.model.language_model.embed_tokens.weight
    assert head.data_ptr() == embed.data_ptr() and torch.equal(embed, model.lm_head.weight)
    batch = restored.encode([_video(0)], SYSTEM, [PROMPT])
    with torch.no_grad():
        assert torch.equal(restored.model(**batch).logits, model(**batch).logits)


def _rewrite_weights(folder: Path, change) -> None:
    from safetensors.torch import load_file, save_file

    for shard in folder.glob("*.safetensors"):
        tensors = load_file(str(shard))
        change(tensors)
        save_file(tensors, str(shard), metadata={"format": "pt"})


def test_a_missing_tensor_fails_naming_it(tiny, tmp_path):
    out = _save_upstream(tiny, tmp_path / "missing")
    _rewrite_weights(out, lambda t: t.pop("model.layers.1.mlp.up_proj.weight"))
    with pytest.raises(CheckpointMismatchError, match=r"1 missing: model\.language_model\.layers\.1\.mlp\.up_proj"):
        load_adapter(replace(tiny.spec, path=str(out)))


def test_an_extra_tensor_fails_naming_it(tiny, tmp_path):
    out = _save_upstream(tiny, tmp_path / "extra")
    _rewrite_weights(out, lambda t: t.update({"model.mm_projector.readout.3.weight": torch.zeros(2, 2)}))
    with pytest.raises(CheckpointMismatchError, match=r"1 unexpected: model\.projector\.readout\.3\.weight"):
        load_adapter(replace(tiny.spec, path=str(out)))
    _rewrite_weights(out, lambda t: t.update({"vision_tower.extra": torch.zeros(2)}))
    with pytest.raises(CheckpointMismatchError, match=r"no place in the native.*vision_tower\.extra"):
        load_adapter(replace(tiny.spec, path=str(out)))


def test_a_tensor_of_the_wrong_shape_fails_naming_it(tiny, tmp_path):
    out = _save_upstream(tiny, tmp_path / "shape")
    _rewrite_weights(out, lambda t: t.update({"model.norm.weight": torch.ones(3)}))
    with pytest.raises(CheckpointMismatchError, match=r"wrong shape: model\.language_model\.norm\.weight \[3\]"):
        load_adapter(replace(tiny.spec, path=str(out)))


def test_processor_settings_map_from_the_upstream_preprocessor_config():
    upstream = {"image_processor_type": "Videollama3ImageProcessor", "patch_size": 14, "min_tokens": 16,
                "max_tokens": 16384, "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "do_normalize": True,
                "resample": 3, "rescale_factor": 1 / 255, "auto_map": {"AutoProcessor": "x.Y"}}
    settings = native_processor_settings(upstream, {"image_merge_size": 1, "video_merge_size": 2, "fps": 1,
                                                    "max_frames": 180}, {"use_token_compression": False})
    image, video = settings["image"], settings["video"]
    assert image["size"] == {"shortest_edge": 16 * 14 ** 2, "longest_edge": 16384 * 14 ** 2}
    assert video["size"] == {"shortest_edge": 16 * 28 ** 2, "longest_edge": 16384 * 28 ** 2}
    assert (image["merge_size"], video["merge_size"], video["temporal_patch_size"]) == (1, 2, 1)
    assert video["fps"] == 1 and video["max_frames"] == 180 and video["use_token_compression"] is False
    assert image["patch_size"] == video["patch_size"] == 14 and image["image_mean"] == [0.5] * 3
    assert "auto_map" not in image and "image_processor_type" not in video


def test_converted_processor_matches_the_native_settings(converted, tiny):
    for name in ("image_processor", "video_processor"):
        a, b = getattr(tiny.processor, name), getattr(converted.processor, name)
        for key in ("patch_size", "merge_size", "image_mean", "image_std", "rescale_factor", "do_normalize"):
            assert getattr(a, key) == getattr(b, key), (name, key)
    assert converted.processor.chat_template == tiny.processor.chat_template
    assert converted.frame_side() == tiny.frame_side()


def test_lora_checkpoint_on_an_upstream_base(converted, tiny, tmp_path):
    base = load_adapter(converted.spec)
    peft_model = get_peft_model(base.model, LoraConfig(r=4, lora_alpha=8, target_modules=base.lora_target_modules()))
    torch.manual_seed(2)
    with torch.no_grad():
        for name, p in peft_model.named_parameters():
            if "lora_B" in name:
                p.add_(torch.randn_like(p) * 0.05)
    peft_model.eval()
    expected = _logits(base, peft_model)
    base.save_checkpoint(peft_model, str(tmp_path / "ckpt"))
    on_upstream = load_adapter(converted.spec, checkpoint=str(tmp_path / "ckpt"))
    on_native = load_adapter(tiny.spec, checkpoint=str(tmp_path / "ckpt"))
    assert on_upstream.load_info["checkpoint_kind"] == "lora"
    torch.testing.assert_close(_logits(on_upstream), expected, atol=1e-5, rtol=1e-5)
    assert torch.equal(_logits(on_upstream), _logits(on_native))


def test_cli_converts_an_upstream_folder_once(upstream_path, tiny, tmp_path, capsys):
    dst = tmp_path / "native"
    assert main(["convert-videollama3", str(upstream_path), str(dst)]) == 0
    assert capsys.readouterr().out.strip() == str(dst)
    assert checkpoint_format(json.loads((dst / "config.json").read_text())) == "native"
    assert json.loads((dst / "conversion.json").read_text())["source_format"] == "videollama3_qwen2"
    native = load_adapter(replace(tiny.spec, path=str(dst)))
    assert "format" not in native.load_info  # an ordinary native folder now
    original, restored = tiny.model.state_dict(), native.model.state_dict()
    assert all(torch.equal(original[k], restored[k]) for k in original)
    assert native.generate([_video(7)], SYSTEM, [PROMPT], max_new_tokens=6) == \
        tiny.generate([_video(7)], SYSTEM, [PROMPT], max_new_tokens=6)
    assert main(["convert-videollama3", str(dst), str(tmp_path / "again")]) == 2
    assert "already in transformers' native VideoLLaMA3 format" in capsys.readouterr().err


# -- device maps ---------------------------------------------------------------------------------------------------


def test_device_map_cpu_loads_both_formats(tiny, upstream_path):
    for path in (tiny.spec.path, str(upstream_path)):
        adapter = load_adapter(replace(tiny.spec, path=path, device_map="cpu"))
        assert adapter.load_info["device_map"] == "cpu" and adapter.device.type == "cpu"
        assert torch.equal(_logits(adapter), _logits(tiny))


def test_unsupported_device_maps_fail_before_loading():
    spec = _spec("/nonexistent/model")
    with pytest.raises(DeviceConfigError, match=r"model 'videollama3-2b': device_map 'auto'.*runs on cpu"):
        load_adapter(replace(spec, device_map="auto"))
    with pytest.raises(DeviceConfigError, match=r"device_map 'cuda:0' disagrees with the device.*\(cpu\)"):
        load_adapter(replace(spec, device_map="cuda:0"))
    with pytest.raises(DeviceConfigError, match="unknown device_map 'gpu'"):
        load_adapter(replace(spec, device_map="gpu"))


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


def test_published_upstream_tensors_load_onto_the_native_model_on_the_meta_device():
    fixture = json.loads(FIXTURE.read_text())
    config = VideoLlama3Config(**{k: v for k, v in fixture["native_config"].items() if k != "model_type"})
    with torch.device("meta"):
        model = VideoLlama3ForConditionalGeneration(config)
    assert "lm_head.weight" not in stored_tensor_names(model)  # tied: not in the published file
    upstream = {n: torch.empty(t["shape"], device="meta") for n, t in fixture["upstream"].items()}
    check_state(model, rename_to_native(upstream, "VideoLLaMA3-2B"), "VideoLLaMA3-2B")  # nothing missing or extra
    upstream.pop("model.vision_encoder.post_layernorm.bias")
    with pytest.raises(CheckpointMismatchError, match=r"1 missing: model\.vision_model\.post_layernorm\.bias"):
        check_state(model, rename_to_native(upstream, "VideoLLaMA3-2B"), "VideoLLaMA3-2B")


def test_device_map_resolution_rules():
    from qvedbench.device import resolve_device_map

    cpu, gpu = torch.device("cpu"), torch.device("cuda", 0)
    assert resolve_device_map(None, cpu) is None and resolve_device_map("cpu", cpu) == "cpu"
    assert resolve_device_map("cuda", gpu) == "cuda:0" and resolve_device_map("auto", gpu) == "auto"
    assert resolve_device_map("cuda:0", torch.device("cuda")) == "cuda:0"
    with pytest.raises(DeviceConfigError, match=r"model 'm': device_map 'auto' is not supported by this model "
                                                r"family's loader.*use device_map: cuda:0 or null"):
        resolve_device_map("auto", gpu, "m", allow_auto=False)
    with pytest.raises(DeviceConfigError, match="disagrees with the device the model runs on"):
        resolve_device_map("cpu", gpu)
    with pytest.raises(DeviceConfigError, match="disagrees"):
        resolve_device_map("cuda:1", gpu)


def test_config_refuses_a_gpu_device_map_with_device_cpu(tmp_path):
    from qvedbench.config import ConfigError, load_config

    path = tmp_path / "c.yaml"
    path.write_text("device: cpu\nmodels: {m: {family: videollama3, path: x, device_map: auto}}\n")
    with pytest.raises(ConfigError, match=r"models\.m\.device_map.*'auto' places weights on a GPU but device is cpu"):
        load_config(path)
    path.write_text("device: cpu\nmodels: {m: {family: videollama3, path: x, device_map: gpu0}}\n")
    with pytest.raises(ConfigError, match="device_map"):
        load_config(path)


def test_bf16_upstream_load_equals_bf16_native_load(tiny, upstream_path):
    native = load_adapter(replace(tiny.spec, precision="bf16"))
    converted = load_adapter(replace(tiny.spec, path=str(upstream_path), precision="bf16"))
    assert {p.dtype for p in converted.model.parameters()} == {torch.bfloat16}
    assert torch.equal(_logits(native), _logits(converted))
