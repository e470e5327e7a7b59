"""RQ3.1.1 and RQ3.1.2: analysis of profiles with known numbers, then a reduced workflow run on a tiny model."""
from __future__ import annotations

import json
import math
import subprocess
import sys

import pandas as pd
import pytest

from qvedbench.analysis.efficiency import (
    batch_choice_frame,
    batch_figure,
    batch_frame,
    classify_bound,
    fastest_and_leanest,
    largest_batch_before_oom,
    latency_frame,
    latency_violin,
    load_profiles,
    memory_frame,
    memory_timeline_figure,
    read_table,
    rq3_1_1_summary,
    rq3_1_2_summary,
    scaling_slope,
    write_table,
)
from qvedbench.io import RecordError
from qvedbench.profile import summarize_iterations


def make_profile(model: str, batch: int = 1, per_call_s: float | None = 0.1, peak_mb: float = 1000.0,
                 iterations: int = 4) -> dict:
    """A profile whose every iteration takes ``per_call_s`` (None: out of memory before any iteration)."""
    if per_call_s is None:
        its, status, error = [], "oom", "MemoryCapExceeded: memory 900.0 MB is over the cap of 500.0 MB"
    else:
        status, error = "ok", None
        its = [{"batch": batch, "frames": 4 * batch, "steps": 5, "tokens": 5 * batch,
                "decode_video": 0.1 * per_call_s, "preprocess": 0.1 * per_call_s, "prefill": 0.5 * per_call_s,
                "decode": 0.2 * per_call_s, "decode_per_token": 0.05 * per_call_s, "postprocess": 0.1 * per_call_s,
                "ttft": 0.7 * per_call_s, "e2e": per_call_s * (1 + 0.01 * i), "e2e_per_sample": per_call_s / batch}
               for i in range(iterations)]
    return {"model": model, "status": status, "error": error, "timing_method": "wall_clock",
            "settings": {"batch_size": batch}, **summarize_iterations(its), "per_iteration": its,
            "memory": {"peak_mb": peak_mb, "peak_kind": "process_rss", "probe_peak_mb": peak_mb,
                       "cuda_peak_allocated_mb": None, "cuda_peak_reserved_mb": None,
                       "timeline": [[0.0, peak_mb / 2, None], [0.5, peak_mb, None]]},
            "model_size": {"parameters": 1000, "memory_bytes": 4000, "disk_bytes": 2**20}}


def test_latency_and_memory_tables_fastest_and_leanest(tmp_path):
    profiles = [make_profile("b", per_call_s=0.2, peak_mb=500), make_profile("a", per_call_s=0.1, peak_mb=800),
                make_profile("c", per_call_s=None, peak_mb=900)]
    lat = latency_frame(profiles)
    assert list(lat["model"]) == ["a", "b", "c"]
    a = lat.iloc[0]
    assert a["prefill_mean_ms"] == pytest.approx(50.0) and a["dominant_stage"] == "prefill"
    assert a["per_sample_ms"] == pytest.approx(100.0) and a["per_sample_ci_low_ms"] == pytest.approx(100.0)
    assert math.isnan(lat.iloc[2]["per_sample_ms"]) and lat.iloc[2]["status"] == "oom"
    mem = memory_frame(profiles)
    assert list(mem["peak_mb"]) == [800, 500, 900] and mem.iloc[0]["model_disk_mb"] == pytest.approx(1.0)
    assert fastest_and_leanest(profiles) == {"fastest": ("a", pytest.approx(100.0)), "leanest": ("b", 500)}
    write_table(lat, tmp_path / "l.csv", tmp_path / "l.tex")
    assert read_table(tmp_path / "l.csv").shape == lat.shape and "n/a" in (tmp_path / "l.tex").read_text()
    text = rq3_1_1_summary(profiles, [tmp_path / "results" / "figures" / "x.pdf"], relative_to=tmp_path / "results")
    assert text.startswith("## RQ 3.1.1:") and "Fastest model: **a** (100.0 ms" in text
    assert "Leanest model: **b** (peak 500 MB)" in text and "did not complete (out of memory): 1 (c)" in text
    assert "[x.pdf](figures/x.pdf)" in text


def test_figures_are_written(tmp_path):
    profiles = [make_profile("a"), make_profile("b", per_call_s=0.3), make_profile("c", iterations=1)]
    latency_violin(profiles, tmp_path / "v.pdf", tmp_path / "v.png")  # c: one value, no density
    memory_timeline_figure(profiles, tmp_path / "m.pdf", tmp_path / "m.png")
    frame = batch_frame([make_profile("a", b, 0.1 * b ** 0.5) for b in (1, 2, 4)] + [make_profile("a", 8, None)])
    batch_figure(frame, tmp_path / "b.pdf", tmp_path / "b.png")
    for name in ("v", "m", "b"):
        assert (tmp_path / f"{name}.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / f"{name}.png").stat().st_size
    with pytest.raises(ValueError, match="no profile"):
        latency_violin([make_profile("c", per_call_s=None)], tmp_path / "x.pdf", tmp_path / "x.png")


def _batch_rows(model: str, seconds_per_call: dict[int, float | None], peak=lambda b: 100.0 * b) -> list[dict]:
    return [make_profile(model, b, s, peak_mb=peak(b)) for b, s in seconds_per_call.items()]


def test_batch_frame_oom_and_optimal_batch():
    # memory-bound model: a call costs the same at any batch until batch 8 runs out of memory
    flat = _batch_rows("flat", {1: 0.1, 2: 0.1, 4: 0.1, 8: None, 16: None})
    # compute-bound model: time grows with the batch, throughput flat (ties go to the smaller batch)
    linear = _batch_rows("linear", {1: 0.1, 2: 0.2, 4: 0.4, 8: 0.8, 16: 1.6})
    frame = batch_frame(flat + linear)
    row = frame[(frame["model"] == "flat") & (frame["batch_size"] == 4)].iloc[0]
    assert row["total_ms"] == pytest.approx(101.5) and row["per_sample_ms"] == pytest.approx(25.0)
    assert row["samples_per_s"] == pytest.approx(16 / 0.406)
    assert row["samples_per_s_per_gb"] == pytest.approx(row["samples_per_s"] / (400 / 1024))
    oom = frame[(frame["model"] == "flat") & (frame["batch_size"] == 8)].iloc[0]
    assert oom["status"] == "oom" and pd.isna(oom["samples_per_s"]) and "over the cap" in oom["error"]
    flat_rows, linear_rows = frame[frame["model"] == "flat"], frame[frame["model"] == "linear"]
    assert largest_batch_before_oom(flat_rows) == 4 and largest_batch_before_oom(linear_rows) == 16
    assert scaling_slope(flat_rows) == pytest.approx(1.0) and scaling_slope(linear_rows) == pytest.approx(0.0, abs=1e-9)
    assert classify_bound(flat_rows) == "memory-bound" and classify_bound(linear_rows) == "compute-bound"
    choices = batch_choice_frame(frame).set_index("model")
    assert choices.loc["flat", "optimal_batch"] == 4 and choices.loc["flat", "first_oom_batch"] == 8
    assert choices.loc["flat", "out_of_memory"] == 2 and choices.loc["linear", "optimal_batch"] == 1
    assert choices.loc["linear", "best_per_gb_batch"] == 1 and choices.loc["flat", "best_per_gb_batch"] == 1


def test_oom_at_the_smallest_batch_and_a_single_batch_size():
    frame = batch_frame(_batch_rows("m", {1: None, 2: 0.1}) + _batch_rows("one", {1: 0.1}))
    m, one = frame[frame["model"] == "m"], frame[frame["model"] == "one"]
    assert largest_batch_before_oom(m) is None  # batch 2 ran, but batch 1 already did not
    assert classify_bound(one) == "undetermined" and scaling_slope(one) is None
    choices = batch_choice_frame(frame)
    text = rq3_1_2_summary(frame, choices, [])
    assert text.startswith("## RQ 3.1.2:") and "largest batch before that none" in text
    assert "**one**: optimal batch 1" in text and "undetermined (slope n/a)" in text


def test_batch_summary_survives_a_csv_round_trip(tmp_path):
    frame = batch_frame(_batch_rows("flat", {1: 0.1, 2: 0.1, 4: None}))
    write_table(frame, tmp_path / "b.csv", tmp_path / "b.tex")
    write_table(batch_choice_frame(frame), tmp_path / "c.csv", tmp_path / "c.tex")
    text = rq3_1_2_summary(read_table(tmp_path / "b.csv"), read_table(tmp_path / "c.csv"))
    assert "optimal batch 2" in text and "from batch 4; largest batch before that 2" in text
    assert "memory-bound (slope 1.00)" in text and "| flat | 4 | oom | n/a |" in text


def test_analysis_never_imports_torch():
    code = "import sys, qvedbench.analysis.efficiency; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_bad_profiles_are_named(tmp_path):
    path = tmp_path / "p.json"
    path.write_text(json.dumps({"model": "m", "status": "ok"}))
    with pytest.raises(RecordError, match=r"p\.json, field 'settings'"):
        load_profiles([path])
    with pytest.raises(ValueError, match="same model and batch size"):
        batch_frame([make_profile("m"), make_profile("m")])


# -- reduced workflow on a tiny model ------------------------------------------------------------------------

from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config  # noqa: E402

PROFILER = dict(enabled=True, warmup=1, min_samples=2, min_seconds=0.0, max_new_tokens=4, sample_interval_s=0.01)


def _config(workdir, run: str = "base"):
    """The reduced demo with both questions on; the untuned model (run base) needs no training job."""
    cfg = reduced_demo_config()
    cfg.setdefault("questions", {})
    cfg["questions"]["rq3_1_1"] = dict(PROFILER, run=run)
    cfg["questions"]["rq3_1_2"] = dict(PROFILER, run=run, batch_sizes=[1, 2])
    return cfg, write_config(workdir / "config.yaml", cfg)


def test_asking_for_one_figure_plans_only_what_it_needs(tmp_path):
    _, configfile = _config(tmp_path, run="baseline")
    jobs = planned_jobs(tmp_path, configfile, targets=("results/figures/rq3_1_1/latency_violin.pdf",))
    assert jobs.get("rq3_1_1_profile") == 1 and jobs.get("rq3_1_1_latency_violin") == 1
    assert jobs.get("train_lora") == 1  # the baseline run's checkpoint is profiled
    assert not {"rq3_1_2_profile", "rq3_1_1_tables", "rq3_1_1_memory_timeline", "infer_generate"} & set(jobs)
    batch = planned_jobs(tmp_path, configfile, targets=("rq3_1_2",))
    assert batch["rq3_1_2_profile"] == 2 and "rq3_1_1_profile" not in batch


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rq3_1")
    cfg, configfile = _config(workdir)
    run_workflow(workdir, configfile, targets=("rq3_1_1", "rq3_1_2"))
    return workdir, configfile, cfg


def test_workflow_outputs(workflow_run):
    workdir, configfile, cfg = workflow_run
    model = next(iter(cfg["models"]))
    results = workdir / "results"
    profile = json.loads((results / "profile" / model / "default.json").read_text())
    assert profile["status"] == "ok" and profile["config"] == "default" and profile["samples"] >= 2
    assert profile["checkpoint"] is None and profile["settings"]["max_new_tokens"] == 4
    for b in (1, 2):
        p = json.loads((results / "profile" / model / f"batch{b}.json").read_text())
        assert p["settings"]["batch_size"] == b and p["config"] == f"batch{b}" and p["status"] == "ok"
    latency = read_table(results / "tables" / "rq3_1_1" / "latency.csv")
    assert list(latency["model"]) == [model] and latency.loc[0, "per_sample_ms"] > 0
    assert (results / "tables" / "rq3_1_1" / "memory.tex").exists()
    batch = read_table(results / "tables" / "rq3_1_2" / "batch.csv")
    assert list(batch["batch_size"]) == [1, 2] and (batch["samples_per_s"] > 0).all()
    optimal = read_table(results / "tables" / "rq3_1_2" / "optimal_batch.csv")
    assert optimal.loc[0, "optimal_batch"] in (1, 2) and optimal.loc[0, "bound"] in ("memory-bound", "compute-bound")
    for figure in ("rq3_1_1/latency_violin", "rq3_1_1/memory_timeline", "rq3_1_2/batch_scaling"):
        assert (results / "figures" / f"{figure}.pdf").read_bytes()[:4] == b"%PDF"
        assert (results / "figures" / f"{figure}.png").exists()
    s1 = (results / "summary" / "rq3_1_1.md").read_text()
    s2 = (results / "summary" / "rq3_1_2.md").read_text()
    assert s1.startswith("## RQ 3.1.1:") and f"Fastest model: **{model}**" in s1 and "(figures/rq3_1_1/" in s1
    assert s2.startswith("## RQ 3.1.2:") and f"**{model}**: optimal batch" in s2
    assert "[batch_scaling.pdf](figures/rq3_1_2/batch_scaling.pdf)" in s2 and "[r](" not in s2


def test_finished_run_plans_nothing(workflow_run):
    workdir, configfile, _ = workflow_run
    assert planned_jobs(workdir, configfile, targets=("rq3_1_1", "rq3_1_2")) == {}
