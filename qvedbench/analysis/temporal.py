"""RQ1.2: exercise-ID accuracy against the number of frames shown and the sampling rate.

Inputs are aggregate score files (per-sample ``.jsonl`` beside them) of temporal variants
``frames<F>_stride<S>`` (see :mod:`qvedbench.data.variants`): ``F`` frames taken every ``S`` source frames,
so the effective frame rate is the source rate divided by ``S``. Clips too short for a configuration are
failures of that configuration (counted, never imputed), so each accuracy is printed with its failure count.
"""
from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import pandas as pd

from qvedbench.report.markdown import files_lines
from qvedbench.analysis.robustness import bootstrap_settings
from qvedbench.variant_names import parse_temporal_variant
from qvedbench.io import read_jsonl
from qvedbench.report.load import load_scores, per_sample_values, run_order
from qvedbench.report.style import PALETTE, figure_style, new_figure, save_figure
from qvedbench.stats import paired_bootstrap_diff

ACCURACY = "exercise_accuracy"
COLUMNS = ["model", "run", "variant", "frames", "stride", "fps", "accuracy", "ci_low", "ci_high", "n", "failures"]
MINIMUM_COLUMNS = ["model", "run", "tolerance", "best_frames", "best_stride", "best_accuracy", "min_frames",
                   "min_frames_stride", "min_accuracy", "fewest_frames_any_stride", "largest_stride_any_frames",
                   "lowest_fps", "diff", "diff_ci_low", "diff_ci_high"]


def mean_source_fps(test_jsonl: str | os.PathLike) -> float | None:
    """The mean frame rate of the test clips (``fps`` of the normalised records); None if no record has one.
    With clips of mixed rates, effective rates derived from it are averages."""
    rates = [r["fps"] for r in read_jsonl(test_jsonl) if isinstance(r.get("fps"), (int, float)) and r["fps"] > 0]
    return float(np.mean(rates)) if rates else None


def _temporal_scores(score_jsons: Iterable[str | os.PathLike | dict]) -> list[tuple[dict, int, int]]:
    out = []
    for s in load_scores(score_jsons):
        parsed = parse_temporal_variant(s["variant"])
        if parsed is not None:
            out.append((s, *parsed))
    return out


def temporal_frame(score_jsons: Iterable[str | os.PathLike | dict], source_fps: float | None = None) -> pd.DataFrame:
    """One row per (model, run, frames, stride): accuracy with CI, n and failures, and ``fps`` = ``source_fps
    / stride`` (None without ``source_fps``). Scores of non-temporal variants are ignored."""
    rows = []
    for s, frames, stride in _temporal_scores(score_jsons):
        acc = s["metrics"][ACCURACY]
        rows.append({"model": s["model"], "run": s["run"], "variant": s["variant"], "frames": frames,
                     "stride": stride, "fps": source_fps / stride if source_fps else None, "accuracy": acc["mean"],
                     "ci_low": acc["ci_low"], "ci_high": acc["ci_high"], "n": acc["n"], "failures": acc["failures"]})
    frame = pd.DataFrame(rows, columns=COLUMNS)
    return frame.sort_values(["model", "run", "frames", "stride"]).reset_index(drop=True)


def per_exercise_frame(score_jsons: Iterable[str | os.PathLike | dict]) -> pd.DataFrame:
    """Per-exercise accuracy (Wilson CI, from the scores' ``per_class``) of every temporal configuration."""
    rows = []
    for s, frames, stride in _temporal_scores(score_jsons):
        for exercise, entry in (s.get("per_class") or {}).items():
            rows.append({"model": s["model"], "run": s["run"], "frames": frames, "stride": stride,
                         "exercise": exercise, "accuracy": entry.get("accuracy"), "ci_low": entry.get("ci_low"),
                         "ci_high": entry.get("ci_high"), "n": entry.get("n")})
    columns = ["model", "run", "frames", "stride", "exercise", "accuracy", "ci_low", "ci_high", "n"]
    return pd.DataFrame(rows, columns=columns).sort_values(["model", "run", "exercise", "frames", "stride"])


def exercise_sensitivity(per_exercise: pd.DataFrame) -> pd.DataFrame:
    """Per (model, run, exercise): the best and worst accuracy over the configurations and their spread
    (``sensitivity`` = best - worst), most sensitive exercises first."""
    scored = per_exercise.dropna(subset=["accuracy"])
    rows = []
    for (model, run, exercise), group in scored.groupby(["model", "run", "exercise"]):
        best, worst = group.loc[group["accuracy"].idxmax()], group.loc[group["accuracy"].idxmin()]
        rows.append({"model": model, "run": run, "exercise": exercise, "best_accuracy": best["accuracy"],
                     "best_config": f"frames {best['frames']}, stride {best['stride']}",
                     "worst_accuracy": worst["accuracy"],
                     "worst_config": f"frames {worst['frames']}, stride {worst['stride']}",
                     "sensitivity": best["accuracy"] - worst["accuracy"], "configurations": len(group)})
    columns = ["model", "run", "exercise", "best_accuracy", "best_config", "worst_accuracy", "worst_config",
               "sensitivity", "configurations"]
    out = pd.DataFrame(rows, columns=columns)
    return out.sort_values(["model", "run", "sensitivity"], ascending=[True, True, False]).reset_index(drop=True)


def minimum_configuration(score_jsons: Iterable[str | os.PathLike | dict], tolerance: float,
                          source_fps: float | None = None) -> pd.DataFrame:
    """Per (model, run): the best configuration and the cheapest one within ``tolerance`` (absolute accuracy)
    of it, cheapest meaning fewest frames, then the largest stride (lowest frame rate); also the fewest
    frames and the largest stride that reach the tolerance on their own. ``diff`` is the paired bootstrap
    difference cheapest - best over clips scored in both (None without per-sample files)."""
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0, got {tolerance}")
    scores = load_scores(score_jsons)
    frame = temporal_frame(scores, source_fps)
    by_variant = {(s["model"], s["run"], s["variant"]): s for s in scores}
    rows = []
    for (model, run), group in frame.dropna(subset=["accuracy"]).groupby(["model", "run"]):
        best = group.loc[group["accuracy"].idxmax()]
        within = group[group["accuracy"] >= best["accuracy"] - tolerance]
        cheapest = within.sort_values(["frames", "stride"], ascending=[True, False]).iloc[0]
        row = {"model": model, "run": run, "tolerance": tolerance, "best_frames": best["frames"],
               "best_stride": best["stride"], "best_accuracy": best["accuracy"], "min_frames": cheapest["frames"],
               "min_frames_stride": cheapest["stride"], "min_accuracy": cheapest["accuracy"],
               "fewest_frames_any_stride": int(within["frames"].min()),
               "largest_stride_any_frames": int(within["stride"].max()),
               "lowest_fps": source_fps / int(within["stride"].max()) if source_fps else None,
               "diff": None, "diff_ci_low": None, "diff_ci_high": None}
        best_scores = by_variant[(model, run, best["variant"])]
        a = per_sample_values(by_variant[(model, run, cheapest["variant"])], "exercise_correct")
        b = per_sample_values(best_scores, "exercise_correct")
        if a is not None and b is not None:
            diff = paired_bootstrap_diff(a, b, **bootstrap_settings(best_scores))
            row.update(diff=diff["diff"], diff_ci_low=diff["ci_low"], diff_ci_high=diff["ci_high"])
        rows.append(row)
    return pd.DataFrame(rows, columns=MINIMUM_COLUMNS)


# -- tables and figures --------------------------------------------------------------------------------------

def _panels(frame: pd.DataFrame, height: float = 3.0):
    keys = sorted({(m, r) for m, r in zip(frame["model"], frame["run"])}, key=lambda k: (k[0], run_order(k[1])))
    fig = new_figure(max(3.2 * len(keys), 3.6), height)
    axes = fig.subplots(1, len(keys), squeeze=False, sharey=True)[0]
    return fig, list(zip(keys, axes))


def _title(model: str, run: str) -> str:
    return f"{model} ({run})"


def _lines(frame: pd.DataFrame, x: str, series: str, series_label: str, xlabel: str,
           out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """One panel per (model, run): accuracy with CI against ``x``, one line per value of ``series``."""
    if frame.empty:
        raise ValueError("no temporal scores to plot")
    values = sorted(set(frame[series]))
    with figure_style():
        fig, panels = _panels(frame)
        for (model, run), ax in panels:
            part = frame[(frame["model"] == model) & (frame["run"] == run)].dropna(subset=["accuracy"])
            for i, value in enumerate(values):
                line = part[part[series] == value].sort_values(x)
                if line.empty:
                    continue
                err = np.array([line["accuracy"] - line["ci_low"], line["ci_high"] - line["accuracy"]])
                ax.errorbar(line[x], line["accuracy"], yerr=err, marker="o", markersize=3, capsize=2,
                            linewidth=1, color=PALETTE[i % len(PALETTE)], label=f"{series_label} {value}")
            ax.set_xscale("log", base=2)
            ticks = sorted(set(part[x]))
            ax.set_xticks(ticks, [f"{t:.3g}" for t in ticks])
            ax.minorticks_off()
            ax.set_xlabel(xlabel)
            ax.set_title(_title(model, run))
            ax.set_ylim(-0.02, 1.02)
        panels[0][1].set_ylabel("Exercise-ID accuracy")
        panels[-1][1].legend(frameon=False, fontsize=7)
        save_figure(fig, out_pdf, out_png)


def accuracy_vs_frames_figure(frame: pd.DataFrame, out_pdf, out_png) -> None:
    """Accuracy against the number of frames shown, one line per stride."""
    _lines(frame, "frames", "stride", "stride", "Frames shown", out_pdf, out_png)


def accuracy_vs_fps_figure(frame: pd.DataFrame, out_pdf, out_png) -> None:
    """Accuracy against the effective frame rate (source fps / stride), one line per frame count; without a
    known source rate the x axis is the sampling rate relative to the source (1 / stride)."""
    frame = frame.copy()
    known = frame["fps"].notna().all()
    frame["rate"] = frame["fps"] if known else 1.0 / frame["stride"]
    _lines(frame, "rate", "frames", "frames", "Effective frame rate (fps)" if known else "Sampling rate (x source fps)",
           out_pdf, out_png)


def _annotated_grid(ax, grid: np.ndarray, labels: np.ndarray, cmap: str, vmin: float, vmax: float):
    image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            ax.text(j, i, labels[i, j], ha="center", va="center", fontsize=6)
    ax.grid(False)
    return image


def accuracy_heatmap(frame: pd.DataFrame, out_pdf, out_png) -> None:
    """Per (model, run), accuracy over frames (rows) x stride (columns), cells annotated with the accuracy
    and, where clips failed, the failure count."""
    if frame.empty:
        raise ValueError("no temporal scores to plot")
    frames_axis, strides = sorted(set(frame["frames"])), sorted(set(frame["stride"]))
    with figure_style():
        fig, panels = _panels(frame, height=0.3 * len(frames_axis) + 1.8)
        image = None
        for (model, run), ax in panels:
            grid = np.full((len(frames_axis), len(strides)), np.nan)
            labels = np.full(grid.shape, "n/a", dtype=object)
            for _, r in frame[(frame["model"] == model) & (frame["run"] == run)].iterrows():
                i, j = frames_axis.index(r["frames"]), strides.index(r["stride"])
                if r["accuracy"] is not None and not pd.isna(r["accuracy"]):
                    grid[i, j] = r["accuracy"]
                    labels[i, j] = f"{r['accuracy']:.2f}" + (f"\n({r['failures']} failed)" if r["failures"] else "")
            image = _annotated_grid(ax, grid, labels, "viridis", 0.0, 1.0)
            fps = dict(zip(frame["stride"], frame["fps"]))
            ax.set_xticks(range(len(strides)), [str(s) if pd.isna(fps[s]) else f"{s}\n({fps[s]:.3g} fps)"
                                                for s in strides])
            ax.set_yticks(range(len(frames_axis)), [str(f) for f in frames_axis])
            ax.set_xlabel("Stride (source frames between samples)")
            ax.set_title(_title(model, run))
        panels[0][1].set_ylabel("Frames shown")
        fig.colorbar(image, ax=[ax for _, ax in panels], label="Exercise-ID accuracy")
        save_figure(fig, out_pdf, out_png)


def exercise_sensitivity_figure(sensitivity: pd.DataFrame, out_pdf, out_png) -> None:
    """(model, run) x exercise heatmap of the accuracy spread over the temporal configurations."""
    if sensitivity.empty:
        raise ValueError("no per-exercise accuracies to plot")
    rows = sorted({(m, r) for m, r in zip(sensitivity["model"], sensitivity["run"])},
                  key=lambda k: (k[0], run_order(k[1])))
    exercises = sorted(set(sensitivity["exercise"]))
    grid = np.full((len(rows), len(exercises)), np.nan)
    for _, r in sensitivity.iterrows():
        grid[rows.index((r["model"], r["run"])), exercises.index(r["exercise"])] = r["sensitivity"]
    labels = np.where(np.isnan(grid), "n/a", np.vectorize(lambda v: f"{v:.2f}")(np.nan_to_num(grid)))
    with figure_style():
        fig = new_figure(max(4.0, 0.7 * len(exercises) + 2.0), 0.45 * len(rows) + 1.6)
        ax = fig.subplots()
        image = _annotated_grid(ax, grid, labels, "magma_r", 0.0, 1.0)
        ax.set_xticks(range(len(exercises)), exercises, rotation=35, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(rows)), [_title(m, r) for m, r in rows])
        fig.colorbar(image, ax=ax, label="Accuracy spread over frames x stride")
        save_figure(fig, out_pdf, out_png)


# -- summary -------------------------------------------------------------------------------------------------

def _acc(row) -> str:
    if row["accuracy"] is None or pd.isna(row["accuracy"]):
        return f"n/a (n={row['n']}, failed {row['failures']})"
    return (f"{100 * row['accuracy']:.1f}% [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}] "
            f"(n={row['n']}, failed {row['failures']})")


def summary_section(frame: pd.DataFrame, minimum: pd.DataFrame, sensitivity: pd.DataFrame,
                    links: Iterable[str | os.PathLike] = (), relative_to: str | os.PathLike = "results") -> str:
    """The markdown section of RESULTS_SUMMARY.md: per model, the best configuration, the cheapest one within
    the tolerance (with the paired difference to the best), the most frame-sensitive exercise, and the whole
    grid with CIs and failure counts. ``links`` are linked relative to ``relative_to``."""
    lines = ["## RQ 1.2: Frame count and sampling rate", ""]
    lines.append("Exercise-ID accuracy with `F` frames taken every `S` source frames (bootstrap 95% CIs); clips "
                 "too short for a configuration are failures of that configuration, never imputed.")
    lines.append("")
    for _, m in minimum.iterrows():
        diff = ("" if m["diff"] is None or pd.isna(m["diff"]) else
                f"; paired difference to the best {100 * m['diff']:+.1f} points "
                f"[{100 * m['diff_ci_low']:+.1f}, {100 * m['diff_ci_high']:+.1f}]")
        lines.append(f"- {m['model']} ({m['run']}): best {100 * m['best_accuracy']:.1f}% at {m['best_frames']} "
                     f"frames, stride {m['best_stride']}; within {100 * m['tolerance']:.1f} points of it from "
                     f"**{m['min_frames']} frames at stride {m['min_frames_stride']}** "
                     f"({100 * m['min_accuracy']:.1f}%){diff}. Taken alone, the fewest frames within tolerance "
                     f"are {m['fewest_frames_any_stride']} and the largest stride {m['largest_stride_any_frames']}"
                     + ("" if m["lowest_fps"] is None or pd.isna(m["lowest_fps"]) else f" ({m['lowest_fps']:.3g} fps)")
                     + ".")
    scored = set(zip(minimum["model"], minimum["run"])) if not minimum.empty else set()
    for model, run in sorted(set(zip(frame["model"], frame["run"])) - scored):
        lines.append(f"- {model} ({run}): no configuration could be scored (every clip failed).")
    for (model, run), part in sensitivity.groupby(["model", "run"]):
        top = part.iloc[0]
        if top["sensitivity"] == 0:
            lines.append(f"- {model} ({run}): no exercise's accuracy changes across the configurations.")
            continue
        lines.append(f"- {model} ({run}): the most frame-sensitive exercise is {top['exercise']} (accuracy "
                     f"{100 * top['worst_accuracy']:.1f}% at {top['worst_config']} to {100 * top['best_accuracy']:.1f}% "
                     f"at {top['best_config']}).")
    lines += ["", "| model | run | frames | stride | fps | accuracy [95% CI] |", "|---|---|---|---|---|---|"]
    for _, r in frame.iterrows():
        fps = "n/a" if r["fps"] is None or pd.isna(r["fps"]) else f"{r['fps']:.1f}"
        lines.append(f"| {r['model']} | {r['run']} | {r['frames']} | {r['stride']} | {fps} | {_acc(r)} |")
    lines += files_lines(links, relative_to)
    return "\n".join(lines) + "\n"


# -- headline rows (qvedbench.report.headline) ---------------------------------------------------------------
def headline_rows(minimum: pd.DataFrame, run: str = "baseline") -> list[dict]:
    """Per model, for ``run`` (or, for a model without it, its first run): the fewest frames within the
    tolerance of the best frames x stride configuration (a setting) and the best configuration's accuracy."""
    rows = []
    for model, part in minimum.groupby("model", sort=True):
        chosen = run if run in set(part["run"]) else sorted(part["run"], key=run_order)[0]
        r = part[part["run"] == chosen].iloc[0]
        base = {"question": "rq1_2", "model": model}
        rows.append({**base, "measure": "min_frames_within_tolerance", "value": r["min_frames"], "better": "none",
                     "detail": f"run {chosen}, stride {int(r['min_frames_stride'])}, accuracy {r['min_accuracy']:.3f}, "
                               f"tolerance {r['tolerance']}"})
        rows.append({**base, "measure": "best_temporal_accuracy", "value": r["best_accuracy"], "better": "higher",
                     "detail": f"run {chosen}, {int(r['best_frames'])} frames, stride {int(r['best_stride'])}"})
    return rows
