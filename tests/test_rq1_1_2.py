"""RQ1.1.2: schedule x warm-up runs (collapse, observation merge), evaluation that leaves training unchanged,
convergence statistics on known curves, the analysis on hand-made logs and scores, and a reduced workflow run."""
import copy
import math
from pathlib import Path

import pandas as pd
import pytest
import yaml

from qvedbench.analysis.convergence import (convergence_display, convergence_frame, convergence_runs, curve,
                                            final_accuracy_frame, final_display, headline_rows,
                                            lr_schedules_figure, read_table, read_trainer_log,
                                            recommend_schedule, steps_to_fraction, summary_markdown,
                                            train_val_curves_figure, write_headline_csv, write_table)
from qvedbench.config import validate_config
from qvedbench.io import RecordError, write_json, write_jsonl
from qvedbench.report.headline import read_headlines
from qvedbench.runs import canonical_runs, merge_observation, plan_runs, question_run_names

ROOT = Path(__file__).resolve().parent.parent
MODEL = "tiny_qwen2vl_s"


@pytest.fixture
def demo():
    cfg = yaml.safe_load((ROOT / "config" / "demo.yaml").read_text())
    cfg["models"] = {MODEL: {"family": "qwen2_vl", "tiny": {"preset": "s"}}}
    cfg["train"]["baseline"].update(scheduler="cosine", warmup_ratio=0.05, eval_steps=100, eval_generate=False)
    return cfg


def with_rq1_1_2(cfg, **question):
    cfg = copy.deepcopy(cfg)
    cfg.setdefault("questions", {})["rq1_1_2"] = {"enabled": True, "eval_every_steps": 10, **question}
    return validate_config(cfg)


# -- the run plan --------------------------------------------------------------------------------------------

def test_schedules_collapse_to_distinct_runs(demo):
    plan = plan_runs(with_rq1_1_2(demo))
    names = question_run_names(plan, "rq1_1_2")[MODEL]
    assert len(names) == 16 and "sched_cosine_w0.05" in names and "sched_constant_with_warmup_w0" in names
    # constant ignores warm-up: one run for all four ratios; constant_with_warmup at 0 is constant
    constant = {names[f"sched_constant_w{w}"] for w in ("0", "0.03", "0.05", "0.1")}
    assert constant == {"sched_constant_w0"} and names["sched_constant_with_warmup_w0"] == "sched_constant_w0"
    # a changed warm-up splits; the pair equal to the baseline is the baseline
    assert names["sched_cosine_w0.03"] == "sched_cosine_w0.03" != names["sched_cosine_w0.1"]
    assert names["sched_constant_with_warmup_w0.03"] == "sched_constant_with_warmup_w0.03"
    assert names["sched_cosine_w0.05"] == "baseline"
    trained = [r for r, s in canonical_runs(plan)[MODEL].items() if s is not None]
    assert len(trained) == 1 + 1 + 3 + 3 + 4  # baseline, constant, cwarmup x3, cosine x3 (0.05 = baseline), linear x4
    assert len(set(trained)) == len(trained)


def test_baseline_shared_with_a_schedule_observes_as_the_question_asks(demo):
    plan = plan_runs(with_rq1_1_2(demo, schedulers=["cosine"], warmup_ratios=[0.05]))
    table = canonical_runs(plan)[MODEL]
    assert list(table) == ["base", "baseline"]  # sched_cosine_w0.05 is the baseline: no second run
    assert table["baseline"]["eval_steps"] == 10 and table["baseline"]["eval_generate"] is True
    without = canonical_runs(plan_runs(validate_config(copy.deepcopy(demo))))[MODEL]["baseline"]
    assert without["eval_steps"] == 100 and without["eval_generate"] is False
    # the observation settings are all that differ
    assert {k for k in table["baseline"] if table["baseline"][k] != without[k]} == {"eval_steps", "eval_generate"}


def test_observation_merge_takes_the_most_informative_settings():
    merged = merge_observation([
        {"eval_steps": 50, "eval_generate": False, "logging_steps": 5, "save_steps": None, "eval_max_new_tokens": 24},
        {"eval_steps": 10, "eval_generate": True, "logging_steps": 20, "save_steps": 50, "eval_max_new_tokens": 8},
        {"eval_steps": None, "save_steps": 100},
    ])
    assert merged == {"eval_steps": 10, "eval_generate": True, "logging_steps": 5, "save_steps": 50,
                      "eval_max_new_tokens": 24}
    assert merge_observation([{"eval_steps": None}, {"lr": 1.0}]) == {"eval_steps": None}


# -- training: evaluation observes only, and logs ROUGE-L ---------------------------------------------------

def test_evaluation_logs_rouge_l_and_leaves_the_trained_weights_unchanged(tmp_path):
    import torch
    from safetensors.torch import load_file

    from clip_fixtures import CLASSES, SYSTEM, tiny_spec, write_records
    from qvedbench.io import read_jsonl
    from qvedbench.train import train_run

    records = write_records(tmp_path)
    spec = tiny_spec(tmp_path, records)
    # dropout > 0 draws from torch's generator every step, so any draw by the evaluation would show; 4 steps of
    # batch 2 over 6 clips cross an epoch boundary (a new data order)
    cfg = {"method": "lora", "lora": {"r": 4, "alpha": 8, "dropout": 0.1}, "train_projector": True, "lr": 5.0e-3,
           "scheduler": "cosine", "warmup_ratio": 0.1, "max_steps": 4, "batch_size": 2, "logging_steps": 1,
           "eval_steps": None, "save_steps": None, "seed": 3}
    observed = {**cfg, "eval_steps": 1, "eval_generate": True, "eval_max_new_tokens": 6, "save_steps": 2}

    def weights(out):
        files = (out / "checkpoint").rglob("*.safetensors")
        return {f"{f.name}:{k}": v for f in files for k, v in load_file(f).items()}

    for name, settings in (("plain", cfg), ("observed", observed)):
        train_run(spec, settings, records, records[::2], tmp_path / name, system_prompt=SYSTEM, classes=CLASSES,
                  threads=1)
    plain, watched = weights(tmp_path / "plain"), weights(tmp_path / "observed")
    assert plain and plain.keys() == watched.keys()
    assert all(torch.equal(plain[k], watched[k]) for k in plain)
    evals = [r for r in read_jsonl(tmp_path / "observed" / "trainer_log.jsonl") if "eval_loss" in r]
    assert [r["step"] for r in evals] == [1, 2, 3, 4]
    assert all(0.0 <= r["eval_rouge_l"] <= 1.0 and 0.0 <= r["eval_exercise_accuracy"] <= 1.0 for r in evals)


# -- convergence statistics ----------------------------------------------------------------------------------

KNOWN = pd.DataFrame({"step": [10, 20, 30, 40, 50], "value": [0.2, 0.5, 0.85, 0.95, 0.9]})


@pytest.mark.parametrize("fraction, step", [(0.5, 20), (0.9, 30), (0.95, 40), (0.99, 40), (1.0, 40)])
def test_steps_to_a_share_of_the_final_accuracy(fraction, step):
    # final 0.9: 90% = 0.81 first reached at 30, 95% = 0.855 and 99% = 0.891 at 40 (above the final value)
    assert steps_to_fraction(KNOWN, fraction) == step


def test_steps_edge_cases():
    assert steps_to_fraction(KNOWN.iloc[0:0], 0.9) is None
    exact = pd.DataFrame({"step": [1, 2], "value": [0.95 * 0.8, 0.8]})
    assert steps_to_fraction(exact, 0.95) == 1  # exactly at the threshold counts despite rounding
    with pytest.raises(ValueError):
        steps_to_fraction(KNOWN, 0.0)


def test_curve_keeps_the_last_line_of_a_step_and_skips_other_lines():
    rows = [{"step": 1, "loss": 2.0}, {"step": 2, "eval_loss": 1.5, "eval_exercise_accuracy": 0.2},
            {"step": 2, "loss": 1.8}, {"step": 2, "eval_loss": 1.4, "eval_exercise_accuracy": 0.3}]
    assert curve(rows, "eval_exercise_accuracy").values.tolist() == [[2, 0.3]]
    assert curve(rows, "loss")["step"].tolist() == [1, 2]


def test_bad_trainer_log_names_file_line_and_field(tmp_path):
    write_jsonl(tmp_path / "trainer_log.jsonl", [{"step": 1, "loss": 1.0}, {"step": "two", "loss": 0.5}])
    with pytest.raises(RecordError, match=r"trainer_log.jsonl, record 1, field 'step'"):
        read_trainer_log(tmp_path / "trainer_log.jsonl")


# -- the analysis on hand-made logs and scores ---------------------------------------------------------------

def write_log(path: Path, accuracies: list, lr: float = 1e-3) -> str:
    rows = []
    for i, acc in enumerate(accuracies, start=1):
        rows.append({"step": i, "epoch": i / 10, "loss": 2.0 / i, "learning_rate": lr * i / len(accuracies)})
        rows.append({"step": i, "epoch": i / 10, "eval_loss": 1.5 / i, "eval_exercise_accuracy": acc,
                     "eval_rouge_l": acc / 2})
    write_jsonl(path, rows)
    return str(path)


def write_scores(root: Path, run: str, correct: list) -> str:
    valid = [c for c in correct if c is not None]
    mean = sum(valid) / len(valid) if valid else None
    scores = {"model": "m", "run": run, "variant": "clean", "n": len(correct),
              "metrics": {"exercise_accuracy": {"mean": mean, "n": len(valid), "failures": len(correct) - len(valid)}}}
    write_json(root / run / "clean.json", scores)
    write_jsonl(root / run / "clean.jsonl", [{"id": f"c{i}", "exercise_correct": c,
                                              "rouge_l": None if c is None else 0.5} for i, c in enumerate(correct)])
    return str(root / run / "clean.json")


def question_row(root, run, canonical, scheduler, warmup, *, seed=1, group=None, baseline="baseline"):
    return {"model": "m", "run": run, "group": group or run, "canonical": canonical,
            "settings": {"scheduler": scheduler, "warmup_ratio": warmup, "seed": seed},
            "log": str(root / canonical / "trainer_log.jsonl"), "scores": str(root / canonical / "clean.json"),
            "baseline": baseline, "baseline_scores": str(root / baseline / "clean.json")}


@pytest.fixture
def made(tmp_path):
    """baseline (= sched_cosine_w0.05): 60%; linear: 100% but slow; constant (two names): 28 of 29, fast."""
    for run, accuracies, correct in (("baseline", [0.1, 0.5, 0.6, 0.6], [1, 0, 1, 0, 1] * 6),
                                     ("sched_linear_w0", [0.1, 0.2, 0.3, 1.0], [1] * 30),
                                     ("sched_constant_w0", [0.5, 0.97, 0.98, 0.98], [1] * 28 + [0, None])):
        (tmp_path / run).mkdir()
        write_log(tmp_path / run / "trainer_log.jsonl", accuracies)
        write_scores(tmp_path, run, correct)
    rows = [question_row(tmp_path, "sched_constant_w0", "sched_constant_w0", "constant", 0),
            question_row(tmp_path, "sched_constant_w0.1", "sched_constant_w0", "constant", 0.1),
            question_row(tmp_path, "sched_cosine_w0.05", "baseline", "cosine", 0.05),
            question_row(tmp_path, "sched_linear_w0", "sched_linear_w0", "linear", 0)]
    return tmp_path, rows


def test_convergence_and_final_accuracy_on_known_numbers(made):
    root, rows = made
    conv = convergence_frame(convergence_runs(rows)).set_index("run")
    assert conv.loc["sched_constant_w0", "steps_to_90pct"] == 2 and conv.loc["sched_linear_w0", "steps_to_95pct"] == 4
    assert conv.loc["sched_cosine_w0.05", "steps_to_90pct"] == 3  # 0.9 * 0.6 = 0.54 first at step 3
    assert conv.loc["sched_cosine_w0.05", "shared_with"] == "baseline"
    assert conv.loc["sched_linear_w0", "eval_points"] == 4
    assert conv.loc["sched_linear_w0", "final_val_rouge_l"] == 0.5 and conv.loc["sched_constant_w0", "seeds"] == 1

    final = final_accuracy_frame(rows, n_boot=200, seed=0).set_index("run")
    constant = final.loc["sched_constant_w0.1"]
    assert constant["exercise_accuracy"] == pytest.approx(28 / 29) and constant["n"] == 29 and constant["failed"] == 1
    # paired over the 29 clips scored in both: the baseline has 17 of them right
    assert constant["acc_diff"] == pytest.approx(11 / 29) and constant["acc_diff_n"] == 29
    assert constant["acc_diff_ci_low"] > 0 and constant["shared_with"] == "sched_constant_w0"
    assert final.loc["sched_cosine_w0.05", "acc_diff"] == 0 and bool(final.loc["sched_cosine_w0.05", "is_baseline"])
    assert final.loc["sched_linear_w0", "exercise_accuracy_ci_low"] == 1.0
    assert math.isnan(final.loc["sched_linear_w0", "accuracy_seed_std"])  # one seed: no spread


@pytest.mark.parametrize("tolerance, chosen, steps, tied", [(0.01, "sched_linear_w0", 4, 1),
                                                             (0.05, "sched_constant_w0", 2, 2)])
def test_recommended_schedule_breaks_ties_by_steps_to_95(made, tolerance, chosen, steps, tied):
    _, rows = made
    conv = convergence_frame(convergence_runs(rows))
    rec = recommend_schedule(final_accuracy_frame(rows, n_boot=100), conv, tolerance).iloc[0]
    # linear: 100%, 95% of its final validation accuracy at step 4; constant: 96.6%, at step 2
    assert (rec["recommended_run"], rec["steps_to_95pct"], rec["tied_runs"]) == (chosen, steps, tied)
    assert rec["best_run"] == "sched_linear_w0"
    assert rec["schedules_compared"] == 3  # the two constant names count once
    with pytest.raises(ValueError):
        recommend_schedule(final_accuracy_frame(rows, n_boot=100), conv, -0.1)


def test_recommendation_prefers_accuracy_outside_the_tolerance(tmp_path):
    final = pd.DataFrame([{"model": "m", "run": r, "canonical": r, "shared_with": "", "scheduler": s,
                           "warmup_ratio": 0, "exercise_accuracy": a, "exercise_accuracy_ci_low": a,
                           "exercise_accuracy_ci_high": a, "n": 30, "failed": 0}
                          for r, s, a in (("fast", "constant", 0.80), ("slow", "linear", 0.90),
                                          ("none", "cosine", math.nan))])
    conv = pd.DataFrame({"model": "m", "run": ["fast", "slow", "none"], "steps_to_95pct": [2, 9, 1]})
    assert recommend_schedule(final, conv, 0.05).iloc[0]["recommended_run"] == "slow"
    assert recommend_schedule(final, conv, 0.1).iloc[0]["recommended_run"] == "fast"
    assert recommend_schedule(final, conv, 0.1).iloc[0]["schedules_compared"] == 2  # unscored left out


def test_seeds_aggregate_as_clip_means_and_spread(tmp_path):
    for run, correct, accuracies in (("baseline", [0, 0, 0, 0], [0.5, 0.5]), ("baseline_s2", [0, 0, 0, 0], [0.5, 0.5]),
                                     ("sched_linear_w0", [1, 1, 0, 0], [0.2, 0.4]),
                                     ("sched_linear_w0_s2", [1, 1, 1, 1], [0.4, 0.4])):
        (tmp_path / run).mkdir()
        write_log(tmp_path / run / "trainer_log.jsonl", accuracies)
        write_scores(tmp_path, run, correct)
    rows = [question_row(tmp_path, "sched_linear_w0", "sched_linear_w0", "linear", 0),
            question_row(tmp_path, "sched_linear_w0_s2", "sched_linear_w0_s2", "linear", 0, seed=2,
                         group="sched_linear_w0", baseline="baseline_s2")]
    final = final_accuracy_frame(rows, n_boot=100).iloc[0]
    assert final["seeds"] == 2 and final["exercise_accuracy"] == pytest.approx(0.75) and final["n"] == 4
    assert final["accuracy_seed_std"] == pytest.approx(0.5 / 2**0.5)  # per-seed accuracies 0.5 and 1.0
    assert final["acc_diff"] == pytest.approx(0.75)
    conv = convergence_frame(convergence_runs(rows)).iloc[0]
    assert conv["seeds"] == 2 and conv["steps_to_95pct"] == 1.5  # per seed: steps 2 and 1
    assert conv["steps_to_95pct_std"] == pytest.approx(0.5 ** 0.5)


def test_tables_figures_headline_and_summary(made):
    root, rows = made
    out = root / "out"
    conv = convergence_frame(convergence_runs(rows))
    write_table(conv, convergence_display(conv), out / "convergence.csv", out / "convergence.tex")
    final = final_accuracy_frame(rows, n_boot=200)
    write_table(final, final_display(final), out / "final.csv", out / "final.tex")
    rec = recommend_schedule(final, read_table(out / "convergence.csv"), 0.01)
    write_table(rec, rec, out / "rec.csv", out / "rec.tex")
    assert "steps to 95" in (out / "convergence.tex").read_text()
    write_headline_csv(out / "headline.csv", rec, ["m", "other"])
    head = read_headlines([out / "headline.csv"]).set_index(["model", "measure"])
    assert head.loc[("m", "exercise_accuracy"), "detail"] == "schedule sched_linear_w0"
    assert head.loc[("m", "exercise_accuracy"), "value"] == 1.0 and head.loc[("m", "exercise_accuracy"), "n"] == 30
    assert head.loc[("m", "steps_to_95pct"), "value"] == 4 and head.loc[("m", "steps_to_95pct"), "better"] == "lower"
    assert pd.isna(head.loc[("other", "exercise_accuracy"), "value"])
    assert head.loc[("other", "exercise_accuracy"), "note"]
    for draw, name in ((train_val_curves_figure, "curves"), (lr_schedules_figure, "lr")):
        draw(rows, out / f"{name}.pdf", out / f"{name}.png")
        assert (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF" and (out / f"{name}.png").stat().st_size > 1000
    text = summary_markdown(read_table(out / "final.csv"), read_table(out / "convergence.csv"),
                            read_table(out / "rec.csv"), tolerance=0.01, ci=0.95)
    assert text.startswith("## RQ 1.1.2:")
    assert "Recommended schedule: `sched_linear_w0`" in text
    assert "Fastest to 95% of its final validation accuracy: `sched_constant_w0` after 2 step(s)" in text
    assert "| sched_cosine_w0.05 (= baseline) |" in text
    assert "better: sched_constant_w0, sched_constant_w0.1, sched_linear_w0; worse: none" in text  # not baseline
    assert headline_rows(rec.iloc[0:0], ["m"])[0]["value"] is None


def test_missing_per_sample_scores_name_the_file(made):
    root, rows = made
    (root / "sched_linear_w0" / "clean.jsonl").unlink()
    with pytest.raises(RecordError, match=r"sched_linear_w0/clean.json.*per-sample"):
        final_accuracy_frame(rows, n_boot=10)


# -- the workflow --------------------------------------------------------------------------------------------

def test_reduced_workflow(tmp_path):
    from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config

    cfg = reduced_demo_config()  # baseline: LoRA, cosine, 2 steps, eval every step
    cfg["train"]["baseline"].update(scheduler="cosine", warmup_ratio=0.5)
    cfg["questions"] = {"rq1_1_2": {"enabled": True, "schedulers": ["constant", "cosine"],
                                    "warmup_ratios": [0, 0.5], "eval_every_steps": 1}}
    cfg["infer"]["controls"] = []
    configfile = write_config(tmp_path / "config.yaml", cfg)
    # the LR figure needs only the training logs: no inference, no scoring, no tables
    jobs = planned_jobs(tmp_path, configfile, targets=("results/figures/rq1_1_2/lr_schedules.png",))
    assert jobs["train_lora"] == 3  # baseline (= cosine w0.5), constant (both ratios), cosine w0
    assert set(jobs) <= {"train_lora", "rq1_1_2_lr_schedules", "data_synth", "data_prepare", "models_tiny"}, jobs

    run_workflow(tmp_path, configfile, targets=("rq1_1_2",))
    model = next(iter(cfg["models"]))
    assert sorted(p.name for p in (tmp_path / "results" / "runs" / model).iterdir()) == [
        "baseline", "sched_constant_w0", "sched_cosine_w0"]
    tables, figures = tmp_path / "results" / "tables" / "rq1_1_2", tmp_path / "results" / "figures" / "rq1_1_2"
    for name in ("convergence", "final_accuracy", "recommended_schedule"):
        assert (tables / f"{name}.csv").stat().st_size > 0 and (tables / f"{name}.tex").stat().st_size > 0
    for name in ("train_val_curves", "lr_schedules"):
        assert (figures / f"{name}.pdf").stat().st_size > 0 and (figures / f"{name}.png").stat().st_size > 0
    conv = read_table(tables / "convergence.csv").set_index("run")
    assert (conv["eval_points"] == 2).all() and conv.loc["sched_cosine_w0.5", "shared_with"] == "baseline"
    final = read_table(tables / "final_accuracy.csv")
    assert final["n"].notna().all() and final["acc_diff_n"].notna().all() and len(final) == 4
    head = read_headlines([tables / "headline.csv"])
    assert set(head["measure"]) == {"exercise_accuracy", "steps_to_95pct"}
    summary = (tmp_path / "results" / "summary" / "rq1_1_2.md").read_text()
    assert summary.startswith("## RQ 1.1.2:") and "Recommended schedule:" in summary
