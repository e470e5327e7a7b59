"""RQ3.1.3: resolution variants, Pareto frontiers and the integer-program choice on known points, the profiler
and inference honouring per-record resolution, and a reduced workflow run."""
import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from qvedbench.analysis.pareto import (COLUMNS, choose, factorial_frame, headline_rows, heatmaps, pareto_figure,
                                       pareto_mask, pareto_table, read_factorial, recommendations, summary_section)
from qvedbench.data.variants import make_variant
from qvedbench.infer import record_frames, variant_spec
from qvedbench.io import RecordError
from qvedbench.models.base import ModelSpec
from qvedbench.report.headline import headline_frame
from qvedbench.variant_names import parse_resolution_variant, parse_temporal_variant, resolution_variant_name
from qvedbench.video import write_video
from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config

# -- variant names and records ---------------------------------------------------------------------------------


def test_resolution_variant_names_round_trip():
    assert resolution_variant_name(336, 8) == "res336_frames8"
    assert parse_resolution_variant("res336_frames8") == (336, 8)
    for other in ("clean", "frames8_stride2", "res336", "res336_frames8_stride1", "blur_7"):
        assert parse_resolution_variant(other) is None
    assert parse_temporal_variant("res336_frames8") is None
    with pytest.raises(ValueError):
        parse_resolution_variant("res0_frames8")
    with pytest.raises(ValueError):
        resolution_variant_name(224, 0)


def test_resolution_variant_records():
    test = [{"id": "a", "video": "a.mp4"}, {"id": "b", "video": "b.mp4", "sample_frames": 2}]
    out = make_variant(test, "res48_frames4", seed=0)
    assert [(r["sample_resolution"], r["sample_frames"]) for r in out] == [(48, 4), (48, 4)]
    assert "sample_stride" not in out[0] and "sample_resolution" not in test[0]  # input untouched


def test_records_set_the_frame_size_and_the_model_resolution(tmp_path):
    video = tmp_path / "v.mp4"
    write_video(np.zeros((16, 40, 40, 3), dtype=np.uint8), video, fps=8)
    record = {"id": "a", "video": str(video)}
    assert record_frames(record, 4, 16).shape == (4, 16, 16, 3)
    assert record_frames({**record, "sample_resolution": 24, "sample_frames": 8}, 4, 16).shape == (8, 24, 24, 3)
    spec = ModelSpec(name="m", family="qwen2_vl", path="x", resolution=64)
    assert variant_spec(spec, [record]) is spec
    assert variant_spec(spec, [{**record, "sample_resolution": 32}] * 2).resolution == 32
    with pytest.raises(RecordError, match="record 1, field 'sample_resolution'"):
        variant_spec(spec, [{**record, "sample_resolution": 32}, {**record, "sample_resolution": 48}])
    with pytest.raises(RecordError, match="positive integer"):
        variant_spec(spec, [{**record, "sample_resolution": "big"}])


def test_families_state_how_they_take_other_sizes():
    from types import SimpleNamespace

    from qvedbench.models.base import VideoVLMAdapter
    from qvedbench.models.mobile_videogpt.adapter import MobileVideoGPTAdapter
    from qvedbench.models.nvila_lite.adapter import NVILALiteAdapter

    spec = ModelSpec(name="m", family="x", path="x", resolution=448)
    mvg = MobileVideoGPTAdapter.input_size(SimpleNamespace(spec=spec, processor=SimpleNamespace(image_size=224)))
    assert (mvg["requested"], mvg["effective"], mvg["fixed"]) == (448, 224, True) and "fixed 224 px" in mvg["note"]
    vision = SimpleNamespace(config=SimpleNamespace(vision_config=SimpleNamespace(image_size=384)))
    nvila = NVILALiteAdapter.input_size(SimpleNamespace(spec=spec, model=vision))
    assert (nvila["effective"], nvila["fixed"]) == (384, True) and "SigLIP" in nvila["note"]
    free = VideoVLMAdapter.input_size(SimpleNamespace(spec=spec))  # any resolution, taken as asked
    assert free == {"requested": 448, "effective": 448, "fixed": False, "note": None}
    rounded = VideoVLMAdapter.input_size(SimpleNamespace(spec=spec, frame_side=lambda: 440))
    assert rounded["effective"] == 440 and not rounded["fixed"] and "rounded to 440 px" in rounded["note"]


def test_profiler_records_a_refused_configuration():
    from qvedbench.profile import profile_adapter
    from test_profile import FakeAdapter, SyntheticClock, _decoder

    clock = SyntheticClock()
    adapter = FakeAdapter(clock)

    def refuse(videos, system, prompts, max_new_tokens=64):
        raise ValueError("4 frames: not a multiple of the chunk size 8")

    adapter.generate = refuse
    records = [{"id": "a", "prompt": "p", "sample_frames": 4, "sample_resolution": 32}]
    out = profile_adapter(adapter, records, system_prompt="s", warmup=1, min_samples=1, min_seconds=0.0,
                          clock=clock, decode_clip=_decoder(clock))
    assert out["status"] == "unsupported" and "chunk size 8" in out["error"]
    assert out["settings"]["frames"] == 4 and out["settings"]["resolution"] == 32
    with pytest.raises(ValueError):  # without per-record overrides a refusal is a bug, not a result
        profile_adapter(adapter, [{"id": "a", "prompt": "p"}], system_prompt="s", warmup=1, min_samples=1,
                        min_seconds=0.0, clock=clock, decode_clip=_decoder(clock))


# -- Pareto frontier ---------------------------------------------------------------------------------------------


def test_pareto_mask_on_known_points():
    accuracy = [0.9, 0.8, 0.8, 0.9, 0.95, 0.7, None, 0.99]
    cost = [100, 50, 60, 100, 200, 50, 10, None]
    # C (0.8 @ 60) is dominated by B (0.8 @ 50), F (0.7 @ 50) by B; A and D are identical: both stay;
    # points with a missing value are never on the frontier
    assert pareto_mask(accuracy, cost).tolist() == [True, True, False, True, True, False, False, False]
    assert pareto_mask([], []).tolist() == []
    assert pareto_mask([0.5], [1.0]).tolist() == [True]


def _row(model, resolution, frames, accuracy, latency, memory, status="ok", fixed=False, note=""):
    return {"model": model, "run": "baseline", "variant": resolution_variant_name(resolution, frames),
            "resolution": resolution, "frames": frames, "accuracy": accuracy,
            "ci_low": None if accuracy is None else accuracy - 0.05,
            "ci_high": None if accuracy is None else min(1.0, accuracy + 0.05), "n": 20 if accuracy is not None else 0,
            "failed": 0 if accuracy is not None else 20, "profile_status": status,
            "latency_p50_ms": latency, "latency_p95_ms": None if latency is None else 1.2 * latency,
            "peak_memory_mb": memory, "memory_kind": "process_rss", "effective_resolution": 224 if fixed else resolution,
            "fixed_size": fixed, "size_note": note, "error": "" if status == "ok" else "ValueError: chunk size 8"}


@pytest.fixture
def points():
    note = "resized to the encoders' fixed 224 px"
    return pd.DataFrame([
        _row("m1", 224, 8, 0.80, 100.0, 1000.0),
        _row("m1", 448, 16, 0.90, 300.0, 2000.0),
        _row("m2", 224, 8, 0.60, 50.0, 500.0, fixed=True, note=note),
        _row("m2", 224, 4, 0.85, 150.0, 800.0, fixed=True, note=note),
        _row("m3", 224, 4, None, None, None, status="unsupported"),
    ], columns=COLUMNS)


def test_pareto_table_on_known_points(points):
    table = pareto_table(points)
    latency = table[table["frontier"] == "accuracy_vs_latency"]
    assert list(zip(latency["model"], latency["variant"])) == [
        ("m2", "res224_frames8"), ("m1", "res224_frames8"), ("m2", "res224_frames4"), ("m1", "res448_frames16")]
    memory = table[table["frontier"] == "accuracy_vs_memory"]
    # m1 @ 224/8 (0.80 @ 1000 MB) is dominated by m2 @ 224/4 (0.85 @ 800 MB)
    assert list(memory["variant"]) == ["res224_frames8", "res224_frames4", "res448_frames16"]
    assert "m3" not in set(table["model"])


# -- integer program --------------------------------------------------------------------------------------------


def test_scenarios_on_known_points(points):
    scenarios = {
        "low_latency": {"objective": "min_latency", "min_accuracy": 0.7},
        "high_accuracy": {"objective": "max_accuracy", "max_memory_mb": 1500},
        "balanced": {"objective": "balanced", "weights": {"accuracy": 1.0, "latency": 0.5, "memory": 0.5}},
        "lean": {"objective": "min_memory"},
    }
    recs = recommendations(points, scenarios).set_index("scenario")
    assert list(recs.index) == list(scenarios) and (recs["status"] == "optimal").all()
    assert (recs.loc["low_latency", "model"], recs.loc["low_latency", "variant"]) == ("m1", "res224_frames8")
    assert (recs.loc["high_accuracy", "model"], recs.loc["high_accuracy", "variant"]) == ("m2", "res224_frames4")
    # balanced: scaled accuracy - 0.5 scaled latency - 0.5 scaled memory: m2 @ 224/4 scores 0.53, m1 @ 224/8 0.40
    assert (recs.loc["balanced", "model"], recs.loc["balanced", "variant"]) == ("m2", "res224_frames4")
    assert recs.loc["lean", "variant"] == "res224_frames8" and recs.loc["lean", "model"] == "m2"
    assert recs.loc["high_accuracy", "candidates"] == 4  # the failed configuration is no candidate
    assert "fixed 224 px" in recs.loc["high_accuracy", "size_note"]


def test_ties_go_to_the_lower_latency(points):
    tied = pd.concat([points, pd.DataFrame([_row("m4", 336, 8, 0.90, 200.0, 3000.0)], columns=COLUMNS)])
    rec = choose(tied, "best", {"objective": "max_accuracy"})
    assert (rec["model"], rec["accuracy"]) == ("m4", 0.90)


def test_infeasible_scenarios_name_the_binding_constraint(points):
    rec = choose(points, "fast", {"objective": "max_accuracy", "max_latency_ms": 40, "min_accuracy": 0.5})
    assert rec["status"] == "infeasible" and rec["binding"].startswith("max_latency_ms 40 (")
    assert "min_accuracy" not in rec["binding"] and "50" in rec["binding"]
    both = choose(points, "both", {"objective": "min_latency", "max_latency_ms": 60, "min_accuracy": 0.88})
    assert both["status"] == "infeasible"
    assert "max_latency_ms 60" in both["binding"] and "min_accuracy 0.88" in both["binding"]
    none = choose(points[points["model"] == "m3"], "x", {"objective": "max_accuracy"})
    assert none["status"] == "no candidates"


def test_bad_scenarios_are_refused(points):
    with pytest.raises(ValueError, match="scenario 'x': objective"):
        choose(points, "x", {"objective": "fastest"})
    with pytest.raises(ValueError, match="scenario 'x': unknown key"):
        choose(points, "x", {"objective": "max_accuracy", "max_latency": 3})
    with pytest.raises(ValueError, match="scenario 'x': max_memory_mb"):
        choose(points, "x", {"objective": "max_accuracy", "max_memory_mb": "1 GB"})
    with pytest.raises(ValueError, match="no scenarios"):
        recommendations(points, {})


# -- factorial table, figures, summary, headline ---------------------------------------------------------------------


def _profile(model, variant, status="ok", p50=0.1, peak=900.0, fixed=False):
    e2e = {"p50": p50, "p95": p50 * 1.5} if status == "ok" else {"p50": None, "p95": None}
    return {"model": model, "config": variant, "status": status, "error": None if status == "ok" else "ValueError: x",
            "stages": {"e2e_per_sample": e2e}, "memory": {"peak_mb": peak, "peak_kind": "process_rss"},
            "input_size": {"requested": 48, "effective": 32 if fixed else 48, "fixed": fixed,
                           "note": "resized to the encoders' fixed 32 px" if fixed else None}}


def test_factorial_frame_joins_scores_and_profiles(tmp_path):
    from test_rq1_3_3 import first, write_score_files

    scores = [write_score_files(tmp_path, "m", "base", "res48_frames8", first(15)),
              write_score_files(tmp_path, "m", "base", "res48_frames4", {i: None for i in first(0)}),
              write_score_files(tmp_path, "m", "base", "clean", first(20))]  # not a resolution variant: ignored
    profiles = [_profile("m", "res48_frames8", fixed=True), _profile("m", "res48_frames4", status="unsupported")]
    frame = factorial_frame(scores, profiles)
    assert list(frame["variant"]) == ["res48_frames4", "res48_frames8"]
    good = frame.set_index("frames").loc[8]
    assert good["accuracy"] == pytest.approx(0.75) and good["latency_p50_ms"] == pytest.approx(100.0)
    assert good["fixed_size"] and "fixed 32 px" in good["size_note"] and good["effective_resolution"] == 32
    bad = frame.set_index("frames").loc[4]
    assert pd.isna(bad["accuracy"]) and bad["failed"] == 20 and pd.isna(bad["latency_p50_ms"])
    assert bad["profile_status"] == "unsupported" and bad["error"] == "ValueError: x"
    frame.to_csv(tmp_path / "f.csv", index=False)
    again = read_factorial(tmp_path / "f.csv")
    assert again["fixed_size"].tolist() == frame["fixed_size"].tolist() and again.loc[0, "size_note"] == ""
    with pytest.raises(RecordError, match="field 'config'"):
        factorial_frame([], [_profile("m", "default")])


def test_figures_summary_and_headline(points, tmp_path):
    heatmaps(points, tmp_path / "h.pdf", tmp_path / "h.png")
    for cost in ("latency", "memory"):
        pareto_figure(points, cost, tmp_path / f"{cost}.pdf", tmp_path / f"{cost}.png")
        assert (tmp_path / f"{cost}.pdf").read_bytes()[:4] == b"%PDF"
    assert (tmp_path / "h.png").stat().st_size > 1000
    recs = recommendations(points, {"low_latency": {"objective": "min_latency", "min_accuracy": 0.7},
                                    "impossible": {"objective": "max_accuracy", "min_accuracy": 0.99}})
    text = summary_section(points, recs, links=["results/tables/rq3_1_3/factorial.csv"])
    assert text.startswith("## RQ 3.1.3:")
    assert "- m2: resized to the encoders' fixed 224 px; its differences across resolutions are not a" in text
    assert "m3 at 224 px, 4 frames: failed (ValueError: chunk size 8)" in text
    assert "| low_latency | min_latency | min_accuracy 0.7 | **m1** at 224 px, 8 frames |" in text
    assert "| impossible | max_accuracy | min_accuracy 0.99 | infeasible: binding min_accuracy 0.99" in text
    assert "[factorial.csv](tables/rq3_1_3/factorial.csv)" in text
    headline = headline_frame(headline_rows(points, recs))
    best = headline[(headline["model"] == "m1") & (headline["measure"] == "factorial_best_accuracy")].iloc[0]
    assert best["value"] == pytest.approx(0.9) and best["detail"] == "448 px, 16 frames"
    assert headline[headline["model"] == "m3"]["value"].isna().all()
    assert "recommended_low_latency" in set(headline["measure"]) and "recommended_impossible" not in set(
        headline["measure"])


def test_analysis_never_imports_torch():
    code = "import sys, qvedbench.analysis.pareto, qvedbench.analysis.headroom; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# -- reduced workflow on a tiny model ------------------------------------------------------------------------------

FACTORIAL = dict(enabled=True, resolutions=[32, 48], frames=[4, 8], warmup=1, min_samples=2, min_seconds=0.0,
                 max_new_tokens=4, sample_interval_s=0.01,
                 scenarios={"low_latency": {"objective": "min_latency"},
                            "high_accuracy": {"objective": "max_accuracy"},
                            "balanced": {"objective": "balanced"},
                            "impossible": {"objective": "max_accuracy", "max_latency_ms": 0.001}})


def _config(workdir, run: str = "base"):
    cfg = reduced_demo_config()
    cfg.setdefault("questions", {})
    cfg["questions"]["rq3_1_3"] = dict(FACTORIAL, run=run)
    cfg["questions"]["rq3_2_1"] = dict(enabled=True, run=run)
    return cfg, write_config(workdir / "config.yaml", cfg)


def test_asking_for_the_heatmaps_plans_only_what_they_need(tmp_path):
    _, configfile = _config(tmp_path, run="baseline")
    jobs = planned_jobs(tmp_path, configfile, targets=("results/figures/rq3_1_3/heatmaps.pdf",))
    assert jobs.get("train_lora") == 1  # the configured run only
    assert jobs["rq3_1_3_variant"] == 4 and jobs["infer_generate"] == 4 and jobs["rq3_1_3_profile"] == 4
    assert jobs["evaluate_score"] == 4 and jobs["rq3_1_3_heatmaps_figure"] == 1
    assert not {"rq3_1_3_pareto_latency_figure", "rq3_1_3_summary", "rq3_2_1_table"} & set(jobs)
    headroom = planned_jobs(tmp_path, configfile, targets=("rq3_2_1",))
    assert headroom["infer_generate"] == 1 and "rq3_1_3_profile" not in headroom


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rq3_1_3")
    cfg, configfile = _config(workdir)
    run_workflow(workdir, configfile, targets=("rq3_1_3", "rq3_2_1"))
    return workdir, configfile, cfg


def test_workflow_outputs(workflow_run):
    workdir, configfile, cfg = workflow_run
    model = next(iter(cfg["models"]))
    results = workdir / "results"
    records = [json.loads(line) for line in (results / "data" / "variants" / "res48_frames8.jsonl").read_text().splitlines()]
    assert {(r["sample_resolution"], r["sample_frames"]) for r in records} == {(48, 8)}
    profile = json.loads((results / "profile" / model / "res48_frames8.json").read_text())
    assert profile["status"] == "ok" and profile["config"] == "res48_frames8"
    assert (profile["settings"]["resolution"], profile["settings"]["frames"]) == (48, 8)
    assert profile["input_size"]["requested"] == 48 and profile["input_size"]["fixed"] is False
    factorial = read_factorial(results / "tables" / "rq3_1_3" / "factorial.csv")
    assert len(factorial) == 4 and set(factorial["resolution"]) == {32, 48} and set(factorial["frames"]) == {4, 8}
    assert (factorial["latency_p50_ms"] > 0).all() and factorial["n"].sum() + factorial["failed"].sum() > 0
    recs = pd.read_csv(results / "tables" / "rq3_1_3" / "recommendations.csv").set_index("scenario")
    assert (recs.loc[["low_latency", "high_accuracy", "balanced"], "status"] == "optimal").all()
    assert recs.loc["impossible", "status"] == "infeasible" and "max_latency_ms" in recs.loc["impossible", "binding"]
    assert (results / "tables" / "rq3_1_3" / "pareto.tex").exists()
    headline = pd.read_csv(results / "tables" / "rq3_1_3" / "headline.csv")
    assert "factorial_best_accuracy" in set(headline["measure"])
    for figure in ("heatmaps", "pareto_latency", "pareto_memory"):
        assert (results / "figures" / "rq3_1_3" / f"{figure}.pdf").read_bytes()[:4] == b"%PDF"
        assert (results / "figures" / "rq3_1_3" / f"{figure}.png").exists()
    summary = (results / "summary" / "rq3_1_3.md").read_text()
    assert summary.startswith("## RQ 3.1.3:") and "(figures/rq3_1_3/heatmaps.png)" in summary
    headroom = pd.read_csv(results / "tables" / "rq3_2_1" / "headroom.csv")
    assert list(headroom["metric"]) == ["exercise_accuracy", "bertscore_f1"] and list(headroom["model"]) == [model] * 2
    assert (results / "figures" / "rq3_2_1" / "headroom.pdf").read_bytes()[:4] == b"%PDF"
    assert (results / "summary" / "rq3_2_1.md").read_text().startswith("## RQ 3.2.1:")
    assert pd.read_csv(results / "tables" / "rq3_2_1" / "headline.csv")["measure"].str.startswith("headroom_").any()


def test_finished_run_plans_nothing(workflow_run):
    workdir, configfile, _ = workflow_run
    assert planned_jobs(workdir, configfile, targets=("rq3_1_3", "rq3_2_1")) == {}
