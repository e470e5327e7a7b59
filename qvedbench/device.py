"""Device, precision and attention-kernel resolution, with clear errors for combinations that cannot work.

Every check here runs before a model is loaded, so a bad setting fails in seconds with a message naming the
model and the offending setting instead of minutes later inside a kernel.

Precisions: ``fp32`` (full precision), ``tf32`` (fp32 weights with TensorFloat-32 matmuls, CUDA only),
``bf16`` and ``fp16`` (half-precision weights). The CPU supports ``fp32`` and ``bf16``; ``bf16`` on CUDA needs
a GPU that supports it (Ampere or newer).
"""
from __future__ import annotations

import importlib.util
import os
import platform

import torch

PRECISIONS = ("fp32", "tf32", "bf16", "fp16")
ATTN_IMPLEMENTATIONS = ("auto", "sdpa", "eager", "flash_attention_2")

_DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


class DeviceConfigError(ValueError):
    """A device, precision or attention setting that cannot work on this machine."""


def _who(model_name: str | None) -> str:
    return f"model '{model_name}': " if model_name else ""


def resolve_device(requested: str = "auto", model_name: str | None = None) -> torch.device:
    """Turn ``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` into a device that exists here.

    ``auto`` picks the first CUDA device when one is available, else the CPU. Asking for CUDA on a machine
    without it is an error rather than a silent fallback, so a GPU run never quietly runs on the CPU.
    """
    requested = (requested or "auto").strip().lower()
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "cuda" or requested.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise DeviceConfigError(
                f"{_who(model_name)}device '{requested}' requested but CUDA is not available on this machine "
                "(set device: auto or cpu)"
            )
        device = torch.device(requested)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise DeviceConfigError(
                f"{_who(model_name)}device '{requested}' requested but only {torch.cuda.device_count()} CUDA "
                "device(s) are visible"
            )
        return device
    raise DeviceConfigError(f"{_who(model_name)}unknown device '{requested}'; use auto, cpu, cuda or cuda:N")


def resolve_dtype(precision: str, device: torch.device, model_name: str | None = None) -> torch.dtype:
    """The weight dtype for ``precision`` on ``device``; raises :class:`DeviceConfigError` if unsupported.

    ``tf32`` returns ``torch.float32``; call :func:`apply_matmul_precision` to switch TF32 matmuls on.
    """
    precision = (precision or "").strip().lower()
    if precision not in _DTYPES:
        raise DeviceConfigError(
            f"{_who(model_name)}unknown precision '{precision}'; use one of {', '.join(PRECISIONS)}"
        )
    device = torch.device(device)
    if device.type == "cpu" and precision in ("fp16", "tf32"):
        raise DeviceConfigError(
            f"{_who(model_name)}precision '{precision}' is not supported on the CPU; use fp32 or bf16 "
            "(or run on a CUDA device)"
        )
    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        name = torch.cuda.get_device_name(device)
        raise DeviceConfigError(
            f"{_who(model_name)}precision 'bf16' is not supported by {name}; use fp16 or fp32"
        )
    return _DTYPES[precision]


def accelerate_available() -> bool:
    """Whether ``accelerate`` (which transformers needs for ``device_map``) is importable."""
    return importlib.util.find_spec("accelerate") is not None


def resolve_device_map(
    requested: str | None,
    device: torch.device,
    model_name: str | None = None,
    *,
    allow_auto: bool = True,
) -> str | None:
    """Check a model's ``device_map`` against its resolved ``device``; return the value ``from_pretrained`` gets.

    ``None`` (the default) loads the weights and then moves the model to ``device``. A single device (``cpu``,
    ``cuda``, ``cuda:N``) places the weights there while loading; it must be the device the model runs on.
    ``auto`` lets accelerate place the weights on the (one) visible GPU, spilling to CPU memory only when they
    do not fit; it needs a CUDA device and a loader that goes through transformers (``allow_auto``). Every
    device map needs the ``accelerate`` package.
    """
    if requested is None or str(requested).strip() == "":
        return None
    text = str(requested).strip().lower()
    device = torch.device(device)
    if not accelerate_available():
        raise DeviceConfigError(
            f"{_who(model_name)}device_map '{text}' needs the accelerate package (pip install accelerate), "
            "or set device_map: null"
        )
    if text == "auto":
        if device.type != "cuda":
            raise DeviceConfigError(
                f"{_who(model_name)}device_map 'auto' places weights on a GPU but the model runs on "
                f"{device} (device: cpu, or no CUDA here); set device_map: null"
            )
        if not allow_auto:
            raise DeviceConfigError(
                f"{_who(model_name)}device_map 'auto' is not supported by this model family's loader (it builds "
                f"the model itself rather than through transformers' from_pretrained); use device_map: {device} "
                "or null"
            )
        return "auto"
    if text != "cpu" and text != "cuda" and not text.startswith("cuda:"):
        raise DeviceConfigError(
            f"{_who(model_name)}unknown device_map '{requested}'; use null, auto, cpu, cuda or cuda:N"
        )
    try:
        mapped = torch.device(text)
    except RuntimeError:
        raise DeviceConfigError(
            f"{_who(model_name)}unknown device_map '{requested}'; use null, auto, cpu, cuda or cuda:N"
        ) from None
    if mapped.type == "cuda" and mapped.index is None:
        mapped = torch.device("cuda", device.index or 0) if device.type == "cuda" else torch.device("cuda", 0)
    target = device if device.type == "cpu" or device.index is not None else torch.device("cuda", 0)
    if mapped != target:
        raise DeviceConfigError(
            f"{_who(model_name)}device_map '{requested}' disagrees with the device the model runs on ({device}); "
            "set device_map to that device, or to null"
        )
    return str(mapped)


def apply_matmul_precision(precision: str, device: torch.device) -> None:
    """On CUDA, switch fp32 matmuls to TF32 for ``tf32`` and back to full fp32 for ``fp32`` (process-wide).

    A no-op on the CPU and for half precisions.
    """
    if torch.device(device).type != "cuda":
        return
    if precision == "tf32":
        torch.set_float32_matmul_precision("high")
    elif precision == "fp32":
        torch.set_float32_matmul_precision("highest")


def flash_attn_available() -> bool:
    """Whether the ``flash_attn`` package is importable (it only works on CUDA)."""
    return importlib.util.find_spec("flash_attn") is not None


def resolve_attn_implementation(
    requested: str,
    device: torch.device,
    dtype: torch.dtype | None = None,
    model_name: str | None = None,
) -> str:
    """Resolve ``auto`` | ``sdpa`` | ``eager`` | ``flash_attention_2`` to the value passed to transformers.

    ``auto`` means FlashAttention-2 when ``flash_attn`` is importable and the model runs on CUDA in fp16 or
    bf16, else SDPA. An explicit ``flash_attention_2`` that cannot work here is an error.
    """
    requested = (requested or "auto").strip().lower()
    if requested not in ATTN_IMPLEMENTATIONS:
        raise DeviceConfigError(
            f"{_who(model_name)}unknown attn_implementation '{requested}'; "
            f"use one of {', '.join(ATTN_IMPLEMENTATIONS)}"
        )
    device = torch.device(device)
    half = dtype in (torch.float16, torch.bfloat16)
    if requested == "auto":
        return "flash_attention_2" if device.type == "cuda" and half and flash_attn_available() else "sdpa"
    if requested == "flash_attention_2":
        problems = []
        if device.type != "cuda":
            problems.append(f"it needs a CUDA device (got {device.type})")
        if dtype is not None and not half:
            problems.append(f"it needs fp16 or bf16 weights (got {str(dtype).replace('torch.', '')})")
        if not flash_attn_available():
            problems.append("the flash_attn package is not installed")
        if problems:
            raise DeviceConfigError(
                f"{_who(model_name)}attn_implementation 'flash_attention_2' cannot be used: "
                + "; ".join(problems)
                + " (use sdpa or auto)"
            )
    return requested


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_device(device: torch.device) -> dict:
    """A JSON-ready description of ``device`` for run records (train_stats.json, predictions metadata)."""
    device = torch.device(device)
    info: dict = {
        "device": str(device),
        "type": device.type,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu": _cpu_name(),
        "cpu_count": os.cpu_count(),
    }
    if device.type == "cuda":
        index = device.index if device.index is not None else torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        info.update(
            {
                "name": props.name,
                "index": index,
                "capability": f"{props.major}.{props.minor}",
                "total_memory_mb": round(props.total_memory / 2**20),
                "cuda": torch.version.cuda,
                "bf16_supported": bool(torch.cuda.is_bf16_supported()),
                "float32_matmul_precision": torch.get_float32_matmul_precision(),
            }
        )
    else:
        info["name"] = info["cpu"]
    return info


def set_threads(n: int | None) -> int:
    """Set the number of intra-op CPU threads torch uses (``None`` or 0 leaves it); returns the value in force."""
    if n:
        if n < 0:
            raise DeviceConfigError(f"threads must be a positive integer, got {n}")
        torch.set_num_threads(int(n))
    return torch.get_num_threads()
