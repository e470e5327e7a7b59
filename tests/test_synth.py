"""Tests for qvedbench.synth: the plan (errors, split, feedback), the written QVED files, determinism,
resuming, and that classes and errors are visible in the pixels."""
from __future__ import annotations

import itertools
import json
from collections import Counter, defaultdict

import numpy as np
import pytest

from qvedbench.synth import (
    DEFAULT_CLASSES, ERRORS, EXERCISES, PROMPT, ClipStyle, class_dir, contact_sheet, generate_dataset, plan_clips,
    render_clip,
)
from qvedbench.synth.dataset import assign_errors, stratified_split
from qvedbench.synth.errors import visible_ranges
from qvedbench.synth.feedback import GOOD_FORM, compose_feedback, feedback_options
from qvedbench.synth.render import clip_phases
from qvedbench.video import load_frames, probe

SMALL = dict(classes=["squats", "push-ups", "bicep curls"], clips_per_class=4, size=64, fps=8, seconds=2.0,
             seed=7, workers=1)
SMALL_FRAMES = 16


@pytest.fixture(scope="module")
def small_dataset(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth") / "ds"
    summary = generate_dataset(out, **SMALL)
    return out, summary


def plan(**overrides):
    kwargs = dict(classes=DEFAULT_CLASSES, clips_per_class=100, error_rate=0.6, double_error_rate=0.0, seed=42,
                  seconds=3.0, fps=12, split=(0.6, 0.2, 0.2))
    kwargs.update(overrides)
    return plan_clips(kwargs.pop("classes"), kwargs.pop("clips_per_class"), **kwargs)


# -- classes, errors, feedback -----------------------------------------------------------------------------

def test_default_classes_look_like_qved():
    assert len(DEFAULT_CLASSES) >= 6
    assert any("-" in c for c in DEFAULT_CLASSES) and any(" " in c for c in DEFAULT_CLASSES)
    assert {"knee_valgus", "forward_lean", "incomplete_rom", "poor_alignment"} <= set(ERRORS)
    for name, exercise in EXERCISES.items():
        assert exercise.errors and set(exercise.errors) <= set(ERRORS), name
        for error in exercise.errors:
            assert feedback_options(name, error), (name, error)


def test_class_dir_slugs():
    assert class_dir("single-leg deadlift") == "single_leg_deadlift"
    assert class_dir("Push-Ups") == "push_ups"
    with pytest.raises(ValueError):
        class_dir("--")


def test_every_class_and_error_is_planned():
    clips = plan()
    assert {c.class_name for c in clips} == set(DEFAULT_CLASSES)
    assert {e for c in clips for e in c.errors} == set(ERRORS)
    for c in clips:
        assert set(c.errors) <= set(EXERCISES[c.class_name].errors)
    assert len({c.id for c in clips}) == len(clips)


def test_error_assignment_counts():
    rng = np.random.default_rng(0)
    errors = assign_errors(("a", "b", "c"), 20, 0.6, 0.0, rng)
    assert len(errors) == 20 and sum(1 for e in errors if not e) == 8
    assert Counter(e for es in errors for e in es) == {"a": 4, "b": 4, "c": 4}
    doubles = assign_errors(("a", "b", "c"), 20, 0.6, 0.5, rng)
    assert sum(len(e) == 2 for e in doubles) == 6
    assert all(len(set(e)) == len(e) for e in doubles)


def test_feedback_is_nonempty_and_varied():
    clips = plan()
    by_error: dict[tuple, set] = defaultdict(set)
    for c in clips:
        assert c.feedback.strip()
        by_error[c.errors].add(c.feedback)
    assert by_error[()] <= set(GOOD_FORM) and len(by_error[()]) >= 3
    for error in ERRORS:
        assert len(by_error[(error,)]) >= 3, error


def test_feedback_for_two_errors_mentions_both():
    text = compose_feedback("squats", ["knee_valgus", "forward_lean"], np.random.default_rng(1))
    first, second = text.split(". also, ")
    assert first in feedback_options("squats", "knee_valgus")
    assert second in feedback_options("squats", "forward_lean")
    with pytest.raises(ValueError, match="does not apply"):
        compose_feedback("push-ups", ["knee_valgus"], np.random.default_rng(1))


# -- split -------------------------------------------------------------------------------------------------

def test_split_ratios_and_stratification():
    clips = plan()
    total = Counter(c.split for c in clips)
    assert set(total) == {"train", "val", "test"}
    for split, fraction in zip(("train", "val", "test"), (0.6, 0.2, 0.2)):
        assert abs(total[split] - fraction * len(clips)) <= 4
    strata: dict[tuple, Counter] = defaultdict(Counter)
    for c in clips:
        strata[(c.class_name, c.errors)][c.split] += 1
    for key, counts in strata.items():
        n = sum(counts.values())
        for split, fraction in zip(("train", "val", "test"), (0.6, 0.2, 0.2)):
            assert abs(counts[split] - fraction * n) <= 1, (key, counts)


def test_split_of_tiny_strata_is_right_on_average():
    keys = list(range(3000))  # 3000 strata of one item each
    counts = Counter(stratified_split(keys, (0.6, 0.2, 0.2), np.random.default_rng(3)))
    assert abs(counts["val"] / 3000 - 0.2) < 0.03 and abs(counts["test"] / 3000 - 0.2) < 0.03


def test_plan_is_deterministic_and_seed_dependent():
    assert plan(clips_per_class=10) == plan(clips_per_class=10)
    assert [c.feedback for c in plan(clips_per_class=10, seed=1)] != [c.feedback for c in plan(clips_per_class=10)]


def test_a_clip_does_not_depend_on_the_other_classes():
    alone = plan(classes=["lunges"], clips_per_class=5)
    together = [c for c in plan(clips_per_class=5) if c.class_name == "lunges"]
    assert [(c.id, c.errors, c.style, c.feedback) for c in alone] == \
        [(c.id, c.errors, c.style, c.feedback) for c in together]


# -- written files -----------------------------------------------------------------------------------------

def test_qved_json_shapes(small_dataset):
    out, summary = small_dataset
    annotations = json.loads((out / "annotations.json").read_text())
    ground_truth = json.loads((out / "ground_truth.json").read_text())
    manifest = json.loads((out / "synth_manifest.json").read_text())
    assert len(annotations) == len(ground_truth) == 12 == summary["clips"]
    for record, truth in zip(annotations, ground_truth):
        assert set(record) == {"video", "conversations", "split", "errors", "error_frames"}
        human, gpt = record["conversations"]
        assert human == {"from": "human", "value": PROMPT}
        assert gpt["from"] == "gpt"
        label, feedback = gpt["value"].split(" - ", 1)
        assert label in SMALL["classes"] and feedback.strip()
        assert record["video"].startswith(class_dir(label) + "/") and record["video"].endswith(".mp4")
        assert record["split"] in ("train", "val", "test")
        assert truth == {"video_path": record["video"], "labels": [label, *record["errors"]],
                         "labels_descriptive": feedback}
        info = probe(out / "videos" / record["video"])
        assert (info.num_frames, info.width, info.height) == (SMALL_FRAMES, 64, 64)
        assert info.fps == pytest.approx(SMALL["fps"])
    assert manifest["params"]["seed"] == SMALL["seed"] and manifest["summary"]["clips"] == 12
    assert summary["rendered"] == 12 and summary["wall_time_s"] > 0


def test_error_frames_lie_inside_the_clip(small_dataset):
    out, _ = small_dataset
    for record in json.loads((out / "annotations.json").read_text()):
        assert set(record["error_frames"]) == set(record["errors"])
        for ranges in record["error_frames"].values():
            assert ranges
            for start, end in ranges:
                assert 0 <= start <= end < SMALL_FRAMES


def test_visible_ranges():
    assert visible_ranges(np.array([0.6, 0.7, 0.2, 0.5, 0.1, 0.9])) == [[0, 1], [3, 3], [5, 5]]
    assert visible_ranges(np.array([0.1, 0.2])) == []


def test_same_seed_gives_identical_files_and_resume_skips_done_videos(small_dataset, tmp_path):
    out, _ = small_dataset
    again = tmp_path / "again"
    generate_dataset(again, **{**SMALL, "workers": 2})  # also exercises the process pool
    for name in ("annotations.json", "ground_truth.json", "synth_manifest.json"):
        assert (again / name).read_bytes() == (out / name).read_bytes(), name
    videos = sorted(p.relative_to(out) for p in (out / "videos").rglob("*.mp4"))
    assert len(videos) == 12
    for rel in videos:
        assert np.array_equal(load_frames(out / rel), load_frames(again / rel)), rel

    victim = again / videos[0]
    victim.unlink()
    assert generate_dataset(again, **SMALL)["rendered"] == 1
    assert victim.exists()
    assert generate_dataset(again, **{**SMALL, "crf": 30})["rendered"] == 12  # new parameters: re-render


def test_different_seed_changes_the_dataset(small_dataset, tmp_path):
    out, _ = small_dataset
    other = plan_clips(SMALL["classes"], 4, error_rate=0.6, double_error_rate=0.0, seed=8, seconds=2.0, fps=8,
                       split=(0.6, 0.2, 0.2))
    annotations = json.loads((out / "annotations.json").read_text())
    assert [c.feedback for c in other] != [r["conversations"][1]["value"].split(" - ", 1)[1] for r in annotations]


@pytest.mark.parametrize("kwargs, match", [
    (dict(classes=["yoga"]), "unknown exercise"),
    (dict(size=63), "even"),
    (dict(split=(0.5, 0.2, 0.2)), "split"),
    (dict(error_rate=1.5), "error_rate"),
])
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=match):
        generate_dataset(tmp_path, **kwargs)


def test_contact_sheet(small_dataset, tmp_path):
    out, _ = small_dataset
    png = contact_sheet(out, tmp_path / "sheet.png", per_class=2, frames=4, frame_size=32)
    import cv2

    image = cv2.imread(str(png))
    assert image.shape[1] == 4 * 32 and image.shape[0] > 6 * 32


# -- the pixels carry the labels ---------------------------------------------------------------------------

def _figure_masks(name: str, seed: int, frames: int = 8, size: int = 64) -> np.ndarray:
    fps = frames / 3.0
    style = ClipStyle.sample(np.random.default_rng(seed), name, 3.0, fps)
    clip = render_clip(name, style, (), size, frames, fps).astype(int)
    return np.abs(clip - np.array(style.background)).max(axis=-1) > 50


def test_classes_differ_at_64px_and_8_frames():
    """The same person and camera doing two exercises sweep clearly different regions of the frame."""
    for seed in (0, 1):
        footprints = {name: _figure_masks(name, seed).mean(axis=0) for name in EXERCISES}
        for a, b in itertools.combinations(EXERCISES, 2):
            overlap = np.minimum(footprints[a], footprints[b]).sum() / np.maximum(footprints[a], footprints[b]).sum()
            assert overlap < 0.65, (a, b, overlap)


def test_push_ups_are_horizontal_and_squats_upright():
    for name, horizontal in (("push-ups", True), ("squats", False), ("jumping jacks", False)):
        mask = _figure_masks(name, 0)[0]
        rows, cols = np.nonzero(mask)
        width, height = np.ptp(cols), np.ptp(rows)
        assert (width > 1.5 * height) == horizontal, name


@pytest.mark.parametrize("name", list(EXERCISES))
def test_errors_show_exactly_in_the_annotated_frames(name):
    """Rendered with and without an error, a clip is pixel-identical outside the error's ramp and clearly
    different in the annotated frames."""
    frames, fps, size = 24, 8.0, 64
    style = ClipStyle.sample(np.random.default_rng(5), name, 3.0, fps)
    phases = clip_phases(style, frames, fps)
    annotated = np.zeros(frames, bool)
    for start, end in visible_ranges(phases):
        annotated[start:end + 1] = True
    assert annotated.any() and (phases <= 0.35).any()
    clean = render_clip(name, style, (), size, frames, fps).astype(int)
    for error in EXERCISES[name].errors:
        faulty = render_clip(name, style, (error,), size, frames, fps).astype(int)
        changed = (np.abs(faulty - clean).max(axis=-1) > 40).sum(axis=(1, 2))
        assert changed[phases <= 0.35].max() == 0, error
        assert changed[annotated].mean() >= 15, (error, changed[annotated])
