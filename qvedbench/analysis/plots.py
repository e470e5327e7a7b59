"""Figures of the error-detection and confusion analyses (RQ2.1.1, RQ4.1.2), in the house style."""
from __future__ import annotations

import math
import os
from typing import Mapping

import numpy as np
import pandas as pd

from qvedbench.report.style import PALETTE, figure_style, new_figure, save_figure


def _grid(count: int, cols: int = 3) -> tuple[int, int]:
    cols = max(1, min(cols, count))
    return math.ceil(count / cols), cols


def confusion_heatmaps(matrices: Mapping[str, pd.DataFrame], pdf: str | os.PathLike, png: str | os.PathLike, *,
                       title: str) -> None:
    """One heatmap per labelled count matrix, coloured by row share (each row sums to 1), counts written in
    the cells."""
    if not matrices:
        raise ValueError(f"{pdf}: no matrices to draw")
    rows, cols = _grid(len(matrices))
    first = next(iter(matrices.values()))
    cell = 0.42
    with figure_style():
        fig = new_figure(cols * (1.6 + cell * first.shape[1]), rows * (1.4 + cell * first.shape[0]))
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, (label, matrix) in zip(axes, matrices.items()):
            totals = matrix.sum(axis=1).replace(0, np.nan)
            share = matrix.div(totals, axis=0).fillna(0.0).to_numpy(dtype=float)
            ax.imshow(share, cmap="Blues", vmin=0, vmax=1, aspect="auto")
            for (i, j), count in np.ndenumerate(matrix.to_numpy()):
                ax.text(j, i, str(int(count)), ha="center", va="center", fontsize=6,
                        color="white" if share[i, j] > 0.6 else "black")
            ax.set_xticks(range(matrix.shape[1]), matrix.columns, rotation=60, ha="right")
            ax.set_yticks(range(matrix.shape[0]), matrix.index)
            ax.set_xlabel(matrix.columns.name or "predicted")
            ax.set_ylabel(matrix.index.name or "actual")
            ax.set_title(label)
            ax.grid(False)
        for ax in axes[len(matrices):]:
            ax.set_visible(False)
        fig.suptitle(title)
        save_figure(fig, pdf, png)


def prf_bars(metrics: pd.DataFrame, pdf: str | os.PathLike, png: str | os.PathLike) -> None:
    """Precision, recall and F1 per error type (x) and model/run (bars, ``label`` column) with CI whiskers."""
    labels = list(dict.fromkeys(metrics["label"]))
    errors = list(dict.fromkeys(metrics["error"]))
    width = 0.8 / max(len(labels), 1)
    with figure_style():
        fig = new_figure(min(12.0, 1.5 + 1.5 * len(errors)), 3.0)
        axes = fig.subplots(1, 3, sharey=True)
        for ax, stat in zip(axes, ("precision", "recall", "f1")):
            for k, label in enumerate(labels):
                part = metrics[metrics["label"] == label].set_index("error").reindex(errors)
                value = part[stat].astype(float).to_numpy()
                low = np.nan_to_num(value - part[f"{stat}_ci_low"].astype(float).to_numpy())
                high = np.nan_to_num(part[f"{stat}_ci_high"].astype(float).to_numpy() - value)
                x = np.arange(len(errors)) + (k - (len(labels) - 1) / 2) * width
                ax.bar(x, np.nan_to_num(value), width, yerr=[low, high], capsize=2, label=label,
                       color=PALETTE[k % len(PALETTE)])
            ax.set_xticks(range(len(errors)), errors, rotation=30, ha="right")
            ax.set_ylim(0, 1.05)
            ax.set_title({"f1": "F1"}.get(stat, stat.capitalize()))
        handles, names = axes[0].get_legend_handles_labels()
        fig.legend(handles, names, loc="outside lower center", ncols=min(4, len(names)), fontsize=6)
        save_figure(fig, pdf, png)


def pr_curve_figure(curves: Mapping[str, Mapping[str, dict | None]], pdf: str | os.PathLike,
                    png: str | os.PathLike) -> None:
    """One panel per error: precision against recall over the matched-phrase-count threshold, one line per
    model/run (average precision in the legend); a panel without actual cases says so."""
    errors = list(dict.fromkeys(e for per_error in curves.values() for e in per_error))
    rows, cols = _grid(len(errors), 4)
    with figure_style():
        fig = new_figure(2.4 * cols, 2.3 * rows)
        axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False)).ravel()
        for ax, error in zip(axes, errors):
            drawn = False
            for k, (label, per_error) in enumerate(curves.items()):
                curve = per_error.get(error)
                if curve:
                    ax.step(curve["recall"], curve["precision"], where="post", color=PALETTE[k % len(PALETTE)],
                            marker="o", markersize=3, label=f"{label} (AP {curve['average_precision']:.2f})")
                    drawn = True
            if not drawn:
                ax.text(0.5, 0.5, "no actual cases", ha="center", va="center", transform=ax.transAxes)
            else:
                ax.legend(fontsize=5)
            ax.set_xlim(0, 1.02)
            ax.set_ylim(0, 1.05)
            ax.set_xlabel("recall")
            ax.set_ylabel("precision")
            ax.set_title(error)
        for ax in axes[len(errors):]:
            ax.set_visible(False)
        save_figure(fig, pdf, png)


def accuracy_vs_training_figure(accuracy: pd.DataFrame, counts: pd.Series, pdf: str | os.PathLike,
                                png: str | os.PathLike) -> None:
    """Per-class accuracy (one column per model/run) against the class's training clips."""
    with figure_style():
        fig = new_figure(4.2, 3.0)
        ax = fig.subplots()
        for k, label in enumerate(accuracy.columns):
            ax.scatter(counts.loc[accuracy.index], accuracy[label], color=PALETTE[k % len(PALETTE)], label=label, s=18)
        for name in accuracy.index:
            ax.annotate(name, (counts[name], accuracy.loc[name].max()), fontsize=5, xytext=(2, 2), textcoords="offset points")
        ax.set_xlabel("training clips of the class")
        ax.set_ylabel("exercise-ID accuracy")
        ax.set_ylim(-0.02, 1.05)
        ax.legend(fontsize=6)
        save_figure(fig, pdf, png)

