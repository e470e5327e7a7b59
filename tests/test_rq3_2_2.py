"""RQ3.2.2: the precision analysis on hand-made levels (with not-applicable rows), then a reduced workflow run."""
from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd
import pytest

from qvedbench.analysis.precision import (
    accuracy_vs_compression_figure,
    headline_rows,
    latency_by_level_figure,
    levels_frame,
    load_entry,
    max_compression,
    read_table,
    resilience_frame,
    summary_section,
    write_table,
)
from qvedbench.io import RecordError
from qvedbench.report.headline import headline_frame

THRESHOLDS = {"exercise_accuracy": 0.5, "bertscore_f1": 0.7}
LEVELS = ["fp32", "tf32", "bf16", "fp16", "int8_dynamic", "int8_static"]
N = 20


def entry(model, level, correct=None, memory=4000, disk=4100, p50=0.1, bert=0.8, reason=None):
    """A level result, its scores and per-sample rows; ``correct`` lists the clips answered right (None: N/A)."""
    if correct is None:
        result = {"model": model, "level": level, "status": "not_applicable", "reason": reason or "no CUDA",
                  "method": level}
        return {"result": result, "scores": {"metrics": {}, "n": 0}, "samples": []}
    samples = [{"id": f"c{i}", "exercise_correct": int(i in correct)} for i in range(N)]
    accuracy = len(correct) / N
    result = {"model": model, "level": level, "status": "ok", "reason": None, "method": level,
              "size": {"memory_bytes": memory, "state_dict_bytes": disk},
              "profile": {"stages": {"e2e_per_sample": {"p50": p50, "p95": 2 * p50, "n": 5}},
                          "memory": {"peak_mb": 100.0}}}
    scores = {"n": N, "metrics": {
        "exercise_accuracy": {"mean": accuracy, "ci_low": accuracy - 0.1, "ci_high": accuracy + 0.1, "n": N,
                              "failures": 0},
        "bertscore_f1": {"mean": bert, "ci_low": bert - 0.05, "ci_high": bert + 0.05, "n": N, "failures": 0}}}
    return {"result": result, "scores": scores, "samples": samples}


def entries():
    all_right, most, half = set(range(16)), set(range(14)), set(range(8))
    return [
        entry("a", "fp32", all_right, memory=4000, p50=0.2),
        entry("a", "bf16", all_right, memory=2000, p50=0.15),
        entry("a", "fp16", reason="precision 'fp16' is not supported on the CPU"),
        entry("a", "int8_dynamic", most, memory=1000, p50=0.1),
        entry("a", "int8_static", half, memory=1000, p50=0.08),  # below the accuracy minimum
        entry("b", "fp32", half - {7}, memory=8000),  # already below: no headroom to spend
        entry("b", "int8_dynamic", half, memory=2000),
    ]


def test_levels_frame_and_compression():
    levels = levels_frame(entries(), THRESHOLDS, LEVELS)
    assert list(levels["level"][levels["model"] == "a"]) == ["fp32", "bf16", "fp16", "int8_dynamic", "int8_static"]
    a = levels[levels["model"] == "a"].set_index("level")
    assert a.loc["int8_dynamic", "compression_ratio"] == pytest.approx(4.0)
    assert a.loc["bf16", "compression_ratio"] == pytest.approx(2.0) and a.loc["fp32", "compression_ratio"] == 1.0
    assert a.loc["fp16", "status"] == "not_applicable" and "CPU" in a.loc["fp16", "reason"]
    assert pd.isna(a.loc["fp16", "accuracy"]) and pd.isna(a.loc["fp16", "compression_ratio"])
    assert a.loc["int8_dynamic", "latency_p50_ms"] == pytest.approx(100.0) and a.loc["fp32", "n"] == N
    assert a.loc["int8_dynamic", "meets_thresholds"] and not a.loc["int8_static", "meets_thresholds"]
    assert "bertscore_f1" in levels.columns
    best = max_compression(levels)
    assert best["a"] == {"level": "int8_dynamic", "ratio": pytest.approx(4.0), "note": ""}
    assert best["b"]["level"] is None and best["b"]["note"].startswith("fp32 itself is below")
    with pytest.raises(ValueError, match="two results for model 'a' at level 'fp32'"):
        levels_frame(entries() + [entry("a", "fp32", {1})], THRESHOLDS)


def test_resilience_paired_bootstrap():
    levels = levels_frame(entries(), THRESHOLDS, LEVELS)
    res = resilience_frame(entries(), levels, n_boot=500, seed=1).set_index(["model", "level"])
    assert ("a", "fp16") not in res.index  # not applicable: no accuracy change
    dyn = res.loc[("a", "int8_dynamic")]
    assert dyn["accuracy_change_pp"] == pytest.approx(-10.0) and dyn["accuracy_drop_pp"] == pytest.approx(10.0)
    assert dyn["resilience_score"] == pytest.approx(2.5) and dyn["n_paired"] == N and dyn["failed_paired"] == 0
    assert dyn["change_ci_low_pp"] <= -10.0 <= dyn["change_ci_high_pp"] and dyn["max_compression"]
    assert res.loc[("a", "fp32"), "accuracy_change_pp"] == 0 and res.loc[("a", "bf16"), "resilience_score"] == 0
    assert res.loc[("b", "int8_dynamic"), "accuracy_change_pp"] == pytest.approx(5.0)  # more accurate: negative drop
    assert res.loc[("b", "int8_dynamic"), "resilience_score"] == pytest.approx(-5.0 / 4)


def test_outputs_survive_csv_round_trip(tmp_path):
    levels = levels_frame(entries(), THRESHOLDS, LEVELS)
    res = resilience_frame(entries(), levels, n_boot=200)
    write_table(levels, tmp_path / "levels.csv", tmp_path / "levels.tex")
    write_table(res, tmp_path / "res.csv", tmp_path / "res.tex")
    levels2, res2 = read_table(tmp_path / "levels.csv"), read_table(tmp_path / "res.csv")
    assert max_compression(levels2)["a"]["level"] == "int8_dynamic"
    text = summary_section(levels2, res2, THRESHOLDS, [tmp_path / "results" / "figures" / "f.pdf"],
                           relative_to=tmp_path / "results")
    assert text.startswith("## RQ 3.2.2:") and "**4.00x** (int8_dynamic)" in text
    assert "- a fp16: not applicable: precision 'fp16' is not supported on the CPU" in text
    assert "| a | fp16 | not_applicable |" in text and "**b**: maximum compression before the headroom is " \
        "exhausted: none" in text and "[f.pdf](figures/f.pdf)" in text
    rows = headline_frame(headline_rows(levels2, res2))
    a = rows[rows["model"] == "a"].set_index("measure")
    assert a.loc["max_compression_ratio", "value"] == pytest.approx(4.0)
    assert a.loc["accuracy_change_pp_int8_dynamic", "n"] == N and "accuracy_change_pp_fp16" not in a.index
    assert pd.isna(rows[(rows["model"] == "b") & (rows["measure"] == "max_compression_ratio")]["value"]).all()
    accuracy_vs_compression_figure(levels2, THRESHOLDS, tmp_path / "a.pdf", tmp_path / "a.png")
    latency_by_level_figure(levels2, tmp_path / "l.pdf", tmp_path / "l.png")
    for name in ("a", "l"):
        assert (tmp_path / f"{name}.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / f"{name}.png").stat().st_size
    with pytest.raises(ValueError, match="no level"):
        accuracy_vs_compression_figure(levels2[levels2["status"] != "ok"], THRESHOLDS, tmp_path / "x.pdf",
                                       tmp_path / "x.png")


def test_bad_level_result_is_named(tmp_path):
    (tmp_path / "r.json").write_text(json.dumps({"model": "m", "level": "fp32", "status": "ok"}))
    (tmp_path / "s.json").write_text(json.dumps({"metrics": {}}))
    (tmp_path / "s.jsonl").write_text("")
    with pytest.raises(RecordError, match=r"r\.json, field 'size'"):
        load_entry(tmp_path / "r.json", tmp_path / "s.json", tmp_path / "s.jsonl")
    (tmp_path / "r.json").write_text(json.dumps({"model": "m", "level": "fp16", "status": "not_applicable"}))
    (tmp_path / "s.jsonl").write_text(json.dumps({"exercise_correct": 1}) + "\n")
    with pytest.raises(RecordError, match=r"s\.jsonl.*field 'id'"):
        load_entry(tmp_path / "r.json", tmp_path / "s.json", tmp_path / "s.jsonl")


def test_analysis_never_imports_torch():
    code = "import sys, qvedbench.analysis.precision; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


# -- reduced workflow on a tiny model ------------------------------------------------------------------------

from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config  # noqa: E402

RUN_LEVELS = ["fp32", "bf16", "fp16", "int8_dynamic"]


def _config(workdir, run="base"):
    cfg = reduced_demo_config()
    cfg.setdefault("questions", {})
    cfg["questions"]["rq3_2_2"] = dict(enabled=True, run=run, levels=RUN_LEVELS, warmup=0, min_samples=1,
                                       min_seconds=0.0, max_new_tokens=3, sample_interval_s=0.01)
    cfg["device"] = "cpu"  # fp16 must come out as not applicable even on a machine with a GPU
    return cfg, write_config(workdir / "config.yaml", cfg)


def test_plan(tmp_path):
    _, configfile = _config(tmp_path, run="baseline")
    jobs = planned_jobs(tmp_path, configfile, targets=("rq3_2_2",))
    assert jobs["rq3_2_2_level"] == len(RUN_LEVELS) and jobs["rq3_2_2_score"] == len(RUN_LEVELS)
    assert jobs.get("train_lora") == 1 and "infer_generate" not in jobs and "evaluate_score" not in jobs


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rq3_2_2")
    cfg, configfile = _config(workdir)
    run_workflow(workdir, configfile, targets=("rq3_2_2",))
    return workdir, configfile, cfg


def test_workflow_outputs(workflow_run):
    workdir, _, cfg = workflow_run
    model = next(iter(cfg["models"]))
    results = workdir / "results"
    fp16 = json.loads((results / "quantize" / model / "base" / "fp16.json").read_text())
    assert fp16["status"] == "not_applicable" and "CPU" in fp16["reason"]
    int8 = json.loads((results / "quantize" / model / "base" / "int8_dynamic.json").read_text())
    assert int8["status"] == "ok" and int8["quantization"]["quantized_linears"] > 0
    scores = json.loads((results / "scores" / model / "base" / "clean@int8_dynamic.json").read_text())
    assert scores["variant"] == "clean@int8_dynamic" and scores["n"] > 0
    levels = read_table(results / "tables" / "rq3_2_2" / "levels.csv").set_index("level")
    assert list(levels.index) == RUN_LEVELS and levels.loc["fp16", "status"] == "not_applicable"
    assert levels.loc["int8_dynamic", "compression_ratio"] > 1.5 and levels.loc["bf16", "compression_ratio"] > 1.5
    assert (levels.loc[["fp32", "bf16", "int8_dynamic"], "latency_p50_ms"] > 0).all()
    res = read_table(results / "tables" / "rq3_2_2" / "resilience.csv")
    assert set(res["level"]) == {"fp32", "bf16", "int8_dynamic"}
    headline = pd.read_csv(results / "tables" / "rq3_2_2" / "headline.csv")
    assert "max_compression_ratio" in set(headline["measure"])
    for figure in ("accuracy_vs_compression", "latency_by_level"):
        assert (results / "figures" / "rq3_2_2" / f"{figure}.pdf").read_bytes()[:4] == b"%PDF"
        assert (results / "figures" / "rq3_2_2" / f"{figure}.png").exists()
    text = (results / "summary" / "rq3_2_2.md").read_text()
    assert text.startswith("## RQ 3.2.2:") and "fp16: not applicable" in text
    assert "(figures/rq3_2_2/accuracy_vs_compression.pdf)" in text
