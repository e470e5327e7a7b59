"""RQ5.2.1 rules on hand-made predictions (no model): the rubric sanity-baseline judge, tables, radar chart and
summary; a figure plans only its inputs; expert ratings added later rebuild only the agreement outputs; the
openai backend run through the workflow against a local stub never writes the API key anywhere."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from analysis_fixtures import RUNS, run_rules, write_inputs
from qvedbench.io import read_json, read_jsonl
from test_judge_openai import SECRET, Stub
from workflow_helpers import planned_jobs, write_config

QUESTION = {"enabled": True, "backend": "rubric", "runs": list(RUNS), "examples": 2}
RULES = ["rq5_2_1_judge", "rq5_2_1_scores_table", "rq5_2_1_radar_figure", "rq5_2_1_examples",
         "rq5_2_1_correlation", "rq5_2_1_agreement", "rq5_2_1_summary", "rq5_2_1"]
SCORES = ("clinical_accuracy", "actionability", "root_cause", "completeness", "overall", "holistic")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rq5_2_1")
    config, model = write_inputs(workdir, {"rq5_2_1": QUESTION})
    for run in RUNS:  # give the hand-made scores a text metric that follows the answer's quality
        path = workdir / f"results/scores/{model}/{run}/clean.jsonl"
        rows = [{**r, "rouge_l": 0.2 + 0.6 * r["exercise_correct"]} for r in read_jsonl(path)]
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    plan = planned_jobs(workdir, config, "--allowed-rules", *RULES, targets=("results/figures/rq5_2_1/radar.pdf",))
    assert plan == {"rq5_2_1_judge": 2, "rq5_2_1_radar_figure": 1}
    run_rules(workdir, config, ["rq5_2_1"], RULES)
    return workdir, model


def test_judge_files_cover_every_prediction(workdir):
    workdir, model = workdir
    for run in RUNS:
        predictions = read_jsonl(workdir / f"results/predictions/{model}/{run}/clean.jsonl")
        rows = read_jsonl(workdir / f"results/judge/{model}/{run}/clean.jsonl")
        assert [r["id"] for r in rows] == [p["id"] for p in predictions]
        assert all(r["backend"] == "rubric" and r["sanity_baseline"] is True for r in rows)
        summary = read_json(workdir / f"results/judge/{model}/{run}/clean.json")
        assert summary["n"] == len(rows) and (summary["model"], summary["run"]) == (model, run)
    baseline = read_json(workdir / f"results/judge/{model}/baseline/clean.json")
    assert baseline["failures"] == 1 and baseline["scores"]["overall"]["n"] == 17  # the missing answer


def test_tables_figure_and_summary(workdir):
    workdir, model = workdir
    table = pd.read_csv(workdir / "results/tables/rq5_2_1/judge_scores.csv").set_index("run")
    assert set(table["judge"]) == {"rubric (sanity baseline)"}
    # baseline names the right exercise and the errors; base confuses classes and says "good form"
    assert table.loc["baseline", "overall"] > table.loc["base", "overall"]
    assert table.loc["baseline", "root_cause"] > table.loc["base", "root_cause"]
    examples = pd.read_csv(workdir / "results/tables/rq5_2_1/examples.csv")
    assert len(examples) == 8 and set(examples["rank"]) == {"best", "worst"}
    corr = pd.read_csv(workdir / "results/tables/rq5_2_1/metric_correlation.csv")
    pooled = corr[(corr["model"] == "all") & (corr["judge_score"] == "overall")].set_index("text_metric")
    assert pooled.loc["rouge_l", "spearman"] > 0.5 and pooled.loc["rouge_l", "missing"] == 1
    assert pooled.loc["meteor", "n"] == 0  # no METEOR in these scores: reported as missing, not invented
    for ext in ("pdf", "png"):
        assert (workdir / f"results/figures/rq5_2_1/radar.{ext}").stat().st_size > 1000
    summary = (workdir / "results/summary/rq5_2_1.md").read_text()
    assert summary.startswith("## RQ 5.2.1: LLM-as-judge feedback quality")
    assert "rubric sanity baseline" in summary and "1 failures" in summary and "agreement not measured" in summary


def test_ratings_add_only_the_agreement_outputs(workdir):
    workdir, model = workdir
    rows = read_jsonl(workdir / f"results/judge/{model}/baseline/clean.jsonl")
    ratings = workdir / "ratings.jsonl"
    ratings.write_text("".join(json.dumps({"model": model, "run": "baseline", "variant": "clean", "id": r["id"],
                                           "rater": "ab", **{k: r[k] if r[k] is None else int(r[k] + 0.5)
                                                             for k in SCORES}}) + "\n" for r in rows))
    config = workdir / "config_ratings.yaml"
    cfg = yaml_load(workdir / "config.yaml")
    cfg["questions"]["rq5_2_1"] = {**QUESTION, "ratings": str(ratings)}
    write_config(config, cfg)
    plan = planned_jobs(workdir, config, "--allowed-rules", *RULES, targets=("rq5_2_1",))
    assert plan == {"rq5_2_1_agreement": 1, "rq5_2_1_summary": 1, "rq5_2_1": 1}
    run_rules(workdir, config, ["rq5_2_1"], RULES)
    agreement = pd.read_csv(workdir / "results/tables/rq5_2_1/agreement.csv").set_index("score")
    assert agreement.loc["overall", "n"] == 17 and agreement.loc["overall", "missing"] == 1
    assert agreement.loc["overall", "kappa_quadratic"] == pytest.approx(1.0)
    assert "Agreement with expert ratings (overall, n=17" in (workdir / "results/summary/rq5_2_1.md").read_text()


def test_openai_backend_in_the_workflow_never_writes_the_key(tmp_path, monkeypatch):
    stub = Stub(["ok", 400, 500, "garbage"])
    try:
        monkeypatch.setenv("QVED_JUDGE_API_KEY", SECRET)
        question = {"enabled": True, "backend": "openai", "runs": ["baseline"],
                    "openai": {"base_url": stub.url, "model": "judge-model", "api_key_env": "QVED_JUDGE_API_KEY",
                               "backoff_s": 0.0}}
        config, model = write_inputs(tmp_path, {"rq5_2_1": question}, per_class=1)
        run_rules(tmp_path, config, [f"results/judge/{model}/baseline/clean.json"], RULES)
    finally:
        stub.close()
    rows = read_jsonl(tmp_path / f"results/judge/{model}/baseline/clean.jsonl")
    assert [r["status"] for r in rows][:3] == ["failed", "ok", "failed"]  # 1st has no answer; 400; 500 retried
    assert all(r["auth"] == f"Bearer {SECRET}" for r in stub.requests)
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace"), path


def yaml_load(path):
    import yaml

    return yaml.safe_load(path.read_text())
