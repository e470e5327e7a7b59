"""RQ1.1.3: the data-size analysis on known numbers, its outputs, and a reduced workflow run."""
import math

import pandas as pd
import pytest

from qvedbench.analysis.data_size import (curve_frame, display_size_frame, gains, headline_rows, load_entries,
                                          metrics_vs_size_figure, per_exercise_figure, per_exercise_frame,
                                          read_table, samples_needed, size_frame, summary_markdown, write_table)
from qvedbench.io import RecordError, write_json
from qvedbench.report.headline import headline_frame


def write_run(root, name, accuracy, examples, *, rouge=0.5, seed=0, failures=0):
    low, high = (None, None) if accuracy is None else (accuracy - 0.05, accuracy + 0.05)
    scores = {"model": "m", "run": name, "variant": "clean", "n": 60,
              "metrics": {"exercise_accuracy": {"mean": accuracy, "ci_low": low, "ci_high": high,
                                                "n": 60 - failures, "failures": failures},
                          "rouge_l": {"mean": rouge, "ci_low": rouge - 0.1, "ci_high": rouge + 0.1, "n": 60,
                                      "failures": 0}},
              "per_class": {"squat": {"n": 30, "accuracy": accuracy, "ci_low": 0.0, "ci_high": 1.0},
                            "lunge": {"n": 30, "accuracy": 0.5, "ci_low": 0.3, "ci_high": 0.7}}}
    write_json(root / name / "clean.json", scores)
    write_json(root / name / "train_stats.json",
               {"train_examples": examples, "train_class_counts": {"squat": examples // 2, "lunge": examples // 2}})
    return {"model": "m", "run": name, "group": name.split("_s")[0], "canonical": name,
            "fraction": examples / 400, "settings": {"seed": seed},
            "stats": str(root / name / "train_stats.json"), "scores": str(root / name / "clean.json")}


def known_rows(root):
    # accuracy 0.40 at 100 clips, 0.70 at 200, 0.90 at 300, 1.00 at 400
    return [write_run(root, f"data{p}", acc, 4 * p) for p, acc in ((25, 0.4), (50, 0.7), (75, 0.9), (100, 1.0))]


def test_samples_needed_interpolates_linearly_and_gains_per_100(tmp_path):
    frame = size_frame(load_entries(known_rows(tmp_path)))
    assert frame["train_examples"].tolist() == [100, 200, 300, 400]
    needed = samples_needed(frame, [0.9, 0.95, 0.3]).set_index("target")
    assert needed.loc[0.9, "samples_needed"] == pytest.approx(300)  # 0.9 x 1.0 reached exactly at 300
    assert needed.loc[0.95, "samples_needed"] == pytest.approx(350)  # halfway between 0.90 (300) and 1.00 (400)
    assert needed.loc[0.95, "lower_examples"] == 300 and needed.loc[0.95, "upper_examples"] == 400
    assert needed.loc[0.3, "samples_needed"] == 100 and "upper bound" in needed.loc[0.3, "note"]
    gain = gains(frame)
    assert gain["gain_per_100"].tolist() == pytest.approx([0.3, 0.2, 0.1])
    assert gain["to_examples"].tolist() == [200, 300, 400]


def test_seeds_are_averaged_and_unscored_sizes_skipped(tmp_path):
    rows = [write_run(tmp_path, "data50", 0.6, 200), write_run(tmp_path, "data50_s2", 0.8, 200, seed=2),
            write_run(tmp_path, "data100", 0.9, 400), write_run(tmp_path, "data25", None, 100, failures=60)]
    frame = size_frame(load_entries(rows))
    assert frame["exercise_accuracy_failures"].tolist()[0] == 60 and math.isnan(frame["exercise_accuracy"][0])
    curve = curve_frame(frame).set_index("fraction")
    assert curve.loc[0.5, "mean"] == pytest.approx(0.7) and curve.loc[0.5, "seeds"] == 2
    assert curve.loc[0.5, "std"] == pytest.approx(0.2 / 2**0.5) and math.isnan(curve.loc[0.5, "ci_low"])
    assert curve.loc[1.0, "ci_low"] == pytest.approx(0.85)  # one seed: its bootstrap CI
    needed = samples_needed(frame, [0.9]).iloc[0]
    # max 0.9 at 400; threshold 0.81 between 0.7 (200) and 0.9 (400): 200 + 0.11/0.2 * 200
    assert needed["samples_needed"] == pytest.approx(310) and needed["sizes_scored"] == 2
    assert gains(frame)["from_examples"].tolist() == [200]  # the unscored size is not a point of the curve


def test_missing_train_examples_names_file_and_field(tmp_path):
    row = write_run(tmp_path, "data50", 0.5, 200)
    write_json(tmp_path / "data50" / "train_stats.json", {"steps": 2})
    with pytest.raises(RecordError, match=r"data50/train_stats.json, field 'train_examples'"):
        load_entries([row])


def test_tables_figures_headline_and_summary(tmp_path):
    entries = load_entries(known_rows(tmp_path))
    frame, per_exercise = size_frame(entries), per_exercise_frame(entries)
    out = tmp_path / "out"
    write_table(frame, display_size_frame(frame), out / "size.csv", out / "size.tex")
    write_table(per_exercise, per_exercise, out / "ex.csv", out / "ex.tex")
    back, ex_back = read_table(out / "size.csv"), read_table(out / "ex.csv")
    assert back["shared_with"].tolist() == ["", "", "", ""]
    assert set(ex_back["exercise"]) == {"squat", "lunge"} and ex_back["train_clips"].max() == 200
    assert "ROUGE-L F1" in (out / "size.tex").read_text()
    metrics_vs_size_figure(back, out / "m.pdf", out / "m.png")
    per_exercise_figure(ex_back, out / "e.pdf", out / "e.png")
    for name in ("m", "e"):
        assert (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF" and (out / f"{name}.png").stat().st_size > 1000
    needed, gain = samples_needed(back, [0.9, 0.95]), gains(back)
    headline = headline_frame(headline_rows(needed, gain, back)).set_index("measure")
    assert headline.loc["samples_for_95pct_max_accuracy", "value"] == pytest.approx(350)
    assert headline.loc["accuracy_gain_per_100_samples", "value"] == pytest.approx(0.1)
    text = summary_markdown(back, needed, gain, ci=0.95)
    assert text.startswith("## RQ 1.1.3:")
    assert "from 40.0% with 100 training clips to 100.0% with 400" in text
    assert "about 350 training clips" in text and "+10.0 points per 100 clips" in text


def test_headline_without_scores_says_why(tmp_path):
    frame = size_frame(load_entries([write_run(tmp_path, "data100", None, 400, failures=60)]))
    rows = headline_rows(samples_needed(frame, [0.9]), gains(frame), frame)
    assert all(r.get("note") for r in rows) and headline_frame(rows)["value"].isna().all()


def test_reduced_workflow(tmp_path):
    from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config

    cfg = reduced_demo_config()
    cfg["questions"] = {"rq1_1_3": {"enabled": True, "fractions": [0.5, 1.0]}}
    cfg["infer"]["controls"] = []
    configfile = write_config(tmp_path / "config.yaml", cfg)
    figure = "results/figures/rq1_1_3/metrics_vs_size.png"
    jobs = planned_jobs(tmp_path, configfile, targets=(figure,))
    # data100 is the baseline: two trainings, one subset file
    assert jobs["train_lora"] == 2 and jobs["data_subset"] == 1 and jobs["evaluate_score"] == 2
    assert "rq1_1_3_summary" not in jobs and "data_variant" not in jobs

    run_workflow(tmp_path, configfile, targets=("rq1_1_3",))
    results = tmp_path / "results"
    model = next(iter(cfg["models"]))
    assert sorted(p.name for p in (results / "runs" / model).iterdir()) == ["baseline", "data50"]
    table = read_table(results / "tables" / "rq1_1_3" / "size_curve.csv").set_index("run")
    assert table.loc["data100", "shared_with"] == "baseline"
    assert table.loc["data50", "train_examples"] < table.loc["data100", "train_examples"]
    manifest = pd.read_json(results / "data" / "subsets" / "frac50.json", typ="series")
    assert manifest["n"] == table.loc["data50", "train_examples"] and manifest["chain"] == [0.5]
    for name in ("metrics_vs_size", "per_exercise_vs_size"):
        for ext in ("pdf", "png"):
            assert (results / "figures" / "rq1_1_3" / f"{name}.{ext}").stat().st_size > 0
    for name in ("size_curve", "per_exercise", "samples_needed", "gains"):
        assert (results / "tables" / "rq1_1_3" / f"{name}.tex").stat().st_size > 0
    headline = pd.read_csv(results / "tables" / "rq1_1_3" / "headline.csv")
    assert "samples_for_95pct_max_accuracy" in set(headline["measure"])
    assert (results / "summary" / "rq1_1_3.md").read_text().startswith("## RQ 1.1.3:")


def test_real_config_plans_three_subsets_and_reuses_the_baseline(tmp_path):
    """config/config.yaml's RQ1.1.3 (25/50/75/100%): data100 is the baseline; three subset files serve all models."""
    import yaml

    from qvedbench.synth import generate_dataset
    from workflow_helpers import REPO, planned_jobs, write_config

    data = tmp_path / "qved"
    generate_dataset(data, clips_per_class=2, size=32, fps=4, seconds=1.0, workers=1)
    cfg = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    cfg["dataset"].update(annotations=[str(data / "annotations.json")], ground_truth=str(data / "ground_truth.json"),
                          video_root=str(data / "videos"))
    cfg["questions"] = {"rq1_1_3": cfg["questions"]["rq1_1_3"]}
    assert cfg["questions"]["rq1_1_3"]["enabled"]
    jobs = planned_jobs(tmp_path, write_config(tmp_path / "config.yaml", cfg), targets=("rq1_1_3",))
    n_models = len(cfg["models"])
    assert jobs["data_subset"] == 3 and jobs["train_lora"] == n_models * 4  # baseline + data25/50/75
    assert jobs["evaluate_score"] == n_models * 4
