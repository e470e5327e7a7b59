"""Judge a predictions file sample by sample, resumably, and summarise the results with bootstrap CIs.

Per-sample rows go to ``<out>.jsonl`` through :class:`qvedbench.io.JsonlAppender`: a killed job reruns only
the samples it had not finished. Rows left by a different judge (backend, model or prompt version) are
discarded before resuming, so one file never mixes judges.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence

from qvedbench.io import JsonlAppender, RecordError, read_jsonl
from qvedbench.judge.base import JudgeBackend
from qvedbench.judge.prompt import SCORE_KEYS
from qvedbench.stats import bootstrap_ci, wilson_ci

REQUIRED_FIELDS = {"id": str, "reference": str, "exercise": str}


def load_judge_samples(path: str | os.PathLike) -> list[dict]:
    """Prediction rows to judge; a row without a string ``id``, ``reference`` or ``exercise``, or whose
    ``prediction`` is neither a string nor null, raises :class:`RecordError` naming the file, index and field."""
    rows = read_jsonl(path)
    for i, row in enumerate(rows):
        for field, kind in REQUIRED_FIELDS.items():
            if not isinstance(row.get(field), kind):
                raise RecordError(path, i, field, f"expected a string, got {type(row.get(field)).__name__}")
        if "prediction" not in row or not isinstance(row["prediction"], (str, type(None))):
            raise RecordError(path, i, "prediction", "expected a string or null")
    return rows


def _drop_stale_partial(out_jsonl: Path, describe: dict) -> None:
    partial = out_jsonl.with_name(out_jsonl.name + ".partial")
    if not partial.exists():
        return
    rows = read_jsonl(partial, tolerate_torn_tail=True)
    if any(any(row.get(k) != v for k, v in describe.items()) for row in rows):
        print(f"discarding {partial}: it was written by a different judge or prompt version")
        partial.unlink()


def judge_predictions(
    predictions: str | os.PathLike,
    out_jsonl: str | os.PathLike,
    backend: JudgeBackend,
    *,
    context: dict | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> list[dict]:
    """Judge every row of ``predictions`` with ``backend``; return the rows written to ``out_jsonl``.

    ``context`` (e.g. model, run, variant) is copied into every row, with the sample's exercise, reference and
    prediction. Rows follow the predictions' order.
    """
    samples = load_judge_samples(predictions)
    out_jsonl = Path(out_jsonl)
    describe = backend.describe()
    _drop_stale_partial(out_jsonl, describe)
    with JsonlAppender(out_jsonl) as appender:
        done = appender.done_ids
        for i, sample in enumerate(samples):
            if sample["id"] in done:
                continue
            result = backend.judge(sample)
            texts = {k: sample.get(k) for k in ("exercise", "reference", "prediction")}
            appender.append(result.to_row(describe, {**(context or {}), **texts}))
            if progress:
                progress(i + 1, len(samples))
        return appender.finish(order=[s["id"] for s in samples])


def summarise_judgements(
    rows: Sequence[dict], *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0, context: dict | None = None
) -> dict:
    """Aggregate over ALL rows: each score's mean with a bootstrap CI over the valid rows, failures counted
    (missing, never imputed), and the failure rate with a Wilson interval."""
    failures = sum(row["status"] != "ok" for row in rows)
    low, high = wilson_ci(failures, len(rows), ci)
    first = rows[0] if rows else {}
    return {
        **(context or {}),
        **{k: first.get(k) for k in ("backend", "judge_model", "sanity_baseline", "prompt_version")},
        "n": len(rows),
        "failures": failures,
        "failure_rate": failures / len(rows) if rows else None,
        "failure_rate_ci": [low, high],
        "scores": {key: bootstrap_ci([row.get(key) for row in rows], n_boot=n_boot, ci=ci, seed=seed)
                   for key in SCORE_KEYS},
        "failure_reasons": _reason_counts(rows),
        "config": {"bootstrap": n_boot, "ci": ci, "seed": seed},
    }


def _reason_counts(rows: Sequence[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in rows:
        if row["status"] != "ok":
            reason = (row.get("error") or "unknown").split(":")[0]
            counts[reason] = counts.get(reason, 0) + 1
    return counts


def judge_file(
    predictions: str | os.PathLike,
    out_jsonl: str | os.PathLike,
    out_json: str | os.PathLike,
    backend: JudgeBackend,
    *,
    context: dict | None = None,
    n_boot: int = 1000,
    ci: float = 0.95,
    seed: int = 0,
) -> dict:
    """Judge one predictions file (resumable per sample) and write its summary; return the summary."""
    from qvedbench.io import write_json

    try:
        rows = judge_predictions(predictions, out_jsonl, backend, context=context)
    finally:
        backend.close()
    summary = summarise_judgements(rows, n_boot=n_boot, ci=ci, seed=seed, context=context)
    write_json(out_json, summary)
    return summary
