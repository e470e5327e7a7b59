"""RQ2.1.1 rules on hand-made predictions (no model): tables, figures, summary, and a figure plans only its inputs."""
from __future__ import annotations

import pandas as pd
import pytest

from analysis_fixtures import run_rules, write_inputs
from workflow_helpers import planned_jobs

RULES = ["rq2_1_1_detect", "rq2_1_1_tables", "rq2_1_1_prf_figure", "rq2_1_1_confusion_figure",
         "rq2_1_1_pr_figure", "rq2_1_1_summary", "rq2_1_1"]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rq2_1_1")
    config, model = write_inputs(workdir, {"rq2_1_1": {"enabled": True}})
    plan = planned_jobs(workdir, config, "--allowed-rules", *RULES, targets=("results/figures/rq2_1_1/pr_curves.pdf",))
    assert plan == {"rq2_1_1_detect": 2, "rq2_1_1_tables": 1, "rq2_1_1_pr_figure": 1}
    run_rules(workdir, config, ["rq2_1_1"], RULES)
    return workdir, model


def test_detection_table(workdir):
    workdir, model = workdir
    table = pd.read_csv(workdir / "results/tables/rq2_1_1/detection.csv").set_index(["run", "error"])
    baseline = table.loc[("baseline", "knee_valgus")]
    assert (baseline.tp, baseline.fp, baseline.fn, baseline.n, baseline.failures) == (2, 0, 0, 17, 1)
    assert table.loc[("baseline", "forward_lean"), "f1"] == 1.0
    base = table.loc[("base", "all (micro)")]
    assert base.recall == 0.0 and pd.isna(base.precision) and base.failures == 0
    assert (workdir / "results/tables/rq2_1_1/detection.tex").read_text().startswith("\\begin{tabular}")


def test_localisation_and_outputs(workdir):
    workdir, model = workdir
    loc = pd.read_csv(workdir / "results/tables/rq2_1_1/localisation.csv").set_index("run")
    assert (loc.loc["baseline", "evaluable"], loc.loc["baseline", "hits"]) == (2, 2)
    assert loc.loc["base", "naming_time"] == 0
    for name in ("prf", "error_confusion", "pr_curves"):
        for ext in ("pdf", "png"):
            assert (workdir / f"results/figures/rq2_1_1/{name}.{ext}").stat().st_size > 1000
    summary = (workdir / "results/summary/rq2_1_1.md").read_text()
    assert summary.startswith("## RQ 2.1.1:") and f"**{model}/baseline**" in summary and "failures" in summary
