"""RQ1.1.1: what to train (LoRA ranks, full fine-tuning, the last N blocks): cost against accuracy.

One row per (model, run) of the question: trainable and total parameters, checkpoint size, training time per
epoch, peak training memory (from ``train_stats.json``), every clean-test metric with its bootstrap CI and
failure count (from the scores), and the exercise-ID accuracy difference to the baseline run with a paired
bootstrap CI over the test clips scored in both. Runs that share training with another name (aliases, see
:mod:`qvedbench.runs`) appear under each name with the same numbers. With several seeds, each replicate is a
row; the recommended rank uses the mean over seeds and :func:`seed_spread` reports the spread. No torch.
"""
from __future__ import annotations

import math
import os
from typing import Any, Iterable

import numpy as np
import pandas as pd

from qvedbench.io import RecordError, read_json, write_text
from qvedbench.report.load import load_scores, per_sample_values
from qvedbench.report.style import METRIC_LABELS, figure_style, model_colour, new_figure, save_figure
from qvedbench.stats import paired_bootstrap_diff

ACCURACY = "exercise_accuracy"
METRICS = tuple(METRIC_LABELS)
REQUIRED_STATS = ("trainable_params", "total_params", "checkpoint_bytes", "peak_memory_mb")
METHOD_MARKERS = {"lora": "o", "full": "s", "last_n": "^"}


def method_label(settings: dict) -> str:
    """``LoRA r=8 (alpha 16)``, ``full fine-tuning`` or ``last 2 blocks + projector``."""
    method = settings["method"]
    if method == "lora":
        return f"LoRA r={settings['lora']['r']} (alpha {settings['lora']['alpha']:g})"
    if method == "last_n":
        return f"last {settings['last_n']} blocks" + (" + projector" if settings.get("train_projector") else "")
    return "full fine-tuning"


def load_entries(rows: Iterable[dict]) -> list[dict]:
    """Read the files of each question row into the dicts :func:`run_frame` takes.

    A row is ``{"model", "run", "canonical", "settings", "stats", "scores", "baseline_scores"}`` and optionally
    ``"group"`` (the run name without its seed suffix), the paths being ``train_stats.json``, the run's clean
    ``scores .json`` and the baseline's of the same seed (per-sample ``.jsonl`` files are read from beside them).
    """
    entries = []
    for row in rows:
        stats = read_json(row["stats"])
        for key in REQUIRED_STATS:
            if not isinstance(stats, dict) or key not in stats:
                raise RecordError(row["stats"], None, key, "missing from train_stats.json")
        scores, baseline = load_scores([row["scores"], row["baseline_scores"]])
        entries.append({
            "model": row["model"], "run": row["run"], "canonical": row["canonical"], "settings": row["settings"],
            "group": row.get("group", row["run"]),
            "train_stats": stats, "scores": scores,
            "correct": per_sample_values(scores, "exercise_correct"),
            "baseline_correct": per_sample_values(baseline, "exercise_correct"),
        })
    return entries


def _number(value: Any) -> float:
    """A float, or NaN for a value that was not measured (kept missing, never filled in)."""
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else math.nan


def run_frame(entries: Iterable[dict], *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """The question's table, one row per entry (see :func:`load_entries`); missing numbers stay NaN.

    ``acc_diff*`` columns: exercise-ID accuracy minus the baseline's, paired bootstrap (``n_boot``, ``ci``,
    ``seed``) over clips scored in both runs; NaN without per-sample scores on either side.
    """
    rows = []
    for entry in entries:
        settings, stats = entry["settings"], entry["train_stats"]
        row = {
            "model": entry["model"], "run": entry["run"], "group": entry.get("group", entry["run"]),
            "seed": settings.get("seed"),
            "shared_with": entry["canonical"] if entry["canonical"] != entry["run"] else "",
            "method": settings["method"], "setting": method_label(settings),
            "lora_r": settings["lora"]["r"] if settings["method"] == "lora" else None,
            "lora_alpha": settings["lora"]["alpha"] if settings["method"] == "lora" else None,
            "last_n": settings["last_n"] if settings["method"] == "last_n" else None,
            "trainable_params": _number(stats["trainable_params"]),
            "total_params": _number(stats["total_params"]),
        }
        row["trainable_share"] = row["trainable_params"] / row["total_params"] if row["total_params"] else math.nan
        row["checkpoint_mb"] = _number(stats["checkpoint_bytes"]) / 2**20
        row["time_per_epoch_s"] = _number(stats.get("time_per_epoch_s"))
        row["peak_memory_mb"] = _number(stats["peak_memory_mb"])
        row["steps"] = _number(stats.get("steps"))
        row["n"] = entry["scores"]["n"]
        for metric in METRICS:
            values = entry["scores"]["metrics"].get(metric) or {}
            row[metric] = _number(values.get("mean"))
            for key in ("ci_low", "ci_high", "n", "failures"):
                row[f"{metric}_{key}"] = _number(values.get(key))
        diff = None
        if entry.get("correct") is not None and entry.get("baseline_correct") is not None:
            diff = paired_bootstrap_diff(entry["correct"], entry["baseline_correct"], n_boot=n_boot, ci=ci,
                                         seed=seed)
        for key in ("diff", "ci_low", "ci_high", "n", "failures", "p_value"):
            row["acc_diff" if key == "diff" else f"acc_diff_{key}"] = _number((diff or {}).get(key))
        rows.append(row)
    frame = pd.DataFrame(rows)
    counts = ["seed", "lora_r", "last_n", "trainable_params", "total_params", "steps", "acc_diff_n",
              "acc_diff_failures"]
    counts += [f"{metric}_{key}" for metric in METRICS for key in ("n", "failures")]
    for column in counts:
        frame[column] = frame[column].astype("Int64")  # counts, with <NA> where not measured
    return frame


def recommend_rank(frame: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per model, the smallest LoRA rank whose accuracy is within ``tolerance`` (absolute) of the best rank's.

    A rank's accuracy is the mean over its seeds (rows sharing a ``group``; one row per rank without seeds).
    Ranks without an accuracy (nothing could be scored) are left out; a model with no scored LoRA run gets no
    row. Columns: model, recommended_rank, recommended_run, accuracy, best_rank, best_run, best_accuracy,
    tolerance, ranks_compared.
    """
    if tolerance < 0:
        raise ValueError(f"rank tolerance must be >= 0, got {tolerance}")
    out = []
    lora = frame[(frame["method"] == "lora") & frame[ACCURACY].notna()]
    if "group" not in lora:
        lora = lora.assign(group=lora["run"])
    for model, runs in lora.groupby("model", sort=False):
        ranks = (runs.groupby("lora_r").agg(run=("group", "first"), accuracy=(ACCURACY, "mean"))
                 .sort_index().reset_index())
        best = ranks.loc[ranks["accuracy"].idxmax()]
        # Tiny slack: an accuracy equal to best - tolerance must count despite floating-point rounding.
        chosen = ranks[ranks["accuracy"] >= best["accuracy"] - tolerance - 1e-12].iloc[0]
        out.append({
            "model": model, "recommended_rank": int(chosen["lora_r"]), "recommended_run": chosen["run"],
            "accuracy": chosen["accuracy"], "best_rank": int(best["lora_r"]), "best_run": best["run"],
            "best_accuracy": best["accuracy"], "tolerance": tolerance, "ranks_compared": len(ranks),
        })
    columns = ["model", "recommended_rank", "recommended_run", "accuracy", "best_rank", "best_run",
               "best_accuracy", "tolerance", "ranks_compared"]
    return pd.DataFrame(out, columns=columns)


def seed_spread(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (model, run group): number of seeds, seeds with an accuracy, and the accuracy's mean, standard
    deviation (ddof 1; NaN for one seed), minimum and maximum over seeds."""
    groups = frame.assign(group=frame["group"] if "group" in frame else frame["run"])
    spread = (groups.groupby(["model", "group"], sort=False)
              .agg(seeds=("run", "size"), scored_seeds=(ACCURACY, "count"), accuracy_mean=(ACCURACY, "mean"),
                   accuracy_std=(ACCURACY, "std"), accuracy_min=(ACCURACY, "min"), accuracy_max=(ACCURACY, "max"))
              .reset_index())
    return spread


def compare_models(frame: pd.DataFrame) -> dict | None:
    """Do the models differ in accuracy across the question's training settings?

    Blocks are the run groups scored for every model (accuracy averaged over seeds), so each model is measured
    under the same settings. Two models: Wilcoxon signed-rank test on the paired differences (no normality
    assumed; zero differences dropped). More: Friedman test (ranks within each setting; no sphericity or
    normality assumed, unlike repeated-measures ANOVA). Both treat the settings as independent blocks. Returns
    ``{"test", "statistic", "p_value", "models", "blocks", "assumptions"}``, or None with fewer than two models
    or two shared settings, or when every paired difference is zero.
    """
    from scipy import stats as scipy_stats

    means = frame[frame[ACCURACY].notna()].pivot_table(index="group" if "group" in frame else "run",
                                                       columns="model", values=ACCURACY, aggfunc="mean").dropna()
    models, blocks = list(means.columns), len(means)
    if len(models) < 2 or blocks < 2:
        return None
    columns = [means[m].to_numpy() for m in models]
    if len(models) == 2:
        if np.all(columns[0] == columns[1]):
            return None
        result = scipy_stats.wilcoxon(columns[0], columns[1])
        test = "Wilcoxon signed-rank"
        assumptions = "paired by training setting, differences symmetric about their median, zero differences dropped"
    else:
        result = scipy_stats.friedmanchisquare(*columns)
        test = "Friedman"
        assumptions = "blocks = training settings, ranks within each block, ties averaged"
    return {"test": test, "statistic": float(result.statistic), "p_value": float(result.pvalue), "models": models,
            "blocks": blocks, "assumptions": assumptions}


# -- outputs -------------------------------------------------------------------------------------------------

def _ci_text(mean: float, low: float, high: float, scale: float = 1.0, sign: bool = False) -> str:
    if any(pd.isna(v) for v in (mean, low, high)):
        return "n/a"
    spec = "+.1f" if sign else ".1f"
    return f"{scale * mean:{spec}} [{scale * low:{spec}}, {scale * high:{spec}}]"


def _count(value: float) -> str:
    return "n/a" if pd.isna(value) else f"{int(value)}"


def _fixed(value: float, spec: str) -> str:
    return "n/a" if pd.isna(value) else format(value, spec)


def display_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The table for people: size, trainable parameters, cost and accuracy (percent, CI, failures)."""
    return pd.DataFrame({
        "model": frame["model"],
        "run": frame["run"],
        "same run as": frame["shared_with"],
        "setting": frame["setting"],
        "trainable params": [_count(v) for v in frame["trainable_params"]],
        "trainable %": [_fixed(100 * v, ".3f") for v in frame["trainable_share"]],
        "size (MB)": [_fixed(v, ".1f") for v in frame["checkpoint_mb"]],
        "s / epoch": [_fixed(v, ".1f") for v in frame["time_per_epoch_s"]],
        "peak memory (MB)": [_fixed(v, ".0f") for v in frame["peak_memory_mb"]],
        "accuracy % [CI]": [_ci_text(m, lo, hi, 100) for m, lo, hi in
                            zip(frame[ACCURACY], frame[f"{ACCURACY}_ci_low"], frame[f"{ACCURACY}_ci_high"])],
        "unscored": [_count(v) for v in frame[f"{ACCURACY}_failures"]],
        "vs baseline (points) [CI]": [_ci_text(d, lo, hi, 100, sign=True) for d, lo, hi in
                                      zip(frame["acc_diff"], frame["acc_diff_ci_low"], frame["acc_diff_ci_high"])],
    })


def write_table(numeric: pd.DataFrame, display: pd.DataFrame, csv: str | os.PathLike,
                tex: str | os.PathLike) -> None:
    """The numeric table as CSV and the display table as LaTeX (escaped), each written atomically."""
    write_text(csv, numeric.to_csv(index=False))
    write_text(tex, display.to_latex(index=False, escape=True, float_format="%.3f", na_rep="n/a"))


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A numeric table written by :func:`write_table` (CSV), with empty text cells as ``""``."""
    frame = pd.read_csv(path)
    if "shared_with" in frame:
        frame["shared_with"] = frame["shared_with"].astype(object).fillna("")
    return frame


def accuracy_vs_trainable_figure(frame: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike):
    """Exercise-ID accuracy (bootstrap CI bars) against trainable parameters on a log axis.

    One colour per model, one marker per method; LoRA ranks of a model are joined by a line. Runs without an
    accuracy or a parameter count are not drawn and are counted in the footnote.
    """
    from matplotlib.lines import Line2D

    drawable = frame[ACCURACY].notna() & (frame["trainable_params"].fillna(0) > 0)
    plotted = frame[drawable].drop_duplicates(["model", "run"])
    missing = len(frame) - len(plotted)
    with figure_style():
        fig = new_figure(6.4, 3.8)
        ax = fig.subplots()
        for model, runs in plotted.groupby("model", sort=True):
            colour = model_colour(model)
            lora = runs[runs["method"] == "lora"].sort_values("trainable_params")
            ax.plot(lora["trainable_params"], lora[ACCURACY], color=colour, linewidth=0.8, alpha=0.6)
            for _, row in runs.iterrows():
                err = np.array([[row[ACCURACY] - row[f"{ACCURACY}_ci_low"]],
                                [row[f"{ACCURACY}_ci_high"] - row[ACCURACY]]])
                ax.errorbar(row["trainable_params"], row[ACCURACY], yerr=np.nan_to_num(err), color=colour,
                            marker=METHOD_MARKERS.get(row["method"], "D"), markersize=5, capsize=2,
                            elinewidth=0.8, linestyle="none")
                label = row["run"] + (f" (= {row['shared_with']})" if row["shared_with"] else "")
                ax.annotate(label, (row["trainable_params"], row[ACCURACY]), xytext=(4, 3),
                            textcoords="offset points", fontsize=6)
        ax.set_xscale("log")
        ax.margins(x=0.12)
        ax.set_xlabel("Trainable parameters (log scale)")
        ax.set_ylabel(METRIC_LABELS[ACCURACY])
        ax.set_ylim(-0.02, 1.05)
        handles = [Line2D([], [], color=model_colour(m), marker="o", linestyle="-", label=m)
                   for m in sorted(plotted["model"].unique())]
        handles += [Line2D([], [], color="black", marker=mk, linestyle="none", label=name)
                    for name, mk in (("LoRA", "o"), ("full", "s"), ("last N", "^"))]
        fig.legend(handles=handles, loc="outside right upper", frameon=False)
        note = "Error bars: bootstrap CI of accuracy on the clean test set."
        if missing:
            note += f" {missing} run(s) without accuracy or parameter count not shown."
        ax.set_title(note, loc="left", fontsize=7)
    save_figure(fig, out_pdf, out_png)
    return fig


def summary_markdown(frame: pd.DataFrame, recommended: pd.DataFrame, *, tolerance: float, ci: float) -> str:
    """The RQ1.1.1 section of RESULTS_SUMMARY.md: per model a table and the findings read from the numbers."""
    lines = ["## RQ 1.1.1: LoRA rank vs full fine-tuning vs last-N blocks", ""]
    lines.append(f"Accuracy is exercise-ID accuracy on the clean test set with its bootstrap {ci:.0%} CI; "
                 f"differences to the baseline are paired bootstraps over clips scored in both runs. "
                 f"Unscored clips are excluded and counted, never imputed.")
    display = display_frame(frame)
    for model in frame["model"].unique():
        part, shown = frame[frame["model"] == model], display[frame["model"] == model]
        lines += ["", f"### {model}", ""]
        header = ["run", "setting", "trainable params", "size (MB)", "s / epoch", "peak memory (MB)",
                  "accuracy % [CI]", "unscored", "vs baseline (points) [CI]"]
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        for _, row in shown.iterrows():
            run = row["run"] + (f" (= {row['same run as']})" if row["same run as"] else "")
            lines.append("| " + " | ".join([run] + [str(row[h]) for h in header[1:]]) + " |")
        lines.append("")
        lines += _findings(part, recommended[recommended["model"] == model], tolerance)
    test = compare_models(frame)
    if test is not None:
        lines += ["", f"Across models ({', '.join(test['models'])}; {test['blocks']} training settings scored for "
                  f"all): {test['test']} test, statistic {test['statistic']:.3f}, p = {test['p_value']:.3g} "
                  f"({test['assumptions']}). "
                  + ("The models' accuracies differ across settings at the 5% level." if test["p_value"] < 0.05
                     else "No evidence at the 5% level that the models' accuracies differ.")]
    return "\n".join(lines) + "\n"


def _findings(part: pd.DataFrame, recommended: pd.DataFrame, tolerance: float) -> list[str]:
    scored = part[part[ACCURACY].notna()]
    if scored.empty:
        return ["- No run of this model has an accuracy: nothing to compare."]
    best = scored.loc[scored[ACCURACY].idxmax()]
    accuracy = _ci_text(best[ACCURACY], best[f"{ACCURACY}_ci_low"], best[f"{ACCURACY}_ci_high"], 100)
    if scored[ACCURACY].nunique() == 1:
        out = [f"- Every scored run has the same accuracy, {accuracy}%: no training choice stands out."]
    else:
        out = [f"- Highest accuracy: `{best['run']}` ({best['setting']}) at {accuracy}% "
               f"with {_count(best['trainable_params'])} trainable parameters."]
    if not recommended.empty:
        rec = recommended.iloc[0]
        out.append(f"- Recommended LoRA rank: r={rec['recommended_rank']} ({100 * rec['accuracy']:.1f}%), the "
                   f"smallest of {rec['ranks_compared']} ranks within {100 * tolerance:.1f} points of the best "
                   f"rank r={rec['best_rank']} ({100 * rec['best_accuracy']:.1f}%).")
    else:
        out.append("- No LoRA rank was scored: no rank recommended.")
    compared = part[part["acc_diff"].notna() & (part["shared_with"] != "baseline") & (part["run"] != "baseline")]
    better = compared[compared["acc_diff_ci_low"] > 0]["run"].tolist()
    worse = compared[compared["acc_diff_ci_high"] < 0]["run"].tolist()
    unclear = [r for r in compared["run"] if r not in better and r not in worse]
    if not compared.empty:
        out.append("- Against the baseline (paired CI excludes 0): better: " + (", ".join(better) or "none")
                   + "; worse: " + (", ".join(worse) or "none") + "; no clear difference: "
                   + (", ".join(unclear) or "none") + ".")
    spread = seed_spread(part)
    for _, group in spread[spread["seeds"] > 1].iterrows():
        out.append(f"- `{group['group']}` over {group['seeds']} seeds ({group['scored_seeds']} scored): accuracy "
                   f"mean {_fixed(100 * group['accuracy_mean'], '.1f')}%, standard deviation "
                   f"{_fixed(100 * group['accuracy_std'], '.1f')} points, range "
                   f"{_fixed(100 * group['accuracy_min'], '.1f')}-{_fixed(100 * group['accuracy_max'], '.1f')}%.")
    missing = part[part[ACCURACY].isna()]["run"].tolist()
    if missing:
        out.append(f"- Without any scored clip (left out of the comparison): {', '.join(missing)}.")
    return out


# -- headline rows (qvedbench.report.headline) ---------------------------------------------------------------
def headline_rows(recommended: pd.DataFrame) -> list[dict]:
    """Per model: the recommended LoRA rank (a setting, not a score) and the clean-test exercise-ID accuracy of
    that rank (mean over seeds)."""
    rows = []
    for r in recommended.itertuples(index=False):
        detail = (f"run {r.recommended_run}; best rank {r.best_rank} at {r.best_accuracy:.3f}; tolerance "
                  f"{r.tolerance}; {r.ranks_compared} ranks compared")
        base = {"question": "rq1_1_1", "model": r.model, "detail": detail}
        rows.append({**base, "measure": "recommended_lora_rank", "value": r.recommended_rank, "better": "none"})
        rows.append({**base, "measure": "recommended_rank_accuracy", "value": r.accuracy, "better": "higher"})
    return rows
