"""Precision and quantization levels for RQ3.2.2: which level a device can run, loading a model at a level,
torchao int8 quantization, model size, and one level's whole job (generate the test set, profile, measure).

Levels (:data:`LEVELS`):

``fp32``, ``tf32``, ``bf16``, ``fp16``
    the precisions adapters load in (:mod:`qvedbench.device`); ``tf32`` keeps fp32 weights and switches CUDA
    matmuls to TensorFloat-32.
``int8_dynamic``
    weights-only int8 of every ``torch.nn.Linear`` (torchao ``Int8WeightOnlyConfig``: per-row symmetric int8
    weights, activations stay in floating point), applied to the fp32 model after any LoRA adapter is merged.
    Backend ``auto`` uses bitsandbytes' LLM.int8 (``Linear8bitLt``, int8 weights, activations quantized per row
    at run time with fp16 outlier columns; on an fp16 model) instead on a CUDA device when ``bitsandbytes`` is
    installed; ``torchao`` or ``bitsandbytes`` pins one (bitsandbytes int8 only on CUDA).
``int8_static``
    weights *and* activations int8 (torchao ``Int8StaticActivationInt8WeightConfig``): every Linear's input
    scale is fixed in advance by calibration, i.e. torchao's min-max observer on the Linear's inputs while the
    model answers a few training clips; per-tensor symmetric activation scale, per-row weights. A Linear that
    never ran during calibration has no scale and stays in floating point (counted in the result).

Applicability is decided from the device alone, before anything is loaded (:func:`decide`): a level the device
cannot run (fp16 or tf32 on the CPU, bf16 on a GPU without it, TF32 before Ampere, int8 without torchao) is
``not_applicable`` with the reason, never a failure.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from qvedbench.device import DeviceConfigError, describe_device, resolve_device, resolve_dtype, set_threads
from qvedbench.io import write_jsonl
from qvedbench.models import ModelSpec, load_adapter

FLOAT_LEVELS = ("fp32", "tf32", "bf16", "fp16")
INT8_LEVELS = ("int8_dynamic", "int8_static")
INT8_BACKENDS = ("auto", "torchao", "bitsandbytes")
LEVELS = FLOAT_LEVELS + INT8_LEVELS
NOT_APPLICABLE = "not_applicable"


@dataclass(frozen=True)
class Decision:
    """Whether ``level`` can run on a device: ``precision`` the model is loaded in, ``method`` what is applied."""

    level: str
    applicable: bool
    reason: str | None
    precision: str
    method: str


def torchao_available() -> bool:
    return importlib.util.find_spec("torchao") is not None


def bitsandbytes_available() -> bool:
    return importlib.util.find_spec("bitsandbytes") is not None


def _method(level: str) -> str:
    return {
        "fp32": "fp32 weights and matmuls",
        "tf32": "fp32 weights, TensorFloat-32 matmuls",
        "bf16": "bf16 weights and activations",
        "fp16": "fp16 weights and activations",
        "int8_dynamic": "torchao Int8WeightOnlyConfig on every Linear (int8 weights, float activations)",
        "int8_dynamic_bitsandbytes": "bitsandbytes LLM.int8 Linear8bitLt on every Linear not tied to an embedding "
                                     "(int8 weights and row-wise int8 activations, fp16 outliers; fp16 model)",
        "int8_static": "torchao Int8StaticActivationInt8WeightConfig on every Linear (int8 weights and "
                       "activations, per-tensor activation scales from min-max calibration on training clips)",
    }[level]


def decide(level: str, device: torch.device | str, int8_backend: str = "auto") -> Decision:
    """Can ``level`` run on ``device``? Decided before any loading; raises ``ValueError`` for an unknown level or
    ``int8_backend`` (``auto``, ``torchao`` or ``bitsandbytes``: see the module docstring)."""
    if level not in LEVELS:
        raise ValueError(f"unknown precision level '{level}'; use one of {', '.join(LEVELS)}")
    if int8_backend not in INT8_BACKENDS:
        raise ValueError(f"unknown int8 backend '{int8_backend}'; use one of {', '.join(INT8_BACKENDS)}")
    device = torch.device(device)
    if level == "int8_dynamic" and (int8_backend == "bitsandbytes" or (
            int8_backend == "auto" and device.type == "cuda" and bitsandbytes_available())):
        reason = None
        if device.type != "cuda":
            reason = f"bitsandbytes int8 needs a CUDA device (this job runs on {device.type})"
        elif not bitsandbytes_available():
            reason = "the bitsandbytes package is not installed (pip install bitsandbytes)"
        return Decision(level, reason is None, reason, "fp16", _method("int8_dynamic_bitsandbytes"))
    precision = level if level in FLOAT_LEVELS else "fp32"
    reason = None
    if level == "tf32":
        if device.type != "cuda":
            reason = "TF32 is a CUDA tensor-core matmul mode; the CPU has none (its fp32 result is the fp32 level)"
        else:
            major, minor = torch.cuda.get_device_capability(device)
            if major < 8:
                reason = (f"TF32 needs compute capability 8.0 (Ampere) or newer; {torch.cuda.get_device_name(device)} "
                          f"is {major}.{minor}")
    elif level in FLOAT_LEVELS:
        try:
            resolve_dtype(level, device)
        except DeviceConfigError as exc:
            reason = str(exc)
    elif not torchao_available():
        reason = "the torchao package is not installed (pip install torchao)"
    return Decision(level, reason is None, reason, precision, _method(level))


# -- quantization ------------------------------------------------------------------------------------------------


def _linears(model: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    return {name: module for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}


def quantize_int8_weight_only(model: torch.nn.Module) -> dict:
    """Replace every Linear weight by a torchao int8 weight-only tensor, in place; returns what was done."""
    from torchao.quantization import Int8WeightOnlyConfig, quantize_

    quantize_(model, Int8WeightOnlyConfig(set_inductor_config=False))
    return {"quantized_linears": len(_linears(model)), "uncalibrated_linears": []}


def quantize_int8_bitsandbytes(model: torch.nn.Module) -> dict:
    """Replace every Linear (except those sharing their weight with an embedding) by bitsandbytes'
    ``Linear8bitLt`` (LLM.int8, outlier threshold 6.0), in place; the weights are quantized when the new layer
    is moved to the model's device."""
    import bitsandbytes as bnb

    tied = {id(m.weight) for m in model.modules() if isinstance(m, torch.nn.Embedding)}
    converted, skipped = 0, []
    for parent_name, parent in list(model.named_modules()):
        for name, child in list(parent.named_children()):
            if type(child) is not torch.nn.Linear:
                continue
            if id(child.weight) in tied:
                skipped.append(f"{parent_name}.{name}".lstrip("."))
                continue
            layer = bnb.nn.Linear8bitLt(child.in_features, child.out_features, bias=child.bias is not None,
                                        has_fp16_weights=False, threshold=6.0)
            layer.weight = bnb.nn.Int8Params(child.weight.data.to("cpu"), requires_grad=False,
                                             has_fp16_weights=False)
            if child.bias is not None:
                layer.bias = torch.nn.Parameter(child.bias.data, requires_grad=False)
            setattr(parent, name, layer.to(child.weight.device))
            converted += 1
    return {"quantized_linears": converted, "uncalibrated_linears": [], "not_converted": skipped}


def calibrate_and_quantize_static(model: torch.nn.Module, run_calibration) -> dict:
    """Int8 static quantization of every Linear, in place: torchao min-max observers record each Linear's input
    range while ``run_calibration()`` runs the model, then each Linear gets int8 weights (per row) and an int8
    input quantizer with that fixed per-tensor symmetric scale. Linears that never ran stay in floating point."""
    from torchao.quantization import Int8StaticActivationInt8WeightConfig, PerRow, PerTensor, quantize_
    from torchao.quantization.observer import AffineQuantizedMinMaxObserver
    from torchao.quantization.quant_primitives import MappingType

    linears = _linears(model)
    observers = {name: AffineQuantizedMinMaxObserver(MappingType.SYMMETRIC, torch.int8, PerTensor(),
                                                     eps=torch.finfo(torch.float32).eps)
                 for name in linears}
    ranks: dict[str, int] = {}

    def observe(name):
        def hook(_module, args):
            x = args[0]
            ranks[name] = x.ndim
            observers[name](x.detach().float().reshape(-1, x.shape[-1]))
        return hook

    handles = [module.register_forward_pre_hook(observe(name)) for name, module in linears.items()]
    try:
        with torch.inference_mode():
            run_calibration()
    finally:
        for handle in handles:
            handle.remove()
    uncalibrated = sorted(name for name in linears if name not in ranks)
    for name, module in linears.items():
        if name in ranks:
            scale, _ = observers[name].calculate_qparams()
            # torchao wants the scale with the input's rank (one Linear always sees inputs of one rank here)
            config = Int8StaticActivationInt8WeightConfig(
                act_quant_scale=scale.reshape([1] * ranks[name]).to(module.weight.dtype),
                granularity=[PerTensor(), PerRow()], set_inductor_config=False)
            quantize_(module, config)
    return {"quantized_linears": len(linears) - len(uncalibrated), "uncalibrated_linears": uncalibrated}


# -- size --------------------------------------------------------------------------------------------------------


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor holds; a tensor subclass (a torchao quantized tensor) counts its inner tensors (int8 data,
    scales), not the dtype it presents."""
    from torch.utils._python_dispatch import is_traceable_wrapper_subclass

    if is_traceable_wrapper_subclass(tensor):
        names, _ = tensor.__tensor_flatten__()
        return int(sum(tensor_bytes(getattr(tensor, name)) for name in names))
    scales = getattr(tensor, "SCB", None)  # a bitsandbytes int8 weight keeps its row scales beside it
    extra = tensor_bytes(scales) if isinstance(scales, torch.Tensor) else 0
    return int(tensor.numel() * tensor.element_size()) + extra


def model_bytes(model: torch.nn.Module) -> int:
    """Bytes of the model's parameters and buffers in memory (shared tensors once)."""
    return int(sum(tensor_bytes(t) for t in [*model.parameters(), *model.buffers()]))


def state_dict_bytes(model: torch.nn.Module) -> int:
    """Bytes on disk of ``torch.save(model.state_dict())`` (quantized tensors are saved as such)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "state_dict.pt"
        torch.save(model.state_dict(), path)
        return path.stat().st_size


def linear_weight_types(model: torch.nn.Module) -> dict[str, int]:
    """How many Linear layers hold each weight type (``Tensor``/``Parameter`` for float, ``Int8Tensor`` ...)."""
    counts: dict[str, int] = {}
    for module in _linears(model).values():
        weight = module.weight
        name = type(weight.data if type(weight) is torch.nn.Parameter else weight).__name__
        counts[name] = counts.get(name, 0) + 1
    return dict(sorted(counts.items()))


# -- one level's job ---------------------------------------------------------------------------------------------


def load_at_level(spec: ModelSpec, checkpoint: str | None, decision: Decision, *,
                  calibrate=None) -> tuple[object, dict]:
    """Load ``spec`` (plus ``checkpoint``) in ``decision.precision`` and apply the level's quantization;
    ``calibrate(adapter)`` runs the calibration clips for ``int8_static``. Returns ``(adapter, info)``."""
    if not decision.applicable:
        raise ValueError(f"level '{decision.level}' is not applicable here: {decision.reason}")
    adapter = load_adapter(dataclasses.replace(spec, precision=decision.precision), checkpoint)
    adapter.model.eval()
    info: dict = {"quantized_linears": 0, "uncalibrated_linears": []}
    if decision.level == "int8_dynamic" and "bitsandbytes" in decision.method:
        info = quantize_int8_bitsandbytes(adapter.model)
    elif decision.level == "int8_dynamic":
        info = quantize_int8_weight_only(adapter.model)
    elif decision.level == "int8_static":
        if calibrate is None:
            raise ValueError("int8_static needs calibration clips")
        info = calibrate_and_quantize_static(adapter.model, lambda: calibrate(adapter))
    info["linear_weight_types"] = linear_weight_types(adapter.model)
    return adapter, info


def calibration_sample(records: Sequence[dict], n: int, seed: int) -> list[dict]:
    """``n`` training records drawn without replacement with ``seed`` (all of them when there are fewer), in
    their file order, for int8 static calibration."""
    if n < 1:
        raise ValueError(f"calibration clips must be positive, got {n}")
    if len(records) <= n:
        return list(records)
    chosen = sorted(random.Random(seed).sample(range(len(records)), n))
    return [records[i] for i in chosen]


def calibration_runner(records: Sequence[dict], *, system_prompt: str, max_new_tokens: int, batch_size: int = 4):
    """A ``calibrate(adapter)`` that answers ``records`` (training clips) in batches at the adapter's frames and
    resolution, so prefill and decoding activations are both observed."""
    if not records:
        raise ValueError("int8_static: no calibration clips")
    from qvedbench.train.data import clip_frames

    def calibrate(adapter) -> None:
        spec = adapter.spec
        for start in range(0, len(records), batch_size):
            batch = records[start:start + batch_size]
            videos = [clip_frames(r, spec.frames, spec.resolution) for r in batch]
            adapter.generate(videos, system_prompt, [r["prompt"] for r in batch], max_new_tokens=max_new_tokens)

    return calibrate


def run_level(spec: ModelSpec, checkpoint: str | None, level: str, records: list[dict],
              predictions_path: str | os.PathLike, *, system_prompt: str, calibration_records: Sequence[dict] = (),
              batch_size: int = 8, max_new_tokens: int = 64, profile: dict | None = None,
              threads: int | None = None, source: str = "records", int8_backend: str = "auto") -> dict:
    """One (model, level) job: decide applicability, load and quantize, generate ``records`` into
    ``predictions_path`` (:func:`qvedbench.infer.run_inference`, variant ``clean@<level>``), profile latency
    (:func:`qvedbench.profile.profile_adapter` with ``profile`` settings) and measure size.

    A level the device cannot run writes an empty predictions file and returns ``status: not_applicable`` with
    the reason, without loading anything.
    """
    from qvedbench.infer import run_inference
    from qvedbench.profile import profile_adapter

    device = resolve_device(spec.device, spec.name)
    decision = decide(level, device, int8_backend)
    result = {"model": spec.name, "level": level, "checkpoint": checkpoint, "precision": decision.precision,
              "method": decision.method, "device": describe_device(device), "calibration_clips": 0}
    if not decision.applicable:
        write_jsonl(predictions_path, [])
        return {**result, "status": NOT_APPLICABLE, "reason": decision.reason, "predictions": 0}
    set_threads(threads)
    calibrate = None
    if level == "int8_static":
        calibrate = calibration_runner(list(calibration_records), system_prompt=system_prompt,
                                       max_new_tokens=max_new_tokens)
        result["calibration_clips"] = len(calibration_records)
    adapter, info = load_at_level(spec, checkpoint, decision, calibrate=calibrate)
    rows = run_inference(spec, checkpoint, records, predictions_path, system_prompt=system_prompt,
                         batch_size=batch_size, max_new_tokens=max_new_tokens, variant=f"clean@{level}",
                         threads=threads, source=source, adapter=adapter)
    measured = profile_adapter(adapter, records, system_prompt=system_prompt, **(profile or {}))
    size = {"parameters": int(sum(p.numel() for p in adapter.model.parameters())),
            "memory_bytes": model_bytes(adapter.model), "state_dict_bytes": state_dict_bytes(adapter.model)}
    return {**result, "status": "ok", "reason": None, "quantization": info, "size": size,
            "predictions": len(rows), "failed_predictions": sum(r.get("prediction") is None for r in rows),
            "profile": measured}
