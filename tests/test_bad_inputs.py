"""Every item of the bad-input corpus (tests/bad_corpus.py) through the real entry points: prepare_dataset,
probe/load_frames, load_config, run_inference and score_predictions.

Each bad input either raises an error naming the file, record and field (or config key), or becomes a
per-sample problem row; nothing is dropped silently.
"""
from __future__ import annotations

import re
import subprocess
import tracemalloc
from pathlib import Path

import cv2
import numpy as np
import pytest

from bad_corpus import (
    ANNOTATIONS, CLASSES, CONFIGS, HUGE_FRAMES, MIN_FRAMES, PREDICTIONS, PROMPT, VFR_FRAMES, VIDEOS,
    build_bad_corpus,
)
from clip_fixtures import SYSTEM
from qvedbench import video
from qvedbench.config import ConfigError, load_config
from qvedbench.data import prepare_dataset
from qvedbench.infer import run_inference
from qvedbench.io import RecordError, read_jsonl
from qvedbench.metrics.score import score_predictions
from qvedbench.models import ModelSpec
from qvedbench.models.tiny import build_tiny_model
from qvedbench.video import VideoReadError, load_frames, probe

ROOT = Path(__file__).resolve().parent.parent
USABLE = sorted(name for name, case in VIDEOS.items() if case.problem is None)
UNUSABLE = sorted(name for name, case in VIDEOS.items() if case.problem is not None)
SIDE = 32


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_bad_corpus(tmp_path_factory.mktemp("bad"))


@pytest.fixture(params=["decord", "opencv"])
def decoder(request, monkeypatch):
    """Run a test with decord and again with the OpenCV fallback."""
    if request.param == "opencv":
        monkeypatch.setattr(video, "decord", None)
    return request.param


def ffmpeg_first_frame(path: Path, height: int, width: int) -> np.ndarray:
    """Frame 0 as the ffmpeg command line decodes it (it applies rotation metadata, like players do)."""
    raw = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-nostdin", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(height, width, 3)


# -- the corpus is what it claims ---------------------------------------------------------------------------

def test_corpus_items_have_the_property_they_stand_for(corpus):
    rotated = cv2.VideoCapture(str(corpus.video("rotated")))
    assert rotated.get(cv2.CAP_PROP_ORIENTATION_META) in (90, 270)
    times = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "frame=pts_time", "-of", "csv=p=0",
         str(corpus.video("vfr"))], check=True, capture_output=True, text=True).stdout.split()
    steps = np.round(np.diff([float(t.strip(",")) for t in times]), 3)
    assert len(times) == VFR_FRAMES and set(steps) >= {0.1, 0.033}  # 10 fps then 30 fps
    assert corpus.video("truncated").stat().st_size < corpus.video("good").stat().st_size
    assert (corpus.video_root / "squats" / "escape.mp4").resolve().parent == corpus.outside.resolve()


# -- videos ---------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", UNUSABLE)
def test_unusable_clip_raises_naming_the_file(corpus, decoder, name):
    case, path = VIDEOS[name], corpus.video(name)
    error = ValueError if case.problem == "too_short" else VideoReadError
    match = "too short" if case.problem == "too_short" else case.match
    with pytest.raises(error, match=match) as info:
        load_frames(path, num_frames=MIN_FRAMES, size=SIDE)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("name", USABLE)
def test_usable_clip_probes_and_loads(corpus, decoder, name):
    case, path = VIDEOS[name], corpus.video(name)
    info = probe(path)
    assert (info.height, info.width) == case.size
    frames = load_frames(path, num_frames=MIN_FRAMES, size=SIDE)
    assert frames.shape == (MIN_FRAMES, SIDE, SIDE, 3) and frames.dtype == np.uint8


def test_one_frame_clip_loads_when_one_frame_is_asked_for(corpus):
    assert load_frames(corpus.video("one_frame"), num_frames=1).shape == (1, 48, 64, 3)


def test_variable_frame_rate_is_sampled_by_frame_index(corpus, decoder):
    info = probe(corpus.video("vfr"))
    assert info.num_frames == VFR_FRAMES and 10 < info.fps < 30  # the average rate
    every_fifth = load_frames(corpus.video("vfr"), stride=5)
    assert every_fifth.shape[0] == VFR_FRAMES // 5


def test_rotated_clip_comes_out_upright_with_both_decoders(corpus, decoder):
    """Rotation metadata is applied: frames match what ffmpeg (and so a player) shows, portrait here."""
    path = corpus.video("rotated")
    frames = load_frames(path)
    expected = ffmpeg_first_frame(path, 64, 32)
    assert frames.shape[1:3] == (64, 32)
    assert np.abs(frames[0].astype(int) - expected).mean() < 3


def test_huge_clip_is_resized_frame_by_frame(corpus):
    """Only one full-size 4096x2160 frame is held at a time while loading resized frames."""
    one_frame = 4096 * 2160 * 3
    tracemalloc.start()
    try:
        frames = load_frames(corpus.video("huge"), num_frames=HUGE_FRAMES, size=SIDE)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert frames.shape == (HUGE_FRAMES, SIDE, SIDE, 3)
    assert peak < 1.5 * one_frame


# -- preparing the dataset -------------------------------------------------------------------------------------

def test_whole_corpus_prepares_with_each_bad_clip_a_problem_row(corpus, tmp_path):
    ann = corpus.annotation("all_videos")
    summary = prepare_dataset([ann], corpus.video_root, CLASSES, tmp_path, min_frames=MIN_FRAMES)
    problems = {p["id"]: p for p in read_jsonl(tmp_path / "problems.jsonl")}
    usable = {r["id"]: r for split in ("train", "val", "test") for r in read_jsonl(tmp_path / f"{split}.jsonl")}
    assert sorted(problems) == UNUSABLE and sorted(usable) == USABLE  # every record accounted for
    for name, problem in problems.items():
        case = VIDEOS[name]
        assert problem["reason"] == case.problem, name
        assert problem["source"] == ann.name and problem["video"] == str(corpus.video(name))
        assert re.search(case.match, problem["detail"]), (name, problem["detail"])
    for name, record in usable.items():
        assert (record["height"], record["width"]) == VIDEOS[name].size
    assert summary["excluded"] == len(UNUSABLE) and summary["usable"] == len(USABLE)


@pytest.mark.parametrize("name", sorted(ANNOTATIONS))
def test_bad_annotation_file_names_file_record_and_field(corpus, tmp_path, name):
    case, path = ANNOTATIONS[name], corpus.annotation(name)
    with pytest.raises(RecordError, match=case.match) as info:
        prepare_dataset([path], corpus.video_root, CLASSES, tmp_path / "out", min_frames=MIN_FRAMES)
    err = info.value
    assert (err.file, err.index, err.field) == (str(path), case.index, case.field)
    assert str(path) in str(err)
    assert not (tmp_path / "out").exists()  # nothing half-written


# -- configuration -------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_bad_config_names_the_file_and_key(corpus, name):
    case, path = CONFIGS[name], corpus.config(name)
    with pytest.raises(ConfigError) as info:
        load_config(ROOT / "config" / "demo.yaml", path)
    message = str(info.value)
    assert str(path) in message
    for text in case.match:
        assert text in message, (text, message)


# -- inference and scoring -------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny")
    path = build_tiny_model("qwen2_vl", root / "model", [f"{c} - knees caving in" for c in CLASSES] + [PROMPT, SYSTEM],
                            preset="s", seed=0)
    return ModelSpec(name="tiny", family="qwen2_vl", path=str(path), device="cpu", frames=MIN_FRAMES, resolution=SIDE)


@pytest.mark.parametrize("name", sorted(PREDICTIONS))
def test_bad_predictions_file_names_line_and_field(corpus, tmp_path, name):
    case, path = PREDICTIONS[name], corpus.predictions(name)
    with pytest.raises(RecordError, match=case.match) as info:
        score(path, tmp_path)
    assert (info.value.file, info.value.index, info.value.field) == (str(path), case.index, case.field)
    assert not list(tmp_path.iterdir())  # no scores written


def score(predictions: Path, out: Path) -> dict:
    """Score with the cheap metrics only (no embedding model is loaded)."""
    return score_predictions(predictions, out / "s.json", out / "s.jsonl", classes=CLASSES, model="tiny", run="base",
                             variant="clean", bertscore_model="unused", bertscore_layers=1, embedding_model="unused",
                             metrics=("exercise_accuracy", "rouge_l"), n_boot=50)


def test_inference_and_scoring_keep_every_clip(corpus, tiny, tmp_path):
    """Bad clips become error rows (prediction null), good ones are answered, and scoring counts the errors
    as failures instead of imputing them."""
    records = [{"id": name, "video": str(corpus.video(name)), "exercise": case.rel.split("/")[0],
                "reference": f"{case.rel.split('/')[0]} - knees caving in", "prompt": PROMPT}
               for name, case in sorted(VIDEOS.items())]
    out = tmp_path / "pred.jsonl"
    rows = run_inference(tiny, None, records, out, system_prompt=SYSTEM, batch_size=4, max_new_tokens=4, threads=1)
    assert [r["id"] for r in rows] == [r["id"] for r in records] == [r["id"] for r in read_jsonl(out)]
    for row in rows:
        if row["id"] in UNUSABLE:
            assert row["prediction"] is None and str(corpus.video(row["id"])) in row["error"], row
        else:
            assert isinstance(row["prediction"], str) and "error" not in row, row
    assert "too short" in next(r for r in rows if r["id"] == "one_frame")["error"]

    scores = score(out, tmp_path)
    for metric in ("exercise_accuracy", "rouge_l"):
        assert scores["metrics"][metric]["failures"] == len(UNUSABLE)
        assert scores["metrics"][metric]["n"] == len(USABLE)
    samples = {s["id"]: s for s in read_jsonl(tmp_path / "s.jsonl")}
    assert all(samples[name]["rouge_l"] is None and samples[name]["exercise_correct"] is None for name in UNUSABLE)
