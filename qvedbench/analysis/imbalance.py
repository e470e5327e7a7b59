"""RQ4.1.3: class imbalance: the current class distribution vs a balanced subset vs a class-weighted loss.

Strategies are the question's runs (see :func:`qvedbench.runs.rq4_1_3_runs`): ``current`` (the baseline's
training set and loss), ``balanced`` (every class undersampled to at most K clips) and ``weighted`` (the
class-weighted loss of :mod:`qvedbench.train.weighting`). Everything is read from files: each run's
``train_stats.json`` (training clips per class ``train_class_counts``, the ``class_weights`` used) and its clean
test scores (aggregate ``.json`` with the per-class accuracy and its Wilson interval, per-sample ``.jsonl``).

- Overall accuracy is the score file's exercise-ID accuracy (bootstrap CI). Macro accuracy is the mean over
  classes of the per-class accuracy (classes with at least one scored test clip), so every class counts alike
  however many test clips it has; its CI is a percentile bootstrap over test clips (scipy, classes resampled with
  their clips).
- Differences to ``current`` (of the same seed) are paired bootstraps over the test clips scored in both runs:
  overall accuracy with :func:`qvedbench.stats.paired_bootstrap_diff`, macro accuracy with scipy's paired
  percentile bootstrap; the p-value is the share of resampled differences <= 0.
- Unscored clips (no parsed answer counts as wrong; a null ``exercise_correct`` is a failure) are left out and
  counted, never imputed.
- Recommendation per model: among ``balanced`` and ``weighted``, those whose macro-accuracy difference to
  ``current`` has a CI above 0 (for every seed, when there are several); the one with the highest mean macro
  accuracy is recommended; none such: keep the current distribution.

No torch.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from qvedbench.analysis.confusions import accuracy_vs_training
from qvedbench.io import RecordError, read_json, write_text
from qvedbench.report.load import load_scores, per_sample_path, per_sample_values
from qvedbench.report.style import PALETTE, figure_style, new_figure, save_figure
from qvedbench.stats import paired_bootstrap_diff

QUESTION = "rq4_1_3"
ACCURACY = "exercise_accuracy"
# the question's run names (without seed suffix) -> strategy, in display order
STRATEGIES = {"imbalance_current": "current", "imbalance_balanced": "balanced", "imbalance_weighted": "weighted"}
REFERENCE = "current"
STRATEGY_LABELS = {"current": "current distribution", "balanced": "balanced subset",
                   "weighted": "class-weighted loss"}
STRATEGY_COLOURS = {"current": PALETTE[0], "balanced": PALETTE[1], "weighted": PALETTE[2]}


def strategy_of(group: str) -> str:
    """``current`` for the run group ``imbalance_current`` (ValueError for a name not of this question)."""
    try:
        return STRATEGIES[group]
    except KeyError:
        raise ValueError(f"run '{group}' is not an RQ4.1.3 strategy ({', '.join(STRATEGIES)})") from None


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


# -- reading ---------------------------------------------------------------------------------------------------

def load_entries(rows: Iterable[dict]) -> list[dict]:
    """Read each question row's files into the dicts the frames take.

    A row is ``{"model", "run", "group", "canonical", "seed", "stats", "scores", "reference_scores"}``: the
    run's ``train_stats.json``, its clean scores ``.json`` and those of ``current`` of the same seed (the
    per-sample ``.jsonl`` files are read from beside them).
    """
    entries = []
    for row in rows:
        stats = read_json(row["stats"])
        counts = stats.get("train_class_counts") if isinstance(stats, dict) else None
        if not isinstance(counts, dict):
            raise RecordError(row["stats"], None, "train_class_counts",
                              "missing from train_stats.json (a run trained before per-class counts were recorded: "
                              "retrain it)")
        scores, reference = load_scores([row["scores"], row["reference_scores"]])
        if not isinstance(scores.get("per_class"), dict):
            raise RecordError(row["scores"], None, "per_class", "missing from the scores")
        entries.append({
            "model": row["model"], "run": row["run"], "group": row.get("group", row["run"]),
            "strategy": strategy_of(row.get("group", row["run"])), "canonical": row["canonical"],
            "seed": row.get("seed"), "train_counts": {c: int(n) for c, n in counts.items()},
            "class_weights": stats.get("class_weights"), "scores": scores,
            "samples": _samples(scores), "reference_samples": _samples(reference),
        })
    return entries


def _samples(scores: dict) -> dict[str, tuple[str, float | None]] | None:
    """``id -> (exercise, exercise_correct)`` from the per-sample file, or None without one."""
    correct = per_sample_values(scores, "exercise_correct")
    if correct is None:
        return None
    exercise = per_sample_values(scores, "exercise")
    for key, value in exercise.items():
        if not isinstance(value, str):
            raise RecordError(per_sample_path(scores), None, "exercise",
                              f"clip {key!r}: must be a class name, got {value!r}")
    return {key: (exercise[key], correct[key]) for key in correct}


# -- macro accuracy ------------------------------------------------------------------------------------------

def _macro_statistic(n_classes: int):
    """Vectorised macro accuracy of 0/1 ``correct`` with class ``codes`` (0..n_classes-1) along ``axis``;
    classes absent from a resample are skipped."""
    def macro(correct, codes, axis=-1):
        per_class = []
        for k in range(n_classes):
            mask = codes == k
            count = mask.sum(axis=axis)
            hits = np.where(mask, correct, 0).sum(axis=axis)
            per_class.append(np.where(count > 0, hits / np.maximum(count, 1), np.nan))
        return np.nanmean(np.stack(per_class), axis=0)

    return macro


def _scored(samples: dict[str, tuple[str, float | None]]) -> dict[str, tuple[str, float]]:
    return {k: (c, float(v)) for k, (c, v) in samples.items() if v is not None and not math.isnan(float(v))}


def macro_accuracy(samples: dict | None, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> dict:
    """``{"mean", "ci_low", "ci_high", "n", "failures", "n_classes"}`` of the macro accuracy of per-sample
    ``id -> (class, correct)``; all None without samples."""
    if samples is None:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": None, "failures": None, "n_classes": None}
    scored = _scored(samples)
    failures = len(samples) - len(scored)
    if not scored:
        return {"mean": None, "ci_low": None, "ci_high": None, "n": 0, "failures": failures, "n_classes": 0}
    classes = sorted({c for c, _ in scored.values()})
    codes = np.array([classes.index(c) for c, _ in scored.values()])
    correct = np.array([v for _, v in scored.values()])
    statistic = _macro_statistic(len(classes))
    low, high = _bootstrap((correct, codes), statistic, n_boot, ci, seed)[:2]
    return {"mean": float(statistic(correct, codes)), "ci_low": low, "ci_high": high, "n": len(scored),
            "failures": failures, "n_classes": len(classes)}


def macro_difference(a: dict | None, b: dict | None, *, n_boot: int = 1000, ci: float = 0.95,
                     seed: int = 0) -> dict:
    """Paired bootstrap of macro accuracy ``a - b`` over the clips scored in both (``id -> (class, correct)``):
    ``{"diff", "ci_low", "ci_high", "n", "failures", "p_value"}`` like :func:`qvedbench.stats.paired_bootstrap_diff`."""
    empty = {"diff": None, "ci_low": None, "ci_high": None, "n": 0, "failures": 0, "p_value": None}
    if a is None or b is None:
        return {**empty, "n": None, "failures": None}
    shared = [key for key in a if key in b]
    sa, sb = _scored(a), _scored(b)
    pairs = [key for key in shared if key in sa and key in sb]
    failures = len(shared) - len(pairs)
    if not pairs:
        return {**empty, "failures": failures}
    classes = sorted({sa[key][0] for key in pairs})
    codes = np.array([classes.index(sa[key][0]) for key in pairs])
    left = np.array([sa[key][1] for key in pairs])
    right = np.array([sb[key][1] for key in pairs])
    macro = _macro_statistic(len(classes))

    def difference(x, y, c, axis=-1):
        return macro(x, c, axis=axis) - macro(y, c, axis=axis)

    low, high, distribution = _bootstrap((left, right, codes), difference, n_boot, ci, seed)
    return {"diff": float(difference(left, right, codes)), "ci_low": low, "ci_high": high, "n": len(pairs),
            "failures": failures, "p_value": float(np.mean(distribution <= 0))}


def _bootstrap(data: tuple, statistic, n_boot: int, ci: float, seed: int) -> tuple[float, float, np.ndarray]:
    """Paired percentile bootstrap (scipy) of ``statistic`` over the rows of ``data``."""
    result = scipy_stats.bootstrap(data, statistic, paired=True, vectorized=True, n_resamples=n_boot,
                                   confidence_level=ci, method="percentile", rng=np.random.default_rng(seed))
    return float(result.confidence_interval.low), float(result.confidence_interval.high), \
        result.bootstrap_distribution


# -- frames ----------------------------------------------------------------------------------------------------

def _class_order(entries: Sequence[dict], classes: Sequence[str]) -> list[str]:
    seen = list(classes)
    for entry in entries:
        for name in [*entry["train_counts"], *entry["scores"]["per_class"]]:
            if name not in seen:
                seen.append(name)
    return seen


def per_exercise_frame(entries: Sequence[dict], classes: Sequence[str]) -> pd.DataFrame:
    """One row per (model, run, class): training clips of the class, the class weight of the loss (weighted
    strategy), test clips, accuracy and its Wilson CI (from the scores' ``per_class``; NaN where the class has
    no scored test clip)."""
    rows = []
    for entry in entries:
        weights = entry["class_weights"] or {}
        for name in _class_order([entry], classes):
            test = entry["scores"]["per_class"].get(name) or {}
            rows.append({
                "model": entry["model"], "strategy": entry["strategy"], "run": entry["run"],
                "trained_as": entry["canonical"], "seed": entry["seed"], "class": name,
                "train_count": entry["train_counts"].get(name, 0),
                "class_weight": _number(weights.get(name)) if weights else math.nan,
                "test_n": _number(test.get("n")), "accuracy": _number(test.get("accuracy")),
                "ci_low": _number(test.get("ci_low")), "ci_high": _number(test.get("ci_high")),
            })
    frame = pd.DataFrame(rows)
    for column in ("seed", "test_n"):
        frame[column] = frame[column].astype("Int64")
    return frame


def strategy_frame(entries: Sequence[dict], *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per (model, run): training clips, overall and macro accuracy with CIs, n, failed, and the paired
    differences to ``current`` of the same seed (overall ``acc_diff*``, macro ``macro_diff*``)."""
    rows = []
    for entry in entries:
        metric = entry["scores"]["metrics"].get(ACCURACY) or {}
        macro = macro_accuracy(entry["samples"], n_boot=n_boot, ci=ci, seed=seed)
        row = {
            "model": entry["model"], "strategy": entry["strategy"], "run": entry["run"], "group": entry["group"],
            "trained_as": entry["canonical"], "seed": entry["seed"],
            "train_clips": sum(entry["train_counts"].values()), "train_classes": len(entry["train_counts"]),
            "n": _number(entry["scores"].get("n")), "failed": _number(metric.get("failures")),
            "accuracy": _number(metric.get("mean")), "accuracy_ci_low": _number(metric.get("ci_low")),
            "accuracy_ci_high": _number(metric.get("ci_high")), "accuracy_n": _number(metric.get("n")),
            "macro_accuracy": _number(macro["mean"]), "macro_ci_low": _number(macro["ci_low"]),
            "macro_ci_high": _number(macro["ci_high"]), "macro_n": _number(macro["n"]),
            "macro_failed": _number(macro["failures"]), "macro_classes": _number(macro["n_classes"]),
        }
        correct = _correct(entry["samples"])
        reference = _correct(entry["reference_samples"])
        diff = None
        if correct is not None and reference is not None:
            diff = paired_bootstrap_diff(correct, reference, n_boot=n_boot, ci=ci, seed=seed)
        macro_diff = macro_difference(entry["samples"], entry["reference_samples"], n_boot=n_boot, ci=ci, seed=seed)
        for prefix, values in (("acc_diff", diff or {}), ("macro_diff", macro_diff)):
            for key in ("diff", "ci_low", "ci_high", "n", "failures", "p_value"):
                rows_key = prefix if key == "diff" else f"{prefix}_{key}"
                row[rows_key] = _number(values.get(key))
        rows.append(row)
    frame = pd.DataFrame(rows)
    counts = ["seed", "n", "failed", "accuracy_n", "macro_n", "macro_failed", "macro_classes", "acc_diff_n",
              "acc_diff_failures", "macro_diff_n", "macro_diff_failures"]
    for column in counts:
        frame[column] = frame[column].astype("Int64")
    return frame


def _correct(samples: dict | None) -> dict | None:
    return None if samples is None else {key: value for key, (_, value) in samples.items()}


def correlation_frame(per_exercise: pd.DataFrame) -> pd.DataFrame:
    """Per (model, run): Spearman correlation over classes of per-class accuracy with training clips, its
    p-value, the classes it rests on, and a note when it cannot be computed (fewer than 3 classes with a
    scored test clip, or training counts or accuracies that do not vary)."""
    rows = []
    for (model, run), part in per_exercise.groupby(["model", "run"], sort=False):
        part = part.set_index("class")
        counts = part["train_count"]
        result = accuracy_vs_training(pd.DataFrame({run: 1 - part["accuracy"]}), counts)[run]
        scored = part["accuracy"].dropna()
        note = ""
        if result["spearman"] is None:
            if len(scored) < 3:
                note = f"too few classes with scored test clips ({len(scored)}; need 3)"
            elif counts.loc[scored.index].nunique() < 2:
                note = "training clips per class do not vary"
            else:
                note = "per-class accuracy does not vary"
        rows.append({"model": model, "strategy": part["strategy"].iloc[0], "run": run,
                     "n_classes": result["n_classes"], "spearman": _number(result["spearman"]),
                     "p_value": _number(result["p"]), "note": note})
    return pd.DataFrame(rows, columns=["model", "strategy", "run", "n_classes", "spearman", "p_value", "note"])


def recommend(strategies: pd.DataFrame) -> pd.DataFrame:
    """Per model: the recommended strategy (see the module docstring) and why, from the numbers."""
    out = []
    for model, part in strategies.groupby("model", sort=False):
        means = part.groupby("strategy", sort=False)["macro_accuracy"].mean()
        candidates = []
        for strategy, rows in part[part["strategy"] != REFERENCE].groupby("strategy", sort=False):
            if rows["macro_diff_ci_low"].notna().all() and (rows["macro_diff_ci_low"] > 0).all():
                candidates.append(strategy)
        seeds = part.groupby("strategy")["run"].size().max()
        if candidates:
            best = max(candidates, key=lambda s: means[s])
            chosen = part[part["strategy"] == best]
            reason = (f"macro accuracy {_pct(means[best])}% vs {_pct(means.get(REFERENCE))}% for the current "
                      f"distribution; the paired CI of the difference lies above 0"
                      + (f" in all {seeds} seeds" if seeds > 1 else "")
                      + f" ({_diff_text(chosen.iloc[0])} points)")
        else:
            best = REFERENCE
            compared = part[part["strategy"] != REFERENCE]
            reason = ("neither alternative improves macro accuracy with a CI above 0 ("
                      + "; ".join(f"{r['strategy']}: {_diff_text(r)} points" for _, r in compared.iterrows())
                      + "): keep the current distribution") if not compared.empty else "no alternative was run"
        out.append({"model": model, "recommended": best, "macro_accuracy": means.get(best, math.nan),
                    "seeds": int(seeds), "reason": reason})
    return pd.DataFrame(out, columns=["model", "recommended", "macro_accuracy", "seeds", "reason"])


def headline_rows(strategies: pd.DataFrame) -> list[dict]:
    """Headline rows per model (first seed of each strategy): ``macro_accuracy_<strategy>`` and, for the
    alternatives, ``macro_accuracy_diff_<strategy>`` (vs current, paired CI)."""
    rows = []
    first = strategies[strategies["run"] == strategies["group"]]
    for _, row in first.iterrows():
        detail = f"{STRATEGY_LABELS[row['strategy']]}, run {row['run']}" + (
            f" (= {row['trained_as']})" if row["trained_as"] != row["run"] else "")
        missing = "no scored test clip" if pd.isna(row["macro_accuracy"]) else ""
        rows.append({"question": QUESTION, "model": row["model"], "measure": f"macro_accuracy_{row['strategy']}",
                     "value": row["macro_accuracy"], "ci_low": row["macro_ci_low"], "ci_high": row["macro_ci_high"],
                     "n": row["macro_n"], "failed": row["macro_failed"], "better": "higher", "detail": detail,
                     "note": missing})
        if row["strategy"] != REFERENCE:
            rows.append({"question": QUESTION, "model": row["model"],
                         "measure": f"macro_accuracy_diff_{row['strategy']}", "value": row["macro_diff"],
                         "ci_low": row["macro_diff_ci_low"], "ci_high": row["macro_diff_ci_high"],
                         "n": row["macro_diff_n"], "failed": row["macro_diff_failures"], "better": "higher",
                         "detail": f"{STRATEGY_LABELS[row['strategy']]} minus current distribution",
                         "note": "no clip scored in both runs" if pd.isna(row["macro_diff"]) else ""})
    return [{k: (None if isinstance(v, float) and math.isnan(v) or v is pd.NA else v) for k, v in r.items()}
            for r in rows]


# -- display ---------------------------------------------------------------------------------------------------

def _pct(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}"


def _ci_text(mean, low, high, sign: bool = False) -> str:
    if any(v is None or pd.isna(v) for v in (mean, low, high)):
        return "n/a"
    spec = "+.1f" if sign else ".1f"
    return f"{100 * mean:{spec}} [{100 * low:{spec}}, {100 * high:{spec}}]"


def _diff_text(row) -> str:
    return _ci_text(row["macro_diff"], row["macro_diff_ci_low"], row["macro_diff_ci_high"], sign=True)


def _count(value) -> str:
    return "n/a" if value is None or pd.isna(value) else str(int(value))


def strategy_display(frame: pd.DataFrame) -> pd.DataFrame:
    """The strategies table for people (percent with CIs, n, failed, differences in points)."""
    return pd.DataFrame({
        "model": frame["model"], "strategy": frame["strategy"],
        "run": [r if t == r else f"{r} (= {t})" for r, t in zip(frame["run"], frame["trained_as"])],
        "training clips": frame["train_clips"],
        "accuracy % [CI]": [_ci_text(m, lo, hi) for m, lo, hi in
                            zip(frame["accuracy"], frame["accuracy_ci_low"], frame["accuracy_ci_high"])],
        "macro accuracy % [CI]": [_ci_text(m, lo, hi) for m, lo, hi in
                                  zip(frame["macro_accuracy"], frame["macro_ci_low"], frame["macro_ci_high"])],
        "n": [_count(v) for v in frame["n"]], "failed": [_count(v) for v in frame["failed"]],
        "accuracy vs current (points) [CI]": [_ci_text(d, lo, hi, True) for d, lo, hi in
                                              zip(frame["acc_diff"], frame["acc_diff_ci_low"],
                                                  frame["acc_diff_ci_high"])],
        "macro vs current (points) [CI]": [_ci_text(d, lo, hi, True) for d, lo, hi in
                                           zip(frame["macro_diff"], frame["macro_diff_ci_low"],
                                               frame["macro_diff_ci_high"])],
    })


def per_exercise_display(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "model": frame["model"], "strategy": frame["strategy"], "class": frame["class"],
        "training clips": frame["train_count"],
        "loss weight": ["" if pd.isna(w) else f"{w:.3f}" for w in frame["class_weight"]],
        "test clips": [_count(v) for v in frame["test_n"]],
        "accuracy % [Wilson CI]": [_ci_text(m, lo, hi) for m, lo, hi in
                                   zip(frame["accuracy"], frame["ci_low"], frame["ci_high"])],
    })


def write_table(numeric: pd.DataFrame, display: pd.DataFrame, csv: str | os.PathLike, tex: str | os.PathLike) -> None:
    """The numeric table as CSV and the display table as LaTeX, each atomically."""
    write_text(csv, numeric.to_csv(index=False))
    write_text(tex, display.to_latex(index=False, escape=True, float_format="%.3f", na_rep="n/a"))


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    frame = pd.read_csv(path)
    if "note" in frame:
        frame["note"] = frame["note"].astype(object).where(frame["note"].notna(), "")
    return frame


# -- figures ---------------------------------------------------------------------------------------------------

def _first_seed(frame: pd.DataFrame, strategies: pd.DataFrame) -> pd.DataFrame:
    """Rows of ``frame`` whose run is the first seed of its strategy (figures show one replicate)."""
    first = set(strategies.loc[strategies["run"] == strategies["group"], "run"])
    return frame[frame["run"].isin(first)]


def per_exercise_figure(per_exercise: pd.DataFrame, strategies: pd.DataFrame, pdf: str | os.PathLike,
                        png: str | os.PathLike) -> None:
    """Per-class accuracy, grouped bars per strategy with Wilson CI whiskers, one panel per model."""
    data = _first_seed(per_exercise, strategies)
    models = list(dict.fromkeys(data["model"]))
    if not models:
        raise ValueError(f"{pdf}: nothing to draw")
    classes = list(dict.fromkeys(data["class"]))
    order = [s for s in STRATEGIES.values() if s in set(data["strategy"])]
    width = 0.8 / max(len(order), 1)
    with figure_style():
        fig = new_figure(min(12.0, 1.8 + 0.9 * len(classes)), 2.4 * len(models) + 0.6)
        axes = np.atleast_1d(fig.subplots(len(models), 1, squeeze=False)).ravel()
        for ax, model in zip(axes, models):
            for k, strategy in enumerate(order):
                part = data[(data["model"] == model) & (data["strategy"] == strategy)].set_index("class")
                part = part.reindex(classes)
                value = part["accuracy"].to_numpy(dtype=float)
                low = np.nan_to_num(value - part["ci_low"].to_numpy(dtype=float))
                high = np.nan_to_num(part["ci_high"].to_numpy(dtype=float) - value)
                x = np.arange(len(classes)) + (k - (len(order) - 1) / 2) * width
                ax.bar(x, np.nan_to_num(value), width, yerr=[low, high], capsize=2,
                       color=STRATEGY_COLOURS[strategy], label=STRATEGY_LABELS[strategy])
            ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
            ax.set_ylim(0, 1.05)
            ax.set_ylabel("exercise-ID accuracy")
            ax.set_title(model, loc="left")
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=len(names), fontsize=7)
        fig.suptitle("Per-exercise accuracy by imbalance strategy (whiskers: Wilson CI)", fontsize=9)
        save_figure(fig, pdf, png)


def accuracy_vs_count_figure(per_exercise: pd.DataFrame, strategies: pd.DataFrame, correlation: pd.DataFrame,
                             pdf: str | os.PathLike, png: str | os.PathLike) -> None:
    """Per-class accuracy (Wilson CI) against the class's training clips, one colour per strategy (Spearman
    rho in the legend), one panel per model."""
    data = _first_seed(per_exercise, strategies)
    models = list(dict.fromkeys(data["model"]))
    if not models:
        raise ValueError(f"{pdf}: nothing to draw")
    rho = {(r["model"], r["run"]): r for _, r in correlation.iterrows()}
    with figure_style():
        fig = new_figure(4.6 * len(models), 3.2)
        axes = np.atleast_1d(fig.subplots(1, len(models), squeeze=False)).ravel()
        for ax, model in zip(axes, models):
            counts = data.loc[data["model"] == model, "train_count"]
            dodge = 0.012 * max(counts.max() - counts.min(), 1)  # strategies side by side at equal counts
            labelled = set()
            for k, strategy in enumerate(STRATEGIES.values()):
                part = data[(data["model"] == model) & (data["strategy"] == strategy) & data["accuracy"].notna()]
                if part.empty:
                    continue
                corr = rho.get((model, part["run"].iloc[0]))
                text = ("rho n/a" if corr is None or pd.isna(corr["spearman"])
                        else f"rho {corr['spearman']:.2f}, p {corr['p_value']:.2g}")
                err = np.nan_to_num(np.vstack([part["accuracy"] - part["ci_low"], part["ci_high"] - part["accuracy"]])
                                    .astype(float))
                x = part["train_count"] + (k - 1) * dodge
                ax.errorbar(x, part["accuracy"], yerr=err, color=STRATEGY_COLOURS[strategy],
                            marker="o", markersize=4, linestyle="none", capsize=2, elinewidth=0.8,
                            label=f"{STRATEGY_LABELS[strategy]} ({text})")
                for xi, (_, row) in zip(x, part.iterrows()):
                    if (row["class"], row["train_count"]) not in labelled:  # one label per point position
                        labelled.add((row["class"], row["train_count"]))
                        ax.annotate(row["class"], (xi, row["accuracy"]), xytext=(3, 2),
                                    textcoords="offset points", fontsize=5)
            ax.set_xlabel("training clips of the class")
            ax.set_ylabel("exercise-ID accuracy")
            ax.set_ylim(-0.02, 1.05)
            ax.margins(x=0.1)
            ax.set_title(model, loc="left")
            ax.legend(fontsize=6)
        save_figure(fig, pdf, png)


# -- summary ---------------------------------------------------------------------------------------------------

def summary_markdown(strategies: pd.DataFrame, per_exercise: pd.DataFrame, correlation: pd.DataFrame,
                     recommendation: pd.DataFrame, *, samples_per_class: int, ci: float) -> str:
    """The RQ4.1.3 section of RESULTS_SUMMARY.md: per model the strategies table, training clips per class,
    the correlation with training clips, and the recommendation, each read from the numbers."""
    lines = ["## RQ 4.1.3: class imbalance: current distribution vs balanced subset vs class-weighted loss", ""]
    lines.append(f"Strategies: the current class distribution (the baseline), a subset with at most "
                 f"{samples_per_class} training clips per class (error labels balanced by an integer program), and "
                 f"a loss whose per-clip weight is N / (C * n_c) (inverse class frequency, mean 1). Overall "
                 f"accuracy is exercise-ID accuracy on the clean test set; macro accuracy averages the per-class "
                 f"accuracies. CIs are {ci:.0%}: bootstrap for overall and macro accuracy, Wilson per class; "
                 f"differences are paired bootstraps over clips scored in both runs. Unscored clips are excluded "
                 f"and counted, never imputed.")
    display = strategy_display(strategies)
    for model in strategies["model"].unique():
        shown = display[strategies["model"] == model]
        lines += ["", f"### {model}", ""]
        header = ["strategy", "run", "training clips", "accuracy % [CI]", "macro accuracy % [CI]", "n", "failed",
                  "macro vs current (points) [CI]"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for _, row in shown.iterrows():
            lines.append("| " + " | ".join(str(row[h]) for h in header) + " |")
        lines.append("")
        part = per_exercise[(per_exercise["model"] == model)]
        part = _first_seed(part, strategies)
        for strategy in STRATEGIES.values():
            counts = part[part["strategy"] == strategy]
            if counts.empty:
                continue
            lines.append(f"- Training clips per class, {STRATEGY_LABELS[strategy]}: "
                         + ", ".join(f"{r['class']} {int(r['train_count'])}" for _, r in counts.iterrows())
                         + ("" if counts["class_weight"].isna().all() else " (loss weights "
                            + ", ".join(f"{r['class']} {r['class_weight']:.2f}" for _, r in counts.iterrows())
                            + ")") + ".")
        for _, corr in correlation[correlation["model"] == model].iterrows():
            if pd.isna(corr["spearman"]):
                lines.append(f"- Accuracy vs training clips, `{corr['run']}`: not computed ({corr['note']}).")
            else:
                verdict = ("significant at the 5% level" if corr["p_value"] < 0.05
                           else "not significant at the 5% level")
                lines.append(f"- Accuracy vs training clips, `{corr['run']}`: Spearman rho "
                             f"{corr['spearman']:.2f} over {int(corr['n_classes'])} classes, p = "
                             f"{corr['p_value']:.3g} ({verdict}).")
        rec = recommendation[recommendation["model"] == model]
        if not rec.empty:
            rec = rec.iloc[0]
            lines.append(f"- **Recommendation: {STRATEGY_LABELS[rec['recommended']]}** ({rec['recommended']}): "
                         f"{rec['reason']}.")
    return "\n".join(lines) + "\n"
