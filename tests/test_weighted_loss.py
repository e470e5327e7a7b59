"""Class-weighted loss (loss_weighting: class): weights, the loss on a hand-computed batch, the Trainer and
the collator, and that loss_weighting none trains exactly as before."""
from __future__ import annotations

import math

import pytest
import torch
from safetensors.torch import load_file

from clip_fixtures import CLASSES, SYSTEM, tiny_spec, write_records
from qvedbench.io import RecordError, read_json
from qvedbench.models import load_adapter
from qvedbench.train import resolve_train_config, train_run
from qvedbench.train.data import ClipDataset, VideoCollator
from qvedbench.train.weighting import (WEIGHT_KEY, WeightedLossTrainer, class_counts, class_weights, sample_weights,
                                       weighted_token_loss)


def records_of(counts: dict[str, int]) -> list[dict]:
    return [{"id": f"{c}/{i}", "exercise": c} for c, n in counts.items() for i in range(n)]


def test_weights_are_inverse_to_class_frequency_with_mean_one():
    records = records_of({"a": 6, "b": 3, "c": 1})
    weights = class_weights(records)
    # N / (C * n_c) with N = 10, C = 3
    assert weights == pytest.approx({"a": 10 / 18, "b": 10 / 9, "c": 10 / 3})
    assert weights["a"] * 6 == pytest.approx(weights["b"] * 3) == pytest.approx(weights["c"] * 1)  # inverse
    per_sample = sample_weights(records, "class")
    assert len(per_sample) == 10 and sum(per_sample) / 10 == pytest.approx(1.0)
    assert per_sample[0] == weights["a"] and per_sample[-1] == weights["c"]
    assert set(sample_weights(records_of({"a": 4, "b": 4}), "class")) == {1.0}  # balanced: all 1
    assert sample_weights(records, "none") is None
    assert class_counts(records) == {"a": 6, "b": 3, "c": 1}


def test_bad_records_and_modes_are_named():
    with pytest.raises(RecordError, match=r"train\.jsonl.*record 1.*'exercise'"):
        class_weights([{"exercise": "a"}, {"id": "x"}], source="train.jsonl")
    with pytest.raises(ValueError, match="loss_weighting 'sample'"):
        sample_weights(records_of({"a": 1}), "sample")
    with pytest.raises(ValueError, match="no records"):
        class_weights([])


def _cross_entropy(row: list[float], target: int) -> float:
    return math.log(sum(math.exp(v) for v in row)) - row[target]


LOGITS = torch.tensor([
    [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0], [0.5, 0.5, 3.0], [9.0, 9.0, 9.0]],
    [[0.0, 0.0, 1.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0]],
])
# -100 on the prompt and padding: sample 0 has answer tokens at positions 2 and 3, sample 1 only at 1
LABELS = torch.tensor([[-100, -100, 2, 0], [-100, 1, -100, -100]])


def test_weighted_loss_equals_the_hand_computed_value():
    # position t predicts label t + 1: sample 0 -> (logits[0,1], 2), (logits[0,2], 0); sample 1 -> (logits[1,0], 1)
    ce0 = [_cross_entropy([0.0, 2.0, 0.0], 2), _cross_entropy([0.5, 0.5, 3.0], 0)]
    ce1 = [_cross_entropy([0.0, 0.0, 1.0], 1)]
    weights = torch.tensor([0.5, 2.0])
    expected = (0.5 * sum(ce0) + 2.0 * sum(ce1)) / 3  # summed over answer tokens, over 3 answer tokens
    assert weighted_token_loss(LOGITS, LABELS, weights).item() == pytest.approx(expected, rel=1e-6)
    # with the Trainer's token count over an accumulated batch (here 6 tokens in two micro-batches)
    assert weighted_token_loss(LOGITS, LABELS, weights, torch.tensor(6)).item() == pytest.approx(expected / 2,
                                                                                                 rel=1e-6)
    # weight 1 everywhere is the ordinary causal-LM loss (token mean), the model's own loss
    from transformers.loss.loss_utils import ForCausalLMLoss

    plain = ForCausalLMLoss(LOGITS, LABELS, vocab_size=3).item()
    assert plain == pytest.approx((sum(ce0) + sum(ce1)) / 3, rel=1e-6)
    assert weighted_token_loss(LOGITS, LABELS, torch.ones(2)).item() == pytest.approx(plain, rel=1e-6)
    assert weighted_token_loss(LOGITS, LABELS).item() == pytest.approx(plain, rel=1e-6)
    with pytest.raises(ValueError, match="weights for a batch of 2"):
        weighted_token_loss(LOGITS, LABELS, torch.ones(3))
    with pytest.raises(ValueError, match="one logit row per input token"):
        weighted_token_loss(LOGITS[:, :3], LABELS)


class _Echo(torch.nn.Module):
    """A model that returns fixed logits and fails on any input it does not know (such as the weights)."""

    def __init__(self):
        super().__init__()
        self.scale = torch.nn.Parameter(torch.ones(()))

    def forward(self, input_ids, labels=None):
        return {"logits": LOGITS * self.scale}


def test_trainer_removes_the_weights_before_the_forward_and_weights_the_loss(tmp_path):
    from transformers import TrainingArguments

    args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none")
    trainer = WeightedLossTrainer(model=_Echo(), args=args)
    inputs = {"input_ids": torch.zeros(2, 4, dtype=torch.long), "labels": LABELS,
              WEIGHT_KEY: torch.tensor([0.5, 2.0])}
    loss = trainer.compute_loss(trainer.model, inputs)
    assert loss.item() == pytest.approx(weighted_token_loss(LOGITS, LABELS, torch.tensor([0.5, 2.0])).item())
    assert WEIGHT_KEY in inputs  # the caller's batch is left as it was
    unweighted = trainer.compute_loss(trainer.model, {k: v for k, v in inputs.items() if k != WEIGHT_KEY})
    assert unweighted.item() == pytest.approx(weighted_token_loss(LOGITS, LABELS).item())


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("weighted")
    records = write_records(root, per_class=2)  # 2 clips of each of 3 classes: balanced
    return records, tiny_spec(root, records)


def test_collator_carries_the_weights_only_when_given(setup):
    records, spec = setup
    adapter = load_adapter(spec)
    weights = sample_weights(records, "class")
    weighted = ClipDataset(records, spec.frames, spec.resolution, weights=weights)
    batch = VideoCollator(adapter, SYSTEM)([weighted[i] for i in range(3)])
    assert batch[WEIGHT_KEY].dtype == torch.float32 and batch[WEIGHT_KEY].tolist() == weights[:3]
    plain = ClipDataset(records, spec.frames, spec.resolution)
    assert WEIGHT_KEY not in VideoCollator(adapter, SYSTEM)([plain[i] for i in range(3)])
    with pytest.raises(ValueError, match="2 sample weights for 6 records"):
        ClipDataset(records, spec.frames, spec.resolution, weights=[1.0, 1.0])


CFG = {"method": "full", "lr": 1.0e-3, "scheduler": "constant", "warmup_ratio": 0.0, "max_steps": 2,
       "batch_size": 3, "logging_steps": 1, "save_steps": None, "seed": 5}


def _weights(out) -> dict[str, torch.Tensor]:
    return load_file(str(out / "checkpoint" / "model.safetensors"))


def test_config_accepts_only_known_weightings(setup):
    _, spec = setup
    assert resolve_train_config({}, spec)["loss_weighting"] == "none"
    with pytest.raises(ValueError, match="'loss_weighting' must be one of none, class"):
        resolve_train_config({"loss_weighting": "inverse"}, spec)


def test_none_trains_exactly_as_before_and_class_on_uniform_classes_equals_it(setup, tmp_path):
    """`none` is the unchanged code path (the plain Trainer and the model's own loss); `class` reduces to it
    when every class is equally frequent (all weights 1), and differs from it on imbalanced data."""
    records, spec = setup
    runs = {}
    for name, cfg, recs in (("default", CFG, records), ("none", {**CFG, "loss_weighting": "none"}, records),
                            ("class", {**CFG, "loss_weighting": "class"}, records)):
        stats = train_run(spec, cfg, recs, [], tmp_path / name, system_prompt=SYSTEM, classes=CLASSES, threads=1)
        runs[name] = (_weights(tmp_path / name), stats)
    default, none, uniform = runs["default"][0], runs["none"][0], runs["class"][0]
    assert default.keys() == none.keys() and all(torch.equal(default[k], none[k]) for k in default)
    # equal up to float rounding (a different summation order, amplified by Adam's normalisation; the two steps
    # of lr 1e-3 move weights by ~2e-3)
    assert all(torch.allclose(none[k], uniform[k], rtol=0, atol=1e-5) for k in none)
    assert runs["none"][1]["loss_weighting"] == "none" and runs["none"][1]["class_weights"] is None
    assert runs["class"][1]["class_weights"] == {c: 1.0 for c in CLASSES}
    assert runs["class"][1]["train_class_counts"] == {c: 2 for c in CLASSES}

    # drop one squat: squats 1, lunges 2, push-ups 2 -> weights 5/3, 5/6, 5/6; now the weighting changes training
    imbalanced = records[1:]
    for name, mode in (("imb_none", "none"), ("imb_class", "class")):
        # validation batches carry no weights: their loss is the plain one, comparable across runs
        train_run(spec, {**CFG, "loss_weighting": mode, "eval_steps": 1}, imbalanced, records[:2],
                  tmp_path / name, system_prompt=SYSTEM, classes=CLASSES, threads=1)
    stats = read_json(tmp_path / "imb_class" / "train_stats.json")
    assert stats["class_weights"] == pytest.approx({"squats": 5 / 3, "lunges": 5 / 6, "push-ups": 5 / 6})
    assert stats["train_class_counts"] == {"squats": 1, "lunges": 2, "push-ups": 2}
    assert stats["final_eval_loss"] > 0 and math.isfinite(stats["final_eval_loss"])
    a, b = _weights(tmp_path / "imb_none"), _weights(tmp_path / "imb_class")
    assert max((a[k] - b[k]).abs().max().item() for k in a) > 1e-4
