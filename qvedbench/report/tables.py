"""The comparison table: one row per model x run x variant, every metric with its CI, n and failures."""
from __future__ import annotations

import os
from typing import Iterable

import pandas as pd

from qvedbench.io import write_text
from qvedbench.report.load import load_scores, run_order, variant_order
from qvedbench.report.style import METRIC_LABELS

METRIC_ORDER = tuple(METRIC_LABELS)
EXTRA_COLUMNS = ("majority_rate", "chance_rate", "unparsed_exercise", "follows_original_rate")


def comparison_frame(score_jsons: Iterable[str | os.PathLike | dict]) -> pd.DataFrame:
    """Numeric table: ``<metric>``, ``<metric>_ci_low``, ``_ci_high``, ``_n``, ``_failures`` per metric."""
    scores = load_scores(score_jsons)
    metrics = [m for m in METRIC_ORDER if any(m in s["metrics"] for s in scores)]
    rows = []
    for s in sorted(scores, key=lambda s: (s["model"], run_order(s["run"]), variant_order(s["variant"]))):
        row = {"model": s["model"], "run": s["run"], "variant": s["variant"], "n": s["n"]}
        for metric in metrics:
            entry = s["metrics"].get(metric) or {}
            row[metric] = entry.get("mean")
            for key in ("ci_low", "ci_high", "n", "failures"):
                row[f"{metric}_{key}"] = entry.get(key)
        for key in EXTRA_COLUMNS:
            row[key] = s.get(key)
        rows.append(row)
    return pd.DataFrame(rows)


def _mean_ci(mean, low, high) -> str:
    if mean is None or pd.isna(mean):
        return "n/a"
    return f"{mean:.3f} [{low:.3f}, {high:.3f}]"


def latex_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Display table: one ``mean [low, high]`` column and one failure-count column per metric."""
    metrics = [m for m in METRIC_ORDER if m in frame.columns]
    out = frame[["model", "run", "variant", "n"]].copy()
    for metric in metrics:
        out[METRIC_LABELS[metric]] = [
            _mean_ci(m, lo, hi)
            for m, lo, hi in zip(frame[metric], frame[f"{metric}_ci_low"], frame[f"{metric}_ci_high"])
        ]
        out[f"{METRIC_LABELS[metric]} failures"] = frame[f"{metric}_failures"].astype("Int64")
    out["majority rate"] = [f"{v:.3f}" if pd.notna(v) else "n/a" for v in frame["majority_rate"]]
    return out


def comparison_table(
    score_jsons: Iterable[str | os.PathLike | dict], out_csv: str | os.PathLike, out_tex: str | os.PathLike
) -> pd.DataFrame:
    """Write the numeric table as CSV and the display table as LaTeX (escaped); return the numeric table."""
    frame = comparison_frame(score_jsons)
    write_text(out_csv, frame.to_csv(index=False))
    display = latex_frame(frame)
    write_text(out_tex, display.to_latex(index=False, escape=True, na_rep="n/a"))
    return frame
