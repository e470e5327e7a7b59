"""Configuration: validation against ``config/schema.yaml``, defaults, and the run table.

Used by the workflow at start-up (``rules/common.smk``) and by the ``qvedbench`` command, so both see the same
resolved configuration. Errors name the offending key as a dotted path.
"""
from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import yaml

SCHEMA_PATH = Path(__file__).resolve().parent.parent / "config" / "schema.yaml"

# Runs every model gets: the untuned model and the baseline fine-tune.
BASE_RUN = "base"
BASELINE_RUN = "baseline"


class ConfigError(ValueError):
    """A configuration value that does not fit the schema."""


def load_schema(path: str | Path | None = None) -> dict:
    return yaml.safe_load(Path(path or SCHEMA_PATH).read_text(encoding="utf-8"))


def _with_defaults(validator_class):
    """A validator class that also fills ``default`` values into the instance (jsonschema FAQ recipe)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, sub in properties.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) for p in error.absolute_path]
    return ".".join(parts) if parts else "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    # oneOf errors are unreadable as a whole; the most specific sub-error says what is wrong.
    best = jsonschema.exceptions.best_match([error]) if error.context else error
    key = _key_path(best)
    message = best.message
    if best.validator == "additionalProperties":
        known = best.schema.get("properties", {})
        unknown = sorted(k for k in best.instance if k not in known)
        message = f"unknown key(s) {', '.join(map(repr, unknown))}; known keys: {', '.join(sorted(known))}"
    if best.validator in ("type", "oneOf") and isinstance(best.instance, str):
        try:
            float(best.instance)
            message += " (a number given as text: remove quotes, and write 1e-4 as 1.0e-4, which YAML reads as text)"
        except ValueError:
            pass
    return f"config key '{key}': {message}"


def validate_config(config: dict, schema: dict | None = None, source: str = "config") -> dict:
    """Return a validated copy of ``config`` with defaults filled in; raise :class:`ConfigError` naming the key.

    Per-model ``train`` sections are overrides of ``train.baseline``: they are kept exactly as written (no
    defaults), so only the keys a user set override the baseline.
    """
    schema = schema or load_schema()
    filled = copy.deepcopy(config) if config else {}
    validator = _with_defaults(jsonschema.Draft202012Validator)(schema)
    errors = sorted(validator.iter_errors(filled), key=lambda e: list(e.absolute_path))
    if errors:
        lines = [_describe(e) for e in errors[:10]]
        raise ConfigError(f"{source} is invalid:\n  " + "\n  ".join(lines))
    for name, model in filled.get("models", {}).items():
        model["train"] = copy.deepcopy((config.get("models", {}).get(name) or {}).get("train", {}))
    _check_consistency(filled)
    return filled


def _check_consistency(config: dict) -> None:
    split = config["dataset"]["split"]
    total = split["train"] + split["val"] + split["test"]
    if abs(total - 1.0) > 1e-6:
        raise ConfigError(f"config key 'dataset.split': train + val + test must be 1, got {total:g}")
    for name, model in config["models"].items():
        if not model.get("tiny") and not model.get("path"):
            raise ConfigError(f"config key 'models.{name}.path': set a checkpoint path or hub id (or `tiny:`)")


def load_config(*paths: str | Path) -> dict:
    """Load YAML files (later ones override earlier keys, deep-merged) and validate them."""
    merged: dict = {}
    for path in paths:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
        merged = deep_merge(merged, data)
    return validate_config(merged, source=", ".join(map(str, paths)))


def deep_merge(base: dict, override: dict) -> dict:
    """A new dict: ``override``'s keys replace ``base``'s, recursing into nested dicts."""
    out = copy.deepcopy(base)
    for key, value in (override or {}).items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


# -- model specs and runs -----------------------------------------------------------------------------------

def tiny_model_dir(name: str) -> str:
    return f"results/models/{name}"


def model_path(config: dict, name: str) -> str:
    model = config["models"][name]
    return tiny_model_dir(name) if model.get("tiny") else model["path"]


def model_spec(config: dict, name: str) -> dict:
    """The keyword arguments of :class:`qvedbench.models.ModelSpec` for a configured model (plain data)."""
    model = config["models"][name]
    return canonical({
        "name": name,
        "family": model["family"],
        "path": model_path(config, name),
        "precision": model["precision"],
        "device": config["device"],
        "attn_implementation": model["attn_implementation"],
        "frames": model["frames"],
        "resolution": model["resolution"],
        "trust_remote_code": model["trust_remote_code"],
        "revision": model["revision"],
        "extra": model["extra"],
    })


def run_table(config: dict) -> dict[str, dict[str, dict | None]]:
    """Every run per model: ``{model: {run: effective training config or None for the untuned model}}``."""
    table = {}
    for name, model in config["models"].items():
        baseline = deep_merge(config["train"]["baseline"], model.get("train", {}))
        if baseline.get("precision") is None:
            baseline["precision"] = model["precision"]
        table[name] = {BASE_RUN: None, BASELINE_RUN: canonical(baseline)}
    return table


def canonical(value: Any) -> Any:
    """Nested dicts with sorted keys: Snakemake compares params by repr, so key order must not matter."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def trained_runs(config: dict, model: str) -> list[str]:
    return [run for run, cfg in run_table(config)[model].items() if cfg is not None]
