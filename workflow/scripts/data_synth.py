"""Render the synthetic QVED dataset (rule data_synth)."""
from pathlib import Path

from qvedbench.io import redirect_output_to_log
from qvedbench.synth import generate_dataset

redirect_output_to_log(snakemake.log[0])
p = snakemake.params.synth
generate_dataset(
    Path(snakemake.output.annotations).parent,
    classes=snakemake.params.classes,
    clips_per_class=p["clips_per_class"],
    size=p["size"],
    fps=p["fps"],
    seconds=p["seconds"],
    error_rate=p["error_rate"],
    seed=p["seed"],
    class_counts=p["class_counts"],
    workers=snakemake.threads,
)
