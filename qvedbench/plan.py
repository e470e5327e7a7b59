"""Cost preview: device-hours of the jobs a workflow would run now, per question and model, before launching.

The pending jobs come from a Snakemake dry run, called as a subprocess (the library never imports Snakemake).
Each job is attributed to a question: a question's own rules by their name, training / inference / scoring
jobs through the run table (the questions whose runs the trained run answers; the base and baseline runs
belong to ``baseline``) and through the test-set variant (degradations: rq1_3_3, frames x stride: rq1_2,
resolution x frames: rq3_1_3).

Estimates (one device each):

- training: examples seen (``max_steps`` x ``batch_size``, else ``epochs`` x training clips) / training
  throughput; throughput measured from earlier runs' ``train_stats.json`` (``train_examples`` x ``epochs`` /
  ``wall_time_s``), else assumed per family (config ``plan.assumed_throughput``).
- inference (generation, profiling and per-precision jobs): test clips / inference throughput; throughput from profile
  JSONs (``results/profile/<model>/*.json``, ``throughput.samples_per_s``), else earlier benchmark TSVs of
  generation jobs (``results/benchmarks/infer_generate/<model>/...``: clips predicted / seconds), else assumed.

Every estimate carries its basis (``measured: ...`` or ``assumed: ...``). Other jobs (data, scoring, tables,
figures, judge calls to an external endpoint) are counted but not estimated.
"""
from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Sequence

import pandas as pd

from qvedbench import runs as qruns
from qvedbench.config import BASE_RUN, BASELINE_RUN
from qvedbench.variant_names import is_degradation, parse_resolution_variant, parse_temporal_variant

CONTROL_VARIANTS = ("clean", "blank", "swapped")
SHARED = "shared"
# question rules that run a model over the test set (besides infer_*): profiling, one precision level
INFER_RULE_SUFFIXES = ("_profile", "_level")
PLAN_COLUMNS = ("question", "model", "jobs", "estimated_jobs", "device_hours", "basis")


@dataclass
class Job:
    rule: str
    wildcards: dict[str, str] = field(default_factory=dict)
    outputs: list[str] = field(default_factory=list)


# -- the dry run ----------------------------------------------------------------------------------------------
_RULE = re.compile(r"^(?:local)?rule (\w+):\s*$")
_FIELD = re.compile(r"^\s+(\w+): (.*)$")


def parse_dry_run(text: str) -> list[Job]:
    """Jobs from the text of ``snakemake -n`` (blocks ``rule NAME:`` followed by indented fields)."""
    jobs: list[Job] = []
    current: Job | None = None
    for line in text.splitlines():
        m = _RULE.match(line)
        if m:
            current = Job(m.group(1))
            jobs.append(current)
            continue
        if current is None:
            continue
        f = _FIELD.match(line)
        if not f:
            if line and not line.startswith(" "):
                current = None
            continue
        key, value = f.groups()
        if key == "wildcards":
            current.wildcards = dict(part.split("=", 1) for part in value.split(", ") if "=" in part)
        elif key == "output":
            current.outputs = [p.strip() for p in value.split(",") if p.strip()]
    return jobs


def snakemake_command() -> list[str]:
    exe = Path(sys.executable).with_name("snakemake")
    return [str(exe)] if exe.is_file() else [sys.executable, "-m", "snakemake"]


def default_snakefile() -> Path:
    return Path(__file__).resolve().parent.parent / "Snakefile"


def dry_run_jobs(configfiles: Sequence[str | os.PathLike], *, workdir: str | os.PathLike = ".",
                 snakefile: str | os.PathLike | None = None, targets: Sequence[str] = ("all",),
                 timeout: float = 600) -> list[Job]:
    """The jobs Snakemake would run now (a dry run in ``workdir``); raises with Snakemake's output on failure."""
    cmd = [*snakemake_command(), *targets, "-n", "--snakefile", str(snakefile or default_snakefile()),
           "--directory", str(workdir), "--configfile", *map(str, configfiles)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"snakemake dry run failed ({' '.join(cmd)}):\n{proc.stdout}{proc.stderr}")
    return parse_dry_run(proc.stdout + "\n" + proc.stderr)


# -- job -> question ------------------------------------------------------------------------------------------
def _variant_question(variant: str) -> str | None:
    if variant in CONTROL_VARIANTS:
        return None
    if is_degradation(variant):
        return "rq1_3_3"
    if parse_temporal_variant(variant):
        return "rq1_2"
    if parse_resolution_variant(variant):
        return "rq3_1_3"
    return f"variant {variant}"


def job_question(job: Job, config: dict, plan: Sequence[qruns.PlannedRun]) -> str:
    """The question a job is run for (``shared`` for data, models and the final report)."""
    questions = sorted(config.get("questions", {}), key=len, reverse=True)
    for q in questions:
        if job.rule == q or job.rule.startswith(q + "_"):
            return q
    variant = job.wildcards.get("variant")
    if variant and _variant_question(variant):
        return _variant_question(variant)
    model, run = job.wildcards.get("model"), job.wildcards.get("run")
    if model and run:
        if run in (BASE_RUN, BASELINE_RUN):
            return qruns.BASELINE_QUESTION
        asking = sorted({r.question for r in plan if r.model == model and r.canonical == run})
        if qruns.BASELINE_QUESTION in asking:
            return qruns.BASELINE_QUESTION
        if asking:
            return "+".join(asking)
    return SHARED


# -- sizes and throughput -------------------------------------------------------------------------------------
def _count_lines(path: Path) -> int:
    with open(path, encoding="utf-8") as fh:
        return sum(1 for line in fh if line.strip())


def dataset_sizes(config: dict, workdir: str | os.PathLike = ".") -> dict:
    """``{"train": n, "test": n, "basis": text}`` from ``results/data/*.jsonl`` when prepared, else from the
    synthetic dataset's settings or the annotation files and the configured split shares."""
    root = Path(workdir)
    data = root / "results" / "data"
    if (data / "train.jsonl").is_file() and (data / "test.jsonl").is_file():
        return {"train": _count_lines(data / "train.jsonl"), "test": _count_lines(data / "test.jsonl"),
                "basis": "results/data"}
    ds, split = config["dataset"], config["dataset"]["split"]
    if ds["synthetic"]["enabled"]:
        total = ds["synthetic"]["clips_per_class"] * len(ds["classes"])
        basis = "synthetic dataset settings x split shares"
    else:
        total = 0
        for path in ds["annotations"]:
            p = Path(path) if Path(path).is_absolute() else root / path
            if not p.is_file():
                return {"train": None, "test": None, "basis": f"{path} not found"}
            records = json.loads(p.read_text(encoding="utf-8"))
            total += len(records) if isinstance(records, list) else 0
        basis = "annotation records x split shares"
    return {"train": round(total * split["train"]), "test": round(total * split["test"]), "basis": basis}


def _family(config: dict, model: str) -> str:
    return config["models"][model]["family"]


def _assumed(config: dict, model: str, stage: str) -> tuple[float, str]:
    table = config["plan"]["assumed_throughput"]
    family = _family(config, model)
    entry = table.get(family) or table.get("default")
    if entry is None:
        raise ValueError(f"plan.assumed_throughput: no entry for family '{family}' and no 'default'")
    which = family if family in table else "default"
    return float(entry[stage]), f"assumed: plan.assumed_throughput.{which}.{stage} = {entry[stage]:g} samples/s"


def train_throughput(config: dict, model: str, workdir: str | os.PathLike = ".") -> tuple[float, str]:
    """Training samples/s of ``model``: the mean over its earlier runs' train_stats.json, else assumed."""
    rates, devices = [], set()
    for path in sorted((Path(workdir) / "results" / "runs" / model).glob("*/train_stats.json")):
        try:
            stats = json.loads(path.read_text(encoding="utf-8"))
            seen = float(stats["train_examples"]) * float(stats["epochs"])
            wall = float(stats["wall_time_s"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if wall > 0 and seen > 0:
            rates.append(seen / wall)
            devices.add(str(stats.get("device", "?")))
    if rates:
        rate = sum(rates) / len(rates)
        return rate, (f"measured: train_stats.json of {len(rates)} run(s) on {', '.join(sorted(devices))}, "
                      f"{rate:.3g} samples/s")
    return _assumed(config, model, "train")


def _benchmark_seconds(path: Path) -> float | None:
    try:
        with open(path, encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        return float(rows[-1]["s"]) if rows else None
    except (OSError, KeyError, ValueError):
        return None


def infer_throughput(config: dict, model: str, workdir: str | os.PathLike = ".") -> tuple[float, str]:
    """Inference samples/s of ``model``: profile JSONs (mean over those that ran), else earlier generation
    benchmarks (clips predicted / seconds, model loading included), else assumed."""
    root = Path(workdir) / "results"
    rates = []
    for path in sorted((root / "profile" / model).glob("*.json")):
        try:
            profile = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        rate = (profile.get("throughput") or {}).get("samples_per_s") if isinstance(profile, dict) else None
        if profile.get("status") == "ok" and isinstance(rate, (int, float)) and rate > 0:
            rates.append(rate)
    if rates:
        rate = sum(rates) / len(rates)
        return rate, f"measured: {len(rates)} profile(s) in results/profile/{model}, {rate:.3g} samples/s"
    clips, seconds = 0, 0.0
    for bench in sorted((root / "benchmarks" / "infer_generate" / model).glob("*/*.tsv")):
        predictions = root / "predictions" / model / bench.parent.name / (bench.stem + ".jsonl")
        s = _benchmark_seconds(bench)
        if s and predictions.is_file():
            clips += _count_lines(predictions)
            seconds += s
    if clips and seconds > 0:
        return clips / seconds, (f"measured: benchmarks of earlier generation jobs ({clips} clips in "
                                 f"{seconds:.0f} s), {clips / seconds:.3g} samples/s")
    return _assumed(config, model, "infer")


# -- the estimate ---------------------------------------------------------------------------------------------
def job_kind(rule: str) -> str | None:
    """``train``, ``infer`` (generation, profiling, and RQ3.2.2's per-precision test-set runs) or None (not
    estimated)."""
    if rule.startswith("train"):
        return "train"
    if rule.startswith("infer") or rule.endswith(INFER_RULE_SUFFIXES):
        return "infer"
    return None


def subset_size(name: str | None, n_train: int | None, n_classes: int, workdir: str | os.PathLike = ".") -> int | None:
    """Training clips of a run on ``train_subset`` ``name``: the subset file's records when it is written,
    else ``frac<P>``: P% of the training set, ``balanced<K>``: at most K per class (an upper bound)."""
    if name is None or n_train is None:
        return n_train
    written = Path(workdir) / "results" / "data" / "subsets" / f"{name}.jsonl"
    if written.is_file():
        return _count_lines(written)
    from qvedbench.data.subsets import parse_subset_name  # lazily: the data package loads video code

    kind, value = parse_subset_name(name)
    return round(value * n_train) if kind == "fraction" else min(n_train, value * n_classes)


def _train_examples(settings: dict, n_train: int | None) -> float | None:
    if settings.get("max_steps", -1) > 0:
        return settings["max_steps"] * settings["batch_size"]
    if n_train is None:
        return None
    return settings["epochs"] * n_train


def estimate_jobs(jobs: Iterable[Job], config: dict, *, workdir: str | os.PathLike = ".") -> pd.DataFrame:
    """One row per pending job: question, model, rule, kind, samples, samples/s, device_hours, basis."""
    plan = qruns.plan_runs(config)
    table = qruns.canonical_runs(plan)
    sizes = dataset_sizes(config, workdir)
    cache: dict[tuple[str, str], tuple[float, str]] = {}
    rows = []
    for job in jobs:
        if job.rule == "all":
            continue
        model = job.wildcards.get("model")
        row = {"question": job_question(job, config, plan), "model": model or "-", "rule": job.rule,
               "kind": job_kind(job.rule), "samples": None, "samples_per_s": None, "device_hours": None,
               "basis": "not estimated (no device work, or not a training or inference job)"}
        if row["kind"] and model in config["models"]:
            key = (model, row["kind"])
            if key not in cache:
                cache[key] = (train_throughput if row["kind"] == "train" else infer_throughput)(config, model, workdir)
            rate, basis = cache[key]
            if row["kind"] == "train":
                settings = ((table.get(model) or {}).get(job.wildcards.get("run"))
                            or qruns.baseline_settings(config, model))
                n_train = subset_size(settings.get("train_subset"), sizes["train"], len(config["dataset"]["classes"]),
                                      workdir)
                samples = _train_examples(settings, n_train)
                what = "training examples x epochs" if settings.get("max_steps", -1) <= 0 else "max_steps x batch"
            else:
                samples = sizes["test"]
                what = "test clips"
            if samples is None:
                row["basis"] = f"not estimated: dataset size unknown ({sizes['basis']})"
            else:
                row.update(samples=samples, samples_per_s=rate, device_hours=samples / rate / 3600,
                           basis=f"{samples:g} {what} ({sizes['basis']}); {basis}")
        rows.append(row)
    return pd.DataFrame(rows, columns=["question", "model", "rule", "kind", "samples", "samples_per_s",
                                       "device_hours", "basis"])


def summarise(estimates: pd.DataFrame) -> pd.DataFrame:
    """Per (question, model): jobs, jobs with an estimate, device-hours and the distinct bases; plus a total."""
    rows = []
    for (question, model), part in estimates.groupby(["question", "model"], sort=True):
        estimated = part[part["device_hours"].notna()]
        bases = sorted({b.split("; ", 1)[-1] for b in estimated["basis"]})
        rows.append({"question": question, "model": model, "jobs": len(part), "estimated_jobs": len(estimated),
                     "device_hours": float(estimated["device_hours"].sum()),
                     "basis": " | ".join(bases) if bases else "not estimated"})
    frame = pd.DataFrame(rows, columns=list(PLAN_COLUMNS))
    total = {"question": "total", "model": "", "jobs": int(frame["jobs"].sum()) if len(frame) else 0,
             "estimated_jobs": int(frame["estimated_jobs"].sum()) if len(frame) else 0,
             "device_hours": float(frame["device_hours"].sum()) if len(frame) else 0.0,
             "basis": "assumed throughput in " + str(int(estimates["basis"].str.contains("assumed:").sum()))
                      + " job(s)" if len(estimates) else ""}
    return pd.concat([frame, pd.DataFrame([total])], ignore_index=True)


def format_summary(summary: pd.DataFrame) -> str:
    """A tab-separated table for people (device-hours to 3 significant digits)."""
    lines = ["\t".join(PLAN_COLUMNS)]
    for r in summary.itertuples(index=False):
        lines.append("\t".join([str(r.question), str(r.model), str(r.jobs), str(r.estimated_jobs),
                                f"{r.device_hours:.3g}", str(r.basis)]))
    return "\n".join(lines) + "\n"


def plan_costs(configfiles: Sequence[str | os.PathLike], *, workdir: str | os.PathLike = ".",
               snakefile: str | os.PathLike | None = None, targets: Sequence[str] = ("all",)) -> pd.DataFrame:
    """Dry-run the workflow and summarise the device-hours of its pending jobs."""
    from qvedbench.config import load_config

    config = load_config(*configfiles)
    jobs = dry_run_jobs(configfiles, workdir=workdir, snakefile=snakefile, targets=targets)
    return summarise(estimate_jobs(jobs, config, workdir=workdir))
