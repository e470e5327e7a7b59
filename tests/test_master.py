"""Master comparison, recommendation matrix, tests across models and the deliverables in RESULTS_SUMMARY.md."""
import numpy as np
import pandas as pd
import pytest

from qvedbench.io import write_json, write_jsonl
from qvedbench.report.headline import read_headlines, write_headline
from qvedbench.report.master import (baseline_headline_rows, master_frame, markdown_table, model_tests_frame,
                                     write_master_table)
from qvedbench.report.recommend import recommend, write_recommendations
from qvedbench.report.summary import write_results_summary


def h(question, model, measure, value, lo=None, hi=None, *, better="higher", n=None, failed=None, note="",
      detail=""):
    return {"question": question, "model": model, "measure": measure, "value": value, "ci_low": lo, "ci_high": hi,
            "n": n, "failed": failed, "better": better, "note": note, "detail": detail}


@pytest.fixture()
def headlines(tmp_path):
    baseline = tmp_path / "tables" / "baseline" / "headline.csv"
    write_headline(baseline, [
        h("baseline", "alpha", "exercise_accuracy", 0.90, 0.85, 0.95, n=60, failed=0),
        h("baseline", "beta", "exercise_accuracy", 0.80, 0.70, 0.88, n=59, failed=1),
        h("baseline", "gamma", "exercise_accuracy", 0.70, 0.60, 0.79, n=60, failed=0),
        h("baseline", "alpha", "train_wall_time_s", 120.0, better="lower"),
        h("baseline", "beta", "train_wall_time_s", 90.0, better="lower"),
    ])
    latency = tmp_path / "tables" / "rq3_1_1" / "headline.csv"
    write_headline(latency, [
        h("rq3_1_1", "alpha", "latency_p50_ms", 50.0, 45.0, 55.0, better="lower", n=30, failed=0),
        h("rq3_1_1", "beta", "latency_p50_ms", 52.0, 48.0, 58.0, better="lower", n=30, failed=0),
        h("rq3_1_1", "gamma", "latency_p50_ms", None, better="lower", note="out of memory"),
    ])
    judge = tmp_path / "tables" / "rq5_2_1" / "headline.csv"
    write_headline(judge, [h("rq5_2_1", "alpha", "judge_overall", None, note="judge failed on every sample",
                             n=0, failed=20)])
    return [baseline, latency, judge]


def test_master_table_all_models_by_measure_with_missing_cells(headlines, tmp_path):
    frame = write_master_table(headlines, tmp_path / "m.csv", tmp_path / "m.tex")
    assert list(frame[["question", "measure"]].itertuples(index=False, name=None)) == [
        ("baseline", "exercise_accuracy"), ("baseline", "train_wall_time_s"), ("rq3_1_1", "latency_p50_ms"),
        ("rq5_2_1", "judge_overall")]
    row = frame.set_index("measure").loc["exercise_accuracy"]
    assert row["alpha"] == 0.9 and row["beta_failed"] == 1 and row["gamma_ci_high"] == 0.79
    assert frame.set_index("measure").loc["train_wall_time_s", "gamma_note"] == "not run"
    assert frame.set_index("measure").loc["latency_p50_ms", "gamma_note"] == "out of memory"
    tex = (tmp_path / "m.tex").read_text()
    assert "0.900 [0.850, 0.950] (n=60, failed 0)" in tex and "n/a (out of memory)" in tex
    assert "n/a (not run)" in tex and "\\begin{tabular}" in tex
    again = pd.read_csv(tmp_path / "m.csv")
    assert set(again.columns) >= {"alpha", "alpha_ci_low", "beta_n", "gamma_note"}


def test_master_of_no_headlines_is_empty():
    assert master_frame(read_headlines([])).empty


def test_recommendations_best_runner_up_overlap_and_missing(headlines, tmp_path):
    cases = {
        "best exercise identification": {"question": "baseline", "measure": "exercise_accuracy", "direction": "higher"},
        "lowest latency": {"question": "rq3_1_1", "measure": "latency_p50_ms", "direction": "lower"},
        "cheapest to fine-tune": {"question": "baseline", "measure": "train_wall_time_s", "direction": "lower"},
        "best feedback quality (judge)": {"question": "rq5_2_1", "measure": "judge_overall", "direction": "higher"},
        "best form-error detection": {"question": "rq2_1_1", "measure": "error_detection_f1", "direction": "higher"},
        "lowest memory": {"question": "rq3_1_1", "measure": "peak_memory_mb", "direction": "lower"},
    }
    frame = write_recommendations(headlines, cases, tmp_path / "r.csv", tmp_path / "r.tex").set_index("use_case")
    ex = frame.loc["best exercise identification"]
    assert (ex["best_model"], ex["runner_up"], ex["ci_overlap"], ex["status"]) == ("alpha", "beta", "yes", "ok")
    assert ex["models_compared"] == 3 and "the CIs overlap, so the lead is not clear" in ex["verdict"]
    lat = frame.loc["lowest latency"]
    assert lat["best_model"] == "alpha" and lat["ci_overlap"] == "yes"
    assert lat["models_without_value"] == "gamma (out of memory)"
    cheap = frame.loc["cheapest to fine-tune"]
    assert cheap["best_model"] == "beta" and cheap["ci_overlap"] == "unknown (no CI)"
    assert frame.loc["best feedback quality (judge)", "status"] == "no value"
    assert frame.loc["best form-error detection", "status"] == "not run"
    assert "did not run" in frame.loc["best form-error detection", "verdict"]
    assert frame.loc["lowest memory", "status"] == "no value"
    assert "not measured" in frame.loc["lowest memory", "verdict"]
    assert list(frame.index) == list(cases)  # config order
    assert "beta" in (tmp_path / "r.tex").read_text()


def test_recommendation_clear_lead_and_bad_use_case(headlines):
    frame = read_headlines(headlines)
    frame.loc[frame["model"] == "beta", ["ci_low", "ci_high"]] = [0.5, 0.6]
    out = recommend(frame, {"x": {"question": "baseline", "measure": "exercise_accuracy", "direction": "higher"}})
    assert out.loc[0, "ci_overlap"] == "no" and "the CIs do not overlap" in out.loc[0, "verdict"]
    with pytest.raises(ValueError, match="use_cases.x.*direction"):
        recommend(frame, {"x": {"question": "baseline", "measure": "exercise_accuracy", "direction": "up"}})
    with pytest.raises(ValueError, match="use_cases.y.*measure"):
        recommend(frame, {"y": {"question": "baseline", "direction": "up"}})


def _scores(root, model, run, correct, bert, failed_ids=()):
    ids = [f"c{i}" for i in range(len(correct))]
    rows = [{"id": i, "exercise": "squat", "exercise_correct": None if i in failed_ids else c,
             "bertscore_f1": None if i in failed_ids else b, "rouge_l": 0.5, "meteor": 0.5, "embedding_cosine": 0.5}
            for i, c, b in zip(ids, correct, bert)]
    base = root / "scores" / model / run / "clean"
    write_jsonl(base.with_suffix(".jsonl"), rows)
    valid = [r["exercise_correct"] for r in rows if r["exercise_correct"] is not None]
    acc = float(np.mean(valid))
    metric = {"mean": acc, "ci_low": acc - 0.1, "ci_high": acc + 0.1, "n": len(valid), "failures": len(failed_ids)}
    write_json(base.with_suffix(".json"), {
        "model": model, "run": run, "variant": "clean", "n": len(rows),
        "metrics": {"exercise_accuracy": metric, "bertscore_f1": dict(metric, mean=0.8)},
        "config": {"bootstrap": 200, "ci": 0.95, "seed": 0}})
    return base.with_suffix(".json")


def test_model_tests_and_baseline_headline_from_score_files(tmp_path):
    rng = np.random.default_rng(0)
    files = [
        _scores(tmp_path, "alpha", "baseline", [1] * 25 + [0] * 5, rng.uniform(0.7, 0.9, 30), failed_ids=("c3",)),
        _scores(tmp_path, "beta", "baseline", [1] * 10 + [0] * 20, rng.uniform(0.5, 0.7, 30)),
        _scores(tmp_path, "alpha", "base", [0] * 30, rng.uniform(0.1, 0.2, 30)),
    ]
    frame = model_tests_frame(files, metrics=("exercise_accuracy", "bertscore_f1", "rouge_l")).set_index("metric")
    acc = frame.loc["exercise_accuracy"]
    assert acc["test"] == "McNemar (exact)" and acc["n"] == 29 and acc["dropped"] == 1 and acc["differ"] == "yes"
    assert frame.loc["bertscore_f1", "test"] in ("paired t-test", "Wilcoxon signed-rank")
    assert frame.loc["rouge_l", "test"] == "none" and "all zero" in frame.loc["rouge_l", "reason"]
    one = model_tests_frame(files[:1])
    assert (one["test"] == "none").all() and "at least two" in one.loc[0, "reason"]

    stats = tmp_path / "train_stats.json"
    write_json(stats, {"wall_time_s": 61.5, "peak_memory_mb": 900.0, "device": "cpu", "precision": "fp32"})
    rows = pd.DataFrame(baseline_headline_rows(files, {"alpha": stats}))
    assert set(rows["question"]) == {"base", "baseline"}
    acc_rows = rows[(rows["measure"] == "exercise_accuracy") & (rows["question"] == "baseline")]
    assert sorted(acc_rows["model"]) == ["alpha", "beta"]
    meteor = rows[(rows["measure"] == "meteor")]
    assert (meteor["note"] == "not computed").all() and meteor["value"].isna().all()
    cost = rows[rows["measure"].str.startswith("train") | (rows["measure"] == "trainable_params")]
    assert cost.set_index("measure").loc["train_wall_time_s", "value"] == 61.5
    assert "missing" in cost.set_index("measure").loc["trainable_params", "note"]
    write_headline(tmp_path / "headline.csv", rows.to_dict("records"))  # valid against the headline contract


def test_summary_gains_master_recommendations_tests_and_figure_links(headlines, tmp_path):
    master = tmp_path / "tables" / "master"
    write_master_table(headlines, master / "comparison.csv", master / "comparison.tex")
    write_recommendations(headlines, {"best exercise identification": {
        "question": "baseline", "measure": "exercise_accuracy", "direction": "higher"}},
        master / "recommendations.csv", master / "recommendations.tex")
    files = [_scores(tmp_path, "alpha", "baseline", [1, 0, 1, 1], [0.8, 0.7, 0.9, 0.6]),
             _scores(tmp_path, "beta", "baseline", [0, 0, 1, 0], [0.5, 0.6, 0.4, 0.3])]
    model_tests_frame(files).to_csv(master / "model_tests.csv", index=False)
    with_tests = write_master_table(headlines, master / "comparison.csv", master / "comparison.tex",
                                    model_tests=master / "model_tests.csv").set_index("measure")
    assert with_tests.loc["exercise_accuracy", "models_differ"].startswith(("yes (McNemar", "no (McNemar"))
    assert with_tests.loc["latency_p50_ms", "models_differ"] == ""
    assert "models\\_differ" in (master / "comparison.tex").read_text()
    figures = [tmp_path / "figures" / "rq3_1_1" / "latency_violin.pdf",
               tmp_path / "figures" / "rq3_1_1" / "latency_violin.png",
               tmp_path / "figures" / "base_vs_baseline.pdf"]
    out = tmp_path / "RESULTS_SUMMARY.md"
    text = write_results_summary(files, out, figures=figures, master={
        "comparison": master / "comparison.csv", "recommendations": master / "recommendations.csv",
        "model_tests": master / "model_tests.csv"})
    assert "## Master comparison" in text and "## Recommendation matrix" in text and "## Tests across models" in text
    assert "| baseline | exercise_accuracy | higher | 0.900 [0.850, 0.950] (n=60, failed 0)" in text
    assert "n/a (out of memory)" in text and "| best exercise identification |" in text
    assert "McNemar (exact)" in text and "| models_differ |" in text
    assert "- latency_violin: [latency_violin.pdf](figures/rq3_1_1/latency_violin.pdf), " \
           "[latency_violin.png](figures/rq3_1_1/latency_violin.png)" in text
    assert "### rq3_1_1" in text and "[base_vs_baseline.pdf](figures/base_vs_baseline.pdf)" in text


def test_markdown_table_escapes_pipes():
    text = markdown_table(pd.DataFrame({"a": ["x|y"], "b": [None]}))
    assert text.splitlines()[2] == "| x\\|y |  |"


# -- headline rows of the existing questions ------------------------------------------------------------------
def _valid(rows):
    """Rows pass the headline contract (raises otherwise) and come back as a frame."""
    from qvedbench.report.headline import headline_frame

    return headline_frame(rows).set_index(["model", "measure"])


def test_efficiency_headlines():
    from qvedbench.analysis.efficiency import (batch_choice_frame, batch_frame, latency_frame, memory_frame,
                                               rq3_1_1_headline, rq3_1_2_headline)
    from test_rq3_1 import make_profile

    profiles = [make_profile("a", per_call_s=0.1, peak_mb=800), make_profile("b", per_call_s=None, peak_mb=900)]
    rows = _valid(rq3_1_1_headline(latency_frame(profiles), memory_frame(profiles)))
    lat = rows.loc[("a", "latency_per_sample_ms")]
    assert lat["value"] == pytest.approx(100.0) and lat["ci_low"] <= 100.0 <= lat["ci_high"] and lat["n"] == 4
    assert pd.isna(rows.loc[("b", "latency_per_sample_ms"), "value"])
    assert "oom" in rows.loc[("b", "latency_per_sample_ms"), "note"]
    assert rows.loc[("a", "peak_memory_mb"), "value"] == 800
    batch = batch_frame([make_profile("a", 1, 0.1), make_profile("a", 2, 0.15), make_profile("a", 4, None)])
    rows = _valid(rq3_1_2_headline(batch_choice_frame(batch)))
    assert rows.loc[("a", "max_throughput_samples_per_s"), "detail"] == "batch 2"
    assert rows.loc[("a", "largest_batch_before_oom"), "value"] == 2


def test_robustness_training_temporal_headlines():
    from qvedbench.analysis.robustness import headline_rows as robustness_rows
    from qvedbench.analysis.temporal import headline_rows as temporal_rows
    from qvedbench.analysis.training import headline_rows as training_rows

    frame = pd.DataFrame({"model": ["a", "a", "a", "b"], "run": ["baseline", "baseline", "other", "lora"],
                          "robustness": [0.8, None, 0.1, 0.9], "drop": [-0.1, None, -0.5, -0.05]})
    rows = _valid(robustness_rows(frame))
    a = rows.loc[("a", "mean_robustness")]
    assert a["value"] == pytest.approx(0.8) and (a["n"], a["failed"]) == (1, 1) and "run baseline" in a["detail"]
    assert rows.loc[("b", "mean_accuracy_drop"), "value"] == pytest.approx(-0.05)  # its only run
    undefined = pd.DataFrame({"model": ["c"], "run": ["baseline"], "robustness": [None], "drop": [-0.2]})
    rows = _valid(robustness_rows(undefined))
    assert "clean accuracy 0" in rows.loc[("c", "mean_robustness"), "note"]
    assert rows.loc[("c", "mean_accuracy_drop"), "value"] == pytest.approx(-0.2)
    recommended = pd.DataFrame([{"model": "a", "recommended_rank": 16, "recommended_run": "lora_r16",
                                 "accuracy": 0.8, "best_rank": 64, "best_run": "baseline", "best_accuracy": 0.82,
                                 "tolerance": 0.05, "ranks_compared": 3}])
    rows = _valid(training_rows(recommended))
    assert rows.loc[("a", "recommended_lora_rank"), "value"] == 16
    assert rows.loc[("a", "recommended_lora_rank"), "better"] == "none"
    minimum = pd.DataFrame([{"model": "a", "run": "baseline", "tolerance": 0.02, "best_frames": 16, "best_stride": 1,
                             "best_accuracy": 0.9, "min_frames": 4, "min_frames_stride": 2, "min_accuracy": 0.89}])
    rows = _valid(temporal_rows(minimum))
    assert rows.loc[("a", "min_frames_within_tolerance"), "value"] == 4
    assert rows.loc[("a", "best_temporal_accuracy"), "value"] == 0.9


def test_form_error_and_judge_headlines():
    from qvedbench.analysis.form_errors import MICRO
    from qvedbench.analysis.form_errors import headline_rows as form_rows
    from qvedbench.analysis.judge import headline_rows as judge_rows

    analysis = {"metrics": [
        {"model": "a", "run": "baseline", "error": MICRO, "n": 10, "failures": 1, "f1": 0.5, "f1_ci_low": 0.3,
         "f1_ci_high": 0.7},
        {"model": "a", "run": "baseline", "error": "knee_valgus", "n": 10, "failures": 1, "f1": 0.9},
        {"model": "b", "run": "base", "error": MICRO, "n": 10, "failures": 0, "f1": None}],
        "localisation": [{"model": "a", "run": "baseline", "evaluable": 0, "failures": 1, "accuracy": None,
                          "ci_low": None, "ci_high": None}]}
    rows = _valid(form_rows(analysis))
    f1 = rows.loc[("a", "error_detection_f1")]
    assert f1["value"] == 0.5 and f1["failed"] == 1
    assert pd.isna(rows.loc[("b", "error_detection_f1"), "value"])
    assert "no prediction names" in rows.loc[("a", "localisation_accuracy"), "note"]
    frame = pd.DataFrame([
        {"model": "a", "run": "baseline", "variant": "clean", "judge": "rubric", "failures": 2, "overall": 3.5,
         "overall_ci_low": 3.0, "overall_ci_high": 4.0, "overall_n": 18},
        {"model": "a", "run": "base", "variant": "clean", "judge": "rubric", "failures": 0, "overall": 2.0,
         "overall_ci_low": 1.5, "overall_ci_high": 2.5, "overall_n": 20},
        {"model": "b", "run": "baseline", "variant": "clean", "judge": "rubric", "failures": 20, "overall": None,
         "overall_ci_low": None, "overall_ci_high": None, "overall_n": 0}])
    rows = _valid(judge_rows(frame))
    assert rows.loc[("a", "judge_overall"), "value"] == 3.5 and rows.loc[("a", "judge_overall"), "n"] == 18
    assert rows.loc[("b", "judge_overall"), "note"] == "the judge scored no sample"


def test_confusion_headlines():
    from qvedbench.analysis.confusions import headline_rows as confusion_rows

    analysis = {"error_rates": {"m-1/baseline": {"squat": 0.2, "lunge": 0.5}, "m-1/base": {"squat": 0.9},
                                "k/base": {"squat": None}},
                "n": {"m-1/baseline": 20, "m-1/base": 20, "k/base": 0},
                "top_pairs": [{"label": "m-1/baseline", "actual": "lunge", "predicted": "squat", "count": 5,
                               "rate": 0.5}]}
    rows = _valid(confusion_rows(analysis))
    worst = rows.loc[("m-1", "worst_class_error_rate")]
    assert worst["value"] == 0.5 and worst["detail"] == "run baseline, class lunge" and worst["n"] == 20
    assert rows.loc[("m-1", "top_confusion_rate"), "detail"] == "run baseline, lunge -> squat (5 clips)"
    assert pd.isna(rows.loc[("k", "worst_class_error_rate"), "value"])


# -- one reduced workflow run: master table, summary links and the Snakemake report --------------------------
import subprocess  # noqa: E402

from workflow_helpers import SNAKEFILE, SNAKEMAKE, reduced_demo_config, run_workflow, write_config  # noqa: E402


@pytest.fixture(scope="module")
def reduced_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("master")
    cfg = reduced_demo_config()
    cfg["questions"] = {"rq3_1_1": dict(enabled=True, run="baseline", warmup=1, min_samples=2, min_seconds=0.0,
                                        max_new_tokens=4, sample_interval_s=0.01)}
    configfile = write_config(workdir / "config.yaml", cfg)
    run_workflow(workdir, configfile, targets=("all",))
    return workdir, configfile, next(iter(cfg["models"]))


def test_reduced_run_master_table_and_summary(reduced_run):
    workdir, _, model = reduced_run
    results = workdir / "results"
    master = pd.read_csv(results / "tables" / "master" / "comparison.csv")
    assert {"base", "baseline", "rq3_1_1"} <= set(master["question"]) and model in master.columns
    lat = master[master["measure"] == "latency_per_sample_ms"].iloc[0]
    assert lat[model] > 0 and lat["better"] == "lower"
    rec = pd.read_csv(results / "tables" / "master" / "recommendations.csv").set_index("use_case")
    assert rec.loc["lowest latency", "best_model"] == model
    assert rec.loc["best form-error detection", "status"] == "not run"
    tests = pd.read_csv(results / "tables" / "master" / "model_tests.csv")
    assert (tests["test"] == "none").all()  # one model: nothing to compare
    acc = master[(master["question"] == "baseline") & (master["measure"] == "exercise_accuracy")].iloc[0]
    assert acc["models_differ"].startswith("unknown: per-sample scores of 1 model(s)")
    summary = (results / "RESULTS_SUMMARY.md").read_text()
    for heading in ("## Master comparison", "## Recommendation matrix", "## Tests across models", "## Figures"):
        assert heading in summary
    assert "[latency_violin.pdf](figures/rq3_1_1/latency_violin.pdf)" in summary
    assert "[memory_timeline.png](figures/rq3_1_1/memory_timeline.png)" in summary
    assert "[base_vs_baseline.pdf](figures/base_vs_baseline.pdf)" in summary
    assert (results / "tables" / "baseline" / "headline.csv").is_file()


def test_reduced_run_snakemake_report_builds(reduced_run):
    workdir, configfile, _ = reduced_run
    # --cores: the profiling rules ask for all of the machine's cores, which Snakemake resolves before reporting
    cmd = [str(SNAKEMAKE), "--cores", "1", "--report", "results/report.html", "--snakefile", str(SNAKEFILE),
           "--directory", str(workdir), "--configfile", str(configfile)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = (workdir / "results" / "report.html").read_text(errors="replace")
    for name in ("comparison.csv", "recommendations.csv", "model_tests.csv", "latency_violin.pdf",
                 "base_vs_baseline.pdf", "Master comparison"):
        assert name in html
