"""Training configuration: defaults, validation and resolution against a model spec."""
from __future__ import annotations

import numbers
import re
from typing import Any

from qvedbench.models.base import ModelSpec

METHODS = ("lora", "full", "last_n")
LOSS_WEIGHTINGS = ("none", "class")

TRAIN_DEFAULTS: dict[str, Any] = {
    "method": "lora",
    "lora": {"r": 16, "alpha": 32, "dropout": 0.05, "target_modules": None},
    "train_projector": False,
    "last_n": 2,
    "lr": 2.0e-4,
    "scheduler": "cosine",
    "warmup_ratio": 0.03,
    "epochs": 1.0,
    "max_steps": -1,
    "batch_size": 4,
    "grad_accum": 1,
    "weight_decay": 0.0,
    "max_grad_norm": 1.0,
    "eval_steps": None,
    "logging_steps": 10,
    "save_steps": 50,  # resumable state every this many steps; None saves none (a killed run starts over)
    "seed": 0,
    "frames": None,
    "resolution": None,
    "eval_generate": False,
    "eval_max_new_tokens": 24,
    "precision": None,  # None trains in the model spec's precision
    # None: the whole training split; a name: results/data/subsets/<name>.jsonl (chosen by the workflow, see
    # qvedbench.data.subsets). train_run receives the records already chosen and only records the name.
    "train_subset": None,
    # "class": each training sample's answer-token loss is weighted inversely to its exercise class's frequency
    # in the run's training records (mean weight 1; see qvedbench.train.weighting); "none": the model's own loss.
    "loss_weighting": "none",
}

TRAIN_SUBSET_PATTERN = re.compile(r"[A-Za-z0-9_.-]+")

_NUMBERS = ("lr", "warmup_ratio", "epochs", "weight_decay", "max_grad_norm")
_INTEGERS = ("last_n", "max_steps", "batch_size", "grad_accum", "logging_steps", "seed", "eval_max_new_tokens")
_OPTIONAL_INTEGERS = ("eval_steps", "save_steps", "frames", "resolution")


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def resolve_train_config(cfg: dict, spec: ModelSpec) -> dict:
    """Merge ``cfg`` over :data:`TRAIN_DEFAULTS`, fill frames/resolution from ``spec`` and check every field.

    Raises ``ValueError`` naming the offending key, e.g. for ``lr: 1e-4`` which YAML 1.1 reads as a string.
    """
    unknown = set(cfg) - set(TRAIN_DEFAULTS)
    if unknown:
        raise ValueError(f"unknown training option(s): {', '.join(sorted(unknown))}")
    unknown_lora = set(cfg.get("lora") or {}) - set(TRAIN_DEFAULTS["lora"])
    if unknown_lora:
        raise ValueError(f"unknown lora option(s): {', '.join(sorted(unknown_lora))}")
    resolved = {**TRAIN_DEFAULTS, **cfg}
    resolved["lora"] = {**TRAIN_DEFAULTS["lora"], **(cfg.get("lora") or {})}
    if resolved["frames"] is None:
        resolved["frames"] = spec.frames
    if resolved["resolution"] is None:
        resolved["resolution"] = spec.resolution

    if resolved["precision"] is None:
        resolved["precision"] = spec.precision
    if resolved["method"] not in METHODS:
        raise ValueError(f"training option 'method' must be one of {', '.join(METHODS)}, got {resolved['method']!r}")
    for key in _NUMBERS:
        if not _is_number(resolved[key]):
            raise ValueError(f"training option '{key}' must be a number, got {resolved[key]!r}")
    for key in _INTEGERS:
        if not _is_integer(resolved[key]):
            raise ValueError(f"training option '{key}' must be an integer, got {resolved[key]!r}")
    for key in _OPTIONAL_INTEGERS:
        if resolved[key] is not None and not (_is_integer(resolved[key]) and resolved[key] > 0):
            raise ValueError(f"training option '{key}' must be a positive integer or null, got {resolved[key]!r}")
    for key in ("r", "alpha"):
        if not _is_integer(resolved["lora"][key]) or resolved["lora"][key] <= 0:
            raise ValueError(f"training option 'lora.{key}' must be a positive integer, got {resolved['lora'][key]!r}")
    if not _is_number(resolved["lora"]["dropout"]):
        raise ValueError(f"training option 'lora.dropout' must be a number, got {resolved['lora']['dropout']!r}")
    if not 0 <= resolved["warmup_ratio"] < 1:
        raise ValueError(f"training option 'warmup_ratio' must be in [0, 1), got {resolved['warmup_ratio']!r}")
    if resolved["max_steps"] <= 0 and resolved["max_steps"] != -1:
        raise ValueError("training option 'max_steps' must be positive or -1 (train for 'epochs')")
    for key in ("batch_size", "grad_accum", "logging_steps"):
        if resolved[key] <= 0:
            raise ValueError(f"training option '{key}' must be positive, got {resolved[key]!r}")
    if resolved["loss_weighting"] not in LOSS_WEIGHTINGS:
        raise ValueError(f"training option 'loss_weighting' must be one of {', '.join(LOSS_WEIGHTINGS)}, "
                         f"got {resolved['loss_weighting']!r}")
    subset = resolved["train_subset"]
    if subset is not None and not (isinstance(subset, str) and TRAIN_SUBSET_PATTERN.fullmatch(subset)):
        raise ValueError(f"training option 'train_subset' must be null or a name of letters, digits, '_', '.', '-' "
                         f"(e.g. frac25, balanced50), got {subset!r}")
    return resolved
