"""Device, precision and attention resolution (CPU machine; CUDA behaviour simulated where needed)."""
from __future__ import annotations

import json

import pytest
import torch

from qvedbench import device as dev
from qvedbench.device import DeviceConfigError

CPU = torch.device("cpu")
CUDA = torch.device("cuda")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")


def test_resolve_device_auto_and_cpu():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert dev.resolve_device("auto").type == expected
    assert dev.resolve_device("CPU") == CPU
    with pytest.raises(DeviceConfigError, match="unknown device 'tpu'"):
        dev.resolve_device("tpu")


@no_cuda
def test_cuda_without_cuda_is_an_error():
    with pytest.raises(DeviceConfigError, match=r"model 'm1': device 'cuda:1' requested but CUDA is not available"):
        dev.resolve_device("cuda:1", model_name="m1")


def test_cpu_precisions():
    assert dev.resolve_dtype("fp32", CPU) is torch.float32
    assert dev.resolve_dtype("bf16", CPU) is torch.bfloat16
    for bad in ("fp16", "tf32"):
        message = rf"model 'qwen2-vl-2b': precision '{bad}' is not supported on the CPU"
        with pytest.raises(DeviceConfigError, match=message):
            dev.resolve_dtype(bad, CPU, model_name="qwen2-vl-2b")
    with pytest.raises(DeviceConfigError, match="unknown precision 'int3'"):
        dev.resolve_dtype("int3", CPU)


def test_cuda_precisions(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert dev.resolve_dtype("tf32", CUDA) is torch.float32
    assert dev.resolve_dtype("fp16", CUDA) is torch.float16
    assert dev.resolve_dtype("bf16", CUDA) is torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "Tesla T4")
    with pytest.raises(DeviceConfigError, match=r"model 'big': precision 'bf16' is not supported by Tesla T4"):
        dev.resolve_dtype("bf16", CUDA, model_name="big")


def test_tf32_switch_only_touches_cuda():
    before = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("highest")
        dev.apply_matmul_precision("tf32", CPU)
        assert torch.get_float32_matmul_precision() == "highest"
        dev.apply_matmul_precision("tf32", CUDA)
        assert torch.get_float32_matmul_precision() == "high"
        dev.apply_matmul_precision("bf16", CUDA)
        assert torch.get_float32_matmul_precision() == "high"
        dev.apply_matmul_precision("fp32", CUDA)
        assert torch.get_float32_matmul_precision() == "highest"
    finally:
        torch.set_float32_matmul_precision(before)


def test_attention_auto_and_explicit(monkeypatch):
    monkeypatch.setattr(dev, "flash_attn_available", lambda: False)
    assert dev.resolve_attn_implementation("auto", CPU, torch.float32) == "sdpa"
    assert dev.resolve_attn_implementation("auto", CUDA, torch.bfloat16) == "sdpa"
    assert dev.resolve_attn_implementation("eager", CPU, torch.float32) == "eager"
    with pytest.raises(DeviceConfigError, match="unknown attn_implementation 'flash'"):
        dev.resolve_attn_implementation("flash", CPU)
    with pytest.raises(DeviceConfigError, match=r"model 'm': attn_implementation 'flash_attention_2' cannot be used: "
                                                 r"it needs a CUDA device.*fp16 or bf16.*not installed"):
        dev.resolve_attn_implementation("flash_attention_2", CPU, torch.float32, model_name="m")

    monkeypatch.setattr(dev, "flash_attn_available", lambda: True)
    assert dev.resolve_attn_implementation("auto", CUDA, torch.bfloat16) == "flash_attention_2"
    assert dev.resolve_attn_implementation("auto", CUDA, torch.float32) == "sdpa"
    assert dev.resolve_attn_implementation("auto", CPU, torch.bfloat16) == "sdpa"
    assert dev.resolve_attn_implementation("flash_attention_2", CUDA, torch.float16) == "flash_attention_2"
    with pytest.raises(DeviceConfigError, match="needs fp16 or bf16 weights"):
        dev.resolve_attn_implementation("flash_attention_2", CUDA, torch.float32)


def test_describe_cpu_device_is_json_ready():
    info = dev.describe_device(CPU)
    assert info["type"] == "cpu" and info["device"] == "cpu" and info["threads"] == torch.get_num_threads()
    json.dumps(info)


def test_set_threads():
    before = torch.get_num_threads()
    try:
        assert dev.set_threads(1) == 1 and torch.get_num_threads() == 1
        assert dev.set_threads(None) == 1
        with pytest.raises(DeviceConfigError):
            dev.set_threads(-2)
    finally:
        torch.set_num_threads(before)
