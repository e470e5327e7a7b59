"""RQ1.2 temporal analysis on known numbers, inference honouring per-record sampling, and a reduced workflow."""
import csv
import json

import numpy as np
import pandas as pd
import pytest

from qvedbench.analysis.temporal import (accuracy_heatmap, accuracy_vs_fps_figure, accuracy_vs_frames_figure,
                                         exercise_sensitivity, exercise_sensitivity_figure, mean_source_fps,
                                         minimum_configuration, per_exercise_frame, summary_section, temporal_frame)
from qvedbench import infer
from qvedbench.infer import _record_frames, run_inference
from qvedbench.models.base import ModelSpec
from qvedbench.io import read_jsonl, write_jsonl
from qvedbench.video import write_video
from test_rq1_3_3 import IDS, first, write_score_files
from workflow_helpers import planned_jobs, reduced_demo_config, run_workflow, write_config

# accuracy (out of 20 clips) per (frames, stride): more frames help up to 8, stride barely matters
GRID = {(2, 1): 8, (2, 2): 7, (4, 1): 16, (4, 2): 15, (8, 1): 17, (8, 2): 17}


@pytest.fixture
def known(tmp_path):
    paths = []
    for (frames, stride), k in GRID.items():
        per_class = {"squats": {"n": 10, "accuracy": k / 20, "ci_low": 0.0, "ci_high": 1.0},
                     "lunges": {"n": 10, "accuracy": 0.5 if frames == 2 else 0.6, "ci_low": 0.0, "ci_high": 1.0}}
        paths.append(write_score_files(tmp_path, "m", "baseline", f"frames{frames}_stride{stride}", first(k),
                                       per_class))
    paths.append(write_score_files(tmp_path, "m", "baseline", "clean", first(20)))  # not temporal: ignored
    return paths


def test_temporal_frame_on_known_numbers(known):
    frame = temporal_frame(known, source_fps=12.0)
    assert list(zip(frame["frames"], frame["stride"])) == sorted(GRID)
    assert frame["accuracy"].tolist() == pytest.approx([GRID[k] / 20 for k in sorted(GRID)])
    assert frame.set_index(["frames", "stride"]).loc[(4, 2), "fps"] == pytest.approx(6.0)
    assert temporal_frame(known)["fps"].isna().all()


def test_minimum_configuration_within_tolerance(known):
    loose = minimum_configuration(known, tolerance=0.1).iloc[0]
    assert (loose["best_frames"], loose["best_stride"], loose["best_accuracy"]) == (8, 1, pytest.approx(0.85))
    # 4 frames at stride 2 (0.75) is within 0.1 of 0.85, and cheaper than stride 1
    assert (loose["min_frames"], loose["min_frames_stride"]) == (4, 2)
    assert loose["diff"] == pytest.approx(-0.10) and loose["diff_ci_low"] < -0.10 < loose["diff_ci_high"]
    tight = minimum_configuration(known, tolerance=0.0).iloc[0]
    assert (tight["min_frames"], tight["min_frames_stride"]) == (8, 2)  # ties with the best, larger stride
    assert tight["fewest_frames_any_stride"] == 8 and tight["largest_stride_any_frames"] == 2
    with pytest.raises(ValueError):
        minimum_configuration(known, tolerance=-0.1)


def test_exercise_sensitivity(known):
    sensitivity = exercise_sensitivity(per_exercise_frame(known))
    assert sensitivity["exercise"].tolist() == ["squats", "lunges"]  # most sensitive first
    assert sensitivity["sensitivity"].tolist() == pytest.approx([(17 - 7) / 20, 0.1])
    assert sensitivity.iloc[0]["worst_config"] == "frames 2, stride 2"


def test_figures_and_summary(known, tmp_path):
    frame = temporal_frame(known, source_fps=12.0)
    frame.loc[0, "failures"] = 3
    for draw in (accuracy_vs_frames_figure, accuracy_vs_fps_figure, accuracy_heatmap):
        draw(frame, tmp_path / "f.pdf", tmp_path / "f.png")
        assert (tmp_path / "f.png").stat().st_size > 1000
    sensitivity = exercise_sensitivity(per_exercise_frame(known))
    exercise_sensitivity_figure(sensitivity, tmp_path / "s.pdf", tmp_path / "s.png")
    text = summary_section(frame, minimum_configuration(known, 0.1), sensitivity)
    assert text.startswith("## RQ 1.2:")
    assert "**4 frames at stride 2**" in text and "most frame-sensitive exercise is squats" in text
    assert "| m | baseline | 2 | 1 | 12.0 | 40.0% [" in text and "failed 3)" in text


def test_mean_source_fps(tmp_path):
    write_jsonl(tmp_path / "t.jsonl", [{"fps": 10.0}, {"fps": 14.0}, {"fps": None}])
    assert mean_source_fps(tmp_path / "t.jsonl") == pytest.approx(12.0)
    write_jsonl(tmp_path / "none.jsonl", [{"id": "x"}])
    assert mean_source_fps(tmp_path / "none.jsonl") is None


def test_inference_honours_per_record_sampling(tmp_path):
    # frame i is uniformly grey level 8 * i, so the decoded means reveal which frames were sampled
    frames = np.stack([np.full((16, 16, 3), 8 * i, dtype=np.uint8) for i in range(24)])
    write_video(frames, tmp_path / "clip.mp4", fps=12, crf=0)
    record = {"video": str(tmp_path / "clip.mp4")}
    levels = lambda clip: [round(f.mean() / 8) for f in clip]  # noqa: E731
    assert levels(_record_frames(record, 4, 16)) == [3, 9, 15, 21]  # the model's own uniform sampling
    strided = _record_frames({**record, "sample_frames": 3, "sample_stride": 4}, 4, 16)
    assert levels(strided) == [7, 11, 15]  # 3 frames 4 apart, the 9-frame window centred in 24
    with pytest.raises(ValueError, match="too short"):
        _record_frames({**record, "sample_frames": 8, "sample_stride": 4}, 4, 16)


class EightFrameAdapter:
    """Stands in for a model that only takes multiples of 8 frames (like Mobile-VideoGPT's chunks)."""

    model = type("Model", (), {"eval": lambda self: None})()

    def generate(self, videos, system, prompts, max_new_tokens):
        if any(len(v) % 8 for v in videos):
            raise ValueError("the frame count must be a multiple of 8")
        return [f"squats - {len(v)} frames" for v in videos]


def test_frames_a_model_refuses_become_failure_rows(tmp_path, monkeypatch):
    frames = np.zeros((40, 16, 16, 3), dtype=np.uint8)
    write_video(frames, tmp_path / "clip.mp4", fps=12)
    monkeypatch.setattr(infer, "load_adapter", lambda spec, checkpoint: EightFrameAdapter())
    base = {"video": str(tmp_path / "clip.mp4"), "exercise": "squats", "reference": "squats - ok", "prompt": "?"}
    spec = ModelSpec(name="m", family="qwen2_vl", path="unused", frames=8, resolution=16)
    records = [{**base, "id": f"c{frames}", "sample_frames": frames, "sample_stride": 2} for frames in (4, 8)]
    rows = run_inference(spec, None, records, tmp_path / "p.jsonl", system_prompt="", batch_size=1)
    assert rows[0]["prediction"] is None and "multiple of 8" in rows[0]["error"]
    assert rows[1]["prediction"] == "squats - 8 frames"
    # without a sampling override the same refusal is a bug, not a configuration failure: it propagates
    with pytest.raises(ValueError, match="multiple of 8"):
        run_inference(spec, None, [{**base, "id": "plain"}], tmp_path / "q.jsonl", system_prompt="", frames=4)


# -- reduced workflow -------------------------------------------------------------------------------------------

RQ = {"enabled": True, "frames": [2, 8], "strides": [4], "tolerance": 0.05}


@pytest.fixture(scope="module")
def rq_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rq1_2")
    config = reduced_demo_config()
    config["questions"] = {"rq1_2": RQ}
    configfile = write_config(workdir / "config.yaml", config)
    run_workflow(workdir, configfile, targets=("rq1_2",))
    return workdir, configfile, config


def test_reduced_workflow_outputs(rq_run):
    workdir, _, config = rq_run
    model = next(iter(config["models"]))
    res = workdir / "results"
    test = read_jsonl(res / "data" / "test.jsonl")
    records = read_jsonl(res / "data" / "variants" / "frames8_stride4.jsonl")
    assert [(r["sample_frames"], r["sample_stride"]) for r in records] == [(8, 4)] * len(test)
    # the reduced clips have 16 frames: 8 frames 4 apart need 29, so every clip fails, none is imputed
    preds = read_jsonl(res / "predictions" / model / "baseline" / "frames8_stride4.jsonl")
    assert all(p["prediction"] is None and "too short" in p["error"] for p in preds)
    preds = read_jsonl(res / "predictions" / model / "baseline" / "frames2_stride4.jsonl")
    assert all(isinstance(p["prediction"], str) for p in preds)
    rows = {(r["frames"], r["stride"]): r for r in csv.DictReader(open(res / "tables" / "rq1_2" / "accuracy.csv"))}
    assert set(rows) == {("2", "4"), ("8", "4")}
    assert rows[("8", "4")]["failures"] == str(len(test)) and rows[("8", "4")]["accuracy"] == ""
    fps = float(config["dataset"]["synthetic"]["fps"])
    assert float(rows[("2", "4")]["fps"]) == pytest.approx(fps / 4)
    for name in ("accuracy_vs_frames", "accuracy_vs_fps", "accuracy_heatmap", "exercise_sensitivity"):
        for ext in ("pdf", "png"):
            assert (res / "figures" / "rq1_2" / f"{name}.{ext}").stat().st_size > 1000
    summary = (res / "summary" / "rq1_2.md").read_text()
    assert summary.startswith("## RQ 1.2:") and f"failed {len(test)})" in summary


def test_one_figure_plans_only_what_it_needs(rq_run, tmp_path):
    workdir, _, config = rq_run
    config = {**config, "questions": {"rq1_2": {**RQ, "strides": [1, 4]}}}
    configfile = write_config(tmp_path / "more.yaml", config)
    jobs = planned_jobs(workdir, configfile, targets=("results/figures/rq1_2/accuracy_heatmap.pdf",))
    # one new stride x two frame counts: two variants, predictions and scores, then the table and this figure
    assert jobs == {"rq1_2_variant": 2, "infer_generate": 2, "evaluate_score": 2, "rq1_2_table": 1,
                    "rq1_2_accuracy_heatmap_figure": 1}


def test_summary_when_every_clip_fails(tmp_path):
    path = write_score_files(tmp_path, "m", "baseline", "frames32_stride4", {i: None for i in IDS})
    frame = temporal_frame([path])
    minimum = minimum_configuration([path], tolerance=0.02)
    assert frame.iloc[0]["failures"] == 20 and minimum.empty and "min_frames" in minimum.columns
    text = summary_section(frame, minimum, exercise_sensitivity(per_exercise_frame([path])))
    assert "m (baseline): no configuration could be scored" in text and "n/a (n=0, failed 20)" in text
