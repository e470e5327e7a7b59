"""The master comparison: every model x every (question, measure) that ran, from the headline files; the
headline of the base/baseline comparison itself; and the tests across models on the baseline run.

The table reads only ``results/tables/<question>/headline.csv`` files (see :mod:`qvedbench.report.headline`),
so it covers exactly the questions that ran. A value that could not be computed stays empty with its note.
"""
from __future__ import annotations

import os
from typing import Iterable, Mapping, Sequence

import pandas as pd

from qvedbench.analysis.model_tests import compare_models
from qvedbench.io import read_json, write_text
from qvedbench.report.headline import read_headlines, write_headline
from qvedbench.report.load import load_scores, per_sample_values

BASE_RUN = "base"
BASELINE_RUN = "baseline"
CLEAN = "clean"
# aggregate metric -> its per-sample field in the scores JSONL
SCORE_METRICS = {"exercise_accuracy": "exercise_correct", "bertscore_f1": "bertscore_f1", "meteor": "meteor",
                 "rouge_l": "rouge_l", "embedding_cosine": "embedding_cosine"}
# train_stats.json field -> (headline measure, better)
TRAIN_MEASURES = {"wall_time_s": ("train_wall_time_s", "lower"), "peak_memory_mb": ("train_peak_memory_mb", "lower"),
                  "trainable_params": ("trainable_params", "lower")}


# -- the base/baseline headline -------------------------------------------------------------------------------
def _metric_rows(question: str, scores: dict, detail: str) -> list[dict]:
    rows = []
    for metric in SCORE_METRICS:
        entry = scores["metrics"].get(metric)
        row = {"question": question, "model": scores["model"], "measure": metric, "better": "higher",
               "detail": detail}
        if not entry or entry.get("mean") is None:
            note = "not computed" if not entry else f"no sample could be scored ({entry.get('failures', 0)} failed)"
            rows.append({**row, "n": (entry or {}).get("n"), "failed": (entry or {}).get("failures"), "note": note})
            continue
        rows.append({**row, "value": entry["mean"], "ci_low": entry["ci_low"], "ci_high": entry["ci_high"],
                     "n": entry["n"], "failed": entry["failures"]})
    return rows


def baseline_headline_rows(score_jsons: Iterable[str | os.PathLike | dict],
                           train_stats: Mapping[str, str | os.PathLike] | None = None) -> list[dict]:
    """Headline rows of question ``baseline`` (the baseline run on the clean test set, plus its training cost
    from ``train_stats``: model -> train_stats.json) and question ``base`` (the untuned model)."""
    rows = []
    for scores in load_scores(score_jsons):
        if scores["variant"] != CLEAN or scores["run"] not in (BASE_RUN, BASELINE_RUN):
            continue
        rows += _metric_rows(scores["run"], scores, f"run {scores['run']}, clean test set")
    for model, path in sorted((train_stats or {}).items()):
        stats = read_json(path)
        for field, (measure, better) in TRAIN_MEASURES.items():
            value = stats.get(field) if isinstance(stats, dict) else None
            row = {"question": BASELINE_RUN, "model": model, "measure": measure, "better": better,
                   "detail": f"run baseline on {stats.get('device', '?')}, {stats.get('precision', '?')}"}
            rows.append({**row, "value": value} if isinstance(value, (int, float)) else
                        {**row, "note": f"{field} missing from {path}"})
    return rows


def write_baseline_headline(score_jsons, out_csv, train_stats=None) -> pd.DataFrame:
    return write_headline(out_csv, baseline_headline_rows(score_jsons, train_stats))


# -- the master table -----------------------------------------------------------------------------------------
def _question_order(question: str) -> tuple:
    return ({BASE_RUN: 0, BASELINE_RUN: 1}.get(question, 2), question)


def master_frame(headlines: pd.DataFrame) -> pd.DataFrame:
    """Wide table: one row per (question, measure, better), per model the columns ``<model>``,
    ``<model>_ci_low``, ``<model>_ci_high``, ``<model>_n``, ``<model>_failed``, ``<model>_detail`` and
    ``<model>_note``. A model without a row for a measure has empty cells and the note ``not run``."""
    models = sorted(headlines["model"].unique())
    keys = sorted({(q, m, b) for q, m, b in zip(headlines["question"], headlines["measure"], headlines["better"])},
                  key=lambda k: (_question_order(k[0]), k[1]))
    index = {(r.question, r.measure, r.model): r for r in headlines.itertuples(index=False)}
    rows = []
    for question, measure, better in keys:
        row = {"question": question, "measure": measure, "better": better}
        for model in models:
            r = index.get((question, measure, model))
            for field in ("value", "ci_low", "ci_high", "n", "failed"):
                value = None if r is None else getattr(r, field)
                row[model if field == "value" else f"{model}_{field}"] = value
            row[f"{model}_detail"] = "" if r is None else r.detail
            row[f"{model}_note"] = "not run" if r is None else r.note
        rows.append(row)
    return pd.DataFrame(rows, columns=["question", "measure", "better"] + [
        c for m in models for c in (m, f"{m}_ci_low", f"{m}_ci_high", f"{m}_n", f"{m}_failed", f"{m}_detail",
                                     f"{m}_note")])


def fmt_value(value, ci_low=None, ci_high=None, n=None, failed=None, note: str = "") -> str:
    """``0.830 [0.750, 0.900] (n=60, failed 0)``; ``n/a (<note>)`` when the value is missing."""
    if value is None or pd.isna(value):
        return f"n/a ({note})" if note else "n/a"
    has_ci = ci_low is not None and not pd.isna(ci_low) and ci_high is not None and not pd.isna(ci_high)
    # counts and settings (no CI) as integers; scores with a CI always with three decimals
    text = f"{value:,.0f}" if not has_ci and (abs(value) >= 1000 or value == int(value)) else f"{value:.3f}"
    if has_ci:
        text += f" [{ci_low:.3f}, {ci_high:.3f}]"
    if n is not None and not pd.isna(n):
        text += f" (n={int(n)}" + (f", failed {int(failed)})" if failed is not None and not pd.isna(failed) else ")")
    return text


def models_of(frame: pd.DataFrame) -> list[str]:
    return [c[: -len("_note")] for c in frame.columns if c.endswith("_note")]


def master_display(frame: pd.DataFrame) -> pd.DataFrame:
    """Display table: one text cell per model (value, CI, n and failures, or n/a with the reason)."""
    out = frame[["question", "measure", "better"]].copy()
    for model in models_of(frame):
        out[model] = [
            fmt_value(r[model], r[f"{model}_ci_low"], r[f"{model}_ci_high"], r[f"{model}_n"], r[f"{model}_failed"],
                      r[f"{model}_note"]) + (f"; {r[f'{model}_detail']}" if r[f"{model}_detail"] else "")
            for _, r in frame.iterrows()
        ]
    return out


def write_table_pair(numeric: pd.DataFrame, display: pd.DataFrame, out_csv, out_tex) -> None:
    write_text(out_csv, numeric.to_csv(index=False))
    write_text(out_tex, display.to_latex(index=False, escape=True, na_rep="n/a"))


def difference_verdict(row: Mapping) -> str:
    """``yes``/``no``/``unknown`` with the test, p-value, n and dropped samples of one model-tests row."""
    def present(value) -> bool:
        return value is not None and not (isinstance(value, float) and pd.isna(value))
    if not present(row.get("p_value")):
        return f"unknown: {row.get('reason') or 'no test'}"
    n = int(row["n"]) if present(row.get("n")) else 0
    dropped = int(row["dropped"]) if present(row.get("dropped")) else 0
    return f"{row['differ']} ({row['test']}, p={row['p_value']:.3g}, n={n}, dropped {dropped})"


def add_model_tests(frame: pd.DataFrame, tests: pd.DataFrame) -> pd.DataFrame:
    """Column ``models_differ`` on the baseline's metric rows: whether the models differ on that metric, from
    :func:`model_tests_frame` (empty on other rows)."""
    by_metric = {r["metric"]: difference_verdict(r) for r in tests.to_dict("records")}
    out = frame.copy()
    out["models_differ"] = [by_metric.get(m, "") if q == BASELINE_RUN else ""
                            for q, m in zip(out["question"], out["measure"])]
    return out


def write_master_table(headline_paths: Sequence[str | os.PathLike], out_csv, out_tex,
                       model_tests: str | os.PathLike | None = None) -> pd.DataFrame:
    """The master table from the headline files; with ``model_tests`` (the CSV of :func:`write_model_tests`)
    also the column saying whether the models differ on each baseline metric."""
    frame = master_frame(read_headlines(headline_paths))
    display = master_display(frame)
    if model_tests is not None:
        tests = pd.read_csv(model_tests)
        tests = tests.astype(object).where(tests.notna(), None)
        frame, display = add_model_tests(frame, tests), add_model_tests(display, tests)
    write_table_pair(frame, display, out_csv, out_tex)
    return frame


def markdown_table(frame: pd.DataFrame) -> str:
    """A GitHub markdown table of ``frame`` (cells as text; ``|`` escaped)."""
    def cell(value) -> str:
        return "" if value is None or (not isinstance(value, str) and pd.isna(value)) else \
            str(value).replace("|", "\\|").replace("\n", " ")
    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


# -- tests across models --------------------------------------------------------------------------------------
MODEL_TEST_COLUMNS = ("metric", "run", "variant", "models", "test", "statistic", "df", "p_value", "n", "dropped",
                      "differ", "reason", "assumptions")


def _assumption_text(checks: list[dict]) -> str:
    parts = []
    for c in checks:
        if not c.get("applicable", True):
            parts.append(f"{c['check']}: not applicable ({c.get('reason', '')})")
        elif "p_value" in c:
            parts.append(f"{c['check']}{' of ' + c['of'] if c.get('of') else ''}: W={c['statistic']:.3f}, "
                         f"p={c['p_value']:.3g}")
        elif "epsilon" in c:
            parts.append(f"{c['check']}: {c['epsilon']:.3f}")
        else:
            parts.append(c["check"] + (f" ({c['discordant_pairs']} discordant pairs)" if "discordant_pairs" in c
                                       else ""))
    return "; ".join(parts)


def model_tests_frame(score_jsons: Iterable[str | os.PathLike | dict], *, run: str = BASELINE_RUN,
                      variant: str = CLEAN, metrics: Sequence[str] = tuple(SCORE_METRICS),
                      alpha: float = 0.05) -> pd.DataFrame:
    """One row per metric: do the models differ on ``run`` / ``variant``, paired over test samples?"""
    chosen = [s for s in load_scores(score_jsons) if s["run"] == run and s["variant"] == variant]
    rows = []
    for metric in metrics:
        row = {"metric": metric, "run": run, "variant": variant,
               "models": ", ".join(sorted(s["model"] for s in chosen))}
        per_model = {}
        for s in sorted(chosen, key=lambda s: s["model"]):
            values = per_sample_values(s, SCORE_METRICS.get(metric, metric))
            if values is not None:
                per_model[s["model"]] = values
        if len(per_model) < 2:
            rows.append({**row, "test": "none", "reason": f"per-sample scores of {len(per_model)} model(s): "
                         "at least two are needed"})
            continue
        result = compare_models(per_model, alpha=alpha)
        df = result["df"]
        rows.append({**row, "models": ", ".join(result["models"]), "test": result["test"],
                     "statistic": result["statistic"],
                     "df": ", ".join(f"{d:.3g}" for d in df) if isinstance(df, list) else df,
                     "p_value": result["p_value"], "n": result["n"], "dropped": result["dropped"],
                     "differ": {True: "yes", False: "no", None: "unknown"}[result["differ"]],
                     "reason": result["reason"], "assumptions": _assumption_text(result["assumptions"])})
    return pd.DataFrame(rows, columns=list(MODEL_TEST_COLUMNS))


def write_model_tests(score_jsons, out_csv, out_tex, **kwargs) -> pd.DataFrame:
    frame = model_tests_frame(score_jsons, **kwargs)
    display = frame.copy()
    for col in ("statistic", "p_value"):
        display[col] = [f"{v:.3g}" if v is not None and not pd.isna(v) else "n/a" for v in frame[col]]
    write_table_pair(frame, display.drop(columns=["assumptions"]), out_csv, out_tex)
    return frame
