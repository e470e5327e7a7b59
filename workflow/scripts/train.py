"""Fine-tune one (model, run) of the run table (rule train_lora)."""
from pathlib import Path

from qvedbench.data import read_records
from qvedbench.gpus import gpu_slot
from qvedbench.io import redirect_output_to_log
from qvedbench.models import ModelSpec
from qvedbench.train import train_run

redirect_output_to_log(snakemake.log[0])
# Locally, give the job its own GPU(s) (a no-op on Slurm or without GPUs).
with gpu_slot(snakemake.resources.get("gpu", 0)):
    train_run(
        ModelSpec(**snakemake.params.spec),
        snakemake.params.settings,
        read_records(snakemake.input.train),
        read_records(snakemake.input.val),
        Path(snakemake.output.stats).parent,
        system_prompt=snakemake.params.system_prompt,
        classes=snakemake.params.classes,
        threads=snakemake.threads,
    )
