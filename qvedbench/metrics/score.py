"""Score a predictions file: per-sample scores (JSONL, resumable) and aggregates with bootstrap CIs (JSON).

File formats are those of docs/ARCHITECTURE.md, "Scores". A row whose ``prediction`` is ``null`` is a failure
for every metric; an empty reference is a failure for the text metrics. Failures are stored as ``null`` and
counted, never imputed. Per-sample rows are appended in chunks while scoring, so a rerun after a crash only
scores the samples not yet written.
"""
from __future__ import annotations

import os
from typing import Sequence

from qvedbench.io import JsonlAppender, RecordError, read_jsonl, write_json
from qvedbench.metrics.embedding import bertscore_f1, embedding_cosine
from qvedbench.metrics.exercise import exercise_outcome, follows_original, majority_class, per_class_accuracy
from qvedbench.metrics.text import meteor, rouge_l
from qvedbench.stats import bootstrap_ci

ALL_METRICS = ("exercise_accuracy", "rouge_l", "meteor", "bertscore_f1", "embedding_cosine")
TEXT_METRICS = ("rouge_l", "meteor", "bertscore_f1", "embedding_cosine")
# Per-sample field holding each metric.
SAMPLE_FIELD = {"exercise_accuracy": "exercise_correct", **{m: m for m in TEXT_METRICS}}
CHUNK = 64  # samples scored (and made durable) per round


def load_predictions(path: str | os.PathLike, classes: Sequence[str]) -> list[dict]:
    """Read and validate a predictions JSONL; bad rows raise :class:`RecordError` naming index and field."""
    rows = read_jsonl(path)
    seen: set = set()
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RecordError(path, i, None, "each line must be a JSON object")
        for field in ("id", "exercise", "reference", "prediction"):
            if field not in row:
                raise RecordError(path, i, field, "missing")
        if not isinstance(row["id"], str) or not row["id"]:
            raise RecordError(path, i, "id", f"must be a non-empty string, got {row['id']!r}")
        if row["id"] in seen:
            raise RecordError(path, i, "id", f"duplicate id {row['id']!r}")
        seen.add(row["id"])
        for field in ("exercise", "original_exercise"):
            if field in row and row[field] not in classes:
                raise RecordError(path, i, field, f"{row[field]!r} is not one of the classes {list(classes)}")
        if not isinstance(row["reference"], str):
            raise RecordError(path, i, "reference", f"must be a string, got {type(row['reference']).__name__}")
        if row["prediction"] is not None and not isinstance(row["prediction"], str):
            kind = type(row["prediction"]).__name__
            raise RecordError(path, i, "prediction", f"must be a string or null, got {kind}")
    return rows


def _score_chunk(rows: list[dict], metrics: Sequence[str], classes: Sequence[str], model_opts: dict) -> list[dict]:
    out = []
    for row in rows:
        predicted, correct = exercise_outcome(row["prediction"], row["exercise"], classes)
        sample = {"id": row["id"], "exercise": row["exercise"], "predicted_exercise": predicted}
        if "original_exercise" in row:
            sample["original_exercise"] = row["original_exercise"]
        if "exercise_accuracy" in metrics:
            sample["exercise_correct"] = correct
        out.append(sample)
    # Text metrics need an answer and a non-empty reference.
    valid = [i for i, row in enumerate(rows) if row["prediction"] is not None and row["reference"].strip()]
    preds = [rows[i]["prediction"] for i in valid]
    refs = [rows[i]["reference"] for i in valid]
    values: dict[str, list[float]] = {}
    if "rouge_l" in metrics:
        values["rouge_l"] = [rouge_l(p, r) for p, r in zip(preds, refs)]
    if "meteor" in metrics:
        values["meteor"] = [meteor(p, r) for p, r in zip(preds, refs)]
    if "bertscore_f1" in metrics:
        values["bertscore_f1"] = bertscore_f1(
            preds, refs, model=model_opts["bertscore_model"], num_layers=model_opts["bertscore_layers"],
            batch_size=model_opts["batch_size"], device=model_opts["device"],
        )
    if "embedding_cosine" in metrics:
        values["embedding_cosine"] = embedding_cosine(
            preds, refs, model=model_opts["embedding_model"], batch_size=model_opts["batch_size"],
            device=model_opts["device"],
        )
    for name, scores in values.items():
        for sample in out:
            sample[name] = None
        for i, score in zip(valid, scores):
            out[i][name] = score
    return out


def aggregate_scores(
    predictions: list[dict], samples: list[dict], *, classes: Sequence[str], metrics: Sequence[str],
    n_boot: int, ci: float, seed: int,
) -> dict:
    """The aggregate block of a scores JSON (everything but identity and config)."""
    exercises = [row["exercise"] for row in predictions]
    answered = [row["prediction"] is not None for row in predictions]
    predicted = [s["predicted_exercise"] for s in samples]
    correct = [exercise_outcome(row["prediction"], row["exercise"], classes)[1] for row in predictions]
    majority, majority_rate = majority_class(exercises)
    result = {
        "n": len(predictions),
        "metrics": {
            name: bootstrap_ci([s[SAMPLE_FIELD[name]] for s in samples], n_boot=n_boot, ci=ci, seed=seed)
            for name in metrics
        },
        "per_class": per_class_accuracy(exercises, correct, ci=ci),
        "majority_class": majority,
        "majority_rate": majority_rate,
        "chance_rate": 1 / len(classes),
        "unparsed_exercise": sum(a and p is None for a, p in zip(answered, predicted)),
        "follows_original_rate": None,
        "follows_original": None,
    }
    if any("original_exercise" in row for row in predictions):
        swapped = [i for i, row in enumerate(predictions) if "original_exercise" in row]
        follows = follows_original(
            [predicted[i] for i in swapped], [predictions[i]["original_exercise"] for i in swapped],
            [answered[i] for i in swapped],
        )
        result["follows_original"] = bootstrap_ci(follows, n_boot=n_boot, ci=ci, seed=seed)
        result["follows_original_rate"] = result["follows_original"]["mean"]
    return result


def score_predictions(
    predictions_path: str | os.PathLike,
    out_json: str | os.PathLike,
    out_jsonl: str | os.PathLike,
    *,
    classes: Sequence[str],
    model: str,
    run: str,
    variant: str,
    bertscore_model: str,
    bertscore_layers: int,
    embedding_model: str,
    metrics: Sequence[str] = ALL_METRICS,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 42,
    device: str = "auto",
    batch_size: int = 32,
) -> dict:
    """Score ``predictions_path``; write per-sample ``out_jsonl`` and aggregate ``out_json``; return the latter."""
    classes = list(classes)
    if not classes:
        raise ValueError("classes must not be empty")
    unknown = [m for m in metrics if m not in ALL_METRICS]
    if unknown:
        raise ValueError(f"unknown metrics {unknown}; choose from {list(ALL_METRICS)}")
    metrics = [m for m in ALL_METRICS if m in metrics]
    predictions = load_predictions(predictions_path, classes)
    model_opts = {"bertscore_model": bertscore_model, "bertscore_layers": bertscore_layers,
                  "embedding_model": embedding_model, "batch_size": batch_size, "device": device}
    fields = [SAMPLE_FIELD[m] for m in metrics]
    with JsonlAppender(out_jsonl) as appender:
        # A row left by an earlier run with other metrics lacks fields: score it again (the later row wins).
        done = {row["id"] for row in appender.rows if all(f in row for f in fields)}
        todo = [row for row in predictions if row["id"] not in done]
        for start in range(0, len(todo), CHUNK):
            for sample in _score_chunk(todo[start:start + CHUNK], metrics, classes, model_opts):
                appender.append(sample)
        samples = appender.finish(order=[row["id"] for row in predictions])
    result = {"model": model, "run": run, "variant": variant}
    result.update(aggregate_scores(predictions, samples, classes=classes, metrics=metrics,
                                   n_boot=n_boot, ci=ci, seed=seed))
    result["config"] = {
        "bootstrap": n_boot, "ci": ci, "seed": seed, "bertscore_model": bertscore_model,
        "bertscore_layers": bertscore_layers, "embedding_model": embedding_model, "metrics": metrics,
        "classes": classes, "per_class_ci": "wilson", "predictions": str(predictions_path),
    }
    write_json(out_json, result)
    return result
