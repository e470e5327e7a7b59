"""qvedbench.quantize: applicability per device, int8 quantization of tiny models of every family, one level's job."""
from __future__ import annotations

import dataclasses

import pytest
import torch

import qvedbench.quantize as q
from clip_fixtures import SYSTEM, tiny_spec, write_records
from qvedbench.io import read_jsonl
from qvedbench.models import load_adapter
from qvedbench.train.data import clip_frames

FAMILIES = ("qwen2_vl", "videollama3", "nvila_lite", "mobile_videogpt")


def test_cpu_decisions():
    cpu = torch.device("cpu")
    assert q.decide("fp32", cpu).applicable and q.decide("bf16", cpu).applicable
    fp16, tf32 = q.decide("fp16", cpu), q.decide("tf32", cpu)
    assert not fp16.applicable and "not supported on the CPU" in fp16.reason
    assert not tf32.applicable and "CUDA" in tf32.reason
    for level in q.INT8_LEVELS:
        decision = q.decide(level, cpu)
        assert decision.applicable and decision.precision == "fp32" and "torchao" in decision.method
    with pytest.raises(ValueError, match="unknown precision level 'int4'"):
        q.decide("int4", cpu)


def test_bitsandbytes_backend_decisions(monkeypatch):
    monkeypatch.setattr(q, "bitsandbytes_available", lambda: True)
    on_cpu = q.decide("int8_dynamic", "cpu", int8_backend="bitsandbytes")
    assert not on_cpu.applicable and "needs a CUDA device" in on_cpu.reason
    assert "torchao" in q.decide("int8_dynamic", "cpu", int8_backend="auto").method  # auto: torchao off CUDA
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    on_gpu = q.decide("int8_dynamic", "cuda", int8_backend="auto")
    assert on_gpu.applicable and "bitsandbytes" in on_gpu.method and on_gpu.precision == "fp16"
    assert "torchao" in q.decide("int8_dynamic", "cuda", int8_backend="torchao").method
    assert "torchao" in q.decide("int8_static", "cuda", int8_backend="bitsandbytes").method  # static: torchao
    monkeypatch.setattr(q, "bitsandbytes_available", lambda: False)
    assert "torchao" in q.decide("int8_dynamic", "cuda").method
    missing = q.decide("int8_dynamic", "cuda", int8_backend="bitsandbytes")
    assert not missing.applicable and "bitsandbytes package is not installed" in missing.reason
    with pytest.raises(ValueError, match="unknown int8 backend 'gptq'"):
        q.decide("int8_dynamic", "cpu", int8_backend="gptq")


def test_bitsandbytes_conversion_generates(clips):
    """LLM.int8 layers replace the Linears (tied ones kept); run where bitsandbytes is installed (it also has a
    CPU path, so the conversion is checked without a GPU)."""
    pytest.importorskip("bitsandbytes")
    root, records = clips
    spec = _spec(root, records, "qwen2_vl")
    adapter = load_adapter(spec)
    before = q.model_bytes(adapter.model)
    info = q.quantize_int8_bitsandbytes(adapter.model)
    types = q.linear_weight_types(adapter.model)
    assert types.get("Int8Params") == info["quantized_linears"] > 0
    assert sum(types.values()) == info["quantized_linears"] + len(info["not_converted"])
    assert q.model_bytes(adapter.model) < before
    answers = adapter.generate(_videos(spec, records), SYSTEM, [r["prompt"] for r in records], max_new_tokens=4)
    assert len(answers) == len(records)


def test_int8_needs_torchao(monkeypatch):
    monkeypatch.setattr(q, "torchao_available", lambda: False)
    decision = q.decide("int8_static", "cpu")
    assert not decision.applicable and "torchao package is not installed" in decision.reason


def test_cuda_decisions_on_an_older_gpu(monkeypatch):
    """A pre-Ampere GPU: no TF32 and no bf16, but fp16 and int8 run (decided without touching a real GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (7, 5))
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Tesla T4")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    cuda = torch.device("cuda")
    tf32 = q.decide("tf32", cuda)
    assert not tf32.applicable and "compute capability 8.0" in tf32.reason and "Tesla T4 is 7.5" in tf32.reason
    bf16 = q.decide("bf16", cuda)
    assert not bf16.applicable and "not supported by Tesla T4" in bf16.reason
    assert q.decide("fp16", cuda).applicable and q.decide("int8_dynamic", cuda).applicable
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: (9, 0))
    assert q.decide("tf32", cuda).applicable


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    root = tmp_path_factory.mktemp("quantize")
    return root, write_records(root, per_class=1)


def _spec(root, records, family):
    spec = tiny_spec(root / family, records, family=family)
    # Mobile-VideoGPT takes whole 8-frame chunks
    return dataclasses.replace(spec, frames=8) if family == "mobile_videogpt" else spec


def _videos(spec, records):
    return [clip_frames(r, spec.frames, spec.resolution) for r in records]


@pytest.mark.parametrize("family", FAMILIES)
def test_int8_weight_only_generates_and_shrinks(clips, family):
    root, records = clips
    spec = _spec(root, records, family)
    fp32 = load_adapter(spec).model.eval()
    before_memory, before_disk = q.model_bytes(fp32), q.state_dict_bytes(fp32)
    adapter, info = q.load_at_level(spec, None, q.decide("int8_dynamic", "cpu"))
    types = q.linear_weight_types(adapter.model)
    assert set(types) == {"Int8Tensor"} and info["quantized_linears"] == types["Int8Tensor"] > 0
    weight = next(m.weight for m in adapter.model.modules() if isinstance(m, torch.nn.Linear))
    assert weight.qdata.dtype == torch.int8
    answers = adapter.generate(_videos(spec, records), SYSTEM, [r["prompt"] for r in records], max_new_tokens=4)
    assert len(answers) == len(records) and all(isinstance(a, str) for a in answers)
    assert q.model_bytes(adapter.model) < before_memory and q.state_dict_bytes(adapter.model) < before_disk


@pytest.mark.parametrize("family", FAMILIES)
def test_int8_static_is_calibrated_and_generates(clips, family):
    root, records = clips
    spec = _spec(root, records, family)
    calibrate = q.calibration_runner(records[:2], system_prompt=SYSTEM, max_new_tokens=3, batch_size=2)
    adapter, info = q.load_at_level(spec, None, q.decide("int8_static", "cpu"), calibrate=calibrate)
    weights = [m.weight for m in adapter.model.modules() if isinstance(m, torch.nn.Linear)]
    quantized = [w for w in weights if type(w).__name__ == "Int8Tensor"]
    assert len(quantized) == info["quantized_linears"] > 0
    assert len(weights) == len(quantized) + len(info["uncalibrated_linears"])
    # static: the activation scale is fixed by calibration, not chosen per call
    assert all(w.act_quant_scale is not None and w.act_quant_scale.numel() == 1 for w in quantized)
    answers = adapter.generate(_videos(spec, records), SYSTEM, [r["prompt"] for r in records], max_new_tokens=4)
    assert len(answers) == len(records)
    with pytest.raises(ValueError, match="calibration"):
        q.load_at_level(spec, None, q.decide("int8_static", "cpu"))


def test_tensor_bytes_counts_int8_data():
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    layer = torch.nn.Linear(64, 32, bias=False)
    assert q.tensor_bytes(layer.weight) == 64 * 32 * 4
    quantize_(layer, Int8WeightOnlyConfig(set_inductor_config=False))
    assert 64 * 32 <= q.tensor_bytes(layer.weight) < 64 * 32 * 2  # int8 data plus one scale per row


def test_run_level_not_applicable_loads_nothing(clips, tmp_path, monkeypatch):
    root, records = clips
    spec = _spec(root, records, "qwen2_vl")
    monkeypatch.setattr(q, "load_adapter", lambda *a, **k: pytest.fail("an inapplicable level was loaded"))
    out = tmp_path / "clean@fp16.jsonl"
    result = q.run_level(spec, None, "fp16", records, out, system_prompt=SYSTEM)
    assert result["status"] == "not_applicable" and "CPU" in result["reason"] and result["predictions"] == 0
    assert out.exists() and read_jsonl(out) == []


@pytest.mark.parametrize("level", q.INT8_LEVELS)
def test_run_level_int8(clips, tmp_path, level):
    root, records = clips
    spec = _spec(root, records, "qwen2_vl")
    out = tmp_path / f"clean@{level}.jsonl"
    profile = {"warmup": 0, "min_samples": 1, "min_seconds": 0.0, "max_new_tokens": 3, "sample_interval_s": 0.01}
    calibration = q.calibration_sample(records, 2, seed=0)
    result = q.run_level(spec, None, level, records, out, system_prompt=SYSTEM, batch_size=2, max_new_tokens=4,
                         profile=profile, threads=1, calibration_records=calibration)
    rows = read_jsonl(out)
    assert result["status"] == "ok" and result["predictions"] == len(rows) == len(records)
    assert {r["variant"] for r in rows} == {f"clean@{level}"} and all(r["prediction"] is not None for r in rows)
    assert result["profile"]["status"] == "ok" and result["profile"]["stages"]["e2e_per_sample"]["p50"] > 0
    assert result["size"]["memory_bytes"] > 0 and result["size"]["state_dict_bytes"] > 0
    assert result["quantization"]["linear_weight_types"]["Int8Tensor"] == result["quantization"]["quantized_linears"]
    assert result["calibration_clips"] == (2 if level == "int8_static" else 0)


def test_calibration_sample_is_seeded():
    records = [{"id": str(i)} for i in range(10)]
    first = q.calibration_sample(records, 3, seed=1)
    assert first == q.calibration_sample(records, 3, seed=1) and len(first) == 3
    assert [r["id"] for r in first] == sorted((r["id"] for r in first), key=int)  # file order kept
    assert q.calibration_sample(records, 20, seed=1) == records
    with pytest.raises(ValueError, match="positive"):
        q.calibration_sample(records, 0, seed=1)
