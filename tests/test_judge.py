"""Judge parsing, the rubric sanity baseline, the resumable judge runner and its aggregates (no model)."""
import json

import pytest

from qvedbench.io import RecordError, read_jsonl
from qvedbench.judge import (
    SCORE_KEYS,
    JudgeParseError,
    judge_predictions,
    make_backend,
    parse_judge_reply,
    summarise_judgements,
)
from qvedbench.judge.base import ChatJudgeBackend
from qvedbench.judge.rubric import RubricJudge

CLASSES = ["squats", "lunges", "push-ups"]
GOOD = {"clinical_accuracy": 4, "actionability": 3, "root_cause": 2, "completeness": 5, "overall": 3.5, "holistic": 4}


# -- parsing -------------------------------------------------------------------------------------------------

def test_parse_strict_reply():
    parsed = parse_judge_reply(json.dumps({**GOOD, "rationale": "fine"}))
    assert parsed.scores == GOOD and parsed.parse_mode == "strict" and parsed.rationale == "fine"


def test_parse_fallback_extracts_first_object_from_prose_and_fences():
    text = "Sure! Here is my grade:\n```json\n" + json.dumps(GOOD) + "\n```\nHope that helps {not json}"
    parsed = parse_judge_reply(text)
    assert parsed.scores == GOOD and parsed.parse_mode == "extracted"


def test_parse_skips_a_leading_brace_that_is_not_json():
    parsed = parse_judge_reply("{oops} then " + json.dumps(GOOD))
    assert parsed.scores["completeness"] == 5


@pytest.mark.parametrize("text, reason", [
    (None, "empty"),
    ("   ", "empty"),
    ("I would give it a 4 out of 5.", "no JSON object"),
    ('{"clinical_accuracy": 4, "actionability": 3}', "missing keys"),
    (json.dumps({**GOOD, "root_cause": 6}), "outside"),
    (json.dumps({**GOOD, "root_cause": 0}), "outside"),
    (json.dumps({**GOOD, "completeness": 3.5}), "whole number"),
    (json.dumps({**GOOD, "actionability": "4"}), "must be a number"),
    (json.dumps({**GOOD, "holistic": True}), "must be a number"),
    (json.dumps({**GOOD, "overall": float("nan")}).replace("NaN", "NaN"), "outside"),
    ('{"clinical_accuracy": 4, "actionability": 3,', "no JSON object"),
])
def test_parse_rejects_malformed_or_missing(text, reason):
    with pytest.raises(JudgeParseError, match=reason):
        parse_judge_reply(text)


def test_parse_accepts_whole_floats_and_fractional_overall():
    parsed = parse_judge_reply(json.dumps({**GOOD, "actionability": 3.0, "overall": 2.25}))
    assert parsed.scores["actionability"] == 3 and isinstance(parsed.scores["actionability"], int)
    assert parsed.scores["overall"] == 2.25


# -- a scripted chat judge: failures recorded with the raw text, never imputed --------------------------------

class ScriptedJudge(ChatJudgeBackend):
    name = "scripted"

    def __init__(self, replies):
        self.replies, self.model, self.calls = dict(replies), "scripted-1", []

    def complete(self, messages):
        user = messages[-1]["content"]
        self.calls.append(user)
        return next(reply for key, reply in self.replies.items() if key in user)


def write_predictions(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def prediction(i, prediction, exercise="squats", errors=None):
    row = {"id": f"clip{i}", "exercise": exercise, "reference": f"{exercise} - knees caving in; push them out",
           "prediction": prediction, "variant": "clean"}
    if errors is not None:
        row["errors"] = errors
    return row


def test_chat_judge_records_parse_failures_with_raw_text(tmp_path):
    preds = write_predictions(tmp_path / "p.jsonl", [prediction(0, "alpha"), prediction(1, "beta"),
                                                     prediction(2, None)])
    judge = ScriptedJudge({"alpha": json.dumps(GOOD), "beta": "the form is great, 5/5"})
    rows = judge_predictions(preds, tmp_path / "j.jsonl", judge, context={"model": "m", "run": "r", "variant": "clean"})
    assert [r["status"] for r in rows] == ["ok", "failed", "failed"]
    assert rows[0]["overall"] == 3.5 and rows[0]["model"] == "m" and rows[0]["prediction"] == "alpha"
    assert rows[1]["raw"] == "the form is great, 5/5" and "unparseable" in rows[1]["error"]
    assert all(rows[1][k] is None for k in SCORE_KEYS)
    assert rows[2]["error"] == "no prediction to judge" and len(judge.calls) == 2
    summary = summarise_judgements(rows, n_boot=200, seed=1)
    assert summary["n"] == 3 and summary["failures"] == 2 and summary["failure_rate"] == pytest.approx(2 / 3)
    assert summary["scores"]["overall"] == {"mean": 3.5, "ci_low": 3.5, "ci_high": 3.5, "n": 1, "failures": 2}
    assert summary["backend"] == "scripted" and summary["sanity_baseline"] is False


def test_judge_resumes_after_a_crash_and_keeps_order(tmp_path):
    preds = write_predictions(tmp_path / "p.jsonl", [prediction(i, f"answer{i}") for i in range(4)])
    out = tmp_path / "j.jsonl"

    class Crashing(ScriptedJudge):
        def complete(self, messages):
            if "answer2" in messages[-1]["content"]:
                raise KeyboardInterrupt
            return super().complete(messages)

    replies = {f"answer{i}": json.dumps(GOOD) for i in range(4)}
    with pytest.raises(KeyboardInterrupt):
        judge_predictions(preds, out, Crashing(replies))
    assert not out.exists() and len(read_jsonl(out.with_name("j.jsonl.partial"))) == 2
    second = ScriptedJudge(replies)
    rows = judge_predictions(preds, out, second)
    assert [r["id"] for r in rows] == [f"clip{i}" for i in range(4)]
    assert len(second.calls) == 2 and "answer2" in second.calls[0]


def test_partial_rows_of_another_judge_are_discarded(tmp_path):
    preds = write_predictions(tmp_path / "p.jsonl", [prediction(0, "alpha")])
    out = tmp_path / "j.jsonl"
    stale = {"id": "clip0", "status": "ok", **GOOD, "backend": "rubric", "judge_model": "rubric",
             "sanity_baseline": True, "prompt_version": "old"}
    out.with_name("j.jsonl.partial").write_text(json.dumps(stale) + "\n")
    judge = ScriptedJudge({"alpha": json.dumps(GOOD)})
    rows = judge_predictions(preds, out, judge)
    assert len(judge.calls) == 1 and rows[0]["backend"] == "scripted"


def test_bad_prediction_rows_name_file_index_and_field(tmp_path):
    preds = write_predictions(tmp_path / "p.jsonl", [prediction(0, "a"), {"id": "x", "exercise": "squats",
                                                                          "prediction": "b"}])
    with pytest.raises(RecordError, match=r"p.jsonl, record 1, field 'reference'"):
        judge_predictions(preds, tmp_path / "j.jsonl", ScriptedJudge({}))


# -- rubric sanity baseline ----------------------------------------------------------------------------------

def test_rubric_scores_follow_the_annotated_errors():
    judge = RubricJudge(CLASSES)
    right = judge.judge(prediction(0, "squats - knees caving in; push them out over your toes", errors=["knee_valgus"]))
    wrong = judge.judge(prediction(1, "lunges - leaning too far forward", errors=["knee_valgus"]))
    assert right.scores["root_cause"] == 5 and right.scores["clinical_accuracy"] == 5
    assert wrong.scores["root_cause"] == 1 and wrong.scores["clinical_accuracy"] == 1
    assert right.scores["overall"] > wrong.scores["overall"]
    good_form = judge.judge(prediction(2, "squats - good form; keep it up", errors=[]))
    assert good_form.scores["root_cause"] == 5
    assert set(right.scores) == set(SCORE_KEYS) and right.parse_mode == "rubric"


def test_rubric_is_deterministic_and_labelled_as_sanity_baseline(tmp_path):
    rows = [prediction(i, text, errors=errs) for i, (text, errs) in enumerate([
        ("squats - knees cave in, drive them out", ["knee_valgus"]),
        ("squats - squat is too shallow; sit down lower", ["incomplete_rom", "knee_valgus"]),
        ("push-ups - hips sagging", []),
        ("no idea", None),
    ])]
    preds = write_predictions(tmp_path / "p.jsonl", rows)
    judge = make_backend({"backend": "rubric"}, CLASSES)
    first = judge_predictions(preds, tmp_path / "a.jsonl", judge)
    second = judge_predictions(preds, tmp_path / "b.jsonl", make_backend({"backend": "rubric"}, CLASSES))
    assert first == second
    assert all(r["sanity_baseline"] is True and r["backend"] == "rubric" for r in first)
    assert first[1]["root_cause"] == 3  # one of two annotated errors named
    assert first[2]["clinical_accuracy"] < 5  # names an error on a clip annotated as error-free, wrong class


def test_make_backend_rejects_unknown_and_incomplete_settings():
    with pytest.raises(ValueError, match="unknown judge backend"):
        make_backend({"backend": "magic"}, CLASSES)
    with pytest.raises(ValueError, match="base_url"):
        make_backend({"backend": "openai", "openai": {"model": "x"}}, CLASSES)


def test_rubric_rejects_a_bad_pattern_naming_the_error():
    with pytest.raises(ValueError, match="'knee_valgus'"):
        RubricJudge(CLASSES, {"knee_valgus": "knees ("})
