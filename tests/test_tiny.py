"""Offline tokenizer training and tiny model builds."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file
from transformers import AutoProcessor, Qwen2Tokenizer

from qvedbench.models import qwen2_vl
from qvedbench.io import RecordError
from qvedbench.models.tiny import TINY_MANIFEST, build_tiny_model, corpus_from_records
from qvedbench.models.tokenizer import train_tokenizer

CORPUS = [
    "squat - knees caving in; push them out over your toes",
    "lunge - torso leaning forward; keep your chest up",
    "Please evaluate the exercise form shown.",
    "You are an expert physiotherapist.",
] * 3


def test_tokenizer_round_trips_any_text_and_keeps_specials_whole(tmp_path):
    tok = train_tokenizer(CORPUS, vocab_size=400, special_tokens=qwen2_vl.SPECIAL_TOKENS,
                          eos_token="<|im_end|>", chat_template=qwen2_vl.CHAT_TEMPLATE)
    assert isinstance(tok, Qwen2Tokenizer)
    specials = qwen2_vl.SPECIAL_TOKENS
    assert [tok.convert_tokens_to_ids(t) for t in specials] == list(range(len(specials)))
    assert tok.eos_token == "<|im_end|>" and tok.pad_token == "<|endoftext|>"
    text = "squat - knees caving in; naïve ünseen wörds 😀 123"
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert tok.decode(ids) == text  # byte-level: unseen characters still encode
    # Corpus words were merged: far fewer tokens than bytes.
    assert len(tok("squat - knees caving in", add_special_tokens=False)["input_ids"]) < 10
    with_special = tok("<|im_start|>user<|video_pad|><|im_end|>", add_special_tokens=False)["input_ids"]
    assert with_special[0] == 1 and with_special[-1] == 2 and 7 in with_special
    assert tok.decode(with_special, skip_special_tokens=True) == "user"
    tok.save_pretrained(tmp_path)
    again = Qwen2Tokenizer.from_pretrained(tmp_path)
    assert again(text, add_special_tokens=False)["input_ids"] == ids
    assert again.chat_template == qwen2_vl.CHAT_TEMPLATE


def test_tokenizer_rejects_empty_corpus_and_tiny_vocab():
    with pytest.raises(ValueError, match="corpus is empty"):
        train_tokenizer(["", ""])
    with pytest.raises(ValueError, match="vocab_size"):
        train_tokenizer(CORPUS, vocab_size=100)


def test_tiny_build_is_a_complete_seeded_checkpoint(tmp_path):
    a = build_tiny_model("qwen2_vl", tmp_path / "a", CORPUS, preset="s", seed=0)
    b = build_tiny_model("qwen2_vl", tmp_path / "b", CORPUS, preset="s", seed=0)
    c = build_tiny_model("qwen2_vl", tmp_path / "c", CORPUS, preset="s", seed=1)
    manifest = json.loads((a / TINY_MANIFEST).read_text())
    assert manifest["family"] == "qwen2_vl" and manifest["preset"] == "s" and manifest["seed"] == 0
    counts = manifest["parameters"]
    assert counts["total"] == counts["vision"] + counts["projector"] + counts["language"]
    assert 50_000 < counts["total"] < 1_000_000 and counts["projector"] > 0
    config = json.loads((a / "config.json").read_text())
    assert config["text_config"]["initializer_range"] == 0.1 and config["vision_config"]["initializer_range"] == 0.1
    assert config["text_config"]["vocab_size"] == manifest["vocab_size"]
    wa, wb, wc = (load_file(p / "model.safetensors") for p in (a, b, c))
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    processor = AutoProcessor.from_pretrained(a)
    assert processor.tokenizer.chat_template and processor.video_processor.do_sample_frames is False
    assert not list(tmp_path.glob(".*"))  # no temporary folders left behind


def test_presets_and_overrides(tmp_path):
    small = qwen2_vl.tiny_config("s", 500)
    medium = qwen2_vl.tiny_config("m", 500)
    assert medium.text_config.hidden_size > small.text_config.hidden_size
    custom = qwen2_vl.tiny_config("s", 500, {"num_layers": 3, "hidden_size": 96}, family="qwen2_5_vl")
    assert custom.text_config.num_hidden_layers == 3
    head_dim = 96 // custom.text_config.num_attention_heads
    assert sum(custom.text_config.rope_parameters["mrope_section"]) == head_dim // 2
    assert custom.vision_config.out_hidden_size == 96
    with pytest.raises(ValueError, match="unknown tiny-model override"):
        qwen2_vl.tiny_config("s", 500, {"hidden": 3})
    with pytest.raises(ValueError, match="unknown tiny preset"):
        build_tiny_model("qwen2_vl", tmp_path / "x", CORPUS, preset="xl")
    with pytest.raises(KeyError, match="unknown model family"):
        build_tiny_model("nope", tmp_path / "x", CORPUS)


def test_corpus_from_records_keeps_system_prompt_references_and_prompts():
    records = [{"reference": "squat - ok", "prompt": "Evaluate."}, {"reference": "lunge - ok", "prompt": "Evaluate."}]
    expected = ["Be a coach.", "squat - ok", "Evaluate.", "lunge - ok", "Evaluate."]
    assert corpus_from_records(records, "Be a coach.") == expected
    with pytest.raises(RecordError, match=r"train.jsonl, record 1, field 'prompt'"):
        corpus_from_records([records[0], {"reference": "x"}], "s", source="train.jsonl")


@pytest.mark.parametrize("family", ["qwen2_vl", "videollama3", "nvila_lite", "mobile_videogpt"])
def test_manifest_counts_follow_the_family_groups(tmp_path, family):
    """Vision, projector and language counts come from each family's own module layout, not a name guess."""
    from qvedbench.models import ModelSpec, load_adapter

    folder = build_tiny_model(family, tmp_path / family, CORPUS, preset="s", seed=0)
    counts = json.loads((folder / TINY_MANIFEST).read_text())["parameters"]
    frames = 8 if family == "mobile_videogpt" else 4
    adapter = load_adapter(ModelSpec(name="t", family=family, path=str(folder), device="cpu", frames=frames))
    groups = adapter.trainable_groups()
    params = dict(adapter.model.named_parameters())

    def size(keys):
        prefixes = tuple(m + "." for k in keys for m in groups.get(k, []))
        return sum(p.numel() for n, p in params.items() if n.startswith(prefixes))

    assert counts["total"] == adapter.parameter_counts()["total"]
    assert counts["projector"] == size(["projector"]) > 0
    assert counts["language"] == size(["language", "lm_head"]) > 0
    assert counts["vision"] == counts["total"] - counts["projector"] - counts["language"] > 0
