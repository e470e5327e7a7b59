"""Figures of the report, each written as vector PDF and 200-dpi PNG."""
from __future__ import annotations

import os
import textwrap
from typing import Iterable

from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch

from qvedbench.report.load import load_scores, run_order
from qvedbench.report.style import (METRIC_LABELS, REFERENCE_COLOUR, figure_style, new_figure, run_colour,
                                    save_figure)

METRIC_ORDER = tuple(METRIC_LABELS)


def index_scores(scores: list[dict]) -> dict[tuple[str, str], dict]:
    """``(model, run) -> scores`` for one variant; two files for the same pair is an error."""
    table: dict[tuple[str, str], dict] = {}
    for s in scores:
        key = (s["model"], s["run"])
        if key in table:
            raise ValueError(f"two score files for model '{key[0]}', run '{key[1]}', variant '{s['variant']}'")
        table[key] = s
    return table


def base_vs_baseline(
    score_jsons: Iterable[str | os.PathLike | dict],
    out_pdf: str | os.PathLike,
    out_png: str | os.PathLike,
    *,
    variant: str = "clean",
) -> Figure:
    """Grouped bars: one panel per metric, one group per model, one bar per run (base, baseline, others).

    Error bars are the bootstrap CIs stored in the scores; the accuracy panel marks each model's
    majority-class rate; bars with unscored samples are labelled with their failure count.
    """
    scores = [s for s in load_scores(score_jsons) if s["variant"] == variant]
    if not scores:
        raise ValueError(f"no scores for variant '{variant}'")
    table = index_scores(scores)
    models = sorted({m for m, _ in table})
    runs = sorted({r for _, r in table}, key=run_order)
    metrics = [m for m in METRIC_ORDER if any(m in s["metrics"] for s in scores)]
    width = 0.8 / len(runs)
    with figure_style():
        fig = new_figure(max(2.3 * len(metrics), 4.0), 3.4)
        axes = fig.subplots(1, len(metrics), squeeze=False)[0]
        any_failures = False
        for ax, metric in zip(axes, metrics):
            low_edge = 0.0
            for j, run in enumerate(runs):
                for i, model in enumerate(models):
                    entry = table.get((model, run), {}).get("metrics", {}).get(metric)
                    if entry is None:
                        continue
                    x = i - 0.4 + width * (j + 0.5)
                    if entry["mean"] is None:
                        ax.text(x, 0.02, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
                        continue
                    mean, low, high = entry["mean"], entry["ci_low"], entry["ci_high"]
                    ax.bar(x, mean, width * 0.92, color=run_colour(run),
                           yerr=[[mean - low], [high - mean]], capsize=2, error_kw={"elinewidth": 0.8})
                    low_edge = min(low_edge, low)
                    if entry.get("failures"):
                        any_failures = True
                        ax.text(x, high + 0.02, f"{entry['failures']}", ha="center", va="bottom", fontsize=6)
            if metric == "exercise_accuracy":
                for i, model in enumerate(models):
                    rates = [s.get("majority_rate") for (m, _), s in table.items() if m == model]
                    rates = [r for r in rates if r is not None]
                    if rates:
                        ax.hlines(max(rates), i - 0.45, i + 0.45, colors=REFERENCE_COLOUR, linestyles="--",
                                  linewidth=1)
            ax.set_title(METRIC_LABELS[metric])
            ax.set_xticks(range(len(models)), models, rotation=25, ha="right", rotation_mode="anchor")
            ax.set_xlim(-0.6, len(models) - 0.4)
            ax.set_ylim(min(0.0, low_edge - 0.05), 1.12)
        handles = [Patch(color=run_colour(r), label=r) for r in runs]
        if "exercise_accuracy" in metrics:
            handles.append(Line2D([], [], color=REFERENCE_COLOUR, linestyle="--", label="majority-class rate"))
        fig.legend(handles=handles, loc="outside upper center", ncols=len(handles), frameon=False)
        level = scores[0].get("config", {}).get("ci", 0.95)
        note = f"Variant: {variant}. Error bars: bootstrap {level:.0%} CI."
        if any_failures:
            note += " Numbers above bars: samples that could not be scored (excluded, not imputed)."
        fig.supxlabel(textwrap.fill(note, width=int(fig.get_figwidth() * 16)), fontsize=7)
        axes[0].set_ylabel("score")
        save_figure(fig, out_pdf, out_png)
    return fig
