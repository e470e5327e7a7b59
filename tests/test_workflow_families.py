"""The demo DAG with the demo's four tiny seed-model stand-ins (one per model of the real plan) plus a tiny
Qwen2-VL: each goes through the same build, training, inference and scoring rules, and the report has a row for
each."""
import csv
import json

import pytest
import yaml

from qvedbench.io import read_jsonl
from workflow_helpers import REPO, reduced_demo_config, run_workflow, write_config

DEMO_MODELS = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())["models"]
# model name -> family: the demo's models and one tiny model of the remaining family
FAMILIES = {**{name: m["family"] for name, m in DEMO_MODELS.items()}, "qwen2vl-tiny": "qwen2_vl"}


def test_the_demo_has_one_model_per_seed_model_of_the_real_plan():
    real = yaml.safe_load((REPO / "config" / "config.yaml").read_text())["models"]
    assert len(DEMO_MODELS) == len(real) == 4
    assert sorted(m["family"] for m in DEMO_MODELS.values()) == sorted(m["family"] for m in real.values())
    assert all(name.endswith("-tiny") for name in DEMO_MODELS)


@pytest.fixture(scope="module")
def families_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("families")
    config = reduced_demo_config()
    # frames 8 suits every family (Mobile-VideoGPT needs whole 8-frame chunks); the demo's tiny settings stay
    config["models"] = {
        name: {"family": family, "tiny": DEMO_MODELS.get(name, {}).get("tiny", {"preset": "s", "seed": 0}),
               "frames": 8, "resolution": 32}
        for name, family in FAMILIES.items()
    }
    config["infer"]["controls"] = []  # the controls' code path is family-independent (test_workflow covers it)
    configfile = write_config(workdir / "config.yaml", config)
    run_workflow(workdir, configfile)
    return workdir / "results"


def test_every_family_is_built_trained_predicted_and_scored(families_run):
    res = families_run
    test_ids = [r["id"] for r in read_jsonl(res / "data" / "test.jsonl")]
    assert test_ids
    for model, family in FAMILIES.items():
        built = json.loads((res / "models" / model / "tiny_model.json").read_text())
        assert built["family"] == family
        for key, value in DEMO_MODELS.get(model, {}).get("tiny", {}).get("overrides", {}).items():
            assert built["settings"][key] == value, (model, key)  # tiny.overrides reach the built model
        stats = json.loads((res / "runs" / model / "baseline" / "train_stats.json").read_text())
        assert stats["steps"] == 2 and 0 < stats["trainable_params"] < stats["total_params"], model
        for run in ("base", "baseline"):
            preds = read_jsonl(res / "predictions" / model / run / "clean.jsonl")
            assert [p["id"] for p in preds] == test_ids, (model, run)
            assert all(isinstance(p["prediction"], str) for p in preds)
            score = json.loads((res / "scores" / model / run / "clean.json").read_text())
            assert score["model"] == model and score["n"] == len(test_ids)
            assert 0.0 <= score["metrics"]["exercise_accuracy"]["mean"] <= 1.0


def test_report_has_a_row_per_model(families_run):
    rows = list(csv.DictReader(open(families_run / "tables" / "base_vs_baseline.csv")))
    assert {r["model"] for r in rows} == set(FAMILIES)
    summary = (families_run / "RESULTS_SUMMARY.md").read_text()
    assert all(f"## {model}" in summary for model in FAMILIES)
