"""The workflow end to end: a reduced demo run, planning the real four-model plan, and rerun precision."""
import copy
import csv
import json

import pytest
import yaml

from qvedbench.io import read_jsonl
from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("demo")
    config = reduced_demo_config()
    configfile = write_config(workdir / "config.yaml", config)
    run_workflow(workdir, configfile)
    return workdir, configfile, config


def test_reduced_demo_outputs(demo_run):
    workdir, _, config = demo_run
    model = next(iter(config["models"]))
    res = workdir / "results"
    test = read_jsonl(res / "data" / "test.jsonl")
    annotations = json.loads((res / "synth" / "annotations.json").read_text())
    assert len(test) == sum(r["split"] == "test" for r in annotations) > 0

    for run in ("base", "baseline"):
        preds = read_jsonl(res / "predictions" / model / run / "clean.jsonl")
        assert [p["id"] for p in preds] == [r["id"] for r in test]
        assert all(isinstance(p["prediction"], str) for p in preds)
        score = json.loads((res / "scores" / model / run / "clean.json").read_text())
        assert score["n"] == len(test)
        assert 0.0 <= score["metrics"]["exercise_accuracy"]["mean"] <= 1.0
        assert set(score["metrics"]) >= {"exercise_accuracy", "rouge_l", "meteor", "bertscore_f1", "embedding_cosine"}

    swapped = read_jsonl(res / "predictions" / model / "baseline" / "swapped.jsonl")
    assert all(p["exercise"] != p["original_exercise"] for p in swapped)

    stats = json.loads((res / "runs" / model / "baseline" / "train_stats.json").read_text())
    assert 0 < stats["trainable_params"] < stats["total_params"]
    assert stats["steps"] == 2
    resolved = yaml.safe_load((res / "runs" / model / "baseline" / "resolved_config.yaml").read_text())
    assert json.dumps(resolved).count('"max_steps": 2') >= 1
    log = read_jsonl(res / "runs" / model / "baseline" / "trainer_log.jsonl")
    assert any("eval_loss" in row for row in log) and any("loss" in row for row in log)

    for ext in ("pdf", "png"):
        assert (res / "figures" / f"base_vs_baseline.{ext}").stat().st_size > 1000
    rows = list(csv.DictReader(open(res / "tables" / "base_vs_baseline.csv")))
    assert {r["run"] for r in rows} == {"base", "baseline"}
    assert "\\begin{tabular}" in (res / "tables" / "base_vs_baseline.tex").read_text()
    summary = (res / "RESULTS_SUMMARY.md").read_text()
    assert model in summary and "blank" in summary.lower() and "swapped" in summary.lower()
    assert (res / "logs" / "train_lora" / model / "baseline.log").exists()


def test_finished_demo_plans_nothing(demo_run):
    workdir, configfile, _ = demo_run
    assert planned_jobs(workdir, configfile) == {}


def _edited(workdir, config, edit, name):
    cfg = copy.deepcopy(config)
    edit(cfg)
    return write_config(workdir / name, cfg)


# the final deliverables follow any change of the baseline's scores or training
MASTER_JOBS = {"report_baseline_headline": 1, "report_master_table": 1, "report_recommendations": 1,
               "report_model_tests": 1}


def test_changing_lora_rank_replans_only_dependents(demo_run):
    workdir, _, config = demo_run
    changed = _edited(workdir, config, lambda c: c["train"]["baseline"]["lora"].update(r=4), "rank.yaml")
    jobs = planned_jobs(workdir, changed)
    # the baseline retrains; its three predictions (clean + two controls) and scores follow; base is untouched
    assert jobs == {"train_lora": 1, "infer_generate": 3, "evaluate_score": 3, "report_base_vs_baseline_figure": 1,
                    "report_comparison_table": 1, "report_summary": 1, "all": 1, **MASTER_JOBS}


def test_changing_metric_model_rescoring_only(demo_run):
    workdir, _, config = demo_run
    changed = _edited(workdir, config, lambda c: c["evaluate"].update(bertscore_layers=5), "metric.yaml")
    jobs = planned_jobs(workdir, changed)
    assert jobs == {"evaluate_score": 4, "report_base_vs_baseline_figure": 1, "report_comparison_table": 1,
                    "report_summary": 1, "all": 1, **MASTER_JOBS}


def test_single_figure_is_a_target(demo_run):
    workdir, configfile, _ = demo_run
    assert planned_jobs(workdir, configfile, "--forcerun", "report_base_vs_baseline_figure",
                        targets=("results/figures/base_vs_baseline.png",)) == {"report_base_vs_baseline_figure": 1}


def test_full_plan_dry_run(tmp_path):
    """config/config.yaml, with the dataset pointed at a small generated one, plans all four models."""
    from qvedbench.synth import generate_dataset

    data = tmp_path / "qved"
    generate_dataset(data, clips_per_class=2, size=32, fps=4, seconds=1.0, workers=1)
    cfg = yaml.safe_load(open(workdir_repo() / "config" / "config.yaml"))
    cfg["dataset"].update(annotations=[str(data / "annotations.json")], ground_truth=str(data / "ground_truth.json"),
                          video_root=str(data / "videos"))
    cfg["questions"] = {}  # the spine's own plan; each question's tests plan its runs
    jobs = planned_jobs(tmp_path, write_config(tmp_path / "config.yaml", cfg))
    n_models = len(cfg["models"])
    assert n_models == 4
    assert jobs["train_lora"] == n_models
    assert jobs["infer_generate"] == n_models * 4  # base + baseline on clean, baseline on two controls
    assert jobs["evaluate_score"] == n_models * 4
    assert jobs["data_prepare"] == 1 and jobs["data_variant"] == 2
    assert "models_tiny" not in jobs and "data_synth" not in jobs


def workdir_repo():
    from workflow_helpers import REPO

    return REPO
