"""qvedbench.profile: stage timing on a synthetic clock, statistics, out-of-memory as a result, a tiny model."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from clip_fixtures import SYSTEM, tiny_spec, write_records
from qvedbench.models import ModelSpec
from qvedbench.profile import (
    MemoryCapExceeded,
    dominant_stage,
    folder_bytes,
    model_memory_bytes,
    profile_adapter,
    profile_model,
    summarize,
)


class SyntheticClock:
    """Time advances only when told to."""

    method = "synthetic"

    def __init__(self):
        self.now = 0.0

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def mark(self) -> float:
        return self.now

    def sync(self) -> None:
        pass

    def elapsed(self, start: float, end: float) -> float:
        return end - start


class ClockedModel(torch.nn.Module):
    """The first forward of a generate call takes ``prefill`` s, later ones ``step`` s each."""

    def __init__(self, clock: SyntheticClock, prefill: float, step: float):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(10, 10))
        self.register_buffer("scale", torch.ones(5, dtype=torch.float16))
        self.clock, self.prefill, self.step, self.first = clock, prefill, step, True

    def forward(self):
        self.clock.advance(self.prefill if self.first else self.step)
        self.first = False


class FakeAdapter:
    """Generates ``tokens`` tokens per call, with fixed preprocessing and detokenising times."""

    def __init__(self, clock, tokens=5, preprocess=0.010, prefill=0.100, step=0.020, postprocess=0.001,
                 on_generate=None):
        self.clock, self.tokens, self.preprocess, self.postprocess = clock, tokens, preprocess, postprocess
        self.model = ClockedModel(clock, prefill, step)
        self.spec = ModelSpec(name="fake", family="none", path="none", frames=4, resolution=32)
        self.on_generate = on_generate
        self.batches: list[int] = []

    @property
    def device(self):
        return torch.device("cpu")

    def generate(self, videos, system, prompts, max_new_tokens=64):
        self.batches.append(len(videos))
        if self.on_generate:
            self.on_generate(len(videos))
        self.clock.advance(self.preprocess)
        self.model.first = True
        for _ in range(min(self.tokens, max_new_tokens)):
            self.model()
        self.clock.advance(self.postprocess)
        return ["answer"] * len(videos)


RECORDS = [{"id": str(i), "prompt": "p"} for i in range(3)]


def _decoder(clock, seconds=0.005, frames=4):
    def decode(record):
        clock.advance(seconds)
        return np.zeros((frames, 8, 8, 3), dtype=np.uint8)
    return decode


def _profile(clock, adapter, **kwargs):
    settings = dict(system_prompt="s", batch_size=2, max_new_tokens=8, warmup=1, min_samples=6, min_seconds=0.0,
                    clock=clock, decode_clip=_decoder(clock), sample_interval_s=10.0)
    settings.update(kwargs)
    return profile_adapter(adapter, RECORDS, **settings)


def test_stage_times_on_a_synthetic_clock():
    clock = SyntheticClock()
    result = _profile(clock, FakeAdapter(clock))
    assert result["status"] == "ok" and result["timing_method"] == "synthetic"
    assert result["iterations"] == 3 and result["samples"] == 6  # warm-up not counted
    stages = result["stages"]
    expected = {"decode_video": 0.010, "preprocess": 0.010, "prefill": 0.100, "decode": 0.080,
                "decode_per_token": 0.020, "postprocess": 0.001, "ttft": 0.120, "e2e": 0.201,
                "e2e_per_sample": 0.1005}
    for stage, seconds in expected.items():
        assert stages[stage]["mean"] == pytest.approx(seconds), stage
        assert stages[stage]["p99"] == pytest.approx(seconds) and stages[stage]["std"] == pytest.approx(0.0)
    assert result["dominant_stage"] == "prefill"
    assert result["throughput"]["tokens_per_s"] == pytest.approx(30 / 0.603)  # 3 iterations x 5 steps x 2
    assert result["throughput"]["frames_per_s"] == pytest.approx(24 / 0.603)
    assert result["throughput"]["samples_per_s"] == pytest.approx(6 / 0.603)
    assert result["per_iteration"][0]["steps"] == 5 and result["per_iteration"][0]["tokens"] == 10


def test_decode_dominates_long_answers_and_single_token_has_no_per_token_time():
    clock = SyntheticClock()
    long = _profile(clock, FakeAdapter(clock, tokens=50, step=0.01), max_new_tokens=64)
    assert long["dominant_stage"] == "decode"
    one = _profile(clock, FakeAdapter(clock, tokens=1))
    assert one["stages"]["decode_per_token"]["n"] == 0 and one["stages"]["decode_per_token"]["mean"] is None
    assert one["stages"]["decode"]["mean"] == pytest.approx(0.0)


def test_runs_until_both_minimum_samples_and_minimum_seconds():
    clock = SyntheticClock()
    # each iteration is 0.201 s of synthetic time: 1.0 s needs 5 iterations although 2 samples would do
    result = _profile(clock, FakeAdapter(clock), min_samples=2, min_seconds=1.0)
    assert result["iterations"] == 5 and result["measured_s"] == pytest.approx(1.005)
    capped = _profile(clock, FakeAdapter(clock), min_samples=2, min_seconds=1.0, max_iterations=2)
    assert capped["iterations"] == 2


def test_batches_cycle_through_the_records():
    clock = SyntheticClock()
    seen = []
    _profile(clock, FakeAdapter(clock), decode_clip=lambda r: seen.append(r["id"]) or np.zeros((4, 8, 8, 3),
                                                                                                np.uint8))
    assert seen == ["0", "1", "2", "0", "1", "2", "0", "1"]  # warm-up batch, then 3 measured batches


def test_summarize_statistics_and_missing_values():
    stats = summarize([1.0, 2.0, 3.0, 4.0, None])
    assert stats["n"] == 4 and stats["mean"] == 2.5 and stats["p50"] == 2.5
    assert stats["std"] == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert stats["p95"] == pytest.approx(3.85) and stats["p99"] == pytest.approx(3.97)
    assert summarize([None])["mean"] is None and summarize([2.0])["std"] is None
    assert dominant_stage([]) is None


def test_memory_cap_turns_a_large_batch_into_a_recorded_oom():
    clock = SyntheticClock()
    used = {"bytes": 0}
    probe = lambda: used["bytes"]  # noqa: E731 - memory grows with the batch being generated

    def allocate(batch):
        used["bytes"] = batch * 100 * 2**20

    results = {b: _profile(clock, FakeAdapter(clock, on_generate=allocate), batch_size=b, memory_probe=probe,
                           memory_cap_mb=450) for b in (1, 2, 4, 8)}
    assert [results[b]["status"] for b in (1, 2, 4, 8)] == ["ok", "ok", "ok", "oom"]
    oom = results[8]
    assert "MemoryCapExceeded" in oom["error"] and oom["iterations"] == 0
    assert oom["stages"]["e2e"]["mean"] is None and oom["memory"]["peak_mb"] == pytest.approx(800)
    assert results[4]["memory"]["peak_mb"] == pytest.approx(400)
    json.dumps(oom)  # the result stays writable


def test_cuda_out_of_memory_is_a_result_and_other_errors_are_not(monkeypatch):
    clock = SyntheticClock()

    def oom(batch):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    result = _profile(clock, FakeAdapter(clock, on_generate=oom))
    assert result["status"] == "oom" and "OutOfMemoryError" in result["error"]

    def broken(batch):
        raise RuntimeError("shape mismatch")

    with pytest.raises(RuntimeError, match="shape mismatch"):
        _profile(clock, FakeAdapter(clock, on_generate=broken))


def test_bad_settings_are_refused():
    clock = SyntheticClock()
    with pytest.raises(ValueError, match="batch_size"):
        _profile(clock, FakeAdapter(clock), batch_size=0)
    with pytest.raises(ValueError, match="no records"):
        profile_adapter(FakeAdapter(clock), [], system_prompt="s")


def test_model_size_in_memory_and_on_disk(tmp_path):
    model = ClockedModel(SyntheticClock(), 0, 0)
    assert model_memory_bytes(model) == 100 * 4 + 5 * 2
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "w.bin").write_bytes(b"x" * 10)
    (tmp_path / "b.json").write_text("{}")
    assert folder_bytes(tmp_path) == 12 and folder_bytes(tmp_path / "missing") is None
    assert folder_bytes("Qwen/Qwen2-VL-2B-Instruct") is None


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("profile")
    records = write_records(root, per_class=1)
    return records, tiny_spec(root, records)


def test_profiles_a_tiny_model_on_the_cpu(tiny):
    records, spec = tiny
    result = profile_model(spec, None, records, system_prompt=SYSTEM, threads=1, batch_size=2, max_new_tokens=4,
                           warmup=1, min_samples=4, min_seconds=0.0, sample_interval_s=0.005)
    assert result["status"] == "ok" and result["timing_method"] == "wall_clock" and result["model"] == "tiny"
    assert result["samples"] >= 4 and result["device"]["type"] == "cpu"
    for it in result["per_iteration"]:
        parts = sum(it[s] for s in ("decode_video", "preprocess", "prefill", "decode", "postprocess"))
        assert parts == pytest.approx(it["e2e"], rel=1e-6) and 1 <= it["steps"] <= 4
        assert it["frames"] == 2 * spec.frames
    size = result["model_size"]
    assert size["memory_bytes"] >= 4 * size["parameters"] > 0  # fp32 parameters plus buffers
    assert size["disk_bytes"] > size["memory_bytes"] // 2
    memory = result["memory"]
    assert memory["peak_kind"] == "process_rss" and memory["peak_mb"] > 50 and len(memory["timeline"]) >= 2
    assert memory["cuda_peak_allocated_mb"] is None
    json.dumps(result)


def test_rss_cap_below_current_use_is_an_oom_on_a_real_model(tiny):
    records, spec = tiny
    import psutil

    cap = psutil.Process().memory_info().rss / 2**20 - 1
    result = profile_model(spec, None, records, system_prompt=SYSTEM, threads=1, batch_size=1, max_new_tokens=4,
                           warmup=0, min_samples=1, min_seconds=0.0, memory_cap_mb=cap)
    assert result["status"] == "oom" and "over the cap" in result["error"] and result["iterations"] == 0
    assert result["model_size"]["parameters"] > 0
