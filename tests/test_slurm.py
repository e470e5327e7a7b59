"""The reduced demo workflow through `--profile profiles/slurm` on a real one-node Slurm cluster on localhost.

ci/slurm/start.sh stands the cluster up from Debian's packages (as root); without them, or without root, the
test is skipped and says why. CI (.ci/run) installs the packages, so there it runs.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

from workflow_helpers import REPO, SNAKEFILE, SNAKEMAKE, reduced_demo_config, write_config

CI_SLURM = REPO / "ci" / "slurm"
SLURM_TOOLS = ("munged", "mungekey", "slurmctld", "slurmd", "sinfo", "sbatch", "squeue", "scontrol")
# Stage resources the run must carry into sbatch (runtime in minutes, memory in MB).
TRAIN_RUNTIME, TRAIN_MEM_MB = 7, 1500


def _why_slurm_cannot_start() -> str | None:
    if os.geteuid() != 0:
        return "starting slurmd/slurmctld needs root"
    missing = [tool for tool in SLURM_TOOLS if shutil.which(tool) is None]
    if missing:
        return (f"Slurm is not installed ({', '.join(missing)} missing): "
                "apt-get install slurmctld slurmd slurm-client munge")
    etc_conf = Path("/etc/slurm/slurm.conf")
    if etc_conf.exists() and not etc_conf.is_symlink():
        return f"{etc_conf} belongs to an existing cluster; the test cluster would need to replace it"
    return None


def _free_ports(n: int) -> list[int]:
    """``n`` distinct ports free right now (each held until all are picked, so none repeats)."""
    sockets = [socket.socket() for _ in range(n)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _failed_job_logs(workdir: Path) -> str:
    """The tails of the jobs' own logs (the Slurm output only says that a job failed)."""
    logs = sorted((workdir / "results" / "logs").rglob("*.log"))
    return "".join(f"\n--- {p.relative_to(workdir)}\n{p.read_text(errors='replace')[-1500:]}" for p in logs
                   if "Error" in p.read_text(errors="replace"))


@pytest.fixture(scope="module")
def slurm_cluster(tmp_path_factory):
    reason = _why_slurm_cannot_start()
    if reason:
        pytest.skip(reason)
    # /etc/slurm/slurm.conf is machine-wide: one test cluster at a time (parallel test runs wait here).
    with open(Path(tempfile.gettempdir()) / "qvedbench-slurm-ci.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        cluster_dir = tmp_path_factory.mktemp("slurm")
        ctld_port, slurmd_port = _free_ports(2)
        env = {**os.environ, "SLURMCTLD_PORT": str(ctld_port), "SLURMD_PORT": str(slurmd_port)}
        start = subprocess.run([str(CI_SLURM / "start.sh"), str(cluster_dir)], capture_output=True, text=True,
                               timeout=120, env=env)
        try:
            if start.returncode != 0:
                logs = "\n".join(f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
                                 for p in sorted((cluster_dir / "log").glob("*.log")))
                pytest.fail(f"ci/slurm/start.sh failed:\n{start.stdout}{start.stderr}\n{logs}")
            yield cluster_dir
        finally:
            subprocess.run([str(CI_SLURM / "stop.sh"), str(cluster_dir)], timeout=120)


def test_reduced_demo_runs_through_the_slurm_profile(slurm_cluster, tmp_path):
    workdir = tmp_path / "demo"
    workdir.mkdir()
    cfg = reduced_demo_config()
    cfg["infer"]["controls"] = []  # fewer jobs: the controls add nothing to what Slurm is tested for
    cfg["resources"]["mem_mb"] = {"train": TRAIN_MEM_MB, "infer": 1500, "evaluate": 1500}
    cfg["resources"]["runtime"] = {"train": TRAIN_RUNTIME, "infer": 10, "evaluate": 10}
    configfile = write_config(tmp_path / "config.yaml", cfg)

    cmd = [str(SNAKEMAKE), "all", "--profile", "profiles/slurm", "--snakefile", str(SNAKEFILE),
           "--directory", str(workdir), "--jobs", "4",
           # Overrides a one-node CI cluster needs: no accounting database (sacct fails, squeue works), no
           # shared-file-system lag, quick first status check, and the job logs kept for the checks below.
           "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "2",
           "--latency-wait", "5", "--retries", "0", "--slurm-keep-successful-logs",
           "--default-resources", "mem_mb=1000", "runtime=10",
           "--configfile", str(configfile)]
    env = {**os.environ, "USER": os.environ.get("USER", "root")}
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900, env=env)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-4000:] + _failed_job_logs(workdir)

    assert "Using profile profiles/slurm" in out
    summary = workdir / "results" / "RESULTS_SUMMARY.md"
    assert summary.is_file() and summary.stat().st_size > 0
    test_ids = {json.loads(line)["id"] for line in (workdir / "results/data/test.jsonl").read_text().splitlines()}
    model = next(iter(cfg["models"]))
    for run in ("base", "baseline"):
        predictions = (workdir / f"results/predictions/{model}/{run}/clean.jsonl").read_text().splitlines()
        assert {json.loads(line)["id"] for line in predictions} == test_ids
        scores = json.loads((workdir / f"results/scores/{model}/{run}/clean.json").read_text())
        assert scores["n"] == len(test_ids)

    # The heavy stages really went through sbatch, the report stayed local.
    slurm_logs = workdir / ".snakemake" / "slurm_logs"
    submitted = {p.name for p in slurm_logs.iterdir()}
    assert {"rule_train_lora", "rule_infer_generate", "rule_evaluate_score"} <= submitted, submitted
    assert not any(name.startswith("rule_report") for name in submitted), submitted

    # Slurm still remembers the finished jobs (MinJobAge): the training job got the config's stage resources.
    jobs = subprocess.run(["scontrol", "show", "job", "-o"], capture_output=True, text=True, timeout=30).stdout
    train_jobs = [line for line in jobs.splitlines() if "rule_train_lora" in line]
    assert train_jobs, jobs
    assert f"TimeLimit=00:0{TRAIN_RUNTIME}:00" in train_jobs[0]
    assert f"mem={TRAIN_MEM_MB}M" in train_jobs[0]
