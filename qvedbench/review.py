"""Collect expert ratings of generated feedback in the terminal (``qvedbench review``), for judge agreement.

Each sample of a predictions file is shown (exercise, expert reference, model feedback; never the judge's
scores) and the expert types a 1-5 grade for every score the judge gives (the four dimensions, overall and
holistic), ``s`` to skip one score, or ``q`` to stop. The ratings file is rewritten atomically after every
sample, and a rerun skips the samples this rater already rated, so a session can stop and resume at any time.

Rating rows (JSON lines): ``{"model", "run", "variant", "id", "rater", "clinical_accuracy", ..., "holistic"}``
with integers 1-5 or null for a skipped score; :func:`qvedbench.analysis.judge.load_ratings` reads them.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TextIO

from qvedbench.io import read_jsonl, write_jsonl
from qvedbench.judge.prompt import SCORE_KEYS
from qvedbench.judge.run import load_judge_samples

QUESTIONS = {
    "clinical_accuracy": "Clinical accuracy (right exercise and errors, nothing invented)",
    "actionability": "Actionability (concrete corrections)",
    "root_cause": "Root cause (identifies why the movement is faulty)",
    "completeness": "Completeness (covers every issue the expert mentions)",
    "overall": "Overall grade",
    "holistic": "Holistic match with the expert feedback (1 unrelated - 5 equivalent)",
}


class _Quit(Exception):
    pass


def job_from_path(predictions: str | os.PathLike) -> tuple[str, str, str]:
    """(model, run, variant) of ``results/predictions/{model}/{run}/{variant}.jsonl``."""
    path = Path(predictions)
    if len(path.parts) < 3:
        raise ValueError(f"{path}: cannot tell model/run/variant from the path; pass them explicitly")
    return path.parent.parent.name, path.parent.name, path.stem


def _ask(key: str, stdin: TextIO, stdout: TextIO) -> int | None:
    while True:
        stdout.write(f"  {QUESTIONS[key]} [1-5, s=skip, q=quit]: ")
        stdout.flush()
        line = stdin.readline()
        if not line:
            raise _Quit
        answer = line.strip().lower()
        if answer == "q":
            raise _Quit
        if answer == "s":
            return None
        if answer in {"1", "2", "3", "4", "5"}:
            return int(answer)
        stdout.write("  please type a whole number from 1 to 5, s or q\n")


def review(
    predictions: str | os.PathLike,
    ratings: str | os.PathLike,
    *,
    rater: str,
    job: tuple[str, str, str] | None = None,
    limit: int | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
) -> int:
    """Rate the samples of ``predictions`` not yet rated by ``rater``; return how many were rated now.

    ``stdin`` / ``stdout`` default to the process's streams."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    if not rater.strip():
        raise ValueError("a rater name is required")
    model, run, variant = job or job_from_path(predictions)
    samples = load_judge_samples(predictions)
    ratings = Path(ratings)
    rows = read_jsonl(ratings) if ratings.exists() else []
    done = {r["id"] for r in rows if (r.get("model"), r.get("run"), r.get("variant"), r.get("rater"))
            == (model, run, variant, rater)}
    todo = [s for s in samples if s["id"] not in done]
    if limit is not None:
        todo = todo[:limit]
    stdout.write(f"{len(done)} of {len(samples)} already rated by {rater}; {len(todo)} to go "
                 f"({model} / {run} / {variant})\n")
    rated = 0
    for i, sample in enumerate(todo, 1):
        stdout.write(f"\n[{i}/{len(todo)}] {sample['id']}  exercise: {sample['exercise']}\n"
                     f"  expert:  {sample['reference']}\n  model:   {sample.get('prediction') or '(no answer)'}\n")
        try:
            scores = {key: _ask(key, stdin, stdout) for key in SCORE_KEYS}
        except _Quit:
            stdout.write("stopped; the ratings so far are saved\n")
            break
        rows.append({"model": model, "run": run, "variant": variant, "id": sample["id"], "rater": rater, **scores})
        write_jsonl(ratings, rows)
        rated += 1
    return rated
