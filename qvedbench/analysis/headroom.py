"""RQ3.2.1: accuracy headroom: how far each model's current score lies above the minimum acceptable value.

For a metric with current value ``c`` (bootstrap CI ``[lo, hi]``) and minimum ``m`` (``questions.rq3_2_1.
thresholds``): headroom ``h = c - m`` with the CI shifted by the same constant, ``[lo - m, hi - m]``, and
relative headroom ``h / m`` (the share of the threshold that compression may still cost). A model is *below* a
threshold when ``c < m``; the CI says whether that is clear (``hi < m``: ``below``; ``lo >= m``: ``above``) or
not (``uncertain``).

Most room for compression: the model whose *smallest* relative headroom over the thresholded metrics is the
largest (its tightest metric decides, since compression must keep every metric above its minimum). Only models
with every thresholded metric scored and none below its minimum qualify; with none qualifying there is no such
model. A missing score is reported as missing, never filled in.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from qvedbench.report.markdown import files_lines
from qvedbench.report.load import load_scores
from qvedbench.report.style import METRIC_LABELS, REFERENCE_COLOUR, figure_style, model_colour, new_figure, save_figure

COLUMNS = ["model", "run", "variant", "metric", "current", "ci_low", "ci_high", "n", "failed", "minimum",
           "headroom", "headroom_ci_low", "headroom_ci_high", "relative_headroom", "status", "note"]


def _number(value) -> float | None:
    if value is None:
        return None
    value = float(value)
    return None if math.isnan(value) else value


def headroom(current: float | None, minimum: float, ci_low: float | None = None,
             ci_high: float | None = None) -> dict:
    """Headroom of ``current`` over ``minimum``: ``{"headroom", "ci_low", "ci_high", "relative", "status"}``.

    The CI is the current value's CI shifted by ``-minimum``; ``relative`` is ``headroom / minimum`` (None for
    a zero minimum); ``status`` is ``above`` (CI lower bound at or over the minimum), ``below`` (CI upper bound
    under it), ``uncertain`` (the CI contains it; without a CI the point decides: ``above`` or ``below``) or
    ``missing`` (no current value: every other field None).
    """
    current, ci_low, ci_high = _number(current), _number(ci_low), _number(ci_high)
    if current is None:
        return {"headroom": None, "ci_low": None, "ci_high": None, "relative": None, "status": "missing"}
    h = current - minimum
    low = None if ci_low is None else ci_low - minimum
    high = None if ci_high is None else ci_high - minimum
    if low is not None and low >= 0:
        status = "above"
    elif high is not None and high < 0:
        status = "below"
    elif low is None or high is None:
        status = "above" if h >= 0 else "below"
    else:
        status = "uncertain"
    return {"headroom": h, "ci_low": low, "ci_high": high, "relative": h / minimum if minimum else None,
            "status": status}


def check_thresholds(thresholds: Mapping[str, float]) -> dict[str, float]:
    """The thresholds as floats; ``ValueError`` for an empty mapping or a non-numeric value."""
    if not thresholds:
        raise ValueError("headroom: no thresholds given (questions.rq3_2_1.thresholds)")
    out = {}
    for metric, value in thresholds.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"headroom: threshold of {metric!r} must be a number, got {value!r}")
        out[metric] = float(value)
    return out


def headroom_frame(score_jsons: Iterable[str | os.PathLike | dict], thresholds: Mapping[str, float]) -> pd.DataFrame:
    """One row per (score file, thresholded metric): current value with CI, n, failed, minimum, headroom with
    the shifted CI, relative headroom and status (:func:`headroom`). A metric missing from a score file is a
    ``missing`` row with a note."""
    thresholds = check_thresholds(thresholds)
    rows = []
    for s in load_scores(score_jsons):
        for metric, minimum in thresholds.items():
            entry = (s.get("metrics") or {}).get(metric)
            base = {"model": s["model"], "run": s["run"], "variant": s["variant"], "metric": metric,
                    "minimum": minimum}
            if entry is None:
                rows.append({**base, "n": s.get("n"), "status": "missing",
                             "note": f"metric '{metric}' is not in the score file"})
                continue
            h = headroom(entry.get("mean"), minimum, entry.get("ci_low"), entry.get("ci_high"))
            rows.append({**base, "current": entry.get("mean"), "ci_low": entry.get("ci_low"),
                         "ci_high": entry.get("ci_high"), "n": entry.get("n"), "failed": entry.get("failures"),
                         "headroom": h["headroom"], "headroom_ci_low": h["ci_low"], "headroom_ci_high": h["ci_high"],
                         "relative_headroom": h["relative"], "status": h["status"],
                         "note": "no sample could be scored" if h["status"] == "missing" else ""})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    order = {m: i for i, m in enumerate(thresholds)}
    frame["_order"] = frame["metric"].map(order)
    return frame.sort_values(["model", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)


def read_headroom(path: str | os.PathLike) -> pd.DataFrame:
    """The headroom table as :func:`headroom_frame` returns it, from its CSV."""
    frame = pd.read_csv(path)
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    frame["note"] = frame["note"].fillna("").astype(str)
    return frame


def model_room(frame: pd.DataFrame) -> pd.DataFrame:
    """Per model: the smallest relative headroom over the thresholded metrics, the metric it comes from, the
    metrics below their minimum, and whether the model qualifies for the most-room ranking (every metric
    scored, none below)."""
    rows = []
    for model, part in frame.groupby("model", sort=True):
        scored = part.dropna(subset=["relative_headroom"])
        below = [m for m, h in zip(part["metric"], part["headroom"]) if h is not None and not pd.isna(h) and h < 0]
        missing = [m for m in part["metric"] if m not in set(scored["metric"])]
        tightest = scored.loc[scored["relative_headroom"].idxmin()] if not scored.empty else None
        rows.append({"model": model,
                     "smallest_relative_headroom": None if tightest is None else tightest["relative_headroom"],
                     "limiting_metric": None if tightest is None else tightest["metric"],
                     "below": ", ".join(below), "missing": ", ".join(missing),
                     "qualifies": not below and not missing})
    return pd.DataFrame(rows, columns=["model", "smallest_relative_headroom", "limiting_metric", "below", "missing",
                                       "qualifies"])


def most_room(frame: pd.DataFrame) -> dict | None:
    """The model with most room for compression (see the module docstring) as a row of :func:`model_room`
    (ties: the first model by name); None when no model qualifies."""
    room = model_room(frame)
    room = room[room["qualifies"]].dropna(subset=["smallest_relative_headroom"])
    if room.empty:
        return None
    return room.sort_values(["smallest_relative_headroom", "model"], ascending=[False, True]).iloc[0].to_dict()


def headroom_figure(frame: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """One panel per thresholded metric: each model's current value (bar, 95% CI) with the minimum as a dashed
    line (and in the title); bars below the minimum are hatched and marked, missing values marked ``n/a``."""
    if frame.empty:
        raise ValueError("headroom figure: no rows to plot")
    metrics = list(dict.fromkeys(frame["metric"]))
    models = sorted(set(frame["model"]))
    with figure_style():
        fig = new_figure(max(3.6, (0.55 * len(models) + 1.6) * len(metrics)), 3.2)
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        for ax, metric in zip(axes, metrics):
            part = frame[frame["metric"] == metric].set_index("model")
            minimum = float(part["minimum"].iloc[0])
            for i, model in enumerate(models):
                row = part.loc[model] if model in part.index else None
                value = None if row is None else _number(row["current"])
                if value is None:
                    ax.text(i, 0.02, "n/a", ha="center", va="bottom", fontsize=7)
                    continue
                err = np.array([[value - _number(row["ci_low"])], [_number(row["ci_high"]) - value]]) \
                    if _number(row["ci_low"]) is not None else None
                below = value < minimum
                ax.bar(i, value, color=model_colour(model), yerr=err, capsize=3, width=0.7,
                       hatch="xx" if below else None, edgecolor="0.6", linewidth=0.5)
                if below:
                    top = value if err is None else value + err[1][0]
                    ax.text(i, top + 0.02, "below", ha="center", va="bottom", fontsize=7, color=REFERENCE_COLOUR)
            ax.axhline(minimum, color=REFERENCE_COLOUR, linestyle="--", linewidth=1)
            ax.set_xticks(range(len(models)), models, rotation=30, ha="right", rotation_mode="anchor")
            ax.set_ylim(0, 1.05 if minimum <= 1 else None)
            ax.set_title(f"{METRIC_LABELS.get(metric, metric)}\n(minimum {minimum:g})")
        axes[0].set_ylabel("Current value (95% CI)")
        save_figure(fig, out_pdf, out_png)


def _fmt(value, spec: str = ".3f") -> str:
    value = _number(value)
    return "n/a" if value is None else format(value, spec)


def summary_section(frame: pd.DataFrame, links: Iterable[str | os.PathLike] = (),
                    relative_to: str | os.PathLike = "results") -> str:
    """The markdown section of RESULTS_SUMMARY.md: the rule, the model with most room, flagged models and the
    current / minimum / headroom table."""
    lines = ["## RQ 3.2.1: Accuracy headroom", ""]
    lines.append("Headroom = current score - minimum acceptable value (bootstrap 95% CI of the current score, "
                 "shifted); relative headroom = headroom / minimum. Most room for compression: the largest "
                 "smallest relative headroom over the thresholded metrics, among models with every metric "
                 "scored and none below its minimum.")
    lines.append("")
    best = most_room(frame)
    if best is None:
        lines.append("- No model qualifies as having room for compression (each is below a minimum or has an "
                     "unscored metric).")
    else:
        lines.append(f"- Most room for compression: **{best['model']}** (smallest relative headroom "
                     f"{100 * best['smallest_relative_headroom']:+.1f}%, on {best['limiting_metric']}).")
    for _, r in model_room(frame).iterrows():
        if r["below"]:
            lines.append(f"- **{r['model']} is below the minimum** on {r['below']}.")
        if r["missing"]:
            lines.append(f"- {r['model']}: no score for {r['missing']} (not imputed).")
    lines += ["", "| model | run | metric | current [95% CI] | n | failed | minimum | headroom [95% CI] | status |",
              "|---|---|---|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        current = (f"{_fmt(r['current'])} [{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]"
                   if _number(r["current"]) is not None else "n/a")
        room = (f"{_fmt(r['headroom'], '+.3f')} [{_fmt(r['headroom_ci_low'], '+.3f')}, "
                f"{_fmt(r['headroom_ci_high'], '+.3f')}]" if _number(r["headroom"]) is not None else "n/a")
        n = "n/a" if _number(r["n"]) is None else int(r["n"])
        failed = "n/a" if _number(r["failed"]) is None else int(r["failed"])
        lines.append(f"| {r['model']} | {r['run']} | {r['metric']} | {current} | {n} | {failed} | "
                     f"{r['minimum']:g} | {room} | {r['status']} |")
    lines += files_lines(links, relative_to)
    return "\n".join(lines) + "\n"


def headline_rows(frame: pd.DataFrame, question: str = "rq3_2_1") -> list[dict]:
    """Headline rows: ``headroom_<metric>`` per model and metric (with the shifted CI), and the smallest
    relative headroom per model."""
    rows = []
    for _, r in frame.iterrows():
        value = _number(r["headroom"])
        rows.append({"question": question, "model": r["model"], "measure": f"headroom_{r['metric']}",
                     "value": value, "ci_low": _number(r["headroom_ci_low"]), "ci_high": _number(r["headroom_ci_high"]),
                     "n": _number(r["n"]), "failed": _number(r["failed"]), "better": "higher",
                     "detail": f"run {r['run']}; current {_fmt(r['current'])} vs minimum {r['minimum']:g}",
                     "note": "" if value is not None else (r["note"] if isinstance(r["note"], str) and r["note"]
                                                             else "not scored")})
    for _, r in model_room(frame).iterrows():
        value = _number(r["smallest_relative_headroom"])
        rows.append({"question": question, "model": r["model"], "measure": "smallest_relative_headroom",
                     "value": value, "better": "higher",
                     "detail": "" if value is None else f"limited by {r['limiting_metric']}",
                     "note": "" if value is not None else "no thresholded metric scored"})
    return rows
