"""RQ4.1.2: which exercises models confuse, whether all models fail on the same ones, how accuracy follows the
number of training clips, and whether confused exercises are biomechanically similar.

Inputs are per-sample score files (``exercise`` and ``predicted_exercise``, null when no class was parsed) and
the training split. An unparsed answer is its own column (``(none)``) of the confusion matrix and counts as an
error of its class: it is a wrong answer, not a missing score.
"""
from __future__ import annotations

import itertools
import os
from collections import Counter
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from qvedbench.io import RecordError, read_jsonl

UNPARSED = "(none)"
METADATA_FIELDS = ("body_region", "movement_pattern", "plane", "posture")

# Biomechanical description of the built-in (synthetic) classes; config `questions.rq4_1_2.metadata` replaces it.
_DEFAULT_ROWS = {  # body region, movement pattern, plane, posture
    "squats": ("lower", "squat", "sagittal", "standing"),
    "lunges": ("lower", "lunge", "sagittal", "standing"),
    "push-ups": ("upper", "horizontal_push", "sagittal", "prone"),
    "bicep curls": ("upper", "elbow_flexion", "sagittal", "standing"),
    "shoulder press": ("upper", "vertical_push", "frontal", "standing"),
    "jumping jacks": ("full", "jump", "frontal", "standing"),
    "single-leg deadlift": ("lower", "hinge", "sagittal", "standing"),
    "glute bridge": ("lower", "hip_extension", "sagittal", "supine"),
    "plank": ("core", "isometric_hold", "sagittal", "prone"),
    "lateral raises": ("upper", "shoulder_abduction", "frontal", "standing"),
}
DEFAULT_METADATA: dict[str, dict[str, str]] = {
    name: dict(zip(METADATA_FIELDS, values)) for name, values in _DEFAULT_ROWS.items()
}


def read_exercise_predictions(path: str | os.PathLike, classes: Sequence[str]) -> list[tuple[str, str | None]]:
    """``(exercise, predicted_exercise)`` per sample of a per-sample scores file, checked against ``classes``."""
    out = []
    for index, row in enumerate(read_jsonl(path)):
        actual, predicted = row.get("exercise"), row.get("predicted_exercise")
        if actual not in classes:
            raise RecordError(path, index, "exercise", f"{actual!r} is not one of the classes {list(classes)}")
        if predicted is not None and predicted not in classes:
            raise RecordError(path, index, "predicted_exercise", f"{predicted!r} is not one of the classes")
        out.append((actual, predicted))
    return out


def confusion_matrix(pairs: Sequence[tuple[str, str | None]], classes: Sequence[str]) -> pd.DataFrame:
    """Counts: rows the true class, columns the predicted class plus ``(none)`` for unparsed answers."""
    matrix = pd.DataFrame(0, index=pd.Index(list(classes), name="actual"),
                          columns=pd.Index([*classes, UNPARSED], name="predicted"))
    for actual, predicted in pairs:
        matrix.loc[actual, predicted if predicted is not None else UNPARSED] += 1
    return matrix


def per_class_error_rate(matrix: pd.DataFrame) -> pd.Series:
    """Share of each class's samples not predicted as that class (null for a class without samples)."""
    totals = matrix.sum(axis=1)
    correct = pd.Series([matrix.loc[c, c] for c in matrix.index], index=matrix.index)
    return (1 - correct / totals.where(totals > 0)).rename("error_rate")


def most_confused_pairs(matrix: pd.DataFrame, top: int = 5) -> pd.DataFrame:
    """The ``top`` off-diagonal cells (true -> predicted, unparsed excluded) by count, with the share of the
    true class's samples they hold."""
    rows = [{"actual": a, "predicted": p, "count": int(matrix.loc[a, p]),
             "rate": float(matrix.loc[a, p] / matrix.loc[a].sum())}
            for a in matrix.index for p in matrix.index if a != p and matrix.loc[a, p] > 0]
    frame = pd.DataFrame(rows, columns=["actual", "predicted", "count", "rate"])
    return frame.sort_values(["count", "actual", "predicted"], ascending=[False, True, True]).head(top).reset_index(drop=True)


def error_rate_agreement(error_rates: pd.DataFrame) -> pd.DataFrame:
    """Whether models fail on the same exercises: Spearman and Kendall correlation of per-class error rates
    for every pair of columns (one column per model/run), over the classes both have (null with fewer than
    three classes or when a column does not vary)."""
    rows = []
    for a, b in itertools.combinations(error_rates.columns, 2):
        both = error_rates[[a, b]].dropna()
        row = {"a": a, "b": b, "n_classes": len(both)}
        for name, test in (("spearman", stats.spearmanr), ("kendall", stats.kendalltau)):
            varies = len(both) >= 3 and both[a].nunique() > 1 and both[b].nunique() > 1
            result = test(both[a], both[b]) if varies else None
            value = None if result is None or np.isnan(result.statistic) else float(result.statistic)
            row[name] = value
            row[f"{name}_p"] = None if value is None else float(result.pvalue)
        rows.append(row)
    return pd.DataFrame(rows, columns=["a", "b", "n_classes", "spearman", "spearman_p", "kendall", "kendall_p"])


def training_counts(train_jsonl: str | os.PathLike, classes: Sequence[str]) -> pd.Series:
    """Training clips per class (0 for a class absent from the split)."""
    counts = Counter()
    for index, row in enumerate(read_jsonl(train_jsonl)):
        if row.get("exercise") not in classes:
            raise RecordError(train_jsonl, index, "exercise", f"{row.get('exercise')!r} is not one of the classes")
        counts[row["exercise"]] += 1
    return pd.Series([counts[c] for c in classes], index=list(classes), name="train_count")


def accuracy_vs_training(error_rates: pd.DataFrame, counts: pd.Series) -> dict:
    """Per column, Spearman correlation of per-class accuracy with training clips (null when the counts or
    accuracies do not vary)."""
    out = {}
    for column in error_rates.columns:
        accuracy = (1 - error_rates[column]).dropna()
        x = counts.loc[accuracy.index]
        if len(accuracy) < 3 or x.nunique() < 2 or accuracy.nunique() < 2:
            out[column] = {"spearman": None, "p": None, "n_classes": len(accuracy)}
            continue
        result = stats.spearmanr(x, accuracy)
        out[column] = {"spearman": float(result.statistic), "p": float(result.pvalue), "n_classes": len(accuracy)}
    return out


def check_metadata(metadata: Mapping[str, Mapping[str, str]] | None, classes: Sequence[str]) -> dict:
    """The metadata of ``classes`` (built-in when ``metadata`` is empty); classes without it are left out of
    the similarity test. Raises ValueError for an entry missing a field."""
    metadata = DEFAULT_METADATA if not metadata else metadata
    out = {}
    for name in classes:
        if name not in metadata:
            continue
        missing = [f for f in METADATA_FIELDS if not metadata[name].get(f)]
        if missing:
            raise ValueError(f"exercise metadata of '{name}': missing {missing}")
        out[name] = {f: str(metadata[name][f]) for f in METADATA_FIELDS}
    return out


def similarity(metadata: Mapping[str, Mapping[str, str]], a: str, b: str) -> int:
    """Number of metadata fields two classes share (0-4)."""
    return sum(metadata[a][f] == metadata[b][f] for f in METADATA_FIELDS)


def similarity_test(matrix: pd.DataFrame, metadata: Mapping[str, Mapping[str, str]], min_count: int = 1) -> dict:
    """Are confused pairs biomechanically similar? Unordered class pairs with metadata are "confused" when
    samples of either were predicted as the other at least ``min_count`` times. Returns mean similarity of
    confused and other pairs, a one-sided Mann-Whitney U p-value (confused more similar) and the Spearman
    correlation of pair confusion count with similarity."""
    names = [c for c in matrix.index if c in metadata]
    pairs = []
    for a, b in itertools.combinations(names, 2):
        count = int(matrix.loc[a, b] + matrix.loc[b, a])
        pairs.append({"a": a, "b": b, "count": count, "similarity": similarity(metadata, a, b),
                      "confused": count >= min_count})
    frame = pd.DataFrame(pairs, columns=["a", "b", "count", "similarity", "confused"])
    confused, other = frame.loc[frame.confused, "similarity"], frame.loc[~frame.confused, "similarity"]
    out = {"pairs": len(frame), "confused_pairs": len(confused), "other_pairs": len(other),
           "mean_similarity_confused": float(confused.mean()) if len(confused) else None,
           "mean_similarity_other": float(other.mean()) if len(other) else None, "mannwhitney_p": None,
           "spearman_count_similarity": None, "missing_metadata": [c for c in matrix.index if c not in metadata]}
    if len(confused) and len(other):
        out["mannwhitney_p"] = float(stats.mannwhitneyu(confused, other, alternative="greater").pvalue)
    if len(frame) >= 3 and frame["count"].nunique() > 1 and frame["similarity"].nunique() > 1:
        out["spearman_count_similarity"] = float(stats.spearmanr(frame["count"], frame["similarity"]).statistic)
    return out


# -- the whole analysis over models and runs ------------------------------------------------------------------

def analyse_confusions(score_files: Mapping[tuple[str, str], str | os.PathLike], classes: Sequence[str],
                       train_jsonl: str | os.PathLike, metadata: Mapping[str, Mapping[str, str]] | None = None, *,
                       top: int = 5, min_count: int = 1) -> dict:
    """Confusion matrices, most-confused pairs, per-class error rates and their agreement across models and
    runs, accuracy vs training clips, and the similarity test, per (model, run) and pooled."""
    metadata = check_metadata(metadata, classes)
    matrices = {f"{m}/{r}": confusion_matrix(read_exercise_predictions(path, classes), classes)
                for (m, r), path in score_files.items()}
    rates = pd.DataFrame({label: per_class_error_rate(matrix) for label, matrix in matrices.items()})
    counts = training_counts(train_jsonl, classes)
    pooled = sum(matrices.values()) if matrices else confusion_matrix([], classes)
    pairs = []
    for label, matrix in matrices.items():
        for row in most_confused_pairs(matrix, top).to_dict(orient="records"):
            pairs.append({"label": label, **row})
    hard = [c for c in classes if len(rates.columns) and all(
        rates.loc[c, col] > rates[col].median() for col in rates.columns if not np.isnan(rates.loc[c, col]))]
    return {
        "classes": list(classes),
        "matrices": {label: m.to_dict(orient="split") for label, m in matrices.items()},
        "n": {label: int(m.values.sum()) for label, m in matrices.items()},
        "unparsed": {label: int(m[UNPARSED].sum()) for label, m in matrices.items()},
        "top_pairs": pairs,
        "error_rates": {label: {c: (None if np.isnan(v) else float(v)) for c, v in rates[label].items()}
                        for label in rates.columns},
        "hard_for_all": hard,
        "agreement": error_rate_agreement(rates).to_dict(orient="records"),
        "train_counts": {c: int(n) for c, n in counts.items()},
        "accuracy_vs_training": accuracy_vs_training(rates, counts),
        "similarity": {**{label: similarity_test(m, metadata, min_count) for label, m in matrices.items()},
                       "pooled": similarity_test(pooled, metadata, min_count)},
        "metadata": metadata,
    }


def matrix_from_split(split: dict) -> pd.DataFrame:
    return pd.DataFrame(split["data"], index=pd.Index(split["index"], name="actual"),
                        columns=pd.Index(split["columns"], name="predicted"))


def error_rate_frame(analysis: dict) -> pd.DataFrame:
    """Classes x model/run error rates plus the ``train_count`` column."""
    frame = pd.DataFrame(analysis["error_rates"]).reindex(analysis["classes"])
    frame.insert(0, "train_count", pd.Series(analysis["train_counts"]))
    frame.index.name = "exercise"
    return frame


def write_confusion_tables(analysis: dict, out: Mapping[str, tuple[str, str]]) -> None:
    """Tables as CSV + LaTeX; ``out`` maps ``pairs``, ``error_rates``, ``agreement``, ``similarity`` to
    (csv, tex) paths."""
    from qvedbench.io import write_text

    similarity_rows = [{"label": label, **{k: v for k, v in result.items() if k != "missing_metadata"},
                        "missing_metadata": ", ".join(result["missing_metadata"])}
                       for label, result in analysis["similarity"].items()]
    frames = {"pairs": pd.DataFrame(analysis["top_pairs"], columns=["label", "actual", "predicted", "count", "rate"]),
              "error_rates": error_rate_frame(analysis).reset_index(),
              "agreement": pd.DataFrame(analysis["agreement"],
                                        columns=["a", "b", "n_classes", "spearman", "spearman_p", "kendall", "kendall_p"]),
              "similarity": pd.DataFrame(similarity_rows)}
    for key, (csv, tex) in out.items():
        write_text(csv, frames[key].to_csv(index=False))
        write_text(tex, frames[key].to_latex(index=False, escape=True, na_rep="n/a", float_format="%.3f"))


def _num(value, digits: int = 3) -> str:
    return "n/a" if value is None or (isinstance(value, float) and np.isnan(value)) else f"{value:.{digits}f}"


def confusions_markdown(analysis: dict) -> str:
    """The RQ4.1.2 section of RESULTS_SUMMARY.md, findings stated from the numbers."""
    lines = ["## RQ 4.1.2: Exercise confusions", ""]
    if not analysis["matrices"]:
        return "\n".join(lines + ["No scores to analyse.", ""])
    for label in analysis["matrices"]:
        pairs = [p for p in analysis["top_pairs"] if p["label"] == label]
        described = "; ".join(f"{p['actual']} -> {p['predicted']} ({p['count']}, {p['rate']:.0%} of {p['actual']})"
                              for p in pairs[:3])
        lines.append(f"- **{label}** (n={analysis['n'][label]}, {analysis['unparsed'][label]} answers naming no "
                     "class, counted as errors): "
                     + (f"most confused {described}." if described else "no class was mistaken for another."))
    agreement = [a for a in analysis["agreement"] if a["spearman"] is not None]
    lines.append("")
    if agreement:
        mean_rho = float(np.mean([a["spearman"] for a in agreement]))
        lines.append(f"Do models fail on the same exercises? Mean Spearman correlation of per-class error rates "
                     f"over {len(agreement)} model/run pairs: {mean_rho:.3f} "
                     f"({'similar' if mean_rho > 0.5 else 'weakly related' if mean_rho > 0 else 'different'} "
                     "failure profiles). Exercises above the median error rate of every model/run: "
                     f"{', '.join(analysis['hard_for_all']) or 'none'}.")
    else:
        lines.append("Agreement of per-class error rates across models is not measurable (fewer than two "
                     "model/runs or error rates that do not vary).")
    corr = analysis["accuracy_vs_training"]
    described = ", ".join(f"{label}: rho {_num(c['spearman'])}" for label, c in corr.items())
    lines.append(f"Accuracy vs training clips per class (Spearman over classes): {described}. Training clips: "
                 + ", ".join(f"{c} {n}" for c, n in analysis["train_counts"].items()) + ".")
    pooled = analysis["similarity"]["pooled"]
    if not pooled["confused_pairs"] or not pooled["other_pairs"]:
        verdict = "not testable (every pair or no pair was confused)"
    elif pooled["mean_similarity_confused"] > pooled["mean_similarity_other"]:
        verdict = "confused pairs share more biomechanical attributes than other pairs"
    else:
        verdict = "confused pairs are not more biomechanically similar than other pairs"
    lines.append(f"Biomechanical similarity (shared metadata fields of 4), pooled over models: confused pairs "
                 f"{_num(pooled['mean_similarity_confused'], 2)} (n={pooled['confused_pairs']}) vs other pairs "
                 f"{_num(pooled['mean_similarity_other'], 2)} (n={pooled['other_pairs']}); one-sided Mann-Whitney "
                 f"p={_num(pooled['mannwhitney_p'])}: {verdict}.")
    if pooled["missing_metadata"]:
        lines.append(f"Classes without metadata, left out of that test: {', '.join(pooled['missing_metadata'])}.")
    return "\n".join(lines) + "\n"


# -- headline rows (qvedbench.report.headline) ---------------------------------------------------------------
def headline_rows(analysis: dict, run: str = "baseline") -> list[dict]:
    """Per model, for ``run`` (or, for a model without it, its first run): the highest per-class exercise-ID
    error rate (which class) and the rate of its most confused pair of classes."""
    from qvedbench.report.load import run_order

    labels: dict[str, list[str]] = {}
    for label in analysis["error_rates"]:
        model, r = label.rsplit("/", 1)
        labels.setdefault(model, []).append(r)
    rows = []
    for model, runs in sorted(labels.items()):
        chosen = run if run in runs else sorted(runs, key=run_order)[0]
        label = f"{model}/{chosen}"
        rates = {c: v for c, v in analysis["error_rates"][label].items() if v is not None}
        base = {"question": "rq4_1_2", "model": model, "n": analysis["n"].get(label)}
        row = {**base, "measure": "worst_class_error_rate", "better": "lower"}
        if rates:
            worst = max(rates, key=rates.get)
            rows.append({**row, "value": rates[worst], "detail": f"run {chosen}, class {worst}"})
        else:
            rows.append({**row, "note": "no class has a scored clip", "detail": f"run {chosen}"})
        pairs = [p for p in analysis["top_pairs"] if p["label"] == label]
        row = {**base, "measure": "top_confusion_rate", "better": "lower"}
        if pairs:
            top = max(pairs, key=lambda p: (p["rate"], p["count"]))
            rows.append({**row, "value": top["rate"],
                         "detail": f"run {chosen}, {top['actual']} -> {top['predicted']} ({top['count']} clips)"})
        else:
            rows.append({**row, "value": 0.0, "detail": f"run {chosen}, no confusions"})
    return rows
