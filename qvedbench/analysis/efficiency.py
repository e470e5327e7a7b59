"""RQ3.1.1 (latency and memory per model) and RQ3.1.2 (batch scaling) from profiler JSONs.

Reads the files :mod:`qvedbench.profile` writes (``results/profile/{model}/{config}.json``); never imports
torch. Latencies are reported in milliseconds, memory in MB (2**20 bytes). Each per-sample mean latency comes
with a percentile-bootstrap CI over the measured iterations; an out-of-memory profile is shown as such, its
numbers are never filled in.

Memory-bound vs compute-bound (RQ3.1.2): the slope of log(throughput) against log(batch size) over the batch
sizes that ran. A slope near 1 means a bigger batch costs almost no extra time per call: at small batches the
device waits on memory traffic (reading the weights once per step), so batching pays (*memory-bound*). A slope
near 0 means throughput does not grow: the arithmetic already saturates the device (*compute-bound*). The
classification is ``memory-bound`` when the slope is at least ``threshold`` (default 0.5: throughput grows at
least as the square root of the batch), ``compute-bound`` otherwise, ``undetermined`` with fewer than two batch
sizes that ran.
"""
from __future__ import annotations

import os
from typing import Iterable

import numpy as np
import pandas as pd

from qvedbench.report.markdown import files_lines
from qvedbench.io import RecordError, read_json, write_text
from qvedbench.report.style import figure_style, model_colour, new_figure, save_figure
from qvedbench.stats import bootstrap_ci

MS = 1000.0
STAGES = ("decode_video", "preprocess", "prefill", "decode_per_token", "postprocess", "ttft", "e2e")
STAGE_LABELS = {"decode_video": "video decoding", "preprocess": "preprocessing", "prefill": "prefill",
                "decode": "decoding", "decode_per_token": "decode per token", "postprocess": "detokenising",
                "ttft": "time to first token", "e2e": "end to end"}
_REQUIRED = ("model", "status", "settings", "stages", "throughput", "memory", "per_iteration")
DEFAULT_BOUND_THRESHOLD = 0.5


def load_profiles(paths: Iterable[str | os.PathLike | dict]) -> list[dict]:
    """Read profiler JSONs (dicts pass through); a missing field raises :class:`RecordError` naming it."""
    profiles = []
    for item in paths:
        profile = item if isinstance(item, dict) else read_json(item)
        source = "<dict>" if isinstance(item, dict) else str(item)
        for field in _REQUIRED:
            if field not in profile:
                raise RecordError(source, None, field, "missing from the profile")
        profiles.append(profile)
    return profiles


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """A table this module wrote as CSV (missing values become NaN)."""
    return pd.read_csv(path)


def _ms(value) -> float | None:
    return None if value is None else value * MS


def per_sample_latency_ci(profile: dict, *, n_boot: int = 1000, ci: float = 0.95, seed: int = 0) -> dict:
    """Bootstrap CI (ms) of the mean end-to-end latency per sample over the profile's measured iterations."""
    values = [_ms(it["e2e_per_sample"]) for it in profile["per_iteration"]]
    return bootstrap_ci(values, n_boot=n_boot, ci=ci, seed=seed)


# -- RQ3.1.1 -----------------------------------------------------------------------------------------------------


def latency_frame(profiles: Iterable[dict], *, seed: int = 0) -> pd.DataFrame:
    """One row per model: each stage's mean/std/p50/p95/p99 in ms, the per-sample latency with its CI,
    throughput and the dominant stage."""
    rows = []
    for p in profiles:
        row = {"model": p["model"], "status": p["status"], "batch_size": p["settings"]["batch_size"],
               "iterations": p.get("iterations", len(p["per_iteration"])), "samples": p.get("samples")}
        for stage in STAGES:
            stats = p["stages"].get(stage) or {}
            for key in ("mean", "std", "p50", "p95", "p99"):
                row[f"{stage}_{key}_ms"] = _ms(stats.get(key))
        ci = per_sample_latency_ci(p, seed=seed)
        row.update(per_sample_ms=ci["mean"], per_sample_ci_low_ms=ci["ci_low"], per_sample_ci_high_ms=ci["ci_high"])
        row.update(tokens_per_s=p["throughput"].get("tokens_per_s"), frames_per_s=p["throughput"].get("frames_per_s"),
                   samples_per_s=p["throughput"].get("samples_per_s"), dominant_stage=p.get("dominant_stage"),
                   timing_method=p.get("timing_method"))
        rows.append(row)
    return pd.DataFrame(rows).sort_values("model", kind="stable").reset_index(drop=True)


def memory_frame(profiles: Iterable[dict]) -> pd.DataFrame:
    """One row per model: peak memory (CUDA reserved on a GPU, process RSS on the CPU), CUDA peaks, model
    size in memory and on disk."""
    rows = []
    for p in profiles:
        mem, size = p["memory"], p.get("model_size") or {}
        to_mb = lambda b: None if b is None else b / 2**20  # noqa: E731
        rows.append({"model": p["model"], "status": p["status"], "peak_mb": mem.get("peak_mb"),
                     "peak_kind": mem.get("peak_kind"), "process_peak_mb": mem.get("probe_peak_mb"),
                     "cuda_peak_allocated_mb": mem.get("cuda_peak_allocated_mb"),
                     "cuda_peak_reserved_mb": mem.get("cuda_peak_reserved_mb"),
                     "parameters": size.get("parameters"), "model_memory_mb": to_mb(size.get("memory_bytes")),
                     "model_disk_mb": to_mb(size.get("disk_bytes"))})
    return pd.DataFrame(rows).sort_values("model", kind="stable").reset_index(drop=True)


def write_table(frame: pd.DataFrame, out_csv: str | os.PathLike, out_tex: str | os.PathLike,
                digits: int = 3) -> None:
    """The frame as CSV (full precision) and as LaTeX (rounded, escaped, ``n/a`` for missing)."""
    write_text(out_csv, frame.to_csv(index=False))
    display = frame.copy()
    for column in display.columns:
        if pd.api.types.is_float_dtype(display[column]):
            display[column] = [("n/a" if pd.isna(v) else f"{v:.{digits}g}") for v in display[column]]
    write_text(out_tex, display.to_latex(index=False, escape=True, na_rep="n/a"))


def fastest_and_leanest(profiles: Iterable[dict]) -> dict:
    """``{"fastest": (model, mean per-sample ms), "leanest": (model, peak MB)}`` among profiles that ran (a
    value is None when no profile ran)."""
    ok = [p for p in profiles if p["status"] == "ok" and p["stages"]["e2e_per_sample"]["mean"] is not None]
    fastest = min(ok, key=lambda p: p["stages"]["e2e_per_sample"]["mean"], default=None)
    lean = [p for p in ok if p["memory"].get("peak_mb") is not None]
    leanest = min(lean, key=lambda p: p["memory"]["peak_mb"], default=None)
    return {"fastest": None if fastest is None else (fastest["model"], _ms(fastest["stages"]["e2e_per_sample"]["mean"])),
            "leanest": None if leanest is None else (leanest["model"], leanest["memory"]["peak_mb"])}


def latency_violin(profiles: Iterable[dict], out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Violin per model of end-to-end latency per sample (ms) over the measured iterations, with the iterations
    as dots and the median as a black bar."""
    profiles = sorted((p for p in profiles if p["per_iteration"]), key=lambda p: p["model"])
    if not profiles:
        raise ValueError("latency violin: no profile has measured iterations")
    with figure_style():
        fig = new_figure(max(3.5, 1.2 * len(profiles) + 1.5), 3.2)
        ax = fig.subplots()
        data = [[_ms(it["e2e_per_sample"]) for it in p["per_iteration"]] for p in profiles]
        # a density needs at least two distinct values; other models show their points and median only
        spread = [i for i, values in enumerate(data) if len(set(values)) > 1]
        if spread:
            parts = ax.violinplot([data[i] for i in spread], positions=[i + 1 for i in spread], showextrema=False)
            for body, i in zip(parts["bodies"], spread):
                body.set_facecolor(model_colour(profiles[i]["model"]))
                body.set_edgecolor("black")
                body.set_alpha(0.6)
        for i, values in enumerate(data, start=1):
            ax.scatter(np.full(len(values), i), values, s=4, color="black", alpha=0.4, zorder=3)
            ax.hlines(np.median(values), i - 0.25, i + 0.25, color="black", linewidth=1.2, zorder=4)
        ax.set_xticks(range(1, len(profiles) + 1), [f"{p['model']}\n(n={len(d)})" for p, d in zip(profiles, data)])
        ax.set_ylabel("end-to-end latency per sample (ms)")
        ax.set_title("Latency distribution (batch size 1)" if all(p["settings"]["batch_size"] == 1 for p in profiles)
                     else "Latency distribution")
        save_figure(fig, out_pdf, out_png)


def memory_timeline_figure(profiles: Iterable[dict], out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Sampled memory over the profiling run, one line per model (process RSS; CUDA allocated dashed)."""
    profiles = sorted(profiles, key=lambda p: p["model"])
    with figure_style():
        fig = new_figure(5.0, 3.2)
        ax = fig.subplots()
        for p in profiles:
            timeline = p["memory"].get("timeline") or []
            if not timeline:
                continue
            t = [row[0] for row in timeline]
            colour = model_colour(p["model"])
            label = p["model"] + (" (out of memory)" if p["status"] == "oom" else "")
            ax.plot(t, [row[1] for row in timeline], color=colour, label=f"{label}: process RSS")
            if any(row[2] is not None for row in timeline):
                ax.plot(t, [row[2] for row in timeline], color=colour, linestyle="--", label=f"{label}: CUDA allocated")
        ax.set_xlabel("time since profiling started (s)")
        ax.set_ylabel("memory (MB)")
        ax.set_title("Memory over the profiling run")
        ax.legend(loc="best")
        save_figure(fig, out_pdf, out_png)


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and np.isnan(value))


def _fmt(value, spec: str = ".1f") -> str:
    return "n/a" if _missing(value) else format(value, spec)


def _int(value) -> str:
    return "none" if _missing(value) else str(int(value))


def rq3_1_1_summary(profiles: list[dict], links: Iterable[str | os.PathLike] = (),
                    relative_to: str | os.PathLike = "results", *, seed: int = 0) -> str:
    """The RQ3.1.1 section of RESULTS_SUMMARY.md."""
    lat, mem = latency_frame(profiles, seed=seed), memory_frame(profiles)
    best = fastest_and_leanest(profiles)
    lines = ["## RQ 3.1.1: Latency and memory per model", ""]
    method = sorted({p.get("timing_method") for p in profiles} - {None})
    lines.append(f"One profiling job per model at batch size 1 after warm-up; timing: {', '.join(method) or 'n/a'}. "
                 "Per-sample latency is the mean over measured iterations with a 95% bootstrap CI; "
                 "p50/p95 are over iterations.")
    lines.append("")
    if best["fastest"]:
        lines.append(f"- Fastest model: **{best['fastest'][0]}** ({best['fastest'][1]:.1f} ms per sample end to end).")
    if best["leanest"]:
        lines.append(f"- Leanest model: **{best['leanest'][0]}** (peak {best['leanest'][1]:.0f} MB).")
    failed = [p["model"] for p in profiles if p["status"] != "ok"]
    lines.append(f"- Profiles that did not complete (out of memory): {len(failed)}"
                 + (f" ({', '.join(failed)})" if failed else "") + ".")
    lines.append("")
    lines.append("| model | status | iterations | per sample, ms [95% CI] | p50 / p95, ms | prefill, ms | "
                 "decode per token, ms | tokens/s | frames/s | dominant stage | peak MB | model MB (memory / disk) |")
    lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (_, r), (_, m) in zip(lat.iterrows(), mem.iterrows()):
        lines.append(
            f"| {r['model']} | {r['status']} | {r['iterations']} | {_fmt(r['per_sample_ms'])} "
            f"[{_fmt(r['per_sample_ci_low_ms'])}, {_fmt(r['per_sample_ci_high_ms'])}] | "
            f"{_fmt(r['e2e_p50_ms'])} / {_fmt(r['e2e_p95_ms'])} | {_fmt(r['prefill_mean_ms'], '.2f')} | "
            f"{_fmt(r['decode_per_token_mean_ms'], '.2f')} | {_fmt(r['tokens_per_s'])} | {_fmt(r['frames_per_s'])} | "
            f"{STAGE_LABELS.get(r['dominant_stage'], 'n/a')} | {_fmt(m['peak_mb'], '.0f')} | "
            f"{_fmt(m['model_memory_mb'], '.1f')} / {_fmt(m['model_disk_mb'], '.1f')} |")
    lines += files_lines(links, relative_to)
    return "\n".join(lines) + "\n"


# -- RQ3.1.2 -----------------------------------------------------------------------------------------------------


def batch_frame(profiles: Iterable[dict], *, seed: int = 0) -> pd.DataFrame:
    """One row per (model, batch size): status, total and per-sample latency (ms, with CI), throughput,
    peak memory and throughput per GB of peak memory. Out-of-memory rows keep their status and have no
    latency or throughput."""
    rows = []
    for p in profiles:
        ok = p["status"] == "ok"
        ci = per_sample_latency_ci(p, seed=seed) if ok else {"mean": None, "ci_low": None, "ci_high": None}
        peak = p["memory"].get("peak_mb")
        samples_per_s = p["throughput"].get("samples_per_s") if ok else None
        rows.append({
            "model": p["model"], "batch_size": p["settings"]["batch_size"], "status": p["status"],
            "iterations": p.get("iterations", len(p["per_iteration"])),
            "total_ms": _ms(p["stages"]["e2e"]["mean"]) if ok else None,
            "per_sample_ms": ci["mean"], "per_sample_ci_low_ms": ci["ci_low"], "per_sample_ci_high_ms": ci["ci_high"],
            "samples_per_s": samples_per_s, "tokens_per_s": p["throughput"].get("tokens_per_s") if ok else None,
            "peak_mb": peak, "peak_kind": p["memory"].get("peak_kind"),
            "samples_per_s_per_gb": (samples_per_s / (peak / 1024)) if ok and samples_per_s and peak else None,
            "error": p.get("error"),
        })
    frame = pd.DataFrame(rows)
    if frame.empty:
        return frame
    if frame.duplicated(["model", "batch_size"]).any():
        raise ValueError("batch profiles: two profiles for the same model and batch size")
    return frame.sort_values(["model", "batch_size"], kind="stable").reset_index(drop=True)


def largest_batch_before_oom(model_rows: pd.DataFrame) -> int | None:
    """The largest batch size that ran with every smaller measured batch size also running (None if the
    smallest already ran out of memory)."""
    largest = None
    for _, row in model_rows.sort_values("batch_size").iterrows():
        if row["status"] != "ok":
            break
        largest = int(row["batch_size"])
    return largest


def scaling_slope(model_rows: pd.DataFrame) -> float | None:
    """Least-squares slope of log(samples/s) on log(batch size) over the batch sizes that ran."""
    ok = model_rows[(model_rows["status"] == "ok") & model_rows["samples_per_s"].notna()]
    if ok["batch_size"].nunique() < 2:
        return None
    slope, _ = np.polyfit(np.log(ok["batch_size"].astype(float)), np.log(ok["samples_per_s"].astype(float)), 1)
    return float(slope)


def classify_bound(model_rows: pd.DataFrame, threshold: float = DEFAULT_BOUND_THRESHOLD) -> str:
    """``memory-bound``, ``compute-bound`` or ``undetermined`` (see the module docstring)."""
    slope = scaling_slope(model_rows)
    if slope is None:
        return "undetermined"
    return "memory-bound" if slope >= threshold else "compute-bound"


def _best(model_rows: pd.DataFrame, column: str) -> int | None:
    ok = model_rows[(model_rows["status"] == "ok") & model_rows[column].notna()]
    if ok.empty:
        return None
    # highest value; among equal values the smallest batch (less memory, lower latency)
    ranked = ok.sort_values([column, "batch_size"], ascending=[False, True], kind="stable")
    return int(ranked.iloc[0]["batch_size"])


def batch_choice_frame(frame: pd.DataFrame, threshold: float = DEFAULT_BOUND_THRESHOLD) -> pd.DataFrame:
    """One row per model: largest batch before out-of-memory, first batch that ran out, the optimal batch
    (highest samples/s) and its numbers, the batch with the most samples/s per GB, the scaling slope and the
    memory-/compute-bound classification."""
    rows = []
    for model, part in frame.groupby("model", sort=True):
        optimal = _best(part, "samples_per_s")
        oom = part[part["status"] != "ok"]["batch_size"]
        chosen = part[part["batch_size"] == optimal].iloc[0] if optimal is not None else None
        slope = scaling_slope(part)
        rows.append({
            "model": model, "batch_sizes": len(part), "out_of_memory": int((part["status"] != "ok").sum()),
            "largest_batch_before_oom": largest_batch_before_oom(part),
            "first_oom_batch": int(oom.min()) if len(oom) else None,
            "optimal_batch": optimal,
            "optimal_samples_per_s": None if chosen is None else chosen["samples_per_s"],
            "optimal_per_sample_ms": None if chosen is None else chosen["per_sample_ms"],
            "optimal_peak_mb": None if chosen is None else chosen["peak_mb"],
            "best_per_gb_batch": _best(part, "samples_per_s_per_gb"),
            "scaling_slope": slope,
            "bound": classify_bound(part, threshold),
        })
    return pd.DataFrame(rows)


def batch_figure(frame: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Three panels against batch size (log2): samples/s, per-sample latency (ms, CI bars), peak memory.
    An out-of-memory batch is marked with a cross at the bottom of each panel."""
    if frame.empty:
        raise ValueError("batch figure: no profiles")
    panels = (("samples_per_s", "throughput (samples/s)"), ("per_sample_ms", "latency per sample (ms)"),
              ("peak_mb", "peak memory (MB)"))
    with figure_style():
        fig = new_figure(9.0, 3.2)
        axes = fig.subplots(1, 3)
        for ax, (column, label) in zip(axes, panels):
            for model, part in frame.groupby("model", sort=True):
                colour = model_colour(model)
                ok = part[(part["status"] == "ok") & part[column].notna()]
                if column == "per_sample_ms":
                    err = np.array([ok["per_sample_ms"] - ok["per_sample_ci_low_ms"],
                                    ok["per_sample_ci_high_ms"] - ok["per_sample_ms"]], dtype=float)
                    ax.errorbar(ok["batch_size"], ok[column], yerr=err, color=colour, marker="o", capsize=2,
                                label=model)
                else:
                    ax.plot(ok["batch_size"], ok[column], color=colour, marker="o", label=model)
                oom = part[part["status"] != "ok"]
                if len(oom):
                    ax.scatter(oom["batch_size"], np.zeros(len(oom)), marker="x", color=colour, s=40, zorder=4,
                               clip_on=False, label=f"{model}: out of memory")
            ax.set_xscale("log", base=2)
            sizes = sorted(frame["batch_size"].unique())
            ax.set_xticks(sizes, [str(int(s)) for s in sizes])
            ax.set_xlabel("batch size")
            ax.set_ylabel(label)
            ax.set_ylim(bottom=0)
        axes[0].legend(loc="best")
        save_figure(fig, out_pdf, out_png)


def rq3_1_2_summary(frame: pd.DataFrame, choices: pd.DataFrame, links: Iterable[str | os.PathLike] = (),
                    relative_to: str | os.PathLike = "results",
                    threshold: float = DEFAULT_BOUND_THRESHOLD) -> str:
    """The RQ3.1.2 section of RESULTS_SUMMARY.md."""
    lines = ["## RQ 3.1.2: Batch-size scaling", ""]
    lines.append("One profiling job per (model, batch size). Optimal batch = highest samples/s (ties: the smaller "
                 "batch). Classification from the log-log slope of throughput against batch size: "
                 f"memory-bound when the slope is at least {threshold}, compute-bound below. "
                 "Out-of-memory runs are recorded results, never filled in.")
    lines.append("")
    for _, c in choices.iterrows():
        finding = f"- **{c['model']}**: "
        if _missing(c["optimal_batch"]):
            finding += "no batch size ran"
        else:
            finding += (f"optimal batch {_int(c['optimal_batch'])} ({_fmt(c['optimal_samples_per_s'], '.2f')} "
                        f"samples/s, {_fmt(c['optimal_per_sample_ms'])} ms per sample, peak "
                        f"{_fmt(c['optimal_peak_mb'], '.0f')} MB); most samples/s per GB at batch "
                        f"{_int(c['best_per_gb_batch'])}")
        if c["out_of_memory"]:
            finding += (f"; out of memory in {int(c['out_of_memory'])} of {int(c['batch_sizes'])} batch sizes, "
                        f"from batch {_int(c['first_oom_batch'])}; largest batch before that "
                        f"{_int(c['largest_batch_before_oom'])}")
        else:
            finding += f"; no out-of-memory up to batch {_int(c['largest_batch_before_oom'])}"
        finding += f"; {c['bound']} (slope {_fmt(c['scaling_slope'], '.2f')})."
        lines.append(finding)
    lines.append("")
    lines.append("| model | batch | status | total, ms | per sample, ms [95% CI] | samples/s | tokens/s | peak MB | "
                 "samples/s per GB |")
    lines.append("|---|---|---|---|---|---|---|---|---|")
    for _, r in frame.iterrows():
        lines.append(f"| {r['model']} | {r['batch_size']} | {r['status']} | {_fmt(r['total_ms'])} | "
                     f"{_fmt(r['per_sample_ms'])} [{_fmt(r['per_sample_ci_low_ms'])}, {_fmt(r['per_sample_ci_high_ms'])}] | "
                     f"{_fmt(r['samples_per_s'], '.2f')} | {_fmt(r['tokens_per_s'])} | {_fmt(r['peak_mb'], '.0f')} | "
                     f"{_fmt(r['samples_per_s_per_gb'], '.2f')} |")
    lines += files_lines(links, relative_to)
    return "\n".join(lines) + "\n"


# -- headline rows (qvedbench.report.headline) ---------------------------------------------------------------


def _num(value) -> float | None:
    return None if value is None or pd.isna(value) else float(value)


def rq3_1_1_headline(latency: pd.DataFrame, memory: pd.DataFrame) -> list[dict]:
    """Per model: mean per-sample latency (ms, CI over iterations) and peak memory (MB); a profile that did not
    run (e.g. out of memory) gives an empty value with its status as the note."""
    rows = []
    for r in latency.itertuples(index=False):
        row = {"question": "rq3_1_1", "model": r.model, "measure": "latency_per_sample_ms", "better": "lower",
               "detail": f"batch {r.batch_size}, {r.timing_method or 'timing n/a'}"}
        if r.status == "ok" and _num(r.per_sample_ms) is not None:
            rows.append({**row, "value": r.per_sample_ms, "ci_low": _num(r.per_sample_ci_low_ms),
                         "ci_high": _num(r.per_sample_ci_high_ms), "n": r.iterations, "failed": 0})
        else:
            rows.append({**row, "note": f"profile status {r.status}"})
    for r in memory.itertuples(index=False):
        row = {"question": "rq3_1_1", "model": r.model, "measure": "peak_memory_mb", "better": "lower",
               "detail": f"{r.peak_kind or 'peak'}"}
        value = _num(r.peak_mb)
        rows.append({**row, "value": value} if value is not None else {**row, "note": f"profile status {r.status}"})
    return rows


def rq3_1_2_headline(choices: pd.DataFrame) -> list[dict]:
    """Per model: the highest throughput over the batch sizes (samples/s, at the optimal batch) and the
    largest batch before out-of-memory."""
    rows = []
    for r in choices.itertuples(index=False):
        base = {"question": "rq3_1_2", "model": r.model}
        value = _num(r.optimal_samples_per_s)
        row = {**base, "measure": "max_throughput_samples_per_s", "better": "higher",
               "detail": "" if r.optimal_batch is None or pd.isna(r.optimal_batch) else f"batch {int(r.optimal_batch)}"}
        rows.append({**row, "value": value} if value is not None else {**row, "note": "no batch size ran"})
        largest = _num(r.largest_batch_before_oom)
        row = {**base, "measure": "largest_batch_before_oom", "better": "none",
               "detail": f"{r.out_of_memory} of {r.batch_sizes} batch sizes ran out of memory; {r.bound}"}
        rows.append({**row, "value": largest} if largest is not None else
                    {**row, "note": "the smallest batch size already ran out of memory"})
    return rows
