"""The demo DAG with one tiny model of every family: each goes through the same build, training, inference and
scoring rules, and the report has a row for each."""
import csv
import json

import pytest

from qvedbench.io import read_jsonl
from workflow_helpers import reduced_demo_config, run_workflow, write_config

# One tiny model per family; frames 8 suits them all (Mobile-VideoGPT needs whole 8-frame chunks).
FAMILIES = {
    "qwen2vl-tiny": "qwen2_vl",
    "videollama3-tiny": "videollama3",
    "nvila-lite-tiny": "nvila_lite",
    "mobile-videogpt-tiny": "mobile_videogpt",
}


@pytest.fixture(scope="module")
def families_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("families")
    config = reduced_demo_config()
    config["models"] = {
        name: {"family": family, "tiny": {"preset": "s", "seed": 0}, "frames": 8, "resolution": 32}
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
        assert json.loads((res / "models" / model / "tiny_model.json").read_text())["family"] == family
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
