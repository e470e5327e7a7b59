"""`qvedbench plan`: dry-run parsing, job -> question, throughput bases and device-hour estimates."""
import json
import subprocess
import sys

import pytest

from qvedbench.config import validate_config
from qvedbench.io import write_json
from qvedbench.plan import (Job, dataset_sizes, estimate_jobs, format_summary, infer_throughput, job_question,
                            parse_dry_run, plan_costs, summarise, train_throughput)
from qvedbench.runs import plan_runs
from workflow_helpers import reduced_demo_config, write_config

DRY_RUN = """Building DAG of jobs...
Job stats:
job        count
-------  -------
train_lora     1
total          1

[Sat Dec  5 00:59:53 2026]
rule train_lora:
    input: results/models/m, results/data/train.jsonl
    output: results/runs/m/baseline/checkpoint, results/runs/m/baseline/train_stats.json
    log: results/logs/train_lora/m/baseline.log
    jobid: 9
    wildcards: model=m, run=baseline
    resources: tmpdir=/tmp, runtime=120
[Sat Dec  5 00:59:53 2026]
localrule report_summary:
    input: results/data/summary.json
    output: results/RESULTS_SUMMARY.md
    jobid: 1
    resources: tmpdir=/tmp
Would remove temporary output x
"""


def test_parse_dry_run():
    jobs = parse_dry_run(DRY_RUN)
    assert [j.rule for j in jobs] == ["train_lora", "report_summary"]
    assert jobs[0].wildcards == {"model": "m", "run": "baseline"}
    assert jobs[0].outputs[-1] == "results/runs/m/baseline/train_stats.json"
    assert jobs[1].wildcards == {} and jobs[1].outputs == ["results/RESULTS_SUMMARY.md"]


@pytest.fixture()
def config():
    cfg = reduced_demo_config()
    cfg["questions"] = {"rq1_1_1": {"enabled": True, "lora_ranks": [4], "full": False, "last_n": []}}
    return validate_config(cfg, source="test")


def test_job_question(config):
    model = next(iter(config["models"]))
    plan = plan_runs(config)
    lora_run = next(r.canonical for r in plan if r.question == "rq1_1_1")
    q = lambda rule, **wc: job_question(Job(rule, wc), config, plan)  # noqa: E731
    assert q("rq1_1_1_table") == "rq1_1_1"
    assert q("train_lora", model=model, run=lora_run) == "rq1_1_1"
    assert q("infer_generate", model=model, run="base", variant="clean") == "baseline"
    assert q("infer_generate", model=model, run="baseline", variant="blur_7") == "rq1_3_3"
    assert q("infer_generate", model=model, run="baseline", variant="frames8_stride2") == "rq1_2"
    assert q("data_prepare") == "shared"


def _workdir(tmp_path, model, *, stats=True, profile=True, bench=True):
    data = tmp_path / "results" / "data"
    data.mkdir(parents=True)
    (data / "train.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in range(40)))
    (data / "test.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in range(12)))
    if stats:
        write_json(tmp_path / "results" / "runs" / model / "old" / "train_stats.json",
                   {"train_examples": 40, "epochs": 2.0, "wall_time_s": 8.0, "device": "cuda"})
    if profile:
        write_json(tmp_path / "results" / "profile" / model / "default.json",
                   {"status": "ok", "throughput": {"samples_per_s": 3.0}})
        write_json(tmp_path / "results" / "profile" / model / "batch16.json",
                   {"status": "out_of_memory", "throughput": {"samples_per_s": None}})
    if bench:
        bench_dir = tmp_path / "results" / "benchmarks" / "infer_generate" / model / "base"
        bench_dir.mkdir(parents=True)
        (bench_dir / "clean.tsv").write_text("s\th:m:s\tmax_rss\n6.0\t0:00:06\t100\n")
        pred = tmp_path / "results" / "predictions" / model / "base"
        pred.mkdir(parents=True)
        (pred / "clean.jsonl").write_text("".join(json.dumps({"id": i}) + "\n" for i in range(12)))
    return tmp_path


def test_throughput_sources_in_order(tmp_path, config):
    model = next(iter(config["models"]))
    root = _workdir(tmp_path / "all", model)
    rate, basis = train_throughput(config, model, root)
    assert rate == pytest.approx(10.0) and basis.startswith("measured: train_stats.json of 1 run(s) on cuda")
    rate, basis = infer_throughput(config, model, root)
    assert rate == pytest.approx(3.0) and "1 profile(s)" in basis  # the out-of-memory profile is skipped
    root = _workdir(tmp_path / "bench", model, stats=False, profile=False)
    rate, basis = infer_throughput(config, model, root)
    assert rate == pytest.approx(2.0) and "12 clips in 6 s" in basis
    root = _workdir(tmp_path / "none", model, stats=False, profile=False, bench=False)
    family = config["models"][model]["family"]
    rate, basis = train_throughput(config, model, root)
    assert rate == config["plan"]["assumed_throughput"][family]["train"]
    assert basis.startswith(f"assumed: plan.assumed_throughput.{family}.train")


def test_estimates_and_summary(tmp_path, config):
    model = next(iter(config["models"]))
    root = _workdir(tmp_path, model)
    settings = config["train"]["baseline"]
    jobs = [Job("train_lora", {"model": model, "run": "baseline"}),
            Job("infer_generate", {"model": model, "run": "base", "variant": "clean"}),
            Job("infer_generate", {"model": model, "run": "baseline", "variant": "clean"}),
            Job("evaluate_score", {"model": model, "run": "base", "variant": "clean"}),
            Job("data_prepare"), Job("all")]
    est = estimate_jobs(jobs, config, workdir=root)
    assert len(est) == 5
    train = est[est["rule"] == "train_lora"].iloc[0]
    # the reduced config trains max_steps x batch_size examples
    assert train["samples"] == settings["max_steps"] * settings["batch_size"]
    assert train["device_hours"] == pytest.approx(train["samples"] / 10.0 / 3600)
    infer = est[est["rule"] == "infer_generate"]
    assert (infer["samples"] == 12).all() and infer["device_hours"].iloc[0] == pytest.approx(12 / 3.0 / 3600)
    assert est[est["rule"] == "evaluate_score"]["device_hours"].isna().all()
    summary = summarise(est)
    base = summary[(summary["question"] == "baseline")].iloc[0]
    assert (base["jobs"], base["estimated_jobs"]) == (4, 3)
    assert base["device_hours"] == pytest.approx(train["device_hours"] + 2 * 12 / 3.0 / 3600)
    total = summary.iloc[-1]
    assert total["question"] == "total" and total["jobs"] == 5
    assert total["device_hours"] == pytest.approx(base["device_hours"])
    text = format_summary(summary)
    assert text.splitlines()[0] == "question\tmodel\tjobs\testimated_jobs\tdevice_hours\tbasis"


def test_dataset_sizes_before_data_is_prepared(tmp_path, config):
    sizes = dataset_sizes(config, tmp_path)
    total = config["dataset"]["synthetic"]["clips_per_class"] * len(config["dataset"]["classes"])
    assert sizes["train"] == round(total * 0.6) and "synthetic" in sizes["basis"]


def test_plan_cli_on_a_real_dry_run(tmp_path, config):
    cfg = reduced_demo_config()
    configfile = write_config(tmp_path / "c.yaml", cfg)
    summary = plan_costs([configfile], workdir=tmp_path / "work")
    assert "baseline" in set(summary["question"]) and summary.iloc[-1]["jobs"] > 0
    assert summary.iloc[-1]["device_hours"] > 0
    proc = subprocess.run([sys.executable, "-m", "qvedbench.cli", "plan", str(configfile), "--directory",
                           str(tmp_path / "work")], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("question\tmodel\tjobs") and "\ntotal\t" in proc.stdout


def test_subset_runs_are_estimated_on_their_subset(tmp_path):
    from qvedbench.plan import subset_size

    assert subset_size(None, 600, 6, tmp_path) == 600
    assert subset_size("frac25", 600, 6, tmp_path) == 150
    assert subset_size("balanced50", 600, 6, tmp_path) == 300
    assert subset_size("balanced500", 600, 6, tmp_path) == 600
    written = tmp_path / "results" / "data" / "subsets" / "frac25.jsonl"
    written.parent.mkdir(parents=True)
    written.write_text('{"id": "a"}\n{"id": "b"}\n')
    assert subset_size("frac25", 600, 6, tmp_path) == 2  # the written subset wins over the estimate
