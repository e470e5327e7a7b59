"""One (model, precision level) of RQ3.2.2: generate the test set at that level, profile it, measure its size
(rule rq3_2_2_level)."""
from qvedbench.data import read_records
from qvedbench.gpus import gpu_slot
from qvedbench.io import redirect_output_to_log, write_json
from qvedbench.models import ModelSpec

redirect_output_to_log(snakemake.log[0])
# Locally, give the job its own GPU(s) before anything touches CUDA (a no-op on Slurm or without GPUs).
with gpu_slot(snakemake.resources.get("gpu", 0)):
    from qvedbench.quantize import calibration_sample, run_level

    level = snakemake.wildcards.level
    calibration = []
    if level == "int8_static":
        calibration = calibration_sample(read_records(snakemake.input.calibration),
                                         snakemake.params.calibration_clips, snakemake.params.seed)
    result = run_level(
        ModelSpec(**snakemake.params.spec),
        snakemake.input.get("checkpoint"),
        level,
        read_records(snakemake.input.records),
        snakemake.output.predictions,
        system_prompt=snakemake.params.system_prompt,
        calibration_records=calibration,
        batch_size=snakemake.params.batch_size,
        max_new_tokens=snakemake.params.max_new_tokens,
        profile=snakemake.params.profile,
        threads=snakemake.params.torch_threads,
        source=snakemake.input.records,
        int8_backend=snakemake.params.int8_backend,
    )
result["run"] = snakemake.wildcards.run
print(f"{result['model']} {level}: {result['status']} {result.get('reason') or ''}")
write_json(snakemake.output.result, result)
