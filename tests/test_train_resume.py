"""Resumable training: a real training process killed (SIGKILL) or preempted (SIGTERM) and restarted ends with
the weights, log and stats of an uninterrupted run; resumable state bookkeeping."""
from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from clip_fixtures import CLASSES, SYSTEM, tiny_spec, write_records
from qvedbench.io import read_json, read_jsonl, write_json
from qvedbench.train import train_run
from qvedbench.train.resume import FINGERPRINT, STATE_DIR, latest_checkpoint, prepare_resume

# Dropout and a warm-up + cosine schedule over two epochs (3 steps each), so RNG state, data order and the LR
# schedule all have to be restored for the result to match.
CFG = {"method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.1}, "train_projector": True, "lr": 5.0e-3,
       "scheduler": "cosine", "warmup_ratio": 0.2, "max_steps": 6, "batch_size": 2, "logging_steps": 1,
       "eval_steps": 3, "save_steps": 2, "seed": 5}

# Trains in a child process; each batch is slowed down so the parent can interrupt it between checkpoints.
TRAIN_CHILD = textwrap.dedent("""
    import json, sys, time
    from qvedbench.models import ModelSpec
    from qvedbench.train import data, train_run

    spec, cfg, records, out, system, classes = json.loads(sys.argv[1])
    collate = data.VideoCollator.__call__
    def slow_collate(self, items):
        time.sleep(0.4)
        return collate(self, items)
    data.VideoCollator.__call__ = slow_collate
    train_run(ModelSpec(**spec), cfg, records, records[::2], out, system_prompt=system, classes=classes, threads=1)
""")


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    records = write_records(root)
    return records, tiny_spec(root, records)


def _train(spec, cfg, records, out):
    return train_run(spec, cfg, records, records[::2], out, system_prompt=SYSTEM, classes=CLASSES, threads=1)


@pytest.fixture(scope="module")
def reference(setup, tmp_path_factory):
    """The uninterrupted run."""
    records, spec = setup
    out = tmp_path_factory.mktemp("reference") / "baseline"
    return out, _train(spec, CFG, records, out)


def _start_child(spec, cfg, records, out: Path) -> subprocess.Popen:
    payload = json.dumps([dataclasses.asdict(spec), cfg, records, str(out), SYSTEM, CLASSES])
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-c", TRAIN_CHILD, payload], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def _wait_for(condition, proc: subprocess.Popen, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"training ended before it could be interrupted:\n{proc.communicate()[1][-3000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("training never reached the point to interrupt it")
        time.sleep(0.05)


def _train_rows(log_partial: Path) -> list[dict]:
    if not log_partial.exists():
        return []
    return [r for r in read_jsonl(log_partial, tolerate_torn_tail=True) if "loss" in r]


def _assert_matches_reference(out: Path, stats: dict, reference) -> None:
    ref_out, ref_stats = reference
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint", "resolved_config.yaml", "train_stats.json", "trainer_log.jsonl"]
    log = read_jsonl(out / "trainer_log.jsonl")
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4, 5, 6]  # continued, nothing logged twice
    assert log == read_jsonl(ref_out / "trainer_log.jsonl")  # same losses, grad norms, learning rates, epochs
    weights = load_file(out / "checkpoint" / "adapter_model.safetensors")
    ref_weights = load_file(ref_out / "checkpoint" / "adapter_model.safetensors")
    assert weights.keys() == ref_weights.keys()
    assert all(torch.equal(weights[k], ref_weights[k]) for k in weights)
    assert stats == read_json(out / "train_stats.json")
    for key in ("steps", "epochs", "trainable_params", "final_train_loss", "final_eval_loss"):
        assert stats[key] == ref_stats[key], key
    assert stats["mean_train_loss"] == pytest.approx(ref_stats["mean_train_loss"], rel=1e-12)
    assert ref_stats["resumed_from_step"] is None


def test_sigkill_after_a_checkpoint_resumes_to_the_uninterrupted_result(setup, reference, tmp_path):
    records, spec = setup
    out = tmp_path / "baseline"
    proc = _start_child(spec, CFG, records, out)
    _wait_for(lambda: latest_checkpoint(out / STATE_DIR) is not None, proc)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed_at = [r["step"] for r in _train_rows(out / "trainer_log.jsonl.partial")]
    assert 2 <= max(killed_at) < 6
    for final in ("checkpoint", "trainer_log.jsonl", "train_stats.json"):
        assert not (out / final).exists(), final  # nothing that looks finished
    resumable = latest_checkpoint(out / STATE_DIR)

    stats = _train(spec, CFG, records, out)
    assert stats["resumed_from_step"] == int(resumable.name.split("-")[1]) in (2, 4)
    _assert_matches_reference(out, stats, reference)


def test_sigterm_saves_state_at_the_current_step_and_exits_with_an_error(setup, reference, tmp_path):
    records, spec = setup
    out = tmp_path / "baseline"
    no_periodic = {**CFG, "save_steps": None}  # any checkpoint found afterwards comes from the signal
    proc = _start_child(spec, no_periodic, records, out)
    _wait_for(lambda: len(_train_rows(out / "trainer_log.jsonl.partial")) >= 1, proc)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "TrainingInterrupted" in stderr and "a rerun resumes it" in stderr
    saved = latest_checkpoint(out / STATE_DIR)
    assert saved is not None
    saved_step = int(saved.name.split("-")[1])
    assert 1 <= saved_step < 6
    assert max(r["step"] for r in _train_rows(out / "trainer_log.jsonl.partial")) == saved_step
    assert not (out / "checkpoint").exists() and not (out / "train_stats.json").exists()

    stats = _train(spec, CFG, records, out)  # save_steps may differ between attempts
    assert stats["resumed_from_step"] == saved_step
    _assert_matches_reference(out, stats, reference)


def _fake_checkpoint(state_dir: Path, step: int, complete: bool = True) -> Path:
    folder = state_dir / f"checkpoint-{step}"
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"weights")
    if complete:
        write_json(folder / "trainer_state.json", {"global_step": step})
    return folder


def test_resume_skips_a_checkpoint_cut_off_mid_save_and_trims_the_log(tmp_path):
    state = tmp_path / STATE_DIR
    write_json(state / FINGERPRINT, {"sha256": "abc"})
    _fake_checkpoint(state, 4)
    torn = _fake_checkpoint(state, 6, complete=False)
    (torn / "trainer_state.json").write_text('{"global_st')  # killed while writing the last file
    partial = tmp_path / "trainer_log.jsonl.partial"
    rows = [{"step": s, "loss": 1.0 / s} for s in range(1, 8)] + [{"step": 4, "eval_loss": 0.5}]
    partial.write_text("".join(json.dumps(r) + "\n" for r in rows) + '{"step": 8, "lo')

    assert prepare_resume(tmp_path, "abc", partial) == state / "checkpoint-4"
    assert not torn.exists()
    assert read_jsonl(partial) == [r for r in rows if r["step"] <= 4]


def test_state_from_other_inputs_is_discarded(tmp_path):
    state = tmp_path / STATE_DIR
    write_json(state / FINGERPRINT, {"sha256": "old settings"})
    _fake_checkpoint(state, 4)
    partial = tmp_path / "trainer_log.jsonl.partial"
    partial.write_text('{"step": 1, "loss": 2.0}\n')

    assert prepare_resume(tmp_path, "new settings", partial) is None
    assert not partial.exists() and not (state / "checkpoint-4").exists()
    assert read_json(state / FINGERPRINT) == {"sha256": "new settings"}
    assert prepare_resume(tmp_path, "new settings", partial) is None  # nothing to resume, nothing to fail on


def test_a_crash_while_publishing_resumes_from_the_final_step(setup, reference, tmp_path, monkeypatch):
    records, spec = setup
    out = tmp_path / "baseline"

    def crash(*args):
        raise KeyboardInterrupt("killed while publishing")

    with monkeypatch.context() as patch:
        patch.setattr("qvedbench.train.run.publish_directory", crash)
        with pytest.raises(KeyboardInterrupt):
            _train(spec, CFG, records, out)
    assert not (out / "checkpoint").exists() and not (out / "train_stats.json").exists()
    assert latest_checkpoint(out / STATE_DIR).name == "checkpoint-6"

    stats = _train(spec, CFG, records, out)
    assert stats["resumed_from_step"] == 6
    _assert_matches_reference(out, stats, reference)
