"""RQ4.1.2 rules on hand-made scores (no model): confusion tables, figures, summary, and planning of one figure."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis_fixtures import run_rules, write_inputs
from workflow_helpers import planned_jobs

RULES = ["rq4_1_2_tables", "rq4_1_2_confusion_figure", "rq4_1_2_training_figure", "rq4_1_2_summary", "rq4_1_2"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rq4_1_2")
    config, model = write_inputs(workdir, {"rq4_1_2": {"enabled": True, "top_pairs": 3}})
    plan = planned_jobs(workdir, config, "--allowed-rules", *RULES,
                        targets=("results/figures/rq4_1_2/accuracy_vs_training.pdf",))
    assert plan == {"rq4_1_2_tables": 1, "rq4_1_2_training_figure": 1}
    run_rules(workdir, config, ["rq4_1_2"], RULES)
    return workdir, model


def test_tables(workdir):
    workdir, model = workdir
    tables = workdir / "results/tables/rq4_1_2"
    pairs = pd.read_csv(tables / "most_confused_pairs.csv")
    base = pairs[pairs.label == f"{model}/base"]
    assert set(zip(base.actual, base.predicted, base["count"])) == {("squats", "lunges", 3), ("lunges", "squats", 3)}
    baseline = pairs[pairs.label == f"{model}/baseline"]
    assert list(zip(baseline.actual, baseline.predicted)) == [("bicep curls", "shoulder press")]
    rates = pd.read_csv(tables / "class_error_rates.csv").set_index("exercise")
    assert rates.loc["squats", f"{model}/baseline"] == pytest.approx(1 / 3)  # the unparsed answer is an error
    assert rates["train_count"].tolist() == [2, 3, 4, 5, 6, 7]
    agreement = pd.read_csv(tables / "error_rate_agreement.csv")
    assert len(agreement) == 1 and agreement.n_classes[0] == 6
    similarity = pd.read_csv(tables / "similarity.csv").set_index("label")
    assert similarity.loc["pooled", "confused_pairs"] == 2
    assert similarity.loc["pooled", "mean_similarity_confused"] == pytest.approx(2.5)  # 3 and 2 shared fields
    for name in ("most_confused_pairs", "class_error_rates", "error_rate_agreement", "similarity"):
        assert (tables / f"{name}.tex").read_text().startswith("\\begin{tabular}")


def test_figures_and_summary(workdir):
    workdir, model = workdir
    for name in ("confusion_matrices", "accuracy_vs_training"):
        for ext in ("pdf", "png"):
            assert (workdir / f"results/figures/rq4_1_2/{name}.{ext}").stat().st_size > 1000
    analysis = json.loads((workdir / "results/rq4_1_2/analysis.json").read_text())
    assert analysis["unparsed"] == {f"{model}/base": 0, f"{model}/baseline": 1}
    summary = (workdir / "results/summary/rq4_1_2.md").read_text()
    assert summary.startswith("## RQ 4.1.2:")
    assert "squats -> lunges (3, 100% of squats)" in summary and "confused pairs share more" in summary
