"""RQ5.2.1 analysis: judge scores per model, radar chart, best/worst examples, correlation with the text
metrics, and agreement with expert ratings. Reads the judge's JSON/JSONL files; no torch, no model code.

Judge summaries and rows are those written by :mod:`qvedbench.judge.run` (rows carry ``model``, ``run``,
``variant``, ``id``, the scores of :data:`SCORE_KEYS` or null, ``status``, ``backend`` ...). Scores by the
``rubric`` backend are labelled "rubric (sanity baseline)" everywhere they appear.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Sequence

import numpy as np
import pandas as pd

from qvedbench.io import RecordError, read_json, read_jsonl, write_text
from qvedbench.judge.prompt import DIMENSIONS, SCORE_KEYS
from qvedbench.report.load import run_order, variant_order
from qvedbench.report.style import figure_style, model_colour, new_figure, save_figure
from qvedbench.stats import is_failure

SCORE_LABELS = {
    "clinical_accuracy": "Clinical accuracy", "actionability": "Actionability", "root_cause": "Root cause",
    "completeness": "Completeness", "overall": "Overall", "holistic": "Holistic (original)",
}
TEXT_METRICS = ("rouge_l", "meteor", "bertscore_f1", "embedding_cosine", "exercise_correct")
KEY_COLUMNS = ("model", "run", "variant", "id")


def judge_label(summary: dict) -> str:
    """Who scored: ``rubric (sanity baseline)`` or ``<backend>: <judge model>``."""
    if summary.get("sanity_baseline"):
        return "rubric (sanity baseline)"
    return f"{summary.get('backend')}: {summary.get('judge_model')}"


def load_summaries(paths: Iterable[str | os.PathLike]) -> list[dict]:
    out = []
    for path in paths:
        summary = read_json(path)
        for key in ("model", "run", "variant", "n", "failures", "scores"):
            if key not in summary:
                raise RecordError(path, None, key, "missing from the judge summary")
        out.append(summary)
    return sorted(out, key=lambda s: (s["model"], run_order(s["run"]), variant_order(s["variant"])))


def load_rows(paths: Iterable[str | os.PathLike]) -> list[dict]:
    """Every per-sample judge row of ``paths``, checked for the key columns."""
    rows = []
    for path in paths:
        for i, row in enumerate(read_jsonl(path)):
            for key in (*KEY_COLUMNS, "status"):
                if key not in row:
                    raise RecordError(path, i, key, "missing from the judge row")
            rows.append(row)
    return rows


# -- scores table --------------------------------------------------------------------------------------------

def scores_frame(summaries: Sequence[dict]) -> pd.DataFrame:
    """One row per judged (model, run, variant): every score's mean, CI and valid n, failures, failure rate."""
    rows = []
    for s in summaries:
        row = {"model": s["model"], "run": s["run"], "variant": s["variant"], "judge": judge_label(s),
               "prompt_version": s.get("prompt_version"), "n": s["n"], "failures": s["failures"],
               "failure_rate": s.get("failure_rate")}
        for key in SCORE_KEYS:
            entry = s["scores"].get(key) or {}
            row[key] = entry.get("mean")
            row[f"{key}_ci_low"], row[f"{key}_ci_high"] = entry.get("ci_low"), entry.get("ci_high")
            row[f"{key}_n"] = entry.get("n")
        rows.append(row)
    return pd.DataFrame(rows)


def _mean_ci(mean, low, high) -> str:
    if mean is None or pd.isna(mean):
        return "n/a"
    return f"{mean:.2f} [{low:.2f}, {high:.2f}]"


def write_scores_table(summaries: Sequence[dict], out_csv, out_tex) -> pd.DataFrame:
    frame = scores_frame(summaries)
    write_text(out_csv, frame.to_csv(index=False))
    display = frame[["model", "run", "variant", "judge", "n", "failures"]].copy()
    display["failure rate"] = [f"{v:.1%}" if pd.notna(v) else "n/a" for v in frame["failure_rate"]]
    for key in SCORE_KEYS:
        display[SCORE_LABELS[key]] = [_mean_ci(*v) for v in
                                      zip(frame[key], frame[f"{key}_ci_low"], frame[f"{key}_ci_high"])]
    write_text(out_tex, display.to_latex(index=False, escape=True, na_rep="n/a"))
    return frame


# -- radar chart ---------------------------------------------------------------------------------------------

def radar_figure(summaries: Sequence[dict], pdf_path, png_path) -> None:
    """Mean score per dimension (1-5), one polygon per judged (model, run, variant); failures left out."""
    axes_keys = SCORE_KEYS
    angles = np.linspace(0, 2 * np.pi, len(axes_keys), endpoint=False).tolist()
    linestyles = ("-", "--", ":", "-.")
    runs = sorted({s["run"] for s in summaries}, key=run_order)
    with figure_style():
        fig = new_figure(5.0, 4.6)
        ax = fig.add_subplot(projection="polar")
        for s in summaries:
            means = [(s["scores"].get(k) or {}).get("mean") for k in axes_keys]
            if all(m is None for m in means):
                continue
            values = [np.nan if m is None else m for m in means]
            label = f"{s['model']} / {s['run']} / {s['variant']} (failures {s['failures']}/{s['n']})"
            ax.plot(angles + angles[:1], values + values[:1], color=model_colour(s["model"]),
                    linestyle=linestyles[runs.index(s["run"]) % len(linestyles)], marker="o", markersize=3,
                    label=label)
        ax.set_xticks(angles)
        ax.set_xticklabels([SCORE_LABELS[k] for k in axes_keys])
        ax.set_ylim(1, 5)
        ax.set_yticks([1, 2, 3, 4, 5])
        judges = sorted({judge_label(s) for s in summaries})
        ax.set_title(f"Judge scores (1-5), judge: {', '.join(judges)}")
        if ax.get_legend_handles_labels()[0]:
            fig.legend(loc="outside lower center", ncols=1)
        save_figure(fig, pdf_path, png_path)


# -- best / worst examples -----------------------------------------------------------------------------------

def examples_frame(rows: Sequence[dict], k: int = 3) -> pd.DataFrame:
    """Per (model, run, variant): the ``k`` best and ``k`` worst judged samples by ``overall`` (ties by id).

    Failed samples are not ranked; their count is in the scores table.
    """
    out = []
    frame = pd.DataFrame([r for r in rows if r["status"] == "ok"])
    if frame.empty:
        return pd.DataFrame(columns=["model", "run", "variant", "rank", "id", "overall", "exercise", "reference",
                                     "prediction", "rationale"])
    for (model, run, variant), group in frame.groupby(["model", "run", "variant"], sort=False):
        ordered = group.sort_values(["overall", "id"], ascending=[False, True])
        worst = group.sort_values(["overall", "id"], ascending=[True, True])
        for rank, part in (("best", ordered.head(k)), ("worst", worst.head(k))):
            for _, r in part.iterrows():
                out.append({"model": model, "run": run, "variant": variant, "rank": rank, "id": r["id"],
                            "overall": r["overall"], "exercise": r.get("exercise"), "reference": r.get("reference"),
                            "prediction": r.get("prediction"), "rationale": r.get("rationale")})
    return pd.DataFrame(out)


def write_examples(rows: Sequence[dict], out_csv, out_tex, k: int = 3) -> pd.DataFrame:
    frame = examples_frame(rows, k)
    write_text(out_csv, frame.to_csv(index=False))
    display = frame.drop(columns=["rationale"])
    write_text(out_tex, display.to_latex(index=False, escape=True, na_rep="n/a", longtable=True))
    return frame


# -- correlation with text metrics ---------------------------------------------------------------------------

def joined_scores(judge_rows: Sequence[dict], score_files: dict[tuple[str, str, str], str | os.PathLike]) -> pd.DataFrame:
    """Judge rows joined with the per-sample text metrics of the same (model, run, variant, id).

    ``score_files`` maps (model, run, variant) to that job's per-sample scores ``.jsonl``.
    """
    metric_rows = []
    for (model, run, variant), path in score_files.items():
        for row in read_jsonl(path):
            metric_rows.append({"model": model, "run": run, "variant": variant, "id": row["id"],
                                **{m: row.get(m) for m in TEXT_METRICS}})
    judged = pd.DataFrame([{**{k: r[k] for k in KEY_COLUMNS}, **{k: r.get(k) for k in SCORE_KEYS}}
                           for r in judge_rows])
    if judged.empty or not metric_rows:
        return pd.DataFrame(columns=[*KEY_COLUMNS, *SCORE_KEYS, *TEXT_METRICS])
    return judged.merge(pd.DataFrame(metric_rows), on=list(KEY_COLUMNS), how="inner")


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(x) < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return math.nan
    return float(spearmanr(x, y).statistic)


def _spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair of two (resamples, n) arrays (average ranks for ties); NaN where a row
    is constant."""
    from scipy.stats import rankdata

    rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
    rx -= rx.mean(axis=1, keepdims=True)
    ry -= ry.mean(axis=1, keepdims=True)
    denom = np.sqrt((rx * rx).sum(axis=1) * (ry * ry).sum(axis=1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, (rx * ry).sum(axis=1) / denom, np.nan)


def _bootstrap(stat, x: np.ndarray, y: np.ndarray, n_boot: int, ci: float, seed: int) -> tuple[float, float]:
    """Percentile bootstrap of ``stat(x, y)`` over resampled pairs; degenerate resamples (NaN) are skipped."""
    if len(x) < 3:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(x), size=(n_boot, len(x)))
    if stat is _spearman:
        draws = _spearman_rows(x[idx], y[idx])
    else:
        draws = np.array([stat(x[i], y[i]) for i in idx])
    draws = draws[~np.isnan(draws)]
    if len(draws) == 0:
        return math.nan, math.nan
    tail = (1 - ci) / 2
    return float(np.quantile(draws, tail)), float(np.quantile(draws, 1 - tail))


def _pairs(frame: pd.DataFrame, a: str, b: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Rows where both ``a`` and ``b`` are valid, and the count of rows with either missing."""
    both = frame[[a, b]].apply(pd.to_numeric, errors="coerce")
    valid = both.dropna()
    return valid[a].to_numpy(float), valid[b].to_numpy(float), len(both) - len(valid)


def correlation_frame(joined: pd.DataFrame, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Spearman correlation of every judge score with every text metric, pooled over all judged samples and
    per model; with a bootstrap CI, the number of pairs and the pairs left out (a failure on either side)."""
    out = []
    groups = [("all", joined)] + [(m, g) for m, g in joined.groupby("model", sort=True)] if len(joined) else []
    for model, group in groups:
        for key in SCORE_KEYS:
            for metric in TEXT_METRICS:
                x, y, missing = _pairs(group, key, metric)
                low, high = _bootstrap(_spearman, x, y, n_boot, ci, seed)
                out.append({"model": model, "judge_score": key, "text_metric": metric, "spearman": _spearman(x, y),
                            "ci_low": low, "ci_high": high, "n": len(x), "missing": missing})
    return pd.DataFrame(out, columns=["model", "judge_score", "text_metric", "spearman", "ci_low", "ci_high", "n",
                                      "missing"])


def write_frame(frame: pd.DataFrame, out_csv, out_tex, float_format: str = "{:.3f}") -> None:
    """Write a numeric table as CSV and as LaTeX (escaped, NaN shown as n/a)."""
    write_text(out_csv, frame.to_csv(index=False))
    write_text(out_tex, frame.to_latex(index=False, escape=True, na_rep="n/a", float_format=float_format.format))


# -- agreement with expert ratings ---------------------------------------------------------------------------

def load_ratings(path: str | os.PathLike) -> list[dict]:
    """Expert ratings (``qvedbench review`` writes them): rows with model, run, variant, id, rater and scores."""
    rows = read_jsonl(path)
    for i, row in enumerate(rows):
        for key in (*KEY_COLUMNS, "rater"):
            if not isinstance(row.get(key), str):
                raise RecordError(path, i, key, "expected a string")
        for key in SCORE_KEYS:
            value = row.get(key)
            if value is not None and (isinstance(value, bool) or value not in (1, 2, 3, 4, 5)):
                raise RecordError(path, i, key, f"expected an integer 1-5 or null, got {value!r}")
    return rows


def _quadratic_kappa(x: np.ndarray, y: np.ndarray) -> float:
    from sklearn.metrics import cohen_kappa_score

    if len(x) < 2:
        return math.nan
    value = cohen_kappa_score(x.astype(int), y.astype(int), labels=[1, 2, 3, 4, 5], weights="quadratic")
    return float(value)


def agreement_frame(judge_rows: Sequence[dict], ratings: Sequence[dict], *, n_boot: int = 1000,
                    ci: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Judge vs expert per score: quadratic-weighted Cohen's kappa (judge scores rounded half up to whole
    numbers) and Spearman, each with a bootstrap CI, over the samples both rated; ``missing`` counts rated
    samples the judge failed on (or that the expert skipped)."""
    judged = {tuple(r[k] for k in KEY_COLUMNS): r for r in judge_rows}
    out = []
    for key in SCORE_KEYS:
        pairs, missing = [], 0
        for rating in ratings:
            row = judged.get(tuple(rating[k] for k in KEY_COLUMNS))
            if row is None:
                continue
            if is_failure(row.get(key)) or rating.get(key) is None:
                missing += 1
                continue
            pairs.append((math.floor(row[key] + 0.5), rating[key]))
        x = np.array([p[0] for p in pairs], dtype=float)
        y = np.array([p[1] for p in pairs], dtype=float)
        kappa_low, kappa_high = _bootstrap(_quadratic_kappa, x, y, n_boot, ci, seed)
        rho_low, rho_high = _bootstrap(_spearman, x, y, n_boot, ci, seed)
        out.append({"score": key, "n": len(pairs), "missing": missing,
                    "kappa_quadratic": _quadratic_kappa(x, y), "kappa_ci_low": kappa_low, "kappa_ci_high": kappa_high,
                    "spearman": _spearman(x, y), "spearman_ci_low": rho_low, "spearman_ci_high": rho_high})
    return pd.DataFrame(out)


# -- summary fragment ----------------------------------------------------------------------------------------

def _fmt(entry: dict | None) -> str:
    if not entry or entry.get("mean") is None:
        return "n/a"
    return f"{entry['mean']:.2f} [{entry['ci_low']:.2f}, {entry['ci_high']:.2f}]"


def _num(value) -> str:
    return "n/a" if value is None or pd.isna(value) else f"{value:.2f}"


def _overlap(a: dict, b: dict) -> bool:
    return not (a["ci_low"] > b["ci_high"] or b["ci_low"] > a["ci_high"])


def summary_markdown(summaries: Sequence[dict], correlation: pd.DataFrame | None = None,
                     agreement: pd.DataFrame | None = None, links: Sequence[str] = ()) -> str:
    """The RQ5.2.1 section of RESULTS_SUMMARY.md, with findings stated from the numbers."""
    judges = sorted({judge_label(s) for s in summaries})
    lines = ["## RQ 5.2.1: LLM-as-judge feedback quality", ""]
    if any(s.get("sanity_baseline") for s in summaries):
        lines += ["**Scored by the rubric sanity baseline, not an LLM judge**: the scores below only check that "
                  "the feedback names the right exercise and the annotated errors (deterministic rules).", ""]
    total = sum(s["n"] for s in summaries)
    failed = sum(s["failures"] for s in summaries)
    lines.append(f"Judge: {', '.join(judges) or 'none'}. {total} judged samples, {failed} failures "
                 f"({failed / total:.1%} failure rate; failures are missing, never imputed)." if total else
                 "No judged samples.")
    lines += ["", "| model | run | variant | n | failures | overall (95% CI) | holistic | "
              + " | ".join(SCORE_LABELS[d] for d in DIMENSIONS) + " |",
              "|---|---|---|---|---|---|---|" + "---|" * len(DIMENSIONS)]
    for s in summaries:
        sc = s["scores"]
        lines.append(f"| {s['model']} | {s['run']} | {s['variant']} | {s['n']} | {s['failures']} | "
                     f"{_fmt(sc.get('overall'))} | {_fmt(sc.get('holistic'))} | "
                     + " | ".join(_fmt(sc.get(d)) for d in DIMENSIONS) + " |")
    ranked = [s for s in summaries if (s["scores"].get("overall") or {}).get("mean") is not None]
    lines.append("")
    if len(ranked) >= 2:
        ranked.sort(key=lambda s: s["scores"]["overall"]["mean"], reverse=True)
        best, second = ranked[0], ranked[1]
        name = f"{best['model']} / {best['run']} / {best['variant']}"
        other = f"{second['model']} / {second['run']} / {second['variant']}"
        if _overlap(best["scores"]["overall"], second["scores"]["overall"]):
            lines.append(f"Highest overall score: {name} ({_fmt(best['scores']['overall'])}), but its CI overlaps "
                         f"the next ({other}, {_fmt(second['scores']['overall'])}): no clear winner.")
        else:
            lines.append(f"Highest overall score: {name} ({_fmt(best['scores']['overall'])}), above the next "
                         f"({other}, {_fmt(second['scores']['overall'])}) with non-overlapping CIs.")
        weakest = {d: min(ranked, key=lambda s, d=d: s["scores"][d]["mean"] if s["scores"][d]["mean"] is not None
                          else math.inf) for d in DIMENSIONS}
        low_dim = min(DIMENSIONS, key=lambda d: np.nanmean([s["scores"][d]["mean"] if s["scores"][d]["mean"]
                                                             is not None else np.nan for s in ranked]))
        lines.append(f"Lowest-scoring dimension on average: {SCORE_LABELS[low_dim]} (weakest there: "
                     f"{weakest[low_dim]['model']} / {weakest[low_dim]['run']}).")
    elif ranked:
        lines.append(f"Only one judged configuration has scores: overall {_fmt(ranked[0]['scores']['overall'])}.")
    else:
        lines.append("No configuration has a valid judge score (every sample failed).")
    if correlation is not None and len(correlation):
        pooled = correlation[(correlation["model"] == "all") & (correlation["judge_score"] == "overall")]
        pooled = pooled.dropna(subset=["spearman"])
        if len(pooled):
            top = pooled.loc[pooled["spearman"].abs().idxmax()]
            lines.append(f"Judge overall vs text metrics (Spearman, all samples): strongest with {top['text_metric']} "
                         f"(rho {top['spearman']:.2f} [{top['ci_low']:.2f}, {top['ci_high']:.2f}], n={int(top['n'])}, "
                         f"{int(top['missing'])} pairs missing); "
                         + ", ".join(f"{r['text_metric']} {r['spearman']:.2f}" for _, r in pooled.iterrows()) + ".")
        else:
            lines.append("Judge overall vs text metrics: not computable (too few or constant scores).")
    if agreement is not None and len(agreement):
        row = agreement[agreement["score"] == "overall"].iloc[0]
        if row["n"] and not pd.isna(row["kappa_quadratic"]):
            lines.append(f"Agreement with expert ratings (overall, n={int(row['n'])}, {int(row['missing'])} missing): "
                         f"quadratic-weighted kappa {_num(row['kappa_quadratic'])} [{_num(row['kappa_ci_low'])}, "
                         f"{_num(row['kappa_ci_high'])}], Spearman {_num(row['spearman'])} "
                         f"[{_num(row['spearman_ci_low'])}, {_num(row['spearman_ci_high'])}] "
                         "(n/a: not computable, e.g. constant ratings).")
        else:
            lines.append("Agreement with expert ratings: too few rated samples to compute.")
    elif agreement is None:
        lines.append("No expert ratings file configured (questions.rq5_2_1.ratings): agreement not measured.")
    if links:
        lines += ["", "Outputs: " + ", ".join(links)]
    return "\n".join(lines) + "\n"


# -- headline rows (qvedbench.report.headline) ---------------------------------------------------------------

def headline_rows(frame: pd.DataFrame, run: str = "baseline", variant: str = "clean") -> list[dict]:
    """Per model, the judge's ``overall`` score (1-5, CI over scored samples, failures counted) of ``run`` on
    ``variant`` (or, for a model without it, its first judged run on that variant)."""
    from qvedbench.report.load import run_order

    rows = []
    part = frame[frame["variant"] == variant] if len(frame) else frame
    for model, group in (part.groupby("model", sort=True) if len(part) else []):
        chosen = run if run in set(group["run"]) else sorted(group["run"], key=run_order)[0]
        r = group[group["run"] == chosen].iloc[0]
        row = {"question": "rq5_2_1", "model": model, "measure": "judge_overall", "better": "higher",
               "detail": f"run {chosen}, {variant}, judge {r['judge']}", "n": r["overall_n"], "failed": r["failures"]}
        value = r["overall"]
        rows.append({**row, "value": value, "ci_low": r["overall_ci_low"], "ci_high": r["overall_ci_high"]}
                    if value is not None and not pd.isna(value) else {**row, "note": "the judge scored no sample"})
    return rows
