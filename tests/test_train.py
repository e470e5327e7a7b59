"""qvedbench.train on a tiny offline Qwen2-VL: run directory contents, trainable parameters, labels, seeds."""
from __future__ import annotations

import dataclasses
import math

import pytest
import torch
import yaml

from clip_fixtures import CLASSES, SYSTEM, tiny_spec, write_records
from qvedbench.io import RecordError, read_json, read_jsonl
from qvedbench.models import ModelSpec, load_adapter
from qvedbench.train import resolve_train_config, train_run
from qvedbench.train.data import ClipDataset, VideoCollator
from qvedbench.train.trainable import prepare_trainable

LORA = {"method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.0}, "train_projector": True, "lr": 5.0e-3,
        "scheduler": "constant", "warmup_ratio": 0.0, "max_steps": 4, "batch_size": 2, "logging_steps": 1,
        "eval_steps": 2, "eval_generate": True, "eval_max_new_tokens": 8, "seed": 3}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("train")
    records = write_records(root)
    return records, tiny_spec(root, records)


@pytest.fixture(scope="module")
def lora_run(setup, tmp_path_factory):
    records, spec = setup
    out = tmp_path_factory.mktemp("run") / "baseline"
    stats = train_run(spec, LORA, records, records[::2], out, system_prompt=SYSTEM, classes=CLASSES, threads=1)
    return out, stats


def _count(model, prefixes) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if any(n.startswith(pre) for pre in prefixes))


def test_run_directory_holds_log_config_stats_and_checkpoint(lora_run):
    out, stats = lora_run
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint", "resolved_config.yaml", "train_stats.json", "trainer_log.jsonl"]
    log = read_jsonl(out / "trainer_log.jsonl")
    train_rows = [r for r in log if "loss" in r]
    eval_rows = [r for r in log if "eval_loss" in r]
    assert [r["step"] for r in train_rows] == [1, 2, 3, 4]
    assert [r["step"] for r in eval_rows] == [2, 4]
    assert [r["step"] for r in log] == sorted(r["step"] for r in log)
    assert all(r["learning_rate"] == pytest.approx(5e-3) and r["epoch"] > 0 for r in train_rows)
    assert all(0 <= r["eval_exercise_accuracy"] <= 1 and r["eval_n"] == 3 for r in eval_rows)

    assert read_json(out / "train_stats.json") == stats
    assert 0 < stats["trainable_params"] < stats["total_params"]
    assert stats["steps"] == 4 and stats["epochs"] == pytest.approx(4 * 2 / 6)
    files = [f for f in (out / "checkpoint").rglob("*") if f.is_file()]
    assert stats["checkpoint_bytes"] == sum(f.stat().st_size for f in files) > 0
    assert stats["wall_time_s"] >= stats["train_time_s"] > 0 and stats["peak_memory_mb"] > 0
    assert stats["time_per_epoch_s"] == pytest.approx(stats["train_time_s"] / stats["epochs"], rel=1e-2)
    assert (stats["device"], stats["precision"], stats["threads"]) == ("cpu", "fp32", 1)
    assert stats["final_train_loss"] == train_rows[-1]["loss"]
    assert stats["final_eval_loss"] == eval_rows[-1]["eval_loss"]


def test_resolved_config_round_trips(lora_run, setup):
    out, _ = lora_run
    _, spec = setup
    resolved = yaml.safe_load((out / "resolved_config.yaml").read_text())
    assert ModelSpec(**resolved["model"]) == spec
    assert resolve_train_config(resolved["train"], spec) == resolved["train"]
    assert resolved["train"]["frames"] == spec.frames and resolved["train"]["lora"]["r"] == 4
    assert resolved["seed"] == 3 and resolved["system_prompt"] == SYSTEM and resolved["classes"] == CLASSES
    assert resolved["versions"]["torch"] and resolved["device"]["type"] == "cpu"


def _loss(adapter, records) -> float:
    dataset = ClipDataset(records, adapter.spec.frames, adapter.spec.resolution)
    batch = VideoCollator(adapter, SYSTEM)([dataset[i] for i in range(len(dataset))])
    with torch.no_grad():
        return adapter.model(**batch).loss.item()


def test_checkpoint_reloads_and_fits_the_training_data_better_than_the_base(lora_run, setup):
    out, _ = lora_run
    records, spec = setup
    tuned = load_adapter(spec, str(out / "checkpoint"))
    assert _loss(tuned, records) < _loss(load_adapter(spec), records) - 0.1


def test_trainable_parameters_per_method(setup):
    _, spec = setup

    def trainable(cfg):
        adapter = load_adapter(spec)
        model = prepare_trainable(adapter, resolve_train_config(cfg, spec))
        names = [n for n, p in model.named_parameters() if p.requires_grad]
        return adapter, model, names

    base = load_adapter(spec)
    groups = base.trainable_groups()
    total = base.parameter_counts()["total"]
    projector = _count(base.model, groups["projector"])
    last_block = _count(base.model, groups["language_blocks"][-1:])

    adapter, model, names = trainable({"method": "full"})
    assert adapter.parameter_counts(model) == {"total": total, "trainable": total}

    adapter, model, names = trainable({"method": "lora", "lora": {"r": 4}})
    lora_only = adapter.parameter_counts(model)["trainable"]
    assert names and all("lora_" in n for n in names) and 0 < lora_only < total

    adapter, model, names = trainable({"method": "lora", "lora": {"r": 4}, "train_projector": True})
    assert adapter.parameter_counts(model)["trainable"] == lora_only + projector

    adapter, model, names = trainable({"method": "last_n", "last_n": 1})
    assert adapter.parameter_counts(model)["trainable"] == last_block
    assert all(n.startswith(groups["language_blocks"][-1]) for n in names)

    adapter, model, names = trainable({"method": "last_n", "last_n": 1, "train_projector": True})
    assert adapter.parameter_counts(model)["trainable"] == last_block + projector

    with pytest.raises(ValueError, match="last_n"):
        trainable({"method": "last_n", "last_n": len(groups["language_blocks"]) + 1})


def test_labels_cover_only_the_answer(setup):
    records, spec = setup
    adapter = load_adapter(spec)
    dataset = ClipDataset(records[:3], spec.frames, spec.resolution)
    batch = VideoCollator(adapter, SYSTEM)([dataset[i] for i in range(3)])
    for row, record in enumerate(records[:3]):
        labels, ids = batch["labels"][row], batch["input_ids"][row]
        kept = (labels != -100).nonzero().flatten()
        assert torch.equal(labels[kept], ids[kept])
        assert kept.tolist() == list(range(kept[0].item(), kept[-1].item() + 1))  # one contiguous span
        assert batch["attention_mask"][row, kept[-1] + 1:].sum() == 0  # nothing but padding after it
        text = adapter.tokenizer.decode(ids[kept])
        assert text == record["reference"] + "<|im_end|>"


def test_same_seed_same_losses_and_other_seed_differs(setup, tmp_path):
    records, spec = setup
    cfg = {"method": "full", "lr": 1.0e-3, "max_steps": 3, "batch_size": 2, "logging_steps": 1, "seed": 11}
    losses = []
    for name, seed in (("a", 11), ("b", 11), ("c", 12)):
        train_run(spec, {**cfg, "seed": seed}, records, [], tmp_path / name, system_prompt=SYSTEM,
                  classes=CLASSES, threads=1)
        losses.append([r["loss"] for r in read_jsonl(tmp_path / name / "trainer_log.jsonl")])
    assert len(losses[0]) == 3 and losses[0] == losses[1]
    assert losses[2] != losses[0]  # a different seed shuffles the data differently


def test_config_errors_name_the_option(setup):
    _, spec = setup
    with pytest.raises(ValueError, match="'lr' must be a number"):
        resolve_train_config({"lr": "1e-4"}, spec)  # how YAML 1.1 reads 1e-4
    with pytest.raises(ValueError, match="unknown training option.*learning_rate"):
        resolve_train_config({"learning_rate": 1.0e-4}, spec)
    with pytest.raises(ValueError, match="method"):
        resolve_train_config({"method": "qlora"}, spec)
    assert resolve_train_config({}, spec)["resolution"] == spec.resolution


def test_unreadable_training_clip_names_the_record(setup, tmp_path):
    records, _ = setup
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video")
    dataset = ClipDataset([records[0], {**records[1], "video": str(broken)}], 4, 32, source="train.jsonl")
    with pytest.raises(RecordError, match=r"train.jsonl, record 1, field 'video'"):
        dataset.preload()
    with pytest.raises(RecordError, match=r"record 0, field 'prompt'"):
        ClipDataset([{k: v for k, v in records[0].items() if k != "prompt"}], 4, 32)


def test_bf16_trains_with_fp32_master_weights_on_cpu(setup, tmp_path):
    records, spec = setup
    cfg = {"max_steps": 1, "batch_size": 2, "logging_steps": 1}
    stats = train_run(dataclasses.replace(spec, precision="bf16"), cfg, records, [], tmp_path / "bf16",
                      system_prompt=SYSTEM, classes=CLASSES, threads=1)
    assert stats["precision"] == "bf16" and stats["steps"] == 1
    assert math.isfinite(stats["final_train_loss"])
    with pytest.raises(ValueError, match="fp16"):  # fp16 needs CUDA: refused before any model is loaded
        train_run(dataclasses.replace(spec, precision="fp16"), {}, records, [], tmp_path / "fp16",
                  system_prompt=SYSTEM, classes=CLASSES)
    assert not (tmp_path / "fp16").exists()
