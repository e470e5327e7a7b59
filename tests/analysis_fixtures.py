"""Hand-made predictions, scores and splits for running analysis-only question rules without any model.

The files stand where the workflow's own rules would write them; the analysis rules are then run with
Snakemake's ``--allowed-rules`` so nothing upstream (synthesis, training, inference) is rebuilt.
"""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

from workflow_helpers import SNAKEFILE, SNAKEMAKE, reduced_demo_config, write_config

CLASSES = ["squats", "lunges", "push-ups", "bicep curls", "shoulder press", "jumping jacks"]
RUNS = ("base", "baseline")
FEEDBACK = {"squats": ("knees caving in; push them out over your toes", ["knee_valgus"]),
            "lunges": ("leaning too far forward; keep your chest up", ["forward_lean"]),
            "push-ups": ("hips sagging; squeeze your glutes", ["poor_alignment"]),
            "bicep curls": ("good form; keep it up", []),
            "shoulder press": ("the press stops halfway - lock out your elbows at the top", ["incomplete_rom"]),
            "jumping jacks": ("good form; keep it up", [])}
# What each run "answers" for a clip of each class: base confuses squats/lunges and names no errors; baseline
# gets classes right except bicep curls -> shoulder press and finds most errors, naming a frame for squats.
ANSWERS = {
    "base": {c: ("lunges" if c == "squats" else "squats" if c == "lunges" else c, "good form") for c in CLASSES},
    "baseline": {**{c: (c, FEEDBACK[c][0]) for c in CLASSES},
                 "bicep curls": ("shoulder press", "good form"),
                 "squats": ("squats", "knees caving in around frame 14")},
}


def _jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_inputs(workdir: Path, questions: dict, per_class: int = 3) -> tuple[Path, str]:
    """Config, splits, clean predictions and per-sample scores of one model's two runs; returns the config
    path and the model name."""
    cfg = reduced_demo_config()
    cfg["dataset"]["classes"] = CLASSES
    cfg["questions"] = questions
    model = next(iter(cfg["models"]))
    config_path = write_config(workdir / "config.yaml", cfg)
    test, train = [], []
    for c in CLASSES:
        text, errors = FEEDBACK[c]
        for i in range(per_class):
            test.append({"id": f"{c}/{i}", "video": f"v/{c}_{i}.mp4", "exercise": c, "reference": f"{c} - {text}",
                         "errors": errors, "error_frames": {e: [[12, 20]] for e in errors}, "fps": 8.0})
        train += [{"id": f"{c}/t{i}", "exercise": c} for i in range(2 + CLASSES.index(c))]
    _jsonl(workdir / "results/data/test.jsonl", test)
    _jsonl(workdir / "results/data/train.jsonl", train)
    for run in RUNS:
        predictions, scores = [], []
        for k, record in enumerate(test):
            label, feedback = ANSWERS[run][record["exercise"]]
            failed = run == "baseline" and k == 0  # one failed generation: counted, never scored
            predictions.append({**record, "prediction": None if failed else f"{label} - {feedback}",
                                "variant": "clean"})
            scores.append({"id": record["id"], "exercise": record["exercise"],
                           "predicted_exercise": None if failed else label,
                           "exercise_correct": int(not failed and label == record["exercise"])})
        _jsonl(workdir / f"results/predictions/{model}/{run}/clean.jsonl", predictions)
        _jsonl(workdir / f"results/scores/{model}/{run}/clean.jsonl", scores)
    return config_path, model


def run_rules(workdir: Path, config_path: Path, targets: list[str], allowed: list[str]) -> str:
    """Run ``targets`` with only the ``allowed`` rules; return Snakemake's output."""
    cmd = [str(SNAKEMAKE), *targets, "--snakefile", str(SNAKEFILE), "--directory", str(workdir), "--cores", "2",
           "--allowed-rules", *allowed, "--configfile", str(config_path)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"snakemake failed:\n{out}")
    return out
