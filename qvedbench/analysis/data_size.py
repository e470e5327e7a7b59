"""RQ1.1.3: how much training data is needed: test scores against the number of training clips.

Runs ``data<P>`` train on nested, class-stratified, error-balanced subsets ``frac<P>`` of the training split
(see :mod:`qvedbench.data.subsets`); ``data100`` is the whole split. A size is the run's ``train_examples``
(from ``train_stats.json``). Every metric of the clean-test score files is reported per run with its bootstrap
CI and failure count; unscored clips are counted, never imputed. With several seeds (``train.seeds``) each
replicate is a row of :func:`size_frame` and the derived numbers (samples needed, gains) use the mean over the
seeds that were scored; :func:`curve_frame` gives that mean with the spread (standard deviation, min, max).

- Samples needed for a share ``t`` of the maximum accuracy: the maximum is the highest (seed-mean)
  exercise-ID accuracy over the measured sizes; the answer is the size where the curve, drawn as straight lines
  between consecutive measured sizes, first reaches ``t * maximum``. When the smallest measured size already
  reaches it, the answer is that size and marked as an upper bound.
- Gain per 100 samples between consecutive sizes: (accuracy difference) / (size difference) * 100.

No torch.
"""
from __future__ import annotations

import math
import os
from typing import Iterable

import numpy as np
import pandas as pd

from qvedbench.analysis.training import _ci_text, write_table
from qvedbench.io import RecordError, read_json
from qvedbench.report.load import load_scores
from qvedbench.report.style import METRIC_LABELS, PALETTE, figure_style, model_colour, new_figure, save_figure

ACCURACY = "exercise_accuracy"
QUESTION = "rq1_1_3"

__all__ = ["load_entries", "size_frame", "curve_frame", "per_exercise_frame", "samples_needed", "gains",
           "headline_rows", "metrics_vs_size_figure", "per_exercise_figure", "summary_markdown", "read_table",
           "write_table"]


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A numeric table written by :func:`write_table` (CSV), with empty ``shared_with`` cells as ``""``."""
    frame = pd.read_csv(path)
    if "shared_with" in frame:
        frame["shared_with"] = frame["shared_with"].astype(object).where(frame["shared_with"].notna(), "")
    return frame


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def load_entries(rows: Iterable[dict]) -> list[dict]:
    """Read each question row ``{"model", "run", "group", "canonical", "fraction", "settings", "stats",
    "scores"}`` (paths to ``train_stats.json`` and the clean scores ``.json``) into the dicts the frames take."""
    entries = []
    for row in rows:
        stats = read_json(row["stats"])
        if not isinstance(stats, dict) or not isinstance(stats.get("train_examples"), int):
            raise RecordError(row["stats"], None, "train_examples", "missing or not an integer in train_stats.json")
        (scores,) = load_scores([row["scores"]])
        entries.append({**{k: row[k] for k in ("model", "run", "canonical", "fraction")},
                        "group": row.get("group", row["run"]), "seed": (row.get("settings") or {}).get("seed"),
                        "stats": stats, "scores": scores})
    return entries


def metric_names(entries: Iterable[dict]) -> list[str]:
    """Every metric in the score files: the known ones in their usual order, then any others by name."""
    found = {m for e in entries for m in e["scores"]["metrics"]}
    return [m for m in METRIC_LABELS if m in found] + sorted(found - set(METRIC_LABELS))


def size_frame(entries: list[dict]) -> pd.DataFrame:
    """One row per (model, run replicate): fraction, training clips, test clips and, per metric, the mean with
    its bootstrap CI, scored clips and failures (NaN when not measured)."""
    metrics = metric_names(entries)
    rows = []
    for e in entries:
        row = {"model": e["model"], "run": e["run"], "group": e["group"], "seed": e["seed"],
               "shared_with": e["canonical"] if e["canonical"] != e["run"] else "", "fraction": e["fraction"],
               "train_examples": e["stats"]["train_examples"], "n": e["scores"]["n"]}
        for metric in metrics:
            values = e["scores"]["metrics"].get(metric) or {}
            for key in ("mean", "ci_low", "ci_high", "n", "failures"):
                row[metric if key == "mean" else f"{metric}_{key}"] = _number(values.get(key))
        rows.append(row)
    frame = pd.DataFrame(rows).sort_values(["model", "fraction", "run"], kind="stable").reset_index(drop=True)
    for column in ["seed", *(f"{m}_{k}" for m in metrics for k in ("n", "failures"))]:
        frame[column] = frame[column].astype("Int64")
    return frame


def curve_frame(frame: pd.DataFrame, metric: str = ACCURACY) -> pd.DataFrame:
    """Per (model, fraction): training clips, seeds, seeds scored, and ``metric``'s mean over the scored seeds
    with its standard deviation (ddof 1; NaN for one seed), minimum and maximum; plus the bootstrap CI when there
    is a single seed (NaN otherwise). Sorted by model and size."""
    out = []
    for (model, fraction), part in frame.groupby(["model", "fraction"], sort=True):
        scored = part[part[metric].notna()]
        single = len(part) == 1
        out.append({"model": model, "fraction": fraction, "train_examples": int(part["train_examples"].iloc[0]),
                    "seeds": len(part), "scored_seeds": len(scored), "mean": scored[metric].mean(),
                    "std": scored[metric].std(), "min": scored[metric].min(), "max": scored[metric].max(),
                    "ci_low": part[f"{metric}_ci_low"].iloc[0] if single else math.nan,
                    "ci_high": part[f"{metric}_ci_high"].iloc[0] if single else math.nan})
    columns = ["model", "fraction", "train_examples", "seeds", "scored_seeds", "mean", "std", "min", "max",
               "ci_low", "ci_high"]
    return pd.DataFrame(out, columns=columns).sort_values(["model", "train_examples"]).reset_index(drop=True)


def per_exercise_frame(entries: list[dict]) -> pd.DataFrame:
    """One row per (model, run replicate, exercise): the class's test accuracy with its CI (from the score
    file's ``per_class``) and the class's training clips in that run (``train_class_counts``; NaN if absent)."""
    rows = []
    for e in entries:
        train_counts = e["stats"].get("train_class_counts") or {}
        for exercise, values in sorted((e["scores"].get("per_class") or {}).items()):
            rows.append({"model": e["model"], "run": e["run"], "group": e["group"], "seed": e["seed"],
                         "fraction": e["fraction"], "train_examples": e["stats"]["train_examples"],
                         "exercise": exercise, "train_clips": _number(train_counts.get(exercise)),
                         "n": _number(values.get("n")), "accuracy": _number(values.get("accuracy")),
                         "ci_low": _number(values.get("ci_low")), "ci_high": _number(values.get("ci_high"))})
    columns = ["model", "run", "group", "seed", "fraction", "train_examples", "exercise", "train_clips", "n",
               "accuracy", "ci_low", "ci_high"]
    frame = pd.DataFrame(rows, columns=columns)
    for column in ("seed", "train_clips", "n"):
        frame[column] = frame[column].astype("Int64")
    return frame.sort_values(["model", "exercise", "fraction"], kind="stable").reset_index(drop=True)


def _crossing(curve: pd.DataFrame, threshold: float) -> tuple[float, float, float, str]:
    """(size, lower size, upper size, note) where the piecewise-linear curve first reaches ``threshold``."""
    xs, ys = curve["train_examples"].to_numpy(float), curve["mean"].to_numpy(float)
    if ys[0] >= threshold - 1e-12:
        return xs[0], math.nan, xs[0], "reached at the smallest measured size (an upper bound)"
    for k in range(1, len(xs)):
        if ys[k] >= threshold - 1e-12:
            x0, x1, y0, y1 = xs[k - 1], xs[k], ys[k - 1], ys[k]
            return x0 + (threshold - y0) * (x1 - x0) / (y1 - y0), x0, x1, "linear interpolation"
    raise AssertionError("the maximum always reaches a share <= 1 of itself")


def samples_needed(frame: pd.DataFrame, targets: Iterable[float], metric: str = ACCURACY) -> pd.DataFrame:
    """Per model and target share ``t``: the training clips needed for ``t`` x the maximum (seed-mean) accuracy,
    by linear interpolation between measured sizes (module docstring). Sizes without a score are skipped; a
    model with none gets NaN and a note."""
    out = []
    curves = curve_frame(frame, metric)
    for model, curve in curves.groupby("model", sort=False):
        curve = curve[curve["mean"].notna()]
        for target in targets:
            row = {"model": model, "target": target, "max_accuracy": math.nan, "max_at_examples": math.nan,
                   "threshold": math.nan, "samples_needed": math.nan, "lower_examples": math.nan,
                   "upper_examples": math.nan, "sizes_scored": len(curve), "note": "no size was scored"}
            if not curve.empty:
                best = curve.loc[curve["mean"].idxmax()]
                threshold = target * best["mean"]
                size, low, high, note = _crossing(curve, threshold)
                row.update(max_accuracy=best["mean"], max_at_examples=best["train_examples"], threshold=threshold,
                           samples_needed=size, lower_examples=low, upper_examples=high, note=note)
            out.append(row)
    return pd.DataFrame(out, columns=["model", "target", "max_accuracy", "max_at_examples", "threshold",
                                      "samples_needed", "lower_examples", "upper_examples", "sizes_scored", "note"])


def gains(frame: pd.DataFrame, metric: str = ACCURACY) -> pd.DataFrame:
    """Per model and consecutive pair of scored sizes: the (seed-mean) accuracy gain per 100 training clips."""
    out = []
    for model, curve in curve_frame(frame, metric).groupby("model", sort=False):
        curve = curve[curve["mean"].notna()].reset_index(drop=True)
        for k in range(1, len(curve)):
            lo, hi = curve.iloc[k - 1], curve.iloc[k]
            added = hi["train_examples"] - lo["train_examples"]
            out.append({"model": model, "from_examples": int(lo["train_examples"]),
                        "to_examples": int(hi["train_examples"]), "from_accuracy": lo["mean"],
                        "to_accuracy": hi["mean"],
                        "gain_per_100": (hi["mean"] - lo["mean"]) / added * 100 if added else math.nan})
    return pd.DataFrame(out, columns=["model", "from_examples", "to_examples", "from_accuracy", "to_accuracy",
                                      "gain_per_100"])


def headline_rows(needed: pd.DataFrame, gain: pd.DataFrame, frame: pd.DataFrame) -> list[dict]:
    """Headline measures per model: ``samples_for_<t>pct_max_accuracy`` per target and
    ``accuracy_gain_per_100_samples`` between the two largest sizes (the marginal value of more data)."""
    rows = []
    for model in frame["model"].unique():
        for _, r in needed[needed["model"] == model].iterrows():
            missing = pd.isna(r["samples_needed"])
            rows.append({"question": QUESTION, "model": model,
                         "measure": f"samples_for_{round(100 * r['target'])}pct_max_accuracy",
                         "value": None if missing else r["samples_needed"], "better": "lower",
                         "detail": "" if missing else f"max accuracy {r['max_accuracy']:.3f} at "
                                                      f"{int(r['max_at_examples'])} clips; {r['note']}",
                         "note": r["note"] if missing else ""})
        last = gain[gain["model"] == model].tail(1)
        if last.empty:
            rows.append({"question": QUESTION, "model": model, "measure": "accuracy_gain_per_100_samples",
                         "value": None, "better": "none", "note": "fewer than two sizes were scored"})
        else:
            g = last.iloc[0]
            rows.append({"question": QUESTION, "model": model, "measure": "accuracy_gain_per_100_samples",
                         "value": g["gain_per_100"], "better": "none",
                         "detail": f"from {g['from_examples']} to {g['to_examples']} training clips"})
    return rows


# -- tables for people --------------------------------------------------------------------------------------

def display_size_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Run, size and every metric as ``mean [CI]`` (percent for accuracy), with unscored clips."""
    out = pd.DataFrame({"model": frame["model"], "run": frame["run"], "same run as": frame["shared_with"],
                        "fraction": [f"{100 * f:.0f}%" for f in frame["fraction"]],
                        "training clips": frame["train_examples"]})
    for metric in [m for m in METRIC_LABELS if m in frame] + sorted(
            c for c in frame if f"{c}_ci_low" in frame and c not in METRIC_LABELS):
        scale = 100 if metric == ACCURACY else 1
        spec = METRIC_LABELS.get(metric, metric) + (" %" if scale == 100 else "")
        out[spec] = [_ci_text(m, lo, hi, scale) if scale == 100 else _ci3(m, lo, hi)
                     for m, lo, hi in zip(frame[metric], frame[f"{metric}_ci_low"], frame[f"{metric}_ci_high"])]
    out["unscored (accuracy)"] = [("n/a" if pd.isna(v) else str(int(v))) for v in frame.get(f"{ACCURACY}_failures",
                                                                                          [math.nan] * len(frame))]
    return out


def _ci3(mean, low, high) -> str:
    if any(pd.isna(v) for v in (mean, low, high)):
        return "n/a"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


# -- figures ----------------------------------------------------------------------------------------------

def _error_bars(curve: pd.DataFrame) -> np.ndarray:
    """Bootstrap CI for single-seed points, min-max over seeds otherwise (as distances from the mean)."""
    low = np.where(curve["seeds"] > 1, curve["min"], curve["ci_low"])
    high = np.where(curve["seeds"] > 1, curve["max"], curve["ci_high"])
    return np.nan_to_num(np.vstack([curve["mean"] - low, high - curve["mean"]]).astype(float), nan=0.0).clip(min=0)


def metrics_vs_size_figure(frame: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """One panel per metric: score against training clips, one line per model (mean over seeds; bars: the
    bootstrap CI with one seed, min-max over seeds with several). Unscored sizes are not drawn."""
    metrics = [m for m in METRIC_LABELS if m in frame] + sorted(
        c for c in frame if f"{c}_ci_low" in frame and c not in METRIC_LABELS)
    cols = min(3, max(1, len(metrics)))
    rows = math.ceil(len(metrics) / cols) if metrics else 1
    with figure_style():
        fig = new_figure(2.6 * cols, 2.2 * rows)
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax, metric in zip(axes, metrics):
            for model in frame["model"].unique():
                curve = curve_frame(frame[frame["model"] == model], metric)
                curve = curve[curve["mean"].notna()]
                if curve.empty:
                    continue
                ax.errorbar(curve["train_examples"], curve["mean"], yerr=_error_bars(curve), marker="o",
                            color=model_colour(model), label=model, capsize=2, markersize=3)
            ax.set_title(METRIC_LABELS.get(metric, metric))
            ax.set_xlabel("training clips")
            if metric == ACCURACY:
                ax.set_ylim(-0.02, 1.05)
        for ax in axes[len(metrics):]:
            ax.set_visible(False)
        if metrics and len(frame["model"].unique()):
            axes[0].legend(fontsize=6)
        save_figure(fig, out_pdf, out_png)


def per_exercise_figure(per_exercise: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """One panel per model: each exercise's test accuracy (mean over seeds) against the run's training clips."""
    models = list(per_exercise["model"].unique()) or ["(no scores)"]
    cols = min(3, len(models))
    rows = math.ceil(len(models) / cols)
    with figure_style():
        fig = new_figure(3.0 * cols, 2.4 * rows)
        axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
        for ax, model in zip(axes, models):
            part = per_exercise[(per_exercise["model"] == model) & per_exercise["accuracy"].notna()]
            means = part.groupby(["exercise", "train_examples"], sort=True)["accuracy"].mean().reset_index()
            for k, (exercise, line) in enumerate(means.groupby("exercise", sort=True)):
                ax.plot(line["train_examples"], line["accuracy"], marker="o", markersize=3,
                        color=PALETTE[k % len(PALETTE)], label=exercise)
            ax.set_title(model)
            ax.set_xlabel("training clips (all classes)")
            ax.set_ylabel("exercise-ID accuracy")
            ax.set_ylim(-0.02, 1.05)
            if not means.empty:
                ax.legend(fontsize=5)
        for ax in axes[len(models):]:
            ax.set_visible(False)
        save_figure(fig, out_pdf, out_png)


# -- summary -----------------------------------------------------------------------------------------------

def summary_markdown(frame: pd.DataFrame, needed: pd.DataFrame, gain: pd.DataFrame, *, ci: float) -> str:
    """The RQ1.1.3 section of RESULTS_SUMMARY.md: per model the size curve and the findings from the numbers."""
    lines = ["## RQ 1.1.3: training-set size", "",
             f"Each run trains on a nested subset of the training split with exact class proportions (rounded "
             f"half up per class) and error labels balanced by an integer program; the largest size is the whole "
             f"split. Scores are on the clean test set with bootstrap {ci:.0%} CIs; unscored clips are excluded "
             f"and counted, never imputed. Samples needed interpolate linearly between measured sizes."]
    display = display_size_frame(frame)
    for model in frame["model"].unique():
        shown = display[frame["model"] == model]
        lines += ["", f"### {model}", "", "| " + " | ".join(shown.columns[1:]) + " |",
                  "|" + "---|" * (len(shown.columns) - 1)]
        lines += ["| " + " | ".join(str(v) for v in r[1:]) + " |" for r in shown.itertuples(index=False)]
        lines.append("")
        lines += _findings(frame[frame["model"] == model], needed[needed["model"] == model],
                           gain[gain["model"] == model])
    return "\n".join(lines) + "\n"


def _findings(part: pd.DataFrame, needed: pd.DataFrame, gain: pd.DataFrame) -> list[str]:
    curve = curve_frame(part)
    scored = curve[curve["mean"].notna()]
    if scored.empty:
        return ["- No size has a scored exercise-ID accuracy: nothing to compare."]
    out = []
    smallest, largest = scored.iloc[0], scored.iloc[-1]
    out.append(f"- Exercise-ID accuracy goes from {100 * smallest['mean']:.1f}% with {smallest['train_examples']} "
               f"training clips to {100 * largest['mean']:.1f}% with {largest['train_examples']}.")
    for _, r in needed.iterrows():
        if pd.notna(r["samples_needed"]):
            out.append(f"- {100 * r['target']:.0f}% of the maximum accuracy ({100 * r['max_accuracy']:.1f}% at "
                       f"{int(r['max_at_examples'])} clips): about {r['samples_needed']:.0f} training clips "
                       f"({r['note']}).")
    if not gain.empty:
        g = gain.iloc[-1]
        out.append(f"- From {g['from_examples']} to {g['to_examples']} clips accuracy changes by "
                   f"{g['gain_per_100'] * 100:+.1f} points per 100 clips"
                   + (": more data still helps." if g["gain_per_100"] > 0 else ": the curve has flattened."))
    for _, group in curve[curve["seeds"] > 1].iterrows():
        out.append(f"- {100 * group['fraction']:.0f}% of the data over {group['seeds']} seeds "
                   f"({group['scored_seeds']} scored): mean {100 * group['mean']:.1f}%, standard deviation "
                   f"{100 * group['std']:.1f} points, range {100 * group['min']:.1f}-{100 * group['max']:.1f}%.")
    missing = part[part[ACCURACY].isna()]["run"].tolist()
    if missing:
        out.append(f"- Without any scored clip (left out of the curve): {', '.join(missing)}.")
    return out
