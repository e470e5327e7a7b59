"""Exercise confusions: matrix, most-confused pairs, agreement across models, training counts, similarity."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from qvedbench.analysis.confusions import (DEFAULT_METADATA, UNPARSED, accuracy_vs_training, check_metadata,
                                           confusion_matrix, error_rate_agreement, most_confused_pairs,
                                           per_class_error_rate, read_exercise_predictions, similarity,
                                           similarity_test, training_counts)
from qvedbench.io import RecordError

CLASSES = ["squats", "lunges", "push-ups", "bicep curls"]


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _pairs():
    return ([("squats", "squats")] * 3 + [("squats", "lunges")] * 2 + [("lunges", "squats")] * 1
            + [("lunges", "lunges")] * 3 + [("push-ups", "push-ups")] * 4 + [("push-ups", None)]
            + [("bicep curls", "push-ups")] * 1 + [("bicep curls", "bicep curls")] * 4)


def test_confusion_matrix_error_rates_and_pairs():
    m = confusion_matrix(_pairs(), CLASSES)
    assert m.loc["squats", "lunges"] == 2 and m.loc["push-ups", UNPARSED] == 1 and m.values.sum() == 19
    rates = per_class_error_rate(m)
    assert rates["squats"] == pytest.approx(2 / 5) and rates["push-ups"] == pytest.approx(1 / 5)  # unparsed is wrong
    top = most_confused_pairs(m, top=2)
    assert list(zip(top.actual, top.predicted, top["count"])) == [("squats", "lunges", 2), ("bicep curls", "push-ups", 1)]
    assert top.rate[0] == pytest.approx(0.4)


def test_read_exercise_predictions_checks_classes(tmp_path):
    good = _write(tmp_path / "s.jsonl", [{"id": "a", "exercise": "squats", "predicted_exercise": None}])
    assert read_exercise_predictions(good, CLASSES) == [("squats", None)]
    bad = _write(tmp_path / "b.jsonl", [{"id": "a", "exercise": "squats", "predicted_exercise": "yoga"}])
    with pytest.raises(RecordError, match="b.jsonl, record 0, field 'predicted_exercise'"):
        read_exercise_predictions(bad, CLASSES)


def test_agreement_of_per_class_error_rates():
    rates = pd.DataFrame({"m1": [0.1, 0.2, 0.3, 0.4], "m2": [0.2, 0.3, 0.5, 0.9], "m3": [0.4, 0.3, 0.2, 0.1]},
                         index=CLASSES)
    agreement = error_rate_agreement(rates).set_index(["a", "b"])
    assert agreement.loc[("m1", "m2"), "spearman"] == pytest.approx(1.0)
    assert agreement.loc[("m1", "m3"), "kendall"] == pytest.approx(-1.0)
    assert agreement.loc[("m1", "m2"), "n_classes"] == 4


def test_training_counts_and_accuracy_correlation(tmp_path):
    rows = [{"exercise": c} for c, n in zip(CLASSES, (4, 3, 2, 1)) for _ in range(n)]
    counts = training_counts(_write(tmp_path / "train.jsonl", rows), CLASSES)
    assert counts.tolist() == [4, 3, 2, 1]
    rates = pd.DataFrame({"m": [0.0, 0.1, 0.5, 0.9], "flat": [0.2] * 4}, index=CLASSES)
    result = accuracy_vs_training(rates, counts)
    assert result["m"]["spearman"] == pytest.approx(1.0) and result["flat"]["spearman"] is None


def test_similarity_of_confused_pairs():
    metadata = check_metadata({}, CLASSES)
    assert set(metadata) == set(CLASSES)
    assert similarity(metadata, "squats", "lunges") == 3 and similarity(metadata, "squats", "push-ups") == 1
    result = similarity_test(confusion_matrix(_pairs(), CLASSES), metadata)
    # confused: squats-lunges (3 shared fields), bicep curls-push-ups (2); four other pairs
    assert (result["confused_pairs"], result["other_pairs"]) == (2, 4)
    assert result["mean_similarity_confused"] == pytest.approx(2.5)
    assert result["mean_similarity_confused"] > result["mean_similarity_other"]
    assert 0 <= result["mannwhitney_p"] <= 1 and result["missing_metadata"] == []


def test_metadata_validation_and_missing_classes():
    partial = {"squats": DEFAULT_METADATA["squats"]}
    assert list(check_metadata(partial, CLASSES)) == ["squats"]
    with pytest.raises(ValueError, match="lunges.*plane"):
        check_metadata({"lunges": {"body_region": "lower", "movement_pattern": "lunge", "posture": "standing"}}, CLASSES)
    result = similarity_test(confusion_matrix(_pairs(), CLASSES), check_metadata(partial, CLASSES))
    assert result["pairs"] == 0 and set(result["missing_metadata"]) == set(CLASSES) - {"squats"}


def test_analysis_and_summary_from_files(tmp_path):
    from qvedbench.analysis.confusions import analyse_confusions, confusions_markdown

    train = _write(tmp_path / "train.jsonl", [{"exercise": c} for c in CLASSES])
    scores = {("m", "base"): _write(tmp_path / "a.jsonl", [{"exercise": c, "predicted_exercise": None} for c in CLASSES]),
              ("m", "baseline"): _write(tmp_path / "b.jsonl", [{"exercise": a, "predicted_exercise": p}
                                                                for a, p in _pairs()])}
    analysis = analyse_confusions(scores, CLASSES, train, {}, top=3)
    assert analysis["unparsed"] == {"m/base": 4, "m/baseline": 1}
    assert analysis["similarity"]["m/base"]["confused_pairs"] == 0
    text = confusions_markdown(analysis)
    assert text.startswith("## RQ 4.1.2:")
    assert "**m/base** (n=4, 4 answers naming no class, counted as errors): no class was mistaken" in text
    assert "squats -> lunges (2, 40% of squats)" in text


def test_config_yaml_lists_the_built_in_metadata():
    from qvedbench.config import load_config
    from workflow_helpers import REPO

    config = load_config(REPO / "config" / "config.yaml")
    assert config["questions"]["rq4_1_2"]["metadata"] == DEFAULT_METADATA
