"""Configuration: validation against ``config/schema.yaml``, defaults, and the run table.

Used by the workflow at start-up (``rules/common.smk``) and by the ``qvedbench`` command, so both see the same
resolved configuration. Errors name the offending key as a dotted path.
"""
from __future__ import annotations

import copy
import json
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
        # Remote code from the hub must be pinned, or the code that runs could change under the same config;
        # a local folder's code is the files in it.
        hub_id = model.get("path") and not Path(model["path"]).is_dir()
        if model.get("trust_remote_code") and hub_id and not model.get("revision"):
            raise ConfigError(
                f"config key 'models.{name}.revision': trust_remote_code runs the checkpoint's own Python code; "
                f"pin the revision (the commit hash) of {model['path']} whose code you have reviewed"
            )
        device_map = model.get("device_map")
        if device_map and device_map != "cpu" and config.get("device") == "cpu":
            raise ConfigError(
                f"config key 'models.{name}.device_map': '{device_map}' places weights on a GPU but device is "
                "cpu; set device_map: null (or cpu)"
            )


def load_config(*paths: str | Path) -> dict:
    """Load YAML files (later ones override earlier keys, deep-merged) and validate them."""
    merged: dict = {}
    for path in paths:
        merged = deep_merge(merged, _read_yaml_mapping(path))
    return validate_config(merged, source=", ".join(map(str, paths)))


def _read_yaml_mapping(path: str | Path) -> dict:
    """One config file's top-level mapping (empty file: ``{}``); unreadable text raises :class:`ConfigError`."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not valid UTF-8 ({exc})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: malformed YAML: {' '.join(str(exc).split())}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of config keys at the top level, got {type(data).__name__}")
    return data


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
        # Only when set, so existing runs' params (and their outputs) stay unchanged.
        **({"device_map": model["device_map"]} if model.get("device_map") else {}),
    })


def run_table(config: dict) -> dict[str, dict[str, dict | None]]:
    """Every run that trains (or, for ``base``, is evaluated untuned) per model, deduplicated:
    ``{model: {canonical run: effective training settings, or None for the untuned model}}``.

    Runs come from ``train.baseline`` plus each enabled question's overrides; runs with equal effective
    settings appear once, under the first name (see :mod:`qvedbench.runs`).
    """
    from qvedbench.runs import canonical_runs, plan_runs  # runs imports this module

    return canonical_runs(plan_runs(config))


def canonical(value: Any) -> Any:
    """Nested dicts with sorted keys: Snakemake compares params by repr, so key order must not matter."""
    if isinstance(value, dict):
        return {k: canonical(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value


def trained_runs(config: dict, model: str) -> list[str]:
    """The canonical runs of ``model`` that train (every run but the untuned ``base``)."""
    return [run for run, cfg in run_table(config)[model].items() if cfg is not None]


def schema_keys(schema: dict | None = None) -> list[tuple[str, dict]]:
    """Every documented key of the schema as ``(dotted.path, subschema)``; ``<name>`` stands for a free name."""
    schema = schema or load_schema()
    defs = schema.get("definitions", {})

    def resolve(sub: dict) -> dict:
        while "$ref" in sub:
            sub = {**defs[sub["$ref"].split("/")[-1]], **{k: v for k, v in sub.items() if k != "$ref"}}
        for option in sub.get("oneOf", []):
            option = resolve(option)
            if option.get("type") == "object":
                return {**option, **{k: v for k, v in sub.items() if k != "oneOf"}}
        return sub

    out: list[tuple[str, dict]] = []

    def walk(sub: dict, prefix: str) -> None:
        sub = resolve(sub)
        for name, child in sub.get("properties", {}).items():
            path = f"{prefix}.{name}" if prefix else name
            out.append((path, resolve(child)))
            if path != "models.<name>.train":  # same keys as train.baseline: documented there
                walk(child, path)
        extra = sub.get("additionalProperties")
        if isinstance(extra, dict):
            walk(extra, f"{prefix}.<name>")

    walk(schema, "")
    return out


def config_reference_markdown(schema: dict | None = None) -> str:
    """The key table of config/README.md, generated from the schema so the two cannot drift apart."""
    lines = ["| key | type | default | meaning |", "|---|---|---|---|"]
    for path, sub in schema_keys(schema):
        kind = sub.get("type", "enum" if "enum" in sub else "")
        if isinstance(kind, list):
            kind = " or ".join(kind)
        if "enum" in sub:
            kind = " \\| ".join(map(str, sub["enum"]))
        default = json.dumps(sub["default"]) if "default" in sub else "required" if path.count(".") <= 2 and "default" not in sub else ""
        text = " ".join(str(sub.get("description", "")).split()).replace("|", "\\|")
        lines.append(f"| `{path}` | {kind} | `{default}` | {text} |".replace("``", ""))
    return "\n".join(lines) + "\n"
