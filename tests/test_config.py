"""Config validation: defaults, errors that name the key, per-model overrides, the run table."""
import copy
from pathlib import Path

import pytest
import yaml

from qvedbench.config import ConfigError, load_config, run_table, validate_config, model_spec

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def demo():
    return yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())


def test_shipped_configs_are_valid():
    for name in ("demo.yaml", "config.yaml"):
        cfg = load_config(ROOT / "config" / name)
        assert cfg["models"], name


def test_defaults_are_filled(demo):
    cfg = validate_config(demo)
    assert cfg["evaluate"]["ci"] == 0.95
    assert cfg["train"]["baseline"]["grad_accum"] == 1
    model = next(iter(cfg["models"].values()))
    assert model["attn_implementation"] == "auto"


@pytest.mark.parametrize(
    "edit, key, words",
    [
        (lambda c: c["train"]["baseline"].__setitem__("lr", "1e-4"), "train.baseline.lr", "1.0e-4"),
        (lambda c: c["train"]["baseline"].__setitem__("learning_rate", 1.0), "train.baseline", "learning_rate"),
        (lambda c: c.__setitem__("devcie", "cpu"), "<top level>", "devcie"),
        (lambda c: c["dataset"].__setitem__("classes", ["only-one"]), "dataset.classes", "short"),
        (lambda c: c["models"]["m1"].__setitem__("precision", "fp8"), "models.m1.precision", "fp8"),
        (lambda c: c["train"]["baseline"].__setitem__("scheduler", "cosine_restarts"), "train.baseline.scheduler", "cosine_restarts"),
        (lambda c: c["dataset"]["split"].__setitem__("train", 0.9) if "split" in c["dataset"] else c["dataset"].__setitem__("split", {"train": 0.9}), "dataset.split", "must be 1"),
    ],
)
def test_errors_name_the_key(demo, edit, key, words):
    cfg = copy.deepcopy(demo)
    cfg["models"]["m1"] = {"family": "qwen2_vl", "path": "some/checkpoint"}
    edit(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    assert f"'{key}'" in str(err.value)
    assert words in str(err.value)


def test_model_train_overrides_only_set_keys(demo):
    cfg = copy.deepcopy(demo)
    first, second = list(cfg["models"])[:2]
    cfg["models"][first]["train"] = {}
    cfg["models"][second]["train"] = {"lora": {"r": 4}}
    table = run_table(validate_config(cfg))
    s, m = table[first]["baseline"], table[second]["baseline"]
    assert m["lora"]["r"] == 4 and s["lora"]["r"] == 16  # the schema's default rank
    assert m["lr"] == s["lr"] and m["lora"]["alpha"] == s["lora"]["alpha"]
    assert table[first]["base"] is None


def test_run_settings_do_not_depend_on_key_order(demo):
    a = validate_config(demo)
    b_src = copy.deepcopy(demo)
    b_src["train"]["baseline"] = dict(reversed(list(b_src["train"]["baseline"].items())))
    b = validate_config(b_src)
    assert repr(run_table(a)) == repr(run_table(b))


def test_model_spec_points_tiny_models_at_results(demo):
    cfg = validate_config(demo)
    name = next(iter(cfg["models"]))
    spec = model_spec(cfg, name)
    assert spec["path"] == f"results/models/{name}"
    assert spec["device"] == "cpu" and spec["family"] == cfg["models"][name]["family"]


def test_real_model_needs_a_path(demo):
    cfg = copy.deepcopy(demo)
    cfg["models"]["real"] = {"family": "qwen2_vl"}
    with pytest.raises(ConfigError, match="models.real.path"):
        validate_config(cfg)


def _walk_properties(node, path=""):
    if isinstance(node, dict):
        for name, sub in node.get("properties", {}).items():
            yield f"{path}.{name}".lstrip("."), sub
            yield from _walk_properties(sub, f"{path}.{name}")
        for key in ("definitions",):
            for name, sub in node.get(key, {}).items():
                yield from _walk_properties(sub, f"{path}.{key}.{name}")


def test_schema_keys_are_documented_with_defaults():
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    keywords = {"type", "default", "description", "enum", "minimum", "maximum", "exclusiveMinimum",
                "exclusiveMaximum", "items", "minItems", "uniqueItems", "oneOf", "properties",
                "additionalProperties", "required", "$ref", "pattern", "minLength", "propertyNames", "minProperties"}
    for path, sub in _walk_properties(schema):
        assert set(sub) <= keywords, f"{path}: stray keys {set(sub) - keywords} (an unquoted comma in YAML?)"
        if "$ref" not in sub:
            assert sub.get("description"), f"{path} has no description"
        required = path in ("models",) or path.endswith(".family")
        assert required or "default" in sub or "$ref" in sub, f"{path} has no default"


def test_config_readme_lists_every_key():
    from qvedbench.config import config_reference_markdown

    assert config_reference_markdown() in (ROOT / "config" / "README.md").read_text()
