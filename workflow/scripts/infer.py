"""Generate answers for one (model, run, variant) (rule infer_generate)."""
from qvedbench.data import read_records
from qvedbench.gpus import gpu_slot
from qvedbench.infer import run_inference
from qvedbench.io import redirect_output_to_log
from qvedbench.models import ModelSpec

redirect_output_to_log(snakemake.log[0])
# Locally, give the job its own GPU(s) (a no-op on Slurm or without GPUs).
with gpu_slot(snakemake.resources.get("gpu", 0)):
    run_inference(
        ModelSpec(**snakemake.params.spec),
        snakemake.input.get("checkpoint"),
        read_records(snakemake.input.records),
        snakemake.output[0],
        system_prompt=snakemake.params.system_prompt,
        batch_size=snakemake.params.batch_size,
        max_new_tokens=snakemake.params.max_new_tokens,
        variant=snakemake.wildcards.variant,
        threads=snakemake.threads,
    )
