"""Form-error detection in feedback text, P/R/F1 on a known case, confusion, PR curves, localisation."""
from __future__ import annotations

import json

import pytest

from qvedbench.analysis.error_text import DEFAULT_TAXONOMY, ErrorDetector, overlaps, time_mentions
from qvedbench.analysis.form_errors import (detect_predictions, error_confusion, error_metrics,
                                            localisation_summary, pr_curves)
from qvedbench.io import RecordError
from qvedbench.synth.exercises import EXERCISES
from qvedbench.synth.feedback import GOOD_FORM, feedback_options

ERRORS = list(DEFAULT_TAXONOMY)


@pytest.fixture(scope="module")
def detector():
    return ErrorDetector()


@pytest.mark.parametrize("text, expected", [
    ("knees caving in; push them out over your toes", ["knee_valgus"]),
    ("Watch your knees, they cave in", ["knee_valgus"]),
    ("no knee valgus", []),
    ("knees stay out over the toes", []),
    ("the knees don't cave in at all", []),
    ("There is no sign of knee valgus, but the hips sag", ["poor_alignment"]),
    ("Knees never collapse inward; however the torso tips forward", ["forward_lean"]),
    ("not going deep enough - lower your hips", ["incomplete_rom"]),
    ("good depth, not stopping short", []),
    ("squats - knees caving in. also, leaning too far forward; keep your chest up", ["knee_valgus", "forward_lean"]),
    ("Push-ups with sagging hips and half reps", ["incomplete_rom", "poor_alignment"]),
])
def test_detection_on_hand_written_sentences(detector, text, expected):
    assert sorted(detector.detect(text).errors) == sorted(expected)


def test_negated_matches_are_reported_separately(detector):
    found = detector.detect("no knee valgus")
    assert found.score("knee_valgus") == 0 and "knee valgus" in found.negated["knee_valgus"]


def test_every_synthetic_wording_is_detected_and_good_form_is_not(detector):
    for name, exercise in EXERCISES.items():
        for error in exercise.errors:
            for text in feedback_options(name, error):
                assert detector.detect(text).errors == [error], (name, text)
    for text in GOOD_FORM:
        assert detector.detect(text).errors == [], text


def test_custom_taxonomy_and_bad_phrases():
    detector = ErrorDetector({"heel_lift": ["heels lift", "heels come up"]})
    assert detector.error_ids == ["heel_lift"]
    assert detector.detect("your heels come up off the floor").errors == ["heel_lift"]
    with pytest.raises(ValueError, match="heel_lift"):
        ErrorDetector({"heel_lift": []})
    with pytest.raises(ValueError, match="one clause"):
        ErrorDetector({"heel_lift": ["heels; lift"]})


def test_time_mentions_in_frames_and_seconds():
    text = "knees cave at frame 12, frames 20-24, around 2 s, between 1 and 2.5 seconds, at 0:03"
    assert time_mentions(text, 10) == [(12, 12), (20, 24), (20, 20), (10, 25), (30, 30)]
    assert time_mentions(text, None) == [(12, 12), (20, 24)]
    assert time_mentions("good form", 10) == []
    assert overlaps([(12, 12)], [[5, 11]], tolerance=1) and not overlaps([(12, 12)], [[5, 10]], tolerance=1)


def _row(actual, predicted, scores=None):
    return {"actual": actual, "predicted": predicted, "mentions": [], "localised": None,
            "scores": scores if scores is not None else ({e: int(e in predicted) for e in ERRORS} if predicted is not None else None)}


def test_precision_recall_f1_on_a_known_case():
    rows = ([_row(["knee_valgus"], ["knee_valgus"])] * 3 + [_row(["knee_valgus"], [])] * 1
            + [_row([], ["knee_valgus"])] * 2 + [_row([], [])] * 4 + [_row(["knee_valgus"], None)])
    metrics = {m["error"]: m for m in error_metrics(rows, ERRORS, n_boot=300, seed=1)}
    kv = metrics["knee_valgus"]
    assert (kv["tp"], kv["fp"], kv["fn"], kv["tn"]) == (3, 2, 1, 4)
    assert kv["precision"] == pytest.approx(3 / 5) and kv["recall"] == pytest.approx(3 / 4)
    assert kv["f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert kv["precision_ci_low"] <= kv["precision"] <= kv["precision_ci_high"]
    assert kv["n"] == 10 and kv["failures"] == 1  # the failed prediction is counted, not scored
    assert metrics["forward_lean"]["precision"] is None and metrics["forward_lean"]["recall"] is None
    assert metrics["all (micro)"]["tp"] == 3
    again = {m["error"]: m for m in error_metrics(rows, ERRORS, n_boot=300, seed=1)}
    assert again == metrics


def test_confusion_counts_co_occurrences():
    rows = [_row(["knee_valgus"], ["knee_valgus"]), _row(["knee_valgus", "forward_lean"], ["forward_lean"]),
            _row([], []), _row([], ["poor_alignment"]), _row(["knee_valgus"], None)]
    m = error_confusion(rows, ERRORS)
    assert m.loc["knee_valgus", "knee_valgus"] == 1 and m.loc["knee_valgus", "forward_lean"] == 1
    assert m.loc["forward_lean", "forward_lean"] == 1 and m.loc["none", "none"] == 1
    assert m.loc["none", "poor_alignment"] == 1 and m.values.sum() == 5


def test_pr_curve_over_phrase_counts():
    rows = [_row(["knee_valgus"], ["knee_valgus"], {**dict.fromkeys(ERRORS, 0), "knee_valgus": 2}),
            _row(["knee_valgus"], ["knee_valgus"], {**dict.fromkeys(ERRORS, 0), "knee_valgus": 1}),
            _row([], ["knee_valgus"], {**dict.fromkeys(ERRORS, 0), "knee_valgus": 1}),
            _row([], [], dict.fromkeys(ERRORS, 0))]
    curves = pr_curves(rows, ERRORS)
    kv = curves["knee_valgus"]
    assert kv["positives"] == 2 and 0 < kv["average_precision"] <= 1
    at_one = kv["thresholds"].index(1.0)
    assert kv["precision"][at_one] == pytest.approx(2 / 3) and kv["recall"][at_one] == 1.0  # three flagged, two right
    assert curves["forward_lean"] is None


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_detect_predictions_labels_failures_and_localisation(tmp_path, detector):
    rows = [
        {"id": "a", "exercise": "squats", "reference": "squats - good form", "prediction":
         "squats - knees caving in around frame 14", "errors": ["knee_valgus"], "error_frames": {"knee_valgus": [[12, 20]]}},
        {"id": "b", "exercise": "squats", "reference": "squats - leaning too far forward",
         "prediction": "squats - forward lean at 3 s"},
        {"id": "c", "exercise": "squats", "reference": "squats - good form", "prediction": None, "error": "boom"},
        {"id": "d", "exercise": "squats", "reference": "x", "prediction": "knees cave in at 0.5 s",
         "errors": ["knee_valgus"], "error_frames": {"knee_valgus": [[30, 40]]}},
    ]
    out = detect_predictions(_write(tmp_path / "p.jsonl", rows), detector, {"d": 10.0}, tolerance_s=0.5)
    a, b, c, d = out
    assert a["label_source"] == "annotation" and a["actual"] == ["knee_valgus"] and a["localised"] is True
    assert b["label_source"] == "text" and b["actual"] == ["forward_lean"] and b["predicted"] == ["forward_lean"]
    assert b["mentions"] == [] and b["localised"] is None  # seconds need the clip's fps
    assert c["predicted"] is None and c["scores"] is None
    assert d["mentions"] == [[5.0, 5.0]] and d["localised"] is False
    summary = localisation_summary(out)
    assert (summary["n"], summary["failures"], summary["evaluable"], summary["hits"]) == (3, 1, 2, 1)
    assert summary["accuracy"] == 0.5 and summary["ci_low"] < 0.5 < summary["ci_high"]


@pytest.mark.parametrize("bad, field", [({"errors": "knee_valgus"}, "errors"), ({"errors": ["bogus"]}, "errors"),
                                        ({"error_frames": {"knee_valgus": [[1]]}}, "error_frames"),
                                        ({"reference": None}, "reference")])
def test_bad_rows_name_file_record_and_field(tmp_path, detector, bad, field):
    good = {"id": "a", "reference": "r", "prediction": "p"}
    path = _write(tmp_path / "p.jsonl", [good, {**good, "id": "b", **bad}])
    with pytest.raises(RecordError, match=rf"p.jsonl, record 1, field '{field}'"):
        detect_predictions(path, detector)


def test_summary_states_findings_with_cis_and_failures():
    from qvedbench.analysis.form_errors import analyse_form_errors, form_errors_markdown

    good = [_row(["knee_valgus"], ["knee_valgus"])] * 4 + [_row([], [])] * 4 + [_row([], None)]
    silent = [_row(["knee_valgus"], [])] * 4 + [_row([], [])] * 4
    for row in good + silent:
        row["label_source"] = "annotation"
    analysis = analyse_form_errors({("m", "tuned"): good, ("m", "base"): silent}, ERRORS, n_boot=100)
    text = form_errors_markdown(analysis)
    assert text.startswith("## RQ 2.1.1:")
    assert "Best pooled (micro) F1: **m/tuned** with 1.000 [1.000, 1.000] (95% bootstrap CI, n=8, 1 failed" in text
    assert "| m/base | all (micro) | n/a | 0.000 [0.000, 0.000] |" in text
    zero = form_errors_markdown(analyse_form_errors({("m", "base"): silent}, ERRORS, n_boot=100))
    assert "No model/run detects any form error correctly" in zero


def test_config_yaml_lists_the_built_in_taxonomy():
    from qvedbench.config import load_config
    from workflow_helpers import REPO

    taxonomy = load_config(REPO / "config" / "config.yaml")["questions"]["rq2_1_1"]["taxonomy"]
    assert {error: tuple(phrases) for error, phrases in taxonomy.items()} == DEFAULT_TAXONOMY
