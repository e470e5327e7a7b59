"""Profile one model in one configuration (rules rq3_1_1_profile, rq3_1_2_profile and rq3_1_3_profile)."""
from qvedbench.data import read_records
from qvedbench.gpus import gpu_slot
from qvedbench.io import redirect_output_to_log, write_json
from qvedbench.models import ModelSpec

redirect_output_to_log(snakemake.log[0])
# Locally, give the job its own GPU(s) before anything touches CUDA (a no-op on Slurm or without GPUs).
with gpu_slot(snakemake.resources.get("gpu", 0)):
    from qvedbench.profile import profile_model

    result = profile_model(
        ModelSpec(**snakemake.params.spec),
        snakemake.input.get("checkpoint"),
        read_records(snakemake.input.records),
        system_prompt=snakemake.params.system_prompt,
        threads=snakemake.params.torch_threads,
        **snakemake.params.settings,
    )
result["config"] = snakemake.params.config_name
print(f"{result['model']} {result['config']}: {result['status']}, {result['iterations']} iterations")
write_json(snakemake.output[0], result)
