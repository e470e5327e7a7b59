"""RQ1.1.2: learning-rate schedules x warm-up ratios: how fast and how well each run converges.

Convergence comes from each run's ``trainer_log.jsonl``: training lines carry ``loss`` and ``learning_rate``,
validation lines ``eval_loss`` and, with ``eval_generate``, ``eval_exercise_accuracy`` and ``eval_rouge_l``. The
steps to a share ``f`` of the final validation accuracy are the first evaluated step whose accuracy is at or
above ``f`` times the last evaluated accuracy (None when the run logged no validation accuracy; a run whose final
accuracy is 0 reaches every share at its first evaluation, so read the steps beside the final accuracy).

Final accuracy comes from the clean test-set scores of the canonical run (the per-sample ``.jsonl`` beside the
``.json``). Rows are the question's run names grouped over seeds: with one seed a row is that run; with several,
each test clip's correctness is averaged over the seeds (a clip unscored in any seed is a failure, counted, never
imputed), the accuracy and its bootstrap CI are over those clip means, the spread is the standard deviation of
the per-seed accuracies, and the difference to the baseline is a paired bootstrap over clips against the
baseline's seed-averaged clips. Names that share one trained run (aliases, see :mod:`qvedbench.runs`) keep their
rows, with equal numbers. No torch.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from qvedbench.analysis.training import read_table, write_table  # noqa: F401 - the tables of this question use them
from qvedbench.io import RecordError, read_jsonl
from qvedbench.report.headline import write_headline
from qvedbench.report.load import SOURCE_KEY, load_scores, per_sample_values
from qvedbench.report.style import PALETTE, figure_style, new_figure, save_figure
from qvedbench.stats import bootstrap_ci, is_failure, paired_bootstrap_diff

QUESTION = "rq1_1_2"
VAL_ACCURACY = "eval_exercise_accuracy"
TIE_BREAK_FRACTION = 0.95  # the recommendation breaks accuracy ties by the fewest steps to this share
DEFAULT_FRACTIONS = (0.9, 0.95, 0.99)
SCHEDULE_STYLES = {"constant": "-", "constant_with_warmup": "--", "cosine": "-.", "linear": ":"}


def steps_column(fraction: float) -> str:
    """``steps_to_95pct`` for 0.95."""
    return f"steps_to_{fraction * 100:g}pct"


# -- logs ----------------------------------------------------------------------------------------------------

def read_trainer_log(path: str | os.PathLike) -> list[dict]:
    """The lines of a ``trainer_log.jsonl``; each must be an object with an integer ``step``."""
    rows = read_jsonl(path)
    for i, row in enumerate(rows):
        if not isinstance(row, dict):
            raise RecordError(path, i, None, "a trainer log line must be a JSON object")
        step = row.get("step")
        if not isinstance(step, int) or isinstance(step, bool) or step < 0:
            raise RecordError(path, i, "step", f"must be a non-negative integer, got {step!r}")
    return rows


def curve(rows: Iterable[dict], key: str) -> pd.DataFrame:
    """``step``, ``value`` of every log line holding a number under ``key``, by step (the last line of a step
    wins, e.g. the final evaluation the trainer repeats)."""
    points = {row["step"]: float(row[key]) for row in rows
              if isinstance(row.get(key), (int, float)) and not isinstance(row.get(key), bool)
              and not math.isnan(row[key])}
    return pd.DataFrame(sorted(points.items()), columns=["step", "value"])


def steps_to_fraction(points: pd.DataFrame, fraction: float) -> int | None:
    """The first step whose value is at least ``fraction`` x the last value; None without points."""
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    if points.empty:
        return None
    threshold = fraction * points["value"].iloc[-1]
    reached = points[points["value"] >= threshold - 1e-12]  # slack: 0.95 * x must count for x itself
    return int(reached["step"].iloc[0]) if not reached.empty else None


# -- convergence per run -------------------------------------------------------------------------------------

def _settings_columns(row: dict) -> dict:
    settings = row.get("settings") or {}
    return {"model": row["model"], "run": row["run"], "group": row.get("group", row["run"]),
            "canonical": row["canonical"], "seed": settings.get("seed"),
            "shared_with": row["canonical"] if row["canonical"] != row["run"] else "",
            "scheduler": settings.get("scheduler"), "warmup_ratio": settings.get("warmup_ratio")}


def convergence_runs(rows: Iterable[dict], fractions: Sequence[float] = DEFAULT_FRACTIONS) -> pd.DataFrame:
    """One row per question row (``model``, ``run``, ``group``, ``canonical``, ``settings``, ``log``: the path
    of the canonical run's ``trainer_log.jsonl``): evaluation points, final validation numbers, final training
    loss and the steps to each share of the final validation accuracy (<NA> when not reached or not logged)."""
    fractions = sorted(set(fractions) | {TIE_BREAK_FRACTION})
    out = []
    for row in rows:
        log = read_trainer_log(row["log"])
        accuracy = curve(log, VAL_ACCURACY)
        entry = _settings_columns(row)
        entry["eval_points"] = len(accuracy)
        entry["final_step"] = int(accuracy["step"].iloc[-1]) if len(accuracy) else None
        entry["final_val_accuracy"] = accuracy["value"].iloc[-1] if len(accuracy) else math.nan
        for key, name in (("eval_rouge_l", "final_val_rouge_l"), ("eval_loss", "final_val_loss"),
                          ("loss", "final_train_loss")):
            points = curve(log, key)
            entry[name] = points["value"].iloc[-1] if len(points) else math.nan
        for fraction in fractions:
            entry[steps_column(fraction)] = steps_to_fraction(accuracy, fraction)
        out.append(entry)
    frame = pd.DataFrame(out)
    for column in ["seed", "final_step", *(steps_column(f) for f in fractions)]:
        frame[column] = frame[column].astype("Int64")
    return frame


def convergence_frame(runs: pd.DataFrame, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> pd.DataFrame:
    """:func:`convergence_runs` grouped over seeds: per (model, run group) the seeds, the mean final validation
    numbers, and for each share the mean steps over the seeds that reached it, their standard deviation
    (ddof 1) and how many seeds reached it."""
    fractions = sorted(set(fractions) | {TIE_BREAK_FRACTION})
    out = []
    for (model, group), part in runs.groupby(["model", "group"], sort=False):
        first = part.iloc[0]
        entry = {"model": model, "run": group, "shared_with": _shared(part), "scheduler": first["scheduler"],
                 "warmup_ratio": first["warmup_ratio"], "seeds": len(part),
                 "eval_points": int(part["eval_points"].min())}
        for column in ("final_val_accuracy", "final_val_rouge_l", "final_val_loss", "final_train_loss"):
            entry[column] = part[column].astype(float).mean()
        for fraction in fractions:
            steps = part[steps_column(fraction)].dropna().astype(float)
            entry[steps_column(fraction)] = steps.mean() if len(steps) else math.nan
            entry[f"{steps_column(fraction)}_std"] = steps.std() if len(steps) > 1 else math.nan
            entry[f"{steps_column(fraction)}_reached"] = len(steps)
        out.append(entry)
    return pd.DataFrame(out)


def _shared(part: pd.DataFrame) -> str:
    """The canonical run(s) of a group's seeds when they are another name's, else ""."""
    shared = [c for c, r in zip(part["canonical"], part["run"]) if c != r]
    return ", ".join(dict.fromkeys(shared))


# -- final test accuracy -------------------------------------------------------------------------------------

def _clip_means(score_paths: Sequence[str], field: str) -> dict[str, float | None]:
    """Per test clip, ``field`` averaged over the runs' per-sample scores; None when any run lacks it."""
    per_run = []
    for scores in load_scores(score_paths):
        values = per_sample_values(scores, field)
        if values is None:
            raise RecordError(scores[SOURCE_KEY], None, None, "no per-sample .jsonl beside it")
        per_run.append(values)
    ids = list(dict.fromkeys(i for values in per_run for i in values))
    out = {}
    for clip in ids:
        values = [values.get(clip) for values in per_run]
        out[clip] = None if any(is_failure(v) for v in values) else float(np.mean(values))
    return out


def final_accuracy_frame(rows: Iterable[dict], *, n_boot: int = 1000, ci: float = 0.95,
                         seed: int = 0) -> pd.DataFrame:
    """Per (model, run group): seeds, exercise-ID accuracy and ROUGE-L on the clean test set with bootstrap CIs,
    n and failed clips, the spread of the accuracy over seeds, and the paired difference to the baseline.

    ``rows`` are question rows with ``scores`` (the canonical run's ``clean.json``) and ``baseline_scores``
    (the baseline of the same seed)."""
    rows = list(rows)
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row.get("group", row["run"])), []).append(row)
    out = []
    for (model, group), part in groups.items():
        scores = [r["scores"] for r in part]
        baselines = [r["baseline_scores"] for r in part]
        correct = _clip_means(scores, "exercise_correct")
        accuracy = bootstrap_ci(list(correct.values()), n_boot=n_boot, ci=ci, seed=seed)
        rouge = bootstrap_ci(list(_clip_means(scores, "rouge_l").values()), n_boot=n_boot, ci=ci, seed=seed)
        diff = paired_bootstrap_diff(correct, _clip_means(baselines, "exercise_correct"), n_boot=n_boot, ci=ci,
                                     seed=seed)
        per_seed = [s["metrics"].get("exercise_accuracy", {}).get("mean") for s in load_scores(scores)]
        per_seed = [float(v) for v in per_seed if not is_failure(v)]
        settings = part[0].get("settings") or {}
        out.append({
            "model": model, "run": group,
            "shared_with": ", ".join(dict.fromkeys(r["canonical"] for r in part if r["canonical"] != r["run"])),
            "scheduler": settings.get("scheduler"), "warmup_ratio": settings.get("warmup_ratio"),
            "canonical": part[0]["canonical"], "seeds": len(part),
            "is_baseline": all(r["canonical"] == r["baseline"] for r in part if "baseline" in r) and
            all("baseline" in r for r in part),
            "exercise_accuracy": accuracy["mean"], "exercise_accuracy_ci_low": accuracy["ci_low"],
            "exercise_accuracy_ci_high": accuracy["ci_high"], "n": accuracy["n"], "failed": accuracy["failures"],
            "accuracy_seed_std": float(np.std(per_seed, ddof=1)) if len(per_seed) > 1 else math.nan,
            "rouge_l": rouge["mean"], "rouge_l_ci_low": rouge["ci_low"], "rouge_l_ci_high": rouge["ci_high"],
            "rouge_l_n": rouge["n"], "rouge_l_failed": rouge["failures"],
            "acc_diff": diff["diff"], "acc_diff_ci_low": diff["ci_low"], "acc_diff_ci_high": diff["ci_high"],
            "acc_diff_n": diff["n"], "acc_diff_failed": diff["failures"],
        })
    frame = pd.DataFrame(out)
    for column in ("seeds", "n", "failed", "rouge_l_n", "rouge_l_failed", "acc_diff_n", "acc_diff_failed"):
        frame[column] = frame[column].astype("Int64")
    for column in ("exercise_accuracy", "exercise_accuracy_ci_low", "exercise_accuracy_ci_high", "rouge_l",
                   "rouge_l_ci_low", "rouge_l_ci_high", "acc_diff", "acc_diff_ci_low", "acc_diff_ci_high"):
        frame[column] = frame[column].astype(float)  # None (nothing scored) -> NaN, kept missing
    return frame


# -- recommendation and headline -----------------------------------------------------------------------------

RECOMMENDED_COLUMNS = ["model", "recommended_run", "shared_with", "scheduler", "warmup_ratio", "accuracy",
                       "accuracy_ci_low", "accuracy_ci_high", "n", "failed", "steps_to_95pct", "best_run",
                       "best_accuracy", "tolerance", "tied_runs", "schedules_compared"]


def recommend_schedule(final: pd.DataFrame, convergence: pd.DataFrame, tolerance: float) -> pd.DataFrame:
    """Per model, the schedule with the best final test accuracy; runs within ``tolerance`` (absolute) of the
    best tie, and the fewest mean steps to 95% of the final validation accuracy wins (not reached counts as
    last; then higher accuracy, then question order). Names sharing one trained run count once (the first)."""
    if tolerance < 0:
        raise ValueError(f"schedule tolerance must be >= 0, got {tolerance}")
    steps = steps_column(TIE_BREAK_FRACTION)
    merged = final.merge(convergence[["model", "run", steps]], on=["model", "run"], how="left")
    merged = merged[merged["exercise_accuracy"].notna()].drop_duplicates(["model", "canonical"])
    out = []
    for model, part in merged.groupby("model", sort=False):
        part = part.assign(order=range(len(part)))
        best = part.loc[part["exercise_accuracy"].idxmax()]
        tied = part[part["exercise_accuracy"] >= best["exercise_accuracy"] - tolerance - 1e-12]
        tied = tied.assign(rank_steps=tied[steps].astype(float).fillna(math.inf))
        chosen = tied.sort_values(["rank_steps", "exercise_accuracy", "order"],
                                  ascending=[True, False, True]).iloc[0]
        out.append({
            "model": model, "recommended_run": chosen["run"], "shared_with": chosen["shared_with"],
            "scheduler": chosen["scheduler"], "warmup_ratio": chosen["warmup_ratio"],
            "accuracy": chosen["exercise_accuracy"], "accuracy_ci_low": chosen["exercise_accuracy_ci_low"],
            "accuracy_ci_high": chosen["exercise_accuracy_ci_high"], "n": chosen["n"], "failed": chosen["failed"],
            "steps_to_95pct": chosen[steps], "best_run": best["run"], "best_accuracy": best["exercise_accuracy"],
            "tolerance": tolerance, "tied_runs": len(tied), "schedules_compared": len(part),
        })
    return pd.DataFrame(out, columns=RECOMMENDED_COLUMNS)


def headline_rows(recommended: pd.DataFrame, models: Sequence[str]) -> list[dict]:
    """Per model: ``exercise_accuracy`` of the recommended schedule and its ``steps_to_95pct``."""
    rows = []
    by_model = recommended.set_index("model")
    for model in models:
        if model not in by_model.index:
            note = "no schedule of this model has a scored test clip"
            rows += [{"question": QUESTION, "model": model, "measure": m, "value": None, "better": b, "note": note}
                     for m, b in (("exercise_accuracy", "higher"), ("steps_to_95pct", "lower"))]
            continue
        rec = by_model.loc[model]
        detail = f"schedule {rec['recommended_run']}"
        rows.append({"question": QUESTION, "model": model, "measure": "exercise_accuracy", "value": rec["accuracy"],
                     "ci_low": rec["accuracy_ci_low"], "ci_high": rec["accuracy_ci_high"], "n": rec["n"],
                     "failed": rec["failed"], "better": "higher", "detail": detail})
        steps = rec["steps_to_95pct"]
        rows.append({"question": QUESTION, "model": model, "measure": "steps_to_95pct",
                     "value": None if pd.isna(steps) else float(steps), "better": "lower", "detail": detail,
                     "note": "" if not pd.isna(steps) else "no validation accuracy logged, or never reached"})
    return rows


def write_headline_csv(path: str | os.PathLike, recommended: pd.DataFrame, models: Sequence[str]) -> pd.DataFrame:
    return write_headline(path, headline_rows(recommended, models))


# -- tables --------------------------------------------------------------------------------------------------

def _ci(mean, low, high, scale: float = 100.0, sign: bool = False, digits: int = 1) -> str:
    if any(pd.isna(v) for v in (mean, low, high)):
        return "n/a"
    spec = f"{'+' if sign else ''}.{digits}f"
    return f"{scale * mean:{spec}} [{scale * low:{spec}}, {scale * high:{spec}}]"


def _steps(mean, std=math.nan) -> str:
    if pd.isna(mean):
        return "never"
    return f"{mean:.0f}" + ("" if pd.isna(std) else f" ± {std:.0f}")


def _run_label(run: str, shared: str) -> str:
    return run + (f" (= {shared})" if shared else "")


def convergence_display(frame: pd.DataFrame, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> pd.DataFrame:
    out = pd.DataFrame({"model": frame["model"],
                        "run": [_run_label(r, s) for r, s in zip(frame["run"], frame["shared_with"])],
                        "seeds": frame["seeds"], "evaluations": frame["eval_points"],
                        "final val accuracy %": [f"{100 * v:.1f}" if pd.notna(v) else "n/a"
                                                 for v in frame["final_val_accuracy"]]})
    for fraction in sorted(fractions):
        column = steps_column(fraction)
        out[f"steps to {fraction * 100:g}%"] = [_steps(m, s) for m, s in zip(frame[column], frame[f"{column}_std"])]
    return out


def final_display(frame: pd.DataFrame) -> pd.DataFrame:
    return pd.DataFrame({
        "model": frame["model"],
        "run": [_run_label(r, s) for r, s in zip(frame["run"], frame["shared_with"])],
        "seeds": frame["seeds"],
        "accuracy % [CI]": [_ci(m, lo, hi) for m, lo, hi in zip(frame["exercise_accuracy"],
                                                                frame["exercise_accuracy_ci_low"],
                                                                frame["exercise_accuracy_ci_high"])],
        "seed sd (points)": [f"{100 * v:.1f}" if pd.notna(v) else "-" for v in frame["accuracy_seed_std"]],
        "n": frame["n"], "failed": frame["failed"],
        "ROUGE-L [CI]": [_ci(m, lo, hi, 1.0, digits=3) for m, lo, hi in
                         zip(frame["rouge_l"], frame["rouge_l_ci_low"], frame["rouge_l_ci_high"])],
        "vs baseline (points) [CI]": [_ci(d, lo, hi, sign=True) for d, lo, hi in
                                      zip(frame["acc_diff"], frame["acc_diff_ci_low"], frame["acc_diff_ci_high"])],
    })




# -- figures -------------------------------------------------------------------------------------------------

def _curve_lines(rows: Sequence[dict]) -> list[dict]:
    """One line set per trained run of each model: the first name that asks for it, with its logs (one per
    seed) and how many other names share it."""
    lines: dict[tuple, dict] = {}
    for row in rows:
        seeds = tuple(r["canonical"] for r in rows if r["model"] == row["model"]
                      and r.get("group", r["run"]) == row.get("group", row["run"]))
        key = (row["model"], seeds)
        line = lines.setdefault(key, {"model": row["model"], "label": row.get("group", row["run"]),
                                      "settings": row.get("settings") or {}, "logs": {}, "names": set()})
        line["logs"][row["canonical"]] = row["log"]
        line["names"].add(row.get("group", row["run"]))
    return list(lines.values())


def _style(settings: dict, warmups: list) -> dict:
    warmup = settings.get("warmup_ratio")
    colour = PALETTE[warmups.index(warmup) % len(PALETTE)] if warmup in warmups else "#777777"
    return {"color": colour, "linestyle": SCHEDULE_STYLES.get(settings.get("scheduler"), "-"), "linewidth": 1.1}


def _draw(rows: Sequence[dict], panels: Sequence[tuple[str, str]], out_pdf, out_png):
    lines = _curve_lines(rows)
    if not lines:
        raise ValueError(f"{out_pdf}: no runs to draw")
    models = list(dict.fromkeys(line["model"] for line in lines))
    warmups = sorted({line["settings"].get("warmup_ratio") for line in lines
                      if line["settings"].get("warmup_ratio") is not None})
    logs = {path: read_trainer_log(path) for line in lines for path in line["logs"].values()}
    with figure_style():
        fig = new_figure(3.2 * len(panels) + 2.2, 2.4 * len(models))
        axes = np.atleast_2d(fig.subplots(len(models), len(panels), squeeze=False))
        for r, model in enumerate(models):
            for c, (key, label) in enumerate(panels):
                ax = axes[r, c]
                drawn = 0
                for line in (ln for ln in lines if ln["model"] == model):
                    for i, path in enumerate(line["logs"].values()):
                        points = curve(logs[path], key)
                        if points.empty:
                            continue
                        extra = len(line["names"]) - 1
                        name = line["label"] + (f" (+{extra} equal)" if extra else "")
                        ax.plot(points["step"], points["value"], label=name if i == 0 else None,
                                **_style(line["settings"], warmups))
                        drawn += 1
                if not drawn:
                    ax.text(0.5, 0.5, "not logged", transform=ax.transAxes, ha="center", va="center")
                ax.set_title(f"{model}: {label}" if len(panels) > 1 else model, fontsize=8)
                ax.set_xlabel("optimiser step")
                ax.xaxis.set_major_locator(MaxNLocator(integer=True))
                ax.set_ylabel(label)
        handles, names = [], []
        for ax in axes.ravel():
            for h, n in zip(*ax.get_legend_handles_labels()):
                if n not in names:
                    handles.append(h)
                    names.append(n)
        if handles:
            fig.legend(handles, names, loc="outside right upper", frameon=False, fontsize=6,
                       title="run (line: schedule,\ncolour: warm-up)",
                       title_fontsize=7, alignment="left")
    save_figure(fig, out_pdf, out_png)
    return fig


def train_val_curves_figure(rows: Sequence[dict], out_pdf, out_png):
    """Training loss, validation loss and validation exercise-ID accuracy against the step: one panel row per
    model, one line per trained run (line style: schedule; colour: warm-up ratio; one line per seed)."""
    return _draw(rows, [("loss", "training loss"), ("eval_loss", "validation loss"),
                        (VAL_ACCURACY, "validation accuracy")], out_pdf, out_png)


def lr_schedules_figure(rows: Sequence[dict], out_pdf, out_png):
    """The learning rate each run logged against the step, one panel per model."""
    return _draw(rows, [("learning_rate", "learning rate")], out_pdf, out_png)


# -- summary -------------------------------------------------------------------------------------------------

def summary_markdown(final: pd.DataFrame, convergence: pd.DataFrame, recommended: pd.DataFrame, *,
                     tolerance: float, ci: float, fractions: Sequence[float] = DEFAULT_FRACTIONS) -> str:
    """The RQ1.1.2 section of RESULTS_SUMMARY.md: per model a table and the findings read from the numbers."""
    lines = ["## RQ 1.1.2: learning-rate schedules and warm-up", "",
             f"Final accuracy is exercise-ID accuracy on the clean test set with its bootstrap {ci:.0%} CI; the "
             "difference to the baseline is a paired bootstrap over clips scored in both. Convergence is the "
             "first validation step reaching a share of the run's final validation accuracy. Unscored clips are "
             "excluded and counted, never imputed."]
    merged = final.merge(convergence.drop(columns=["shared_with", "scheduler", "warmup_ratio", "seeds"]),
                         on=["model", "run"], how="left")
    fractions = sorted(fractions)
    for model in merged["model"].unique():
        part = merged[merged["model"] == model]
        header = ["run", "accuracy % [CI]", "n", "failed", "vs baseline (points) [CI]",
                  *(f"steps to {f * 100:g}%" for f in fractions)]
        lines += ["", f"### {model}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        for _, row in part.iterrows():
            cells = [_run_label(row["run"], row["shared_with"]),
                     _ci(row["exercise_accuracy"], row["exercise_accuracy_ci_low"], row["exercise_accuracy_ci_high"]),
                     str(row["n"]), str(row["failed"]),
                     _ci(row["acc_diff"], row["acc_diff_ci_low"], row["acc_diff_ci_high"], sign=True)]
            cells += [_steps(row.get(steps_column(f))) for f in fractions]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
        lines += _findings(part, recommended[recommended["model"] == model], tolerance)
    return "\n".join(lines) + "\n"


def _findings(part: pd.DataFrame, recommended: pd.DataFrame, tolerance: float) -> list[str]:
    scored = part[part["exercise_accuracy"].notna()]
    if scored.empty:
        return ["- No schedule of this model has a scored test clip: nothing to compare."]
    out = []
    if not recommended.empty:
        rec = recommended.iloc[0]
        steps = "never reached" if pd.isna(rec["steps_to_95pct"]) else f"{rec['steps_to_95pct']:.0f} step(s)"
        accuracy = _ci(rec["accuracy"], rec["accuracy_ci_low"], rec["accuracy_ci_high"])
        out.append(f"- Recommended schedule: `{rec['recommended_run']}` ({rec['scheduler']}, warm-up "
                   f"{rec['warmup_ratio']:g}) at {accuracy}% "
                   f"test accuracy, 95% of its final validation accuracy after {steps}; {rec['tied_runs']} of "
                   f"{rec['schedules_compared']} distinct runs were within {100 * tolerance:.1f} points of the best "
                   f"(`{rec['best_run']}`, {100 * rec['best_accuracy']:.1f}%).")
    column = steps_column(TIE_BREAK_FRACTION)
    reached = part[part[column].notna()] if column in part else part.iloc[0:0]
    if not reached.empty:
        fastest = reached.loc[reached[column].astype(float).idxmin()]
        out.append(f"- Fastest to 95% of its final validation accuracy: `{fastest['run']}` after "
                   f"{fastest[column]:.0f} step(s).")
    never = part[part[column].isna()]["run"].tolist() if column in part else []
    if never:
        out.append(f"- Without a validation accuracy reaching 95% of its final value (or none logged): "
                   f"{', '.join(never)}.")
    flat = part[part["final_val_accuracy"] == 0]["run"].tolist() if "final_val_accuracy" in part else []
    if flat:
        out.append(f"- Final validation accuracy 0 (every share is reached at the first evaluation, so their steps "
                   f"say nothing about convergence): {', '.join(flat)}.")
    compared = part[(part["acc_diff_n"].fillna(0) > 0) & ~part["is_baseline"].astype(bool)]
    better = compared[compared["acc_diff_ci_low"] > 0]["run"].tolist()
    worse = compared[compared["acc_diff_ci_high"] < 0]["run"].tolist()
    if not compared.empty:
        unclear = len(compared) - len(better) - len(worse)
        out.append("- Against the baseline (paired CI excludes 0): better: " + (", ".join(better) or "none")
                   + "; worse: " + (", ".join(worse) or "none") + f"; no clear difference: {unclear} more.")
    spread = part[part["seeds"] > 1]
    for _, row in spread.iterrows():
        out.append(f"- `{row['run']}` over {row['seeds']} seeds: seed standard deviation of the accuracy "
                   f"{100 * row['accuracy_seed_std']:.1f} points.")
    missing = part[part["exercise_accuracy"].isna()]["run"].tolist()
    if missing:
        out.append(f"- Without any scored clip (left out): {', '.join(missing)}.")
    return out
