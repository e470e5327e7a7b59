"""RQ4.1.3 (class imbalance): imbalanced synthetic data, the run plan, the analysis on hand-made score files,
and a reduced workflow run."""
from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from qvedbench.analysis.imbalance import (accuracy_vs_count_figure, correlation_frame, headline_rows, load_entries,
                                          macro_accuracy, macro_difference, per_exercise_display,
                                          per_exercise_frame, per_exercise_figure, read_table, recommend,
                                          strategy_display, strategy_frame, summary_markdown, write_table)
from qvedbench.io import RecordError, write_json, write_jsonl
from qvedbench.report.headline import write_headline
from qvedbench.stats import wilson_ci
from qvedbench.synth.dataset import generate_dataset, plan_clips

CLASSES = ["a", "b", "c"]


# -- synthetic data ----------------------------------------------------------------------------------------

def test_synthetic_class_counts_make_the_classes_imbalanced(tmp_path):
    plan = dict(error_rate=0.5, double_error_rate=0.0, seed=1, seconds=1.0, fps=8, split=(0.6, 0.2, 0.2))
    clips = plan_clips(["squats", "lunges", "push-ups"], 5, class_counts={"squats": 12, "lunges": 7}, **plan)
    assert Counter(c.class_name for c in clips) == {"squats": 12, "lunges": 7, "push-ups": 5}
    train = Counter(c.class_name for c in clips if c.split == "train")
    assert train["squats"] > train["lunges"] > train["push-ups"] > 0
    balanced = plan_clips(["squats", "lunges", "push-ups"], 5, **plan)
    assert Counter(c.class_name for c in balanced) == {"squats": 5, "lunges": 5, "push-ups": 5}
    with pytest.raises(ValueError, match="class_counts names 'plank'"):
        generate_dataset(tmp_path, classes=["squats", "lunges"], clips_per_class=5, class_counts={"plank": 5})
    with pytest.raises(ValueError, match=r"class_counts\['squats'\] must be an integer >= 1"):
        generate_dataset(tmp_path, classes=["squats", "lunges"], clips_per_class=5, class_counts={"squats": 0})


# -- the run plan --------------------------------------------------------------------------------------------

def _plan(question: dict, **train):
    from qvedbench.config import validate_config
    from qvedbench.runs import plan_runs, question_runs
    from workflow_helpers import reduced_demo_config

    cfg = reduced_demo_config()
    cfg["questions"] = {"rq4_1_3": {"enabled": True, **question}}
    cfg["train"].update(train)
    return question_runs(plan_runs(validate_config(cfg, source="test")), "rq4_1_3")


def test_run_plan_current_is_the_baseline_and_the_others_split():
    rows = {r["run"]: r for r in _plan({"samples_per_class": 7})}
    assert list(rows) == ["imbalance_current", "imbalance_balanced", "imbalance_weighted"]
    assert rows["imbalance_current"]["canonical"] == "baseline"  # shared, trained once
    assert rows["imbalance_balanced"]["canonical"] == "imbalance_balanced"
    assert rows["imbalance_balanced"]["settings"]["train_subset"] == "balanced7"
    assert rows["imbalance_balanced"]["settings"]["loss_weighting"] == "none"
    assert rows["imbalance_weighted"]["canonical"] == "imbalance_weighted"
    assert rows["imbalance_weighted"]["settings"]["loss_weighting"] == "class"
    assert rows["imbalance_weighted"]["settings"]["train_subset"] is None
    assert all(r["baseline"] == "baseline" for r in rows.values())

    seeded = _plan({"samples_per_class": 7}, seeds=[1, 2])
    assert [r["run"] for r in seeded] == ["imbalance_current", "imbalance_current_s2", "imbalance_balanced",
                                          "imbalance_balanced_s2", "imbalance_weighted", "imbalance_weighted_s2"]
    assert {r["run"]: r["baseline"] for r in seeded}["imbalance_weighted_s2"] == "baseline_s2"


def test_weighted_baseline_makes_weighted_the_baseline():
    from qvedbench.config import validate_config
    from qvedbench.runs import plan_runs, question_runs
    from workflow_helpers import reduced_demo_config

    cfg = reduced_demo_config()
    cfg["train"]["baseline"]["loss_weighting"] = "class"
    cfg["questions"] = {"rq4_1_3": {"enabled": True}}
    rows = {r["run"]: r for r in question_runs(plan_runs(validate_config(cfg, source="test")), "rq4_1_3")}
    # "current" keeps the baseline's own settings; "weighted" equals them here and is trained once
    assert rows["imbalance_current"]["canonical"] == rows["imbalance_weighted"]["canonical"] == "baseline"


# -- the analysis on hand-made files ----------------------------------------------------------------------

def write_run(root: Path, run: str, correct: dict[str, list], train_counts: dict[str, int], weights=None) -> None:
    """Scores (.json with Wilson per-class, per-sample .jsonl) and train_stats.json of one run.

    ``correct``: class -> list of 0/1/None (None = failed) per test clip; ids are ``<class><i>``.
    """
    samples = [{"id": f"{c}{i}", "exercise": c, "exercise_correct": v}
               for c, values in correct.items() for i, v in enumerate(values)]
    scored = [s["exercise_correct"] for s in samples if s["exercise_correct"] is not None]
    per_class = {}
    for c, values in correct.items():
        valid = [v for v in values if v is not None]
        low, high = wilson_ci(sum(valid), len(valid))
        per_class[c] = {"n": len(valid), "accuracy": sum(valid) / len(valid) if valid else None,
                        "ci_low": low, "ci_high": high}
    mean = sum(scored) / len(scored)
    write_json(root / run / "clean.json", {
        "model": "m", "run": run, "variant": "clean", "n": len(samples), "per_class": per_class,
        "metrics": {"exercise_accuracy": {"mean": mean, "ci_low": max(0, mean - 0.1), "ci_high": min(1, mean + 0.1),
                                          "n": len(scored), "failures": len(samples) - len(scored)}}})
    write_jsonl(root / run / "clean.jsonl", samples)
    write_json(root / run / "train_stats.json", {"train_class_counts": train_counts, "class_weights": weights})


def row(root: Path, run: str, canonical: str | None = None) -> dict:
    canonical = canonical or run
    return {"model": "m", "run": run, "group": run, "canonical": canonical, "seed": 42,
            "stats": str(root / canonical / "train_stats.json"), "scores": str(root / canonical / "clean.json"),
            "reference_scores": str(root / "baseline" / "clean.json")}


TRAIN = {"a": 30, "b": 10, "c": 5}
WEIGHTS = {c: 45 / (3 * n) for c, n in TRAIN.items()}


@pytest.fixture()
def files(tmp_path):
    # current: the big class is learnt, the small ones are not
    write_run(tmp_path, "baseline", {"a": [1] * 8, "b": [1, 0, 0, 0] * 2, "c": [0] * 7 + [None]}, TRAIN)
    write_run(tmp_path, "imbalance_balanced", {"a": [1] * 6 + [0] * 2, "b": [1] * 4 + [0] * 4, "c": [1] * 4 + [0] * 4},
              {"a": 5, "b": 5, "c": 5})
    write_run(tmp_path, "imbalance_weighted", {"a": [1] * 8, "b": [1] * 8, "c": [1] * 7 + [0]}, TRAIN, WEIGHTS)
    rows = [row(tmp_path, "imbalance_current", "baseline"), row(tmp_path, "imbalance_balanced"),
            row(tmp_path, "imbalance_weighted")]
    return tmp_path, rows


def test_macro_accuracy_and_its_paired_difference_by_hand():
    a = {"x1": ("x", 1), "x2": ("x", 1), "x3": ("x", 0), "x4": ("x", 1), "y1": ("y", 0), "y2": ("y", None)}
    b = {"x1": ("x", 1), "x2": ("x", 0), "x3": ("x", 0), "x4": ("x", 0), "y1": ("y", 1), "y2": ("y", 1)}
    macro = macro_accuracy(a, n_boot=200)
    assert macro["mean"] == pytest.approx((3 / 4 + 0) / 2) and macro["n"] == 5 and macro["failures"] == 1
    assert macro["ci_low"] <= macro["mean"] <= macro["ci_high"]
    diff = macro_difference(a, b, n_boot=200)
    # over the 5 clips scored in both: a (3/4 + 0) / 2, b (1/4 + 1) / 2
    assert diff["diff"] == pytest.approx(0.375 - 0.625) and diff["n"] == 5 and diff["failures"] == 1
    assert diff["ci_low"] <= diff["diff"] <= diff["ci_high"] and 0 <= diff["p_value"] <= 1
    assert macro_accuracy(None)["mean"] is None and macro_difference(a, None)["diff"] is None


def test_frames_on_hand_made_scores(files):
    root, rows = files
    entries = load_entries(rows)
    per_exercise = per_exercise_frame(entries, CLASSES)
    weighted = per_exercise[per_exercise["strategy"] == "weighted"].set_index("class")
    assert weighted["train_count"].to_dict() == TRAIN
    assert weighted["class_weight"].to_dict() == pytest.approx({"a": 0.5, "b": 1.5, "c": 3.0})
    current = per_exercise[per_exercise["strategy"] == "current"].set_index("class")
    assert current.loc["c", "test_n"] == 7 and current.loc["b", "accuracy"] == 0.25  # the failure is left out
    assert (current.loc["b", "ci_low"], current.loc["b", "ci_high"]) == pytest.approx(wilson_ci(2, 8))
    assert current["class_weight"].isna().all() and current.loc["a", "trained_as"] == "baseline"

    strategies = strategy_frame(entries, n_boot=300, seed=1).set_index("strategy")
    assert strategies.loc["current", "macro_accuracy"] == pytest.approx((1 + 0.25 + 0) / 3)
    assert strategies.loc["current", "failed"] == 1 and strategies.loc["current", "n"] == 24
    assert strategies.loc["current", "train_clips"] == 45 and strategies.loc["balanced", "train_clips"] == 15
    assert strategies.loc["current", "macro_diff"] == 0 and strategies.loc["current", "acc_diff"] == 0
    w = strategies.loc["weighted"]
    # paired over the 23 clips scored in both (c7, the one weighted gets wrong, failed in current):
    # macro (1 + 1 + 1)/3 - (1 + 0.25 + 0)/3 and overall 23/23 - 10/23
    assert w["macro_diff"] == pytest.approx(1 - 1.25 / 3)
    assert w["macro_diff_n"] == 23 and w["macro_diff_failures"] == 1
    assert w["acc_diff"] == pytest.approx(13 / 23) and w["acc_diff_ci_low"] > 0
    assert w["macro_accuracy"] == pytest.approx((1 + 1 + 7 / 8) / 3)  # unpaired: all of its own clips
    assert w["macro_diff_ci_low"] > 0

    correlation = correlation_frame(per_exercise).set_index("strategy")
    assert correlation.loc["current", "spearman"] == pytest.approx(1.0)  # more clips, higher accuracy
    assert correlation.loc["current", "n_classes"] == 3
    assert math.isnan(correlation.loc["balanced", "spearman"])
    assert correlation.loc["balanced", "note"] == "training clips per class do not vary"

    rec = recommend(strategies.reset_index()).iloc[0]
    assert rec["recommended"] == "weighted" and "above 0" in rec["reason"]


def test_recommendation_keeps_current_without_a_clear_gain():
    frame = pd.DataFrame([
        {"model": "m", "strategy": s, "run": f"imbalance_{s}", "macro_accuracy": acc, "macro_diff": d,
         "macro_diff_ci_low": lo, "macro_diff_ci_high": hi}
        for s, acc, d, lo, hi in [("current", 0.6, 0.0, 0.0, 0.0), ("balanced", 0.7, 0.1, -0.02, 0.2),
                                  ("weighted", 0.65, 0.05, 0.01, 0.1)]])
    assert recommend(frame).iloc[0]["recommended"] == "weighted"  # balanced is higher but its CI includes 0
    frame.loc[frame["strategy"] == "weighted", "macro_diff_ci_low"] = -0.01
    rec = recommend(frame).iloc[0]
    assert rec["recommended"] == "current" and "keep the current distribution" in rec["reason"]
    # several seeds: the gain must hold in every seed
    seeds = pd.concat([frame, frame.assign(run=lambda f: f["run"] + "_s2", macro_diff_ci_low=0.05)])
    assert recommend(seeds).iloc[0]["recommended"] == "current"


def test_too_few_classes_are_reported_not_correlated(tmp_path):
    write_run(tmp_path, "baseline", {"a": [1, 0], "b": [1, 1]}, {"a": 4, "b": 2})
    frame = per_exercise_frame(load_entries([row(tmp_path, "imbalance_current", "baseline")]), ["a", "b"])
    corr = correlation_frame(frame).iloc[0]
    assert math.isnan(corr["spearman"]) and corr["note"].startswith("too few classes")


def test_bad_inputs_name_file_and_field(tmp_path):
    write_run(tmp_path, "baseline", {"a": [1]}, {"a": 1})
    write_json(tmp_path / "baseline" / "train_stats.json", {"steps": 2})
    with pytest.raises(RecordError, match=r"baseline/train_stats.json.*'train_class_counts'"):
        load_entries([row(tmp_path, "imbalance_current", "baseline")])
    with pytest.raises(ValueError, match="not an RQ4.1.3 strategy"):
        write_run(tmp_path, "other", {"a": [1]}, {"a": 1})
        load_entries([row(tmp_path, "other")])


def test_tables_figures_headline_and_summary(files, tmp_path):
    _, rows = files
    entries = load_entries(rows)
    out = tmp_path / "out"
    per_exercise = per_exercise_frame(entries, CLASSES)
    strategies = strategy_frame(entries, n_boot=200)
    correlation = correlation_frame(per_exercise)
    write_table(per_exercise, per_exercise_display(per_exercise), out / "pe.csv", out / "pe.tex")
    write_table(strategies, strategy_display(strategies), out / "st.csv", out / "st.tex")
    write_table(correlation, correlation, out / "co.csv", out / "co.tex")
    back = {name: read_table(out / f"{name}.csv") for name in ("pe", "st", "co")}
    assert back["co"]["note"].tolist() == ["", "training clips per class do not vary", ""]
    per_exercise_figure(back["pe"], back["st"], out / "bars.pdf", out / "bars.png")
    accuracy_vs_count_figure(back["pe"], back["st"], back["co"], out / "count.pdf", out / "count.png")
    for name in ("bars", "count"):
        assert (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF" and (out / f"{name}.png").stat().st_size > 1000
    headline = write_headline(out / "headline.csv", headline_rows(strategies))
    assert headline["measure"].tolist() == ["macro_accuracy_current", "macro_accuracy_balanced",
                                            "macro_accuracy_diff_balanced", "macro_accuracy_weighted",
                                            "macro_accuracy_diff_weighted"]
    assert headline.set_index("measure").loc["macro_accuracy_current", "detail"] == (
        "current distribution, run imbalance_current (= baseline)")
    text = summary_markdown(back["st"], back["pe"], back["co"], recommend(back["st"]), samples_per_class=5, ci=0.95)
    assert text.startswith("## RQ 4.1.3:")
    assert "**Recommendation: class-weighted loss** (weighted)" in text
    assert "Training clips per class, current distribution: a 30, b 10, c 5." in text
    assert "loss weights a 0.50, b 1.50, c 3.00" in text
    assert "`imbalance_balanced`: not computed (training clips per class do not vary)" in text
    assert "Spearman rho 1.00 over 3 classes" in text


# -- the workflow ---------------------------------------------------------------------------------------------

def test_reduced_workflow(tmp_path):
    from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config

    cfg = reduced_demo_config()  # 5 clips per class, LoRA r8, 2 steps
    classes = cfg["dataset"]["classes"]
    cfg["dataset"]["synthetic"]["class_counts"] = {classes[0]: 15, classes[1]: 10}
    cfg["questions"] = {"rq4_1_3": {"enabled": True, "samples_per_class": 3}}
    cfg["infer"]["controls"] = []
    configfile = write_config(tmp_path / "config.yaml", cfg)
    figure = "results/figures/rq4_1_3/per_exercise_accuracy.png"
    jobs = planned_jobs(tmp_path, configfile, targets=(figure,))
    # baseline (= imbalance_current), imbalance_balanced, imbalance_weighted; one subset file
    assert jobs["train_lora"] == 3 and jobs["infer_generate"] == 3 and jobs["evaluate_score"] == 3
    assert jobs["data_subset"] == 1 and "rq4_1_3_summary" not in jobs and "rq4_1_3_count_figure" not in jobs

    run_workflow(tmp_path, configfile, targets=("rq4_1_3",))
    results = tmp_path / "results"
    model = next(iter(cfg["models"]))
    assert sorted(p.name for p in (results / "runs" / model).iterdir()) == [
        "baseline", "imbalance_balanced", "imbalance_weighted"]
    tables = results / "tables" / "rq4_1_3"
    per_exercise = read_table(tables / "per_exercise.csv")
    counts = {s: part.set_index("class")["train_count"].to_dict() for s, part in per_exercise.groupby("strategy")}
    assert counts["current"][classes[0]] > counts["current"][classes[1]] > counts["current"][classes[2]]
    assert counts["weighted"] == counts["current"] and max(counts["balanced"].values()) == 3
    weights = per_exercise[per_exercise["strategy"] == "weighted"].set_index("class")["class_weight"]
    current = pd.Series(counts["current"])
    assert (weights * current).round(9).nunique() == 1  # inverse to the class count
    assert (weights * current).sum() / current.sum() == pytest.approx(1.0)  # mean weight 1 per clip
    strategies = read_table(tables / "strategies.csv").set_index("strategy")
    assert strategies.loc["current", "trained_as"] == "baseline" and strategies["n"].gt(0).all()
    assert strategies["macro_diff_n"].notna().all()
    for name in ("per_exercise", "strategies", "correlation"):
        assert (tables / f"{name}.tex").stat().st_size > 0
    assert len(read_table(tables / "headline.csv")) == 5
    for name in ("per_exercise_accuracy", "accuracy_vs_train_count"):
        for ext in ("pdf", "png"):
            assert (results / "figures" / "rq4_1_3" / f"{name}.{ext}").stat().st_size > 0
    summary = (results / "summary" / "rq4_1_3.md").read_text()
    assert summary.startswith("## RQ 4.1.3:") and "**Recommendation:" in summary


def test_real_config_plans_the_three_strategies_per_model(tmp_path):
    """config/config.yaml's RQ4.1.3: per model the baseline (= imbalance_current), the balanced subset and the
    weighted loss, and one balanced<K> subset file shared by all models."""
    import yaml

    from workflow_helpers import REPO, planned_jobs, write_config

    data = tmp_path / "qved"
    generate_dataset(data, clips_per_class=2, size=32, fps=4, seconds=1.0, workers=1)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["dataset"].update(annotations=[str(data / "annotations.json")], ground_truth=str(data / "ground_truth.json"),
                          video_root=str(data / "videos"))
    cfg["questions"] = {"rq4_1_3": cfg["questions"]["rq4_1_3"]}
    assert cfg["questions"]["rq4_1_3"]["enabled"]
    jobs = planned_jobs(tmp_path, write_config(tmp_path / "config.yaml", cfg), targets=("rq4_1_3",))
    n_models = len(cfg["models"])
    assert jobs["train_lora"] == jobs["infer_generate"] == jobs["evaluate_score"] == n_models * 3
    assert jobs["data_subset"] == 1
