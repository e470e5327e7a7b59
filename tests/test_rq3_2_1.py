"""RQ3.2.1 accuracy headroom on known numbers (the reduced workflow run is in test_rq3_1_3.py)."""
import pandas as pd
import pytest

from qvedbench.analysis.headroom import (headline_rows, headroom, headroom_figure, headroom_frame, model_room,
                                         most_room, read_headroom, summary_section)
from qvedbench.report.headline import headline_frame

THRESHOLDS = {"exercise_accuracy": 0.90, "bertscore_f1": 0.70}


def test_headroom_maths():
    above = headroom(0.95, 0.90, 0.92, 0.99)
    assert above["headroom"] == pytest.approx(0.05) and above["relative"] == pytest.approx(0.05 / 0.90)
    assert (above["ci_low"], above["ci_high"]) == (pytest.approx(0.02), pytest.approx(0.09))
    assert above["status"] == "above"
    assert headroom(0.85, 0.90, 0.80, 0.88)["status"] == "below"
    assert headroom(0.92, 0.90, 0.88, 0.96)["status"] == "uncertain"
    assert headroom(0.90, 0.90)["status"] == "above" and headroom(0.89, 0.90)["status"] == "below"  # no CI
    assert headroom(None, 0.9) == {"headroom": None, "ci_low": None, "ci_high": None, "relative": None,
                                   "status": "missing"}
    assert headroom(0.1, 0.0)["relative"] is None


def _scores(model, accuracy, bertscore, run="baseline"):
    entry = lambda m: None if m is None else {"mean": m, "ci_low": m - 0.03, "ci_high": m + 0.03,  # noqa: E731
                                               "n": 60, "failures": 0}
    metrics = {"exercise_accuracy": entry(accuracy), "bertscore_f1": entry(bertscore)}
    return {"model": model, "run": run, "variant": "clean", "n": 60,
            "metrics": {k: v for k, v in metrics.items() if v is not None}}


@pytest.fixture
def frame():
    return headroom_frame([_scores("a", 0.95, 0.80), _scores("b", 0.99, 0.72), _scores("c", 0.85, 0.90),
                           _scores("d", 0.97, None)], THRESHOLDS)


def test_headroom_frame_and_most_room(frame):
    assert list(frame["metric"][:2]) == ["exercise_accuracy", "bertscore_f1"]  # threshold order
    a = frame[frame["model"] == "a"].set_index("metric")
    assert a.loc["exercise_accuracy", "headroom"] == pytest.approx(0.05)
    assert a.loc["exercise_accuracy", "headroom_ci_low"] == pytest.approx(0.02)
    assert a.loc["bertscore_f1", "relative_headroom"] == pytest.approx(0.10 / 0.70)
    d = frame[frame["model"] == "d"].set_index("metric")
    assert d.loc["bertscore_f1", "status"] == "missing" and pd.isna(d.loc["bertscore_f1", "headroom"])
    room = model_room(frame).set_index("model")
    # a: min(0.05/0.9, 0.1/0.7) = 0.056 (accuracy); b: min(0.09/0.9, 0.02/0.7) = 0.029 (BERTScore)
    assert room.loc["a", "smallest_relative_headroom"] == pytest.approx(0.05 / 0.90)
    assert room.loc["b", "limiting_metric"] == "bertscore_f1"
    assert room.loc["c", "below"] == "exercise_accuracy" and not room.loc["c", "qualifies"]
    assert room.loc["d", "missing"] == "bertscore_f1" and not room.loc["d", "qualifies"]
    best = most_room(frame)
    assert best["model"] == "a" and best["limiting_metric"] == "exercise_accuracy"
    assert most_room(frame[frame["model"] == "c"]) is None


def test_bad_thresholds_are_refused():
    with pytest.raises(ValueError, match="no thresholds"):
        headroom_frame([_scores("a", 0.9, 0.8)], {})
    with pytest.raises(ValueError, match="'bertscore_f1' must be a number"):
        headroom_frame([_scores("a", 0.9, 0.8)], {"bertscore_f1": "high"})


def test_table_figure_summary_and_headline(frame, tmp_path):
    frame.to_csv(tmp_path / "h.csv", index=False)
    again = read_headroom(tmp_path / "h.csv")
    headroom_figure(again, tmp_path / "h.pdf", tmp_path / "h.png")
    assert (tmp_path / "h.pdf").read_bytes()[:4] == b"%PDF" and (tmp_path / "h.png").stat().st_size > 1000
    text = summary_section(again, links=["results/figures/rq3_2_1/headroom.png"])
    assert text.startswith("## RQ 3.2.1:")
    assert "Most room for compression: **a** (smallest relative headroom +5.6%, on exercise_accuracy)" in text
    assert "**c is below the minimum** on exercise_accuracy" in text and "d: no score for bertscore_f1" in text
    assert "| a | baseline | exercise_accuracy | 0.950 [0.920, 0.980] | 60 | 0 | 0.9 | +0.050 [+0.020, +0.080] |" \
        in text
    assert "[headroom.png](figures/rq3_2_1/headroom.png)" in text
    headline = headline_frame(headline_rows(again))
    row = headline[(headline["model"] == "a") & (headline["measure"] == "headroom_exercise_accuracy")].iloc[0]
    assert row["value"] == pytest.approx(0.05) and row["ci_low"] == pytest.approx(0.02) and row["n"] == 60
    missing = headline[(headline["model"] == "d") & (headline["measure"] == "headroom_bertscore_f1")].iloc[0]
    assert pd.isna(missing["value"]) and "not in the score file" in missing["note"]
