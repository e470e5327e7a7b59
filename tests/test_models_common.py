"""Shared adapter machinery: input checks, padding and labels, checkpoint folders, parameter groups."""
import numpy as np
import pytest
import torch

from qvedbench.models.common import (
    append_answers,
    check_videos,
    checkpoint_kind,
    group_parameter_counts,
    save_folder_atomically,
    text_batch,
)


def test_check_videos_names_the_bad_video_and_the_count_mismatch():
    good = np.zeros((2, 8, 8, 3), np.uint8)
    check_videos([good], ["p"], ["a"])
    with pytest.raises(ValueError, match="1 videos, 2 prompts"):
        check_videos([good], ["p", "q"], None)
    with pytest.raises(ValueError, match="video 1 must be a .* uint8 array"):
        check_videos([good, good.astype(np.float32)], ["p", "q"], None)
    with pytest.raises(ValueError, match="video 0 has no frames"):
        check_videos([good[:0]], ["p"], None)
    with pytest.raises(ValueError, match="empty batch"):
        check_videos([], [], None)


def test_generation_batches_pad_left_and_training_batches_label_only_the_answer():
    prompts = [[5, 6, 7], [8]]
    gen = text_batch(prompts, pad_id=0)
    assert gen["input_ids"].tolist() == [[5, 6, 7], [0, 0, 8]]
    assert gen["attention_mask"].tolist() == [[1, 1, 1], [0, 0, 1]] and "labels" not in gen
    rows, labels = append_answers(prompts, [[9, 2], [9, 9, 2]])
    train = text_batch(rows, pad_id=0, labels=labels)
    assert train["input_ids"].tolist() == [[5, 6, 7, 9, 2], [8, 9, 9, 2, 0]]
    assert train["labels"].tolist() == [[-100, -100, -100, 9, 2], [-100, 9, 9, 2, -100]]
    assert train["attention_mask"].tolist() == [[1] * 5, [1, 1, 1, 1, 0]]


def test_checkpoint_kind_tells_lora_from_full_and_rejects_anything_else(tmp_path):
    assert checkpoint_kind("m", None) == (None, None)
    with pytest.raises(FileNotFoundError, match="model 'm': checkpoint folder .* does not exist"):
        checkpoint_kind("m", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="neither a peft adapter"):
        checkpoint_kind("m", tmp_path)
    (tmp_path / "config.json").write_text("{}")
    assert checkpoint_kind("m", tmp_path) == (tmp_path, "full")
    (tmp_path / "adapter_config.json").write_text("{}")
    assert checkpoint_kind("m", str(tmp_path)) == (tmp_path, "lora")


class _Toy(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.visual = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.Linear(3, 4))  # [1] is the projector
        self.lm = torch.nn.Embedding(10, 4)
        self.head = torch.nn.Linear(4, 10, bias=False)
        self.head.weight = self.lm.weight  # tied: counted once


def test_group_counts_use_the_longest_prefix_and_add_up():
    groups = {"vision": ["visual"], "projector": ["visual.1"], "language": ["lm"], "lm_head": ["head"]}
    counts = group_parameter_counts(_Toy(), groups)
    assert counts == {"total": 9 + 16 + 40, "vision": 9, "projector": 16, "language": 40}
    with pytest.raises(ValueError, match="parameter 'lm.weight' belongs to none"):
        group_parameter_counts(_Toy(), {"vision": ["visual"]})


def test_save_folder_atomically_replaces_or_leaves_the_old_folder(tmp_path):
    out = tmp_path / "ckpt"
    save_folder_atomically(out, lambda d: (d / "a.txt").write_text("1"))
    save_folder_atomically(out, lambda d: (d / "b.txt").write_text("2"))
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]

    def broken(d):
        (d / "half.txt").write_text("x")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        save_folder_atomically(out, broken)
    assert sorted(p.name for p in out.iterdir()) == ["b.txt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no temporary folder left
