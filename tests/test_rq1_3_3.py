"""RQ1.3.3 robustness analysis on known numbers, and a reduced workflow run of the question."""
import csv
import json

import numpy as np
import pandas as pd
import pytest

from qvedbench.analysis.robustness import (accuracy_vs_level_figure, most_robust, paired_ratio, robustness_frame,
                                           robustness_heatmap, summary_section)
from qvedbench.io import read_jsonl
from qvedbench.stats import bootstrap_ci
from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config

IDS = [f"clip{i:02d}" for i in range(20)]


def write_score_files(root, model, run, variant, outcomes, per_class=None):
    """An aggregate scores JSON (+ per-sample JSONL) whose exercise accuracy comes from ``outcomes``
    (id -> 1, 0 or None)."""
    folder = root / model / run
    folder.mkdir(parents=True, exist_ok=True)
    rows = [{"id": i, "exercise": "squats", "exercise_correct": v} for i, v in outcomes.items()]
    (folder / f"{variant}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    accuracy = bootstrap_ci(list(outcomes.values()), n_boot=300, seed=1)
    scores = {"model": model, "run": run, "variant": variant, "n": len(rows),
              "metrics": {"exercise_accuracy": accuracy}, "per_class": per_class or {},
              "config": {"bootstrap": 300, "ci": 0.95, "seed": 1}}
    path = folder / f"{variant}.json"
    path.write_text(json.dumps(scores))
    return path


def first(k):
    """Outcomes: the first ``k`` clips right, the rest wrong."""
    return {i: int(n < k) for n, i in enumerate(IDS)}


@pytest.fixture
def known(tmp_path):
    return [
        write_score_files(tmp_path, "a", "baseline", "clean", first(20)),
        write_score_files(tmp_path, "a", "baseline", "blur_7", first(10)),
        write_score_files(tmp_path, "a", "baseline", "occl_black_20", {**first(20), IDS[0]: None}),
        write_score_files(tmp_path, "b", "baseline", "clean", first(10)),
        write_score_files(tmp_path, "b", "baseline", "blur_7", first(10)),
        write_score_files(tmp_path, "b", "baseline", "occl_black_20", first(5)),
        write_score_files(tmp_path, "b", "baseline", "swapped", first(0)),  # not a degradation: ignored
    ]


def test_paired_ratio_on_known_numbers():
    clean = {i: 1 for i in IDS[:10]} | {i: 0 for i in IDS[10:]}
    degraded = {i: int(n < 5) for n, i in enumerate(IDS)} | {IDS[19]: None}
    out = paired_ratio(degraded, clean, n_boot=500, seed=0)
    assert out["ratio"] == pytest.approx(0.5) and out["n"] == 19 and out["failures"] == 1
    assert out["ci_low"] < 0.5 < out["ci_high"] <= 1.0
    assert paired_ratio(degraded, clean, n_boot=500, seed=0) == out
    zero = paired_ratio(clean, {i: 0 for i in IDS})
    assert zero["ratio"] is None and zero["n"] == 20


def test_robustness_frame_on_known_numbers(known):
    frame = robustness_frame(known)
    assert list(frame["variant"]) == ["blur_7", "occl_black_20", "blur_7", "occl_black_20"]
    row = frame.set_index(["model", "variant"])
    assert row.loc[("a", "blur_7"), "robustness"] == pytest.approx(0.5)
    assert row.loc[("a", "blur_7"), "drop"] == pytest.approx(-0.5)
    assert row.loc[("a", "blur_7"), "drop_ci_high"] < 0
    # the unscored clip is a failure on the degraded side and left out of the pairing, not imputed
    assert row.loc[("a", "occl_black_20"), ["failures", "paired_n", "paired_failures"]].tolist() == [1, 19, 1]
    assert row.loc[("a", "occl_black_20"), "robustness"] == pytest.approx(1.0)
    assert row.loc[("b", "blur_7"), "robustness"] == pytest.approx(1.0)
    assert row.loc[("b", "occl_black_20"), "robustness"] == pytest.approx(0.5)
    assert row.loc[("b", "occl_black_20"), "clean_accuracy"] == pytest.approx(0.5)


def test_most_robust_and_summary(known, tmp_path):
    frame = robustness_frame(known)
    ranking = most_robust(frame)
    assert ranking["mean_robustness"].tolist() == pytest.approx([0.75, 0.75])
    assert set(ranking["worst_type"]) == {"blur", "occl_black"}
    frame.loc[frame["model"] == "b", "robustness"] = [1.0, 0.9]
    ranking = most_robust(frame)
    assert ranking.iloc[0]["model"] == "b" and ranking.iloc[0]["rank"] == 1
    text = summary_section(frame, [tmp_path / "results" / "figures" / "x.png"], relative_to=tmp_path / "results")
    assert text.startswith("## RQ 1.3.3:")
    assert "most robust model is **b**" in text and "[x.png](figures/x.png)" in text
    assert "| a | baseline | occl_black_20 | 1.000 [1.000, 1.000] | 1 |" in text


def test_missing_clean_scores_is_an_error(tmp_path):
    path = write_score_files(tmp_path, "a", "baseline", "crf_40", first(3))
    with pytest.raises(ValueError, match="no clean scores for model 'a'"):
        robustness_frame([path])


def test_figures_from_the_csv_round_trip(known, tmp_path):
    frame = robustness_frame(known)
    frame.to_csv(tmp_path / "r.csv", index=False)
    again = pd.read_csv(tmp_path / "r.csv")
    accuracy_vs_level_figure(again, tmp_path / "a.pdf", tmp_path / "a.png")
    robustness_heatmap(again, tmp_path / "h.pdf", tmp_path / "h.png")
    for name in ("a.pdf", "a.png", "h.pdf", "h.png"):
        assert (tmp_path / name).stat().st_size > 1000


# -- reduced workflow -------------------------------------------------------------------------------------------

# Two degradations keep the run short: compression (encoded at its own crf) and occlusion (the path every other
# degradation shares: frames degraded, then re-encoded losslessly).
RQ = {"enabled": True, "blur": [], "crf": [45], "lighting": [], "occlusion": [30], "occlusion_fills": ["noise"]}


@pytest.fixture(scope="module")
def rq_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rq1_3_3")
    config = reduced_demo_config()
    config["questions"] = {"rq1_3_3": RQ}
    configfile = write_config(workdir / "config.yaml", config)
    run_workflow(workdir, configfile, targets=("rq1_3_3",))
    return workdir, configfile, config


def test_reduced_workflow_outputs(rq_run):
    workdir, _, config = rq_run
    model = next(iter(config["models"]))
    res = workdir / "results"
    test = read_jsonl(res / "data" / "test.jsonl")
    for variant in ("crf_45", "occl_noise_30"):
        records = read_jsonl(res / "data" / "variants" / f"{variant}.jsonl")
        assert [r["id"] for r in records] == [r["id"] for r in test]
        assert all(r["video"].startswith(f"results/data/variants/{variant}/") for r in records)
        scores = json.loads((res / "scores" / model / "baseline" / f"{variant}.json").read_text())
        assert scores["n"] == len(test)
    rows = list(csv.DictReader(open(res / "tables" / "rq1_3_3" / "robustness.csv")))
    assert sorted(r["variant"] for r in rows) == ["crf_45", "occl_noise_30"]
    assert all(r["model"] == model and r["run"] == "baseline" for r in rows)
    for name in ("accuracy_vs_level", "robustness_heatmap"):
        for ext in ("pdf", "png"):
            assert (res / "figures" / "rq1_3_3" / f"{name}.{ext}").stat().st_size > 1000
    summary = (res / "summary" / "rq1_3_3.md").read_text()
    assert summary.startswith("## RQ 1.3.3:") and model in summary and "occl_noise_30" in summary
    assert "(figures/rq1_3_3/robustness_heatmap.png)" in summary


def test_one_figure_plans_only_what_it_needs(rq_run, tmp_path):
    workdir, _, config = rq_run
    config = {**config, "questions": {"rq1_3_3": {**RQ, "lighting": [-60]}}}
    configfile = write_config(tmp_path / "more.yaml", config)
    jobs = planned_jobs(workdir, configfile, targets=("results/figures/rq1_3_3/robustness_heatmap.pdf",))
    # one new level: its copies once, one prediction and scoring per model and run, the table and this figure
    assert jobs == {"rq1_3_3_degrade": 1, "infer_generate": 1, "evaluate_score": 1, "rq1_3_3_table": 1,
                    "rq1_3_3_robustness_heatmap_figure": 1}
