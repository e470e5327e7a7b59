"""RQ3.2.2: precision and quantization sweep: accuracy, size and latency per level, compression, resilience and
the maximum compression before the accuracy headroom is exhausted. No torch here.

Inputs per (model, level): the level job's result (``results/quantize/{model}/{run}/{level}.json``, written by
:func:`qvedbench.quantize.run_level`) and the normal scores of its predictions (``results/scores/{model}/{run}/
clean@{level}.json`` and ``.jsonl``).

- *Size* is the model's parameter and buffer bytes in memory (int8 tensors count their int8 data and scales);
  the bytes on disk of the saved state dict are reported beside it.
- *Compression ratio* = fp32 size in memory / the level's size in memory (1.0 for fp32 and tf32).
- *Accuracy change* = level - fp32 exercise-ID accuracy in percentage points, with a paired bootstrap CI over
  the clips scored at both levels (:func:`qvedbench.stats.paired_bootstrap_diff`).
- *Resilience score* = accuracy drop (fp32 - level, percentage points) / compression ratio: the accuracy lost
  per unit of compression. Lower is more resilient; negative when the level scores higher than fp32.
- *Maximum compression before the headroom is exhausted*: the largest compression ratio among the levels that
  ran and whose every thresholded metric (``questions.rq3_2_1.thresholds``) is at or above its minimum (point
  estimate, :func:`qvedbench.analysis.headroom.headroom`); ties go to the more accurate level. None when fp32
  itself is below a minimum (no headroom to spend) or no level qualifies.

A level the device cannot run is a ``not_applicable`` row with its reason, never a failure; a missing score is
reported as missing, never filled in.
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from qvedbench.report.markdown import files_lines
from qvedbench.analysis.efficiency import write_table  # noqa: F401 - the tables' writer, shared with RQ3.1
from qvedbench.analysis.headroom import check_thresholds, headroom
from qvedbench.io import RecordError, read_json, read_jsonl
from qvedbench.report.style import REFERENCE_COLOUR, figure_style, model_colour, new_figure, save_figure
from qvedbench.stats import paired_bootstrap_diff

MB = 2**20
REFERENCE = "fp32"
ACCURACY = "exercise_accuracy"
NOT_APPLICABLE = "not_applicable"
LEVEL_COLUMNS = ["model", "level", "status", "reason", "method", "accuracy", "accuracy_ci_low", "accuracy_ci_high",
                 "n", "failed", "memory_mb", "disk_mb", "compression_ratio", "disk_compression_ratio",
                 "latency_p50_ms", "latency_p95_ms", "latency_n", "peak_memory_mb", "meets_thresholds"]
RESILIENCE_COLUMNS = ["model", "level", "compression_ratio", "accuracy_change_pp", "change_ci_low_pp",
                      "change_ci_high_pp", "n_paired", "failed_paired", "p_value", "accuracy_drop_pp",
                      "resilience_score", "meets_thresholds", "max_compression"]
_RESULT_KEYS = ("model", "level", "status")


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    value = float(value)
    return None if math.isnan(value) else value


# -- loading -----------------------------------------------------------------------------------------------------


def load_entry(result_path: str | os.PathLike, scores_path: str | os.PathLike,
               per_sample_path: str | os.PathLike) -> dict:
    """One (model, level): ``{"result", "scores", "samples"}`` read and checked (bad input names file and field)."""
    result = read_json(result_path)
    if not isinstance(result, dict):
        raise RecordError(result_path, None, None, "a level result must hold a JSON object")
    for key in _RESULT_KEYS:
        if key not in result:
            raise RecordError(result_path, None, key, "missing from the level result")
    if result["status"] == "ok":
        for key in ("size", "profile"):
            if not isinstance(result.get(key), dict):
                raise RecordError(result_path, None, key, "missing from a level that ran")
    scores = read_json(scores_path)
    if not isinstance(scores, dict) or not isinstance(scores.get("metrics"), dict):
        raise RecordError(scores_path, None, "metrics", "missing from the scores")
    samples = read_jsonl(per_sample_path)
    for i, row in enumerate(samples):
        if not isinstance(row, dict) or "id" not in row:
            raise RecordError(per_sample_path, i, "id", "missing from a per-sample score row")
    return {"result": result, "scores": scores, "samples": samples}


# -- tables ------------------------------------------------------------------------------------------------------


def _metric(scores: dict, name: str) -> dict:
    return scores.get("metrics", {}).get(name) or {}


def _meets(scores: dict, thresholds: Mapping[str, float]) -> bool:
    """Every thresholded metric scored and at or above its minimum (point estimate)."""
    for metric, minimum in thresholds.items():
        value = _metric(scores, metric).get("mean")
        if headroom(value, minimum)["status"] in ("missing", "below"):
            return False
    return True


def _level_row(entry: dict, thresholds: Mapping[str, float]) -> dict:
    result, scores = entry["result"], entry["scores"]
    row = {"model": result["model"], "level": result["level"], "status": result["status"],
           "reason": result.get("reason") or "", "method": result.get("method", "")}
    if result["status"] != "ok":
        return row
    accuracy = _metric(scores, ACCURACY)
    stage = result["profile"].get("stages", {}).get("e2e_per_sample", {})
    size = result["size"]
    to_ms = (lambda v: None if _number(v) is None else 1000 * v)
    row.update(accuracy=_number(accuracy.get("mean")), accuracy_ci_low=_number(accuracy.get("ci_low")),
               accuracy_ci_high=_number(accuracy.get("ci_high")), n=accuracy.get("n"),
               failed=accuracy.get("failures"), memory_mb=size["memory_bytes"] / MB,
               disk_mb=size["state_dict_bytes"] / MB, latency_p50_ms=to_ms(stage.get("p50")),
               latency_p95_ms=to_ms(stage.get("p95")), latency_n=stage.get("n"),
               peak_memory_mb=_number(result["profile"].get("memory", {}).get("peak_mb")),
               meets_thresholds=_meets(scores, thresholds))
    for metric in thresholds:
        if metric != ACCURACY:
            row[metric] = _number(_metric(scores, metric).get("mean"))
    return row


def levels_frame(entries: Iterable[dict], thresholds: Mapping[str, float],
                 levels: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per (model, level) in ``levels`` order: status and reason, accuracy with CI, n and failed, the
    other thresholded metrics, size, compression ratios against the model's fp32 row, latency p50/p95, peak
    memory and whether every threshold is met. Not-applicable rows keep their reason and no numbers."""
    thresholds = check_thresholds(thresholds)
    entries = list(entries)
    seen = set()
    for entry in entries:
        key = (entry["result"]["model"], entry["result"]["level"])
        if key in seen:
            raise ValueError(f"precision: two results for model '{key[0]}' at level '{key[1]}'")
        seen.add(key)
    extra = [m for m in thresholds if m != ACCURACY]
    frame = pd.DataFrame([_level_row(e, thresholds) for e in entries],
                         columns=LEVEL_COLUMNS[:10] + extra + LEVEL_COLUMNS[10:])
    for column in ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "n", "failed", "memory_mb", "disk_mb",
                   "latency_p50_ms", "latency_p95_ms", "latency_n", "peak_memory_mb", *extra):
        frame[column] = pd.to_numeric(frame[column])
    reference = frame[(frame["level"] == REFERENCE) & (frame["status"] == "ok")].set_index("model")
    frame["compression_ratio"] = [reference["memory_mb"].get(m, np.nan) / v for m, v in
                                  zip(frame["model"], frame["memory_mb"])]
    frame["disk_compression_ratio"] = [reference["disk_mb"].get(m, np.nan) / v for m, v in
                                       zip(frame["model"], frame["disk_mb"])]
    order = {level: i for i, level in enumerate(levels or dict.fromkeys(frame["level"]))}
    frame["_order"] = frame["level"].map(lambda level: order.get(level, len(order)))
    return frame.sort_values(["model", "_order"], kind="stable").drop(columns="_order").reset_index(drop=True)


def max_compression(levels: pd.DataFrame) -> dict[str, dict]:
    """Per model: ``{"level", "ratio", "note"}`` of the maximum compression before the headroom is exhausted
    (see the module docstring); ``level``/``ratio`` are None with the reason in ``note`` when there is none."""
    out = {}
    for model, part in levels.groupby("model", sort=True):
        ran = part[part["status"] == "ok"]
        fp32 = ran[ran["level"] == REFERENCE]
        if fp32.empty:
            out[model] = {"level": None, "ratio": None, "note": "no fp32 result to compare with"}
            continue
        if not bool(fp32["meets_thresholds"].iloc[0]):
            out[model] = {"level": None, "ratio": None,
                          "note": "fp32 itself is below a minimum (or a thresholded metric is unscored)"}
            continue
        ok = ran[ran["meets_thresholds"].astype(bool) & ran["compression_ratio"].notna()]
        best = ok.sort_values(["compression_ratio", "accuracy"], ascending=[False, False], kind="stable").iloc[0]
        out[model] = {"level": best["level"], "ratio": float(best["compression_ratio"]), "note": ""}
    return out


def _per_sample(entry: dict) -> dict:
    return {row["id"]: row.get("exercise_correct") for row in entry["samples"]}


def resilience_frame(entries: Iterable[dict], levels: pd.DataFrame, *, n_boot: int = 1000, ci: float = 0.95,
                     seed: int = 0) -> pd.DataFrame:
    """Per (model, level that ran): compression ratio, accuracy change vs fp32 in percentage points with the
    paired bootstrap CI, n paired and failed, one-sided p-value (level above fp32), accuracy drop, resilience
    score, whether the thresholds are met and whether it is the model's maximum compression."""
    by_key = {(e["result"]["model"], e["result"]["level"]): e for e in entries}
    best = max_compression(levels)
    rows = []
    for _, r in levels[levels["status"] == "ok"].iterrows():
        reference = by_key.get((r["model"], REFERENCE))
        ok_reference = reference is not None and reference["result"]["status"] == "ok"
        diff = (paired_bootstrap_diff(_per_sample(by_key[(r["model"], r["level"])]), _per_sample(reference),
                                      n_boot=n_boot, ci=ci, seed=seed) if ok_reference else {})
        pp = (lambda v: None if _number(v) is None else 100 * v)
        change = pp(diff.get("diff"))
        ratio = _number(r["compression_ratio"])
        drop = None if change is None else 0.0 - change
        rows.append({"model": r["model"], "level": r["level"], "compression_ratio": ratio,
                     "accuracy_change_pp": change, "change_ci_low_pp": pp(diff.get("ci_low")),
                     "change_ci_high_pp": pp(diff.get("ci_high")), "n_paired": diff.get("n"),
                     "failed_paired": diff.get("failures"), "p_value": diff.get("p_value"),
                     "accuracy_drop_pp": drop,
                     "resilience_score": None if drop is None or not ratio else drop / ratio,
                     "meets_thresholds": bool(r["meets_thresholds"]),
                     "max_compression": best.get(r["model"], {}).get("level") == r["level"]})
    frame = pd.DataFrame(rows, columns=RESILIENCE_COLUMNS)
    for column in RESILIENCE_COLUMNS[2:11]:
        frame[column] = pd.to_numeric(frame[column])
    return frame


# -- figures -----------------------------------------------------------------------------------------------------


def accuracy_vs_compression_figure(levels: pd.DataFrame, thresholds: Mapping[str, float],
                                   out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Exercise-ID accuracy (95% CI) against compression ratio, one line per model through its levels (labelled),
    with the accuracy minimum as a dashed line. Levels that did not run are left out (see the levels table)."""
    ran = levels[(levels["status"] == "ok") & levels["accuracy"].notna() & levels["compression_ratio"].notna()]
    if ran.empty:
        raise ValueError("accuracy vs compression: no level with an accuracy and a compression ratio")
    with figure_style():
        fig = new_figure(5.0, 3.4)
        ax = fig.subplots()
        for model, part in ran.groupby("model", sort=True):
            part = part.sort_values("compression_ratio", kind="stable")
            colour = model_colour(model)
            err = np.array([part["accuracy"] - part["accuracy_ci_low"], part["accuracy_ci_high"] - part["accuracy"]])
            ax.errorbar(part["compression_ratio"], part["accuracy"], yerr=np.nan_to_num(err), color=colour,
                        marker="o", capsize=3, linewidth=1, label=model)
            for _, r in part.iterrows():
                ax.annotate(r["level"], (r["compression_ratio"], r["accuracy"]), textcoords="offset points",
                            xytext=(4, 4), fontsize=7, color=colour)
        if ACCURACY in thresholds:
            ax.axhline(thresholds[ACCURACY], color=REFERENCE_COLOUR, linestyle="--", linewidth=1,
                       label=f"minimum {thresholds[ACCURACY]:g}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("Compression ratio vs fp32 (model bytes in memory, log scale)")
        ax.set_ylabel("Exercise-ID accuracy (95% CI)")
        ax.set_ylim(0, 1.05)
        ax.legend(frameon=False, loc="lower left")
        save_figure(fig, out_pdf, out_png)


def latency_by_level_figure(levels: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Grouped bars: p50 end-to-end latency per clip (ms) per level and model; ``n/a`` where a level did not run."""
    if levels.empty:
        raise ValueError("latency by level: no rows")
    level_order = list(dict.fromkeys(levels["level"]))
    models = sorted(set(levels["model"]))
    width = 0.8 / len(models)
    with figure_style():
        fig = new_figure(max(4.0, 0.9 * len(level_order) + 1.5), 3.2)
        ax = fig.subplots()
        for j, model in enumerate(models):
            part = levels[levels["model"] == model].set_index("level")
            label = model  # on the model's first bar only
            for i, level in enumerate(level_order):
                x = i - 0.4 + width * (j + 0.5)
                value = _number(part["latency_p50_ms"].get(level)) if level in part.index else None
                if value is None:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=6, rotation=90)
                    continue
                ax.bar(x, value, width=width, color=model_colour(model), edgecolor="black", linewidth=0.4,
                       label=label)
                label = None
        ax.legend(frameon=False)
        ax.set_xticks(range(len(level_order)), level_order, rotation=30, ha="right", rotation_mode="anchor")
        ax.set_ylabel("Latency per clip, p50 (ms)")
        save_figure(fig, out_pdf, out_png)


# -- summary and headline ----------------------------------------------------------------------------------------


def _fmt(value, spec: str = ".3f") -> str:
    value = _number(value)
    return "n/a" if value is None else format(value, spec)


def _int(value) -> str:
    value = _number(value)
    return "n/a" if value is None else str(int(value))


def summary_section(levels: pd.DataFrame, resilience: pd.DataFrame, thresholds: Mapping[str, float],
                    links: Iterable[str | os.PathLike] = (), relative_to: str | os.PathLike = "results",
                    ci: float = 0.95) -> str:
    """The RQ3.2.2 section of RESULTS_SUMMARY.md."""
    limits = ", ".join(f"{m} >= {v:g}" for m, v in thresholds.items())
    lines = ["## RQ 3.2.2: Precision and quantization", ""]
    lines.append("One job per (model, level): the test set generated and scored at that level, latency profiled "
                 "(p50 end-to-end per clip), size = parameter and buffer bytes in memory. Compression ratio = fp32 "
                 "size / level size. Resilience score = accuracy drop (fp32 - level, percentage points) / "
                 "compression ratio (lower is more resilient). Accuracy changes use a paired bootstrap "
                 f"{100 * ci:g}% CI over clips scored at both levels. Minimums (RQ3.2.1): {limits}.")
    lines.append("")
    for model, best in max_compression(levels).items():
        if best["level"] is None:
            lines.append(f"- **{model}**: maximum compression before the headroom is exhausted: none ({best['note']}).")
        else:
            lines.append(f"- **{model}**: maximum compression before the headroom is exhausted: "
                         f"**{best['ratio']:.2f}x** ({best['level']}).")
    na = levels[levels["status"] == NOT_APPLICABLE]
    for _, r in na.iterrows():
        lines.append(f"- {r['model']} {r['level']}: not applicable: {r['reason']}")
    lines += ["", "| model | level | accuracy [CI] | n | failed | size MB | ratio | p50 ms | change pp [CI] | "
                  "resilience | meets minimums |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    res = resilience.set_index(["model", "level"])
    for _, r in levels.iterrows():
        if r["status"] != "ok":
            lines.append(f"| {r['model']} | {r['level']} | {r['status']} | | | | | | | | |")
            continue
        acc = (f"{_fmt(r['accuracy'])} [{_fmt(r['accuracy_ci_low'])}, {_fmt(r['accuracy_ci_high'])}]"
               if _number(r["accuracy"]) is not None else "n/a")
        x = res.loc[(r["model"], r["level"])] if (r["model"], r["level"]) in res.index else None
        change = ("n/a" if x is None or _number(x["accuracy_change_pp"]) is None else
                  f"{x['accuracy_change_pp']:+.1f} [{_fmt(x['change_ci_low_pp'], '+.1f')}, "
                  f"{_fmt(x['change_ci_high_pp'], '+.1f')}]")
        score = "n/a" if x is None else _fmt(x["resilience_score"], "+.2f")
        lines.append(f"| {r['model']} | {r['level']} | {acc} | {_int(r['n'])} | {_int(r['failed'])} | "
                     f"{_fmt(r['memory_mb'], '.2f')} | {_fmt(r['compression_ratio'], '.2f')} | "
                     f"{_fmt(r['latency_p50_ms'], '.1f')} | {change} | {score} | "
                     f"{'yes' if r['meets_thresholds'] else 'no'} |")
    lines += files_lines(links, relative_to)
    return "\n".join(lines) + "\n"


def headline_rows(levels: pd.DataFrame, resilience: pd.DataFrame, question: str = "rq3_2_2") -> list[dict]:
    """Per model: ``max_compression_ratio`` (the level in ``detail``) and, per level other than fp32 that ran,
    ``accuracy_change_pp_<level>`` with its paired CI."""
    rows = []
    for model, best in max_compression(levels).items():
        rows.append({"question": question, "model": model, "measure": "max_compression_ratio",
                     "value": best["ratio"], "better": "higher",
                     "detail": f"level {best['level']}" if best["level"] else "", "note": best["note"]})
    for _, r in resilience[resilience["level"] != REFERENCE].iterrows():
        value = _number(r["accuracy_change_pp"])
        rows.append({"question": question, "model": r["model"], "measure": f"accuracy_change_pp_{r['level']}",
                     "value": value, "ci_low": _number(r["change_ci_low_pp"]),
                     "ci_high": _number(r["change_ci_high_pp"]), "n": _number(r["n_paired"]),
                     "failed": _number(r["failed_paired"]), "better": "higher",
                     "detail": f"vs fp32; compression {_fmt(r['compression_ratio'], '.2f')}x",
                     "note": "" if value is not None else "no clip scored at both levels"})
    return rows


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table written by :func:`write_table` (missing numbers NaN, missing text empty)."""
    frame = pd.read_csv(path)
    for column in ("reason", "method"):
        if column in frame:
            frame[column] = frame[column].fillna("").astype(str)
    return frame
