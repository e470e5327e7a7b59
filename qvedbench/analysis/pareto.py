"""RQ3.1.3: resolution x frames factorial, Pareto frontiers and constrained choice of a configuration.

Inputs: the aggregate score files of the resolution variants ``res<R>_frames<F>`` (accuracy: exercise-ID
accuracy with its bootstrap CI, ``n`` scored clips and ``failed`` clips) and one profiler JSON per (model,
variant) (latency: p50 and p95 of the end-to-end time per clip, in ms; memory: the profile's peak, CUDA
reserved on a GPU, process RSS on the CPU, in MB). Never imports torch.

A family whose vision encoder takes one fixed size resizes every frame to it; its profile says so
(``input_size``: requested and effective side, ``fixed``, ``note``) and the note travels into the tables, the
heatmaps and the summary, so differences across resolutions of such a model are read as what they are (video
decoding and noise), not as a resolution effect. A configuration a family cannot take (e.g. a frame count that
is not a multiple of Mobile-VideoGPT's chunk of 8) is a recorded failure with its reason.

Pareto frontier (accuracy up, cost down) over every (model, configuration) with both numbers: a point is
dominated when another is at least as accurate and at most as costly and strictly better in one of the two;
identical points do not dominate each other (both stay on the frontier).

Recommendations: for each scenario (``questions.rq3_1_3.scenarios``) a binary integer program picks exactly
one candidate: ``x_i in {0, 1}``, ``sum x_i = 1``, ``sum x_i * latency_i <= max_latency_ms``, ``sum x_i *
memory_i <= max_memory_mb``, ``sum x_i * accuracy_i >= min_accuracy``, objective ``max_accuracy``,
``min_latency``, ``min_memory`` or ``balanced`` (maximise ``w_a * a - w_l * l - w_m * m`` with each quantity
min-max scaled to [0, 1] over the candidates). Solved with PuLP's bundled CBC. Ties are broken by a second
integer program that keeps the optimum and picks the lowest latency, then memory, then name. An infeasible
scenario is reported with its binding constraints: those whose removal alone makes it feasible (all of them
when no single one does).
"""
from __future__ import annotations

import math
import os
from typing import Iterable, Mapping

import numpy as np
import pandas as pd
import pulp

from qvedbench.report.markdown import files_lines
from qvedbench.io import RecordError, read_json
from qvedbench.report.load import load_scores
from qvedbench.report.style import figure_style, model_colour, new_figure, save_figure
from qvedbench.variant_names import parse_resolution_variant

MS = 1000.0
ACCURACY = "exercise_accuracy"
COLUMNS = ["model", "run", "variant", "resolution", "frames", "accuracy", "ci_low", "ci_high", "n", "failed",
           "profile_status", "latency_p50_ms", "latency_p95_ms", "peak_memory_mb", "memory_kind",
           "effective_resolution", "fixed_size", "size_note", "error"]
COSTS = {"latency": ("latency_p50_ms", "p50 latency per clip (ms)"),
         "memory": ("peak_memory_mb", "peak memory (MB)")}
OBJECTIVES = ("max_accuracy", "min_latency", "min_memory", "balanced")
DEFAULT_WEIGHTS = {"accuracy": 1.0, "latency": 0.5, "memory": 0.5}
# scenario key -> (candidate column, sense, label)
CONSTRAINTS = {"max_latency_ms": ("latency_p50_ms", "<=", "p50 latency"),
               "max_memory_mb": ("peak_memory_mb", "<=", "peak memory"),
               "min_accuracy": ("accuracy", ">=", "accuracy")}
RECOMMENDATION_COLUMNS = ["scenario", "objective", "constraints", "status", "model", "variant", "resolution",
                          "frames", "accuracy", "ci_low", "ci_high", "latency_p50_ms", "peak_memory_mb", "candidates",
                          "binding", "size_note"]


def _number(value) -> float | None:
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(value) else value


# -- the factorial table -----------------------------------------------------------------------------------------


def _profile_row(profile: dict, source: str) -> dict:
    for field in ("model", "status", "stages", "memory"):
        if field not in profile:
            raise RecordError(source, None, field, "missing from the profile")
    e2e = (profile["stages"] or {}).get("e2e_per_sample") or {}
    ran = profile["status"] == "ok"
    size = profile.get("input_size") or {}
    return {"profile_status": profile["status"],
            "latency_p50_ms": _number(e2e.get("p50")) * MS if ran and _number(e2e.get("p50")) is not None else None,
            "latency_p95_ms": _number(e2e.get("p95")) * MS if ran and _number(e2e.get("p95")) is not None else None,
            "peak_memory_mb": _number(profile["memory"].get("peak_mb")) if ran else None,
            "memory_kind": profile["memory"].get("peak_kind"),
            "effective_resolution": size.get("effective"), "fixed_size": bool(size.get("fixed", False)),
            "size_note": size.get("note") or "", "error": profile.get("error") or ""}


def factorial_frame(score_jsons: Iterable[str | os.PathLike | dict],
                    profiles: Mapping[str, str | os.PathLike | dict] | Iterable[str | os.PathLike | dict]) -> pd.DataFrame:
    """One row per (model, resolution, frames) from the scores and the profiles of resolution variants.

    ``profiles`` are profiler JSONs (paths or dicts) whose ``config`` is the variant name. Accuracy comes with
    its CI, ``n`` (scored clips) and ``failed``; latency and memory are empty for a profile that did not run
    (``profile_status`` and ``error`` say why). Scores of other variants are ignored; a profile of a
    configuration without scores still gets a row (accuracy empty)."""
    rows: dict[tuple, dict] = {}
    for s in load_scores(score_jsons):
        parsed = parse_resolution_variant(s["variant"])
        if parsed is None:
            continue
        entry = (s.get("metrics") or {}).get(ACCURACY) or {}
        rows[(s["model"], s["variant"])] = {
            "model": s["model"], "run": s["run"], "variant": s["variant"], "resolution": parsed[0],
            "frames": parsed[1], "accuracy": _number(entry.get("mean")), "ci_low": _number(entry.get("ci_low")),
            "ci_high": _number(entry.get("ci_high")), "n": entry.get("n", 0), "failed": entry.get("failures", s.get("n"))}
    for item in profiles:
        profile = item if isinstance(item, dict) else read_json(item)
        source = "<dict>" if isinstance(item, dict) else str(item)
        variant = profile.get("config")
        parsed = parse_resolution_variant(variant) if isinstance(variant, str) else None
        if parsed is None:
            raise RecordError(source, None, "config", f"{variant!r} is not a resolution variant res<R>_frames<F>")
        row = rows.setdefault((profile.get("model"), variant), {
            "model": profile.get("model"), "variant": variant, "resolution": parsed[0], "frames": parsed[1]})
        row.update(_profile_row(profile, source))
    frame = pd.DataFrame(list(rows.values()), columns=COLUMNS)
    if frame.empty:
        return frame
    frame["fixed_size"] = frame["fixed_size"].fillna(False).astype(bool)
    for column in ("size_note", "error", "profile_status", "memory_kind", "run"):
        frame[column] = frame[column].fillna("")
    return frame.sort_values(["model", "resolution", "frames"]).reset_index(drop=True)


def read_factorial(path: str | os.PathLike) -> pd.DataFrame:
    """The factorial table as :func:`factorial_frame` returns it, from its CSV."""
    frame = pd.read_csv(path)
    missing = set(COLUMNS) - set(frame.columns)
    if missing:
        raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    for column in ("size_note", "error", "profile_status", "memory_kind", "run"):
        frame[column] = frame[column].astype(object).fillna("").astype(str)
    frame["fixed_size"] = frame["fixed_size"].astype(str).str.lower().eq("true")
    return frame


def size_notes(frame: pd.DataFrame) -> dict[str, str]:
    """Model -> how its fixed-size encoder handles other sizes (families with ``fixed_size`` only; an
    any-resolution family's per-configuration notes, such as rounding, stay in the factorial table)."""
    notes = {}
    for model, part in frame[frame["fixed_size"]].groupby("model", sort=True):
        found = [n for n in part["size_note"] if isinstance(n, str) and n]
        if found:
            notes[model] = found[0]
    return notes


# -- Pareto frontiers ---------------------------------------------------------------------------------------------


def pareto_mask(accuracy: Iterable, cost: Iterable) -> np.ndarray:
    """Boolean array: True where the point (accuracy up, cost down) is on the Pareto frontier. Points with a
    missing value are never on it; identical points do not dominate each other."""
    acc = np.array([np.nan if _number(a) is None else float(a) for a in accuracy], dtype=float)
    cst = np.array([np.nan if _number(c) is None else float(c) for c in cost], dtype=float)
    valid = ~(np.isnan(acc) | np.isnan(cst))
    on = valid.copy()
    for i in np.flatnonzero(valid):
        others = valid & (acc >= acc[i]) & (cst <= cst[i]) & ((acc > acc[i]) | (cst < cst[i]))
        if others.any():
            on[i] = False
    return on


def pareto_table(frame: pd.DataFrame) -> pd.DataFrame:
    """The frontier points of accuracy vs latency and of accuracy vs memory, cheapest first."""
    parts = []
    for name, (column, _) in COSTS.items():
        mask = pareto_mask(frame["accuracy"], frame[column]) if not frame.empty else np.array([], dtype=bool)
        part = frame[mask].copy()
        part.insert(0, "frontier", f"accuracy_vs_{name}")
        part["cost"] = part[column]
        parts.append(part.sort_values(["cost", "accuracy"], ascending=[True, False]))
    columns = ["frontier", "model", "variant", "resolution", "frames", "accuracy", "ci_low", "ci_high", "n", "failed",
               "latency_p50_ms", "peak_memory_mb", "size_note"]
    return pd.concat(parts, ignore_index=True)[columns] if parts else pd.DataFrame(columns=columns)


def pareto_figure(frame: pd.DataFrame, cost: str, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Accuracy (95% CI) against ``cost`` (``latency`` or ``memory``) for every (model, configuration), one
    colour per model, frontier points ringed and joined by a step line."""
    column, label = COSTS[cost]
    points = frame.dropna(subset=["accuracy", column])
    if points.empty:
        raise ValueError(f"pareto figure: no configuration has both accuracy and {cost}")
    on = pareto_mask(points["accuracy"], points[column])
    with figure_style():
        fig = new_figure(5.2, 3.6)
        ax = fig.subplots()
        for model, part in points.groupby("model", sort=True):
            err = np.array([part["accuracy"] - part["ci_low"], part["ci_high"] - part["accuracy"]])
            ax.errorbar(part[column], part["accuracy"], yerr=np.nan_to_num(err), fmt="o", markersize=4, capsize=2,
                        linewidth=0.8, color=model_colour(model), label=model)
        front = points[on].sort_values(column)
        ax.step(front[column], front["accuracy"], where="post", color="black", linewidth=1, label="Pareto frontier")
        ax.scatter(front[column], front["accuracy"], s=70, facecolors="none", edgecolors="black", linewidths=1)
        for _, r in front.iterrows():
            ax.annotate(f"{int(r['resolution'])}px/{int(r['frames'])}f", (r[column], r["accuracy"]),
                        textcoords="offset points", xytext=(4, -9), fontsize=6)
        ax.set_xlabel(label[0].upper() + label[1:])
        ax.set_ylabel("Exercise-ID accuracy")
        ax.set_ylim(-0.02, 1.02)
        ax.grid(True, axis="both", alpha=0.3)
        ax.legend(frameon=False, fontsize=7, loc="best")
        save_figure(fig, out_pdf, out_png)


# -- heatmaps -----------------------------------------------------------------------------------------------------

HEATMAP_PANELS = (("latency_p50_ms", "p50 latency (ms)", "viridis"), ("peak_memory_mb", "peak memory (MB)", "cividis"),
                  ("accuracy", "exercise-ID accuracy", "magma"))


def _cell(row, column: str) -> str:
    value = _number(row[column])
    if value is None:
        status = row["profile_status"] if column != "accuracy" else ""
        return "failed" if (status and status != "ok") or (column == "accuracy" and row["n"] == 0) else "n/a"
    text = f"{value:.2f}" if column == "accuracy" else f"{value:.3g}"
    if column == "accuracy" and _number(row["failed"]):
        text += f"\n({int(row['failed'])} failed)"
    return text


def _text_colour(image, value: float) -> str:
    """Black on light cells (and on empty ones), white on dark ones."""
    if np.isnan(value):
        return "black"
    r, g, b, _ = image.cmap(image.norm(value))
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def heatmaps(frame: pd.DataFrame, out_pdf: str | os.PathLike, out_png: str | os.PathLike) -> None:
    """Rows: models; columns: p50 latency, peak memory, accuracy; each panel resolution (rows) x frames
    (columns), annotated; a fixed-size family's row title names the size it resizes to."""
    if frame.empty:
        raise ValueError("heatmaps: no configuration to plot")
    models = sorted(set(frame["model"]))
    resolutions, frames_axis = sorted(set(frame["resolution"])), sorted(set(frame["frames"]))
    notes = size_notes(frame)
    with figure_style():
        fig = new_figure(3.0 * len(HEATMAP_PANELS) + 0.6, (0.32 * len(resolutions) + 1.3) * len(models))
        axes = fig.subplots(len(models), len(HEATMAP_PANELS), squeeze=False)
        for i, model in enumerate(models):
            part = frame[frame["model"] == model]
            fixed = part["fixed_size"].any()
            for j, (column, label, cmap) in enumerate(HEATMAP_PANELS):
                ax = axes[i][j]
                grid = np.full((len(resolutions), len(frames_axis)), np.nan)
                text = np.full(grid.shape, "", dtype=object)
                for _, r in part.iterrows():
                    a, b = resolutions.index(r["resolution"]), frames_axis.index(r["frames"])
                    value = _number(r[column])
                    grid[a, b] = np.nan if value is None else value
                    text[a, b] = _cell(r, column)
                vmin, vmax = (0.0, 1.0) if column == "accuracy" else (None, None)
                image = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
                for a in range(grid.shape[0]):
                    for b in range(grid.shape[1]):
                        ax.text(b, a, text[a, b], ha="center", va="center", fontsize=6,
                                color=_text_colour(image, grid[a, b]))
                ax.grid(False)
                ax.set_xticks(range(len(frames_axis)), [str(f) for f in frames_axis])
                ax.set_yticks(range(len(resolutions)), [str(r) for r in resolutions])
                ax.set_xlabel("Frames")
                if j == 0:
                    ax.set_ylabel("Resolution (px)")
                title = f"{model}: {label}"
                if fixed and j == 0 and model in notes:
                    effective = part["effective_resolution"].dropna()
                    side = f" {int(effective.iloc[0])} px" if not effective.empty else ""
                    title += f"\n(fixed input size: resized to{side})"
                ax.set_title(title, fontsize=8)
                fig.colorbar(image, ax=ax, shrink=0.8)
        save_figure(fig, out_pdf, out_png)


# -- constrained choice by integer program ---------------------------------------------------------------------------


def check_scenario(name: str, scenario: Mapping) -> dict:
    """The scenario with defaults filled in; ``ValueError`` naming the scenario and key for bad values."""
    unknown = set(scenario) - {"objective", "weights", *CONSTRAINTS}
    if unknown:
        raise ValueError(f"scenario {name!r}: unknown key(s) {', '.join(sorted(unknown))}")
    objective = scenario.get("objective")
    if objective not in OBJECTIVES:
        raise ValueError(f"scenario {name!r}: objective must be one of {', '.join(OBJECTIVES)}, got {objective!r}")
    out = {"objective": objective, "weights": {**DEFAULT_WEIGHTS, **(scenario.get("weights") or {})}}
    for key in CONSTRAINTS:
        value = scenario.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise ValueError(f"scenario {name!r}: {key} must be a number or null, got {value!r}")
        out[key] = None if value is None else float(value)
    for key, weight in out["weights"].items():
        if key not in DEFAULT_WEIGHTS or isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"scenario {name!r}: weights.{key} must be a known weight >= 0, got {weight!r}")
    return out


def candidates(frame: pd.DataFrame) -> pd.DataFrame:
    """The configurations a scenario can choose: profiled successfully and with an accuracy."""
    ok = frame[frame["profile_status"] == "ok"].dropna(subset=["accuracy", "latency_p50_ms", "peak_memory_mb"])
    return ok.reset_index(drop=True)


def _scaled(values: pd.Series) -> pd.Series:
    span = values.max() - values.min()
    return (values - values.min()) / span if span > 0 else values * 0.0


def objective_values(cands: pd.DataFrame, scenario: Mapping) -> pd.Series:
    """The quantity the scenario maximises, per candidate (latency and memory objectives are negated)."""
    objective = scenario["objective"]
    if objective == "max_accuracy":
        return cands["accuracy"].astype(float)
    if objective == "min_latency":
        return -cands["latency_p50_ms"].astype(float)
    if objective == "min_memory":
        return -cands["peak_memory_mb"].astype(float)
    w = scenario["weights"]
    return (w["accuracy"] * _scaled(cands["accuracy"].astype(float))
            - w["latency"] * _scaled(cands["latency_p50_ms"].astype(float))
            - w["memory"] * _scaled(cands["peak_memory_mb"].astype(float)))


def _solve(values: list[float], limits: list[tuple[list[float], str, float]], *,
           floor: float | None = None, tiebreak: list[float] | None = None) -> int | None:
    """Binary program choosing one index maximising ``values`` under ``limits`` (coefficients, sense, bound);
    with ``floor`` the objective is held at or above it and ``tiebreak`` is minimised. None when infeasible."""
    problem = pulp.LpProblem("choose", pulp.LpMaximize if tiebreak is None else pulp.LpMinimize)
    x = [pulp.LpVariable(f"x{i}", cat="Binary") for i in range(len(values))]
    problem += pulp.lpSum(x) == 1
    for coefficients, sense, bound in limits:
        total = pulp.lpSum(c * xi for c, xi in zip(coefficients, x))
        problem += (total <= bound) if sense == "<=" else (total >= bound)
    if tiebreak is None:
        problem += pulp.lpSum(v * xi for v, xi in zip(values, x))
    else:
        problem += pulp.lpSum(v * xi for v, xi in zip(values, x)) >= floor
        problem += pulp.lpSum(t * xi for t, xi in zip(tiebreak, x))
    status = problem.solve(pulp.PULP_CBC_CMD(msg=False))
    if pulp.LpStatus[status] != "Optimal":
        return None
    return next(i for i, xi in enumerate(x) if (xi.value() or 0) > 0.5)


def _limits(cands: pd.DataFrame, scenario: Mapping, skip: str | None = None) -> list[tuple[list[float], str, float]]:
    return [(cands[column].astype(float).tolist(), sense, scenario[key])
            for key, (column, sense, _) in CONSTRAINTS.items() if scenario[key] is not None and key != skip]


def _describe(scenario: Mapping) -> str:
    parts = [f"{key} {scenario[key]:g}" for key in CONSTRAINTS if scenario[key] is not None]
    if scenario["objective"] == "balanced":
        parts.append("weights " + ", ".join(f"{k} {v:g}" for k, v in scenario["weights"].items()))
    return "; ".join(parts) or "none"


def _binding(cands: pd.DataFrame, scenario: Mapping) -> str:
    """Constraints of an infeasible scenario whose removal alone makes it feasible (all active ones when none
    does), each with the best value any candidate reaches."""
    active = [key for key in CONSTRAINTS if scenario[key] is not None]
    zeros = [0.0] * len(cands)
    alone = [key for key in active if _solve(zeros, _limits(cands, scenario, skip=key)) is not None]
    parts = []
    for key in alone or active:
        column, sense, label = CONSTRAINTS[key]
        best = cands[column].min() if sense == "<=" else cands[column].max()
        parts.append(f"{key} {scenario[key]:g} (best {label} of any candidate: {best:.4g})")
    return "; ".join(parts)


def choose(frame: pd.DataFrame, name: str, scenario: Mapping) -> dict:
    """The recommendation for one scenario (a row of :data:`RECOMMENDATION_COLUMNS`): status ``optimal``,
    ``infeasible`` (with ``binding``) or ``no candidates``."""
    scenario = check_scenario(name, scenario)
    cands = candidates(frame)
    row = {"scenario": name, "objective": scenario["objective"], "constraints": _describe(scenario),
           "candidates": len(cands), "binding": "", "size_note": ""}
    if cands.empty:
        return {**row, "status": "no candidates"}
    values = objective_values(cands, scenario).tolist()
    limits = _limits(cands, scenario)
    first = _solve(values, limits)
    if first is None:
        return {**row, "status": "infeasible", "binding": _binding(cands, scenario)}
    # ties: keep the optimum, then the lowest latency, memory and name (a rank, so the choice is deterministic)
    order = cands.sort_values(["latency_p50_ms", "peak_memory_mb", "model", "variant"]).index.tolist()
    rank = [float(order.index(i)) for i in range(len(cands))]
    best = values[first]
    chosen = _solve(values, limits, floor=best - 1e-9 * max(1.0, abs(best)), tiebreak=rank)
    c = cands.loc[first if chosen is None else chosen]
    return {**row, "status": "optimal", "model": c["model"], "variant": c["variant"], "resolution": c["resolution"],
            "frames": c["frames"], "accuracy": c["accuracy"], "ci_low": c["ci_low"], "ci_high": c["ci_high"],
            "latency_p50_ms": c["latency_p50_ms"], "peak_memory_mb": c["peak_memory_mb"], "size_note": c["size_note"]}


def recommendations(frame: pd.DataFrame, scenarios: Mapping[str, Mapping]) -> pd.DataFrame:
    """One row per scenario (in the configured order)."""
    if not scenarios:
        raise ValueError("recommendations: no scenarios configured (questions.rq3_1_3.scenarios)")
    rows = [choose(frame, name, scenario) for name, scenario in scenarios.items()]
    return pd.DataFrame(rows, columns=RECOMMENDATION_COLUMNS)


# -- summary and headline ---------------------------------------------------------------------------------------------


def _config(row) -> str:
    return f"{int(row['resolution'])} px, {int(row['frames'])} frames"


def _acc(row) -> str:
    if _number(row["accuracy"]) is None:
        return "n/a"
    return f"{100 * row['accuracy']:.1f}% [{100 * row['ci_low']:.1f}, {100 * row['ci_high']:.1f}]"


def summary_section(factorial: pd.DataFrame, recs: pd.DataFrame, links: Iterable[str | os.PathLike] = (),
                    relative_to: str | os.PathLike = "results") -> str:
    """The markdown section of RESULTS_SUMMARY.md: input-size notes, failed configurations, per-model extremes,
    frontier sizes and the recommendation per scenario."""
    lines = ["## RQ 3.1.3: Resolution x frames, Pareto frontiers and recommended configurations", ""]
    lines.append("Every model at every resolution x frame count (frames sampled uniformly over the clip): "
                 "exercise-ID accuracy (bootstrap 95% CI, n scored, failed), p50 end-to-end latency per clip and "
                 "peak memory from one profiling job per configuration. Recommendations are chosen by a binary "
                 "integer program (one configuration per scenario) under the configured constraints.")
    lines.append("")
    for model, note in size_notes(factorial).items():
        lines.append(f"- {model}: {note}; its differences across resolutions are not a resolution effect.")
    failed = factorial[~factorial["profile_status"].isin(["", "ok"]) | factorial["accuracy"].isna()]
    for _, r in failed.iterrows():
        reason = r["error"] or ("every clip failed" if _number(r["accuracy"]) is None else r["profile_status"])
        lines.append(f"- {r['model']} at {_config(r)}: failed ({reason}).")
    for model, part in factorial.groupby("model", sort=True):
        scored = part.dropna(subset=["accuracy"])
        timed = part.dropna(subset=["latency_p50_ms"])
        if scored.empty or timed.empty:
            continue
        best, fast = scored.loc[scored["accuracy"].idxmax()], timed.loc[timed["latency_p50_ms"].idxmin()]
        lines.append(f"- {model}: most accurate at {_config(best)} ({_acc(best)}); fastest at {_config(fast)} "
                     f"({fast['latency_p50_ms']:.4g} ms p50).")
    front = pareto_table(factorial)
    for name in COSTS:
        lines.append(f"- Accuracy vs {name} frontier: {int((front['frontier'] == f'accuracy_vs_{name}').sum())} "
                     f"configuration(s).")
    lines += ["", "| scenario | objective | constraints | choice | accuracy [95% CI] | p50 ms | peak MB |",
              "|---|---|---|---|---|---|---|"]
    for _, r in recs.iterrows():
        if r["status"] == "optimal":
            note = f" ({r['size_note']})" if isinstance(r["size_note"], str) and r["size_note"] else ""
            lines.append(f"| {r['scenario']} | {r['objective']} | {r['constraints']} | **{r['model']}** at "
                         f"{_config(r)}{note} | {_acc(r)} | {r['latency_p50_ms']:.4g} | {r['peak_memory_mb']:.4g} |")
        else:
            why = f": binding {r['binding']}" if isinstance(r["binding"], str) and r["binding"] else ""
            lines.append(f"| {r['scenario']} | {r['objective']} | {r['constraints']} | {r['status']}{why} | "
                         f"n/a | n/a | n/a |")
    lines += files_lines(links, relative_to)
    return "\n".join(lines) + "\n"


def headline_rows(factorial: pd.DataFrame, recs: pd.DataFrame, question: str = "rq3_1_3") -> list[dict]:
    """Per model: the best factorial accuracy (with CI), the lowest p50 latency and peak memory over its
    configurations; per feasible scenario: the chosen model's accuracy (``better: none``, the choice in
    ``detail``)."""
    rows = []
    for model, part in factorial.groupby("model", sort=True):
        note = size_notes(part).get(model, "")
        scored = part.dropna(subset=["accuracy"])
        if scored.empty:
            rows.append({"question": question, "model": model, "measure": "factorial_best_accuracy", "value": None,
                         "better": "higher", "note": "no configuration could be scored"})
        else:
            best = scored.loc[scored["accuracy"].idxmax()]
            rows.append({"question": question, "model": model, "measure": "factorial_best_accuracy",
                         "value": best["accuracy"], "ci_low": best["ci_low"], "ci_high": best["ci_high"],
                         "n": best["n"], "failed": best["failed"], "better": "higher",
                         "detail": _config(best) + (f"; {note}" if note else "")})
        for measure, column in (("factorial_min_latency_p50_ms", "latency_p50_ms"),
                                ("factorial_min_peak_memory_mb", "peak_memory_mb")):
            timed = part.dropna(subset=[column])
            if timed.empty:
                rows.append({"question": question, "model": model, "measure": measure, "value": None,
                             "better": "lower", "note": "no configuration could be profiled"})
                continue
            low = timed.loc[timed[column].idxmin()]
            rows.append({"question": question, "model": model, "measure": measure, "value": low[column],
                         "better": "lower", "detail": _config(low) + (f"; {note}" if note else "")})
    for _, r in recs[recs["status"] == "optimal"].iterrows():
        rows.append({"question": question, "model": r["model"], "measure": f"recommended_{r['scenario']}",
                     "value": r["accuracy"], "ci_low": r["ci_low"], "ci_high": r["ci_high"], "better": "none",
                     "detail": f"{_config(r)}; p50 {r['latency_p50_ms']:.4g} ms; peak {r['peak_memory_mb']:.4g} MB; "
                               f"accuracy as value"})
    return rows
