"""RQ1.3.3: exercise-ID accuracy under visual degradation, and robustness = degraded / clean accuracy.

Inputs are aggregate score files (with their per-sample ``.jsonl`` beside them) of the clean test set and of
degraded variants named as in :mod:`qvedbench.degrade` (``blur_7``, ``crf_40``, ``light_-40``,
``occl_black_20``). The robustness score of a (model, run, degradation) is the accuracy on the degraded clips
divided by the accuracy on the same clips clean, with a paired percentile-bootstrap interval (clips are
resampled jointly). Clips without a score on either side are left out and counted, never imputed.
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
from matplotlib.colors import TwoSlopeNorm

from qvedbench.report.markdown import files_lines
from qvedbench.variant_names import DEGRADATION_TYPES, is_degradation, parse_degradation
from qvedbench.io import write_text
from qvedbench.report.load import load_scores, per_sample_values, run_order
from qvedbench.report.style import figure_style, model_colour, new_figure, save_figure
from qvedbench.stats import is_failure, paired_bootstrap_diff

ACCURACY = "exercise_accuracy"
CLEAN = "clean"
TYPE_LABELS = {
    "blur": "Motion blur (kernel, px)",
    "crf": "Compression (H.264 crf)",
    "light": "Lighting (exposure change, %)",
    "occl_black": "Occlusion, black box (% of frame)",
    "occl_noise": "Occlusion, noise box (% of frame)",
}
# Where the clean clip sits on each type's level axis (compression: before the lowest crf).
NEUTRAL_LEVEL = {"blur": 1, "crf": -np.inf, "light": 0, "occl_black": 0, "occl_noise": 0}


def bootstrap_settings(scores: dict) -> dict:
    """The bootstrap settings the scores were computed with (``n_boot``, ``ci``, ``seed``)."""
    config = scores.get("config") or {}
    return {"n_boot": config.get("bootstrap", 1000), "ci": config.get("ci", 0.95), "seed": config.get("seed", 0)}


def paired_ratio(degraded: Mapping, clean: Mapping, *, n_boot: int = 1000, ci: float = 0.95,
                 seed: int = 0) -> dict:
    """``mean(degraded) / mean(clean)`` over ids scored in both, with a paired percentile-bootstrap interval.

    Returns ``{"ratio", "ci_low", "ci_high", "n", "failures", "undefined_resamples"}``: ``failures`` counts
    shared ids missing a score on either side; resamples whose clean mean is 0 have no ratio and are counted
    in ``undefined_resamples`` (the interval comes from the others). ``ratio`` is None when the clean mean is 0.
    """
    shared = [key for key in degraded if key in clean]
    pairs = [(degraded[k], clean[k]) for k in shared if not (is_failure(degraded[k]) or is_failure(clean[k]))]
    out = {"ratio": None, "ci_low": None, "ci_high": None, "n": len(pairs), "failures": len(shared) - len(pairs),
           "undefined_resamples": 0}
    if not pairs:
        return out
    values = np.array(pairs, dtype=float)
    if values[:, 1].mean() == 0:
        return out
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(values), size=(n_boot, len(values)))
    numerators, denominators = values[idx, 0].mean(axis=1), values[idx, 1].mean(axis=1)
    defined = denominators > 0
    tail = (1 - ci) / 2
    low, high = np.quantile(numerators[defined] / denominators[defined], [tail, 1 - tail])
    out.update(ratio=float(values[:, 0].mean() / values[:, 1].mean()), ci_low=float(low), ci_high=float(high),
               undefined_resamples=int((~defined).sum()))
    return out


def robustness_frame(score_jsons: Iterable[str | os.PathLike | dict]) -> pd.DataFrame:
    """One row per (model, run, degraded variant): accuracy with CI, n and failures; the same clips' clean
    accuracy; robustness (degraded / clean) with a paired CI; and the paired accuracy drop (degraded - clean)
    with its CI. Scores of other variants are ignored; a degraded variant without clean scores for its
    (model, run) is an error."""
    scores = load_scores(score_jsons)
    clean = {(s["model"], s["run"]): s for s in scores if s["variant"] == CLEAN}
    rows = []
    for s in scores:
        if not is_degradation(s["variant"]):
            continue
        key = (s["model"], s["run"])
        if key not in clean:
            raise ValueError(f"no clean scores for model '{key[0]}', run '{key[1]}' (needed by '{s['variant']}')")
        degradation = parse_degradation(s["variant"])
        accuracy = s["metrics"][ACCURACY]
        row = {"model": key[0], "run": key[1], "variant": s["variant"], "type": degradation.kind,
               "level": degradation.level, "accuracy": accuracy["mean"], "accuracy_ci_low": accuracy["ci_low"],
               "accuracy_ci_high": accuracy["ci_high"], "n": accuracy["n"], "failures": accuracy["failures"],
               "clean_accuracy": clean[key]["metrics"][ACCURACY]["mean"]}
        row.update(_paired(s, clean[key]))
        rows.append(row)
    columns = ["model", "run", "variant", "type", "level", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
               "n", "failures", "clean_accuracy", "robustness", "robustness_ci_low", "robustness_ci_high",
               "paired_n", "paired_failures", "drop", "drop_ci_low", "drop_ci_high"]
    frame = pd.DataFrame(rows, columns=columns)
    order = {kind: i for i, kind in enumerate(DEGRADATION_TYPES)}
    return frame.sort_values(
        ["model", "run", "type", "level"],
        key=lambda col: col.map(order) if col.name == "type" else (col.map(run_order) if col.name == "run" else col),
    ).reset_index(drop=True)


def _paired(degraded: dict, clean: dict) -> dict:
    """Robustness ratio and accuracy drop over the clips scored in both files; None without per-sample files."""
    a = per_sample_values(degraded, "exercise_correct")
    b = per_sample_values(clean, "exercise_correct")
    if a is None or b is None:
        return {"robustness": None, "robustness_ci_low": None, "robustness_ci_high": None, "paired_n": None,
                "paired_failures": None, "drop": None, "drop_ci_low": None, "drop_ci_high": None}
    settings = bootstrap_settings(clean)
    ratio = paired_ratio(a, b, **settings)
    diff = paired_bootstrap_diff(a, b, **settings)
    return {"robustness": ratio["ratio"], "robustness_ci_low": ratio["ci_low"],
            "robustness_ci_high": ratio["ci_high"], "paired_n": ratio["n"], "paired_failures": ratio["failures"],
            "drop": diff["diff"], "drop_ci_low": diff["ci_low"], "drop_ci_high": diff["ci_high"]}


def most_robust(frame: pd.DataFrame) -> pd.DataFrame:
    """Per run, each model's mean robustness over all degradations (type x level) with a defined score, the
    number of degradations where it is the most robust model, ranked best first (``rank`` 1 = most robust)."""
    scored = frame.dropna(subset=["robustness"])
    rows = []
    for run, part in scored.groupby("run", sort=False):
        best_per_variant = part.loc[part.groupby("variant")["robustness"].idxmax(), "model"].value_counts()
        for model, group in part.groupby("model"):
            rows.append({"run": run, "model": model, "mean_robustness": float(group["robustness"].mean()),
                         "degradations": len(group), "times_most_robust": int(best_per_variant.get(model, 0)),
                         "worst_type": group.groupby("type")["robustness"].mean().idxmin()})
    out = pd.DataFrame(rows, columns=["run", "model", "mean_robustness", "degradations", "times_most_robust",
                                      "worst_type"])
    if out.empty:
        return out.assign(rank=pd.Series(dtype=int))
    out = out.sort_values(["run", "mean_robustness"], ascending=[True, False]).reset_index(drop=True)
    out["rank"] = out.groupby("run").cumcount() + 1
    return out


# -- tables and figures --------------------------------------------------------------------------------------

def _fmt(mean, low, high, digits: int = 3) -> str:
    if mean is None or pd.isna(mean):
        return "n/a"
    if low is None or pd.isna(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} [{low:.{digits}f}, {high:.{digits}f}]"


def write_table(frame: pd.DataFrame, out_csv: str | os.PathLike, out_tex: str | os.PathLike) -> None:
    """A frame as CSV and as an escaped LaTeX table (numbers to three decimals)."""
    write_text(out_csv, frame.to_csv(index=False))
    write_text(out_tex, frame.to_latex(index=False, escape=True, na_rep="n/a", float_format="%.3f"))


def robustness_table(frame: pd.DataFrame, out_csv: str | os.PathLike, out_tex: str | os.PathLike) -> None:
    """The numeric frame as CSV; a display table (means with CIs, failure counts) as LaTeX."""
    write_text(out_csv, frame.to_csv(index=False))
    display = pd.DataFrame({
        "model": frame["model"], "run": frame["run"], "degradation": frame["variant"],
        "accuracy": [_fmt(*v) for v in zip(frame["accuracy"], frame["accuracy_ci_low"], frame["accuracy_ci_high"])],
        "failures": frame["failures"],
        "clean": [_fmt(v, None, None) for v in frame["clean_accuracy"]],
        "robustness": [_fmt(*v) for v in zip(frame["robustness"], frame["robustness_ci_low"],
                                             frame["robustness_ci_high"])],
    })
    write_text(out_tex, display.to_latex(index=False, escape=True, na_rep="n/a"))


def _series_label(model: str, run: str, runs: list[str]) -> str:
    return model if len(runs) == 1 else f"{model} ({run})"


def _level_axis(kind: str, levels: list[int]) -> list:
    """Tick labels of one type's panel: its levels in order with ``clean`` at the neutral position."""
    neutral = NEUTRAL_LEVEL[kind]
    return sorted(levels + ["clean"], key=lambda v: neutral if v == "clean" else v)


def accuracy_vs_level_figure(frame: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """One panel per degradation type: accuracy (bootstrap CI) against level, one line per model and run,
    the clean accuracy at the type's neutral level."""
    if frame.empty:
        raise ValueError("no degraded scores to plot")
    kinds = [k for k in DEGRADATION_TYPES if k in set(frame["type"])]
    runs = sorted(set(frame["run"]), key=run_order)
    with figure_style():
        fig = new_figure(3.0 * len(kinds), 3.2)
        axes = fig.subplots(1, len(kinds), squeeze=False, sharey=True)[0]
        for ax, kind in zip(axes, kinds):
            part = frame[frame["type"] == kind]
            ticks = _level_axis(kind, sorted(set(part["level"])))
            for (model, run), group in part.groupby(["model", "run"]):
                points = {lvl: (a, lo, hi) for lvl, a, lo, hi in zip(
                    group["level"], group["accuracy"], group["accuracy_ci_low"], group["accuracy_ci_high"])}
                points["clean"] = (group["clean_accuracy"].iloc[0], None, None)
                xs = [i for i, t in enumerate(ticks) if t in points and points[t][0] is not None
                      and not pd.isna(points[t][0])]
                ys = [points[ticks[i]][0] for i in xs]
                errs = np.array([[y - (points[ticks[i]][1] if points[ticks[i]][1] is not None else y),
                                  (points[ticks[i]][2] if points[ticks[i]][2] is not None else y) - y]
                                 for i, y in zip(xs, ys)]).T
                ax.errorbar(xs, ys, yerr=errs, marker="o", markersize=3, capsize=2, linewidth=1,
                            color=model_colour(model), linestyle="-" if run == runs[0] else "--",
                            label=_series_label(model, run, runs))
            ax.set_xticks(range(len(ticks)), [str(t) for t in ticks])
            ax.set_title(TYPE_LABELS[kind], fontsize=8)
            ax.set_ylim(-0.02, 1.02)
        axes[0].set_ylabel("Exercise-ID accuracy")
        axes[-1].legend(loc="lower left", frameon=False)
        save_figure(fig, out_pdf, out_png)


def robustness_heatmap(frame: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Model (and run) x degradation heatmap of the robustness score, 1 = unaffected, annotated with values;
    cells without a score are blank and marked n/a."""
    if frame.empty:
        raise ValueError("no degraded scores to plot")
    runs = sorted(set(frame["run"]), key=run_order)
    rows = sorted({(m, r) for m, r in zip(frame["model"], frame["run"])}, key=lambda k: (k[0], run_order(k[1])))
    columns = list(dict.fromkeys(frame["variant"]))  # frame is sorted by type, then level
    grid = np.full((len(rows), len(columns)), np.nan)
    for m, r, v, value in zip(frame["model"], frame["run"], frame["variant"], frame["robustness"]):
        if value is not None and not pd.isna(value):
            grid[rows.index((m, r)), columns.index(v)] = value
    finite = grid[np.isfinite(grid)]
    low = min(0.0, float(finite.min())) if finite.size else 0.0
    high = max(1.5, float(finite.max())) if finite.size else 1.5
    with figure_style():
        fig = new_figure(max(4.0, 0.55 * len(columns) + 2.0), max(2.0, 0.45 * len(rows) + 1.4))
        ax = fig.subplots()
        image = ax.imshow(np.ma.masked_invalid(grid), cmap="RdBu", aspect="auto",
                          norm=TwoSlopeNorm(vcenter=1.0, vmin=low, vmax=high))
        for i in range(len(rows)):
            for j in range(len(columns)):
                text = "n/a" if np.isnan(grid[i, j]) else f"{grid[i, j]:.2f}"
                ax.text(j, i, text, ha="center", va="center", fontsize=6)
        ax.set_xticks(range(len(columns)), columns, rotation=60, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(len(rows)), [_series_label(m, r, runs) for m, r in rows])
        ax.grid(False)
        fig.colorbar(image, ax=ax, label="Robustness (degraded / clean)")
        save_figure(fig, out_pdf, out_png)


# -- summary -------------------------------------------------------------------------------------------------

def _pct(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{100 * value:.1f}%"


def summary_section(frame: pd.DataFrame, links: Iterable[str | os.PathLike] = (),
                    relative_to: str | os.PathLike = "results") -> str:
    """The markdown section of RESULTS_SUMMARY.md: the most robust model, each model's most harmful
    degradation, significant drops, and every degradation's numbers with CIs and failure counts. ``links``
    (figures, tables) are linked relative to ``relative_to``, the folder of RESULTS_SUMMARY.md."""
    lines = ["## RQ 1.3.3: Robustness to visual degradation", ""]
    lines.append("Robustness = exercise-ID accuracy on the degraded clips / accuracy on the same clips clean "
                 "(1 = unaffected), with paired bootstrap 95% CIs; unscored clips are counted as failures, "
                 "never imputed.")
    lines.append("")
    ranking = most_robust(frame)
    if ranking.empty:
        lines += ["No robustness score could be computed (no per-sample scores, or zero clean accuracy).", ""]
    for run, part in ranking.groupby("run", sort=False):
        best = part.iloc[0]
        verdict = (f"- Run `{run}`: the most robust model is **{best['model']}** (mean robustness "
                   f"{best['mean_robustness']:.3f} over {best['degradations']} degradations, most robust in "
                   f"{best['times_most_robust']})")
        if len(part) > 1:
            second = part.iloc[1]
            tied = np.isclose(second["mean_robustness"], best["mean_robustness"])
            verdict += (f"; tied with {second['model']}" if tied else
                        f"; next {second['model']} ({second['mean_robustness']:.3f})")
        lines.append(verdict + ".")
        for _, row in part.iterrows():
            lines.append(f"  - {row['model']}: most harmful degradation type `{row['worst_type']}`.")
    significant = frame[(frame["drop_ci_high"].notna()) & (frame["drop_ci_high"] < 0)]
    lines.append(f"- Accuracy drops whose 95% CI excludes zero: {len(significant)} of {len(frame)} "
                 "(model, run, degradation) cells.")
    lines.append("")
    lines.append("| model | run | degradation | accuracy [95% CI] | failures | clean | robustness [95% CI] "
                 "| drop, points [95% CI] |")
    lines.append("|---|---|---|---|---|---|---|---|")
    for _, r in frame.iterrows():
        drop = ("n/a" if r["drop"] is None or pd.isna(r["drop"]) else
                f"{100 * r['drop']:+.1f} [{100 * r['drop_ci_low']:+.1f}, {100 * r['drop_ci_high']:+.1f}]")
        lines.append(f"| {r['model']} | {r['run']} | {r['variant']} | "
                     f"{_fmt(r['accuracy'], r['accuracy_ci_low'], r['accuracy_ci_high'])} | {r['failures']} | "
                     f"{_pct(r['clean_accuracy'])} | "
                     f"{_fmt(r['robustness'], r['robustness_ci_low'], r['robustness_ci_high'])} | {drop} |")
    lines += files_lines(links, relative_to)
    return "\n".join(lines) + "\n"


# -- headline rows (qvedbench.report.headline) ---------------------------------------------------------------
def headline_rows(frame: pd.DataFrame, run: str = "baseline") -> list[dict]:
    """Per model, for ``run`` (or, for a model without it, its first run): the mean robustness (degraded /
    clean exercise-ID accuracy, averaged over degradations with a paired score; no CI across degradations)
    and the mean paired accuracy drop."""
    rows = []
    for model, part in frame.groupby("model", sort=True):
        chosen = run if run in set(part["run"]) else sorted(part["run"], key=run_order)[0]
        part = part[part["run"] == chosen]
        for measure, column, better in (("mean_robustness", "robustness", "higher"),
                                        ("mean_accuracy_drop", "drop", "higher")):
            scored = part.dropna(subset=[column])
            row = {"question": "rq1_3_3", "model": model, "measure": measure, "better": better,
                   "detail": f"run {chosen}, mean over {len(scored)} of {len(part)} degradations",
                   "n": len(scored), "failed": len(part) - len(scored)}
            rows.append({**row, "value": float(scored[column].mean())} if len(scored) else
                        {**row, "note": f"{column} undefined for every degradation (no per-sample scores to pair"
                                        + (", or clean accuracy 0)" if column == "robustness" else ")")})
    return rows
