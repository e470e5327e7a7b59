"""Helpers for tests that run or plan the Snakemake workflow in a temporary working directory."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
SNAKEFILE = REPO / "Snakefile"
SNAKEMAKE = Path(sys.executable).with_name("snakemake")


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def reduced_demo_config() -> dict:
    """config/demo.yaml shrunk to one tiny model, a handful of clips and two training steps."""
    cfg = yaml.safe_load((REPO / "config" / "demo.yaml").read_text())
    cfg["dataset"]["synthetic"].update(clips_per_class=5, size=64, fps=8, seconds=2.0)
    cfg["dataset"]["min_frames"] = 8
    first = next(iter(cfg["models"]))
    cfg["models"] = {first: {**cfg["models"][first], "frames": 4, "resolution": 32}}
    # LoRA here (the demo fine-tunes fully): the reduced run exercises the adapter path too
    cfg["train"]["baseline"].update(method="lora", lora={"r": 8, "alpha": 16}, max_steps=2, batch_size=4,
                                    eval_steps=1, logging_steps=1)
    cfg["infer"]["batch_size"] = 4
    cfg["infer"]["max_new_tokens"] = 8
    cfg["evaluate"] = {"bootstrap_samples": 200}
    return cfg


def run_workflow(workdir: Path, configfile: Path, targets=("all",), cores: int = 2) -> None:
    """Run the workflow through Snakemake's Python API (it changes the process's cwd: restored here)."""
    from snakemake.api import SnakemakeApi
    from snakemake.settings.types import ConfigSettings, DAGSettings, OutputSettings, ResourceSettings

    cwd = os.getcwd()
    try:
        with SnakemakeApi(OutputSettings(quiet=None, show_failed_logs=True)) as api:
            workflow = api.workflow(
                resource_settings=ResourceSettings(cores=cores),
                config_settings=ConfigSettings(configfiles=[Path(configfile)]),
                snakefile=SNAKEFILE,
                workdir=Path(workdir),
            )
            workflow.dag(DAGSettings(targets=list(targets))).execute_workflow(executor="local")
    finally:
        os.chdir(cwd)


def planned_jobs(workdir: Path, configfile: Path, *extra: str, targets=("all",)) -> dict[str, int]:
    """Dry-run and return {rule: number of jobs} that Snakemake would run now."""
    # targets first: --configfile takes several values and would swallow them
    cmd = [str(SNAKEMAKE), *targets, "-n", "--quiet", "rules", "--snakefile", str(SNAKEFILE), "--directory",
           str(workdir), *extra, "--configfile", str(configfile)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    out = proc.stdout + proc.stderr
    if proc.returncode != 0:
        raise AssertionError(f"dry-run failed:\n{out}")
    if "Nothing to be done" in out:
        return {}
    jobs: dict[str, int] = {}
    table = out.split("Job stats:")[-1]
    for line in table.splitlines():
        m = re.match(r"^(\w+)\s+(\d+)$", line.strip())
        if m and m.group(1) != "total":
            jobs[m.group(1)] = int(m.group(2))
    return jobs
