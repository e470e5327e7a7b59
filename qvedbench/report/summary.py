"""RESULTS_SUMMARY.md: the numbers and plain-language verdicts, built from whatever score files exist.

Every aggregate is printed with its confidence interval and its failure count (samples that could not be
scored are excluded, never imputed). Verdicts are computed from the numbers: differences between runs use a
paired bootstrap over the per-sample scores when those files exist, and say so when they do not.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable, Mapping

import pandas as pd

from qvedbench.io import read_json, read_jsonl, write_text
from qvedbench.report.load import load_scores, per_sample_path, per_sample_values, run_order
from qvedbench.report.master import master_display, markdown_table
from qvedbench.report.recommend import recommendation_display
from qvedbench.stats import paired_bootstrap_diff

MASTER_SECTIONS = (
    ("comparison", "Master comparison",
     "Every model against every headline measure of the questions that ran: value [CI] (n, failed); "
     "`n/a` cells give the reason."),
    ("recommendations", "Recommendation matrix",
     "Use case -> best model by the deciding measure, with the runner-up and whether their CIs overlap."),
    ("model_tests", "Tests across models",
     "Do the models differ on the baseline run's clean test set? Paired over clips every model scored; the "
     "test and the reason for it are stated per metric."),
)

BASE_RUN = "base"
CLEAN = "clean"


# -- formatting ----------------------------------------------------------------------------------------------
def fmt_pct(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def fmt_entry(entry: dict | None, *, percent: bool = False) -> str:
    """``mean [low, high] (n=.., failed ..)``; percentages for proportions."""
    if not entry:
        return "not computed"
    counts = f"(n={entry['n']}, failed {entry['failures']})"
    if entry["mean"] is None:
        return f"n/a {counts}"
    if percent:
        return f"{100 * entry['mean']:.1f}% [{100 * entry['ci_low']:.1f}, {100 * entry['ci_high']:.1f}] {counts}"
    return f"{entry['mean']:.3f} [{entry['ci_low']:.3f}, {entry['ci_high']:.3f}] {counts}"


def fmt_points(diff: dict) -> str:
    return (f"{100 * diff['diff']:+.1f} points [{100 * diff['ci_low']:+.1f}, {100 * diff['ci_high']:+.1f}]")


def _link(path: str | os.PathLike, out_md: Path) -> str:
    rel = os.path.relpath(Path(path).resolve(), out_md.resolve().parent)
    return f"[{Path(path).name}]({Path(rel).as_posix()})"


# -- comparisons ---------------------------------------------------------------------------------------------
def _bootstrap_settings(scores: dict) -> dict:
    config = scores.get("config") or {}
    return {"n_boot": config.get("bootstrap", 1000), "ci": config.get("ci", 0.95), "seed": config.get("seed", 0)}


def accuracy_difference(tuned: dict, base: dict) -> dict | None:
    """Paired bootstrap of exercise-ID accuracy, ``tuned - base``, over clips scored in both; None without
    per-sample files."""
    a = per_sample_values(tuned, "exercise_correct")
    b = per_sample_values(base, "exercise_correct")
    if a is None or b is None:
        return None
    return paired_bootstrap_diff(a, b, **_bootstrap_settings(tuned))


def follows_video_difference(swapped: dict) -> dict | None:
    """Paired bootstrap, per swapped clip, of "names the shown video's class" minus "names the original
    record's class"; None without a per-sample file that carries ``original_exercise``."""
    path = per_sample_path(swapped)
    if path is None:
        return None
    rows = [r for r in read_jsonl(path) if "original_exercise" in r and "exercise_correct" in r]
    if not rows:
        return None
    shown = {r["id"]: r["exercise_correct"] for r in rows}
    original = {
        r["id"]: None if r["exercise_correct"] is None else int(r["predicted_exercise"] == r["original_exercise"])
        for r in rows
    }
    return paired_bootstrap_diff(shown, original, **_bootstrap_settings(swapped))


def _direction(diff: dict) -> int:
    """+1 if the CI lies above 0, -1 if below, 0 if it contains 0."""
    return 1 if diff["ci_low"] > 0 else -1 if diff["ci_high"] < 0 else 0


def accuracy_verdict(run: str, tuned: dict, base: dict) -> str:
    diff = accuracy_difference(tuned, base)
    if diff is not None and diff["n"] > 0:
        how = f"{fmt_points(diff)}, paired bootstrap over {diff['n']} clips scored in both"
        if diff["failures"]:
            how += f", {diff['failures']} clip(s) unscored in one of them left out"
        return {
            1: f"Fine-tuning (run `{run}`) beats the untuned model on exercise-ID accuracy by {how}.",
            -1: f"Fine-tuning (run `{run}`) is worse than the untuned model on exercise-ID accuracy: {how}.",
            0: f"Fine-tuning (run `{run}`) does not clearly change exercise-ID accuracy: {how}.",
        }[_direction(diff)]
    t, b = tuned["metrics"].get("exercise_accuracy"), base["metrics"].get("exercise_accuracy")
    if not t or not b or t["mean"] is None or b["mean"] is None:
        return f"Run `{run}` vs the untuned model: accuracy missing for one of them, no comparison."
    points = f"{100 * (t['mean'] - b['mean']):+.1f} points (no per-sample scores, so no paired CI)"
    tuning = f"Fine-tuning (run `{run}`)"
    if t["ci_low"] > b["ci_high"]:
        return f"{tuning} beats the untuned model on exercise-ID accuracy by {points}; the CIs do not overlap."
    if t["ci_high"] < b["ci_low"]:
        return f"{tuning} is worse than the untuned model on exercise-ID accuracy: {points}; the CIs do not overlap."
    return f"{tuning} does not clearly change exercise-ID accuracy: {points}; the CIs overlap."


def majority_verdict(run: str, scores: dict) -> str | None:
    acc, rate = scores["metrics"].get("exercise_accuracy"), scores.get("majority_rate")
    if not acc or acc["mean"] is None or rate is None:
        return None
    if acc["ci_low"] > rate:
        return (f"Run `{run}` is above the majority-class rate ({fmt_pct(rate)}): "
                "it does more than name the commonest class.")
    return f"Run `{run}` is not clearly above the majority-class rate ({fmt_pct(rate)})."


def blank_verdict(scores: dict) -> str:
    acc, chance = scores["metrics"].get("exercise_accuracy"), scores.get("chance_rate")
    if not acc or acc["mean"] is None or chance is None:
        return "accuracy not available."
    where = ("above chance: the answers carry class information that is not in the frames"
             if acc["ci_low"] > chance else "consistent with chance, as expected without a video")
    return f"accuracy {fmt_entry(acc, percent=True)} vs chance {fmt_pct(chance)}: {where}."


def swapped_verdict(scores: dict) -> str:
    acc = scores["metrics"].get("exercise_accuracy")
    follows = scores.get("follows_original") or None
    parts = [f"accuracy w.r.t. the video shown {fmt_entry(acc, percent=True)}"]
    parts.append("answers naming the original record's class "
                 + (fmt_entry(follows, percent=True) if follows else fmt_pct(scores.get("follows_original_rate"))))
    diff = follows_video_difference(scores)
    if diff is not None and diff["n"] > 0:
        answer = {1: "yes", -1: "no (it follows the original record, not the video)", 0: "unclear"}[_direction(diff)]
        evidence = f"shown minus original {fmt_points(diff)}, paired over {diff['n']} clips"
    elif acc and acc["mean"] is not None and follows and follows["mean"] is not None:
        answer = ("yes" if acc["ci_low"] > follows["ci_high"] else
                  "no (it follows the original record, not the video)" if acc["ci_high"] < follows["ci_low"]
                  else "unclear")
        evidence = "CIs compared, no per-sample scores"
    else:
        answer, evidence = "unknown", "not enough data"
    return "; ".join(parts) + f". **The answer follows the video: {answer}** ({evidence})."


# -- sections ------------------------------------------------------------------------------------------------
def _clean_table(runs: dict[str, dict]) -> list[str]:
    lines = ["| run | n | exercise-ID accuracy | ROUGE-L F1 | unparsed answers |", "|---|---|---|---|---|"]
    for run in sorted(runs, key=run_order):
        s = runs[run]
        lines.append(f"| {run} | {s['n']} | {fmt_entry(s['metrics'].get('exercise_accuracy'), percent=True)} | "
                     f"{fmt_entry(s['metrics'].get('rouge_l'))} | {s.get('unparsed_exercise', 'n/a')} |")
    return lines


def _fmt_number(value, spec: str) -> str:
    return format(value, spec) if isinstance(value, (int, float)) else "n/a"


def _train_lines(model: str, train_stats: Mapping[tuple[str, str], str | os.PathLike]) -> list[str]:
    lines = []
    for (m, run), path in sorted(train_stats.items(), key=lambda kv: run_order(kv[0][1])):
        if m != model or not Path(path).is_file():
            continue
        st = read_json(path)
        trainable, total = st.get("trainable_params"), st.get("total_params")
        share = f" ({100 * trainable / total:.2f}% of {total:,})" if trainable is not None and total else ""
        lines.append(f"- run `{run}`: trainable parameters {_fmt_number(trainable, ',')}{share}; "
                     f"wall time {_fmt_number(st.get('wall_time_s'), '.1f')} s; steps {st.get('steps', 'n/a')}; "
                     f"peak memory {_fmt_number(st.get('peak_memory_mb'), '.0f')} MB; "
                     f"device {st.get('device', 'n/a')}, precision {st.get('precision', 'n/a')}")
    return lines


def _model_section(model: str, scores: list[dict], train_stats) -> list[str]:
    by_variant: dict[str, dict[str, dict]] = {}
    for s in scores:
        by_variant.setdefault(s["variant"], {})[s["run"]] = s
    lines = [f"## {model}", ""]
    clean = by_variant.get(CLEAN, {})
    if clean:
        any_scores = next(iter(clean.values()))
        lines += ["### Clean test set", ""] + _clean_table(clean) + [""]
        lines.append(f"Majority class `{any_scores.get('majority_class')}`: {fmt_pct(any_scores.get('majority_rate'))}"
                     f" of clips (always naming it scores this); chance {fmt_pct(any_scores.get('chance_rate'))}.")
        lines += ["", "### Verdict", ""]
        base = clean.get(BASE_RUN)
        for run in sorted(clean, key=run_order):
            if run == BASE_RUN:
                continue
            if base is not None:
                lines.append("- " + accuracy_verdict(run, clean[run], base))
            verdict = majority_verdict(run, clean[run])
            if verdict:
                lines.append("- " + verdict)
        if base is None:
            lines.append("- No scores for the untuned model (`base`), so no fine-tuning comparison.")
        lines.append("")
    controls = [(v, r) for v in ("blank", "swapped") for r in sorted(by_variant.get(v, {}), key=run_order)]
    if controls:
        lines += ["### Controls", ""]
        for variant, run in controls:
            s = by_variant[variant][run]
            text = blank_verdict(s) if variant == "blank" else swapped_verdict(s)
            lines.append(f"- {variant} video, run `{run}`: {text}")
        lines.append("")
    others = sorted(v for v in by_variant if v not in (CLEAN, "blank", "swapped"))
    if others:
        lines += ["### Other variants", ""]
        for variant in others:
            for run in sorted(by_variant[variant], key=run_order):
                acc = by_variant[variant][run]["metrics"].get("exercise_accuracy")
                lines.append(f"- {variant}, run `{run}`: accuracy {fmt_entry(acc, percent=True)}")
        lines.append("")
    train = _train_lines(model, train_stats or {})
    if train:
        lines += ["### Training", ""] + train + [""]
    return lines


def _dataset_lines(path: str | os.PathLike, out_md: Path) -> list[str]:
    lines = ["## Dataset", "", f"Details: {_link(path, out_md)}", ""]
    if Path(path).suffix == ".json":
        data = read_json(path)
        if isinstance(data, dict):
            lines += [f"- {k}: {v}" for k, v in data.items() if isinstance(v, (str, int, float))] + [""]
    return lines


def _master_lines(master: Mapping[str, str | os.PathLike], out_md: Path) -> list[str]:
    """The final deliverables: master table, recommendation matrix and tests across models, as markdown."""
    shown = {
        "comparison": lambda f: master_display(f).assign(
            **({"models_differ": f["models_differ"]} if "models_differ" in f.columns else {})),
        "recommendations": lambda f: recommendation_display(f).fillna(""),
        "model_tests": lambda f: f[["metric", "models", "test", "statistic", "df", "p_value", "n", "dropped",
                                    "differ", "reason"]].assign(
            statistic=lambda t: t["statistic"].map(lambda v: _fmt_number(v, ".3g")),
            p_value=lambda t: t["p_value"].map(lambda v: _fmt_number(v, ".3g"))),
    }
    lines = []
    for key, title, intro in MASTER_SECTIONS:
        if not master.get(key):
            continue
        frame = pd.read_csv(master[key], keep_default_na=True)
        frame = frame.astype(object).where(frame.notna(), None)
        for col in [c for c in frame.columns if c.endswith(("_detail", "_note"))] + ["detail", "note"]:
            if col in frame.columns:
                frame[col] = frame[col].map(lambda v: "" if v is None else v)
        table = markdown_table(shown[key](frame)) if len(frame) else "(empty)"
        lines += [f"## {title}", "", intro + f" Data: {_link(master[key], out_md)}", "", table, ""]
    return lines


def figure_links(paths: Iterable[str | os.PathLike], out_md: Path) -> list[str]:
    """One line per figure (PDF and PNG side by side), grouped by the folder (question) it sits in."""
    groups: dict[str, dict[str, list[str]]] = {}
    for p in paths:
        path = Path(p)
        folder = path.parent.name if path.parent.name != "figures" else "base vs baseline"
        groups.setdefault(folder, {}).setdefault(path.stem, []).append(str(p))
    lines = []
    for folder in sorted(groups):
        lines += [f"### {folder}", ""]
        for stem, files in sorted(groups[folder].items()):
            links = ", ".join(_link(f, out_md) for f in sorted(files, key=lambda f: (Path(f).suffix != ".pdf", f)))
            lines.append(f"- {stem}: {links}")
        lines.append("")
    return lines


def write_results_summary(
    score_jsons: Iterable[str | os.PathLike | dict],
    out_md: str | os.PathLike,
    *,
    train_stats: Mapping[tuple[str, str], str | os.PathLike] | None = None,
    figures: Iterable[str | os.PathLike] | None = None,
    tables: Iterable[str | os.PathLike] | None = None,
    dataset_summary: str | os.PathLike | None = None,
    sections: Iterable[str | os.PathLike] | None = None,
    master: Mapping[str, str | os.PathLike] | None = None,
) -> str:
    """Write RESULTS_SUMMARY.md from the given score files (paths or dicts) and return its text.

    ``sections`` are markdown fragments written by the research questions (one file each, starting with its
    own ``##`` heading); they are appended in the order given. ``master`` maps ``comparison``,
    ``recommendations`` and ``model_tests`` to the CSVs of the final deliverables (qvedbench.report.master).
    """
    out_md = Path(out_md)
    scores = load_scores(score_jsons)
    level = next((s["config"]["ci"] for s in scores if s.get("config", {}).get("ci")), 0.95)
    lines = [
        "# Results summary", "",
        f"Built from {len(scores)} score file(s). Values are means with {level:.0%} percentile-bootstrap "
        "confidence intervals; `failed` counts samples that could not be scored (no answer, empty reference): "
        "they are left out, never imputed. Accuracy differences are in percentage points.", "",
    ]
    if dataset_summary:
        lines += _dataset_lines(dataset_summary, out_md)
    for model in sorted({s["model"] for s in scores}):
        lines += _model_section(model, [s for s in scores if s["model"] == model], train_stats)
    for section in sections or []:
        lines += [Path(section).read_text(encoding="utf-8").rstrip(), ""]
    lines += _master_lines(master or {}, out_md)
    figures = list(figures or [])
    if figures:
        lines += ["## Figures", ""] + figure_links(figures, out_md)
    tables = list(tables or [])
    if tables:
        lines += ["## Tables", ""] + [f"- {_link(p, out_md)}" for p in tables] + [""]
    text = "\n".join(lines).rstrip() + "\n"
    write_text(out_md, text)
    return text
