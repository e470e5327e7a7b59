"""RQ2.1.1: form-error detection and localisation from predicted feedback.

Per sample (:func:`detect_predictions`) the errors a prediction names are compared with the reference labels:
the record's annotated ``errors`` when present, otherwise the errors detected in the reference text (the
row's ``label_source`` says which). A prediction that failed (``prediction`` null) is a failure: counted, left
out of every metric, never read as "no error". From those rows: precision, recall and F1 per error with
bootstrap CIs (:func:`error_metrics`), the predicted-vs-actual co-occurrence matrix (:func:`error_confusion`),
precision-recall curves over the phrase-count score (:func:`pr_curves`) and temporal localisation accuracy
(:func:`localisation_summary`).
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, precision_recall_curve

from qvedbench.analysis.error_text import ErrorDetector, overlaps, time_mentions
from qvedbench.io import RecordError, read_jsonl
from qvedbench.stats import wilson_ci

NO_ERROR = "none"
MICRO = "all (micro)"


def _annotated_errors(row: dict, path, index: int, known: Sequence[str]) -> list[str] | None:
    errors = row.get("errors")
    if errors is None:
        return None
    if not isinstance(errors, list) or not all(isinstance(e, str) for e in errors):
        raise RecordError(path, index, "errors", "must be a list of error ids")
    unknown = sorted(set(errors) - set(known))
    if unknown:
        raise RecordError(path, index, "errors", f"unknown error ids {unknown}; the taxonomy has {list(known)}")
    return errors


def _is_range(value) -> bool:
    return isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(x, (int, float)) for x in value)


def _annotated_frames(row: dict, path, index: int) -> dict[str, list[list[int]]] | None:
    frames = row.get("error_frames")
    if frames is None:
        return None
    ok = isinstance(frames, dict) and all(
        isinstance(ranges, list) and all(_is_range(r) for r in ranges) for ranges in frames.values())
    if not ok:
        raise RecordError(path, index, "error_frames", "must map error ids to lists of [start, end] frame ranges")
    return frames


def detect_predictions(predictions_path: str | os.PathLike, detector: ErrorDetector,
                       fps_by_id: Mapping[str, float] | None = None, tolerance_s: float = 0.5) -> list[dict]:
    """One row per prediction: ``id``, ``exercise``, ``label_source`` (annotation|text), ``actual`` errors,
    ``predicted`` errors and ``scores`` (error -> matched phrase count; both null for a failed prediction),
    ``mentions`` (frame ranges the prediction names), ``localised`` (true/false when the prediction names a
    frame or time and the actual errors have annotated frames, else null)."""
    fps_by_id = fps_by_id or {}
    out = []
    for index, row in enumerate(read_jsonl(predictions_path)):
        for key in ("id", "reference"):
            if not isinstance(row.get(key), str):
                raise RecordError(predictions_path, index, key, "missing or not a string")
        annotated = _annotated_errors(row, predictions_path, index, detector.error_ids)
        frames = _annotated_frames(row, predictions_path, index)
        actual = annotated if annotated is not None else detector.detect(row["reference"]).errors
        result = {"id": row["id"], "exercise": row.get("exercise"),
                  "label_source": "annotation" if annotated is not None else "text", "actual": actual,
                  "predicted": None, "scores": None, "mentions": [], "localised": None}
        prediction = row.get("prediction")
        if isinstance(prediction, str):
            found = detector.detect(prediction)
            result["predicted"] = found.errors
            result["scores"] = {e: found.score(e) for e in detector.error_ids}
            fps = fps_by_id.get(row["id"])
            result["mentions"] = [list(m) for m in time_mentions(prediction, fps)]
            result["localised"] = _localised(result["mentions"], actual, found.errors, frames,
                                             tolerance_s * fps if fps else 0.0)
        out.append(result)
    return out


def _localised(mentions, actual, predicted, frames, tolerance_frames: float) -> bool | None:
    """Whether a named frame/time falls in an annotated range of the actual errors the prediction also names
    (of all actual errors when it names none of them); null when there is nothing to compare."""
    if not mentions or not frames or not actual:
        return None
    named = [e for e in actual if e in predicted] or list(actual)
    ranges = [r for e in named for r in frames.get(e, [])]
    if not ranges:
        return None
    return overlaps(mentions, ranges, tolerance_frames)


def _valid(rows: Iterable[dict]) -> list[dict]:
    return [r for r in rows if r["predicted"] is not None]


def _rates(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    with np.errstate(divide="ignore", invalid="ignore"):
        precision = np.where(tp + fp > 0, tp / (tp + fp), np.nan)
        recall = np.where(tp + fn > 0, tp / (tp + fn), np.nan)
        f1 = np.where(2 * tp + fp + fn > 0, 2 * tp / (2 * tp + fp + fn), np.nan)
    return precision, recall, f1


def _point(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


def _prf_with_ci(truth: np.ndarray, pred: np.ndarray, n_boot: int, ci: float, seed: int) -> dict:
    """Precision, recall and F1 of boolean matrices (samples x labels, pooled) with percentile bootstrap CIs
    from resampling samples; resamples where a rate is undefined are left out of its interval."""
    tp, fp, fn = (truth & pred).sum(axis=1), (~truth & pred).sum(axis=1), (truth & ~pred).sum(axis=1)
    point = _rates(*(np.array([x.sum()], dtype=float) for x in (tp, fp, fn)))
    out = {"tp": int(tp.sum()), "fp": int(fp.sum()), "fn": int(fn.sum()),
           "tn": int((~truth & ~pred).sum()), "support": int(truth.sum())}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(tp), size=(n_boot, len(tp)))
    boot = _rates(*(x[idx].sum(axis=1).astype(float) for x in (tp, fp, fn)))
    tail = (1 - ci) / 2
    for name, value, dist in zip(("precision", "recall", "f1"), point, boot):
        dist = dist[~np.isnan(dist)]
        low, high = (np.quantile(dist, [tail, 1 - tail]) if len(dist) and not np.isnan(value[0]) else (np.nan, np.nan))
        out.update({name: _point(value[0]), f"{name}_ci_low": _point(low), f"{name}_ci_high": _point(high)})
    return out


def _label_matrix(rows: Sequence[dict], errors: Sequence[str], key: str) -> np.ndarray:
    return np.array([[e in row[key] for e in errors] for row in rows], dtype=bool).reshape(len(rows), len(errors))


def error_metrics(rows: Sequence[dict], errors: Sequence[str], *, n_boot: int = 1000, ci: float = 0.95,
                  seed: int = 0) -> list[dict]:
    """Per error (and pooled over errors, ``all (micro)``): tp/fp/fn/tn, support, precision, recall, F1 with
    CIs, ``n`` (valid predictions) and ``failures`` (failed predictions, left out)."""
    valid = _valid(rows)
    failures = len(rows) - len(valid)
    if not valid:
        return [{"error": e, "n": 0, "failures": failures} for e in [*errors, MICRO]]
    truth, pred = _label_matrix(valid, errors, "actual"), _label_matrix(valid, errors, "predicted")
    out = []
    for j, error in enumerate(errors):
        out.append({"error": error, "n": len(valid), "failures": failures,
                    **_prf_with_ci(truth[:, [j]], pred[:, [j]], n_boot, ci, seed)})
    out.append({"error": MICRO, "n": len(valid), "failures": failures, **_prf_with_ci(truth, pred, n_boot, ci, seed)})
    return out


def error_confusion(rows: Sequence[dict], errors: Sequence[str]) -> pd.DataFrame:
    """Co-occurrence counts: cell (a, p) counts valid samples whose actual errors include ``a`` and whose
    predicted errors include ``p``; ``none`` stands for "no error" on either side. A sample with several
    errors adds to several cells."""
    labels = [*errors, NO_ERROR]
    matrix = pd.DataFrame(0, index=pd.Index(labels, name="actual"), columns=pd.Index(labels, name="predicted"))
    for row in _valid(rows):
        for a in [e for e in row["actual"] if e in errors] or [NO_ERROR]:
            for p in [e for e in row["predicted"] if e in errors] or [NO_ERROR]:
                matrix.loc[a, p] += 1
    return matrix


def pr_curves(rows: Sequence[dict], errors: Sequence[str]) -> dict[str, dict | None]:
    """Per error the precision-recall curve over the matched-phrase-count score (``precision``, ``recall``,
    ``thresholds``, ``average_precision``); null where the valid samples hold no actual case of the error."""
    valid = _valid(rows)
    out: dict[str, dict | None] = {}
    for error in errors:
        truth = np.array([error in r["actual"] for r in valid], dtype=int)
        if truth.sum() == 0:
            out[error] = None
            continue
        score = np.array([r["scores"][error] for r in valid], dtype=float)
        precision, recall, thresholds = precision_recall_curve(truth, score)
        out[error] = {"precision": precision.tolist(), "recall": recall.tolist(), "thresholds": thresholds.tolist(),
                      "average_precision": float(average_precision_score(truth, score)),
                      "positives": int(truth.sum()), "n": len(valid)}
    return out


def localisation_summary(rows: Sequence[dict], ci: float = 0.95) -> dict:
    """How often predictions name a frame or time, and how often that lands in an annotated error range
    (with its Wilson CI) among predictions that name one and whose actual errors have annotated frames."""
    valid = _valid(rows)
    naming = [r for r in valid if r["mentions"]]
    judged = [r for r in valid if r["localised"] is not None]
    hits = sum(bool(r["localised"]) for r in judged)
    low, high = wilson_ci(hits, len(judged), ci)
    return {"n": len(valid), "failures": len(rows) - len(valid), "naming_time": len(naming),
            "naming_rate": len(naming) / len(valid) if valid else None, "evaluable": len(judged), "hits": hits,
            "accuracy": hits / len(judged) if judged else None, "ci_low": low, "ci_high": high}


# -- the whole analysis over models and runs ------------------------------------------------------------------

def run_label(model: str, run: str) -> str:
    return f"{model}/{run}"


def analyse_form_errors(detections: Mapping[tuple[str, str], Sequence[dict]], errors: Sequence[str], *,
                        n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> dict:
    """Metrics, confusion matrices, PR curves, localisation and label sources for every (model, run)."""
    out: dict = {"errors": list(errors), "ci": ci, "metrics": [], "localisation": [], "confusion": {},
                 "pr_curves": {}, "label_sources": {}}
    for (model, run), rows in detections.items():
        label = run_label(model, run)
        for row in error_metrics(rows, errors, n_boot=n_boot, ci=ci, seed=seed):
            out["metrics"].append({"model": model, "run": run, "label": label, **row})
        out["localisation"].append({"model": model, "run": run, "label": label, **localisation_summary(rows, ci)})
        out["confusion"][label] = error_confusion(rows, errors).to_dict(orient="split")
        out["pr_curves"][label] = pr_curves(rows, errors)
        sources = pd.Series([r["label_source"] for r in rows], dtype=object).value_counts()
        out["label_sources"][label] = {k: int(v) for k, v in sources.items()}
    return out


def confusion_from_split(split: dict) -> pd.DataFrame:
    """A matrix stored with ``DataFrame.to_dict(orient="split")`` back as a frame with named axes."""
    return pd.DataFrame(split["data"], index=pd.Index(split["index"], name="actual"),
                        columns=pd.Index(split["columns"], name="predicted"))


def _fmt(value, low=None, high=None) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "n/a"
    if low is None or high is None:
        return f"{value:.3f}"
    return f"{value:.3f} [{low:.3f}, {high:.3f}]"


def form_errors_markdown(analysis: dict) -> str:
    """The RQ2.1.1 section of RESULTS_SUMMARY.md: findings from the numbers, CIs and failure counts."""
    metrics = pd.DataFrame(analysis["metrics"])
    lines = ["## RQ 2.1.1: Form-error detection and localisation", ""]
    if metrics.empty:
        return "\n".join(lines + ["No predictions to analyse.", ""])
    pct = int(round(analysis["ci"] * 100))
    micro = metrics[metrics.error == MICRO]
    ranked = micro.dropna(subset=["f1"]).sort_values("f1", ascending=False)
    if not ranked.empty and ranked.f1.iloc[0] == 0:
        lines.append("No model/run detects any form error correctly: pooled (micro) F1 is 0 for all "
                     f"({', '.join(ranked.label)}).")
    elif not ranked.empty:
        best = ranked.iloc[0]
        tied = ranked.label[ranked.f1 == best.f1].tolist()
        lines.append(f"Best pooled (micro) F1: **{best.label}** with "
                     f"{_fmt(best.f1, best.f1_ci_low, best.f1_ci_high)} ({pct}% bootstrap CI, n={int(best.n)}, "
                     f"{int(best.failures)} failed predictions left out)"
                     + (f"; tied with {', '.join(tied[1:])}." if len(tied) > 1 else "."))
    else:
        lines.append("No model/run has a defined pooled F1 (no error named in predictions or references).")
    per_error = metrics[metrics.error != MICRO].dropna(subset=["f1"])
    if not per_error.empty:
        easiest = per_error.groupby("error")["f1"].mean().sort_values()
        if easiest.iloc[0] == easiest.iloc[-1]:
            lines.append(f"Every error type has the same mean F1 across models ({easiest.iloc[0]:.3f}).")
        else:
            lines.append(f"Across models the hardest error to detect is **{easiest.index[0]}** (mean F1 "
                         f"{easiest.iloc[0]:.3f}); the easiest is **{easiest.index[-1]}** ({easiest.iloc[-1]:.3f}).")
    sources = analysis["label_sources"]
    annotated = sum(s.get("annotation", 0) for s in sources.values())
    total = sum(sum(s.values()) for s in sources.values())
    lines.append(f"Reference labels: {annotated} of {total} rows from annotations, {total - annotated} from "
                 "errors detected in the reference text.")
    lines += ["", "| model/run | error | precision | recall | F1 | support | n | failures |", "|---|---|---|---|---|---|---|---|"]
    for row in metrics.itertuples():
        lines.append(f"| {row.label} | {row.error} | {_fmt(row.precision, row.precision_ci_low, row.precision_ci_high)} "
                     f"| {_fmt(row.recall, row.recall_ci_low, row.recall_ci_high)} "
                     f"| {_fmt(row.f1, row.f1_ci_low, row.f1_ci_high)} | {_int(row, 'support')} | {int(row.n)} "
                     f"| {int(row.failures)} |")
    lines += ["", "Temporal localisation (a named frame or time inside an annotated error range):", "",
              "| model/run | names a time | evaluable | hits | accuracy |", "|---|---|---|---|---|"]
    for loc in analysis["localisation"]:
        rate = _fmt(loc["naming_rate"])
        lines.append(f"| {loc['label']} | {loc['naming_time']} of {loc['n']} ({rate}) | {loc['evaluable']} "
                     f"| {loc['hits']} | {_fmt(loc['accuracy'], loc['ci_low'], loc['ci_high'])} |")
    if all(loc["evaluable"] == 0 for loc in analysis["localisation"]):
        lines.append("\nNo prediction named a frame or time inside an annotated clip, so localisation accuracy "
                     "is not measurable here.")
    return "\n".join(lines) + "\n"


def _int(row, field: str) -> str:
    value = getattr(row, field, None)
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else str(int(value))


def write_form_error_tables(analysis: dict, prf_csv, prf_tex, localisation_csv, localisation_tex) -> None:
    """P/R/F1 per model, run and error, and localisation per model and run, as CSV (numbers) and LaTeX."""
    from qvedbench.io import write_text

    for frame, csv, tex in ((pd.DataFrame(analysis["metrics"]).drop(columns=["label"], errors="ignore"), prf_csv, prf_tex),
                            (pd.DataFrame(analysis["localisation"]).drop(columns=["label"], errors="ignore"),
                             localisation_csv, localisation_tex)):
        write_text(csv, frame.to_csv(index=False))
        write_text(tex, frame.to_latex(index=False, escape=True, na_rep="n/a", float_format="%.3f"))


# -- headline rows (qvedbench.report.headline) ---------------------------------------------------------------
def headline_rows(analysis: dict, run: str = "baseline") -> list[dict]:
    """Per model, for ``run`` (or, for a model without it, its first run): micro-averaged form-error detection
    F1 with its CI, and the localisation accuracy (Wilson CI)."""
    from qvedbench.report.load import run_order

    metrics = [m for m in analysis["metrics"] if m["error"] == MICRO]
    rows = []
    for model in sorted({m["model"] for m in metrics}):
        runs = {m["run"]: m for m in metrics if m["model"] == model}
        chosen = run if run in runs else sorted(runs, key=run_order)[0]
        m = runs[chosen]
        row = {"question": "rq2_1_1", "model": model, "measure": "error_detection_f1", "better": "higher",
               "detail": f"run {chosen}, micro-averaged over errors", "n": m.get("n"), "failed": m.get("failures")}
        f1 = m.get("f1")
        rows.append({**row, "value": f1, "ci_low": m.get("f1_ci_low"), "ci_high": m.get("f1_ci_high")}
                    if f1 is not None else {**row, "note": "F1 undefined (no predicted or annotated error)"})
        loc = next((x for x in analysis["localisation"] if x["model"] == model and x["run"] == chosen), None)
        if loc is not None:
            row = {"question": "rq2_1_1", "model": model, "measure": "localisation_accuracy", "better": "higher",
                   "detail": f"run {chosen}", "n": loc["evaluable"], "failed": loc["failures"]}
            rows.append({**row, "value": loc["accuracy"], "ci_low": loc["ci_low"], "ci_high": loc["ci_high"]}
                        if loc["accuracy"] is not None else {**row, "note": "no prediction names a frame or time"})
    return rows
