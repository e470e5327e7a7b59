"""The recommendation matrix: use case -> the best model, with the numbers that decide it.

Use cases come from config (``report.use_cases``: name -> ``{question, measure, direction}``). For each, the
headline rows of that question and measure are ranked by ``direction``; the best model is reported with its
value, CI, n and failures, the runner-up likewise, and whether their confidence intervals overlap (overlapping
CIs: the lead is not clear). A use case whose question did not run, or whose measure has no value, says so.
"""
from __future__ import annotations

import os
from typing import Mapping, Sequence

import pandas as pd

from qvedbench.report.headline import read_headlines
from qvedbench.report.master import fmt_value, write_table_pair

DIRECTIONS = ("higher", "lower")
RECOMMENDATION_COLUMNS = ("use_case", "question", "measure", "direction", "status", "best_model", "value", "ci_low",
                          "ci_high", "n", "failed", "detail", "runner_up", "runner_up_value", "runner_up_ci_low",
                          "runner_up_ci_high", "ci_overlap", "models_compared", "models_without_value", "verdict")


def _has_ci(row) -> bool:
    return row is not None and not pd.isna(row.ci_low) and not pd.isna(row.ci_high)


def _overlap(best, second) -> str:
    if second is None:
        return "no runner-up"
    if not (_has_ci(best) and _has_ci(second)):
        return "unknown (no CI)"
    return "yes" if best.ci_low <= second.ci_high and second.ci_low <= best.ci_high else "no"


def recommend(headlines: pd.DataFrame, use_cases: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per use case (in config order); see :data:`RECOMMENDATION_COLUMNS`."""
    rows = []
    for name, case in use_cases.items():
        for key in ("question", "measure", "direction"):
            if key not in case:
                raise ValueError(f"report.use_cases.{name}: field '{key}' is required")
        if case["direction"] not in DIRECTIONS:
            raise ValueError(f"report.use_cases.{name}: field 'direction' must be one of {', '.join(DIRECTIONS)}, "
                             f"got {case['direction']!r}")
        row = {"use_case": name, "question": case["question"], "measure": case["measure"],
               "direction": case["direction"]}
        of_question = headlines[headlines["question"] == case["question"]]
        chosen = of_question[of_question["measure"] == case["measure"]]
        valid = chosen[chosen["value"].notna()]
        missing = chosen[chosen["value"].isna()]
        row["models_without_value"] = "; ".join(f"{r.model} ({r.note})" for r in missing.itertuples(index=False))
        if of_question.empty:
            rows.append({**row, "status": "not run",
                         "verdict": f"question {case['question']} did not run: no recommendation"})
            continue
        if valid.empty:
            why = "not measured" if chosen.empty else "no model has a value"
            rows.append({**row, "status": "no value",
                         "verdict": f"{case['measure']} of {case['question']}: {why}; no recommendation"})
            continue
        ranked = valid.sort_values(["value", "model"], ascending=[case["direction"] == "lower", True])
        ranked = list(ranked.itertuples(index=False))
        best, second = ranked[0], (ranked[1] if len(ranked) > 1 else None)
        overlap = _overlap(best, second)
        row.update(status="ok", best_model=best.model, value=best.value, ci_low=best.ci_low, ci_high=best.ci_high,
                   n=best.n, failed=best.failed, detail=best.detail, ci_overlap=overlap,
                   models_compared=len(ranked))
        verdict = (f"{best.model}: {case['measure']} "
                   f"{fmt_value(best.value, best.ci_low, best.ci_high, best.n, best.failed)}")
        if second is not None:
            row.update(runner_up=second.model, runner_up_value=second.value, runner_up_ci_low=second.ci_low,
                       runner_up_ci_high=second.ci_high)
            verdict += (f" vs runner-up {second.model} "
                        f"{fmt_value(second.value, second.ci_low, second.ci_high, second.n, second.failed)}")
            verdict += {"yes": "; the CIs overlap, so the lead is not clear",
                        "no": "; the CIs do not overlap"}.get(overlap, "; no CI to compare")
        else:
            verdict += "; the only model with a value"
        rows.append({**row, "verdict": verdict})
    return pd.DataFrame(rows, columns=list(RECOMMENDATION_COLUMNS))


def recommendation_display(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[["use_case", "question", "measure", "direction", "status", "best_model", "ci_overlap", "verdict"]]


def write_recommendations(headline_paths: Sequence[str | os.PathLike], use_cases: Mapping[str, Mapping],
                          out_csv, out_tex) -> pd.DataFrame:
    frame = recommend(read_headlines(headline_paths), use_cases)
    write_table_pair(frame, recommendation_display(frame).fillna(""), out_csv, out_tex)
    return frame
