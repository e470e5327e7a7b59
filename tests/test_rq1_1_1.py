"""RQ1.1.1: the analysis on known numbers, the recommended rank, and a reduced workflow run."""
import math
from pathlib import Path

import pandas as pd
import pytest

from qvedbench.analysis.training import (accuracy_vs_trainable_figure, compare_models, display_frame, load_entries,
                                         read_table, recommend_rank, run_frame, seed_spread, summary_markdown,
                                         write_table)
from qvedbench.io import RecordError, write_json, write_jsonl

LORA = {"method": "lora", "lora": {"r": 8, "alpha": 16}, "last_n": 2, "train_projector": True}
STATS = {"trainable_params": 1000, "total_params": 100000, "checkpoint_bytes": 2 * 2**20, "peak_memory_mb": 512.0,
         "time_per_epoch_s": 3.5, "steps": 10}


def write_run(root: Path, name: str, correct: list, *, stats=STATS) -> dict:
    """A train_stats.json and clean scores (.json + per-sample .jsonl) whose accuracy is mean(correct)."""
    valid = [c for c in correct if c is not None]
    mean = sum(valid) / len(valid) if valid else None
    scores = {"model": "m", "run": name, "variant": "clean", "n": len(correct),
              "metrics": {"exercise_accuracy": {"mean": mean, "ci_low": None if mean is None else mean - 0.1,
                                                "ci_high": None if mean is None else min(1.0, mean + 0.1),
                                                "n": len(valid), "failures": len(correct) - len(valid)}}}
    write_json(root / name / "clean.json", scores)
    write_jsonl(root / name / "clean.jsonl", [{"id": f"c{i}", "exercise_correct": c} for i, c in enumerate(correct)])
    write_json(root / name / "train_stats.json", stats)
    return {"stats": str(root / name / "train_stats.json"), "scores": str(root / name / "clean.json")}


def row(root, name, settings, canonical=None):
    return {"model": "m", "run": name, "canonical": canonical or name, "settings": settings,
            "stats": str(root / (canonical or name) / "train_stats.json"),
            "scores": str(root / (canonical or name) / "clean.json"),
            "baseline_scores": str(root / "baseline" / "clean.json")}


def test_frame_on_known_numbers(tmp_path):
    write_run(tmp_path, "baseline", [1, 0, 1, 0])
    write_run(tmp_path, "lora_r8", [1, 1, 1, None], stats={**STATS, "time_per_epoch_s": None})
    rows = [row(tmp_path, "lora_r8", LORA), row(tmp_path, "lora_r16", {**LORA, "lora": {"r": 16, "alpha": 32}},
                                                  canonical="baseline")]
    frame = run_frame(load_entries(rows), n_boot=200, seed=1)
    r8, r16 = frame.iloc[0], frame.iloc[1]
    assert r8["exercise_accuracy"] == 1.0 and r8["exercise_accuracy_failures"] == 1
    assert r8["trainable_share"] == pytest.approx(0.01) and r8["checkpoint_mb"] == pytest.approx(2.0)
    assert math.isnan(r8["time_per_epoch_s"])  # not measured: stays missing
    # paired over the 3 clips scored in both: (1+1+1)/3 - (1+0+1)/3
    assert r8["acc_diff"] == pytest.approx(1 / 3) and r8["acc_diff_n"] == 3 and r8["acc_diff_failures"] == 1
    assert r8["acc_diff_ci_low"] <= r8["acc_diff"] <= r8["acc_diff_ci_high"]
    assert r16["shared_with"] == "baseline" and r16["lora_r"] == 16 and r16["acc_diff"] == 0.0
    assert r8["setting"] == "LoRA r=8 (alpha 16)" and r8["shared_with"] == ""


def test_missing_train_stats_field_names_file_and_field(tmp_path):
    write_run(tmp_path, "baseline", [1, 0])
    write_run(tmp_path, "full", [1, 1], stats={"trainable_params": 5})
    with pytest.raises(RecordError, match=r"full/train_stats.json.*'total_params'"):
        load_entries([row(tmp_path, "full", {"method": "full"})])


def frame_of(accuracies: dict) -> pd.DataFrame:
    return pd.DataFrame([{"model": "m", "run": f"lora_r{r}", "method": "lora", "lora_r": r, "exercise_accuracy": a}
                         for r, a in accuracies.items()]
                        + [{"model": "m", "run": "full", "method": "full", "lora_r": None, "exercise_accuracy": 0.99}])


@pytest.mark.parametrize("tolerance, rank", [(0.0, 64), (0.02, 32), (0.05, 16), (0.3, 8)])
def test_recommended_rank_is_smallest_within_tolerance_of_best(tolerance, rank):
    accuracies = {8: 0.60, 16: 0.86, 32: 0.88, 64: 0.90, 128: 0.89}
    rec = recommend_rank(frame_of(accuracies), tolerance).iloc[0]
    assert rec["recommended_rank"] == rank and rec["best_rank"] == 64  # full fine-tuning is not a rank
    assert rec["ranks_compared"] == 5


def test_recommended_rank_skips_unscored_ranks_and_counts_exact_tolerance():
    rec = recommend_rank(frame_of({8: None, 16: 0.7, 32: 0.8}), 0.1).iloc[0]
    assert rec["recommended_rank"] == 16 and rec["ranks_compared"] == 2  # 0.8 - 0.1 == 0.7 counts
    assert recommend_rank(frame_of({8: None}), 0.1).empty


def test_seeds_average_for_the_rank_and_report_their_spread():
    frame = pd.DataFrame([
        {"model": "m", "run": run, "group": group, "method": "lora", "lora_r": r, "exercise_accuracy": a}
        for run, group, r, a in [("lora_r8", "lora_r8", 8, 0.9), ("lora_r8_s2", "lora_r8", 8, 0.5),
                                 ("lora_r16", "lora_r16", 16, 0.8), ("lora_r16_s2", "lora_r16", 16, 0.8)]])
    rec = recommend_rank(frame, 0.05).iloc[0]  # means: r8 0.7, r16 0.8
    assert rec["recommended_rank"] == 16 and rec["accuracy"] == pytest.approx(0.8)
    spread = seed_spread(frame).set_index("group")
    assert spread.loc["lora_r8", "seeds"] == 2 and spread.loc["lora_r8", "accuracy_mean"] == pytest.approx(0.7)
    assert spread.loc["lora_r8", "accuracy_std"] == pytest.approx(0.4 / 2**0.5)
    assert spread.loc["lora_r16", "accuracy_min"] == spread.loc["lora_r16", "accuracy_max"] == 0.8


def test_model_comparison_picks_wilcoxon_for_two_and_friedman_for_more():
    rows = []
    for model, shift in (("a", 0.0), ("b", 0.2), ("c", 0.1)):
        rows += [{"model": model, "run": f"r{i}", "exercise_accuracy": 0.1 * i + shift} for i in range(1, 7)]
    frame = pd.DataFrame(rows)
    two = compare_models(frame[frame["model"] != "c"])
    assert two["test"] == "Wilcoxon signed-rank" and two["blocks"] == 6
    assert two["p_value"] == pytest.approx(0.03125)  # b above a in all 6 settings: exact two-sided 2 / 2**6
    three = compare_models(frame)
    assert three["test"] == "Friedman" and three["statistic"] == pytest.approx(12.0)  # ranks identical in all blocks
    assert compare_models(frame[frame["model"] == "a"]) is None


def test_tables_figure_and_summary(tmp_path):
    write_run(tmp_path, "baseline", [1, 1, 1, 0, 0, 0] * 5)
    write_run(tmp_path, "lora_r8", [1, 1, 1, 1, 1, 1] * 5)
    write_run(tmp_path, "lora_r16", [0, 0, 0, 0, 0, 0] * 5, stats={**STATS, "trainable_params": 2000})
    rows = [row(tmp_path, "lora_r8", LORA), row(tmp_path, "lora_r16", {**LORA, "lora": {"r": 16, "alpha": 32}}),
            row(tmp_path, "full", {"method": "full"}, canonical="baseline")]
    frame = run_frame(load_entries(rows), n_boot=200)
    rec = recommend_rank(frame, 0.01)
    out = tmp_path / "out"
    write_table(frame, display_frame(frame), out / "runs.csv", out / "runs.tex")
    write_table(rec, rec, out / "rank.csv", out / "rank.tex")
    back = read_table(out / "runs.csv")
    assert list(back["run"]) == ["lora_r8", "lora_r16", "full"] and back["shared_with"].tolist() == ["", "", "baseline"]
    assert "LoRA r=8" in (out / "runs.tex").read_text()
    accuracy_vs_trainable_figure(frame, out / "direct.pdf", out / "direct.png")  # <NA> counts are fine too
    accuracy_vs_trainable_figure(back, out / "fig.pdf", out / "fig.png")
    assert (out / "fig.pdf").read_bytes()[:4] == b"%PDF" and (out / "fig.png").stat().st_size > 1000
    text = summary_markdown(back, read_table(out / "rank.csv"), tolerance=0.01, ci=0.95)
    assert text.startswith("## RQ 1.1.1:")
    assert "Recommended LoRA rank: r=8" in text
    assert "better: lora_r8; worse: lora_r16" in text  # +50 and -50 points with CIs away from 0
    assert "| full (= baseline) |" in text


def test_reduced_workflow(tmp_path):
    from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config

    cfg = reduced_demo_config()  # baseline: LoRA r8 alpha 16, 2 steps
    cfg["questions"] = {"rq1_1_1": {"enabled": True, "lora_ranks": [8, 16], "full": True, "last_n": []}}
    cfg["infer"]["controls"] = []
    configfile = write_config(tmp_path / "config.yaml", cfg)
    figure = "results/figures/rq1_1_1/accuracy_vs_trainable.png"
    jobs = planned_jobs(tmp_path, configfile, targets=(figure,))
    # baseline, lora_r16, full: lora_r8 is the baseline and trains once; no summary, no base run
    assert jobs["train_lora"] == 3 and jobs["infer_generate"] == 3 and jobs["evaluate_score"] == 3
    assert "rq1_1_1_summary" not in jobs and "report_summary" not in jobs and "data_variant" not in jobs
    seeded = write_config(tmp_path / "seeds.yaml", {**cfg, "train": {**cfg["train"], "seeds": [1, 2]}})
    assert planned_jobs(tmp_path, seeded, targets=(figure,))["train_lora"] == 6  # the same three runs per seed

    run_workflow(tmp_path, configfile, targets=("rq1_1_1",))
    model = next(iter(cfg["models"]))
    runs = sorted(p.name for p in (tmp_path / "results" / "runs" / model).iterdir())
    assert runs == ["baseline", "full", "lora_r16"]
    table = read_table(tmp_path / "results" / "tables" / "rq1_1_1" / "runs.csv")
    assert table["run"].tolist() == ["lora_r8", "lora_r16", "full"]
    assert table["shared_with"].tolist() == ["baseline", "", ""]
    full, r16 = table.set_index("run").loc["full"], table.set_index("run").loc["lora_r16"]
    assert full["trainable_params"] == full["total_params"] > r16["trainable_params"] > 0
    assert table["acc_diff_n"].notna().all()
    for ext in ("pdf", "png"):
        assert (tmp_path / "results" / "figures" / "rq1_1_1" / f"accuracy_vs_trainable.{ext}").stat().st_size > 0
    summary = (tmp_path / "results" / "summary" / "rq1_1_1.md").read_text()
    assert summary.startswith("## RQ 1.1.1:") and "Recommended LoRA rank: r=" in summary
    rank = read_table(tmp_path / "results" / "tables" / "rq1_1_1" / "recommended_rank.csv")
    assert rank["recommended_rank"].iloc[0] in (8, 16)
    seeds = read_table(tmp_path / "results" / "tables" / "rq1_1_1" / "seeds.csv")
    assert seeds["seeds"].tolist() == [1, 1, 1]


def test_real_config_plans_each_distinct_run_once(tmp_path):
    """config/config.yaml's RQ1.1.1 (baseline LoRA r64 alpha 128): lora_r64 is the baseline, not a second job."""
    import yaml

    from qvedbench.synth import generate_dataset
    from workflow_helpers import REPO, planned_jobs, write_config

    data = tmp_path / "qved"
    generate_dataset(data, clips_per_class=2, size=32, fps=4, seconds=1.0, workers=1)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["dataset"].update(annotations=[str(data / "annotations.json")], ground_truth=str(data / "ground_truth.json"),
                          video_root=str(data / "videos"))
    cfg["questions"] = {"rq1_1_1": cfg["questions"]["rq1_1_1"]}
    assert cfg["questions"]["rq1_1_1"]["enabled"] and cfg["train"]["baseline"]["lora"]["r"] == 64
    jobs = planned_jobs(tmp_path, write_config(tmp_path / "config.yaml", cfg), targets=("rq1_1_1",))
    n_models = len(cfg["models"])
    # baseline + lora r8, r16, r32, r128 + full + last_n2, last_n4 (r64 = baseline)
    assert jobs["train_lora"] == n_models * 8
    assert jobs["infer_generate"] == jobs["evaluate_score"] == n_models * 8  # clean only, no base run
