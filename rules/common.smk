# Config validation, the run table and input functions shared by every stage.
import os
import re

import qvedbench.config as qcfg
import qvedbench.data.subsets as qsubsets
import qvedbench.runs as qruns

# Jobs (also inside conda envs and on cluster nodes) import the library from this workflow folder.
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [workflow.basedir, os.environ.get("PYTHONPATH")]))

_validated = qcfg.validate_config(config, source="workflow config")
config.clear()
config.update(_validated)

MODELS = list(config["models"])
TINY_MODELS = [m for m in MODELS if config["models"][m]["tiny"]]
# Every (model, question, run name) -> the canonical run that trains it; RUN_TABLE holds canonical runs only,
# so runs with equal effective settings (e.g. a question's `lora_r64` and `baseline`) are one job.
RUN_PLAN = qruns.plan_runs(config)
RUN_TABLE = qruns.canonical_runs(RUN_PLAN)
TRAINED_RUNS = sorted({run for runs in RUN_TABLE.values() for run, cfg in runs.items() if cfg is not None})
CONTROLS = list(config["infer"]["controls"])
VARIANTS = ["clean"] + CONTROLS
CLASSES = config["dataset"]["classes"]
THREADS = config["resources"]["threads"]

# Research questions (rules/rq*.smk) append here when enabled in config `questions`: their final outputs
# (built by `all`) and their markdown sections of RESULTS_SUMMARY.md (results/summary/<question>.md).
QUESTION_TARGETS = []
SUMMARY_SECTIONS = []
# Each question's table rule also writes results/tables/<question>/headline.csv (qvedbench.report.headline) and
# appends it here; the master comparison and the recommendation matrix read exactly these files.
HEADLINE_TABLES = []


def _alternatives(names):
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


wildcard_constraints:
    model=_alternatives(MODELS),
    run=r"[A-Za-z0-9_.-]+",
    variant=r"[A-Za-z0-9_.-]+",


def log_path(rule_name, *parts):
    return os.path.join("results", "logs", rule_name, *parts) + ".log"


def benchmark_path(rule_name, *parts):
    return os.path.join("results", "benchmarks", rule_name, *parts) + ".tsv"


def stage_resources(stage):
    """Snakemake resources of a stage's jobs (rules with a {model} wildcard): the config's `resources` section,
    overridden per model by `models.<name>.resources.<stage>`. The Slurm executor maps them to sbatch options
    (gpu and gpu_model -> --gpus, mem_mb -> --mem, runtime -> --time, cpus_per_task -> --cpus-per-task)."""
    res = config["resources"]
    defaults = {"mem_mb": res["mem_mb"][stage], "runtime": res["runtime"][stage],
                "gpu": res["gpu"].get(stage, 0), "gpu_model": res["gpu_model"].get(stage)}
    own = {m: config["models"][m]["resources"][stage] for m in MODELS}

    def per_model(key):
        def value(wildcards):
            chosen = own[wildcards.model].get(key)
            return defaults[key] if chosen is None else chosen

        return value

    out = {"mem_mb": per_model("mem_mb"), "runtime": per_model("runtime"), "cpus_per_task": THREADS[stage]}
    # gpu / gpu_model only when some model asks for a GPU in this stage, so CPU-only plans request none
    if defaults["gpu"] or any(o.get("gpu") for o in own.values()):
        out["gpu"] = per_model("gpu")
        if defaults["gpu_model"] or any(o.get("gpu_model") for o in own.values()):
            gpus, gpu_model = per_model("gpu"), per_model("gpu_model")
            # "" (no GPU type) for a job without GPUs: the executor would otherwise ask for --gpus=<type>:0
            out["gpu_model"] = lambda wildcards: (gpu_model(wildcards) or "") if gpus(wildcards) else ""
    return out


# -- input functions -----------------------------------------------------------------------------------------

def model_dir_input(wildcards):
    """The built tiny model folder, when the model is a tiny one (real checkpoints are params, not inputs)."""
    if wildcards.model in TINY_MODELS:
        return {"model_dir": qcfg.tiny_model_dir(wildcards.model)}
    return {}


def model_spec(wildcards):
    return qcfg.model_spec(config, wildcards.model)


def run_settings(wildcards):
    cfg = RUN_TABLE[wildcards.model].get(wildcards.run)
    if cfg is None:
        raise ValueError(f"model '{wildcards.model}' has no trained run '{wildcards.run}'")
    return cfg


def run_dir(model, run):
    return f"results/runs/{model}/{run}"


def checkpoint_input(wildcards):
    if RUN_TABLE[wildcards.model].get(wildcards.run) is None:
        return {}
    return {"checkpoint": os.path.join(run_dir(wildcards.model, wildcards.run), "checkpoint")}


def train_records_input(wildcards):
    """The training records of a run: the whole training split, or the subset its `train_subset` names."""
    subset = run_settings(wildcards).get("train_subset")
    if subset is None:
        return "results/data/train.jsonl"
    return f"results/data/subsets/{subset}.jsonl"


def variant_records(wildcards):
    if wildcards.variant == "clean":
        return "results/data/test.jsonl"
    return f"results/data/variants/{wildcards.variant}.jsonl"


# -- target lists ------------------------------------------------------------------------------------------

def prediction_jobs():
    """(model, run, variant) for every prediction file: base and every trained run on clean data, controls on
    the baseline."""
    jobs = []
    for model, runs in RUN_TABLE.items():
        for run in runs:
            jobs.append((model, run, "clean"))
        jobs += [(model, qcfg.BASELINE_RUN, v) for v in CONTROLS]
    return jobs


def prediction_targets():
    return [f"results/predictions/{m}/{r}/{v}.jsonl" for m, r, v in prediction_jobs()]


def score_targets():
    return [f"results/scores/{m}/{r}/{v}.json" for m, r, v in prediction_jobs()]


def train_stats_targets():
    return [os.path.join(run_dir(m, r), "train_stats.json") for m in MODELS for r in qcfg.trained_runs(config, m)]


def data_prepare_inputs(wildcards):
    inputs = {"annotations": config["dataset"]["annotations"]}
    if config["dataset"]["ground_truth"]:
        inputs["ground_truth"] = config["dataset"]["ground_truth"]
    if config["dataset"]["synthetic"]["enabled"]:
        inputs["synth_manifest"] = "results/synth/synth_manifest.json"
    return inputs


def clean_score_files():
    return [f"results/scores/{m}/{r}/clean.json" for m in MODELS for r in (qcfg.BASE_RUN, qcfg.BASELINE_RUN)]


# Training subsets (a run's `train_subset`): frac<P> nested inside one chain of fractions (RQ1.1.3's plus every
# frac<P> a run names), balanced<K> undersampled per class; both error-balanced by an integer program. Each
# frac<P> job solves the whole chain (well under a second) and writes only its own file: every file stays its
# own target, and the files nest because each is computed from the same (records, chain, seed).
SUBSET_FRACTIONS = qsubsets.fraction_chain(
    config["questions"]["rq1_1_3"]["fractions"],
    [s.get("train_subset") for runs in RUN_TABLE.values() for s in runs.values() if s is not None],
)


def subset_chain(wildcards):
    """The nesting chain a frac<P> subset is solved in ([] for balanced<K>, which has none)."""
    kind, value = qsubsets.parse_subset_name(wildcards.subset)
    if kind != "fraction":
        return []
    if value < 1 and value not in SUBSET_FRACTIONS:
        raise ValueError(f"training subset '{wildcards.subset}': {value:g} is not in the nesting chain "
                         f"{SUBSET_FRACTIONS} (questions.rq1_1_3.fractions plus the frac<P> subsets runs name); "
                         f"add it to questions.rq1_1_3.fractions")
    return SUBSET_FRACTIONS
